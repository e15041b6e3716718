/*
 * crossfit: out-of-sample class probabilities of the pool's labeled items.
 *
 * A model's probabilities on the items it was fitted on are too confident
 * to say which labels are wrong (it has learnt the wrong labels too), so
 * each labeled item is scored by a model that never saw it: k-fold
 * cross-fitting.  The labeled items are dealt into k folds, stratified: in
 * the order (label, a hash of (seed, pool index)), position p goes to fold
 * p mod k, so every class is spread over the folds as evenly as it can be
 * and the split depends on the seed and the pool alone.  Fold f's model is
 * a fresh copy of the caller's (its parameters; a custom model's callbacks
 * and user pointer) fitted on the other folds, then it scores fold f.
 *
 * The labeled rows are copied once, grouped by fold, and each fold's
 * training pool borrows the two runs of rows before and after its own, so
 * the copy serves every fold: extra memory is the labeled rows (n_lab x
 * dim floats) plus per running fold a pool's bookkeeping (about 17 bytes an
 * item) and its model.  Folds run as tasks of the worker pool (tasks.c);
 * every fold writes only its own items' rows of the result, so the result
 * is the same for any thread count.  Custom models run one fold at a time:
 * their callbacks share the caller's `user` state.
 */
#include "learn/learn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct order_key {
    int32_t label;
    double key;
    size_t row;
} order_key;

