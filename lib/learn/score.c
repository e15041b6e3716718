/*
 * score: the streaming scorer.  Turns pool rows into class probabilities a
 * block at a time, in worker threads, and hands each block to a consumer
 * while it is still in cache; no N x K matrix of the whole pool is ever made.
 *
 * Per block of n rows (built-in model):
 *   1. logits, class-major:  Z[c][i] = b[c] + sum_j X[i][j] W[j][c]
 *      (hitl__linear_block: a register-blocked kernel, chosen at run time
 *      for AVX-512, AVX2+FMA or portable C; cblas_sgemm once W is so large
 *      that OpenBLAS's cache blocking wins);
 *   2. softmax down each column, numerically stable (subtract the column
 *      max, exp, divide by the sum), in place;
 *   3. the consumer, given the block class-major (scores vectorise over
 *      items) or row-major (transposed once, for per-row consumers).
 * A custom model's predict callback writes the block row-major straight from
 * the pool's rows (no copy of X); its output is checked and renormalised.
 *
 * Memory per worker: one C x round16(block) class-major buffer and, when a
 * row-major view or a callback needs it, one block x C buffer.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "learn/learn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* A block's probabilities (rows x classes floats) stay within this many
 * floats (256 KiB, so they stay in L2 cache between the kernel, the softmax
 * and the consumer): with many classes a block has fewer rows than
 * HITL_PARAM_BLOCK_ROWS.  Measured: K = 1000 with 2048-row blocks (8 MiB)
 * ran 10x slower than with 64-row blocks. */
#define BLOCK_FLOATS (1u << 16)

/* ------------------------------------------------------------------------- */
/* Scoring copy of the built-in model                                         */
/* ------------------------------------------------------------------------- */

/* model->w is dim x ldw (row j: the K weights of feature j, zero padded to a
 * multiple of 16 columns); model->b the K intercepts, padded likewise.  w
 * starts on a 64-byte boundary, so with K <= 16 a feature's weights are one
 * cache line: a sparse row's non-zero touches one line of W, not two. */
int hitl__score_prepare(hitl_model *model, const double *coef)
{
    size_t d = model->dim, K = model->n_classes, ldw = hitl__linear_ldw(K), cells;
    if (hitl__mul_size(&cells, d, ldw) != 0 || cells > SIZE_MAX / sizeof(float) - 16)
        return hitl__fail(HITL_ENOMEM, "scoring weights %zu x %zu do not fit", d, ldw);
    float *mem = hitl__calloc(cells + 16, sizeof *mem);
    float *b = hitl__calloc(ldw, sizeof *b);
    if (!mem || !b) {
        hitl__free(mem);
        hitl__free(b);
        return hitl__fail(HITL_ENOMEM, "out of memory for %zu x %zu scoring weights",
                          d, K);
    }
    float *w = mem + (64 - (uintptr_t)mem % 64) % 64 / sizeof *mem;
    for (size_t j = 0; j < d; j++)
        for (size_t c = 0; c < K; c++)
            w[j * ldw + c] = (float)coef[j * K + c];
    for (size_t c = 0; c < K; c++)
        b[c] = (float)coef[d * K + c];
    hitl__score_release(model);
    model->w_mem = mem;
    model->w = w;
    model->b = b;
    return HITL_OK;
}

void hitl__score_release(hitl_model *model)
{
    hitl__free(model->w_mem);
    hitl__free(model->b);
    model->w_mem = NULL;
    model->w = NULL;
    model->b = NULL;
}

static hitl__linear model_linear(const hitl_model *m)
{
    return (hitl__linear){ .d = m->dim, .C = m->n_classes,
                           .ldw = hitl__linear_ldw(m->n_classes),
                           .w = m->w, .b = m->b };
}

/* ------------------------------------------------------------------------- */
/* Blocks and workers                                                         */
/* ------------------------------------------------------------------------- */

