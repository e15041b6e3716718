/* Stream selection: every rule's decisions against a direct implementation
 * of its formula on a recorded stream (written here, sharing no code with
 * the library but its random generator, so draws can be matched one by
 * one); the realised label rate within one point of the budget over every
 * 1,000 items after a warm-up on stationary streams; batch-size
 * independence; determinism for a seed; save and load mid-stream; scoring
 * from rows and from the pool (IWAL weights reaching the pool); parameters,
 * every error path (stream unchanged) and out-of-memory recovery.
 *
 * Linked with the library's objects: the references draw from hitl__rng. */
#include "internal.h"
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define EXPECT(cond, ...) \
    do { \
        if (!(cond)) \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

static const hitl_stream_kind ALL_KINDS[] = {
    HITL_STREAM_RANDOM, HITL_STREAM_FIXED_UNCERTAINTY, HITL_STREAM_VARIABLE_UNCERTAINTY,
    HITL_STREAM_RANDOMIZED_UNCERTAINTY, HITL_STREAM_SPLIT, HITL_STREAM_QUANTILE_FILTER,
    HITL_STREAM_IWAL
};
#define N_KINDS (sizeof ALL_KINDS / sizeof ALL_KINDS[0])

/* ---- a recorded stream: n rows of K probabilities ---------------------------------- */

static uint64_t gen_state;
static double gen_unit(void)
{
    return (double)(test_splitmix(&gen_state) >> 11) * 0x1.0p-53;
}

/* Softmax of logits spread by `scale`: a stationary stream whose
 * confidence varies from item to item. */
static float *record_stream(size_t n, size_t K, double scale, uint64_t seed)
{
    float *P = malloc(n * K * sizeof *P);
    double *z = malloc(K * sizeof *z);
    gen_state = seed;
    for (size_t i = 0; i < n; i++) {
        double mx = -1e300, sum = 0;
        double spread = scale * gen_unit();
        for (size_t c = 0; c < K; c++) {
            z[c] = spread * (gen_unit() + gen_unit() + gen_unit() - 1.5);
            mx = z[c] > mx ? z[c] : mx;
        }
        for (size_t c = 0; c < K; c++)
            sum += (z[c] = exp(z[c] - mx));
        for (size_t c = 0; c < K; c++)
            P[i * K + c] = (float)(z[c] / sum);
    }
    free(z);
    return P;
}

/* A recorded stream and room for the decisions of one pass over it. */
typedef struct recording {
    float *P;
    uint8_t *ask;
    float *wt;
} recording;

static recording rec_make(size_t n, size_t K, double scale, uint64_t seed)
{
    recording r = { record_stream(n, K, scale, seed), malloc(n), malloc(n * sizeof(float)) };
    return r;
}

static void rec_free(recording *r)
{
    free(r->P);
    free(r->ask);
    free(r->wt);
}

/* ---- the references ----------------------------------------------------------------- */

typedef struct ref {
    int kind;
    double b, theta_fixed, s, delta, nu, wtol, c0;
    double w;
    double u, theta, Q, S;
    double seen, asked;
    double *hist;            /* the last w utilities, oldest first */
    size_t nh;
    hitl__rng rng;
} ref;

static void ref_init(ref *r, int kind, uint64_t seed, size_t w)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->b = 0.1;
    r->s = 0.01;
    r->delta = 1;
    r->nu = 0.2;
    r->wtol = 50;
    r->c0 = 8;
    r->w = (double)w;
    r->theta = 1;
    r->hist = malloc(w * sizeof *r->hist);
    hitl__rng_seed(&r->rng, seed, 0);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.quantile(h, q) with linear interpolation. */
static double np_quantile(const double *h, size_t n, double q)
{
    double *c = malloc(n * sizeof *c);
    memcpy(c, h, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp);
    double pos = (double)(n - 1) * q;
    size_t lo = (size_t)pos;
    double v = lo + 1 < n ? c[lo] + (pos - (double)lo) * (c[lo + 1] - c[lo]) : c[n - 1];
    free(c);
    return v;
}

/* Vowpal Wabbit's get_active_coin_bias and query_decision, as published. */
static double vw_bias(double k, double avg_loss, double g, double c0)
{
    double b = c0 * (log(k + 1.) + 0.0001) / (k + 0.0001);
    double sb = sqrt(b);
    avg_loss = fmin(1., fmax(0., avg_loss));
    double sl = sqrt(avg_loss) + sqrt(avg_loss + g);
    if (g <= sb * sl + b)
        return 1;
    double rs = (sl + sqrt(sl * sl + 4 * g)) / (2 * g);
    return b * rs * rs;
}

/* One item of probabilities p; returns 1 to ask, *wt its weight. */
static int ref_decide(ref *r, const float *p, size_t K, double *wt)
{
    double p1 = -1, p2 = -1;
    for (size_t c = 0; c < K; c++) {
        if (p[c] > p1) {
            p2 = p1;
            p1 = p[c];
        } else if (p[c] > p2) {
            p2 = p[c];
        }
    }
    int a = 0;
    *wt = 1;
    if (r->kind == HITL_STREAM_QUANTILE_FILTER) {
        if (r->nh == (size_t)r->w) {
            memmove(r->hist, r->hist + 1, (r->nh - 1) * sizeof *r->hist);
            r->nh--;
        }
        r->hist[r->nh++] = 1 - p1;
        double th = np_quantile(r->hist, r->nh, 1 - r->b);
        double mn = r->hist[0], mx = r->hist[0];
        for (size_t i = 1; i < r->nh; i++) {
            mn = fmin(mn, r->hist[i]);
            mx = fmax(mx, r->hist[i]);
        }
        double acq_left = r->b * (r->seen + 1) - r->asked;
        a = 1 - p1 >= th - (mx - mn) * acq_left / r->wtol;
    } else if (r->kind == HITL_STREAM_IWAL) {
        double k = r->seen, bias = 1;
        if (k > 1) {
            double avg = r->S / k + sqrt((1. + 0.5 * log(k)) / (r->Q + 0.0001));
            bias = vw_bias(k, avg, p1 - p2, r->c0);
        }
        a = hitl__rng_unit(&r->rng) < bias;
        *wt = 1 / bias;
    } else if (r->u / r->w < r->b) {
        int variable = 0;
        if (r->kind == HITL_STREAM_RANDOM) {
            a = hitl__rng_unit(&r->rng) < r->b;
        } else if (r->kind == HITL_STREAM_FIXED_UNCERTAINTY) {
            double th = r->theta_fixed > 0 ? r->theta_fixed : 1.0 / K + r->b * (1 - 1.0 / K);
            a = p1 < th;
        } else if (r->kind == HITL_STREAM_RANDOMIZED_UNCERTAINTY) {
            double u1 = hitl__rng_unit(&r->rng), u2 = hitl__rng_unit(&r->rng);
            double eta = 1 + r->delta * sqrt(-2 * log(1 - u1)) * cos(6.283185307179586 * u2);
            a = p1 < r->theta * eta;
            variable = 1;
        } else if (r->kind == HITL_STREAM_SPLIT && hitl__rng_unit(&r->rng) < r->nu) {
            a = hitl__rng_unit(&r->rng) < r->b;
        } else {
            a = p1 < r->theta;
            variable = 1;
        }
        if (variable)
            r->theta *= a ? 1 - r->s : 1 + r->s;
    }
    r->u = r->u * (r->w - 1) / r->w + a;
    r->seen++;
    r->asked += a;
    if (a)
        r->Q += *wt;
    return a;
}

/* ---- helpers ---------------------------------------------------------------------- */

static hitl_stream *new_stream(hitl_stream_kind kind, uint64_t seed)
{
    hitl_stream *s = NULL;
    ck_assert_int_eq(hitl_stream_create(&s, kind), HITL_OK);
    ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_SEED, (double)seed), HITL_OK);
    return s;
}

