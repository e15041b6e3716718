/* The journal: the feedback events as an append-only file that survives a
 * crash (format and guarantees in include/hitl.h, "The journal").
 *
 * Writing: each event becomes one frame [u32 n][payload][u32 crc], written
 * with one pwrite at the end of the last good frame, then synced per the
 * policy.  A failed write is cut back off, so the file never holds a frame
 * the handle does not.
 *
 * Reading: frames are checked in order (length in range, complete, CRC-32
 * over length and payload, event id the next one, every field valid) and
 * replayed through the same path as live events.  The first frame that fails
 * is either a torn tail (nothing good after it: cut off) or damage in the
 * middle (a good frame follows: refuse, touch nothing).
 *
 * Payload of format version 1, little-endian, FIXED = 67 bytes then the
 * reason:  u64 event id, u8 kind, u64 item, u64 annotator, u64 target,
 * i64 time (us), i32 label, i32 shown label, f64 confidence, f64 shown
 * confidence (NaN: none), u16 reason length, reason bytes (no NUL).  What
 * follows from the log (retracted_by, the prev chain, every aggregate) is
 * not stored: replay derives it. */
#define _DEFAULT_SOURCE 1          /* flock */
#include "people/people.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "HITLJRNL"
#define VERSION 1
#define HEADER 16
#define FIXED 67                    /* payload bytes before the reason */
#define PAYLOAD_MAX (FIXED + HITL_REASON_MAX)
#define FRAME_MAX (8 + PAYLOAD_MAX)
#define WINDOW (64 * 1024)          /* read buffer, >= FRAME_MAX */

/* ---- little-endian fields ----------------------------------------------------- */

