/* Aggregation: reliability-weighted vote from gold, Dawid-Skene on simulated
 * annotators of known quality (recovers their confusion matrices, beats
 * majority vote), tie rules, consensus by posterior, the pool's weights;
 * one coin and the prior against their formulas, the recommended
 * aggregation against the vote. */
#include "testutil.h"
#include "internal.h"   /* pool->weight: the pool has no public weight getter */

#include <math.h>
#include <stdio.h>
#include <string.h>

static hitl_pool *make_pool(size_t n)
{
    hitl_pool *pool;
    ck_assert_int_eq(hitl_pool_create(&pool, 1), HITL_OK);
    float *rows = calloc(n, sizeof *rows);
    ck_assert_int_eq(hitl_pool_add(pool, rows, n, 1, NULL), HITL_OK);
    free(rows);
    return pool;
}

static double info(const hitl_feedback *fb, uint64_t a, hitl_annotator_info i)
{
    double v;
    ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, a, i), HITL_OK);
    return v;
}

/* Weighted vote: one annotator right on every gold item outvotes two that
 * are always wrong on gold; majority vote sides with the two. */
START_TEST(weighted_uses_gold)
{
    hitl_pool *pool = make_pool(30);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    for (uint64_t i = 0; i < 10; i++) {
        ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, i, 1, 0, 0), HITL_OK);
        ck_assert_int_eq(hitl_feedback_label(fb, i, 1, 1), HITL_OK);
        ck_assert_int_eq(hitl_feedback_label(fb, i, 2, 0), HITL_OK);
        ck_assert_int_eq(hitl_feedback_label(fb, i, 3, 2), HITL_OK);
    }
    ck_assert_int_eq(hitl_feedback_label(fb, 20, 1, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 20, 2, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 20, 3, 0), HITL_OK);
    expect_status(fb, 20, HITL_CONSENSUS_RESOLVED, 0);
    ck_assert_double_eq(info(fb, 1, HITL_ANNOTATOR_GOLD_ACCURACY), 1);
    ck_assert_double_eq(info(fb, 2, HITL_ANNOTATOR_GOLD_ACCURACY), 0);
    ck_assert_double_eq_tol(info(fb, 1, HITL_ANNOTATOR_WEIGHT), 11.0 / 12, 1e-15);
    ck_assert_double_eq_tol(info(fb, 3, HITL_ANNOTATOR_WEIGHT), 1.0 / 12, 1e-15);

    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_WEIGHTED), HITL_OK);
    double conf;
    int32_t lab;
    ck_assert_int_eq(hitl_feedback_item(NULL, &lab, &conf, NULL, NULL, fb, 20), HITL_OK);
    ck_assert_int_eq(lab, 2);
    ck_assert_double_eq_tol(conf, (11.0 / 12) / (13.0 / 12), 1e-12);
    size_t index;
    ck_assert_int_eq(hitl_pool_find(&index, pool, 20), HITL_OK);
    ck_assert_float_eq_tol(pool->weight[index], (float)(11.0 / 13), 1e-6f);
    /* gold items keep their gold label, weight 1 */
    expect_status(fb, 3, HITL_CONSENSUS_GOLD, 1);
    ck_assert_float_eq(pool->weight[3], 1.0f);

    /* a new item answered by the two bad annotators and the good one */
    ck_assert_int_eq(hitl_feedback_label(fb, 21, 2, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 21, 3, 0), HITL_OK);
    expect_status(fb, 21, HITL_CONSENSUS_RESOLVED, 0);
    ck_assert_int_eq(hitl_feedback_label(fb, 21, 1, 1), HITL_OK);
    expect_status(fb, 21, HITL_CONSENSUS_RESOLVED, 1);

    /* equal weights tie: the earlier current answer wins */
    ck_assert_int_eq(hitl_feedback_label(fb, 25, 7, 4), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 25, 8, 3), HITL_OK);
    expect_status(fb, 25, HITL_CONSENSUS_RESOLVED, 4);
    ck_assert_int_eq(hitl_feedback_label(fb, 26, 8, 3), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 26, 7, 4), HITL_OK);
    expect_status(fb, 26, HITL_CONSENSUS_RESOLVED, 3);
    ck_assert_double_eq(info(fb, 7, HITL_ANNOTATOR_WEIGHT), 0.5);

    /* weights follow gold as it arrives; aggregate() re-reads every item */
    for (uint64_t i = 10; i < 13; i++) {
        ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, i, 4, 0, 0), HITL_OK);
        ck_assert_int_eq(hitl_feedback_label(fb, i, 7, 4), HITL_OK);
        ck_assert_int_eq(hitl_feedback_label(fb, i, 8, 0), HITL_OK);
    }
    ck_assert_double_eq(info(fb, 7, HITL_ANNOTATOR_WEIGHT), 0.8);
    ck_assert_double_eq(info(fb, 8, HITL_ANNOTATOR_WEIGHT), 0.2);
    expect_status(fb, 26, HITL_CONSENSUS_RESOLVED, 3);   /* not re-read yet */
    ck_assert_int_eq(hitl_feedback_aggregate(fb), HITL_OK);
    expect_status(fb, 26, HITL_CONSENSUS_RESOLVED, 4);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* ---- simulated annotators ------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
