/* net.c: running a net (nn/net.h): forward in training or evaluation
 * mode, backward, zero_grad, PyTorch SGD, and the per-layer profile.
 * Construction and the tensor table are in net_build.c.
 *
 * Data flow (NHWC): conv -> BN (+ReLU fused) per layer; a block's last BN
 * fuses the residual add and the ReLU: out = relu(bn(conv(...)) + shortcut).
 * In training mode every layer keeps its output for the backward, so
 * nothing is recomputed, except where a block's BN + ReLU feeds a 3x3
 * convolution on the Winograd kernels (block_xf): that BN writes only its
 * statistics and affine, and the convolution's input transform applies
 * the affine and ReLU to the BN's input in the forward and the weight
 * gradient (conv2d_forward_xf, conv2d_backward_xf; ResNet-18 width 1 B128
 * training: peak RSS 881 -> 761 MiB). The backward walks the blocks in reverse with four
 * activation-gradient buffers (g[0..3]) of the largest activation size;
 * nothing allocates. It is bandwidth bound, so it saves passes over the
 * activations (nn/ops/bn.c): a BN + ReLU without residual takes its ReLU mask
 * from its input and the affine the forward saved (bn_backward_xmask), not
 * from its output; a block's last BN masks its output gradient in its own
 * sums pass (bn_backward_res), and the identity shortcut's gradient of the
 * block above is added where the next BN reads its output gradient (the
 * next block's last BN, or the stem's BN), so neither relu_backward nor
 * add_inplace runs as a pass of its own (add_inplace remains only before
 * the imagenet stem's max-pool). The results are the same bits as with
 * the separate passes. In evaluation mode each BN is folded into its
 * convolution's epilogue and the activations rotate through those same
 * four buffers (see backbone_eval), so inference touches a fraction of the
 * memory; with more than one thread the batch is cut into one slice per
 * thread, each running every layer on its own images with no barrier
 * between layers (see forward_eval), instead of the threads sharing each
 * layer as in training. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net_impl.h"
#include "nn/ops/conv_direct.h"
#include "util/clock.h"
#include "util/threads.h"

static double prof_clock(const net *n) {
    return n->prof_on == 2 ? ssl_thread_clock() : ssl_clock();
}

double net_tic(const net *n) { return n->prof_on ? prof_clock(n) : 0; }
void net_toc(net *n, int slot, double t0, int bwd) {
    if (!n->prof_on) return;
    double dt = prof_clock(n) - t0;
    if (bwd) n->prof[slot].t_bwd += dt;
    else { n->prof[slot].t_fwd += dt; n->prof[slot].calls += !n->prof_more; }
}

void net_conv_fwd_xf(net *n, conv_l *c, const float *in, const conv_in_xf *xf, int B) {
    double t0 = net_tic(n);
    conv_shape s = c->s;
    s.B = B;
    if (c->dw && xf) dwconv_forward_xf(c->out, in, xf, tdata(n, c->w), &s, n->ws);
    else if (c->dw) dwconv_forward(c->out, in, tdata(n, c->w), &s, n->ws);
    else if (xf) conv2d_forward_xf(c->out, in, xf, tdata(n, c->w), &s, n->ws);
    else conv2d_forward(c->out, in, tdata(n, c->w), NULL, &s, n->ws);
    net_toc(n, c->prof, t0, 0);
}

void net_conv_fwd(net *n, conv_l *c, const float *in, int B) { net_conv_fwd_xf(n, c, in, NULL, B); }

void net_bn_fwd(net *n, bn_l *b, const float *x, const float *res, int act, int B,
                   int train) {
    double t0 = net_tic(n);
    float *y = b->out;
    int64_t N = (int64_t)B * b->rows;
    if (train)
        bn_forward_train_aff(y, b->mean, b->rstd, b->scale, b->shift, x, tdata(n, b->g),
                             tdata(n, b->b), res, act, N, b->C, tdata(n, b->rm), tdata(n, b->rv),
                             b->momentum, b->eps);
    else
        bn_forward_eval(y, x, tdata(n, b->g), tdata(n, b->b), res, act, N, b->C, tdata(n, b->rm),
                        tdata(n, b->rv), b->eps);
    net_toc(n, b->prof, t0, 0);
}

void net_bn_stats(net *n, bn_l *b, const float *x, int act, int B) {
    double t0 = net_tic(n);
    bn_forward_train_aff(NULL, b->mean, b->rstd, b->scale, b->shift, x, tdata(n, b->g),
                         tdata(n, b->b), NULL, act, (int64_t)B * b->rows, b->C, tdata(n, b->rm),
                         tdata(n, b->rv), b->momentum, b->eps);
    net_toc(n, b->prof, t0, 0);
}

/* 1 if a block's convolution j > 0 (3x3) reads the BN before it through
 * that BN's affine and ReLU (conv2d_forward_xf, conv2d_backward_xf: the
 * Winograd shapes), so that the BN's output is never written: the same
 * bits, two passes over the activation fewer (net_set_fusion(n, 0) turns
 * it off from the next training forward; the backward follows its
 * forward: n->fused). */
