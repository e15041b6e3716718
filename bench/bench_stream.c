/*
 * bench_stream: stream selection's decisions per second on one core, scoring
 * included, for a dense model.
 *
 *   bench_stream [N [d [K [batch]]]]     (default 1000000 128 10 4096)
 *
 * N rows of d float32 features (uniform, seeded) arrive in batches of
 * `batch`; a logistic regression of K classes, fitted beforehand on 5000
 * labeled rows, scores them and each stream kind decides them
 * (hitl_stream_decide_rows, on the calling thread).  Timed, best of 3:
 *   read pass      every float of the N x d matrix summed on one thread
 *                  (bench/readpass.h): the floor of anything that reads X;
 *   each kind      decisions per second and the ratio to the read pass;
 *   decide only    hitl_stream_decide on precomputed probabilities (the
 *                  rules alone, VARIABLE_UNCERTAINTY and QUANTILE_FILTER).
 * Target: >= 1,000,000 decisions per second for every kind.  With --batch-us
 * it prints only the microseconds one batch of every kind takes (what
 * bench/bench_python.py compares the Python call with).  Not a test.
 */
#define BENCH_NAME "bench_stream"
#include "benchcheck.h"
#include "readpass.h"

#include <math.h>
#include <stdint.h>

static const struct { hitl_stream_kind kind; const char *name; } KINDS[] = {
    { HITL_STREAM_RANDOM, "random" },
    { HITL_STREAM_FIXED_UNCERTAINTY, "fixed uncertainty" },
    { HITL_STREAM_VARIABLE_UNCERTAINTY, "variable uncertainty" },
    { HITL_STREAM_RANDOMIZED_UNCERTAINTY, "randomized uncertainty" },
    { HITL_STREAM_SPLIT, "split" },
    { HITL_STREAM_QUANTILE_FILTER, "quantile filter (BIQF)" },
    { HITL_STREAM_IWAL, "IWAL" },
};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

static uint64_t seed_state = 12345;
static float unit(void)
{
    uint64_t z = (seed_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (float)((z ^ (z >> 31)) >> 40) * 0x1.0p-24f;
}

static hitl_model *fitted_model(size_t d, size_t K)
{
    const size_t n = 5000;
    float *X = malloc(n * d * sizeof *X);
    hitl_pool *pool;
    CHECK(hitl_pool_create(&pool, d));
    for (size_t i = 0; i < n * d; i++)
        X[i] = 2 * unit() - 1;
    CHECK(hitl_pool_add(pool, X, n, d, NULL));
    for (size_t i = 0; i < n; i++) {   /* class: which of the first K features is largest */
        size_t best = 0;
        for (size_t c = 1; c < K && c < d; c++)
            best = X[i * d + c] > X[i * d + best] ? c : best;
        CHECK(hitl_pool_set_label(pool, i, (int32_t)best));
    }
    hitl_model *m;
    CHECK(hitl_model_create_logreg(&m, d, K));
    CHECK(hitl_model_set_param(m, HITL_PARAM_MAX_ITER, 50));
    CHECK(hitl_model_fit(m, pool));
    CHECK(hitl_model_set_param(m, HITL_PARAM_THREADS, 1));
    hitl_pool_free(pool);
    free(X);
    return m;
}

/* Seconds for the whole stream, best of `reps`. */
static double time_rows(hitl_stream_kind kind, const hitl_model *m, const float *X, size_t n,
                        size_t d, size_t batch, uint8_t *ask, float *wt, int reps,
                        size_t *asked_out)
{
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        hitl_stream *s;
        CHECK(hitl_stream_create(&s, kind));
        size_t asked = 0;
        double t0 = readpass_now();
        for (size_t i = 0; i < n; i += batch) {
            size_t b = n - i < batch ? n - i : batch, a;
            CHECK(hitl_stream_decide_rows(&a, ask, wt, s, m, X + i * d, b, d));
            asked += a;
        }
        double t = readpass_now() - t0;
        best = t < best ? t : best;
        *asked_out = asked;
        hitl_stream_free(s);
    }
    return best;
}

