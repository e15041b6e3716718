/*
 * strategy: which unlabeled items to ask a person about next.
 *
 * A query is one streaming pass: the scorer (score.c) hands each worker
 * blocks of class probabilities, class-major; the kind's score function turns
 * a block into one score per item; every UNLABELED item's key goes into the
 * worker's bounded heap (hitl__topk) of the k best.  After the pass the
 * per-worker heaps are merged and sorted.  Because "best" is a total order
 * (key, then pool index), the result is the same for any thread count and
 * block size.  Time O(N) plus O(N log k) for the heaps; extra memory
 * O(threads * (block * K + k)).
 *
 * Adding a kind: write its score function (below, with the others: one
 * score per item from a class-major block, vectorised over items), add a
 * row to `kinds` saying whether it needs a model and which way it sorts, and
 * the enum value in hitl.h.  A kind that is not "one score per item from one
 * model's probabilities" (a committee, a diversity rule) gets its own
 * `select` function in the row instead of a score function.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#define MAX_SEED 9007199254740992.0 /* 2^53: every integer below is a double */

/* ------------------------------------------------------------------------- */
/* Bounded top-k heap                                                         */
/* ------------------------------------------------------------------------- */

/* The heap is a max-heap in the "worse" order, so its root is the worst of
 * the k kept entries and the test for a new entry is one comparison. */
static int worse(double ka, size_t ia, double kb, size_t ib)
{
    return ka > kb || (ka == kb && ia > ib);
}

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

/* ------------------------------------------------------------------------- */
/* Scores of a class-major probability block                                  */
/* ------------------------------------------------------------------------- */

/* s[i] for i < ld = round16(n), from P[c*ld + i] (see hitl__score_run);
 * work holds K * ld floats.  Loops run 16 items at a time with a fixed inner
 * trip count, which the compiler vectorises. */
typedef void (*score_fn)(float *s, const float *P, size_t ld, size_t K, float *work);

/* 1 - p1 */
static void score_least_confident(float *s, const float *P, size_t ld, size_t K,
                                  float *work)
{
    (void)work;
    for (size_t i0 = 0; i0 < ld; i0 += 16) {
        float p1[16];
        for (int r = 0; r < 16; r++)
            p1[r] = P[i0 + r];
        for (size_t c = 1; c < K; c++)
            for (int r = 0; r < 16; r++) {
                float v = P[c * ld + i0 + r];
                p1[r] = v > p1[r] ? v : p1[r];
            }
        for (int r = 0; r < 16; r++)
            s[i0 + r] = 1.0f - p1[r];
    }
}

/* p1 - p2: the new second largest is max(p2, min(p1, v)). */
static void score_margin(float *s, const float *P, size_t ld, size_t K, float *work)
{
    (void)work;
    for (size_t i0 = 0; i0 < ld; i0 += 16) {
        float p1[16], p2[16];
        for (int r = 0; r < 16; r++) {
            p1[r] = P[i0 + r];
            p2[r] = -1.0f;
        }
        for (size_t c = 1; c < K; c++)
            for (int r = 0; r < 16; r++) {
                float v = P[c * ld + i0 + r];
                float lo = v < p1[r] ? v : p1[r];
                p1[r] = v > p1[r] ? v : p1[r];
                p2[r] = lo > p2[r] ? lo : p2[r];
            }
        for (int r = 0; r < 16; r++)
            s[i0 + r] = p1[r] - p2[r];
    }
}

/* -sum p log p, with 0 log 0 = 0 (the vector log needs the scorer's
 * instruction-set dispatch, so score.c has it). */
static void score_entropy(float *s, const float *P, size_t ld, size_t K, float *work)
{
    (void)work;
    hitl__entropy_cm(s, P, ld, K);
}

/* ------------------------------------------------------------------------- */
/* Kinds                                                                      */
/* ------------------------------------------------------------------------- */

struct hitl_strategy {
    int kind;
    uint64_t seed;
    hitl__div_params div;   /* parameters of the issue-3 kinds */
};

typedef struct kind_info kind_info;

/* Fills t (initialised with t->k = the number to keep) for one query. */
typedef int (*select_fn)(hitl__topk *t, const kind_info *ki,
                         const hitl_strategy *s, const hitl_model *model,
                         const hitl_pool *pool);

struct kind_info {
    int kind;
    int needs_model;
    int largest_first;   /* 1: largest score first (the heap keeps -score) */
    score_fn score;      /* per-item score of a probability block */
    select_fn select;    /* how the candidates are found */
    int needs_work;      /* score needs K * ld floats of scratch */
};

static int select_random(hitl__topk *t, const kind_info *ki, const hitl_strategy *s,
                         const hitl_model *model, const hitl_pool *pool);
