/* test_fuse.c: the fused batch-norm backward variants of lib/nn/ops/ops.h against
 * the unfused sequences they replace, bit for bit (memcmp), and against
 * themselves across thread counts.
 *
 *  - bn_backward_xmask (ReLU mask recomputed from x with the scale/shift
 *    that bn_forward_train_aff saved) == bn_backward with y given, y ==
 *    max(fma(x, scale, shift), 0) exactly (x * scale + shift on targets
 *    without FMA), and with a second output gradient dy2 ==
 *    add_inplace then bn_backward with y; and
 *    bn_forward_train_aff == bn_forward_train in y, mean, rstd and the
 *    running statistics (up to 4096 channels; above, the affine variant
 *    computes y from the float affine, so only the backward equality is
 *    checked there).
 *  - bn_backward_res (dres = (dy + dy2) * (y > 0), dx from dres) ==
 *    add_inplace, relu_backward, bn_backward with y NULL; dy2 NULL, and
 *    dres in place over dy and over dy2.
 *  - bn_forward_train_aff with a MobileNet activation (ReLU6, hard-swish;
 *    ReLU through bn_backward_act too) == the same without, then
 *    act_forward; bn_backward_act == act_backward at the pre-activation,
 *    then bn_backward.
 * Shapes: C below, at and above 16 and not multiples of it, the reference
 * fallbacks (C > 2048 backward, C > 4096 forward), N below the 256-row
 * reduction block, not a multiple of it, and with several blocks.
 * Inputs: plain random data; data with constant channels (variance 0, so
 * the pre-activation is a rounding residue of either sign, right at the
 * ReLU kink), gamma 0 and beta 0 channels (pre-activation exactly 0),
 * negative gamma; and one channel poisoned with a NaN. Every case runs
 * with 1 and 2 threads; the two must give the same bits. */
#include <stdint.h>

#include "nn/ops/ops.h"
#include "util/rng.h"
#include "t.h"
#include "util/threads.h"

static rng R;

/* The forward's pre-activation as lib/nn/ops/bn.c computes it: one rounding where
 * the target has FMA, two where it has none. */
#ifdef FP_FAST_FMAF
#define AFF(x, s, h) fmaf((x), (s), (h))
#else
#define AFF(x, s, h) ((x) * (s) + (h))
#endif

static float *rnd(size_t n, float lo, float hi) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * rng_uniform(&R);
    return p;
}

static float *copy(const float *a, size_t n) {
    float *p = malloc(n * sizeof *p);
    memcpy(p, a, n * sizeof *p);
    return p;
}

enum { DATA_RANDOM, DATA_KINK, DATA_NAN };

/* Inputs of one case. */
typedef struct {
    int64_t N;
    int C;
    float *x, *g, *b, *res, *dy, *dy2, *rm, *rv, *dg0, *db0;
} inputs;

static inputs make_inputs(int64_t N, int C, int data) {
    size_t n = (size_t)N * C;
    inputs in = { N, C, rnd(n, -2, 3), rnd(C, 0.5, 1.5), rnd(C, -1, 1), rnd(n, -1, 1),
                  rnd(n, -1, 1), rnd(n, -1, 1), rnd(C, -1, 1), rnd(C, 0.5, 2),
                  rnd(C, -1, 1), rnd(C, -1, 1) };
    if (data == DATA_KINK) {
        /* x on a coarse grid (many ties, pre-activations land near 0), a
         * few constant channels, gamma 0, beta 0, negative gamma */
        for (size_t i = 0; i < n; i++) in.x[i] = floorf(in.x[i] * 2) * 0.5f;
        for (int c = 0; c < C; c++) {
            int k = c % 5;
            if (k == 0) {   /* variance 0, beta 0: v is a rounding residue */
                for (int64_t r = 0; r < N; r++) in.x[r * C + c] = 0.37f * (float)(c % 7) - 1;
                in.b[c] = 0;
            }
            if (k == 1) in.b[c] = 0;
            if (k == 2) { in.g[c] = 0; in.b[c] = c % 2 ? 0.0f : -0.0f; }
            if (k == 3) in.g[c] = -in.g[c];
        }
    } else if (data == DATA_NAN) {
        in.x[(size_t)(N / 2) * C + (size_t)(C / 2)] = NAN;
    }
    return in;
}