static double info(const hitl_stream *s, hitl_stream_info i)
{
    double v;
    ck_assert_int_eq(hitl_stream_get_info(&v, s, i), HITL_OK);
    return v;
}

/* Decide n rows in batches of random sizes (1 .. 300). */
static void decide_batches(hitl_stream *s, uint8_t *ask, float *wt, const float *P,
                           size_t n, size_t K, uint64_t seed)
{
    uint64_t g = seed;
    for (size_t i = 0; i < n;) {
        size_t m = 1 + test_splitmix(&g) % 300;
        m = m > n - i ? n - i : m;
        size_t asked;
        ck_assert_int_eq(hitl_stream_decide(&asked, ask + i, wt + i, s, P + i * K, m, K),
                         HITL_OK);
        i += m;
    }
}

/* ---- tests ------------------------------------------------------------------------- */

START_TEST(rules_match_reference)
{
    const size_t n = 20000;
    const size_t Ks[] = { 2, 3, 10 };
    for (size_t ki = 0; ki < 3; ki++) {
        size_t K = Ks[ki];
        recording rec = rec_make(n, K, 6.0, 100 + K);
        float *P = rec.P, *wt = rec.wt;
        uint8_t *ask = rec.ask;
        for (size_t j = 0; j < N_KINDS; j++) {
            hitl_stream *s = new_stream(ALL_KINDS[j], 7 + K);
            ref r;
            ref_init(&r, ALL_KINDS[j], 7 + K, 100);
            decide_batches(s, ask, wt, P, n, K, 11 * K + j);
            size_t n_asked = 0;
            for (size_t i = 0; i < n; i++) {
                double w;
                int a = ref_decide(&r, P + i * K, K, &w);
                EXPECT(a == ask[i], "kind %d K %zu item %zu: library %d, reference %d",
                       (int)ALL_KINDS[j], K, i, ask[i], a);
                EXPECT(!a || fabs(wt[i] - (float)w) <= 1e-6 * w,
                       "kind %d item %zu: weight %g, reference %g", (int)ALL_KINDS[j], i,
                       (double)wt[i], w);
                n_asked += (size_t)a;
            }
            ck_assert_uint_eq((size_t)info(s, HITL_STREAM_INFO_ASKED), n_asked);
            ck_assert_uint_eq((size_t)info(s, HITL_STREAM_INFO_SEEN), n);
            ck_assert_msg(n_asked > 0 && n_asked < n, "kind %d asked %zu of %zu",
                          (int)ALL_KINDS[j], n_asked, n);
            free(r.hist);
            hitl_stream_free(s);
        }
        rec_free(&rec);
    }
}
END_TEST

