/*
 * committee: query-by-committee (issue 3).  M members, built-in logistic
 * regressions owned by the committee and/or the caller's models; each is fitted
 * on a seeded bootstrap resample of the labeled items (or on all of them), and
 * the pool is scored for all members in one blocked pass: the built-in
 * members' weights are stacked into one d x (M_lin K) matrix, so one GEMM per
 * block serves every linear member.
 *
 * Disagreement of the members' class distributions P_m (m = 1..M) about an
 * item, with consensus pbar = 1/M sum_m P_m and H(p) = -sum_c p_c log p_c:
 *   VOTE_ENTROPY       H(V / M), V_c = members whose most probable class is c
 *   CONSENSUS_ENTROPY  H(pbar)
 *   KL                 1/M sum_m KL(P_m || pbar)      (McCallum & Nigam 1998)
 *   BALD               H(pbar) - 1/M sum_m H(P_m)     (Houlsby et al. 2011)
 * KL and BALD are equal in exact arithmetic (the mean divergence to the mean
 * is the entropy of the mean minus the mean entropy); each is computed by its
 * own formula.
 */
#include "internal.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_MEMBERS 4096
#define MAX_CLASSES 65536
#define MAX_THREADS 1024
#define MAX_BLOCK_ROWS 16777216.0 /* 2^24 */
#define MAX_EXACT_INT 9007199254740992.0 /* 2^53 */

typedef struct slot {
    hitl_model *model;
    int owned;
} slot;

struct hitl_committee {
    size_t dim, n_classes;
    slot *m;
    size_t n, cap;
    int bootstrap;
    uint64_t seed;
    size_t threads, block_rows;
};

/* ------------------------------------------------------------------------- */
/* Measures, a block of items at a time                                       */
/* ------------------------------------------------------------------------- */

/*
 * A block of n items is class-major: P[(m K + c) ld + i] is member m's value
 * for class c of item i, with ld = round16(n) and columns n .. ld-1 repeating
 * column n-1 (finite values that are computed and ignored), so every loop
 * below runs over items and vectorises.  Logs are float32 (hitl__vlogf, with
 * log 0 taken as log FLT_MIN, so 0 log 0 = 0); sums over classes and members
 * are double.
 */
typedef struct scratch {
    size_t M, K, ld;
    float *Z;        /* M (K-1) x ld: built-in members' logits, class 0 = 0 */
    float *P;        /* M K x ld: the table of probabilities */
    float *LP;       /* M K x ld: log P */
    float *pb, *lpb; /* K x ld: the consensus and its log */
    double *acc;     /* ld */
    double *val;     /* ld: the measure of each item */
    uint32_t *votes; /* M x ld: each member's most probable class */
    uint32_t *tally; /* K, zero between items */
    float *row;      /* K: one item's consensus */
    float *sf;       /* ld: one core score per item */
    float *rm;       /* rows x K: a caller model's block, row-major */
} scratch;

/* One allocation for every buffer of a block of up to `rows` items. */
static int scratch_init(scratch *s, size_t M, size_t K, size_t rows)
{
    size_t ld = HITL__ROUND16(rows), C = M * K;
    size_t floats = 3 * C * ld + 2 * K * ld + K + ld + rows * K;
    size_t bytes = floats * sizeof(float) + 2 * ld * sizeof(double) +
                   (M * ld + K) * sizeof(uint32_t);
    memset(s, 0, sizeof *s);
    double *mem = hitl__malloc(bytes);         /* doubles first: aligned */
    if (!mem)
        return HITL_ENOMEM;
    s->M = M;
    s->K = K;
    s->ld = ld;
    s->acc = mem;
    s->val = mem + ld;
    float *f = (float *)(void *)(s->val + ld);
    s->Z = f;
    f += C * ld;
    s->P = f;
    s->LP = f + C * ld;
    s->pb = s->LP + C * ld;
    s->lpb = s->pb + K * ld;
    s->row = s->lpb + K * ld;
    s->sf = s->row + K;
    s->rm = s->sf + ld;
    s->votes = (uint32_t *)(void *)(s->rm + rows * K);
    s->tally = s->votes + M * ld;
    memset(s->tally, 0, K * sizeof *s->tally);
    return HITL_OK;
}

static void scratch_release(scratch *s)
{
    void *start = s->acc;
    memset(s, 0, sizeof *s);
    hitl__free(start);
}

/* n rows of K (row-major) into K class-major rows of ld columns, columns
 * n .. ld-1 repeating column n-1. */
static void to_class_major(float *P, size_t ld, const float *R, size_t n, size_t K)
{
    for (size_t c = 0; c < K; c++) {
        float *dst = P + c * ld;
        for (size_t i = 0; i < n; i++)
            dst[i] = R[i * K + c];
        for (size_t i = n; i < ld; i++)
            dst[i] = dst[n - 1];
    }
}

/* pb = (1/M) sum_m P_m over every column of the block. */
static void consensus_cm(scratch *s)
{
    size_t K = s->K, ld = s->ld;
    float inv = 1.0f / (float)s->M;
    memcpy(s->pb, s->P, K * ld * sizeof *s->pb);
    for (size_t m = 1; m < s->M; m++)
        for (size_t j = 0; j < K * ld; j++)
            s->pb[j] += s->P[m * K * ld + j];
    for (size_t j = 0; j < K * ld; j++)
        s->pb[j] *= inv;
}

/* v[i] = the class of largest value among `rows` class-major rows of ld
 * columns (ties to the lower class).  With implicit0, row r is class r+1 and
 * class 0 has value 0 (a built-in member's logits relative to class 0).
 * Returns 0 unless a value is NaN or +-Inf (x - x is NaN for exactly those;
 * summed per step of G vectors, so no chain runs through the whole call).
 * In vectors of sixteen items (GCC's vector extension: the same lanes on
 * every path), G of them side by side so that G chains of compares overlap;
 * G = 4, then 1 for the rest (ld is a multiple of 16).  Compiled for AVX-512
 * and AVX2 too, the best picked at load time. */
typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

