/* test_ops.c: every op of lib/nn/ops/ops.h against central finite differences and
 * the optimised kernels against their plain reference versions.
 *
 * Loss: L = sum(out * R) for a fixed random R, summed in double. Its
 * gradient w.r.t. out is R, which is what the backward gets as dout.
 * Finite differences: each checked element is perturbed by +-eps on the
 * float input, L evaluated twice; for the ops linear in the checked
 * argument (conv, linear, pooling) eps = 1e-2 and the only error is float
 * rounding of out; for BN eps = 5e-3. Tolerance for every FD check:
 * |fd - analytic| <= 1e-2 * max|analytic over the tensor| + 1e-2 * |analytic|
 * (a wrong formula is off by O(max|analytic|)). At most 48 elements per
 * tensor are checked (chosen at random), to stay fast.
 * Kinks: ReLU inputs have |x| >= 0.1 > eps; max-pool inputs are distinct
 * values 0.05 apart (a shuffled ramp), so no perturbation reorders a
 * window; BN is checked without the fused ReLU (its mask is then checked
 * against relu_backward + bn_backward exactly).
 * Optimised vs reference: |a - b| <= 1e-4 * max|b| + 1e-4 * |b| (1e-5 for
 * the depthwise convolution and SE, whose sums are short).
 * The MobileNet ops: depthwise convolution (3x3, 5x5, strides 1 and 2)
 * against its double reference and by finite differences, same bits at 1,
 * 2 and 3 threads, its eval epilogue (dwconv_forward_affine) bit for bit
 * against dwconv_forward then bn_apply_affine, its backward with the BN's
 * dx pass inside (dwconv_backward_bn) bit for bit against bn_backward_act
 * then dwconv_backward, and the convolutions' eval
 * epilogue with ReLU6 and hard-swish against conv2d_forward, BN, then
 * act_forward; ReLU6, hard-swish, hard-sigmoid against their formulas,
 * by finite differences 0.1 from the kinks, and at the kinks against
 * PyTorch's rules; squeeze-and-excitation against the same in double and
 * by finite differences (eps 1e-3, with its kink margin checked). */
#include <stdint.h>

#include "nn/ops/conv_direct.h"
#include "nn/ops/conv_winograd.h"
#include "nn/ops/ops.h"
#include "util/rng.h"
#include "t.h"
#include "util/threads.h"

static rng R;
/* The Winograd mode the convolution tests run with (conv_shape.winograd). */
static int wg_mode = CONV_WINOGRAD_OFF;

/* conv_shape_init with the mode under test. */
static int shape_init(conv_shape *s, int B, int H, int W, int C, int OC, int KH, int KW,
                      int stride, int pad) {
    int rc = conv_shape_init(s, B, H, W, C, OC, KH, KW, stride, pad);
    s->winograd = wg_mode;
    return rc;
}

static float *rnd(size_t n, float lo, float hi) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * rng_uniform(&R);
    return p;
}

static double maxabs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* |a-b| <= rel * max|b| + rel * |b| elementwise. */
static void check_close(const float *a, const float *b, size_t n, double rel, const char *name) {
    double scale = maxabs(b, n);
    T_ALLCLOSE(a, b, n, rel * scale + 1e-30, rel, name);
}

typedef double (*loss_fn)(void *ctx);

static void fd_check(const char *name, float *x, size_t n, const float *analytic,
                     loss_fn f, void *ctx, float eps) {
    double scale = maxabs(analytic, n), worst = 0;
    size_t worst_i = 0;
    double worst_fd = 0;
    int count = n < 48 ? (int)n : 48;
    for (int k = 0; k < count; k++) {
        size_t i = n <= 48 ? (size_t)k : (size_t)rng_below(&R, n);
        float keep = x[i];
        x[i] = keep + eps;
        double lp = f(ctx);
        x[i] = keep - eps;
        double lm = f(ctx);
        x[i] = keep;
        double fd = (lp - lm) / (2.0 * eps);
        double e = fabs(fd - analytic[i]) / (1e-2 * scale + 1e-2 * fabs(analytic[i]) + 1e-30);
        if (!(e <= worst)) { worst = e; worst_i = i; worst_fd = fd; }
    }
    t_report(worst <= 1.0 && scale > 0, name, "at %zu: fd %.7g vs analytic %.7g (%.3g x tol, max %.3g)",
             worst_i, worst_fd, (double)analytic[worst_i], worst, scale);
}

static double dot(const float *a, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * r[i];
    return s;
}

/* ---- convolution ---- */
typedef struct { conv_shape s; float *in, *w, *b, *out, *r, *ws; } conv_case;

static double conv_loss(void *v) {
    conv_case *c = v;
    conv2d_forward(c->out, c->in, c->w, c->b, &c->s, c->ws);
    return dot(c->out, c->r, (size_t)c->s.B * c->s.OH * c->s.OW * c->s.OC);
}

/* 0: compare with the reference only (shapes too big for a finite-
 * difference pass over every input) */
static int conv_fd = 1;

static void test_conv(int B, int H, int W, int C, int OC, int k, int stride, int pad, int bias) {
    conv_case c;
    char nm[160], tag[96];
    snprintf(tag, sizeof tag, "conv %dx%dx%dx%d oc%d k%d s%d p%d%s%s", B, H, W, C, OC, k, stride,
             pad, bias ? " bias" : "", wg_mode == CONV_WINOGRAD_ALWAYS_F4 ? " F(4x4)" : "");
    if (shape_init(&c.s, B, H, W, C, OC, k, k, stride, pad) < 0) {
        snprintf(nm, sizeof nm, "%s: shape", tag);
        T_OK(0, nm);
        return;
    }
    size_t nin = (size_t)B * H * W * C, nw = (size_t)OC * C * k * k;
    size_t nout = (size_t)B * c.s.OH * c.s.OW * OC;
    c.in = rnd(nin, -1, 1); c.w = rnd(nw, -1, 1); c.b = bias ? rnd(OC, -1, 1) : NULL;
    c.out = malloc(nout * 4); c.r = rnd(nout, -1, 1);
    c.ws = malloc((size_t)conv2d_workspace(&c.s) * 4);
    float *ref = malloc(nout * 4);
    conv2d_forward(c.out, c.in, c.w, c.b, &c.s, c.ws);
    conv2d_forward_ref(ref, c.in, c.w, c.b, &c.s);
    snprintf(nm, sizeof nm, "%s: forward vs ref", tag);
    check_close(c.out, ref, nout, 1e-4, nm);
    float *din = calloc(nin, 4), *dw = calloc(nw, 4), *db = calloc(OC, 4);
    float *din_r = calloc(nin, 4), *dw_r = calloc(nw, 4), *db_r = calloc(OC, 4);
    for (size_t i = 0; i < nin; i++) din[i] = 7;                    /* written, not added */
    conv2d_backward(din, dw, bias ? db : NULL, c.r, c.in, c.w, &c.s, 0, c.ws);
    conv2d_backward_ref(din_r, dw_r, bias ? db_r : NULL, c.r, c.in, c.w, &c.s, 0);
    snprintf(nm, sizeof nm, "%s: dinput vs ref", tag);
    check_close(din, din_r, nin, 1e-4, nm);
    snprintf(nm, sizeof nm, "%s: dweight vs ref", tag);
    check_close(dw, dw_r, nw, 1e-4, nm);
    if (conv_fd) {
        snprintf(nm, sizeof nm, "%s: dinput fd", tag);
        fd_check(nm, c.in, nin, din, conv_loss, &c, 1e-2f);
        snprintf(nm, sizeof nm, "%s: dweight fd", tag);
        fd_check(nm, c.w, nw, dw, conv_loss, &c, 1e-2f);
    }
    if (bias && conv_fd) {
        snprintf(nm, sizeof nm, "%s: dbias fd", tag);
        fd_check(nm, c.b, OC, db, conv_loss, &c, 1e-2f);
    }
    /* accumulate: a second backward adds to din and dw */
    float *din2 = malloc(nin * 4), *dw2 = malloc(nw * 4);
    memcpy(din2, din, nin * 4); memcpy(dw2, dw, nw * 4);
    conv2d_backward(din2, dw2, NULL, c.r, c.in, c.w, &c.s, 1, c.ws);
    for (size_t i = 0; i < nin; i++) din[i] *= 2;
    for (size_t i = 0; i < nw; i++) dw[i] *= 2;
    snprintf(nm, sizeof nm, "%s: accumulate", tag);
    check_close(din2, din, nin, 1e-5, nm);
    snprintf(nm, sizeof nm, "%s: dweight accumulates", tag);
    check_close(dw2, dw, nw, 1e-5, nm);
    free(c.in); free(c.w); free(c.b); free(c.out); free(c.r); free(c.ws); free(ref);
    free(din); free(dw); free(db); free(din_r); free(dw_r); free(db_r); free(din2); free(dw2);
}

/* The same bits with 1 and 2 threads (forward, dinput, dweight): a
 * property of the direct kernels; OpenBLAS's sgemm (the fallback without
 * AVX-512) splits its sums by thread count. */
static void test_conv_threads_k(int B, int H, int W, int C, int OC, int k, int stride,
                               int pad) {
    if (!cd_available()) {
        T_SKIP("conv: same bits with 1 and 2 threads", "built without AVX-512 (sgemm path)");
        return;
    }
    conv_shape s;
    char nm[128];
    shape_init(&s, B, H, W, C, OC, k, k, stride, pad);
    size_t nin = (size_t)B * H * W * C, nw = (size_t)OC * C * k * k;
    size_t nout = (size_t)B * s.OH * s.OW * OC;
    float *in = rnd(nin, -1, 1), *w = rnd(nw, -1, 1), *r = rnd(nout, -1, 1);
    float *ws = malloc((size_t)conv2d_workspace(&s) * 4);
    float *o[2], *di[2], *dw[2];
    for (int t = 0; t < 2; t++) {
        ssl_set_threads(t + 1);
        o[t] = malloc(nout * 4); di[t] = malloc(nin * 4); dw[t] = calloc(nw, 4);
        conv2d_forward(o[t], in, w, NULL, &s, ws);
        conv2d_backward(di[t], dw[t], NULL, r, in, w, &s, 0, ws);
    }
    snprintf(nm, sizeof nm, "conv %dx%dx%dx%d oc%d k%d s%d: same bits with 1 and 2 threads",
             B, H, W, C, OC, k, stride);
    T_OK(!memcmp(o[0], o[1], nout * 4) && !memcmp(di[0], di[1], nin * 4) &&
         !memcmp(dw[0], dw[1], nw * 4), nm);
    for (int t = 0; t < 2; t++) { free(o[t]); free(di[t]); free(dw[t]); }
    free(in); free(w); free(r); free(ws);
}