/* Non-default parameters reach the rules as the reference reads them. */
START_TEST(parameters_reach_rules)
{
    const size_t n = 5000, K = 4;
    recording rec = rec_make(n, K, 4.0, 5);
    float *P = rec.P, *wt = rec.wt;
    uint8_t *ask = rec.ask;
    for (size_t j = 0; j < N_KINDS; j++) {
        hitl_stream *s = new_stream(ALL_KINDS[j], 3);
        ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_WINDOW, 37), HITL_OK);
        ref r;
        ref_init(&r, ALL_KINDS[j], 3, 37);
        r.b = 0.25;
        r.theta_fixed = 0.6;
        r.s = 0.05;
        r.delta = 0.3;
        r.nu = 0.5;
        r.wtol = 20;
        r.c0 = 2;
        r.S = 0;
        ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_BUDGET, 0.25), HITL_OK);
        ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_THRESHOLD, 0.6), HITL_OK);
        ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_STEP, 0.05), HITL_OK);
        ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_DELTA, 0.3), HITL_OK);
        ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_SPLIT, 0.5), HITL_OK);
        ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_TOLERANCE, 20), HITL_OK);
        ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_MELLOWNESS, 2), HITL_OK);
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(hitl_stream_decide(NULL, ask + i, wt + i, s, P + i * K, 1, K),
                             HITL_OK);
            if (ask[i]) {   /* IWAL's S: the model was wrong on every third */
                double loss = i % 3 == 0;
                ck_assert_int_eq(hitl_stream_add_loss(s, loss, wt[i]), HITL_OK);
            }
            double w;
            int a = ref_decide(&r, P + i * K, K, &w);
            if (a)
                r.S += (i % 3 == 0) * (double)(float)w;
            EXPECT(a == ask[i], "kind %d item %zu: library %d, reference %d",
                   (int)ALL_KINDS[j], i, ask[i], a);
        }
        free(r.hist);
        hitl_stream_free(s);
    }
    rec_free(&rec);
}
END_TEST

