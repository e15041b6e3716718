/* The re-check queue (hitl_recheck): confident learning on a hand-worked
 * case, its parameters, every kind of bad input (nothing changes), the
 * cross-fit's determinism across thread counts, a custom model, and out of
 * memory.  The comparison with an independent numpy implementation of the
 * paper is in bindings/python/tests/test_recheck.py. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define ok(call) ck_assert_int_eq((call), HITL_OK)

static void msg_has(const char *what)
{
    const char *m = hitl_error_message();
    ck_assert_msg(strstr(m, what) != NULL, "message \"%s\" lacks \"%s\"", m, what);
}

static hitl_pool *labeled_pool(const float *X, size_t n, size_t dim, const int32_t *y)
{
    hitl_pool *pool = NULL;
    ok(hitl_pool_create(&pool, dim));
    ok(hitl_pool_add(pool, X, n, dim, NULL));
    for (size_t i = 0; i < n; i++)
        if (y[i] >= 0)
            ok(hitl_pool_set_label(pool, i, y[i]));
    return pool;
}

static hitl_recheck *new_recheck(void)
{
    hitl_recheck *r = NULL;
    ok(hitl_recheck_create(&r));
    ck_assert_ptr_nonnull(r);
    return r;
}

static double info(const hitl_recheck *r, hitl_recheck_info what)
{
    double v = -1;
    ok(hitl_recheck_get_info(&v, r, what));
    return v;
}

/* ---- the hand-worked case ----------------------------------------------- */

/* Eight items of three classes (the item between labeled ones is
 * unlabeled and must be skipped).  Thresholds: t0 = (0.9 + 0.7 + 0.1)/3,
 * t1 = (0.7 + 0.8 + 0.15)/3 = 0.55, t2 = (0.8 + 0.7)/2 = 0.75.  Confident
 * classes: items 0, 1 -> 0; 2 -> 1; 4, 5 -> 1; 6 -> 2; 7 -> 2; 8 -> none
 * (0.7 < t2).  Joint [[2,1,0],[0,2,1],[0,0,1]]; calibrated rows scale to
 * 3, 3, 2: [[2,1,0],[0,2,1],[0,0,2]].  Cell (0,1) takes the item labeled 0
 * of largest p1 - p0 (item 2), cell (1,2) the item labeled 1 of largest
 * p2 - p1 (item 6); both have another argmax, so both are flagged:
 * self-confidence 0.1 (item 2) before 0.15 (item 6). */
enum { HN = 9, HK = 3 };
static const int32_t hand_y[HN] = { 0, 0, 0, -1, 1, 1, 1, 2, 2 };
static const float hand_p[8 * HK] = {
    0.9f, 0.05f, 0.05f,
    0.7f, 0.2f, 0.1f,
    0.1f, 0.8f, 0.1f,
    0.2f, 0.7f, 0.1f,
    0.1f, 0.8f, 0.1f,
    0.05f, 0.15f, 0.8f,
    0.1f, 0.1f, 0.8f,
    0.2f, 0.1f, 0.7f,
};

static hitl_pool *hand_pool(void)
{
    static float X[HN];
    for (int i = 0; i < HN; i++)
        X[i] = (float)i;
    return labeled_pool(X, HN, 1, hand_y);
}

