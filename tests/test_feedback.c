/* Feedback: answers land in the pool, superseding and majority rules, the
 * event log and its accessors, retractions, overrides, consensus control,
 * gold, parameters, error paths and out-of-memory recovery. */
#include "testutil.h"
#include "internal.h"   /* pool->weight: the pool has no public weight getter */

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* A pool of n items with 2 features; ids are 1000 + index. */
static hitl_pool *make_pool(size_t n)
{
    hitl_pool *pool;
    ck_assert_int_eq(hitl_pool_create(&pool, 2), HITL_OK);
    float *rows = malloc(2 * n * sizeof *rows);
    uint64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        rows[2 * i] = (float)i;
        rows[2 * i + 1] = (float)(i % 3);
        ids[i] = 1000 + i;
    }
    ck_assert_int_eq(hitl_pool_add(pool, rows, n, 2, ids), HITL_OK);
    free(rows);
    free(ids);
    return pool;
}

static void expect_item(const hitl_pool *pool, uint64_t id,
                        hitl_item_state state, int32_t label)
{
    size_t index;
    hitl_item_state st;
    int32_t lab;
    ck_assert_int_eq(hitl_pool_find(&index, pool, id), HITL_OK);
    ck_assert_int_eq(hitl_pool_item(NULL, &st, &lab, pool, index), HITL_OK);
    ck_assert_int_eq(st, state);
    ck_assert_int_eq(lab, label);
}

static size_t count(const hitl_feedback *fb)
{
    size_t n = 99;
    ck_assert_int_eq(hitl_feedback_count(&n, fb), HITL_OK);
    return n;
}

START_TEST(create_and_free)
{
    hitl_pool *pool = make_pool(4);
    hitl_feedback *fb = NULL;
    ck_assert_int_eq(hitl_feedback_create(NULL, pool), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "out"));
    ck_assert_int_eq(hitl_feedback_create(&fb, NULL), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "pool"));
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_uint_eq(count(fb), 0);
    size_t n;
    ck_assert_int_eq(hitl_feedback_count(NULL, fb), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_count(&n, NULL), HITL_EINVAL);
    hitl_feedback_free(fb);
    hitl_feedback_free(NULL);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(label_lands_in_pool)
{
    hitl_pool *pool = make_pool(5);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1002, 7, 3), HITL_OK);
    expect_item(pool, 1002, HITL_ITEM_LABELED, 3);
    expect_item(pool, 1001, HITL_ITEM_UNLABELED, -1);
    ck_assert_uint_eq(count(fb), 1);
    size_t n;
    ck_assert_int_eq(hitl_pool_count(&n, pool, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_uint_eq(n, 1);
    /* the same annotator changes their mind: the latest answer counts */
    ck_assert_int_eq(hitl_feedback_label(fb, 1002, 7, 0), HITL_OK);
    expect_item(pool, 1002, HITL_ITEM_LABELED, 0);
    ck_assert_uint_eq(count(fb), 2);
    ck_assert_int_eq(hitl_pool_count(&n, pool, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_uint_eq(n, 1);
    /* largest label accepted */
    ck_assert_int_eq(hitl_feedback_label(fb, 1004, 7, 65535), HITL_OK);
    expect_item(pool, 1004, HITL_ITEM_LABELED, 65535);
    hitl_feedback_free(fb);
    /* the pool keeps its labels after the handle is gone */
    expect_item(pool, 1002, HITL_ITEM_LABELED, 0);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(majority_and_ties)
{
    hitl_pool *pool = make_pool(4);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    /* 1 vs 2: a tie goes to the label answered first */
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 2, 2), HITL_OK);
    expect_item(pool, 1000, HITL_ITEM_LABELED, 1);
    /* the same tie in the other order */
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 2, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 1, 1), HITL_OK);
    expect_item(pool, 1001, HITL_ITEM_LABELED, 2);
    /* a third annotator breaks the tie */
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 3, 2), HITL_OK);
    expect_item(pool, 1000, HITL_ITEM_LABELED, 2);
    /* annotator 1 moves over; then 2 and 3 move away: 1 vs 1 vs 1, and the
       earliest current answer is annotator 1's re-answer (event 5) */
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 1, 2), HITL_OK);
    expect_item(pool, 1001, HITL_ITEM_LABELED, 2);
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 2, 5), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 3, 6), HITL_OK);
    expect_item(pool, 1001, HITL_ITEM_LABELED, 2);
    /* the class number plays no part in breaking ties */
    ck_assert_int_eq(hitl_feedback_label(fb, 1003, 9, 9), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1003, 8, 0), HITL_OK);
    expect_item(pool, 1003, HITL_ITEM_LABELED, 9);
    ck_assert_uint_eq(count(fb), 10);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(skips)
{
    hitl_pool *pool = make_pool(3);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_skip(fb, 1000, 1), HITL_OK);
    expect_item(pool, 1000, HITL_ITEM_SKIPPED, -1);
    ck_assert_int_eq(hitl_feedback_skip(fb, 1000, 2), HITL_OK);
    expect_item(pool, 1000, HITL_ITEM_SKIPPED, -1);
    /* one label among skips: the label wins, skips are not votes */
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 3, 4), HITL_OK);
    expect_item(pool, 1000, HITL_ITEM_LABELED, 4);
    /* the only labeler declines after all: skipped again */
    ck_assert_int_eq(hitl_feedback_skip(fb, 1000, 3), HITL_OK);
    expect_item(pool, 1000, HITL_ITEM_SKIPPED, -1);
    /* a skip after a label by someone else keeps the label */
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 1, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_skip(fb, 1001, 2), HITL_OK);
    expect_item(pool, 1001, HITL_ITEM_LABELED, 2);
    ck_assert_uint_eq(count(fb), 6);
    size_t n;
    ck_assert_int_eq(hitl_pool_count(&n, pool, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_uint_eq(n, 1);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(errors_change_nothing)
{
    hitl_pool *pool = make_pool(3);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, 1), HITL_OK);

    ck_assert_int_eq(hitl_feedback_label(NULL, 1000, 1, 1), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "feedback"));
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, -1), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "-1"));
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, 65536), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "65536"));
    ck_assert_int_eq(hitl_feedback_label(fb, 77, 1, 1), HITL_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "77"));
    ck_assert_int_eq(hitl_feedback_skip(NULL, 1000, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_skip(fb, 3, 1), HITL_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "hitl_feedback_skip"));

    ck_assert_uint_eq(count(fb), 1);
    expect_item(pool, 1000, HITL_ITEM_LABELED, 1);
    expect_item(pool, 1001, HITL_ITEM_UNLABELED, -1);
    /* still usable */
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 2, 0), HITL_OK);
    expect_item(pool, 1001, HITL_ITEM_LABELED, 0);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Items whose ids are their indices (the pool keeps no id map then). */
START_TEST(index_ids)
{
    hitl_pool *pool;
    float rows[6] = {0, 1, 2, 3, 4, 5};
    ck_assert_int_eq(hitl_pool_create(&pool, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(pool, rows, 3, 2, NULL), HITL_OK);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 2, 0, 1), HITL_OK);
    expect_item(pool, 2, HITL_ITEM_LABELED, 1);
    ck_assert_int_eq(hitl_feedback_label(fb, 3, 0, 1), HITL_ENOTFOUND);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Many items and annotators: the maps and arrays grow. */
