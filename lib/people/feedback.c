/* Feedback: the event log of human answers and what it implies for the pool.
 *
 * Every recording call is staged then committed: it validates, looks up or
 * reserves every slot and byte it will need, appends the event to the
 * journal if one is open, and only then changes the handle, re-aggregates
 * the one item it touched (aggregate.c) and writes it to the pool.  Nothing
 * after the journal write can fail, so a failed call leaves the handle, the
 * pool and the journal as they were. */
#include "people/people.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define NO_EVENT HITL_NO_EVENT

/* ---- create / free ---------------------------------------------------------- */

void hitl__fb_params_default(hitl__fb_params *p)
{
    *p = (hitl__fb_params){ .method = HITL_AGGREGATE_RECOMMENDED, .min_annotators = 1,
                            .em_max_iter = 100, .em_tol = 1e-6, .confidence_weights = 1,
                            .drift_window = 50, .drift_alpha = 0.01, .ds_prior = 0 };
}

/* Journals written while MAJORITY was the default aggregation record only
 * the parameters that differ from these; journals written since record
 * against the same base, so the aggregation always (see hitl.h, "The
 * journal").  A change of the handle's defaults then changes no replay. */
void hitl__fb_params_base(hitl__fb_params *p)
{
    hitl__fb_params_default(p);
    p->method = HITL_AGGREGATE_MAJORITY;
    p->method_chosen = 1;
}

