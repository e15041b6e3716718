/* Routing: the calibration rule on a hand-worked set and against a brute
 * force on random sets (with ties), the exact binomial bound against values
 * from scipy, temperature scaling recovering a known temperature and
 * lowering NLL/ECE on an over-confident model, decisions, parameters, every
 * error path (router unchanged), out-of-memory recovery, and the end-to-end
 * run on the UCI digits: a logistic regression fitted on one split, the
 * threshold calibrated on a second, the target precision met on a third. */
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define DIGITS HITL_SRCDIR "/data/digits.csv.gz"

static void msg_has(const char *part)
{
    ck_assert_msg(strstr(hitl_error_message(), part) != NULL,
                  "message \"%s\" lacks \"%s\"", hitl_error_message(), part);
}

/* splitmix64: a fixed-seed generator for the synthetic sets. */
static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double rng_unit(void)   /* [0, 1) */
{
    return (double)(rng_next() >> 11) * 0x1.0p-53;
}

static hitl_router *new_router(size_t k)
{
    hitl_router *r = NULL;
    ck_assert_int_eq(hitl_router_create(&r, k), HITL_OK);
    ck_assert_ptr_nonnull(r);
    return r;
}

static double param(const hitl_router *r, hitl_param p)
{
    double v;
    ck_assert_int_eq(hitl_router_get_param(&v, r, p), HITL_OK);
    return v;
}

static void set(hitl_router *r, hitl_param p, double v)
{
    ck_assert_int_eq(hitl_router_set_param(r, p, v), HITL_OK);
}

static double info(const hitl_router *r, hitl_router_info i)
{
    double v;
    ck_assert_int_eq(hitl_router_get_info(&v, r, i), HITL_OK);
    return v;
}

/* The library's confidence at T = 1, same operations in the same order. */
static double conf1(const float *p, size_t k)
{
    size_t top = 0;
    for (size_t c = 1; c < k; c++)
        if (p[c] > p[top])
            top = c;
    double z = 0, pmax = p[top] > 0 ? p[top] : FLT_TRUE_MIN;
    for (size_t c = 0; c < k; c++)
        z += (p[c] > 0 ? p[c] : FLT_TRUE_MIN) / pmax;
    return 1.0 / z;
}

static int32_t argmax(const float *p, size_t k)
{
    size_t top = 0;
    for (size_t c = 1; c < k; c++)
        if (p[c] > p[top])
            top = c;
    return (int32_t)top;
}

/* The library's confidence at 1/T = beta != 1, same operations. */
static double conf_beta(const float *p, size_t k, double beta)
{
    if (beta == 1.0)
        return conf1(p, k);
    double lmax = log(fmax(p[argmax(p, k)], FLT_TRUE_MIN)), z = 0;
    for (size_t c = 0; c < k; c++)
        z += exp(beta * (log(fmax(p[c], FLT_TRUE_MIN)) - lmax));
    return 1.0 / z;
}

/* ---- the calibration rule ----------------------------------------------------- */

/* Seven items, two classes, confidence = p[0] (label 0 = correct):
 *   conf   .99 .95 .90 .85 .80 .70 .60
 *   right   y   y   n   y   y   n   y
 * Precision of {conf >= t}: 1, 1, 2/3, 3/4, 4/5, 4/6, 5/7.  For target 0.75
 * with the point estimate the smallest t that meets it is .80 (precision is
 * not monotone: .90 fails, .85 and .80 pass, .70 fails).  At .80: 5 of 7
 * accepted (review rate 2/7), 1 of the 2 errors caught, precision 0.8. */
static const float hand_conf[7] = { .99f, .95f, .90f, .85f, .80f, .70f, .60f };
static const int hand_right[7] = { 1, 1, 0, 1, 1, 0, 1 };

static void hand_set(float *proba, int32_t *labels)
{
    for (size_t i = 0; i < 7; i++) {
        proba[2 * i] = hand_conf[i];
        proba[2 * i + 1] = 1.0f - hand_conf[i];
        labels[i] = hand_right[i] ? 0 : 1;
    }
}

START_TEST(test_hand_worked)
{
    float proba[14];
    int32_t labels[7];
    hand_set(proba, labels);
    hitl_router *r = new_router(2);
    set(r, HITL_PARAM_ROUTE_TARGET, 0.75);
    set(r, HITL_PARAM_ROUTE_LEVEL, 0);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 7), HITL_OK);
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_THRESHOLD), conf1(proba + 8, 2));
    ck_assert_double_eq_tol(param(r, HITL_PARAM_ROUTE_THRESHOLD), 0.80, 1e-6);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N), 7);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ACCEPTED), 5);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ERRORS), 2);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ERRORS_ACCEPTED), 1);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_REVIEW_RATE), 2.0 / 7, 1e-15);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_ERRORS_CAUGHT), 0.5);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_PRECISION), 0.8);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_PRECISION_LOWER), 0.8);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_ACCURACY), 5.0 / 7, 1e-15);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), 1);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_FIT_ITERATIONS), 0);

    /* Target 0.8 exactly: still .80 (4/5 == 0.8 counts as meeting it). */
    set(r, HITL_PARAM_ROUTE_TARGET, 0.8);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 7), HITL_OK);
    ck_assert_double_eq_tol(param(r, HITL_PARAM_ROUTE_THRESHOLD), 0.80, 1e-6);
    /* Target 0.9: only .95 and .99 qualify; the smallest is .95. */
    set(r, HITL_PARAM_ROUTE_TARGET, 0.9);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 7), HITL_OK);
    ck_assert_double_eq_tol(param(r, HITL_PARAM_ROUTE_THRESHOLD), 0.95, 1e-6);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_ERRORS_CAUGHT), 1);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_REVIEW_RATE), 5.0 / 7, 1e-15);
    /* With the exact bound at 0.95, seven items can never show 0.9: review
     * everything, and say so. */
    set(r, HITL_PARAM_ROUTE_LEVEL, 0.95);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 7), HITL_OK);
    ck_assert(isinf(param(r, HITL_PARAM_ROUTE_THRESHOLD)));
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), 0);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ACCEPTED), 0);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_REVIEW_RATE), 1);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_ERRORS_CAUGHT), 1);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_PRECISION), 1);
    hitl_router_free(r);
}
END_TEST

/* P(Bin(k, p) >= s), summed term by term in long double: the brute-force
 * counterpart of the library's incomplete beta. */
static double tail_sum(size_t s, size_t k, double p)
{
    long double sum = 0;
    for (size_t j = s; j <= k; j++)
        sum += expl(lgammal((long double)k + 1) - lgammal((long double)j + 1) -
                    lgammal((long double)(k - j) + 1) + (long double)j * logl(p) +
                    (long double)(k - j) * log1pl(-(long double)p));
    return (double)sum;
}

/* Brute force: every distinct confidence as a candidate, the rule of the
 * header applied literally, O(n^2). */
static double brute_threshold(const double *conf, const int *right, size_t n,
                              double target, double level)
{
    double best = INFINITY;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0, s = 0;
        for (size_t j = 0; j < n; j++)
            if (conf[j] >= conf[i]) {
                k++;
                s += (size_t)right[j];
            }
        int ok = (double)s / (double)k >= target &&
                 (level == 0 || tail_sum(s, k, target) <= 1 - level);
        if (ok && conf[i] < best)
            best = conf[i];
    }
    return best;
}

/* n items with K = 4 classes; rows drawn from `distinct` random rows (ties
 * when distinct < n); right with probability min(1, 0.35 + 0.7 conf^3) so
 * that precision rises with confidence, but not monotonically. */
static void random_set(float *proba, int32_t *labels, double *conf, int *right,
                       size_t n, size_t distinct)
{
    enum { K = 4 };
    static float rows[4000 * K];
    for (size_t d = 0; d < distinct; d++) {
        double z[K], sum = 0, sharp = 2 + 10 * rng_unit();
        for (size_t c = 0; c < K; c++)
            sum += z[c] = exp(sharp * rng_unit());
        for (size_t c = 0; c < K; c++)
            rows[d * K + c] = (float)(z[c] / sum);
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(proba + i * K, rows + (rng_next() % distinct) * K, sizeof(float) * K);
        conf[i] = conf1(proba + i * K, K);
        int32_t top = argmax(proba + i * K, K);
        right[i] = rng_unit() < 0.35 + 0.7 * pow(conf[i], 3);
        labels[i] = right[i] ? top : (top + 1 + (int32_t)(rng_next() % (K - 1))) % K;
    }
}

START_TEST(test_brute_force)
{
    enum { N = 1500, K = 4 };
    static float proba[N * K];
    static int32_t labels[N];
    static double conf[N];
    static int right[N];
    static const struct { size_t distinct; double target, level; } cases[] = {
        { N, 0.9, 0 }, { N, 0.95, 0 }, { N, 0.9, 0.95 }, { N, 0.95, 0.9 },
        { 40, 0.9, 0 }, { 40, 0.85, 0.95 }, { 7, 0.8, 0 }, { N, 0.999, 0.5 },
    };
    rng_state = 42;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        random_set(proba, labels, conf, right, N, cases[t].distinct);
        hitl_router *r = new_router(K);
        set(r, HITL_PARAM_ROUTE_TARGET, cases[t].target);
        set(r, HITL_PARAM_ROUTE_LEVEL, cases[t].level);
        ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, N), HITL_OK);
        double th = param(r, HITL_PARAM_ROUTE_THRESHOLD);
        double want = brute_threshold(conf, right, N, cases[t].target,
                                      cases[t].level);
        ck_assert_msg(th == want, "case %zu: threshold %.17g, brute force %.17g",
                      t, th, want);
        size_t acc = 0, err = 0, err_acc = 0;
        for (size_t i = 0; i < N; i++) {
            acc += conf[i] >= th;
            err += !right[i];
            err_acc += conf[i] >= th && !right[i];
        }
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ACCEPTED), acc);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ERRORS), err);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ERRORS_ACCEPTED), err_acc);
        ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_REVIEW_RATE),
                                (double)(N - acc) / N, 1e-15);
        ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_ERRORS_CAUGHT),
                                (double)(err - err_acc) / (double)err, 1e-15);
        if (acc)
            ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_PRECISION),
                                    (double)(acc - err_acc) / (double)acc, 1e-15);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), isfinite(want));
        printf("# brute force case %zu: target %.3f level %.2f: threshold %.6f, "
               "%zu of %d accepted, %zu errors accepted\n", t, cases[t].target,
               cases[t].level, th, acc, N, err_acc);
        ck_assert_msg(isfinite(want) || t == 7, "case %zu reached no threshold", t);

        /* The decisions of route agree with the threshold. */
        static uint8_t accept[N];
        static int32_t lab[N];
        static float cf[N];
        size_t n_acc = 0;
        ck_assert_int_eq(hitl_router_route(&n_acc, accept, lab, cf, r, proba, N),
                         HITL_OK);
        ck_assert_uint_eq(n_acc, acc);
        for (size_t i = 0; i < N; i++) {
            ck_assert_int_eq(accept[i], conf[i] >= th);
            ck_assert_int_eq(lab[i], argmax(proba + i * K, K));
            ck_assert_float_eq(cf[i], (float)conf[i]);
        }
        /* Evaluating the same set reproduces the calibration report. */
        double before = info(r, HITL_ROUTER_INFO_PRECISION_LOWER);
        ck_assert_int_eq(hitl_router_evaluate(r, proba, labels, N), HITL_OK);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ACCEPTED), acc);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_PRECISION_LOWER), before);
        ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_THRESHOLD), th);
        hitl_router_free(r);
    }
}
END_TEST