#define ARGMAX_STEP(G)                                                         \
    for (; i0 + 16 * (G) <= ld; i0 += 16 * (G)) {                              \
        vf16 best[G], nan[G];                                                  \
        vi16 arg[G];                                                           \
        _Pragma("GCC unroll 4") for (int g = 0; g < (G); g++) {                \
            best[g] = zero;                                                    \
            if (!implicit0)                                                    \
                memcpy(&best[g], X + i0 + 16 * g, sizeof best[g]);             \
            arg[g] = (vi16){ 0 };                                              \
            nan[g] = zero;                                                     \
        }                                                                      \
        for (size_t c = implicit0 ? 0 : 1; c < rows; c++) {                    \
            vi16 cls = (vi16){ 0 } + (int32_t)(c + (implicit0 != 0));          \
            _Pragma("GCC unroll 4") for (int g = 0; g < (G); g++) {            \
                vf16 x;                                                        \
                memcpy(&x, X + c * ld + i0 + 16 * g, sizeof x);                \
                vi16 gt = x > best[g];                                         \
                arg[g] = (arg[g] & ~gt) | (cls & gt);                          \
                best[g] = (vf16)(((vi16)best[g] & ~gt) | ((vi16)x & gt));      \
                nan[g] += x - x;                                               \
            }                                                                  \
        }                                                                      \
        _Pragma("GCC unroll 4") for (int g = 0; g < (G); g++) {                \
            memcpy(v + i0 + 16 * g, &arg[g], sizeof arg[g]);                   \
            bad += nan[g];                                                     \
        }                                                                      \
    }

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static int argmax_cm(uint32_t *v, const float *X, size_t rows, size_t ld, int implicit0)
{
    const vf16 zero = { 0 };
    vf16 bad = zero;         /* sums of x - x: 0, or NaN once one x is not finite */
    size_t i0 = 0;
    ARGMAX_STEP(4)
    ARGMAX_STEP(1)
    int any = 0;
    for (int r = 0; r < 16; r++)
        any |= bad[r] != 0.0f;
    return any;
}
#undef ARGMAX_STEP

/* Vote entropy from S = sum_c V_c log V_c: log M - S / M (rounding can leave
 * a tiny negative value where it is 0: clamped). */
static inline double vote_h(double S, size_t M, double logM)
{
    double h = logM - S / (double)M;
    return h > 0 ? h : 0;
}

/* val[i] = the vote entropy of item i of a block, with S computed as
 * sum_m log V_{v_m} (each member adds the log of the size of its class's
 * vote) and V_{v_m} counted by comparing member m's vote with every
 * member's: M^2 compares for sixteen items at a time, which vectorise (a
 * tally per item does not, and cost more than the votes themselves).  For
 * M <= PAIRWISE_MAX; lg[t] = log t. */
#define PAIRWISE_MAX 32

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void vote_pairwise(double *val, const uint32_t *votes, size_t ld, size_t M,
                          const double *lg, double logM)
{
    for (size_t i0 = 0; i0 < ld; i0 += 16) {
        double S[16] = { 0 };
        for (size_t m = 0; m < M; m++) {
            const uint32_t *vm = votes + m * ld + i0;
            int32_t cnt[16] = { 0 };
            for (size_t q = 0; q < M; q++)
                for (int r = 0; r < 16; r++)
                    cnt[r] += vm[r] == votes[q * ld + i0 + r];
            for (int r = 0; r < 16; r++)
                S[r] += lg[cnt[r]];
        }
        for (int r = 0; r < 16; r++)
            val[i0 + r] = vote_h(S[r], M, logM);
    }
}

/* The same, item by item with a tally of the classes (any M). */
static void vote_tally(double *val, const uint32_t *votes, size_t ld, size_t n, size_t M,
                       uint32_t *tally, const double *lg, double logM)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t m = 0; m < M; m++)
            tally[votes[m * ld + i]]++;
        double S = 0;
        for (size_t m = 0; m < M; m++)
            S += lg[tally[votes[m * ld + i]]];
        for (size_t m = 0; m < M; m++)     /* cleared for the next item */
            tally[votes[m * ld + i]] = 0;
        val[i] = vote_h(S, M, logM);
    }
}

/* VOTE_ENTROPY: H(V/M) = log M - (1/M) sum_c V_c log V_c, V_c counting the
 * members whose most probable class is c.  The first n_voted members' votes
 * are already in s->votes (the built-in members', from their logits: see
 * linear_votes); the others' are taken from their probabilities in P. */
static void vote_entropy(scratch *s, size_t n, size_t n_voted)
{
    size_t M = s->M, K = s->K, ld = s->ld;
    for (size_t m = n_voted; m < M; m++)    /* probabilities: finite, checked */
        (void)argmax_cm(s->votes + m * ld, s->P + m * K * ld, K, ld, 0);
    double lg[MAX_MEMBERS + 1], logM = log((double)M);
    for (size_t t = 0; t <= M; t++)
        lg[t] = t > 1 ? log((double)t) : 0;
    if (M <= PAIRWISE_MAX)
        vote_pairwise(s->val, s->votes, ld, M, lg, logM);
    else
        vote_tally(s->val, s->votes, ld, n, M, s->tally, lg, logM);
}

/* The measure `kind` of the n items of a block into s->val: P holds every
 * member's probabilities, except that for VOTE_ENTROPY the first n_lin
 * members' votes are in s->votes instead. */
static void measure_block(scratch *s, int kind, size_t n, size_t n_lin)
{
    size_t M = s->M, K = s->K, ld = s->ld, C = M * K;
    if (kind == HITL_STRATEGY_QBC_VOTE_ENTROPY) {
        vote_entropy(s, n, n_lin);
        return;
    }
    consensus_cm(s);
    memcpy(s->lpb, s->pb, K * ld * sizeof *s->lpb);
    hitl__vlogf(s->lpb, K * ld);
    if (kind != HITL_STRATEGY_QBC_KL) {      /* H(pbar) */
        for (size_t i = 0; i < n; i++)
            s->val[i] = 0;
        for (size_t c = 0; c < K; c++)
            for (size_t i = 0; i < n; i++)
                s->val[i] -= (double)s->pb[c * ld + i] * (double)s->lpb[c * ld + i];
        if (kind == HITL_STRATEGY_QBC_CONSENSUS_ENTROPY)
            return;
    }
    memcpy(s->LP, s->P, C * ld * sizeof *s->LP);
    hitl__vlogf(s->LP, C * ld);
    for (size_t i = 0; i < n; i++)
        s->acc[i] = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t c = 0; c < K; c++) {
            const float *p = s->P + (m * K + c) * ld, *lp = s->LP + (m * K + c) * ld;
            const float *lq = s->lpb + c * ld;
            if (kind == HITL_STRATEGY_QBC_KL)    /* sum P (log P - log pbar) */
                for (size_t i = 0; i < n; i++)
                    s->acc[i] += (double)p[i] * ((double)lp[i] - (double)lq[i]);
            else                                 /* sum P log P = -sum H(P_m) */
                for (size_t i = 0; i < n; i++)
                    s->acc[i] += (double)p[i] * (double)lp[i];
        }
    for (size_t i = 0; i < n; i++) {
        double v = kind == HITL_STRATEGY_QBC_KL ? s->acc[i] / (double)M
                                                : s->val[i] + s->acc[i] / (double)M;
        s->val[i] = v > 0 ? v : 0;
    }
}

