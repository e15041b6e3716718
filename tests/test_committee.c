/* Committee: the four disagreement measures against hand-worked tables (both
 * through hitl_disagreement and through a committee of caller models that
 * return those tables), bagging (members differ; a committee of one without
 * bootstrap is the single model), the one-pass scoring against each
 * member's own predictions, determinism (seed, threads, block size), every
 * error path, failure atomicity and out-of-memory recovery. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EPS 2e-6

/* ---- hand-worked tables ----------------------------------------------------- */

/*
 * Table A: three members, three classes.
 *   P1 = (0.7, 0.2, 0.1)   P2 = (0.2, 0.6, 0.2)   P3 = (0.6, 0.3, 0.1)
 * Votes: classes 0, 1, 0, so V/M = (2/3, 1/3, 0) and
 *   vote entropy = -(2/3 ln 2/3 + 1/3 ln 1/3) = 2/3 * 0.405465 + 1/3 * 1.098612
 *                = 0.636514.
 * Consensus Pbar = (0.5, 0.366667, 0.133333):
 *   H(Pbar) = 0.5*0.693147 + 0.366667*1.003302 + 0.133333*2.014903 = 0.983105.
 * KL(P_m || Pbar):
 *   m1 = 0.7 ln 1.4 + 0.2 ln 0.545455 + 0.1 ln 0.75     = 0.085535
 *   m2 = 0.2 ln 0.4 + 0.6 ln 1.636364 + 0.2 ln 1.5      = 0.193304
 *   m3 = 0.6 ln 1.2 + 0.3 ln 0.818182 + 0.1 ln 0.75     = 0.020422
 *   mean = 0.099760.
 * BALD: H(P1) = 0.801819, H(P2) = 0.950271, H(P3) = 0.897946, mean 0.883345;
 *   0.983105 - 0.883345 = 0.099760 (equal to KL, as it must be).
 *
 * Table B: four members, four classes, with ties.
 *   P1 = (0.4, 0.4, 0.1, 0.1)  votes class 0 (tie to the lower class)
 *   P2 = (0.1, 0.1, 0.1, 0.7)  votes 3
 *   P3 = (0.25 x 4)            votes 0
 *   P4 = (0, 0.5, 0.5, 0)      votes 1
 * V/M = (1/2, 1/4, 0, 1/4): vote entropy = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.039721.
 * Pbar = (0.1875, 0.3125, 0.2375, 0.2625): H = 1.369877.
 * KL = BALD = 1.369877 - mean(1.193929, 0.940448, 1.386294, 0.693147)
 *           = 1.369877 - 1.053455 = 0.316517.
 *
 * Table C: unanimous members (every one (0.1, 0.9)): vote entropy, KL and
 * BALD are 0, consensus entropy is H(0.1, 0.9) = 0.325083.
 */
static const float TABLE_A[3][3] = {{0.7f, 0.2f, 0.1f}, {0.2f, 0.6f, 0.2f}, {0.6f, 0.3f, 0.1f}};
static const float TABLE_B[4][4] = {{0.4f, 0.4f, 0.1f, 0.1f}, {0.1f, 0.1f, 0.1f, 0.7f},
                                    {0.25f, 0.25f, 0.25f, 0.25f}, {0.0f, 0.5f, 0.5f, 0.0f}};
static const double WANT_A[4] = {0.636514168, 0.983104766, 0.099759827, 0.099759827};
static const double WANT_B[4] = {1.039720771, 1.369877129, 0.316517346, 0.316517346};
static const double WANT_C[4] = {0.0, 0.325082973, 0.0, 0.0};

static const hitl_strategy_kind QBC[4] = {
    HITL_STRATEGY_QBC_VOTE_ENTROPY, HITL_STRATEGY_QBC_CONSENSUS_ENTROPY,
    HITL_STRATEGY_QBC_KL, HITL_STRATEGY_QBC_BALD,
};

START_TEST(test_measures_by_hand)
{
    double s[3];
    float C[3][2] = {{0.1f, 0.9f}, {0.1f, 0.9f}, {0.1f, 0.9f}};
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(hitl_disagreement(s, &TABLE_A[0][0], 1, 3, 3, QBC[k]), HITL_OK);
        ck_assert_double_eq_tol(s[0], WANT_A[k], EPS);
        ck_assert_int_eq(hitl_disagreement(s, &TABLE_B[0][0], 1, 4, 4, QBC[k]), HITL_OK);
        ck_assert_double_eq_tol(s[0], WANT_B[k], EPS);
        ck_assert_int_eq(hitl_disagreement(s, &C[0][0], 1, 3, 2, QBC[k]), HITL_OK);
        ck_assert_double_eq_tol(s[0], WANT_C[k], EPS);
    }
    /* rows are divided by their sums: (7, 2, 1) is (0.7, 0.2, 0.1) */
    float scaled[3][3] = {{7, 2, 1}, {2, 6, 2}, {0.6f, 0.3f, 0.1f}};
    ck_assert_int_eq(hitl_disagreement(s, &scaled[0][0], 1, 3, 3, HITL_STRATEGY_QBC_KL),
                     HITL_OK);
    ck_assert_double_eq_tol(s[0], WANT_A[2], EPS);
    /* a committee of one disagrees with nobody */
    ck_assert_int_eq(hitl_disagreement(s, &TABLE_A[1][0], 1, 1, 3, HITL_STRATEGY_QBC_BALD),
                     HITL_OK);
    ck_assert_double_eq_tol(s[0], 0, EPS);
}
END_TEST