/* n right answers in a row with distinct confidences. */
static void all_right(float *proba, int32_t *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        proba[2 * i] = 0.5f + 0.49f * (float)(i + 1) / (float)n;
        proba[2 * i + 1] = 1.0f - proba[2 * i];
        labels[i] = 0;
    }
}

/* Target 0.99 at level 0.95 with no error needs 0.99^k <= 0.05, k >= 299
 * (0.99^298 = 0.05004, 0.99^299 = 0.04954).  The lower bound then is
 * 0.05^(1/299) = 0.9900308532 (scipy.stats.beta.ppf(0.05, 299, 1)). */
START_TEST(test_exact_bound)
{
    static float proba[2 * 299];
    static int32_t labels[299];
    hitl_router *r = new_router(2);
    all_right(proba, labels, 298);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 298), HITL_OK);
    ck_assert(isinf(param(r, HITL_PARAM_ROUTE_THRESHOLD)));
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), 0);
    all_right(proba, labels, 299);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 299), HITL_OK);
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_THRESHOLD), conf1(proba, 2));
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ACCEPTED), 299);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_PRECISION_LOWER),
                            0.9900308532071007, 1e-9);

    /* 95 right of 100 accepted at level 0.95: lower bound
     * beta.ppf(0.05, 95, 6) = 0.8977466224. */
    float p[200];
    int32_t y[100];
    all_right(p, y, 100);
    for (size_t i = 0; i < 5; i++)
        y[10 * i + 3] = 1;
    set(r, HITL_PARAM_ROUTE_THRESHOLD, 0);
    ck_assert_int_eq(hitl_router_evaluate(r, p, y, 100), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_PRECISION), 0.95);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_PRECISION_LOWER),
                            0.8977466223567255, 1e-9);
    /* 95/100 meets 0.9 at level 0.9? P(Bin(100, .9) >= 95) = 0.0576 <= 0.1:
     * yes; at level 0.95 (0.0576 > 0.05): no. */
    set(r, HITL_PARAM_ROUTE_TARGET, 0.9);
    set(r, HITL_PARAM_ROUTE_LEVEL, 0.9);
    ck_assert_int_eq(hitl_router_evaluate(r, p, y, 100), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), 1);
    set(r, HITL_PARAM_ROUTE_LEVEL, 0.95);
    ck_assert_int_eq(hitl_router_evaluate(r, p, y, 100), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), 0);
    /* Target 1 with a bound can never be met; with level 0 it can. */
    set(r, HITL_PARAM_ROUTE_TARGET, 1);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 299), HITL_OK);
    ck_assert(isinf(param(r, HITL_PARAM_ROUTE_THRESHOLD)));
    set(r, HITL_PARAM_ROUTE_LEVEL, 0);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 299), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ACCEPTED), 299);
    hitl_router_free(r);
}
END_TEST

/* ---- temperature scaling ----------------------------------------------------- */

/* Items with logits z ~ U(-2, 2)^K scaled by a per-item sharpness, labels
 * drawn from softmax(z) (the truth), and a model that reports
 * softmax(z * t_model): over-confident for t_model > 1.  Temperature
 * scaling should find T = t_model. */
static void tempered_set(float *proba, int32_t *labels, size_t n, size_t k,
                         double t_model)
{
    for (size_t i = 0; i < n; i++) {
        double z[16], e[16], sum = 0, sm = 0, sharp = 0.5 + 2 * rng_unit();
        for (size_t c = 0; c < k; c++) {
            z[c] = sharp * (4 * rng_unit() - 2);
            sum += e[c] = exp(z[c]);
        }
        double u = rng_unit() * sum, acc = 0;
        labels[i] = (int32_t)(k - 1);
        for (size_t c = 0; c < k; c++)
            if ((acc += e[c]) > u) {
                labels[i] = (int32_t)c;
                break;
            }
        for (size_t c = 0; c < k; c++)
            sm += e[c] = exp(t_model * z[c]);
        for (size_t c = 0; c < k; c++)
            proba[i * k + c] = (float)(e[c] / sm);
    }
}

START_TEST(test_temperature_recovers)
{
    enum { N = 20000, K = 5 };
    static float proba[N * K];
    static int32_t labels[N];
    static const double truths[] = { 2.5, 0.5, 1.0 };
    rng_state = 7;
    for (size_t t = 0; t < 3; t++) {
        tempered_set(proba, labels, N, K, truths[t]);
        hitl_router *r = new_router(K);
        set(r, HITL_PARAM_ROUTE_THRESHOLD, 0.9);
        ck_assert_int_eq(hitl_router_fit_temperature(r, proba, labels, N), HITL_OK);
        double T = param(r, HITL_PARAM_ROUTE_TEMPERATURE);
        printf("# temperature: true %.2f, fitted %.4f in %g passes; NLL %.4f -> "
               "%.4f, ECE %.4f -> %.4f\n", truths[t], T,
               info(r, HITL_ROUTER_INFO_FIT_ITERATIONS),
               info(r, HITL_ROUTER_INFO_NLL_RAW), info(r, HITL_ROUTER_INFO_NLL),
               info(r, HITL_ROUTER_INFO_ECE_RAW), info(r, HITL_ROUTER_INFO_ECE));
        ck_assert_double_eq_tol(T, truths[t], 0.05 * truths[t]);
        ck_assert_double_le(info(r, HITL_ROUTER_INFO_NLL),
                            info(r, HITL_ROUTER_INFO_NLL_RAW));
        ck_assert_double_lt(info(r, HITL_ROUTER_INFO_ECE), 0.02);
        if (truths[t] != 1.0) {
            ck_assert_double_lt(info(r, HITL_ROUTER_INFO_NLL),
                                info(r, HITL_ROUTER_INFO_NLL_RAW) - 0.01);
            ck_assert_double_gt(info(r, HITL_ROUTER_INFO_ECE_RAW), 0.05);
        }
        ck_assert_double_le(info(r, HITL_ROUTER_INFO_FIT_ITERATIONS), 30);
        /* The threshold was kept; the report counts at it. */
        ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_THRESHOLD), 0.9);
        hitl_router_free(r);
    }
}
END_TEST

/* The fitted T is a stationary point: the NLL at T (1 +- 1e-3) is not
 * lower, computed here independently from the report's definition. */
static double mean_nll(const float *proba, const int32_t *labels, size_t n,
                       size_t k, double T)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double m = -INFINITY, z = 0;
        for (size_t c = 0; c < k; c++)
            m = fmax(m, log(fmax(proba[i * k + c], FLT_TRUE_MIN)) / T);
        for (size_t c = 0; c < k; c++)
            z += exp(log(fmax(proba[i * k + c], FLT_TRUE_MIN)) / T - m);
        s += m + log(z) - log(fmax(proba[i * k + labels[i]], FLT_TRUE_MIN)) / T;
    }
    return s / (double)n;
}

START_TEST(test_temperature_optimal)
{
    enum { N = 3000, K = 3 };
    static float proba[N * K];
    static int32_t labels[N];
    rng_state = 99;
    tempered_set(proba, labels, N, K, 4.0);
    /* A zero probability on a true class keeps the NLL finite. */
    proba[0] = 0, proba[1] = 1, proba[2] = 0, labels[0] = 0;
    hitl_router *r = new_router(K);
    ck_assert_int_eq(hitl_router_fit_temperature(r, proba, labels, N), HITL_OK);
    double T = param(r, HITL_PARAM_ROUTE_TEMPERATURE);
    double f = mean_nll(proba, labels, N, K, T);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_NLL), f, 1e-9);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_NLL_RAW),
                            mean_nll(proba, labels, N, K, 1.0), 1e-9);
    ck_assert_double_le(f, mean_nll(proba, labels, N, K, T * 1.001) + 1e-12);
    ck_assert_double_le(f, mean_nll(proba, labels, N, K, T / 1.001) + 1e-12);
    hitl_router_free(r);

    /* Every prediction right and certain: the optimum is the interval end
     * T = 0.01.  Every prediction wrong: T = 100. */
    float p[6] = { 0.9f, 0.1f, 0.8f, 0.2f, 0.3f, 0.7f };
    int32_t y[3] = { 0, 0, 1 }, w[3] = { 1, 1, 0 };
    r = new_router(2);
    ck_assert_int_eq(hitl_router_fit_temperature(r, p, y, 3), HITL_OK);
    ck_assert_double_eq_tol(param(r, HITL_PARAM_ROUTE_TEMPERATURE), 0.01, 1e-12);
    ck_assert_int_eq(hitl_router_fit_temperature(r, p, w, 3), HITL_OK);
    ck_assert_double_eq_tol(param(r, HITL_PARAM_ROUTE_TEMPERATURE), 100, 1e-9);
    hitl_router_free(r);
}
END_TEST

/* ECE and NLL of the report against their definitions, computed here for
 * several bin counts and temperatures. */