START_TEST(test_hand_worked)
{
    hitl_pool *pool = hand_pool();
    hitl_recheck *r = new_recheck();
    size_t count = 99, idx[8];
    uint64_t ids[8];
    double sc[8];
    ok(hitl_recheck_query_proba(&count, idx, ids, sc, r, hand_p, HK, pool, 8));
    ck_assert_uint_eq(count, 2);
    ck_assert_uint_eq(idx[0], 2);
    ck_assert_uint_eq(idx[1], 6);
    ck_assert_uint_eq(ids[0], 2);
    ck_assert_uint_eq(ids[1], 6);
    ck_assert_double_eq_tol(sc[0], 0.1, 1e-7);
    ck_assert_double_eq_tol(sc[1], 0.15, 1e-7);

    double t[HK], C[HK * HK], Ct[HK * HK];
    ok(hitl_recheck_joint(t, C, Ct, r));
    ck_assert_double_eq_tol(t[0], (0.9 + 0.7 + 0.1) / 3, 1e-7);
    ck_assert_double_eq_tol(t[1], 0.55, 1e-7);
    ck_assert_double_eq_tol(t[2], 0.75, 1e-7);
    static const double want_C[HK * HK] = { 2, 1, 0, 0, 2, 1, 0, 0, 1 };
    static const double want_Ct[HK * HK] = { 2, 1, 0, 0, 2, 1, 0, 0, 2 };
    for (int i = 0; i < HK * HK; i++) {
        ck_assert_double_eq(C[i], want_C[i]);
        ck_assert_double_eq(Ct[i], want_Ct[i]);
    }
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_N_LABELED), 8);
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_N_CLASSES), 3);
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_N_FLAGGED), 2);
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_N_NOISY), 2);
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_NOISE_RATE), 0.25);
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_FOLDS), 0);

    /* k = 1: the first of the queue; the report still counts both */
    ok(hitl_recheck_query_proba(&count, idx, NULL, sc, r, hand_p, HK, pool, 1));
    ck_assert_uint_eq(count, 1);
    ck_assert_uint_eq(idx[0], 2);
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_N_FLAGGED), 2);

    /* normalised margin: (0.1 - 0.8 + 1)/2 = 0.15, (0.15 - 0.8 + 1)/2 */
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_RANK,
                              HITL_RECHECK_RANK_NORMALIZED_MARGIN));
    ok(hitl_recheck_query_proba(&count, idx, NULL, sc, r, hand_p, HK, pool, 8));
    ck_assert_uint_eq(count, 2);
    ck_assert_uint_eq(idx[0], 2);
    ck_assert_double_eq_tol(sc[0], 0.15, 1e-7);
    ck_assert_double_eq_tol(sc[1], 0.175, 1e-7);
    hitl_recheck_free(r);
    hitl_pool_free(pool);
}
END_TEST

/* Ties at a cut go to the lower pool index, and an item whose label is its
 * most probable class is never flagged.  Two classes, margins p1 - p0 in
 * dyadic values (exact).  Items 0..4 labeled 0, 5 and 6 labeled 1:
 * t0 = (0.25 + 0.25 + 1 + 1 + 0.5)/5 = 0.6, t1 = (1 + 0.5)/2 = 0.75.
 * Confident: 0, 1 -> 1 (0.75 >= t1); 2, 3 -> 0; 4, 6 none; 5 -> 1.
 * Row 0 [2, 2] scales to 5: 2.5, 2.5 -> [3, 2] (the lower column on the
 * tie); row 1 [0, 1] -> [0, 2].  Cell (0,1) takes items 0 and 1 (margin
 * 0.5); both flagged, tied at self-confidence 0.25: lower index first. */
START_TEST(test_ties_and_argmax)
{
    static const int32_t y[7] = { 0, 0, 0, 0, 0, 1, 1 };
    static const float p[7 * 2] = { 0.25f, 0.75f, 0.25f, 0.75f, 1, 0, 1, 0,
                                    0.5f, 0.5f, 0, 1, 0.5f, 0.5f };
    float X[7] = { 0 };
    hitl_pool *pool = labeled_pool(X, 7, 1, y);
    hitl_recheck *r = new_recheck();
    size_t count, idx[7];
    double Ct[4];
    ok(hitl_recheck_query_proba(&count, idx, NULL, NULL, r, p, 2, pool, 7));
    ok(hitl_recheck_joint(NULL, NULL, Ct, r));
    ck_assert_double_eq(Ct[0], 3);
    ck_assert_double_eq(Ct[1], 2);
    ck_assert_double_eq(Ct[2], 0);
    ck_assert_double_eq(Ct[3], 2);
    ck_assert_uint_eq(count, 2);
    ck_assert_uint_eq(idx[0], 0);
    ck_assert_uint_eq(idx[1], 1);

    /* Item 1 becomes (0.5, 0.5): t0 = 0.65; confident: 0 -> 1, 2, 3 -> 0,
     * 1 and 4 none.  Row 0 [2, 1] * 5/3 = 3.33, 1.67 -> [3, 2].  Cell
     * (0,1) takes item 0 (0.5) and, of items 1 and 4 tied at margin 0, item
     * 1; but item 1's most probable class is its label 0 (the lower class
     * of a tie), so only item 0 is flagged. */
    static const float p2[7 * 2] = { 0.25f, 0.75f, 0.5f, 0.5f, 1, 0, 1, 0,
                                     0.5f, 0.5f, 0, 1, 0.5f, 0.5f };
    ok(hitl_recheck_query_proba(&count, idx, NULL, NULL, r, p2, 2, pool, 7));
    ok(hitl_recheck_joint(NULL, NULL, Ct, r));
    ck_assert_double_eq(Ct[0], 3);
    ck_assert_double_eq(Ct[1], 2);
    ck_assert_uint_eq(count, 1);
    ck_assert_uint_eq(idx[0], 0);
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_N_FLAGGED), 1);
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_N_NOISY), 2);
    hitl_recheck_free(r);
    hitl_pool_free(pool);
}
END_TEST