static double uniform(void)
{
    return (double)(next_u64() >> 11) / 9007199254740992.0;
}
static int draw(const double *p, int K)
{
    double u = uniform(), c = 0;
    for (int k = 0; k < K - 1; k++)
        if (u < (c += p[k]))
            return k;
    return K - 1;
}

#define K 3
#define N_ITEMS 4000
#define N_ANNOT 5
#define PER_ITEM 3

/* theta[a][true][answer]: a good one, a fair one, a biased one, a spammer
 * who mostly says 0 whatever the truth, and a noisy one. */
static const double theta[N_ANNOT][K][K] = {
    {{0.90, 0.05, 0.05}, {0.05, 0.90, 0.05}, {0.05, 0.05, 0.90}},
    {{0.80, 0.10, 0.10}, {0.10, 0.80, 0.10}, {0.10, 0.10, 0.80}},
    {{0.70, 0.20, 0.10}, {0.40, 0.50, 0.10}, {0.30, 0.10, 0.60}},
    {{0.80, 0.10, 0.10}, {0.80, 0.10, 0.10}, {0.80, 0.10, 0.10}},
    {{0.55, 0.25, 0.20}, {0.20, 0.55, 0.25}, {0.25, 0.20, 0.55}},
};
static const double prior[K] = {0.5, 0.3, 0.2};

typedef struct sim {
    int truth[N_ITEMS];
    double counts[N_ANNOT][K][K];   /* empirical confusion */
} sim;

static void simulate(hitl_feedback *fb, sim *s)
{
    rng_state = 20240611;
    memset(s->counts, 0, sizeof s->counts);
    for (uint64_t i = 0; i < N_ITEMS; i++) {
        int z = draw(prior, K);
        s->truth[i] = z;
        int used[N_ANNOT] = {0};
        for (int r = 0; r < PER_ITEM; r++) {
            int a;
            do
                a = (int)(next_u64() % N_ANNOT);
            while (used[a]);
            used[a] = 1;
            int l = draw(theta[a][z], K);
            s->counts[a][z][l]++;
            ck_assert_int_eq(hitl_feedback_label(fb, i, (uint64_t)a + 100, l), HITL_OK);
        }
    }
}

static double accuracy(const hitl_feedback *fb, const sim *s)
{
    size_t right = 0;
    for (uint64_t i = 0; i < N_ITEMS; i++) {
        int32_t lab;
        ck_assert_int_eq(hitl_feedback_item(NULL, &lab, NULL, NULL, NULL, fb, i),
                         HITL_OK);
        right += lab == s->truth[i];
    }
    return (double)right / N_ITEMS;
}

