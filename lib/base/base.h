/*
 * The base layer: mechanisms that know nothing about learning.  Errors, the
 * allocator hook, what the CPU offers, random numbers, top-k selection, id
 * maps, the worker pool and the checksummed record file.  Every other layer
 * builds on these; nothing here includes a header of a higher layer (see
 * lib/README).  Not installed; nothing here is ABI.  Internal symbols are
 * named hitl__* and have hidden visibility, so they never leave the shared
 * object (only the hitl_* names in libhitl.map do).
 */
#ifndef HITL_BASE_H
#define HITL_BASE_H

#define HITL_BUILDING 1
#include "hitl.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#  define HITL__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define HITL__PRINTF(f, a)
#endif

/* ---- error.c: status plus thread-local detail message ------------------- */

/* Record "fn: detail" as the calling thread's message and return status, so a
 * failure is one line:  return hitl__fail(HITL_EINVAL, "dim is 0"); the
 * function name comes from the macro. */
int hitl__fail_in(int status, const char *fn, const char *fmt, ...)
    HITL__PRINTF(3, 4);
#define hitl__fail(status, ...) hitl__fail_in((status), __func__, __VA_ARGS__)
/* Make message (a whole "fn: detail" taken from another thread) the calling
 * thread's message; returns status. */
int hitl__fail_copy(int status, const char *message);

/* ---- alloc.c: the one allocator hook ------------------------------------- */

void *hitl__malloc(size_t size);               /* NULL on failure or size 0 */
void *hitl__calloc(size_t n, size_t size);     /* zeroed; checks n*size */
void *hitl__realloc(void *ptr, size_t size);
void hitl__free(void *ptr);                    /* accepts NULL */
/* n*size without overflow: returns 0 and sets *out, or -1 on overflow. */
int hitl__mul_size(size_t *out, size_t n, size_t size);
/* Every entry point that reads n caller rows checks this first, so that a
 * row count no buffer can hold is refused instead of read past: HITL_OK
 * when n rows of `width` elements of `elem` bytes, each `stride` elements
 * after the one before, are addressable ((n-1) stride + width elements of
 * elem bytes fit in size_t); else HITL_EINVAL "fn: n = N rows of stride S
 * do not fit in memory".  A plain array of n elements is stride = width = 1. */
int hitl__check_rows(const char *fn, size_t n, size_t stride, size_t width, size_t elem);
/* Resize the array *p to n elements of elem bytes (n*elem > 0).  Returns 0,
 * or -1 (overflow or out of memory) with *p unchanged and still valid. */
int hitl__resize(void **p, size_t n, size_t elem);
/* Make the array *p of capacity *cap hold at least `need` elements: the
 * capacity doubles (from 4) until it does, so n appends cost O(n) copies.
 * Returns 0, or -1 with *p and *cap unchanged. */
int hitl__grow(void **p, size_t *cap, size_t need, size_t elem);

/* Live-handle accounting for hitl_set_allocator's "no handle alive" rule.
 * Every _create calls acquire after its last allocation succeeded; every
 * _free calls release. */
void hitl__handle_acquire(void);
void hitl__handle_release(void);

/* ---- cpu.c: instruction sets and CPUs ------------------------------------ */

/* Instruction sets of the kernels.  hitl__isa() is the best the CPU and OS
 * support, capped by hitl__isa_set_cap() (a test hook, so that the tests
 * cover the portable fallback; not thread-safe; returns the old cap). */
enum { HITL__ISA_PORTABLE = 0, HITL__ISA_AVX2 = 1, HITL__ISA_AVX512 = 2 };
int hitl__isa(void);
int hitl__isa_set_cap(int cap);
/* Online CPUs, at least 1: the default number of workers. */
size_t hitl__cpus(void);

/* ---- rng.c: seeded pseudo-random numbers (splitmix64) --------------------- */

/* splitmix64's output function: also the mixer that hashes a key. */
uint64_t hitl__mix64(uint64_t x);
typedef struct hitl__rng { uint64_t s; } hitl__rng;
/* Stream `stream` of `seed`: independent streams for e.g. members. */
void hitl__rng_seed(hitl__rng *r, uint64_t seed, uint64_t stream);
uint64_t hitl__rng_next(hitl__rng *r);
double hitl__rng_unit(hitl__rng *r);   /* uniform in [0, 1), 53 bits */
/* A uniform key in [0, 1) that is a hash of (seed, i) alone. */
double hitl__rng_key(uint64_t seed, size_t i);

/* ---- topk.c: the k best (key, index) pairs --------------------------------- */

/* A bounded heap keeping the k best pairs, where "best" means smallest key,
 * ties to the smaller index.  Strategies whose order is "largest first" push
 * -score.  O(log k) per push. */
