/* Strategy: every score equals its formula on hand-worked probability tables;
 * the top k is exactly the brute-force answer (ties to the lower index) for
 * every thread count and block size; only UNLABELED items are candidates;
 * RANDOM is deterministic per seed, differs across seeds and is uniform;
 * every error leaves the strategy usable; the query's memory stays bounded;
 * out-of-memory recovery.
 *
 * Probabilities come from a custom model whose predict callback returns a
 * fixed table row per pool item (feature 0 holds the item's index), so these
 * tests do not depend on fitting; one test runs the built-in model. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* An assertion for hot loops: Check's ck_assert records every passing
 * call through a pipe, which dominates loops over millions of values. */
#define EXPECT(cond, ...) \
    do { \
        if (!(cond)) \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

enum { DIM = 3 };

static uint64_t rng_state = 7;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

/* ---- a custom model that reads a table --------------------------------------------------- */

typedef struct table {
    size_t n, K;
    const float *p;            /* n x K */
    int fail;                  /* the callback returns this when nonzero */
} table;

static int table_predict(void *user, const float *X, size_t n, size_t stride, size_t dim,
                         float *proba)
{
    const table *t = user;
    (void)dim;
    if (t->fail)
        return t->fail;
    for (size_t i = 0; i < n; i++) {
        size_t row = (size_t)X[i * stride];
        memcpy(proba + i * t->K, t->p + row * t->K, t->K * sizeof *proba);
    }
    return 0;
}

static hitl_model *table_model(table *t)
{
    hitl_model *m;
    ck_assert_int_eq(hitl_model_create_custom(&m, DIM, t->K, NULL, table_predict, t), HITL_OK);
    return m;
}

/* n items whose feature 0 is the item index, ids 1000 + index, in chunks of
 * 37 rows (so blocks meet chunk boundaries). */
static hitl_pool *index_pool(size_t n)
{
    hitl_pool *p;
    ck_assert_int_eq(hitl_pool_create(&p, DIM), HITL_OK);
    float *X = calloc(n * DIM + 1, sizeof *X);
    uint64_t *ids = malloc((n + 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        X[i * DIM] = (float)i;
        X[i * DIM + 1] = 1;
        ids[i] = 1000 + i;
    }
    for (size_t at = 0; at < n; at += 37) {
        size_t m = n - at < 37 ? n - at : 37;
        ck_assert_int_eq(hitl_pool_add(p, X + at * DIM, m, DIM, ids + at), HITL_OK);
    }
    free(X);
    free(ids);
    return p;
}

static hitl_strategy *make_strategy(hitl_strategy_kind kind)
{
    hitl_strategy *s;
    ck_assert_int_eq(hitl_strategy_create(&s, kind), HITL_OK);
    return s;
}

/* ---- scores on hand-worked tables --------------------------------------------------------- */

/* Five items, K = 3.  Entropies in nats, worked by hand:
 *   (0.7, 0.2, 0.1)   -(.7 ln .7 + .2 ln .2 + .1 ln .1)  = 0.801818
 *   (1/3, 1/3, 1/3)   ln 3                               = 1.098612
 *   (1, 0, 0)         0 (0 log 0 = 0)
 *   (0.5, 0.5, 0)     ln 2                               = 0.693147
 *   (0.1, 0.6, 0.3)   -(.1 ln .1 + .6 ln .6 + .3 ln .3)  = 0.897946 */
static const float hand[5 * 3] = {
    0.7f, 0.2f, 0.1f,
    1.0f / 3, 1.0f / 3, 1.0f / 3,
    1.0f, 0.0f, 0.0f,
    0.5f, 0.5f, 0.0f,
    0.1f, 0.6f, 0.3f,
};
static const double hand_lc[5] = { 0.3, 2.0 / 3, 0.0, 0.5, 0.4 };
static const double hand_margin[5] = { 0.5, 0.0, 1.0, 0.0, 0.3 };
static const double hand_entropy[5] = { 0.8018185525, 1.0986122887, 0.0, 0.6931471806,
                                        0.8979457248 };

static void check_hand(hitl_strategy_kind kind, const double *expect, const size_t *order)
{
    table t = { 5, 3, hand, 0 };
    hitl_model *m = table_model(&t);
    hitl_pool *p = index_pool(5);
    hitl_strategy *s = make_strategy(kind);
    size_t count, idx[5];
    uint64_t ids[5];
    double sc[5];
    ck_assert_int_eq(hitl_query(&count, idx, ids, sc, s, m, p, 5), HITL_OK);
    ck_assert_uint_eq(count, 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(idx[i], order[i]);
        ck_assert_uint_eq(ids[i], 1000 + order[i]);
        ck_assert_msg(fabs(sc[i] - expect[order[i]]) <= 2e-6,
                      "kind %d item %zu: score %.9g, by hand %.9g", kind, order[i], sc[i],
                      expect[order[i]]);
    }
    hitl_strategy_free(s);
    hitl_pool_free(p);
    hitl_model_free(m);
}

START_TEST(least_confident_by_hand)
{
    static const size_t order[5] = { 1, 3, 4, 0, 2 }; /* largest first */
    check_hand(HITL_STRATEGY_LEAST_CONFIDENT, hand_lc, order);
}
END_TEST

START_TEST(margin_by_hand)
{
    static const size_t order[5] = { 1, 3, 4, 0, 2 }; /* smallest first; 1, 3 tie */
    check_hand(HITL_STRATEGY_MARGIN, hand_margin, order);
}
END_TEST

START_TEST(entropy_by_hand)
{
    static const size_t order[5] = { 1, 4, 0, 3, 2 }; /* largest first */
    check_hand(HITL_STRATEGY_ENTROPY, hand_entropy, order);
}
END_TEST

/* ---- top k against brute force ------------------------------------------------------------- */

/* A random table with many exact ties: probabilities in eighths (exact in
 * float, so 1 - p1 and p1 - p2 are exact), and every 5th row a copy of an
 * earlier row (equal entropies too). */
static float *tie_table(size_t n, size_t K)
{
    float *p = malloc(n * K * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        if (i % 5 == 4) {
            memcpy(p + i * K, p + (size_t)(urand() * (double)i) * K, K * sizeof *p);
            continue;
        }
        unsigned left = 8;
        for (size_t c = 0; c < K; c++) {
            unsigned q = c + 1 == K ? left : (unsigned)(urand() * (left + 1));
            p[i * K + c] = (float)q / 8;
            left -= q;
        }
    }
    return p;
}

/* The kind's score in double from a table row. */
static double brute_score(hitl_strategy_kind kind, const float *p, size_t K)
{
    double p1 = -1, p2 = -1, h = 0;
    for (size_t c = 0; c < K; c++) {
        if (p[c] > p1) {
            p2 = p1;
            p1 = p[c];
        } else if (p[c] > p2) {
            p2 = p[c];
        }
        if (p[c] > 0)
            h -= p[c] * log(p[c]);
    }
    return kind == HITL_STRATEGY_LEAST_CONFIDENT ? 1 - p1
         : kind == HITL_STRATEGY_MARGIN ? p1 - p2 : h;
}

typedef struct ranked {
    double key;
    size_t index;
} ranked;

static int by_key(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Brute force: every candidate, full sort, first k. */
static size_t brute_topk(size_t *idx, double *score, hitl_strategy_kind kind, const float *tab,
                         size_t K, const hitl_pool *p, size_t n, size_t k)
{
    ranked *r = malloc(n * sizeof *r);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        hitl_item_state st;
        EXPECT(hitl_pool_item(NULL, &st, NULL, p, i) == HITL_OK, "item %zu", i);
        if (st != HITL_ITEM_UNLABELED)
            continue;
        double s = brute_score(kind, tab + i * K, K);
        r[m++] = (ranked){ kind == HITL_STRATEGY_MARGIN ? s : -s, i };
    }
    qsort(r, m, sizeof *r, by_key);
    size_t c = m < k ? m : k;
    for (size_t i = 0; i < c; i++) {
        idx[i] = r[i].index;
        score[i] = kind == HITL_STRATEGY_MARGIN ? r[i].key : -r[i].key;
    }
    free(r);
    return c;
}

/* Label or skip about a third of the items. */
static void mark_some(hitl_pool *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double u = urand();
        if (u < 0.2)
            ck_assert_int_eq(hitl_pool_set_label(p, i, 0), HITL_OK);
        else if (u < 0.3)
            ck_assert_int_eq(hitl_pool_set_state(p, i, HITL_ITEM_SKIPPED), HITL_OK);
    }
}

START_TEST(topk_matches_brute_force)
{
    static const hitl_strategy_kind kinds[] = { HITL_STRATEGY_LEAST_CONFIDENT,
                                                HITL_STRATEGY_MARGIN, HITL_STRATEGY_ENTROPY };
    static const size_t ks[] = { 1, 7, 50, 400, 5000 };
    static const size_t blocks[] = { 16, 17, 100, 2048 };
    size_t n = 1000, K = 4;
    float *tab = tie_table(n, K);
    table t = { n, K, tab, 0 };
    hitl_model *m = table_model(&t);
    hitl_pool *p = index_pool(n);
    mark_some(p, n);
    size_t unlabeled;
    ck_assert_int_eq(hitl_pool_count(&unlabeled, p, HITL_ITEM_UNLABELED), HITL_OK);
    size_t *idx = malloc(5000 * sizeof *idx), *bidx = malloc(5000 * sizeof *bidx);
    double *sc = malloc(5000 * sizeof *sc), *bsc = malloc(5000 * sizeof *bsc);
    uint64_t *ids = malloc(5000 * sizeof *ids);
    for (size_t a = 0; a < 3; a++) {
        hitl_strategy *s = make_strategy(kinds[a]);
        /* Entropies of permuted rows are equal in exact arithmetic but are
         * summed in another order, so float and double may rank them either
         * way: for ENTROPY the brute force ranks the library's own scores of
         * every item (each checked against the formula), which still tests
         * the selection exactly. */
        size_t all_count, *all_idx = malloc(n * sizeof *all_idx);
        double *all_sc = malloc(n * sizeof *all_sc);
        ck_assert_int_eq(hitl_query(&all_count, all_idx, NULL, all_sc, s, m, p, n), HITL_OK);
        ck_assert_uint_eq(all_count, unlabeled);
        for (size_t i = 0; i < all_count; i++)
            EXPECT(fabs(all_sc[i] - brute_score(kinds[a], tab + all_idx[i] * K, K)) <= 2e-6,
                   "kind %d item %zu: score %.9g", kinds[a], all_idx[i], all_sc[i]);
        for (size_t b = 0; b < sizeof ks / sizeof *ks; b++) {
            size_t bc = brute_topk(bidx, bsc, kinds[a], tab, K, p, n, ks[b]);
            if (kinds[a] == HITL_STRATEGY_ENTROPY) {
                ranked *r = malloc(all_count * sizeof *r);
                for (size_t i = 0; i < all_count; i++)
                    r[i] = (ranked){ -all_sc[i], all_idx[i] };
                qsort(r, all_count, sizeof *r, by_key);
                for (size_t i = 0; i < bc; i++) {
                    bidx[i] = r[i].index;
                    bsc[i] = -r[i].key;
                }
                free(r);
            }
            ck_assert_uint_eq(bc, ks[b] < unlabeled ? ks[b] : unlabeled);
            for (size_t threads = 1; threads <= 3; threads++)
                for (size_t c = 0; c < sizeof blocks / sizeof *blocks; c++) {
                    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, (double)threads), HITL_OK);
                    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, (double)blocks[c]), HITL_OK);
                    size_t count;
                    ck_assert_int_eq(hitl_query(&count, idx, ids, sc, s, m, p, ks[b]), HITL_OK);
                    ck_assert_uint_eq(count, bc);
                    for (size_t i = 0; i < count; i++) {
                        EXPECT(idx[i] == bidx[i],
                                      "kind %d k %zu threads %zu block %zu: rank %zu is item %zu, brute force %zu",
                                      kinds[a], ks[b], threads, blocks[c], i, idx[i], bidx[i]);
                        EXPECT(ids[i] == 1000 + idx[i], "id of rank %zu", i);
                        EXPECT(fabs(sc[i] - bsc[i]) <= 2e-6, "score of rank %zu: %.9g, brute force %.9g",
                               i, sc[i], bsc[i]);
                    }
                }
        }
        free(all_idx);
        free(all_sc);
        hitl_strategy_free(s);
    }
    free(idx);
    free(bidx);
    free(sc);
    free(bsc);
    free(ids);
    free(tab);
    hitl_pool_free(p);
    hitl_model_free(m);
}
END_TEST

