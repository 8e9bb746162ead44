/* bf16_check.h: what the bf16 convolution tests share (test_conv_bf16.c:
 * Winograd F(2x2); test_conv_bf16_f4.c: F(4x4); test_conv_amx.c: the
 * strided layers on AMX): random inputs, gamma(n), the two references
 * with their bounds per output element (accuracy against the exact
 * result, exactness against a replica of the kernel's bf16 inputs; each
 * test derives its bounds), the worst error over a bound, and the exact
 * 3x3 pad-1 convolution and weight gradient by direct sums in double.
 * Not every test uses every helper (hence unused). */
#ifndef SSL_TESTS_BF16_CHECK_H
#define SSL_TESTS_BF16_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "util/rng.h"
#include "util/threads.h"

static rng R;

/* n floats uniform in [-1, 1) from R */
static __attribute__((unused)) float *rnd(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)(2 * rng_uniform(&R) - 1);
    return p;
}

/* gamma(n) = n u / (1 - n u), u = 2^-24: n fp32 roundings' relative bound */
static __attribute__((unused)) double gam(double n) {
    double u = ldexp(1.0, -24);
    return n * u / (1 - n * u);
}

typedef struct {
    double *exact, *bound1;       /* check 1 */
    double *ref_b, *bound2;       /* check 2 */
    double amp;                   /* sum of check 1's magnitudes / direct sum |x||w| */
} wref;

/* n elements of each array, zeroed. */
static __attribute__((unused)) void wref_alloc(wref *r, size_t n) {
    r->exact = calloc(n, sizeof(double));
    r->bound1 = calloc(n, sizeof(double));
    r->ref_b = calloc(n, sizeof(double));
    r->bound2 = calloc(n, sizeof(double));
    r->amp = 0;
}

/* Element o: the exact value, check 1's bound c1 m1, the bf16 replica,
 * check 2's bound c2 m2, each bound with the slack of the double sums,
 * 2^-40 of its magnitude m. */
static __attribute__((unused)) void wref_put(wref *r, size_t o, double exact, double c1, double m1, double ref_b,
                     double c2, double m2) {
    r->exact[o] = exact;
    r->bound1[o] = c1 * m1 + ldexp(m1, -40);
    r->ref_b[o] = ref_b;
    r->bound2[o] = c2 * m2 + ldexp(m2, -40);
}

static __attribute__((unused)) void wref_free(wref *r) { free(r->exact); free(r->bound1); free(r->ref_b); free(r->bound2); }

/* Largest |y - ref| / bound (0 where they agree exactly; a NaN counts as
 * infinitely far). */
static __attribute__((unused)) double worst(const float *y, const double *ref, const double *bound, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(y[i] - ref[i]), r = e == 0 ? 0 : bound[i] > 0 ? e / bound[i] : INFINITY;
        if (!(r <= w)) w = isnan(r) ? INFINITY : r;
    }
    return w;
}

/* largest |y - exact| over largest |exact| */
static __attribute__((unused)) double rel_max(const float *y, const double *exact, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(y[i] - exact[i]);
        if (!(d <= e)) e = d;
        if (fabs(exact[i]) > m) m = fabs(exact[i]);
    }
    return m > 0 ? e / m : e;
}

/* *e = out[b, h, ww, oc] of the 3x3 pad-1 convolution of x [B, H, W, C]
 * with w [OC, C, 3, 3], summed directly in double; *ea = sum |x w|. */
static __attribute__((unused)) void direct_out(double *e, double *ea, const float *x,
                                               const float *w, int H, int W, int C, int b,
                                               int h, int ww, int oc) {
    *e = *ea = 0;
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) {
                int ih = h - 1 + kh, iw = ww - 1 + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                double t = (double)x[(((size_t)b * H + ih) * W + iw) * C + c] *
                           w[(((size_t)oc * C + c) * 3 + kh) * 3 + kw];
                *e += t;
                *ea += fabs(t);
            }
}

