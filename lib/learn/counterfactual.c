/*
 * counterfactual: the smallest change to an item that makes the built-in
 * linear model decide a given class.
 *
 * With s_c(x) = b_c + w_c . x (double, the fitted solution), target t and
 * margin mu >= 0, the change delta must satisfy, for every class c != t,
 *     a_c . delta >= r_c,   a_c = w_t - w_c,   r_c = mu - (s_t(x) - s_c(x)),
 * and lo <= delta <= hi (lo_j = lower_j - x_j, hi_j = upper_j - x_j on the
 * editable features, 0 on the others).  Minimised:
 *
 * L2:  (1/2)||delta||^2.  Strongly convex, so its dual over lambda >= 0,
 *      g(lambda) = min_box L(delta, lambda), is smooth and concave, with
 *      delta(lambda) = clip(sum_c lambda_c a_c, lo, hi).  Dual coordinate
 *      ascent: each step maximises g exactly in one lambda_c (the root of
 *      the nondecreasing piecewise-linear a_c . delta(lambda) = r_c, by
 *      bisection to machine precision then the linear piece), classes in
 *      turn.  Stops when a sweep over the K - 1 classes moves no entry of
 *      delta by more than 1e-13 (1 + max |delta_j|) or after 10000 sweeps;
 *      then delta is checked against every constraint (to 1e-9 relative).
 * L1:  sum_j |delta_j|.  For one constraint this is a fractional knapsack:
 *      the greedy that moves features in decreasing |a_cj| to their bound
 *      until r_c is met is optimal.  Each single-constraint problem is a
 *      relaxation; the one of largest cost, if it meets every other
 *      constraint, is optimal for all.  When two classes bind at once the
 *      L1 problem is an LP this module does not solve (HITL_ESTATE).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "learn/learn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CF_SWEEPS 10000

typedef struct cf {
    size_t d, K, t;
    double *A;        /* (K) x d: row c = w_t - w_c (row t unused) */
    double *r;        /* K */
    double *lo, *hi;  /* d */
    double *lambda;   /* K */
    double *g;        /* d: sum lambda_c a_c */
    double *delta;    /* d */
} cf;