START_TEST(dawid_skene_recovers_annotators)
{
    hitl_pool *pool = make_pool(N_ITEMS + 10);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    static sim s;
    simulate(fb, &s);
    double mv = accuracy(fb, &s);

    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_DAWID_SKENE), HITL_OK);
    double ds = accuracy(fb, &s), v;
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_EM_CLASSES), HITL_OK);
    ck_assert_double_eq(v, K);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_EM_CONVERGED), HITL_OK);
    ck_assert_double_eq(v, 1);
    double iters, obj;
    ck_assert_int_eq(hitl_feedback_get_info(&iters, fb, HITL_FEEDBACK_EM_ITERATIONS),
                     HITL_OK);
    ck_assert_int_eq(hitl_feedback_get_info(&obj, fb, HITL_FEEDBACK_EM_OBJECTIVE),
                     HITL_OK);
    ck_assert(iters >= 2 && iters < 100 && isfinite(obj) && obj < 0);

    /* every confusion matrix within 0.05 of the empirical one, and every
       estimated accuracy within 0.03 of the true share of right answers */
    double worst = 0;
    for (int a = 0; a < N_ANNOT; a++) {
        double m[K * K];
        ck_assert_int_eq(hitl_feedback_confusion(m, fb, (uint64_t)a + 100, K), HITL_OK);
        double right = 0, total = 0;
        for (int z = 0; z < K; z++) {
            double row = 0, sum = 0;
            for (int l = 0; l < K; l++) {
                row += s.counts[a][z][l];
                sum += m[z * K + l];
            }
            ck_assert_double_eq_tol(sum, 1, 1e-12);
            for (int l = 0; l < K; l++) {
                double err = fabs(m[z * K + l] - s.counts[a][z][l] / row);
                worst = err > worst ? err : worst;
            }
            right += s.counts[a][z][z];
            total += row;
        }
        double est = info(fb, (uint64_t)a + 100, HITL_ANNOTATOR_DS_ACCURACY);
        ck_assert_msg(fabs(est - right / total) < 0.03,
                      "annotator %d: estimated accuracy %.3f, true %.3f", a, est,
                      right / total);
    }
    ck_assert_msg(worst < 0.05, "confusion matrices off by %.3f", worst);
    printf("dawid-skene: majority vote %.4f, Dawid-Skene %.4f, %g EM "
           "iterations, worst confusion error %.4f\n", mv, ds, iters, worst);
    ck_assert_msg(ds > mv + 0.02, "Dawid-Skene %.4f vs majority %.4f", ds, mv);

    /* the pool carries the posterior as the weight */
    for (uint64_t i = 0; i < N_ITEMS; i += 37) {
        hitl_consensus st;
        int32_t lab, plab;
        double conf;
        ck_assert_int_eq(hitl_feedback_item(&st, &lab, &conf, NULL, NULL, fb, i),
                         HITL_OK);
        ck_assert_int_eq(st, HITL_CONSENSUS_RESOLVED);
        ck_assert_int_eq(hitl_pool_item(NULL, NULL, &plab, pool, i), HITL_OK);
        ck_assert_int_eq(plab, lab);
        ck_assert_float_eq(pool->weight[i], (float)conf);
        ck_assert(conf > 1.0 / K && conf <= 1);
    }

    /* consensus by posterior: uncertain items wait for another annotator */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_MIN_CONFIDENCE, 0.95),
                     HITL_OK);
    size_t pending;
    ck_assert_int_eq(hitl_feedback_pending(&pending, NULL, 0, fb), HITL_OK);
    ck_assert(pending > 0 && pending < N_ITEMS);
    size_t unlabeled;
    ck_assert_int_eq(hitl_pool_count(&unlabeled, pool, HITL_ITEM_UNLABELED), HITL_OK);
    ck_assert_uint_eq(unlabeled, pending + 10);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_MIN_CONFIDENCE, 0), HITL_OK);

    /* after the fit: a newcomer counts as the average annotator; a class the
       fit has not seen falls back to majority vote until the next fit */
    ck_assert_int_eq(hitl_feedback_label(fb, N_ITEMS, 999, 0), HITL_OK);
    double conf;
    int32_t lab;
    ck_assert_int_eq(hitl_feedback_item(NULL, &lab, &conf, NULL, NULL, fb, N_ITEMS),
                     HITL_OK);
    ck_assert_int_eq(lab, 0);
    ck_assert(conf > 0.5 && conf < 1);
    ck_assert(isnan(info(fb, 999, HITL_ANNOTATOR_DS_ACCURACY)));
    double m[K * K];
    ck_assert_int_eq(hitl_feedback_confusion(m, fb, 999, K), HITL_ESTATE);
    ck_assert_int_eq(hitl_feedback_confusion(m, fb, 100, K + 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_label(fb, N_ITEMS + 1, 100, 5), HITL_OK);
    ck_assert_int_eq(hitl_feedback_item(NULL, &lab, &conf, NULL, NULL, fb, N_ITEMS + 1),
                     HITL_OK);
    ck_assert_int_eq(lab, 5);
    ck_assert_double_eq(conf, 1);
    ck_assert_int_eq(hitl_feedback_aggregate(fb), HITL_OK);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_EM_CLASSES), HITL_OK);
    ck_assert_double_eq(v, 6);
    ck_assert(!isnan(info(fb, 999, HITL_ANNOTATOR_DS_ACCURACY)));

    /* a fixed class count refits; EM_MAX_ITER bounds the iterations */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_EM_MAX_ITER, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_N_CLASSES, 7), HITL_OK);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_EM_CLASSES), HITL_OK);
    ck_assert_double_eq(v, 7);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_EM_ITERATIONS), HITL_OK);
    ck_assert_double_eq(v, 1);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_EM_CONVERGED), HITL_OK);
    ck_assert_double_eq(v, 0);
    double m7[49];
    ck_assert_int_eq(hitl_feedback_confusion(m7, fb, 100, 7), HITL_OK);

    /* back to majority: the earlier figure again */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_MAJORITY), HITL_OK);
    ck_assert_double_eq(accuracy(fb, &s), mv);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Gold items are fixed to their class in the fit and in the pool. */