int hitl_feedback_create(hitl_feedback **out, hitl_pool *pool)
{
    if (!out || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL", out ? "pool" : "out");
    hitl_feedback *fb = hitl__calloc(1, sizeof *fb);
    if (!fb)
        return hitl__fail(HITL_ENOMEM, "out of memory");
    fb->pool = pool;
    hitl__fb_params_default(&fb->par);
    fb->max_label = -1;
    fb->journal.fd = -1;
    hitl__handle_acquire();
    *out = fb;
    return HITL_OK;
}

void hitl__fb_reset(hitl_feedback *fb)
{
    for (size_t e = 0; e < fb->n_ev; e++) {
        hitl__free(fb->ev[e].reason);
        hitl__free(fb->ev[e].shown);
    }
    for (size_t i = 0; i < fb->n_items; i++)
        hitl__free(fb->items[i].votes);
    for (size_t a = 0; a < fb->n_annots; a++)
        hitl__free(fb->annots[a].refs);
    hitl__free(fb->ev);
    hitl__free(fb->items);
    hitl__free(fb->annots);
    hitl__idmap_free(&fb->item_map);
    hitl__idmap_free(&fb->annot_map);
    hitl__free(fb->tally);
    fb->ev = NULL;
    fb->items = NULL;
    fb->annots = NULL;
    fb->tally = NULL;
    fb->n_ev = fb->cap_ev = fb->n_items = fb->cap_items = 0;
    fb->n_annots = fb->cap_annots = fb->cap_tally = 0;
    fb->item_map = fb->annot_map = (hitl__idmap){0};
    fb->max_label = -1;
}

void hitl_feedback_free(hitl_feedback *fb)
{
    if (!fb)
        return;
    hitl__records_close(&fb->journal, 1, __func__);
    hitl__fb_reset(fb);
    hitl__free(fb->roles);
    hitl__idmap_free(&fb->role_map);
    hitl__fb_ds_free(&fb->ds);
    hitl__free(fb->post);
    hitl__free(fb);
    hitl__handle_release();
}

/* ---- staging ------------------------------------------------------------------ */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Where an event lands, found or reserved before anything changes.  Arrays
 * of a new item or annotator are held here until the commit installs them;
 * existing arrays grow in place, which no reader can notice. */
typedef struct stage {
    size_t index;               /* pool index */
    size_t item, annot, vote;   /* slots; == the count when new */
    int new_item, new_annot, new_vote;
    hitl__fb_vote *votes;       /* a new item's vote array */
    size_t cap_votes;
    hitl__fb_ref *refs;         /* a new annotator's ref array */
    size_t cap_refs;
    char *reason;               /* the event's own copy */
    unsigned char *shown;       /* likewise, its explanation */
} stage;

static size_t find_vote(const hitl__fb_item *it, size_t annot)
{
    for (size_t v = 0; v < it->n_votes; v++)
        if (it->votes[v].annot == annot)
            return v;
    return it->n_votes;
}

/* The event slot, the reason's copy, and for an item-level event the item
 * slot (new or not). */
static int reserve_event(hitl_feedback *fb, stage *s, const hitl__fb_event *e)
{
    if (hitl__grow((void **)&fb->ev, &fb->cap_ev, fb->n_ev + 1, sizeof *fb->ev))
        return -1;
    if (e->reason_len) {
        s->reason = hitl__malloc((size_t)e->reason_len + 1);
        if (!s->reason)
            return -1;
        memcpy(s->reason, e->reason, e->reason_len);
        s->reason[e->reason_len] = '\0';
    }
    if (e->n_shown) {
        s->shown = hitl__malloc(8 * (size_t)e->n_shown);
        if (!s->shown)
            return -1;
        memcpy(s->shown, e->shown, 8 * (size_t)e->n_shown);
    }
    if (e->kind == HITL_EVENT_RETRACT)
        return 0;
    s->item = hitl__idmap_get(&fb->item_map, s->index);
    s->new_item = s->item == HITL__NO_SLOT;
    if (!s->new_item)
        return 0;
    s->item = fb->n_items;
    return hitl__grow((void **)&fb->items, &fb->cap_items, fb->n_items + 1,
                sizeof *fb->items) ||
           hitl__idmap_reserve(&fb->item_map);
}

/* An answer also needs its annotator, its vote and the aggregation scratch. */
static int reserve_answer(hitl_feedback *fb, stage *s, uint64_t annotator)
{
    s->annot = hitl__idmap_get(&fb->annot_map, annotator);
    s->new_annot = s->annot == HITL__NO_SLOT;
    if (s->new_annot)
        s->annot = fb->n_annots;
    hitl__fb_item *it = s->new_item ? NULL : &fb->items[s->item];
    hitl__fb_annot *an = s->new_annot ? NULL : &fb->annots[s->annot];
    s->vote = !it ? 0 : an ? find_vote(it, s->annot) : it->n_votes;
    s->new_vote = !it || s->vote == it->n_votes;

    size_t votes = (it ? it->n_votes : 0) + s->new_vote;
    if (hitl__grow((void **)&fb->tally, &fb->cap_tally, votes, sizeof *fb->tally))
        return -1;
    if (s->new_annot &&
        (hitl__grow((void **)&fb->annots, &fb->cap_annots, fb->n_annots + 1,
              sizeof *fb->annots) ||
         hitl__idmap_reserve(&fb->annot_map)))
        return -1;
    if (!s->new_vote)
        return 0;
    if (it ? hitl__grow((void **)&it->votes, &it->cap_votes, votes, sizeof *it->votes)
           : hitl__grow((void **)&s->votes, &s->cap_votes, 1, sizeof *s->votes))
        return -1;
    if (an ? hitl__grow((void **)&an->refs, &an->cap_refs, an->n_refs + 1,
                  sizeof *an->refs)
           : hitl__grow((void **)&s->refs, &s->cap_refs, 1, sizeof *s->refs))
        return -1;
    return 0;
}

static void unstage(stage *s)
{
    hitl__free(s->votes);
    hitl__free(s->refs);
    hitl__free(s->reason);
    hitl__free(s->shown);
}

/* ---- committing ----------------------------------------------------------------- */

/* Append the event to the log and to its item's trail. */
static hitl__fb_event *push_event(hitl_feedback *fb, const hitl__fb_event *e,
                                  stage *s, hitl__fb_item *it)
{
    hitl__fb_event *dst = &fb->ev[fb->n_ev];
    *dst = *e;
    dst->reason = s->reason;
    dst->shown = s->shown;
    s->shown = NULL;
    dst->retracted_by = dst->prev = NO_EVENT;
    dst->item_prev = it->last_event;
    it->last_event = fb->n_ev++;
    s->reason = NULL;
    int32_t label = e->kind == HITL_EVENT_RETRACT ? -1 : e->label;
    if (label > fb->max_label)
        fb->max_label = label;
    return dst;
}

static hitl__fb_item *commit_item(hitl_feedback *fb, const stage *s,
                                  uint64_t id)
{
    if (s->new_item) {
        fb->items[s->item] = (hitl__fb_item){
            .id = id, .index = s->index, .votes = s->votes,
            .cap_votes = s->cap_votes, .gold = -1, .gold_event = NO_EVENT,
            .last_event = NO_EVENT, .label = -1, .confidence = NAN,
            .agreement = NAN, .settled_by = NO_EVENT};
        hitl__idmap_put(&fb->item_map, s->index, s->item);
        fb->n_items++;
    }
    return &fb->items[s->item];
}

/* Make event `eff` (or none) the vote's current answer. */
static void set_current(hitl_feedback *fb, hitl__fb_vote *v, uint64_t eff)
{
    hitl__fb_annot *an = &fb->annots[v->annot];
    if (v->label >= 0)
        an->n_labels--;
    else if (v->label == -1)
        an->n_skips--;
    v->eff = eff;
    v->label = eff == NO_EVENT ? -2
               : fb->ev[eff].kind == HITL_EVENT_SKIP ? -1
                                                     : fb->ev[eff].label;
    if (v->label >= 0)
        an->n_labels++;
    else if (v->label == -1)
        an->n_skips++;
}

static void commit_answer(hitl_feedback *fb, stage *s, const hitl__fb_event *e)
{
    hitl__fb_item *it = commit_item(fb, s, e->item);
    if (s->new_annot) {
        fb->annots[s->annot] = (hitl__fb_annot){
            .id = e->annotator, .authority = hitl__fb_role_of(fb, e->annotator),
            .refs = s->refs, .cap_refs = s->cap_refs};
        hitl__idmap_put(&fb->annot_map, e->annotator, s->annot);
        fb->n_annots++;
    }
    hitl__fb_annot *an = &fb->annots[s->annot];
    if (s->new_vote) {
        it->votes[it->n_votes++] = (hitl__fb_vote){s->annot, NO_EVENT,
                                                   NO_EVENT, -2};
        an->refs[an->n_refs++] = (hitl__fb_ref){s->item, s->vote};
    }
    hitl__fb_item_begin(fb, it);
    hitl__fb_vote *v = &it->votes[s->vote];
    uint64_t id = fb->n_ev;
    push_event(fb, e, s, it)->prev = v->last;
    v->last = id;
    set_current(fb, v, id);
    hitl__fb_item_end(fb, it);
}

static void commit_gold(hitl_feedback *fb, stage *s, const hitl__fb_event *e)
{
    hitl__fb_item *it = commit_item(fb, s, e->item);
    hitl__fb_item_begin(fb, it);
    it->gold_event = fb->n_ev;
    push_event(fb, e, s, it);
    it->gold = e->label;
    hitl__fb_item_end(fb, it);
}

/* The retracted answer's annotator falls back along the chain of their
 * earlier answers on the item to the latest one not retracted. */
static void commit_retract(hitl_feedback *fb, stage *s, const hitl__fb_event *e)
{
    hitl__fb_event *t = &fb->ev[e->target];
    hitl__fb_item *it = &fb->items[hitl__idmap_get(&fb->item_map, s->index)];
    hitl__fb_vote *v =
        &it->votes[find_vote(it, hitl__idmap_get(&fb->annot_map, t->annotator))];
    hitl__fb_item_begin(fb, it);
    uint64_t id = fb->n_ev;
    push_event(fb, e, s, it);
    t->retracted_by = id;
    if (v->eff == e->target) {
        uint64_t back = t->prev;
        while (back != NO_EVENT && fb->ev[back].retracted_by != NO_EVENT)
            back = fb->ev[back].prev;
        set_current(fb, v, back);
    }
    hitl__fb_item_end(fb, it);
}

/* ---- the one path of every event ---------------------------------------------- */

/* Checks that need the handle: the item, the retraction target, the class
 * count. */
static int check_state(hitl_feedback *fb, const hitl__fb_event *e, stage *s,
                       const char *fn)
{
    if (e->kind == HITL_EVENT_RETRACT) {
        if (e->target >= fb->n_ev)
            return hitl__fail_in(HITL_ENOTFOUND, fn,
                                 "no event has id %" PRIu64 " (%zu recorded)",
                                 e->target, fb->n_ev);
        const hitl__fb_event *t = &fb->ev[e->target];
        if (!hitl__is_answer(t->kind))
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "event %" PRIu64 " is a %s, not an answer",
                                 e->target,
                                 t->kind == HITL_EVENT_GOLD ? "GOLD"
                                                            : "RETRACT");
        if (t->retracted_by != NO_EVENT)
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "event %" PRIu64
                                 " is already retracted by event %" PRIu64,
                                 e->target, t->retracted_by);
        if (e->item != t->item)
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "item %" PRIu64 " is not the item %" PRIu64
                                 " of event %" PRIu64,
                                 e->item, t->item, e->target);
    }
    int rc = hitl_pool_find(&s->index, fb->pool, e->item);
    if (rc != HITL_OK)
        return hitl__fail_in(rc, fn, "no item of the pool has id %" PRIu64,
                             e->item);
    if (fb->par.n_classes && e->label >= 0 && (size_t)e->label >= fb->par.n_classes)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "label %" PRId32
                             " is not below HITL_PARAM_N_CLASSES = %zu",
                             e->label, fb->par.n_classes);
    size_t declared = 0;
    hitl_pool_classes(&declared, fb->pool);
    if (declared && e->label >= 0 && (size_t)e->label >= declared)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "label %" PRId32 " is not below the pool's %zu classes",
                             e->label, declared);
    return HITL_OK;
}

