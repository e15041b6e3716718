/*
 * libhitl - human-in-the-loop learning as an embeddable C library.
 *
 * This header is the reference manual.  Read it top to bottom once:
 *
 *   hitl_pool      the items: float32 feature rows, caller ids, a state and a
 *                  label per item.  Labeled and unlabeled items share a pool.
 *   hitl_model     what learns: built-in multinomial logistic regression, or a
 *                  custom model driven by the caller's callbacks.
 *   hitl_strategy  how the next items to ask a person about are chosen.
 *   hitl_feedback  what people answered, with who answered it.
 *
 * The loop:  hitl_model_fit(m, pool);  hitl_query(..., s, m, pool, k);
 *            show the k items to a person;  hitl_feedback_label(fb, id, who, y);
 *            hitl_model_fit(m, pool) again (warm-started), and so on.
 *
 * Conventions that hold for every function unless its block says otherwise:
 *
 *  - Status.  Every fallible call returns an int: HITL_OK (0) on success or a
 *    negative hitl_status.  On failure nothing observable has changed: the
 *    handle is as it was before the call and stays usable.  A detail message
 *    naming the argument, index and value that was wrong is kept per thread;
 *    read it with hitl_error_message().
 *  - Arguments.  Out-parameters come first.  Passing NULL where a pointer is
 *    required returns HITL_EINVAL, never crashes.
 *  - Ownership.  A handle is owned by the caller of its _create function and
 *    released with its _free function; every _free accepts NULL.  Buffers
 *    passed in are copied before the call returns unless the block says they
 *    are "borrowed", in which case they must stay valid and unchanged for the
 *    stated lifetime.
 *  - Threads.  The library is thread-safe in the sense that different handles
 *    may be used from different threads at once.  One handle must not be used
 *    from two threads at once, except where a block says "concurrent reads":
 *    those calls only read the handle and may run in parallel with each other
 *    (but not with a call that changes it).
 *  - The library never aborts, exits, prints or reads the environment.
 *
 * ABI.  Only hitl_* symbols are exported.  No public struct exists; options are
 * set through typed parameter calls with fixed enum values, so adding an option
 * never changes a layout.  Enum values are never renumbered.
 */
#ifndef HITL_H
#define HITL_H

#include <stddef.h>
#include <stdint.h>

#if defined(HITL_BUILDING) && defined(__GNUC__)
#  define HITL_API __attribute__((visibility("default")))
#else
#  define HITL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/* Version                                                                    */
/* ------------------------------------------------------------------------- */

#define HITL_VERSION_MAJOR 0
#define HITL_VERSION_MINOR 1
#define HITL_VERSION_PATCH 0
#define HITL_VERSION_STRING "0.1.0"
#define HITL_VERSION_NUMBER \
    (HITL_VERSION_MAJOR * 10000 + HITL_VERSION_MINOR * 100 + HITL_VERSION_PATCH)

/* hitl_version: the version string of the library that is running, such as
 * "0.1.0".  Compare with HITL_VERSION_STRING to detect a header/library
 * mismatch.  Never fails; the string is static. */
HITL_API const char *hitl_version(void);

/* hitl_version_number: MAJOR*10000 + MINOR*100 + PATCH of the running
 * library; equals HITL_VERSION_NUMBER when header and library agree. */
HITL_API unsigned hitl_version_number(void);

/* ------------------------------------------------------------------------- */
/* Status codes and error messages                                            */
/* ------------------------------------------------------------------------- */

typedef enum hitl_status {
    HITL_OK        =  0,
    HITL_EINVAL    = -1, /* an argument is invalid (NULL, out of range, shape) */
    HITL_ENOMEM    = -2, /* an allocation failed */
    HITL_ESTATE    = -3, /* the call is not allowed in the handle's state,
                            e.g. predicting with a model that is not fitted */
    HITL_ENUMERIC  = -4, /* NaN or Inf in the input, or a computation that
                            produced one */
    HITL_EIO       = -5, /* reading or writing a file failed */
    HITL_EFORMAT   = -6, /* serialized data is corrupt, truncated or of an
                            unsupported version */
    HITL_ECALLBACK = -7, /* a caller-supplied callback reported failure */
    HITL_ENOTFOUND = -8  /* an item id is not in the pool */
} hitl_status;

