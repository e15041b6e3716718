/* Drift in deployment: each detector's decisions against a direct,
 * independently coded reference of its published definition on a recorded
 * stream; detection delay and false alarms per 10^6 stationary items on
 * synthetic streams with a known change point (printed and bounded; set
 * HITL_DRIFT_LONG=1 for 10^6 items per stream instead of 2 x 10^5); the
 * router's alert (raised by a linked monitor, cleared by calibration);
 * parameters, errors (monitor unchanged) and out-of-memory recovery. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;
static double unit(void)
{
    return (double)(test_splitmix(&rng_state) >> 11) * 0x1.0p-53;
}

static void msg_has(const char *part)
{
    ck_assert_msg(strstr(hitl_error_message(), part) != NULL,
                  "message \"%s\" lacks \"%s\"", hitl_error_message(), part);
}

static hitl_drift_monitor *monitor_with(int detectors)
{
    hitl_drift_monitor *m = NULL;
    ck_assert_int_eq(hitl_drift_monitor_create(&m), HITL_OK);
    ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_DETECTORS,
                                                  detectors), HITL_OK);
    return m;
}

static double ev(const hitl_drift_monitor *m, uint64_t i, hitl_drift_event_info f)
{
    double v;
    ck_assert_int_eq(hitl_drift_monitor_event(&v, m, i, f), HITL_OK);
    return v;
}

static double minfo(const hitl_drift_monitor *m, hitl_drift_info f)
{
    double v;
    ck_assert_int_eq(hitl_drift_monitor_get_info(&v, m, f), HITL_OK);
    return v;
}

/* Stationary confidences: 1 - conf = 0.5 u^4 (mean 0.1); after the change
 * 0.5 u^1.5 (mean 0.2).  Errors: Bernoulli 0.1, after the change 0.3. */
static float conf_draw(int drifted)
{
    return (float)(1 - 0.5 * pow(unit(), drifted ? 1.5 : 4.0));
}
static uint8_t correct_draw(int drifted)
{
    return unit() >= (drifted ? 0.3 : 0.1);
}

/* ---- references, coded from the papers' definitions -------------------------- */

/* Page-Hinkley: keeps every m_t and takes the minimum over the whole history
 * since the last firing.  Fires: 1-based positions written to out. */
static size_t ref_ph(size_t *out, const double *x, size_t n, double delta,
                     double lambda, double alpha, size_t min_n)
{
    double *m = malloc((n + 1) * sizeof *m);
    size_t fired = 0, start = 0;
    double sum = 0, mm = 0;
    for (size_t i = 0; i < n; i++) {
        size_t t = i - start + 1;
        sum += x[i];
        double mean = sum / (double)t;
        m[t] = alpha * (t > 1 ? m[t - 1] : 0) + (x[i] - mean - delta);
        mm = 0;
        for (size_t u = 1; u <= t; u++)
            mm = m[u] < mm ? m[u] : mm;
        if (t >= min_n && m[t] - mm > lambda) {
            out[fired++] = i + 1;
            start = i + 1;
            sum = 0;
        }
    }
    free(m);
    return fired;
}

/* ADWIN2: the window as one flat list of buckets, oldest first, each with
 * its item count, sum and sum of squared deviations. */
