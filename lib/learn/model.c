/*
 * model: what learns.  The built-in multinomial logistic regression (its
 * parameters, its fit with liblbfgs, its serialized format) and custom models
 * driven by the caller's callbacks.  Scoring lives in score.c: after every
 * fit or load that produces a new solution this file hands it to
 * hitl__score_prepare, which builds the float32 scoring copy.
 */
#include "learn/learn.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <lbfgs.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CLASSES 65536
#define MAX_THREADS 1024
#define MAX_BLOCK_ROWS 16777216.0 /* 2^24 */
#define MAX_EXACT_INT 9007199254740992.0 /* 2^53: every integer below is a double */
#define LBFGS_HISTORY 10          /* correction pairs, as scipy's L-BFGS-B */

/* ------------------------------------------------------------------------- */
/* Handles                                                                    */
/* ------------------------------------------------------------------------- */

/* Checks shared by every constructor (load passes its own status and function
 * name, so that a bad shape in a file is HITL_EFORMAT).  The built-in model
 * also needs its (dim + 1) x n_classes coefficients to fit liblbfgs's int
 * variable count; a custom model keeps no coefficients. */
static int check_shape(int status, const char *fn, size_t dim, size_t n_classes,
                       int kind)
{
    size_t rows, bytes;
    if (dim == 0)
        return hitl__fail_in(status, fn, "dim is 0");
    if (n_classes < 2 || n_classes > MAX_CLASSES)
        return hitl__fail_in(status, fn, "n_classes %zu is not in [2, %d]",
                             n_classes, MAX_CLASSES);
    /* The limits also keep every byte count of the model and its serialized
     * record (header + 8 bytes a coefficient) within size_t. */
    if (kind == HITL__MODEL_LOGREG &&
        (dim > (size_t)INT_MAX || hitl__mul_size(&rows, dim + 1, n_classes) != 0 ||
         rows > (size_t)INT_MAX || hitl__mul_size(&bytes, rows, sizeof(double)) != 0 ||
         bytes > SIZE_MAX - 1024))
        return hitl__fail_in(status, fn,
                             "(dim + 1) x n_classes = (%zu + 1) x %zu exceeds %d coefficients",
                             dim, n_classes, INT_MAX);
    return HITL_OK;
}

int hitl__model_check_shape(const char *fn, size_t dim, size_t n_classes)
{
    return check_shape(HITL_EINVAL, fn, dim, n_classes, HITL__MODEL_LOGREG);
}

/* A model with default parameters; not yet counted as a live handle. */
static hitl_model *model_new(int kind, size_t dim, size_t n_classes)
{
    hitl_model *m = hitl__calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->kind = kind;
    m->dim = dim;
    m->n_classes = n_classes;
    m->l2 = 1.0;
    m->tol = 1e-6;
    m->fit_intercept = 1;
    m->warm_start = 1;
    m->max_iter = 1000;
    m->threads = 0;
    m->block_rows = 2048;
    return m;
}

static void model_destroy(hitl_model *m)
{
    hitl__score_release(m);
    hitl__free(m->coef);
    hitl__free(m);
}

static size_t n_coef(const hitl_model *m)
{
    return (m->dim + 1) * m->n_classes;
}

int hitl_model_create_logreg(hitl_model **out, size_t dim, size_t n_classes)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    int st = check_shape(HITL_EINVAL, __func__, dim, n_classes, HITL__MODEL_LOGREG);
    if (st != HITL_OK)
        return st;
    hitl_model *m = model_new(HITL__MODEL_LOGREG, dim, n_classes);
    if (!m)
        return hitl__fail(HITL_ENOMEM, "out of memory for the model");
    hitl__handle_acquire();
    *out = m;
    return HITL_OK;
}

/* A custom model's shell; the caller sets its callbacks. */
static int custom_new(hitl_model **out, size_t dim, size_t n_classes, int has_predict,
                      int has_fit, void *user, const char *fn)
{
    if (!out)
        return hitl__fail_in(HITL_EINVAL, fn, "out is NULL");
    if (!has_predict)
        return hitl__fail_in(HITL_EINVAL, fn, "predict is NULL");
    int st = check_shape(HITL_EINVAL, fn, dim, n_classes, HITL__MODEL_CUSTOM);
    if (st != HITL_OK)
        return st;
    hitl_model *m = model_new(HITL__MODEL_CUSTOM, dim, n_classes);
    if (!m)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for the model");
    m->user = user;
    m->fitted = !has_fit; /* trained elsewhere: ready to predict */
    hitl__handle_acquire();
    *out = m;
    return HITL_OK;
}

int hitl_model_create_custom(hitl_model **out, size_t dim, size_t n_classes,
                             hitl_fit_fn fit, hitl_predict_fn predict,
                             void *user)
{
    int st = custom_new(out, dim, n_classes, predict != NULL, fit != NULL, user, __func__);
    if (st == HITL_OK) {
        (*out)->fit_cb = fit;
        (*out)->predict_cb = predict;
    }
    return st;
}

int hitl_model_create_custom_csr(hitl_model **out, size_t dim, size_t n_classes,
                                 hitl_fit_csr_fn fit, hitl_predict_csr_fn predict,
                                 void *user)
{
    int st = custom_new(out, dim, n_classes, predict != NULL, fit != NULL, user, __func__);
    if (st == HITL_OK) {
        (*out)->fit_csr_cb = fit;
        (*out)->predict_csr_cb = predict;
    }
    return st;
}

void hitl_model_free(hitl_model *model)
{
    if (!model)
        return;
    model_destroy(model);
    hitl__handle_release();
}

/* ------------------------------------------------------------------------- */
/* Parameters                                                                 */
/* ------------------------------------------------------------------------- */

static int is_int_in(double v, double lo, double hi)
{
    return v >= lo && v <= hi && v == floor(v); /* false for NaN */
}

/* NULL when `v` is a valid value of model parameter `p`, else why not. */
static const char *param_invalid(hitl_param p, double v)
{
    switch (p) {
    case HITL_PARAM_L2:
        return isfinite(v) && v >= 0 ? NULL : "must be finite and >= 0";
    case HITL_PARAM_FIT_INTERCEPT:
    case HITL_PARAM_WARM_START:
        return v == 0 || v == 1 ? NULL : "must be 0 or 1";
    case HITL_PARAM_TOL:
        return isfinite(v) && v > 0 ? NULL : "must be finite and > 0";
    case HITL_PARAM_MAX_ITER:
        return is_int_in(v, 1, fmin(MAX_EXACT_INT, (double)SIZE_MAX))
                   ? NULL : "must be an integer in [1, 2^53]";
    case HITL_PARAM_THREADS:
        return is_int_in(v, 0, MAX_THREADS) ? NULL : "must be an integer in [0, 1024]";
    case HITL_PARAM_BLOCK_ROWS:
        return is_int_in(v, 16, MAX_BLOCK_ROWS) ? NULL : "must be an integer in [16, 2^24]";
    default:
        return "is not a model parameter";
    }
}

static int is_model_param(hitl_param p)
{
    return p >= HITL_PARAM_L2 && p <= HITL_PARAM_BLOCK_ROWS;
}

