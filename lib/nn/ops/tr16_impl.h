/* tr16_impl.h: the 16 x 16 in-register transpose of 32-bit lanes that
 * gemm.c and gemm_bf16.c pack their panels with (private to nn/ops).
 * Include it where AVX-512F is enabled: after <immintrin.h>, in a file
 * built with -mavx512f or inside a #pragma GCC target region with it. */
#ifndef SSL_TR16_IMPL_H
#define SSL_TR16_IMPL_H
#include <immintrin.h>

/* v[0..15] := its transpose (v[i] lane j -> v[j] lane i). */
static inline __attribute__((always_inline)) void tr16(__m512 *v) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    /* v[4g + q], lane L: column 4L + q of rows 4g..4g+3 */
    for (int g = 0; g < 16; g += 4) {
        __m512d a = _mm512_castps_pd(t[g]), b = _mm512_castps_pd(t[g + 1]);
        __m512d c = _mm512_castps_pd(t[g + 2]), d = _mm512_castps_pd(t[g + 3]);
        v[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        v[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        v[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        v[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int q = 0; q < 4; q++) {
        t[q] = _mm512_shuffle_f32x4(v[q], v[4 + q], 0x88);
        t[q + 4] = _mm512_shuffle_f32x4(v[q], v[4 + q], 0xdd);
        t[q + 8] = _mm512_shuffle_f32x4(v[8 + q], v[12 + q], 0x88);
        t[q + 12] = _mm512_shuffle_f32x4(v[8 + q], v[12 + q], 0xdd);
    }
    for (int q = 0; q < 4; q++) {
        v[q] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0x88);
        v[q + 8] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0xdd);
        v[q + 4] = _mm512_shuffle_f32x4(t[q + 4], t[q + 12], 0x88);
        v[q + 12] = _mm512_shuffle_f32x4(t[q + 4], t[q + 12], 0xdd);
    }
}
#endif
