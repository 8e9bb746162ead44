/* net_impl.h: the private structure of a net (nn/net.h), shared by
 * net_build.c (construction, tensor table, initialisation) and net.c
 * (forward, backward, SGD, profile); net_config.c (configuration maps)
 * needs only net.h.
 * Not part of the public interface. */
#ifndef SSL_NET_IMPL_H
#define SSL_NET_IMPL_H
#include <stdint.h>

#include "nn/net.h"
#include "nn/ops/ops.h"

#define NET_MAX_BLOCKS 16
#define NET_MAX_PROF 160

typedef struct {
    char name[64];
    double t_fwd, t_bwd;     /* seconds */
    double flops;            /* forward FLOPs per image */
    long calls;
    int kind;                /* PROF_*: what net_profile_print sums it under */
} net_prof;

enum { PROF_OTHER, PROF_CONV, PROF_BN };

typedef struct {
    conv_shape s;            /* at max_batch */
    int w;                   /* tensor index of the weight */
    int dw;                  /* depthwise (groups = channels, OC == C): dwconv_* */
    float *out;              /* [max_batch, OH, OW, OC] */
    int prof;
} conv_l;

typedef struct {
    int C;
    int64_t rows;            /* rows per image (H*W; 1 for BatchNorm1d) */
    int g, b, rm, rv;        /* tensor indices */
    float *mean, *rstd;      /* [C], saved by the training forward */
    float *scale, *shift;    /* [C], its epilogue affine (bn_forward_train_aff) */
    float *out;              /* [max_batch * rows, C] */
    float eps, momentum;     /* 1e-5, 0.1 (PyTorch's defaults); MobileNetV3: 1e-3, 0.01 */
    int prof;
} bn_l;

typedef struct {
    int n;                   /* convs on the main path: 2 basic, 3 bottleneck */
    conv_l conv[3];
    bn_l bn[3];
    int has_ds;
    conv_l ds;
    bn_l dsbn;
    int64_t in_n, out_n;     /* elements per image of the block input/output */
} net_block;

/* ---- MobileNets (net_mobile.c) ---- */
#define NET_MAX_MBLOCKS 20

/* convolution (full or depthwise) -> BN -> activation, the activation
 * fused into the BN: bn.out is the layer's output */
typedef struct {
    conv_l conv;
    bn_l bn;
    int act;                 /* ACT_* (nn/ops/ops.h) */
} cba_l;

/* squeeze-and-excitation (se_forward) */
typedef struct {
    int C, S;
    int64_t P;               /* pixels per image */
    int w1, b1, w2, b2;      /* tensor indices: fc1 [S, C, 1, 1], fc2 [C, S, 1, 1] */
    float *pooled, *z1, *z2, *sc;   /* [max_batch, C], [.., S], [.., C], [.., C] */
    float *out;              /* [max_batch, P, C] */
    int prof;
} se_l;

/* inverted residual block: [expand 1x1,] depthwise, [SE,] project 1x1 */
typedef struct {
    int n;                   /* layers: 2 (no expansion) or 3 */
    cba_l l[3];
    int has_se;
    se_l se;                 /* after the depthwise layer l[n - 2] */
    int res;                 /* identity shortcut, added in the project BN's epilogue */
    int xf, pf;              /* the last training forward read l[0] (xf), l[n - 2] (pf)
                              * through conv_in_xf (net_mobile.c, xfused, pfused) */
} mb_block;

/* The working memory of one evaluation-mode pass of the backbone over
 * images [b0, b0 + B) (net.c's eval_slice): the whole batch on the
 * calling thread, whose ops share the pool, or one thread's slice of it
 * in the batch split, where each thread runs every layer on its own
 * images with ops that run serially (net.c, forward_eval). */
typedef struct {
    float *g[4];             /* activation buffers: n->g, or this slice's stretch of each */
    float *ws, *aff, *se_ws; /* conv/linear workspace, folded BN affine, SE workspace */
    int64_t b0;              /* first image (SE's and the max-pool's per-image buffers) */
    int prof;                /* 1: this pass records the profile (one thread) */
} net_eval;

