/* bn.c: batch normalisation over [N, C] rows (BatchNorm2d on NHWC with
 * N = B*H*W, BatchNorm1d with N = B), PyTorch semantics, with an optional
 * fused residual add and ReLU in the forward epilogue.
 *
 * Reductions run in parallel over fixed row blocks (each block sums its
 * rows, vectorised along C, in double; the blocks are then added in order):
 * one pass over x for the mean and variance (shifted by the first row), one
 * over x, dy (and y) for the backward sums; the result does not depend on
 * the thread count. Elementwise passes run in parallel over rows.
 *
 * The backward is bandwidth bound (two passes over [N, C]: the sums, then
 * dx), so its variants avoid every stream they can:
 *  - bn_backward_xmask (BN + ReLU, no residual) gets the ReLU mask from x
 *    instead of reading y: the forward's pre-activation v = fma(x, scale,
 *    shift) is recomputed from the float scale/shift the training forward
 *    saved (bn_forward_train_aff), and v > 0 is exactly y > 0 (y = max(v,
 *    0); NaN v gives y = 0 and v > 0 false). Both passes read dy and x.
 *  - bn_backward_res (BN + residual + ReLU) masks by y and writes the
 *    masked gradient (the residual's gradient) in the sums pass; the dx
 *    pass reads that, without y.
 *  - Both take the output gradient in two parts, dy + dy2 (the identity
 *    shortcut's share from the block above), added where it is read
 *    instead of in a pass of its own.
 * The float adds and masks are those of add_inplace and relu_backward, so
 * the results are the same bits as the separate passes.
 * The *_ref versions are plain loops for the tests. */
/* Without AVX-512 the plain loops below do the work, and GCC 12's -O2
 * vectorizes only loops that need no remainder (its very-cheap cost
 * model): the dynamic model vectorizes them over the channels, each
 * channel's sum still taken over the rows in order (no reassociation
 * without -ffast-math). The backward's masks (g = cond ? dy : 0, then
 * summed in double) if-convert only where comparisons are taken not to
 * trap; nothing reads the FP exception flags, so no value changes. Before
 * the includes, so that act1 and dact1 inline under the same options. */
#ifndef __AVX512F__
#pragma GCC optimize("vect-cost-model=dynamic", "no-trapping-math")
#endif
#include "nn/ops/ops.h"
#include "nn/ops/act_impl.h"
#include "nn/ops/simd_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/threads.h"

#define MAXC_STACK 4096   /* channels per reduction chunk held on the stack */

/* The forward's pre-activation x * scale + shift as one rounding where the
 * target has FMA (the same bits as the AVX-512 kernels' _mm512_fmadd_ps)
 * and as two where it has none (then nothing can contract it either): the
 * plain forward and bn_backward_xmask must compute the same v. */
#ifdef FP_FAST_FMAF
#define AFF(x, s, h) fmaf((x), (s), (h))
#else
#define AFF(x, s, h) ((x) * (s) + (h))
#endif

/* How the backward gets g from dy: MASK_NONE g = dy; MASK_Y g = dy masked
 * by yin > 0; MASK_X g = dy masked by AFF(x, msc, msh) > 0; MASK_RELU6,
 * MASK_HSWISH g = dact(dy, AFF(x, msc, msh)) (act_impl.h) for that
 * activation (bn_backward_act). */
enum { MASK_NONE, MASK_Y, MASK_X, MASK_RELU6, MASK_HSWISH };

typedef struct {
    float *y, *dx;
    float *dres;              /* sums pass: the masked g written (or NULL) */
    const float *x, *dy, *dy2, *yin, *res, *gamma, *beta, *mean, *rstd;
    const float *x0;          /* forward statistics: the shift per channel */
    const float *msc, *msh;   /* MASK_X: the forward's scale, shift */
    double *p1, *p2;          /* per-block partial sums [nblk][C] */
    const float *scale, *shift;   /* per-channel affine for the epilogue */
    int64_t N, nblk;
    int C, act, mask;         /* act: the forward epilogue's ACT_* */
} bn_ctx;

/* Reductions: rows are cut into nblk blocks fixed by N and C alone (not by
 * the thread count); each block's sums go to its own row of p1/p2 and the
 * blocks are added in order afterwards, so the bits do not depend on the
 * thread count. At most PART_DOUBLES doubles of partials per sum. */
#define PART_DOUBLES 4096
#define MAX_BLOCKS 32

static int64_t n_blocks(int64_t N, int C) {
    int64_t nb = PART_DOUBLES / (C > 0 ? C : 1), by_rows = N / 256;
    if (nb > MAX_BLOCKS) nb = MAX_BLOCKS;
    if (nb > by_rows) nb = by_rows;
    return nb < 1 ? 1 : nb;
}

#ifdef __AVX512F__
#include <immintrin.h>

/* AVX-512 versions: 16 channels at a time (masked tail), the row-block
 * sums in double in registers, channels outer and rows inner, over
 * chunks of CHUNK_ROWS rows (about 32 KiB of x, so a chunk read for the
 * first 16 channels is still in L1 for the others, instead of each
 * channel vector striding over the whole block): the sums live in
 * p1/p2 between chunks, each channel's still summed over the rows in
 * order, so the bits are those of one sweep over the block. */
