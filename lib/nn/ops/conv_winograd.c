/* conv_winograd.c: Winograd F(2x2, 3x3) convolution kernels
 * (conv_winograd.h), after Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks" (2015), and F(4x4, 3x3) for the
 * shapes where it saves multiplies (wg_f4; its matrices and kernels are
 * below, "F(4x4, 3x3)"; what follows describes F(2x2), whose blocks,
 * tasks and order of sums F(4x4) keeps with 36 planes for 16):
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * Tile (b, th, tw) is the 2x2 output at rows 2th.., columns 2tw..; it reads
 * the 4x4 input at rows 2th-1 .. 2th+2, columns likewise, zero outside the
 * image. The 16 transformed positions xi = 4r + s are 16 independent
 * products over the channels.
 *
 * Forward: the tiles of the whole batch, in (b, th, tw) order, are cut
 * into blocks of NP tiles, one task each. A task transforms its input
 * into V[xi][cg][t][16] (16 channels of group cg, tile t; along a tile row
 * neighbouring tiles share two input columns, transformed once), runs per
 * xi the product M[xi][t][oc] = sum_c V[xi][t][c] U[xi][c][oc] (the
 * micro-kernel holds T tiles x 16J output channels in registers, the
 * input values broadcast from V), and transforms M back into the output,
 * with the accumulate and the epilogue. V and M of a block stay under
 * FWD_FLOATS (L2); while the products run, the next block's input and
 * output rows are prefetched, so the transforms seldom wait for memory.
 * Backward-data is this forward over dout with the transposed weight.
 *
 * Weight gradient: the batch's tiles are cut into bww_slices(s) slices,
 * fixed by the shape. A task is (slice, part of the input channels, part
 * of the output channels), the parts sized by bww_split so that the
 * task's block of dU stays in L2. It transforms the slice's tiles, NP at a
 * time, into V (its input channels) and dM = A dY A^T (its output
 * channels) and adds sum_t V[xi][t][c] dM[xi][t][oc] into its block of
 * the slice's dU[xi][c][oc] (16 input x 16 output channels in registers,
 * summed over the block's tiles). The slices' sums are then added in
 * slice order and dw += G^T dU G, in double.
 *
 * In bf16 (a shape's prec PREC_BF16, where the CPU has AVX512-BF16) the
 * forward's products (so the backward-data's too) take U and V rounded to
 * bf16 and sum in fp32: on the tile unit (AMX, TDPBF16PS) where
 * gemm_bf16_amx() says the CPU has it and Linux granted it (below,
 * amx_plane: V written in bf16 by the input transform, blocks of a
 * multiple of 32 tiles), else on VDPBF16PS (WG_GEMM_BF). The weight
 * gradient's products too (bww_part_bf: V and dM rounded to bf16 in pairs
 * of tiles, the reduction over tiles, sums fp32), on AMX or else on
 * VDPBF16PS (bww_bf_xi). The transforms stay fp32. Its tasks take larger
 * blocks of dU (BWW_BF_PART_FLOATS): each task transforms its tiles for
 * its own channels, so fewer parts redo fewer transforms, and the faster
 * products leave those the larger share (on a Zen 4, 2 threads, ResNet-18
 * width 1's weight gradients: 16x16x128 20 -> 14 ms, 8x8x256 21 -> 15,
 * 4x4x512 23.5 -> 20.5, with the next block's prefetch below).
 *
 * Tasks are cut into at most WG_MAX_PARTS contiguous ranges, one per
 * thread with its own scratch; every output element is computed by one
 * task in a fixed order, so no result depends on the thread count. */
#include "nn/ops/conv_winograd.h"
#include "nn/ops/act_impl.h"

#include <string.h>

#include "util/threads.h"

#define WG_MAX_PARTS 8
#define PF_TILES 4                     /* prefetch distance, in tiles */
#define FWD_FLOATS (128 * 1024)        /* V + M of a forward block */
#define BWW_FLOATS (128 * 1024)        /* V + dM of a weight-gradient block */
#define BWW_PART_FLOATS (64 * 1024)    /* a weight-gradient task's block of dU */
#define BWW_SLICE_FLOATS (256 * 1024)  /* all slices' dU, at most */
#define BWW_BF_PART_FLOATS (256 * 1024)     /* the same in bf16 (bww_split; AMX not measured) */
#define BWW_BF_SLICE_FLOATS (1024 * 1024)
#define BWW4_PART_FLOATS (128 * 1024)       /* the same for F(4x4, 3x3) */

int wg_applies(const conv_shape *s) {
    /* (the weight gathers index it with int32) */
    return s->KH == 3 && s->KW == 3 && s->stride == 1 && s->pad == 1 && s->C % 16 == 0 &&
           s->OC % 16 == 0 && s->OH == s->H && s->OW == s->W &&
           (int64_t)s->C * s->OC * 9 < INT32_MAX;
}

/* The batch's tiles of m x m outputs (2: F(2x2), 4: F(4x4)). */
static int64_t ntiles_m(const conv_shape *s, int m) {
    return (int64_t)s->B * ((s->OH + m - 1) / m) * ((s->OW + m - 1) / m);
}

/* 1 if the forward (and so the backward-data) of s runs F(4x4, 3x3):
 * under CONV_WINOGRAD_AUTO where it takes fewer multiplies than F(2x2)
 * once the last tiles' padding is counted (36 per 4x4 tile against 16 per
 * 2x2 tile: for square images every size but 1, 2, 5 and 6, whose padding
 * eats the gain; mostly 1.78x fewer, 14x14 1.36x, 9x9 1.23x), in fp32,
 * and in bf16 on VDPBF16PS up to 256 channels in and out.
 * bf16 F(4x4) rounds its transformed values to bf16, and its transforms
 * amplify that rounding: 4-6x F(2x2)'s error (tests/bench/
 * winograd_bf16_error.py), within the bound tests/test_conv_bf16_f4.c
 * derives; 3 seeds of the demo's recipe train as well as with F(2x2)
 * (pipelines/RESULTS.md, bf16f4). Against bf16 F(2x2) (bench_conv, 1
 * thread, CPU time, Zen 4, 2026-12-07), forward and backward-data:
 * B128 32x32x64 29.9 -> 20.1 ms, 16x16x128 24.7 -> 16.7, 8x8x256 23.3 ->
 * 16.7, B256 7x7x64 3.35 -> 2.65, 4x4x128 3.27 -> 2.45, 14x14x32 3.57 ->
 * 3.48; but 4x4x512 26.5 -> 27.2: its 36 planes of U (19 MB in bf16)
 * stream from memory once per block of tiles. On AMX bf16 keeps F(2x2)
 * (F(4x4) not written there). The weight gradient follows where
 * wg_bww_f4 says. */
/* 1 if shape s runs its products in bf16. */
static int use_bf16(const conv_shape *s) {
    return s->prec == PREC_BF16 && gemm_bf16_available();
}

/* wg_f4 on the unit amx says (1: AMX, 0: VDPBF16PS; fp32 ignores it). */
static int wg_f4_on(const conv_shape *s, int amx) {
    int bf = use_bf16(s);
    if (bf && amx) return 0;
    if (s->winograd == CONV_WINOGRAD_ALWAYS_F4) return 1;
    if (s->winograd != CONV_WINOGRAD_AUTO || (bf && (s->C > 256 || s->OC > 256))) return 0;
    return 36 * ntiles_m(s, 4) < 16 * ntiles_m(s, 2);
}

static int wg_f4(const conv_shape *s) { return wg_f4_on(s, gemm_bf16_amx()); }

/* 1 if s runs F(4x4) on either unit: the sizes below hold either path, as
 * gemm_bf16_amx may change between the caller's sizing and the call. */
static int wg_f4_any(const conv_shape *s) { return wg_f4_on(s, 0) || wg_f4_on(s, 1); }

int64_t wg_packed_size(const conv_shape *s) {
    return (wg_f4_any(s) ? 36 : 16) * (int64_t)s->C * s->OC;
}

/* Forward blocking: NB output channels per micro-kernel (16J), T tiles
 * per micro-kernel, NP tiles per task (a multiple of T). */
static int fwd_nb(int OC) { return OC % 32 == 0 ? 32 : 16; }
static int fwd_rows(int NB) { return NB == 32 ? 14 : 28; }

/* Floats between the planes of NP tiles x 16 channels in V and dM, and
 * of NP tiles x NB channels in M: one cache line more than they hold, so
 * that the sixteen planes a tile's transform writes do not fall into one
 * L1 set when NP * 64 bytes is a multiple of 4 KiB. */
static int64_t gstride(int NP) { return (int64_t)NP * 16 + 16; }
static int64_t mstride(int NP, int NB) { return (int64_t)NP * NB + 16; }

/* F(4x4)'s blocks: V and M of 36 planes under FWD4_FLOATS. */
#define FWD4_FLOATS (192 * 1024)

/* Tiles per forward block off AMX: V and M of its planes (16, or 36 for
 * F(4x4)) under FWD_FLOATS (FWD4_FLOATS), a multiple of T, T at least. */
static int fwd_tiles_m(const conv_shape *s, int f4) {
    int T = fwd_rows(fwd_nb(s->OC));
    int64_t n = (f4 ? FWD4_FLOATS : FWD_FLOATS) / ((f4 ? 36 : 16) * (int64_t)(s->C + s->OC)) /
                T * T;
    if (n > 252) n = 252;
    return n < T ? T : (int)n;
}

static int fwd_tiles(const conv_shape *s) { return fwd_tiles_m(s, wg_f4(s)); }

/* Tiles per block on AMX (bf16 shapes): V + M under FWD_FLOATS as above,
 * V in bf16 (planes of 32 channels, rows of 16 words), a multiple of 32
 * tiles (the register tile's rows) and at least 32. (Measured, one
 * thread's CPU time of the forward under load, batch 256: a 4 times larger
 * budget made the 64-channel layer at 32x32 1.5 times slower and the 256-
 * and 512-channel ones no faster.) */
static int fwd_tiles_amx(const conv_shape *s) {
    int64_t n = FWD_FLOATS / (16 * ((int64_t)(s->C + 31) / 32 * 16 + s->OC)) / 32 * 32;
    return n < 32 ? 32 : (int)n;
}

/* Floats of a forward task's V and M: NP tiles, KV groups of V per
 * plane, P planes. */
static int64_t fwd_part_floats(int NP, int KV, int P, const conv_shape *s) {
    int NB = fwd_nb(s->OC);
    return P * (KV * gstride(NP) + s->OC / NB * mstride(NP, NB));
}

/* (a bf16 shape's size holds either path, as gemm_bf16_amx may change
 * between the caller's sizing and the call) */
int64_t wg_scratch(const conv_shape *s) {
    int64_t n = 0;
    for (int amx = 0; amx < 2; amx++) {
        int f4 = wg_f4_on(s, amx);
        int64_t f = fwd_part_floats(fwd_tiles_m(s, f4), s->C / 16, f4 ? 36 : 16, s);
        if (f > n) n = f;
    }
    if (s->prec == PREC_BF16) {
        int64_t a = fwd_part_floats(fwd_tiles_amx(s), (s->C + 31) / 32, 16, s);
        if (a > n) n = a;
    }
    return WG_MAX_PARTS * n;
}

/* Weight-gradient blocking: a task's block of dU is ncp x nop parts of
 * the (input, output) channel groups, at most BWW_PART_FLOATS floats; its
 * V and dM hold NP tiles (a multiple of 16) in about BWW_FLOATS; the
 * batch is cut into bww_slices slices. All fixed by the shape. */
