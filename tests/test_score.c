/* Score: the linear block kernel (every instruction set this CPU has, and the
 * portable fallback forced through the test hook) against a double-precision
 * reference over many shapes, strides and leading dimensions; the softmax and
 * vector log; predict and predict_pool (chunk boundaries, borrowed chunks,
 * block sizes, threads); the streaming pass's blocks and failure reporting;
 * custom models' callbacks; every error path and out-of-memory recovery.
 *
 * This suite is linked with the library's objects rather than libhitl.so,
 * because the kernel and its test hook are internal (hidden) symbols. */
#define _GNU_SOURCE /* pthread_setattr_default_np, to make threads fail to start */
#include "internal.h"
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* An assertion for hot loops: Check's ck_assert records every passing
 * call through a pipe, which dominates loops over millions of values. */
#define EXPECT(cond, ...) \
    do { \
        if (!(cond)) \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

/* ---- helpers --------------------------------------------------------------------------- */

static uint64_t rng_state = 1;
static double urand(void) /* [0, 1) */
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}
static float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)urand();
}

/* The instruction sets this CPU runs, portable first. */
static int isas[3], n_isas;
static void find_isas(void)
{
    n_isas = 0;
    for (int cap = HITL__ISA_PORTABLE; cap <= HITL__ISA_AVX512; cap++) {
        hitl__isa_set_cap(cap);
        if (hitl__isa() == cap)
            isas[n_isas++] = cap;
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
}

typedef struct layer {
    hitl__linear L;
    float *w, *b;
} layer;

static layer make_layer(size_t d, size_t C)
{
    layer y;
    size_t ldw = hitl__linear_ldw(C);
    ck_assert_uint_eq(ldw % 16, 0);
    ck_assert_uint_ge(ldw, C);
    y.w = calloc(d * ldw, sizeof *y.w);
    y.b = calloc(ldw, sizeof *y.b);
    ck_assert(y.w && y.b);
    for (size_t j = 0; j < d; j++)
        for (size_t c = 0; c < C; c++)
            y.w[j * ldw + c] = frand(-1, 1);
    for (size_t c = 0; c < C; c++)
        y.b[c] = frand(-1, 1);
    y.L = (hitl__linear){ .d = d, .C = C, .ldw = ldw, .w = y.w, .b = y.b };
    return y;
}

static void free_layer(layer *y)
{
    free(y->w);
    free(y->b);
}

/* Compare out (class-major, ldo) with the double-precision logits. */
static void check_logits(const float *out, size_t ldo, const layer *y, const float *X,
                         size_t n, size_t stride, const char *what)
{
    const hitl__linear *L = &y->L;
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < L->C; c++) {
            double z = L->b[c], mag = fabs(L->b[c]);
            for (size_t j = 0; j < L->d; j++) {
                double t = (double)X[i * stride + j] * L->w[j * L->ldw + c];
                z += t;
                mag += fabs(t);
            }
            double got = out[c * ldo + i];
            EXPECT(fabs(got - z) <= 2e-6 * mag + 1e-6,
                          "%s: n %zu d %zu C %zu: logit[%zu][%zu] = %.9g, reference %.9g",
                          what, n, L->d, L->C, i, c, got, z);
        }
}

/* ---- the kernel -------------------------------------------------------------------------- */

