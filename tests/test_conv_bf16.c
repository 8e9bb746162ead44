/* test_conv_bf16.c: the convolutions in bf16 (a conv_shape's prec
 * PREC_BF16): the Winograd F(2x2, 3x3) forward and backward-data products
 * with bf16 inputs and fp32 sums (lib/nn/ops/conv_winograd.c), against
 * double-precision references; then a whole network's forward and
 * backward in bf16 against fp32.
 *
 * The kernel computes, per 2x2 output tile and output channel,
 *   Y = A^T M A,  M[xi] = sum_c bf(V[xi][c]) bf(U[xi][c]),
 *   V = B^T d B (fp32: each element two fp32 additions of input values),
 *   U = G g G^T (in double, rounded to float),
 * bf() the rounding to bf16 (bf16_round: 8 significant bits, u_b = 2^-8).
 * Two tolerances per output element, as in test_gemm_bf16.c.
 *
 * 1. Accuracy, against the exact convolution (the direct sum in double).
 *    Write |X| for the transform of the absolute values: Va = |B^T| |d| |B|
 *    >= |V| and Ua = |G| |g| |G^T| >= |U|. V's two fp32 additions err by at
 *    most gamma(2) Va, U's rounding to float by u |U| (u = 2^-24), each bf
 *    by u_b of its input, and a product of two bf16 is exact in fp32, so
 *    bf(V) bf(U) = V U + e with |e| <= ((1 + u_b)^2 (1 + gamma(2)) (1 + u) - 1) Va Ua.
 *    M's fp32 chain (VDPBF16PS or AMX's TDPBF16PS: two roundings per
 *    channel pair, one chain over all C) and the
 *    output transform's sums (at most 4 roundings per term of Y) put every
 *    term through at most n = C + 6 roundings more, so
 *      |Y - exact| <= ((1 + u_b)^2 (1 + gamma(2)) (1 + u) (1 + gamma(n)) - 1)
 *                     sum_xi |A^T|_i |A^T|_j sum_c Va Ua.
 *    The sum on the right is what Winograd's transforms make of the
 *    direct method's sum |x| |w| (printed: "amplification").
 * 2. Exactness of the kernel, against the same formula evaluated in
 *    double from bf(V) and bf(U) replicated exactly (V's fp32 additions as
 *    the kernel does them, U rounded to float then bf16): only the fp32
 *    sums remain,
 *      |Y - Y_b| <= gamma(C + 6) sum_xi |A^T|_i |A^T|_j sum_c |bf(V) bf(U)|,
 *    about C 2^-24, 2^16 times tighter than check 1.
 * Both references carry a slack of 2^-40 of their magnitude (the double
 * sums' own error).
 *
 * All of it runs twice: on VDPBF16PS (gemm_bf16_set_amx(0)) and, where
 * the CPU has it, on AMX.
 *
 * The weight gradient is bf16 on AMX only (on VDPBF16PS it must be
 * fp32's, bit for bit). Its product is over the batch's tiles, not the
 * channels: the same two checks with the reduction length T (the tile
 * count) in place of C, derived next to wgrad_ref below; and the same
 * bits at 1, 2 and 3 threads. Its checks can fail too: dy with its first
 * two tiles zeroed (a pair of the reduction's bf16 words dropped) fails
 * check 2 where T <= 512 (beyond, check 2's bound, about T^2 2^-24 |p|,
 * is wider than two tiles' share), dy with its first 32 tiles zeroed (a
 * k block) fails it where T >= 64, and the fp32 kernel fails check 2
 * (where T <= 512) and passes check 1.
 * The checks can fail: the kernel run on an input whose last channel is
 * zeroed (one channel's products dropped) fails check 2, as does one
 * whose first 32 channels are (an AMX block of the reduction); the fp32
 * Winograd kernel's result fails check 2 (it rounds nothing) and passes
 * check 1.
 *
 * Whole network (a CIFAR ResNet-18 of width 0.25 with an mlp3 head, 16x16
 * inputs, batch 8, BN in training mode): bf16 against fp32. The bounds
 * above do not compose into a useful network bound (they are worst cases,
 * and each layer's BatchNorm divides by a batch statistic of the
 * perturbed values), so the yardstick is PyTorch's own mixed precision on
 * the same configuration: torch.autocast('cpu', dtype=torch.bfloat16)
 * (torch 1.13, examples/ssl_resnet.py's module, seeds 0-2) puts the output
 * 0.056-0.071 of its largest element away from fp32, and the whole
 * gradient (all tensors, relative L2 norm) 0.33-0.45 away: a batch of 8
 * makes the BatchNorm parameters' gradients sums with heavy cancellation.
 * Ours measured 0.061 and 0.56 when only its data gradients went through
 * the bf16 Winograd products, 0.055 and 0.41 on AMX with the Winograd
 * weight gradients in bf16 too (other random inputs). The test asks for
 * the output within 2^-3 (about twice PyTorch's worst) and the gradient
 * within 0.9 in L2 (twice PyTorch's worst; 1 would be a zero or
 * unrelated gradient): they catch a broken layer, a wrong sign or a
 * missing term, not a rounding difference. That network's output and
 * gradients must also be the same bits at 1, 2 and 3 threads.
 *
 * Policy: conv_bf16_prec gives the Winograd shapes with 16 input or
 * output channels fp32 (bf16 measured slower there), the others bf16, and
 * net_set_precision follows it layer by layer (net_conv_prec); fp32 sets
 * every layer back. */
