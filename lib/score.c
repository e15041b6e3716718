/*
 * score: the streaming scorer.  Turns pool rows into class probabilities a
 * block at a time, in worker threads, and hands each block to a consumer
 * while it is still in cache; no N x K matrix of the whole pool is ever made.
 *
 * Per block of n rows (built-in model):
 *   1. logits, class-major:  Z[c][i] = b[c] + sum_j X[i][j] W[j][c]
 *      (hitl__linear_block: a register-blocked kernel, chosen at run time
 *      for AVX-512, AVX2+FMA or portable C; cblas_sgemm once W is so large
 *      that OpenBLAS's cache blocking wins);
 *   2. softmax down each column, numerically stable (subtract the column
 *      max, exp, divide by the sum), in place;
 *   3. the consumer, given the block class-major (scores vectorise over
 *      items) or row-major (transposed once, for per-row consumers).
 * A custom model's predict callback writes the block row-major straight from
 * the pool's rows (no copy of X); its output is checked and renormalised.
 *
 * Memory per worker: one C x round16(block) class-major buffer and, when a
 * row-major view or a callback needs it, one block x C buffer.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "internal.h"

#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_X86_KERNELS 1
#include <immintrin.h>
#endif

/* Layers whose W holds up to this many floats (8 MiB) use the hand-written
 * kernel, larger ones sgemm.  The kernel streams X once and re-reads W from
 * cache for every 16 rows; measured on an AMD EPYC (Zen 5, AVX-512, Debian's
 * OpenBLAS 0.3.21, Haswell kernels) with one kernel thread against two
 * OpenBLAS threads, the kernel was 1.5-3x faster for d = 128..1024 and
 * C = 10..1000 (W up to 4 MiB) and even at 8 MiB; at 16 MiB (d 1024, C 4000)
 * sgemm's cache blocking won 2x. */
#define KERNEL_MAX_W (1u << 21)

/* A block's probabilities (rows x classes floats) stay within this many
 * floats (256 KiB, so they stay in L2 cache between the kernel, the softmax
 * and the consumer): with many classes a block has fewer rows than
 * HITL_PARAM_BLOCK_ROWS.  Measured: K = 1000 with 2048-row blocks (8 MiB)
 * ran 10x slower than with 64-row blocks. */
#define BLOCK_FLOATS (1u << 16)

/* exp() of inputs below this underflows; the softmax clamps there so that
 * every lane stays on the fast path of the vector exp (exp(-87) ~ 1.6e-38 is
 * already negligible next to the 1 of the column max). */
#define EXP_FLOOR -87.0f

/* ------------------------------------------------------------------------- */
/* Instruction set dispatch                                                   */
/* ------------------------------------------------------------------------- */

static int isa_cap = HITL__ISA_AVX512; /* lowered only by the test hook */

int hitl__score_set_isa(int cap)
{
    int old = isa_cap;
    isa_cap = cap < HITL__ISA_PORTABLE ? HITL__ISA_PORTABLE
            : cap > HITL__ISA_AVX512 ? HITL__ISA_AVX512 : cap;
    return old;
}

int hitl__score_isa(void)
{
#ifdef HAVE_X86_KERNELS
    if (isa_cap >= HITL__ISA_AVX512 && __builtin_cpu_supports("avx512f"))
        return HITL__ISA_AVX512;
    if (isa_cap >= HITL__ISA_AVX2 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return HITL__ISA_AVX2;
#endif
    return HITL__ISA_PORTABLE;
}

/* ------------------------------------------------------------------------- */
/* Vector exp and log                                                         */
/* ------------------------------------------------------------------------- */

/* glibc's libmvec (part of libc6: the vector function ABI behind GCC's
 * `simd` math) gives the AVX paths their exp and log; without it (found by
 * configure) the softmax and log take the portable path, the linear kernel
 * keeps its vector code. */
#if defined(HAVE_X86_KERNELS) && defined(HAVE_LIBMVEC)
#define HAVE_X86_MATH 1
__attribute__((target("avx512f"))) __m512 _ZGVeN16v_expf(__m512);
__attribute__((target("avx512f"))) __m512 _ZGVeN16v_logf(__m512);
__attribute__((target("avx2"))) __m256 _ZGVdN8v_expf(__m256);
__attribute__((target("avx2"))) __m256 _ZGVdN8v_logf(__m256);
#define exp16 _ZGVeN16v_expf
#define log16 _ZGVeN16v_logf
#define exp8 _ZGVdN8v_expf
#define log8 _ZGVdN8v_logf
#endif

/* log(max(x, FLT_MIN)) in place: probabilities that underflowed to 0 get a
 * finite log, and p * log p stays 0 for them. */
static void vlog_portable(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = logf(x[i] > FLT_MIN ? x[i] : FLT_MIN);
}

#ifdef HAVE_X86_MATH
__attribute__((target("avx512f"))) static void vlog_avx512(float *x, size_t n)
{
    const __m512 lo = _mm512_set1_ps(FLT_MIN);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, log16(_mm512_max_ps(_mm512_loadu_ps(x + i), lo)));
    vlog_portable(x + i, n - i);
}

__attribute__((target("avx2,fma"))) static void vlog_avx2(float *x, size_t n)
{
    const __m256 lo = _mm256_set1_ps(FLT_MIN);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, log8(_mm256_max_ps(_mm256_loadu_ps(x + i), lo)));
    vlog_portable(x + i, n - i);
}
#endif

void hitl__vlogf(float *x, size_t n)
{
    switch (hitl__score_isa()) {
#ifdef HAVE_X86_MATH
    case HITL__ISA_AVX512: vlog_avx512(x, n); break;
    case HITL__ISA_AVX2:   vlog_avx2(x, n); break;
#endif
    default:               vlog_portable(x, n); break;
    }
}

/* Entropy down the columns, log and sum fused (no pass through memory);
 * rounding can leave a tiny negative sum where the entropy is 0: clamped. */
static void entropy_portable(float *h, const float *P, size_t ld, size_t C)
{
    for (size_t i0 = 0; i0 < ld; i0 += 16) {
        float e[16] = { 0 };
        for (size_t c = 0; c < C; c++)
            for (int r = 0; r < 16; r++) {
                float p = P[c * ld + i0 + r];
                e[r] -= p * logf(p > FLT_MIN ? p : FLT_MIN);
            }
        for (int r = 0; r < 16; r++)
            h[i0 + r] = e[r] > 0 ? e[r] : 0;
    }
}

#ifdef HAVE_X86_MATH
__attribute__((target("avx512f"))) static void
entropy_avx512(float *h, const float *P, size_t ld, size_t C)
{
    const __m512 lo = _mm512_set1_ps(FLT_MIN);
    for (size_t i0 = 0; i0 < ld; i0 += 16) {
        __m512 e = _mm512_setzero_ps();
        for (size_t c = 0; c < C; c++) {
            __m512 p = _mm512_loadu_ps(P + c * ld + i0);
            e = _mm512_fnmadd_ps(p, log16(_mm512_max_ps(p, lo)), e);
        }
        _mm512_storeu_ps(h + i0, _mm512_max_ps(e, _mm512_setzero_ps()));
    }
}

