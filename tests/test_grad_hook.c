/* test_grad_hook.c: net_set_grad_hook (nn/net.h), the gradients-ready
 * callback that the data-parallel buckets hang on. For every backbone
 * family and head kind (ResNet basic and bottleneck blocks with and
 * without downsample, both stems, MobileNetV2, MobileNetV3-small with SE;
 * heads none, linear, mlp3):
 *  - the reported offsets fall strictly and end at 0;
 *  - every stretch [lo, previous lo) is final when it is reported: a copy
 *    taken inside the callback equals the gradients after the backward
 *    (a layer reported too early would still change afterwards);
 *  - the calls are many (per layer, not one at the end) and the same in
 *    two backwards;
 *  - the gradients are the bits of a backward without the hook. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "t.h"
#include "util/threads.h"

#define MAX_CALLS 1024

typedef struct {
    const float *g;       /* the arena */
    float *snap;          /* copies taken in the callback */
    int64_t prev;         /* the last lo (the arena size before the first) */
    int64_t lo[MAX_CALLS];
    int calls, bad_order;
} hook_rec;

static void on_ready(void *ctx, int64_t lo) {
    hook_rec *h = ctx;
    if (lo >= h->prev || lo < 0) h->bad_order = 1;
    else memcpy(h->snap + lo, h->g + lo, (size_t)(h->prev - lo) * sizeof *h->g);
    if (h->calls < MAX_CALLS) h->lo[h->calls] = lo;
    h->calls++;
    if (lo < h->prev) h->prev = lo;
}

static net_config cfg_of(const char *arch, const char *stem, float width, const char *head) {
    net_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.arch, sizeof c.arch, "%s", arch);
    snprintf(c.stem, sizeof c.stem, "%s", stem);
    snprintf(c.head, sizeof c.head, "%s", head);
    c.width = width;
    c.in_ch = 3;
    c.in_h = c.in_w = 32;
    c.hidden = 24;
    c.dim = 8;
    return c;
}

/* One forward and backward of B = 2 images; the gradients into g [ng]. */
static void run_once(net *n, const float *x, const float *dout, float *g, int64_t ng) {
    int64_t k;
    net_zero_grad(n);
    net_forward(n, x, 2, 1);
    net_backward(n, dout);
    memcpy(g, net_grad_arena(n, &k), (size_t)ng * sizeof *g);
}

static void check_case(const char *arch, const char *stem, float width, const char *head,
                       int min_calls) {
    char name[160];
    ssl_err err = {0};
    net_config c = cfg_of(arch, stem, width, head);
    net *n = net_new(&c, 2, &err);
    snprintf(name, sizeof name, "%s %s %s: net_new", arch, stem, head);
    if (!n) { T_OK(0, name); return; }
    net_init(n, 5);
    int64_t ng, nx = 2 * 32 * 32 * 3, nd = 2 * (int64_t)net_out_dim(n);
    float *arena = net_grad_arena(n, &ng);
    float *x = malloc((size_t)nx * sizeof *x), *dout = malloc((size_t)nd * sizeof *dout);
    float *plain = malloc((size_t)ng * sizeof *plain), *hooked = malloc((size_t)ng * sizeof *plain);
    hook_rec *h = calloc(1, sizeof *h), *h2 = calloc(1, sizeof *h2);
    float *snap = malloc((size_t)ng * sizeof *snap);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)sin(0.11 * (double)i);
    for (int64_t i = 0; i < nd; i++) dout[i] = (float)cos(0.7 * (double)i);
    run_once(n, x, dout, plain, ng);

    h->g = arena, h->snap = snap, h->prev = ng;
    T_OK(net_set_grad_hook(n, on_ready, h, &err) == 0, "set the hook");
    run_once(n, x, dout, hooked, ng);
    snprintf(name, sizeof name, "%s %s %s: offsets fall, the last is 0 (%d calls)", arch, stem,
             head, h->calls);
    T_OK(!h->bad_order && h->calls > 0 && h->calls <= MAX_CALLS && h->lo[h->calls - 1] == 0,
         name);
    snprintf(name, sizeof name, "%s %s %s: each stretch final when reported", arch, stem, head);
    T_OK(!memcmp(snap, hooked, (size_t)ng * sizeof *snap), name);
    snprintf(name, sizeof name, "%s %s %s: reported layer by layer (%d calls >= %d)", arch, stem,
             head, h->calls, min_calls);
    T_OK(h->calls >= min_calls, name);
    snprintf(name, sizeof name, "%s %s %s: the same bits as without the hook", arch, stem, head);
    T_OK(!memcmp(plain, hooked, (size_t)ng * sizeof *plain), name);

    h2->g = arena, h2->snap = snap, h2->prev = ng;
    net_set_grad_hook(n, on_ready, h2, &err);
    run_once(n, x, dout, hooked, ng);
    snprintf(name, sizeof name, "%s %s %s: the same calls in a second backward", arch, stem, head);
    T_OK(h2->calls == h->calls && !memcmp(h2->lo, h->lo, sizeof h->lo), name);
    net_set_grad_hook(n, NULL, NULL, &err);
    h2->calls = 0;
    run_once(n, x, dout, hooked, ng);
    T_OK(h2->calls == 0, "no calls once the hook is removed");
    free(x), free(dout), free(plain), free(hooked), free(snap), free(h), free(h2);
    net_free(n);
}

int main(void) {
    ssl_set_threads(2);
    /* at least one call per block (a ResNet-18 has 8, a ResNet-50 16) and
     * per head layer */
    check_case("resnet18", "cifar", 0.125f, "mlp3", 8 + 5);
    check_case("resnet18", "imagenet", 0.125f, "linear", 8 + 1);
    check_case("resnet50", "cifar", 0.0625f, "none", 16);
    check_case("mobilenetv2", "cifar", 0.25f, "linear", 17);
    check_case("mobilenetv3s", "imagenet", 0.25f, "mlp3", 11);
    return t_done();
}