typedef struct rbucket { double n, sum, sq; } rbucket;
static size_t ref_adwin(size_t *out, const double *x, size_t n, double delta,
                        size_t M, size_t clock)
{
    rbucket *b = malloc(200 * sizeof *b);
    size_t nb = 0, fired = 0;
    for (size_t i = 0; i < n; i++) {
        b[nb++] = (rbucket){ 1, x[i], 0 };
        /* more than M buckets of one size: merge the two oldest of it */
        for (double size = 1;; size *= 2) {
            size_t cnt = 0, first = 0;
            for (size_t j = 0; j < nb; j++)
                if (b[j].n == size && !cnt++)
                    first = j;
            if (cnt <= M)
                break;
            rbucket *a = &b[first], *c = &b[first + 1];
            double d = a->sum / a->n - c->sum / c->n;
            *a = (rbucket){ a->n + c->n, a->sum + c->sum,
                            a->sq + c->sq + a->n * c->n * d * d / (a->n + c->n) };
            memmove(c, c + 1, (nb - first - 2) * sizeof *c);
            nb--;
        }
        if ((i + 1) % clock)
            continue;
        int cut = 0;
        for (;;) {
            double W = 0, S = 0, Q = 0;   /* the window: merge all buckets */
            for (size_t j = 0; j < nb; j++) {
                if (W > 0) {
                    double d = S / W - b[j].sum / b[j].n;
                    Q += b[j].sq + W * b[j].n * d * d / (W + b[j].n);
                } else {
                    Q = b[j].sq;
                }
                W += b[j].n;
                S += b[j].sum;
            }
            if (W <= 10)
                break;
            double v = Q / W, dd = log(2 * log(W) / delta);
            double n0 = 0, s0 = 0;
            int found = 0;
            for (size_t j = 0; j + 1 < nb; j++) {
                n0 += b[j].n;
                s0 += b[j].sum;
                double n1 = W - n0, s1 = S - s0;
                if (n0 <= 6 || n1 <= 6)
                    continue;
                double mm = 1 / (n0 - 4) + 1 / (n1 - 4);
                double eps = sqrt(2 * mm * v * dd) + 2.0 / 3.0 * dd * mm;
                if (fabs(s0 / n0 - s1 / n1) > eps) {
                    found = 1;
                    break;
                }
            }
            if (!found)
                break;
            memmove(b, b + 1, (nb - 1) * sizeof *b);   /* drop the oldest */
            nb--;
            cut = 1;
        }
        if (cut)
            out[fired++] = i + 1;
    }
    free(b);
    return fired;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* PSI against the first W values, bins at the reference's quantiles j/B. */
static size_t ref_psi(size_t *out, double *psi_out, const double *x, size_t n,
                      size_t W, size_t B, double limit)
{
    double *ref = malloc(W * sizeof *ref), edges[100], e[101], a[101];
    memcpy(ref, x, W * sizeof *ref);
    qsort(ref, W, sizeof *ref, cmp_d);
    size_t ne = 0, fired = 0;
    for (size_t j = 1; j < B; j++) {
        double q = ref[j * W / B];
        if (!ne || q > edges[ne - 1])
            edges[ne++] = q;
    }
    memset(e, 0, sizeof e);
    for (size_t i = 0; i < W; i++) {
        size_t bin = 0;
        while (bin < ne && edges[bin] <= ref[i])
            bin++;
        e[bin] += 1;
    }
    for (size_t w = W; w + W <= n; w += W) {
        memset(a, 0, sizeof a);
        for (size_t i = w; i < w + W; i++) {
            size_t bin = 0;
            while (bin < ne && edges[bin] <= x[i])
                bin++;
            a[bin] += 1;
        }
        double psi = 0;
        for (size_t bin = 0; bin <= ne; bin++) {
            double pe = fmax(e[bin] / (double)W, 1e-4), pa = fmax(a[bin] / (double)W, 1e-4);
            psi += (pa - pe) * log(pa / pe);
        }
        *psi_out = psi;
        if (psi > limit)
            out[fired++] = w + W;
    }
    free(ref);
    return fired;
}

/* The ATs of the monitor's events (all on one stream). */
static size_t monitor_fires(size_t *out, const hitl_drift_monitor *m)
{
    size_t n = (size_t)minfo(m, HITL_DRIFT_INFO_EVENTS);
    for (size_t i = 0; i < n; i++)
        out[i] = (size_t)ev(m, i, HITL_DRIFT_EVENT_AT);
    return n;
}

/* A recorded stream: 3000 stationary items, then 3000 drifted; fed in
 * batches of odd sizes so that batching cannot matter. */
#define REC 6000
static struct {
    float conf[REC];
    uint8_t ok[REC];
    double xc[REC], xe[REC];      /* the same as doubles; xe = 1 - ok */
    size_t got[REC], want[REC];   /* firings: the monitor's, the reference's */
} R;
static void recorded(void)
{
    rng_state = 12345;
    for (size_t i = 0; i < REC; i++) {
        R.conf[i] = conf_draw(i >= REC / 2);
        R.ok[i] = correct_draw(i >= REC / 2);
        R.xc[i] = R.conf[i];
        R.xe[i] = 1.0 - R.ok[i];
    }
}

static void feed(hitl_drift_monitor *m, const float *conf, const uint8_t *ok, size_t n)
{
    for (size_t at = 0; at < n;) {
        size_t len = at % 7 == 0 ? 97 : 301;
        len = len < n - at ? len : n - at;
        ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, conf ? conf + at : NULL,
                                                    conf ? len : 0, ok ? ok + at : NULL,
                                                    ok ? len : 0), HITL_OK);
        at += len;
    }
}

static void expect_same(const size_t *a, size_t na, const size_t *b, size_t nb,
                        const char *what)
{
    printf("# %s: %zu firings, first at %zu\n", what, na, na ? a[0] : 0);
    ck_assert_msg(na == nb, "%s: %zu firings, reference %zu", what, na, nb);
    for (size_t i = 0; i < na; i++)
        ck_assert_msg(a[i] == b[i], "%s: firing %zu at %zu, reference %zu",
                      what, i, a[i], b[i]);
}

START_TEST(test_ph_reference)
{
    recorded();
    float *conf = R.conf;
    uint8_t *ok = R.ok;
    double *xc = R.xc, *xe = R.xe;
    size_t *got = R.got, *want = R.want;
    for (size_t i = 0; i < REC; i++)
        xc[i] = 1 - xc[i];   /* Page-Hinkley watches the rise of 1 - conf */
    /* the defaults, then a tighter setting that fires more often */
    const double settings[2][4] = { { 0.005, 50, 0.9999, 30 }, { 0.01, 5, 0.999, 10 } };
    for (int k = 0; k < 2; k++) {
        for (int s = 0; s < 2; s++) {
            hitl_drift_monitor *m = monitor_with(HITL_DRIFT_PAGE_HINKLEY);
            for (int p = 0; p < 4; p++)   /* PH_DELTA, _LAMBDA, _ALPHA, _MIN */
                ck_assert_int_eq(hitl_drift_monitor_set_param(
                                     m, HITL_PARAM_MONITOR_PH_DELTA + p,
                                     settings[k][p]), HITL_OK);
            feed(m, s ? NULL : conf, s ? ok : NULL, REC);
            size_t na = monitor_fires(got, m);
            size_t nb = ref_ph(want, s ? xe : xc, REC, settings[k][0], settings[k][1],
                               settings[k][2], (size_t)settings[k][3]);
            ck_assert_uint_gt(nb, 0);
            expect_same(got, na, want, nb, s ? "PH errors" : "PH confidence");
            hitl_drift_monitor_free(m);
        }
    }
}
END_TEST

