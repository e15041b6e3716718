/* The pool: feature rows in chunks that never move, four per-item arrays (id,
 * state, label, weight), per-state counts, and an id -> index map that exists
 * only once some item's id differs from its index.
 *
 * Every add is all-or-nothing: it validates, allocates, copies and checks the
 * new rows and ids into memory no reader can see yet, and only then commits
 * by bumping pool->n.  Growing the per-item arrays before the commit is not a
 * visible change, so a failure after that point needs no undo there. */
#include "data/data.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* A copied chunk gets at least this many bytes of rows (never more than the
 * pool's size so far), so a stream of small batches shares a few chunks
 * instead of making one allocation and one scoring block per batch. */
#define CHUNK_MIN_BYTES ((size_t)1 << 20)
#define ITEMS_MIN 16
#define MAP_MIN 16

/* ---- the id map ----------------------------------------------------------- */

/* Capacity for n ids at load <= 0.5, leaving room to grow to 0.7. */
static size_t map_cap_for(size_t n)
{
    size_t cap = MAP_MIN;
    while (cap / 2 < n) {
        if (cap > SIZE_MAX / 4)
            return 0;
        cap *= 2;
    }
    return cap;
}

static int map_full(size_t cap, size_t n)
{
    return n > cap / 10 * 7;
}

/* ---- one add, staged --------------------------------------------------------- */

typedef struct batch {
    const float *rows;
    size_t n, stride;
    const uint64_t *ids;  /* NULL: each item's index is its id */
    size_t first;         /* pool index of item 0 of the batch */
    int borrowed;
    size_t in_tail;       /* rows copied into the last chunk's spare room */
    float *fresh;         /* a new owned chunk for the other rows, or NULL */
    size_t fresh_cap;
    uint64_t *keys;       /* a new id map replacing the pool's, or NULL */
    size_t *vals, map_cap;
    size_t inserted;      /* ids put into the pool's own map, to undo */
    /* a CSR batch (rows NULL) */
    const int32_t *indptr, *indices;
    const float *values;
    size_t nnz;
    int into_tail;        /* copied whole into the last chunk's room */
    void *fresh_csr;      /* or into this new chunk: indptr, indices, values */
    size_t fresh_nnz_cap;
} batch;

static uint64_t batch_id(const batch *b, size_t i)
{
    return b->ids ? b->ids[i] : (uint64_t)(b->first + i);
}

/* Make the per-item arrays hold `need` items.  They grow 1.5x, not by
 * hitl__grow's doubling, because they are most of the pool's memory beside
 * the rows and a pool can hold millions of items.  pool->cap is raised only
 * when all four grew, so a failure part way is harmless. */
static int reserve_items(hitl_pool *pool, size_t need)
{
    if (need <= pool->cap)
        return 0;
    size_t cap = pool->cap + pool->cap / 2;
    if (cap < need)
        cap = need;
    if (cap < ITEMS_MIN)
        cap = ITEMS_MIN;
    if (hitl__resize((void **)&pool->ids, cap, sizeof *pool->ids) != 0 ||
        hitl__resize((void **)&pool->state, cap, sizeof *pool->state) != 0 ||
        hitl__resize((void **)&pool->label, cap, sizeof *pool->label) != 0 ||
        hitl__resize((void **)&pool->weight, cap, sizeof *pool->weight) != 0 ||
        (pool->sparse && hitl__resize((void **)&pool->sqnorm, cap, sizeof *pool->sqnorm) != 0))
        return -1;
    pool->cap = cap;
    return 0;
}

static int reserve_chunk(hitl_pool *pool)
{
    return hitl__grow((void **)&pool->chunks, &pool->cap_chunks,
                      pool->n_chunks + 1, sizeof *pool->chunks);
}

/* Copied rows go first into the last chunk's room, the rest into one new
 * chunk sized for at least CHUNK_MIN_BYTES or the whole pool so far. */
static int stage_chunk(hitl_pool *pool, batch *b)
{
    if (b->borrowed)
        return 0;
    b->in_tail = b->n < pool->tail_room ? b->n : pool->tail_room;
    size_t rest = b->n - b->in_tail;
    if (rest == 0)
        return 0;
    size_t min_rows = CHUNK_MIN_BYTES / (pool->dim * sizeof(float));
    size_t total = b->first + b->n;
    if (min_rows > total)
        min_rows = total;
    b->fresh_cap = rest > min_rows ? rest : min_rows;
    size_t count, bytes;
    if (hitl__mul_size(&count, b->fresh_cap, pool->dim) != 0 ||
        hitl__mul_size(&bytes, count, sizeof(float)) != 0)
        return -1;
    b->fresh = hitl__malloc(bytes);
    return b->fresh ? 0 : -1;
}

/* An add needs the map if the pool has one or some new id is not its index;
 * a map that would pass load 0.7 is rebuilt larger from pool->ids. */
