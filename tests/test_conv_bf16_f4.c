/* test_conv_bf16_f4.c: the Winograd F(4x4, 3x3) forward, backward-data
 * and weight gradient in bf16 (lib/nn/ops/conv_winograd.c, wg_f4 and
 * wg_bww_f4: a conv_shape with prec PREC_BF16 on VDPBF16PS), against
 * double-precision references, as tests/test_conv_bf16.c checks F(2x2).
 * The forward's derivation follows; the weight gradient's is next to
 * wgrad4_ref below.
 *
 * The kernel computes, per 4x4 output tile and output channel,
 *   Y = A^T M A,  M[xi] = sum_c bf(V[xi][c]) bf(U[xi][c]),  xi < 36,
 *   V = B^T d B in fp32 (bt6 on the columns of the 6x6 input tile, then on
 *       the rows of the result: each pass at most 2 roundings per term,
 *       so V_f = V + e, |e| <= gamma(4) Va, Va = |B^T| |d| |B|),
 *   U = G g G^T in double, rounded to float (g6_row twice: |U_f - U| <=
 *       (u + 2^-50) Ua, Ua = |G| |g| |G^T|; the double's own error, a
 *       few roundings of 2^-53, is under 2^-50 Ua),
 * with Lavin and Gray's matrices (points 0, +-1, +-2)
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
 *          0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 *          1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * and bf() the rounding to bf16 (u_b = 2^-8). M's fp32 chain (VDPBF16PS:
 * at most one rounding per channel, one chain over all C) and the output
 * transform (at6 twice, each at most 3 roundings per term) put every term
 * through at most n = C + 6 roundings more. Two tolerances per output
 * element:
 * 1. Accuracy, against the exact convolution (the direct sum in double):
 *      |Y - exact| <= ((1 + u_b)^2 (1 + gamma(4)) (1 + u + 2^-50)
 *                      (1 + gamma(n)) - 1) sum_xi |A^T|_i |A^T|_j sum_c Va Ua
 *    (a product of two bf16 is exact in fp32). The sum on the right is
 *    what the transforms make of the direct method's sum |x| |w| (printed:
 *    "amplification"; F(4x4)'s is several times F(2x2)'s, which is why its
 *    bf16 error is: tests/bench/winograd_bf16_error.py).
 * 2. Exactness of the kernel, against the same formula evaluated in
 *    double from bf(V_f) and bf(U_f) replicated bit for bit (V's fp32
 *    operations in the kernel's order with fmaf, U's double operations in
 *    g6_row's order with fma): only the fp32 sums remain,
 *      |Y - Y_b| <= gamma(n) sum_xi |A^T|_i |A^T|_j sum_c |bf(V) bf(U)|,
 *    about C 2^-24 of the magnitude, 2^16 times tighter than check 1.
 * Both carry a slack of 2^-40 of their magnitude (the double sums' error).
 *
 * The checks can fail: the input with its last channel zeroed (one
 * channel's products dropped) fails check 2; so do the fp32 F(4x4) kernel
 * (it rounds nothing; it passes check 1) and the bf16 F(2x2) kernel (its
 * roundings are other ones: proof that F(4x4) ran); in the weight
 * gradient, dy with a pair of tiles zeroed, the fp32 F(4x4) and the bf16
 * F(2x2) kernels. The same bits at 1, 2 and 3 threads. And the policy: under CONV_WINOGRAD_AUTO a bf16 shape
 * takes F(4x4) (36 planes of transformed weights) where fp32 would, up to
 * 256 channels; 512 and AMX keep F(2x2). */
#include <float.h>
#include <stdint.h>

#include "nn/ops/conv_winograd.h"
#include "nn/ops/ops.h"
#include "t.h"
#include "bf16_check.h"
#include "util/rng.h"
#include "util/threads.h"

static const double BT[6][6] = {
    {4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
};
static const double G[6][3] = {
    {0.25, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1},
};
static const double AT[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1},
};