static int param_not_model(const char *fn, hitl_param p)
{
    if ((int)p / 100 == 1)
        return hitl__fail_in(HITL_EINVAL, fn, "unknown model parameter %d", (int)p);
    return hitl__fail_in(HITL_EINVAL, fn,
                         "parameter %d belongs to another handle kind, not a model",
                         (int)p);
}

/* Store a value param_invalid accepted. */
static void param_store(hitl_model *m, hitl_param p, double v)
{
    switch (p) {
    case HITL_PARAM_L2:            m->l2 = v; break;
    case HITL_PARAM_FIT_INTERCEPT: m->fit_intercept = (int)v; break;
    case HITL_PARAM_TOL:           m->tol = v; break;
    case HITL_PARAM_MAX_ITER:      m->max_iter = (size_t)v; break;
    case HITL_PARAM_WARM_START:    m->warm_start = (int)v; break;
    case HITL_PARAM_THREADS:       m->threads = (size_t)v; break;
    case HITL_PARAM_BLOCK_ROWS:    m->block_rows = (size_t)v; break;
    default: break;
    }
}

static double param_value(const hitl_model *m, hitl_param p)
{
    switch (p) {
    case HITL_PARAM_L2:            return m->l2;
    case HITL_PARAM_FIT_INTERCEPT: return m->fit_intercept;
    case HITL_PARAM_TOL:           return m->tol;
    case HITL_PARAM_MAX_ITER:      return (double)m->max_iter;
    case HITL_PARAM_WARM_START:    return m->warm_start;
    case HITL_PARAM_THREADS:       return (double)m->threads;
    case HITL_PARAM_BLOCK_ROWS:    return (double)m->block_rows;
    default:                       return 0;
    }
}

int hitl_model_set_param(hitl_model *model, hitl_param param, double value)
{
    if (!model)
        return hitl__fail(HITL_EINVAL, "model is NULL");
    if (!is_model_param(param))
        return param_not_model(__func__, param);
    const char *why = param_invalid(param, value);
    if (why)
        return hitl__fail(HITL_EINVAL, "parameter %d = %g %s", (int)param, value, why);
    param_store(model, param, value);
    return HITL_OK;
}

int hitl_model_get_param(double *value, const hitl_model *model, hitl_param param)
{
    if (!value)
        return hitl__fail(HITL_EINVAL, "value is NULL");
    if (!model)
        return hitl__fail(HITL_EINVAL, "model is NULL");
    if (!is_model_param(param))
        return param_not_model(__func__, param);
    *value = param_value(model, param);
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Information                                                                */
/* ------------------------------------------------------------------------- */

int hitl_model_get_info(double *value, const hitl_model *model, hitl_info info)
{
    if (!value)
        return hitl__fail(HITL_EINVAL, "value is NULL");
    if (!model)
        return hitl__fail(HITL_EINVAL, "model is NULL");
    switch (info) {
    case HITL_INFO_FITTED:     *value = model->fitted; break;
    case HITL_INFO_GRAD_NORM:  *value = model->grad_norm; break;
    case HITL_INFO_OBJECTIVE:  *value = model->objective; break;
    case HITL_INFO_ITERATIONS: *value = (double)model->iterations; break;
    case HITL_INFO_N_TRAIN:    *value = (double)model->n_train; break;
    case HITL_INFO_DIM:        *value = (double)model->dim; break;
    case HITL_INFO_N_CLASSES:  *value = (double)model->n_classes; break;
    default:
        return hitl__fail(HITL_EINVAL, "unknown info %d", (int)info);
    }
    return HITL_OK;
}

int hitl_model_get_coef(double *W, double *b, const hitl_model *model)
{
    if (!model)
        return hitl__fail(HITL_EINVAL, "model is NULL");
    if (model->kind != HITL__MODEL_LOGREG)
        return hitl__fail(HITL_EINVAL, "a custom model has no coefficients");
    if (!model->fitted)
        return hitl__fail(HITL_ESTATE, "the model is not fitted");
    size_t d = model->dim, K = model->n_classes;
    for (size_t k = 0; W && k < K; k++)
        for (size_t j = 0; j < d; j++)
            W[k * d + j] = model->coef[j * K + k];
    if (b)
        memcpy(b, model->coef + d * K, K * sizeof *b);
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Fitting                                                                    */
/* ------------------------------------------------------------------------- */

/* Validate the pool against the model and count its labeled items. */
static int count_labeled(size_t *n_out, const hitl_model *m, const hitl_pool *pool)
{
    size_t n = 0;
    for (size_t i = 0; i < pool->n; i++) {
        if (pool->state[i] != HITL_ITEM_LABELED)
            continue;
        int32_t y = pool->label[i];
        if (y < 0 || (size_t)y >= m->n_classes)
            return hitl__fail_in(HITL_EINVAL, "hitl_model_fit",
                                 "pool item %zu (id %llu) has label %d, not in [0, %zu)",
                                 i, (unsigned long long)pool->ids[i], (int)y,
                                 m->n_classes);
        n++;
    }
    if (n == 0)
        return hitl__fail_in(HITL_ESTATE, "hitl_model_fit",
                             "the pool has no labeled item (of %zu items)", pool->n);
    *n_out = n;
    return HITL_OK;
}

/* Index of the first labeled item at or after i (pool->n if none). */
static size_t next_labeled(const hitl_pool *pool, size_t i)
{
    while (i < pool->n && pool->state[i] != HITL_ITEM_LABELED)
        i++;
    return i;
}

/* *acc += n * elem without overflow; -1 on overflow. */
static int size_add(size_t *acc, size_t n, size_t elem)
{
    size_t bytes;
    if (hitl__mul_size(&bytes, n, elem) != 0 || *acc > SIZE_MAX - bytes)
        return -1;
    *acc += bytes;
    return 0;
}

/* A CSR custom model's labeled rows, as one CSR matrix of their own; *rc
 * is what its fit callback returned. */
static int fit_custom_csr(hitl_model *m, const hitl_pool *pool, size_t n, int *rc)
{
    size_t nnz = 0, bytes = 0;
    for (size_t r = 0, i = next_labeled(pool, 0); r < n; r++, i = next_labeled(pool, i + 1)) {
        const int32_t *idx;
        const float *val;
        size_t k;
        hitl__pool_csr_row(&idx, &val, &k, pool, i);
        nnz += k;
    }
    if (nnz > INT32_MAX)
        return hitl__fail_in(HITL_EINVAL, "hitl_model_fit", "the labeled rows hold %zu "
                             "non-zeros, more than int32 offsets can index", nnz);
    if (size_add(&bytes, n + 1, sizeof(int32_t)) || size_add(&bytes, nnz, 2 * sizeof(float)) ||
        size_add(&bytes, n, sizeof(int32_t) + sizeof(float)))
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "%zu labeled rows overflow size_t", n);
    int32_t *ip = hitl__malloc(bytes);
    if (!ip)
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "out of memory for %zu labeled rows", n);
    int32_t *ix = ip + n + 1, *y = ix + nnz;
    float *vx = (float *)(y + n), *w = vx + nnz;
    ip[0] = 0;
    for (size_t r = 0, i = next_labeled(pool, 0); r < n; r++, i = next_labeled(pool, i + 1)) {
        const int32_t *idx;
        const float *val;
        size_t k;
        hitl__pool_csr_row(&idx, &val, &k, pool, i);
        memcpy(ix + ip[r], idx, k * sizeof *ix);
        memcpy(vx + ip[r], val, k * sizeof *vx);
        ip[r + 1] = ip[r] + (int32_t)k;
        y[r] = pool->label[i];
        w[r] = pool->weight[i];
    }
    *rc = m->fit_csr_cb(m->user, ip, ix, vx, n, m->dim, y, w);
    hitl__free(ip);
    return HITL_OK;
}

