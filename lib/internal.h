/*
 * What the modules of libhitl share.  Not installed; nothing here is ABI.
 * Internal symbols are named hitl__* and have hidden visibility, so they never
 * leave the shared object (only the hitl_* names in libhitl.map do).
 */
#ifndef HITL_INTERNAL_H
#define HITL_INTERNAL_H

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

/* ---- alloc.c: the one allocator hook ------------------------------------- */

void *hitl__malloc(size_t size);               /* NULL on failure or size 0 */
void *hitl__calloc(size_t n, size_t size);     /* zeroed; checks n*size */
void *hitl__realloc(void *ptr, size_t size);
void hitl__free(void *ptr);                    /* accepts NULL */
/* n*size without overflow: returns 0 and sets *out, or -1 on overflow. */
int hitl__mul_size(size_t *out, size_t n, size_t size);
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

/* ---- pool.c --------------------------------------------------------------- */

/* Rows live in chunks that never move once added: a copied batch owns its
 * memory, a borrowed batch points at the caller's.  Chunk j covers items
 * first .. first+n-1; row i of the chunk starts at rows + i*stride. */
typedef struct hitl__chunk {
    const float *rows;
    float *owned;      /* == rows when copied, NULL when borrowed */
    size_t first, n, stride;
} hitl__chunk;

struct hitl_pool {
    size_t dim, n, cap;
    hitl__chunk *chunks;
    size_t n_chunks, cap_chunks;
    size_t tail_room;  /* rows the last chunk can still take: copied chunks
                          get spare rows so small batches share a chunk;
                          0 when the last chunk is borrowed */
    uint64_t *ids;     /* per item */
    uint8_t *state;    /* hitl_item_state per item */
    int32_t *label;    /* -1 when none */
    float *weight;     /* sample weight, default 1 */
    size_t count[3];   /* items per state */
    /* open-addressing map id -> index+1 (0 = empty slot); absent (map_cap 0)
       while every item's id equals its index */
    uint64_t *map_keys;
    size_t *map_vals;
    size_t map_cap;    /* power of two */
};

/* Row pointer of item i (i < pool->n), binary search over the chunks. */
const float *hitl__pool_row(const hitl_pool *pool, size_t i);

/* The probe of an open-addressing uint64 -> index map (the pool's id map,
 * feedback's hitl__idmap): keys and vals of cap slots, cap a power of two,
 * vals[s] = index + 1 or 0 for an empty slot.  Returns the slot holding key,
 * or the empty slot where it would go (linear probing from its splitmix64
 * hash); the caller keeps the load below 1, so that slot exists. */
size_t hitl__map_slot(const uint64_t *keys, const size_t *vals, size_t cap,
                      uint64_t key);

/* ---- model.c / score.c ---------------------------------------------------- */

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
    double grad_norm, objective;
    size_t iterations, n_train;
    /* custom model */
    hitl_fit_fn fit_cb;
    hitl_predict_fn predict_cb;
    void *user;
};

/*
 * Streaming scorer (score.c).  The pool is cut into blocks of at most
 * model->block_rows rows that never cross a chunk; worker threads take blocks
 * in order and, for each, compute the K probabilities of every row and hand
 * them to a consumer while they are still in cache.  Each worker has its own
 * consumer state (worker index w < hitl__score_workers()), so consumers need
 * no locks; the caller merges per-worker results afterwards.
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

/* How many workers hitl__score_pool will use for this model and pool. */
size_t hitl__score_workers(const hitl_model *model, const hitl_pool *pool);
/* The most rows a block has: HITL_PARAM_BLOCK_ROWS, fewer for models with
 * so many classes that rows x classes would exceed 2^16 floats (at least 16
 * rows).  Size consumers' per-block buffers by this. */
size_t hitl__score_block_rows(const hitl_model *model);

/* Score rows [first, first+n) of the pool; states[w] is worker w's consumer
 * state.  Returns HITL_OK or the first failure (a consumer's nonzero return
 * is passed through as the status; a failing consumer sets its message with
 * hitl__fail, which the caller's thread then gets).  proba is row-major:
 * proba[i*K + c] is class c of item first+i. */