int hitl__is_qbc_kind(int kind)
{
    return kind >= HITL_STRATEGY_QBC_VOTE_ENTROPY && kind <= HITL_STRATEGY_QBC_BALD;
}

/* The largest value of a measure, which scales it to [0, 1]. */
static double disagreement_max(int kind, size_t M, size_t K)
{
    double lm = log((double)M), lk = log((double)K);
    return kind == HITL_STRATEGY_QBC_CONSENSUS_ENTROPY ? lk : lm < lk ? lm : lk;
}

#define TABLE_BLOCK 256 /* items per block in hitl_disagreement */

int hitl_disagreement(double *scores, const float *proba, size_t n_items, size_t n_members,
                      size_t n_classes, hitl_strategy_kind kind)
{
    if (!scores && n_items)
        return hitl__fail(HITL_EINVAL, "scores is NULL");
    if (!proba && n_items)
        return hitl__fail(HITL_EINVAL, "proba is NULL");
    if (n_members == 0 || n_members > MAX_MEMBERS)
        return hitl__fail(HITL_EINVAL, "n_members %zu is not in [1, %d]", n_members,
                          MAX_MEMBERS);
    if (n_classes < 2 || n_classes > MAX_CLASSES)
        return hitl__fail(HITL_EINVAL, "n_classes %zu is not in [2, %d]", n_classes,
                          MAX_CLASSES);
    if (!hitl__is_qbc_kind(kind))
        return hitl__fail(HITL_EINVAL, "kind %d is not a HITL_STRATEGY_QBC_* measure",
                          (int)kind);
    size_t M = n_members, K = n_classes, MK = M * K;
    if (n_items > SIZE_MAX / MK)
        return hitl__fail(HITL_EINVAL, "n_items x n_members x n_classes overflows");
    /* Validate everything before writing anything. */
    for (size_t r = 0; r < n_items * M; r++) {
        const float *p = proba + r * K;
        double sum = 0;
        for (size_t c = 0; c < K; c++) {
            if (!isfinite(p[c]))
                return hitl__fail(HITL_ENUMERIC, "proba[item %zu][member %zu][class %zu] "
                                  "is %g", r / M, r % M, c, (double)p[c]);
            if (p[c] < 0)
                return hitl__fail(HITL_EINVAL, "proba[item %zu][member %zu][class %zu] = "
                                  "%g is negative", r / M, r % M, c, (double)p[c]);
            sum += p[c];
        }
        if (!(sum > 0))
            return hitl__fail(HITL_EINVAL, "proba[item %zu][member %zu] sums to 0", r / M,
                              r % M);
    }
    if (n_items == 0)
        return HITL_OK;
    scratch s;
    size_t rows = n_items < TABLE_BLOCK ? n_items : TABLE_BLOCK;
    if (scratch_init(&s, M, K, rows) != HITL_OK)
        return hitl__fail(HITL_ENOMEM, "out of memory for blocks of %zu x %zu x %zu", rows,
                          M, K);
    for (size_t i0 = 0; i0 < n_items; i0 += rows) {
        size_t n = n_items - i0 < rows ? n_items - i0 : rows;
        for (size_t m = 0; m < M; m++) {     /* member m's rows, each / its sum */
            for (size_t i = 0; i < n; i++) {
                const float *p = proba + ((i0 + i) * M + m) * K;
                double sum = 0;
                for (size_t c = 0; c < K; c++)
                    sum += p[c];
                for (size_t c = 0; c < K; c++)
                    s.rm[i * K + c] = (float)(p[c] / sum);
            }
            to_class_major(s.P + m * K * s.ld, s.ld, s.rm, n, K);
        }
        measure_block(&s, kind, n, 0);   /* inputs checked finite above */
        memcpy(scores + i0, s.val, n * sizeof *scores);
    }
    scratch_release(&s);
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Handle                                                                     */
/* ------------------------------------------------------------------------- */

int hitl_committee_create(hitl_committee **out, size_t dim, size_t n_classes)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    if (dim == 0)
        return hitl__fail(HITL_EINVAL, "dim is 0");
    if (n_classes < 2 || n_classes > MAX_CLASSES)
        return hitl__fail(HITL_EINVAL, "n_classes %zu is not in [2, %d]", n_classes,
                          MAX_CLASSES);
    hitl_committee *c = hitl__calloc(1, sizeof *c);
    if (!c)
        return hitl__fail(HITL_ENOMEM, "out of memory for the committee");
    c->dim = dim;
    c->n_classes = n_classes;
    c->bootstrap = 1;
    c->block_rows = 2048;
    hitl__handle_acquire();
    *out = c;
    return HITL_OK;
}

void hitl_committee_free(hitl_committee *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (c->m[i].owned)
            hitl_model_free(c->m[i].model);
    hitl__free(c->m);
    hitl__free(c);
    hitl__handle_release();
}

static int grow(hitl_committee *c, const char *fn)
{
    if (c->n == MAX_MEMBERS)
        return hitl__fail_in(HITL_EINVAL, fn, "the committee already has %d members",
                             MAX_MEMBERS);
    if (c->n < c->cap)
        return HITL_OK;
    size_t cap = c->cap ? 2 * c->cap : 8;
    slot *m = hitl__realloc(c->m, cap * sizeof *m);
    if (!m)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu members", cap);
    c->m = m;
    c->cap = cap;
    return HITL_OK;
}