/* Many items at once (more than one internal block of 256), each its own
 * table: the result of item i equals the one-item call. */
START_TEST(test_measures_many_items)
{
    enum { N = 700, M = 5, K = 7 };
    float *P = malloc(N * M * K * sizeof *P);
    double *s = malloc(N * sizeof *s), one;
    uint64_t r = 42;
    for (size_t i = 0; i < N * M * K; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        P[i] = (float)((r >> 40) % 1000) / 1000.0f + (i % 3 == 0 ? 0.0f : 0.01f);
    }
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(hitl_disagreement(s, P, N, M, K, QBC[k]), HITL_OK);
        for (size_t i = 0; i < N; i += 37) {
            ck_assert_int_eq(hitl_disagreement(&one, P + i * M * K, 1, M, K, QBC[k]), HITL_OK);
            ck_assert_double_eq_tol(s[i], one, 1e-12);
        }
        double top = k == 1 ? log(K) : log(M);
        for (size_t i = 0; i < N; i++)
            ck_assert(s[i] >= 0 && s[i] <= top + 1e-9);
    }
    free(P);
    free(s);
}
END_TEST

/* Vote entropy for committees small and large (the votes are counted
 * pairwise up to 32 members and by a tally beyond): equal to
 * -sum_c (V_c/M) log(V_c/M) computed here from each member's argmax (ties to
 * the lower class), on random tables with many ties. */
START_TEST(test_vote_entropy_any_size)
{
    static const size_t Ms[] = { 1, 2, 5, 31, 32, 33, 40, 100 };
    enum { N = 50, K = 4 };
    uint64_t r = 7;
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++) {
        size_t M = Ms[a];
        float *P = malloc(N * M * K * sizeof *P);
        double *s = malloc(N * sizeof *s);
        for (size_t i = 0; i < N * M * K; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            P[i] = (float)((r >> 40) % 3 + 1);    /* 1, 2 or 3: ties are common */
        }
        ck_assert_int_eq(hitl_disagreement(s, P, N, M, K, HITL_STRATEGY_QBC_VOTE_ENTROPY),
                         HITL_OK);
        for (size_t i = 0; i < N; i++) {
            size_t V[K] = { 0 };
            for (size_t m = 0; m < M; m++) {
                const float *p = P + (i * M + m) * K;
                size_t best = 0;
                for (size_t c = 1; c < K; c++)
                    if (p[c] > p[best])
                        best = c;
                V[best]++;
            }
            double h = 0;
            for (size_t c = 0; c < K; c++)
                if (V[c])
                    h -= (double)V[c] / (double)M * log((double)V[c] / (double)M);
            ck_assert_msg(fabs(s[i] - h) <= 1e-12, "M %zu item %zu: %.15g, want %.15g", M,
                          i, s[i], h);
        }
        free(P);
        free(s);
    }
}
END_TEST

START_TEST(test_disagreement_errors)
{
    double s[2] = {-7, -7};
    float P[6] = {0.5f, 0.5f, 0.2f, 0.8f, 0.3f, 0.7f};
    ck_assert_int_eq(hitl_disagreement(NULL, P, 1, 3, 2, QBC[0]), HITL_EINVAL);
    ck_assert_int_eq(hitl_disagreement(s, NULL, 1, 3, 2, QBC[0]), HITL_EINVAL);
    ck_assert_int_eq(hitl_disagreement(s, P, 1, 0, 2, QBC[0]), HITL_EINVAL);
    ck_assert_int_eq(hitl_disagreement(s, P, 1, 4097, 2, QBC[0]), HITL_EINVAL);
    ck_assert_int_eq(hitl_disagreement(s, P, 1, 3, 1, QBC[0]), HITL_EINVAL);
    ck_assert_int_eq(hitl_disagreement(s, P, 1, 3, 2, HITL_STRATEGY_ENTROPY), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "QBC"));
    ck_assert_int_eq(hitl_disagreement(s, P, 0, 3, 2, QBC[0]), HITL_OK); /* nothing */
    P[3] = -0.1f;
    ck_assert_int_eq(hitl_disagreement(s, P, 1, 3, 2, QBC[1]), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "[item 0][member 1][class 1]"));
    P[3] = NAN;
    ck_assert_int_eq(hitl_disagreement(s, P, 1, 3, 2, QBC[1]), HITL_ENUMERIC);
    P[3] = 0.8f;
    P[4] = P[5] = 0;
    ck_assert_int_eq(hitl_disagreement(s, P, 1, 3, 2, QBC[1]), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "sums to 0"));
    ck_assert_double_eq(s[0], -7); /* nothing written on failure */
}
END_TEST

/* ---- a committee of caller models that return the hand-worked tables -------- */

/* Member m of item i (the row's first feature) answers table[i][m]. */
typedef struct table_member {
    const float *table;   /* items x M x K */
    size_t M, K, m;
    int fail;
} table_member;

