/* net_mobile.c: the MobileNet backbones (nn/net.h): MobileNetV2 and
 * MobileNetV3-small as torchvision 0.14 defines them (its module names,
 * widths, activations and BatchNorm settings), with a CIFAR stem for
 * 28x28 to 32x32 images; their layer table, forward (training and
 * evaluation mode) and backward. net_build.c calls the build, net.c the
 * rest; the head and the pooled features are theirs.
 *
 * Widths: every channel count is torchvision's _make_divisible(c * width,
 * 8): c * width rounded to a multiple of 8, at least 8, and never more
 * than 10% below c * width; so no layer ever has fewer than 8 channels.
 * V2: the last 1x1 convolution has _make_divisible(1280 max(1, width), 8)
 * channels; V3-small: 6 x its input (576 at width 1); its classifier
 * (Linear 576 -> 1024, hard-swish, dropout, Linear) is not built: the head
 * replaces it. The layer tables are in ssl-tools(7), MOBILENETS.
 *
 * Stems: "imagenet" is torchvision's (stride 2 in the first convolution,
 * 32x downsampling in all); "cifar" sets stride 1 in the first convolution
 * and in the first stride-2 stage (V2: the 24-channel stage; V3-small:
 * block 1), 8x in all, so a 32x32 input ends at 4x4, as the CIFAR ResNets
 * do.
 *
 * Data flow (NHWC), per layer: convolution (full, conv2d_*, or depthwise,
 * dwconv_*) -> BN -> activation (ReLU6; V3: ReLU or hard-swish; none after
 * the projection), the activation fused into the BN's pass; an identity
 * shortcut (stride 1, in == out channels) is added in the projection BN's
 * epilogue. SE: se_forward on the depthwise layer's output. In training
 * mode each layer keeps its convolution output and its output (the
 * activation's) for the backward; the backward takes the activation's
 * gradient inside the BN's (bn_backward_act), at the pre-activation
 * recomputed from the convolution output and the BN's saved affine, the
 * same bits as a separate pass over a kept pre-activation. More fusions
 * around each depthwise layer (net_set_fusion; nn/ops/ops.h, conv_in_xf
 * and dwconv_backward_bn), each the same bits as the passes it replaces:
 * the BNs read only by the next convolution (the expansion's with ReLU6
 * or ReLU, read by the depthwise: xfused; the depthwise's, read by the
 * projection where there is no SE: pfused) only gather their statistics
 * and affine, and that convolution reads the BN's input (its convolution
 * output) through the affine and activation, in the forward and in its
 * weight gradient, so those BN outputs are never written; and the
 * depthwise BN's backward runs its dx pass inside the depthwise backward,
 * image by image into the fourth buffer, so that gradient is never
 * written out and read back (net_bn_dwconv_bwd). In evaluation
 * mode each BN and its activation are folded into its convolution's
 * epilogue and the activations rotate through the four buffers n->g (or,
 * in net.c's batch split, a thread's stretch of each), as for the
 * ResNets, except that each block runs on sub-batches of images
 * small enough for its inner activations (expansion, depthwise and SE
 * outputs) to stay in the L2 cache, in two of the buffers reused from
 * their start, instead of passing whole batches of them through memory;
 * every element is computed as in a whole-batch pass (no kernel's sums
 * depend on the batch), so the bits are the same. The backward walks the
 * blocks in reverse over three of those buffers (the fourth is the
 * depthwise backward's scratch): a block's output gradient becomes its
 * input gradient in place (written, or, with a shortcut, accumulated
 * onto). */
#include <stdio.h>
#include <string.h>

#include "nn/net_impl.h"

/* torchvision's _make_divisible(v, d) with min_value d */
static int make_divisible(double v, int d) {
    int nv = (int)(v + d / 2.0) / d * d;
    if (nv < d) nv = d;
    if (nv < 0.9 * v) nv += d;
    return nv;
}