/* A control record: `key` is the parameter (PARAM) or the annotator
 * (ROLE, whose level is `value`). */
static int append_raw_control(hitl_feedback *fb, int kind, uint64_t key, double value,
                              const char *fn)
{
    unsigned char frame[HITL__RECORD_OVERHEAD + HITL__EVENT_MAX], *p = frame + HITL__RECORD_HEAD;
    size_t n = kind == HITL__CTRL_ROLE
                   ? hitl__role_encode(p, key, (int32_t)value, fb->n_ev, now_us())
                   : hitl__control_encode(p, kind, (hitl_param)key, value, fb->n_ev, now_us());
    return hitl__records_append(&fb->journal, frame, n, fn);
}

static int any_role(const hitl_feedback *fb)
{
    for (size_t r = 0; r < fb->n_roles; r++)
        if (fb->roles[r].level != 0)
            return 1;
    return 0;
}

/* The order in which a snapshot restores the parameters: those a fit reads
 * before the method that fits. */
static const hitl_param SNAPSHOT[] = {
    HITL_PARAM_EM_MAX_ITER, HITL_PARAM_EM_TOL, HITL_PARAM_N_CLASSES, HITL_PARAM_DS_PRIOR,
    HITL_PARAM_MIN_ANNOTATORS, HITL_PARAM_MIN_AGREEMENT, HITL_PARAM_MIN_CONFIDENCE,
    HITL_PARAM_CONFIDENCE_WEIGHTS, HITL_PARAM_DRIFT_WINDOW, HITL_PARAM_DRIFT_ALPHA,
    HITL_PARAM_AGGREGATION,
};
#define N_SNAPSHOT (sizeof SNAPSHOT / sizeof *SNAPSHOT)

/* Each snapshot parameter's value in p (get_param reads a handle). */
static void snapshot_values(double *v, const hitl__fb_params *p)
{
    hitl_feedback probe = { .par = *p };
    for (size_t i = 0; i < N_SNAPSHOT; i++)
        hitl_feedback_get_param(&v[i], &probe, SNAPSHOT[i]);
}

int hitl__fb_journal_params(hitl_feedback *fb, int upgrade, const char *fn)
{
    hitl__records *j = &fb->journal;
    hitl__fb_params def;
    hitl__fb_params_base(&def);
    double now[N_SNAPSHOT], was[N_SNAPSHOT];
    snapshot_values(now, &fb->par);
    snapshot_values(was, &def);
    int any = memcmp(now, was, sizeof now) != 0 || any_role(fb), rc = HITL_OK;
    if (!any && (!upgrade || j->version >= HITL__JOURNAL_CONTROLS))
        return HITL_OK;
    if (j->version < HITL__JOURNAL_CONTROLS)
        rc = hitl__records_set_version(j, HITL__JOURNAL_CONTROLS, fn);
    /* roles first: a fit the parameters call for sees them, as it did live */
    for (size_t r = 0; rc == HITL_OK && r < fb->n_roles; r++)
        if (fb->roles[r].level != 0)
            rc = append_raw_control(fb, HITL__CTRL_ROLE, fb->roles[r].annotator,
                                    fb->roles[r].level, fn);
    for (size_t i = 0; rc == HITL_OK && i < N_SNAPSHOT; i++)
        if (memcmp(&now[i], &was[i], sizeof now[i]) != 0)
            rc = append_raw_control(fb, HITL__CTRL_PARAM, SNAPSHOT[i], now[i], fn);
    return rc;
}

int hitl__fb_journal_shown(hitl_feedback *fb, const char *fn)
{
    hitl__records *j = &fb->journal;
    int rc = HITL_OK;
    if (j->version < HITL__JOURNAL_CONTROLS)
        rc = hitl__fb_journal_params(fb, 1, fn);
    if (rc == HITL_OK && j->version < HITL__JOURNAL_SHOWN)
        rc = hitl__records_set_version(j, HITL__JOURNAL_SHOWN, fn);
    return rc;
}

/* A control record at the journal's end.  The first one of a format-1 file
 * makes it format 2, whose replay starts from the base parameters
 * (hitl__fb_params_base): the parameters that differ from them are written
 * first. */
static int append_control(hitl_feedback *fb, int kind, uint64_t key, double value,
                          const char *fn)
{
    if (fb->journal.version < HITL__JOURNAL_CONTROLS) {
        int rc = hitl__fb_journal_params(fb, 1, fn);
        if (rc != HITL_OK)
            return rc;
    }
    return append_raw_control(fb, kind, key, value, fn);
}

/* Before the first record after an aggregation the file does not show (from
 * opening or attaching it), the aggregation itself. */
static int record_pending(hitl_feedback *fb, const char *fn)
{
    if (!fb->unrecorded_aggregate)
        return HITL_OK;
    int rc = append_control(fb, HITL__CTRL_AGGREGATE, 0, NAN, fn);
    if (rc == HITL_OK)
        fb->unrecorded_aggregate = 0;
    return rc;
}

/* Append the event that will get the next id to the open journal. */
static int journal_append(hitl_feedback *fb, const hitl__fb_event *e, const char *fn)
{
    int rc = record_pending(fb, fn);
    if (rc == HITL_OK && e->n_shown)
        rc = hitl__fb_journal_shown(fb, fn);
    if (rc != HITL_OK)
        return rc;
    unsigned char frame[HITL__RECORD_OVERHEAD + HITL__EVENT_MAX];
    size_t n = hitl__event_encode(frame + HITL__RECORD_HEAD, e, fb->n_ev);
    return hitl__records_append(&fb->journal, frame, n, fn);
}

int hitl__fb_apply(hitl_feedback *fb, const hitl__fb_event *e, uint64_t *id,
                   const char *fn)
{
    int journaled = fb->journal.fd >= 0 && !fb->replaying;
    if (journaled && fb->journal.failed)
        return hitl__fail_in(HITL_EIO, fn, "%s", HITL__JOURNAL_FAILED);
    stage s = {0};
    int rc = check_state(fb, e, &s, fn);
    if (rc != HITL_OK)
        return rc;
    if (reserve_event(fb, &s, e) != 0 ||
        (hitl__is_answer(e->kind) && reserve_answer(fb, &s, e->annotator) != 0)) {
        unstage(&s);
        return hitl__fail_in(HITL_ENOMEM, fn,
                             "out of memory recording event %zu", fb->n_ev);
    }
    if (journaled && (rc = journal_append(fb, e, fn)) != HITL_OK) {
        unstage(&s);
        return rc;
    }
    if (id)
        *id = fb->n_ev;
    if (e->kind == HITL_EVENT_RETRACT)
        commit_retract(fb, &s, e);
    else if (e->kind == HITL_EVENT_GOLD)
        commit_gold(fb, &s, e);
    else
        commit_answer(fb, &s, e);
    return HITL_OK;
}