int hitl__score_pool(const hitl_model *model, const hitl_pool *pool,
                     size_t first, size_t n, hitl__block_fn consume,
                     void **states);

/* The same with a choice of layout and the public function's name for
 * messages.  HITL__LAYOUT_CLASSES hands the block class-major:
 * proba[c*ld + i] with ld = HITL__ROUND16(n), so per-item scores vectorise
 * over items; columns n .. ld-1 repeat item first+n-1 (finite values to be
 * ignored), so loops may run 16 items at a time.  The built-in model computes
 * this layout natively (the row-major one costs a transpose per block). */
enum { HITL__LAYOUT_ROWS = 0, HITL__LAYOUT_CLASSES = 1 };
#define HITL__ROUND16(n) (((n) + 15) & ~(size_t)15)
int hitl__score_run(const hitl_model *model, const hitl_pool *pool,
                    size_t first, size_t n, int layout, hitl__block_fn consume,
                    void **states, const char *fn);

/* Block kernel of a stacked linear layer (the built-in model; a committee of
 * M linear members stacks theirs into one layer of C = M*K columns and scores
 * them in one pass):
 *     out[c*ldo + i] = b[c] + sum_j X[i*stride + j] * w[j*ldw + c]
 * for c < C and i < n, class-major; columns n .. round16(n)-1 repeat column
 * n-1, so ldo >= HITL__ROUND16(n).  w is d x ldw with ldw =
 * hitl__linear_ldw(C) (C rounded up to 16) and zero padding; b has ldw
 * entries.  Up to 8 MiB of W: a kernel picked at run time (AVX-512,
 * AVX2+FMA or portable): a dot product per row for C = 1, classes in the
 * lanes for wide layers on AVX-512 (hitl__linear_classes_in_lanes), rows in
 * the lanes otherwise; X streamed once, a row's result independent of where
 * the block is cut.  Larger W (hitl__linear_uses_blas):
 * cblas_sgemm; if hitl__linear_blas_threaded() OpenBLAS threads inside that
 * call, so call it from one thread at a time.  Thread-safe (reads L, X). */
typedef struct hitl__linear {
    size_t d, C, ldw;
    const float *w, *b;
} hitl__linear;
size_t hitl__linear_ldw(size_t C);
void hitl__linear_block(float *out, size_t ldo, const hitl__linear *L,
                        const float *X, size_t n, size_t stride);
int hitl__linear_uses_blas(const hitl__linear *L, size_t n, size_t stride);
/* Nonzero when a layer of C outputs fills its 16-lane panels well enough
 * (C > 16, at most an eighth of padding) for the AVX-512 kernel that puts
 * classes in the lanes instead of rows. */
int hitl__linear_classes_in_lanes(size_t C);
/* xn[i] = ||x_i||^2 for n rows of d floats, stride apart: sixteen lanes per
 * row added as a tree (a fixed order: the same result on every path). */
void hitl__sqnorms(float *xn, const float *X, size_t n, size_t stride, size_t d);
int hitl__linear_blas_threaded(void);
/* Softmax down each of the first n columns of a class-major C x ld block, in
 * place (columns up to round16(n) are processed too).  Returns 0, or 1 + the
 * first column with a NaN or +Inf logit; a -Inf logit gives that class a
 * probability of about 0 (exp is clamped at -87). */
size_t hitl__softmax_cm(float *P, size_t ld, size_t n, size_t C);
/* x[i] = log(max(x[i], FLT_MIN)) in place, vectorised. */
void hitl__vlogf(float *x, size_t n);
/* h[i] = -sum_c P[c*ld + i] log P[c*ld + i] (0 log 0 = 0, clamped at 0) for
 * i < ld, a multiple of 16: the entropy of each column of a class-major
 * probability block, log and sum fused, vectorised. */
void hitl__entropy_cm(float *h, const float *P, size_t ld, size_t C);

