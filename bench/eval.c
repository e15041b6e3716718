/*
 * libhitl strategy evaluation: learning curves of every query strategy on the
 * real data sets shipped in data/, over several seeds (`make eval`).
 *
 *   eval [--seeds S] [--first-seed F] [--rounds R] [--batch B]
 *        [--strategies SPEC,...] [--routing-only | --no-routing]
 *        DATA.csv.gz|TEXT.tsv.gz ...
 *
 * Protocol, per data set and seed s = F .. F+S-1 (default 1..5):
 *  - a seeded split: every 3rd item of each class (after a shuffle) is held
 *    out for testing, the rest is the pool; features are standardised with
 *    the pool's mean and standard deviation;  a text set (.tsv.gz, see
 *    data/README) is vectorised by examples/textvec.c into hashed TF-IDF
 *    rows held in a sparse pool, as they are;
 *  - full-data accuracy: logistic regression (L2 lambda 1, i.e. scikit-learn
 *    C = 1; lambda 0.1 for a text set, as in the demo) fitted on every pool
 *    label;
 *  - per strategy, starting with nothing labeled: round 0 labels one batch
 *    (the strategy's cold start for the kinds that have one, else a random
 *    batch: the same items RANDOM picks), then R rounds of: fit (warm start),
 *    query a batch, a simulated annotator answers with the true label; test
 *    accuracy is measured after every fit.  QBC strategies query with a
 *    committee of 5 bagged logistic regressions; test accuracy is always that
 *    of the single model, so every strategy is judged by the same learner.
 *
 * Printed per data set and strategy (mean and standard deviation over the
 * seeds): the area under the learning curve (test accuracy against labels,
 * trapezoids, divided by the label range: the mean accuracy over the run),
 * the final accuracy, and the labels needed to first reach 95% of the
 * full-data accuracy (mean over the seeds that reached it; "n/S" says how
 * many did).  Then, on MARGIN's runs, the round at which each stopping
 * criterion of hitl_stopper would have stopped and the test accuracy lost
 * against the full budget.  Last, for each data set, whether DEFAULT's area is at least
 * RANDOM's; the exit status is 1 if it is not on some set.
 *
 * Routing (after the strategies, per data set; --routing-only skips the
 * strategies, --no-routing the routing): the test split is halved into a
 * reviewed calibration half and an evaluation half; the share of the
 * model's errors caught when 10%, 25% and 30% of the evaluation half go to
 * review (lowest score first) for the raw confidence, the temperature-
 * scaled one, the expected cost and the learned error detector, and the
 * cut of the accepted items' error rate at 30%; target lines at the end
 * (a MISSED target does not change the exit status).
 *
 * A strategy SPEC is a kind name with optional parameters, e.g.
 *   hybrid:base=entropy:beta=5   density:anchors=256:exp=2   qbc-kl:members=9
 * Kinds: random least-confident margin entropy egl qbc-vote qbc-consensus qbc-kl
 * qbc-bald kcenter ranked density hybrid default.  Parameters: base (a kind
 * name), beta, exp, anchors, bandwidth, cold (random|kcenter|kmeans++),
 * select (kcenter|kmeans++), members.
 */
#include "hitl.h"
#include "dataset.h"
#include "textvec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_EVERY 3
#define TARGET 0.95
#define L2 1.0
#define L2_TEXT 0.1    /* unit-norm TF-IDF rows want C = 10: see examples/demo.c */
#define TEXT_BATCH 30  /* reviews are slow to learn: 30 to 930 labels */
#define MAX_SPECS 64
#define MAX_PARAMS 8

/* ---- helpers --------------------------------------------------------------- */

