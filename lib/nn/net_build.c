/* net_build.c: construction of a net (nn/net.h): configuration checks,
 * the layer list of the ResNet backbone (the MobileNets': net_mobile.c)
 * and of the head, the tensor table with its
 * three arenas (parameters, gradients, momentum) plus one for buffers, all
 * activation memory for max_batch, and PyTorch's default initialisation.
 *
 * Widths: stage s (0..3) has planes = max(1, round(64 * 2^s * width))
 * channels (round half away from zero, lround), the stem has planes of
 * stage 0; Bottleneck blocks output 4 * planes. Width 0.25 gives
 * 16/32/64/128, width 0.3 gives 19/38/77/154. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net_impl.h"
#include "util/mem.h"
#include "util/rng.h"

int net_add_tensor(net *n, const char *name, int ndim, const int64_t *shape, int kind) {
    if (n->nt == n->cap) {
        int cap = n->cap ? 2 * n->cap : 64;
        net_tensor *t = realloc(n->t, (size_t)cap * sizeof *t);
        if (t) n->t = t;
        unsigned char *k = realloc(n->kind, (size_t)cap);
        if (k) n->kind = k;
        int64_t *f = realloc(n->fan_in, (size_t)cap * sizeof *f);
        if (f) n->fan_in = f;
        if (!t || !k || !f) return -1;
        n->cap = cap;
    }
    net_tensor *t = &n->t[n->nt];
    memset(t, 0, sizeof *t);
    char *nm = malloc(strlen(name) + 1);
    if (!nm) return -1;
    strcpy(nm, name);
    t->name = nm;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) { t->shape[i] = shape[i]; t->numel *= shape[i]; }
    t->is_buffer = kind == NT_RUNNING_MEAN || kind == NT_RUNNING_VAR;
    n->kind[n->nt] = (unsigned char)kind;
    n->fan_in[n->nt] = 0;
    return n->nt++;
}

/* Zeroed floats on a 64-byte boundary, so that the AVX-512 kernels'
 * vector loads and stores never split a cache line (calloc's blocks sit
 * 16 bytes off one, which cost the Winograd kernels about 7%). calloc
 * underneath, so that large blocks stay untouched (not resident) until
 * used (and large ones on huge pages, ssl_advise_huge); the block's own
 * pointer is kept just before the aligned start.
 * Free with free_floats. */
static float dry_block[16] __attribute__((aligned(64)));

float *net_alloc_floats(net *n, int64_t count) {
    if (count < 1) count = 1;
    if (n->dry) {                 /* net_size: count (saturating), allocate nothing */
        const int64_t top = INT64_MAX / 8;
        n->dry_floats = count > top - n->dry_floats ? top : n->dry_floats + count;
        return dry_block;
    }
    if ((uint64_t)count > (SIZE_MAX - 128) / sizeof(float)) return NULL;
    size_t bytes = (size_t)count * sizeof(float) + 64 + sizeof(void *);
    char *raw = calloc(1, bytes);
    if (!raw) return NULL;
    ssl_advise_huge(raw, bytes);
    uintptr_t a = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    ((void **)a)[-1] = raw;
    return (float *)a;
}

void net_free_floats(float *p) {
    if (p && p != dry_block) free(((void **)p)[-1]);
}

int net_new_prof(net *n, const char *name, double flops, int kind) {
    if (n->nprof >= NET_MAX_PROF) return NET_MAX_PROF - 1;
    net_prof *p = &n->prof[n->nprof];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->flops = flops;
    p->kind = kind;
    return n->nprof++;
}