/* A dense custom model's labeled rows, n x dim; *rc as above. */
static int fit_custom_dense(hitl_model *m, const hitl_pool *pool, size_t n, int *rc)
{
    size_t d = m->dim, bytes = 0;
    if (size_add(&bytes, n, d * sizeof(float)) || size_add(&bytes, n, sizeof(float)) ||
        size_add(&bytes, n, sizeof(int32_t)))
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "%zu labeled rows of %zu features overflow size_t", n, d);
    float *X = hitl__malloc(bytes);
    if (!X)
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "out of memory for %zu labeled rows", n);
    float *w = X + n * d;
    int32_t *y = (int32_t *)(w + n);
    for (size_t r = 0, i = next_labeled(pool, 0); r < n; r++, i = next_labeled(pool, i + 1)) {
        memcpy(X + r * d, hitl__pool_row(pool, i), d * sizeof *X);
        y[r] = pool->label[i];
        w[r] = pool->weight[i];
    }
    *rc = m->fit_cb(m->user, X, n, d, y, w);
    hitl__free(X);
    return HITL_OK;
}

static int fit_custom(hitl_model *m, const hitl_pool *pool, size_t n)
{
    if (pool->sparse ? !m->fit_csr_cb : !m->fit_cb)
        return HITL_OK; /* trained elsewhere: nothing to learn */
    int rc = 0;
    int st = pool->sparse ? fit_custom_csr(m, pool, n, &rc) : fit_custom_dense(m, pool, n, &rc);
    if (st != HITL_OK)
        return st;
    if (rc != 0)
        return hitl__fail_in(HITL_ECALLBACK, "hitl_model_fit",
                             "the fit callback returned %d", rc);
    m->fitted = 1;
    m->n_train = n;
    return HITL_OK;
}

/* out[k] = sum_i A[i][k] for A n x K. */
static void column_sums(double *out, const double *A, size_t n, size_t K)
{
    memset(out, 0, K * sizeof *out);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < K; k++)
            out[k] += A[i * K + k];
}

/*
 * The built-in model.  With x_i the labeled rows, y_i their labels, s_i > 0
 * their sample weights, W (K x d) and b (K), fitting solves
 *
 *     min_{W,b}  f(W,b) = sum_i s_i (log sum_k exp(z_ik) - z_{i,y_i})
 *                         + lambda/2 ||W||_F^2,      z_i = W x_i + b,
 *
 * (b fixed at 0 when FIT_INTERCEPT is 0; b is never penalised), whose
 * gradient is
 *
 *     grad_W f = R^T X + lambda W,   grad_b f = R^T 1,
 *     R_ik = s_i (softmax(z_i)_k - [k == y_i]).
 *
 * The variables are stored as the (d+1) x K matrix x = [W^T; b^T] (model->coef
 * layout), so Z = X W^T + 1 b^T and grad_{W^T} = X^T R + lambda W^T are two
 * dgemm calls and the intercepts are the last K variables (left out of the
 * optimisation when FIT_INTERCEPT is 0).  The log-sum-exp subtracts max_k z_ik
 * first, so no exp overflows.
 *
 * Optimizer: liblbfgs (L-BFGS, More-Thuente line search) and Newton-CG.
 * A cold fit starts from 0 with L-BFGS.  A warm refit (WARM_START 1 and a
 * previous solution) starts from that solution with Newton-CG, which
 * converges in a few steps from a nearby point where L-BFGS would rebuild its
 * curvature memory over about as many iterations as a cold fit (digits, 50 to
 * 350 labels in steps of 50: 5 Newton steps against 140-250 L-BFGS
 * iterations); if Newton-CG stalls, L-BFGS takes over.  After L-BFGS,
 * Newton-CG finishes whatever is left.
 *
 * Stopping rule: ||grad f||_2 <= TOL (the true gradient, checked after every
 * accepted iterate; liblbfgs's own relative test is disabled), or MAX_ITER
 * iterations (L-BFGS iterations plus Newton steps).  Not reaching TOL is not
 * an error: the fit returns its best iterate and that iterate's true
 * gradient norm.
 *
 * Why Newton-CG after L-BFGS: f is a sum of n terms, so it is computed to
 * about 1e-16 |f|, and near the optimum the decrease a step can make
 * (~||g||^2 / L) drops below that noise; a line search that tests sufficient
 * decrease of f then fails (LBFGSERR_ROUNDING_ERROR), typically at
 * ||g|| ~ 1e-6 on a few hundred items, growing with n.  Gradients stay
 * accurate, so Newton-CG accepts a step on them too:
 *   p:  H p = -g solved by conjugate gradients to a residual of 1e-2 ||g||,
 *       with exact Hessian-vector products (as in LIBLINEAR's TRON);
 *   t:  the largest of 1, 1/2, .., 2^-20 with sufficient decrease
 *       f(x + t p) <= f(x) + 1e-4 t g.p, or with ||g(x + t p)|| < ||g(x)||
 *       and f not above f(x) by more than 1e-12 max(1, |f(x)|).
 * p is a descent direction of f and, when the CG residual is below ||g||, of
 * ||g||^2.  The phase stops when no t qualifies (the floor of double
 * precision).
 */
typedef struct fit_ctx {
    size_t n, d, K;
    int nvar;           /* d*K, plus K when fitting the intercept */
    const double *X;    /* n x d, or NULL for CSR rows: */
    const size_t *xp;   /* n + 1 offsets into xj, xv */
    const int32_t *xj;  /* columns */
    const double *xv;   /* values */
    const int32_t *y;   /* n */
    const double *s;    /* n */
    double *Z;          /* n x K: scores, then the residuals R at the point
                           last evaluated */
    double *U;          /* n x K scratch of the Hessian-vector product */
    double l2, tol;
    double *best;       /* best iterate so far, (d+1) x K */
    double best_f, best_gnorm;
    size_t iters;       /* accepted iterations of both phases */
} fit_ctx;

/* One item's loss s (log sum_k exp z_k - z_y), replacing its scores z with
 * its residuals s (softmax(z) - e_y).  The loss is formed as
 * (z_max - z_y) + log1p(sum over k != argmax of exp(z_k - z_max)), not as
 * z_max + log(sum) - z_y: a well-classified item's loss is far below its
 * scores, and the second form would round it away against z_max (near the
 * optimum f would carry noise of 1e-16 sum_i |z_max,i| instead of
 * 1e-16 |f|).  A NaN score makes the loss NaN, and an infinite one makes it
 * non-finite unless the exact loss is finite (another class's -Inf adds 0). */
