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
 * a radix selection on the margins' order-preserving 32-bit codes, digits
 * of 11, 11 and 10 bits, a pass each (a cell is done early when the bucket
 * it needs is taken whole, so the last pass is often skipped), with 2048
 * counters per cell and at most CELL_BATCH cells' counters at once; while
 * every cell fits (K <= 23), the first digit is
 * counted in step 2's pass.  The last pass walks the items in index order,
 * which settles ties at the cut by lower index; it passes over items whose
 * label is their most probable class (never flagged) unless a cell of
 * their row still hands out ties one by one.  When nothing had to be
 * dropped for want of room (k >= flagged), the queue is sorted by a radix
 * sort instead of a heap.
 *
 * Stopping rule: none is needed; every step is a fixed number of passes
 * (at most 1 + 1 + 3 + 1 over the probabilities, 3 more for each further
 * batch of cells).
 */
#include "select/select.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define MAX_SEED 9007199254740992.0 /* 2^53 */
#define MAX_FOLDS 1000
#define MAX_THREADS 1024
#define RADIX 2048             /* counters per cell: digits of 11, 11, 10 bits */
#define CELL_BATCH 512         /* cells counted at once: 4 MiB of counters */

/* Width of the radix digit after `bits` decided bits: three passes, the
 * last often skipped (a cell is done once the bucket it needs is taken
 * whole). */
#define RADIX_FIRST 11
static inline int digit_bits(int bits)
{
    return bits < 22 ? 11 : 10;
}
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

/* For each labeled item i of pool items lo .. hi-1, the first of them
 * being row r0: p = its probability row (r counts on past it). */
#define FOR_ROWS(R, lo, hi, r0, i, r, p)                                   \
    for (size_t i = (lo), r = (r0); i < (hi); i++)                          \
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

/* The class of largest p among those at or above their threshold (lowest
 * on ties), or K when there is none. */
static size_t confident_class(const float *p, const double *t, size_t K)
{
    size_t best = K;
    float top = -1;
    for (size_t j = 0; j < K; j++) {
        int more = p[j] >= t[j] && p[j] > top;
        best = more ? j : best;
        top = more ? p[j] : top;
    }
    return best;
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
    int bits;         /* how many (0, 11, 22) */
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
    int width = digit_bits(c->bits), low = 32 - c->bits - width;
    size_t b = 0;
    while (c->need > hist[b])
        c->need -= hist[b++];
    c->prefix |= (uint32_t)b << low;
    c->bits += width;
    if (c->need == hist[b] || c->bits == 32) {
        c->done = 1;
        c->shift = low;
        c->cut = c->prefix >> low;
        c->ties = c->need == hist[b] ? SIZE_MAX : c->need;
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
    float top = p[0];
    for (size_t j = 1; j < K; j++) {
        int more = p[j] > top;
        best = more ? j : best;
        top = more ? p[j] : top;
    }
    return best;
}

/* Sort n entries by key (doubles >= 0, whose bits order like their
 * values), stably: an LSD radix sort, a byte a pass, skipping the bytes all
 * keys share.  Entries arrive in pool index order, so ties stay in it.
 * tk, ti: n entries of scratch. */
static void sort_queue(double *key, size_t *index, size_t n, double *tk, size_t *ti)
{
    for (int shift = 0; shift < 64; shift += 8) {
        size_t cnt[256] = { 0 };
        for (size_t q = 0; q < n; q++) {
            uint64_t u;
            memcpy(&u, &key[q], sizeof u);
            cnt[(u >> shift) & 255]++;
        }
        size_t at = 0, skip = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = cnt[b];
            skip |= c == n;
            cnt[b] = at;
            at += c;
        }
        if (skip)
            continue;
        for (size_t q = 0; q < n; q++) {
            uint64_t u;
            memcpy(&u, &key[q], sizeof u);
            size_t to = cnt[(u >> shift) & 255]++;
            tk[to] = key[q];
            ti[to] = index[q];
        }
        memcpy(key, tk, n * sizeof *key);
        memcpy(index, ti, n * sizeof *index);
    }
}

/* Does a cell of row y still have ties to hand out one at a time?  Then
 * every item of the row must be walked in order; else items whose label
 * is their argmax (never flagged) can be passed over. */
static int row_has_ties(const cell *cells, const size_t *first, size_t y)
{
    for (size_t q = first[y]; q < first[y + 1]; q++)
        if (cells[q].ties > 0 && cells[q].ties != SIZE_MAX)
            return 1;
    return 0;
}

/* Step 5: the flagged items into t (entries appended while there is room;
 * a heap from the first one that finds none: then *heap is set); returns
 * how many were flagged.  tied: K bytes of scratch. */
