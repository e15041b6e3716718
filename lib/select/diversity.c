/*
 * diversity: query strategies that look at where items lie, not only at how
 * unsure the model is about them.
 *
 *   KCENTER       k-center greedy (core-set, Sener & Savarese 2018)
 *   RANKED_BATCH  ranked batch mode (Cardoso et al. 2017)
 *   DENSITY       information density (Settles & Craven 2008)
 *   HYBRID        top beta*k by informativeness, then k of them by k-center
 *   DEFAULT       the recommended recipe (see hitl.h)
 *   cold start    a diverse first batch when nothing is labeled yet
 *
 * Geometry.  Every strategy here works with squared Euclidean distances
 *     ||x - c||^2 = ||x||^2 + ||c||^2 - 2 x.c
 * with ||x||^2 precomputed once per query and ||c||^2 - 2 x.c from the
 * learning layer's linear kernel, the centres taken as a layer (a dot product per row for
 * one centre, the register-blocked kernel or sgemm for many), a block of
 * rows at a time in every worker, the fold done while the block is in cache.
 * Rounding can make the difference slightly negative;
 * it is clamped at 0.  A running vector `mind` holds, for every candidate,
 * the squared distance to its nearest centre; adding a centre is one pass
 * over the pool (O(N d)), never O(N |centres|), that also finds the next
 * farthest candidate.
 *
 * Memory: O(N) floats (norms, mind, informativeness) plus fixed tiles; never
 * N x N.
 *
 * Sparse pools.  The same folds, with ||x||^2 the norms the pool keeps for
 * every item and x.c from the CSR kernel: a tile's centres are scattered
 * into a feature-major layer (only their non-zeros are written, and wiped
 * again after the tile, so the layer is zeroed once a fold), and each
 * non-zero of a row adds one contiguous row of it.  The pool is never
 * densified; the layer takes (dim + 1) x round16(tile) floats, the tile
 * being cut to at most SPARSE_TILE_BYTES (and at least 16 centres: 64 dim
 * bytes, 1 GiB at 2^24 columns, the size of a 16-class model's weights).
 * The hybrid's second stage gathers its rows as one CSR matrix.
 */
#include "select/select.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TILE_CENTRES 256    /* centres per linear layer in rs_fold */
#define SPARSE_TILE_BYTES ((size_t)64 << 20)
#define ROWS_PER_THREAD 65536  /* fewer rows than this: one thread */
#define MAX_THREADS 16

/* ------------------------------------------------------------------------- */
/* Row sets: the rows distances are kept for                                  */
/* ------------------------------------------------------------------------- */

/* Either every item of a pool (pool mode, read through its chunks; local index
 * = pool index; candidates are the UNLABELED items), or a gathered matrix of
 * some unlabeled items (matrix mode; map[i] is the pool index of row i, in
 * increasing order so that ties still go to the lower pool index; every row
 * is a candidate). */
typedef struct rowset {
    const hitl_pool *pool;
    size_t n, dim;
    int gathered;           /* matrix mode */
    const float *mat;       /* its dense rows, or NULL for CSR in one */
    const size_t *map;
    hitl__chunk one;        /* matrix mode: the matrix as one chunk */
    const char *fn;         /* the public function, for messages */
} rowset;

static rowset rs_pool(const hitl_pool *pool, const char *fn)
{
    return (rowset){ .pool = pool, .n = pool->n, .dim = pool->dim, .fn = fn };
}

static rowset rs_matrix(const hitl_pool *pool, const float *mat, const size_t *map, size_t n,
                        const char *fn)
{
    size_t d = pool->dim;
    return (rowset){ .pool = pool, .n = n, .dim = d, .gathered = 1, .mat = mat, .map = map,
                     .one = { .rows = mat, .first = 0, .n = n, .stride = d }, .fn = fn };
}

/* Matrix mode of a sparse pool: the gathered rows as CSR. */
static rowset rs_csr(const hitl_pool *pool, const int32_t *ip, const int32_t *ix,
                     const float *vx, const size_t *map, size_t n, const char *fn)
{
    return (rowset){ .pool = pool, .n = n, .dim = pool->dim, .gathered = 1, .map = map,
                     .one = { .n = n, .indptr = ip, .indices = ix, .values = vx }, .fn = fn };
}

/* The pool index of row i of the set. */
static size_t rs_item(const rowset *rs, size_t i)
{
    return rs->gathered ? rs->map[i] : i;
}

/* The chunks holding the rows (*count of them; the pool's may run past n). */
static const hitl__chunk *rs_chunks(const rowset *rs, size_t *count)
{
    *count = rs->gathered ? 1 : rs->pool->n_chunks;
    return rs->gathered ? &rs->one : rs->pool->chunks;
}

static const float *rs_row(const rowset *rs, size_t i)
{
    return rs->mat ? rs->mat + i * rs->dim : hitl__pool_row(rs->pool, i);
}

static int rs_is_candidate(const rowset *rs, size_t i)
{
    return rs->gathered || rs->pool->state[i] == HITL_ITEM_UNLABELED;
}

/* BLAS takes int dimensions: refuse a pool whose row stride it cannot take. */
static int rs_check(const rowset *rs, const char *fn)
{
    size_t nc;
    const hitl__chunk *ch = rs_chunks(rs, &nc);
    if (rs->pool->sparse)
        return HITL_OK;      /* no BLAS on CSR */
    if (rs->dim > (size_t)INT_MAX)
        return hitl__fail_in(HITL_EINVAL, fn, "dim %zu exceeds %d", rs->dim, INT_MAX);
    for (size_t k = 0; k < nc && ch[k].first < rs->n; k++)
        if (ch[k].stride > (size_t)INT_MAX)
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "a pool batch has row stride %zu, above the %d BLAS takes",
                                 ch[k].stride, INT_MAX);
    return HITL_OK;
}