int hitl_committee_add_logreg(hitl_committee *c, double l2)
{
    if (!c)
        return hitl__fail(HITL_EINVAL, "committee is NULL");
    if (!(l2 >= 0 && isfinite(l2)))
        return hitl__fail(HITL_EINVAL, "l2 = %g is not finite and >= 0", l2);
    int st = grow(c, __func__);
    if (st != HITL_OK)
        return st;
    hitl_model *m;
    st = hitl_model_create_logreg(&m, c->dim, c->n_classes);
    if (st != HITL_OK)
        return st == HITL_ENOMEM ? hitl__fail(HITL_ENOMEM, "out of memory for a member")
                                 : st;
    st = hitl_model_set_param(m, HITL_PARAM_L2, l2);
    if (st != HITL_OK) {
        hitl_model_free(m);
        return st;
    }
    c->m[c->n++] = (slot){ m, 1 };
    return HITL_OK;
}

int hitl_committee_add_model(hitl_committee *c, hitl_model *model)
{
    if (!c)
        return hitl__fail(HITL_EINVAL, "committee is NULL");
    if (!model)
        return hitl__fail(HITL_EINVAL, "model is NULL");
    if (model->dim != c->dim || model->n_classes != c->n_classes)
        return hitl__fail(HITL_EINVAL,
                          "the model is %zu features x %zu classes, the committee %zu x %zu",
                          model->dim, model->n_classes, c->dim, c->n_classes);
    for (size_t i = 0; i < c->n; i++)
        if (c->m[i].model == model)
            return hitl__fail(HITL_EINVAL, "the model is already member %zu", i);
    int st = grow(c, __func__);
    if (st != HITL_OK)
        return st;
    c->m[c->n++] = (slot){ model, 0 };
    return HITL_OK;
}

int hitl_committee_size(size_t *n, const hitl_committee *c)
{
    if (!n || !c)
        return hitl__fail(HITL_EINVAL, "%s is NULL", n ? "committee" : "n");
    *n = c->n;
    return HITL_OK;
}

int hitl_committee_member(hitl_model **member, const hitl_committee *c, size_t i)
{
    if (!member || !c)
        return hitl__fail(HITL_EINVAL, "%s is NULL", member ? "committee" : "member");
    if (i >= c->n)
        return hitl__fail(HITL_EINVAL, "member %zu of a committee of %zu", i, c->n);
    *member = c->m[i].model;
    return HITL_OK;
}

static const char *param_invalid(hitl_param p, double v)
{
    switch (p) {
    case HITL_PARAM_COMMITTEE_BOOTSTRAP:
        return v == 0 || v == 1 ? NULL : "is not 0 or 1";
    case HITL_PARAM_COMMITTEE_SEED:
        return v >= 0 && v <= MAX_EXACT_INT && v == floor(v) ? NULL
               : "is not an integer in [0, 2^53]";
    case HITL_PARAM_COMMITTEE_THREADS:
        return v >= 0 && v <= MAX_THREADS && v == floor(v) ? NULL
               : "is not an integer in [0, 1024]";
    case HITL_PARAM_COMMITTEE_BLOCK_ROWS:
        return v >= 16 && v <= MAX_BLOCK_ROWS && v == floor(v) ? NULL
               : "is not an integer in [16, 2^24]";
    default:
        return "is not a committee parameter (3xx)";
    }
}

int hitl_committee_set_param(hitl_committee *c, hitl_param param, double value)
{
    if (!c)
        return hitl__fail(HITL_EINVAL, "committee is NULL");
    const char *why = param_invalid(param, value);
    if (why)
        return hitl__fail(HITL_EINVAL, "parameter %d = %g %s", (int)param, value, why);
    switch (param) {
    case HITL_PARAM_COMMITTEE_BOOTSTRAP: c->bootstrap = (int)value; break;
    case HITL_PARAM_COMMITTEE_SEED: c->seed = (uint64_t)value; break;
    case HITL_PARAM_COMMITTEE_THREADS: c->threads = (size_t)value; break;
    default: c->block_rows = (size_t)value; break;
    }
    return HITL_OK;
}

