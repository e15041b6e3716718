/* Diversity strategies against direct implementations of their definitions,
 * written here in double precision and from scratch at every step:
 * k-center greedy (brute-force distances to every centre), ranked batch mode
 * (Cardoso et al.'s formula), information density (exact average; the
 * anchor estimate within its Hoeffding bound), the two-stage hybrid, the
 * cold starts; determinism for a seed and any thread count; parameters;
 * every error path; out-of-memory recovery. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- data ---------------------------------------------------------------------- */

static uint64_t lcg(uint64_t *r)
{
    *r = *r * 6364136223846793005ull + 1442695040888963407ull;
    return *r >> 11;
}

static double unif(uint64_t *r)
{
    return (double)lcg(r) * 0x1.0p-53;
}

typedef struct data {
    size_t n, d, K;
    float *X;
    int32_t *y;
    hitl_item_state *st;   /* item states, read by sync_states */
    hitl_pool *pool;
    hitl_model *model;
} data;

/* K clusters of n/K items around random centres in [0, 4]^d, spread sd. */
static void make_data(data *D, size_t n, size_t d, size_t K, double sd, uint64_t seed)
{
    uint64_t r = seed * 0x9E3779B97F4A7C15ull + 3;
    double *c = malloc(K * d * sizeof *c);
    for (size_t i = 0; i < K * d; i++)
        c[i] = 4 * unif(&r);
    D->n = n;
    D->d = d;
    D->K = K;
    D->X = malloc(n * d * sizeof *D->X);
    D->y = malloc(n * sizeof *D->y);
    D->st = calloc(n, sizeof *D->st);
    for (size_t i = 0; i < n; i++) {
        D->y[i] = (int32_t)(i % K);
        for (size_t j = 0; j < d; j++) {
            double u = unif(&r) + unif(&r) + unif(&r) - 1.5;
            D->X[i * d + j] = (float)(c[D->y[i] * d + j] + 2 * sd * u);
        }
    }
    free(c);
    ck_assert_int_eq(hitl_pool_create(&D->pool, d), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(D->pool, D->X, n, d, NULL), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&D->model, d, K), HITL_OK);
}

static void label(data *D, size_t i)
{
    ck_assert_int_eq(hitl_pool_set_label(D->pool, i, D->y[i]), HITL_OK);
}

static void label_first(data *D, size_t n_lab)
{
    for (size_t i = 0; i < n_lab; i++)
        label(D, i);
    ck_assert_int_eq(hitl_model_fit(D->model, D->pool), HITL_OK);
}

static void free_data(data *D)
{
    hitl_model_free(D->model);
    hitl_pool_free(D->pool);
    free(D->X);
    free(D->y);
    free(D->st);
}

/* The references read item states from D->st (one ck_assert per item here,
 * none in their loops: Check records every assertion, which is slow). */
static void sync_states(data *D)
{
    for (size_t i = 0; i < D->n; i++)
        ck_assert_int_eq(hitl_pool_item(NULL, &D->st[i], NULL, D->pool, i), HITL_OK);
}

static hitl_item_state state_of(const data *D, size_t i)
{
    return D->st[i];
}

static double dist2(const data *D, size_t a, size_t b)
{
    double s = 0;
    for (size_t j = 0; j < D->d; j++) {
        double t = (double)D->X[a * D->d + j] - (double)D->X[b * D->d + j];
        s += t * t;
    }
    return s;
}

static hitl_strategy *strategy(hitl_strategy_kind kind, uint64_t seed)
{
    hitl_strategy *s;
    ck_assert_int_eq(hitl_strategy_create(&s, kind), HITL_OK);
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_SEED, (double)seed), HITL_OK);
    return s;
}

/* The documented informativeness of every item, from the model. */
static double *informativeness(const data *D, hitl_strategy_kind base)
{
    size_t n = D->n, K = D->K;
    float *p = malloc(n * K * sizeof *p);
    double *u = malloc(n * sizeof *u);
    ck_assert_int_eq(hitl_model_predict_pool(p, D->model, D->pool, 0, n), HITL_OK);
    for (size_t i = 0; i < n; i++) {
        double p1 = 0, p2 = 0, h = 0;
        for (size_t c = 0; c < K; c++) {
            double v = p[i * K + c];
            if (v > p1) {
                p2 = p1;
                p1 = v;
            } else if (v > p2) {
                p2 = v;
            }
            h -= v > 0 ? v * log(v) : 0;
        }
        u[i] = base == HITL_STRATEGY_LEAST_CONFIDENT ? (1 - p1) / (1 - 1.0 / (double)K)
             : base == HITL_STRATEGY_MARGIN ? 1 - (p1 - p2) : h / log((double)K);
    }
    free(p);
    return u;
}

/* ---- k-center greedy ---------------------------------------------------------- */

/* Farthest-first from the labeled items, distances recomputed from scratch
 * against every centre at every pick; ties to the lower index. */