START_TEST(many_answers)
{
    size_t n = 3000;
    hitl_pool *pool = make_pool(n);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    for (size_t i = 0; i < n; i++)
        for (uint64_t a = 0; a < 3; a++) {
            /* annotators 0 and 1 agree on i % 4, annotator 2 says 9 */
            int32_t label = a < 2 ? (int32_t)(i % 4) : 9;
            ck_assert_int_eq(hitl_feedback_label(fb, 1000 + i, a * 7919 + i % 50,
                                                 label), HITL_OK);
        }
    ck_assert_uint_eq(count(fb), 3 * n);
    for (size_t i = 0; i < n; i += 97)
        expect_item(pool, 1000 + i, HITL_ITEM_LABELED, (int32_t)(i % 4));
    size_t lab;
    ck_assert_int_eq(hitl_pool_count(&lab, pool, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_uint_eq(lab, n);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Every allocation of a recording call may fail; each failure is ENOMEM and
 * changes nothing, and the call succeeds once memory is there. */
static void oom_record(hitl_feedback *fb, const hitl_pool *pool, uint64_t item,
                       uint64_t annotator, int32_t label)
{
    size_t before = count(fb), index;
    hitl_item_state st0;
    int32_t lab0;
    ck_assert_int_eq(hitl_pool_find(&index, pool, item), HITL_OK);
    ck_assert_int_eq(hitl_pool_item(NULL, &st0, &lab0, pool, index), HITL_OK);
    int rc;
    long fail_at = 0;
    do {
        oom_arm(fail_at++);
        rc = label >= 0 ? hitl_feedback_label(fb, item, annotator, label)
                        : hitl_feedback_skip(fb, item, annotator);
        oom_arm(-1);
        if (rc != HITL_OK) {
            ck_assert_int_eq(rc, HITL_ENOMEM);
            ck_assert_uint_eq(count(fb), before);
            expect_item(pool, item, st0, lab0);
        }
    } while (rc != HITL_OK);
    ck_assert_uint_eq(count(fb), before + 1);
}

START_TEST(out_of_memory)
{
    oom_install();
    hitl_pool *pool = make_pool(40);
    hitl_feedback *fb = NULL;
    int rc;
    long fail_at = 0;
    do {
        oom_arm(fail_at++);
        rc = hitl_feedback_create(&fb, pool);
        oom_arm(-1);
        if (rc != HITL_OK)
            ck_assert_int_eq(rc, HITL_ENOMEM);
    } while (rc != HITL_OK);
    for (size_t i = 0; i < 40; i++) {
        oom_record(fb, pool, 1000 + i, i % 7, (int32_t)(i % 3)); /* new item */
        oom_record(fb, pool, 1000 + i, 100 + i, 1);              /* new annotator */
        oom_record(fb, pool, 1000 + i, i % 7, 2);                /* same vote */
        oom_record(fb, pool, 1000 + i, (i + 1) % 7, -1);         /* skip */
    }
    /* item 1000: annotator 0 says 2 (event 2), annotator 100 says 1 (event
       1): the tie goes to the earlier answer */
    expect_item(pool, 1000, HITL_ITEM_LABELED, 1);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    oom_uninstall();
}
END_TEST

/* The loop: feedback labels are what the next fit learns from. */
START_TEST(next_fit_uses_labels)
{
    size_t n = 40;
    hitl_pool *pool;
    ck_assert_int_eq(hitl_pool_create(&pool, 2), HITL_OK);
    float rows[80];
    for (size_t i = 0; i < n; i++) {
        rows[2 * i] = (i % 2 ? 3.0f : -3.0f) + 0.01f * (float)i;
        rows[2 * i + 1] = 0.5f;
    }
    ck_assert_int_eq(hitl_pool_add(pool, rows, n, 2, NULL), HITL_OK);
    hitl_model *m;
    ck_assert_int_eq(hitl_model_create_logreg(&m, 2, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_ESTATE);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    for (size_t i = 0; i < 10; i++)
        ck_assert_int_eq(hitl_feedback_label(fb, i, 1, (int32_t)(i % 2)), HITL_OK);
    ck_assert_int_eq(hitl_feedback_skip(fb, 10, 1), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
    double n_train;
    ck_assert_int_eq(hitl_model_get_info(&n_train, m, HITL_INFO_N_TRAIN), HITL_OK);
    ck_assert_double_eq(n_train, 10);
    /* odd items (x0 > 0) were labeled 1: class 1's weight on x0 is larger */
    double W[4], b[2];
    ck_assert_int_eq(hitl_model_get_coef(W, b, m), HITL_OK);
    ck_assert_double_gt(W[2] - W[0], 0.5);
    hitl_feedback_free(fb);
    hitl_model_free(m);
    hitl_pool_free(pool);
}
END_TEST

/* ---- events ------------------------------------------------------------------ */

static uint64_t rec(hitl_feedback *fb, hitl_event_kind kind, uint64_t item,
                    uint64_t annotator, int32_t label, int32_t shown)
{
    uint64_t id = 12345;
    ck_assert_int_eq(hitl_feedback_record(&id, fb, kind, item, annotator, label,
                                          NAN, shown, shown >= 0 ? 0.8 : NAN,
                                          HITL_TIME_NOW, NULL), HITL_OK);
    return id;
}

START_TEST(event_fields)
{
    hitl_pool *pool = make_pool(4);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    char reason[] = "model missed the watermark \xc3\xa9\xe6\x97\xa5\xf0\x9f\x8e\x89";
    uint64_t id;
    ck_assert_int_eq(hitl_feedback_record(&id, fb, HITL_EVENT_OVERRIDE, 1001, 42,
                                          3, 0.75, 1, 0.625, 1700000000123456,
                                          reason), HITL_OK);
    ck_assert_uint_eq(id, 0);
    memset(reason, 'x', 5);          /* the handle keeps its own copy */
    hitl_event_kind kind;
    uint64_t item, annot, target, by;
    int32_t label, shown;
    double conf, sconf;
    int64_t t;
    ck_assert_int_eq(hitl_feedback_event(&kind, &item, &annot, &label, &conf,
                                         &shown, &sconf, &t, fb, 0), HITL_OK);
    ck_assert_int_eq(kind, HITL_EVENT_OVERRIDE);
    ck_assert_uint_eq(item, 1001);
    ck_assert_uint_eq(annot, 42);
    ck_assert_int_eq(label, 3);
    ck_assert_double_eq(conf, 0.75);
    ck_assert_int_eq(shown, 1);
    ck_assert_double_eq(sconf, 0.625);
    ck_assert_int_eq(t, 1700000000123456);
    const char *r;
    ck_assert_int_eq(hitl_feedback_event_reason(&r, fb, 0), HITL_OK);
    ck_assert_str_eq(r, "model missed the watermark \xc3\xa9\xe6\x97\xa5\xf0\x9f\x8e\x89");
    ck_assert_int_eq(hitl_feedback_event_links(&target, &by, fb, 0), HITL_OK);
    ck_assert_uint_eq(target, HITL_NO_EVENT);
    ck_assert_uint_eq(by, HITL_NO_EVENT);
    expect_item(pool, 1001, HITL_ITEM_LABELED, 3);

    /* CONFIRM with label -1 records the shown label; HITL_TIME_NOW reads
       the clock; "" is no reason */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t before = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    ck_assert_int_eq(hitl_feedback_record(&id, fb, HITL_EVENT_CONFIRM, 1002, 7,
                                          -1, NAN, 2, NAN, HITL_TIME_NOW, ""),
                     HITL_OK);
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t after = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    ck_assert_int_eq(hitl_feedback_event(&kind, NULL, NULL, &label, &conf, &shown,
                                         &sconf, &t, fb, id), HITL_OK);
    ck_assert_int_eq(kind, HITL_EVENT_CONFIRM);
    ck_assert_int_eq(label, 2);
    ck_assert(isnan(conf) && isnan(sconf));
    ck_assert(t >= before && t <= after);
    ck_assert_int_eq(hitl_feedback_event_reason(&r, fb, id), HITL_OK);
    ck_assert_ptr_null(r);
    expect_item(pool, 1002, HITL_ITEM_LABELED, 2);

    /* a reason of exactly HITL_REASON_MAX bytes is fine */
    char longr[HITL_REASON_MAX + 2];
    memset(longr, 'a', HITL_REASON_MAX);
    longr[HITL_REASON_MAX] = '\0';
    ck_assert_int_eq(hitl_feedback_record(NULL, fb, HITL_EVENT_SKIP, 1003, 7, -1,
                                          0.1, -1, NAN, 5, longr), HITL_OK);
    ck_assert_int_eq(hitl_feedback_event_reason(&r, fb, 2), HITL_OK);
    ck_assert_uint_eq(strlen(r), HITL_REASON_MAX);
    ck_assert_uint_eq(count(fb), 3);

    /* accessor errors */
    ck_assert_int_eq(hitl_feedback_event(NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                         NULL, fb, 3), HITL_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "3"));
    ck_assert_int_eq(hitl_feedback_event(&kind, NULL, NULL, NULL, NULL, NULL, NULL,
                                         NULL, NULL, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_event_links(&target, NULL, fb, 99), HITL_ENOTFOUND);
    ck_assert_int_eq(hitl_feedback_event_reason(NULL, fb, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_event_reason(&r, fb, HITL_NO_EVENT), HITL_ENOTFOUND);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Every malformed event is refused with a message naming what was wrong. */
START_TEST(event_validation)
{
    hitl_pool *pool = make_pool(3);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    struct bad {
        hitl_event_kind kind;
        int32_t label, shown;
        double conf, sconf;
        const char *reason, *msg;
    } bad[] = {
        {0, 1, -1, NAN, NAN, NULL, "kind 0"},
        {7, 1, -1, NAN, NAN, NULL, "kind 7"},
        {HITL_EVENT_RETRACT, -1, -1, NAN, NAN, NULL, "hitl_feedback_retract"},
        {HITL_EVENT_GOLD, 1, -1, 0.5, NAN, NULL, "GOLD event carries no confidence"},
        {HITL_EVENT_GOLD, 1, 0, NAN, NAN, NULL, "GOLD event carries no confidence"},
        {HITL_EVENT_GOLD, -2, -1, NAN, NAN, NULL, "label -2 is not in [-1"},
        {HITL_EVENT_LABEL, -1, -1, NAN, NAN, NULL, "label -1"},
        {HITL_EVENT_LABEL, 65536, -1, NAN, NAN, NULL, "label 65536"},
        {HITL_EVENT_SKIP, 2, -1, NAN, NAN, NULL, "SKIP has none"},
        {HITL_EVENT_OVERRIDE, 2, -1, NAN, NAN, NULL, "needs the shown_label"},
        {HITL_EVENT_OVERRIDE, 2, 2, NAN, NAN, NULL, "use CONFIRM"},
        {HITL_EVENT_CONFIRM, 2, -1, NAN, NAN, NULL, "needs the shown_label"},
        /* no label and no shown label: the missing shown label is the error */
        {HITL_EVENT_CONFIRM, -1, -1, NAN, NAN, NULL, "CONFIRM needs the shown_label"},
        {HITL_EVENT_OVERRIDE, -1, -1, NAN, NAN, NULL, "OVERRIDE needs the shown_label"},
        {HITL_EVENT_CONFIRM, 2, 1, NAN, NAN, NULL, "use OVERRIDE"},
        {HITL_EVENT_LABEL, 1, -2, NAN, NAN, NULL, "shown_label -2"},
        {HITL_EVENT_LABEL, 1, 65536, NAN, NAN, NULL, "shown_label 65536"},
        {HITL_EVENT_LABEL, 1, -1, 1.5, NAN, NULL, "confidence 1.5"},
        {HITL_EVENT_LABEL, 1, -1, -0.1, NAN, NULL, "confidence -0.1"},
        {HITL_EVENT_LABEL, 1, -1, INFINITY, NAN, NULL, "confidence inf"},
        {HITL_EVENT_LABEL, 1, 0, NAN, 2.0, NULL, "shown_confidence 2"},
        {HITL_EVENT_LABEL, 1, -1, NAN, 0.5, NULL, "without a shown_label"},
        {HITL_EVENT_LABEL, 1, -1, NAN, NAN, "\xc0\xaf", "UTF-8 at byte 0"},
        {HITL_EVENT_LABEL, 1, -1, NAN, NAN, "ok \xed\xa0\x80", "UTF-8 at byte 3"},
        {HITL_EVENT_LABEL, 1, -1, NAN, NAN, "ab\xe2\x82", "UTF-8 at byte 2"},
        {HITL_EVENT_LABEL, 1, -1, NAN, NAN, "\xf4\x90\x80\x80", "UTF-8"},
        {HITL_EVENT_LABEL, 1, -1, NAN, NAN, "\xe0\x80\x80", "UTF-8"},
        {HITL_EVENT_LABEL, 1, -1, NAN, NAN, "x\xff", "(0xff)"},
        {HITL_EVENT_LABEL, 1, -1, NAN, NAN, "\x80", "UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t id = 777;
        int rc = hitl_feedback_record(&id, fb, bad[i].kind, 1000, 1, bad[i].label,
                                      bad[i].conf, bad[i].shown, bad[i].sconf,
                                      HITL_TIME_NOW, bad[i].reason);
        ck_assert_msg(rc == HITL_EINVAL, "case %zu: rc %d", i, rc);
        ck_assert_msg(strstr(hitl_error_message(), bad[i].msg),
                      "case %zu: message '%s' lacks '%s'", i,
                      hitl_error_message(), bad[i].msg);
        ck_assert_uint_eq(id, 777);
    }
    char longr[HITL_REASON_MAX + 2];
    memset(longr, 'b', HITL_REASON_MAX + 1);
    longr[HITL_REASON_MAX + 1] = '\0';
    ck_assert_int_eq(hitl_feedback_record(NULL, fb, HITL_EVENT_LABEL, 1000, 1, 1,
                                          NAN, -1, NAN, 0, longr), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "1024"));
    ck_assert_int_eq(hitl_feedback_record(NULL, NULL, HITL_EVENT_LABEL, 1000, 1, 1,
                                          NAN, -1, NAN, 0, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_record(NULL, fb, HITL_EVENT_LABEL, 5, 1, 1,
                                          NAN, -1, NAN, 0, NULL), HITL_ENOTFOUND);
    /* the valid neighbours of the bad cases pass */
    ck_assert_int_eq(hitl_feedback_record(NULL, fb, HITL_EVENT_LABEL, 1000, 1, 1,
                                          0, 0, 1, INT64_MIN + 1, "\xf4\x8f\xbf\xbf"),
                     HITL_OK);
    ck_assert_uint_eq(count(fb), 1);
    expect_item(pool, 1000, HITL_ITEM_LABELED, 1);
    expect_item(pool, 1001, HITL_ITEM_UNLABELED, -1);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(retractions)
{
    hitl_pool *pool = make_pool(4);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    uint64_t a1 = rec(fb, HITL_EVENT_LABEL, 1000, 1, 1, -1);   /* 0 */
    uint64_t a2 = rec(fb, HITL_EVENT_LABEL, 1000, 1, 2, -1);   /* 1 */
    uint64_t b2 = rec(fb, HITL_EVENT_LABEL, 1000, 2, 2, -1);   /* 2 */
    expect_status(fb, 1000, HITL_CONSENSUS_RESOLVED, 2);
    /* retracting annotator 1's latest answer brings back their first: 1 vs 2,
       tie to the earlier current answer (event 0) */
    uint64_t r;
    ck_assert_int_eq(hitl_feedback_retract(&r, fb, a2, 99, HITL_TIME_NOW,
                                           "mis-click"), HITL_OK);
    ck_assert_uint_eq(r, 3);
    expect_status(fb, 1000, HITL_CONSENSUS_RESOLVED, 1);
    expect_item(pool, 1000, HITL_ITEM_LABELED, 1);
    uint64_t target, by;
    ck_assert_int_eq(hitl_feedback_event_links(&target, &by, fb, r), HITL_OK);
    ck_assert_uint_eq(target, a2);
    ck_assert_uint_eq(by, HITL_NO_EVENT);
    ck_assert_int_eq(hitl_feedback_event_links(&target, &by, fb, a2), HITL_OK);
    ck_assert_uint_eq(target, HITL_NO_EVENT);
    ck_assert_uint_eq(by, r);
    hitl_event_kind kind;
    uint64_t item, annot;
    int32_t label;
    ck_assert_int_eq(hitl_feedback_event(&kind, &item, &annot, &label, NULL, NULL,
                                         NULL, NULL, fb, r), HITL_OK);
    ck_assert_int_eq(kind, HITL_EVENT_RETRACT);
    ck_assert_uint_eq(item, 1000);
    ck_assert_uint_eq(annot, 99);
    ck_assert_int_eq(label, -1);
    /* cannot retract twice, a retraction, an unknown event, a gold event */
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, a2, 99, 0, NULL), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "already retracted by event 3"));
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, r, 99, 0, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, 50, 99, 0, NULL), HITL_ENOTFOUND);
    ck_assert_int_eq(hitl_feedback_retract(NULL, NULL, 0, 99, 0, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, a1, 99, 0, "\xff"), HITL_EINVAL);
    uint64_t g;
    ck_assert_int_eq(hitl_feedback_set_gold(&g, fb, 1003, 0, 5, HITL_TIME_NOW), HITL_OK);
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, g, 99, 0, NULL), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "GOLD"));
    ck_assert_uint_eq(count(fb), 5);
    /* retract annotator 1's remaining answer: only annotator 2's 2 is left */
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, a1, 1, HITL_TIME_NOW, NULL), HITL_OK);
    expect_status(fb, 1000, HITL_CONSENSUS_RESOLVED, 2);
    double v;
    ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, 1, HITL_ANNOTATOR_LABELS),
                     HITL_OK);
    ck_assert_double_eq(v, 0);
    /* and the last one: the item has no answer left and goes back */
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, b2, 1, HITL_TIME_NOW, NULL), HITL_OK);
    expect_status(fb, 1000, HITL_CONSENSUS_NONE, -1);
    expect_item(pool, 1000, HITL_ITEM_UNLABELED, -1);
    /* a superseded answer's retraction changes nothing current */
    uint64_t s1 = rec(fb, HITL_EVENT_LABEL, 1001, 3, 0, -1);
    rec(fb, HITL_EVENT_SKIP, 1001, 3, -1, -1);
    expect_item(pool, 1001, HITL_ITEM_SKIPPED, -1);
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, s1, 3, HITL_TIME_NOW, NULL), HITL_OK);
    expect_item(pool, 1001, HITL_ITEM_SKIPPED, -1);
    /* retracting the skip leaves nothing: unlabeled */
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, s1 + 1, 3, HITL_TIME_NOW, NULL),
                     HITL_OK);
    expect_item(pool, 1001, HITL_ITEM_UNLABELED, -1);
    ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, 3, HITL_ANNOTATOR_SKIPS),
                     HITL_OK);
    ck_assert_double_eq(v, 0);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(override_summary)
{
    hitl_pool *pool = make_pool(10);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    rec(fb, HITL_EVENT_CONFIRM, 1000, 1, 0, 0);
    rec(fb, HITL_EVENT_OVERRIDE, 1001, 1, 2, 0);
    rec(fb, HITL_EVENT_OVERRIDE, 1002, 1, 0, 1);
    rec(fb, HITL_EVENT_CONFIRM, 1003, 1, 1, 1);
    rec(fb, HITL_EVENT_CONFIRM, 1004, 2, 1, 1);
    rec(fb, HITL_EVENT_LABEL, 1005, 2, 2, 1);    /* a label that differs */
    rec(fb, HITL_EVENT_LABEL, 1006, 2, 2, -1);   /* no pre-annotation */
    rec(fb, HITL_EVENT_SKIP, 1007, 2, -1, 1);    /* skips do not count */
    uint64_t o = rec(fb, HITL_EVENT_OVERRIDE, 1008, 2, 0, 1);
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, o, 2, 0, NULL), HITL_OK);
    size_t shown, over;
    ck_assert_int_eq(hitl_feedback_overrides(&shown, &over, fb, -1), HITL_OK);
    ck_assert_uint_eq(shown, 6);
    ck_assert_uint_eq(over, 3);
    ck_assert_int_eq(hitl_feedback_overrides(&shown, &over, fb, 0), HITL_OK);
    ck_assert_uint_eq(shown, 2);
    ck_assert_uint_eq(over, 1);
    ck_assert_int_eq(hitl_feedback_overrides(&shown, &over, fb, 1), HITL_OK);
    ck_assert_uint_eq(shown, 4);
    ck_assert_uint_eq(over, 2);
    ck_assert_int_eq(hitl_feedback_overrides(&shown, &over, fb, 5), HITL_OK);
    ck_assert_uint_eq(shown, 0);
    ck_assert_int_eq(hitl_feedback_overrides(&shown, &over, fb, -2), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_overrides(NULL, &over, fb, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_overrides(&shown, NULL, fb, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_overrides(&shown, &over, NULL, 0), HITL_EINVAL);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(params)
{
    hitl_pool *pool = make_pool(3);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    struct { hitl_param p; double def, good, bad1, bad2; } t[] = {
        {HITL_PARAM_AGGREGATION, HITL_AGGREGATE_RECOMMENDED, 2, 0, 1.5},
        {HITL_PARAM_MIN_ANNOTATORS, 1, 3, 0, 2.5},
        {HITL_PARAM_MIN_AGREEMENT, 0, 0.5, -0.1, 1.1},
        {HITL_PARAM_MIN_CONFIDENCE, 0, 0.9, NAN, 2},
        {HITL_PARAM_N_CLASSES, 0, 5, 1, 65537},
        {HITL_PARAM_EM_MAX_ITER, 100, 7, 0, 3.5},
        {HITL_PARAM_EM_TOL, 1e-6, 1e-3, 0, INFINITY},
        {HITL_PARAM_CONFIDENCE_WEIGHTS, 1, 0, 0.5, 2},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        double v;
        ck_assert_int_eq(hitl_feedback_get_param(&v, fb, t[i].p), HITL_OK);
        ck_assert_double_eq(v, t[i].def);
        ck_assert_int_eq(hitl_feedback_set_param(fb, t[i].p, t[i].bad1), HITL_EINVAL);
        ck_assert_int_eq(hitl_feedback_set_param(fb, t[i].p, t[i].bad2), HITL_EINVAL);
        ck_assert_int_eq(hitl_feedback_get_param(&v, fb, t[i].p), HITL_OK);
        ck_assert_double_eq(v, t[i].def);
        ck_assert_int_eq(hitl_feedback_set_param(fb, t[i].p, t[i].good), HITL_OK);
        ck_assert_int_eq(hitl_feedback_get_param(&v, fb, t[i].p), HITL_OK);
        ck_assert_double_eq(v, t[i].good);
    }
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_L2, 1), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "40x"));
    double v;
    ck_assert_int_eq(hitl_feedback_get_param(&v, fb, HITL_PARAM_SEED), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_get_param(NULL, fb, HITL_PARAM_EM_TOL), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_set_param(NULL, HITL_PARAM_EM_TOL, 1), HITL_EINVAL);
    /* N_CLASSES bounds the labels, and cannot drop below one recorded */
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, 5), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "HITL_PARAM_N_CLASSES = 5"));
    ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, 1000, 5, 0, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, 4), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_N_CLASSES, 4), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_N_CLASSES, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, 9), HITL_OK);
    ck_assert_int_eq(hitl_feedback_aggregate(NULL), HITL_EINVAL);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Items below the consensus levels wait for another annotator and stay out
 * of the model's training set. */