START_TEST(test_adwin_reference)
{
    recorded();
    float *conf = R.conf;
    uint8_t *ok = R.ok;
    double *xc = R.xc, *xe = R.xe;
    size_t *got = R.got, *want = R.want;
    for (int k = 0; k < 2; k++) {
        double delta = k ? 0.1 : 0.002;
        size_t M = k ? 3 : 5, clock = k ? 5 : 32;
        for (int s = 0; s < 2; s++) {
            hitl_drift_monitor *m = monitor_with(HITL_DRIFT_ADWIN);
            ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_ADWIN_DELTA, delta), HITL_OK);
            ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_ADWIN_BUCKETS, (double)M), HITL_OK);
            ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_ADWIN_CLOCK, (double)clock), HITL_OK);
            feed(m, s ? NULL : conf, s ? ok : NULL, REC);
            size_t na = monitor_fires(got, m);
            size_t nb = ref_adwin(want, s ? xe : xc, REC, delta, M, clock);
            ck_assert_uint_gt(nb, 0);
            expect_same(got, na, want, nb, s ? "ADWIN errors" : "ADWIN confidence");
            hitl_drift_monitor_free(m);
        }
    }
}
END_TEST

START_TEST(test_psi_reference)
{
    recorded();
    const float *conf = R.conf;
    size_t *got = R.got;
    /* threshold 0.1; then the significance form at alpha 0.01 with 10 bins:
     * (2/500) times chi2_9's 99% quantile, 21.666 (scipy; Wilson-Hilferty
     * gives 21.697) */
    for (int k = 0; k < 2; k++) {
        hitl_drift_monitor *m = monitor_with(HITL_DRIFT_PSI);
        ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_PSI_WINDOW, 500), HITL_OK);
        if (k)
            ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_PSI_ALPHA, 0.01), HITL_OK);
        else
            ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_PSI_THRESHOLD, 0.1), HITL_OK);
        feed(m, conf, NULL, REC);
        double psi_last = 0, lim = minfo(m, HITL_DRIFT_INFO_PSI_LIMIT);
        if (k)
            ck_assert_double_eq_tol(lim, 2.0 / 500 * 21.666, 2.0 / 500 * 0.05);
        size_t na = monitor_fires(got, m);
        size_t nb = ref_psi(R.want, &psi_last, R.xc, REC, 500, 10, lim);
        ck_assert_uint_gt(nb, 0);
        expect_same(got, na, R.want, nb, k ? "PSI significance" : "PSI 0.1");
        ck_assert_double_eq_tol(minfo(m, HITL_DRIFT_INFO_PSI), psi_last, 1e-12);
        for (size_t i = 0; i < na; i++) {
            ck_assert_double_eq_tol(ev(m, i, HITL_DRIFT_EVENT_THRESHOLD), lim, 1e-15);
            ck_assert(ev(m, i, HITL_DRIFT_EVENT_STATISTIC) > lim);
            ck_assert_double_eq(ev(m, i, HITL_DRIFT_EVENT_CHANGE_AT), (double)(got[i] - 500));
        }
        hitl_drift_monitor_free(m);
    }
}
END_TEST

/* ---- delay and false alarms ------------------------------------------------------ */

/* Items per stationary run: 2 x 10^5, or 10^6 with HITL_DRIFT_LONG=1. */
static size_t stationary_items(void)
{
    const char *e = getenv("HITL_DRIFT_LONG");
    return e && *e && strcmp(e, "0") ? 1000000 : 200000;
}

/* For one detector and stream: false alarms per 10^6 items on a stationary
 * stream, and the mean delay over `runs` streams changing at item 5000
 * (items after the change until the first event at or after it; a run
 * that never detects within 20000 items counts as 20000 and as missed). */
static hitl_drift_monitor *monitor_alpha(int det, double psi_alpha)
{
    hitl_drift_monitor *m = monitor_with(det);
    ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_PSI_ALPHA,
                                                  psi_alpha), HITL_OK);
    return m;
}