START_TEST(dawid_skene_with_gold)
{
    hitl_pool *pool = make_pool(N_ITEMS + 10);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    static sim s;
    simulate(fb, &s);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_DAWID_SKENE), HITL_OK);
    double without = accuracy(fb, &s);
    for (uint64_t i = 0; i < 400; i++)
        ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, i, s.truth[i], 0, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_aggregate(fb), HITL_OK);
    for (uint64_t i = 0; i < 400; i++)
        expect_status(fb, i, HITL_CONSENSUS_GOLD, s.truth[i]);
    /* 10% of the items known: those are right, and the rest no worse */
    double with = accuracy(fb, &s);
    ck_assert_msg(with > without + 0.01, "with gold %.4f, without %.4f", with,
                  without);
    /* the spammer is found out on gold too */
    ck_assert(info(fb, 103, HITL_ANNOTATOR_GOLD_ACCURACY) < 0.6);
    ck_assert(info(fb, 100, HITL_ANNOTATOR_GOLD_ACCURACY) > 0.85);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* An empty handle aggregates to nothing without failing. */
START_TEST(empty_fit)
{
    hitl_pool *pool = make_pool(3);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_DAWID_SKENE), HITL_OK);
    double v;
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_EM_CLASSES), HITL_OK);
    ck_assert_double_eq(v, 2);
    /* skips only, then a label: the fit is redone on aggregate */
    ck_assert_int_eq(hitl_feedback_skip(fb, 0, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1, 1, 1), HITL_OK);
    expect_status(fb, 1, HITL_CONSENSUS_RESOLVED, 1);
    ck_assert_int_eq(hitl_feedback_aggregate(fb), HITL_OK);
    expect_status(fb, 1, HITL_CONSENSUS_RESOLVED, 1);
    expect_status(fb, 0, HITL_CONSENSUS_NONE, -1);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* A stray label of 65535 must not make Dawid-Skene infer 65536 classes
 * (O(annotators K^2) memory, tens of GiB): refused with a message that says
 * to set N_CLASSES, the method and the items left as they were. */
