/* A file of checksummed records that survives a crash: the storage under
 * the feedback journal.  It knows frames, not what they hold.
 *
 * Layout: a 16-byte header (8 magic bytes, u32 version, u32 CRC-32 of the
 * twelve before), then frames [u32 n][payload of n bytes][u32 crc], the CRC
 * over the length and the payload, little-endian.
 *
 * Writing: each record is one pwrite at the end of the last good frame,
 * then synced per the policy.  A failed write is cut back off, so the file
 * never holds a frame its writer does not.
 *
 * Reading: frames are checked in order (length in the format's range,
 * complete, CRC) and handed to the reader, which may refuse one.  The first
 * frame that fails is either a torn tail (nothing good after it: the caller
 * cuts it off) or damage in the middle (a good frame that the reader
 * recognises as a later record follows: refuse, touch nothing). */
#define _DEFAULT_SOURCE 1          /* flock */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER HITL__RECORD_HEADER
#define WINDOW (64 * 1024)          /* read buffer; at least one frame */
#define FRAME_LOCAL 4096            /* frames up to this size need no malloc */

static size_t frame_max(const hitl__record_format *f)
{
    return HITL__RECORD_OVERHEAD + f->max_payload;
}

static void header_bytes(unsigned char h[HEADER], const hitl__record_format *f, uint32_t v)
{
    memcpy(h, f->magic, 8);
    hitl__put_le(h + 8, v, 4);
    hitl__put_le(h + 12, hitl__crc32(h, 12), 4);
}

/* Frame n payload bytes at frame + HITL__RECORD_HEAD in place; returns the
 * frame's size. */
static size_t seal(unsigned char *frame, size_t n)
{
    hitl__put_le(frame, n, 4);
    hitl__put_le(frame + 4 + n, hitl__crc32(frame, n + 4), 4);
    return n + HITL__RECORD_OVERHEAD;
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
static int sync_dir(const char *dir, const hitl__record_format *f, const char *fn)
{
    char what[96];
    snprintf(what, sizeof what, "syncing the %s's directory", f->name);
    int rc = HITL_OK, dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL))
        rc = fail_sys(errno, fn, what);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* A failed system call on the file; what says what was done, with one %s
 * for the format's name ("writing to the %s"). */
static int fail_the(int err, const hitl__records *r, const char *fn, const char *what)
{
    char buf[128];
    snprintf(buf, sizeof buf, what, r->fmt->name);
    return fail_sys(err, fn, buf);
}

/* ---- writing ------------------------------------------------------------------------ */

int hitl__records_append(hitl__records *r, unsigned char *frame, size_t n, const char *fn)
{
    size_t size = seal(frame, n);
    if (write_at(r->fd, frame, size, r->end) != 0) {
        int err = errno;
        if (ftruncate(r->fd, (off_t)r->end) != 0)
            r->failed = 1;
        return fail_the(err, r, fn, "writing to the %s");
    }
    if (r->every && r->unsynced + 1 >= r->every) {
        if (fsync(r->fd) != 0) {
            /* After a failed fsync the file's state is unknown: cut the
             * record off and refuse further writes. */
            int err = errno;
            if (ftruncate(r->fd, (off_t)r->end) != 0) {
                /* nothing more can be done; failed says it all */
            }
            r->failed = 1;
            return fail_the(err, r, fn, "syncing the %s");
        }
        r->unsynced = 0;
    } else {
        r->unsynced++;
    }
    r->end += size;
    return HITL_OK;
}

int hitl__records_write(hitl__records *r, int header, size_t count, hitl__record_put put,
                        void *ctx, const char *fn)
{
    uint64_t start = r->end;
    unsigned char local[FRAME_LOCAL];    /* enough for the journal's frames */
    unsigned char *buf = frame_max(r->fmt) <= sizeof local ? local
                                                           : hitl__malloc(frame_max(r->fmt));
    if (!buf)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory");
    if (header) {
        r->version = r->fmt->version;
        header_bytes(buf, r->fmt, r->version);
        if (write_at(r->fd, buf, HEADER, 0) != 0)
            goto fail;
        r->end = HEADER;
    }
    for (size_t i = 0; i < count; i++) {
        size_t size = seal(buf, put(ctx, i, buf + HITL__RECORD_HEAD));
        if (write_at(r->fd, buf, size, r->end) != 0)
            goto fail;
        r->end += size;
    }
    if (fsync(r->fd) != 0)
        goto fail;
    if (buf != local)
        hitl__free(buf);
    return HITL_OK;
fail:;
    int err = errno;
    if (buf != local)
        hitl__free(buf);
    r->end = start;
    if (ftruncate(r->fd, (off_t)start) != 0) {
        /* the caller closes the file; a stray tail is cut on next open */
    }
    return fail_the(err, r, fn, "writing the %s");
}

