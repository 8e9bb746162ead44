/* ssl-init-bank: create the starting checkpoint of a training run: the
 * network (architecture, head, weights from --seed) and the memory bank,
 * either from one no-gradient pass of the untrained network over every
 * training image (--bank forward, "feature calibrate") or random (--bank
 * random, NPID). See man ssl-init-bank(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/ckpt.h"
#include "common.h"
#include "stream/dataset.h"
#include "nn/net.h"
#include "ssl/npid.h"
#include "run/train.h"

static const char usage_text[] =
    "usage: ssl-init-bank [options] [DATA] [-o CKPT]\n"
    "Create a starting checkpoint: network weights from --seed and the memory bank.\n"
    "DATA is a dataset stream (default: stdin); CKPT goes to stdout unless -o.\n"
    "\n"
    "  --recipe paper|npid    defaults for head, dim, bank, batch, augmentation (paper)\n"
    "  --arch NAME            resnet18, resnet34, resnet50 (resnet18)\n"
    "  --stem cifar|imagenet  stem of the backbone (cifar)\n"
    "  --width W              channel multiplier (1)\n"
    "  --head none|linear|mlp3  projection head (paper: mlp3, npid: linear)\n"
    "  --dim D                head output and bank width (paper: 2048, npid: 128)\n"
    "  --hidden H             mlp3 hidden width (2048)\n"
    "  --bank forward|random  bank initialisation (paper: forward, npid: random)\n"
    "  --batch B              batch of the forward pass (paper: 512, npid: 128)\n"
    "  --flip P, --jitter P, --gray P, --crop-scale MIN\n"
    "                         augmentation of the forward pass (recipe defaults)\n"
    "  --seed N               weights, bank and pass order (0)\n"
    "  -o, --output FILE      write the checkpoint to FILE (atomically)\n"
    "      --threads N        threads (0: all cores)\n"
    "  -q, --quiet            no notices\n"
    "  -v, --verbose          print the resolved configuration\n"
    "      --help, --version\n";

enum {
    O_RECIPE = 256, O_ARCH, O_STEM, O_WIDTH, O_HEAD, O_DIM, O_HIDDEN, O_BANK, O_BATCH,
    O_FLIP, O_JITTER, O_GRAY, O_CROP, O_SEED, O_THREADS, O_HELP, O_VERSION
};

static const struct option long_opts[] = {
    {"recipe", 1, 0, O_RECIPE}, {"arch", 1, 0, O_ARCH}, {"stem", 1, 0, O_STEM},
    {"width", 1, 0, O_WIDTH}, {"head", 1, 0, O_HEAD}, {"dim", 1, 0, O_DIM},
    {"hidden", 1, 0, O_HIDDEN}, {"bank", 1, 0, O_BANK}, {"batch", 1, 0, O_BATCH},
    {"flip", 1, 0, O_FLIP}, {"jitter", 1, 0, O_JITTER}, {"gray", 1, 0, O_GRAY},
    {"crop-scale", 1, 0, O_CROP}, {"seed", 1, 0, O_SEED}, {"output", 1, 0, 'o'},
    {"threads", 1, 0, O_THREADS}, {"quiet", 0, 0, 'q'}, {"verbose", 0, 0, 'v'},
    {"help", 0, 0, O_HELP}, {"version", 0, 0, O_VERSION}, {0, 0, 0, 0}};

typedef struct {
    const char *recipe, *arch, *stem, *head, *bank, *data, *out;
    double width;
    long long dim, hidden, batch;
    double flip, jitter, gray, crop;   /* < 0: recipe default */
    uint64_t seed;
    int threads;
} opts;