static double ece_brute(const float *proba, const int32_t *y, size_t n,
                        size_t k, double beta, size_t bins)
{
    double cnt[64] = { 0 }, sc[64] = { 0 }, sr[64] = { 0 }, e = 0;
    for (size_t i = 0; i < n; i++) {
        double c = conf_beta(proba + i * k, k, beta);
        size_t b = (size_t)floor(c * (double)bins);
        b = b < bins ? b : bins - 1;
        cnt[b]++;
        sc[b] += c;
        sr[b] += argmax(proba + i * k, k) == y[i];
    }
    for (size_t b = 0; b < bins; b++)
        if (cnt[b] > 0)
            e += cnt[b] / (double)n * fabs(sr[b] / cnt[b] - sc[b] / cnt[b]);
    return e;
}

START_TEST(test_ece_nll)
{
    enum { N = 2000, K = 4 };
    static float proba[N * K];
    static int32_t labels[N];
    static double conf[N];
    static int right[N];
    rng_state = 11;
    random_set(proba, labels, conf, right, N, N);
    static const size_t bins[3] = { 15, 7, 1 };
    static const double temps[3] = { 1.0, 1.7, 0.6 };
    hitl_router *r = new_router(K);
    for (size_t b = 0; b < 3; b++)
        for (size_t t = 0; t < 3; t++) {
            set(r, HITL_PARAM_ROUTE_ECE_BINS, (double)bins[b]);
            set(r, HITL_PARAM_ROUTE_TEMPERATURE, temps[t]);
            ck_assert_int_eq(hitl_router_evaluate(r, proba, labels, N), HITL_OK);
            double beta = temps[t] == 1.0 ? 1.0 : 1.0 / temps[t];
            ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_ECE),
                                    ece_brute(proba, labels, N, K, beta, bins[b]),
                                    1e-12);
            ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_ECE_RAW),
                                    ece_brute(proba, labels, N, K, 1.0, bins[b]),
                                    1e-12);
            ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_NLL),
                                    mean_nll(proba, labels, N, K, temps[t]), 1e-9);
        }
    /* One bin: |accuracy - mean confidence|. */
    double acc = 0, mc = 0;
    for (size_t i = 0; i < N; i++) {
        acc += right[i];
        mc += conf_beta(proba + i * K, K, 1.0 / 0.6);
    }
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_ECE), fabs(acc - mc) / N, 1e-12);
    hitl_router_free(r);
}
END_TEST

/* Routing after scaling uses the scaled confidence: with T = 2 and two
 * classes, p = (0.9, 0.1) becomes 3/(3+1) = 0.75. */
START_TEST(test_route_tempered)
{
    float p[4] = { 0.9f, 0.1f, 0.2f, 0.8f };
    hitl_router *r = new_router(2);
    set(r, HITL_PARAM_ROUTE_TEMPERATURE, 2);
    set(r, HITL_PARAM_ROUTE_THRESHOLD, 0.74);
    uint8_t a[2];
    int32_t l[2];
    float c[2];
    size_t n = 9;
    ck_assert_int_eq(hitl_router_route(&n, a, l, c, r, p, 2), HITL_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(a[0], 1);
    ck_assert_int_eq(a[1], 0);
    ck_assert_int_eq(l[0], 0);
    ck_assert_int_eq(l[1], 1);
    ck_assert_float_eq_tol(c[0], 0.75f, 1e-6f);
    ck_assert_float_eq_tol(c[1], 2.0f / 3.0f, 1e-6f);
    /* Any output may be NULL; n 0 with NULL proba is fine. */
    ck_assert_int_eq(hitl_router_route(NULL, NULL, NULL, c, r, p, 2), HITL_OK);
    ck_assert_int_eq(hitl_router_route(&n, NULL, NULL, NULL, r, NULL, 0), HITL_OK);
    ck_assert_uint_eq(n, 0);
    /* A new router reviews everything. */
    hitl_router *fresh = new_router(2);
    ck_assert_int_eq(hitl_router_route(&n, a, NULL, NULL, fresh, p, 2), HITL_OK);
    ck_assert_uint_eq(n, 0);
    /* Threshold 0 accepts everything, ties of the top class go to the lower
     * class. */
    float tie[2] = { 0.5f, 0.5f };
    set(fresh, HITL_PARAM_ROUTE_THRESHOLD, 0);
    ck_assert_int_eq(hitl_router_route(&n, a, l, c, fresh, tie, 1), HITL_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(l[0], 0);
    ck_assert_float_eq(c[0], 0.5f);
    hitl_router_free(fresh);
    hitl_router_free(r);
}
END_TEST

/* ---- parameters and errors ----------------------------------------------------- */

START_TEST(test_params)
{
    hitl_router *r = new_router(3);
    ck_assert(isinf(param(r, HITL_PARAM_ROUTE_THRESHOLD)));
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_TARGET), 0.99);
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_LEVEL), 0.95);
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_TEMPERATURE), 1);
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_ECE_BINS), 15);
    static const struct { hitl_param p; double bad; } bad[] = {
        { HITL_PARAM_ROUTE_THRESHOLD, -0.1 }, { HITL_PARAM_ROUTE_THRESHOLD, NAN },
        { HITL_PARAM_ROUTE_TARGET, 0 }, { HITL_PARAM_ROUTE_TARGET, 1.01 },
        { HITL_PARAM_ROUTE_LEVEL, 1 }, { HITL_PARAM_ROUTE_LEVEL, -1e-9 },
        { HITL_PARAM_ROUTE_TEMPERATURE, 0 }, { HITL_PARAM_ROUTE_TEMPERATURE, INFINITY },
        { HITL_PARAM_ROUTE_ECE_BINS, 0 }, { HITL_PARAM_ROUTE_ECE_BINS, 2.5 },
        { HITL_PARAM_ROUTE_ECE_BINS, 1001 }, { HITL_PARAM_L2, 1 },
        { HITL_PARAM_SEED, 1 }, { (hitl_param)549, 1 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(hitl_router_set_param(r, bad[i].p, bad[i].bad), HITL_EINVAL);
    ck_assert(isinf(param(r, HITL_PARAM_ROUTE_THRESHOLD)));
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_TARGET), 0.99);
    set(r, HITL_PARAM_ROUTE_THRESHOLD, 1.5);
    set(r, HITL_PARAM_ROUTE_THRESHOLD, INFINITY);
    set(r, HITL_PARAM_ROUTE_TARGET, 1);
    set(r, HITL_PARAM_ROUTE_LEVEL, 0);
    set(r, HITL_PARAM_ROUTE_ECE_BINS, 1000);
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_ECE_BINS), 1000);
    double v;
    ck_assert_int_eq(hitl_router_get_param(&v, r, HITL_PARAM_L2), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_get_param(NULL, r, HITL_PARAM_ROUTE_LEVEL), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_get_param(&v, NULL, HITL_PARAM_ROUTE_LEVEL), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_param(NULL, HITL_PARAM_ROUTE_LEVEL, 0), HITL_EINVAL);
    /* No report yet. */
    ck_assert_int_eq(hitl_router_get_info(&v, r, HITL_ROUTER_INFO_N), HITL_ESTATE);
    msg_has("no labeled set");
    ck_assert_int_eq(hitl_router_get_info(&v, r, (hitl_router_info)0), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_get_info(&v, r, (hitl_router_info)29), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_get_info(NULL, r, HITL_ROUTER_INFO_N), HITL_EINVAL);
    /* create */
    hitl_router *x = (hitl_router *)&v;
    ck_assert_int_eq(hitl_router_create(NULL, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_create(&x, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_create(&x, 65537), HITL_EINVAL);
    ck_assert_ptr_eq(x, (hitl_router *)&v);
    hitl_router_free(NULL);
    hitl_router_free(r);
}
END_TEST

/* Everything a router shows, to prove a failed call changed nothing. */
typedef struct snap {
    double par[5], inf[15];
    int has_report;
} snap;

static snap take(const hitl_router *r)
{
    snap s;
    static const hitl_param ps[5] = {
        HITL_PARAM_ROUTE_THRESHOLD, HITL_PARAM_ROUTE_TARGET, HITL_PARAM_ROUTE_LEVEL,
        HITL_PARAM_ROUTE_TEMPERATURE, HITL_PARAM_ROUTE_ECE_BINS };
    for (int i = 0; i < 5; i++)
        s.par[i] = param(r, ps[i]);
    s.has_report = hitl_router_get_info(&s.inf[0], r, HITL_ROUTER_INFO_N) == HITL_OK;
    for (int i = 0; i < 15 && s.has_report; i++)
        s.inf[i] = info(r, (hitl_router_info)(i + 1));
    return s;
}

static void same(const snap *a, const snap *b)
{
    ck_assert_int_eq(a->has_report, b->has_report);
    ck_assert_mem_eq(a->par, b->par, sizeof a->par);
    if (a->has_report)
        ck_assert_mem_eq(a->inf, b->inf, sizeof a->inf);
}

typedef int (*set_fn)(hitl_router *, const float *, const int32_t *, size_t);

START_TEST(test_errors_leave_router)
{
    static const set_fn fns[3] = { hitl_router_calibrate, hitl_router_evaluate,
                                   hitl_router_fit_temperature };
    float proba[14];
    int32_t labels[7];
    hand_set(proba, labels);
    hitl_router *r = new_router(2);
    set(r, HITL_PARAM_ROUTE_LEVEL, 0);
    set(r, HITL_PARAM_ROUTE_TARGET, 0.75);
    for (int with_report = 0; with_report < 2; with_report++) {
        if (with_report)
            ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 7), HITL_OK);
        snap s0 = take(r);
        for (int f = 0; f < 3; f++) {
            ck_assert_int_eq(fns[f](NULL, proba, labels, 7), HITL_EINVAL);
            msg_has(": router is NULL");
            ck_assert_int_eq(fns[f](r, NULL, labels, 7), HITL_EINVAL);
            msg_has(": proba is NULL");
            ck_assert_int_eq(fns[f](r, proba, NULL, 7), HITL_EINVAL);
            msg_has(": labels is NULL");
            ck_assert_int_eq(fns[f](r, proba, labels, 0), HITL_EINVAL);
            msg_has("n is 0");
            labels[3] = 2;
            ck_assert_int_eq(fns[f](r, proba, labels, 7), HITL_EINVAL);
            msg_has("labels[3] is 2");
            labels[3] = -1;
            ck_assert_int_eq(fns[f](r, proba, labels, 7), HITL_EINVAL);
            labels[3] = 0;
            proba[9] = 0.5f;                    /* row 4 sums to 1.3 */
            ck_assert_int_eq(fns[f](r, proba, labels, 7), HITL_EINVAL);
            msg_has("proba row 4 sums to 1.3");
            proba[9] = -0.2f;
            ck_assert_int_eq(fns[f](r, proba, labels, 7), HITL_EINVAL);
            msg_has("proba[4][1] is -0.2");
            proba[9] = NAN;
            ck_assert_int_eq(fns[f](r, proba, labels, 7), HITL_ENUMERIC);
            msg_has("proba[4][1] is nan");
            proba[9] = INFINITY;
            ck_assert_int_eq(fns[f](r, proba, labels, 7), HITL_ENUMERIC);
            hand_set(proba, labels);
            /* a row count no buffer can hold: refused before any read */
            ck_assert_int_eq(fns[f](r, proba, labels, SIZE_MAX / 8 + 1), HITL_EINVAL);
            msg_has("do not fit in memory");
            ck_assert_int_eq(fns[f](r, proba, labels, SIZE_MAX), HITL_EINVAL);
            msg_has("do not fit in memory");
            snap s1 = take(r);
            same(&s0, &s1);
        }
        /* route: outputs untouched on failure. */
        uint8_t a[7] = { 9, 9, 9, 9, 9, 9, 9 };
        size_t n = 77;
        proba[5] = 2;
        ck_assert_int_eq(hitl_router_route(&n, a, NULL, NULL, r, proba, 7), HITL_EINVAL);
        msg_has("proba row 2 sums to 2.9");
        ck_assert_int_eq(hitl_router_route(&n, a, NULL, NULL, r, proba, SIZE_MAX / 8 + 1),
                         HITL_EINVAL);
        msg_has("do not fit in memory");
        ck_assert_uint_eq(n, 77);
        for (int i = 0; i < 7; i++)
            ck_assert_int_eq(a[i], 9);
        hand_set(proba, labels);
        ck_assert_int_eq(hitl_router_route(&n, a, NULL, NULL, NULL, proba, 7), HITL_EINVAL);
        ck_assert_int_eq(hitl_router_route(&n, a, NULL, NULL, r, NULL, 7), HITL_EINVAL);
        snap s2 = take(r);
        same(&s0, &s2);
    }
    hitl_router_free(r);
}
END_TEST