static double item_loss(double *z, size_t K, size_t y, double s)
{
    size_t top = 0;
    for (size_t k = 1; k < K; k++)
        if (z[k] > z[top])
            top = k;
    double zmax = z[top], zy = z[y], rest = 0;
    for (size_t k = 0; k < K; k++)
        if (k != top)
            rest += z[k] = exp(z[k] - zmax);
    z[top] = 1;
    double scale = s / (1 + rest);
    for (size_t k = 0; k < K; k++)
        z[k] *= scale;
    z[y] -= s;
    return s * ((zmax - zy) + log1p(rest));
}

/* y += a x over K doubles: the step of both CSR products (the rows never
 * overlap, so the loop vectorises). */
static inline void axpy_k(double *restrict y, double a, const double *restrict x, size_t K)
{
    for (size_t k = 0; k < K; k++)
        y[k] += a * x[k];
}

/* Z = X V (n x K) for V the first d rows of a (d+1) x K variable: dgemm
 * for dense rows; for CSR rows each non-zero adds its value times one
 * contiguous K-row of V. */
static void x_times(const fit_ctx *c, const double *V, double *Z)
{
    size_t n = c->n, d = c->d, K = c->K;
    if (c->X) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)K, (int)d,
                    1.0, c->X, (int)d, V, (int)K, 0.0, Z, (int)K);
        return;
    }
    memset(Z, 0, n * K * sizeof *Z);
    for (size_t i = 0; i < n; i++)
        for (size_t p = c->xp[i]; p < c->xp[i + 1]; p++)
            axpy_k(Z + i * K, c->xv[p], V + (size_t)c->xj[p] * K, K);
}

/* G = X^T R + lambda G for G (d x K) holding W^T on entry. */
static void xt_times_add(const fit_ctx *c, const double *R, double *G)
{
    size_t n = c->n, d = c->d, K = c->K;
    if (c->X) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)K, (int)n,
                    1.0, c->X, (int)d, R, (int)K, c->l2, G, (int)K);
        return;
    }
    cblas_dscal((int)(d * K), c->l2, G, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t p = c->xp[i]; p < c->xp[i + 1]; p++)
            axpy_k(G + (size_t)c->xj[p] * K, c->xv[p], R + i * K, K);
}

static lbfgsfloatval_t logreg_eval(void *inst, const lbfgsfloatval_t *x,
                                   lbfgsfloatval_t *g, const int nvar,
                                   const lbfgsfloatval_t step)
{
    (void)step;
    const fit_ctx *c = inst;
    size_t n = c->n, d = c->d, K = c->K;
    int fit_b = (size_t)nvar > d * K;
    double *Z = c->Z, f = 0;

    x_times(c, x, Z);
    for (size_t i = 0; i < n; i++) {
        double *z = Z + i * K;
        if (fit_b)
            for (size_t k = 0; k < K; k++)
                z[k] += x[d * K + k];
        f += item_loss(z, K, (size_t)c->y[i], c->s[i]);
    }
    /* g[0 .. dK) = X^T R + lambda W^T; the penalty is lambda/2 ||W||^2. */
    memcpy(g, x, d * K * sizeof *g);
    f += 0.5 * c->l2 * cblas_ddot((int)(d * K), x, 1, x, 1);
    xt_times_add(c, Z, g);
    if (fit_b)
        column_sums(g + d * K, Z, n, K);
    return f;
}

/* Hv = (X^T Q + lambda V_W ; Q^T 1) for v = [V_W; v_b] in the layout of x,
 * where u_i = V_W^T x_i + v_b and Q_ik = s_i p_ik (u_ik - sum_l p_il u_il),
 * at the point of the last logreg_eval: s_i p_ik = R_ik + s_i [k == y_i]. */
static void logreg_hessvec(const fit_ctx *c, const double *v, double *Hv)
{
    size_t n = c->n, d = c->d, K = c->K;
    int fit_b = (size_t)c->nvar > d * K;
    double *U = c->U;

    x_times(c, v, U);
    for (size_t i = 0; i < n; i++) {
        double *u = U + i * K, pu = 0;
        const double *r = c->Z + i * K;
        size_t y = (size_t)c->y[i];
        if (fit_b)
            for (size_t k = 0; k < K; k++)
                u[k] += v[d * K + k];
        for (size_t k = 0; k < K; k++)
            pu += (r[k] + (k == y ? c->s[i] : 0)) * u[k];
        pu /= c->s[i];
        for (size_t k = 0; k < K; k++)
            u[k] = (r[k] + (k == y ? c->s[i] : 0)) * (u[k] - pu);
    }
    memcpy(Hv, v, d * K * sizeof *Hv);
    xt_times_add(c, U, Hv);
    if (fit_b)
        column_sums(Hv + d * K, U, n, K);
}

static int logreg_progress(void *inst, const lbfgsfloatval_t *x,
                           const lbfgsfloatval_t *g, const lbfgsfloatval_t fx,
                           const lbfgsfloatval_t xnorm,
                           const lbfgsfloatval_t gnorm_lbfgs,
                           const lbfgsfloatval_t step, int nvar, int k, int ls)
{
    (void)xnorm; (void)gnorm_lbfgs; (void)step; (void)k; (void)ls;
    fit_ctx *c = inst;
    double gnorm = cblas_dnrm2(nvar, g, 1);
    c->iters++;
    if (fx <= c->best_f || gnorm <= c->tol) {
        memcpy(c->best, x, (size_t)nvar * sizeof *x);
        c->best_f = fx;
        c->best_gnorm = gnorm;
    }
    return c->best_gnorm <= c->tol; /* nonzero stops lbfgs() */
}

/* Truncated CG for H p = -g (g at the point of the last logreg_eval), to a
 * residual of 1e-2 ||g||; stops early on non-positive curvature. */
static void newton_direction(const fit_ctx *c, const double *g, double *p,
                             double *r, double *dir, double *Hd)
{
    int nv = c->nvar, max_cg = nv < 250 ? nv : 250;
    double rr = cblas_ddot(nv, g, 1, g, 1), stop = 1e-4 * rr;
    memset(p, 0, (size_t)nv * sizeof *p);
    for (int j = 0; j < nv; j++)
        r[j] = dir[j] = -g[j];
    for (int it = 0; it < max_cg && rr > stop; it++) {
        logreg_hessvec(c, dir, Hd);
        double dHd = cblas_ddot(nv, dir, 1, Hd, 1);
        if (!(dHd > 0))
            break;
        double alpha = rr / dHd;
        cblas_daxpy(nv, alpha, dir, 1, p, 1);
        cblas_daxpy(nv, -alpha, Hd, 1, r, 1);
        double rr_new = cblas_ddot(nv, r, 1, r, 1);
        for (int j = 0; j < nv; j++)
            dir[j] = r[j] + rr_new / rr * dir[j];
        rr = rr_new;
    }
}

/* Newton-CG steps from c->best until TOL, max_iter, or no acceptable step
 * (see above).  work holds 6 vectors of nvar. */