static int64_t chunk_rows(int C) { int64_t r = 8192 / (C > 0 ? C : 1); return r < 1 ? 1 : r; }
/* The end of the chunk of rows from q0 in a block ending at r1. */
static inline int64_t chunk_end(int64_t q0, int64_t r1, int C) {
    return q0 + chunk_rows(C) < r1 ? q0 + chunk_rows(C) : r1;
}

/* Row block blk of k: its rows [r0, r1) and its partial sums p1, p2
 * (zeroed). */
static void block_begin(const bn_ctx *k, int64_t blk, int64_t *r0, int64_t *r1, double **p1,
                        double **p2) {
    *r0 = blk * k->N / k->nblk;
    *r1 = (blk + 1) * k->N / k->nblk;
    *p1 = k->p1 + blk * k->C;
    *p2 = k->p2 + blk * k->C;
    memset(*p1, 0, (size_t)k->C * sizeof **p1);
    memset(*p2, 0, (size_t)k->C * sizeof **p2);
}

/* Plain moves for whole vectors (masked stores are slow on this core). */
static inline __m512 ld(const float *p, __mmask16 m) {
    return m == 0xffff ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
static inline void st(float *p, __mmask16 m, __m512 v) {
    if (m == 0xffff) _mm512_storeu_ps(p, v); else _mm512_mask_storeu_ps(p, m, v);
}
/* The inverse of store2: the 16 doubles at d of which m says which are
 * real (the others 0). */
static inline void load2(__m512d *lo, __m512d *hi, const double *d, __mmask16 m) {
    *lo = _mm512_maskz_loadu_pd((__mmask8)(m & 0xff), d);
    *hi = _mm512_maskz_loadu_pd((__mmask8)(m >> 8), d + 8);
}

static void store2(double *d, int left, __m512d lo, __m512d hi) {
    __mmask16 m = tail_mask16(left);
    _mm512_mask_storeu_pd(d, (__mmask8)(m & 0xff), lo);
    _mm512_mask_storeu_pd(d + 8, (__mmask8)(m >> 8), hi);
}

/* Forward statistics, shifted by the first row (x0) against cancellation:
 * p1 = sum d, p2 = sum d^2, d = x - x0. */
static void stats_block(void *vctx, int64_t b0, int64_t b1, int tid) {
    bn_ctx *k = vctx;
    int C = k->C;
    for (int64_t blk = b0; blk < b1; blk++) {
        int64_t r0, r1;
        double *p1, *p2;
        block_begin(k, blk, &r0, &r1, &p1, &p2);
        for (int64_t q0 = r0; q0 < r1; q0 += chunk_rows(C)) {
            int64_t q1 = chunk_end(q0, r1, C);
            for (int c0 = 0; c0 < C; c0 += 16) {
                __mmask16 m = tail_mask16(C - c0);
                __m512 x0 = ld(k->x0 + c0, m);
                __m512d sl = lo_pd(x0), sh = hi_pd(x0);
                __m512d a1l, a1h, a2l, a2h;
                load2(&a1l, &a1h, p1 + c0, m);
                load2(&a2l, &a2h, p2 + c0, m);
                const float *xp = k->x + q0 * C + c0;
                for (int64_t r = q0; r < q1; r++, xp += C) {
                    __m512 v = ld(xp, m);
                    __m512d dl = _mm512_sub_pd(lo_pd(v), sl), dh = _mm512_sub_pd(hi_pd(v), sh);
                    a1l = _mm512_add_pd(a1l, dl);
                    a1h = _mm512_add_pd(a1h, dh);
                    a2l = _mm512_fmadd_pd(dl, dl, a2l);
                    a2h = _mm512_fmadd_pd(dh, dh, a2h);
                }
                store2(p1 + c0, C - c0, a1l, a1h);
                store2(p2 + c0, C - c0, a2l, a2h);
            }
        }
    }
}

/* g at one vector of 16 channels: dy (+ dy2), masked per k->mask (x is
 * the vector of x at the same place, sc/sh the forward's scale/shift). */
static inline __attribute__((always_inline)) __m512
grad_vec(const bn_ctx *k, int mode, int two, int64_t off, __mmask16 m, __m512 x,
         __m512 sc, __m512 sh) {
    __m512 g = ld(k->dy + off, m);
    if (two) g = _mm512_add_ps(g, ld(k->dy2 + off, m));
    if (mode == MASK_Y)
        g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(ld(k->yin + off, m), _mm512_setzero_ps(),
                                                   _CMP_GT_OQ), g);
    else if (mode == MASK_X)
        g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_fmadd_ps(x, sc, sh),
                                                   _mm512_setzero_ps(), _CMP_GT_OQ), g);
    else if (mode == MASK_RELU6)
        g = dact16(g, _mm512_fmadd_ps(x, sc, sh), ACT_RELU6);
    else if (mode == MASK_HSWISH)
        g = dact16(g, _mm512_fmadd_ps(x, sc, sh), ACT_HSWISH);
    return g;
}

/* Backward sums of one row block: p1 = sum g, p2 = sum g * (x - mean);
 * g (see grad_vec) written to dres when wres. mode, two, wres are
 * constants at each call, so each combination compiles to its own loop. */