int hitl_committee_get_param(double *value, const hitl_committee *c, hitl_param param)
{
    if (!value || !c)
        return hitl__fail(HITL_EINVAL, "%s is NULL", value ? "committee" : "value");
    switch (param) {
    case HITL_PARAM_COMMITTEE_BOOTSTRAP: *value = c->bootstrap; break;
    case HITL_PARAM_COMMITTEE_SEED: *value = (double)c->seed; break;
    case HITL_PARAM_COMMITTEE_THREADS: *value = (double)c->threads; break;
    case HITL_PARAM_COMMITTEE_BLOCK_ROWS: *value = (double)c->block_rows; break;
    default:
        return hitl__fail(HITL_EINVAL, "parameter %d is not a committee parameter (3xx)",
                          (int)param);
    }
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Fitting                                                                    */
/* ------------------------------------------------------------------------- */

/* A copy of a built-in model (parameters, solution, warm-start state), made
 * through its serialized form so no field is forgotten. */
static int clone_logreg(hitl_model **out, const hitl_model *m)
{
    size_t size, written;
    int st = hitl_model_save_size(&size, m);
    if (st != HITL_OK)
        return st;
    void *buf = hitl__malloc(size);
    if (!buf)
        return HITL_ENOMEM;
    st = hitl_model_save(&written, buf, size, m);
    if (st == HITL_OK)
        st = hitl_model_load(out, buf, written);
    hitl__free(buf);
    return st;
}

/*
 * The distinct items of a bootstrap resample of the n labeled items lab[]:
 * n draws with replacement, uniform, from the member's own stream of the
 * committee seed.  Each drawn item enters a scratch pool once, with weight
 * (times drawn) x (its own weight), which is the same objective as repeating
 * it.  The rows are copied into *X, which the scratch pool borrows.
 */
static int resample(hitl_pool **out, float **X, const hitl_pool *pool, const size_t *lab,
                    size_t n, uint32_t *count, hitl__rng *r)
{
    size_t d = pool->dim, distinct = 0;
    memset(count, 0, n * sizeof *count);
    for (size_t t = 0; t < n; t++) {
        size_t j = (size_t)(hitl__rng_unit(r) * (double)n);
        count[j < n ? j : n - 1]++;
    }
    for (size_t j = 0; j < n; j++)
        distinct += count[j] > 0;
    *out = NULL;
    *X = hitl__malloc(distinct * d * sizeof **X);
    if (!*X)
        return HITL_ENOMEM;
    for (size_t j = 0, q = 0; j < n; j++)
        if (count[j])
            memcpy(*X + q++ * d, hitl__pool_row(pool, lab[j]), d * sizeof **X);
    hitl_pool *p = NULL;
    int st = hitl_pool_create(&p, d);
    if (st == HITL_OK)
        st = hitl_pool_add_borrowed(p, *X, distinct, d, NULL);
    for (size_t j = 0, q = 0; st == HITL_OK && j < n; j++) {
        if (!count[j])
            continue;
        st = hitl_pool_set_label(p, q, pool->label[lab[j]]);
        if (st == HITL_OK)
            st = hitl_pool_set_weight(p, q, (float)count[j] * pool->weight[lab[j]]);
        q++;
    }
    if (st != HITL_OK) {
        hitl_pool_free(p);
        hitl__free(*X);
        *X = NULL;
        return st;
    }
    *out = p;
    return HITL_OK;
}

/* Fit member j (built-in: a clone of it, returned in *staged). */
static int fit_member(hitl_model **staged, const hitl_committee *c, size_t j,
                      const hitl_pool *pool, const size_t *lab, size_t n_lab,
                      uint32_t *count)
{
    hitl_model *target = c->m[j].model;
    hitl_pool *sample = NULL;
    float *X = NULL;
    int st = HITL_OK;
    *staged = NULL;
    if (target->kind == HITL__MODEL_LOGREG) {
        st = clone_logreg(staged, target);
        if (st != HITL_OK)
            return hitl__fail(HITL_ENOMEM, "out of memory for a copy of member %zu", j);
        target = *staged;
    }
    if (c->bootstrap) {
        hitl__rng r;
        hitl__rng_seed(&r, c->seed, j);
        st = resample(&sample, &X, pool, lab, n_lab, count, &r);
        if (st == HITL_ENOMEM)
            hitl__fail(st, "out of memory for the bootstrap sample of member %zu", j);
    }
    if (st == HITL_OK)
        st = hitl_model_fit(target, sample ? sample : pool);
    if (st != HITL_OK) {
        /* name the member in front of the detail the failing call left */
        char why[256];
        snprintf(why, sizeof why, "%s", hitl_error_message());
        hitl__fail(st, "member %zu: %s", j, why);
    }
    hitl_pool_free(sample);
    hitl__free(X);
    if (st != HITL_OK) {
        hitl_model_free(*staged);
        *staged = NULL;
    }
    return st;
}

/* Move the fitted clone's state into the member's own handle (whose address
 * the caller may hold) and free the old state with the clone. */
static void commit_member(hitl_model *member_model, hitl_model *staged)
{
    hitl_model old = *member_model;
    *member_model = *staged;
    *staged = old;
    hitl_model_free(staged);
}

int hitl_committee_fit(hitl_committee *c, const hitl_pool *pool)
{
    if (!c)
        return hitl__fail(HITL_EINVAL, "committee is NULL");
    if (!pool)
        return hitl__fail(HITL_EINVAL, "pool is NULL");
    if (pool->dim != c->dim)
        return hitl__fail(HITL_EINVAL, "pool dim %zu differs from committee dim %zu",
                          pool->dim, c->dim);
    if (c->n == 0)
        return hitl__fail(HITL_ESTATE, "the committee has no member");
    size_t n_lab = pool->count[HITL_ITEM_LABELED];
    if (n_lab == 0)
        return hitl__fail(HITL_ESTATE, "the pool has no labeled item (of %zu items)", pool->n);
    size_t *lab = hitl__malloc(n_lab * sizeof *lab);
    uint32_t *count = hitl__malloc(n_lab * sizeof *count);
    hitl_model **staged = hitl__calloc(c->n, sizeof *staged);
    int st = HITL_OK;
    if (!lab || !count || !staged)
        st = hitl__fail(HITL_ENOMEM, "out of memory for %zu labeled items", n_lab);
    for (size_t i = 0, j = 0; st == HITL_OK && i < pool->n; i++)
        if (pool->state[i] == HITL_ITEM_LABELED)
            lab[j++] = i;
    for (size_t j = 0; st == HITL_OK && j < c->n; j++)
        st = fit_member(&staged[j], c, j, pool, lab, n_lab, count);
    for (size_t j = 0; staged && j < c->n; j++) {
        if (st == HITL_OK && staged[j])
            commit_member(c->m[j].model, staged[j]);
        else
            hitl_model_free(staged[j]);
    }
    hitl__free(lab);
    hitl__free(count);
    hitl__free(staged);
    return st;
}

/* ------------------------------------------------------------------------- */
/* The scoring pass                                                           */
/* ------------------------------------------------------------------------- */

/*
 * The rows are cut into blocks that never cross a batch of the pool; worker
 * threads take blocks in turn.  For a block X (n x d) one call of the stacked
 * linear kernel (hitl__linear_block) computes the logits of every built-in
 * member side by side, class-major: the members' coefficients are stacked
 * into one d x (M_lin K) layer.  Caller models predict the block through
 * hitl_model_predict (which checks and renormalises their output).  The
 * M K x n table is then reduced over members and classes while it is in
 * cache.  Vote entropy needs only each member's most probable class, so it
 * skips the softmax.  Every item's value depends on its row alone, so the
 * result is the same for any thread count and block size.  Blocks are at most
 * HITL_PARAM_COMMITTEE_BLOCK_ROWS rows, fewer when M K is large, so that a
 * worker's buffers stay near 8 MiB.
 */
#define BLOCK_FLOATS ((size_t)1 << 20)

typedef struct block {
    const float *rows;
    size_t first, n, stride;
} block;

enum { OUT_EMIT, OUT_CONSENSUS };

typedef struct pass {
    const hitl_committee *c;
    const hitl_pool *pool;      /* OUT_EMIT: whose UNLABELED items are emitted */
    size_t M, K, n_lin, rows;   /* rows: per block */
    size_t *order;              /* table slot q holds member order[q] */
    float *w;                   /* the stacked layer: d x ldw weights, ldw bias */
    hitl__linear lin;
    block *blocks;
    size_t n_blocks;
    int mode, kind, raw;
    hitl__emit_fn emit;
    void **states;
    float *proba;               /* OUT_CONSENSUS: row-major, row i - first0 */
    size_t first0;
    const char *fn;
    pthread_mutex_t lock;       /* guards everything below */
    size_t next;
    int status;
    size_t fail_at;
    char why[512];
} pass;

/* Keep the failure of the lowest block, so the message does not depend on
 * thread timing. */
static void pass_fail(pass *ps, int st, size_t at, const char *why)
{
    pthread_mutex_lock(&ps->lock);
    if (ps->status == HITL_OK || at < ps->fail_at) {
        ps->status = st;
        ps->fail_at = at;
        snprintf(ps->why, sizeof ps->why, "%s", why);
    }
    pthread_mutex_unlock(&ps->lock);
}

/* 1 + the first of the first n columns of `rows` class-major rows that holds
 * a NaN or +Inf logit (what hitl__softmax_cm refuses; -Inf is a probability
 * of 0), or 0. */
static size_t first_overflow(const float *Z, size_t rows, size_t ld, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < rows; r++)
            if (isnan(Z[r * ld + i]) || Z[r * ld + i] == INFINITY)
                return i + 1;
    return 0;
}

