/*
 * recheck: which labels are probably wrong, so a person can look again
 * (confident learning: Northcutt, Jiang & Chuang, "Confident Learning:
 * Estimating Uncertainty in Dataset Labels", JAIR 70, 2021).
 *
 * Input: the pool's n labeled items in pool index order, item r with given
 * label y_r and out-of-sample probabilities p_r (from the caller, or from
 * cross-fitting: learn/crossfit.c).  The estimate, in streamed passes over
 * the probabilities that keep O(K^2) state and never an n-sized array:
 *
 *   1. thresholds  t_j = mean of p_r[j] over the items labeled j (the
 *                  class's average self-confidence); a class without a
 *                  labeled item has none (+Inf: never a confident class).
 *   2. joint       C[i][j] = #{r : y_r = i, j = the class of largest p_r
 *                  among those with p_r[c] >= t_c}, the confident joint
 *                  (items with no such class are not counted).
 *   3. calibrated  per row i with n_i labeled items: C[i][i] raised to at
 *                  least 1 (as cleanlab does, so every row can be scaled),
 *                  then C~[i][j] = C[i][j] n_i / sum_j C[i][j] rounded to
 *                  integers that keep the row sum n_i (largest remainder,
 *                  ties to the lower column): the paper's Eq. 3 in counts.
 *   4. pruning     by noise rate: for every off-diagonal cell, the C~[i][j]
 *                  items labeled i with the largest margin p[j] - p[i]
 *                  (a float32 difference; ties to the lower pool index).
 *                  An item chosen by any cell of its row is flagged unless
 *                  its given label is its most probable class.
 *   5. ranking     flagged items by score, smallest first (ties to the lower
 *                  pool index): self-confidence p[y] or the normalised
 *                  margin (p[y] - max_{j != y} p[j] + 1) / 2.
 *
 * Step 4 needs, per cell, the C~[i][j]-th largest margin, found exactly by
 * a radix selection on the margins' order-preserving 32-bit codes, eight
 * bits a pass (at most four passes; a cell is done early when the bucket
 * it needs is taken whole), with 256 counters per open cell and at most
 * CELL_BATCH cells' counters at once.  The last pass walks the items in
 * index order, which settles ties at the cut by lower index.
 */
#include "select/select.h"

#include <math.h>
#include <string.h>

#define MAX_SEED 9007199254740992.0 /* 2^53 */
#define MAX_FOLDS 1000
#define MAX_THREADS 1024
#define RADIX 256
#define CELL_BATCH 4096        /* cells counted at once: 4 MiB of counters */
#define FN_QUERY "hitl_recheck_query"

typedef struct report {
    size_t n, K, folds, n_flagged;
    double n_noisy;
    double *thresholds;     /* K; NaN for a class without labeled items */
    double *joint;          /* K x K */
    double *calibrated;     /* K x K */
} report;

struct hitl_recheck {
    size_t folds, threads;
    uint64_t seed;
    int rank;
    int has_report;
    report rep;
};

/* The labeled items and their probability rows, in pool index order. */
typedef struct rows {
    const hitl_pool *pool;
    const float *proba;
    size_t n, K;
} rows;

#define FOR_ROWS(R, i, r, p)                                              \
    for (size_t i = 0, r = 0; i < (R)->pool->n; i++)                        \
        if ((R)->pool->state[i] == HITL_ITEM_LABELED)                       \
            for (const float *p = (R)->proba + r++ * (R)->K; p; p = NULL)

/* ------------------------------------------------------------------------- */
/* The handle                                                                 */
/* ------------------------------------------------------------------------- */

static void report_free(report *rep)
{
    hitl__free(rep->thresholds);
    hitl__free(rep->joint);
    hitl__free(rep->calibrated);
    memset(rep, 0, sizeof *rep);
}