static inline __attribute__((always_inline)) void
bwd_block_t(const bn_ctx *k, int64_t blk, int mode, int two, int wres) {
    int C = k->C;
    int64_t r0, r1;
    double *p1, *p2;
    block_begin(k, blk, &r0, &r1, &p1, &p2);
    for (int64_t q0 = r0; q0 < r1; q0 += chunk_rows(C)) {
        int64_t q1 = chunk_end(q0, r1, C);
        for (int c0 = 0; c0 < C; c0 += 16) {
            __mmask16 m = tail_mask16(C - c0);
            __m512 mu = ld(k->mean + c0, m), sc = mu, sh = mu;
            if (mode >= MASK_X) { sc = ld(k->msc + c0, m); sh = ld(k->msh + c0, m); }
            __m512d ml = lo_pd(mu), mh = hi_pd(mu);
            __m512d a1l, a1h, a2l, a2h;
            load2(&a1l, &a1h, p1 + c0, m);
            load2(&a2l, &a2h, p2 + c0, m);
            int64_t off = q0 * C + c0;
            for (int64_t r = q0; r < q1; r++, off += C) {
                __m512 x = ld(k->x + off, m);
                __m512 g = grad_vec(k, mode, two, off, m, x, sc, sh);
                if (wres) st(k->dres + off, m, g);
                __m512d gl = lo_pd(g), gh = hi_pd(g);
                a1l = _mm512_add_pd(a1l, gl);
                a1h = _mm512_add_pd(a1h, gh);
                a2l = _mm512_fmadd_pd(gl, _mm512_sub_pd(lo_pd(x), ml), a2l);
                a2h = _mm512_fmadd_pd(gh, _mm512_sub_pd(hi_pd(x), mh), a2h);
            }
            store2(p1 + c0, C - c0, a1l, a1h);
            store2(p2 + c0, C - c0, a2l, a2h);
        }
    }
}

/* dx = scale * (g - s1/N - xhat * s2/N), using arrays scale[c] = gamma*rstd,
 * shift[c] = s1/N, shift[C + c] = s2/N as floats. */
static inline __attribute__((always_inline)) void
bwd_dx_t(const bn_ctx *k, int64_t r0, int64_t r1, int mode, int two) {
    int C = k->C;
    for (int64_t r = r0; r < r1; r++) {
        int64_t off = r * C;
        for (int c0 = 0; c0 < C; c0 += 16) {
            __mmask16 m = tail_mask16(C - c0);
            __m512 x = ld(k->x + off + c0, m), sc = x, sh = x;
            if (mode >= MASK_X) { sc = ld(k->msc + c0, m); sh = ld(k->msh + c0, m); }
            __m512 g = grad_vec(k, mode, two, off + c0, m, x, sc, sh);
            __m512 xh = _mm512_mul_ps(_mm512_sub_ps(x, ld(k->mean + c0, m)),
                                      ld(k->rstd + c0, m));
            __m512 t = _mm512_sub_ps(g, ld(k->shift + c0, m));
            t = _mm512_sub_ps(t, _mm512_mul_ps(xh, ld(k->shift + C + c0, m)));
            st(k->dx + off + c0, m, _mm512_mul_ps(ld(k->scale + c0, m), t));
        }
    }
}

static void affine_range(void *vctx, int64_t r0, int64_t r1, int tid) {
    bn_ctx *k = vctx;
    int C = k->C;
    __m512 z = _mm512_setzero_ps();
    for (int64_t r = r0; r < r1; r++) {
        int64_t off = r * C;
        for (int c0 = 0; c0 < C; c0 += 16) {
            __mmask16 m = tail_mask16(C - c0);
            __m512 v = _mm512_fmadd_ps(ld(k->x + off + c0, m),
                                       ld(k->scale + c0, m),
                                       ld(k->shift + c0, m));
            if (k->res) v = _mm512_add_ps(v, ld(k->res + off + c0, m));
            if (k->act == ACT_RELU) v = _mm512_max_ps(v, z);
            else if (k->act) v = act16(v, k->act);
            st(k->y + off + c0, m, v);
        }
    }
}

#else   /* plain loops */

/* Forward statistics, shifted by the first row (x0) against cancellation:
 * p1 = sum d, p2 = sum d^2, d = x - x0. */
static void stats_block(void *vctx, int64_t b0, int64_t b1, int tid) {
    bn_ctx *k = vctx;
    int C = k->C;
    const float *x0 = k->x0;
    for (int64_t blk = b0; blk < b1; blk++) {
        double *restrict a1 = k->p1 + blk * C, *restrict a2 = k->p2 + blk * C;
        for (int c = 0; c < C; c++) a1[c] = a2[c] = 0;
        int64_t r0 = blk * k->N / k->nblk, r1 = (blk + 1) * k->N / k->nblk;
        for (int64_t r = r0; r < r1; r++) {
            const float *xr = k->x + r * C;
            for (int c = 0; c < C; c++) {
                double d = (double)xr[c] - (double)x0[c];
                a1[c] += d;
                a2[c] += d * d;
            }
        }
    }
}

/* g at element i (channel c): dy (+ dy2), masked per k->mask. */
static inline __attribute__((always_inline)) float
grad_at(const bn_ctx *k, int mode, int two, int64_t i, int c, float x) {
    float g = k->dy[i];
    if (two) g = g + k->dy2[i];
    if (mode == MASK_Y) g = k->yin[i] > 0 ? g : 0.0f;
    else if (mode == MASK_X) g = AFF(x, k->msc[c], k->msh[c]) > 0 ? g : 0.0f;
    else if (mode == MASK_RELU6) g = dact1(g, AFF(x, k->msc[c], k->msh[c]), ACT_RELU6);
    else if (mode == MASK_HSWISH) g = dact1(g, AFF(x, k->msc[c], k->msh[c]), ACT_HSWISH);
    return g;
}

