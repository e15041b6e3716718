/* Routing by confidence (human on the loop): a model's top-class
 * confidence, optionally temperature-scaled, decides whether an item is
 * accepted automatically or goes to a person.  The threshold is calibrated on
 * labeled data to a target precision of the accepted items; the rules and
 * figures are stated in include/hitl.h. */
#include "route/route.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BINS 1000
#define T_MIN 0.01          /* temperature search interval */
#define T_MAX 100.0
#define ROW_SUM_SLACK 1e-3  /* a probability row must sum to 1 within this */
#define GATHER_ROWS 256     /* labeled pool rows predicted per call */

/* Figures of the last labeled set (see hitl_router_info). */
typedef struct report {
    size_t n, n_accepted, n_errors, n_errors_accepted;
    double precision_lower, nll_raw, nll, ece_raw, ece;
    int target_met;
    size_t fit_iterations;
} report;

struct hitl_router {
    size_t n_classes;
    double threshold, temperature, target, level;
    size_t ece_bins;
    int has_report;
    report rep;
};

/* ---- one probability row --------------------------------------------------- */

/* log p with 0 read as the smallest positive float, so that a probability
 * that underflowed keeps a finite (very negative) log. */
static double safe_log(float p)
{
    return log(p > 0 ? (double)p : (double)FLT_TRUE_MIN);
}

/* Predicted class (first maximum) of a row. */
static int32_t row_argmax(const float *p, size_t k)
{
    size_t best = 0;
    for (size_t c = 1; c < k; c++)
        if (p[c] > p[best])
            best = c;
    return (int32_t)best;
}

/* With q = softmax(beta log p): the top-class confidence q_max and, if
 * y >= 0, -log q_y.  q_c = (p_c/p_max)^beta / sum_j (p_j/p_max)^beta, so
 * q_max = 1 / sum_j (p_j/p_max)^beta; beta == 1 avoids the logs. */
static double row_conf(double *nll, const float *p, size_t k, int32_t top,
                       double beta, int32_t y)
{
    double lmax = safe_log(p[top]), z = 0;
    if (beta == 1.0) {
        double pmax = p[top] > 0 ? p[top] : FLT_TRUE_MIN;
        for (size_t c = 0; c < k; c++)
            z += (p[c] > 0 ? p[c] : FLT_TRUE_MIN) / pmax;
    } else {
        for (size_t c = 0; c < k; c++)
            z += exp(beta * (safe_log(p[c]) - lmax));
    }
    if (nll && y >= 0)
        *nll = log(z) - beta * (safe_log(p[y]) - lmax);
    return 1.0 / z;
}

static double router_beta(const hitl_router *r)
{
    return r->temperature == 1.0 ? 1.0 : 1.0 / r->temperature;
}

/* Rows must be probabilities: finite, >= 0, summing to 1 within slack. */
static int check_rows(const char *fn, const float *proba, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * k;
        double sum = 0;
        for (size_t c = 0; c < k; c++) {
            if (!isfinite(p[c]) || p[c] < 0)
                return hitl__fail_in(isfinite(p[c]) ? HITL_EINVAL : HITL_ENUMERIC,
                                     fn, "proba[%zu][%zu] is %g, not a probability",
                                     i, c, (double)p[c]);
            sum += p[c];
        }
        if (fabs(sum - 1.0) > ROW_SUM_SLACK)
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "proba row %zu sums to %.6g, not 1", i, sum);
    }
    return HITL_OK;
}

/* ---- the exact binomial bound ----------------------------------------------- */

/* Regularized incomplete beta I_x(a, b) by its continued fraction (modified
 * Lentz), using I_x(a,b) = 1 - I_{1-x}(b,a) where the fraction converges
 * slowly.  Converges in O(sqrt(max(a, b))) terms. */
