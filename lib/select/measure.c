/*
 * The measure of every item: one streaming pass of a probability source (a
 * model or a committee) over the pool, turning each block of probabilities
 * into one value per item while the block is in cache.  The measure is an
 * uncertainty score (of the model, or of the committee's consensus) or a
 * committee's disagreement; raw (as hitl_query reports it) or scaled to an
 * informativeness in [0, 1], larger = more informative (what diversity
 * rules weigh against distance); or the expected gradient length of the
 * built-in model (raw only), from the probabilities and the block's rows.
 * Every selection rule that ranks items by
 * a measure is written over this pass: the top k (hitl__measure_top), or
 * the value of every unlabeled item (hitl__measure_into).
 */
#include "select/select.h"

#include <string.h>

/* One worker's state: the measure's buffers and the consumer beyond. */
typedef struct sink {
    int kind, scaled;
    double top;               /* a disagreement's largest value (scaled) */
    hitl__values_fn consume;
    void *inner;
    float *s;                 /* ld: one uncertainty score per item (EGL: the
                                 rows' squared norms) */
    double *val;              /* ld: the measure per item */
    hitl__qbc_scratch qbc;
    const hitl_pool *pool;    /* EGL reads the block's rows */
    int intercept;
} sink;

/* EGL: the rows' norms while the block is still in cache, then O(K) an item. */
static void egl_measure(sink *k, const hitl__ensemble_block *b)
{
    if (k->pool->sparse) { /* no dense rows: the norms kept when added */
        memcpy(k->s, k->pool->sqnorm + b->first, b->n * sizeof *k->s);
    } else {
        size_t stride;
        const float *X = hitl__pool_block_rows(k->pool, b->first, &stride);
        hitl__sqnorms(k->s, X, b->n, stride, k->pool->dim);
    }
    hitl__egl_block(k->val, b->consensus, b->ld, b->n, b->K, k->s, k->intercept);
}

static int measure_block(void *state, const hitl__ensemble_block *b)
{
    sink *k = state;
    if (k->kind == HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH) {
        egl_measure(k, b);
    } else if (hitl__is_qbc_kind(k->kind)) {
        hitl__qbc_measure(k->val, &k->qbc, k->kind, b);
        if (k->scaled)
            for (size_t i = 0; i < b->n; i++)
                k->val[i] = k->top > 0 ? k->val[i] / k->top : 0;
    } else {
        hitl__uncertainty_block(k->kind, k->s, b->consensus, b->ld, b->K);
        if (k->scaled)
            for (size_t i = 0; i < b->n; i++)
                k->val[i] = hitl__informativeness(k->kind, k->s[i], b->K);
        else
            for (size_t i = 0; i < b->n; i++)
                k->val[i] = k->s[i];
    }
    return k->consume(k->inner, b->first, b->n, k->val);
}

static void free_sinks(sink *ks, size_t n)
{
    for (size_t i = 0; ks && i < n; i++) {
        hitl__free(ks[i].s);
        hitl__free(ks[i].val);
        hitl__qbc_scratch_release(&ks[i].qbc);
    }
    hitl__free(ks);
}

int hitl__measure_run(const hitl__source *src, int kind, int scaled, const hitl_pool *pool,
                      hitl__values_fn consume, void **states, const char *fn)
{
    size_t w = hitl__source_workers(src, pool), rows = hitl__source_block_rows(src);
    size_t K = hitl__source_classes(src), ld = HITL__ROUND16(rows);
    size_t M = src->committee ? hitl__committee_members(src->committee) : 0;
    int qbc = hitl__is_qbc_kind(kind);
    sink *ks = hitl__calloc(w, sizeof *ks);
    void **sp = hitl__calloc(w, sizeof *sp);
    int ok = ks && sp;
    for (size_t i = 0; ok && i < w; i++) {
        ks[i] = (sink){ .kind = kind, .scaled = scaled, .consume = consume,
                        .inner = states[i], .pool = pool,
                        .intercept = src->model ? src->model->fit_intercept : 0 };
        ks[i].top = qbc ? hitl__qbc_max(kind, M, K) : 0;
        ks[i].s = hitl__malloc(ld * sizeof *ks[i].s);
        ks[i].val = hitl__malloc(ld * sizeof *ks[i].val);
        sp[i] = &ks[i];
        ok = ks[i].s && ks[i].val &&
             (!qbc || hitl__qbc_scratch_init(&ks[i].qbc, M, K, rows) == HITL_OK);
    }
    int want = qbc ? hitl__qbc_want(kind) : HITL__WANT_CONSENSUS;
    int st = ok ? hitl__source_run(src, pool, want, measure_block, sp, fn)
                : hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu workers' blocks "
                                "of %zu rows", w, rows);
    free_sinks(ks, w);
    hitl__free(sp);
    return st;
}

