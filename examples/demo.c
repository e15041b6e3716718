/*
 * libhitl demo: the active-learning loop on a real data set.
 *
 *   demo [--batch K] [--rounds R] [--text-batch K] [--text-rounds R]
 *        [--seed S] [DATA.csv.gz|TEXT.tsv.gz ...]
 *
 * By default it runs on data/digits.csv.gz, then on data/finefoods.tsv.gz.
 * A .csv.gz set holds one item per line: comma-separated integer features in
 * 0..16, then the class label (see data/README).  A .tsv.gz set holds texts
 * (product reviews: class, id, text); the demo vectorises them in C
 * (examples/textvec.c: hashed unigrams and bigrams, TF-IDF, unit norm, 2^18
 * columns) into a sparse pool, and runs the data, full-data and
 * active-learning sections below on it, with --text-batch and --text-rounds
 * (default 20 and 40: reviews are slower to learn than digits).  The
 * demo holds out a third of the items for testing, measures what a model
 * fitted on every label of the rest reaches, and then runs the loop once per
 * query strategy: start from one labeled item per class, ask for the K items
 * the strategy picks, let a simulated annotator answer with the true label,
 * refit (warm-started), measure test accuracy, R times.  It prints the
 * learning curves side by side and how many labels each strategy needed to
 * reach 95% of the full-data accuracy.
 *
 * Then it runs the loop with three simulated annotators of different quality
 * (unknown to the library) who all answer every queried item, compares
 * majority vote with Dawid-Skene aggregation, estimates the annotators'
 * accuracies, measures their agreement (Fleiss' kappa), and routes new
 * items between the model and a person by calibrated confidence, then at a
 * fixed reviewer capacity by the confidence and by the learned error
 * detector.  A reviewer settles the least certain consensus labels; with a
 * tenth of the labels flipped, the re-check queue finds the wrong ones.  Last,
 * one of three annotators gets careless halfway, and the drift check finds
 * who and from when.  Then items arrive one by one and stream selection
 * decides, within a budget, which a person labels (examples/demo_stream.c).
 * Then a simulated group attribute whose items are harder: explanations
 * shown to the reviewer, a counterfactual, and the bias audit finding the gap.
 * Last, a deployed model meets a stream whose classes swap meaning halfway:
 * the drift monitor sees the reviewed errors rise, the router reviews
 * everything until the model is refitted and recalibrated, and accuracy
 * recovers.
 *
 * The program is in sections (data, full data, active learning, several
 * annotators, reviewer, labels to re-check, drift, stream, deployment); a section is one function called from main().  Strategies
 * are rows of the table `strategies` below.
 */
#include "hitl.h"
#include "dataset.h"
#include "demo_stream.h"
#include "textvec.h"

#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- settings --------------------------------------------------------- */

#define MAX_VALUE   16     /* features are counts of pixels in a 4x4 block */
#define TEST_EVERY  3      /* every 3rd item of each class is held out */
#define TARGET      0.95   /* share of the full-data accuracy to reach */
#define L2          1.0    /* lambda of the objective (scikit-learn C = 1) */
/* Text rows have unit norm spread over ~100 n-grams, so a word's weight must
 * grow large to count: the usual C = 10 for TF-IDF (scikit-learn on these
 * reviews, full pool: C = 1 0.73, C = 10 0.79 test accuracy). */
#define L2_TEXT     0.1
#define ANNOTATOR   1      /* the simulated annotator's id */

/* The strategies compared, one column each. */
typedef struct demo_strategy {
    const char *name;            /* column heading, at most 10 characters */
    hitl_strategy_kind kind;
} demo_strategy;

static const demo_strategy strategies[] = {
    {"random", HITL_STRATEGY_RANDOM},
    {"least-conf", HITL_STRATEGY_LEAST_CONFIDENT},
    {"margin", HITL_STRATEGY_MARGIN},
    {"entropy", HITL_STRATEGY_ENTROPY},
    {"k-center", HITL_STRATEGY_KCENTER},
    {"ranked", HITL_STRATEGY_RANKED_BATCH},
    {"density", HITL_STRATEGY_DENSITY},
    {"hybrid", HITL_STRATEGY_HYBRID},
    {"default", HITL_STRATEGY_DEFAULT},
};
#define N_STRATEGIES (sizeof strategies / sizeof strategies[0])

/* ---- errors ----------------------------------------------------------- */

/* Run a libhitl call; on failure print the call, the status and the
 * library's detail message, and jump to the function's `fail` label. */
