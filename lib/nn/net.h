/* net.h: the networks (ResNet and MobileNet backbones + heads), their
 * parameters and SGD.
 *
 * Layouts: inputs and activations NHWC float32; parameters are stored with
 * PyTorch's names and shapes (conv weight [Cout, Cin, KH, KW], linear weight
 * [out, in]), so checkpoints load into torch directly and fixtures compare
 * element for element. Parameters, gradients and momentum each live in one
 * arena with a table of named views (lib conventions, STYLE.md item 6).
 *
 * Backbones (ssl-method(7), NETWORKS): "resnet18", "resnet34" (BasicBlock),
 * "resnet50" (Bottleneck), stem "cifar" (3x3 s1, no max-pool) or "imagenet"
 * (7x7 s2 + 3x3 max-pool s2); "mobilenetv2", "mobilenetv3s"
 * (MobileNetV3-small), torchvision's, stem "imagenet" (torchvision's
 * strides) or "cifar" (stride 1 in the first convolution and the first
 * stride-2 stage: 32x32 ends at 4x4), see net_mobile.c and ssl-tools(7);
 * width multiplier, any input channels and sizes from 8x8 up. Heads:
 * "none", "linear" (Linear(F, d)), "mlp3" (Linear(F,h) BN ReLU
 * Linear(h,h) BN ReLU Linear(h,d)).
 *
 * Names follow PyTorch modules: backbone.conv1.weight, backbone.bn1.weight,
 * backbone.layer1.0.conv1.weight, backbone.layer2.0.downsample.0.weight
 * (MobileNets: torchvision's backbone.features.3.conv.1.0.weight,
 * backbone.features.4.block.2.fc1.bias, ...),
 * head.0.weight (mlp3: head.0 Linear, head.1 BN, head.3 Linear, head.4 BN,
 * head.6 Linear; linear: head.weight, head.bias), and BN buffers
 * *.running_mean, *.running_var. */
#ifndef SSL_NET_H
#define SSL_NET_H
#include <stdint.h>

#include "util/err.h"
#include "util/value.h"

/* The architectures, NULL-terminated: "resnet18", "resnet34", "resnet50",
 * "mobilenetv2", "mobilenetv3s". */
extern const char *const net_archs[];

typedef struct {
    char arch[16];                /* one of net_archs */
    char stem[16];                /* "cifar" or "imagenet" */
    float width;                  /* channel multiplier: 1, 0.5, 0.25, ... */
    int in_ch, in_h, in_w;        /* input channels and size */
    char head[16];                /* "none", "linear", "mlp3" */
    int hidden;                   /* mlp3 hidden width (2048) */
    int dim;                      /* head output dimension d */
} net_config;

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
    int64_t numel;
    float *data;
    float *grad;                  /* NULL for buffers (BN running statistics) */
    float *mom;                   /* SGD momentum; NULL for buffers */
    int is_buffer;
} net_tensor;

typedef struct net net;

/* Limits net_new enforces, so that a configuration read from a file cannot
 * make it allocate absurd memory: parameters (4 bytes each, three arenas:
 * weights, gradients, momentum), and all memory (arenas, activations and
 * workspaces for max_batch). A ResNet-50 of width 1 with an mlp3 head of
 * 2048 has 32 million parameters and needs 25 GiB for batches of 256
 * images of 224x224; at width 4 with a head of 8192, 511 million and
 * 105 GiB. */
#define NET_MAX_PARAMS ((int64_t)1 << 30)
#define NET_MAX_BYTES ((int64_t)256 << 30)

/* Build a network able to run batches of up to max_batch. Weights are not
 * initialised (call net_init or load them). NULL with err on a bad
 * configuration or one over the limits above ("... more than the 256 GiB
 * allowed"). */
net *net_new(const net_config *cfg, int max_batch, ssl_err *err);
/* The same with every tensor, gradient and momentum zero instead of
 * net_init's values, for a caller that sets them all (a checkpoint's
 * reader): no random draws, and memory untouched until used. */
net *net_new_zero(const net_config *cfg, int max_batch, ssl_err *err);
/* What net_new(cfg, max_batch) would allocate, without allocating it:
 * *params parameters and *bytes in all (either pointer may be NULL).
 * 0, or -1 with err on a bad configuration. */
