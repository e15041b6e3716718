/*
 * The floor every benchmark in bench/ is measured against: every float of the
 * matrix read once and summed, vectorised (the widest unit the CPU has, picked
 * at load time), split over the same number of threads as the query.  One
 * implementation, so every ratio the benchmarks print has the same floor.
 */
#ifndef HITL_BENCH_READPASS_H
#define HITL_BENCH_READPASS_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double readpass_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef float v16 __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));

/* Four independent 16-lane accumulators; the widest vector unit the CPU
 * has (GCC clones the function per target and picks at load time).
 * sum_floats reads float32 rows; sum_words 32-bit words added as integers
 * (CSR column indices: as floats they would be denormals). */
#define READPASS_SUM(name, T, V, R)                                            \
__attribute__((target_clones("avx512f", "avx2", "default"), unused))       \
static R name(const T *x, size_t n)                                            \
{                                                                              \
    V a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };                              \
    size_t i = 0;                                                              \
    for (; i + 64 <= n; i += 64) {                                             \
        V t0, t1, t2, t3;                                                      \
        memcpy(&t0, x + i, sizeof t0);                                         \
        memcpy(&t1, x + i + 16, sizeof t1);                                    \
        memcpy(&t2, x + i + 32, sizeof t2);                                    \
        memcpy(&t3, x + i + 48, sizeof t3);                                    \
        a += t0;                                                               \
        b += t1;                                                               \
        c += t2;                                                               \
        d += t3;                                                               \
    }                                                                          \
    a += b + c + d;                                                            \
    R s = 0;                                                                   \
    for (int j = 0; j < 16; j++)                                               \
        s += a[j];                                                             \
    for (; i < n; i++)                                                         \
        s += x[i];                                                             \
    return s;                                                                  \
}
READPASS_SUM(sum_floats, float, v16, double)
READPASS_SUM(sum_words, uint32_t, v16u, uint32_t)

typedef struct reader {
    const float *x;
    size_t n;                  /* floats, a multiple of 64 except the last share */
    double sum;
    pthread_t thread;
} reader;

static inline void *read_share(void *arg)
{
    reader *r = arg;
    r->sum = sum_floats(r->x, r->n);
    return NULL;
}

static inline double read_pass(const float *X, size_t cells, size_t threads, double *sum)
{
    reader rs[256];
    size_t per = (cells / threads) & ~(size_t)63;
    double t0 = readpass_now();
    for (size_t i = 0; i < threads; i++) {
        rs[i].x = X + i * per;
        rs[i].n = i + 1 == threads ? cells - i * per : per;
        if (i > 0 && pthread_create(&rs[i].thread, NULL, read_share, &rs[i]) != 0) {
            fprintf(stderr, "bench: pthread_create failed\n");
            exit(1);
        }
    }
    read_share(&rs[0]);
    double s = rs[0].sum;
    for (size_t i = 1; i < threads; i++) {
        pthread_join(rs[i].thread, NULL);
        s += rs[i].sum;
    }
    double t = readpass_now() - t0;
    *sum = s;
    return t;
}

#endif