/* The built-in members' votes for a block (vote entropy needs no more of
 * them), VOTE_ROWS rows at a time so that a slice's logits are still in L1
 * cache when their argmax reads them.  Returns 0, or 1 + the first row whose
 * logits hold a NaN or +Inf. */
#define VOTE_ROWS 128

static size_t linear_votes(scratch *s, const pass *ps, const block *bk)
{
    size_t K = ps->K, ld = s->ld;
    for (size_t r0 = 0; r0 < bk->n; r0 += VOTE_ROWS) {
        size_t m = bk->n - r0 < VOTE_ROWS ? bk->n - r0 : VOTE_ROWS;
        size_t m16 = HITL__ROUND16(m);   /* r0 + m16 <= ld: r0 is a multiple of 16 */
        hitl__linear_block(s->Z, m16, &ps->lin, bk->rows + r0 * bk->stride, m, bk->stride);
        int bad = 0;
        for (size_t q = 0; q < ps->n_lin; q++)
            bad |= argmax_cm(s->votes + q * ld + r0, s->Z + q * (K - 1) * m16, K - 1, m16, 1);
        if (bad)
            return r0 + first_overflow(s->Z, ps->lin.C, m16, m);
    }
    return 0;
}

static int run_block(pass *ps, size_t w, const block *bk, scratch *s)
{
    /* This block's leading dimension: the buffers hold round16(block rows)
     * columns, and a short block uses (and fills) only round16(n) of them. */
    s->ld = HITL__ROUND16(bk->n);
    size_t K = ps->K, n = bk->n, ld = s->ld;
    char why[512];
    int votes_only = ps->mode == OUT_EMIT && ps->kind == HITL_STRATEGY_QBC_VOTE_ENTROPY;
    if (ps->n_lin && votes_only) {
        size_t at = linear_votes(s, ps, bk);
        if (at) {                     /* NaN or +Inf, as softmax refuses */
            snprintf(why, sizeof why, "row %zu: the members' logits overflow float32 "
                     "(features too large)", bk->first + at - 1);
            pass_fail(ps, HITL_ENUMERIC, bk->first, why);
            return -1;
        }
    } else if (ps->n_lin) {
        hitl__linear_block(s->Z, ld, &ps->lin, bk->rows, n, bk->stride);
        for (size_t q = 0; q < ps->n_lin; q++) {
            float *p = s->P + q * K * ld;           /* class 0's logit is 0 */
            memset(p, 0, ld * sizeof *p);
            memcpy(p + ld, s->Z + q * (K - 1) * ld, (K - 1) * ld * sizeof *p);
            size_t bad = hitl__softmax_cm(p, ld, n, K);
            if (bad) {
                snprintf(why, sizeof why, "row %zu: member %zu's logits overflow float32 "
                         "(features too large)", bk->first + bad - 1, ps->order[q]);
                pass_fail(ps, HITL_ENUMERIC, bk->first, why);
                return -1;
            }
        }
    }
    for (size_t q = ps->n_lin; q < ps->M; q++) {
        int st = hitl_model_predict(s->rm, ps->c->m[ps->order[q]].model, bk->rows, n,
                                    bk->stride);
        if (st != HITL_OK) {
            snprintf(why, sizeof why, "member %zu: %s", ps->order[q], hitl_error_message());
            pass_fail(ps, st, bk->first, why);
            return -1;
        }
        to_class_major(s->P + q * K * s->ld, s->ld, s->rm, n, K);
    }

    if (ps->mode == OUT_CONSENSUS) {
        consensus_cm(s);
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < K; c++)
                ps->proba[(bk->first + i - ps->first0) * K + c] = s->pb[c * s->ld + i];
        return 0;
    }
    if (!hitl__is_qbc_kind(ps->kind)) {          /* a core score of the consensus */
        consensus_cm(s);
        hitl__uncertainty_block(ps->kind, s->sf, s->pb, s->ld, K, s->LP);
        for (size_t i = 0; i < n; i++)
            s->val[i] = ps->raw ? s->sf[i] : hitl__informativeness(ps->kind, s->sf[i], K);
    } else {
        measure_block(s, ps->kind, n, ps->n_lin);
        double top = disagreement_max(ps->kind, ps->M, K);
        if (!ps->raw)
            for (size_t i = 0; i < n; i++)
                s->val[i] = top > 0 ? s->val[i] / top : 0;
    }
    for (size_t i = 0; i < n; i++)
        if (ps->pool->state[bk->first + i] == HITL_ITEM_UNLABELED)
            ps->emit(ps->states[w], bk->first + i, s->val[i]);
    return 0;
}

typedef struct worker {
    pass *ps;
    size_t w;
    scratch s;
    pthread_t thread;
} worker;