/* 1 if the weight gradient of s runs F(4x4, 3x3): where the forward does
 * and the batch has 256 tiles or more. Its dU (36 C OC floats per slice,
 * read and written once per block of tiles, then summed) weighs more
 * against the products the fewer tiles there are: at 128 tiles
 * (4x4x512, batch 128) F(4x4) was no faster than F(2x2) (31.6 against
 * 31.7 ms, 33.8-37.9 over repeats), at 256 (4x4x128, batch 256) 1.3x
 * faster, at 512 (8x8x256, batch 128) 1.2x (bench_conv, 2 threads, Zen 4).
 * In bf16 (VDPBF16PS) F(4x4) only under CONV_WINOGRAD_ALWAYS_F4 (tests):
 * under AUTO it stays F(2x2) until its own accuracy run. Measured
 * (bench_conv, 1 thread, CPU time, 2026-12-07), F(2x2) -> F(4x4): B128
 * 32x32x64 32.7 -> 23.0 ms, B256 7x7x64 4.0 -> 3.5, 28x28x16 6.3 -> 4.7,
 * but 16x16x128 27.5 -> 35.7 and 8x8x256 30.1 -> 41.5: with 36 planes
 * bww_split cuts the channels into more parts, each transforming the
 * input or dout again; 8 times BWW_BF_PART_FLOATS gave 22.5 and 24.7 ms
 * on one thread, but then one task only, so one thread works, and that
 * limit with at least 4 tasks 40-46 and 34-52 ms. So it pays only up to
 * 64 channels (32x32x64 32.2 -> 26.8 ms the same hour), where the
 * ResNet-18 of width 0.25 has none in bf16 and width 1 has four layers:
 * about 1 % of a step, not worth 15 times F(2x2)'s error here (3 seeds
 * trained with it evaluate as well as fp32 though: pipelines/RESULTS.md,
 * bf16f4w). */
static int wg_bww_f4_on(const conv_shape *s, int amx) {
    return wg_f4_on(s, amx) && (s->winograd == CONV_WINOGRAD_ALWAYS_F4 ||
                                (!use_bf16(s) && ntiles_m(s, 4) >= 256));
}

static int wg_bww_f4(const conv_shape *s) { return wg_bww_f4_on(s, gemm_bf16_amx()); }

/* The helpers below take f4 (wg_bww_f4's answer) explicitly, so that the
 * sizes can hold either unit's path. */
static int bww_planes(int f4) { return f4 ? 36 : 16; }

/* Floats of a slice's dU. */
static int64_t bww_packed(const conv_shape *s, int f4) {
    return bww_planes(f4) * (int64_t)s->C * s->OC;
}

static void bww_split(int *ncp, int *nop, const conv_shape *s, int f4) {
    int CG = s->C / 16, OG = s->OC / 16, a = 1, b = 1;
    int64_t lim = s->prec == PREC_BF16 ? BWW_BF_PART_FLOATS
                  : f4 ? BWW4_PART_FLOATS : BWW_PART_FLOATS;
    while ((int64_t)((CG + a - 1) / a) * ((OG + b - 1) / b) * 256 * bww_planes(f4) > lim) {
        if ((CG + a - 1) / a >= (OG + b - 1) / b) a++;
        else b++;
    }
    *ncp = a;
    *nop = b;
}

static int bww_tiles(const conv_shape *s, int f4) {
    int ncp, nop;
    bww_split(&ncp, &nop, s, f4);
    int64_t cp = (s->C / 16 + ncp - 1) / ncp, op = (s->OC / 16 + nop - 1) / nop;
    int64_t n = BWW_FLOATS / (16 * bww_planes(f4) * (cp + op)) / 16 * 16;
    if (n > 512) n = 512;
    return n < 16 ? 16 : (int)n;
}

static int bww_slices(const conv_shape *s, int f4) {
    int64_t nt = ntiles_m(s, f4 ? 4 : 2);
    int64_t blocks = (nt + bww_tiles(s, f4) - 1) / bww_tiles(s, f4);
    int S = 4;
    int64_t lim = s->prec == PREC_BF16 ? BWW_BF_SLICE_FLOATS : BWW_SLICE_FLOATS;
    while (S > 1 && (S > blocks || S * bww_packed(s, f4) > lim)) S /= 2;
    return S;
}

/* On AMX (below): NP a multiple of 32, sized so that the block's bf16
 * tiles take about 1 MiB (half the L2 of the Xeon it was written on; not
 * tuned). */
#define BWW_AMX_WORDS (256 * 1024)      /* a block's A and B tiles, 4-byte words */
#define BWW_AMX_MAX 1024                /* tiles per block, at most */
/* On VDPBF16PS at most 128 tiles a block (their A and B, and the next
 * block's prefetch, stay in a Zen 4's 1 MiB L2; at 2 threads, against
 * the AMX size: 16 channels 4.6 -> 3.9 ms, 32 2.8 -> 2.5, 64 even or
 * better, 128 and 256 even; 64 and 256 tiles no better than 128). The
 * scratch is sized for AMX's, which is never smaller. */
#define BWW_BF_MAX 128

static int bww_tiles_amx(const conv_shape *s, int f4) {
    int ncp, nop;
    bww_split(&ncp, &nop, s, f4);
    int64_t cp = (s->C / 16 + ncp - 1) / ncp, op = (s->OC / 16 + nop - 1) / nop;
    int64_t n = BWW_AMX_WORDS / (16 * 256 * (cp + op)) * 32;
    if (n > BWW_AMX_MAX) n = BWW_AMX_MAX;
    return n < 32 ? 32 : (int)n;
}

/* Floats of a task's scratch in bf16 (either unit): the stage (32 tiles,
 * fp32) and the block's A and B tiles, per plane. */
static int64_t bww_amx_floats(const conv_shape *s, int f4) {
    int ncp, nop;
    bww_split(&ncp, &nop, s, f4);
    int64_t cp = (s->C / 16 + ncp - 1) / ncp, op = (s->OC / 16 + nop - 1) / nop;
    return bww_planes(f4) * (cp + op) * (gstride(32) + (int64_t)bww_tiles_amx(s, f4) / 32 * 256);
}

/* Floats of the task scratch for the path f4. */
static int64_t bww_scratch_part(const conv_shape *s, int f4) {
    int ncp, nop;
    bww_split(&ncp, &nop, s, f4);
    int64_t cp = (s->C / 16 + ncp - 1) / ncp, op = (s->OC / 16 + nop - 1) / nop;
    int64_t n = bww_planes(f4) * (cp + op) * gstride(bww_tiles(s, f4));
    if (s->prec == PREC_BF16 && bww_amx_floats(s, f4) > n) n = bww_amx_floats(s, f4);
    return n;
}

/* (a bf16 shape's sizes hold either unit's path, as for wg_scratch) */
int64_t wg_bww_size(const conv_shape *s) {
    int64_t a = bww_slices(s, wg_bww_f4_on(s, 0)) * bww_packed(s, wg_bww_f4_on(s, 0));
    int64_t b = bww_slices(s, wg_bww_f4_on(s, 1)) * bww_packed(s, wg_bww_f4_on(s, 1));
    return a > b ? a : b;
}

int64_t wg_scratch_bww(const conv_shape *s) {
    int64_t a = bww_scratch_part(s, wg_bww_f4_on(s, 0)), b = bww_scratch_part(s, wg_bww_f4_on(s, 1));
    return WG_MAX_PARTS * (a > b ? a : b);
}

/* Where Winograd pays. Measured with bench_conv (2 threads, this 2-core
 * Zen 4, medians of interleaved rounds): every part of every qualifying
 * layer of the CIFAR ResNet-18 at widths 0.25 and 1 (32x32 down to 4x4, 16
 * to 512 channels, batch 256 and 128) runs faster than on the direct
 * kernels: 1.43-1.85x at width 0.25, 1.25-2x at width 1 (measured while
 * other jobs ran). What decides is how much of the last tiles is
 * padding: a tile costs 16 multiplies per channel pair, the direct method
 * 9 per output pixel, and at 64 channels 3x3 and 2x2 images still gain
 * (16 * 4 per 9 pixels, 16 per 4) while a 1x8 row breaks even (16 * 4 per
 * 8) and a 1x1 image loses 1.5x (16 per 1). So: Winograd for all three
 * parts where the tiles hold fewer than 8 multiplies per pixel. */
int conv_bf16_prec(const conv_shape *s) {
    return wg_applies(s) && (s->C < 32 || s->OC < 32) ? PREC_FP32 : PREC_BF16;
}

int wg_preferred(const conv_shape *s) {
    int64_t tiles = (int64_t)((s->OH + 1) / 2) * ((s->OW + 1) / 2);
    return wg_applies(s) && 2 * tiles < (int64_t)s->OH * s->OW;
}

#ifdef __AVX512F__
#include <immintrin.h>

int wg_available(void) { return 1; }

#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps

/* u[4r + s] = (G g G^T)[r][s] for the 3x3 kernels g[3a + b], eight at a
 * time in double: G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. The
 * halvings are exact and the sums of a few floats nearly always exact in
 * double, so rounding the result to float rounds once. */
static inline __attribute__((always_inline)) void g_transform(__m512d *u, const __m512d *g) {
    __m512d h = _mm512_set1_pd(0.5), t[4][3];
    for (int b = 0; b < 3; b++) {
        __m512d ac = _mm512_add_pd(g[b], g[6 + b]);
        t[0][b] = g[b];
        t[1][b] = _mm512_mul_pd(h, _mm512_add_pd(ac, g[3 + b]));
        t[2][b] = _mm512_mul_pd(h, _mm512_sub_pd(ac, g[3 + b]));
        t[3][b] = g[6 + b];
    }
    for (int r = 0; r < 4; r++) {
        __m512d ac = _mm512_add_pd(t[r][0], t[r][2]);
        u[4 * r] = t[r][0];
        u[4 * r + 1] = _mm512_mul_pd(h, _mm512_add_pd(ac, t[r][1]));
        u[4 * r + 2] = _mm512_mul_pd(h, _mm512_sub_pd(ac, t[r][1]));
        u[4 * r + 3] = t[r][2];
    }
}

/* u[6r + s] = (G g G^T)[r][s], eight kernels at a time in double (G's
 * sixths are not exact, so the result rounds twice: to double, then once
 * to float, well within the forward's tolerance). */
static inline __attribute__((always_inline)) void g6_row(__m512d *u, __m512d a, __m512d b,
                                                         __m512d c) {
    __m512d q = _mm512_set1_pd(0.25), s6 = _mm512_set1_pd(1.0 / 6);
    __m512d s12 = _mm512_set1_pd(1.0 / 12), s24 = _mm512_set1_pd(1.0 / 24);
    __m512d ac = _mm512_add_pd(a, c);
    __m512d e = _mm512_fmadd_pd(s24, a, _mm512_mul_pd(s6, c));
    u[0] = _mm512_mul_pd(q, a);
    u[1] = _mm512_mul_pd(_mm512_set1_pd(-1.0 / 6), _mm512_add_pd(ac, b));
    u[2] = _mm512_mul_pd(_mm512_set1_pd(-1.0 / 6), _mm512_sub_pd(ac, b));
    u[3] = _mm512_fmadd_pd(s12, b, e);
    u[4] = _mm512_fnmadd_pd(s12, b, e);
    u[5] = c;
}

/* u[xi][ob][ci][NB] for a convolution of CI inputs and CO outputs whose
 * kernel (co, ci) is w[co][ci] (flip 0) or w[ci][co] rotated by 180
 * degrees (flip 1: the transposed convolution of w [CI, CO, 3, 3]);
 * eight output channels at a time, gathered; F(2x2)'s 16 positions, or
 * F(4x4)'s 36 where f4. */
typedef struct { float *u; const float *w; int CI, CO, flip, f4; } pack_ctx;

/* pack's blocks of NB outputs [b0, b1), each input's NB outputs together
 * (whole cache lines of u) */
static void pack_range(void *vctx, int64_t b0, int64_t b1, int tid) {
    const pack_ctx *k = vctx;
    float *u = k->u;
    const float *w = k->w;
    int CI = k->CI, CO = k->CO, flip = k->flip;
    int NB = fwd_nb(CO), NOB = CO / NB;
    int64_t xs = (int64_t)NOB * CI * NB;
    __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    (void)tid;
    for (int64_t ob = b0; ob < b1; ob++)
    for (int ci = 0; ci < CI; ci++)
        for (int co0 = (int)ob * NB; co0 < (ob + 1) * NB; co0 += 8) {
            /* tap k of (co0 + lane, ci) at w + i + step * lane (+ k, or - k flipped) */
            int i = flip ? (ci * CO + co0) * 9 + 8 : (co0 * CI + ci) * 9;
            __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(i),
                                           _mm256_mullo_epi32(lane, _mm256_set1_epi32(flip ? 9 : 9 * CI)));
            __m512d g[9], v[16];
            for (int k = 0; k < 9; k++)
                g[k] = _mm512_cvtps_pd(_mm256_i32gather_ps(
                    w, _mm256_add_epi32(idx, _mm256_set1_epi32(flip ? -k : k)), 4));
            float *d = u + ((int64_t)(co0 / NB) * CI + ci) * NB + co0 % NB;
            if (!k->f4) {
                g_transform(v, g);
                for (int xi = 0; xi < 16; xi++)
                    _mm256_storeu_ps(d + xi * xs, _mm512_cvtpd_ps(v[xi]));
                continue;
            }
            __m512d t[6][3];
            for (int b = 0; b < 3; b++) {     /* G g: column b */
                g6_row(v, g[b], g[3 + b], g[6 + b]);
                for (int r = 0; r < 6; r++) t[r][b] = v[r];
            }
            for (int r = 0; r < 6; r++) {     /* (G g) G^T: row r */
                g6_row(v, t[r][0], t[r][1], t[r][2]);
                for (int c = 0; c < 6; c++)
                    _mm256_storeu_ps(d + (6 * r + c) * xs, _mm512_cvtpd_ps(v[c]));
            }
        }
}