__attribute__((target("avx2,fma"))) static void
entropy_avx2(float *h, const float *P, size_t ld, size_t C)
{
    const __m256 lo = _mm256_set1_ps(FLT_MIN);
    for (size_t i0 = 0; i0 < ld; i0 += 8) {
        __m256 e = _mm256_setzero_ps();
        for (size_t c = 0; c < C; c++) {
            __m256 p = _mm256_loadu_ps(P + c * ld + i0);
            e = _mm256_fnmadd_ps(p, log8(_mm256_max_ps(p, lo)), e);
        }
        _mm256_storeu_ps(h + i0, _mm256_max_ps(e, _mm256_setzero_ps()));
    }
}
#endif

void hitl__entropy_cm(float *h, const float *P, size_t ld, size_t C)
{
    switch (hitl__score_isa()) {
#ifdef HAVE_X86_MATH
    case HITL__ISA_AVX512: entropy_avx512(h, P, ld, C); break;
    case HITL__ISA_AVX2:   entropy_avx2(h, P, ld, C); break;
#endif
    default:               entropy_portable(h, P, ld, C); break;
    }
}

/* ------------------------------------------------------------------------- */
/* The linear block kernel                                                    */
/* ------------------------------------------------------------------------- */

size_t hitl__linear_ldw(size_t C)
{
    return (C + 15) & ~(size_t)15;
}

/* Columns n .. round16(n)-1 repeat column n-1, so that 16-wide loops over
 * the block see finite values everywhere. */
static void pad_columns(float *out, size_t ldo, size_t C, size_t n)
{
    size_t n16 = HITL__ROUND16(n);
    for (size_t c = 0; c < C; c++)
        for (size_t i = n; i < n16; i++)
            out[c * ldo + i] = out[c * ldo + n - 1];
}

/* Portable C: one row at a time, 16 columns at a time (the fixed inner trip
 * count lets the compiler vectorise it at any -O level that vectorises). */
static void linear_portable(float *out, size_t ldo, const hitl__linear *L,
                            const float *X, size_t n, size_t stride)
{
    size_t d = L->d, ldw = L->ldw;
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * stride;
        for (size_t c0 = 0; c0 < L->C; c0 += 16) {
            float acc[16];
            for (int c = 0; c < 16; c++)
                acc[c] = L->b[c0 + c];
            for (size_t j = 0; j < d; j++) {
                const float *w = L->w + j * ldw + c0;
                float xj = x[j];
                for (int c = 0; c < 16; c++)
                    acc[c] += xj * w[c];
            }
            size_t m = L->C - c0 < 16 ? L->C - c0 : 16;
            for (size_t c = 0; c < m; c++)
                out[(c0 + c) * ldo + i] = acc[c];
        }
    }
}

#ifdef HAVE_X86_KERNELS
/* AVX-512 and AVX2: rows in lanes.  A tile of R rows (16 or 8) is transposed
 * in registers, XT_COLS features at a time, into xt[j][lane]; then for each
 * group of up to G classes the accumulators acc[c] (class c of the L rows)
 * take one FMA per feature j: acc[c] += xt[j] * W[j][c], with W[j][c]
 * broadcast.  So the FMA count is d * C / R per row, with no padding of the
 * classes, and the result comes out class-major.  Each lane sees the same
 * FMA sequence (j in order) wherever its row sits, so a row's logits never
 * depend on where the block was cut.  Rows past n are zero lanes; the
 * transposition prefetches the next tile's rows. */
#define XT_COLS 128
#define UNROLL _Pragma("GCC unroll 16")

__attribute__((target("avx512f"), always_inline)) static inline void
transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    UNROLL for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    UNROLL for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        u[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* u[4g + q], 128-bit lane l: column 4l + q of rows 4g .. 4g+3 */
    UNROLL for (int q = 0; q < 4; q++) {
        __m512 x0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x44);
        __m512 x1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xEE);
        __m512 y0 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x44);
        __m512 y1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xEE);
        r[q] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        r[4 + q] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
        r[8 + q] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        r[12 + q] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
    }
}

/* xt[j*16 + r] = x[r*stride + j] for j < cols, r < rows (other rows 0). */
__attribute__((target("avx512f"))) static void
tile16(float *xt, const float *x, size_t stride, size_t rows, size_t cols,
       const float *next)
{
    for (size_t j0 = 0; j0 < cols; j0 += 16) {
        __mmask16 m = cols - j0 >= 16 ? 0xFFFF : (__mmask16)((1u << (cols - j0)) - 1);
        __m512 r[16];
        UNROLL for (size_t q = 0; q < 16; q++)
            r[q] = q < rows ? _mm512_maskz_loadu_ps(m, x + q * stride + j0)
                            : _mm512_setzero_ps();
        if (next)
            UNROLL for (size_t q = 0; q < 16; q++)
                _mm_prefetch((const char *)(next + q * stride + j0), _MM_HINT_T0);
        transpose16(r);
        size_t jm = cols - j0 < 16 ? cols - j0 : 16;
        UNROLL for (size_t q = 0; q < 16; q++)
            if (q < jm)
                _mm512_storeu_ps(xt + (j0 + q) * 16, r[q]);
    }
}

/* g (a constant after inlining) classes of one tile over `cols` features:
 * start from the intercepts, or from the partial sums in out. */
__attribute__((target("avx512f"), always_inline)) static inline void
group16(float *out, size_t ldo, const float *w, size_t ldw, const float *b,
        const float *xt, size_t cols, int start, const int g)
{
    __m512 acc[16];
    UNROLL for (int c = 0; c < g; c++)
        acc[c] = start ? _mm512_set1_ps(b[c]) : _mm512_loadu_ps(out + c * ldo);
    for (size_t j = 0; j < cols; j++, w += ldw) {
        __m512 x = _mm512_loadu_ps(xt + j * 16);
        UNROLL for (int c = 0; c < g; c++)
            acc[c] = _mm512_fmadd_ps(x, _mm512_set1_ps(w[c]), acc[c]);
    }
    UNROLL for (int c = 0; c < g; c++)
        _mm512_storeu_ps(out + c * ldo, acc[c]);
}

/* Classes in groups of at most `most`, as even as can be (20 = 10+10, not
 *  16+4): a short group pays the loads of x for few FMAs.  Measured: a layer
 * of 20 classes took 20.5 ms instead of 25.6 on the bench pool. */
static size_t group_size(size_t C, size_t most)
{
    size_t groups = (C + most - 1) / most;
    return (C + groups - 1) / groups;
}

/* The columns [j0, j0+cols) of the 16 rows at out + i0. */
__attribute__((target("avx512f"))) static void
panel_avx512(float *out, size_t ldo, const hitl__linear *L, const float *xt, size_t i0,
             size_t j0, size_t cols)
{
    size_t C = L->C, ldw = L->ldw, gs = group_size(C, 16);
    for (size_t c0 = 0; c0 < C; c0 += gs) {
        float *o = out + c0 * ldo + i0;
        const float *w = L->w + j0 * ldw + c0, *b = L->b + c0;
        int start = j0 == 0;
        switch (C - c0 < gs ? C - c0 : gs) {
#define G16(g) case g: group16(o, ldo, w, ldw, b, xt, cols, start, g); break;
        G16(1) G16(2) G16(3) G16(4) G16(5) G16(6) G16(7) G16(8)
        G16(9) G16(10) G16(11) G16(12) G16(13) G16(14) G16(15) G16(16)
#undef G16
        }
    }
}