/* ---- parameters ---------------------------------------------------------- */

START_TEST(test_params)
{
    hitl_recheck *r = new_recheck();
    double v;
    ok(hitl_recheck_get_param(&v, r, HITL_PARAM_RECHECK_FOLDS));
    ck_assert_double_eq(v, 5);
    ok(hitl_recheck_get_param(&v, r, HITL_PARAM_RECHECK_SEED));
    ck_assert_double_eq(v, 0);
    ok(hitl_recheck_get_param(&v, r, HITL_PARAM_RECHECK_RANK));
    ck_assert_double_eq(v, HITL_RECHECK_RANK_SELF_CONFIDENCE);
    ok(hitl_recheck_get_param(&v, r, HITL_PARAM_RECHECK_THREADS));
    ck_assert_double_eq(v, 0);
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_FOLDS, 10));
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_SEED, 12345));
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_THREADS, 3));
    static const struct { hitl_param p; double v; const char *msg; } bad[] = {
        { HITL_PARAM_RECHECK_FOLDS, 1, "FOLDS 1 is not" },
        { HITL_PARAM_RECHECK_FOLDS, 1001, "FOLDS 1001" },
        { HITL_PARAM_RECHECK_FOLDS, 2.5, "FOLDS 2.5" },
        { HITL_PARAM_RECHECK_FOLDS, NAN, "FOLDS nan" },
        { HITL_PARAM_RECHECK_SEED, -1, "SEED -1" },
        { HITL_PARAM_RECHECK_SEED, 1e300, "SEED" },
        { HITL_PARAM_RECHECK_RANK, 0, "RANK 0" },
        { HITL_PARAM_RECHECK_RANK, 3, "RANK 3" },
        { HITL_PARAM_RECHECK_THREADS, -1, "THREADS -1" },
        { HITL_PARAM_RECHECK_THREADS, 1025, "THREADS 1025" },
        { HITL_PARAM_L2, 1, "not a recheck parameter" },
        { HITL_PARAM_SEED, 1, "not a recheck parameter" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(hitl_recheck_set_param(r, bad[i].p, bad[i].v), HITL_EINVAL);
        msg_has(bad[i].msg);
    }
    ok(hitl_recheck_get_param(&v, r, HITL_PARAM_RECHECK_FOLDS));
    ck_assert_double_eq(v, 10);
    ok(hitl_recheck_get_param(&v, r, HITL_PARAM_RECHECK_SEED));
    ck_assert_double_eq(v, 12345);
    ck_assert_int_eq(hitl_recheck_get_param(&v, r, HITL_PARAM_L2), HITL_EINVAL);
    ck_assert_int_eq(hitl_recheck_get_param(NULL, r, HITL_PARAM_RECHECK_SEED), HITL_EINVAL);
    ck_assert_int_eq(hitl_recheck_get_param(&v, NULL, HITL_PARAM_RECHECK_SEED), HITL_EINVAL);
    ck_assert_int_eq(hitl_recheck_set_param(NULL, HITL_PARAM_RECHECK_SEED, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_recheck_create(NULL), HITL_EINVAL);
    /* no report yet */
    ck_assert_int_eq(hitl_recheck_get_info(&v, r, HITL_RECHECK_INFO_N_FLAGGED), HITL_ESTATE);
    ck_assert_int_eq(hitl_recheck_joint(NULL, NULL, NULL, r), HITL_ESTATE);
    ck_assert_int_eq(hitl_recheck_get_info(&v, r, (hitl_recheck_info)0), HITL_EINVAL);
    ck_assert_int_eq(hitl_recheck_get_info(&v, r, (hitl_recheck_info)7), HITL_EINVAL);
    ck_assert_int_eq(hitl_recheck_get_info(NULL, r, HITL_RECHECK_INFO_N_FLAGGED), HITL_EINVAL);
    ck_assert_int_eq(hitl_recheck_joint(NULL, NULL, NULL, NULL), HITL_EINVAL);
    hitl_recheck_free(r);
    hitl_recheck_free(NULL);
}
END_TEST

/* ---- bad input: clear messages, nothing written, report unchanged ---------- */

typedef struct snap {
    double info[6], t[HK], C[HK * HK], Ct[HK * HK];
} snap;

static snap take(const hitl_recheck *r)
{
    snap s;
    for (int i = 0; i < 6; i++)
        s.info[i] = info(r, (hitl_recheck_info)(i + 1));
    ok(hitl_recheck_joint(s.t, s.C, s.Ct, r));
    return s;
}

static void same(const snap *a, const snap *b)
{
    ck_assert_int_eq(memcmp(a, b, sizeof *a), 0);
}

/* A query_proba that must fail with `status` and a message holding `msg`,
 * writing nothing. */
static void bad_proba(hitl_recheck *r, const float *p, size_t K, const hitl_pool *pool,
                      size_t k, int status, const char *msg)
{
    snap before = take(r);
    size_t count = 77, idx[8] = { 77 };
    uint64_t ids[8] = { 77 };
    double sc[8] = { 77 };
    ck_assert_int_eq(hitl_recheck_query_proba(&count, idx, ids, sc, r, p, K, pool, k), status);
    msg_has(msg);
    ck_assert_uint_eq(count, 77);
    ck_assert_uint_eq(idx[0], 77);
    ck_assert_uint_eq(ids[0], 77);
    ck_assert_double_eq(sc[0], 77);
    snap after = take(r);
    same(&before, &after);
}

START_TEST(test_bad_proba)
{
    hitl_pool *pool = hand_pool();
    hitl_recheck *r = new_recheck();
    size_t count;
    ok(hitl_recheck_query_proba(&count, NULL, NULL, NULL, r, hand_p, HK, pool, 8));
    float p[8 * HK];

    memcpy(p, hand_p, sizeof p);
    p[4 * HK + 1] = NAN;
    bad_proba(r, p, HK, pool, 8, HITL_ENUMERIC, "proba[4][1] is nan");
    p[4 * HK + 1] = INFINITY;
    bad_proba(r, p, HK, pool, 8, HITL_ENUMERIC, "proba[4][1] is inf");
    memcpy(p, hand_p, sizeof p);
    p[2 * HK] = -0.1f;
    bad_proba(r, p, HK, pool, 8, HITL_EINVAL, "proba[2][0] is -0.1");
    memcpy(p, hand_p, sizeof p);
    p[7 * HK + 2] = 0.2f;
    bad_proba(r, p, HK, pool, 8, HITL_EINVAL, "proba row 7 sums to 0.5");
    bad_proba(r, hand_p, HK, pool, 0, HITL_EINVAL, "k is 0");
    bad_proba(r, hand_p, 1, pool, 8, HITL_EINVAL, "n_classes is 1");
    bad_proba(r, hand_p, 65537, pool, 8, HITL_EINVAL, "n_classes is 65537");
    bad_proba(r, NULL, HK, pool, 8, HITL_EINVAL, "proba is NULL");
    bad_proba(r, hand_p, HK, NULL, 8, HITL_EINVAL, "pool is NULL");
    /* a label beyond the classes: two-class probabilities, labels up to 2 */
    float p2[8 * 2];
    for (int i = 0; i < 8; i++)
        p2[2 * i] = p2[2 * i + 1] = 0.5f;
    bad_proba(r, p2, 2, pool, 8, HITL_EINVAL, "pool item 7 (id 7) has label 2, not in [0, 2)");
    ck_assert_int_eq(hitl_recheck_query_proba(NULL, NULL, NULL, NULL, r, hand_p, HK, pool, 8),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_recheck_query_proba(&count, NULL, NULL, NULL, NULL, hand_p, HK, pool,
                                              8), HITL_EINVAL);
    /* no labeled item */
    hitl_pool *empty = NULL;
    ok(hitl_pool_create(&empty, 1));
    float x = 0;
    ok(hitl_pool_add(empty, &x, 1, 1, NULL));
    bad_proba(r, hand_p, HK, empty, 8, HITL_ESTATE, "no labeled item");
    hitl_pool_free(empty);
    hitl_recheck_free(r);
    hitl_pool_free(pool);
}
END_TEST

/* ---- cross-fitting ----------------------------------------------------------- */

/* n points of dim features around K centres, labels with every `flip_every`
 * th flipped to the next class (-1: none); *flipped marks them. */
static void blobs(float *X, int32_t *y, uint8_t *flipped, size_t n, size_t dim, size_t K,
                  size_t flip_every, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        size_t c = i % K;
        for (size_t d = 0; d < dim; d++) {
            double u = (double)(test_splitmix(&s) >> 11) / 9007199254740992.0;
            X[i * dim + d] = (float)((d % K == c ? 3.0 : 0.0) + 2.0 * (u - 0.5));
        }
        int flip = flip_every && i % flip_every == flip_every - 1;
        y[i] = (int32_t)(flip ? (c + 1) % K : c);
        if (flipped)
            flipped[i] = (uint8_t)flip;
    }
}