/* The pointwise convolutions' input transform (conv_in_xf), bit for bit
 * against bn_apply_affine then conv2d_forward / conv2d_backward (din
 * written and accumulated, dweight accumulated) at 1, 2 and 3 threads,
 * for ReLU6, ReLU, none and hard-swish; conv2d_xf_applies says pointwise
 * only. */
static void test_conv_xf(int B, int H, int W, int C, int OC) {
    char nm[160];
    conv_shape s;
    shape_init(&s, B, H, W, C, OC, 3, 3, 1, 1);
    T_OK(!conv2d_xf_applies(&s), "conv2d_xf_applies: not a 3x3 convolution");
    if (!cd_available()) {
        T_SKIP("conv2d_forward_xf, conv2d_backward_xf", "built without AVX-512 (sgemm path)");
        return;
    }
    shape_init(&s, B, H, W, C, OC, 1, 1, 1, 0);
    T_OK(conv2d_xf_applies(&s), "conv2d_xf_applies: a pointwise convolution");
    size_t nin = (size_t)B * H * W * C, nw = (size_t)OC * C, nout = (size_t)B * H * W * OC;
    float *pre = rnd(nin, -4, 8), *isc = rnd(C, -1.5f, 1.5f), *ish = rnd(C, -1, 1);
    float *w = rnd(nw, -1, 1), *r = rnd(nout, -1, 1), *din0 = rnd(nin, -1, 1);
    float *dw0 = rnd(nw, -1, 1), *in = malloc(nin * 4);
    float *ws = malloc((size_t)conv2d_xf_workspace(&s) * 4);
    float *o[2], *di[2], *dw[2];
    for (int i = 0; i < 2; i++) {
        o[i] = malloc(nout * 4); di[i] = malloc(nin * 4); dw[i] = malloc(nw * 4);
    }
    static const int acts[] = { ACT_RELU6, ACT_RELU, ACT_NONE, ACT_HSWISH };
    for (int a = 0; a < 4; a++) {
        conv_in_xf xf = { .scale = isc, .shift = ish, .act = acts[a] };
        bn_apply_affine(in, pre, isc, ish, NULL, acts[a], (int64_t)B * H * W, C);
        int ok = 1;
        for (int t = 1; t <= 3; t++)
            for (int acc = 0; acc < 2; acc++) {
                ssl_set_threads(t);
                for (int i = 0; i < 2; i++) {
                    memcpy(di[i], din0, nin * 4);
                    memcpy(dw[i], dw0, nw * 4);
                }
                conv2d_forward(o[0], in, w, NULL, &s, ws);
                conv2d_backward(di[0], dw[0], NULL, r, in, w, &s, acc, ws);
                conv2d_forward_xf(o[1], pre, &xf, w, &s, ws);
                conv2d_backward_xf(di[1], dw[1], r, pre, &xf, w, &s, acc, ws);
                ok &= !memcmp(o[0], o[1], nout * 4) && !memcmp(di[0], di[1], nin * 4) &&
                      !memcmp(dw[0], dw[1], nw * 4);
            }
        ssl_set_threads(2);
        snprintf(nm, sizeof nm, "conv2d_*_xf %dx%dx%dx%d oc%d act %d == bn_apply_affine, "
                 "conv2d_forward, conv2d_backward (1, 2, 3 threads)", B, H, W, C, OC, acts[a]);
        T_OK(ok, nm);
    }
    for (int i = 0; i < 2; i++) { free(o[i]); free(di[i]); free(dw[i]); }
    free(pre); free(isc); free(ish); free(w); free(r); free(din0); free(dw0); free(in); free(ws);
}

/* The Winograd shapes' input transform (wg_forward_xf,
 * wg_backward_weights_xf through conv2d_*_xf) bit for bit against
 * bn_apply_affine then conv2d_forward / conv2d_backward, at 1 and 3
 * threads, with the Winograd mode wg_mode (ALWAYS: F(2x2); ALWAYS_F4:
 * F(4x4), several input-channel parts of the weight gradient from 256
 * channels). */
static void test_wg_xf(int B, int H, int W, int C, int OC) {
    char nm[160];
    conv_shape s;
    if (!wg_available()) {
        T_SKIP("winograd xf", "built without AVX-512");
        return;
    }
    shape_init(&s, B, H, W, C, OC, 3, 3, 1, 1);
    snprintf(nm, sizeof nm, "conv2d_xf_applies: winograd %dx%dx%dx%d oc%d", B, H, W, C, OC);
    T_OK(conv2d_xf_applies(&s), nm);
    size_t nin = (size_t)B * H * W * C, nw = (size_t)OC * C * 9, nout = (size_t)B * H * W * OC;
    float *pre = rnd(nin, -4, 8), *isc = rnd(C, -1.5f, 1.5f), *ish = rnd(C, -1, 1);
    float *w = rnd(nw, -1, 1), *r = rnd(nout, -1, 1), *dw0 = rnd(nw, -1, 1);
    float *in = malloc(nin * 4), *ws = malloc((size_t)conv2d_workspace(&s) * 4);
    float *o[2], *di[2], *dw[2];
    for (int i = 0; i < 2; i++) {
        o[i] = malloc(nout * 4); di[i] = malloc(nin * 4); dw[i] = malloc(nw * 4);
    }
    conv_in_xf xf = { .scale = isc, .shift = ish, .act = ACT_RELU };
    bn_apply_affine(in, pre, isc, ish, NULL, ACT_RELU, (int64_t)B * H * W, C);
    int ok = 1;
    for (int t = 1; t <= 3; t += 2) {
        ssl_set_threads(t);
        for (int i = 0; i < 2; i++) memcpy(dw[i], dw0, nw * 4);
        conv2d_forward(o[0], in, w, NULL, &s, ws);
        conv2d_backward(di[0], dw[0], NULL, r, in, w, &s, 0, ws);
        conv2d_forward_xf(o[1], pre, &xf, w, &s, ws);
        conv2d_backward_xf(di[1], dw[1], r, pre, &xf, w, &s, 0, ws);
        ok &= !memcmp(o[0], o[1], nout * 4) && !memcmp(di[0], di[1], nin * 4) &&
              !memcmp(dw[0], dw[1], nw * 4);
    }
    ssl_set_threads(2);
    snprintf(nm, sizeof nm, "winograd%s %dx%dx%dx%d oc%d: conv2d_*_xf == bn_apply_affine, "
             "conv2d_forward, conv2d_backward (1, 3 threads)",
             wg_mode == CONV_WINOGRAD_ALWAYS_F4 ? " F(4x4)" : "", B, H, W, C, OC);
    T_OK(ok, nm);
    for (int i = 0; i < 2; i++) { free(o[i]); free(di[i]); free(dw[i]); }
    free(pre); free(isc); free(ish); free(w); free(r); free(dw0); free(in); free(ws);
}

static void test_conv_threads(int B, int H, int W, int C, int OC) {
    test_conv_threads_k(B, H, W, C, OC, 3, 1, 1);
}

/* conv2d_forward_affine == conv2d_forward then bn_forward_eval, bit for bit. */
static void test_conv_affine(int B, int H, int C, int OC, int k, int stride, int pad, int res,
                             int act) {
    conv_shape s;
    char nm[128];
    shape_init(&s, B, H, H, C, OC, k, k, stride, pad);
    size_t nin = (size_t)B * H * H * C, nw = (size_t)OC * C * k * k;
    size_t nout = (size_t)B * s.OH * s.OW * OC;
    float *in = rnd(nin, -1, 1), *w = rnd(nw, -1, 1), *r = res ? rnd(nout, -1, 1) : NULL;
    float *g = rnd(OC, 0.5, 1.5), *b = rnd(OC, -1, 1), *rm = rnd(OC, -1, 1), *rv = rnd(OC, 0.5, 2);
    float *ws = malloc((size_t)conv2d_workspace(&s) * 4), *sc = malloc(OC * 4), *sh = malloc(OC * 4);
    float *a = malloc(nout * 4), *e = malloc(nout * 4);
    static const char *an[] = { "", " relu", " relu6", " hswish", " hsigmoid" };
    conv2d_forward(e, in, w, NULL, &s, ws);
    bn_forward_eval(e, e, g, b, r, act == ACT_RELU, (int64_t)B * s.OH * s.OW, OC, rm, rv, 1e-5f);
    if (act > ACT_RELU) act_forward(e, e, (int64_t)nout, act);
    bn_eval_affine(sc, sh, g, b, rm, rv, OC, 1e-5f);
    conv2d_forward_affine(a, in, w, sc, sh, r, act, &s, ws);
    snprintf(nm, sizeof nm, "conv+bn eval %dx%dx%d oc%d k%d s%d%s%s: fused == unfused", B, H, C,
             OC, k, stride, res ? " res" : "", an[act]);
    T_OK(!memcmp(a, e, nout * 4), nm);
    free(in); free(w); free(r); free(g); free(b); free(rm); free(rv); free(ws); free(sc);
    free(sh); free(a); free(e);
}

