/*
 * kernel: the stacked linear layer, out = b + X W, class-major, for a block
 * of rows (the contract is in learn/learn.h).  A register-blocked kernel
 * chosen at run time for AVX-512, AVX2+FMA or portable C, and cblas_sgemm
 * once W is so large that OpenBLAS's cache blocking wins.  Serves the
 * built-in model's scorer, the committee's stacked members and the
 * distance folds of diversity sampling alike.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "learn/learn.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

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

/* ------------------------------------------------------------------------- */
/* The linear block kernel                                                    */
/* ------------------------------------------------------------------------- */

size_t hitl__linear_ldw(size_t C)
{
    return (C + 15) & ~(size_t)15;
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
    switch (hitl__isa()) {
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

int hitl__linear_wide(size_t d, size_t C)
{
    return d * hitl__linear_ldw(C) > KERNEL_MAX_W;
}

int hitl__linear_uses_blas(const hitl__linear *L, size_t n, size_t stride)
{
    return hitl__linear_wide(L->d, L->C) && L->C <= INT_MAX && L->d <= INT_MAX &&
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

void hitl__linear_block_isa(float *out, size_t ldo, const hitl__linear *L,
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
    hitl__pad_columns(out, ldo, L->C, n);
}

void hitl__linear_block(float *out, size_t ldo, const hitl__linear *L,
                        const float *X, size_t n, size_t stride)
{
    hitl__linear_block_isa(out, ldo, L, X, n, stride, hitl__isa());
}

/* ------------------------------------------------------------------------- */
/* The linear block kernel on CSR rows                                        */
/* ------------------------------------------------------------------------- */

/* W is feature-major (row j: the ldw outputs of feature j), so a non-zero
 * (j, v) adds v * W[j][c0 .. c0+15] to sixteen accumulators: one contiguous
 * 64-byte load and one multiply-add per non-zero and panel of 16 outputs,
 * the row's indices and values read once from memory (again from L1 for
 * further panels).  Two accumulator sets (even and odd non-zeros) halve the
 * dependency chain of the adds.  W rows are prefetched CSR_AHEAD non-zeros
 * ahead, across row ends (the block's non-zeros are contiguous): the
 * columns of text are scattered over W, which rarely fits in L2.  Measured
 * (bench_sparse, 2e5 rows, dim 2^18, 100 Zipf columns a row, K 10, one
 * thread, a loaded 2-core Zen 5): no prefetch 14x the CPU time of a read of
 * indices and values, 16 ahead within the row 9x, 48 ahead across rows 8x,
 * 128 ahead 7x (256: no better); four accumulator sets instead of two did
 * not help: the W lines, not the adds, are the bound.  Rows are independent, so a row's result never depends on where a
 * block was cut. */
#define CSR_AHEAD 128

/* Prefetch the W rows of non-zeros p and p+1 (positions past `end`, the
 * block's last non-zero, are skipped: the next block is another thread's). */
__attribute__((always_inline)) static inline void
csr_prefetch(const float *W, size_t ldw, const int32_t *indices, size_t p, size_t end)
{
    if (p + 1 < end) {
        __builtin_prefetch(W + (size_t)indices[p] * ldw);
        __builtin_prefetch(W + (size_t)indices[p + 1] * ldw);
    } else if (p < end) {
        __builtin_prefetch(W + (size_t)indices[p] * ldw);
    }
}

__attribute__((always_inline)) static inline void
csr_rows_ldw(float *out, size_t ldo, const hitl__linear *L, const int32_t *indptr,
             const int32_t *indices, const float *values, size_t n, size_t ldw)
{
    size_t end = (size_t)indptr[n];
    const float *W = L->w;
    for (size_t i = 0; i < n; i++) {
        size_t p0 = (size_t)indptr[i], p1 = (size_t)indptr[i + 1];
        for (size_t c0 = 0; c0 < L->C; c0 += 16) {
            v16f a, b = { 0 };
            memcpy(&a, L->b + c0, sizeof a);
            size_t p = p0;
            for (; p + 1 < p1; p += 2) {
                if (c0 == 0)  /* further panels find the rows in cache */
                    csr_prefetch(W, ldw, indices, p + CSR_AHEAD, end);
                v16f w0, w1;
                memcpy(&w0, W + (size_t)indices[p] * ldw + c0, sizeof w0);
                memcpy(&w1, W + (size_t)indices[p + 1] * ldw + c0, sizeof w1);
                a += values[p] * w0;
                b += values[p + 1] * w1;
            }
            if (p < p1) {
                if (c0 == 0)
                    csr_prefetch(W, ldw, indices, p + CSR_AHEAD, end);
                v16f w0;
                memcpy(&w0, W + (size_t)indices[p] * ldw + c0, sizeof w0);
                a += values[p] * w0;
            }
            a += b;
            size_t m = L->C - c0 < 16 ? L->C - c0 : 16;
            for (size_t c = 0; c < m; c++)
                out[(c0 + c) * ldo + i] = a[c];
        }
    }
}

/* Layers of up to 16 outputs (a model of up to 16 classes, a k-center
 * centre) get ldw as a constant: a shift, not a multiply, per address. */
__attribute__((always_inline)) static inline void
csr_rows(float *out, size_t ldo, const hitl__linear *L, const int32_t *indptr,
         const int32_t *indices, const float *values, size_t n)
{
    if (L->ldw == 16)
        csr_rows_ldw(out, ldo, L, indptr, indices, values, n, 16);
    else
        csr_rows_ldw(out, ldo, L, indptr, indices, values, n, L->ldw);
}

static void csr_portable(float *out, size_t ldo, const hitl__linear *L,
                         const int32_t *indptr, const int32_t *indices,
                         const float *values, size_t n)
{
    csr_rows(out, ldo, L, indptr, indices, values, n);
}

#ifdef HAVE_X86_KERNELS
__attribute__((target("avx512f"))) static void
csr_avx512(float *out, size_t ldo, const hitl__linear *L, const int32_t *indptr,
           const int32_t *indices, const float *values, size_t n)
{
    csr_rows(out, ldo, L, indptr, indices, values, n);
}

__attribute__((target("avx2"))) static void
csr_avx2(float *out, size_t ldo, const hitl__linear *L, const int32_t *indptr,
         const int32_t *indices, const float *values, size_t n)
{
    csr_rows(out, ldo, L, indptr, indices, values, n);
}
#endif

void hitl__linear_csr_isa(float *out, size_t ldo, const hitl__linear *L,
                          const int32_t *indptr, const int32_t *indices,
                          const float *values, size_t n, int isa)
{
    if (n == 0)
        return;
    switch (isa) {
#ifdef HAVE_X86_KERNELS
    case HITL__ISA_AVX512: csr_avx512(out, ldo, L, indptr, indices, values, n); break;
    case HITL__ISA_AVX2:   csr_avx2(out, ldo, L, indptr, indices, values, n); break;
#endif
    default:               csr_portable(out, ldo, L, indptr, indices, values, n); break;
    }
    hitl__pad_columns(out, ldo, L->C, n);
}

void hitl__linear_rows_isa(float *out, size_t ldo, const hitl__linear *L,
                           const hitl__block *bk, size_t r0, size_t n, int isa)
{
    if (bk->rows)
        hitl__linear_block_isa(out, ldo, L, bk->rows + r0 * bk->stride, n, bk->stride, isa);
    else
        hitl__linear_csr_isa(out, ldo, L, bk->indptr + r0, bk->indices, bk->values, n, isa);
}

void hitl__linear_rows(float *out, size_t ldo, const hitl__linear *L, const hitl__block *bk,
                       size_t r0, size_t n)
{
    hitl__linear_rows_isa(out, ldo, L, bk, r0, n, hitl__isa());
}