/* Instruction sets of the kernels.  hitl__score_isa() is the best the CPU
 * and OS support, capped by hitl__score_set_isa() (a test hook, so that the
 * tests cover the portable fallback; not thread-safe; returns the old cap). */
enum { HITL__ISA_PORTABLE = 0, HITL__ISA_AVX2 = 1, HITL__ISA_AVX512 = 2 };
int hitl__score_isa(void);
int hitl__score_set_isa(int cap);

/* ---- strategy.c: selection shared by every strategy ----------------------- */

/* A bounded heap keeping the k best (key, index) pairs, where "best" means
 * smallest key, ties to the smaller index.  Strategies whose order is
 * "largest first" push -score.  O(log k) per push. */
typedef struct hitl__topk {
    size_t k, n;
    double *key;
    size_t *index;
} hitl__topk;

int hitl__topk_init(hitl__topk *t, size_t k);
void hitl__topk_free(hitl__topk *t);
void hitl__topk_push(hitl__topk *t, double key, size_t index);
/* Merge src into dst (both bounded by the same k). */
void hitl__topk_merge(hitl__topk *dst, const hitl__topk *src);
/* Sort the kept entries best first, in place. */
void hitl__topk_sort(hitl__topk *t);

/* ---- agreement.c (also used by route.c) ----------------------------------- */

/* HITL_OK if n_classes is in [2, 65536], else HITL_EINVAL naming it. */
int hitl__check_classes(const char *fn, size_t n_classes);
/* HITL_OK if every label[i] (i < n) is in [0, n_classes), else HITL_EINVAL
 * with "fn: name[i] is v, not in [0, n_classes)". */
int hitl__check_labels(const char *fn, const char *name, const int32_t *label,
                       size_t n, size_t n_classes);

/* ---- feedback.c / aggregate.c / journal.c --------------------------------- */

/* The feedback handle is an append-only event log plus what it implies: per
 * item, the effective answer of each annotator (their latest answer that is
 * not retracted; earlier answers of the same person on the same item are
 * superseded, and a retraction falls back along the chain `prev`).  Items and
 * annotators get dense slots in the order they first appear. */

#define HITL__NO_SLOT SIZE_MAX
#define HITL__MAX_LABEL 65535            /* labels are class indices < 65536 */

typedef struct hitl__fb_event {
    uint64_t item;          /* caller id of the item */
    uint64_t annotator;
    uint64_t target;        /* RETRACT: the retracted event; else NO_EVENT */
    uint64_t retracted_by;  /* the RETRACT that removed it, or NO_EVENT */
    uint64_t prev;          /* previous answer of the same annotator on the
                               same item, or NO_EVENT */
    int64_t time;           /* microseconds since the Unix epoch */
    double confidence, shown_confidence;   /* NaN: none */
    int32_t label, shown_label;            /* -1: none */
    char *reason;           /* owned, NUL-terminated, or NULL */
    uint16_t reason_len;
    uint8_t kind;           /* hitl_event_kind */
} hitl__fb_event;

/* One annotator's standing on one item. */
typedef struct hitl__fb_vote {
    size_t annot;           /* annotator slot */
    uint64_t eff;           /* effective answer event, or NO_EVENT */
    uint64_t last;          /* latest answer event (head of the prev chain) */
    int32_t label;          /* of eff: >= 0 a label, -1 skip, -2 none */
} hitl__fb_vote;

typedef struct hitl__fb_item {
    uint64_t id;            /* caller id */
    size_t index;           /* pool index */
    hitl__fb_vote *votes;
    size_t n_votes, cap_votes;
    int32_t gold;           /* known answer, or -1 */
    /* the aggregation result, kept current */
    int32_t label;          /* -1 when there is no label */
    uint8_t status;         /* hitl_consensus */
    uint32_t n_labels;      /* effective labels (skips not counted) */
    double confidence, agreement;
} hitl__fb_item;

typedef struct hitl__fb_ref { size_t item, vote; } hitl__fb_ref;