static int stage_map(hitl_pool *pool, batch *b)
{
    size_t total = b->first + b->n;
    if (pool->map_cap == 0) {
        size_t i = 0;
        while (b->ids && i < b->n && b->ids[i] == b->first + i)
            i++;
        if (!b->ids || i == b->n)
            return 0;
    } else if (!map_full(pool->map_cap, total)) {
        return 0;
    }
    size_t cap = map_cap_for(total);
    if (cap == 0)
        return -1;
    b->keys = hitl__calloc(cap, sizeof *b->keys);
    b->vals = hitl__calloc(cap, sizeof *b->vals);
    if (!b->keys || !b->vals)
        return -1;
    b->map_cap = cap;
    for (size_t i = 0; i < b->first; i++) {
        size_t s = hitl__map_slot(b->keys, b->vals, cap, pool->ids[i]);
        b->keys[s] = pool->ids[i];
        b->vals[s] = i + 1;
    }
    return 0;
}

/* Insert the batch's ids into the staged or the pool's map; a duplicate fails
 * with a message naming the id and both places it occurs. */
static int insert_ids(hitl_pool *pool, batch *b, const char *fn)
{
    if (!b->keys && pool->map_cap == 0)
        return HITL_OK;
    uint64_t *keys = b->keys ? b->keys : pool->map_keys;
    size_t *vals = b->keys ? b->vals : pool->map_vals;
    size_t cap = b->keys ? b->map_cap : pool->map_cap;
    for (size_t i = 0; i < b->n; i++) {
        uint64_t id = batch_id(b, i);
        size_t s = hitl__map_slot(keys, vals, cap, id);
        if (vals[s]) {
            size_t other = vals[s] - 1;
            if (other >= b->first)
                return hitl__fail_in(HITL_EINVAL, fn,
                                     "ids[%zu] = %" PRIu64 " repeats ids[%zu]",
                                     i, id, other - b->first);
            if (b->ids)
                return hitl__fail_in(HITL_EINVAL, fn,
                                     "ids[%zu] = %" PRIu64
                                     " is already the id of item %zu",
                                     i, id, other);
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "ids is NULL, so rows[%zu] would get its index %"
                                 PRIu64 " as id, which item %zu already has",
                                 i, id, other);
        }
        keys[s] = id;
        vals[s] = b->first + i + 1;
        if (!b->keys)
            b->inserted++;
    }
    return HITL_OK;
}

/* Index of the first NaN or Inf among the n values at x, or n.  The scan is
 * branch-free on the exponent bits so the compiler can vectorise it. */
static size_t first_nonfinite(const float *x, size_t n)
{
    uint32_t bad = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t u;
        memcpy(&u, &x[j], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    if (!bad)
        return n;
    size_t j = 0;
    while (isfinite(x[j]))
        j++;
    return j;
}

static int check_row(const float *row, size_t dim, size_t i, const char *fn)
{
    size_t j = first_nonfinite(row, dim);
    if (j == dim)
        return HITL_OK;
    return hitl__fail_in(HITL_ENUMERIC, fn, "rows[%zu][%zu] is %s", i, j,
                         isnan(row[j]) ? "NaN" : row[j] > 0 ? "Inf" : "-Inf");
}

/* Check the rows and, unless borrowed, copy them into the staged memory: the
 * tail chunk's room past its last row, then the fresh chunk.  A row is
 * checked right after its copy, while it is in cache. */
static int stage_rows(hitl_pool *pool, batch *b, const char *fn)
{
    size_t dim = pool->dim;
    float *dst = NULL;
    if (b->in_tail) {
        hitl__chunk *tail = &pool->chunks[pool->n_chunks - 1];
        dst = tail->owned + tail->n * dim;
    }
    for (size_t i = 0; i < b->n; i++) {
        const float *src = b->rows + i * b->stride;
        if (!b->borrowed) {
            if (i == b->in_tail)
                dst = b->fresh;
            memcpy(dst, src, dim * sizeof *dst);
            src = dst;
            dst += dim;
        }
        int status = check_row(src, dim, i, fn);
        if (status != HITL_OK)
            return status;
    }
    return HITL_OK;
}

/* Forget everything staged: the pool is as it was before the add. */
static void discard(hitl_pool *pool, batch *b)
{
    /* Undoing linear-probing inserts newest first restores the table
     * exactly: each insert only filled one slot that was empty. */
    while (b->inserted > 0) {
        uint64_t id = batch_id(b, --b->inserted);
        size_t s = hitl__map_slot(pool->map_keys, pool->map_vals,
                                  pool->map_cap, id);
        pool->map_vals[s] = 0;
    }
    hitl__free(b->fresh);
    hitl__free(b->fresh_csr);
    hitl__free(b->keys);
    hitl__free(b->vals);
}

/* ---- sparse batches ---------------------------------------------------------- */

static int run_add(hitl_pool *pool, batch *b, const char *fn);

/* A copied sparse chunk is one allocation: indptr (rows + 1), then indices
 * and values (nnz each), all 4-byte. */
static int32_t *csr_indptr(void *mem) { return mem; }
static int32_t *csr_indices(void *mem, size_t rows) { return (int32_t *)mem + rows + 1; }
static float *csr_values(void *mem, size_t rows, size_t nnz)
{
    return (float *)(csr_indices(mem, rows) + nnz);
}

/* The chunk floor of dense rows, in non-zeros (8 bytes each). */
#define CHUNK_MIN_NNZ (CHUNK_MIN_BYTES / 8)
#define CHUNK_MIN_ROWS ((size_t)1024)

/* A copied batch goes whole into the last chunk when its room takes both
 * its rows and its non-zeros, else into a new chunk with room to spare for
 * later small batches (never more than the pool so far, as for dense). */
static int stage_csr_chunk(hitl_pool *pool, batch *b)
{
    if (b->borrowed)
        return 0;
    if (b->n <= pool->tail_room && b->nnz <= pool->tail_nnz_room) {
        b->into_tail = 1;
        return 0;
    }
    size_t total = b->first + b->n, rows = total < CHUNK_MIN_ROWS ? total : CHUNK_MIN_ROWS;
    size_t nnz = pool->nnz + b->nnz < CHUNK_MIN_NNZ ? pool->nnz + b->nnz : CHUNK_MIN_NNZ;
    b->fresh_cap = b->n > rows ? b->n : rows;
    b->fresh_nnz_cap = b->nnz > nnz ? b->nnz : nnz;
    if (b->fresh_nnz_cap > INT32_MAX)
        b->fresh_nnz_cap = INT32_MAX; /* >= b->nnz: the caller's indptr is int32 */
    size_t cells = b->fresh_cap + 1 + 2 * b->fresh_nnz_cap, bytes;
    if (cells < b->fresh_cap || hitl__mul_size(&bytes, cells, 4) != 0)
        return -1;
    b->fresh_csr = hitl__malloc(bytes);
    return b->fresh_csr ? 0 : -1;
}

/* The offsets: indptr[0] == 0 and never decreasing, so that every row has a
 * length >= 0 and the batch's non-zero count is indptr[n]. */
static int check_indptr(const int32_t *indptr, size_t n, const char *fn)
{
    if (indptr[0] != 0)
        return hitl__fail_in(HITL_EINVAL, fn, "indptr[0] is %" PRId32 ", not 0", indptr[0]);
    for (size_t i = 0; i < n; i++)
        if (indptr[i + 1] < indptr[i])
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "indptr[%zu] = %" PRId32 " < indptr[%zu] = %" PRId32
                                 " (row %zu would have a negative length)",
                                 i + 1, indptr[i + 1], i, indptr[i], i);
    return HITL_OK;
}