/* hitl_strerror: a static, human-readable name for a status code ("invalid
 * argument", ...).  Unknown codes give "unknown status".  Never fails. */
HITL_API const char *hitl_strerror(int status);

/* hitl_error_message: the detail message of the most recent failed call on
 * the calling thread (thread-local), e.g. "hitl_pool_add: rows[3][17] is NaN".
 * Returns "" when no call has failed on this thread since the last
 * hitl_error_clear().  Successful calls do not clear it.  The string stays
 * valid until the next libhitl call on the same thread. */
HITL_API const char *hitl_error_message(void);

/* hitl_error_clear: forget the calling thread's detail message. */
HITL_API void hitl_error_clear(void);

/* ------------------------------------------------------------------------- */
/* Memory                                                                     */
/* ------------------------------------------------------------------------- */

typedef void *(*hitl_malloc_fn)(void *user, size_t size);
typedef void *(*hitl_realloc_fn)(void *user, void *ptr, size_t size);
typedef void (*hitl_free_fn)(void *user, void *ptr);

/* hitl_set_allocator: route every allocation the library makes through these
 * functions (process-wide).  Pass three NULLs to restore malloc/realloc/free.
 * A function returning NULL is treated as out of memory (HITL_ENOMEM); the
 * library recovers from that everywhere, which is also how it is tested.
 * Memory allocated by OpenBLAS itself is not routed.
 *
 * Must be called while no handle exists (before the first _create, or after
 * every handle has been freed).
 * Returns HITL_OK; HITL_EINVAL if only some of the three are NULL; HITL_ESTATE
 * if any handle is alive.  Not thread-safe with any other libhitl call. */
HITL_API int hitl_set_allocator(hitl_malloc_fn malloc_fn,
                                hitl_realloc_fn realloc_fn,
                                hitl_free_fn free_fn, void *user);

/* ------------------------------------------------------------------------- */
/* Parameters                                                                 */
/* ------------------------------------------------------------------------- */

/* One enum for the typed parameters of every handle kind; the hundreds digit
 * says which handle a parameter belongs to.  Setting a parameter on a handle
 * it does not belong to returns HITL_EINVAL.  Values are passed as double;
 * integer and boolean parameters must hold an exact integer. */
typedef enum hitl_param {
    /* hitl_model (built-in logistic regression unless noted) */
    HITL_PARAM_L2            = 100, /* lambda >= 0 in the objective below;
                                       default 1.0 (scikit-learn C = 1/lambda) */
    HITL_PARAM_FIT_INTERCEPT = 101, /* 0 or 1; default 1 (intercept is not
                                       penalized) */
    HITL_PARAM_TOL           = 102, /* stop when ||gradient||_2 <= tol;
                                       default 1e-6, must be > 0 */
    HITL_PARAM_MAX_ITER      = 103, /* optimizer iterations, >= 1; default 1000 */
    HITL_PARAM_WARM_START    = 104, /* 0 or 1; default 1: a refit starts from
                                       the previous solution */
    HITL_PARAM_THREADS       = 105, /* scoring threads for every model kind;
                                       0 = one per online CPU (default) */
    HITL_PARAM_BLOCK_ROWS    = 106, /* pool rows scored per block, >= 16;
                                       default 2048 */

    /* hitl_strategy */
    HITL_PARAM_SEED          = 200  /* random seed, integer in [0, 2^53];
                                       default 0 */
} hitl_param;

/* ------------------------------------------------------------------------- */
/* Pool                                                                       */
/* ------------------------------------------------------------------------- */

typedef struct hitl_pool hitl_pool;

typedef enum hitl_item_state {
    HITL_ITEM_UNLABELED = 0,
    HITL_ITEM_LABELED   = 1,
    HITL_ITEM_SKIPPED   = 2  /* a person declined to answer; not queried again
                                and not used for fitting */
} hitl_item_state;

/* hitl_pool_create: an empty pool whose rows have `dim` float32 features.
 * Returns HITL_OK and sets *out; HITL_EINVAL if out is NULL or dim is 0;
 * HITL_ENOMEM.  Free with hitl_pool_free(). */
HITL_API int hitl_pool_create(hitl_pool **out, size_t dim);

