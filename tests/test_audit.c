/* Bias audit: every figure of a small table worked out by hand, a stretch
 * of the journal, Wilson intervals against the formula, Holm's adjustment,
 * an injected disparity flagged (acceptance and errors caught), a null one
 * (groups drawn at random) flagged no more often than the stated
 * false-alarm rate, the CSV / JSON Lines report, errors and out of memory. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static hitl_pool *make_pool(size_t n)
{
    hitl_pool *pool;
    float *X = calloc(n, sizeof *X);
    ck_assert_int_eq(hitl_pool_create(&pool, 1), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(pool, X, n, 1, NULL), HITL_OK);
    free(X);
    return pool;
}

static void rec(hitl_feedback *fb, hitl_event_kind kind, uint64_t item, uint64_t who,
                int32_t label, int32_t shown)
{
    ck_assert_int_eq(hitl_feedback_record(NULL, fb, kind, item, who, label, NAN, shown,
                                          shown < 0 ? NAN : 0.9, HITL_TIME_NOW, NULL),
                     HITL_OK);
}

static void expect(const hitl_audit *a, int64_t g, hitl_audit_metric m, size_t k, size_t n)
{
    double v, lo, hi;
    size_t nn;
    ck_assert_int_eq(hitl_audit_figure(&v, &lo, &hi, &nn, a, 0, g, m), HITL_OK);
    ck_assert_uint_eq(nn, n);
    if (m == HITL_AUDIT_SEEN) {
        ck_assert(v == (double)n);
        return;
    }
    ck_assert_msg(fabs(v - (double)k / n) < 1e-15, "group %lld metric %d: %g != %zu/%zu",
                  (long long)g, (int)m, v, k, n);
    /* Wilson at 95% */
    double z = 1.959963984540054, p = (double)k / n, z2 = z * z;
    double mid = (p + z2 / (2.0 * n)) / (1 + z2 / n);
    double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / (1 + z2 / n);
    ck_assert(fabs(lo - fmax(0, mid - half)) < 1e-9 && fabs(hi - fmin(1, mid + half)) < 1e-9);
}

/* The table of the header's definitions: items 0-4 in group 1, 5-9 in 2. */
static void hand_table(hitl_pool **pool, hitl_feedback **fb, hitl_audit **a)
{
    *pool = make_pool(10);
    ck_assert_int_eq(hitl_feedback_create(fb, *pool), HITL_OK);
    ck_assert_int_eq(hitl_audit_create(a, 1), HITL_OK);
    uint64_t ids[10];
    int64_t groups[10];
    uint8_t acc[10] = { 1, 1, 0, 0, 0, 1, 1, 1, 0, 0 };
    int32_t lab[10] = { 0 };
    for (int i = 0; i < 10; i++) {
        ids[i] = (uint64_t)i;
        groups[i] = i < 5 ? 1 : 2;
    }
    ck_assert_int_eq(hitl_audit_set_groups(*a, 0, ids, groups, 10), HITL_OK);
    ck_assert_int_eq(hitl_audit_set_decisions(*a, ids, acc, lab, 10), HITL_OK);
    rec(*fb, HITL_EVENT_LABEL, 2, 100, 0, -1);    /* e0 */
    rec(*fb, HITL_EVENT_LABEL, 3, 100, 1, -1);    /* e1: a model error */
    rec(*fb, HITL_EVENT_OVERRIDE, 4, 100, 1, 0);  /* e2: error, overridden */
    rec(*fb, HITL_EVENT_CONFIRM, 8, 100, 0, 0);   /* e3 */
    rec(*fb, HITL_EVENT_LABEL, 9, 100, 1, -1);    /* e4 */
    rec(*fb, HITL_EVENT_LABEL, 9, 101, 1, -1);    /* e5: two agree */
    rec(*fb, HITL_EVENT_LABEL, 0, 100, 1, -1);    /* e6: accepted, wrong */
    rec(*fb, HITL_EVENT_LABEL, 2, 101, 1, -1);    /* e7: disagrees with e0 */
}