static void kcenter_reference(size_t *pick, double *score, data *D, size_t k)
{
    sync_states(D);
    size_t n = D->n, n_c = 0;
    size_t *cent = malloc((n + k) * sizeof *cent);
    for (size_t i = 0; i < n; i++)
        if (state_of(D, i) == HITL_ITEM_LABELED)
            cent[n_c++] = i;
    for (size_t t = 0; t < k; t++) {
        size_t best = SIZE_MAX;
        double bd = -1;
        for (size_t i = 0; i < n; i++) {
            if (state_of(D, i) != HITL_ITEM_UNLABELED)
                continue;
            int taken = 0;
            for (size_t j = 0; j < t; j++)
                taken |= pick[j] == i;
            if (taken)
                continue;
            double m = INFINITY;
            for (size_t j = 0; j < n_c; j++)
                m = fmin(m, dist2(D, i, cent[j]));
            if (m > bd) {
                bd = m;
                best = i;
            }
        }
        pick[t] = best;
        score[t] = sqrt(bd);
        cent[n_c++] = best;
    }
    free(cent);
}

START_TEST(test_kcenter_equals_brute_force)
{
    for (uint64_t seed = 1; seed <= 6; seed++) {
        data D;
        make_data(&D, 80 + 7 * seed, 2 + seed % 5, 3, 0.8, seed);
        for (size_t i = 0; i < 3 + seed; i++)
            label(&D, i * 5);
        ck_assert_int_eq(hitl_pool_set_state(D.pool, 1, HITL_ITEM_SKIPPED), HITL_OK);
        enum { K = 12 };
        size_t want[K], got[K], count;
        double wsc[K], gsc[K];
        kcenter_reference(want, wsc, &D, K);
        hitl_strategy *s = strategy(HITL_STRATEGY_KCENTER, seed);
        /* needs no model */
        ck_assert_int_eq(hitl_query(&count, got, NULL, gsc, s, NULL, D.pool, K), HITL_OK);
        ck_assert_uint_eq(count, K);
        for (size_t t = 0; t < K; t++) {
            ck_assert_msg(got[t] == want[t], "seed %llu pick %zu: %zu, reference %zu",
                          (unsigned long long)seed, t, got[t], want[t]);
            ck_assert_double_eq_tol(gsc[t], wsc[t], 1e-4 * (1 + wsc[t]));
            ck_assert(t == 0 || gsc[t] <= gsc[t - 1] + 1e-6);
        }
        hitl_strategy_free(s);
        free_data(&D);
    }
}
END_TEST

/* ---- ranked batch ------------------------------------------------------------- */

/* Cardoso et al.: each pick maximises alpha (1 - sim) + (1 - alpha) u with
 * alpha = |U| / (|U| + |L|) and sim = 1 / (1 + distance to the nearest item
 * of L), L growing by each pick. */
static void ranked_reference(size_t *pick, double *score, data *D, const double *u,
                             size_t k)
{
    sync_states(D);
    size_t n = D->n, n_l = 0, n_u = 0;
    size_t *L = malloc((n + k) * sizeof *L);
    for (size_t i = 0; i < n; i++) {
        hitl_item_state s = state_of(D, i);
        if (s == HITL_ITEM_LABELED)
            L[n_l++] = i;
        n_u += s == HITL_ITEM_UNLABELED;
    }
    for (size_t t = 0; t < k; t++) {
        double alpha = (double)n_u / (double)(n_u + n_l), bs = -INFINITY;
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            if (state_of(D, i) != HITL_ITEM_UNLABELED)
                continue;
            int taken = 0;
            for (size_t j = 0; j < t; j++)
                taken |= pick[j] == i;
            if (taken)
                continue;
            double m = INFINITY;
            for (size_t j = 0; j < n_l; j++)
                m = fmin(m, sqrt(dist2(D, i, L[j])));
            double sim = 1 / (1 + m);
            double sc = alpha * (1 - sim) + (1 - alpha) * u[i];
            if (sc > bs) {
                bs = sc;
                best = i;
            }
        }
        pick[t] = best;
        score[t] = bs;
        L[n_l++] = best;
        n_u--;
    }
    free(L);
}

START_TEST(test_ranked_batch_equals_formula)
{
    const hitl_strategy_kind bases[3] = {HITL_STRATEGY_LEAST_CONFIDENT, HITL_STRATEGY_MARGIN,
                                         HITL_STRATEGY_ENTROPY};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        data D;
        make_data(&D, 90, 3, 3, 1.0, seed + 10);
        /* few labels, so alpha stays large, and many, so uncertainty counts */
        label_first(&D, seed == 1 ? 6 : 45);
        for (int b = 0; b < 3; b++) {
            enum { K = 10 };
            double *u = informativeness(&D, bases[b]);
            size_t want[K], got[K], count;
            double wsc[K], gsc[K];
            ranked_reference(want, wsc, &D, u, K);
            hitl_strategy *s = strategy(HITL_STRATEGY_RANKED_BATCH, seed);
            if (b > 0)
                ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_BASE, bases[b]), HITL_OK);
            ck_assert_int_eq(hitl_query(&count, got, NULL, gsc, s, D.model, D.pool, K), HITL_OK);
            ck_assert_uint_eq(count, K);
            for (size_t t = 0; t < K; t++) {
                ck_assert_msg(got[t] == want[t], "base %d pick %zu: %zu, reference %zu", b, t,
                              got[t], want[t]);
                ck_assert_double_eq_tol(gsc[t], wsc[t], 1e-5);
            }
            hitl_strategy_free(s);
            free(u);
        }
        free_data(&D);
    }
}
END_TEST

