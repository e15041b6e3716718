/*
 * explain: why the model leans the way it does on an item, and what would
 * change its mind.
 *
 * Per-item explanation of the built-in model (dense rows).  For each block
 * of rows the stacked linear kernel gives the K logits s_c = b_c + w_c . x;
 * the probabilities are their softmax, exactly as hitl_model_predict
 * computes them.  Then, in one pass over the row, the contributions
 * w_c[j] x_j to the predicted class and to the runner-up are formed and the
 * `top` largest in absolute value picked (ties to the lower feature: see
 * top_contrib); the rest is the logit less the intercept and the
 * listed ones (the logit is the kernel's sum of all contributions, so the
 * parts add up to it).  Cost per row: the scoring's K dim multiply-adds plus
 * 2 (dim + top (dim / 8 + 16)) comparisons.  A sparse variant visits the
 * non-zeros only and fills the same outputs.
 *
 * Counterfactual of a linear model: see hitl_model_counterfactual in hitl.h
 * for the problem; the solver is dual coordinate ascent (L2) and the
 * fractional-knapsack greedy (L1), both below.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "learn/learn.h"

#include <math.h>
#include <string.h>

/* Rows per explained block: small enough that the K x rows logits stay in
 * L1/L2 cache between the kernel and the per-row pass. */
#define EXPLAIN_ROWS 256

typedef struct xout {
    float *scores, *proba;
    int32_t *classes, *features;
    float *contrib, *rest;
    size_t top;
} xout;

typedef struct xjob {
    const hitl_model *model;
    hitl__linear lin;
    int isa;
    const hitl__block *blocks;
    size_t base;               /* item index of output row 0 */
    xout o;
    const float *wT;           /* K x dim: class c's weights at c*dim */
    float **buf;               /* per worker: 2 K x ld floats, then 3 dim + 1
                                  of top_contrib's scratch */
    const char *fn;
} xjob;

/* The predicted class (largest probability, lowest class on ties, as the
 * router's label) and the runner-up of one class-major column. */
static void best_two(size_t *c1, size_t *c2, const float *P, size_t ld, size_t K)
{
    size_t a = 0, b = 1;
    if (P[ld] > P[0]) {
        a = 1;
        b = 0;
    }
    for (size_t c = 2; c < K; c++) {
        float v = P[c * ld];
        if (v > P[a * ld]) {
            b = a;
            a = c;
        } else if (v > P[b * ld]) {
            b = c;
        }
    }
    *c1 = a;
    *c2 = b;
}

/* Features are scanned in runs of this many, each run's largest
 * |contribution| kept.  Then m passes: the run of the largest maximum (the
 * first on ties), its first entry at that value, taken out, and that run's
 * maximum again.  That is m (runs + 2 RUN) comparisons that compile to
 * conditional moves, where an insertion list over all d features costs
 * m ln(d/m) insertions, each a mispredicted branch or two. */
#define RUN 8

/* v = w x and a = |v| for one run, and the largest of a (the bits of a
 * non-negative float order as its value does, so the maximum is taken on
 * integers).  GCC's generic vectors: SIMD on any target, no dispatch. */
typedef float v8f __attribute__((vector_size(4 * RUN)));
typedef int32_t v8i __attribute__((vector_size(4 * RUN)));

static float run_products(float *v, float *a, const float *w, const float *x)
{
    v8f wv, xv, t;
    v8i bits;
    memcpy(&wv, w, sizeof wv);
    memcpy(&xv, x, sizeof xv);
    t = wv * xv;
    memcpy(v, &t, sizeof t);
    memcpy(&bits, &t, sizeof bits);
    bits &= 0x7fffffff;
    memcpy(a, &bits, sizeof bits);
    v8i hi = __builtin_shuffle(bits, (v8i){ 4, 5, 6, 7, 0, 1, 2, 3 }), gt = bits > hi;
    bits = (bits & gt) | (hi & ~gt);
    hi = __builtin_shuffle(bits, (v8i){ 2, 3, 0, 1, 6, 7, 4, 5 });
    gt = bits > hi;
    bits = (bits & gt) | (hi & ~gt);
    int32_t mx = bits[0] > bits[1] ? bits[0] : bits[1];
    float f;
    memcpy(&f, &mx, sizeof f);
    return f;
}

