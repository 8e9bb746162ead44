/* test_flops.c: the FLOP counts behind make bench's demo step
 * (tests/bench/bench_step.c: GFLOP/s and the share of the FMA peak) against
 * a count made by hand here, layer by layer, from the network's shapes:
 * net_flops (nn/net.h) of ResNet-18 at width 0.25 on 28x28x1 with the mlp3
 * head, npid_ncols / npid_step_flops (ssl/npid.h) against the columns a
 * real npid_step picks, and run_step_cost (run/run.h), which adds them up
 * for a batch. A change to what the library counts (or to the network it
 * builds) fails here instead of silently moving make bench's percentages.
 *
 * The hand count is independent of the library's formula: the layer table
 * below is ResNet-18 (CIFAR stem: 3x3 stride 1, no max-pool) written out
 * from the architecture, and its total, 2 x 37,222,656 = 74,445,312 FLOPs
 * per image, is the 0.07445 GFLOP that pipelines/RESULTS.md's model-size
 * table lists for paper-w0.25 (measured there with ssl-info on a real
 * checkpoint). */
#include "run/run.h"
#include "ssl/npid.h"
#include "util/threads.h"
#include "t.h"

/* Multiply-adds of a KxK convolution from cin to cout channels with an
 * HxW output. */
static double conv(int k, int cin, int cout, int h, int w) {
    return (double)k * k * cin * cout * h * w;
}

/* ResNet-18 at width 0.25 (channels 16, 32, 64, 128) on 28x28x1: the
 * stages' outputs are 28x28, 14x14, 7x7 and 4x4 ((7 + 2 - 3) / 2 + 1 = 4
 * for the strided 3x3, (7 - 1) / 2 + 1 = 4 for the 1x1 shortcut). */
static double hand_backbone(void) {
    double m = conv(3, 1, 16, 28, 28);                       /* stem:     112,896 */
    m += 4 * conv(3, 16, 16, 28, 28);                        /* layer1: 7,225,344 */
    m += conv(3, 16, 32, 14, 14) + 3 * conv(3, 32, 32, 14, 14)
       + conv(1, 16, 32, 14, 14);                            /* layer2: 6,422,528 */
    m += conv(3, 32, 64, 7, 7) + 3 * conv(3, 64, 64, 7, 7)
       + conv(1, 32, 64, 7, 7);                              /* layer3: 6,422,528 */
    m += conv(3, 64, 128, 4, 4) + 3 * conv(3, 128, 128, 4, 4)
       + conv(1, 64, 128, 4, 4);                             /* layer4: 8,388,608 */
    return m;                                                /* 28,571,904 */
}

/* mlp3: Linear(128, 2048), BN, ReLU, Linear(2048, 2048), BN, ReLU,
 * Linear(2048, 2048): 262,144 + 2 x 4,194,304 = 8,650,752 multiply-adds. */
static double hand_head(void) {
    return 128.0 * 2048 + 2048.0 * 2048 + 2048.0 * 2048;
}

static npid_config cfg_of(npid_negatives neg, int64_t k, npid_write_rule w) {
    npid_config c = {0};
    c.neg = neg; c.k = k; c.tau = 0.2f; c.m = 0.5f; c.write = w; c.bank_lr = 1.0f;
    return c;
}

/* The K' of one real npid_step against npid_ncols. */
static void check_cols(npid_negatives neg, int64_t k, int64_t N, int B, const char *name) {
    const int d = 4;
    npid_config c = cfg_of(neg, k, BANK_WRITE_NPID);
    ssl_err err = {0};
    npid *p = npid_new(&c, N, d, B, &err);
    float *bank = malloc(sizeof *bank * N * d), *f = malloc(sizeof *f * B * d);
    float *df = malloc(sizeof *df * B * d);
    int64_t *idx = malloc(sizeof *idx * B);
    if (!p || !bank || !f || !df || !idx) { T_OK(0, name); return; }
    npid_bank_random(bank, N, d, 1);
    rng r;
    rng_init(&r, 1, RNG_NEGATIVES, 0);
    for (int64_t i = 0; i < (int64_t)B * d; i++) f[i] = (float)rng_normal(&r);
    for (int b = 0; b < B; b++) idx[b] = (b * 7) % N;
    npid_stats st = {0};
    int rc = npid_step(p, f, B, idx, NULL, 1.0f, bank, &r, df, 1, &st);
    char full[160];
    snprintf(full, sizeof full, "%s: npid_ncols = the K' of a real step", name);
    T_OK(rc == 0 && st.ncols == npid_ncols(&c, N, B), full);
    if (rc || st.ncols != npid_ncols(&c, N, B))
        printf("  step rc %d, K' %lld, npid_ncols %lld\n", rc, (long long)st.ncols,
               (long long)npid_ncols(&c, N, B));
    npid_free(p);
    free(bank); free(f); free(df); free(idx);
}