/* ---- information density ----------------------------------------------------------- */

/* D(x) = 1/|U| sum_{x' in U} exp(-||x - x'||^2 / h^2), h^2 = the mean squared
 * distance between two unlabeled items (pairs with themselves included). */
static double *density_reference(data *D, double *h2_out)
{
    sync_states(D);
    size_t n = D->n, n_u = 0;
    double h2 = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (state_of(D, i) == HITL_ITEM_UNLABELED && state_of(D, j) == HITL_ITEM_UNLABELED)
                h2 += dist2(D, i, j);
    for (size_t i = 0; i < n; i++)
        n_u += state_of(D, i) == HITL_ITEM_UNLABELED;
    h2 /= (double)n_u * (double)n_u;
    double *dens = calloc(n, sizeof *dens);
    for (size_t i = 0; i < n; i++) {
        if (state_of(D, i) != HITL_ITEM_UNLABELED)
            continue;
        for (size_t j = 0; j < n; j++)
            if (state_of(D, j) == HITL_ITEM_UNLABELED)
                dens[i] += exp(-dist2(D, i, j) / h2);
        dens[i] /= (double)n_u;
    }
    *h2_out = h2;
    return dens;
}

/* Every unlabeled item's D as the library estimates it: a DENSITY query of
 * all of them with exponent 1 scores u D, and u is known.  Items the model is
 * sure of (u < 1e-3) are left out (NAN): u D says little about D there. */
static double *density_of_library(const data *D, size_t anchors, double bandwidth,
                                  uint64_t seed)
{
    size_t n = D->n, count;
    double *u = informativeness(D, HITL_STRATEGY_MARGIN);
    size_t *idx = malloc(n * sizeof *idx);
    double *sc = malloc(n * sizeof *sc), *dens = calloc(n, sizeof *dens);
    hitl_strategy *s = strategy(HITL_STRATEGY_DENSITY, seed);
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_DENSITY_ANCHORS, (double)anchors),
                     HITL_OK);
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_DENSITY_BANDWIDTH, bandwidth),
                     HITL_OK);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, sc, s, D->model, D->pool, n), HITL_OK);
    for (size_t j = 0; j < count; j++) {
        dens[idx[j]] = u[idx[j]] >= 1e-3 ? sc[j] / u[idx[j]] : NAN;
        ck_assert(j == 0 || sc[j] <= sc[j - 1]);
    }
    hitl_strategy_free(s);
    free(u);
    free(idx);
    free(sc);
    return dens;
}

START_TEST(test_density_exact_and_estimate)
{
    data D;
    make_data(&D, 1500, 4, 3, 1.5, 21);
    label_first(&D, 30);
    size_t n = D.n, n_u = n - 30, checked = 0;
    double h2, *exact = density_reference(&D, &h2);

    /* exact when the anchors cover every unlabeled item, with the automatic
       bandwidth and with h given */
    for (int given = 0; given < 2; given++) {
        double *all = density_of_library(&D, n_u, given ? sqrt(h2) : 0, 1);
        for (size_t i = 30; i < n; i++)
            if (!isnan(all[i])) {
                ck_assert_double_eq_tol(all[i], exact[i], 2e-5);
                checked++;
            }
        free(all);
    }
    ck_assert_uint_gt(checked, n_u);

    /* m anchors: within sqrt(ln(2N/delta) / (2m)) for every item, delta = 1e-3
       (the bound of hitl.h), for several seeds and sizes */
    const size_t ms[3] = {50, 200, 800};
    for (int t = 0; t < 3; t++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            double bound = sqrt(log(2.0 * (double)n_u / 1e-3) / (2.0 * (double)ms[t]));
            double *est = density_of_library(&D, ms[t], 0, seed), worst = 0, mean = 0;
            for (size_t i = 30; i < n; i++)
                if (!isnan(est[i])) {
                    worst = fmax(worst, fabs(est[i] - exact[i]));
                    mean += fabs(est[i] - exact[i]) / (double)n_u;
                }
            ck_assert_msg(worst <= bound, "m %zu seed %llu: error %g above the bound %g",
                          ms[t], (unsigned long long)seed, worst, bound);
            ck_assert(mean > 0);                /* an estimate, not the exact value */
            free(est);
        }
    /* exponent 0: plain informativeness order (margin) */
    hitl_strategy *s = strategy(HITL_STRATEGY_DENSITY, 1);
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_DENSITY_EXPONENT, 0), HITL_OK);
    hitl_strategy *m = strategy(HITL_STRATEGY_MARGIN, 1);
    size_t c1, c2, i1[20], i2[20];
    ck_assert_int_eq(hitl_query(&c1, i1, NULL, NULL, s, D.model, D.pool, 20), HITL_OK);
    ck_assert_int_eq(hitl_query(&c2, i2, NULL, NULL, m, D.model, D.pool, 20), HITL_OK);
    ck_assert(memcmp(i1, i2, sizeof i1) == 0);
    hitl_strategy_free(m);
    hitl_strategy_free(s);
    free(exact);
    free_data(&D);
}
END_TEST