/* Threads for a pass of `blocks` blocks: HITL_PARAM_THREADS (0: one per
 * online CPU), at most one per block.  When the layer goes to sgemm and
 * OpenBLAS runs threads of its own, one worker: its sgemm is threaded
 * already, and OpenBLAS's pthread build serialises concurrent threaded
 * calls (we never change the caller's OpenBLAS thread setting). */
static size_t workers_for(const hitl_model *m, size_t blocks, int sparse)
{
    size_t t = m->threads ? m->threads : hitl__cpus();
    if (m->kind == HITL__MODEL_LOGREG && !sparse && hitl__linear_wide(m->dim, m->n_classes) &&
        hitl__linear_blas_threaded())
        t = 1;
    if (t > blocks)
        t = blocks;
    return t ? t : 1;
}

size_t hitl__score_block_rows(const hitl_model *model)
{
    size_t rows = model->block_rows, cap = BLOCK_FLOATS / model->n_classes;
    if (rows > cap)
        rows = cap < 16 ? 16 : cap & ~(size_t)15;
    return rows;
}

size_t hitl__score_workers(const hitl_model *model, const hitl_pool *pool)
{
    return workers_for(model, hitl__blocks_cut(NULL, pool->chunks, pool->n_chunks, 0,
                                               pool->n, hitl__score_block_rows(model)),
                       pool->sparse);
}

/* One worker's block buffers. */
typedef struct buffers {
    float *cm;                 /* C x round16(rows), class-major */
    float *rm;                 /* rows x C, row-major, or NULL */
    int32_t *ip;               /* rows + 1 rebased CSR offsets, or NULL */
} buffers;

typedef struct job {
    const hitl_model *model;
    hitl__linear lin;
    int isa, layout, sparse;
    hitl__block *blocks;
    hitl__block local[HITL__LOCAL_BLOCKS];
    hitl__block_fn consume;
    void **states;
    const char *fn;
    buffers *buf;              /* per worker */
} job;

/* A custom model's block: finite, >= 0 and a positive sum per row, then
 * rows scaled to sum 1. */
static int check_callback_rows(const job *j, float *p, size_t first, size_t n, size_t K)
{
    for (size_t i = 0; i < n; i++) {
        float *row = p + i * K;
        double sum = 0;
        for (size_t c = 0; c < K; c++) {
            if (!isfinite(row[c]) || row[c] < 0)
                return hitl__fail_in(HITL_ECALLBACK, j->fn,
                                     "predict callback gave row %zu class %zu the value %g "
                                     "(must be finite and >= 0)", first + i, c,
                                     (double)row[c]);
            sum += row[c];
        }
        if (!(sum > 0))
            return hitl__fail_in(HITL_ECALLBACK, j->fn,
                                 "predict callback gave row %zu probabilities that sum to 0",
                                 first + i);
        for (size_t c = 0; c < K; c++)
            row[c] = (float)(row[c] / sum);
    }
    return HITL_OK;
}

/* A CSR custom model sees each block as a CSR matrix of its own: offsets
 * rebased to start at 0, the arrays from the block's first non-zero. */
static int predict_csr(const hitl_model *m, const hitl__block *bk, int32_t *ip, float *rm)
{
    int32_t base = bk->indptr[0];
    for (size_t i = 0; i <= bk->n; i++)
        ip[i] = bk->indptr[i] - base;
    return m->predict_csr_cb(m->user, ip, bk->indices + base, bk->values + base, bk->n,
                             m->dim, rm);
}