/* Abort on a failed libhitl call, naming the call and the library's detail. */
#define CHECK(call)                                                              \
    do {                                                                         \
        int st_ = (call);                                                        \
        if (st_ != HITL_OK)                                                      \
            ds_fail("%s: %s: %s", #call, hitl_strerror(st_), hitl_error_message()); \
    } while (0)

/* A seeded split into pool and test, features standardised by the pool;
 * or, for a text set, the CSR rows of each side (pool_x and test_x NULL). */
typedef struct split {
    size_t n_pool, n_test, dim;
    double l2;
    float *pool_x, *test_x;
    int32_t *pool_y, *test_y;
    tv_csr pool_csr, test_csr;
} split;

static void standardise(split *sp)
{
    size_t d = sp->dim;
    for (size_t j = 0; j < d; j++) {
        double m = 0, s = 0;
        for (size_t i = 0; i < sp->n_pool; i++)
            m += sp->pool_x[i * d + j];
        m /= (double)sp->n_pool;
        for (size_t i = 0; i < sp->n_pool; i++)
            s += (sp->pool_x[i * d + j] - m) * (sp->pool_x[i * d + j] - m);
        s = sqrt(s / (double)sp->n_pool);
        if (s == 0)
            s = 1;
        for (size_t i = 0; i < sp->n_pool; i++)
            sp->pool_x[i * d + j] = (float)((sp->pool_x[i * d + j] - m) / s);
        for (size_t i = 0; i < sp->n_test; i++)
            sp->test_x[i * d + j] = (float)((sp->test_x[i * d + j] - m) / s);
    }
}

static void make_split(split *sp, const dataset *ds, uint64_t seed)
{
    size_t n = ds->n, d = ds->dim;
    size_t *order = ds_calloc(n, sizeof *order), *seen = ds_calloc(ds->n_classes, sizeof *seen);
    uint64_t r = seed * 0x2545F4914F6CDD1Dull + 1;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    ds_shuffle(order, n, &r);
    memset(sp, 0, sizeof *sp);
    sp->dim = d;
    sp->l2 = ds->x ? L2 : L2_TEXT;
    size_t *pool = ds_calloc(n, sizeof *pool), *test = ds_calloc(n, sizeof *test);
    sp->pool_y = ds_calloc(n, sizeof *sp->pool_y);
    sp->test_y = ds_calloc(n, sizeof *sp->test_y);
    for (size_t i = 0; i < n; i++) {
        size_t it = order[i];
        if (seen[ds->y[it]]++ % TEST_EVERY == TEST_EVERY - 1) {
            test[sp->n_test] = it;
            sp->test_y[sp->n_test++] = ds->y[it];
        } else {
            pool[sp->n_pool] = it;
            sp->pool_y[sp->n_pool++] = ds->y[it];
        }
    }
    if (ds->x) {
        sp->pool_x = ds_calloc(sp->n_pool * d, sizeof *sp->pool_x);
        sp->test_x = ds_calloc(sp->n_test * d, sizeof *sp->test_x);
        for (size_t i = 0; i < sp->n_pool; i++)
            memcpy(sp->pool_x + i * d, ds->x + pool[i] * d, d * sizeof *sp->pool_x);
        for (size_t i = 0; i < sp->n_test; i++)
            memcpy(sp->test_x + i * d, ds->x + test[i] * d, d * sizeof *sp->test_x);
        standardise(sp);
    } else {
        ds_gather_csr(&sp->pool_csr, ds, pool, sp->n_pool);
        ds_gather_csr(&sp->test_csr, ds, test, sp->n_test);
    }
    free(pool);
    free(test);
    free(order);
    free(seen);
}

static void free_split(split *sp)
{
    free(sp->pool_x);
    free(sp->test_x);
    free(sp->pool_y);
    free(sp->test_y);
    tv_free(&sp->pool_csr);
    tv_free(&sp->test_csr);
}

/* ---- strategy specs ---------------------------------------------------------- */

typedef struct spec {
    char text[128];               /* as given, the row name */
    hitl_strategy_kind kind;
    size_t members;               /* committee size for QBC kinds */
    size_t n_params;
    hitl_param param[MAX_PARAMS];
    double value[MAX_PARAMS];
} spec;

static const struct { const char *name; hitl_strategy_kind kind; } KINDS[] = {
    {"random", HITL_STRATEGY_RANDOM},
    {"least-confident", HITL_STRATEGY_LEAST_CONFIDENT},
    {"margin", HITL_STRATEGY_MARGIN},
    {"entropy", HITL_STRATEGY_ENTROPY},
    {"egl", HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH},
    {"qbc-vote", HITL_STRATEGY_QBC_VOTE_ENTROPY},
    {"qbc-consensus", HITL_STRATEGY_QBC_CONSENSUS_ENTROPY},
    {"qbc-kl", HITL_STRATEGY_QBC_KL},
    {"qbc-bald", HITL_STRATEGY_QBC_BALD},
    {"kcenter", HITL_STRATEGY_KCENTER},
    {"ranked", HITL_STRATEGY_RANKED_BATCH},
    {"density", HITL_STRATEGY_DENSITY},
    {"hybrid", HITL_STRATEGY_HYBRID},
    {"default", HITL_STRATEGY_DEFAULT},
};

static int kind_of(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (strlen(KINDS[i].name) == len && !strncmp(KINDS[i].name, name, len))
            return (int)KINDS[i].kind;
    return -1;
}

static int is_qbc(hitl_strategy_kind k)
{
    return k >= HITL_STRATEGY_QBC_VOTE_ENTROPY && k <= HITL_STRATEGY_QBC_BALD;
}

/* Kinds that pick their own first batch (the cold start). */
static int has_cold_start(hitl_strategy_kind k)
{
    return k == HITL_STRATEGY_KCENTER || k == HITL_STRATEGY_RANKED_BATCH ||
           k == HITL_STRATEGY_DENSITY || k == HITL_STRATEGY_HYBRID ||
           k == HITL_STRATEGY_DEFAULT;
}

static void parse_spec(spec *s, const char *text)
{
    memset(s, 0, sizeof *s);
    snprintf(s->text, sizeof s->text, "%s", text);
    s->members = 5;
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    int k = kind_of(text, len);
    if (k < 0)
        ds_fail("unknown strategy kind in '%s'", text);
    s->kind = (hitl_strategy_kind)k;
    while (colon) {
        const char *kv = colon + 1, *eq = strchr(kv, '=');
        colon = strchr(kv, ':');
        if (!eq || (colon && eq > colon))
            ds_fail("'%s': parameters are key=value", text);
        size_t klen = (size_t)(eq - kv);
        const char *val = eq + 1;
        size_t vlen = colon ? (size_t)(colon - val) : strlen(val);
        char vbuf[64];
        snprintf(vbuf, sizeof vbuf, "%.*s", (int)vlen, val);
        double v = strtod(vbuf, NULL);
        hitl_param p;
        if (!strncmp(kv, "base", klen)) {
            p = HITL_PARAM_BASE;
            int b = kind_of(vbuf, vlen);
            if (b < 0)
                ds_fail("'%s': unknown base kind '%s'", text, vbuf);
            v = b;
        } else if (!strncmp(kv, "beta", klen)) {
            p = HITL_PARAM_HYBRID_BETA;
        } else if (!strncmp(kv, "exp", klen)) {
            p = HITL_PARAM_DENSITY_EXPONENT;
        } else if (!strncmp(kv, "anchors", klen)) {
            p = HITL_PARAM_DENSITY_ANCHORS;
        } else if (!strncmp(kv, "bandwidth", klen)) {
            p = HITL_PARAM_DENSITY_BANDWIDTH;
        } else if (!strncmp(kv, "cold", klen)) {
            p = HITL_PARAM_COLD_START;
            v = !strcmp(vbuf, "random") ? HITL_COLD_START_RANDOM
              : !strcmp(vbuf, "kcenter") ? HITL_COLD_START_KCENTER
              : !strcmp(vbuf, "kmeans++") ? HITL_COLD_START_KMEANSPP : -1;
        } else if (!strncmp(kv, "select", klen)) {
            p = HITL_PARAM_HYBRID_SELECT;
            v = !strcmp(vbuf, "kcenter") ? HITL_COLD_START_KCENTER
              : !strcmp(vbuf, "kmeans++") ? HITL_COLD_START_KMEANSPP : -1;
        } else if (!strncmp(kv, "members", klen)) {
            s->members = (size_t)v;
            if (s->members < 1)
                ds_fail("'%s': members >= 1", text);
            continue;
        } else {
            ds_fail("'%s': unknown parameter '%.*s'", text, (int)klen, kv);
        }
        if (s->n_params == MAX_PARAMS)
            ds_fail("'%s': too many parameters", text);
        s->param[s->n_params] = p;
        s->value[s->n_params++] = v;
    }
}

/* ---- one run ----------------------------------------------------------------- */

typedef struct run {
    double *acc;       /* rounds + 1 */
    size_t *labels;
} run;

static double accuracy(const hitl_model *m, const split *sp, size_t K, float *proba)
{
    size_t ok = 0;
    if (sp->test_x)
        CHECK(hitl_model_predict(proba, m, sp->test_x, sp->n_test, sp->dim));
    else
        CHECK(hitl_model_predict_csr(proba, m, sp->test_csr.indptr, sp->test_csr.indices,
                                     sp->test_csr.values, sp->n_test));
    for (size_t i = 0; i < sp->n_test; i++) {
        const float *p = proba + i * K;
        size_t best = 0;
        for (size_t c = 1; c < K; c++)
            if (p[c] > p[best])
                best = c;
        ok += (int32_t)best == sp->test_y[i];
    }
    return (double)ok / (double)sp->n_test;
}

static hitl_pool *make_pool(const split *sp)
{
    hitl_pool *pool;
    if (sp->pool_x) {
        CHECK(hitl_pool_create(&pool, sp->dim));
        CHECK(hitl_pool_add(pool, sp->pool_x, sp->n_pool, sp->dim, NULL));
    } else {
        CHECK(hitl_pool_create_sparse(&pool, sp->dim));
        CHECK(hitl_pool_add_csr_borrowed(pool, sp->pool_csr.indptr, sp->pool_csr.indices,
                                         sp->pool_csr.values, sp->n_pool, NULL));
    }
    return pool;
}

static hitl_model *make_model(const split *sp, size_t K)
{
    hitl_model *m;
    CHECK(hitl_model_create_logreg(&m, sp->dim, K));
    CHECK(hitl_model_set_param(m, HITL_PARAM_L2, sp->l2));
    return m;
}

static double full_accuracy(const split *sp, size_t K)
{
    hitl_pool *pool = make_pool(sp);
    hitl_model *m = make_model(sp, K);
    float *proba = ds_calloc(sp->n_test * K, sizeof *proba);
    for (size_t i = 0; i < sp->n_pool; i++)
        CHECK(hitl_pool_set_label(pool, i, sp->pool_y[i]));
    CHECK(hitl_model_fit(m, pool));
    double acc = accuracy(m, sp, K, proba);
    free(proba);
    hitl_model_free(m);
    hitl_pool_free(pool);
    return acc;
}

static void run_strategy(run *out, const spec *s, const split *sp, size_t K, size_t batch,
                         size_t rounds, uint64_t seed, hitl_stopper *stopper)
{
    hitl_pool *pool = make_pool(sp);
    hitl_model *model = make_model(sp, K);
    hitl_committee *committee = NULL;
    hitl_strategy *strategy, *first;
    size_t *idx = ds_calloc(batch, sizeof *idx), count;
    float *proba = ds_calloc(sp->n_test * K, sizeof *proba);

    CHECK(hitl_strategy_create(&strategy, s->kind));
    CHECK(hitl_strategy_set_param(strategy, HITL_PARAM_SEED, (double)seed));
    for (size_t j = 0; j < s->n_params; j++)
        CHECK(hitl_strategy_set_param(strategy, s->param[j], s->value[j]));
    /* round 0: the strategy's own cold start, or the batch RANDOM picks */
    CHECK(hitl_strategy_create(&first, HITL_STRATEGY_RANDOM));
    CHECK(hitl_strategy_set_param(first, HITL_PARAM_SEED, (double)seed));
    if (is_qbc(s->kind)) {
        CHECK(hitl_committee_create(&committee, sp->dim, K));
        CHECK(hitl_committee_set_param(committee, HITL_PARAM_COMMITTEE_SEED, (double)seed));
        for (size_t m = 0; m < s->members; m++)
            CHECK(hitl_committee_add_logreg(committee, sp->l2));
    }
    for (size_t r = 0; r <= rounds; r++) {
        if (r == 0 && has_cold_start(s->kind))
            CHECK(hitl_query(&count, idx, NULL, NULL, strategy, model, pool, batch));
        else if (r == 0)
            CHECK(hitl_query(&count, idx, NULL, NULL, first, NULL, pool, batch));
        else if (committee)
            CHECK(hitl_query_committee(&count, idx, NULL, NULL, strategy, committee, pool,
                                       batch));
        else
            CHECK(hitl_query(&count, idx, NULL, NULL, strategy, model, pool, batch));
        for (size_t j = 0; j < count; j++)   /* the simulated annotator */
            CHECK(hitl_pool_set_label(pool, idx[j], sp->pool_y[idx[j]]));
        CHECK(hitl_model_fit(model, pool));
        if (committee && r < rounds)
            CHECK(hitl_committee_fit(committee, pool));
        CHECK(hitl_pool_count(&out->labels[r], pool, HITL_ITEM_LABELED));
        out->acc[r] = accuracy(model, sp, K, proba);
        if (stopper)
            CHECK(hitl_stopper_update(NULL, stopper, model, pool));
    }
    hitl_committee_free(committee);
    hitl_strategy_free(first);
    hitl_strategy_free(strategy);
    hitl_model_free(model);
    hitl_pool_free(pool);
    free(idx);
    free(proba);
}

/* Area under the curve of accuracy against labels, over the label range. */
static double curve_area(const run *r, size_t rounds)
{
    double area = 0;
    for (size_t i = 1; i <= rounds; i++)
        area += 0.5 * (r->acc[i] + r->acc[i - 1]) * (double)(r->labels[i] - r->labels[i - 1]);
    double span = (double)(r->labels[rounds] - r->labels[0]);
    return span > 0 ? area / span : r->acc[0];
}

static void mean_sd(double *mean, double *sd, const double *v, size_t n)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++)
        m += v[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(s / (double)(n - 1)) : 0;
}