static float sqnorm(const float *x, size_t d)
{
    float xn;
    hitl__sqnorms(&xn, x, 1, d, d);
    return xn;
}

/* xn[i] = ||x_i||^2 for rows first .. first+m-1 of a sparse pool's set:
 * the norms the pool keeps. */
static void rs_kept_norms(float *xn, const rowset *rs, size_t first, size_t m)
{
    for (size_t i = first; i < first + m; i++)
        xn[i] = rs->pool->sqnorm[rs_item(rs, i)];
}

/* xn[i] = ||x_i||^2 for every row. */
static void rs_norms(float *xn, const rowset *rs)
{
    if (rs->pool->sparse) {
        rs_kept_norms(xn, rs, 0, rs->n);
        return;
    }
    size_t nc;
    const hitl__chunk *ch = rs_chunks(rs, &nc);
    for (size_t k = 0; k < nc && ch[k].first < rs->n; k++) {
        size_t m = rs->n - ch[k].first < ch[k].n ? rs->n - ch[k].first : ch[k].n;
        hitl__sqnorms(xn + ch[k].first, ch[k].rows, m, ch[k].stride, rs->dim);
    }
}

/*
 * For every candidate row i, fold the squared distances to the centres
 * (centres[0 .. n_centres-1]: rows of the row set when `local`, else pool
 * items) into out[i]:
 *   MIN:  out[i] = min(out[i], min_j ||x_i - c_j||^2)
 *   KDE:  out[i] += sum_j exp(-||x_i - c_j||^2 * inv_h2)
 * Centres are taken TILE_CENTRES at a time as a linear layer with weights
 * -2 c_j and biases ||c_j||^2, so the stacked linear kernel
 * (hitl__linear_block: its register-blocked kernel, or sgemm for a wide
 * tile) gives ||c_j||^2 - 2 x.c_j for a block of rows, class-major (the fold
 * then runs along rows and vectorises).  The cost is one product of
 * N x n_centres x d, the memory a block per thread.  Row ranges go to one
 * thread per online CPU unless the tile needs OpenBLAS's own threads.  Rows
 * that are not candidates are computed and left alone (MIN: they hold -1,
 * below any distance).  MIN also finds the candidate that is then farthest
 * from every centre (ties to the lower index), in the same pass.
 */
enum { FOLD_MIN, FOLD_KDE };

/* A candidate and its squared distance to the nearest centre; i is SIZE_MAX
 * and d -1 (below any distance, so non-candidates never win) for none. */
typedef struct farthest {
    size_t i;
    float d;
} farthest;

#define NO_FARTHEST ((farthest){ SIZE_MAX, -1.0f })

/* f = the larger of f and the largest of v[0 .. m-1] (row `first` + i);
 * ties keep the lower index.  Sixteen lanes with integer-mask selects, which
 * vectorise; the lanes are then merged in index order. */
static void farthest_of(farthest *f, const float *v, size_t m, size_t first)
{
    float bd[16];
    int32_t bi[16];
    for (int r = 0; r < 16; r++) {
        bd[r] = -1.0f;
        bi[r] = 0;
    }
    size_t i0 = 0;
    for (; i0 + 16 <= m; i0 += 16)
        for (int r = 0; r < 16; r++) {
            int32_t gt = -(int32_t)(v[i0 + r] > bd[r]);
            bi[r] = (bi[r] & ~gt) | ((int32_t)i0 & gt);
            bd[r] = v[i0 + r] > bd[r] ? v[i0 + r] : bd[r];
        }
    farthest b = NO_FARTHEST;
    for (int r = 0; r < 16; r++) {
        size_t j = (size_t)bi[r] + (size_t)r;
        if (bd[r] > b.d || (bd[r] == b.d && bd[r] >= 0.0f && j < b.i))
            b = (farthest){ j, bd[r] };
    }
    for (; i0 < m; i0++)
        if (v[i0] > b.d)
            b = (farthest){ i0, v[i0] };
    if (b.i != SIZE_MAX && b.d > f->d)
        *f = (farthest){ first + b.i, b.d };
}

#define FOLD_ROWS 1024

/* Shares of FOLD_SHARE rows (never across a chunk), taken by whichever
 * thread is free (a fixed half each left one core idle for a tenth of a
 * k-center pick: a new thread does not start at once), FOLD_ROWS rows at a
 * time. */
#define FOLD_SHARE (4 * FOLD_ROWS)

/* One tile's fold: what every worker reads, and per worker its block of
 * products and its farthest candidate. */
typedef struct fold_job {
    const rowset *rs;
    float *xn;              /* read, or first written when norms is set */
    int norms;
    float *out;
    const hitl__linear *L;
    int how;
    float inv_h2;
    int track;              /* MIN: find the farthest candidate (last tile) */
    const hitl__block *shares;
    float *G;               /* per worker: centres of the tile x FOLD_ROWS */
    size_t per;             /* floats of G per worker */
    farthest *far;          /* per worker: the farthest of its rows */
} fold_job;

/* out[i] = min(out[i], max(xn[i] + g[i], 0)): sixteen at a time, a fixed
 * trip count that vectorises at -O2. */
static void min_dist(float *restrict out, const float *restrict xn, const float *restrict g,
                     size_t m)
{
    size_t i0 = 0;
    for (; i0 + 16 <= m; i0 += 16)
        for (int r = 0; r < 16; r++) {
            float dd = xn[i0 + r] + g[i0 + r];
            dd = dd > 0.0f ? dd : 0.0f;
            out[i0 + r] = dd < out[i0 + r] ? dd : out[i0 + r];
        }
    for (; i0 < m; i0++) {
        float dd = xn[i0] + g[i0];
        dd = dd > 0.0f ? dd : 0.0f;
        out[i0] = dd < out[i0] ? dd : out[i0];
    }
}