typedef struct hitl__fb_annot {
    uint64_t id;
    hitl__fb_ref *refs;     /* the votes of this annotator, one per item */
    size_t n_refs, cap_refs;
    /* counters over effective answers, kept current */
    size_t n_labels, n_skips;
    size_t gold_n, gold_ok;  /* answers on gold items, correct ones */
    size_t cons_n, cons_ok;  /* answers on non-gold items with >= 2 labels,
                                agreeing with the aggregated label */
} hitl__fb_annot;

/* One candidate label of an item while it is aggregated. */
typedef struct hitl__fb_tally {
    int32_t label;
    size_t votes;
    double score;
    uint64_t first;         /* earliest effective answer giving this label */
} hitl__fb_tally;

/* uint64 -> slot map, open addressing (vals hold slot + 1, 0 = empty). */
typedef struct hitl__idmap {
    uint64_t *keys;
    size_t *vals;
    size_t cap, n;
} hitl__idmap;

/* Dawid-Skene estimates (aggregate.c), all in log space: logtheta[a][k][l]
 * = log P(annotator a answers l | true class k), a < A; logmean the same for
 * an annotator the fit has not seen (the element-wise mean of the fitted
 * matrices); logprior[k] = log P(true class k).  K == 0: never fitted. */
typedef struct hitl__fb_ds {
    size_t K, A;
    double *logtheta, *logprior, *logmean;
    double *accuracy;       /* A: expected share of correct answers */
    size_t iterations;
    double objective;       /* log posterior at the returned estimates */
    int converged;
} hitl__fb_ds;

/* The journal file (journal.c); fd == -1 when none is open. */
typedef struct hitl__journal {
    int fd;
    int failed;             /* a write failed and could not be undone */
    unsigned every;         /* fsync after every `every` records; 0 never */
    uint64_t end;           /* offset just past the last good record */
    size_t unsynced;        /* records written since the last fsync */
    size_t replayed;        /* records read when it was opened */
    uint64_t dropped;       /* bytes of damaged tail cut off when opened */
} hitl__journal;

struct hitl_feedback {
    hitl_pool *pool;        /* borrowed */
    /* parameters (HITL_PARAM_4xx) */
    int method;             /* hitl_aggregation */
    size_t min_annotators, n_classes, em_max_iter;
    double min_agreement, min_confidence, em_tol;
    int confidence_weights;
    int32_t max_label;      /* largest label of any answer or gold, or -1 */
    int replaying;          /* journal replay: skip per-item updates */
    hitl__fb_ds ds;
    double *post;           /* per-item Dawid-Skene scratch, K doubles */
    size_t cap_post;
    hitl__journal journal;
    hitl__fb_event *ev;
    size_t n_ev, cap_ev;
    hitl__fb_item *items;
    size_t n_items, cap_items;
    hitl__idmap item_map;   /* pool index -> item slot */
    hitl__fb_annot *annots;
    size_t n_annots, cap_annots;
    hitl__idmap annot_map;  /* annotator id -> annotator slot */
    hitl__fb_tally *tally;  /* per-item aggregation scratch, one entry per
                               vote of the busiest item */
    size_t cap_tally;
};

/* feedback.c: record an event that passed hitl__fb_check_event (the path of
 * live calls and of journal replay alike).  Checks it against the handle's
 * state, reserves, appends it to the journal when one is open and the handle
 * is not replaying, then commits; on failure nothing changed.  e->reason is
 * borrowed (copied on success).  *id gets the event id. */
int hitl__fb_apply(hitl_feedback *fb, const hitl__fb_event *e, uint64_t *id,
                   const char *fn);
/* Field checks of one event (ranges, UTF-8 of the reason); no state. */
int hitl__fb_check_event(const hitl__fb_event *e, const char *fn);
/* Forget every event, item and annotator; parameters, the Dawid-Skene fit
 * and the journal stay (a failed replay into an empty handle undoes itself). */
void hitl__fb_reset(hitl_feedback *fb);

