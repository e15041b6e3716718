/*
 * bench_query: the cost of a query against the floor of reading the pool.
 *
 *   bench/bench_query [N [dim [classes [threads [repeats]]]]]
 *   defaults 1000000 128 10 0 (one per online CPU) 5
 *
 * Builds a synthetic pool of N x dim float32 rows, lent to the pool without a
 * copy (hitl_pool_add_borrowed), and a built-in model fitted on 1000 rows
 * labelled by a random linear teacher.  Then, interleaved and best of
 * `repeats` each, times in the same run:
 *   - a vectorised read-once pass over the same matrix (sum of every float,
 *     split over the same number of threads as the query: the floor);
 *   - hitl_query with k = 100 for ENTROPY, LEAST_CONFIDENT and MARGIN;
 * and prints the times, their ratio to the read pass, GB/s, peak RSS against
 * the pool's size, OpenBLAS's core name and threads, and libhitl's threads.
 * Not part of make check: run it with `make bench-query` (or `make bench`).
 */
#define _DEFAULT_SOURCE 1 /* getloadavg */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hitl.h"

#define K_QUERY 100
#define N_LABELED 1000

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of the whole process (all threads): when other programs load
 * the machine, wall time includes waiting for a CPU and this does not. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct timing {
    double wall, cpu;           /* best of the repeats, each */
} timing;

static void keep_best(timing *best, double wall, double cpu)
{
    if (wall < best->wall)
        best->wall = wall;
    if (cpu < best->cpu)
        best->cpu = cpu;
}

static void die(const char *what, int st)
{
    fprintf(stderr, "bench_query: %s failed: %s (%s)\n", what, hitl_strerror(st),
            hitl_error_message());
    exit(1);
}
#define TRY(call) do { int st_ = (call); if (st_ != HITL_OK) die(#call, st_); } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) /* xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}
static float next_float(void) /* uniform in [-1, 1) */
{
    return (float)(next_u64() >> 40) * 0x1.0p-23f - 1.0f;
}

/* ---- the floor: bench/readpass.h ------------------------------------------------ */

#include "readpass.h"

/* ---- the model --------------------------------------------------------------------- */

/* A model fitted on the first N_LABELED rows, labelled by the argmax of a
 * random linear teacher, so the probabilities are those of a real fit. */
static hitl_model *fitted_model(hitl_pool *pool, const float *X, size_t dim, size_t K)
{
    float *T = malloc(dim * K * sizeof *T);
    for (size_t i = 0; i < dim * K; i++)
        T[i] = next_float();
    size_t labeled = N_LABELED;
    for (size_t i = 0; i < labeled; i++) {
        size_t best = 0;
        double top = -INFINITY;
        for (size_t c = 0; c < K; c++) {
            double z = 0;
            for (size_t j = 0; j < dim; j++)
                z += (double)X[i * dim + j] * T[j * K + c];
            if (z > top) {
                top = z;
                best = c;
            }
        }
        TRY(hitl_pool_set_label(pool, i, (int32_t)(i < K ? i : best)));
    }
    free(T);
    hitl_model *m;
    TRY(hitl_model_create_logreg(&m, dim, K));
    TRY(hitl_model_set_param(m, HITL_PARAM_L2, 10.0));
    TRY(hitl_model_set_param(m, HITL_PARAM_MAX_ITER, 200));
    double t0 = now();
    TRY(hitl_model_fit(m, pool));
    double gn, it;
    TRY(hitl_model_get_info(&gn, m, HITL_INFO_GRAD_NORM));
    TRY(hitl_model_get_info(&it, m, HITL_INFO_ITERATIONS));
    printf("model: logistic regression fitted on %zu labeled rows in %.2f s "
           "(%g iterations, gradient norm %.1e)\n", labeled, now() - t0, it, gn);
    return m;
}

static double time_query(hitl_strategy *s, const hitl_model *m, const hitl_pool *p,
                         size_t *idx, double *scores)
{
    size_t count;
    double t0 = now();
    TRY(hitl_query(&count, idx, NULL, scores, s, m, p, K_QUERY));
    double t = now() - t0;
    if (count != K_QUERY) {
        fprintf(stderr, "bench_query: the query returned %zu items, not %d\n", count,
                K_QUERY);
        exit(1);
    }
    return t;
}