/* Backward sums of one row block: p1 = sum g, p2 = sum g * (x - mean);
 * g written to dres when wres. */
static inline __attribute__((always_inline)) void
bwd_block_t(const bn_ctx *k, int64_t blk, int mode, int two, int wres) {
    int C = k->C;
    const float *mu = k->mean;
    double *restrict a1 = k->p1 + blk * C, *restrict a2 = k->p2 + blk * C;
    for (int c = 0; c < C; c++) a1[c] = a2[c] = 0;
    int64_t r0 = blk * k->N / k->nblk, r1 = (blk + 1) * k->N / k->nblk;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = k->x + r * C;
        for (int c = 0; c < C; c++) {
            float g = grad_at(k, mode, two, r * C + c, c, xr[c]);
            if (wres) k->dres[r * C + c] = g;
            a1[c] += g;
            a2[c] += (double)g * ((double)xr[c] - mu[c]);
        }
    }
}

/* One row of y = act(AFF(x) (+ res)) for an act > ACT_RELU, a constant
 * where inlined, so that the loop vectorizes (act1 on a variable act and a
 * residual that may be NULL kept it scalar). */
static inline __attribute__((always_inline)) void
affine_act_row(float *restrict yr, const float *restrict xr, const float *restrict rr,
               const float *restrict sc, const float *restrict sh, int C, int act) {
    if (rr)
        for (int c = 0; c < C; c++) yr[c] = act1(AFF(xr[c], sc[c], sh[c]) + rr[c], act);
    else
        for (int c = 0; c < C; c++) yr[c] = act1(AFF(xr[c], sc[c], sh[c]) + 0.0f, act);
}

static void affine_range(void *vctx, int64_t r0, int64_t r1, int tid) {
    bn_ctx *k = vctx;
    int C = k->C;
    const float *restrict sc = k->scale, *restrict sh = k->shift;
    for (int64_t r = r0; r < r1; r++) {
        const float *restrict xr = k->x + r * C;
        float *restrict yr = k->y + r * C;
        const float *restrict rr = k->res ? k->res + r * C : NULL;
        if (k->act > ACT_RELU) {
            switch (k->act) {
            case ACT_RELU6: affine_act_row(yr, xr, rr, sc, sh, C, ACT_RELU6); break;
            case ACT_HSWISH: affine_act_row(yr, xr, rr, sc, sh, C, ACT_HSWISH); break;
            case ACT_HSIGMOID: affine_act_row(yr, xr, rr, sc, sh, C, ACT_HSIGMOID); break;
            default: affine_act_row(yr, xr, rr, sc, sh, C, k->act); break;
            }
        } else if (rr && k->act) {
            for (int c = 0; c < C; c++) {
                float v = AFF(xr[c], sc[c], sh[c]) + rr[c];
                yr[c] = v > 0 ? v : 0;
            }
        } else if (rr) {
            for (int c = 0; c < C; c++) yr[c] = AFF(xr[c], sc[c], sh[c]) + rr[c];
        } else if (k->act) {
            for (int c = 0; c < C; c++) {
                float v = AFF(xr[c], sc[c], sh[c]);
                yr[c] = v > 0 ? v : 0;
            }
        } else {
            for (int c = 0; c < C; c++) yr[c] = AFF(xr[c], sc[c], sh[c]);
        }
    }
}

/* dx = scale * (g - s1/N - xhat * s2/N), using arrays scale[c] = gamma*rstd,
 * shift[c] = s1/N, shift[C + c] = s2/N as floats. */
static inline __attribute__((always_inline)) void
bwd_dx_t(const bn_ctx *k, int64_t r0, int64_t r1, int mode, int two) {
    int C = k->C;
    const float *restrict mg = k->shift, *restrict mgx = k->shift + C;
    const float *restrict sc = k->scale, *restrict mu = k->mean, *restrict rs = k->rstd;
    for (int64_t r = r0; r < r1; r++) {
        const float *restrict xr = k->x + r * C;
        float *restrict dr = k->dx + r * C;
        for (int c = 0; c < C; c++) {
            float g = grad_at(k, mode, two, r * C + c, c, xr[c]);
            float xh = (xr[c] - mu[c]) * rs[c];
            dr[c] = sc[c] * (g - mg[c] - xh * mgx[c]);
        }
    }
}

#endif

/* The backward passes, one specialised loop per case in use. */
static void bwd_block(void *vctx, int64_t b0, int64_t b1, int tid) {
    const bn_ctx *k = vctx;
    for (int64_t blk = b0; blk < b1; blk++) {
        if (k->mask == MASK_X && k->dy2) bwd_block_t(k, blk, MASK_X, 1, 0);
        else if (k->mask == MASK_X) bwd_block_t(k, blk, MASK_X, 0, 0);
        else if (k->mask == MASK_RELU6) bwd_block_t(k, blk, MASK_RELU6, 0, 0);
        else if (k->mask == MASK_HSWISH) bwd_block_t(k, blk, MASK_HSWISH, 0, 0);
        else if (k->mask == MASK_NONE) bwd_block_t(k, blk, MASK_NONE, 0, 0);
        else if (!k->dres) bwd_block_t(k, blk, MASK_Y, 0, 0);
        else if (k->dy2) bwd_block_t(k, blk, MASK_Y, 1, 1);
        else bwd_block_t(k, blk, MASK_Y, 0, 1);
    }
}