int net_add_conv(net *n, conv_l *c, const char *name, int H, int W, int C, int OC, int k,
                 int stride, int pad, int dw, ssl_err *err) {
    char buf[128];
    if (conv_shape_init(&c->s, n->max_batch, H, W, C, OC, k, k, stride, pad) < 0) {
        ssl_fail(err, SSL_EARG, "input %dx%d too small for %s", n->cfg.in_h, n->cfg.in_w, name);
        return -1;
    }
    /* depthwise: weight [C, 1, k, k], fan_in k*k (PyTorch's C / groups * k * k) */
    int cin = dw ? 1 : C;
    int64_t shape[4] = { OC, cin, k, k };
    c->dw = dw;
    snprintf(buf, sizeof buf, "%s.weight", name);
    c->w = net_add_tensor(n, buf, 4, shape, NT_WEIGHT);
    if (c->w >= 0) n->fan_in[c->w] = (int64_t)cin * k * k;
    if ((int64_t)OC * cin * k * k > n->max_wconv) n->max_wconv = (int64_t)OC * cin * k * k;
    int64_t outn = (int64_t)n->max_batch * c->s.OH * c->s.OW * OC;
    int64_t inn = (int64_t)n->max_batch * H * W * C;
    c->out = net_alloc_floats(n, outn);
    if (c->w < 0 || !c->out) { ssl_fail(err, SSL_ENOMEM, "out of memory"); return -1; }
    if (outn > n->max_act) n->max_act = outn;
    if (inn > n->max_act) n->max_act = inn;
    /* the MobileNets' pointwise convolutions may read through a BN
     * (net_mobile.c, pfused), or run on gemm_bf16 (--precision bf16) */
    int64_t ws = dw ? dwconv_workspace(&c->s)
                 : n->mobile && conv2d_xf_applies(&c->s) ? conv2d_xf_workspace(&c->s)
                 : conv2d_workspace(&c->s);
    if (!dw && n->mobile) {
        int64_t wb = conv2d_bf16_workspace(&c->s);
        if (wb > ws) ws = wb;
    }
    if (ws > n->ws_n) n->ws_n = ws;
    c->prof = net_new_prof(n, name, 2.0 * c->s.OH * c->s.OW * OC * (double)cin * k * k, PROF_CONV);
    return 0;
}

int net_add_bn(net *n, bn_l *b, const char *name, int C, int64_t rows, ssl_err *err) {
    char buf[128];
    int64_t shape[1] = { C };
    b->C = C;
    b->rows = rows;
    b->eps = 1e-5f;
    b->momentum = 0.1f;
    if (C > n->max_c) n->max_c = C;
    snprintf(buf, sizeof buf, "%s.weight", name);
    b->g = net_add_tensor(n, buf, 1, shape, NT_BN_WEIGHT);
    snprintf(buf, sizeof buf, "%s.bias", name);
    b->b = net_add_tensor(n, buf, 1, shape, NT_BN_BIAS);
    snprintf(buf, sizeof buf, "%s.running_mean", name);
    b->rm = net_add_tensor(n, buf, 1, shape, NT_RUNNING_MEAN);
    snprintf(buf, sizeof buf, "%s.running_var", name);
    b->rv = net_add_tensor(n, buf, 1, shape, NT_RUNNING_VAR);
    b->mean = net_alloc_floats(n, C);
    b->rstd = net_alloc_floats(n, C);
    b->scale = net_alloc_floats(n, C);
    b->shift = net_alloc_floats(n, C);
    b->out = net_alloc_floats(n, (int64_t)n->max_batch * rows * C);
    if (b->g < 0 || b->b < 0 || b->rm < 0 || b->rv < 0 || !b->mean || !b->rstd ||
        !b->scale || !b->shift || !b->out) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        return -1;
    }
    b->prof = net_new_prof(n, name, 0, PROF_BN);
    return 0;
}

static int add_linear(net *n, lin_l *l, const char *name, int in, int out, ssl_err *err) {
    char buf[128];
    int64_t ws[2] = { out, in }, bs[1] = { out };
    l->in = in;
    l->out = out;
    snprintf(buf, sizeof buf, "%s.weight", name);
    l->w = net_add_tensor(n, buf, 2, ws, NT_WEIGHT);
    snprintf(buf, sizeof buf, "%s.bias", name);
    l->b = net_add_tensor(n, buf, 1, bs, NT_BIAS);
    l->out_buf = net_alloc_floats(n, (int64_t)n->max_batch * out);
    if (l->w < 0 || l->b < 0 || !l->out_buf) { ssl_fail(err, SSL_ENOMEM, "out of memory"); return -1; }
    n->fan_in[l->w] = n->fan_in[l->b] = in;
    int64_t lws = linear_workspace(n->max_batch, in, out);
    if (lws > n->ws_n) n->ws_n = lws;
    l->prof = net_new_prof(n, name, 2.0 * in * out, PROF_OTHER);
    return 0;
}