/* ------------------------------------------------------------------------- */
/* The k best                                                                 */
/* ------------------------------------------------------------------------- */

typedef struct top {
    hitl__topk heap;
    const uint8_t *state;     /* the pool's item states */
    double sign;              /* -1: largest first (the heap keeps -value) */
} top;

static int top_block(void *state, size_t first, size_t n, const double *val)
{
    top *t = state;
    hitl__topk *h = &t->heap;
    const uint8_t *st = t->state + first;
    for (size_t i = 0; i < n; i++) {
        if (st[i] != HITL_ITEM_UNLABELED)
            continue;
        double key = t->sign * val[i];
        if (!hitl__topk_rejects(h, key, first + i))
            hitl__topk_push(h, key, first + i);
    }
    return HITL_OK;
}

int hitl__measure_top(hitl__topk *t, const hitl__source *src, int kind, int scaled,
                      const hitl_pool *pool, size_t keep, const char *fn)
{
    size_t w = hitl__source_workers(src, pool);
    double sign = !scaled && kind == HITL_STRATEGY_MARGIN ? 1.0 : -1.0;
    top *tops = hitl__calloc(w, sizeof *tops);
    void **states = hitl__calloc(w, sizeof *states);
    *t = (hitl__topk){ 0 };
    int st = tops && states ? hitl__topk_init(t, keep) : HITL_ENOMEM;
    for (size_t i = 0; st == HITL_OK && i < w; i++) {
        tops[i] = (top){ .state = pool->state, .sign = sign };
        st = hitl__topk_init(&tops[i].heap, keep);
        states[i] = &tops[i];
    }
    if (st != HITL_OK)
        st = hitl__fail_in(HITL_ENOMEM, fn, "out of memory for the selection of %zu items",
                           keep);
    else
        st = hitl__measure_run(src, kind, scaled, pool, top_block, states, fn);
    for (size_t i = 0; tops && i < w; i++) {
        if (st == HITL_OK)
            hitl__topk_merge(t, &tops[i].heap);
        hitl__topk_free(&tops[i].heap);
    }
    hitl__free(tops);
    hitl__free(states);
    if (st == HITL_OK) {
        hitl__topk_sort(t);
        for (size_t j = 0; j < t->n; j++)   /* keys back to values */
            t->key[j] *= sign;
    } else {
        hitl__topk_free(t);
    }
    return st;
}

/* ------------------------------------------------------------------------- */
/* Every unlabeled item's value                                               */
/* ------------------------------------------------------------------------- */

typedef struct into {
    float *u;
    const uint8_t *state;
} into;

static int into_block(void *state, size_t first, size_t n, const double *val)
{
    into *o = state;
    for (size_t i = 0; i < n; i++)
        if (o->state[first + i] == HITL_ITEM_UNLABELED)
            o->u[first + i] = (float)val[i];
    return HITL_OK;
}

int hitl__measure_into(float *u, const hitl__source *src, int kind, int scaled,
                       const hitl_pool *pool, const char *fn)
{
    size_t w = hitl__source_workers(src, pool);
    into o = { u, pool->state };
    void **states = hitl__malloc(w * sizeof *states);
    if (!states)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu workers", w);
    for (size_t i = 0; i < w; i++)
        states[i] = &o;
    int st = hitl__measure_run(src, kind, scaled, pool, into_block, states, fn);
    hitl__free(states);
    return st;
}
