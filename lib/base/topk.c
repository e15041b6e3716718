/* A bounded heap keeping the k best (key, index) pairs: the selection every
 * query ends in, one heap per worker, merged afterwards.  "Best" is a total
 * order (smaller key, then smaller index), so the merged result is the same
 * however the items were shared out. */
#include "base/base.h"

/* The heap is a max-heap in the "worse" order (hitl__topk_worse), so its
 * root is the worst of the k kept entries and the test for a new entry is
 * one comparison. */
#define worse hitl__topk_worse

int hitl__topk_init(hitl__topk *t, size_t k)
{
    t->k = k;
    t->n = 0;
    t->key = NULL;
    t->index = NULL;
    if (k == 0)
        return HITL_OK;
    if (k > SIZE_MAX / sizeof *t->key)
        return HITL_ENOMEM;
    t->key = hitl__malloc(k * sizeof *t->key);
    t->index = hitl__malloc(k * sizeof *t->index);
    if (!t->key || !t->index) {
        hitl__topk_free(t);
        return HITL_ENOMEM;
    }
    return HITL_OK;
}

void hitl__topk_free(hitl__topk *t)
{
    hitl__free(t->key);
    hitl__free(t->index);
    t->key = NULL;
    t->index = NULL;
    t->n = 0;
}

static void sift_down(hitl__topk *t, size_t at, size_t n)
{
    double key = t->key[at];
    size_t index = t->index[at];
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= n)
            break;
        if (child + 1 < n && worse(t->key[child + 1], t->index[child + 1],
                                   t->key[child], t->index[child]))
            child++;
        if (!worse(t->key[child], t->index[child], key, index))
            break;
        t->key[at] = t->key[child];
        t->index[at] = t->index[child];
        at = child;
    }
    t->key[at] = key;
    t->index[at] = index;
}

void hitl__topk_push(hitl__topk *t, double key, size_t index)
{
    if (t->n < t->k) {
        size_t at = t->n++;
        while (at > 0) {
            size_t parent = (at - 1) / 2;
            if (!worse(key, index, t->key[parent], t->index[parent]))
                break;
            t->key[at] = t->key[parent];
            t->index[at] = t->index[parent];
            at = parent;
        }
        t->key[at] = key;
        t->index[at] = index;
    } else if (t->k > 0 && worse(t->key[0], t->index[0], key, index)) {
        t->key[0] = key;
        t->index[0] = index;
        sift_down(t, 0, t->n);
    }
}

void hitl__topk_heapify(hitl__topk *t)
{
    for (size_t at = t->n / 2; at-- > 0;)
        sift_down(t, at, t->n);
}

void hitl__topk_merge(hitl__topk *dst, const hitl__topk *src)
{
    for (size_t i = 0; i < src->n; i++)
        hitl__topk_push(dst, src->key[i], src->index[i]);
}

/* Heapsort: moving the root (the worst) to the end each time leaves the
 * entries best first.  The heap order is gone afterwards. */
void hitl__topk_sort(hitl__topk *t)
{
    for (size_t end = t->n; end > 1; end--) {
        double key = t->key[0];
        size_t index = t->index[0];
        t->key[0] = t->key[end - 1];
        t->index[0] = t->index[end - 1];
        t->key[end - 1] = key;
        t->index[end - 1] = index;
        sift_down(t, 0, end - 1);
    }
}