/* o = B^T d for d[6], the kernel's bt6 operation for operation (the
 * products by 2 and 4 are exact, those by 5 and 4 inside fmaf fused as
 * the kernel's fnmadd / fmadd are). */
static void bt6(float *o, const float *d) {
    float a = fmaf(-4.0f, d[2], d[4]);
    float b = fmaf(-4.0f, d[1], d[3]);
    float e = d[4] - d[2];
    float g = 2.0f * (d[3] - d[1]);
    o[0] = fmaf(4.0f, d[0], fmaf(-5.0f, d[2], d[4]));
    o[1] = a + b;
    o[2] = a - b;
    o[3] = e + g;
    o[4] = e - g;
    o[5] = fmaf(4.0f, d[1], fmaf(-5.0f, d[3], d[5]));
}

/* u[6] = G (a, b, c)^T, g6_row operation for operation, in double. */
static void g6(double *u, double a, double b, double c) {
    double ac = a + c;
    double e = fma(1.0 / 24, a, (1.0 / 6) * c);
    u[0] = 0.25 * a;
    u[1] = (-1.0 / 6) * (ac + b);
    u[2] = (-1.0 / 6) * (ac - b);
    u[3] = fma(1.0 / 12, b, e);
    u[4] = fma(-(1.0 / 12), b, e);
    u[5] = c;
}

/* Tile (b, th, tw)'s bf(V) and Va for all C channels of x [B, H, W, C]:
 * Vb[xi * C + c], Va[xi * C + c]; V as in4_transform computes it (bt6 on
 * each column, then on each row of the result). */
static void tile_vb(float *Vb, double *Va, const float *x, int H, int W, int C, int b, int th,
                    int tw) {
    for (int c = 0; c < C; c++) {
        float d[6][6], col[6][6];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++) {
                int h = 4 * th - 1 + i, ww = 4 * tw - 1 + j;
                d[i][j] = h >= 0 && h < H && ww >= 0 && ww < W
                              ? x[(((size_t)b * H + h) * W + ww) * C + c] : 0.0f;
            }
        for (int j = 0; j < 6; j++) {         /* col[j] = B^T (column j of d) */
            float dc[6];
            for (int i = 0; i < 6; i++) dc[i] = d[i][j];
            bt6(col[j], dc);
        }
        for (int i = 0; i < 6; i++) {         /* row i of (B^T d) times B */
            float e[6], v[6];
            for (int j = 0; j < 6; j++) e[j] = col[j][i];
            bt6(v, e);
            for (int j = 0; j < 6; j++) {
                double a = 0;
                for (int p = 0; p < 6; p++)
                    for (int q = 0; q < 6; q++) a += fabs(BT[i][p]) * fabs(d[p][q]) * fabs(BT[j][q]);
                Vb[(6 * i + j) * C + c] = bf16_round(v[j]);
                Va[(6 * i + j) * C + c] = a;
            }
        }
    }
}

/* References for out [B, H, W, OC] = conv3x3 pad 1 of x [B, H, W, C] with
 * w [OC, C, 3, 3]. */