START_TEST(consensus_control)
{
    hitl_pool *pool = make_pool(6);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_MIN_ANNOTATORS, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_MIN_AGREEMENT, 0.7), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, 1), HITL_OK);
    expect_status(fb, 1000, HITL_CONSENSUS_PENDING, 1);
    expect_item(pool, 1000, HITL_ITEM_UNLABELED, -1);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 2, 1), HITL_OK);
    expect_status(fb, 1000, HITL_CONSENSUS_RESOLVED, 1);
    expect_item(pool, 1000, HITL_ITEM_LABELED, 1);
    /* 2 of 3 agree: 0.667 < 0.7 */
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 1, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 2, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 3, 2), HITL_OK);
    hitl_consensus st;
    int32_t lab;
    double conf, agree;
    size_t nl;
    ck_assert_int_eq(hitl_feedback_item(&st, &lab, &conf, &agree, &nl, fb, 1001), HITL_OK);
    ck_assert_int_eq(st, HITL_CONSENSUS_PENDING);
    ck_assert_int_eq(lab, 0);
    ck_assert_double_eq_tol(agree, 2.0 / 3, 1e-15);
    ck_assert_double_eq_tol(conf, 2.0 / 3, 1e-15);
    ck_assert_uint_eq(nl, 3);
    expect_item(pool, 1001, HITL_ITEM_UNLABELED, -1);
    /* a skip is not a vote */
    ck_assert_int_eq(hitl_feedback_label(fb, 1002, 1, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_skip(fb, 1002, 2), HITL_OK);
    expect_status(fb, 1002, HITL_CONSENSUS_PENDING, 0);
    ck_assert_int_eq(hitl_feedback_skip(fb, 1003, 2), HITL_OK);
    expect_status(fb, 1003, HITL_CONSENSUS_NONE, -1);
    expect_item(pool, 1003, HITL_ITEM_SKIPPED, -1);
    expect_status(fb, 1005, HITL_CONSENSUS_NONE, -1);

    uint64_t ids[4] = {0, 0, 0, 0};
    size_t n = 99;
    ck_assert_int_eq(hitl_feedback_pending(&n, NULL, 0, fb), HITL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(hitl_feedback_pending(&n, ids, 1, fb), HITL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ids[0], 1001);
    ck_assert_uint_eq(ids[1], 0);
    ck_assert_int_eq(hitl_feedback_pending(&n, ids, 4, fb), HITL_OK);
    ck_assert_uint_eq(ids[1], 1002);
    ck_assert_int_eq(hitl_feedback_pending(&n, NULL, 4, fb), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_pending(NULL, ids, 4, fb), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_pending(&n, ids, 4, NULL), HITL_EINVAL);
    double v;
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_PENDING), HITL_OK);
    ck_assert_double_eq(v, 2);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_RESOLVED), HITL_OK);
    ck_assert_double_eq(v, 1);
    /* lowering the level re-decides at once: 2/3 exactly passes 2/3 */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_MIN_AGREEMENT, 2.0 / 3),
                     HITL_OK);
    expect_status(fb, 1001, HITL_CONSENSUS_RESOLVED, 0);
    expect_item(pool, 1001, HITL_ITEM_LABELED, 0);
    ck_assert_float_eq_tol(pool->weight[1], 2.0f / 3, 1e-6f);
    ck_assert_float_eq(pool->weight[0], 1.0f);
    /* confidence weights off: every labeled item weighs 1 */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_CONFIDENCE_WEIGHTS, 0),
                     HITL_OK);
    ck_assert_float_eq(pool->weight[1], 1.0f);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_CONFIDENCE_WEIGHTS, 1),
                     HITL_OK);
    ck_assert_float_eq_tol(pool->weight[1], 2.0f / 3, 1e-6f);
    /* min confidence */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_MIN_CONFIDENCE, 0.9),
                     HITL_OK);
    expect_status(fb, 1001, HITL_CONSENSUS_PENDING, 0);
    expect_status(fb, 1000, HITL_CONSENSUS_RESOLVED, 1);
    ck_assert_int_eq(hitl_feedback_item(&st, NULL, NULL, NULL, NULL, fb, 9), HITL_ENOTFOUND);
    ck_assert_int_eq(hitl_feedback_item(&st, NULL, NULL, NULL, NULL, NULL, 1000),
                     HITL_EINVAL);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(gold_and_annotators)
{
    hitl_pool *pool = make_pool(6);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    /* gold on an item nobody answered */
    uint64_t g;
    ck_assert_int_eq(hitl_feedback_set_gold(&g, fb, 1005, 3, 77, 123), HITL_OK);
    expect_status(fb, 1005, HITL_CONSENSUS_GOLD, 3);
    expect_item(pool, 1005, HITL_ITEM_LABELED, 3);
    hitl_event_kind kind;
    uint64_t annot;
    int32_t label;
    int64_t t;
    ck_assert_int_eq(hitl_feedback_event(&kind, NULL, &annot, &label, NULL, NULL,
                                         NULL, &t, fb, g), HITL_OK);
    ck_assert_int_eq(kind, HITL_EVENT_GOLD);
    ck_assert_uint_eq(annot, 77);
    ck_assert_int_eq(label, 3);
    ck_assert_int_eq(t, 123);
    /* a gold event makes no annotator */
    size_t n;
    ck_assert_int_eq(hitl_feedback_annotators(&n, NULL, 0, fb), HITL_OK);
    ck_assert_uint_eq(n, 0);
    /* annotators 1 and 2 answer gold and other items */
    ck_assert_int_eq(hitl_feedback_label(fb, 1005, 1, 3), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1005, 2, 0), HITL_OK);
    expect_status(fb, 1005, HITL_CONSENSUS_GOLD, 3);
    ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, 1004, 1, 77, HITL_TIME_NOW), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1004, 2, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 2, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 1, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1001, 2, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_skip(fb, 1002, 1), HITL_OK);
    struct { uint64_t a; hitl_annotator_info i; double v; } want[] = {
        {1, HITL_ANNOTATOR_LABELS, 3}, {1, HITL_ANNOTATOR_SKIPS, 1},
        {1, HITL_ANNOTATOR_GOLD_ANSWERS, 1}, {1, HITL_ANNOTATOR_GOLD_ACCURACY, 1},
        {1, HITL_ANNOTATOR_WEIGHT, 2.0 / 3},
        /* consensus: item 1000 (both 0) and 1001 (tie, 2 wins: earlier) */
        {1, HITL_ANNOTATOR_CONSENSUS_ANSWERS, 2},
        {1, HITL_ANNOTATOR_CONSENSUS_ACCURACY, 1},
        {2, HITL_ANNOTATOR_LABELS, 4}, {2, HITL_ANNOTATOR_SKIPS, 0},
        {2, HITL_ANNOTATOR_GOLD_ANSWERS, 2}, {2, HITL_ANNOTATOR_GOLD_ACCURACY, 0.5},
        {2, HITL_ANNOTATOR_WEIGHT, 0.5},
        {2, HITL_ANNOTATOR_CONSENSUS_ANSWERS, 2},
        {2, HITL_ANNOTATOR_CONSENSUS_ACCURACY, 0.5},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        double v;
        ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, want[i].a, want[i].i),
                         HITL_OK);
        ck_assert_msg(fabs(v - want[i].v) < 1e-12, "case %zu: %g, want %g", i, v,
                      want[i].v);
    }
    double v;
    ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, 1, HITL_ANNOTATOR_DS_ACCURACY),
                     HITL_OK);
    ck_assert(isnan(v));
    ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, 3, HITL_ANNOTATOR_LABELS),
                     HITL_ENOTFOUND);
    ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, 1, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, 1, HITL_ANNOTATOR_DRIFT_AT + 1),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_annotator_info(NULL, fb, 1, 1), HITL_EINVAL);
    double m[4];
    ck_assert_int_eq(hitl_feedback_confusion(m, fb, 1, 4), HITL_ESTATE);
    ck_assert_int_eq(hitl_feedback_confusion(m, fb, 8, 4), HITL_ENOTFOUND);
    ck_assert_int_eq(hitl_feedback_confusion(NULL, fb, 1, 4), HITL_EINVAL);
    /* clearing gold: 1005 is aggregated again (tie 3 vs 0 -> 3, earlier) */
    ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, 1005, -1, 77, HITL_TIME_NOW), HITL_OK);
    expect_status(fb, 1005, HITL_CONSENSUS_RESOLVED, 3);
    ck_assert_int_eq(hitl_feedback_annotator_info(&v, fb, 2, HITL_ANNOTATOR_GOLD_ANSWERS),
                     HITL_OK);
    ck_assert_double_eq(v, 1);
    ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, 1004, -1, 77, HITL_TIME_NOW), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, 1003, -2, 77, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, 3, 1, 77, 0), HITL_ENOTFOUND);
    ck_assert_int_eq(hitl_feedback_set_gold(NULL, NULL, 1003, 1, 77, 0), HITL_EINVAL);

    uint64_t ids[3];
    ck_assert_int_eq(hitl_feedback_annotators(&n, ids, 3, fb), HITL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ids[0], 1);
    ck_assert_uint_eq(ids[1], 2);
    ck_assert_int_eq(hitl_feedback_annotators(&n, NULL, 3, fb), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_ANNOTATORS), HITL_OK);
    ck_assert_double_eq(v, 2);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_ITEMS), HITL_OK);
    ck_assert_double_eq(v, 5);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_EVENTS), HITL_OK);
    ck_assert_double_eq(v, 12);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, HITL_FEEDBACK_EM_OBJECTIVE), HITL_OK);
    ck_assert(isnan(v));
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_get_info(&v, fb, 17), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_get_info(NULL, fb, 1), HITL_EINVAL);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* The (item, annotator, label) triples the agreement metrics take. */
START_TEST(answers_accessor)
{
    hitl_pool *pool = make_pool(4);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1002, 5, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 6, 0), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1002, 6, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1002, 5, 3), HITL_OK);   /* replaces */
    ck_assert_int_eq(hitl_feedback_skip(fb, 1000, 5), HITL_OK);       /* no label */
    uint64_t r;
    ck_assert_int_eq(hitl_feedback_record(&r, fb, HITL_EVENT_LABEL, 1003, 5, 1, NAN,
                                          -1, NAN, 0, NULL), HITL_OK);
    ck_assert_int_eq(hitl_feedback_retract(NULL, fb, r, 5, 0, NULL), HITL_OK);
    size_t n;
    ck_assert_int_eq(hitl_feedback_answers(&n, NULL, NULL, NULL, 0, fb), HITL_OK);
    ck_assert_uint_eq(n, 3);
    uint64_t items[3], annots[3];
    int32_t labels[3];
    ck_assert_int_eq(hitl_feedback_answers(&n, items, annots, labels, 3, fb), HITL_OK);
    ck_assert_uint_eq(items[0], 1002);
    ck_assert_uint_eq(annots[0], 5);
    ck_assert_int_eq(labels[0], 3);
    ck_assert_uint_eq(items[1], 1002);
    ck_assert_uint_eq(annots[1], 6);
    ck_assert_int_eq(labels[1], 2);
    ck_assert_uint_eq(items[2], 1000);
    ck_assert_uint_eq(annots[2], 6);
    ck_assert_int_eq(labels[2], 0);
    ck_assert_int_eq(hitl_feedback_answers(&n, items, annots, NULL, 3, fb), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_answers(NULL, items, annots, labels, 3, fb), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_answers(&n, items, annots, labels, 3, NULL), HITL_EINVAL);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Out of memory in every recording call of the richer API. */
