/*
 * stopper: when more labels stop paying.  Each round reads the model's
 * probabilities on a fixed stop set (drawn once from the unlabeled pool,
 * its rows copied so that later pool growth or labeling never changes what
 * is compared) and, optionally, its accuracy on a held-out labeled set, and
 * applies the criteria of hitl.h's "Stopping" section.  A criterion that
 * fires records its round and stays fired.
 *
 * A round is computed into temporaries first (scores, labels, the round's
 * figures, room in the histories); only then is the stopper changed, by
 * commit(), which cannot fail.
 */
#include "select/select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEED 9007199254740992.0 /* 2^53 */
#define N_CRITERIA 6

struct hitl_stopper {
    size_t K;
    /* parameters */
    size_t set_size, window;
    double kappa_min, max_mean_h, max_h, gain;
    uint64_t budget, seed;
    /* the stop set: n items; for update, their pool indices and rows */
    size_t n, d;
    int observed;            /* rounds came through hitl_stopper_observe */
    size_t *index;
    float *rows;
    /* the held-out set */
    float *hx;
    int32_t *hy;
    size_t hn, hd;
    /* rounds */
    size_t rounds;
    int32_t *prev;           /* n: last round's labels */
    double *kappa, *acc;     /* histories, one per round (acc: NaN = none) */
    size_t cap_hist;
    double *marg;            /* 2K: kappa's marginal counts */
    size_t fired[N_CRITERIA];
    /* the last round's figures */
    double last_kappa, mean_kappa, changed, mean_h, top_h, accuracy;
    size_t labeled;
};

/* ------------------------------------------------------------------------- */
/* One round's figures                                                        */
/* ------------------------------------------------------------------------- */

/* A round computed but not yet applied. */
typedef struct pending {
    int32_t *labels;         /* n predicted labels (owned) */
    double kappa, changed, mean_h, top_h, accuracy;
    size_t labeled;
} pending;

/* Cohen's kappa of two label vectors: (po - pe) / (1 - pe) from counts;
 * 1 when they agree everywhere (pe = 1 included). */
static double kappa_of(double *marg, const int32_t *a, const int32_t *b, size_t n, size_t K)
{
    memset(marg, 0, 2 * K * sizeof *marg);
    double agree = 0;
    for (size_t i = 0; i < n; i++) {
        marg[a[i]] += 1;
        marg[K + (size_t)b[i]] += 1;
        agree += a[i] == b[i];
    }
    if (agree == (double)n)
        return 1.0;
    double dn = (double)n, chance = 0;
    for (size_t c = 0; c < K; c++)
        chance += marg[c] * marg[K + c];
    return (agree * dn - chance) / (dn * dn - chance);
}

/* Labels, the active items' entropies and label changes of a probability
 * table (row-major n x K). */
static void read_table(pending *r, const hitl_stopper *s, const float *P, const uint8_t *active,
                       size_t n)
{
    size_t K = s->K, n_active = 0, changed = 0;
    double sum_h = 0, top_h = 0;
    for (size_t i = 0; i < n; i++) {
        const float *p = P + i * K;
        size_t best = 0;
        double h = 0;
        for (size_t c = 0; c < K; c++) {
            best = p[c] > p[best] ? c : best;
            if (p[c] > 0)
                h -= (double)p[c] * log((double)p[c]);
        }
        r->labels[i] = (int32_t)best;
        if (active && !active[i])
            continue;
        n_active++;
        sum_h += h;
        top_h = h > top_h ? h : top_h;
        changed += s->rounds > 0 && s->prev[i] != (int32_t)best;
    }
    r->mean_h = n_active ? sum_h / (double)n_active : 0;
    r->top_h = top_h;
    r->changed = s->rounds > 0 ? (double)changed : NAN;
}

/* The mean of the last w kappas, with this round's as the newest; NaN
 * while fewer exist. */
static double mean_kappa(const hitl_stopper *s, double newest)
{
    size_t have = s->rounds;           /* kappas exist for rounds 2 .. rounds+1 */
    if (have < s->window)
        return NAN;
    double sum = newest;
    for (size_t j = 1; j < s->window; j++)
        sum += s->kappa[s->rounds - j];
    return sum / (double)s->window;
}