START_TEST(kernel_matches_reference)
{
    static const size_t ns[] = { 1, 2, 7, 15, 16, 17, 31, 32, 33, 100 };
    static const size_t ds[] = { 1, 2, 5, 16, 31, 64, 130, 300 };
    /* 1: a dot product per row; 31, 45, 64, 200: classes in lanes (AVX-512) */
    static const size_t Cs[] = { 1, 2, 3, 8, 9, 10, 16, 17, 31, 33, 45, 64, 65, 200 };
    ck_assert(hitl__linear_classes_in_lanes(31) && hitl__linear_classes_in_lanes(45) &&
              hitl__linear_classes_in_lanes(64) && hitl__linear_classes_in_lanes(200));
    ck_assert(!hitl__linear_classes_in_lanes(16) && !hitl__linear_classes_in_lanes(33) &&
              !hitl__linear_classes_in_lanes(65));
    find_isas();
    size_t combo = 0;
    for (int s = 0; s < n_isas; s++) {
        hitl__isa_set_cap(isas[s]);
        char what[64];
        snprintf(what, sizeof what, "isa %d", isas[s]);
        for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
            for (size_t e = 0; e < sizeof ds / sizeof *ds; e++)
                for (size_t f = 0; f < sizeof Cs / sizeof *Cs; f++, combo++) {
                    size_t n = ns[a], d = ds[e], C = Cs[f];
                    size_t stride = d + (combo % 3 == 0 ? 3 : 0);
                    size_t n16 = HITL__ROUND16(n), ldo = n16 + (combo % 2 ? 16 : 0);
                    layer y = make_layer(d, C);
                    float *X = malloc(n * stride * sizeof *X);
                    float *out = malloc((C + 1) * ldo * sizeof *out);
                    for (size_t i = 0; i < n * stride; i++)
                        X[i] = frand(-2, 2);
                    for (size_t i = 0; i < (C + 1) * ldo; i++)
                        out[i] = -12345.0f;
                    hitl__linear_block(out, ldo, &y.L, X, n, stride);
                    check_logits(out, ldo, &y, X, n, stride, what);
                    for (size_t c = 0; c < C; c++) {
                        for (size_t i = n; i < n16; i++) /* padding repeats row n-1 */
                            EXPECT(out[c * ldo + i] == out[c * ldo + n - 1],
                                   "padding column %zu of class %zu", i, c);
                        for (size_t i = n16; i < ldo; i++) /* beyond it: untouched */
                            EXPECT(out[c * ldo + i] == -12345.0f, "column %zu written", i);
                    }
                    for (size_t i = 0; i < ldo; i++) /* no row past C */
                        EXPECT(out[C * ldo + i] == -12345.0f, "row %zu written", C);
                    free(X);
                    free(out);
                    free_layer(&y);
                }
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
}
END_TEST

/* A layer whose W exceeds 8 MiB goes to cblas_sgemm: the same contract. */
START_TEST(kernel_blas_path)
{
    size_t d = 2100, C = 1000;
    layer y = make_layer(d, C);
    ck_assert(hitl__linear_uses_blas(&y.L, 40, d + 1));
    ck_assert(!hitl__linear_uses_blas(&y.L, (size_t)1 << 40, d + 1)); /* beyond int */
    static const size_t ns[] = { 1, 17, 40 };
    for (size_t a = 0; a < 3; a++) {
        size_t n = ns[a], stride = d + 1, ldo = HITL__ROUND16(n) + 16;
        float *X = malloc(n * stride * sizeof *X), *out = malloc(C * ldo * sizeof *out);
        for (size_t i = 0; i < n * stride; i++)
            X[i] = frand(-1, 1);
        for (size_t i = 0; i < C * ldo; i++)
            out[i] = -12345.0f;
        hitl__linear_block(out, ldo, &y.L, X, n, stride);
        check_logits(out, ldo, &y, X, n, stride, "sgemm");
        for (size_t c = 0; c < C; c++) {
            for (size_t i = n; i < HITL__ROUND16(n); i++)
                EXPECT(out[c * ldo + i] == out[c * ldo + n - 1], "padding %zu", i);
            for (size_t i = HITL__ROUND16(n); i < ldo; i++)
                EXPECT(out[c * ldo + i] == -12345.0f, "column %zu written", i);
        }
        free(X);
        free(out);
    }
    free_layer(&y);
}
END_TEST

/* A row's logits do not depend on where the block is cut: bit-identical
 * whether the row sits in a full tile, in the tail, or alone.  This is what
 * makes queries the same for every block size and thread count. */
START_TEST(kernel_position_independent)
{
    static const size_t Cs[] = { 1, 3, 10, 16, 40, 45 };
    find_isas();
    for (int s = 0; s < n_isas; s++) {
        hitl__isa_set_cap(isas[s]);
        for (size_t f = 0; f < sizeof Cs / sizeof *Cs; f++) {
            size_t n = 50, d = 37, stride = 40, C = Cs[f];
            layer y = make_layer(d, C);
            float *X = malloc(n * stride * sizeof *X);
            for (size_t i = 0; i < n * stride; i++)
                X[i] = frand(-1, 1);
            float *all = malloc(C * 64 * sizeof *all), *part = malloc(C * 32 * sizeof *part);
            hitl__linear_block(all, 64, &y.L, X, n, stride);
            for (size_t at = 0; at < 40; at += 3) {
                size_t m = at % 2 ? 1 : 27;
                if (at + m > n)
                    m = n - at;
                hitl__linear_block(part, 32, &y.L, X + at * stride, m, stride);
                for (size_t c = 0; c < C; c++)
                    ck_assert_msg(memcmp(&part[c * 32], &all[c * 64 + at], m * sizeof(float)) == 0,
                                  "isa %d C %zu: rows from %zu differ when cut there",
                                  isas[s], C, at);
            }
            free(all);
            free(part);
            free(X);
            free_layer(&y);
        }
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
}
END_TEST

/* The kernels a k-center pick streams (C = 1, and the squared norms) do
 * their sums in one fixed order, with no fused multiply-add: every
 * instruction set gives the same bits, and the double-precision value to
 * within rounding. */
START_TEST(dot_and_norms_same_on_every_path)
{
    static const size_t ds[] = { 1, 5, 16, 17, 128, 300 };
    find_isas();
    for (size_t e = 0; e < sizeof ds / sizeof *ds; e++) {
        size_t d = ds[e], n = 37, stride = d + 2;
        layer y = make_layer(d, 1);
        float *X = malloc(n * stride * sizeof *X);
        for (size_t i = 0; i < n * stride; i++)
            X[i] = frand(-2, 2);
        float dot[3][48], xn[3][37];
        for (int s = 0; s < n_isas; s++) {
            hitl__isa_set_cap(isas[s]);
            hitl__linear_block(dot[s], 48, &y.L, X, n, stride);
            hitl__sqnorms(xn[s], X, n, stride, d);
            check_logits(dot[s], 48, &y, X, n, stride, "C = 1");
            for (size_t i = 0; i < n; i++) {
                double want = 0;
                for (size_t j = 0; j < d; j++)
                    want += (double)X[i * stride + j] * X[i * stride + j];
                EXPECT(fabs(xn[s][i] - want) <= 1e-6 * want + 1e-7,
                       "isa %d d %zu row %zu: ||x||^2 = %.9g, want %.9g", isas[s], d, i,
                       (double)xn[s][i], want);
            }
            EXPECT(memcmp(dot[s], dot[0], n * sizeof(float)) == 0,
                   "isa %d d %zu: dot products differ from isa %d", isas[s], d, isas[0]);
            EXPECT(memcmp(xn[s], xn[0], n * sizeof(float)) == 0,
                   "isa %d d %zu: norms differ from isa %d", isas[s], d, isas[0]);
        }
        free(X);
        free_layer(&y);
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
}
END_TEST

START_TEST(softmax_matches_reference)
{
    static const size_t Cs[] = { 2, 3, 10, 17, 100 };
    static const size_t ns[] = { 1, 16, 33 };
    find_isas();
    for (int s = 0; s < n_isas; s++) {
        hitl__isa_set_cap(isas[s]);
        for (size_t f = 0; f < sizeof Cs / sizeof *Cs; f++)
            for (size_t a = 0; a < sizeof ns / sizeof *ns; a++) {
                size_t C = Cs[f], n = ns[a], ld = HITL__ROUND16(n);
                float *P = malloc(C * ld * sizeof *P), *Z = malloc(C * ld * sizeof *Z);
                for (size_t i = 0; i < C * ld; i++)
                    Z[i] = frand(-30, 30);
                for (size_t i = 0; i < ld; i++)
                    Z[(C - 1) * ld + i] = -1000; /* underflows: clamped, still ~0 */
                memcpy(P, Z, C * ld * sizeof *P);
                ck_assert_uint_eq(hitl__softmax_cm(P, ld, n, C), 0);
                for (size_t i = 0; i < n; i++) {
                    double m = -INFINITY, sum = 0, total = 0;
                    for (size_t c = 0; c < C; c++)
                        m = fmax(m, Z[c * ld + i]);
                    for (size_t c = 0; c < C; c++)
                        sum += exp((double)Z[c * ld + i] - m);
                    for (size_t c = 0; c < C; c++) {
                        double ref = exp((double)Z[c * ld + i] - m) / sum;
                        double got = P[c * ld + i];
                        EXPECT(fabs(got - ref) <= 1e-6 + 1e-5 * ref,
                                      "isa %d C %zu: p[%zu][%zu] = %.9g, reference %.9g",
                                      isas[s], C, i, c, got, ref);
                        total += got;
                    }
                    ck_assert_double_eq_tol(total, 1.0, 1e-5);
                }
                /* a logit that overflowed float32 is reported by column */
                memcpy(P, Z, C * ld * sizeof *P);
                P[1 * ld + n - 1] = INFINITY;
                ck_assert_uint_eq(hitl__softmax_cm(P, ld, n, C), n);
                memcpy(P, Z, C * ld * sizeof *P);
                P[0 * ld + n - 1] = NAN;
                ck_assert_uint_eq(hitl__softmax_cm(P, ld, n, C), n);
                free(P);
                free(Z);
            }
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
}
END_TEST

START_TEST(vlog_matches_logf)
{
    find_isas();
    for (int s = 0; s < n_isas; s++) {
        hitl__isa_set_cap(isas[s]);
        size_t n = 101;
        float x[101], y[101];
        for (size_t i = 0; i < n; i++)
            x[i] = (float)urand();
        x[3] = 0;
        x[4] = 1e-42f; /* subnormal */
        x[5] = 1;
        x[100] = 0.5f;
        memcpy(y, x, sizeof x);
        hitl__vlogf(y, n);
        for (size_t i = 0; i < n; i++) {
            double ref = log(x[i] > FLT_MIN ? x[i] : FLT_MIN);
            ck_assert_msg(fabs(y[i] - ref) <= 4 * FLT_EPSILON * fabs(ref) + 1e-7,
                          "isa %d: log(%g) = %.9g, reference %.9g", isas[s], (double)x[i],
                          (double)y[i], ref);
        }
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
}
END_TEST

START_TEST(entropy_matches_reference)
{
    find_isas();
    size_t C = 7, ld = 48;
    float *P = malloc(C * ld * sizeof *P), h[48];
    for (size_t i = 0; i < ld; i++) {
        double sum = 0;
        for (size_t c = 0; c < C; c++)
            sum += P[c * ld + i] = (i + c) % 5 == 0 ? 0.0f : (float)urand();
        for (size_t c = 0; c < C; c++)
            P[c * ld + i] = sum > 0 ? (float)(P[c * ld + i] / sum) : c == 0;
    }
    for (size_t c = 0; c < C; c++) /* a certain column: entropy 0 */
        P[c * ld + 5] = c == 3;
    for (int s = 0; s < n_isas; s++) {
        hitl__isa_set_cap(isas[s]);
        hitl__entropy_cm(h, P, ld, C);
        for (size_t i = 0; i < ld; i++) {
            double ref = 0;
            for (size_t c = 0; c < C; c++)
                if (P[c * ld + i] > 0)
                    ref -= P[c * ld + i] * log(P[c * ld + i]);
            EXPECT(fabs(h[i] - ref) <= 1e-6 * (1 + ref), "isa %d: H[%zu] = %.9g, reference %.9g",
                   isas[s], i, (double)h[i], ref);
            EXPECT(h[i] >= 0, "isa %d: H[%zu] < 0", isas[s], i);
        }
        ck_assert_float_eq(h[5], 0);
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
    free(P);
}
END_TEST

/* ---- a fitted built-in model --------------------------------------------------------------- */

enum { D = 7, K = 4 };

/* n rows of four Gaussian blobs; the first `labeled` get their labels. */
static hitl_pool *blob_pool(size_t n, size_t labeled)
{
    hitl_pool *p;
    ck_assert_int_eq(hitl_pool_create(&p, D), HITL_OK);
    float *X = malloc(n * D * sizeof *X);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++)
            X[i * D + j] = (j == i % K ? 2.0f : 0.0f) + frand(-1.5f, 1.5f);
    ck_assert_int_eq(hitl_pool_add(p, X, n, D, NULL), HITL_OK);
    for (size_t i = 0; i < labeled; i++)
        ck_assert_int_eq(hitl_pool_set_label(p, i, (int32_t)(i % K)), HITL_OK);
    free(X);
    return p;
}

static hitl_model *fitted_model(void)
{
    hitl_pool *p = blob_pool(200, 80);
    hitl_model *m;
    ck_assert_int_eq(hitl_model_create_logreg(&m, D, K), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    hitl_pool_free(p);
    return m;
}

/* softmax(W x + b) in double from the model's own coefficients. */
static void reference_proba(double *out, const hitl_model *m, const float *x)
{
    double W[K * D], b[K], z[K], mx = -INFINITY, s = 0;
    ck_assert_int_eq(hitl_model_get_coef(W, b, m), HITL_OK);
    for (size_t c = 0; c < K; c++) {
        z[c] = b[c];
        for (size_t j = 0; j < D; j++)
            z[c] += W[c * D + j] * x[j];
        mx = fmax(mx, z[c]);
    }
    for (size_t c = 0; c < K; c++)
        s += exp(z[c] - mx);
    for (size_t c = 0; c < K; c++)
        out[c] = exp(z[c] - mx) / s;
}

START_TEST(predict_matches_reference)
{
    hitl_model *m = fitted_model();
    size_t n = 123, stride = D + 2;
    float *X = malloc(n * stride * sizeof *X), *P = malloc(n * K * sizeof *P);
    for (size_t i = 0; i < n * stride; i++)
        X[i] = frand(-3, 3);
    find_isas();
    for (int s = 0; s < n_isas; s++) {
        hitl__isa_set_cap(isas[s]);
        for (size_t threads = 1; threads <= 3; threads++) {
            ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, (double)threads), HITL_OK);
            ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 16 + threads), HITL_OK);
            ck_assert_int_eq(hitl_model_predict(P, m, X, n, stride), HITL_OK);
            for (size_t i = 0; i < n; i++) {
                double ref[K];
                reference_proba(ref, m, X + i * stride);
                for (size_t c = 0; c < K; c++)
                    EXPECT(fabs(P[i * K + c] - ref[c]) <= 1e-5,
                                  "isa %d: p[%zu][%zu] = %.9g, reference %.9g", isas[s], i,
                                  c, (double)P[i * K + c], ref[c]);
            }
        }
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
    ck_assert_int_eq(hitl_model_predict(P, m, X, 0, stride), HITL_OK); /* n = 0 */
    free(X);
    free(P);
    hitl_model_free(m);
}
END_TEST

/* A pool of four chunks: copied, borrowed with a wider stride, one copied
 * row, borrowed.  Returns the rows gathered contiguously into *all. */
enum { CH_A = 37, CH_B = 50, CH_C = 1, CH_D = 70, CH_N = CH_A + CH_B + CH_C + CH_D };
static float chunk_b[CH_B * (D + 3)], chunk_d[CH_D * D];

static hitl_pool *chunky_pool(float **all)
{
    hitl_pool *p;
    float *X = malloc(CH_N * D * sizeof *X);
    for (size_t i = 0; i < CH_N * D; i++)
        X[i] = frand(-3, 3);
    for (size_t i = 0; i < CH_B; i++)
        memcpy(&chunk_b[i * (D + 3)], X + (CH_A + i) * D, D * sizeof *X);
    memcpy(chunk_d, X + (CH_A + CH_B + CH_C) * D, CH_D * D * sizeof *X);
    ck_assert_int_eq(hitl_pool_create(&p, D), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, X, CH_A, D, NULL), HITL_OK);
    ck_assert_int_eq(hitl_pool_add_borrowed(p, chunk_b, CH_B, D + 3, NULL), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, X + (CH_A + CH_B) * D, CH_C, D, NULL), HITL_OK);
    ck_assert_int_eq(hitl_pool_add_borrowed(p, chunk_d, CH_D, D, NULL), HITL_OK);
    *all = X;
    return p;
}

START_TEST(predict_pool_across_chunks)
{
    hitl_model *m = fitted_model();
    float *X;
    hitl_pool *p = chunky_pool(&X);
    float *ref = malloc(CH_N * K * sizeof *ref), *got = malloc(CH_N * K * sizeof *got);
    static const size_t blocks[] = { 16, 17, 64, 2048 };
    find_isas();
    for (int s = 0; s < n_isas; s++) {
        hitl__isa_set_cap(isas[s]);
        ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 1), HITL_OK);
        ck_assert_int_eq(hitl_model_predict(ref, m, X, CH_N, D), HITL_OK);
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++)
            for (size_t threads = 1; threads <= 3; threads++) {
                ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, (double)threads), HITL_OK);
                ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, (double)blocks[b]), HITL_OK);
                for (size_t first = 0; first < CH_N; first += 29) {
                    size_t n = CH_N - first < 140 ? CH_N - first : 140;
                    memset(got, 0, CH_N * K * sizeof *got);
                    ck_assert_int_eq(hitl_model_predict_pool(got, m, p, first, n), HITL_OK);
                    /* bit-identical: a row's result does not depend on the cut */
                    ck_assert_msg(memcmp(got, ref + first * K, n * K * sizeof *got) == 0,
                                  "isa %d block %zu threads %zu first %zu", isas[s],
                                  blocks[b], threads, first);
                }
            }
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
    free(ref);
    free(got);
    free(X);
    hitl_pool_free(p);
    hitl_model_free(m);
}
END_TEST

