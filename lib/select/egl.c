/*
 * Expected gradient length (Settles, Craven & Ray 2008) of the built-in
 * multinomial logistic regression.  The gradient of -log softmax(W x~)[y]
 * with respect to the K x (d+1) weights is (p - e_y) x~^T, whose Frobenius
 * norm is ||p - e_y|| ||x~||, and ||p - e_y||^2 = S - 2 p_y + 1 with
 * S = sum_k p_k^2; so the expectation over y ~ p costs O(K) per item once
 * the row's norm is known.  The measure pass computes the norms of a block
 * right after the kernel has read it, while it is still in cache.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "select/select.h"

#include <math.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_X86_KERNELS 1
#include <immintrin.h>
#endif

/* ||p - e_y||^2 = (1 - p_y)^2 + sum_{k != y} p_k^2.  Written as
 * S - 2 p_y + 1 it is, for a confident item's likeliest class, a difference
 * of numbers near 1 whose result is tiny (a relative error of 1e-3 in
 * float); so the sum of the other squares is T (the squares of every class
 * but the likeliest, the first one at the top if several tie, summed
 * directly) for that class, and T + (top - p_y)(top + p_y) for the others:
 * sums of terms >= 0, accurate in float.  Three passes over the block's K
 * rows: the top, T, the sum.  The AVX-512 and AVX2 forms are the portable
 * one, 16 or 8 items a step, with the vector square root. */
static void egl_portable(float *sum, const float *P, size_t ld, size_t i0, size_t K)
{
    for (int r = 0; r < 16; r++) {
        const float *p = P + i0 + (size_t)r;
        float top = p[0], T = 0, acc = 0;
        size_t at = 0;
        for (size_t c = 1; c < K; c++)
            if (p[c * ld] > top) {
                top = p[c * ld];
                at = c;
            }
        for (size_t c = 0; c < K; c++)
            T += c == at ? 0.0f : p[c * ld] * p[c * ld];
        for (size_t c = 0; c < K; c++) {
            float v = p[c * ld], q = 1.0f - v;
            float others = c == at ? T : T + (top - v) * (top + v);
            acc += v * sqrtf(q * q + others);
        }
        sum[r] = acc;
    }
}

#ifdef HAVE_X86_KERNELS
__attribute__((target("avx512f"))) static void
egl_avx512(float *sum, const float *P, size_t ld, size_t i0, size_t K)
{
    const float *p = P + i0;
    __m512 top = _mm512_loadu_ps(p), T = _mm512_setzero_ps(), acc = T;
    __m512 one = _mm512_set1_ps(1.0f);
    for (size_t c = 1; c < K; c++)
        top = _mm512_max_ps(top, _mm512_loadu_ps(p + c * ld));
    __mmask16 seen = 0;
    for (size_t c = 0; c < K; c++) {
        __m512 v = _mm512_loadu_ps(p + c * ld);
        __mmask16 first = _mm512_cmp_ps_mask(v, top, _CMP_EQ_OQ) & (__mmask16)~seen;
        seen |= first;
        T = _mm512_mask_add_ps(T, (__mmask16)~first, T, _mm512_mul_ps(v, v));
    }
    seen = 0;
    for (size_t c = 0; c < K; c++) {
        __m512 v = _mm512_loadu_ps(p + c * ld), q = _mm512_sub_ps(one, v);
        __mmask16 first = _mm512_cmp_ps_mask(v, top, _CMP_EQ_OQ) & (__mmask16)~seen;
        seen |= first;
        __m512 diff = _mm512_mul_ps(_mm512_sub_ps(top, v), _mm512_add_ps(top, v));
        __m512 others = _mm512_mask_add_ps(T, (__mmask16)~first, T, diff);
        __m512 g = _mm512_fmadd_ps(q, q, others);
        acc = _mm512_fmadd_ps(v, _mm512_sqrt_ps(g), acc);
    }
    _mm512_storeu_ps(sum, acc);
}

__attribute__((target("avx2,fma"))) static void
egl_avx2(float *sum, const float *P, size_t ld, size_t i0, size_t K)
{
    for (int h = 0; h < 16; h += 8) {
        const float *p = P + i0 + (size_t)h;
        __m256 top = _mm256_loadu_ps(p), T = _mm256_setzero_ps(), acc = T;
        __m256 one = _mm256_set1_ps(1.0f), zero = T;
        for (size_t c = 1; c < K; c++)
            top = _mm256_max_ps(top, _mm256_loadu_ps(p + c * ld));
        __m256 seen = zero;
        for (size_t c = 0; c < K; c++) {
            __m256 v = _mm256_loadu_ps(p + c * ld);
            __m256 first = _mm256_andnot_ps(seen, _mm256_cmp_ps(v, top, _CMP_EQ_OQ));
            seen = _mm256_or_ps(seen, first);
            T = _mm256_add_ps(T, _mm256_andnot_ps(first, _mm256_mul_ps(v, v)));
        }
        seen = zero;
        for (size_t c = 0; c < K; c++) {
            __m256 v = _mm256_loadu_ps(p + c * ld), q = _mm256_sub_ps(one, v);
            __m256 first = _mm256_andnot_ps(seen, _mm256_cmp_ps(v, top, _CMP_EQ_OQ));
            seen = _mm256_or_ps(seen, first);
            __m256 diff = _mm256_mul_ps(_mm256_sub_ps(top, v), _mm256_add_ps(top, v));
            __m256 others = _mm256_add_ps(T, _mm256_andnot_ps(first, diff));
            __m256 g = _mm256_fmadd_ps(q, q, others);
            acc = _mm256_fmadd_ps(v, _mm256_sqrt_ps(g), acc);
        }
        _mm256_storeu_ps(sum + h, acc);
    }
}
#endif

void hitl__egl_block(double *val, const float *P, size_t ld, size_t n, size_t K,
                     const float *xn2, int intercept)
{
    int isa = hitl__isa();
    for (size_t i0 = 0; i0 < n; i0 += 16) {
        float sum[16];
        switch (isa) {
#ifdef HAVE_X86_KERNELS
        case HITL__ISA_AVX512: egl_avx512(sum, P, ld, i0, K); break;
        case HITL__ISA_AVX2: egl_avx2(sum, P, ld, i0, K); break;
#endif
        default: egl_portable(sum, P, ld, i0, K); break;
        }
        size_t m = n - i0 < 16 ? n - i0 : 16;
        for (size_t r = 0; r < m; r++)
            val[i0 + r] = sqrt((double)xn2[i0 + r] + intercept) * (double)sum[r];
    }
}

const float *hitl__pool_block_rows(const hitl_pool *pool, size_t first, size_t *stride)
{
    size_t lo = 0, hi = pool->n_chunks;
    while (hi - lo > 1) {          /* the last chunk starting at or before first */
        size_t mid = lo + (hi - lo) / 2;
        if (pool->chunks[mid].first <= first)
            lo = mid;
        else
            hi = mid;
    }
    const hitl__chunk *ch = &pool->chunks[lo];
    *stride = ch->stride;
    return ch->rows + (first - ch->first) * ch->stride;
}
