/* ssl-init-bank: create the starting checkpoint of a training run: the
 * network (architecture, head, weights from --seed) and the memory bank,
 * either from one no-gradient pass of the untrained network over every
 * training image (--bank forward, "feature calibrate") or random (--bank
 * random, NPID). See man ssl-init-bank(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "run/run.h"

static const char usage_text[] =
    "usage: ssl-init-bank [options] [DATA] [-o CKPT]\n"
    "Create a starting checkpoint: network weights from --seed and the memory bank.\n"
    "DATA is a dataset stream (default: stdin); CKPT goes to stdout unless -o.\n"
    "\n"
    "  --recipe paper|npid    defaults for head, dim, bank, batch, augmentation (paper)\n"
    "  --arch NAME            resnet18, resnet34, resnet50, mobilenetv2, mobilenetv3s\n"
    "                         (MobileNetV3-small) (resnet18)\n"
    "  --stem cifar|imagenet  stem of the backbone: cifar for 28-32 px inputs,\n"
    "                         imagenet (torchvision's strides) for larger (cifar)\n"
    "  --width W              channel multiplier (1); MobileNets round each layer\n"
    "                         to a multiple of 8, at least 8\n"
    "  --head none|linear|mlp3  projection head (paper: mlp3, npid: linear)\n"
    "  --dim D                head output and bank width (paper: 2048, npid: 128)\n"
    "  --hidden H             mlp3 hidden width (2048)\n"
    "  --bank forward|random  bank initialisation (paper: forward, npid: random)\n"
    "  --bank-dtype f32|bf16  the bank's storage (f32; bf16: half the memory and\n"
    "                         checkpoint, rows rounded to bfloat16 when written)\n"
    "  --batch B              batch of the forward pass (paper: 512, npid: 128)\n"
    "  --flip P, --jitter P, --gray P, --crop-scale MIN\n"
    "                         augmentation of the forward pass (recipe defaults)\n"
    "  --seed N               weights, bank and pass order (0)\n"
    "  --precision fp32|bf16  arithmetic of the forward pass (fp32; bf16: bfloat16\n"
    "                         inputs to the matrix products, fp32 sums; AVX512-BF16)\n"
    "  -o, --output FILE      write the checkpoint to FILE (atomically)\n"
    "      --threads N        threads (0: all cores)\n"
    "  -q, --quiet            no notices, no progress line\n"
    "  -v, --verbose          print the resolved configuration\n"
    "  -h, --help, -V, --version\n";

enum {
    O_RECIPE = 256, O_ARCH, O_STEM, O_WIDTH, O_HEAD, O_DIM, O_HIDDEN, O_BANK, O_BATCH,
    O_FLIP, O_JITTER, O_GRAY, O_CROP, O_SEED, O_THREADS, O_PREC, O_BANK_DTYPE
};

static const struct option long_opts[] = {
    {"recipe", 1, 0, O_RECIPE}, {"arch", 1, 0, O_ARCH}, {"stem", 1, 0, O_STEM},
    {"width", 1, 0, O_WIDTH}, {"head", 1, 0, O_HEAD}, {"dim", 1, 0, O_DIM},
    {"hidden", 1, 0, O_HIDDEN}, {"bank", 1, 0, O_BANK}, {"batch", 1, 0, O_BATCH},
    {"flip", 1, 0, O_FLIP}, {"jitter", 1, 0, O_JITTER}, {"gray", 1, 0, O_GRAY},
    {"crop-scale", 1, 0, O_CROP}, {"seed", 1, 0, O_SEED}, {"precision", 1, 0, O_PREC},
    {"bank-dtype", 1, 0, O_BANK_DTYPE},
    {"output", 1, 0, 'o'},
    {"threads", 1, 0, O_THREADS}, {"quiet", 0, 0, 'q'}, {"verbose", 0, 0, 'v'},
    {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};

static void on_notice(void *ctx, const char *msg) {
    progress_end(ctx);
    info(1, "%s", msg);
}

static int run(const run_init_opts *o, const char *data, const char *out) {
    ssl_err err;
    ssl_dataset d;
    const char *dname = strcmp(data, "-") ? data : "<stdin>";
    if (run_check_precision(o->precision, o->no_bf16, &err)) usage_error("%s", err.msg);
    if (dataset_load(&d, data, &err)) die("%s", err.msg);
    progress_line pl;
    progress_init(&pl, "img");
    run_report rep = {.ctx = &pl, .notice = on_notice, .progress = progress_show};
    ssl_ckpt ck;
    double dt;
    int rc = run_init_bank(o, &d, dname, &rep, &ck, &dt, &err);
    progress_end(&pl);
    if (rc) {
        if (err.code == SSL_EARG) usage_error("%s", err.msg);
        die("%s", err.msg);
    }
    if (verbosity >= 2) {
        fprintf(stderr, "%s: configuration: ", prog);
        sv_write_json(ck.config, stderr, -1);
        fprintf(stderr, "\n");
    }
    const char *bank = sv_get_str(sv_get(ck.config, "init"), "bank", "?");
    int fwd = !strcmp(bank, "forward");
    info(2, "bank %s: %lld x %d %s in %.2f s (%.0f img/s), peak RSS %.0f MiB", bank,
         (long long)d.n, ck.d, ck.bank_bf16 ? "bf16" : "f32", dt,
         fwd ? d.n / (dt > 0 ? dt : 1e-9) : 0, peak_rss_mib());
    char by[64];
    snprintf(by, sizeof by, "ssl-init-bank %s", SSL_VERSION);
    if (ckpt_save(&ck, out, by, &err)) die("%s", err.msg);
    ckpt_destroy(&ck);
    dataset_destroy(&d);
    return 0;
}

int main(int argc, char **argv) {
    static const char *const recipes[] = {"paper", "npid", NULL};
    static const char *const stems[] = {"cifar", "imagenet", NULL};
    static const char *const heads[] = {"none", "linear", "mlp3", NULL};
    static const char *const banks[] = {"forward", "random", NULL};
    static const char *const dtypes[] = {"f32", "bf16", NULL};
    run_init_opts o;
    const char *out = NULL, *data;
    int c, threads = 0;
    run_init_opts_default(&o);
    tool_init(argc, argv);
    tool_single_process();
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qvhV", long_opts, NULL)) != -1) {
        switch (c) {
        case O_RECIPE: o.recipe = recipes[parse_choice("--recipe", optarg, recipes)]; break;
        case O_ARCH: o.arch = net_archs[parse_choice("--arch", optarg, net_archs)]; break;
        case O_STEM: o.stem = stems[parse_choice("--stem", optarg, stems)]; break;
        case O_HEAD: o.head = heads[parse_choice("--head", optarg, heads)]; break;
        case O_BANK: o.bank = banks[parse_choice("--bank", optarg, banks)]; break;
        case O_WIDTH: o.width = parse_double("--width", optarg, 1.0 / 64, 4); break;
        case O_DIM: o.dim = parse_int("--dim", optarg, 1, 65536); break;
        case O_HIDDEN: o.hidden = parse_int("--hidden", optarg, 1, 65536); break;
        case O_BATCH: o.batch = parse_int("--batch", optarg, 1, 1 << 20); break;
        case O_FLIP: o.flip = parse_double("--flip", optarg, 0, 1); break;
        case O_JITTER: o.jitter = parse_double("--jitter", optarg, 0, 1); break;
        case O_GRAY: o.gray = parse_double("--gray", optarg, 0, 1); break;
        case O_CROP: o.crop_scale = parse_double("--crop-scale", optarg, 0.01, 1); break;
        case O_SEED: o.seed = parse_seed("--seed", optarg); break;
        case O_THREADS: threads = (int)parse_int("--threads", optarg, 0, 1024); break;
        case O_PREC: o.precision = parse_precision("--precision", optarg); break;
        case O_BANK_DTYPE: o.bank_bf16 = parse_choice("--bank-dtype", optarg, dtypes); break;
        case 'o': out = optarg; break;
        case 'q': verbosity = 0; break;
        case 'v': verbosity++; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': print_version();
        default: bad_option(c, argv);
        }
    }
    if (argc - optind > 1) usage_error("too many operands");
    data = optind < argc ? argv[optind] : "-";
    if (!out) out = "-";
    refuse_tty_input(data);
    refuse_tty_output(out);
    o.winograd = conv_mode_from_env();
    o.no_bf16 = no_bf16_from_env();
    no_amx_from_env();
    ssl_set_threads(threads);
    return run(&o, data, out);
}
