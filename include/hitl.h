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
 *   hitl_router    what the model may decide alone, and what goes to a person.
 *
 * The library is built in layers that follow the loop, each using only the
 * ones before it; its source folders (lib/) bear their names:
 *
 *   base    errors, the allocator hook, threads, random numbers
 *   data    the pool (hitl_pool_*)
 *   learn   models, the scorer, committees (hitl_model_*, hitl_committee_*)
 *   select  strategies (hitl_strategy_*, hitl_query*, hitl_disagreement)
 *   people  feedback, journal, agreement (hitl_feedback_*, hitl_agreement_*)
 *   route   routing: confidence, costs, capacity, a learned error detector
 *           (hitl_router_*)
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
#define HITL_VERSION_MINOR 2
#define HITL_VERSION_PATCH 0
#define HITL_VERSION_STRING "0.2.0"
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
    HITL_ENOTFOUND = -8  /* an item id, annotator or event id is unknown */
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
/* Memory: the allocator hook                                                 */
/* ------------------------------------------------------------------------- */

typedef void *(*hitl_malloc_fn)(void *user, size_t size);
typedef void *(*hitl_realloc_fn)(void *user, void *ptr, size_t size);
typedef void (*hitl_free_fn)(void *user, void *ptr);

/* hitl_set_allocator: route every allocation the library makes through these
 * functions (process-wide).  Pass three NULLs to restore malloc/realloc/free.
 * A function returning NULL is treated as out of memory (HITL_ENOMEM); the
 * library recovers from that everywhere, which is also how it is tested.
 * Memory allocated inside OpenBLAS, and inside liblbfgs (the optimizer's
 * working vectors during a hitl_model_fit; its failure is still HITL_ENOMEM),
 * is not routed.
 *
 * Must be called while no handle exists (before the first _create, or after
 * every handle has been freed).
 * Returns HITL_OK; HITL_EINVAL if only some of the three are NULL; HITL_ESTATE
 * if any handle is alive.  Not thread-safe with any other libhitl call. */
HITL_API int hitl_set_allocator(hitl_malloc_fn malloc_fn,
                                hitl_realloc_fn realloc_fn,
                                hitl_free_fn free_fn, void *user);

/* ------------------------------------------------------------------------- */
/* Parameters: typed options of every handle kind                             */
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
    HITL_PARAM_MAX_ITER      = 103, /* optimizer iterations, integer in
                                       [1, 2^53]; default 1000 */
    HITL_PARAM_WARM_START    = 104, /* 0 or 1; default 1: a refit starts from
                                       the previous solution */
    HITL_PARAM_THREADS       = 105, /* scoring threads for every model kind,
                                       integer in [0, 1024]; 0 = one per
                                       online CPU (default) */
    HITL_PARAM_BLOCK_ROWS    = 106, /* pool rows scored per block, integer in
                                       [16, 2^24]; default 2048.  At most:
                                       with many classes blocks shrink so
                                       that rows x classes <= 65536 (>= 16
                                       rows), to stay in cache */

    /* hitl_strategy */
    HITL_PARAM_SEED          = 200, /* random seed, integer in [0, 2^53];
                                       default 0 */
    /* hitl_strategy, diversity kinds (see "Diversity" below) */
    HITL_PARAM_BASE              = 201, /* informativeness used by
                                           RANKED_BATCH, DENSITY, HYBRID and
                                           DEFAULT: 0 (the kind's default) or
                                           a hitl_strategy_kind among
                                           LEAST_CONFIDENT, MARGIN, ENTROPY
                                           and QBC_* (committee queries) */
    HITL_PARAM_HYBRID_BETA       = 202, /* HYBRID first stage keeps
                                           ceil(beta k) items; in [1, 1e6];
                                           default 10 */
    HITL_PARAM_DENSITY_EXPONENT  = 203, /* DENSITY: u * D^exponent; in
                                           [0, 1000]; default 1 */
    HITL_PARAM_DENSITY_ANCHORS   = 204, /* DENSITY: anchors m, integer >= 1;
                                           default 1024 */
    HITL_PARAM_DENSITY_BANDWIDTH = 205, /* DENSITY: Gaussian bandwidth h >= 0;
                                           0 (default) = automatic */
    HITL_PARAM_COLD_START        = 206, /* a hitl_cold_start; default
                                           HITL_COLD_START_KMEANSPP */
    HITL_PARAM_HYBRID_SELECT     = 207, /* HYBRID second stage:
                                           HITL_COLD_START_KCENTER (default)
                                           or HITL_COLD_START_KMEANSPP */

    /* hitl_committee (3xx; see "Committee" below) */
    HITL_PARAM_COMMITTEE_BOOTSTRAP  = 300, /* 0 or 1; default 1: each member
                                              is fitted on a bootstrap
                                              resample of the labeled items */
    HITL_PARAM_COMMITTEE_SEED       = 301, /* seed of the resamples, integer
                                              in [0, 2^53]; default 0 */
    HITL_PARAM_COMMITTEE_THREADS    = 302, /* scoring threads; 0 = one per
                                              online CPU (default) */
    HITL_PARAM_COMMITTEE_BLOCK_ROWS = 303, /* pool rows scored per block,
                                              in [16, 2^24]; default 2048 */

    /* hitl_feedback (40x; see "Feedback" below for the rules they enter) */
    HITL_PARAM_AGGREGATION        = 400, /* a hitl_aggregation; default
                                            HITL_AGGREGATE_RECOMMENDED
                                            (MAJORITY before 0.2.0: see
                                            "The journal") */
    HITL_PARAM_MIN_ANNOTATORS     = 401, /* labels an item needs to be
                                            resolved, integer >= 1; default 1 */
    HITL_PARAM_MIN_AGREEMENT      = 402, /* share of an item's labels that must
                                            equal its aggregated label, in
                                            [0, 1]; default 0 */
    HITL_PARAM_MIN_CONFIDENCE     = 403, /* posterior confidence an item needs,
                                            in [0, 1]; default 0 */
    HITL_PARAM_N_CLASSES          = 404, /* classes of the aggregation: 0 =
                                            1 + the largest label or gold
                                            label recorded (at least 2;
                                            Dawid-Skene infers at most 1024
                                            classes, set more here), or
                                            an integer in [2, 65536];
                                            default 0 */
    HITL_PARAM_EM_MAX_ITER        = 405, /* Dawid-Skene EM iterations, integer
                                            >= 1; default 100 */
    HITL_PARAM_EM_TOL             = 406, /* Dawid-Skene stopping tolerance,
                                            > 0; default 1e-6 */
    HITL_PARAM_CONFIDENCE_WEIGHTS = 407, /* 0 or 1; default 1: a resolved
                                            item's pool weight is its
                                            posterior confidence */
    HITL_PARAM_DRIFT_WINDOW       = 408, /* annotator drift (see
                                            HITL_ANNOTATOR_DRIFT): the recent
                                            answers tested, integer in
                                            [2, 1e6]; default 50 */
    HITL_PARAM_DRIFT_ALPHA        = 409, /* its false-alarm rate per check,
                                            in (0, 0.5]; default 0.01 */
    HITL_PARAM_DS_PRIOR           = 410, /* strength s of the Dirichlet prior
                                            on the confusion matrices of
                                            DAWID_SKENE and ONE_COIN: prior
                                            answers per matrix row, in
                                            [0, 1e6]; default 0 (see
                                            hitl_feedback_aggregate) */

    /* hitl_router (55x; see "Routing" below for the rules they enter) */
    HITL_PARAM_ROUTE_THRESHOLD   = 550, /* accept when confidence >= this;
                                           >= 0 (above 1: accept nothing);
                                           default +Inf until calibrated */
    HITL_PARAM_ROUTE_TARGET      = 551, /* target precision of accepted items
                                           for calibration, in (0, 1];
                                           default 0.99 */
    HITL_PARAM_ROUTE_LEVEL       = 552, /* confidence level of the exact
                                           lower bound on precision, [0, 1);
                                           0 = use the point estimate;
                                           default 0.95 */
    HITL_PARAM_ROUTE_TEMPERATURE = 553, /* T > 0, finite; default 1 */
    HITL_PARAM_ROUTE_ECE_BINS    = 554, /* bins of the calibration error,
                                           integer in [1, 1000]; default 15 */
    HITL_PARAM_ROUTE_MODE        = 555, /* a hitl_route_mode; default
                                           HITL_ROUTE_PRECISION */
    HITL_PARAM_ROUTE_CAPACITY    = 556, /* CAPACITY mode: review at most this
                                           share of a batch, in [0, 1];
                                           default 1 */
    HITL_PARAM_ROUTE_CAPACITY_ITEMS = 557, /* CAPACITY mode: and at most this
                                           many items of a batch, integer in
                                           [0, 2^53]; default 2^53 */
    HITL_PARAM_ROUTE_COST_BUDGET = 558, /* BUDGET mode: the largest mean
                                           expected cost of the accepted
                                           items, finite, >= 0; default 0.01 */
    HITL_PARAM_ROUTE_SCORE       = 559, /* a hitl_route_score; default
                                           HITL_ROUTE_SCORE_CONFIDENCE */
    HITL_PARAM_ROUTE_DECISION    = 560, /* a hitl_route_decision; default
                                           HITL_ROUTE_DECIDE_PROBABLE */
    HITL_PARAM_ROUTE_FALLBACK    = 561, /* 0 or 1; default 0.  1: when
                                           calibration certifies no threshold
                                           at LEVEL, use the point estimate's
                                           (see "Routing") */
    HITL_PARAM_ROUTE_TEMPERATURE_GUARD = 562, /* 0 or 1; default 1: decline a
                                           fitted T that raises the ECE on
                                           its own set (T stays 1) */
    HITL_PARAM_ROUTE_DETECTOR_MIN = 563, /* reviewed items the detector needs,
                                           integer in [2, 2^53]; default 200 */
    HITL_PARAM_ROUTE_DETECTOR_FOLDS = 564, /* cross-fitting folds, integer in
                                           [2, 20]; default 5 */
    HITL_PARAM_ROUTE_DETECTOR_NEIGHBOURS = 565, /* labeled neighbours of its
                                           novelty features, integer in
                                           [1, 100]; default 10 */
    HITL_PARAM_ROUTE_DETECTOR_EVENTS = 566, /* model errors the detector needs
                                           per feature it fits, integer in
                                           [0, 1000]; default 10 */

    /* hitl_recheck (60x; see "Labels to re-check" below) */
    HITL_PARAM_RECHECK_FOLDS   = 600, /* folds of the cross-fit, integer in
                                         [2, 1000]; default 5 */
    HITL_PARAM_RECHECK_SEED    = 601, /* seed of the fold split, integer in
                                         [0, 2^53]; default 0 */
    HITL_PARAM_RECHECK_RANK    = 602, /* a hitl_recheck_rank; default
                                         HITL_RECHECK_RANK_SELF_CONFIDENCE */
    HITL_PARAM_RECHECK_THREADS = 603, /* threads: folds fitted at once, and
                                         of the ranking passes; integer in
                                         [0, 1024]; 0 = one per online CPU
                                         (default) */

    /* hitl_stream (70x; see "Stream selection" below for the rules) */
    HITL_PARAM_STREAM_BUDGET     = 700, /* b: the share of items asked, in
                                           (0, 1]; default 0.1 */
    HITL_PARAM_STREAM_THRESHOLD  = 701, /* FIXED_UNCERTAINTY's theta in
                                           [0, 1]; 0 (default) = 1/K +
                                           b (1 - 1/K) */
    HITL_PARAM_STREAM_STEP       = 702, /* s, the threshold's relative step,
                                           in (0, 1); default 0.01 */
    HITL_PARAM_STREAM_DELTA      = 703, /* delta, the sd of the threshold's
                                           random factor, > 0; default 1 */
    HITL_PARAM_STREAM_SPLIT      = 704, /* nu, SPLIT's share of random
                                           items, in [0, 1]; default 0.2 */
    HITL_PARAM_STREAM_WINDOW     = 705, /* w: the spending window, and the
                                           quantile filter's window, integer
                                           in [1, 65536]; default 100 */
    HITL_PARAM_STREAM_TOLERANCE  = 706, /* w_tol, the quantile filter's
                                           balancing window, >= 1; default
                                           50 */
    HITL_PARAM_STREAM_MELLOWNESS = 707, /* c0 of IWAL, > 0; default 8 */
    HITL_PARAM_STREAM_SEED       = 708, /* random seed, integer in [0, 2^53];
                                           default 0 */

    /* hitl_stopper (75x; see "Stopping" below for the criteria) */
    HITL_PARAM_STOP_SET_SIZE     = 750, /* items of the stop set, integer in
                                           [1, 2^24]; default 1000 (the
                                           unlabeled items if fewer) */
    HITL_PARAM_STOP_KAPPA        = 751, /* stabilizing predictions: mean
                                           kappa to reach, in [-1, 1];
                                           default 0.99 */
    HITL_PARAM_STOP_WINDOW       = 752, /* rounds averaged (kappa) or
                                           compared (accuracy), integer in
                                           [1, 1000]; default 3 */
    HITL_PARAM_STOP_UNCERTAINTY  = 753, /* overall uncertainty: mean entropy
                                           to fall to, >= 0; default 0.01 */
    HITL_PARAM_STOP_CONFIDENCE   = 754, /* max confidence: largest entropy to
                                           fall to, >= 0; default 0.001 */
    HITL_PARAM_STOP_BUDGET       = 755, /* labels that exhaust the budget,
                                           integer in [0, 2^53]; 0 (default)
                                           = no budget */
    HITL_PARAM_STOP_GAIN         = 756, /* performance convergence: accuracy
                                           gain that still pays, >= 0;
                                           default 0.005 */
    HITL_PARAM_STOP_SEED         = 757, /* seed of the stop set's draw,
                                           integer in [0, 2^53]; default 0 */

    /* hitl_audit (80x; see "Bias audit" below) */
    HITL_PARAM_AUDIT_LEVEL       = 800, /* confidence level of the intervals,
                                           in (0, 1); default 0.95 */
    HITL_PARAM_AUDIT_ALPHA       = 801, /* family-wise false-alarm rate of
                                           the flags, in (0, 0.5); default
                                           0.05 */
    HITL_PARAM_AUDIT_MIN_GAP     = 802  /* a difference is flagged only if at
                                           least this large, in [0, 1];
                                           default 0 */
} hitl_param;

/* ------------------------------------------------------------------------- */
/* Pool: the items, their feature rows, ids, states and labels                */
/* ------------------------------------------------------------------------- */

typedef struct hitl_pool hitl_pool;

typedef enum hitl_item_state {
    HITL_ITEM_UNLABELED = 0,
    HITL_ITEM_LABELED   = 1,
    HITL_ITEM_SKIPPED   = 2  /* a person declined to answer; not queried again
                                and not used for fitting */
} hitl_item_state;

/* hitl_pool_create: an empty pool whose rows have `dim` float32 features.
 * Returns HITL_OK and sets *out; HITL_EINVAL if out is NULL, dim is 0 or
 * dim * sizeof(float) overflows; HITL_ENOMEM.  Free with hitl_pool_free(). */
HITL_API int hitl_pool_create(hitl_pool **out, size_t dim);

/* hitl_pool_free: release the pool.  Accepts NULL.  Borrowed rows are not
 * touched.  Models, strategies and feedback handles that borrow the pool must
 * be freed first or not used again. */
HITL_API void hitl_pool_free(hitl_pool *pool);

/* hitl_pool_add: append n items to a dense pool, copying their rows.  Row i starts at
 * rows + i*stride (stride in floats, >= dim).  ids: n caller ids, unique in
 * the pool, or NULL to use each item's pool index as its id.  New items are
 * unlabeled with weight 1; item indices continue from the current size.
 * Only the first dim floats of each row are read.  n == 0 adds nothing and
 * returns HITL_OK (rows and ids may then be NULL; stride must still be >=
 * dim).  Memory beside the rows: about 17 bytes an item, plus about 32 (an
 * id -> index hash map) from the first add whose ids are not all equal to
 * their indices.
 * Returns HITL_OK; HITL_EINVAL (NULL pool, a sparse pool, NULL rows with
 * n > 0, stride < dim, n rows of this stride do not fit in memory,
 * duplicate id, or an index id that is already taken: the message names
 * the id and its position);
 * HITL_ENUMERIC (a NaN or Inf feature: the message names row and column);
 * HITL_ENOMEM.  On failure no item is added. */
HITL_API int hitl_pool_add(hitl_pool *pool, const float *rows, size_t n,
                           size_t stride, const uint64_t *ids);

/* hitl_pool_add_borrowed: like hitl_pool_add, but the rows are borrowed, not
 * copied: they must stay valid and unchanged until the pool is freed.  ids are
 * copied.  Checks every value once for NaN/Inf.  Same returns. */
HITL_API int hitl_pool_add_borrowed(hitl_pool *pool, const float *rows,
                                    size_t n, size_t stride,
                                    const uint64_t *ids);

/* Sparse pools.  A pool holds either dense rows (hitl_pool_create) or sparse
 * rows (hitl_pool_create_sparse), chosen once at creation: one
 * representation a pool means every pass over it (scoring, fitting,
 * distances) runs one kernel from start to end, with no per-row branch and
 * no second code path to keep equal, and a block of rows is always either a
 * strided matrix or a slice of CSR arrays.
 *
 * Sparse rows come in CSR batches, as scipy.sparse.csr_matrix holds them:
 * row i of a batch of n has its non-zeros at positions indptr[i] ..
 * indptr[i+1]-1 of indices (the columns, int32, in [0, dim) and strictly
 * increasing within the row) and values (float32).  indptr has n + 1
 * entries, indptr[0] is 0, and indptr[n] (int32) is the batch's non-zero
 * count, so a batch holds at most 2^31 - 1 non-zeros (add more in several
 * batches).  Explicit zeros are allowed and kept.  Each item's squared norm
 * ||x||^2 is computed once when it is added (used by distance-based
 * strategies).  Memory: 8 bytes a non-zero when copied, 4 bytes an item for
 * the offsets, plus the per-item arrays of hitl_pool_add.
 *
 * The built-in model's weights are dense whatever the pool: a model of dim
 * features and K classes holds (dim + 1) x K doubles (the solution) and
 * dim x round16(K) floats (the scoring copy), 8 (dim + 1) K + 4 dim
 * round16(K) bytes: for dim = 2^24 hashed features and K = 2, 1.3 GiB
 * (2^18 features and K = 10: 37 MiB).  A fit on a sparse pool solves only
 * for the features its labeled rows use (the others' optimum is 0 under
 * the L2 penalty), so its optimizer needs 6 vectors of (used + 1) x K
 * doubles, not (dim + 1) x K.  Distance-based strategies on a sparse pool
 * use a layer of up to 64 MiB (at least 64 dim bytes).
 *
 * Scoring a sparse pool streams its CSR arrays once, a block of rows per
 * worker thread; each non-zero adds its value times one contiguous K-row of
 * the feature-major weights (one 64-byte line for K <= 16), and the
 * softmax and the strategy's score follow while the block is in cache, as
 * for dense rows. */

/* hitl_pool_create_sparse: an empty pool whose rows are sparse, with `dim`
 * columns (1 <= dim <= 2^31 - 1: the column indices are int32).
 * Returns HITL_OK and sets *out; HITL_EINVAL (NULL out, dim 0 or too
 * large); HITL_ENOMEM.  Free with hitl_pool_free(). */
HITL_API int hitl_pool_create_sparse(hitl_pool **out, size_t dim);

/* hitl_pool_add_csr: append n items to a sparse pool, copying their CSR
 * rows (see above).  ids as for hitl_pool_add.  n == 0 adds nothing (every
 * pointer may then be NULL); indices and values may be NULL when indptr[n]
 * is 0.  Every row is checked before anything is added.
 * Returns HITL_OK; HITL_EINVAL (NULL pool or indptr, a dense pool, n + 1
 * offsets that do not fit in memory, indptr[0] != 0, a decreasing indptr,
 * a column out of [0, dim), a column not above the one before it in its row
 * (unsorted or repeated), NULL indices or values with non-zeros, a
 * duplicate id: the message names the row and the position in the
 * caller's array); HITL_ENUMERIC (a NaN or Inf value: row and position);
 * HITL_ENOMEM.  On failure no item is added. */
HITL_API int hitl_pool_add_csr(hitl_pool *pool, const int32_t *indptr,
                               const int32_t *indices, const float *values,
                               size_t n, const uint64_t *ids);

/* hitl_pool_add_csr_borrowed: like hitl_pool_add_csr, but indptr, indices
 * and values are borrowed, not copied: all three must stay valid and
 * unchanged until the pool is freed (the pool reads them in every pass).
 * ids are copied.  Checks every row once.  Same returns. */
HITL_API int hitl_pool_add_csr_borrowed(hitl_pool *pool, const int32_t *indptr,
                                        const int32_t *indices,
                                        const float *values, size_t n,
                                        const uint64_t *ids);

/* hitl_pool_is_sparse: *sparse = 1 for a pool made by
 * hitl_pool_create_sparse, else 0.
 * Returns HITL_OK; HITL_EINVAL on NULL.  Concurrent reads. */
HITL_API int hitl_pool_is_sparse(int *sparse, const hitl_pool *pool);

/* hitl_pool_sparse_row: the *nnz non-zeros of item `index` of a sparse
 * pool: columns at *indices (increasing), values at *values, borrowed and
 * valid until the pool is freed (for borrowed batches they point into the
 * caller's arrays).
 * Returns HITL_OK; HITL_EINVAL (NULL, index >= size, a dense pool).
 * Concurrent reads. */