static double betainc(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    if (x > (a + 1) / (a + b + 2))
        return 1 - betainc(b, a, 1 - x);
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) +
                    b * log1p(-x);
    const double tiny = 1e-300, eps = 1e-15;
    double f = 1, c = 1, d = 1 - (a + b) * x / (a + 1);
    d = fabs(d) < tiny ? tiny : d;
    d = 1 / d;
    f = d;
    for (int m = 1; m <= 100000; m++) {
        for (int odd = 0; odd < 2; odd++) {
            double num = odd ? -(a + m) * (a + b + m) * x /
                                   ((a + 2 * m) * (a + 2 * m + 1))
                             : m * (b - m) * x /
                                   ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + num * d;
            d = fabs(d) < tiny ? tiny : d;
            c = 1 + num / c;
            c = fabs(c) < tiny ? tiny : c;
            d = 1 / d;
            f *= c * d;
            if (odd && fabs(c * d - 1) < eps)
                return exp(lfront) * f / a;
        }
    }
    return exp(lfront) * f / a;
}

/* P(X >= s) for X ~ Binomial(k, p). */
static double binom_sf(size_t s, size_t k, double p)
{
    if (s == 0)
        return 1;
    if (s > k)
        return 0;
    return betainc((double)s, (double)(k - s + 1), p);
}

/* The acceptance rule of calibrate: s correct among k accepted meets the
 * target if s/k >= target and, with level > 0, P(Bin(k, target) >= s) <=
 * 1 - level (the one-sided Clopper-Pearson lower bound is >= target). */
static int meets(size_t s, size_t k, double target, double level)
{
    if (k == 0 || (double)s / (double)k < target)
        return 0;
    return level == 0 || binom_sf(s, k, target) <= 1 - level;
}

/* One-sided Clopper-Pearson lower bound on a proportion, s of k, at the
 * given level: the L with P(Bin(k, L) >= s) = 1 - level, by bisection. */
static double lower_bound(size_t s, size_t k, double level)
{
    if (k == 0)
        return 1;   /* the vacuous precision, see HITL_ROUTER_INFO_PRECISION */
    double est = (double)s / (double)k;
    if (level == 0 || s == 0)
        return level == 0 ? est : 0;
    double lo = 0, hi = est;
    for (int it = 0; it < 200 && hi - lo > 1e-13; it++) {
        double mid = 0.5 * (lo + hi);
        if (binom_sf(s, k, mid) > 1 - level)
            hi = mid;
        else
            lo = mid;
    }
    return lo;
}

/* ---- a labeled set: per-item confidence and correctness, NLL, ECE ---------- */

typedef struct labeled {
    size_t n;
    double *conf;       /* tempered top-class confidence */
    uint8_t *correct;   /* predicted label == true label */
    size_t n_errors;
    double nll_raw, nll;
    double ece_raw, ece;
} labeled;

static void labeled_free(labeled *s)
{
    hitl__free(s->conf);
    hitl__free(s->correct);
}

/* ECE = sum_b (n_b / n) |acc_b - conf_b|, bin b = min(floor(conf B), B-1). */
static double ece_of(const double *bins, size_t n_bins, size_t n)
{
    double e = 0;
    for (size_t b = 0; b < n_bins; b++) {
        const double *s = bins + 3 * b;   /* count, sum conf, sum correct */
        if (s[0] > 0)
            e += fabs(s[2] - s[1]);       /* n_b |acc_b - conf_b| */
    }
    return e / (double)n;
}

static void bin_add(double *bins, size_t n_bins, double conf, int ok)
{
    size_t b = (size_t)(conf * (double)n_bins);
    double *s = bins + 3 * (b < n_bins ? b : n_bins - 1);
    s[0] += 1;
    s[1] += conf;
    s[2] += ok;
}

/* Evaluate n validated rows with true labels under the router's
 * temperature. */