/* ---- hybrid ------------------------------------------------------------------------ */

START_TEST(test_hybrid_is_kcenter_of_the_most_informative)
{
    data D;
    make_data(&D, 400, 3, 4, 1.0, 31);
    label_first(&D, 40);
    enum { K = 8 };
    const double betas[3] = {1, 3, 10};
    double *u = informativeness(&D, HITL_STRATEGY_MARGIN);
    for (int b = 0; b < 3; b++) {
        size_t keep = (size_t)ceil(betas[b] * K), n = D.n;
        /* stage 1 by the reference: the keep most informative (ties: index) */
        int *in = calloc(n, sizeof *in);
        for (size_t t = 0; t < keep; t++) {
            size_t best = SIZE_MAX;
            for (size_t i = 40; i < n; i++)
                if (!in[i] && (best == SIZE_MAX || u[i] > u[best]))
                    best = i;
            in[best] = 1;
        }
        /* stage 2: farthest-first among them from the labeled items */
        size_t want[K], got[K], count;
        double sc[K];
        for (size_t t = 0; t < K; t++) {
            size_t best = SIZE_MAX;
            double bd = -1;
            for (size_t i = 0; i < n; i++) {
                if (in[i] != 1)
                    continue;
                double m = INFINITY;
                for (size_t j = 0; j < n; j++)
                    if (j < 40 || in[j] == 2)
                        m = fmin(m, dist2(&D, i, j));
                if (m > bd) {
                    bd = m;
                    best = i;
                }
            }
            want[t] = best;
            in[best] = 2;
        }
        hitl_strategy *s = strategy(HITL_STRATEGY_HYBRID, 1);
        ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_HYBRID_BETA, betas[b]), HITL_OK);
        ck_assert_int_eq(hitl_query(&count, got, NULL, sc, s, D.model, D.pool, K), HITL_OK);
        ck_assert_uint_eq(count, K);
        for (size_t t = 0; t < K; t++) {
            ck_assert_msg(got[t] == want[t], "beta %g pick %zu: %zu, reference %zu", betas[b],
                          t, got[t], want[t]);
            ck_assert_double_eq_tol(sc[t], u[got[t]], 1e-5);  /* the informativeness */
        }
        hitl_strategy_free(s);
        free(in);
    }
    /* beta 1: the k most informative (margin), in k-center order */
    hitl_strategy *h = strategy(HITL_STRATEGY_HYBRID, 1), *m = strategy(HITL_STRATEGY_MARGIN, 1);
    ck_assert_int_eq(hitl_strategy_set_param(h, HITL_PARAM_HYBRID_BETA, 1), HITL_OK);
    size_t c1, c2, i1[K], i2[K];
    ck_assert_int_eq(hitl_query(&c1, i1, NULL, NULL, h, D.model, D.pool, K), HITL_OK);
    ck_assert_int_eq(hitl_query(&c2, i2, NULL, NULL, m, D.model, D.pool, K), HITL_OK);
    for (size_t t = 0; t < K; t++) {
        int found = 0;
        for (size_t j = 0; j < K; j++)
            found |= i1[t] == i2[j];
        ck_assert(found);
    }
    /* k-means++ second stage: picks among the 3k most informative, seeded */
    size_t top[3 * K], i3[K];
    ck_assert_int_eq(hitl_query(&c2, top, NULL, NULL, m, D.model, D.pool, 3 * K), HITL_OK);
    ck_assert_int_eq(hitl_strategy_set_param(h, HITL_PARAM_HYBRID_BETA, 3), HITL_OK);
    ck_assert_int_eq(hitl_strategy_set_param(h, HITL_PARAM_HYBRID_SELECT,
                                             HITL_COLD_START_KMEANSPP), HITL_OK);
    ck_assert_int_eq(hitl_query(&c1, i1, NULL, NULL, h, D.model, D.pool, K), HITL_OK);
    ck_assert_uint_eq(c1, K);
    for (size_t t = 0; t < K; t++) {
        int found = 0;
        for (size_t j = 0; j < 3 * K; j++)
            found |= i1[t] == top[j];
        ck_assert(found);
        for (size_t j = 0; j < t; j++)
            ck_assert_uint_ne(i1[t], i1[j]);
    }
    ck_assert_int_eq(hitl_query(&c2, i3, NULL, NULL, h, D.model, D.pool, K), HITL_OK);
    ck_assert(memcmp(i1, i3, sizeof i1) == 0);              /* deterministic */
    ck_assert_int_eq(hitl_strategy_set_param(h, HITL_PARAM_SEED, 2), HITL_OK);
    ck_assert_int_eq(hitl_query(&c2, i3, NULL, NULL, h, D.model, D.pool, K), HITL_OK);
    ck_assert(memcmp(i1, i3, sizeof i1) != 0);              /* seeded */
    /* DEFAULT is HYBRID(MARGIN, beta 10, k-means++) in this version */
    hitl_strategy *d = strategy(HITL_STRATEGY_DEFAULT, 1);
    ck_assert_int_eq(hitl_strategy_set_param(h, HITL_PARAM_SEED, 1), HITL_OK);
    ck_assert_int_eq(hitl_strategy_set_param(h, HITL_PARAM_HYBRID_BETA, 10), HITL_OK);
    ck_assert_int_eq(hitl_query(&c1, i1, NULL, NULL, h, D.model, D.pool, K), HITL_OK);
    ck_assert_int_eq(hitl_query(&c2, i2, NULL, NULL, d, D.model, D.pool, K), HITL_OK);
    ck_assert(memcmp(i1, i2, sizeof i1) == 0);
    hitl_strategy_free(d);
    hitl_strategy_free(h);
    hitl_strategy_free(m);
    free(u);
    free_data(&D);
}
END_TEST