__attribute__((target("avx512f"))) static void
linear_avx512(float *out, size_t ldo, const hitl__linear *L, const float *X,
              size_t n, size_t stride)
{
    float xt[XT_COLS * 16];
    size_t d = L->d;
    for (size_t i0 = 0; i0 < n; i0 += 16) {
        size_t rows = n - i0 < 16 ? n - i0 : 16;
        const float *x = X + i0 * stride;
        const float *next = i0 + 32 <= n ? x + 16 * stride : NULL;
        for (size_t j0 = 0; j0 < d; j0 += XT_COLS) {
            size_t cols = d - j0 < XT_COLS ? d - j0 : XT_COLS;
            tile16(xt, x + j0, stride, rows, cols, next ? next + j0 : NULL);
            panel_avx512(out, ldo, L, xt, i0, j0, cols);
        }
    }
}

/* Classes in lanes, for layers whose classes nearly fill their 16-lane
 * panels (hitl__linear_classes_in_lanes): eight rows at a time, each x[r][j]
 * broadcast against three panels of W's row j, 24 accumulators: 24 FMAs for
 * 11 loads and no transposition of X (which costs the rows-in-lanes kernel a
 * third of its time when C is large).  Sixteen rows' results are then
 * transposed in registers, a panel at a time, to class-major.  Rows past n
 * repeat row n-1 (which is what the padding columns must hold), so every row
 * takes the same FMA sequence wherever it sits. */
#define WIDE_ROWS 8
#define WIDE_PANELS 3
#define WIDE_AHEAD 32

__attribute__((target("avx512f"), always_inline)) static inline void
wide_rows(float *tmp, const float *const *x, uintptr_t pf, size_t sb, const float *w,
          size_t ldw, const float *b, size_t d, const int np)
{
    __m512 a[WIDE_ROWS][WIDE_PANELS];
    UNROLL for (int r = 0; r < WIDE_ROWS; r++)
        UNROLL for (int k = 0; k < np; k++)
            a[r][k] = _mm512_loadu_ps(b + 16 * k);
    for (size_t j = 0; j < d; j++, w += ldw) {
        __m512 wk[WIDE_PANELS];
        UNROLL for (int k = 0; k < np; k++)
            wk[k] = _mm512_loadu_ps(w + 16 * k);
        if (pf && j % 16 == 0)
            UNROLL for (int r = 0; r < WIDE_ROWS; r++)
                _mm_prefetch((const char *)(pf + r * sb + j * sizeof(float)), _MM_HINT_T0);
        UNROLL for (int r = 0; r < WIDE_ROWS; r++) {
            __m512 xb = _mm512_set1_ps(x[r][j]);
            UNROLL for (int k = 0; k < np; k++)
                a[r][k] = _mm512_fmadd_ps(xb, wk[k], a[r][k]);
        }
    }
    UNROLL for (int r = 0; r < WIDE_ROWS; r++)
        UNROLL for (int k = 0; k < np; k++)
            _mm512_storeu_ps(tmp + r * 16 * WIDE_PANELS + 16 * k, a[r][k]);
}

/* tmp: 16 rows of np panels, row-major; out: classes c0 .. of rows i0 .. */
__attribute__((target("avx512f"))) static void
wide_store(float *out, size_t ldo, const float *tmp, size_t c0, size_t C, size_t np)
{
    for (size_t k = 0; k < np; k++) {
        __m512 r[16];
        UNROLL for (int q = 0; q < 16; q++)
            r[q] = _mm512_loadu_ps(tmp + q * 16 * WIDE_PANELS + 16 * k);
        transpose16(r);
        size_t base = c0 + 16 * k;
        UNROLL for (size_t q = 0; q < 16; q++)
            if (base + q < C)
                _mm512_storeu_ps(out + (base + q) * ldo, r[q]);
    }
}

__attribute__((target("avx512f"))) static void
linear_wide_avx512(float *out, size_t ldo, const hitl__linear *L, const float *X, size_t n,
                   size_t stride)
{
    float tmp[16 * 16 * WIDE_PANELS];
    size_t ldw = L->ldw, panels = ldw / 16;
    for (size_t i0 = 0; i0 < n; i0 += 16) {
        const float *x[16];
        for (size_t r = 0; r < 16; r++)
            x[r] = X + (i0 + r < n ? i0 + r : n - 1) * stride;
        /* Rows WIDE_AHEAD further on are fetched meanwhile, past the end of
         * the block too (the caller's next rows, usually; a prefetch never
         * faults, and the address is only computed as an integer). */
        uintptr_t ahead = (uintptr_t)(X + i0 * stride) + WIDE_AHEAD * stride * sizeof(float);
        for (size_t p0 = 0; p0 < panels; p0 += WIDE_PANELS) {
            size_t np = panels - p0 < WIDE_PANELS ? panels - p0 : WIDE_PANELS;
            const float *w = L->w + 16 * p0, *b = L->b + 16 * p0;
            for (int h = 0; h < 2; h++) {
                float *t = tmp + h * WIDE_ROWS * 16 * WIDE_PANELS;
                const float *const *xh = x + h * WIDE_ROWS;
                size_t sb = stride * sizeof(float);
                uintptr_t pf = p0 == 0 ? ahead + h * WIDE_ROWS * sb : 0;
                switch (np) {
                case 1: wide_rows(t, xh, pf, sb, w, ldw, b, L->d, 1); break;
                case 2: wide_rows(t, xh, pf, sb, w, ldw, b, L->d, 2); break;
                default: wide_rows(t, xh, pf, sb, w, ldw, b, L->d, 3); break;
                }
            }
            wide_store(out + i0, ldo, tmp, 16 * p0, L->C, np);
        }
    }
}

/* AVX2 + FMA: the same with 8-row tiles and groups of up to 12 classes (16
 * ymm registers). */
__attribute__((target("avx2,fma"), always_inline)) static inline void
transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    UNROLL for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    UNROLL for (int i = 0; i < 8; i += 4) {
        __m256d a = _mm256_castps_pd(t[i]), b = _mm256_castps_pd(t[i + 1]);
        __m256d c = _mm256_castps_pd(t[i + 2]), d = _mm256_castps_pd(t[i + 3]);
        u[i] = _mm256_castpd_ps(_mm256_unpacklo_pd(a, c));
        u[i + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(a, c));
        u[i + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(b, d));
        u[i + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(b, d));
    }
    /* u[4g + q], 128-bit lane l: column 4l + q of rows 4g .. 4g+3 */
    UNROLL for (int q = 0; q < 4; q++) {
        r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
        r[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
    }
}