static void bwd_dx_range(void *vctx, int64_t r0, int64_t r1, int tid) {
    const bn_ctx *k = vctx;
    if (k->mask == MASK_X && k->dy2) bwd_dx_t(k, r0, r1, MASK_X, 1);
    else if (k->mask == MASK_X) bwd_dx_t(k, r0, r1, MASK_X, 0);
    else if (k->mask == MASK_RELU6) bwd_dx_t(k, r0, r1, MASK_RELU6, 0);
    else if (k->mask == MASK_HSWISH) bwd_dx_t(k, r0, r1, MASK_HSWISH, 0);
    else if (k->mask == MASK_Y) bwd_dx_t(k, r0, r1, MASK_Y, 0);
    else bwd_dx_t(k, r0, r1, MASK_NONE, 0);
}

/* s1[c], s2[c] = the block partials summed in block order. */
static void reduce_blocks(double *s1, double *s2, const bn_ctx *k) {
    for (int c = 0; c < k->C; c++) { s1[c] = 0; s2[c] = 0; }
    for (int64_t b = 0; b < k->nblk; b++)
        for (int c = 0; c < k->C; c++) {
            s1[c] += k->p1[b * k->C + c];
            s2[c] += k->p2[b * k->C + c];
        }
}

/* ---- statistics across replicas (bn_set_sync) ---- */

static bn_sync_fn sync_fn;
static void *sync_ctx;
static const float zeros[MAXC_STACK];

void bn_set_sync(bn_sync_fn fn, void *ctx) {
    sync_fn = fn;
    sync_ctx = ctx;
}

/* s1, s2 [C] and the row count summed over the replicas: returns the
 * total rows. (Out of memory for its 2 C + 1 doubles: channel by channel.) */
static double sync_sums(double *s1, double *s2, int C, int64_t N) {
    double *buf = malloc((2 * (size_t)C + 1) * sizeof *buf);
    if (!buf) {
        double b[3] = {0};
        for (int c = 0; c < C; c++) {
            b[0] = s1[c], b[1] = s2[c], b[2] = (double)N;
            sync_fn(sync_ctx, b, 3);
            s1[c] = b[0], s2[c] = b[1];
        }
        return b[2];
    }
    memcpy(buf, s1, (size_t)C * sizeof *buf);
    memcpy(buf + C, s2, (size_t)C * sizeof *buf);
    buf[2 * C] = (double)N;
    sync_fn(sync_ctx, buf, 2 * (int64_t)C + 1);
    memcpy(s1, buf, (size_t)C * sizeof *buf);
    memcpy(s2, buf + C, (size_t)C * sizeof *buf);
    double Nt = buf[2 * C];
    free(buf);
    return Nt;
}

/* Channel c of the reference forward once its mean mu and biased variance
 * v over Nt rows are known: mean, rstd, y and the running statistics. */
static void ref_channel_out(float *y, float *mean, float *rstd, const float *x,
                            const float *gamma, const float *beta, const float *res,
                            int relu, int64_t N, int C, float *running_mean,
                            float *running_var, float momentum, float eps, int c, double mu,
                            double v, double Nt) {
    double rs = 1.0 / sqrt(v + eps);
    mean[c] = (float)mu;
    rstd[c] = (float)rs;
    for (int64_t r = 0; y && r < N; r++) {
        int64_t i = r * C + c;
        double o = (x[i] - mu) * rs * gamma[c] + beta[c] + (res ? res[i] : 0.0);
        y[i] = (float)(relu && o < 0 ? 0 : o);
    }
    if (running_mean) running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * mu);
    if (running_var)
        running_var[c] = (float)((1 - momentum) * running_var[c] +
                                 momentum * (Nt > 1 ? v * Nt / (Nt - 1) : v));
}

/* bn_forward_train_ref across replicas (C > MAXC_STACK), channel by
 * channel: the sums shifted by the running mean (or 0), then summed. */
static void ref_forward_sync(float *y, float *mean, float *rstd, const float *x,
                             const float *gamma, const float *beta, const float *res,
                             int relu, int64_t N, int C, float *running_mean,
                             float *running_var, float momentum, float eps) {
    for (int c = 0; c < C; c++) {
        double x0 = running_mean ? running_mean[c] : 0, s1 = 0, s2 = 0;
        for (int64_t r = 0; r < N; r++) {
            double d = x[r * C + c] - x0;
            s1 += d;
            s2 += d * d;
        }
        double Nt = sync_sums(&s1, &s2, 1, N), m1 = s1 / Nt;
        double v = s2 / Nt - m1 * m1;
        ref_channel_out(y, mean, rstd, x, gamma, beta, res, relu, N, C, running_mean,
                        running_var, momentum, eps, c, x0 + m1, v < 0 ? 0 : v, Nt);
    }
}

static int64_t row_grain(int C) { int64_t g = 16384 / (C > 0 ? C : 1); return g < 1 ? 1 : g; }

void bn_forward_train(float *y, float *mean, float *rstd, const float *x,
                      const float *gamma, const float *beta, const float *res,
                      int relu, int64_t N, int C, float *running_mean,
                      float *running_var, float momentum, float eps) {
    bn_forward_train_aff(y, mean, rstd, NULL, NULL, x, gamma, beta, res, relu, N, C,
                         running_mean, running_var, momentum, eps);
}

