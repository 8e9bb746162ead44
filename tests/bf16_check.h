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
#include <stdlib.h>

#include "util/rng.h"

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

#endif