#include <float.h>
#include <stdint.h>

#include "nn/net.h"
#include "nn/ops/conv_winograd.h"
#include "nn/ops/ops.h"
#include "t.h"
#include "util/rng.h"
#include "util/threads.h"

static rng R;

static float *rnd(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)(2 * rng_uniform(&R) - 1);
    return p;
}

static double gam(double n) {
    double u = ldexp(1.0, -24);
    return n * u / (1 - n * u);
}

static const double BT[4][4] = { {1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1} };
static const double G[4][3] = { {1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1} };
static const double AT[2][4] = { {1, 1, 1, 0}, {0, 1, -1, -1} };

/* One fp32 addition of the two non-zero terms of row r of B^T applied to
 * a, b, c, d: what the kernel's col_bt and its row step compute. */
static float bt_row(int r, float a, float b, float c, float d) {
    switch (r) {
    case 0: return a - c;
    case 1: return b + c;
    case 2: return c - b;
    default: return b - d;
    }
}

/* Tile (b, th, tw)'s V = B^T d B at channel c of x [B, H, W, C] as the
 * kernel computes it in fp32 (columns first, rows of d combined, then
 * rows), and Va = |B^T| |d| |B|. */
static void tile_v(float *v, double *va, const float *x, int H, int W, int C, int b, int th,
                   int tw, int c) {
    float d[4][4], cc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            int h = 2 * th - 1 + i, ww = 2 * tw - 1 + j;
            d[i][j] = h >= 0 && h < H && ww >= 0 && ww < W
                          ? x[(((size_t)b * H + h) * W + ww) * C + c] : 0.0f;
        }
    for (int rr = 0; rr < 4; rr++)
        for (int j = 0; j < 4; j++)
            cc[rr][j] = bt_row(rr, d[0][j], d[1][j], d[2][j], d[3][j]);
    for (int rr = 0; rr < 4; rr++)
        for (int s = 0; s < 4; s++) {
            double a = 0;
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) a += fabs(BT[rr][i]) * fabs(d[i][j]) * fabs(BT[s][j]);
            v[4 * rr + s] = bt_row(s, cc[rr][0], cc[rr][1], cc[rr][2], cc[rr][3]);
            va[4 * rr + s] = a;
        }
}

/* tile_v for all C channels: Vb[xi * C + c] = bf(V), Va[xi * C + c]. */
static void tile_vb(float *Vb, double *Va, const float *x, int H, int W, int C, int b, int th,
                    int tw) {
    for (int c = 0; c < C; c++) {
        float v[16];
        double va[16];
        tile_v(v, va, x, H, W, C, b, th, tw, c);
        for (int xi = 0; xi < 16; xi++) {
            Vb[xi * C + c] = bf16_round(v[xi]);
            Va[xi * C + c] = va[xi];
        }
    }
}

typedef struct {
    double *exact, *bound1;       /* check 1 */
    double *ref_b, *bound2;       /* check 2 */
    double amp;                   /* sum of check 1's magnitudes / direct sum |x||w| */
} wref;

/* Element o of the references: the exact value, check 1's bound c1 m1,
 * the bf16 replica, check 2's bound c2 m2, each bound with the slack of
 * the double sums, 2^-40 of its magnitude m. */
static void wref_put(wref *r, size_t o, double exact, double c1, double m1, double ref_b,
                     double c2, double m2) {
    r->exact[o] = exact;
    r->bound1[o] = c1 * m1 + ldexp(m1, -40);
    r->ref_b[o] = ref_b;
    r->bound2[o] = c2 * m2 + ldexp(m2, -40);
}

/* References for out [B, H, W, OC] = conv3x3 pad 1 of x [B, H, W, C] with
 * w [OC, C, 3, 3]. */