static void delay_and_alarms(int det, int stream, double psi_alpha,
                             double max_alarms, double max_delay)
{
    const char *dn = det == HITL_DRIFT_PAGE_HINKLEY ? "Page-Hinkley" :
                     det == HITL_DRIFT_ADWIN ? "ADWIN" : "PSI";
    const char *sn = stream == HITL_DRIFT_STREAM_CONFIDENCE ? "confidence" : "errors";
    size_t N = stationary_items(), chunk = 1000;
    float conf[1000];
    uint8_t ok[1000];
    hitl_drift_monitor *m = monitor_alpha(det, psi_alpha);
    rng_state = 777 + (uint64_t)det * 10 + (uint64_t)stream;
    for (size_t at = 0; at < N; at += chunk) {
        for (size_t i = 0; i < chunk; i++) {
            conf[i] = conf_draw(0);
            ok[i] = correct_draw(0);
        }
        int c = stream == HITL_DRIFT_STREAM_CONFIDENCE;
        ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, c ? conf : NULL, c ? chunk : 0,
                                                    c ? NULL : ok, c ? 0 : chunk), HITL_OK);
    }
    double alarms = minfo(m, HITL_DRIFT_INFO_EVENTS) * 1e6 / (double)N;
    hitl_drift_monitor_free(m);

    const size_t runs = 20, change = 5000, horizon = 20000;
    double delay_sum = 0;
    size_t missed = 0, early = 0;
    for (size_t r = 0; r < runs; r++) {
        m = monitor_alpha(det, psi_alpha);
        size_t delay = horizon, seen = 0;
        for (size_t at = 0; at < change + horizon && delay == horizon; at += chunk) {
            for (size_t i = 0; i < chunk; i++) {
                conf[i] = conf_draw(at + i >= change);
                ok[i] = correct_draw(at + i >= change);
            }
            int c = stream == HITL_DRIFT_STREAM_CONFIDENCE;
            ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, c ? conf : NULL, c ? chunk : 0,
                                                        c ? NULL : ok, c ? 0 : chunk), HITL_OK);
            size_t n_ev = (size_t)minfo(m, HITL_DRIFT_INFO_EVENTS);
            for (; seen < n_ev; seen++) {
                size_t t = (size_t)ev(m, seen, HITL_DRIFT_EVENT_AT);
                if (t <= change)
                    early++;
                else if (t - change < delay && ev(m, seen, HITL_DRIFT_EVENT_HARMFUL) == 1)
                    delay = t - change;
            }
        }
        missed += delay == horizon;
        delay_sum += (double)delay;
        hitl_drift_monitor_free(m);
    }
    double mean_delay = delay_sum / (double)runs;
    if (psi_alpha > 0)
        dn = "PSI, alpha .01";
    printf("# %-14s on %-10s: false alarms %7.1f per 10^6 stationary items "
           "(%zu items; bound %g); mean delay %6.0f items (20 runs, bound %g; "
           "%zu missed, %zu events before the change)\n",
           dn, sn, alarms, N, max_alarms, mean_delay, max_delay, missed, early);
    ck_assert_msg(alarms <= max_alarms, "%s on %s: %g false alarms per 10^6",
                  dn, sn, alarms);
    ck_assert_msg(mean_delay <= max_delay, "%s on %s: mean delay %g", dn, sn,
                  mean_delay);
    ck_assert_uint_eq(missed, 0);
}

/* Bounds: about twice what the long run measures (see the report), so that
 * a regression shows and a different seed does not. */
START_TEST(test_delay_ph_conf) { delay_and_alarms(HITL_DRIFT_PAGE_HINKLEY, HITL_DRIFT_STREAM_CONFIDENCE, 0, 50, 1000); }
END_TEST
START_TEST(test_delay_ph_err) { delay_and_alarms(HITL_DRIFT_PAGE_HINKLEY, HITL_DRIFT_STREAM_ERROR, 0, 100, 500); }
END_TEST
START_TEST(test_delay_adwin_conf) { delay_and_alarms(HITL_DRIFT_ADWIN, HITL_DRIFT_STREAM_CONFIDENCE, 0, 20, 400); }
END_TEST
START_TEST(test_delay_adwin_err) { delay_and_alarms(HITL_DRIFT_ADWIN, HITL_DRIFT_STREAM_ERROR, 0, 20, 300); }
END_TEST
START_TEST(test_delay_psi) { delay_and_alarms(HITL_DRIFT_PSI, HITL_DRIFT_STREAM_CONFIDENCE, 0, 10, 1000); }
END_TEST
/* The significance form at alpha 0.01: about 1% of the windows, i.e. 10
 * false alarms per 10^6 items with windows of 1000, if the limit holds. */
START_TEST(test_delay_psi_alpha) { delay_and_alarms(HITL_DRIFT_PSI, HITL_DRIFT_STREAM_CONFIDENCE, 0.01, 40, 1000); }
END_TEST


/* ---- the router's alert ----------------------------------------------------------- */