HITL_API int hitl_pool_sparse_row(const int32_t **indices, const float **values,
                                  size_t *nnz, const hitl_pool *pool,
                                  size_t index);

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
 * valid until the pool is freed (rows never move; for borrowed rows it points
 * into the caller's matrix).
 * Returns HITL_OK; HITL_EINVAL (NULL, index >= size, a sparse pool: use
 * hitl_pool_sparse_row).  Concurrent reads. */
HITL_API int hitl_pool_row(const float **row, const hitl_pool *pool,
                           size_t index);

/* hitl_pool_set_label: mark item `index` LABELED with class `label` (>= 0,
 * and < the pool's class count when one is set: see hitl_pool_set_classes;
 * otherwise whether it is < the model's class count is checked when
 * fitting).
 * Returns HITL_OK; HITL_EINVAL (NULL, index out of range, label < 0 or >=
 * the class count). */
HITL_API int hitl_pool_set_label(hitl_pool *pool, size_t index, int32_t label);

/* hitl_pool_set_classes: declare that the pool's labels are classes 0 ..
 * n_classes - 1 (n_classes >= 2), or forget the declaration (0, the
 * default: any label >= 0).  With a class count, hitl_pool_set_label and
 * every feedback handle of the pool refuse larger labels before anything is
 * written, and Dawid-Skene uses it as its class count unless
 * HITL_PARAM_N_CLASSES says otherwise.
 * Returns HITL_OK; HITL_EINVAL (NULL, n_classes 1 or above 65536, or <= a
 * label an item has now: the message names the item). */
HITL_API int hitl_pool_set_classes(hitl_pool *pool, size_t n_classes);

/* hitl_pool_classes: *n_classes = the declared class count, or 0.
 * Returns HITL_OK; HITL_EINVAL (NULL).  Concurrent reads. */
HITL_API int hitl_pool_classes(size_t *n_classes, const hitl_pool *pool);

/* hitl_pool_set_state: set item `index` to UNLABELED or SKIPPED (forgetting
 * its label), or to LABELED only if it already has a label.
 * Leaving LABELED forgets the label, so LABELED is accepted only for an item
 * that is LABELED already (a no-op): label items with hitl_pool_set_label.
 * Returns HITL_OK; HITL_EINVAL (NULL, index out of range, unknown state,
 * LABELED without a label). */
HITL_API int hitl_pool_set_state(hitl_pool *pool, size_t index,
                                 hitl_item_state state);

/* hitl_pool_set_weight: the sample weight (> 0, finite; default 1) that item
 * `index` carries when the model is fitted.
 * Returns HITL_OK; HITL_EINVAL (NULL, index out of range, weight <= 0 or not
 * finite). */
HITL_API int hitl_pool_set_weight(hitl_pool *pool, size_t index, float weight);

/* hitl_pool_weight: the sample weight of item `index`: 1 for a new item,
 * else the last value set by hitl_pool_set_weight (which a feedback handle
 * also calls: see "Feedback").  A weight survives state changes.
 * Returns HITL_OK; HITL_EINVAL (NULL, index >= size); *weight is written only
 * on success.  Concurrent reads. */
HITL_API int hitl_pool_weight(float *weight, const hitl_pool *pool,
                              size_t index);

/* hitl_pool_items: the ids, states and labels of items first .. first+n-1
 * into n-entry arrays (entry i is item first+i; a label is -1 unless the
 * item is LABELED); any of the three may be NULL.  One call instead of n
 * calls of hitl_pool_item, for bindings and snapshots.
 * Returns HITL_OK; HITL_EINVAL (NULL pool, the range leaves the pool).
 * Nothing is written on failure.  Concurrent reads. */
HITL_API int hitl_pool_items(uint64_t *ids, hitl_item_state *states,
                             int32_t *labels, const hitl_pool *pool,
                             size_t first, size_t n);

/* hitl_pool_weights: the sample weights of items first .. first+n-1 into
 * weights[0 .. n-1].
 * Returns HITL_OK; HITL_EINVAL (NULL pool, NULL weights with n > 0, the
 * range leaves the pool).  Nothing is written on failure.  Concurrent
 * reads. */
HITL_API int hitl_pool_weights(float *weights, const hitl_pool *pool,
                               size_t first, size_t n);

/* hitl_pool_copy_rows: copy the features of items first .. first+n-1 into
 * rows, n rows of dim floats one after another (row i is item first+i),
 * whether the pool copied or borrowed them (a sparse pool's rows are
 * written dense: zeros but at their non-zeros).
 * Returns HITL_OK; HITL_EINVAL (NULL pool, NULL rows with n > 0, the range
 * leaves the pool).  Nothing is written on failure.  Concurrent reads. */
HITL_API int hitl_pool_copy_rows(float *rows, const hitl_pool *pool,
                                 size_t first, size_t n);

/* hitl_pool_set_labels: hitl_pool_set_label(pool, indices[i], labels[i])
 * for i = 0 .. n-1, in that order (an index given twice keeps its last
 * label), all or nothing: every index and label is checked before the
 * first item changes.
 * Returns HITL_OK; HITL_EINVAL (NULL pool, NULL indices or labels with
 * n > 0, an index >= the pool size, a label < 0 or >= the pool's class
 * count: the message names the entry), and then the pool is unchanged. */
HITL_API int hitl_pool_set_labels(hitl_pool *pool, const size_t *indices,
                                  const int32_t *labels, size_t n);

/* hitl_pool_set_weights: hitl_pool_set_weight(pool, indices[i], weights[i])
 * for i = 0 .. n-1 in that order, all or nothing like hitl_pool_set_labels.
 * Returns HITL_OK; HITL_EINVAL (NULL pool, NULL indices or weights with
 * n > 0, an index >= the pool size, a weight <= 0 or not finite: the
 * message names the entry), and then the pool is unchanged. */
HITL_API int hitl_pool_set_weights(hitl_pool *pool, const size_t *indices,
                                   const float *weights, size_t n);

/* ------------------------------------------------------------------------- */
/* Model: logistic regression, or the caller's own model                      */
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
 * Returns HITL_OK; HITL_EINVAL (NULL out, dim 0, n_classes < 2 or > 65536,
 * (dim + 1) * n_classes > INT_MAX coefficients); HITL_ENOMEM. */
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
 * that only if fit is NULL (a model trained elsewhere: it is fitted from the
 * start, and hitl_model_fit only checks its arguments and the pool).
 * A failing fit callback leaves the model as it was (fitted or not).
 * Returns HITL_OK; HITL_EINVAL (NULL out or predict, dim 0, n_classes < 2 or
 * > 65536); HITL_ENOMEM. */
HITL_API int hitl_model_create_custom(hitl_model **out, size_t dim,
                                      size_t n_classes, hitl_fit_fn fit,
                                      hitl_predict_fn predict, void *user);

/* Callbacks of a custom model on sparse rows: the same contracts, with the
 * rows as one CSR matrix of their own (see hitl_pool_create_sparse): row i's
 * non-zeros are positions indptr[i] .. indptr[i+1]-1 of indices (columns,
 * increasing) and values, indptr has n + 1 entries and indptr[0] == 0.
 * All arrays are borrowed for the duration of the call only. */
typedef int (*hitl_fit_csr_fn)(void *user, const int32_t *indptr,
                               const int32_t *indices, const float *values,
                               size_t n, size_t dim, const int32_t *y,
                               const float *w);
typedef int (*hitl_predict_csr_fn)(void *user, const int32_t *indptr,
                                   const int32_t *indices, const float *values,
                                   size_t n, size_t dim, float *proba);

/* hitl_model_create_custom_csr: a custom model for sparse pools and
 * hitl_model_predict_csr, backed by CSR callbacks (a separate creator, so
 * the dense callback signature stays as it was).  Everything else as
 * hitl_model_create_custom.  Such a model refuses dense rows, and a dense
 * custom model refuses sparse pools, with HITL_EINVAL naming the other
 * creator.
 * Returns HITL_OK; HITL_EINVAL (NULL out or predict, dim 0, n_classes < 2 or
 * > 65536); HITL_ENOMEM. */
HITL_API int hitl_model_create_custom_csr(hitl_model **out, size_t dim,
                                          size_t n_classes, hitl_fit_csr_fn fit,
                                          hitl_predict_csr_fn predict,
                                          void *user);

/* hitl_model_free: release the model.  Accepts NULL. */
HITL_API void hitl_model_free(hitl_model *model);

/* hitl_model_set_param / hitl_model_get_param: set or read a parameter of the
 * model (see hitl_param, 1xx values).
 * Returns HITL_OK; HITL_EINVAL (NULL, a parameter of another handle kind, a
 * value out of range or not an integer where one is required).  Setting
 * optimizer parameters on a custom model is accepted and ignored.
 * hitl_model_get_param is a concurrent read. */
HITL_API int hitl_model_set_param(hitl_model *model, hitl_param param,
                                  double value);
HITL_API int hitl_model_get_param(double *value, const hitl_model *model,
                                  hitl_param param);

/* hitl_model_fit: (re)fit on the pool's LABELED items (SKIPPED and UNLABELED
 * items are ignored).  Warm-starts from the previous solution when
 * HITL_PARAM_WARM_START is 1.  The pool is only read during the call.
 * Returns HITL_OK; HITL_EINVAL (NULL, pool dim != model dim, a label >=
 * n_classes: the message names the item; for the built-in model, more than
 * INT_MAX labeled items, the BLAS index limit); HITL_ESTATE (no labeled item);
 * HITL_ENUMERIC (the optimizer produced NaN/Inf); HITL_ECALLBACK; HITL_ENOMEM.
 * Not reaching TOL within MAX_ITER is not an error: check
 * HITL_INFO_GRAD_NORM (the fit also stops short of TOL, with the true
 * gradient norm, when double precision allows no further progress).
 * On failure the previous fit, if any, is kept. */
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
 * X is only read during the call; nothing is written to proba on failure.
 * The built-in model scores in float32 (weights cast from the fit), blocks of
 * HITL_PARAM_BLOCK_ROWS rows on HITL_PARAM_THREADS threads (the caller's
 * thread is one of them); a custom model's callback is checked and each row
 * renormalised (see hitl_predict_fn).
 * Returns HITL_OK (n 0 included, X and proba may then be NULL); HITL_EINVAL
 * (NULL, stride < dim); HITL_ESTATE (not fitted); HITL_ENUMERIC (NaN/Inf in
 * X: the message names row and column; or logits beyond float32 range);
 * HITL_ECALLBACK (the message names the callback's return value, or the row
 * and class of an invalid probability); HITL_ENOMEM.  Concurrent reads. */
HITL_API int hitl_model_predict(float *proba, const hitl_model *model,
                                const float *X, size_t n, size_t stride);

/* hitl_model_predict_csr: class probabilities of n caller CSR rows (see
 * hitl_pool_create_sparse: indptr with n + 1 entries from 0, int32 columns
 * in [0, dim) increasing in each row, float32 values) into proba (n x
 * n_classes, row-major).  The built-in model adds, per non-zero, its value
 * times one contiguous row of its feature-major weights, so the cost is
 * O(nnz x K), whatever dim.  The arrays are only read during the call.
 * Returns HITL_OK (n 0 included, the pointers may then be NULL); HITL_EINVAL
 * (NULL, a malformed row: the message names row and position; a dense
 * custom model); HITL_ESTATE; HITL_ENUMERIC (NaN/Inf value: row and
 * position; logits beyond float32); HITL_ECALLBACK; HITL_ENOMEM.
 * Concurrent reads. */
HITL_API int hitl_model_predict_csr(float *proba, const hitl_model *model,
                                    const int32_t *indptr, const int32_t *indices,
                                    const float *values, size_t n);

/* hitl_model_predict_pool: probabilities of pool items first .. first+n-1
 * into proba (n x n_classes, row-major).  Same returns as hitl_model_predict,
 * plus HITL_EINVAL when the range leaves the pool or dims differ.
 * Concurrent reads (of model and pool). */
HITL_API int hitl_model_predict_pool(float *proba, const hitl_model *model,
                                     const hitl_pool *pool, size_t first,
                                     size_t n);

/* Saving and loading the built-in model: a versioned little-endian format
 * with a CRC-32 over the whole record, so any truncation or corruption is
 * rejected.
 * Parameters, fitted weights and fit figures round-trip bit-exactly.
 *
 * hitl_model_save_size: the exact number of bytes hitl_model_save writes.
 * hitl_model_save: write the model to buf (capacity bytes); *written = size.
 *   Returns HITL_OK; HITL_EINVAL (NULL, capacity too small, custom model).
 * hitl_model_load: a new model from size bytes at buf (copied).
 *   Returns HITL_OK; HITL_EINVAL (NULL); HITL_EFORMAT (bad magic, version,
 *   checksum, length or contents: also a parameter stored as -0, which
 *   this library never writes, and a coefficient beyond float32's range,
 *   which no prediction could use); HITL_ENOMEM.
 * hitl_model_save_file / hitl_model_load_file: the same through a file,
 *   written to a temporary name and renamed into place.  Add HITL_EIO.
 * The save functions are concurrent reads of the model. */
HITL_API int hitl_model_save_size(size_t *size, const hitl_model *model);
HITL_API int hitl_model_save(size_t *written, void *buf, size_t capacity,
                             const hitl_model *model);
HITL_API int hitl_model_load(hitl_model **out, const void *buf, size_t size);
HITL_API int hitl_model_save_file(const hitl_model *model, const char *path);
HITL_API int hitl_model_load_file(hitl_model **out, const char *path);

/* ------------------------------------------------------------------------- */
/* Query strategies: which items to ask a person about                        */
/* ------------------------------------------------------------------------- */

typedef struct hitl_strategy hitl_strategy;

/* Scores, with p the model's class probabilities of an item sorted so that
 * p1 >= p2 >= ...; the query returns the k UNLABELED items that come first in
 * the stated order, ties broken by the lower pool index:
 *   RANDOM          a uniform pseudo-random key from (seed, item index);
 *                   smallest first.  Needs no fitted model (model may be NULL).
 *   LEAST_CONFIDENT 1 - p1; largest first.
 *   MARGIN          p1 - p2; smallest first.
 *   ENTROPY         -sum p log p (natural log); largest first.
 *   EXPECTED_GRADIENT_LENGTH
 *                   the expected length of the gradient the item's label
 *                   would add to the built-in model's loss (Settles, Craven
 *                   & Ray, "Multiple-instance active learning", NIPS 2008):
 *                   sum_y p_y ||grad_W,b -log softmax(W x + b)[y]||, in
 *                   closed form ||x~|| sum_y p_y sqrt(S - 2 p_y + 1) with
 *                   S = sum_k p_k^2 and x~ = (x, 1) (x alone without an
 *                   intercept); largest first.  The L2 term, the same for
 *                   every label, is left out.  Computed in the scoring pass
 *                   (the rows' norms are read while the block is in cache).
 *                   Needs the built-in model: a custom model or a committee
 *                   is refused (HITL_EINVAL). */
typedef enum hitl_strategy_kind {
    HITL_STRATEGY_RANDOM          = 1,
    HITL_STRATEGY_LEAST_CONFIDENT = 2,
    HITL_STRATEGY_MARGIN          = 3,
    HITL_STRATEGY_ENTROPY         = 4,
    HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH = 5,
    /* query-by-committee (see "Committee" below; they need a committee
     * and hitl_query_committee) */
    HITL_STRATEGY_QBC_VOTE_ENTROPY      = 10,
    HITL_STRATEGY_QBC_CONSENSUS_ENTROPY = 11,
    HITL_STRATEGY_QBC_KL                = 12,
    HITL_STRATEGY_QBC_BALD              = 13,
    /* diversity and the recommended default (see "Diversity") */
    HITL_STRATEGY_KCENTER               = 20,
    HITL_STRATEGY_RANKED_BATCH          = 21,
    HITL_STRATEGY_DENSITY               = 22,
    HITL_STRATEGY_HYBRID                = 23,
    HITL_STRATEGY_DEFAULT               = 30
} hitl_strategy_kind;

/* hitl_strategy_create: a strategy of the given kind.
 * Returns HITL_OK; HITL_EINVAL (NULL out, unknown kind); HITL_ENOMEM. */
HITL_API int hitl_strategy_create(hitl_strategy **out, hitl_strategy_kind kind);

/* hitl_strategy_free: release the strategy.  Accepts NULL. */
HITL_API void hitl_strategy_free(hitl_strategy *strategy);

/* hitl_strategy_set_param / get_param: set or read a parameter of the
 * strategy (see hitl_param, 2xx values).
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
 * Streams the pool in blocks of the model's HITL_PARAM_BLOCK_ROWS on its
 * HITL_PARAM_THREADS threads: extra memory is O(threads * (block * K + k)),
 * never the N x K probabilities of the pool; time O(N) plus O(N log k) for
 * the selection.  Scores are computed from float32 probabilities (relative
 * error about 1e-6).  Deterministic for the same seed, inputs and any thread
 * count.  The pool and model are only read.  On failure nothing is written.
 * While the pool has no LABELED item and the model is NULL or not fitted,
 * every strategy kind returns the cold-start batch (see "Cold start" under
 * "Diversity"): the first items to ask about need no model.
 * Returns HITL_OK (also with *count 0 when nothing is unlabeled);
 * HITL_EINVAL (NULL count/strategy/pool, NULL model for a strategy that
 * needs one once items are labeled, dims differ, k 0); HITL_ESTATE (model
 * not fitted while items are labeled); HITL_ECALLBACK; HITL_ENOMEM. */
HITL_API int hitl_query(size_t *count, size_t *indices, uint64_t *ids,
                        double *scores, hitl_strategy *strategy,
                        const hitl_model *model, const hitl_pool *pool,
                        size_t k);

/* ------------------------------------------------------------------------- */
/* Committee (query-by-committee)                                             */
/* ------------------------------------------------------------------------- */

/* A committee is a set of M models ("members") that are fitted together and
 * asked together; where they disagree about an item, a label is informative.
 *
 * Design: a committee is its own handle, not a model kind, because a
 * disagreement needs every member's distribution separately (a model only
 * gives one).  Members are hitl_model handles: built-in logistic regressions
 * that the committee creates and owns (hitl_committee_add_logreg, each with
 * its own L2, so a committee can mix regularisations), and/or the caller's
 * models of any kind (hitl_committee_add_model, borrowed), so a C++ network
 * or a Python estimator can sit on a committee through a custom model.
 *
 * Fitting: with HITL_PARAM_COMMITTEE_BOOTSTRAP = 1 (the default) each member
 * is fitted on its own bootstrap resample of the LABELED items (n draws with
 * replacement; stream m of HITL_PARAM_COMMITTEE_SEED for member m; an item
 * drawn t times has weight t x its own weight), so members differ even when
 * they are built alike (bagging).  With 0 every member is fitted on all
 * labeled items, as hitl_model_fit would (then members differ only by their
 * parameters; a committee of one equals the single model).
 *
 * Scoring: one blocked pass over the pool.  The built-in members' weights are
 * stacked into one dim x (M (K-1)) layer (each member's logits relative to
 * class 0, which change neither its softmax nor its vote), so each block of
 * rows costs one matrix product for all of them, not M; caller models
 * predict each block through their callbacks.  Extra memory is
 * O(threads x block_rows x M x K), with blocks shortened so that this stays
 * near 8 MiB per thread.
 *
 * Disagreement of the members' class distributions P_1 .. P_M about an item,
 * with the consensus Pbar = (1/M) sum_m P_m and H(p) = -sum_c p_c log p_c
 * (natural log).  Larger is more informative for all four:
 *   QBC_VOTE_ENTROPY       H(V/M), where V_c counts the members whose most
 *                          probable class is c (ties to the lower class).
 *                          In [0, log min(M, K)].
 *   QBC_CONSENSUS_ENTROPY  H(Pbar).  In [0, log K].
 *   QBC_KL                 (1/M) sum_m KL(P_m || Pbar), McCallum & Nigam's
 *                          mean divergence to the consensus.
 *   QBC_BALD               H(Pbar) - (1/M) sum_m H(P_m), BALD's mutual
 *                          information between the label and the member.
 * KL and BALD are the same quantity in exact arithmetic (the mean divergence
 * to the mean is the entropy of the mean minus the mean entropy); both names
 * are offered because users look for both, and each is computed by its own
 * formula, so they can differ in the last bits.  Both lie in
 * [0, log min(M, K)].  With M = 1 every measure but CONSENSUS_ENTROPY is 0.
 *
 * Thread-safety: as any handle.  The committee only reads borrowed members;
 * hitl_committee_fit refits them, so they must not be used elsewhere during
 * that call.  Borrowed members must outlive the committee (or stop being
 * used with it). */
typedef struct hitl_committee hitl_committee;

/* hitl_committee_create: an empty committee for rows of `dim` features and
 * n_classes classes.  Free with hitl_committee_free().
 * Returns HITL_OK; HITL_EINVAL (NULL out, n_classes < 2 or > 65536, dim 0
 * or too large for a built-in member: the limits of
 * hitl_model_create_logreg); HITL_ENOMEM. */
HITL_API int hitl_committee_create(hitl_committee **out, size_t dim,
                                   size_t n_classes);

/* hitl_committee_free: release the committee and the members it owns (those
 * of hitl_committee_add_logreg); borrowed members are not touched.  Accepts
 * NULL. */
HITL_API void hitl_committee_free(hitl_committee *committee);

/* hitl_committee_add_logreg: add a built-in logistic-regression member with
 * HITL_PARAM_L2 = l2 and the other model parameters at their defaults (change
 * them through hitl_committee_member).  The committee owns it.  Its index is
 * the committee's size before the call.
 * Returns HITL_OK; HITL_EINVAL (NULL, l2 < 0 or not finite, already 4096
 * members); HITL_ENOMEM. */
HITL_API int hitl_committee_add_logreg(hitl_committee *committee, double l2);

/* hitl_committee_add_model: add the caller's model (built-in or custom) as a
 * member.  Borrowed: it must stay alive while the committee uses it, and is
 * not freed by the committee.  A built-in member is read when the committee
 * scores, so the committee sees its current fit.
 * Returns HITL_OK; HITL_EINVAL (NULL, dim or n_classes differ, the model is
 * already a member, already 4096 members); HITL_ENOMEM. */
HITL_API int hitl_committee_add_model(hitl_committee *committee,
                                      hitl_model *model);

/* hitl_committee_size: the number of members.
 * Returns HITL_OK; HITL_EINVAL on NULL.  Concurrent reads. */
HITL_API int hitl_committee_size(size_t *n, const hitl_committee *committee);

/* hitl_committee_member: member i (borrowed: owned by the committee for
 * add_logreg members, by the caller otherwise; valid while the committee
 * lives).  Use it to read coefficients or set a member's model parameters;
 * do not free it.
 * Returns HITL_OK; HITL_EINVAL (NULL, i >= size).  Concurrent reads. */
HITL_API int hitl_committee_member(hitl_model **member,
                                   const hitl_committee *committee, size_t i);

/* hitl_committee_set_param / get_param: set or read a parameter of the
 * committee (see hitl_param, 3xx values).
 * Returns HITL_OK; HITL_EINVAL (NULL, not a committee parameter, value out
 * of range or not an integer where one is required). */
HITL_API int hitl_committee_set_param(hitl_committee *committee,
                                      hitl_param param, double value);
HITL_API int hitl_committee_get_param(double *value,
                                      const hitl_committee *committee,
                                      hitl_param param);

/* hitl_committee_fit: fit every member on the pool's LABELED items (or on
 * its bootstrap resample of them, see above).  Built-in members warm-start
 * from their previous fit as hitl_model_fit does.  The pool is only read.
 * Deterministic for the same seed, members and pool.
 * Returns HITL_OK; HITL_EINVAL (NULL, pool dim differs, a label >= n_classes:
 * the message names the member and the item); HITL_ESTATE (no member, no
 * labeled item); HITL_ENUMERIC; HITL_ECALLBACK; HITL_ENOMEM.  On failure
 * every built-in member keeps its previous fit; custom members before the
 * failing one have had their fit callback run (their state is the caller's
 * and cannot be rolled back). */
HITL_API int hitl_committee_fit(hitl_committee *committee,
                                const hitl_pool *pool);

/* hitl_committee_predict: the consensus (mean of the members' class
 * probabilities) for n caller rows (row i at X + i*stride, stride >= dim)
 * into proba (n x n_classes, row-major).
 * Returns HITL_OK; HITL_EINVAL (NULL, stride < dim or > INT_MAX, n rows
 * that could not fit in memory); HITL_ESTATE (no member, a member not
 * fitted); HITL_ENUMERIC (NaN/Inf in X, or logits that overflow float32);
 * HITL_ECALLBACK; HITL_ENOMEM.  Concurrent reads. */
HITL_API int hitl_committee_predict(float *proba,
                                    const hitl_committee *committee,
                                    const float *X, size_t n, size_t stride);

/* hitl_committee_predict_pool: the consensus for pool items first ..
 * first+n-1 into proba (n x n_classes).  Same returns as
 * hitl_committee_predict, plus HITL_EINVAL when the range leaves the pool
 * or dims differ.  Concurrent reads (of committee and pool). */
HITL_API int hitl_committee_predict_pool(float *proba,
                                         const hitl_committee *committee,
                                         const hitl_pool *pool, size_t first,
                                         size_t n);

/* hitl_disagreement: a QBC_* measure of tables the caller computed (e.g. the
 * forward passes of an MC-dropout network: BALD), without a committee.
 * proba holds n_items x n_members x n_classes floats, item-major: the row of
 * member m for item i starts at proba + (i*n_members + m)*n_classes; each
 * row is divided by its sum first.  scores gets n_items values.
 * Returns HITL_OK; HITL_EINVAL (NULL with n_items > 0, n_members 0 or >
 * 4096, n_classes < 2 or > 65536, kind not QBC_*, a negative entry or a row
 * summing to 0: the message names item, member and class); HITL_ENUMERIC
 * (NaN/Inf entry); HITL_ENOMEM.  Nothing is written on failure.  Thread-safe. */
HITL_API int hitl_disagreement(double *scores, const float *proba,
                               size_t n_items, size_t n_members,
                               size_t n_classes, hitl_strategy_kind kind);

/* hitl_query_committee: hitl_query with a committee in place of the model.
 * By the strategy's kind:
 *   QBC_*                      the k UNLABELED items of largest disagreement
 *                              (scores: the measure); ties to the lower index.
 *   LEAST_CONFIDENT, MARGIN,   the core scores of the consensus Pbar, in the
 *   ENTROPY                    core's order.
 *   RANDOM                     as hitl_query (the committee is not used).
 *   KCENTER, RANKED_BATCH,     as described under "Diversity", with the
 *   DENSITY, HYBRID, DEFAULT   informativeness (HITL_PARAM_BASE, which may
 *                              be a QBC_* measure here) from the committee.
 * Arrays, counts, determinism and memory as hitl_query (a committee's block
 * holds M x K values per row).  Committee and pool are only read.  (hitl_query
 * with a QBC_* strategy returns HITL_EINVAL: it has no committee.)
 * Returns HITL_OK (*count 0 when nothing is unlabeled); HITL_EINVAL (NULL
 * count/strategy/committee/pool, dims differ, k 0); HITL_ESTATE (no member or
 * a member not fitted, unless the cold start applies); HITL_ECALLBACK;
 * HITL_ENOMEM. */
HITL_API int hitl_query_committee(size_t *count, size_t *indices,
                                  uint64_t *ids, double *scores,
                                  hitl_strategy *strategy,
                                  const hitl_committee *committee,
                                  const hitl_pool *pool, size_t k);

/* ------------------------------------------------------------------------- */
/* Diversity, cold start and the default strategy                             */
/* ------------------------------------------------------------------------- */

/* Uncertainty alone picks near-duplicates (a batch of items the model is
 * unsure about for the same reason) and can do worse than random.  These
 * strategies also look at where the items lie.  Geometry is Euclidean on the
 * rows as given (scale your features: standardise each column, or the
 * largest column dominates the distances).  Squared distances come from
 * ||x||^2 precomputed once per query and BLAS dot products; a running vector
 * holds each candidate's distance to its nearest centre, so adding a centre
 * costs one pass over the pool, O(N dim), never O(N |centres|).  Extra memory
 * is O(N) floats plus fixed tiles; no N x N matrix is ever formed.
 *
 * "Informativeness" u in [0, 1] below is HITL_PARAM_BASE scaled by its
 * largest value, larger = more informative: LEAST_CONFIDENT
 * (1 - p1)/(1 - 1/K), MARGIN 1 - (p1 - p2), ENTROPY H(p)/log K, and with a
 * committee QBC_* / its upper bound given under "Committee".
 *
 * Centres are the LABELED items (SKIPPED items are neither centres nor
 * picked).  Results come in pick order, which for KCENTER, RANKED_BATCH and
 * HYBRID is not the order of the scores.
 *
 *   KCENTER       k-center greedy (core-set; Sener & Savarese 2018): each
 *                 pick is the unlabeled item farthest from its nearest
 *                 centre, and becomes a centre.  Score: that distance.
 *                 Needs no model (model may be NULL).  Cost: one matrix
 *                 product of N x |labeled| x dim for the first distances,
 *                 then one fused pass over the pool per pick (the last
 *                 pick needs none).
 *   RANKED_BATCH  ranked batch mode (Cardoso et al. 2017): each pick
 *                 maximises  alpha (1 - sim(x)) + (1 - alpha) u(x)  with
 *                 alpha = |U| / (|U| + |L|), U the unlabeled items left, L
 *                 the labeled items plus the picks so far, and
 *                 sim(x) = 1 / (1 + distance to the nearest item of L)
 *                 (the similarity modAL uses).  Score: that value.  Base
 *                 default LEAST_CONFIDENT (the paper's).
 *   DENSITY       information density (Settles & Craven 2008): the k items
 *                 of largest u(x) D(x)^e, e = HITL_PARAM_DENSITY_EXPONENT,
 *                 D(x) = (1/|A|) sum_{a in A} exp(-||x - a||^2 / h^2), with
 *                 h = HITL_PARAM_DENSITY_BANDWIDTH or, when 0, h^2 = the mean
 *                 squared distance between two unlabeled items (computed
 *                 exactly in O(N dim)).  A is every unlabeled item when there
 *                 are at most m = HITL_PARAM_DENSITY_ANCHORS of them: then D
 *                 is exact (O(N^2 dim) time, tiles of memory).  Otherwise A
 *                 is m unlabeled items drawn uniformly without replacement
 *                 (seeded), O(N m dim): as each term is in (0, 1], with
 *                 probability >= 1 - delta every item's estimate is within
 *                 sqrt(ln(2N/delta) / (2m)) of the exact D (Hoeffding; N
 *                 unlabeled items).  Score: u D^e.  Ordered largest first,
 *                 ties to the lower index.  Base default MARGIN.
 *   HYBRID        two stages: the ceil(beta k) most informative unlabeled
 *                 items (beta = HITL_PARAM_HYBRID_BETA), then k of them,
 *                 with the labeled items as the first centres, by
 *                 HITL_PARAM_HYBRID_SELECT: k-center greedy (farthest-first,
 *                 the default) or k-means++ seeding (each pick drawn with
 *                 probability proportional to its squared distance to the
 *                 nearest centre, seeded; diverse, but rarely an outlier).
 *                 Score: each pick's informativeness u.  Base default
 *                 MARGIN.  Costs one scoring pass plus
 *                 O(beta k (|L| + k) dim).
 *   DEFAULT       what libhitl recommends when you do not want to choose.
 *                 In this version: HYBRID with MARGIN informativeness,
 *                 beta = 10 and k-means++ seeding in the second stage, after
 *                 a k-means++ cold start.  Chosen on evidence (`make eval`,
 *                 bench/eval.c): on every data set the project ships (UCI
 *                 digits, letter, satellite) its area under the learning
 *                 curve is above random sampling's, on each of 10 seeds not
 *                 used to choose it, including the 26-class set where
 *                 entropy and least-confident sampling fall far below random
 *                 and margin only ties it.  The recipe may improve in later
 *                 versions (its kind value stays); choose HYBRID to pin it.
 *                 HITL_PARAM_BASE and HITL_PARAM_COLD_START apply;
 *                 HITL_PARAM_HYBRID_BETA and _SELECT do not.
 *
 * Cold start: while the pool has no LABELED item, every kind of this section
 * (KCENTER, RANKED_BATCH, DENSITY, HYBRID, DEFAULT) returns a first batch
 * chosen from the data alone, by HITL_PARAM_COLD_START, and then needs no
 * model (model may be NULL or unfitted); so do the uncertainty kinds when
 * the model is NULL or not fitted (hitl_query), and every kind of
 * hitl_query_committee when the committee cannot score yet (no member, or
 * one not fitted):
 *   HITL_COLD_START_RANDOM    k items uniformly at random (seeded).  Score:
 *                             the uniform key, smallest first.
 *   HITL_COLD_START_KCENTER   a uniform random first item (seeded), then
 *                             farthest-first.  Score: distance to the nearest
 *                             earlier pick (+inf for the first).
 *   HITL_COLD_START_KMEANSPP  k-means++ seeding: a uniform first item, then
 *                             each next drawn with probability proportional
 *                             to its squared distance to the nearest earlier
 *                             pick (seeded).  Scores as KCENTER.  Default:
 *                             diverse like k-center, but rarely an outlier.
 *
 * All are deterministic for the same seed (HITL_PARAM_SEED), inputs and any
 * thread count.  Use them through hitl_query (with a model) or
 * hitl_query_committee (informativeness from a committee). */
typedef enum hitl_cold_start {
    HITL_COLD_START_RANDOM   = 0,
    HITL_COLD_START_KCENTER  = 1,
    HITL_COLD_START_KMEANSPP = 2
} hitl_cold_start;

/* ------------------------------------------------------------------------- */
/* Labels to re-check: confident learning                                     */
/* ------------------------------------------------------------------------- */

/* People make mistakes; some LABELED items of a pool carry a wrong label.
 * A recheck queue ranks the labeled items whose given label is probably
 * wrong, so that a reviewer can look at them first (record the reviewer's
 * answers with hitl_feedback_record: an answer of a higher authority
 * settles the item).  The method is confident learning (Northcutt, Jiang &
 * Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels",
 * JAIR 70, 2021) with the paper's "prune by noise rate".
 *
 * Input: the pool's n LABELED items, taken in increasing pool index (row r
 * of every probability table below is the r-th labeled item in that order),
 * each with its given label y and out-of-sample class probabilities p (p
 * from a model that was not fitted on that item).  Either the caller gives
 * p (hitl_recheck_query_proba), or the library makes it by k-fold
 * cross-fitting (hitl_recheck_query, hitl_recheck_cross_fit): the labeled
 * items are split into k = HITL_PARAM_RECHECK_FOLDS folds, stratified by
 * label (sorted by label and then by a hash of (HITL_PARAM_RECHECK_SEED,
 * pool index), position q goes to fold q mod k), and each fold is scored by
 * a fresh copy of the model (same parameters; for a custom model the same
 * callbacks and user pointer) fitted on the other folds with the items'
 * labels and weights.  Up to HITL_PARAM_RECHECK_THREADS folds are fitted at
 * once (custom models one at a time: their callbacks share `user`).  The
 * caller's model is only read: a built-in model need not be fitted; a
 * custom model's fit callback runs k times and its `user` state ends as the
 * last fold left it (refit it on the whole pool afterwards).
 *
 * With K classes and n_i the items labeled i:
 *   1. Thresholds.  t_j = the mean of p_j over the items labeled j (a class
 *      without labeled items has no threshold and is never "confident").
 *   2. Confident joint.  C[i][j] = the number of items labeled i whose
 *      confident class is j: among the classes c with p_c >= t_c, the one
 *      of largest p_c (the lower class on ties); items without one are not
 *      counted.  (cleanlab takes the overall argmax when several classes
 *      pass; this is the paper's rule.)
 *   3. Calibration.  Row i (n_i > 0) with C[i][i] raised to at least 1 is
 *      scaled to sum to n_i, C~[i][j] = C[i][j] n_i / sum_j C[i][j], and
 *      rounded to integers that keep the sum n_i (floors, then +1 to the
 *      largest fractional parts, the lower column on ties).  The estimated
 *      number of wrong labels is the off-diagonal sum of C~, the estimated
 *      joint of given and true label Q = C~ / n.
 *   4. Prune by noise rate.  For each off-diagonal cell, the C~[i][j] items
 *      labeled i with the largest margin p_j - p_i (computed in float32;
 *      the lower pool index on ties) are chosen.  An item chosen by a cell
 *      of its row is FLAGGED, unless its label is its most probable class
 *      (argmax p, the lower class on ties), as cleanlab does.
 *   5. Ranking.  The flagged items, by a score smallest first (the lower
 *      pool index on ties): HITL_PARAM_RECHECK_RANK = SELF_CONFIDENCE, p_y;
 *      or NORMALIZED_MARGIN, (p_y - max_{j != y} p_j + 1) / 2.  Both are in
 *      [0, 1]; small = the given label is probably wrong.
 * Probabilities must be finite, >= 0, each row summing to 1 within 1e-3.
 *
 * Cost.  Given the probabilities, the estimate streams over them: one pass
 * each for steps 1, 2 and 5 and at most three for step 4 (an exact radix
 * selection of each cell's cut, 11 bits a pass, over the margins' 32-bit
 * codes; with K <= 23 the first of them rides on step 2's pass; with more
 * classes, up to three for every 512 off-diagonal cells), O(n K) time a
 * pass.  Steps 1, 2 and 4 run in blocks of 65,536 pool items on up
 * to HITL_PARAM_RECHECK_THREADS threads (at most 64), step 5 on the
 * calling thread; the result is the same for any thread count.  Extra
 * memory is O(threads K^2) counters (at most 4 MiB a thread) plus the k
 * results: no copy of anything n-sized is made.  Cross-fitting adds the
 * model fits, the n x K probabilities and one copy of the labeled rows,
 * which every fold's training set borrows.
 *
 * Design.  A recheck is its own small handle, not a strategy kind: a
 * hitl_query picks UNLABELED items by one model's scores, while this picks
 * LABELED items from k refitted models; and like hitl_router the handle
 * keeps a report of its last run (thresholds, the confident joint, the
 * noise estimate) to audit what the queue rests on.  Its results have the
 * shape of a query (count, pool indices, ids, scores), so they go to people
 * the same way.
 *
 * Threads: one thread at a time per handle; the model and pool are only
 * read (concurrent reads), so several handles may share them. */
typedef struct hitl_recheck hitl_recheck;

typedef enum hitl_recheck_rank {
    HITL_RECHECK_RANK_SELF_CONFIDENCE   = 1,
    HITL_RECHECK_RANK_NORMALIZED_MARGIN = 2
} hitl_recheck_rank;

/* Figures of the last run (hitl_recheck_get_info). */
typedef enum hitl_recheck_info {
    HITL_RECHECK_INFO_N_LABELED  = 1, /* labeled items examined, n */
    HITL_RECHECK_INFO_N_CLASSES  = 2, /* K */
    HITL_RECHECK_INFO_N_FLAGGED  = 3, /* items flagged: the whole queue, of
                                         which a run returns the first k */
    HITL_RECHECK_INFO_N_NOISY    = 4, /* estimated wrong labels: the
                                         off-diagonal sum of C~ */
    HITL_RECHECK_INFO_NOISE_RATE = 5, /* N_NOISY / n */
    HITL_RECHECK_INFO_FOLDS      = 6  /* folds of the cross-fit; 0 when the
                                         caller gave the probabilities */
} hitl_recheck_info;

/* hitl_recheck_create: a recheck handle with the default parameters (5
 * folds, seed 0, SELF_CONFIDENCE, one thread per CPU) and no report.
 * Returns HITL_OK; HITL_EINVAL (NULL out); HITL_ENOMEM.  Free with
 * hitl_recheck_free(). */
HITL_API int hitl_recheck_create(hitl_recheck **out);

/* hitl_recheck_free: release the handle.  Accepts NULL. */
HITL_API void hitl_recheck_free(hitl_recheck *recheck);

/* hitl_recheck_set_param / get_param: set or read a parameter (see
 * hitl_param, 60x values).  Setting one changes neither the others nor the
 * report.
 * Returns HITL_OK; HITL_EINVAL (NULL, a parameter of another handle kind,
 * a value out of range or not an integer where one is required).
 * get_param: concurrent reads. */
HITL_API int hitl_recheck_set_param(hitl_recheck *recheck, hitl_param param,
                                    double value);
HITL_API int hitl_recheck_get_param(double *value,
                                    const hitl_recheck *recheck,
                                    hitl_param param);

/* hitl_recheck_query_proba: the queue from the caller's probabilities.
 * proba is n x n_classes floats, row-major, row r for the r-th LABELED item
 * in pool index order (n = hitl_pool_count(LABELED)), borrowed for the
 * call.  Writes *count = min(k, flagged items) entries to each non-NULL
 * array (each must hold k): indices (pool indices), ids (caller ids),
 * scores (the score of step 5 of "Labels to re-check": p_y or the
 * normalised margin, in [0, 1]), most probably wrong first; replaces the
 * report.  Deterministic, for any thread count.
 * Returns HITL_OK (*count may be 0: nothing flagged); HITL_EINVAL (NULL
 * count, recheck, pool or proba, k 0, n_classes < 2 or > 65536, n rows that
 * could not fit in memory, a label >= n_classes: the message names the
 * item, a row not summing to 1 or a negative value: it names the row);
 * HITL_ENUMERIC (NaN/Inf in proba: the message names row and class);
 * HITL_ESTATE (no LABELED item); HITL_ENOMEM.  On failure nothing is
 * written and the report is unchanged. */
HITL_API int hitl_recheck_query_proba(size_t *count, size_t *indices,
                                      uint64_t *ids, double *scores,
                                      hitl_recheck *recheck,
                                      const float *proba, size_t n_classes,
                                      const hitl_pool *pool, size_t k);

/* hitl_recheck_cross_fit: the out-of-sample probabilities of the pool's
 * LABELED items by k-fold cross-fitting of `model` (see above) into proba
 * (n x the model's classes, rows in the order above).  Deterministic for
 * the same seed, folds, model parameters and pool, for any thread count.
 * Returns HITL_OK; HITL_EINVAL (NULL proba, recheck, model or pool, dims
 * differ, a custom model without a fit callback, a label >= the model's
 * classes: the message names the item, more folds than labeled items, a
 * class with a single labeled item: the fold that holds it would be scored
 * by a model that never saw the class); HITL_ESTATE (no LABELED item);
 * HITL_ENUMERIC, HITL_ECALLBACK (a fold's fit or prediction failed: the
 * message names the fold); HITL_ENOMEM.  On failure proba may be partly
 * written.  Concurrent reads of recheck, model and pool. */
HITL_API int hitl_recheck_cross_fit(float *proba, const hitl_recheck *recheck,
                                    const hitl_model *model,
                                    const hitl_pool *pool);

/* hitl_recheck_query: hitl_recheck_cross_fit, then hitl_recheck_query_proba
 * on its probabilities (held for the call: n x K floats).  Same outputs and
 * returns as those two (k 0 is HITL_EINVAL).  On failure nothing is written
 * and the report is unchanged. */
HITL_API int hitl_recheck_query(size_t *count, size_t *indices, uint64_t *ids,
                                double *scores, hitl_recheck *recheck,
                                const hitl_model *model,
                                const hitl_pool *pool, size_t k);

/* hitl_recheck_get_info: one figure of the last run's report (see
 * hitl_recheck_info).
 * Returns HITL_OK; HITL_EINVAL (NULL, unknown info); HITL_ESTATE (no run
 * has succeeded yet).  Concurrent reads. */
HITL_API int hitl_recheck_get_info(double *value, const hitl_recheck *recheck,
                                   hitl_recheck_info info);

/* hitl_recheck_joint: the last run's estimates, into any non-NULL array:
 * thresholds (K entries: t_j, NaN for a class without labeled items), joint
 * (K x K, row-major: C[i][j], i the given label, j the confident class) and
 * calibrated (K x K: C~, integers).  K = HITL_RECHECK_INFO_N_CLASSES.
 * Returns HITL_OK; HITL_EINVAL (NULL recheck); HITL_ESTATE (no run yet).
 * Concurrent reads. */
HITL_API int hitl_recheck_joint(double *thresholds, double *joint,
                                double *calibrated,
                                const hitl_recheck *recheck);

/* ------------------------------------------------------------------------- */
/* Feedback: people's answers, consensus and the journal                      */
/* ------------------------------------------------------------------------- */

/* A feedback handle records what people answered about the items of one pool
 * as an append-only log of events, and keeps the pool in step with it.
 *
 * Events.  Each event gets the next event id (0, 1, 2, ...; ids are never
 * reused).  Answers come from annotators, identified by any uint64 the caller
 * chooses.  An annotator's current answer on an item is their latest answer
 * event on it that has not been retracted: a later answer replaces an earlier
 * one, and retracting the latest brings back the one before it.  Every event
 * also stores a timestamp (microseconds since the Unix epoch, caller-given or
 * the clock's) and may store a reason: free text, valid UTF-8, at most
 * HITL_REASON_MAX bytes, without NUL bytes.
 *
 * Aggregation.  Each item's current labels (skips are not votes) give one
 * aggregated label and its posterior confidence in (0, 1], by the method set
 * with HITL_PARAM_AGGREGATION:
 *   MAJORITY     the most frequent label; confidence = its share of labels.
 *   WEIGHTED     each annotator's label counts with weight
 *                w = (correct + 1) / (answered + 2), their Laplace-smoothed
 *                accuracy on gold items (1/2 with no gold answer); the label
 *                with the largest total weight wins; confidence = its share
 *                of the item's total weight.
 *   DAWID_SKENE  the Dawid-Skene model: item i has a true class z_i with
 *                prior P(z = k) = pi_k, and annotator a answers l with
 *                probability theta_a[k][l] when z_i = k, independently.  EM
 *                estimates pi and every theta_a (initialised from the vote
 *                shares of each item, gold items fixed to their gold class)
 *                and gives each item the posterior P(z_i = k | answers); the
 *                label is its argmax, the confidence its value.  See
 *                hitl_feedback_aggregate for the fit and its stopping rule.
 *                With few answers per annotator and class its K^2 cells
 *                per annotator overfit: give it a prior
 *                (HITL_PARAM_DS_PRIOR) or use RECOMMENDED.
 *   ONE_COIN     Dawid-Skene with one accuracy p_a per annotator:
 *                theta_a[k][k] = p_a, theta_a[k][l] = (1 - p_a) / (K - 1)
 *                for l != k; same fit, same posterior.
 *   RECOMMENDED  what to pick.  At each aggregation it chooses by the
 *                evidence between MAJORITY, ONE_COIN and DAWID_SKENE with
 *                prior strength s = K / 2 (the items with labels are I, the
 *                answers on them L, their annotators A):
 *                1. L < 2 I or L < 10 A (too few labels per item or answers
 *                   per annotator for any model): MAJORITY.
 *                   Otherwise constant annotators are left out: those with
 *                   at least 10 answers, at least 95% of them one class c,
 *                   on items where the annotators who do not answer so
 *                   (nearly always one class) have a clear majority (see
 *                   3.) for another class than c at least 20% of the time
 *                   (of at least 5 items with one).  Their answers do not
 *                   depend on the item, so they say nothing about it; but
 *                   a model may take them for an expert of c, and they
 *                   pull every vote towards c.  Steps 2 and 3 and the
 *                   chosen aggregation do without their answers: an item
 *                   only they answered gets the prior's most likely class
 *                   under a model, their vote under the vote; their fitted
 *                   matrices are uniform.
 *                2. Each of the three models (MAJORITY as the "shared coin":
 *                   ONE_COIN with one accuracy for every annotator;
 *                   DAWID_SKENE only with L >= K A, an answer per row of
 *                   each annotator's matrix on average) is
 *                   cross-validated on two folds of the items (those at even
 *                   and at odd places in the order they first got an
 *                   event): fitted on one fold, it scores the log
 *                   probability of every answer on the other fold's items
 *                   (with >= 2 labels and no gold or authority label) given
 *                   the other answers on its item.  The sum over both folds,
 *                   less 3 nats for ONE_COIN and 6 for DAWID_SKENE (a more
 *                   complex model must be clearly better), ranks them.
 *                3. The best ranked wins, unless its fit on every item
 *                   overrules more than 25% of the clear majorities (items
 *                   without a gold or authority label where at least 2
 *                   labels agree and no other label has as many): such a
 *                   fit has most likely locked onto a degenerate solution
 *                   (annotators who always give one class taken for its
 *                   experts); then the next one does.  MAJORITY always can.
 *                HITL_FEEDBACK_AGGREGATION_USED and HITL_FEEDBACK_PRIOR_USED
 *                say what it chose; HITL_PARAM_DS_PRIOR does not apply.  It
 *                fits up to 9 times what DAWID_SKENE fits once, and only
 *                when asked to (hitl_feedback_aggregate, setting a
 *                parameter that calls for a fit, opening a journal):
 *                recording an answer re-aggregates its item with the
 *                choice made then, at the cost of a vote.  On 100,000
 *                items with 3 answers each one aggregation takes about
 *                1.2 s with 5 classes and 20 annotators (DAWID_SKENE 0.27
 *                s, ONE_COIN 0.18 s) and 2.4 s with 10 classes and 100
 *                annotators (0.6 s, 0.3 s), on one core of an AMD EPYC server.  On
 *                simulated crowds (make eval: 2-26 classes, 50-5,000 items,
 *                3-20 annotators; accurate, poor and class-confused crowds,
 *                random and constant spammers) it labels about 4 points
 *                more of the items right than MAJORITY on average, about 1
 *                point fewer than the best method of each setting, and is
 *                never more than 2 points below MAJORITY (at worst 1.4, in
 *                50 items of 2 classes from 3 annotators, one of whom
 *                always gives the same class).  It is the default.
 * Ties (equal votes, weights or posteriors) go to the tied label whose
 * earliest current answer came first (lowest event id); a label no one gave
 * comes after those, smaller class first.
 * Agreement of an item = the share of its labels equal to its aggregated
 * label.
 *
 * Authority.  Every annotator has an authority level (hitl_feedback_set_role;
 * HITL_ROLE_ANNOTATOR, 0, unless set): reviewers and adjudicators are
 * annotators with a higher level.  When some of an item's current labels
 * come from an annotator of level > 0, the item is settled by authority: its
 * label is the latest current label among those of the highest level
 * present, confidence 1, whatever the other votes and the Dawid-Skene
 * estimates say (a Dawid-Skene fit takes it as the item's class, as it does
 * a gold label).  A later answer of the same or a higher level, a
 * retraction, or a role change (which re-decides the items of that
 * annotator) changes it; an annotator's level is the one they have now.
 *
 * Consensus.  An item with a gold answer (hitl_feedback_set_gold) is GOLD:
 * its label is the gold label, confidence 1; gold outranks every authority.
 * Otherwise an item settled by authority is RESOLVED.  Otherwise an item
 * with at least one label is RESOLVED when it has at least
 * HITL_PARAM_MIN_ANNOTATORS labels,
 * agreement >= HITL_PARAM_MIN_AGREEMENT and confidence >=
 * HITL_PARAM_MIN_CONFIDENCE, else PENDING ("needs another annotator": list
 * them with hitl_feedback_pending).  An item without labels is NONE.
 *
 * The pool.  The handle owns the state, label and weight of every item it
 * has an event for, and writes them whenever that item's aggregation
 * changes:  RESOLVED -> LABELED with the aggregated label and weight = the
 * confidence (1 when HITL_PARAM_CONFIDENCE_WEIGHTS is 0); GOLD -> LABELED
 * with the gold label, weight 1; PENDING -> UNLABELED (so it can be queried
 * and routed again), weight 1; NONE -> SKIPPED if some annotator's current
 * answer is a skip, else UNLABELED, weight 1.  PENDING items never reach the
 * model.  Items the handle has no event for are left alone.  Use one
 * feedback handle per pool.
 *
 * When estimates change.  Recording an event re-aggregates only its item,
 * with the estimates the handle holds then: WEIGHTED reads the annotators'
 * current gold accuracies; DAWID_SKENE and ONE_COIN use the last fit (an
 * annotator the fit has not seen counts as the average fitted annotator; an
 * item with a label >= the fit's class count falls back to majority vote);
 * RECOMMENDED uses what it chose at the last aggregation, a fit or the
 * vote.
 * hitl_feedback_aggregate (or setting HITL_PARAM_AGGREGATION) re-estimates
 * and re-aggregates every item: call it before hitl_model_fit when using
 * any method but MAJORITY.
 *
 * Threads: one thread at a time per handle, and the pool must not be used by
 * another thread while a call that records events, sets a parameter or a
 * role, aggregates or opens a journal runs.  Calls marked "concurrent reads"
 * only read the handle. */

typedef struct hitl_feedback hitl_feedback;

typedef enum hitl_event_kind {
    HITL_EVENT_LABEL    = 1, /* an answer: the item has class `label` */
    HITL_EVENT_OVERRIDE = 2, /* an answer correcting the model's
                                pre-annotation: label != the shown label */
    HITL_EVENT_CONFIRM  = 3, /* an answer accepting the pre-annotation:
                                label == the shown label */
    HITL_EVENT_SKIP     = 4, /* the annotator declines or is unsure: no label */
    HITL_EVENT_RETRACT  = 5, /* withdraws an earlier answer event */
    HITL_EVENT_GOLD     = 6  /* sets or clears an item's known answer */
} hitl_event_kind;

typedef enum hitl_aggregation {
    HITL_AGGREGATE_MAJORITY    = 1,
    HITL_AGGREGATE_WEIGHTED    = 2,
    HITL_AGGREGATE_DAWID_SKENE = 3,
    HITL_AGGREGATE_ONE_COIN    = 4,
    HITL_AGGREGATE_RECOMMENDED = 5  /* what to pick: see "Aggregation" */
} hitl_aggregation;

/* Authority levels (see "Authority" above): any integer in [0,
 * HITL_AUTHORITY_MAX] is a level; these name three. */
typedef enum hitl_role {
    HITL_ROLE_ANNOTATOR   = 0,
    HITL_ROLE_REVIEWER    = 100,
    HITL_ROLE_ADJUDICATOR = 200
} hitl_role;
#define HITL_AUTHORITY_MAX 65535

/* How an item's label was settled (hitl_feedback_settlement). */
typedef enum hitl_settlement {
    HITL_SETTLED_NONE      = 0, /* not settled: status NONE or PENDING */
    HITL_SETTLED_VOTE      = 1, /* a majority or weighted vote of the labels
                                   (also Dawid-Skene's fallback for a label
                                   beyond its fit) */
    HITL_SETTLED_MODEL     = 2, /* the posterior of a model of the
                                   annotators (Dawid-Skene) */
    HITL_SETTLED_AUTHORITY = 3, /* the label of an annotator of the highest
                                   authority among its answers */
    HITL_SETTLED_GOLD      = 4  /* its gold label */
} hitl_settlement;

typedef enum hitl_consensus {
    HITL_CONSENSUS_NONE     = 0, /* no label (nothing, or only skips) */
    HITL_CONSENSUS_RESOLVED = 1,
    HITL_CONSENSUS_PENDING  = 2, /* needs another annotator */
    HITL_CONSENSUS_GOLD     = 3
} hitl_consensus;

#define HITL_NO_EVENT   UINT64_MAX /* "no event" in event links */
#define HITL_TIME_NOW   INT64_MIN  /* timestamp argument: read the clock */
#define HITL_REASON_MAX 1024       /* bytes of a reason, NUL not counted */

/* hitl_feedback_create: an empty feedback handle for `pool`, which is
 * borrowed and must outlive the handle.  Parameters start at their defaults.
 * Returns HITL_OK; HITL_EINVAL (NULL); HITL_ENOMEM. */
HITL_API int hitl_feedback_create(hitl_feedback **out, hitl_pool *pool);

/* hitl_feedback_free: close the journal, if one is open (syncing records not
 * yet synced unless its policy is 0; errors are lost: call
 * hitl_feedback_close_journal first to see them), and release the handle.
 * The pool keeps its states, labels and weights.  Accepts NULL. */
HITL_API void hitl_feedback_free(hitl_feedback *feedback);

/* hitl_feedback_record: record an answer of annotator `annotator` about
 * item `item_id` (a caller id of the pool), or a gold decision.
 *   kind              LABEL, OVERRIDE, CONFIRM, SKIP, or GOLD (as
 *                     hitl_feedback_set_gold, with a reason).
 *   label             the class, 0 .. 65535 (and < HITL_PARAM_N_CLASSES
 *                     or the pool's class count when set); -1 for SKIP;
 *                     for CONFIRM either -1 or the shown label (the shown
 *                     label is recorded); for GOLD the gold label, or -1 to
 *                     clear it.
 *   confidence        the annotator's own confidence in [0, 1], or NaN for
 *                     none.  Recorded for the audit trail; not used by the
 *                     aggregation.
 *   shown_label       the model's pre-annotation shown to the annotator,
 *                     0 .. 65535, or -1 if none was shown.  Required by
 *                     OVERRIDE and CONFIRM.
 *   shown_confidence  the model's confidence in it, in [0, 1], or NaN;
 *                     must be NaN when shown_label is -1.
 *   timestamp         microseconds since the Unix epoch, or HITL_TIME_NOW.
 *   reason            NULL, or UTF-8 text of at most HITL_REASON_MAX bytes
 *                     (copied; "" is stored as no reason).
 * *event_id (if event_id is not NULL) gets the new event's id.  With a
 * journal open the event is appended to it before the call returns (synced
 * per its policy); the item is re-aggregated and written to the pool.
 * A GOLD event carries no confidence and no pre-annotation (NaN, -1, NaN).
 * Returns HITL_OK; HITL_EINVAL (NULL feedback, a kind other than the five,
 * a field out of range or inconsistent with the kind, invalid UTF-8 or too
 * long a reason: the message names the field and value); HITL_ENOTFOUND (no
 * item of the pool has this id); HITL_EIO (the journal write or sync
 * failed); HITL_ENOMEM.  On failure nothing is recorded. */
HITL_API int hitl_feedback_record(uint64_t *event_id, hitl_feedback *feedback,
                                  hitl_event_kind kind, uint64_t item_id,
                                  uint64_t annotator, int32_t label,
                                  double confidence, int32_t shown_label,
                                  double shown_confidence, int64_t timestamp,
                                  const char *reason);

/* What a person was shown with the model's guess: at most HITL_SHOWN_MAX
 * (feature, contribution) pairs, e.g. the top of hitl_model_explain. */
#define HITL_SHOWN_MAX 16

/* hitl_feedback_record_shown: hitl_feedback_record of an answer (LABEL,
 * OVERRIDE or CONFIRM) that also records the explanation shown with the
 * pre-annotation: n_shown pairs shown_features[i] (>= 0) and
 * shown_contrib[i] (finite), copied; n_shown 0 records none (then the
 * arrays may be NULL).  An explanation needs a shown_label >= 0.  Read it
 * back with hitl_feedback_event_shown.  With a journal open, the first
 * event with an explanation makes the journal version 3 (see "The
 * journal").
 * Returns as hitl_feedback_record, plus HITL_EINVAL (n_shown above
 * HITL_SHOWN_MAX, NULL arrays with n_shown > 0, a negative feature, a
 * contribution not finite, SKIP or GOLD kind, an explanation without a
 * shown label). */
HITL_API int hitl_feedback_record_shown(uint64_t *event_id,
                                        hitl_feedback *feedback,
                                        hitl_event_kind kind,
                                        uint64_t item_id, uint64_t annotator,
                                        int32_t label, double confidence,
                                        int32_t shown_label,
                                        double shown_confidence,
                                        const int32_t *shown_features,
                                        const float *shown_contrib,
                                        size_t n_shown, int64_t timestamp,
                                        const char *reason);

/* hitl_feedback_label: shorthand for hitl_feedback_record(NULL, feedback,
 * HITL_EVENT_LABEL, item_id, annotator, label, NAN, -1, NAN, HITL_TIME_NOW,
 * NULL).  Same returns. */
HITL_API int hitl_feedback_label(hitl_feedback *feedback, uint64_t item_id,
                                 uint64_t annotator, int32_t label);

/* hitl_feedback_skip: shorthand for hitl_feedback_record(NULL, feedback,
 * HITL_EVENT_SKIP, item_id, annotator, -1, NAN, -1, NAN, HITL_TIME_NOW,
 * NULL).  Same returns. */
HITL_API int hitl_feedback_skip(hitl_feedback *feedback, uint64_t item_id,
                                uint64_t annotator);

/* hitl_feedback_retract: withdraw answer event `target` (a LABEL, OVERRIDE,
 * CONFIRM or SKIP that is not retracted yet); `annotator` is who withdraws it
 * (anyone, e.g. a reviewer).  The target stays in the log, marked retracted;
 * its annotator's current answer on the item becomes their latest answer
 * that is not retracted, if any, and the item is re-aggregated.  Timestamp
 * and reason as in hitl_feedback_record.  *event_id (may be NULL) gets the
 * RETRACT event's id.
 * Returns HITL_OK; HITL_EINVAL (NULL feedback, target is a RETRACT or GOLD
 * event or already retracted, bad reason); HITL_ENOTFOUND (no event has id
 * target); HITL_EIO; HITL_ENOMEM.  On failure nothing is recorded. */
HITL_API int hitl_feedback_retract(uint64_t *event_id, hitl_feedback *feedback,
                                   uint64_t target, uint64_t annotator,
                                   int64_t timestamp, const char *reason);

/* hitl_feedback_set_gold: declare item `item_id`'s known answer `label`
 * (0 .. 65535, < HITL_PARAM_N_CLASSES or the pool's class count when set),
 * or clear it with -1; hitl_feedback_record with kind GOLD does the same
 * and records a reason.  Gold
 * items score annotators (HITL_ANNOTATOR_GOLD_*), set the weights of the
 * WEIGHTED vote, are fixed to their class in Dawid-Skene, and go to the pool
 * with the gold label.  Recorded as a GOLD event by `annotator` (who
 * declared it) at `timestamp` (or HITL_TIME_NOW); *event_id may be NULL.
 * Returns HITL_OK; HITL_EINVAL (NULL feedback, label out of range);
 * HITL_ENOTFOUND (no item of the pool has this id); HITL_EIO; HITL_ENOMEM. */
HITL_API int hitl_feedback_set_gold(uint64_t *event_id, hitl_feedback *feedback,
                                    uint64_t item_id, int32_t label,
                                    uint64_t annotator, int64_t timestamp);

/* hitl_feedback_count: number of events recorded, of every kind (also the id
 * the next event gets).
 * Returns HITL_OK; HITL_EINVAL (NULL).  Concurrent reads. */
HITL_API int hitl_feedback_count(size_t *n, const hitl_feedback *feedback);

/* hitl_feedback_event: the fields of event `event_id`, into any non-NULL
 * out-pointer: kind, item_id (for RETRACT: the retracted event's item),
 * annotator, label (-1 for SKIP and RETRACT; the gold label or -1 for GOLD),
 * confidence (NaN: none), shown_label (-1: none), shown_confidence (NaN:
 * none), timestamp (always the resolved time, never HITL_TIME_NOW).
 * Returns HITL_OK; HITL_EINVAL (NULL feedback); HITL_ENOTFOUND (event_id >=
 * hitl_feedback_count).  Concurrent reads. */
HITL_API int hitl_feedback_event(hitl_event_kind *kind, uint64_t *item_id,
                                 uint64_t *annotator, int32_t *label,
                                 double *confidence, int32_t *shown_label,
                                 double *shown_confidence, int64_t *timestamp,
                                 const hitl_feedback *feedback,
                                 uint64_t event_id);

/* hitl_feedback_event_shown: the explanation recorded with event
 * `event_id` (hitl_feedback_record_shown): *n_shown pairs (0 for events
 * without one); the first min(*n_shown, capacity) go to features and
 * contrib (either may be NULL).
 * Returns HITL_OK; HITL_EINVAL (NULL n_shown or feedback); HITL_ENOTFOUND.
 * Concurrent reads. */
HITL_API int hitl_feedback_event_shown(size_t *n_shown, int32_t *features,
                                       float *contrib, size_t capacity,
                                       const hitl_feedback *feedback,
                                       uint64_t event_id);

/* hitl_feedback_event_links: the retraction links of event `event_id`:
 * *target = the event a RETRACT withdraws (HITL_NO_EVENT for other kinds)
 * and *retracted_by = the RETRACT that withdrew this event (HITL_NO_EVENT if
 * none).  Either out-pointer may be NULL.
 * Returns HITL_OK; HITL_EINVAL (NULL feedback); HITL_ENOTFOUND.  Concurrent
 * reads. */
HITL_API int hitl_feedback_event_links(uint64_t *target,
                                       uint64_t *retracted_by,
                                       const hitl_feedback *feedback,
                                       uint64_t event_id);

/* hitl_feedback_event_reason: *reason = the event's reason, a borrowed
 * NUL-terminated UTF-8 string valid until the handle is freed, or NULL if
 * the event has none.
 * Returns HITL_OK; HITL_EINVAL (NULL); HITL_ENOTFOUND.  Concurrent reads. */
HITL_API int hitl_feedback_event_reason(const char **reason,
                                        const hitl_feedback *feedback,
                                        uint64_t event_id);

/* hitl_feedback_history: the audit trail of item `item_id`: the ids of
 * every event about it (answers, retractions, gold decisions; superseded
 * and retracted ones included), oldest first.  Read each one's who, when
 * and what with hitl_feedback_event, why with hitl_feedback_event_reason,
 * what withdrew it with hitl_feedback_event_links, and the authority of
 * its annotator with hitl_feedback_role.  Writes min(*count, capacity) ids
 * and sets *count to their number (capacity 0 and NULL event_ids learn it).
 * Time O(events about the item).
 * Returns HITL_OK; HITL_EINVAL (NULL count or feedback, NULL event_ids with
 * capacity > 0); HITL_ENOTFOUND (no item of the pool has this id).
 * Concurrent reads. */
HITL_API int hitl_feedback_history(size_t *count, uint64_t *event_ids,
                                   size_t capacity,
                                   const hitl_feedback *feedback,
                                   uint64_t item_id);

/* hitl_feedback_overrides: how often people overrode the model.  Counts the
 * answer events (LABEL, OVERRIDE, CONFIRM; not retracted; superseded answers
 * included, each was a decision) that were shown a pre-annotation, and among
 * them those whose label differs from it.  shown_label = -1 counts over
 * every pre-annotated class; a class counts only where the model proposed
 * that class (the override rate "where the model says k").  O(events).
 * Returns HITL_OK; HITL_EINVAL (NULL, shown_label < -1 or > 65535).
 * Concurrent reads. */
HITL_API int hitl_feedback_overrides(size_t *shown, size_t *overridden,
                                     const hitl_feedback *feedback,
                                     int32_t shown_label);

/* hitl_feedback_set_param / hitl_feedback_get_param: set or read a parameter
 * of the handle (see hitl_param, 40x values).  Setting HITL_PARAM_AGGREGATION
 * (or N_CLASSES under DAWID_SKENE, ONE_COIN or RECOMMENDED, or DS_PRIOR
 * under DAWID_SKENE) re-estimates and re-aggregates every item as
 * hitl_feedback_aggregate does; MIN_ANNOTATORS, MIN_AGREEMENT,
 * MIN_CONFIDENCE and CONFIDENCE_WEIGHTS re-decide every item with the current
 * estimates and write the pool; EM_* take effect at the next fit.  Leaving
 * the model methods (DAWID_SKENE, ONE_COIN, RECOMMENDED) drops their fit
 * (EM_* infos 0, no confusion matrices).  With a
 * journal open, the change is written to it (see "The journal") before it
 * takes effect; a change the journal refuses (HITL_EIO) does not happen.
 * Returns HITL_OK; HITL_EINVAL (NULL, a parameter of another handle kind,
 * a value out of range or not an integer where one is required,
 * N_CLASSES <= a label already recorded); HITL_ESTATE (Dawid-Skene would
 * infer more than 1024 classes from the labels recorded: set N_CLASSES);
 * HITL_EIO (the journal could not record it); HITL_ENOMEM (a Dawid-Skene
 * fit).  On failure the parameter keeps its old value.  get_param:
 * concurrent reads. */
HITL_API int hitl_feedback_set_param(hitl_feedback *feedback,
                                     hitl_param param, double value);
HITL_API int hitl_feedback_get_param(double *value,
                                     const hitl_feedback *feedback,
                                     hitl_param param);

/* hitl_feedback_aggregate: re-estimate and re-aggregate every item, and
 * write the pool.  WEIGHTED re-reads every annotator's gold accuracy.
 * DAWID_SKENE fits the model above by EM over the items with labels, K =
 * HITL_PARAM_N_CLASSES classes: start from each item's vote shares (gold
 * items and items settled by authority fixed to their class), then repeat
 * an M-step (MAP estimates from the expected counts n: pi_k = (1 + n_k) /
 * (K + n); theta_a[k][l] = (c_kl + n_akl) / (0.01 K + s + n_ak) with the
 * Dirichlet pseudo-counts c_kk = 0.01 + s q_a and c_kl = 0.01 + s (1 - q_a)
 * / (K - 1) for l != k, s = HITL_PARAM_DS_PRIOR, q_a = the annotator's
 * one-coin accuracy (0.01 K + sum_k n_akk) / (0.01 K^2 + n_a) from the same
 * counts: the prior adds s answers to every row, spread as the annotator's
 * one-coin matrix, so a row with few answers stays near it and s -> inf
 * gives ONE_COIN; s = 0 is the plain 0.01 pseudo-count) and an E-step
 * (posteriors, log-likelihood).  ONE_COIN's M-step pools every row:
 * p_a = (0.01 K + sum_k n_akk) / (0.01 K^2 + n_a).  Stop when the log
 * posterior J (the log-likelihood of the answers plus sum c log theta and
 * sum_k log pi_k, the log densities of the priors; with s > 0 the prior's
 * centre q_a moves with the counts, so J need not rise at every iteration)
 * changes by at most HITL_PARAM_EM_TOL * max(1, |J|) between iterations,
 * or after HITL_PARAM_EM_MAX_ITER iterations (see HITL_FEEDBACK_EM_*).
 * RECOMMENDED cross-validates and fits up to three of these models (see
 * "Aggregation").  Time
 * O(iterations * (answers * K + annotators * K^2)), memory O(items * K +
 * annotators * K^2), for either model.
 * With a journal open, the aggregation is written to it first.
 * Returns HITL_OK; HITL_EINVAL (NULL); HITL_ESTATE (K would be inferred
 * above 1024: set HITL_PARAM_N_CLASSES); HITL_EIO (the journal could not
 * record it); HITL_ENOMEM.  On failure nothing changed. */
HITL_API int hitl_feedback_aggregate(hitl_feedback *feedback);

/* hitl_feedback_item: the aggregation of item `item_id`, into any non-NULL
 * out-pointer: status, label (-1 when NONE), confidence and agreement (NaN
 * when there is no label; agreement of a GOLD item is the share of its
 * labels equal to the gold label), n_labels (current labels, skips not
 * counted).  An item of the pool without events is NONE.
 * Returns HITL_OK; HITL_EINVAL (NULL feedback); HITL_ENOTFOUND (no item of
 * the pool has this id).  Concurrent reads. */
HITL_API int hitl_feedback_item(hitl_consensus *status, int32_t *label,
                                double *confidence, double *agreement,
                                size_t *n_labels,
                                const hitl_feedback *feedback,
                                uint64_t item_id);

/* hitl_feedback_settlement: how item `item_id`'s label was settled, and
 * by which event: *how (see hitl_settlement) and *event_id = the deciding
 * event (the answer for AUTHORITY, the GOLD event for GOLD; HITL_NO_EVENT
 * for the others, which no single event decides).  Either out-pointer may
 * be NULL.  An item of the pool without events is NONE.
 * Returns HITL_OK; HITL_EINVAL (NULL feedback); HITL_ENOTFOUND (no item of
 * the pool has this id).  Concurrent reads. */
HITL_API int hitl_feedback_settlement(hitl_settlement *how, uint64_t *event_id,
                                      const hitl_feedback *feedback,
                                      uint64_t item_id);

/* hitl_feedback_set_role: give annotator `annotator` (who need not have
 * answered yet) the authority level `authority`, a hitl_role or any integer
 * in [0, HITL_AUTHORITY_MAX]; see "Authority" above.  The items they
 * answered are re-decided and written to the pool.  With a journal open the
 * change is written to it first (it then reads as format 2); a change the
 * journal refuses does not happen.  Setting the level they have is a no-op.
 * Returns HITL_OK; HITL_EINVAL (NULL feedback, authority out of range);
 * HITL_EIO (the journal could not record it); HITL_ENOMEM. */
HITL_API int hitl_feedback_set_role(hitl_feedback *feedback,
                                    uint64_t annotator, int32_t authority);

/* hitl_feedback_role: *authority = annotator `annotator`'s level
 * (HITL_ROLE_ANNOTATOR for anyone never given one).
 * Returns HITL_OK; HITL_EINVAL (NULL).  Concurrent reads. */
HITL_API int hitl_feedback_role(int32_t *authority,
                                const hitl_feedback *feedback,
                                uint64_t annotator);

/* hitl_feedback_pending: the items that need another annotator (status
 * PENDING), in the order they first got an event.  Writes min(*count,
 * capacity) caller ids to item_ids and sets *count to the number of
 * pending items (call with capacity 0 to learn it; item_ids may be NULL
 * then).
 * Returns HITL_OK; HITL_EINVAL (NULL count or feedback, NULL item_ids with
 * capacity > 0).  Concurrent reads. */
HITL_API int hitl_feedback_pending(size_t *count, uint64_t *item_ids,
                                   size_t capacity,
                                   const hitl_feedback *feedback);

/* hitl_feedback_answers: every current label as (item, annotator, label)
 * triples: one per annotator and item (their current answer; skips and
 * retracted or superseded answers left out), grouped by item in the order
 * items first got an event, and within an item in the order annotators first
 * answered it.  This is the input the agreement metrics (Cohen, Fleiss,
 * Krippendorff) take.  Writes min(*count, capacity) entries to each of the
 * three arrays and sets *count to the total (capacity 0 and NULL arrays
 * learn it).
 * Returns HITL_OK; HITL_EINVAL (NULL count or feedback, a NULL array with
 * capacity > 0).  Concurrent reads. */
HITL_API int hitl_feedback_answers(size_t *count, uint64_t *item_ids,
                                   uint64_t *annotators, int32_t *labels,
                                   size_t capacity,
                                   const hitl_feedback *feedback);

/* hitl_feedback_annotators: the annotators that have answered (RETRACT and
 * GOLD events do not make one), in the order of their first answer; same
 * count/capacity rules as hitl_feedback_pending.
 * Returns HITL_OK; HITL_EINVAL.  Concurrent reads. */
HITL_API int hitl_feedback_annotators(size_t *count, uint64_t *ids,
                                      size_t capacity,
                                      const hitl_feedback *feedback);

typedef enum hitl_annotator_info {
    HITL_ANNOTATOR_LABELS             = 1, /* items their current answer
                                              labels */
    HITL_ANNOTATOR_SKIPS              = 2, /* items their current answer
                                              skips */
    HITL_ANNOTATOR_GOLD_ANSWERS       = 3, /* labels on gold items */
    HITL_ANNOTATOR_GOLD_ACCURACY      = 4, /* share of those equal to gold;
                                              NaN with none */
    HITL_ANNOTATOR_CONSENSUS_ANSWERS  = 5, /* labels on non-gold items with
                                              >= 2 labels */
    HITL_ANNOTATOR_CONSENSUS_ACCURACY = 6, /* share of those equal to the
                                              aggregated label (their own
                                              answer included); NaN with none */
    HITL_ANNOTATOR_WEIGHT             = 7, /* their WEIGHTED-vote weight */
    HITL_ANNOTATOR_DS_ACCURACY        = 8, /* Dawid-Skene (or one-coin)
                                              estimate of the share of their
                                              labels that are right (mean
                                              posterior of the label given);
                                              NaN until a fit covers them */
    /* Annotator drift: their answers on items whose label is settled
     * (RESOLVED or GOLD), in the order given; the last W =
     * HITL_PARAM_DRIFT_WINDOW against all the earlier ones by the
     * one-sided two-proportion z test (pooled; Fleiss, Levin & Paik,
     * "Statistical Methods for Rates and Proportions", 2003, 2.6).  Each
     * figure is NaN while they have fewer than 2 W such answers. */
    HITL_ANNOTATOR_DRIFT              = 9,  /* 1 if their agreement with the
                                              settled labels dropped: z above
                                              the normal quantile of 1 -
                                              HITL_PARAM_DRIFT_ALPHA (a stable
                                              annotator is flagged by one
                                              check with that probability);
                                              else 0 */
    HITL_ANNOTATOR_DRIFT_BEFORE       = 10, /* agreement before the window */
    HITL_ANNOTATOR_DRIFT_AFTER        = 11, /* agreement in the window */
    HITL_ANNOTATOR_DRIFT_Z            = 12, /* the test statistic */
    HITL_ANNOTATOR_DRIFT_AT           = 13  /* event id of the window's first
                                              answer */
} hitl_annotator_info;

/* hitl_feedback_annotator_info: a figure about annotator `annotator`.
 * Counts and accuracies are current (the consensus ones as of each item's
 * latest aggregation); DS_ACCURACY is as of the last fit; the DRIFT_*
 * figures are worked out from their answers when asked for (time and
 * memory O(their answers)).
 * Returns HITL_OK; HITL_EINVAL (NULL, unknown info); HITL_ENOTFOUND (the
 * annotator has not answered); HITL_ENOMEM (DRIFT_*).  Concurrent reads. */
HITL_API int hitl_feedback_annotator_info(double *value,
                                          const hitl_feedback *feedback,
                                          uint64_t annotator,
                                          hitl_annotator_info info);

/* hitl_feedback_confusion: the last Dawid-Skene fit's confusion matrix of
 * `annotator` (DAWID_SKENE, ONE_COIN, or the model RECOMMENDED chose):
 * matrix[k * n_classes + l] = P(answers l | true class k), each row summing
 * to 1.  n_classes must equal the fit's class count
 * (HITL_FEEDBACK_EM_CLASSES).
 * Returns HITL_OK; HITL_EINVAL (NULL, n_classes differs); HITL_ENOTFOUND
 * (the annotator has not answered); HITL_ESTATE (no fit yet, or the last fit
 * came before their first answer, or RECOMMENDED chose a vote).  Concurrent
 * reads. */
HITL_API int hitl_feedback_confusion(double *matrix,
                                     const hitl_feedback *feedback,
                                     uint64_t annotator, size_t n_classes);

typedef enum hitl_feedback_info {
    HITL_FEEDBACK_EVENTS         = 1,  /* events recorded */
    HITL_FEEDBACK_ITEMS          = 2,  /* items with at least one event */
    HITL_FEEDBACK_ANNOTATORS     = 3,
    HITL_FEEDBACK_RESOLVED       = 4,  /* items per hitl_consensus ... */
    HITL_FEEDBACK_PENDING        = 5,
    HITL_FEEDBACK_GOLD           = 6,
    HITL_FEEDBACK_EM_CLASSES     = 7,  /* K of the last Dawid-Skene fit, or 0
                                          (none, or another method since) */
    HITL_FEEDBACK_EM_ITERATIONS  = 8,  /* of the last fit */
    HITL_FEEDBACK_EM_OBJECTIVE   = 9,  /* log posterior J at its end */
    HITL_FEEDBACK_EM_CONVERGED   = 10, /* 1 if it stopped on the tolerance */
    HITL_FEEDBACK_JOURNAL_OPEN   = 11, /* 1 while a journal is open */
    HITL_FEEDBACK_JOURNAL_REPLAYED = 12, /* records replayed when opened */
    HITL_FEEDBACK_JOURNAL_DROPPED  = 13, /* bytes of damaged tail cut off */
    HITL_FEEDBACK_JOURNAL_UNSYNCED = 14, /* records written, not yet synced */
    HITL_FEEDBACK_AGGREGATION_USED = 15, /* the hitl_aggregation in force:
                                            the one set, or the one
                                            RECOMMENDED chose at the last
                                            aggregation (MAJORITY, ONE_COIN
                                            or DAWID_SKENE; MAJORITY before
                                            its first) */
    HITL_FEEDBACK_PRIOR_USED       = 16  /* prior strength s of the fit in
                                            force; NaN without a fit */
} hitl_feedback_info;

/* hitl_feedback_get_info: a figure about the handle (see hitl_feedback_info).
 * Returns HITL_OK; HITL_EINVAL (NULL, unknown info).  Concurrent reads. */
HITL_API int hitl_feedback_get_info(double *value,
                                    const hitl_feedback *feedback,
                                    hitl_feedback_info info);

/* The journal: a durable audit trail of every event, and of everything
 * else the handle did that its state depends on, so that replaying it
 * gives the state of the handle that wrote it.
 *
 * Format (little-endian): a 16-byte header ("HITLJRNL", uint32 version,
 * uint32 CRC-32 of the 12 bytes before it), then records: uint32 n, n bytes
 * of payload, uint32 CRC-32 (zlib's) of the length field and the payload.
 * An event's payload holds the event id and every field
 * hitl_feedback_event reports, plus the reason.  Version 2 adds control
 * records, in the same layout: a parameter change (hitl_feedback_set_param,
 * with the parameter and its value), a role change (hitl_feedback_set_role,
 * with the annotator and the level) or an aggregation
 * (hitl_feedback_aggregate, or the one opening or attaching a journal
 * does), each at its place among the events.  A journal is created as
 * version 1 and becomes version 2 (the header rewritten, synced) just
 * before its first control record, which is preceded by one for every
 * annotator whose level is not 0 and every parameter that differs from its
 * base value (replaying a version 2 journal starts from no roles and the
 * base parameters).  The base is the defaults with HITL_PARAM_AGGREGATION
 * = MAJORITY, the default when the first version 2 journals were written:
 * a handle at the default aggregation, RECOMMENDED, records it, so a new
 * journal is version 2 from its start, and an older journal that never
 * set a method still replays under MAJORITY.  Journals without control
 * records stay readable by libraries that read version 1 only.  Version 3
 * adds to an answer's record the explanation shown with it
 * (hitl_feedback_record_shown: a count byte and 8 bytes a pair after the
 * reason); a journal becomes version 3 (and version 2 first) just before
 * its first such event, so journals without one stay readable by
 * libraries that read versions 1 and 2, and this library replays those
 * unchanged.  Records
 * are only ever appended; a retraction or a changed gold answer is a new
 * record.
 *
 * Durability: the record is written (one write, at the end of the file)
 * before the recording call returns, so it survives the process crashing.
 * To survive the machine crashing it must also be synced (fsync): with
 * fsync_every = 1 every recording call syncs before it returns; with N > 1
 * every N-th record syncs (up to N-1 returned events may be lost in a power
 * failure); with 0 the library never syncs records (the system writes them
 * back in its own time; hitl_feedback_sync forces it).  Creating the file
 * and cutting a damaged tail are always synced.
 *
 * Crashes: a torn or corrupt tail (the last records are incomplete or fail
 * their checksum, with no good record after them) is cut off (ftruncate) at
 * the end of the last good record when the journal is opened, and the
 * number of bytes dropped is reported by HITL_FEEDBACK_JOURNAL_DROPPED; no
 * good record is lost.  A damaged record followed by good ones
 * is not a crash: opening fails with HITL_EFORMAT and leaves the file alone.
 * Telling the two apart means looking for a good record at every byte
 * after the damage, so the search covers at most 1 MiB (about a third of a
 * second): a damaged stretch longer than that is not taken for a torn tail
 * either (a torn write leaves at most the records written since the last
 * sync) and opening fails with HITL_EFORMAT, the file left alone, unless
 * everything past that first MiB is zero bytes (what a crash leaves where
 * writes that had grown the file were lost).
 *
 * The file is locked (flock) while open: a second handle or process opening
 * it gets HITL_EIO. */

/* hitl_feedback_open_journal: attach the journal file at `path` (not copied
 * beyond the call).
 *  - A missing or empty file is created with the header and then every event
 *    the handle already holds, and synced (so a journal can start mid-way).
 *    A journal without a good record counts as empty: a torn first record
 *    is cut off (reported by HITL_FEEDBACK_JOURNAL_DROPPED) first.
 *  - An existing journal is replayed into the handle, which must hold no
 *    event yet: every record is carried out again in order, through the
 *    same paths as the live calls: every event is recorded again with its
 *    id, timestamp and fields, every parameter change and aggregation is
 *    done again where it was done.  So the log, the gold answers, the
 *    annotators' counters, the parameters, the Dawid-Skene fit and every
 *    item's aggregation, in the handle and in the pool, are those of the
 *    handle that wrote the journal, bit for bit.  A version 2 journal
 *    starts from the base parameters (the defaults with MAJORITY; see "The
 *    journal") and no roles (it records the others); a version 1 journal
 *    starts from the handle's current ones, with MAJORITY (the default it
 *    was written under) unless the handle set HITL_PARAM_AGGREGATION, and
 *    ends with
 *    an aggregation (as hitl_feedback_aggregate does), which the journal
 *    records before the next record written to it.  Pool labels are thus
 *    re-derived from the records, not stored.  The pool must hold every
 *    item the journal names.  While it replays, the handle keeps a copy of
 *    the pool's states, labels and weights (9 bytes an item), so that a
 *    replay that fails part way puts them back.
 *  - A handle that holds events and attaches a journal without records
 *    writes them (and its roles and the parameters that differ from the
 *    base) to it,
 *    then re-aggregates every item as hitl_feedback_aggregate does, so
 *    that the journal's replay reproduces it.
 * Later events are appended with the fsync policy fsync_every (0 = never,
 * 1 = every event, N = every N-th event).
 * Returns HITL_OK; HITL_EINVAL (NULL); HITL_ESTATE (a journal is open
 * already, or the file has records and the handle has events, or replay
 * under Dawid-Skene would infer more than 1024 classes); HITL_EIO
 * (open, lock, read, write, sync or truncate failed: the message names the
 * path and the system error); HITL_EFORMAT (not a journal, an unsupported
 * version, a record that fails its checks with good records after it or
 * with more than 1 MiB after it, or a well-formed record that is not a
 * valid event); HITL_ENOTFOUND (a record
 * names an item the pool lacks); HITL_ENOMEM.  On failure no journal is
 * open and the handle and pool are as before. */
HITL_API int hitl_feedback_open_journal(hitl_feedback *feedback,
                                        const char *path,
                                        unsigned fsync_every);

/* hitl_feedback_sync: fsync the journal now.
 * Returns HITL_OK; HITL_EINVAL (NULL); HITL_ESTATE (no journal open);
 * HITL_EIO. */
HITL_API int hitl_feedback_sync(hitl_feedback *feedback);

/* hitl_feedback_close_journal: sync (unless the policy is 0) and close the
 * journal; later events are kept in memory only.  HITL_OK when none is open.
 * After a write failure that could not be undone (every recording call then
 * fails with HITL_EIO) this is how to detach the journal; the handle cannot
 * attach it again (it holds events and the file has records), but a new
 * handle replays every event whose recording call returned HITL_OK.
 * Returns HITL_OK; HITL_EINVAL (NULL); HITL_EIO (the sync or close failed;
 * the journal is closed anyway). */
HITL_API int hitl_feedback_close_journal(hitl_feedback *feedback);

/* ------------------------------------------------------------------------- */
/* Agreement between annotators                                               */
/* ------------------------------------------------------------------------- */

/* How much annotators agree beyond chance, and how often each one matches a
 * reference.  Plain arrays in, so any ratings work: the current answers of a
 * hitl_feedback handle (hitl_feedback_answers gives exactly the triples
 * below) or ratings from elsewhere.  Labels are nominal classes
 * 0 .. n_classes-1 with 2 <= n_classes <= 65536.
 *
 * Ratings are three parallel arrays of length n: rating j says annotator
 * rater[j] put item item[j] in class label[j].  Items and raters are any
 * caller ids.  Each (item, rater) pair occurs at most once (keep the
 * current answer; an earlier one that was replaced or retracted must not be
 * passed).  For item u, m_u is its number of ratings and n_uc the number of
 * them in class c.
 *
 * Common returns: HITL_OK and the figure in the first argument;
 * HITL_EINVAL (a NULL array, n or n_classes out of range (also an n whose
 * arrays could not fit in memory), a label outside [0, n_classes): the
 * message names the array and index; an (item, rater)
 * pair given twice: the message names both indices; and the cases named in
 * each block); HITL_ESTATE when the data leave the statistic undefined
 * (0/0: every rating is in one class, or nothing is pairable; the message
 * says which; the output is not written); HITL_ENOMEM.  Memory: O(n +
 * n_classes) temporary; time O(n log n).  Thread-safe: no shared state. */

/* hitl_agreement_cohen_kappa: Cohen's kappa of two annotators who both rated
 * the same n items: labels_a[i] and labels_b[i] are their classes for item i.
 *
 *     kappa = (p_o - p_e) / (1 - p_e),
 *     p_o = (1/n) #{i : a_i = b_i},   p_e = sum_c (na_c / n) (nb_c / n)
 *
 * with na_c, nb_c the number of items each annotator put in class c
 * (Cohen 1960).  kappa is 1 for perfect agreement, 0 for agreement at chance
 * level, negative below it (>= -1).  Equals scikit-learn's
 * cohen_kappa_score.  HITL_ESTATE when both annotators put every item in the
 * same single class (p_e = 1). */
HITL_API int hitl_agreement_cohen_kappa(double *kappa, const int32_t *labels_a,
                                        const int32_t *labels_b, size_t n,
                                        size_t n_classes);

/* hitl_agreement_fleiss_kappa: Fleiss' kappa of N items that each carry the
 * same number m >= 2 of ratings (the raters may differ from item to item):
 *
 *     kappa = (P - P_e) / (1 - P_e),
 *     P_u = (sum_c n_uc^2 - m) / (m (m - 1)),   P = (1/N) sum_u P_u,
 *     p_c = (1/(N m)) sum_u n_uc,               P_e = sum_c p_c^2
 *
 * (Fleiss 1971).  HITL_EINVAL when items carry different numbers of ratings
 * (the message names an item and both counts; use Krippendorff's alpha for
 * such data) or only one each; HITL_ESTATE when every rating is in one class
 * (P_e = 1). */
HITL_API int hitl_agreement_fleiss_kappa(double *kappa, const uint64_t *item,
                                         const uint64_t *rater,
                                         const int32_t *label, size_t n,
                                         size_t n_classes);

/* hitl_agreement_fleiss_kappa_counts: the same from a table, the form of
 * Fleiss' paper: counts is n_items x n_classes, row-major, counts[u][c] =
 * n_uc.  Every row must sum to the same m >= 2 (else HITL_EINVAL naming the
 * row).  Memory O(n_classes); time O(n_items n_classes). */
HITL_API int hitl_agreement_fleiss_kappa_counts(double *kappa,
                                                const uint32_t *counts,
                                                size_t n_items,
                                                size_t n_classes);

/* hitl_agreement_krippendorff_alpha: Krippendorff's alpha for nominal data,
 * any number of raters per item, missing ratings allowed.  Only "pairable"
 * items, those with m_u >= 2 ratings, count; the others are ignored.  With
 * n = sum of m_u over pairable items and n_c the pairable ratings in class c,
 *
 *     alpha = 1 - D_o / D_e,
 *     D_o = (1/n) sum_u (m_u^2 - sum_c n_uc^2) / (m_u - 1),
 *     D_e = (n^2 - sum_c n_c^2) / (n (n - 1))
 *
 * which is Krippendorff's coincidence-matrix form with the nominal metric
 * (Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011).  alpha
 * is 1 for perfect agreement, 0 at chance level.  HITL_ESTATE when no item
 * has two ratings, or when every pairable rating is in one class (D_e = 0). */
HITL_API int hitl_agreement_krippendorff_alpha(double *alpha,
                                               const uint64_t *item,
                                               const uint64_t *rater,
                                               const int32_t *label, size_t n,
                                               size_t n_classes);

/* hitl_agreement_accuracy: how often each of n_annotators annotators matches
 * a reference labelling (gold answers, or a consensus such as a majority
 * vote).  The reference is ref_label[g] for item ref_item[g], g < n_ref; the
 * ratings are (item, rater, label) as above.  For annotator annotators[a]:
 *
 *     accuracy[a] = #{their ratings on reference items equal to the
 *                    reference} / n_scored[a],
 *     n_scored[a] = #{their ratings on reference items}
 *
 * and accuracy[a] is NaN when n_scored[a] is 0.  Ratings of other raters or
 * on items outside the reference are ignored.  accuracy and n_scored (which
 * may be NULL) have n_annotators entries and are written only on success.
 * HITL_EINVAL also when n_annotators or n_ref is 0, an annotator or a
 * reference item is listed twice, or a ref_label is out of range.  Memory
 * O(n + n_ref + n_annotators); time O((n + n_ref + n_annotators) log). */
HITL_API int hitl_agreement_accuracy(double *accuracy, size_t *n_scored,
                                     const uint64_t *annotators,
                                     size_t n_annotators,
                                     const uint64_t *item,
                                     const uint64_t *rater,
                                     const int32_t *label, size_t n,
                                     const uint64_t *ref_item,
                                     const int32_t *ref_label, size_t n_ref,
                                     size_t n_classes);

/* ------------------------------------------------------------------------- */
/* Routing: the model decides when it is sure, a person otherwise             */
/* ------------------------------------------------------------------------- */

/* Human on the loop: a model decides alone when it is confident and hands
 * the rest to a person.  A router holds the decision rule for a model with
 * n_classes classes:
 *
 *   - For an item with class probabilities p (a row that sums to 1), the
 *     predicted label is argmax_c p_c (the lowest class on ties) and the
 *     confidence is the top probability after temperature scaling,
 *         conf = max_c q_c,   q = softmax(log p / T),  i.e.
 *         q_c = p_c^(1/T) / sum_j p_j^(1/T),
 *     with a probability of 0 read as the smallest positive float (1.4e-45)
 *     so its log stays finite.  T = HITL_PARAM_ROUTE_TEMPERATURE (default 1:
 *     conf = max p).  Scaling never changes the predicted label.
 *   - The item is ACCEPTED (the predicted label stands) when conf >=
 *     HITL_PARAM_ROUTE_THRESHOLD, and goes to REVIEW by a person otherwise.
 *     Confidences are computed and compared in double precision.  A new
 *     router's threshold is +Inf: everything goes to review until the
 *     threshold is calibrated or set.
 *
 * Calibration (hitl_router_calibrate) picks the threshold on a labeled set
 * of n items with confidences conf_i and "correct" meaning predicted label =
 * true label.  For a threshold t let k(t) = #{i : conf_i >= t} and s(t) the
 * correct items among them.  t meets the target precision P =
 * HITL_PARAM_ROUTE_TARGET at level L = HITL_PARAM_ROUTE_LEVEL when
 *
 *     k(t) >= 1,  s(t)/k(t) >= P,  and, if L > 0,
 *     Pr[ Binomial(k(t), P) >= s(t) ] <= 1 - L,
 *
 * i.e. the one-sided exact (Clopper-Pearson) lower confidence bound at level
 * L on the precision of the accepted items is >= P.  The threshold becomes
 * the SMALLEST observed confidence conf_i that meets the target (so the most
 * items are accepted), and +Inf (review everything, TARGET_MET = 0) when no
 * observed confidence meets it.  With L = 0 the rule is the plain "smallest
 * t with precision >= P", which on new data often falls short of P (the
 * smallest passing t is where the estimate is luckiest); L > 0 buys a
 * margin for sampling error: e.g. with P = 0.99 and
 * L = 0.95 at least 299 accepted items are needed even when all are right
 * (0.99^299 < 0.05), and P = 1 can then never be met.  The bound holds for
 * one fixed threshold; choosing the smallest of many makes it approximate,
 * so check the figures on held-out data with hitl_router_evaluate.
 *
 * Small samples.  When no threshold can be certified the router does not
 * stay silent: the report's NEEDED says how many more correct accepted
 * items the best observed threshold would need (0 when one is certified;
 * e.g. 99 for 200 correct items at P = 0.99, L = 0.95), and with
 * HITL_PARAM_ROUTE_FALLBACK = 1 calibration uses the point-estimate
 * threshold (the rule at L = 0) instead of +Inf and reports POINT_ESTIMATE
 * = 1, TARGET_MET = 0: for callers who accept that the precision is only
 * estimated.  (LEVEL = 0 asks for the point estimate always.)
 *
 * Scores, costs and modes.  The rule above compares a SCORE in [0, 1] with
 * the threshold: by default the confidence; HITL_PARAM_ROUTE_SCORE picks
 * the cost-scaled expected cost or the learned detector instead (see
 * hitl_route_score), HITL_PARAM_ROUTE_DECISION the label (most probable or
 * least expected cost under hitl_router_set_costs' matrix), and
 * HITL_PARAM_ROUTE_MODE whether a batch is cut by the threshold alone, by a
 * reviewer capacity, or by a cost budget (see hitl_route_mode for the
 * guarantee of each).  A batch is the rows of one route call (or the range
 * of one route_pool call), or the labeled set of calibrate/evaluate, whose
 * report then counts the batch's decisions.  Calibration always sets the
 * threshold by the precision rule, on the chosen score, whatever the mode.
 *
 * Temperature scaling (hitl_router_fit_temperature) sets T to the minimiser
 * of the mean negative log-likelihood -(1/n) sum_i log q_{i,y_i} on a
 * labeled set, so that "90% confident" means right about 90% of the time
 * (Guo et al. 2017).  The NLL is convex in 1/T; it is minimised by a
 * safeguarded Newton iteration on 1/T over T in [0.01, 100], stopping when
 * the derivative's mean magnitude is <= 1e-9, the bracket is narrower than
 * 1e-12 (relative), or after 100 steps; a minimiser at an end of the
 * interval is returned as that end.  Fit the temperature first, then
 * calibrate the threshold (the threshold applies to scaled confidences; the
 * router does not recalibrate by itself when T changes).  Minimising the
 * NLL can raise the ECE (seen on small binary sets, on the very set T was
 * fitted on); with HITL_PARAM_ROUTE_TEMPERATURE_GUARD (default 1) such a T
 * is declined and T stays 1; the report gives ECE_RAW (T = 1), ECE_FITTED
 * (the fitted T) and TEMPERATURE_DECLINED either way.
 *
 * Every call that takes a labeled set (fit_temperature, calibrate, evaluate)
 * replaces the router's REPORT: figures on that set under the router's
 * settings after the call, read with hitl_router_get_info.  The calibration
 * error in the report is the binned expected calibration error
 *
 *     ECE = sum_b (n_b / n) |acc_b - conf_b|
 *
 * over B = HITL_PARAM_ROUTE_ECE_BINS equal bins of [0, 1] (item i in bin
 * min(floor(conf_i B), B - 1)); acc_b is the share of bin b's items
 * predicted correctly and conf_b their mean confidence.  0 is perfectly
 * calibrated; 0.05 means confidence and accuracy differ by 5 points on
 * average.
 *
 * Probability rows (the arrays forms): proba is n x n_classes, row-major;
 * every value finite and >= 0 and every row summing to 1 within 1e-3
 * (HITL_EINVAL naming the row otherwise; HITL_ENUMERIC for NaN/Inf).
 * Labels are classes 0 .. n_classes-1.
 *
 * Threads: calls that take a const router are concurrent reads; the others
 * change it.  On failure the router (settings and report) is unchanged. */

typedef struct hitl_router hitl_router;

/* Which items of a batch (the rows of one route call, or one labeled set)
 * are accepted.  Every mode uses the item's score (HITL_PARAM_ROUTE_SCORE)
 * and threshold; each gives its own guarantee: */
typedef enum hitl_route_mode {
    /* Accept when score >= threshold.  Guarantee (after calibration): the
     * accepted calibration items' precision has a one-sided exact lower
     * bound >= TARGET at LEVEL (approximate for new items: see above); the
     * review load is whatever that takes. */
    HITL_ROUTE_PRECISION = 0,
    /* Review the items with score < threshold, lowest score first, but at
     * most floor(CAPACITY n) and at most CAPACITY_ITEMS of a batch of n
     * (ties: the earlier item first); the rest is accepted.  Guarantee: the
     * reviewer load never exceeds the capacity, and the items reviewed are
     * the riskiest by the score.  The precision guarantee holds only when
     * the capacity does not bind (with threshold +Inf the capacity always
     * binds: exactly the capacity is reviewed). */
    HITL_ROUTE_CAPACITY  = 1,
    /* Accept items in order of least expected cost (ties: the earlier item
     * first) while the mean expected cost of the accepted items stays <=
     * COST_BUDGET; the threshold is not used.  Guarantee: by the model's
     * (temperature-scaled) probabilities, the expected cost per accepted
     * item is <= the budget (with 0/1 costs: the expected error rate of the
     * accepted items); it holds for the true cost only as far as the
     * probabilities are calibrated. */
    HITL_ROUTE_BUDGET    = 2
} hitl_route_mode;

/* The score a router ranks items by; higher is safer to accept, in [0, 1]. */
typedef enum hitl_route_score {
    HITL_ROUTE_SCORE_CONFIDENCE = 0, /* q of the decided label (for the most
                                        probable class: conf above) */
    HITL_ROUTE_SCORE_COST       = 1, /* 1 - E / Cmax: E the expected cost of
                                        accepting the decided label,
                                        sum_y q_y C[y][label], Cmax the
                                        largest cost (1 when all are 0); with
                                        0/1 costs it ranks like CONFIDENCE */
    HITL_ROUTE_SCORE_DETECTOR   = 2  /* 1 - the learned detector's
                                        probability that the model is wrong
                                        (hitl_router_fit_detector); CONFIDENCE
                                        while the router has no detector */
} hitl_route_score;

/* The label the router proposes for an item. */
typedef enum hitl_route_decision {
    HITL_ROUTE_DECIDE_PROBABLE = 0, /* argmax_c p_c */
    HITL_ROUTE_DECIDE_COST     = 1  /* argmin_c sum_y q_y C[y][c], the least
                                       expected cost (lowest class on ties) */
} hitl_route_decision;

/* Figures of the router's report (hitl_router_get_info).  "Accepted" and
 * "errors" are counted on the last labeled set at the router's threshold;
 * an error is an item whose predicted label is not its true label. */
typedef enum hitl_router_info {
    HITL_ROUTER_INFO_N                  = 1,  /* items in the set */
    HITL_ROUTER_INFO_N_ACCEPTED         = 2,  /* items with conf >= threshold */
    HITL_ROUTER_INFO_N_ERRORS           = 3,  /* the model's errors */
    HITL_ROUTER_INFO_N_ERRORS_ACCEPTED  = 4,  /* errors that were accepted */
    HITL_ROUTER_INFO_REVIEW_RATE        = 5,  /* (N - N_ACCEPTED) / N */
    HITL_ROUTER_INFO_ERRORS_CAUGHT      = 6,  /* share of the errors sent to
                                                 review: (N_ERRORS -
                                                 N_ERRORS_ACCEPTED) / N_ERRORS;
                                                 1 when there is no error */
    HITL_ROUTER_INFO_PRECISION          = 7,  /* auto-accept precision:
                                                 correct accepted / N_ACCEPTED;
                                                 1 when nothing is accepted */
    HITL_ROUTER_INFO_PRECISION_LOWER    = 8,  /* its one-sided Clopper-Pearson
                                                 lower bound at LEVEL (equals
                                                 PRECISION when LEVEL is 0) */
    HITL_ROUTER_INFO_ACCURACY           = 9,  /* (N - N_ERRORS) / N */
    HITL_ROUTER_INFO_TARGET_MET         = 10, /* 1 if the accepted items meet
                                                 the target by the rule above,
                                                 else 0 */
    HITL_ROUTER_INFO_NLL_RAW            = 11, /* mean NLL at T = 1 */
    HITL_ROUTER_INFO_NLL                = 12, /* mean NLL at the router's T */
    HITL_ROUTER_INFO_ECE_RAW            = 13, /* ECE at T = 1 */
    HITL_ROUTER_INFO_ECE                = 14, /* ECE at the router's T */
    HITL_ROUTER_INFO_FIT_ITERATIONS     = 15, /* passes over the set made by
                                                 the last fit_temperature
                                                 (0 for calibrate, evaluate) */
    HITL_ROUTER_INFO_NEEDED             = 16, /* how many more correct
                                                 accepted items would meet the
                                                 target at LEVEL: 0 when met;
                                                 after calibrate, the fewest
                                                 over every observed
                                                 threshold; +Inf if none would
                                                 (TARGET 1 at LEVEL > 0) */
    HITL_ROUTER_INFO_POINT_ESTIMATE     = 17, /* 1 if calibrate certified no
                                                 threshold and FALLBACK set the
                                                 point estimate's */
    HITL_ROUTER_INFO_TEMPERATURE_FITTED = 18, /* T the last fit_temperature
                                                 found (kept or declined); else
                                                 the router's T */
    HITL_ROUTER_INFO_ECE_FITTED         = 19, /* ECE at that T on the set */
    HITL_ROUTER_INFO_TEMPERATURE_DECLINED = 20, /* 1 if the guard declined it:
                                                 ECE_FITTED > ECE_RAW */
    HITL_ROUTER_INFO_COST               = 21, /* sum of C[y][label] over the
                                                 set: what the errors cost */
    HITL_ROUTER_INFO_COST_ACCEPTED      = 22, /* the same over accepted items */
    HITL_ROUTER_INFO_COST_CAUGHT        = 23, /* (COST - COST_ACCEPTED) /
                                                 COST; 1 when COST is 0 */
    HITL_ROUTER_INFO_EXPECTED_COST_ACCEPTED = 24, /* mean expected cost of the
                                                 accepted items (0 if none) */
    HITL_ROUTER_INFO_DETECTOR_USED      = 25, /* 1 if the set was scored by
                                                 the detector */
    /* The detector's figures: readable before any labeled set. */
    HITL_ROUTER_INFO_DETECTOR_ACTIVE    = 26, /* 1 if the router has one */
    HITL_ROUTER_INFO_DETECTOR_ITEMS     = 27, /* reviewed items of the last
                                                 hitl_router_fit_detector */
    HITL_ROUTER_INFO_DETECTOR_ERRORS    = 28  /* model errors among them */
} hitl_router_info;

/* hitl_router_create: a router for models with n_classes classes, with the
 * default parameters (threshold +Inf, target 0.99, level 0.95, T = 1, 15
 * ECE bins) and no report.
 * Returns HITL_OK; HITL_EINVAL (NULL out, n_classes < 2 or > 65536);
 * HITL_ENOMEM.  Free with hitl_router_free(). */
HITL_API int hitl_router_create(hitl_router **out, size_t n_classes);

/* hitl_router_free: release the router.  Accepts NULL. */
HITL_API void hitl_router_free(hitl_router *router);

/* hitl_router_set_param / hitl_router_get_param: set or read a parameter of
 * the router (see hitl_param, 55x values).  Setting a parameter changes
 * neither the other parameters nor the report.
 * Returns HITL_OK; HITL_EINVAL (NULL, a parameter of another handle kind,
 * NaN or a value out of the stated range). */
HITL_API int hitl_router_set_param(hitl_router *router, hitl_param param,
                                   double value);
HITL_API int hitl_router_get_param(double *value, const hitl_router *router,
                                   hitl_param param);

/* hitl_router_get_info: one figure of the report (see hitl_router_info).
 * Returns HITL_OK; HITL_EINVAL (NULL, unknown info); HITL_ESTATE (no labeled
 * set has been given yet).  Concurrent reads. */
HITL_API int hitl_router_get_info(double *value, const hitl_router *router,
                                  hitl_router_info info);

/* hitl_router_fit_temperature: fit T on n labeled rows (proba, labels: see
 * above; borrowed for the call) and set HITL_PARAM_ROUTE_TEMPERATURE to it;
 * the threshold is kept.  The report gives the NLL and ECE before (RAW) and
 * after scaling.  Time O(n n_classes) per pass, usually under 15 passes.
 * Returns HITL_OK; HITL_EINVAL (NULL router/proba/labels, n 0 or an n whose
 * rows could not fit in memory, a label or a row out of range);
 * HITL_ENUMERIC (NaN/Inf in proba, or the fit produced one); HITL_ENOMEM. */
HITL_API int hitl_router_fit_temperature(hitl_router *router,
                                         const float *proba,
                                         const int32_t *labels, size_t n);

/* hitl_router_calibrate: set HITL_PARAM_ROUTE_THRESHOLD by the calibration
 * rule above from n labeled rows (borrowed for the call), at the router's
 * temperature, target and level.  Reaching no threshold is not an error:
 * the threshold becomes +Inf and TARGET_MET 0.  The report gives review
 * rate, errors caught and precision on this set at the new threshold (an
 * optimistic view: check them on held-out data with hitl_router_evaluate).
 * Memory O(n); time O(n n_classes + n log n) plus the bound's evaluations
 * (O(sqrt(n)) each, only where the point estimate meets the target).
 * Returns as hitl_router_fit_temperature. */
HITL_API int hitl_router_calibrate(hitl_router *router, const float *proba,
                                   const int32_t *labels, size_t n);

/* hitl_router_evaluate: only replace the report with the figures of n
 * labeled rows at the router's current threshold and temperature, e.g. on a
 * held-out set after calibrating.  TARGET_MET says whether the accepted
 * items of this set meet the target by the calibration rule.
 * Returns as hitl_router_fit_temperature. */
HITL_API int hitl_router_evaluate(hitl_router *router, const float *proba,
                                  const int32_t *labels, size_t n);

/* hitl_router_route: decide n items from their probability rows.  Writes,
 * to each non-NULL output of n entries: accept[i] 1 (accepted) or 0
 * (review), by the router's mode with the n rows as one batch; label[i] the
 * decided label (the pre-annotation to show the person when the item goes
 * to review); confidence[i] the item's score (the scaled confidence unless
 * HITL_PARAM_ROUTE_SCORE says otherwise; rounded to float, the decision
 * used the double).  *n_accepted (may be
 * NULL) is the number accepted.  Outputs are written only on success.
 * Returns HITL_OK (also for n 0, proba may then be NULL); HITL_EINVAL (NULL
 * router or proba, a row out of range, an n whose rows could not fit in
 * memory, the DETECTOR score with a fitted detector: it needs feature rows,
 * use hitl_router_route_pool); HITL_ENUMERIC (NaN/Inf in proba);
 * HITL_ENOMEM (the CAPACITY and BUDGET modes sort the batch).
 * Concurrent reads. */
HITL_API int hitl_router_route(size_t *n_accepted, uint8_t *accept,
                               int32_t *label, float *confidence,
                               const hitl_router *router, const float *proba,
                               size_t n);

/* Fit the temperature, calibrate or evaluate on pool items: the labeled set
 * is the pool's LABELED items among items first .. first+n-1, scored with
 * hitl_model_predict (any model kind; the model and pool are only read).  Use
 * items the model was NOT fitted on (e.g. a held-out block of the pool): on
 * its own training items a model looks more accurate and confident than it
 * is, and the threshold would be too low.  Memory: the labeled items'
 * probabilities (count x n_classes floats).  Same returns as the array
 * forms, plus HITL_EINVAL (NULL model or pool, model classes != router
 * classes, model dim != pool dim, the range leaves the pool, a label >=
 * n_classes: the message names the item);
 * HITL_ESTATE (no LABELED item in the range, or the model is not fitted);
 * HITL_ECALLBACK (a custom model's callback failed). */
HITL_API int hitl_router_fit_temperature_pool(hitl_router *router,
                                              const hitl_model *model,
                                              const hitl_pool *pool,
                                              size_t first, size_t n);
HITL_API int hitl_router_calibrate_pool(hitl_router *router,
                                        const hitl_model *model,
                                        const hitl_pool *pool, size_t first,
                                        size_t n);
HITL_API int hitl_router_evaluate_pool(hitl_router *router,
                                       const hitl_model *model,
                                       const hitl_pool *pool, size_t first,
                                       size_t n);

/* hitl_router_route_pool: hitl_router_route for every item first ..
 * first+n-1 of the pool (whatever its state), output i describing item
 * first+i.  Streams the pool through the model's scorer in blocks, so extra
 * memory is O(block x n_classes) per scoring thread; the model and pool are
 * only read.
 * The CAPACITY and BUDGET modes take the range as one batch and keep two
 * doubles per item.
 * Returns HITL_OK; HITL_EINVAL (NULL router/model/pool, classes or dims
 * differ, the range leaves the pool); HITL_ESTATE (model not fitted);
 * HITL_ECALLBACK; HITL_ENOMEM.  On failure the outputs may be partly
 * written and *n_accepted is not.  Concurrent reads (of router, model and
 * pool). */
HITL_API int hitl_router_route_pool(size_t *n_accepted, uint8_t *accept,
                                    int32_t *label, float *confidence,
                                    const hitl_router *router,
                                    const hitl_model *model,
                                    const hitl_pool *pool, size_t first,
                                    size_t n);

/* hitl_router_set_costs: the cost matrix C[true][predicted] (rows x cols,
 * row-major, copied), which must be n_classes x n_classes of finite values
 * >= 0; NULL restores the default (0 on the diagonal, 1 elsewhere).  Costs
 * enter the expected cost of accepting a label (sum_y q_y C[y][label], q the
 * temperature-scaled probabilities), the COST score, the COST decision, the
 * BUDGET mode and the report's COST figures.
 * Returns HITL_OK; HITL_EINVAL (NULL router, a shape other than n_classes x
 * n_classes, a negative cost: the message names the entry); HITL_ENUMERIC
 * (NaN or Inf: the message names the entry); HITL_ENOMEM.  On failure the
 * costs are unchanged. */
HITL_API int hitl_router_set_costs(hitl_router *router, const double *costs,
                                   size_t rows, size_t cols);

/* hitl_router_get_costs: copy the n_classes x n_classes cost matrix into
 * costs (the 0/1 default when none was set).
 * Returns HITL_OK; HITL_EINVAL (NULL).  Concurrent reads. */
HITL_API int hitl_router_get_costs(double *costs, const hitl_router *router);

/* hitl_router_set_committee: a committee (fitted, n_classes classes) whose
 * doubt about the model's label is a feature of the detector: used by the
 * next hitl_router_fit_detector, and needed (the same one, or one like it)
 * wherever that detector scores; NULL drops it.  Borrowed: it must stay
 * valid while the router may use it.  The _pool forms then compute the
 * committee's consensus of their range first (range x n_classes floats).
 * Returns HITL_OK; HITL_EINVAL (NULL router, classes differ). */
HITL_API int hitl_router_set_committee(hitl_router *router,
                                       const hitl_committee *committee);

/* hitl_router_fit_detector: learn where the model errs from reviewed items:
 * the LABELED items among pool items first .. first+n-1 (use items the model
 * was not fitted on), "wrong" meaning argmax p != label.  Features of an
 * item: its top probability, margin and entropy under the model; log(1 +
 * distance) to the nearest LABELED pool item outside the range, log(1 + mean
 * distance) to its DETECTOR_NEIGHBOURS nearest (low where labels are dense)
 * and the share of those labeled with the predicted class; with a committee
 * (hitl_router_set_committee), 1 - its consensus probability of the
 * predicted class (its disagreement with the model); the predicted
 * class (as indicators, up to 64 classes, and only when the errors number
 * at least DETECTOR_EVENTS per feature, indicators included: logistic
 * regression with few errors per feature overfits).  The LABELED items outside the
 * range at the time of the call are copied as the detector's reference
 * (memory: their rows).  Features are standardised; the items are dealt
 * into DETECTOR_FOLDS folds round-robin in hashed-id order (a fold depends
 * on the ids only)
 * and, per fold, a built-in logistic regression (L2 1) of wrong on the
 * features is fitted on the other folds (cross-fitting).  The detector's
 * P(wrong) of an item is the mean of the fold models, except that an item
 * whose pool id is a reviewed item's is scored only by the model of its
 * own fold, which never saw it: routing or calibrating on the reviewed
 * items themselves is honest.  With fewer than DETECTOR_MIN reviewed items,
 * fewer than DETECTOR_EVENTS errors per base feature (6 of them), or fewer
 * errors or correct items than folds, no detector is kept (the
 * previous one is dropped) and the DETECTOR score falls back to the
 * confidence; read DETECTOR_ACTIVE.  With a detector and the DETECTOR score,
 * only the _pool forms can route, calibrate or evaluate (the array forms
 * have no feature rows and return HITL_EINVAL), and a detector fitted with
 * a committee needs one set (HITL_EINVAL otherwise).  Time O(n n_ref dim) for
 * the neighbours plus the fits; routing an item costs O(n_ref dim).
 * Returns as hitl_router_calibrate_pool.  On failure the router is
 * unchanged. */
HITL_API int hitl_router_fit_detector(hitl_router *router,
                                      const hitl_model *model,
                                      const hitl_pool *pool, size_t first,
                                      size_t n);

/* ------------------------------------------------------------------------- */
/* Stream selection: ask about items as they arrive, within a budget          */
/* ------------------------------------------------------------------------- */

/* A hitl_stream decides, item by item in arrival order, whether a person is
 * asked about the item, so that about a share b = HITL_PARAM_STREAM_BUDGET
 * of the items is asked.  Decisions depend on the items seen before, never
 * on later ones: deciding n items in one call or in n calls gives the same
 * answers.  Every rule reads an item's class probabilities p through its
 * confidence c = max p (and IWAL its margin m = p1 - p2, the two largest).
 *
 * Budget (Zliobaite, Bifet, Pfahringer & Holmes, "Active learning with
 * drifting streaming data", IEEE TNNLS 25(1), 2014).  The spending
 *     u_t = u_{t-1} (w - 1)/w + a_t     (a_t = 1 if item t is asked, u_0 = 0)
 * estimates the labels asked in the last w = HITL_PARAM_STREAM_WINDOW
 * items; the rules below marked [budget] ask about item t only while
 * u_{t-1}/w < b, and otherwise leave their state as it is (draw nothing).
 *   RANDOM                 [budget] ask with probability b.
 *   FIXED_UNCERTAINTY      [budget] ask when c < theta
 *                          (HITL_PARAM_STREAM_THRESHOLD; by default 1/K +
 *                          b (1 - 1/K)).  Asks less than b when few items
 *                          are that uncertain.
 *   VARIABLE_UNCERTAINTY   [budget] ask when c < theta_t; then theta_t+1 =
 *                          theta_t (1 - s), else theta_t (1 + s); theta_0 = 1,
 *                          s = HITL_PARAM_STREAM_STEP.
 *   RANDOMIZED_UNCERTAINTY [budget] as VARIABLE, comparing c with theta_t
 *                          eta, eta ~ Normal(1, delta), delta =
 *                          HITL_PARAM_STREAM_DELTA.
 *   SPLIT                  [budget] with probability nu
 *                          (HITL_PARAM_STREAM_SPLIT) the item is a RANDOM
 *                          one (asked with probability b), otherwise it is
 *                          decided by VARIABLE_UNCERTAINTY.
 * Balanced incremental quantile filter (Kottke, Krempl & Spiliopoulou,
 * "Probabilistic active learning in datastreams", IDA 2015):
 *   QUANTILE_FILTER        the utility 1 - c joins a window of the last w
 *                          utilities; theta = their (1 - b) quantile (linear
 *                          interpolation between order statistics);
 *                          ask when 1 - c >= theta - R (b t - asked) / w_tol,
 *                          R the window's range, t the items seen (this one
 *                          included), asked those asked before it, w_tol =
 *                          HITL_PARAM_STREAM_TOLERANCE.
 * Importance-weighted active learning (Beygelzimer, Dasgupta & Langford,
 * ICML 2009; the rule of Vowpal Wabbit's --active):
 *   IWAL                   with k the items seen before this one: p = 1
 *                          while k <= 1; else with L = min(1, max(0, S/k +
 *                          sqrt((1 + ln(k)/2) / (Q + 1e-4)))), beta = c0
 *                          (ln(k + 1) + 1e-4)/(k + 1e-4), g = m and r =
 *                          sqrt(L) + sqrt(L + g): p = 1 when g <= sqrt(beta)
 *                          r + beta, else p = beta ((r + sqrt(r^2 + 4 g)) /
 *                          (2 g))^2.  Ask with probability p; an asked item's
 *                          weight is 1/p, Q is the sum of those weights and S
 *                          the weighted losses reported by
 *                          hitl_stream_add_loss; c0 =
 *                          HITL_PARAM_STREAM_MELLOWNESS (VW's
 *                          --mellowness).  g is the margin, where VW uses the
 *                          importance weight that would flip a binary
 *                          prediction over k.  IWAL does not follow b: it
 *                          asks less as k grows (p is about c0 ln(k) /
 *                          (k m) for an item of large margin m); its weights
 *                          keep the fit unbiased.
 * An asked item enters the fit with its weight (1 except for IWAL) as its
 * pool weight: hitl_stream_decide_pool sets it, otherwise pass it to
 * hitl_pool_set_weight.
 *
 * Randomness: one generator (splitmix64) seeded by HITL_PARAM_STREAM_SEED
 * when the stream is created or the seed is set; a draw is a 53-bit uniform
 * in [0, 1), a normal draw takes two (Box-Muller).  The state is a few
 * numbers (counts, u_t, theta, the generator, IWAL's sums) plus, for
 * QUANTILE_FILTER, the window of w utilities; it is saved and restored
 * exactly, so a restored stream decides as the original would.
 *
 * Cost: O(1) per item (QUANTILE_FILTER O(w), a sorted window) besides the
 * scoring; no allocation per item.  Threads: the decide calls and
 * hitl_stream_add_loss change the stream; the other calls on a const
 * stream are concurrent reads. */

typedef struct hitl_stream hitl_stream;

typedef enum hitl_stream_kind {
    HITL_STREAM_RANDOM                 = 1,
    HITL_STREAM_FIXED_UNCERTAINTY      = 2,
    HITL_STREAM_VARIABLE_UNCERTAINTY   = 3,
    HITL_STREAM_RANDOMIZED_UNCERTAINTY = 4,
    HITL_STREAM_SPLIT                  = 5,
    HITL_STREAM_QUANTILE_FILTER        = 6,
    HITL_STREAM_IWAL                   = 7
} hitl_stream_kind;

/* Figures of a stream (hitl_stream_get_info). */
typedef enum hitl_stream_info {
    HITL_STREAM_INFO_SEEN       = 1, /* items decided so far */
    HITL_STREAM_INFO_ASKED      = 2, /* of them asked about */
    HITL_STREAM_INFO_RATE       = 3, /* ASKED / SEEN (0 before any item) */
    HITL_STREAM_INFO_SPENDING   = 4, /* u_t / w */
    HITL_STREAM_INFO_THRESHOLD  = 5, /* the threshold the last item met or
                                        missed: theta (FIXED, VARIABLE and
                                        the variable part of SPLIT), the
                                        balanced theta (QUANTILE_FILTER),
                                        p (IWAL); 0 for RANDOM */
    HITL_STREAM_INFO_WEIGHT_SUM = 6  /* the sum of asked items' weights */
} hitl_stream_info;

/* hitl_stream_create: a stream of the given kind with the default
 * parameters, having seen nothing.
 * Returns HITL_OK; HITL_EINVAL (NULL out, unknown kind); HITL_ENOMEM.
 * Free with hitl_stream_free(). */
HITL_API int hitl_stream_create(hitl_stream **out, hitl_stream_kind kind);

/* hitl_stream_free: release the stream.  Accepts NULL. */
HITL_API void hitl_stream_free(hitl_stream *stream);

/* hitl_stream_set_param / hitl_stream_get_param: set or read a parameter
 * (see hitl_param, 60x values).  Parameters may change between decisions,
 * except HITL_PARAM_STREAM_WINDOW once an item has been decided (its
 * window would lose its meaning: HITL_ESTATE).  Setting the seed restarts
 * the generator.
 * Returns HITL_OK; HITL_EINVAL (NULL, a parameter of another handle kind,
 * NaN or a value out of range); HITL_ESTATE. */
HITL_API int hitl_stream_set_param(hitl_stream *stream, hitl_param param,
                                   double value);
HITL_API int hitl_stream_get_param(double *value, const hitl_stream *stream,
                                   hitl_param param);

/* hitl_stream_get_info: a figure of the stream (see hitl_stream_info).
 * Returns HITL_OK; HITL_EINVAL (NULL, unknown info).  Concurrent reads. */
HITL_API int hitl_stream_get_info(double *value, const hitl_stream *stream,
                                  hitl_stream_info info);

/* hitl_stream_decide: decide n arriving items, in order, from their class
 * probabilities (proba: n x n_classes, row-major, borrowed for the call;
 * every value finite and in [0, 1]).  Writes ask[i] 1 (ask a person) or 0,
 * and, if weight is not NULL, weight[i] = the asked item's weight (0 when
 * not asked); *n_asked (may be NULL) = the items asked.
 * Returns HITL_OK (n 0 included; proba, ask may then be NULL); HITL_EINVAL
 * (NULL stream, proba or ask, n_classes < 2 or > 65536, a value outside
 * [0, 1]: the message names row and class); HITL_ENUMERIC (NaN or Inf).
 * On failure nothing is written and the stream is unchanged. */
HITL_API int hitl_stream_decide(size_t *n_asked, uint8_t *ask, float *weight,
                                hitl_stream *stream, const float *proba,
                                size_t n, size_t n_classes);

/* hitl_stream_decide_rows: score n caller rows (row i at X + i*stride,
 * stride >= dim; borrowed for the call) with the model on the calling
 * thread, then decide them as hitl_stream_decide.  While the model is not
 * fitted every item has p uniform (c = 1/K): the first items are decided
 * before any model exists.  The built-in model is scored in blocks of 256
 * rows by the library's kernel; a custom model's predict callback is
 * called once per block.  Extra memory O(n) plus one block.
 * Returns HITL_OK; HITL_EINVAL (NULL stream, model, X or ask with n > 0,
 * stride < dim); HITL_ENUMERIC (NaN/Inf in X: the message names row and
 * column; logits beyond float32); HITL_ECALLBACK; HITL_ENOMEM.  On failure
 * nothing is written and the stream is unchanged. */
HITL_API int hitl_stream_decide_rows(size_t *n_asked, uint8_t *ask,
                                     float *weight, hitl_stream *stream,
                                     const hitl_model *model, const float *X,
                                     size_t n, size_t stride);

/* hitl_stream_decide_pool: decide pool items first .. first+n-1 (newly
 * arrived items, whatever their state), scored through the model's
 * streaming scorer (its HITL_PARAM_THREADS threads), as
 * hitl_stream_decide_rows; then set each asked item's pool weight to its
 * weight (hitl_pool_set_weight), so that it enters the next fit with it.
 * ask may be NULL.  Returns as hitl_stream_decide_rows, plus HITL_EINVAL
 * (NULL pool, model dim != pool dim, the range leaves the pool). */
HITL_API int hitl_stream_decide_pool(size_t *n_asked, uint8_t *ask,
                                     hitl_stream *stream,
                                     const hitl_model *model, hitl_pool *pool,
                                     size_t first, size_t n);

/* hitl_stream_add_loss: report the loss (in [0, 1], e.g. 1 if the model
 * was wrong) of an asked item whose label came in, with its weight (> 0,
 * finite): IWAL's S grows by loss x weight.  The other kinds keep the sum
 * and do not use it.
 * Returns HITL_OK; HITL_EINVAL (NULL, loss or weight out of range). */
HITL_API int hitl_stream_add_loss(hitl_stream *stream, double loss,
                                  double weight);

/* Saving and restoring a stream: its kind, parameters and whole state in a
 * versioned little-endian record with a CRC-32, like a model's.
 * hitl_stream_save_size: the exact bytes hitl_stream_save writes.
 * hitl_stream_save: write to buf (capacity bytes); *written = the size.
 *   Returns HITL_OK; HITL_EINVAL (NULL, capacity too small).
 * hitl_stream_load: a new stream from size bytes at buf (copied); it
 *   decides as the saved one would have.
 *   Returns HITL_OK; HITL_EINVAL (NULL); HITL_EFORMAT (bad magic, version,
 *   checksum, length or contents); HITL_ENOMEM.
 * The save functions are concurrent reads. */
HITL_API int hitl_stream_save_size(size_t *size, const hitl_stream *stream);
HITL_API int hitl_stream_save(size_t *written, void *buf, size_t capacity,
                              const hitl_stream *stream);
HITL_API int hitl_stream_load(hitl_stream **out, const void *buf, size_t size);

/* ------------------------------------------------------------------------- */
/* Stopping: when more labels stop paying                                      */
/* ------------------------------------------------------------------------- */

/* A hitl_stopper watches the rounds of the loop (fit, query, label, fit
 * again) and says, for each criterion, the first round at which it would
 * have stopped the labeling.  Round r is the r-th call of
 * hitl_stopper_update (or hitl_stopper_observe).  The criteria read the
 * model's predictions on a STOP SET: HITL_PARAM_STOP_SET_SIZE items drawn
 * once, uniformly (seeded by HITL_PARAM_STOP_SEED) from the pool's
 * UNLABELED items at the first update (all of them if fewer; all items if
 * none is unlabeled), whose rows are copied then and scored each round with
 * hitl_model_predict.  "Active" stop-set items are those still unlabeled
 * in the round; H(p) = -sum p log p is the entropy (natural log) of an
 * item's probabilities and y_r its predicted label (argmax, ties to the
 * lower class) under round r's model.
 *
 *   STABILIZING_PREDICTIONS  (Bloodgood & Vijay-Shanker, "A method for
 *       stopping active learning based on stabilizing predictions and the
 *       need for user-adjustable stopping", CoNLL 2009.)  kappa_r = Cohen's
 *       kappa between y_{r-1} and y_r over the whole stop set (1 when the
 *       two agree on every item); fires at round r when the mean of the
 *       last w = HITL_PARAM_STOP_WINDOW kappas (r - 1 >= w) is >=
 *       HITL_PARAM_STOP_KAPPA (0.99).
 *   CLASSIFICATION_CHANGE  (Zhu, Wang & Hovy, "Multi-criteria-based
 *       strategy to stop active learning for data annotation", COLING 2008,
 *       and the three below.)  Fires at round r >= 2 when no active item's
 *       predicted label changed: y_r = y_{r-1} on every one.
 *   OVERALL_UNCERTAINTY  fires when the mean of H over the active items is
 *       <= HITL_PARAM_STOP_UNCERTAINTY (0.01).
 *   MAX_CONFIDENCE  fires when the largest H over the active items (that
 *       of the item uncertainty sampling would pick next) is <=
 *       HITL_PARAM_STOP_CONFIDENCE (0.001).
 *   BUDGET  fires when the pool holds >= HITL_PARAM_STOP_BUDGET labeled
 *       items (never while it is 0).
 *   PERFORMANCE  performance convergence on a held-out labeled set (given
 *       with hitl_stopper_set_heldout): with a_r the accuracy of round r's
 *       model on it, fires at round r when w + 1 accuracies exist and
 *       max(a_{r-w+1} .. a_r) - a_{r-w} < HITL_PARAM_STOP_GAIN (0.005): the
 *       last w rounds gained less than that.  Never without a held-out set.
 * With no active item, the three criteria that read active items fire.
 * The stop set is a sample of the unlabeled pool, where Zhu et al. read the
 * whole pool: their criteria are estimated, at the cost of a stop set's
 * scoring per round instead of the pool's.
 *
 * Cost per round: the stop set's and the held-out set's scoring (O((s + h)
 * d K)) plus O(s K).  Memory: the copied rows (s + h) x d floats, two label
 * vectors of s, the kappa and accuracy histories.  Threads: update,
 * observe, set_heldout and set_param change the stopper; get_param,
 * get_info and fired are concurrent reads. */

typedef struct hitl_stopper hitl_stopper;

typedef enum hitl_stop_criterion {
    HITL_STOP_STABILIZING_PREDICTIONS = 1,
    HITL_STOP_CLASSIFICATION_CHANGE   = 2,
    HITL_STOP_OVERALL_UNCERTAINTY     = 3,
    HITL_STOP_MAX_CONFIDENCE          = 4,
    HITL_STOP_BUDGET                  = 5,
    HITL_STOP_PERFORMANCE             = 6
} hitl_stop_criterion;

/* Figures of the last round (hitl_stopper_get_info). */
typedef enum hitl_stopper_info {
    HITL_STOPPER_INFO_ROUNDS          = 1, /* rounds so far */
    HITL_STOPPER_INFO_STOP_SET        = 2, /* items of the stop set (0 before
                                              the first round) */
    HITL_STOPPER_INFO_KAPPA           = 3, /* kappa_r (NaN in round 1) */
    HITL_STOPPER_INFO_MEAN_KAPPA      = 4, /* mean of the last w (NaN while
                                              fewer) */
    HITL_STOPPER_INFO_CHANGED         = 5, /* active items whose label
                                              changed (NaN in round 1) */
    HITL_STOPPER_INFO_UNCERTAINTY     = 6, /* mean H of the active items */
    HITL_STOPPER_INFO_MAX_UNCERTAINTY = 7, /* largest H of the active items */
    HITL_STOPPER_INFO_ACCURACY        = 8, /* a_r (NaN without held-out set) */
    HITL_STOPPER_INFO_LABELED         = 9  /* labeled items in round r */
} hitl_stopper_info;

/* hitl_stopper_create: a stopper for models of n_classes classes, default
 * parameters, no round yet.
 * Returns HITL_OK; HITL_EINVAL (NULL out, n_classes < 2 or > 65536);
 * HITL_ENOMEM.  Free with hitl_stopper_free(). */
HITL_API int hitl_stopper_create(hitl_stopper **out, size_t n_classes);

/* hitl_stopper_free: release the stopper.  Accepts NULL. */
HITL_API void hitl_stopper_free(hitl_stopper *stopper);

/* hitl_stopper_set_param / hitl_stopper_get_param: a parameter (see
 * hitl_param, 65x values).  STOP_SET_SIZE and STOP_SEED cannot change once
 * the stop set exists, nor STOP_WINDOW after the first round (HITL_ESTATE);
 * the thresholds can, and then apply from the next round.
 * Returns HITL_OK; HITL_EINVAL (NULL, a parameter of another handle kind,
 * NaN or out of range); HITL_ESTATE. */
HITL_API int hitl_stopper_set_param(hitl_stopper *stopper, hitl_param param,
                                    double value);
HITL_API int hitl_stopper_get_param(double *value,
                                    const hitl_stopper *stopper,
                                    hitl_param param);

/* hitl_stopper_set_heldout: the held-out labeled set of PERFORMANCE: n
 * contiguous rows of dim floats (dim must be the model's) and labels in
 * [0, n_classes), copied.  Keep these items out of the pool the model is
 * fitted on.  Replaces an earlier set; allowed only before the first round
 * (HITL_ESTATE).
 * Returns HITL_OK; HITL_EINVAL (NULL stopper, X or labels, n or dim 0, a
 * label out of range: the message names it); HITL_ENUMERIC (NaN/Inf in X);
 * HITL_ENOMEM. */
HITL_API int hitl_stopper_set_heldout(hitl_stopper *stopper, const float *X,
                                      const int32_t *labels, size_t n,
                                      size_t dim);

/* hitl_stopper_update: one round after the model was fitted on the pool:
 * draws the stop set in the first round, scores it (and the held-out set)
 * with the model, and applies every criterion.  *fired (may be NULL) = the
 * criteria that have fired by now (this round or before), bit c - 1 for
 * criterion c.  The model and pool are only read.
 * Returns HITL_OK; HITL_EINVAL (NULL stopper, model or pool, model classes
 * != the stopper's, dims differ (also from the held-out set's), an empty
 * pool); HITL_ESTATE (model not fitted); HITL_ECALLBACK; HITL_ENOMEM.  On
 * failure the stopper is unchanged. */
HITL_API int hitl_stopper_update(unsigned *fired, hitl_stopper *stopper,
                                 const hitl_model *model,
                                 const hitl_pool *pool);

/* hitl_stopper_observe: one round from figures computed by the caller (a
 * custom loop, or recorded rounds): proba (n x n_classes, row-major: the
 * stop set's probabilities under this round's model, the same n items in
 * every round), active (n flags: still unlabeled; NULL = all), the labeled
 * count, and the held-out accuracy (NaN: none this round; PERFORMANCE then
 * skips the round).  Not to be mixed with hitl_stopper_update.
 * Returns HITL_OK; HITL_EINVAL (NULL stopper or proba, n 0, n different
 * from the first round's or from the drawn stop set, a value outside [0,
 * 1], accuracy outside [0, 1] and not NaN); HITL_ENUMERIC (NaN/Inf in
 * proba); HITL_ENOMEM.  On failure the stopper is unchanged. */
HITL_API int hitl_stopper_observe(unsigned *fired, hitl_stopper *stopper,
                                  const float *proba, const uint8_t *active,
                                  size_t n, size_t n_labeled,
                                  double accuracy);

/* hitl_stopper_fired: *round = the round at which `criterion` first fired,
 * 0 if it has not.
 * Returns HITL_OK; HITL_EINVAL (NULL, unknown criterion).  Concurrent
 * reads. */
HITL_API int hitl_stopper_fired(size_t *round, const hitl_stopper *stopper,
                                hitl_stop_criterion criterion);

/* hitl_stopper_get_info: a figure of the last round (see
 * hitl_stopper_info).
 * Returns HITL_OK; HITL_EINVAL (NULL, unknown info).  Concurrent reads. */
HITL_API int hitl_stopper_get_info(double *value, const hitl_stopper *stopper,
                                   hitl_stopper_info info);

/* ------------------------------------------------------------------------- */
/* Explanations: why the model leans one way, and what would change it        */
/* ------------------------------------------------------------------------- */

/* What a review console shows next to the model's guess.  For the built-in
 * model the class score of row x is s_c = b_c + sum_j w_cj x_j (float32, the
 * scoring copy of the fit: exactly what hitl_model_predict computes, so the
 * probabilities are softmax(s) bit for bit).  The contribution of feature j
 * to class c is w_cj x_j; for the predicted class (largest probability,
 * lowest class on ties: the router's label) and the runner-up (largest of
 * the others) the `top` contributions largest in absolute value are listed,
 * largest first (ties to the lower feature), with the intercept b_c and the
 * sum of the unlisted contributions ("the rest"), so that
 *     s_c = intercept + sum(listed) + rest
 * (the rest is s_c minus the others, in double, so the identity holds to
 * float rounding of the listed values).  One pass over each row; cost:
 * scoring plus 2 dim multiplies a row.
 * (Rows are dense here; a sparse row would list only its non-zeros.)
 *
 * hitl_model_explain: explain n caller rows (row i at X + i*stride, stride
 * >= dim).  Every output may be NULL (not computed); row i's entries are:
 *   scores    [i*K + c]         s_c (built-in model only)
 *   proba     [i*K + c]         probabilities
 *   classes   [2i], [2i+1]      predicted class, runner-up
 *   features  [(2i+r)*top + k]  k-th listed feature for r = 0 (predicted),
 *                               1 (runner-up); -1 past dim
 *   contrib   [(2i+r)*top + k]  its contribution (0 past dim)
 *   rest      [(2i+r)*2 + 0]    intercept b_c;  [(2i+r)*2 + 1] the rest
 * with K = n_classes and top in [0, min(64, dim)].  A custom model has only
 * proba and classes (the others must be NULL and top 0).
 * Returns HITL_OK (n 0 included); HITL_EINVAL (NULL model or X, stride <
 * dim, top out of range, top > 0 with features and contrib both NULL, a
 * custom model asked for scores or contributions, outputs that could not
 * fit in memory); HITL_ESTATE (not fitted); HITL_ENUMERIC (NaN/Inf in X, or
 * logits beyond float32); HITL_ECALLBACK (custom model); HITL_ENOMEM.
 * Threads: HITL_PARAM_THREADS, blocks of 256 rows.  Outputs may be partly
 * written on failure.  Concurrent reads. */
HITL_API int hitl_model_explain(float *scores, float *proba, int32_t *classes,
                                int32_t *features, float *contrib,
                                float *rest, const hitl_model *model,
                                const float *X, size_t n, size_t stride,
                                size_t top);

/* hitl_model_explain_pool: the same for pool items first .. first+n-1
 * (output row i is item first+i).  Returns as hitl_model_explain, with
 * HITL_EINVAL also for a NULL pool, a range that leaves the pool or a dim
 * that differs.  Concurrent reads (of model and pool). */
HITL_API int hitl_model_explain_pool(float *scores, float *proba,
                                     int32_t *classes, int32_t *features,
                                     float *contrib, float *rest,
                                     const hitl_model *model,
                                     const hitl_pool *pool, size_t first,
                                     size_t n, size_t top);

/* hitl_explain_proba: for any model (its probabilities, n x n_classes,
 * row-major): classes[2i] the predicted class (lowest on ties),
 * classes[2i+1] the runner-up, top2[2i], top2[2i+1] their probabilities and
 * margin[i] = their difference (each output may be NULL).
 * Returns HITL_OK; HITL_EINVAL (NULL proba with n > 0, n_classes outside
 * [2, 65536], n too large); HITL_ENUMERIC (NaN/Inf).  No state. */
HITL_API int hitl_explain_proba(int32_t *classes, float *top2, float *margin,
                                const float *proba, size_t n,
                                size_t n_classes);

/* hitl_committee_votes: the committee's vote split on n caller rows:
 * votes[i*K + c] = how many members give row i their largest probability
 * in class c (lowest class on ties); each row sums to the member count.
 * Returns HITL_OK; HITL_EINVAL (NULL, stride < dim); HITL_ESTATE (no member,
 * or one not fitted); HITL_ENUMERIC; HITL_ECALLBACK; HITL_ENOMEM.  Memory
 * O(1024 K); votes may be partly written on failure.  Concurrent reads. */
HITL_API int hitl_committee_votes(uint32_t *votes,
                                  const hitl_committee *committee,
                                  const float *X, size_t n, size_t stride);

/* Norms of a counterfactual's change (below). */
typedef enum hitl_norm {
    HITL_NORM_L1 = 1,
    HITL_NORM_L2 = 2
} hitl_norm;

/* Counterfactuals: the smallest change to a row x that makes the built-in
 * model decide class t.  With s_c the class scores of the fitted solution
 * (double) and margin mu >= 0, it solves
 *
 *     minimise   ||x' - x||   (L2: Euclidean; L1: sum of |x'_j - x_j|)
 *     subject to s_t(x') - s_c(x') >= mu   for every class c != t,
 *                lower_j <= x'_j <= upper_j  for editable features j,
 *                x'_j = x_j                   for the others.
 *
 * L2 is a small convex quadratic program, solved by dual coordinate ascent
 * (each step maximises the dual exactly in one class's multiplier; stops
 * when a sweep moves no feature by more than 1e-13 (1 + max change), at
 * most 10000 sweeps), exact to that tolerance.  L1 is solved in closed
 * form when one rival class binds (a fractional knapsack: features in
 * decreasing |w_tj - w_cj| moved to their bound), which covers two classes
 * and most items of more; when two rivals bind at once it fails with
 * HITL_ESTATE (use L2).  Use mu > 0 (e.g. 1e-3) so that the float32
 * scoring and rounding x' to float keep the new decision.
 *
 * hitl_model_counterfactual: x is dim features; editable (dim entries of 0
 * or 1, NULL: all), lower and upper (dim entries, NULL: unbounded) are
 * read on editable features only, and x must lie within them there.
 * Writes x' to x_new (dim) and its distance to *distance (may be NULL).
 * An x the model already puts in t with the margin gives x' = x.
 * Returns HITL_OK; HITL_EINVAL (NULL model/x/x_new, custom model, target
 * outside [0, n_classes), unknown norm, margin not finite or < 0, an
 * editable entry not 0 or 1, x outside its bounds); HITL_ENUMERIC (NaN/Inf
 * in x); HITL_ESTATE (not fitted; no change within the bounds reaches t; L1
 * with two binding rivals); HITL_ENOMEM.  Nothing is written on failure.
 * Memory O(n_classes dim).  Concurrent reads. */
HITL_API int hitl_model_counterfactual(float *x_new, double *distance,
                                       const hitl_model *model,
                                       const float *x, int32_t target,
                                       hitl_norm norm,
                                       const uint8_t *editable,
                                       const float *lower,
                                       const float *upper, double margin);

/* ------------------------------------------------------------------------- */
/* Bias audit: are groups of people treated differently?                      */
/* ------------------------------------------------------------------------- */

/* An audit handle holds, per item (a caller id of the pool), a group for
 * each of its attributes (any int64 but INT64_MIN, e.g. an age band or a
 * region code) and the router's decision (accepted or sent to review, and
 * the predicted label: hitl_router_route's outputs).  hitl_audit_run reads a
 * stretch of a feedback handle's events and computes, per attribute and
 * group, these proportions k/n (hitl_audit_metric):
 *
 *   SEEN         items with a decision (the value is the count n)
 *   ACCEPTED     share of them auto-accepted
 *   REVIEWED     share sent to review (1 - ACCEPTED)
 *   MODEL_ERROR  among reviewed items answered in the stretch whose label is
 *                settled (RESOLVED or GOLD, hitl_feedback_item), the share
 *                where the router's label differs from it
 *   OVERRIDE     among answer events in the stretch (not retracted) that
 *                were shown a pre-annotation, the share whose label differs
 *                from the shown one (items with a group; decision or not)
 *   AGREEMENT    among items answered in the stretch with >= 2 current
 *                labels, the share whose labels all agree
 *   CAUGHT       equal opportunity: among items with a decision, answered
 *                in the stretch, whose settled label differs from the
 *                router's (the model's errors that are known), the share
 *                that went to review
 *
 * each with a Wilson score interval at HITL_PARAM_AUDIT_LEVEL.  Known errors
 * on accepted items come from spot checks (answers or gold on accepted
 * items); without them CAUGHT is 1 wherever it is defined.
 *
 * Tests.  For every attribute, every pair of groups on ACCEPTED,
 * MODEL_ERROR, OVERRIDE, AGREEMENT and CAUGHT is compared by the pooled
 * two-proportion z test (two-sided; Fleiss, Levin & Paik, "Statistical
 * Methods for Rates and Proportions", 2003, 2.6), and the p-values of the
 * attribute are adjusted together by Holm's step-down method (Holm, "A
 * simple sequentially rejective multiple test procedure", Scand. J.
 * Statist. 6, 1979), which keeps the chance of any false flag for the
 * attribute at most alpha = HITL_PARAM_AUDIT_ALPHA (up to the normal
 * approximation, good when each group has >= 5 hits and misses).  A
 * difference is flagged when its adjusted p <= alpha and it is at least
 * HITL_PARAM_AUDIT_MIN_GAP.  hitl_audit_gap reports the largest difference
 * of a metric.  The equal-opportunity check compares each group's CAUGHT
 * with the other groups' pooled, one-sided (is it lower?), Holm over the
 * groups of the attribute, and flags it likewise.
 *
 * Threads: a handle is used by one thread at a time; the result calls are
 * concurrent reads.  Cost of a run: O(events in the stretch + items x
 * attributes + groups^2). */

typedef struct hitl_audit hitl_audit;

typedef enum hitl_audit_metric {
    HITL_AUDIT_SEEN        = 1,
    HITL_AUDIT_ACCEPTED    = 2,
    HITL_AUDIT_REVIEWED    = 3,
    HITL_AUDIT_MODEL_ERROR = 4,
    HITL_AUDIT_OVERRIDE    = 5,
    HITL_AUDIT_AGREEMENT   = 6,
    HITL_AUDIT_CAUGHT      = 7
} hitl_audit_metric;

typedef enum hitl_report_format {
    HITL_REPORT_CSV   = 1,
    HITL_REPORT_JSONL = 2
} hitl_report_format;

/* hitl_audit_create: an empty audit with n_attributes attributes (1 .. 64)
 * and the default parameters.
 * Returns HITL_OK; HITL_EINVAL (NULL out, n_attributes out of range);
 * HITL_ENOMEM.  Free with hitl_audit_free. */
HITL_API int hitl_audit_create(hitl_audit **out, size_t n_attributes);

/* hitl_audit_free: release the audit.  Accepts NULL. */
HITL_API void hitl_audit_free(hitl_audit *audit);

/* hitl_audit_set_param / hitl_audit_get_param: see hitl_param, 60x values.
 * Setting one discards the results of the last run.
 * Returns HITL_OK; HITL_EINVAL (NULL, not an audit parameter, out of
 * range). */
HITL_API int hitl_audit_set_param(hitl_audit *audit, hitl_param param,
                                  double value);
HITL_API int hitl_audit_get_param(double *value, const hitl_audit *audit,
                                  hitl_param param);

/* hitl_audit_set_groups: item item_ids[i] is in group groups[i] of
 * `attribute` (a later call replaces an item's group).  Copied.
 * Returns HITL_OK; HITL_EINVAL (NULL, attribute >= n_attributes, a group
 * INT64_MIN); HITL_ENOMEM (the handle may then hold the new items and
 * groups without assignments).  Discards the last run's results. */
HITL_API int hitl_audit_set_groups(hitl_audit *audit, size_t attribute,
                                   const uint64_t *item_ids,
                                   const int64_t *groups, size_t n);

/* hitl_audit_set_decisions: the router's decisions: accept[i] (1 accepted,
 * 0 review) and label[i] (the predicted label) of item item_ids[i]; a later
 * decision on an item replaces the earlier.  Copied.
 * Returns HITL_OK; HITL_EINVAL (NULL, accept not 0/1, label outside
 * 0 .. 65535); HITL_ENOMEM.  Discards the last run's results. */
HITL_API int hitl_audit_set_decisions(hitl_audit *audit,
                                      const uint64_t *item_ids,
                                      const uint8_t *accept,
                                      const int32_t *label, size_t n);

/* hitl_audit_run: compute every figure and test from events first_event ..
 * end_event-1 of `feedback` (end_event UINT64_MAX: up to the last) and the
 * current consensus of their items.  The feedback handle is only read.
 * Returns HITL_OK; HITL_EINVAL (NULL, the range leaves the recorded
 * events); HITL_ENOMEM (no results are kept). */
HITL_API int hitl_audit_run(hitl_audit *audit, const hitl_feedback *feedback,
                            uint64_t first_event, uint64_t end_event);

/* hitl_audit_groups: the groups of `attribute`, in the order first given:
 * writes min(count, capacity) and sets *count to their number.
 * Returns HITL_OK; HITL_EINVAL.  Concurrent reads. */
HITL_API int hitl_audit_groups(size_t *count, int64_t *groups,
                               size_t capacity, const hitl_audit *audit,
                               size_t attribute);

/* hitl_audit_figure: a metric of one group after a run: *value = k/n (for
 * SEEN: n; NaN when n is 0), *lower and *upper its Wilson interval (NaN for
 * SEEN and n 0), *n the denominator.  Any out-pointer may be NULL.
 * Returns HITL_OK; HITL_EINVAL (NULL audit, attribute, unknown metric);
 * HITL_ENOTFOUND (no such group); HITL_ESTATE (no run since the last
 * change).  Concurrent reads. */
HITL_API int hitl_audit_figure(double *value, double *lower, double *upper,
                               size_t *n, const hitl_audit *audit,
                               size_t attribute, int64_t group,
                               hitl_audit_metric metric);

/* hitl_audit_gap: the largest difference of a metric between two groups of
 * `attribute`: value(group_a) - value(group_b), its Holm-adjusted p and
 * whether it is flagged (1) or not (0).  Any out-pointer may be NULL.
 * Returns HITL_OK; HITL_EINVAL; HITL_ESTATE (no run, or fewer than two
 * groups with items for this metric; SEEN and REVIEWED are not tested).
 * Concurrent reads. */
HITL_API int hitl_audit_gap(int64_t *group_a, int64_t *group_b,
                            double *difference, double *p_adjusted,
                            int *flagged, const hitl_audit *audit,
                            size_t attribute, hitl_audit_metric metric);

/* hitl_audit_caught_flag: the equal-opportunity check of one group: 1 when
 * its share of errors caught is lower than the other groups' by the test
 * above; *p_adjusted its Holm-adjusted one-sided p.
 * Returns HITL_OK; HITL_EINVAL; HITL_ENOTFOUND; HITL_ESTATE.  Concurrent
 * reads. */
HITL_API int hitl_audit_caught_flag(int *flagged, double *p_adjusted,
                                    const hitl_audit *audit, size_t attribute,
                                    int64_t group);

/* hitl_audit_report: the results as text: CSV (a header line, then one line
 * per figure, per equal-opportunity check and per largest gap; columns kind,
 * attribute, group, metric, n, value, lower, upper, group_a, group_b,
 * difference, p_adjusted, flagged) or JSON Lines (one object per line, the
 * same fields by name, NaN as null).  Writes at most capacity bytes,
 * NUL-terminated, and sets *length to the full length without the NUL
 * (capacity 0 and NULL buf learn it).
 * Returns HITL_OK; HITL_EINVAL (NULL, unknown format, capacity too small but
 * not 0); HITL_ESTATE (no run).  Concurrent reads. */
HITL_API int hitl_audit_report(size_t *length, char *buf, size_t capacity,
                               const hitl_audit *audit,
                               hitl_report_format format);

#ifdef __cplusplus
}
#endif

#endif /* HITL_H */
