/* test_conv_amx.c: the bf16 forward of the non-Winograd convolutions
 * (lib/nn/ops/conv_amx.c on AMX: strided, 1x1 and unpadded shapes with at
 * least 16 input channels; without AMX, on VDPBF16PS, conv.c's
 * sb_forward: the strided shapes with at least 64), through
 * conv2d_forward_affine (the evaluation-mode forward with BN folded in),
 * and their bf16 training parts, against double-precision references.
 *
 * The kernel computes, per output pixel and channel,
 *   S = sum_k bf(x_k) bf(w_k)  (K = KH KW C products, fp32 sums),
 *   y = act(fma(S, scale, shift) + res),
 * bf() the rounding to bf16 (bf16_round: u_b = 2^-8 taken as its
 * relative error, twice the unit roundoff of an 8-bit significand). A
 * product of two bf16 is exact in fp32; TDPBF16PS adds a pair of
 * products per step into one fp32 chain over all K (at most two roundings
 * per pair, so at most K roundings for the chain); gemm_bf16's
 * VDPBF16PS the same, restarted every 512 k and folded into C (one more
 * rounding per block of 512): n = K + 2 + 2 ceil(K / 512) taken; the
 * epilogue's fma and the add of res are two more roundings, and ReLU
 * does not widen a difference. Write m = sum_k |x_k w_k| (>= |S|).
 * 1. Accuracy, against the exact y (double):
 *      |y - exact| <= |scale| ((1 + u_b)^2 (1 + gamma(n)) - 1) m
 *                     + gamma(3) (|scale| (1 + 2^-6) m + |shift| + |res|)
 *    (the (1 + 2^-6) covers S's own deviation from the exact sum).
 * 2. Exactness of the kernel, against y computed in double from the
 *    bf16-rounded inputs (Sb = sum bf(x) bf(w) exactly):
 *      |y - y_b| <= |scale| gamma(n) m_b + gamma(3) (|scale| m_b +
 *                   |shift| + |res|),  m_b = sum |bf(x) bf(w)|,
 *    about K 2^-24 m_b: 2^16 times tighter than check 1.
 * Both carry a slack of 2^-40 of their magnitude (the double sums' error).
 * The checks can fail: the input with its last channel zeroed (one
 * channel's products dropped) fails check 2, as does one with its first
 * 32 channels zeroed (an AMX k block, where C >= 32); the fp32 direct
 * kernel (prec PREC_FP32) fails check 2 and passes check 1.
 * Also: the same bits at 1, 2 and 3 threads, and a batch gives the bits
 * of its images run one by one. All of it runs on each unit the CPU has
 * (AMX; VDPBF16PS, gemm_bf16_set_amx(0)), on the shapes that unit takes;
 * skipped without AVX512-BF16 or in a build without AVX-512 (conv.c then
 * runs these shapes in fp32 only). */
#include <stdint.h>

#include "nn/ops/conv_amx.h"
#include "nn/ops/ops.h"
#include "t.h"
#include "bf16_check.h"
#include "util/rng.h"
#include "util/threads.h"

typedef struct { double *exact, *b1, *rb, *b2; } ref;

static void make_ref(ref *r, const float *x, const float *w, const float *sc, const float *sh,
                     const float *res, int act, const conv_shape *s) {
    size_t ny = (size_t)s->B * s->OH * s->OW * s->OC;
    r->exact = malloc(ny * sizeof(double)); r->b1 = malloc(ny * sizeof(double));
    r->rb = malloc(ny * sizeof(double)); r->b2 = malloc(ny * sizeof(double));
    int K = s->KH * s->KW * s->C;
    double ub = ldexp(1.0, -8);
    double n = K + 2 + 2 * ((K + 511) / 512);
    double c1 = (1 + ub) * (1 + ub) * (1 + gam(n)) - 1, c2 = gam(n), g3 = gam(3);
    for (int b = 0; b < s->B; b++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++)
                for (int oc = 0; oc < s->OC; oc++) {
                    double S = 0, m = 0, Sb = 0, mb = 0;
                    for (int kh = 0; kh < s->KH; kh++)
                        for (int kw = 0; kw < s->KW; kw++) {
                            int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                            if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                            for (int c = 0; c < s->C; c++) {
                                double xv = x[(((size_t)b * s->H + ih) * s->W + iw) * s->C + c];
                                double wv = w[(((size_t)oc * s->C + c) * s->KH + kh) * s->KW + kw];
                                double p = (double)bf16_round((float)xv) * bf16_round((float)wv);
                                S += xv * wv; m += fabs(xv * wv);
                                Sb += p; mb += fabs(p);
                            }
                        }
                    size_t o = (((size_t)b * s->OH + oh) * s->OW + ow) * s->OC + oc;
                    double rv = res ? res[o] : 0, a = fabs(sc[oc]);
                    double y = S * sc[oc] + sh[oc] + rv, yb = Sb * sc[oc] + sh[oc] + rv;
                    if (act == ACT_RELU) { y = y > 0 ? y : 0; yb = yb > 0 ? yb : 0; }
                    double tail = fabs(sh[oc]) + fabs(rv);
                    r->exact[o] = y;
                    r->b1[o] = a * c1 * m + g3 * (a * (1 + ldexp(1.0, -6)) * m + tail) +
                               ldexp(m * a + tail, -40);
                    r->rb[o] = yb;
                    r->b2[o] = a * c2 * mb + g3 * (a * mb + tail) + ldexp(mb * a + tail, -40);
                }
}