static void logreg_newton(fit_ctx *c, double *work, size_t max_iter)
{
    int nv = c->nvar;
    double *x = work, *g = x + nv, *gt = g + nv, *p = gt + nv, *r = p + nv, *Hd = r + nv;
    double f = logreg_eval(c, c->best, g, nv, 0);
    c->best_gnorm = cblas_dnrm2(nv, g, 1);
    while (c->best_gnorm > c->tol && c->iters < max_iter) {
        newton_direction(c, g, p, r, x, Hd);
        double gp = cblas_ddot(nv, g, 1, p, 1), slack = 1e-12 * fmax(1, fabs(f));
        int accepted = 0;
        for (double t = 1; !accepted && gp < 0 && t >= 0x1p-20; t /= 2) {
            for (int j = 0; j < nv; j++)
                x[j] = c->best[j] + t * p[j];
            double ft = logreg_eval(c, x, gt, nv, 0), gn = cblas_dnrm2(nv, gt, 1);
            if (!isfinite(ft) || !isfinite(gn))
                continue;
            if (ft <= f + 1e-4 * t * gp || (gn < c->best_gnorm && ft <= f + slack)) {
                memcpy(c->best, x, (size_t)nv * sizeof *x);
                memcpy(g, gt, (size_t)nv * sizeof *g);
                f = ft;
                c->best_gnorm = gn;
                accepted = 1;
            }
        }
        if (!accepted)
            break;
        c->iters++;
    }
    c->best_f = f;
}

/* L-BFGS from c->best for the iterations left.  work: nvar doubles. */
static int logreg_lbfgs(fit_ctx *c, double *work, size_t max_iter)
{
    lbfgs_parameter_t p;
    lbfgs_parameter_init(&p);
    p.m = LBFGS_HISTORY;
    p.epsilon = 0; /* our own absolute test runs in logreg_progress */
    size_t left = max_iter - c->iters;
    p.max_iterations = left > (size_t)INT_MAX ? INT_MAX : (int)left;
    memcpy(work, c->best, (size_t)c->nvar * sizeof *work);
    double fx;
    int ret = lbfgs(c->nvar, work, &fx, logreg_eval, logreg_progress, c, &p);
    if (ret == LBFGSERR_OUTOFMEMORY)
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "liblbfgs is out of memory for %d variables", c->nvar);
    return HITL_OK;
}

/* Minimize from c->best, which is a previous solution when `warm`; the
 * result is left in c->best.  work: 6 x nvar doubles. */
static int logreg_minimize(fit_ctx *c, double *work, size_t max_iter, int warm)
{
#define MORE_TO_DO (c->best_gnorm > c->tol && c->iters < max_iter && isfinite(c->best_f))
    c->iters = 0;
    c->best_f = logreg_eval(c, c->best, work, c->nvar, 0);
    c->best_gnorm = cblas_dnrm2(c->nvar, work, 1);
    if (warm && MORE_TO_DO)
        logreg_newton(c, work, max_iter);
    if (MORE_TO_DO) {
        int st = logreg_lbfgs(c, work, max_iter);
        if (st != HITL_OK)
            return st;
    }
    if (MORE_TO_DO)
        logreg_newton(c, work, max_iter);
    return HITL_OK;
#undef MORE_TO_DO
}

/* Make the minimiser c->best (then owned by the model) the model's fit, or
 * fail with the model as it was: a non-finite result is HITL_ENUMERIC, and
 * the scoring copy is built before anything of the model changes. */
static int install_fit(hitl_model *m, const fit_ctx *c)
{
    for (size_t j = 0; j < n_coef(m); j++)
        if (!isfinite(c->best[j]))
            return hitl__fail_in(HITL_ENUMERIC, "hitl_model_fit",
                                 "the optimizer produced a non-finite coefficient %zu", j);
    if (!(isfinite(c->best_f) && isfinite(c->best_gnorm)))
        return hitl__fail_in(HITL_ENUMERIC, "hitl_model_fit",
                             "the objective (%g) or its gradient norm (%g) is not finite",
                             c->best_f, c->best_gnorm);
    if (hitl__score_prepare(m, c->best) != HITL_OK)
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "out of memory for the scoring copy of the model");
    hitl__free(m->coef);
    m->coef = c->best;
    m->fitted = 1;
    m->grad_norm = c->best_gnorm;
    m->objective = c->best_f;
    m->iterations = c->iters;
    m->n_train = c->n;
    return HITL_OK;
}

/* The labeled rows' non-zeros of a sparse pool. */
static size_t labeled_nnz(const hitl_pool *pool, size_t n)
{
    size_t nnz = 0;
    for (size_t r = 0, i = next_labeled(pool, 0); r < n; r++, i = next_labeled(pool, i + 1)) {
        const int32_t *idx;
        const float *val;
        size_t k;
        hitl__pool_csr_row(&idx, &val, &k, pool, i);
        nnz += k;
    }
    return nnz;
}

/* Copy the labeled rows (dense: n x d doubles at X; sparse: CSR into xp,
 * xj, xv), their labels and weights. */
static void gather_logreg(const hitl_pool *pool, size_t n, size_t d, double *X, size_t *xp,
                          int32_t *xj, double *xv, int32_t *y, double *s)
{
    if (xp)
        xp[0] = 0;
    for (size_t r = 0, i = next_labeled(pool, 0); r < n; r++, i = next_labeled(pool, i + 1)) {
        if (X) {
            const float *row = hitl__pool_row(pool, i);
            for (size_t j = 0; j < d; j++)
                X[r * d + j] = row[j];
        } else {
            const int32_t *idx;
            const float *val;
            size_t k;
            hitl__pool_csr_row(&idx, &val, &k, pool, i);
            memcpy(xj + xp[r], idx, k * sizeof *xj);
            for (size_t q = 0; q < k; q++)
                xv[xp[r] + q] = val[q];
            xp[r + 1] = xp[r] + k;
        }
        y[r] = pool->label[i];
        s[r] = pool->weight[i];
    }
}

/* The optimizer's start: the previous solution for a warm refit, else 0;
 * intercepts 0 when they are not fitted.  best: (d+1) x K. */
static void start_point(double *best, const hitl_model *m)
{
    size_t d = m->dim, K = m->n_classes, nc = n_coef(m);
    if (m->warm_start && m->fitted)
        memcpy(best, m->coef, nc * sizeof *best);
    else
        memset(best, 0, nc * sizeof *best);
    if (!m->fit_intercept)
        memset(best + d * K, 0, K * sizeof *best);
}

/* Minimise over the scratch rows of c (c->X or CSR set), d = c->d features,
 * from c->best, then hand the solution to the model (see install_fit). */
static int minimize_install(hitl_model *m, fit_ctx *c, size_t d)
{
    size_t K = m->n_classes, nc = (d + 1) * K;
    double *work = hitl__malloc((2 * c->n * K + 6 * nc) * sizeof *work);
    if (!work)
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "out of memory for the optimizer (%zu variables)", nc);
    c->Z = work + 6 * nc;
    c->U = c->Z + c->n * K;
    c->nvar = (int)((d + (m->fit_intercept != 0)) * K);
    int st = logreg_minimize(c, work, m->max_iter, m->warm_start && m->fitted);
    hitl__free(work);
    return st;
}