/* ---- Winograd F(2x2, 3x3) ----
 * Every qualifying shape (3x3 s1 p1, C and OC multiples of 16) against the
 * double-precision references. Tolerance: |a - b| <= 1e-5 * max|b| +
 * 1e-5 * |b|, ten times tighter than the optimised-vs-reference checks
 * above. Measured (inputs and weights in [-1, 1], C and OC 16..128): both
 * the direct kernels and Winograd stay under 1e-6 of max|b| (Winograd's
 * forward lower than direct's, its backward-data and weight gradient
 * within 1.5x), so 1e-5 leaves a margin of ten; a wrong transform
 * coefficient is off by 1e-2 or more. */
#define WG_TOL 1e-5
/* F(4x4, 3x3) (fp32, where it has fewer multiplies): its larger
 * transforms err more. Measured the same way: forward and backward-data
 * up to 1e-5 of max|b| at 128 channels, 1.8e-5 at 512 (growing as the
 * root of the channels), the weight gradient up to 6e-6; 1e-4, the
 * optimised-vs-reference tolerance above, leaves a margin of ten at the
 * tested sizes, and a coefficient off by 0.1% (8 -> 8.008 in A^T, one of
 * G's entries times 1.001) already fails. */
#define WG4_TOL 1e-4

/* Forward, backward-data (written and accumulated) and weight gradient
 * (accumulated onto nonzero values) through conv.c with the Winograd mode
 * forced (F(2x2), or F(4x4) where wg_mode is CONV_WINOGRAD_ALWAYS_F4);
 * wg_forward with accumulate and the epilogue; the same bits with 1, 2
 * and 3 threads. */
static void test_wg(int B, int H, int W, int C, int OC) {
    char nm[160], tag[96];
    int f4 = wg_mode == CONV_WINOGRAD_ALWAYS_F4;
    double tol = f4 ? WG4_TOL : WG_TOL;
    snprintf(tag, sizeof tag, "winograd%s %dx%dx%dx%d oc%d", f4 ? " F(4x4)" : "", B, H, W, C,
             OC);
    if (!wg_available()) {
        T_SKIP(tag, "built without AVX-512");
        return;
    }
    conv_shape s;
    shape_init(&s, B, H, W, C, OC, 3, 3, 1, 1);
    T_OK(wg_applies(&s), tag);
    size_t nin = (size_t)B * H * W * C, nw = (size_t)OC * C * 9, nout = (size_t)B * H * W * OC;
    float *in = rnd(nin, -1, 1), *w = rnd(nw, -1, 1), *r = rnd(nout, -1, 1);
    float *ws = malloc((size_t)conv2d_workspace(&s) * 4);
    float *out = malloc(nout * 4), *ref = malloc(nout * 4);
    float *din = malloc(nin * 4), *din_r = malloc(nin * 4);
    float *dw0 = rnd(nw, -1, 1), *dw = malloc(nw * 4), *dw_r = malloc(nw * 4);
    s.winograd = f4 ? CONV_WINOGRAD_ALWAYS_F4 : CONV_WINOGRAD_ALWAYS;
    conv2d_forward(out, in, w, NULL, &s, ws);
    conv2d_forward_ref(ref, in, w, NULL, &s);
    snprintf(nm, sizeof nm, "%s: forward vs ref", tag);
    check_close(out, ref, nout, tol, nm);
    /* backward, written: din starts as garbage, dw as nonzero values */
    for (size_t i = 0; i < nin; i++) din[i] = 7;
    memcpy(dw, dw0, nw * 4);
    memcpy(dw_r, dw0, nw * 4);
    conv2d_backward(din, dw, NULL, r, in, w, &s, 0, ws);
    conv2d_backward_ref(din_r, dw_r, NULL, r, in, w, &s, 0);
    snprintf(nm, sizeof nm, "%s: dinput vs ref", tag);
    check_close(din, din_r, nin, tol, nm);
    snprintf(nm, sizeof nm, "%s: dweight (+=) vs ref", tag);
    check_close(dw, dw_r, nw, tol, nm);
    /* backward-data accumulated onto other values */
    float *din0 = rnd(nin, -1, 1);
    memcpy(din, din0, nin * 4);
    memcpy(din_r, din0, nin * 4);
    conv2d_backward(din, dw, NULL, r, in, w, &s, 1, ws);
    conv2d_backward_ref(din_r, dw_r, NULL, r, in, w, &s, 1);
    snprintf(nm, sizeof nm, "%s: dinput accumulated vs ref", tag);
    check_close(din, din_r, nin, tol, nm);
    /* wg_forward itself: accumulate onto out0, then the epilogue with a
     * residual and ReLU, against the same in double */
    float *out0 = rnd(nout, -1, 1), *res = rnd(nout, -1, 1);
    float *sc = rnd(OC, 0.5, 1.5), *sh = rnd(OC, -1, 1);
    float *u = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    cd_epilogue ep = { sc, sh, res, 1 };
    memcpy(out, out0, nout * 4);
    wg_pack(u, w, &s);
    wg_forward(out, in, u, &s, 1, &ep, u + wg_packed_size(&s));
    for (size_t i = 0; i < nout; i++) {
        int oc = (int)(i % OC);
        double v = ((double)out0[i] + ref[i]) * sc[oc] + sh[oc] + res[i];
        out0[i] = (float)(v > 0 ? v : 0);
    }
    snprintf(nm, sizeof nm, "%s: accumulate + epilogue vs ref", tag);
    check_close(out, out0, nout, tol, nm);
    /* thread count: forward, dinput, dweight bit for bit */
    float *o[3], *di[3], *dwt[3];
    for (int t = 0; t < 3; t++) {
        ssl_set_threads(t + 1);
        o[t] = malloc(nout * 4); di[t] = malloc(nin * 4); dwt[t] = calloc(nw, 4);
        conv2d_forward(o[t], in, w, NULL, &s, ws);
        conv2d_backward(di[t], dwt[t], NULL, r, in, w, &s, 0, ws);
    }
    ssl_set_threads(2);
    int same = 1;
    for (int t = 1; t < 3; t++)
        same &= !memcmp(o[0], o[t], nout * 4) && !memcmp(di[0], di[t], nin * 4) &&
                !memcmp(dwt[0], dwt[t], nw * 4);
    snprintf(nm, sizeof nm, "%s: same bits with 1, 2 and 3 threads", tag);
    T_OK(same, nm);
    for (int t = 0; t < 3; t++) { free(o[t]); free(di[t]); free(dwt[t]); }
    free(in); free(w); free(r); free(ws); free(out); free(ref); free(din); free(din_r);
    free(dw0); free(dw); free(dw_r); free(din0); free(out0); free(res); free(sc); free(sh);
}

/* ---- batch norm ---- */
typedef struct { int64_t N; int C; float *x, *g, *b, *res, *y, *mean, *rstd, *r; } bn_case;

static double bn_loss(void *v) {
    bn_case *c = v;
    bn_forward_train(c->y, c->mean, c->rstd, c->x, c->g, c->b, c->res, 0, c->N, c->C, NULL,
                     NULL, 0.1f, 1e-5f);
    return dot(c->y, c->r, (size_t)c->N * c->C);
}

static void test_bn(int64_t N, int C) {
    char nm[128], tag[64];
    snprintf(tag, sizeof tag, "bn N%lld C%d", (long long)N, C);
    size_t n = (size_t)N * C;
    bn_case c = { N, C, rnd(n, -2, 3), rnd(C, 0.5, 1.5), rnd(C, -1, 1), rnd(n, -1, 1),
                  malloc(n * 4), malloc(C * 4), malloc(C * 4), rnd(n, -1, 1) };
    float *rm = rnd(C, -1, 1), *rv = rnd(C, 0.5, 2), *rm0 = malloc(C * 4), *rv0 = malloc(C * 4);
    memcpy(rm0, rm, C * 4); memcpy(rv0, rv, C * 4);
    float *yr = malloc(n * 4), *mr = malloc(C * 4), *sr = malloc(C * 4);
    bn_forward_train(c.y, c.mean, c.rstd, c.x, c.g, c.b, c.res, 1, N, C, rm, rv, 0.1f, 1e-5f);
    bn_forward_train_ref(yr, mr, sr, c.x, c.g, c.b, c.res, 1, N, C, NULL, NULL, 0.1f, 1e-5f);
    snprintf(nm, sizeof nm, "%s: forward (res, relu) vs ref", tag);
    check_close(c.y, yr, n, 1e-4, nm);
    /* running statistics: unbiased variance, momentum 0.1 */
    double worst = 0;
    for (int j = 0; j < C; j++) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < N; i++) s += c.x[i * C + j];
        s /= N;
        for (int64_t i = 0; i < N; i++) q += (c.x[i * C + j] - s) * (c.x[i * C + j] - s);
        double em = 0.9 * rm0[j] + 0.1 * s, ev = 0.9 * rv0[j] + 0.1 * q / (N - 1);
        double e = fabs(rm[j] - em) + fabs(rv[j] - ev);
        if (e > worst) worst = e;
    }
    snprintf(nm, sizeof nm, "%s: running stats (unbiased var)", tag);
    t_report(worst < 1e-5, nm, "err %.3g", worst);
    /* backward with the fused mask vs ref, and vs relu_backward + unmasked */
    float *dx = malloc(n * 4), *dg = calloc(C, 4), *db = calloc(C, 4);
    float *dxr = malloc(n * 4), *dgr = calloc(C, 4), *dbr = calloc(C, 4);
    bn_backward(dx, dg, db, c.r, c.y, c.x, c.mean, c.rstd, c.g, N, C);
    bn_backward_ref(dxr, dgr, dbr, c.r, yr, c.x, mr, sr, c.g, N, C);
    snprintf(nm, sizeof nm, "%s: backward (relu mask) vs ref", tag);
    check_close(dx, dxr, n, 1e-4, nm);
    snprintf(nm, sizeof nm, "%s: dgamma (relu mask) vs ref", tag);
    check_close(dg, dgr, C, 1e-4, nm);
    float *m = malloc(n * 4);
    relu_backward(m, c.r, c.y, (int64_t)n);
    memset(dgr, 0, C * 4); memset(dbr, 0, C * 4);
    bn_backward(dxr, dgr, dbr, m, NULL, c.x, c.mean, c.rstd, c.g, N, C);
    snprintf(nm, sizeof nm, "%s: fused mask == relu_backward then bn_backward", tag);
    check_close(dx, dxr, n, 1e-6, nm);
    /* finite differences without the ReLU */
    memset(dg, 0, C * 4); memset(db, 0, C * 4);
    bn_loss(&c);
    bn_backward(dx, dg, db, c.r, NULL, c.x, c.mean, c.rstd, c.g, N, C);
    snprintf(nm, sizeof nm, "%s: dx fd", tag);
    fd_check(nm, c.x, n, dx, bn_loss, &c, 5e-3f);
    snprintf(nm, sizeof nm, "%s: dgamma fd", tag);
    fd_check(nm, c.g, C, dg, bn_loss, &c, 5e-3f);
    snprintf(nm, sizeof nm, "%s: dbeta fd", tag);
    fd_check(nm, c.b, C, db, bn_loss, &c, 5e-3f);
    /* eval mode: (x - rm) / sqrt(rv + eps) * g + b */
    bn_forward_eval(c.y, c.x, c.g, c.b, NULL, 0, N, C, rm, rv, 1e-5f);
    worst = 0;
    for (size_t i = 0; i < n; i++) {
        int j = (int)(i % C);
        double e = (c.x[i] - rm[j]) / sqrt(rv[j] + 1e-5) * c.g[j] + c.b[j];
        if (fabs(e - c.y[i]) > worst) worst = fabs(e - c.y[i]);
    }
    snprintf(nm, sizeof nm, "%s: eval uses running stats", tag);
    t_report(worst < 1e-5, nm, "err %.3g", worst);
    free(c.x); free(c.g); free(c.b); free(c.res); free(c.y); free(c.mean); free(c.rstd);
    free(c.r); free(rm); free(rv); free(rm0); free(rv0); free(yr); free(mr); free(sr);
    free(dx); free(dg); free(db); free(dxr); free(dgr); free(dbr); free(m);
}