START_TEST(test_router_alert)
{
    hitl_router *r = NULL;
    ck_assert_int_eq(hitl_router_create(&r, 2), HITL_OK);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_THRESHOLD, 0.8), HITL_OK);
    const float proba[8] = { 0.95f, 0.05f, 0.6f, 0.4f, 0.1f, 0.9f, 0.99f, 0.01f };
    const int32_t labels[4] = { 0, 0, 1, 0 };
    size_t acc;
    ck_assert_int_eq(hitl_router_route(&acc, NULL, NULL, NULL, r, proba, 4), HITL_OK);
    ck_assert_uint_eq(acc, 3);

    /* a harmful event of a linked monitor raises the router's alert */
    hitl_drift_monitor *m = monitor_with(HITL_DRIFT_ADWIN);
    ck_assert_int_eq(hitl_drift_monitor_set_router(m, r), HITL_OK);
    float conf[4000];
    uint8_t ok[4000];
    rng_state = 5;
    for (size_t i = 0; i < 4000; i++) {
        conf[i] = conf_draw(i >= 2000);
        ok[i] = correct_draw(i >= 2000);
    }
    size_t n_ev = 0;
    ck_assert_int_eq(hitl_drift_monitor_observe(&n_ev, m, conf, 4000, ok, 4000), HITL_OK);
    ck_assert_uint_gt(n_ev, 0);
    ck_assert_double_eq(minfo(m, HITL_DRIFT_INFO_ALERT), 1);
    double v;
    ck_assert_int_eq(hitl_router_get_param(&v, r, HITL_PARAM_ROUTE_ALERT), HITL_OK);
    ck_assert_double_eq(v, 1);
    /* the first event is on the confidence stream (fed first), harmful:
     * confidence fell; its evidence says so */
    ck_assert_double_eq(ev(m, 0, HITL_DRIFT_EVENT_DETECTOR), HITL_DRIFT_ADWIN);
    ck_assert_double_eq(ev(m, 0, HITL_DRIFT_EVENT_STREAM), HITL_DRIFT_STREAM_CONFIDENCE);
    ck_assert(ev(m, 0, HITL_DRIFT_EVENT_AFTER) < ev(m, 0, HITL_DRIFT_EVENT_BEFORE));
    ck_assert(ev(m, 0, HITL_DRIFT_EVENT_AT) > 2000);
    ck_assert(ev(m, 0, HITL_DRIFT_EVENT_STATISTIC) > ev(m, 0, HITL_DRIFT_EVENT_THRESHOLD));
    ck_assert_double_eq(ev(m, 0, HITL_DRIFT_EVENT_HARMFUL), 1);

    /* on alert: the default alert threshold +Inf sends everything to review */
    ck_assert_int_eq(hitl_router_route(&acc, NULL, NULL, NULL, r, proba, 4), HITL_OK);
    ck_assert_uint_eq(acc, 0);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_ALERT_THRESHOLD, 0.97), HITL_OK);
    ck_assert_int_eq(hitl_router_route(&acc, NULL, NULL, NULL, r, proba, 4), HITL_OK);
    ck_assert_uint_eq(acc, 1);
    /* an alert threshold below the threshold changes nothing */
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_ALERT_THRESHOLD, 0.5), HITL_OK);
    ck_assert_int_eq(hitl_router_route(&acc, NULL, NULL, NULL, r, proba, 4), HITL_OK);
    ck_assert_uint_eq(acc, 3);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_ALERT_THRESHOLD, 0.97), HITL_OK);
    /* capacity mode: the raised threshold, capped by the capacity */
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_MODE, HITL_ROUTE_CAPACITY), HITL_OK);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_CAPACITY, 0.5), HITL_OK);
    ck_assert_int_eq(hitl_router_route(&acc, NULL, NULL, NULL, r, proba, 4), HITL_OK);
    ck_assert_uint_eq(acc, 2);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_MODE, HITL_ROUTE_PRECISION), HITL_OK);
    /* evaluate keeps it; calibration clears it */
    ck_assert_int_eq(hitl_router_evaluate(r, proba, labels, 4), HITL_OK);
    ck_assert_int_eq(hitl_router_get_param(&v, r, HITL_PARAM_ROUTE_ALERT), HITL_OK);
    ck_assert_double_eq(v, 1);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_LEVEL, 0), HITL_OK);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_TARGET, 0.5), HITL_OK);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 4), HITL_OK);
    ck_assert_int_eq(hitl_router_get_param(&v, r, HITL_PARAM_ROUTE_ALERT), HITL_OK);
    ck_assert_double_eq(v, 0);
    /* the monitor's alert stays until it is reset */
    ck_assert_double_eq(minfo(m, HITL_DRIFT_INFO_ALERT), 1);
    double events = minfo(m, HITL_DRIFT_INFO_EVENTS);
    ck_assert_int_eq(hitl_drift_monitor_reset(m), HITL_OK);
    ck_assert_double_eq(minfo(m, HITL_DRIFT_INFO_ALERT), 0);
    ck_assert_double_eq(minfo(m, HITL_DRIFT_INFO_EVENTS), events);
    ck_assert(isnan(minfo(m, HITL_DRIFT_INFO_PSI)));
    ck_assert_double_eq(minfo(m, HITL_DRIFT_INFO_N_CONFIDENCE), 4000);
    ck_assert_double_eq(minfo(m, HITL_DRIFT_INFO_N_REVIEWED), 4000);
    /* by hand */
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_ALERT, 1), HITL_OK);
    ck_assert_int_eq(hitl_router_get_param(&v, r, HITL_PARAM_ROUTE_ALERT_THRESHOLD), HITL_OK);
    ck_assert_double_eq(v, 0.97);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_ALERT, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_ALERT_THRESHOLD, -1), HITL_EINVAL);
    hitl_drift_monitor_free(m);
    hitl_router_free(r);
}
END_TEST

/* Events are the same whatever the batches. */
START_TEST(test_batching)
{
    recorded();
    const float *conf = R.conf;
    const uint8_t *ok = R.ok;
    hitl_drift_monitor *a = monitor_with(7), *b = monitor_with(7);
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, a, conf, REC, ok, REC), HITL_OK);
    for (size_t i = 0; i < REC; i++)
        ck_assert_int_eq(hitl_drift_monitor_observe(NULL, b, conf + i, 1, NULL, 0), HITL_OK);
    for (size_t i = 0; i < REC; i++)
        ck_assert_int_eq(hitl_drift_monitor_observe(NULL, b, NULL, 0, ok + i, 1), HITL_OK);
    double na = minfo(a, HITL_DRIFT_INFO_EVENTS);
    ck_assert_double_eq(na, minfo(b, HITL_DRIFT_INFO_EVENTS));
    ck_assert(na >= 4);
    for (uint64_t i = 0; i < (uint64_t)na; i++)
        for (int f = HITL_DRIFT_EVENT_DETECTOR; f <= HITL_DRIFT_EVENT_HARMFUL; f++) {
            double x = ev(a, i, f), y = ev(b, i, f);
            ck_assert(x == y || (isnan(x) && isnan(y)));
        }
    ck_assert_double_eq(minfo(a, HITL_DRIFT_INFO_ERROR_RATE), minfo(b, HITL_DRIFT_INFO_ERROR_RATE));
    ck_assert(minfo(a, HITL_DRIFT_INFO_ERROR_RATE) > 0.2);
    ck_assert(minfo(a, HITL_DRIFT_INFO_CONFIDENCE) < 0.85);
    hitl_drift_monitor_free(a);
    hitl_drift_monitor_free(b);
}
END_TEST