static int labeled_eval(labeled *s, const char *fn, const hitl_router *r,
                        const float *proba, const int32_t *labels, size_t n)
{
    size_t k = r->n_classes, nb = r->ece_bins;
    double beta = router_beta(r);
    *s = (labeled){ .n = n };
    s->conf = hitl__calloc(n, sizeof *s->conf);
    s->correct = hitl__calloc(n, sizeof *s->correct);
    double *bins = hitl__calloc(6 * nb, sizeof *bins);
    if (!s->conf || !s->correct || !bins) {
        labeled_free(s);
        hitl__free(bins);
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu items", n);
    }
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * k;
        int32_t top = row_argmax(p, k);
        int ok = top == labels[i];
        double l_raw = 0, l = 0;
        double c_raw = row_conf(&l_raw, p, k, top, 1.0, labels[i]);
        double c = beta == 1.0 ? c_raw : row_conf(&l, p, k, top, beta, labels[i]);
        if (beta == 1.0)
            l = l_raw;
        s->conf[i] = c;
        s->correct[i] = (uint8_t)ok;
        s->n_errors += !ok;
        s->nll_raw += l_raw;
        s->nll += l;
        bin_add(bins, nb, c_raw, ok);
        bin_add(bins + 3 * nb, nb, c, ok);
    }
    s->nll_raw /= (double)n;
    s->nll /= (double)n;
    s->ece_raw = ece_of(bins, nb, n);
    s->ece = ece_of(bins + 3 * nb, nb, n);
    hitl__free(bins);
    return HITL_OK;
}

/* The report of a labeled set at threshold t. */
static report report_at(const hitl_router *r, const labeled *s, double t)
{
    report rep = { .n = s->n, .n_errors = s->n_errors, .nll_raw = s->nll_raw,
                   .nll = s->nll, .ece_raw = s->ece_raw, .ece = s->ece };
    for (size_t i = 0; i < s->n; i++)
        if (s->conf[i] >= t) {
            rep.n_accepted++;
            rep.n_errors_accepted += !s->correct[i];
        }
    size_t good = rep.n_accepted - rep.n_errors_accepted;
    rep.precision_lower = lower_bound(good, rep.n_accepted, r->level);
    rep.target_met = meets(good, rep.n_accepted, r->target, r->level);
    return rep;
}

/* ---- handle -------------------------------------------------------------------- */

int hitl_router_create(hitl_router **out, size_t n_classes)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    int rc = hitl__check_classes(__func__, n_classes);
    if (rc)
        return rc;
    hitl_router *r = hitl__calloc(1, sizeof *r);
    if (!r)
        return hitl__fail(HITL_ENOMEM, "no memory for a router");
    r->n_classes = n_classes;
    r->threshold = INFINITY;
    r->temperature = 1.0;
    r->target = 0.99;
    r->level = 0.95;
    r->ece_bins = 15;
    hitl__handle_acquire();
    *out = r;
    return HITL_OK;
}

void hitl_router_free(hitl_router *router)
{
    if (!router)
        return;
    hitl__free(router);
    hitl__handle_release();
}

int hitl_router_set_param(hitl_router *router, hitl_param param, double value)
{
    if (!router)
        return hitl__fail(HITL_EINVAL, "router is NULL");
    if (isnan(value))
        return hitl__fail(HITL_EINVAL, "value is NaN");
    switch (param) {
    case HITL_PARAM_ROUTE_THRESHOLD:
        if (value < 0)
            return hitl__fail(HITL_EINVAL, "threshold %g is < 0", value);
        router->threshold = value;
        return HITL_OK;
    case HITL_PARAM_ROUTE_TARGET:
        if (!(value > 0 && value <= 1))
            return hitl__fail(HITL_EINVAL, "target precision %g is not in (0, 1]",
                              value);
        router->target = value;
        return HITL_OK;
    case HITL_PARAM_ROUTE_LEVEL:
        if (!(value >= 0 && value < 1))
            return hitl__fail(HITL_EINVAL, "level %g is not in [0, 1)", value);
        router->level = value;
        return HITL_OK;
    case HITL_PARAM_ROUTE_TEMPERATURE:
        if (!(value > 0 && isfinite(value)))
            return hitl__fail(HITL_EINVAL, "temperature %g is not finite and > 0",
                              value);
        router->temperature = value;
        return HITL_OK;
    case HITL_PARAM_ROUTE_ECE_BINS:
        if (!(value >= 1 && value <= MAX_BINS) || value != floor(value))
            return hitl__fail(HITL_EINVAL, "ECE bins %g is not an integer in "
                              "[1, %d]", value, MAX_BINS);
        router->ece_bins = (size_t)value;
        return HITL_OK;
    default:
        return hitl__fail(HITL_EINVAL, "parameter %d is not a router parameter",
                          (int)param);
    }
}