static void wino_ref(wref *r, const float *x, const float *w, int B, int H, int W, int C,
                     int OC) {
    size_t no = (size_t)B * H * W * OC;
    r->exact = calloc(no, sizeof(double));
    r->bound1 = calloc(no, sizeof(double));
    r->ref_b = calloc(no, sizeof(double));
    r->bound2 = calloc(no, sizeof(double));
    /* U: float (as packed), its bf16, and Ua */
    float *Ub = malloc(sizeof(float) * 16 * (size_t)C * OC);
    double *Ua = malloc(sizeof(double) * 16 * (size_t)C * OC);
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++) {
            const float *g = w + ((size_t)oc * C + c) * 9;
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++) {
                    double u = 0, ua = 0;
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 3; j++) {
                            u += G[a][i] * g[3 * i + j] * G[b][j];
                            ua += fabs(G[a][i]) * fabs(g[3 * i + j]) * fabs(G[b][j]);
                        }
                    size_t k = ((size_t)(4 * a + b) * C + c) * OC + oc;
                    Ub[k] = bf16_round((float)u);
                    Ua[k] = ua;
                }
        }
    double ub = ldexp(1.0, -8), u = ldexp(1.0, -24), n = C + 6;
    double c1 = (1 + ub) * (1 + ub) * (1 + gam(2)) * (1 + u) * (1 + gam(n)) - 1, c2 = gam(n);
    float *Vb = malloc(sizeof(float) * 16 * (size_t)C);
    double *Va = malloc(sizeof(double) * 16 * (size_t)C);
    double mag_w = 0, mag_d = 0;
    int TH = (H + 1) / 2, TW = (W + 1) / 2;
    for (int b = 0; b < B; b++)
        for (int th = 0; th < TH; th++)
            for (int tw = 0; tw < TW; tw++) {
                tile_vb(Vb, Va, x, H, W, C, b, th, tw);
                for (int oc = 0; oc < OC; oc++) {
                    double Mb[16], Mab[16], Maa[16];
                    for (int xi = 0; xi < 16; xi++) {
                        double m = 0, ma = 0, maa = 0;
                        for (int c = 0; c < C; c++) {
                            size_t k = ((size_t)xi * C + c) * OC + oc;
                            double p = (double)Vb[xi * C + c] * Ub[k];
                            m += p;
                            ma += fabs(p);
                            maa += Va[xi * C + c] * Ua[k];
                        }
                        Mb[xi] = m; Mab[xi] = ma; Maa[xi] = maa;
                    }
                    for (int i = 0; i < 2; i++)
                        for (int j = 0; j < 2; j++) {
                            int h = 2 * th + i, ww = 2 * tw + j;
                            if (h >= H || ww >= W) continue;
                            double y = 0, yb = 0, ya = 0;
                            for (int rr = 0; rr < 4; rr++)
                                for (int s = 0; s < 4; s++) {
                                    double a = AT[i][rr] * AT[j][s];
                                    y += a * Mb[4 * rr + s];
                                    yb += fabs(a) * Mab[4 * rr + s];
                                    ya += fabs(a) * Maa[4 * rr + s];
                                }
                            /* the exact convolution, directly */
                            double e = 0, ea = 0;
                            for (int c = 0; c < C; c++)
                                for (int kh = 0; kh < 3; kh++)
                                    for (int kw = 0; kw < 3; kw++) {
                                        int ih = h - 1 + kh, iw = ww - 1 + kw;
                                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                        double t = (double)x[(((size_t)b * H + ih) * W + iw) * C + c] *
                                                   w[(((size_t)oc * C + c) * 3 + kh) * 3 + kw];
                                        e += t;
                                        ea += fabs(t);
                                    }
                            wref_put(r, (((size_t)b * H + h) * W + ww) * OC + oc, e, c1, ya, y,
                                     c2, yb);
                            mag_w += ya;
                            mag_d += ea;
                        }
                }
            }
    r->amp = mag_d > 0 ? mag_w / mag_d : 0;
    free(Ub); free(Ua); free(Vb); free(Va);
}

/* Tile (b, th, tw)'s dM = A dY A^T at output channel oc of dy [B, H, W,
 * OC] as the kernel's dout_transform computes it in fp32 (A = [1 0; 1 1;
 * 1 -1; 0 -1]: rows of A dY first, then each times A^T; outputs outside
 * the image zero), and dMa = |A| |dY| |A^T|. */
static void tile_dm(float *m, double *ma, const float *dy, int H, int W, int OC, int b, int th,
                    int tw, int oc) {
    static const double A[4][2] = { {1, 0}, {1, 1}, {1, -1}, {0, -1} };
    float y[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            int h = 2 * th + i, ww = 2 * tw + j;
            y[i][j] = h < H && ww < W ? dy[(((size_t)b * H + h) * W + ww) * OC + oc] : 0.0f;
        }
    float e[4][2] = { { y[0][0], y[0][1] }, { y[0][0] + y[1][0], y[0][1] + y[1][1] },
                      { y[0][0] - y[1][0], y[0][1] - y[1][1] }, { 0 - y[1][0], 0 - y[1][1] } };
    for (int i = 0; i < 4; i++) {
        m[4 * i] = e[i][0];
        m[4 * i + 1] = e[i][0] + e[i][1];
        m[4 * i + 2] = e[i][0] - e[i][1];
        m[4 * i + 3] = 0 - e[i][1];
        for (int j = 0; j < 4; j++) {
            double a = 0;
            for (int p = 0; p < 2; p++)
                for (int q = 0; q < 2; q++) a += fabs(A[i][p]) * fabs(y[p][q]) * fabs(A[j][q]);
            ma[4 * i + j] = a;
        }
    }
}

/* References for the weight gradient dw [OC, C, 3, 3] of out = conv3x3
 * pad 1 of x [B, H, W, C], given dy [B, H, W, OC] (dw starting at zero).
 * The kernel on AMX computes dw = G^T dU G, dU[xi][c][oc] = sum over the
 * T tiles t of bf(V_t[xi][c]) bf(dM_t[xi][oc]), V as for the forward,
 * dM = A dY A^T (each element at most two fp32 additions deep, as V's),
 * the sum an fp32 chain per batch slice in tile order (TDPBF16PS: one
 * rounding per product), the slices added and G^T dU G formed in double,
 * rounded once to float. So, as for the forward (u_b = 2^-8, u = 2^-24,
 * n = T the longest chain),
 *   check 1: |dw - exact| <= ((1 + u_b)^2 (1 + gamma(2))^2 (1 + gamma(n)) (1 + u) - 1)
 *              sum_xi |G|_a,kh |G|_b,kw sum_t Va dMa
 *   check 2: |dw - dw_b| <= ((1 + gamma(n)) (1 + u) - 1)
 *              sum_xi |G|_a,kh |G|_b,kw sum_t |bf(V) bf(dM)|
 * with dw_b the same formula in double from bf(V) and bf(dM) replicated
 * exactly, and the 2^-40 slack of the double sums. The reduction is over
 * tiles, not channels: T is B ceil(H/2) ceil(W/2), so check 2 is about
 * T 2^-24 of the magnitude; a dropped pair of tiles moves a result by
 * about 2/T of it. */