static int fit_logreg_dense(hitl_model *m, const hitl_pool *pool, size_t n)
{
    size_t d = m->dim, K = m->n_classes, bytes = 0;
    if (n > (size_t)INT_MAX)
        return hitl__fail_in(HITL_EINVAL, "hitl_model_fit",
                             "%zu labeled items exceed the %d BLAS can index", n, INT_MAX);
    /* X (n x d), s (n), y (n) in one block */
    if (size_add(&bytes, n, d * sizeof(double)) || size_add(&bytes, n, sizeof(double)) ||
        size_add(&bytes, n, sizeof(int32_t)) || (d + 1) * K > SIZE_MAX / 6 / sizeof(double) ||
        n > SIZE_MAX / 2 / K / sizeof(double) - 6 * (d + 1))
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "%zu labeled rows of %zu features overflow size_t", n, d);
    double *X = hitl__malloc(bytes);
    double *best = hitl__malloc(n_coef(m) * sizeof *best);
    if (!X || !best) {
        hitl__free(X);
        hitl__free(best);
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "out of memory for %zu labeled rows of %zu features", n, d);
    }
    double *s = X + n * d;
    int32_t *y = (int32_t *)(s + n);
    gather_logreg(pool, n, d, X, NULL, NULL, NULL, y, s);
    start_point(best, m);
    fit_ctx c = { .n = n, .d = d, .K = K, .X = X, .y = y, .s = s, .l2 = m->l2,
                  .tol = m->tol, .best = best };
    int st = minimize_install(m, &c, d);
    hitl__free(X);
    if (st == HITL_OK)
        st = install_fit(m, &c);
    if (st != HITL_OK)
        hitl__free(best);
    return st;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The distinct columns of xj[0 .. nnz-1] into act (sorted), xj rewritten as
 * positions in act; returns their count. */
static size_t compact_columns(int32_t *act, int32_t *xj, size_t nnz)
{
    memcpy(act, xj, nnz * sizeof *act);
    qsort(act, nnz, sizeof *act, cmp_i32);
    size_t na = 0;
    for (size_t p = 0; p < nnz; p++)
        if (na == 0 || act[p] != act[na - 1])
            act[na++] = act[p];
    for (size_t p = 0; p < nnz; p++)
        xj[p] = (int32_t)((const int32_t *)bsearch(&xj[p], act, na, sizeof *act, cmp_i32) -
                          act);
    return na;
}

/*
 * Sparse rows: a feature j that no labeled row uses enters f only through
 * lambda/2 ||W_j||^2, so its optimum is W_j = 0 when lambda > 0 (and any
 * value, here its start, when lambda = 0), whatever the rest.  The problem
 * is therefore solved exactly over the features the labeled rows use (for
 * text, thousands of 2^18 or 2^24 hashed columns), the others set so, and
 * the gradient norm is the same as over every feature.  The optimizer's
 * memory is then 6 vectors of (used + 1) x K doubles.
 */
static int fit_logreg_sparse(hitl_model *m, const hitl_pool *pool, size_t n)
{
    size_t d = m->dim, K = m->n_classes, nc = n_coef(m), nnz = labeled_nnz(pool, n), bytes = 0;
    /* xv (nnz), xp (n+1), s (n), y (n), xj and act (nnz each) in one block */
    if (size_add(&bytes, nnz, sizeof(double)) || size_add(&bytes, n + 1, sizeof(size_t)) ||
        size_add(&bytes, n, sizeof(double)) || size_add(&bytes, n, sizeof(int32_t)) ||
        size_add(&bytes, nnz, 2 * sizeof(int32_t)) || n > SIZE_MAX / 2 / K / sizeof(double))
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "%zu labeled rows (%zu non-zeros) overflow size_t", n, nnz);
    double *xv = hitl__malloc(bytes ? bytes : 1);
    double *full = hitl__malloc(nc * sizeof *full);
    if (!xv || !full) {
        hitl__free(xv);
        hitl__free(full);
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                             "out of memory for %zu labeled rows", n);
    }
    size_t *xp = (size_t *)(xv + nnz);
    double *s = (double *)(xp + n + 1);
    int32_t *y = (int32_t *)(s + n), *xj = y + n, *act = xj + nnz;
    gather_logreg(pool, n, d, NULL, xp, xj, xv, y, s);
    size_t na = compact_columns(act, xj, nnz);
    double *best = hitl__malloc((na + 1) * K * sizeof *best);
    int st = best ? HITL_OK : hitl__fail_in(HITL_ENOMEM, "hitl_model_fit",
                                            "out of memory for %zu coefficients",
                                            (na + 1) * K);
    fit_ctx c = { .n = n, .d = na, .K = K, .xp = xp, .xj = xj, .xv = xv, .y = y, .s = s,
                  .l2 = m->l2, .tol = m->tol, .best = best };
    if (st == HITL_OK) {
        start_point(full, m);
        for (size_t r = 0; r < na; r++)
            memcpy(best + r * K, full + (size_t)act[r] * K, K * sizeof *best);
        memcpy(best + na * K, full + d * K, K * sizeof *best);
        st = minimize_install(m, &c, na);
    }
    if (st == HITL_OK) {
        if (m->l2 > 0)             /* the unused features' optimum */
            memset(full, 0, d * K * sizeof *full);
        for (size_t r = 0; r < na; r++)
            memcpy(full + (size_t)act[r] * K, best + r * K, K * sizeof *full);
        memcpy(full + d * K, best + na * K, K * sizeof *full);
        c.best = full;
        st = install_fit(m, &c);
    }
    hitl__free(xv);
    hitl__free(best);
    if (st != HITL_OK)
        hitl__free(full);
    return st;
}

int hitl_model_fit(hitl_model *model, const hitl_pool *pool)
{
    if (!model)
        return hitl__fail(HITL_EINVAL, "model is NULL");
    if (!pool)
        return hitl__fail(HITL_EINVAL, "pool is NULL");
    if (pool->dim != model->dim)
        return hitl__fail(HITL_EINVAL, "pool dim %zu differs from model dim %zu",
                          pool->dim, model->dim);
    size_t n = 0;
    int st = hitl__model_check_rows(model, pool->sparse, __func__);
    if (st == HITL_OK)
        st = count_labeled(&n, model, pool);
    if (st != HITL_OK)
        return st;
    if (model->kind == HITL__MODEL_CUSTOM)
        return fit_custom(model, pool, n);
    return pool->sparse ? fit_logreg_sparse(model, pool, n) : fit_logreg_dense(model, pool, n);
}

/* ------------------------------------------------------------------------- */
/* Serialization                                                              */
/* ------------------------------------------------------------------------- */

/*
 * Format version 1, every field little-endian, offsets in bytes:
 *
 *     0  magic "HITLMODL"                                   8
 *     8  format version (u32) = 1                           4
 *    12  kind (u32): 1 = logistic regression                4
 *    16  dim (u64), n_classes (u64)                        16
 *    32  parameters 100 .. 106 in order, as f64 (7)        56
 *    88  fitted (u32): 0 or 1                               4
 *    92  grad norm (f64), objective (f64),
 *        iterations (u64), n_train (u64)                   32
 *   124  if fitted: coef, (dim + 1) x n_classes f64,
 *        row-major (feature rows, then the intercepts)
 *   end  CRC-32 (zlib) of every byte before it (u32)        4
 *
 * A reader accepts a record only if its length is exactly what the header
 * implies, the checksum matches and every value is in range, so truncation,
 * trailing bytes and any corruption the CRC detects are all HITL_EFORMAT.
 * A new field means a new format version; readers keep reading old ones.
 */