/* ---- pooling, linear, relu, l2norm ---- */
typedef struct { int B, H, W, C, OH, OW; float *in, *out, *r; int32_t *arg; } pool_case;

static double maxpool_loss(void *v) {
    pool_case *c = v;
    maxpool_forward(c->out, c->arg, c->in, c->B, c->H, c->W, c->C, 3, 2, 1, c->OH, c->OW);
    return dot(c->out, c->r, (size_t)c->B * c->OH * c->OW * c->C);
}

static double avgpool_loss(void *v) {
    pool_case *c = v;
    avgpool_forward(c->out, c->in, c->B, c->H, c->W, c->C);
    return dot(c->out, c->r, (size_t)c->B * c->C);
}

static void test_pool(void) {
    pool_case c = { .B = 2, .H = 7, .W = 6, .C = 3, .OH = 4, .OW = 3 };
    size_t nin = (size_t)c.B * c.H * c.W * c.C, nout = (size_t)c.B * c.OH * c.OW * c.C;
    c.in = malloc(nin * 4);
    int64_t *perm = malloc(nin * sizeof *perm);
    for (size_t i = 0; i < nin; i++) perm[i] = (int64_t)i;
    rng_shuffle_i64(&R, perm, (int64_t)nin);
    for (size_t i = 0; i < nin; i++) c.in[i] = -5.0f + 0.05f * (float)perm[i];  /* distinct, 0.05 apart */
    c.out = malloc(nout * 4); c.r = rnd(nout, -1, 1); c.arg = malloc(nout * 4);
    float *din = malloc(nin * 4);
    maxpool_loss(&c);
    int ok = 1;   /* each output is the max of its clipped window */
    for (int b = 0; b < c.B; b++)
        for (int oh = 0; oh < c.OH; oh++)
            for (int ow = 0; ow < c.OW; ow++)
                for (int ch = 0; ch < c.C; ch++) {
                    float m = -1e30f;
                    for (int ih = 2 * oh - 1; ih <= 2 * oh + 1; ih++)
                        for (int iw = 2 * ow - 1; iw <= 2 * ow + 1; iw++)
                            if (ih >= 0 && ih < c.H && iw >= 0 && iw < c.W) {
                                float v = c.in[((b * c.H + ih) * c.W + iw) * c.C + ch];
                                if (v > m) m = v;
                            }
                    if (c.out[((b * c.OH + oh) * c.OW + ow) * c.C + ch] != m) ok = 0;
                }
    T_OK(ok, "maxpool 3x3 s2 p1: forward is the window max");
    maxpool_backward(din, c.r, c.arg, c.B, c.H, c.W, c.C, c.OH, c.OW);
    fd_check("maxpool: dinput fd", c.in, nin, din, maxpool_loss, &c, 1e-2f);
    free(c.out); free(c.r);
    c.out = malloc((size_t)c.B * c.C * 4); c.r = rnd((size_t)c.B * c.C, -1, 1);
    avgpool_backward(din, c.r, c.B, c.H, c.W, c.C);
    fd_check("avgpool: dinput fd", c.in, nin, din, avgpool_loss, &c, 1e-2f);
    free(c.in); free(c.out); free(c.r); free(c.arg); free(din); free(perm);
}

typedef struct { int N, I, O; float *in, *w, *b, *out, *r, *ws; } lin_case;

static double lin_loss(void *v) {
    lin_case *c = v;
    linear_forward(c->out, c->in, c->w, c->b, c->N, c->I, c->O, c->ws, PREC_FP32);
    return dot(c->out, c->r, (size_t)c->N * c->O);
}

/* With a workspace the products are gemm's (where built), without it
 * OpenBLAS's: both are checked. */
static void test_linear(int with_ws) {
    lin_case c = { 5, 7, 4, rnd(35, -1, 1), rnd(28, -1, 1), rnd(4, -1, 1), malloc(20 * 4),
                   rnd(20, -1, 1), NULL };
    if (with_ws) c.ws = malloc(sizeof(float) * (size_t)(linear_workspace(5, 7, 4) + 1));
    float *din = malloc(35 * 4), *dw = calloc(28, 4), *db = calloc(4, 4);
    lin_loss(&c);
    double e = 0;
    for (int n = 0; n < 5; n++)
        for (int o = 0; o < 4; o++) {
            double s = c.b[o];
            for (int i = 0; i < 7; i++) s += (double)c.in[n * 7 + i] * c.w[o * 7 + i];
            if (fabs(s - c.out[n * 4 + o]) > e) e = fabs(s - c.out[n * 4 + o]);
        }
    t_report(e < 1e-5, with_ws ? "linear (gemm): forward = in w^T + b"
                               : "linear (OpenBLAS): forward = in w^T + b", "err %.3g", e);
    linear_backward(din, dw, db, c.r, c.in, c.w, 5, 7, 4, c.ws, PREC_FP32);
    fd_check(with_ws ? "linear (gemm): dinput fd" : "linear (OpenBLAS): dinput fd", c.in, 35,
             din, lin_loss, &c, 1e-2f);
    fd_check(with_ws ? "linear (gemm): dweight fd" : "linear (OpenBLAS): dweight fd", c.w, 28,
             dw, lin_loss, &c, 1e-2f);
    fd_check(with_ws ? "linear (gemm): dbias fd" : "linear (OpenBLAS): dbias fd", c.b, 4, db,
             lin_loss, &c, 1e-2f);
    free(c.in); free(c.w); free(c.b); free(c.out); free(c.r); free(din); free(dw); free(db);
    free(c.ws);
}

typedef struct { int64_t n; int N, D; float *x, *y, *r; } ew_case;

static double relu_loss(void *v) {
    ew_case *c = v;
    relu_forward(c->y, c->x, c->n);
    return dot(c->y, c->r, (size_t)c->n);
}

static double l2_loss(void *v) {
    ew_case *c = v;
    l2norm_forward(c->y, c->x, c->N, c->D, 1e-12f);
    return dot(c->y, c->r, (size_t)c->N * c->D);
}

static void test_elementwise(void) {
    ew_case c = { 64, 4, 16, rnd(64, 0.1f, 1), malloc(64 * 4), rnd(64, -1, 1) };
    for (int i = 0; i < 64; i += 2) c.x[i] = -c.x[i];      /* |x| >= 0.1, both signs */
    float *dx = malloc(64 * 4);
    relu_loss(&c);
    relu_backward(dx, c.r, c.y, 64);
    fd_check("relu: dinput fd (|x| >= 0.1)", c.x, 64, dx, relu_loss, &c, 1e-2f);
    float a[3] = { 1, 2, 3 }, b[3] = { 0.5f, -2, 4 }, o[3];
    add_forward(o, a, b, 3);
    T_OK(o[0] == 1.5f && o[1] == 0 && o[2] == 7, "add: forward");
    add_inplace(a, b, 3);
    T_OK(a[0] == 1.5f && a[1] == 0 && a[2] == 7, "add: in place");
    l2_loss(&c);
    double e = 0;
    for (int i = 0; i < 4; i++) {
        double s = 0;
        for (int j = 0; j < 16; j++) s += (double)c.y[i * 16 + j] * c.y[i * 16 + j];
        if (fabs(s - 1) > e) e = fabs(s - 1);
    }
    t_report(e < 1e-6, "l2norm: unit rows", "err %.3g", e);
    l2norm_backward(dx, c.r, c.x, 4, 16, 1e-12f);
    for (int i = 0; i < 64; i++) c.x[i] *= 3;     /* gradient scale matters: norm ~ 3 */
    l2norm_backward(dx, c.r, c.x, 4, 16, 1e-12f);
    fd_check("l2norm: dinput fd", c.x, 64, dx, l2_loss, &c, 1e-3f);
    free(c.x); free(c.y); free(c.r); free(dx);
    /* the one row normalisation: a non-finite row is named (the first of
     * several), and the bits do not depend on the thread count */
    int64_t nr = 1000, dd = 37;
    float *x = rnd((size_t)(nr * dd), -2, 2), *y1 = malloc(nr * dd * 4), *y2 = malloc(nr * dd * 4);
    T_EQ(l2norm_forward(y1, x, nr, (int)dd, L2_EPS), -1, "l2norm: finite rows return -1");
    ssl_set_threads(1);
    l2norm_forward(y2, x, nr, (int)dd, L2_EPS);
    ssl_set_threads(2);
    T_OK(!memcmp(y1, y2, nr * dd * 4), "l2norm: same bits with 1 and 2 threads");
    x[700 * dd + 3] = INFINITY;
    x[900 * dd] = NAN;
    T_EQ(l2norm_forward(y1, x, nr, (int)dd, L2_EPS), 700, "l2norm: the first non-finite row is named");
    free(x); free(y1); free(y2);
}