static void wgrad_ref(wref *r, const float *x, const float *dy, int B, int H, int W, int C,
                      int OC) {
    size_t nw = (size_t)OC * C * 9, np = 16 * (size_t)C * OC;
    r->exact = calloc(nw, sizeof(double));
    r->bound1 = calloc(nw, sizeof(double));
    r->ref_b = calloc(nw, sizeof(double));
    r->bound2 = calloc(nw, sizeof(double));
    double *Sb = calloc(np, sizeof(double)), *Sab = calloc(np, sizeof(double));
    double *Saa = calloc(np, sizeof(double));
    float *Vb = malloc(sizeof(float) * 16 * (size_t)C), *Mb = malloc(sizeof(float) * 16 * (size_t)OC);
    double *Va = malloc(sizeof(double) * 16 * (size_t)C), *Ma = malloc(sizeof(double) * 16 * (size_t)OC);
    int TH = (H + 1) / 2, TW = (W + 1) / 2;
    for (int b = 0; b < B; b++)
        for (int th = 0; th < TH; th++)
            for (int tw = 0; tw < TW; tw++) {
                tile_vb(Vb, Va, x, H, W, C, b, th, tw);
                for (int oc = 0; oc < OC; oc++) {
                    float m[16];
                    double ma[16];
                    tile_dm(m, ma, dy, H, W, OC, b, th, tw, oc);
                    for (int xi = 0; xi < 16; xi++) {
                        Mb[xi * OC + oc] = bf16_round(m[xi]);
                        Ma[xi * OC + oc] = ma[xi];
                    }
                }
                for (int xi = 0; xi < 16; xi++)
                    for (int c = 0; c < C; c++) {
                        double v = Vb[xi * C + c], va = Va[xi * C + c];
                        double *sb = Sb + ((size_t)xi * C + c) * OC, *sab = Sab + (sb - Sb);
                        double *saa = Saa + (sb - Sb);
                        const float *m = Mb + xi * OC;
                        const double *ma = Ma + xi * OC;
                        for (int oc = 0; oc < OC; oc++) {
                            double p = v * m[oc];
                            sb[oc] += p;
                            sab[oc] += fabs(p);
                            saa[oc] += va * ma[oc];
                        }
                    }
            }
    double ub = ldexp(1.0, -8), u = ldexp(1.0, -24), n = (double)B * TH * TW;
    double c1 = (1 + ub) * (1 + ub) * (1 + gam(2)) * (1 + gam(2)) * (1 + gam(n)) * (1 + u) - 1;
    double c2 = (1 + gam(n)) * (1 + u) - 1, mag_w = 0, mag_d = 0;
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) {
                    double y = 0, yb = 0, ya = 0;
                    for (int a = 0; a < 4; a++)
                        for (int bb = 0; bb < 4; bb++) {
                            double g = G[a][kh] * G[bb][kw];
                            size_t k = ((size_t)(4 * a + bb) * C + c) * OC + oc;
                            y += g * Sb[k];
                            yb += fabs(g) * Sab[k];
                            ya += fabs(g) * Saa[k];
                        }
                    double e = 0, ea = 0;
                    for (int b = 0; b < B; b++)
                        for (int h = 0; h < H; h++)
                            for (int ww = 0; ww < W; ww++) {
                                int ih = h - 1 + kh, iw = ww - 1 + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                double t = (double)x[(((size_t)b * H + ih) * W + iw) * C + c] *
                                           dy[(((size_t)b * H + h) * W + ww) * OC + oc];
                                e += t;
                                ea += fabs(t);
                            }
                    wref_put(r, (((size_t)oc * C + c) * 3 + kh) * 3 + kw, e, c1, ya, y, c2, yb);
                    mag_w += ya;
                    mag_d += ea;
                }
    r->amp = mag_d > 0 ? mag_w / mag_d : 0;
    free(Sb); free(Sab); free(Saa); free(Vb); free(Mb); free(Va); free(Ma);
}

static void wref_free(wref *r) { free(r->exact); free(r->bound1); free(r->ref_b); free(r->bound2); }

static double worst(const float *y, const double *ref, const double *bound, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(y[i] - ref[i]), r = e == 0 ? 0 : bound[i] > 0 ? e / bound[i] : INFINITY;
        if (!(r <= w)) w = isnan(r) ? INFINITY : r;
    }
    return w;
}

/* largest |y - exact| over largest |exact| */
static double rel_max(const float *y, const double *exact, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(y[i] - exact[i]);
        if (!(d <= e)) e = d;
        if (fabs(exact[i]) > m) m = fabs(exact[i]);
    }
    return m > 0 ? e / m : e;
}