static double time_proba(hitl_stream_kind kind, const float *P, size_t n, size_t K,
                         size_t batch, uint8_t *ask, float *wt)
{
    double best = INFINITY;
    for (int r = 0; r < 3; r++) {
        hitl_stream *s;
        CHECK(hitl_stream_create(&s, kind));
        double t0 = readpass_now();
        for (size_t i = 0; i < n; i += batch) {
            size_t b = n - i < batch ? n - i : batch;
            CHECK(hitl_stream_decide(NULL, ask, wt, s, P + i * K, b, K));
        }
        double t = readpass_now() - t0;
        best = t < best ? t : best;
        hitl_stream_free(s);
    }
    return best;
}

int main(int argc, char **argv)
{
    int batch_us = argc > 1 && strcmp(argv[1], "--batch-us") == 0;
    if (batch_us) {
        argv++;
        argc--;
    }
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    size_t d = argc > 2 ? strtoull(argv[2], NULL, 10) : 128;
    size_t K = argc > 3 ? strtoull(argv[3], NULL, 10) : 10;
    size_t batch = argc > 4 ? strtoull(argv[4], NULL, 10) : 4096;
    if (!n || !d || K < 2 || !batch) {
        fprintf(stderr, "usage: bench_stream [--batch-us] [N [d [K [batch]]]]\n");
        return 2;
    }
    float *X = malloc(n * d * sizeof *X);
    uint8_t *ask = malloc(batch);
    float *wt = malloc(batch * sizeof *wt);
    if (!X || !ask || !wt)
        bench_die("malloc", HITL_ENOMEM);
    for (size_t i = 0; i < n * d; i++)
        X[i] = 2 * unit() - 1;
    hitl_model *m = fitted_model(d, K);
    size_t asked;
    if (batch_us) {   /* one line per kind: name, microseconds per batch */
        for (size_t k = 0; k < N_KINDS; k++) {
            double t = time_rows(KINDS[k].kind, m, X, n, d, batch, ask, wt, 5, &asked);
            printf("%d %.3f\n", (int)KINDS[k].kind, 1e6 * t / ceil((double)n / batch));
        }
        return 0;
    }

    double sum, read = INFINITY;
    for (int r = 0; r < 3; r++) {
        double t = read_pass(X, n * d, 1, &sum);
        read = t < read ? t : read;
    }
    printf("stream selection: N = %zu rows, d = %zu, K = %zu, batches of %zu, one thread\n",
           n, d, K, batch);
    printf("read pass (one thread): %.1f ms (checksum %.3g)\n\n", 1e3 * read, sum);
    printf("%-26s %10s %14s %11s %9s\n", "kind (rows, scored)", "ms", "decisions/s",
           "read ratio", "asked");
    int fail = 0;
    double worst = INFINITY;
    for (size_t k = 0; k < N_KINDS; k++) {
        double t = time_rows(KINDS[k].kind, m, X, n, d, batch, ask, wt, 3, &asked);
        double rate = (double)n / t;
        worst = rate < worst ? rate : worst;
        printf("%-26s %10.1f %14.0f %11.2f %8.2f%%\n", KINDS[k].name, 1e3 * t, rate,
               t / read, 100.0 * (double)asked / (double)n);
    }

    /* the rules alone, on probabilities computed beforehand */
    const size_t np = n < 1000000 ? n : 1000000;
    float *P = malloc(np * K * sizeof *P);
    CHECK(hitl_model_predict(P, m, X, np, d));
    printf("\ndecide only (probabilities given), %zu items:\n", np);
    const hitl_stream_kind alone[] = { HITL_STREAM_VARIABLE_UNCERTAINTY,
                                       HITL_STREAM_QUANTILE_FILTER, HITL_STREAM_IWAL };
    for (int k = 0; k < 3; k++) {
        double t = time_proba(alone[k], P, np, K, batch, ask, wt);
        printf("  kind %d: %.0f decisions/s\n", (int)alone[k], (double)np / t);
    }
    free(P);
    fail = worst < 1e6;
    printf("\ntarget stream decisions/s, d = %zu, K = %zu, scoring included (slowest kind): "
           "%.0f (goal >= 1000000): %s\n", d, K, worst, fail ? "MISSED" : "ok");
    hitl_model_free(m);
    free(X);
    free(ask);
    free(wt);
    return fail ? 3 : 0;
}