static int table_predict(void *user, const float *X, size_t n, size_t stride, size_t dim,
                         float *proba)
{
    const table_member *t = user;
    (void)dim;
    if (t->fail)
        return 5;
    for (size_t r = 0; r < n; r++) {
        size_t item = (size_t)X[r * stride];
        memcpy(proba + r * t->K, t->table + (item * t->M + t->m) * t->K, t->K * sizeof *proba);
    }
    return 0;
}

START_TEST(test_committee_of_tables)
{
    /* items 0, 1, 2 carry tables A (padded to 4 members x 4 classes? no: 3 x
       3), so use three classes and three members: A, its permutation, C */
    enum { N = 3, M = 3, K = 3 };
    float T[N][M][K];
    memcpy(T[0], TABLE_A, sizeof T[0]);
    const float unanimous[3] = {0.1f, 0.9f, 0.0f};
    for (int m = 0; m < M; m++) {
        memcpy(T[1][m], unanimous, sizeof T[1][m]);
        for (int c = 0; c < K; c++)               /* item 2: A with classes rotated */
            T[2][m][c] = TABLE_A[m][(c + 1) % K];
    }
    hitl_pool *pool;
    float X[N][2] = {{0, 1}, {1, 1}, {2, 1}};
    ck_assert_int_eq(hitl_pool_create(&pool, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(pool, &X[0][0], N, 2, NULL), HITL_OK);

    hitl_committee *c;
    hitl_model *mm[M];
    table_member tm[M];
    ck_assert_int_eq(hitl_committee_create(&c, 2, K), HITL_OK);
    for (size_t m = 0; m < M; m++) {
        tm[m] = (table_member){ &T[0][0][0], M, K, m, 0 };
        ck_assert_int_eq(hitl_model_create_custom(&mm[m], 2, K, NULL, table_predict, &tm[m]),
                         HITL_OK);
        ck_assert_int_eq(hitl_committee_add_model(c, mm[m]), HITL_OK);
    }
    const double want_unanimous[4] = {0, 0.325082973, 0, 0};
    hitl_strategy *s;
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(hitl_strategy_create(&s, QBC[k]), HITL_OK);
        size_t count, idx[N];
        uint64_t ids[N];
        double sc[N];
        ck_assert_int_eq(hitl_query_committee(&count, idx, ids, sc, s, c, pool, N), HITL_OK);
        ck_assert_uint_eq(count, N);
        double want[N] = {WANT_A[k], want_unanimous[k], WANT_A[k]};
        for (size_t j = 0; j < N; j++) {
            ck_assert_double_eq_tol(sc[j], want[idx[j]], EPS);
            ck_assert_uint_eq(ids[j], idx[j]);
        }
        /* largest first, ties (items 0 and 2 are equal) to the lower index */
        if (k == 1) {
            ck_assert_uint_eq(idx[2], 1);
        } else {
            ck_assert_uint_eq(idx[0], 0);
            ck_assert_uint_eq(idx[1], 2);
            ck_assert_uint_eq(idx[2], 1);
        }
        hitl_strategy_free(s);
    }
    /* consensus = mean of the tables */
    float pb[N][K];
    ck_assert_int_eq(hitl_committee_predict_pool(&pb[0][0], c, pool, 0, N), HITL_OK);
    ck_assert_float_eq_tol(pb[0][0], 0.5f, 1e-6f);
    ck_assert_float_eq_tol(pb[0][1], 0.366667f, 1e-6f);
    ck_assert_float_eq_tol(pb[1][1], 0.9f, 1e-6f);
    /* the core kinds on the consensus: margin of item 0 = 0.5 - 0.366667 */
    ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_MARGIN), HITL_OK);
    size_t count, idx[N];
    double sc[N];
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, sc, s, c, pool, 1), HITL_OK);
    ck_assert_uint_eq(count, 1);
    ck_assert_uint_eq(idx[0], 0);
    ck_assert_double_eq_tol(sc[0], 0.5 - 0.366667, 1e-6);
    hitl_strategy_free(s);

    /* a failing member: HITL_ECALLBACK naming the member */
    tm[1].fail = 1;
    ck_assert_int_eq(hitl_strategy_create(&s, QBC[0]), HITL_OK);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, c, pool, 2),
                     HITL_ECALLBACK);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "member 1"));
    hitl_strategy_free(s);

    hitl_committee_free(c);
    for (size_t m = 0; m < M; m++)
        hitl_model_free(mm[m]);
    hitl_pool_free(pool);
}
END_TEST

/* ---- built-in members on data ------------------------------------------------ */

/* Three Gaussian blobs in d dimensions (a seeded generator), labels 0..2. */
static void blobs(float *X, int32_t *y, size_t n, size_t d, uint64_t seed)
{
    uint64_t r = seed * 0x9E3779B97F4A7C15ull + 7;
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 3);
        for (size_t j = 0; j < d; j++) {
            double u = 0;
            for (int t = 0; t < 4; t++) {    /* sum of uniforms ~ normal */
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                u += (double)(r >> 11) * 0x1.0p-53 - 0.5;
            }
            X[i * d + j] = (float)(u + (j == (size_t)y[i] % d ? 1.5 : 0.0));
        }
    }
}