/* ---- recording calls ------------------------------------------------------------ */

/* Fill the parts every live event shares, then check and apply. */
static int record(hitl_feedback *fb, hitl__fb_event *e, int64_t timestamp,
                  const char *reason, uint64_t *id, const char *fn)
{
    if (!fb)
        return hitl__fail_in(HITL_EINVAL, fn, "feedback is NULL");
    e->time = timestamp == HITL_TIME_NOW ? now_us() : timestamp;
    e->retracted_by = e->prev = NO_EVENT;
    size_t len = reason ? strnlen(reason, HITL_REASON_MAX + 1) : 0;
    if (len > HITL_REASON_MAX)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "reason is longer than %d bytes",
                             HITL_REASON_MAX);
    e->reason = (char *)(len ? reason : NULL);
    e->reason_len = (uint16_t)len;
    int rc = hitl__fb_check_event(e, fn);
    return rc != HITL_OK ? rc : hitl__fb_apply(fb, e, id, fn);
}

int hitl_feedback_record(uint64_t *event_id, hitl_feedback *fb,
                         hitl_event_kind kind, uint64_t item_id,
                         uint64_t annotator, int32_t label, double confidence,
                         int32_t shown_label, double shown_confidence,
                         int64_t timestamp, const char *reason)
{
    if (!hitl__is_answer((int)kind) && kind != HITL_EVENT_GOLD)
        return hitl__fail(HITL_EINVAL,
                          "kind %d is not LABEL, OVERRIDE, CONFIRM, SKIP or GOLD%s",
                          (int)kind,
                          kind == HITL_EVENT_RETRACT ? " (use hitl_feedback_retract)"
                                                     : "");
    if (kind == HITL_EVENT_CONFIRM && label == -1)
        label = shown_label;
    hitl__fb_event e = {
        .item = item_id, .annotator = annotator, .target = NO_EVENT,
        .confidence = confidence, .shown_confidence = shown_confidence,
        .label = label, .shown_label = shown_label, .kind = (uint8_t)kind};
    return record(fb, &e, timestamp, reason, event_id, __func__);
}

int hitl_feedback_record_shown(uint64_t *event_id, hitl_feedback *fb,
                               hitl_event_kind kind, uint64_t item_id, uint64_t annotator,
                               int32_t label, double confidence, int32_t shown_label,
                               double shown_confidence, const int32_t *shown_features,
                               const float *shown_contrib, size_t n_shown,
                               int64_t timestamp, const char *reason)
{
    if (n_shown > HITL_SHOWN_MAX)
        return hitl__fail(HITL_EINVAL, "n_shown %zu exceeds HITL_SHOWN_MAX (%d)", n_shown,
                          HITL_SHOWN_MAX);
    if (n_shown && (!shown_features || !shown_contrib))
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !shown_features ? "shown_features" : "shown_contrib");
    if (!hitl__is_answer((int)kind) || kind == HITL_EVENT_SKIP)
        return hitl__fail(HITL_EINVAL, "kind %d is not LABEL, OVERRIDE or CONFIRM",
                          (int)kind);
    unsigned char shown[8 * HITL_SHOWN_MAX], *q = shown;
    for (size_t i = 0; i < n_shown; i++) {
        uint32_t bits;
        if (shown_features[i] < 0)
            return hitl__fail(HITL_EINVAL, "shown_features[%zu] is %" PRId32 " (< 0)", i,
                              shown_features[i]);
        memcpy(&bits, &shown_contrib[i], sizeof bits);
        q = hitl__put_le(q, (uint32_t)shown_features[i], 4);
        q = hitl__put_le(q, bits, 4);
    }
    if (kind == HITL_EVENT_CONFIRM && label == -1)
        label = shown_label;
    hitl__fb_event e = {
        .item = item_id, .annotator = annotator, .target = NO_EVENT,
        .confidence = confidence, .shown_confidence = shown_confidence,
        .label = label, .shown_label = shown_label, .kind = (uint8_t)kind,
        .shown = shown, .n_shown = (uint8_t)n_shown};
    return record(fb, &e, timestamp, reason, event_id, __func__);
}

int hitl_feedback_label(hitl_feedback *fb, uint64_t item_id,
                        uint64_t annotator, int32_t label)
{
    hitl__fb_event e = {
        .item = item_id, .annotator = annotator, .target = NO_EVENT,
        .confidence = NAN, .shown_confidence = NAN, .label = label,
        .shown_label = -1, .kind = HITL_EVENT_LABEL};
    return record(fb, &e, HITL_TIME_NOW, NULL, NULL, __func__);
}

int hitl_feedback_skip(hitl_feedback *fb, uint64_t item_id, uint64_t annotator)
{
    hitl__fb_event e = {
        .item = item_id, .annotator = annotator, .target = NO_EVENT,
        .confidence = NAN, .shown_confidence = NAN, .label = -1,
        .shown_label = -1, .kind = HITL_EVENT_SKIP};
    return record(fb, &e, HITL_TIME_NOW, NULL, NULL, __func__);
}

int hitl_feedback_retract(uint64_t *event_id, hitl_feedback *fb,
                          uint64_t target, uint64_t annotator,
                          int64_t timestamp, const char *reason)
{
    hitl__fb_event e = {
        .annotator = annotator, .target = target, .confidence = NAN,
        .shown_confidence = NAN, .label = -1, .shown_label = -1,
        .kind = HITL_EVENT_RETRACT};
    if (fb && target < fb->n_ev)
        e.item = fb->ev[target].item;
    else if (fb)
        return hitl__fail(HITL_ENOTFOUND,
                          "no event has id %" PRIu64 " (%zu recorded)",
                          target, fb->n_ev);
    return record(fb, &e, timestamp, reason, event_id, __func__);
}

int hitl_feedback_set_gold(uint64_t *event_id, hitl_feedback *fb,
                           uint64_t item_id, int32_t label,
                           uint64_t annotator, int64_t timestamp)
{
    hitl__fb_event e = {
        .item = item_id, .annotator = annotator, .target = NO_EVENT,
        .confidence = NAN, .shown_confidence = NAN, .label = label,
        .shown_label = -1, .kind = HITL_EVENT_GOLD};
    return record(fb, &e, timestamp, NULL, event_id, __func__);
}

/* ---- reading events ---------------------------------------------------------------- */