static int block_xf(const net *n, const net_block *b, int j) {
    return n->fused && j > 0 && b->conv[j].s.KH == 3 && conv2d_xf_applies(&b->conv[j].s);
}

/* That read-through: BN j - 1's affine, then ReLU. */
static conv_in_xf block_in_xf(const net_block *b, int j) {
    conv_in_xf xf = { b->bn[j - 1].scale, b->bn[j - 1].shift, ACT_RELU };
    return xf;
}

/* Training-mode backbone: every layer keeps its output for the backward
 * (but the BNs that block_xf skips). Returns the last stage's output. */
static const float *backbone_train(net *n, const float *x, int B) {
    n->fused = !n->nofuse;
    net_conv_fwd(n, &n->conv1, x, B);
    net_bn_fwd(n, &n->bn1, n->conv1.out, NULL, 1, B, 1);
    const float *h = n->bn1.out;
    if (n->imagenet) {
        double t0 = net_tic(n);
        conv_shape *s = &n->conv1.s;
        maxpool_forward(n->pool_out, n->pool_arg, h, B, s->OH, s->OW, s->OC, 3, 2, 1,
                        n->pool_h, n->pool_w);
        net_toc(n, n->bn1.prof + 1, t0, 0);
        h = n->pool_out;
    }
    for (int i = 0; i < n->nblk; i++) {
        net_block *b = &n->blk[i];
        const float *in = h, *res = in;
        if (b->has_ds) {
            net_conv_fwd(n, &b->ds, in, B);
            net_bn_fwd(n, &b->dsbn, b->ds.out, NULL, 0, B, 1);
            res = b->dsbn.out;
        }
        for (int j = 0; j < b->n; j++) {
            if (block_xf(n, b, j)) {
                conv_in_xf xf = block_in_xf(b, j);
                net_conv_fwd_xf(n, &b->conv[j], b->conv[j - 1].out, &xf, B);
            } else {
                net_conv_fwd(n, &b->conv[j], h, B);
            }
            int last = j == b->n - 1;
            if (!last && block_xf(n, b, j + 1))
                net_bn_stats(n, &b->bn[j], b->conv[j].out, 1, B);
            else
                net_bn_fwd(n, &b->bn[j], b->conv[j].out, last ? res : NULL, 1, B, 1);
            h = b->bn[j].out;
        }
    }
    return h;
}

/* Eval mode: conv c then BN b folded into the convolution's epilogue,
 * out = act(bn(conv(in)) + res), in e's workspace. Timed as the
 * convolution (when e records the profile). */
void net_conv_bn_eval(net *n, const net_eval *e, conv_l *c, bn_l *b, const float *in,
                      const float *res, int act, int B, float *out) {
    double t0 = e->prof ? net_tic(n) : 0;
    conv_shape s = c->s;
    s.B = B;
    float *sc = e->aff, *sh = e->aff + b->C;
    bn_eval_affine(sc, sh, tdata(n, b->g), tdata(n, b->b), tdata(n, b->rm), tdata(n, b->rv), b->C,
                   b->eps);
    if (c->dw) {
        dwconv_forward_affine(out, in, tdata(n, c->w), sc, sh, res, act, &s, e->ws);
    } else {
        conv2d_forward_affine(out, in, tdata(n, c->w), sc, sh, res, act, &s, e->ws);
    }
    if (e->prof) net_toc(n, c->prof, t0, 0);
}

/* Evaluation-mode backbone: nothing is kept for a backward, so the
 * activations rotate through the four buffers e->g (n->g, max_act floats
 * each, or a slice's stretch of them), each BN folded into its
 * convolution. The per-layer buffers stay untouched: a process that only
 * extracts features never pages them in. Returns the last stage's
 * output. */