START_TEST(dawid_skene_stray_label)
{
    hitl_pool *pool = make_pool(3);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 0, 1, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 0, 2, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1, 1, 65535), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_DAWID_SKENE), HITL_ESTATE);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "HITL_PARAM_N_CLASSES"));
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "65536 classes"));
    double v;
    ck_assert_int_eq(hitl_feedback_get_param(&v, fb, HITL_PARAM_AGGREGATION), HITL_OK);
    ck_assert_double_eq(v, HITL_AGGREGATE_RECOMMENDED);   /* the default */
    expect_status(fb, 0, HITL_CONSENSUS_RESOLVED, 1);
    /* within the cap, inferred K is fine */
    hitl_feedback *small;
    ck_assert_int_eq(hitl_feedback_create(&small, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(small, 2, 1, 1023), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(small, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_DAWID_SKENE), HITL_OK);
    ck_assert_int_eq(hitl_feedback_get_info(&v, small, HITL_FEEDBACK_EM_CLASSES), HITL_OK);
    ck_assert_double_eq(v, 1024);
    ck_assert_int_eq(hitl_feedback_label(small, 2, 2, 1024), HITL_OK);
    ck_assert_int_eq(hitl_feedback_aggregate(small), HITL_ESTATE);
    hitl_feedback_free(small);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* ---- annotator drift --------------------------------------------------------- */

static uint64_t drift_rng;
static double drift_unit(void)
{
    return (double)(test_splitmix(&drift_rng) >> 11) * 0x1.0p-53;
}

/* Right with probability p, else another of NCLS classes. */
static int32_t answer_with(int32_t truth, double p, int n_cls)
{
    if (drift_unit() < p)
        return truth;
    return (truth + 1 + (int32_t)(drift_unit() * (n_cls - 1))) % n_cls;
}

/* One annotator of three gets careless after 300 of their 400 answers: only
 * they are flagged, with the window's agreement far below the earlier. */
START_TEST(drift_flags_a_careless_annotator)
{
    enum { N = 400, NCLS = 4 };
    drift_rng = 42;
    hitl_pool *pool = make_pool(N);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    for (uint64_t i = 0; i < N; i++) {
        int32_t truth = (int32_t)(i % NCLS);
        ck_assert_int_eq(hitl_feedback_label(fb, i, 1, answer_with(truth, 0.95, NCLS)), HITL_OK);
        ck_assert_int_eq(hitl_feedback_label(fb, i, 2, answer_with(truth, 0.95, NCLS)), HITL_OK);
        ck_assert_int_eq(hitl_feedback_label(fb, i, 3,
                                             answer_with(truth, i < 300 ? 0.95 : 0.4, NCLS)),
                         HITL_OK);
    }
    ck_assert_double_eq(info(fb, 1, HITL_ANNOTATOR_DRIFT), 0);
    ck_assert_double_eq(info(fb, 2, HITL_ANNOTATOR_DRIFT), 0);
    ck_assert_double_eq(info(fb, 3, HITL_ANNOTATOR_DRIFT), 1);
    double before = info(fb, 3, HITL_ANNOTATOR_DRIFT_BEFORE);
    double after = info(fb, 3, HITL_ANNOTATOR_DRIFT_AFTER);
    ck_assert_msg(before > 0.8 && after < 0.6, "before %g after %g", before, after);
    ck_assert(info(fb, 3, HITL_ANNOTATOR_DRIFT_Z) > 2.33);
    /* the window's first answer: the event of annotator 3 on item 350 (three
       events per item, annotator 3's the third) */
    ck_assert_double_eq(info(fb, 3, HITL_ANNOTATOR_DRIFT_AT), 350 * 3 + 2);
    /* a window as long as all of it: too few answers */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DRIFT_WINDOW, 201), HITL_OK);
    ck_assert(isnan(info(fb, 3, HITL_ANNOTATOR_DRIFT)));
    ck_assert(isnan(info(fb, 3, HITL_ANNOTATOR_DRIFT_AFTER)));
    /* parameters */
    double v;
    ck_assert_int_eq(hitl_feedback_get_param(&v, fb, HITL_PARAM_DRIFT_WINDOW), HITL_OK);
    ck_assert_double_eq(v, 201);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DRIFT_WINDOW, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DRIFT_WINDOW, 2.5), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DRIFT_ALPHA, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DRIFT_ALPHA, 0.6), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_get_param(&v, fb, HITL_PARAM_DRIFT_ALPHA), HITL_OK);
    ck_assert_double_eq(v, 0.01);
    ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, 3, (hitl_annotator_info)14),
                     HITL_EINVAL);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Stable annotators (right 80% of the time, against gold) are flagged by a
 * check about as often as HITL_PARAM_DRIFT_ALPHA says: 400 of them at 0.05. */
START_TEST(drift_false_alarm_rate)
{
    enum { N = 120, A = 400, NCLS = 3 };
    drift_rng = 7;
    hitl_pool *pool = make_pool(N);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DRIFT_WINDOW, 30), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DRIFT_ALPHA, 0.05), HITL_OK);
    uint64_t id;
    for (uint64_t i = 0; i < N; i++)
        ck_assert_int_eq(hitl_feedback_set_gold(&id, fb, i, (int32_t)(i % NCLS), 0,
                                                HITL_TIME_NOW), HITL_OK);
    for (uint64_t a = 1; a <= A; a++)
        for (uint64_t i = 0; i < N; i++)
            ck_assert_int_eq(hitl_feedback_label(fb, i, a,
                                                 answer_with((int32_t)(i % NCLS), 0.8, NCLS)),
                             HITL_OK);
    size_t flagged = 0;
    for (uint64_t a = 1; a <= A; a++)
        flagged += info(fb, a, HITL_ANNOTATOR_DRIFT) == 1;
    ck_assert_msg(flagged >= 4 && flagged <= 40, "%zu of %d flagged at alpha 0.05",
                  flagged, A);
    printf("drift: %zu of %d stable annotators flagged at alpha 0.05\n", flagged, (int)A);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST


