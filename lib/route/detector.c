/* The learned error detector: a logistic regression of "the model is wrong
 * here" on features of an item that the library computes (the model's
 * probabilities, and where the item lies among the labeled items), fitted
 * on reviewed items and cross-fitted so that no reviewed item is ever
 * scored by a fold model that saw it.  Rules in include/hitl.h. */
#include "route/route.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_FEATURES 6
#define MAX_FEATURES (BASE_FEATURES + 1 + MAX_ONE_HOT)   /* + committee */
#define MAX_ONE_HOT 64      /* predicted-class indicators up to this many classes */
#define SEED 0x6465746563746f72ull

struct hitl__detector {
    size_t k, dim, n_feat, folds, neighbours;
    int committee;                   /* a committee's doubt is feature 6 */
    double *mean, *sd;               /* standardisation, per feature */
    double *w;                       /* fold f's logit of "wrong" minus
                                        "right": w[f*(n_feat+1) + j], the
                                        intercept last; fitted without fold f */
    uint64_t *ids;                   /* reviewed items' ids, ascending */
    uint8_t *fold_of;                /* the fold of ids[i] */
    size_t n_train, n_wrong;
    float *ref_x;                    /* the labeled reference items */
    int32_t *ref_y;
    size_t n_ref;
};

size_t hitl__detector_features(size_t k, int one_hot, int committee)
{
    return BASE_FEATURES + (committee != 0) + (one_hot && k <= MAX_ONE_HOT ? k : 0);
}

int hitl__detector_committee(const hitl__detector *d)
{
    return d->committee;
}

size_t hitl__detector_items(const hitl__detector *d, size_t *n_wrong)
{
    if (n_wrong)
        *n_wrong = d ? d->n_wrong : 0;
    return d ? d->n_train : 0;
}

void hitl__detector_free(hitl__detector *d)
{
    if (!d)
        return;
    hitl__free(d->w);
    hitl__free(d->mean);
    hitl__free(d->sd);
    hitl__free(d->ids);
    hitl__free(d->fold_of);
    hitl__free(d->ref_x);
    hitl__free(d->ref_y);
    hitl__free(d);
}

/* ---- features ------------------------------------------------------------------ */

/* Unstandardised features of one item: its top probability, margin and
 * entropy; log(1 + distance) to the nearest labeled item and log(1 + mean
 * distance) to its `neighbours` nearest (low where labels are dense); the
 * share of those neighbours labeled with the predicted class; with a
 * committee, 1 - its consensus probability (cons) of the predicted class;
 * and the predicted class as indicators.  best is scratch of 2 x neighbours. */
static void features(double *f, const hitl__detector *d, const float *p,
                     const float *x, const float *cons, double *best)
{
    size_t k = d->k, top = 0, nb = d->neighbours;
    for (size_t c = 1; c < k; c++)
        if (p[c] > p[top])
            top = c;
    double second = 0, h = 0;
    for (size_t c = 0; c < k; c++) {
        if (c != top && p[c] > second)
            second = p[c];
        if (p[c] > 0)
            h -= (double)p[c] * log((double)p[c]);
    }
    size_t have = 0;   /* best[j]: squared distance, best[nb + j]: label */
    for (size_t r = 0; r < d->n_ref; r++) {
        const float *z = d->ref_x + r * d->dim;
        double s = 0;
        for (size_t j = 0; j < d->dim; j++)
            s += ((double)x[j] - z[j]) * ((double)x[j] - z[j]);
        if (have == nb && s >= best[have - 1])
            continue;
        size_t at = have < nb ? have++ : nb - 1;
        while (at > 0 && best[at - 1] > s) {
            best[at] = best[at - 1];
            best[nb + at] = best[nb + at - 1];
            at--;
        }
        best[at] = s;
        best[nb + at] = (double)d->ref_y[r];
    }
    double mean = 0, agree = 0;
    for (size_t j = 0; j < have; j++) {
        mean += sqrt(best[j]);
        agree += best[nb + j] == (double)top;
    }
    f[0] = p[top];
    f[1] = (double)p[top] - second;
    f[2] = h;
    f[3] = have ? log1p(sqrt(best[0])) : 0;
    f[4] = have ? log1p(mean / (double)have) : 0;
    f[5] = have ? agree / (double)have : 0;
    size_t at = BASE_FEATURES;
    if (d->committee)   /* the committee's doubt about the model's label */
        f[at++] = 1 - (double)cons[top];
    for (size_t c = 0; at + c < d->n_feat; c++)
        f[at + c] = c == top;
}

static void standardise(float *out, const hitl__detector *d, const double *f)
{
    for (size_t j = 0; j < d->n_feat; j++)
        out[j] = (float)((f[j] - d->mean[j]) / d->sd[j]);
}

/* ---- fitting ------------------------------------------------------------------ */

typedef struct train {
    double *f;          /* n x n_feat, raw */
    uint8_t *wrong;
    uint64_t *id;
    size_t n;
} train;

static int by_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Folds are dealt round-robin in the order of hashed ids: a fold depends
 * on the ids alone, never on which items the model got wrong, so changing
 * one item's label changes no fold (the cross-fitting test relies on it). */