/* hitl_pool_free: release the pool.  Accepts NULL.  Borrowed rows are not
 * touched.  Models, strategies and feedback handles that borrow the pool must
 * be freed first or not used again. */
HITL_API void hitl_pool_free(hitl_pool *pool);

/* hitl_pool_add: append n items, copying their rows.  Row i starts at
 * rows + i*stride (stride in floats, >= dim).  ids: n caller ids, unique in
 * the pool, or NULL to use each item's pool index as its id.  New items are
 * unlabeled; item indices continue from the current size.
 * Returns HITL_OK; HITL_EINVAL (NULL rows with n > 0, stride < dim, duplicate
 * id, or an index id that is already taken); HITL_ENUMERIC (a NaN or Inf
 * feature: the message names row and column); HITL_ENOMEM.  On failure no
 * item is added. */
HITL_API int hitl_pool_add(hitl_pool *pool, const float *rows, size_t n,
                           size_t stride, const uint64_t *ids);

/* hitl_pool_add_borrowed: like hitl_pool_add, but the rows are borrowed, not
 * copied: they must stay valid and unchanged until the pool is freed.  ids are
 * copied.  Checks every value once for NaN/Inf.  Same returns. */
HITL_API int hitl_pool_add_borrowed(hitl_pool *pool, const float *rows,
                                    size_t n, size_t stride,
                                    const uint64_t *ids);

/* hitl_pool_size / hitl_pool_dim: number of items, features per row.
 * Return HITL_OK; HITL_EINVAL on NULL.  Concurrent reads. */
HITL_API int hitl_pool_size(size_t *n, const hitl_pool *pool);
HITL_API int hitl_pool_dim(size_t *dim, const hitl_pool *pool);

/* hitl_pool_count: number of items in `state`.  O(1).
 * Returns HITL_OK; HITL_EINVAL on NULL or an unknown state.  Concurrent reads. */
HITL_API int hitl_pool_count(size_t *n, const hitl_pool *pool,
                             hitl_item_state state);

/* hitl_pool_find: the index of the item with caller id `id`.  O(1) expected.
 * Returns HITL_OK; HITL_EINVAL on NULL; HITL_ENOTFOUND.  Concurrent reads. */
HITL_API int hitl_pool_find(size_t *index, const hitl_pool *pool, uint64_t id);

/* hitl_pool_item: the id, state and label of item `index`; any of the three
 * out-pointers may be NULL.  The label is -1 unless the state is LABELED.
 * Returns HITL_OK; HITL_EINVAL (NULL pool, index >= size).  Concurrent reads. */
HITL_API int hitl_pool_item(uint64_t *id, hitl_item_state *state,
                            int32_t *label, const hitl_pool *pool,
                            size_t index);

/* hitl_pool_row: a borrowed pointer to the dim features of item `index`,
 * valid until the pool is freed (rows never move).
 * Returns HITL_OK; HITL_EINVAL (NULL, index >= size).  Concurrent reads. */
HITL_API int hitl_pool_row(const float **row, const hitl_pool *pool,
                           size_t index);

/* hitl_pool_set_label: mark item `index` LABELED with class `label` (>= 0;
 * whether it is < the model's class count is checked when fitting).
 * Returns HITL_OK; HITL_EINVAL (NULL, index out of range, label < 0). */
HITL_API int hitl_pool_set_label(hitl_pool *pool, size_t index, int32_t label);

/* hitl_pool_set_state: set item `index` to UNLABELED or SKIPPED (forgetting
 * its label), or to LABELED only if it already has a label.
 * Returns HITL_OK; HITL_EINVAL (NULL, index out of range, unknown state,
 * LABELED without a label). */
HITL_API int hitl_pool_set_state(hitl_pool *pool, size_t index,
                                 hitl_item_state state);

/* hitl_pool_set_weight: the sample weight (> 0, finite; default 1) that item
 * `index` carries when the model is fitted.
 * Returns HITL_OK; HITL_EINVAL (NULL, index out of range, weight <= 0 or not
 * finite). */
HITL_API int hitl_pool_set_weight(hitl_pool *pool, size_t index, float weight);

/* ------------------------------------------------------------------------- */
/* Model                                                                      */
/* ------------------------------------------------------------------------- */