/* Fail allocation 0, 1, ... of call(r, ctx) until it succeeds: every
 * failure is HITL_ENOMEM and leaves the router as it was. */
typedef int (*router_call)(hitl_router *r, const void *ctx);

typedef struct oom_ctx {
    hitl_router *r;
    router_call call;
    const void *ctx;
    snap before;
} oom_ctx;

static int oom_call(void *v)
{
    oom_ctx *o = v;
    return o->call(o->r, o->ctx);
}

static void oom_unchanged(void *v)
{
    oom_ctx *o = v;
    snap now = take(o->r);
    same(&o->before, &now);
}

static void oom_keeps_router(hitl_router *r, router_call call, const void *ctx)
{
    oom_ctx o = { r, call, ctx, take(r) };
    oom_until_ok(oom_call, oom_unchanged, &o);
}

typedef struct array_call {
    set_fn fn;
    const float *proba;
    const int32_t *labels;
    size_t n;
} array_call;

static int call_array(hitl_router *r, const void *ctx)
{
    const array_call *a = ctx;
    return a->fn(r, a->proba, a->labels, a->n);
}

/* Out of memory: every failure is HITL_ENOMEM with the router unchanged;
 * the final success gives the same figures as a run without failures. */
START_TEST(test_oom)
{
    enum { N = 500, K = 4 };
    static float proba[N * K];
    static int32_t labels[N];
    static double conf[N];
    static int right[N];
    rng_state = 3;
    random_set(proba, labels, conf, right, N, N);
    static const set_fn fns[3] = { hitl_router_fit_temperature,
                                   hitl_router_calibrate, hitl_router_evaluate };
    hitl_router *ref = new_router(K);
    set(ref, HITL_PARAM_ROUTE_TARGET, 0.9);
    for (int f = 0; f < 3; f++)
        ck_assert_int_eq(fns[f](ref, proba, labels, N), HITL_OK);
    snap want = take(ref);
    hitl_router_free(ref);

    oom_install();
    hitl_router *r = NULL;
    long fail_at = 0;
    for (;; fail_at++) {
        oom_arm(fail_at);
        int rc = hitl_router_create(&r, K);
        oom_arm(-1);
        if (rc == HITL_OK)
            break;
        ck_assert_int_eq(rc, HITL_ENOMEM);
        ck_assert_ptr_null(r);
    }
    set(r, HITL_PARAM_ROUTE_TARGET, 0.9);
    for (int f = 0; f < 3; f++) {
        array_call a = { fns[f], proba, labels, N };
        oom_keeps_router(r, call_array, &a);
    }
    snap got = take(r);
    same(&want, &got);
    hitl_router_free(r);
    oom_uninstall();
}
END_TEST

/* ---- end to end on the UCI digits ---------------------------------------------- */

enum { DIGITS_N = 1797, DIGITS_D = 64, DIGITS_K = 10 };

/* data/digits.csv.gz: 64 features (0..16) and the label per line.  Features
 * are scaled to [0, 1]. */
static void load_digits(float *X, int32_t *y)
{
    gzFile f = gzopen(DIGITS, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", DIGITS);
    char line[1024];
    size_t n = 0;
    while (gzgets(f, line, sizeof line)) {
        ck_assert_uint_lt(n, DIGITS_N);
        char *p = line;
        for (size_t j = 0; j <= DIGITS_D; j++) {
            char *end;
            long v = strtol(p, &end, 10);
            ck_assert_ptr_ne(end, p);
            if (j < DIGITS_D)
                X[n * DIGITS_D + j] = (float)v / 16.0f;
            else
                y[n] = (int32_t)v;
            p = end + (*end == ',');
        }
        n++;
    }
    gzclose(f);
    ck_assert_uint_eq(n, DIGITS_N);
}

/* Items shuffled with a fixed seed, then: [0, TRAIN) fit the model,
 * [TRAIN, TRAIN+CAL) calibrate, the rest (697) is held out.  The held-out
 * precision must meet the target with no slack.  At the default level 0.95
 * that is likely, not certain; with this split it held for every seed tried
 * (1..7 and 2024) at target 0.98, and for 0.99 wherever 700 calibration
 * items could show it (seeds 4 and 5 end at threshold +Inf: review all). */
enum { TRAIN = 400, CAL = 700, TEST = DIGITS_N - TRAIN - CAL };

typedef struct digits_run {
    float X[DIGITS_N * DIGITS_D];
    int32_t y[DIGITS_N];
    hitl_pool *pool;
    hitl_model *model;
} digits_run;

static digits_run *digits_setup(void)
{
    static digits_run d;
    static float Xs[DIGITS_N * DIGITS_D];
    static int32_t ys[DIGITS_N];
    load_digits(d.X, d.y);
    size_t perm[DIGITS_N];
    for (size_t i = 0; i < DIGITS_N; i++)
        perm[i] = i;
    rng_state = 2024;
    for (size_t i = DIGITS_N - 1; i > 0; i--) {
        size_t j = rng_next() % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < DIGITS_N; i++) {
        memcpy(Xs + i * DIGITS_D, d.X + perm[i] * DIGITS_D, sizeof(float) * DIGITS_D);
        ys[i] = d.y[perm[i]];
    }
    memcpy(d.X, Xs, sizeof Xs);
    memcpy(d.y, ys, sizeof ys);
    ck_assert_int_eq(hitl_pool_create(&d.pool, DIGITS_D), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(d.pool, d.X, DIGITS_N, DIGITS_D, NULL), HITL_OK);
    for (size_t i = 0; i < TRAIN; i++)
        ck_assert_int_eq(hitl_pool_set_label(d.pool, i, d.y[i]), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&d.model, DIGITS_D, DIGITS_K), HITL_OK);
    /* A lightly regularised model is over-confident on new data: the case
     * temperature scaling is for. */
    ck_assert_int_eq(hitl_model_set_param(d.model, HITL_PARAM_L2, 0.01), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(d.model, d.pool), HITL_OK);
    /* The calibration and held-out items become LABELED only now, so the
     * fit never saw them. */
    for (size_t i = TRAIN; i < DIGITS_N; i++)
        ck_assert_int_eq(hitl_pool_set_label(d.pool, i, d.y[i]), HITL_OK);
    return &d;
}

static void digits_teardown(digits_run *d)
{
    hitl_model_free(d->model);
    hitl_pool_free(d->pool);
}

/* Brute-force figures of probabilities at threshold t and 1/T = beta. */
typedef struct counts {
    size_t acc, err, err_acc;
} counts;

static counts count_at(const float *proba, const int32_t *y, size_t n, double t,
                       double beta)
{
    counts c = { 0, 0, 0 };
    for (size_t i = 0; i < n; i++) {
        int wrong = argmax(proba + i * DIGITS_K, DIGITS_K) != y[i];
        int in = conf_beta(proba + i * DIGITS_K, DIGITS_K, beta) >= t;
        c.acc += in;
        c.err += wrong;
        c.err_acc += in && wrong;
    }
    return c;
}

static void print_table(const char *what, const hitl_router *r)
{
    printf("# %-28s T %.3f  threshold %.4f  review %5.1f%%  errors caught "
           "%5.1f%% (%g of %g)  precision %.4f (>= %.4f)  ECE %.4f -> %.4f\n",
           what, param(r, HITL_PARAM_ROUTE_TEMPERATURE),
           param(r, HITL_PARAM_ROUTE_THRESHOLD),
           100 * info(r, HITL_ROUTER_INFO_REVIEW_RATE),
           100 * info(r, HITL_ROUTER_INFO_ERRORS_CAUGHT),
           info(r, HITL_ROUTER_INFO_N_ERRORS) - info(r, HITL_ROUTER_INFO_N_ERRORS_ACCEPTED),
           info(r, HITL_ROUTER_INFO_N_ERRORS), info(r, HITL_ROUTER_INFO_PRECISION),
           info(r, HITL_ROUTER_INFO_PRECISION_LOWER),
           info(r, HITL_ROUTER_INFO_ECE_RAW), info(r, HITL_ROUTER_INFO_ECE));
}

