/*
 * eval_recheck: how well the re-check queue (hitl_recheck, confident
 * learning) finds wrong labels, on a data set with labels flipped on
 * purpose.  Part of `make eval`.
 *
 *   eval_recheck [--seeds S] [--folds F] DATA.csv.gz
 *
 * For symmetric noise (a flipped label goes to any other class) and
 * class-conditional noise (class c always to the same other class) at 5%,
 * 10% and 20% of the labels, over S seeds: the labels of every item are
 * given to a pool, the queue runs on 5-fold cross-fitted logistic
 * regression, and the figures are
 *   prec@m, rec@m  precision and recall of the first m items of the queue,
 *                  m = the number of flipped labels (the true noise rate):
 *                  the items a reviewer would check with a budget of m;
 *   queue          the whole queue's length, precision and recall;
 *   est. noise     the noise rate confident learning estimates (the
 *                  off-diagonal mass of the calibrated joint);
 *   margin         prec@m when the queue is ranked by normalised margin
 *                  instead of self-confidence (same flagged set).
 * Features are scaled to [0, 1] (digits: counts 0..16).
 */
#include "hitl.h"
#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L2 1.0

typedef struct stat { double sum, sq; size_t n; } stat;

static void add(stat *s, double x)
{
    s->sum += x;
    s->sq += x * x;
    s->n++;
}

static double mean(const stat *s)
{
    return s->sum / (double)s->n;
}

static double sd(const stat *s)
{
    double m = mean(s), v = s->sq / (double)s->n - m * m;
    return s->n > 1 ? sqrt(fmax(v, 0) * (double)s->n / (double)(s->n - 1)) : 0;
}

static void check(int status, const char *call)
{
    if (status != HITL_OK)
        ds_fail("%s failed: %s: %s", call, hitl_strerror(status), hitl_error_message());
}

typedef struct figures { stat prec, rec, qlen, qprec, qrec, est, margin; } figures;

/* One run: flip, cross-fit, the queue by both rankings. */
static void run_once(figures *f, const dataset *ds, double rate, int conditional,
                     uint64_t seed, size_t folds, float *P, size_t *queue)
{
    size_t n = ds->n, K = ds->n_classes, count, at_m, all;
    int32_t *y = ds_calloc(n, sizeof *y);
    uint8_t *flipped = ds_calloc(n, 1);
    memcpy(y, ds->y, n * sizeof *y);
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + (uint64_t)(rate * 1000) + conditional;
    ds_flip_labels(y, flipped, n, K, rate, conditional, &rng);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += flipped[i];
    hitl_pool *pool = NULL;
    hitl_model *model = NULL;
    hitl_recheck *rc = NULL;
    check(hitl_pool_create(&pool, ds->dim), "hitl_pool_create");
    check(hitl_pool_add_borrowed(pool, ds->x, n, ds->dim, NULL), "hitl_pool_add_borrowed");
    for (size_t i = 0; i < n; i++)
        check(hitl_pool_set_label(pool, i, y[i]), "hitl_pool_set_label");
    check(hitl_model_create_logreg(&model, ds->dim, K), "hitl_model_create_logreg");
    check(hitl_model_set_param(model, HITL_PARAM_L2, L2), "hitl_model_set_param");
    check(hitl_recheck_create(&rc), "hitl_recheck_create");
    check(hitl_recheck_set_param(rc, HITL_PARAM_RECHECK_FOLDS, (double)folds), "set folds");
    check(hitl_recheck_set_param(rc, HITL_PARAM_RECHECK_SEED, (double)seed), "set seed");
    check(hitl_recheck_cross_fit(P, rc, model, pool), "hitl_recheck_cross_fit");

    check(hitl_recheck_query_proba(&count, queue, NULL, NULL, rc, P, K, pool, n),
          "hitl_recheck_query_proba");
    ds_queue_hits(&at_m, &all, queue, count, flipped, m);
    size_t shown = count < m ? count : m;
    add(&f->prec, shown ? (double)at_m / (double)shown : 1);
    add(&f->rec, (double)at_m / (double)m);
    add(&f->qlen, (double)count);
    add(&f->qprec, count ? (double)all / (double)count : 1);
    add(&f->qrec, (double)all / (double)m);
    double est;
    check(hitl_recheck_get_info(&est, rc, HITL_RECHECK_INFO_NOISE_RATE), "get_info");
    add(&f->est, est);

    check(hitl_recheck_set_param(rc, HITL_PARAM_RECHECK_RANK,
                                 HITL_RECHECK_RANK_NORMALIZED_MARGIN), "set rank");
    check(hitl_recheck_query_proba(&count, queue, NULL, NULL, rc, P, K, pool, n),
          "hitl_recheck_query_proba");
    ds_queue_hits(&at_m, &all, queue, count, flipped, m);
    add(&f->margin, shown ? (double)at_m / (double)shown : 1);
    hitl_recheck_free(rc);
    hitl_model_free(model);
    hitl_pool_free(pool);
    free(y);
    free(flipped);
}

