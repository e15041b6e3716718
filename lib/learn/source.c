/* The probability source: a model or a committee, streamed over the pool a
 * block at a time, so that whatever consumes class probabilities (every
 * selection rule) is written once for both.  A model's blocks come from the
 * scorer, class-major, as the consensus of a committee of none. */
#include "learn/learn.h"

size_t hitl__source_workers(const hitl__source *src, const hitl_pool *pool)
{
    return src->committee ? hitl__committee_workers(src->committee, pool)
                          : hitl__score_workers(src->model, pool);
}

size_t hitl__source_block_rows(const hitl__source *src)
{
    return src->committee ? hitl__committee_block_rows(src->committee)
                          : hitl__score_block_rows(src->model);
}

size_t hitl__source_classes(const hitl__source *src)
{
    return src->committee ? hitl__committee_classes(src->committee) : src->model->n_classes;
}

int hitl__source_check(const hitl__source *src, const hitl_pool *pool, const char *fn)
{
    if (src->committee)
        return hitl__committee_check(src->committee, pool, 1, fn);
    if (!src->model)
        return hitl__fail_in(HITL_EINVAL, fn, "model is NULL (this strategy needs one)");
    if (src->model->dim != pool->dim)
        return hitl__fail_in(HITL_EINVAL, fn, "pool dim %zu differs from model dim %zu",
                             pool->dim, src->model->dim);
    if (!src->model->fitted)
        return hitl__fail_in(HITL_ESTATE, fn, "the model is not fitted");
    return HITL_OK;
}

/* One worker's bridge from the scorer's blocks to an ensemble consumer. */
typedef struct bridge {
    hitl__ensemble_fn consume;
    void *inner;
} bridge;

static int model_block(void *state, size_t first, size_t n, const float *proba, size_t K)
{
    const bridge *br = state;
    hitl__ensemble_block b = { .first = first, .n = n, .ld = HITL__ROUND16(n), .M = 0,
                               .K = K, .consensus = proba };
    return br->consume(br->inner, &b);
}

int hitl__source_run(const hitl__source *src, const hitl_pool *pool, int want,
                     hitl__ensemble_fn consume, void **states, const char *fn)
{
    if (src->committee)
        return hitl__committee_run(src->committee, pool, want, consume, states, fn);
    size_t w = hitl__score_workers(src->model, pool);
    bridge *br = hitl__calloc(w, sizeof *br);
    void **sp = hitl__calloc(w, sizeof *sp);
    int st = br && sp ? HITL_OK
                      : hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu workers", w);
    for (size_t i = 0; st == HITL_OK && i < w; i++) {
        br[i] = (bridge){ consume, states[i] };
        sp[i] = &br[i];
    }
    if (st == HITL_OK)
        st = hitl__score_run(src->model, pool, 0, pool->n, HITL__LAYOUT_CLASSES, model_block,
                             sp, fn);
    hitl__free(br);
    hitl__free(sp);
    return st;
}