START_TEST(out_of_memory_events)
{
    oom_install();
    hitl_pool *pool = make_pool(30);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    for (size_t i = 0; i < 30; i++) {
        int kind = (int)(i % 4);
        size_t before = count(fb);
        int rc;
        long fail_at = 0;
        do {
            oom_arm(fail_at++);
            switch (kind) {
            case 0:
                rc = hitl_feedback_record(NULL, fb, HITL_EVENT_OVERRIDE, 1000 + i,
                                          i % 5, 1, 0.5, 0, 0.9, 1, "a reason");
                break;
            case 1:
                rc = hitl_feedback_set_gold(NULL, fb, 1000 + i, 2, 0, 1);
                break;
            case 2:
                rc = hitl_feedback_retract(NULL, fb, before - 2, 9, 1, "why \xe2\x9c\x93");
                break;
            default:
                rc = hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             i % 8 == 3    ? HITL_AGGREGATE_DAWID_SKENE
                                             : i % 16 == 7 ? HITL_AGGREGATE_ONE_COIN
                                             : i % 16 == 15 ? HITL_AGGREGATE_RECOMMENDED
                                                           : HITL_AGGREGATE_WEIGHTED);
                if (rc == HITL_OK)
                    rc = hitl_feedback_aggregate(fb);
                break;
            }
            oom_arm(-1);
            if (rc != HITL_OK) {
                ck_assert_int_eq(rc, HITL_ENOMEM);
                ck_assert_uint_eq(count(fb), before);
            }
        } while (rc != HITL_OK);
        ck_assert_uint_eq(count(fb), before + (kind < 3));
    }
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    oom_uninstall();
}
END_TEST