/* Only UNLABELED items; k beyond them; none at all. */
START_TEST(only_unlabeled)
{
    size_t n = 60, K = 3;
    float *tab = tie_table(n, K);
    table t = { n, K, tab, 0 };
    hitl_model *m = table_model(&t);
    hitl_pool *p = index_pool(n);
    for (size_t i = 0; i < n; i++)
        if (i % 3 != 1)
            ck_assert_int_eq(i % 3 ? hitl_pool_set_label(p, i, 2)
                                   : hitl_pool_set_state(p, i, HITL_ITEM_SKIPPED), HITL_OK);
    for (int kind = HITL_STRATEGY_RANDOM; kind <= HITL_STRATEGY_ENTROPY; kind++) {
        hitl_strategy *s = make_strategy((hitl_strategy_kind)kind);
        size_t count = 999, idx[100];
        ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, p, 100), HITL_OK);
        ck_assert_uint_eq(count, n / 3);
        unsigned char seen[60] = { 0 };
        for (size_t i = 0; i < count; i++) {
            ck_assert_uint_eq(idx[i] % 3, 1);
            ck_assert(!seen[idx[i]]++);
        }
        hitl_strategy_free(s);
    }
    for (size_t i = 1; i < n; i += 3)
        ck_assert_int_eq(hitl_pool_set_label(p, i, 0), HITL_OK);
    hitl_strategy *s = make_strategy(HITL_STRATEGY_ENTROPY);
    size_t count = 999;
    ck_assert_int_eq(hitl_query(&count, NULL, NULL, NULL, s, m, p, 5), HITL_OK);
    ck_assert_uint_eq(count, 0);
    hitl_strategy_free(s);
    free(tab);
    hitl_pool_free(p);
    hitl_model_free(m);
}
END_TEST