/* Each element from its own weights: the same bits at any thread count. */
static void pack(float *u, const float *w, int CI, int CO, int flip, int f4) {
    pack_ctx k = { u, w, CI, CO, flip, f4 };
    ssl_parallel_for(CO / fwd_nb(CO), 1, pack_range, &k);
}


/* The tiles of a block, q0 .. q0+nt-1, walked as runs along one tile row:
 * image b, tile row th, tiles tw0 .. tw0+n-1, the first the block's t-th. */
typedef struct { int b, th, tw0, n, t; } tile_run;

static int next_run_m(tile_run *r, const conv_shape *s, int64_t q0, int nt, int m) {
    int64_t q = q0 + r->t + r->n;          /* after the previous run */
    if (q >= q0 + nt) return 0;
    int TH = (s->OH + m - 1) / m, TW = (s->OW + m - 1) / m;
    int64_t per = (int64_t)TH * TW, rem = q % per;
    r->b = (int)(q / per);
    r->th = (int)(rem / TW);
    r->tw0 = (int)(rem % TW);
    r->t = (int)(q - q0);
    r->n = TW - r->tw0 < q0 + nt - q ? TW - r->tw0 : (int)(q0 + nt - q);
    return 1;
}

/* The runs of F(2x2, 3x3)'s tiles (m = 2: 2x2 outputs); m = 4 for
 * F(4x4, 3x3)'s. */
static inline int next_run(tile_run *r, const conv_shape *s, int64_t q0, int nt) {
    return next_run_m(r, s, q0, nt, 2);
}

/* Stores d[16] at v + xi * xs: four bases and two strides, so that the
 * compiler needs few registers for the sixteen addresses. */
static inline __attribute__((always_inline)) void store16(float *v, int64_t xs,
                                                          const __m512 *d) {
    float *v4 = v + 4 * xs, *v8 = v4 + 4 * xs, *v12 = v8 + 4 * xs;
    int64_t x3 = 3 * xs;
    _mm512_storeu_ps(v, d[0]);    _mm512_storeu_ps(v + xs, d[1]);
    _mm512_storeu_ps(v + 2 * xs, d[2]);  _mm512_storeu_ps(v + x3, d[3]);
    _mm512_storeu_ps(v4, d[4]);   _mm512_storeu_ps(v4 + xs, d[5]);
    _mm512_storeu_ps(v4 + 2 * xs, d[6]); _mm512_storeu_ps(v4 + x3, d[7]);
    _mm512_storeu_ps(v8, d[8]);   _mm512_storeu_ps(v8 + xs, d[9]);
    _mm512_storeu_ps(v8 + 2 * xs, d[10]); _mm512_storeu_ps(v8 + x3, d[11]);
    _mm512_storeu_ps(v12, d[12]); _mm512_storeu_ps(v12 + xs, d[13]);
    _mm512_storeu_ps(v12 + 2 * xs, d[14]); _mm512_storeu_ps(v12 + x3, d[15]);
}

/* The input transform xf (conv_in_xf) of one group of 16 channels:
 * act(fma(x, sc, sh)), as bn_apply_affine computes it; act < 0: none. */
typedef struct { __m512 sc, sh; int act; } xf16;

static inline __attribute__((always_inline)) __m512 xf_apply(__m512 v, const xf16 *f) {
    v = _mm512_fmadd_ps(v, f->sc, f->sh);
    return f->act == ACT_RELU ? _mm512_max_ps(v, _mm512_setzero_ps())
           : f->act ? act16(v, f->act) : v;
}

/* xf's group of channels c0 .. c0+15 (act -1 where xf is NULL). */
static inline xf16 xf_group(const conv_in_xf *xf, int c0) {
    xf16 f = { _mm512_setzero_ps(), _mm512_setzero_ps(), -1 };
    if (xf) {
        f.sc = _mm512_loadu_ps(xf->scale + c0);
        f.sh = _mm512_loadu_ps(xf->shift + c0);
        f.act = xf->act;
    }
    return f;
}

/* c[4] = B^T times input column iw of a tile row (rows xr[i], lanes
 * masked off by mr[i] where row i is outside the image; zero where the
 * column is), the input read through f where f->act >= 0 (the padding
 * stays zero). */
static inline __attribute__((always_inline)) void
col_bt(__m512 *c, const float *const *xr, const __mmask16 *mr, int iw, int W, int C,
       const xf16 *f) {
    __m512 d0 = _mm512_setzero_ps(), d1 = d0, d2 = d0, d3 = d0;
    if (iw >= 0 && iw < W) {
        int64_t o = (int64_t)iw * C;
        d0 = _mm512_maskz_loadu_ps(mr[0], xr[0] + o);
        d1 = _mm512_maskz_loadu_ps(mr[1], xr[1] + o);
        d2 = _mm512_maskz_loadu_ps(mr[2], xr[2] + o);
        d3 = _mm512_maskz_loadu_ps(mr[3], xr[3] + o);
        if (f->act >= 0) {
            d0 = _mm512_maskz_mov_ps(mr[0], xf_apply(d0, f));
            d1 = _mm512_maskz_mov_ps(mr[1], xf_apply(d1, f));
            d2 = _mm512_maskz_mov_ps(mr[2], xf_apply(d2, f));
            d3 = _mm512_maskz_mov_ps(mr[3], xf_apply(d3, f));
        }
    }
    c[0] = SUB(d0, d2);
    c[1] = ADD(d1, d2);
    c[2] = SUB(d2, d1);
    c[3] = SUB(d1, d3);
}

/* Tiles q0 .. q0+nt-1 of x [B, H, W, C] (read through xf unless NULL),
 * channel groups cg0 .. cg0+ncg-1,
 * into V (tile t of group cg, counted from cg0, and position xi at V +
 * PLANE + xi * XS + 16 t, written by STORE(v, xs, d[16]): gs and ncg in
 * scope). Along a tile row, neighbouring tiles share two input columns,
 * so each column's B^T d is computed once. Rows and columns outside the
 * image read as zero (masked loads do not touch memory for masked-off
 * lanes). A macro, as the bf16 store needs AVX512-BF16's target. */
