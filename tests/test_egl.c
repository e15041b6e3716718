/* Expected gradient length: the query's scores against the direct sum over
 * labels of the gradient norms of the logistic loss, computed here from the
 * fitted weights in double precision, on random small cases (several
 * shapes, with and without intercept, pools of several chunks, borrowed
 * and copied, any block size and thread count), on every instruction set
 * of the CPU and the portable form; the order; the cold start; what it
 * refuses.  Linked with the library's objects for the instruction-set
 * hook. */
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EXPECT(cond, ...) \
    do { \
        if (!(cond)) \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

static uint64_t gen_state;
static double gen_unit(void)
{
    return (double)(test_splitmix(&gen_state) >> 11) * 0x1.0p-53;
}

/* sum_y p_y ||grad of -log p_y with respect to (W, b)||, the gradient
 * (p - e_y) x~^T written out entry by entry, from the model's own
 * probabilities p (float32 scoring) in double. */
static double ref_egl(const float *pf, const float *x, size_t d, size_t K, int intercept)
{
    double egl = 0;
    for (size_t y = 0; y < K; y++) {
        double g2 = 0;
        for (size_t c = 0; c < K; c++) {
            double r = (double)pf[c] - (c == y);
            for (size_t j = 0; j < d; j++)
                g2 += (r * x[j]) * (r * x[j]);    /* dW[c][j] */
            if (intercept)
                g2 += r * r;                      /* db[c] */
        }
        egl += pf[y] * sqrt(g2);
    }
    return egl;
}

START_TEST(scores_match_gradient_norms)
{
    const size_t dims[] = { 1, 3, 7, 33 }, Ks[] = { 2, 3, 5, 11 };
    int cases = 0, best = hitl__isa();
    for (int isa = 0; isa <= best; isa++, hitl__isa_set_cap(HITL__ISA_AVX512))
    for (size_t di = 0; di < 4; di++)
        for (size_t ki = 0; ki < 4; ki++)
            for (int intercept = 0; intercept <= 1; intercept++) {
                size_t d = dims[di], K = Ks[ki], n = 300;
                gen_state = 100 * di + 10 * ki + (size_t)intercept;
                float *X = malloc(n * d * sizeof *X);
                for (size_t i = 0; i < n * d; i++)
                    X[i] = (float)(3 * (gen_unit() - 0.5));
                hitl_pool *pool = NULL;
                ck_assert_int_eq(hitl_pool_create(&pool, d), HITL_OK);
                /* three chunks: copied, borrowed, copied */
                ck_assert_int_eq(hitl_pool_add(pool, X, 100, d, NULL), HITL_OK);
                ck_assert_int_eq(hitl_pool_add_borrowed(pool, X + 100 * d, 117, d, NULL),
                                 HITL_OK);
                ck_assert_int_eq(hitl_pool_add(pool, X + 217 * d, 83, d, NULL), HITL_OK);
                hitl__isa_set_cap(isa);
                for (size_t i = 0; i < n; i += 5)
                    ck_assert_int_eq(hitl_pool_set_label(pool, i,
                                                         (int32_t)(gen_unit() * (double)K)),
                                     HITL_OK);
                hitl_model *m = NULL;
                ck_assert_int_eq(hitl_model_create_logreg(&m, d, K), HITL_OK);
                ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_FIT_INTERCEPT, intercept),
                                 HITL_OK);
                ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_L2, 0.1), HITL_OK);
                ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
                float *P = malloc(n * K * sizeof *P);
                ck_assert_int_eq(hitl_model_predict_pool(P, m, pool, 0, n), HITL_OK);
                hitl_strategy *s = NULL;
                ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH),
                                 HITL_OK);
                size_t k = 240, count, idx[240], idx2[240];
                double sc[240], sc2[240];
                ck_assert_int_eq(hitl_query(&count, idx, NULL, sc, s, m, pool, k), HITL_OK);
                ck_assert_uint_eq(count, 240);   /* every unlabeled item */
                for (size_t j = 0; j < count; j++) {
                    double want = ref_egl(P + idx[j] * K, X + idx[j] * d, d, K, intercept);
                    EXPECT(fabs(sc[j] - want) <= 1e-6 * want + 1e-9,
                           "d %zu K %zu intercept %d item %zu: EGL %.9g, direct %.9g", d, K,
                           intercept, idx[j], sc[j], want);
                    EXPECT(j == 0 || sc[j] <= sc[j - 1], "not largest first at %zu", j);
                    EXPECT(idx[j] % 5 != 0, "labeled item %zu returned", idx[j]);
                }
                /* another cut of the pass, the same picks */
                ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 16), HITL_OK);
                ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 3), HITL_OK);
                ck_assert_int_eq(hitl_query(&count, idx2, NULL, sc2, s, m, pool, k), HITL_OK);
                ck_assert_mem_eq(idx, idx2, sizeof idx);
                ck_assert_mem_eq(sc, sc2, sizeof sc);
                cases++;
                hitl_strategy_free(s);
                hitl_model_free(m);
                hitl_pool_free(pool);
                free(P);
                free(X);
            }
    ck_assert_int_eq(cases, 32 * (best + 1));
}
END_TEST

