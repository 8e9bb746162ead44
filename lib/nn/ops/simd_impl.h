/* simd_impl.h: the AVX-512 pieces that the ops' channel loops share: the
 * mask of the first `left` of 16 lanes (all 16 from 16 on, none at 0 or
 * below) and the widening of a float vector's low and high 8 lanes to
 * double. Private to lib/nn/ops. */
#ifndef SSL_SIMD_IMPL_H
#define SSL_SIMD_IMPL_H

#ifdef __AVX512F__
#include <immintrin.h>

static inline __mmask16 tail_mask16(int left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}
static inline __m512d lo_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline __m512d hi_pd(__m512 v) {
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
#endif

#endif