static size_t count_arg(const char *opt, const char *arg)
{
    char *end;
    unsigned long v = arg ? strtoul(arg, &end, 10) : 0;
    if (!arg || *end || v == 0 || v > 1000)
        ds_fail("%s needs an integer in 1..1000", opt);
    return (size_t)v;
}

int main(int argc, char **argv)
{
    ds_program = "eval_recheck";
    size_t seeds = 5, folds = 5;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds"))
            seeds = count_arg("--seeds", argv[++i]);
        else if (!strcmp(argv[i], "--folds"))
            folds = count_arg("--folds", argv[++i]);
        else if (argv[i][0] == '-' || path)
            ds_fail("usage: eval_recheck [--seeds S] [--folds F] DATA.csv.gz");
        else
            path = argv[i];
    }
    if (!path)
        ds_fail("name a data set (e.g. data/digits.csv.gz)");
    dataset ds;
    ds_load(&ds, path, -1, 65535);
    float mx = 0;
    for (size_t i = 0; i < ds.n * ds.dim; i++)
        mx = ds.x[i] > mx ? ds.x[i] : mx;
    for (size_t i = 0; mx > 0 && i < ds.n * ds.dim; i++)
        ds.x[i] /= mx;
    double t0 = ds_seconds();
    printf("libhitl %s re-check queue evaluation (confident learning, prune by noise "
           "rate):\n%s, %zu items, %zu classes; every label given, a share flipped; "
           "%zu-fold cross-fitted\nlogistic regression (L2 %g); mean +- sd over seeds "
           "1..%zu.  At the true noise rate m = the\nnumber flipped, prec@m = rec@m "
           "unless the queue is shorter than m.\n\n", hitl_version(), ds.name, ds.n,
           ds.n_classes, folds, L2, seeds);
    printf("%-18s %5s  %-13s %-13s %-6s %-13s %-13s %-13s %s\n", "noise", "m", "prec@m",
           "rec@m", "queue", "queue prec", "queue rec", "est. noise", "margin prec@m");
    float *P = ds_calloc(ds.n * ds.n_classes, sizeof *P);
    size_t *queue = ds_calloc(ds.n, sizeof *queue);
    static const double rates[] = { 0.05, 0.10, 0.20 };
    for (int conditional = 0; conditional < 2; conditional++)
        for (size_t r = 0; r < 3; r++) {
            figures f;
            memset(&f, 0, sizeof f);
            for (size_t s = 1; s <= seeds; s++)
                run_once(&f, &ds, rates[r], conditional, s, folds, P, queue);
            char name[32];
            snprintf(name, sizeof name, "%s %2.0f%%",
                     conditional ? "class-cond." : "symmetric", rates[r] * 100);
            printf("%-18s %5.0f  %.3f+-%.3f  %.3f+-%.3f  %4.0f   %.3f+-%.3f  %.3f+-%.3f  "
                   "%.3f+-%.3f  %.3f+-%.3f\n", name, rates[r] * (double)ds.n,
                   mean(&f.prec), sd(&f.prec), mean(&f.rec), sd(&f.rec), mean(&f.qlen),
                   mean(&f.qprec), sd(&f.qprec), mean(&f.qrec), sd(&f.qrec),
                   mean(&f.est), sd(&f.est), mean(&f.margin), sd(&f.margin));
            fflush(stdout);
        }
    printf("done in %.0f s\n", ds_seconds() - t0);
    free(P);
    free(queue);
    ds_free(&ds);
    return 0;
}