/* Row i's non-zeros, positions p0 .. p1-1 of the caller's arrays: columns in
 * [0, dim), strictly increasing, finite values. */
static int check_csr_row(const int32_t *idx, const float *val, size_t p0, size_t p1,
                         size_t dim, size_t i, const char *fn)
{
    if (p1 == p0)
        return HITL_OK;      /* idx and val may be NULL with no non-zero */
    for (size_t p = p0; p < p1; p++) {
        if (idx[p] < 0 || (size_t)idx[p] >= dim)
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "row %zu: indices[%zu] = %" PRId32 " is not in [0, dim %zu)",
                                 i, p, idx[p], dim);
        if (p > p0 && idx[p] <= idx[p - 1])
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "row %zu: indices[%zu] = %" PRId32 " %s indices[%zu] = %"
                                 PRId32 " (columns must be strictly increasing in a row)",
                                 i, p, idx[p], idx[p] == idx[p - 1] ? "repeats" : "is below",
                                 p - 1, idx[p - 1]);
    }
    size_t bad = first_nonfinite(val + p0, p1 - p0);
    if (bad < p1 - p0) {
        float v = val[p0 + bad];
        return hitl__fail_in(HITL_ENUMERIC, fn, "row %zu: values[%zu] (column %" PRId32
                             ") is %s", i, p0 + bad, idx[p0 + bad],
                             isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf");
    }
    return HITL_OK;
}

static float csr_sqnorm(const float *val, size_t p0, size_t p1)
{
    double s = 0;
    for (size_t p = p0; p < p1; p++)
        s += (double)val[p] * val[p];
    return (float)s;
}

/* Check every row and, unless borrowed, copy it into the staged memory (the
 * last chunk's room or the fresh chunk), with its offsets rebased there;
 * each row's squared norm goes to the per-item array past pool->n. */
static int stage_csr_rows(hitl_pool *pool, batch *b, const char *fn)
{
    int32_t *ip = NULL, *idx = NULL;
    float *val = NULL;
    size_t base = 0;
    if (b->into_tail) {
        hitl__chunk *t = &pool->chunks[pool->n_chunks - 1];
        ip = (int32_t *)t->indptr + t->n;  /* owned: the pool's own memory */
        base = (size_t)ip[0];
        idx = (int32_t *)t->indices + base;
        val = (float *)t->values + base;
    } else if (b->fresh_csr) {
        ip = csr_indptr(b->fresh_csr);
        ip[0] = 0;
        idx = csr_indices(b->fresh_csr, b->fresh_cap);
        val = csr_values(b->fresh_csr, b->fresh_cap, b->fresh_nnz_cap);
    }
    for (size_t i = 0; i < b->n; i++) {
        size_t p0 = (size_t)b->indptr[i], p1 = (size_t)b->indptr[i + 1];
        int st = check_csr_row(b->indices, b->values, p0, p1, pool->dim, i, fn);
        if (st != HITL_OK)
            return st;
        pool->sqnorm[b->first + i] = csr_sqnorm(b->values, p0, p1);
        if (ip)
            ip[i + 1] = (int32_t)(base + p1);
        if (ip && p1 > p0) {
            memcpy(idx + p0, b->indices + p0, (p1 - p0) * sizeof *idx);
            memcpy(val + p0, b->values + p0, (p1 - p0) * sizeof *val);
        }
    }
    return HITL_OK;
}