/* ---- RANDOM --------------------------------------------------------------------------------- */

START_TEST(random_is_seeded_and_uniform)
{
    size_t n = 20000;
    hitl_pool *p = index_pool(n);
    hitl_strategy *s = make_strategy(HITL_STRATEGY_RANDOM);
    size_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), ca, cb;
    double *sa = malloc(n * sizeof *sa), *sb = malloc(n * sizeof *sb);
    ck_assert_int_eq(hitl_query(&ca, a, NULL, sa, s, NULL, p, 100), HITL_OK);
    ck_assert_int_eq(hitl_query(&cb, b, NULL, sb, s, NULL, p, 100), HITL_OK);
    ck_assert_uint_eq(ca, 100);
    ck_assert(memcmp(a, b, 100 * sizeof *a) == 0); /* same seed: same picks */
    for (size_t i = 1; i < ca; i++)
        ck_assert(sa[i - 1] < sa[i] || (sa[i - 1] == sa[i] && a[i - 1] < a[i]));
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_SEED, 12345), HITL_OK);
    ck_assert_int_eq(hitl_query(&cb, b, NULL, sb, s, NULL, p, 100), HITL_OK);
    size_t same = 0;
    for (size_t i = 0; i < 100; i++)
        for (size_t j = 0; j < 100; j++)
            same += a[i] == b[j];
    ck_assert_uint_lt(same, 10); /* another seed: (nearly) other picks */

    /* every key: uniform in [0, 1) by a chi-square test over 20 bins
     * (19 degrees of freedom; 43.8 is the 0.1% critical value) */
    ck_assert_int_eq(hitl_query(&ca, a, NULL, sa, s, NULL, p, n), HITL_OK);
    ck_assert_uint_eq(ca, n);
    double bins[20] = { 0 }, chi = 0;
    for (size_t i = 0; i < n; i++) {
        EXPECT(sa[i] >= 0 && sa[i] < 1, "key %.17g", sa[i]);
        bins[(size_t)(sa[i] * 20)]++;
    }
    for (size_t i = 0; i < 20; i++)
        chi += (bins[i] - n / 20.0) * (bins[i] - n / 20.0) / (n / 20.0);
    ck_assert_msg(chi < 43.8, "chi-square %g over 20 bins", chi);
    /* and the picks are spread over the pool, not clustered by index */
    ck_assert_int_eq(hitl_query(&ca, a, NULL, NULL, s, NULL, p, 1000), HITL_OK);
    size_t low = 0;
    for (size_t i = 0; i < ca; i++)
        low += a[i] < n / 2;
    ck_assert(low > 430 && low < 570);
    /* a model is not needed, and one that is given is not used */
    table t = { 1, 2, (const float[]){ 0.5f, 0.5f }, 5 };
    hitl_model *m = table_model(&t);
    ck_assert_int_eq(hitl_query(&cb, b, NULL, NULL, s, m, p, 1000), HITL_OK);
    ck_assert(memcmp(a, b, 1000 * sizeof *a) == 0);
    hitl_model_free(m);
    free(a);
    free(b);
    free(sa);
    free(sb);
    hitl_strategy_free(s);
    hitl_pool_free(p);
}
END_TEST