static int select_scored(hitl__topk *t, const kind_info *ki, const hitl_strategy *s,
                         const hitl_model *model, const hitl_pool *pool);

static const kind_info kinds[] = {
    { HITL_STRATEGY_RANDOM,          0, 0, NULL,                  select_random, 0 },
    { HITL_STRATEGY_LEAST_CONFIDENT, 1, 1, score_least_confident, select_scored, 0 },
    { HITL_STRATEGY_MARGIN,          1, 0, score_margin,          select_scored, 0 },
    { HITL_STRATEGY_ENTROPY,         1, 1, score_entropy,         select_scored, 0 },
    /* issue 3: committee.c and diversity.c pick in their own order (no select;
       see query_ordered) */
    { HITL_STRATEGY_QBC_VOTE_ENTROPY,      1, 1, NULL, NULL, 0 },
    { HITL_STRATEGY_QBC_CONSENSUS_ENTROPY, 1, 1, NULL, NULL, 0 },
    { HITL_STRATEGY_QBC_KL,                1, 1, NULL, NULL, 0 },
    { HITL_STRATEGY_QBC_BALD,              1, 1, NULL, NULL, 0 },
    { HITL_STRATEGY_KCENTER,               0, 1, NULL, NULL, 0 },
    { HITL_STRATEGY_RANKED_BATCH,          1, 1, NULL, NULL, 0 },
    { HITL_STRATEGY_DENSITY,               1, 1, NULL, NULL, 0 },
    { HITL_STRATEGY_HYBRID,                1, 1, NULL, NULL, 0 },
    { HITL_STRATEGY_DEFAULT,               1, 1, NULL, NULL, 0 },
};

static const kind_info *find_kind(int kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (kinds[i].kind == kind)
            return &kinds[i];
    return NULL;
}

