/*
 * committee: an ensemble of M models, for query-by-committee.  Members are
 * built-in logistic regressions owned by the committee and/or the caller's
 * models; each is fitted on a seeded bootstrap resample of the labeled items
 * (or on all of them).  A pass scores the pool for all members at once: the
 * built-in members' weights are stacked into one d x (M_lin K) layer, so one
 * kernel call per block serves every linear member, and each block is
 * handed on as the members' probability table, their consensus (the mean)
 * and/or each member's vote (its most probable class).  What the members'
 * disagreement means for selection is the selection layer's business.
 */
#include "learn/learn.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_MEMBERS 4096
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
/* The members' table: consensus and votes                                    */
/* ------------------------------------------------------------------------- */

void hitl__consensus_cm(float *pb, const float *P, size_t M, size_t K, size_t ld)
{
    float inv = 1.0f / (float)M;
    memcpy(pb, P, K * ld * sizeof *pb);
    for (size_t m = 1; m < M; m++)
        for (size_t j = 0; j < K * ld; j++)
            pb[j] += P[m * K * ld + j];
    for (size_t j = 0; j < K * ld; j++)
        pb[j] *= inv;
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

void hitl__member_votes(uint32_t *votes, const float *P, size_t M, size_t K, size_t ld)
{
    for (size_t m = 0; m < M; m++)   /* probabilities: finite, checked */
        (void)argmax_cm(votes + m * ld, P + m * K * ld, K, ld, 0);
}

size_t hitl__committee_members(const hitl_committee *c)
{
    return c->n;
}

size_t hitl__committee_classes(const hitl_committee *c)
{
    return c->n_classes;
}

/* ------------------------------------------------------------------------- */
/* Handle                                                                     */
/* ------------------------------------------------------------------------- */

int hitl_committee_create(hitl_committee **out, size_t dim, size_t n_classes)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    int st = hitl__model_check_shape(__func__, dim, n_classes);
    if (st != HITL_OK)
        return st;
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
/* The drawn rows of a sparse pool as one CSR batch in one allocation *X. */
static int gather_csr(void **X, hitl_pool *p, const hitl_pool *pool, const size_t *lab,
                      size_t n, const uint32_t *count, size_t distinct)
{
    size_t *items = hitl__malloc((distinct ? distinct : 1) * sizeof *items), nnz;
    if (!items)
        return HITL_ENOMEM;
    for (size_t j = 0, q = 0; j < n; j++)
        if (count[j])
            items[q++] = lab[j];
    int32_t *ip = hitl__pool_gather_csr(&nnz, pool, items, distinct);
    hitl__free(items);
    if (!ip)
        return nnz > INT32_MAX ? hitl__fail(HITL_EINVAL, "the bootstrap sample holds %zu "
                                            "non-zeros, more than int32 offsets index", nnz)
                               : HITL_ENOMEM;
    *X = ip;
    int32_t *ix = ip + distinct + 1;
    return hitl_pool_add_csr_borrowed(p, ip, ix, (float *)(ix + nnz), distinct, NULL);
}

static int gather_dense(void **X, hitl_pool *p, const hitl_pool *pool, const size_t *lab,
                        size_t n, const uint32_t *count, size_t distinct)
{
    size_t d = pool->dim;
    float *rows = hitl__malloc(distinct * d * sizeof *rows);
    if (!rows)
        return HITL_ENOMEM;
    for (size_t j = 0, q = 0; j < n; j++)
        if (count[j])
            memcpy(rows + q++ * d, hitl__pool_row(pool, lab[j]), d * sizeof *rows);
    *X = rows;
    return hitl_pool_add_borrowed(p, rows, distinct, d, NULL);
}

static int resample(hitl_pool **out, void **X, const hitl_pool *pool, const size_t *lab,
                    size_t n, uint32_t *count, hitl__rng *r)
{
    size_t distinct = 0;
    memset(count, 0, n * sizeof *count);
    for (size_t t = 0; t < n; t++) {
        size_t j = (size_t)(hitl__rng_unit(r) * (double)n);
        count[j < n ? j : n - 1]++;
    }
    for (size_t j = 0; j < n; j++)
        distinct += count[j] > 0;
    *out = NULL;
    *X = NULL;
    hitl_pool *p = NULL;
    int st = pool->sparse ? hitl_pool_create_sparse(&p, pool->dim)
                          : hitl_pool_create(&p, pool->dim);
    if (st == HITL_OK)
        st = (pool->sparse ? gather_csr : gather_dense)(X, p, pool, lab, n, count, distinct);
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
/* Messages of a member's fit name the public call. */
#define FIT_FN "hitl_committee_fit"

static int fit_member(hitl_model **staged, const hitl_committee *c, size_t j,
                      const hitl_pool *pool, const size_t *lab, size_t n_lab,
                      uint32_t *count)
{
    hitl_model *target = c->m[j].model;
    hitl_pool *sample = NULL;
    void *X = NULL;
    int st = HITL_OK;
    *staged = NULL;
    if (target->kind == HITL__MODEL_LOGREG) {
        st = clone_logreg(staged, target);
        if (st != HITL_OK)
            return hitl__fail_in(HITL_ENOMEM, FIT_FN, "out of memory for a copy of member %zu", j);
        target = *staged;
    }
    if (c->bootstrap) {
        hitl__rng r;
        hitl__rng_seed(&r, c->seed, j);
        st = resample(&sample, &X, pool, lab, n_lab, count, &r);
        if (st == HITL_ENOMEM)
            hitl__fail_in(st, FIT_FN, "out of memory for the bootstrap sample of member %zu", j);
    }
    if (st == HITL_OK)
        st = hitl_model_fit(target, sample ? sample : pool);
    if (st != HITL_OK) {
        /* name the member in front of the detail the failing call left */
        char why[256];
        snprintf(why, sizeof why, "%s", hitl_error_message());
        hitl__fail_in(st, FIT_FN, "member %zu: %s", j, why);
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
 * member side by side, class-major.  Caller models predict the block through
 * hitl_model_predict (which checks and renormalises their output).  The
 * M K x n table goes to the consumer while it is in cache.  A pass that
 * wants only the votes skips the built-in members' softmax.  Every item's
 * values depend on its row alone, so the result is the same for any thread
 * count and block size.  Blocks are at most HITL_PARAM_COMMITTEE_BLOCK_ROWS
 * rows, fewer when M K is large, so that a worker's buffers stay near
 * 8 MiB.
 */
#define BLOCK_FLOATS ((size_t)1 << 20)

/* One worker's buffers for a block of up to `rows` items. */
typedef struct scratch {
    float *Z;        /* M (K-1) x ld: built-in members' logits, class 0 = 0 */
    float *P;        /* M K x ld: the table of probabilities */
    float *pb;       /* K x ld: the consensus */
    uint32_t *votes; /* M x ld: each member's most probable class */
    float *rm;       /* rows x K: a caller model's block, row-major */
} scratch;

/* One allocation for every buffer. */
static int scratch_init(scratch *s, size_t M, size_t K, size_t rows)
{
    size_t ld = HITL__ROUND16(rows), C = M * K;
    size_t floats = 2 * C * ld + K * ld + rows * K;
    memset(s, 0, sizeof *s);
    float *mem = hitl__malloc(floats * sizeof(float) + M * ld * sizeof(uint32_t));
    if (!mem)
        return HITL_ENOMEM;
    s->Z = mem;
    s->P = s->Z + C * ld;
    s->pb = s->P + C * ld;
    s->rm = s->pb + K * ld;
    s->votes = (uint32_t *)(void *)(s->rm + rows * K);
    return HITL_OK;
}

static void scratch_release(scratch *s)
{
    hitl__free(s->Z);
    memset(s, 0, sizeof *s);
}

typedef struct pass {
    const hitl_committee *c;
    size_t M, K, n_lin, rows;   /* rows: per block */
    size_t *order;              /* table slot q holds member order[q] */
    float *w;                   /* the stacked layer: d x ldw weights, ldw bias */
    hitl__linear lin;
    hitl__block *blocks;
    hitl__block local[HITL__LOCAL_BLOCKS];
    size_t n_blocks;
    int want;                   /* HITL__WANT_* */
    hitl__ensemble_fn consume;
    void **states;
    scratch *scr;               /* per worker */
    const char *fn;
} pass;

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

/* The built-in members' votes for a block (when only votes are wanted),
 * VOTE_ROWS rows at a time so that a slice's logits are still in L1 cache
 * when their argmax reads them.  Returns 0, or 1 + the first row whose
 * logits hold a NaN or +Inf. */
#define VOTE_ROWS 128

static size_t linear_votes(scratch *s, const pass *ps, const hitl__block *bk, size_t ld)
{
    size_t K = ps->K;
    for (size_t r0 = 0; r0 < bk->n; r0 += VOTE_ROWS) {
        size_t m = bk->n - r0 < VOTE_ROWS ? bk->n - r0 : VOTE_ROWS;
        size_t m16 = HITL__ROUND16(m);   /* r0 + m16 <= ld: r0 is a multiple of 16 */
        hitl__linear_rows(s->Z, m16, &ps->lin, bk, r0, m);
        int bad = 0;
        for (size_t q = 0; q < ps->n_lin; q++)
            bad |= argmax_cm(s->votes + q * ld + r0, s->Z + q * (K - 1) * m16, K - 1, m16, 1);
        if (bad)
            return r0 + first_overflow(s->Z, ps->lin.C, m16, m);
    }
    return 0;
}

/* The built-in members' probabilities into the table. */
static int linear_proba(scratch *s, const pass *ps, const hitl__block *bk, size_t ld)
{
    size_t K = ps->K, n = bk->n;
    hitl__linear_rows(s->Z, ld, &ps->lin, bk, 0, n);
    for (size_t q = 0; q < ps->n_lin; q++) {
        float *p = s->P + q * K * ld;           /* class 0's logit is 0 */
        memset(p, 0, ld * sizeof *p);
        memcpy(p + ld, s->Z + q * (K - 1) * ld, (K - 1) * ld * sizeof *p);
        size_t bad = hitl__softmax_cm(p, ld, n, K);
        if (bad)
            return hitl__fail_in(HITL_ENUMERIC, ps->fn, "row %zu: member %zu's logits "
                                 "overflow float32 (features too large)",
                                 bk->first + bad - 1, ps->order[q]);
    }
    return HITL_OK;
}

static int run_block(void *ctx, size_t w, size_t task)
{
    const pass *ps = ctx;
    const hitl__block *bk = &ps->blocks[task];
    scratch *s = &ps->scr[w];
    /* This block's leading dimension: the buffers hold round16(block rows)
     * columns, and a short block uses (and fills) only round16(n) of them. */
    size_t K = ps->K, n = bk->n, ld = HITL__ROUND16(n), voted = 0;
    int votes_only = ps->want == HITL__WANT_VOTES;
    if (ps->n_lin && votes_only) {
        size_t at = linear_votes(s, ps, bk, ld);
        if (at)                       /* NaN or +Inf, as softmax refuses */
            return hitl__fail_in(HITL_ENUMERIC, ps->fn, "row %zu: the members' logits "
                                 "overflow float32 (features too large)", bk->first + at - 1);
        voted = ps->n_lin;
    } else if (ps->n_lin) {
        int st = linear_proba(s, ps, bk, ld);
        if (st != HITL_OK)
            return st;
    }
    for (size_t q = ps->n_lin; q < ps->M; q++) {
        int st = hitl__model_predict_block(s->rm, ps->c->m[ps->order[q]].model, bk);
        if (st != HITL_OK) {
            char why[448];
            snprintf(why, sizeof why, "%s", hitl_error_message());
            return hitl__fail_in(st, ps->fn, "member %zu: %s", ps->order[q], why);
        }
        hitl__to_classes(s->P + q * K * ld, ld, s->rm, n, K);
    }
    if (ps->want & HITL__WANT_VOTES)
        hitl__member_votes(s->votes + voted * ld, s->P + voted * K * ld, ps->M - voted, K, ld);
    if (ps->want & HITL__WANT_CONSENSUS)
        hitl__consensus_cm(s->pb, s->P, ps->M, K, ld);
    hitl__ensemble_block b = {
        .first = bk->first, .n = n, .ld = ld, .M = ps->M, .K = K,
        .consensus = ps->want & HITL__WANT_CONSENSUS ? s->pb : NULL,
        .members = ps->want & HITL__WANT_MEMBERS ? s->P : NULL,
        .votes = ps->want & HITL__WANT_VOTES ? s->votes : NULL };
    int rc = ps->consume(ps->states[w], &b);
    if (rc != 0 && !*hitl_error_message())
        hitl__fail_in(rc, ps->fn, "the block consumer failed");
    return rc;
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
    ps->rows = hitl__committee_block_rows(c);
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

size_t hitl__committee_block_rows(const hitl_committee *c)
{
    size_t rows = BLOCK_FLOATS / (c->n ? c->n * c->n_classes : c->n_classes);
    rows = rows < c->block_rows ? rows : c->block_rows;
    return rows < 16 ? 16 : rows;
}

static size_t threads_of(const hitl_committee *c)
{
    return c->threads ? c->threads : hitl__cpus();
}

/* Workers for a pass over the pool: HITL_PARAM_COMMITTEE_THREADS (0: one
 * per online CPU), at most one per block, and one when the stacked layer
 * goes to a threaded OpenBLAS (see run_pass), so that consumers allocate
 * per-worker state only for workers that will run. */
size_t hitl__committee_workers(const hitl_committee *c, const hitl_pool *pool)
{
    size_t n_lin = 0, w = threads_of(c);
    for (size_t j = 0; j < c->n; j++)
        n_lin += c->m[j].model->kind == HITL__MODEL_LOGREG;
    if (n_lin && hitl__linear_wide(c->dim, n_lin * (c->n_classes - 1)) &&
        hitl__linear_blas_threaded())
        w = 1;
    size_t blocks = hitl__blocks_cut(NULL, pool->chunks, pool->n_chunks, 0, pool->n,
                                     hitl__committee_block_rows(c));
    w = w < blocks ? w : blocks;
    return w ? w : 1;
}

/* Run the pass with up to `workers` threads (the caller's thread is one);
 * every buffer is allocated here before any work starts. */
static int run_pass(pass *ps, size_t workers)
{
    if (ps->n_blocks == 0)
        return HITL_OK;
    /* OpenBLAS threads a wide layer's sgemm itself and serialises concurrent
     * threaded calls: then one worker. */
    if (ps->n_lin && ps->blocks[0].rows &&
        hitl__linear_uses_blas(&ps->lin, ps->rows, ps->blocks[0].stride) &&
        hitl__linear_blas_threaded())
        workers = 1;
    if (workers > ps->n_blocks)
        workers = ps->n_blocks;
    ps->scr = hitl__calloc(workers, sizeof *ps->scr);
    int ok = ps->scr != NULL;
    for (size_t w = 0; ok && w < workers; w++)
        ok = scratch_init(&ps->scr[w], ps->M, ps->K, ps->rows) == HITL_OK;
    int st = ok ? hitl__tasks_run(workers, ps->n_blocks, run_block, ps, ps->fn)
                : hitl__fail_in(HITL_ENOMEM, ps->fn, "out of memory for %zu workers' blocks "
                                "of %zu rows x %zu members x %zu classes", workers, ps->rows,
                                ps->M, ps->K);
    for (size_t w = 0; ps->scr && w < workers; w++)
        scratch_release(&ps->scr[w]);
    hitl__free(ps->scr);
    return st;
}

/* Stack, cut and run: the whole pass over rows [first, first+n) of chunks. */
static int pass_run(pass *ps, const hitl__chunk *chunks, size_t n_chunks, size_t first,
                    size_t n, size_t workers)
{
    int st = make_stack(ps);
    if (st == HITL_OK)
        st = hitl__blocks_plan(&ps->blocks, &ps->n_blocks, ps->local, HITL__LOCAL_BLOCKS,
                               chunks, n_chunks, first, n, ps->rows);
    if (st == HITL_OK)
        st = run_pass(ps, workers);
    else
        st = hitl__fail_in(HITL_ENOMEM, ps->fn, "out of memory for the committee's pass");
    hitl__free(ps->order);
    hitl__free(ps->w);
    if (ps->blocks != ps->local)
        hitl__free(ps->blocks);
    return st;
}

int hitl__committee_ready(const hitl_committee *c)
{
    if (c->n == 0)
        return 0;
    for (size_t j = 0; j < c->n; j++)
        if (!c->m[j].model->fitted)
            return 0;
    return 1;
}

int hitl__committee_check(const hitl_committee *c, const hitl_pool *pool, int need_fitted,
                          const char *fn)
{
    if (pool && pool->dim != c->dim)
        return hitl__fail_in(HITL_EINVAL, fn, "pool dim %zu differs from committee dim %zu",
                             pool->dim, c->dim);
    for (size_t j = 0; pool && j < c->n; j++) {
        int st = hitl__model_check_rows(c->m[j].model, pool->sparse, fn);
        if (st != HITL_OK)
            return st;
    }
    if (!need_fitted)
        return HITL_OK;
    if (c->n == 0)
        return hitl__fail_in(HITL_ESTATE, fn, "the committee has no member");
    for (size_t j = 0; j < c->n; j++)
        if (!c->m[j].model->fitted)
            return hitl__fail_in(HITL_ESTATE, fn, "committee member %zu is not fitted", j);
    return HITL_OK;
}

int hitl__committee_run(const hitl_committee *c, const hitl_pool *pool, int want,
                        hitl__ensemble_fn consume, void **states, const char *fn)
{
    pass ps = { .c = c, .want = want, .consume = consume, .states = states, .fn = fn };
    return pass_run(&ps, pool->chunks, pool->n_chunks, 0, pool->n,
                    hitl__committee_workers(c, pool));
}

/* The consensus of a block, written row-major at its rows of the output
 * (every worker shares the one output: blocks are disjoint). */
typedef struct consensus_out {
    float *proba;
    size_t first0;              /* the item of proba's row 0 */
} consensus_out;

static int copy_consensus(void *state, const hitl__ensemble_block *b)
{
    consensus_out *o = state;
    for (size_t i = 0; i < b->n; i++)
        for (size_t c = 0; c < b->K; c++)
            o->proba[(b->first + i - o->first0) * b->K + c] = b->consensus[c * b->ld + i];
    return HITL_OK;
}

/* Consensus probabilities of pool rows [first, first+n) or of caller rows. */
static int consensus(float *proba, const hitl_committee *c, const hitl_pool *pool,
                     const float *X, size_t stride, size_t first, size_t n, const char *fn)
{
    int st = hitl__committee_check(c, pool, 1, fn);
    if (st != HITL_OK || n == 0)
        return st;
    size_t workers = threads_of(c);
    consensus_out out = { proba, X ? 0 : first };
    void **states = hitl__malloc(workers * sizeof *states);
    if (!states)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu workers", workers);
    for (size_t w = 0; w < workers; w++)
        states[w] = &out;
    pass ps = { .c = c, .want = HITL__WANT_CONSENSUS, .consume = copy_consensus,
                .states = states, .fn = fn };
    hitl__chunk mine = { .rows = X, .n = n, .stride = stride };
    st = X ? pass_run(&ps, &mine, 1, 0, n, workers)
           : pass_run(&ps, pool->chunks, pool->n_chunks, first, n, workers);
    hitl__free(states);
    return st;
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
    int st = hitl__check_rows(__func__, n, stride, c->dim, sizeof(float));
    if (st == HITL_OK)
        st = hitl__check_rows(__func__, n, c->n_classes, c->n_classes, sizeof(float));
    if (st != HITL_OK)
        return st;
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