int hitl_recheck_create(hitl_recheck **out)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    hitl_recheck *r = hitl__calloc(1, sizeof *r);
    if (!r)
        return hitl__fail(HITL_ENOMEM, "out of memory for the handle");
    r->folds = 5;
    r->rank = HITL_RECHECK_RANK_SELF_CONFIDENCE;
    hitl__handle_acquire();
    *out = r;
    return HITL_OK;
}

void hitl_recheck_free(hitl_recheck *recheck)
{
    if (!recheck)
        return;
    report_free(&recheck->rep);
    hitl__free(recheck);
    hitl__handle_release();
}

static int is_int_in(double v, double lo, double hi)
{
    return v >= lo && v <= hi && v == floor(v);
}

int hitl_recheck_set_param(hitl_recheck *recheck, hitl_param param, double value)
{
    if (!recheck)
        return hitl__fail(HITL_EINVAL, "recheck is NULL");
    switch (param) {
    case HITL_PARAM_RECHECK_FOLDS:
        if (!is_int_in(value, 2, MAX_FOLDS))
            return hitl__fail(HITL_EINVAL, "HITL_PARAM_RECHECK_FOLDS %g is not an integer "
                              "in [2, %d]", value, MAX_FOLDS);
        recheck->folds = (size_t)value;
        return HITL_OK;
    case HITL_PARAM_RECHECK_SEED:
        if (!is_int_in(value, 0, MAX_SEED))
            return hitl__fail(HITL_EINVAL, "HITL_PARAM_RECHECK_SEED %g is not an integer "
                              "in [0, 2^53]", value);
        recheck->seed = (uint64_t)value;
        return HITL_OK;
    case HITL_PARAM_RECHECK_RANK:
        if (value != HITL_RECHECK_RANK_SELF_CONFIDENCE &&
            value != HITL_RECHECK_RANK_NORMALIZED_MARGIN)
            return hitl__fail(HITL_EINVAL, "HITL_PARAM_RECHECK_RANK %g is not a "
                              "hitl_recheck_rank (1 or 2)", value);
        recheck->rank = (int)value;
        return HITL_OK;
    case HITL_PARAM_RECHECK_THREADS:
        if (!is_int_in(value, 0, MAX_THREADS))
            return hitl__fail(HITL_EINVAL, "HITL_PARAM_RECHECK_THREADS %g is not an "
                              "integer in [0, %d]", value, MAX_THREADS);
        recheck->threads = (size_t)value;
        return HITL_OK;
    default:
        return hitl__fail(HITL_EINVAL, "parameter %d is not a recheck parameter", (int)param);
    }
}

int hitl_recheck_get_param(double *value, const hitl_recheck *recheck, hitl_param param)
{
    if (!value || !recheck)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "recheck");
    switch (param) {
    case HITL_PARAM_RECHECK_FOLDS: *value = (double)recheck->folds; return HITL_OK;
    case HITL_PARAM_RECHECK_SEED: *value = (double)recheck->seed; return HITL_OK;
    case HITL_PARAM_RECHECK_RANK: *value = recheck->rank; return HITL_OK;
    case HITL_PARAM_RECHECK_THREADS: *value = (double)recheck->threads; return HITL_OK;
    default:
        return hitl__fail(HITL_EINVAL, "parameter %d is not a recheck parameter", (int)param);
    }
}

int hitl_recheck_get_info(double *value, const hitl_recheck *recheck, hitl_recheck_info info)
{
    if (!value || !recheck)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "recheck");
    if (info < HITL_RECHECK_INFO_N_LABELED || info > HITL_RECHECK_INFO_FOLDS)
        return hitl__fail(HITL_EINVAL, "unknown recheck info %d", (int)info);
    if (!recheck->has_report)
        return hitl__fail(HITL_ESTATE, "no query has run yet");
    const report *rep = &recheck->rep;
    switch (info) {
    case HITL_RECHECK_INFO_N_LABELED: *value = (double)rep->n; break;
    case HITL_RECHECK_INFO_N_CLASSES: *value = (double)rep->K; break;
    case HITL_RECHECK_INFO_N_FLAGGED: *value = (double)rep->n_flagged; break;
    case HITL_RECHECK_INFO_N_NOISY: *value = rep->n_noisy; break;
    case HITL_RECHECK_INFO_NOISE_RATE: *value = rep->n_noisy / (double)rep->n; break;
    default: *value = (double)rep->folds; break;
    }
    return HITL_OK;
}