#define FMT_MAGIC "HITLMODL"
#define FMT_VERSION 1u
#define FMT_N_PARAMS (HITL_PARAM_BLOCK_ROWS - HITL_PARAM_L2 + 1)
#define FMT_HEADER 124u
#define FMT_TRAILER 4u

static size_t record_size(const hitl_model *m)
{
    return FMT_HEADER + (m->fitted ? n_coef(m) * sizeof(double) : 0) + FMT_TRAILER;
}

/* Write the record (record_size(m) bytes) to buf. */
static void encode(unsigned char *buf, const hitl_model *m)
{
    unsigned char *p = buf;
    memcpy(p, FMT_MAGIC, 8);
    p = hitl__put_le(p + 8, FMT_VERSION, 4);
    p = hitl__put_le(p, (uint32_t)m->kind, 4);
    p = hitl__put_le(p, m->dim, 8);
    p = hitl__put_le(p, m->n_classes, 8);
    for (int i = 0; i < FMT_N_PARAMS; i++)
        p = hitl__put_f64(p, param_value(m, (hitl_param)(HITL_PARAM_L2 + i)));
    p = hitl__put_le(p, (uint32_t)m->fitted, 4);
    p = hitl__put_f64(p, m->grad_norm);
    p = hitl__put_f64(p, m->objective);
    p = hitl__put_le(p, m->iterations, 8);
    p = hitl__put_le(p, m->n_train, 8);
    for (size_t j = 0; m->fitted && j < n_coef(m); j++)
        p = hitl__put_f64(p, m->coef[j]);
    hitl__put_le(p, hitl__crc32(buf, (size_t)(p - buf)), 4);
}

static int check_saveable(const char *fn, const hitl_model *m)
{
    if (!m)
        return hitl__fail_in(HITL_EINVAL, fn, "model is NULL");
    if (m->kind != HITL__MODEL_LOGREG)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "a custom model cannot be saved (its state lives in the caller)");
    return HITL_OK;
}

int hitl_model_save_size(size_t *size, const hitl_model *model)
{
    if (!size)
        return hitl__fail(HITL_EINVAL, "size is NULL");
    int st = check_saveable(__func__, model);
    if (st != HITL_OK)
        return st;
    *size = record_size(model);
    return HITL_OK;
}

int hitl_model_save(size_t *written, void *buf, size_t capacity, const hitl_model *model)
{
    if (!written)
        return hitl__fail(HITL_EINVAL, "written is NULL");
    if (!buf)
        return hitl__fail(HITL_EINVAL, "buf is NULL");
    int st = check_saveable(__func__, model);
    if (st != HITL_OK)
        return st;
    size_t need = record_size(model);
    if (capacity < need)
        return hitl__fail(HITL_EINVAL, "capacity %zu is below the %zu bytes needed",
                          capacity, need);
    encode(buf, model);
    *written = need;
    return HITL_OK;
}

/* A record's fields, read by parse_record. */
typedef struct record {
    size_t dim, K, nc;
    double param[FMT_N_PARAMS];
    uint32_t fitted;
    double grad_norm, objective;
    uint64_t iterations, n_train;
    const unsigned char *coef; /* nc f64 when fitted */
} record;

#define BAD(...) hitl__fail_in(HITL_EFORMAT, fn, __VA_ARGS__)

/* Read the fields and check the framing: magic, version, kind and shape
 * first (they say how long the record must be), then that length and the
 * checksum, before any value is trusted. */
static int parse_record(record *r, const unsigned char *buf, size_t size, const char *fn)
{
    if (size < FMT_HEADER + FMT_TRAILER)
        return BAD("truncated: %zu bytes, a model record has at least %u",
                   size, FMT_HEADER + FMT_TRAILER);
    const unsigned char *p = buf;
    if (memcmp(p, FMT_MAGIC, 8) != 0)
        return BAD("bad magic: not a libhitl model");
    p += 8;
    uint32_t version = (uint32_t)hitl__get_le(&p, 4), kind = (uint32_t)hitl__get_le(&p, 4);
    if (version != FMT_VERSION)
        return BAD("unsupported format version %u (this library reads %u)",
                   (unsigned)version, FMT_VERSION);
    if (kind != HITL__MODEL_LOGREG)
        return BAD("unknown model kind %u", (unsigned)kind);
    uint64_t dim = hitl__get_le(&p, 8), K = hitl__get_le(&p, 8);
    if (dim > SIZE_MAX || K > SIZE_MAX)
        return BAD("bad shape: dim %llu, n_classes %llu",
                   (unsigned long long)dim, (unsigned long long)K);
    int st = check_shape(HITL_EFORMAT, fn, (size_t)dim, (size_t)K, HITL__MODEL_LOGREG);
    if (st != HITL_OK)
        return st;
    r->dim = (size_t)dim;
    r->K = (size_t)K;
    r->nc = (r->dim + 1) * r->K;
    for (int i = 0; i < FMT_N_PARAMS; i++)
        r->param[i] = hitl__get_f64(&p);
    r->fitted = (uint32_t)hitl__get_le(&p, 4);
    if (r->fitted > 1)
        return BAD("fitted flag %u is not 0 or 1", (unsigned)r->fitted);
    size_t expect = FMT_HEADER + (r->fitted ? r->nc * sizeof(double) : 0) + FMT_TRAILER;
    if (size != expect)
        return BAD("length is %zu bytes, the header implies %zu (%s)", size, expect,
                   size < expect ? "truncated" : "trailing bytes");
    const unsigned char *end = buf + size - FMT_TRAILER;
    uint32_t stored = (uint32_t)hitl__get_le(&end, 4);
    uint32_t crc = hitl__crc32(buf, size - FMT_TRAILER);
    if (crc != stored)
        return BAD("checksum mismatch (stored %08x, computed %08x): the data is corrupt",
                   (unsigned)stored, (unsigned)crc);
    r->grad_norm = hitl__get_f64(&p);
    r->objective = hitl__get_f64(&p);
    r->iterations = hitl__get_le(&p, 8);
    r->n_train = hitl__get_le(&p, 8);
    r->coef = p;
    return HITL_OK;
}

/* The values a valid checksum vouches for must still make sense. */
static int check_record(const record *r, const char *fn)
{
    for (int i = 0; i < FMT_N_PARAMS; i++) {
        const char *why = param_invalid((hitl_param)(HITL_PARAM_L2 + i), r->param[i]);
        if (why)
            return BAD("parameter %d = %g %s", HITL_PARAM_L2 + i, r->param[i], why);
        /* every parameter is >= 0; a -0 would load as +0 and save back
         * different bytes, so it is not a record this library wrote */
        if (r->param[i] == 0 && signbit(r->param[i]))
            return BAD("parameter %d is -0", HITL_PARAM_L2 + i);
    }
    if (!(isfinite(r->grad_norm) && r->grad_norm >= 0 && isfinite(r->objective) &&
          r->objective >= 0))
        return BAD("fit figures out of range: grad norm %g, objective %g",
                   r->grad_norm, r->objective);
    if (r->iterations > SIZE_MAX || r->n_train > SIZE_MAX)
        return BAD("fit counts out of range");
    for (size_t j = 0; r->fitted && j < r->nc; j++) {
        const unsigned char *q = r->coef + j * sizeof(double);
        double v = hitl__get_f64(&q);
        if (!isfinite(v))
            return BAD("coefficient %zu is not finite", j);
        /* scoring uses float32 weights: a value beyond them could only
         * make every prediction fail */
        if (fabs(v) > FLT_MAX)
            return BAD("coefficient %zu = %g is beyond float32 (|c| <= %g)", j, v,
                       (double)FLT_MAX);
    }
    return HITL_OK;
}