/* ---- parameters and errors ----------------------------------------------------------------- */

START_TEST(create_and_params)
{
    hitl_strategy *s = NULL;
    ck_assert_int_eq(hitl_strategy_create(NULL, HITL_STRATEGY_RANDOM), HITL_EINVAL);
    ck_assert_int_eq(hitl_strategy_create(&s, (hitl_strategy_kind)0), HITL_EINVAL);
    ck_assert_int_eq(hitl_strategy_create(&s, (hitl_strategy_kind)99), HITL_EINVAL);
    ck_assert_ptr_null(s);
    hitl_strategy_free(NULL);
    s = make_strategy(HITL_STRATEGY_MARGIN);
    double v = -1;
    ck_assert_int_eq(hitl_strategy_get_param(&v, s, HITL_PARAM_SEED), HITL_OK);
    ck_assert_double_eq(v, 0);
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_SEED, 9007199254740992.0), HITL_OK);
    ck_assert_int_eq(hitl_strategy_get_param(&v, s, HITL_PARAM_SEED), HITL_OK);
    ck_assert_double_eq(v, 9007199254740992.0);
    static const double bad[] = { -1, 1.5, 9007199254740994.0, NAN, INFINITY };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_SEED, bad[i]), HITL_EINVAL);
        ck_assert_msg(strstr(hitl_error_message(), "SEED") != NULL, "%s", hitl_error_message());
    }
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_L2, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_strategy_get_param(&v, s, HITL_PARAM_THREADS), HITL_EINVAL);
    ck_assert_int_eq(hitl_strategy_set_param(NULL, HITL_PARAM_SEED, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_strategy_get_param(NULL, s, HITL_PARAM_SEED), HITL_EINVAL);
    ck_assert_int_eq(hitl_strategy_get_param(&v, NULL, HITL_PARAM_SEED), HITL_EINVAL);
    ck_assert_int_eq(hitl_strategy_get_param(&v, s, HITL_PARAM_SEED), HITL_OK);
    ck_assert_double_eq(v, 9007199254740992.0); /* unchanged by the failures */
    hitl_strategy_free(s);
}
END_TEST