#define CHECK_EVENT(fb, id)                                                    \
    do {                                                                       \
        if (!(fb))                                                             \
            return hitl__fail(HITL_EINVAL, "feedback is NULL");                \
        if ((id) >= (fb)->n_ev)                                                \
            return hitl__fail(HITL_ENOTFOUND,                                  \
                              "no event has id %" PRIu64 " (%zu recorded)",    \
                              (uint64_t)(id), (fb)->n_ev);                     \
    } while (0)

int hitl_feedback_count(size_t *n, const hitl_feedback *fb)
{
    if (!n || !fb)
        return hitl__fail(HITL_EINVAL, "%s is NULL", n ? "feedback" : "n");
    *n = fb->n_ev;
    return HITL_OK;
}

int hitl_feedback_event(hitl_event_kind *kind, uint64_t *item_id,
                        uint64_t *annotator, int32_t *label,
                        double *confidence, int32_t *shown_label,
                        double *shown_confidence, int64_t *timestamp,
                        const hitl_feedback *fb, uint64_t event_id)
{
    CHECK_EVENT(fb, event_id);
    const hitl__fb_event *e = &fb->ev[event_id];
    if (kind)
        *kind = (hitl_event_kind)e->kind;
    if (item_id)
        *item_id = e->item;
    if (annotator)
        *annotator = e->annotator;
    if (label)
        *label = e->label;
    if (confidence)
        *confidence = e->confidence;
    if (shown_label)
        *shown_label = e->shown_label;
    if (shown_confidence)
        *shown_confidence = e->shown_confidence;
    if (timestamp)
        *timestamp = e->time;
    return HITL_OK;
}

int hitl_feedback_event_shown(size_t *n_shown, int32_t *features, float *contrib,
                              size_t capacity, const hitl_feedback *fb, uint64_t event_id)
{
    if (!n_shown)
        return hitl__fail(HITL_EINVAL, "n_shown is NULL");
    CHECK_EVENT(fb, event_id);
    const hitl__fb_event *e = &fb->ev[event_id];
    const unsigned char *q = e->shown;
    for (size_t i = 0; i < e->n_shown; i++) {
        uint32_t f = (uint32_t)hitl__get_le(&q, 4), bits = (uint32_t)hitl__get_le(&q, 4);
        if (i >= capacity)
            continue;
        if (features)
            features[i] = (int32_t)f;
        if (contrib)
            memcpy(&contrib[i], &bits, sizeof bits);
    }
    *n_shown = e->n_shown;
    return HITL_OK;
}

int hitl_feedback_event_links(uint64_t *target, uint64_t *retracted_by,
                              const hitl_feedback *fb, uint64_t event_id)
{
    CHECK_EVENT(fb, event_id);
    if (target)
        *target = fb->ev[event_id].target;
    if (retracted_by)
        *retracted_by = fb->ev[event_id].retracted_by;
    return HITL_OK;
}

int hitl_feedback_event_reason(const char **reason, const hitl_feedback *fb,
                               uint64_t event_id)
{
    if (!reason)
        return hitl__fail(HITL_EINVAL, "reason is NULL");
    CHECK_EVENT(fb, event_id);
    *reason = fb->ev[event_id].reason;
    return HITL_OK;
}

int hitl_feedback_overrides(size_t *shown, size_t *overridden,
                            const hitl_feedback *fb, int32_t shown_label)
{
    if (!shown || !overridden || !fb)
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !shown ? "shown" : !overridden ? "overridden"
                                                         : "feedback");
    if (shown_label < -1 || shown_label > HITL__MAX_LABEL)
        return hitl__fail(HITL_EINVAL,
                          "shown_label %" PRId32 " is not in [-1, %d]",
                          shown_label, HITL__MAX_LABEL);
    size_t n = 0, over = 0;
    for (size_t i = 0; i < fb->n_ev; i++) {
        const hitl__fb_event *e = &fb->ev[i];
        if (e->kind == HITL_EVENT_SKIP || !hitl__is_answer(e->kind) ||
            e->retracted_by != NO_EVENT || e->shown_label < 0 ||
            (shown_label >= 0 && e->shown_label != shown_label))
            continue;
        n++;
        over += e->label != e->shown_label;
    }
    *shown = n;
    *overridden = over;
    return HITL_OK;
}

/* ---- parameters and aggregation ---------------------------------------------------- */

static int integral(double v, double lo, double hi)
{
    return v >= lo && v <= hi && v == floor(v);
}

/* A value the parameter may take; the message names it. */
static int check_param(const hitl_feedback *fb, hitl_param param, double value,
                       const char *fn)
{
    switch (param) {
    case HITL_PARAM_AGGREGATION:
        if (!integral(value, HITL_AGGREGATE_MAJORITY, HITL_AGGREGATE_RECOMMENDED))
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_AGGREGATION %g is not a "
                                 "hitl_aggregation (an integer in [1, 5])", value);
        return HITL_OK;
    case HITL_PARAM_N_CLASSES:
        if (value != 0 && !integral(value, 2, HITL__MAX_LABEL + 1))
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_N_CLASSES %g is not 0 or an "
                                 "integer in [2, %d]", value, HITL__MAX_LABEL + 1);
        if (value != 0 && value <= fb->max_label)
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_N_CLASSES %g <= label %" PRId32
                                 " already recorded", value, fb->max_label);
        return HITL_OK;
    case HITL_PARAM_MIN_ANNOTATORS:
        if (!integral(value, 1, UINT32_MAX))
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_MIN_ANNOTATORS %g is not an "
                                 "integer >= 1", value);
        return HITL_OK;
    case HITL_PARAM_MIN_AGREEMENT:
    case HITL_PARAM_MIN_CONFIDENCE:
        if (!(value >= 0 && value <= 1))
            return hitl__fail_in(HITL_EINVAL, fn, "%s %g is not in [0, 1]",
                                 param == HITL_PARAM_MIN_AGREEMENT
                                     ? "HITL_PARAM_MIN_AGREEMENT"
                                     : "HITL_PARAM_MIN_CONFIDENCE", value);
        return HITL_OK;
    case HITL_PARAM_CONFIDENCE_WEIGHTS:
        if (value != 0 && value != 1)
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_CONFIDENCE_WEIGHTS %g is not "
                                 "0 or 1", value);
        return HITL_OK;
    case HITL_PARAM_EM_MAX_ITER:
        if (!integral(value, 1, 1e9))
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_EM_MAX_ITER %g is not an "
                                 "integer in [1, 1e9]", value);
        return HITL_OK;
    case HITL_PARAM_EM_TOL:
        if (!(value > 0) || !isfinite(value))
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_EM_TOL %g is not finite and "
                                 "> 0", value);
        return HITL_OK;
    case HITL_PARAM_DRIFT_WINDOW:
        if (!integral(value, 2, 1e6))
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_DRIFT_WINDOW %g is not an "
                                 "integer in [2, 1e6]", value);
        return HITL_OK;
    case HITL_PARAM_DS_PRIOR:
        if (!(value >= 0 && value <= HITL__DS_PRIOR_MAX))
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_DS_PRIOR %g is not in [0, %g]",
                                 value, HITL__DS_PRIOR_MAX);
        return HITL_OK;
    case HITL_PARAM_DRIFT_ALPHA:
        if (!(value > 0 && value <= 0.5))
            return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_DRIFT_ALPHA %g is not in "
                                 "(0, 0.5]", value);
        return HITL_OK;
    default:
        return hitl__fail_in(HITL_EINVAL, fn, "parameter %d is not a feedback parameter "
                             "(40x)", (int)param);
    }
}