/* ---- authority, settlement, the audit trail, the pool's class count ---------------- */

static void expect_settled(const hitl_feedback *fb, uint64_t item, hitl_settlement how,
                           uint64_t by)
{
    hitl_settlement h;
    uint64_t e;
    ck_assert_int_eq(hitl_feedback_settlement(&h, &e, fb, item), HITL_OK);
    ck_assert_msg(h == how && e == by, "item %" PRIu64 ": settled %d by %" PRIu64
                  ", expected %d by %" PRIu64, item, (int)h, e, (int)how, by);
}

static uint64_t answer(hitl_feedback *fb, hitl_event_kind kind, uint64_t item,
                       uint64_t who, int32_t label, int32_t shown)
{
    uint64_t id;
    ck_assert_int_eq(hitl_feedback_record(&id, fb, kind, item, who, label, NAN, shown,
                                          shown < 0 ? NAN : 0.9, HITL_TIME_NOW, "why"),
                     HITL_OK);
    return id;
}

/* A reviewer's override settles the item against three annotators who
 * agree, under every aggregation; a higher authority settles it again; a
 * retraction or a role change brings the one below back. */
START_TEST(authority_settles)
{
    for (int method = HITL_AGGREGATE_MAJORITY; method <= HITL_AGGREGATE_DAWID_SKENE;
         method++) {
        hitl_pool *pool = make_pool(7);
        hitl_feedback *fb;
        ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION, method),
                         HITL_OK);
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_MIN_ANNOTATORS, 2), HITL_OK);
        ck_assert_int_eq(hitl_feedback_set_role(fb, 50, HITL_ROLE_REVIEWER), HITL_OK);
        for (uint64_t a = 1; a <= 3; a++)
            for (uint64_t it = 1000; it < 1006; it++)
                ck_assert_int_eq(hitl_feedback_label(fb, it, a, (int32_t)(it % 3)), HITL_OK);
        ck_assert_int_eq(hitl_feedback_aggregate(fb), HITL_OK);
        expect_item(pool, 1000, HITL_ITEM_LABELED, 1);
        expect_settled(fb, 1000, method == HITL_AGGREGATE_DAWID_SKENE ? HITL_SETTLED_MODEL
                                                                      : HITL_SETTLED_VOTE,
                       HITL_NO_EVENT);
        uint64_t over = answer(fb, HITL_EVENT_OVERRIDE, 1000, 50, 2, 1);
        expect_item(pool, 1000, HITL_ITEM_LABELED, 2);
        expect_settled(fb, 1000, HITL_SETTLED_AUTHORITY, over);
        hitl_consensus st;
        int32_t label;
        double conf, agree;
        size_t n;
        ck_assert_int_eq(hitl_feedback_item(&st, &label, &conf, &agree, &n, fb, 1000),
                         HITL_OK);
        ck_assert(st == HITL_CONSENSUS_RESOLVED && label == 2 && conf == 1 && n == 4);
        ck_assert_double_eq_tol(agree, 0.25, 1e-12);
        ck_assert_float_eq(pool->weight[0], 1.0f);
        /* a re-fit does not undo it */
        ck_assert_int_eq(hitl_feedback_aggregate(fb), HITL_OK);
        expect_item(pool, 1000, HITL_ITEM_LABELED, 2);
        /* an adjudicator outranks the reviewer, whatever the order */
        ck_assert_int_eq(hitl_feedback_set_role(fb, 60, HITL_ROLE_ADJUDICATOR), HITL_OK);
        uint64_t adj = answer(fb, HITL_EVENT_LABEL, 1000, 60, 0, -1);
        expect_item(pool, 1000, HITL_ITEM_LABELED, 0);
        expect_settled(fb, 1000, HITL_SETTLED_AUTHORITY, adj);
        (void)answer(fb, HITL_EVENT_LABEL, 1000, 50, 1, -1);    /* reviewer again */
        expect_item(pool, 1000, HITL_ITEM_LABELED, 0);
        /* the adjudicator's answer withdrawn: the reviewer's latest stands */
        ck_assert_int_eq(hitl_feedback_retract(NULL, fb, adj, 60, HITL_TIME_NOW, "mistake"),
                         HITL_OK);
        expect_item(pool, 1000, HITL_ITEM_LABELED, 1);
        /* two of the same level: the later answer settles */
        ck_assert_int_eq(hitl_feedback_set_role(fb, 51, HITL_ROLE_REVIEWER), HITL_OK);
        uint64_t r2 = answer(fb, HITL_EVENT_CONFIRM, 1000, 51, 2, 2);
        expect_item(pool, 1000, HITL_ITEM_LABELED, 2);
        expect_settled(fb, 1000, HITL_SETTLED_AUTHORITY, r2);
        /* demoted: back to the vote of everyone */
        ck_assert_int_eq(hitl_feedback_set_role(fb, 51, HITL_ROLE_ANNOTATOR), HITL_OK);
        ck_assert_int_eq(hitl_feedback_set_role(fb, 50, HITL_ROLE_ANNOTATOR), HITL_OK);
        expect_item(pool, 1000, HITL_ITEM_LABELED, 1);
        /* gold outranks every authority */
        ck_assert_int_eq(hitl_feedback_set_role(fb, 50, 7), HITL_OK);
        uint64_t gold;
        ck_assert_int_eq(hitl_feedback_record(&gold, fb, HITL_EVENT_GOLD, 1000, 9, 0, NAN,
                                              -1, NAN, HITL_TIME_NOW, "from the contract"),
                         HITL_OK);
        expect_settled(fb, 1000, HITL_SETTLED_GOLD, gold);
        const char *why;
        ck_assert_int_eq(hitl_feedback_event_reason(&why, fb, gold), HITL_OK);
        ck_assert_str_eq(why, "from the contract");
        /* a lone reviewer's answer settles an item min_annotators would hold */
        uint64_t lone = answer(fb, HITL_EVENT_LABEL, 1006, 50, 2, -1);
        expect_settled(fb, 1006, HITL_SETTLED_AUTHORITY, lone);
        expect_item(pool, 1006, HITL_ITEM_LABELED, 2);
        hitl_feedback_free(fb);
        hitl_pool_free(pool);
    }
}
END_TEST