static int fit_noop(void *user, const float *X, size_t n, size_t dim, const int32_t *y,
                    const float *w)
{
    (void)user, (void)X, (void)n, (void)dim, (void)y, (void)w;
    return 0;
}

/* Every error of hitl_query: nothing written, the strategy still works. */
START_TEST(query_errors)
{
    size_t n = 40, K = 3;
    float *tab = tie_table(n, K);
    table t = { n, K, tab, 0 };
    hitl_model *m = table_model(&t), *unfit, *wide;
    ck_assert_int_eq(hitl_model_create_custom(&unfit, DIM, K, fit_noop, table_predict, &t), HITL_OK);
    ck_assert_int_eq(hitl_model_create_custom(&wide, DIM + 1, K, NULL, table_predict, &t), HITL_OK);
    hitl_pool *p = index_pool(n);
    hitl_strategy *s = make_strategy(HITL_STRATEGY_ENTROPY);
    size_t count = 77, idx[5] = { 88, 88, 88, 88, 88 }, good[5], good_count;
    ck_assert_int_eq(hitl_query(&good_count, good, NULL, NULL, s, m, p, 5), HITL_OK);

    ck_assert_int_eq(hitl_query(NULL, idx, NULL, NULL, s, m, p, 5), HITL_EINVAL);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, NULL, m, p, 5), HITL_EINVAL);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, NULL, 5), HITL_EINVAL);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, p, 0), HITL_EINVAL);
    ck_assert_msg(strstr(hitl_error_message(), "k is 0") != NULL, "%s", hitl_error_message());
    /* with an item labeled the model is needed (with none, a cold start) */
    ck_assert_int_eq(hitl_pool_set_label(p, 39, 0), HITL_OK);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, NULL, p, 5), HITL_EINVAL);
    ck_assert_msg(strstr(hitl_error_message(), "model") != NULL, "%s", hitl_error_message());
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, wide, p, 5), HITL_EINVAL);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, unfit, p, 5), HITL_ESTATE);
    ck_assert_int_eq(hitl_pool_set_state(p, 39, HITL_ITEM_UNLABELED), HITL_OK);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, wide, p, 5), HITL_EINVAL);
    t.fail = -3;
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, p, 5), HITL_ECALLBACK);
    ck_assert_msg(strstr(hitl_error_message(), "hitl_query: predict callback returned -3") != NULL,
                  "%s", hitl_error_message());
    t.fail = 0;
    tab[7 * K + 1] = NAN; /* an invalid probability from the callback */
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, p, 5), HITL_ECALLBACK);
    ck_assert_msg(strstr(hitl_error_message(), "row 7 class 1") != NULL, "%s", hitl_error_message());
    tab[7 * K + 1] = tab[7 * K + 2];
    ck_assert_uint_eq(count, 77);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(idx[i], 88);
    /* RANDOM needs no model, so NULL is fine there */
    hitl_strategy *r = make_strategy(HITL_STRATEGY_RANDOM);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, r, NULL, p, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, r, NULL, p, 5), HITL_OK);
    hitl_strategy_free(r);
    /* the strategy still gives the same answer */
    tab[7 * K + 1] = tab[7 * K + 2] = 0; /* row 7 changed: use a fresh comparison */
    tab[7 * K] = 1;
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, p, 5), HITL_OK);
    ck_assert_uint_eq(count, good_count);
    hitl_strategy_free(s);
    hitl_pool_free(p);
    hitl_model_free(m);
    hitl_model_free(unfit);
    hitl_model_free(wide);
    free(tab);
}
END_TEST