typedef struct {
    int in, out;             /* features */
    int w, b;                /* tensor indices */
    float *out_buf;          /* [max_batch, out] */
    int prof;
} lin_l;

struct net {
    net_config cfg;
    int max_batch;
    /* tensor table and arenas */
    net_tensor *t;
    unsigned char *kind;     /* NT_* per tensor */
    int64_t *fan_in;         /* per tensor, for NT_WEIGHT and NT_BIAS */
    int nt, cap;
    float *params, *grads, *moms, *bufs;
    int64_t nparams, nbufs;
    /* backbone */
    int imagenet;
    conv_l conv1;
    bn_l bn1;
    int pool_h, pool_w;      /* max-pool output size (imagenet stem) */
    float *pool_out;
    int32_t *pool_arg;
    net_block blk[NET_MAX_BLOCKS];
    int nblk;
    /* MobileNet backbone (mobile 2: V2, 3: V3-small; 0: a ResNet, above) */
    int mobile;
    cba_l mstem, mlast;      /* first conv, last 1x1 conv */
    mb_block mb[NET_MAX_MBLOCKS];
    int nmb;
    float *se_ws;            /* SE workspace (se_workspace of the widest) */
    int64_t se_ws_n;
    int feat_h, feat_w, F;   /* last stage size and pooled width */
    float *feat;             /* [max_batch, F] */
    /* head: 0 none, 1 linear, 2 mlp3 */
    int head;
    lin_l lin[3];
    bn_l hbn[2];
    int d;
    /* working memory */
    const float *x;          /* input of the last forward */
    int B, trained;          /* batch of the last forward; 1 if training mode */
    float *ws;               /* conv and linear workspace */
    int prec;                /* PREC_FP32 / PREC_BF16 (net_set_precision) */
    int64_t ws_n;            /* its size in floats */
    float *g[4];             /* activation gradient buffers, max_act each */
    float *hg[2];            /* head gradient buffers [max_batch, max head width] */
    int64_t max_act;
    float *aff;              /* [2 * max_c]: folded eval BN scale, shift */
    float *bn_coef;          /* [3 * max_c]: a BN backward's dx coefficients (bn_dx_src) */
    int max_c;               /* widest BN */
    /* batch-split inference (net.c, forward_eval): split a NET_SPLIT_*
     * (net_set_batch_split); max_wconv: the largest convolution weight's
     * floats (the AUTO rule); xws: the scratch of threads
     * 1..xws_threads-1, xws_stride floats each (ws, aff, se_ws), allocated
     * on first use */
    int split;
    int64_t max_wconv;
    /* net_set_fusion: nofuse 1 turns the training-mode fusions off (the
     * MobileNets' around the depthwise layers, the ResNet blocks' BN read
     * through by the 3x3 convolution after it); fused: whether the last
     * training forward ran them */
    int nofuse, fused;
    float *xws;
    int xws_threads;
    int64_t xws_stride;
    /* net_size's dry run: count what would be allocated, allocate nothing */
    int dry;
    int64_t dry_floats;
    /* net_set_grad_hook: gdone [nt] marks the tensors whose gradient this
     * backward has finished; every tensor >= gwm is done (or a buffer) and
     * glo is the arena offset of the first such gradient */
    net_grad_ready_fn ghook;
    void *gctx;
    unsigned char *gdone;
    int gwm;
    int64_t glo;
    /* profile */
    int prof_on;
    int prof_more;           /* 1: a further part of the same call (no call counted) */
    net_prof prof[NET_MAX_PROF];
    int nprof;
};

/* Kinds of tensors, for initialisation. */
enum { NT_WEIGHT, NT_BIAS, NT_BN_WEIGHT, NT_BN_BIAS, NT_RUNNING_MEAN, NT_RUNNING_VAR };

/* Appends a tensor (storage assigned later); returns its index or -1. */
int net_add_tensor(net *n, const char *name, int ndim, const int64_t *shape, int kind);