static void wino4_ref(wref *r, const float *x, const float *w, int B, int H, int W, int C,
                      int OC) {
    wref_alloc(r, (size_t)B * H * W * OC);
    float *Ub = malloc(sizeof(float) * 36 * (size_t)C * OC);
    double *Ua = malloc(sizeof(double) * 36 * (size_t)C * OC);
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++) {
            const float *g = w + ((size_t)oc * C + c) * 9;
            double t[6][3], u[6];
            for (int b = 0; b < 3; b++) {     /* column b of G g */
                g6(u, g[b], g[3 + b], g[6 + b]);
                for (int rr = 0; rr < 6; rr++) t[rr][b] = u[rr];
            }
            for (int rr = 0; rr < 6; rr++) {  /* row rr of (G g) G^T */
                g6(u, t[rr][0], t[rr][1], t[rr][2]);
                for (int s = 0; s < 6; s++) {
                    double ua = 0;
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 3; j++)
                            ua += fabs(G[rr][i]) * fabs(g[3 * i + j]) * fabs(G[s][j]);
                    size_t k = ((size_t)(6 * rr + s) * C + c) * OC + oc;
                    Ub[k] = bf16_round((float)u[s]);
                    Ua[k] = ua;
                }
            }
        }
    double ub = ldexp(1.0, -8), u = ldexp(1.0, -24), n = C + 6;
    double c1 = (1 + ub) * (1 + ub) * (1 + gam(4)) * (1 + u + ldexp(1.0, -50)) * (1 + gam(n)) - 1;
    double c2 = gam(n);
    float *Vb = malloc(sizeof(float) * 36 * (size_t)C);
    double *Va = malloc(sizeof(double) * 36 * (size_t)C);
    double mag_w = 0, mag_d = 0;
    int TH = (H + 3) / 4, TW = (W + 3) / 4;
    for (int b = 0; b < B; b++)
        for (int th = 0; th < TH; th++)
            for (int tw = 0; tw < TW; tw++) {
                tile_vb(Vb, Va, x, H, W, C, b, th, tw);
                wino_tile_ref(r, Vb, Va, Ub, Ua, &AT[0][0], 4, x, w, H, W, C, OC, b, th, tw,
                              c1, c2, &mag_w, &mag_d);
            }
    r->amp = mag_d > 0 ? mag_w / mag_d : 0;
    free(Ub); free(Ua); free(Vb); free(Va);
}

/* The weight gradient in bf16 F(4x4) (VDPBF16PS): dw = G^T dU G,
 *   dU[xi][c][oc] = sum over the T tiles t of bf(V_t[xi][c]) bf(dM_t[xi][oc]),
 * V as for the forward, dM = A dY A^T in fp32 (dout4_transform: a6 on the
 * columns of the 4x4 output-gradient tile, then on the rows; each pass at
 * most 2 roundings per term, so gamma(4) dMa, dMa = |A| |dY| |A^T|), the
 * sum an fp32 chain per batch slice in tile order (VDPBF16PS: at most one
 * rounding per tile), the slices added and G^T dU G formed in double,
 * rounded once to float (G's sixths: the double's own error under 2^-50
 * of the magnitude). With u_b = 2^-8, u = 2^-24 and n = T:
 *   check 1: |dw - exact| <= ((1 + u_b)^2 (1 + gamma(4))^2 (1 + gamma(n))
 *              (1 + u + 2^-50) - 1) sum_xi |G|_a,kh |G|_b,kw sum_t Va dMa
 *   check 2: |dw - dw_b| <= ((1 + gamma(n)) (1 + u + 2^-50) - 1)
 *              sum_xi |G|_a,kh |G|_b,kw sum_t |bf(V) bf(dM)|
 * dw_b the same formula in double from bf(V) and bf(dM) replicated bit for
 * bit (a6 with fmaf, in dout4_transform's order), and the 2^-40 slack. */
static void a6f(float *o, const float *y) {
    float p = y[0] + y[2], q = y[1] + y[3];
    float r = fmaf(4.0f, y[2], y[0]);
    float t = 2.0f * fmaf(4.0f, y[3], y[1]);
    o[0] = y[0];
    o[1] = p + q;
    o[2] = p - q;
    o[3] = r + t;
    o[4] = r - t;
    o[5] = y[3];
}

/* Tile (b, th, tw)'s bf(dM) and dMa for all OC channels of dy [B, H, W,
 * OC]: Mb[xi * OC + oc], Ma[xi * OC + oc]. */
