/* The journal: replay restores the exact state, torn tails are cut, damage in
 * the middle is refused, a child killed with SIGKILL mid-stream loses no
 * acknowledged event and invents none, random corruption never yields a
 * record that was not written, I/O errors and out-of-memory leave nothing
 * behind. */
#define _DEFAULT_SOURCE 1   /* mkdtemp, usleep */
#include "testutil.h"
#include "internal.h"       /* pool->weight: the pool has no public weight getter */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_POOL 64
#define HEADER_BYTES 16     /* the journal header (hitl.h, "The journal") */

static char dir[64], path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/hitl-journal-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/j", dir);
}

static void teardown(void)
{
    char p[160];
    snprintf(p, sizeof p, "%s/j", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/k", dir);
    unlink(p);
    rmdir(dir);
}

static hitl_pool *make_pool(void)
{
    hitl_pool *pool;
    float rows[N_POOL] = {0};
    if (hitl_pool_create(&pool, 1) != HITL_OK ||
        hitl_pool_add(pool, rows, N_POOL, 1, NULL) != HITL_OK)
        return NULL;
    return pool;
}

/* ---- a deterministic stream of events of every kind -------------------------- */

typedef struct gen_event {
    hitl_event_kind kind;
    uint64_t item, annotator, target;
    int32_t label, shown;
    double conf, sconf;
    int64_t time;
    char reason[HITL_REASON_MAX + 1];
} gen_event;

static void gen(gen_event *e, uint64_t i)
{
    memset(e, 0, sizeof *e);
    e->item = (i * 7919) % N_POOL;
    e->annotator = i % 7;
    e->target = HITL_NO_EVENT;
    e->label = (int32_t)((i * 7) % 4);
    e->shown = -1;
    e->conf = e->sconf = NAN;
    e->time = INT64_C(1600000000000000) + (int64_t)i;
    switch (i % 10) {
    case 3:
        e->kind = HITL_EVENT_OVERRIDE;
        e->shown = (e->label + 1) % 4;
        e->conf = 0.5;
        e->sconf = 0.75;
        snprintf(e->reason, sizeof e->reason, "override %" PRIu64 " \xe2\x9c\x93", i);
        break;
    case 4:
        e->kind = HITL_EVENT_CONFIRM;
        e->shown = e->label;
        e->sconf = 0.25;
        break;
    case 5:
        e->kind = HITL_EVENT_SKIP;
        e->label = -1;
        break;
    case 6:
        e->kind = HITL_EVENT_GOLD;
        e->annotator = 1000;
        break;
    case 7: {
        e->kind = HITL_EVENT_LABEL;
        size_t len = (size_t)((i * 13) % (HITL_REASON_MAX + 1));
        for (size_t k = 0; k < len; k++)
            e->reason[k] = (char)('a' + (i + k) % 26);
        break;
    }
    case 9:
        e->kind = HITL_EVENT_RETRACT;
        e->target = i - 1;
        e->item = ((i - 1) * 7919) % N_POOL;
        e->label = -1;
        break;
    default:
        e->kind = HITL_EVENT_LABEL;
    }
}

static int put(hitl_feedback *fb, uint64_t i)
{
    gen_event e;
    gen(&e, i);
    uint64_t id = HITL_NO_EVENT;
    int rc;
    if (e.kind == HITL_EVENT_RETRACT)
        rc = hitl_feedback_retract(&id, fb, e.target, e.annotator, e.time, e.reason);
    else if (e.kind == HITL_EVENT_GOLD)
        rc = hitl_feedback_set_gold(&id, fb, e.item, e.label, e.annotator, e.time);
    else
        rc = hitl_feedback_record(&id, fb, e.kind, e.item, e.annotator, e.label,
                                  e.conf, e.shown, e.sconf, e.time, e.reason);
    if (rc == HITL_OK && id != i)
        return -100;
    return rc;
}

static void put_ok(hitl_feedback *fb, uint64_t i)
{
    int rc = put(fb, i);
    ck_assert_msg(rc == HITL_OK, "event %" PRIu64 ": %d %s", i, rc,
                  hitl_error_message());
}

/* Check records the place of every passing assertion with a write(2); the
 * comparisons below run millions of times in the property test, so they
 * fail as Check's do but cost nothing when they pass. */
#define SAME(cond, ...)                                                       \
    do {                                                                      \
        if (!(cond))                                                          \
            ck_abort_msg(__VA_ARGS__);                                        \
    } while (0)
#define OK(call) SAME((call) == HITL_OK, "%s: %s", #call, hitl_error_message())

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Event i of fb equals event j of ref, field by field. */
static void same_event(const hitl_feedback *fb, const hitl_feedback *ref,
                       uint64_t i)
{
    hitl_event_kind k1, k2;
    uint64_t it1, it2, a1, a2, t1, t2, r1, r2;
    int32_t l1, l2, s1, s2;
    double c1, c2, sc1, sc2;
    int64_t ts1, ts2;
    const char *re1, *re2;
    OK(hitl_feedback_event(&k1, &it1, &a1, &l1, &c1, &s1, &sc1, &ts1,
                                         fb, i));
    OK(hitl_feedback_event(&k2, &it2, &a2, &l2, &c2, &s2, &sc2, &ts2,
                                         ref, i));
    OK(hitl_feedback_event_links(&t1, &r1, fb, i));
    OK(hitl_feedback_event_links(&t2, &r2, ref, i));
    OK(hitl_feedback_event_reason(&re1, fb, i));
    OK(hitl_feedback_event_reason(&re2, ref, i));
    SAME(k1 == k2 && it1 == it2 && a1 == a2 && l1 == l2 && s1 == s2 &&
                  ts1 == ts2 && t1 == t2 && same_double(c1, c2) &&
                  same_double(sc1, sc2),
                  "event %" PRIu64 " differs", i);
    SAME((re1 == NULL) == (re2 == NULL), "(re1 == NULL) == (re2 == NULL)");
    if (re1)
        SAME(strcmp(re1, re2) == 0, "re1 differs");
    size_t n1, n2;
    int32_t f1[HITL_SHOWN_MAX], f2[HITL_SHOWN_MAX];
    float v1[HITL_SHOWN_MAX], v2[HITL_SHOWN_MAX];
    OK(hitl_feedback_event_shown(&n1, f1, v1, HITL_SHOWN_MAX, fb, i));
    OK(hitl_feedback_event_shown(&n2, f2, v2, HITL_SHOWN_MAX, ref, i));
    SAME(n1 == n2 && memcmp(f1, f2, n1 * sizeof *f1) == 0 &&
         memcmp(v1, v2, n1 * sizeof *v1) == 0, "explanation of event %" PRIu64 " differs", i);
    (void)r1;
    (void)r2;
}

/* Event i of fb is what gen(i) recorded. */
static void is_generated(const hitl_feedback *fb, uint64_t i)
{
    gen_event e;
    gen(&e, i);
    hitl_event_kind k;
    uint64_t item, a, t;
    int32_t l, s;
    double c, sc;
    int64_t ts;
    const char *r;
    ck_assert_int_eq(hitl_feedback_event(&k, &item, &a, &l, &c, &s, &sc, &ts, fb, i),
                     HITL_OK);
    ck_assert_int_eq(hitl_feedback_event_links(&t, NULL, fb, i), HITL_OK);
    ck_assert_int_eq(hitl_feedback_event_reason(&r, fb, i), HITL_OK);
    ck_assert_msg(k == e.kind && item == e.item && a == e.annotator &&
                  l == e.label && s == e.shown && ts == e.time &&
                  t == e.target && same_double(c, e.conf) &&
                  same_double(sc, e.sconf),
                  "event %" PRIu64 " is not the one written", i);
    ck_assert_str_eq(r ? r : "", e.reason);
}

static size_t count(const hitl_feedback *fb)
{
    size_t n;
    OK(hitl_feedback_count(&n, fb));
    return n;
}

static double finfo(const hitl_feedback *fb, hitl_feedback_info i)
{
    double v;
    OK(hitl_feedback_get_info(&v, fb, i));
    return v;
}

/* Everything observable about two handles and their pools is equal. */
static void same_state(const hitl_feedback *a, const hitl_pool *pa,
                       const hitl_feedback *b, const hitl_pool *pb)
{
    SAME((count(a)) == (count(b)), "count(a) != count(b)");
    for (uint64_t i = 0; i < count(a); i++)
        same_event(a, b, i);
    for (uint64_t id = 0; id < N_POOL; id++) {
        hitl_consensus s1, s2;
        int32_t l1, l2, pl1, pl2;
        double c1, c2, g1, g2;
        size_t n1, n2;
        hitl_item_state st1, st2;
        OK(hitl_feedback_item(&s1, &l1, &c1, &g1, &n1, a, id));
        OK(hitl_feedback_item(&s2, &l2, &c2, &g2, &n2, b, id));
        SAME(s1 == s2 && l1 == l2 && n1 == n2 && same_double(c1, c2) &&
                      same_double(g1, g2), "item %" PRIu64 " differs", id);
        OK(hitl_pool_item(NULL, &st1, &pl1, pa, id));
        OK(hitl_pool_item(NULL, &st2, &pl2, pb, id));
        SAME((st1) == (st2), "st1 != st2");
        SAME((pl1) == (pl2), "pl1 != pl2");
        SAME((pa->weight[id]) == (pb->weight[id]), "pa->weight[id] != pb->weight[id]");
        hitl_settlement h1, h2;
        uint64_t by1, by2, t1[256], t2[256];
        OK(hitl_feedback_settlement(&h1, &by1, a, id));
        OK(hitl_feedback_settlement(&h2, &by2, b, id));
        SAME(h1 == h2 && by1 == by2, "item %" PRIu64 " settled %d by %" PRIu64
                      " vs %d by %" PRIu64, id, (int)h1, by1, (int)h2, by2);
        OK(hitl_feedback_history(&n1, t1, 256, a, id));
        OK(hitl_feedback_history(&n2, t2, 256, b, id));
        SAME((n1) == (n2), "n1 != n2");
        SAME(memcmp(t1, t2, (n1 < 256 ? n1 : 256) * sizeof *t1) == 0, "t1 differs");
    }
    for (uint64_t who = 0; who < 8; who++) {
        int32_t r1, r2;
        OK(hitl_feedback_role(&r1, a, who));
        OK(hitl_feedback_role(&r2, b, who));
        SAME(r1 == r2, "annotator %" PRIu64 ": role %d vs %d", who, (int)r1, (int)r2);
    }
    uint64_t ids[64], ids2[64];
    size_t na, nb;
    OK(hitl_feedback_annotators(&na, ids, 64, a));
    OK(hitl_feedback_annotators(&nb, ids2, 64, b));
    SAME((na) == (nb), "na != nb");
    double K = finfo(a, HITL_FEEDBACK_EM_CLASSES);
    SAME((K) == (finfo(b, HITL_FEEDBACK_EM_CLASSES)), "K != finfo(b, HITL_FEEDBACK_EM_CLASSES)");
    for (size_t k = 0; k < na; k++) {
        SAME((ids[k]) == (ids2[k]), "ids[k] != ids2[k]");
        for (int info = HITL_ANNOTATOR_LABELS; info <= HITL_ANNOTATOR_DRIFT_AT; info++) {
            double v1, v2;
            OK(hitl_feedback_annotator_info(&v1, a, ids[k], info));
            OK(hitl_feedback_annotator_info(&v2, b, ids[k], info));
            SAME(same_double(v1, v2), "annotator %" PRIu64 " info %d: %g vs %g",
                          ids[k], info, v1, v2);
        }
        if (K > 0) {       /* an annotator the last fit has not seen: ESTATE on both */
            double m1[64], m2[64];
            int r1 = hitl_feedback_confusion(m1, a, ids[k], (size_t)K);
            SAME((r1) == (hitl_feedback_confusion(m2, b, ids[k], (size_t)K)), "r1 != hitl_feedback_confusion(m2, b, ids[k], (size_t)K)");
            if (r1 == HITL_OK)
                SAME(memcmp(m1, m2, (size_t)(K * K) * sizeof *m1) == 0, "m1 differs");
        }
    }
    OK(hitl_feedback_pending(&na, ids, 64, a));
    OK(hitl_feedback_pending(&nb, ids2, 64, b));
    SAME((na) == (nb), "na != nb");
    SAME(memcmp(ids, ids2, (na < 64 ? na : 64) * sizeof *ids) == 0, "ids differs");
    size_t n1, n2;
    OK(hitl_feedback_answers(&n1, NULL, NULL, NULL, 0, a));
    OK(hitl_feedback_answers(&n2, NULL, NULL, NULL, 0, b));
    SAME((n1) == (n2), "n1 != n2");
    size_t s1, s2, o1, o2;
    OK(hitl_feedback_overrides(&s1, &o1, a, -1));
    OK(hitl_feedback_overrides(&s2, &o2, b, -1));
    SAME(s1 == s2 && o1 == o2, "s1 == s2 && o1 == o2");
}


static unsigned char *slurp(const char *p, size_t *size)
{
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void spit(const char *p, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

static size_t file_size(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return (size_t)st.st_size;
}

/* Frame ends of a journal file: ends[k] = offset just past record k. */
static size_t frame_ends(const unsigned char *buf, size_t size, size_t *ends,
                         size_t max)
{
    size_t pos = 16, n = 0;
    while (pos + 4 <= size && n < max) {
        size_t len = buf[pos] | (size_t)buf[pos + 1] << 8 |
                     (size_t)buf[pos + 2] << 16 | (size_t)buf[pos + 3] << 24;
        pos += len + 8;
        ends[n++] = pos;
    }
    return n;
}

/* A journal of n generated events at path, closed; the handle is kept. */
static hitl_feedback *write_journal(hitl_pool **pool, size_t n, unsigned every)
{
    *pool = make_pool();
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, *pool), HITL_OK);
    /* at the base parameters (MAJORITY) the file holds the events only */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_MAJORITY), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, every), HITL_OK);
    for (uint64_t i = 0; i < n; i++)
        put_ok(fb, i);
    ck_assert_int_eq(hitl_feedback_close_journal(fb), HITL_OK);
    return fb;
}