enum { CN = 300, CD = 4, CK = 3 };

START_TEST(test_cross_fit)
{
    static float X[CN * CD];
    static int32_t y[CN];
    static uint8_t flipped[CN];
    blobs(X, y, flipped, CN, CD, CK, 10, 1);
    y[5] = -1; /* one unlabeled item in between */
    hitl_pool *pool = labeled_pool(X, CN, CD, y);
    hitl_model *m = NULL;
    ok(hitl_model_create_logreg(&m, CD, CK));
    hitl_recheck *r = new_recheck();
    size_t n = CN - 1;
    static float P1[CN * CK], P2[CN * CK], P3[CN * CK];
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_THREADS, 1));
    ok(hitl_recheck_cross_fit(P1, r, m, pool));
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_THREADS, 4));
    ok(hitl_recheck_cross_fit(P2, r, m, pool));
    ck_assert_int_eq(memcmp(P1, P2, n * CK * sizeof *P1), 0);
    /* another seed, another split */
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_SEED, 7));
    ok(hitl_recheck_cross_fit(P3, r, m, pool));
    ck_assert_int_ne(memcmp(P1, P3, n * CK * sizeof *P1), 0);
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_SEED, 0));
    /* the caller's model is only read: still unfitted */
    double fitted;
    ok(hitl_model_get_info(&fitted, m, HITL_INFO_FITTED));
    ck_assert_double_eq(fitted, 0);

    /* query = query_proba on the cross-fit */
    size_t c1, c2, i1[CN], i2[CN];
    double s1[CN], s2[CN];
    ok(hitl_recheck_query(&c1, i1, NULL, s1, r, m, pool, CN));
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_FOLDS), 5);
    ok(hitl_recheck_query_proba(&c2, i2, NULL, s2, r, P1, CK, pool, CN));
    ck_assert_double_eq(info(r, HITL_RECHECK_INFO_FOLDS), 0);
    ck_assert_uint_eq(c1, c2);
    ck_assert_int_eq(memcmp(i1, i2, c1 * sizeof *i1), 0);
    ck_assert_int_eq(memcmp(s1, s2, c1 * sizeof *s1), 0);
    /* easy blobs: most flagged items were flipped, most flips flagged */
    size_t hits = 0, flips = 0;
    for (size_t q = 0; q < c1; q++)
        hits += flipped[i1[q]];
    for (size_t i = 0; i < CN; i++)
        flips += flipped[i] && i != 5;
    ck_assert_msg(hits * 10 >= c1 * 8 && hits * 10 >= flips * 8,
                  "%zu of %zu flagged were flipped, of %zu flips", hits, c1, flips);
    hitl_recheck_free(r);
    hitl_model_free(m);
    hitl_pool_free(pool);
}
END_TEST