void bn_forward_train_aff(float *y, float *mean, float *rstd, float *scale_out,
                          float *shift_out, const float *x, const float *gamma,
                          const float *beta, const float *res, int act, int64_t N, int C,
                          float *running_mean, float *running_var, float momentum,
                          float eps) {
    if (C > MAXC_STACK) {
        if (sync_fn) ref_forward_sync(y, mean, rstd, x, gamma, beta, res, act == ACT_RELU, N, C,
                                      running_mean, running_var, momentum, eps);
        else bn_forward_train_ref(y, mean, rstd, x, gamma, beta, res, act == ACT_RELU, N, C,
                                  running_mean, running_var, momentum, eps);
        if (!scale_out) {
            if (act > ACT_RELU && y) act_forward(y, y, N * C, act);
            return;
        }
        /* y again from a float affine, so that it is act(AFF(x, scale,
         * shift) + res) as promised */
        bn_ctx k = { 0 };
        for (int c = 0; c < C; c++) {
            double rs = rstd[c];
            scale_out[c] = (float)(gamma[c] * rs);
            shift_out[c] = (float)(beta[c] - (double)mean[c] * gamma[c] * rs);
        }
        k.x = x; k.N = N; k.C = C; k.y = y; k.res = res; k.act = act;
        k.scale = scale_out; k.shift = shift_out;
        if (y) ssl_parallel_for(N, row_grain(C), affine_range, &k);
        return;
    }
    double p1[PART_DOUBLES], p2[PART_DOUBLES], s1[MAXC_STACK], s2[MAXC_STACK];
    float scale_st[MAXC_STACK], shift_st[MAXC_STACK];
    float *scale = scale_out ? scale_out : scale_st, *shift = shift_out ? shift_out : shift_st;
    bn_ctx k = { 0 };
    k.x = x; k.N = N; k.C = C; k.p1 = p1; k.p2 = p2; k.nblk = n_blocks(N, C);
    /* Shifted by the first row; across replicas by a shift they share:
     * the running mean (or 0). */
    k.x0 = !sync_fn ? x : running_mean ? running_mean : zeros;
    ssl_parallel_for(k.nblk, 1, stats_block, &k);
    reduce_blocks(s1, s2, &k);
    double Nt = (double)N;
    if (sync_fn) Nt = sync_sums(s1, s2, C, N);
    for (int c = 0; c < C; c++) {
        double m1 = s1[c] / Nt;
        double mu = (double)k.x0[c] + m1, var = s2[c] / Nt - m1 * m1;
        if (var < 0) var = 0;
        double rs = 1.0 / sqrt(var + eps);
        mean[c] = (float)mu;
        rstd[c] = (float)rs;
        scale[c] = (float)(gamma[c] * rs);
        shift[c] = (float)(beta[c] - mu * gamma[c] * rs);
        if (running_mean)
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
        if (running_var) {
            double unb = Nt > 1 ? var * Nt / (Nt - 1) : var;
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unb);
        }
    }
    k.y = y; k.res = res; k.scale = scale; k.shift = shift; k.act = act;
    if (y) ssl_parallel_for(N, row_grain(C), affine_range, &k);
}

void bn_eval_affine(float *scale, float *shift, const float *gamma, const float *beta,
                    const float *running_mean, const float *running_var, int C, float eps) {
    for (int c = 0; c < C; c++) {
        double rs = 1.0 / sqrt((double)running_var[c] + eps);
        scale[c] = (float)(gamma[c] * rs);
        shift[c] = (float)(beta[c] - running_mean[c] * gamma[c] * rs);
    }
}

void bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                     const float *res, int relu, int64_t N, int C,
                     const float *running_mean, const float *running_var, float eps) {
    float scale[MAXC_STACK], shift[MAXC_STACK];
    if (C > MAXC_STACK) {
        for (int64_t r = 0; r < N; r++)
            for (int c = 0; c < C; c++) {
                int64_t i = r * C + c;
                double rs = 1.0 / sqrt((double)running_var[c] + eps);
                float v = (float)((x[i] - running_mean[c]) * rs * gamma[c] + beta[c]) +
                          (res ? res[i] : 0.0f);
                y[i] = relu && v < 0 ? 0 : v;
            }
        return;
    }
    bn_eval_affine(scale, shift, gamma, beta, running_mean, running_var, C, eps);
    bn_apply_affine(y, x, scale, shift, res, relu, N, C);
}

void bn_apply_affine(float *y, const float *x, const float *scale, const float *shift,
                     const float *res, int act, int64_t N, int C) {
    bn_ctx a = { 0 };
    a.x = x; a.y = y; a.res = res; a.scale = scale; a.shift = shift;
    a.N = N; a.C = C; a.act = act;
    ssl_parallel_for(N, row_grain(C), affine_range, &a);
}

/* The sums pass of the backward for k (x, dy, mask and its inputs set),
 * C <= MAXC_STACK / 2: dgamma, dbeta accumulated; the dx pass's
 * coefficients written: scale [C] = gamma rstd, sh [2 C] = s1/N, then
 * (sum g xhat)/N. Writes k->dres when set. */