/* ---- replay ---------------------------------------------------------------------- */

static void roundtrip(int method, int aggregate_first)
{
    hitl_pool *p1 = make_pool();
    hitl_feedback *f1;
    ck_assert_int_eq(hitl_feedback_create(&f1, p1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(f1, HITL_PARAM_AGGREGATION, method), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(f1, HITL_PARAM_MIN_ANNOTATORS, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f1, path, 0), HITL_OK);
    ck_assert_double_eq(finfo(f1, HITL_FEEDBACK_JOURNAL_OPEN), 1);
    for (uint64_t i = 0; i < 400; i++)
        put_ok(f1, i);
    if (aggregate_first)
        ck_assert_int_eq(hitl_feedback_aggregate(f1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_close_journal(f1), HITL_OK);
    ck_assert_double_eq(finfo(f1, HITL_FEEDBACK_JOURNAL_OPEN), 0);

    hitl_pool *p2 = make_pool();
    hitl_feedback *f2;
    ck_assert_int_eq(hitl_feedback_create(&f2, p2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(f2, HITL_PARAM_AGGREGATION, method), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(f2, HITL_PARAM_MIN_ANNOTATORS, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f2, path, 0), HITL_OK);
    ck_assert_double_eq(finfo(f2, HITL_FEEDBACK_JOURNAL_REPLAYED), 400);
    ck_assert_double_eq(finfo(f2, HITL_FEEDBACK_JOURNAL_DROPPED), 0);
    same_state(f1, p1, f2, p2);
    for (uint64_t i = 0; i < 400; i++)
        is_generated(f2, i);

    /* the replayed handle goes on where the first stopped */
    for (uint64_t i = 400; i < 450; i++) {
        put_ok(f2, i);
        put_ok(f1, i);
    }
    hitl_feedback_free(f2);            /* closes the journal */
    hitl_pool_free(p2);
    p2 = make_pool();
    ck_assert_int_eq(hitl_feedback_create(&f2, p2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(f2, HITL_PARAM_AGGREGATION, method), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(f2, HITL_PARAM_MIN_ANNOTATORS, 2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f2, path, 0), HITL_OK);
    /* the state of the handle that wrote the journal, without another
       aggregation: the journal holds the one the writer did */
    same_state(f1, p1, f2, p2);
    hitl_feedback_free(f1);
    hitl_feedback_free(f2);
    hitl_pool_free(p1);
    hitl_pool_free(p2);
}

START_TEST(replay_majority)
{
    roundtrip(HITL_AGGREGATE_MAJORITY, 0);
}
END_TEST

START_TEST(replay_weighted)
{
    roundtrip(HITL_AGGREGATE_WEIGHTED, 1);
}
END_TEST

START_TEST(replay_dawid_skene)
{
    roundtrip(HITL_AGGREGATE_DAWID_SKENE, 1);
}
END_TEST

/* A journal opened mid-way gets the events held so far. */
/* ---- replay equals the live state: a property test -------------------------------- */

static uint64_t prop_state;
static uint64_t prop_below(uint64_t n)
{
    return test_splitmix(&prop_state) % n;
}

/* Parameters and fit figures the handles must share too. */
static void same_params(const hitl_feedback *a, const hitl_feedback *b)
{
    for (int p = HITL_PARAM_AGGREGATION; p <= HITL_PARAM_DS_PRIOR; p++) {
        double x, y;
        OK(hitl_feedback_get_param(&x, a, (hitl_param)p));
        OK(hitl_feedback_get_param(&y, b, (hitl_param)p));
        SAME(same_double(x, y), "parameter %d: %g vs %g", p, x, y);
    }
    static const hitl_feedback_info fit[] = {
        HITL_FEEDBACK_EM_CLASSES, HITL_FEEDBACK_EM_ITERATIONS, HITL_FEEDBACK_EM_OBJECTIVE,
        HITL_FEEDBACK_EM_CONVERGED, HITL_FEEDBACK_AGGREGATION_USED, HITL_FEEDBACK_PRIOR_USED};
    for (size_t i = 0; i < sizeof fit / sizeof *fit; i++)
        SAME(same_double(finfo(a, fit[i]), finfo(b, fit[i])), "info %d differs", (int)fit[i]);
}

/* Once in some runs: a crowd labels every item, enough answers for
 * RECOMMENDED to fit a model (some items get a wrong label). */
static int prop_crowd;
static void crowd_step(hitl_feedback *fb, int K)
{
    prop_crowd = 0;
    for (uint64_t item = 0; item < N_POOL; item++)
        for (uint64_t who = 1; who <= 4; who++)
            (void)hitl_feedback_label(fb, item, who,
                                      (int32_t)((item + (prop_below(4) == 0)) % (uint64_t)K));
}

/* One random call on the live handle; a rejected call is part of the test
 * (it must leave the journal as it was). */
static void prop_step(hitl_feedback *fb, int K)
{
    uint64_t item = prop_below(12), who = 1 + prop_below(4), n_ev;
    int32_t label = (int32_t)prop_below((uint64_t)K);
    uint64_t id;
    OK(hitl_feedback_count(&n_ev, fb));
    switch (prop_below(26)) {
    case 0: case 1: case 2: case 3: case 4: case 5:
        (void)hitl_feedback_label(fb, item, who, label);
        break;
    case 6:
        (void)hitl_feedback_skip(fb, item, who);
        break;
    case 7: {
        int32_t shown = (int32_t)prop_below((uint64_t)K);
        hitl_event_kind kind = shown == label ? HITL_EVENT_CONFIRM : HITL_EVENT_OVERRIDE;
        int32_t feat[3] = { (int32_t)prop_below(50), 7, (int32_t)prop_below(1000) };
        float contrib[3] = { 0.5f, -0.25f * (float)label, 1e-3f * (float)shown };
        if (prop_below(2))   /* what the person was shown, explanation and all */
            (void)hitl_feedback_record_shown(&id, fb, kind, item, who, label, NAN, shown, 0.6,
                                             feat, contrib, 1 + prop_below(3), HITL_TIME_NOW,
                                             prop_below(2) ? "checked" : NULL);
        else
            (void)hitl_feedback_record(&id, fb, kind, item, who, label, NAN, shown,
                                       0.5 + 0.1 * (double)(label % 4), HITL_TIME_NOW,
                                       "checked");
        break;
    }
    case 8:
        if (n_ev)
            (void)hitl_feedback_retract(&id, fb, prop_below(n_ev), who, HITL_TIME_NOW, NULL);
        break;
    case 9:
        (void)hitl_feedback_set_gold(&id, fb, item, prop_below(3) ? label : -1, who,
                                     HITL_TIME_NOW);
        break;
    case 10: case 11:
        (void)hitl_feedback_aggregate(fb);
        break;
    case 12: case 13:
        (void)hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION, 1 + (double)prop_below(5));
        break;
    case 23: {
        static const double strength[] = {0, 0.5, 3, 40};
        (void)hitl_feedback_set_param(fb, HITL_PARAM_DS_PRIOR, strength[prop_below(4)]);
        break;
    }
    case 24:
        if (prop_crowd)
            crowd_step(fb, K);
        break;
    case 14:
        (void)hitl_feedback_set_param(fb, HITL_PARAM_MIN_ANNOTATORS, 1 + (double)prop_below(3));
        break;
    case 15: {
        static const double agree[] = {0, 0.5, 0.7, 1};
        (void)hitl_feedback_set_param(fb, HITL_PARAM_MIN_AGREEMENT, agree[prop_below(4)]);
        break;
    }
    case 16:
        (void)hitl_feedback_set_param(fb, HITL_PARAM_MIN_CONFIDENCE, 0.3 * (double)prop_below(3));
        break;
    case 17:
        (void)hitl_feedback_set_param(fb, HITL_PARAM_CONFIDENCE_WEIGHTS, (double)prop_below(2));
        break;
    case 18:
        (void)hitl_feedback_set_param(fb, HITL_PARAM_N_CLASSES,
                                      prop_below(2) ? 0 : (double)(K + (int)prop_below(2)));
        break;
    case 19:
        (void)hitl_feedback_set_param(fb, HITL_PARAM_EM_MAX_ITER, 3 + (double)prop_below(60));
        break;
    case 20: case 21: {
        static const int32_t level[] = {HITL_ROLE_ANNOTATOR, HITL_ROLE_REVIEWER,
                                        HITL_ROLE_ADJUDICATOR, 150};
        (void)hitl_feedback_set_role(fb, who, level[prop_below(4)]);
        break;
    }
    default:
        (void)hitl_feedback_record(&id, fb, HITL_EVENT_GOLD, item, who,
                                   prop_below(3) ? label : -1, NAN, -1, NAN, HITL_TIME_NOW,
                                   "known from the source");
        break;
    }
}

/* Close the live handle's journal and replay it into a fresh handle on a
 * fresh pool, which must equal the live one in every observable field.
 * Returns the replayed handle (its pool in *pool) to go on with, or frees
 * it when keep is 0. */
static hitl_feedback *replay_same(hitl_pool **pool, hitl_feedback *live,
                                  const hitl_pool *live_pool, int keep)
{
    ck_assert_int_eq(hitl_feedback_close_journal(live), HITL_OK);
    *pool = make_pool();
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, *pool), HITL_OK);
    int rc = hitl_feedback_open_journal(fb, path, 0);
    ck_assert_msg(rc == HITL_OK, "replay: %s", hitl_error_message());
    same_state(live, live_pool, fb, *pool);
    same_params(live, fb);
    if (keep)
        return fb;
    hitl_feedback_free(fb);
    hitl_pool_free(*pool);
    *pool = NULL;
    return NULL;
}

/* Random sequences of every kind of event, parameter change and
 * aggregation under every aggregation method, with the live handle now and
 * then replaced by its own replay (which must then go on exactly as the
 * original would have): the journal replayed into a fresh handle equals the
 * live handle in every observable field.  HITL_PROPERTY_RUNS sets the number
 * of sequences (default 2000, fixed seed; check-valgrind runs 100). */
START_TEST(replay_equals_live)
{
    const char *env = getenv("HITL_PROPERTY_RUNS");
    long runs = env ? atol(env) : 2000;
    /* durability is not what this test is about: a memory file system, when
       there is one, spares thousands of syncs of new files */
    char shm[64] = "/dev/shm/hitl-property-XXXXXX", saved[sizeof path];
    int in_memory = mkdtemp(shm) != NULL;
    memcpy(saved, path, sizeof path);
    if (in_memory)
        snprintf(path, sizeof path, "%s/j", shm);
    for (long run = 0; run < runs; run++) {
        prop_state = 0xC0FFEE + (uint64_t)run;
        int K = 2 + (int)prop_below(3);
        unlink(path);
        hitl_pool *pool = make_pool();
        hitl_feedback *live;
        ck_assert_int_eq(hitl_feedback_create(&live, pool), HITL_OK);
        /* RECOMMENDED, the default, is left unset */
        int method = 1 + (int)prop_below(5);
        if (method != HITL_AGGREGATE_RECOMMENDED)
            (void)hitl_feedback_set_param(live, HITL_PARAM_AGGREGATION, method);
        prop_crowd = prop_below(4) == 0;
        /* some events before the journal, some after */
        size_t before = prop_below(15), steps = 40 + prop_below(80);
        for (size_t i = 0; i < before; i++)
            prop_step(live, K);
        ck_assert_int_eq(hitl_feedback_open_journal(live, path, 0), HITL_OK);
        for (size_t i = 0; i < steps; i++) {
            prop_step(live, K);
            if (prop_below(40) == 0) {    /* the live handle becomes its replay */
                hitl_pool *p2;
                hitl_feedback *again = replay_same(&p2, live, pool, 1);
                hitl_feedback_free(live);
                hitl_pool_free(pool);
                live = again;
                pool = p2;
            }
        }
        hitl_pool *p2;
        replay_same(&p2, live, pool, 0);
        hitl_feedback_free(live);
        hitl_pool_free(pool);
    }
    if (in_memory) {
        unlink(path);
        rmdir(shm);
    }
    memcpy(path, saved, sizeof path);
}
END_TEST

/* ---- journals written while MAJORITY was the default -------------------------- */

/* A copy of the fixture opened by a fresh handle, whose aggregation is the
 * default (RECOMMENDED) unless `method` > 0 sets one first. */
static hitl_feedback *open_fixture(hitl_pool **pool, const char *name, int method,
                                   const char *to)
{
    char src[512];
    size_t size;
    snprintf(src, sizeof src, "%s/tests/fixtures/%s", HITL_SRCDIR, name);
    unsigned char *bytes = slurp(src, &size);
    spit(to, bytes, size);
    free(bytes);
    float rows[100] = {0};
    ck_assert_int_eq(hitl_pool_create(pool, 1), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(*pool, rows, 100, 1, NULL), HITL_OK);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, *pool), HITL_OK);
    if (method > 0)
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION, method),
                         HITL_OK);
    int rc = hitl_feedback_open_journal(fb, to, 0);
    ck_assert_msg(rc == HITL_OK, "%s: %s", name, hitl_error_message());
    return fb;
}