static void free_ref(ref *r) { free(r->exact); free(r->b1); free(r->rb); free(r->b2); }

/* B, H, W, C, OC, k, stride, pad: the ResNets' strided 3x3 and 1x1
 * downsamples; OC 16 and 48 (a channel block without a partner); K = 400
 * and 144 (a last k block partly zero); 144 and 60 pixels (chunks of 64,
 * the last partial; a last 32-row block partial); an unpadded 3x3 */
static const int shapes[][8] = {
    {2, 8, 8, 16, 32, 3, 2, 1},   {3, 7, 9, 48, 16, 3, 2, 1},  {2, 8, 8, 64, 128, 1, 2, 0},
    {2, 16, 18, 32, 64, 3, 2, 1}, {1, 4, 4, 16, 48, 5, 1, 2},  {1, 6, 7, 32, 32, 3, 1, 0},
    {2, 8, 8, 256, 64, 3, 2, 1},
};
#define NSH (int)(sizeof shapes / sizeof shapes[0])

/* The forward on the unit selected (amx: conv_amx, else sb_forward) */
static void test_shapes(const char *label, int amx) {
    double w1 = 0, w2 = 0;
    int bad = 0, applies = 1, bits = 1, onebyone = 1, fails_drop = 1, fails_kb = 1, kb_tried = 0;
    int fails_fp32 = 1, fp32_acc = 1, nrun = 0;
    char what[160] = "";
    for (int si = 0; si < NSH; si++) {
        const int *q = shapes[si];
        conv_shape s;
        conv_shape_init(&s, q[0], q[1], q[2], q[3], q[4], q[5], q[5], q[6], q[7]);
        s.prec = PREC_BF16;
        if (amx) {
            applies &= ca_applies(&s);
        } else {
            /* VDPBF16PS: those of 64 or more input channels */
            int on = (conv2d_train_bf16(&s) & CONV_BF16_FWD) != 0;
            applies &= !ca_applies(&s) && on == (s.C >= 64);
            if (!on) continue;
        }
        nrun++;
        size_t nx = (size_t)s.B * s.H * s.W * s.C, ny = (size_t)s.B * s.OH * s.OW * s.OC;
        size_t nw = (size_t)s.OC * s.C * s.KH * s.KW;
        float *x = rnd(nx), *w = rnd(nw), *sc = rnd(s.OC), *sh = rnd(s.OC), *res = rnd(ny);
        int act = si % 2 ? ACT_RELU : 0;
        const float *rp = si % 3 ? res : NULL;
        float *ws = malloc(sizeof(float) * (size_t)conv2d_workspace(&s));
        float *y = malloc(sizeof(float) * ny), *y1 = malloc(sizeof(float) * ny);
        ref r;
        make_ref(&r, x, w, sc, sh, rp, act, &s);
        conv2d_forward_affine(y, x, w, sc, sh, rp, act, &s, ws);
        double a = worst(y, r.exact, r.b1, ny), b = worst(y, r.rb, r.b2, ny);
        if (a > w1) w1 = a;
        if (b > w2) w2 = b;
        if (!(a <= 1 && b <= 1) && !bad++)
            snprintf(what, sizeof what, "shape %d: %.3g, %.3g x bounds", si, a, b);
        for (int t = 1; t <= 3; t += 2) {
            ssl_set_threads(t);
            conv2d_forward_affine(y1, x, w, sc, sh, rp, act, &s, ws);
            bits &= !memcmp(y, y1, sizeof(float) * ny);
        }
        ssl_set_threads(2);
        /* one image at a time */
        conv_shape s1;
        conv_shape_init(&s1, 1, q[1], q[2], q[3], q[4], q[5], q[5], q[6], q[7]);
        s1.prec = PREC_BF16;
        size_t ix = nx / s.B, iy = ny / s.B;
        for (int i = 0; i < s.B; i++) {
            conv2d_forward_affine(y1, x + i * ix, w, sc, sh, rp ? rp + i * iy : NULL, act, &s1, ws);
            onebyone &= !memcmp(y + i * iy, y1, sizeof(float) * iy);
        }
        /* perturbations */
        float *xz = malloc(sizeof(float) * nx);
        memcpy(xz, x, sizeof(float) * nx);
        for (size_t i = s.C - 1; i < nx; i += s.C) xz[i] = 0;
        conv2d_forward_affine(y1, xz, w, sc, sh, rp, act, &s, ws);
        fails_drop &= worst(y1, r.rb, r.b2, ny) > 1;
        if (s.C >= 32) {
            memcpy(xz, x, sizeof(float) * nx);
            for (size_t i = 0; i < nx; i += s.C) memset(xz + i, 0, 32 * sizeof(float));
            conv2d_forward_affine(y1, xz, w, sc, sh, rp, act, &s, ws);
            fails_kb &= worst(y1, r.rb, r.b2, ny) > 1;
            kb_tried++;
        }
        s.prec = PREC_FP32;
        conv2d_forward_affine(y1, x, w, sc, sh, rp, act, &s, ws);
        fails_fp32 &= worst(y1, r.rb, r.b2, ny) > 1;
        fp32_acc &= worst(y1, r.exact, r.b1, ny) <= 1;
        free_ref(&r);
        free(x); free(w); free(sc); free(sh); free(res); free(ws); free(y); free(y1); free(xz);
    }
    t_rep(applies && nrun >= 2, label, amx ? "every test shape runs on AMX (ca_applies)"
                                         : "the test shapes of 64 or more input "
                                           "channels run on VDPBF16PS, no other", "");
    char detail[240];
    snprintf(detail, sizeof detail, "%s (worst %.3g, %.3g of the bounds)", what, w1, w2);
    t_rep(!bad, label, "bf16 forward: within the accuracy bound and the kernel's exactness bound",
          detail);
    printf("  %s: worst error %.3g of check 1's bound, %.3g of check 2's\n", label, w1, w2);
    t_rep(bits, label, "bf16 forward: the same bits at 1, 2 and 3 threads", "");
    t_rep(onebyone, label, "bf16 forward: a batch gives the bits of its images one by one", "");
    t_rep(fails_drop, label, "bf16 forward check 2 fails with the last input channel dropped", "");
    t_rep(fails_kb && kb_tried, label,
        "bf16 forward check 2 fails with the first k block of 32 dropped", "");
    t_rep(fails_fp32, label, "bf16 forward check 2 fails on the fp32 kernel (it rounds nothing)",
          "");
    t_rep(fp32_acc, label, "bf16 forward check 1 passes on the fp32 kernel", "");
}