/* aggregate.c */
size_t hitl__fb_classes(const hitl_feedback *fb);   /* K for Dawid-Skene */
/* Around any change to an item: begin takes the item's share out of the
 * annotators' counters, end re-aggregates it, puts its share back and writes
 * it to the pool.  Both do nothing while replaying. */
void hitl__fb_item_begin(hitl_feedback *fb, const hitl__fb_item *it);
void hitl__fb_item_end(hitl_feedback *fb, hitl__fb_item *it);
/* Re-aggregate every item with the current estimates, recount, write the
 * pool.  Cannot fail once hitl__fb_reserve_post(fb, K of fb->ds) held. */
void hitl__fb_refresh(hitl_feedback *fb);
/* Fit Dawid-Skene by EM into *out (fresh memory; fb is only read).
 * Returns HITL_OK or HITL_ENOMEM. */
int hitl__fb_ds_fit(hitl__fb_ds *out, const hitl_feedback *fb);
void hitl__fb_ds_free(hitl__fb_ds *ds);
/* Install a fit: free the old one, take *ds, set annotators' accuracies. */
void hitl__fb_ds_install(hitl_feedback *fb, hitl__fb_ds *ds);
/* The scratch a per-item aggregation with K classes needs. */
int hitl__fb_reserve_post(hitl_feedback *fb, size_t K);
/* Re-estimate what the method needs (a Dawid-Skene fit) and refresh every
 * item.  Returns HITL_OK or HITL_ENOMEM (then nothing changed). */
int hitl__fb_reaggregate(hitl_feedback *fb, const char *fn);

/* journal.c */
/* Append event `id` to the open journal, syncing per the policy.  Returns
 * HITL_OK or HITL_EIO (the file is cut back to the last good record). */
int hitl__journal_append(hitl_feedback *fb, const hitl__fb_event *e,
                         uint64_t id, const char *fn);
/* Close the journal if open: fsync unsynced records when sync is set. */
/* The message of every call refused after an undone write failed: this
 * handle holds events the file may lack, so it cannot attach it again. */
#define HITL__JOURNAL_FAILED                                                 \
    "the journal failed earlier; close it (hitl_feedback_close_journal) "  \
    "and replay it into a new handle"
int hitl__journal_close(hitl_feedback *fb, int sync, const char *fn);

/* ---- committee.c / diversity.c (issue 3) ---------------------------------- */

/* Seeded pseudo-random numbers: splitmix64 (its output function is also the
 * mixer to hash an index with a seed). */
uint64_t hitl__mix64(uint64_t x);
typedef struct hitl__rng { uint64_t s; } hitl__rng;
/* Stream `stream` of `seed`: independent streams for e.g. members. */
void hitl__rng_seed(hitl__rng *r, uint64_t seed, uint64_t stream);
uint64_t hitl__rng_next(hitl__rng *r);
double hitl__rng_unit(hitl__rng *r);   /* uniform in [0, 1), 53 bits */

/* strategy.c, for issue 3: the core score of `kind` (LEAST_CONFIDENT,
 * MARGIN, ENTROPY) of every item of a class-major probability block, as
 * hitl_query computes it (s: ld floats, work: K * ld floats); -1 for another
 * kind.  And the RANDOM strategy's key of item i. */
int hitl__uncertainty_block(int kind, float *s, const float *P, size_t ld, size_t K,
                            float *work);
double hitl__random_key(uint64_t seed, size_t i);
/* A core score scaled to [0, 1], larger = more informative:
 * LEAST_CONFIDENT (1 - p1)/(1 - 1/K), MARGIN 1 - (p1 - p2), ENTROPY H/log K. */
double hitl__informativeness(int kind, double score, size_t K);

/* Parameters of the issue-3 strategy kinds.  Every hitl_strategy holds one;
 * hitl_strategy_set_param/get_param forward the params for which
 * hitl__div_is_param() is true to hitl__div_set_param/get_param. */