/* On AMX the reductions (C forward, OC backward-data) of 16 and 48 take a
 * last block of 32 channels half zero, and tile counts that are not
 * multiples of 16 (12, 18, 9, 60) rows of zeros; shape 6's 144 tiles make
 * two forward blocks on either unit (84 + 60 on VDPBF16PS, 96 + 48 on
 * AMX) and two backward-data blocks (84 + 60, 128 + 16). The weight
 * gradient's reduction is over tiles (k blocks of 32, the last of 12, 8,
 * 4, 45, 144 tiles partial); shape 5's three input groups leave one
 * without a partner in the 2 x 2 register tile; shape 7 cuts its 256 x
 * 128 channels into 4 x 2 tasks; shape 8's 5120 tiles make four slices of
 * 1280, each two blocks (1024 + 256). */
/* t_report named "label: name". */
static void rep(int ok, const char *label, const char *name, const char *detail) {
    char full[200];
    snprintf(full, sizeof full, "%s: %s", label, name);
    t_report(ok, full, "%s", detail);
}

static const int shapes[][5] = {   /* B, H, W, C, OC */
    {2, 8, 8, 16, 16}, {1, 7, 5, 32, 48}, {2, 4, 4, 64, 32}, {1, 3, 3, 16, 64}, {3, 6, 10, 48, 32},
    {2, 16, 18, 32, 64}, {1, 8, 8, 256, 128}, {20, 32, 32, 16, 16},
};
#define NSH (int)(sizeof shapes / sizeof shapes[0])

/* The checks below for the unit gemm_bf16_amx() selects (label: its
 * name); amx: every shape's products must then run on AMX (wg_amx), else
 * none may. */