static const float *backbone_eval(net *n, const net_eval *e, const float *x, int B) {
    float *const *g = e->g;
    net_conv_bn_eval(n, e, &n->conv1, &n->bn1, x, NULL, 1, B, g[0]);
    const float *h = g[0];
    if (n->imagenet) {
        double t0 = e->prof ? net_tic(n) : 0;
        conv_shape *s = &n->conv1.s;
        maxpool_forward(g[1], n->pool_arg + e->b0 * n->pool_h * n->pool_w * s->OC, h, B, s->OH,
                        s->OW, s->OC, 3, 2, 1, n->pool_h, n->pool_w);
        if (e->prof) net_toc(n, n->bn1.prof + 1, t0, 0);
        h = g[1];
    }
    for (int i = 0; i < n->nblk; i++) {
        net_block *b = &n->blk[i];
        float *fr[3];
        int k = 0;
        for (int j = 0; j < 4; j++)
            if (g[j] != h) fr[k++] = g[j];
        const float *res = h, *cur = h;
        if (b->has_ds) {
            net_conv_bn_eval(n, e, &b->ds, &b->dsbn, h, NULL, 0, B, fr[2]);
            res = fr[2];
        }
        for (int j = 0; j < b->n; j++) {
            float *o = fr[j % 2];
            net_conv_bn_eval(n, e, &b->conv[j], &b->bn[j], cur, j == b->n - 1 ? res : NULL, 1,
                             B, o);
            cur = o;
        }
        h = cur;
    }
    return h;
}

static void lin_fwd(net *n, lin_l *l, const float *in, int B) {
    double t0 = net_tic(n);
    linear_forward(l->out_buf, in, tdata(n, l->w), tdata(n, l->b), B, l->in, l->out, n->ws,
                   n->prec);
    net_toc(n, l->prof, t0, 0);
}

/* Floats rounded up to whole 64-byte lines (the blocks of n->xws stay
 * aligned as net_alloc_floats aligns its blocks). */
static int64_t round_up16(int64_t v) { return (v + 15) & ~(int64_t)15; }

static int avg_slot(const net *n) { return n->head ? n->lin[0].prof - 1 : n->nprof - 1; }

/* The global average pool of the last stage's h (images [b0, b0 + B))
 * into their rows of n->feat, timed where prof. */
static void pool_features(net *n, const float *h, int64_t b0, int B, int prof) {
    double t0 = prof ? net_tic(n) : 0;
    avgpool_forward(n->feat + b0 * n->F, h, B, n->feat_h, n->feat_w, n->F);
    if (prof) net_toc(n, avg_slot(n), t0, 0);
}

/* Evaluation mode, images [e->b0, e->b0 + B) of x (x at image b0): the
 * backbone and the pooling into their rows of n->feat. */
static void eval_slice(net *n, const net_eval *e, const float *x, int B) {
    const float *h = n->mobile ? net_mobile_eval(n, e, x, B) : backbone_eval(n, e, x, B);
    pool_features(n, h, e->b0, B, e->prof);
}

/* The batch split. In evaluation mode BN uses its running statistics, so
 * every image's features depend on that image alone, and the batch can be
 * cut into one contiguous slice per thread, each thread running every
 * layer on its own slice with no barrier between layers (instead of one
 * ssl_parallel_for per op, with a barrier after each: the MobileNets have
 * over 50 small layers). The ops called from inside a worker run
 * serially on one part (util/threads.h, ssl_parts), so each thread needs
 * only its own scratch: thread 0 n->ws, n->aff, n->se_ws, the others a
 * block of n->xws each; the activations rotate through each slice's
 * stretch of the four buffers n->g (image b0's offset at the largest
 * activation per image), and the SE and max-pool buffers and n->feat are
 * per image, so the slices share nothing they write and no memory is
 * added for activations. Every kernel's sums are per image, in an order
 * that depends on neither the batch nor the part count (ops.h: the
 * AVX-512 kernels give the same bits at any thread count), so the
 * features are the bits of a whole-batch pass at any thread count and
 * any split (tests/test_net.c). Not where the convolutions or gemm fall
 * back on OpenBLAS (builds without AVX-512): its sums depend on its
 * threads, and it is not to be called from inside a worker. */
typedef struct { net *n; const float *x; int64_t in_img, act_img; } split_job;