const char *const net_archs[] = { "resnet18", "resnet34", "resnet50", "mobilenetv2",
                                  "mobilenetv3s", NULL };

/* 0 for a ResNet, 2 for MobileNetV2, 3 for MobileNetV3-small, -1 unknown. */
static int arch_family(const char *arch) {
    for (int i = 0; net_archs[i]; i++)
        if (!strcmp(arch, net_archs[i])) return i < 3 ? 0 : i == 3 ? 2 : 3;
    return -1;
}

static int check_config(const net_config *c, ssl_err *err) {
    if (arch_family(c->arch) < 0) {
        char list[128] = "";
        for (int i = 0; net_archs[i]; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     net_archs[i]);
        ssl_fail(err, SSL_EARG, "unknown arch '%.16s' (%s)", c->arch, list);
        return -1;
    }
    if (strcmp(c->stem, "cifar") && strcmp(c->stem, "imagenet")) {
        ssl_fail(err, SSL_EARG, "unknown stem '%.16s' (cifar, imagenet)", c->stem);
        return -1;
    }
    if (strcmp(c->head, "none") && strcmp(c->head, "linear") && strcmp(c->head, "mlp3")) {
        ssl_fail(err, SSL_EARG, "unknown head '%.16s' (none, linear, mlp3)", c->head);
        return -1;
    }
    if (!(c->width > 0) || !(c->width <= 16)) {
        ssl_fail(err, SSL_EARG, "width %g out of range (0, 16]", c->width);
        return -1;
    }
    if (c->in_ch < 1 || c->in_ch > 4096) {
        ssl_fail(err, SSL_EARG, "in_ch %d out of range [1, 4096]", c->in_ch);
        return -1;
    }
    if (c->in_h < 8 || c->in_w < 8 || c->in_h > 4096 || c->in_w > 4096) {
        ssl_fail(err, SSL_EARG, "input %dx%d too small or too large (8 to 4096 pixels a side)",
                 c->in_h, c->in_w);
        return -1;
    }
    if (!strcmp(c->head, "mlp3") && (c->hidden < 1 || c->hidden > 65536)) {
        ssl_fail(err, SSL_EARG, "hidden %d out of range [1, 65536]", c->hidden);
        return -1;
    }
    if (strcmp(c->head, "none") && (c->dim < 1 || c->dim > 65536)) {
        ssl_fail(err, SSL_EARG, "dim %d out of range [1, 65536]", c->dim);
        return -1;
    }
    return 0;
}

