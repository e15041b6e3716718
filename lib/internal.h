/*
 * What the modules of libhitl share.  Not installed; nothing here is ABI.
 * Internal symbols are named hitl__* and have hidden visibility, so they never
 * leave the shared object (only the hitl_* names in libhitl.map do).
 */
#ifndef HITL_INTERNAL_H
#define HITL_INTERNAL_H

#define HITL_BUILDING 1
#include "hitl.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#  define HITL__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define HITL__PRINTF(f, a)
#endif

/* ---- error.c: status plus thread-local detail message ------------------- */

/* Record "fn: detail" as the calling thread's message and return status, so a
 * failure is one line:  return hitl__fail(HITL_EINVAL, "dim is 0"); the
 * function name comes from the macro. */
int hitl__fail_in(int status, const char *fn, const char *fmt, ...)
    HITL__PRINTF(3, 4);
#define hitl__fail(status, ...) hitl__fail_in((status), __func__, __VA_ARGS__)

/* ---- alloc.c: the one allocator hook ------------------------------------- */

void *hitl__malloc(size_t size);               /* NULL on failure or size 0 */
void *hitl__calloc(size_t n, size_t size);     /* zeroed; checks n*size */
void *hitl__realloc(void *ptr, size_t size);
void hitl__free(void *ptr);                    /* accepts NULL */
/* n*size without overflow: returns 0 and sets *out, or -1 on overflow. */
int hitl__mul_size(size_t *out, size_t n, size_t size);

/* Live-handle accounting for hitl_set_allocator's "no handle alive" rule.
 * Every _create calls acquire after its last allocation succeeded; every
 * _free calls release. */
void hitl__handle_acquire(void);
void hitl__handle_release(void);

/* ---- pool.c --------------------------------------------------------------- */

/* Rows live in chunks that never move once added: a copied batch owns its
 * memory, a borrowed batch points at the caller's.  Chunk j covers items
 * first .. first+n-1; row i of the chunk starts at rows + i*stride. */
typedef struct hitl__chunk {
    const float *rows;
    float *owned;      /* == rows when copied, NULL when borrowed */
    size_t first, n, stride;
} hitl__chunk;

struct hitl_pool {
    size_t dim, n, cap;
    hitl__chunk *chunks;
    size_t n_chunks, cap_chunks;
    uint64_t *ids;     /* per item */
    uint8_t *state;    /* hitl_item_state per item */
    int32_t *label;    /* -1 when none */
    float *weight;     /* sample weight, default 1 */
    size_t count[3];   /* items per state */
    /* open-addressing map id -> index+1 (0 = empty slot) */
    uint64_t *map_keys;
    size_t *map_vals;
    size_t map_cap;    /* power of two */
};

/* Row pointer of item i (i < pool->n), binary search over the chunks. */
const float *hitl__pool_row(const hitl_pool *pool, size_t i);

/* ---- model.c / score.c ---------------------------------------------------- */

enum { HITL__MODEL_LOGREG = 1, HITL__MODEL_CUSTOM = 2 };

struct hitl_model {
    int kind;
    size_t dim, n_classes;
    /* parameters */
    double l2, tol;
    int fit_intercept, warm_start;
    size_t max_iter;
    size_t threads;      /* 0 = one per online CPU */
    size_t block_rows;
    /* fitted state of the built-in model */
    int fitted;
    double *coef;        /* training solution, (dim + 1) x K, double; row dim
                            holds the intercepts; kept for warm starts */
    float *w;            /* scoring copy owned by score.c (layout is its own
                            business); built by hitl__score_prepare */
    float *b;            /* scoring intercepts, K, owned by score.c */
    double grad_norm, objective;
    size_t iterations, n_train;
    /* custom model */
    hitl_fit_fn fit_cb;
    hitl_predict_fn predict_cb;
    void *user;
};

/*
 * Streaming scorer (score.c).  The pool is cut into blocks of at most
 * model->block_rows rows that never cross a chunk; worker threads take blocks
 * in order and, for each, compute the K probabilities of every row and hand
 * them to a consumer while they are still in cache.  Each worker has its own
 * consumer state (worker index w < hitl__score_workers()), so consumers need
 * no locks; the caller merges per-worker results afterwards.
 */
typedef int (*hitl__block_fn)(void *state, size_t first, size_t n,
                              const float *proba, size_t n_classes);

/* Build the float32 scoring copy (model->w, model->b) from a (dim+1) x K
 * double solution laid out like model->coef.  Allocates the new copy first and
 * swaps it in only on success, so a failed call leaves the model as it was.
 * model.c calls it after every successful fit and load.  Returns HITL_OK or
 * HITL_ENOMEM. */
int hitl__score_prepare(hitl_model *model, const double *coef);
/* Free the scoring copy (model_free calls it). */
void hitl__score_release(hitl_model *model);

/* How many workers hitl__score_pool will use for this model and pool. */
size_t hitl__score_workers(const hitl_model *model, const hitl_pool *pool);

/* Score rows [first, first+n) of the pool; states[w] is worker w's consumer
 * state.  Returns HITL_OK or the first failure (a consumer's nonzero return
 * is passed through as the status). */
int hitl__score_pool(const hitl_model *model, const hitl_pool *pool,
                     size_t first, size_t n, hitl__block_fn consume,
                     void **states);

/* ---- strategy.c: selection shared by every strategy ----------------------- */

/* A bounded heap keeping the k best (key, index) pairs, where "best" means
 * smallest key, ties to the smaller index.  Strategies whose order is
 * "largest first" push -score.  O(log k) per push. */
typedef struct hitl__topk {
    size_t k, n;
    double *key;
    size_t *index;
} hitl__topk;

int hitl__topk_init(hitl__topk *t, size_t k);
void hitl__topk_free(hitl__topk *t);
void hitl__topk_push(hitl__topk *t, double key, size_t index);
/* Merge src into dst (both bounded by the same k). */
void hitl__topk_merge(hitl__topk *dst, const hitl__topk *src);
/* Sort the kept entries best first, in place. */
void hitl__topk_sort(hitl__topk *t);

#endif /* HITL_INTERNAL_H */