static void bad_cross_fit(hitl_recheck *r, const hitl_model *m, const hitl_pool *pool,
                          int status, const char *msg)
{
    size_t count = 77, idx[4] = { 77 };
    ck_assert_int_eq(hitl_recheck_query(&count, idx, NULL, NULL, r, m, pool, 4), status);
    msg_has(msg);
    ck_assert_uint_eq(count, 77);
    ck_assert_uint_eq(idx[0], 77);
    static float P[CN * CK];
    ck_assert_int_eq(hitl_recheck_cross_fit(P, r, m, pool), status);
    msg_has(msg);
}

static int never_predict(void *u, const float *X, size_t n, size_t stride, size_t dim,
                         float *proba)
{
    (void)u, (void)X, (void)n, (void)stride, (void)dim, (void)proba;
    return 1;
}

static int uniform_predict(void *u, const float *X, size_t n, size_t stride, size_t dim,
                           float *proba)
{
    (void)u, (void)X, (void)stride, (void)dim;
    for (size_t i = 0; i < n * CK; i++)
        proba[i] = 1.0f / CK;
    return 0;
}

static int fit_fails_third(void *u, const float *X, size_t n, size_t dim, const int32_t *y,
                           const float *w)
{
    (void)X, (void)n, (void)dim, (void)y, (void)w;
    return ++*(int *)u == 3 ? 42 : 0;
}