/* ---- the streaming pass ---------------------------------------------------------------------- */

typedef struct seen {
    size_t calls, firsts[64], ns[64];
    float *proba;              /* CH_N x K, row-major, shared (disjoint rows) */
    int layout;
} seen;

static int record_block(void *state, size_t first, size_t n, const float *proba, size_t Kc)
{
    seen *s = state;
    ck_assert_uint_eq(Kc, K);
    ck_assert_uint_lt(s->calls, 64);
    s->firsts[s->calls] = first;
    s->ns[s->calls++] = n;
    size_t ld = HITL__ROUND16(n);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < K; c++)
            s->proba[(first + i) * K + c] =
                s->layout == HITL__LAYOUT_ROWS ? proba[i * K + c] : proba[c * ld + i];
    if (s->layout == HITL__LAYOUT_CLASSES)
        for (size_t c = 0; c < K; c++)
            for (size_t i = n; i < ld; i++)
                EXPECT(proba[c * ld + i] == proba[c * ld + n - 1], "padding %zu", i);
    return HITL_OK;
}

START_TEST(score_pool_blocks)
{
    static const size_t bounds[] = { 0, CH_A, CH_A + CH_B, CH_A + CH_B + CH_C, CH_N };
    hitl_model *m = fitted_model();
    float *X;
    hitl_pool *p = chunky_pool(&X);
    float *ref = malloc(CH_N * K * sizeof *ref);
    ck_assert_int_eq(hitl_model_predict(ref, m, X, CH_N, D), HITL_OK);
    for (int layout = 0; layout < 2; layout++)
        for (size_t threads = 1; threads <= 3; threads++)
            for (size_t rows = 16; rows <= 40; rows += 12) {
                ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, (double)threads), HITL_OK);
                ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, (double)rows), HITL_OK);
                size_t nw = hitl__score_workers(m, p);
                ck_assert_uint_eq(nw, threads);
                seen s[3] = { { 0 } };
                void *states[3] = { &s[0], &s[1], &s[2] };
                float *got = calloc(CH_N * K, sizeof *got);
                for (size_t w = 0; w < 3; w++) {
                    s[w].proba = got;
                    s[w].layout = layout;
                }
                size_t first = 5, n = CH_N - 9;
                ck_assert_int_eq(hitl__score_run(m, p, first, n, layout, record_block,
                                                 states, "test"), HITL_OK);
                /* every row exactly once, blocks within a chunk and <= rows */
                unsigned char *hit = calloc(CH_N, 1);
                for (size_t w = 0; w < nw; w++)
                    for (size_t b = 0; b < s[w].calls; b++) {
                        size_t f = s[w].firsts[b], e = f + s[w].ns[b];
                        ck_assert_uint_le(s[w].ns[b], rows);
                        ck_assert_uint_ge(f, first);
                        ck_assert_uint_le(e, first + n);
                        for (size_t k = 1; k < 4; k++)
                            ck_assert(!(f < bounds[k] && e > bounds[k]));
                        for (size_t i = f; i < e; i++)
                            hit[i]++;
                    }
                for (size_t i = 0; i < CH_N; i++)
                    EXPECT(hit[i] == (i >= first && i < first + n), "row %zu scored %u times",
                           i, hit[i]);
                ck_assert(memcmp(got + first * K, ref + first * K, n * K * sizeof *got) == 0);
                free(hit);
                free(got);
            }
    free(ref);
    free(X);
    hitl_pool_free(p);
    hitl_model_free(m);
}
END_TEST