typedef struct keyed {
    uint64_t key;
    size_t i;
} keyed;

static int by_key(const void *a, const void *b)
{
    uint64_t x = ((const keyed *)a)->key, y = ((const keyed *)b)->key;
    return (x > y) - (x < y);
}

static int assign_folds(uint8_t *fold, const train *t, size_t folds)
{
    keyed *v = hitl__calloc(t->n, sizeof *v);
    if (!v)
        return HITL_ENOMEM;
    for (size_t i = 0; i < t->n; i++)
        v[i] = (keyed){ hitl__mix64(t->id[i] ^ SEED), i };
    qsort(v, t->n, sizeof *v, by_key);
    for (size_t j = 0; j < t->n; j++)
        fold[v[j].i] = (uint8_t)(j % folds);
    hitl__free(v);
    return HITL_OK;
}

/* Fit fold model f: logistic regression (built-in, L2 1) of wrong on the
 * standardised features of the items outside fold f. */
static int fit_fold(double *wf, const hitl__detector *d, const train *t,
                    const uint8_t *fold, size_t f, float *rows)
{
    size_t m = 0;
    for (size_t i = 0; i < t->n; i++)
        if (fold[i] != f)
            standardise(rows + m++ * d->n_feat, d, t->f + i * d->n_feat);
    hitl_pool *pool = NULL;
    hitl_model *model = NULL;
    int rc = hitl_pool_create(&pool, d->n_feat);
    if (!rc)
        rc = hitl_pool_add(pool, rows, m, d->n_feat, NULL);
    for (size_t i = 0, j = 0; i < t->n && !rc; i++)
        if (fold[i] != f)
            rc = hitl_pool_set_label(pool, j++, t->wrong[i]);
    if (!rc)
        rc = hitl_model_create_logreg(&model, d->n_feat, 2);
    if (!rc)
        rc = hitl_model_fit(model, pool);
    double W[2 * MAX_FEATURES], b[2];
    if (!rc)
        rc = hitl_model_get_coef(W, b, model);
    if (!rc) {
        for (size_t j = 0; j < d->n_feat; j++)
            wf[j] = W[d->n_feat + j] - W[j];
        wf[d->n_feat] = b[1] - b[0];
    }
    hitl_pool_free(pool);
    hitl_model_free(model);
    return rc;
}

static void set_scaling(hitl__detector *d, const train *t)
{
    for (size_t j = 0; j < d->n_feat; j++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < t->n; i++)
            m += t->f[i * d->n_feat + j];
        m /= (double)t->n;
        for (size_t i = 0; i < t->n; i++) {
            double e = t->f[i * d->n_feat + j] - m;
            v += e * e;
        }
        v = sqrt(v / (double)t->n);
        d->mean[j] = m;
        d->sd[j] = v > 1e-12 ? v : 1;
    }
}

/* The labeled items outside the reviewed range become the reference. */
static int copy_reference(hitl__detector *d, const hitl_pool *pool,
                          size_t first, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < pool->n; i++)
        m += (i < first || i >= first + n) && pool->state[i] == HITL_ITEM_LABELED;
    d->ref_x = hitl__calloc(m ? m : 1, d->dim * sizeof *d->ref_x);
    d->ref_y = hitl__calloc(m ? m : 1, sizeof *d->ref_y);
    if (!d->ref_x || !d->ref_y)
        return HITL_ENOMEM;
    for (size_t i = 0; i < pool->n; i++)
        if ((i < first || i >= first + n) && pool->state[i] == HITL_ITEM_LABELED) {
            memcpy(d->ref_x + d->n_ref * d->dim, hitl__pool_row(pool, i),
                   d->dim * sizeof *d->ref_x);
            d->ref_y[d->n_ref++] = pool->label[i];
        }
    return HITL_OK;
}

static hitl__detector *detector_new(size_t k, size_t dim, size_t folds,
                                    size_t neighbours, int one_hot,
                                    int committee)
{
    hitl__detector *d = hitl__calloc(1, sizeof *d);
    if (!d)
        return NULL;
    *d = (hitl__detector){ .k = k, .dim = dim, .folds = folds,
                           .neighbours = neighbours,
                           .committee = committee,
                           .n_feat = hitl__detector_features(k, one_hot, committee) };
    d->mean = hitl__calloc(d->n_feat, sizeof *d->mean);
    d->sd = hitl__calloc(d->n_feat, sizeof *d->sd);
    d->w = hitl__calloc(folds, (d->n_feat + 1) * sizeof *d->w);
    if (!d->mean || !d->sd || !d->w) {
        hitl__detector_free(d);
        return NULL;
    }
    return d;
}

/* Features of the reviewed items; proba (n x k) and index (their pool
 * indices) come from the caller. */