/* Has performance converged, with this round's accuracy as the newest? */
static int converged(const hitl_stopper *s, double newest)
{
    double a[1001];
    size_t m = 0;
    if (isnan(newest))
        return 0;
    a[m++] = newest;                   /* newest first */
    for (size_t j = s->rounds; j > 0 && m <= s->window; j--)
        if (!isnan(s->acc[j - 1]))
            a[m++] = s->acc[j - 1];
    if (m <= s->window)
        return 0;
    double best = a[0];
    for (size_t j = 1; j < s->window; j++)
        best = a[j] > best ? a[j] : best;
    return best - a[s->window] < s->gain;
}

/* Apply a computed round; cannot fail (room was made beforehand). */
static void commit(hitl_stopper *s, pending *r)
{
    size_t t = s->rounds + 1;
    double mk = s->rounds > 0 ? mean_kappa(s, r->kappa) : NAN;
    int fire[N_CRITERIA] = {
        !isnan(mk) && mk >= s->kappa_min,
        s->rounds > 0 && r->changed == 0,
        r->mean_h <= s->max_mean_h,
        r->top_h <= s->max_h,
        s->budget > 0 && r->labeled >= s->budget,
        converged(s, r->accuracy),
    };
    for (int c = 0; c < N_CRITERIA; c++)
        if (fire[c] && !s->fired[c])
            s->fired[c] = t;
    s->kappa[s->rounds] = r->kappa;
    s->acc[s->rounds] = r->accuracy;
    s->rounds = t;
    int32_t *old = s->prev;
    s->prev = r->labels;
    r->labels = old;
    s->last_kappa = r->kappa;
    s->mean_kappa = mk;
    s->changed = r->changed;
    s->mean_h = r->mean_h;
    s->top_h = r->top_h;
    s->accuracy = r->accuracy;
    s->labeled = r->labeled;
}

static unsigned fired_mask(const hitl_stopper *s)
{
    unsigned m = 0;
    for (int c = 0; c < N_CRITERIA; c++)
        m |= s->fired[c] ? 1u << c : 0;
    return m;
}

/* Room for one more round in the histories. */
static int reserve_round(hitl_stopper *s)
{
    if (s->rounds < s->cap_hist)
        return HITL_OK;
    size_t cap = s->cap_hist, cap2 = s->cap_hist;
    void *k = s->kappa, *a = s->acc;
    if (hitl__grow(&k, &cap, s->rounds + 1, sizeof(double)) != 0)
        return HITL_ENOMEM;
    s->kappa = k;
    if (hitl__grow(&a, &cap2, s->rounds + 1, sizeof(double)) != 0)
        return HITL_ENOMEM;    /* kappa's larger room is harmless */
    s->acc = a;
    s->cap_hist = cap < cap2 ? cap : cap2;
    return HITL_OK;
}

/* Compute round from a probability table and apply it.  Fails only before
 * anything changed. */
static int apply_table(hitl_stopper *s, const float *P, const uint8_t *active, size_t n,
                       size_t labeled, double accuracy, const char *fn)
{
    pending r = { .labeled = labeled, .accuracy = accuracy };
    r.labels = hitl__malloc(n * sizeof *r.labels);
    int32_t *prev = s->prev ? NULL : hitl__malloc(n * sizeof *prev);
    if (!r.labels || (!s->prev && !prev) || reserve_round(s) != HITL_OK) {
        hitl__free(r.labels);
        hitl__free(prev);
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for a round of %zu items", n);
    }
    if (!s->prev)
        s->prev = prev;        /* first round: its contents are never read */
    read_table(&r, s, P, active, n);
    r.kappa = s->rounds > 0 ? kappa_of(s->marg, s->prev, r.labels, n, s->K) : NAN;
    commit(s, &r);
    hitl__free(r.labels);
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Handle and parameters                                                      */
/* ------------------------------------------------------------------------- */

int hitl_stopper_create(hitl_stopper **out, size_t n_classes)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    if (n_classes < 2 || n_classes > 65536)
        return hitl__fail(HITL_EINVAL, "n_classes %zu is not in [2, 65536]", n_classes);
    hitl_stopper *s = hitl__calloc(1, sizeof *s);
    double *marg = hitl__malloc(2 * n_classes * sizeof *marg);
    if (!s || !marg) {
        hitl__free(s);
        hitl__free(marg);
        return hitl__fail(HITL_ENOMEM, "out of memory for the stopper");
    }
    *s = (hitl_stopper){ .K = n_classes, .set_size = 1000, .window = 3, .kappa_min = 0.99,
                         .max_mean_h = 0.01, .max_h = 0.001, .gain = 0.005, .marg = marg,
                         .last_kappa = NAN, .mean_kappa = NAN, .changed = NAN,
                         .accuracy = NAN };
    hitl__handle_acquire();
    *out = s;
    return HITL_OK;
}

