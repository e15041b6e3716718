/* The journal: what the live handle did, as a file of checksummed records
 * that survives a crash (format and guarantees in include/hitl.h, "The
 * journal"; the file mechanics in base/records.c, the record form of an
 * event and of a control record in event.c).
 *
 * Live events are appended by feedback.c as they are recorded, and so are
 * the points where the handle changed a parameter or re-aggregated (control
 * records, format 2).  Opening a journal with records re-executes them in
 * order through the same paths as the live calls (hitl__fb_apply,
 * hitl__fb_set_param, hitl__fb_aggregate), so the reopened handle is in the
 * state of the one that wrote them.  A journal without control records
 * (format 1, or one in which nothing but events happened) ends its replay
 * with an aggregation, as format 1 always did.  A torn tail is cut off;
 * damage in the middle is refused and the file left as it is. */
#include "people/people.h"

#include <inttypes.h>
#include <math.h>

/* A record read back while opening: the next event or control, applied. */
typedef struct replay {
    hitl_feedback *fb;
    int any_id;               /* is_later: any id will do (not only the next
                                 event's or above) */
    size_t controls;          /* control records replayed */
    const char *fn;
} replay;

static int apply_control(replay *rp, const hitl__fb_event *e)
{
    int rc = hitl__control_check(e, rp->fn);
    if (rc != HITL_OK)
        return rc;
    rp->controls++;
    if (e->kind == HITL__CTRL_AGGREGATE)
        return hitl__fb_aggregate(rp->fb, rp->fn);
    if (e->kind == HITL__CTRL_ROLE)
        return hitl__fb_set_role(rp->fb, e->annotator, e->label, rp->fn);
    return hitl__fb_set_param(rp->fb, (hitl_param)e->item, e->confidence, rp->fn);
}

static int apply_record(void *ctx, const unsigned char *payload, size_t n)
{
    replay *rp = ctx;
    hitl_feedback *fb = rp->fb;
    hitl__fb_event e;
    uint64_t id;
    if (hitl__event_decode(&e, &id, payload, n) != 0)
        return hitl__fail_in(HITL_EFORMAT, rp->fn, "sizes disagree");
    if (id != fb->n_ev)
        return hitl__fail_in(HITL_EFORMAT, rp->fn, "event id %" PRIu64 ", expected %zu", id,
                             fb->n_ev);
    if (hitl__is_control(e.kind))
        return apply_control(rp, &e);
    if (e.n_shown && fb->journal.version < HITL__JOURNAL_SHOWN)
        return hitl__fail_in(HITL_EFORMAT, rp->fn, "event %" PRIu64 " has an explanation, "
                             "which a version %" PRIu32 " journal cannot hold", id,
                             fb->journal.version);
    int rc = hitl__fb_check_event(&e, rp->fn);
    return rc != HITL_OK ? rc : hitl__fb_apply(fb, &e, NULL, rp->fn);
}

/* After a damaged record: a record that could follow it (its id is not
 * below the next event's) means damage in the middle. */
static int is_later(void *ctx, const unsigned char *payload, size_t n)
{
    const replay *rp = ctx;
    hitl__fb_event e;
    uint64_t id;
    return hitl__event_decode(&e, &id, payload, n) == 0 &&
           (rp->any_id || id >= rp->fb->n_ev);
}

static size_t put_event(void *ctx, size_t i, unsigned char *payload)
{
    const hitl_feedback *fb = ctx;
    return hitl__event_encode(payload, &fb->ev[i], i);
}

/* What the handle was before a replay that may fail part way: replay sets
 * parameters, fits and writes the pool as it goes. */
typedef struct before {
    hitl__fb_params par;
    hitl__fb_ds ds;
    hitl__pool_marks marks;
    hitl__fb_role *roles;     /* a version 2 replay starts without roles */
    size_t n_roles, cap_roles;
    hitl__idmap role_map;
    int took_roles;
} before;

static int save_before(before *b, hitl_feedback *fb, const char *fn)
{
    b->par = fb->par;
    if (hitl__pool_marks_save(&b->marks, fb->pool) != HITL_OK)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for the pool's %zu items",
                             fb->pool->n);
    b->ds = fb->ds;
    fb->ds = (hitl__fb_ds){0};
    b->took_roles = 0;
    return HITL_OK;
}

