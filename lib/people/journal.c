/* The journal: the feedback events as a file of checksummed records that
 * survives a crash (format and guarantees in include/hitl.h, "The
 * journal"; the file mechanics in base/records.c, the record form of an
 * event in event.c).
 *
 * Live events are appended by feedback.c as they are recorded.  Opening a
 * journal with records replays them, in order, through the same path as
 * live events (hitl__fb_apply), so a reopened handle is the one that wrote
 * them; a record must carry the next event id and pass every check.  A torn
 * tail is cut off; damage in the middle is refused and the file left as it
 * is. */
#include "people/people.h"

#include <inttypes.h>

static const hitl__record_format FORMAT = {
    .name = "journal", .magic = "HITLJRNL", .version = 1,
    .min_payload = HITL__EVENT_FIXED, .max_payload = HITL__EVENT_MAX,
};

/* A record read back while opening: the next event, applied. */
typedef struct replay {
    hitl_feedback *fb;
    int any_id;               /* is_later: any event id will do (not only the
                                 next one's or above) */
    const char *fn;
} replay;

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
    int rc = hitl__fb_check_event(&e, rp->fn);
    return rc != HITL_OK ? rc : hitl__fb_apply(fb, &e, NULL, rp->fn);
}

/* After a damaged record: an event record that could follow it (its id is
 * not below the next one) means damage in the middle. */
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

/* Replay an existing journal, cut a torn tail, re-derive every item. */
static int open_existing(hitl_feedback *fb, uint64_t size, const char *fn)
{
    hitl__records *j = &fb->journal;
    uint64_t end = HITL__RECORD_HEADER;
    hitl__fb_ds ds = {0};
    replay rp = { fb, 0, fn };
    fb->replaying = 1;
    int rc = hitl__records_read(j, size, apply_record, is_later, &rp, &end, fn);
    fb->replaying = 0;
    if (rc == HITL_OK && fb->method == HITL_AGGREGATE_DAWID_SKENE &&
        (rc = hitl__fb_ds_fit(&ds, fb, fn)) == HITL_OK &&
        hitl__fb_reserve_post(fb, ds.K) != 0)
        rc = hitl__fail_in(HITL_ENOMEM, fn, "out of memory fitting Dawid-Skene");
    if (rc == HITL_OK && end < size)
        rc = hitl__records_cut(j, size, end, fn);
    if (rc != HITL_OK) {
        hitl__fb_ds_free(&ds);
        hitl__fb_reset(fb);
        j->replayed = 0;
        return rc;
    }
    j->end = end;
    if (fb->method == HITL_AGGREGATE_DAWID_SKENE)
        hitl__fb_ds_install(fb, &ds);
    hitl__fb_refresh(fb);
    return HITL_OK;
}

/* A handle that holds events may attach a journal without records only.
 * Bytes after the header with no good record among them are a record torn
 * while the file's first was written: cut them (synced) like any torn tail.
 * HITL_ESTATE if any good record is there; the file is then left alone. */
static int cut_torn_only(hitl_feedback *fb, uint64_t size, const char *path,
                         const char *fn)
{
    replay rp = { fb, 1, fn };
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
        return fb->n_ev ? hitl__records_write(j, 0, fb->n_ev, put_event, fb, fn) : HITL_OK;
    }
    /* A new journal: header and the events held so far.  Every failure
     * leaves the file empty, so the next open starts afresh. */
    return hitl__records_create(j, path, size, fb->n_ev, put_event, fb, fn);
}

int hitl_feedback_open_journal(hitl_feedback *fb, const char *path,
                               unsigned fsync_every)
{
    if (!fb || !path)
        return hitl__fail(HITL_EINVAL, "%s is NULL", fb ? "path" : "feedback");
    if (fb->journal.fd >= 0)
        return hitl__fail(HITL_ESTATE, "a journal is open already");
    uint64_t size;
    int rc = hitl__records_open(&fb->journal, path, &FORMAT, fsync_every, &size, __func__);
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
    return hitl__records_close(&fb->journal, 1, __func__);
}