START_TEST(test_hand_worked)
{
    hitl_pool *pool;
    hitl_feedback *fb;
    hitl_audit *a;
    hand_table(&pool, &fb, &a);
    ck_assert_int_eq(hitl_audit_figure(NULL, NULL, NULL, NULL, a, 0, 1, HITL_AUDIT_SEEN),
                     HITL_ESTATE);
    ck_assert_int_eq(hitl_audit_run(a, fb, 0, UINT64_MAX), HITL_OK);
    expect(a, 1, HITL_AUDIT_SEEN, 5, 5);
    expect(a, 1, HITL_AUDIT_ACCEPTED, 2, 5);
    expect(a, 1, HITL_AUDIT_REVIEWED, 3, 5);
    expect(a, 1, HITL_AUDIT_MODEL_ERROR, 2, 3);   /* items 2 (tie -> 0), 3, 4 */
    expect(a, 1, HITL_AUDIT_OVERRIDE, 1, 1);
    expect(a, 1, HITL_AUDIT_AGREEMENT, 0, 1);     /* item 2 */
    expect(a, 1, HITL_AUDIT_CAUGHT, 2, 3);        /* 3, 4 caught; 0 accepted */
    expect(a, 2, HITL_AUDIT_SEEN, 5, 5);
    expect(a, 2, HITL_AUDIT_ACCEPTED, 3, 5);
    expect(a, 2, HITL_AUDIT_MODEL_ERROR, 1, 2);
    expect(a, 2, HITL_AUDIT_OVERRIDE, 0, 1);
    expect(a, 2, HITL_AUDIT_AGREEMENT, 1, 1);
    expect(a, 2, HITL_AUDIT_CAUGHT, 1, 1);
    int64_t ga, gb;
    double diff, padj;
    int flagged;
    ck_assert_int_eq(hitl_audit_gap(&ga, &gb, &diff, &padj, &flagged, a, 0,
                                    HITL_AUDIT_ACCEPTED), HITL_OK);
    ck_assert(ga == 1 && gb == 2 && fabs(diff + 0.2) < 1e-15);
    /* pooled z = -0.2 / sqrt(0.25 * 0.4); Holm over 5 tests: at least p */
    double p = erfc(0.2 / sqrt(0.1) / sqrt(2.0));
    ck_assert(padj >= p - 1e-12 && padj <= 1 && !flagged);
    ck_assert_int_eq(hitl_audit_gap(NULL, NULL, NULL, NULL, NULL, a, 0, HITL_AUDIT_SEEN),
                     HITL_ESTATE);
    /* a stretch: events 0 .. 3 only */
    ck_assert_int_eq(hitl_audit_run(a, fb, 0, 4), HITL_OK);
    expect(a, 1, HITL_AUDIT_MODEL_ERROR, 2, 3);
    expect(a, 1, HITL_AUDIT_CAUGHT, 2, 2);        /* item 0 not answered in it */
    expect(a, 2, HITL_AUDIT_MODEL_ERROR, 0, 1);
    expect(a, 2, HITL_AUDIT_OVERRIDE, 0, 1);
    ck_assert_int_eq(hitl_audit_run(a, fb, 5, 4), HITL_EINVAL);
    ck_assert_int_eq(hitl_audit_run(a, fb, 0, 9), HITL_EINVAL);
    hitl_audit_free(a);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(test_holm_by_hand)
{
    /* Three groups, acceptance only (no events): pairs (1,2), (1,3), (2,3);
     * Holm multiplies the smallest p by 3, the next by 2, keeps order. */
    hitl_pool *pool = make_pool(300);
    hitl_feedback *fb;
    hitl_audit *a;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_audit_create(&a, 1), HITL_OK);
    uint64_t ids[300];
    int64_t g[300];
    uint8_t acc[300];
    int32_t lab[300] = { 0 };
    size_t k[3] = { 80, 50, 65 };
    for (int i = 0; i < 300; i++) {
        ids[i] = (uint64_t)i;
        g[i] = i / 100 + 1;
        acc[i] = (size_t)(i % 100) < k[i / 100];
    }
    ck_assert_int_eq(hitl_audit_set_groups(a, 0, ids, g, 300), HITL_OK);
    ck_assert_int_eq(hitl_audit_set_decisions(a, ids, acc, lab, 300), HITL_OK);
    ck_assert_int_eq(hitl_audit_run(a, fb, 0, UINT64_MAX), HITL_OK);
    int64_t ga, gb;
    double diff, padj;
    int flagged;
    ck_assert_int_eq(hitl_audit_gap(&ga, &gb, &diff, &padj, &flagged, a, 0,
                                    HITL_AUDIT_ACCEPTED), HITL_OK);
    ck_assert(ga == 1 && gb == 2 && fabs(diff - 0.3) < 1e-12);
    double pp = 130.0 / 200, z = 0.3 / sqrt(pp * (1 - pp) * 0.02);
    ck_assert(fabs(padj - fmin(1, 3 * erfc(z / sqrt(2.0)))) < 1e-12);
    ck_assert(flagged);
    char buf[8192];
    size_t len;
    ck_assert_int_eq(hitl_audit_report(&len, NULL, 0, a, HITL_REPORT_CSV), HITL_OK);
    ck_assert_uint_lt(len, sizeof buf);
    ck_assert_int_eq(hitl_audit_report(&len, buf, sizeof buf, a, HITL_REPORT_CSV), HITL_OK);
    ck_assert_uint_eq(strlen(buf), len);
    size_t lines = 0, commas = 0;
    for (char *c = buf; *c; c++) {
        lines += *c == '\n';
        commas += *c == ',';
    }
    /* header + 3 groups x (7 figures + 1 check) + 1 gap (acceptance only) */
    ck_assert_uint_eq(lines, 1 + 3 * 8 + 1);
    ck_assert_uint_eq(commas, 12 * lines);
    ck_assert(strstr(buf, "gap,0,,accepted,,,,,1,2,") != NULL);
    ck_assert_int_eq(hitl_audit_report(&len, buf, 10, a, HITL_REPORT_JSONL), HITL_EINVAL);
    ck_assert_int_eq(hitl_audit_report(&len, buf, sizeof buf, a, HITL_REPORT_JSONL), HITL_OK);
    ck_assert(strncmp(buf, "{\"kind\":\"figure\",\"attribute\":0,\"group\":1,\"metric\":\"seen\","
                           "\"n\":100,\"value\":100,\"lower\":null", 89) == 0);
    hitl_audit_free(a);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

static double unit(uint64_t *s)
{
    return (double)(test_splitmix(s) >> 11) / 9007199254740992.0;
}

/* n items: the model is wrong with probability 0.3; group 1's items are
 * accepted with p_accept[wrong] (1 - its share caught when wrong), group
 * 2's with q_accept[wrong]; every item gets a human label. */
static void simulate(hitl_feedback *fb, hitl_audit *a, size_t n, const double *p_acc,
                     const double *q_acc, uint64_t seed)
{
    uint64_t s = seed, *ids = malloc(n * sizeof *ids);
    int64_t *g = malloc(n * sizeof *g);
    uint8_t *acc = malloc(n);
    int32_t *lab = calloc(n, sizeof *lab);
    for (size_t i = 0; i < n; i++) {
        int wrong = unit(&s) < 0.3;
        ids[i] = i;
        g[i] = 1 + (int64_t)(i % 2);
        acc[i] = unit(&s) < (g[i] == 1 ? p_acc : q_acc)[wrong];
        rec(fb, HITL_EVENT_LABEL, i, 7, wrong, -1);
    }
    ck_assert_int_eq(hitl_audit_set_groups(a, 0, ids, g, n), HITL_OK);
    ck_assert_int_eq(hitl_audit_set_decisions(a, ids, acc, lab, n), HITL_OK);
    free(ids);
    free(g);
    free(acc);
    free(lab);
}

START_TEST(test_injected_disparity)
{
    size_t n = 4000;
    hitl_pool *pool = make_pool(n);
    hitl_feedback *fb;
    hitl_audit *a;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_audit_create(&a, 1), HITL_OK);
    /* group 2's errors are accepted half the time, group 1's a tenth */
    double p[2] = { 0.6, 0.1 }, q[2] = { 0.6, 0.5 };
    simulate(fb, a, n, p, q, 1);
    ck_assert_int_eq(hitl_audit_run(a, fb, 0, UINT64_MAX), HITL_OK);
    int flagged;
    double padj;
    ck_assert_int_eq(hitl_audit_caught_flag(&flagged, &padj, a, 0, 2), HITL_OK);
    ck_assert(flagged && padj < 1e-6);
    ck_assert_int_eq(hitl_audit_caught_flag(&flagged, &padj, a, 0, 1), HITL_OK);
    ck_assert(!flagged);
    int64_t ga, gb;
    double diff;
    ck_assert_int_eq(hitl_audit_gap(&ga, &gb, &diff, &padj, &flagged, a, 0,
                                    HITL_AUDIT_CAUGHT), HITL_OK);
    ck_assert(flagged && diff > 0.3);
    /* the minimum gap keeps small differences unflagged */
    ck_assert_int_eq(hitl_audit_set_param(a, HITL_PARAM_AUDIT_MIN_GAP, 0.9), HITL_OK);
    ck_assert_int_eq(hitl_audit_run(a, fb, 0, UINT64_MAX), HITL_OK);
    ck_assert_int_eq(hitl_audit_caught_flag(&flagged, NULL, a, 0, 2), HITL_OK);
    ck_assert(!flagged);
    hitl_audit_free(a);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(test_null_false_alarms)
{
    /* One loop, groups drawn at random 400 times: any flag is false.  Holm
     * keeps each family's chance of a flag at most alpha = 0.05; allow
     * three standard errors of 400 draws. */
    size_t n = 1000, runs = 400, gap_alarms = 0, eo_alarms = 0;
    hitl_pool *pool = make_pool(n);
    hitl_feedback *fb;
    hitl_audit *a;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_audit_create(&a, 1), HITL_OK);
    double p[2] = { 0.6, 0.2 };
    simulate(fb, a, n, p, p, 3);
    uint64_t s = 99, *ids = malloc(n * sizeof *ids);
    int64_t *g = malloc(n * sizeof *g);
    const hitl_audit_metric ms[] = { HITL_AUDIT_ACCEPTED, HITL_AUDIT_MODEL_ERROR,
                                     HITL_AUDIT_CAUGHT };
    for (size_t r = 0; r < runs; r++) {
        for (size_t i = 0; i < n; i++) {
            ids[i] = i;
            g[i] = 1 + (int64_t)(unit(&s) < 0.5);
        }
        ck_assert_int_eq(hitl_audit_set_groups(a, 0, ids, g, n), HITL_OK);
        ck_assert_int_eq(hitl_audit_run(a, fb, 0, UINT64_MAX), HITL_OK);
        int any = 0, f;
        for (size_t m = 0; m < 3; m++) {
            ck_assert_int_eq(hitl_audit_gap(NULL, NULL, NULL, NULL, &f, a, 0, ms[m]), HITL_OK);
            any |= f;
        }
        gap_alarms += any;
        any = 0;
        for (int64_t gg = 1; gg <= 2; gg++) {
            ck_assert_int_eq(hitl_audit_caught_flag(&f, NULL, a, 0, gg), HITL_OK);
            any |= f;
        }
        eo_alarms += any;
    }
    double limit = 0.05 + 3 * sqrt(0.05 * 0.95 / runs);
    ck_assert_msg((double)gap_alarms / runs <= limit, "gap alarms %zu / %zu", gap_alarms, runs);
    ck_assert_msg((double)eo_alarms / runs <= limit, "caught alarms %zu / %zu", eo_alarms,
                  runs);
    free(ids);
    free(g);
    hitl_audit_free(a);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(test_errors_and_oom)
{
    hitl_audit *a;
    ck_assert_int_eq(hitl_audit_create(NULL, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_audit_create(&a, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_audit_create(&a, 2), HITL_OK);
    uint64_t id = 1;
    int64_t g = INT64_MIN;
    uint8_t acc = 2;
    int32_t lab = 0;
    ck_assert_int_eq(hitl_audit_set_groups(a, 2, &id, &g, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_audit_set_groups(a, 0, &id, &g, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_audit_set_decisions(a, &id, &acc, &lab, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_audit_set_param(a, HITL_PARAM_AUDIT_ALPHA, 0.7), HITL_EINVAL);
    ck_assert_int_eq(hitl_audit_set_param(a, HITL_PARAM_L2, 0.1), HITL_EINVAL);
    double v;
    ck_assert_int_eq(hitl_audit_get_param(&v, a, HITL_PARAM_AUDIT_LEVEL), HITL_OK);
    ck_assert(v == 0.95);
    ck_assert_int_eq(hitl_audit_run(a, NULL, 0, 0), HITL_EINVAL);
    hitl_audit_free(a);
    hitl_audit_free(NULL);

    oom_install();
    for (long k = 0;; k++) {
        hitl_pool *pool;
        hitl_feedback *fb;
        hitl_audit *au;
        oom_arm(-1);
        hand_table(&pool, &fb, &au);
        oom_arm(k);
        int st = hitl_audit_run(au, fb, 0, UINT64_MAX);
        oom_arm(-1);
        if (st == HITL_OK)
            expect(au, 1, HITL_AUDIT_CAUGHT, 2, 3);
        else
            ck_assert_int_eq(st, HITL_ENOMEM);
        hitl_audit_free(au);
        hitl_feedback_free(fb);
        hitl_pool_free(pool);
        if (st == HITL_OK)
            break;
    }
    for (long k = 0;; k++) {
        hitl_audit *au = NULL;
        oom_arm(k);
        int st = hitl_audit_create(&au, 1);
        uint64_t ids[200];
        int64_t gs[200];
        for (int i = 0; i < 200; i++) {
            ids[i] = (uint64_t)i * 7;
            gs[i] = i % 5;
        }
        if (st == HITL_OK)
            st = hitl_audit_set_groups(au, 0, ids, gs, 200);
        oom_arm(-1);
        hitl_audit_free(au);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
    }
    oom_uninstall();
}
END_TEST

static Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("audit");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hand_worked);
    tcase_add_test(tc, test_holm_by_hand);
    tcase_add_test(tc, test_injected_disparity);
    tcase_add_test(tc, test_null_false_alarms);
    tcase_add_test(tc, test_errors_and_oom);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(audit_suite)