static int32_t label_of(const hitl_feedback *fb, size_t index)
{
    int32_t label;
    ck_assert_int_eq(hitl_feedback_item(NULL, &label, NULL, NULL, NULL, fb, index), HITL_OK);
    return label;
}

/* The fixtures (tests/fixtures/README) were written by the library whose
 * default was MAJORITY, without setting a method: a handle of today, whose
 * default is RECOMMENDED, replays them to the majority vote they had, and
 * RECOMMENDED would have given other labels. */
static void replays_as_majority(const char *name)
{
    hitl_pool *p1, *p2;
    char other[160];
    snprintf(other, sizeof other, "%s/mv", dir);
    hitl_feedback *now = open_fixture(&p1, name, 0, path),
                  *mv = open_fixture(&p2, name, HITL_AGGREGATE_MAJORITY, other);
    double method;
    ck_assert_int_eq(hitl_feedback_get_param(&method, now, HITL_PARAM_AGGREGATION), HITL_OK);
    ck_assert_double_eq(method, HITL_AGGREGATE_MAJORITY);
    ck_assert_uint_eq(count(now), 300);
    for (size_t i = 0; i < 100; i++) {
        ck_assert_int_eq(label_of(now, i), label_of(mv, i));
        /* a vote's confidence is its share of the labels */
        double confidence, agreement;
        ck_assert_int_eq(hitl_feedback_item(NULL, NULL, &confidence, &agreement, NULL, now,
                                            i), HITL_OK);
        ck_assert_double_eq_tol(confidence, agreement, 1e-12);
    }
    ck_assert_int_eq(hitl_feedback_close_journal(mv), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(mv, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_RECOMMENDED), HITL_OK);
    size_t differ = 0;
    for (size_t i = 0; i < 100; i++)
        differ += label_of(now, i) != label_of(mv, i);
    ck_assert_uint_gt(differ, 0);
    hitl_feedback_free(now);
    hitl_feedback_free(mv);
    hitl_pool_free(p1);
    hitl_pool_free(p2);
    unlink(other);
}