/* ---- stopping criteria ---------------------------------------------------------- */

/* Stopping is judged on MARGIN's runs (uncertainty sampling, for which the
 * criteria were proposed), with the stopper's defaults; PERFORMANCE reads
 * the odd test items as its held-out set, BUDGET is half the run's labels.
 * Per criterion and seed: the round it fired (1 = after the first fit) and
 * the test accuracy then against the accuracy after the last round. */
#define N_STOP 6
static const char *STOP_NAMES[N_STOP] = {
    "stabilizing predictions", "classification change", "overall uncertainty",
    "max confidence", "labeling budget", "performance convergence"
};

typedef struct stops {
    size_t *round;     /* N_STOP x seeds, 0 = never */
    double *lost;      /* N_STOP x seeds: final accuracy - accuracy at the stop */
    double *labels;    /* N_STOP x seeds */
} stops;

static hitl_stopper *make_stopper(const split *sp, size_t K, size_t budget)
{
    hitl_stopper *st;
    size_t n = sp->n_test / 2;
    float *X = ds_calloc(n * sp->dim, sizeof *X);
    int32_t *y = ds_calloc(n, sizeof *y);
    for (size_t i = 0; i < n; i++) {
        memcpy(X + i * sp->dim, sp->test_x + (2 * i + 1) * sp->dim, sp->dim * sizeof *X);
        y[i] = sp->test_y[2 * i + 1];
    }
    CHECK(hitl_stopper_create(&st, K));
    CHECK(hitl_stopper_set_param(st, HITL_PARAM_STOP_BUDGET, (double)budget));
    CHECK(hitl_stopper_set_heldout(st, X, y, n, sp->dim));
    free(X);
    free(y);
    return st;
}