/* Rows r .. r+m-1 of share s (items s->first + r ..). */
static void fold_rows(const fold_job *f, size_t w, const hitl__block *s, size_t r, size_t m)
{
    size_t t = f->L->C, ld = HITL__ROUND16(m), first = s->first + r;
    float *out = f->out + first, *xn = f->xn + first, *G = f->G + w * f->per;
    if (f->norms && s->rows)        /* the block is in cache for the product */
        hitl__sqnorms(xn, s->rows + r * s->stride, m, s->stride, f->L->d);
    else if (f->norms)
        rs_kept_norms(f->xn, f->rs, first, m);
    hitl__linear_rows(G, ld, f->L, s, r, m);
    if (f->how == FOLD_MIN) {
        for (size_t j = 0; j < t; j++)
            min_dist(out, xn, G + j * ld, m);
        if (f->track)       /* the block's distances are still in cache */
            farthest_of(&f->far[w], out, m, first);
        return;
    }
    const uint8_t *state = f->rs->gathered ? NULL : f->rs->pool->state + first;
    for (size_t i = 0; i < m; i++) {
        if (state && state[i] != HITL_ITEM_UNLABELED)
            continue;
        float acc = out[i];
        for (size_t j = 0; j < t; j++) {
            float dd = xn[i] + G[j * ld + i];
            acc += expf(-(dd > 0.0f ? dd : 0.0f) * f->inv_h2);
        }
        out[i] = acc;
    }
}

static int fold_share(void *ctx, size_t w, size_t task)
{
    const fold_job *f = ctx;
    const hitl__block *s = &f->shares[task];
    for (size_t r = 0; r < s->n; r += FOLD_ROWS) {
        size_t m = s->n - r < FOLD_ROWS ? s->n - r : FOLD_ROWS;
        fold_rows(f, w, s, r, m);
    }
    return HITL_OK;
}

/* What rs_fold folds: the centres (rows of the row set when `local`, else
 * pool items), how, and whether xn is written (the first tile's pass) rather
 * than read. */
typedef struct fold_spec {
    const size_t *centres;
    size_t n_centres;
    int local;
    int how;
    float inv_h2;
    int norms;
} fold_spec;

static const float *centre_row(const rowset *rs, const fold_spec *sp, size_t j)
{
    size_t c = sp->centres[j];
    return sp->local ? rs_row(rs, c) : hitl__pool_row(rs->pool, c);
}

/* The pool item of centre j (sparse pools read every centre there). */
static size_t centre_item(const rowset *rs, const fold_spec *sp, size_t j)
{
    size_t c = sp->centres[j];
    return sp->local ? rs_item(rs, c) : c;
}

/* The sparse form of centre_layer: -2 c_j written at c_j's non-zeros of a
 * layer that is zero elsewhere (clear = 1 writes the zeros back). */
static hitl__linear centre_layer_csr(float *w, const rowset *rs, const fold_spec *sp,
                                     size_t c0, size_t t, size_t ldw, int clear)
{
    size_t d = rs->dim;
    hitl__linear L = { .d = d, .C = t, .ldw = ldw, .w = w, .b = w + d * ldw };
    for (size_t j = 0; j < t; j++) {
        size_t item = centre_item(rs, sp, c0 + j), nnz;
        const int32_t *idx;
        const float *val;
        hitl__pool_csr_row(&idx, &val, &nnz, rs->pool, item);
        for (size_t q = 0; q < nnz; q++)
            w[(size_t)idx[q] * ldw + j] = clear ? 0.0f : -2.0f * val[q];
        w[d * ldw + j] = clear ? 0.0f : rs->pool->sqnorm[item];
    }
    return L;
}

/* Centres per tile: TILE_CENTRES, or for a sparse pool as many as keep the
 * layer within SPARSE_TILE_BYTES (at least 16). */
static size_t tile_centres(const rowset *rs)
{
    if (!rs->pool->sparse)
        return TILE_CENTRES;
    size_t t = SPARSE_TILE_BYTES / ((rs->dim + 1) * sizeof(float)) & ~(size_t)15;
    return t < 16 ? 16 : t > TILE_CENTRES ? TILE_CENTRES : t;
}

/* The weights -2 c_j and biases ||c_j||^2 of centres c0 .. c0+t-1. */
static hitl__linear centre_layer(float *w, const rowset *rs, const fold_spec *sp,
                                 size_t c0, size_t t)
{
    size_t d = rs->dim, ldw = hitl__linear_ldw(t);
    hitl__linear L = { .d = d, .C = t, .ldw = ldw, .w = w, .b = w + d * ldw };
    memset(w, 0, (d + 1) * ldw * sizeof *w);
    for (size_t j = 0; j < t; j++) {
        const float *c = centre_row(rs, sp, c0 + j);
        for (size_t q = 0; q < d; q++)
            w[q * ldw + j] = -2.0f * c[q];
        w[d * ldw + j] = sqnorm(c, d);
    }
    return L;
}

static size_t fold_threads(size_t n)
{
    size_t T = hitl__cpus();
    T = T < MAX_THREADS ? T : MAX_THREADS;
    return T < n / ROWS_PER_THREAD + 1 ? T : n / ROWS_PER_THREAD + 1;
}

/* The rows of a row set in shares of FOLD_SHARE rows, never across a chunk:
 * the tasks of every fold over them, made once per query. */
typedef struct plan {
    hitl__block *shares;
    size_t n;
    hitl__block local[HITL__LOCAL_BLOCKS];
} plan;

static int plan_make(plan *p, const rowset *rs)
{
    size_t nc;
    const hitl__chunk *ch = rs_chunks(rs, &nc);
    return hitl__blocks_plan(&p->shares, &p->n, p->local, HITL__LOCAL_BLOCKS, ch, nc, 0,
                             rs->n, FOLD_SHARE);
}

static void plan_free(plan *p)
{
    if (p->shares != p->local)
        hitl__free(p->shares);
    p->shares = NULL;
}