int hitl__uncertainty_block(int kind, float *s, const float *P, size_t ld, size_t K,
                            float *work)
{
    const kind_info *ki = find_kind(kind);
    if (!ki || !ki->score)
        return -1;
    ki->score(s, P, ld, K, work);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Selection                                                                  */
/* ------------------------------------------------------------------------- */

/* The RANDOM key of item i: 53 bits of a hash of (seed, i), in [0, 1);
 * hitl__mix64 is splitmix64's output function, a bijection in which every
 * input bit reaches every output bit. */
double hitl__random_key(uint64_t seed, size_t i)
{
    return (double)(hitl__mix64(seed ^ hitl__mix64((uint64_t)i)) >> 11) * 0x1.0p-53;
}

static int select_random(hitl__topk *t, const kind_info *ki, const hitl_strategy *s,
                         const hitl_model *model, const hitl_pool *pool)
{
    (void)ki;
    (void)model;
    for (size_t i = 0; i < pool->n; i++)
        if (pool->state[i] == HITL_ITEM_UNLABELED)
            hitl__topk_push(t, hitl__random_key(s->seed, i), i);
    return HITL_OK;
}

/* One worker's share of a scored query. */
typedef struct scored {
    const kind_info *ki;
    const uint8_t *state;      /* the pool's item states */
    hitl__topk heap;
    float *s;                  /* scores of one block */
    float *work;               /* the score function's scratch, or NULL */
} scored;

static int scored_block(void *arg, size_t first, size_t n, const float *P, size_t K)
{
    scored *w = arg;
    size_t ld = HITL__ROUND16(n);
    w->ki->score(w->s, P, ld, K, w->work);
    hitl__topk *h = &w->heap;
    const uint8_t *state = w->state + first;
    double sign = w->ki->largest_first ? -1.0 : 1.0;
    for (size_t i = 0; i < n; i++) {
        if (state[i] != HITL_ITEM_UNLABELED)
            continue;
        double key = sign * (double)w->s[i];
        /* most items lose to the worst kept one: test before the call */
        if (h->n == h->k && worse(key, first + i, h->key[0], h->index[0]))
            continue;
        hitl__topk_push(h, key, first + i);
    }
    return HITL_OK;
}

static void free_scored(scored *ws, size_t n)
{
    for (size_t i = 0; ws && i < n; i++) {
        hitl__topk_free(&ws[i].heap);
        hitl__free(ws[i].s);
        hitl__free(ws[i].work);
    }
    hitl__free(ws);
}

static int select_scored(hitl__topk *t, const kind_info *ki, const hitl_strategy *s,
                         const hitl_model *model, const hitl_pool *pool)
{
    (void)s;
    size_t nw = hitl__score_workers(model, pool);
    size_t ld = HITL__ROUND16(hitl__score_block_rows(model)), cells;
    if (hitl__mul_size(&cells, ld, model->n_classes) != 0 ||
        cells > SIZE_MAX / sizeof(float))
        return hitl__fail_in(HITL_ENOMEM, "hitl_query",
                             "a block of %zu rows x %zu classes does not fit in memory",
                             hitl__score_block_rows(model), model->n_classes);
    scored *ws = hitl__calloc(nw, sizeof *ws);
    void **states = hitl__calloc(nw, sizeof *states);
    int st = ws && states ? HITL_OK : HITL_ENOMEM;
    for (size_t i = 0; st == HITL_OK && i < nw; i++) {
        ws[i].ki = ki;
        ws[i].state = pool->state;
        states[i] = &ws[i];
        st = hitl__topk_init(&ws[i].heap, t->k);
        ws[i].s = hitl__malloc(ld * sizeof *ws[i].s);
        ws[i].work = ki->needs_work ? hitl__malloc(cells * sizeof(float)) : NULL;
        if (!ws[i].s || (ki->needs_work && !ws[i].work))
            st = HITL_ENOMEM;
    }
    if (st != HITL_OK) {
        free_scored(ws, nw);
        hitl__free(states);
        return hitl__fail_in(HITL_ENOMEM, "hitl_query",
                             "out of memory for %zu workers' heaps of %zu", nw, t->k);
    }
    st = hitl__score_run(model, pool, 0, pool->n, HITL__LAYOUT_CLASSES, scored_block,
                         states, "hitl_query");
    for (size_t i = 0; st == HITL_OK && i < nw; i++)
        hitl__topk_merge(t, &ws[i].heap);
    free_scored(ws, nw);
    hitl__free(states);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Public API                                                                 */
/* ------------------------------------------------------------------------- */

int hitl_strategy_create(hitl_strategy **out, hitl_strategy_kind kind)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    if (!find_kind((int)kind))
        return hitl__fail(HITL_EINVAL, "unknown strategy kind %d", (int)kind);
    hitl_strategy *s = hitl__calloc(1, sizeof *s);
    if (!s)
        return hitl__fail(HITL_ENOMEM, "out of memory for the strategy");
    s->kind = (int)kind;
    s->seed = 0;
    hitl__div_params_init(&s->div);
    hitl__handle_acquire();
    *out = s;
    return HITL_OK;
}

void hitl_strategy_free(hitl_strategy *strategy)
{
    if (!strategy)
        return;
    hitl__free(strategy);
    hitl__handle_release();
}

int hitl_strategy_set_param(hitl_strategy *strategy, hitl_param param, double value)
{
    if (!strategy)
        return hitl__fail(HITL_EINVAL, "strategy is NULL");
    switch (param) {
    case HITL_PARAM_SEED:
        if (!(value >= 0 && value <= MAX_SEED && value == floor(value)))
            return hitl__fail(HITL_EINVAL,
                              "HITL_PARAM_SEED %g is not an integer in [0, 2^53]", value);
        strategy->seed = (uint64_t)value;
        return HITL_OK;
    default:
        if (hitl__div_is_param(param))
            return hitl__div_set_param(&strategy->div, param, value, __func__);
        return hitl__fail(HITL_EINVAL, "parameter %d is not a strategy parameter",
                          (int)param);
    }
}

int hitl_strategy_get_param(double *value, const hitl_strategy *strategy,
                            hitl_param param)
{
    if (!value || !strategy)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "strategy");
    switch (param) {
    case HITL_PARAM_SEED:
        *value = (double)strategy->seed;
        return HITL_OK;
    default:
        if (hitl__div_is_param(param))
            return hitl__div_get_param(value, &strategy->div, param, __func__);
        return hitl__fail(HITL_EINVAL, "parameter %d is not a strategy parameter",
                          (int)param);
    }
}

static int check_query(const hitl_strategy *strategy, const kind_info *ki,
                       const hitl_model *model, const hitl_pool *pool, size_t k)
{
    if (!strategy || !pool)
        return hitl__fail_in(HITL_EINVAL, "hitl_query", "%s is NULL",
                             !strategy ? "strategy" : "pool");
    if (k == 0)
        return hitl__fail_in(HITL_EINVAL, "hitl_query", "k is 0");
    if (!ki->needs_model)
        return HITL_OK;
    if (!model)
        return hitl__fail_in(HITL_EINVAL, "hitl_query",
                             "model is NULL (this strategy needs one)");
    if (model->dim != pool->dim)
        return hitl__fail_in(HITL_EINVAL, "hitl_query",
                             "pool dim %zu differs from model dim %zu", pool->dim,
                             model->dim);
    if (!model->fitted)
        return hitl__fail_in(HITL_ESTATE, "hitl_query", "the model is not fitted");
    return HITL_OK;
}