static void record_stops(stops *o, const hitl_stopper *st, const run *r, size_t rounds,
                         size_t s, size_t seeds)
{
    for (int c = 0; c < N_STOP; c++) {
        size_t t;
        CHECK(hitl_stopper_fired(&t, st, (hitl_stop_criterion)(c + 1)));
        size_t at = t ? t - 1 : rounds;     /* never: the full budget */
        o->round[c * seeds + s] = t;
        o->lost[c * seeds + s] = r->acc[rounds] - r->acc[at];
        o->labels[c * seeds + s] = (double)r->labels[at];
    }
}

static void print_stops(const stops *o, size_t seeds, size_t rounds)
{
    printf("stopping (margin sampling, stopper defaults; budget = half the labels; "
           "held-out = odd test items):\n");
    printf("  %-26s %14s %14s %24s\n", "criterion", "round (fired)", "labels",
           "accuracy lost vs full");
    for (int c = 0; c < N_STOP; c++) {
        double rs = 0, lm, ls, bm, bs;
        size_t hit = 0;
        for (size_t s = 0; s < seeds; s++)
            if (o->round[c * seeds + s]) {
                rs += (double)o->round[c * seeds + s];
                hit++;
            }
        mean_sd(&lm, &ls, o->lost + c * seeds, seeds);
        mean_sd(&bm, &bs, o->labels + c * seeds, seeds);
        char rbuf[64];
        if (hit)
            snprintf(rbuf, sizeof rbuf, "%.1f (%zu/%zu)", rs / (double)hit, hit, seeds);
        else
            snprintf(rbuf, sizeof rbuf, "never (0/%zu)", seeds);
        printf("  %-26s %14s %8.0f +- %3.0f %+10.4f +- %.4f\n", STOP_NAMES[c], rbuf, bm, bs,
               lm, ls);
    }
    printf("  (never = ran all %zu rounds: nothing saved, nothing lost)\n", rounds + 1);
}