/* *e = dw[oc, c, kh, kw] of that convolution given dy [B, H, W, OC],
 * summed directly in double; *ea = sum |x dy|. */
static __attribute__((unused)) void direct_dw(double *e, double *ea, const float *x,
                                              const float *dy, int B, int H, int W, int C,
                                              int OC, int c, int oc, int kh, int kw) {
    *e = *ea = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int ww = 0; ww < W; ww++) {
                int ih = h - 1 + kh, iw = ww - 1 + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                double t = (double)x[(((size_t)b * H + ih) * W + iw) * C + c] *
                           dy[(((size_t)b * H + h) * W + ww) * OC + oc];
                *e += t;
                *ea += fabs(t);
            }
}

/* Winograd F(m x m, 3x3) references, n = m + 2 positions a side (m 2 or
 * 4): tile (b, th, tw)'s outputs for every output channel into r, from the
 * tile's replicated bf(V) (Vb[xi * C + c]) and bound magnitudes Va, and
 * bf(U), Ua ([xi][c][oc]): M[xi] = sum_c bf(V) bf(U) in double, Y = A^T M A
 * (at: m rows of n), check 1's magnitude from Va Ua, check 2's from
 * |bf(V) bf(U)|, the exact value by direct_out; adds to *mag_w, *mag_d. */
static __attribute__((unused)) void wino_tile_ref(wref *r, const float *Vb, const double *Va,
                                                  const float *Ub, const double *Ua,
                                                  const double *at, int m, const float *x,
                                                  const float *w, int H, int W, int C, int OC,
                                                  int b, int th, int tw, double c1, double c2,
                                                  double *mag_w, double *mag_d) {
    int n = m + 2;
    for (int oc = 0; oc < OC; oc++) {
        double Mb[36], Mab[36], Maa[36];
        for (int xi = 0; xi < n * n; xi++) {
            double s = 0, sa = 0, saa = 0;
            for (int c = 0; c < C; c++) {
                size_t k = ((size_t)xi * C + c) * OC + oc;
                double p = (double)Vb[xi * C + c] * Ub[k];
                s += p;
                sa += fabs(p);
                saa += Va[xi * C + c] * Ua[k];
            }
            Mb[xi] = s; Mab[xi] = sa; Maa[xi] = saa;
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                int h = m * th + i, ww = m * tw + j;
                if (h >= H || ww >= W) continue;
                double y = 0, yb = 0, ya = 0;
                for (int rr = 0; rr < n; rr++)
                    for (int s = 0; s < n; s++) {
                        double a = at[i * n + rr] * at[j * n + s];
                        y += a * Mb[n * rr + s];
                        yb += fabs(a) * Mab[n * rr + s];
                        ya += fabs(a) * Maa[n * rr + s];
                    }
                double e, ea;   /* the exact convolution, directly */
                direct_out(&e, &ea, x, w, H, W, C, b, h, ww, oc);
                wref_put(r, (((size_t)b * H + h) * W + ww) * OC + oc, e, c1, ya, y, c2, yb);
                *mag_w += ya;
                *mag_d += ea;
            }
    }
}

/* The weight gradient's references from the tile sums over the batch,
 * Sb = sum_t bf(V) bf(dM), Sab = sum_t |bf(V) bf(dM)|, Saa = sum_t Va dMa
 * ([xi][c][oc], n x n positions): dw = G^T S G (g: n rows of 3) with
 * check 1's magnitude from Saa and check 2's from Sab, the exact value
 * by direct_dw; sets r->amp. */