#define TRY(call)                                                          \
    do {                                                                   \
        int try_status_ = (call);                                          \
        if (try_status_ != HITL_OK) {                                      \
            report_failure(#call, try_status_);                            \
            goto fail;                                                     \
        }                                                                  \
    } while (0)

static void report_failure(const char *call, int status)
{
    fprintf(stderr, "demo: %s failed: %s: %s\n", call, hitl_strerror(status),
            hitl_error_message());
}

/* ---- section: data ------------------------------------------------------ */

/* Read the data set (examples/dataset.c): features integers in
 * 0..MAX_VALUE (pixel counts), scaled here to [0, 1]; labels in 0..255. */
static void load_data(dataset *ds, const char *path)
{
    ds_load(ds, path, MAX_VALUE, 255);
    for (size_t i = 0; i < ds->n * ds->dim; i++)
        ds->x[i] /= MAX_VALUE;
}

/* The held-out split: per class, a seeded shuffle, then every TEST_EVERY-th
 * item goes to the test set.  The pool keeps the rest in shuffled order. */
typedef struct split {
    size_t n_pool, n_test;
    size_t *pool;      /* dataset indices of the pool items */
    size_t *test;      /* dataset indices of the test items */
    float *x_pool;     /* n_pool x dim, contiguous, lent to the pools */
    uint64_t *ids;     /* n_pool caller ids: line numbers in the file */
    float *x_test;     /* n_test x dim, contiguous, for hitl_model_predict */
    /* A text set's rows instead of x_pool and x_test: CSR, in the same
     * orders, lent to the pools / passed to hitl_model_predict_csr. */
    tv_csr pool_csr, test_csr;
    size_t seed_set[256]; /* pool positions of one item per class */
} split;

/* The dense rows of the pool and test items, each set contiguous. */
static void split_rows(split *sp, const dataset *ds)
{
    sp->x_pool = ds_calloc(sp->n_pool * ds->dim, sizeof *sp->x_pool);
    for (size_t i = 0; i < sp->n_pool; i++)
        memcpy(sp->x_pool + i * ds->dim, ds->x + sp->pool[i] * ds->dim,
               ds->dim * sizeof *ds->x);
    sp->x_test = ds_calloc(sp->n_test * ds->dim, sizeof *sp->x_test);
    for (size_t i = 0; i < sp->n_test; i++)
        memcpy(sp->x_test + i * ds->dim, ds->x + sp->test[i] * ds->dim,
               ds->dim * sizeof *ds->x);
}

static void make_split(split *sp, const dataset *ds, uint64_t seed)
{
    uint64_t rng = seed;
    size_t *order = ds_calloc(ds->n, sizeof *order);
    for (size_t i = 0; i < ds->n; i++)
        order[i] = i;
    ds_shuffle(order, ds->n, &rng);

    memset(sp, 0, sizeof *sp);
    sp->pool = ds_calloc(ds->n, sizeof *sp->pool);
    sp->test = ds_calloc(ds->n, sizeof *sp->test);
    size_t *seen = ds_calloc(ds->n_classes, sizeof *seen);
    for (size_t i = 0; i < ds->n; i++) {
        size_t item = order[i];
        if (seen[ds->y[item]]++ % TEST_EVERY == TEST_EVERY - 1)
            sp->test[sp->n_test++] = item;
        else
            sp->pool[sp->n_pool++] = item;
    }
    for (size_t c = 0; c < ds->n_classes; c++)
        if (seen[c] < TEST_EVERY)
            ds_fail("class %zu has %zu items, need at least %d", c, seen[c],
                TEST_EVERY);

    /* Seed labels: the first pool item of each class. */
    for (size_t c = 0; c < ds->n_classes; c++)
        sp->seed_set[c] = SIZE_MAX;
    for (size_t i = 0; i < sp->n_pool; i++) {
        size_t c = (size_t)ds->y[sp->pool[i]];
        if (sp->seed_set[c] == SIZE_MAX)
            sp->seed_set[c] = i;
    }

    sp->ids = ds_calloc(sp->n_pool, sizeof *sp->ids);
    for (size_t i = 0; i < sp->n_pool; i++)
        sp->ids[i] = sp->pool[i];
    if (ds->x)
        split_rows(sp, ds);
    else {
        ds_gather_csr(&sp->pool_csr, ds, sp->pool, sp->n_pool);
        ds_gather_csr(&sp->test_csr, ds, sp->test, sp->n_test);
    }
    free(seen);
    free(order);
}

static void free_split(split *sp)
{
    free(sp->pool);
    free(sp->test);
    free(sp->x_pool);
    free(sp->ids);
    free(sp->x_test);
    tv_free(&sp->pool_csr);
    tv_free(&sp->test_csr);
}

static void section_data(const dataset *ds, const split *sp, const char *path,
                         uint64_t seed)
{
    printf("== data\n");
    if (ds->x)
        printf("%s: %zu items, %zu features (scaled to [0,1]), %zu classes\n",
               path, ds->n, ds->dim, ds->n_classes);
    else
        printf("%s: %zu texts, %zu classes, vectorised in C (examples/textvec.c):"
               "\nhashed unigrams and bigrams, TF-IDF, unit L2 norm: %zu columns, "
               "%.0f non-zeros a row\n", path, ds->n, ds->n_classes, ds->dim,
               (double)ds->indptr[ds->n] / (double)ds->n);
    printf("held out for testing: %zu items (1 in %d of each class, after a "
           "shuffle with seed %llu);\n%zu items in the pool\n\n",
           sp->n_test, TEST_EVERY, (unsigned long long)seed, sp->n_pool);
}

/* ---- the loop's building blocks --------------------------------------- */

/* A fresh pool over the split's pool items: dense, or sparse for a text
 * set.  The rows are borrowed from the split (no copy; it outlives every
 * pool); each item's caller id is its line number in the data file
 * (0-based). */
static int make_pool(hitl_pool **out, const dataset *ds, const split *sp)
{
    hitl_pool *pool = NULL;
    if (ds->x) {
        TRY(hitl_pool_create(&pool, ds->dim));
        TRY(hitl_pool_add_borrowed(pool, sp->x_pool, sp->n_pool, ds->dim,
                                   sp->ids));
    } else {
        TRY(hitl_pool_create_sparse(&pool, ds->dim));
        TRY(hitl_pool_add_csr_borrowed(pool, sp->pool_csr.indptr,
                                       sp->pool_csr.indices, sp->pool_csr.values,
                                       sp->n_pool, sp->ids));
    }
    *out = pool;
    return 0;
fail:
    hitl_pool_free(pool);
    return -1;
}

static double l2_of(const dataset *ds)
{
    return ds->x ? L2 : L2_TEXT;
}

static int make_model(hitl_model **out, const dataset *ds)
{
    hitl_model *model = NULL;
    TRY(hitl_model_create_logreg(&model, ds->dim, ds->n_classes));
    TRY(hitl_model_set_param(model, HITL_PARAM_L2, l2_of(ds)));
    TRY(hitl_model_set_param(model, HITL_PARAM_WARM_START, 1));
    *out = model;
    return 0;
fail:
    hitl_model_free(model);
    return -1;
}

/* Accuracy of the model on the held-out items. */
static int test_accuracy(double *acc, const hitl_model *model,
                         const dataset *ds, const split *sp)
{
    size_t k = ds->n_classes, correct = 0;
    float *proba = ds_calloc(sp->n_test * k, sizeof *proba);
    if (ds->x)
        TRY(hitl_model_predict(proba, model, sp->x_test, sp->n_test, ds->dim));
    else
        TRY(hitl_model_predict_csr(proba, model, sp->test_csr.indptr,
                                   sp->test_csr.indices, sp->test_csr.values,
                                   sp->n_test));
    for (size_t i = 0; i < sp->n_test; i++) {
        const float *p = proba + i * k;
        size_t best = 0;
        for (size_t c = 1; c < k; c++)
            if (p[c] > p[best])
                best = c;
        correct += (int32_t)best == ds->y[sp->test[i]];
    }
    free(proba);
    *acc = (double)correct / (double)sp->n_test;
    return 0;
fail:
    free(proba);
    return -1;
}

/* ---- section: full data -------------------------------------------------- */

/* Fit on every label of the pool: the accuracy the active learners chase. */
static int section_full_data(double *full_acc, const dataset *ds,
                             const split *sp)
{
    hitl_pool *pool = NULL;
    hitl_model *model = NULL;
    double grad = 0, iters = 0;
    double t0 = ds_seconds();

    if (make_pool(&pool, ds, sp) || make_model(&model, ds))
        goto fail;
    for (size_t i = 0; i < sp->n_pool; i++)
        TRY(hitl_pool_set_label(pool, i, ds->y[sp->pool[i]]));
    TRY(hitl_model_fit(model, pool));
    TRY(hitl_model_get_info(&grad, model, HITL_INFO_GRAD_NORM));
    TRY(hitl_model_get_info(&iters, model, HITL_INFO_ITERATIONS));
    if (test_accuracy(full_acc, model, ds, sp))
        goto fail;

    printf("== full data\n");
    printf("logistic regression (L2 lambda %g) fitted on all %zu pool labels "
           "in %.2f s\n(gradient norm %.1e after %.0f iterations): "
           "test accuracy %.4f\n",
           l2_of(ds), sp->n_pool, ds_seconds() - t0, grad, iters, *full_acc);
    printf("target for active learning: %.0f%% of it = %.4f\n\n",
           100 * TARGET, TARGET * *full_acc);
    hitl_model_free(model);
    hitl_pool_free(pool);
    return 0;
fail:
    hitl_model_free(model);
    hitl_pool_free(pool);
    return -1;
}

/* ---- section: active learning --------------------------------------------- */

typedef struct curve {
    double *acc;       /* test accuracy after round r (round 0: seed set) */
    size_t *labels;    /* labels used by the fit of round r */
    double seconds;
} curve;

/* One run of the loop with one strategy: fills the curve's rounds+1 points. */
static int run_loop(curve *cv, const demo_strategy *st, const dataset *ds,
                    const split *sp, size_t batch, size_t rounds,
                    uint64_t seed)
{
    hitl_pool *pool = NULL;
    hitl_model *model = NULL;
    hitl_strategy *strategy = NULL;
    hitl_feedback *feedback = NULL;
    uint64_t *ids = ds_calloc(batch, sizeof *ids);
    double t0 = ds_seconds();

    if (make_pool(&pool, ds, sp) || make_model(&model, ds))
        goto fail;
    TRY(hitl_strategy_create(&strategy, st->kind));
    TRY(hitl_strategy_set_param(strategy, HITL_PARAM_SEED, (double)seed));
    TRY(hitl_feedback_create(&feedback, pool));

    /* The same seed labels for every strategy: one item per class. */
    for (size_t c = 0; c < ds->n_classes; c++) {
        size_t item = sp->pool[sp->seed_set[c]];
        TRY(hitl_feedback_label(feedback, (uint64_t)item, ANNOTATOR,
                                ds->y[item]));
    }

    for (size_t r = 0; r <= rounds; r++) {
        if (r > 0) {
            size_t count = 0;
            TRY(hitl_query(&count, NULL, ids, NULL, strategy, model, pool,
                           batch));
            /* The simulated annotator: the id is the item's line in the data
             * file, so the true label is ds->y[id]. */
            for (size_t j = 0; j < count; j++)
                TRY(hitl_feedback_label(feedback, ids[j], ANNOTATOR,
                                        ds->y[ids[j]]));
        }
        TRY(hitl_model_fit(model, pool));
        TRY(hitl_pool_count(&cv->labels[r], pool, HITL_ITEM_LABELED));
        if (test_accuracy(&cv->acc[r], model, ds, sp))
            goto fail;
    }
    cv->seconds = ds_seconds() - t0;

    hitl_feedback_free(feedback);
    hitl_strategy_free(strategy);
    hitl_model_free(model);
    hitl_pool_free(pool);
    free(ids);
    return 0;
fail:
    fprintf(stderr, "demo: strategy %s stopped\n", st->name);
    hitl_feedback_free(feedback);
    hitl_strategy_free(strategy);
    hitl_model_free(model);
    hitl_pool_free(pool);
    free(ids);
    return -1;
}

static void print_curves(const curve *cv, size_t rounds, double target)
{
    printf("%7s", "labels");
    for (size_t s = 0; s < N_STRATEGIES; s++)
        printf(" %10s", strategies[s].name);
    printf("\n");
    for (size_t r = 0; r <= rounds; r++) {
        printf("%7zu", cv[0].labels[r]);
        for (size_t s = 0; s < N_STRATEGIES; s++)
            printf(" %10.4f", cv[s].acc[r]);
        printf("\n");
    }

    printf("\nlabels to reach %.4f (%.0f%% of full data):\n%7s", target,
           100 * TARGET, "");
    for (size_t s = 0; s < N_STRATEGIES; s++) {
        size_t r = 0;
        while (r <= rounds && cv[s].acc[r] < target)
            r++;
        char cell[32];
        if (r <= rounds)
            snprintf(cell, sizeof cell, "%zu", cv[s].labels[r]);
        else /* not within the run */
            snprintf(cell, sizeof cell, ">%zu", cv[s].labels[rounds]);
        printf(" %10s", cell);
    }
    printf("\nmean accuracy over the rounds (area under the curve):\n%7s", "");
    for (size_t s = 0; s < N_STRATEGIES; s++) {
        double sum = 0;
        for (size_t r = 0; r <= rounds; r++)
            sum += cv[s].acc[r];
        printf(" %10.4f", sum / (double)(rounds + 1));
    }
    printf("\nseconds:\n%7s", "");
    for (size_t s = 0; s < N_STRATEGIES; s++)
        printf(" %10.2f", cv[s].seconds);
    printf("\n\n");
}

static int section_active_learning(const dataset *ds, const split *sp,
                                   double full_acc, size_t batch,
                                   size_t rounds, uint64_t seed)
{
    curve cv[N_STRATEGIES];
    int status = 0;

    printf("== active learning\n");
    printf("start: %zu labels (one per class), the same for every strategy; "
           "then %zu rounds of:\nquery %zu items, a simulated annotator "
           "answers with the true label, refit (warm start), test.\n"
           "test accuracy after each round:\n\n",
           ds->n_classes, rounds, batch);
    for (size_t s = 0; s < N_STRATEGIES; s++) {
        cv[s].acc = ds_calloc(rounds + 1, sizeof *cv[s].acc);
        cv[s].labels = ds_calloc(rounds + 1, sizeof *cv[s].labels);
    }
    for (size_t s = 0; s < N_STRATEGIES && status == 0; s++)
        status = run_loop(&cv[s], &strategies[s], ds, sp, batch, rounds, seed);
    if (status == 0)
        print_curves(cv, rounds, TARGET * full_acc);
    for (size_t s = 0; s < N_STRATEGIES; s++) {
        free(cv[s].acc);
        free(cv[s].labels);
    }
    return status;
}

/* ---- section: several annotators ---------------------------------------- */

/* Simulated annotators of different quality; the library sees only their
 * ids.  Given an item of class c, an annotator answers c with probability
 * acc[c % 2] (their accuracy differs between even and odd classes);
 * otherwise, with probability `confuse`, the class they take c for,
 * (c + 1) mod K, else a uniformly drawn other class. */
typedef struct sim_annotator {
    uint64_t id;
    const char *name;
    double acc[2];     /* P(right) on even, odd classes */
    double confuse;    /* share of the mistakes that are the systematic one */
} sim_annotator;

static const sim_annotator annotators[] = {
    {1, "careful, random slips", {0.90, 0.90}, 0.0},
    {2, "hasty", {0.80, 0.70}, 0.5},
    {3, "confuses odd classes", {0.85, 0.25}, 0.8},
};
#define N_ANNOTATORS (sizeof annotators / sizeof annotators[0])

/* Target precisions of the auto-accepted items, one routing row each. */
static const double route_targets[] = {0.95, 0.98, 0.99};
#define N_TARGETS (sizeof route_targets / sizeof route_targets[0])

static double rng_uniform(uint64_t *rng)
{
    return (double)(ds_rng_next(rng) >> 11) * 0x1p-53;
}

static int32_t simulate_answer(const sim_annotator *a, int32_t truth,
                               size_t n_classes, uint64_t *rng)
{
    if (rng_uniform(rng) < a->acc[truth % 2])
        return truth;
    if (rng_uniform(rng) < a->confuse)
        return (int32_t)(((size_t)truth + 1) % n_classes);
    int32_t other = (int32_t)(ds_rng_next(rng) % (n_classes - 1));
    return other >= truth ? other + 1 : other; /* any class but the truth */
}

/* The section's state: the loop's handles and what only the simulation
 * knows (how often each annotator was right). */
typedef struct crowd {
    hitl_pool *pool;
    hitl_model *model;
    hitl_feedback *feedback;
    uint64_t *items;   /* caller ids of the items asked about, n_items */
    size_t n_items;
    size_t right[N_ANNOTATORS], answered[N_ANNOTATORS];
    uint64_t rng;
} crowd;

static void crowd_free(crowd *cw)
{
    hitl_feedback_free(cw->feedback);
    hitl_model_free(cw->model);
    hitl_pool_free(cw->pool);
    free(cw->items);
}

/* Every annotator answers item `id` (its line in the data file, so the
 * truth is ds->y[id]), in a random order: the majority vote's tie rule
 * favours the first answer, and no annotator should always be first. */
static int crowd_ask(crowd *cw, const dataset *ds, uint64_t id)
{
    size_t order[N_ANNOTATORS];
    for (size_t a = 0; a < N_ANNOTATORS; a++)
        order[a] = a;
    ds_shuffle(order, N_ANNOTATORS, &cw->rng);
    for (size_t j = 0; j < N_ANNOTATORS; j++) {
        size_t a = order[j];
        int32_t label = simulate_answer(&annotators[a], ds->y[id],
                                        ds->n_classes, &cw->rng);
        TRY(hitl_feedback_label(cw->feedback, id, annotators[a].id, label));
        cw->right[a] += label == ds->y[id];
        cw->answered[a]++;
    }
    cw->items[cw->n_items++] = id;
    return 0;
fail:
    return -1;
}

/* The active-learning loop with the default strategy, but every item asked
 * about is answered by all the annotators, and the model learns from their
 * Dawid-Skene consensus, re-estimated before each fit. */
static int crowd_loop(crowd *cw, const dataset *ds, const split *sp,
                      size_t batch, size_t rounds, uint64_t seed)
{
    hitl_strategy *strategy = NULL;
    uint64_t *ids = ds_calloc(batch, sizeof *ids);

    cw->items = ds_calloc(ds->n_classes + batch * rounds, sizeof *cw->items);
    cw->rng = seed ^ 0xA770A7ull;
    if (make_pool(&cw->pool, ds, sp) || make_model(&cw->model, ds))
        goto fail;
    TRY(hitl_feedback_create(&cw->feedback, cw->pool));
    TRY(hitl_feedback_set_param(cw->feedback, HITL_PARAM_N_CLASSES,
                                (double)ds->n_classes));
    TRY(hitl_feedback_set_param(cw->feedback, HITL_PARAM_AGGREGATION,
                                HITL_AGGREGATE_DAWID_SKENE));
    TRY(hitl_strategy_create(&strategy, HITL_STRATEGY_DEFAULT));
    TRY(hitl_strategy_set_param(strategy, HITL_PARAM_SEED, (double)seed));

    for (size_t c = 0; c < ds->n_classes; c++) /* the same start as above */
        if (crowd_ask(cw, ds, sp->ids[sp->seed_set[c]]))
            goto fail;
    for (size_t r = 0; r <= rounds; r++) {
        if (r > 0) {
            size_t count = 0;
            TRY(hitl_query(&count, NULL, ids, NULL, strategy, cw->model,
                           cw->pool, batch));
            for (size_t j = 0; j < count; j++)
                if (crowd_ask(cw, ds, ids[j]))
                    goto fail;
        }
        TRY(hitl_feedback_aggregate(cw->feedback));
        TRY(hitl_model_fit(cw->model, cw->pool));
    }
    hitl_strategy_free(strategy);
    free(ids);
    return 0;
fail:
    hitl_strategy_free(strategy);
    free(ids);
    return -1;
}

/* A fresh model fitted on the pool as it is, and its test accuracy; *out
 * keeps the model (freed if out is NULL). */
static int fit_fresh(hitl_model **out, double *test_acc, const hitl_pool *pool,
                     const dataset *ds, const split *sp)
{
    hitl_model *model = NULL;
    if (make_model(&model, ds))
        return -1;
    TRY(hitl_model_fit(model, pool));
    if (test_accuracy(test_acc, model, ds, sp))
        goto fail;
    if (out)
        *out = model;
    else
        hitl_model_free(model);
    return 0;
fail:
    hitl_model_free(model);
    return -1;
}

/* Aggregate the answers by `method`; *label_acc = the share of the items
 * asked about whose aggregated label is the truth; then fit_fresh on the
 * aggregated labels (weighted by their posterior confidence). */
static int crowd_aggregate(hitl_model **out, double *label_acc,
                           double *test_acc, crowd *cw,
                           hitl_aggregation method, const dataset *ds,
                           const split *sp)
{
    size_t right = 0;
    /* Setting the method re-estimates and re-aggregates every item, as
     * hitl_feedback_aggregate does, and writes the pool. */
    TRY(hitl_feedback_set_param(cw->feedback, HITL_PARAM_AGGREGATION,
                                method));
    for (size_t i = 0; i < cw->n_items; i++) {
        int32_t label = -1;
        TRY(hitl_feedback_item(NULL, &label, NULL, NULL, NULL, cw->feedback,
                               cw->items[i]));
        right += label == ds->y[cw->items[i]];
    }
    *label_acc = (double)right / (double)cw->n_items;
    return fit_fresh(out, test_acc, cw->pool, ds, sp);
fail:
    return -1;
}

/* The same items with their true labels: what perfect annotators give. */
static int fit_on_truth(double *test_acc, const crowd *cw, const dataset *ds,
                        const split *sp)
{
    hitl_pool *pool = NULL;
    if (make_pool(&pool, ds, sp))
        return -1;
    for (size_t i = 0; i < cw->n_items; i++) {
        size_t index;
        TRY(hitl_pool_find(&index, pool, cw->items[i]));
        TRY(hitl_pool_set_label(pool, index, ds->y[cw->items[i]]));
    }
    if (fit_fresh(NULL, test_acc, pool, ds, sp))
        goto fail;
    hitl_pool_free(pool);
    return 0;
fail:
    hitl_pool_free(pool);
    return -1;
}

/* Each annotator: accuracy on the items they labeled (known only to the
 * simulation), the Dawid-Skene estimate of it, and their agreement with the
 * majority vote (saved by the caller while that was the aggregation). */
static int print_annotators(const crowd *cw, const double *vs_majority)
{
    printf("\n%9s  %-22s %6s %12s %12s %11s\n", "annotator", "simulated as",
           "labels", "true acc.", "Dawid-Skene", "vs majority");
    for (size_t a = 0; a < N_ANNOTATORS; a++) {
        double ds_acc = 0;
        TRY(hitl_feedback_annotator_info(&ds_acc, cw->feedback,
                                         annotators[a].id,
                                         HITL_ANNOTATOR_DS_ACCURACY));
        printf("%9llu  %-22s %6zu %12.3f %12.3f %11.3f\n",
               (unsigned long long)annotators[a].id, annotators[a].name,
               cw->answered[a], (double)cw->right[a] / (double)cw->answered[a],
               ds_acc, vs_majority[a]);
    }
    printf("(true acc.: on the items they labeled, known only to the "
           "simulation;\nDawid-Skene: the library's estimate of it; vs "
           "majority: share of their labels\nequal to the majority vote, "
           "their own included)\n");
    return 0;
fail:
    return -1;
}

static int print_fleiss(const crowd *cw, size_t n_classes)
{
    size_t n = 0;
    double kappa = 0;
    TRY(hitl_feedback_answers(&n, NULL, NULL, NULL, 0, cw->feedback));
    uint64_t *items = ds_calloc(n, sizeof *items);
    uint64_t *raters = ds_calloc(n, sizeof *raters);
    int32_t *labels = ds_calloc(n, sizeof *labels);
    int status = hitl_feedback_answers(&n, items, raters, labels, n,
                                       cw->feedback);
    if (status == HITL_OK)
        status = hitl_agreement_fleiss_kappa(&kappa, items, raters, labels, n,
                                             n_classes);
    free(items);
    free(raters);
    free(labels);
    TRY(status);
    printf("\nFleiss' kappa over the %zu answers (%zu raters per item): "
           "%.3f\n", n, N_ANNOTATORS, kappa);
    return 0;
fail:
    return -1;
}

/* Review at a fixed capacity: the lowest-scored 10/25/30% of the
 * evaluation half go to a person.  Scores: the raw confidence, the
 * temperature-scaled one, and the learned error detector, fitted on the
 * calibration half as reviewed items with the model's own labeled items
 * (those of `labeled`) as the reference its novelty features measure
 * against.  The routing pool holds [model's labeled items][calibration
 * half][evaluation half]; the evaluation half is labeled only after the
 * detector is fitted, so it never enters the reference. */
static const double review_rates[] = {0.10, 0.25, 0.30};
#define N_RATES (sizeof review_rates / sizeof review_rates[0])

static int review_row(hitl_router *router, const char *name,
                      const hitl_model *model, const hitl_pool *pool,
                      size_t first, size_t n)
{
    printf("%-20s", name);
    for (size_t j = 0; j < N_RATES; j++) {
        double caught = 0;
        TRY(hitl_router_set_param(router, HITL_PARAM_ROUTE_CAPACITY,
                                  review_rates[j]));
        TRY(hitl_router_evaluate_pool(router, model, pool, first, n));
        TRY(hitl_router_get_info(&caught, router,
                                 HITL_ROUTER_INFO_ERRORS_CAUGHT));
        printf(" %13.1f%%", 100 * caught);
    }
    printf("\n");
    return 0;
fail:
    return -1;
}

static int routing_pool(hitl_pool **out, size_t *n_ref, const hitl_pool *labeled,
                        const dataset *ds, const split *sp)
{
    size_t n = 0, d = ds->dim, half = (sp->n_test + 1) / 2;
    hitl_pool *pool = NULL;
    TRY(hitl_pool_size(&n, labeled));
    TRY(hitl_pool_create(&pool, d));
    *n_ref = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t id;
        hitl_item_state state;
        int32_t label;
        const float *row;
        TRY(hitl_pool_item(&id, &state, &label, labeled, i));
        if (state != HITL_ITEM_LABELED)
            continue;
        TRY(hitl_pool_row(&row, labeled, i));
        TRY(hitl_pool_add(pool, row, 1, d, NULL));
        TRY(hitl_pool_set_label(pool, (*n_ref)++, label));
    }
    for (size_t h = 0; h < 2; h++)   /* even test positions, then odd */
        for (size_t i = h; i < sp->n_test; i += 2)
            TRY(hitl_pool_add(pool, sp->x_test + i * d, 1, d, NULL));
    for (size_t i = 0; i < half; i++)
        TRY(hitl_pool_set_label(pool, *n_ref + i, ds->y[sp->test[2 * i]]));
    *out = pool;
    return 0;
fail:
    hitl_pool_free(pool);
    return -1;
}