static void assign(hitl__fb_params *p, hitl_param param, double value)
{
    switch (param) {
    case HITL_PARAM_AGGREGATION:        p->method = (int)value; p->method_chosen = 1; break;
    case HITL_PARAM_N_CLASSES:          p->n_classes = (size_t)value; break;
    case HITL_PARAM_MIN_ANNOTATORS:     p->min_annotators = (size_t)value; break;
    case HITL_PARAM_MIN_AGREEMENT:      p->min_agreement = value; break;
    case HITL_PARAM_MIN_CONFIDENCE:     p->min_confidence = value; break;
    case HITL_PARAM_CONFIDENCE_WEIGHTS: p->confidence_weights = (int)value; break;
    case HITL_PARAM_EM_MAX_ITER:        p->em_max_iter = (size_t)value; break;
    case HITL_PARAM_DRIFT_WINDOW:       p->drift_window = (size_t)value; break;
    case HITL_PARAM_DRIFT_ALPHA:        p->drift_alpha = value; break;
    case HITL_PARAM_DS_PRIOR:           p->ds_prior = value; break;
    default:                            p->em_tol = value; break;
    }
}

/* What a change calls for: 2, a new aggregation (a fit under Dawid-Skene);
 * 1, every item re-decided with the current estimates (new thresholds or
 * weights); 0, nothing now (the EM settings act at the next fit). */
static int effect(const hitl__fb_params *next, hitl_param param)
{
    switch (param) {
    case HITL_PARAM_AGGREGATION: return 2;
    case HITL_PARAM_N_CLASSES: return hitl__fb_is_model(next->method) ? 2 : 0;
    /* RECOMMENDED picks its own strength */
    case HITL_PARAM_DS_PRIOR:
        return next->method == HITL_AGGREGATE_DAWID_SKENE ||
               next->method == HITL_AGGREGATE_ONE_COIN ? 2 : 0;
    case HITL_PARAM_EM_MAX_ITER:
    case HITL_PARAM_EM_TOL:
    case HITL_PARAM_DRIFT_WINDOW:      /* drift is worked out when asked for */
    case HITL_PARAM_DRIFT_ALPHA: return 0;
    default: return 1;
    }
}

/* Write a control record to the open journal (not while replaying one). */
static int journal_control(hitl_feedback *fb, int kind, uint64_t key, double value,
                           const char *fn)
{
    if (fb->journal.fd < 0 || fb->replaying)
        return HITL_OK;
    if (fb->journal.failed)
        return hitl__fail_in(HITL_EIO, fn, "%s", HITL__JOURNAL_FAILED);
    int rc = record_pending(fb, fn);
    return rc != HITL_OK ? rc : append_control(fb, kind, key, value, fn);
}

int hitl__fb_set_param(hitl_feedback *fb, hitl_param param, double value, const char *fn)
{
    int rc = check_param(fb, param, value, fn);
    if (rc != HITL_OK)
        return rc;
    hitl__fb_params next = fb->par;
    assign(&next, param, value);
    int what = effect(&next, param);
    hitl__fb_ds ds = {0};
    if (what == 2 && (rc = hitl__fb_prepare(&ds, &next, fb, fn)) != HITL_OK)
        return rc;
    if ((rc = journal_control(fb, HITL__CTRL_PARAM, param, value, fn)) != HITL_OK) {
        hitl__fb_ds_free(&ds);
        return rc;
    }
    if (what == 2) {
        hitl__fb_commit(fb, &next, &ds);
    } else {
        fb->par = next;
        if (what == 1)
            hitl__fb_refresh(fb);
    }
    return HITL_OK;
}

int hitl__fb_aggregate(hitl_feedback *fb, const char *fn)
{
    hitl__fb_ds ds;
    int rc = hitl__fb_prepare(&ds, &fb->par, fb, fn);
    if (rc == HITL_OK &&
        (rc = journal_control(fb, HITL__CTRL_AGGREGATE, 0, NAN, fn)) != HITL_OK)
        hitl__fb_ds_free(&ds);
    if (rc == HITL_OK) {
        hitl__fb_params same = fb->par;
        hitl__fb_commit(fb, &same, &ds);
    }
    return rc;
}

int hitl__fb_set_role(hitl_feedback *fb, uint64_t annotator, int32_t level, const char *fn)
{
    if (level < 0 || level > HITL_AUTHORITY_MAX)
        return hitl__fail_in(HITL_EINVAL, fn, "authority %" PRId32 " is not in [0, %d]",
                             level, HITL_AUTHORITY_MAX);
    if (hitl__fb_role_of(fb, annotator) == level)
        return HITL_OK;
    if (hitl__fb_role_reserve(fb, annotator) != 0)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for the role of annotator %"
                             PRIu64, annotator);
    int rc = journal_control(fb, HITL__CTRL_ROLE, annotator, level, fn);
    if (rc != HITL_OK)
        return rc;
    hitl__fb_role_put(fb, annotator, level);
    size_t a = hitl__idmap_get(&fb->annot_map, annotator);
    for (size_t r = 0; a != HITL__NO_SLOT && r < fb->annots[a].n_refs; r++) {
        hitl__fb_item *it = &fb->items[fb->annots[a].refs[r].item];
        hitl__fb_item_begin(fb, it);
        hitl__fb_item_end(fb, it);
    }
    return HITL_OK;
}

int hitl_feedback_set_role(hitl_feedback *fb, uint64_t annotator, int32_t authority)
{
    if (!fb)
        return hitl__fail(HITL_EINVAL, "feedback is NULL");
    return hitl__fb_set_role(fb, annotator, authority, __func__);
}

int hitl_feedback_role(int32_t *authority, const hitl_feedback *fb, uint64_t annotator)
{
    if (!authority || !fb)
        return hitl__fail(HITL_EINVAL, "%s is NULL", authority ? "feedback" : "authority");
    *authority = hitl__fb_role_of(fb, annotator);
    return HITL_OK;
}

int hitl_feedback_set_param(hitl_feedback *fb, hitl_param param, double value)
{
    if (!fb)
        return hitl__fail(HITL_EINVAL, "feedback is NULL");
    return hitl__fb_set_param(fb, param, value, __func__);
}