static void split_range(void *v, int64_t b0, int64_t b1, int tid) {
    split_job *k = v;
    net *n = k->n;
    net_eval e = { .b0 = b0, .prof = tid == 0 };
    for (int j = 0; j < 4; j++) e.g[j] = n->g[j] + b0 * k->act_img;
    if (tid == 0) {
        e.ws = n->ws; e.aff = n->aff; e.se_ws = n->se_ws;
    } else {
        e.ws = n->xws + (tid - 1) * n->xws_stride;
        e.aff = e.ws + round_up16(n->ws_n);
        e.se_ws = e.aff + round_up16(2 * (int64_t)n->max_c);
    }
    eval_slice(n, &e, k->x + b0 * k->in_img, (int)(b1 - b0));
}

/* How many threads the batch split of B images runs on (1: it does not
 * run: net_set_batch_split says where it does), with the scratch of the threads other than the first allocated:
 * n->xws, for ssl_threads() - 1 of them, kept for later calls. Memory
 * that a thread's ops never touch stays unpaged (calloc), so the scratch
 * costs what those ops use: the largest layer's packed weights and one
 * part's buffers. */
static int split_threads(net *n, int B) {
    int T = ssl_threads();
    if (n->split == NET_SPLIT_OFF || T < 2 || B < 2 || !cd_available() || !gemm_available() ||
        (n->split == NET_SPLIT_AUTO && n->max_wconv > NET_SPLIT_MAX_WEIGHTS))
        return 1;
    if (n->xws_threads < T) {
        int64_t stride = round_up16(n->ws_n) + round_up16(2 * (int64_t)n->max_c) +
                         round_up16(n->se_ws_n);
        float *p = net_alloc_floats(n, (T - 1) * stride);
        if (!p) return 1;        /* out of memory: the whole-batch pass, the same bits */
        net_free_floats(n->xws);
        n->xws = p;
        n->xws_threads = T;
        n->xws_stride = stride;
    }
    return T;
}

/* Evaluation mode: the backbone and the pooling into n->feat, split by
 * batch across the threads where it may be, else as one pass whose ops
 * share the pool. */
static void forward_eval(net *n, const float *x, int B) {
    if (split_threads(n, B) < 2) {
        net_eval e = { { n->g[0], n->g[1], n->g[2], n->g[3] }, n->ws, n->aff, n->se_ws, 0, 1 };
        eval_slice(n, &e, x, B);
        return;
    }
    const net_config *c = &n->cfg;
    /* max_act is max_batch times the largest activation of one image */
    split_job k = { n, x, (int64_t)c->in_h * c->in_w * c->in_ch, n->max_act / n->max_batch };
    ssl_parallel_for(B, 1, split_range, &k);
}

/* The backbone and the pooling into n->feat. */
static void forward_features(net *n, const float *x, int B, int train) {
    n->x = x;
    n->B = B;
    n->trained = train != 0;
    if (!train) {
        forward_eval(n, x, B);
        return;
    }
    const float *h = n->mobile ? net_mobile_train(n, x, B) : backbone_train(n, x, B);
    pool_features(n, h, 0, B, 1);
}

void net_set_fusion(net *n, int on) { n->nofuse = !on; }

int net_set_batch_split(net *n, int mode) {
    n->split = mode == NET_SPLIT_OFF || mode == NET_SPLIT_ALWAYS ? mode : NET_SPLIT_AUTO;
    return cd_available() && gemm_available();
}

int net_forward_features(net *n, const float *x, int B) {
    if (B < 1 || B > n->max_batch) return -1;
    forward_features(n, x, B, 0);
    return 0;
}

int net_forward(net *n, const float *x, int B, int train) {
    if (B < 1 || B > n->max_batch) return -1;
    forward_features(n, x, B, train);
    if (n->head == 1) {
        lin_fwd(n, &n->lin[0], n->feat, B);
    } else if (n->head == 2) {
        lin_fwd(n, &n->lin[0], n->feat, B);
        net_bn_fwd(n, &n->hbn[0], n->lin[0].out_buf, NULL, 1, B, train);
        lin_fwd(n, &n->lin[1], n->hbn[0].out, B);
        net_bn_fwd(n, &n->hbn[1], n->lin[1].out_buf, NULL, 1, B, train);
        lin_fwd(n, &n->lin[2], n->hbn[1].out, B);
    }
    return 0;
}

const float *net_features(const net *n) { return n->feat; }

const float *net_output(const net *n) {
    if (n->head == 1) return n->lin[0].out_buf;
    if (n->head == 2) return n->lin[2].out_buf;
    return n->feat;
}