static int print_review(const hitl_model *model, const hitl_pool *labeled,
                        const dataset *ds, const split *sp)
{
    size_t n_ref = 0, half = (sp->n_test + 1) / 2, rest = sp->n_test - half;
    double active = 0;
    hitl_pool *pool = NULL;
    hitl_router *router = NULL;
    if (routing_pool(&pool, &n_ref, labeled, ds, sp))
        goto fail;
    TRY(hitl_router_create(&router, ds->n_classes));
    TRY(hitl_router_set_param(router, HITL_PARAM_ROUTE_MODE, HITL_ROUTE_CAPACITY));
    TRY(hitl_router_fit_detector(router, model, pool, n_ref, half));
    TRY(hitl_router_get_info(&active, router, HITL_ROUTER_INFO_DETECTOR_ACTIVE));
    for (size_t i = 0; i < rest; i++)
        TRY(hitl_pool_set_label(pool, n_ref + half + i,
                                ds->y[sp->test[2 * i + 1]]));
    printf("\nreview at a fixed capacity: errors caught on the evaluation "
           "half when the\nlowest-scored share goes to a person\n\n%-20s",
           "score");
    for (size_t j = 0; j < N_RATES; j++)
        printf(" %9.0f%% rev.", 100 * review_rates[j]);
    printf("\n");
    if (review_row(router, "raw confidence", model, pool, n_ref + half, rest))
        goto fail;
    TRY(hitl_router_fit_temperature_pool(router, model, pool, n_ref, half));
    if (review_row(router, "temperature-scaled", model, pool, n_ref + half, rest))
        goto fail;
    TRY(hitl_router_set_param(router, HITL_PARAM_ROUTE_SCORE,
                              HITL_ROUTE_SCORE_DETECTOR));
    if (review_row(router, active ? "learned detector" : "(detector: too few)",
                   model, pool, n_ref + half, rest))
        goto fail;
    printf("(the detector: a cross-fitted logistic regression of \"the model "
           "is wrong\" on\nthe model's probabilities, the distance to the %zu "
           "labeled items and their\nlabels nearby, fitted on the %zu "
           "calibration items)\n", n_ref, half);
    hitl_router_free(router);
    hitl_pool_free(pool);
    return 0;
fail:
    hitl_router_free(router);
    hitl_pool_free(pool);
    return -1;
}