static void free_inputs(inputs *in) {
    free(in->x); free(in->g); free(in->b); free(in->res); free(in->dy); free(in->dy2);
    free(in->rm); free(in->rv); free(in->dg0); free(in->db0);
}

/* Outputs of the forward and the backwards of one case at one thread count. */
typedef struct {
    float *y, *mean, *rstd, *rm, *rv;              /* bn_forward_train */
    float *ya, *meana, *rstda, *rma, *rva, *sc, *sh;   /* bn_forward_train_aff */
    float *dx, *dg, *db;                           /* bn_backward with y */
    float *dxm, *dgm, *dbm;                        /* bn_backward_xmask */
    float *dx2, *dg2, *db2;                        /* add + bn_backward with y */
    float *dxm2, *dgm2, *dbm2;                     /* bn_backward_xmask with dy2 */
    float *yr;                                     /* forward with residual */
    float *dxu, *dgu, *dbu, *gu;                   /* add + relu_backward + bn_backward */
    float *dxf, *dgf, *dbf, *gf;                   /* bn_backward_res */
} outputs;

static void run_case(outputs *o, const inputs *in) {
    int64_t N = in->N;
    int C = in->C;
    size_t n = (size_t)N * C;
    float *m1 = malloc(C * 4), *s1 = malloc(C * 4);
    /* BN + ReLU without residual */
    o->y = malloc(n * 4); o->mean = malloc(C * 4); o->rstd = malloc(C * 4);
    o->rm = copy(in->rm, C); o->rv = copy(in->rv, C);
    bn_forward_train(o->y, o->mean, o->rstd, in->x, in->g, in->b, NULL, 1, N, C, o->rm,
                     o->rv, 0.1f, 1e-5f);
    o->ya = malloc(n * 4); o->meana = malloc(C * 4); o->rstda = malloc(C * 4);
    o->rma = copy(in->rm, C); o->rva = copy(in->rv, C);
    o->sc = malloc(C * 4); o->sh = malloc(C * 4);
    bn_forward_train_aff(o->ya, o->meana, o->rstda, o->sc, o->sh, in->x, in->g, in->b, NULL,
                         1, N, C, o->rma, o->rva, 0.1f, 1e-5f);
    /* the backwards on the affine variant's forward (the same bits up to
     * 4096 channels, and the y matching sc, sh above) */
    o->dx = malloc(n * 4); o->dg = copy(in->dg0, C); o->db = copy(in->db0, C);
    bn_backward(o->dx, o->dg, o->db, in->dy, o->ya, in->x, o->meana, o->rstda, in->g, N, C);
    o->dxm = malloc(n * 4); o->dgm = copy(in->dg0, C); o->dbm = copy(in->db0, C);
    bn_backward_xmask(o->dxm, o->dgm, o->dbm, in->dy, NULL, in->x, o->sc, o->sh, o->meana,
                      o->rstda, in->g, N, C);
    /* the same with a second output gradient */
    float *s2 = copy(in->dy, n);
    add_inplace(s2, in->dy2, (int64_t)n);
    o->dx2 = malloc(n * 4); o->dg2 = copy(in->dg0, C); o->db2 = copy(in->db0, C);
    bn_backward(o->dx2, o->dg2, o->db2, s2, o->ya, in->x, o->meana, o->rstda, in->g, N, C);
    free(s2);
    o->dxm2 = malloc(n * 4); o->dgm2 = copy(in->dg0, C); o->dbm2 = copy(in->db0, C);
    bn_backward_xmask(o->dxm2, o->dgm2, o->dbm2, in->dy, in->dy2, in->x, o->sc, o->sh,
                      o->meana, o->rstda, in->g, N, C);
    /* BN + residual + ReLU */
    o->yr = malloc(n * 4);
    bn_forward_train(o->yr, m1, s1, in->x, in->g, in->b, in->res, 1, N, C, NULL, NULL, 0.1f,
                     1e-5f);
    o->gu = copy(in->dy, n);
    add_inplace(o->gu, in->dy2, (int64_t)n);
    relu_backward(o->gu, o->gu, o->yr, (int64_t)n);
    o->dxu = malloc(n * 4); o->dgu = copy(in->dg0, C); o->dbu = copy(in->db0, C);
    bn_backward(o->dxu, o->dgu, o->dbu, o->gu, NULL, in->x, m1, s1, in->g, N, C);
    o->gf = malloc(n * 4);
    o->dxf = malloc(n * 4); o->dgf = copy(in->dg0, C); o->dbf = copy(in->db0, C);
    bn_backward_res(o->dxf, o->gf, o->dgf, o->dbf, in->dy, in->dy2, o->yr, in->x, m1, s1,
                    in->g, N, C);
    free(m1); free(s1);
}