/* where ca_applies: not the Winograd shapes, not under 16 input channels
 * (the stems: measured slower), not fp32 */
static void test_policy(void) {
    conv_shape s;
    int ok = 1;
    conv_shape_init(&s, 2, 8, 8, 32, 32, 3, 3, 1, 1);   /* Winograd */
    s.prec = PREC_BF16;
    ok &= !ca_applies(&s);
    conv_shape_init(&s, 2, 8, 8, 3, 64, 3, 3, 1, 1);    /* a stem */
    s.prec = PREC_BF16;
    ok &= !ca_applies(&s);
    conv_shape_init(&s, 2, 8, 8, 32, 64, 3, 3, 2, 1);   /* strided, fp32 */
    ok &= !ca_applies(&s);
    s.prec = PREC_BF16;
    ok &= ca_applies(&s);
    T_OK(ok, "conv_amx: only the non-Winograd bf16 shapes with 16 or more input channels");
}

/* Without AMX (VDPBF16PS): the training parts from 64 input channels */
static void test_policy_vdp(void) {
    conv_shape s;
    int all = CONV_BF16_FWD | CONV_BF16_BWW | CONV_BF16_BWD, ok = 1;
    conv_shape_init(&s, 2, 8, 8, 32, 64, 3, 3, 2, 1);
    s.prec = PREC_BF16;
    ok &= conv2d_train_bf16(&s) == 0 && !ca_applies(&s);
    conv_shape_init(&s, 2, 8, 8, 64, 128, 3, 3, 2, 1);
    s.prec = PREC_BF16;
    ok &= conv2d_train_bf16(&s) == all;
    conv_shape_init(&s, 2, 8, 8, 64, 128, 1, 1, 2, 0);
    s.prec = PREC_BF16;
    ok &= conv2d_train_bf16(&s) == all;
    s.prec = PREC_FP32;
    ok &= conv2d_train_bf16(&s) == 0;
    conv_shape_init(&s, 2, 8, 8, 64, 64, 3, 3, 1, 1);   /* Winograd */
    s.prec = PREC_BF16;
    ok &= conv2d_train_bf16(&s) == 0;
    T_OK(ok, "VDPBF16PS: the strided shapes train in bf16 from 64 input channels, all three "
             "parts");
}

