/*
 * libhitl strategy evaluation: learning curves of every query strategy on the
 * real data sets shipped in data/, over several seeds (`make eval`).
 *
 *   eval [--seeds S] [--first-seed F] [--rounds R] [--batch B]
 *        [--strategies SPEC,...] DATA.csv.gz|TEXT.tsv.gz ...
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
 * many did).  Last, for each data set, whether DEFAULT's area is at least
 * RANDOM's; the exit status is 1 if it is not on some set.
 *
 * A strategy SPEC is a kind name with optional parameters, e.g.
 *   hybrid:base=entropy:beta=5   density:anchors=256:exp=2   qbc-kl:members=9
 * Kinds: random least-confident margin entropy qbc-vote qbc-consensus qbc-kl
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
                         size_t rounds, uint64_t seed)
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
    split sp;

    for (size_t s = 0; s < seeds; s++) {
        make_split(&sp, ds, seed0 + s);
        full[s] = full_accuracy(&sp, K);
        for (size_t j = 0; j < n_specs; j++) {
            double t0 = ds_seconds();
            run_strategy(&r, &specs[j], &sp, K, batch, rounds, seed0 + s);
            secs[j] += ds_seconds() - t0;
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
    printf("\n");
    fflush(stdout);
    free(area);
    free(final);
    free(reach);
    free(full);
    free(secs);
    free(r.acc);
    free(r.labels);
}

/* ---- main -------------------------------------------------------------------------- */

static const char *DEFAULT_SPECS[] = {
    "random", "least-confident", "margin", "entropy", "qbc-vote", "qbc-kl",
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
                "[--strategies SPEC,...] DATA.csv.gz|TEXT.tsv.gz ...");
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
    int failed = 0;
    for (size_t k = 0; k < n_sets; k++) {
        dataset ds;
        if (ds_is_text(sets[k]))
            ds_load_text(&ds, sets[k], 65535);
        else
            ds_load(&ds, sets[k], -1, 65535);
        evaluate(&vd[k], &ds, specs, n_specs, seed0, seeds, rounds, batch);
        ds_free(&ds);
    }
    for (size_t k = 0; k < n_sets; k++)
        if (vd[k].ok >= 0) {
            printf("%-20s default %s random (curve area %+.4f, ahead on %zu/%zu seeds)\n",
                   vd[k].name, vd[k].ok ? ">=" : "<", vd[k].gap, vd[k].wins, vd[k].seeds);
            failed |= !vd[k].ok;
        }
    printf("done in %.0f s\n", ds_seconds() - t0);
    return failed ? 1 : 0;
}