/* Route items by the model's confidence.  The held-out test split is
 * halved at random (its order is shuffled): the router's temperature and,
 * per target precision, its threshold are calibrated on the even positions
 * and evaluated on the odd ones.  (Not on the pool items nobody was asked
 * about: the strategy took the hard ones, so those are easier than new
 * items and the thresholds would come out too low.) */
static int print_routing(const hitl_model *model, const dataset *ds,
                         const split *sp)
{
    size_t k = ds->n_classes, n[2] = {0, 0};
    hitl_router *router = NULL;
    float *p_all = ds_calloc(sp->n_test * k, sizeof *p_all);
    float *p[2] = {ds_calloc(sp->n_test * k, sizeof *p_all),
                   ds_calloc(sp->n_test * k, sizeof *p_all)};
    int32_t *y[2] = {ds_calloc(sp->n_test, sizeof *y[0]),
                     ds_calloc(sp->n_test, sizeof *y[0])};
    double t = 0, ece_raw = 0, ece = 0, level = 0, errors = 0;

    TRY(hitl_model_predict(p_all, model, sp->x_test, sp->n_test, ds->dim));
    for (size_t i = 0; i < sp->n_test; i++) { /* [0] calibrate, [1] test */
        size_t h = i % 2;
        memcpy(p[h] + n[h] * k, p_all + i * k, k * sizeof *p_all);
        y[h][n[h]++] = ds->y[sp->test[i]];
    }
    TRY(hitl_router_create(&router, k));
    TRY(hitl_router_get_param(&level, router, HITL_PARAM_ROUTE_LEVEL));
    TRY(hitl_router_fit_temperature(router, p[0], y[0], n[0]));
    TRY(hitl_router_get_param(&t, router, HITL_PARAM_ROUTE_TEMPERATURE));
    TRY(hitl_router_evaluate(router, p[1], y[1], n[1]));
    TRY(hitl_router_get_info(&ece_raw, router, HITL_ROUTER_INFO_ECE_RAW));
    TRY(hitl_router_get_info(&ece, router, HITL_ROUTER_INFO_ECE));
    TRY(hitl_router_get_info(&errors, router, HITL_ROUTER_INFO_N_ERRORS));
    printf("\nrouting by the Dawid-Skene model's confidence: calibrated on "
           "%zu test items,\nevaluated on the other %zu (the model errs on "
           "%.0f of them).\ntemperature scaling: T = %.3f fitted on the "
           "calibration half; calibration\nerror (ECE) on the evaluation "
           "half %.3f at T = 1, %.3f after scaling\n\n", n[0], n[1], errors,
           t, ece_raw, ece);
    printf("%7s %10s %8s %14s %10s\n", "target", "threshold", "review",
           "errors caught", "precision");
    for (size_t j = 0; j < N_TARGETS; j++) {
        double met = 0, threshold = 0, review = 0, caught = 0, precision = 0;
        double needed = 0;
        TRY(hitl_router_set_param(router, HITL_PARAM_ROUTE_TARGET,
                                  route_targets[j]));
        TRY(hitl_router_calibrate(router, p[0], y[0], n[0]));
        TRY(hitl_router_get_info(&met, router, HITL_ROUTER_INFO_TARGET_MET));
        TRY(hitl_router_get_info(&needed, router, HITL_ROUTER_INFO_NEEDED));
        TRY(hitl_router_get_param(&threshold, router,
                                  HITL_PARAM_ROUTE_THRESHOLD));
        TRY(hitl_router_evaluate(router, p[1], y[1], n[1]));
        TRY(hitl_router_get_info(&review, router,
                                 HITL_ROUTER_INFO_REVIEW_RATE));
        TRY(hitl_router_get_info(&caught, router,
                                 HITL_ROUTER_INFO_ERRORS_CAUGHT));
        TRY(hitl_router_get_info(&precision, router,
                                 HITL_ROUTER_INFO_PRECISION));
        if (met)
            printf("%7.2f %10.4f %7.1f%% %13.1f%% %10.4f\n",
                   route_targets[j], threshold, 100 * review, 100 * caught,
                   precision);
        else
            printf("%7.2f %10s %7.1f%% %13.1f%% %10s   (%.0f more correct "
                   "accepted items would certify it)\n", route_targets[j],
                   "none", 100 * review, 100 * caught, "-", needed);
    }
    printf("(threshold: the lowest confidence whose accepted calibration "
           "items meet the\ntarget with %.0f%% confidence; none: no "
           "threshold does on %zu items, so every\nitem goes to review; "
           "review: share of the items sent to a person; errors\ncaught: "
           "share of the model's errors among them; precision: of the "
           "items\naccepted)\n", 100 * level, n[0]);
    hitl_router_free(router);
    free(p_all);
    for (size_t h = 0; h < 2; h++) {
        free(p[h]);
        free(y[h]);
    }
    return 0;
fail:
    hitl_router_free(router);
    free(p_all);
    for (size_t h = 0; h < 2; h++) {
        free(p[h]);
        free(y[h]);
    }
    return -1;
}

static int section_annotators(const dataset *ds, const split *sp, size_t batch,
                              size_t rounds, uint64_t seed)
{
    crowd cw = {0};
    hitl_model *m_ds = NULL;
    double acc_mv = 0, acc_ds = 0, test_mv = 0, test_ds = 0, test_truth = 0;
    double acc_rec = 0, test_rec = 0, rec_used = 0, rec_prior = 0;
    double vs_majority[N_ANNOTATORS];

    printf("== several annotators\n");
    printf("the loop again (default strategy), but %zu simulated annotators "
           "of different\nquality, unknown to the library, answer every "
           "item asked about, and the model\nlearns from their Dawid-Skene "
           "consensus.  Then the same answers are aggregated\nthree ways, "
           "and a fresh model is fitted on each aggregation's labels "
           "(weighted\nby posterior confidence).  RECOMMENDED, what to use, "
           "picks the vote, one accuracy\nper annotator or Dawid-Skene with a "
           "prior by how well each predicts answers\nit was not fitted on.\n",
           N_ANNOTATORS);
    if (crowd_loop(&cw, ds, sp, batch, rounds, seed) ||
        fit_on_truth(&test_truth, &cw, ds, sp) ||
        crowd_aggregate(NULL, &acc_mv, &test_mv, &cw,
                        HITL_AGGREGATE_MAJORITY, ds, sp))
        goto fail;
    for (size_t a = 0; a < N_ANNOTATORS; a++)
        TRY(hitl_feedback_annotator_info(&vs_majority[a], cw.feedback,
                                         annotators[a].id,
                                         HITL_ANNOTATOR_CONSENSUS_ACCURACY));
    if (crowd_aggregate(NULL, &acc_rec, &test_rec, &cw, HITL_AGGREGATE_RECOMMENDED, ds, sp))
        goto fail;
    TRY(hitl_feedback_get_info(&rec_used, cw.feedback, HITL_FEEDBACK_AGGREGATION_USED));
    TRY(hitl_feedback_get_info(&rec_prior, cw.feedback, HITL_FEEDBACK_PRIOR_USED));
    if (crowd_aggregate(&m_ds, &acc_ds, &test_ds, &cw,
                        HITL_AGGREGATE_DAWID_SKENE, ds, sp))
        goto fail;

    printf("\n%zu items asked about, %zu answers each:\n\n%-14s %12s "
           "%14s\n", cw.n_items, N_ANNOTATORS, "aggregation", "labels right",
           "test accuracy");
    printf("%-14s %12.4f %14.4f\n", "majority vote", acc_mv, test_mv);
    printf("%-14s %12.4f %14.4f\n", "Dawid-Skene", acc_ds, test_ds);
    printf("%-14s %12.4f %14.4f   (chose %s", "recommended", acc_rec, test_rec,
           rec_used == HITL_AGGREGATE_DAWID_SKENE ? "Dawid-Skene"
           : rec_used == HITL_AGGREGATE_ONE_COIN  ? "one coin"
                                                   : "the majority vote");
    if (rec_used == HITL_AGGREGATE_DAWID_SKENE)
        printf(" with prior strength %g", rec_prior);
    printf(")\n");
    printf("%-14s %12.4f %14.4f\n", "(true labels)", 1.0, test_truth);
    if (print_annotators(&cw, vs_majority) ||
        print_fleiss(&cw, ds->n_classes) ||
        print_routing(m_ds, ds, sp) ||
        print_review(m_ds, cw.pool, ds, sp))
        goto fail;
    printf("\n");
    hitl_model_free(m_ds);
    crowd_free(&cw);
    return 0;
fail:
    hitl_model_free(m_ds);
    crowd_free(&cw);
    return -1;
}