START_TEST(test_bad_cross_fit)
{
    static float X[CN * CD];
    static int32_t y[CN];
    blobs(X, y, NULL, 12, CD, CK, 0, 1);
    hitl_pool *pool = labeled_pool(X, 12, CD, y);
    hitl_model *m = NULL, *m5 = NULL, *m2 = NULL, *nofit = NULL, *bad = NULL;
    ok(hitl_model_create_logreg(&m, CD, CK));
    ok(hitl_model_create_logreg(&m5, CD + 1, CK));
    ok(hitl_model_create_logreg(&m2, CD, 2));
    ok(hitl_model_create_custom(&nofit, CD, CK, NULL, never_predict, NULL));
    int calls = 0;
    ok(hitl_model_create_custom(&bad, CD, CK, fit_fails_third, uniform_predict, &calls));
    hitl_recheck *r = new_recheck();
    bad_cross_fit(r, m5, pool, HITL_EINVAL, "pool dim 4 differs from model dim 5");
    bad_cross_fit(r, m2, pool, HITL_EINVAL, "pool item 2 (id 2) has label 2, not in [0, 2)");
    bad_cross_fit(r, nofit, pool, HITL_EINVAL, "no fit callback");
    bad_cross_fit(r, NULL, pool, HITL_EINVAL, "model is NULL");
    bad_cross_fit(r, m, NULL, HITL_EINVAL, "pool is NULL");
    bad_cross_fit(NULL, m, pool, HITL_EINVAL, "recheck is NULL");
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_FOLDS, 13));
    bad_cross_fit(r, m, pool, HITL_EINVAL, "FOLDS is 13 but the pool has 12 labeled items");
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_FOLDS, 3));
    /* a fold's failing callback names the fold */
    calls = 0;
    size_t count = 77;
    ck_assert_int_eq(hitl_recheck_query(&count, NULL, NULL, NULL, r, bad, pool, 4),
                     HITL_ECALLBACK);
    msg_has("hitl_recheck_query: fold 2 of 3: the fit callback returned 42");
    ck_assert_uint_eq(count, 77);
    /* a class with one labeled item */
    ok(hitl_pool_set_state(pool, 3, HITL_ITEM_UNLABELED));
    ok(hitl_pool_set_state(pool, 6, HITL_ITEM_UNLABELED));
    ok(hitl_pool_set_state(pool, 9, HITL_ITEM_UNLABELED));
    bad_cross_fit(r, m, pool, HITL_EINVAL, "class 0 has 1 labeled item");
    for (size_t i = 0; i < 12; i++)
        ok(hitl_pool_set_state(pool, i, HITL_ITEM_UNLABELED));
    bad_cross_fit(r, m, pool, HITL_ESTATE, "no labeled item");
    ck_assert_int_eq(hitl_recheck_query(&count, NULL, NULL, NULL, r, m, pool, 0), HITL_EINVAL);
    msg_has("k is 0");
    ck_assert_int_eq(hitl_recheck_cross_fit(NULL, r, m, pool), HITL_EINVAL);
    msg_has("proba is NULL");
    double v;
    ck_assert_int_eq(hitl_recheck_get_info(&v, r, HITL_RECHECK_INFO_N_FLAGGED), HITL_ESTATE);
    hitl_recheck_free(r);
    hitl_model_free(m);
    hitl_model_free(m5);
    hitl_model_free(m2);
    hitl_model_free(nofit);
    hitl_model_free(bad);
    hitl_pool_free(pool);
}
END_TEST

