/* conv_amx.c: the bf16 AMX forward of the non-Winograd convolutions
 * (conv_amx.h). Layout: the packed weight Wb holds, per block of 16
 * output channels ob and block of 32 k kb, one B tile (16 rows of k
 * pairs, each 16 channels x 2 words): word ((ob*NKB + kb)*16 + r)*32 +
 * 2j + e = bf(w[16 ob + j, 32 kb + 2r + e]), zero for k >= K. A part of
 * the work is a chunk of CA_ROWS output pixels: their im2col rows in
 * bf16 (Kp = 32 NKB words each, zero beyond K, zero rows past the last
 * pixel), then, k block by k block (CA_KBLK x 32 k, so that the rows of
 * the chunk and of the weights in use stay in L1), for each pair of
 * channel blocks and each 32 rows, four C tiles (two A tiles x two B
 * tiles) summed over the k block into the chunk's fp32 sums (loaded back
 * for the next k block: the same chain); then the sums written out
 * through the epilogue (the same operations as conv_direct.c's,
 * act_impl.h's act16). */
#include "nn/ops/conv_amx.h"

#include <string.h>

#include "nn/ops/conv_winograd.h"

#include "util/threads.h"

#define CA_ROWS 128          /* output pixels per chunk (a multiple of 32) */
#define CA_KBLK 8            /* k blocks of 32 per pass over the chunk */
#define CA_MAX_PARTS 16

#ifdef __AVX512F__
static int64_t kpad(const conv_shape *s) {
    int64_t K = (int64_t)s->KH * s->KW * s->C;
    return (K + 31) / 32 * 32;
}

/* floats of the packed weight, rounded up to 64 bytes */
static int64_t wb_floats(const conv_shape *s) {
    return (kpad(s) * s->OC / 2 + 15) / 16 * 16;
}

/* floats of one part's scratch: the chunk's rows, then its fp32 sums
 * (CA_ROWS x OC) */
static int64_t part_floats(const conv_shape *s) {
    return CA_ROWS * kpad(s) / 2 + (int64_t)CA_ROWS * s->OC;
}

#include <immintrin.h>

#include "nn/ops/act_impl.h"

int ca_applies(const conv_shape *s) {
    return s->prec == PREC_BF16 && s->C >= 16 && s->OC % 16 == 0 && !wg_applies(s) && gemm_bf16_amx();
}