void net_conv_bwd_xf(net *n, conv_l *c, float *din, const float *dout, const float *in,
                     const conv_in_xf *xf, int accumulate) {
    double t0 = net_tic(n);
    conv_shape s = c->s;
    s.B = n->B;
    assert(!(c->dw && xf));
    if (c->dw)
        dwconv_backward(din, tgrad(n, c->w), dout, in, tdata(n, c->w), &s, accumulate, n->ws);
    else if (xf)
        conv2d_backward_xf(din, tgrad(n, c->w), dout, in, xf, tdata(n, c->w), &s, accumulate,
                           n->ws);
    else
        conv2d_backward(din, tgrad(n, c->w), NULL, dout, in, tdata(n, c->w), &s, accumulate,
                        n->ws);
    net_toc(n, c->prof, t0, 1);
    net_grad_done(n, c->w);
}

void net_conv_bwd(net *n, conv_l *c, float *din, const float *dout, const float *in,
                  int accumulate) {
    net_conv_bwd_xf(n, c, din, dout, in, NULL, accumulate);
}

/* Backward of BN b (input x), output gradient dy (+ dy2 if not NULL:
 * ReLU only); act: its fused activation (ACT_*, 1 = ReLU; no residual),
 * whose gradient is taken at the pre-activation recomputed from x, so
 * b->out is not read. */
void net_bn_bwd(net *n, bn_l *b, float *dx, const float *dy, const float *dy2,
                   const float *x, int act) {
    double t0 = net_tic(n);
    int64_t N = (int64_t)n->B * b->rows;
    if (act == ACT_RELU)
        bn_backward_xmask(dx, tgrad(n, b->g), tgrad(n, b->b), dy, dy2, x, b->scale, b->shift, b->mean,
                          b->rstd, tdata(n, b->g), N, b->C);
    else if (act)
        bn_backward_act(dx, tgrad(n, b->g), tgrad(n, b->b), dy, x, b->scale, b->shift, act,
                        b->mean, b->rstd, tdata(n, b->g), N, b->C);
    else
        bn_backward(dx, tgrad(n, b->g), tgrad(n, b->b), dy, NULL, x, b->mean, b->rstd, tdata(n, b->g),
                    N, b->C);
    net_toc(n, b->prof, t0, 1);
    net_grad_done(n, b->b);
    net_grad_done(n, b->g);
}

/* Backward of BN b (activation act, no residual) and the depthwise
 * convolution c before it, fused where bn_backward_act_split allows
 * (dwconv_backward_bn: the BN's dx never goes to memory), else
 * net_bn_bwd into tmp then net_conv_bwd: dy the BN's output gradient, din
 * the convolution's input gradient (written, or accumulated), which must
 * not overlap dy; in the convolution's input, read through xf (NULL:
 * none; only where fused); tmp: [B, OH, OW, C] of scratch. Each part is
 * timed under its layer (the dx pass under the convolution's). */
void net_bn_dwconv_bwd(net *n, bn_l *b, conv_l *c, float *din, const float *dy,
                       const float *in, const conv_in_xf *xf, int act, int accumulate,
                       float *tmp) {
    if (!bn_backward_act_split(act, b->C)) {
        assert(!xf);
        net_bn_bwd(n, b, tmp, dy, NULL, c->out, act);
        net_conv_bwd(n, c, din, tmp, in, accumulate);
        return;
    }
    double t0 = net_tic(n);
    bn_dx_src d = { .dy = dy, .x = c->out, .scale = b->scale, .shift = b->shift,
                    .mean = b->mean, .rstd = b->rstd, .coef = n->bn_coef, .act = act,
                    .C = b->C };
    bn_backward_act_sums(n->bn_coef, tgrad(n, b->g), tgrad(n, b->b), &d, tdata(n, b->g),
                         (int64_t)n->B * b->rows);
    net_toc(n, b->prof, t0, 1);
    net_grad_done(n, b->b);
    net_grad_done(n, b->g);
    t0 = net_tic(n);
    conv_shape s = c->s;
    s.B = n->B;
    dwconv_backward_bn(din, tgrad(n, c->w), &d, in, xf, tdata(n, c->w), &s, accumulate, n->ws,
                       tmp);
    net_toc(n, c->prof, t0, 1);
    net_grad_done(n, c->w);
}

/* Backward of a block's last BN b (residual + ReLU): its output gradient
 * is dy + dy2 (dy2 may be NULL); dres = that masked by b->out > 0 (the
 * shortcut's gradient), dx from it. */