typedef struct hitl_model hitl_model;

/* The built-in model is multinomial logistic regression.  Fitting minimises,
 * over W (K x dim) and b (K),
 *
 *     f(W, b) = sum_i s_i * ( -log softmax(W x_i + b)[y_i] ) + lambda/2 ||W||^2
 *
 * over the pool's LABELED items i with sample weights s_i, in double
 * precision, and stops when ||grad f||_2 <= HITL_PARAM_TOL or after
 * HITL_PARAM_MAX_ITER iterations.  With s_i = 1 this is scikit-learn's
 * LogisticRegression(C = 1/lambda) with the multinomial loss.
 * Scoring casts the solution to float32 and streams the pool in blocks. */

/* hitl_model_create_logreg: an unfitted logistic regression for rows of `dim`
 * features and n_classes classes (labels 0 .. n_classes-1).
 * Returns HITL_OK; HITL_EINVAL (NULL out, dim 0, n_classes < 2 or > 65536);
 * HITL_ENOMEM. */
HITL_API int hitl_model_create_logreg(hitl_model **out, size_t dim,
                                      size_t n_classes);

/* Callbacks of a custom model.  Both return 0 on success; any other value
 * makes the libhitl call that invoked them fail with HITL_ECALLBACK.
 *
 * hitl_fit_fn: learn from n labeled rows.  X is n x dim, contiguous; y holds
 *   labels in [0, n_classes); w holds sample weights.  All three are borrowed
 *   for the duration of the call only.
 * hitl_predict_fn: write class probabilities for n rows.  Row i starts at
 *   X + i*stride.  proba is n x n_classes, row-major, to be filled with finite
 *   values >= 0 (each row is renormalised to sum 1 by the library; a row with
 *   NaN, Inf, a negative value or sum 0 fails with HITL_ECALLBACK).  May be
 *   called from several threads at once when HITL_PARAM_THREADS != 1; set it
 *   to 1 if the callback is not thread-safe. */
typedef int (*hitl_fit_fn)(void *user, const float *X, size_t n, size_t dim,
                           const int32_t *y, const float *w);
typedef int (*hitl_predict_fn)(void *user, const float *X, size_t n,
                               size_t stride, size_t dim, float *proba);

/* hitl_model_create_custom: a model backed by the caller's callbacks.  `user`
 * is passed to both and must outlive the model.  A custom model is "fitted"
 * after its first successful hitl_model_fit; predict may be called before
 * that only if fit is NULL (a model trained elsewhere).
 * Returns HITL_OK; HITL_EINVAL (NULL out or predict, dim 0, n_classes < 2 or
 * > 65536); HITL_ENOMEM. */
HITL_API int hitl_model_create_custom(hitl_model **out, size_t dim,
                                      size_t n_classes, hitl_fit_fn fit,
                                      hitl_predict_fn predict, void *user);

/* hitl_model_free: release the model.  Accepts NULL. */
HITL_API void hitl_model_free(hitl_model *model);

/* hitl_model_set_param / hitl_model_get_param: see hitl_param (1xx values).
 * Returns HITL_OK; HITL_EINVAL (NULL, a parameter of another handle kind, a
 * value out of range or not an integer where one is required).  Setting
 * optimizer parameters on a custom model is accepted and ignored. */
HITL_API int hitl_model_set_param(hitl_model *model, hitl_param param,
                                  double value);
HITL_API int hitl_model_get_param(double *value, const hitl_model *model,
                                  hitl_param param);

/* hitl_model_fit: (re)fit on the pool's LABELED items (SKIPPED and UNLABELED
 * items are ignored).  Warm-starts from the previous solution when
 * HITL_PARAM_WARM_START is 1.  The pool is only read during the call.
 * Returns HITL_OK; HITL_EINVAL (NULL, pool dim != model dim, a label >=
 * n_classes: the message names the item); HITL_ESTATE (no labeled item);
 * HITL_ENUMERIC (the optimizer produced NaN/Inf); HITL_ECALLBACK; HITL_ENOMEM.
 * Not reaching TOL within MAX_ITER is not an error: check
 * HITL_INFO_GRAD_NORM.  On failure the previous fit, if any, is kept. */