/* The m largest |w_j x_j| of one class (w: its d weights, contiguous) into
 * feat/val, largest first, ties to the lower feature (padded with -1 / 0);
 * v, a (d each) and rmax (d / RUN + 1) are scratch.  Returns the sum of the
 * listed contributions. */
static double top_contrib(int32_t *feat, float *val, const float *w, const float *x,
                          size_t d, size_t m, float *v, float *a, float *rmax)
{
    size_t runs = (d + RUN - 1) / RUN, full = m ? d / RUN : 0, n;
    for (size_t r = 0; r < full; r++)
        rmax[r] = run_products(v + r * RUN, a + r * RUN, w + r * RUN, x + r * RUN);
    if (m && full < runs) {
        float mx = -1;
        for (size_t j = full * RUN; j < d; j++) {
            v[j] = w[j] * x[j];
            a[j] = fabsf(v[j]);
            mx = a[j] > mx ? a[j] : mx;
        }
        rmax[full] = mx;
    }
    double sum = 0;
    for (n = 0; n < m && n < d; n++) {
        size_t best = 0;
        float top = rmax[0];
        for (size_t r = 1; r < runs; r++) {     /* no branches: cmov, maxss */
            int gt = rmax[r] > top;
            best = gt ? r : best;
            top = gt ? rmax[r] : top;
        }
        size_t j0 = best * RUN, end = j0 + RUN < d ? j0 + RUN : d, at = end;
        for (size_t j = end; j-- > j0;)           /* the first at the maximum */
            at = a[j] == top ? j : at;
        feat[n] = (int32_t)at;
        val[n] = v[at];
        sum += v[at];
        a[at] = -1;
        float mx = -1;
        for (size_t j = j0; j < end; j++)
            mx = a[j] > mx ? a[j] : mx;
        rmax[best] = mx;
    }
    for (; n < m; n++) {
        feat[n] = -1;
        val[n] = 0;
    }
    return sum;
}

/* Row i of the block (item row) into the outputs. */
static void explain_row(const xjob *j, float *tmp, const float *Z, const float *P, size_t ld,
                        size_t i, size_t row, const float *x)
{
    const xout *o = &j->o;
    size_t K = j->model->n_classes, m = o->top, c1, c2;
    for (size_t c = 0; c < K; c++) {
        if (o->scores)
            o->scores[row * K + c] = Z[c * ld + i];
        if (o->proba)
            o->proba[row * K + c] = P[c * ld + i];
    }
    best_two(&c1, &c2, P + i, ld, K);
    if (o->classes) {
        o->classes[2 * row] = (int32_t)c1;
        o->classes[2 * row + 1] = (int32_t)c2;
    }
    if (o->features || o->contrib || o->rest) {
        size_t d = j->model->dim, cls[2] = { c1, c2 };
        int32_t feat[64];
        float val[64];
        for (int r = 0; r < 2; r++) {
            double listed = top_contrib(feat, val, j->wT + cls[r] * d, x, d, m, tmp,
                                        tmp + d, tmp + 2 * d);
            double rest = (double)Z[cls[r] * ld + i] - j->lin.b[cls[r]] - listed;
            size_t at = (2 * row + r) * m;
            if (o->features)
                memcpy(o->features + at, feat, m * sizeof *feat);
            if (o->contrib)
                memcpy(o->contrib + at, val, m * sizeof *val);
            if (o->rest) {
                o->rest[2 * (2 * row + r)] = j->lin.b[cls[r]];
                o->rest[2 * (2 * row + r) + 1] = (float)rest;
            }
        }
    }
}