/* ---- parameters, errors, memory ----------------------------------------------- */

START_TEST(test_params)
{
    hitl_drift_monitor *m = NULL;
    ck_assert_int_eq(hitl_drift_monitor_create(NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_drift_monitor_create(&m), HITL_OK);
    const struct { hitl_param p; double def; } defs[] = {
        { HITL_PARAM_MONITOR_DETECTORS, 7 }, { HITL_PARAM_MONITOR_PH_DELTA, 0.005 },
        { HITL_PARAM_MONITOR_PH_LAMBDA, 50 }, { HITL_PARAM_MONITOR_PH_ALPHA, 0.9999 },
        { HITL_PARAM_MONITOR_PH_MIN, 30 }, { HITL_PARAM_MONITOR_ADWIN_DELTA, 0.002 },
        { HITL_PARAM_MONITOR_ADWIN_BUCKETS, 5 }, { HITL_PARAM_MONITOR_ADWIN_CLOCK, 32 },
        { HITL_PARAM_MONITOR_PSI_WINDOW, 1000 }, { HITL_PARAM_MONITOR_PSI_BINS, 10 },
        { HITL_PARAM_MONITOR_PSI_THRESHOLD, 0.25 }, { HITL_PARAM_MONITOR_PSI_ALPHA, 0 },
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        double v;
        ck_assert_int_eq(hitl_drift_monitor_get_param(&v, m, defs[i].p), HITL_OK);
        ck_assert_double_eq(v, defs[i].def);
    }
    const struct { hitl_param p; double bad; const char *msg; } bad[] = {
        { HITL_PARAM_MONITOR_DETECTORS, 0, "detectors" },
        { HITL_PARAM_MONITOR_DETECTORS, 8, "detectors" },
        { HITL_PARAM_MONITOR_DETECTORS, 1.5, "detectors" },
        { HITL_PARAM_MONITOR_PH_DELTA, -0.1, "Page-Hinkley delta" },
        { HITL_PARAM_MONITOR_PH_DELTA, INFINITY, "Page-Hinkley delta" },
        { HITL_PARAM_MONITOR_PH_LAMBDA, 0, "Page-Hinkley lambda" },
        { HITL_PARAM_MONITOR_PH_ALPHA, 0, "Page-Hinkley alpha" },
        { HITL_PARAM_MONITOR_PH_ALPHA, 1.01, "Page-Hinkley alpha" },
        { HITL_PARAM_MONITOR_PH_MIN, 0, "minimum items" },
        { HITL_PARAM_MONITOR_PH_MIN, 2.5, "minimum items" },
        { HITL_PARAM_MONITOR_ADWIN_DELTA, 0, "ADWIN delta" },
        { HITL_PARAM_MONITOR_ADWIN_DELTA, 1, "ADWIN delta" },
        { HITL_PARAM_MONITOR_ADWIN_BUCKETS, 1, "ADWIN buckets" },
        { HITL_PARAM_MONITOR_ADWIN_BUCKETS, 65, "ADWIN buckets" },
        { HITL_PARAM_MONITOR_ADWIN_CLOCK, 0, "ADWIN clock" },
        { HITL_PARAM_MONITOR_PSI_WINDOW, 9, "PSI window" },
        { HITL_PARAM_MONITOR_PSI_BINS, 1, "PSI bins" },
        { HITL_PARAM_MONITOR_PSI_BINS, 101, "PSI bins" },
        { HITL_PARAM_MONITOR_PSI_THRESHOLD, 0, "PSI threshold" },
        { HITL_PARAM_MONITOR_PSI_ALPHA, 0.5, "PSI alpha" },
        { HITL_PARAM_MONITOR_PSI_ALPHA, -0.1, "PSI alpha" },
        { HITL_PARAM_ROUTE_THRESHOLD, 0.5, "not a drift monitor parameter" },
        { HITL_PARAM_MONITOR_PH_DELTA, NAN, "NaN" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double before, after;
        hitl_param q = bad[i].p == HITL_PARAM_ROUTE_THRESHOLD ? HITL_PARAM_MONITOR_PH_DELTA : bad[i].p;
        ck_assert_int_eq(hitl_drift_monitor_get_param(&before, m, q), HITL_OK);
        ck_assert_int_eq(hitl_drift_monitor_set_param(m, bad[i].p, bad[i].bad), HITL_EINVAL);
        msg_has(bad[i].msg);
        ck_assert_int_eq(hitl_drift_monitor_get_param(&after, m, q), HITL_OK);
        ck_assert_double_eq(before, after);
    }
    double v;
    ck_assert_int_eq(hitl_drift_monitor_set_param(NULL, HITL_PARAM_MONITOR_PH_DELTA, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_drift_monitor_get_param(NULL, m, HITL_PARAM_MONITOR_PH_DELTA), HITL_EINVAL);
    ck_assert_int_eq(hitl_drift_monitor_get_param(&v, m, HITL_PARAM_ROUTE_THRESHOLD), HITL_EINVAL);
    ck_assert_int_eq(hitl_drift_monitor_get_info(&v, m, 99), HITL_EINVAL);
    ck_assert_int_eq(hitl_drift_monitor_get_info(NULL, m, HITL_DRIFT_INFO_ALERT), HITL_EINVAL);
    ck_assert(isnan(minfo(m, HITL_DRIFT_INFO_PSI_LIMIT)));
    ck_assert(isnan(minfo(m, HITL_DRIFT_INFO_ERROR_RATE)));
    ck_assert_int_eq(hitl_drift_monitor_event(&v, m, 0, HITL_DRIFT_EVENT_AT), HITL_ENOTFOUND);
    msg_has("not in the log");
    ck_assert_int_eq(hitl_drift_monitor_event(&v, m, 0, 42), HITL_EINVAL);
    ck_assert_int_eq(hitl_drift_monitor_set_router(NULL, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_drift_monitor_reset(NULL), HITL_EINVAL);

    /* observe: everything is checked before anything is observed */
    float conf[3] = { 0.5f, 0.9f, 0.7f };
    uint8_t ok[3] = { 1, 0, 1 };
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, NULL, conf, 3, ok, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, NULL, 3, ok, 3), HITL_EINVAL);
    msg_has("confidence is NULL");
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, conf, 3, NULL, 2), HITL_EINVAL);
    msg_has("correct is NULL");
    conf[2] = 1.5f;
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, conf, 3, ok, 3), HITL_EINVAL);
    msg_has("confidence[2]");
    conf[2] = NAN;
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, conf, 3, ok, 3), HITL_ENUMERIC);
    msg_has("confidence[2]");
    conf[2] = 0.7f;
    ok[1] = 2;
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, conf, 3, ok, 3), HITL_EINVAL);
    msg_has("correct[1]");
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, conf, SIZE_MAX, NULL, 0), HITL_EINVAL);
    ck_assert_double_eq(minfo(m, HITL_DRIFT_INFO_N_CONFIDENCE), 0);
    ck_assert_double_eq(minfo(m, HITL_DRIFT_INFO_N_REVIEWED), 0);
    size_t n_ev = 9;
    ck_assert_int_eq(hitl_drift_monitor_observe(&n_ev, m, NULL, 0, NULL, 0), HITL_OK);
    ck_assert_uint_eq(n_ev, 0);
    hitl_drift_monitor_free(m);
    hitl_drift_monitor_free(NULL);
}
END_TEST

