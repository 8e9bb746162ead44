/* conv_direct.c: the direct AVX-512 convolution kernels (conv_direct.h).
 *
 * Work split: the batch is cut into groups of G whole images (G*OH*OW of
 * about GROUP_PIXELS output pixels, the padded group under GROUP_FLOATS).
 * The forward's tasks are (group, output-channel block) pairs; the weight
 * gradient's are (batch slice, tile) pairs, the slice count fixed by the
 * shape (bww_slices), each slice summing its groups in order into its own
 * partial sums, added in slice order at the end. Tasks are cut into at
 * most CD_MAX_PARTS contiguous ranges, one per thread (each with its own
 * padded-group buffer), so no result depends on the thread count.
 *
 * Kernels, by shape:
 *   forward / stride-1 backward-data: the 3x3 stride-1 row kernel
 *     (FWD_ROW3: a broadcast feeds three taps) for the (C, channel block)
 *     pairs of pick_row's table: C 16 or 32 with as many outputs, C 1 or 3
 *     with 16 or 32; the row kernel (FWD_ROW: the pixels of one row at
 *     constant displacements) for its (stride*C, block) pairs; otherwise
 *     the generic tile (FWD_TILE, a pointer per pixel);
 *   strided backward-data: the same kernels per parity class (sd_part);
 *   weight gradient: the transposed tile (vectors over 16 input channels)
 *     where C % 16 == 0, else the KP x 16J tile over a pixel table. */
#include "nn/ops/conv_direct.h"
#include "nn/ops/act_impl.h"

#include <string.h>

#include "util/threads.h"

#define CD_MAX_PARTS 8
#define GROUP_PIXELS 256
#define GROUP_FLOATS (256 * 1024)
#define CHUNK_FLOATS (64 * 1024)     /* weight panel floats per k chunk (256 KiB) */

/* Output-channel blocks: OC <= 32 is one block of 16 or 32; above, blocks
 * of 64, then the OC % 64 channels left in the narrowest blocks that hold
 * them (1-16: 16; 17-32: 32; 33-48: 32 + 16; 49-63: 64), so a layer pads
 * at most 15 channels (144: 64 + 64 + 16 rather than 3 x 64; 96: 64 + 32).
 * Block ob holds channels [cd_block_start(ob), + cd_block_width(ob)). */
int cd_nblocks(int OC) {
    if (OC <= 32) return 1;
    int r = OC % 64;
    return OC / 64 + (r == 0 ? 0 : r > 32 && r <= 48 ? 2 : 1);
}

int cd_block_start(int OC, int ob) {
    if (ob <= OC / 64) return 64 * ob;
    return 64 * (OC / 64) + 32;     /* the 16 after the 32 of a 33-48 tail */
}

int cd_block_width(int OC, int ob) {
    if (OC <= 16) return 16;
    if (OC <= 32) return 32;
    if (ob < OC / 64) return 64;
    int r = OC % 64;
    if (ob > OC / 64) return 16;
    return r <= 16 ? 16 : r <= 48 ? 32 : 64;
}

/* Channels of all the blocks together (OC rounded up as they pad it). */
static int64_t padded(int OC) {
    int nb = cd_nblocks(OC) - 1;
    return cd_block_start(OC, nb) + cd_block_width(OC, nb);
}

int64_t cd_packed_size(const conv_shape *s) {
    return padded(s->OC) * s->KH * s->KW * s->C;
}

int64_t cd_packed_size_bwd_data(const conv_shape *s) {
    return padded(s->C) * s->KH * s->KW * s->OC;
}

int cd_bwd_data_shape(conv_shape *t, const conv_shape *s) {
    if (s->stride != 1 || s->pad > s->KH - 1 || s->pad > s->KW - 1) return -1;
    if (conv_shape_init(t, s->B, s->OH, s->OW, s->OC, s->C, s->KH, s->KW, 1,
                        s->KH - 1 - s->pad) < 0 || s->KH != s->KW)
        return -1;
    t->winograd = s->winograd;
    t->prec = s->prec;
    return t->OH == s->H && t->OW == s->W ? 0 : -1;
}

/* Images per group, and the padded group's size. */
static int group_images(const conv_shape *s) {
    int64_t px = (int64_t)s->OH * s->OW;
    int64_t img = (int64_t)(s->H + 2 * s->pad) * (s->W + 2 * s->pad) * s->C;
    int64_t g = (GROUP_PIXELS + px - 1) / px;
    if (g * img > GROUP_FLOATS) g = GROUP_FLOATS / img;
    if (g < 1) g = 1;
    if (g > s->B) g = s->B;
    return (int)g;
}

static int64_t group_buffer(const conv_shape *s);
static int64_t group_buffer_x(const conv_shape *s, int xf);

/* Per part: the padded group, then (weight gradient) its pixel table. */
int64_t cd_scratch(const conv_shape *s) {
    return CD_MAX_PARTS * (group_buffer(s) + (int64_t)group_images(s) * s->OH * s->OW);
}

int64_t cd_scratch_xf(const conv_shape *s) {
    return CD_MAX_PARTS * (group_buffer_x(s, 1) + (int64_t)group_images(s) * s->OH * s->OW);
}

void cd_pack(float *wpk, const float *w, const conv_shape *s) {
    int KK = s->KH * s->KW, nob = cd_nblocks(s->OC);
    int64_t K = (int64_t)KK * s->C;
    for (int ob = 0; ob < nob; ob++) {
        int NB = cd_block_width(s->OC, ob), o0 = cd_block_start(s->OC, ob);
        for (int t = 0; t < KK; t++)
            for (int c = 0; c < s->C; c++) {
                float *dst = wpk + o0 * K + ((int64_t)t * s->C + c) * NB;
                for (int j = 0; j < NB; j++) {
                    int64_t oc = o0 + j;
                    dst[j] = oc < s->OC ? w[(oc * s->C + c) * KK + t] : 0.0f;
                }
            }
    }
}

void cd_pack_bwd_data(float *wpk, const float *w, const conv_shape *s) {
    /* transposed conv: input channels OC, outputs C, taps flipped */
    int KK = s->KH * s->KW, nob = cd_nblocks(s->C);
    int64_t K = (int64_t)KK * s->OC;
    for (int ob = 0; ob < nob; ob++) {
        int NB = cd_block_width(s->C, ob), c0 = cd_block_start(s->C, ob);
        for (int t = 0; t < KK; t++)
            for (int oc = 0; oc < s->OC; oc++) {
                float *dst = wpk + c0 * K + ((int64_t)t * s->OC + oc) * NB;
                for (int j = 0; j < NB; j++) {
                    int64_t c = c0 + j;
                    dst[j] = c < s->C ? w[((int64_t)oc * s->C + c) * KK + (KK - 1 - t)] : 0.0f;
                }
            }
    }
}

/* Copies images [b0, b0+n) of in into buf with a zero border of s->pad;
 * returns the source to read (in itself when pad is 0). */