/* The closed form on hand-picked probabilities: a sure item has EGL 0 and
 * a uniform one of K classes ||x~|| sqrt((K - 1)/K) ... checked through a
 * model whose weights are zero (p uniform): EGL = ||x~|| sqrt(1 - 1/K). */
START_TEST(uniform_model_by_hand)
{
    const size_t d = 2, K = 4;
    float X[] = { 3, 4, 0, 0, 1, 1 };
    int32_t y[] = { 0, 1, 2, 3 };
    hitl_pool *pool = NULL;
    ck_assert_int_eq(hitl_pool_create(&pool, d), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(pool, X, 3, d, NULL), HITL_OK);
    /* four labeled copies of the origin, one per class: the optimum is 0 */
    float zero[8] = { 0 };
    ck_assert_int_eq(hitl_pool_add(pool, zero, 4, d, (const uint64_t[]){ 10, 11, 12, 13 }),
                     HITL_OK);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(hitl_pool_set_label(pool, 3 + i, y[i]), HITL_OK);
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&m, d, K), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
    hitl_strategy *s = NULL;
    ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH), HITL_OK);
    size_t count, idx[3];
    double sc[3];
    ck_assert_int_eq(hitl_query(&count, idx, NULL, sc, s, m, pool, 3), HITL_OK);
    ck_assert_uint_eq(count, 3);
    double f = sqrt(1 - 1.0 / K);
    ck_assert_uint_eq(idx[0], 0);   /* ||(3, 4, 1)|| = sqrt(26) */
    ck_assert(fabs(sc[0] - sqrt(26) * f) < 1e-5);
    ck_assert_uint_eq(idx[1], 2);   /* sqrt(3) */
    ck_assert(fabs(sc[1] - sqrt(3) * f) < 1e-5);
    ck_assert_uint_eq(idx[2], 1);   /* the origin: only the intercept */
    ck_assert(fabs(sc[2] - f) < 1e-5);
    hitl_strategy_free(s);
    hitl_model_free(m);
    hitl_pool_free(pool);
}
END_TEST

static int predict_half(void *u, const float *X, size_t n, size_t stride, size_t dim,
                        float *proba)
{
    (void)u, (void)X, (void)stride, (void)dim;
    for (size_t i = 0; i < 2 * n; i++)
        proba[i] = 0.5f;
    return 0;
}

START_TEST(refusals_and_cold_start)
{
    float X[20];
    for (int i = 0; i < 20; i++)
        X[i] = (float)i;
    hitl_pool *pool = NULL;
    ck_assert_int_eq(hitl_pool_create(&pool, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(pool, X, 10, 2, NULL), HITL_OK);
    hitl_strategy *s = NULL;
    ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH), HITL_OK);
    size_t count, idx[4];
    /* nothing labeled, no model: the cold-start batch */
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, NULL, pool, 4), HITL_OK);
    ck_assert_uint_eq(count, 4);
    ck_assert_int_eq(hitl_pool_set_label(pool, 0, 0), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_label(pool, 9, 1), HITL_OK);
    hitl_model *custom = NULL;
    ck_assert_int_eq(hitl_model_create_custom(&custom, 2, 2, NULL, predict_half, NULL),
                     HITL_OK);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, custom, pool, 4), HITL_EINVAL);
    ck_assert(strstr(hitl_error_message(), "built-in") != NULL);
    hitl_committee *c = NULL;
    ck_assert_int_eq(hitl_committee_create(&c, 2, 2), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(c, 1.0), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, pool), HITL_OK);
    ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, NULL, s, c, pool, 4),
                     HITL_EINVAL);
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&m, 2, 2), HITL_OK);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, pool, 4), HITL_ESTATE);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, pool, 4), HITL_OK);
    ck_assert_uint_eq(count, 4);
    hitl_committee_free(c);
    hitl_model_free(custom);
    hitl_model_free(m);
    hitl_strategy_free(s);
    hitl_pool_free(pool);
}
END_TEST

static Suite *egl_suite(void)
{
    Suite *s = suite_create("egl");
    TCase *t = tcase_create("egl");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, scores_match_gradient_norms);
    tcase_add_test(t, uniform_model_by_hand);
    tcase_add_test(t, refusals_and_cold_start);
    suite_add_tcase(s, t);
    return s;
}

HITL_TEST_MAIN(egl_suite)