/* ---- one coin, the prior, the recommended aggregation ---------------------------- */

static double finfo_of(const hitl_feedback *fb, hitl_feedback_info i)
{
    double v;
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, i), HITL_OK);
    return v;
}

/* Ten gold items of classes i % 3, answered by one annotator, right on the
 * first seven: every class is known, so the fit is its first M-step and
 * the estimates are the formulas of hitl.h, worked out here by hand. */
static const int32_t coin_answer[10] = {0, 1, 2, 0, 1, 2, 0, 2, 0, 1};

static hitl_feedback *gold_crowd(hitl_pool **pool, int method, double strength)
{
    hitl_feedback *fb;
    *pool = make_pool(10);
    ck_assert_int_eq(hitl_feedback_create(&fb, *pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_N_CLASSES, 3), HITL_OK);
    for (uint64_t i = 0; i < 10; i++) {
        ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, i, (int32_t)(i % 3), 0, 0), HITL_OK);
        ck_assert_int_eq(hitl_feedback_label(fb, i, 7, coin_answer[i]), HITL_OK);
    }
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DS_PRIOR, strength), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION, method), HITL_OK);
    return fb;
}

START_TEST(one_coin_by_hand)
{
    hitl_pool *pool;
    hitl_feedback *fb = gold_crowd(&pool, HITL_AGGREGATE_ONE_COIN, 0);
    double m[9], p = (0.03 + 7) / (0.09 + 10);
    ck_assert_int_eq(hitl_feedback_confusion(m, fb, 7, 3), HITL_OK);
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++)
            ck_assert_double_eq_tol(m[k * 3 + l], k == l ? p : (1 - p) / 2, 1e-14);
    ck_assert_double_eq(finfo_of(fb, HITL_FEEDBACK_AGGREGATION_USED), HITL_AGGREGATE_ONE_COIN);
    ck_assert_double_eq(finfo_of(fb, HITL_FEEDBACK_PRIOR_USED), 0);
    ck_assert_double_eq(finfo_of(fb, HITL_FEEDBACK_EM_CONVERGED), 1);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(prior_by_hand)
{
    const double s = 4;
    hitl_pool *pool;
    hitl_feedback *fb = gold_crowd(&pool, HITL_AGGREGATE_DAWID_SKENE, s);
    double n[3][3] = {{0}}, m[9];
    for (int i = 0; i < 10; i++)
        n[i % 3][coin_answer[i]]++;
    double q = (0.03 + 7) / (0.09 + 10);   /* the one-coin accuracy: the prior's centre */
    ck_assert_int_eq(hitl_feedback_confusion(m, fb, 7, 3), HITL_OK);
    for (int k = 0; k < 3; k++) {
        double row = n[k][0] + n[k][1] + n[k][2];
        for (int l = 0; l < 3; l++) {
            double c = k == l ? 0.01 + s * q : 0.01 + s * (1 - q) / 2;
            ck_assert_double_eq_tol(m[k * 3 + l], (c + n[k][l]) / (0.03 + s + row), 1e-14);
        }
    }
    ck_assert_double_eq(finfo_of(fb, HITL_FEEDBACK_PRIOR_USED), s);
    /* the strength is a DAWID_SKENE setting: changing it refits */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DS_PRIOR, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_confusion(m, fb, 7, 3), HITL_OK);
    ck_assert_double_eq_tol(m[0], (0.01 + 3) / (0.03 + 4), 1e-14);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* A strong prior makes the full matrices the one-coin matrices. */