static void test_kernels(const char *label, int amx) {
    double w1f = 0, w2f = 0, w1d = 0, w2d = 0, amp = 0, relw = 0;
    int bad = 0, dw_same = 1, bits = 1, fails_drop = 1, fails_fp32 = 1, fp32_acc = 1;
    int unit = 1, fails_kb = 1, kb_tried = 0;
    double w1w = 0, w2w = 0, ampw = 0, relww = 0;
    int wfails_pair = 1, wpair_tried = 0, wfails_kb = 1, wkb_tried = 0, wfails_fp32 = 1;
    int wfp32_acc = 1;
    char what[200] = "";
    for (int si = 0; si < NSH; si++) {
        int B = shapes[si][0], H = shapes[si][1], W = shapes[si][2], C = shapes[si][3],
            OC = shapes[si][4];
        conv_shape s;
        conv_shape_init(&s, B, H, W, C, OC, 3, 3, 1, 1);
        s.winograd = CONV_WINOGRAD_ALWAYS;
        s.prec = PREC_BF16;
        size_t nx = (size_t)B * H * W * C, ny = (size_t)B * H * W * OC, nw = (size_t)OC * C * 9;
        float *x = rnd(nx), *w = rnd(nw), *dy = rnd(ny);
        float *ws = malloc(sizeof(float) * (size_t)conv2d_workspace(&s));
        float *y = malloc(sizeof(float) * ny), *din = malloc(sizeof(float) * nx);
        /* forward */
        wref r;
        wino_ref(&r, x, w, B, H, W, C, OC);
        conv2d_forward(y, x, w, NULL, &s, ws);
        double a = worst(y, r.exact, r.bound1, ny), b = worst(y, r.ref_b, r.bound2, ny);
        double rl = rel_max(y, r.exact, ny);
        if (rl > relw) relw = rl;
        if (a > w1f) w1f = a;
        if (b > w2f) w2f = b;
        if (r.amp > amp) amp = r.amp;
        if (!(a <= 1 && b <= 1) && !bad++)
            snprintf(what, sizeof what, "forward %dx%dx%dx%d -> %d: %.3g, %.3g x bounds", B, H, W,
                     C, OC, a, b);
        /* threads */
        float *y1 = malloc(sizeof(float) * ny), *y3 = malloc(sizeof(float) * ny);
        ssl_set_threads(1);
        conv2d_forward(y1, x, w, NULL, &s, ws);
        ssl_set_threads(3);
        conv2d_forward(y3, x, w, NULL, &s, ws);
        ssl_set_threads(2);
        bits &= !memcmp(y, y1, sizeof(float) * ny) && !memcmp(y, y3, sizeof(float) * ny);
        /* perturbations: the last input channel dropped; the fp32 kernel */
        float *xz = malloc(sizeof(float) * nx);
        memcpy(xz, x, sizeof(float) * nx);
        for (size_t i = C - 1; i < nx; i += C) xz[i] = 0;
        conv2d_forward(y1, xz, w, NULL, &s, ws);
        fails_drop &= worst(y1, r.ref_b, r.bound2, ny) > 1;
        /* a k block dropped: what a tile loop starting at the second block
         * of 32 channels would give */
        unit &= wg_amx(&s) == amx;
        if (C % 32 == 0) {
            memcpy(xz, x, sizeof(float) * nx);
            for (size_t i = 0; i < nx; i += C) memset(xz + i, 0, 32 * sizeof(float));
            conv2d_forward(y1, xz, w, NULL, &s, ws);
            fails_kb &= worst(y1, r.ref_b, r.bound2, ny) > 1;
            kb_tried++;
        }
        s.prec = PREC_FP32;
        conv2d_forward(y1, x, w, NULL, &s, ws);
        fails_fp32 &= worst(y1, r.ref_b, r.bound2, ny) > 1;
        fp32_acc &= worst(y1, r.exact, r.bound1, ny) <= 1;
        s.prec = PREC_BF16;
        wref_free(&r);
        /* backward-data: the forward of the transposed, flipped kernel over dy */
        float *wt = malloc(sizeof(float) * nw);
        for (int oc = 0; oc < OC; oc++)
            for (int c = 0; c < C; c++)
                for (int k = 0; k < 9; k++)
                    wt[((size_t)c * OC + oc) * 9 + k] = w[((size_t)oc * C + c) * 9 + 8 - k];
        wino_ref(&r, dy, wt, B, H, W, OC, C);
        float *dw = calloc(nw, sizeof(float)), *dw32 = calloc(nw, sizeof(float));
        conv2d_backward(din, dw, NULL, dy, x, w, &s, 0, ws);
        a = worst(din, r.exact, r.bound1, nx);
        b = worst(din, r.ref_b, r.bound2, nx);
        if (a > w1d) w1d = a;
        if (b > w2d) w2d = b;
        if (!(a <= 1 && b <= 1) && !bad++)
            snprintf(what, sizeof what, "backward-data %dx%dx%dx%d -> %d: %.3g, %.3g x bounds", B,
                     H, W, C, OC, a, b);
        conv_shape t;
        cd_bwd_data_shape(&t, &s);
        unit &= wg_amx(&t) == amx;
        s.prec = PREC_FP32;
        conv2d_backward(NULL, dw32, NULL, dy, x, w, &s, 0, ws);
        s.prec = PREC_BF16;
        wref_free(&r);
        /* the weight gradient: on AMX in bf16, else fp32's */
        if (!amx) {
            dw_same &= !memcmp(dw, dw32, sizeof(float) * nw);
        } else {
            wgrad_ref(&r, x, dy, B, H, W, C, OC);
            a = worst(dw, r.exact, r.bound1, nw);
            b = worst(dw, r.ref_b, r.bound2, nw);
            rl = rel_max(dw, r.exact, nw);
            if (a > w1w) w1w = a;
            if (b > w2w) w2w = b;
            if (r.amp > ampw) ampw = r.amp;
            if (rl > relww) relww = rl;
            if (!(a <= 1 && b <= 1) && !bad++)
                snprintf(what, sizeof what, "weight gradient %dx%dx%dx%d -> %d: %.3g, %.3g x bounds",
                         B, H, W, C, OC, a, b);
            float *dw1 = calloc(nw, sizeof(float)), *dw3 = calloc(nw, sizeof(float));
            ssl_set_threads(1);
            conv2d_backward(NULL, dw1, NULL, dy, x, w, &s, 0, ws);
            ssl_set_threads(3);
            conv2d_backward(NULL, dw3, NULL, dy, x, w, &s, 0, ws);
            ssl_set_threads(2);
            bits &= !memcmp(dw, dw1, sizeof(float) * nw) && !memcmp(dw, dw3, sizeof(float) * nw);
            /* perturbations: dy's first two tiles (one pair of the
             * reduction), its first 32 (a k block) zeroed */
            int TH = (H + 1) / 2, TW = (W + 1) / 2, T = B * TH * TW;
            float *dyz = malloc(sizeof(float) * ny);
            for (int drop = 2; drop <= 32; drop += 30) {
                if (drop == 2 ? T > 512 : T < 64) continue;
                memcpy(dyz, dy, sizeof(float) * ny);
                for (int bi = 0; bi < B; bi++)
                    for (int h = 0; h < H; h++)
                        for (int ww = 0; ww < W; ww++)
                            if ((bi * TH + h / 2) * TW + ww / 2 < drop)
                                memset(dyz + (((size_t)bi * H + h) * W + ww) * OC, 0,
                                       sizeof(float) * OC);
                memset(dw1, 0, sizeof(float) * nw);
                conv2d_backward(NULL, dw1, NULL, dyz, x, w, &s, 0, ws);
                int f = worst(dw1, r.ref_b, r.bound2, nw) > 1;
                if (drop == 2) { wfails_pair &= f; wpair_tried++; }
                else { wfails_kb &= f; wkb_tried++; }
            }
            /* (check 2's bound grows as T^2 |p|, the rounding's error as
             * sqrt(T) 2^-8 |p|: at 5120 tiles check 2 no longer sees it) */
            if (T <= 512) wfails_fp32 &= worst(dw32, r.ref_b, r.bound2, nw) > 1;
            wfp32_acc &= worst(dw32, r.exact, r.bound1, nw) <= 1;
            wref_free(&r);
            free(dw1); free(dw3); free(dyz);
        }
        free(x); free(w); free(dy); free(ws); free(y); free(din); free(y1); free(y3); free(xz);
        free(wt); free(dw); free(dw32);
    }
    rep(unit, label, amx ? "every shape's products on AMX" : "no shape's products on AMX", "");
    rep(!bad, label, amx ? "Winograd in bf16: forward, backward-data and weight gradient within "
                           "both bounds" : "Winograd in bf16: forward and backward-data within both bounds",
        what);
    printf("  (%s: worst error / bound: forward %.3g accuracy, %.3g exactness; backward-data "
           "%.3g, %.3g; Winograd's amplification of the bound's magnitude at most %.3g; worst "
           "error %.3g of the largest output)\n", label, w1f, w2f, w1d, w2d, amp, relw);
    rep(bits, label, amx ? "Winograd in bf16: 1, 2 and 3 threads give the same bits (forward and "
                           "weight gradient)" : "Winograd in bf16: 1, 2 and 3 threads give the same bits",
        "");
    if (!amx) {
        rep(dw_same, label, "Winograd in bf16: the weight gradient is fp32's, bit for bit", "");
    } else {
        printf("  (%s: weight gradient: worst error / bound %.3g accuracy, %.3g exactness; "
               "Winograd's amplification at most %.3g; worst error %.3g of the largest)\n",
               label, w1w, w2w, ampw, relww);
        rep(wpair_tried && wfails_pair, label,
            "bf16 weight-gradient check: a sum missing a pair of tiles fails", "");
        rep(wkb_tried && wfails_kb, label,
            "bf16 weight-gradient check: a sum missing a k block of 32 tiles fails", "");
        rep(wfails_fp32 && wfp32_acc, label,
            "bf16 weight-gradient check: the fp32 kernel fails the exactness check and passes "
            "the accuracy check", "");
    }
    rep(fails_drop, label, "bf16 check: a product missing the last input channel fails", "");
    rep(fails_kb && kb_tried, label,
        "bf16 check: a product missing the first block of 32 input channels fails", "");
    rep(fails_fp32 && fp32_acc, label,
        "bf16 check: the fp32 kernel fails the exactness check and passes the accuracy check", "");
}