/* ---- MobileNet ops: depthwise convolution, activations, SE ---- */

typedef struct { conv_shape s; float *in, *w, *out, *r, *ws; } dw_case;

static double dw_loss(void *v) {
    dw_case *c = v;
    dwconv_forward(c->out, c->in, c->w, &c->s, c->ws);
    return dot(c->out, c->r, (size_t)c->s.B * c->s.OH * c->s.OW * c->s.C);
}

/* Forward, dinput (written, then accumulated) and dweight (accumulated
 * onto nonzero values) against the double references; finite differences;
 * the same bits with 1, 2 and 3 threads. */
static void test_dwconv(int B, int H, int W, int C, int k, int stride, int fd) {
    dw_case c;
    char nm[160], tag[96];
    snprintf(tag, sizeof tag, "dwconv %dx%dx%dx%d k%d s%d", B, H, W, C, k, stride);
    if (conv_shape_init(&c.s, B, H, W, C, C, k, k, stride, k / 2) < 0) {
        snprintf(nm, sizeof nm, "%s: shape", tag);
        T_OK(0, nm);
        return;
    }
    size_t nin = (size_t)B * H * W * C, nw = (size_t)C * k * k;
    size_t nout = (size_t)B * c.s.OH * c.s.OW * C;
    c.in = rnd(nin, -1, 1); c.w = rnd(nw, -1, 1); c.out = malloc(nout * 4); c.r = rnd(nout, -1, 1);
    c.ws = malloc((size_t)dwconv_workspace(&c.s) * 4);
    float *ref = malloc(nout * 4);
    dw_loss(&c);
    dwconv_forward_ref(ref, c.in, c.w, &c.s);
    snprintf(nm, sizeof nm, "%s: forward vs ref", tag);
    check_close(c.out, ref, nout, 1e-5, nm);
    /* the eval epilogue: == forward, then bn_apply_affine */
    for (int act = ACT_NONE; act <= ACT_HSWISH; act++) {
        float *sc = rnd(C, -2, 2), *sh = rnd(C, -1, 1), *res = act % 2 ? rnd(nout, -1, 1) : NULL;
        float *a = malloc(nout * 4), *e = malloc(nout * 4);
        dwconv_forward(e, c.in, c.w, &c.s, c.ws);
        bn_apply_affine(e, e, sc, sh, res, act, (int64_t)B * c.s.OH * c.s.OW, C);
        dwconv_forward_affine(a, c.in, c.w, sc, sh, res, act, &c.s, c.ws);
        snprintf(nm, sizeof nm, "%s: forward_affine (act %d%s) == forward, bn_apply_affine", tag,
                 act, res ? ", res" : "");
        T_OK(!memcmp(a, e, nout * 4), nm);
        free(sc); free(sh); free(res); free(a); free(e);
    }
    float *din = malloc(nin * 4), *din_r = malloc(nin * 4), *dw0 = rnd(nw, -1, 1);
    float *dw = malloc(nw * 4), *dw_r = malloc(nw * 4);
    for (size_t i = 0; i < nin; i++) din[i] = 7;             /* written, not added */
    memcpy(dw, dw0, nw * 4); memcpy(dw_r, dw0, nw * 4);
    dwconv_backward(din, dw, c.r, c.in, c.w, &c.s, 0, c.ws);
    dwconv_backward_ref(din_r, dw_r, c.r, c.in, c.w, &c.s, 0);
    snprintf(nm, sizeof nm, "%s: dinput vs ref", tag);
    check_close(din, din_r, nin, 1e-5, nm);
    snprintf(nm, sizeof nm, "%s: dweight (+=) vs ref", tag);
    check_close(dw, dw_r, nw, 1e-5, nm);
    float *din0 = rnd(nin, -1, 1);
    memcpy(din, din0, nin * 4); memcpy(din_r, din0, nin * 4);
    dwconv_backward(din, dw, c.r, c.in, c.w, &c.s, 1, c.ws);
    dwconv_backward_ref(din_r, dw_r, c.r, c.in, c.w, &c.s, 1);
    snprintf(nm, sizeof nm, "%s: dinput accumulated vs ref", tag);
    check_close(din, din_r, nin, 1e-5, nm);
    if (fd) {
        float *g = calloc(nw, 4);
        dwconv_backward(din, g, c.r, c.in, c.w, &c.s, 0, c.ws);
        snprintf(nm, sizeof nm, "%s: dinput fd", tag);
        fd_check(nm, c.in, nin, din, dw_loss, &c, 1e-2f);
        snprintf(nm, sizeof nm, "%s: dweight fd", tag);
        fd_check(nm, c.w, nw, g, dw_loss, &c, 1e-2f);
        free(g);
    }
    float *o[3], *di[3], *dwt[3];
    for (int t = 0; t < 3; t++) {
        ssl_set_threads(t + 1);
        o[t] = malloc(nout * 4); di[t] = malloc(nin * 4); dwt[t] = calloc(nw, 4);
        dwconv_forward(o[t], c.in, c.w, &c.s, c.ws);
        dwconv_backward(di[t], dwt[t], c.r, c.in, c.w, &c.s, 0, c.ws);
    }
    ssl_set_threads(2);
    int same = 1;
    for (int t = 1; t < 3; t++)
        same &= !memcmp(o[0], o[t], nout * 4) && !memcmp(di[0], di[t], nin * 4) &&
                !memcmp(dwt[0], dwt[t], nw * 4);
    snprintf(nm, sizeof nm, "%s: same bits with 1, 2 and 3 threads", tag);
    T_OK(same, nm);
    for (int t = 0; t < 3; t++) { free(o[t]); free(di[t]); free(dwt[t]); }
    free(c.in); free(c.w); free(c.out); free(c.r); free(c.ws); free(ref); free(din);
    free(din_r); free(dw0); free(dw); free(dw_r); free(din0);
}

/* The depthwise layer's fusions with its BNs (training mode), bit for
 * bit against the separate passes: dwconv_forward_xf == bn_apply_affine
 * then dwconv_forward; dwconv_backward_bn (the output BN's dx pass
 * inside, the input read through the transform or not) ==
 * bn_backward_act then dwconv_backward on the transformed input: din
 * (written and accumulated), dweight, dgamma, dbeta, for every output
 * activation it takes and the input transforms with kernels of their own
 * (ReLU6, ReLU) and without (hard-swish), at 1, 2 and 3 threads (so also
 * the same bits across them); bn_backward_act_split refuses the rest. */
static void test_dwconv_bn(int B, int H, int W, int C, int k, int stride) {
    conv_shape s;
    char nm[200];
    if (conv_shape_init(&s, B, H, W, C, C, k, k, stride, k / 2) < 0) {
        T_OK(0, "dwconv_bn: shape");
        return;
    }
    int64_t N = (int64_t)B * s.OH * s.OW;
    size_t nin = (size_t)B * H * W * C, nw = (size_t)C * k * k, nout = (size_t)N * C;
    float *pre = rnd(nin, -4, 8), *w = rnd(nw, -1, 1), *x = rnd(nout, -2, 2);
    float *dy = rnd(nout, -1, 1), *din0 = rnd(nin, -1, 1), *dw0 = rnd(nw, -1, 1);
    float *gam = rnd(C, 0.5f, 2), *g0 = rnd(C, -1, 1), *b0 = rnd(C, -1, 1);
    float *isc = rnd(C, -1.5f, 1.5f), *ish = rnd(C, -1, 1);
    float *y = malloc(nout * 4), *mean = malloc(C * 4), *rstd = malloc(C * 4);
    float *sc = malloc(C * 4), *sh = malloc(C * 4), *tmp = malloc(nout * 4);
    float *in = malloc(nin * 4), *o1 = malloc(nout * 4), *o2 = malloc(nout * 4);
    float *coef = malloc(3 * C * 4);
    float *ws = malloc((size_t)dwconv_workspace(&s) * 4);
    float *scr = malloc((size_t)dwconv_bn_scratch(&s) * 4);
    static const int xacts[] = { -1, ACT_RELU6, ACT_RELU, ACT_HSWISH };
    for (int xi = 0; xi < 4; xi++) {
        int xact = xacts[xi];
        conv_in_xf xf = { .scale = isc, .shift = ish, .act = xact }, *xp = xact < 0 ? NULL : &xf;
        if (xp) bn_apply_affine(in, pre, isc, ish, NULL, xact, (int64_t)B * H * W, C);
        else memcpy(in, pre, nin * 4);
        if (xp) {
            int ok = 1;
            for (int t = 1; t <= 3; t++) {
                ssl_set_threads(t);
                dwconv_forward(o1, in, w, &s, ws);
                dwconv_forward_xf(o2, pre, xp, w, &s, ws);
                ok &= !memcmp(o1, o2, nout * 4);
            }
            snprintf(nm, sizeof nm, "dwconv_forward_xf %dx%dx%dx%d k%d s%d act %d == "
                     "bn_apply_affine, dwconv_forward (1, 2, 3 threads)", B, H, W, C, k, stride,
                     xact);
            T_OK(ok, nm);
        }
        for (int act = ACT_NONE; act <= ACT_HSWISH; act++)
            for (int accum = 0; accum < 2; accum++) {
                /* output pre-activations across the kinks at -3, 0, 3 and 6 */
                float *be = rnd(C, -4, 4);
                bn_forward_train_aff(y, mean, rstd, sc, sh, x, gam, be, NULL, act, N, C, NULL,
                                     NULL, 0.1f, 1e-5f);
                float *di[4], *dwt[4], *dg[4], *db[4];
                for (int t = 0; t < 4; t++) {     /* 0: separate passes; 1-3 threads */
                    ssl_set_threads(t ? t : 2);
                    di[t] = malloc(nin * 4); memcpy(di[t], din0, nin * 4);
                    dwt[t] = malloc(nw * 4); memcpy(dwt[t], dw0, nw * 4);
                    dg[t] = malloc(C * 4); memcpy(dg[t], g0, C * 4);
                    db[t] = malloc(C * 4); memcpy(db[t], b0, C * 4);
                    bn_dx_src d = { .dy = dy, .x = x, .scale = sc, .shift = sh, .mean = mean,
                                    .rstd = rstd, .coef = coef, .act = act, .C = C };
                    if (t == 0) {
                        bn_backward_act(tmp, dg[t], db[t], dy, x, sc, sh, act, mean, rstd, gam,
                                        N, C);
                        dwconv_backward(di[t], dwt[t], tmp, in, w, &s, accum, ws);
                    } else {
                        bn_backward_act_sums(coef, dg[t], db[t], &d, gam, N);
                        dwconv_backward_bn(di[t], dwt[t], &d, xp ? pre : in, xp, w, &s, accum, ws,
                                           scr);
                    }
                }
                ssl_set_threads(2);
                int ok = 1;
                for (int t = 1; t < 4; t++)
                    ok &= !memcmp(di[0], di[t], nin * 4) && !memcmp(dwt[0], dwt[t], nw * 4) &&
                          !memcmp(dg[0], dg[t], C * 4) && !memcmp(db[0], db[t], C * 4);
                snprintf(nm, sizeof nm, "dwconv_backward_bn %dx%dx%dx%d k%d s%d act %d, input "
                         "act %d%s == bn_backward_act, dwconv_backward (1, 2, 3 threads)", B, H, W,
                         C, k, stride, act, xact, accum ? ", accumulated" : "");
                T_OK(ok, nm);
                for (int t = 0; t < 4; t++) { free(di[t]); free(dwt[t]); free(dg[t]); free(db[t]); }
                free(be);
            }
    }
    free(pre); free(w); free(x); free(dy); free(din0); free(dw0); free(gam); free(g0); free(b0);
    free(isc); free(ish); free(y); free(mean); free(rstd); free(sc); free(sh); free(tmp);
    free(in); free(o1); free(o2); free(coef); free(ws); free(scr);
}