static void commit_csr(hitl_pool *pool, batch *b)
{
    if (b->borrowed) {
        pool->chunks[pool->n_chunks++] = (hitl__chunk){
            .first = b->first, .n = b->n, .indptr = b->indptr, .indices = b->indices,
            .values = b->values };
        pool->tail_room = pool->tail_nnz_room = 0;
    } else if (b->into_tail) {
        pool->chunks[pool->n_chunks - 1].n += b->n;
        pool->tail_room -= b->n;
        pool->tail_nnz_room -= b->nnz;
    } else {
        void *m = b->fresh_csr;
        pool->chunks[pool->n_chunks++] = (hitl__chunk){
            .first = b->first, .n = b->n, .indptr = csr_indptr(m),
            .indices = csr_indices(m, b->fresh_cap),
            .values = csr_values(m, b->fresh_cap, b->fresh_nnz_cap), .owned_csr = m };
        pool->tail_room = b->fresh_cap - b->n;
        pool->tail_nnz_room = b->fresh_nnz_cap - b->nnz;
    }
    pool->nnz += b->nnz;
}

int hitl__csr_check(const int32_t *indptr, const int32_t *indices, const float *values,
                    size_t n, size_t dim, const char *fn)
{
    int st = check_indptr(indptr, n, fn);
    if (st != HITL_OK)
        return st;
    if (indptr[n] > 0 && (!indices || !values))
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL with %" PRId32 " non-zeros",
                             !indices ? "indices" : "values", indptr[n]);
    for (size_t i = 0; i < n && st == HITL_OK; i++)
        st = check_csr_row(indices, values, (size_t)indptr[i], (size_t)indptr[i + 1], dim, i,
                           fn);
    return st;
}

static int pool_add_csr(hitl_pool *pool, const int32_t *indptr, const int32_t *indices,
                        const float *values, size_t n, const uint64_t *ids, int borrowed,
                        const char *fn)
{
    if (!pool)
        return hitl__fail_in(HITL_EINVAL, fn, "pool is NULL");
    if (!pool->sparse)
        return hitl__fail_in(HITL_EINVAL, fn, "the pool is dense (hitl_pool_create): "
                             "add its rows with hitl_pool_add");
    if (n == 0)
        return HITL_OK;
    if (!indptr)
        return hitl__fail_in(HITL_EINVAL, fn, "indptr is NULL with n = %zu", n);
    if (n >= SIZE_MAX / sizeof(int32_t) - pool->n)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "n = %zu rows (n + 1 offsets) do not fit in memory", n);
    int status = check_indptr(indptr, n, fn);
    if (status != HITL_OK)
        return status;
    size_t nnz = (size_t)indptr[n];
    if (nnz > 0 && (!indices || !values))
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL with %zu non-zeros",
                             !indices ? "indices" : "values", nnz);
    /* rows without non-zeros may come with NULL arrays: the chunk still
       gets real (empty) ones, so no pass offsets a null pointer */
    static const int32_t no_indices[1];
    static const float no_values[1];
    batch b = {.n = n, .ids = ids, .first = pool->n, .borrowed = borrowed,
               .indptr = indptr, .indices = nnz ? indices : no_indices,
               .values = nnz ? values : no_values, .nnz = nnz};
    return run_add(pool, &b, fn);
}

static void commit(hitl_pool *pool, batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        size_t k = b->first + i;
        pool->ids[k] = batch_id(b, i);
        pool->state[k] = HITL_ITEM_UNLABELED;
        pool->label[k] = -1;
        pool->weight[k] = 1.0f;
    }
    if (pool->sparse) {
        commit_csr(pool, b);
    } else if (b->borrowed) {
        pool->chunks[pool->n_chunks++] =
            (hitl__chunk){.rows = b->rows, .first = b->first, .n = b->n, .stride = b->stride};
        pool->tail_room = 0;
    } else {
        if (b->in_tail) {
            pool->chunks[pool->n_chunks - 1].n += b->in_tail;
            pool->tail_room -= b->in_tail;
        }
        if (b->fresh) {
            size_t rest = b->n - b->in_tail;
            pool->chunks[pool->n_chunks++] = (hitl__chunk){
                .rows = b->fresh, .owned = b->fresh, .first = b->first + b->in_tail,
                .n = rest, .stride = pool->dim};
            pool->tail_room = b->fresh_cap - rest;
        }
    }
    if (b->keys) {
        hitl__free(pool->map_keys);
        hitl__free(pool->map_vals);
        pool->map_keys = b->keys;
        pool->map_vals = b->vals;
        pool->map_cap = b->map_cap;
    }
    pool->count[HITL_ITEM_UNLABELED] += b->n;
    pool->n += b->n;
}

/* Stage the checked batch (dense or CSR, as the pool is), then commit it,
 * or discard everything staged. */