/* ---- the built-in model ---------------------------------------------------------------------- */

/* Entropy with a fitted logistic regression equals the brute force over
 * hitl_model_predict_pool's probabilities, for several thread counts. */
START_TEST(logreg_entropy_query)
{
    size_t n = 3000, d = 5, K = 3;
    hitl_pool *p;
    ck_assert_int_eq(hitl_pool_create(&p, d), HITL_OK);
    float *X = malloc(n * d * sizeof *X);
    for (size_t i = 0; i < n * d; i++)
        X[i] = (float)(urand() * 4 - 2) + (i / d % K == i % d ? 1.0f : 0.0f);
    ck_assert_int_eq(hitl_pool_add_borrowed(p, X, n, d, NULL), HITL_OK);
    for (size_t i = 0; i < 90; i++)
        ck_assert_int_eq(hitl_pool_set_label(p, i, (int32_t)(i % K)), HITL_OK);
    hitl_model *m;
    ck_assert_int_eq(hitl_model_create_logreg(&m, d, K), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    float *P = malloc(n * K * sizeof *P);
    ck_assert_int_eq(hitl_model_predict_pool(P, m, p, 0, n), HITL_OK);
    hitl_strategy *s = make_strategy(HITL_STRATEGY_ENTROPY);
    size_t idx[50], count;
    double sc[50];
    for (size_t threads = 1; threads <= 3; threads++) {
        ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, (double)threads), HITL_OK);
        ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 100), HITL_OK);
        ck_assert_int_eq(hitl_query(&count, idx, NULL, sc, s, m, p, 50), HITL_OK);
        ck_assert_uint_eq(count, 50);
        double worst_taken = INFINITY, best_left = -INFINITY;
        unsigned char *taken = calloc(n, 1);
        for (size_t i = 0; i < count; i++) {
            ck_assert_uint_ge(idx[i], 90);
            double h = brute_score(HITL_STRATEGY_ENTROPY, P + idx[i] * K, K);
            ck_assert_double_eq_tol(sc[i], h, 2e-6);
            ck_assert(i == 0 || sc[i] <= sc[i - 1]);
            worst_taken = fmin(worst_taken, h);
            taken[idx[i]] = 1;
        }
        for (size_t i = 90; i < n; i++)
            if (!taken[i])
                best_left = fmax(best_left, brute_score(HITL_STRATEGY_ENTROPY, P + i * K, K));
        ck_assert_double_le(best_left, worst_taken + 4e-6);
        free(taken);
    }
    hitl_strategy_free(s);
    hitl_model_free(m);
    free(P);
    free(X);
    hitl_pool_free(p);
}
END_TEST

