/* Explanations and counterfactuals: contributions recomputed here from the
 * fitted coefficients and checked to sum to the scores; the listed features
 * against a full sort; pool and caller rows alike; any-model figures; the
 * committee's votes against its members' predictions; counterfactuals that
 * flip the decision and are minimal against a brute-force grid; errors and
 * out-of-memory recovery. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static double unit(uint64_t *s)
{
    return (double)(test_splitmix(s) >> 11) / 9007199254740992.0;
}

/* n rows of d features around K class centres (overlapping a little). */
static hitl_pool *make_pool(size_t n, size_t d, size_t K, uint64_t seed, float **Xout)
{
    uint64_t s = seed;
    float *X = malloc(n * d * sizeof *X);
    hitl_pool *pool;
    ck_assert_int_eq(hitl_pool_create(&pool, d), HITL_OK);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            X[i * d + j] = (float)(2 * unit(&s) - 1 + ((i % K) == j % K ? 1.0 : 0.0));
    ck_assert_int_eq(hitl_pool_add(pool, X, n, d, NULL), HITL_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(hitl_pool_set_label(pool, i, (int32_t)(i % K)), HITL_OK);
    *Xout = X;
    return pool;
}

static hitl_model *fit(hitl_pool *pool, size_t d, size_t K)
{
    hitl_model *m;
    ck_assert_int_eq(hitl_model_create_logreg(&m, d, K), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
    return m;
}

typedef struct xpl {
    float *scores, *proba, *contrib, *rest;
    int32_t *classes, *features;
} xpl;

static xpl xpl_new(size_t n, size_t K, size_t top)
{
    xpl e = { malloc(n * K * sizeof(float)), malloc(n * K * sizeof(float)),
               malloc((2 * n * top + 1) * sizeof(float)), malloc(4 * n * sizeof(float)),
               malloc(2 * n * sizeof(int32_t)),
               malloc((2 * n * top + 1) * sizeof(int32_t)) };
    return e;
}

static void xpl_free(xpl *e)
{
    free(e->scores);
    free(e->proba);
    free(e->contrib);
    free(e->rest);
    free(e->classes);
    free(e->features);
}

/* Row i of e against the coefficients: contributions, their sum, the order
 * of the listed ones and the classes. */
static void check_row(const xpl *e, size_t i, const float *x, const double *W,
                      const double *b, size_t d, size_t K, size_t top)
{
    const float *p = e->proba + i * K;
    int32_t c1 = e->classes[2 * i], c2 = e->classes[2 * i + 1];
    for (size_t c = 0; c < K; c++) {
        ck_assert(p[c] < p[c1] || (p[c] == p[c1] && (int32_t)c >= c1));
        if ((int32_t)c != c1)
            ck_assert(p[c] <= p[c2]);
    }
    for (int r = 0; r < 2; r++) {
        int32_t c = e->classes[2 * i + r];
        const int32_t *f = e->features + (2 * i + r) * top;
        const float *v = e->contrib + (2 * i + r) * top;
        const float *rest = e->rest + (2 * i + r) * 2;
        double sum = rest[0] + (double)rest[1], ref = b[c];
        for (size_t j = 0; j < d; j++)
            ref += W[c * d + j] * x[j];
        for (size_t k = 0; k < top; k++) {
            ck_assert_int_ge(f[k], 0);
            ck_assert(fabs(v[k] - W[c * d + f[k]] * x[f[k]]) <= 1e-6 * (1 + fabs(v[k])));
            sum += v[k];
            if (k > 0)
                ck_assert(fabsf(v[k - 1]) >= fabsf(v[k]));
        }
        /* nothing unlisted beats the last listed */
        for (size_t j = 0; top && j < d; j++) {
            int listed = 0;
            for (size_t k = 0; k < top; k++)
                listed |= f[k] == (int32_t)j;
            if (!listed)
                ck_assert(fabs(W[c * d + j] * x[j]) <= fabsf(v[top - 1]) + 1e-6);
        }
        double s = e->scores[i * K + c];
        ck_assert_msg(fabs(sum - s) <= 1e-5 * (1 + fabs(s)), "row %zu class %d: %.9g vs %.9g",
                      i, c, sum, s);
        ck_assert(fabs(ref - s) <= 1e-5 * (1 + fabs(s)));
        ck_assert(fabs(rest[0] - b[c]) <= 1e-6 * (1 + fabs(b[c])));
    }
}

START_TEST(test_contributions_sum)
{
    size_t n = 400, d = 23, K = 5, tops[] = { 0, 1, 5, 23 };
    float *X;
    hitl_pool *pool = make_pool(n, d, K, 7, &X);
    hitl_model *m = fit(pool, d, K);
    double *W = malloc(K * d * sizeof *W), b[5];
    ck_assert_int_eq(hitl_model_get_coef(W, b, m), HITL_OK);
    float *ref = malloc(n * K * sizeof *ref);
    ck_assert_int_eq(hitl_model_predict(ref, m, X, n, d), HITL_OK);
    for (size_t ti = 0; ti < 4; ti++) {
        size_t top = tops[ti];
        xpl e = xpl_new(n, K, top), f = xpl_new(n, K, top);
        ck_assert_int_eq(hitl_model_explain(e.scores, e.proba, e.classes, e.features,
                                            e.contrib, e.rest, m, X, n, d, top), HITL_OK);
        ck_assert(memcmp(e.proba, ref, n * K * sizeof *ref) == 0);
        for (size_t i = 0; i < n; i++)
            check_row(&e, i, X + i * d, W, b, d, K, top);
        /* pool rows: the same figures */
        ck_assert_int_eq(hitl_model_explain_pool(f.scores, f.proba, f.classes, f.features,
                                                 f.contrib, f.rest, m, pool, 100, 300, top),
                         HITL_OK);
        ck_assert(memcmp(f.proba, e.proba + 100 * K, 300 * K * sizeof(float)) == 0);
        ck_assert(memcmp(f.scores, e.scores + 100 * K, 300 * K * sizeof(float)) == 0);
        ck_assert(memcmp(f.classes, e.classes + 200, 600 * sizeof(int32_t)) == 0);
        ck_assert(memcmp(f.features, e.features + 200 * top, 600 * top * sizeof(int32_t)) == 0);
        ck_assert(memcmp(f.rest, e.rest + 400, 1200 * sizeof(float)) == 0);
        /* any output may be left out */
        ck_assert_int_eq(hitl_model_explain(NULL, NULL, f.classes, NULL, f.contrib, NULL, m,
                                            X, n, d, top), HITL_OK);
        ck_assert(memcmp(f.classes, e.classes, 2 * n * sizeof(int32_t)) == 0);
        ck_assert(memcmp(f.contrib, e.contrib, 2 * n * top * sizeof(float)) == 0);
        xpl_free(&e);
        xpl_free(&f);
    }
    /* one thread gives the same */
    xpl e = xpl_new(n, K, 3), f = xpl_new(n, K, 3);
    ck_assert_int_eq(hitl_model_explain(e.scores, e.proba, e.classes, e.features, e.contrib,
                                        e.rest, m, X, n, d, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 1), HITL_OK);
    ck_assert_int_eq(hitl_model_explain(f.scores, f.proba, f.classes, f.features, f.contrib,
                                        f.rest, m, X, n, d, 3), HITL_OK);
    ck_assert(memcmp(e.contrib, f.contrib, 2 * n * 3 * sizeof(float)) == 0);
    ck_assert(memcmp(e.rest, f.rest, 4 * n * sizeof(float)) == 0);
    xpl_free(&e);
    xpl_free(&f);
    free(ref);
    free(W);
    free(X);
    hitl_model_free(m);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(test_hand_worked)
{
    /* K = 2, d = 3: W = [[1, -2, 0.5], [0, 1, 3]], b = 0 found by fitting is
     * not exact; instead check a small case through the identities. */
    float proba[] = { 0.2f, 0.5f, 0.3f, 0.4f, 0.4f, 0.2f };
    int32_t cls[4];
    float top2[4], margin[2];
    ck_assert_int_eq(hitl_explain_proba(cls, top2, margin, proba, 2, 3), HITL_OK);
    ck_assert_int_eq(cls[0], 1);
    ck_assert_int_eq(cls[1], 2);
    ck_assert_int_eq(cls[2], 0);   /* tie: lower class first */
    ck_assert_int_eq(cls[3], 1);
    ck_assert(top2[0] == 0.5f && top2[1] == 0.3f);
    ck_assert(fabsf(margin[0] - 0.2f) < 1e-7f && margin[1] == 0.0f);
    proba[4] = NAN;
    ck_assert_int_eq(hitl_explain_proba(cls, NULL, NULL, proba, 2, 3), HITL_ENUMERIC);
    ck_assert_int_eq(hitl_explain_proba(cls, NULL, NULL, proba, 2, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_explain_proba(cls, NULL, NULL, NULL, 2, 3), HITL_EINVAL);
}
END_TEST

static int custom_predict(void *user, const float *X, size_t n, size_t stride, size_t dim,
                          float *proba)
{
    (void)user;
    (void)dim;
    for (size_t i = 0; i < n; i++) {
        float a = X[i * stride] > 0 ? 0.7f : 0.2f;
        proba[3 * i] = a;
        proba[3 * i + 1] = 1 - a - 0.1f;
        proba[3 * i + 2] = 0.1f;
    }
    return 0;
}

START_TEST(test_custom_and_committee)
{
    hitl_model *m;
    ck_assert_int_eq(hitl_model_create_custom(&m, 2, 3, NULL, custom_predict, NULL), HITL_OK);
    float X[] = { 1, 0, -1, 0 }, proba[6], scores[6];
    int32_t cls[4];
    ck_assert_int_eq(hitl_model_explain(NULL, proba, cls, NULL, NULL, NULL, m, X, 2, 2, 0),
                     HITL_OK);
    ck_assert_int_eq(cls[0], 0);
    ck_assert_int_eq(cls[1], 1);
    ck_assert_int_eq(cls[2], 1);
    ck_assert_int_eq(cls[3], 0);
    ck_assert_int_eq(hitl_model_explain(scores, proba, cls, NULL, NULL, NULL, m, X, 2, 2, 0),
                     HITL_EINVAL);
    ck_assert(strstr(hitl_error_message(), "custom") != NULL);
    hitl_model_free(m);

    size_t n = 200, d = 6, K = 3, M = 5;
    float *Xp;
    hitl_pool *pool = make_pool(n, d, K, 11, &Xp);
    hitl_committee *c;
    ck_assert_int_eq(hitl_committee_create(&c, d, K), HITL_OK);
    uint32_t *votes = malloc(n * K * sizeof *votes);
    ck_assert_int_eq(hitl_committee_votes(votes, c, Xp, n, d), HITL_ESTATE);
    for (size_t i = 0; i < M; i++)
        ck_assert_int_eq(hitl_committee_add_logreg(c, 0.1 + i), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, pool), HITL_OK);
    ck_assert_int_eq(hitl_committee_votes(votes, c, Xp, n, d), HITL_OK);
    uint32_t *ref = calloc(n * K, sizeof *ref);
    float *p = malloc(n * K * sizeof *p);
    for (size_t mi = 0; mi < M; mi++) {
        hitl_model *mm;
        ck_assert_int_eq(hitl_committee_member(&mm, c, mi), HITL_OK);
        ck_assert_int_eq(hitl_model_predict(p, mm, Xp, n, d), HITL_OK);
        int32_t *cl = malloc(2 * n * sizeof *cl);
        ck_assert_int_eq(hitl_explain_proba(cl, NULL, NULL, p, n, K), HITL_OK);
        for (size_t i = 0; i < n; i++)
            ref[i * K + cl[2 * i]]++;
        free(cl);
    }
    ck_assert(memcmp(votes, ref, n * K * sizeof *ref) == 0);
    free(ref);
    free(p);
    free(votes);
    free(Xp);
    hitl_committee_free(c);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(test_errors_and_oom)
{
    size_t n = 50, d = 4, K = 3;
    float *X;
    oom_install();
    hitl_pool *pool = make_pool(n, d, K, 3, &X);
    hitl_model *m;
    ck_assert_int_eq(hitl_model_create_logreg(&m, d, K), HITL_OK);
    xpl e = xpl_new(n, K, 4);
    ck_assert_int_eq(hitl_model_explain(e.scores, NULL, NULL, NULL, NULL, NULL, m, X, n, d,
                                        0), HITL_ESTATE);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
    ck_assert_int_eq(hitl_model_explain(NULL, NULL, NULL, e.features, NULL, NULL, m, X, n, d,
                                        5), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_explain(NULL, NULL, NULL, NULL, NULL, NULL, m, X, n, d, 2),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_model_explain(NULL, e.proba, NULL, NULL, NULL, NULL, m, X, n, d - 1,
                                        0), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_explain(NULL, e.proba, NULL, NULL, NULL, NULL, NULL, X, n, d,
                                        0), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_explain_pool(NULL, e.proba, NULL, NULL, NULL, NULL, m, pool,
                                             10, n, 0), HITL_EINVAL);
    X[7] = NAN;
    ck_assert_int_eq(hitl_model_explain(NULL, e.proba, NULL, NULL, NULL, NULL, m, X, n, d,
                                        0), HITL_ENUMERIC);
    ck_assert(strstr(hitl_error_message(), "X[1][3]") != NULL);
    X[7] = 0;
    for (long k = 0;; k++) {
        oom_arm(k);
        int st = hitl_model_explain_pool(e.scores, e.proba, e.classes, e.features, e.contrib,
                                         e.rest, m, pool, 0, n, 4);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
    }
    for (long k = 0;; k++) {
        oom_arm(k);
        float xn[4];
        int st = hitl_model_counterfactual(xn, NULL, m, X, 2, HITL_NORM_L2, NULL, NULL, NULL,
                                           1e-3);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
    }
    oom_arm(-1);
    xpl_free(&e);
    free(X);
    hitl_model_free(m);
    hitl_pool_free(pool);
    oom_uninstall();
}
END_TEST

/* ---- counterfactuals --------------------------------------------------- */

static int32_t decide(const hitl_model *m, const float *x, size_t K)
{
    float p[8];
    int32_t cls[2];
    ck_assert_int_eq(hitl_model_predict(p, m, x, 1, 2), HITL_OK);
    ck_assert_int_eq(hitl_explain_proba(cls, NULL, NULL, p, 1, K), HITL_OK);
    return cls[0];
}

/* Does x + delta (double) meet the counterfactual's constraints? */
static int meets(const double *W, const double *b, const float *x, const double *delta,
                 size_t K, int32_t t, double mu)
{
    double s[8];
    for (size_t c = 0; c < K; c++)
        s[c] = b[c] + W[c * 2] * (x[0] + delta[0]) + W[c * 2 + 1] * (x[1] + delta[1]);
    for (size_t c = 0; c < K; c++)
        if ((int32_t)c != t && s[t] - s[c] < mu)
            return 0;
    return 1;
}

/* A 2-D problem against a grid of step h over the box: the solver's
 * distance is at most the best feasible grid point's, and no grid point
 * closer than the solver's distance minus the grid's resolution (h sqrt 2,
 * the furthest the optimum can be from a grid point) is feasible. */
static void grid_check(const hitl_model *m, const float *x, int32_t t, hitl_norm norm,
                       const uint8_t *ed, const float *lo, const float *hi, size_t K)
{
    double W[16], b[8], mu = 1e-3, dist;
    ck_assert_int_eq(hitl_model_get_coef(W, b, m), HITL_OK);
    float xn[2];
    int st = hitl_model_counterfactual(xn, &dist, m, x, t, norm, ed, lo, hi, mu);
    double R = 6, h = 0.02, best = INFINITY;
    double l0 = ed && !ed[0] ? 0 : lo ? lo[0] - x[0] : -R;
    double u0 = ed && !ed[0] ? 0 : hi ? hi[0] - x[0] : R;
    double l1 = ed && !ed[1] ? 0 : lo ? lo[1] - x[1] : -R;
    double u1 = ed && !ed[1] ? 0 : hi ? hi[1] - x[1] : R;
    for (double a = l0; a <= u0 + 1e-12; a += h)
        for (double c = l1; c <= u1 + 1e-12; c += h) {
            double dl[2] = { a, c };
            if (!meets(W, b, x, dl, K, t, mu))
                continue;
            double v = norm == HITL_NORM_L2 ? sqrt(a * a + c * c) : fabs(a) + fabs(c);
            if (v < best)
                best = v;
        }
    if (getenv("CF_DEBUG"))
        fprintf(stderr, "t=%d norm=%d st=%d dist=%g best=%g\n", t, norm, st, st ? -1 : dist, best);
    if (st == HITL_ESTATE && !isfinite(best))
        return;   /* infeasible both ways (or L1 with two rivals binding) */
    if (st == HITL_ESTATE && strstr(hitl_error_message(), "two classes bind"))
        return;
    ck_assert_msg(st == HITL_OK, "%s", hitl_error_message());
    ck_assert_int_eq(decide(m, xn, K), t);
    double slack = h * (norm == HITL_NORM_L2 ? sqrt(2.0) : 2.0);
    ck_assert_msg(dist <= best + 1e-9, "solver %g > grid %g", dist, best);
    if (fabs(xn[0] - x[0]) < R - 0.1 && fabs(xn[1] - x[1]) < R - 0.1)
        ck_assert_msg(dist >= best - slack, "solver %g < grid %g - %g", dist, best, slack);
    if (ed && !ed[0])
        ck_assert(xn[0] == x[0]);
    if (ed && !ed[1])
        ck_assert(xn[1] == x[1]);
    if (lo)
        ck_assert(xn[0] >= lo[0] - 1e-6f && xn[1] >= lo[1] - 1e-6f);
}

START_TEST(test_counterfactual_minimal)
{
    size_t Ks[] = { 2, 3, 4 };
    for (size_t ki = 0; ki < 3; ki++) {
        size_t K = Ks[ki], n = 60 * K;
        float *X;
        hitl_pool *pool = make_pool(n, 2, K, 100 + K, &X);
        hitl_model *m = fit(pool, 2, K);
        float lo[2] = { -3, -3 }, hi[2] = { 3, 3 };
        uint8_t only0[2] = { 1, 0 };
        for (size_t i = 0; i < 6; i++) {
            const float *x = X + 2 * i;
            for (int32_t t = 0; t < (int32_t)K; t++) {
                grid_check(m, x, t, HITL_NORM_L2, NULL, NULL, NULL, K);
                grid_check(m, x, t, HITL_NORM_L1, NULL, NULL, NULL, K);
                grid_check(m, x, t, HITL_NORM_L2, NULL, lo, hi, K);
                grid_check(m, x, t, HITL_NORM_L1, NULL, lo, hi, K);
                grid_check(m, x, t, HITL_NORM_L2, only0, NULL, NULL, K);
            }
        }
        free(X);
        hitl_model_free(m);
        hitl_pool_free(pool);
    }
}
END_TEST

START_TEST(test_counterfactual_cases)
{
    size_t K = 3, n = 90;
    float *X;
    hitl_pool *pool = make_pool(n, 2, K, 5, &X);
    hitl_model *m = fit(pool, 2, K);
    float xn[2], x[2] = { X[0], X[1] };
    double dist;
    int32_t now = decide(m, x, K);
    /* already there: no change */
    ck_assert_int_eq(hitl_model_counterfactual(xn, &dist, m, x, now, HITL_NORM_L2, NULL, NULL,
                                               NULL, 0), HITL_OK);
    ck_assert(dist == 0 && xn[0] == x[0] && xn[1] == x[1]);
    /* nothing editable: unreachable */
    uint8_t none[2] = { 0, 0 };
    ck_assert_int_eq(hitl_model_counterfactual(xn, &dist, m, x, (now + 1) % 3, HITL_NORM_L2,
                                               none, NULL, NULL, 1e-3), HITL_ESTATE);
    float lo[2] = { 5, 5 }, hi[2] = { 6, 6 };
    ck_assert_int_eq(hitl_model_counterfactual(xn, &dist, m, x, 0, HITL_NORM_L2, NULL, lo, hi,
                                               1e-3), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_counterfactual(xn, &dist, m, x, 3, HITL_NORM_L2, NULL, NULL,
                                               NULL, 1e-3), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_counterfactual(xn, &dist, m, x, 0, (hitl_norm)3, NULL, NULL,
                                               NULL, 1e-3), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_counterfactual(xn, &dist, m, x, 0, HITL_NORM_L2, NULL, NULL,
                                               NULL, -1), HITL_EINVAL);
    free(X);
    hitl_model_free(m);
    hitl_pool_free(pool);
}
END_TEST

static Suite *explain_suite(void)
{
    Suite *s = suite_create("explain");
    TCase *tc = tcase_create("explain");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_contributions_sum);
    tcase_add_test(tc, test_hand_worked);
    tcase_add_test(tc, test_custom_and_committee);
    tcase_add_test(tc, test_errors_and_oom);
    suite_add_tcase(s, tc);
    tc = tcase_create("counterfactual");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_counterfactual_minimal);
    tcase_add_test(tc, test_counterfactual_cases);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(explain_suite)