static void backward_sums(bn_ctx *k, float *scale, float *sh, float *dgamma, float *dbeta,
                          const float *gamma) {
    double p1[PART_DOUBLES], p2[PART_DOUBLES], s1[MAXC_STACK / 2], s2[MAXC_STACK / 2];
    int64_t N = k->N;
    int C = k->C;
    k->p1 = p1; k->p2 = p2; k->nblk = n_blocks(N, C);
    ssl_parallel_for(k->nblk, 1, bwd_block, k);
    reduce_blocks(s1, s2, k);
    double Nt = (double)N;
    for (int c = 0; c < C; c++) {     /* this replica's share of dgamma, dbeta */
        dbeta[c] += (float)s1[c];
        dgamma[c] += (float)(s2[c] * k->rstd[c]);
    }
    if (sync_fn) Nt = sync_sums(s1, s2, C, N);
    for (int c = 0; c < C; c++) {
        double gx = s2[c] * k->rstd[c];        /* sum g * xhat */
        scale[c] = gamma[c] * k->rstd[c];
        sh[c] = (float)(s1[c] / Nt);
        sh[C + c] = (float)(gx / Nt);
    }
    k->p1 = k->p2 = NULL;
}

/* Both passes of the backward for k (x, dy, mask and its inputs set),
 * C <= MAXC_STACK / 2. The sums pass writes k->dres when set; the dx pass
 * then reads it unmasked. */
static void backward_run(bn_ctx *k, float *dx, float *dgamma, float *dbeta,
                         const float *gamma) {
    float scale[MAXC_STACK / 2], sh[MAXC_STACK];
    backward_sums(k, scale, sh, dgamma, dbeta, gamma);
    if (k->dres) {   /* g is now in dres, already masked */
        k->dy = k->dres; k->dy2 = NULL; k->yin = NULL; k->mask = MASK_NONE;
    }
    k->dx = dx; k->scale = scale; k->shift = sh;
    ssl_parallel_for(k->N, row_grain(k->C), bwd_dx_range, k);
}

/* ---- bn_backward_act in two halves (the dx pass run by its consumer) ---- */

/* The mask of bn_backward_act's loops for act, or -1 where it has none. */
static int act_mask(int act) {
    return act == ACT_NONE ? MASK_NONE : act == ACT_RELU ? MASK_X : act == ACT_RELU6 ? MASK_RELU6
           : act == ACT_HSWISH ? MASK_HSWISH : -1;
}

int bn_backward_act_split(int act, int C) {
    return C > 0 && C <= MAXC_STACK / 2 && act_mask(act) >= 0;
}

/* k as bn_backward_act sets it for d (bn_backward, bn_backward_xmask
 * without dy2, or its own MASK_RELU6 / MASK_HSWISH). */
static void split_ctx(bn_ctx *k, const bn_dx_src *d, int64_t N) {
    k->x = d->x; k->dy = d->dy; k->mask = act_mask(d->act);
    if (k->mask >= MASK_X) { k->msc = d->scale; k->msh = d->shift; }
    k->mean = d->mean; k->rstd = d->rstd; k->N = N; k->C = d->C;
}

void bn_backward_act_sums(float *coef, float *dgamma, float *dbeta, const bn_dx_src *d,
                          const float *gamma, int64_t N) {
    bn_ctx k = { 0 };
    split_ctx(&k, d, N);
    backward_sums(&k, coef, coef + d->C, dgamma, dbeta, gamma);
}

void bn_backward_act_rows(float *dx, const bn_dx_src *d, int64_t r0, int64_t r1) {
    bn_ctx k = { 0 };
    split_ctx(&k, d, r1 - r0);
    k.x += r0 * d->C;
    k.dy += r0 * d->C;
    k.dx = dx; k.scale = d->coef; k.shift = d->coef + d->C;
    bwd_dx_range(&k, 0, r1 - r0, 0);
}

static void backward_ref_m(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *dy2, const float *y, const float *msc,
                           const float *msh, const float *x, const float *mean,
                           const float *rstd, const float *gamma, int64_t N, int C);

void bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                 const float *y, const float *x, const float *mean,
                 const float *rstd, const float *gamma, int64_t N, int C) {
    if (C > MAXC_STACK / 2) {
        bn_backward_ref(dx, dgamma, dbeta, dy, y, x, mean, rstd, gamma, N, C);
        return;
    }
    bn_ctx k = { 0 };
    k.x = x; k.dy = dy; k.yin = y; k.mask = y ? MASK_Y : MASK_NONE;
    k.mean = mean; k.rstd = rstd; k.N = N; k.C = C;
    backward_run(&k, dx, dgamma, dbeta, gamma);
}

void bn_backward_xmask(float *dx, float *dgamma, float *dbeta, const float *dy,
                       const float *dy2, const float *x, const float *scale,
                       const float *shift, const float *mean, const float *rstd,
                       const float *gamma, int64_t N, int C) {
    if (C > MAXC_STACK / 2) {
        backward_ref_m(dx, dgamma, dbeta, dy, dy2, NULL, scale, shift, x, mean, rstd, gamma,
                       N, C);
        return;
    }
    bn_ctx k = { 0 };
    k.x = x; k.dy = dy; k.dy2 = dy2; k.mask = MASK_X; k.msc = scale; k.msh = shift;
    k.mean = mean; k.rstd = rstd; k.N = N; k.C = C;
    backward_run(&k, dx, dgamma, dbeta, gamma);
}

