/* ssl-prep: datasets as distributed (MNIST / Fashion-MNIST IDX files,
 * CIFAR-10/100 binary tarballs, PNG/JPEG folders and archives, labelled
 * by class subfolders or not, Tiny-ImageNet) to a dataset tensor stream
 * (man ssl-prep(1)).
 *
 * The tool parses options and reports; run_prep (lib/run/prep.c) loads the
 * split, takes the optional per-class subset, measures the per-channel
 * mean and std over what will be written, and writes the stream. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "run/run.h"

#define DEFAULT_LEVEL 1         /* Fashion-MNIST: as small as 3, faster; see tests/bench/prep.sh */

static void usage(void) {
    printf("Usage: %s [options] INPUT... [-o OUT]\n"
           "Convert a dataset to a dataset tensor stream (stdout without -o).\n"
           "INPUT: a directory of IDX files, two IDX files (images and labels),\n"
           "a CIFAR-10/100 binary tarball, or a folder or archive (tar, zip, ...) of\n"
           "PNG/JPEG images in any tree: one subfolder per class gives labels\n"
           "(Tiny-ImageNet's layout too), a flat or mixed tree an unlabelled stream.\n"
           "\n"
           "  -o, --output FILE     write here (atomically) instead of stdout\n"
           "      --split NAME      train (default), test (IDX, CIFAR), val (Tiny-ImageNet)\n"
           "      --labels KIND     none: no labels (any input); folders: class\n"
           "                        subfolders, refusing an image outside one;\n"
           "                        CIFAR-100: fine (default) or coarse. Image folders\n"
           "                        default to folders when every image is in a\n"
           "                        subfolder, else none (with a notice)\n"
           "      --channels N      1 or 3 (default: as stored; image folders: 3, or 1 if all grey)\n"
           "      --size N|HxW      resize every image (area averaging down, bilinear up)\n"
           "      --on-error WHAT   an image file that cannot be decoded: stop (default) or\n"
           "                        skip (warn, naming it, and leave it out)\n"
           "      --classes LIST    comma-separated class names, replacing the source's\n"
           "      --subset N|F      keep N images per class, or a fraction F (0.1) per class\n"
           "                        (unlabelled: N images, or the fraction F, of all)\n"
           "      --seed S          seed of the subset choice (default 0)\n"
           "      --level N         zstd level, 1..19 (default %d)\n"
           "      --threads N       decoding threads (default: all cores)\n"
           "  -q, --quiet           no progress, no notices (warnings stay)\n"
           "  -v, --verbose         progress even when stderr is not a terminal; a summary\n"
           "  -h, --help            this help\n"
           "  -V, --version         print the version\n", prog, DEFAULT_LEVEL);
    exit(0);
}

typedef struct {
    const char *output, *classes, *subset;
    prep_opts po;
    uint64_t seed;
    int level, threads;
    int npaths;
    char **paths;
} options;

/* ---- progress: one throttled line on stderr ---- */
typedef struct { double start, last; int tty, shown; } progress;

/* Notices (decisions, non-image files skipped) go with -q; warnings (an
 * image left out by --on-error skip) never do. Either ends a progress
 * line that a terminal shows. */
static void end_progress_line(progress *p) {
    if (p->shown && p->tty) fputc('\n', stderr);
    p->shown = 0;
}

static void on_notice(void *ctx, const char *msg) {
    if (verbosity < 1) return;
    end_progress_line(ctx);
    info(1, "%s", msg);
}

static void on_warning(void *ctx, const char *msg) {
    end_progress_line(ctx);
    warnx_("%s", msg);
}

static void on_progress(void *ctx, const char *what, int64_t done, int64_t total) {
    progress *p = ctx;
    double t = ssl_clock();
    if (t - p->last < (p->tty ? 0.25 : 2.0) && done != total) return;
    p->last = t;
    double rate = done / (t - p->start > 1e-9 ? t - p->start : 1e-9);
    char eta[32] = "";
    if (total > 0 && rate > 0) snprintf(eta, sizeof eta, ", ETA %.0fs", (total - done) / rate);
    if (total > 0)
        fprintf(stderr, "%s%s: %s %lld/%lld (%.0f%%), %.0f/s%s%s", p->tty ? "\r" : "", prog, what,
                (long long)done, (long long)total, 100.0 * done / total, rate, eta, p->tty ? "  " : "\n");
    else
        fprintf(stderr, "%s%s: %s %lld, %.0f/s%s", p->tty ? "\r" : "", prog, what, (long long)done,
                rate, p->tty ? "  " : "\n");
    p->shown = 1;
}

static void parse_size(const char *s, int *h, int *w) {
    char buf[64];
    const char *x = strchr(s, 'x');
    if (!x) { *h = *w = (int)parse_int("--size", s, 1, PREP_MAX_SIDE); return; }
    if ((size_t)(x - s) >= sizeof buf) usage_error("--size: '%s' is not N or HxW", s);
    memcpy(buf, s, (size_t)(x - s));
    buf[x - s] = 0;
    *h = (int)parse_int("--size", buf, 1, PREP_MAX_SIDE);
    *w = (int)parse_int("--size", x + 1, 1, PREP_MAX_SIDE);
}