#define WG_IN_TILES(NAME, XS, PLANE, STORE)                                              \
static void NAME(float *V, int64_t gs, const float *x, const conv_in_xf *xf,            \
                 const conv_shape *s, int cg0, int ncg, int64_t q0, int nt) {            \
    int C = s->C, H = s->H, W = s->W;                                                    \
    int64_t xs = (XS);                                                                   \
    tile_run r = { 0 };                                                                  \
    while (next_run(&r, s, q0, nt)) {                                                    \
        const float *xr[4];                                                              \
        __mmask16 mr[4];                                                                 \
        for (int i = 0; i < 4; i++) {                                                    \
            int h = 2 * r.th - 1 + i, in = h >= 0 && h < H;                              \
            mr[i] = in ? 0xffff : 0;                                                     \
            xr[i] = in ? x + ((int64_t)r.b * H + h) * W * C + 16 * cg0 : x;              \
        }                                                                                \
        for (int cg = 0; cg < ncg; cg++) {                                               \
            const float *xc[4] = { xr[0] + 16 * cg, xr[1] + 16 * cg, xr[2] + 16 * cg,    \
                                   xr[3] + 16 * cg };                                    \
            float *vt = V + (PLANE) + (int64_t)r.t * 16;                                 \
            int iw = 2 * r.tw0 - 1;                                                      \
            __m512 c0[4], c1[4], d[16];                                                  \
            xf16 f = xf_group(xf, 16 * (cg0 + cg));                                      \
            col_bt(c0, xc, mr, iw, W, C, &f);                                            \
            col_bt(c1, xc, mr, iw + 1, W, C, &f);                                        \
            for (int k = 0; k < r.n; k++, vt += 16, iw += 2) {                           \
                __m512 c2[4], c3[4];                                                     \
                /* rows 2 and 3 are new to this tile row: fetch ahead,                   \
                 * into the next rows past the right edge */                             \
                __builtin_prefetch(xc[2] + (int64_t)(iw + 2 + 2 * PF_TILES) * C, 0, 3);  \
                __builtin_prefetch(xc[3] + (int64_t)(iw + 2 + 2 * PF_TILES) * C, 0, 3);  \
                __builtin_prefetch(xc[2] + (int64_t)(iw + 3 + 2 * PF_TILES) * C, 0, 3);  \
                __builtin_prefetch(xc[3] + (int64_t)(iw + 3 + 2 * PF_TILES) * C, 0, 3);  \
                col_bt(c2, xc, mr, iw + 2, W, C, &f);                                    \
                col_bt(c3, xc, mr, iw + 3, W, C, &f);                                    \
                _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {                    \
                    d[4 * i] = SUB(c0[i], c2[i]);                                        \
                    d[4 * i + 1] = ADD(c1[i], c2[i]);                                    \
                    d[4 * i + 2] = SUB(c2[i], c1[i]);                                    \
                    d[4 * i + 3] = SUB(c1[i], c3[i]);                                    \
                    c0[i] = c2[i];                                                       \
                    c1[i] = c3[i];                                                       \
                }                                                                        \
                STORE(vt, xs, d);                                                        \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
}

/* fp32: V[xi][cg][t][16], groups gs floats apart. */
WG_IN_TILES(in_tiles, ncg * gs, cg * gs, store16)

/* in_tiles with NP tiles per group, and tiles nt .. ntp-1 zero. */
static void in_transform(float *V, int NP, const float *x, const conv_in_xf *xf,
                         const conv_shape *s, int cg0, int ncg, int64_t q0, int nt, int ntp) {
    int64_t gs = gstride(NP), xs = ncg * gs;
    in_tiles(V, gs, x, xf, s, cg0, ncg, q0, nt);
    for (int xi = 0; xi < 16; xi++)
        for (int cg = 0; cg < ncg; cg++)
            for (int t = nt; t < ntp; t++)
                _mm512_storeu_ps(V + xi * xs + cg * gs + (int64_t)t * 16, _mm512_setzero_ps());
}

/* Prefetching the next block while the products run: the rows of x
 * [B, H, W, C] (H, W of shape s) that tiles q0 .. q0+nt-1 read (halo 1:
 * the input rows 2th-1 .. 2th+2) or write (halo 0: rows 2th, 2th+1) are
 * one contiguous span, fetched a few cache lines per call of pf_step. */
typedef struct { const char *p, *end; int write; } pf_span;

static void pf_init_m(pf_span *f, const float *x, const conv_shape *s, int C, int halo,
                      int64_t q0, int nt, int write, int m) {
    int TH = (s->OH + m - 1) / m, TW = (s->OW + m - 1) / m;
    int64_t per = (int64_t)TH * TW, qa = q0, qe = q0 + nt - 1;
    int64_t ra = qa / per * s->H + m * (qa % per / TW) - halo;
    int64_t re = qe / per * s->H + m * (qe % per / TW) + m + halo;   /* past the last row */
    int64_t lo = ra < 0 ? 0 : ra, hi = re > (int64_t)s->B * s->H ? (int64_t)s->B * s->H : re;
    f->p = (const char *)(x + lo * s->W * C);
    f->end = (const char *)(x + hi * s->W * C);
    f->write = write;
}

static inline void pf_step(pf_span *f, int lines) {
    for (int i = 0; i < lines && f->p < f->end; i++, f->p += 64) {
        if (f->write) __builtin_prefetch(f->p, 1, 2);
        else __builtin_prefetch(f->p, 0, 2);
    }
}

/* ---- forward ----
 * V[xi][cg][t][16] as above; M[xi][ob][t][NB], planes mstride apart. */

/* M[t][NB] (T tiles, NB = 16J channels) = sum over CG groups of 16
 * channels of V (tile t, channel k at v[16 t + k], broadcast) times
 * U[16 cg + k][NB]; vs: floats between V's groups. */
#define WG_GEMM(T, J)                                                                    \
static void gemm_##T##_##J(float *m, const float *v, int64_t vs,                        \
                           const float *u, int CG) {                                     \
    __m512 acc[T][J];                                                                    \
    _Pragma("GCC unroll 28") for (int t = 0; t < T; t++)                                \
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                            \
            acc[t][j] = _mm512_setzero_ps();                                             \
    for (int cg = 0; cg < CG; cg++, v += vs, u += 16 * 16 * J) {                        \
        _Pragma("GCC unroll 16") for (int k = 0; k < 16; k++) {                         \
            __m512 w[J];                                                                 \
            _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                         \
                w[j] = _mm512_loadu_ps(u + k * 16 * J + 16 * j);                         \
            _Pragma("GCC unroll 28") for (int t = 0; t < T; t++) {                      \
                __m512 b = _mm512_set1_ps(v[t * 16 + k]);                                \
                _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                     \
                    acc[t][j] = _mm512_fmadd_ps(b, w[j], acc[t][j]);                     \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    _Pragma("GCC unroll 28") for (int t = 0; t < T; t++)                                \
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                            \
            _mm512_storeu_ps(m + t * 16 * J + 16 * j, acc[t][j]);                        \
}
WG_GEMM(28, 1)
WG_GEMM(14, 2)

/* ---- bf16 (s->prec PREC_BF16, where gemm_bf16_available()) ----
 * The same product on AVX512-BF16: V's 16 channels of a tile and U's rows
 * are rounded to bf16 and paired (channel 2p in a 32-bit word's low half,
 * 2p + 1 in its high half), so one VDPBF16PS adds two channels' products
 * into 16 fp32 accumulators. V is converted in place after in_transform
 * (tile t's 8 words in the first half of its 16 floats); U in place after
 * pack (block (xi, ob)'s C/2 x NB words in the first half of its C x NB
 * floats). The transforms and the sums stay fp32. Compiled for
 * AVX512-BF16 whatever the Makefile's -march, run only where the CPU has
 * it. */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#include "nn/ops/amx_impl.h"

/* Planes [nplanes] of V, gs floats apart: tiles [0, ntp) to bf16 pairs. */
static void v_to_bf16(float *V, int64_t nplanes, int64_t gs, int ntp) {
    for (int64_t p = 0; p < nplanes; p++) {
        float *v = V + p * gs;
        for (int t = 0; t < ntp; t++, v += 16)
            _mm256_storeu_si256((__m256i *)v, (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(v)));
    }
}

/* The words of _mm512_cvtne2ps_pbh(r1, r0) that interleave r0 and r1:
 * word 2j from r0[j], 2j + 1 from r1[j]. */
static const uint16_t bf_inter[32] = { 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                       15, 31 };

/* u[xi][ob][ci][NB] (pack's, CI inputs, CO outputs) to bf16 pairs of ci,
 * blocks (xi, ob) [b0, b1). */
static void bf16_range(void *vctx, int64_t b0, int64_t b1, int tid) {
    const pack_ctx *k = vctx;
    float *u = k->u;
    int CI = k->CI, NB = fwd_nb(k->CO);
    __m512i idx = _mm512_loadu_si512(bf_inter);
    (void)tid;
    for (int64_t b = b0; b < b1; b++) {
        float *blk = u + b * CI * NB;
        /* word p*NB + j is written after rows 2p and 2p + 1 at j were read,
         * and lies before every float not yet read */
        for (int p = 0; p < CI / 2; p++)
            for (int j = 0; j < NB; j += 16) {
                __m512 r0 = _mm512_loadu_ps(blk + (int64_t)2 * p * NB + j);
                __m512 r1 = _mm512_loadu_ps(blk + (int64_t)(2 * p + 1) * NB + j);
                __m512i w = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(r1, r0));
                _mm512_storeu_si512(blk + (int64_t)p * NB + j, w);
            }
        /* AMX's B tiles take 16 pairs: rows up to a multiple of 16 zero
         * (CI / 2 .. 16 ceil(CI / 32) <= CI: floats already read) */
        memset(blk + (int64_t)CI / 2 * NB, 0, sizeof(float) * NB * (size_t)((CI + 31) / 32 * 16 - CI / 2));
    }
}

static void u_to_bf16(float *u, int CI, int CO, int planes) {
    pack_ctx k = { u, NULL, CI, CO, 0, 0 };
    ssl_parallel_for(planes * (int64_t)(CO / fwd_nb(CO)), 1, bf16_range, &k);
}

/* M[t][NB] = sum over CG groups of 16 channels (8 pairs) of V's pair
 * words (tile t, pair k at v[16 t + k]) times U's pair rows. */
#define WG_GEMM_BF(T, J)                                                                 \
static void gemm_bf_##T##_##J(float *m, const float *v, int64_t vs,                     \
                              const float *u, int CG) {                                  \
    __m512 acc[T][J];                                                                    \
    _Pragma("GCC unroll 28") for (int t = 0; t < T; t++)                                \
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                            \
            acc[t][j] = _mm512_setzero_ps();                                             \
    for (int cg = 0; cg < CG; cg++, v += vs, u += 8 * 16 * J) {                         \
        _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {                           \
            __m512bh w[J];                                                               \
            _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                         \
                w[j] = (__m512bh)_mm512_loadu_ps(u + k * 16 * J + 16 * j);               \
            _Pragma("GCC unroll 28") for (int t = 0; t < T; t++) {                      \
                __m512bh b = (__m512bh)_mm512_set1_ps(v[t * 16 + k]);                    \
                _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                     \
                    acc[t][j] = _mm512_dpbf16_ps(acc[t][j], b, w[j]);                   \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    _Pragma("GCC unroll 28") for (int t = 0; t < T; t++)                                \
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)                            \
            _mm512_storeu_ps(m + t * 16 * J + 16 * j, acc[t][j]);                        \
}
WG_GEMM_BF(28, 1)
WG_GEMM_BF(14, 2)

/* ---- AMX (use_amx: where gemm_bf16_amx()) ----
 * The same products on the tile unit (TDPBF16PS, as gemm_bf16.c's AMX
 * path): an A tile is 16 tiles' rows of 16 pair words (32 channels), a B
 * tile 16 of U's pair rows (the same 32 channels) by 16 output channels,
 * both bf16 as above, sums fp32: per element, per pair, the two products
 * in channel order, each pair's sum rounded as VDPBF16PS rounds it, one
 * chain over all C from a zero tile. in_transform_amx writes V in bf16
 * directly, as planes kb of rows of 16 words (groups 2kb and 2kb + 1 of
 * 16 channels; a missing last group zero); U is u_to_bf16's: block (xi,
 * ob)'s rows 16 kb .. 16 kb + 15 are B tile kb, NB words apart (rows past
 * C / 2 zero). The register tile is 32 tiles by NB output channels: C
 * tmm0-3, A tmm4-5, B tmm6-7; C tiles go straight into M. A block holds
 * fwd_tiles_amx(s) tiles, a multiple of 32, more than the VDPBF16PS and
 * fp32 blocks: bf16 V is half the size, and a block reads all of U (8
 * MiB in bf16 at 512 channels), which the tile unit otherwise waits
 * for. */

/* d[16] to bf16 at v + xi * xs (16 values, 8 words each). */
static inline __attribute__((always_inline)) void store16_bf(float *v, int64_t xs,
                                                             const __m512 *d) {
    _Pragma("GCC unroll 16") for (int xi = 0; xi < 16; xi++)
        _mm256_storeu_si256((__m256i *)(v + xi * xs), (__m256i)_mm512_cvtneps_pbh(d[xi]));
}

/* V[xi][kb][t][16 words], planes of rows gs words apart: group cg's 16
 * channels in the words 8 (cg % 2) .. of plane cg / 2. */
WG_IN_TILES(in_tiles_amx, (ncg + 1) / 2 * gs, cg / 2 * gs + cg % 2 * 8, store16_bf)

/* in_tiles_amx over all C / 16 groups, gs = gstride(NP); with an odd
 * count the last plane's second halves zero; rows nt .. nr-1 (nr <= NP)
 * zero. */
static void in_transform_amx(float *V, int NP, const float *x, const conv_in_xf *xf,
                             const conv_shape *s, int64_t q0, int nt, int nr) {
    int CG = s->C / 16, KB = (CG + 1) / 2;
    int64_t gs = gstride(NP);
    in_tiles_amx(V, gs, x, xf, s, 0, CG, q0, nt);
    for (int xi = 0; xi < 16; xi++) {
        float *v = V + xi * KB * gs;
        if (CG % 2)
            for (int t = 0; t < nt; t++)
                _mm256_storeu_ps(v + (KB - 1) * gs + 16 * t + 8, _mm256_setzero_ps());
        for (int kb = 0; kb < KB; kb++)
            for (int t = nt; t < nr; t++)
                _mm512_storeu_ps(v + kb * gs + 16 * t, _mm512_setzero_ps());
    }
}

/* m[t][NB] (NB 16 or 32) for tiles [0, nr) (a multiple of 16) = sum over
 * KB blocks of 32 channels of V's rows (plane kb at v + kb kbs, tile t at
 * 16 t) times U's (block kb at u + 16 kb NB). */
__attribute__((target("amx-tile,amx-bf16")))
static void amx_plane(float *m, int NB, int nr, const float *v, int64_t kbs, const float *u,
                      int KB) {
    const int64_t us = (int64_t)NB * sizeof(float);
    for (int t0 = 0; t0 < nr; t0 += 32) {
        int two = t0 + 16 < nr, wide = NB == 32;
        const float *a0 = v + 16 * (int64_t)t0, *a1 = a0 + 256;
        float *m0 = m + (int64_t)t0 * NB, *m1 = m0 + 16 * NB;
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        if (two && wide) {
            for (int kb = 0; kb < KB; kb++) {
                const float *b = u + (int64_t)kb * 16 * NB;
                _tile_loadd(4, a0 + kb * kbs, 64);
                _tile_loadd(6, b, us);
                _tile_loadd(7, b + 16, us);
                _tile_dpbf16ps(0, 4, 6);
                _tile_loadd(5, a1 + kb * kbs, 64);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
        } else {
            for (int kb = 0; kb < KB; kb++) {
                const float *b = u + (int64_t)kb * 16 * NB;
                _tile_loadd(4, a0 + kb * kbs, 64);
                _tile_loadd(6, b, us);
                _tile_dpbf16ps(0, 4, 6);
                if (wide) {
                    _tile_loadd(7, b + 16, us);
                    _tile_dpbf16ps(1, 4, 7);
                }
                if (two) {
                    _tile_loadd(5, a1 + kb * kbs, 64);
                    _tile_dpbf16ps(2, 5, 6);
                }
            }
        }
        _tile_stored(0, m0, us);
        if (wide) _tile_stored(1, m0 + 16, us);
        if (two) _tile_stored(2, m1, us);
        if (two && wide) _tile_stored(3, m1 + 16, us);
    }
}
#pragma GCC pop_options

/* 1 if shape s runs its products on AMX: bf16 and the tile unit granted
 * (gemm_bf16_amx). */
static int use_amx(const conv_shape *s) { return use_bf16(s) && gemm_bf16_amx(); }

int wg_amx(const conv_shape *s) { return wg_applies(s) && use_amx(s); }

void wg_pack(float *u, const float *w, const conv_shape *s) {
    int f4 = wg_f4(s);
    pack(u, w, s->C, s->OC, 0, f4);
    if (use_bf16(s)) u_to_bf16(u, s->C, s->OC, f4 ? 36 : 16);
}

void wg_pack_bwd_data(float *u, const float *w, const conv_shape *s) {
    int f4 = wg_f4(s);
    pack(u, w, s->OC, s->C, 1, f4);
    if (use_bf16(s)) u_to_bf16(u, s->OC, s->C, f4 ? 36 : 16);
}

/* y[4] (the 2x2 output, row-major) = A^T M A for M[xi] at m0 + xi * xs. */
static inline __attribute__((always_inline)) void at_m_a(__m512 *y, const float *m0,
                                                         int64_t xs) {
    const float *m4 = m0 + 4 * xs, *m8 = m4 + 4 * xs, *m12 = m8 + 4 * xs;
    int64_t x3 = 3 * xs;
    __m512 r0[4], r1[4];
    /* rows of A^T M: r0 = M0 + M1 + M2, r1 = M1 - M2 - M3 */
#define WG_COL(k, o)                                                                     \
    {                                                                                    \
        __m512 a = _mm512_loadu_ps(m0 + (o)), b = _mm512_loadu_ps(m4 + (o));           \
        __m512 c = _mm512_loadu_ps(m8 + (o)), d = _mm512_loadu_ps(m12 + (o));          \
        r0[k] = ADD(ADD(a, b), c);                                                       \
        r1[k] = SUB(SUB(b, c), d);                                                       \
    }
    WG_COL(0, 0)
    WG_COL(1, xs)
    WG_COL(2, 2 * xs)
    WG_COL(3, x3)
#undef WG_COL
    y[0] = ADD(ADD(r0[0], r0[1]), r0[2]);
    y[1] = SUB(SUB(r0[1], r0[2]), r0[3]);
    y[2] = ADD(ADD(r1[0], r1[1]), r1[2]);
    y[3] = SUB(SUB(r1[1], r1[2]), r1[3]);
}

/* One output vector: the accumulate and the epilogue in cd_forward's
 * order, then the store. */
static inline __attribute__((always_inline)) void
out_store(float *o, const float *res, __m512 v, int accumulate, const cd_epilogue *ep,
          __m512 sc, __m512 sh) {
    if (accumulate) v = ADD(_mm512_loadu_ps(o), v);
    if (ep) {
        v = _mm512_fmadd_ps(v, sc, sh);
        if (ep->res) v = ADD(v, _mm512_loadu_ps(res));
        if (ep->act == ACT_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps());
        else if (ep->act) v = act16(v, ep->act);
    }
    _mm512_storeu_ps(o, v);
}

typedef struct {
    const conv_shape *s;
    const float *in, *u, *dout;
    float *out, *du, *dw, *scratch;
    const cd_epilogue *ep;
    const conv_in_xf *xf;     /* the input read through it (NULL: as it is) */
    int accumulate, NP, nslices, ncp, nop, amx, f4;   /* f4: F(4x4) */
    int64_t ntiles, ntasks, part_n;
    int nparts;
} wg_ctx;

/* ---- F(4x4, 3x3): the forward and backward-data (wg_f4; in bf16 V is
 * rounded to bf16 pairs after the transform, as F(2x2)'s) ----
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
 *          0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 *          1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * (Lavin & Gray's points 0, +-1, +-2.) Tile (b, th, tw) is the 4x4 output
 * at rows 4th.., columns 4tw..; it reads the 6x6 input at rows 4th-1 ..
 * 4th+4, columns likewise. The 36 positions xi = 6r + s are 36 products
 * over the channels, on F(2x2)'s micro-kernels; the blocks, tasks,
 * prefetch and the order of every sum are F(2x2)'s, so the results do not
 * depend on the thread count either. */

/* o[6] = B^T d for d[6]. */
static inline __attribute__((always_inline)) void bt6(__m512 *o, const __m512 *d) {
    __m512 four = _mm512_set1_ps(4), five = _mm512_set1_ps(5), two = _mm512_set1_ps(2);
    __m512 a = _mm512_fnmadd_ps(four, d[2], d[4]);       /* d4 - 4 d2 */
    __m512 b = _mm512_fnmadd_ps(four, d[1], d[3]);       /* d3 - 4 d1 */
    __m512 e = SUB(d[4], d[2]);
    __m512 g = _mm512_mul_ps(two, SUB(d[3], d[1]));
    o[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
    o[1] = ADD(a, b);
    o[2] = SUB(a, b);
    o[3] = ADD(e, g);
    o[4] = SUB(e, g);
    o[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

/* c[6] = B^T times input column iw of a tile row, as col_bt. */
static inline __attribute__((always_inline)) void
col_bt6(__m512 *c, const float *const *xr, const __mmask16 *mr, int iw, int W, int C,
        const xf16 *f) {
    __m512 d[6];
    if (iw >= 0 && iw < W) {
        int64_t o = (int64_t)iw * C;
        _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
            d[i] = _mm512_maskz_loadu_ps(mr[i], xr[i] + o);
            if (f->act >= 0) d[i] = _mm512_maskz_mov_ps(mr[i], xf_apply(d[i], f));
        }
    } else {
        _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) d[i] = _mm512_setzero_ps();
    }
    bt6(c, d);
}

/* Tiles q0 .. q0+nt-1 of x, channel groups cg0 .. cg0+ncg-1, into
 * V[xi][cg][t][16] (cg counted from cg0, groups gs floats apart, 36
 * planes), tiles nt .. ntp-1 zero; as in_tiles: neighbouring tiles of a
 * tile row share two input columns, transformed once. */
static void in4_transform(float *V, int NP, const float *x, const conv_in_xf *xf,
                          const conv_shape *s, int cg0, int ncg, int64_t q0, int nt, int ntp) {
    int C = s->C, H = s->H, W = s->W;
    int64_t gs = gstride(NP), xs = ncg * gs;
    tile_run r = { 0 };
    while (next_run_m(&r, s, q0, nt, 4)) {
        const float *xr[6];
        __mmask16 mr[6];
        for (int i = 0; i < 6; i++) {
            int h = 4 * r.th - 1 + i, in = h >= 0 && h < H;
            mr[i] = in ? 0xffff : 0;
            xr[i] = in ? x + ((int64_t)r.b * H + h) * W * C + 16 * cg0 : x;
        }
        for (int cg = 0; cg < ncg; cg++) {
            const float *xc[6];
            for (int i = 0; i < 6; i++) xc[i] = xr[i] + 16 * cg;
            float *vt = V + cg * gs + (int64_t)r.t * 16;
            int iw = 4 * r.tw0 - 1;
            __m512 c[6][6];                       /* c[column][row of B^T d] */
            xf16 f = xf_group(xf, 16 * (cg0 + cg));
            col_bt6(c[0], xc, mr, iw, W, C, &f);
            col_bt6(c[1], xc, mr, iw + 1, W, C, &f);
            for (int k = 0; k < r.n; k++, vt += 16, iw += 4) {
                _Pragma("GCC unroll 4") for (int i = 2; i < 6; i++)
                    __builtin_prefetch(xc[i] + (int64_t)(iw + 2 + 4 * PF_TILES) * C, 0, 3);
                _Pragma("GCC unroll 4") for (int j = 2; j < 6; j++)
                    col_bt6(c[j], xc, mr, iw + j, W, C, &f);
                _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
                    __m512 e[6] = { c[0][i], c[1][i], c[2][i], c[3][i], c[4][i], c[5][i] }, d[6];
                    bt6(d, e);
                    float *vp = vt + 6 * i * xs;
                    _Pragma("GCC unroll 6") for (int j = 0; j < 6; j++)
                        _mm512_storeu_ps(vp + j * xs, d[j]);
                }
                _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
                    c[0][i] = c[4][i];
                    c[1][i] = c[5][i];
                }
            }
        }
    }
    for (int xi = 0; xi < 36; xi++)
        for (int cg = 0; cg < ncg; cg++)
            for (int t = nt; t < ntp; t++)
                _mm512_storeu_ps(V + xi * xs + cg * gs + (int64_t)t * 16, _mm512_setzero_ps());
}

/* y[4] = A^T m for m[6]. */
static inline __attribute__((always_inline)) void at6(__m512 *y, const __m512 *m) {
    __m512 a = ADD(m[1], m[2]), b = SUB(m[1], m[2]), c = ADD(m[3], m[4]), d = SUB(m[3], m[4]);
    y[0] = ADD(ADD(m[0], a), c);
    y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d, b);
    y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), c, a);
    y[3] = ADD(_mm512_fmadd_ps(_mm512_set1_ps(8), d, b), m[5]);
}

/* M back into tiles q0 .. q0+nt-1 of out [B, OH, OW, OC]: Y = A^T M A
 * (F(2x2): at_m_a, m = 2; F(4x4): at6 twice, m = 4), then out_store;
 * pixels outside the image are dropped. accumulate, ep and m are
 * constants where out_transform inlines it. */
static inline __attribute__((always_inline)) void
out_transform_k(float *out, const float *M, int NP, const conv_shape *s, int64_t q0, int nt,
                int accumulate, const cd_epilogue *ep, int m) {
    int OC = s->OC, NB = fwd_nb(OC), OW = s->OW;
    int64_t ms = mstride(NP, NB), xs = OC / NB * ms, rs = (int64_t)OW * OC;
    const float *res = ep && ep->res ? ep->res : out;
    tile_run r = { 0 };
    while (next_run_m(&r, s, q0, nt, m)) {
        int nrow = s->OH - m * r.th < m ? s->OH - m * r.th : m;   /* output rows */
        int full = r.n - (2 * (r.tw0 + r.n) > OW);   /* F(2x2): tiles with two columns */
        int64_t o0 = (((int64_t)r.b * s->OH + m * r.th) * OW + m * r.tw0) * OC;
        for (int oc = 0; oc < OC; oc += 16) {
            const float *mp = M + oc / NB * ms + (int64_t)r.t * NB + oc % NB;
            float *o = out + o0 + oc;
            const float *rp = res + o0 + oc;
            __m512 sc = _mm512_setzero_ps(), sh = sc;
            if (ep) {
                sc = _mm512_loadu_ps(ep->scale + oc);
                sh = _mm512_loadu_ps(ep->shift + oc);
            }
            for (int k = 0; k < r.n; k++, mp += NB, o += m * OC, rp += m * OC) {
                if (m == 2) {
                    __m512 y[4];
                    at_m_a(y, mp, xs);
                    __builtin_prefetch(o + 2 * PF_TILES * OC, 1, 3);
                    out_store(o, rp, y[0], accumulate, ep, sc, sh);
                    if (k < full) out_store(o + OC, rp + OC, y[1], accumulate, ep, sc, sh);
                    if (nrow == 2) {
                        __builtin_prefetch(o + rs + 2 * PF_TILES * OC, 1, 3);
                        out_store(o + rs, rp + rs, y[2], accumulate, ep, sc, sh);
                        if (k < full)
                            out_store(o + rs + OC, rp + rs + OC, y[3], accumulate, ep, sc, sh);
                    }
                    continue;
                }
                int ncol = OW - 4 * (r.tw0 + k) < 4 ? OW - 4 * (r.tw0 + k) : 4;
                __m512 q[6][4];
                _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
                    __m512 mm[6];
                    _Pragma("GCC unroll 6") for (int j = 0; j < 6; j++)
                        mm[j] = _mm512_loadu_ps(mp + (6 * i + j) * xs);
                    at6(q[i], mm);
                }
                for (int a = 0; a < nrow; a++)
                    __builtin_prefetch(o + a * rs + 4 * PF_TILES * OC, 1, 3);
                _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++) {
                    __m512 e[6] = { q[0][b], q[1][b], q[2][b], q[3][b], q[4][b], q[5][b] }, y[4];
                    at6(y, e);
                    if (b >= ncol) continue;
                    for (int a = 0; a < nrow; a++)
                        out_store(o + a * rs + b * OC, rp + a * rs + b * OC, y[a], accumulate, ep,
                                  sc, sh);
                }
            }
        }
    }
}