/* ---- one data set ------------------------------------------------------------- */

typedef struct verdict {
    const char *name;
    double gap;        /* default's area - random's, mean over seeds */
    size_t wins, seeds;
    int ok;
} verdict;

static void evaluate(verdict *vd, const dataset *ds, const spec *specs, size_t n_specs,
                     size_t seed0, size_t seeds, size_t rounds, size_t batch_opt)
{
    size_t K = ds->n_classes;
    size_t batch = batch_opt ? batch_opt : !ds->x ? TEXT_BATCH : K <= 10 ? 10 : K;
    double *area = ds_calloc(n_specs * seeds, sizeof *area);
    double *final = ds_calloc(n_specs * seeds, sizeof *final);
    double *reach = ds_calloc(n_specs * seeds, sizeof *reach);
    double *full = ds_calloc(seeds, sizeof *full), *secs = ds_calloc(n_specs, sizeof *secs);
    run r = { ds_calloc(rounds + 1, sizeof *r.acc), ds_calloc(rounds + 1, sizeof *r.labels) };
    stops stop = { ds_calloc(N_STOP * seeds, sizeof(size_t)),
                   ds_calloc(N_STOP * seeds, sizeof(double)),
                   ds_calloc(N_STOP * seeds, sizeof(double)) };
    int have_stops = 0;
    split sp;

    for (size_t s = 0; s < seeds; s++) {
        make_split(&sp, ds, seed0 + s);
        full[s] = full_accuracy(&sp, K);
        for (size_t j = 0; j < n_specs; j++) {
            /* the stopper's held-out set is dense rows: not for a text set */
            int judge = specs[j].kind == HITL_STRATEGY_MARGIN && specs[j].n_params == 0 &&
                        sp.test_x != NULL;
            hitl_stopper *st = judge ? make_stopper(&sp, K, batch * (rounds + 1) / 2) : NULL;
            double t0 = ds_seconds();
            run_strategy(&r, &specs[j], &sp, K, batch, rounds, seed0 + s, st);
            secs[j] += ds_seconds() - t0;
            if (st) {
                record_stops(&stop, st, &r, rounds, s, seeds);
                have_stops = 1;
                hitl_stopper_free(st);
            }
            area[j * seeds + s] = curve_area(&r, rounds);
            final[j * seeds + s] = r.acc[rounds];
            reach[j * seeds + s] = NAN;
            for (size_t i = 0; i <= rounds; i++)
                if (r.acc[i] >= TARGET * full[s]) {
                    reach[j * seeds + s] = (double)r.labels[i];
                    break;
                }
        }
        if (s + 1 == 1)
            printf("== %s: %zu items, %zu features, %zu classes; pool %zu, test %zu; "
                   "batch %zu, %zu rounds (%zu to %zu labels); %zu seeds\n",
                   ds->name, ds->n, ds->dim, K, sp.n_pool, sp.n_test, batch, rounds,
                   batch, batch * (rounds + 1), seeds);
        free_split(&sp);
    }
    double fm, fs;
    mean_sd(&fm, &fs, full, seeds);
    printf("full-data accuracy %.4f +- %.4f; 95%% of it is the target\n", fm, fs);
    printf("%-28s %17s %17s %17s %8s\n", "strategy", "curve area", "final accuracy",
           "labels to 95%", "seconds");
    size_t i_random = SIZE_MAX, i_default = SIZE_MAX;
    for (size_t j = 0; j < n_specs; j++) {
        double am, as, xm, xs, rm = 0;
        size_t hit = 0;
        mean_sd(&am, &as, area + j * seeds, seeds);
        mean_sd(&xm, &xs, final + j * seeds, seeds);
        for (size_t s = 0; s < seeds; s++)
            if (!isnan(reach[j * seeds + s])) {
                rm += reach[j * seeds + s];
                hit++;
            }
        char rbuf[32];
        if (hit)
            snprintf(rbuf, sizeof rbuf, "%.0f (%zu/%zu)", rm / (double)hit, hit, seeds);
        else
            snprintf(rbuf, sizeof rbuf, ">%zu (0/%zu)", batch * (rounds + 1), seeds);
        printf("%-28s %8.4f +- %.4f %8.4f +- %.4f %17s %8.1f\n", specs[j].text, am, as, xm,
               xs, rbuf, secs[j]);
        if (specs[j].kind == HITL_STRATEGY_RANDOM && specs[j].n_params == 0)
            i_random = j;
        if (specs[j].kind == HITL_STRATEGY_DEFAULT && specs[j].n_params == 0)
            i_default = j;
    }
    vd->name = ds->name;
    vd->ok = -1;
    if (i_random != SIZE_MAX && i_default != SIZE_MAX) {
        double gap = 0;
        size_t wins = 0;
        for (size_t s = 0; s < seeds; s++) {
            double g = area[i_default * seeds + s] - area[i_random * seeds + s];
            gap += g / (double)seeds;
            wins += g > 0;
        }
        *vd = (verdict){ ds->name, gap, wins, seeds, gap >= 0 };
        printf("default - random curve area: %+.4f (default ahead on %zu of %zu seeds)\n",
               gap, wins, seeds);
    }
    if (have_stops)
        print_stops(&stop, seeds, rounds);
    printf("\n");
    fflush(stdout);
    free(stop.round);
    free(stop.lost);
    free(stop.labels);
    free(area);
    free(final);
    free(reach);
    free(full);
    free(secs);
    free(r.acc);
    free(r.labels);
}