#undef BAD

/* Parse and check a record; on success *out is a new live model. */
static int decode(hitl_model **out, const unsigned char *buf, size_t size, const char *fn)
{
    record r = {0};
    int st = parse_record(&r, buf, size, fn);
    if (st == HITL_OK)
        st = check_record(&r, fn);
    if (st != HITL_OK)
        return st;
    hitl_model *m = model_new(HITL__MODEL_LOGREG, r.dim, r.K);
    if (!m)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for the model");
    for (int i = 0; i < FMT_N_PARAMS; i++)
        param_store(m, (hitl_param)(HITL_PARAM_L2 + i), r.param[i]);
    m->grad_norm = r.grad_norm;
    m->objective = r.objective;
    m->iterations = (size_t)r.iterations;
    m->n_train = (size_t)r.n_train;
    if (r.fitted) {
        m->coef = hitl__malloc(r.nc * sizeof *m->coef);
        if (!m->coef) {
            model_destroy(m);
            return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu coefficients", r.nc);
        }
        const unsigned char *p = r.coef;
        for (size_t j = 0; j < r.nc; j++)
            m->coef[j] = hitl__get_f64(&p);
        if (hitl__score_prepare(m, m->coef) != HITL_OK) {
            model_destroy(m);
            return hitl__fail_in(HITL_ENOMEM, fn,
                                 "out of memory for the scoring copy of the model");
        }
        m->fitted = 1;
    }
    hitl__handle_acquire();
    *out = m;
    return HITL_OK;
}

int hitl_model_load(hitl_model **out, const void *buf, size_t size)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    if (!buf)
        return hitl__fail(HITL_EINVAL, "buf is NULL");
    return decode(out, buf, size, __func__);
}

/* The thread-safe strerror (the XSI one: the build is strictly POSIX). */
static const char *errno_text(char *buf, size_t cap, int err)
{
    if (strerror_r(err, buf, cap) != 0)
        snprintf(buf, cap, "error %d", err);
    return buf;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Make a rename into the directory of `path` durable.  Best effort: the new
 * file is already in place, so a failure here is not reported as one.
 * buf has room for strlen(path) + 2 bytes. */
static void sync_parent_dir(char *buf, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(buf, ".");
    else if (slash == path)
        strcpy(buf, "/");
    else {
        memcpy(buf, path, (size_t)(slash - path));
        buf[slash - path] = '\0';
    }
    int fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Write size bytes to path so that a reader sees the old file or the new one,
 * never a part: a uniquely named temporary beside it, fsync, rename, fsync
 * of the directory. */
static int write_file_atomic(const char *path, const unsigned char *buf, size_t size)
{
    static atomic_uint counter;
    char err[128];
    size_t cap = strlen(path) + 64;
    char *tmp = hitl__malloc(cap);
    if (!tmp)
        return hitl__fail_in(HITL_ENOMEM, "hitl_model_save_file",
                             "out of memory for a file name");
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, cap, "%s.tmp.%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        hitl__free(tmp);
        return hitl__fail_in(HITL_EIO, "hitl_model_save_file", "cannot create %s.tmp.*: %s",
                             path, errno_text(err, sizeof err, e));
    }
    const char *what = "write";
    int e = 0;
    if (write_all(fd, buf, size) != 0 || (what = "fsync", fsync(fd) != 0))
        e = errno;
    if (close(fd) != 0 && e == 0) {
        e = errno;
        what = "close";
    }
    if (e == 0 && rename(tmp, path) != 0) {
        e = errno;
        what = "rename into place";
    }
    if (e != 0) {
        unlink(tmp);
        hitl__free(tmp);
        return hitl__fail_in(HITL_EIO, "hitl_model_save_file", "cannot %s %s: %s",
                             what, path, errno_text(err, sizeof err, e));
    }
    sync_parent_dir(tmp, path);
    hitl__free(tmp);
    return HITL_OK;
}

int hitl_model_save_file(const hitl_model *model, const char *path)
{
    int st = check_saveable(__func__, model);
    if (st != HITL_OK)
        return st;
    if (!path)
        return hitl__fail(HITL_EINVAL, "path is NULL");
    size_t size = record_size(model);
    unsigned char *buf = hitl__malloc(size);
    if (!buf)
        return hitl__fail(HITL_ENOMEM, "out of memory for %zu bytes", size);
    encode(buf, model);
    st = write_file_atomic(path, buf, size);
    hitl__free(buf);
    return st;
}

/* Read up to size bytes from fd into a new buffer; *got is fewer than size
 * if the file shrank meanwhile (decode then rejects the short record). */
static int read_all(unsigned char **out, size_t *got, int fd, size_t size,
                    const char *path, const char *fn)
{
    unsigned char *buf = hitl__malloc(size ? size : 1);
    if (!buf)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu bytes", size);
    size_t n = 0;
    while (n < size) {
        ssize_t r = read(fd, buf + n, size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            char err[128];
            int e = errno;
            hitl__free(buf);
            return hitl__fail_in(HITL_EIO, fn, "cannot read %s: %s", path,
                                 errno_text(err, sizeof err, e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *out = buf;
    *got = n;
    return HITL_OK;
}

/* The bytes of the regular file at path, in a new buffer. */
static int read_file(unsigned char **out, size_t *size, const char *path, const char *fn)
{
    char err[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC), st;
    if (fd < 0)
        return hitl__fail_in(HITL_EIO, fn, "cannot open %s: %s", path,
                             errno_text(err, sizeof err, errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        st = hitl__fail_in(HITL_EIO, fn, "cannot stat %s: %s", path,
                           errno_text(err, sizeof err, errno));
    else if (!S_ISREG(sb.st_mode))
        st = hitl__fail_in(HITL_EIO, fn, "cannot read %s: not a regular file", path);
    else if ((uintmax_t)sb.st_size > SIZE_MAX)
        st = hitl__fail_in(HITL_EFORMAT, fn, "%s is too large to be a model", path);
    else
        st = read_all(out, size, fd, (size_t)sb.st_size, path, fn);
    close(fd);
    return st;
}

int hitl_model_load_file(hitl_model **out, const char *path)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    if (!path)
        return hitl__fail(HITL_EINVAL, "path is NULL");
    unsigned char *buf = NULL;
    size_t size = 0;
    int st = read_file(&buf, &size, path, __func__);
    if (st != HITL_OK)
        return st;
    st = decode(out, buf, size, __func__);
    hitl__free(buf);
    return st;
}