typedef struct data {
    size_t n, d, K;
    float *X;
    int32_t *y;
    hitl_pool *pool;
} data;

/* n items, the first n_lab of them labeled. */
static void make_data(data *D, size_t n, size_t d, size_t n_lab, uint64_t seed)
{
    D->n = n;
    D->d = d;
    D->K = 3;
    D->X = malloc(n * d * sizeof *D->X);
    D->y = malloc(n * sizeof *D->y);
    blobs(D->X, D->y, n, d, seed);
    ck_assert_int_eq(hitl_pool_create(&D->pool, d), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(D->pool, D->X, n, d, NULL), HITL_OK);
    for (size_t i = 0; i < n_lab; i++)
        ck_assert_int_eq(hitl_pool_set_label(D->pool, i, D->y[i]), HITL_OK);
}

static void free_data(data *D)
{
    hitl_pool_free(D->pool);
    free(D->X);
    free(D->y);
}

static void coef(double *W, const hitl_committee *c, size_t i)
{
    hitl_model *m;
    ck_assert_int_eq(hitl_committee_member(&m, c, i), HITL_OK);
    ck_assert_int_eq(hitl_model_get_coef(W, NULL, m), HITL_OK);
}

static double max_diff(const double *a, const double *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs(a[i] - b[i]));
    return d;
}

START_TEST(test_one_member_is_the_model)
{
    data D;
    make_data(&D, 300, 4, 60, 1);
    hitl_model *m;
    hitl_committee *c;
    ck_assert_int_eq(hitl_model_create_logreg(&m, 4, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_L2, 0.5), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, D.pool), HITL_OK);
    ck_assert_int_eq(hitl_committee_create(&c, 4, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(c, 0.5), HITL_OK);
    ck_assert_int_eq(hitl_committee_set_param(c, HITL_PARAM_COMMITTEE_BOOTSTRAP, 0), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_OK);
    double a[12], b[12];
    ck_assert_int_eq(hitl_model_get_coef(a, NULL, m), HITL_OK);
    coef(b, c, 0);
    ck_assert(max_diff(a, b, 12) <= 1e-12);
    float *p = malloc(D.n * 3 * sizeof *p), *q = malloc(D.n * 3 * sizeof *q);
    ck_assert_int_eq(hitl_model_predict_pool(p, m, D.pool, 0, D.n), HITL_OK);
    ck_assert_int_eq(hitl_committee_predict_pool(q, c, D.pool, 0, D.n), HITL_OK);
    for (size_t i = 0; i < D.n * 3; i++)
        ck_assert_float_eq_tol(p[i], q[i], 1e-6f);
    ck_assert_int_eq(hitl_committee_predict(q, c, D.X, D.n, 4), HITL_OK);
    for (size_t i = 0; i < D.n * 3; i++)
        ck_assert_float_eq_tol(p[i], q[i], 1e-6f);
    /* the core kinds through the committee pick what hitl_query picks */
    hitl_strategy *s;
    ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_ENTROPY), HITL_OK);
    size_t n1, n2, i1[10], i2[10];
    ck_assert_int_eq(hitl_query(&n1, i1, NULL, NULL, s, m, D.pool, 10), HITL_OK);
    ck_assert_int_eq(hitl_query_committee(&n2, i2, NULL, NULL, s, c, D.pool, 10), HITL_OK);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(i1, i2, sizeof i1) == 0);
    hitl_strategy_free(s);
    free(p);
    free(q);
    hitl_committee_free(c);
    hitl_model_free(m);
    free_data(&D);
}
END_TEST