static void tile_mb(float *Mb, double *Ma, const float *dy, int H, int W, int OC, int b,
                    int th, int tw) {
    for (int oc = 0; oc < OC; oc++) {
        float y[4][4], col[4][6];
        for (int a = 0; a < 4; a++)
            for (int c = 0; c < 4; c++) {
                int h = 4 * th + a, ww = 4 * tw + c;
                y[a][c] = h < H && ww < W ? dy[(((size_t)b * H + h) * W + ww) * OC + oc] : 0.0f;
            }
        for (int c = 0; c < 4; c++) {         /* col[c] = A (column c of y) */
            float v[4] = { y[0][c], y[1][c], y[2][c], y[3][c] };
            a6f(col[c], v);
        }
        for (int i = 0; i < 6; i++) {         /* row i of (A y) times A^T */
            float v[4] = { col[0][i], col[1][i], col[2][i], col[3][i] }, d[6];
            a6f(d, v);
            for (int j = 0; j < 6; j++) {
                double a = 0;
                for (int p = 0; p < 4; p++)
                    for (int q = 0; q < 4; q++) a += fabs(AT[p][i]) * fabs(y[p][q]) * fabs(AT[q][j]);
                Mb[(6 * i + j) * OC + oc] = bf16_round(d[j]);
                Ma[(6 * i + j) * OC + oc] = a;
            }
        }
    }
}

/* References for dw [OC, C, 3, 3] of out = conv3x3 pad 1 of x [B, H, W,
 * C] given dy [B, H, W, OC] (dw from zero). */
static void wgrad4_ref(wref *r, const float *x, const float *dy, int B, int H, int W, int C,
                       int OC) {
    size_t np = 36 * (size_t)C * OC;
    wref_alloc(r, (size_t)OC * C * 9);
    double *Sb = calloc(np, sizeof(double)), *Sab = calloc(np, sizeof(double));
    double *Saa = calloc(np, sizeof(double));
    float *Vb = malloc(sizeof(float) * 36 * (size_t)C), *Mb = malloc(sizeof(float) * 36 * (size_t)OC);
    double *Va = malloc(sizeof(double) * 36 * (size_t)C), *Ma = malloc(sizeof(double) * 36 * (size_t)OC);
    int TH = (H + 3) / 4, TW = (W + 3) / 4;
    for (int b = 0; b < B; b++)
        for (int th = 0; th < TH; th++)
            for (int tw = 0; tw < TW; tw++) {
                tile_vb(Vb, Va, x, H, W, C, b, th, tw);
                tile_mb(Mb, Ma, dy, H, W, OC, b, th, tw);
                for (int xi = 0; xi < 36; xi++)
                    for (int c = 0; c < C; c++) {
                        double v = Vb[xi * C + c], va = Va[xi * C + c];
                        size_t k0 = ((size_t)xi * C + c) * OC;
                        for (int oc = 0; oc < OC; oc++) {
                            double p = v * Mb[xi * OC + oc];
                            Sb[k0 + oc] += p;
                            Sab[k0 + oc] += fabs(p);
                            Saa[k0 + oc] += va * Ma[xi * OC + oc];
                        }
                    }
            }
    double ub = ldexp(1.0, -8), u = ldexp(1.0, -24) + ldexp(1.0, -50), n = (double)B * TH * TW;
    double c1 = (1 + ub) * (1 + ub) * (1 + gam(4)) * (1 + gam(4)) * (1 + gam(n)) * (1 + u) - 1;
    double c2 = (1 + gam(n)) * (1 + u) - 1;
    wgrad_put_all(r, Sb, Sab, Saa, &G[0][0], 6, x, dy, B, H, W, C, OC, c1, c2);
    free(Sb); free(Sab); free(Saa); free(Vb); free(Mb); free(Va); free(Ma);
}

/* Partial last tiles (7x5, 6x10, 3x3, 16x18), one tile (4x4), reductions
 * of 16 to 256 channels, NB 16 (OC 48) and 32; shape 6's 320 tiles make
 * four forward blocks (84 tiles each, the last 68). */
static const int shapes[][5] = {   /* B, H, W, C, OC */
    {2, 8, 8, 16, 16}, {1, 7, 5, 32, 48}, {2, 4, 4, 64, 32}, {1, 3, 3, 16, 64},
    {3, 6, 10, 48, 32}, {2, 16, 18, 32, 64}, {20, 16, 16, 32, 32}, {1, 8, 8, 256, 256},
};
#define NSH (int)(sizeof shapes / sizeof shapes[0])

