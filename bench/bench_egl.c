/*
 * bench_egl: the expected-gradient-length query against a read-once pass
 * over the same matrix, measured in the same run.
 *
 *   bench_egl [N [d [K]]]        (default 1000000 128 10)
 *
 * The pool is N x d float32 rows (uniform, seeded), lent without a copy;
 * 20 items are labeled and a logistic regression is fitted.  Timed, best of
 * 5, wall clock and CPU time of every thread:
 *   read pass   every float summed by the library's number of threads
 *               (bench/readpass.h): the floor any query must pay;
 *   margin      the core uncertainty query (k = 100), for reference;
 *   EGL         HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH, k = 100: scoring,
 *               the rows' norms and O(K) per item in one pass.
 * Target: EGL <= 2.5 x the read pass (wall clock; the CPU-time ratio, not
 * inflated by other processes on a shared machine, is printed beside it).
 * EGL over margin says what EGL itself costs: the scoring pass is the same.
 */
#define BENCH_NAME "bench_egl"
#include "benchcheck.h"
#include "readpass.h"

#include <stdint.h>
#include <unistd.h>

#define K_QUERY 100

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct timing {
    double wall, cpu;
} timing;

static timing time_query(hitl_strategy *s, const hitl_model *m, const hitl_pool *pool)
{
    size_t count, idx[K_QUERY];
    timing best = { 1e30, 1e30 };
    for (int r = 0; r < 5; r++) {
        double t0 = readpass_now(), c0 = cpu_now();
        CHECK(hitl_query(&count, idx, NULL, NULL, s, m, pool, K_QUERY));
        double dt = readpass_now() - t0, dc = cpu_now() - c0;
        best.wall = dt < best.wall ? dt : best.wall;
        best.cpu = dc < best.cpu ? dc : best.cpu;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    size_t d = argc > 2 ? strtoull(argv[2], NULL, 10) : 128;
    size_t K = argc > 3 ? strtoull(argv[3], NULL, 10) : 10;
    if (n < 1000 || !d || K < 2) {
        fprintf(stderr, "usage: bench_egl [N >= 1000 [d [K >= 2]]]\n");
        return 2;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t threads = cpus > 0 ? (size_t)(cpus < 64 ? cpus : 64) : 1;
    float *x = malloc(n * d * sizeof *x);
    if (!x)
        bench_die("malloc", HITL_ENOMEM);
    uint64_t s = 7;
    for (size_t i = 0; i < n * d; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(s >> 40) * 0x1.0p-23f - 1.0f;
    }
    hitl_pool *pool;
    hitl_model *model;
    CHECK(hitl_pool_create(&pool, d));
    CHECK(hitl_pool_add_borrowed(pool, x, n, d, NULL));
    for (size_t i = 0; i < 20; i++)
        CHECK(hitl_pool_set_label(pool, i * 997, (int32_t)(i % K)));
    CHECK(hitl_model_create_logreg(&model, d, K));
    CHECK(hitl_model_fit(model, pool));

    double sum, read = 1e30, read_cpu = 1e30;
    for (int r = 0; r < 5; r++) {
        double c0 = cpu_now(), t = read_pass(x, n * d, threads, &sum), c = cpu_now() - c0;
        read = t < read ? t : read;
        read_cpu = c < read_cpu ? c : read_cpu;
    }
    hitl_strategy *margin, *egl;
    CHECK(hitl_strategy_create(&margin, HITL_STRATEGY_MARGIN));
    CHECK(hitl_strategy_create(&egl, HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH));
    timing tm = time_query(margin, model, pool), te = time_query(egl, model, pool);
    printf("bench_egl: N %zu, d %zu, K %zu, k %d, %zu threads\n", n, d, K, K_QUERY, threads);
    printf("%-28s %9s %9s %11s %11s\n", "pass", "wall ms", "CPU ms", "wall ratio",
           "CPU ratio");
    printf("%-28s %9.1f %9.1f %11.2f %11.2f\n", "read pass (checksum)", 1e3 * read,
           1e3 * read_cpu, 1.0, 1.0);
    printf("%-28s %9.1f %9.1f %11.2f %11.2f\n", "margin (reference)", 1e3 * tm.wall,
           1e3 * tm.cpu, tm.wall / read, tm.cpu / read_cpu);
    printf("%-28s %9.1f %9.1f %11.2f %11.2f\n", "expected gradient length", 1e3 * te.wall,
           1e3 * te.cpu, te.wall / read, te.cpu / read_cpu);
    printf("EGL over margin: %.2f wall, %.2f CPU (what EGL adds to the scoring pass)\n",
           te.wall / tm.wall, te.cpu / tm.cpu);
    double ratio = te.wall / read;
    printf("(checksum %.3g)\ntarget EGL query / read pass, N = %zu, d = %zu, K = %zu: %.2f "
           "(goal <= 2.5): %s\n", sum, n, d, K, ratio, ratio <= 2.5 ? "ok" : "MISSED");
    hitl_strategy_free(margin);
    hitl_strategy_free(egl);
    hitl_model_free(model);
    hitl_pool_free(pool);
    free(x);
    return ratio <= 2.5 ? 0 : 3;
}