/* The fold of every row, tile by tile; whichever thread is free takes the
 * next share of the rows.  For MIN, *far (when not NULL) receives the
 * farthest candidate afterwards (left alone when there are no centres). */
static int rs_fold(float *out, float *xn, const rowset *rs, const plan *pl,
                   const fold_spec *sp, farthest *far)
{
    size_t d = rs->dim, n = rs->n, n_c = sp->n_centres;
    if (sp->norms && n_c == 0)
        rs_norms(xn, rs);
    if (n_c == 0 || n == 0)
        return HITL_OK;
    int sparse = rs->pool->sparse;
    size_t T = fold_threads(n), most = tile_centres(rs), tile = n_c < most ? n_c : most;
    size_t per = tile * HITL__ROUND16(FOLD_ROWS), ldw = hitl__linear_ldw(tile);
    /* a sparse layer starts zeroed: calloc (the pages of a large one are
       only touched where centres have non-zeros) */
    float *w = sparse ? hitl__calloc((d + 1) * ldw + T * per, sizeof *w)
                      : hitl__malloc(((d + 1) * ldw + T * per) * sizeof *w);
    if (!w)
        return HITL_ENOMEM;
    farthest fars[MAX_THREADS];
    int st = HITL_OK;
    for (size_t c0 = 0; st == HITL_OK && c0 < n_c; c0 += most) {
        size_t t = n_c - c0 < most ? n_c - c0 : most;
        hitl__linear L = sparse ? centre_layer_csr(w, rs, sp, c0, t, ldw, 0)
                                : centre_layer(w, rs, sp, c0, t);
        /* a tile that goes to sgemm is threaded by OpenBLAS: one caller */
        size_t threads = !sparse && hitl__linear_uses_blas(&L, FOLD_ROWS, d) &&
                         hitl__linear_blas_threaded() ? 1 : T;
        fold_job job = { .rs = rs, .xn = xn, .norms = sp->norms && c0 == 0, .out = out,
                         .L = &L, .how = sp->how, .inv_h2 = sp->inv_h2,
                         .track = far && sp->how == FOLD_MIN && c0 + t == n_c,
                         .shares = pl->shares, .G = w + (d + 1) * ldw, .per = per,
                         .far = fars };
        for (size_t k = 0; k < threads; k++)
            fars[k] = NO_FARTHEST;
        st = hitl__tasks_run(threads, pl->n, fold_share, &job, rs->fn);
        if (st == HITL_OK && job.track) {
            *far = NO_FARTHEST;
            for (size_t k = 0; k < threads; k++)
                if (fars[k].d > far->d || (fars[k].d == far->d && fars[k].i < far->i))
                    *far = fars[k];
        }
        if (sparse)
            centre_layer_csr(w, rs, sp, c0, t, ldw, 1);
    }
    hitl__free(w);
    return st;
}