START_TEST(test_digits_end_to_end)
{
    digits_run *d = digits_setup();
    static float pcal[CAL * DIGITS_K], ptest[TEST * DIGITS_K];
    ck_assert_int_eq(hitl_model_predict_pool(pcal, d->model, d->pool, TRAIN, CAL),
                     HITL_OK);
    ck_assert_int_eq(hitl_model_predict_pool(ptest, d->model, d->pool,
                                             TRAIN + CAL, TEST), HITL_OK);
    const int32_t *ycal = d->y + TRAIN, *ytest = d->y + TRAIN + CAL;
    static const double targets[2] = { 0.99, 0.98 };
    for (int t = 0; t < 2; t++) {
        hitl_router *r = new_router(DIGITS_K);
        set(r, HITL_PARAM_ROUTE_TARGET, targets[t]);
        /* Temperature first, on the calibration split. */
        ck_assert_int_eq(hitl_router_fit_temperature_pool(r, d->model, d->pool,
                                                          TRAIN, CAL), HITL_OK);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N), CAL);
        ck_assert_double_lt(info(r, HITL_ROUTER_INFO_NLL), info(r, HITL_ROUTER_INFO_NLL_RAW));
        double T = param(r, HITL_PARAM_ROUTE_TEMPERATURE);
        ck_assert_double_gt(T, 1.0);   /* the model was over-confident */
        ck_assert_int_eq(hitl_router_calibrate_pool(r, d->model, d->pool, TRAIN,
                                                    CAL), HITL_OK);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), 1);
        char what[64];
        snprintf(what, sizeof what, "calibration, target %.3f", targets[t]);
        print_table(what, r);
        double th = param(r, HITL_PARAM_ROUTE_THRESHOLD);
        ck_assert(isfinite(th));

        /* The array form on the same probabilities gives the same router. */
        hitl_router *a = new_router(DIGITS_K);
        set(a, HITL_PARAM_ROUTE_TARGET, targets[t]);
        ck_assert_int_eq(hitl_router_fit_temperature(a, pcal, ycal, CAL), HITL_OK);
        ck_assert_double_eq(param(a, HITL_PARAM_ROUTE_TEMPERATURE), T);
        ck_assert_int_eq(hitl_router_calibrate(a, pcal, ycal, CAL), HITL_OK);
        ck_assert_double_eq(param(a, HITL_PARAM_ROUTE_THRESHOLD), th);
        hitl_router_free(a);

        /* Held out: the target is met, and the figures match a brute force
         * over the model's probabilities. */
        ck_assert_int_eq(hitl_router_evaluate_pool(r, d->model, d->pool,
                                                   TRAIN + CAL, TEST), HITL_OK);
        snprintf(what, sizeof what, "held out, target %.3f", targets[t]);
        print_table(what, r);
        ck_assert_double_ge(info(r, HITL_ROUTER_INFO_PRECISION), targets[t]);
        counts bf = count_at(ptest, ytest, TEST, th, T == 1.0 ? 1.0 : 1.0 / T);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ACCEPTED), bf.acc);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ERRORS), bf.err);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ERRORS_ACCEPTED), bf.err_acc);
        ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_REVIEW_RATE),
                                (double)(TEST - bf.acc) / TEST, 1e-15);
        ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_ERRORS_CAUGHT),
                                (double)(bf.err - bf.err_acc) / (double)bf.err, 1e-15);
        ck_assert_uint_gt(bf.err, 0);
        ck_assert_double_gt(info(r, HITL_ROUTER_INFO_ERRORS_CAUGHT), 0.8);
        ck_assert_double_lt(info(r, HITL_ROUTER_INFO_REVIEW_RATE), 0.5);

        /* route_pool over the held-out range equals route on the model's
         * probabilities, and accepts what evaluate counted. */
        static uint8_t acc1[TEST], acc2[TEST];
        static int32_t l1[TEST], l2[TEST];
        static float c1[TEST], c2[TEST];
        size_t n1 = 0, n2 = 0;
        ck_assert_int_eq(hitl_router_route_pool(&n1, acc1, l1, c1, r, d->model,
                                                d->pool, TRAIN + CAL, TEST), HITL_OK);
        ck_assert_int_eq(hitl_router_route(&n2, acc2, l2, c2, r, ptest, TEST), HITL_OK);
        ck_assert_uint_eq(n1, n2);
        ck_assert_double_eq(n1, info(r, HITL_ROUTER_INFO_N_ACCEPTED));
        ck_assert_mem_eq(acc1, acc2, sizeof acc1);
        ck_assert_mem_eq(l1, l2, sizeof l1);
        ck_assert_mem_eq(c1, c2, sizeof c1);
        hitl_router_free(r);
    }
    digits_teardown(d);
}
END_TEST

/* A custom model whose predict fails, or answers uniformly. */
static int fail_predict(void *u, const float *X, size_t n, size_t stride,
                        size_t dim, float *proba)
{
    (void)u, (void)X, (void)n, (void)stride, (void)dim, (void)proba;
    return 1;
}

START_TEST(test_pool_errors)
{
    digits_run *d = digits_setup();
    hitl_router *r = new_router(DIGITS_K);
    set(r, HITL_PARAM_ROUTE_TARGET, 0.95);
    ck_assert_int_eq(hitl_router_calibrate_pool(r, d->model, d->pool, TRAIN, CAL),
                     HITL_OK);
    snap s0 = take(r);
    /* Range, NULLs, shapes. */
    ck_assert_int_eq(hitl_router_calibrate_pool(r, d->model, d->pool, DIGITS_N, 1),
                     HITL_EINVAL);
    msg_has("leave the pool");
    ck_assert_int_eq(hitl_router_calibrate_pool(r, d->model, d->pool, 1, SIZE_MAX),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_router_calibrate_pool(NULL, d->model, d->pool, 0, 1),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_router_evaluate_pool(r, NULL, d->pool, 0, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_fit_temperature_pool(r, d->model, NULL, 0, 1),
                     HITL_EINVAL);
    hitl_router *r3 = new_router(3);
    ck_assert_int_eq(hitl_router_calibrate_pool(r3, d->model, d->pool, 0, 10),
                     HITL_EINVAL);
    msg_has("model has 10 classes, router 3");
    hitl_router_free(r3);
    /* No LABELED item in the range. */
    hitl_pool *p2;
    ck_assert_int_eq(hitl_pool_create(&p2, DIGITS_D), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p2, d->X, 20, DIGITS_D, NULL), HITL_OK);
    ck_assert_int_eq(hitl_router_calibrate_pool(r, d->model, p2, 0, 20), HITL_ESTATE);
    msg_has("no LABELED item");
    ck_assert_int_eq(hitl_router_calibrate_pool(r, d->model, p2, 0, 0), HITL_ESTATE);
    /* A label the router does not know. */
    ck_assert_int_eq(hitl_pool_set_label(p2, 5, 12), HITL_OK);
    ck_assert_int_eq(hitl_router_evaluate_pool(r, d->model, p2, 0, 20), HITL_EINVAL);
    msg_has("item 5 has label 12");
    /* Dims differ. */
    hitl_pool *p3;
    ck_assert_int_eq(hitl_pool_create(&p3, 3), HITL_OK);
    ck_assert_int_eq(hitl_router_evaluate_pool(r, d->model, p3, 0, 0), HITL_EINVAL);
    size_t n = 77;
    ck_assert_int_eq(hitl_router_route_pool(&n, NULL, NULL, NULL, r, d->model, p3,
                                            0, 0), HITL_EINVAL);
    ck_assert_uint_eq(n, 77);
    /* An unfitted model and a failing custom model. */
    hitl_model *u, *bad;
    ck_assert_int_eq(hitl_model_create_logreg(&u, DIGITS_D, DIGITS_K), HITL_OK);
    ck_assert_int_eq(hitl_router_calibrate_pool(r, u, d->pool, TRAIN, CAL), HITL_ESTATE);
    ck_assert_int_eq(hitl_router_route_pool(&n, NULL, NULL, NULL, r, u, d->pool,
                                            0, 10), HITL_ESTATE);
    ck_assert_int_eq(hitl_model_create_custom(&bad, DIGITS_D, DIGITS_K, NULL,
                                              fail_predict, NULL), HITL_OK);
    ck_assert_int_eq(hitl_router_fit_temperature_pool(r, bad, d->pool, TRAIN, CAL),
                     HITL_ECALLBACK);
    ck_assert_int_eq(hitl_router_route_pool(&n, NULL, NULL, NULL, r, bad, d->pool,
                                            0, 10), HITL_ECALLBACK);
    ck_assert_uint_eq(n, 77);
    snap s1 = take(r);
    same(&s0, &s1);
    /* route_pool with n 0 and NULL outputs. */
    ck_assert_int_eq(hitl_router_route_pool(&n, NULL, NULL, NULL, r, d->model,
                                            d->pool, 5, 0), HITL_OK);
    ck_assert_uint_eq(n, 0);
    hitl_model_free(bad);
    hitl_model_free(u);
    hitl_pool_free(p3);
    hitl_pool_free(p2);
    hitl_router_free(r);
    digits_teardown(d);
}
END_TEST

typedef int (*pool_fn)(hitl_router *, const hitl_model *, const hitl_pool *,
                       size_t, size_t);
typedef struct pool_call {
    pool_fn fn;
    const hitl_model *model;
    const hitl_pool *pool;
    size_t first, n;
} pool_call;

static int call_pool(hitl_router *r, const void *ctx)
{
    const pool_call *c = ctx;
    return c->fn(r, c->model, c->pool, c->first, c->n);
}

