/* Change detectors on a stream of numbers: has the mean or the distribution
 * of what a stream shows moved?  They know nothing of models; the routing
 * layer feeds them confidences and reviewed errors.
 *
 * Page-Hinkley (E. S. Page, "Continuous inspection schemes", Biometrika
 * 1954; D. V. Hinkley, "Inference about the change-point from cumulative
 * sum tests", Biometrika 1971), in the form with a fading factor of Gama,
 * Sebastiao & Rodrigues, "On evaluating stream learning algorithms",
 * Machine Learning 90, 2013: after item T with running mean xbar_T,
 *
 *     m_T = alpha m_(T-1) + (x_T - xbar_T - delta),   m_0 = 0,
 *     M_T = min(m_0 .. m_T),   fire when T >= min_n and m_T - M_T > lambda;
 *
 * it detects a rise of the mean by more than about delta.  The detector
 * restarts after firing.  The estimated change point is where M_T was
 * reached: the evidence is the mean before and after it.
 *
 * ADWIN2 (Bifet & Gavalda, "Learning from time-changing data with adaptive
 * windowing", SDM 2007), as MOA implements it: a window of the recent items
 * kept as an exponential histogram (at most M + 1 buckets of each size 2^r,
 * the two oldest merged into the next row when a row overflows); every
 * `clock` items, when the window holds more than 10 items, each split of it
 * at a bucket boundary into an older part W0 (n0 items, mean u0) and a
 * newer part W1 (n1, u1), both of more than 6 items, is tested, oldest
 * first, by the cut rule
 *
 *     |u0 - u1| > eps = sqrt(2 m v d) + (2/3) m d,
 *     d = ln(2 ln(n) / delta),  m = 1/(n0 - 4) + 1/(n1 - 4),
 *
 * v the variance of the window's n items; on a cut the oldest bucket is
 * dropped and the scan restarts.  The window then holds only the items
 * since the change, so ADWIN needs no restart.
 *
 * Population stability index: the first `window` values are the
 * reference; their quantiles at j / B (j = 1 .. B-1, equal ones merged)
 * cut the line into bins; every later window of `window` values gives
 *
 *     PSI = sum_b (a_b - e_b) ln(a_b / e_b),
 *
 * e_b and a_b the reference's and the window's shares of bin b, each
 * floored at 1e-4 so that an empty bin stays finite.  The usual reading
 * (Siddiqi, "Credit Risk Scorecards", 2006) is < 0.1 stable, 0.1 .. 0.25 a
 * moderate shift, > 0.25 a significant one.  With alpha > 0 the threshold
 * is instead the (1 - alpha) quantile of PSI under no change, which for
 * reference and window sizes M and N is about (1/M + 1/N) chi2_(B'-1),
 * B' the bins (Yurdakul & Naranjo, "Statistical properties of the
 * population stability index", J. Risk Model Validation 14(4), 2020). */
#include "base/base.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* By bisection on the upper tail 0.5 erfc(z / sqrt 2) to double precision. */
double hitl__normal_upper(double alpha)
{
    double lo = 0, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(mid / sqrt(2.0)) > alpha)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

double hitl__chi2_upper(double alpha, double k)
{
    double h = 2.0 / (9.0 * k), c = 1 - h + hitl__normal_upper(alpha) * sqrt(h);
    return k * c * c * c;
}

/* ---- Page-Hinkley ----------------------------------------------------------- */

void hitl__ph_init(hitl__ph *p, double delta, double lambda, double alpha,
                   uint64_t min_n)
{
    *p = (hitl__ph){ .delta = delta, .lambda = lambda, .alpha = alpha,
                     .min_n = min_n };
}

void hitl__ph_reset(hitl__ph *p)
{
    hitl__ph_init(p, p->delta, p->lambda, p->alpha, p->min_n);
}

int hitl__ph_add(hitl__ph *p, double x, hitl__change *ev)
{
    p->n++;
    p->mean += (x - p->mean) / (double)p->n;
    p->m = p->alpha * p->m + (x - p->mean - p->delta);
    p->sum += x;
    if (p->m < p->m_min) {
        p->m_min = p->m;
        p->n_min = p->n;
        p->sum_min = p->sum;
    }
    if (p->n < p->min_n || !(p->m - p->m_min > p->lambda))
        return 0;
    uint64_t after = p->n - p->n_min;
    *ev = (hitl__change){
        .before = p->n_min ? p->sum_min / (double)p->n_min : NAN,
        .after = (p->sum - p->sum_min) / (double)after,
        .stat = p->m - p->m_min, .threshold = p->lambda,
        .n_before = p->n_min, .n_after = after };
    hitl__ph_reset(p);
    return 1;
}