/* A version 2 replay starts without roles: the handle's are kept aside. */
static void take_roles(before *b, hitl_feedback *fb)
{
    b->took_roles = 1;
    b->roles = fb->roles;
    b->n_roles = fb->n_roles;
    b->cap_roles = fb->cap_roles;
    b->role_map = fb->role_map;
    fb->roles = NULL;
    fb->n_roles = fb->cap_roles = 0;
    fb->role_map = (hitl__idmap){0};
}

static void restore_before(before *b, hitl_feedback *fb)
{
    hitl__fb_reset(fb);
    hitl__fb_ds_free(&fb->ds);
    fb->ds = b->ds;
    fb->par = b->par;
    if (b->took_roles) {
        hitl__fb_roles_clear(fb);
        fb->roles = b->roles;
        fb->n_roles = b->n_roles;
        fb->cap_roles = b->cap_roles;
        fb->role_map = b->role_map;
    }
    hitl__pool_marks_restore(fb->pool, &b->marks);
}

/* Replay an existing journal, cut a torn tail; a journal without control
 * records ends with an aggregation. */
static int open_existing(hitl_feedback *fb, uint64_t size, const char *fn)
{
    hitl__records *j = &fb->journal;
    uint64_t end = HITL__RECORD_HEADER;
    before b;
    int rc = save_before(&b, fb, fn);
    if (rc != HITL_OK)
        return rc;
    /* format 2 records every parameter that differs from the base (the
       defaults with MAJORITY), and every role; format 1 replays under the
       handle's parameters, with MAJORITY, the default it was written
       under, unless the handle chose a method */
    if (j->version >= HITL__JOURNAL_CONTROLS) {
        hitl__fb_params_base(&fb->par);
        take_roles(&b, fb);
    } else if (!fb->par.method_chosen) {
        fb->par.method = HITL_AGGREGATE_MAJORITY;
    }
    replay rp = { fb, 0, 0, fn };
    fb->replaying = 1;
    rc = hitl__records_read(j, size, apply_record, is_later, &rp, &end, fn);
    hitl__fb_ds ds = {0};
    int implicit = rc == HITL_OK && rp.controls == 0;
    if (implicit)
        rc = hitl__fb_prepare(&ds, &fb->par, fb, fn);
    fb->replaying = 0;
    if (rc == HITL_OK && end < size)
        rc = hitl__records_cut(j, size, end, fn);
    if (rc != HITL_OK) {
        hitl__fb_ds_free(&ds);
        restore_before(&b, fb);
        j->replayed = 0;
        return rc;
    }
    hitl__fb_ds_free(&b.ds);
    hitl__pool_marks_free(&b.marks);
    if (b.took_roles) {
        hitl__free(b.roles);
        hitl__idmap_free(&b.role_map);
    }
    j->end = end;
    j->replayed = fb->n_ev;
    if (implicit) {
        hitl__fb_params same = fb->par;
        hitl__fb_commit(fb, &same, &ds);
        /* the file does not say that this aggregation happened: the next
           record written says it first (a majority vote's aggregation
           changes nothing the events did not) */
        fb->unrecorded_aggregate =
            fb->n_ev > 0 && fb->par.method != HITL_AGGREGATE_MAJORITY;
    }
    return HITL_OK;
}

/* A handle that holds events may attach a journal without records only.
 * Bytes after the header with no good record among them are a record torn
 * while the file's first was written: cut them (synced) like any torn tail.
 * HITL_ESTATE if any good record is there; the file is then left alone. */
static int cut_torn_only(hitl_feedback *fb, uint64_t size, const char *path,
                         const char *fn)
{
    replay rp = { fb, 1, 0, fn };
    int found;
    int rc = hitl__records_any(&found, &fb->journal, size, is_later, &rp, fn);
    if (rc != HITL_OK)
        return rc;
    if (found)
        return hitl__fail_in(HITL_ESTATE, fn,
                             "journal %s has records and the handle "
                             "already holds %zu events", path, fb->n_ev);
    return hitl__records_cut(&fb->journal, size, HITL__RECORD_HEADER, fn);
}

static int any_shown(const hitl_feedback *fb)
{
    for (size_t i = 0; i < fb->n_ev; i++)
        if (fb->ev[i].n_shown)
            return 1;
    return 0;
}