/* ---- routing: which errors reach a person ------------------------------------------ */

/* Per data set and seed: logistic regression fitted on every pool label;
 * the test split halved (even positions: the reviewed calibration half,
 * odd: the evaluation half).  Each method ranks the evaluation half by its
 * score and sends the lowest share r to review (the router's CAPACITY mode,
 * threshold +Inf); figures are errors caught (share of the model's errors
 * sent to review) and, at the largest rate, the cut of the error rate of the
 * accepted items relative to accepting everything.  Methods: raw
 * confidence (T = 1); temperature-scaled (T fitted on the calibration half,
 * with the guard); expected cost (0/1 costs, least-expected-cost label: with
 * 0/1 costs this ranks like the scaled confidence, so the row shows the
 * cost machinery agrees; a second figure gives the cost caught at 25%
 * review when errors on class-0 items cost 10); the learned detector
 * (fitted on the calibration half, the pool labels as its reference). */
#define N_RATES 3
#define N_METHODS 4
static const double RATES[N_RATES] = { 0.10, 0.25, 0.30 };
static const char *METHODS[N_METHODS] = { "raw confidence", "temperature-scaled",
                                          "expected cost", "learned detector" };

typedef struct route_figs {
    double caught[N_METHODS][N_RATES], cut[N_METHODS];
    double active, errors;   /* the detector was fitted; its errors */
    double cost_caught[2];   /* at 25% review, class-0 errors costing 10:
                                by scaled confidence, by expected cost */
} route_figs;

#define COSTLY 10.0   /* the cost of an error on a class-0 item */

/* With C[0][c] = COSTLY (c != 0) and 1 for the other errors: the share of
 * the errors' cost caught at 25% review, ranking by the scaled confidence
 * and by the expected cost (same labels: the most probable class). */
static void costly_figures(double *caught, hitl_router *r, const float *p,
                           const int32_t *y, size_t n, size_t K)
{
    double *C = ds_calloc(K * K, sizeof *C);
    for (size_t t = 0; t < K; t++)
        for (size_t c = 0; c < K; c++)
            C[t * K + c] = t == c ? 0 : t == 0 ? COSTLY : 1;
    CHECK(hitl_router_set_costs(r, C, K, K));
    CHECK(hitl_router_set_param(r, HITL_PARAM_ROUTE_CAPACITY, 0.25));
    for (int j = 0; j < 2; j++) {
        CHECK(hitl_router_set_param(r, HITL_PARAM_ROUTE_SCORE,
                                    j ? HITL_ROUTE_SCORE_COST : HITL_ROUTE_SCORE_CONFIDENCE));
        CHECK(hitl_router_evaluate(r, p, y, n));
        CHECK(hitl_router_get_info(&caught[j], r, HITL_ROUTER_INFO_COST_CAUGHT));
    }
    CHECK(hitl_router_set_costs(r, NULL, 0, 0));
    free(C);
}

/* Errors caught at each rate, and the accepted error-rate cut at the last. */
static void capacity_figures(double *caught, double *cut, hitl_router *r,
                             const float *p, const int32_t *y, size_t n,
                             const hitl_model *m, const hitl_pool *pool,
                             size_t first)
{
    CHECK(hitl_router_set_param(r, HITL_PARAM_ROUTE_MODE, HITL_ROUTE_CAPACITY));
    CHECK(hitl_router_set_param(r, HITL_PARAM_ROUTE_THRESHOLD, INFINITY));
    for (size_t k = 0; k < N_RATES; k++) {
        double e, acc, ne;
        CHECK(hitl_router_set_param(r, HITL_PARAM_ROUTE_CAPACITY, RATES[k]));
        if (pool)
            CHECK(hitl_router_evaluate_pool(r, m, pool, first, n));
        else
            CHECK(hitl_router_evaluate(r, p, y, n));
        CHECK(hitl_router_get_info(&caught[k], r, HITL_ROUTER_INFO_ERRORS_CAUGHT));
        CHECK(hitl_router_get_info(&e, r, HITL_ROUTER_INFO_N_ERRORS_ACCEPTED));
        CHECK(hitl_router_get_info(&acc, r, HITL_ROUTER_INFO_N_ACCEPTED));
        CHECK(hitl_router_get_info(&ne, r, HITL_ROUTER_INFO_N_ERRORS));
        if (k + 1 == N_RATES)
            *cut = ne > 0 ? 1 - (e / acc) / (ne / (double)n) : 1;
    }
}