__attribute__((target("avx2,fma"))) static void
tile8(float *xt, const float *x, size_t stride, size_t rows, size_t cols,
      const float *next)
{
    static const int32_t ones[16] = { -1, -1, -1, -1, -1, -1, -1, -1 };
    for (size_t j0 = 0; j0 < cols; j0 += 8) {
        size_t jm = cols - j0 < 8 ? cols - j0 : 8;
        __m256i m = _mm256_loadu_si256((const __m256i *)(ones + 8 - jm));
        __m256 r[8];
        UNROLL for (size_t q = 0; q < 8; q++)
            r[q] = q < rows ? _mm256_maskload_ps(x + q * stride + j0, m)
                            : _mm256_setzero_ps();
        if (next && j0 % 16 == 0)
            UNROLL for (size_t q = 0; q < 8; q++)
                _mm_prefetch((const char *)(next + q * stride + j0), _MM_HINT_T0);
        transpose8(r);
        UNROLL for (size_t q = 0; q < 8; q++)
            if (q < jm)
                _mm256_storeu_ps(xt + (j0 + q) * 8, r[q]);
    }
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
group8(float *out, size_t ldo, const float *w, size_t ldw, const float *b,
       const float *xt, size_t cols, int start, const int g)
{
    __m256 acc[12];
    UNROLL for (int c = 0; c < g; c++)
        acc[c] = start ? _mm256_set1_ps(b[c]) : _mm256_loadu_ps(out + c * ldo);
    for (size_t j = 0; j < cols; j++, w += ldw) {
        __m256 x = _mm256_loadu_ps(xt + j * 8);
        UNROLL for (int c = 0; c < g; c++)
            acc[c] = _mm256_fmadd_ps(x, _mm256_set1_ps(w[c]), acc[c]);
    }
    UNROLL for (int c = 0; c < g; c++)
        _mm256_storeu_ps(out + c * ldo, acc[c]);
}

__attribute__((target("avx2,fma"))) static void
linear_avx2(float *out, size_t ldo, const hitl__linear *L, const float *X,
            size_t n, size_t stride)
{
    float xt[XT_COLS * 8];
    size_t d = L->d, ldw = L->ldw, C = L->C;
    for (size_t i0 = 0; i0 < n; i0 += 8) {
        size_t rows = n - i0 < 8 ? n - i0 : 8;
        const float *x = X + i0 * stride;
        const float *next = i0 + 16 <= n ? x + 8 * stride : NULL;
        for (size_t j0 = 0; j0 < d; j0 += XT_COLS) {
            size_t cols = d - j0 < XT_COLS ? d - j0 : XT_COLS;
            tile8(xt, x + j0, stride, rows, cols, next ? next + j0 : NULL);
            for (size_t c0 = 0; c0 < C; c0 += 12) {
                float *o = out + c0 * ldo + i0;
                const float *w = L->w + j0 * ldw + c0, *b = L->b + c0;
                int start = j0 == 0;
                switch (C - c0 < 12 ? C - c0 : 12) {
#define G8(g) case g: group8(o, ldo, w, ldw, b, xt, cols, start, g); break;
                G8(1) G8(2) G8(3) G8(4) G8(5) G8(6) G8(7) G8(8) G8(9) G8(10) G8(11) G8(12)
#undef G8
                }
            }
        }
    }
}
#endif

/* One output (C = 1, as for k-center's distances to a new centre): a dot
 * product per row, the features in sixteen lanes, the weight column copied
 * to a contiguous buffer DOT_COLS features at a time.  The transposing
 * kernels would spend more on shuffles than on the products here, and this
 * one streams each row once.  The same source compiled three times (GCC
 * inlines it into each target's wrapper); -std=c11 forbids contracting the
 * multiply and add, so every path rounds alike. */
#define DOT_COLS 256
/* Rows are read this far ahead (4 KiB): with a multiply per load the
 * hardware alone keeps too few misses in flight, and a pick took 1.25 read
 * passes; with it, one (measured on the Zen 5 of bench/). */
#define PREFETCH_FLOATS 1024

/* Past the end of the rows too: a prefetch never faults, and the address is
 * computed as an integer, never as a pointer beyond the array. */
__attribute__((always_inline)) static inline void prefetch_ahead(const float *x)
{
    __builtin_prefetch((const void *)((uintptr_t)x + PREFETCH_FLOATS * sizeof(float)));
}
typedef float v16f __attribute__((vector_size(64)));

typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

/* The sum of the lanes as a tree (halves added): short dependency chains,
 * and a fixed order. */
__attribute__((always_inline)) static inline float hsum16(const v16f *v)
{
    v16f a = *v;      /* by pointer: a 64-byte vector argument has no stable ABI */
    v8f a0, a1;
    memcpy(&a0, &a, sizeof a0);
    memcpy(&a1, (const char *)&a + sizeof a0, sizeof a1);
    a0 += a1;
    v4f b0, b1;
    memcpy(&b0, &a0, sizeof b0);
    memcpy(&b1, (const char *)&a0 + sizeof b0, sizeof b1);
    b0 += b1;
    return (b0[0] + b0[2]) + (b0[1] + b0[3]);
}

/* s + the products of features [from, to), in order (a scalar tail: a
 * vector lane chosen at run time would keep the accumulators in memory). */
__attribute__((always_inline)) static inline float
dot_tail(float s, const float *x, const float *w, size_t from, size_t to)
{
    for (size_t j = from; j < to; j++)
        s += x[j] * w[j];
    return s;
}

__attribute__((always_inline)) static inline void
dot_chunk(float *out, const float *X, size_t n, size_t stride, const float *w, size_t cols)
{
    size_t c16 = cols & ~(size_t)15;
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * stride;
        v16f a = { 0 };
        for (size_t j = 0; j < c16; j += 16) {
            v16f xv, wv;
            prefetch_ahead(x + j);
            memcpy(&xv, x + j, sizeof xv);
            memcpy(&wv, w + j, sizeof wv);
            a += xv * wv;
        }
        out[i] += dot_tail(hsum16(&a), x, w, c16, cols);
    }
}

__attribute__((always_inline)) static inline void
linear_dot(float *out, const hitl__linear *L, const float *X, size_t n, size_t stride)
{
    float wc[DOT_COLS];
    for (size_t i = 0; i < n; i++)
        out[i] = L->b[0];
    for (size_t j0 = 0; j0 < L->d; j0 += DOT_COLS) {
        size_t cols = L->d - j0 < DOT_COLS ? L->d - j0 : DOT_COLS;
        for (size_t j = 0; j < cols; j++)
            wc[j] = L->w[(j0 + j) * L->ldw];
        dot_chunk(out, X + j0, n, stride, wc, cols);
    }
}

/* xn[i] = ||x_i||^2: the same loop with the row for the weights. */
__attribute__((always_inline)) static inline void
sqnorm_rows(float *xn, const float *X, size_t n, size_t stride, size_t d)
{
    size_t d16 = d & ~(size_t)15;
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * stride;
        v16f a = { 0 };
        for (size_t j = 0; j < d16; j += 16) {
            v16f xv;
            prefetch_ahead(x + j);
            memcpy(&xv, x + j, sizeof xv);
            a += xv * xv;
        }
        xn[i] = dot_tail(hsum16(&a), x, x, d16, d);
    }
}