/* A feedback handle over a pool of n featureless items (ids 0 .. n-1): the
 * sections about people need the answers only. */
static int answers_only(hitl_pool **pool, hitl_feedback **fb, size_t n)
{
    float *rows = calloc(n ? n : 1, sizeof *rows);
    *pool = NULL;
    *fb = NULL;
    if (!rows)
        ds_fail("out of memory");
    TRY(hitl_pool_create(pool, 1));
    TRY(hitl_pool_add(*pool, rows, n, 1, NULL));
    TRY(hitl_feedback_create(fb, *pool));
    free(rows);
    return 0;
fail:
    free(rows);
    return -1;
}

/* ---- section: a reviewer settles ---------------------------------------------- */

#define REVIEW_ITEMS 400
#define REVIEWER 100
#define REVIEW_BELOW 0.99       /* the review queue: consensus confidence below */

static size_t count_wrong(const hitl_feedback *fb, const dataset *ds, size_t n)
{
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t label = -1;
        if (hitl_feedback_item(NULL, &label, NULL, NULL, NULL, fb, i) == HITL_OK)
            wrong += label != ds->y[i];
    }
    return wrong;
}

/* The reviewer answers every item of the queue with the true class: a
 * CONFIRM of the consensus, or an OVERRIDE with a reason.  *example gets an
 * item where the reviewer overrode all three annotators (or else any
 * override), or SIZE_MAX. */
static int review(hitl_feedback *fb, const dataset *ds, size_t n, size_t *reviewed,
                  size_t *example)
{
    *reviewed = 0;
    *example = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        int32_t label;
        double conf;
        TRY(hitl_feedback_item(NULL, &label, &conf, NULL, NULL, fb, i));
        if (conf >= REVIEW_BELOW)
            continue;
        int32_t truth = ds->y[i];
        int over = truth != label;
        TRY(hitl_feedback_record(NULL, fb, over ? HITL_EVENT_OVERRIDE : HITL_EVENT_CONFIRM,
                                 i, REVIEWER, truth, NAN, label, conf, HITL_TIME_NOW,
                                 over ? "checked against the scanned form" : NULL));
        (*reviewed)++;
        double agree;
        TRY(hitl_feedback_item(NULL, NULL, NULL, &agree, NULL, fb, i));
        if (over && (*example == SIZE_MAX || agree <= 0.25 + 1e-9))
            *example = i;   /* agreement 1/4: the reviewer against all three */
    }
    return 0;
fail:
    return -1;
}

static int print_trail(const hitl_feedback *fb, size_t item)
{
    static const char *kinds[] = {"?", "LABEL", "OVERRIDE", "CONFIRM", "SKIP", "RETRACT",
                                  "GOLD"};
    uint64_t ids[16], by;
    size_t n;
    hitl_settlement how;
    TRY(hitl_feedback_history(&n, ids, 16, fb, item));
    printf("the audit trail of item %zu (hitl_feedback_history):\n", item);
    for (size_t k = 0; k < n && k < 16; k++) {
        hitl_event_kind kind;
        uint64_t who;
        int32_t label, shown, role;
        const char *why;
        TRY(hitl_feedback_event(&kind, NULL, &who, &label, NULL, &shown, NULL, NULL, fb,
                                ids[k]));
        TRY(hitl_feedback_event_reason(&why, fb, ids[k]));
        TRY(hitl_feedback_role(&role, fb, who));
        printf("  event %5" PRIu64 "  annotator %3" PRIu64 " (%-9s)  %-8s %d", ids[k], who,
               role == HITL_ROLE_REVIEWER ? "reviewer" : "annotator", kinds[kind],
               (int)label);
        if (shown >= 0)
            printf("  (shown %d)", (int)shown);
        printf(why ? "  \"%s\"\n" : "\n", why);
    }
    TRY(hitl_feedback_settlement(&how, &by, fb, item));
    printf("settled by %s, event %" PRIu64 " (hitl_feedback_settlement)\n\n",
           how == HITL_SETTLED_AUTHORITY ? "authority" : "another rule", by);
    return 0;
fail:
    return -1;
}

static int section_reviewer(const dataset *ds, uint64_t seed)
{
    hitl_pool *pool;
    hitl_feedback *fb;
    size_t n = ds->n < REVIEW_ITEMS ? ds->n : REVIEW_ITEMS, reviewed, example;
    uint64_t rng = seed ^ 0x5E71E3;
    printf("== a reviewer settles\n");
    printf("the %zu simulated annotators above label %zu items (Dawid-Skene); a "
           "reviewer\n(hitl_feedback_set_role: HITL_ROLE_REVIEWER) checks every "
           "item whose consensus\nconfidence is below %.2f and confirms or "
           "overrides it.  A reviewer's answer\nsettles the item, whatever the "
           "votes and the annotator model say.\n\n", N_ANNOTATORS, n,
           REVIEW_BELOW);
    if (answers_only(&pool, &fb, n) != 0)
        goto fail;
    TRY(hitl_pool_set_classes(pool, ds->n_classes));
    TRY(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION, HITL_AGGREGATE_DAWID_SKENE));
    TRY(hitl_feedback_set_role(fb, REVIEWER, HITL_ROLE_REVIEWER));
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < N_ANNOTATORS; a++)
            TRY(hitl_feedback_label(fb, i, annotators[a].id,
                                    simulate_answer(&annotators[a], ds->y[i],
                                                    ds->n_classes, &rng)));
    TRY(hitl_feedback_aggregate(fb));
    size_t before = count_wrong(fb, ds, n);
    if (review(fb, ds, n, &reviewed, &example) != 0)
        goto fail;
    TRY(hitl_feedback_aggregate(fb));
    printf("labels wrong among the %zu items: %zu by the crowd's consensus, %zu after "
           "the\nreviewer answered the %zu items of the queue\n\n", n, before,
           count_wrong(fb, ds, n), reviewed);
    if (example != SIZE_MAX && print_trail(fb, example) != 0)
        goto fail;
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    return 0;
fail:
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    return -1;
}

/* ---- section: labels to re-check ------------------------------------------- */

#define RECHECK_RATE 0.10  /* share of the labels flipped */
#define RECHECK_SHOW 8     /* queue entries printed */

static int section_recheck(const dataset *ds, uint64_t seed)
{
    hitl_pool *pool = NULL;
    hitl_model *model = NULL;
    hitl_recheck *rc = NULL;
    size_t n = ds->n, count, at_m, all, m = 0;
    int32_t *y = ds_calloc(n, sizeof *y);
    uint8_t *flipped = ds_calloc(n, 1);
    size_t *queue = ds_calloc(n, sizeof *queue);
    double *score = ds_calloc(n, sizeof *score), noise = 0;
    uint64_t rng = seed ^ 0xC1EA4;
    int status = -1;
    memcpy(y, ds->y, n * sizeof *y);
    ds_flip_labels(y, flipped, n, ds->n_classes, RECHECK_RATE, 0, &rng);
    for (size_t i = 0; i < n; i++)
        m += flipped[i];
    printf("== labels to re-check\n");
    printf("every one of the %zu items labeled, %zu of the labels (%.0f%%) flipped to "
           "another\nclass.  The re-check queue (hitl_recheck_query: confident learning "
           "on 5-fold\ncross-fitted logistic regression) lists the labels that are "
           "probably wrong,\nmost suspect first.\n\n", n, m, RECHECK_RATE * 100);
    TRY(hitl_pool_create(&pool, ds->dim));
    TRY(hitl_pool_add_borrowed(pool, ds->x, n, ds->dim, NULL));
    for (size_t i = 0; i < n; i++)
        TRY(hitl_pool_set_label(pool, i, y[i]));
    if (make_model(&model, ds) != 0)
        goto fail;
    TRY(hitl_recheck_create(&rc));
    TRY(hitl_recheck_query(&count, queue, NULL, score, rc, model, pool, n));
    TRY(hitl_recheck_get_info(&noise, rc, HITL_RECHECK_INFO_NOISE_RATE));
    ds_queue_hits(&at_m, &all, queue, count, flipped, m);
    printf("queue: %zu items, %zu of them flipped (precision %.3f, recall %.3f); "
           "estimated\nnoise rate %.3f (true %.3f).  A reviewer checking the first "
           "%zu (the true\nnumber of wrong labels) finds %zu: precision %.3f, recall "
           "%.3f.\n\n", count, all, count ? (double)all / (double)count : 1.0,
           (double)all / (double)m, noise, (double)m / (double)n, m, at_m,
           (double)at_m / (double)(count < m ? count : m), (double)at_m / (double)m);
    printf("%4s  %6s  %5s  %4s  %15s\n", "rank", "item", "given", "true", "self-confidence");
    for (size_t q = 0; q < count && q < RECHECK_SHOW; q++)
        printf("%4zu  %6zu  %5d  %4d  %15.4f\n", q + 1, queue[q], (int)y[queue[q]],
               (int)ds->y[queue[q]], score[q]);
    printf("\n");
    status = 0;
fail:
    hitl_recheck_free(rc);
    hitl_model_free(model);
    hitl_pool_free(pool);
    free(y);
    free(flipped);
    free(queue);
    free(score);
    return status;
}

/* ---- section: annotator drift ------------------------------------------------ */

#define DRIFT_ITEMS 600
#define DRIFT_CARELESS_FROM 300

/* One check of every annotator: "-" with too few settled answers yet, "ok",
 * or DRIFT with the agreement before and in the window. */