static inline float *tdata(net *n, int i) { return n->t[i].data; }
static inline float *tgrad(net *n, int i) { return n->t[i].grad; }

/* net_build.c: layers and memory. alloc_floats counts instead of
 * allocating in net_size's dry run. add_conv: a k x k convolution (dw:
 * depthwise, OC == C) of an H x W x C input named `name` (its weight
 * name.weight); add_bn: BatchNorm over C channels, rows per image. */
float *net_alloc_floats(net *n, int64_t count);
void net_free_floats(float *p);
int net_new_prof(net *n, const char *name, double flops, int kind);
int net_add_conv(net *n, conv_l *c, const char *name, int H, int W, int C, int OC, int k,
                 int stride, int pad, int dw, ssl_err *err);
int net_add_bn(net *n, bn_l *b, const char *name, int C, int64_t rows, ssl_err *err);
void net_free_conv(conv_l *c);
void net_free_bn(bn_l *b);

/* net.c: the layer steps the backbones share (profiled, batch B). act:
 * the activation fused into the BN (ACT_*, nn/ops/ops.h; 1 = ReLU, so the
 * ResNets pass a relu flag). */
double net_tic(const net *n);
void net_toc(net *n, int slot, double t0, int bwd);
void net_conv_fwd(net *n, conv_l *c, const float *in, int B);
/* net_conv_fwd reading in through xf (NULL: as it is; conv2d_xf_applies
 * or a depthwise layer) */
void net_conv_fwd_xf(net *n, conv_l *c, const float *in, const conv_in_xf *xf, int B);
void net_bn_fwd(net *n, bn_l *b, const float *x, const float *res, int act, int B, int train);
/* training-mode BN of x without its output pass (a reader applies it
 * through xf): statistics, running statistics, the affine in b->scale,
 * b->shift */
void net_bn_stats(net *n, bn_l *b, const float *x, int act, int B);
/* eval mode: out = act(bn(conv(in)) + res), BN folded into the conv, in
 * e's workspace */
void net_conv_bn_eval(net *n, const net_eval *e, conv_l *c, bn_l *b, const float *in,
                      const float *res, int act, int B, float *out);
void net_conv_bwd(net *n, conv_l *c, float *din, const float *dout, const float *in,
                  int accumulate);
/* net_conv_bwd reading in through xf (NULL: as it is; not a depthwise
 * layer: net_bn_dwconv_bwd takes those) */
void net_conv_bwd_xf(net *n, conv_l *c, float *din, const float *dout, const float *in,
                     const conv_in_xf *xf, int accumulate);
void net_bn_bwd(net *n, bn_l *b, float *dx, const float *dy, const float *dy2, const float *x,
                int act);
void net_bn_dwconv_bwd(net *n, bn_l *b, conv_l *c, float *din, const float *dy,
                       const float *in, const conv_in_xf *xf, int act, int accumulate,
                       float *tmp);
/* The gradient of tensor i is final for this backward (net_set_grad_hook);
 * every layer's backward calls it for each of its parameters. */
void net_grad_done(net *n, int i);

/* net_mobile.c: the MobileNet backbones. build: the layer table from
 * n->cfg (arch mobilenetv2 or mobilenetv3s), setting feat_h, feat_w, F;
 * train/eval: the forward of x, returning the last layer's output (eval:
 * images e->b0.. of the batch, in e's buffers);
 * backward: g [B, feat_h, feat_w, F] the gradient of that output
 * (n->g[0], clobbered), into the parameter gradients. */
int net_mobile_build(net *n, ssl_err *err);
const float *net_mobile_train(net *n, const float *x, int B);
const float *net_mobile_eval(net *n, const net_eval *e, const float *x, int B);
void net_mobile_backward(net *n, float *g);
void net_mobile_free(net *n);
void net_mobile_set_winograd(net *n, int mode);
/* prec on every convolution of a MobileNet (the pointwise ones run on
 * gemm_bf16 in bf16; the stem and the depthwise ones ignore it) */
void net_mobile_set_precision(net *n, int prec);
#endif