void bn_backward_act(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                     const float *scale, const float *shift, int act, const float *mean,
                     const float *rstd, const float *gamma, int64_t N, int C) {
    if (act == ACT_NONE) {
        bn_backward(dx, dgamma, dbeta, dy, NULL, x, mean, rstd, gamma, N, C);
        return;
    }
    if (act == ACT_RELU) {
        bn_backward_xmask(dx, dgamma, dbeta, dy, NULL, x, scale, shift, mean, rstd, gamma, N, C);
        return;
    }
    if (C > MAXC_STACK / 2 || (act != ACT_RELU6 && act != ACT_HSWISH)) {
        /* the activation's gradient as a pass of its own (dx as scratch) */
        float *g = dx;
        for (int64_t r = 0; r < N; r++)
            for (int c = 0; c < C; c++) {
                int64_t i = r * C + c;
                g[i] = dact1(dy[i], AFF(x[i], scale[c], shift[c]), act);
            }
        backward_ref_m(dx, dgamma, dbeta, g, NULL, NULL, NULL, NULL, x, mean, rstd, gamma, N, C);
        return;
    }
    bn_ctx k = { 0 };
    k.x = x; k.dy = dy; k.mask = act == ACT_RELU6 ? MASK_RELU6 : MASK_HSWISH;
    k.msc = scale; k.msh = shift; k.mean = mean; k.rstd = rstd; k.N = N; k.C = C;
    backward_run(&k, dx, dgamma, dbeta, gamma);
}

void bn_backward_res(float *dx, float *dres, float *dgamma, float *dbeta, const float *dy,
                     const float *dy2, const float *y, const float *x, const float *mean,
                     const float *rstd, const float *gamma, int64_t N, int C) {
    if (C > MAXC_STACK / 2) {
        for (int64_t i = 0; i < N * C; i++) {
            float g = dy2 ? dy[i] + dy2[i] : dy[i];
            dres[i] = y[i] > 0 ? g : 0.0f;
        }
        bn_backward_ref(dx, dgamma, dbeta, dres, NULL, x, mean, rstd, gamma, N, C);
        return;
    }
    bn_ctx k = { 0 };
    k.x = x; k.dy = dy; k.dy2 = dy2; k.yin = y; k.mask = MASK_Y; k.dres = dres;
    k.mean = mean; k.rstd = rstd; k.N = N; k.C = C;
    backward_run(&k, dx, dgamma, dbeta, gamma);
}

/* ---- reference ---- */

void bn_forward_train_ref(float *y, float *mean, float *rstd, const float *x,
                          const float *gamma, const float *beta, const float *res,
                          int relu, int64_t N, int C, float *running_mean,
                          float *running_var, float momentum, float eps) {
    for (int c = 0; c < C; c++) {
        double s = 0, v = 0;
        for (int64_t r = 0; r < N; r++) s += x[r * C + c];
        double mu = s / (double)N;
        for (int64_t r = 0; r < N; r++) { double d = x[r * C + c] - mu; v += d * d; }
        v /= (double)N;
        ref_channel_out(y, mean, rstd, x, gamma, beta, res, relu, N, C, running_mean,
                        running_var, momentum, eps, c, mu, v, (double)N);
    }
}

void bn_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                     const float *y, const float *x, const float *mean,
                     const float *rstd, const float *gamma, int64_t N, int C) {
    backward_ref_m(dx, dgamma, dbeta, dy, NULL, y, NULL, NULL, x, mean, rstd, gamma, N, C);
}

/* Mask by y > 0 if y, by AFF(x, msc, msh) > 0 if msc, else none. */
static int masked_off(const float *y, const float *msc, const float *msh, const float *x,
                      int64_t i, int c) {
    if (y) return !(y[i] > 0);
    if (msc) return !(AFF(x[i], msc[c], msh[c]) > 0);
    return 0;
}

/* g = dy (+ dy2, a float add), then masked (masked_off) as a double. */
static double grad_ref(const float *dy, const float *dy2, const float *y, const float *msc,
                       const float *msh, const float *x, int64_t i, int c) {
    if (masked_off(y, msc, msh, x, i, c)) return 0.0;
    return dy2 ? (double)(dy[i] + dy2[i]) : (double)dy[i];
}

static void backward_ref_m(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *dy2, const float *y, const float *msc,
                           const float *msh, const float *x, const float *mean,
                           const float *rstd, const float *gamma, int64_t N, int C) {
    for (int c = 0; c < C; c++) {
        double s1 = 0, s2 = 0;
        for (int64_t r = 0; r < N; r++) {
            int64_t i = r * C + c;
            double g = grad_ref(dy, dy2, y, msc, msh, x, i, c);
            s1 += g;
            s2 += g * (x[i] - mean[c]) * rstd[c];
        }
        dbeta[c] += (float)s1;
        dgamma[c] += (float)s2;
        double Nt = (double)N;
        if (sync_fn) Nt = sync_sums(&s1, &s2, 1, N);
        for (int64_t r = 0; r < N; r++) {
            int64_t i = r * C + c;
            double g = grad_ref(dy, dy2, y, msc, msh, x, i, c);
            double xh = (x[i] - mean[c]) * rstd[c];
            dx[i] = (float)(gamma[c] * rstd[c] * (g - s1 / Nt - xh * s2 / Nt));
        }
    }
}