typedef struct { int64_t n; int act; float *x, *y, *r; } act_case;

static double act_loss(void *v) {
    act_case *c = v;
    act_forward(c->y, c->x, c->n, c->act);
    return dot(c->y, c->r, (size_t)c->n);
}

/* Each activation: the forward against its formula in double, the
 * gradient by finite differences (inputs at least 0.1 from every kink,
 * in both linear and curved parts), the values at the kinks as PyTorch
 * gives them, and in-place use. 61 elements: vector loops and a tail. */
static void test_act(int act, const char *name, double lo, double hi) {
    static const double kinks[] = { -3, 0, 3, 6 };
    char nm[128];
    act_case c = { 61, act, malloc(61 * 4), malloc(61 * 4), rnd(61, -1, 1) };
    for (int i = 0; i < 61; i++) {
        float v;
        int near;
        do {
            v = (float)(lo + (hi - lo) * rng_uniform(&R));
            near = 0;
            for (int j = 0; j < 4; j++) near |= fabs(v - kinks[j]) < 0.1;
        } while (near);
        c.x[i] = v;
    }
    act_loss(&c);
    double worst = 0;
    for (int i = 0; i < 61; i++) {
        double x = c.x[i], t = fmin(fmax(x + 3, 0), 6), e;
        switch (act) {
        case ACT_RELU6: e = fmin(fmax(x, 0), 6); break;
        case ACT_HSWISH: e = x * t / 6; break;
        case ACT_HSIGMOID: e = t / 6; break;
        default: e = fmax(x, 0); break;
        }
        if (fabs(e - c.y[i]) > worst) worst = fabs(e - c.y[i]);
    }
    snprintf(nm, sizeof nm, "%s: forward = formula", name);
    t_report(worst < 1e-6, nm, "err %.3g", worst);
    float *dx = malloc(61 * 4);
    act_backward(dx, c.r, c.x, 61, act);
    snprintf(nm, sizeof nm, "%s: dinput fd (0.1 from the kinks)", name);
    fd_check(nm, c.x, 61, dx, act_loss, &c, 1e-2f);
    /* in place: out == in, dx == dy */
    act_loss(&c);                /* c.y of the unperturbed x again */
    float *y2 = malloc(61 * 4), *d2 = malloc(61 * 4);
    memcpy(y2, c.x, 61 * 4);
    act_forward(y2, y2, 61, act);
    memcpy(d2, c.r, 61 * 4);
    act_backward(d2, d2, c.x, 61, act);
    snprintf(nm, sizeof nm, "%s: in place", name);
    T_OK(!memcmp(y2, c.y, 61 * 4) && !memcmp(d2, dx, 61 * 4), nm);
    /* the kinks and beyond, as PyTorch: relu6 passes 0 < x < 6, hard-swish
     * is x/3 + 1/2 on [-3, 3], hard-sigmoid 1/6 on (-3, 3) */
    float kx[8] = { -3.5f, -3, 0, 3, 6, 7, -1, 1.5f }, ky[8], kd[8], one[8];
    for (int i = 0; i < 8; i++) one[i] = 1;
    act_forward(ky, kx, 8, act);
    act_backward(kd, one, kx, 8, act);
    int ok = 1;
    for (int i = 0; i < 8; i++) {
        double x = kx[i], d;
        switch (act) {
        case ACT_RELU6: d = x > 0 && x < 6; break;
        case ACT_HSWISH: d = x < -3 ? 0 : x <= 3 ? x / 3 + 0.5 : 1; break;
        case ACT_HSIGMOID: d = x > -3 && x < 3 ? 1.0 / 6 : 0; break;
        default: d = x > 0; break;
        }
        ok &= fabs(kd[i] - d) < 1e-7;
    }
    snprintf(nm, sizeof nm, "%s: gradient at the kinks as PyTorch", name);
    T_OK(ok, nm);
    free(c.x); free(c.y); free(c.r); free(dx); free(y2); free(d2);
}

typedef struct {
    int B, C, S;
    int64_t P;
    float *x, *w1, *b1, *w2, *b2, *out, *pooled, *z1, *z2, *sc, *ws, *r;
} se_case;

static double se_loss(void *v) {
    se_case *c = v;
    se_forward(c->out, c->pooled, c->z1, c->z2, c->sc, c->x, c->w1, c->b1, c->w2, c->b2, c->B,
               c->P, c->C, c->S, c->ws);
    return dot(c->out, c->r, (size_t)c->B * c->P * c->C);
}

/* SE against the same computed in double (forward and every gradient),
 * and by finite differences. The inputs keep the ReLU's and the
 * hard-sigmoid's inputs away from their kinks (checked: the margin is
 * reported and must exceed what a perturbation can move them). */
/* SE's reference pre-activations in double (pooled pd, z1 = fc1, z2 =
 * fc2) and their distance to the nearest kink (ReLU at 0, hard-sigmoid
 * at -3 and 3). */
static double se_ref(const se_case *c, int P, double *pd, double *z1, double *z2) {
    int B = c->B, C = c->C, S = c->S;
    double margin = 1e9;
    memset(pd, 0, (size_t)B * C * 8);
    for (int b = 0; b < B; b++) {
        for (int p = 0; p < P; p++)
            for (int j = 0; j < C; j++) pd[b * C + j] += c->x[((size_t)b * P + p) * C + j] / (double)P;
        for (int s = 0; s < S; s++) {
            z1[b * S + s] = c->b1[s];
            for (int j = 0; j < C; j++) z1[b * S + s] += pd[b * C + j] * c->w1[s * C + j];
            margin = fmin(margin, fabs(z1[b * S + s]));
        }
        for (int j = 0; j < C; j++) {
            z2[b * C + j] = c->b2[j];
            for (int s = 0; s < S; s++) z2[b * C + j] += fmax(z1[b * S + s], 0) * c->w2[j * S + s];
            margin = fmin(margin, fmin(fabs(z2[b * C + j] - 3), fabs(z2[b * C + j] + 3)));
        }
    }
    return margin;
}