static void drop_heldout(hitl_stopper *s)
{
    hitl__free(s->hx);
    hitl__free(s->hy);
    s->hx = NULL;
    s->hy = NULL;
    s->hn = s->hd = 0;
}

void hitl_stopper_free(hitl_stopper *s)
{
    if (!s)
        return;
    drop_heldout(s);
    hitl__free(s->index);
    hitl__free(s->rows);
    hitl__free(s->prev);
    hitl__free(s->kappa);
    hitl__free(s->acc);
    hitl__free(s->marg);
    hitl__free(s);
    hitl__handle_release();
}

static const char *param_invalid(hitl_param param, double v)
{
    switch (param) {
    case HITL_PARAM_STOP_SET_SIZE:
        return v >= 1 && v <= 16777216 && v == floor(v) ? NULL
                                                        : "is not an integer in [1, 2^24]";
    case HITL_PARAM_STOP_KAPPA:
        return v >= -1 && v <= 1 ? NULL : "is not in [-1, 1]";
    case HITL_PARAM_STOP_WINDOW:
        return v >= 1 && v <= 1000 && v == floor(v) ? NULL : "is not an integer in [1, 1000]";
    case HITL_PARAM_STOP_UNCERTAINTY:
    case HITL_PARAM_STOP_CONFIDENCE:
    case HITL_PARAM_STOP_GAIN:
        return v >= 0 && isfinite(v) ? NULL : "is not finite and >= 0";
    case HITL_PARAM_STOP_BUDGET:
    case HITL_PARAM_STOP_SEED:
        return v >= 0 && v <= MAX_SEED && v == floor(v) ? NULL
                                                        : "is not an integer in [0, 2^53]";
    default:
        return "is not a stopper parameter";
    }
}

/* Why param cannot change now, or NULL. */
static const char *param_frozen(const hitl_stopper *s, hitl_param param)
{
    if ((param == HITL_PARAM_STOP_SET_SIZE || param == HITL_PARAM_STOP_SEED) && s->n)
        return "the stop set has been drawn";
    if (param == HITL_PARAM_STOP_WINDOW && s->rounds)
        return "rounds have been seen";
    return NULL;
}

int hitl_stopper_set_param(hitl_stopper *s, hitl_param param, double v)
{
    if (!s)
        return hitl__fail(HITL_EINVAL, "stopper is NULL");
    const char *why = param_invalid(param, v);
    if (why)
        return hitl__fail(HITL_EINVAL, "parameter %d = %g %s", (int)param, v, why);
    if ((why = param_frozen(s, param)))
        return hitl__fail(HITL_ESTATE, "parameter %d cannot change: %s", (int)param, why);
    switch (param) {
    case HITL_PARAM_STOP_SET_SIZE: s->set_size = (size_t)v; break;
    case HITL_PARAM_STOP_KAPPA: s->kappa_min = v; break;
    case HITL_PARAM_STOP_WINDOW: s->window = (size_t)v; break;
    case HITL_PARAM_STOP_UNCERTAINTY: s->max_mean_h = v; break;
    case HITL_PARAM_STOP_CONFIDENCE: s->max_h = v; break;
    case HITL_PARAM_STOP_BUDGET: s->budget = (uint64_t)v; break;
    case HITL_PARAM_STOP_GAIN: s->gain = v; break;
    default: s->seed = (uint64_t)v; break;
    }
    return HITL_OK;
}