/* The pool indices of the LABELED items, in order (*n of them; NULL if 0). */
static int labeled_list(size_t **out, size_t *n, const hitl_pool *pool)
{
    *out = NULL;
    *n = pool->count[HITL_ITEM_LABELED];
    if (*n == 0)
        return HITL_OK;
    size_t *list = hitl__malloc(*n * sizeof *list);
    if (!list)
        return HITL_ENOMEM;
    for (size_t i = 0, j = 0; i < pool->n; i++)
        if (pool->state[i] == HITL_ITEM_LABELED)
            list[j++] = i;
    *out = list;
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* The running nearest-centre distance                                        */
/* ------------------------------------------------------------------------- */

/* mind[i]: squared distance from candidate i to its nearest centre (+inf
 * while there is none); -1 for rows that are not (or no longer) candidates. */
typedef struct kcenter {
    rowset rs;
    plan pl;           /* the rows' shares for every fold */
    float *xn, *mind;  /* n each */
    size_t n_cand, n_centres;
    farthest far;      /* the farthest candidate, kept by every fold */
} kcenter;

static void kc_free(kcenter *kc)
{
    hitl__free(kc->xn);
    kc->xn = kc->mind = NULL;
    plan_free(&kc->pl);
}

/* Norms, and the labeled items of the pool as the first centres: one pass
 * (a product of N x |labeled| x d). */
static int kc_init(kcenter *kc, const rowset *rs)
{
    size_t n = rs->n;
    *kc = (kcenter){ .rs = *rs, .far = NO_FARTHEST };
    if (n == 0)
        return HITL_OK;
    kc->xn = hitl__malloc(2 * n * sizeof *kc->xn);
    if (!kc->xn || plan_make(&kc->pl, rs) != HITL_OK) {
        kc_free(kc);
        return HITL_ENOMEM;
    }
    kc->mind = kc->xn + n;
    for (size_t i = 0; i < n; i++) {
        int cand = rs_is_candidate(rs, i);
        kc->mind[i] = cand ? INFINITY : -1.0f;
        kc->n_cand += (size_t)cand;
        if (cand && kc->far.i == SIZE_MAX)  /* every candidate is at +inf */
            kc->far = (farthest){ i, INFINITY };
    }
    size_t *lab, n_lab;
    if (labeled_list(&lab, &n_lab, rs->pool) != HITL_OK) {
        kc_free(kc);
        return HITL_ENOMEM;
    }
    fold_spec sp = { .centres = lab, .n_centres = n_lab, .how = FOLD_MIN, .norms = 1 };
    int st = rs_fold(kc->mind, kc->xn, rs, &kc->pl, &sp, &kc->far);
    hitl__free(lab);
    if (st != HITL_OK) {
        kc_free(kc);
        return st;
    }
    kc->n_centres = n_lab;
    return HITL_OK;
}

/* Candidate i becomes a centre: one fused pass over the rows (the product
 * with the centre, the running minimum and the next farthest candidate a
 * block at a time, in a thread per share of the rows). */
static int kc_take(kcenter *kc, size_t i)
{
    kc->mind[i] = -1.0f;
    kc->n_cand--;
    kc->n_centres++;
    kc->far = NO_FARTHEST;
    if (kc->n_cand == 0)
        return HITL_OK;
    fold_spec sp = { .centres = &i, .n_centres = 1, .local = 1, .how = FOLD_MIN };
    return rs_fold(kc->mind, kc->xn, &kc->rs, &kc->pl, &sp, &kc->far);
}

/* The candidate farthest from every centre; ties to the lower index. */
static size_t kc_farthest(const kcenter *kc)
{
    return kc->far.i;
}

/* The u-th candidate in index order, u uniform: a seeded uniform pick. */
static size_t kc_uniform(const kcenter *kc, hitl__rng *r)
{
    size_t u = (size_t)(hitl__rng_unit(r) * (double)kc->n_cand);
    if (u >= kc->n_cand)
        u = kc->n_cand - 1;
    for (size_t j = 0;; j++)
        if (kc->mind[j] >= 0.0f && u-- == 0)
            return j;
}

/* k-means++ seeding: a candidate drawn with probability proportional to its
 * squared distance to the nearest centre (uniform when there is no centre or
 * every candidate sits on one). */
static size_t kc_d2_sample(const kcenter *kc, hitl__rng *r)
{
    double total = 0;
    for (size_t j = 0; j < kc->rs.n; j++)
        if (kc->mind[j] > 0.0f)
            total += kc->mind[j];
    if (!(total > 0) || isinf(total))
        return kc_uniform(kc, r);
    double u = hitl__rng_unit(r) * total;
    size_t last = SIZE_MAX;
    for (size_t j = 0; j < kc->rs.n; j++) {
        if (kc->mind[j] <= 0.0f)
            continue;
        last = j;
        u -= kc->mind[j];
        if (u < 0)
            return j;
    }
    return last; /* rounding left u at the very end */
}

/* The score reported for a pick: the distance to the nearest centre. */
static double kc_score(const kcenter *kc, size_t j)
{
    return isinf(kc->mind[j]) ? INFINITY : sqrt((double)kc->mind[j]);
}

/* ------------------------------------------------------------------------- */
/* Parameters                                                                  */
/* ------------------------------------------------------------------------- */

#define MAX_EXACT_INT 9007199254740992.0 /* 2^53 */

void hitl__div_params_init(hitl__div_params *p)
{
    p->base = 0;
    p->hybrid_beta = 10;
    p->density_exponent = 1;
    p->density_anchors = 1024;
    p->density_bandwidth = 0;
    p->cold_start = HITL_COLD_START_KMEANSPP;
    p->hybrid_select = HITL_COLD_START_KCENTER;
}

int hitl__div_is_param(hitl_param param)
{
    return param >= HITL_PARAM_BASE && param <= HITL_PARAM_HYBRID_SELECT;
}

static int is_int_in(double v, double lo, double hi)
{
    return v >= lo && v <= hi && v == floor(v);
}

int hitl__div_set_param(hitl__div_params *p, hitl_param param, double v, const char *fn)
{
    const char *why = NULL;
    switch (param) {
    case HITL_PARAM_BASE:
        if (!(v == 0 || (v == floor(v) && fabs(v) < 1e6 && hitl__is_base_kind((int)v, 1))))
            why = "is not 0 or an informativeness kind (LEAST_CONFIDENT, MARGIN, "
                  "ENTROPY, QBC_*)";
        else
            p->base = (int)v;
        break;
    case HITL_PARAM_HYBRID_BETA:
        if (!(v >= 1 && v <= 1e6))
            why = "is not in [1, 1e6]";
        else
            p->hybrid_beta = v;
        break;
    case HITL_PARAM_DENSITY_EXPONENT:
        if (!(v >= 0 && v <= 1e3))
            why = "is not in [0, 1000]";
        else
            p->density_exponent = v;
        break;
    case HITL_PARAM_DENSITY_ANCHORS:
        if (!is_int_in(v, 1, MAX_EXACT_INT))
            why = "is not an integer >= 1";
        else
            p->density_anchors = v > (double)SIZE_MAX ? SIZE_MAX : (size_t)v;
        break;
    case HITL_PARAM_DENSITY_BANDWIDTH:
        if (!(v >= 0 && isfinite(v)))
            why = "is not finite and >= 0";
        else
            p->density_bandwidth = v;
        break;
    case HITL_PARAM_COLD_START:
        if (!is_int_in(v, HITL_COLD_START_RANDOM, HITL_COLD_START_KMEANSPP))
            why = "is not a hitl_cold_start (0 random, 1 k-center, 2 k-means++)";
        else
            p->cold_start = (int)v;
        break;
    case HITL_PARAM_HYBRID_SELECT:
        if (!is_int_in(v, HITL_COLD_START_KCENTER, HITL_COLD_START_KMEANSPP))
            why = "is not HITL_COLD_START_KCENTER (1) or HITL_COLD_START_KMEANSPP (2)";
        else
            p->hybrid_select = (int)v;
        break;
    default:
        return hitl__fail_in(HITL_EINVAL, fn, "unknown strategy parameter %d", (int)param);
    }
    if (why)
        return hitl__fail_in(HITL_EINVAL, fn, "parameter %d = %g %s", (int)param, v, why);
    return HITL_OK;
}

int hitl__div_get_param(double *v, const hitl__div_params *p, hitl_param param, const char *fn)
{
    switch (param) {
    case HITL_PARAM_BASE: *v = p->base; break;
    case HITL_PARAM_HYBRID_BETA: *v = p->hybrid_beta; break;
    case HITL_PARAM_DENSITY_EXPONENT: *v = p->density_exponent; break;
    case HITL_PARAM_DENSITY_ANCHORS: *v = (double)p->density_anchors; break;
    case HITL_PARAM_DENSITY_BANDWIDTH: *v = p->density_bandwidth; break;
    case HITL_PARAM_COLD_START: *v = p->cold_start; break;
    case HITL_PARAM_HYBRID_SELECT: *v = p->hybrid_select; break;
    default:
        return hitl__fail_in(HITL_EINVAL, fn, "unknown strategy parameter %d", (int)param);
    }
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* The strategies                                                             */
/* ------------------------------------------------------------------------- */

typedef struct picks {
    size_t *idx;   /* pool indices, k */
    double *score; /* may be NULL */
    size_t n, k;
} picks;

static void pick(picks *out, size_t index, double score)
{
    out->idx[out->n] = index;
    if (out->score)
        out->score[out->n] = score;
    out->n++;
}

static int nomem(const char *fn, const char *what, size_t n)
{
    return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %s (%zu items)", what, n);
}

/* After pick j: it becomes a centre, unless it was the last pick asked for
 * (a pass whose distances nobody would read). */
static int kc_picked(kcenter *kc, const picks *out, size_t j, const char *fn,
                     const char *what)
{
    if (out->n == out->k || kc_take(kc, j) == HITL_OK)
        return HITL_OK;
    return nomem(fn, what, kc->rs.n);
}

/* A diverse batch when nothing is labeled: RANDOM draws k candidates
 * uniformly; KCENTER starts from a seeded uniform candidate and goes
 * farthest-first; KMEANSPP starts the same way and draws each next item with
 * probability proportional to its squared distance to the batch so far
 * (k-means++ seeding).  Scores: the distance to the nearest earlier pick
 * (inf for the first); for RANDOM the uniform key in [0, 1). */
static int cold_start(picks *out, const hitl__query *q)
{
    const hitl_pool *pool = q->pool;
    hitl__rng r;
    hitl__rng_seed(&r, q->seed, 0xC01D);
    if (q->div->cold_start == HITL_COLD_START_RANDOM) {
        hitl__topk t;
        if (hitl__topk_init(&t, out->k) != HITL_OK)
            return nomem(q->fn, "the random batch", out->k);
        for (size_t i = 0; i < pool->n; i++)
            if (pool->state[i] == HITL_ITEM_UNLABELED)
                hitl__topk_push(&t, hitl__rng_key(q->seed, i), i);
        hitl__topk_sort(&t);
        for (size_t j = 0; j < t.n; j++)
            pick(out, t.index[j], t.key[j]);
        hitl__topk_free(&t);
        return HITL_OK;
    }
    rowset rs = rs_pool(pool, q->fn);
    kcenter kc;
    if (kc_init(&kc, &rs) != HITL_OK)
        return nomem(q->fn, "the cold-start distances", pool->n);
    int st = HITL_OK;
    while (st == HITL_OK && out->n < out->k && kc.n_cand > 0) {
        size_t j = kc.n_centres == 0 ? kc_uniform(&kc, &r)
                 : q->div->cold_start == HITL_COLD_START_KCENTER ? kc_farthest(&kc)
                 : kc_d2_sample(&kc, &r);
        pick(out, j, kc_score(&kc, j));
        st = kc_picked(&kc, out, j, q->fn, "the cold-start distances");
    }
    kc_free(&kc);
    return st;
}

int hitl__cold_start_query(size_t *count, size_t *indices, double *scores,
                           const hitl__query *q)
{
    picks out = { .idx = indices, .score = scores, .k = q->k };
    rowset all = rs_pool(q->pool, q->fn);
    int st = rs_check(&all, q->fn);
    if (st == HITL_OK && q->pool->count[HITL_ITEM_UNLABELED] > 0)
        st = cold_start(&out, q);
    if (st == HITL_OK)
        *count = out.n;
    return st;
}

/* k-center greedy: farthest-first from the labeled items. */
static int query_kcenter(picks *out, const hitl__query *q)
{
    rowset rs = rs_pool(q->pool, q->fn);
    kcenter kc;
    if (kc_init(&kc, &rs) != HITL_OK)
        return nomem(q->fn, "the k-center distances", q->pool->n);
    int st = HITL_OK;
    while (st == HITL_OK && out->n < out->k && kc.n_cand > 0) {
        size_t j = kc_farthest(&kc);
        pick(out, j, kc_score(&kc, j));
        st = kc_picked(&kc, out, j, q->fn, "the k-center distances");
    }
    kc_free(&kc);
    return st;
}

/* Ranked batch: each pick maximises alpha (1 - sim) + (1 - alpha) u with
 * sim = 1 / (1 + distance to the nearest labeled-or-picked item) and
 * alpha = |U| / (|U| + |L|), both updated after every pick. */
static int query_ranked(picks *out, const hitl__query *q, const hitl__source *src, int base)
{
    const hitl_pool *pool = q->pool;
    float *u = hitl__malloc((pool->n ? pool->n : 1) * sizeof *u);
    if (!u)
        return nomem(q->fn, "the informativeness vector", pool->n);
    int st = hitl__measure_into(u, src, base, 1, pool, q->fn);
    if (st != HITL_OK) {
        hitl__free(u);
        return st;
    }
    rowset rs = rs_pool(pool, q->fn);
    kcenter kc;
    if (kc_init(&kc, &rs) != HITL_OK) {
        hitl__free(u);
        return nomem(q->fn, "the ranked-batch distances", pool->n);
    }
    double n_lab = (double)pool->count[HITL_ITEM_LABELED];
    while (st == HITL_OK && out->n < out->k && kc.n_cand > 0) {
        double n_un = (double)kc.n_cand, alpha = n_un / (n_un + n_lab);
        size_t best = SIZE_MAX;
        double bs = -INFINITY;
        for (size_t j = 0; j < pool->n; j++) {
            if (kc.mind[j] < 0.0f)
                continue;
            double sim = isinf(kc.mind[j]) ? 0.0 : 1.0 / (1.0 + sqrt((double)kc.mind[j]));
            double s = alpha * (1.0 - sim) + (1.0 - alpha) * u[j];
            if (s > bs) {
                bs = s;
                best = j;
            }
        }
        pick(out, best, bs);
        st = kc_picked(&kc, out, best, q->fn, "the ranked-batch distances");
        n_lab += 1;
    }
    kc_free(&kc);
    hitl__free(u);
    return st;
}

/*
 * Information density: u(x) * D(x)^beta with
 *     D(x) = 1/|A| sum_{a in A} exp(-||x - a||^2 / h^2)
 * where A is every unlabeled item when there are at most m of them (exact:
 * Settles & Craven's average over the unlabeled pool, Gaussian similarity),
 * else m unlabeled items drawn uniformly without replacement (seeded).  Each
 * term lies in (0, 1], so by Hoeffding's inequality (which holds for sampling
 * without replacement) |D_est(x) - D(x)| <= sqrt(ln(2N/delta) / (2m)) for
 * every x at once with probability >= 1 - delta.  h^2 is the bandwidth
 * parameter squared, or by default the mean squared distance between two
 * unlabeled items, 2 (mean ||x||^2 - ||mean x||^2), exact in O(N d).
 */
/* mean += item i's row (a sparse row at its non-zeros). */
static void add_row(double *mean, const hitl_pool *pool, size_t i)
{
    if (pool->sparse) {
        const int32_t *idx;
        const float *val;
        size_t nnz;
        hitl__pool_csr_row(&idx, &val, &nnz, pool, i);
        for (size_t q = 0; q < nnz; q++)
            mean[idx[q]] += val[q];
        return;
    }
    const float *x = hitl__pool_row(pool, i);
    for (size_t j = 0; j < pool->dim; j++)
        mean[j] += x[j];
}

static int density(float *dens, const hitl_pool *pool, size_t m, double bandwidth,
                   uint64_t seed, const char *fn)
{
    size_t n = pool->n, d = pool->dim, n_un = pool->count[HITL_ITEM_UNLABELED];
    if (n_un == 0)
        return HITL_OK;
    rowset rs = rs_pool(pool, fn);
    size_t n_anchor = n_un <= m ? n_un : m;
    float *xn = hitl__malloc(n * sizeof *xn);
    size_t *anchor = hitl__malloc(n_anchor * sizeof *anchor);
    double *mean = hitl__calloc(d, sizeof *mean);
    if (!xn || !anchor || !mean) {
        hitl__free(xn);
        hitl__free(anchor);
        hitl__free(mean);
        return nomem(fn, "the density estimate", n);
    }
    rs_norms(xn, &rs);
    hitl__rng r;
    hitl__rng_seed(&r, seed, 0xDE5);
    double sum_xn = 0;
    size_t need = n_anchor, left = n_un;
    for (size_t i = 0, a = 0; i < n; i++) {
        if (pool->state[i] != HITL_ITEM_UNLABELED)
            continue;
        /* selection sampling (Knuth's Algorithm S): uniform, in index order */
        if (hitl__rng_unit(&r) * (double)left < (double)need) {
            anchor[a++] = i;
            need--;
        }
        left--;
        dens[i] = 0.0f;
        sum_xn += xn[i];
        if (bandwidth <= 0)
            add_row(mean, pool, i);
    }
    double h2 = bandwidth * bandwidth;
    if (bandwidth <= 0) {
        double mm = 0;
        for (size_t j = 0; j < d; j++) {
            double v = mean[j] / (double)n_un;
            mm += v * v;
        }
        h2 = 2.0 * (sum_xn / (double)n_un - mm);
    }
    int st = HITL_OK;
    plan pl = { 0 };
    if (h2 > 0 && isfinite(h2) && (st = plan_make(&pl, &rs)) == HITL_OK) {
        fold_spec sp = { .centres = anchor, .n_centres = n_anchor, .how = FOLD_KDE,
                         .inv_h2 = (float)(1.0 / h2) };
        st = rs_fold(dens, xn, &rs, &pl, &sp, NULL);
    }
    plan_free(&pl);
    for (size_t i = 0; st == HITL_OK && i < n; i++)
        if (pool->state[i] == HITL_ITEM_UNLABELED)
            dens[i] = h2 > 0 && isfinite(h2) ? dens[i] / (float)n_anchor : 1.0f;
    hitl__free(xn);
    hitl__free(anchor);
    hitl__free(mean);
    return st == HITL_OK ? HITL_OK : nomem(fn, "the density tiles", n);
}

static int query_density(picks *out, const hitl__query *q, const hitl__source *src, int base)
{
    const hitl_pool *pool = q->pool;
    size_t n = pool->n ? pool->n : 1;
    float *u = hitl__malloc(2 * n * sizeof *u);
    if (!u)
        return nomem(q->fn, "the density vectors", pool->n);
    float *dens = u + n;
    int st = hitl__measure_into(u, src, base, 1, pool, q->fn);
    if (st == HITL_OK)
        st = density(dens, pool, q->div->density_anchors, q->div->density_bandwidth,
                           q->seed, q->fn);
    hitl__topk t = { 0 };
    if (st == HITL_OK && hitl__topk_init(&t, out->k) != HITL_OK)
        st = nomem(q->fn, "the selection", out->k);
    if (st == HITL_OK) {
        double beta = q->div->density_exponent;
        for (size_t i = 0; i < pool->n; i++)
            if (pool->state[i] == HITL_ITEM_UNLABELED)
                hitl__topk_push(&t, -(double)u[i] * pow((double)dens[i], beta), i);
        hitl__topk_sort(&t);
        for (size_t j = 0; j < t.n; j++)
            pick(out, t.index[j], -t.key[j]);
        hitl__topk_free(&t);
    }
    hitl__free(u);
    return st;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* The m items map[] (increasing) as a row set of their own, copied: dense
 * rows, or for a sparse pool one CSR matrix (offsets, columns, values in
 * one allocation).  Returns the allocation (NULL: out of memory). */
static void *gather_rows(rowset *rs, const hitl_pool *pool, const size_t *map, size_t m,
                         const char *fn)
{
    size_t d = pool->dim, nnz;
    if (!pool->sparse) {
        float *mat = hitl__malloc(m * d * sizeof *mat);
        for (size_t j = 0; mat && j < m; j++)
            memcpy(mat + j * d, hitl__pool_row(pool, map[j]), d * sizeof *mat);
        *rs = rs_matrix(pool, mat, map, m, fn);
        return mat;
    }
    int32_t *ip = hitl__pool_gather_csr(&nnz, pool, map, m);
    if (!ip)
        return NULL;
    int32_t *ix = ip + m + 1;
    float *vx = (float *)(ix + nnz);
    *rs = rs_csr(pool, ip, ix, vx, map, m, fn);
    return ip;
}

/* Two-stage hybrid: the ceil(beta k) most informative unlabeled items, then k
 * of them by k-center greedy (or k-means++ seeding, `select`) from the
 * labeled items.  Reports each pick's informativeness. */
static int query_hybrid(picks *out, const hitl__query *q, const hitl__source *src, int base,
                        double beta, int select)
{
    const hitl_pool *pool = q->pool;
    size_t n_un = pool->count[HITL_ITEM_UNLABELED];
    double want = ceil(beta * (double)out->k);
    size_t keep = want >= (double)n_un ? n_un : (size_t)want;
    if (keep == 0)
        return HITL_OK;
    hitl__topk t = { 0 };
    int st = hitl__measure_top(&t, src, base, 1, pool, keep, q->fn);
    if (st != HITL_OK)
        return st;
    size_t m = t.n;
    size_t *map = hitl__malloc(m * sizeof *map);
    float *info = hitl__malloc(m * sizeof *info);
    void *mat = NULL;
    rowset rs;
    if (!map || !info) {
        st = nomem(q->fn, "the second-stage rows", m);
        goto done;
    }
    memcpy(map, t.index, m * sizeof *map);
    qsort(map, m, sizeof *map, cmp_size); /* ties go to the lower pool index */
    for (size_t j = 0; j < m; j++) {
        size_t *at = bsearch(&t.index[j], map, m, sizeof *map, cmp_size);
        info[at - map] = (float)t.key[j];
    }
    if ((mat = gather_rows(&rs, pool, map, m, q->fn)) == NULL) {
        st = nomem(q->fn, "the second-stage rows", m);
        goto done;
    }
    kcenter kc;
    if (kc_init(&kc, &rs) != HITL_OK) {
        st = nomem(q->fn, "the second-stage distances", m);
        goto done;
    }
    hitl__rng r;
    hitl__rng_seed(&r, q->seed, 0x4B8);
    while (st == HITL_OK && out->n < out->k && kc.n_cand > 0) {  /* labeled: centres */
        size_t j = select == HITL_COLD_START_KMEANSPP ? kc_d2_sample(&kc, &r)
                                                      : kc_farthest(&kc);
        pick(out, map[j], info[j]);
        st = kc_picked(&kc, out, j, q->fn, "the second-stage distances");
    }
    kc_free(&kc);
done:
    hitl__topk_free(&t);
    hitl__free(map);
    hitl__free(mat);
    hitl__free(info);
    return st;
}

/* The kind's default informativeness when HITL_PARAM_BASE is 0. */
static int base_kind(const hitl__query *q)
{
    if (q->div->base)
        return q->div->base;
    return q->kind == HITL_STRATEGY_RANKED_BATCH ? HITL_STRATEGY_LEAST_CONFIDENT
                                                 : HITL_STRATEGY_MARGIN;
}

int hitl__diversity_query(size_t *count, size_t *indices, double *scores, const hitl__query *q)
{
    const hitl_pool *pool = q->pool;
    picks out = { .idx = indices, .score = scores, .k = q->k };
    rowset all = rs_pool(pool, q->fn);
    int st = rs_check(&all, q->fn);
    if (st != HITL_OK)
        return st;
    hitl__source src = { q->model, q->committee };
    int base = base_kind(q);
    if (q->kind != HITL_STRATEGY_KCENTER && pool->count[HITL_ITEM_LABELED] > 0) {
        if (!hitl__is_base_kind(base, q->committee != NULL))
            return hitl__fail_in(HITL_EINVAL, q->fn,
                                 "HITL_PARAM_BASE %d is a committee measure: query with "
                                 "hitl_query_committee", base);
        st = hitl__source_check(&src, pool, q->fn);
        if (st != HITL_OK)
            return st;
    }
    if (pool->count[HITL_ITEM_UNLABELED] == 0) {
        *count = 0;
        return HITL_OK;
    }
    if (pool->count[HITL_ITEM_LABELED] == 0) {
        st = cold_start(&out, q);
    } else {
        switch (q->kind) {
        case HITL_STRATEGY_KCENTER: st = query_kcenter(&out, q); break;
        case HITL_STRATEGY_RANKED_BATCH: st = query_ranked(&out, q, &src, base); break;
        case HITL_STRATEGY_DENSITY: st = query_density(&out, q, &src, base); break;
        case HITL_STRATEGY_HYBRID:
            st = query_hybrid(&out, q, &src, base, q->div->hybrid_beta, q->div->hybrid_select);
            break;
        default: /* HITL_STRATEGY_DEFAULT */
            st = query_hybrid(&out, q, &src, base, HITL__DEFAULT_BETA, HITL__DEFAULT_SELECT);
            break;
        }
    }
    if (st == HITL_OK)
        *count = out.n;
    return st;
}
