/*
 * The demo's stream section: items arrive in batches of 50 (the pool part of
 * the data set, in the split's random order) and, for each, a hitl_stream
 * decides at once whether a person labels it, within a budget of 10%.  The
 * model is refitted after every batch; a hitl_stopper watches the rounds.
 * One row per stream kind: labels asked, the realised rate, test accuracy
 * after 400 items and at the end; then the batch after which each stopping
 * criterion would have stopped the variable-uncertainty run.
 */
#include "demo_stream.h"

#include "hitl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define BATCH 50
#define BUDGET 0.1

#define TRY(call)                                                              \
    do {                                                                       \
        int st_ = (call);                                                      \
        if (st_ != HITL_OK) {                                                  \
            fprintf(stderr, "demo: %s: %s: %s\n", #call, hitl_strerror(st_),    \
                    hitl_error_message());                                     \
            goto fail;                                                         \
        }                                                                      \
    } while (0)

typedef struct arrivals {
    const dataset *ds;
    const float *x_pool, *x_test;
    const size_t *pool_idx, *test_idx;
    size_t n_pool, n_test;
} arrivals;

static int accuracy(double *acc, const hitl_model *m, const arrivals *a)
{
    size_t K = a->ds->n_classes, right = 0;
    float *P = malloc(a->n_test * K * sizeof *P);
    if (!P)
        return -1;
    TRY(hitl_model_predict(P, m, a->x_test, a->n_test, a->ds->dim));
    for (size_t i = 0; i < a->n_test; i++) {
        size_t best = 0;
        for (size_t c = 1; c < K; c++)
            best = P[i * K + c] > P[i * K + best] ? c : best;
        right += (int32_t)best == a->ds->y[a->test_idx[i]];
    }
    free(P);
    *acc = (double)right / (double)a->n_test;
    return 0;
fail:
    free(P);
    return -1;
}

/* One run of a stream kind; *stopped (6 entries, may be NULL) = the batch
 * after which each stopping criterion fired. */
static int run(const arrivals *a, hitl_stream_kind kind, uint64_t seed, size_t *stopped)
{
    size_t d = a->ds->dim, K = a->ds->n_classes, asked_total = 0;
    double acc400 = NAN, acc = NAN;
    hitl_pool *pool = NULL;
    hitl_model *m = NULL;
    hitl_stream *s = NULL;
    hitl_stopper *stop = NULL;
    uint8_t ask[BATCH];
    TRY(hitl_pool_create(&pool, d));
    TRY(hitl_model_create_logreg(&m, d, K));
    TRY(hitl_stream_create(&s, kind));
    TRY(hitl_stream_set_param(s, HITL_PARAM_STREAM_BUDGET, BUDGET));
    TRY(hitl_stream_set_param(s, HITL_PARAM_STREAM_SEED, (double)seed));
    TRY(hitl_stopper_create(&stop, K));
    for (size_t first = 0; first < a->n_pool; first += BATCH) {
        size_t n = a->n_pool - first < BATCH ? a->n_pool - first : BATCH, asked;
        TRY(hitl_pool_add(pool, a->x_pool + first * d, n, d, NULL));
        TRY(hitl_stream_decide_pool(&asked, ask, s, m, pool, first, n));
        for (size_t i = 0; i < n; i++)   /* a person answers what was asked */
            if (ask[i])
                TRY(hitl_pool_set_label(pool, first + i, a->ds->y[a->pool_idx[first + i]]));
        asked_total += asked;
        if (asked_total == 0)
            continue;
        TRY(hitl_model_fit(m, pool));
        TRY(hitl_stopper_update(NULL, stop, m, pool));
        if (first + n >= 400 && isnan(acc400) && accuracy(&acc400, m, a) != 0)
            goto fail;
    }
    if (accuracy(&acc, m, a) != 0)
        goto fail;
    double rate;
    TRY(hitl_stream_get_info(&rate, s, HITL_STREAM_INFO_RATE));
    printf("  %-24s %6zu %8.3f %10.4f %10.4f\n", kind == HITL_STREAM_RANDOM ? "random"
           : kind == HITL_STREAM_VARIABLE_UNCERTAINTY ? "variable uncertainty"
           : kind == HITL_STREAM_SPLIT ? "split"
           : kind == HITL_STREAM_QUANTILE_FILTER ? "quantile filter (BIQF)" : "IWAL",
           asked_total, rate, acc400, acc);
    for (int c = 0; stopped && c < 6; c++)
        TRY(hitl_stopper_fired(&stopped[c], stop, (hitl_stop_criterion)(c + 1)));
    hitl_stopper_free(stop);
    hitl_stream_free(s);
    hitl_model_free(m);
    hitl_pool_free(pool);
    return 0;
fail:
    hitl_stopper_free(stop);
    hitl_stream_free(s);
    hitl_model_free(m);
    hitl_pool_free(pool);
    return -1;
}

int demo_section_stream(const dataset *ds, const float *x_pool, const size_t *pool_idx,
                        size_t n_pool, const float *x_test, const size_t *test_idx,
                        size_t n_test, uint64_t seed)
{
    arrivals a = { ds, x_pool, x_test, pool_idx, test_idx, n_pool, n_test };
    const hitl_stream_kind kinds[] = { HITL_STREAM_RANDOM, HITL_STREAM_VARIABLE_UNCERTAINTY,
                                       HITL_STREAM_SPLIT, HITL_STREAM_QUANTILE_FILTER,
                                       HITL_STREAM_IWAL };
    static const char *names[6] = { "stabilizing predictions", "classification change",
                                    "overall uncertainty", "max confidence", "budget",
                                    "performance" };
    size_t stopped[6];
    printf("== items arriving one by one\n%zu items arrive in batches of %d; a stream "
           "decides at once whether a\nperson labels each, within a budget of %.0f%% "
           "(IWAL follows its own rate);\nthe model is refitted after every batch.\n\n"
           "  %-24s %6s %8s %10s %10s\n", n_pool, BATCH, 100 * BUDGET, "stream", "asked",
           "rate", "acc @400", "acc end");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (run(&a, kinds[k], seed, kinds[k] == HITL_STREAM_VARIABLE_UNCERTAINTY ? stopped
                                                                              : NULL) != 0)
            return -1;
    printf("\nstopping, on the variable-uncertainty run (round = batch after which it "
           "would\nhave stopped; 0 = never; the default thresholds):\n ");
    for (int c = 0; c < 6; c++)
        printf(" %s %zu%s", names[c], stopped[c], c == 5 ? "\n\n" : c == 2 ? ",\n " : ",");
    return 0;
}