/* The direct kernels ignore prec: a strided and a 1x1 layer give fp32's bits. */
static void test_direct_fp32(void) {
    conv_shape s;
    conv_shape_init(&s, 2, 8, 8, 16, 32, 3, 3, 2, 1);
    size_t nx = 2 * 8 * 8 * 16, ny = (size_t)2 * s.OH * s.OW * 32, nw = 32 * 16 * 9;
    float *x = rnd(nx), *w = rnd(nw), *ws = malloc(sizeof(float) * (size_t)conv2d_workspace(&s));
    float *a = malloc(sizeof(float) * ny), *b = malloc(sizeof(float) * ny);
    conv2d_forward(a, x, w, NULL, &s, ws);
    s.prec = PREC_BF16;
    conv2d_forward(b, x, w, NULL, &s, ws);
    T_OK(!memcmp(a, b, sizeof(float) * ny), "bf16: the direct (strided) convolution stays fp32");
    free(x); free(w); free(ws); free(a); free(b);
}

/* conv_bf16_prec (ops.h): the Winograd shapes with 16 input or output
 * channels stay fp32 in a bf16 network (measured slower in bf16), the
 * others take bf16; net_set_precision follows it layer by layer. */
static void test_policy(void) {
    static const int sh[][5] = {   /* C, OC, stride, k, expected bf16 */
        {16, 16, 1, 3, 0}, {16, 64, 1, 3, 0}, {64, 16, 1, 3, 0}, {32, 32, 1, 3, 1},
        {32, 48, 1, 3, 1}, {128, 128, 1, 3, 1}, {16, 32, 2, 3, 1}, {16, 32, 1, 1, 1},
    };
    int ok = 1;
    char what[120] = "";
    for (int i = 0; i < (int)(sizeof sh / sizeof sh[0]); i++) {
        conv_shape s;
        conv_shape_init(&s, 2, 8, 8, sh[i][0], sh[i][1], sh[i][3], sh[i][3], sh[i][2],
                        sh[i][3] / 2);
        int want = sh[i][4] ? PREC_BF16 : PREC_FP32;
        if (conv_bf16_prec(&s) != want && ok) {
            ok = 0;
            snprintf(what, sizeof what, "C %d OC %d stride %d k %d", sh[i][0], sh[i][1],
                     sh[i][2], sh[i][3]);
        }
    }
    t_report(ok, "conv_bf16_prec: fp32 for the Winograd shapes of 16 channels in or out, "
             "bf16 elsewhere", "%s", what);
    /* a CIFAR ResNet-18 of width 0.25: stages of 16, 32, 64, 128 channels */
    net_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.arch, "resnet18"); strcpy(c.stem, "cifar"); strcpy(c.head, "none");
    c.width = 0.25f; c.in_ch = 3; c.in_h = c.in_w = 16;
    ssl_err err;
    net *n = net_new(&c, 2, &err);
    if (!n) { t_report(0, "net_set_precision policy", "%s", err.msg); return; }
    static const char *const fp32_layers[] = {
        "backbone.layer1.0.conv1", "backbone.layer1.0.conv2", "backbone.layer1.1.conv1",
        "backbone.layer1.1.conv2",
    };
    static const char *const bf16_layers[] = {
        "backbone.conv1", "backbone.layer2.0.conv1", "backbone.layer2.0.conv2",
        "backbone.layer2.0.downsample.0", "backbone.layer2.1.conv1", "backbone.layer3.1.conv2",
        "backbone.layer4.0.conv2", "backbone.layer4.1.conv2",
    };
    net_set_precision(n, PREC_BF16);
    int stage1 = 1, later = 1, all32 = 1;
    for (int i = 0; i < 4; i++) stage1 &= net_conv_prec(n, fp32_layers[i]) == PREC_FP32;
    for (int i = 0; i < 8; i++) later &= net_conv_prec(n, bf16_layers[i]) == PREC_BF16;
    t_report(stage1 && later, "net_set_precision(bf16): the 16-channel stage fp32, the other "
             "convolutions bf16", "stage1 %d later %d", stage1, later);
    net_set_precision(n, PREC_FP32);
    for (int i = 0; i < 8; i++) all32 &= net_conv_prec(n, bf16_layers[i]) == PREC_FP32;
    T_OK(all32 && net_conv_prec(n, "backbone.nothing") == -1,
         "net_set_precision(fp32): every convolution fp32 again; an unknown name is -1");
    net_free(n);
}