static void test_se(int B, int P, int C, int S) {
    char nm[128], tag[64];
    snprintf(tag, sizeof tag, "se B%d P%d C%d S%d", B, P, C, S);
    size_t nx = (size_t)B * P * C;
    se_case c = { B, C, S, P, rnd(nx, -2, 2), rnd((size_t)S * C, -1, 1), rnd(S, -0.5f, 0.5f),
                  rnd((size_t)C * S, -1, 1), rnd(C, -1, 1), malloc(nx * 4), malloc(B * C * 4),
                  malloc(B * S * 4), malloc(B * C * 4), malloc(B * C * 4),
                  malloc((size_t)se_workspace(B, C, S) * 4), rnd(nx, -1, 1) };
    double *pd = calloc(B * C, 8), *z1 = calloc(B * S, 8), *z2 = calloc(B * C, 8);
    /* Finite differences need every pre-activation away from a kink: the
     * inputs are drawn again (at most 20 times) until they are. The draws
     * come from the file's one generator, so how many numbers the tests
     * before took (fewer where some skip) decides the first draw. */
    double margin = se_ref(&c, P, pd, z1, z2);
    for (int t = 0; t < 20 && !(margin > 1e-3 * (1 + S)); t++) {
        free(c.x); free(c.b1); free(c.b2);
        c.x = rnd(nx, -2, 2); c.b1 = rnd(S, -0.5f, 0.5f); c.b2 = rnd(C, -1, 1);
        margin = se_ref(&c, P, pd, z1, z2);
    }
    se_loss(&c);
    float *out_r = malloc(nx * 4), *dx_r = malloc(nx * 4), *dw1_r = calloc(S * C, 4);
    float *db1_r = calloc(S, 4), *dw2_r = calloc(C * S, 4), *db2_r = calloc(C, 4);
    for (int b = 0; b < B; b++) {
        double dsc[64], dz1[64], dp[64];
        for (int j = 0; j < C; j++) {
            double sc = fmin(fmax(z2[b * C + j] + 3, 0), 6) / 6, d = 0;
            for (int p = 0; p < P; p++) {
                size_t i = ((size_t)b * P + p) * C + j;
                out_r[i] = (float)(c.x[i] * sc);
                d += (double)c.r[i] * c.x[i];
            }
            dsc[j] = fabs(z2[b * C + j]) < 3 ? d / 6 : 0;      /* dz2 */
            db2_r[j] += (float)dsc[j];
        }
        for (int s = 0; s < S; s++) {
            double d = 0;
            for (int j = 0; j < C; j++) {
                d += dsc[j] * c.w2[j * S + s];
                dw2_r[j * S + s] += (float)(dsc[j] * fmax(z1[b * S + s], 0));
            }
            dz1[s] = z1[b * S + s] > 0 ? d : 0;
            db1_r[s] += (float)dz1[s];
        }
        for (int j = 0; j < C; j++) {
            dp[j] = 0;
            for (int s = 0; s < S; s++) {
                dp[j] += dz1[s] * c.w1[s * C + j];
                dw1_r[s * C + j] += (float)(dz1[s] * pd[b * C + j]);
            }
        }
        for (int p = 0; p < P; p++)
            for (int j = 0; j < C; j++) {
                size_t i = ((size_t)b * P + p) * C + j;
                double sc = fmin(fmax(z2[b * C + j] + 3, 0), 6) / 6;
                dx_r[i] = (float)(c.r[i] * sc + dp[j] / P);
            }
    }
    snprintf(nm, sizeof nm, "%s: forward vs double", tag);
    check_close(c.out, out_r, nx, 1e-5, nm);
    float *dx = malloc(nx * 4), *dw1 = calloc(S * C, 4), *db1 = calloc(S, 4);
    float *dw2 = calloc(C * S, 4), *db2 = calloc(C, 4);
    se_backward(dx, dw1, db1, dw2, db2, c.r, c.x, c.w1, c.w2, c.pooled, c.z1, c.z2, c.sc, B, P, C,
                S, c.ws);
    snprintf(nm, sizeof nm, "%s: dx vs double", tag);
    check_close(dx, dx_r, nx, 1e-5, nm);
    snprintf(nm, sizeof nm, "%s: dfc1 weight vs double", tag);
    check_close(dw1, dw1_r, (size_t)S * C, 1e-5, nm);
    snprintf(nm, sizeof nm, "%s: dfc1 bias vs double", tag);
    check_close(db1, db1_r, S, 1e-5, nm);
    snprintf(nm, sizeof nm, "%s: dfc2 weight vs double", tag);
    check_close(dw2, dw2_r, (size_t)C * S, 1e-5, nm);
    snprintf(nm, sizeof nm, "%s: dfc2 bias vs double", tag);
    check_close(db2, db2_r, C, 1e-5, nm);
    /* a perturbation of 1e-3 moves z1 by at most 1e-3 max|w1| and z2 by
     * 1e-3 (1 + S max|w1| max|w2|): below the margin, no kink crossed */
    snprintf(nm, sizeof nm, "%s: kink margin %.3g above the perturbation", tag, margin);
    T_OK(margin > 1e-3 * (1 + S), nm);
    snprintf(nm, sizeof nm, "%s: dx fd", tag);
    fd_check(nm, c.x, nx, dx, se_loss, &c, 1e-3f);
    snprintf(nm, sizeof nm, "%s: dfc1 weight fd", tag);
    fd_check(nm, c.w1, (size_t)S * C, dw1, se_loss, &c, 1e-3f);
    snprintf(nm, sizeof nm, "%s: dfc1 bias fd", tag);
    fd_check(nm, c.b1, S, db1, se_loss, &c, 1e-3f);
    snprintf(nm, sizeof nm, "%s: dfc2 weight fd", tag);
    fd_check(nm, c.w2, (size_t)C * S, dw2, se_loss, &c, 1e-3f);
    snprintf(nm, sizeof nm, "%s: dfc2 bias fd", tag);
    fd_check(nm, c.b2, C, db2, se_loss, &c, 1e-3f);
    free(c.x); free(c.w1); free(c.b1); free(c.w2); free(c.b2); free(c.out); free(c.pooled);
    free(c.z1); free(c.z2); free(c.sc); free(c.ws); free(c.r); free(pd); free(z1); free(z2);
    free(out_r); free(dx_r); free(dw1_r); free(db1_r); free(dw2_r); free(db2_r); free(dx);
    free(dw1); free(db1); free(dw2); free(db2);
}

/* The direct kernels' narrow last channel blocks (cd_nblocks: 144 = 64 +
 * 64 + 16, 112 = 64 + 32 + 16, 88 and 96 = 64 + 32, 72 = 64 + 16, 40 = 32
 * + 16), as outputs (forward, weight gradient) and as inputs
 * (backward-data, stride 1 and by parity class); with C 32 the tail
 * blocks take the row kernels. Run last, so the random inputs of the
 * tests above stay as they were. */
static void test_conv_tail_blocks(void) {
    wg_mode = CONV_WINOGRAD_OFF;
    conv_fd = 0;
    test_conv(2, 8, 8, 24, 144, 1, 1, 0, 0);
    test_conv(2, 8, 8, 144, 24, 1, 1, 0, 1);
    test_conv(2, 16, 16, 32, 112, 3, 1, 1, 0);
    test_conv(2, 9, 9, 112, 32, 3, 2, 1, 0);
    test_conv(2, 8, 8, 96, 88, 3, 2, 1, 0);
    test_conv(2, 7, 7, 72, 72, 5, 1, 2, 0);
    test_conv(3, 8, 8, 88, 96, 1, 2, 0, 0);
    conv_fd = 1;
    test_conv(2, 5, 5, 8, 40, 1, 1, 0, 1);
    test_conv(2, 5, 5, 40, 8, 3, 2, 1, 0);
    test_conv(1, 4, 4, 72, 6, 1, 1, 0, 0);
    test_conv_threads_k(20, 8, 8, 24, 144, 1, 1, 0);
    test_conv_threads_k(20, 8, 8, 144, 24, 1, 1, 0);
    test_conv_threads_k(9, 8, 8, 112, 40, 3, 2, 1);
    test_conv_xf(20, 8, 8, 24, 144);
    test_conv_xf(20, 8, 8, 144, 24);
    test_conv_xf(3, 7, 7, 40, 19);             /* vector tails */
    test_conv_affine(2, 8, 24, 144, 1, 1, 0, 1, ACT_RELU6);
    test_conv_affine(2, 16, 32, 112, 3, 1, 1, 1, ACT_HSWISH);
}