START_TEST(test_pool_oom)
{
    digits_run *d = digits_setup();
    hitl_router *ref = new_router(DIGITS_K);
    ck_assert_int_eq(hitl_router_fit_temperature_pool(ref, d->model, d->pool,
                                                      TRAIN, CAL), HITL_OK);
    ck_assert_int_eq(hitl_router_calibrate_pool(ref, d->model, d->pool, TRAIN, CAL),
                     HITL_OK);
    snap want = take(ref);
    static uint8_t a_ref[TEST], a[TEST];
    size_t n_ref;
    ck_assert_int_eq(hitl_router_route_pool(&n_ref, a_ref, NULL, NULL, ref, d->model,
                                            d->pool, TRAIN + CAL, TEST), HITL_OK);
    hitl_router_free(ref);
    /* The model and pool were created before the hook: free them around it. */
    hitl_model *m = d->model;
    size_t sz;
    ck_assert_int_eq(hitl_model_save_size(&sz, m), HITL_OK);
    void *buf = malloc(sz);
    ck_assert_int_eq(hitl_model_save(&sz, buf, sz, m), HITL_OK);
    digits_teardown(d);

    oom_install();
    hitl_pool *pool;
    hitl_model *model;
    ck_assert_int_eq(hitl_pool_create(&pool, DIGITS_D), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(pool, d->X, DIGITS_N, DIGITS_D, NULL), HITL_OK);
    for (size_t i = 0; i < DIGITS_N; i++)
        ck_assert_int_eq(hitl_pool_set_label(pool, i, d->y[i]), HITL_OK);
    ck_assert_int_eq(hitl_model_load(&model, buf, sz), HITL_OK);
    hitl_router *r;
    ck_assert_int_eq(hitl_router_create(&r, DIGITS_K), HITL_OK);
    static const pool_fn fns[2] = { hitl_router_fit_temperature_pool,
                                    hitl_router_calibrate_pool };
    for (int f = 0; f < 2; f++) {
        pool_call c = { fns[f], model, pool, TRAIN, CAL };
        oom_keeps_router(r, call_pool, &c);
    }
    snap got = take(r);
    same(&want, &got);
    for (long fail_at = 0;; fail_at++) {
        size_t n = 12345;
        oom_arm(fail_at);
        int rc = hitl_router_route_pool(&n, a, NULL, NULL, r, model, pool,
                                        TRAIN + CAL, TEST);
        oom_arm(-1);
        if (rc == HITL_OK) {
            ck_assert_uint_eq(n, n_ref);
            ck_assert_mem_eq(a, a_ref, sizeof a);
            break;
        }
        ck_assert_int_eq(rc, HITL_ENOMEM);
        ck_assert_uint_eq(n, 12345);
    }
    hitl_router_free(r);
    hitl_model_free(model);
    hitl_pool_free(pool);
    oom_uninstall();
    free(buf);
}
END_TEST


/* ---- small samples: what calibration cannot certify, and says ------------------- */

/* n two-class rows with confidence conf[i] for class 0, label 0 if right. */
static void two_class(float *proba, int32_t *labels, const double *conf,
                      const int *right, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        proba[2 * i] = (float)conf[i];
        proba[2 * i + 1] = 1.0f - (float)conf[i];
        labels[i] = right[i] ? 0 : 1;
    }
}

/* Hand-worked Clopper-Pearson: with no error, k right items certify P at
 * level L iff P^k <= 1 - L, so P = 0.99, L = 0.95 needs k = 299 (0.99^298
 * = 0.0502, 0.99^299 = 0.0497); with one error among k, iff P^k + k (1-P)
 * P^(k-1) <= 1 - L, the smallest such k found below by counting.  The
 * lower bound of s = k is (1-L)^(1/k); of 1 of 2 it is 1 - sqrt(L). */
START_TEST(test_small_sample_exact)
{
    enum { N = 301 };
    static float proba[2 * N];
    static int32_t labels[N];
    static double conf[N];
    static int right[N];
    size_t k0 = 0, k1 = 0;
    while (pow(0.99, (double)k0) > 0.05)
        k0++;
    while (pow(0.99, (double)k1) + k1 * 0.01 * pow(0.99, (double)k1 - 1) > 0.05)
        k1++;
    ck_assert_uint_eq(k0, 299);
    ck_assert_uint_eq(k1, 473);
    /* 200 right items: nothing certified, 99 more would be. */
    for (size_t i = 0; i < 200; i++) {
        conf[i] = 0.999 - 0.0001 * (double)i;
        right[i] = 1;
    }
    two_class(proba, labels, conf, right, 200);
    hitl_router *r = new_router(2);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 200), HITL_OK);
    ck_assert(isinf(param(r, HITL_PARAM_ROUTE_THRESHOLD)));
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), 0);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_NEEDED), 299 - 200);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_POINT_ESTIMATE), 0);
    /* The point-estimate fallback: the lowest confidence, said so. */
    set(r, HITL_PARAM_ROUTE_FALLBACK, 1);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, 200), HITL_OK);
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_THRESHOLD), proba[2 * 199]);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_POINT_ESTIMATE), 1);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), 0);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_N_ACCEPTED), 200);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_PRECISION_LOWER),
                            pow(0.05, 1.0 / 200), 1e-12);
    set(r, HITL_PARAM_ROUTE_FALLBACK, 0);
    /* An error on top of 300 right items: the whole set needs k1 - 301
     * more, fewer than the 299 of accepting nothing. */
    conf[0] = 0.9999;
    right[0] = 0;
    for (size_t i = 1; i < N; i++) {
        conf[i] = 0.999 - 0.0001 * (double)i;
        right[i] = 1;
    }
    two_class(proba, labels, conf, right, N);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, N), HITL_OK);
    ck_assert(isinf(param(r, HITL_PARAM_ROUTE_THRESHOLD)));
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_NEEDED), (double)(k1 - N));
    /* Certified: nothing needed. */
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_TARGET, 0.9), HITL_OK);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, N), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TARGET_MET), 1);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_NEEDED), 0);
    /* Target 1 at level > 0 can never be certified. */
    set(r, HITL_PARAM_ROUTE_TARGET, 1);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, N), HITL_OK);
    ck_assert(isinf(info(r, HITL_ROUTER_INFO_NEEDED)));
    /* 1 right of 2 accepted: the bound is 1 - sqrt(L). */
    double c2[2] = { 0.9, 0.8 };
    int r2[2] = { 1, 0 };
    two_class(proba, labels, c2, r2, 2);
    set(r, HITL_PARAM_ROUTE_THRESHOLD, 0.5);
    ck_assert_int_eq(hitl_router_evaluate(r, proba, labels, 2), HITL_OK);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_PRECISION_LOWER),
                            1 - sqrt(0.95), 1e-12);
    hitl_router_free(r);
}
END_TEST

/* A fitted T that makes the ECE on its own set worse is declined by the
 * guard (T stays 1, the report says so) and kept without it.  Found among
 * small random binary sets, where this happens. */
START_TEST(test_temperature_guard)
{
    enum { N = 30 };
    float proba[2 * N];
    int32_t labels[N];
    double conf[N];
    int right[N];
    rng_state = 11;
    int found = 0;
    for (int trial = 0; trial < 2000 && !found; trial++) {
        for (size_t i = 0; i < N; i++) {
            conf[i] = 0.5 + 0.5 * rng_unit();
            right[i] = rng_unit() < 0.8;
        }
        two_class(proba, labels, conf, right, N);
        hitl_router *r = new_router(2);
        set(r, HITL_PARAM_ROUTE_TEMPERATURE_GUARD, 0);
        ck_assert_int_eq(hitl_router_fit_temperature(r, proba, labels, N), HITL_OK);
        double t = param(r, HITL_PARAM_ROUTE_TEMPERATURE);
        double before = info(r, HITL_ROUTER_INFO_ECE_RAW);
        double after = info(r, HITL_ROUTER_INFO_ECE_FITTED);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TEMPERATURE_DECLINED), 0);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TEMPERATURE_FITTED), t);
        if (after > before) {
            found = 1;
            set(r, HITL_PARAM_ROUTE_TEMPERATURE, 1);
            set(r, HITL_PARAM_ROUTE_TEMPERATURE_GUARD, 1);
            ck_assert_int_eq(hitl_router_fit_temperature(r, proba, labels, N), HITL_OK);
            ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_TEMPERATURE), 1);
            ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TEMPERATURE_DECLINED), 1);
            ck_assert_double_eq(info(r, HITL_ROUTER_INFO_TEMPERATURE_FITTED), t);
            ck_assert_double_eq(info(r, HITL_ROUTER_INFO_ECE_FITTED), after);
            ck_assert_double_eq(info(r, HITL_ROUTER_INFO_ECE), before);
        }
        hitl_router_free(r);
    }
    ck_assert_msg(found, "no set where scaling raised the ECE");
}
END_TEST

/* ---- costs ---------------------------------------------------------------------- */

/* The cost-minimising label equals the brute-force argmin of sum_y p_y
 * C[y][c] on random rows and matrices; the report's costs add up. */
START_TEST(test_cost_decision)
{
    enum { N = 400, K = 5 };
    static float proba[N * K];
    static int32_t labels[N], label[N];
    static float conf[N];
    double C[K * K];
    rng_state = 21;
    for (size_t i = 0; i < N; i++) {
        double z = 0, e[K];
        for (size_t c = 0; c < K; c++)
            z += e[c] = exp(3 * rng_unit());
        for (size_t c = 0; c < K; c++)
            proba[i * K + c] = (float)(e[c] / z);
        labels[i] = (int32_t)(rng_next() % K);
    }
    for (size_t j = 0; j < K * K; j++)
        C[j] = j % (K + 1) == 0 ? 0 : 10 * rng_unit();
    hitl_router *r = new_router(K);
    ck_assert_int_eq(hitl_router_set_costs(r, C, K, K), HITL_OK);
    set(r, HITL_PARAM_ROUTE_DECISION, HITL_ROUTE_DECIDE_COST);
    set(r, HITL_PARAM_ROUTE_SCORE, HITL_ROUTE_SCORE_COST);
    set(r, HITL_PARAM_ROUTE_THRESHOLD, 0.8);
    ck_assert_int_eq(hitl_router_route(NULL, NULL, label, conf, r, proba, N), HITL_OK);
    double cmax = 0, total = 0;
    for (size_t j = 0; j < K * K; j++)
        cmax = fmax(cmax, C[j]);
    for (size_t i = 0; i < N; i++) {
        double q[K], z = 0, best = INFINITY, e[K];
        for (size_t c = 0; c < K; c++)
            z += q[c] = proba[i * K + c];
        for (size_t c = 0; c < K; c++) {
            e[c] = 0;
            for (size_t y = 0; y < K; y++)
                e[c] += q[y] / z * C[y * K + c];
            best = fmin(best, e[c]);
        }
        ck_assert_msg(e[label[i]] <= best + 1e-9, "row %zu: cost %g > %g", i,
                      e[label[i]], best);
        ck_assert_double_eq_tol(conf[i], 1 - e[label[i]] / cmax, 1e-5);
        total += C[labels[i] * K + label[i]];
    }
    ck_assert_int_eq(hitl_router_evaluate(r, proba, labels, N), HITL_OK);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_COST), total, 1e-9 * total);
    double acc = info(r, HITL_ROUTER_INFO_COST_ACCEPTED);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_COST_CAUGHT),
                            (total - acc) / total, 1e-12);
    double back[K * K];
    ck_assert_int_eq(hitl_router_get_costs(back, r), HITL_OK);
    ck_assert_mem_eq(back, C, sizeof C);
    /* Bad matrices leave the costs as they were. */
    double bad[K * K];
    memcpy(bad, C, sizeof C);
    bad[7] = -1;
    ck_assert_int_eq(hitl_router_set_costs(r, bad, K, K), HITL_EINVAL);
    msg_has("costs[1][2] is -1");
    bad[7] = NAN;
    ck_assert_int_eq(hitl_router_set_costs(r, bad, K, K), HITL_ENUMERIC);
    msg_has("costs[1][2]");
    bad[7] = INFINITY;
    ck_assert_int_eq(hitl_router_set_costs(r, bad, K, K), HITL_ENUMERIC);
    ck_assert_int_eq(hitl_router_set_costs(r, C, K, K + 1), HITL_EINVAL);
    msg_has("5 x 6");
    ck_assert_int_eq(hitl_router_set_costs(r, C, K - 1, K - 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_costs(NULL, C, K, K), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_get_costs(NULL, r), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_get_costs(back, r), HITL_OK);
    ck_assert_mem_eq(back, C, sizeof C);
    /* NULL: back to 0/1. */
    ck_assert_int_eq(hitl_router_set_costs(r, NULL, 0, 0), HITL_OK);
    ck_assert_int_eq(hitl_router_get_costs(back, r), HITL_OK);
    for (size_t y = 0; y < K; y++)
        for (size_t c = 0; c < K; c++)
            ck_assert_double_eq(back[y * K + c], y != c);
    hitl_router_free(r);
}
END_TEST