int net_size(const net_config *cfg, int max_batch, int64_t *params, int64_t *bytes,
             ssl_err *err);
/* The size and cost of a configuration, without allocating it:
 * *params parameters in all (BN running statistics excluded), of which
 * *backbone_params in the backbone, and *flops forward FLOPs per image
 * (net_flops); any pointer may be NULL. 0, or -1 with err on a bad
 * configuration. */
int net_cost(const net_config *cfg, int64_t *params, int64_t *backbone_params, double *flops,
             ssl_err *err);
void net_free(net *n);                           /* NULL is a no-op */
const net_config *net_get_config(const net *n);

/* PyTorch's default initialisation from seed; BN running stats reset
 * (mean 0, var 1); momentum zeroed. */
void net_init(net *n, uint64_t seed);

int net_feature_dim(const net *n);               /* F: pooled backbone width */
int net_out_dim(const net *n);                   /* d, or F with head "none" */
/* Forward FLOPs per image (multiply-adds x 2) of the convolutions and
 * linear layers (SE's included; BN, activations and pooling not), for
 * reports. */
double net_flops(const net *n);

int net_ntensors(const net *n);
net_tensor *net_tensor_at(net *n, int i);
net_tensor *net_find(net *n, const char *name);

/* x: [B, H, W, C] float32, normalised. train != 0: BN uses batch statistics
 * and updates the running statistics (momentum 0.1), and activations are
 * kept for net_backward; train == 0: BN uses running statistics.
 * Returns 0, or -1 if B > max_batch. Outputs valid until the next forward. */
int net_forward(net *n, const float *x, int B, int train);
/* The backbone alone in evaluation mode (train == 0 above): net_features
 * is set, the head does not run (net_output is not updated: with a head,
 * use net_forward). The features are the bits net_forward gives. Returns
 * 0, or -1 if B > max_batch. */
int net_forward_features(net *n, const float *x, int B);
const float *net_features(const net *n);         /* [B, F] pooled backbone output */
/* Evaluation mode with more than one thread (ssl_set_threads) may cut
 * the batch into one slice of images per thread, each thread running
 * every layer of the backbone on its own slice with no barrier between
 * layers, instead of sharing the threads in each layer as training does.
 * The head, if any, runs after it on the whole batch, sharing its layers.
 * mode: NET_SPLIT_OFF never; NET_SPLIT_AUTO (net_new's default) where
 * every convolution's weight has at most NET_SPLIT_MAX_WEIGHTS floats
 * (each thread packs its own copy of a layer's weights: the MobileNets,
 * ResNets up to width 0.5; ResNet-18 at width 1, 2.4 million in its
 * widest layers, ran slower split, with 12% more CPU time per image);
 * NET_SPLIT_ALWAYS whatever the weights. Both ways give the same bits
 * (every image's features depend on that image alone, and the kernels'
 * sums on neither the batch nor the thread count); the split runs only
 * where the convolutions and matrix products are the AVX-512 kernels
 * (not OpenBLAS). Returns 1 if it can run in this build, else 0. */
enum { NET_SPLIT_OFF = 0, NET_SPLIT_AUTO = 1, NET_SPLIT_ALWAYS = 2 };
#define NET_SPLIT_MAX_WEIGHTS ((int64_t)1 << 20)
int net_set_batch_split(net *n, int mode);
/* The training-mode fusions: the MobileNets' around each depthwise layer
 * (the expansion's BN applied as the depthwise reads its input, the
 * depthwise BN's dx pass inside the depthwise backward; net_mobile.c),
 * and the ResNet blocks' first BN + ReLU applied as the 3x3 convolution
 * after it reads its input (on the Winograd kernels; net.c): on (1,
 * net_new's default) or off (0, the separate passes), for A/B
 * measurements (bench_net --fuse ab). The same bits either way. Takes
 * effect at the next training forward (a backward follows its forward's
 * setting). */
void net_set_fusion(net *n, int on);
const float *net_output(const net *n);           /* [B, d] head output (= features for "none") */

void net_zero_grad(net *n);
/* dout: [B, d] gradient of the loss w.r.t. net_output of the last
 * training-mode forward. Accumulates into the parameter gradients. */