int64_t ca_workspace(const conv_shape *s) {
    if (s->C < 16 || s->OC % 16 || wg_applies(s)) return 0;
    return 16 + wb_floats(s) + (int64_t)CA_MAX_PARTS * part_floats(s);
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#include "nn/ops/amx_impl.h"

/* w [OC][C][KH][KW] as bf16 words (bf16_round: the rounding of the
 * rows' VCVTNEPS2BF16, subnormals to zero) at k = (kh*KW + kw)*C + c in
 * pairs: wb[ob][kb][(k%32)/2][16 channels][k%2]; k from K to Kp zero. */
static void pack_w(uint16_t *wb, const float *w, const conv_shape *s) {
    int C = s->C, KK = s->KH * s->KW, NKB = (int)(kpad(s) / 32);
    memset(wb, 0, sizeof(uint16_t) * (size_t)NKB * 32 * s->OC);
    for (int oc = 0; oc < s->OC; oc++) {
        uint16_t *dst = wb + (int64_t)(oc / 16) * NKB * 512 + 2 * (oc % 16);
        const float *src = w + (int64_t)oc * C * KK;
        for (int t = 0; t < KK; t++)
            for (int c = 0; c < C; c++) {
                int k = t * C + c;
                float r = bf16_round(src[(int64_t)c * KK + t]);
                uint32_t u;
                memcpy(&u, &r, 4);
                dst[(k >> 5) * 512 + ((k & 31) >> 1) * 32 + (k & 1)] = (uint16_t)(u >> 16);
            }
    }
}

/* rows [p0, p0 + np) of the im2col matrix (pixel p = (b*OH + oh)*OW + ow)
 * into a (CA_ROWS rows of Kp words; rows past np zero) */
static void im2col_bf16(uint16_t *a, const float *in, const conv_shape *s, int64_t p0, int np) {
    int C = s->C, Kp = (int)kpad(s), K = s->KH * s->KW * C;
    int64_t ohw = (int64_t)s->OH * s->OW;
    for (int i = 0; i < CA_ROWS; i++) {
        uint16_t *row = a + (int64_t)i * Kp;
        if (i >= np) { memset(row, 0, 2 * (size_t)Kp); continue; }
        int64_t p = p0 + i, b = p / ohw;
        int oh = (int)(p % ohw / s->OW), ow = (int)(p % s->OW);
        int k = 0;
        for (int kh = 0; kh < s->KH; kh++) {
            int ih = oh * s->stride - s->pad + kh;
            for (int kw = 0; kw < s->KW; kw++, k += C) {
                int iw = ow * s->stride - s->pad + kw;
                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) {
                    memset(row + k, 0, 2 * (size_t)C);
                    continue;
                }
                const float *x = in + (((int64_t)b * s->H + ih) * s->W + iw) * C;
                int c = 0;
                for (; c + 16 <= C; c += 16)
                    _mm256_storeu_si256((__m256i *)(row + k + c),
                                        (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + c)));
                if (c < C) {
                    __mmask16 m = (__mmask16)((1u << (C - c)) - 1);
                    __m256i v = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + c));
                    _mm256_mask_storeu_epi16(row + k + c, m, v);
                }
            }
        }
        if (Kp > K) memset(row + K, 0, 2 * (size_t)(Kp - K));
    }
}

/* The sums of 32 rows of a (Kp words apart) and channel blocks ob (and
 * ob + 1 where two) of wb, k blocks [kb0, kb1): c (rows cs bytes apart)
 * = (first ? 0 : c) + those products, in increasing k (fp32 c stored and
 * reloaded exactly, so the chain is one over all K whatever the k
 * blocking) */