START_TEST(strong_prior_is_one_coin)
{
    hitl_pool *pool = make_pool(N_ITEMS + 10);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    sim *s = malloc(sizeof *s);
    simulate(fb, s);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_ONE_COIN), HITL_OK);
    double coin[N_ANNOT][K * K], m[K * K];
    for (int a = 0; a < N_ANNOT; a++)
        ck_assert_int_eq(hitl_feedback_confusion(coin[a], fb, (uint64_t)a + 100, K), HITL_OK);
    double acc_coin = accuracy(fb, s);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DS_PRIOR, 1e6), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_DAWID_SKENE), HITL_OK);
    for (int a = 0; a < N_ANNOT; a++) {
        ck_assert_int_eq(hitl_feedback_confusion(m, fb, (uint64_t)a + 100, K), HITL_OK);
        for (int c = 0; c < K * K; c++)
            ck_assert_double_eq_tol(m[c], coin[a][c], 2e-3);
    }
    ck_assert_double_eq_tol(accuracy(fb, s), acc_coin, 1e-2);   /* near ties may go either way */
    free(s);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* A crowd of known accuracies; acc < 0: answers always class -acc - 1. */
static void crowd(hitl_feedback *fb, int32_t *truth, size_t n, int n_cls,
                  const double *acc, size_t n_annot, uint64_t seed)
{
    rng_state = seed;
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_N_CLASSES, n_cls), HITL_OK);
    for (size_t i = 0; i < n; i++) {
        truth[i] = (int32_t)(next_u64() % (uint64_t)n_cls);
        for (size_t j = 0; j < n_annot; j++) {
            size_t a = (j + i) % n_annot;   /* the order decides the votes' ties */
            int32_t l = acc[a] < 0 ? (int32_t)(-acc[a] - 1)
                        : uniform() < acc[a] ? truth[i]
                        : (int32_t)((truth[i] + 1 + (int32_t)(next_u64() % (uint64_t)(n_cls - 1))) % n_cls);
            ck_assert_int_eq(hitl_feedback_label(fb, i, a, l), HITL_OK);
        }
    }
}

static double right_share(const hitl_feedback *fb, const int32_t *truth, size_t n)
{
    size_t right = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t lab;
        ck_assert_int_eq(hitl_feedback_item(NULL, &lab, NULL, NULL, NULL, fb, i), HITL_OK);
        right += lab == truth[i];
    }
    return (double)right / (double)n;
}

/* RECOMMENDED against the majority vote on fixed crowds: the case where full
 * Dawid-Skene loses to the vote, a crowd with a spammer who always says 0
 * (left out, the other two are voted on), a poor crowd, too few answers
 * for any model, and two classes where three of seven annotators always
 * say 0 (left out: the vote of the others). */
START_TEST(recommended_not_worse_than_majority)
{
    static const double known[] = {0.95, 0.75, 0.55}, hammer[] = {0.8, 0.7, -1},
                        poor[] = {0.45, 0.5, 0.4, 0.55, 0.5}, few[] = {0.9, 0.6, 0.7},
                        constant[] = {0.7, -1, 0.65, -1, 0.7, -1, 0.6};
    static const struct { const double *acc; size_t annot, n; int cls, model; } cases[] = {
        {known, 3, 300, 10, 1}, {hammer, 3, 300, 10, 0}, {poor, 5, 400, 4, 1},
        {few, 3, 9, 3, 0}, {constant, 7, 50, 2, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t n = cases[c].n;
        hitl_pool *pool = make_pool(n);
        hitl_feedback *fb;
        int32_t *truth = malloc(n * sizeof *truth);
        ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                                 HITL_AGGREGATE_MAJORITY), HITL_OK);
        crowd(fb, truth, n, cases[c].cls, cases[c].acc, cases[c].annot, 77 + c);
        double mv = right_share(fb, truth, n);
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                                 HITL_AGGREGATE_RECOMMENDED), HITL_OK);
        double rec = right_share(fb, truth, n), used = finfo_of(fb, HITL_FEEDBACK_AGGREGATION_USED);
        ck_assert_msg(rec >= mv, "case %zu: recommended %.3f < majority %.3f", c, rec, mv);
        ck_assert_msg((used != HITL_AGGREGATE_MAJORITY) == cases[c].model, "case %zu: used %g",
                      c, used);
        if (!cases[c].model) {
            double m[9];
            ck_assert(isnan(finfo_of(fb, HITL_FEEDBACK_PRIOR_USED)));
            ck_assert_int_eq(hitl_feedback_confusion(m, fb, 0, 3), HITL_ESTATE);
        }
        hitl_feedback_free(fb);
        hitl_pool_free(pool);
        free(truth);
    }
}
END_TEST