/* ---- capacity and budget: each mode's guarantee on data with known truth ---- */

/* Calibrated synthetic rows: class 0 has probability c, and the truth is
 * drawn from it, so expected and realised error rates agree in the mean. */
static void truthful(float *proba, int32_t *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double c = 0.5 + 0.5 * rng_unit();
        proba[2 * i] = (float)c;
        proba[2 * i + 1] = 1.0f - (float)c;
        labels[i] = rng_unit() < proba[2 * i] ? 0 : 1;
    }
}

/* A two-class router in `mode` with one parameter set, routing n truthful
 * rows drawn from seed: *taken accepted. */
static hitl_router *mode_run(size_t *taken, uint8_t *accept, float *conf,
                             float *proba, int32_t *labels, size_t n,
                             uint64_t seed, int mode, hitl_param p, double v)
{
    rng_state = seed;
    truthful(proba, labels, n);
    hitl_router *r = new_router(2);
    set(r, HITL_PARAM_ROUTE_MODE, mode);
    set(r, p, v);
    ck_assert_int_eq(hitl_router_route(taken, accept, NULL, conf, r, proba, n), HITL_OK);
    return r;
}

START_TEST(test_capacity_mode)
{
    enum { N = 2000 };
    static float proba[2 * N], conf[N];
    static int32_t labels[N];
    static uint8_t accept[N];
    size_t taken = 0;
    /* Threshold +Inf: exactly the capacity, the least confident. */
    hitl_router *r = mode_run(&taken, accept, conf, proba, labels, N, 31,
                              HITL_ROUTE_CAPACITY, HITL_PARAM_ROUTE_CAPACITY, 0.25);
    ck_assert_uint_eq(taken, N - N / 4);
    float hi_review = 0, lo_accept = 1;
    for (size_t i = 0; i < N; i++) {
        if (accept[i])
            lo_accept = fminf(lo_accept, conf[i]);
        else
            hi_review = fmaxf(hi_review, conf[i]);
    }
    ck_assert(hi_review <= lo_accept);
    ck_assert_int_eq(hitl_router_evaluate(r, proba, labels, N), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_REVIEW_RATE), 0.25);
    /* Reviewing the least confident quarter catches more than a quarter
     * of the errors (the truth follows the confidence). */
    ck_assert(info(r, HITL_ROUTER_INFO_ERRORS_CAUGHT) > 0.4);
    /* At most n items per batch. */
    set(r, HITL_PARAM_ROUTE_CAPACITY_ITEMS, 100);
    ck_assert_int_eq(hitl_router_route(&taken, NULL, NULL, NULL, r, proba, N), HITL_OK);
    ck_assert_uint_eq(taken, N - 100);
    /* A calibrated threshold that needs less than the capacity is kept:
     * the same decisions as the precision mode. */
    set(r, HITL_PARAM_ROUTE_CAPACITY_ITEMS, 1e6);
    set(r, HITL_PARAM_ROUTE_CAPACITY, 1);
    set(r, HITL_PARAM_ROUTE_TARGET, 0.9);
    ck_assert_int_eq(hitl_router_calibrate(r, proba, labels, N), HITL_OK);
    size_t in_capacity = 0, in_precision = 0;
    ck_assert_int_eq(hitl_router_route(&in_capacity, NULL, NULL, NULL, r, proba, N), HITL_OK);
    set(r, HITL_PARAM_ROUTE_MODE, HITL_ROUTE_PRECISION);
    ck_assert_int_eq(hitl_router_route(&in_precision, NULL, NULL, NULL, r, proba, N), HITL_OK);
    ck_assert_uint_eq(in_capacity, in_precision);
    ck_assert_uint_gt(in_precision, 0);
    /* Out of range. */
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_CAPACITY, 1.01), HITL_EINVAL);
    msg_has("capacity 1.01");
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_CAPACITY, -0.1), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_CAPACITY_ITEMS, -1), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_CAPACITY_ITEMS, 2.5), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_MODE, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_COST_BUDGET, -1), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_COST_BUDGET, INFINITY), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_SCORE, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_param(r, HITL_PARAM_ROUTE_DETECTOR_FOLDS, 1), HITL_EINVAL);
    ck_assert_double_eq(param(r, HITL_PARAM_ROUTE_CAPACITY), 1);
    hitl_router_free(r);
}
END_TEST

START_TEST(test_budget_mode)
{
    enum { N = 20000 };
    static float proba[2 * N], conf[N];
    static int32_t labels[N];
    static uint8_t accept[N];
    size_t taken = 0;
    hitl_router *r = mode_run(&taken, accept, conf, proba, labels, N, 41,
                              HITL_ROUTE_BUDGET, HITL_PARAM_ROUTE_COST_BUDGET, 0.05);
    /* The guarantee: mean expected cost of the accepted <= budget, and the
     * cheapest item left out would break it. */
    double sum = 0, cheapest_out = INFINITY;
    for (size_t i = 0; i < N; i++) {
        double e = 1 - conf[i];
        if (accept[i])
            sum += e;
        else
            cheapest_out = fmin(cheapest_out, e);
    }
    ck_assert_uint_gt(taken, 0);
    ck_assert(sum / (double)taken <= 0.05 + 1e-6);
    ck_assert((sum + cheapest_out) / (double)(taken + 1) > 0.05 - 1e-6);
    /* With calibrated probabilities the realised error rate of the accepted
     * items is near the budget (known truth). */
    ck_assert_int_eq(hitl_router_evaluate(r, proba, labels, N), HITL_OK);
    double err = 1 - info(r, HITL_ROUTER_INFO_PRECISION);
    ck_assert_double_eq_tol(info(r, HITL_ROUTER_INFO_EXPECTED_COST_ACCEPTED),
                            sum / (double)taken, 1e-6);
    ck_assert_msg(err < 0.05 + 0.01, "error rate %g over budget 0.05", err);
    hitl_router_free(r);
}
END_TEST

/* ---- the learned error detector ------------------------------------------------- */

/* Three overlapping Gaussian blobs in 2-D; items 0..599 train the model,
 * 600..999 are the reviewed items. */
enum { DET_TRAIN = 600, DET_N = 1000 };

static void blobs(hitl_pool **pool, hitl_model **model, int32_t *truth)
{
    static float x[2 * DET_N];
    rng_state = 51;
    for (size_t i = 0; i < DET_N; i++) {
        truth[i] = (int32_t)(i % 3);
        double u = rng_unit() + 1e-12, v = rng_unit();
        double g = sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
        double h = sqrt(-2 * log(u)) * sin(6.283185307179586 * v);
        x[2 * i] = (float)(1.2 * truth[i] + g);
        x[2 * i + 1] = (float)((truth[i] == 1 ? 1.0 : 0.0) + h);
    }
    ck_assert_int_eq(hitl_pool_create(pool, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(*pool, x, DET_N, 2, NULL), HITL_OK);
    for (size_t i = 0; i < DET_TRAIN; i++)
        ck_assert_int_eq(hitl_pool_set_label(*pool, i, truth[i]), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(model, 2, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(*model, *pool), HITL_OK);
    for (size_t i = DET_TRAIN; i < DET_N; i++)
        ck_assert_int_eq(hitl_pool_set_label(*pool, i, truth[i]), HITL_OK);
}

/* Cross-fitting: a reviewed item is scored by the one fold model that
 * never saw it, so changing that item's own label (right <-> wrong) and
 * refitting leaves its score bit for bit the same, while the scores of
 * items in other folds move. */
START_TEST(test_detector_cross_fitted)
{
    static int32_t truth[DET_N], label[DET_N - DET_TRAIN];
    static float before[DET_N - DET_TRAIN], after[DET_N - DET_TRAIN];
    hitl_pool *pool;
    hitl_model *model;
    blobs(&pool, &model, truth);
    hitl_router *r = new_router(3);
    set(r, HITL_PARAM_ROUTE_SCORE, HITL_ROUTE_SCORE_DETECTOR);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_DETECTOR_ACTIVE), 0);
    ck_assert_int_eq(hitl_router_fit_detector(r, model, pool, DET_TRAIN,
                                              DET_N - DET_TRAIN), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_DETECTOR_ACTIVE), 1);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_DETECTOR_ITEMS), DET_N - DET_TRAIN);
    double wrong = info(r, HITL_ROUTER_INFO_DETECTOR_ERRORS);
    ck_assert(wrong >= 20);
    ck_assert_int_eq(hitl_router_route_pool(NULL, NULL, label, before, r, model,
                                            pool, DET_TRAIN, DET_N - DET_TRAIN),
                     HITL_OK);
    size_t j = 17;
    int32_t flip = label[j] == truth[DET_TRAIN + j] ? (label[j] + 1) % 3 : label[j];
    ck_assert_int_eq(hitl_pool_set_label(pool, DET_TRAIN + j, flip), HITL_OK);
    ck_assert_int_eq(hitl_router_fit_detector(r, model, pool, DET_TRAIN,
                                              DET_N - DET_TRAIN), HITL_OK);
    ck_assert_int_eq(hitl_router_route_pool(NULL, NULL, NULL, after, r, model,
                                            pool, DET_TRAIN, DET_N - DET_TRAIN),
                     HITL_OK);
    ck_assert(before[j] == after[j]);
    size_t moved = 0;
    for (size_t i = 0; i < DET_N - DET_TRAIN; i++)
        moved += before[i] != after[i];
    ck_assert_msg(moved > (DET_N - DET_TRAIN) / 2, "only %zu scores moved", moved);
    /* The detector ranks errors higher than the confidence alone would
     * not be required here; it must at least score evaluation sets. */
    ck_assert_int_eq(hitl_router_evaluate_pool(r, model, pool, DET_TRAIN,
                                               DET_N - DET_TRAIN), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_DETECTOR_USED), 1);
    /* Array forms have no rows for the detector's features. */
    float p[3] = { 0.2f, 0.3f, 0.5f };
    ck_assert_int_eq(hitl_router_route(NULL, NULL, NULL, NULL, r, p, 1), HITL_EINVAL);
    msg_has("feature rows");
    /* Too few reviewed items: no detector, the confidence instead. */
    set(r, HITL_PARAM_ROUTE_DETECTOR_MIN, 1000);
    ck_assert_int_eq(hitl_router_fit_detector(r, model, pool, DET_TRAIN,
                                              DET_N - DET_TRAIN), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_DETECTOR_ACTIVE), 0);
    float c;
    ck_assert_int_eq(hitl_router_route(NULL, NULL, NULL, &c, r, p, 1), HITL_OK);
    ck_assert_float_eq(c, 0.5f);
    ck_assert_int_eq(hitl_router_fit_detector(NULL, model, pool, 0, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_fit_detector(r, model, pool, DET_N, 1), HITL_EINVAL);
    hitl_router_free(r);
    hitl_model_free(model);
    hitl_pool_free(pool);
}
END_TEST