typedef struct hitl__div_params {
    int base;                 /* HITL_PARAM_BASE: 0 = the kind's default */
    double hybrid_beta;
    double density_exponent;
    size_t density_anchors;
    double density_bandwidth; /* 0 = automatic */
    int cold_start;           /* hitl_cold_start */
    int hybrid_select;        /* HITL_COLD_START_KCENTER or _KMEANSPP */
} hitl__div_params;
void hitl__div_params_init(hitl__div_params *p);
int hitl__div_is_param(hitl_param param);
int hitl__div_set_param(hitl__div_params *p, hitl_param param, double value, const char *fn);
int hitl__div_get_param(double *value, const hitl__div_params *p, hitl_param param,
                        const char *fn);
/* A kind usable as HITL_PARAM_BASE (QBC measures only with a committee). */
int hitl__is_base_kind(int kind, int with_committee);
int hitl__is_qbc_kind(int kind);          /* HITL_STRATEGY_QBC_* */
/* KCENTER, RANKED_BATCH, DENSITY, HYBRID, DEFAULT: served by diversity.c */
int hitl__is_diversity_kind(int kind);

/* One query of an issue-3 kind.  With a committee, model is NULL and the
 * informativeness comes from the committee. */
typedef struct hitl__query {
    int kind;
    uint64_t seed;
    const hitl__div_params *div;
    const hitl_model *model;
    const hitl_committee *committee;
    const hitl_pool *pool;
    size_t k;                 /* >= 1 */
    const char *fn;           /* the public function, for messages */
} hitl__query;
/* Up to k picks into indices (pool indices) and scores (may be NULL);
 * *count of them.  Validates model/committee itself. */
int hitl__diversity_query(size_t *count, size_t *indices, double *scores,
                          const hitl__query *q);
/* Information density of every UNLABELED item into dens[i] (see diversity.c);
 * other entries untouched.  HITL_OK or HITL_ENOMEM. */
int hitl__density(float *dens, const hitl_pool *pool, size_t anchors,
                  double bandwidth, uint64_t seed, const char *fn);

/* Where informativeness comes from: a model, or a committee. */
typedef struct hitl__source {
    const hitl_model *model;
    const hitl_committee *committee;
} hitl__source;
/* Receives one item's value from worker w's state. */
typedef void (*hitl__emit_fn)(void *state, size_t index, double value);
size_t hitl__source_workers(const hitl__source *src, const hitl_pool *pool);
int hitl__source_check(const hitl__source *src, const hitl_pool *pool, const char *fn);
/* emit(states[w], i, informativeness in [0, 1]) for every UNLABELED item i. */
int hitl__source_stream(const hitl__source *src, int kind, const hitl_pool *pool,
                        hitl__emit_fn emit, void **states, const char *fn);

/* committee.c */
size_t hitl__committee_workers(const hitl_committee *c, const hitl_pool *pool);
/* HITL_EINVAL on a dim mismatch; with need_fitted, HITL_ESTATE unless the
 * committee has members and every one is fitted. */
int hitl__committee_check(const hitl_committee *c, const hitl_pool *pool, int need_fitted,
                          const char *fn);
/* emit(states[w], i, v) for every UNLABELED item: v is the measure `kind`
 * (QBC_*, or a core kind on the consensus), raw or scaled to [0, 1]. */
int hitl__committee_stream(const hitl_committee *c, int kind, int raw, const hitl_pool *pool,
                           hitl__emit_fn emit, void **states, const char *fn);
/* Top k by a QBC measure or a core uncertainty kind of the consensus, in the
 * kind's order; raw scores. */
int hitl__committee_query(size_t *count, size_t *indices, double *scores, int kind,
                          const hitl_committee *c, const hitl_pool *pool, size_t k,
                          const char *fn);

/* HITL_STRATEGY_DEFAULT is HYBRID with these (see hitl.h and bench/eval.c). */
#define HITL__DEFAULT_BETA 10.0
#define HITL__DEFAULT_SELECT HITL_COLD_START_KMEANSPP

#endif /* HITL_INTERNAL_H */