/* A consumer failing on several blocks in several threads: its status and
 * message come back, from the lowest failing block whatever the timing. */
static int failing_block(void *state, size_t first, size_t n, const float *proba, size_t Kc)
{
    (void)state;
    (void)proba;
    (void)Kc;
    if (first + n > 60)
        return hitl__fail_in(HITL_ECALLBACK, "consumer", "block at %zu", first);
    return HITL_OK;
}

START_TEST(score_pool_failure)
{
    hitl_model *m = fitted_model();
    hitl_pool *p = blob_pool(300, 0);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 16), HITL_OK);
    for (int rep = 0; rep < 20; rep++) {
        ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 1 + rep % 3), HITL_OK);
        void *states[3] = { NULL, NULL, NULL };
        hitl_error_clear();
        ck_assert_int_eq(hitl__score_pool(m, p, 0, 300, failing_block, states), HITL_ECALLBACK);
        ck_assert_str_eq(hitl_error_message(), "consumer: block at 48");
    }
    hitl_pool_free(p);
    hitl_model_free(m);
}
END_TEST

/* A logit beyond float32 is HITL_ENUMERIC, not NaN probabilities; a -Inf
 * logit alone is the limit of a probability 0, not an error (committee.c
 * relies on the same convention): the other classes share the rest. */
