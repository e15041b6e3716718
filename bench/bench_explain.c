/* bench_explain: explaining pool rows against scoring them, in the same run.
 * Dense rows (the sparse target, 100 non-zeros, is for the sparse pool).
 * Usage: bench_explain [N dim classes top threads repeats]; defaults
 * 100000 100 10 5 1 5.  Prints the best of `repeats` for each and the ratio,
 * then the target line.  With one thread (the default) the times are the
 * calling thread's CPU time, which the other loads of a shared machine do
 * not inflate; with more, wall-clock time. */
#include "hitl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int cpu_clock;

static double now(void)
{
    struct timespec ts;
    clock_gettime(cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int check(int st, const char *what)
{
    if (st != HITL_OK) {
        fprintf(stderr, "%s: %s\n", what, hitl_error_message());
        exit(1);
    }
    return st;
}

int main(int argc, char **argv)
{
    size_t N = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    size_t d = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;
    size_t K = argc > 3 ? strtoul(argv[3], NULL, 10) : 10;
    size_t top = argc > 4 ? strtoul(argv[4], NULL, 10) : 5;
    double threads = argc > 5 ? atof(argv[5]) : 1;
    int reps = argc > 6 ? atoi(argv[6]) : 5;
    float *X = malloc(N * d * sizeof *X);
    uint64_t s = 42;
    for (size_t i = 0; i < N * d; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        X[i] = (float)((s >> 40) / 16777216.0 - 0.5) + ((i / d) % K == (i % d) % K);
    }
    hitl_pool *pool;
    hitl_model *m;
    check(hitl_pool_create(&pool, d), "pool");
    check(hitl_pool_add_borrowed(pool, X, N, d, NULL), "add");
    for (size_t i = 0; i < N; i += 10)
        check(hitl_pool_set_label(pool, i, (int32_t)((i / 10) % K)), "label");
    check(hitl_model_create_logreg(&m, d, K), "model");
    check(hitl_model_set_param(m, HITL_PARAM_THREADS, threads), "threads");
    check(hitl_model_set_param(m, HITL_PARAM_MAX_ITER, 50), "iter");
    check(hitl_model_fit(m, pool), "fit");
    float *proba = malloc(N * K * sizeof *proba), *scores = malloc(N * K * sizeof *scores);
    float *contrib = malloc(2 * N * top * sizeof *contrib), *rest = malloc(4 * N * sizeof *rest);
    int32_t *classes = malloc(2 * N * sizeof *classes);
    int32_t *features = malloc(2 * N * top * sizeof *features);
    double t_score = 1e30, t_explain = 1e30;
    cpu_clock = threads == 1;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        check(hitl_model_predict_pool(proba, m, pool, 0, N), "predict");
        double t1 = now();
        check(hitl_model_explain_pool(scores, proba, classes, features, contrib, rest, m, pool,
                                      0, N, top), "explain");
        double t2 = now();
        if (t1 - t0 < t_score)
            t_score = t1 - t0;
        if (t2 - t1 < t_explain)
            t_explain = t2 - t1;
    }
    double ratio = t_explain / t_score;
    printf("N %zu, dim %zu (dense), K %zu, top %zu, threads %g: best of %d (%s time)\n", N, d,
           K, top, threads, reps, cpu_clock ? "thread CPU" : "wall-clock");
    printf("score (hitl_model_predict_pool):   %8.2f ms\n", t_score * 1e3);
    printf("explain (hitl_model_explain_pool): %8.2f ms  (%.2f x scoring)\n", t_explain * 1e3,
           ratio);
    printf("target explain_dense_vs_score: %.2f (goal <= 3): %s\n", ratio,
           ratio <= 3 ? "ok" : "MISSED");
    free(proba);
    free(scores);
    free(contrib);
    free(rest);
    free(classes);
    free(features);
    hitl_model_free(m);
    hitl_pool_free(pool);
    free(X);
    return 0;
}