/* Pending and empty items are not settled; a pool item without events is
 * NONE; the calls check their arguments. */
START_TEST(settlement_and_roles_checks)
{
    hitl_pool *pool = make_pool(4);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_MIN_ANNOTATORS, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(fb, 1000, 1, 1), HITL_OK);
    expect_settled(fb, 1000, HITL_SETTLED_NONE, HITL_NO_EVENT);      /* pending */
    expect_settled(fb, 1003, HITL_SETTLED_NONE, HITL_NO_EVENT);      /* no events */
    ck_assert_int_eq(hitl_feedback_settlement(NULL, NULL, fb, 1001), HITL_OK);
    ck_assert_int_eq(hitl_feedback_settlement(NULL, NULL, NULL, 1001), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_settlement(NULL, NULL, fb, 7), HITL_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "id 7"));
    int32_t level = -5;
    ck_assert_int_eq(hitl_feedback_role(&level, fb, 12345), HITL_OK);
    ck_assert_int_eq(level, HITL_ROLE_ANNOTATOR);
    ck_assert_int_eq(hitl_feedback_role(NULL, fb, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_role(&level, NULL, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_set_role(NULL, 1, 100), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_set_role(fb, 1, -1), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "authority -1 is not in [0, 65535]"));
    ck_assert_int_eq(hitl_feedback_set_role(fb, 1, HITL_AUTHORITY_MAX + 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_role(&level, fb, 1), HITL_OK);
    ck_assert_int_eq(level, 0);
    ck_assert_int_eq(hitl_feedback_set_role(fb, 1, HITL_AUTHORITY_MAX), HITL_OK);
    ck_assert_int_eq(hitl_feedback_role(&level, fb, 1), HITL_OK);
    ck_assert_int_eq(level, HITL_AUTHORITY_MAX);
    expect_settled(fb, 1000, HITL_SETTLED_AUTHORITY, 0);             /* now settled */
    ck_assert_uint_eq(count(fb), 1);                 /* a role is not an event */
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* The audit trail: every event about an item, oldest first, with who,
 * what, why and what withdrew it. */
START_TEST(history)
{
    hitl_pool *pool = make_pool(4);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    uint64_t e0 = answer(fb, HITL_EVENT_LABEL, 1001, 1, 0, -1);
    (void)answer(fb, HITL_EVENT_LABEL, 1002, 1, 0, -1);
    uint64_t e2 = answer(fb, HITL_EVENT_OVERRIDE, 1001, 2, 1, 0);
    uint64_t e3, e4;
    ck_assert_int_eq(hitl_feedback_retract(&e3, fb, e0, 2, HITL_TIME_NOW, "typo"), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_gold(&e4, fb, 1001, 1, 3, HITL_TIME_NOW), HITL_OK);
    (void)answer(fb, HITL_EVENT_SKIP, 1003, 1, -1, -1);
    uint64_t ids[8] = {0};
    size_t n = 99;
    ck_assert_int_eq(hitl_feedback_history(&n, NULL, 0, fb, 1001), HITL_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(hitl_feedback_history(&n, ids, 8, fb, 1001), HITL_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert(ids[0] == e0 && ids[1] == e2 && ids[2] == e3 && ids[3] == e4);
    ck_assert_int_eq(hitl_feedback_history(&n, ids, 2, fb, 1001), HITL_OK);  /* the oldest */
    ck_assert(n == 4 && ids[0] == e0 && ids[1] == e2);
    uint64_t by;
    ck_assert_int_eq(hitl_feedback_event_links(NULL, &by, fb, e0), HITL_OK);
    ck_assert_uint_eq(by, e3);
    ck_assert_int_eq(hitl_feedback_history(&n, ids, 8, fb, 1000), HITL_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(hitl_feedback_history(&n, ids, 8, fb, 99), HITL_ENOTFOUND);
    ck_assert_int_eq(hitl_feedback_history(&n, NULL, 1, fb, 1001), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_history(NULL, ids, 8, fb, 1001), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_history(&n, ids, 8, NULL, 1001), HITL_EINVAL);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Dawid-Skene takes an item settled by authority as known, as it takes a
 * gold item: the other annotators' estimates are those of the gold case. */
START_TEST(authority_fixes_dawid_skene)
{
    double acc[2][3];
    for (int variant = 0; variant < 2; variant++) {
        hitl_pool *pool = make_pool(12);
        hitl_feedback *fb;
        ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                                 HITL_AGGREGATE_DAWID_SKENE), HITL_OK);
        ck_assert_int_eq(hitl_feedback_set_role(fb, 9, HITL_ROLE_ADJUDICATOR), HITL_OK);
        for (uint64_t it = 0; it < 12; it++)
            for (uint64_t a = 0; a < 3; a++)
                ck_assert_int_eq(hitl_feedback_label(fb, 1000 + it, a,
                                                     (int32_t)((it + (it % 4 == a)) % 3)),
                                 HITL_OK);
        for (uint64_t it = 0; it < 12; it += 5) {
            if (variant)
                ck_assert_int_eq(hitl_feedback_label(fb, 1000 + it, 9, 2), HITL_OK);
            else
                ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, 1000 + it, 2, 9,
                                                        HITL_TIME_NOW), HITL_OK);
        }
        ck_assert_int_eq(hitl_feedback_aggregate(fb), HITL_OK);
        for (uint64_t a = 0; a < 3; a++)
            ck_assert_int_eq(hitl_feedback_annotator_info(&acc[variant][a], fb, a,
                                                          HITL_ANNOTATOR_DS_ACCURACY), HITL_OK);
        expect_item(pool, 1005, HITL_ITEM_LABELED, 2);
        hitl_feedback_free(fb);
        hitl_pool_free(pool);
    }
    for (int a = 0; a < 3; a++)
        ck_assert_double_eq_tol(acc[0][a], acc[1][a], 1e-12);
}
END_TEST

/* With a class count on the pool, a larger label is refused before
 * anything is written, by the pool and by the feedback handle. */
START_TEST(pool_class_count)
{
    hitl_pool *pool = make_pool(4);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    size_t K = 9;
    ck_assert_int_eq(hitl_pool_classes(&K, pool), HITL_OK);
    ck_assert_uint_eq(K, 0);
    ck_assert_int_eq(hitl_pool_set_label(pool, 3, 12), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_classes(pool, 10), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "item 3 (id 1003) has label 12"));
    ck_assert_int_eq(hitl_pool_set_state(pool, 3, HITL_ITEM_UNLABELED), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_classes(pool, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_classes(pool, 65537), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_classes(NULL, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_classes(NULL, pool), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_classes(pool, 10), HITL_OK);
    ck_assert_int_eq(hitl_pool_classes(&K, pool), HITL_OK);
    ck_assert_uint_eq(K, 10);
    ck_assert_int_eq(hitl_pool_set_label(pool, 2, 10), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "not below the pool's 10 classes"));
    expect_item(pool, 1002, HITL_ITEM_UNLABELED, -1);
    ck_assert_int_eq(hitl_feedback_label(fb, 1002, 1, 10), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "label 10 is not below the pool's 10"));
    ck_assert_int_eq(hitl_feedback_set_gold(NULL, fb, 1002, 11, 1, HITL_TIME_NOW), HITL_EINVAL);
    ck_assert_uint_eq(count(fb), 0);
    expect_item(pool, 1002, HITL_ITEM_UNLABELED, -1);
    ck_assert_int_eq(hitl_feedback_label(fb, 1002, 1, 9), HITL_OK);
    expect_item(pool, 1002, HITL_ITEM_LABELED, 9);
    /* Dawid-Skene's class count is the pool's */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_DAWID_SKENE), HITL_OK);
    double em_k;
    ck_assert_int_eq(hitl_feedback_get_info(&em_k, fb, HITL_FEEDBACK_EM_CLASSES), HITL_OK);
    ck_assert_double_eq(em_k, 10);
    ck_assert_int_eq(hitl_pool_set_classes(pool, 0), HITL_OK);       /* forgotten */
    ck_assert_int_eq(hitl_pool_set_label(pool, 0, 40), HITL_OK);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* Roles under injected allocation failures: a failed call changes nothing. */