static int score_block(void *ctx, size_t w, size_t task)
{
    const job *j = ctx;
    const hitl_model *m = j->model;
    const hitl__block *bk = &j->blocks[task];
    size_t K = m->n_classes, ld = HITL__ROUND16(bk->n), first = bk->first, n = bk->n;
    float *cm = j->buf[w].cm, *rm = j->buf[w].rm;
    const float *proba;
    if (m->kind == HITL__MODEL_LOGREG) {
        hitl__linear_rows_isa(cm, ld, &j->lin, bk, 0, n, j->isa);
        size_t bad = hitl__softmax_cm_isa(cm, ld, n, K, j->isa);
        if (bad)
            return hitl__fail_in(HITL_ENUMERIC, j->fn,
                                 "row %zu: logits overflow float32 (features too large)",
                                 first + bad - 1);
        proba = cm;
        if (j->layout == HITL__LAYOUT_ROWS) {
            hitl__to_rows(rm, cm, ld, n, K);
            proba = rm;
        }
    } else {
        int rc = bk->rows ? m->predict_cb(m->user, bk->rows, n, bk->stride, m->dim, rm)
                          : predict_csr(m, bk, j->buf[w].ip, rm);
        if (rc != 0)
            return hitl__fail_in(HITL_ECALLBACK, j->fn,
                                 "predict callback returned %d for rows [%zu, %zu)", rc,
                                 first, first + n);
        int st = check_callback_rows(j, rm, first, n, K);
        if (st != HITL_OK)
            return st;
        proba = rm;
        if (j->layout == HITL__LAYOUT_CLASSES) {
            hitl__to_classes(cm, ld, rm, n, K);
            proba = cm;
        }
    }
    int rc = j->consume(j->states[w], first, n, proba, K);
    if (rc != 0 && !*hitl_error_message())
        hitl__fail_in(rc, j->fn, "the block consumer failed");
    return rc;
}

static void free_buffers(job *j, size_t workers)
{
    for (size_t i = 0; j->buf && i < workers; i++) {
        hitl__free(j->buf[i].cm);
        hitl__free(j->buf[i].rm);
        hitl__free(j->buf[i].ip);
    }
    hitl__free(j->buf);
    if (j->blocks != j->local)
        hitl__free(j->blocks);
}

/* Every buffer is allocated here, in the calling thread, before any work
 * starts; a thread that cannot be started only means fewer workers. */
static int run(job *j, const hitl__chunk *chunks, size_t n_chunks, size_t first, size_t n,
               size_t n_workers)
{
    const hitl_model *m = j->model;
    size_t K = m->n_classes, rows = hitl__score_block_rows(m), cm_cells, rm_cells;
    size_t n_blocks = 0;
    int need_rm = m->kind == HITL__MODEL_CUSTOM || j->layout == HITL__LAYOUT_ROWS;
    int need_ip = m->kind == HITL__MODEL_CUSTOM && chunks[0].rows == NULL;
    if (hitl__mul_size(&cm_cells, HITL__ROUND16(rows), K) != 0 ||
        cm_cells > SIZE_MAX / sizeof(float) ||
        hitl__mul_size(&rm_cells, rows, K) != 0)
        return hitl__fail_in(HITL_ENOMEM, j->fn,
                             "a block of %zu rows x %zu classes does not fit in memory",
                             rows, K);
    j->buf = hitl__calloc(n_workers, sizeof *j->buf);
    int ok = j->buf && hitl__blocks_plan(&j->blocks, &n_blocks, j->local, HITL__LOCAL_BLOCKS,
                                         chunks, n_chunks, first, n, rows) == HITL_OK;
    for (size_t i = 0; ok && i < n_workers; i++) {
        j->buf[i].cm = hitl__malloc(cm_cells * sizeof(float));
        j->buf[i].rm = need_rm ? hitl__malloc(rm_cells * sizeof(float)) : NULL;
        j->buf[i].ip = need_ip ? hitl__malloc((rows + 1) * sizeof(int32_t)) : NULL;
        ok = j->buf[i].cm && (j->buf[i].rm || !need_rm) && (j->buf[i].ip || !need_ip);
    }
    int st = ok ? hitl__tasks_run(n_workers, n_blocks, score_block, j, j->fn)
                : hitl__fail_in(HITL_ENOMEM, j->fn,
                                "out of memory for %zu workers' blocks of %zu x %zu",
                                n_workers, rows, K);
    free_buffers(j, n_workers);
    return st;
}