static void sqnorms_portable(float *xn, const float *X, size_t n, size_t stride, size_t d)
{
    sqnorm_rows(xn, X, n, stride, d);
}

#ifdef HAVE_X86_KERNELS
__attribute__((target("avx512f"))) static void
sqnorms_avx512(float *xn, const float *X, size_t n, size_t stride, size_t d)
{
    sqnorm_rows(xn, X, n, stride, d);
}

__attribute__((target("avx2"))) static void
sqnorms_avx2(float *xn, const float *X, size_t n, size_t stride, size_t d)
{
    sqnorm_rows(xn, X, n, stride, d);
}
#endif

void hitl__sqnorms(float *xn, const float *X, size_t n, size_t stride, size_t d)
{
    switch (hitl__score_isa()) {
#ifdef HAVE_X86_KERNELS
    case HITL__ISA_AVX512: sqnorms_avx512(xn, X, n, stride, d); break;
    case HITL__ISA_AVX2:   sqnorms_avx2(xn, X, n, stride, d); break;
#endif
    default:               sqnorms_portable(xn, X, n, stride, d); break;
    }
}

static void linear_dot_portable(float *out, const hitl__linear *L, const float *X, size_t n,
                                size_t stride)
{
    linear_dot(out, L, X, n, stride);
}

#ifdef HAVE_X86_KERNELS
__attribute__((target("avx512f"))) static void
linear_dot_avx512(float *out, const hitl__linear *L, const float *X, size_t n, size_t stride)
{
    linear_dot(out, L, X, n, stride);
}

__attribute__((target("avx2"))) static void
linear_dot_avx2(float *out, const hitl__linear *L, const float *X, size_t n, size_t stride)
{
    linear_dot(out, L, X, n, stride);
}
#endif

int hitl__linear_classes_in_lanes(size_t C)
{
    return C > 16 && (hitl__linear_ldw(C) - C) * 8 <= C;
}

static int wide_layer(size_t d, size_t C)
{
    return d * hitl__linear_ldw(C) > KERNEL_MAX_W;
}

int hitl__linear_uses_blas(const hitl__linear *L, size_t n, size_t stride)
{
    return wide_layer(L->d, L->C) && L->C <= INT_MAX && L->d <= INT_MAX &&
           L->ldw <= INT_MAX && n <= INT_MAX && stride <= INT_MAX &&
           HITL__ROUND16(n) <= INT_MAX;
}

int hitl__linear_blas_threaded(void)
{
    return openblas_get_parallel() != 0 && openblas_get_num_threads() > 1;
}

/* Z^T = W^T X^T as one sgemm (OpenBLAS packs the transposed operands), then
 * the intercepts. */
static void linear_blas(float *out, size_t ldo, const hitl__linear *L,
                        const float *X, size_t n, size_t stride)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, (int)L->C, (int)n, (int)L->d,
                1.0f, L->w, (int)L->ldw, X, (int)stride, 0.0f, out, (int)ldo);
    for (size_t c = 0; c < L->C; c++) {
        float bc = L->b[c], *z = out + c * ldo;
        for (size_t i = 0; i < n; i++)
            z[i] += bc;
    }
}

static void linear_isa(float *out, size_t ldo, const hitl__linear *L,
                       const float *X, size_t n, size_t stride, int isa)
{
    if (n == 0)
        return;
    if (hitl__linear_uses_blas(L, n, stride))
        linear_blas(out, ldo, L, X, n, stride);
#ifdef HAVE_X86_KERNELS
    else if (isa == HITL__ISA_AVX512 && hitl__linear_classes_in_lanes(L->C))
        linear_wide_avx512(out, ldo, L, X, n, stride);
    else if (L->C == 1 && isa == HITL__ISA_AVX512)
        linear_dot_avx512(out, L, X, n, stride);
    else if (L->C == 1 && isa == HITL__ISA_AVX2)
        linear_dot_avx2(out, L, X, n, stride);
#endif
    else if (L->C == 1)
        linear_dot_portable(out, L, X, n, stride);
#ifdef HAVE_X86_KERNELS
    else if (isa == HITL__ISA_AVX512)
        linear_avx512(out, ldo, L, X, n, stride);
    else if (isa == HITL__ISA_AVX2)
        linear_avx2(out, ldo, L, X, n, stride);
#endif
    else
        linear_portable(out, ldo, L, X, n, stride);
    pad_columns(out, ldo, L->C, n);
}

void hitl__linear_block(float *out, size_t ldo, const hitl__linear *L,
                        const float *X, size_t n, size_t stride)
{
    linear_isa(out, ldo, L, X, n, stride, hitl__score_isa());
}

/* ------------------------------------------------------------------------- */
/* Softmax down the columns of a class-major block                            */
/* ------------------------------------------------------------------------- */

/* Each returns 0, or 1 + the first column whose logits are NaN or +Inf (an
 * overflow of float32 in X W).  A -Inf logit (overflow the other way) is
 * the limit of a probability 0: it meets the EXP_FLOOR clamp like any very
 * negative logit, as committee.c also assumes. */
static size_t softmax_portable(float *P, size_t ld, size_t n16, size_t C)
{
    for (size_t i0 = 0; i0 < n16; i0 += 16) {
        float m[16], s[16];
        for (int r = 0; r < 16; r++)
            m[r] = P[i0 + r];
        for (size_t c = 1; c < C; c++)
            for (int r = 0; r < 16; r++) {
                float z = P[c * ld + i0 + r];
                m[r] = z > m[r] ? z : m[r];
            }
        for (int r = 0; r < 16; r++)
            s[r] = 0;
        for (size_t c = 0; c < C; c++)
            for (int r = 0; r < 16; r++) {
                float *z = &P[c * ld + i0 + r];
                float t = *z - m[r];
                *z = expf(t > EXP_FLOOR || t != t ? t : EXP_FLOOR);
                s[r] += *z;
            }
        for (int r = 0; r < 16; r++) {
            if (!isfinite(s[r]))
                return i0 + (size_t)r + 1;
            s[r] = 1.0f / s[r];
        }
        for (size_t c = 0; c < C; c++)
            for (int r = 0; r < 16; r++)
                P[c * ld + i0 + r] *= s[r];
    }
    return 0;
}

#ifdef HAVE_X86_MATH
/* max(lo, t) keeps a NaN t (the second operand wins when unordered), so a
 * non-finite logit shows up as a NaN sum. */