int main(void) {
    ssl_set_threads(1);
    net_config nc;
    memset(&nc, 0, sizeof nc);
    strcpy(nc.arch, "resnet18"); strcpy(nc.stem, "cifar"); strcpy(nc.head, "mlp3");
    nc.width = 0.25f; nc.in_ch = 1; nc.in_h = nc.in_w = 28; nc.hidden = 2048; nc.dim = 2048;

    /* ---- the network: net_flops against the hand count ---- */
    double all = 0, body = 0;
    ssl_err err = {0};
    T_EQ(net_cost(&nc, NULL, NULL, &all, &err), 0, "net_cost: demo network");
    net_config bb = nc;
    strcpy(bb.head, "none");
    T_EQ(net_cost(&bb, NULL, NULL, &body, &err), 0, "net_cost: demo backbone");
    T_NEAR(body, 2 * hand_backbone(), 0, 1e-12, "backbone forward = 2 x 28,571,904 (hand count)");
    T_NEAR(all - body, 2 * hand_head(), 0, 1e-12, "mlp3 head forward = 2 x 8,650,752 (hand count)");
    T_NEAR(all, 74445312.0, 0, 1e-12, "network forward = 0.07445 GFLOP (RESULTS.md, paper-w0.25)");

    /* ---- the bank's columns: npid_ncols against real steps ---- */
    check_cols(NEG_K, 20, 100, 8, "k 20 of 100 rows, batch 8 (K' = 28)");
    check_cols(NEG_K, 200, 100, 8, "k 200 clipped to N - B (K' = N)");
    check_cols(NEG_ALL, 0, 60, 8, "negatives all (K' = N)");
    check_cols(NEG_NONE, 0, 60, 8, "negatives none (K' = B)");

    npid_config pg = cfg_of(NEG_K, 4096, BANK_WRITE_GRAD), pn = cfg_of(NEG_K, 4096, BANK_WRITE_NPID);
    /* 2 B K' d per product, K' = 256 + 4096 = 4352 */
    T_NEAR(npid_step_flops(&pg, 20000, 256, 2048), 3 * 2.0 * 256 * 4352 * 2048, 0, 1e-12,
           "bank products, grad write: logits, dz and deltas, 3 x 2 B K' d");
    T_NEAR(npid_step_flops(&pn, 20000, 256, 2048), 2 * 2.0 * 256 * 4352 * 2048, 0, 1e-12,
           "bank products, npid write: logits and dz, 2 x 2 B K' d");
    T_NEAR(npid_step_flops(&pg, 2000, 256, 2048), 3 * 2.0 * 256 * 2000 * 2048, 0, 1e-12,
           "bank products: k clipped to N - B on a 2000-row bank (K' = 2000)");

    /* ---- the demo step per batch of 256 (make bench's figures) ---- */
    run_step_flops s;
    T_EQ(run_step_cost(&nc, &pg, 20000, 256, &s, &err), 0, "run_step_cost: demo step");
    T_NEAR(s.backbone, 3 * 256 * 2 * hand_backbone(), 0, 1e-12,
           "step: backbone 43.89 GFLOP (3 x forward, batch 256)");
    T_NEAR(s.head, 3 * 256 * 2 * hand_head(), 0, 1e-12, "step: head 13.29 GFLOP");
    T_NEAR(s.bank, 13690208256.0, 0, 1e-12, "step: bank products 13.69 GFLOP");
    T_EQ(s.ncols, 4352, "step: K' = 4352");
    T_NEAR(s.backbone + s.head + s.bank, 70.86e9, 0, 1e-3, "step: 70.86 GFLOP per batch in all");
    strcpy(nc.head, "mlpx");
    T_EQ(run_step_cost(&nc, &pg, 20000, 256, &s, &err), -1, "run_step_cost: a bad network refused");
    return t_done();
}