/* The log keeps the last 1024 events. */
START_TEST(test_log_ring)
{
    hitl_drift_monitor *m = monitor_with(HITL_DRIFT_PAGE_HINKLEY);
    ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_PH_LAMBDA, 0.5), HITL_OK);
    ck_assert_int_eq(hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_PH_MIN, 1), HITL_OK);
    static uint8_t ok[20000];
    rng_state = 3;
    for (size_t i = 0; i < 20000; i++)
        ok[i] = unit() < 0.5;
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, NULL, 0, ok, 20000), HITL_OK);
    double n = minfo(m, HITL_DRIFT_INFO_EVENTS), v;
    ck_assert(n > 1100);
    ck_assert_int_eq(hitl_drift_monitor_event(&v, m, (uint64_t)n - 1025, HITL_DRIFT_EVENT_AT), HITL_ENOTFOUND);
    ck_assert_int_eq(hitl_drift_monitor_event(&v, m, (uint64_t)n - 1024, HITL_DRIFT_EVENT_AT), HITL_OK);
    ck_assert_int_eq(hitl_drift_monitor_event(&v, m, (uint64_t)n - 1, HITL_DRIFT_EVENT_AT), HITL_OK);
    ck_assert(v <= 20000 && v > 19000);
    ck_assert_int_eq(hitl_drift_monitor_event(&v, m, (uint64_t)n, HITL_DRIFT_EVENT_AT), HITL_ENOTFOUND);
    hitl_drift_monitor_free(m);
}
END_TEST

START_TEST(test_oom)
{
    oom_install();
    for (long k = 0;; k++) {
        hitl_drift_monitor *m = NULL;
        oom_arm(k);
        int rc = hitl_drift_monitor_create(&m);
        oom_arm(-1);
        if (rc == HITL_OK) {
            ck_assert_ptr_nonnull(m);
            hitl_drift_monitor_free(m);
            break;
        }
        ck_assert_int_eq(rc, HITL_ENOMEM);
        ck_assert_ptr_null(m);
    }
    hitl_drift_monitor *m = NULL;
    ck_assert_int_eq(hitl_drift_monitor_create(&m), HITL_OK);
    for (long k = 0;; k++) {
        oom_arm(k);
        int rc = hitl_drift_monitor_set_param(m, HITL_PARAM_MONITOR_PSI_WINDOW, 2000);
        oom_arm(-1);
        double v;
        ck_assert_int_eq(hitl_drift_monitor_get_param(&v, m, HITL_PARAM_MONITOR_PSI_WINDOW), HITL_OK);
        if (rc == HITL_OK) {
            ck_assert_double_eq(v, 2000);
            break;
        }
        ck_assert_int_eq(rc, HITL_ENOMEM);
        ck_assert_double_eq(v, 1000);
        float c = 0.5f;   /* still usable */
        ck_assert_int_eq(hitl_drift_monitor_observe(NULL, m, &c, 1, NULL, 0), HITL_OK);
    }
    hitl_drift_monitor_free(m);
    oom_uninstall();
}
END_TEST