START_TEST(logit_overflow)
{
    hitl_model *m = fitted_model();
    double both[(D + 1) * K], down[(D + 1) * K];
    for (size_t i = 0; i < (D + 1) * K; i++) {
        both[i] = i % 2 ? 1e30 : -1e30;
        down[i] = i < D * K && i % K == 2 ? -1e30 : 0.01;
    }
    float X[3 * D], P[3 * K];
    for (size_t i = 0; i < 3 * D; i++)
        X[i] = i >= D ? 1e20f : 0.5f;
    find_isas();
    for (int s = 0; s < n_isas; s++) {
        hitl__isa_set_cap(isas[s]);
        ck_assert_int_eq(hitl__score_prepare(m, both), HITL_OK);
        ck_assert_int_eq(hitl_model_predict(P, m, X, 3, D), HITL_ENUMERIC);
        ck_assert_msg(strstr(hitl_error_message(), "row 1") != NULL, "%s", hitl_error_message());
        ck_assert_int_eq(hitl__score_prepare(m, down), HITL_OK);
        ck_assert_int_eq(hitl_model_predict(P, m, X, 3, D), HITL_OK);
        for (size_t i = 1; i < 3; i++)
            for (size_t c = 0; c < K; c++)
                EXPECT(c == 2 ? P[i * K + c] < 1e-37f : fabsf(P[i * K + c] - 1.0f / 3) < 1e-6f,
                       "isa %d p[%zu][%zu] = %g", isas[s], i, c, (double)P[i * K + c]);
    }
    hitl__isa_set_cap(HITL__ISA_AVX512);
    hitl_model_free(m);
}
END_TEST

/* ---- threads --------------------------------------------------------------------------------- */

static void *do_nothing(void *arg)
{
    return arg;
}