int hitl_stopper_get_param(double *v, const hitl_stopper *s, hitl_param param)
{
    if (!v || !s)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !v ? "value" : "stopper");
    switch (param) {
    case HITL_PARAM_STOP_SET_SIZE: *v = (double)s->set_size; break;
    case HITL_PARAM_STOP_KAPPA: *v = s->kappa_min; break;
    case HITL_PARAM_STOP_WINDOW: *v = (double)s->window; break;
    case HITL_PARAM_STOP_UNCERTAINTY: *v = s->max_mean_h; break;
    case HITL_PARAM_STOP_CONFIDENCE: *v = s->max_h; break;
    case HITL_PARAM_STOP_BUDGET: *v = (double)s->budget; break;
    case HITL_PARAM_STOP_GAIN: *v = s->gain; break;
    case HITL_PARAM_STOP_SEED: *v = (double)s->seed; break;
    default:
        return hitl__fail(HITL_EINVAL, "parameter %d is not a stopper parameter", (int)param);
    }
    return HITL_OK;
}

int hitl_stopper_fired(size_t *round, const hitl_stopper *s, hitl_stop_criterion c)
{
    if (!round || !s)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !round ? "round" : "stopper");
    if (c < HITL_STOP_STABILIZING_PREDICTIONS || c > HITL_STOP_PERFORMANCE)
        return hitl__fail(HITL_EINVAL, "unknown stop criterion %d", (int)c);
    *round = s->fired[c - 1];
    return HITL_OK;
}

int hitl_stopper_get_info(double *v, const hitl_stopper *s, hitl_stopper_info info)
{
    if (!v || !s)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !v ? "value" : "stopper");
    switch (info) {
    case HITL_STOPPER_INFO_ROUNDS: *v = (double)s->rounds; break;
    case HITL_STOPPER_INFO_STOP_SET: *v = (double)s->n; break;
    case HITL_STOPPER_INFO_KAPPA: *v = s->last_kappa; break;
    case HITL_STOPPER_INFO_MEAN_KAPPA: *v = s->mean_kappa; break;
    case HITL_STOPPER_INFO_CHANGED: *v = s->changed; break;
    case HITL_STOPPER_INFO_UNCERTAINTY: *v = s->mean_h; break;
    case HITL_STOPPER_INFO_MAX_UNCERTAINTY: *v = s->top_h; break;
    case HITL_STOPPER_INFO_ACCURACY: *v = s->accuracy; break;
    case HITL_STOPPER_INFO_LABELED: *v = (double)s->labeled; break;
    default:
        return hitl__fail(HITL_EINVAL, "unknown stopper info %d", (int)info);
    }
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Held-out set                                                               */
/* ------------------------------------------------------------------------- */

static int check_labeled_rows(const float *X, const int32_t *y, size_t n, size_t dim,
                              size_t K, const char *fn)
{
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || (size_t)y[i] >= K)
            return hitl__fail_in(HITL_EINVAL, fn, "labels[%zu] = %d is not in [0, %zu)", i,
                                 (int)y[i], K);
        for (size_t j = 0; j < dim; j++)
            if (!isfinite(X[i * dim + j]))
                return hitl__fail_in(HITL_ENUMERIC, fn, "X[%zu][%zu] is not finite", i, j);
    }
    return HITL_OK;
}