static void job_init(job *j, const hitl_model *m, int layout, hitl__block_fn consume,
                     void **states, const char *fn)
{
    memset(j, 0, sizeof *j);
    j->model = m;
    j->lin = model_linear(m);
    j->isa = hitl__isa();
    j->layout = layout;
    j->consume = consume;
    j->states = states;
    j->fn = fn;
}

int hitl__score_run(const hitl_model *model, const hitl_pool *pool, size_t first,
                    size_t n, int layout, hitl__block_fn consume, void **states,
                    const char *fn)
{
    if (!model->fitted)
        return hitl__fail_in(HITL_ESTATE, fn, "the model is not fitted");
    if (n == 0)
        return HITL_OK;
    job j;
    job_init(&j, model, layout, consume, states, fn);
    int st = hitl__model_check_rows(model, pool->sparse, fn);
    if (st != HITL_OK)
        return st;
    size_t blocks = hitl__blocks_cut(NULL, pool->chunks, pool->n_chunks, first, n,
                                     hitl__score_block_rows(model));
    size_t t = workers_for(model, blocks, pool->sparse), all = hitl__score_workers(model, pool);
    return run(&j, pool->chunks, pool->n_chunks, first, n, t < all ? t : all);
}

int hitl__score_pool(const hitl_model *model, const hitl_pool *pool, size_t first,
                     size_t n, hitl__block_fn consume, void **states)
{
    return hitl__score_run(model, pool, first, n, HITL__LAYOUT_ROWS, consume, states,
                           __func__);
}

/* ------------------------------------------------------------------------- */
/* Public predict                                                             */
/* ------------------------------------------------------------------------- */

typedef struct copy_out {
    float *proba;
    size_t base;               /* row index of proba[0] */
} copy_out;

static int copy_block(void *state, size_t first, size_t n, const float *proba,
                      size_t K)
{
    copy_out *o = state;
    memcpy(o->proba + (first - o->base) * K, proba, n * K * sizeof *proba);
    return HITL_OK;
}

int hitl__model_check_rows(const hitl_model *model, int sparse, const char *fn)
{
    if (model->kind == HITL__MODEL_CUSTOM && sparse && !model->predict_csr_cb)
        return hitl__fail_in(HITL_EINVAL, fn, "the pool is sparse but the custom model has "
                             "no CSR callbacks (hitl_model_create_custom_csr)");
    if (model->kind == HITL__MODEL_CUSTOM && !sparse && !model->predict_cb)
        return hitl__fail_in(HITL_EINVAL, fn, "the rows are dense but the custom model has "
                             "only CSR callbacks (hitl_model_create_custom)");
    return HITL_OK;
}

static int check_model(const hitl_model *model, const char *fn)
{
    if (!model->fitted)
        return hitl__fail_in(HITL_ESTATE, fn, "the model is not fitted");
    return HITL_OK;
}

/* Every worker's state is the same output, written at disjoint rows. */
static int predict_chunks(float *proba, const hitl_model *model,
                          const hitl__chunk *chunks, size_t n_chunks, size_t first,
                          size_t n, const char *fn)
{
    job j;
    copy_out out = { proba, first };
    size_t t = workers_for(model, hitl__blocks_cut(NULL, chunks, n_chunks, first, n,
                                                   hitl__score_block_rows(model)),
                           chunks[0].rows == NULL);
    void **states = hitl__malloc(t * sizeof *states);
    if (!states)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu workers", t);
    for (size_t i = 0; i < t; i++)
        states[i] = &out;
    job_init(&j, model, HITL__LAYOUT_ROWS, copy_block, states, fn);
    int st = run(&j, chunks, n_chunks, first, n, t);
    hitl__free(states);
    return st;
}