static int run_add(hitl_pool *pool, batch *b, const char *fn)
{
    int status = HITL_ENOMEM, sparse = pool->sparse;
    if (reserve_items(pool, pool->n + b->n) != 0 || reserve_chunk(pool) != 0 ||
        (sparse ? stage_csr_chunk(pool, b) : stage_chunk(pool, b)) != 0 ||
        stage_map(pool, b) != 0) {
        hitl__fail_in(HITL_ENOMEM, fn, "out of memory adding %zu items to %zu", b->n, pool->n);
        goto fail;
    }
    if ((status = sparse ? stage_csr_rows(pool, b, fn) : stage_rows(pool, b, fn)) != HITL_OK ||
        (status = insert_ids(pool, b, fn)) != HITL_OK)
        goto fail;
    commit(pool, b);
    return HITL_OK;
fail:
    discard(pool, b);
    return status;
}

static int pool_add(hitl_pool *pool, const float *rows, size_t n,
                    size_t stride, const uint64_t *ids, int borrowed,
                    const char *fn)
{
    if (!pool)
        return hitl__fail_in(HITL_EINVAL, fn, "pool is NULL");
    if (pool->sparse)
        return hitl__fail_in(HITL_EINVAL, fn, "the pool is sparse (hitl_pool_create_sparse): "
                             "add its rows with hitl_pool_add_csr");
    if (stride < pool->dim)
        return hitl__fail_in(HITL_EINVAL, fn, "stride %zu < dim %zu", stride,
                             pool->dim);
    if (n == 0)
        return HITL_OK;
    if (!rows)
        return hitl__fail_in(HITL_EINVAL, fn, "rows is NULL with n = %zu", n);
    /* The last row ends at (n-1)*stride + dim floats: it must be
     * addressable, and so must the pool's new item count. */
    int st = hitl__check_rows(fn, n, stride, pool->dim, sizeof(float));
    if (st != HITL_OK)
        return st;
    if (n > SIZE_MAX / sizeof(float) - pool->n)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "n = %zu rows of stride %zu do not fit in memory",
                             n, stride);

    batch b = {.rows = rows, .n = n, .stride = stride, .ids = ids,
               .first = pool->n, .borrowed = borrowed};
    return run_add(pool, &b, fn);
}

/* ---- public functions ------------------------------------------------------ */

static int pool_create(hitl_pool **out, size_t dim, int sparse, const char *fn)
{
    if (!out)
        return hitl__fail_in(HITL_EINVAL, fn, "out is NULL");
    if (dim == 0)
        return hitl__fail_in(HITL_EINVAL, fn, "dim is 0");
    if (dim > (sparse ? (size_t)INT32_MAX : SIZE_MAX / sizeof(float)))
        return hitl__fail_in(HITL_EINVAL, fn, "dim %zu is too large%s", dim,
                             sparse ? " (int32 column indices: at most 2^31 - 1)" : "");
    hitl_pool *pool = hitl__calloc(1, sizeof *pool);
    if (!pool)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory");
    pool->dim = dim;
    pool->sparse = sparse;
    hitl__handle_acquire();
    *out = pool;
    return HITL_OK;
}

int hitl_pool_create(hitl_pool **out, size_t dim)
{
    return pool_create(out, dim, 0, __func__);
}

int hitl_pool_create_sparse(hitl_pool **out, size_t dim)
{
    return pool_create(out, dim, 1, __func__);
}

int hitl_pool_add_csr(hitl_pool *pool, const int32_t *indptr, const int32_t *indices,
                      const float *values, size_t n, const uint64_t *ids)
{
    return pool_add_csr(pool, indptr, indices, values, n, ids, 0, __func__);
}

int hitl_pool_add_csr_borrowed(hitl_pool *pool, const int32_t *indptr,
                               const int32_t *indices, const float *values, size_t n,
                               const uint64_t *ids)
{
    return pool_add_csr(pool, indptr, indices, values, n, ids, 1, __func__);
}

