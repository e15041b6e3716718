/*
 * vecmath: the vector arithmetic of class-major blocks (probabilities of a
 * block of items, P[c*ld + i] for class c of item i): softmax down the
 * columns, log, entropy, and the change between that layout and row-major.
 * Each has an AVX-512, an AVX2 and a portable path, picked at run time
 * (base/cpu.c); loops run 16 items at a time over ld, a multiple of 16.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "learn/learn.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_X86_KERNELS 1
#include <immintrin.h>
#endif

/* exp() of inputs below this underflows; the softmax clamps there so that
 * every lane stays on the fast path of the vector exp (exp(-87) ~ 1.6e-38 is
 * already negligible next to the 1 of the column max). */
#define EXP_FLOOR -87.0f

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
    switch (hitl__isa()) {
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
    switch (hitl__isa()) {
#ifdef HAVE_X86_MATH
    case HITL__ISA_AVX512: entropy_avx512(h, P, ld, C); break;
    case HITL__ISA_AVX2:   entropy_avx2(h, P, ld, C); break;
#endif
    default:               entropy_portable(h, P, ld, C); break;
    }
}

/* Columns n .. round16(n)-1 repeat column n-1, so that 16-wide loops over
 * the block see finite values everywhere. */
void hitl__pad_columns(float *out, size_t ldo, size_t C, size_t n)
{
    size_t n16 = HITL__ROUND16(n);
    for (size_t c = 0; c < C; c++)
        for (size_t i = n; i < n16; i++)
            out[c * ldo + i] = out[c * ldo + n - 1];
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

size_t hitl__softmax_cm_isa(float *P, size_t ld, size_t n, size_t C, int isa)
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
    return hitl__softmax_cm_isa(P, ld, n, C, hitl__isa());
}

/* ------------------------------------------------------------------------- */
/* Layout changes (16 x 16 tiles, so both sides stay in cache)                */
/* ------------------------------------------------------------------------- */

void hitl__to_rows(float *R, const float *P, size_t ld, size_t n, size_t C)
{
    for (size_t i0 = 0; i0 < n; i0 += 16)
        for (size_t c0 = 0; c0 < C; c0 += 16) {
            size_t ie = i0 + 16 < n ? i0 + 16 : n, ce = c0 + 16 < C ? c0 + 16 : C;
            for (size_t i = i0; i < ie; i++)
                for (size_t c = c0; c < ce; c++)
                    R[i * C + c] = P[c * ld + i];
        }
}

void hitl__to_classes(float *P, size_t ld, const float *R, size_t n, size_t C)
{
    for (size_t c0 = 0; c0 < C; c0 += 16)
        for (size_t i0 = 0; i0 < n; i0 += 16) {
            size_t ie = i0 + 16 < n ? i0 + 16 : n, ce = c0 + 16 < C ? c0 + 16 : C;
            for (size_t c = c0; c < ce; c++)
                for (size_t i = i0; i < ie; i++)
                    P[c * ld + i] = R[i * C + c];
        }
    hitl__pad_columns(P, ld, C, n);
}