static void route_seed(route_figs *f, const dataset *ds, uint64_t seed)
{
    split sp;
    make_split(&sp, ds, seed);
    size_t d = sp.dim, K = ds->n_classes, nh[2] = { 0, 0 };
    size_t n_all = sp.n_pool + sp.n_test;
    float *x = ds_calloc(n_all * d, sizeof *x);
    int32_t *y = ds_calloc(n_all, sizeof *y);
    memcpy(x, sp.pool_x, sp.n_pool * d * sizeof *x);
    memcpy(y, sp.pool_y, sp.n_pool * sizeof *y);
    for (size_t h = 0; h < 2; h++)          /* [pool][calibration][evaluation] */
        for (size_t i = h; i < sp.n_test; i += 2) {
            size_t at = sp.n_pool + (h ? (sp.n_test + 1) / 2 : 0) + nh[h]++;
            memcpy(x + at * d, sp.test_x + i * d, d * sizeof *x);
            y[at] = sp.test_y[i];
        }
    size_t cal = sp.n_pool, ev = sp.n_pool + nh[0];
    hitl_pool *pool;
    hitl_model *m;
    hitl_router *r;
    CHECK(hitl_pool_create(&pool, d));
    CHECK(hitl_pool_add(pool, x, n_all, d, NULL));
    for (size_t i = 0; i < sp.n_pool; i++)
        CHECK(hitl_pool_set_label(pool, i, y[i]));
    CHECK(hitl_model_create_logreg(&m, d, K));
    CHECK(hitl_model_set_param(m, HITL_PARAM_L2, L2));
    CHECK(hitl_model_fit(m, pool));
    float *p = ds_calloc(n_all * K, sizeof *p);
    CHECK(hitl_model_predict(p, m, x, n_all, d));
    for (size_t i = cal; i < ev; i++)
        CHECK(hitl_pool_set_label(pool, i, y[i]));

    CHECK(hitl_router_create(&r, K));
    capacity_figures(f->caught[0], &f->cut[0], r, p + ev * K, y + ev, nh[1],
                     NULL, NULL, 0);
    CHECK(hitl_router_fit_temperature(r, p + cal * K, y + cal, nh[0]));
    capacity_figures(f->caught[1], &f->cut[1], r, p + ev * K, y + ev, nh[1],
                     NULL, NULL, 0);
    CHECK(hitl_router_set_param(r, HITL_PARAM_ROUTE_SCORE, HITL_ROUTE_SCORE_COST));
    CHECK(hitl_router_set_param(r, HITL_PARAM_ROUTE_DECISION, HITL_ROUTE_DECIDE_COST));
    capacity_figures(f->caught[2], &f->cut[2], r, p + ev * K, y + ev, nh[1],
                     NULL, NULL, 0);
    CHECK(hitl_router_set_param(r, HITL_PARAM_ROUTE_DECISION, HITL_ROUTE_DECIDE_PROBABLE));
    costly_figures(f->cost_caught, r, p + ev * K, y + ev, nh[1], K);
    CHECK(hitl_router_set_param(r, HITL_PARAM_ROUTE_SCORE, HITL_ROUTE_SCORE_DETECTOR));
    CHECK(hitl_router_fit_detector(r, m, pool, cal, nh[0]));
    CHECK(hitl_router_get_info(&f->active, r, HITL_ROUTER_INFO_DETECTOR_ACTIVE));
    CHECK(hitl_router_get_info(&f->errors, r, HITL_ROUTER_INFO_DETECTOR_ERRORS));
    for (size_t i = ev; i < n_all; i++)
        CHECK(hitl_pool_set_label(pool, i, y[i]));
    capacity_figures(f->caught[3], &f->cut[3], r, NULL, NULL, nh[1], m, pool, ev);
    hitl_router_free(r);
    hitl_model_free(m);
    hitl_pool_free(pool);
    free(p);
    free(x);
    free(y);
    free_split(&sp);
}

typedef struct route_verdict {
    const char *name;
    double caught25, conf25, cut30;
} route_verdict;

static void evaluate_routing(route_verdict *v, const dataset *ds, size_t seed0,
                             size_t seeds)
{
    route_figs *f = ds_calloc(seeds, sizeof *f);
    double t0 = ds_seconds();
    for (size_t s = 0; s < seeds; s++)
        route_seed(&f[s], ds, seed0 + s);
    printf("== routing on %s: errors caught when the lowest-scored share of the "
           "evaluation half goes to review (%zu seeds, %.1f s)\n", ds->name, seeds,
           ds_seconds() - t0);
    printf("%-20s %15s %15s %15s %17s\n", "score", "caught @10%", "caught @25%",
           "caught @30%", "accepted err cut");
    for (size_t j = 0; j < N_METHODS; j++) {
        double m[N_RATES + 1], sd[N_RATES + 1], col[64];
        for (size_t k = 0; k <= N_RATES; k++) {
            for (size_t s = 0; s < seeds && s < 64; s++)
                col[s] = k < N_RATES ? f[s].caught[j][k] : f[s].cut[j];
            mean_sd(&m[k], &sd[k], col, seeds < 64 ? seeds : 64);
        }
        printf("%-20s", METHODS[j]);
        for (size_t k = 0; k <= N_RATES; k++)
            printf("   %5.1f%% +- %4.1f", 100 * m[k], 100 * sd[k]);
        printf("\n");
        if (j == 0)
            v->conf25 = m[1];
        if (j == N_METHODS - 1) {
            v->caught25 = m[1];
            v->cut30 = m[N_RATES];
        }
    }
    double active = 0, errors = 0, cc[2] = { 0, 0 };
    for (size_t s = 0; s < seeds; s++) {
        active += f[s].active;
        errors += f[s].errors / (double)seeds;
        for (int j = 0; j < 2; j++)
            cc[j] += f[s].cost_caught[j] / (double)seeds;
    }
    printf("(accepted err cut: 1 - error rate of the accepted items at 30%% review "
           "/ the model's error rate;\n the detector was fitted on %.0f of %zu seeds, "
           "with %.0f errors among the reviewed items on average%s)\n", active, seeds,
           errors, active < (double)seeds ? ";\n on the others it had too few errors "
           "and the score fell back to the scaled confidence" : "");
    printf("costly errors: with an error on a class-0 item costing %.0f (1 otherwise), "
           "25%% review\ncatches %.1f%% of the errors' cost ranked by scaled "
           "confidence, %.1f%% ranked by expected cost\n\n", COSTLY, 100 * cc[0],
           100 * cc[1]);
    v->name = ds->name;
    free(f);
}