static size_t arg(int argc, char **argv, int i, size_t dflt)
{
    if (argc <= i)
        return dflt;
    char *end;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (*end || end == argv[i]) {
        fprintf(stderr, "usage: bench_query [N [dim [classes [threads [repeats]]]]]\n");
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv)
{
    size_t N = arg(argc, argv, 1, 1000000), dim = arg(argc, argv, 2, 128);
    size_t K = arg(argc, argv, 3, 10), threads = arg(argc, argv, 4, 0);
    size_t reps = arg(argc, argv, 5, 5);
    if (N < N_LABELED + K_QUERY || dim == 0 || K < 2 || reps == 0) {
        fprintf(stderr, "bench_query: need N >= %d, dim >= 1, classes >= 2\n",
                N_LABELED + K_QUERY);
        return 2;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t T = threads ? threads : (size_t)(cpus > 0 ? cpus : 1);
    if (T > 256)
        T = 256;
    double pool_mib = (double)N * (double)dim * sizeof(float) / (1 << 20);
    printf("bench_query: libhitl %s, N %zu, dim %zu, classes %zu, k %d, best of %zu\n",
           hitl_version(), N, dim, K, K_QUERY, reps);
    printf("threads: libhitl %zu (HITL_PARAM_THREADS %zu), read pass %zu; OpenBLAS %s, "
           "%d threads; %ld online CPUs\n", T, threads, T, openblas_get_corename(),
           openblas_get_num_threads(), cpus);
    printf("cpu: avx512f %s, avx2 %s\n", __builtin_cpu_supports("avx512f") ? "yes" : "no",
           __builtin_cpu_supports("avx2") ? "yes" : "no");
    double la[3];
    if (getloadavg(la, 3) == 3)
        printf("load average before: %.2f %.2f %.2f\n", la[0], la[1], la[2]);

    float *X = malloc(N * dim * sizeof *X);
    if (!X) {
        fprintf(stderr, "bench_query: no memory for the %.0f MiB pool\n", pool_mib);
        return 1;
    }
    for (size_t i = 0; i < N * dim; i++)
        X[i] = next_float();
    hitl_pool *pool;
    TRY(hitl_pool_create(&pool, dim));
    TRY(hitl_pool_add_borrowed(pool, X, N, dim, NULL));
    hitl_model *m = fitted_model(pool, X, dim, K);
    TRY(hitl_model_set_param(m, HITL_PARAM_THREADS, (double)threads));

    static const struct { hitl_strategy_kind kind; const char *name; } kinds[] = {
        { HITL_STRATEGY_ENTROPY, "entropy" },
        { HITL_STRATEGY_LEAST_CONFIDENT, "least-confident" },
        { HITL_STRATEGY_MARGIN, "margin" },
    };
    enum { NK = sizeof kinds / sizeof *kinds };
    hitl_strategy *s[NK];
    for (size_t i = 0; i < NK; i++)
        TRY(hitl_strategy_create(&s[i], kinds[i].kind));
    size_t idx[K_QUERY];
    double scores[K_QUERY], sum = 0;
    timing best_read = { INFINITY, INFINITY }, best[NK];
    for (size_t i = 0; i < NK; i++)
        best[i] = best_read;
    for (size_t r = 0; r < reps; r++) { /* interleaved, so load hits all alike */
        double c0 = cpu_now(), w = read_pass(X, N * dim, T, &sum);
        keep_best(&best_read, w, cpu_now() - c0);
        for (size_t i = 0; i < NK; i++) {
            c0 = cpu_now();
            w = time_query(s[i], m, pool, idx, scores);
            keep_best(&best[i], w, cpu_now() - c0);
        }
    }
    double gb = (double)N * (double)dim * sizeof(float) / 1e9;
    printf("\n%-22s %10s %8s %8s %12s %8s\n", "", "ms", "GB/s", "x read", "cpu ms", "x read");
    printf("%-22s %10.2f %8.1f %8.2f %12.2f %8.2f   (sum %.6g)\n", "read pass (floor)",
           1e3 * best_read.wall, gb / best_read.wall, 1.0, 1e3 * best_read.cpu, 1.0, sum);
    for (size_t i = 0; i < NK; i++) {
        char name[40];
        snprintf(name, sizeof name, "%s query", kinds[i].name);
        printf("%-22s %10.2f %8.1f %8.2f %12.2f %8.2f\n", name, 1e3 * best[i].wall,
               gb / best[i].wall, best[i].wall / best_read.wall, 1e3 * best[i].cpu,
               best[i].cpu / best_read.cpu);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mib = (double)ru.ru_maxrss / 1024;
    printf("\npeak RSS %.1f MiB = pool %.1f MiB + %.1f MiB (target: + 64 MiB at most)\n",
           rss_mib, pool_mib, rss_mib - pool_mib);
    printf("target (N 1e6, dim 128, 10 classes): entropy query <= 2.5 x read pass: "
           "%.2f x (wall), %.2f x (cpu)\n", best[0].wall / best_read.wall,
           best[0].cpu / best_read.cpu);
    if (getloadavg(la, 3) == 3)
        printf("load average after: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
    for (size_t i = 0; i < NK; i++)
        hitl_strategy_free(s[i]);
    hitl_model_free(m);
    hitl_pool_free(pool);
    free(X);
    return 0;
}
