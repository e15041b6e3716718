/*
 * The learning layer: models and what they compute over the pool.  The
 * built-in model and custom models (model.c), the linear kernel (kernel.c)
 * and the vector arithmetic of probability blocks (vecmath.c), the
 * streaming scorer (score.c), the committee as an ensemble of models
 * (committee.c), and the probability source that streams a model or a
 * committee over the pool a block at a time (source.c).  Uses the data and
 * base layers; knows nothing of how items are selected.
 */
#ifndef HITL_LEARN_H
#define HITL_LEARN_H

#include "data/data.h"

/* ---- model.c --------------------------------------------------------------- */

enum { HITL__MODEL_LOGREG = 1, HITL__MODEL_CUSTOM = 2 };

struct hitl_model {
    int kind;
    size_t dim, n_classes;
    /* parameters */
    double l2, tol;
    int fit_intercept, warm_start;
    size_t max_iter;
    size_t threads;      /* 0 = one per online CPU */
    size_t block_rows;
    /* fitted state of the built-in model */
    int fitted;
    double *coef;        /* training solution, (dim + 1) x K, double; row dim
                            holds the intercepts; kept for warm starts */
    float *w;            /* scoring copy owned by score.c (layout is its own
                            business); built by hitl__score_prepare */
    float *b;            /* scoring intercepts, K, owned by score.c */
    void *w_mem;         /* the allocation w lies in (w is 64-byte aligned) */
    double grad_norm, objective;
    size_t iterations, n_train;
    /* custom model */
    hitl_fit_fn fit_cb;
    hitl_predict_fn predict_cb;
    hitl_fit_csr_fn fit_csr_cb;       /* a CSR custom model's, instead */
    hitl_predict_csr_fn predict_csr_cb;
    void *user;
};

/* HITL_OK if a built-in model of dim features and n_classes classes can
 * exist (dim >= 1, 2 <= n_classes <= 65536, (dim + 1) n_classes <= INT_MAX
 * coefficients), else HITL_EINVAL naming fn: the shape check of every
 * creator of models (a committee creates its members). */
int hitl__model_check_shape(const char *fn, size_t dim, size_t n_classes);
/* HITL_OK if the model takes rows of this kind (sparse: CSR), else
 * HITL_EINVAL naming fn and the call that makes a model that does. */
int hitl__model_check_rows(const hitl_model *model, int sparse, const char *fn);

/* ---- vecmath.c: class-major blocks ------------------------------------------ */

/* A block of n items is class-major when value c of item i is at P[c*ld + i]
 * with ld = HITL__ROUND16(n); columns n .. ld-1 repeat item n-1 (finite
 * values to be ignored), so loops may run 16 items at a time. */
#define HITL__ROUND16(n) (((n) + 15) & ~(size_t)15)

/* Columns n .. round16(n)-1 of C class-major rows repeat column n-1. */
void hitl__pad_columns(float *out, size_t ldo, size_t C, size_t n);
/* Softmax down each of the first n columns of a class-major C x ld block, in
 * place (columns up to round16(n) are processed too).  Returns 0, or 1 + the
 * first column with a NaN or +Inf logit; a -Inf logit gives that class a
 * probability of about 0 (exp is clamped at -87).  _isa: on a given
 * instruction set (hitl__isa() or lower). */
size_t hitl__softmax_cm(float *P, size_t ld, size_t n, size_t C);
size_t hitl__softmax_cm_isa(float *P, size_t ld, size_t n, size_t C, int isa);
/* x[i] = log(max(x[i], FLT_MIN)) in place, vectorised. */
void hitl__vlogf(float *x, size_t n);
/* h[i] = -sum_c P[c*ld + i] log P[c*ld + i] (0 log 0 = 0, clamped at 0) for
 * i < ld, a multiple of 16: the entropy of each column of a class-major
 * probability block, log and sum fused, vectorised. */
void hitl__entropy_cm(float *h, const float *P, size_t ld, size_t C);
/* Layout changes between row-major R (n x C) and class-major P (C x ld):
 * to_classes pads columns n .. round16(n)-1. */
void hitl__to_rows(float *R, const float *P, size_t ld, size_t n, size_t C);
void hitl__to_classes(float *P, size_t ld, const float *R, size_t n, size_t C);

/* ---- kernel.c: the stacked linear layer ------------------------------------ */