/* largest |a - b| over largest |b|, n floats */
static double rel_f(const float *a, const float *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= e)) e = d;
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return m > 0 ? e / m : e;
}

static void test_network(void) {
    net_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.arch, "resnet18"); strcpy(c.stem, "cifar"); strcpy(c.head, "mlp3");
    c.width = 0.25f; c.in_ch = 3; c.in_h = c.in_w = 16; c.hidden = 64; c.dim = 32;
    const int B = 8;
    ssl_err err;
    net *n32 = net_new(&c, B, &err), *n16 = net_new(&c, B, &err);
    if (!n32 || !n16) { t_report(0, "network", "%s", err.msg); return; }
    net_init(n32, 3);
    net_init(n16, 3);
    net_set_precision(n16, PREC_BF16);
    size_t nx = (size_t)B * 16 * 16 * 3, nd = (size_t)B * net_out_dim(n32);
    float *x = rnd(nx), *dout = rnd(nd);
    net_zero_grad(n32);
    net_zero_grad(n16);
    net_forward(n32, x, B, 1);
    net_forward(n16, x, B, 1);
    double ef = rel_f(net_output(n16), net_output(n32), nd);
    int diff = memcmp(net_output(n16), net_output(n32), nd * sizeof(float)) != 0;
    net_backward(n32, dout);
    net_backward(n16, dout);
    /* each parameter tensor's gradient against fp32's */
    double eg = 0, gmax = 0, l2n = 0, l2d = 0;
    const char *where = "";
    int nt = net_ntensors(n32);
    for (int i = 0; i < nt; i++) {
        net_tensor *a = net_tensor_at(n32, i);
        for (int64_t k = 0; a->grad && k < a->numel; k++)
            if (fabs(a->grad[k]) > gmax) gmax = fabs(a->grad[k]);
    }
    for (int i = 0; i < nt; i++) {
        net_tensor *a = net_tensor_at(n32, i), *b = net_tensor_at(n16, i);
        if (!a->grad) continue;
        double e = 0, m = gmax / 1024;
        for (int64_t k = 0; k < a->numel; k++) {
            double d = fabs((double)b->grad[k] - a->grad[k]);
            if (!(d <= e)) e = d;
            if (fabs(a->grad[k]) > m) m = fabs(a->grad[k]);
        }
        e /= m;
        if (!(e <= eg)) { eg = e; where = a->name; }
        for (int64_t k = 0; k < a->numel; k++) {
            double d = (double)b->grad[k] - a->grad[k];
            l2n += d * d;
            l2d += (double)a->grad[k] * a->grad[k];
        }
    }
    double l2 = sqrt(l2n / l2d);
    /* the same bits at 1 and 3 threads as at 2 (output and every gradient) */
    int same = 1;
    int64_t np;
    float *ga = net_grad_arena(n16, &np);
    float *out2 = malloc(nd * sizeof(float)), *g2 = malloc(sizeof(float) * (size_t)np);
    memcpy(out2, net_output(n16), nd * sizeof(float));
    memcpy(g2, ga, sizeof(float) * (size_t)np);
    for (int th = 1; th <= 3; th += 2) {
        ssl_set_threads(th);
        net_zero_grad(n16);
        net_forward(n16, x, B, 1);
        same &= !memcmp(out2, net_output(n16), nd * sizeof(float));
        net_backward(n16, dout);
        same &= !memcmp(g2, ga, sizeof(float) * (size_t)np);
    }
    ssl_set_threads(2);
    T_OK(same, "network in bf16: the same output and gradients at 1, 2 and 3 threads");
    free(out2); free(g2);
    t_report(diff && ef <= 0.125, "network in bf16: forward output within 2^-3 of fp32's largest",
             "%.3g (bits differ: %d)", ef, diff);
    t_report(l2 <= 0.9, "network in bf16: the gradient within 0.9 of fp32's in L2", "%.3g", l2);
    printf("  (network: output %.3g, worst gradient %.3g (%s) of the largest, all gradients "
           "%.3g in L2)\n", ef, eg, where, l2);
    free(x); free(dout);
    net_free(n32);
    net_free(n16);
}

int main(void) {
    rng_init(&R, 16, 7, 0);
    ssl_set_threads(2);
#ifndef __AVX512F__
    printf("SKIP: conv bf16: no Winograd kernels in this build (no AVX-512)\n");
    return t_done();
#endif
    if (!gemm_bf16_available()) {
        printf("SKIP: conv bf16: this CPU has no AVX512-BF16\n");
        return t_done();
    }
    gemm_bf16_set_amx(0);
    test_kernels("VDPBF16PS", 0);
    gemm_bf16_set_amx(1);
    if (gemm_bf16_amx())
        test_kernels("AMX", 1);
    else
        printf("SKIP: conv bf16 on AMX: no AMX-BF16 on this CPU or no permission from the "
               "kernel\n");
    gemm_bf16_set_amx(-1);
    test_direct_fp32();
    test_policy();
    test_network();
    return t_done();
}