int main(void) {
    rng_init(&R, 42, 0, 0);
    ssl_set_threads(2);
    conv_shape s0;
    T_OK(conv_shape_init(&s0, 2, 8, 8, 16, 16, 3, 3, 1, 1) == 0 &&
         s0.winograd == CONV_WINOGRAD_AUTO, "conv_shape_init chooses Winograd where measured faster");
    /* everything below with the direct kernels first, then the conv
     * tests that qualify again with Winograd */
    wg_mode = CONV_WINOGRAD_OFF;
    test_conv(2, 5, 6, 3, 4, 3, 1, 1, 1);
    test_conv(3, 7, 7, 5, 6, 3, 2, 1, 0);
    test_conv(2, 4, 5, 8, 6, 1, 1, 0, 1);      /* pointwise: straight GEMM */
    test_conv(2, 7, 6, 4, 5, 1, 2, 0, 0);      /* downsample */
    test_conv(2, 11, 9, 2, 3, 7, 2, 3, 0);     /* imagenet stem */
    test_conv(1, 6, 6, 3, 2, 2, 2, 0, 1);      /* even kernel, no overlap */
    /* direct kernels: channel blocks of 16/32/64 with tails, two image
     * groups, k chunks, strided and pointwise */
    test_conv(3, 9, 8, 16, 16, 3, 1, 1, 1);
    test_conv(20, 4, 4, 130, 70, 3, 1, 1, 0);
    test_conv(2, 8, 8, 19, 40, 3, 2, 1, 0);
    test_conv(2, 6, 6, 20, 33, 1, 1, 0, 0);
    test_conv(2, 9, 9, 24, 30, 1, 2, 0, 0);
    test_conv(12, 8, 8, 3, 20, 3, 1, 1, 0);    /* stem as im2col groups */
    /* the row kernels (stride * C of 16 or 32, pixels per tile dividing
     * OW: 16, 14, 8, 7) and the weight gradient's batch slices (several
     * one-image groups), against the reference */
    conv_fd = 0;
    test_conv(5, 16, 16, 16, 16, 3, 1, 1, 0);
    test_conv(3, 14, 14, 16, 16, 3, 1, 1, 1);
    test_conv(4, 8, 8, 32, 32, 3, 1, 1, 0);
    test_conv(3, 7, 7, 32, 30, 3, 1, 1, 0);    /* channel tail in a row tile */
    test_conv(3, 16, 16, 16, 32, 3, 2, 1, 0);  /* strided: stride * C = 32 */
    test_conv(3, 16, 16, 16, 32, 1, 2, 0, 0);  /* downsample, unpadded rows */
    test_conv(2, 16, 16, 16, 32, 3, 1, 1, 0);  /* backward-data: stride * C = 32, NB 16 */
    /* two row tiles per row: the 3x3 row kernels' inner edges */
    test_conv(2, 32, 32, 16, 16, 3, 1, 1, 0);
    test_conv(2, 28, 28, 16, 16, 3, 1, 1, 0);
    test_conv(2, 16, 16, 32, 32, 3, 1, 1, 0);
    test_conv(2, 14, 14, 32, 32, 3, 1, 1, 0);
    /* stems: 3 and 1 input channels, 16 and 32 outputs */
    test_conv(2, 32, 32, 3, 16, 3, 1, 1, 0);
    test_conv(2, 28, 28, 1, 16, 3, 1, 1, 1);
    test_conv(2, 16, 16, 3, 32, 3, 1, 1, 0);
    test_conv(2, 14, 14, 1, 32, 3, 1, 1, 0);
    /* strided backward-data by parity class, rows of dout pixels OC apart */
    test_conv(2, 32, 32, 16, 32, 3, 2, 1, 0);
    test_conv(2, 28, 28, 16, 32, 3, 2, 1, 0);
    test_conv(2, 16, 16, 32, 64, 3, 2, 1, 0);
    test_conv(2, 14, 14, 32, 64, 3, 2, 1, 0);
    test_conv(2, 32, 32, 16, 32, 1, 2, 0, 0);
    test_conv(2, 6, 6, 16, 72, 3, 1, 1, 0);    /* transposed weight gradient, 9 oc groups */
    conv_fd = 1;
    test_conv_threads(6, 16, 16, 16, 16);
    test_conv_threads(5, 14, 14, 32, 32);
    test_conv_threads(6, 8, 8, 64, 64);
    test_conv_affine(3, 16, 16, 16, 3, 1, 1, 1, 1);
    test_conv_affine(2, 14, 32, 32, 3, 1, 1, 1, 1);
    test_conv_threads(20, 8, 8, 24, 40);
    test_conv_affine(3, 8, 16, 16, 3, 1, 1, 1, 1);
    test_conv_affine(20, 4, 130, 70, 3, 1, 1, 1, 1);     /* k chunks, channel tail */
    test_conv_affine(2, 9, 19, 40, 1, 2, 0, 0, 0);
    test_conv_affine(2, 8, 5, 33, 3, 2, 1, 0, 1);
    /* the MobileNets' activations in the epilogue: 1x1, the stem */
    test_conv_affine(2, 9, 24, 40, 1, 1, 0, 0, ACT_RELU6);
    test_conv_affine(2, 8, 16, 72, 1, 1, 0, 0, ACT_HSWISH);
    test_conv_affine(3, 8, 3, 16, 3, 1, 1, 0, ACT_HSWISH);
    /* Winograd: the qualifying shapes above with the mode forced, then
     * channel pairs of 16..128, even and odd sizes down to 1 (partial
     * tiles), one to five images, several tasks and weight-gradient
     * slices (5x32x32 at 16 channels; 128 channels at 8x8) */
    wg_mode = CONV_WINOGRAD_ALWAYS;
    conv_fd = 1;
    test_conv(3, 9, 8, 16, 16, 3, 1, 1, 1);
    conv_fd = 0;
    test_conv(5, 16, 16, 16, 16, 3, 1, 1, 0);
    test_conv(3, 14, 14, 16, 16, 3, 1, 1, 1);
    test_conv(4, 8, 8, 32, 32, 3, 1, 1, 0);
    test_conv(2, 32, 32, 16, 16, 3, 1, 1, 0);
    test_conv(2, 28, 28, 16, 16, 3, 1, 1, 0);
    test_conv(2, 16, 16, 32, 32, 3, 1, 1, 0);
    test_conv(2, 14, 14, 32, 32, 3, 1, 1, 0);
    test_conv(2, 16, 16, 16, 32, 3, 1, 1, 0);
    conv_fd = 1;
    test_conv_threads(6, 16, 16, 16, 16);
    test_conv_threads(5, 14, 14, 32, 32);
    test_conv_threads(6, 8, 8, 64, 64);
    test_conv_affine(3, 16, 16, 16, 3, 1, 1, 1, 1);
    test_conv_affine(2, 14, 32, 32, 3, 1, 1, 1, 1);
    test_conv_affine(3, 8, 16, 16, 3, 1, 1, 1, 1);
    test_conv_affine(2, 7, 64, 64, 3, 1, 1, 1, 0);
    test_conv_affine(2, 7, 16, 48, 3, 1, 1, 0, 1);
    test_conv_affine(2, 7, 16, 48, 3, 1, 1, 0, ACT_HSWISH);
    wg_mode = CONV_WINOGRAD_AUTO;
    test_wg(1, 1, 1, 16, 16);
    test_wg(2, 2, 2, 16, 32);
    test_wg(3, 3, 3, 32, 16);
    test_wg(1, 4, 4, 48, 64);
    test_wg(2, 7, 7, 64, 64);
    test_wg(5, 8, 8, 16, 16);
    test_wg(1, 14, 14, 32, 32);
    test_wg(2, 28, 28, 16, 16);
    test_wg(1, 32, 32, 16, 16);
    test_wg(5, 32, 32, 16, 16);       /* several forward tasks, four slices */
    test_wg(3, 4, 4, 128, 128);
    test_wg(3, 8, 8, 128, 128);       /* two forward tasks; dU in 2 x 2 parts */
    test_wg(2, 7, 7, 128, 64);
    test_wg(2, 8, 8, 64, 128);
    test_wg(1, 3, 5, 16, 48);
    test_wg(4, 5, 3, 48, 16);
    test_wg(2, 1, 7, 32, 16);
    test_wg(1, 7, 1, 16, 32);
    test_wg(1, 14, 14, 16, 48);
    test_wg(2, 9, 9, 32, 64);
    test_wg(5, 2, 3, 16, 16);
    test_wg(1, 28, 32, 16, 32);
    test_wg(4, 14, 14, 48, 48);
    test_wg(2, 4, 4, 128, 16);
    test_wg(2, 4, 4, 16, 128);
    wg_mode = CONV_WINOGRAD_ALWAYS;
    test_wg_xf(3, 9, 7, 32, 16);
    test_wg_xf(2, 8, 8, 256, 32);
    /* F(4x4, 3x3): sizes whose tiles are whole, partial at the right, the
     * bottom or both (down to 1x1), several forward tasks (5x32x32 at 16
     * channels: 320 tiles), 16- and 32-channel output blocks; the backward
     * against finite differences (test_conv) */
    wg_mode = CONV_WINOGRAD_ALWAYS_F4;
    test_wg(1, 1, 1, 16, 16);
    test_wg(2, 4, 4, 48, 64);
    test_wg(2, 7, 7, 64, 64);
    test_wg(3, 5, 9, 16, 32);
    test_wg(2, 14, 14, 32, 32);
    test_wg(5, 32, 32, 16, 16);
    test_wg(3, 8, 8, 128, 128);
    test_wg(2, 6, 10, 32, 16);
    test_wg(1, 28, 28, 16, 48);
    test_wg(2, 3, 2, 128, 16);
    test_wg_xf(3, 9, 7, 32, 16);
    test_wg_xf(2, 8, 8, 256, 32);
    conv_fd = 1;
    test_conv(3, 9, 8, 16, 16, 3, 1, 1, 1);
    test_conv(2, 4, 4, 32, 16, 3, 1, 1, 0);
    conv_fd = 0;
    wg_mode = CONV_WINOGRAD_AUTO;
    test_bn(40, 5);
    test_bn(6000, 17);                         /* the threaded reduction path */
    test_pool();
    test_linear(1);
    test_linear(0);
    test_elementwise();
    /* depthwise: 3x3 and 5x5 at strides 1 and 2, channel counts with and
     * without a vector tail, odd sizes, several weight-gradient slices
     * (batches above 8) */
    test_dwconv(2, 6, 5, 8, 3, 1, 1);
    test_dwconv(2, 7, 7, 19, 3, 2, 1);
    test_dwconv(3, 6, 6, 16, 5, 1, 1);
    test_dwconv(2, 9, 8, 24, 5, 2, 1);
    test_dwconv(1, 3, 3, 5, 5, 2, 1);            /* kernel larger than the input */
    test_dwconv(11, 8, 8, 40, 3, 1, 0);
    test_dwconv(10, 16, 16, 72, 5, 2, 0);
    test_dwconv(3, 32, 32, 144, 3, 1, 0);
    test_dwconv(2, 13, 13, 16, 5, 1, 1);         /* strips of 8 and 4, then pixels */
    test_dwconv(2, 19, 19, 16, 3, 2, 1);
    test_dwconv(2, 12, 12, 24, 3, 2, 0);
    test_dwconv(2, 17, 17, 20, 5, 2, 0);
    test_dwconv_bn(2, 6, 5, 8, 3, 1);
    test_dwconv_bn(11, 8, 8, 40, 3, 1);         /* several slices */
    test_dwconv_bn(10, 9, 9, 72, 5, 2);
    test_dwconv_bn(3, 13, 13, 19, 3, 2);
    test_dwconv_bn(9, 7, 7, 24, 5, 1);
    T_OK(bn_backward_act_split(ACT_RELU6, 2048) && !bn_backward_act_split(ACT_RELU6, 2049) &&
         !bn_backward_act_split(ACT_HSIGMOID, 16),
         "bn_backward_act_split: ReLU6 up to 2048 channels, not hard-sigmoid");
    test_act(ACT_RELU, "relu", -2, 2);
    test_act(ACT_RELU6, "relu6", -2, 8);
    test_act(ACT_HSWISH, "hardswish", -5, 5);
    test_act(ACT_HSIGMOID, "hardsigmoid", -5, 5);
    test_se(2, 9, 16, 8);
    test_se(3, 4, 24, 8);
    conv_shape s;
    T_OK(conv_shape_init(&s, 1, 2, 2, 1, 1, 7, 7, 2, 0) < 0, "conv shape: too small input rejected");
    T_OK(conv_shape_init(&s, 1, 28, 28, 1, 1, 3, 3, 2, 1) == 0 && s.OH == 14,
         "conv shape: PyTorch output size (28, k3 s2 p1 -> 14)");
    T_OK(conv_shape_init(&s, 1, 7, 7, 1, 1, 3, 3, 2, 1) == 0 && s.OH == 4,
         "conv shape: 7 -> 4 (floor((7+2-3)/2)+1)");
    test_conv_tail_blocks();
    return t_done();
}