static int explain_block(void *ctx, size_t w, size_t task)
{
    const xjob *j = ctx;
    const hitl__block *bk = &j->blocks[task];
    size_t K = j->model->n_classes, n = bk->n, ld = HITL__ROUND16(n);
    float *Z = j->buf[w], *P = Z + K * ld;
    hitl__linear_block_isa(Z, ld, &j->lin, bk->rows, n, bk->stride, j->isa);
    memcpy(P, Z, K * ld * sizeof *P);
    size_t bad = hitl__softmax_cm_isa(P, ld, n, K, j->isa);
    if (bad)
        return hitl__fail_in(HITL_ENUMERIC, j->fn,
                             "row %zu: logits overflow float32 (features too large)",
                             bk->first + bad - 1);
    for (size_t i = 0; i < n; i++)
        explain_row(j, P + K * ld, Z, P, ld, i, bk->first + i - j->base,
                    bk->rows + i * bk->stride);
    return HITL_OK;
}

/* The built-in model over items [first, first+n) of the chunks. */
static int explain_linear(const xout *o, const hitl_model *m, const hitl__chunk *ch,
                          size_t n_chunks, size_t first, size_t n, const char *fn)
{
    hitl__block local[HITL__LOCAL_BLOCKS], *blocks = NULL;
    size_t n_blocks = 0, K = m->n_classes, ld = HITL__ROUND16(EXPLAIN_ROWS);
    size_t t = m->threads ? m->threads : hitl__cpus();
    if (hitl__blocks_plan(&blocks, &n_blocks, local, HITL__LOCAL_BLOCKS, ch, n_chunks,
                          first, n, EXPLAIN_ROWS) != HITL_OK)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for the block plan");
    if (t > n_blocks)
        t = n_blocks;
    xjob j = { .model = m, .isa = hitl__isa(), .blocks = blocks, .base = first,
               .o = *o, .fn = fn,
               .lin = { .d = m->dim, .C = K, .ldw = hitl__linear_ldw(K), .w = m->w,
                        .b = m->b } };
    float *wT = hitl__malloc(K * m->dim * sizeof *wT);
    j.wT = wT;
    j.buf = hitl__calloc(t, sizeof *j.buf);
    int ok = j.buf && wT;
    for (size_t i = 0; ok && i < t; i++)
        ok = (j.buf[i] = hitl__malloc((2 * K * ld + 3 * m->dim + 1) * sizeof(float))) != NULL;
    if (ok)
        for (size_t c = 0; c < K; c++)
            for (size_t f = 0; f < m->dim; f++)
                wT[c * m->dim + f] = m->w[f * j.lin.ldw + c];
    int st = ok ? hitl__tasks_run(t, n_blocks, explain_block, &j, fn)
                : hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu blocks of %zu x %zu",
                                t, K, ld);
    for (size_t i = 0; j.buf && i < t; i++)
        hitl__free(j.buf[i]);
    hitl__free(j.buf);
    hitl__free(wT);
    if (blocks != local)
        hitl__free(blocks);
    return st;
}

/* Classes and probabilities of any model, from its probabilities. */
static int explain_any(const xout *o, const hitl_model *m, const hitl_pool *pool,
                       const float *X, size_t first, size_t n, size_t stride)
{
    size_t K = m->n_classes;
    float *p = o->proba;
    if (!p && !(p = hitl__calloc(n, K * sizeof *p)))
        return hitl__fail_in(HITL_ENOMEM, pool ? "hitl_model_explain_pool" :
                             "hitl_model_explain", "out of memory for %zu x %zu", n, K);
    int st = pool ? hitl_model_predict_pool(p, m, pool, first, n)
                  : hitl_model_predict(p, m, X, n, stride);
    if (st == HITL_OK && o->classes)
        hitl_explain_proba(o->classes, NULL, NULL, p, n, K);
    if (p != o->proba)
        hitl__free(p);
    return st;
}