/* ---- training (conv2d_forward, conv2d_backward; conv2d_train_bf16) ----
 * The parts conv2d_train_bf16 names run with bf16 inputs and fp32 sums:
 * the forward on the kernel above (its checks 1 and 2 with scale 1,
 * shift 0, no residual); the weight gradient dw[oc, k] = sum_p dout[p, oc]
 * col[p, k] over the M = B OH OW pixels as gemm_bf16 products over blocks
 * of whole images folded with beta 1, one fp32 chain per element of at
 * most n = 2 M + 4 roundings whatever the blocking (one per pair step,
 * one per 512-k restart and block fold: M + 2 ceil(M / 512) + 2 blocks
 * + 2 <= 2 M + 4), then added to a zero dw (exact); the backward-data
 * din[q, c] = sum of its taps' dcol = sum_oc dout[p, oc] w[oc, c, kh, kw],
 * one gemm_bf16 chain over OC (OC + ceil(OC / 512) + 2 roundings) and
 * then at most KH KW fp32 adds of the taps: n = OC + ceil(OC/512) + 2 + KH KW.
 * With m = sum |a b| and m_b = sum |bf(a) bf(b)| over an element's terms:
 *   1. |y - exact| <= ((1 + u_b)^2 (1 + gamma(n)) - 1) m   (u_b = 2^-8)
 *   2. |y - y_b|   <= gamma(n) m_b   (y_b: the same sums of bf16-rounded
 *      inputs, exactly), about n 2^-24 m_b,
 * each with 2^-40 of its magnitude as slack. Check 2 fails with one
 * input channel's (or output channel's gradient's) products dropped and
 * on the fp32 kernels; the parts left in fp32 pass check 1. The same bits
 * at 1, 2 and 3 threads. */
typedef struct { double *ex, *b1, *rb, *b2; } gref;

static void gref_alloc(gref *g, size_t n) {
    g->ex = calloc(n, sizeof(double)); g->b1 = calloc(n, sizeof(double));
    g->rb = calloc(n, sizeof(double)); g->b2 = calloc(n, sizeof(double));
}

static void gref_free(gref *g) { free(g->ex); free(g->b1); free(g->rb); free(g->b2); }

/* The references of dw (g) and din (d); m sums kept in b1 and b2 until
 * the bounds are made. */
static void grad_ref(gref *g, gref *d, const float *x, const float *w, const float *dy,
                     const conv_shape *s) {
    int64_t M = (int64_t)s->B * s->OH * s->OW;
    size_t nw = (size_t)s->OC * s->C * s->KH * s->KW, nx = (size_t)s->B * s->H * s->W * s->C;
    gref_alloc(g, nw); gref_alloc(d, nx);
    for (int b = 0; b < s->B; b++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++)
                for (int kh = 0; kh < s->KH; kh++)
                    for (int kw = 0; kw < s->KW; kw++) {
                        int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                        if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                        size_t xo = (((size_t)b * s->H + ih) * s->W + iw) * s->C;
                        const float *gy = dy + (((size_t)b * s->OH + oh) * s->OW + ow) * s->OC;
                        for (int oc = 0; oc < s->OC; oc++)
                            for (int c = 0; c < s->C; c++) {
                                size_t wi = (((size_t)oc * s->C + c) * s->KH + kh) * s->KW + kw;
                                double gv = gy[oc], xv = x[xo + c], wv = w[wi];
                                double gb = bf16_round(gy[oc]);
                                double pw = gb * bf16_round(x[xo + c]);
                                double pd = gb * bf16_round(w[wi]);
                                g->ex[wi] += gv * xv; g->b1[wi] += fabs(gv * xv);
                                g->rb[wi] += pw; g->b2[wi] += fabs(pw);
                                d->ex[xo + c] += gv * wv; d->b1[xo + c] += fabs(gv * wv);
                                d->rb[xo + c] += pd; d->b2[xo + c] += fabs(pd);
                            }
                    }
    double ub = ldexp(1.0, -8);
    double ng = 2.0 * M + 4, nd = s->OC + (s->OC + 511) / 512 + 2 + s->KH * s->KW;
    for (size_t i = 0; i < nw; i++) {
        double m = g->b1[i], mb = g->b2[i];
        g->b1[i] = ((1 + ub) * (1 + ub) * (1 + gam(ng)) - 1) * m + ldexp(m, -40);
        g->b2[i] = gam(ng) * mb + ldexp(mb, -40);
    }
    for (size_t i = 0; i < nx; i++) {
        double m = d->b1[i], mb = d->b2[i];
        d->b1[i] = ((1 + ub) * (1 + ub) * (1 + gam(nd)) - 1) * m + ldexp(m, -40);
        d->b2[i] = gam(nd) * mb + ldexp(mb, -40);
    }
}