/* ---- cold start --------------------------------------------------------------------- */

static size_t clusters_hit(const data *D, const size_t *idx, size_t k)
{
    int seen[16] = {0};
    size_t hit = 0;
    for (size_t t = 0; t < k; t++)
        if (!seen[D->y[idx[t]]]++)
            hit++;
    return hit;
}

START_TEST(test_cold_start)
{
    /* six tight, far-apart clusters; nothing labeled, no model */
    data D;
    make_data(&D, 600, 5, 6, 0.05, 41);
    const hitl_strategy_kind kinds[5] = {HITL_STRATEGY_KCENTER, HITL_STRATEGY_RANKED_BATCH,
                                         HITL_STRATEGY_DENSITY, HITL_STRATEGY_HYBRID,
                                         HITL_STRATEGY_DEFAULT};
    size_t idx[6], again[6], count;
    double sc[6];
    size_t kpp_full = 0, rnd_full = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        for (int k = 0; k < 5; k++) {
            hitl_strategy *s = strategy(kinds[k], seed);
            /* the default cold start is k-means++: every kind the same batch */
            ck_assert_int_eq(hitl_query(&count, idx, NULL, sc, s, NULL, D.pool, 6), HITL_OK);
            ck_assert_uint_eq(count, 6);
            ck_assert(isinf(sc[0]));
            ck_assert_int_eq(hitl_query(&count, again, NULL, NULL, s, D.model, D.pool, 6),
                             HITL_OK);                   /* unfitted model: fine */
            ck_assert(memcmp(idx, again, sizeof idx) == 0);
            hitl_strategy_free(s);
        }
        kpp_full += clusters_hit(&D, idx, 6) == 6;
        /* k-center from a seeded start: farthest-first covers every cluster */
        hitl_strategy *s = strategy(HITL_STRATEGY_KCENTER, seed);
        ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_COLD_START,
                                                 HITL_COLD_START_KCENTER), HITL_OK);
        ck_assert_int_eq(hitl_query(&count, idx, NULL, sc, s, NULL, D.pool, 6), HITL_OK);
        ck_assert_uint_eq(clusters_hit(&D, idx, 6), 6);
        for (size_t t = 2; t < 6; t++)
            ck_assert(sc[t] <= sc[t - 1]);
        /* random: seeded, distinct, and often misses a cluster */
        ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_COLD_START,
                                                 HITL_COLD_START_RANDOM), HITL_OK);
        ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, NULL, D.pool, 6), HITL_OK);
        hitl_strategy *r = strategy(HITL_STRATEGY_RANDOM, seed);
        ck_assert_int_eq(hitl_query(&count, again, NULL, NULL, r, NULL, D.pool, 6), HITL_OK);
        ck_assert(memcmp(idx, again, sizeof idx) == 0);  /* = the RANDOM strategy */
        rnd_full += clusters_hit(&D, idx, 6) == 6;
        hitl_strategy_free(r);
        hitl_strategy_free(s);
    }
    ck_assert_uint_ge(kpp_full, 18);
    ck_assert_uint_lt(rnd_full, kpp_full);

    /* seeds matter, and a different seed gives a different first item */
    hitl_strategy *a = strategy(HITL_STRATEGY_DEFAULT, 1), *b = strategy(HITL_STRATEGY_DEFAULT, 2);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, a, NULL, D.pool, 6), HITL_OK);
    ck_assert_int_eq(hitl_query(&count, again, NULL, NULL, b, NULL, D.pool, 6), HITL_OK);
    ck_assert(memcmp(idx, again, sizeof idx) != 0);
    hitl_strategy_free(a);
    hitl_strategy_free(b);
    /* once something is labeled, a model is needed again */
    label(&D, 0);
    hitl_strategy *h = strategy(HITL_STRATEGY_HYBRID, 1);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, h, NULL, D.pool, 6), HITL_EINVAL);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, h, D.model, D.pool, 6), HITL_ESTATE);
    hitl_strategy_free(h);
    free_data(&D);
}
END_TEST