/* Checks common to both entry points, before anything is written. */
static int check_explain(const xout *o, const hitl_model *m, const char *fn)
{
    if (!m)
        return hitl__fail_in(HITL_EINVAL, fn, "model is NULL");
    if (m->kind != HITL__MODEL_LOGREG &&
        (o->scores || o->features || o->contrib || o->rest || o->top))
        return hitl__fail_in(HITL_EINVAL, fn, "a custom model has no scores or "
                             "contributions: pass NULL for them and top 0");
    if (o->top > 64 || (m->kind == HITL__MODEL_LOGREG && o->top > m->dim))
        return hitl__fail_in(HITL_EINVAL, fn, "top %zu exceeds min(64, dim %zu)", o->top,
                             m->dim);
    if (o->top && !o->features && !o->contrib)
        return hitl__fail_in(HITL_EINVAL, fn, "top %zu but features and contrib are NULL",
                             o->top);
    if (!m->fitted)
        return hitl__fail_in(HITL_ESTATE, fn, "the model is not fitted");
    return HITL_OK;
}

static int check_out_size(size_t n, size_t K, size_t top, const char *fn)
{
    size_t cells;
    if (hitl__mul_size(&cells, n, K > 4 * top ? K : 4 * top) != 0 ||
        cells > SIZE_MAX / sizeof(float))
        return hitl__fail_in(HITL_EINVAL, fn, "n = %zu rows of output do not fit in memory",
                             n);
    return HITL_OK;
}

int hitl_model_explain(float *scores, float *proba, int32_t *classes, int32_t *features,
                       float *contrib, float *rest, const hitl_model *model,
                       const float *X, size_t n, size_t stride, size_t top)
{
    xout o = { scores, proba, classes, features, contrib, rest, top };
    int st = check_explain(&o, model, __func__);
    if (st != HITL_OK)
        return st;
    if (n > 0 && !X)
        return hitl__fail(HITL_EINVAL, "X is NULL");
    if (stride < model->dim)
        return hitl__fail(HITL_EINVAL, "stride %zu < dim %zu", stride, model->dim);
    if (n == 0)
        return HITL_OK;
    if ((st = hitl__check_rows(__func__, n, stride, model->dim, sizeof(float))) != HITL_OK ||
        (st = check_out_size(n, model->n_classes, top, __func__)) != HITL_OK)
        return st;
    if (model->kind != HITL__MODEL_LOGREG)
        return explain_any(&o, model, NULL, X, 0, n, stride);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < model->dim; c++)
            if (!isfinite(X[i * stride + c]))
                return hitl__fail(HITL_ENUMERIC, "X[%zu][%zu] is %s", i, c,
                                  isnan(X[i * stride + c]) ? "NaN" : "Inf");
    hitl__chunk chunk = { .rows = X, .owned = NULL, .first = 0, .n = n, .stride = stride };
    return explain_linear(&o, model, &chunk, 1, 0, n, __func__);
}

int hitl_model_explain_pool(float *scores, float *proba, int32_t *classes,
                            int32_t *features, float *contrib, float *rest,
                            const hitl_model *model, const hitl_pool *pool, size_t first,
                            size_t n, size_t top)
{
    xout o = { scores, proba, classes, features, contrib, rest, top };
    int st = check_explain(&o, model, __func__);
    if (st != HITL_OK)
        return st;
    if (!pool)
        return hitl__fail(HITL_EINVAL, "pool is NULL");
    if (pool->dim != model->dim)
        return hitl__fail(HITL_EINVAL, "pool dim %zu differs from model dim %zu", pool->dim,
                          model->dim);
    if (first > pool->n || n > pool->n - first)
        return hitl__fail(HITL_EINVAL, "items [%zu, %zu + %zu) leave the pool of %zu",
                          first, first, n, pool->n);
    if (n == 0)
        return HITL_OK;
    if ((st = check_out_size(n, model->n_classes, top, __func__)) != HITL_OK)
        return st;
    if (model->kind != HITL__MODEL_LOGREG)
        return explain_any(&o, model, pool, NULL, first, n, 0);
    return explain_linear(&o, model, pool->chunks, pool->n_chunks, first, n, __func__);
}