static size_t flag_pass(hitl__topk *t, int *heap, cell *cells, const size_t *first,
                        uint8_t *tied, const rows *R, int rank)
{
    size_t flagged = 0, K = R->K;
    *heap = 0;
    for (size_t y = 0; y < K; y++)
        tied[y] = (uint8_t)row_has_ties(cells, first, y);
    FOR_ROWS(R, 0, R->pool->n, 0, it, r, p) {
        size_t y = (size_t)R->pool->label[it];
        int mine = argmax(p, K) == y;
        if (mine && !tied[y])
            continue;
        int hit = 0;
        for (size_t q = first[y]; q < first[y + 1]; q++)
            hit |= taken(&cells[q], p);
        if (!hit || mine)
            continue;
        flagged++;
        double score = item_score(p, y, K, rank);
        if (!*heap && t->n < t->k) {
            t->key[t->n] = score;
            t->index[t->n++] = it;
            continue;
        }
        if (!*heap) {
            hitl__topk_heapify(t);
            *heap = 1;
        }
        hitl__topk_push(t, score, it);
    }
    return flagged;
}

/* ------------------------------------------------------------------------- */
/* The streamed passes, in blocks on the worker pool                          */
/* ------------------------------------------------------------------------- */

/* Steps 1, 2 and the counting passes of step 4 cut the pool into blocks of
 * BLOCK_ITEMS items, tasks of the worker pool (base/tasks.c).  Each worker
 * adds into its own counters (exact integers, so the order does not
 * matter); the sums of step 1 are kept per block and added in block order,
 * so every result is the same for any thread count.  Step 5 is one
 * sequential pass: ties at a cut are settled by pool index order. */
#define BLOCK_ITEMS 65536
#define MAX_PASS_WORKERS 64

enum { PASS_THRESHOLDS, PASS_JOINT, PASS_COUNT };

typedef struct work {
    report rep;
    const rows *R;
    const char *fn;
    int pass, fused;
    size_t workers, n_blocks, n_cells, lo, hi, hist_len;
    size_t *row0;      /* n_blocks: the first row of each block */
    double *tsum;      /* n_blocks x K: each block's sums of p_y by label */
    double *wcount;    /* workers x K: labeled items per class */
    double *wC;        /* workers x K x K: the confident joint */
    uint32_t *whist;   /* workers x hist_len: radix counters */
    double *count, *frac;
    uint8_t *tied;     /* K */
    cell *cells;
    size_t *first;
    hitl__topk top;
} work;

/* Step 1 for one row: check it and its label, add p_y. */
static int thresholds_row(work *w, size_t worker, size_t block, size_t i, size_t r,
                          const float *p)
{
    const hitl_pool *pool = w->R->pool;
    size_t K = w->R->K;
    int32_t y = pool->label[i];
    if (y < 0 || (size_t)y >= K)
        return hitl__fail_in(HITL_EINVAL, w->fn, "pool item %zu (id %llu) has label %d, "
                             "not in [0, %zu)", i, (unsigned long long)pool->ids[i], (int)y,
                             K);
    /* the shared check only names what is wrong: most rows pass this */
    double sum = 0;
    int bad = 0;
    for (size_t c = 0; c < K; c++) {
        bad |= !(p[c] >= 0 && p[c] <= FLT_MAX);
        sum += p[c];
    }
    if (bad || fabs(sum - 1.0) > HITL__PROBA_SLACK) {
        int st = hitl__check_proba_row(w->fn, p, K, r);
        if (st != HITL_OK)
            return st;
    }
    w->tsum[block * K + (size_t)y] += p[y];
    w->wcount[worker * K + (size_t)y] += 1;
    return HITL_OK;
}

/* Step 2 for one row; fused, also the first radix digit of every
 * off-diagonal cell of its row (cell (y, c) at y (K-1) + c - (c > y)). */
static void joint_row(work *w, size_t worker, size_t y, const float *p)
{
    size_t K = w->R->K, j = confident_class(p, w->rep.thresholds, K);
    if (j < K)
        w->wC[(worker * K + y) * K + j] += 1;
    if (!w->fused)
        return;
    uint32_t *h = w->whist + worker * w->hist_len + y * (K - 1) * RADIX;
    for (size_t c = 0; c < K; c++)
        if (c != y)
            h[(c - (c > y)) * RADIX + (margin_code(p, y, c) >> (32 - RADIX_FIRST))]++;
}

/* A counting pass for one row: the next digit of every open cell of its
 * row among cells lo .. hi-1 whose prefix the row's margin matches. */
static void count_row(work *w, size_t worker, size_t y, const float *p)
{
    size_t a = w->first[y] > w->lo ? w->first[y] : w->lo;
    size_t b = w->first[y + 1] < w->hi ? w->first[y + 1] : w->hi;
    uint32_t *h = w->whist + worker * w->hist_len;
    for (size_t q = a; q < b; q++) {
        const cell *c = &w->cells[q];
        if (c->done)
            continue;
        uint32_t v = margin_code(p, y, c->j);
        if (c->bits && (v >> (32 - c->bits)) != (c->prefix >> (32 - c->bits)))
            continue;
        int width = digit_bits(c->bits);
        h[(q - w->lo) * RADIX + ((v >> (32 - c->bits - width)) & ((1u << width) - 1))]++;
    }
}