/* ---- ADWIN2 -------------------------------------------------------------------- */

#define ADWIN_MIN_SIDE 5      /* MOA's mintMinWinLength */
#define ADWIN_MIN_WINDOW 10   /* MOA's mintMinLongitudWindow */

int hitl__adwin_init(hitl__adwin *a, double delta, size_t m, size_t clock)
{
    *a = (hitl__adwin){ .delta = delta, .m = m, .clock = clock };
    a->sum = hitl__calloc(HITL__ADWIN_ROWS * (m + 1), sizeof *a->sum);
    a->sq = hitl__calloc(HITL__ADWIN_ROWS * (m + 1), sizeof *a->sq);
    if (!a->sum || !a->sq) {
        hitl__adwin_free(a);
        return HITL_ENOMEM;
    }
    return HITL_OK;
}

void hitl__adwin_free(hitl__adwin *a)
{
    hitl__free(a->sum);
    hitl__free(a->sq);
    a->sum = a->sq = NULL;
}

void hitl__adwin_reset(hitl__adwin *a)
{
    a->width = a->time = 0;
    a->total = a->var = 0;
    a->rows = 0;
    memset(a->count, 0, sizeof a->count);
}

static double bucket_size(size_t row)
{
    return ldexp(1.0, (int)row);
}

/* Drop the first `k` buckets of row r. */
static void row_shift(hitl__adwin *a, size_t r, size_t k)
{
    double *s = a->sum + r * (a->m + 1), *q = a->sq + r * (a->m + 1);
    a->count[r] -= k;
    memmove(s, s + k, a->count[r] * sizeof *s);
    memmove(q, q + k, a->count[r] * sizeof *q);
}

static void row_push(hitl__adwin *a, size_t r, double sum, double sq)
{
    if (r == a->rows)
        a->rows++;
    a->sum[r * (a->m + 1) + a->count[r]] = sum;
    a->sq[r * (a->m + 1) + a->count[r]] = sq;
    a->count[r]++;
}

/* A row with M + 1 buckets merges its two oldest into one of the next row. */
static void adwin_compress(hitl__adwin *a)
{
    for (size_t r = 0; r + 1 < HITL__ADWIN_ROWS && a->count[r] == a->m + 1; r++) {
        double n = bucket_size(r), *s = a->sum + r * (a->m + 1);
        double *q = a->sq + r * (a->m + 1);
        double d = s[0] / n - s[1] / n;
        row_push(a, r + 1, s[0] + s[1], q[0] + q[1] + n * n * d * d / (2 * n));
        row_shift(a, r, 2);
    }
}

/* Remove the oldest bucket; returns its size. */
static double adwin_drop(hitl__adwin *a)
{
    size_t r = a->rows - 1;
    double n1 = bucket_size(r), s = a->sum[r * (a->m + 1)];
    double q = a->sq[r * (a->m + 1)];
    a->width -= (uint64_t)n1;
    a->total -= s;
    double w = (double)a->width, d = s / n1 - a->total / w;
    a->var -= q + n1 * w * d * d / (n1 + w);
    row_shift(a, r, 1);
    if (!a->count[r])
        a->rows--;
    return n1;
}

/* One scan of the splits, oldest first: 1 and a bucket dropped on a cut. */
static int adwin_scan(hitl__adwin *a, hitl__change *ev)
{
    double n = (double)a->width, v = a->var / n;
    double d = log(2 * log(n) / a->delta);
    double n0 = 0, n1 = n, u0 = 0, u1 = a->total;
    for (size_t r = a->rows; r-- > 0;) {
        for (size_t k = 0; k < a->count[r]; k++) {
            double n2 = bucket_size(r), u2 = a->sum[r * (a->m + 1) + k];
            n0 += n2;
            n1 -= n2;
            u0 += u2;
            u1 -= u2;
            if (r == 0 && k + 1 == a->count[r])
                return 0;
            if (!(n0 > ADWIN_MIN_SIDE + 1 && n1 > ADWIN_MIN_SIDE + 1))
                continue;
            double m = 1 / (n0 - ADWIN_MIN_SIDE + 1) + 1 / (n1 - ADWIN_MIN_SIDE + 1);
            double eps = sqrt(2 * m * v * d) + 2.0 / 3.0 * d * m;
            double gap = fabs(u0 / n0 - u1 / n1);
            if (gap > eps) {
                *ev = (hitl__change){ u0 / n0, u1 / n1, gap, eps,
                                      (uint64_t)n0, (uint64_t)n1 };
                adwin_drop(a);
                return 1;
            }
        }
    }
    return 0;
}