__attribute__((target("avx512f"))) static size_t
softmax_avx512(float *P, size_t ld, size_t n16, size_t C)
{
    const __m512 lo = _mm512_set1_ps(EXP_FLOOR);
    for (size_t i0 = 0; i0 < n16; i0 += 16) {
        __m512 m = _mm512_loadu_ps(P + i0);
        for (size_t c = 1; c < C; c++)
            m = _mm512_max_ps(m, _mm512_loadu_ps(P + c * ld + i0));
        __m512 s = _mm512_setzero_ps();
        for (size_t c = 0; c < C; c++) {
            float *z = P + c * ld + i0;
            __m512 e = exp16(_mm512_max_ps(lo, _mm512_sub_ps(_mm512_loadu_ps(z), m)));
            _mm512_storeu_ps(z, e);
            s = _mm512_add_ps(s, e);
        }
        __mmask16 bad = _mm512_cmp_ps_mask(s, s, _CMP_UNORD_Q) |
                        _mm512_cmp_ps_mask(s, _mm512_set1_ps(INFINITY), _CMP_EQ_OQ);
        if (bad)
            return i0 + (size_t)__builtin_ctz(bad) + 1;
        __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), s);
        for (size_t c = 0; c < C; c++) {
            float *z = P + c * ld + i0;
            _mm512_storeu_ps(z, _mm512_mul_ps(_mm512_loadu_ps(z), inv));
        }
    }
    return 0;
}

__attribute__((target("avx2,fma"))) static size_t
softmax_avx2(float *P, size_t ld, size_t n16, size_t C)
{
    const __m256 lo = _mm256_set1_ps(EXP_FLOOR);
    for (size_t i0 = 0; i0 < n16; i0 += 8) {
        __m256 m = _mm256_loadu_ps(P + i0);
        for (size_t c = 1; c < C; c++)
            m = _mm256_max_ps(m, _mm256_loadu_ps(P + c * ld + i0));
        __m256 s = _mm256_setzero_ps();
        for (size_t c = 0; c < C; c++) {
            float *z = P + c * ld + i0;
            __m256 e = exp8(_mm256_max_ps(lo, _mm256_sub_ps(_mm256_loadu_ps(z), m)));
            _mm256_storeu_ps(z, e);
            s = _mm256_add_ps(s, e);
        }
        int bad = _mm256_movemask_ps(_mm256_cmp_ps(s, s, _CMP_UNORD_Q)) |
                  _mm256_movemask_ps(_mm256_cmp_ps(s, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ));
        if (bad)
            return i0 + (size_t)__builtin_ctz((unsigned)bad) + 1;
        __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), s);
        for (size_t c = 0; c < C; c++) {
            float *z = P + c * ld + i0;
            _mm256_storeu_ps(z, _mm256_mul_ps(_mm256_loadu_ps(z), inv));
        }
    }
    return 0;
}
#endif

static size_t softmax_isa(float *P, size_t ld, size_t n, size_t C, int isa)
{
    size_t n16 = HITL__ROUND16(n);
#ifdef HAVE_X86_MATH
    if (isa == HITL__ISA_AVX512)
        return softmax_avx512(P, ld, n16, C);
    if (isa == HITL__ISA_AVX2)
        return softmax_avx2(P, ld, n16, C);
#endif
    (void)isa;
    return softmax_portable(P, ld, n16, C);
}

size_t hitl__softmax_cm(float *P, size_t ld, size_t n, size_t C)
{
    return softmax_isa(P, ld, n, C, hitl__score_isa());
}

/* ------------------------------------------------------------------------- */
/* Layout changes (16 x 16 tiles, so both sides stay in cache)                */
/* ------------------------------------------------------------------------- */

static void cm_to_rm(float *R, const float *P, size_t ld, size_t n, size_t C)
{
    for (size_t i0 = 0; i0 < n; i0 += 16)
        for (size_t c0 = 0; c0 < C; c0 += 16) {
            size_t ie = i0 + 16 < n ? i0 + 16 : n, ce = c0 + 16 < C ? c0 + 16 : C;
            for (size_t i = i0; i < ie; i++)
                for (size_t c = c0; c < ce; c++)
                    R[i * C + c] = P[c * ld + i];
        }
}

static void rm_to_cm(float *P, size_t ld, const float *R, size_t n, size_t C)
{
    for (size_t c0 = 0; c0 < C; c0 += 16)
        for (size_t i0 = 0; i0 < n; i0 += 16) {
            size_t ie = i0 + 16 < n ? i0 + 16 : n, ce = c0 + 16 < C ? c0 + 16 : C;
            for (size_t c = c0; c < ce; c++)
                for (size_t i = i0; i < ie; i++)
                    P[c * ld + i] = R[i * C + c];
        }
    pad_columns(P, ld, C, n);
}

/* ------------------------------------------------------------------------- */
/* Scoring copy of the built-in model                                         */
/* ------------------------------------------------------------------------- */

/* model->w is dim x ldw (row j: the K weights of feature j, zero padded to a
 * multiple of 16 columns); model->b the K intercepts, padded likewise. */
int hitl__score_prepare(hitl_model *model, const double *coef)
{
    size_t d = model->dim, K = model->n_classes, ldw = hitl__linear_ldw(K), cells;
    if (hitl__mul_size(&cells, d, ldw) != 0)
        return hitl__fail(HITL_ENOMEM, "scoring weights %zu x %zu do not fit", d, ldw);
    float *w = hitl__calloc(cells, sizeof *w);
    float *b = hitl__calloc(ldw, sizeof *b);
    if (!w || !b) {
        hitl__free(w);
        hitl__free(b);
        return hitl__fail(HITL_ENOMEM, "out of memory for %zu x %zu scoring weights",
                          d, K);
    }
    for (size_t j = 0; j < d; j++)
        for (size_t c = 0; c < K; c++)
            w[j * ldw + c] = (float)coef[j * K + c];
    for (size_t c = 0; c < K; c++)
        b[c] = (float)coef[d * K + c];
    hitl__score_release(model);
    model->w = w;
    model->b = b;
    return HITL_OK;
}

void hitl__score_release(hitl_model *model)
{
    hitl__free(model->w);
    hitl__free(model->b);
    model->w = NULL;
    model->b = NULL;
}

static hitl__linear model_linear(const hitl_model *m)
{
    return (hitl__linear){ .d = m->dim, .C = m->n_classes,
                           .ldw = hitl__linear_ldw(m->n_classes),
                           .w = m->w, .b = m->b };
}

/* ------------------------------------------------------------------------- */
/* Blocks and workers                                                         */
/* ------------------------------------------------------------------------- */

static size_t online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

/* Blocks of at most `rows` rows covering [first, first+n) of the chunks. */
static size_t count_blocks(const hitl__chunk *ch, size_t n_chunks, size_t first,
                           size_t n, size_t rows)
{
    size_t blocks = 0, end = first + n;
    for (size_t k = 0; k < n_chunks; k++) {
        size_t lo = ch[k].first > first ? ch[k].first : first;
        size_t hi = ch[k].first + ch[k].n < end ? ch[k].first + ch[k].n : end;
        if (lo < hi)
            blocks += (hi - lo + rows - 1) / rows;
    }
    return blocks;
}

/* Threads for a pass of `blocks` blocks: HITL_PARAM_THREADS (0: one per
 * online CPU), at most one per block.  When the layer goes to sgemm and
 * OpenBLAS runs threads of its own, one worker: its sgemm is threaded
 * already, and OpenBLAS's pthread build serialises concurrent threaded
 * calls (we never change the caller's OpenBLAS thread setting). */