START_TEST(old_journals_replay_as_majority)
{
    replays_as_majority("majority_v1.journal");
    replays_as_majority("majority_v2.journal");
}
END_TEST

/* From now on a journal records the default aggregation: reopened, even by
 * a handle that chose another method first, it is RECOMMENDED's. */
START_TEST(new_journal_records_default)
{
    hitl_pool *p1 = make_pool(), *p2 = make_pool();
    hitl_feedback *f1, *f2;
    ck_assert_int_eq(hitl_feedback_create(&f1, p1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f1, path, 0), HITL_OK);
    for (uint64_t i = 0; i < 20; i++)
        put_ok(f1, i);
    ck_assert_int_eq(hitl_feedback_close_journal(f1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_create(&f2, p2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(f2, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_WEIGHTED), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f2, path, 0), HITL_OK);
    double method;
    ck_assert_int_eq(hitl_feedback_get_param(&method, f2, HITL_PARAM_AGGREGATION), HITL_OK);
    ck_assert_double_eq(method, HITL_AGGREGATE_RECOMMENDED);
    same_state(f1, p1, f2, p2);
    hitl_feedback_free(f1);
    hitl_feedback_free(f2);
    hitl_pool_free(p1);
    hitl_pool_free(p2);
}
END_TEST

/* The case found by hand: three annotators who disagree and an override,
 * under Dawid-Skene; the reopened journal gives every item the class the
 * live pool has, without another aggregation. */
START_TEST(replay_dawid_skene_override)
{
    hitl_pool *pool = make_pool();
    hitl_feedback *live;
    ck_assert_int_eq(hitl_feedback_create(&live, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(live, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_DAWID_SKENE), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(live, path, 0), HITL_OK);
    static const int32_t said[6][3] = {{0, 0, 1}, {1, 1, 2}, {2, 2, 2},
                                       {1, 3, 3}, {0, 1, 1}, {2, 0, 2}};
    for (uint64_t item = 0; item < 6; item++)
        for (uint64_t a = 0; a < 3; a++)
            ck_assert_int_eq(hitl_feedback_label(live, item, a + 1, said[item][a]), HITL_OK);
    ck_assert_int_eq(hitl_feedback_aggregate(live), HITL_OK);
    uint64_t id;
    ck_assert_int_eq(hitl_feedback_record(&id, live, HITL_EVENT_OVERRIDE, 3, 9, 3, NAN, 1,
                                          NAN, HITL_TIME_NOW, "reviewer"), HITL_OK);
    ck_assert_int_eq(hitl_feedback_label(live, 5, 4, 3), HITL_OK);
    hitl_pool *p2;
    replay_same(&p2, live, pool, 0);
    hitl_feedback_free(live);
    hitl_pool_free(pool);
}
END_TEST


static unsigned file_version(void)
{
    size_t n;
    unsigned char *b = slurp(path, &n);
    ck_assert_uint_ge(n, 16);
    unsigned v = b[8];
    free(b);
    return v;
}

/* What a person was shown: a journal without explanations stays version 1
 * and replays byte for byte unchanged; the first explanation makes it
 * version 3 (by way of 2: the parameters first); everything replays. */
START_TEST(shown_explanations)
{
    unlink(path);
    hitl_pool *pool = make_pool();
    hitl_feedback *live;
    ck_assert_int_eq(hitl_feedback_create(&live, pool), HITL_OK);
    /* the base aggregation: the journal holds no control record */
    ck_assert_int_eq(hitl_feedback_set_param(live, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_MAJORITY), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(live, path, 0), HITL_OK);
    for (uint64_t i = 0; i < 25; i++)
        put_ok(live, i);
    ck_assert_uint_eq(file_version(), 1);
    size_t n0;
    unsigned char *old = slurp(path, &n0);
    hitl_pool *p2;
    hitl_feedback *again = replay_same(&p2, live, pool, 1);
    hitl_feedback_free(live);
    hitl_pool_free(pool);
    live = again;
    pool = p2;
    size_t n1;
    unsigned char *now = slurp(path, &n1);
    ck_assert(n0 == n1 && memcmp(old, now, n0) == 0);   /* replay wrote nothing */
    free(old);
    free(now);

    int32_t feat[3] = { 4, 0, 11 };
    float contrib[3] = { 1.5f, -0.75f, 0.125f };
    uint64_t id;
    ck_assert_int_eq(hitl_feedback_set_param(live, HITL_PARAM_MIN_ANNOTATORS, 2), HITL_OK);
    ck_assert_uint_eq(file_version(), 2);
    ck_assert_int_eq(hitl_feedback_record_shown(&id, live, HITL_EVENT_OVERRIDE, 3, 2, 1, NAN,
                                                0, 0.8, feat, contrib, 3, HITL_TIME_NOW,
                                                "charge vs money back"), HITL_OK);
    ck_assert_uint_eq(file_version(), 3);
    size_t n;
    int32_t f[HITL_SHOWN_MAX];
    float v[HITL_SHOWN_MAX];
    ck_assert_int_eq(hitl_feedback_event_shown(&n, f, v, 2, live, id), HITL_OK);
    ck_assert(n == 3 && f[0] == 4 && f[1] == 0 && v[0] == 1.5f && v[1] == -0.75f);
    ck_assert_int_eq(hitl_feedback_event_shown(&n, NULL, NULL, 0, live, 0), HITL_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(hitl_feedback_event_shown(&n, f, v, 3, live, id + 1), HITL_ENOTFOUND);
    /* refused: nothing recorded */
    size_t before;
    ck_assert_int_eq(hitl_feedback_count(&before, live), HITL_OK);
    ck_assert_int_eq(hitl_feedback_record_shown(NULL, live, HITL_EVENT_LABEL, 3, 2, 1, NAN, -1,
                                                NAN, feat, contrib, 1, HITL_TIME_NOW, NULL),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_record_shown(NULL, live, HITL_EVENT_LABEL, 3, 2, 1, NAN, 0,
                                                NAN, feat, contrib, HITL_SHOWN_MAX + 1,
                                                HITL_TIME_NOW, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_record_shown(NULL, live, HITL_EVENT_SKIP, 3, 2, -1, NAN, 0,
                                                NAN, feat, contrib, 1, HITL_TIME_NOW, NULL),
                     HITL_EINVAL);
    contrib[1] = NAN;
    ck_assert_int_eq(hitl_feedback_record_shown(NULL, live, HITL_EVENT_LABEL, 3, 2, 1, NAN, 0,
                                                NAN, feat, contrib, 2, HITL_TIME_NOW, NULL),
                     HITL_EINVAL);
    feat[0] = -1;
    contrib[1] = 0;
    ck_assert_int_eq(hitl_feedback_record_shown(NULL, live, HITL_EVENT_LABEL, 3, 2, 1, NAN, 0,
                                                NAN, feat, contrib, 1, HITL_TIME_NOW, NULL),
                     HITL_EINVAL);
    size_t after;
    ck_assert_int_eq(hitl_feedback_count(&after, live), HITL_OK);
    ck_assert_uint_eq(before, after);
    replay_same(&p2, live, pool, 0);
    hitl_feedback_free(live);
    hitl_pool_free(pool);

    /* held events with an explanation: a new journal is version 3 at once */
    unlink(path);
    pool = make_pool();
    ck_assert_int_eq(hitl_feedback_create(&live, pool), HITL_OK);
    feat[0] = 2;
    ck_assert_int_eq(hitl_feedback_record_shown(NULL, live, HITL_EVENT_CONFIRM, 1, 2, -1, 0.9,
                                                2, 0.7, feat, contrib, 2, HITL_TIME_NOW, NULL),
                     HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(live, path, 0), HITL_OK);
    ck_assert_uint_eq(file_version(), 3);
    replay_same(&p2, live, pool, 0);
    hitl_feedback_free(live);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(journal_mid_session)
{
    hitl_pool *p1 = make_pool();
    hitl_feedback *f1;
    ck_assert_int_eq(hitl_feedback_create(&f1, p1), HITL_OK);
    for (uint64_t i = 0; i < 30; i++)
        put_ok(f1, i);
    ck_assert_int_eq(hitl_feedback_open_journal(f1, path, 3), HITL_OK);
    for (uint64_t i = 30; i < 40; i++)
        put_ok(f1, i);
    ck_assert_int_eq(hitl_feedback_close_journal(f1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_close_journal(f1), HITL_OK);   /* none: OK */

    hitl_pool *p2 = make_pool();
    hitl_feedback *f2;
    ck_assert_int_eq(hitl_feedback_create(&f2, p2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f2, path, 1), HITL_OK);
    same_state(f1, p1, f2, p2);
    /* a journal with records cannot be replayed into a handle with events */
    hitl_feedback *f3;
    ck_assert_int_eq(hitl_feedback_close_journal(f2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f1, path, 1), HITL_ESTATE);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "already holds 40 events"));
    /* a header-only journal takes the handle's events */
    char other[160];
    snprintf(other, sizeof other, "%s/k", dir);
    unsigned char head[16];
    size_t size;
    unsigned char *buf = slurp(path, &size);
    memcpy(head, buf, 16);
    free(buf);
    spit(other, head, 16);
    ck_assert_int_eq(hitl_feedback_open_journal(f1, other, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_close_journal(f1), HITL_OK);
    hitl_pool *p3 = make_pool();
    ck_assert_int_eq(hitl_feedback_create(&f3, p3), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f3, other, 1), HITL_OK);
    same_state(f1, p1, f3, p3);
    hitl_feedback_free(f1);
    hitl_feedback_free(f2);
    hitl_feedback_free(f3);
    hitl_pool_free(p1);
    hitl_pool_free(p2);
    hitl_pool_free(p3);
}
END_TEST

/* ---- damage ----------------------------------------------------------------------- */

START_TEST(torn_tail_is_cut)
{
    hitl_pool *pool;
    hitl_feedback *ref = write_journal(&pool, 20, 1);
    size_t size, ends[32];
    unsigned char *orig = slurp(path, &size);
    ck_assert_uint_eq(frame_ends(orig, size, ends, 32), 20);
    ck_assert_uint_eq(ends[19], size);
    /* cuts inside the last two records: every byte of the length fields and
       the first bytes, then every 5th */
    for (size_t cut = ends[17] + 1; cut < size;
         cut += cut < ends[17] + 12 || (cut >= ends[18] && cut < ends[18] + 12) ? 1 : 5) {
        spit(path, orig, cut);
        hitl_pool *p = make_pool();
        hitl_feedback *fb;
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_OK);
        size_t keep = cut >= ends[18] ? 19 : 18;
        ck_assert_uint_eq(count(fb), keep);
        ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_DROPPED),
                            (double)(cut - ends[keep - 1]));
        ck_assert_uint_eq(file_size(path), ends[keep - 1]);
        for (uint64_t i = 0; i < keep; i++)
            same_event(fb, ref, i);
        /* appending goes on after the cut */
        put_ok(fb, keep);
        ck_assert_int_eq(hitl_feedback_close_journal(fb), HITL_OK);
        hitl_feedback_free(fb);
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_OK);
        ck_assert_uint_eq(count(fb), keep + 1);
        ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_DROPPED), 0);
        is_generated(fb, keep);
        hitl_feedback_free(fb);
        hitl_pool_free(p);
    }
    /* zeros (a power loss extending the file) and garbage after the end */
    unsigned char *more = malloc(size + 300);
    memcpy(more, orig, size);
    memset(more + size, 0, 300);
    for (int garbage = 0; garbage < 2; garbage++) {
        if (garbage)
            for (size_t k = 0; k < 300; k++)
                more[size + k] = (unsigned char)(k * 37 + 11);
        spit(path, more, size + 300);
        hitl_feedback *fb;
        hitl_pool *p = make_pool();
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_OK);
        ck_assert_uint_eq(count(fb), 20);
        ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_DROPPED), 300);
        ck_assert_uint_eq(file_size(path), size);
        hitl_feedback_free(fb);
        hitl_pool_free(p);
    }
    free(more);
    /* a journal whose only record is torn holds no record: a handle that
       already has events attaches it, the torn bytes are cut and its events
       written after the header */
    for (size_t cut = HEADER_BYTES + 1; cut < ends[0]; cut += 7) {
        spit(path, orig, cut);
        hitl_feedback *fb;
        hitl_pool *p = make_pool();
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        put_ok(fb, 0);
        put_ok(fb, 1);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_OK);
        ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_DROPPED),
                            (double)(cut - HEADER_BYTES));
        put_ok(fb, 2);
        hitl_feedback *f2;
        hitl_pool *p2 = make_pool();
        ck_assert_int_eq(hitl_feedback_create(&f2, p2), HITL_OK);
        ck_assert_int_eq(hitl_feedback_open_journal(f2, path, 1), HITL_EIO);
        ck_assert_int_eq(hitl_feedback_close_journal(fb), HITL_OK);
        ck_assert_int_eq(hitl_feedback_open_journal(f2, path, 1), HITL_OK);
        ck_assert_uint_eq(count(f2), 3);
        ck_assert_double_eq(finfo(f2, HITL_FEEDBACK_JOURNAL_DROPPED), 0);
        for (uint64_t i = 0; i < 3; i++)
            same_event(f2, fb, i);
        hitl_feedback_free(f2);
        hitl_pool_free(p2);
        hitl_feedback_free(fb);
        hitl_pool_free(p);
    }
    /* a whole record is a record: that handle is refused, file untouched */
    spit(path, orig, ends[0] + 5);
    {
        hitl_feedback *fb;
        hitl_pool *p = make_pool();
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        put_ok(fb, 0);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_ESTATE);
        ck_assert_uint_eq(file_size(path), ends[0] + 5);
        hitl_feedback_free(fb);
        hitl_pool_free(p);
    }
    free(orig);
    hitl_feedback_free(ref);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(middle_damage_is_refused)
{
    hitl_pool *pool;
    hitl_feedback *ref = write_journal(&pool, 20, 1);
    size_t size, ends[32];
    unsigned char *orig = slurp(path, &size);
    frame_ends(orig, size, ends, 32);
    unsigned char *bad = malloc(size);
    size_t spots[] = {ends[4] + 2, ends[4] + 20, ends[9] - 1, ends[9], 20};
    for (size_t k = 0; k < sizeof spots / sizeof *spots; k++) {
        memcpy(bad, orig, size);
        bad[spots[k]] ^= 0x40;
        spit(path, bad, size);
        hitl_pool *p = make_pool();
        hitl_feedback *fb;
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_EFORMAT);
        ck_assert_ptr_nonnull(strstr(hitl_error_message(), "a good record follows"));
        /* nothing changed: the file, the handle, the pool */
        size_t now;
        unsigned char *after = slurp(path, &now);
        ck_assert_uint_eq(now, size);
        ck_assert_mem_eq(after, bad, size);
        free(after);
        ck_assert_uint_eq(count(fb), 0);
        ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_OPEN), 0);
        size_t labeled;
        ck_assert_int_eq(hitl_pool_count(&labeled, p, HITL_ITEM_LABELED), HITL_OK);
        ck_assert_uint_eq(labeled, 0);
        ck_assert_int_eq(hitl_feedback_label(fb, 1, 1, 1), HITL_OK);
        hitl_feedback_free(fb);
        hitl_pool_free(p);
    }
    free(bad);
    free(orig);
    hitl_feedback_free(ref);
    hitl_pool_free(pool);
}
END_TEST