START_TEST(out_of_memory_roles)
{
    oom_install();
    hitl_pool *pool = make_pool(8);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    for (uint64_t a = 0; a < 3; a++)
        ck_assert_int_eq(hitl_feedback_label(fb, 1000 + a, a, 1), HITL_OK);
    for (uint64_t who = 0; who < 40; who++) {
        int rc;
        long fail_at = 0;
        do {
            oom_arm(fail_at++);
            rc = hitl_feedback_set_role(fb, who, HITL_ROLE_REVIEWER);
            oom_arm(-1);
            int32_t level;
            ck_assert_int_eq(hitl_feedback_role(&level, fb, who), HITL_OK);
            if (rc != HITL_OK) {
                ck_assert_int_eq(rc, HITL_ENOMEM);
                ck_assert_int_eq(level, 0);
            } else {
                ck_assert_int_eq(level, HITL_ROLE_REVIEWER);
            }
        } while (rc != HITL_OK);
    }
    expect_settled(fb, 1000, HITL_SETTLED_AUTHORITY, 0);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    oom_uninstall();
}
END_TEST

static Suite *feedback_suite(void)
{
    Suite *s = suite_create("feedback");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, create_and_free);
    tcase_add_test(tc, label_lands_in_pool);
    tcase_add_test(tc, majority_and_ties);
    tcase_add_test(tc, skips);
    tcase_add_test(tc, errors_change_nothing);
    tcase_add_test(tc, index_ids);
    tcase_add_test(tc, many_answers);
    tcase_add_test(tc, out_of_memory);
    tcase_add_test(tc, next_fit_uses_labels);
    suite_add_tcase(s, tc);
    TCase *ev = tcase_create("events");
    tcase_set_timeout(ev, 60);
    tcase_add_test(ev, event_fields);
    tcase_add_test(ev, event_validation);
    tcase_add_test(ev, retractions);
    tcase_add_test(ev, override_summary);
    tcase_add_test(ev, params);
    tcase_add_test(ev, consensus_control);
    tcase_add_test(ev, gold_and_annotators);
    tcase_add_test(ev, answers_accessor);
    tcase_add_test(ev, out_of_memory_events);
    suite_add_tcase(s, ev);
    TCase *au = tcase_create("authority");
    tcase_set_timeout(au, 60);
    tcase_add_test(au, authority_settles);
    tcase_add_test(au, settlement_and_roles_checks);
    tcase_add_test(au, history);
    tcase_add_test(au, authority_fixes_dawid_skene);
    tcase_add_test(au, pool_class_count);
    tcase_add_test(au, out_of_memory_roles);
    suite_add_tcase(s, au);
    return s;
}

HITL_TEST_MAIN(feedback_suite)