static size_t workers_for(const hitl_model *m, size_t blocks)
{
    size_t t = m->threads ? m->threads : online_cpus();
    if (m->kind == HITL__MODEL_LOGREG && wide_layer(m->dim, m->n_classes) &&
        hitl__linear_blas_threaded())
        t = 1;
    if (t > blocks)
        t = blocks;
    return t ? t : 1;
}

size_t hitl__score_block_rows(const hitl_model *model)
{
    size_t rows = model->block_rows, cap = BLOCK_FLOATS / model->n_classes;
    if (rows > cap)
        rows = cap < 16 ? 16 : cap & ~(size_t)15;
    return rows;
}

size_t hitl__score_workers(const hitl_model *model, const hitl_pool *pool)
{
    return workers_for(model, count_blocks(pool->chunks, pool->n_chunks, 0,
                                           pool->n, hitl__score_block_rows(model)));
}

typedef struct job {
    const hitl_model *model;
    hitl__linear lin;
    int isa, layout;
    const hitl__chunk *chunks;
    size_t n_chunks, rows;     /* rows per block */
    hitl__block_fn consume;
    void **states;
    const char *fn;
    pthread_mutex_t lock;      /* guards everything below */
    size_t chunk, next, end;   /* the next block starts at row `next` */
    int status;
    size_t fail_at;            /* first row of the failed block */
    char fail_fn[64], fail_msg[448];
} job;

typedef struct worker {
    job *job;
    size_t index;
    float *cm;                 /* C x round16(rows), class-major */
    float *rm;                 /* rows x C, row-major, or NULL */
    pthread_t thread;
} worker;

/* The next block under the lock: rows [*first, *first + *n) at *X. */
static int next_block(job *j, size_t *first, size_t *n, const float **X,
                      size_t *stride)
{
    int more = 0;
    pthread_mutex_lock(&j->lock);
    if (j->status == HITL_OK && j->next < j->end) {
        while (j->chunks[j->chunk].first + j->chunks[j->chunk].n <= j->next)
            j->chunk++;
        const hitl__chunk *c = &j->chunks[j->chunk];
        size_t left = c->first + c->n - j->next;
        if (left > j->end - j->next)
            left = j->end - j->next;
        *first = j->next;
        *n = left < j->rows ? left : j->rows;
        *X = c->rows + (j->next - c->first) * c->stride;
        *stride = c->stride;
        j->next += *n;
        more = 1;
    }
    pthread_mutex_unlock(&j->lock);
    return more;
}

/* Keep the failure of the lowest block, so the reported one does not depend
 * on thread timing.  fn_msg is "fn: detail" as hitl__fail formats it. */
static void record_failure(job *j, int status, size_t at, const char *fn,
                           const char *detail)
{
    pthread_mutex_lock(&j->lock);
    if (j->status == HITL_OK || at < j->fail_at) {
        j->status = status;
        j->fail_at = at;
        snprintf(j->fail_fn, sizeof j->fail_fn, "%s", fn);
        snprintf(j->fail_msg, sizeof j->fail_msg, "%s", detail);
    }
    pthread_mutex_unlock(&j->lock);
}

static void fail_block(job *j, int status, size_t at, const char *fmt, ...)
    HITL__PRINTF(4, 5);
static void fail_block(job *j, int status, size_t at, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    record_failure(j, status, at, j->fn, msg);
}

/* A consumer failed and (perhaps) set this thread's message "fn: detail". */
static void consumer_failed(job *j, int status, size_t at)
{
    const char *m = hitl_error_message(), *sep = strstr(m, ": ");
    char fn[64];
    if (sep && (size_t)(sep - m) < sizeof fn) {
        memcpy(fn, m, (size_t)(sep - m));
        fn[sep - m] = '\0';
        record_failure(j, status, at, fn, sep + 2);
    } else {
        record_failure(j, status, at, j->fn,
                       *m ? m : "the block consumer failed");
    }
}

/* A custom model's block: finite, >= 0 and a positive sum per row, then
 * rows scaled to sum 1. */
static int check_callback_rows(job *j, float *p, size_t first, size_t n, size_t K)
{
    for (size_t i = 0; i < n; i++) {
        float *row = p + i * K;
        double sum = 0;
        for (size_t c = 0; c < K; c++) {
            if (!isfinite(row[c]) || row[c] < 0) {
                fail_block(j, HITL_ECALLBACK, first,
                           "predict callback gave row %zu class %zu the value %g "
                           "(must be finite and >= 0)", first + i, c, (double)row[c]);
                return -1;
            }
            sum += row[c];
        }
        if (!(sum > 0)) {
            fail_block(j, HITL_ECALLBACK, first,
                       "predict callback gave row %zu probabilities that sum to 0",
                       first + i);
            return -1;
        }
        for (size_t c = 0; c < K; c++)
            row[c] = (float)(row[c] / sum);
    }
    return 0;
}

static void score_block(worker *w, size_t first, size_t n, const float *X,
                        size_t stride)
{
    job *j = w->job;
    const hitl_model *m = j->model;
    size_t K = m->n_classes, ld = HITL__ROUND16(n);
    const float *proba;
    if (m->kind == HITL__MODEL_LOGREG) {
        linear_isa(w->cm, ld, &j->lin, X, n, stride, j->isa);
        size_t bad = softmax_isa(w->cm, ld, n, K, j->isa);
        if (bad) {
            fail_block(j, HITL_ENUMERIC, first,
                       "row %zu: logits overflow float32 (features too large)",
                       first + bad - 1);
            return;
        }
        proba = w->cm;
        if (j->layout == HITL__LAYOUT_ROWS) {
            cm_to_rm(w->rm, w->cm, ld, n, K);
            proba = w->rm;
        }
    } else {
        int rc = m->predict_cb(m->user, X, n, stride, m->dim, w->rm);
        if (rc != 0) {
            fail_block(j, HITL_ECALLBACK, first,
                       "predict callback returned %d for rows [%zu, %zu)", rc,
                       first, first + n);
            return;
        }
        if (check_callback_rows(j, w->rm, first, n, K) != 0)
            return;
        proba = w->rm;
        if (j->layout == HITL__LAYOUT_CLASSES) {
            rm_to_cm(w->cm, ld, w->rm, n, K);
            proba = w->cm;
        }
    }
    int rc = j->consume(j->states[w->index], first, n, proba, K);
    if (rc != 0)
        consumer_failed(j, rc, first);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    size_t first, n, stride;
    const float *X;
    while (next_block(w->job, &first, &n, &X, &stride))
        score_block(w, first, n, X, stride);
    return NULL;
}

static void free_workers(worker *ws, size_t n)
{
    for (size_t i = 0; ws && i < n; i++) {
        hitl__free(ws[i].cm);
        hitl__free(ws[i].rm);
    }
    hitl__free(ws);
}

/* Every buffer is allocated here, in the calling thread, before any work
 * starts; a thread that cannot be started only means fewer workers. */