/* The search for a good record after damage covers 1 MiB: a longer
 * damaged stretch is refused, file untouched, unless all past that MiB is
 * zero bytes (lost writes that had grown the file), which is cut. */
START_TEST(long_damage_is_bounded)
{
    hitl_pool *pool;
    hitl_feedback *ref = write_journal(&pool, 20, 1);
    size_t size, extra = ((size_t)1 << 20) + 4096;
    unsigned char *orig = slurp(path, &size);
    unsigned char *more = malloc(size + extra);
    memcpy(more, orig, size);
    for (int zeros = 0; zeros < 2; zeros++) {
        for (size_t k = 0; k < extra; k++)   /* garbage, then (zeros) a zero tail */
            more[size + k] = zeros && k >= ((size_t)1 << 20) ? 0
                                                             : (unsigned char)(k * 37 + 11);
        spit(path, more, size + extra);
        hitl_pool *p = make_pool();
        hitl_feedback *fb;
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        if (!zeros) {
            ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_EFORMAT);
            ck_assert_ptr_nonnull(strstr(hitl_error_message(), "more than a torn write"));
            ck_assert_uint_eq(file_size(path), size + extra);
            ck_assert_uint_eq(count(fb), 0);
            ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_OPEN), 0);
        } else {
            ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_OK);
            ck_assert_uint_eq(count(fb), 20);
            ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_DROPPED), (double)extra);
            ck_assert_uint_eq(file_size(path), size);
        }
        hitl_feedback_free(fb);
        hitl_pool_free(p);
    }
    /* the same for a handle that already holds events and attaches a file
       whose only bytes after the header are damaged */
    memcpy(more, orig, HEADER_BYTES);
    for (size_t k = 0; k < extra; k++)
        more[HEADER_BYTES + k] = (unsigned char)(k * 37 + 11);
    spit(path, more, HEADER_BYTES + extra);
    {
        hitl_pool *p = make_pool();
        hitl_feedback *fb;
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        put_ok(fb, 0);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_EFORMAT);
        ck_assert_ptr_nonnull(strstr(hitl_error_message(), "more than a torn write"));
        ck_assert_uint_eq(file_size(path), HEADER_BYTES + extra);
        hitl_feedback_free(fb);
        hitl_pool_free(p);
    }
    free(more);
    free(orig);
    hitl_feedback_free(ref);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(headers)
{
    hitl_pool *pool;
    hitl_feedback *ref = write_journal(&pool, 3, 1);
    size_t size;
    unsigned char *orig = slurp(path, &size);
    unsigned char *bad = malloc(size);
    struct { size_t at; unsigned char val; const char *msg; } cases[] = {
        {0, 'X', "not a libhitl journal"},
        {8, 2, "checksum"},
        {13, 0xff, "checksum"},
    };
    for (size_t k = 0; k < 3; k++) {
        memcpy(bad, orig, size);
        bad[cases[k].at] = cases[k].val;
        spit(path, bad, size);
        hitl_pool *p = make_pool();
        hitl_feedback *fb;
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_EFORMAT);
        ck_assert_ptr_nonnull(strstr(hitl_error_message(), cases[k].msg));
        hitl_feedback_free(fb);
        hitl_pool_free(p);
    }
    /* version 4 with a valid header checksum: unsupported */
    memcpy(bad, orig, size);
    bad[8] = 4;
    uint32_t c = ref_crc32(bad, 12);
    for (int b = 0; b < 4; b++)
        bad[12 + b] = (unsigned char)(c >> (8 * b));
    spit(path, bad, size);
    hitl_pool *p = make_pool();
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
    /* (the fresh journals below then hold no control record, as orig) */
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_MAJORITY), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_EFORMAT);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "version 4"));
    /* a short file that is not a journal */
    spit(path, (const unsigned char *)"HELLO", 5);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_EFORMAT);
    /* a header torn while the file was created: started afresh */
    for (size_t cut = 1; cut < 16; cut++) {
        spit(path, orig, cut);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_OK);
        ck_assert_uint_eq(file_size(path), 16);
        ck_assert_int_eq(hitl_feedback_close_journal(fb), HITL_OK);
    }
    unsigned char *fresh = slurp(path, &size);
    ck_assert_mem_eq(fresh, orig, 16);
    free(fresh);
    hitl_feedback_free(fb);
    hitl_pool_free(p);
    free(bad);
    free(orig);
    hitl_feedback_free(ref);
    hitl_pool_free(pool);
}
END_TEST