int hitl_model_predict(float *proba, const hitl_model *model, const float *X,
                       size_t n, size_t stride)
{
    if (!model)
        return hitl__fail(HITL_EINVAL, "model is NULL");
    if (n > 0 && (!proba || !X))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !proba ? "proba" : "X");
    if (stride < model->dim)
        return hitl__fail(HITL_EINVAL, "stride %zu < dim %zu", stride, model->dim);
    int st = check_model(model, __func__);
    if (st != HITL_OK || n == 0)
        return st;
    if ((st = hitl__model_check_rows(model, 0, __func__)) != HITL_OK ||
        (st = hitl__check_rows(__func__, n, stride, model->dim, sizeof(float))) != HITL_OK ||
        (st = hitl__check_rows(__func__, n, model->n_classes, model->n_classes,
                               sizeof(float))) != HITL_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * stride;
        for (size_t c = 0; c < model->dim; c++)
            if (!isfinite(x[c]))
                return hitl__fail(HITL_ENUMERIC, "X[%zu][%zu] is %s", i, c,
                                  isnan(x[c]) ? "NaN" : "Inf");
    }
    hitl__chunk chunk = { .rows = X, .owned = NULL, .first = 0, .n = n, .stride = stride };
    return predict_chunks(proba, model, &chunk, 1, 0, n, __func__);
}

int hitl_model_predict_pool(float *proba, const hitl_model *model,
                            const hitl_pool *pool, size_t first, size_t n)
{
    if (!model || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !model ? "model" : "pool");
    if (n > 0 && !proba)
        return hitl__fail(HITL_EINVAL, "proba is NULL");
    if (pool->dim != model->dim)
        return hitl__fail(HITL_EINVAL, "pool dim %zu differs from model dim %zu",
                          pool->dim, model->dim);
    if (first > pool->n || n > pool->n - first)
        return hitl__fail(HITL_EINVAL, "items [%zu, %zu + %zu) leave the pool of %zu",
                          first, first, n, pool->n);
    int st = check_model(model, __func__);
    if (st == HITL_OK)
        st = hitl__model_check_rows(model, pool->sparse, __func__);
    if (st != HITL_OK || n == 0)
        return st;
    return predict_chunks(proba, model, pool->chunks, pool->n_chunks, first, n,
                          __func__);
}

int hitl_model_predict_csr(float *proba, const hitl_model *model, const int32_t *indptr,
                           const int32_t *indices, const float *values, size_t n)
{
    if (!model)
        return hitl__fail(HITL_EINVAL, "model is NULL");
    if (n > 0 && (!proba || !indptr))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !proba ? "proba" : "indptr");
    int st = check_model(model, __func__);
    if (st != HITL_OK || n == 0)
        return st;
    if ((st = hitl__model_check_rows(model, 1, __func__)) != HITL_OK ||
        (st = hitl__check_rows(__func__, n, model->n_classes, model->n_classes,
                               sizeof(float))) != HITL_OK ||
        (st = hitl__csr_check(indptr, indices, values, n, model->dim, __func__)) != HITL_OK)
        return st;
    hitl__chunk chunk = { .n = n, .indptr = indptr, .indices = indices, .values = values };
    return predict_chunks(proba, model, &chunk, 1, 0, n, __func__);
}

int hitl__model_predict_block(float *proba, const hitl_model *model, const hitl__block *bk)
{
    if (bk->rows)
        return hitl_model_predict(proba, model, bk->rows, bk->n, bk->stride);
    int st = check_model(model, __func__);
    if (st == HITL_OK)
        st = hitl__model_check_rows(model, 1, __func__);
    if (st != HITL_OK || bk->n == 0)
        return st;
    hitl__chunk chunk = { .n = bk->n, .indptr = bk->indptr, .indices = bk->indices,
                          .values = bk->values };
    return predict_chunks(proba, model, &chunk, 1, 0, bk->n, "hitl_model_predict_pool");
}