static unsigned char *put(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static uint64_t get(const unsigned char **p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += bytes;
    return v;
}

static uint64_t f64_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static double bits_f64(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint32_t crc(const unsigned char *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

static void header_bytes(unsigned char h[HEADER])
{
    memcpy(h, MAGIC, 8);
    put(h + 8, VERSION, 4);
    put(h + 12, crc(h, 12), 4);
}

/* Encode event `id` as a frame into buf (FRAME_MAX bytes); returns its size. */
static size_t encode(unsigned char *buf, const hitl__fb_event *e, uint64_t id)
{
    unsigned char *p = buf + 4;
    p = put(p, id, 8);
    p = put(p, e->kind, 1);
    p = put(p, e->item, 8);
    p = put(p, e->annotator, 8);
    p = put(p, e->target, 8);
    p = put(p, (uint64_t)e->time, 8);
    p = put(p, (uint32_t)e->label, 4);
    p = put(p, (uint32_t)e->shown_label, 4);
    p = put(p, f64_bits(e->confidence), 8);
    p = put(p, f64_bits(e->shown_confidence), 8);
    p = put(p, e->reason_len, 2);
    if (e->reason_len)
        memcpy(p, e->reason, e->reason_len);
    p += e->reason_len;
    size_t n = (size_t)(p - buf) - 4;
    put(buf, n, 4);
    put(p, crc(buf, n + 4), 4);
    return n + 8;
}

/* Decode a payload of n bytes (its frame already passed the CRC).  The
 * reason points into the payload.  Returns 0, or -1 if the sizes disagree. */
static int decode(hitl__fb_event *e, uint64_t *id, const unsigned char *p,
                  size_t n)
{
    if (n < FIXED)
        return -1;
    *e = (hitl__fb_event){0};
    *id = get(&p, 8);
    e->kind = (uint8_t)get(&p, 1);
    e->item = get(&p, 8);
    e->annotator = get(&p, 8);
    e->target = get(&p, 8);
    e->time = (int64_t)get(&p, 8);
    e->label = (int32_t)(uint32_t)get(&p, 4);
    e->shown_label = (int32_t)(uint32_t)get(&p, 4);
    e->confidence = bits_f64(get(&p, 8));
    e->shown_confidence = bits_f64(get(&p, 8));
    e->reason_len = (uint16_t)get(&p, 2);
    e->reason = (char *)p;
    e->retracted_by = e->prev = HITL_NO_EVENT;
    return FIXED + (size_t)e->reason_len == n ? 0 : -1;
}

/* ---- system calls --------------------------------------------------------------- */

static int fail_sys(int err, const char *fn, const char *what)
{
    char buf[128];
    if (strerror_r(err, buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "error %d", err);
    return hitl__fail_in(HITL_EIO, fn, "%s: %s", what, buf);
}

static int write_at(int fd, const unsigned char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Read up to n bytes at off; returns the count (short only at end of file)
 * or -1. */
static ssize_t read_at(int fd, unsigned char *p, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* The directory holding path ("." for a bare name), or NULL without memory. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = hitl__malloc(len + 1);
    if (dir) {
        memcpy(dir, !slash ? "." : path, len);
        dir[len] = '\0';
    }
    return dir;
}

/* fsync a directory, so a new file's name in it is durable too.
 * Filesystems that cannot sync a directory (EINVAL) are not an error. */
static int sync_dir(const char *dir, const char *fn)
{
    int rc = HITL_OK, dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL))
        rc = fail_sys(errno, fn, "syncing the journal's directory");
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* ---- appending ------------------------------------------------------------------- */

int hitl__journal_append(hitl_feedback *fb, const hitl__fb_event *e,
                         uint64_t id, const char *fn)
{
    hitl__journal *j = &fb->journal;
    unsigned char buf[FRAME_MAX];
    size_t n = encode(buf, e, id);
    if (write_at(j->fd, buf, n, j->end) != 0) {
        int err = errno;
        if (ftruncate(j->fd, (off_t)j->end) != 0)
            j->failed = 1;
        return fail_sys(err, fn, "writing to the journal");
    }
    if (j->every && j->unsynced + 1 >= j->every) {
        if (fsync(j->fd) != 0) {
            /* After a failed fsync the file's state is unknown: cut the
             * record off and refuse further writes. */
            int err = errno;
            if (ftruncate(j->fd, (off_t)j->end) != 0) {
                /* nothing more can be done; failed says it all */
            }
            j->failed = 1;
            return fail_sys(err, fn, "syncing the journal");
        }
        j->unsynced = 0;
    } else {
        j->unsynced++;
    }
    j->end += n;
    return HITL_OK;
}

/* Write the header (when header is set) and events first .. n_ev-1 at the
 * end of the file, then sync.  On failure the file is cut back to `end`. */
static int write_events(hitl_feedback *fb, int header, size_t first,
                        const char *fn)
{
    hitl__journal *j = &fb->journal;
    uint64_t start = j->end;
    unsigned char buf[FRAME_MAX];
    if (header) {
        header_bytes(buf);
        if (write_at(j->fd, buf, HEADER, 0) != 0)
            goto fail;
        j->end = HEADER;
    }
    for (size_t e = first; e < fb->n_ev; e++) {
        size_t n = encode(buf, &fb->ev[e], e);
        if (write_at(j->fd, buf, n, j->end) != 0)
            goto fail;
        j->end += n;
    }
    if (fsync(j->fd) != 0)
        goto fail;
    return HITL_OK;
fail:;
    int err = errno;
    j->end = start;
    if (ftruncate(j->fd, (off_t)start) != 0) {
        /* the caller closes the file; a stray tail is cut on next open */
    }
    return fail_sys(err, fn, "writing the journal");
}

/* ---- reading --------------------------------------------------------------------- */

typedef struct reader {
    int fd;
    uint64_t size;
    uint64_t off;           /* file offset of buf[0] */
    size_t len;             /* valid bytes in buf */
    unsigned char *buf;     /* WINDOW bytes */
} reader;

/* Point *p at bytes [pos, pos + need) (need <= FRAME_MAX); *got = how many
 * the file has (fewer only at its end).  Returns 0, or -1 on a read error. */
static int fill(reader *r, uint64_t pos, size_t need, const unsigned char **p,
                size_t *got)
{
    if (pos < r->off || pos + need > r->off + r->len) {
        ssize_t n = read_at(r->fd, r->buf, WINDOW, pos);
        if (n < 0)
            return -1;
        r->off = pos;
        r->len = (size_t)n;
    }
    size_t have = r->len - (size_t)(pos - r->off);
    *p = r->buf + (pos - r->off);
    *got = have < need ? have : need;
    return 0;
}

/* The frame at pos: 1 and its payload if it is complete, of a possible size
 * and passes its CRC; 0 if not; -1 on a read error. */
static int frame_at(reader *r, uint64_t pos, const unsigned char **payload,
                    size_t *n)
{
    const unsigned char *p;
    size_t got;
    if (fill(r, pos, 4, &p, &got) != 0)
        return -1;
    if (got < 4)
        return 0;
    const unsigned char *q = p;
    size_t len = (size_t)get(&q, 4);
    if (len < FIXED || len > PAYLOAD_MAX)
        return 0;
    if (fill(r, pos, len + 8, &p, &got) != 0)
        return -1;
    if (got < len + 8)
        return 0;
    q = p + 4 + len;
    if (get(&q, 4) != crc(p, len + 4))
        return 0;
    *payload = p + 4;
    *n = len;
    return 1;
}

/* Is there a good frame for an event >= min_id anywhere after pos?  Tells a
 * torn tail (no) from damage in the middle (yes). */
static int good_after(reader *r, uint64_t pos, uint64_t min_id, uint64_t *at)
{
    for (uint64_t q = pos + 1; q + 8 + FIXED <= r->size; q++) {
        const unsigned char *payload;
        size_t n;
        int f = frame_at(r, q, &payload, &n);
        if (f < 0)
            return -1;
        hitl__fb_event e;
        uint64_t id;
        if (f == 1 && decode(&e, &id, payload, n) == 0 && id >= min_id) {
            *at = q;
            return 1;
        }
    }
    return 0;
}

/* Replay the frames after the header; *good_end = the end of the last good
 * one.  On failure the caller resets the handle. */
static int replay(hitl_feedback *fb, reader *r, uint64_t *good_end,
                  const char *fn)
{
    uint64_t pos = HEADER;
    while (pos < r->size) {
        const unsigned char *payload;
        size_t n;
        int f = frame_at(r, pos, &payload, &n);
        if (f < 0)
            return fail_sys(errno, fn, "reading the journal");
        if (f == 0)
            break;
        hitl__fb_event e;
        uint64_t id;
        int rc = HITL_EFORMAT;
        if (decode(&e, &id, payload, n) != 0)
            hitl__fail_in(rc, fn, "sizes disagree");
        else if (id != fb->n_ev)
            hitl__fail_in(rc, fn, "event id %" PRIu64 ", expected %zu", id,
                          fb->n_ev);
        else if ((rc = hitl__fb_check_event(&e, fn)) == HITL_OK)
            rc = hitl__fb_apply(fb, &e, NULL, fn);
        if (rc != HITL_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", hitl_error_message());
            return hitl__fail_in(rc == HITL_EINVAL ? HITL_EFORMAT : rc, fn,
                                 "journal record at offset %" PRIu64 ": %s",
                                 pos, why);
        }
        pos += n + 8;
        fb->journal.replayed++;
    }
    *good_end = pos;
    if (pos == r->size)
        return HITL_OK;
    uint64_t at;
    int g = good_after(r, pos, fb->n_ev, &at);
    if (g < 0)
        return fail_sys(errno, fn, "reading the journal");
    if (g > 0)
        return hitl__fail_in(HITL_EFORMAT, fn,
                             "journal record at offset %" PRIu64
                             " is damaged but a good record follows at "
                             "offset %" PRIu64 "; the file is left as it is",
                             pos, at);
    return HITL_OK;
}

/* Replay an existing journal, cut a torn tail, re-derive every item. */
static int open_existing(hitl_feedback *fb, uint64_t size, const char *fn)
{
    hitl__journal *j = &fb->journal;
    reader r = {j->fd, size, 0, 0, hitl__malloc(WINDOW)};
    if (!r.buf)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory");
    uint64_t end = HEADER;
    hitl__fb_ds ds = {0};
    fb->replaying = 1;
    int rc = replay(fb, &r, &end, fn);
    fb->replaying = 0;
    hitl__free(r.buf);
    if (rc == HITL_OK && fb->method == HITL_AGGREGATE_DAWID_SKENE &&
        (hitl__fb_ds_fit(&ds, fb) != HITL_OK ||
         hitl__fb_reserve_post(fb, ds.K) != 0))
        rc = hitl__fail_in(HITL_ENOMEM, fn, "out of memory fitting Dawid-Skene");
    if (rc == HITL_OK && end < size &&
        (ftruncate(j->fd, (off_t)end) != 0 || fsync(j->fd) != 0))
        rc = fail_sys(errno, fn, "cutting the journal's damaged tail");
    if (rc != HITL_OK) {
        hitl__fb_ds_free(&ds);
        hitl__fb_reset(fb);
        j->replayed = 0;
        return rc;
    }
    j->dropped = size - end;
    j->end = end;
    if (fb->method == HITL_AGGREGATE_DAWID_SKENE)
        hitl__fb_ds_install(fb, &ds);
    hitl__fb_refresh(fb);
    return HITL_OK;
}

/* A handle that holds events may attach a journal without records only.
 * Bytes after the header with no good frame among them are a record torn
 * while the file's first was written: cut them (synced) like any torn tail.
 * HITL_ESTATE if any good frame is there; the file is then left alone. */
static int cut_torn_only(hitl_feedback *fb, uint64_t size, const char *path,
                         const char *fn)
{
    hitl__journal *j = &fb->journal;
    reader r = {j->fd, size, 0, 0, hitl__malloc(WINDOW)};
    if (!r.buf)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory");
    const unsigned char *payload;
    size_t n;
    uint64_t at;
    int f = frame_at(&r, HEADER, &payload, &n);
    if (f == 0)
        f = good_after(&r, HEADER, 0, &at);
    int err = errno;
    hitl__free(r.buf);
    if (f < 0)
        return fail_sys(err, fn, "reading the journal");
    if (f > 0)
        return hitl__fail_in(HITL_ESTATE, fn,
                             "journal %s has records and the handle "
                             "already holds %zu events", path, fb->n_ev);
    if (ftruncate(j->fd, (off_t)HEADER) != 0 || fsync(j->fd) != 0)
        return fail_sys(errno, fn, "cutting the journal's damaged tail");
    j->dropped = size - HEADER;
    return HITL_OK;
}

static int check_header(int fd, uint64_t size, const char *fn)
{
    unsigned char want[HEADER], have[HEADER];
    header_bytes(want);
    size_t n = size < HEADER ? (size_t)size : HEADER;
    if (read_at(fd, have, n, 0) != (ssize_t)n)
        return fail_sys(errno, fn, "reading the journal header");
    if (memcmp(have, want, n < 8 ? n : 8) != 0)
        return hitl__fail_in(HITL_EFORMAT, fn, "not a libhitl journal");
    if (n < HEADER) {                 /* torn while being created */
        if (memcmp(have, want, n) != 0)
            return hitl__fail_in(HITL_EFORMAT, fn,
                                 "damaged journal header (%zu bytes)", n);
        return HITL_OK;
    }
    const unsigned char *p = have + 8;
    uint32_t version = (uint32_t)get(&p, 4);
    if (get(&p, 4) != crc(have, 12))
        return hitl__fail_in(HITL_EFORMAT, fn, "journal header checksum fails");
    if (version != VERSION)
        return hitl__fail_in(HITL_EFORMAT, fn,
                             "journal version %" PRIu32 " is not supported "
                             "(this library reads %d)", version, VERSION);
    return HITL_OK;
}

static int attach(hitl_feedback *fb, const char *path, const char *fn)
{
    hitl__journal *j = &fb->journal;
    struct stat st;
    if (flock(j->fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK
                   ? hitl__fail_in(HITL_EIO, fn,
                                   "journal %s is in use by another handle "
                                   "or process", path)
                   : fail_sys(errno, fn, "locking the journal");
    if (fstat(j->fd, &st) != 0)
        return fail_sys(errno, fn, "reading the journal's size");
    uint64_t size = (uint64_t)st.st_size;
    int rc = size ? check_header(j->fd, size, fn) : HITL_OK;
    if (rc != HITL_OK)
        return rc;
    if (size > HEADER && fb->n_ev == 0)
        return open_existing(fb, size, fn);
    if (size > HEADER) {
        if ((rc = cut_torn_only(fb, size, path, fn)) != HITL_OK)
            return rc;
        size = HEADER;
    }
    if (size == HEADER) {             /* a journal without records yet */
        j->end = HEADER;
        return fb->n_ev ? write_events(fb, 0, 0, fn) : HITL_OK;
    }
    /* A new journal: header and the events held so far.  Every failure
     * leaves the file empty, so the next open starts afresh. */
    char *dir = dir_of(path);
    if (!dir)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory");
    if (size > 0 && ftruncate(j->fd, 0) != 0)
        rc = fail_sys(errno, fn, "resetting a torn journal header");
    j->end = 0;
    if (rc == HITL_OK)
        rc = write_events(fb, 1, 0, fn);
    if (rc == HITL_OK && (rc = sync_dir(dir, fn)) != HITL_OK &&
        ftruncate(j->fd, 0) != 0) {
        /* the header and records stay; they are valid */
    }
    hitl__free(dir);
    return rc;
}

int hitl_feedback_open_journal(hitl_feedback *fb, const char *path,
                               unsigned fsync_every)
{
    if (!fb || !path)
        return hitl__fail(HITL_EINVAL, "%s is NULL", fb ? "path" : "feedback");
    hitl__journal *j = &fb->journal;
    if (j->fd >= 0)
        return hitl__fail(HITL_ESTATE, "a journal is open already");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        char what[256];
        snprintf(what, sizeof what, "opening journal %s", path);
        return fail_sys(errno, __func__, what);
    }
    *j = (hitl__journal){.fd = fd, .every = fsync_every};
    int rc = attach(fb, path, __func__);
    if (rc != HITL_OK) {
        close(fd);
        *j = (hitl__journal){.fd = -1};
    }
    return rc;
}

int hitl__journal_close(hitl_feedback *fb, int sync, const char *fn)
{
    hitl__journal *j = &fb->journal;
    if (j->fd < 0)
        return HITL_OK;
    int rc = HITL_OK;
    if (sync && j->every && j->unsynced && !j->failed && fsync(j->fd) != 0)
        rc = fail_sys(errno, fn, "syncing the journal");
    if (close(j->fd) != 0 && rc == HITL_OK)
        rc = fail_sys(errno, fn, "closing the journal");
    *j = (hitl__journal){.fd = -1};
    return rc;
}

int hitl_feedback_sync(hitl_feedback *fb)
{
    if (!fb)
        return hitl__fail(HITL_EINVAL, "feedback is NULL");
    hitl__journal *j = &fb->journal;
    if (j->fd < 0)
        return hitl__fail(HITL_ESTATE, "no journal is open");
    if (j->failed)
        return hitl__fail(HITL_EIO, "%s", HITL__JOURNAL_FAILED);
    if (fsync(j->fd) != 0)
        return fail_sys(errno, __func__, "syncing the journal");
    j->unsynced = 0;
    return HITL_OK;
}

int hitl_feedback_close_journal(hitl_feedback *fb)
{
    if (!fb)
        return hitl__fail(HITL_EINVAL, "feedback is NULL");
    return hitl__journal_close(fb, 1, __func__);
}