/* Threads that cannot start (here: a default stack too large to map) leave
 * the caller's thread to score every block: the same results, no hang, no
 * leak (valgrind and ASan runs check the last). */
START_TEST(thread_start_failure)
{
    hitl_model *m = fitted_model();
    float *X;
    hitl_pool *p = chunky_pool(&X);
    float *ref = malloc(CH_N * K * sizeof *ref), *got = calloc(CH_N * K, sizeof *got);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 16), HITL_OK);
    ck_assert_int_eq(hitl_model_predict(ref, m, X, CH_N, D), HITL_OK);

    pthread_attr_t old, huge;
    ck_assert_int_eq(pthread_getattr_default_np(&old), 0);
    ck_assert_int_eq(pthread_attr_init(&huge), 0);
    ck_assert_int_eq(pthread_attr_setstacksize(&huge, (size_t)1 << 46), 0);
    ck_assert_int_eq(pthread_setattr_default_np(&huge), 0);
    pthread_t t;
    int started = pthread_create(&t, NULL, do_nothing, NULL) == 0;
    if (started)
        pthread_join(t, NULL);
    else {
        ck_assert_int_eq(hitl_model_predict_pool(got, m, p, 0, CH_N), HITL_OK);
        ck_assert(memcmp(got, ref, CH_N * K * sizeof *got) == 0);
        seen s[3] = { { 0 } };
        void *states[3] = { &s[0], &s[1], &s[2] };
        memset(got, 0, CH_N * K * sizeof *got);
        for (size_t w = 0; w < 3; w++)
            s[w].proba = got;
        ck_assert_uint_eq(hitl__score_workers(m, p), 3);
        ck_assert_int_eq(hitl__score_pool(m, p, 0, CH_N, record_block, states), HITL_OK);
        ck_assert_uint_eq(s[1].calls + s[2].calls, 0); /* never started */
        ck_assert(memcmp(got, ref, CH_N * K * sizeof *got) == 0);
    }
    ck_assert_int_eq(pthread_setattr_default_np(&old), 0);
    pthread_attr_destroy(&huge);
    pthread_attr_destroy(&old);
    ck_assert_msg(!started, "a thread with a 64 TiB stack started; nothing tested");
    free(ref);
    free(got);
    free(X);
    hitl_pool_free(p);
    hitl_model_free(m);
}
END_TEST

/* "Concurrent reads": predict, predict_pool and query on one model and one
 * pool from several threads at once (each with its own strategy), every
 * call on internal worker threads too.  Run under ThreadSanitizer by
 * .ci/run; here the results must equal the single-threaded ones. */
typedef struct reader {
    const hitl_model *m;
    const hitl_pool *p;
    const float *X, *ref;
    const size_t *ref_idx;
    hitl_strategy *s;
    int ok;
} reader;

enum { READ_K = 10 };

static void *read_concurrently(void *arg)
{
    reader *r = arg;
    float *got = malloc(CH_N * K * sizeof *got);
    size_t count, idx[READ_K];
    r->ok = got != NULL;
    for (int rep = 0; r->ok && rep < 4; rep++) {
        r->ok = hitl_model_predict_pool(got, r->m, r->p, 0, CH_N) == HITL_OK &&
                memcmp(got, r->ref, CH_N * K * sizeof *got) == 0 &&
                hitl_model_predict(got, r->m, r->X, CH_N, D) == HITL_OK &&
                memcmp(got, r->ref, CH_N * K * sizeof *got) == 0 &&
                hitl_query(&count, idx, NULL, NULL, r->s, r->m, r->p, READ_K) == HITL_OK &&
                count == READ_K && memcmp(idx, r->ref_idx, sizeof idx) == 0;
    }
    free(got);
    return NULL;
}

START_TEST(concurrent_reads)
{
    hitl_model *m = fitted_model();
    float *X;
    hitl_pool *p = chunky_pool(&X);
    float *ref = malloc(CH_N * K * sizeof *ref);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 16), HITL_OK);
    ck_assert_int_eq(hitl_model_predict(ref, m, X, CH_N, D), HITL_OK);
    size_t ref_idx[READ_K], count;
    reader r[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        hitl_strategy *s;
        ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_ENTROPY), HITL_OK);
        r[i] = (reader){ m, p, X, ref, ref_idx, s, 0 };
    }
    ck_assert_int_eq(hitl_query(&count, ref_idx, NULL, NULL, r[0].s, m, p, READ_K), HITL_OK);
    ck_assert_uint_eq(count, READ_K);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, read_concurrently, &r[i]), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(r[i].ok, "reader %d got a different result", i);
        hitl_strategy_free(r[i].s);
    }
    free(ref);
    free(X);
    hitl_pool_free(p);
    hitl_model_free(m);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------------- */