int hitl_feedback_get_param(double *value, const hitl_feedback *fb,
                            hitl_param param)
{
    if (!value || !fb)
        return hitl__fail(HITL_EINVAL, "%s is NULL", value ? "feedback"
                                                           : "value");
    switch (param) {
    case HITL_PARAM_AGGREGATION:        *value = fb->par.method; break;
    case HITL_PARAM_MIN_ANNOTATORS:     *value = (double)fb->par.min_annotators; break;
    case HITL_PARAM_MIN_AGREEMENT:      *value = fb->par.min_agreement; break;
    case HITL_PARAM_MIN_CONFIDENCE:     *value = fb->par.min_confidence; break;
    case HITL_PARAM_N_CLASSES:          *value = (double)fb->par.n_classes; break;
    case HITL_PARAM_EM_MAX_ITER:        *value = (double)fb->par.em_max_iter; break;
    case HITL_PARAM_EM_TOL:             *value = fb->par.em_tol; break;
    case HITL_PARAM_CONFIDENCE_WEIGHTS: *value = fb->par.confidence_weights; break;
    case HITL_PARAM_DRIFT_WINDOW:       *value = (double)fb->par.drift_window; break;
    case HITL_PARAM_DRIFT_ALPHA:        *value = fb->par.drift_alpha; break;
    case HITL_PARAM_DS_PRIOR:           *value = fb->par.ds_prior; break;
    default:
        return hitl__fail(HITL_EINVAL,
                          "parameter %d is not a feedback parameter (40x)",
                          (int)param);
    }
    return HITL_OK;
}

int hitl_feedback_aggregate(hitl_feedback *fb)
{
    if (!fb)
        return hitl__fail(HITL_EINVAL, "feedback is NULL");
    return hitl__fb_aggregate(fb, __func__);
}

/* ---- items and annotators ------------------------------------------------------------ */

/* What the handle knows of an item of the pool without events. */
static const hitl__fb_item NO_ITEM = {
    .gold = -1, .gold_event = NO_EVENT, .last_event = NO_EVENT, .label = -1,
    .confidence = NAN, .agreement = NAN, .settled_by = NO_EVENT};

/* The item of a caller id (NO_ITEM for one without events): HITL_OK,
 * HITL_EINVAL (NULL feedback), or HITL_ENOTFOUND when the pool has no such
 * item. */
static int find_item(const hitl__fb_item **it, const hitl_feedback *fb, uint64_t item_id,
                     const char *fn)
{
    if (!fb)
        return hitl__fail_in(HITL_EINVAL, fn, "feedback is NULL");
    size_t index;
    int rc = hitl_pool_find(&index, fb->pool, item_id);
    if (rc != HITL_OK)
        return hitl__fail_in(rc, fn, "no item of the pool has id %" PRIu64, item_id);
    size_t slot = hitl__idmap_get(&fb->item_map, index);
    *it = slot == HITL__NO_SLOT ? &NO_ITEM : &fb->items[slot];
    return HITL_OK;
}

int hitl_feedback_item(hitl_consensus *status, int32_t *label,
                       double *confidence, double *agreement,
                       size_t *n_labels, const hitl_feedback *fb,
                       uint64_t item_id)
{
    const hitl__fb_item *it = &NO_ITEM;
    int rc = find_item(&it, fb, item_id, __func__);
    if (rc != HITL_OK)
        return rc;
    if (status)
        *status = (hitl_consensus)it->status;
    if (label)
        *label = it->label;
    if (confidence)
        *confidence = it->confidence;
    if (agreement)
        *agreement = it->agreement;
    if (n_labels)
        *n_labels = it->n_labels;
    return HITL_OK;
}

int hitl_feedback_settlement(hitl_settlement *how, uint64_t *event_id,
                             const hitl_feedback *fb, uint64_t item_id)
{
    const hitl__fb_item *it = &NO_ITEM;
    int rc = find_item(&it, fb, item_id, __func__);
    if (rc != HITL_OK)
        return rc;
    if (how)
        *how = (hitl_settlement)it->how;
    if (event_id)
        *event_id = it->settled_by;
    return HITL_OK;
}

/* The count/capacity contract of the listing calls. */
static int check_list(const void *count, const void *fb, size_t capacity,
                      int arrays_ok, const char *fn)
{
    if (!count || !fb)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL",
                             count ? "feedback" : "count");
    if (capacity > 0 && !arrays_ok)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "an output array is NULL with capacity %zu",
                             capacity);
    return HITL_OK;
}

int hitl_feedback_pending(size_t *count, uint64_t *item_ids, size_t capacity,
                          const hitl_feedback *fb)
{
    int rc = check_list(count, fb, capacity, item_ids != NULL, __func__);
    if (rc != HITL_OK)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < fb->n_items; i++)
        if (fb->items[i].status == HITL_CONSENSUS_PENDING) {
            if (n < capacity)
                item_ids[n] = fb->items[i].id;
            n++;
        }
    *count = n;
    return HITL_OK;
}

int hitl_feedback_answers(size_t *count, uint64_t *item_ids,
                          uint64_t *annotators, int32_t *labels,
                          size_t capacity, const hitl_feedback *fb)
{
    int rc = check_list(count, fb, capacity,
                        item_ids && annotators && labels, __func__);
    if (rc != HITL_OK)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < fb->n_items; i++) {
        const hitl__fb_item *it = &fb->items[i];
        for (size_t v = 0; v < it->n_votes; v++) {
            if (it->votes[v].label < 0)
                continue;
            if (n < capacity) {
                item_ids[n] = it->id;
                annotators[n] = fb->annots[it->votes[v].annot].id;
                labels[n] = it->votes[v].label;
            }
            n++;
        }
    }
    *count = n;
    return HITL_OK;
}

int hitl_feedback_history(size_t *count, uint64_t *event_ids, size_t capacity,
                          const hitl_feedback *fb, uint64_t item_id)
{
    int rc = check_list(count, fb, capacity, event_ids != NULL, __func__);
    const hitl__fb_item *it = &NO_ITEM;
    if (rc != HITL_OK || (rc = find_item(&it, fb, item_id, __func__)) != HITL_OK)
        return rc;
    /* the trail runs newest first: count it, then fill from the back */
    uint64_t head = it->last_event;
    size_t n = 0;
    for (uint64_t e = head; e != NO_EVENT; e = fb->ev[e].item_prev)
        n++;
    size_t i = n;
    for (uint64_t e = head; e != NO_EVENT; e = fb->ev[e].item_prev)
        if (--i < capacity)
            event_ids[i] = e;
    *count = n;
    return HITL_OK;
}

