/* bench_ckpt.c: time writing and reading a demo-shaped checkpoint.
 *
 * usage: bench_ckpt DIR [--rows N] [--dim D] [--reps R] [--threads T] [--parts]
 * The checkpoint of the demo (pipelines/fashion-mnist.mk): ResNet-18 at
 * width 0.25 on 1x28x28 images, mlp3 head (hidden 2048, d 2048), a bank of
 * N = 20000 unit rows of random floats, labels, and non-zero momentum
 * (a trained checkpoint's: small random values), written to DIR.
 * Every repetition does, back to back, in this order:
 *   save         ckpt_save (compression, CRC-32, write, fsync, rename) with
 *                one thread, then with T (records compressed in parallel)
 *   load all     ckpt_load with bank and momentum (what ssl-train reads)
 *   verify all   every record decompressed and checked, the network
 *                copied: what loading the network cost before the reader
 *                could skip tensors (and what ssl-info --check does)
 *   load net     ckpt_load of the network alone (ssl-extract, ssl-export):
 *                bank and momentum skipped without decompression
 * With --parts, also where a save's time goes: the same stream written to
 * /dev/null (compression and CRC-32 only, no file, no fsync), and the bank
 * alone at several zstd levels (time and size, no fsync).
 * Prints the median of each over the repetitions; speed is reported,
 * never asserted. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nn/net.h"
#include "run/ckpt.h"
#include "ssl/npid.h"
#include "nn/ops/ops.h"
#include "util/clock.h"
#include "util/rng.h"
#include "util/threads.h"
#include "bench_util.h"

#define MAX_REPS 64

static void die(const char *what, const ssl_err *err) {
    fprintf(stderr, "bench_ckpt: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

/* Every record of path read and verified; the network's tensors copied. */
static void verify_all(const char *path, const ssl_ckpt *ck) {
    ssl_err err;
    sslt_reader *r = sslt_reader_open(path, &err);
    if (!r) die(path, &err);
    const sslt_header *h;
    if (sslt_reader_next(r, &h) != 1) die(path, sslt_reader_error(r));
    int ti, k;
    int64_t row, n;
    const void *data;
    volatile float sink = 0;
    while ((k = sslt_reader_chunk(r, &ti, &row, &n, &data)) > 0) {
        net_tensor *t = net_find(ck->net, h->tensors[ti].name);
        if (t) {
            float *tmp = malloc((size_t)n * sslt_tensor_row_bytes(&h->tensors[ti]));
            memcpy(tmp, data, (size_t)n * sslt_tensor_row_bytes(&h->tensors[ti]));
            sink += tmp[0];
            free(tmp);
        }
    }
    if (k < 0 || sslt_reader_expect_end(r, "checkpoint")) die(path, sslt_reader_error(r));
    sslt_reader_close(r);
}

static double file_mb(const char *path) {
    struct stat st;
    return stat(path, &st) ? NAN : st.st_size / 1e6;
}

/* The bank alone at zstd level `level` into path (opened as a plain fd:
 * no temporary file, no fsync). Returns seconds; *mb the size. */
static double bank_at_level(const ssl_ckpt *ck, const char *path, int level, double *mb) {
    ssl_err err;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die(path, NULL);
    double t0 = ssl_clock();
    sslt_writer *w = sslt_writer_open_fd(fd, path, level, &err);
    if (!w) die(path, &err);
    sslt_tensor t = {.name = "bank", .dtype = SSLT_F32, .ndim = 2, .shape = {ck->n, ck->d}};
    const void *data[1] = {ck->bank};
    if (sslt_write_section(w, "bank", NULL, 1, &t, data)) die(path, sslt_writer_error(w));
    if (sslt_writer_close(w, &err)) die(path, &err);
    double s = ssl_clock() - t0;
    close(fd);
    *mb = file_mb(path);
    return s;
}

/* The operations timed, on one shared state. */
typedef struct {
    ssl_ckpt *ck;
    const char *path, *tmp;
    int threads, level;
    double mb;                    /* size written by the last bank_level */
} bench;

static void op_save1(bench *b) {
    ssl_err err;
    ssl_set_threads(1);
    if (ckpt_save(b->ck, b->path, "bench_ckpt", &err)) die(b->path, &err);
    ssl_set_threads(b->threads);
}

static void op_save(bench *b) {
    ssl_err err;
    if (ckpt_save(b->ck, b->path, "bench_ckpt", &err)) die(b->path, &err);
}

/* As checkpoints were written before: zstd level 3, one thread. */
static void op_save_l3(bench *b) {
    ssl_err err;
    ssl_set_threads(1);
    if (ckpt_save_level(b->ck, b->tmp, "bench_ckpt", 3, &err)) die(b->tmp, &err);
    ssl_set_threads(b->threads);
    b->mb = file_mb(b->tmp);
}

/* Reading the level-3 file as before: every record, the network copied. */
static void op_verify_l3(bench *b) { verify_all(b->tmp, b->ck); }

static void op_load_all(bench *b) {
    ssl_err err;
    ssl_ckpt c;
    if (ckpt_load(&c, b->path, 1, CKPT_LOAD_ALL, &err)) die(b->path, &err);
    ckpt_destroy(&c);
}

static void op_verify(bench *b) { verify_all(b->path, b->ck); }

static void op_load_net(bench *b) {
    ssl_err err;
    ssl_ckpt c;
    if (ckpt_load(&c, b->path, 1, 0, &err)) die(b->path, &err);
    ckpt_destroy(&c);
}

static void op_load_backbone(bench *b) {
    ssl_err err;
    ssl_ckpt c;
    if (ckpt_load(&c, b->path, 1, CKPT_SKIP_HEAD, &err)) die(b->path, &err);
    ckpt_destroy(&c);
}