/* ---- memory --------------------------------------------------------------------------------- */

/* An allocator that tracks the bytes outstanding and their peak. */
static size_t live_bytes, peak_bytes;
static void *track_malloc(void *u, size_t s)
{
    (void)u;
    size_t *p = malloc(s + 16);
    if (!p)
        return NULL;
    *p = s;
    live_bytes += s;
    if (live_bytes > peak_bytes)
        peak_bytes = live_bytes;
    return (char *)p + 16;
}
static void track_free(void *u, void *q)
{
    (void)u;
    if (!q)
        return;
    size_t *p = (size_t *)((char *)q - 16);
    live_bytes -= *p;
    free(p);
}
static void *track_realloc(void *u, void *q, size_t s)
{
    void *r = track_malloc(u, s);
    if (r && q) {
        size_t old = *(size_t *)((char *)q - 16);
        memcpy(r, q, old < s ? old : s);
        track_free(u, q);
    }
    return r;
}

/* The query streams: what it allocates is O(threads * block * K + k), far
 * below the N x K probabilities of the whole pool. */
START_TEST(query_memory_is_bounded)
{
    ck_assert_int_eq(hitl_set_allocator(track_malloc, track_realloc, track_free, NULL), HITL_OK);
    size_t n = 200000, K = 10;
    float *tab = malloc(n * K * sizeof *tab);
    for (size_t i = 0; i < n * K; i++)
        tab[i] = (float)urand() + 0.01f;
    table t = { n, K, tab, 0 };
    hitl_model *m = table_model(&t);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 1024), HITL_OK);
    hitl_pool *p = index_pool(n);
    hitl_strategy *s = make_strategy(HITL_STRATEGY_ENTROPY);
    size_t idx[100], count;
    size_t base = live_bytes;
    peak_bytes = live_bytes;
    ck_assert_int_eq(hitl_query(&count, idx, NULL, NULL, s, m, p, 100), HITL_OK);
    size_t extra = peak_bytes - base;
    ck_assert_msg(extra < 2 * 4 * 1024 * K * sizeof(float) + 64 * 1024,
                  "the query allocated %zu bytes at its peak", extra);
    ck_assert_uint_lt(extra, n * K * sizeof(float) / 10);
    ck_assert_uint_eq(live_bytes, base); /* and gave it all back */
    hitl_strategy_free(s);
    hitl_pool_free(p);
    hitl_model_free(m);
    free(tab);
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_OK);
}
END_TEST

START_TEST(out_of_memory)
{
    oom_install();
    /* create */
    hitl_strategy *s = NULL;
    int st = HITL_ENOMEM;
    for (long fail = 0; st == HITL_ENOMEM; fail++) {
        oom_arm(fail);
        st = hitl_strategy_create(&s, HITL_STRATEGY_MARGIN);
        oom_arm(-1);
        if (st == HITL_ENOMEM)
            ck_assert_ptr_null(s);
    }
    ck_assert_int_eq(st, HITL_OK);
    hitl_strategy_free(s);
    /* query, scored and random */
    size_t n = 300, K = 5;
    float *tab = tie_table(n, K);
    table t = { n, K, tab, 0 };
    hitl_model *m = table_model(&t);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 32), HITL_OK);
    hitl_pool *p = index_pool(n);
    for (int kind = HITL_STRATEGY_RANDOM; kind <= HITL_STRATEGY_ENTROPY; kind++) {
        s = make_strategy((hitl_strategy_kind)kind);
        size_t ref[20], got[20], count, ref_count;
        ck_assert_int_eq(hitl_query(&ref_count, ref, NULL, NULL, s, m, p, 20), HITL_OK);
        st = HITL_ENOMEM;
        long fail = 0;
        for (; st == HITL_ENOMEM; fail++) {
            count = 12345;
            oom_arm(fail);
            st = hitl_query(&count, got, NULL, NULL, s, m, p, 20);
            oom_arm(-1);
            if (st == HITL_ENOMEM)
                ck_assert_uint_eq(count, 12345);
        }
        ck_assert_int_eq(st, HITL_OK);
        ck_assert_uint_eq(count, ref_count);
        ck_assert(memcmp(got, ref, count * sizeof *got) == 0);
        hitl_strategy_free(s);
    }
    hitl_pool_free(p);
    hitl_model_free(m);
    free(tab);
    oom_uninstall();
}
END_TEST