int hitl__records_create(hitl__records *r, const char *path, uint64_t size, size_t count,
                         hitl__record_put put, void *ctx, const char *fn)
{
    char *dir = dir_of(path);
    if (!dir)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory");
    int rc = HITL_OK;
    if (size > 0 && ftruncate(r->fd, 0) != 0)
        rc = fail_the(errno, r, fn, "resetting a torn %s header");
    r->end = 0;
    if (rc == HITL_OK)
        rc = hitl__records_write(r, 1, count, put, ctx, fn);
    if (rc == HITL_OK && (rc = sync_dir(dir, r->fmt, fn)) != HITL_OK &&
        ftruncate(r->fd, 0) != 0) {
        /* the header and records stay; they are valid */
    }
    hitl__free(dir);
    return rc;
}

/* ---- reading --------------------------------------------------------------------- */

typedef struct reader {
    const hitl__records *r;
    uint64_t size;
    uint64_t off;           /* file offset of buf[0] */
    size_t len;             /* valid bytes in buf */
    size_t cap;             /* bytes of buf */
    unsigned char *buf;
} reader;

static int reader_init(reader *rd, const hitl__records *r, uint64_t size)
{
    size_t cap = frame_max(r->fmt) > WINDOW ? frame_max(r->fmt) : WINDOW;
    *rd = (reader){ r, size, 0, 0, cap, hitl__malloc(cap) };
    return rd->buf ? HITL_OK : HITL_ENOMEM;
}

/* Point *p at bytes [pos, pos + need) (need <= cap); *got = how many the file
 * has (fewer only at its end).  Returns 0, or -1 on a read error. */
static int fill(reader *rd, uint64_t pos, size_t need, const unsigned char **p, size_t *got)
{
    if (pos < rd->off || pos + need > rd->off + rd->len) {
        ssize_t n = read_at(rd->r->fd, rd->buf, rd->cap, pos);
        if (n < 0)
            return -1;
        rd->off = pos;
        rd->len = (size_t)n;
    }
    size_t have = rd->len - (size_t)(pos - rd->off);
    *p = rd->buf + (pos - rd->off);
    *got = have < need ? have : need;
    return 0;
}

/* The frame at pos: 1 and its payload if it is complete, of a possible size
 * and passes its CRC; 0 if not; -1 on a read error. */
static int frame_at(reader *rd, uint64_t pos, const unsigned char **payload, size_t *n)
{
    const hitl__record_format *f = rd->r->fmt;
    const unsigned char *p;
    size_t got;
    if (fill(rd, pos, 4, &p, &got) != 0)
        return -1;
    if (got < 4)
        return 0;
    const unsigned char *q = p;
    size_t len = (size_t)hitl__get_le(&q, 4);
    if (len < f->min_payload || len > f->max_payload)
        return 0;
    if (fill(rd, pos, len + 8, &p, &got) != 0)
        return -1;
    if (got < len + 8)
        return 0;
    q = p + 4 + len;
    if (hitl__get_le(&q, 4) != hitl__crc32(p, len + 4))
        return 0;
    *payload = p + 4;
    *n = len;
    return 1;
}

/* Is there a good frame that `later` accepts after pos, within the first
 * HITL__RECORD_SCAN bytes?  Tells a torn tail (no) from damage in the middle
 * (yes); a frame is looked for at every offset, so the bound keeps a long
 * damaged stretch from taking seconds per MiB. */
static int good_after(reader *rd, uint64_t pos, hitl__record_test later, void *ctx,
                      uint64_t *at)
{
    uint64_t stop = rd->size - pos > HITL__RECORD_SCAN ? pos + HITL__RECORD_SCAN : rd->size;
    for (uint64_t q = pos + 1; q + 8 + rd->r->fmt->min_payload <= stop; q++) {
        const unsigned char *payload;
        size_t n;
        int f = frame_at(rd, q, &payload, &n);
        if (f < 0)
            return -1;
        if (f == 1 && later(ctx, payload, n)) {
            *at = q;
            return 1;
        }
    }
    return 0;
}

/* Are bytes [from, size) all zero (where a crash lost writes that had
 * already grown the file)?  1, 0, or -1 on a read error. */