static int run(job *j, size_t first, size_t n, size_t n_workers)
{
    const hitl_model *m = j->model;
    size_t K = m->n_classes, cm_cells, rm_cells;
    int need_rm = m->kind == HITL__MODEL_CUSTOM || j->layout == HITL__LAYOUT_ROWS;
    if (hitl__mul_size(&cm_cells, HITL__ROUND16(j->rows), K) != 0 ||
        cm_cells > SIZE_MAX / sizeof(float) ||
        hitl__mul_size(&rm_cells, j->rows, K) != 0)
        return hitl__fail_in(HITL_ENOMEM, j->fn,
                             "a block of %zu rows x %zu classes does not fit in memory",
                             j->rows, K);
    worker *ws = hitl__calloc(n_workers, sizeof *ws);
    int ok = ws != NULL;
    for (size_t i = 0; ok && i < n_workers; i++) {
        ws[i].job = j;
        ws[i].index = i;
        ws[i].cm = hitl__malloc(cm_cells * sizeof(float));
        ws[i].rm = need_rm ? hitl__malloc(rm_cells * sizeof(float)) : NULL;
        ok = ws[i].cm && (ws[i].rm || !need_rm);
    }
    if (!ok) {
        free_workers(ws, n_workers);
        return hitl__fail_in(HITL_ENOMEM, j->fn,
                             "out of memory for %zu workers' blocks of %zu x %zu",
                             n_workers, j->rows, K);
    }
    if (pthread_mutex_init(&j->lock, NULL) != 0) {
        free_workers(ws, n_workers);
        return hitl__fail_in(HITL_ENOMEM, j->fn, "cannot create a mutex");
    }
    j->end = first + n;
    j->next = first;
    j->chunk = 0;
    while (j->chunks[j->chunk].first + j->chunks[j->chunk].n <= first)
        j->chunk++;
    j->status = HITL_OK;

    size_t started = 1;
    for (; started < n_workers; started++)
        if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0)
            break;
    worker_main(&ws[0]);
    for (size_t i = 1; i < started; i++)
        pthread_join(ws[i].thread, NULL);
    pthread_mutex_destroy(&j->lock);
    free_workers(ws, n_workers);
    if (j->status != HITL_OK)
        return hitl__fail_in(j->status, j->fail_fn, "%s", j->fail_msg);
    return HITL_OK;
}

static void job_init(job *j, const hitl_model *m, const hitl__chunk *chunks,
                     size_t n_chunks, int layout, hitl__block_fn consume,
                     void **states, const char *fn)
{
    memset(j, 0, sizeof *j);
    j->model = m;
    j->lin = model_linear(m);
    j->isa = hitl__score_isa();
    j->layout = layout;
    j->chunks = chunks;
    j->n_chunks = n_chunks;
    j->rows = hitl__score_block_rows(m);
    j->consume = consume;
    j->states = states;
    j->fn = fn;
}

int hitl__score_run(const hitl_model *model, const hitl_pool *pool, size_t first,
                    size_t n, int layout, hitl__block_fn consume, void **states,
                    const char *fn)
{
    if (!model->fitted)
        return hitl__fail_in(HITL_ESTATE, fn, "the model is not fitted");
    if (n == 0)
        return HITL_OK;
    job j;
    job_init(&j, model, pool->chunks, pool->n_chunks, layout, consume, states, fn);
    size_t blocks = count_blocks(pool->chunks, pool->n_chunks, first, n, j.rows);
    size_t t = workers_for(model, blocks), all = hitl__score_workers(model, pool);
    return run(&j, first, n, t < all ? t : all);
}

int hitl__score_pool(const hitl_model *model, const hitl_pool *pool, size_t first,
                     size_t n, hitl__block_fn consume, void **states)
{
    return hitl__score_run(model, pool, first, n, HITL__LAYOUT_ROWS, consume, states,
                           __func__);
}

/* ------------------------------------------------------------------------- */
/* Public predict                                                             */
/* ------------------------------------------------------------------------- */

typedef struct copy_out {
    float *proba;
    size_t base;               /* row index of proba[0] */
} copy_out;

static int copy_block(void *state, size_t first, size_t n, const float *proba,
                      size_t K)
{
    copy_out *o = state;
    memcpy(o->proba + (first - o->base) * K, proba, n * K * sizeof *proba);
    return HITL_OK;
}

static int check_model(const hitl_model *model, const char *fn)
{
    if (!model->fitted)
        return hitl__fail_in(HITL_ESTATE, fn, "the model is not fitted");
    return HITL_OK;
}

/* Every worker's state is the same output, written at disjoint rows. */
static int predict_chunks(float *proba, const hitl_model *model,
                          const hitl__chunk *chunks, size_t n_chunks, size_t first,
                          size_t n, const char *fn)
{
    job j;
    copy_out out = { proba, first };
    size_t t = workers_for(model, count_blocks(chunks, n_chunks, first, n,
                                               hitl__score_block_rows(model)));
    void **states = hitl__malloc(t * sizeof *states);
    if (!states)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu workers", t);
    for (size_t i = 0; i < t; i++)
        states[i] = &out;
    job_init(&j, model, chunks, n_chunks, HITL__LAYOUT_ROWS, copy_block, states, fn);
    int st = run(&j, first, n, t);
    hitl__free(states);
    return st;
}

int hitl_model_predict(float *proba, const hitl_model *model, const float *X,
                       size_t n, size_t stride)
{
    if (!model)
        return hitl__fail(HITL_EINVAL, "model is NULL");
    if (n > 0 && (!proba || !X))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !proba ? "proba" : "X");
    if (stride < model->dim)
        return hitl__fail(HITL_EINVAL, "stride %zu < dim %zu", stride, model->dim);
    int st = check_model(model, __func__);
    if (st != HITL_OK || n == 0)
        return st;
    size_t cells;
    if (hitl__mul_size(&cells, n - 1, stride) != 0 || cells > SIZE_MAX - model->dim)
        return hitl__fail(HITL_EINVAL, "%zu rows of stride %zu do not fit in memory",
                          n, stride);
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * stride;
        for (size_t c = 0; c < model->dim; c++)
            if (!isfinite(x[c]))
                return hitl__fail(HITL_ENUMERIC, "X[%zu][%zu] is %s", i, c,
                                  isnan(x[c]) ? "NaN" : "Inf");
    }
    hitl__chunk chunk = { .rows = X, .owned = NULL, .first = 0, .n = n, .stride = stride };
    return predict_chunks(proba, model, &chunk, 1, 0, n, __func__);
}

int hitl_model_predict_pool(float *proba, const hitl_model *model,
                            const hitl_pool *pool, size_t first, size_t n)
{
    if (!model || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !model ? "model" : "pool");
    if (n > 0 && !proba)
        return hitl__fail(HITL_EINVAL, "proba is NULL");
    if (pool->dim != model->dim)
        return hitl__fail(HITL_EINVAL, "pool dim %zu differs from model dim %zu",
                          pool->dim, model->dim);
    if (first > pool->n || n > pool->n - first)
        return hitl__fail(HITL_EINVAL, "items [%zu, %zu + %zu) leave the pool of %zu",
                          first, first, n, pool->n);
    int st = check_model(model, __func__);
    if (st != HITL_OK || n == 0)
        return st;
    return predict_chunks(proba, model, pool->chunks, pool->n_chunks, first, n,
                          __func__);
}