int hitl_router_get_param(double *value, const hitl_router *router,
                          hitl_param param)
{
    if (!value || !router)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "router");
    switch (param) {
    case HITL_PARAM_ROUTE_THRESHOLD:   *value = router->threshold; break;
    case HITL_PARAM_ROUTE_TARGET:      *value = router->target; break;
    case HITL_PARAM_ROUTE_LEVEL:       *value = router->level; break;
    case HITL_PARAM_ROUTE_TEMPERATURE: *value = router->temperature; break;
    case HITL_PARAM_ROUTE_ECE_BINS:    *value = (double)router->ece_bins; break;
    default:
        return hitl__fail(HITL_EINVAL, "parameter %d is not a router parameter",
                          (int)param);
    }
    return HITL_OK;
}

int hitl_router_get_info(double *value, const hitl_router *router,
                         hitl_router_info info)
{
    if (!value || !router)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "router");
    if (info < HITL_ROUTER_INFO_N || info > HITL_ROUTER_INFO_FIT_ITERATIONS)
        return hitl__fail(HITL_EINVAL, "unknown router info %d", (int)info);
    if (!router->has_report)
        return hitl__fail(HITL_ESTATE, "no labeled set yet: call "
                          "hitl_router_calibrate, _evaluate or _fit_temperature");
    const report *p = &router->rep;
    size_t good = p->n_accepted - p->n_errors_accepted;
    switch (info) {
    case HITL_ROUTER_INFO_N:            *value = (double)p->n; break;
    case HITL_ROUTER_INFO_N_ACCEPTED:   *value = (double)p->n_accepted; break;
    case HITL_ROUTER_INFO_N_ERRORS:     *value = (double)p->n_errors; break;
    case HITL_ROUTER_INFO_N_ERRORS_ACCEPTED:
        *value = (double)p->n_errors_accepted;
        break;
    case HITL_ROUTER_INFO_REVIEW_RATE:
        *value = (double)(p->n - p->n_accepted) / (double)p->n;
        break;
    case HITL_ROUTER_INFO_ERRORS_CAUGHT:
        *value = p->n_errors ? (double)(p->n_errors - p->n_errors_accepted) /
                               (double)p->n_errors : 1.0;
        break;
    case HITL_ROUTER_INFO_PRECISION:
        *value = p->n_accepted ? (double)good / (double)p->n_accepted : 1.0;
        break;
    case HITL_ROUTER_INFO_PRECISION_LOWER: *value = p->precision_lower; break;
    case HITL_ROUTER_INFO_ACCURACY:
        *value = (double)(p->n - p->n_errors) / (double)p->n;
        break;
    case HITL_ROUTER_INFO_TARGET_MET:   *value = p->target_met; break;
    case HITL_ROUTER_INFO_NLL_RAW:      *value = p->nll_raw; break;
    case HITL_ROUTER_INFO_NLL:          *value = p->nll; break;
    case HITL_ROUTER_INFO_ECE_RAW:      *value = p->ece_raw; break;
    case HITL_ROUTER_INFO_ECE:          *value = p->ece; break;
    case HITL_ROUTER_INFO_FIT_ITERATIONS:
        *value = (double)p->fit_iterations;
        break;
    }
    return HITL_OK;
}