static void routing_targets(const route_verdict *v, size_t n)
{
    size_t c90 = 0, c80 = 0, below = 0;
    for (size_t k = 0; k < n; k++) {
        c90 += v[k].caught25 >= 0.90;
        c80 += v[k].cut30 >= 0.80;
        below += v[k].caught25 < v[k].conf25;
        printf("%-20s learned detector: %.1f%% caught at 25%% review (raw "
               "confidence %.1f%%), accepted error rate cut %.1f%% at 30%%\n",
               v[k].name, 100 * v[k].caught25, 100 * v[k].conf25, 100 * v[k].cut30);
    }
    double half = (double)n / 2;
    printf("target sets-catching-90%%-at-25%%-review: %zu (goal >= %.1f): %s\n", c90,
           half, (double)c90 >= half ? "ok" : "MISSED");
    printf("target sets-below-plain-confidence-at-25%%: %zu (goal == 0): %s\n", below,
           below == 0 ? "ok" : "MISSED");
    printf("target sets-cutting-accepted-errors-80%%-at-30%%: %zu (goal >= %.1f): %s\n",
           c80, half, (double)c80 >= half ? "ok" : "MISSED");
}

/* ---- main -------------------------------------------------------------------------- */

static const char *DEFAULT_SPECS[] = {
    "random", "least-confident", "margin", "entropy", "egl", "qbc-vote", "qbc-kl",
    "kcenter", "ranked", "density", "hybrid", "default",
};

static size_t count_arg(const char *opt, const char *arg)
{
    char *end;
    unsigned long v = arg ? strtoul(arg, &end, 10) : 0;
    if (!arg || *end || v == 0 || v > 100000)
        ds_fail("%s needs an integer in 1..100000", opt);
    return (size_t)v;
}

int main(int argc, char **argv)
{
    ds_program = "eval";
    size_t seeds = 5, seed0 = 1, rounds = 30, batch = 0, n_specs = 0, n_sets = 0;
    int strategies = 1, routing = 1;
    static spec specs[MAX_SPECS];
    const char *sets[64];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds")) {
            seeds = count_arg("--seeds", argv[++i]);
        } else if (!strcmp(argv[i], "--first-seed")) {
            seed0 = count_arg("--first-seed", argv[++i]);
        } else if (!strcmp(argv[i], "--rounds")) {
            rounds = count_arg("--rounds", argv[++i]);
        } else if (!strcmp(argv[i], "--batch")) {
            batch = count_arg("--batch", argv[++i]);
        } else if (!strcmp(argv[i], "--routing-only")) {
            strategies = 0;
        } else if (!strcmp(argv[i], "--no-routing")) {
            routing = 0;
        } else if (!strcmp(argv[i], "--strategies") && i + 1 < argc) {
            char *list = argv[++i], *tok;
            char *save = NULL;
            for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (n_specs == MAX_SPECS)
                    ds_fail("too many strategies");
                parse_spec(&specs[n_specs++], tok);
            }
        } else if (argv[i][0] == '-') {
            ds_fail("usage: eval [--seeds S] [--first-seed F] [--rounds R] [--batch B] "
                "[--strategies SPEC,...] [--routing-only | --no-routing] DATA.csv.gz|TEXT.tsv.gz ...");
        } else if (n_sets < 64) {
            sets[n_sets++] = argv[i];
        }
    }
    if (n_sets == 0)
        ds_fail("name at least one data set (e.g. data/digits.csv.gz)");
    if (n_specs == 0)
        for (size_t j = 0; j < sizeof DEFAULT_SPECS / sizeof DEFAULT_SPECS[0]; j++)
            parse_spec(&specs[n_specs++], DEFAULT_SPECS[j]);

    double t0 = ds_seconds();
    printf("libhitl %s strategy evaluation: logistic regression (L2 %g, text %g), "
           "features standardised (text: TF-IDF rows as they are); mean +- sd over "
           "seeds %zu..%zu\n\n", hitl_version(), L2, L2_TEXT, seed0, seed0 + seeds - 1);
    verdict vd[64];
    route_verdict rv[64];
    size_t n_rv = 0;
    int failed = 0;
    for (size_t k = 0; k < n_sets; k++) {
        dataset ds;
        if (ds_is_text(sets[k]))
            ds_load_text(&ds, sets[k], 65535);
        else
            ds_load(&ds, sets[k], -1, 65535);
        vd[k].ok = -1;
        if (strategies)
            evaluate(&vd[k], &ds, specs, n_specs, seed0, seeds, rounds, batch);
        if (routing && ds.x) /* the routing study reads dense rows */
            evaluate_routing(&rv[n_rv++], &ds, seed0, seeds);
        ds_free(&ds);
    }
    if (routing)
        routing_targets(rv, n_rv);
    for (size_t k = 0; k < n_sets; k++)
        if (vd[k].ok >= 0) {
            printf("%-20s default %s random (curve area %+.4f, ahead on %zu/%zu seeds)\n",
                   vd[k].name, vd[k].ok ? ">=" : "<", vd[k].gap, vd[k].wins, vd[k].seeds);
            failed |= !vd[k].ok;
        }
    printf("done in %.0f s\n", ds_seconds() - t0);
    return failed ? 1 : 0;
}