static int build_resnet(net *n, ssl_err *err) {
    const net_config *c = &n->cfg;
    int bottleneck = !strcmp(c->arch, "resnet50");
    int depth[4] = { 2, 2, 2, 2 };
    if (strcmp(c->arch, "resnet18")) { depth[0] = 3; depth[1] = 4; depth[2] = 6; depth[3] = 3; }
    int planes[4];
    for (int s = 0; s < 4; s++) {
        long p = lround(64.0 * (1 << s) * c->width);
        planes[s] = p < 1 ? 1 : (int)p;
    }
    n->imagenet = !strcmp(c->stem, "imagenet");
    int H = c->in_h, W = c->in_w, C = planes[0];
    if (net_add_conv(n, &n->conv1, "backbone.conv1", H, W, c->in_ch, C, n->imagenet ? 7 : 3,
                     n->imagenet ? 2 : 1, n->imagenet ? 3 : 1, 0, err) < 0)
        return -1;
    H = n->conv1.s.OH; W = n->conv1.s.OW;
    if (net_add_bn(n, &n->bn1, "backbone.bn1", C, (int64_t)H * W, err) < 0) return -1;
    if (n->imagenet) {
        n->pool_h = (H + 2 - 3) / 2 + 1;
        n->pool_w = (W + 2 - 3) / 2 + 1;
        int64_t pn = (int64_t)n->max_batch * n->pool_h * n->pool_w * C;
        n->pool_out = net_alloc_floats(n, pn);
        n->pool_arg = (int32_t *)net_alloc_floats(n, pn);   /* 4 bytes, zeroed, like a float */
        if (!n->pool_out || !n->pool_arg) { ssl_fail(err, SSL_ENOMEM, "out of memory"); return -1; }
        H = n->pool_h; W = n->pool_w;
        net_new_prof(n, "backbone.maxpool", 0, PROF_OTHER);
    }
    int exp = bottleneck ? 4 : 1;
    char nm[96];
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < depth[s]; i++) {
            net_block *b = &n->blk[n->nblk++];
            int stride = (s > 0 && i == 0) ? 2 : 1, P = planes[s];
            b->in_n = (int64_t)H * W * C;
            b->n = bottleneck ? 3 : 2;
            int ch = C, h = H, w = W;
            for (int j = 0; j < b->n; j++) {
                int k = 3, st = 1, pd = 1, oc = P;
                if (bottleneck) {
                    k = j == 1 ? 3 : 1; pd = j == 1 ? 1 : 0; st = j == 1 ? stride : 1;
                    if (j == 2) oc = P * exp;
                } else {
                    st = j == 0 ? stride : 1;
                }
                snprintf(nm, sizeof nm, "backbone.layer%d.%d.conv%d", s + 1, i, j + 1);
                if (net_add_conv(n, &b->conv[j], nm, h, w, ch, oc, k, st, pd, 0, err) < 0) return -1;
                h = b->conv[j].s.OH; w = b->conv[j].s.OW; ch = oc;
                snprintf(nm, sizeof nm, "backbone.layer%d.%d.bn%d", s + 1, i, j + 1);
                if (net_add_bn(n, &b->bn[j], nm, ch, (int64_t)h * w, err) < 0) return -1;
            }
            if (stride != 1 || C != P * exp) {
                b->has_ds = 1;
                snprintf(nm, sizeof nm, "backbone.layer%d.%d.downsample.0", s + 1, i);
                if (net_add_conv(n, &b->ds, nm, H, W, C, P * exp, 1, stride, 0, 0, err) < 0) return -1;
                snprintf(nm, sizeof nm, "backbone.layer%d.%d.downsample.1", s + 1, i);
                if (net_add_bn(n, &b->dsbn, nm, P * exp, (int64_t)h * w, err) < 0) return -1;
            }
            H = h; W = w; C = ch;
            b->out_n = (int64_t)H * W * C;
        }
    n->feat_h = H; n->feat_w = W; n->F = C;
    return 0;
}

/* The backbone, then the pooled features and the head. */
static int build(net *n, ssl_err *err) {
    const net_config *c = &n->cfg;
    if ((n->mobile ? net_mobile_build(n, err) : build_resnet(n, err)) < 0) return -1;
    n->feat = net_alloc_floats(n, (int64_t)n->max_batch * n->F);
    if (!n->feat) { ssl_fail(err, SSL_ENOMEM, "out of memory"); return -1; }
    net_new_prof(n, "backbone.avgpool", 0, PROF_OTHER);
    int hw = n->F;
    if (!strcmp(c->head, "linear")) {
        n->head = 1;
        n->d = c->dim;
        if (add_linear(n, &n->lin[0], "head", n->F, c->dim, err) < 0) return -1;
    } else if (!strcmp(c->head, "mlp3")) {
        n->head = 2;
        n->d = c->dim;
        if (add_linear(n, &n->lin[0], "head.0", n->F, c->hidden, err) < 0 ||
            net_add_bn(n, &n->hbn[0], "head.1", c->hidden, 1, err) < 0 ||
            add_linear(n, &n->lin[1], "head.3", c->hidden, c->hidden, err) < 0 ||
            net_add_bn(n, &n->hbn[1], "head.4", c->hidden, 1, err) < 0 ||
            add_linear(n, &n->lin[2], "head.6", c->hidden, c->dim, err) < 0)
            return -1;
        if (c->hidden > hw) hw = c->hidden;
    } else {
        n->d = n->F;
    }
    if (n->d > hw) hw = n->d;
    for (int i = 0; i < 2; i++) {
        n->hg[i] = net_alloc_floats(n, (int64_t)n->max_batch * hw);
        if (!n->hg[i]) { ssl_fail(err, SSL_ENOMEM, "out of memory"); return -1; }
    }
    return 0;
}