HITL_API int hitl_model_fit(hitl_model *model, const hitl_pool *pool);

typedef enum hitl_info {
    HITL_INFO_FITTED     = 1, /* 1 after a successful fit, else 0 */
    HITL_INFO_GRAD_NORM  = 2, /* ||grad f||_2 at the returned solution */
    HITL_INFO_OBJECTIVE  = 3, /* f at the returned solution */
    HITL_INFO_ITERATIONS = 4, /* optimizer iterations of the last fit */
    HITL_INFO_N_TRAIN    = 5, /* labeled items used by the last fit */
    HITL_INFO_DIM        = 6,
    HITL_INFO_N_CLASSES  = 7
} hitl_info;

/* hitl_model_get_info: a figure about the model (see hitl_info).  For a
 * custom model the optimizer figures are 0.
 * Returns HITL_OK; HITL_EINVAL (NULL, unknown info).  Concurrent reads. */
HITL_API int hitl_model_get_info(double *value, const hitl_model *model,
                                 hitl_info info);

/* hitl_model_get_coef: copy the fitted built-in model's weights: W is
 * n_classes x dim row-major (may be NULL), b is n_classes (may be NULL).
 * Returns HITL_OK; HITL_EINVAL (NULL model, custom model); HITL_ESTATE (not
 * fitted).  Concurrent reads. */
HITL_API int hitl_model_get_coef(double *W, double *b,
                                 const hitl_model *model);

/* hitl_model_predict: class probabilities of n caller rows (row i at
 * X + i*stride, stride >= dim) into proba (n x n_classes, row-major).
 * Returns HITL_OK; HITL_EINVAL (NULL, stride < dim); HITL_ESTATE (not
 * fitted); HITL_ENUMERIC (NaN/Inf in X); HITL_ECALLBACK; HITL_ENOMEM.
 * Concurrent reads. */
HITL_API int hitl_model_predict(float *proba, const hitl_model *model,
                                const float *X, size_t n, size_t stride);

/* hitl_model_predict_pool: probabilities of pool items first .. first+n-1
 * into proba (n x n_classes, row-major).  Same returns as hitl_model_predict,
 * plus HITL_EINVAL when the range leaves the pool or dims differ.
 * Concurrent reads (of model and pool). */
HITL_API int hitl_model_predict_pool(float *proba, const hitl_model *model,
                                     const hitl_pool *pool, size_t first,
                                     size_t n);

/* Serialization of the built-in model: a versioned little-endian format with
 * a CRC-32 over the whole record, so any truncation or corruption is rejected.
 * Parameters, fitted weights and fit figures round-trip bit-exactly.
 *
 * hitl_model_save_size: the exact number of bytes hitl_model_save writes.
 * hitl_model_save: write the model to buf (capacity bytes); *written = size.
 *   Returns HITL_OK; HITL_EINVAL (NULL, capacity too small, custom model).
 * hitl_model_load: a new model from size bytes at buf (copied).
 *   Returns HITL_OK; HITL_EINVAL (NULL); HITL_EFORMAT (bad magic, version,
 *   checksum, length or contents); HITL_ENOMEM.
 * hitl_model_save_file / hitl_model_load_file: the same through a file,
 *   written to a temporary name and renamed into place.  Add HITL_EIO. */
HITL_API int hitl_model_save_size(size_t *size, const hitl_model *model);
HITL_API int hitl_model_save(size_t *written, void *buf, size_t capacity,
                             const hitl_model *model);
HITL_API int hitl_model_load(hitl_model **out, const void *buf, size_t size);
HITL_API int hitl_model_save_file(const hitl_model *model, const char *path);
HITL_API int hitl_model_load_file(hitl_model **out, const char *path);

/* ------------------------------------------------------------------------- */
/* Query strategies                                                           */
/* ------------------------------------------------------------------------- */

typedef struct hitl_strategy hitl_strategy;

/* Scores, with p the model's class probabilities of an item sorted so that
 * p1 >= p2 >= ...; the query returns the k UNLABELED items that come first in
 * the stated order, ties broken by the lower pool index:
 *   RANDOM          a uniform pseudo-random key from (seed, item index);
 *                   smallest first.  Needs no fitted model (model may be NULL).
 *   LEAST_CONFIDENT 1 - p1; largest first.
 *   MARGIN          p1 - p2; smallest first.
 *   ENTROPY         -sum p log p (natural log); largest first. */