static void out_transform(float *out, const float *M, int NP, const conv_shape *s, int64_t q0,
                          int nt, int accumulate, const cd_epilogue *ep, int f4) {
    if (f4 && ep) out_transform_k(out, M, NP, s, q0, nt, accumulate, ep, 4);
    else if (f4 && accumulate) out_transform_k(out, M, NP, s, q0, nt, 1, NULL, 4);
    else if (f4) out_transform_k(out, M, NP, s, q0, nt, 0, NULL, 4);
    else if (ep) out_transform_k(out, M, NP, s, q0, nt, accumulate, ep, 2);
    else if (accumulate) out_transform_k(out, M, NP, s, q0, nt, 1, NULL, 2);
    else out_transform_k(out, M, NP, s, q0, nt, 0, NULL, 2);
}

/* The forward's tasks: F(2x2) (16 planes; bf16 on VDPBF16PS or AMX where
 * the shape says) or F(4x4) (x->f4: 36 planes, fp32). */
static void fwd_part(void *vctx, int64_t i0, int64_t i1, int tid) {
    const wg_ctx *x = vctx;
    const conv_shape *s = x->s;
    int C = s->C, OC = s->OC, CG = C / 16, NP = x->NP, NB = fwd_nb(OC), NOB = OC / NB;
    int T = fwd_rows(NB), bf = use_bf16(s), amx = x->amx, f4 = x->f4;
    int P = f4 ? 36 : 16, m = f4 ? 4 : 2;  /* planes; outputs per tile side */
    int KV = amx ? (CG + 1) / 2 : CG;    /* V's planes per xi */
    (void)tid;
    if (amx) amx_begin();
    for (int64_t part = i0; part < i1; part++) {
        int64_t gs = gstride(NP), ms = mstride(NP, NB);
        float *V = x->scratch + part * x->part_n, *M = V + P * KV * gs;
        int64_t a = part * x->ntasks / x->nparts, e = (part + 1) * x->ntasks / x->nparts;
        for (int64_t task = a; task < e; task++) {
            int64_t q0 = task * NP;
            int nt = x->ntiles - q0 < NP ? (int)(x->ntiles - q0) : NP;
            int ntp = (nt + T - 1) / T * T, nr = (nt + 15) / 16 * 16;
            if (amx) {
                in_transform_amx(V, NP, x->in, x->xf, s, q0, nt, nr);
            } else if (f4) {
                in4_transform(V, NP, x->in, x->xf, s, 0, CG, q0, nt, ntp);
                if (bf) v_to_bf16(V, 36 * (int64_t)CG, gs, ntp);
            } else {
                in_transform(V, NP, x->in, x->xf, s, 0, CG, q0, nt, ntp);
                if (bf) v_to_bf16(V, 16 * (int64_t)CG, gs, ntp);
            }
            /* the next block's input and output, spread over the products */
            pf_span pi = { 0 }, po = { 0 };
            int lines = 0;
            if (task + 1 < e) {
                int nn = x->ntiles - q0 - NP < NP ? (int)(x->ntiles - q0 - NP) : NP;
                pf_init_m(&pi, x->in, s, C, 1, q0 + NP, nn, 0, m);
                pf_init_m(&po, x->out, s, OC, 0, q0 + NP, nn, 1, m);
                int calls = P * NOB * (amx ? 1 : ntp / T);
                lines = (int)(((pi.end - pi.p) + (po.end - po.p)) / 64 / calls) + 1;
            }
            for (int xi = 0; xi < P; xi++)
                for (int ob = 0; ob < NOB; ob++) {
                    const float *up = x->u + ((int64_t)xi * NOB + ob) * C * NB;
                    const float *vp = V + xi * KV * gs;
                    float *mp = M + (xi * NOB + ob) * ms;
                    if (amx) {
                        pf_step(&pi, lines);
                        pf_step(&po, pi.p < pi.end ? 0 : lines);
                        amx_plane(mp, NB, nr, vp, gs, up, KV);
                        continue;
                    }
                    for (int t0 = 0; t0 < ntp; t0 += T) {
                        pf_step(&pi, lines);
                        pf_step(&po, pi.p < pi.end ? 0 : lines);
                        if (bf && NB == 32)
                            gemm_bf_14_2(mp + t0 * NB, vp + t0 * 16, gs, up, CG);
                        else if (bf)
                            gemm_bf_28_1(mp + t0 * NB, vp + t0 * 16, gs, up, CG);
                        else if (NB == 32)
                            gemm_14_2(mp + t0 * NB, vp + t0 * 16, gs, up, CG);
                        else
                            gemm_28_1(mp + t0 * NB, vp + t0 * 16, gs, up, CG);
                    }
                }
            out_transform(x->out, M, NP, s, q0, nt, x->accumulate, x->ep, f4);
        }
    }
    if (amx) amx_end();
}