int hitl_stopper_set_heldout(hitl_stopper *s, const float *X, const int32_t *labels, size_t n,
                             size_t dim)
{
    if (!s || !X || !labels)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !s ? "stopper" : !X ? "X" : "labels");
    if (n == 0 || dim == 0)
        return hitl__fail(HITL_EINVAL, "%s is 0", n == 0 ? "n" : "dim");
    if (s->rounds)
        return hitl__fail(HITL_ESTATE, "the held-out set cannot change after round %zu",
                          s->rounds);
    int st = hitl__check_rows(__func__, n, dim, dim, sizeof(float));
    if (st == HITL_OK)
        st = check_labeled_rows(X, labels, n, dim, s->K, __func__);
    if (st != HITL_OK)
        return st;
    float *hx = hitl__malloc(n * dim * sizeof *hx);
    int32_t *hy = hitl__malloc(n * sizeof *hy);
    if (!hx || !hy) {
        hitl__free(hx);
        hitl__free(hy);
        return hitl__fail(HITL_ENOMEM, "out of memory for %zu held-out rows", n);
    }
    memcpy(hx, X, n * dim * sizeof *hx);
    memcpy(hy, labels, n * sizeof *hy);
    drop_heldout(s);
    s->hx = hx;
    s->hy = hy;
    s->hn = n;
    s->hd = dim;
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Rounds                                                                     */
/* ------------------------------------------------------------------------- */

static int check_table(const float *P, size_t n, size_t K, const char *fn)
{
    for (size_t i = 0; i < n * K; i++) {
        if (!isfinite(P[i]))
            return hitl__fail_in(HITL_ENUMERIC, fn, "proba[%zu][%zu] is not finite", i / K,
                                 i % K);
        if (P[i] < 0 || P[i] > 1)
            return hitl__fail_in(HITL_EINVAL, fn, "proba[%zu][%zu] = %g is not in [0, 1]",
                                 i / K, i % K, (double)P[i]);
    }
    return HITL_OK;
}

int hitl_stopper_observe(unsigned *fired, hitl_stopper *s, const float *proba,
                         const uint8_t *active, size_t n, size_t n_labeled, double accuracy)
{
    if (!s || !proba)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !s ? "stopper" : "proba");
    if (n == 0 || (s->n && n != s->n))
        return hitl__fail(HITL_EINVAL, "n = %zu, the stop set has %zu items", n, s->n);
    if (s->index)
        return hitl__fail(HITL_EINVAL, "the stopper's rounds come from hitl_stopper_update");
    if (!isnan(accuracy) && !(accuracy >= 0 && accuracy <= 1))
        return hitl__fail(HITL_EINVAL, "accuracy %g is not in [0, 1] or NaN", accuracy);
    int st = hitl__check_rows(__func__, n, s->K, s->K, sizeof(float));
    if (st == HITL_OK)
        st = check_table(proba, n, s->K, __func__);
    if (st == HITL_OK)
        st = apply_table(s, proba, active, n, n_labeled, accuracy, __func__);
    if (st != HITL_OK)
        return st;
    s->n = n;
    s->observed = 1;
    if (fired)
        *fired = fired_mask(s);
    return HITL_OK;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* The stop set: `size` of the candidates (UNLABELED items, or all when none
 * is) with the smallest keys of the seed, in pool order, and their rows. */
static int draw_stop_set(size_t **index_out, float **rows_out, size_t *n_out,
                         const hitl_stopper *s, const hitl_pool *pool)
{
    int all = pool->count[HITL_ITEM_UNLABELED] == 0;
    size_t cand = all ? pool->n : pool->count[HITL_ITEM_UNLABELED];
    size_t k = s->set_size < cand ? s->set_size : cand, d = pool->dim;
    hitl__topk t;
    if (hitl__topk_init(&t, k) != HITL_OK)
        return HITL_ENOMEM;
    for (size_t i = 0; i < pool->n; i++)
        if (all || pool->state[i] == HITL_ITEM_UNLABELED) {
            double key = hitl__rng_key(s->seed, i);
            if (!hitl__topk_rejects(&t, key, i))
                hitl__topk_push(&t, key, i);
        }
    size_t *index = hitl__malloc(k * sizeof *index);
    float *rows = hitl__malloc(k * d * sizeof *rows);
    if (!index || !rows) {
        hitl__topk_free(&t);
        hitl__free(index);
        hitl__free(rows);
        return HITL_ENOMEM;
    }
    for (size_t j = 0; j < k; j++)
        index[j] = t.index[j];
    hitl__topk_free(&t);
    qsort(index, k, sizeof *index, cmp_size);   /* pool order */
    for (size_t j = 0; j < k; j++)
        memcpy(rows + j * d, hitl__pool_row(pool, index[j]), d * sizeof *rows);
    *index_out = index;
    *rows_out = rows;
    *n_out = k;
    return HITL_OK;
}