typedef enum hitl_strategy_kind {
    HITL_STRATEGY_RANDOM          = 1,
    HITL_STRATEGY_LEAST_CONFIDENT = 2,
    HITL_STRATEGY_MARGIN          = 3,
    HITL_STRATEGY_ENTROPY         = 4
} hitl_strategy_kind;

/* hitl_strategy_create: a strategy of the given kind.
 * Returns HITL_OK; HITL_EINVAL (NULL out, unknown kind); HITL_ENOMEM. */
HITL_API int hitl_strategy_create(hitl_strategy **out, hitl_strategy_kind kind);

/* hitl_strategy_free: release the strategy.  Accepts NULL. */
HITL_API void hitl_strategy_free(hitl_strategy *strategy);

/* hitl_strategy_set_param / get_param: see hitl_param (2xx values).
 * Returns HITL_OK; HITL_EINVAL. */
HITL_API int hitl_strategy_set_param(hitl_strategy *strategy,
                                     hitl_param param, double value);
HITL_API int hitl_strategy_get_param(double *value,
                                     const hitl_strategy *strategy,
                                     hitl_param param);

/* hitl_query: pick up to k UNLABELED items of the pool, most informative
 * first.  Writes *count (min(k, unlabeled items)) entries to each non-NULL
 * array: indices (pool indices), ids (caller ids), scores (the strategy's
 * score, see hitl_strategy_kind).  The arrays must hold k entries.
 * Streams the pool in blocks: extra memory is O(block + k), time O(N) plus
 * O(N log k) for the selection.  Deterministic for the same seed, inputs and
 * any thread count.  The pool and model are only read.
 * Returns HITL_OK (also with *count 0 when nothing is unlabeled);
 * HITL_EINVAL (NULL count/strategy/pool, NULL model for a strategy that
 * needs one, dims differ, k 0); HITL_ESTATE (model not fitted);
 * HITL_ECALLBACK; HITL_ENOMEM. */
HITL_API int hitl_query(size_t *count, size_t *indices, uint64_t *ids,
                        double *scores, hitl_strategy *strategy,
                        const hitl_model *model, const hitl_pool *pool,
                        size_t k);

/* ------------------------------------------------------------------------- */
/* Feedback                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct hitl_feedback hitl_feedback;

/* hitl_feedback_create: a record of human answers about the items of `pool`,
 * which is borrowed and must outlive the handle.  Answers update the pool
 * (state and label) as they are recorded, so the next hitl_model_fit uses
 * them.  Returns HITL_OK; HITL_EINVAL (NULL); HITL_ENOMEM. */
HITL_API int hitl_feedback_create(hitl_feedback **out, hitl_pool *pool);

/* hitl_feedback_free: release the handle (the pool keeps its labels).
 * Accepts NULL. */
HITL_API void hitl_feedback_free(hitl_feedback *feedback);

/* hitl_feedback_label: annotator `annotator` says item `item_id` (a caller
 * id) has class `label` (>= 0).  The item becomes LABELED with the label the
 * feedback's aggregation gives it (with one annotator: the latest answer).
 * Returns HITL_OK; HITL_EINVAL (NULL, label < 0); HITL_ENOTFOUND (unknown
 * id); HITL_ENOMEM. */
HITL_API int hitl_feedback_label(hitl_feedback *feedback, uint64_t item_id,
                                 uint64_t annotator, int32_t label);

/* hitl_feedback_skip: annotator `annotator` declines to answer item
 * `item_id`.  An item no annotator has labeled becomes SKIPPED.
 * Returns HITL_OK; HITL_EINVAL (NULL); HITL_ENOTFOUND; HITL_ENOMEM. */
HITL_API int hitl_feedback_skip(hitl_feedback *feedback, uint64_t item_id,
                                uint64_t annotator);

/* hitl_feedback_count: number of answers recorded (labels and skips).
 * Returns HITL_OK; HITL_EINVAL.  Concurrent reads. */
HITL_API int hitl_feedback_count(size_t *n, const hitl_feedback *feedback);

#ifdef __cplusplus
}
#endif

#endif /* HITL_H */