static void test_kernels(void) {
    part_worst pf = {0}, pd = {0}, pw = {0};
    int bad = 0, bits = 1, f4 = 1, fails_drop = 1, fails_fp32 = 1, fp32_acc = 1, fails_f2 = 1;
    int wbits = 1, wtried = 0, wfails_pair = 1, wfails_fp32 = 1, wfp32_acc = 1, wfails_f2 = 1;
    char what[200] = "";
    for (int si = 0; si < NSH; si++) {
        int B = shapes[si][0], H = shapes[si][1], W = shapes[si][2], C = shapes[si][3],
            OC = shapes[si][4];
        conv_shape s, t;
        conv_shape_init(&s, B, H, W, C, OC, 3, 3, 1, 1);
        s.winograd = CONV_WINOGRAD_ALWAYS_F4;
        s.prec = PREC_BF16;
        cd_bwd_data_shape(&t, &s);
        f4 &= wg_packed_size(&s) == 36 * (int64_t)C * OC && wg_packed_size(&t) == 36 * (int64_t)C * OC;
        size_t nx = (size_t)B * H * W * C, ny = (size_t)B * H * W * OC, nw = (size_t)OC * C * 9;
        float *x = rnd(nx), *w = rnd(nw), *dy = rnd(ny);
        float *ws = malloc(sizeof(float) * (size_t)conv2d_workspace(&s));
        float *y = malloc(sizeof(float) * ny), *y1 = malloc(sizeof(float) * ny);
        float *y3 = malloc(sizeof(float) * ny), *din = malloc(sizeof(float) * nx);
        float *din1 = malloc(sizeof(float) * nx), *dw = calloc(nw, sizeof(float));
        /* forward */
        wref r;
        wino4_ref(&r, x, w, B, H, W, C, OC);
        conv2d_forward(y, x, w, NULL, &s, ws);
        note_part(&pf, 1, "forward", y, &r, ny, &bad, what, sizeof what, B, H, W, C, OC);
        bits &= forward_same_bits(y, x, w, &s, ws, y1, y3, ny);
        /* perturbations: the last input channel dropped; the fp32 F(4x4)
         * kernel; the bf16 F(2x2) kernel */
        float *xz = malloc(sizeof(float) * nx);
        memcpy(xz, x, sizeof(float) * nx);
        for (size_t i = C - 1; i < nx; i += C) xz[i] = 0;
        conv2d_forward(y1, xz, w, NULL, &s, ws);
        fails_drop &= worst(y1, r.ref_b, r.bound2, ny) > 1;
        s.prec = PREC_FP32;
        conv2d_forward(y1, x, w, NULL, &s, ws);
        fails_fp32 &= worst(y1, r.ref_b, r.bound2, ny) > 1;
        fp32_acc &= worst(y1, r.exact, r.bound1, ny) <= 1;
        s.prec = PREC_BF16;
        s.winograd = CONV_WINOGRAD_ALWAYS;
        conv2d_forward(y1, x, w, NULL, &s, ws);
        fails_f2 &= worst(y1, r.ref_b, r.bound2, ny) > 1;
        s.winograd = CONV_WINOGRAD_ALWAYS_F4;
        wref_free(&r);
        /* backward-data: the forward of the transposed, flipped kernel over dy */
        float *wt = malloc(sizeof(float) * nw);
        flip_weights(wt, w, OC, C);
        wino4_ref(&r, dy, wt, B, H, W, OC, C);
        conv2d_backward(din, dw, NULL, dy, x, w, &s, 0, ws);
        note_part(&pd, 0, "backward-data", din, &r, nx, &bad, what, sizeof what, B, H, W, C, OC);
        float *dw1 = calloc(nw, sizeof(float)), *dw3 = calloc(nw, sizeof(float));
        ssl_set_threads(3);
        conv2d_backward(din1, dw3, NULL, dy, x, w, &s, 0, ws);
        ssl_set_threads(1);
        conv2d_backward(NULL, dw1, NULL, dy, x, w, &s, 0, ws);
        ssl_set_threads(2);
        bits &= !memcmp(din, din1, sizeof(float) * nx);
        wbits &= !memcmp(dw, dw1, sizeof(float) * nw) && !memcmp(dw, dw3, sizeof(float) * nw);
        wref_free(&r);
        /* the weight gradient */
        wgrad4_ref(&r, x, dy, B, H, W, C, OC);
        note_part(&pw, 1, "weight gradient", dw, &r, nw, &bad, what, sizeof what, B, H, W, C, OC);
        /* perturbations where check 2 sees them (T <= 512: its bound grows
         * as T^2 2^-24 |p|): dy's first two tiles zeroed (a pair of the
         * reduction); the fp32 F(4x4) and the bf16 F(2x2) weight gradients */
        int T = B * ((H + 3) / 4) * ((W + 3) / 4);
        if (T <= 512) {
            float *dyz = malloc(sizeof(float) * ny);
            zero_first_tiles(dyz, dy, B, H, W, OC, 4, 2);
            memset(dw1, 0, sizeof(float) * nw);
            conv2d_backward(NULL, dw1, NULL, dyz, x, w, &s, 0, ws);
            wfails_pair &= worst(dw1, r.ref_b, r.bound2, nw) > 1;
            s.prec = PREC_FP32;
            memset(dw1, 0, sizeof(float) * nw);
            conv2d_backward(NULL, dw1, NULL, dy, x, w, &s, 0, ws);
            wfails_fp32 &= worst(dw1, r.ref_b, r.bound2, nw) > 1;
            wfp32_acc &= worst(dw1, r.exact, r.bound1, nw) <= 1;
            s.prec = PREC_BF16;
            s.winograd = CONV_WINOGRAD_ALWAYS;
            memset(dw1, 0, sizeof(float) * nw);
            conv2d_backward(NULL, dw1, NULL, dy, x, w, &s, 0, ws);
            wfails_f2 &= worst(dw1, r.ref_b, r.bound2, nw) > 1;
            s.winograd = CONV_WINOGRAD_ALWAYS_F4;
            wtried++;
            free(dyz);
        }
        wref_free(&r);
        free(dw1); free(dw3);
        free(x); free(w); free(dy); free(ws); free(y); free(y1); free(y3); free(din);
        free(din1); free(dw); free(xz); free(wt);
    }
    T_OK(f4, "bf16 F(4x4): ALWAYS_F4 packs 36 planes for the forward and backward-data");
    t_report(!bad, "bf16 F(4x4): forward, backward-data and weight gradient within both bounds",
             "%s", what);
    printf("  (worst error / bound: forward %.3g accuracy, %.3g exactness; backward-data %.3g, "
           "%.3g; Winograd's amplification of the bound's magnitude at most %.3g; worst error "
           "%.3g of the largest output)\n", pf.acc, pf.exact, pd.acc, pd.exact, pf.amp, pf.rel);
    T_OK(bits, "bf16 F(4x4): 1, 2 and 3 threads give the same bits (forward, backward-data)");
    T_OK(fails_drop, "bf16 F(4x4) check: a product missing the last input channel fails");
    T_OK(fails_fp32 && fp32_acc,
         "bf16 F(4x4) check: the fp32 F(4x4) kernel fails the exactness check and passes the "
         "accuracy check");
    T_OK(fails_f2, "bf16 F(4x4) check: the bf16 F(2x2) kernel fails the exactness check");
    printf("  (weight gradient: worst error / bound %.3g accuracy, %.3g exactness; Winograd's "
           "amplification at most %.3g; worst error %.3g of the largest)\n", pw.acc, pw.exact,
           pw.amp, pw.rel);
    T_OK(wbits, "bf16 F(4x4) weight gradient: 1, 2 and 3 threads give the same bits");
    T_OK(wtried && wfails_pair,
         "bf16 F(4x4) weight-gradient check: a sum missing a pair of tiles fails");
    T_OK(wtried && wfails_fp32 && wfp32_acc,
         "bf16 F(4x4) weight-gradient check: the fp32 F(4x4) kernel fails the exactness check "
         "and passes the accuracy check");
    T_OK(wtried && wfails_f2,
         "bf16 F(4x4) weight-gradient check: the bf16 F(2x2) kernel fails the exactness check");
}