static int pass_block(void *ctx, size_t worker, size_t block)
{
    work *w = ctx;
    const rows *R = w->R;
    size_t lo = block * BLOCK_ITEMS, hi = R->pool->n - lo > BLOCK_ITEMS ? lo + BLOCK_ITEMS
                                                                         : R->pool->n;
    FOR_ROWS(R, lo, hi, w->row0[block], i, r, p) {
        size_t y = (size_t)R->pool->label[i];
        if (w->pass == PASS_THRESHOLDS) {
            int st = thresholds_row(w, worker, block, i, r - 1, p);
            if (st != HITL_OK)
                return st;
        } else if (w->pass == PASS_JOINT) {
            joint_row(w, worker, y, p);
        } else {
            count_row(w, worker, y, p);
        }
    }
    return HITL_OK;
}

/* Run pass `pass` over every block, its per-worker counters zeroed first. */
static int run_pass(work *w, int pass)
{
    size_t K = w->R->K;
    w->pass = pass;
    if (pass == PASS_THRESHOLDS) {
        memset(w->tsum, 0, w->n_blocks * K * sizeof *w->tsum);
        memset(w->wcount, 0, w->workers * K * sizeof *w->wcount);
    } else if (pass == PASS_JOINT) {
        memset(w->wC, 0, w->workers * K * K * sizeof *w->wC);
    }
    if (pass == PASS_COUNT || (pass == PASS_JOINT && w->fused))
        memset(w->whist, 0, w->workers * w->hist_len * sizeof *w->whist);
    return hitl__tasks_run(w->workers, w->n_blocks, pass_block, w, w->fn);
}

/* hist[q] += every worker's counters of cell slot q (n slots of RADIX). */
static void merge_hist(work *w, size_t n)
{
    for (size_t k = 1; k < w->workers; k++)
        for (size_t q = 0; q < n * RADIX; q++)
            w->whist[q] += w->whist[k * w->hist_len + q];
}

static void select_cuts(work *w)
{
    for (w->lo = 0; w->lo < w->n_cells; w->lo += CELL_BATCH) {
        w->hi = w->n_cells - w->lo > CELL_BATCH ? w->lo + CELL_BATCH : w->n_cells;
        for (;;) {
            int open = 0;
            for (size_t q = w->lo; q < w->hi; q++)
                open |= !w->cells[q].done;
            if (!open)
                break;
            run_pass(w, PASS_COUNT);
            merge_hist(w, w->hi - w->lo);
            for (size_t q = w->lo; q < w->hi; q++) {
                if (!w->cells[q].done)
                    cell_decide(&w->cells[q], w->whist + (q - w->lo) * RADIX);
            }
        }
    }
}

static void work_free(work *w)
{
    report_free(&w->rep);
    hitl__free(w->row0);
    hitl__free(w->tsum);
    hitl__free(w->wcount);
    hitl__free(w->wC);
    hitl__free(w->whist);
    hitl__free(w->count);
    hitl__free(w->frac);
    hitl__free(w->tied);
    hitl__free(w->cells);
    hitl__free(w->first);
    hitl__topk_free(&w->top);
}

static int work_init(work *w, const rows *R, size_t threads, size_t keep, const char *fn)
{
    size_t K = R->K, KK = K * K, n_cells = KK - K, n = R->pool->n;
    memset(w, 0, sizeof *w);
    w->R = R;
    w->fn = fn;
    w->fused = n_cells <= CELL_BATCH;
    w->n_blocks = n / BLOCK_ITEMS + (n % BLOCK_ITEMS != 0);
    w->workers = threads ? threads : hitl__cpus();
    if (w->workers > MAX_PASS_WORKERS)
        w->workers = MAX_PASS_WORKERS;
    if (w->workers > w->n_blocks)
        w->workers = w->n_blocks;
    w->hist_len = (n_cells < CELL_BATCH ? n_cells : CELL_BATCH) * RADIX;
    w->rep.thresholds = hitl__malloc(K * sizeof(double));
    w->rep.joint = hitl__malloc(KK * sizeof(double));
    w->rep.calibrated = hitl__malloc(KK * sizeof(double));
    w->row0 = hitl__malloc(w->n_blocks * sizeof *w->row0);
    w->tsum = hitl__calloc(w->n_blocks * K, sizeof *w->tsum);
    w->wcount = hitl__calloc(w->workers * K, sizeof *w->wcount);
    w->wC = hitl__calloc(w->workers * KK, sizeof *w->wC);
    w->whist = hitl__calloc(w->workers * w->hist_len, sizeof *w->whist);
    w->count = hitl__malloc(K * sizeof *w->count);
    w->frac = hitl__malloc(K * sizeof *w->frac);
    w->tied = hitl__malloc(K);
    w->cells = hitl__malloc(n_cells * sizeof *w->cells);
    w->first = hitl__malloc((K + 1) * sizeof *w->first);
    int ok = w->rep.thresholds && w->rep.joint && w->rep.calibrated && w->row0 && w->tsum &&
             w->wcount && w->wC && w->whist && w->count && w->frac && w->tied && w->cells && w->first;
    if (ok && hitl__topk_init(&w->top, keep) == HITL_OK) {
        for (size_t b = 0, r = 0, i = 0; b < w->n_blocks; b++) {
            w->row0[b] = r;
            for (size_t end = i + BLOCK_ITEMS < n ? i + BLOCK_ITEMS : n; i < end; i++)
                r += R->pool->state[i] == HITL_ITEM_LABELED;
        }
        return HITL_OK;
    }
    work_free(w);
    return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu classes", K);
}