/* ---- the three uses of a labeled set ------------------------------------------ */

enum { DO_EVALUATE, DO_CALIBRATE, DO_FIT_TEMPERATURE };

static int check_set(const char *fn, const hitl_router *r, const float *proba,
                     const int32_t *labels, size_t n)
{
    if (!r || !proba || !labels)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL",
                             !r ? "router" : !proba ? "proba" : "labels");
    if (n == 0)
        return hitl__fail_in(HITL_EINVAL, fn, "n is 0: no labeled items");
    int rc = hitl__check_rows(fn, n, r->n_classes, r->n_classes, sizeof(float));
    if (rc)
        return rc;
    rc = hitl__check_labels(fn, "labels", labels, n, r->n_classes);
    return rc ? rc : check_rows(fn, proba, n, r->n_classes);
}

/* Sort (confidence, correct) pairs by confidence, highest first. */
typedef struct scored {
    double conf;
    uint8_t correct;
} scored;

static int scored_cmp(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    return (a->conf < b->conf) - (a->conf > b->conf);
}

/* The smallest observed confidence t such that the items with confidence
 * >= t meet the target (see meets()); +inf when none does. */
static int choose_threshold(double *t, const char *fn, const hitl_router *r,
                            const labeled *s)
{
    scored *v = hitl__calloc(s->n, sizeof *v);
    if (!v)
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu items", s->n);
    for (size_t i = 0; i < s->n; i++)
        v[i] = (scored){ s->conf[i], s->correct[i] };
    qsort(v, s->n, sizeof *v, scored_cmp);
    *t = INFINITY;
    size_t k = 0, good = 0;
    while (k < s->n) {
        double c = v[k].conf;
        while (k < s->n && v[k].conf == c)     /* ties enter together */
            good += v[k++].correct;
        if (meets(good, k, r->target, r->level))
            *t = c;
    }
    hitl__free(v);
    return HITL_OK;
}

/* Fit beta = 1/T minimising f(beta) = sum_i [log sum_c exp(beta d_ic) -
 * beta d_iy], d_ic = log p_ic - log p_i,max.  f is convex in beta (a sum of
 * log-sum-exps of linear functions minus a linear term), with
 * f'(beta) = sum_i (E_q[d_i] - d_iy) and f''(beta) = sum_i Var_q[d_i],
 * q = softmax(beta d_i).  Safeguarded Newton on f' = 0 inside a bracket that
 * starts as [1/T_MAX, 1/T_MIN] and shrinks with the sign of f'; a Newton
 * step that leaves the bracket is replaced by its geometric midpoint.  Stops
 * when |f'(beta)| <= 1e-9 n, or the bracket is narrower than 1e-12 beta, or
 * after 100 steps.  The minimiser at an end of the interval is returned as
 * that end. */
typedef struct deriv {
    double g, h;
} deriv;

static deriv temp_deriv(const float *proba, const int32_t *labels, size_t n,
                        size_t k, double beta, double *w)
{
    deriv d = { 0, 0 };
    double *q = w + k;
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * k;
        double lmax = safe_log(p[row_argmax(p, k)]), z = 0, e = 0, v = 0;
        for (size_t c = 0; c < k; c++) {
            w[c] = safe_log(p[c]) - lmax;        /* d_ic <= 0 */
            q[c] = exp(beta * w[c]);
            z += q[c];
            e += q[c] * w[c];
        }
        e /= z;
        for (size_t c = 0; c < k; c++)
            v += q[c] * (w[c] - e) * (w[c] - e);
        d.g += e - w[labels[i]];
        d.h += v / z;
    }
    return d;
}