/* MobileNetV2 (torchvision): expansion t, channels c, repeats n, stride s */
static const int V2[7][4] = {
    {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};

/* MobileNetV3-small (torchvision): kernel, expanded, out, SE, hard-swish
 * (else ReLU), stride; the first block's input is the stem's 16. */
static const int V3S[11][6] = {
    {3, 16, 16, 1, 0, 2}, {3, 72, 24, 0, 0, 2}, {3, 88, 24, 0, 0, 1},
    {5, 96, 40, 1, 1, 2}, {5, 240, 40, 1, 1, 1}, {5, 240, 40, 1, 1, 1},
    {5, 120, 48, 1, 1, 1}, {5, 144, 48, 1, 1, 1}, {5, 288, 96, 1, 1, 2},
    {5, 576, 96, 1, 1, 1}, {5, 576, 96, 1, 1, 1},
};

static const float *cba_out(const cba_l *l) { return l->bn.out; }
static const float *mb_out(const mb_block *b) { return b->l[b->n - 1].bn.out; }

/* ---- building ---- */

static int oom(ssl_err *err) { return ssl_fail(err, SSL_ENOMEM, "out of memory"); }

/* conv (weight cname.weight, padding k/2) -> BN bname -> act; *H, *W
 * become the output size. */
static int add_cba(net *n, cba_l *l, const char *cname, const char *bname, int *H, int *W,
                   int C, int OC, int k, int stride, int dw, int act, ssl_err *err) {
    if (net_add_conv(n, &l->conv, cname, *H, *W, C, OC, k, stride, (k - 1) / 2, dw, err) < 0)
        return -1;
    *H = l->conv.s.OH;
    *W = l->conv.s.OW;
    if (net_add_bn(n, &l->bn, bname, OC, (int64_t)*H * *W, err) < 0) return -1;
    if (n->mobile == 3) {               /* torchvision's V3: BatchNorm2d(eps=0.001, momentum=0.01) */
        l->bn.eps = 1e-3f;
        l->bn.momentum = 0.01f;
    }
    l->act = act;
    return 0;
}

/* SE on C channels of H x W, named name.fc1, name.fc2 (1x1 convolutions
 * with bias); squeeze channels _make_divisible(C / 4, 8). */
static int add_se(net *n, se_l *se, const char *name, int C, int H, int W, ssl_err *err) {
    char buf[128];
    int S = make_divisible(C / 4, 8);
    int64_t s1[4] = { S, C, 1, 1 }, s2[4] = { C, S, 1, 1 }, b1[1] = { S }, b2[1] = { C };
    se->C = C;
    se->S = S;
    se->P = (int64_t)H * W;
    snprintf(buf, sizeof buf, "%s.fc1.weight", name);
    se->w1 = net_add_tensor(n, buf, 4, s1, NT_WEIGHT);
    snprintf(buf, sizeof buf, "%s.fc1.bias", name);
    se->b1 = net_add_tensor(n, buf, 1, b1, NT_BIAS);
    snprintf(buf, sizeof buf, "%s.fc2.weight", name);
    se->w2 = net_add_tensor(n, buf, 4, s2, NT_WEIGHT);
    snprintf(buf, sizeof buf, "%s.fc2.bias", name);
    se->b2 = net_add_tensor(n, buf, 1, b2, NT_BIAS);
    if (se->w1 < 0 || se->b1 < 0 || se->w2 < 0 || se->b2 < 0) return oom(err);
    n->fan_in[se->w1] = n->fan_in[se->b1] = C;
    n->fan_in[se->w2] = n->fan_in[se->b2] = S;
    int64_t B = n->max_batch;
    se->pooled = net_alloc_floats(n, B * C);
    se->z1 = net_alloc_floats(n, B * S);
    se->z2 = net_alloc_floats(n, B * C);
    se->sc = net_alloc_floats(n, B * C);
    se->out = net_alloc_floats(n, B * se->P * C);
    if (!se->pooled || !se->z1 || !se->z2 || !se->sc || !se->out) return oom(err);
    int64_t ws = se_workspace(n->max_batch, C, S);
    if (ws > n->se_ws_n) n->se_ws_n = ws;
    se->prof = net_new_prof(n, name, 4.0 * C * S, PROF_OTHER);
    return 0;
}

static int build_v2(net *n, int cifar, ssl_err *err) {
    const net_config *c = &n->cfg;
    double w = c->width;
    int H = c->in_h, W = c->in_w, C = make_divisible(32 * w, 8), idx = 1;
    char a[96], b[96];
    if (add_cba(n, &n->mstem, "backbone.features.0.0", "backbone.features.0.1", &H, &W,
                c->in_ch, C, 3, cifar ? 1 : 2, 0, ACT_RELU6, err) < 0)
        return -1;
    for (int r = 0; r < 7; r++) {
        int t = V2[r][0], oc = make_divisible(V2[r][1] * w, 8), st = V2[r][3];
        if (cifar && r == 1) st = 1;
        for (int i = 0; i < V2[r][2]; i++, idx++) {
            if (n->nmb == NET_MAX_MBLOCKS) return ssl_fail(err, SSL_EARG, "too many blocks");
            mb_block *bk = &n->mb[n->nmb++];
            int stride = i == 0 ? st : 1, hid = C * t, j = 0;
            bk->n = t != 1 ? 3 : 2;
            bk->res = stride == 1 && C == oc;
            if (t != 1) {       /* conv.0: expand 1x1 */
                snprintf(a, sizeof a, "backbone.features.%d.conv.0.0", idx);
                snprintf(b, sizeof b, "backbone.features.%d.conv.0.1", idx);
                if (add_cba(n, &bk->l[j++], a, b, &H, &W, C, hid, 1, 1, 0, ACT_RELU6, err) < 0)
                    return -1;
            }
            snprintf(a, sizeof a, "backbone.features.%d.conv.%d.0", idx, j);
            snprintf(b, sizeof b, "backbone.features.%d.conv.%d.1", idx, j);
            if (add_cba(n, &bk->l[j], a, b, &H, &W, hid, hid, 3, stride, 1, ACT_RELU6, err) < 0)
                return -1;
            j++;                /* conv.j: project 1x1 (a bare Conv2d), conv.j+1: its BN */
            snprintf(a, sizeof a, "backbone.features.%d.conv.%d", idx, j);
            snprintf(b, sizeof b, "backbone.features.%d.conv.%d", idx, j + 1);
            if (add_cba(n, &bk->l[j], a, b, &H, &W, hid, oc, 1, 1, 0, ACT_NONE, err) < 0)
                return -1;
            C = oc;
        }
    }
    int last = make_divisible(1280 * (w > 1 ? w : 1), 8);
    snprintf(a, sizeof a, "backbone.features.%d.0", idx);
    snprintf(b, sizeof b, "backbone.features.%d.1", idx);
    if (add_cba(n, &n->mlast, a, b, &H, &W, C, last, 1, 1, 0, ACT_RELU6, err) < 0) return -1;
    n->feat_h = H; n->feat_w = W; n->F = last;
    return 0;
}

static int build_v3s(net *n, int cifar, ssl_err *err) {
    const net_config *c = &n->cfg;
    double w = c->width;
    int H = c->in_h, W = c->in_w, C = make_divisible(16 * w, 8);
    char a[96], b[96];
    if (add_cba(n, &n->mstem, "backbone.features.0.0", "backbone.features.0.1", &H, &W,
                c->in_ch, C, 3, cifar ? 1 : 2, 0, ACT_HSWISH, err) < 0)
        return -1;
    for (int r = 0; r < 11; r++) {
        const int *q = V3S[r];
        int k = q[0], ex = make_divisible(q[1] * w, 8), oc = make_divisible(q[2] * w, 8);
        int st = cifar && r == 0 ? 1 : q[5], act = q[4] ? ACT_HSWISH : ACT_RELU, j = 0;
        mb_block *bk = &n->mb[n->nmb++];
        bk->n = ex != C ? 3 : 2;
        bk->res = st == 1 && C == oc;
        if (ex != C) {          /* block.0: expand 1x1 */
            snprintf(a, sizeof a, "backbone.features.%d.block.0.0", r + 1);
            snprintf(b, sizeof b, "backbone.features.%d.block.0.1", r + 1);
            if (add_cba(n, &bk->l[j++], a, b, &H, &W, C, ex, 1, 1, 0, act, err) < 0) return -1;
        }
        snprintf(a, sizeof a, "backbone.features.%d.block.%d.0", r + 1, j);
        snprintf(b, sizeof b, "backbone.features.%d.block.%d.1", r + 1, j);
        if (add_cba(n, &bk->l[j], a, b, &H, &W, ex, ex, k, st, 1, act, err) < 0) return -1;
        int m = ++j;
        if (q[3]) {
            bk->has_se = 1;
            snprintf(a, sizeof a, "backbone.features.%d.block.%d", r + 1, m++);
            if (add_se(n, &bk->se, a, ex, H, W, err) < 0) return -1;
        }
        snprintf(a, sizeof a, "backbone.features.%d.block.%d.0", r + 1, m);
        snprintf(b, sizeof b, "backbone.features.%d.block.%d.1", r + 1, m);
        if (add_cba(n, &bk->l[j], a, b, &H, &W, ex, oc, 1, 1, 0, ACT_NONE, err) < 0) return -1;
        C = oc;
    }
    if (add_cba(n, &n->mlast, "backbone.features.12.0", "backbone.features.12.1", &H, &W, C,
                6 * C, 1, 1, 0, ACT_HSWISH, err) < 0)
        return -1;
    n->feat_h = H; n->feat_w = W; n->F = 6 * C;
    return 0;
}

int net_mobile_build(net *n, ssl_err *err) {
    int cifar = !strcmp(n->cfg.stem, "cifar");
    if ((n->mobile == 2 ? build_v2(n, cifar, err) : build_v3s(n, cifar, err)) < 0) return -1;
    if (!(n->se_ws = net_alloc_floats(n, n->se_ws_n))) return oom(err);
    return 0;
}

static void free_cba(cba_l *l) {
    net_free_conv(&l->conv);
    net_free_bn(&l->bn);
}

void net_mobile_free(net *n) {
    if (!n->mobile) return;
    free_cba(&n->mstem);
    free_cba(&n->mlast);
    for (int i = 0; i < n->nmb; i++) {
        mb_block *b = &n->mb[i];
        for (int j = 0; j < b->n; j++) free_cba(&b->l[j]);
        se_l *s = &b->se;
        net_free_floats(s->pooled); net_free_floats(s->z1); net_free_floats(s->z2);
        net_free_floats(s->sc); net_free_floats(s->out);
    }
    net_free_floats(n->se_ws);
}

int net_dw_layer(const net *n, int i, int *H, int *W, int *C, int *k, int *stride) {
    int count = 0;
    for (int b = 0; b < n->nmb; b++)
        for (int j = 0; j < n->mb[b].n; j++) {
            const conv_l *c = &n->mb[b].l[j].conv;
            if (!c->dw) continue;
            if (count++ != i) continue;
            if (H) *H = c->s.H;
            if (W) *W = c->s.W;
            if (C) *C = c->s.C;
            if (k) *k = c->s.KH;
            if (stride) *stride = c->s.stride;
        }
    return count;
}

void net_mobile_set_winograd(net *n, int mode) {
    n->mstem.conv.s.winograd = mode;
    n->mlast.conv.s.winograd = mode;
    for (int i = 0; i < n->nmb; i++)
        for (int j = 0; j < n->mb[i].n; j++) n->mb[i].l[j].conv.s.winograd = mode;
}

void net_mobile_set_precision(net *n, int prec) {
    n->mstem.conv.s.prec = prec;
    n->mlast.conv.s.prec = prec;
    for (int i = 0; i < n->nmb; i++)
        for (int j = 0; j < n->mb[i].n; j++) n->mb[i].l[j].conv.s.prec = prec;
}

/* ---- forward ---- */

/* The activations are timed with their BN (fused into its passes). */
static void cba_train(net *n, cba_l *l, const float *in, const float *res, int B) {
    net_conv_fwd(n, &l->conv, in, B);
    net_bn_fwd(n, &l->bn, l->conv.out, res, l->act, B, 1);
}

/* The fusions of the training step (net_set_fusion) that keep a BN's
 * output from being written: the BN gathers its statistics and affine
 * only, and the next convolution reads the BN's input (its convolution's
 * output) through that affine and activation (conv_in_xf), in its forward
 * and its weight gradient.
 * xfused: the expansion's BN, read by the depthwise: ReLU6 or ReLU (the
 * transforms with kernels of their own), and a depthwise BN whose
 * backward fuses (net_bn_dwconv_bwd, which then takes the transform).
 * pfused: the depthwise BN, read by the projection (a pointwise
 * convolution, conv2d_xf_applies), where no SE reads it. */
static int xfused(const mb_block *b) {
    const cba_l *e = &b->l[0];
    return b->n == 3 && (e->act == ACT_RELU6 || e->act == ACT_RELU) &&
           bn_backward_act_split(b->l[1].act, b->l[1].bn.C);
}

static int pfused(const mb_block *b) {
    return !b->has_se && conv2d_xf_applies(&b->l[b->n - 1].conv.s);
}

static conv_in_xf xf_of(const cba_l *e) {
    conv_in_xf xf = { .scale = e->bn.scale, .shift = e->bn.shift, .act = e->act };
    return xf;
}

/* 1 if layer j of block b reads its input through layer j - 1's BN (as
 * the last training forward decided). */
static int reads_through(const mb_block *b, int j) {
    return (j == 1 && b->xf) || (j == b->n - 1 && b->pf);
}


/* SE's per-image buffers from image e->b0's rows (e NULL: the whole batch,
 * in training mode), its workspace e's. */
static void se_fwd(net *n, const net_eval *e, se_l *se, const float *in, int B, float *out) {
    int prof = !e || e->prof;
    double t0 = prof ? net_tic(n) : 0;
    int64_t b0 = e ? e->b0 : 0;
    se_forward(out, se->pooled + b0 * se->C, se->z1 + b0 * se->S, se->z2 + b0 * se->C,
               se->sc + b0 * se->C, in, tdata(n, se->w1), tdata(n, se->b1), tdata(n, se->w2),
               tdata(n, se->b2), B, se->P, se->C, se->S, e ? e->se_ws : n->se_ws);
    if (prof) net_toc(n, se->prof, t0, 0);
}

const float *net_mobile_train(net *n, const float *x, int B) {
    n->fused = !n->nofuse;
    cba_train(n, &n->mstem, x, NULL, B);
    const float *h = cba_out(&n->mstem);
    for (int i = 0; i < n->nmb; i++) {
        mb_block *b = &n->mb[i];
        const float *cur = h;
        b->xf = n->fused && xfused(b);
        b->pf = n->fused && pfused(b);
        for (int j = 0; j < b->n; j++) {
            cba_l *l = &b->l[j];
            int last = j == b->n - 1;
            if (last && b->has_se) {
                se_fwd(n, NULL, &b->se, cur, B, b->se.out);
                cur = b->se.out;
            }
            if (reads_through(b, j)) {
                conv_in_xf xf = xf_of(&b->l[j - 1]);
                net_conv_fwd_xf(n, &l->conv, b->l[j - 1].conv.out, &xf, B);
            } else {
                net_conv_fwd(n, &l->conv, cur, B);
            }
            if (!last && reads_through(b, j + 1)) {
                net_bn_stats(n, &l->bn, l->conv.out, l->act, B);
                cur = NULL;
            } else {
                net_bn_fwd(n, &l->bn, l->conv.out, last && b->res ? h : NULL, l->act, B, 1);
                cur = cba_out(l);
            }
        }
        h = cur;
    }
    cba_train(n, &n->mlast, h, NULL, B);
    return cba_out(&n->mlast);
}

/* Evaluation mode: BN and activation folded into the convolution. */
static void cba_eval(net *n, const net_eval *e, cba_l *l, const float *in, const float *res,
                     int B, float *out) {
    net_conv_bn_eval(n, e, &l->conv, &l->bn, in, res, l->act, B, out);
}

/* The first of e's four buffers that is none of a, b, c. */
static float *spare(const net_eval *e, const float *a, const float *b, const float *c) {
    for (int i = 0; i < 4; i++)
        if (e->g[i] != a && e->g[i] != b && e->g[i] != c) return e->g[i];
    return NULL;
}

/* Floats of a block's inner activations per image (all but its output). */
#define EVAL_INNER_FLOATS (256 * 1024)  /* per sub-batch, at most (1 MiB: L2) */

static int64_t inner_per_image(const mb_block *b) {
    int64_t f = b->has_se ? b->se.P * b->se.C : 0;
    for (int j = 0; j < b->n - 1; j++) {
        const conv_shape *s = &b->l[j].conv.s;
        f += (int64_t)s->OH * s->OW * s->OC;
    }
    return f;
}

/* Block b on images [0, B) of h into o, in sub-batches through the
 * buffers t and u and the SE's per-image buffers (from their start, or
 * for a slice of the batch split, from its first image's rows). */
static void block_eval(net *n, const net_eval *e, mb_block *b, const float *h, float *o,
                       float *t, float *u, int B) {
    const conv_shape *s0 = &b->l[0].conv.s, *s1 = &b->l[b->n - 1].conv.s;
    int64_t in_img = (int64_t)s0->H * s0->W * s0->C, out_img = (int64_t)s1->OH * s1->OW * s1->OC;
    int64_t bs = EVAL_INNER_FLOATS / inner_per_image(b);
    if (bs < 1) bs = 1;
    for (int b0 = 0; b0 < B; b0 += (int)bs) {
        int nb = B - b0 < bs ? B - b0 : (int)bs;
        const float *in = h + b0 * in_img, *cur = in;
        if (e->prof) n->prof_more = b0 > 0;
        for (int j = 0; j < b->n; j++) {
            int last = j == b->n - 1;
            float *out;
            if (last && b->has_se) {
                out = cur == t ? u : t;
                se_fwd(n, e, &b->se, cur, nb, out);
                cur = out;
            }
            out = last ? o + b0 * out_img : cur == t ? u : t;
            cba_eval(n, e, &b->l[j], cur, last && b->res ? in : NULL, nb, out);
            cur = out;
        }
    }
    if (e->prof) n->prof_more = 0;
}

const float *net_mobile_eval(net *n, const net_eval *e, const float *x, int B) {
    cba_eval(n, e, &n->mstem, x, NULL, B, e->g[0]);
    const float *h = e->g[0];
    for (int i = 0; i < n->nmb; i++) {
        float *o = spare(e, h, NULL, NULL), *t = spare(e, h, o, NULL), *u = spare(e, h, o, t);
        block_eval(n, e, &n->mb[i], h, o, t, u, B);
        h = o;
    }
    float *out = spare(e, h, NULL, NULL);
    cba_eval(n, e, &n->mlast, h, NULL, B, out);
    return out;
}

/* ---- backward ---- */

/* Layer l with input in: dout is its output's gradient, tmp receives the
 * convolution output's gradient, din (NULL: none; may equal dout) the
 * input's, written or accumulated. The activation's gradient is taken in
 * the BN's backward (net_bn_bwd). */
static void cba_bwd(net *n, cba_l *l, float *din, float *dout, float *tmp, const float *in,
                    int accumulate) {
    net_bn_bwd(n, &l->bn, tmp, dout, NULL, l->conv.out, l->act);
    net_conv_bwd(n, &l->conv, din, tmp, in, accumulate);
}

void net_mobile_backward(net *n, float *g) {
    float *t = g == n->g[1] ? n->g[0] : n->g[1], *u = g == n->g[2] ? n->g[0] : n->g[2];
    float *v = n->g[3] != g ? n->g[3] : n->g[0];    /* the fourth: the depthwise's scratch */
    const float *h = n->nmb ? mb_out(&n->mb[n->nmb - 1]) : cba_out(&n->mstem);
    cba_bwd(n, &n->mlast, g, g, t, h, 0);
    for (int i = n->nmb - 1; i >= 0; i--) {
        mb_block *b = &n->mb[i];
        const float *in = i > 0 ? mb_out(&n->mb[i - 1]) : cba_out(&n->mstem);
        int L = b->n - 1;
        cba_l *p = &b->l[L];
        const float *dwout = cba_out(&b->l[L - 1]);
        /* projection: g (kept for the shortcut) -> u, its input's gradient */
        net_bn_bwd(n, &p->bn, t, g, NULL, p->conv.out, 0);
        if (b->pf) {
            conv_in_xf xf = xf_of(&b->l[L - 1]);
            net_conv_bwd_xf(n, &p->conv, u, t, b->l[L - 1].conv.out, &xf, 0);
        } else {
            net_conv_bwd(n, &p->conv, u, t, b->has_se ? b->se.out : dwout, 0);
        }
        float *cur = u, *fr = t;
        if (b->has_se) {
            double t0 = net_tic(n);
            se_l *s = &b->se;
            se_backward(fr, tgrad(n, s->w1), tgrad(n, s->b1), tgrad(n, s->w2), tgrad(n, s->b2),
                        cur, dwout, tdata(n, s->w1), tdata(n, s->w2), s->pooled, s->z1, s->z2,
                        s->sc, n->B, s->P, s->C, s->S, n->se_ws);
            net_toc(n, s->prof, t0, 1);
            net_grad_done(n, s->b2);
            net_grad_done(n, s->w2);
            net_grad_done(n, s->b1);
            net_grad_done(n, s->w1);
            float *x = cur; cur = fr; fr = x;
        }
        /* depthwise, then expansion; the first layer's input gradient
         * goes to g: written, or added to the shortcut's g. The depthwise
         * takes its BN's dx pass in (net_bn_dwconv_bwd), its input
         * gradient into fr, which then becomes cur. */
        for (int j = L - 1; j >= 0; j--) {
            cba_l *l = &b->l[j];
            const float *lin = j > 0 ? cba_out(&b->l[j - 1]) : in;
            if (j == L - 1 && n->fused) {
                conv_in_xf xf = xf_of(&b->l[0]);
                int fx = j > 0 && b->xf;
                net_bn_dwconv_bwd(n, &l->bn, &l->conv, j > 0 ? fr : g, cur,
                                  fx ? b->l[0].conv.out : lin, fx ? &xf : NULL, l->act,
                                  j > 0 ? 0 : b->res, v);
                if (j > 0) { float *x = cur; cur = fr; fr = x; }
            } else {
                cba_bwd(n, l, j > 0 ? cur : g, cur, fr, lin, j > 0 ? 0 : b->res);
            }
        }
    }
    cba_bwd(n, &n->mstem, NULL, g, t, n->x, 0);
}