static int print_drift_row(const hitl_feedback *fb, size_t items)
{
    printf("%6zu", items);
    for (uint64_t a = 1; a <= 3; a++) {
        double flag, before, after, z, at;
        TRY(hitl_feedback_annotator_info(&flag, fb, a, HITL_ANNOTATOR_DRIFT));
        TRY(hitl_feedback_annotator_info(&before, fb, a, HITL_ANNOTATOR_DRIFT_BEFORE));
        TRY(hitl_feedback_annotator_info(&after, fb, a, HITL_ANNOTATOR_DRIFT_AFTER));
        TRY(hitl_feedback_annotator_info(&z, fb, a, HITL_ANNOTATOR_DRIFT_Z));
        TRY(hitl_feedback_annotator_info(&at, fb, a, HITL_ANNOTATOR_DRIFT_AT));
        char cell[64];
        if (isnan(flag))
            snprintf(cell, sizeof cell, "-");
        else if (flag == 0)
            snprintf(cell, sizeof cell, "ok %.2f/%.2f", before, after);
        else
            snprintf(cell, sizeof cell, "DRIFT %.2f->%.2f z %.1f @%.0f", before, after, z,
                     at);
        printf(a < 3 ? "  %-28s" : "  %s", cell);
    }
    printf("\n");
    return 0;
fail:
    return -1;
}

static int section_drift(const dataset *ds, uint64_t seed)
{
    hitl_pool *pool;
    hitl_feedback *fb;
    uint64_t rng = seed ^ 0xD81F7;
    size_t n = ds->n < DRIFT_ITEMS ? ds->n : DRIFT_ITEMS;
    printf("== annotator drift\n");
    printf("three simulated annotators label %zu items (right 90%% of the time); "
           "annotator 3\ngets careless after item %d (right 40%% of the time).  "
           "The drift check\n(HITL_ANNOTATOR_DRIFT: the last 50 answers on settled "
           "items against the\nearlier ones, false-alarm rate 0.01 a check) after "
           "every 100 items:\n\n%6s  %-28s  %-28s  %s\n", n, DRIFT_CARELESS_FROM,
           "items", "annotator 1", "annotator 2", "annotator 3");
    if (answers_only(&pool, &fb, n) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        for (uint64_t a = 1; a <= 3; a++) {
            double p = a == 3 && i >= DRIFT_CARELESS_FROM ? 0.4 : 0.9;
            sim_annotator who = {a, "", {p, p}, 0.0};
            TRY(hitl_feedback_label(fb, i, a,
                                    simulate_answer(&who, ds->y[i], ds->n_classes, &rng)));
        }
        if ((i + 1) % 100 == 0 && print_drift_row(fb, i + 1) != 0)
            goto fail;
    }
    printf("(ok before/in the window: agreement with the settled labels; DRIFT "
           "from @event id)\n\n");
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    return 0;
fail:
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    return -1;
}

/* ---- section: explanations and a bias audit ------------------------------- */

#define AUDIT_NOISE 1.0    /* group 1's features are blurred by up to this */
#define SPOT_CHECK  5      /* one accepted item in 5 is checked by a person */
#define SHOW_TOP    3      /* features a reviewer is shown per class */

/* The items of the section, shuffled; group 1's rows blurred (harder). */
static void audit_items(float *x, int64_t *group, const dataset *ds, uint64_t *rng)
{
    size_t *order = ds_calloc(ds->n, sizeof *order);
    for (size_t i = 0; i < ds->n; i++)
        order[i] = i;
    ds_shuffle(order, ds->n, rng);
    for (size_t i = 0; i < ds->n; i++) {
        group[i] = (int64_t)(ds_rng_next(rng) & 1);
        for (size_t j = 0; j < ds->dim; j++) {
            double v = ds->x[order[i] * ds->dim + j];
            if (group[i]) {
                v += AUDIT_NOISE * (2.0 * (double)(ds_rng_next(rng) >> 11) / 9007199254740992.0 - 1);
                v = v < 0 ? 0 : v > MAX_VALUE ? MAX_VALUE : v;
            }
            x[i * ds->dim + j] = (float)v;
        }
        order[i] = (size_t)ds->y[order[i]];     /* now: the item's class */
    }
    for (size_t i = 0; i < ds->n; i++)
        group[ds->n + i] = (int64_t)order[i];
    free(order);
}

static void print_pushes(const char *what, int32_t cls, const int32_t *f, const float *v)
{
    printf("  %s %d:", what, (int)cls);
    for (size_t k = 0; k < SHOW_TOP; k++)
        printf(" block(%d,%d) %+.2f", (int)(f[k] / 8), (int)(f[k] % 8), (double)v[k]);
    printf("\n");
}

/* What the console shows for one item, and the smallest change (L2, pixel
 * counts within 0..16) that would have made the model say the truth. */
static int show_example(const hitl_model *m, const float *x, size_t d, int32_t truth)
{
    float proba[64], contrib[2 * SHOW_TOP], rest[4], xn[256];
    int32_t cls[2], feat[2 * SHOW_TOP];
    float lo[256], hi[256];
    double dist;
    size_t moved = 0;
    TRY(hitl_model_explain(NULL, proba, cls, feat, contrib, rest, m, x, 1, d, SHOW_TOP));
    printf("one item sent to review (true class %d): the model says %d (%.2f), "
           "runner-up %d (%.2f)\n", (int)truth, (int)cls[0], (double)proba[cls[0]],
           (int)cls[1], (double)proba[cls[1]]);
    print_pushes("toward", cls[0], feat, contrib);
    print_pushes("toward", cls[1], feat + SHOW_TOP, contrib + SHOW_TOP);
    for (size_t j = 0; j < d; j++) {
        lo[j] = 0;
        hi[j] = MAX_VALUE;
    }
    if (truth != cls[0]) {
        TRY(hitl_model_counterfactual(xn, &dist, m, x, truth, HITL_NORM_L2, NULL, lo, hi,
                                      1e-3));
        float most = 0;
        for (size_t j = 0; j < d; j++) {
            moved += fabsf(xn[j] - x[j]) > 0.05f;
            most = fabsf(xn[j] - x[j]) > most ? fabsf(xn[j] - x[j]) : most;
        }
        printf("  smallest change to make it %d: %.2f (L2, in pixel counts) over %zu of "
               "%zu blocks, at most %.2f in one\n", (int)truth, dist, moved, d, (double)most);
    }
    printf("\n");
    return 0;
fail:
    return -1;
}

/* The people's answers: every reviewed item and a spot check of the
 * accepted ones, recorded with what the reviewer was shown. */
static int review_routed(hitl_feedback *fb, const hitl_model *m, const float *x, size_t d,
                         const int64_t *truth, size_t first, size_t n, const uint8_t *accept,
                         const int32_t *label, const float *conf, size_t *example)
{
    *example = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t item = first + i;
        if (accept[i] && i % SPOT_CHECK)
            continue;
        int32_t cls[2], feat[2 * SHOW_TOP], y = (int32_t)truth[item];
        float contrib[2 * SHOW_TOP];
        TRY(hitl_model_explain(NULL, NULL, cls, feat, contrib, NULL, m, x + item * d, 1, d,
                               SHOW_TOP));
        TRY(hitl_feedback_record_shown(NULL, fb, y == label[i] ? HITL_EVENT_CONFIRM
                                                               : HITL_EVENT_OVERRIDE,
                                       item, ANNOTATOR, y, NAN, label[i], conf[i], feat,
                                       contrib, SHOW_TOP, HITL_TIME_NOW, NULL));
        if (*example == SIZE_MAX && !accept[i] && y != label[i])
            *example = item;
    }
    return 0;
fail:
    return -1;
}

static void print_audit_row(const hitl_audit *a, int64_t g)
{
    static const hitl_audit_metric ms[] = { HITL_AUDIT_ACCEPTED, HITL_AUDIT_MODEL_ERROR,
                                            HITL_AUDIT_CAUGHT, HITL_AUDIT_OVERRIDE };
    double v, lo, hi;
    size_t n;
    hitl_audit_figure(&v, NULL, NULL, &n, a, 0, g, HITL_AUDIT_SEEN);
    printf("%-6s %5zu", g ? "blurry" : "clean", n);
    for (size_t k = 0; k < 4; k++) {
        hitl_audit_figure(&v, &lo, &hi, &n, a, 0, g, ms[k]);
        printf("   %.2f [%.2f, %.2f]", v, lo, hi);
    }
    printf("\n");
}

static int print_audit(const hitl_audit *a)
{
    static const struct { hitl_audit_metric m; const char *name; } gaps[] = {
        { HITL_AUDIT_ACCEPTED, "auto-accepted" }, { HITL_AUDIT_MODEL_ERROR, "model error" },
        { HITL_AUDIT_CAUGHT, "errors caught" }, { HITL_AUDIT_OVERRIDE, "overridden" } };
    printf("group  items   auto-accepted        model error (rev.)   errors caught"
           "        overridden\n");
    print_audit_row(a, 0);
    print_audit_row(a, 1);
    printf("\nlargest gaps (two-proportion z tests, Holm-corrected, alpha 0.05):\n");
    for (size_t k = 0; k < 4; k++) {
        int64_t ga, gb;
        double diff, p;
        int flagged;
        if (hitl_audit_gap(&ga, &gb, &diff, &p, &flagged, a, 0, gaps[k].m) != HITL_OK)
            continue;
        printf("  %-14s %+.2f  p %.2g  %s\n", gaps[k].name, diff, p,
               flagged ? "FLAGGED" : "within chance");
    }
    int flagged;
    double p;
    TRY(hitl_audit_caught_flag(&flagged, &p, a, 0, 1));
    printf("  equal opportunity: the blurry group's errors caught less often than the "
           "clean group's? %s (p %.2g)\n\n", flagged ? "yes, FLAGGED" : "no", p);
    return 0;
fail:
    return -1;
}

