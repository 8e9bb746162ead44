/* act_impl.h: the MobileNets' activations and their gradients, one element
 * (act1, dact1), 16 (act16, dact16, AVX-512 builds) or 8 (act8, AVX2 builds
 * without AVX-512: dwconv.c's vectors), for the kernels that
 * apply them in their own passes (act.c) or fused into others' epilogues
 * (bn.c, dwconv.c, conv_direct.c), so that every path gives the same bits.
 * ACT_* and the definitions at the kinks are in ops.h. Private to
 * lib/nn/ops. */
#ifndef SSL_ACT_IMPL_H
#define SSL_ACT_IMPL_H
#include "nn/ops/ops.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* ---- the MobileNets' activations ----
 * One scalar formula per activation and its gradient; the AVX-512 loops
 * do the same operations in the same order (max/min then multiply then
 * divide), so a vector lane and the scalar tail give the same bits. */
static inline float act1(float x, int act) {
    float t;
    switch (act) {
    case ACT_RELU: return x > 0 ? x : 0.0f;
    case ACT_RELU6: t = x > 0 ? x : 0.0f; return t < 6 ? t : 6.0f;
    case ACT_HSWISH: t = x + 3.0f; t = t > 0 ? t : 0.0f; t = t < 6 ? t : 6.0f; return x * t / 6.0f;
    case ACT_HSIGMOID: t = x + 3.0f; t = t > 0 ? t : 0.0f; t = t < 6 ? t : 6.0f; return t / 6.0f;
    default: return x;
    }
}

static inline float dact1(float g, float x, int act) {
    switch (act) {
    case ACT_RELU: return x > 0 ? g : 0.0f;
    case ACT_RELU6: return x > 0 && x < 6 ? g : 0.0f;
    case ACT_HSWISH: return x < -3 ? 0.0f : x <= 3 ? g * (x / 3.0f + 0.5f) : g;
    case ACT_HSIGMOID: return x > -3 && x < 3 ? g / 6.0f : 0.0f;
    default: return g;
    }
}

#ifdef __AVX512F__
static inline __m512 act16(__m512 x, int act) {
    const __m512 z = _mm512_setzero_ps(), six = _mm512_set1_ps(6), three = _mm512_set1_ps(3);
    __m512 t;
    switch (act) {
    case ACT_RELU: return _mm512_max_ps(x, z);
    case ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(x, z), six);
    case ACT_HSWISH:
        t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(x, three), z), six);
        return _mm512_div_ps(_mm512_mul_ps(x, t), six);
    case ACT_HSIGMOID:
        t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(x, three), z), six);
        return _mm512_div_ps(t, six);
    default: return x;
    }
}

static inline __m512 dact16(__m512 g, __m512 x, int act) {
    const __m512 z = _mm512_setzero_ps(), six = _mm512_set1_ps(6), three = _mm512_set1_ps(3);
    const __m512 m3 = _mm512_set1_ps(-3);
    __mmask16 m;
    switch (act) {
    case ACT_RELU: return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, z, _CMP_GT_OQ), g);
    case ACT_RELU6:
        m = _mm512_cmp_ps_mask(x, z, _CMP_GT_OQ) & _mm512_cmp_ps_mask(x, six, _CMP_LT_OQ);
        return _mm512_maskz_mov_ps(m, g);
    case ACT_HSWISH: {
        __m512 mid = _mm512_mul_ps(g, _mm512_add_ps(_mm512_div_ps(x, three), _mm512_set1_ps(0.5f)));
        __m512 r = _mm512_mask_mov_ps(g, _mm512_cmp_ps_mask(x, three, _CMP_LE_OQ), mid);
        return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, m3, _CMP_LT_OQ), z);
    }
    case ACT_HSIGMOID:
        m = _mm512_cmp_ps_mask(x, m3, _CMP_GT_OQ) & _mm512_cmp_ps_mask(x, three, _CMP_LT_OQ);
        return _mm512_maskz_mov_ps(m, _mm512_div_ps(g, six));
    default: return g;
    }
}
#endif

#if !defined(__AVX512F__) && defined(__AVX2__)
static inline __m256 act8(__m256 x, int act) {
    const __m256 z = _mm256_setzero_ps(), six = _mm256_set1_ps(6), three = _mm256_set1_ps(3);
    __m256 t;
    switch (act) {   /* max(x, 0) returns 0 for x NaN or -0, as act1 */
    case ACT_RELU: return _mm256_max_ps(x, z);
    case ACT_RELU6: return _mm256_min_ps(_mm256_max_ps(x, z), six);
    case ACT_HSWISH:
        t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, three), z), six);
        return _mm256_div_ps(_mm256_mul_ps(x, t), six);
    case ACT_HSIGMOID:
        t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, three), z), six);
        return _mm256_div_ps(t, six);
    default: return x;
    }
}
#endif

#endif
