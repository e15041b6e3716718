/*
 * Query-by-committee's disagreement: how much the M members' class
 * distributions P_m disagree about an item, with consensus
 * pbar = 1/M sum_m P_m and H(p) = -sum_c p_c log p_c:
 *   VOTE_ENTROPY       H(V / M), V_c = members whose most probable class is c
 *   CONSENSUS_ENTROPY  H(pbar)
 *   KL                 1/M sum_m KL(P_m || pbar)      (McCallum & Nigam 1998)
 *   BALD               H(pbar) - 1/M sum_m H(P_m)     (Houlsby et al. 2011)
 * KL and BALD are equal in exact arithmetic (the mean divergence to the mean
 * is the entropy of the mean minus the mean entropy); each is computed by its
 * own formula.
 *
 * A block of n items comes class-major from the committee's pass (or from
 * the caller's table in hitl_disagreement): members[(m K + c) ld + i] is
 * member m's value for class c of item i, with ld = round16(n) and columns
 * n .. ld-1 repeating column n-1 (finite values that are computed and
 * ignored), so every loop below runs over items and vectorises.  Logs are
 * float32 (hitl__vlogf, with log 0 taken as log FLT_MIN, so 0 log 0 = 0);
 * sums over classes and members are double.
 */
#include "select/select.h"

#include <math.h>
#include <string.h>

#define MAX_MEMBERS 4096
#define MAX_CLASSES 65536

int hitl__qbc_scratch_init(hitl__qbc_scratch *s, size_t M, size_t K, size_t rows)
{
    size_t ld = HITL__ROUND16(rows);
    size_t bytes = ld * sizeof(double) + (M * K * ld + K * ld) * sizeof(float) +
                   K * sizeof(uint32_t);
    memset(s, 0, sizeof *s);
    double *mem = hitl__malloc(bytes);         /* doubles first: aligned */
    if (!mem)
        return HITL_ENOMEM;
    s->acc = mem;
    s->LP = (float *)(void *)(mem + ld);
    s->lpb = s->LP + M * K * ld;
    s->tally = (uint32_t *)(void *)(s->lpb + K * ld);
    memset(s->tally, 0, K * sizeof *s->tally);
    return HITL_OK;
}

void hitl__qbc_scratch_release(hitl__qbc_scratch *s)
{
    hitl__free(s->acc);
    memset(s, 0, sizeof *s);
}

int hitl__qbc_want(int kind)
{
    switch (kind) {
    case HITL_STRATEGY_QBC_VOTE_ENTROPY: return HITL__WANT_VOTES;
    case HITL_STRATEGY_QBC_CONSENSUS_ENTROPY: return HITL__WANT_CONSENSUS;
    default: return HITL__WANT_CONSENSUS | HITL__WANT_MEMBERS;
    }
}

/* The largest value of a measure, which scales it to [0, 1]. */
double hitl__qbc_max(int kind, size_t M, size_t K)
{
    double lm = log((double)M), lk = log((double)K);
    return kind == HITL_STRATEGY_QBC_CONSENSUS_ENTROPY ? lk : lm < lk ? lm : lk;
}

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
 * members whose most probable class is c. */
static void vote_entropy(double *val, hitl__qbc_scratch *s, const hitl__ensemble_block *b)
{
    size_t M = b->M;
    double lg[MAX_MEMBERS + 1], logM = log((double)M);
    for (size_t t = 0; t <= M; t++)
        lg[t] = t > 1 ? log((double)t) : 0;
    if (M <= PAIRWISE_MAX)
        vote_pairwise(val, b->votes, b->ld, M, lg, logM);
    else
        vote_tally(val, b->votes, b->ld, b->n, M, s->tally, lg, logM);
}

void hitl__qbc_measure(double *val, hitl__qbc_scratch *s, int kind,
                       const hitl__ensemble_block *b)
{
    size_t M = b->M, K = b->K, ld = b->ld, n = b->n, C = M * K;
    if (kind == HITL_STRATEGY_QBC_VOTE_ENTROPY) {
        vote_entropy(val, s, b);
        return;
    }
    const float *pb = b->consensus;
    memcpy(s->lpb, pb, K * ld * sizeof *s->lpb);
    hitl__vlogf(s->lpb, K * ld);
    if (kind != HITL_STRATEGY_QBC_KL) {      /* H(pbar) */
        for (size_t i = 0; i < n; i++)
            val[i] = 0;
        for (size_t c = 0; c < K; c++)
            for (size_t i = 0; i < n; i++)
                val[i] -= (double)pb[c * ld + i] * (double)s->lpb[c * ld + i];
        if (kind == HITL_STRATEGY_QBC_CONSENSUS_ENTROPY)
            return;
    }
    memcpy(s->LP, b->members, C * ld * sizeof *s->LP);
    hitl__vlogf(s->LP, C * ld);
    for (size_t i = 0; i < n; i++)
        s->acc[i] = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t c = 0; c < K; c++) {
            const float *p = b->members + (m * K + c) * ld, *lp = s->LP + (m * K + c) * ld;
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
                                                : val[i] + s->acc[i] / (double)M;
        val[i] = v > 0 ? v : 0;
    }
}