void wg_forward(float *out, const float *in, const float *u, const conv_shape *s,
                int accumulate, const cd_epilogue *ep, float *scratch) {
    wg_forward_xf(out, in, NULL, u, s, accumulate, ep, scratch);
}

void wg_forward_xf(float *out, const float *in, const conv_in_xf *xf, const float *u,
                   const conv_shape *s, int accumulate, const cd_epilogue *ep, float *scratch) {
    wg_ctx x = { 0 };
    x.s = s; x.in = in; x.xf = xf; x.u = u; x.out = out; x.scratch = scratch; x.ep = ep;
    x.accumulate = accumulate;
    x.f4 = wg_f4(s);
    x.amx = !x.f4 && use_amx(s);
    x.NP = x.amx ? fwd_tiles_amx(s) : fwd_tiles(s);
    x.ntiles = ntiles_m(s, x.f4 ? 4 : 2);
    x.ntasks = (x.ntiles + x.NP - 1) / x.NP;
    x.part_n = wg_scratch(s) / WG_MAX_PARTS;
    x.nparts = ssl_parts(x.ntasks, WG_MAX_PARTS);
    ssl_parallel_for(x.nparts, 1, fwd_part, &x);
}

/* ---- weight gradient ----
 * A task (slice, c part, oc part) transforms its slice's tiles NP at a
 * time: V[xi][g][t][16] for its input channels (g counting groups of 16
 * from the part's first), and dM = A dY A^T as dM[xi][o][t][16] for its
 * output channels, then adds the products into its block of dU. */

/* dM of tiles q0 .. q0+nt-1 of dout [B, OH, OW, OC], groups o0 .. o0+no-1
 * of 16 output channels; outputs outside the image count as zero. */
static void dout_transform(float *dM, int NP, const float *dout, const conv_shape *s, int o0,
                           int no, int64_t q0, int nt) {
    int OC = s->OC, OW = s->OW;
    int64_t gs = gstride(NP), xs = no * gs, rs = (int64_t)OW * OC;
    tile_run r = { 0 };
    while (next_run(&r, s, q0, nt)) {
        __mmask16 m1 = s->OH - 2 * r.th >= 2 ? 0xffff : 0;   /* second row */
        int full = r.n - (2 * (r.tw0 + r.n) > OW);
        const float *y0 = dout + (((int64_t)r.b * s->OH + 2 * r.th) * OW + 2 * r.tw0) * OC +
                          16 * o0;
        for (int g = 0; g < no; g++) {
            const float *y = y0 + 16 * g;
            float *mt = dM + g * gs + (int64_t)r.t * 16;
            for (int k = 0; k < r.n; k++, y += 2 * OC, mt += 16) {
                __mmask16 mc = k < full ? 0xffff : 0;
                __m512 a0 = _mm512_loadu_ps(y), a1 = _mm512_maskz_loadu_ps(mc, y + OC);
                __m512 b0 = _mm512_maskz_loadu_ps(m1, y + rs);
                __m512 b1 = _mm512_maskz_loadu_ps(m1 & mc, y + rs + OC);
                /* rows of A dY, A = [1 0; 1 1; 1 -1; 0 -1], then each times A^T */
                __m512 z = _mm512_setzero_ps(), d[16];
                __m512 e[4][2] = { { a0, a1 }, { ADD(a0, b0), ADD(a1, b1) },
                                   { SUB(a0, b0), SUB(a1, b1) }, { SUB(z, b0), SUB(z, b1) } };
                _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
                    d[4 * i] = e[i][0];
                    d[4 * i + 1] = ADD(e[i][0], e[i][1]);
                    d[4 * i + 2] = SUB(e[i][0], e[i][1]);
                    d[4 * i + 3] = SUB(z, e[i][1]);
                }
                store16(mt, xs, d);
            }
        }
    }
}

/* du[k * ld] (16 rows of 16 output channels) += sum over nt tiles of
 * v[16 t + k] (broadcast) * g[16 t .. +16]. */
static void bww_kernel(float *du, int64_t ld, const float *v, const float *g, int nt) {
    __m512 acc[16];
    _Pragma("GCC unroll 16") for (int k = 0; k < 16; k++)
        acc[k] = _mm512_loadu_ps(du + k * ld);
    for (int t = 0; t < nt; t++, v += 16, g += 16) {
        __m512 gv = _mm512_loadu_ps(g);
        _Pragma("GCC unroll 16") for (int k = 0; k < 16; k++)
            acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(v[k]), gv, acc[k]);
    }
    _Pragma("GCC unroll 16") for (int k = 0; k < 16; k++)
        _mm512_storeu_ps(du + k * ld, acc[k]);
}

/* Task task of the weight gradient: its slice's tiles [qa, qe), its
 * input groups c0 .. c0+nc-1 and output groups o0 .. o0+no-1 of 16
 * channels, its slice's dU (du), whose block of the task it zeroes. */
typedef struct { int c0, nc, o0, no; int64_t qa, qe; float *du; } bww_task;

static bww_task bww_task_begin(const wg_ctx *x, int64_t task) {
    const conv_shape *s = x->s;
    int C = s->C, OC = s->OC, CG = C / 16, OG = OC / 16;
    int pp = x->ncp * x->nop, sl = (int)(task / pp);
    int cp = (int)(task % pp / x->nop), op = (int)(task % x->nop);
    bww_task t;
    t.c0 = cp * CG / x->ncp;
    t.nc = (cp + 1) * CG / x->ncp - t.c0;
    t.o0 = op * OG / x->nop;
    t.no = (op + 1) * OG / x->nop - t.o0;
    t.qa = sl * x->ntiles / x->nslices;
    t.qe = (sl + 1) * x->ntiles / x->nslices;
    t.du = x->du + sl * bww_packed(s, x->f4);
    for (int xi = 0; xi < bww_planes(x->f4); xi++)
        for (int c = 16 * t.c0; c < 16 * (t.c0 + t.nc); c++)
            memset(t.du + ((int64_t)xi * C + c) * OC + 16 * t.o0, 0,
                   (size_t)t.no * 16 * sizeof(float));
    return t;
}

/* ---- weight gradient on AMX (use_amx: bf16 shapes where gemm_bf16_amx()) ----
 * The same tasks and slices as above (so the same dU layout and
 * bww_finish), the product per xi, dU[c][oc] += sum_t V[t][c] dM[t][oc],
 * on the tile unit: its reduction is the TILE index, so both operands are
 * rounded to bf16 with pairs of consecutive tiles (2p, 2p + 1) in one
 * word (the even tile in the low half). Per 32 tiles (a k block) and
 * group of 16 channels: z_p = the pair words of tiles 2p, 2p + 1 for the
 * 16 channels (p < 16); dM's B tile is z itself (row p, word oc), V's A
 * tile its 16 x 16 transpose (row c, word p). A block of NP tiles
 * (bww_tiles_amx, a multiple of 32) is transformed in fp32 32 tiles at a
 * time, as in_transform and dout_transform do it for the fp32 path, into
 * a small stage, then paired into the block's A and B tiles: A[xi][g][kb]
 * and B[xi][o][kb], 256 words each (tiles past the slice's end zero).
 * The register tile is 2 x 2 C tiles of 16 x 16 fp32 (input groups g,
 * g + 1 by output groups o, o + 1: tmm0-3, A tmm4-5, B tmm6-7), loaded
 * from the task's block of dU, summed over the block's k blocks in order
 * and stored back. Sums fp32 as TDPBF16PS makes them (per element, per
 * pair, the two products in tile order), one chain per slice from zero
 * over its tiles in order, whatever the thread count (and whatever the
 * block size: a C tile is loaded and stored between blocks unrounded). */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#include "nn/ops/tr16_impl.h"

/* z[p] (p < 16) = the pair words of tiles 2p, 2p + 1 of a stage plane
 * (tile t's 16 channels at src + 16 t), tiles n .. 31 zero. */
static inline __attribute__((always_inline)) void pair16(__m512i *z, const float *src, int n) {
    __m512i idx = _mm512_loadu_si512(bf_inter);
    _Pragma("GCC unroll 16") for (int p = 0; p < 16; p++) {
        __mmask16 m0 = 2 * p < n ? 0xffff : 0, m1 = 2 * p + 1 < n ? 0xffff : 0;
        __m512 r0 = _mm512_maskz_loadu_ps(m0, src + 32 * p);
        __m512 r1 = _mm512_maskz_loadu_ps(m1, src + 32 * p + 16);
        z[p] = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(r1, r0));
    }
}

/* k block kb of the block's tiles: the stage's planes (V: nc groups, dM:
 * no groups, per xi; n tiles) into A[xi][g][kb] (transposed where
 * transpose: AMX's row c, word p; else row p, word c, as VDPBF16PS
 * broadcasts it) and B[xi][o][kb]; nkb: k blocks per (xi, group). */