/* A record whose item the pool lacks: the journal belongs to another pool. */
START_TEST(pool_mismatch)
{
    hitl_pool *pool;
    hitl_feedback *ref = write_journal(&pool, 30, 1);
    hitl_pool *small;
    float rows[8] = {0};
    ck_assert_int_eq(hitl_pool_create(&small, 1), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(small, rows, 8, 1, NULL), HITL_OK);
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, small), HITL_OK);
    size_t size;
    unsigned char *orig = slurp(path, &size);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "journal record at offset"));
    ck_assert_uint_eq(count(fb), 0);
    size_t labeled, now;
    ck_assert_int_eq(hitl_pool_count(&labeled, small, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_uint_eq(labeled, 0);
    unsigned char *after = slurp(path, &now);
    ck_assert_uint_eq(now, size);
    ck_assert_mem_eq(after, orig, size);
    free(after);
    free(orig);
    hitl_feedback_free(fb);
    hitl_pool_free(small);
    hitl_feedback_free(ref);
    hitl_pool_free(pool);
}
END_TEST

/* ---- states, errors and policies ------------------------------------------------- */

START_TEST(states_and_locks)
{
    hitl_pool *pool = make_pool();
    hitl_feedback *a, *b;
    ck_assert_int_eq(hitl_feedback_create(&a, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_create(&b, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(NULL, path, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_open_journal(a, NULL, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_sync(a), HITL_ESTATE);
    ck_assert_int_eq(hitl_feedback_sync(NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_close_journal(NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_feedback_open_journal(a, path, 1), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(a, path, 1), HITL_ESTATE);
    /* a second handle on the same file is locked out */
    ck_assert_int_eq(hitl_feedback_open_journal(b, path, 1), HITL_EIO);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "in use"));
    ck_assert_double_eq(finfo(b, HITL_FEEDBACK_JOURNAL_OPEN), 0);
    put_ok(a, 0);
    ck_assert_int_eq(hitl_feedback_close_journal(a), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(b, path, 1), HITL_OK);
    ck_assert_uint_eq(count(b), 1);
    hitl_feedback_free(a);
    hitl_feedback_free(b);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(fsync_policies)
{
    hitl_pool *pool = make_pool();
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                             HITL_AGGREGATE_MAJORITY), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 0), HITL_OK);
    for (uint64_t i = 0; i < 5; i++) {
        put_ok(fb, i);
        ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_UNSYNCED), (double)i + 1);
    }
    ck_assert_int_eq(hitl_feedback_sync(fb), HITL_OK);
    ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_UNSYNCED), 0);
    ck_assert_int_eq(hitl_feedback_close_journal(fb), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 3), HITL_ESTATE);
    hitl_feedback_free(fb);
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 3), HITL_OK);
    double want[] = {1, 2, 0, 1, 2, 0, 1};
    for (uint64_t i = 5; i < 12; i++) {
        put_ok(fb, i);
        ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_UNSYNCED), want[i - 5]);
    }
    ck_assert_int_eq(hitl_feedback_close_journal(fb), HITL_OK);
    hitl_feedback_free(fb);
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_OK);
    ck_assert_uint_eq(count(fb), 12);
    put_ok(fb, 12);
    ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_UNSYNCED), 0);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(io_errors)
{
    hitl_pool *pool = make_pool();
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    put_ok(fb, 0);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, "/nonexistent-hitl/dir/j", 1),
                     HITL_EIO);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "/nonexistent-hitl/dir/j"));
    ck_assert_int_eq(hitl_feedback_open_journal(fb, dir, 1), HITL_EIO);
    if (access("/dev/full", W_OK) == 0) {
        ck_assert_int_eq(hitl_feedback_open_journal(fb, "/dev/full", 1), HITL_EIO);
        ck_assert_ptr_nonnull(strstr(hitl_error_message(), "writing the journal"));
    }
    ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_OPEN), 0);
    ck_assert_uint_eq(count(fb), 1);

    /* a write that fails mid-session (file size limit): the event is not
       recorded, the file is cut back, and the journal goes on */
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 0), HITL_OK);
    size_t size = file_size(path);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = size + 200;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint64_t i = 1;
    int rc;
    while ((rc = put(fb, i)) == HITL_OK)
        i++;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    ck_assert_int_eq(rc, HITL_EIO);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "writing to the journal"));
    ck_assert_uint_eq(count(fb), i);
    size_t cut = file_size(path);
    ck_assert(cut <= size + 200);
    put_ok(fb, i);
    ck_assert_int_eq(hitl_feedback_close_journal(fb), HITL_OK);
    hitl_pool *p2 = make_pool();
    hitl_feedback *f2;
    ck_assert_int_eq(hitl_feedback_create(&f2, p2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f2, path, 1), HITL_OK);
    ck_assert_uint_eq(count(f2), i + 1);
    ck_assert_double_eq(finfo(f2, HITL_FEEDBACK_JOURNAL_DROPPED), 0);
    for (uint64_t k = 0; k <= i; k++)
        is_generated(f2, k);
    hitl_feedback_free(f2);
    hitl_pool_free(p2);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
}
END_TEST