static void *work(void *arg)
{
    worker *wk = arg;
    pass *ps = wk->ps;
    for (;;) {
        pthread_mutex_lock(&ps->lock);
        size_t j = ps->status == HITL_OK ? ps->next++ : ps->n_blocks;
        pthread_mutex_unlock(&ps->lock);
        if (j >= ps->n_blocks || run_block(ps, wk->w, &ps->blocks[j], &wk->s) != 0)
            break;
    }
    return NULL;
}

/* Blocks over rows [first, first+n) of the pool, or over caller rows X. */
static int make_blocks(pass *ps, const hitl_pool *pool, const float *X, size_t stride,
                       size_t first, size_t n)
{
    size_t B = ps->rows, cnt = 0;
    for (int fill = 0; fill < 2; fill++) {
        if (fill) {
            ps->blocks = hitl__malloc((cnt ? cnt : 1) * sizeof *ps->blocks);
            if (!ps->blocks)
                return HITL_ENOMEM;
            ps->n_blocks = cnt;
            cnt = 0;
        }
        size_t n_seg = X ? 1 : pool->n_chunks;
        for (size_t k = 0; k < n_seg; k++) {
            block s = { X, 0, n, stride };
            if (!X) {
                const hitl__chunk *ch = &pool->chunks[k];
                size_t lo = ch->first > first ? ch->first : first;
                size_t hi = ch->first + ch->n < first + n ? ch->first + ch->n : first + n;
                if (lo >= hi)
                    continue;
                s = (block){ ch->rows + (lo - ch->first) * ch->stride, lo, hi - lo,
                             ch->stride };
            }
            for (size_t r = 0; r < s.n; r += B, cnt++)
                if (fill)
                    ps->blocks[cnt] = (block){ s.rows + r * s.stride, s.first + r,
                                               s.n - r < B ? s.n - r : B, s.stride };
        }
    }
    return HITL_OK;
}

/* Stack the built-in members' current solutions (read now, so a borrowed
 * member refitted by its owner is seen) into one linear layer.  Softmax is
 * unchanged by subtracting class 0's logit from every logit, so each member
 * contributes only the K-1 columns w_c - w_0 (and b_c - b_0), computed in
 * double: a tenth less work for K = 10, and fewer 16-column panels. */
static int make_stack(pass *ps)
{
    const hitl_committee *c = ps->c;
    size_t d = c->dim, K = c->n_classes, M = c->n, n_lin = 0;
    for (size_t j = 0; j < M; j++)
        n_lin += c->m[j].model->kind == HITL__MODEL_LOGREG;
    size_t LK = n_lin * (K - 1), ldw = hitl__linear_ldw(LK ? LK : 1);
    ps->M = M;
    ps->K = K;
    ps->n_lin = n_lin;
    size_t rows = BLOCK_FLOATS / (M * K);
    rows = rows < c->block_rows ? rows : c->block_rows;
    ps->rows = rows < 16 ? 16 : rows;
    ps->order = hitl__malloc(M * sizeof *ps->order);
    ps->w = hitl__calloc((d + 1) * ldw, sizeof *ps->w);
    if (!ps->order || !ps->w)
        return HITL_ENOMEM;
    size_t q = 0;
    for (size_t j = 0; j < M; j++) {
        const hitl_model *m = c->m[j].model;
        if (m->kind != HITL__MODEL_LOGREG)
            continue;
        for (size_t r = 0; r <= d; r++)          /* coef row d: the intercepts */
            for (size_t k = 1; k < K; k++)
                ps->w[r * ldw + q * (K - 1) + k - 1] =
                    (float)(m->coef[r * K + k] - m->coef[r * K]);
        ps->order[q++] = j;
    }
    for (size_t j = 0; j < M; j++)
        if (c->m[j].model->kind != HITL__MODEL_LOGREG)
            ps->order[q++] = j;
    ps->lin = (hitl__linear){ .d = d, .C = LK, .ldw = ldw, .w = ps->w, .b = ps->w + d * ldw };
    return HITL_OK;
}

static size_t threads_of(const hitl_committee *c)
{
    if (c->threads)
        return c->threads;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? (size_t)cpus : 1;
}

size_t hitl__committee_workers(const hitl_committee *c, const hitl_pool *pool)
{
    size_t w = threads_of(c), blocks = pool->n / 16 + 1;
    return w < blocks ? w : blocks;
}

/* Run the pass with up to `workers` threads (the caller's thread is one);
 * every buffer is allocated here before any work starts. */
static int run_pass(pass *ps, size_t workers)
{
    if (ps->n_blocks == 0)
        return HITL_OK;
    /* OpenBLAS threads a wide layer's sgemm itself and serialises concurrent
     * threaded calls: then one worker. */
    if (ps->n_lin && hitl__linear_uses_blas(&ps->lin, ps->rows, ps->blocks[0].stride) &&
        hitl__linear_blas_threaded())
        workers = 1;
    if (workers > ps->n_blocks)
        workers = ps->n_blocks;
    worker *wk = hitl__calloc(workers, sizeof *wk);
    int ok = wk != NULL;
    for (size_t w = 0; ok && w < workers; w++) {
        wk[w] = (worker){ .ps = ps, .w = w };
        ok = scratch_init(&wk[w].s, ps->M, ps->K, ps->rows) == HITL_OK;
    }
    if (ok && pthread_mutex_init(&ps->lock, NULL) != 0)
        ok = 0;
    if (!ok) {
        for (size_t w = 0; wk && w < workers; w++)
            scratch_release(&wk[w].s);
        hitl__free(wk);
        return hitl__fail_in(HITL_ENOMEM, ps->fn, "out of memory for %zu workers' blocks "
                             "of %zu rows x %zu members x %zu classes", workers, ps->rows,
                             ps->M, ps->K);
    }
    ps->next = 0;
    ps->status = HITL_OK;
    size_t started = 1;
    for (; started < workers; started++)
        if (pthread_create(&wk[started].thread, NULL, work, &wk[started]) != 0)
            break; /* fewer threads: the others take its blocks */
    work(&wk[0]);
    for (size_t w = 1; w < started; w++)
        pthread_join(wk[w].thread, NULL);
    pthread_mutex_destroy(&ps->lock);
    for (size_t w = 0; w < workers; w++)
        scratch_release(&wk[w].s);
    hitl__free(wk);
    if (ps->status != HITL_OK)
        return hitl__fail_in(ps->status, ps->fn, "%s", ps->why);
    return HITL_OK;
}