int hitl_pool_is_sparse(int *sparse, const hitl_pool *pool)
{
    if (!sparse || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL", sparse ? "pool" : "sparse");
    *sparse = pool->sparse;
    return HITL_OK;
}

void hitl_pool_free(hitl_pool *pool)
{
    if (!pool)
        return;
    for (size_t c = 0; c < pool->n_chunks; c++) {
        hitl__free(pool->chunks[c].owned);
        hitl__free(pool->chunks[c].owned_csr);
    }
    hitl__free(pool->sqnorm);
    hitl__free(pool->chunks);
    hitl__free(pool->ids);
    hitl__free(pool->state);
    hitl__free(pool->label);
    hitl__free(pool->weight);
    hitl__free(pool->map_keys);
    hitl__free(pool->map_vals);
    hitl__free(pool);
    hitl__handle_release();
}

int hitl_pool_add(hitl_pool *pool, const float *rows, size_t n, size_t stride,
                  const uint64_t *ids)
{
    return pool_add(pool, rows, n, stride, ids, 0, __func__);
}

int hitl_pool_add_borrowed(hitl_pool *pool, const float *rows, size_t n,
                           size_t stride, const uint64_t *ids)
{
    return pool_add(pool, rows, n, stride, ids, 1, __func__);
}

static const hitl__chunk *chunk_of(const hitl_pool *pool, size_t i)
{
    size_t lo = 0, hi = pool->n_chunks - 1;
    while (lo < hi) {                 /* the last chunk with first <= i */
        size_t mid = hi - (hi - lo) / 2;
        if (pool->chunks[mid].first <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    return &pool->chunks[lo];
}

const float *hitl__pool_row(const hitl_pool *pool, size_t i)
{
    const hitl__chunk *c = chunk_of(pool, i);
    return c->rows + (i - c->first) * c->stride;
}

void hitl__pool_csr_row(const int32_t **indices, const float **values, size_t *nnz,
                        const hitl_pool *pool, size_t i)
{
    const hitl__chunk *c = chunk_of(pool, i);
    size_t p0 = (size_t)c->indptr[i - c->first], p1 = (size_t)c->indptr[i - c->first + 1];
    *indices = c->indices + p0;
    *values = c->values + p0;
    *nnz = p1 - p0;
}

int32_t *hitl__pool_gather_csr(size_t *nnz, const hitl_pool *pool, const size_t *items,
                               size_t m)
{
    const int32_t *idx;
    const float *val;
    size_t k;
    *nnz = 0;
    for (size_t j = 0; j < m; j++) {
        hitl__pool_csr_row(&idx, &val, &k, pool, items[j]);
        *nnz += k;
    }
    if (*nnz > INT32_MAX)
        return NULL;
    int32_t *ip = hitl__malloc((m + 1 + 2 * *nnz) * sizeof *ip);
    if (!ip)
        return NULL;
    int32_t *ix = ip + m + 1;
    float *vx = (float *)(ix + *nnz);
    ip[0] = 0;
    for (size_t j = 0; j < m; j++) {
        hitl__pool_csr_row(&idx, &val, &k, pool, items[j]);
        memcpy(ix + ip[j], idx, k * sizeof *ix);
        memcpy(vx + ip[j], val, k * sizeof *vx);
        ip[j + 1] = ip[j] + (int32_t)k;
    }
    return ip;
}

size_t hitl__blocks_cut(hitl__block *out, const hitl__chunk *ch, size_t n_chunks,
                        size_t first, size_t n, size_t rows)
{
    size_t count = 0, end = first + n;
    for (size_t k = 0; k < n_chunks; k++) {
        size_t lo = ch[k].first > first ? ch[k].first : first;
        size_t hi = ch[k].first + ch[k].n < end ? ch[k].first + ch[k].n : end;
        for (size_t r = lo; r < hi; r += rows, count++)
            if (out)
                out[count] = (hitl__block){
                    ch[k].rows ? ch[k].rows + (r - ch[k].first) * ch[k].stride : NULL, r,
                    hi - r < rows ? hi - r : rows, ch[k].stride,
                    ch[k].indptr ? ch[k].indptr + (r - ch[k].first) : NULL,
                    ch[k].indices, ch[k].values };
    }
    return count;
}

int hitl__blocks_plan(hitl__block **out, size_t *count, hitl__block *local, size_t n_local,
                      const hitl__chunk *ch, size_t n_chunks, size_t first, size_t n,
                      size_t rows)
{
    size_t cnt = hitl__blocks_cut(NULL, ch, n_chunks, first, n, rows);
    *out = cnt <= n_local ? local : hitl__malloc(cnt * sizeof **out);
    if (!*out)
        return HITL_ENOMEM;
    *count = hitl__blocks_cut(*out, ch, n_chunks, first, n, rows);
    return HITL_OK;
}

int hitl_pool_size(size_t *n, const hitl_pool *pool)
{
    if (!n || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL", n ? "pool" : "n");
    *n = pool->n;
    return HITL_OK;
}

int hitl_pool_dim(size_t *dim, const hitl_pool *pool)
{
    if (!dim || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL", dim ? "pool" : "dim");
    *dim = pool->dim;
    return HITL_OK;
}

int hitl_pool_count(size_t *n, const hitl_pool *pool, hitl_item_state state)
{
    if (!n || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL", n ? "pool" : "n");
    if ((unsigned)state > HITL_ITEM_SKIPPED)
        return hitl__fail(HITL_EINVAL, "unknown state %d", (int)state);
    *n = pool->count[state];
    return HITL_OK;
}

int hitl_pool_find(size_t *index, const hitl_pool *pool, uint64_t id)
{
    if (!index || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL", index ? "pool" : "index");
    if (pool->map_cap == 0) {         /* every id is its index */
        if (id >= pool->n)
            return hitl__fail(HITL_ENOTFOUND, "no item has id %" PRIu64, id);
        *index = (size_t)id;
        return HITL_OK;
    }
    size_t s = hitl__map_slot(pool->map_keys, pool->map_vals, pool->map_cap,
                              id);
    if (!pool->map_vals[s])
        return hitl__fail(HITL_ENOTFOUND, "no item has id %" PRIu64, id);
    *index = pool->map_vals[s] - 1;
    return HITL_OK;
}

/* The shared argument check of the calls that address one item. */
#define CHECK_INDEX(pool, index)                                            \
    do {                                                                    \
        if (!(pool))                                                        \
            return hitl__fail(HITL_EINVAL, "pool is NULL");                 \
        if ((index) >= (pool)->n)                                           \
            return hitl__fail(HITL_EINVAL, "index %zu >= pool size %zu",    \
                              (size_t)(index), (pool)->n);                  \
    } while (0)

int hitl_pool_item(uint64_t *id, hitl_item_state *state, int32_t *label,
                   const hitl_pool *pool, size_t index)
{
    CHECK_INDEX(pool, index);
    if (id)
        *id = pool->ids[index];
    if (state)
        *state = (hitl_item_state)pool->state[index];
    if (label)
        *label = pool->label[index];
    return HITL_OK;
}

int hitl_pool_row(const float **row, const hitl_pool *pool, size_t index)
{
    if (!row)
        return hitl__fail(HITL_EINVAL, "row is NULL");
    CHECK_INDEX(pool, index);
    if (pool->sparse)
        return hitl__fail(HITL_EINVAL, "the pool is sparse: read item %zu with "
                          "hitl_pool_sparse_row", index);
    *row = hitl__pool_row(pool, index);
    return HITL_OK;
}

int hitl_pool_sparse_row(const int32_t **indices, const float **values, size_t *nnz,
                         const hitl_pool *pool, size_t index)
{
    if (!indices || !values || !nnz)
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !indices ? "indices" : !values ? "values" : "nnz");
    CHECK_INDEX(pool, index);
    if (!pool->sparse)
        return hitl__fail(HITL_EINVAL, "the pool is dense: read item %zu with hitl_pool_row",
                          index);
    hitl__pool_csr_row(indices, values, nnz, pool, index);
    return HITL_OK;
}

int hitl_pool_weight(float *weight, const hitl_pool *pool, size_t index)
{
    if (!weight)
        return hitl__fail(HITL_EINVAL, "weight is NULL");
    CHECK_INDEX(pool, index);
    *weight = pool->weight[index];
    return HITL_OK;
}

static void move_item(hitl_pool *pool, size_t index, hitl_item_state state,
                      int32_t label)
{
    pool->count[pool->state[index]]--;
    pool->count[state]++;
    pool->state[index] = (uint8_t)state;
    pool->label[index] = label;
}

int hitl_pool_set_label(hitl_pool *pool, size_t index, int32_t label)
{
    CHECK_INDEX(pool, index);
    if (label < 0)
        return hitl__fail(HITL_EINVAL, "label %" PRId32 " of item %zu is < 0",
                          label, index);
    if (pool->classes && (size_t)label >= pool->classes)
        return hitl__fail(HITL_EINVAL,
                          "label %" PRId32 " of item %zu is not below the pool's %zu "
                          "classes", label, index, pool->classes);
    move_item(pool, index, HITL_ITEM_LABELED, label);
    return HITL_OK;
}

int hitl_pool_set_classes(hitl_pool *pool, size_t n_classes)
{
    if (!pool)
        return hitl__fail(HITL_EINVAL, "pool is NULL");
    if (n_classes == 1 || n_classes > 65536)
        return hitl__fail(HITL_EINVAL, "n_classes %zu is not 0 or in [2, 65536]",
                          n_classes);
    for (size_t i = 0; n_classes && i < pool->n; i++)
        if (pool->label[i] >= 0 && (size_t)pool->label[i] >= n_classes)
            return hitl__fail(HITL_EINVAL,
                              "item %zu (id %" PRIu64 ") has label %" PRId32
                              ", not below n_classes %zu",
                              i, pool->ids[i],
                              pool->label[i], n_classes);
    pool->classes = n_classes;
    return HITL_OK;
}

int hitl_pool_classes(size_t *n_classes, const hitl_pool *pool)
{
    if (!n_classes || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL", n_classes ? "pool" : "n_classes");
    *n_classes = pool->classes;
    return HITL_OK;
}

int hitl_pool_set_state(hitl_pool *pool, size_t index, hitl_item_state state)
{
    CHECK_INDEX(pool, index);
    if ((unsigned)state > HITL_ITEM_SKIPPED)
        return hitl__fail(HITL_EINVAL, "unknown state %d", (int)state);
    if (state == HITL_ITEM_LABELED) {
        if (pool->state[index] != HITL_ITEM_LABELED)
            return hitl__fail(HITL_EINVAL,
                              "item %zu has no label; use hitl_pool_set_label",
                              index);
        return HITL_OK;
    }
    move_item(pool, index, state, -1);
    return HITL_OK;
}

int hitl_pool_set_weight(hitl_pool *pool, size_t index, float weight)
{
    CHECK_INDEX(pool, index);
    if (!(weight > 0) || !isfinite(weight))
        return hitl__fail(HITL_EINVAL,
                          "weight %g of item %zu is not finite and > 0",
                          (double)weight, index);
    pool->weight[index] = weight;
    return HITL_OK;
}

/* ---- saved marks ------------------------------------------------------------ */

int hitl__pool_marks_save(hitl__pool_marks *m, const hitl_pool *pool)
{
    size_t n = pool->n ? pool->n : 1;
    *m = (hitl__pool_marks){ .n = pool->n };
    m->state = hitl__malloc(n * sizeof *m->state);
    m->label = hitl__malloc(n * sizeof *m->label);
    m->weight = hitl__malloc(n * sizeof *m->weight);
    if (!m->state || !m->label || !m->weight) {
        hitl__pool_marks_free(m);
        return HITL_ENOMEM;
    }
    memcpy(m->state, pool->state, pool->n * sizeof *m->state);
    memcpy(m->label, pool->label, pool->n * sizeof *m->label);
    memcpy(m->weight, pool->weight, pool->n * sizeof *m->weight);
    memcpy(m->count, pool->count, sizeof m->count);
    return HITL_OK;
}

void hitl__pool_marks_restore(hitl_pool *pool, hitl__pool_marks *m)
{
    memcpy(pool->state, m->state, m->n * sizeof *m->state);
    memcpy(pool->label, m->label, m->n * sizeof *m->label);
    memcpy(pool->weight, m->weight, m->n * sizeof *m->weight);
    memcpy(pool->count, m->count, sizeof m->count);
    hitl__pool_marks_free(m);
}

void hitl__pool_marks_free(hitl__pool_marks *m)
{
    hitl__free(m->state);
    hitl__free(m->label);
    hitl__free(m->weight);
    *m = (hitl__pool_marks){ 0 };
}

/* ---- many items at once ------------------------------------------------------ */

/* The shared argument check of the calls that read items first .. first+n-1
 * into `out` (named out_name), which may be NULL only when out_name is. */
static int check_range(const char *fn, const hitl_pool *pool, size_t first,
                       size_t n, const void *out, const char *out_name)
{
    if (!pool)
        return hitl__fail_in(HITL_EINVAL, fn, "pool is NULL");
    if (first > pool->n || n > pool->n - first)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "items [%zu, %zu + %zu) leave the pool of %zu",
                             first, first, n, pool->n);
    if (out_name && !out && n > 0)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL with n = %zu",
                             out_name, n);
    return HITL_OK;
}

int hitl_pool_items(uint64_t *ids, hitl_item_state *states, int32_t *labels,
                    const hitl_pool *pool, size_t first, size_t n)
{
    int st = check_range(__func__, pool, first, n, NULL, NULL);
    if (st != HITL_OK || n == 0)    /* n == 0: the arrays may be NULL */
        return st;
    if (ids)
        memcpy(ids, pool->ids + first, n * sizeof *ids);
    if (labels)
        memcpy(labels, pool->label + first, n * sizeof *labels);
    for (size_t i = 0; states && i < n; i++)
        states[i] = (hitl_item_state)pool->state[first + i];
    return HITL_OK;
}

int hitl_pool_weights(float *weights, const hitl_pool *pool, size_t first,
                      size_t n)
{
    int st = check_range(__func__, pool, first, n, weights, "weights");
    if (st != HITL_OK || n == 0)
        return st;
    memcpy(weights, pool->weight + first, n * sizeof *weights);
    return HITL_OK;
}

int hitl_pool_copy_rows(float *rows, const hitl_pool *pool, size_t first,
                        size_t n)
{
    int st = check_range(__func__, pool, first, n, rows, "rows");
    if (st != HITL_OK)
        return st;
    for (size_t i = 0; i < n && !pool->sparse; i++)
        memcpy(rows + i * pool->dim, hitl__pool_row(pool, first + i),
               pool->dim * sizeof *rows);
    for (size_t i = 0; i < n && pool->sparse; i++) {   /* the caller asked for dense */
        const int32_t *idx;
        const float *val;
        size_t nnz;
        float *row = rows + i * pool->dim;
        hitl__pool_csr_row(&idx, &val, &nnz, pool, first + i);
        memset(row, 0, pool->dim * sizeof *row);
        for (size_t q = 0; q < nnz; q++)
            row[idx[q]] = val[q];
    }
    return HITL_OK;
}

/* Check every (index, value) pair of a bulk write before the first change,
 * so that one bad entry leaves the pool as it was. */
static int check_batch(const char *fn, const hitl_pool *pool,
                       const size_t *indices, const void *values, size_t n)
{
    if (!pool)
        return hitl__fail_in(HITL_EINVAL, fn, "pool is NULL");
    if (n > 0 && (!indices || !values))
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL with n = %zu",
                             indices ? "the value array" : "indices", n);
    for (size_t i = 0; i < n; i++)
        if (indices[i] >= pool->n)
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "indices[%zu] = %zu >= pool size %zu", i,
                                 indices[i], pool->n);
    return HITL_OK;
}

int hitl_pool_set_labels(hitl_pool *pool, const size_t *indices,
                         const int32_t *labels, size_t n)
{
    int st = check_batch(__func__, pool, indices, labels, n);
    if (st != HITL_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0)
            return hitl__fail(HITL_EINVAL,
                              "labels[%zu] = %" PRId32 " (item %zu) is < 0",
                              i, labels[i], indices[i]);
        if (pool->classes && (size_t)labels[i] >= pool->classes)
            return hitl__fail(HITL_EINVAL,
                              "labels[%zu] = %" PRId32 " (item %zu) is not below "
                              "the pool's %zu classes", i, labels[i],
                              indices[i], pool->classes);
    }
    for (size_t i = 0; i < n; i++)
        move_item(pool, indices[i], HITL_ITEM_LABELED, labels[i]);
    return HITL_OK;
}

int hitl_pool_set_weights(hitl_pool *pool, const size_t *indices,
                          const float *weights, size_t n)
{
    int st = check_batch(__func__, pool, indices, weights, n);
    if (st != HITL_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        if (!(weights[i] > 0) || !isfinite(weights[i]))
            return hitl__fail(HITL_EINVAL,
                              "weights[%zu] = %g (item %zu) is not finite and > 0",
                              i, (double)weights[i], indices[i]);
    for (size_t i = 0; i < n; i++)
        pool->weight[indices[i]] = weights[i];
    return HITL_OK;
}