static int run(const opts *o) {
    ssl_err err, terr;
    ssl_dataset d;
    const char *dname = strcmp(o->data, "-") ? o->data : "<stdin>";
    int paper = !strcmp(o->recipe, "paper");
    if (dataset_load(&d, o->data, &err)) die("%s", err.msg);
    if (d.n < 1) die("%s: the dataset is empty", dname);

    net_config nc;
    memset(&nc, 0, sizeof nc);
    snprintf(nc.arch, sizeof nc.arch, "%s", o->arch);
    snprintf(nc.stem, sizeof nc.stem, "%s", o->stem);
    snprintf(nc.head, sizeof nc.head, "%s", o->head ? o->head : paper ? "mlp3" : "linear");
    nc.width = (float)o->width;
    nc.in_ch = d.c;
    nc.in_h = d.h;
    nc.in_w = d.w;
    nc.hidden = (int)o->hidden;
    nc.dim = (int)(o->dim > 0 ? o->dim : paper ? 2048 : 128);
    const char *bank = o->bank ? o->bank : paper ? "forward" : "random";
    long long B = o->batch > 0 ? o->batch : paper ? 512 : 128;
    if (B > d.n) {
        info(1, "notice: --batch %lld clipped to the %lld images of %s", B, (long long)d.n, dname);
        B = d.n;
    }

    train_config tc;
    if (train_config_default(&tc, o->recipe, d.h, d.w)) die("--recipe: unknown recipe");
    if (o->flip >= 0) tc.flip = o->flip;
    if (o->jitter >= 0) tc.jitter = o->jitter;
    if (o->gray >= 0) tc.gray = o->gray;
    if (o->crop >= 0) tc.crop_scale = o->crop;
    aug_config aug;
    train_aug_config(&tc, d.h, d.w, &aug);

    ssl_ckpt ck;
    memset(&ck, 0, sizeof ck);
    if (!(ck.net = net_new(&nc, (int)B, &err))) die("invalid network: %s", err.msg);
    net_init(ck.net, o->seed);
    net_set_winograd(ck.net, conv_mode_from_env());
    ck.n = d.n;
    ck.d = net_out_dim(ck.net);
    ck.seed = o->seed;
    ck.bank = malloc((size_t)d.n * ck.d * sizeof(float));
    ck.bank_labels = malloc((size_t)d.n * sizeof(int32_t));
    if (!ck.bank || !ck.bank_labels)
        die("out of memory for a bank of %lld x %d floats", (long long)d.n, ck.d);
    memcpy(ck.bank_labels, d.labels, (size_t)d.n * sizeof(int32_t));

    sv *init = sv_map(), *augm = sv_map();
    sv_set(augm, "flip", sv_float(tc.flip));
    sv_set(augm, "jitter", sv_float(tc.jitter));
    sv_set(augm, "gray", sv_float(tc.gray));
    sv_set(augm, "crop_scale", sv_float(tc.crop_scale));
    sv_set(init, "recipe", sv_str(o->recipe));
    sv_set(init, "bank", sv_str(bank));
    sv_set(init, "seed", sv_int((int64_t)o->seed));
    sv_set(init, "batch", sv_int(B));
    sv_set(init, "augment", augm);
    sv_set(init, "bn_stats", sv_str(strcmp(bank, "forward") ? "initial"
                                    : "updated by the bank-init pass"));
    ck.config = sv_map();
    sv_set(ck.config, "net", net_config_to_sv(&nc));
    sv_set(ck.config, "data", train_data_sv(&d));
    sv_set(ck.config, "init", init);
    if (!sv_get(ck.config, "data") || !sv_get(ck.config, "net")) die("out of memory");
    if (verbosity >= 2) {
        fprintf(stderr, "%s: configuration: ", prog);
        sv_write_json(ck.config, stderr, -1);
        fprintf(stderr, "\n");
    }

    double t0 = ssl_clock();
    if (!strcmp(bank, "forward")) {
        double mean[SSL_MAX_CHANNELS], std[SSL_MAX_CHANNELS];
        train_data_norm(sv_get(ck.config, "data"), &d, mean, std);
        if (train_bank_forward(ck.net, &d, &aug, mean, std, (int)B, o->seed, ck.bank, &terr))
            die("%s: %s", dname, terr.msg);
    } else {
        npid_bank_random(ck.bank, d.n, ck.d, o->seed);
    }
    double dt = ssl_clock() - t0;
    info(2, "bank %s: %lld x %d in %.2f s (%.0f img/s), peak RSS %.0f MiB", bank,
         (long long)d.n, ck.d, dt, strcmp(bank, "forward") ? 0 : d.n / (dt > 0 ? dt : 1e-9),
         peak_rss_mib());
    char by[64];
    snprintf(by, sizeof by, "ssl-init-bank %s", SSL_VERSION);
    if (ckpt_save(&ck, o->out, by, &err)) die("%s", err.msg);
    ckpt_destroy(&ck);
    dataset_destroy(&d);
    return 0;
}

int main(int argc, char **argv) {
    static const char *const recipes[] = {"paper", "npid", NULL};
    static const char *const archs[] = {"resnet18", "resnet34", "resnet50", NULL};
    static const char *const stems[] = {"cifar", "imagenet", NULL};
    static const char *const heads[] = {"none", "linear", "mlp3", NULL};
    static const char *const banks[] = {"forward", "random", NULL};
    opts o = {.recipe = "paper", .arch = "resnet18", .stem = "cifar", .width = 1,
              .hidden = 2048, .flip = -1, .jitter = -1, .gray = -1, .crop = -1};
    int c;
    tool_init(argc, argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qv", long_opts, NULL)) != -1) {
        switch (c) {
        case O_RECIPE: o.recipe = recipes[parse_choice("--recipe", optarg, recipes)]; break;
        case O_ARCH: o.arch = archs[parse_choice("--arch", optarg, archs)]; break;
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
        case O_CROP: o.crop = parse_double("--crop-scale", optarg, 0.01, 1); break;
        case O_SEED: o.seed = parse_seed("--seed", optarg); break;
        case O_THREADS: o.threads = (int)parse_int("--threads", optarg, 0, 1024); break;
        case 'o': o.out = optarg; break;
        case 'q': verbosity = 0; break;
        case 'v': verbosity++; break;
        case O_HELP: fputs(usage_text, stdout); return 0;
        case O_VERSION: print_version();
        default: usage_error("unknown option or missing argument: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1) usage_error("too many operands");
    o.data = optind < argc ? argv[optind] : "-";
    if (!o.out) o.out = "-";
    refuse_tty_output(o.out);
    set_threads(o.threads);
    return run(&o);
}