/* dw (from zero) and din of conv2d_backward */
static void run_bwd(float *dw, float *din, const float *dy, const float *x, const float *w,
                    const conv_shape *s, float *ws) {
    memset(dw, 0, sizeof(float) * (size_t)s->OC * s->C * s->KH * s->KW);
    conv2d_backward(din, dw, NULL, dy, x, w, s, 0, ws);
}

/* B, H, W, C, OC, k, stride, pad: 3x3 and 1x1 stride 2 with the
 * forward and weight gradient in bf16 only (C 32, 64), all three (C
 * 128), and one with several im2col blocks (B 4 at 32x32x128) */
static const int tshapes[][8] = {
    {2, 8, 8, 32, 64, 3, 2, 1},   {3, 8, 8, 64, 48, 1, 2, 0},   {2, 8, 8, 128, 32, 3, 2, 1},
    {2, 6, 6, 128, 64, 1, 2, 0},  {4, 32, 32, 128, 16, 3, 2, 1},
};
#define NTSH (int)(sizeof tshapes / sizeof tshapes[0])

static void test_train(const char *label) {
    int bad = 0, bits = 1, fails_drop = 1, fails_fp32 = 1, parts = 0;
    double wf = 0, wg = 0, wd = 0;
    char what[160] = "";
    for (int si = 0; si < NTSH; si++) {
        const int *q = tshapes[si];
        conv_shape s;
        conv_shape_init(&s, q[0], q[1], q[2], q[3], q[4], q[5], q[5], q[6], q[7]);
        s.prec = PREC_BF16;
        int tb = conv2d_train_bf16(&s);
        parts |= tb;
        size_t nx = (size_t)s.B * s.H * s.W * s.C, ny = (size_t)s.B * s.OH * s.OW * s.OC;
        size_t nw = (size_t)s.OC * s.C * s.KH * s.KW;
        float *x = rnd(nx), *w = rnd(nw), *dy = rnd(ny), *one = malloc(sizeof(float) * s.OC);
        float *zero = calloc((size_t)s.OC, sizeof(float));
        for (int i = 0; i < s.OC; i++) one[i] = 1;
        float *ws = malloc(sizeof(float) * (size_t)conv2d_workspace(&s));
        float *y = malloc(sizeof(float) * ny), *y1 = malloc(sizeof(float) * ny);
        float *dw = malloc(sizeof(float) * nw), *dw1 = malloc(sizeof(float) * nw);
        float *din = malloc(sizeof(float) * nx), *din1 = malloc(sizeof(float) * nx);
        ref r;
        gref g, d;
        make_ref(&r, x, w, one, zero, NULL, 0, &s);
        grad_ref(&g, &d, x, w, dy, &s);
        conv2d_forward(y, x, w, NULL, &s, ws);
        run_bwd(dw, din, dy, x, w, &s, ws);
        double e[3][2] = {
            { worst(y, r.exact, r.b1, ny), worst(y, r.rb, r.b2, ny) },
            { worst(dw, g.ex, g.b1, nw), worst(dw, g.rb, g.b2, nw) },
            { worst(din, d.ex, d.b1, nx), worst(din, d.rb, d.b2, nx) },
        };
        int flag[3] = { CONV_BF16_FWD, CONV_BF16_BWW, CONV_BF16_BWD };
        for (int k = 0; k < 3; k++) {
            int in16 = (tb & flag[k]) != 0;
            if (!(e[k][0] <= 1 && (!in16 || e[k][1] <= 1)) && !bad++)
                snprintf(what, sizeof what, "shape %d part %d: %.3g, %.3g x bounds", si, k,
                         e[k][0], e[k][1]);
            if (in16) {
                double *wk = k == 0 ? &wf : k == 1 ? &wg : &wd;
                if (e[k][1] > *wk) *wk = e[k][1];
            }
        }
        for (int t = 1; t <= 3; t += 2) {
            ssl_set_threads(t);
            conv2d_forward(y1, x, w, NULL, &s, ws);
            run_bwd(dw1, din1, dy, x, w, &s, ws);
            bits &= !memcmp(y, y1, sizeof(float) * ny) && !memcmp(dw, dw1, sizeof(float) * nw) &&
                    !memcmp(din, din1, sizeof(float) * nx);
        }
        ssl_set_threads(2);
        /* perturbations: the last input channel dropped (dw), the last
         * output channel's gradient dropped (din) */
        float *xz = malloc(sizeof(float) * nx), *dz = malloc(sizeof(float) * ny);
        memcpy(xz, x, sizeof(float) * nx);
        for (size_t i = s.C - 1; i < nx; i += s.C) xz[i] = 0;
        memcpy(dz, dy, sizeof(float) * ny);
        for (size_t i = s.OC - 1; i < ny; i += s.OC) dz[i] = 0;
        if (tb & CONV_BF16_BWW) {
            run_bwd(dw1, din1, dy, xz, w, &s, ws);
            fails_drop &= worst(dw1, g.rb, g.b2, nw) > 1;
        }
        if (tb & CONV_BF16_BWD) {
            run_bwd(dw1, din1, dz, x, w, &s, ws);
            fails_drop &= worst(din1, d.rb, d.b2, nx) > 1;
        }
        s.prec = PREC_FP32;
        conv2d_forward(y1, x, w, NULL, &s, ws);
        run_bwd(dw1, din1, dy, x, w, &s, ws);
        if (tb & CONV_BF16_FWD) fails_fp32 &= worst(y1, r.rb, r.b2, ny) > 1;
        if (tb & CONV_BF16_BWW) fails_fp32 &= worst(dw1, g.rb, g.b2, nw) > 1;
        if (tb & CONV_BF16_BWD) fails_fp32 &= worst(din1, d.rb, d.b2, nx) > 1;
        free_ref(&r); gref_free(&g); gref_free(&d);
        free(x); free(w); free(dy); free(one); free(zero); free(ws); free(y); free(y1);
        free(dw); free(dw1); free(din); free(din1); free(xz); free(dz);
    }
    t_rep(parts == (CONV_BF16_FWD | CONV_BF16_BWW | CONV_BF16_BWD), label,
        "conv bf16 training: the test shapes cover the bf16 forward, weight gradient and "
        "backward-data", "");
    t_rep(!bad, label, "conv bf16 training: forward, weight gradient, backward-data within bounds",
          what);
    printf("  %s: conv bf16 training: worst check 2 errors %.3g (fwd), %.3g (dw), %.3g (din) "
           "of the bounds\n", label, wf, wg, wd);
    t_rep(bits, label, "conv bf16 training: the same bits at 1, 2 and 3 threads", "");
    t_rep(fails_drop, label, "conv bf16 training: check 2 fails with a channel's products dropped",
          "");
    t_rep(fails_fp32, label, "conv bf16 training: check 2 fails on the fp32 kernels", "");
}

int main(void) {
    rng_init(&R, 17, 3, 0);
    ssl_set_threads(2);
#ifndef __AVX512F__
    printf("SKIP: conv bf16 (strided): no AVX-512 kernels in this build\n");
    return t_done();
#endif
    if (!gemm_bf16_available()) {
        printf("SKIP: conv bf16 (strided): no AVX512-BF16 on this CPU\n");
        return t_done();
    }
    if (gemm_bf16_amx()) {
        test_shapes("AMX", 1);
        test_policy();
        test_train("AMX");
    } else {
        printf("SKIP: conv amx: no AMX-BF16 on this CPU or no permission from the kernel\n");
    }
    gemm_bf16_set_amx(0);
    test_shapes("VDPBF16PS", 0);
    test_policy_vdp();
    test_train("VDPBF16PS");
    gemm_bf16_set_amx(-1);
    return t_done();
}