/* ---- determinism ------------------------------------------------------------------- */

START_TEST(test_deterministic_any_threads)
{
    data D;
    make_data(&D, 3000, 6, 4, 1.5, 51);
    label_first(&D, 60);
    const hitl_strategy_kind kinds[5] = {HITL_STRATEGY_KCENTER, HITL_STRATEGY_RANKED_BATCH,
                                         HITL_STRATEGY_DENSITY, HITL_STRATEGY_HYBRID,
                                         HITL_STRATEGY_DEFAULT};
    for (int k = 0; k < 5; k++) {
        size_t a[25], b[25], ca, cb;
        double sa[25], sb[25];
        hitl_strategy *s = strategy(kinds[k], 9);
        ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_DENSITY_ANCHORS, 300), HITL_OK);
        ck_assert_int_eq(hitl_model_set_param(D.model, HITL_PARAM_THREADS, 1), HITL_OK);
        ck_assert_int_eq(hitl_query(&ca, a, NULL, sa, s, D.model, D.pool, 25), HITL_OK);
        ck_assert_int_eq(hitl_model_set_param(D.model, HITL_PARAM_THREADS, 4), HITL_OK);
        ck_assert_int_eq(hitl_model_set_param(D.model, HITL_PARAM_BLOCK_ROWS, 64), HITL_OK);
        ck_assert_int_eq(hitl_query(&cb, b, NULL, sb, s, D.model, D.pool, 25), HITL_OK);
        ck_assert_uint_eq(ca, 25);
        ck_assert_uint_eq(cb, 25);
        ck_assert(memcmp(a, b, sizeof a) == 0);
        ck_assert(memcmp(sa, sb, sizeof sa) == 0);
        for (size_t t = 0; t < 25; t++) {
            ck_assert_uint_ge(a[t], 60);
            for (size_t j = 0; j < t; j++)
                ck_assert_uint_ne(a[t], a[j]);
        }
        ck_assert_int_eq(hitl_model_set_param(D.model, HITL_PARAM_BLOCK_ROWS, 2048), HITL_OK);
        hitl_strategy_free(s);
    }
    free_data(&D);
}
END_TEST

/* A pool appended in several batches (several chunks) and one with borrowed
 * rows give the picks of one contiguous pool. */
START_TEST(test_chunks_and_borrowed_rows)
{
    data D;
    make_data(&D, 500, 4, 3, 1.0, 61);
    label_first(&D, 20);
    hitl_pool *p2;
    ck_assert_int_eq(hitl_pool_create(&p2, 4), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p2, D.X, 100, 4, NULL), HITL_OK);
    ck_assert_int_eq(hitl_pool_add_borrowed(p2, D.X + 400, 250, 4, NULL), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p2, D.X + 1400, 150, 4, NULL), HITL_OK);
    for (size_t i = 0; i < 20; i++)
        ck_assert_int_eq(hitl_pool_set_label(p2, i, D.y[i]), HITL_OK);
    const hitl_strategy_kind kinds[4] = {HITL_STRATEGY_KCENTER, HITL_STRATEGY_RANKED_BATCH,
                                         HITL_STRATEGY_DENSITY, HITL_STRATEGY_HYBRID};
    for (int k = 0; k < 4; k++) {
        size_t a[15], b[15], ca, cb;
        hitl_strategy *s = strategy(kinds[k], 3);
        ck_assert_int_eq(hitl_query(&ca, a, NULL, NULL, s, D.model, D.pool, 15), HITL_OK);
        ck_assert_int_eq(hitl_query(&cb, b, NULL, NULL, s, D.model, p2, 15), HITL_OK);
        ck_assert(memcmp(a, b, sizeof a) == 0);
        hitl_strategy_free(s);
    }
    hitl_pool_free(p2);
    free_data(&D);
}
END_TEST

/* ---- parameters and errors ------------------------------------------------------------ */