/* ckpt_save to /dev/null: written in place, no temporary file, no fsync:
 * compression and CRC-32 alone. */
static void op_null(bench *b) {
    ssl_err err;
    if (ckpt_save(b->ck, "/dev/null", "bench_ckpt", &err)) die("/dev/null", &err);
}

static void op_bank_level(bench *b) { bank_at_level(b->ck, b->tmp, b->level, &b->mb); }

typedef struct {
    const char *what;
    void (*fn)(bench *);
    int level;                    /* op_bank_level's */
    int parts;                    /* only with --parts */
    double wall[MAX_REPS], cpu[MAX_REPS], mb;
} op;

int main(int argc, char **argv) {
    int64_t rows = 20000;
    int dim = 2048, reps = 3, threads = 2, parts = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc) dim = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--parts")) parts = 1;
        else if (argv[i][0] != '-' && !dir) dir = argv[i];
        else {
            fprintf(stderr, "usage: bench_ckpt DIR [--rows N] [--dim D] [--reps R] [--threads T] [--parts]\n");
            return 2;
        }
    }
    if (!dir || rows < 1 || dim < 1) {
        fprintf(stderr, "usage: bench_ckpt DIR [--rows N] [--dim D] [--reps R] [--threads T] [--parts]\n");
        return 2;
    }
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    ssl_set_threads(threads);

    ssl_err err;
    ssl_ckpt ck;
    memset(&ck, 0, sizeof ck);
    net_config nc = {.arch = "resnet18", .stem = "cifar", .width = 0.25f, .in_ch = 1, .in_h = 28,
                     .in_w = 28, .head = "mlp3", .hidden = 2048, .dim = dim};
    if (!(ck.net = net_new(&nc, 1, &err))) die("net_new", &err);
    net_init(ck.net, 1);
    rng r;
    rng_init(&r, 1, 12345, 0);
    int64_t params = 0;
    for (int i = 0; i < net_ntensors(ck.net); i++) {
        net_tensor *t = net_tensor_at(ck.net, i);
        params += t->numel;
        if (t->mom)
            for (int64_t j = 0; j < t->numel; j++) t->mom[j] = (float)(1e-3 * rng_normal(&r));
    }
    ck.n = rows;
    ck.d = dim;
    ck.bank = malloc((size_t)rows * dim * sizeof *ck.bank);
    ck.bank_labels = malloc((size_t)rows * sizeof *ck.bank_labels);
    ck.config = sv_map();
    if (!ck.bank || !ck.bank_labels || !ck.config) die("out of memory", NULL);
    npid_bank_random(ck.bank, rows, dim, 1);
    l2norm_forward(ck.bank, ck.bank, rows, dim, L2_EPS);
    for (int64_t i = 0; i < rows; i++) ck.bank_labels[i] = (int32_t)(i % 10);
    sv_set(ck.config, "net", net_config_to_sv(&nc));

    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/bench.ckpt", dir);
    snprintf(tmp, sizeof tmp, "%s/bench.part", dir);
    bench bs = {&ck, path, tmp, threads, 0, 0};
#define OP(w, f, l, p) {.what = w, .fn = f, .level = l, .parts = p}
    op ops[] = {
        OP("before: save at level 3, 1 thread", op_save_l3, 0, 0),
        OP("before: load the network (verify all)", op_verify_l3, 0, 0),
        OP("save, 1 thread", op_save1, 0, 0),
        OP("save", op_save, 0, 0),
        OP("load all (ssl-train: bank, momentum)", op_load_all, 0, 0),
        OP("load the network (ssl-export --head)", op_load_net, 0, 0),
        OP("load the backbone (ssl-extract)", op_load_backbone, 0, 0),
        OP("verify all records (ssl-info --check)", op_verify, 0, 1),
        OP("save to /dev/null (no write, no fsync)", op_null, 0, 1),
        OP("the bank alone at zstd level 3, no fsync", op_bank_level, 3, 1),
        OP("the bank alone at zstd level 1, no fsync", op_bank_level, 1, 1),
        OP("the bank alone at zstd level -1, no fsync", op_bank_level, -1, 1),
    };
    int nops = (int)(sizeof ops / sizeof ops[0]);
    for (int k = 0; k < reps; k++)
        for (int i = 0; i < nops; i++) {
            if (ops[i].parts && !parts) continue;
            bs.level = ops[i].level;
            double w0 = ssl_clock(), c0 = bench_process_cpu();
            ops[i].fn(&bs);
            ops[i].wall[k] = ssl_clock() - w0;
            ops[i].cpu[k] = bench_process_cpu() - c0;
            ops[i].mb = bs.mb;
        }
    double mb = file_mb(path);
    double raw = ((double)params * 2 + (double)rows * dim + rows) * 4 / 1e6;
    printf("checkpoint: %lld bank rows x %d, %.1f M network values (+ momentum), %.1f MB raw; "
           "%d threads; median of %d (wall, and CPU of all threads)\n",
           (long long)rows, dim, params / 1e6, raw, threads, reps);
    for (int i = 0; i < nops; i++) {
        if (ops[i].parts && !parts) continue;
        printf("  %-46s %7.3f s wall %7.3f s CPU", ops[i].what, bench_median(ops[i].wall, reps),
               bench_median(ops[i].cpu, reps));
        if (ops[i].fn == op_bank_level)
            printf("  %6.1f MB (%.3f of raw)", ops[i].mb, ops[i].mb / ((double)rows * dim * 4 / 1e6));
        if (ops[i].fn == op_save_l3) printf("  %6.1f MB", ops[i].mb);
        if (ops[i].fn == op_save) printf("  %6.1f MB", mb);
        printf("\n");
    }
    unlink(path);
    unlink(tmp);
    ckpt_destroy(&ck);
    return 0;
}