START_TEST(predict_errors)
{
    hitl_model *m = fitted_model(), *unfit;
    ck_assert_int_eq(hitl_model_create_logreg(&unfit, D, K), HITL_OK);
    hitl_pool *p = blob_pool(20, 0), *p8;
    ck_assert_int_eq(hitl_pool_create(&p8, D + 1), HITL_OK);
    float X[4 * D], P[4 * K];
    for (size_t i = 0; i < 4 * D; i++)
        X[i] = 0.25f;
    for (size_t i = 0; i < 4 * K; i++)
        P[i] = -7;
    ck_assert_int_eq(hitl_model_predict(P, NULL, X, 4, D), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict(NULL, m, X, 4, D), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict(P, m, NULL, 4, D), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict(P, m, X, 4, D - 1), HITL_EINVAL);
    ck_assert_msg(strstr(hitl_error_message(), "stride") != NULL, "%s", hitl_error_message());
    ck_assert_int_eq(hitl_model_predict(P, m, X, SIZE_MAX / 2, D), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict(P, unfit, X, 4, D), HITL_ESTATE);
    X[2 * D + 3] = NAN;
    ck_assert_int_eq(hitl_model_predict(P, m, X, 4, D), HITL_ENUMERIC);
    ck_assert_str_eq(hitl_error_message(), "hitl_model_predict: X[2][3] is NaN");
    X[2 * D + 3] = -INFINITY;
    ck_assert_int_eq(hitl_model_predict(P, m, X, 4, D), HITL_ENUMERIC);
    ck_assert_str_eq(hitl_error_message(), "hitl_model_predict: X[2][3] is Inf");
    X[2 * D + 3] = 0.25f;
    for (size_t i = 0; i < 4 * K; i++)
        ck_assert_float_eq(P[i], -7); /* nothing written on failure */

    ck_assert_int_eq(hitl_model_predict_pool(P, NULL, p, 0, 4), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict_pool(P, m, NULL, 0, 4), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict_pool(NULL, m, p, 0, 4), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict_pool(P, m, p, 17, 4), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict_pool(P, m, p, 21, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict_pool(P, m, p, 1, SIZE_MAX), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict_pool(P, m, p8, 0, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_predict_pool(P, unfit, p, 0, 4), HITL_ESTATE);
    for (size_t i = 0; i < 4 * K; i++)
        ck_assert_float_eq(P[i], -7);
    ck_assert_int_eq(hitl_model_predict_pool(P, m, p, 20, 0), HITL_OK);
    ck_assert_int_eq(hitl_model_predict_pool(P, m, p, 16, 4), HITL_OK); /* still usable */
    ck_assert_int_eq(hitl_model_predict(P, m, X, 4, D), HITL_OK);
    hitl_pool_free(p);
    hitl_pool_free(p8);
    hitl_model_free(m);
    hitl_model_free(unfit);
}
END_TEST

/* ---- custom models ------------------------------------------------------------------------- */

/* Row i of the output is (c + 1) * scale for class c, unnormalised; rows
 * listed in `bad` get `bad_value` at class 1 (or all zeros when zero_row). */
typedef struct cb_user {
    int ret;
    float bad_value;
    size_t bad[2];
    int zero_row;
    int record;                /* keep the first call's X and stride */
    const float *seen_X;       /* first call's arguments */
    size_t seen_stride;
} cb_user;

static int cb_predict(void *user, const float *X, size_t n, size_t stride, size_t dim,
                      float *proba)
{
    cb_user *u = user;
    ck_assert_uint_eq(dim, D);
    if (u->record && !u->seen_X) {
        u->seen_X = X;
        u->seen_stride = stride;
    }
    if (u->ret)
        return u->ret;
    for (size_t i = 0; i < n; i++) {
        size_t row = (size_t)X[i * stride]; /* feature 0 holds the row number */
        for (size_t c = 0; c < K; c++)
            proba[i * K + c] = (float)(c + 1) * 0.5f;
        if (row == u->bad[0] || row == u->bad[1]) {
            if (u->zero_row)
                for (size_t c = 0; c < K; c++)
                    proba[i * K + c] = 0;
            else
                proba[i * K + 1] = u->bad_value;
        }
    }
    return 0;
}

START_TEST(custom_model_callbacks)
{
    cb_user u = { .bad = { SIZE_MAX, SIZE_MAX } };
    hitl_model *m;
    ck_assert_int_eq(hitl_model_create_custom(&m, D, K, NULL, cb_predict, &u), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 16), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 3), HITL_OK);
    size_t n = 100, stride = D + 3;
    float *X = calloc(n * stride, sizeof *X), *P = malloc(n * K * sizeof *P);
    for (size_t i = 0; i < n; i++)
        X[i * stride] = (float)i;
    ck_assert_int_eq(hitl_model_predict(P, m, X, n, stride), HITL_OK);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < K; c++) /* renormalised: (c+1) / 10 */
            EXPECT(fabsf(P[i * K + c] - (float)(c + 1) / 10.0f) <= 1e-7f, "p[%zu][%zu]", i, c);

    /* zero copy: the callback sees the pool's own rows and stride */
    hitl_pool *p;
    ck_assert_int_eq(hitl_pool_create(&p, D), HITL_OK);
    ck_assert_int_eq(hitl_pool_add_borrowed(p, X, n, stride, NULL), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 1), HITL_OK);
    u.record = 1;
    ck_assert_int_eq(hitl_model_predict_pool(P, m, p, 40, 10), HITL_OK);
    u.record = 0;
    ck_assert_ptr_eq(u.seen_X, X + 40 * stride);
    ck_assert_uint_eq(u.seen_stride, stride);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 3), HITL_OK);

    /* invalid outputs name the (lowest) bad row and class, whatever the threads */
    static const float bads[] = { NAN, INFINITY, -0.5f };
    for (size_t b = 0; b < 3; b++)
        for (int rep = 0; rep < 5; rep++) {
            u.bad[0] = 93;
            u.bad[1] = 37;
            u.bad_value = bads[b];
            ck_assert_int_eq(hitl_model_predict(P, m, X, n, stride), HITL_ECALLBACK);
            ck_assert_msg(strstr(hitl_error_message(), "row 37 class 1") != NULL, "%s",
                          hitl_error_message());
            ck_assert_int_eq(hitl_model_predict_pool(P, m, p, 0, n), HITL_ECALLBACK);
            ck_assert_msg(strstr(hitl_error_message(), "row 37 class 1") != NULL, "%s",
                          hitl_error_message());
        }
    /* many classes: blocks shrink to keep rows x classes within 2^16 */
    ck_assert_uint_eq(hitl__score_block_rows(m), 16);
    hitl_model *wide;
    ck_assert_int_eq(hitl_model_create_custom(&wide, D, 1000, NULL, cb_predict, &u), HITL_OK);
    ck_assert_uint_eq(hitl__score_block_rows(wide), 64);
    ck_assert_int_eq(hitl_model_set_param(wide, HITL_PARAM_BLOCK_ROWS, 40), HITL_OK);
    ck_assert_uint_eq(hitl__score_block_rows(wide), 40);
    ck_assert_int_eq(hitl_model_set_param(wide, HITL_PARAM_BLOCK_ROWS, 2048), HITL_OK);
    hitl_model_free(wide);
    ck_assert_int_eq(hitl_model_create_custom(&wide, D, 65536, NULL, cb_predict, &u), HITL_OK);
    ck_assert_uint_eq(hitl__score_block_rows(wide), 16);
    hitl_model_free(wide);
    u.zero_row = 1;
    ck_assert_int_eq(hitl_model_predict(P, m, X, n, stride), HITL_ECALLBACK);
    ck_assert_msg(strstr(hitl_error_message(), "row 37") != NULL &&
                  strstr(hitl_error_message(), "sum to 0") != NULL, "%s", hitl_error_message());
    u.zero_row = 0;
    u.bad[0] = u.bad[1] = SIZE_MAX;
    u.ret = 7;
    ck_assert_int_eq(hitl_model_predict(P, m, X, n, stride), HITL_ECALLBACK);
    ck_assert_msg(strstr(hitl_error_message(), "returned 7") != NULL, "%s", hitl_error_message());
    u.ret = 0;
    ck_assert_int_eq(hitl_model_predict(P, m, X, n, stride), HITL_OK); /* usable again */
    hitl_pool_free(p);
    hitl_model_free(m);
    free(X);
    free(P);
}
END_TEST