static void free_outputs(outputs *o) {
    float **p = (float **)o;
    for (size_t i = 0; i < sizeof *o / sizeof(float *); i++) free(p[i]);
}

static int same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * 4); }

/* Every array of a and b equal: the thread-count check. */
static int all_same(const outputs *a, const outputs *b, size_t n, int C) {
    const float *const *pa = (const float *const *)a, *const *pb = (const float *const *)b;
    /* sizes of the arrays in struct order: per-row arrays n, per-channel C */
    static const char big[] = { 1, 0, 0, 0, 0,  1, 0, 0, 0, 0, 0, 0,  1, 0, 0,
                                1, 0, 0,  1, 0, 0,  1, 0, 0,  1,  1, 0, 0, 1,
                                1, 0, 0, 1 };
    _Static_assert(sizeof big == sizeof(outputs) / sizeof(float *), "outputs layout");
    for (size_t i = 0; i < sizeof big; i++)
        if (!same(pa[i], pb[i], big[i] ? n : (size_t)C)) return 0;
    return 1;
}

static void test_case(int64_t N, int C, int data) {
    static const char *dname[] = { "random", "kink", "nan" };
    char nm[160], tag[80];
    snprintf(tag, sizeof tag, "bn N%lld C%d %s", (long long)N, C, dname[data]);
    size_t n = (size_t)N * C;
    inputs in = make_inputs(N, C, data);
    outputs o[2];
    for (int t = 0; t < 2; t++) {
        ssl_set_threads(t + 1);
        run_case(&o[t], &in);
    }
    const outputs *a = &o[1];   /* 2 threads */
    if (C <= 4096) {
        snprintf(nm, sizeof nm, "%s: forward_train_aff == forward_train (y, mean, rstd, running)",
                 tag);
        T_OK(same(a->ya, a->y, n) && same(a->meana, a->mean, C) && same(a->rstda, a->rstd, C) &&
             same(a->rma, a->rm, C) && same(a->rva, a->rv, C), nm);
    }
    /* y == act(fma(x, scale, shift)) as promised, whatever C */
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        int c = (int)(i % (size_t)C);
        float v = AFF(in.x[i], a->sc[c], a->sh[c]);
        float y = v > 0 ? v : 0.0f;
        ok = isnan(v) ? a->ya[i] == 0 : !memcmp(&y, &a->ya[i], 4);
    }
    snprintf(nm, sizeof nm, "%s: y == max(fma(x, scale, shift), 0)", tag);
    T_OK(ok, nm);
    snprintf(nm, sizeof nm, "%s: backward_xmask == backward with y (dx, dgamma, dbeta)", tag);
    T_OK(same(a->dxm, a->dx, n) && same(a->dgm, a->dg, C) && same(a->dbm, a->db, C), nm);
    snprintf(nm, sizeof nm, "%s: backward_xmask with dy2 == add, backward with y", tag);
    T_OK(same(a->dxm2, a->dx2, n) && same(a->dgm2, a->dg2, C) && same(a->dbm2, a->db2, C), nm);
    snprintf(nm, sizeof nm, "%s: backward_res == add, relu_backward, backward (dres, dx, dg, db)",
             tag);
    T_OK(same(a->gf, a->gu, n) && same(a->dxf, a->dxu, n) && same(a->dgf, a->dgu, C) &&
         same(a->dbf, a->dbu, C), nm);
    if (data != DATA_NAN) {
        /* the mask did something: some gradients masked, some not */
        size_t zeros = 0;
        for (size_t i = 0; i < n; i++) zeros += a->ya[i] == 0;
        snprintf(nm, sizeof nm, "%s: the mask is mixed", tag);
        T_OK(n < 4 || (zeros > 0 && zeros < n), nm);
    }
    snprintf(nm, sizeof nm, "%s: 1 thread == 2 threads (every output)", tag);
    T_OK(all_same(&o[0], &o[1], n, C), nm);
    for (int t = 0; t < 2; t++) free_outputs(&o[t]);
    free_inputs(&in);
}