static int section_audit(const dataset *ds, uint64_t seed)
{
    size_t n = ds->n, d = ds->dim, n_train = n * 2 / 5, n_cal = n / 5;
    size_t first = n_train + n_cal, n_route = n - first, example, accepted;
    uint64_t rng = seed ^ 0xA0D17;
    float *x = ds_calloc(n * d, sizeof *x), *conf = ds_calloc(n_route, sizeof *conf);
    int64_t *group = ds_calloc(2 * n, sizeof *group), *truth = group + n;
    uint64_t *ids = ds_calloc(n_route, sizeof *ids);
    uint8_t *accept = ds_calloc(n_route, 1);
    int32_t *label = ds_calloc(n_route, sizeof *label);
    hitl_pool *pool = NULL;
    hitl_model *m = NULL;
    hitl_router *r = NULL;
    hitl_feedback *fb = NULL;
    hitl_audit *a = NULL;
    int status = -1;
    printf("== explanations and a bias audit\n");
    printf("each item gets a group at random; the 'blurry' group's features get "
           "noise of up\nto +-%.0f (of 0..16: harder items).  The model learns from %zu "
           "items, the router is\ncalibrated on %zu (target precision 0.9), routes "
           "%zu; a person reviews what it\nsends and spot-checks one accepted item in "
           "%d, shown the guess, its confidence\nand the %d features pushing hardest "
           "(recorded with the answer).  The audit:\n\n", AUDIT_NOISE, n_train, n_cal,
           n_route, SPOT_CHECK, SHOW_TOP);
    audit_items(x, group, ds, &rng);
    TRY(hitl_pool_create(&pool, d));
    TRY(hitl_pool_add_borrowed(pool, x, n, d, NULL));
    for (size_t i = 0; i < n_train; i++)
        TRY(hitl_pool_set_label(pool, i, (int32_t)truth[i]));
    TRY(hitl_model_create_logreg(&m, d, ds->n_classes));
    TRY(hitl_model_fit(m, pool));
    for (size_t i = n_train; i < first; i++)
        TRY(hitl_pool_set_label(pool, i, (int32_t)truth[i]));
    TRY(hitl_router_create(&r, ds->n_classes));
    TRY(hitl_router_set_param(r, HITL_PARAM_ROUTE_TARGET, 0.9));
    TRY(hitl_router_calibrate_pool(r, m, pool, n_train, n_cal));
    TRY(hitl_router_route_pool(&accepted, accept, label, conf, r, m, pool, first, n_route));
    TRY(hitl_feedback_create(&fb, pool));
    if (review_routed(fb, m, x, d, truth, first, n_route, accept, label, conf,
                      &example) != 0)
        goto fail;
    for (size_t i = 0; i < n_route; i++)
        ids[i] = first + i;
    TRY(hitl_audit_create(&a, 1));
    TRY(hitl_audit_set_groups(a, 0, ids, group + first, n_route));
    TRY(hitl_audit_set_decisions(a, ids, accept, label, n_route));
    TRY(hitl_audit_run(a, fb, 0, UINT64_MAX));
    if (print_audit(a) != 0)
        goto fail;
    if (example != SIZE_MAX &&
        show_example(m, x + example * d, d, (int32_t)truth[example]) != 0)
        goto fail;
    status = 0;
fail:
    hitl_audit_free(a);
    hitl_feedback_free(fb);
    hitl_router_free(r);
    hitl_model_free(m);
    hitl_pool_free(pool);
    free(x);
    free(conf);
    free(group);
    free(ids);
    free(accept);
    free(label);
    return status;
}

/* ---- section: drift in deployment ------------------------------------------- */

/* A model deployed behind a router meets a stream of items; halfway, the
 * world swaps the meaning of two classes (what was a 3 is now called an 8
 * and back).  The images do not change, so the model stays as confident as
 * ever: only the reviewed items' errors can tell. */
#define DEPLOY_FIT     500   /* pool items the deployed model is fitted on */
#define DEPLOY_CAL     300   /* the next ones calibrate the router */
#define DEPLOY_ITEMS   6000  /* stream length */
#define DEPLOY_SWAP_AT 2000  /* the classes swap from this item on */
#define DEPLOY_BATCH   100   /* items routed per call */
#define DEPLOY_BLOCK   500   /* items per printed line */
#define DEPLOY_AUDIT   0.10  /* share of accepted items a person audits */
#define DEPLOY_REFIT   400   /* reviewed items after the alert the refit uses */
#define DEPLOY_RECAL   200   /* and the ones after them, to recalibrate */
#define SWAP_A 3
#define SWAP_B 8

typedef struct deploy {
    const dataset *ds;
    const split *sp;
    hitl_model *model;
    hitl_router *router;
    hitl_drift_monitor *mon;
    float *x, *proba, *conf;      /* one batch: rows, probabilities, scores */
    int32_t *label, *truth;
    uint8_t *accept, *correct;
    float *src_x;                 /* the items the stream draws from: */
    int32_t *src_y;               /* pool items after those of the first */
    uint8_t *src_used;            /* fit, and the test items; used: fitted on */
    size_t n_src, *batch_src;
    float *rx;                    /* items reviewed since the alert */
    int32_t *ry;
    size_t n_r;
    uint64_t rng;
    uint64_t events_seen;
    size_t block_items, block_review, block_acc, block_acc_ok, refits;
} deploy;

static int32_t world_label(int32_t y, int swapped)
{
    if (!swapped)
        return y;
    return y == SWAP_A ? SWAP_B : y == SWAP_B ? SWAP_A : y;
}

/* A fresh logistic regression fitted on n rows with their labels. */
static int deploy_fit(hitl_model **out, const dataset *ds, const float *x,
                      const int32_t *y, size_t n)
{
    hitl_pool *pool = NULL;
    hitl_model *model = NULL;
    TRY(hitl_pool_create(&pool, ds->dim));
    TRY(hitl_pool_add(pool, x, n, ds->dim, NULL));
    for (size_t i = 0; i < n; i++)
        TRY(hitl_pool_set_label(pool, i, y[i]));
    if (make_model(&model, ds))
        goto fail;
    TRY(hitl_model_fit(model, pool));
    hitl_pool_free(pool);
    hitl_model_free(*out);
    *out = model;
    return 0;
fail:
    hitl_model_free(model);
    hitl_pool_free(pool);
    return -1;
}

/* Temperature, then threshold, on n labeled rows the model was not fitted
 * on; calibrating also answers the router's alert. */
static int deploy_calibrate(deploy *d, const float *x, const int32_t *y, size_t n)
{
    float *p = ds_calloc(n * d->ds->n_classes, sizeof *p);
    TRY(hitl_model_predict(p, d->model, x, n, d->ds->dim));
    TRY(hitl_router_fit_temperature(d->router, p, y, n));
    TRY(hitl_router_calibrate(d->router, p, y, n));
    free(p);
    return 0;
fail:
    free(p);
    return -1;
}

/* The stream's items: never seen by the first model; once some are fitted
 * on, the stream leaves them out, so that accuracy is measured honestly. */
static void deploy_sources(deploy *d)
{
    const dataset *ds = d->ds;
    const split *sp = d->sp;
    size_t first = DEPLOY_FIT + DEPLOY_CAL, np = sp->n_pool - first;
    d->n_src = np + sp->n_test;
    d->src_x = ds_calloc(d->n_src * ds->dim, sizeof *d->src_x);
    d->src_y = ds_calloc(d->n_src, sizeof *d->src_y);
    d->src_used = ds_calloc(d->n_src, 1);
    d->batch_src = ds_calloc(DEPLOY_BATCH, sizeof *d->batch_src);
    memcpy(d->src_x, sp->x_pool + first * ds->dim, np * ds->dim * sizeof *d->src_x);
    memcpy(d->src_x + np * ds->dim, sp->x_test, sp->n_test * ds->dim * sizeof *d->src_x);
    for (size_t i = 0; i < np; i++)
        d->src_y[i] = ds->y[sp->pool[first + i]];
    for (size_t i = 0; i < sp->n_test; i++)
        d->src_y[np + i] = ds->y[sp->test[i]];
}

static int deploy_start(deploy *d)
{
    const dataset *ds = d->ds;
    const split *sp = d->sp;
    size_t n = DEPLOY_FIT + DEPLOY_CAL, k = ds->n_classes;
    int32_t *y = ds_calloc(n, sizeof *y);
    for (size_t i = 0; i < n; i++)
        y[i] = ds->y[sp->pool[i]];
    d->x = ds_calloc(DEPLOY_BATCH * ds->dim, sizeof *d->x);
    d->proba = ds_calloc(DEPLOY_BATCH * k, sizeof *d->proba);
    d->conf = ds_calloc(DEPLOY_BATCH, sizeof *d->conf);
    d->label = ds_calloc(DEPLOY_BATCH, sizeof *d->label);
    d->truth = ds_calloc(DEPLOY_BATCH, sizeof *d->truth);
    d->accept = ds_calloc(DEPLOY_BATCH, 1);
    d->correct = ds_calloc(DEPLOY_BATCH, 1);
    d->rx = ds_calloc((DEPLOY_REFIT + DEPLOY_RECAL + DEPLOY_BATCH) * ds->dim,
                      sizeof *d->rx);
    d->ry = ds_calloc(DEPLOY_REFIT + DEPLOY_RECAL + DEPLOY_BATCH, sizeof *d->ry);
    deploy_sources(d);
    TRY(hitl_router_create(&d->router, k));
    TRY(hitl_router_set_param(d->router, HITL_PARAM_ROUTE_TARGET, 0.97));
    TRY(hitl_router_set_param(d->router, HITL_PARAM_ROUTE_FALLBACK, 1));
    TRY(hitl_drift_monitor_create(&d->mon));
    TRY(hitl_drift_monitor_set_router(d->mon, d->router));
    if (deploy_fit(&d->model, ds, sp->x_pool, y, DEPLOY_FIT) ||
        deploy_calibrate(d, sp->x_pool + DEPLOY_FIT * ds->dim, y + DEPLOY_FIT,
                         DEPLOY_CAL))
        goto fail;
    free(y);
    return 0;
fail:
    free(y);
    return -1;
}

static void deploy_free(deploy *d)
{
    hitl_drift_monitor_free(d->mon);
    hitl_router_free(d->router);
    hitl_model_free(d->model);
    free(d->x);
    free(d->proba);
    free(d->conf);
    free(d->label);
    free(d->truth);
    free(d->accept);
    free(d->correct);
    free(d->rx);
    free(d->ry);
    free(d->src_x);
    free(d->src_y);
    free(d->src_used);
    free(d->batch_src);
}

/* The events the last batch logged, one line each. */
static int print_events(deploy *d, size_t at)
{
    static const char *det[] = { "", "Page-Hinkley", "ADWIN", "", "PSI" };
    double n;
    TRY(hitl_drift_monitor_get_info(&n, d->mon, HITL_DRIFT_INFO_EVENTS));
    for (; d->events_seen < (uint64_t)n; d->events_seen++) {
        double v[9];
        for (int f = 0; f < 9; f++)
            TRY(hitl_drift_monitor_event(&v[f], d->mon, d->events_seen,
                                         (hitl_drift_event_info)(f + 1)));
        printf("    event by item %zu: %s on %s (its item %.0f, change from "
               "%.0f): mean %.3f -> %.3f, statistic %.3f > %.3f%s\n", at,
               det[(int)v[0]], v[1] == HITL_DRIFT_STREAM_ERROR ? "reviewed errors"
               : "confidence", v[2], v[3], v[4], v[5], v[6], v[7],
               v[8] ? ": ALERT" : "");
    }
    return 0;
fail:
    return -1;
}

/* The reviewed items of the batch, while on alert, are kept for the refit;
 * with enough, refit, recalibrate and reset the monitor. */