/* Block kernel of a stacked linear layer (the built-in model; a committee of
 * M linear members stacks theirs into one layer of C = M*K columns and scores
 * them in one pass; k-center folds take centres as a layer):
 *     out[c*ldo + i] = b[c] + sum_j X[i*stride + j] * w[j*ldw + c]
 * for c < C and i < n, class-major; columns n .. round16(n)-1 repeat column
 * n-1, so ldo >= HITL__ROUND16(n).  w is d x ldw with ldw =
 * hitl__linear_ldw(C) (C rounded up to 16) and zero padding; b has ldw
 * entries.  The kernel has three shapes, picked at run time with the
 * instruction set (AVX-512, AVX2+FMA or portable): a dot product per row
 * for C = 1; classes in the lanes for wide layers on AVX-512
 * (hitl__linear_classes_in_lanes); rows in the lanes otherwise.  X is
 * streamed once, and a row's result does not depend on where the block is
 * cut.  Layers of more than 8 MiB of W (hitl__linear_wide) go to
 * cblas_sgemm (hitl__linear_uses_blas); if hitl__linear_blas_threaded()
 * OpenBLAS threads inside that call, so call it from one thread at a time.
 * Thread-safe (reads L, X). */
typedef struct hitl__linear {
    size_t d, C, ldw;
    const float *w, *b;
} hitl__linear;
size_t hitl__linear_ldw(size_t C);
void hitl__linear_block(float *out, size_t ldo, const hitl__linear *L,
                        const float *X, size_t n, size_t stride);
void hitl__linear_block_isa(float *out, size_t ldo, const hitl__linear *L,
                            const float *X, size_t n, size_t stride, int isa);
/* The same layer on n CSR rows (row i: positions indptr[i] .. indptr[i+1]-1
 * of indices and values): each non-zero adds its value times one
 * contiguous row of W, so cost is nnz x ldw and W is never sgemm'd. */
void hitl__linear_csr_isa(float *out, size_t ldo, const hitl__linear *L,
                          const int32_t *indptr, const int32_t *indices,
                          const float *values, size_t n, int isa);
/* Rows r0 .. r0+n-1 of a pool block, dense or CSR, through the layer. */
void hitl__linear_rows_isa(float *out, size_t ldo, const hitl__linear *L,
                           const hitl__block *bk, size_t r0, size_t n, int isa);
void hitl__linear_rows(float *out, size_t ldo, const hitl__linear *L, const hitl__block *bk,
                       size_t r0, size_t n);
int hitl__linear_wide(size_t d, size_t C);
int hitl__linear_uses_blas(const hitl__linear *L, size_t n, size_t stride);
int hitl__linear_blas_threaded(void);
/* Nonzero when a layer of C outputs fills its 16-lane panels well enough
 * (C > 16, at most an eighth of padding) for the AVX-512 kernel that puts
 * classes in the lanes instead of rows. */
int hitl__linear_classes_in_lanes(size_t C);
/* xn[i] = ||x_i||^2 for n rows of d floats, stride apart: sixteen lanes per
 * row added as a tree (a fixed order: the same result on every path). */
void hitl__sqnorms(float *xn, const float *X, size_t n, size_t stride, size_t d);

/* ---- score.c: the streaming scorer ----------------------------------------- */

/*
 * The pool is cut into blocks of at most hitl__score_block_rows() rows that
 * never cross a chunk; worker threads take blocks in order and, for each,
 * compute the K probabilities of every row and hand them to a consumer
 * while they are still in cache.  Each worker has its own consumer state
 * (worker index w < hitl__score_workers()), so consumers need no locks; the
 * caller merges per-worker results afterwards.  A consumer returns 0, or a
 * status after setting its message with hitl__fail_in.
 */
typedef int (*hitl__block_fn)(void *state, size_t first, size_t n,
                              const float *proba, size_t n_classes);

/* Build the float32 scoring copy (model->w, model->b) from a (dim+1) x K
 * double solution laid out like model->coef.  Allocates the new copy first and
 * swaps it in only on success, so a failed call leaves the model as it was.
 * model.c calls it after every successful fit and load.  Returns HITL_OK or
 * HITL_ENOMEM. */
int hitl__score_prepare(hitl_model *model, const double *coef);
/* Free the scoring copy (model_free calls it). */
void hitl__score_release(hitl_model *model);

/* How many workers hitl__score_run will use for this model and pool. */
size_t hitl__score_workers(const hitl_model *model, const hitl_pool *pool);
/* The most rows a block has: HITL_PARAM_BLOCK_ROWS, fewer for models with
 * so many classes that rows x classes would exceed 2^16 floats (at least 16
 * rows).  Size consumers' per-block buffers by this. */
size_t hitl__score_block_rows(const hitl_model *model);

/* Score rows [first, first+n) of the pool; states[w] is worker w's consumer
 * state.  HITL__LAYOUT_ROWS hands each block row-major (proba[i*K + c]),
 * HITL__LAYOUT_CLASSES class-major (proba[c*ld + i], ld =
 * HITL__ROUND16(n)), which the built-in model computes natively (the
 * row-major one costs a transpose per block).  fn names the public function
 * in messages.  Returns HITL_OK, HITL_ESTATE (not fitted), or the failure of
 * the lowest failing block (a consumer's status is passed through). */