static void parse_options(int argc, char **argv, options *o) {
    enum { O_SPLIT = 256, O_LABELS, O_CHANNELS, O_SIZE, O_ON_ERROR, O_CLASSES, O_SUBSET, O_SEED,
           O_LEVEL, O_THREADS };
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'}, {"split", required_argument, 0, O_SPLIT},
        {"labels", required_argument, 0, O_LABELS}, {"channels", required_argument, 0, O_CHANNELS},
        {"size", required_argument, 0, O_SIZE}, {"on-error", required_argument, 0, O_ON_ERROR},
        {"classes", required_argument, 0, O_CLASSES},
        {"subset", required_argument, 0, O_SUBSET}, {"seed", required_argument, 0, O_SEED},
        {"level", required_argument, 0, O_LEVEL}, {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}
    };
    static const char *const splits[] = {"train", "test", "val", NULL};
    static const char *const kinds[] = {"fine", "coarse", "folders", "none", NULL};
    static const char *const on_error[] = {"stop", "skip", NULL};
    int c, verbose = 0, quiet = 0;
    memset(o, 0, sizeof *o);
    o->level = DEFAULT_LEVEL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qvhV", lo, NULL)) != -1) {
        switch (c) {
        case 'o': o->output = optarg; break;
        case O_SPLIT: o->po.split = splits[parse_choice("--split", optarg, splits)]; break;
        case O_LABELS: o->po.labels = kinds[parse_choice("--labels", optarg, kinds)]; break;
        case O_CHANNELS:
            o->po.channels = (int)parse_int("--channels", optarg, 1, 3);
            if (o->po.channels == 2) usage_error("--channels: must be 1 or 3");
            break;
        case O_SIZE: parse_size(optarg, &o->po.height, &o->po.width); break;
        case O_ON_ERROR:
            o->po.on_error = parse_choice("--on-error", optarg, on_error) ? PREP_ON_ERROR_SKIP
                                                                           : PREP_ON_ERROR_STOP;
            break;
        case O_CLASSES: o->classes = optarg; break;
        case O_SUBSET: {
            int64_t n; double f;
            if (!is_decimal_number(optarg) || prep_subset_parse(optarg, &n, &f))
                usage_error("--subset: '%s' is not a count >= 1 or a fraction in (0, 1]", optarg);
            o->subset = optarg;
            break;
        }
        case O_SEED: o->seed = parse_seed("--seed", optarg); break;
        case O_LEVEL: o->level = (int)parse_int("--level", optarg, 1, 19); break;
        case O_THREADS: o->threads = (int)parse_int("--threads", optarg, 0, 64); break;
        case 'q': quiet = 1; break;
        case 'v': verbose++; break;
        case 'h': usage(); break;
        case 'V': print_version(); break;
        default: bad_option(c, argv);
        }
    }
    verbosity = quiet ? 0 : 1 + verbose;
    o->npaths = argc - optind;
    o->paths = argv + optind;
    if (o->npaths < 1) usage_error("no input given");
    if (o->npaths > 2) usage_error("%d inputs: give a directory or archive, or two IDX files", o->npaths);
}

static int run(options *o) {
    progress pr = { ssl_clock(), 0, isatty(2), 0 };
    if (verbosity >= 2 || (verbosity >= 1 && pr.tty)) {
        o->po.progress = on_progress;
        o->po.progress_ctx = &pr;
    }
    o->po.notice = on_notice;
    o->po.warning = on_warning;
    o->po.notice_ctx = &pr;
    run_prep_opts ro = {.paths = (const char *const *)o->paths, .npaths = o->npaths,
                        .po = o->po, .classes = o->classes, .subset = o->subset,
                        .seed = o->seed, .output = o->output, .level = o->level};
    run_prep_result r;
    ssl_err err;
    int rc = run_prep(&ro, &r, &err);
    if (pr.shown && pr.tty) fputc('\n', stderr);
    if (rc) {
        if (err.code == SSL_EARG) usage_error("%s", err.msg);   /* a flag that does not fit the input */
        warnx_("%s", err.msg);
        return -1;
    }
    char classes[32] = "unlabelled";
    if (r.nclasses) snprintf(classes, sizeof classes, "%d classes", r.nclasses);
    info(2, "%s: %lld images %dx%dx%d, %s, mean %.5f std %.5f (channel 0), peak RSS %.0f MiB",
         o->output ? o->output : "<stdout>", (long long)r.n, r.c, r.h, r.w, classes, r.mean[0],
         r.std[0], peak_rss_mib());
    return 0;
}

int main(int argc, char **argv) {
    options o;
    tool_init(argc, argv);
    parse_options(argc, argv, &o);
    refuse_tty_output(o.output);
    ssl_set_threads(o.threads);
    return run(&o) ? EXIT_RUNTIME : 0;
}