static int deploy_collect(deploy *d, size_t n, size_t at)
{
    size_t dim = d->ds->dim;
    double alert;
    TRY(hitl_router_get_param(&alert, d->router, HITL_PARAM_ROUTE_ALERT));
    for (size_t i = 0; i < n && alert && d->n_r < DEPLOY_REFIT + DEPLOY_RECAL; i++) {
        if (d->accept[i] || d->src_used[d->batch_src[i]])
            continue;   /* each item once, so that the sets are disjoint */
        d->src_used[d->batch_src[i]] = 1;
        memcpy(d->rx + d->n_r * dim, d->x + i * dim, dim * sizeof *d->x);
        d->ry[d->n_r++] = d->truth[i];
    }
    if (d->n_r < DEPLOY_REFIT + DEPLOY_RECAL)
        return 0;
    if (deploy_fit(&d->model, d->ds, d->rx, d->ry, DEPLOY_REFIT) ||
        deploy_calibrate(d, d->rx + DEPLOY_REFIT * dim, d->ry + DEPLOY_REFIT,
                         d->n_r - DEPLOY_REFIT))
        goto fail;
    TRY(hitl_drift_monitor_reset(d->mon));
    double thr;
    TRY(hitl_router_get_param(&thr, d->router, HITL_PARAM_ROUTE_THRESHOLD));
    printf("    by item %zu: refitted on %d reviewed items, recalibrated on "
           "%zu (threshold %.3f): alert cleared, monitor reset\n", at,
           DEPLOY_REFIT, d->n_r - DEPLOY_REFIT, thr);
    d->n_r = 0;
    d->refits++;
    return 0;
fail:
    return -1;
}

/* Route one batch drawn from the stream's items (after a refit, from those
 * it was not fitted on); a person reviews what is routed to review and audits a share
 * of the rest; the monitor sees every confidence and every reviewed item. */
static int deploy_batch(deploy *d, size_t at)
{
    const dataset *ds = d->ds;
    size_t n_rev = 0;
    for (size_t i = 0; i < DEPLOY_BATCH; i++) {
        size_t pos;
        do
            pos = (size_t)(ds_rng_next(&d->rng) % d->n_src);
        while (d->refits && d->src_used[pos]);
        d->batch_src[i] = pos;
        memcpy(d->x + i * ds->dim, d->src_x + pos * ds->dim,
               ds->dim * sizeof *d->x);
        d->truth[i] = world_label(d->src_y[pos], at + i >= DEPLOY_SWAP_AT);
    }
    TRY(hitl_model_predict(d->proba, d->model, d->x, DEPLOY_BATCH, ds->dim));
    TRY(hitl_router_route(NULL, d->accept, d->label, d->conf, d->router,
                          d->proba, DEPLOY_BATCH));
    for (size_t i = 0; i < DEPLOY_BATCH; i++) {
        int ok = d->label[i] == d->truth[i];
        int audit = rng_uniform(&d->rng) < DEPLOY_AUDIT;
        if (d->accept[i]) {
            d->block_acc++;
            d->block_acc_ok += (size_t)ok;
        }
        if (!d->accept[i] || audit)
            d->correct[n_rev++] = (uint8_t)ok;
        d->block_review += !d->accept[i];
    }
    d->block_items += DEPLOY_BATCH;
    TRY(hitl_drift_monitor_observe(NULL, d->mon, d->conf, DEPLOY_BATCH,
                                   d->correct, n_rev));
    if (print_events(d, at + DEPLOY_BATCH) || deploy_collect(d, DEPLOY_BATCH,
                                                             at + DEPLOY_BATCH))
        goto fail;
    return 0;
fail:
    return -1;
}

static int print_block(deploy *d, size_t at)
{
    double alert;
    TRY(hitl_drift_monitor_get_info(&alert, d->mon, HITL_DRIFT_INFO_ALERT));
    printf("%5zu-%-5zu %-8s %-6s %7.1f%% %10.3f\n", at - d->block_items + 1, at,
           at <= DEPLOY_SWAP_AT ? "as fit" : "swapped", alert ? "ALERT" : "-",
           100.0 * (double)d->block_review / (double)d->block_items,
           d->block_acc ? (double)d->block_acc_ok / (double)d->block_acc : NAN);
    d->block_items = d->block_review = d->block_acc = d->block_acc_ok = 0;
    return 0;
fail:
    return -1;
}

static int section_deployment(const dataset *ds, const split *sp, uint64_t seed)
{
    deploy d = { .ds = ds, .sp = sp, .rng = seed ^ 0xDE9107 };
    if (ds->n_classes <= SWAP_B || sp->n_pool <= DEPLOY_FIT + DEPLOY_CAL)
        return 0;
    printf("== drift in deployment\n");
    printf("a model fitted on %d pool items, routed at target precision 0.97 "
           "(calibrated on %d more),\nmeets a stream of %d items; from item %d "
           "on, classes %d and %d swap their meaning.\nA person reviews what is "
           "routed to review and audits %.0f%% of the accepted items; the\n"
           "drift monitor (Page-Hinkley, ADWIN, PSI at their defaults) sees "
           "every confidence and\nevery reviewed item, and on a harmful change "
           "puts the router on alert (review\neverything) until the model is "
           "refitted on %d reviewed items and recalibrated on %d.\n\n",
           DEPLOY_FIT, DEPLOY_CAL, DEPLOY_ITEMS, DEPLOY_SWAP_AT + 1, SWAP_A,
           SWAP_B, 100 * DEPLOY_AUDIT, DEPLOY_REFIT, DEPLOY_RECAL);
    printf("%-11s %-8s %-6s %8s %10s\n", "items", "labels", "flag", "review",
           "accepted accuracy");
    if (deploy_start(&d))
        goto fail;
    for (size_t at = 0; at < DEPLOY_ITEMS; at += DEPLOY_BATCH) {
        if (deploy_batch(&d, at))
            goto fail;
        if ((at + DEPLOY_BATCH) % DEPLOY_BLOCK == 0 && print_block(&d, at + DEPLOY_BATCH))
            goto fail;
    }
    printf("(review: share of the block's items routed to a person; accepted "
           "accuracy: of the\nitems the model decided alone, against the labels "
           "of the world at that time; the\nstream draws from %zu items no "
           "model was fitted on, and after the refit from those\nthe refit "
           "did not use.  The confidence detectors stay silent: the images "
           "did not\nchange, their meaning did, and only reviewed errors show "
           "it.)\n\n", d.n_src);
    deploy_free(&d);
    return 0;
fail:
    deploy_free(&d);
    return -1;
}

/* ---- main ------------------------------------------------------------------ */

static size_t parse_count(const char *opt, const char *arg, size_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = arg ? strtoull(arg, &end, 10) : 0;
    if (!arg || *end || errno || v == 0 || v > max)
        ds_fail("%s needs an integer in 1..%zu", opt, max);
    return (size_t)v;
}

/* The sections for one data set.  A text set gets the data, full-data and
 * active-learning sections; the annotator sections, whose simulated people
 * confuse neighbouring classes of ten, run on the other sets. */
static int run_set(const char *path, size_t batch, size_t rounds, uint64_t seed)
{
    dataset ds;
    split sp;
    double full_acc = 0;
    int text = ds_is_text(path);
    if (text)
        ds_load_text(&ds, path, 255);
    else
        load_data(&ds, path);
    if (ds.n_classes > sizeof sp.seed_set / sizeof sp.seed_set[0])
        ds_fail("%s: too many classes", path);
    make_split(&sp, &ds, seed);
    section_data(&ds, &sp, path, seed);

    int status = section_full_data(&full_acc, &ds, &sp);
    if (status == 0)
        status = section_active_learning(&ds, &sp, full_acc, batch, rounds,
                                         seed);
    if (status == 0 && !text)
        status = section_annotators(&ds, &sp, batch, rounds, seed);
    if (status == 0 && !text)
        status = section_reviewer(&ds, seed);
    if (status == 0 && !text)
        status = section_recheck(&ds, seed);
    if (status == 0 && !text)
        status = section_drift(&ds, seed);
    if (status == 0 && !text)
        status = demo_section_stream(&ds, sp.x_pool, sp.pool, sp.n_pool, sp.x_test,
                                     sp.test, sp.n_test, seed);
    if (status == 0 && !text)
        status = section_audit(&ds, seed);
    if (status == 0 && !text)
        status = section_deployment(&ds, &sp, seed);
    free_split(&sp);
    ds_free(&ds);
    return status;
}

int main(int argc, char **argv)
{
    const char *paths[16];
    /* Reviews are slow to learn (scikit-learn, 300 random labels: 0.67 of
     * 0.81 reachable): a text set gets larger batches and more rounds. */
    size_t n_paths = 0, batch = 10, rounds = 25, text_batch = 20, text_rounds = 40;
    uint64_t seed = 1;
    ds_program = "demo";

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch"))
            batch = parse_count("--batch", argv[++i], 100000);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = parse_count("--rounds", argv[++i], 100000);
        else if (!strcmp(argv[i], "--text-batch"))
            text_batch = parse_count("--text-batch", argv[++i], 100000);
        else if (!strcmp(argv[i], "--text-rounds"))
            text_rounds = parse_count("--text-rounds", argv[++i], 100000);
        else if (!strcmp(argv[i], "--seed"))
            seed = parse_count("--seed", argv[++i], (size_t)1 << 53);
        else if (argv[i][0] == '-' || n_paths == sizeof paths / sizeof paths[0])
            ds_fail("usage: demo [--batch K] [--rounds R] [--text-batch K] "
                    "[--text-rounds R] [--seed S] [DATA.csv.gz|TEXT.tsv.gz ...]");
        else
            paths[n_paths++] = argv[i];
    }
    if (n_paths == 0) {
        paths[n_paths++] = "data/digits.csv.gz";
        paths[n_paths++] = "data/finefoods.tsv.gz";
    }
    if (strcmp(hitl_version(), HITL_VERSION_STRING) != 0)
        ds_fail("header %s but library %s", HITL_VERSION_STRING, hitl_version());

    double t0 = ds_seconds();
    printf("libhitl %s demo: active learning on handwritten digits and on "
           "product reviews\n\n", hitl_version());
    int status = 0;
    for (size_t k = 0; k < n_paths && status == 0; k++)
        status = ds_is_text(paths[k])
                     ? run_set(paths[k], text_batch, text_rounds, seed)
                     : run_set(paths[k], batch, rounds, seed);
    if (status == 0)
        printf("done in %.1f s\n", ds_seconds() - t0);
    return status == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