static void bn_bwd_res(net *n, bn_l *b, float *dx, float *dres, const float *dy,
                       const float *dy2, const float *x) {
    double t0 = net_tic(n);
    bn_backward_res(dx, dres, tgrad(n, b->g), tgrad(n, b->b), dy, dy2, b->out, x, b->mean, b->rstd,
                    tdata(n, b->g), (int64_t)n->B * b->rows, b->C);
    net_toc(n, b->prof, t0, 1);
    net_grad_done(n, b->b);
    net_grad_done(n, b->g);
}

static void lin_bwd(net *n, lin_l *l, float *din, const float *dout, const float *in) {
    double t0 = net_tic(n);
    linear_backward(din, tgrad(n, l->w), tgrad(n, l->b), dout, in, tdata(n, l->w), n->B, l->in,
                    l->out, n->ws, n->prec);
    net_toc(n, l->prof, t0, 1);
    net_grad_done(n, l->b);
    net_grad_done(n, l->w);
}

int net_set_grad_hook(net *n, net_grad_ready_fn fn, void *ctx, ssl_err *err) {
    if (fn && !n->gdone && !(n->gdone = malloc((size_t)n->nt)))
        return ssl_fail(err, SSL_ENOMEM, "out of memory");
    n->ghook = fn;
    n->gctx = ctx;
    return 0;
}

void net_grad_done(net *n, int i) {
    if (!n->ghook) return;
    n->gdone[i] = 1;
    int w = n->gwm;
    while (w > 0 && (n->gdone[w - 1] || n->t[w - 1].is_buffer)) w--;
    if (w == n->gwm) return;
    n->gwm = w;
    /* the first gradient at or above table index w */
    int64_t lo = n->nparams;
    for (int j = w; j < n->nt; j++)
        if (!n->t[j].is_buffer) { lo = n->t[j].grad - n->grads; break; }
    if (lo < n->glo) {
        n->glo = lo;
        n->ghook(n->gctx, lo);
    }
}

static void backward(net *n, const float *dout);

void net_backward(net *n, const float *dout) {
    if (n->ghook) {
        memset(n->gdone, 0, (size_t)n->nt);
        n->gwm = n->nt;
        n->glo = n->nparams;
    }
    backward(n, dout);
    /* Every layer reports its parameters, so lo has reached 0; this is
     * only a guard that the caller always hears the end. */
    if (n->ghook && n->glo > 0) {
        n->glo = 0;
        n->ghook(n->gctx, 0);
    }
}

static void backward(net *n, const float *dout) {
    int B = n->B;
    /* head: gradient w.r.t. the pooled features ends in dfeat */
    const float *dfeat = dout;
    if (n->head == 1) {
        lin_bwd(n, &n->lin[0], n->hg[0], dout, n->feat);
        dfeat = n->hg[0];
    } else if (n->head == 2) {
        lin_bwd(n, &n->lin[2], n->hg[0], dout, n->hbn[1].out);
        net_bn_bwd(n, &n->hbn[1], n->hg[1], n->hg[0], NULL, n->lin[1].out_buf, 1);
        lin_bwd(n, &n->lin[1], n->hg[0], n->hg[1], n->hbn[0].out);
        net_bn_bwd(n, &n->hbn[0], n->hg[1], n->hg[0], NULL, n->lin[0].out_buf, 1);
        lin_bwd(n, &n->lin[0], n->hg[0], n->hg[1], n->feat);
        dfeat = n->hg[0];
    }
    float *g = n->g[0], *gin = n->g[1], *t1 = n->g[2], *t2 = n->g[3];
    /* The gradient of a block's output is g + g2 when the block above has
     * an identity shortcut (g2 its masked gradient, NULL otherwise): the
     * BN backward that reads it adds it, not a pass of its own. */
    const float *g2 = NULL;
    double t0 = net_tic(n);
    avgpool_backward(g, dfeat, B, n->feat_h, n->feat_w, n->F);
    net_toc(n, avg_slot(n), t0, 1);
    if (n->mobile) {
        net_mobile_backward(n, g);
        return;
    }
    for (int i = n->nblk - 1; i >= 0; i--) {
        net_block *b = &n->blk[i];
        const float *in = i > 0 ? n->blk[i - 1].bn[n->blk[i - 1].n - 1].out
                                : (n->imagenet ? n->pool_out : n->bn1.out);
        int L = b->n - 1;
        /* g = d(sum) = (g + g2) * (out > 0), in place; t1 = the BN's dx */
        bn_bwd_res(n, &b->bn[L], t1, g, g, g2, b->conv[L].out);
        for (int j = L; j >= 0; j--) {
            const float *cin = j > 0 ? b->bn[j - 1].out : in;
            float *din = j > 0 ? t2 : gin;
            if (block_xf(n, b, j)) {
                conv_in_xf xf = block_in_xf(b, j);
                net_conv_bwd_xf(n, &b->conv[j], din, t1, b->conv[j - 1].out, &xf, 0);
            } else {
                net_conv_bwd(n, &b->conv[j], din, t1, cin, 0);
            }
            if (j > 0) net_bn_bwd(n, &b->bn[j - 1], t1, t2, NULL, b->conv[j - 1].out, 1);
        }
        if (b->has_ds) {
            net_bn_bwd(n, &b->dsbn, t1, g, NULL, b->ds.out, 0);
            net_conv_bwd(n, &b->ds, gin, t1, in, 1);
            g2 = NULL;
        } else {
            g2 = g;   /* the input's gradient is gin + g */
        }
        float *tmp = g; g = gin; gin = tmp;
    }
    if (n->imagenet) {
        if (g2) add_inplace(g, g2, (int64_t)B * n->blk[0].in_n);
        t0 = net_tic(n);
        conv_shape *s = &n->conv1.s;
        maxpool_backward(t2, g, n->pool_arg, B, s->OH, s->OW, s->OC, n->pool_h, n->pool_w);
        net_toc(n, n->bn1.prof + 1, t0, 1);
        g = t2;
        g2 = NULL;
    }
    net_bn_bwd(n, &n->bn1, t1, g, g2, n->conv1.out, 1);
    net_conv_bwd(n, &n->conv1, NULL, t1, n->x, 0);
}