/* Under AUTO: F(4x4) (36 planes) for a bf16 shape where fp32 takes it, up
 * to 256 channels; F(2x2) (16) at 512 channels and for 5x5 images
 * (padding eats the gain). (wg_packed_size holds either unit's path: 36
 * planes where VDPBF16PS would take F(4x4), AMX or not.) */
static void test_policy(void) {
    static const int sh[][4] = {   /* H, C, OC, planes */
        {8, 64, 64, 36}, {4, 128, 128, 36}, {16, 32, 256, 36}, {4, 512, 512, 16},
        {4, 256, 512, 16}, {5, 64, 64, 16}, {28, 16, 16, 36},
    };
    int ok = 1;
    char what[120] = "";
    for (int i = 0; i < (int)(sizeof sh / sizeof sh[0]); i++) {
        conv_shape s;
        conv_shape_init(&s, 4, sh[i][0], sh[i][0], sh[i][1], sh[i][2], 3, 3, 1, 1);
        s.prec = PREC_BF16;
        if (wg_packed_size(&s) != sh[i][3] * (int64_t)sh[i][1] * sh[i][2] && ok) {
            ok = 0;
            snprintf(what, sizeof what, "%dx%d, C %d, OC %d: not %d planes", sh[i][0], sh[i][0],
                     sh[i][1], sh[i][2], sh[i][3]);
        }
    }
    t_report(ok, "bf16 F(4x4) policy under AUTO on VDPBF16PS", "%s", what);
}

