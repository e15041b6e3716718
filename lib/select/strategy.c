/*
 * strategy: which unlabeled items to ask a person about next.
 *
 * The handle holds a kind, a seed and the parameters of the diversity kinds;
 * a query dispatches on the kind:
 *   RANDOM                 a seeded uniform draw (hitl__rng_key per item);
 *   LEAST_CONFIDENT, MARGIN, ENTROPY, EXPECTED_GRADIENT_LENGTH
 *                          the k best by uncertainty (or EGL), in one streaming pass
 *                          of the model (hitl__measure_top), or of a
 *                          committee's consensus;
 *   QBC_*                  the k best by the committee's disagreement;
 *   KCENTER ... DEFAULT    diversity sampling (diversity.c).
 * Selection is a bounded heap per worker, merged afterwards; because "best"
 * is a total order (key, then pool index), the result is the same for any
 * thread count and block size.  Time O(N) plus O(N log k) for the heaps;
 * extra memory O(threads * (block * K + k)).
 *
 * Adding an uncertainty kind: its score function and its scaling to [0, 1]
 * in uncertainty.c (hitl__uncertainty_block, hitl__informativeness), the
 * kind in hitl__is_base_kind (select.h: what strategies and HITL_PARAM_BASE
 * accept), its order in hitl__measure_top (MARGIN alone sorts smallest
 * first), and the enum value in hitl.h.
 */
#include "select/select.h"

#include <math.h>
#include <string.h>

#define MAX_SEED 9007199254740992.0 /* 2^53: every integer below is a double */

struct hitl_strategy {
    int kind;
    uint64_t seed;
    hitl__div_params div;   /* parameters of the diversity kinds */
};

static int known_kind(int kind)
{
    return kind == HITL_STRATEGY_RANDOM || hitl__is_base_kind(kind, 1) ||
           hitl__is_diversity_kind(kind) || kind == HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH;
}

/* RANDOM: the k unlabeled items of smallest key, sorted. */
static int select_random(hitl__topk *t, uint64_t seed, const hitl_pool *pool, size_t keep)
{
    if (hitl__topk_init(t, keep) != HITL_OK)
        return hitl__fail_in(HITL_ENOMEM, "hitl_query", "out of memory for %zu results", keep);
    for (size_t i = 0; i < pool->n; i++)
        if (pool->state[i] == HITL_ITEM_UNLABELED)
            hitl__topk_push(t, hitl__rng_key(seed, i), i);
    hitl__topk_sort(t);
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Public API                                                                 */
/* ------------------------------------------------------------------------- */

int hitl_strategy_create(hitl_strategy **out, hitl_strategy_kind kind)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    if (!known_kind((int)kind))
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

/* What an uncertainty query needs besides a strategy and a pool: a fitted
 * model of the pool's dim (RANDOM needs none). */
static int check_query(const hitl_strategy *strategy, const hitl_model *model,
                       const hitl_pool *pool, size_t k)
{
    if (!strategy || !pool)
        return hitl__fail_in(HITL_EINVAL, "hitl_query", "%s is NULL",
                             !strategy ? "strategy" : "pool");
    if (k == 0)
        return hitl__fail_in(HITL_EINVAL, "hitl_query", "k is 0");
    if (strategy->kind == HITL_STRATEGY_RANDOM)
        return HITL_OK;
    if (!model)
        return hitl__fail_in(HITL_EINVAL, "hitl_query",
                             "model is NULL (this strategy needs one)");
    if (model->dim != pool->dim)
        return hitl__fail_in(HITL_EINVAL, "hitl_query",
                             "pool dim %zu differs from model dim %zu", pool->dim,
                             model->dim);
    if (strategy->kind == HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH &&
        model->kind != HITL__MODEL_LOGREG)
        return hitl__fail_in(HITL_EINVAL, "hitl_query", "EXPECTED_GRADIENT_LENGTH needs the "
                             "built-in logistic regression, not a custom model");
    if (!model->fitted)
        return hitl__fail_in(HITL_ESTATE, "hitl_query", "the model is not fitted");
    return HITL_OK;
}

/* The k best of a committee by a QBC measure or an uncertainty kind of its
 * consensus, in the kind's order, raw scores. */
static int committee_top(size_t *count, size_t *indices, double *scores, int kind,
                         const hitl_committee *c, const hitl_pool *pool, size_t keep,
                         const char *fn)
{
    int st = hitl__committee_check(c, pool, 1, fn);
    if (st != HITL_OK || keep == 0) {
        *count = 0;
        return st;
    }
    hitl__topk t;
    hitl__source src = { NULL, c };
    st = hitl__measure_top(&t, &src, kind, 0, pool, keep, fn);
    if (st != HITL_OK)
        return st;
    for (size_t j = 0; j < t.n; j++) {
        indices[j] = t.index[j];
        scores[j] = t.key[j];
    }
    *count = t.n;
    hitl__topk_free(&t);
    return HITL_OK;
}

/* The caller's outputs (each may be NULL) from n picks. */
static void write_results(size_t *indices, uint64_t *ids, double *scores,
                          const hitl_pool *pool, const size_t *idx, const double *sc,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (indices)
            indices[i] = idx[i];
        if (ids)
            ids[i] = pool->ids[idx[i]];
        if (scores)
            scores[i] = sc[i];
    }
}