void net_zero_grad(net *n) { memset(n->grads, 0, (size_t)n->nparams * sizeof(float)); }

typedef struct { float *p, *g, *v; float lr, mom, wd; int bad; } sgd_ctx;

/* The finite check ORs whether each gradient's exponent bits are all
 * ones (NaN or infinity), an integer reduction vectorised with the step
 * (a separate pass summing squares cost 4.2 ms of CPU per step at the
 * demo network's 9.4M parameters). The loop reads its operands through
 * restrict pointers and is compiled with tree-vectorize: -O2 alone left
 * it scalar, reloading the context's fields every element. Elementwise,
 * with the same contractions: the same bits as the scalar loop. */
__attribute__((optimize("tree-vectorize")))
static void sgd_range(void *vctx, int64_t i0, int64_t i1, int tid) {
    sgd_ctx *k = vctx;
    float *restrict p = k->p;
    float *restrict v = k->v;
    const uint32_t *restrict gb = (const uint32_t *)k->g;
    const float *restrict gf = k->g;
    const float lr = k->lr, mom = k->mom, wd = k->wd;
    uint32_t inf = 0;
    (void)tid;
    for (int64_t i = i0; i < i1; i++) {
        inf |= (gb[i] & 0x7f800000u) == 0x7f800000u;
        float g = gf[i] + wd * p[i];
        float vi = mom * v[i] + g;
        v[i] = vi;
        p[i] -= lr * vi;
    }
    if (inf) __atomic_store_n(&k->bad, 1, __ATOMIC_RELAXED);
}

int net_sgd_step(net *n, float lr, float momentum, float wd) {
    sgd_ctx k = { n->params, n->grads, n->moms, lr, momentum, wd, 0 };
    ssl_parallel_for(n->nparams, 1 << 16, sgd_range, &k);
    return k.bad ? -1 : 0;
}

float *net_grad_arena(net *n, int64_t *count) {
    *count = n->nparams;
    return n->grads;
}

float *net_buffer_arena(net *n, int64_t *count) {
    *count = n->nbufs;
    return n->bufs;
}