/* Bad values are refused with a message naming them, and change nothing. */
START_TEST(new_params_checked)
{
    hitl_pool *pool = make_pool(5);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DS_PRIOR, 2.5), HITL_OK);
    static const double bad_prior[] = {-1, 1e7, NAN, INFINITY};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DS_PRIOR, bad_prior[i]),
                         HITL_EINVAL);
        ck_assert_ptr_nonnull(strstr(hitl_error_message(), "HITL_PARAM_DS_PRIOR"));
    }
    static const double bad_method[] = {0, 6, 4.5, NAN};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION, bad_method[i]),
                         HITL_EINVAL);
        ck_assert_ptr_nonnull(strstr(hitl_error_message(), "HITL_PARAM_AGGREGATION"));
    }
    double v;
    ck_assert_int_eq(hitl_feedback_get_param(&v, fb, HITL_PARAM_DS_PRIOR), HITL_OK);
    ck_assert_double_eq(v, 2.5);
    ck_assert_int_eq(hitl_feedback_get_param(&v, fb, HITL_PARAM_AGGREGATION), HITL_OK);
    ck_assert_double_eq(v, HITL_AGGREGATE_RECOMMENDED);   /* the default */
    ck_assert_double_eq(finfo_of(fb, HITL_FEEDBACK_AGGREGATION_USED), HITL_AGGREGATE_MAJORITY);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Out of memory in every fit the new methods make: refused with ENOMEM,
 * the method and every label as they were. */
START_TEST(out_of_memory_fits)
{
    static const double hammer[] = {0.8, 0.7, -1};
    oom_install();
    hitl_pool *pool = make_pool(200);
    hitl_feedback *fb;
    int32_t truth[200], before[200];
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    crowd(fb, truth, 200, 5, hammer, 3, 5);
    static const int methods[] = {HITL_AGGREGATE_ONE_COIN, HITL_AGGREGATE_DAWID_SKENE,
                                  HITL_AGGREGATE_RECOMMENDED, HITL_AGGREGATE_MAJORITY};
    for (size_t m = 0; m < 4; m++) {
        double was;
        ck_assert_int_eq(hitl_feedback_get_param(&was, fb, HITL_PARAM_AGGREGATION), HITL_OK);
        for (uint64_t i = 0; i < 200; i++)
            ck_assert_int_eq(hitl_feedback_item(NULL, &before[i], NULL, NULL, NULL, fb, i),
                             HITL_OK);
        int rc;
        long fail_at = 0;
        do {
            oom_arm(fail_at++);
            rc = hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION, methods[m]);
            oom_arm(-1);
            if (rc != HITL_OK) {
                double now;
                ck_assert_int_eq(rc, HITL_ENOMEM);
                ck_assert_int_eq(hitl_feedback_get_param(&now, fb, HITL_PARAM_AGGREGATION),
                                 HITL_OK);
                ck_assert_double_eq(now, was);
                for (uint64_t i = 0; i < 200; i++) {
                    int32_t lab;
                    ck_assert_int_eq(hitl_feedback_item(NULL, &lab, NULL, NULL, NULL, fb, i),
                                     HITL_OK);
                    ck_assert_int_eq(lab, before[i]);
                }
            }
        } while (rc != HITL_OK);
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_DS_PRIOR, 3), HITL_OK);
    }
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    oom_uninstall();
}
END_TEST

static Suite *aggregate_suite(void)
{
    Suite *s = suite_create("aggregate");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, weighted_uses_gold);
    tcase_add_test(tc, dawid_skene_recovers_annotators);
    tcase_add_test(tc, dawid_skene_with_gold);
    tcase_add_test(tc, empty_fit);
    tcase_add_test(tc, dawid_skene_stray_label);
    tcase_add_test(tc, drift_flags_a_careless_annotator);
    tcase_add_test(tc, drift_false_alarm_rate);
    tcase_add_test(tc, one_coin_by_hand);
    tcase_add_test(tc, prior_by_hand);
    tcase_add_test(tc, strong_prior_is_one_coin);
    tcase_add_test(tc, recommended_not_worse_than_majority);
    tcase_add_test(tc, new_params_checked);
    tcase_add_test(tc, out_of_memory_fits);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(aggregate_suite)