/* Realised rate within one point of b over every block of 1,000 items
 * after a warm-up of 1,000, for the rules that follow the budget. */
START_TEST(rate_follows_budget)
{
    const size_t n = 100000, K = 5, warm = 1000, win = 1000;
    const hitl_stream_kind kinds[] = {
        HITL_STREAM_VARIABLE_UNCERTAINTY, HITL_STREAM_RANDOMIZED_UNCERTAINTY,
        HITL_STREAM_SPLIT, HITL_STREAM_QUANTILE_FILTER
    };
    const double budgets[] = { 0.02, 0.05, 0.1, 0.3 };
    recording rec = rec_make(n, K, 8.0, 42);
    float *P = rec.P, *wt = rec.wt;
    uint8_t *ask = rec.ask;
    for (size_t j = 0; j < 4; j++)
        for (size_t bi = 0; bi < 4; bi++) {
            hitl_stream *s = new_stream(kinds[j], 9);
            ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_BUDGET, budgets[bi]),
                             HITL_OK);
            decide_batches(s, ask, wt, P, n, K, 5);
            /* every block of 1,000 (items 1000-1999, 2000-2999, ...), and,
             * printed for scale, every window at any offset */
            double worst = 0, sliding = 0;
            size_t c = 0;            /* asked in the window ending at item a */
            for (size_t a = warm; a < n; a++) {
                c += ask[a];
                if (a >= warm + win)
                    c -= ask[a - win];
                if (a + 1 < warm + win)
                    continue;
                double dev = fabs((double)c / win - budgets[bi]);
                sliding = dev > sliding ? dev : sliding;
                if ((a + 1 - warm) % win == 0)
                    worst = dev > worst ? dev : worst;
            }
            printf("stream kind %d, b = %.2f: worst |rate - b| over the blocks of 1000 "
                   "items %.4f (any window of 1000: %.4f)\n", (int)kinds[j], budgets[bi],
                   worst, sliding);
            ck_assert_msg(worst <= 0.01, "kind %d b %g: a block is %.4f from b",
                          (int)kinds[j], budgets[bi], worst);
            hitl_stream_free(s);
        }
    rec_free(&rec);
}
END_TEST

/* FIXED never exceeds the budget; IWAL asks less as it goes. */
START_TEST(fixed_and_iwal_rates)
{
    const size_t n = 50000, K = 5;
    recording rec = rec_make(n, K, 8.0, 43);
    float *P = rec.P, *wt = rec.wt;
    uint8_t *ask = rec.ask;
    hitl_stream *s = new_stream(HITL_STREAM_FIXED_UNCERTAINTY, 1);
    decide_batches(s, ask, wt, P, n, K, 1);
    ck_assert(info(s, HITL_STREAM_INFO_RATE) <= 0.1 + 0.01);
    hitl_stream_free(s);
    s = new_stream(HITL_STREAM_IWAL, 1);
    decide_batches(s, ask, wt, P, n, K, 1);
    size_t early = 0, late = 0;
    double wsum = 0;
    for (size_t i = 0; i < n; i++) {
        early += i < 5000 && ask[i];
        late += i >= n - 5000 && ask[i];
        wsum += wt[i];
        ck_assert(ask[i] ? wt[i] >= 1 : wt[i] == 0);
    }
    ck_assert_msg(late < early, "IWAL asked %zu early, %zu late", early, late);
    ck_assert(fabs(info(s, HITL_STREAM_INFO_WEIGHT_SUM) - wsum) <= 1e-3 * wsum);
    hitl_stream_free(s);
    rec_free(&rec);
}
END_TEST