static double clip(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* a_c . clip(h + s a_c) - r_c, with h = g - lambda_c a_c. */
static double phi(const cf *p, size_t c, double s)
{
    const double *a = p->A + c * p->d;
    double sum = 0;
    for (size_t j = 0; j < p->d; j++) {
        double h = p->g[j] - p->lambda[c] * a[j];
        if (a[j] != 0)
            sum += a[j] * clip(h + s * a[j], p->lo[j], p->hi[j]);
    }
    return sum - p->r[c];
}

/* The largest value phi can reach (every moved feature at its bound). */
static double phi_sup(const cf *p, size_t c)
{
    const double *a = p->A + c * p->d;
    double sum = 0;
    for (size_t j = 0; j < p->d; j++)
        sum += a[j] > 0 ? a[j] * p->hi[j] : a[j] < 0 ? a[j] * p->lo[j] : 0;
    return sum - p->r[c];
}

/* The new lambda_c: 0 when the constraint holds without it, else the root of
 * phi, bracketed by doubling and then bisected. */
static double coordinate(const cf *p, size_t c)
{
    if (phi(p, c, 0) >= 0)
        return 0;
    double lo = 0, hi = 1;
    for (int k = 0; phi(p, c, hi) < 0 && k < 1000; k++) {
        lo = hi;
        hi *= 2;
    }
    for (int k = 0; k < 200 && hi - lo > 1e-16 * hi; k++) {
        double mid = 0.5 * (lo + hi);
        if (phi(p, c, mid) < 0)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

static void set_lambda(cf *p, size_t c, double v)
{
    const double *a = p->A + c * p->d;
    double dl = v - p->lambda[c];
    for (size_t j = 0; j < p->d; j++)
        p->g[j] += dl * a[j];
    p->lambda[c] = v;
}

/* Dual coordinate ascent (see the top of the file).  Returns HITL_OK or
 * HITL_ESTATE when no delta in the box meets the constraints. */
static int solve_l2(cf *p, const char *fn)
{
    for (size_t c = 0; c < p->K; c++)
        if (c != p->t && phi_sup(p, c) < -1e-12 * (1 + fabs(p->r[c])))
            return hitl__fail_in(HITL_ESTATE, fn, "no change within the bounds makes "
                                 "class %zu beat class %zu", p->t, c);
    for (int sweep = 0; sweep < CF_SWEEPS; sweep++) {
        double moved = 0, size = 0;
        for (size_t c = 0; c < p->K; c++)
            if (c != p->t)
                set_lambda(p, c, coordinate(p, c));
        for (size_t j = 0; j < p->d; j++) {
            double v = clip(p->g[j], p->lo[j], p->hi[j]);
            moved = fmax(moved, fabs(v - p->delta[j]));
            size = fmax(size, fabs(v));
            p->delta[j] = v;
        }
        if (sweep > 0 && moved <= 1e-13 * (1 + size))
            break;
    }
    return HITL_OK;
}

typedef struct keyed {
    double key;
    size_t j;
} keyed;

static int by_key_desc(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    if (a->key != b->key)
        return a->key > b->key ? -1 : 1;
    return a->j < b->j ? -1 : a->j > b->j;
}

/* The greedy for constraint c alone into out; its L1 cost, or -1 when the
 * bounds cannot meet it. */
static double greedy_l1(double *out, const cf *p, size_t c, keyed *order)
{
    const double *a = p->A + c * p->d;
    double need = p->r[c], cost = 0;
    memset(out, 0, p->d * sizeof *out);
    if (need <= 0)
        return 0;
    for (size_t j = 0; j < p->d; j++)
        order[j] = (keyed){ fabs(a[j]), j };
    qsort(order, p->d, sizeof *order, by_key_desc);
    for (size_t k = 0; k < p->d && need > 0 && order[k].key > 0; k++) {
        size_t j = order[k].j;
        double room = a[j] > 0 ? p->hi[j] : -p->lo[j];
        double step = fmin(room, need / order[k].key);
        if (step <= 0)
            continue;
        out[j] = a[j] > 0 ? step : -step;
        need -= step * order[k].key;
        cost += step;
    }
    return need > 1e-12 * (1 + fabs(p->r[c])) ? -1 : cost;
}

static int meets_all(const cf *p, const double *delta)
{
    for (size_t c = 0; c < p->K; c++) {
        if (c == p->t)
            continue;
        double s = 0;
        for (size_t j = 0; j < p->d; j++)
            s += p->A[c * p->d + j] * delta[j];
        if (s < p->r[c] - 1e-9 * (1 + fabs(p->r[c])))
            return 0;
    }
    return 1;
}

static int solve_l1(cf *p, const char *fn)
{
    keyed *order = hitl__calloc(p->d, sizeof *order);
    double *trial = hitl__calloc(p->d, sizeof *trial), best = -1;
    int st = order && trial ? HITL_OK : hitl__fail_in(HITL_ENOMEM, fn, "out of memory");
    for (size_t c = 0; st == HITL_OK && c < p->K; c++) {
        if (c == p->t)
            continue;
        double cost = greedy_l1(trial, p, c, order);
        if (cost < 0)
            st = hitl__fail_in(HITL_ESTATE, fn, "no change within the bounds makes "
                               "class %zu beat class %zu", p->t, c);
        else if (cost > best) {
            best = cost;
            memcpy(p->delta, trial, p->d * sizeof *trial);
        }
    }
    if (st == HITL_OK && !meets_all(p, p->delta))
        st = hitl__fail_in(HITL_ESTATE, fn, "two classes bind at once: the L1 problem is "
                           "a linear program this version does not solve (use L2)");
    hitl__free(order);
    hitl__free(trial);
    return st;
}

/* A and r from the fitted solution (coef: (dim + 1) x K, intercepts last). */
static void setup(cf *p, const hitl_model *m, const float *x, double margin)
{
    size_t d = p->d, K = p->K, t = p->t;
    const double *W = m->coef;
    double st = W[d * K + t];
    for (size_t j = 0; j < d; j++)
        st += W[j * K + t] * x[j];
    for (size_t c = 0; c < K; c++) {
        double sc = W[d * K + c];
        for (size_t j = 0; j < d; j++) {
            sc += W[j * K + c] * x[j];
            p->A[c * d + j] = W[j * K + t] - W[j * K + c];
        }
        p->r[c] = margin - (st - sc);
    }
}

static int check_cf_args(const hitl_model *m, const float *x, int32_t target, int norm,
                         const uint8_t *editable, const float *lower, const float *upper,
                         double margin, const char *fn)
{
    if (!m || !x)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL", !m ? "model" : "x");
    if (m->kind != HITL__MODEL_LOGREG)
        return hitl__fail_in(HITL_EINVAL, fn, "a custom model has no linear form");
    if (target < 0 || (size_t)target >= m->n_classes)
        return hitl__fail_in(HITL_EINVAL, fn, "target %d outside [0, %zu)", (int)target,
                             m->n_classes);
    if (norm != HITL_NORM_L1 && norm != HITL_NORM_L2)
        return hitl__fail_in(HITL_EINVAL, fn, "norm %d is neither L1 nor L2", norm);
    if (!(margin >= 0) || !isfinite(margin))
        return hitl__fail_in(HITL_EINVAL, fn, "margin %g is not finite and >= 0", margin);
    for (size_t j = 0; j < m->dim; j++) {
        double lo = lower ? lower[j] : -INFINITY, hi = upper ? upper[j] : INFINITY;
        if (!isfinite(x[j]))
            return hitl__fail_in(HITL_ENUMERIC, fn, "x[%zu] is %s", j,
                                 isnan(x[j]) ? "NaN" : "Inf");
        if (editable && editable[j] > 1)
            return hitl__fail_in(HITL_EINVAL, fn, "editable[%zu] is %u, not 0 or 1", j,
                                 (unsigned)editable[j]);
        if ((!editable || editable[j]) && !(lo <= x[j] && x[j] <= hi))
            return hitl__fail_in(HITL_EINVAL, fn, "x[%zu] = %g is outside its bounds "
                                 "[%g, %g]", j, (double)x[j], lo, hi);
    }
    if (!m->fitted)
        return hitl__fail_in(HITL_ESTATE, fn, "the model is not fitted");
    return HITL_OK;
}

int hitl_model_counterfactual(float *x_new, double *distance, const hitl_model *model,
                              const float *x, int32_t target, hitl_norm norm,
                              const uint8_t *editable, const float *lower,
                              const float *upper, double margin)
{
    if (!x_new)
        return hitl__fail(HITL_EINVAL, "x_new is NULL");
    int st = check_cf_args(model, x, target, norm, editable, lower, upper, margin,
                           __func__);
    if (st != HITL_OK)
        return st;
    size_t d = model->dim, K = model->n_classes;
    cf p = { .d = d, .K = K, .t = (size_t)target };
    double *mem = hitl__calloc(K * d + 2 * K + 4 * d, sizeof *mem);
    if (!mem)
        return hitl__fail(HITL_ENOMEM, "out of memory for %zu x %zu", K, d);
    p.A = mem;
    p.r = p.A + K * d;
    p.lambda = p.r + K;
    p.lo = p.lambda + K;
    p.hi = p.lo + d;
    p.g = p.hi + d;
    p.delta = p.g + d;
    for (size_t j = 0; j < d; j++) {
        int ed = !editable || editable[j];
        p.lo[j] = ed ? (lower ? (double)lower[j] - x[j] : -INFINITY) : 0;
        p.hi[j] = ed ? (upper ? (double)upper[j] - x[j] : INFINITY) : 0;
    }
    setup(&p, model, x, margin);
    st = norm == HITL_NORM_L2 ? solve_l2(&p, __func__) : solve_l1(&p, __func__);
    if (st == HITL_OK && !meets_all(&p, p.delta))
        st = hitl__fail(HITL_ESTATE, "the constraints cannot all be met within the bounds "
                        "(no solution after %d sweeps)", CF_SWEEPS);
    if (st == HITL_OK) {
        double dist = 0;
        for (size_t j = 0; j < d; j++) {
            x_new[j] = (float)(x[j] + p.delta[j]);
            dist += norm == HITL_NORM_L2 ? p.delta[j] * p.delta[j] : fabs(p.delta[j]);
        }
        if (distance)
            *distance = norm == HITL_NORM_L2 ? sqrt(dist) : dist;
    }
    hitl__free(mem);
    return st;
}