/* ------------------------------------------------------------------------- */
/* Any model: runner-up and margin from probabilities; committee votes        */
/* ------------------------------------------------------------------------- */

int hitl_explain_proba(int32_t *classes, float *top2, float *margin, const float *proba,
                       size_t n, size_t n_classes)
{
    if (n > 0 && !proba)
        return hitl__fail(HITL_EINVAL, "proba is NULL");
    if (n_classes < 2 || n_classes > 65536)
        return hitl__fail(HITL_EINVAL, "n_classes %zu outside [2, 65536]", n_classes);
    int st = hitl__check_rows(__func__, n, n_classes, n_classes, sizeof(float));
    if (st != HITL_OK)
        return st;
    for (size_t i = 0; i < n * n_classes; i++)
        if (!isfinite(proba[i]))
            return hitl__fail(HITL_ENUMERIC, "proba[%zu][%zu] is %s", i / n_classes,
                              i % n_classes, isnan(proba[i]) ? "NaN" : "Inf");
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * n_classes;
        size_t a, b;
        /* a row-major row is a class-major column with ld = 1 */
        best_two(&a, &b, p, 1, n_classes);
        if (classes) {
            classes[2 * i] = (int32_t)a;
            classes[2 * i + 1] = (int32_t)b;
        }
        if (top2) {
            top2[2 * i] = p[a];
            top2[2 * i + 1] = p[b];
        }
        if (margin)
            margin[i] = p[a] - p[b];
    }
    return HITL_OK;
}

/* Rows of a committee vote per block, so the members' probabilities need
 * O(block K) memory whatever n is. */
#define VOTE_ROWS 1024

int hitl_committee_votes(uint32_t *votes, const hitl_committee *committee, const float *X,
                         size_t n, size_t stride)
{
    if (!committee || (n > 0 && (!votes || !X)))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !committee ? "committee" :
                          !votes ? "votes" : "X");
    size_t M = hitl__committee_members(committee), K = hitl__committee_classes(committee);
    if (!hitl__committee_ready(committee))
        return hitl__fail(HITL_ESTATE, "the committee has no members or one is not fitted");
    hitl_model *first;
    hitl_committee_member(&first, committee, 0);
    if (stride < first->dim)
        return hitl__fail(HITL_EINVAL, "stride %zu < dim %zu", stride, first->dim);
    if (n == 0)
        return HITL_OK;
    int st = hitl__check_rows(__func__, n, K, K, sizeof(uint32_t));
    if (st != HITL_OK)
        return st;
    size_t rows = n < VOTE_ROWS ? n : VOTE_ROWS;
    float *p = hitl__calloc(rows, K * sizeof *p);
    uint32_t *v = hitl__calloc(rows, K * sizeof *v);
    if (!p || !v) {
        hitl__free(p);
        hitl__free(v);
        return hitl__fail(HITL_ENOMEM, "out of memory for %zu x %zu votes", rows, K);
    }
    for (size_t i0 = 0; st == HITL_OK && i0 < n; i0 += rows) {
        size_t b = n - i0 < rows ? n - i0 : rows;
        memset(v, 0, b * K * sizeof *v);
        for (size_t mi = 0; st == HITL_OK && mi < M; mi++) {
            hitl_model *member;
            hitl_committee_member(&member, committee, mi);
            st = hitl_model_predict(p, member, X + i0 * stride, b, stride);
            for (size_t i = 0; st == HITL_OK && i < b; i++) {
                size_t a, r;
                best_two(&a, &r, p + i * K, 1, K);
                v[i * K + a]++;
            }
        }
        if (st == HITL_OK)
            memcpy(votes + i0 * K, v, b * K * sizeof *v);
    }
    hitl__free(p);
    hitl__free(v);
    return st;
}