/* ------------------------------------------------------------------------- */
/* The measures of a caller's table                                            */
/* ------------------------------------------------------------------------- */

#define TABLE_BLOCK 256 /* items per block in hitl_disagreement */

/* Every probability finite and >= 0, every member's row with a positive
 * sum: checked before anything is written. */
static int check_table(const float *proba, size_t n_items, size_t M, size_t K)
{
    for (size_t r = 0; r < n_items * M; r++) {
        const float *p = proba + r * K;
        double sum = 0;
        for (size_t c = 0; c < K; c++) {
            if (!isfinite(p[c]))
                return hitl__fail_in(HITL_ENUMERIC, "hitl_disagreement",
                                     "proba[item %zu][member %zu][class %zu] is %g", r / M,
                                     r % M, c, (double)p[c]);
            if (p[c] < 0)
                return hitl__fail_in(HITL_EINVAL, "hitl_disagreement",
                                     "proba[item %zu][member %zu][class %zu] = %g is "
                                     "negative", r / M, r % M, c, (double)p[c]);
            sum += p[c];
        }
        if (!(sum > 0))
            return hitl__fail_in(HITL_EINVAL, "hitl_disagreement",
                                 "proba[item %zu][member %zu] sums to 0", r / M, r % M);
    }
    return HITL_OK;
}

/* Buffers for blocks of up to `rows` items of the caller's table. */
typedef struct table {
    float *rm;       /* rows x K: one member's rows, normalised */
    float *P;        /* M K x ld: the members, class-major */
    float *pb;       /* K x ld: their consensus */
    uint32_t *votes; /* M x ld */
    double *val;     /* ld */
} table;

static int table_init(table *t, size_t M, size_t K, size_t rows)
{
    size_t ld = HITL__ROUND16(rows);
    t->val = hitl__malloc(ld * sizeof(double) + (rows * K + M * K * ld + K * ld) *
                          sizeof(float) + M * ld * sizeof(uint32_t));
    if (!t->val)
        return HITL_ENOMEM;
    t->rm = (float *)(void *)(t->val + ld);
    t->P = t->rm + rows * K;
    t->pb = t->P + M * K * ld;
    t->votes = (uint32_t *)(void *)(t->pb + K * ld);
    return HITL_OK;
}

/* Items [i0, i0+n) of the caller's table as a class-major block. */
static void table_block(hitl__ensemble_block *b, table *t, const float *proba, size_t i0,
                        size_t n, size_t M, size_t K, int want)
{
    size_t ld = HITL__ROUND16(n);
    for (size_t m = 0; m < M; m++) {     /* member m's rows, each / its sum */
        for (size_t i = 0; i < n; i++) {
            const float *p = proba + ((i0 + i) * M + m) * K;
            double sum = 0;
            for (size_t c = 0; c < K; c++)
                sum += p[c];
            for (size_t c = 0; c < K; c++)
                t->rm[i * K + c] = (float)(p[c] / sum);
        }
        hitl__to_classes(t->P + m * K * ld, ld, t->rm, n, K);
    }
    if (want & HITL__WANT_VOTES)
        hitl__member_votes(t->votes, t->P, M, K, ld);
    if (want & HITL__WANT_CONSENSUS)
        hitl__consensus_cm(t->pb, t->P, M, K, ld);
    *b = (hitl__ensemble_block){ .first = i0, .n = n, .ld = ld, .M = M, .K = K,
                                 .consensus = t->pb, .members = t->P, .votes = t->votes };
}

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
    int st = check_table(proba, n_items, M, K);
    if (st != HITL_OK || n_items == 0)
        return st;
    size_t rows = n_items < TABLE_BLOCK ? n_items : TABLE_BLOCK;
    table t = { 0 };
    hitl__qbc_scratch s = { 0 };
    if (table_init(&t, M, K, rows) != HITL_OK ||
        hitl__qbc_scratch_init(&s, M, K, rows) != HITL_OK) {
        hitl__free(t.val);
        return hitl__fail(HITL_ENOMEM, "out of memory for blocks of %zu x %zu x %zu", rows,
                          M, K);
    }
    for (size_t i0 = 0; i0 < n_items; i0 += rows) {
        size_t n = n_items - i0 < rows ? n_items - i0 : rows;
        hitl__ensemble_block b;
        table_block(&b, &t, proba, i0, n, M, K, hitl__qbc_want((int)kind));
        hitl__qbc_measure(t.val, &s, (int)kind, &b);
        memcpy(scores + i0, t.val, n * sizeof *scores);
    }
    hitl__qbc_scratch_release(&s);
    hitl__free(t.val);
    return HITL_OK;
}