/* Assign arena storage to the table, parameters first, in table order. */
static int finalize(net *n, ssl_err *err) {
    int64_t np = 0, nb = 0;
    for (int i = 0; i < n->nt; i++) {
        if (n->t[i].is_buffer) nb += n->t[i].numel; else np += n->t[i].numel;
    }
    n->nparams = np;
    n->nbufs = nb;
    n->params = net_alloc_floats(n, np);
    n->grads = net_alloc_floats(n, np);
    n->moms = net_alloc_floats(n, np);
    n->bufs = net_alloc_floats(n, nb);
    n->ws = net_alloc_floats(n, n->ws_n);
    n->aff = net_alloc_floats(n, 2 * (int64_t)n->max_c);
    n->bn_coef = net_alloc_floats(n, 3 * (int64_t)n->max_c);
    for (int i = 0; i < 4; i++) n->g[i] = net_alloc_floats(n, n->max_act);
    if (!n->params || !n->grads || !n->moms || !n->bufs || !n->ws || !n->aff || !n->bn_coef ||
        !n->g[0] || !n->g[1] || !n->g[2] || !n->g[3]) {
        ssl_fail(err, SSL_ENOMEM, "out of memory (%lld parameters, %lld activation floats)",
                 (long long)np, (long long)n->max_act);
        return -1;
    }
    if (n->dry) return 0;
    int64_t op = 0, ob = 0;
    for (int i = 0; i < n->nt; i++) {
        net_tensor *t = &n->t[i];
        if (t->is_buffer) {
            t->data = n->bufs + ob;
            ob += t->numel;
        } else {
            t->data = n->params + op;
            t->grad = n->grads + op;
            t->mom = n->moms + op;
            op += t->numel;
        }
    }
    return 0;
}

/* A net with its layers and tensor table built: dry counts the floats it
 * would allocate (n->dry_floats) and allocates no arena or activation. */
static net *net_build(const net_config *cfg, int max_batch, int dry, ssl_err *err) {
    if (!cfg) { ssl_fail(err, SSL_EARG, "no configuration"); return NULL; }
    if (check_config(cfg, err) < 0) return NULL;
    if (max_batch < 1 || max_batch > 1 << 20) {
        ssl_fail(err, SSL_EARG, "max_batch %d out of range [1, 1048576]", max_batch);
        return NULL;
    }
    net *n = calloc(1, sizeof *n);
    if (!n) { ssl_fail(err, SSL_ENOMEM, "out of memory"); return NULL; }
    n->cfg = *cfg;
    n->cfg.arch[sizeof n->cfg.arch - 1] = 0;
    n->mobile = arch_family(n->cfg.arch);
    n->max_batch = max_batch;
    n->dry = dry;
    n->split = NET_SPLIT_AUTO;
    if (build(n, err) < 0 || finalize(n, err) < 0) {
        net_free(n);
        return NULL;
    }
    return n;
}

int net_size(const net_config *cfg, int max_batch, int64_t *params, int64_t *bytes,
             ssl_err *err) {
    ssl_err_clear(err);
    net *n = net_build(cfg, max_batch, 1, err);
    if (!n) return -1;
    if (params) *params = n->nparams;
    if (bytes) *bytes = n->dry_floats * (int64_t)sizeof(float);
    net_free(n);
    return 0;
}

int net_cost(const net_config *cfg, int64_t *params, int64_t *backbone_params, double *flops,
             ssl_err *err) {
    ssl_err_clear(err);
    net *n = net_build(cfg, 1, 1, err);
    if (!n) return -1;
    int64_t bb = 0;
    for (int i = 0; i < n->nt; i++)
        if (!n->t[i].is_buffer && !strncmp(n->t[i].name, "backbone.", 9)) bb += n->t[i].numel;
    if (params) *params = n->nparams;
    if (backbone_params) *backbone_params = bb;
    if (flops) *flops = net_flops(n);
    net_free(n);
    return 0;
}

