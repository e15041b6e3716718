/*
 * The data layer: the pool of items (rows, ids, states, labels, weights)
 * and what a class label is.  Uses only the base layer.
 */
#ifndef HITL_DATA_H
#define HITL_DATA_H

#include "base/base.h"

/* ---- pool.c ---------------------------------------------------------------- */

/* Rows live in chunks that never move once added: a copied batch owns its
 * memory, a borrowed batch points at the caller's.  Chunk j covers items
 * first .. first+n-1; in a dense pool row i of the chunk starts at
 * rows + i*stride; in a sparse pool (rows NULL) its non-zeros are positions
 * indptr[i] .. indptr[i+1]-1 of indices (columns, strictly increasing) and
 * values, with indptr[0] == 0 for the chunk. */
typedef struct hitl__chunk {
    const float *rows;
    float *owned;      /* == rows when copied, NULL when borrowed */
    size_t first, n, stride;
    const int32_t *indptr, *indices;
    const float *values;
    void *owned_csr;   /* a copied sparse chunk's one allocation, or NULL */
} hitl__chunk;

struct hitl_pool {
    size_t dim, n, cap;
    hitl__chunk *chunks;
    size_t n_chunks, cap_chunks;
    size_t tail_room;  /* rows the last chunk can still take: copied chunks
                          get spare rows so small batches share a chunk;
                          0 when the last chunk is borrowed */
    int sparse;        /* rows are CSR (hitl_pool_create_sparse) */
    size_t tail_nnz_room; /* sparse: non-zeros the last chunk can still take */
    size_t nnz;        /* sparse: non-zeros of all items */
    float *sqnorm;     /* sparse: ||x_i||^2 per item (sum in double) */
    uint64_t *ids;     /* per item */
    uint8_t *state;    /* hitl_item_state per item */
    int32_t *label;    /* -1 when none */
    float *weight;     /* sample weight, default 1 */
    size_t count[3];   /* items per state */
    size_t classes;    /* declared class count, or 0 */
    /* open-addressing map id -> index+1 (0 = empty slot); absent (map_cap 0)
       while every item's id equals its index */
    uint64_t *map_keys;
    size_t *map_vals;
    size_t map_cap;    /* power of two */
};

/* Row pointer of item i (i < pool->n) of a dense pool, binary search over
 * the chunks. */
const float *hitl__pool_row(const hitl_pool *pool, size_t i);
/* The non-zeros of item i (i < pool->n) of a sparse pool: *nnz columns at
 * *indices with their *values. */
void hitl__pool_csr_row(const int32_t **indices, const float **values, size_t *nnz,
                        const hitl_pool *pool, size_t i);

/* Copies of the rows of items[0 .. m-1] of a sparse pool as one CSR matrix
 * in one allocation: m + 1 offsets from 0, then the columns, then the
 * values (free it with hitl__free).  *nnz = the non-zeros; NULL when out of
 * memory or when they exceed INT32_MAX (then *nnz > INT32_MAX). */
int32_t *hitl__pool_gather_csr(size_t *nnz, const hitl_pool *pool, const size_t *items,
                               size_t m);

/* HITL_OK if n CSR rows of dim columns are well formed (indptr[0] == 0 and
 * never decreasing; columns in [0, dim), strictly increasing in a row;
 * finite values; indices and values not NULL when there are non-zeros),
 * else HITL_EINVAL / HITL_ENUMERIC naming fn, the row and the position.
 * n + 1 offsets must be addressable. */
int hitl__csr_check(const int32_t *indptr, const int32_t *indices, const float *values,
                    size_t n, size_t dim, const char *fn);

/* A run of consecutive items whose rows are evenly spaced: item first+i at
 * rows + i*stride; or (rows NULL) CSR: the non-zeros of item first+i are
 * positions indptr[i] .. indptr[i+1]-1 of indices and values.  Every pass
 * over the pool works a block at a time. */
typedef struct hitl__block {
    const float *rows;
    size_t first, n, stride;
    const int32_t *indptr, *indices;
    const float *values;
} hitl__block;
/* Cut items [first, first+n) of chunks ch[0 .. n_chunks-1] into blocks of at
 * most `rows` rows that never cross a chunk, in item order, into out (NULL:
 * only count them).  Returns the number of blocks.  A caller's own matrix
 * is one chunk: (hitl__chunk){ .rows = X, .n = n, .stride = stride }. */
size_t hitl__blocks_cut(hitl__block *out, const hitl__chunk *ch, size_t n_chunks,
                        size_t first, size_t n, size_t rows);
/* The same into *out, *count blocks: into local (n_local entries) when
 * they fit, so short passes allocate nothing, else into a new array (free
 * it with hitl__free when *out != local).  HITL_OK or HITL_ENOMEM (no
 * message set). */
int hitl__blocks_plan(hitl__block **out, size_t *count, hitl__block *local, size_t n_local,
                      const hitl__chunk *ch, size_t n_chunks, size_t first, size_t n,
                      size_t rows);
/* How many blocks a plan keeps in its caller's local array. */
#define HITL__LOCAL_BLOCKS 8

/* What feedback writes into a pool (each item's state, label and weight),
 * saved so that a journal replay that fails part way can put it back.
 * 9 bytes an item; the pool must not gain items in between. */
typedef struct hitl__pool_marks {
    uint8_t *state;
    int32_t *label;
    float *weight;
    size_t n, count[3];
} hitl__pool_marks;
int hitl__pool_marks_save(hitl__pool_marks *m, const hitl_pool *pool);   /* or ENOMEM */
void hitl__pool_marks_restore(hitl_pool *pool, hitl__pool_marks *m);      /* and frees */
void hitl__pool_marks_free(hitl__pool_marks *m);                          /* zeroed: ok */

/* ---- labels.c ---------------------------------------------------------------- */

/* HITL_OK if n_classes is in [2, 65536], else HITL_EINVAL naming it. */
int hitl__check_classes(const char *fn, size_t n_classes);
/* HITL_OK if every label[i] (i < n) is in [0, n_classes), else HITL_EINVAL
 * with "fn: name[i] is v, not in [0, n_classes)". */
int hitl__check_labels(const char *fn, const char *name, const int32_t *label,
                       size_t n, size_t n_classes);

/* Rows of class probabilities (n x k, row-major): HITL_OK when every value
 * is finite and >= 0 and every row sums to 1 within HITL__PROBA_SLACK;
 * else HITL_ENUMERIC (NaN/Inf) or HITL_EINVAL naming row and class
 * ("proba[3][1] is -0.5, not a probability", "proba row 2 sums to 2.9,
 * not 1").  _row checks one row, named `row` in messages. */
#define HITL__PROBA_SLACK 1e-3
int hitl__check_proba_row(const char *fn, const float *p, size_t k, size_t row);
int hitl__check_proba(const char *fn, const float *proba, size_t n, size_t k);

#endif /* HITL_DATA_H */