/* A custom model: nearest class mean, probabilities by softmax of minus the
 * squared distances.  Counts its fits and the rows they saw. */
typedef struct centroid {
    float mean[CK * CD];
    int fits;
    size_t rows_seen;
} centroid;

static int centroid_fit(void *u, const float *X, size_t n, size_t dim, const int32_t *y,
                        const float *w)
{
    centroid *c = u;
    double sum[CK * CD] = { 0 }, cnt[CK] = { 0 };
    for (size_t i = 0; i < n; i++) {
        cnt[y[i]] += w[i];
        for (size_t d = 0; d < dim; d++)
            sum[y[i] * dim + d] += w[i] * X[i * dim + d];
    }
    for (size_t k = 0; k < CK; k++)
        for (size_t d = 0; d < dim; d++)
            c->mean[k * dim + d] = cnt[k] > 0 ? (float)(sum[k * dim + d] / cnt[k]) : 0;
    c->fits++;
    c->rows_seen += n;
    return 0;
}

static int centroid_predict(void *u, const float *X, size_t n, size_t stride, size_t dim,
                            float *proba)
{
    centroid *c = u;
    for (size_t i = 0; i < n; i++) {
        double z[CK], mx = -1e300, s = 0;
        for (size_t k = 0; k < CK; k++) {
            double d2 = 0;
            for (size_t d = 0; d < dim; d++) {
                double e = X[i * stride + d] - c->mean[k * dim + d];
                d2 += e * e;
            }
            z[k] = -d2;
            mx = z[k] > mx ? z[k] : mx;
        }
        for (size_t k = 0; k < CK; k++)
            s += z[k] = exp(z[k] - mx);
        for (size_t k = 0; k < CK; k++)
            proba[i * CK + k] = (float)(z[k] / s);
    }
    return 0;
}

START_TEST(test_custom_model)
{
    static float X[CN * CD];
    static int32_t y[CN];
    static uint8_t flipped[CN];
    blobs(X, y, flipped, CN, CD, CK, 10, 3);
    hitl_pool *pool = labeled_pool(X, CN, CD, y);
    centroid c = { .fits = 0 };
    hitl_model *m = NULL;
    ok(hitl_model_create_custom(&m, CD, CK, centroid_fit, centroid_predict, &c));
    hitl_recheck *r = new_recheck();
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_FOLDS, 4));
    size_t count, idx[CN];
    ok(hitl_recheck_query(&count, idx, NULL, NULL, r, m, pool, CN));
    ck_assert_int_eq(c.fits, 4);
    ck_assert_uint_eq(c.rows_seen, 3 * CN); /* each item in 3 of 4 training sets */
    size_t hits = 0;
    for (size_t q = 0; q < count; q++)
        hits += flipped[idx[q]];
    ck_assert_msg(count > 0 && hits * 10 >= count * 8, "%zu of %zu", hits, count);
    hitl_recheck_free(r);
    hitl_model_free(m);
    hitl_pool_free(pool);
}
END_TEST

/* ---- out of memory ------------------------------------------------------------ */

typedef int (*recheck_call)(hitl_recheck *r, const void *ctx);

typedef struct call_ctx {
    const hitl_model *m;
    const hitl_pool *pool;
    const float *proba;
    size_t K;
    size_t *count, *idx;
    float *out;
} call_ctx;

static int call_query(hitl_recheck *r, const void *v)
{
    const call_ctx *c = v;
    return hitl_recheck_query(c->count, c->idx, NULL, NULL, r, c->m, c->pool, CN);
}