/* The held-out accuracy of the model (NaN without a held-out set). */
static int heldout_accuracy(double *acc, const hitl_stopper *s, const hitl_model *m,
                            float *P)
{
    *acc = NAN;
    if (!s->hn)
        return HITL_OK;
    int st = hitl_model_predict(P, m, s->hx, s->hn, s->hd);
    if (st != HITL_OK)
        return st;
    size_t right = 0;
    for (size_t i = 0; i < s->hn; i++) {
        const float *p = P + i * s->K;
        size_t best = 0;
        for (size_t c = 1; c < s->K; c++)
            best = p[c] > p[best] ? c : best;
        right += (int32_t)best == s->hy[i];
    }
    *acc = (double)right / (double)s->hn;
    return HITL_OK;
}

static int check_update(const hitl_stopper *s, const hitl_model *m, const hitl_pool *pool,
                        const char *fn)
{
    if (!s || !m || !pool)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL",
                             !s ? "stopper" : !m ? "model" : "pool");
    if (s->observed)
        return hitl__fail_in(HITL_EINVAL, fn, "the stopper's rounds come from "
                             "hitl_stopper_observe");
    if (m->n_classes != s->K)
        return hitl__fail_in(HITL_EINVAL, fn, "model has %zu classes, the stopper %zu",
                             m->n_classes, s->K);
    if (pool->dim != m->dim || (s->hn && s->hd != m->dim) || (s->n && s->d != m->dim))
        return hitl__fail_in(HITL_EINVAL, fn, "dims differ: model %zu, pool %zu%s", m->dim,
                             pool->dim, s->hn && s->hd != m->dim ? ", held-out set" : "");
    if (pool->n == 0)
        return hitl__fail_in(HITL_EINVAL, fn, "the pool is empty");
    if (!m->fitted)
        return hitl__fail_in(HITL_ESTATE, fn, "the model is not fitted");
    return HITL_OK;
}

int hitl_stopper_update(unsigned *fired, hitl_stopper *s, const hitl_model *model,
                        const hitl_pool *pool)
{
    int st = check_update(s, model, pool, __func__);
    if (st != HITL_OK)
        return st;
    size_t *index = s->index, n = s->n, big = n > s->hn ? n : s->hn;
    float *rows = s->rows;
    if (!index) {
        if (draw_stop_set(&index, &rows, &n, s, pool) != HITL_OK)
            return hitl__fail(HITL_ENOMEM, "out of memory for a stop set of %zu",
                              s->set_size);
        big = n > s->hn ? n : s->hn;
    }
    float *P = hitl__malloc(big * s->K * sizeof *P);
    uint8_t *active = hitl__malloc(n);
    double acc = NAN;
    st = P && active ? heldout_accuracy(&acc, s, model, P)
                     : hitl__fail(HITL_ENOMEM, "out of memory for %zu items' scores", big);
    if (st == HITL_OK)
        st = hitl_model_predict(P, model, rows, n, pool->dim);
    for (size_t i = 0; st == HITL_OK && i < n; i++)
        active[i] = pool->state[index[i]] == HITL_ITEM_UNLABELED;
    if (st == HITL_OK)
        st = apply_table(s, P, active, n, pool->count[HITL_ITEM_LABELED], acc, __func__);
    hitl__free(P);
    hitl__free(active);
    if (st != HITL_OK) {
        if (index != s->index) {
            hitl__free(index);
            hitl__free(rows);
        }
        return st;
    }
    s->index = index;
    s->rows = rows;
    s->n = n;
    s->d = pool->dim;
    if (fired)
        *fired = fired_mask(s);
    return HITL_OK;
}