int hitl__adwin_add(hitl__adwin *a, double x, hitl__change *ev)
{
    a->width++;
    if (a->width > 1) {
        double w = (double)(a->width - 1), d = x - a->total / w;
        a->var += w * d * d / (w + 1);
    }
    a->total += x;
    row_push(a, 0, x, 0);
    adwin_compress(a);
    a->time++;
    if (a->time % a->clock || a->width <= ADWIN_MIN_WINDOW)
        return 0;
    int cut = 0;
    hitl__change c;
    while (a->width > ADWIN_MIN_WINDOW && adwin_scan(a, &c))
        if (!cut++)
            *ev = c;
    return cut > 0;
}

/* ---- population stability index ------------------------------------------------ */

#define PSI_FLOOR 1e-4

int hitl__psi_init(hitl__psi *s, size_t window, size_t bins, double threshold,
                   double alpha)
{
    *s = (hitl__psi){ .window = window, .bins = bins, .threshold = threshold,
                      .alpha = alpha, .last = NAN };
    s->ref = hitl__calloc(window, sizeof *s->ref);
    s->edges = hitl__calloc(bins, sizeof *s->edges);
    s->expect = hitl__calloc(bins, sizeof *s->expect);
    s->count = hitl__calloc(bins, sizeof *s->count);
    if (!s->ref || !s->edges || !s->expect || !s->count) {
        hitl__psi_free(s);
        return HITL_ENOMEM;
    }
    return HITL_OK;
}

void hitl__psi_free(hitl__psi *s)
{
    hitl__free(s->ref);
    hitl__free(s->edges);
    hitl__free(s->expect);
    hitl__free(s->count);
    s->ref = s->edges = s->expect = NULL;
    s->count = NULL;
}

void hitl__psi_reset(hitl__psi *s)
{
    s->n_ref = s->n_cur = s->n_edges = 0;
    s->cur_sum = 0;
    s->last = NAN;
    s->n_checks = 0;
    memset(s->count, 0, s->bins * sizeof *s->count);
}

double hitl__psi_limit(const hitl__psi *s)
{
    if (s->alpha <= 0)
        return s->threshold;
    double k = s->n_edges ? (double)s->n_edges : 1;
    return 2.0 / (double)s->window * hitl__chi2_upper(s->alpha, k);
}

/* The bin of x: how many edges are <= x. */
static size_t psi_bin(const hitl__psi *s, double x)
{
    size_t lo = 0, hi = s->n_edges;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->edges[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int by_value(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* The reference is full: its bins and shares. */
static void psi_freeze(hitl__psi *s)
{
    qsort(s->ref, s->window, sizeof *s->ref, by_value);
    for (size_t j = 1; j < s->bins; j++) {
        double e = s->ref[j * s->window / s->bins];
        if (!s->n_edges || e > s->edges[s->n_edges - 1])
            s->edges[s->n_edges++] = e;
    }
    memset(s->expect, 0, s->bins * sizeof *s->expect);
    for (size_t i = 0; i < s->window; i++)
        s->expect[psi_bin(s, s->ref[i])] += 1.0 / (double)s->window;
}

static double floored(double share)
{
    return share > PSI_FLOOR ? share : PSI_FLOOR;
}

int hitl__psi_add(hitl__psi *s, double x, hitl__change *ev)
{
    if (s->n_ref < s->window) {
        s->ref[s->n_ref++] = x;
        if (s->n_ref == s->window)
            psi_freeze(s);
        return 0;
    }
    s->count[psi_bin(s, x)]++;
    s->cur_sum += x;
    if (++s->n_cur < s->window)
        return 0;
    double psi = 0, ref_mean = 0;
    for (size_t b = 0; b <= s->n_edges; b++) {
        double e = floored(s->expect[b]);
        double o = floored((double)s->count[b] / (double)s->window);
        psi += (o - e) * log(o / e);
    }
    for (size_t i = 0; i < s->window; i++)
        ref_mean += s->ref[i] / (double)s->window;
    double limit = hitl__psi_limit(s), cur_mean = s->cur_sum / (double)s->window;
    s->last = psi;
    s->n_checks++;
    s->n_cur = 0;
    s->cur_sum = 0;
    memset(s->count, 0, s->bins * sizeof *s->count);
    if (!(psi > limit))
        return 0;
    *ev = (hitl__change){ ref_mean, cur_mean, psi, limit, s->window, s->window };
    return 1;
}