static int zeros_from(reader *rd, uint64_t from)
{
    for (uint64_t pos = from; pos < rd->size;) {
        const unsigned char *p;
        size_t got, want = rd->size - pos < rd->cap ? (size_t)(rd->size - pos) : rd->cap;
        if (fill(rd, pos, want, &p, &got) != 0)
            return -1;
        for (size_t i = 0; i < got; i++)
            if (p[i])
                return 0;
        if (got == 0)
            break;
        pos += got;
    }
    return 1;
}

/* No good record follows the damaged frame at pos: still not a torn tail
 * when more bytes follow than the search covered, unless all of those are
 * zero. */
static int too_long(reader *rd, uint64_t pos, const char *fn)
{
    if (rd->size - pos <= HITL__RECORD_SCAN)
        return HITL_OK;
    int z = zeros_from(rd, pos + HITL__RECORD_SCAN);
    if (z < 0)
        return fail_the(errno, rd->r, fn, "reading the %s");
    if (z)
        return HITL_OK;
    return hitl__fail_in(HITL_EFORMAT, fn,
                         "%s record at offset %" PRIu64 " is damaged and %" PRIu64
                         " bytes follow, more than a torn write leaves (%d were "
                         "searched for a good record); the file is left as it is",
                         rd->r->fmt->name, pos, rd->size - pos, HITL__RECORD_SCAN);
}

/* The bytes from pos on hold no good frame at pos: HITL_OK when they are a
 * torn tail (no good later record after them, and no longer than a scan
 * covers), else HITL_EFORMAT saying why the file is left alone. */
static int tail_verdict(reader *rd, uint64_t pos, hitl__record_test later, void *ctx,
                        const char *fn)
{
    const hitl__records *r = rd->r;
    uint64_t at;
    int g = good_after(rd, pos, later, ctx, &at);
    if (g < 0)
        return fail_the(errno, r, fn, "reading the %s");
    if (g > 0)
        return hitl__fail_in(HITL_EFORMAT, fn,
                             "%s record at offset %" PRIu64 " is damaged but a good record "
                             "follows at offset %" PRIu64 "; the file is left as it is",
                             r->fmt->name, pos, at);
    return too_long(rd, pos, fn);
}

/* Replay the frames after the header; *good_end = the end of the last good
 * one. */
static int replay(hitl__records *r, reader *rd, hitl__record_fn each, hitl__record_test later,
                  void *ctx, uint64_t *good_end, const char *fn)
{
    uint64_t pos = HEADER;
    while (pos < rd->size) {
        const unsigned char *payload;
        size_t n;
        int f = frame_at(rd, pos, &payload, &n);
        if (f < 0)
            return fail_the(errno, r, fn, "reading the %s");
        if (f == 0)
            break;
        int rc = each(ctx, payload, n);
        if (rc != HITL_OK) {
            char why[448];
            snprintf(why, sizeof why, "%s", hitl_error_message());
            return hitl__fail_in(rc == HITL_EINVAL ? HITL_EFORMAT : rc, fn,
                                 "%s record at offset %" PRIu64 ": %s", r->fmt->name, pos,
                                 why);
        }
        pos += n + 8;
        r->replayed++;
    }
    *good_end = pos;
    return pos == rd->size ? HITL_OK : tail_verdict(rd, pos, later, ctx, fn);
}

int hitl__records_read(hitl__records *r, uint64_t size, hitl__record_fn each,
                       hitl__record_test later, void *ctx, uint64_t *end, const char *fn)
{
    reader rd;
    if (reader_init(&rd, r, size) != HITL_OK)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory");
    *end = HEADER;
    int rc = replay(r, &rd, each, later, ctx, end, fn);
    hitl__free(rd.buf);
    return rc;
}

int hitl__records_any(int *found, hitl__records *r, uint64_t size, hitl__record_test later,
                      void *ctx, const char *fn)
{
    reader rd;
    if (reader_init(&rd, r, size) != HITL_OK)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory");
    const unsigned char *payload;
    size_t n;
    uint64_t at;
    int f = frame_at(&rd, HEADER, &payload, &n), rc = HITL_OK;
    if (f == 0)
        f = good_after(&rd, HEADER, later, ctx, &at);
    if (f < 0)
        rc = fail_the(errno, r, fn, "reading the %s");
    else if (f == 0)            /* no good record: a tail, if it is short */
        rc = too_long(&rd, HEADER, fn);
    hitl__free(rd.buf);
    *found = f > 0;
    return rc;
}