void net_backward(net *n, const float *dout);
/* Gradients ready during net_backward (data-parallel bucketing, like
 * PyTorch DDP's autograd hooks): fn(ctx, lo) is called, on the calling
 * thread, each time the backward has finished the gradients of a further
 * stretch of the arena, meaning every gradient at arena offset >= lo
 * (net_grad_arena) is final for this backward. The arena is in table order
 * (forward order) and the backward runs the layers in reverse, so lo falls
 * layer by layer; it is strictly decreasing within a backward and the last
 * call has lo 0. The calls are a function of the network alone (the same
 * offsets, in the same order, every backward). fn NULL: none (the default).
 * 0, or -1 with err when out of memory. */
typedef void (*net_grad_ready_fn)(void *ctx, int64_t lo);
int net_set_grad_hook(net *n, net_grad_ready_fn fn, void *ctx, ssl_err *err);
/* PyTorch SGD: g += wd*p; v = mom*v + g; p -= lr*v. Every parameter
 * (BN and biases included), buffers excluded. Returns 0, or -1 when some
 * gradient was not finite (NaN or infinite): the step then ran all the
 * same, so the weights and momentum are not to be used (the trainer
 * stops; its last checkpoint is the last good state). The check rides on
 * the step's own pass over the gradients, not a pass of its own. */
int net_sgd_step(net *n, float lr, float momentum, float wd);
/* The arenas: every parameter's gradient (*count floats, in net_tensor
 * order, for summing across data-parallel replicas), and a checksum of
 * every parameter, momentum and buffer (FNV-1a of their bytes: replicas
 * that hold the same bits have the same sum). */
float *net_grad_arena(net *n, int64_t *count);
/* The buffers (BN running statistics), *count floats. */
float *net_buffer_arena(net *n, int64_t *count);
uint64_t net_checksum(const net *n);

/* Configuration <-> value map (for checkpoint metadata). */
sv *net_config_to_sv(const net_config *cfg);
int net_config_from_sv(net_config *cfg, const sv *m, ssl_err *err);

/* Which convolution kernels the network's 3x3 layers may use:
 * CONV_WINOGRAD_OFF, _AUTO (net_new's default) or _ALWAYS (nn/ops/ops.h).
 * The two kernels give different bits; each repeats exactly. */
void net_set_winograd(net *n, int mode);

/* The precision of the network's matrix products: PREC_FP32 (net_new's
 * default) or PREC_BF16 (nn/ops/ops.h): the head's linear layers, the
 * ResNets' Winograd convolutions (forward and backward-data; the weight
 * gradient on AMX), each as conv_bf16_prec (ops.h) chooses (fp32 for
 * those with fewer than 32 channels in or out), and the MobileNets' 1x1
 * convolutions (forward, backward-data and weight gradient,
 * conv2d_bf16_applies) take bf16 inputs with fp32 sums; the other direct
 * convolutions (stems, strided, depthwise, ResNet-50's 1x1), SE, the
 * parameters, their gradients, SGD and BatchNorm stay fp32. The caller checks gemm_bf16_available() first (without it
 * everything runs in fp32). */
void net_set_precision(net *n, int prec);
/* The precision a ResNet's convolution (its profile name, e.g.
 * "backbone.layer1.0.conv1", "backbone.layer2.0.downsample.0") was given
 * by net_set_precision, or -1 when there is no such convolution (or the
 * network is a MobileNet). */
int net_conv_prec(const net *n, const char *name);

/* Optional per-layer timing (for make bench): when enabled, forward and
 * backward accumulate seconds per layer; print writes a table to f. on:
 * 0 off, 1 wall time, 2 the calling thread's CPU time (with one thread,
 * where all the work runs on it: leaves out the waits for a core on a
 * shared machine). */
void net_profile_enable(net *n, int on);
void net_profile_print(const net *n, void *FILE_f);

/* The depthwise convolutions of the backbone (the MobileNets'), for
 * benchmarks: of the i-th (in layer order), when i is in range, its input
 * H, W, channels C, kernel k (k x k) and stride into the non-NULL
 * pointers. Returns how many there are (0 for a ResNet). */
int net_dw_layer(const net *n, int i, int *H, int *W, int *C, int *k, int *stride);
#endif