enum { HITL__LAYOUT_ROWS = 0, HITL__LAYOUT_CLASSES = 1 };
int hitl__score_run(const hitl_model *model, const hitl_pool *pool,
                    size_t first, size_t n, int layout, hitl__block_fn consume,
                    void **states, const char *fn);
/* hitl_model_predict on the rows of one pool block, dense or CSR (rows
 * already checked when the pool took them). */
int hitl__model_predict_block(float *proba, const hitl_model *model, const hitl__block *bk);
/* hitl__score_run, row-major, named for itself in messages. */
int hitl__score_pool(const hitl_model *model, const hitl_pool *pool,
                     size_t first, size_t n, hitl__block_fn consume,
                     void **states);

/* ---- committee.c: an ensemble of models --------------------------------------- */

/* What a committee pass hands its consumer for a block of n items, each
 * part only when asked for (HITL__WANT_*), all class-major with ld =
 * HITL__ROUND16(n): */
enum {
    HITL__WANT_CONSENSUS = 1, /* consensus: K x ld, the members' mean */
    HITL__WANT_MEMBERS = 2,   /* members: M K x ld, member m's class c at row m K + c */
    HITL__WANT_VOTES = 4      /* votes: M x ld, each member's most probable class */
};
typedef struct hitl__ensemble_block {
    size_t first, n, ld, M, K;
    const float *consensus;
    const float *members;
    const uint32_t *votes;
} hitl__ensemble_block;
/* Returns 0, or a status after setting its message with hitl__fail_in. */
typedef int (*hitl__ensemble_fn)(void *state, const hitl__ensemble_block *b);

size_t hitl__committee_workers(const hitl_committee *c, const hitl_pool *pool);
/* The most rows a block of a pass has (size per-block buffers by it). */
size_t hitl__committee_block_rows(const hitl_committee *c);
size_t hitl__committee_members(const hitl_committee *c);
size_t hitl__committee_classes(const hitl_committee *c);
/* Nonzero when the committee has members and every one is fitted. */
int hitl__committee_ready(const hitl_committee *c);
/* HITL_EINVAL on a dim mismatch; with need_fitted, HITL_ESTATE unless the
 * committee has members and every one is fitted. */
int hitl__committee_check(const hitl_committee *c, const hitl_pool *pool, int need_fitted,
                          const char *fn);
/* Stream every item of the pool through the members: consume(states[w], b)
 * for each block, with the parts `want` asks for.  Returns HITL_OK or the
 * failure of the lowest failing block. */
int hitl__committee_run(const hitl_committee *c, const hitl_pool *pool, int want,
                        hitl__ensemble_fn consume, void **states, const char *fn);
/* pb = (1/M) sum_m P_m over K x ld class-major rows of the member table P. */
void hitl__consensus_cm(float *pb, const float *P, size_t M, size_t K, size_t ld);
/* votes[m*ld + i] = member m's most probable class of item i (ties to the
 * lower class) for every column of the member table P (M K x ld). */
void hitl__member_votes(uint32_t *votes, const float *P, size_t M, size_t K, size_t ld);

/* ---- source.c: a model or a committee, streamed over the pool ------------- */

/* Where class probabilities come from: a model, or (when set) a committee. */
typedef struct hitl__source {
    const hitl_model *model;
    const hitl_committee *committee;
} hitl__source;
size_t hitl__source_workers(const hitl__source *src, const hitl_pool *pool);
size_t hitl__source_block_rows(const hitl__source *src);
/* The number of classes K of the source's probabilities. */
size_t hitl__source_classes(const hitl__source *src);
/* HITL_OK, or HITL_EINVAL (no model, dim mismatch) / HITL_ESTATE (not
 * fitted) naming fn. */
int hitl__source_check(const hitl__source *src, const hitl_pool *pool, const char *fn);
/* consume(states[w], b) for every block of the pool.  A model gives
 * b->consensus (its probabilities, M = 0); a committee what `want` asks for
 * (a model source ignores MEMBERS and VOTES). */
int hitl__source_run(const hitl__source *src, const hitl_pool *pool, int want,
                     hitl__ensemble_fn consume, void **states, const char *fn);

/* ---- crossfit.c: out-of-sample probabilities by k-fold cross-fitting ------ */

/* proba (n_lab x K, row r = pool item lab[r]) = the class probabilities of
 * each labeled item from a fresh copy of model fitted on the other folds of
 * a stratified split into `folds` folds (seeded), folds fitted on up to
 * `threads` threads (0: one per CPU; custom models one at a time).  The
 * caller has checked model, pool, labels (< K) and 2 <= folds <= n_lab.
 * On failure proba may be partly written. */
int hitl__cross_fit(float *proba, const hitl_model *model, const hitl_pool *pool,
                    const size_t *lab, size_t n_lab, size_t folds, uint64_t seed,
                    size_t threads, const char *fn);

#endif /* HITL_LEARN_H */