/* Nothing labeled and no model that can score: every uncertainty kind gives
 * the cold-start batch the diversity kinds give (same seed, same rule), and
 * so does a committee that is not fitted yet. */
START_TEST(cold_start_everywhere)
{
    size_t n = 200, K = 3;
    hitl_pool *p = index_pool(n);
    hitl_model *unfit;
    ck_assert_int_eq(hitl_model_create_logreg(&unfit, DIM, K), HITL_OK);
    hitl_committee *c;
    ck_assert_int_eq(hitl_committee_create(&c, DIM, K), HITL_OK);
    ck_assert_int_eq(hitl_committee_add_logreg(c, 1), HITL_OK);
    for (int rule = HITL_COLD_START_RANDOM; rule <= HITL_COLD_START_KMEANSPP; rule++) {
        hitl_strategy *ref = make_strategy(HITL_STRATEGY_KCENTER);
        ck_assert_int_eq(hitl_strategy_set_param(ref, HITL_PARAM_SEED, 5), HITL_OK);
        ck_assert_int_eq(hitl_strategy_set_param(ref, HITL_PARAM_COLD_START, rule), HITL_OK);
        size_t want_n, want[8];
        double want_s[8];
        ck_assert_int_eq(hitl_query(&want_n, want, NULL, want_s, ref, NULL, p, 8), HITL_OK);
        ck_assert_uint_eq(want_n, 8);
        static const hitl_strategy_kind kinds[] = {
            HITL_STRATEGY_LEAST_CONFIDENT, HITL_STRATEGY_MARGIN, HITL_STRATEGY_ENTROPY,
            HITL_STRATEGY_QBC_VOTE_ENTROPY, HITL_STRATEGY_QBC_BALD };
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
            hitl_strategy *s = make_strategy(kinds[k]);
            ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_SEED, 5), HITL_OK);
            ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_COLD_START, rule), HITL_OK);
            size_t got_n = 0, got[8];
            double got_s[8];
            int is_qbc = kinds[k] >= HITL_STRATEGY_QBC_VOTE_ENTROPY;
            if (!is_qbc) {
                ck_assert_int_eq(hitl_query(&got_n, got, NULL, got_s, s, unfit, p, 8), HITL_OK);
                ck_assert_uint_eq(got_n, 8);
                ck_assert_mem_eq(got, want, sizeof want);
                ck_assert_mem_eq(got_s, want_s, sizeof want_s);
                ck_assert_int_eq(hitl_query(&got_n, got, NULL, got_s, s, NULL, p, 8), HITL_OK);
                ck_assert_mem_eq(got, want, sizeof want);
            }
            ck_assert_int_eq(hitl_query_committee(&got_n, got, NULL, got_s, s, c, p, 8),
                             HITL_OK);
            ck_assert_uint_eq(got_n, 8);
            ck_assert_mem_eq(got, want, sizeof want);
            hitl_strategy_free(s);
        }
        hitl_strategy_free(ref);
    }
    hitl_committee_free(c);
    hitl_model_free(unfit);
    hitl_pool_free(p);
}
END_TEST

static Suite *strategy_suite(void)
{
    Suite *s = suite_create("strategy");
    TCase *t = tcase_create("scores");
    tcase_add_test(t, least_confident_by_hand);
    tcase_add_test(t, margin_by_hand);
    tcase_add_test(t, entropy_by_hand);
    suite_add_tcase(s, t);
    t = tcase_create("selection");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, topk_matches_brute_force);
    tcase_add_test(t, only_unlabeled);
    tcase_add_test(t, random_is_seeded_and_uniform);
    tcase_add_test(t, logreg_entropy_query);
    suite_add_tcase(s, t);
    t = tcase_create("errors");
    tcase_add_test(t, create_and_params);
    tcase_add_test(t, query_errors);
    tcase_add_test(t, cold_start_everywhere);
    suite_add_tcase(s, t);
    t = tcase_create("memory");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, query_memory_is_bounded);
    tcase_add_test(t, out_of_memory);
    suite_add_tcase(s, t);
    return s;
}

HITL_TEST_MAIN(strategy_suite)