static const float *pad_group(float *buf, const float *in, const conv_shape *s, int b0,
                              int n) {
    int C = s->C, p = s->pad, Wp = s->W + 2 * p, Hp = s->H + 2 * p;
    const float *src = in + (int64_t)b0 * s->H * s->W * C;
    if (p == 0) return src;
    size_t row = (size_t)s->W * C * sizeof(float), edge = (size_t)p * C * sizeof(float);
    for (int b = 0; b < n; b++) {
        float *img = buf + (int64_t)b * Hp * Wp * C;
        memset(img, 0, (size_t)p * Wp * C * sizeof(float));
        memset(img + (int64_t)(Hp - p) * Wp * C, 0, (size_t)p * Wp * C * sizeof(float));
        for (int h = 0; h < s->H; h++) {
            float *d = img + ((int64_t)(h + p) * Wp) * C;
            memset(d, 0, edge);
            memcpy(d + (int64_t)p * C, src + ((int64_t)b * s->H + h) * s->W * C, row);
            memset(d + (int64_t)(p + s->W) * C, 0, edge);
        }
    }
    return buf;
}


/* Floats of one part's padded-group buffer for s; xf: for an input
 * transform, which copies even an unpadded group there. */
static int64_t group_buffer_x(const conv_shape *s, int xf) {
    if (s->pad == 0 && !xf) return 0;
    return (int64_t)group_images(s) * (s->H + 2 * s->pad) * (s->W + 2 * s->pad) * s->C;
}

static int64_t group_buffer(const conv_shape *s) { return group_buffer_x(s, 0); }

/* ---- backward-data of strided convolutions ----
 * din pixel (ih, iw) = (s*u + ph, s*v + pw) of parity class (ph, pw) reads
 * exactly the taps with kh = ph + pad (mod s), kw likewise, at dout pixel
 * (u + dh, v + dw), dh = (ph + pad - kh) / s. The taps are packed class by
 * class; dout is padded by Q on every side so every read is in bounds. */
static int sd_border(const conv_shape *s) { return (s->KH - 1 + s->pad) / s->stride + 1; }

static int mod_pos(int a, int m) { int r = a % m; return r < 0 ? r + m : r; }

/* The padded dout (as the shape pad_group reads). */
static void sd_dout_shape(conv_shape *d, const conv_shape *s) {
    memset(d, 0, sizeof *d);
    d->B = s->B; d->H = s->OH; d->W = s->OW; d->C = s->OC; d->pad = sd_border(s);
    d->OH = s->H; d->OW = s->W;     /* din pixels per image, for group sizing */
    d->stride = 1;
}

int64_t cd_scratch_bwd_data_strided(const conv_shape *s) {
    conv_shape d;
    sd_dout_shape(&d, s);
    return CD_MAX_PARTS * (int64_t)group_images(&d) * (d.H + 2 * d.pad) * (d.W + 2 * d.pad) *
           d.C;
}

/* Taps of class cls (ph * stride + pw), in (kh, kw) order; returns count. */
static int class_taps(int *kh_out, int *kw_out, const conv_shape *s, int cls) {
    int ph = cls / s->stride, pw = cls % s->stride, n = 0;
    for (int kh = 0; kh < s->KH; kh++)
        for (int kw = 0; kw < s->KW; kw++)
            if (mod_pos(kh - s->pad, s->stride) == ph && mod_pos(kw - s->pad, s->stride) == pw) {
                kh_out[n] = kh;
                kw_out[n] = kw;
                n++;
            }
    return n;
}

void cd_pack_bwd_data_strided(float *wpk, const float *w, const conv_shape *s) {
    int KK = s->KH * s->KW, ncls = s->stride * s->stride, nob = cd_nblocks(s->C);
    int64_t K = (int64_t)KK * s->OC;
    int kh[KK], kw[KK];
    for (int ob = 0; ob < nob; ob++) {
        int NB = cd_block_width(s->C, ob), c0 = cd_block_start(s->C, ob);
        int64_t t = 0;
        for (int cls = 0; cls < ncls; cls++) {
            int nt = class_taps(kh, kw, s, cls);
            for (int i = 0; i < nt; i++, t++)
                for (int oc = 0; oc < s->OC; oc++) {
                    float *dst = wpk + c0 * K + (t * s->OC + oc) * NB;
                    for (int j = 0; j < NB; j++) {
                        int64_t c = c0 + j;
                        dst[j] = c < s->C
                                     ? w[(((int64_t)oc * s->C + c) * s->KH + kh[i]) * s->KW + kw[i]]
                                     : 0.0f;
                    }
                }
        }
    }
}

#ifdef __AVX512F__
#include <immintrin.h>

int cd_available(void) { return 1; }

static __mmask16 lane_mask(int left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

/* 16 floats at p of which `left` are real: plain moves when all are (masked
 * stores are slow on this core), masked ones for the tail. */
static inline __m512 load16(const float *p, int left) {
    return left >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(lane_mask(left), p);
}
static inline void store16(float *p, int left, __m512 v) {
    if (left >= 16) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, lane_mask(left), v);
}

/* acc[p * J + j] = act(acc * scale + shift + res) (the fused eval BN). */
static inline __attribute__((always_inline)) void
epilogue(__m512 *acc, int P, int J, int np, int left, const int64_t *obase,
         const cd_epilogue *ep) {
    for (int j = 0; j < J; j++) {
        int l = left - 16 * j;
        __m512 sc = load16(ep->scale + 16 * j, l);
        __m512 sh = load16(ep->shift + 16 * j, l);
        for (int p = 0; p < np; p++) {
            __m512 v = _mm512_fmadd_ps(acc[p * J + j], sc, sh);
            if (ep->res) v = _mm512_add_ps(v, load16(ep->res + obase[p] + 16 * j, l));
            if (ep->act == ACT_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps());
            else if (ep->act) v = act16(v, ep->act);
            acc[p * J + j] = v;
        }
    }
    (void)P;
}

/* One forward tile: np (<= P) pixels read at src + base[p] + tapoff[t] for
 * the nt taps (weight rows wpan[t][C][NB]), written at out + obase[p];
 * NB = 16*J channels of which `left` are real. */