/* The kinds that pick in their own order: a committee query (QBC_*, or an
 * uncertainty kind on a committee's consensus) or a diversity kind.  Results
 * go to scratch first, so the caller's arrays are written only on success. */
static int query_ordered(size_t *count, size_t *indices, uint64_t *ids, double *scores,
                         const hitl_strategy *s, const hitl_model *model,
                         const hitl_committee *committee, const hitl_pool *pool,
                         size_t k, int cold, const char *fn)
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
    hitl__query q = { s->kind, s->seed, &s->div, model, committee, pool, keep, fn };
    if (cold)
        st = keep ? hitl__cold_start_query(&n, idx, sc, &q) : HITL_OK;
    else if (!hitl__is_diversity_kind(s->kind))
        st = committee_top(&n, idx, sc, s->kind, committee, pool, keep, fn);
    else
        st = hitl__diversity_query(&n, idx, sc, &q);
    if (st == HITL_OK) {
        write_results(indices, ids, scores, pool, idx, sc, n);
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
    /* kinds that pick in their own order: the diversity kinds, and every
       kind but RANDOM while nothing is labeled and no model is fitted (the
       cold-start batch, which needs no model) */
    int cold = strategy && pool && strategy->kind != HITL_STRATEGY_RANDOM &&
               pool->count[HITL_ITEM_LABELED] == 0 && (!model || !model->fitted);
    if (strategy && (cold || hitl__is_diversity_kind(strategy->kind))) {
        if (!pool || k == 0)
            return hitl__fail(HITL_EINVAL, "%s", !pool ? "pool is NULL" : "k is 0");
        if (model && model->dim != pool->dim)
            return hitl__fail(HITL_EINVAL, "pool dim %zu differs from model dim %zu",
                              pool->dim, model->dim);
        return query_ordered(count, indices, ids, scores, strategy, model, NULL, pool, k,
                             cold, __func__);
    }
    int st = check_query(strategy, model, pool, k);
    if (st != HITL_OK)
        return st;
    size_t unlabeled = pool->count[HITL_ITEM_UNLABELED];
    size_t keep = k < unlabeled ? k : unlabeled;
    if (keep == 0) {
        *count = 0;
        return HITL_OK;
    }
    hitl__topk best;
    hitl__source src = { model, NULL };
    st = strategy->kind == HITL_STRATEGY_RANDOM
             ? select_random(&best, strategy->seed, pool, keep)
             : hitl__measure_top(&best, &src, strategy->kind, 0, pool, keep, __func__);
    if (st != HITL_OK)
        return st;
    write_results(indices, ids, scores, pool, best.index, best.key, best.n);
    *count = best.n;
    hitl__topk_free(&best);
    return HITL_OK;
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
    if (strategy->kind == HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH)
        return hitl__fail(HITL_EINVAL, "EXPECTED_GRADIENT_LENGTH needs the built-in model "
                          "(the gradient of a committee is not defined): use hitl_query");
    int st = hitl__committee_check(committee, pool, 0, __func__);
    if (st != HITL_OK)
        return st;
    /* nothing labeled and a committee that cannot score yet: cold start */
    int cold = pool->count[HITL_ITEM_LABELED] == 0 && !hitl__committee_ready(committee);
    return query_ordered(count, indices, ids, scores, strategy, NULL, committee, pool, k,
                         cold, __func__);
}