int main(void) {
    rng_init(&R, 17, 3, 0);
    ssl_set_threads(2);
#ifndef __AVX512F__
    printf("SKIP: conv bf16 F(4x4): no Winograd kernels in this build (no AVX-512)\n");
    return t_done();
#endif
    if (!gemm_bf16_available()) {
        printf("SKIP: conv bf16 F(4x4): this CPU has no AVX512-BF16\n");
        return t_done();
    }
    gemm_bf16_set_amx(0);
    test_kernels();
    test_policy();
    gemm_bf16_set_amx(1);
    if (gemm_bf16_amx()) {
        /* on AMX ALWAYS_F4 in bf16 runs F(2x2): ALWAYS's bits */
        conv_shape s;
        conv_shape_init(&s, 2, 8, 8, 64, 64, 3, 3, 1, 1);
        s.prec = PREC_BF16;
        size_t nx = (size_t)2 * 8 * 8 * 64, nw = (size_t)64 * 64 * 9;
        float *x = rnd(nx), *w = rnd(nw), *y2 = malloc(sizeof(float) * nx);
        float *y4 = malloc(sizeof(float) * nx);
        float *ws = malloc(sizeof(float) * (size_t)conv2d_workspace(&s));
        s.winograd = CONV_WINOGRAD_ALWAYS;
        conv2d_forward(y2, x, w, NULL, &s, ws);
        s.winograd = CONV_WINOGRAD_ALWAYS_F4;
        conv2d_forward(y4, x, w, NULL, &s, ws);
        T_OK(wg_amx(&s) && !memcmp(y2, y4, sizeof(float) * nx),
             "bf16 on AMX: ALWAYS_F4 runs F(2x2) on the tile unit");
        free(x); free(w); free(y2); free(y4); free(ws);
    } else {
        printf("SKIP: bf16 F(4x4) on AMX: no AMX-BF16 on this CPU or no permission from the "
               "kernel\n");
    }
    gemm_bf16_set_amx(-1);
    return t_done();
}