/* Saved halfway, the restored monitor goes on exactly as the original. */
START_TEST(test_save_load)
{
    recorded();
    hitl_drift_monitor *a = monitor_with(7), *b = NULL;
    ck_assert_int_eq(hitl_drift_monitor_set_param(a, HITL_PARAM_MONITOR_PSI_WINDOW, 400), HITL_OK);
    ck_assert_int_eq(hitl_drift_monitor_set_param(a, HITL_PARAM_MONITOR_PH_LAMBDA, 10), HITL_OK);
    size_t half = REC / 2 + 300;
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, a, R.conf, half, R.ok, half), HITL_OK);
    ck_assert(minfo(a, HITL_DRIFT_INFO_EVENTS) > 0);
    size_t size, written;
    ck_assert_int_eq(hitl_drift_monitor_save_size(&size, a), HITL_OK);
    unsigned char *buf = malloc(size);
    ck_assert_int_eq(hitl_drift_monitor_save(&written, buf, size - 1, a), HITL_EINVAL);
    msg_has("capacity");
    ck_assert_int_eq(hitl_drift_monitor_save(&written, buf, size, a), HITL_OK);
    ck_assert_uint_eq(written, size);
    ck_assert_int_eq(hitl_drift_monitor_load(&b, buf, size), HITL_OK);
    for (hitl_param p = HITL_PARAM_MONITOR_DETECTORS; p <= HITL_PARAM_MONITOR_PSI_ALPHA; p++) {
        double x, y;
        ck_assert_int_eq(hitl_drift_monitor_get_param(&x, a, p), HITL_OK);
        ck_assert_int_eq(hitl_drift_monitor_get_param(&y, b, p), HITL_OK);
        ck_assert_double_eq(x, y);
    }
    size_t rest = REC - half;
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, a, R.conf + half, rest, R.ok + half, rest), HITL_OK);
    ck_assert_int_eq(hitl_drift_monitor_observe(NULL, b, R.conf + half, rest, R.ok + half, rest), HITL_OK);
    double n = minfo(a, HITL_DRIFT_INFO_EVENTS);
    ck_assert_double_eq(n, minfo(b, HITL_DRIFT_INFO_EVENTS));
    for (uint64_t i = 0; i < (uint64_t)n; i++)
        for (int f = HITL_DRIFT_EVENT_DETECTOR; f <= HITL_DRIFT_EVENT_HARMFUL; f++) {
            double x = ev(a, i, f), y = ev(b, i, f);
            ck_assert(x == y || (isnan(x) && isnan(y)));
        }
    for (int f = HITL_DRIFT_INFO_ALERT; f <= HITL_DRIFT_INFO_CONFIDENCE; f++) {
        double x = minfo(a, f), y = minfo(b, f);
        ck_assert(x == y || (isnan(x) && isnan(y)));
    }
    /* every flipped byte and every truncation is refused */
    for (size_t i = 0; i < size; i += 7) {
        hitl_drift_monitor *c = NULL;
        buf[i] ^= 0x10;
        ck_assert_int_eq(hitl_drift_monitor_load(&c, buf, size), HITL_EFORMAT);
        ck_assert_ptr_null(c);
        buf[i] ^= 0x10;
        ck_assert_int_eq(hitl_drift_monitor_load(&c, buf, i), HITL_EFORMAT);
    }
    ck_assert_int_eq(hitl_drift_monitor_load(NULL, buf, size), HITL_EINVAL);
    ck_assert_int_eq(hitl_drift_monitor_save_size(NULL, a), HITL_EINVAL);
    hitl_drift_monitor_free(a);
    hitl_drift_monitor_free(b);
    /* out of memory while loading (no handle may live while the allocator
     * changes) */
    oom_install();
    for (long k = 0;; k++) {
        hitl_drift_monitor *c = NULL;
        oom_arm(k);
        int rc = hitl_drift_monitor_load(&c, buf, size);
        oom_arm(-1);
        if (rc == HITL_OK) {
            hitl_drift_monitor_free(c);
            break;
        }
        ck_assert_int_eq(rc, HITL_ENOMEM);
        ck_assert_ptr_null(c);
    }
    oom_uninstall();
    free(buf);
}
END_TEST

static Suite *monitor_suite(void)
{
    Suite *s = suite_create("monitor");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ph_reference);
    tcase_add_test(tc, test_adwin_reference);
    tcase_add_test(tc, test_psi_reference);
    suite_add_tcase(s, tc);
    tc = tcase_create("delay");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_delay_ph_conf);
    tcase_add_test(tc, test_delay_ph_err);
    tcase_add_test(tc, test_delay_adwin_conf);
    tcase_add_test(tc, test_delay_adwin_err);
    tcase_add_test(tc, test_delay_psi);
    tcase_add_test(tc, test_delay_psi_alpha);
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_add_test(tc, test_router_alert);
    tcase_add_test(tc, test_batching);
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_log_ring);
    tcase_add_test(tc, test_oom);
    tcase_add_test(tc, test_save_load);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(monitor_suite)