/* bn_backward_res with dy2 NULL and with dres in place over dy or dy2. */
static void test_res_aliasing(int64_t N, int C) {
    char nm[160];
    size_t n = (size_t)N * C;
    ssl_set_threads(2);
    inputs in = make_inputs(N, C, DATA_RANDOM);
    float *y = malloc(n * 4), *mean = malloc(C * 4), *rstd = malloc(C * 4);
    bn_forward_train(y, mean, rstd, in.x, in.g, in.b, in.res, 1, N, C, NULL, NULL, 0.1f, 1e-5f);
    /* unfused references: with and without dy2 */
    float *g2 = copy(in.dy, n), *g1 = copy(in.dy, n);
    add_inplace(g2, in.dy2, (int64_t)n);
    relu_backward(g2, g2, y, (int64_t)n);
    relu_backward(g1, g1, y, (int64_t)n);
    float *dx2 = malloc(n * 4), *dg2 = copy(in.dg0, C), *db2 = copy(in.db0, C);
    float *dx1 = malloc(n * 4), *dg1 = copy(in.dg0, C), *db1 = copy(in.db0, C);
    bn_backward(dx2, dg2, db2, g2, NULL, in.x, mean, rstd, in.g, N, C);
    bn_backward(dx1, dg1, db1, g1, NULL, in.x, mean, rstd, in.g, N, C);
    /* dy2 NULL, separate dres */
    float *dx = malloc(n * 4), *dg = copy(in.dg0, C), *db = copy(in.db0, C), *r = malloc(n * 4);
    bn_backward_res(dx, r, dg, db, in.dy, NULL, y, in.x, mean, rstd, in.g, N, C);
    snprintf(nm, sizeof nm, "bn_backward_res N%lld C%d: dy2 NULL == relu_backward, backward",
             (long long)N, C);
    T_OK(same(r, g1, n) && same(dx, dx1, n) && same(dg, dg1, C) && same(db, db1, C), nm);
    /* in place over dy, then over dy2 */
    for (int k = 0; k < 2; k++) {
        float *a = copy(in.dy, n), *b = copy(in.dy2, n);
        memcpy(dg, in.dg0, C * 4); memcpy(db, in.db0, C * 4);
        float *dres = k ? b : a;
        bn_backward_res(dx, dres, dg, db, a, b, y, in.x, mean, rstd, in.g, N, C);
        snprintf(nm, sizeof nm, "bn_backward_res N%lld C%d: dres in place over %s", (long long)N,
                 C, k ? "dy2" : "dy");
        T_OK(same(dres, g2, n) && same(dx, dx2, n) && same(dg, dg2, C) && same(db, db2, C), nm);
        free(a); free(b);
    }
    free(y); free(mean); free(rstd); free(g2); free(g1); free(dx2); free(dg2); free(db2);
    free(dx1); free(dg1); free(db1); free(dx); free(dg); free(db); free(r);
    free_inputs(&in);
}

/* The MobileNets' activations fused into BN: bn_forward_train_aff with act
 * == bn_forward_train_aff without, then act_forward (y, and the same
 * mean, rstd, scale, shift); bn_backward_act == act_backward at the
 * pre-activation, then bn_backward (dx, dgamma, dbeta); 1 thread == 2. */