START_TEST(deterministic_and_restorable)
{
    const size_t n = 6000, K = 3;
    float *P = record_stream(n, K, 5.0, 77);
    uint8_t *a1 = malloc(n), *a2 = malloc(n);
    float *w1 = malloc(n * sizeof *w1), *w2 = malloc(n * sizeof *w2);
    for (size_t j = 0; j < N_KINDS; j++) {
        hitl_stream *s = new_stream(ALL_KINDS[j], 123), *t = new_stream(ALL_KINDS[j], 123);
        decide_batches(s, a1, w1, P, n, K, 1);
        /* t: half, then saved and loaded, then the rest */
        decide_batches(t, a2, w2, P, n / 2, K, 2);
        size_t size, written;
        ck_assert_int_eq(hitl_stream_save_size(&size, t), HITL_OK);
        unsigned char *buf = malloc(size);
        ck_assert_int_eq(hitl_stream_save(&written, buf, size, t), HITL_OK);
        ck_assert_uint_eq(written, size);
        hitl_stream *u = NULL;
        ck_assert_int_eq(hitl_stream_load(&u, buf, size), HITL_OK);
        /* the loaded stream saves the same bytes */
        unsigned char *again = malloc(size);
        ck_assert_int_eq(hitl_stream_save(&written, again, size, u), HITL_OK);
        ck_assert_mem_eq(buf, again, size);
        decide_batches(u, a2 + n / 2, w2 + n / 2, P + n / 2 * K, n - n / 2, K, 3);
        ck_assert_mem_eq(a1, a2, n);
        ck_assert_mem_eq(w1, w2, n * sizeof *w1);
        /* every corruption is refused */
        for (size_t i = 0; i < size; i += 7) {
            buf[i] ^= 0x10;
            hitl_stream *bad = NULL;
            ck_assert_int_eq(hitl_stream_load(&bad, buf, size), HITL_EFORMAT);
            ck_assert_ptr_null(bad);
            buf[i] ^= 0x10;
        }
        hitl_stream *bad = NULL;
        ck_assert_int_eq(hitl_stream_load(&bad, buf, size - 1), HITL_EFORMAT);
        free(buf);
        free(again);
        /* another seed gives other decisions for the random kinds */
        if (ALL_KINDS[j] == HITL_STREAM_RANDOM || ALL_KINDS[j] == HITL_STREAM_IWAL ||
            ALL_KINDS[j] == HITL_STREAM_SPLIT) {
            hitl_stream *o = new_stream(ALL_KINDS[j], 124);
            decide_batches(o, a2, w2, P, n, K, 1);
            ck_assert(memcmp(a1, a2, n) != 0);
            hitl_stream_free(o);
        }
        hitl_stream_free(s);
        hitl_stream_free(t);
        hitl_stream_free(u);
    }
    free(P);
    free(a1);
    free(a2);
    free(w1);
    free(w2);
}
END_TEST

/* A fitted model on a small synthetic set. */
static hitl_model *fitted_model(hitl_pool **pool_out, float **X_out, size_t n, size_t d,
                                size_t K)
{
    float *X = malloc(n * d * sizeof *X);
    gen_state = 99;
    hitl_pool *pool = NULL;
    ck_assert_int_eq(hitl_pool_create(&pool, d), HITL_OK);
    for (size_t i = 0; i < n * d; i++)
        X[i] = (float)(gen_unit() * 2 - 1);
    ck_assert_int_eq(hitl_pool_add(pool, X, n, d, NULL), HITL_OK);
    for (size_t i = 0; i < n; i += 3)
        ck_assert_int_eq(hitl_pool_set_label(pool, i, (int32_t)((X[i * d] > 0) + (K > 2 && X[i * d + 1] > 0.5))), HITL_OK);
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&m, d, K), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
    *pool_out = pool;
    *X_out = X;
    return m;
}