__attribute__((target("amx-tile,amx-bf16")))
static void tiles(float *c, int cs, const uint16_t *a, int Kp, const uint16_t *wb, int NKB,
                  int kb0, int kb1, int two, int first) {
    const uint16_t *a0 = a, *a1 = a + (int64_t)16 * Kp;
    const uint16_t *b0 = wb, *b1 = wb + (int64_t)NKB * 512;
    float *c1 = c + (int64_t)16 * (cs / 4);
    if (first) {
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    } else {
        _tile_loadd(0, c, cs);
        _tile_loadd(2, c1, cs);
        if (two) {
            _tile_loadd(1, c + 16, cs);
            _tile_loadd(3, c1 + 16, cs);
        }
    }
    if (two) {
        for (int kb = kb0; kb < kb1; kb++) {
            _tile_loadd(4, a0 + kb * 32, 2 * Kp);
            _tile_loadd(6, b0 + kb * 512, 64);
            _tile_loadd(7, b1 + kb * 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_loadd(5, a1 + kb * 32, 2 * Kp);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    } else {
        for (int kb = kb0; kb < kb1; kb++) {
            _tile_loadd(4, a0 + kb * 32, 2 * Kp);
            _tile_loadd(6, b0 + kb * 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_loadd(5, a1 + kb * 32, 2 * Kp);
            _tile_dpbf16ps(2, 5, 6);
        }
    }
    _tile_stored(0, c, cs);
    _tile_stored(2, c1, cs);
    if (two) {
        _tile_stored(1, c + 16, cs);
        _tile_stored(3, c1 + 16, cs);
    }
}

typedef struct {
    float *out;
    const float *in;
    const uint16_t *wb;
    const cd_epilogue *ep;
    const conv_shape *s;
    float *scratch;
    int64_t npix, nchunks;
    int nparts;
} ca_ctx;

static void part(void *v, int64_t pb, int64_t pe, int tid) {
    ca_ctx *x = v;
    const conv_shape *s = x->s;
    const cd_epilogue *ep = x->ep;
    int Kp = (int)kpad(s), NKB = Kp / 32, OC = s->OC, NOB = OC / 16;
    for (int64_t pi = pb; pi < pe; pi++) {
        uint16_t *a = (uint16_t *)(x->scratch + pi * part_floats(s));
        float *c = x->scratch + pi * part_floats(s) + CA_ROWS * (int64_t)Kp / 2;
        int64_t c0 = x->nchunks * pi / x->nparts, c1 = x->nchunks * (pi + 1) / x->nparts;
        amx_begin();
        for (int64_t ch = c0; ch < c1; ch++) {
            int64_t p0 = ch * CA_ROWS;
            int np = (int)(x->npix - p0 < CA_ROWS ? x->npix - p0 : CA_ROWS);
            im2col_bf16(a, x->in, s, p0, np);
            /* k blocks of CA_KBLK x 32 outermost, so that a block's rows of a
             * and of each channel pair's weights stay in L1 while used */
            for (int kb0 = 0; kb0 < NKB; kb0 += CA_KBLK) {
                int kb1 = kb0 + CA_KBLK < NKB ? kb0 + CA_KBLK : NKB;
                for (int ob = 0; ob < NOB; ob += 2) {
                    const uint16_t *wbo = x->wb + (int64_t)ob * NKB * 512;
                    for (int r0 = 0; r0 < np; r0 += 32)
                        tiles(c + (int64_t)r0 * OC + 16 * ob, 4 * OC, a + (int64_t)r0 * Kp, Kp,
                              wbo, NKB, kb0, kb1, ob + 1 < NOB, kb0 == 0);
                }
            }
            for (int i = 0; i < np; i++) {
                int64_t o = (p0 + i) * OC;
                const float *ci = c + (int64_t)i * OC;
                for (int j = 0; j < OC; j += 16) {
                    __m512 acc = _mm512_load_ps(ci + j);
                    if (ep) {
                        acc = _mm512_fmadd_ps(acc, _mm512_loadu_ps(ep->scale + j),
                                              _mm512_loadu_ps(ep->shift + j));
                        if (ep->res) acc = _mm512_add_ps(acc, _mm512_loadu_ps(ep->res + o + j));
                        if (ep->act == ACT_RELU) acc = _mm512_max_ps(acc, _mm512_setzero_ps());
                        else if (ep->act) acc = act16(acc, ep->act);
                    }
                    _mm512_storeu_ps(x->out + o + j, acc);
                }
            }
        }
        amx_end();
    }
}
#pragma GCC pop_options

void ca_forward(float *out, const float *in, const float *w, const cd_epilogue *ep,
                const conv_shape *s, float *ws) {
    float *base = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    uint16_t *wb = (uint16_t *)base;
    pack_w(wb, w, s);
    ca_ctx x = { 0 };
    x.out = out; x.in = in; x.wb = wb; x.ep = ep; x.s = s;
    x.scratch = base + wb_floats(s);
    x.npix = (int64_t)s->B * s->OH * s->OW;
    x.nchunks = (x.npix + CA_ROWS - 1) / CA_ROWS;
    x.nparts = ssl_parts(x.nchunks, CA_MAX_PARTS);
    ssl_parallel_for(x.nparts, 1, part, &x);
}
#else
int ca_applies(const conv_shape *s) { (void)s; return 0; }
int64_t ca_workspace(const conv_shape *s) { (void)s; return 0; }
void ca_forward(float *out, const float *in, const float *w, const cd_epilogue *ep,
                const conv_shape *s, float *ws) {
    (void)out; (void)in; (void)w; (void)ep; (void)s; (void)ws;
}
#endif