static void test_act_case(int64_t N, int C, int data, int act) {
    static const char *dname[] = { "random", "kink", "nan" };
    static const char *aname[] = { "none", "relu", "relu6", "hswish", "hsigmoid" };
    char nm[160], tag[96];
    snprintf(tag, sizeof tag, "bn+%s N%lld C%d %s", aname[act], (long long)N, C, dname[data]);
    size_t n = (size_t)N * C;
    inputs in = make_inputs(N, C, data);
    if (act != ACT_RELU)        /* pre-activations across the kinks at -3, 0, 3 and 6 */
        for (int c = 0; c < C; c++) in.b[c] = in.b[c] * 4 + (act == ACT_RELU6 ? 2 : 0);
    float *y[2], *dx[2], *dg[2], *db[2];
    int ok_y = 1, ok_b = 1;
    for (int t = 0; t < 2; t++) {
        ssl_set_threads(t + 1);
        float *v = malloc(n * 4), *m0 = malloc(C * 4), *r0 = malloc(C * 4), *sc0 = malloc(C * 4);
        float *sh0 = malloc(C * 4), *m1 = malloc(C * 4), *r1 = malloc(C * 4);
        float *sc1 = malloc(C * 4), *sh1 = malloc(C * 4), *ye = malloc(n * 4), *g = malloc(n * 4);
        float *dxe = malloc(n * 4), *dge = copy(in.dg0, C), *dbe = copy(in.db0, C);
        bn_forward_train_aff(v, m0, r0, sc0, sh0, in.x, in.g, in.b, NULL, ACT_NONE, N, C, NULL,
                             NULL, 0.1f, 1e-5f);
        act_forward(ye, v, (int64_t)n, act);
        y[t] = malloc(n * 4);
        bn_forward_train_aff(y[t], m1, r1, sc1, sh1, in.x, in.g, in.b, NULL, act, N, C, NULL,
                             NULL, 0.1f, 1e-5f);
        ok_y &= same(y[t], ye, n) && same(m0, m1, C) && same(r0, r1, C) && same(sc0, sc1, C) &&
                same(sh0, sh1, C);
        act_backward(g, in.dy, v, (int64_t)n, act);
        bn_backward(dxe, dge, dbe, g, NULL, in.x, m0, r0, in.g, N, C);
        dx[t] = malloc(n * 4); dg[t] = copy(in.dg0, C); db[t] = copy(in.db0, C);
        bn_backward_act(dx[t], dg[t], db[t], in.dy, in.x, sc1, sh1, act, m1, r1, in.g, N, C);
        ok_b &= same(dx[t], dxe, n) && same(dg[t], dge, C) && same(db[t], dbe, C);
        free(v); free(m0); free(r0); free(sc0); free(sh0); free(m1); free(r1); free(sc1);
        free(sh1); free(ye); free(g); free(dxe); free(dge); free(dbe);
    }
    snprintf(nm, sizeof nm, "%s: forward_train_aff with act == without, then act_forward", tag);
    T_OK(ok_y, nm);
    snprintf(nm, sizeof nm, "%s: backward_act == act_backward, backward (dx, dgamma, dbeta)", tag);
    T_OK(ok_b, nm);
    snprintf(nm, sizeof nm, "%s: 1 thread == 2 threads", tag);
    T_OK(same(y[0], y[1], n) && same(dx[0], dx[1], n) && same(dg[0], dg[1], C) &&
         same(db[0], db[1], C), nm);
    for (int t = 0; t < 2; t++) { free(y[t]); free(dx[t]); free(dg[t]); free(db[t]); }
    free_inputs(&in);
}

int main(void) {
    rng_init(&R, 7, 0, 0);
    static const struct { int64_t N; int C; } shapes[] = {
        { 1, 1 }, { 7, 3 }, { 100, 16 }, { 300, 16 }, { 257, 17 }, { 1000, 40 },
        { 4099, 33 }, { 20000, 16 }, { 9000, 20 }, { 515, 130 }, { 70, 2050 }, { 9, 4100 },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int d = DATA_RANDOM; d <= DATA_NAN; d++) {
            if (d == DATA_NAN && shapes[i].N * shapes[i].C < 4) continue;
            test_case(shapes[i].N, shapes[i].C, d);
        }
    test_res_aliasing(300, 16);
    test_res_aliasing(1000, 19);
    test_res_aliasing(70, 2050);
    static const struct { int64_t N; int C; } ashapes[] = {
        { 7, 3 }, { 300, 16 }, { 257, 17 }, { 4099, 33 }, { 515, 130 }, { 70, 2050 }, { 9, 4100 },
    };
    for (size_t i = 0; i < sizeof ashapes / sizeof ashapes[0]; i++)
        for (int d = DATA_RANDOM; d <= DATA_NAN; d++)
            for (int act = ACT_RELU; act <= ACT_HSWISH; act++)
                test_act_case(ashapes[i].N, ashapes[i].C, d, act);
    return t_done();
}