/* With a committee, its doubt about the model's label is one more feature:
 * scores change, need the committee wherever they are computed, and the
 * committee's classes must match. */
START_TEST(test_detector_committee)
{
    static int32_t truth[DET_N];
    static float plain[DET_N - DET_TRAIN], with[DET_N - DET_TRAIN];
    hitl_pool *pool, *train;
    hitl_model *model;
    hitl_committee *com, *wrong;
    blobs(&pool, &model, truth);
    ck_assert_int_eq(hitl_pool_create(&train, 2), HITL_OK);
    for (size_t i = 0; i < DET_TRAIN; i++) {
        const float *row;
        ck_assert_int_eq(hitl_pool_row(&row, pool, i), HITL_OK);
        ck_assert_int_eq(hitl_pool_add(train, row, 1, 2, NULL), HITL_OK);
        ck_assert_int_eq(hitl_pool_set_label(train, i, truth[i]), HITL_OK);
    }
    ck_assert_int_eq(hitl_committee_create(&com, 2, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_create(&wrong, 2, 4), HITL_OK);
    for (int m = 0; m < 3; m++)
        ck_assert_int_eq(hitl_committee_add_logreg(com, 1.0), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(com, train), HITL_OK);
    hitl_router *r = new_router(3);
    set(r, HITL_PARAM_ROUTE_SCORE, HITL_ROUTE_SCORE_DETECTOR);
    ck_assert_int_eq(hitl_router_fit_detector(r, model, pool, DET_TRAIN,
                                              DET_N - DET_TRAIN), HITL_OK);
    ck_assert_int_eq(hitl_router_route_pool(NULL, NULL, NULL, plain, r, model, pool,
                                            DET_TRAIN, DET_N - DET_TRAIN), HITL_OK);
    ck_assert_int_eq(hitl_router_set_committee(r, wrong), HITL_EINVAL);
    msg_has("4 classes");
    ck_assert_int_eq(hitl_router_set_committee(NULL, com), HITL_EINVAL);
    ck_assert_int_eq(hitl_router_set_committee(r, com), HITL_OK);
    ck_assert_int_eq(hitl_router_fit_detector(r, model, pool, DET_TRAIN,
                                              DET_N - DET_TRAIN), HITL_OK);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_DETECTOR_ACTIVE), 1);
    ck_assert_int_eq(hitl_router_route_pool(NULL, NULL, NULL, with, r, model, pool,
                                            DET_TRAIN, DET_N - DET_TRAIN), HITL_OK);
    size_t moved = 0;
    for (size_t i = 0; i < DET_N - DET_TRAIN; i++)
        moved += plain[i] != with[i];
    ck_assert_uint_gt(moved, (DET_N - DET_TRAIN) / 2);
    ck_assert_int_eq(hitl_router_evaluate_pool(r, model, pool, DET_TRAIN,
                                               DET_N - DET_TRAIN), HITL_OK);
    ck_assert_int_eq(hitl_router_set_committee(r, NULL), HITL_OK);
    ck_assert_int_eq(hitl_router_route_pool(NULL, NULL, NULL, with, r, model, pool,
                                            DET_TRAIN, DET_N - DET_TRAIN), HITL_EINVAL);
    msg_has("committee");
    ck_assert_int_eq(hitl_router_evaluate_pool(r, model, pool, DET_TRAIN,
                                               DET_N - DET_TRAIN), HITL_EINVAL);
    hitl_router_free(r);
    hitl_committee_free(com);
    hitl_committee_free(wrong);
    hitl_model_free(model);
    hitl_pool_free(train);
    hitl_pool_free(pool);
}
END_TEST

/* Out of memory in the new paths: costs, a capacity batch, the detector's
 * fit and its scoring; every failure is HITL_ENOMEM with the router as it
 * was. */
static int call_costs(hitl_router *r, const void *ctx)
{
    return hitl_router_set_costs(r, ctx, 3, 3);
}

/* Fit the detector under every allocation failure until it succeeds; the
 * router keeps its detector (active or not) on each failure. */
static void oom_fit_detector(hitl_router *r, const hitl_model *model,
                             const hitl_pool *pool, double active)
{
    for (long fail_at = 0;; fail_at++) {
        oom_arm(fail_at);
        int rc = hitl_router_fit_detector(r, model, pool, DET_TRAIN,
                                          DET_N - DET_TRAIN);
        oom_arm(-1);
        if (rc == HITL_OK)
            break;
        ck_assert_int_eq(rc, HITL_ENOMEM);
        ck_assert_double_eq(info(r, HITL_ROUTER_INFO_DETECTOR_ACTIVE), active);
    }
}

START_TEST(test_oom_modes)
{
    static int32_t truth[DET_N];
    static const double C[9] = { 0, 1, 5, 1, 0, 1, 5, 1, 0 };
    hitl_pool *pool;
    hitl_model *model;
    oom_install();
    blobs(&pool, &model, truth);
    hitl_router *r = new_router(3);
    oom_keeps_router(r, call_costs, C);
    set(r, HITL_PARAM_ROUTE_MODE, HITL_ROUTE_CAPACITY);
    set(r, HITL_PARAM_ROUTE_CAPACITY, 0.3);
    set(r, HITL_PARAM_ROUTE_DECISION, HITL_ROUTE_DECIDE_COST);
    pool_call ev = { hitl_router_evaluate_pool, model, pool, DET_TRAIN,
                     DET_N - DET_TRAIN };
    oom_keeps_router(r, call_pool, &ev);
    oom_fit_detector(r, model, pool, 0);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_DETECTOR_ACTIVE), 1);
    set(r, HITL_PARAM_ROUTE_SCORE, HITL_ROUTE_SCORE_DETECTOR);
    oom_keeps_router(r, call_pool, &ev);
    ck_assert_double_eq(info(r, HITL_ROUTER_INFO_DETECTOR_USED), 1);
    /* With a committee: its consensus is one more allocation per call. */
    hitl_committee *com;
    ck_assert_int_eq(hitl_committee_create(&com, 2, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(com, 1.0), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(com, 2.0), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(com, pool), HITL_OK);
    ck_assert_int_eq(hitl_router_set_committee(r, com), HITL_OK);
    oom_fit_detector(r, model, pool, 1);
    oom_keeps_router(r, call_pool, &ev);
    for (long fail_at = 0;; fail_at++) {
        size_t taken = 12345;
        oom_arm(fail_at);
        int rc = hitl_router_route_pool(&taken, NULL, NULL, NULL, r, model, pool,
                                        DET_TRAIN, DET_N - DET_TRAIN);
        oom_arm(-1);
        if (rc == HITL_OK)
            break;
        ck_assert_int_eq(rc, HITL_ENOMEM);
        ck_assert_uint_eq(taken, 12345);
    }
    hitl_router_free(r);
    hitl_committee_free(com);
    hitl_model_free(model);
    hitl_pool_free(pool);
    oom_uninstall();
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("calibrate");
    tcase_add_test(tc, test_hand_worked);
    tcase_add_test(tc, test_brute_force);
    tcase_add_test(tc, test_exact_bound);
    suite_add_tcase(s, tc);
    tc = tcase_create("temperature");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_temperature_recovers);
    tcase_add_test(tc, test_temperature_optimal);
    tcase_add_test(tc, test_route_tempered);
    tcase_add_test(tc, test_ece_nll);
    suite_add_tcase(s, tc);
    tc = tcase_create("modes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_small_sample_exact);
    tcase_add_test(tc, test_temperature_guard);
    tcase_add_test(tc, test_cost_decision);
    tcase_add_test(tc, test_capacity_mode);
    tcase_add_test(tc, test_budget_mode);
    tcase_add_test(tc, test_detector_cross_fitted);
    tcase_add_test(tc, test_detector_committee);
    tcase_add_test(tc, test_oom_modes);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_errors_leave_router);
    tcase_add_test(tc, test_oom);
    suite_add_tcase(s, tc);
    tc = tcase_create("digits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_digits_end_to_end);
    tcase_add_test(tc, test_pool_errors);
    tcase_add_test(tc, test_pool_oom);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(route_suite)