typedef struct hitl__topk {
    size_t k, n;
    double *key;
    size_t *index;
} hitl__topk;

/* HITL_OK, or HITL_ENOMEM (then t holds nothing to free). */
int hitl__topk_init(hitl__topk *t, size_t k);
void hitl__topk_free(hitl__topk *t);
void hitl__topk_push(hitl__topk *t, double key, size_t index);
/* Restore the heap order after entries were stored directly into key and
 * index (t->n <= t->k of them), e.g. by a caller that appends while there
 * is room and sorts itself when nothing was dropped. */
void hitl__topk_heapify(hitl__topk *t);
/* Merge src into dst (both bounded by the same k). */
void hitl__topk_merge(hitl__topk *dst, const hitl__topk *src);
/* Sort the kept entries best first, in place. */
void hitl__topk_sort(hitl__topk *t);

/* Is (ka, ia) worse than (kb, ib)? */
static inline int hitl__topk_worse(double ka, size_t ia, double kb, size_t ib)
{
    return ka > kb || (ka == kb && ia > ib);
}
/* Would a push of (key, index) be thrown away?  Most items of a query lose
 * to the worst kept one: hot loops test this before calling push. */
static inline int hitl__topk_rejects(const hitl__topk *t, double key, size_t index)
{
    return t->n == t->k && hitl__topk_worse(key, index, t->key[0], t->index[0]);
}

/* ---- idmap.c: uint64 key -> dense slot ------------------------------------- */

#define HITL__NO_SLOT SIZE_MAX

/* The probe of an open-addressing uint64 -> index map: keys and vals of cap
 * slots, cap a power of two, vals[s] = index + 1 or 0 for an empty slot.
 * Returns the slot holding key, or the empty slot where it would go (linear
 * probing from its splitmix64 hash); the caller keeps the load below 1, so
 * that slot exists. */
size_t hitl__map_slot(const uint64_t *keys, const size_t *vals, size_t cap,
                      uint64_t key);

/* A growing map over that probe (vals hold slot + 1, 0 = empty; load <= 1/2). */
typedef struct hitl__idmap {
    uint64_t *keys;
    size_t *vals;
    size_t cap, n;
} hitl__idmap;
/* The slot of key, or HITL__NO_SLOT. */
size_t hitl__idmap_get(const hitl__idmap *m, uint64_t key);
/* Room for one more key: 0, or -1 (out of memory; the map is unchanged). */
int hitl__idmap_reserve(hitl__idmap *m);
/* Add a key that is not there yet, after a successful reserve. */
void hitl__idmap_put(hitl__idmap *m, uint64_t key, size_t slot);
void hitl__idmap_free(hitl__idmap *m);

/* ---- tasks.c: the worker pool ------------------------------------------------ */

/* Runs task `task` as worker `worker` (< the workers of the run).  Returns
 * HITL_OK, or a status after setting the thread's message (hitl__fail_in). */
typedef int (*hitl__task_fn)(void *ctx, size_t worker, size_t task);
/* Run tasks 0 .. n_tasks-1 on up to `workers` threads (at most one per task;
 * the calling thread is worker 0; a thread that cannot start means fewer
 * workers).  Workers take the next task in turn, so each worker's tasks come
 * in increasing order.  A failure stops the hand-out of tasks; the lowest
 * failed task's status is returned with its message set in the calling
 * thread.  fn_name names the caller for the run's own failures (ENOMEM). */
int hitl__tasks_run(size_t workers, size_t n_tasks, hitl__task_fn fn, void *ctx,
                    const char *fn_name);

/* ---- bytes.c: little-endian fields and CRC-32 -------------------------------- */

/* Write v as `bytes` little-endian bytes at p; returns p + bytes. */
unsigned char *hitl__put_le(unsigned char *p, uint64_t v, int bytes);
/* Read `bytes` little-endian bytes at *p, advancing *p. */
uint64_t hitl__get_le(const unsigned char **p, int bytes);
unsigned char *hitl__put_f64(unsigned char *p, double x);   /* its bits, 8 bytes */
double hitl__get_f64(const unsigned char **p);
uint32_t hitl__crc32(const void *p, size_t n);              /* zlib's CRC-32 */

/* ---- records.c: a file of checksummed records --------------------------------- */

/* A 16-byte header, then frames [u32 n][payload][u32 CRC-32 of both]: a
 * frame's payload starts HITL__RECORD_HEAD bytes in, and a frame is
 * HITL__RECORD_OVERHEAD bytes longer than its payload. */