static int by_label_key(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

typedef struct plan {
    const hitl_model *model;
    const hitl_pool *pool;
    size_t n, K, dim, folds, fold_threads;
    const size_t *lab;     /* row r -> pool index */
    size_t *perm;          /* position -> row, grouped by fold */
    size_t *start;         /* folds + 1: fold f holds positions start[f] ..
                              start[f+1]-1 */
    float *X;              /* n x dim: rows in perm order */
    float *proba;          /* n x K: the result, by row */
    const char *fn;
} plan;

/* Messages of a fold's failure: the public call, the fold, the detail the
 * failing call left. */
static int fold_fail(const plan *p, size_t f, int st)
{
    char why[384];
    const char *m = hitl_error_message();
    const char *colon = strstr(m, ": ");
    snprintf(why, sizeof why, "%s", colon ? colon + 2 : m);
    return hitl__fail_in(st, p->fn, "fold %zu of %zu: %s", f, p->folds, why);
}

/* A fresh, unfitted copy of the caller's model. */
static int fold_model(hitl_model **out, const plan *p)
{
    const hitl_model *m = p->model;
    int st = m->kind == HITL__MODEL_CUSTOM
                 ? hitl_model_create_custom(out, m->dim, m->n_classes, m->fit_cb,
                                            m->predict_cb, m->user)
                 : hitl_model_create_logreg(out, m->dim, m->n_classes);
    if (st != HITL_OK)
        return st;
    hitl_model *c = *out;
    c->l2 = m->l2;
    c->tol = m->tol;
    c->fit_intercept = m->fit_intercept;
    c->max_iter = m->max_iter;
    c->block_rows = m->block_rows;
    c->threads = p->fold_threads;
    return HITL_OK;
}

/* The training pool of fold f: the rows of every other fold, borrowed. */
static int fold_pool(hitl_pool **out, const plan *p, size_t f)
{
    size_t lo = p->start[f], hi = p->start[f + 1], d = p->dim;
    int st = hitl_pool_create(out, d);
    if (st == HITL_OK && lo > 0)
        st = hitl_pool_add_borrowed(*out, p->X, lo, d, NULL);
    if (st == HITL_OK && hi < p->n)
        st = hitl_pool_add_borrowed(*out, p->X + hi * d, p->n - hi, d, NULL);
    for (size_t q = 0; st == HITL_OK && q < p->n - (hi - lo); q++) {
        size_t i = p->lab[p->perm[q < lo ? q : q + (hi - lo)]];
        st = hitl_pool_set_label(*out, q, p->pool->label[i]);
        if (st == HITL_OK)
            st = hitl_pool_set_weight(*out, q, p->pool->weight[i]);
    }
    return st;
}

static int run_fold(void *ctx, size_t worker, size_t f)
{
    (void)worker;
    const plan *p = ctx;
    size_t lo = p->start[f], n_f = p->start[f + 1] - lo, K = p->K;
    hitl_pool *train = NULL;
    hitl_model *m = NULL;
    float *out = hitl__malloc(n_f * K * sizeof *out);
    int st = out ? HITL_OK : hitl__fail_in(HITL_ENOMEM, p->fn, "out of memory");
    if (st == HITL_OK)
        st = fold_pool(&train, p, f);
    if (st == HITL_OK)
        st = fold_model(&m, p);
    if (st == HITL_OK)
        st = hitl_model_fit(m, train);
    if (st == HITL_OK)
        st = hitl_model_predict(out, m, p->X + lo * p->dim, n_f, p->dim);
    for (size_t q = 0; st == HITL_OK && q < n_f; q++)
        memcpy(p->proba + p->perm[lo + q] * K, out + q * K, K * sizeof *out);
    hitl_model_free(m);
    hitl_pool_free(train);
    hitl__free(out);
    return st == HITL_OK ? HITL_OK : fold_fail(p, f, st);
}

/* perm and start: the stratified folds of the n labeled rows. */
static int deal_folds(plan *p, uint64_t seed)
{
    order_key *ord = hitl__malloc(p->n * sizeof *ord);
    size_t *fold_of = hitl__malloc(p->n * sizeof *fold_of);
    if (!ord || !fold_of) {
        hitl__free(ord);
        hitl__free(fold_of);
        return hitl__fail_in(HITL_ENOMEM, p->fn, "out of memory for %zu labeled items", p->n);
    }
    for (size_t r = 0; r < p->n; r++)
        ord[r] = (order_key){ p->pool->label[p->lab[r]], hitl__rng_key(seed, p->lab[r]), r };
    qsort(ord, p->n, sizeof *ord, by_label_key);
    memset(p->start, 0, (p->folds + 1) * sizeof *p->start);
    for (size_t q = 0; q < p->n; q++) {
        fold_of[ord[q].row] = q % p->folds;
        p->start[q % p->folds + 1]++;
    }
    for (size_t f = 0; f < p->folds; f++)
        p->start[f + 1] += p->start[f];
    size_t *next = (size_t *)ord; /* reused: folds entries */
    memcpy(next, p->start, p->folds * sizeof *next);
    for (size_t r = 0; r < p->n; r++)
        p->perm[next[fold_of[r]]++] = r;
    hitl__free(ord);
    hitl__free(fold_of);
    return HITL_OK;
}

int hitl__cross_fit(float *proba, const hitl_model *model, const hitl_pool *pool,
                    const size_t *lab, size_t n_lab, size_t folds, uint64_t seed,
                    size_t threads, const char *fn)
{
    if (pool->sparse)
        return hitl__fail_in(HITL_EINVAL, fn, "cross-fitting copies dense rows; this pool "
                             "is sparse");
    plan p = { .model = model, .pool = pool, .n = n_lab, .K = model->n_classes,
               .dim = pool->dim, .folds = folds, .lab = lab, .proba = proba, .fn = fn };
    size_t workers = threads ? threads : hitl__cpus();
    if (workers > folds)
        workers = folds;
    if (model->kind == HITL__MODEL_CUSTOM)
        workers = 1;
    /* a fold's own scoring threads: the caller's setting when folds run one
     * at a time, else one each */
    p.fold_threads = workers == 1 ? model->threads : 1;
    size_t xbytes;
    if (hitl__mul_size(&xbytes, n_lab, p.dim * sizeof(float)) != 0)
        return hitl__fail_in(HITL_ENOMEM, fn, "%zu labeled rows overflow size_t", n_lab);
    p.perm = hitl__malloc(n_lab * sizeof *p.perm);
    p.start = hitl__malloc((folds + 1) * sizeof *p.start);
    p.X = hitl__malloc(xbytes);
    int st = HITL_OK;
    if (!p.perm || !p.start || !p.X)
        st = hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu labeled rows", n_lab);
    if (st == HITL_OK)
        st = deal_folds(&p, seed);
    for (size_t q = 0; st == HITL_OK && q < n_lab; q++)
        memcpy(p.X + q * p.dim, hitl__pool_row(pool, lab[p.perm[q]]), p.dim * sizeof(float));
    if (st == HITL_OK)
        st = hitl__tasks_run(workers, folds, run_fold, &p, fn);
    hitl__free(p.perm);
    hitl__free(p.start);
    hitl__free(p.X);
    return st;
}