int hitl_feedback_annotators(size_t *count, uint64_t *ids, size_t capacity,
                             const hitl_feedback *fb)
{
    int rc = check_list(count, fb, capacity, ids != NULL, __func__);
    if (rc != HITL_OK)
        return rc;
    for (size_t a = 0; a < fb->n_annots && a < capacity; a++)
        ids[a] = fb->annots[a].id;
    *count = fb->n_annots;
    return HITL_OK;
}

static int find_annot(size_t *slot, const hitl_feedback *fb,
                      uint64_t annotator, const char *fn)
{
    *slot = hitl__idmap_get(&fb->annot_map, annotator);
    if (*slot == HITL__NO_SLOT)
        return hitl__fail_in(HITL_ENOTFOUND, fn,
                             "annotator %" PRIu64 " has not answered",
                             annotator);
    return HITL_OK;
}

static double share(size_t ok, size_t n)
{
    return n ? (double)ok / (double)n : NAN;
}

int hitl_feedback_annotator_info(double *value, const hitl_feedback *fb,
                                 uint64_t annotator, hitl_annotator_info info)
{
    if (!value || !fb)
        return hitl__fail(HITL_EINVAL, "%s is NULL", value ? "feedback"
                                                           : "value");
    if (info < HITL_ANNOTATOR_LABELS || info > HITL_ANNOTATOR_DRIFT_AT)
        return hitl__fail(HITL_EINVAL, "unknown annotator info %d", (int)info);
    size_t a;
    int rc = find_annot(&a, fb, annotator, __func__);
    if (rc != HITL_OK)
        return rc;
    const hitl__fb_annot *an = &fb->annots[a];
    switch (info) {
    case HITL_ANNOTATOR_LABELS:        *value = (double)an->n_labels; break;
    case HITL_ANNOTATOR_SKIPS:         *value = (double)an->n_skips; break;
    case HITL_ANNOTATOR_GOLD_ANSWERS:  *value = (double)an->gold_n; break;
    case HITL_ANNOTATOR_GOLD_ACCURACY: *value = share(an->gold_ok, an->gold_n); break;
    case HITL_ANNOTATOR_CONSENSUS_ANSWERS: *value = (double)an->cons_n; break;
    case HITL_ANNOTATOR_CONSENSUS_ACCURACY:
        *value = share(an->cons_ok, an->cons_n);
        break;
    case HITL_ANNOTATOR_WEIGHT:
        *value = ((double)an->gold_ok + 1.0) / ((double)an->gold_n + 2.0);
        break;
    case HITL_ANNOTATOR_DS_ACCURACY:
        *value = a < fb->ds.A ? fb->ds.accuracy[a] : NAN;
        break;
    default: {
        hitl__drift d;
        if ((rc = hitl__fb_drift(&d, fb, a, __func__)) != HITL_OK)
            return rc;
        *value = info == HITL_ANNOTATOR_DRIFT ? d.flag
               : info == HITL_ANNOTATOR_DRIFT_BEFORE ? d.before
               : info == HITL_ANNOTATOR_DRIFT_AFTER ? d.after
               : info == HITL_ANNOTATOR_DRIFT_Z ? d.z : d.at;
    }
    }
    return HITL_OK;
}

int hitl_feedback_confusion(double *matrix, const hitl_feedback *fb,
                            uint64_t annotator, size_t n_classes)
{
    if (!matrix || !fb)
        return hitl__fail(HITL_EINVAL, "%s is NULL", matrix ? "feedback"
                                                            : "matrix");
    size_t a;
    int rc = find_annot(&a, fb, annotator, __func__);
    if (rc != HITL_OK)
        return rc;
    size_t K = fb->ds.K;
    if (K == 0 || a >= fb->ds.A)
        return hitl__fail(HITL_ESTATE,
                          "no Dawid-Skene fit covers annotator %" PRIu64
                          "; call hitl_feedback_aggregate", annotator);
    if (n_classes != K)
        return hitl__fail(HITL_EINVAL,
                          "n_classes %zu differs from the fit's %zu classes",
                          n_classes, K);
    const double *lt = fb->ds.logtheta + a * K * K;
    for (size_t c = 0; c < K * K; c++)
        matrix[c] = exp(lt[c]);
    return HITL_OK;
}

static double items_in(const hitl_feedback *fb, int status)
{
    size_t n = 0;
    for (size_t i = 0; i < fb->n_items; i++)
        n += fb->items[i].status == status;
    return (double)n;
}

int hitl_feedback_get_info(double *value, const hitl_feedback *fb,
                           hitl_feedback_info info)
{
    if (!value || !fb)
        return hitl__fail(HITL_EINVAL, "%s is NULL", value ? "feedback"
                                                           : "value");
    const hitl__records *j = &fb->journal;
    switch (info) {
    case HITL_FEEDBACK_EVENTS:        *value = (double)fb->n_ev; break;
    case HITL_FEEDBACK_ITEMS:         *value = (double)fb->n_items; break;
    case HITL_FEEDBACK_ANNOTATORS:    *value = (double)fb->n_annots; break;
    case HITL_FEEDBACK_RESOLVED:
        *value = items_in(fb, HITL_CONSENSUS_RESOLVED);
        break;
    case HITL_FEEDBACK_PENDING:
        *value = items_in(fb, HITL_CONSENSUS_PENDING);
        break;
    case HITL_FEEDBACK_GOLD:          *value = items_in(fb, HITL_CONSENSUS_GOLD); break;
    case HITL_FEEDBACK_EM_CLASSES:    *value = (double)fb->ds.K; break;
    case HITL_FEEDBACK_EM_ITERATIONS: *value = (double)fb->ds.iterations; break;
    case HITL_FEEDBACK_EM_OBJECTIVE:  *value = fb->ds.K ? fb->ds.objective : NAN; break;
    case HITL_FEEDBACK_EM_CONVERGED:  *value = fb->ds.converged; break;
    case HITL_FEEDBACK_JOURNAL_OPEN:  *value = j->fd >= 0; break;
    case HITL_FEEDBACK_JOURNAL_REPLAYED: *value = (double)j->replayed; break;
    case HITL_FEEDBACK_JOURNAL_DROPPED:  *value = (double)j->dropped; break;
    case HITL_FEEDBACK_JOURNAL_UNSYNCED: *value = (double)j->unsynced; break;
    case HITL_FEEDBACK_AGGREGATION_USED:
        /* before RECOMMENDED's first choice the items are voted on */
        *value = hitl__fb_is_model(fb->par.method) && fb->ds.kind ? fb->ds.kind
                 : fb->par.method == HITL_AGGREGATE_RECOMMENDED ? HITL_AGGREGATE_MAJORITY
                                                                : fb->par.method;
        break;
    case HITL_FEEDBACK_PRIOR_USED:     *value = fb->ds.K ? fb->ds.strength : NAN; break;
    default:
        return hitl__fail(HITL_EINVAL, "unknown feedback info %d", (int)info);
    }
    return HITL_OK;
}