static int fit_beta(double *beta, size_t *evals, const char *fn,
                    const float *proba, const int32_t *labels, size_t n,
                    size_t k)
{
    double *w = hitl__calloc(k, 2 * sizeof *w);
    if (!w)
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu classes", k);
    double lo = 1 / T_MAX, hi = 1 / T_MIN, tol = 1e-9 * (double)n, b = 1.0;
    int rc = HITL_OK;
    *evals = 1;
    if (temp_deriv(proba, labels, n, k, lo, w).g >= 0)
        b = lo;
    else if (++*evals, temp_deriv(proba, labels, n, k, hi, w).g <= 0)
        b = hi;
    else
        for (int step = 0; step < 100; step++) {
            deriv d = temp_deriv(proba, labels, n, k, b, w);
            ++*evals;
            if (!isfinite(d.g) || !isfinite(d.h)) {
                rc = hitl__fail_in(HITL_ENUMERIC, fn,
                                   "NLL derivative is not finite at T = %g",
                                   1 / b);
                break;
            }
            if (fabs(d.g) <= tol)
                break;
            if (d.g > 0)
                hi = b;
            else
                lo = b;
            if (hi - lo <= 1e-12 * b)
                break;
            double next = d.h > 0 ? b - d.g / d.h : NAN;
            b = next > lo && next < hi ? next : sqrt(lo * hi);
        }
    *beta = b;
    hitl__free(w);
    return rc;
}

/* Validate, then evaluate / calibrate / fit on one labeled set; the router
 * changes only when everything succeeded. */
static int use_set(hitl_router *r, const char *fn, int what,
                   const float *proba, const int32_t *labels, size_t n)
{
    int rc = check_set(fn, r, proba, labels, n);
    if (rc)
        return rc;
    hitl_router next = *r;
    size_t iters = 0;
    if (what == DO_FIT_TEMPERATURE) {
        double beta = 1.0;
        if ((rc = fit_beta(&beta, &iters, fn, proba, labels, n, r->n_classes)))
            return rc;
        next.temperature = 1 / beta;
    }
    labeled s;
    if ((rc = labeled_eval(&s, fn, &next, proba, labels, n)))
        return rc;
    if (what == DO_CALIBRATE)
        rc = choose_threshold(&next.threshold, fn, &next, &s);
    if (rc == HITL_OK) {
        next.rep = report_at(&next, &s, next.threshold);
        next.rep.fit_iterations = iters;
        next.has_report = 1;
        *r = next;
    }
    labeled_free(&s);
    return rc;
}

int hitl_router_evaluate(hitl_router *router, const float *proba,
                         const int32_t *labels, size_t n)
{
    return use_set(router, __func__, DO_EVALUATE, proba, labels, n);
}

int hitl_router_calibrate(hitl_router *router, const float *proba,
                          const int32_t *labels, size_t n)
{
    return use_set(router, __func__, DO_CALIBRATE, proba, labels, n);
}

int hitl_router_fit_temperature(hitl_router *router, const float *proba,
                                const int32_t *labels, size_t n)
{
    return use_set(router, __func__, DO_FIT_TEMPERATURE, proba, labels, n);
}

/* ---- routing ------------------------------------------------------------------- */

/* Route n validated rows; outputs start at the given pointers (any may be
 * NULL).  Returns the number accepted. */
static size_t route_rows(const hitl_router *r, const float *proba, size_t n,
                         uint8_t *accept, int32_t *label, float *confidence)
{
    size_t k = r->n_classes, taken = 0;
    double beta = router_beta(r);
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * k;
        int32_t top = row_argmax(p, k);
        double c = row_conf(NULL, p, k, top, beta, -1);
        int yes = c >= r->threshold;
        taken += yes;
        if (accept)
            accept[i] = (uint8_t)yes;
        if (label)
            label[i] = top;
        if (confidence)
            confidence[i] = (float)c;
    }
    return taken;
}