/* A write that fails and cannot be cut back (here: the descriptor swapped
 * for a read-only one behind the library's back) poisons the journal: every
 * later recording call fails with HITL_EIO until it is closed and reopened;
 * nothing is recorded meanwhile. */
START_TEST(failed_journal)
{
    hitl_pool *pool = make_pool();
    hitl_feedback *fb;
    ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_OK);
    for (uint64_t i = 0; i < 5; i++)
        put_ok(fb, i);
    int ro = open("/dev/null", O_RDONLY);
    ck_assert_int_ge(ro, 0);
    ck_assert_int_ge(dup2(ro, fb->journal.fd), 0);
    close(ro);
    ck_assert_int_eq(put(fb, 5), HITL_EIO);
    ck_assert_int_eq(put(fb, 5), HITL_EIO);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "failed earlier"));
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "new handle"));
    ck_assert_int_eq(hitl_feedback_sync(fb), HITL_EIO);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "new handle"));
    ck_assert_uint_eq(count(fb), 5);
    ck_assert_int_eq(hitl_feedback_close_journal(fb), HITL_OK);
    ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_OPEN), 0);
    put_ok(fb, 5);                  /* in memory only now */
    hitl_pool *p2 = make_pool();
    hitl_feedback *f2;
    ck_assert_int_eq(hitl_feedback_create(&f2, p2), HITL_OK);
    ck_assert_int_eq(hitl_feedback_open_journal(f2, path, 1), HITL_OK);
    ck_assert_uint_eq(count(f2), 5);
    for (uint64_t i = 0; i < 5; i++)
        same_event(f2, fb, i);
    hitl_feedback_free(f2);
    hitl_feedback_free(fb);
    hitl_pool_free(p2);
    hitl_pool_free(pool);
}
END_TEST

/* ---- crashes ---------------------------------------------------------------------- */

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* The child: reopen the journal (fsync per event), announce where it
 * starts, then append events and report each one whose call returned. */
static void child(int out)
{
    hitl_pool *pool = make_pool();
    hitl_feedback *fb;
    if (!pool || hitl_feedback_create(&fb, pool) != HITL_OK ||
        hitl_feedback_open_journal(fb, path, 1) != HITL_OK)
        _exit(2);
    size_t n;
    hitl_feedback_count(&n, fb);
    uint64_t start = n;
    if (write(out, &start, sizeof start) != sizeof start)
        _exit(3);
    for (uint64_t i = start;; i++) {
        if (put(fb, i) != HITL_OK)
            _exit(4);
        if (write(out, &i, sizeof i) != sizeof i)
            _exit(5);
    }
}