net *net_new_zero(const net_config *cfg, int max_batch, ssl_err *err) {
    int64_t np, bytes;
    if (net_size(cfg, max_batch, &np, &bytes, err) < 0) return NULL;
    /* Refused before anything large is allocated, so that a configuration
     * from a file (a checkpoint's) cannot ask for absurd memory. */
    if (np > NET_MAX_PARAMS) {
        ssl_fail(err, SSL_EARG, "the network has %lld parameters, more than the %lld allowed",
                 (long long)np, (long long)NET_MAX_PARAMS);
        return NULL;
    }
    if (bytes > NET_MAX_BYTES) {
        ssl_fail(err, SSL_EARG, "the network needs %.1f GiB for batches of %d, more than the %lld GiB "
                 "allowed", bytes / 1073741824.0, max_batch, (long long)(NET_MAX_BYTES >> 30));
        return NULL;
    }
    return net_build(cfg, max_batch, 0, err);   /* arenas are calloc'ed: zero */
}

net *net_new(const net_config *cfg, int max_batch, ssl_err *err) {
    net *n = net_new_zero(cfg, max_batch, err);
    if (n) net_init(n, 0);
    return n;
}

void net_free_conv(conv_l *c) { net_free_floats(c->out); }
void net_free_bn(bn_l *b) {
    net_free_floats(b->mean); net_free_floats(b->rstd); net_free_floats(b->scale);
    net_free_floats(b->shift); net_free_floats(b->out);
}

void net_free(net *n) {
    if (!n) return;
    for (int i = 0; i < n->nt; i++) free((char *)n->t[i].name);
    free(n->t); free(n->kind); free(n->fan_in); free(n->gdone);
    net_free_floats(n->params); net_free_floats(n->grads); net_free_floats(n->moms);
    net_free_floats(n->bufs); net_free_floats(n->ws); net_free_floats(n->aff);
    net_free_floats(n->bn_coef);
    net_free_floats(n->xws);
    for (int i = 0; i < 4; i++) net_free_floats(n->g[i]);
    for (int i = 0; i < 2; i++) net_free_floats(n->hg[i]);
    net_free_conv(&n->conv1); net_free_bn(&n->bn1);
    net_free_floats(n->pool_out); net_free_floats((float *)n->pool_arg);
    for (int i = 0; i < n->nblk; i++) {
        net_block *b = &n->blk[i];
        for (int j = 0; j < b->n; j++) { net_free_conv(&b->conv[j]); net_free_bn(&b->bn[j]); }
        if (b->has_ds) { net_free_conv(&b->ds); net_free_bn(&b->dsbn); }
    }
    net_mobile_free(n);
    net_free_floats(n->feat);
    for (int i = 0; i < 3; i++) net_free_floats(n->lin[i].out_buf);
    for (int i = 0; i < 2; i++) net_free_bn(&n->hbn[i]);
    free(n);
}

const net_config *net_get_config(const net *n) { return &n->cfg; }

void net_init(net *n, uint64_t seed) {
    for (int i = 0; i < n->nt; i++) {
        net_tensor *t = &n->t[i];
        float v = 0;
        switch (n->kind[i]) {
        case NT_WEIGHT:
        case NT_BIAS: {
            /* kaiming_uniform(a = sqrt(5)) and PyTorch's bias rule both give
             * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
            float bound = (float)(1.0 / sqrt((double)n->fan_in[i]));
            rng r;
            rng_init(&r, seed ^ RNG_INIT, (uint64_t)i, 0);
            for (int64_t j = 0; j < t->numel; j++)
                t->data[j] = (2.0f * rng_uniform(&r) - 1.0f) * bound;
            continue;
        }
        case NT_BN_WEIGHT: case NT_RUNNING_VAR: v = 1; break;
        default: v = 0; break;
        }
        for (int64_t j = 0; j < t->numel; j++) t->data[j] = v;
    }
    memset(n->moms, 0, (size_t)n->nparams * sizeof(float));
    memset(n->grads, 0, (size_t)n->nparams * sizeof(float));
}

int net_feature_dim(const net *n) { return n->F; }
int net_out_dim(const net *n) { return n->d; }

double net_flops(const net *n) {
    double f = 0;
    for (int i = 0; i < n->nprof; i++) f += n->prof[i].flops;
    return f;
}

int net_ntensors(const net *n) { return n->nt; }
net_tensor *net_tensor_at(net *n, int i) { return i >= 0 && i < n->nt ? &n->t[i] : NULL; }

net_tensor *net_find(net *n, const char *name) {
    for (int i = 0; i < n->nt; i++)
        if (!strcmp(n->t[i].name, name)) return &n->t[i];
    return NULL;
}