static __attribute__((unused)) void wgrad_put_all(wref *r, const double *Sb, const double *Sab,
                                                  const double *Saa, const double *g, int n,
                                                  const float *x, const float *dy, int B,
                                                  int H, int W, int C, int OC, double c1,
                                                  double c2) {
    double mag_w = 0, mag_d = 0;
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) {
                    double y = 0, yb = 0, ya = 0;
                    for (int a = 0; a < n; a++)
                        for (int bb = 0; bb < n; bb++) {
                            double gg = g[a * 3 + kh] * g[bb * 3 + kw];
                            size_t k = ((size_t)(n * a + bb) * C + c) * OC + oc;
                            y += gg * Sb[k];
                            yb += fabs(gg) * Sab[k];
                            ya += fabs(gg) * Saa[k];
                        }
                    double e, ea;
                    direct_dw(&e, &ea, x, dy, B, H, W, C, OC, c, oc, kh, kw);
                    wref_put(r, (((size_t)oc * C + c) * 3 + kh) * 3 + kw, e, c1, ya, y, c2, yb);
                    mag_w += ya;
                    mag_d += ea;
                }
    r->amp = mag_d > 0 ? mag_w / mag_d : 0;
}

/* ---- the Winograd tests' scaffolding (test_conv_bf16.c, test_conv_bf16_f4.c) ---- */

/* The worst errors over a test's shapes, per part, and the first part
 * out of its bounds. */
typedef struct {
    double acc, exact;            /* worst error / bound: accuracy, exactness */
    double amp, rel;              /* Winograd's amplification, worst error / largest */
} part_worst;

/* y [n] of part (shape B H W C -> OC) against r: the worst errors kept
 * in *p (amp and rel only where keep_rel), and the first part outside a
 * bound named in what (*bad counts them). */
static __attribute__((unused)) void note_part(part_worst *p, int keep_rel, const char *part,
                                              const float *y, const wref *r, size_t n, int *bad,
                                              char *what, size_t wn, int B, int H, int W, int C,
                                              int OC) {
    double a = worst(y, r->exact, r->bound1, n), b = worst(y, r->ref_b, r->bound2, n);
    if (keep_rel) {
        double rl = rel_max(y, r->exact, n);
        if (rl > p->rel) p->rel = rl;
        if (r->amp > p->amp) p->amp = r->amp;
    }
    if (a > p->acc) p->acc = a;
    if (b > p->exact) p->exact = b;
    if (!(a <= 1 && b <= 1) && !(*bad)++)
        snprintf(what, wn, "%s %dx%dx%dx%d -> %d: %.3g, %.3g x bounds", part, B, H, W, C, OC, a, b);
}

/* 1 if the forward of s at 1 and 3 threads gives y's bits (y1, y3:
 * scratch; the pool left at 2 threads). */
static __attribute__((unused)) int forward_same_bits(const float *y, const float *x,
                                                     const float *w, const conv_shape *s,
                                                     float *ws, float *y1, float *y3, size_t n) {
    ssl_set_threads(1);
    conv2d_forward(y1, x, w, NULL, s, ws);
    ssl_set_threads(3);
    conv2d_forward(y3, x, w, NULL, s, ws);
    ssl_set_threads(2);
    return !memcmp(y, y1, sizeof(float) * n) && !memcmp(y, y3, sizeof(float) * n);
}

/* wt [C][OC][9]: w [OC][C][9] transposed and flipped, the kernel whose
 * forward over dy is the backward-data. */
static __attribute__((unused)) void flip_weights(float *wt, const float *w, int OC, int C) {
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++)
            for (int k = 0; k < 9; k++)
                wt[((size_t)c * OC + oc) * 9 + k] = w[((size_t)oc * C + c) * 9 + 8 - k];
}

/* dyz = dy [B, H, W, OC] with its first `drop` m x m tiles zeroed. */
static __attribute__((unused)) void zero_first_tiles(float *dyz, const float *dy, int B, int H,
                                                     int W, int OC, int m, int drop) {
    int TH = (H + m - 1) / m, TW = (W + m - 1) / m;
    memcpy(dyz, dy, sizeof(float) * (size_t)B * H * W * OC);
    for (int bi = 0; bi < B; bi++)
        for (int h = 0; h < H; h++)
            for (int ww = 0; ww < W; ww++)
                if ((bi * TH + h / m) * TW + ww / m < drop)
                    memset(dyz + (((size_t)bi * H + h) * W + ww) * OC, 0, sizeof(float) * OC);
}

#endif