int hitl__records_cut(hitl__records *r, uint64_t size, uint64_t end, const char *fn)
{
    if (ftruncate(r->fd, (off_t)end) != 0 || fsync(r->fd) != 0)
        return fail_the(errno, r, fn, "cutting the %s's damaged tail");
    r->dropped = size - end;
    r->end = end;
    return HITL_OK;
}

/* ---- opening and closing ------------------------------------------------------------ */

static int check_header(hitl__records *r, uint64_t size, const char *fn)
{
    const hitl__record_format *f = r->fmt;
    unsigned char want[HEADER], have[HEADER];
    header_bytes(want, f, f->version);
    size_t n = size < HEADER ? (size_t)size : HEADER;
    if (read_at(r->fd, have, n, 0) != (ssize_t)n)
        return fail_the(errno, r, fn, "reading the %s header");
    if (memcmp(have, want, n < 8 ? n : 8) != 0)
        return hitl__fail_in(HITL_EFORMAT, fn, "not a libhitl %s", f->name);
    if (n < HEADER) {                 /* torn while being created */
        if (memcmp(have, want, n) != 0)
            return hitl__fail_in(HITL_EFORMAT, fn, "damaged %s header (%zu bytes)", f->name,
                                 n);
        return HITL_OK;
    }
    const unsigned char *p = have + 8;
    uint32_t version = (uint32_t)hitl__get_le(&p, 4);
    if (hitl__get_le(&p, 4) != hitl__crc32(have, 12))
        return hitl__fail_in(HITL_EFORMAT, fn, "%s header checksum fails", f->name);
    if (version < f->oldest || version > f->newest)
        return hitl__fail_in(HITL_EFORMAT, fn,
                             "%s version %" PRIu32 " is not supported (this library reads "
                             "versions %" PRIu32 " to %" PRIu32 ")", f->name, version,
                             f->oldest, f->newest);
    r->version = version;
    return HITL_OK;
}

/* Lock, size and header of the open file. */
static int attach(hitl__records *r, const char *path, uint64_t *size, const char *fn)
{
    struct stat st;
    if (flock(r->fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK
                   ? hitl__fail_in(HITL_EIO, fn, "%s %s is in use by another handle "
                                   "or process", r->fmt->name, path)
                   : fail_the(errno, r, fn, "locking the %s");
    if (fstat(r->fd, &st) != 0)
        return fail_the(errno, r, fn, "reading the %s's size");
    *size = (uint64_t)st.st_size;
    return *size ? check_header(r, *size, fn) : HITL_OK;
}

int hitl__records_open(hitl__records *r, const char *path, const hitl__record_format *fmt,
                       unsigned every, uint64_t *size, const char *fn)
{
    *r = (hitl__records){ .fd = -1, .every = every, .fmt = fmt };
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        char what[256];
        snprintf(what, sizeof what, "opening %s %s", fmt->name, path);
        return fail_sys(err, fn, what);
    }
    r->fd = fd;
    int rc = attach(r, path, size, fn);
    if (rc != HITL_OK)
        hitl__records_abandon(r);
    return rc;
}

void hitl__records_abandon(hitl__records *r)
{
    if (r->fd >= 0)
        close(r->fd);
    *r = (hitl__records){ .fd = -1 };
}

int hitl__records_sync(hitl__records *r, const char *fn)
{
    if (fsync(r->fd) != 0)
        return fail_the(errno, r, fn, "syncing the %s");
    r->unsynced = 0;
    return HITL_OK;
}

int hitl__records_set_version(hitl__records *r, uint32_t v, const char *fn)
{
    unsigned char h[HEADER];
    header_bytes(h, r->fmt, v);
    if (write_at(r->fd, h, HEADER, 0) != 0 || fsync(r->fd) != 0)
        return fail_the(errno, r, fn, "rewriting the %s header");
    r->version = v;
    return HITL_OK;
}

int hitl__records_close(hitl__records *r, int sync, const char *fn)
{
    if (r->fd < 0)
        return HITL_OK;
    int rc = HITL_OK;
    if (sync && r->every && r->unsynced && !r->failed && fsync(r->fd) != 0)
        rc = fail_the(errno, r, fn, "syncing the %s");
    if (close(r->fd) != 0 && rc == HITL_OK)
        rc = fail_the(errno, r, fn, "closing the %s");
    *r = (hitl__records){ .fd = -1 };
    return rc;
}