START_TEST(test_bagged_members_differ)
{
    data D;
    make_data(&D, 300, 4, 90, 2);
    hitl_committee *c, *c2, *c3;
    ck_assert_int_eq(hitl_committee_create(&c, 4, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_create(&c2, 4, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_create(&c3, 4, 3), HITL_OK);
    for (int m = 0; m < 4; m++) {
        ck_assert_int_eq(hitl_committee_add_logreg(c, 1.0), HITL_OK);
        ck_assert_int_eq(hitl_committee_add_logreg(c2, 1.0), HITL_OK);
        ck_assert_int_eq(hitl_committee_add_logreg(c3, 1.0), HITL_OK);
    }
    ck_assert_int_eq(hitl_committee_set_param(c, HITL_PARAM_COMMITTEE_SEED, 11), HITL_OK);
    ck_assert_int_eq(hitl_committee_set_param(c2, HITL_PARAM_COMMITTEE_SEED, 11), HITL_OK);
    ck_assert_int_eq(hitl_committee_set_param(c3, HITL_PARAM_COMMITTEE_SEED, 12), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c2, D.pool), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c3, D.pool), HITL_OK);
    double W[4][12], V[12], U[12];
    for (int m = 0; m < 4; m++)
        coef(W[m], c, (size_t)m);
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            ck_assert_msg(max_diff(W[a], W[b], 12) > 1e-3, "members %d and %d agree", a, b);
    for (int m = 0; m < 4; m++) {
        coef(V, c2, (size_t)m);                  /* same seed: the same members */
        ck_assert(memcmp(V, W[m], sizeof V) == 0);
        coef(U, c3, (size_t)m);                  /* another seed: others */
        ck_assert(max_diff(U, W[m], 12) > 1e-3);
    }
    /* members fitted with different L2 differ without bootstrap too */
    hitl_committee *r;
    ck_assert_int_eq(hitl_committee_create(&r, 4, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(r, 0.01), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(r, 10.0), HITL_OK);
    ck_assert_int_eq(hitl_committee_set_param(r, HITL_PARAM_COMMITTEE_BOOTSTRAP, 0), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(r, D.pool), HITL_OK);
    coef(U, r, 0);
    coef(V, r, 1);
    ck_assert(max_diff(U, V, 12) > 1e-2);
    hitl_committee_free(r);
    hitl_committee_free(c);
    hitl_committee_free(c2);
    hitl_committee_free(c3);
    free_data(&D);
}
END_TEST

/* The one-pass scores equal hitl_disagreement of the members' own
 * predictions; every thread count and block size gives the same result. */
START_TEST(test_one_pass_matches_members)
{
    enum { M = 5, K = 3 };
    data D;
    make_data(&D, 2500, 6, 120, 3);
    size_t n = D.n;
    hitl_committee *c;
    hitl_model *ext;
    ck_assert_int_eq(hitl_committee_create(&c, 6, K), HITL_OK);
    for (int m = 0; m < M - 1; m++)
        ck_assert_int_eq(hitl_committee_add_logreg(c, 0.5 + m), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&ext, 6, K), HITL_OK);  /* borrowed */
    ck_assert_int_eq(hitl_committee_add_model(c, ext), HITL_OK);
    ck_assert_int_eq(hitl_committee_set_param(c, HITL_PARAM_COMMITTEE_SEED, 5), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_OK);
    double fitted;
    ck_assert_int_eq(hitl_model_get_info(&fitted, ext, HITL_INFO_FITTED), HITL_OK);
    ck_assert_double_eq(fitted, 1);

    float *T = malloc(n * M * K * sizeof *T), *p = malloc(n * K * sizeof *p);
    for (size_t m = 0; m < M; m++) {
        hitl_model *mm;
        ck_assert_int_eq(hitl_committee_member(&mm, c, m), HITL_OK);
        ck_assert_int_eq(hitl_model_predict_pool(p, mm, D.pool, 0, n), HITL_OK);
        for (size_t i = 0; i < n; i++)
            memcpy(T + (i * M + m) * K, p + i * K, K * sizeof *T);
    }
    double *want = malloc(n * sizeof *want);
    size_t *idx = malloc(n * sizeof *idx), *idx2 = malloc(n * sizeof *idx2);
    double *sc = malloc(n * sizeof *sc), *sc2 = malloc(n * sizeof *sc2);
    size_t n_un = n - 120, count;
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(hitl_disagreement(want, T, n, M, K, QBC[k]), HITL_OK);
        hitl_strategy *s;
        ck_assert_int_eq(hitl_strategy_create(&s, QBC[k]), HITL_OK);
        ck_assert_int_eq(hitl_committee_set_param(c, HITL_PARAM_COMMITTEE_THREADS, 1), HITL_OK);
        ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, sc, s, c, D.pool, n), HITL_OK);
        ck_assert_uint_eq(count, n_un);
        for (size_t j = 0; j < count; j++) {
            ck_assert_uint_ge(idx[j], 120);              /* only unlabeled items */
            ck_assert_double_eq_tol(sc[j], want[idx[j]], 1e-5);
            if (j > 0)
                ck_assert(sc[j] <= sc[j - 1] ||
                          (sc[j] == sc[j - 1] && idx[j] > idx[j - 1]));
        }
        ck_assert_int_eq(hitl_committee_set_param(c, HITL_PARAM_COMMITTEE_THREADS, 3), HITL_OK);
        ck_assert_int_eq(hitl_committee_set_param(c, HITL_PARAM_COMMITTEE_BLOCK_ROWS, 16),
                         HITL_OK);
        ck_assert_int_eq(hitl_query_committee(&count, idx2, NULL, sc2, s, c, D.pool, 50),
                         HITL_OK);
        ck_assert_uint_eq(count, 50);
        ck_assert(memcmp(idx, idx2, 50 * sizeof *idx) == 0);
        ck_assert(memcmp(sc, sc2, 50 * sizeof *sc) == 0);
        ck_assert_int_eq(hitl_committee_set_param(c, HITL_PARAM_COMMITTEE_BLOCK_ROWS, 2048),
                         HITL_OK);
        hitl_strategy_free(s);
    }
    free(T);
    free(p);
    free(want);
    free(idx);
    free(idx2);
    free(sc);
    free(sc2);
    hitl_committee_free(c);
    hitl_model_free(ext);
    free_data(&D);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