static void pass_free(pass *ps)
{
    hitl__free(ps->order);
    hitl__free(ps->w);
    hitl__free(ps->blocks);
}

/* Stack, cut and run: the whole pass. */
static int pass_run(pass *ps, const hitl_pool *pool, const float *X, size_t stride,
                    size_t first, size_t n, size_t workers)
{
    int st = make_stack(ps);
    if (st == HITL_OK)
        st = make_blocks(ps, pool, X, stride, first, n);
    if (st == HITL_OK)
        st = run_pass(ps, workers);
    else
        st = hitl__fail_in(HITL_ENOMEM, ps->fn, "out of memory for the committee's pass");
    pass_free(ps);
    return st;
}

int hitl__committee_check(const hitl_committee *c, const hitl_pool *pool, int need_fitted,
                          const char *fn)
{
    if (pool && pool->dim != c->dim)
        return hitl__fail_in(HITL_EINVAL, fn, "pool dim %zu differs from committee dim %zu",
                             pool->dim, c->dim);
    if (!need_fitted)
        return HITL_OK;
    if (c->n == 0)
        return hitl__fail_in(HITL_ESTATE, fn, "the committee has no member");
    for (size_t j = 0; j < c->n; j++)
        if (!c->m[j].model->fitted)
            return hitl__fail_in(HITL_ESTATE, fn, "committee member %zu is not fitted", j);
    return HITL_OK;
}

int hitl__committee_stream(const hitl_committee *c, int kind, int raw, const hitl_pool *pool,
                           hitl__emit_fn emit, void **states, const char *fn)
{
    pass ps = { .c = c, .pool = pool, .mode = OUT_EMIT, .kind = kind, .raw = raw,
                .emit = emit, .states = states, .fn = fn };
    return pass_run(&ps, pool, NULL, 0, 0, pool->n, hitl__committee_workers(c, pool));
}

/* Consensus probabilities of pool rows [first, first+n) or of caller rows. */
static int consensus(float *proba, const hitl_committee *c, const hitl_pool *pool,
                     const float *X, size_t stride, size_t first, size_t n, const char *fn)
{
    int st = hitl__committee_check(c, pool, 1, fn);
    if (st != HITL_OK || n == 0)
        return st;
    pass ps = { .c = c, .mode = OUT_CONSENSUS, .proba = proba, .first0 = X ? 0 : first,
                .fn = fn };
    return pass_run(&ps, pool, X, stride, first, n, threads_of(c));
}

int hitl_committee_predict(float *proba, const hitl_committee *c, const float *X, size_t n,
                           size_t stride)
{
    if (!proba || !c || (!X && n))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !proba ? "proba" : !c ? "committee" : "X");
    if (stride < c->dim)
        return hitl__fail(HITL_EINVAL, "stride %zu is below dim %zu", stride, c->dim);
    if (stride > (size_t)INT_MAX)
        return hitl__fail(HITL_EINVAL, "stride %zu exceeds %d", stride, INT_MAX);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c->dim; j++)
            if (!isfinite(X[i * stride + j]))
                return hitl__fail(HITL_ENUMERIC, "X[%zu][%zu] is %g", i, j,
                                  (double)X[i * stride + j]);
    return consensus(proba, c, NULL, X, stride, 0, n, __func__);
}

int hitl_committee_predict_pool(float *proba, const hitl_committee *c, const hitl_pool *pool,
                                size_t first, size_t n)
{
    if (!proba || !c || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !proba ? "proba" : !c ? "committee" : "pool");
    if (first > pool->n || n > pool->n - first)
        return hitl__fail(HITL_EINVAL, "items [%zu, %zu + %zu) leave the pool of %zu",
                          first, first, n, pool->n);
    return consensus(proba, c, pool, NULL, 0, first, n, __func__);
}

/* ------------------------------------------------------------------------- */
/* Query                                                                      */
/* ------------------------------------------------------------------------- */

static void push_largest(void *state, size_t index, double value)
{
    hitl__topk_push(state, -value, index);
}

static void push_smallest(void *state, size_t index, double value)
{
    hitl__topk_push(state, value, index);
}

int hitl__committee_query(size_t *count, size_t *indices, double *scores, int kind,
                          const hitl_committee *c, const hitl_pool *pool, size_t k,
                          const char *fn)
{
    int st = hitl__committee_check(c, pool, 1, fn);
    if (st != HITL_OK)
        return st;
    int smallest = kind == HITL_STRATEGY_MARGIN; /* p1 - p2: smallest first */
    size_t w = hitl__committee_workers(c, pool);
    size_t keep = k < pool->count[HITL_ITEM_UNLABELED] ? k : pool->count[HITL_ITEM_UNLABELED];
    if (keep == 0) {
        *count = 0;
        return HITL_OK;
    }
    hitl__topk all = { 0 }, *heaps = hitl__calloc(w, sizeof *heaps);
    void **states = hitl__calloc(w, sizeof *states);
    st = heaps && states ? hitl__topk_init(&all, keep) : HITL_ENOMEM;
    for (size_t i = 0; st == HITL_OK && i < w; i++) {
        st = hitl__topk_init(&heaps[i], keep);
        states[i] = &heaps[i];
    }
    if (st != HITL_OK)
        st = hitl__fail_in(HITL_ENOMEM, fn, "out of memory for the selection of %zu items", k);
    else
        st = hitl__committee_stream(c, kind, 1, pool, smallest ? push_smallest : push_largest,
                                    states, fn);
    for (size_t i = 0; heaps && i < w; i++) {
        if (st == HITL_OK)
            hitl__topk_merge(&all, &heaps[i]);
        hitl__topk_free(&heaps[i]);
    }
    if (st == HITL_OK) {
        hitl__topk_sort(&all);
        for (size_t j = 0; j < all.n; j++) {
            indices[j] = all.index[j];
            if (scores)
                scores[j] = smallest ? all.key[j] : -all.key[j];
        }
        *count = all.n;
    }
    hitl__topk_free(&all);
    hitl__free(heaps);
    hitl__free(states);
    return st;
}