/* A journal without records (a new file: its header first) gets the
 * parameters that differ from the base (hitl__fb_params_base) and the
 * handle's events; the
 * handle then re-aggregates, as a replay of these records will.  Every
 * failure leaves the handle as it was and the file without records. */
static int write_held(hitl_feedback *fb, const char *path, int create, uint64_t size,
                      const char *fn)
{
    hitl__records *j = &fb->journal;
    hitl__fb_ds ds = {0};
    /* a model's fit is redone even without events: the one the handle has
       may predate its EM settings, which a replay would fit with */
    int again = fb->n_ev || hitl__fb_is_model(fb->par.method);
    int rc = again ? hitl__fb_prepare(&ds, &fb->par, fb, fn) : HITL_OK;
    if (rc == HITL_OK && create)
        rc = hitl__records_create(j, path, size, 0, put_event, fb, fn);
    /* version 3 before the events that need it; the parameters follow the
       events, as below */
    if (rc == HITL_OK && any_shown(fb))
        rc = hitl__records_set_version(j, HITL__JOURNAL_SHOWN, fn);
    if (rc == HITL_OK && fb->n_ev)
        rc = hitl__records_write(j, 0, fb->n_ev, put_event, fb, fn);
    /* after the events, so that their ids come first (a replay then sets
       these parameters, which re-decides every item, as the live handle's
       aggregation below does) */
    if (rc == HITL_OK && (rc = hitl__fb_journal_params(fb, 0, fn)) != HITL_OK &&
        j->end > HITL__RECORD_HEADER)
        (void)hitl__records_cut(j, j->end, HITL__RECORD_HEADER, fn);
    if (rc != HITL_OK) {
        hitl__fb_ds_free(&ds);
        return rc;
    }
    /* no record of this aggregation is needed: a model method differs
       from the base's MAJORITY, so its record, written last, makes the
       replay fit as this does */
    if (again) {
        hitl__fb_params same = fb->par;
        hitl__fb_commit(fb, &same, &ds);
    }
    return HITL_OK;
}

static int attach(hitl_feedback *fb, const char *path, uint64_t size, const char *fn)
{
    hitl__records *j = &fb->journal;
    if (size > HITL__RECORD_HEADER && fb->n_ev == 0)
        return open_existing(fb, size, fn);
    if (size > HITL__RECORD_HEADER) {
        int rc = cut_torn_only(fb, size, path, fn);
        if (rc != HITL_OK)
            return rc;
        size = HITL__RECORD_HEADER;
    }
    if (size == HITL__RECORD_HEADER) {   /* a journal without records yet */
        j->end = HITL__RECORD_HEADER;
        return write_held(fb, path, 0, size, fn);
    }
    /* A new journal: header and the events held so far.  Every failure
     * leaves the file empty, so the next open starts afresh. */
    return write_held(fb, path, 1, size, fn);
}

int hitl_feedback_open_journal(hitl_feedback *fb, const char *path,
                               unsigned fsync_every)
{
    if (!fb || !path)
        return hitl__fail(HITL_EINVAL, "%s is NULL", fb ? "path" : "feedback");
    if (fb->journal.fd >= 0)
        return hitl__fail(HITL_ESTATE, "a journal is open already");
    uint64_t size;
    int rc = hitl__records_open(&fb->journal, path, &hitl__journal_format, fsync_every, &size, __func__);
    if (rc == HITL_OK && (rc = attach(fb, path, size, __func__)) != HITL_OK)
        hitl__records_abandon(&fb->journal);
    return rc;
}

int hitl_feedback_sync(hitl_feedback *fb)
{
    if (!fb)
        return hitl__fail(HITL_EINVAL, "feedback is NULL");
    if (fb->journal.fd < 0)
        return hitl__fail(HITL_ESTATE, "no journal is open");
    if (fb->journal.failed)
        return hitl__fail(HITL_EIO, "%s", HITL__JOURNAL_FAILED);
    return hitl__records_sync(&fb->journal, __func__);
}

int hitl_feedback_close_journal(hitl_feedback *fb)
{
    if (!fb)
        return hitl__fail(HITL_EINVAL, "feedback is NULL");
    fb->unrecorded_aggregate = 0;
    return hitl__records_close(&fb->journal, 1, __func__);
}