static void bww_pair(float *A, float *Bt, const float *Vs, const float *Ms, int nc, int no,
                     int kb, int nkb, int n, int transpose, int P) {
    int64_t gs = gstride(32);
    for (int xi = 0; xi < P; xi++) {
        for (int g = 0; g < nc; g++) {
            __m512i z[16];
            pair16(z, Vs + (xi * nc + g) * gs, n);
            if (transpose) tr16((__m512 *)z);
            float *a = A + (((int64_t)xi * nc + g) * nkb + kb) * 256;
            _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++)
                _mm512_storeu_si512(a + 16 * r, z[r]);
        }
        for (int o = 0; o < no; o++) {
            __m512i z[16];
            pair16(z, Ms + (xi * no + o) * gs, n);
            float *b = Bt + (((int64_t)xi * no + o) * nkb + kb) * 256;
            _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++)
                _mm512_storeu_si512(b + 16 * r, z[r]);
        }
    }
}

/* ---- the same weight gradient on VDPBF16PS (use_bf16 without AMX) ----
 * bww_part_bf's blocks, A untransposed (row p: the pair words of tiles
 * 2p, 2p + 1 for the group's 16 input channels), and per element the
 * same chain: du += the k blocks' pairs in tile order, each VDPBF16PS
 * adding one pair's two products in fp32 (VDPBF16PS's own order, as
 * TDPBF16PS's; the bits differ between the two units, not between thread
 * counts). Register tile: R rows of du (input channels c0 .. c0 + R - 1
 * of a group) by J groups of 16 output channels, a word of A broadcast,
 * J rows of B loaded per pair. */
#define BWW_BF(R, J)                                                                     \
static void bww_bf_##R##_##J(float *du, int64_t ld, const float *a, const float *b,     \
                             int64_t gs, int kbn) {                                      \
    __m512 acc[R][J];                                                                    \
    _Pragma("GCC unroll 16") for (int r = 0; r < R; r++)                                \
        _Pragma("GCC unroll 2") for (int j = 0; j < J; j++)                            \
            acc[r][j] = _mm512_loadu_ps(du + r * ld + 16 * j);                           \
    for (int kb = 0; kb < kbn; kb++, a += 256, b += 256)                                 \
        _Pragma("GCC unroll 4") for (int p = 0; p < 16; p++) {                          \
            __m512bh w[J];                                                               \
            _Pragma("GCC unroll 2") for (int j = 0; j < J; j++)                         \
                w[j] = (__m512bh)_mm512_loadu_ps(b + j * gs + 16 * p);                   \
            _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) {                      \
                __m512bh v = (__m512bh)_mm512_set1_ps(a[16 * p + r]);                    \
                _Pragma("GCC unroll 2") for (int j = 0; j < J; j++)                     \
                    acc[r][j] = _mm512_dpbf16_ps(acc[r][j], v, w[j]);                   \
            }                                                                            \
        }                                                                                \
    _Pragma("GCC unroll 16") for (int r = 0; r < R; r++)                                \
        _Pragma("GCC unroll 2") for (int j = 0; j < J; j++)                            \
            _mm512_storeu_ps(du + r * ld + 16 * j, acc[r][j]);                           \
}
BWW_BF(8, 2)
BWW_BF(16, 1)

/* bww_amx_xi's sums on VDPBF16PS, A untransposed (bww_pair); a step of
 * the next block's prefetch (pi, then po) per input group. */
static void bww_bf_xi(float *du, int64_t ld, const float *A, const float *Bt, int nc, int no,
                      int nkb, int kbn, pf_span *pi, pf_span *po, int lines) {
    const int64_t gs = (int64_t)nkb * 256;
    for (int g = 0; g < nc; g++) {
        pf_step(pi, lines);
        pf_step(po, pi->p < pi->end ? 0 : lines);
        float *d = du + 16 * (int64_t)g * ld;
        const float *a = A + g * gs;
        int o = 0;
        for (; o + 2 <= no; o += 2) {
            bww_bf_8_2(d + 16 * o, ld, a, Bt + o * gs, gs, kbn);
            bww_bf_8_2(d + 8 * ld + 16 * o, ld, a + 8, Bt + o * gs, gs, kbn);
        }
        if (o < no) bww_bf_16_1(d + 16 * o, ld, a, Bt + o * gs, gs, kbn);
    }
}
#pragma GCC pop_options

/* du[16 g + c][16 o + j] (rows ld floats apart) += sum over k blocks kb
 * < kbn of A[g][kb] times B[o][kb], for nc input and no output groups
 * (A's and B's (group, kb) tiles 256 words apart, groups nkb tiles). */
__attribute__((target("amx-tile,amx-bf16")))
static void bww_amx_xi(float *du, int64_t ld, const float *A, const float *Bt, int nc, int no,
                       int nkb, int kbn, pf_span *pi, pf_span *po, int lines) {
    (void)pi; (void)po; (void)lines;   /* (not measured on AMX) */
    const int64_t cs = ld * (int64_t)sizeof(float), gs = (int64_t)nkb * 256;
    for (int g = 0; g < nc; g += 2)
        for (int o = 0; o < no; o += 2) {
            int tc = g + 1 < nc, to = o + 1 < no;
            float *c0 = du + 16 * ((int64_t)g * ld + o), *c2 = c0 + 16 * ld;
            const float *a0 = A + g * gs, *a1 = a0 + gs, *b0 = Bt + o * gs, *b1 = b0 + gs;
            _tile_loadd(0, c0, cs);
            if (to) _tile_loadd(1, c0 + 16, cs);
            if (tc) _tile_loadd(2, c2, cs);
            if (tc && to) _tile_loadd(3, c2 + 16, cs);
            if (tc && to) {
                for (int kb = 0; kb < kbn; kb++) {
                    _tile_loadd(4, a0 + kb * 256, 64);
                    _tile_loadd(6, b0 + kb * 256, 64);
                    _tile_loadd(7, b1 + kb * 256, 64);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_loadd(5, a1 + kb * 256, 64);
                    _tile_dpbf16ps(1, 4, 7);
                    _tile_dpbf16ps(2, 5, 6);
                    _tile_dpbf16ps(3, 5, 7);
                }
            } else {
                for (int kb = 0; kb < kbn; kb++) {
                    _tile_loadd(4, a0 + kb * 256, 64);
                    _tile_loadd(6, b0 + kb * 256, 64);
                    _tile_dpbf16ps(0, 4, 6);
                    if (to) {
                        _tile_loadd(7, b1 + kb * 256, 64);
                        _tile_dpbf16ps(1, 4, 7);
                    }
                    if (tc) {
                        _tile_loadd(5, a1 + kb * 256, 64);
                        _tile_dpbf16ps(2, 5, 6);
                    }
                }
            }
            _tile_stored(0, c0, cs);
            if (to) _tile_stored(1, c0 + 16, cs);
            if (tc) _tile_stored(2, c2, cs);
            if (tc && to) _tile_stored(3, c2 + 16, cs);
        }
}

/* bww_part's tasks in bf16: on AMX (x->amx), else on VDPBF16PS (scratch:
 * bww_amx_floats(s, f4) per part); F(4x4) (x->f4, VDPBF16PS only) with
 * 36 planes, transformed by in4_transform and dout4_transform. */
static void dout4_transform(float *dM, int NP, const float *dout, const conv_shape *s, int o0,
                            int no, int64_t q0, int nt);

static void bww_part_bf(void *vctx, int64_t i0, int64_t i1, int tid) {
    const wg_ctx *x = vctx;
    const conv_shape *s = x->s;
    int C = s->C, OC = s->OC, NP = x->NP, CG = C / 16, OG = OC / 16, nkb = NP / 32;
    int cpn = (CG + x->ncp - 1) / x->ncp, opn = (OG + x->nop - 1) / x->nop;
    int f4 = x->f4, P = f4 ? 36 : 16, m = f4 ? 4 : 2;
    int64_t gs = gstride(32);
    (void)tid;
    if (x->amx) amx_begin();
    for (int64_t part = i0; part < i1; part++) {
        float *Vs = x->scratch + part * x->part_n, *Ms = Vs + P * cpn * gs;
        float *A = Ms + P * opn * gs, *Bt = A + P * (int64_t)cpn * nkb * 256;
        int64_t a = part * x->ntasks / x->nparts, e = (part + 1) * x->ntasks / x->nparts;
        for (int64_t task = a; task < e; task++) {
            bww_task t = bww_task_begin(x, task);
            for (int64_t q0 = t.qa; q0 < t.qe; q0 += NP) {
                int nt = t.qe - q0 < NP ? (int)(t.qe - q0) : NP, kbn = (nt + 31) / 32;
                for (int kb = 0; kb < kbn; kb++) {
                    int n = nt - 32 * kb < 32 ? nt - 32 * kb : 32;
                    if (f4) {
                        in4_transform(Vs, 32, x->in, x->xf, s, t.c0, t.nc, q0 + 32 * kb, n, n);
                        dout4_transform(Ms, 32, x->dout, s, t.o0, t.no, q0 + 32 * kb, n);
                    } else {
                        in_transform(Vs, 32, x->in, x->xf, s, t.c0, t.nc, q0 + 32 * kb, n, n);
                        dout_transform(Ms, 32, x->dout, s, t.o0, t.no, q0 + 32 * kb, n);
                    }
                    bww_pair(A, Bt, Vs, Ms, t.nc, t.no, kb, nkb, n, x->amx, P);
                }
                /* the next block's input and dout, spread over the products */
                pf_span pi = { 0 }, po = { 0 };
                int lines = 0;
                if (q0 + NP < t.qe) {
                    int nn = t.qe - q0 - NP < NP ? (int)(t.qe - q0 - NP) : NP;
                    pf_init_m(&pi, x->in, s, C, 1, q0 + NP, nn, 0, m);
                    pf_init_m(&po, x->dout, s, OC, 0, q0 + NP, nn, 0, m);
                    lines = (int)(((pi.end - pi.p) + (po.end - po.p)) / 64 / (P * t.nc)) + 1;
                }
                for (int xi = 0; xi < P; xi++)
                    (x->amx ? bww_amx_xi : bww_bf_xi)(t.du + ((int64_t)xi * C + 16 * t.c0) * OC + 16 * t.o0, OC,
                               A + (int64_t)xi * t.nc * nkb * 256,
                               Bt + (int64_t)xi * t.no * nkb * 256, t.nc, t.no, nkb, kbn,
                               &pi, &po, lines);
            }
        }
    }
    if (x->amx) amx_end();
}

/* dw += G^T (sum over slices of dU, in slice order) G, in double (rounded
 * once, then added), for the input channels of blocks [b0, b1) of eight
 * (each block's rows of dU, then of dw, walked together over the groups
 * of eight output channels): G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1]. */
static void bww_finish(void *vctx, int64_t b0, int64_t b1, int tid) {
    const wg_ctx *x = vctx;
    const conv_shape *s = x->s;
    int C = s->C, OC = s->OC;
    int64_t P = bww_packed(s, x->f4), xs = (int64_t)C * OC;
    __m512d h = _mm512_set1_pd(0.5);
    (void)tid;
    for (int64_t cb = b0; cb < b1; cb++)
    for (int64_t g = 0; g < OC / 8; g++)
        for (int c = 8 * (int)cb; c < 8 * cb + 8; c++) {
            __m512d d[16], t[3][4];
            const float *p = x->du + (int64_t)c * OC + 8 * g;
            for (int xi = 0; xi < 16; xi++) {
                d[xi] = _mm512_cvtps_pd(_mm256_loadu_ps(p + xi * xs));
                for (int sl = 1; sl < x->nslices; sl++)
                    d[xi] = _mm512_add_pd(d[xi], _mm512_cvtps_pd(_mm256_loadu_ps(p + sl * P + xi * xs)));
            }
            for (int k = 0; k < 4; k++) {
                __m512d a = _mm512_add_pd(d[4 + k], d[8 + k]);
                t[0][k] = _mm512_fmadd_pd(h, a, d[k]);
                t[1][k] = _mm512_mul_pd(h, _mm512_sub_pd(d[4 + k], d[8 + k]));
                t[2][k] = _mm512_fmadd_pd(h, a, d[12 + k]);
            }
            float r[9][8], *dw = x->dw + (8 * g * C + c) * 9;
            for (int a = 0; a < 3; a++) {
                __m512d e = _mm512_add_pd(t[a][1], t[a][2]);
                _mm256_storeu_ps(r[3 * a], _mm512_cvtpd_ps(_mm512_fmadd_pd(h, e, t[a][0])));
                _mm256_storeu_ps(r[3 * a + 1], _mm512_cvtpd_ps(
                    _mm512_mul_pd(h, _mm512_sub_pd(t[a][1], t[a][2]))));
                _mm256_storeu_ps(r[3 * a + 2], _mm512_cvtpd_ps(_mm512_fmadd_pd(h, e, t[a][3])));
            }
            /* dw[(8 g + l) * C + c][k] */
            for (int l = 0; l < 8; l++, dw += (int64_t)9 * C)
                for (int k = 0; k < 9; k++) dw[k] += r[k][l];
        }
}