START_TEST(rows_and_pool_match_probabilities)
{
    const size_t n = 1000, d = 7, K = 3;
    hitl_pool *pool;
    float *X;
    hitl_model *m = fitted_model(&pool, &X, n, d, K);
    float *P = malloc(n * K * sizeof *P);
    ck_assert_int_eq(hitl_model_predict(P, m, X, n, d), HITL_OK);
    uint8_t *a1 = malloc(n), *a2 = malloc(n), *a3 = malloc(n);
    float *w1 = malloc(n * sizeof *w1), *w2 = malloc(n * sizeof *w2);
    for (size_t j = 0; j < N_KINDS; j++) {
        hitl_stream *s = new_stream(ALL_KINDS[j], 5), *t = new_stream(ALL_KINDS[j], 5),
                    *u = new_stream(ALL_KINDS[j], 5);
        size_t c1, c2, c3;
        ck_assert_int_eq(hitl_stream_decide(&c1, a1, w1, s, P, n, K), HITL_OK);
        ck_assert_int_eq(hitl_stream_decide_rows(&c2, a2, w2, t, m, X, n, d), HITL_OK);
        ck_assert_int_eq(hitl_stream_decide_pool(&c3, a3, u, m, pool, 0, n), HITL_OK);
        ck_assert_mem_eq(a1, a2, n);
        ck_assert_mem_eq(a1, a3, n);
        ck_assert_mem_eq(w1, w2, n * sizeof *w1);
        ck_assert_uint_eq(c1, c2);
        ck_assert_uint_eq(c1, c3);
        for (size_t i = 0; i < n; i++) {   /* asked items carry their weight */
            float pw;
            ck_assert_int_eq(hitl_pool_weight(&pw, pool, i), HITL_OK);
            if (a3[i])
                ck_assert_float_eq(pw, w1[i]);
            ck_assert_int_eq(hitl_pool_set_weight(pool, i, 1.0f), HITL_OK);
        }
        hitl_stream_free(s);
        hitl_stream_free(t);
        hitl_stream_free(u);
    }
    /* an unfitted model: every item uniform */
    hitl_model *fresh = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&fresh, d, K), HITL_OK);
    float *U = malloc(n * K * sizeof *U);
    for (size_t i = 0; i < n * K; i++)
        U[i] = 1.0f / 3.0f;
    hitl_stream *s = new_stream(HITL_STREAM_SPLIT, 1), *t = new_stream(HITL_STREAM_SPLIT, 1);
    ck_assert_int_eq(hitl_stream_decide(NULL, a1, NULL, s, U, n, K), HITL_OK);
    ck_assert_int_eq(hitl_stream_decide_rows(NULL, a2, NULL, t, fresh, X, n, d), HITL_OK);
    ck_assert_mem_eq(a1, a2, n);
    hitl_stream_free(s);
    hitl_stream_free(t);
    hitl_model_free(fresh);
    free(U);
    free(P);
    free(X);
    free(a1);
    free(a2);
    free(a3);
    free(w1);
    free(w2);
    hitl_model_free(m);
    hitl_pool_free(pool);
}
END_TEST

static void msg_has(const char *part)
{
    ck_assert_msg(strstr(hitl_error_message(), part) != NULL, "message \"%s\" lacks \"%s\"",
                  hitl_error_message(), part);
}