/* The issue-3 kinds: a committee query (QBC_*, or a core kind on a
 * committee's consensus) or a diversity kind; they return picks in their
 * own order.  Results go to scratch first, so the caller's arrays are
 * written only on success. */
static int query_ordered(size_t *count, size_t *indices, uint64_t *ids, double *scores,
                         const hitl_strategy *s, const hitl_model *model,
                         const hitl_committee *committee, const hitl_pool *pool,
                         size_t k, const char *fn)
{
    size_t n_un = pool->count[HITL_ITEM_UNLABELED], keep = k < n_un ? k : n_un, n = 0;
    size_t *idx = hitl__malloc((keep ? keep : 1) * sizeof *idx);
    double *sc = hitl__malloc((keep ? keep : 1) * sizeof *sc);
    if (!idx || !sc) {
        hitl__free(idx);
        hitl__free(sc);
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu results", keep);
    }
    int st;
    if (!hitl__is_diversity_kind(s->kind)) {
        st = hitl__committee_query(&n, idx, sc, s->kind, committee, pool, keep, fn);
    } else {
        hitl__query q = { s->kind, s->seed, &s->div, model, committee, pool, keep, fn };
        st = hitl__diversity_query(&n, idx, sc, &q);
    }
    if (st == HITL_OK) {
        for (size_t i = 0; i < n; i++) {
            if (indices)
                indices[i] = idx[i];
            if (ids)
                ids[i] = pool->ids[idx[i]];
            if (scores)
                scores[i] = sc[i];
        }
        *count = n;
    }
    hitl__free(idx);
    hitl__free(sc);
    return st;
}

int hitl_query(size_t *count, size_t *indices, uint64_t *ids, double *scores,
               hitl_strategy *strategy, const hitl_model *model,
               const hitl_pool *pool, size_t k)
{
    if (!count)
        return hitl__fail(HITL_EINVAL, "count is NULL");
    if (strategy && hitl__is_qbc_kind(strategy->kind))
        return hitl__fail(HITL_EINVAL, "a QBC_* strategy needs a committee: use "
                          "hitl_query_committee");
    if (strategy && hitl__is_diversity_kind(strategy->kind)) {
        if (!pool || k == 0)
            return hitl__fail(HITL_EINVAL, "%s", !pool ? "pool is NULL" : "k is 0");
        if (model && model->dim != pool->dim)
            return hitl__fail(HITL_EINVAL, "pool dim %zu differs from model dim %zu",
                              pool->dim, model->dim);
        return query_ordered(count, indices, ids, scores, strategy, model, NULL, pool, k,
                             __func__);
    }
    const kind_info *ki = strategy ? find_kind(strategy->kind) : kinds;
    int st = check_query(strategy, ki, model, pool, k);
    if (st != HITL_OK)
        return st;
    size_t unlabeled = pool->count[HITL_ITEM_UNLABELED];
    hitl__topk best;
    if (hitl__topk_init(&best, k < unlabeled ? k : unlabeled) != HITL_OK)
        return hitl__fail(HITL_ENOMEM, "out of memory for %zu results", k);
    if (best.k > 0)
        st = ki->select(&best, ki, strategy, model, pool);
    if (st == HITL_OK) {
        hitl__topk_sort(&best);
        double sign = ki->largest_first ? -1.0 : 1.0;
        for (size_t i = 0; i < best.n; i++) {
            size_t at = best.index[i];
            if (indices)
                indices[i] = at;
            if (ids)
                ids[i] = pool->ids[at];
            if (scores)
                scores[i] = sign * best.key[i];
        }
        *count = best.n;
    }
    hitl__topk_free(&best);
    return st;
}

int hitl_query_committee(size_t *count, size_t *indices, uint64_t *ids, double *scores,
                         hitl_strategy *strategy, const hitl_committee *committee,
                         const hitl_pool *pool, size_t k)
{
    if (!count)
        return hitl__fail(HITL_EINVAL, "count is NULL");
    if (!strategy || !committee || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !strategy ? "strategy" : !committee ? "committee" : "pool");
    if (k == 0)
        return hitl__fail(HITL_EINVAL, "k is 0");
    if (strategy->kind == HITL_STRATEGY_RANDOM)
        return hitl_query(count, indices, ids, scores, strategy, NULL, pool, k);
    int st = hitl__committee_check(committee, pool, 0, __func__);
    if (st != HITL_OK)
        return st;
    return query_ordered(count, indices, ids, scores, strategy, NULL, committee, pool, k,
                         __func__);
}