static int train_features(train *t, const hitl__detector *d,
                          const hitl_pool *pool, const float *proba,
                          const float *cons, const size_t *index, size_t n)
{
    t->n = n;
    t->f = hitl__calloc(n, d->n_feat * sizeof *t->f);
    t->wrong = hitl__calloc(n, sizeof *t->wrong);
    t->id = hitl__calloc(n, sizeof *t->id);
    double *best = hitl__calloc(2 * d->neighbours, sizeof *best);
    if (!t->f || !t->wrong || !t->id || !best) {
        hitl__free(best);
        return HITL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * d->k;
        features(t->f + i * d->n_feat, d, p, hitl__pool_row(pool, index[i]),
                 cons ? cons + i * d->k : NULL, best);
        size_t top = 0;
        for (size_t c = 1; c < d->k; c++)
            if (p[c] > p[top])
                top = c;
        t->wrong[i] = (int32_t)top != pool->label[index[i]];
        t->id[i] = pool->ids[index[i]];
    }
    hitl__free(best);
    return HITL_OK;
}

static void train_free(train *t)
{
    hitl__free(t->f);
    hitl__free(t->wrong);
    hitl__free(t->id);
}

/* The fold models and the id -> fold table. */
static int fit_folds(hitl__detector *d, const train *t)
{
    uint8_t *fold = hitl__calloc(t->n, sizeof *fold);
    float *rows = hitl__calloc(t->n, d->n_feat * sizeof *rows);
    keyed *v = hitl__calloc(t->n, sizeof *v);
    d->ids = hitl__calloc(t->n, sizeof *d->ids);
    d->fold_of = hitl__calloc(t->n, sizeof *d->fold_of);
    int rc = fold && rows && v && d->ids && d->fold_of ? HITL_OK : HITL_ENOMEM;
    if (!rc)
        rc = assign_folds(fold, t, d->folds);
    for (size_t f = 0; f < d->folds && !rc; f++)
        rc = fit_fold(d->w + f * (d->n_feat + 1), d, t, fold, f, rows);
    if (!rc) {
        for (size_t i = 0; i < t->n; i++)
            v[i] = (keyed){ t->id[i], fold[i] };
        qsort(v, t->n, sizeof *v, by_key);
        for (size_t i = 0; i < t->n; i++) {
            d->ids[i] = v[i].key;
            d->fold_of[i] = (uint8_t)v[i].i;
        }
    }
    hitl__free(v);
    hitl__free(rows);
    hitl__free(fold);
    return rc;
}

int hitl__detector_fit(hitl__detector **out, const char *fn, size_t k,
                       const hitl_pool *pool, const float *proba,
                       const size_t *index, size_t n, size_t first,
                       size_t range, size_t folds, size_t neighbours,
                       int one_hot, const float *cons)
{
    if (pool->sparse)
        return hitl__fail_in(HITL_EINVAL, fn, "the error detector reads dense rows; this "
                             "pool is sparse");
    hitl__detector *d = detector_new(k, pool->dim, folds, neighbours,
                                     one_hot && k <= MAX_ONE_HOT, cons != NULL);
    if (!d)
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for a detector");
    train t = { 0 };
    int rc = copy_reference(d, pool, first, range);
    if (!rc)
        rc = train_features(&t, d, pool, proba, cons, index, n);
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            d->n_wrong += t.wrong[i];
        d->n_train = n;
        set_scaling(d, &t);
        rc = fit_folds(d, &t);
    }
    train_free(&t);
    if (rc) {
        hitl__detector_free(d);
        if (rc == HITL_ENOMEM)
            return hitl__fail_in(rc, fn, "no memory for the detector of %zu items", n);
        char why[256];   /* the fold fit's message, copied before it is replaced */
        snprintf(why, sizeof why, "%s", hitl_error_message());
        return hitl__fail_in(rc, fn, "fitting the detector failed: %s", why);
    }
    *out = d;
    return HITL_OK;
}

/* ---- scoring ------------------------------------------------------------------ */

/* The fold of a reviewed item, or -1. */
static int fold_of(const hitl__detector *d, uint64_t id)
{
    const uint64_t *hit = bsearch(&id, d->ids, d->n_train, sizeof id, by_id);
    return hit ? d->fold_of[hit - d->ids] : -1;
}

size_t hitl__detector_scratch(const hitl__detector *d)
{
    return 2 * d->neighbours + d->n_feat;   /* doubles; plus n_feat floats */
}

void hitl__detector_score(double *p_wrong, const hitl__detector *d,
                          const float *p, const float *x, const float *cons,
                          int has_id, uint64_t id, double *scratch)
{
    double *f = scratch + 2 * d->neighbours;
    float row[MAX_FEATURES];
    features(f, d, p, x, cons, scratch);
    standardise(row, d, f);
    int own = has_id ? fold_of(d, id) : -1;
    double sum = 0;
    for (size_t m = 0; m < d->folds; m++) {
        if (own >= 0 && (size_t)own != m)
            continue;
        const double *w = d->w + m * (d->n_feat + 1);
        double z = w[d->n_feat];
        for (size_t j = 0; j < d->n_feat; j++)
            z += w[j] * row[j];
        sum += 1 / (1 + exp(-z));
    }
    *p_wrong = own >= 0 ? sum : sum / (double)d->folds;
}

int hitl__detector_fold(const hitl__detector *d, uint64_t id)
{
    return fold_of(d, id);
}