START_TEST(errors_leave_stream_unchanged)
{
    hitl_stream *s = NULL;
    ck_assert_int_eq(hitl_stream_create(NULL, HITL_STREAM_SPLIT), HITL_EINVAL);
    ck_assert_int_eq(hitl_stream_create(&s, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_stream_create(&s, 8), HITL_EINVAL);
    msg_has("unknown stream kind 8");
    hitl_stream_free(NULL);
    s = new_stream(HITL_STREAM_QUANTILE_FILTER, 0);
    const struct { hitl_param p; double v; } bad[] = {
        { HITL_PARAM_STREAM_BUDGET, 0 }, { HITL_PARAM_STREAM_BUDGET, 1.5 },
        { HITL_PARAM_STREAM_BUDGET, NAN }, { HITL_PARAM_STREAM_THRESHOLD, -0.1 },
        { HITL_PARAM_STREAM_STEP, 1 }, { HITL_PARAM_STREAM_DELTA, 0 },
        { HITL_PARAM_STREAM_SPLIT, 1.1 }, { HITL_PARAM_STREAM_WINDOW, 0 },
        { HITL_PARAM_STREAM_WINDOW, 2.5 }, { HITL_PARAM_STREAM_WINDOW, 70000 },
        { HITL_PARAM_STREAM_TOLERANCE, 0.5 }, { HITL_PARAM_STREAM_MELLOWNESS, INFINITY },
        { HITL_PARAM_STREAM_SEED, -1 }, { HITL_PARAM_SEED, 1 }, { HITL_PARAM_L2, 1 }
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(hitl_stream_set_param(s, bad[i].p, bad[i].v), HITL_EINVAL);
    double v;
    ck_assert_int_eq(hitl_stream_get_param(&v, s, HITL_PARAM_STREAM_BUDGET), HITL_OK);
    ck_assert(v == 0.1);
    ck_assert_int_eq(hitl_stream_get_param(&v, s, HITL_PARAM_STREAM_WINDOW), HITL_OK);
    ck_assert(v == 100);
    ck_assert_int_eq(hitl_stream_get_param(&v, s, HITL_PARAM_STREAM_MELLOWNESS), HITL_OK);
    ck_assert(v == 8);
    ck_assert_int_eq(hitl_stream_get_param(&v, s, HITL_PARAM_SEED), HITL_EINVAL);
    ck_assert_int_eq(hitl_stream_get_info(&v, s, 99), HITL_EINVAL);
    ck_assert_int_eq(hitl_stream_add_loss(s, 1.5, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_stream_add_loss(s, 0.5, 0), HITL_EINVAL);

    float P[] = { 0.5f, 0.5f, 0.9f, 0.1f, 0.2f, NAN };
    uint8_t ask[3] = { 7, 7, 7 };
    float wt[3] = { 7, 7, 7 };
    size_t c = 99;
    ck_assert_int_eq(hitl_stream_decide(&c, ask, wt, s, P, 3, 2), HITL_ENUMERIC);
    msg_has("proba[2][1] is NaN");
    P[5] = 1.5f;
    ck_assert_int_eq(hitl_stream_decide(&c, ask, wt, s, P, 3, 2), HITL_EINVAL);
    msg_has("proba[2][1] = 1.5");
    ck_assert_int_eq(hitl_stream_decide(&c, ask, wt, s, P, 3, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_stream_decide(&c, NULL, wt, s, P, 3, 2), HITL_EINVAL);
    ck_assert(ask[0] == 7 && wt[0] == 7 && c == 99);
    ck_assert(info(s, HITL_STREAM_INFO_SEEN) == 0);
    ck_assert_int_eq(hitl_stream_decide(&c, NULL, NULL, s, NULL, 0, 2), HITL_OK);
    ck_assert_uint_eq(c, 0);

    /* rows: NaN in X, stride, dims, range */
    hitl_pool *pool;
    float *X;
    hitl_model *m = fitted_model(&pool, &X, 30, 4, 2);
    X[2 * 4 + 3] = INFINITY;
    ck_assert_int_eq(hitl_stream_decide_rows(&c, ask, wt, s, m, X, 3, 4), HITL_ENUMERIC);
    msg_has("X[2][3] is Inf");
    ck_assert_int_eq(hitl_stream_decide_rows(&c, ask, wt, s, m, X, 3, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_stream_decide_rows(&c, ask, wt, s, NULL, X, 3, 4), HITL_EINVAL);
    ck_assert_int_eq(hitl_stream_decide_pool(&c, ask, s, m, pool, 28, 3), HITL_EINVAL);
    msg_has("leave the pool");
    ck_assert_int_eq(hitl_stream_decide_pool(&c, ask, s, m, NULL, 0, 3), HITL_EINVAL);
    ck_assert(info(s, HITL_STREAM_INFO_SEEN) == 0);
    ck_assert_int_eq(hitl_stream_decide_pool(&c, ask, s, m, pool, 0, 3), HITL_OK);
    ck_assert(info(s, HITL_STREAM_INFO_SEEN) == 3);
    ck_assert_int_eq(hitl_stream_set_param(s, HITL_PARAM_STREAM_WINDOW, 10), HITL_ESTATE);
    size_t written;
    unsigned char buf[8];
    ck_assert_int_eq(hitl_stream_save(&written, buf, sizeof buf, s), HITL_EINVAL);
    msg_has("capacity 8");
    ck_assert_int_eq(hitl_stream_load(NULL, buf, 8), HITL_EINVAL);
    hitl_stream *l = NULL;
    ck_assert_int_eq(hitl_stream_load(&l, buf, 8), HITL_EFORMAT);
    free(X);
    hitl_model_free(m);
    hitl_pool_free(pool);
    hitl_stream_free(s);
}
END_TEST

START_TEST(out_of_memory)
{
    oom_install();
    hitl_pool *pool;
    float *X;
    hitl_model *m = fitted_model(&pool, &X, 300, 5, 3);
    uint8_t ask[300];
    float wt[300];
    for (size_t j = 0; j < N_KINDS; j++) {
        hitl_stream *s = NULL;
        int st = HITL_ENOMEM;
        for (long f = 0; st == HITL_ENOMEM; f++) {
            oom_arm(f);
            st = hitl_stream_create(&s, ALL_KINDS[j]);
        }
        ck_assert_int_eq(st, HITL_OK);
        for (int round = 0; round < 2; round++) {
            st = HITL_ENOMEM;
            for (long f = 0; st == HITL_ENOMEM; f++) {
                oom_arm(f);
                st = round ? hitl_stream_decide_pool(NULL, ask, s, m, pool, 0, 300)
                           : hitl_stream_decide_rows(NULL, ask, wt, s, m, X, 300, 5);
                if (st == HITL_ENOMEM)
                    ck_assert(info(s, HITL_STREAM_INFO_SEEN) == 300.0 * round);
            }
            ck_assert_int_eq(st, HITL_OK);
        }
        oom_arm(-1);
        size_t size, written;
        ck_assert_int_eq(hitl_stream_save_size(&size, s), HITL_OK);
        unsigned char *buf = malloc(size);
        ck_assert_int_eq(hitl_stream_save(&written, buf, size, s), HITL_OK);
        hitl_stream *l = NULL;
        st = HITL_ENOMEM;
        for (long f = 0; st == HITL_ENOMEM; f++) {
            oom_arm(f);
            st = hitl_stream_load(&l, buf, size);
        }
        ck_assert_int_eq(st, HITL_OK);
        oom_arm(-1);
        free(buf);
        hitl_stream_free(l);
        hitl_stream_free(s);
    }
    free(X);
    hitl_model_free(m);
    hitl_pool_free(pool);
    oom_uninstall();
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *t = tcase_create("rules");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, rules_match_reference);
    tcase_add_test(t, parameters_reach_rules);
    tcase_add_test(t, rate_follows_budget);
    tcase_add_test(t, fixed_and_iwal_rates);
    tcase_add_test(t, deterministic_and_restorable);
    suite_add_tcase(s, t);
    t = tcase_create("api");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, rows_and_pool_match_probabilities);
    tcase_add_test(t, errors_leave_stream_unchanged);
    tcase_add_test(t, out_of_memory);
    suite_add_tcase(s, t);
    return s;
}

HITL_TEST_MAIN(stream_suite)