#define FWD_TILE(P, J)                                                                   \
static void fwd_tile_##P##_##J(float *out, const int64_t *obase, int np, int left,     \
                               const float *src, const int64_t *base,                  \
                               const int64_t *tapoff, int nt, int C,                   \
                               const float *wpan, int load, const cd_epilogue *ep) {   \
    __m512 acc[P][J];                                                                    \
    _Pragma("GCC unroll 16") for (int p = 0; p < P; p++)                                \
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++) {                          \
            acc[p][j] = _mm512_setzero_ps();                                             \
            if (load && p < np)                                                          \
                acc[p][j] = load16(out + obase[p] + 16 * j, left - 16 * j);              \
        }                                                                                \
    for (int t = 0; t < nt; t++) {                                                       \
        const float *xp[P];                                                              \
        _Pragma("GCC unroll 16") for (int p = 0; p < P; p++)                            \
            xp[p] = src + base[p] + tapoff[t];                                           \
        const float *wr = wpan + (int64_t)t * C * (16 * J);                             \
        for (int c = 0; c < C; c++) {                                                    \
            __m512 wv[J];                                                                \
            _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                         \
                wv[j] = _mm512_loadu_ps(wr + (int64_t)c * (16 * J) + 16 * j);            \
            _Pragma("GCC unroll 16") for (int p = 0; p < P; p++) {                      \
                __m512 x = _mm512_set1_ps(xp[p][c]);                                     \
                _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                     \
                    acc[p][j] = _mm512_fmadd_ps(x, wv[j], acc[p][j]);                   \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    if (ep) epilogue(acc[0], P, J, np, left, obase, ep);                                 \
    _Pragma("GCC unroll 16") for (int p = 0; p < P; p++)                                \
        if (p < np)                                                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                         \
                store16(out + obase[p] + 16 * j, left - 16 * j, acc[p][j]);              \
}
FWD_TILE(14, 1)
FWD_TILE(12, 2)
FWD_TILE(6, 4)

/* A row tile's accumulators acc[p * J + j] (all P pixels real): loaded
 * from out (load) or zero; then the epilogue (ep) and the store. */
static inline __attribute__((always_inline)) void
row_begin(__m512 *acc, int P, int J, const float *out, const int64_t *obase, int left,
          int load) {
    for (int p = 0; p < P; p++)
        for (int j = 0; j < J; j++)
            acc[p * J + j] = load ? load16(out + obase[p] + 16 * j, left - 16 * j)
                                  : _mm512_setzero_ps();
}
static inline __attribute__((always_inline)) void
row_end(__m512 *acc, int P, int J, float *out, const int64_t *obase, int left,
        const cd_epilogue *ep) {
    if (ep) epilogue(acc, P, J, P, left, obase, ep);
    for (int p = 0; p < P; p++)
        for (int j = 0; j < J; j++)
            store16(out + obase[p] + 16 * j, left - 16 * j, acc[p * J + j]);
}

/* One row tile: P pixels of one output row, pixel p's taps read at
 * x + p * SC + tapoff[t] (SC = stride * C, a compile-time constant, so
 * every broadcast is a constant displacement from one pointer per tap),
 * written at out + obase[p]; all P pixels are real. For the small-channel
 * layers, whose per-tap loop over C is too short to amortise the generic
 * tile's per-pixel pointers. */
#define FWD_ROW(P, J, SC)                                                                \
static void fwd_row_##P##_##J##_##SC(float *out, const int64_t *obase, int left,        \
                                     const float *x, const int64_t *tapoff, int nt,      \
                                     int C, const float *wpan, int load,                 \
                                     const cd_epilogue *ep) {                            \
    __m512 acc[P][J];                                                                    \
    row_begin(acc[0], P, J, out, obase, left, load);                                     \
    for (int t = 0; t < nt; t++) {                                                       \
        const float *xt = x + tapoff[t];                                                 \
        const float *wr = wpan + (int64_t)t * C * (16 * J);                             \
        for (int c = 0; c < C; c++, xt++, wr += 16 * J) {                               \
            __m512 wv[J];                                                                \
            _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                         \
                wv[j] = _mm512_loadu_ps(wr + 16 * j);                                    \
            _Pragma("GCC unroll 16") for (int p = 0; p < P; p++) {                      \
                __m512 b = _mm512_set1_ps(xt[p * (SC)]);                                 \
                _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                     \
                    acc[p][j] = _mm512_fmadd_ps(b, wv[j], acc[p][j]);                   \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    row_end(acc[0], P, J, out, obase, left, ep);                                         \
}
FWD_ROW(16, 1, 16)
FWD_ROW(14, 1, 16)
FWD_ROW(8, 2, 32)
FWD_ROW(7, 2, 32)
FWD_ROW(16, 1, 32)
FWD_ROW(14, 1, 32)
FWD_ROW(8, 2, 64)
FWD_ROW(7, 2, 64)

/* The same row tile for a 3x3 stride-1 convolution (all 9 taps, nt == 9):
 * each input scalar x[i] of a kernel row is broadcast once and feeds the
 * three outputs i, i-1, i-2 (taps kw = 0, 1, 2), so a channel of a kernel
 * row costs P + 2 broadcasts and 3J weight loads for 3PJ FMAs (the plain
 * row tile: P broadcasts per PJ FMAs). Sums per output in (kh, c, kw)
 * order. */
#define FWD_ROW3(P, J, SC)                                                               \
static void fwd_row3_##P##_##J##_##SC(float *out, const int64_t *obase, int left,       \
                                      const float *x, const int64_t *tapoff, int nt,     \
                                      int C, const float *wpan, int load,                \
                                      const cd_epilogue *ep) {                           \
    __m512 acc[P][J];                                                                    \
    row_begin(acc[0], P, J, out, obase, left, load);                                     \
    int64_t wstep = (int64_t)C * (16 * J);                                               \
    for (int kh = 0; kh < 3; kh++) {                                                     \
        const float *xr = x + tapoff[3 * kh];                                            \
        const float *w0 = wpan + 3 * kh * wstep, *w1 = w0 + wstep, *w2 = w1 + wstep;     \
        for (int c = 0; c < C; c++, xr++, w0 += 16 * J, w1 += 16 * J, w2 += 16 * J) {  \
            __m512 wa[J], wb[J], wc[J];                                                  \
            _Pragma("GCC unroll 4") for (int j = 0; j < J; j++) {                       \
                wa[j] = _mm512_loadu_ps(w0 + 16 * j);                                    \
                wb[j] = _mm512_loadu_ps(w1 + 16 * j);                                    \
                wc[j] = _mm512_loadu_ps(w2 + 16 * j);                                    \
            }                                                                            \
            _Pragma("GCC unroll 18") for (int i = 0; i < P + 2; i++) {                  \
                __m512 b = _mm512_set1_ps(xr[i * (SC)]);                                 \
                _Pragma("GCC unroll 4") for (int j = 0; j < J; j++) {                   \
                    if (i < P) acc[i][j] = _mm512_fmadd_ps(b, wa[j], acc[i][j]);         \
                    if (i >= 1 && i - 1 < P)                                             \
                        acc[i - 1][j] = _mm512_fmadd_ps(b, wb[j], acc[i - 1][j]);        \
                    if (i >= 2) acc[i - 2][j] = _mm512_fmadd_ps(b, wc[j], acc[i - 2][j]); \
                }                                                                        \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    (void)nt;                                                                            \
    row_end(acc[0], P, J, out, obase, left, ep);                                         \
}
FWD_ROW3(16, 1, 16)
FWD_ROW3(14, 1, 16)
FWD_ROW3(8, 2, 32)
FWD_ROW3(7, 2, 32)
FWD_ROW3(16, 1, 3)     /* stems: RGB and gray inputs */
FWD_ROW3(14, 1, 3)
FWD_ROW3(16, 1, 1)
FWD_ROW3(14, 1, 1)
FWD_ROW3(8, 2, 3)
FWD_ROW3(7, 2, 3)
FWD_ROW3(8, 2, 1)
FWD_ROW3(7, 2, 1)

typedef void (*row_fn)(float *, const int64_t *, int, const float *, const int64_t *, int,
                       int, const float *, int, const cd_epilogue *);

/* The row kernel for pixels SC floats apart, NB-channel blocks and rows of
 * OW pixels (three: the 3x3 stride-1 FWD_ROW3, whose SC is C), and its
 * pixels per tile (a divisor of OW); NULL where there is none. */
static row_fn pick_row(int three, int SC, int NB, int OW, int *P) {
    static const struct { int three, sc, nb, p; row_fn f; } k[] = {
        { 0, 16, 16, 16, fwd_row_16_1_16 }, { 0, 16, 16, 14, fwd_row_14_1_16 },
        { 0, 32, 32, 8, fwd_row_8_2_32 },   { 0, 32, 32, 7, fwd_row_7_2_32 },
        { 0, 32, 16, 16, fwd_row_16_1_32 }, { 0, 32, 16, 14, fwd_row_14_1_32 },
        { 0, 64, 32, 8, fwd_row_8_2_64 },   { 0, 64, 32, 7, fwd_row_7_2_64 },
        { 1, 16, 16, 16, fwd_row3_16_1_16 }, { 1, 16, 16, 14, fwd_row3_14_1_16 },
        { 1, 32, 32, 8, fwd_row3_8_2_32 },   { 1, 32, 32, 7, fwd_row3_7_2_32 },
        { 1, 3, 16, 16, fwd_row3_16_1_3 },   { 1, 3, 16, 14, fwd_row3_14_1_3 },
        { 1, 1, 16, 16, fwd_row3_16_1_1 },   { 1, 1, 16, 14, fwd_row3_14_1_1 },
        { 1, 3, 32, 8, fwd_row3_8_2_3 },     { 1, 3, 32, 7, fwd_row3_7_2_3 },
        { 1, 1, 32, 8, fwd_row3_8_2_1 },     { 1, 1, 32, 7, fwd_row3_7_2_1 },
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (k[i].three == three && k[i].sc == SC && k[i].nb == NB && OW % k[i].p == 0) {
            *P = k[i].p;
            return k[i].f;
        }
    return NULL;
}

/* One weight-gradient tile: KP rows k (nk of them real) of dwp (NB = 16*J
 * floats each) are loaded, summed over the npix pixels of a group and
 * stored back. Pixel q's taps start at src + pix[q]; its dout row is
 * dout + q * OC. FULL: the rows are channels c0.. of one tap, read at
 * src + pix[q] + toff + k (constant displacements); otherwise at
 * src + pix[q] + offs[k]. */
#define BWW_TILE(KP, J, FULL, NAME)                                                      \
static void NAME(float *dwp, int nk, const int64_t *offs, int64_t toff,                 \
                 const float *src, const int32_t *pix, int npix, int OC,                \
                 const float *dout, int left) {                                          \
    __m512 acc[KP][J];                                                                   \
    __mmask16 msk[J];                                                                    \
    _Pragma("GCC unroll 4") for (int j = 0; j < J; j++) msk[j] = lane_mask(left - 16 * j); \
    _Pragma("GCC unroll 24") for (int k = 0; k < KP; k++)                               \
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                            \
            acc[k][j] = k < nk ? _mm512_loadu_ps(dwp + (int64_t)k * (16 * J) + 16 * j)  \
                               : _mm512_setzero_ps();                                   \
    const float *g = dout, *xs = src + (FULL ? toff : 0);                               \
    for (int q = 0; q < npix; q++, g += OC) {                                            \
        const float *xb = xs + pix[q];                                                   \
        __m512 dv[J];                                                                    \
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                             \
            dv[j] = left >= 16 * (j + 1) ? _mm512_loadu_ps(g + 16 * j)                    \
                                         : _mm512_maskz_loadu_ps(msk[j], g + 16 * j);   \
        _Pragma("GCC unroll 24") for (int k = 0; k < KP; k++) {                         \
            __m512 x = _mm512_set1_ps(FULL ? xb[k] : xb[offs[k]]);                       \
            _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                         \
                acc[k][j] = _mm512_fmadd_ps(x, dv[j], acc[k][j]);                       \
        }                                                                                \
    }                                                                                    \
    _Pragma("GCC unroll 24") for (int k = 0; k < KP; k++)                               \
        if (k < nk)                                                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                        \
                _mm512_storeu_ps(dwp + (int64_t)k * (16 * J) + 16 * j, acc[k][j]);      \
}
BWW_TILE(16, 1, 1, bww_full_1)
BWW_TILE(16, 1, 0, bww_part_1)
BWW_TILE(8, 2, 1, bww_full_2)
BWW_TILE(8, 2, 0, bww_part_2)
BWW_TILE(6, 4, 1, bww_full_4)
BWW_TILE(6, 4, 0, bww_part_4)

static void fwd_tile(int J, float *out, const int64_t *obase, int np, int left,
                     const float *src, const int64_t *base, const int64_t *tapoff, int nt,
                     int C, const float *wpan, int load, const cd_epilogue *ep) {
    if (J == 1)
        fwd_tile_14_1(out, obase, np, left, src, base, tapoff, nt, C, wpan, load, ep);
    else if (J == 2)
        fwd_tile_12_2(out, obase, np, left, src, base, tapoff, nt, C, wpan, load, ep);
    else
        fwd_tile_6_4(out, obase, np, left, src, base, tapoff, nt, C, wpan, load, ep);
}

static int fwd_pixels(int J) { return J == 1 ? 14 : J == 2 ? 12 : 6; }
static int bww_rows(int J) { return J == 1 ? 16 : J == 2 ? 8 : 6; }

typedef struct {
    const conv_shape *s;
    const float *in, *wpk, *dout;
    float *out, *dwp, *scratch;
    int accumulate, G, ngroups, nob, nslices;
    int64_t ntasks, buf_n;
    int nparts;
    const cd_epilogue *ep;
    const conv_in_xf *xf;     /* input transform (NULL: none) */
} cd_ctx;

/* y = xf(x) for n vectors of C channels (c the channel of x[0] = 0):
 * bn_apply_affine's rounding and activation (bn.c's affine pass). */
static void xf_rows(float *y, const float *x, int64_t n, int C, const conv_in_xf *xf) {
    const __m512 z = _mm512_setzero_ps();
    for (int64_t r = 0; r < n; r++, x += C, y += C)
        for (int c0 = 0; c0 < C; c0 += 16) {
            int left = C - c0;
            __m512 v = _mm512_fmadd_ps(load16(x + c0, left), load16(xf->scale + c0, left),
                                       load16(xf->shift + c0, left));
            if (xf->act == ACT_RELU) v = _mm512_max_ps(v, z);
            else if (xf->act) v = act16(v, xf->act);
            store16(y + c0, left, v);
        }
}

/* The group's input as the kernels read it: padded (pad_group), and
 * through x->xf into buf where there is one. */
static const float *load_group(float *buf, const cd_ctx *x, int b0, int nimg) {
    const conv_shape *s = x->s;
    if (!x->xf) return pad_group(buf, x->in, s, b0, nimg);
    const float *src = x->in + (int64_t)b0 * s->H * s->W * s->C;
    if (s->pad == 0) {
        xf_rows(buf, src, (int64_t)nimg * s->H * s->W, s->C, x->xf);
        return buf;
    }
    int p = s->pad, Wp = s->W + 2 * p, Hp = s->H + 2 * p;
    pad_group(buf, x->in, s, b0, nimg);
    for (int b = 0; b < nimg; b++)
        for (int h = 0; h < s->H; h++) {
            float *d = buf + (((int64_t)b * Hp + h + p) * Wp + p) * s->C;
            xf_rows(d, d, s->W, s->C, x->xf);
        }
    return buf;
}

/* Sets x->s, G, ngroups, buf_n for shape s (and x->xf). */
static void setup_groups(cd_ctx *x, const conv_shape *s) {
    x->s = s;
    x->buf_n = group_buffer_x(s, x->xf != NULL);
    x->G = group_images(x->s);
    x->ngroups = (s->B + x->G - 1) / x->G;
}

static void tap_offsets(int64_t *tapoff, const conv_shape *s) {
    int Wp = s->W + 2 * s->pad;
    for (int kh = 0; kh < s->KH; kh++)
        for (int kw = 0; kw < s->KW; kw++)
            tapoff[kh * s->KW + kw] = ((int64_t)kh * Wp + kw) * s->C;
}

static void fwd_part(void *vctx, int64_t i0, int64_t i1, int tid) {
    cd_ctx *x = vctx;
    const conv_shape *s = x->s;
    int KK = s->KH * s->KW, C = s->C;
    int Hp = s->H + 2 * s->pad, Wp = s->W + 2 * s->pad;
    int64_t OHW = (int64_t)s->OH * s->OW, K = (int64_t)KK * C;
    int64_t tapoff[KK];
    tap_offsets(tapoff, s);
    for (int64_t part = i0; part < i1; part++) {
        float *buf = x->scratch + part * x->buf_n;
        int64_t a = part * x->ntasks / x->nparts, e = (part + 1) * x->ntasks / x->nparts;
        int have = -1;
        const float *src = NULL;
        for (int64_t task = a; task < e; task++) {
            int g = (int)(task / x->nob), ob = (int)(task % x->nob);
            int b0 = g * x->G, nimg = s->B - b0 < x->G ? s->B - b0 : x->G;
            if (g != have) { src = load_group(buf, x, b0, nimg); have = g; }
            /* this block's width, tile and k chunk */
            int NB = cd_block_width(s->OC, ob), o0 = cd_block_start(s->OC, ob);
            int J = NB / 16, P = fwd_pixels(J), RP = 0;
            int tchunk = (int)(CHUNK_FLOATS / ((int64_t)C * NB));
            if (tchunk < 1) tchunk = 1;
            row_fn row = s->KH == 3 && s->KW == 3 && s->stride == 1 && tchunk >= 9
                             ? pick_row(1, C, NB, s->OW, &RP) : NULL;
            if (!row) row = pick_row(0, s->stride * C, NB, s->OW, &RP);
            int left = s->OC - o0;
            const float *wpan = x->wpk + o0 * K;
            int64_t npx = nimg * OHW;
            float *outg = x->out + (int64_t)b0 * OHW * s->OC + o0;
            cd_epilogue ep = { 0 };
            if (x->ep) {
                ep = *x->ep;
                ep.scale += o0;
                ep.shift += o0;
                if (ep.res) ep.res += outg - x->out;
            }
            for (int t0 = 0; t0 < KK; t0 += tchunk) {
                int t1 = t0 + tchunk < KK ? t0 + tchunk : KK;
                int load = t0 > 0 || x->accumulate;
                int64_t base[16], obase[16];
                const float *wt = wpan + (int64_t)t0 * C * NB;
                const cd_epilogue *e1 = t1 == KK && x->ep ? &ep : NULL;
                if (row) {
                    for (int p = 0; p < RP; p++) obase[p] = (int64_t)p * s->OC;
                    int64_t q = 0;
                    for (int b = 0; b < nimg; b++)
                        for (int oh = 0; oh < s->OH; oh++)
                            for (int ow = 0; ow < s->OW; ow += RP, q += RP) {
                                const float *xr = src + (((int64_t)b * Hp + oh * s->stride) * Wp +
                                                         (int64_t)ow * s->stride) * C;
                                cd_epilogue er = ep;
                                if (er.res) er.res += q * s->OC;
                                row(outg + q * s->OC, obase, left, xr, tapoff + t0, t1 - t0, C,
                                    wt, load, e1 ? &er : NULL);
                            }
                    continue;
                }
                int b = 0, oh = 0, ow = 0;        /* pixel q0, stepped along */
                for (int64_t q0 = 0; q0 < npx; q0 += P) {
                    int np = npx - q0 < P ? (int)(npx - q0) : P;
                    for (int p = 0; p < np; p++) {
                        base[p] = (((int64_t)b * Hp + oh * s->stride) * Wp + ow * s->stride) * C;
                        obase[p] = (q0 + p) * s->OC;
                        if (++ow == s->OW) { ow = 0; if (++oh == s->OH) { oh = 0; b++; } }
                    }
                    for (int p = np; p < P; p++) {
                        base[p] = base[np - 1];
                        obase[p] = obase[np - 1];
                    }
                    fwd_tile(J, outg, obase, np, left, src, base, tapoff + t0, t1 - t0, C, wt,
                             load, e1);
                }
            }
        }
    }
}

void cd_forward(float *out, const float *in, const float *wpk, const conv_shape *s,
                int accumulate, const cd_epilogue *ep, float *scratch) {
    cd_forward_xf(out, in, NULL, wpk, s, accumulate, ep, scratch);
}

void cd_forward_xf(float *out, const float *in, const conv_in_xf *xf, const float *wpk,
                   const conv_shape *s, int accumulate, const cd_epilogue *ep, float *scratch) {
    cd_ctx x = { 0 };
    x.in = in; x.wpk = wpk; x.out = out; x.scratch = scratch; x.ep = ep; x.xf = xf;
    setup_groups(&x, s);
    x.accumulate = accumulate;
    x.nob = cd_nblocks(s->OC);
    x.ntasks = (int64_t)x.ngroups * x.nob;
    x.nparts = ssl_parts(x.ntasks, CD_MAX_PARTS);
    ssl_parallel_for(x.nparts, 1, fwd_part, &x);
}

/* Weight-gradient tasks: (ob, tap, chunk of KP channels), so a full tile's
 * rows are consecutive channels of one tap; with fewer than KP channels
 * (stems), (ob, tile of KP rows of k) across taps instead. */
static int64_t bww_tiles_per_ob(const conv_shape *s, int KP) {
    int64_t KK = (int64_t)s->KH * s->KW;
    return s->C >= KP ? KK * ((s->C + KP - 1) / KP) : (KK * s->C + KP - 1) / KP;
}

/* The batch is cut into bww_slices(s) slices of whole groups, fixed by the
 * shape alone; each slice sums into its own copy of dwp and the copies are
 * added in order at the end. Tasks are (slice, tile), so two threads pad
 * disjoint groups and split even shapes with few tiles evenly, with the
 * bits independent of the thread count. */
#define BWW_SLICE_FLOATS (256 * 1024)   /* all slices' dwp copies, at most (L2) */

static int bww_slices(const conv_shape *s) {
    int G = group_images(s), ng = (s->B + G - 1) / G, S = 4;
    while (S > 1 && (S > ng || S * cd_packed_size(s) > BWW_SLICE_FLOATS)) S /= 2;
    return S;
}

int64_t cd_bww_size(const conv_shape *s) { return bww_slices(s) * cd_packed_size(s); }

/* Pixel q of images [0, nimg) reads its taps at pix[q] in the (padded)
 * group. */
static void pixel_table(int32_t *pix, const conv_shape *s, int nimg) {
    int Hp = s->H + 2 * s->pad, Wp = s->W + 2 * s->pad, q = 0;
    for (int b = 0; b < nimg; b++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++)
                pix[q++] = (int32_t)((((int64_t)b * Hp + oh * s->stride) * Wp +
                                      (int64_t)ow * s->stride) * s->C);
}

/* One weight-gradient tile of a slice over one group: `tile` in
 * [0, tiles per slice), dws the slice's partial sums, src the (padded)
 * group of images from b0, pix its pixel table (npix pixels). */
typedef void (*bw_tile_fn)(const cd_ctx *x, int64_t tile, float *dws, const float *src,
                           const int32_t *pix, int npix, int b0, const int64_t *tapoff);

/* The (slice, tile) tasks of part's range, tt tiles per slice: each group
 * of a slice is padded and tabled once, then every tile of the range runs
 * over it. */
static void bw_tasks(const cd_ctx *x, int64_t part, int64_t tt, bw_tile_fn fn) {
    const conv_shape *s = x->s;
    int64_t OHW = (int64_t)s->OH * s->OW, tapoff[s->KH * s->KW];
    int gps = (x->ngroups + x->nslices - 1) / x->nslices;
    tap_offsets(tapoff, s);
    float *buf = x->scratch + part * (x->buf_n + x->G * OHW);
    int32_t *pix = (int32_t *)(buf + x->buf_n);
    int64_t a = part * x->ntasks / x->nparts, e = (part + 1) * x->ntasks / x->nparts;
    for (int64_t sl = a / tt; sl * tt < e; sl++) {
        int64_t ta = a > sl * tt ? a : sl * tt, te = e < (sl + 1) * tt ? e : (sl + 1) * tt;
        float *dws = x->dwp + sl * cd_packed_size(s);
        int g1 = (int)(sl + 1) * gps < x->ngroups ? (int)(sl + 1) * gps : x->ngroups;
        for (int g = (int)sl * gps; g < g1; g++) {
            int b0 = g * x->G, nimg = s->B - b0 < x->G ? s->B - b0 : x->G;
            const float *src = load_group(buf, x, b0, nimg);
            pixel_table(pix, s, nimg);
            for (int64_t task = ta; task < te; task++)
                fn(x, task - sl * tt, dws, src, pix, (int)(nimg * OHW), b0, tapoff);
        }
    }
}

/* A KP x 16J tile: (ob, tap, chunk of KP channels), or with fewer than KP
 * channels (ob, KP rows of k across taps). */
static void bww_one(const cd_ctx *x, int64_t tile, float *dws, const float *src,
                    const int32_t *pix, int npix, int b0, const int64_t *tapoff) {
    const conv_shape *s = x->s;
    int C = s->C, OC = s->OC, ob = 0, NB, KP;
    int64_t per_ob;
    for (;; ob++, tile -= per_ob) {     /* the block, and the tile within it */
        NB = cd_block_width(OC, ob);
        KP = bww_rows(NB / 16);
        per_ob = bww_tiles_per_ob(s, KP);
        if (tile < per_ob) break;
    }
    int J = NB / 16, o0 = cd_block_start(OC, ob);
    int64_t K = (int64_t)s->KH * s->KW * C, ncc = (C + KP - 1) / KP;
    int flat = C < KP, nk;
    int64_t k0, offs[24], toff;
    if (flat) {
        k0 = tile * KP;
        nk = K - k0 < KP ? (int)(K - k0) : KP;
        for (int k = 0; k < KP; k++) {
            int64_t kk = k0 + (k < nk ? k : nk - 1);
            offs[k] = tapoff[kk / C] + kk % C;
        }
        toff = 0;
    } else {
        int t = (int)(tile / ncc), c0 = (int)(tile % ncc) * KP;
        nk = C - c0 < KP ? C - c0 : KP;
        toff = tapoff[t] + c0;
        for (int k = 0; k < KP; k++) offs[k] = toff + (k < nk ? k : nk - 1);
        k0 = (int64_t)t * C + c0;
    }
    float *d = dws + o0 * K + k0 * NB;
    const float *gd = x->dout + (int64_t)b0 * s->OH * s->OW * OC + o0;
    int left = OC - o0;
    if (nk == KP && !flat) {
        if (J == 1) bww_full_1(d, nk, offs, toff, src, pix, npix, OC, gd, left);
        else if (J == 2) bww_full_2(d, nk, offs, toff, src, pix, npix, OC, gd, left);
        else bww_full_4(d, nk, offs, toff, src, pix, npix, OC, gd, left);
    } else {
        if (J == 1) bww_part_1(d, nk, offs, toff, src, pix, npix, OC, gd, left);
        else if (J == 2) bww_part_2(d, nk, offs, toff, src, pix, npix, OC, gd, left);
        else bww_part_4(d, nk, offs, toff, src, pix, npix, OC, gd, left);
    }
}

/* The weight-gradient tiles of all the blocks. */
static int64_t bww_tiles(const conv_shape *s) {
    int64_t n = 0;
    for (int ob = 0; ob < cd_nblocks(s->OC); ob++)
        n += bww_tiles_per_ob(s, bww_rows(cd_block_width(s->OC, ob) / 16));
    return n;
}

static void bww_part(void *vctx, int64_t i0, int64_t i1, int tid) {
    const cd_ctx *x = vctx;
    int64_t tt = bww_tiles(x->s);
    for (int64_t part = i0; part < i1; part++) bw_tasks(x, part, tt, bww_one);
}

/* ---- weight gradient, transposed ----
 * With OC <= 32 the tiles above broadcast one input scalar per FMA; with
 * more they still re-read dout per tile of KP rows. Here the vector runs
 * over 16 input channels instead: acc[t][r] (the 16
 * channels of k-vector kv0 + t, for output channel r0 + r) += x vector *
 * dout[r] broadcast, BWT_T k-vectors x BWT_R channels per tile, so a pixel
 * costs BWT_T loads and BWT_R broadcasts for BWT_T * BWT_R FMAs. The sums
 * go to dwt[oc][k] (k = t*C + c), one copy per batch slice as above. Used
 * wherever C % 16 == 0, the k-vectors split in threes and OC % 8 == 0
 * (bench_conv, 2 threads: 7-8% faster than the tiles above at 8x8x64 and
 * 4x4x128, equal at width 1's shapes). */
#define BWT_T 3
#define BWT_R 8

static int bwt_applies(const conv_shape *s) {
    int64_t kv = (int64_t)s->KH * s->KW * s->C / 16;
    return s->C % 16 == 0 && kv % BWT_T == 0 && s->OC % BWT_R == 0;
}

static void bwt_tile(float *dwt, int64_t ldw, const float *src, const int32_t *pix, int npix,
                     const int64_t *kvoff, const float *dout, int OC) {
    __m512 acc[BWT_T][BWT_R];
    _Pragma("GCC unroll 4") for (int t = 0; t < BWT_T; t++)
        _Pragma("GCC unroll 8") for (int r = 0; r < BWT_R; r++)
            acc[t][r] = _mm512_loadu_ps(dwt + r * ldw + 16 * t);
    const float *x0 = src + kvoff[0], *x1 = src + kvoff[1], *x2 = src + kvoff[2];
    const float *g = dout;
    for (int q = 0; q < npix; q++, g += OC) {
        int64_t o = pix[q];
        __m512 xv[BWT_T] = { _mm512_loadu_ps(x0 + o), _mm512_loadu_ps(x1 + o),
                             _mm512_loadu_ps(x2 + o) };
        _Pragma("GCC unroll 8") for (int r = 0; r < BWT_R; r++) {
            __m512 b = _mm512_set1_ps(g[r]);
            _Pragma("GCC unroll 4") for (int t = 0; t < BWT_T; t++)
                acc[t][r] = _mm512_fmadd_ps(xv[t], b, acc[t][r]);
        }
    }
    _Pragma("GCC unroll 4") for (int t = 0; t < BWT_T; t++)
        _Pragma("GCC unroll 8") for (int r = 0; r < BWT_R; r++)
            _mm512_storeu_ps(dwt + r * ldw + 16 * t, acc[t][r]);
}

/* A transposed tile: (group of BWT_R output channels, BWT_T k-vectors). */
static void bwt_one(const cd_ctx *x, int64_t tile, float *dws, const float *src,
                    const int32_t *pix, int npix, int b0, const int64_t *tapoff) {
    const conv_shape *s = x->s;
    int CV = s->C / 16, OC = s->OC;
    int64_t K = (int64_t)s->KH * s->KW * s->C, nkt = s->KH * s->KW * CV / BWT_T;
    int r0 = (int)(tile / nkt) * BWT_R, kv0 = (int)(tile % nkt) * BWT_T;
    int64_t kvoff[BWT_T];
    for (int t = 0; t < BWT_T; t++) {
        int kv = kv0 + t;
        kvoff[t] = tapoff[kv / CV] + 16 * (kv % CV);
    }
    bwt_tile(dws + r0 * K + 16 * kv0, K, src, pix, npix, kvoff,
             x->dout + (int64_t)b0 * s->OH * s->OW * OC + r0, OC);
}

static int64_t bwt_tiles(const conv_shape *s) {
    return (int64_t)s->KH * s->KW * s->C / 16 / BWT_T * (s->OC / BWT_R);
}

static void bwt_part(void *vctx, int64_t i0, int64_t i1, int tid) {
    const cd_ctx *x = vctx;
    for (int64_t part = i0; part < i1; part++) bw_tasks(x, part, bwt_tiles(x->s), bwt_one);
}

void cd_backward_weights(float *dw, const float *dout, const float *in,
                         const conv_shape *s, float *dwp, float *scratch) {
    cd_backward_weights_xf(dw, dout, in, NULL, s, dwp, scratch);
}

void cd_backward_weights_xf(float *dw, const float *dout, const float *in,
                            const conv_in_xf *xf, const conv_shape *s, float *dwp,
                            float *scratch) {
    cd_ctx x = { 0 };
    x.in = in; x.dout = dout; x.dwp = dwp; x.scratch = scratch; x.xf = xf;
    setup_groups(&x, s);
    x.nslices = bww_slices(s);
    int KK = s->KH * s->KW, tr = bwt_applies(s);
    int64_t np = cd_packed_size(s), K = (int64_t)KK * s->C;
    memset(dwp, 0, (size_t)(x.nslices * np) * sizeof(float));
    x.ntasks = x.nslices * (tr ? bwt_tiles(s)
                               : bww_tiles(s));
    x.nparts = ssl_parts(x.ntasks, CD_MAX_PARTS);
    ssl_parallel_for(x.nparts, 1, tr ? bwt_part : bww_part, &x);
    /* dw += the slices' sums, in slice order. Element k = t*C + c of output
     * channel oc: dwt[oc][k] (transposed) or, in oc's block (channels o0..,
     * NB wide), dwp[o0 * K + k * NB + oc - o0]. */
    for (int oc = 0, ob = 0; oc < s->OC; oc++) {
        if (oc >= cd_block_start(s->OC, ob) + cd_block_width(s->OC, ob)) ob++;
        int o0 = cd_block_start(s->OC, ob), NB = cd_block_width(s->OC, ob), es = tr ? 1 : NB;
        const float *src = dwp + (tr ? (int64_t)oc * K : o0 * K + oc - o0);
        float *d = dw + (int64_t)oc * K;
        for (int c = 0; c < s->C; c++)
            for (int t = 0; t < KK; t++) {
                int64_t o = ((int64_t)t * s->C + c) * es;
                float v = src[o];
                for (int sl = 1; sl < x.nslices; sl++) v += src[sl * np + o];
                d[c * KK + t] += v;
            }
    }
}

typedef struct {
    const conv_shape *s;
    conv_shape d;             /* padded dout */
    const float *dout, *wpk;
    float *din, *scratch;
    int accumulate, G, nob;
    int64_t ntasks, buf_n;
    int nparts;
} sd_ctx;

static void sd_part(void *vctx, int64_t i0, int64_t i1, int tid) {
    sd_ctx *x = vctx;
    const conv_shape *s = x->s;
    int KK = s->KH * s->KW, st = s->stride;
    int Q = x->d.pad, Hq = s->OH + 2 * Q, Wq = s->OW + 2 * Q, OC = s->OC, NC = st * st;
    int64_t K = (int64_t)KK * OC;
    /* per parity class, fixed by the shape: its taps (offsets into the
     * padded dout), din pixels Hc x Wc, first tap in the weight panel */
    int kh[KK], kw[KK], nt[NC], Hc[NC], Wc[NC], RP[NC], t0[NC];
    int64_t tapoff[NC][KK];
    row_fn row[NC];
    for (int cls = 0, w = 0; cls < NC; cls++) {
        int ph = cls / st, pw = cls % st;
        nt[cls] = class_taps(kh, kw, s, cls);
        for (int i = 0; i < nt[cls]; i++) {
            int dh = (ph + s->pad - kh[i]) / st, dw = (pw + s->pad - kw[i]) / st;
            tapoff[cls][i] = ((int64_t)dh * Wq + dw) * OC;
        }
        Hc[cls] = ph < s->H ? (s->H - ph + st - 1) / st : 0;
        Wc[cls] = pw < s->W ? (s->W - pw + st - 1) / st : 0;
        t0[cls] = w;
        w += nt[cls];
    }
    for (int64_t part = i0; part < i1; part++) {
        float *buf = x->scratch + part * x->buf_n;
        int64_t a = part * x->ntasks / x->nparts, e = (part + 1) * x->ntasks / x->nparts;
        int have = -1;
        const float *src = NULL;
        for (int64_t task = a; task < e; task++) {
            int g = (int)(task / x->nob), ob = (int)(task % x->nob);
            int b0 = g * x->G, nimg = s->B - b0 < x->G ? s->B - b0 : x->G;
            if (g != have) { src = pad_group(buf, x->dout, &x->d, b0, nimg); have = g; }
            /* this block's width and kernels */
            int NB = cd_block_width(s->C, ob), c0 = cd_block_start(s->C, ob);
            int J = NB / 16, P = fwd_pixels(J);
            for (int cls = 0; cls < NC; cls++)
                row[cls] = nt[cls] > 0 ? pick_row(0, OC, NB, Wc[cls], &RP[cls]) : NULL;
            int left = s->C - c0;
            float *dg = x->din + (int64_t)b0 * s->H * s->W * s->C + c0;
            for (int cls = 0; cls < NC; cls++) {
                if (nt[cls] == 0 && x->accumulate) continue;   /* nothing to add */
                int ph = cls / st, pw = cls % st, wc = Wc[cls];
                const float *wt = x->wpk + c0 * K + (int64_t)t0[cls] * OC * NB;
                int64_t base[16], obase[16];
                if (row[cls]) {
                    /* a row of the class: dout pixels OC apart, din st*C */
                    int rp = RP[cls];
                    for (int p = 0; p < rp; p++) obase[p] = (int64_t)p * st * s->C;
                    for (int b = 0; b < nimg; b++)
                        for (int u = 0; u < Hc[cls]; u++)
                            for (int v = 0; v < wc; v += rp) {
                                const float *xr =
                                    src + (((int64_t)b * Hq + u + Q) * Wq + v + Q) * OC;
                                float *o = dg + (((int64_t)b * s->H + st * u + ph) * s->W +
                                                 (int64_t)st * v + pw) * s->C;
                                row[cls](o, obase, left, xr, tapoff[cls], nt[cls], OC, wt,
                                         x->accumulate, NULL);
                            }
                    continue;
                }
                int64_t per = (int64_t)Hc[cls] * wc, npx = nimg * per;
                for (int64_t q0 = 0; q0 < npx; q0 += P) {
                    int np = npx - q0 < P ? (int)(npx - q0) : P;
                    for (int p = 0; p < P; p++) {
                        int64_t q = q0 + (p < np ? p : np - 1);
                        int b = (int)(q / per), r = (int)(q % per);
                        int u = r / wc, v = r % wc;
                        base[p] = (((int64_t)b * Hq + u + Q) * Wq + v + Q) * OC;
                        obase[p] = (((int64_t)b * s->H + st * u + ph) * s->W + st * v + pw) * s->C;
                    }
                    fwd_tile(J, dg, obase, np, left, src, base, tapoff[cls], nt[cls], OC, wt,
                             x->accumulate, NULL);
                }
            }
        }
    }
}

void cd_backward_data_strided(float *din, const float *dout, const float *wpk,
                              const conv_shape *s, int accumulate, float *scratch) {
    sd_ctx x = { 0 };
    x.s = s; x.dout = dout; x.wpk = wpk; x.din = din; x.scratch = scratch;
    x.accumulate = accumulate;
    sd_dout_shape(&x.d, s);
    x.nob = cd_nblocks(s->C);
    x.G = group_images(&x.d);
    x.ntasks = (int64_t)((s->B + x.G - 1) / x.G) * x.nob;
    x.buf_n = (int64_t)x.G * (x.d.H + 2 * x.d.pad) * (x.d.W + 2 * x.d.pad) * x.d.C;
    x.nparts = ssl_parts(x.ntasks, CD_MAX_PARTS);
    ssl_parallel_for(x.nparts, 1, sd_part, &x);
}

#else   /* no AVX-512: conv.c uses im2col + sgemm */

int cd_available(void) { return 0; }
int64_t cd_bww_size(const conv_shape *s) { return cd_packed_size(s); }
void cd_forward(float *out, const float *in, const float *wpk, const conv_shape *s,
                int accumulate, const cd_epilogue *ep, float *scratch) {
    (void)ep; (void)out; (void)in; (void)wpk; (void)s; (void)accumulate; (void)scratch;
    (void)pad_group;
}
void cd_backward_data_strided(float *din, const float *dout, const float *wpk,
                              const conv_shape *s, int accumulate, float *scratch) {
    (void)din; (void)dout; (void)wpk; (void)s; (void)accumulate; (void)scratch;
}
void cd_backward_weights(float *dw, const float *dout, const float *in,
                         const conv_shape *s, float *dwp, float *scratch) {
    (void)dw; (void)dout; (void)in; (void)s; (void)dwp; (void)scratch;
}
void cd_forward_xf(float *out, const float *in, const conv_in_xf *xf, const float *wpk,
                   const conv_shape *s, int accumulate, const cd_epilogue *ep, float *scratch) {
    (void)xf;
    cd_forward(out, in, wpk, s, accumulate, ep, scratch);
}
void cd_backward_weights_xf(float *dw, const float *dout, const float *in,
                            const conv_in_xf *xf, const conv_shape *s, float *dwp,
                            float *scratch) {
    (void)xf;
    cd_backward_weights(dw, dout, in, s, dwp, scratch);
}
#endif