/* The cells of the calibrated joint, sorted by row; first[i] = row i's
 * first cell.  Returns how many.  With all, every off-diagonal cell (those
 * of need 0 done, taking nothing), else only those of need > 0. */
static size_t make_cells(cell *cells, size_t *first, const double *Ct, size_t K, int all)
{
    size_t n = 0;
    for (size_t i = 0; i < K; i++) {
        first[i] = n;
        for (size_t j = 0; j < K; j++) {
            size_t need = (size_t)Ct[i * K + j];
            if (j != i && (all || need > 0))
                cells[n++] = (cell){ .i = (uint32_t)i, .j = (uint32_t)j, .need = need,
                                     .done = need == 0 };
        }
    }
    first[K] = n;
    return n;
}

/* Step 1's thresholds from the blocks' sums, in block order. */
static void thresholds_from_blocks(work *w)
{
    size_t K = w->R->K;
    report *rep = &w->rep;
    for (size_t j = 0; j < K; j++) {
        double sum = 0, cnt = 0;
        for (size_t b = 0; b < w->n_blocks; b++)
            sum += w->tsum[b * K + j];
        for (size_t k = 0; k < w->workers; k++)
            cnt += w->wcount[k * K + j];
        w->count[j] = cnt;
        rep->thresholds[j] = cnt > 0 ? sum / cnt : INFINITY;
    }
}

/* Step 2's joint from the workers' counts, and step 3. */
static void calibrate(work *w)
{
    size_t K = w->R->K;
    report *rep = &w->rep;
    memcpy(rep->joint, w->wC, K * K * sizeof *rep->joint);
    for (size_t k = 1; k < w->workers; k++)
        for (size_t q = 0; q < K * K; q++)
            rep->joint[q] += w->wC[k * K * K + q];
    rep->n_noisy = 0;
    for (size_t i = 0; i < K; i++) {
        calibrate_row(rep->calibrated + i * K, rep->joint + i * K, i, w->count[i], K, w->frac);
        for (size_t j = 0; j < K; j++)
            rep->n_noisy += j != i ? rep->calibrated[i * K + j] : 0;
    }
}

static int estimate(work *w, int rank)
{
    const rows *R = w->R;
    size_t K = R->K;
    report *rep = &w->rep;
    int st = run_pass(w, PASS_THRESHOLDS);
    if (st != HITL_OK)
        return st;
    thresholds_from_blocks(w);
    st = run_pass(w, PASS_JOINT);
    if (st != HITL_OK)
        return st;
    calibrate(w);
    w->n_cells = make_cells(w->cells, w->first, rep->calibrated, K, w->fused);
    if (w->fused) {
        merge_hist(w, w->n_cells);
        for (size_t q = 0; q < w->n_cells; q++)
            if (!w->cells[q].done)
                cell_decide(&w->cells[q], w->whist + q * RADIX);
    }
    select_cuts(w);
    int heap;
    rep->n_flagged = flag_pass(&w->top, &heap, w->cells, w->first, w->tied, R, rank);
    if (heap) {
        hitl__topk_sort(&w->top);
    } else if (w->top.n > 1) {
        size_t n = w->top.n;
        double *tk = hitl__malloc(n * (sizeof *tk + sizeof(size_t)));
        if (!tk)
            return hitl__fail_in(HITL_ENOMEM, w->fn, "out of memory for %zu results", n);
        sort_queue(w->top.key, w->top.index, n, tk, (size_t *)(tk + n));
        hitl__free(tk);
    }
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
    int st = work_init(&w, R, rc->threads, k < R->n ? k : R->n, fn);
    if (st != HITL_OK)
        return st;
    st = estimate(&w, rc->rank);
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