static uint64_t fnv(uint64_t h, const float *p, int64_t n) {
    const unsigned char *b = (const unsigned char *)p;
    for (int64_t i = 0; i < n * (int64_t)sizeof *p; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t net_checksum(const net *n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, n->params, n->nparams);
    h = fnv(h, n->moms, n->nparams);
    return fnv(h, n->bufs, n->nbufs);
}

void net_set_winograd(net *n, int mode) {
    net_mobile_set_winograd(n, mode);
    n->conv1.s.winograd = mode;
    for (int i = 0; i < n->nblk; i++) {
        net_block *b = &n->blk[i];
        for (int j = 0; j < b->n; j++) b->conv[j].s.winograd = mode;
        if (b->has_ds) b->ds.s.winograd = mode;
    }
}

/* A ResNet's layer s in precision prec: the stride-1 1x1 convolutions of
 * ResNet-50 stay fp32 (their workspace is conv2d_workspace's, not
 * conv2d_bf16_workspace's: gemm_bf16 is not measured on them); the 1x1
 * stride-2 downsamples follow prec (conv_amx.c's in evaluation). */
static int resnet_prec(const conv_shape *s, int prec) {
    if (prec != PREC_BF16 || (s->KH == 1 && s->KW == 1 && s->stride == 1)) return PREC_FP32;
    return conv_bf16_prec(s);   /* fp32 for Winograd shapes under 32 channels */
}

void net_set_precision(net *n, int prec) {
    n->prec = prec == PREC_BF16 ? PREC_BF16 : PREC_FP32;
    net_mobile_set_precision(n, n->prec);
    n->conv1.s.prec = resnet_prec(&n->conv1.s, n->prec);
    for (int i = 0; i < n->nblk; i++) {
        net_block *b = &n->blk[i];
        for (int j = 0; j < b->n; j++) b->conv[j].s.prec = resnet_prec(&b->conv[j].s, n->prec);
        if (b->has_ds) b->ds.s.prec = resnet_prec(&b->ds.s, n->prec);
    }
}

int net_conv_prec(const net *n, const char *name) {
    const conv_l *c = &n->conv1;
    if (n->mobile) return -1;
    if (!strcmp(n->prof[c->prof].name, name)) return c->s.prec;
    for (int i = 0; i < n->nblk; i++) {
        const net_block *b = &n->blk[i];
        for (int j = 0; j < b->n; j++)
            if (!strcmp(n->prof[b->conv[j].prof].name, name)) return b->conv[j].s.prec;
        if (b->has_ds && !strcmp(n->prof[b->ds.prof].name, name)) return b->ds.s.prec;
    }
    return -1;
}

void net_profile_enable(net *n, int on) {
    n->prof_on = on == 2 ? 2 : on != 0;
    for (int i = 0; i < n->nprof; i++) {
        n->prof[i].t_fwd = n->prof[i].t_bwd = 0;
        n->prof[i].calls = 0;
    }
}

void net_profile_print(const net *n, void *FILE_f) {
    FILE *f = FILE_f;
    double tf = 0, tb = 0, conv_f = 0, conv_b = 0, bn_f = 0, bn_b = 0;
    long calls = 0;
    for (int i = 0; i < n->nprof; i++) {
        tf += n->prof[i].t_fwd;
        tb += n->prof[i].t_bwd;
        if (n->prof[i].calls > calls) calls = n->prof[i].calls;
    }
    if (calls < 1) calls = 1;
    fprintf(f, "%-36s %10s %10s %8s %9s\n", "layer", "fwd ms", "bwd ms", "share", "GFLOP/s");
    for (int i = 0; i < n->nprof; i++) {
        const net_prof *p = &n->prof[i];
        double t = p->t_fwd + p->t_bwd;
        /* a conv's backward does 2x its forward's FLOPs (data and weights),
         * the stem conv only the weights' half */
        double fl = p->flops * (p->calls > 0 ? p->calls : 0) * n->B;
        double gf = p->flops > 0 && t > 0 ? (fl + (n->trained ? 2 * fl : 0)) / t * 1e-9 : 0;
        if (p->kind == PROF_CONV) {
            conv_f += p->t_fwd; conv_b += p->t_bwd;
        } else if (p->kind == PROF_BN) {
            bn_f += p->t_fwd; bn_b += p->t_bwd;
        }
        fprintf(f, "%-36s %10.2f %10.2f %7.1f%% %9.1f\n", p->name, 1e3 * p->t_fwd / calls,
                1e3 * p->t_bwd / calls, 100 * t / (tf + tb > 0 ? tf + tb : 1), gf);
    }
    fprintf(f, "%-36s %10.2f %10.2f\n", "total (per call)", 1e3 * tf / calls, 1e3 * tb / calls);
    fprintf(f, "%-36s %10.2f %10.2f\n", "  convolutions", 1e3 * conv_f / calls, 1e3 * conv_b / calls);
    fprintf(f, "%-36s %10.2f %10.2f\n", "  batch norm (+activation, +add)", 1e3 * bn_f / calls,
            1e3 * bn_b / calls);
}