START_TEST(crash_kill)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned seed = 12345;
    uint64_t known = 0;     /* events acknowledged or found so far */
    size_t rounds = 0, dropped_rounds = 0, unacked_found = 0;
    while (rounds < 400 && elapsed(&t0) < 3.0) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ne(pid, -1);
        if (pid == 0) {
            close(p[0]);
            child(p[1]);
        }
        close(p[1]);
        uint64_t start, id, acked = known;
        ck_assert_int_eq(read_full(p[0], &start, sizeof start), 0);
        ck_assert_uint_eq(start, known);
        usleep((useconds_t)(rand_r(&seed) % 20000));
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (read_full(p[0], &id, sizeof id) == 0)
            acked = id + 1;
        close(p[0]);

        hitl_pool *pool = make_pool();
        hitl_feedback *fb;
        ck_assert_int_eq(hitl_feedback_create(&fb, pool), HITL_OK);
        ck_assert_int_eq(hitl_feedback_open_journal(fb, path, 1), HITL_OK);
        size_t n = count(fb);
        /* every acknowledged event is there; at most the one in flight
           beyond them; each is exactly what was written */
        ck_assert_msg(n >= acked && n <= acked + 1, "round %zu: %zu events, %" PRIu64
                      " acknowledged", rounds, n, acked);
        for (uint64_t i = 0; i < n; i++)
            is_generated(fb, i);
        dropped_rounds += finfo(fb, HITL_FEEDBACK_JOURNAL_DROPPED) > 0;
        unacked_found += n > acked;
        known = n;
        hitl_feedback_free(fb);
        hitl_pool_free(pool);
        rounds++;
    }
    printf("crash test: %zu kills, %" PRIu64 " events, %zu torn tails cut, "
           "%zu unacknowledged events found complete\n",
           rounds, known, dropped_rounds, unacked_found);
    ck_assert_uint_ge(rounds, 5);
    ck_assert_uint_gt(known, 0);
}
END_TEST

/* ---- corruption --------------------------------------------------------------------- */

START_TEST(fuzz)
{
    hitl_pool *pool;
    hitl_feedback *ref = write_journal(&pool, 80, 0);
    size_t size, ends[128];
    unsigned char *orig = slurp(path, &size);
    ck_assert_uint_eq(frame_ends(orig, size, ends, 128), 80);
    unsigned char *buf = malloc(size + 200);
    unsigned seed = 777;
    hitl_pool *p = make_pool();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t runs = 0, ok = 0;
    for (; runs < 3000 && elapsed(&t0) < 3.0; runs++) {
        memcpy(buf, orig, size);
        size_t n = size, damage = size;
        int mode = rand_r(&seed) % 4;
        if (mode == 1 || mode == 2) {
            int flips = 1 + rand_r(&seed) % 3;
            for (int f = 0; f < flips; f++) {
                size_t at = (size_t)rand_r(&seed) % size;
                buf[at] ^= (unsigned char)(1 + rand_r(&seed) % 255);
                damage = at < damage ? at : damage;
            }
        }
        if (mode == 0 || mode == 2) {
            n = (size_t)rand_r(&seed) % (size + 1);
            damage = n < damage ? n : damage;
        }
        if (mode == 3) {
            size_t extra = 1 + (size_t)rand_r(&seed) % 200;
            for (size_t k = 0; k < extra; k++)
                buf[size + k] = (unsigned char)rand_r(&seed);
            n = size + extra;
        }
        spit(path, buf, n);
        hitl_feedback *fb;
        ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
        /* as the writer: a journal cut to its header then stays so */
        ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                                 HITL_AGGREGATE_MAJORITY), HITL_OK);
        int rc = hitl_feedback_open_journal(fb, path, 0);
        if (rc == HITL_OK) {
            ok++;
            size_t got = count(fb), intact = 0;
            while (intact < 80 && ends[intact] <= damage)
                intact++;
            /* nothing invented, nothing before the damage lost */
            ck_assert_uint_le(got, 80);
            ck_assert_msg(got >= intact, "mode %d: %zu events, %zu intact", mode,
                          got, intact);
            for (uint64_t i = 0; i < got; i++)
                same_event(fb, ref, i);
            ck_assert_uint_eq(file_size(path), got ? ends[got - 1] : 16);
        } else {
            ck_assert_msg(rc == HITL_EFORMAT, "mode %d: rc %d (%s)", mode, rc,
                          hitl_error_message());
            ck_assert_uint_eq(count(fb), 0);
            ck_assert(damage < size);
        }
        hitl_feedback_free(fb);
    }
    printf("fuzz: %zu damaged journals, %zu opened (cut back), %zu refused\n",
           runs, ok, runs - ok);
    free(buf);
    free(orig);
    hitl_pool_free(p);
    hitl_feedback_free(ref);
    hitl_pool_free(pool);
}
END_TEST

/* ---- out of memory -------------------------------------------------------------------- */

START_TEST(out_of_memory)
{
    oom_install();
    hitl_pool *pool;
    hitl_feedback *ref = write_journal(&pool, 60, 0);
    size_t size;
    unsigned char *orig = slurp(path, &size);
    /* replaying, with each aggregation method */
    for (int method = 1; method <= 3; method++) {
        hitl_pool *p = make_pool();
        hitl_feedback *fb;
        int rc;
        long fail_at = 0;
        do {
            ck_assert_int_eq(hitl_feedback_create(&fb, p), HITL_OK);
            ck_assert_int_eq(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION,
                                                     method), HITL_OK);
            oom_arm(fail_at++);
            rc = hitl_feedback_open_journal(fb, path, 0);
            oom_arm(-1);
            if (rc != HITL_OK) {
                ck_assert_int_eq(rc, HITL_ENOMEM);
                ck_assert_uint_eq(count(fb), 0);
                ck_assert_double_eq(finfo(fb, HITL_FEEDBACK_JOURNAL_OPEN), 0);
                size_t labeled;
                ck_assert_int_eq(hitl_pool_count(&labeled, p, HITL_ITEM_LABELED),
                                 HITL_OK);
                ck_assert_uint_eq(labeled, 0);
                hitl_feedback_free(fb);
            }
        } while (rc != HITL_OK);
        ck_assert_uint_eq(count(fb), 60);
        hitl_feedback_free(fb);
        hitl_pool_free(p);
        size_t now;
        unsigned char *after = slurp(path, &now);
        ck_assert_uint_eq(now, size);
        ck_assert_mem_eq(after, orig, size);
        free(after);
    }
    /* creating a journal for a handle that holds events */
    char other[160];
    snprintf(other, sizeof other, "%s/k", dir);
    int rc;
    long fail_at = 0;
    do {
        oom_arm(fail_at++);
        rc = hitl_feedback_open_journal(ref, other, 1);
        oom_arm(-1);
        if (rc != HITL_OK)
            ck_assert_int_eq(rc, HITL_ENOMEM);
    } while (rc != HITL_OK);
    ck_assert_int_eq(hitl_feedback_close_journal(ref), HITL_OK);
    unsigned char *copy = slurp(other, &size);
    ck_assert_mem_eq(copy, orig, size);
    free(copy);
    free(orig);
    hitl_feedback_free(ref);
    hitl_pool_free(pool);
    oom_uninstall();
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, replay_majority);
    tcase_add_test(tc, replay_weighted);
    tcase_add_test(tc, replay_dawid_skene);
    tcase_add_test(tc, journal_mid_session);
    tcase_add_test(tc, replay_equals_live);
    tcase_add_test(tc, replay_dawid_skene_override);
    tcase_add_test(tc, shown_explanations);
    tcase_add_test(tc, old_journals_replay_as_majority);
    tcase_add_test(tc, new_journal_records_default);
    tcase_add_test(tc, torn_tail_is_cut);
    tcase_add_test(tc, middle_damage_is_refused);
    tcase_add_test(tc, long_damage_is_bounded);
    tcase_add_test(tc, headers);
    tcase_add_test(tc, pool_mismatch);
    tcase_add_test(tc, states_and_locks);
    tcase_add_test(tc, fsync_policies);
    tcase_add_test(tc, io_errors);
    tcase_add_test(tc, failed_journal);
    tcase_add_test(tc, crash_kill);
    tcase_add_test(tc, fuzz);
    tcase_add_test(tc, out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(journal_suite)