START_TEST(test_parameters)
{
    hitl_strategy *s = strategy(HITL_STRATEGY_HYBRID, 0);
    const struct { hitl_param p; double def, good, bad1, bad2; } P[] = {
        {HITL_PARAM_BASE, 0, HITL_STRATEGY_ENTROPY, HITL_STRATEGY_RANDOM, 99},
        {HITL_PARAM_HYBRID_BETA, 10, 2.5, 0.5, NAN},
        {HITL_PARAM_DENSITY_EXPONENT, 1, 2, -1, INFINITY},
        {HITL_PARAM_DENSITY_ANCHORS, 1024, 64, 0, 2.5},
        {HITL_PARAM_DENSITY_BANDWIDTH, 0, 1.5, -1, INFINITY},
        {HITL_PARAM_COLD_START, HITL_COLD_START_KMEANSPP, HITL_COLD_START_RANDOM, 3, -1},
        {HITL_PARAM_HYBRID_SELECT, HITL_COLD_START_KCENTER, HITL_COLD_START_KMEANSPP,
         HITL_COLD_START_RANDOM, 3},
    };
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
        double v;
        ck_assert_int_eq(hitl_strategy_get_param(&v, s, P[i].p), HITL_OK);
        ck_assert_double_eq(v, P[i].def);
        ck_assert_int_eq(hitl_strategy_set_param(s, P[i].p, P[i].bad1), HITL_EINVAL);
        ck_assert_int_eq(hitl_strategy_set_param(s, P[i].p, P[i].bad2), HITL_EINVAL);
        ck_assert_int_eq(hitl_strategy_get_param(&v, s, P[i].p), HITL_OK);
        ck_assert_double_eq(v, P[i].def);        /* unchanged by a refused value */
        ck_assert_int_eq(hitl_strategy_set_param(s, P[i].p, P[i].good), HITL_OK);
        ck_assert_int_eq(hitl_strategy_get_param(&v, s, P[i].p), HITL_OK);
        ck_assert_double_eq(v, P[i].good);
    }
    /* a QBC measure is a valid base (for hitl_query_committee) */
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_BASE, HITL_STRATEGY_QBC_BALD),
                     HITL_OK);
    /* strategy parameters on other handles */
    hitl_model *m;
    ck_assert_int_eq(hitl_model_create_logreg(&m, 2, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_HYBRID_BETA, 2), HITL_EINVAL);
    hitl_model_free(m);
    hitl_strategy_free(s);
    /* the kinds exist */
    const hitl_strategy_kind kinds[9] = {
        HITL_STRATEGY_QBC_VOTE_ENTROPY, HITL_STRATEGY_QBC_CONSENSUS_ENTROPY,
        HITL_STRATEGY_QBC_KL, HITL_STRATEGY_QBC_BALD, HITL_STRATEGY_KCENTER,
        HITL_STRATEGY_RANKED_BATCH, HITL_STRATEGY_DENSITY, HITL_STRATEGY_HYBRID,
        HITL_STRATEGY_DEFAULT};
    for (int k = 0; k < 9; k++) {
        ck_assert_int_eq(hitl_strategy_create(&s, kinds[k]), HITL_OK);
        hitl_strategy_free(s);
    }
}
END_TEST