#define HITL__RECORD_HEADER 16
#define HITL__RECORD_HEAD 4
#define HITL__RECORD_OVERHEAD 8
/* After a damaged frame, a good later record is looked for in at most this
 * many bytes; a longer damaged stretch is not taken for a torn tail. */
#define HITL__RECORD_SCAN (1 << 20)

/* What a file's records are: its name in messages ("journal"), the 8 magic
 * bytes of its header, the version new files get and the versions it reads
 * (oldest .. newest), and the sizes a payload may have. */
typedef struct hitl__record_format {
    const char *name;
    const char *magic;
    uint32_t version, oldest, newest;
    size_t min_payload, max_payload;
} hitl__record_format;

typedef struct hitl__records {
    int fd;                 /* -1 when none is open */
    int failed;             /* a write failed and could not be undone */
    unsigned every;         /* fsync after every `every` records; 0 never */
    uint64_t end;           /* offset just past the last good record */
    size_t unsynced;        /* records written since the last fsync */
    size_t replayed;        /* records read when it was opened */
    uint64_t dropped;       /* bytes of damaged tail cut off when opened */
    uint32_t version;       /* of the file's header */
    const hitl__record_format *fmt;
} hitl__records;

/* A record read back (payload of n bytes, valid until the next record):
 * HITL_OK, or a status with the message set, which stops the reading. */
typedef int (*hitl__record_fn)(void *ctx, const unsigned char *payload, size_t n);
/* A good frame found after a damaged one: is it a genuine later record
 * (nonzero), or bytes that merely pass the checks (0)? */
typedef int (*hitl__record_test)(void *ctx, const unsigned char *payload, size_t n);
/* Record i's payload into payload (room for max_payload bytes); returns its
 * size. */
typedef size_t (*hitl__record_put)(void *ctx, size_t i, unsigned char *payload);

/* Open (creating) and lock path, check its header if it has one; *size =
 * the file's size.  HITL_EIO (cannot open, in use: locked by another
 * handle or process) or HITL_EFORMAT (not this format); on failure r holds
 * no file (fd -1). */
int hitl__records_open(hitl__records *r, const char *path, const hitl__record_format *fmt,
                       unsigned every, uint64_t *size, const char *fn);
/* Hand every good record after the header to each(), in order, until the
 * first bad frame; *end = where the good records end.  HITL_EFORMAT when a
 * later record (per `later`) follows a bad frame (damage in the middle),
 * when more than HITL__RECORD_SCAN bytes follow it, or when each() refuses a
 * record as invalid; HITL_EIO, HITL_ENOMEM, or each()'s status.  Messages
 * name the offset. */
int hitl__records_read(hitl__records *r, uint64_t size, hitl__record_fn each,
                       hitl__record_test later, void *ctx, uint64_t *end, const char *fn);
/* *found = 1 when some good frame follows the header (the first, or one that
 * `later` accepts within HITL__RECORD_SCAN bytes); HITL_EFORMAT when none
 * does and more than HITL__RECORD_SCAN bytes follow. */
int hitl__records_any(int *found, hitl__records *r, uint64_t size, hitl__record_test later,
                      void *ctx, const char *fn);
/* Cut the file at `end` (a torn tail; end <= size) and sync. */
int hitl__records_cut(hitl__records *r, uint64_t size, uint64_t end, const char *fn);
/* Write the header (when header is set) and `count` records from put() at
 * the end of the file, then sync.  On failure the file is cut back. */
int hitl__records_write(hitl__records *r, int header, size_t count, hitl__record_put put,
                        void *ctx, const char *fn);
/* A new file (or one whose header was torn, size > 0): header and records,
 * then the directory synced; every failure leaves the file empty. */
int hitl__records_create(hitl__records *r, const char *path, uint64_t size, size_t count,
                         hitl__record_put put, void *ctx, const char *fn);
/* Append the record of n payload bytes written at frame + HITL__RECORD_HEAD
 * (frame has n + HITL__RECORD_OVERHEAD bytes), syncing per the policy.
 * HITL_OK or HITL_EIO (the file is cut back to the last good record; if even
 * that fails, or a sync failed, r->failed is set). */
int hitl__records_append(hitl__records *r, unsigned char *frame, size_t n, const char *fn);
int hitl__records_sync(hitl__records *r, const char *fn);
/* Rewrite the header with version v (a file grows into a newer format
 * before its first record of the new kind), synced.  HITL_EIO. */
int hitl__records_set_version(hitl__records *r, uint32_t v, const char *fn);
/* Close the file if open: fsync unsynced records first when sync is set.
 * abandon closes without a word (after a failed open). */
int hitl__records_close(hitl__records *r, int sync, const char *fn);
void hitl__records_abandon(hitl__records *r);

#endif /* HITL_BASE_H */
