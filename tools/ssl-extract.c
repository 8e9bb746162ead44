/* ssl-extract: stream a dataset through a checkpoint's network in
 * evaluation mode (no augmentation, BN running statistics) and write a
 * features stream, row block by row block, in memory independent of the
 * dataset size. See man ssl-extract(1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "run/run.h"

static const char usage_text[] =
    "usage: ssl-extract [options] CKPT [DATA] [-o FEATURES]\n"
    "Features of every image of the dataset stream DATA (default: stdin) from the\n"
    "network of the checkpoint CKPT, in evaluation mode, as a features stream\n"
    "(stdout unless -o).\n"
    "\n"
    "  --layer backbone|head  pooled backbone output (default) or head output\n"
    "  --batch N              images per forward pass (256)\n"
    "  --precision fp32|bf16  arithmetic of the network (fp32; bf16: bfloat16 inputs\n"
    "                         to the matrix products, fp32 sums; needs AVX512-BF16)\n"
    "  -o, --output FILE      write to FILE (atomically)\n"
    "      --threads N        threads (0: all cores)\n"
    "  -q, --quiet            no progress line\n"
    "  -v, --verbose          a summary line (images, time, memory)\n"
    "  -h, --help, -V, --version\n";

enum { O_LAYER = 256, O_BATCH, O_THREADS, O_PREC };

static const struct option long_opts[] = {
    {"layer", 1, 0, O_LAYER}, {"batch", 1, 0, O_BATCH}, {"output", 1, 0, 'o'},
    {"threads", 1, 0, O_THREADS}, {"precision", 1, 0, O_PREC}, {"quiet", 0, 0, 'q'},
    {"verbose", 0, 0, 'v'},
    {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};

typedef struct {
    const char *ckpt, *data, *out, *layer;
    int batch, threads, precision;
} opts;

/* A failure. A write error because the reader went away exits quietly
 * (status 1): with SIGPIPE at its default the process has already died
 * silently (status 141 from the shell); this covers callers that ignore
 * SIGPIPE. */
static void failed(const ssl_err *err) {
    if (err->code == SSL_EIO && strstr(err->msg, strerror(EPIPE))) exit(EXIT_RUNTIME);
    die("%s", err->msg);
}

static int run(const opts *o) {
    progress_line pl;
    progress_init(&pl, "img");
    no_amx_from_env();
    run_extract_opts eo = {.ckpt = o->ckpt, .data = o->data, .out = o->out,
                           .head = !strcmp(o->layer, "head"), .batch = o->batch,
                           .winograd = conv_mode_from_env(), .precision = o->precision,
                           .no_bf16 = no_bf16_from_env(),
                           .report = {.ctx = &pl, .progress = progress_show}};
    run_extract_result res;
    ssl_err err;
    int rc = run_extract(&eo, &res, &err);
    progress_end(&pl);
    if (rc && err.code == SSL_EARG) usage_error("%s", err.msg);
    if (rc) failed(&err);
    info(2, "%lld images, %s features of %d, %.2f s (%.0f img/s), peak RSS %.0f MiB",
         (long long)res.n, o->layer, res.dim, res.seconds,
         res.seconds > 0 ? res.n / res.seconds : 0, peak_rss_mib());
    return 0;
}

int main(int argc, char **argv) {
    static const char *const layers[] = {"backbone", "head", NULL};
    opts o = {.layer = "backbone", .batch = 256};
    int c;
    tool_init(argc, argv);
    tool_single_process();
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qvhV", long_opts, NULL)) != -1) {
        switch (c) {
        case O_LAYER: o.layer = layers[parse_choice("--layer", optarg, layers)]; break;
        case O_BATCH: o.batch = (int)parse_int("--batch", optarg, 1, 1 << 16); break;
        case O_THREADS: o.threads = (int)parse_int("--threads", optarg, 0, 1024); break;
        case O_PREC: o.precision = parse_precision("--precision", optarg); break;
        case 'o': o.out = optarg; break;
        case 'q': verbosity = 0; break;
        case 'v': verbosity++; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': print_version();
        default: bad_option(c, argv);
        }
    }
    int nops = argc - optind;
    if (nops < 1 || nops > 2) usage_error("expected CKPT [DATA]");
    o.ckpt = argv[optind];
    o.data = nops == 2 ? argv[optind + 1] : "-";
    if (!strcmp(o.ckpt, "-") && !strcmp(o.data, "-"))
        usage_error("CKPT and DATA cannot both be stdin");
    if (!o.out) o.out = "-";
    refuse_tty_input(o.ckpt);
    refuse_tty_input(o.data);
    refuse_tty_output(o.out);
    ssl_set_threads(o.threads);
    return run(&o);
}
