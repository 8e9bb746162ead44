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
} net_prof;

typedef struct {
    conv_shape s;            /* at max_batch */
    int w;                   /* tensor index of the weight */
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
    int64_t ws_n;            /* its size in floats */
    float *g[4];             /* activation gradient buffers, max_act each */
    float *hg[2];            /* head gradient buffers [max_batch, max head width] */
    int64_t max_act;
    float *aff;              /* [2 * max_c]: folded eval BN scale, shift */
    int max_c;               /* widest BN */
    /* net_size's dry run: count what would be allocated, allocate nothing */
    int dry;
    int64_t dry_floats;
    /* profile */
    int prof_on;
    net_prof prof[NET_MAX_PROF];
    int nprof;
};

/* Kinds of tensors, for initialisation. */
enum { NT_WEIGHT, NT_BIAS, NT_BN_WEIGHT, NT_BN_BIAS, NT_RUNNING_MEAN, NT_RUNNING_VAR };

/* Appends a tensor (storage assigned later); returns its index or -1. */
int net_add_tensor(net *n, const char *name, int ndim, const int64_t *shape, int kind);
#endif