/* ---- F(4x4, 3x3) weight gradient (fp32, wg_f4) ----
 * F(2x2)'s tasks and slices with 36 planes: V = B^T d B (in4_transform),
 * dM = A dY A^T (dout4_transform; A = (A^T)^T, 6x4), dU[xi] += sum over
 * tiles of V[xi] dM[xi] (bww_kernel), dw += G^T dU G (bww4_finish). */

/* o[6] = A y for y[4]: A's rows (1 0 0 0), (1 1 1 1), (1 -1 1 -1),
 * (1 2 4 8), (1 -2 4 -8), (0 0 0 1). */
static inline __attribute__((always_inline)) void a6(__m512 *o, const __m512 *y) {
    __m512 p = ADD(y[0], y[2]), q = ADD(y[1], y[3]);
    __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(4), y[2], y[0]);
    __m512 t = _mm512_mul_ps(_mm512_set1_ps(2), _mm512_fmadd_ps(_mm512_set1_ps(4), y[3], y[1]));
    o[0] = y[0];
    o[1] = ADD(p, q);
    o[2] = SUB(p, q);
    o[3] = ADD(r, t);
    o[4] = SUB(r, t);
    o[5] = y[3];
}

/* dM[xi][g][t][16] of tiles q0 .. q0+nt-1 of dout, groups o0 .. o0+no-1
 * of 16 output channels; outputs outside the image count as zero. */
static void dout4_transform(float *dM, int NP, const float *dout, const conv_shape *s, int o0,
                            int no, int64_t q0, int nt) {
    int OC = s->OC, OW = s->OW;
    int64_t gs = gstride(NP), xs = no * gs, rs = (int64_t)OW * OC;
    tile_run r = { 0 };
    while (next_run_m(&r, s, q0, nt, 4)) {
        int nrow = s->OH - 4 * r.th < 4 ? s->OH - 4 * r.th : 4;
        const float *y0 = dout + (((int64_t)r.b * s->OH + 4 * r.th) * OW + 4 * r.tw0) * OC +
                          16 * o0;
        for (int g = 0; g < no; g++) {
            const float *y = y0 + 16 * g;
            float *mt = dM + g * gs + (int64_t)r.t * 16;
            for (int k = 0; k < r.n; k++, y += 4 * OC, mt += 16) {
                int ncol = OW - 4 * (r.tw0 + k) < 4 ? OW - 4 * (r.tw0 + k) : 4;
                __m512 c[4][6];                   /* c[column b][A over the rows] */
                _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++) {
                    __m512 v[4];
                    _Pragma("GCC unroll 4") for (int a = 0; a < 4; a++)
                        v[a] = a < nrow && b < ncol ? _mm512_loadu_ps(y + a * rs + b * OC)
                                                    : _mm512_setzero_ps();
                    a6(c[b], v);
                }
                _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
                    __m512 v[4] = { c[0][i], c[1][i], c[2][i], c[3][i] }, d[6];
                    a6(d, v);
                    _Pragma("GCC unroll 6") for (int j = 0; j < 6; j++)
                        _mm512_storeu_ps(mt + (6 * i + j) * xs, d[j]);
                }
            }
        }
    }
}

/* The weight gradient's tasks in fp32: F(2x2) (16 planes) or F(4x4)
 * (x->f4, 36). */
static void bww_part(void *vctx, int64_t i0, int64_t i1, int tid) {
    const wg_ctx *x = vctx;
    const conv_shape *s = x->s;
    int C = s->C, OC = s->OC, NP = x->NP, CG = C / 16, f4 = x->f4;
    int P = f4 ? 36 : 16, m = f4 ? 4 : 2;
    int cpn = (CG + x->ncp - 1) / x->ncp;
    (void)tid;
    for (int64_t part = i0; part < i1; part++) {
        int64_t gs = gstride(NP);
        float *V = x->scratch + part * x->part_n, *dM = V + P * cpn * gs;
        int64_t a = part * x->ntasks / x->nparts, e = (part + 1) * x->ntasks / x->nparts;
        for (int64_t task = a; task < e; task++) {
            bww_task t = bww_task_begin(x, task);
            for (int64_t q0 = t.qa; q0 < t.qe; q0 += NP) {
                int nt = t.qe - q0 < NP ? (int)(t.qe - q0) : NP;
                if (f4) {
                    in4_transform(V, NP, x->in, x->xf, s, t.c0, t.nc, q0, nt, nt);
                    dout4_transform(dM, NP, x->dout, s, t.o0, t.no, q0, nt);
                } else {
                    in_transform(V, NP, x->in, x->xf, s, t.c0, t.nc, q0, nt, nt);
                    dout_transform(dM, NP, x->dout, s, t.o0, t.no, q0, nt);
                }
                /* the next block's input and dout, spread over the products */
                pf_span pi = { 0 }, po = { 0 };
                int lines = 0;
                if (q0 + NP < t.qe) {
                    int nn = t.qe - q0 - NP < NP ? (int)(t.qe - q0 - NP) : NP;
                    pf_init_m(&pi, x->in, s, C, 1, q0 + NP, nn, 0, m);
                    pf_init_m(&po, x->dout, s, OC, 0, q0 + NP, nn, 0, m);
                    lines = (int)(((pi.end - pi.p) + (po.end - po.p)) / 64 /
                                  (P * t.nc * t.no)) + 1;
                }
                for (int xi = 0; xi < P; xi++)
                    for (int g = 0; g < t.nc; g++)
                        for (int o = 0; o < t.no; o++) {
                            pf_step(&pi, lines);
                            pf_step(&po, pi.p < pi.end ? 0 : lines);
                            bww_kernel(t.du + ((int64_t)xi * C + 16 * (t.c0 + g)) * OC +
                                           16 * (t.o0 + o),
                                       OC, V + (xi * t.nc + g) * gs, dM + (xi * t.no + o) * gs, nt);
                        }
            }
        }
    }
}

/* o[3] = G^T d for d[6], in double: G^T's rows (1/4 -1/6 -1/6 1/24 1/24 0),
 * (0 -1/6 1/6 1/12 -1/12 0), (0 -1/6 -1/6 1/6 1/6 1). */
static inline __attribute__((always_inline)) void gt6(__m512d *o, const __m512d *d) {
    __m512d p12 = _mm512_add_pd(d[1], d[2]), m12 = _mm512_sub_pd(d[2], d[1]);
    __m512d p34 = _mm512_add_pd(d[3], d[4]), m34 = _mm512_sub_pd(d[3], d[4]);
    __m512d s6 = _mm512_set1_pd(1.0 / 6);
    o[0] = _mm512_fmadd_pd(_mm512_set1_pd(0.25), d[0],
                           _mm512_fmadd_pd(_mm512_set1_pd(1.0 / 24), p34,
                                           _mm512_mul_pd(_mm512_set1_pd(-1.0 / 6), p12)));
    o[1] = _mm512_fmadd_pd(s6, m12, _mm512_mul_pd(_mm512_set1_pd(1.0 / 12), m34));
    o[2] = _mm512_add_pd(_mm512_mul_pd(s6, _mm512_sub_pd(p34, p12)), d[5]);
}

/* dw += G^T (sum over slices of dU, in slice order) G, in double, as
 * bww_finish. */
static void bww4_finish(void *vctx, int64_t b0, int64_t b1, int tid) {
    const wg_ctx *x = vctx;
    const conv_shape *s = x->s;
    int C = s->C, OC = s->OC;
    int64_t P = bww_packed(s, x->f4), xs = (int64_t)C * OC;
    (void)tid;
    for (int64_t cb = b0; cb < b1; cb++)
    for (int64_t g = 0; g < OC / 8; g++)
        for (int c = 8 * (int)cb; c < 8 * cb + 8; c++) {
            __m512d t[6][3];                       /* t[s][a] = (G^T dU)[a][s] */
            const float *p = x->du + (int64_t)c * OC + 8 * g;
            for (int sc = 0; sc < 6; sc++) {
                __m512d d[6], o[3];
                for (int r = 0; r < 6; r++) {
                    const float *q = p + (6 * r + sc) * xs;
                    d[r] = _mm512_cvtps_pd(_mm256_loadu_ps(q));
                    for (int sl = 1; sl < x->nslices; sl++)
                        d[r] = _mm512_add_pd(d[r], _mm512_cvtps_pd(_mm256_loadu_ps(q + sl * P)));
                }
                gt6(o, d);
                for (int a = 0; a < 3; a++) t[sc][a] = o[a];
            }
            float r[9][8], *dw = x->dw + (8 * g * C + c) * 9;
            for (int a = 0; a < 3; a++) {
                __m512d d[6] = { t[0][a], t[1][a], t[2][a], t[3][a], t[4][a], t[5][a] }, o[3];
                gt6(o, d);
                for (int b = 0; b < 3; b++) _mm256_storeu_ps(r[3 * a + b], _mm512_cvtpd_ps(o[b]));
            }
            for (int l = 0; l < 8; l++, dw += (int64_t)9 * C)
                for (int k = 0; k < 9; k++) dw[k] += r[k][l];
        }
}

void wg_backward_weights(float *dw, const float *dout, const float *in,
                         const conv_shape *s, float *du, float *scratch) {
    wg_backward_weights_xf(dw, dout, in, NULL, s, du, scratch);
}

void wg_backward_weights_xf(float *dw, const float *dout, const float *in,
                            const conv_in_xf *xf, const conv_shape *s, float *du,
                            float *scratch) {
    wg_ctx x = { 0 };
    x.s = s; x.in = in; x.xf = xf; x.dout = dout; x.du = du; x.dw = dw; x.scratch = scratch;
    x.f4 = wg_bww_f4(s);
    x.amx = use_amx(s);
    int bf = use_bf16(s);
    x.NP = bf ? bww_tiles_amx(s, x.f4) : bww_tiles(s, x.f4);
    if (bf && !x.amx && x.NP > BWW_BF_MAX) x.NP = BWW_BF_MAX;
    x.ntiles = ntiles_m(s, x.f4 ? 4 : 2);
    x.nslices = bww_slices(s, x.f4);
    bww_split(&x.ncp, &x.nop, s, x.f4);
    x.ntasks = (int64_t)x.nslices * x.ncp * x.nop;
    x.part_n = wg_scratch_bww(s) / WG_MAX_PARTS;
    x.nparts = ssl_parts(x.ntasks, WG_MAX_PARTS);
    ssl_parallel_for(x.nparts, 1, bf ? bww_part_bf : bww_part, &x);
    ssl_parallel_for(s->C / 8, 1, x.f4 ? bww4_finish : bww_finish, &x);
}

#else   /* no AVX-512: conv.c never calls these */

int wg_available(void) { return 0; }
int wg_amx(const conv_shape *s) { (void)s; return 0; }
void wg_pack(float *u, const float *w, const conv_shape *s) { (void)u; (void)w; (void)s; }
void wg_pack_bwd_data(float *u, const float *w, const conv_shape *s) {
    (void)u; (void)w; (void)s;
}
void wg_forward(float *out, const float *in, const float *u, const conv_shape *s,
                int accumulate, const cd_epilogue *ep, float *scratch) {
    (void)out; (void)in; (void)u; (void)s; (void)accumulate; (void)ep; (void)scratch;
}
void wg_backward_weights(float *dw, const float *dout, const float *in,
                         const conv_shape *s, float *du, float *scratch) {
    (void)dw; (void)dout; (void)in; (void)s; (void)du; (void)scratch;
}
void wg_forward_xf(float *out, const float *in, const conv_in_xf *xf, const float *u,
                   const conv_shape *s, int accumulate, const cd_epilogue *ep, float *scratch) {
    (void)out; (void)in; (void)xf; (void)u; (void)s; (void)accumulate; (void)ep; (void)scratch;
}
void wg_backward_weights_xf(float *dw, const float *dout, const float *in,
                            const conv_in_xf *xf, const conv_shape *s, float *du,
                            float *scratch) {
    (void)dw; (void)dout; (void)in; (void)xf; (void)s; (void)du; (void)scratch;
}
#endif