int hitl_router_route(size_t *n_accepted, uint8_t *accept, int32_t *label,
                      float *confidence, const hitl_router *router,
                      const float *proba, size_t n)
{
    if (!router || (!proba && n > 0))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !router ? "router" : "proba");
    int rc = hitl__check_rows(__func__, n, router->n_classes, router->n_classes,
                              sizeof(float));
    if (rc == HITL_OK)
        rc = check_rows(__func__, proba, n, router->n_classes);
    if (rc)
        return rc;
    size_t taken = route_rows(router, proba, n, accept, label, confidence);
    if (n_accepted)
        *n_accepted = taken;
    return HITL_OK;
}

/* ---- model + pool forms ---------------------------------------------------------- */

static int check_model_pool(const char *fn, const hitl_router *r,
                            const hitl_model *m, const hitl_pool *pool,
                            size_t first, size_t n)
{
    if (!r || !m || !pool)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL",
                             !r ? "router" : !m ? "model" : "pool");
    if (m->n_classes != r->n_classes)
        return hitl__fail_in(HITL_EINVAL, fn, "model has %zu classes, router %zu",
                             m->n_classes, r->n_classes);
    if (m->dim != pool->dim)
        return hitl__fail_in(HITL_EINVAL, fn, "model dim %zu != pool dim %zu",
                             m->dim, pool->dim);
    if (first > pool->n || n > pool->n - first)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "items [%zu, %zu + %zu) leave the pool of %zu",
                             first, first, n, pool->n);
    return HITL_OK;
}

/* Probabilities and labels of the LABELED items in [first, first+n): rows
 * are gathered GATHER_ROWS at a time and predicted with hitl_model_predict,
 * so custom models work too. */
static int gather_labeled(float **proba, int32_t **labels, size_t *count,
                          const char *fn, const hitl_router *r,
                          const hitl_model *m, const hitl_pool *pool,
                          size_t first, size_t n)
{
    int rc = check_model_pool(fn, r, m, pool, first, n);
    if (rc)
        return rc;
    size_t k = r->n_classes, dim = pool->dim, nl = 0;
    for (size_t i = first; i < first + n; i++)
        if (pool->state[i] == HITL_ITEM_LABELED) {
            if (pool->label[i] < 0 || (size_t)pool->label[i] >= k)
                return hitl__fail_in(HITL_EINVAL, fn,
                                     "item %zu has label %" PRId32 ", not in [0, %zu)",
                                     i, pool->label[i], k);
            nl++;
        }
    if (nl == 0)
        return hitl__fail_in(HITL_ESTATE, fn,
                             "no LABELED item in [%zu, %zu)", first, first + n);
    size_t cells;
    if (hitl__mul_size(&cells, nl, k) || cells > SIZE_MAX / sizeof(float))
        return hitl__fail_in(HITL_ENOMEM, fn, "%zu x %zu probabilities do not fit",
                             nl, k);
    float *p = hitl__malloc(cells * sizeof *p);
    int32_t *y = hitl__malloc(nl * sizeof *y);
    /* Sparse rows are predicted an item at a time from the pool (gathering
     * them as dense rows could take dim x GATHER_ROWS floats of 2^24 dims). */
    float *x = pool->sparse ? NULL : hitl__calloc(GATHER_ROWS, dim * sizeof *x);
    if (!p || !y || (!x && !pool->sparse)) {
        rc = hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu labeled items", nl);
        goto out;
    }
    size_t done = 0, in_block = 0;
    for (size_t i = first; pool->sparse && i < first + n && rc == HITL_OK; i++)
        if (pool->state[i] == HITL_ITEM_LABELED) {
            rc = hitl_model_predict_pool(p + done * k, m, pool, i, 1);
            y[done++] = pool->label[i];
        }
    for (size_t i = first; !pool->sparse && i < first + n && rc == HITL_OK; i++) {
        if (pool->state[i] == HITL_ITEM_LABELED) {
            memcpy(x + in_block * dim, hitl__pool_row(pool, i), dim * sizeof *x);
            y[done + in_block++] = pool->label[i];
        }
        if (in_block == GATHER_ROWS || (in_block > 0 && i + 1 == first + n)) {
            rc = hitl_model_predict(p + done * k, m, x, in_block, dim);
            done += in_block;
            in_block = 0;
        }
    }
    if (rc == HITL_OK) {
        *proba = p;
        *labels = y;
        *count = nl;
        p = NULL;
        y = NULL;
    }
out:
    hitl__free(x);
    hitl__free(y);
    hitl__free(p);
    return rc;
}