static int call_query_proba(hitl_recheck *r, const void *v)
{
    const call_ctx *c = v;
    return hitl_recheck_query_proba(c->count, c->idx, NULL, NULL, r, c->proba, c->K, c->pool,
                                    CN);
}

static int call_cross_fit(hitl_recheck *r, const void *v)
{
    const call_ctx *c = v;
    return hitl_recheck_cross_fit(c->out, r, c->m, c->pool);
}

/* Fail allocation 0, 1, ... until the call succeeds: every failure is
 * HITL_ENOMEM, writes no count and leaves the report as it was. */
typedef struct oom_ctx {
    hitl_recheck *r;
    recheck_call call;
    const call_ctx *ctx;
    snap before;
} oom_ctx;

static int oom_call(void *v)
{
    oom_ctx *o = v;
    *o->ctx->count = 77;
    return o->call(o->r, o->ctx);
}

static void oom_unchanged(void *v)
{
    oom_ctx *o = v;
    ck_assert_uint_eq(*o->ctx->count, 77);
    snap now = take(o->r);
    same(&o->before, &now);
}

static void oom_loop(hitl_recheck *r, recheck_call call, const call_ctx *ctx)
{
    oom_ctx o = { r, call, ctx, take(r) };
    oom_until_ok(oom_call, oom_unchanged, &o);
}

START_TEST(test_oom)
{
    oom_install();
    static float X[CN * CD], P[CN * CK];
    static int32_t y[CN];
    blobs(X, y, NULL, CN, CD, CK, 10, 5);
    hitl_pool *pool = labeled_pool(X, CN, CD, y);
    hitl_model *m = NULL;
    ok(hitl_model_create_logreg(&m, CD, CK));
    ok(hitl_model_set_param(m, HITL_PARAM_THREADS, 1));
    /* the reference: no failure */
    hitl_recheck *ref = new_recheck();
    ok(hitl_recheck_set_param(ref, HITL_PARAM_RECHECK_THREADS, 1));
    size_t want_count, want_idx[CN];
    ok(hitl_recheck_query(&want_count, want_idx, NULL, NULL, ref, m, pool, CN));
    snap want = take(ref);
    hitl_recheck_free(ref);

    hitl_recheck *r = NULL;
    for (long fail_at = 0;; fail_at++) {
        oom_arm(fail_at);
        int rc = hitl_recheck_create(&r);
        oom_arm(-1);
        if (rc == HITL_OK)
            break;
        ck_assert_int_eq(rc, HITL_ENOMEM);
    }
    ok(hitl_recheck_set_param(r, HITL_PARAM_RECHECK_THREADS, 1));
    size_t count, idx[CN];
    call_ctx ctx = { .m = m, .pool = pool, .proba = hand_p, .K = HK, .count = &count,
                     .idx = idx, .out = P };
    /* a first report to keep: the hand case on its own pool */
    hitl_pool *hp = hand_pool();
    call_ctx hand = ctx;
    hand.pool = hp;
    ok(call_query_proba(r, &hand));
    oom_loop(r, call_query, &ctx);
    ck_assert_uint_eq(count, want_count);
    ck_assert_int_eq(memcmp(idx, want_idx, count * sizeof *idx), 0);
    snap got = take(r);
    same(&got, &want);
    oom_loop(r, call_cross_fit, &ctx);
    ctx.proba = P;
    ctx.K = CK;
    oom_loop(r, call_query_proba, &ctx);
    ck_assert_uint_eq(count, want_count);
    hitl_recheck_free(r);
    hitl_pool_free(hp);
    hitl_model_free(m);
    hitl_pool_free(pool);
    oom_uninstall();
}
END_TEST

static Suite *recheck_suite(void)
{
    Suite *s = suite_create("recheck");
    TCase *tc = tcase_create("confident learning");
    tcase_add_test(tc, test_hand_worked);
    tcase_add_test(tc, test_ties_and_argmax);
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_bad_proba);
    suite_add_tcase(s, tc);
    tc = tcase_create("cross-fit");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cross_fit);
    tcase_add_test(tc, test_bad_cross_fit);
    tcase_add_test(tc, test_custom_model);
    tcase_add_test(tc, test_oom);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(recheck_suite)
