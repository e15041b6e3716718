/*
 * The selection layer: which unlabeled items to ask a person about.  The
 * uncertainty scores (uncertainty.c) and a committee's disagreement
 * (disagreement.c) of a probability block; the measure of every item in one
 * streaming pass of a model or a committee (measure.c); diversity sampling
 * (diversity.c); and the strategy handle that dispatches a query
 * (strategy.c).  Uses the learning, data and base layers.
 */
#ifndef HITL_SELECT_H
#define HITL_SELECT_H

#include "learn/learn.h"

/* ---- the kinds ---------------------------------------------------------------- */

static inline int hitl__is_qbc_kind(int kind)
{
    return kind >= HITL_STRATEGY_QBC_VOTE_ENTROPY && kind <= HITL_STRATEGY_QBC_BALD;
}

/* KCENTER, RANKED_BATCH, DENSITY, HYBRID, DEFAULT: served by diversity.c */
static inline int hitl__is_diversity_kind(int kind)
{
    return (kind >= HITL_STRATEGY_KCENTER && kind <= HITL_STRATEGY_HYBRID) ||
           kind == HITL_STRATEGY_DEFAULT;
}

/* A kind usable as an informativeness (HITL_PARAM_BASE): an uncertainty
 * kind, or with a committee a QBC measure. */
static inline int hitl__is_base_kind(int kind, int with_committee)
{
    return kind == HITL_STRATEGY_LEAST_CONFIDENT || kind == HITL_STRATEGY_MARGIN ||
           kind == HITL_STRATEGY_ENTROPY || (with_committee && hitl__is_qbc_kind(kind));
}

/* ---- uncertainty.c ------------------------------------------------------------ */

/* s[i] for i < ld (a multiple of 16) = the uncertainty score of `kind`
 * (LEAST_CONFIDENT 1 - p1, MARGIN p1 - p2, ENTROPY -sum p log p) of
 * column i of a class-major probability block P (K x ld); 0 for a kind
 * that is none of these (callers pass only these). */
void hitl__uncertainty_block(int kind, float *s, const float *P, size_t ld, size_t K);
/* A score scaled to [0, 1], larger = more informative:
 * LEAST_CONFIDENT (1 - p1)/(1 - 1/K), MARGIN 1 - (p1 - p2), ENTROPY H/log K. */
double hitl__informativeness(int kind, double score, size_t K);

/* ---- egl.c: expected gradient length ------------------------------------------ */

/* val[i] for i < n = sqrt(xn2[i] + intercept) sum_y p_y sqrt(S - 2 p_y + 1),
 * S = sum_k p_k^2, of column i of a class-major probability block P (K x
 * ld) whose rows have squared norms xn2: the expected gradient length of
 * the built-in model (hitl.h, HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH). */
void hitl__egl_block(double *val, const float *P, size_t ld, size_t n, size_t K,
                     const float *xn2, int intercept);
/* The rows of pool items first .. first+n-1, which lie in one chunk (as the
 * blocks of a pass do): the first row, and the stride into *stride. */
const float *hitl__pool_block_rows(const hitl_pool *pool, size_t first, size_t *stride);

/* ---- disagreement.c ------------------------------------------------------------ */

/* A worker's scratch for the QBC measures of blocks of up to `rows` items
 * of M members and K classes. */
typedef struct hitl__qbc_scratch {
    float *LP;       /* M K x ld: log P */
    float *lpb;      /* K x ld: log of the consensus */
    double *acc;     /* ld */
    uint32_t *tally; /* K, zero between items */
} hitl__qbc_scratch;
int hitl__qbc_scratch_init(hitl__qbc_scratch *s, size_t M, size_t K, size_t rows);
void hitl__qbc_scratch_release(hitl__qbc_scratch *s);   /* accepts a zeroed one */
/* The parts of an ensemble block (HITL__WANT_*) a measure needs. */
int hitl__qbc_want(int kind);
/* val[i] (i < b->n; VOTE_ENTROPY writes up to b->ld) = the measure `kind`
 * of item i of the block. */
void hitl__qbc_measure(double *val, hitl__qbc_scratch *s, int kind,
                       const hitl__ensemble_block *b);
/* The largest value of a measure, which scales it to [0, 1]. */
double hitl__qbc_max(int kind, size_t M, size_t K);

/* ---- measure.c: every item's measure, streamed ---------------------------------- */

/* Receives the measure of items first .. first+n-1 (labeled ones too) in
 * val[0 .. n-1]; returns 0 or a status after setting its message. */
typedef int (*hitl__values_fn)(void *state, size_t first, size_t n, const double *val);
/* One pass of src over the pool: the measure `kind` (an uncertainty kind of
 * the model or of the committee's consensus, or a QBC measure of the
 * committee), raw or `scaled` to [0, 1], to consume(states[w], ...) with
 * w < hitl__source_workers().  The caller has checked src. */
int hitl__measure_run(const hitl__source *src, int kind, int scaled, const hitl_pool *pool,
                      hitl__values_fn consume, void **states, const char *fn);
/* The `keep` best UNLABELED items into t (initialised here; sorted best
 * first; t->key holds each one's measure): largest first, except raw
 * MARGIN, smallest first.  On failure t holds nothing to free. */
int hitl__measure_top(hitl__topk *t, const hitl__source *src, int kind, int scaled,
                      const hitl_pool *pool, size_t keep, const char *fn);
/* u[i] = the measure of every UNLABELED item i (other entries untouched). */
int hitl__measure_into(float *u, const hitl__source *src, int kind, int scaled,
                       const hitl_pool *pool, const char *fn);

/* ---- diversity.c ------------------------------------------------------------------ */

/* Parameters of the diversity kinds.  Every hitl_strategy holds one;
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

/* HITL_STRATEGY_DEFAULT is HYBRID with these (see hitl.h and bench/eval.c). */
#define HITL__DEFAULT_BETA 10.0
#define HITL__DEFAULT_SELECT HITL_COLD_START_KMEANSPP

/* One query of a diversity kind.  With a committee, model is NULL and the
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
/* The cold-start batch (HITL_PARAM_COLD_START), whatever q->kind: the first
 * batch of any strategy while nothing is labeled and no model or committee
 * can score.  Needs neither. */
int hitl__cold_start_query(size_t *count, size_t *indices, double *scores,
                           const hitl__query *q);

#endif /* HITL_SELECT_H */