START_TEST(test_query_errors)
{
    data D;
    make_data(&D, 100, 3, 3, 1.0, 71);
    label_first(&D, 10);
    size_t count = 77, idx[5];
    hitl_strategy *s = strategy(HITL_STRATEGY_RANKED_BATCH, 0);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, D.model, D.pool, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, NULL, D.pool, 5), HITL_EINVAL);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, D.model, NULL, 5), HITL_EINVAL);
    ck_assert_int_eq(hitl_query(NULL, idx, NULL, NULL, s, D.model, D.pool, 5), HITL_EINVAL);
    hitl_model *unfit, *wrong;
    ck_assert_int_eq(hitl_model_create_logreg(&unfit, 3, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&wrong, 4, 3), HITL_OK);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, unfit, D.pool, 5), HITL_ESTATE);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, wrong, D.pool, 5), HITL_EINVAL);
    /* a committee measure as the base needs hitl_query_committee */
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_BASE, HITL_STRATEGY_QBC_KL), HITL_OK);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, D.model, D.pool, 5), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "hitl_query_committee"));
    ck_assert_uint_eq(count, 77);
    /* ids and scores may be NULL, indices too */
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_BASE, 0), HITL_OK);
    uint64_t ids[5];
    ck_assert_int_eq(hitl_query(&count, NULL, ids, NULL, s, D.model, D.pool, 5), HITL_OK);
    ck_assert_uint_eq(count, 5);
    /* k above the unlabeled count; nothing unlabeled */
    size_t big[100];
    ck_assert_int_eq(hitl_query(&count, big, NULL, NULL, s, D.model, D.pool, 100), HITL_OK);
    ck_assert_uint_eq(count, 90);
    for (size_t i = 0; i < D.n; i++)
        ck_assert_int_eq(hitl_pool_set_state(D.pool, i, i < 10 ? HITL_ITEM_LABELED
                                                               : HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_int_eq(hitl_query(&count, big, NULL, NULL, s, D.model, D.pool, 100), HITL_OK);
    ck_assert_uint_eq(count, 0);
    hitl_strategy_free(s);
    hitl_model_free(unfit);
    hitl_model_free(wrong);
    free_data(&D);
}
END_TEST

/* Diversity with a committee's informativeness: QBC bases work only there. */
START_TEST(test_with_committee)
{
    data D;
    make_data(&D, 400, 3, 3, 1.0, 81);
    label_first(&D, 30);
    hitl_committee *c;
    ck_assert_int_eq(hitl_committee_create(&c, 3, 3), HITL_OK);
    for (int m = 0; m < 4; m++)
        ck_assert_int_eq(hitl_committee_add_logreg(c, 1), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(c, D.pool), HITL_OK);
    const hitl_strategy_kind kinds[4] = {HITL_STRATEGY_RANKED_BATCH, HITL_STRATEGY_DENSITY,
                                         HITL_STRATEGY_HYBRID, HITL_STRATEGY_DEFAULT};
    for (int k = 0; k < 4; k++) {
        hitl_strategy *s = strategy(kinds[k], 1);
        ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_BASE, HITL_STRATEGY_QBC_BALD),
                         HITL_OK);
        size_t count, idx[10];
        double sc[10];
        ck_assert_int_eq(hitl_query_committee(&count, idx, NULL, sc, s, c, D.pool, 10), HITL_OK);
        ck_assert_uint_eq(count, 10);
        for (size_t t = 0; t < 10; t++)
            ck_assert(sc[t] >= 0 && sc[t] <= 1 + 1e-9);
        hitl_strategy_free(s);
    }
    /* hybrid with QBC_KL base: every pick among the 3k largest KL items */
    hitl_strategy *h = strategy(HITL_STRATEGY_HYBRID, 1), *q = strategy(HITL_STRATEGY_QBC_KL, 1);
    ck_assert_int_eq(hitl_strategy_set_param(h, HITL_PARAM_BASE, HITL_STRATEGY_QBC_KL), HITL_OK);
    ck_assert_int_eq(hitl_strategy_set_param(h, HITL_PARAM_HYBRID_BETA, 3), HITL_OK);
    size_t c1, c2, i1[5], i2[15];
    ck_assert_int_eq(hitl_query_committee(&c1, i1, NULL, NULL, h, c, D.pool, 5), HITL_OK);
    ck_assert_int_eq(hitl_query_committee(&c2, i2, NULL, NULL, q, c, D.pool, 15), HITL_OK);
    for (size_t t = 0; t < 5; t++) {
        int found = 0;
        for (size_t j = 0; j < 15; j++)
            found |= i1[t] == i2[j];
        ck_assert(found);
    }
    hitl_strategy_free(h);
    hitl_strategy_free(q);
    hitl_committee_free(c);
    free_data(&D);
}
END_TEST

/* ---- out of memory --------------------------------------------------------------------- */

START_TEST(test_out_of_memory)
{
    oom_install();
    data D;
    make_data(&D, 300, 3, 3, 1.0, 91);
    const hitl_strategy_kind kinds[5] = {HITL_STRATEGY_KCENTER, HITL_STRATEGY_RANKED_BATCH,
                                         HITL_STRATEGY_DENSITY, HITL_STRATEGY_HYBRID,
                                         HITL_STRATEGY_DEFAULT};
    for (int phase = 0; phase < 2; phase++) {       /* cold start, then with labels */
        if (phase == 1)
            label_first(&D, 30);
        for (int k = 0; k < 5; k++) {
            hitl_strategy *s = strategy(kinds[k], 5);
            ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_DENSITY_ANCHORS, 50),
                             HITL_OK);
            size_t want[8], got[8], wn, gn = 0;
            ck_assert_int_eq(hitl_query(&wn, want, NULL, NULL, s, D.model, D.pool, 8), HITL_OK);
            long n;
            for (n = 0;; n++) {
                oom_arm(n);
                int st = hitl_query(&gn, got, NULL, NULL, s, D.model, D.pool, 8);
                oom_arm(-1);
                if (st == HITL_OK)
                    break;
                ck_assert_int_eq(st, HITL_ENOMEM);
            }
            ck_assert_int_gt(n, 0);
            ck_assert_uint_eq(gn, wn);
            ck_assert(memcmp(got, want, sizeof got) == 0);
            hitl_strategy_free(s);
        }
    }
    free_data(&D);
    oom_uninstall();
}
END_TEST

static Suite *diversity_suite(void)
{
    Suite *s = suite_create("diversity");
    TCase *tc = tcase_create("diversity");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_kcenter_equals_brute_force);
    tcase_add_test(tc, test_ranked_batch_equals_formula);
    tcase_add_test(tc, test_density_exact_and_estimate);
    tcase_add_test(tc, test_hybrid_is_kcenter_of_the_most_informative);
    tcase_add_test(tc, test_cold_start);
    tcase_add_test(tc, test_deterministic_any_threads);
    tcase_add_test(tc, test_chunks_and_borrowed_rows);
    tcase_add_test(tc, test_parameters);
    tcase_add_test(tc, test_query_errors);
    tcase_add_test(tc, test_with_committee);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(diversity_suite)