static int use_pool(hitl_router *r, const char *fn, int what,
                    const hitl_model *m, const hitl_pool *pool, size_t first,
                    size_t n)
{
    float *proba = NULL;
    int32_t *labels = NULL;
    size_t count = 0;
    int rc = gather_labeled(&proba, &labels, &count, fn, r, m, pool, first, n);
    if (rc)
        return rc;
    rc = use_set(r, fn, what, proba, labels, count);
    hitl__free(proba);
    hitl__free(labels);
    return rc;
}

int hitl_router_evaluate_pool(hitl_router *router, const hitl_model *model,
                              const hitl_pool *pool, size_t first, size_t n)
{
    return use_pool(router, __func__, DO_EVALUATE, model, pool, first, n);
}

int hitl_router_calibrate_pool(hitl_router *router, const hitl_model *model,
                               const hitl_pool *pool, size_t first, size_t n)
{
    return use_pool(router, __func__, DO_CALIBRATE, model, pool, first, n);
}

int hitl_router_fit_temperature_pool(hitl_router *router,
                                     const hitl_model *model,
                                     const hitl_pool *pool, size_t first,
                                     size_t n)
{
    return use_pool(router, __func__, DO_FIT_TEMPERATURE, model, pool, first, n);
}

/* Consumer of the streaming scorer: route one block of the pool. */
typedef struct route_job {
    const hitl_router *r;
    size_t first;          /* pool index of output position 0 */
    uint8_t *accept;
    int32_t *label;
    float *confidence;
    size_t taken;          /* per worker */
} route_job;

static int route_block(void *state, size_t first, size_t n,
                       const float *proba, size_t n_classes)
{
    (void)n_classes;
    route_job *j = state;
    size_t at = first - j->first;
    j->taken += route_rows(j->r, proba, n, j->accept ? j->accept + at : NULL,
                           j->label ? j->label + at : NULL,
                           j->confidence ? j->confidence + at : NULL);
    return HITL_OK;
}

int hitl_router_route_pool(size_t *n_accepted, uint8_t *accept, int32_t *label,
                           float *confidence, const hitl_router *router,
                           const hitl_model *model, const hitl_pool *pool,
                           size_t first, size_t n)
{
    int rc = check_model_pool(__func__, router, model, pool, first, n);
    if (rc)
        return rc;
    if (n == 0) {
        if (n_accepted)
            *n_accepted = 0;
        return HITL_OK;
    }
    size_t workers = hitl__score_workers(model, pool);
    route_job *jobs = hitl__calloc(workers, sizeof *jobs);
    void **states = hitl__calloc(workers, sizeof *states);
    if (!jobs || !states) {
        hitl__free(jobs);
        hitl__free(states);
        return hitl__fail(HITL_ENOMEM, "no memory for %zu workers", workers);
    }
    for (size_t w = 0; w < workers; w++) {
        jobs[w] = (route_job){ router, first, accept, label, confidence, 0 };
        states[w] = &jobs[w];
    }
    rc = hitl__score_run(model, pool, first, n, HITL__LAYOUT_ROWS, route_block,
                         states, __func__);
    size_t taken = 0;
    for (size_t w = 0; w < workers; w++)
        taken += jobs[w].taken;
    hitl__free(states);
    hitl__free(jobs);
    if (rc == HITL_OK && n_accepted)
        *n_accepted = taken;
    return rc;
}