/* ---- memory ---------------------------------------------------------------------------------- */

/* The scoring copy: a failed prepare leaves the model as it was. */
START_TEST(prepare_out_of_memory)
{
    oom_install();
    hitl_model *m = fitted_model();
    float X[D] = { 1, 2, 3, 4, 5, 6, 7 }, before[K], after[K];
    ck_assert_int_eq(hitl_model_predict(before, m, X, 1, D), HITL_OK);
    double coef[(D + 1) * K];
    for (size_t i = 0; i < (D + 1) * K; i++)
        coef[i] = 0.01 * (double)i;
    const float *w = m->w;
    int st = HITL_ENOMEM;
    for (long fail = 0; st == HITL_ENOMEM; fail++) {
        oom_arm(fail);
        st = hitl__score_prepare(m, coef);
        oom_arm(-1);
        if (st == HITL_ENOMEM) {
            ck_assert_ptr_eq(m->w, w);
            ck_assert_int_eq(hitl_model_predict(after, m, X, 1, D), HITL_OK);
            ck_assert(memcmp(before, after, sizeof before) == 0);
        }
    }
    ck_assert_int_eq(st, HITL_OK);
    ck_assert_int_eq(hitl_model_predict(after, m, X, 1, D), HITL_OK);
    ck_assert(memcmp(before, after, sizeof before) != 0);
    hitl_model_free(m);
    oom_uninstall();
}
END_TEST

START_TEST(predict_out_of_memory)
{
    oom_install();
    hitl_model *m = fitted_model();
    float *X, ref[CH_N * K], got[CH_N * K];
    hitl_pool *p = chunky_pool(&X);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 16), HITL_OK);
    ck_assert_int_eq(hitl_model_predict(ref, m, X, CH_N, D), HITL_OK);
    for (int pool = 0; pool < 2; pool++) {
        int st = HITL_ENOMEM;
        long fail = 0;
        for (; st == HITL_ENOMEM; fail++) {
            memset(got, 0, sizeof got);
            oom_arm(fail);
            st = pool ? hitl_model_predict_pool(got, m, p, 0, CH_N)
                      : hitl_model_predict(got, m, X, CH_N, D);
            oom_arm(-1);
            if (st == HITL_ENOMEM)
                for (size_t i = 0; i < CH_N * K; i++)
                    EXPECT(got[i] == 0, "proba[%zu] written by a failed call", i);
        }
        ck_assert_int_eq(st, HITL_OK);
        ck_assert_int_gt(fail, 3); /* it did allocate and recover */
        ck_assert(memcmp(got, ref, sizeof got) == 0);
    }
    free(X);
    hitl_pool_free(p);
    hitl_model_free(m);
    oom_uninstall();
}
END_TEST

static Suite *score_suite(void)
{
    Suite *s = suite_create("score");
    TCase *t = tcase_create("kernel");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, kernel_matches_reference);
    tcase_add_test(t, kernel_blas_path);
    tcase_add_test(t, kernel_position_independent);
    tcase_add_test(t, dot_and_norms_same_on_every_path);
    tcase_add_test(t, softmax_matches_reference);
    tcase_add_test(t, vlog_matches_logf);
    tcase_add_test(t, entropy_matches_reference);
    suite_add_tcase(s, t);
    t = tcase_create("predict");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, predict_matches_reference);
    tcase_add_test(t, predict_pool_across_chunks);
    tcase_add_test(t, score_pool_blocks);
    tcase_add_test(t, score_pool_failure);
    tcase_add_test(t, logit_overflow);
    tcase_add_test(t, thread_start_failure);
    tcase_add_test(t, concurrent_reads);
    tcase_add_test(t, predict_errors);
    tcase_add_test(t, custom_model_callbacks);
    suite_add_tcase(s, t);
    t = tcase_create("memory");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, prepare_out_of_memory);
    tcase_add_test(t, predict_out_of_memory);
    suite_add_tcase(s, t);
    return s;
}

HITL_TEST_MAIN(score_suite)