int hitl_recheck_joint(double *thresholds, double *joint, double *calibrated,
                       const hitl_recheck *recheck)
{
    if (!recheck)
        return hitl__fail(HITL_EINVAL, "recheck is NULL");
    if (!recheck->has_report)
        return hitl__fail(HITL_ESTATE, "no query has run yet");
    const report *rep = &recheck->rep;
    size_t K = rep->K;
    if (thresholds)
        memcpy(thresholds, rep->thresholds, K * sizeof *thresholds);
    if (joint)
        memcpy(joint, rep->joint, K * K * sizeof *joint);
    if (calibrated)
        memcpy(calibrated, rep->calibrated, K * K * sizeof *calibrated);
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Steps 1-3: thresholds, confident joint, calibration                        */
/* ------------------------------------------------------------------------- */

/* Check every row and its label; t = the thresholds (+Inf: none), count =
 * labeled items per class (K entries, zeroed here). */
static int thresholds_pass(double *t, double *count, const rows *R, const char *fn)
{
    size_t K = R->K;
    memset(t, 0, K * sizeof *t);
    memset(count, 0, K * sizeof *count);
    FOR_ROWS(R, i, r, p) {
        int32_t y = R->pool->label[i];
        if (y < 0 || (size_t)y >= K)
            return hitl__fail_in(HITL_EINVAL, fn, "pool item %zu (id %llu) has label %d, "
                                 "not in [0, %zu)", i, (unsigned long long)R->pool->ids[i],
                                 (int)y, K);
        int st = hitl__check_proba_row(fn, p, K, r - 1);
        if (st != HITL_OK)
            return st;
        t[y] += p[y];
        count[y] += 1;
    }
    for (size_t j = 0; j < K; j++)
        t[j] = count[j] > 0 ? t[j] / count[j] : INFINITY;
    return HITL_OK;
}

/* The class of largest p among those at or above their threshold (lowest
 * on ties), or K when there is none. */
static size_t confident_class(const float *p, const double *t, size_t K)
{
    size_t best = K;
    for (size_t j = 0; j < K; j++)
        if (p[j] >= t[j] && (best == K || p[j] > p[best]))
            best = j;
    return best;
}

static void joint_pass(double *C, const double *t, const rows *R)
{
    size_t K = R->K;
    memset(C, 0, K * K * sizeof *C);
    FOR_ROWS(R, i, r, p) {
        size_t j = confident_class(p, t, K);
        if (j < K)
            C[(size_t)R->pool->label[i] * K + j] += 1;
    }
}

/* Row i of the calibrated joint (see the top of the file); frac is K
 * scratch. */
static void calibrate_row(double *out, const double *C, size_t i, double n_i, size_t K,
                          double *frac)
{
    double sum = 0, floors = 0;
    for (size_t j = 0; j < K; j++)
        sum += j == i ? fmax(C[j], 1) : C[j];
    for (size_t j = 0; j < K; j++) {
        double c = j == i ? fmax(C[j], 1) : C[j], x = n_i > 0 ? c * n_i / sum : 0;
        out[j] = floor(x);
        frac[j] = x - out[j];
        floors += out[j];
    }
    for (double left = n_i - floors; left > 0.5; left -= 1) {
        size_t best = 0;
        for (size_t j = 1; j < K; j++)
            if (frac[j] > frac[best])
                best = j;
        out[best] += 1;
        frac[best] = -1;
    }
}

/* ------------------------------------------------------------------------- */
/* Step 4: the cut of every off-diagonal cell, by radix selection             */
/* ------------------------------------------------------------------------- */

/* A cell (i, j) with need > 0: the items labeled i whose code (below) is
 * among its `need` smallest.  Once done, an item is taken when
 * code >> shift < cut, or == cut while ties > 0 (each such take uses one). */
typedef struct cell {
    uint32_t i, j;
    size_t need;      /* while open: rank still to find within the prefix */
    uint32_t prefix;  /* the code bits decided so far */
    int bits;         /* how many (0, 8, 16, 24) */
    int done, shift;
    uint32_t cut;
    size_t ties;
} cell;

/* Smaller code = larger margin p[j] - p[i] (as a float32; -0 made +0). */
static inline uint32_t margin_code(const float *p, size_t i, size_t j)
{
    float m = (p[j] - p[i]) + 0.0f;
    uint32_t u;
    memcpy(&u, &m, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~u;
}

static void cell_decide(cell *c, const uint32_t *hist)
{
    int low = 24 - c->bits;
    size_t b = 0;
    while (c->need > hist[b])
        c->need -= hist[b++];
    c->prefix |= (uint32_t)b << low;
    c->bits += 8;
    if (c->need == hist[b] || c->bits == 32) {
        c->done = 1;
        c->shift = low;
        c->cut = c->prefix >> low;
        c->ties = c->need == hist[b] ? SIZE_MAX : c->need;
    }
}

/* One counting pass over the open cells lo .. hi-1 of the array (sorted by
 * row; first[i] .. first[i+1]-1 are row i's cells). */
static void count_pass(uint32_t *hist, cell *cells, size_t lo, size_t hi,
                       const size_t *first, const rows *R)
{
    memset(hist, 0, (hi - lo) * RADIX * sizeof *hist);
    FOR_ROWS(R, it, r, p) {
        size_t i = (size_t)R->pool->label[it];
        size_t a = first[i] > lo ? first[i] : lo, b = first[i + 1] < hi ? first[i + 1] : hi;
        for (size_t q = a; q < b; q++) {
            cell *c = &cells[q];
            if (c->done)
                continue;
            uint32_t v = margin_code(p, i, c->j);
            if (c->bits && (v >> (32 - c->bits)) != (c->prefix >> (32 - c->bits)))
                continue;
            hist[(q - lo) * RADIX + ((v >> (24 - c->bits)) & (RADIX - 1))]++;
        }
    }
}

static void select_cuts(cell *cells, size_t n_cells, const size_t *first, uint32_t *hist,
                        const rows *R)
{
    for (size_t lo = 0; lo < n_cells; lo += CELL_BATCH) {
        size_t hi = n_cells - lo > CELL_BATCH ? lo + CELL_BATCH : n_cells;
        for (int level = 0; level < 4; level++) {
            int open = 0;
            for (size_t q = lo; q < hi; q++)
                open |= !cells[q].done;
            if (!open)
                break;
            count_pass(hist, cells, lo, hi, first, R);
            for (size_t q = lo; q < hi; q++)
                if (!cells[q].done)
                    cell_decide(&cells[q], hist + (q - lo) * RADIX);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Step 5 and the run                                                          */
/* ------------------------------------------------------------------------- */

static int taken(cell *c, const float *p)
{
    uint32_t v = margin_code(p, c->i, c->j) >> c->shift;
    if (v < c->cut)
        return 1;
    if (v == c->cut && c->ties > 0) {
        c->ties--;
        return 1;
    }
    return 0;
}

static double item_score(const float *p, size_t y, size_t K, int rank)
{
    if (rank == HITL_RECHECK_RANK_SELF_CONFIDENCE)
        return p[y];
    float other = -1;
    for (size_t j = 0; j < K; j++)
        if (j != y && p[j] > other)
            other = p[j];
    return ((double)p[y] - (double)other + 1.0) * 0.5;
}

static size_t argmax(const float *p, size_t K)
{
    size_t best = 0;
    for (size_t j = 1; j < K; j++)
        if (p[j] > p[best])
            best = j;
    return best;
}

/* The flagged items into t; returns how many. */
static size_t flag_pass(hitl__topk *t, cell *cells, const size_t *first, const rows *R,
                        int rank)
{
    size_t flagged = 0;
    FOR_ROWS(R, it, r, p) {
        size_t y = (size_t)R->pool->label[it];
        int hit = 0;
        for (size_t q = first[y]; q < first[y + 1]; q++)
            hit |= taken(&cells[q], p);
        if (hit && argmax(p, R->K) != y) {
            flagged++;
            hitl__topk_push(t, item_score(p, y, R->K, rank), it);
        }
    }
    return flagged;
}

/* Working memory of a run: the new report and O(K^2) scratch. */
typedef struct work {
    report rep;
    double *count, *frac;
    cell *cells;
    size_t *first;
    uint32_t *hist;
    hitl__topk top;
} work;

static void work_free(work *w)
{
    report_free(&w->rep);
    hitl__free(w->count);
    hitl__free(w->frac);
    hitl__free(w->cells);
    hitl__free(w->first);
    hitl__free(w->hist);
    hitl__topk_free(&w->top);
}

static int work_init(work *w, size_t K, size_t keep, const char *fn)
{
    memset(w, 0, sizeof *w);
    size_t KK = K * K, n_cells = KK - K, batch = n_cells < CELL_BATCH ? n_cells : CELL_BATCH;
    w->rep.thresholds = hitl__malloc(K * sizeof(double));
    w->rep.joint = hitl__malloc(KK * sizeof(double));
    w->rep.calibrated = hitl__malloc(KK * sizeof(double));
    w->count = hitl__malloc(K * sizeof *w->count);
    w->frac = hitl__malloc(K * sizeof *w->frac);
    w->cells = hitl__malloc(n_cells * sizeof *w->cells);
    w->first = hitl__malloc((K + 1) * sizeof *w->first);
    w->hist = hitl__malloc(batch * RADIX * sizeof *w->hist);
    int ok = w->rep.thresholds && w->rep.joint && w->rep.calibrated && w->count &&
             w->frac && w->cells && w->first && w->hist;
    if (ok && hitl__topk_init(&w->top, keep) == HITL_OK)
        return HITL_OK;
    work_free(w);
    return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu classes", K);
}

/* The open cells of the calibrated joint, sorted by row; first[i] = row
 * i's first cell.  Returns how many. */
static size_t open_cells(cell *cells, size_t *first, const double *Ct, size_t K)
{
    size_t n = 0;
    for (size_t i = 0; i < K; i++) {
        first[i] = n;
        for (size_t j = 0; j < K; j++)
            if (j != i && Ct[i * K + j] > 0)
                cells[n++] = (cell){ .i = (uint32_t)i, .j = (uint32_t)j,
                                     .need = (size_t)Ct[i * K + j] };
    }
    first[K] = n;
    return n;
}

static int estimate(work *w, const rows *R, int rank, const char *fn)
{
    size_t K = R->K;
    report *rep = &w->rep;
    int st = thresholds_pass(rep->thresholds, w->count, R, fn);
    if (st != HITL_OK)
        return st;
    joint_pass(rep->joint, rep->thresholds, R);
    rep->n_noisy = 0;
    for (size_t i = 0; i < K; i++) {
        calibrate_row(rep->calibrated + i * K, rep->joint + i * K, i, w->count[i], K, w->frac);
        for (size_t j = 0; j < K; j++)
            rep->n_noisy += j != i ? rep->calibrated[i * K + j] : 0;
    }
    size_t n_cells = open_cells(w->cells, w->first, rep->calibrated, K);
    select_cuts(w->cells, n_cells, w->first, w->hist, R);
    rep->n_flagged = flag_pass(&w->top, w->cells, w->first, R, rank);
    hitl__topk_sort(&w->top);
    for (size_t j = 0; j < K; j++)
        if (isinf(rep->thresholds[j]))
            rep->thresholds[j] = NAN;
    rep->n = R->n;
    rep->K = K;
    return HITL_OK;
}

/* Steps 1-5 on checked arguments; on success the report is replaced and
 * the first k flagged items written. */
static int run(size_t *count, size_t *indices, uint64_t *ids, double *scores,
               hitl_recheck *rc, const rows *R, size_t k, size_t folds, const char *fn)
{
    work w;
    int st = work_init(&w, R->K, k < R->n ? k : R->n, fn);
    if (st != HITL_OK)
        return st;
    st = estimate(&w, R, rc->rank, fn);
    if (st != HITL_OK) {
        work_free(&w);
        return st;
    }
    for (size_t q = 0; q < w.top.n; q++) {
        size_t i = w.top.index[q];
        if (indices)
            indices[q] = i;
        if (ids)
            ids[q] = R->pool->ids[i];
        if (scores)
            scores[q] = w.top.key[q];
    }
    *count = w.top.n;
    report_free(&rc->rep);
    rc->rep = w.rep;
    rc->rep.folds = folds;
    rc->has_report = 1;
    w.rep = (report){ 0 };
    work_free(&w);
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Public runs                                                                */
/* ------------------------------------------------------------------------- */

static int check_common(const size_t *count, const hitl_recheck *rc, const hitl_pool *pool,
                        size_t k, const char *fn)
{
    if (!count || !rc || !pool)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL",
                             !count ? "count" : !rc ? "recheck" : "pool");
    if (k == 0)
        return hitl__fail_in(HITL_EINVAL, fn, "k is 0");
    if (pool->count[HITL_ITEM_LABELED] == 0)
        return hitl__fail_in(HITL_ESTATE, fn, "the pool has no labeled item (of %zu items)",
                             pool->n);
    return HITL_OK;
}

int hitl_recheck_query_proba(size_t *count, size_t *indices, uint64_t *ids, double *scores,
                             hitl_recheck *recheck, const float *proba, size_t n_classes,
                             const hitl_pool *pool, size_t k)
{
    int st = check_common(count, recheck, pool, k, __func__);
    if (st != HITL_OK)
        return st;
    if (!proba)
        return hitl__fail(HITL_EINVAL, "proba is NULL");
    size_t n = pool->count[HITL_ITEM_LABELED];
    st = hitl__check_classes(__func__, n_classes);
    if (st == HITL_OK)
        st = hitl__check_rows(__func__, n, n_classes, n_classes, sizeof(float));
    if (st != HITL_OK)
        return st;
    rows R = { pool, proba, n, n_classes };
    return run(count, indices, ids, scores, recheck, &R, k, 0, __func__);
}

/* What cross-fitting needs: a model that can be refitted, the pool's dim,
 * labels below K, folds <= labeled items and at least two items of every
 * labeled class (a lone item's class would be missing from the model that
 * scores it).  *lab gets the labeled items' pool indices. */
static int check_cross_fit(size_t **lab, const hitl_recheck *rc, const hitl_model *model,
                           const hitl_pool *pool, const char *fn)
{
    if (!rc || !model || !pool)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL",
                             !rc ? "recheck" : !model ? "model" : "pool");
    if (model->dim != pool->dim)
        return hitl__fail_in(HITL_EINVAL, fn, "pool dim %zu differs from model dim %zu",
                             pool->dim, model->dim);
    if (model->kind == HITL__MODEL_CUSTOM && !model->fit_cb)
        return hitl__fail_in(HITL_EINVAL, fn, "the custom model has no fit callback, so it "
                             "cannot be cross-fitted: pass its out-of-sample probabilities "
                             "to hitl_recheck_query_proba");
    size_t n = pool->count[HITL_ITEM_LABELED], K = model->n_classes;
    if (n == 0)
        return hitl__fail_in(HITL_ESTATE, fn, "the pool has no labeled item (of %zu items)",
                             pool->n);
    if (rc->folds > n)
        return hitl__fail_in(HITL_EINVAL, fn, "HITL_PARAM_RECHECK_FOLDS is %zu but the pool "
                             "has %zu labeled items", rc->folds, n);
    size_t *per = hitl__calloc(K, sizeof *per);
    *lab = hitl__malloc(n * sizeof **lab);
    if (!per || !*lab) {
        hitl__free(per);
        hitl__free(*lab);
        *lab = NULL;
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu labeled items", n);
    }
    int st = HITL_OK;
    for (size_t i = 0, r = 0; st == HITL_OK && i < pool->n; i++) {
        if (pool->state[i] != HITL_ITEM_LABELED)
            continue;
        int32_t y = pool->label[i];
        if (y < 0 || (size_t)y >= K)
            st = hitl__fail_in(HITL_EINVAL, fn, "pool item %zu (id %llu) has label %d, not "
                               "in [0, %zu)", i, (unsigned long long)pool->ids[i], (int)y, K);
        else
            per[y]++, (*lab)[r++] = i;
    }
    for (size_t c = 0; st == HITL_OK && c < K; c++)
        if (per[c] == 1)
            st = hitl__fail_in(HITL_EINVAL, fn, "class %zu has 1 labeled item: cross-fitting "
                               "needs at least 2 of every labeled class (label more, or pass "
                               "probabilities to hitl_recheck_query_proba)", c);
    hitl__free(per);
    if (st != HITL_OK) {
        hitl__free(*lab);
        *lab = NULL;
    }
    return st;
}

int hitl_recheck_cross_fit(float *proba, const hitl_recheck *recheck, const hitl_model *model,
                           const hitl_pool *pool)
{
    if (!proba)
        return hitl__fail(HITL_EINVAL, "proba is NULL");
    size_t *lab = NULL;
    int st = check_cross_fit(&lab, recheck, model, pool, __func__);
    if (st != HITL_OK)
        return st;
    st = hitl__cross_fit(proba, model, pool, lab, pool->count[HITL_ITEM_LABELED],
                         recheck->folds, recheck->seed, recheck->threads, __func__);
    hitl__free(lab);
    return st;
}

int hitl_recheck_query(size_t *count, size_t *indices, uint64_t *ids, double *scores,
                       hitl_recheck *recheck, const hitl_model *model, const hitl_pool *pool,
                       size_t k)
{
    int st = check_common(count, recheck, pool, k, FN_QUERY);
    size_t *lab = NULL;
    if (st == HITL_OK)
        st = check_cross_fit(&lab, recheck, model, pool, FN_QUERY);
    if (st != HITL_OK)
        return st;
    size_t n = pool->count[HITL_ITEM_LABELED], K = model->n_classes, bytes;
    float *proba = NULL;
    if (hitl__mul_size(&bytes, n, K * sizeof *proba) == 0)
        proba = hitl__malloc(bytes);
    if (!proba)
        st = hitl__fail_in(HITL_ENOMEM, FN_QUERY, "out of memory for %zu x %zu probabilities",
                           n, K);
    if (st == HITL_OK)
        st = hitl__cross_fit(proba, model, pool, lab, n, recheck->folds, recheck->seed,
                             recheck->threads, FN_QUERY);
    hitl__free(lab);
    if (st == HITL_OK) {
        rows R = { pool, proba, n, K };
        st = run(count, indices, ids, scores, recheck, &R, k, recheck->folds, FN_QUERY);
    }
    hitl__free(proba);
    return st;
}