START_TEST(test_handle_errors)
{
    hitl_committee *c = NULL;
    ck_assert_int_eq(hitl_committee_create(NULL, 2, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_create(&c, 0, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_create(&c, 2, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_create(&c, 2, 65537), HITL_EINVAL);
    /* a dim no member could have: the model creators refuse it too */
    ck_assert_int_eq(hitl_committee_create(&c, SIZE_MAX, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_create(&c, (size_t)1 << 31, 3), HITL_EINVAL);
    ck_assert_ptr_null(c);
    hitl_committee_free(NULL);
    ck_assert_int_eq(hitl_committee_create(&c, 2, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(NULL, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_add_logreg(c, -1), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_add_logreg(c, NAN), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_add_logreg(c, INFINITY), HITL_EINVAL);
    hitl_model *m23, *m33, *m22;
    ck_assert_int_eq(hitl_model_create_logreg(&m23, 2, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&m33, 3, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&m22, 2, 2), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_model(NULL, m23), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_add_model(c, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_add_model(c, m33), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_add_model(c, m22), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_add_model(c, m23), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_model(c, m23), HITL_EINVAL);   /* twice */
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "already member 0"));
    size_t n;
    ck_assert_int_eq(hitl_committee_size(&n, c), HITL_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(hitl_committee_size(NULL, c), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_size(&n, NULL), HITL_EINVAL);
    hitl_model *got;
    ck_assert_int_eq(hitl_committee_member(&got, c, 0), HITL_OK);
    ck_assert_ptr_eq(got, m23);
    ck_assert_int_eq(hitl_committee_member(&got, c, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_member(NULL, c, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_member(&got, NULL, 0), HITL_EINVAL);

    /* parameters */
    double v;
    const struct { hitl_param p; double bad, good; } P[] = {
        {HITL_PARAM_COMMITTEE_BOOTSTRAP, 2, 0},
        {HITL_PARAM_COMMITTEE_SEED, -1, 77},
        {HITL_PARAM_COMMITTEE_SEED, 1.5, 77},
        {HITL_PARAM_COMMITTEE_THREADS, 1025, 2},
        {HITL_PARAM_COMMITTEE_BLOCK_ROWS, 15, 64},
    };
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
        ck_assert_int_eq(hitl_committee_get_param(&v, c, P[i].p), HITL_OK);
        ck_assert_int_eq(hitl_committee_set_param(c, P[i].p, P[i].bad), HITL_EINVAL);
        double after;
        ck_assert_int_eq(hitl_committee_get_param(&after, c, P[i].p), HITL_OK);
        ck_assert_double_eq(after, v);                   /* unchanged */
        ck_assert_int_eq(hitl_committee_set_param(c, P[i].p, P[i].good), HITL_OK);
        ck_assert_int_eq(hitl_committee_get_param(&v, c, P[i].p), HITL_OK);
        ck_assert_double_eq(v, P[i].good);
    }
    ck_assert_int_eq(hitl_committee_set_param(c, HITL_PARAM_L2, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_set_param(c, HITL_PARAM_SEED, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_set_param(NULL, HITL_PARAM_COMMITTEE_SEED, 1),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_get_param(NULL, c, HITL_PARAM_COMMITTEE_SEED),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_get_param(&v, NULL, HITL_PARAM_COMMITTEE_SEED),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_get_param(&v, c, HITL_PARAM_TOL), HITL_EINVAL);
    /* a committee parameter on another handle */
    ck_assert_int_eq(hitl_model_set_param(m23, HITL_PARAM_COMMITTEE_SEED, 1), HITL_EINVAL);

    hitl_committee_free(c);
    hitl_model_free(m23);  /* borrowed members outlive the committee */
    hitl_model_free(m33);
    hitl_model_free(m22);
}
END_TEST

START_TEST(test_fit_and_query_errors)
{
    data D;
    make_data(&D, 60, 2, 0, 4);
    hitl_committee *c, *empty;
    hitl_strategy *s;
    size_t count = 99, idx[4];
    float proba[6];
    ck_assert_int_eq(hitl_committee_create(&c, 2, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_create(&empty, 2, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(c, 1), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(c, 1), HITL_OK);
    ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_QBC_KL), HITL_OK);

    ck_assert_int_eq(hitl_committee_fit(NULL, D.pool), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_fit(c, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_fit(empty, D.pool), HITL_ESTATE);
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_ESTATE);       /* nothing labeled */
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "no labeled item"));
    hitl_pool *other;
    ck_assert_int_eq(hitl_pool_create(&other, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, other), HITL_EINVAL);        /* dims */

    /* not fitted, with an item labeled (with none: a cold start) */
    ck_assert_int_eq(hitl_pool_set_label(D.pool, 0, 1), HITL_OK);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, c, D.pool, 2),
                     HITL_ESTATE);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "member 0 is not fitted"));
    ck_assert_int_eq(hitl_committee_predict_pool(proba, c, D.pool, 0, 2), HITL_ESTATE);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, empty, D.pool, 2),
                     HITL_ESTATE);
    ck_assert_uint_eq(count, 99);

    /* a label out of range: every member keeps its (absent) fit */
    ck_assert_int_eq(hitl_pool_set_label(D.pool, 0, 7), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "member 0"));
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, c, D.pool, 2),
                     HITL_ESTATE);
    for (size_t i = 0; i < 30; i++)
        ck_assert_int_eq(hitl_pool_set_label(D.pool, i, D.y[i]), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_OK);

    /* query arguments */
    ck_assert_int_eq(hitl_query_committee(NULL, idx, NULL, NULL, s, c, D.pool, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, NULL, c, D.pool, 2),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, NULL, D.pool, 2),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, c, NULL, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, c, D.pool, 0),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, c, other, 2),
                     HITL_EINVAL);
    /* a QBC kind needs a committee: hitl_query refuses it */
    hitl_model *m;
    ck_assert_int_eq(hitl_committee_member(&m, c, 0), HITL_OK);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, D.pool, 2), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "hitl_query_committee"));
    /* all labeled: count 0 */
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, c, D.pool, 4), HITL_OK);
    ck_assert_uint_eq(count, 4);
    for (size_t i = 0; i < D.n; i++)
        ck_assert_int_eq(hitl_pool_set_label(D.pool, i, D.y[i]), HITL_OK);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, c, D.pool, 4), HITL_OK);
    ck_assert_uint_eq(count, 0);

    /* predict arguments */
    const float bad[2] = {NAN, 0};
    ck_assert_int_eq(hitl_committee_predict(NULL, c, D.X, 1, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_predict(proba, NULL, D.X, 1, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_predict(proba, c, NULL, 1, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_predict(proba, c, D.X, 1, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_predict(proba, c, bad, 1, 2), HITL_ENUMERIC);
    ck_assert_int_eq(hitl_committee_predict(proba, c, D.X, 0, 2), HITL_OK);
    ck_assert_int_eq(hitl_committee_predict_pool(proba, c, D.pool, 59, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_predict_pool(proba, c, other, 0, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_committee_predict_pool(NULL, c, D.pool, 0, 1), HITL_EINVAL);

    /* features so large that the logits overflow float32: HITL_ENUMERIC
       naming the row, for every measure */
    for (size_t i = 0; i < D.n; i++)
        ck_assert_int_eq(hitl_pool_set_state(D.pool, i, i < 30 ? HITL_ITEM_LABELED
                                                               : HITL_ITEM_UNLABELED), HITL_OK);
    const float huge[4] = {3e38f, 3e38f, -3e38f, -3e38f};
    ck_assert_int_eq(hitl_pool_add(D.pool, huge, 2, 2, NULL), HITL_OK);
    for (int k = 0; k < 4; k++) {
        hitl_strategy *q;
        ck_assert_int_eq(hitl_strategy_create(&q, QBC[k]), HITL_OK);
        int st = hitl_query_committee(&count, idx, NULL, NULL, q, c, D.pool, 2);
        ck_assert_msg(st == HITL_ENUMERIC, "kind %d: %d", (int)QBC[k], st);
        ck_assert_ptr_nonnull(strstr(hitl_error_message(), "overflow"));
        char row[2][32];      /* one of the huge rows (which overflows first
                                 depends on the signs of the weights) */
        snprintf(row[0], sizeof row[0], "row %zu:", D.n);
        snprintf(row[1], sizeof row[1], "row %zu:", D.n + 1);
        ck_assert_msg(strstr(hitl_error_message(), row[0]) ||
                      strstr(hitl_error_message(), row[1]), "kind %d: %s", (int)QBC[k],
                      hitl_error_message());
        hitl_strategy_free(q);
    }
    ck_assert_int_eq(hitl_committee_predict(proba, c, huge, 2, 2), HITL_ENUMERIC);

    hitl_strategy_free(s);
    hitl_pool_free(other);
    hitl_committee_free(c);
    hitl_committee_free(empty);
    free_data(&D);
}
END_TEST

/* A custom member whose fit fails: HITL_ECALLBACK, and the built-in member
 * fitted before it keeps its previous solution. */
static int failing_fit(void *user, const float *X, size_t n, size_t dim, const int32_t *y,
                       const float *w)
{
    (void)X; (void)n; (void)dim; (void)y; (void)w;
    return *(int *)user;
}

static int uniform_predict(void *user, const float *X, size_t n, size_t stride, size_t dim,
                           float *proba)
{
    (void)user; (void)X; (void)stride; (void)dim;
    for (size_t i = 0; i < n * 3; i++)
        proba[i] = 1.0f / 3;
    return 0;
}

/* Row counts no buffer can hold are refused before anything is read (the
 * caller's buffer here has one row). */
START_TEST(test_predict_rows_that_cannot_fit)
{
    data D;
    make_data(&D, 90, 3, 30, 5);
    hitl_committee *c;
    ck_assert_int_eq(hitl_committee_create(&c, 3, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(c, 1), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_OK);
    float X[3] = {0, 0, 0}, P[3];
    const size_t huge[] = {SIZE_MAX, SIZE_MAX / 4, SIZE_MAX / 12 + 1, (SIZE_MAX / 4) / 3 + 2};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        ck_assert_int_eq(hitl_committee_predict(P, c, X, huge[i], 3), HITL_EINVAL);
        ck_assert_ptr_nonnull(strstr(hitl_error_message(), "do not fit in memory"));
    }
    ck_assert_int_eq(hitl_committee_predict(P, c, X, 1, 3), HITL_OK);
    hitl_committee_free(c);
    free_data(&D);
}
END_TEST

START_TEST(test_fit_failure_keeps_members)
{
    data D;
    make_data(&D, 90, 3, 30, 5);
    int fail = 0;
    hitl_committee *c;
    hitl_model *custom;
    ck_assert_int_eq(hitl_committee_create(&c, 3, 3), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(c, 1), HITL_OK);
    ck_assert_int_eq(hitl_model_create_custom(&custom, 3, 3, failing_fit, uniform_predict,
                                              &fail), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_model(c, custom), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_OK);
    double before[9], after[9];                     /* K x dim */
    coef(before, c, 0);
    for (size_t i = 30; i < 60; i++)
        ck_assert_int_eq(hitl_pool_set_label(D.pool, i, D.y[i]), HITL_OK);
    fail = 3;
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_ECALLBACK);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "member 1"));
    /* the message names the public call, not an internal helper */
    ck_assert_msg(strncmp(hitl_error_message(), "hitl_committee_fit: ", 20) == 0,
                  "message '%s'", hitl_error_message());
    coef(after, c, 0);
    ck_assert(memcmp(before, after, sizeof before) == 0);
    fail = 0;
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_OK);
    coef(after, c, 0);
    ck_assert(max_diff(before, after, 9) > 0);
    hitl_committee_free(c);
    hitl_model_free(custom);
    free_data(&D);
}
END_TEST

/* ---- out of memory --------------------------------------------------------------- */

START_TEST(test_out_of_memory)
{
    oom_install();
    data D;
    make_data(&D, 200, 3, 40, 6);
    hitl_committee *c = NULL;
    long n;
    for (n = 0;; n++) {
        oom_arm(n);
        int st = hitl_committee_create(&c, 3, 3);
        oom_arm(-1);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
        ck_assert_ptr_null(c);
    }
    for (int m = 0; m < 3; m++)
        for (n = 0;; n++) {
            size_t size;
            oom_arm(n);
            int st = hitl_committee_add_logreg(c, 1);
            oom_arm(-1);
            ck_assert_int_eq(hitl_committee_size(&size, c), HITL_OK);
            if (st == HITL_OK) {
                ck_assert_uint_eq(size, (size_t)m + 1);
                break;
            }
            ck_assert_int_eq(st, HITL_ENOMEM);
            ck_assert_uint_eq(size, (size_t)m);
        }
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_OK);
    double W0[3][9], W[9];                          /* K x dim */
    for (size_t m = 0; m < 3; m++)
        coef(W0[m], c, m);
    for (size_t i = 40; i < 80; i++)
        ck_assert_int_eq(hitl_pool_set_label(D.pool, i, D.y[i]), HITL_OK);
    for (n = 0;; n++) {
        oom_arm(n);
        int st = hitl_committee_fit(c, D.pool);
        oom_arm(-1);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
        for (size_t m = 0; m < 3; m++) {           /* every member as it was */
            coef(W, c, m);
            ck_assert(memcmp(W, W0[m], sizeof W) == 0);
        }
    }
    ck_assert_int_gt(n, 3);
    hitl_strategy *s;
    ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_QBC_VOTE_ENTROPY), HITL_OK);
    size_t want_n, want[5], count = 0, idx[5];
    ck_assert_int_eq(hitl_query_committee(&want_n, want, NULL, NULL, s, c, D.pool, 5), HITL_OK);
    for (n = 0;; n++) {
        oom_arm(n);
        int st = hitl_query_committee(&count, idx, NULL, NULL, s, c, D.pool, 5);
        oom_arm(-1);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
    }
    ck_assert_uint_eq(count, want_n);
    ck_assert(memcmp(idx, want, sizeof idx) == 0);
    float p[6];
    for (n = 0;; n++) {
        oom_arm(n);
        int st = hitl_committee_predict_pool(p, c, D.pool, 0, 2);
        oom_arm(-1);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
    }
    double d[2];
    for (n = 0;; n++) {
        oom_arm(n);
        int st = hitl_disagreement(d, &TABLE_A[0][0], 1, 3, 3, HITL_STRATEGY_QBC_BALD);
        oom_arm(-1);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
    }
    ck_assert_double_eq_tol(d[0], WANT_A[3], EPS);
    hitl_strategy_free(s);
    hitl_committee_free(c);
    free_data(&D);
    oom_uninstall();
}
END_TEST

static Suite *committee_suite(void)
{
    Suite *s = suite_create("committee");
    TCase *tc = tcase_create("committee");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_measures_by_hand);
    tcase_add_test(tc, test_measures_many_items);
    tcase_add_test(tc, test_vote_entropy_any_size);
    tcase_add_test(tc, test_disagreement_errors);
    tcase_add_test(tc, test_committee_of_tables);
    tcase_add_test(tc, test_one_member_is_the_model);
    tcase_add_test(tc, test_bagged_members_differ);
    tcase_add_test(tc, test_one_pass_matches_members);
    tcase_add_test(tc, test_handle_errors);
    tcase_add_test(tc, test_fit_and_query_errors);
    tcase_add_test(tc, test_predict_rows_that_cannot_fit);
    tcase_add_test(tc, test_fit_failure_keeps_members);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(committee_suite)
