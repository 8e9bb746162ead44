/* ssl-prep: datasets as distributed (MNIST / Fashion-MNIST IDX files,
 * CIFAR-10/100 binary tarballs, PNG/JPEG folders and archives,
 * Tiny-ImageNet) to a dataset tensor stream (man ssl-prep(1)).
 *
 * The split is loaded into memory by lib/data/prep (one split at a time), an
 * optional per-class subset is taken, the per-channel mean and std are
 * computed over what will be written, and the stream is written with
 * images and labels interleaved in row blocks. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "stream/dataset.h"
#include "data/prep.h"
#include "stream/sslt.h"

#define DEFAULT_LEVEL 1         /* Fashion-MNIST: as small as 3, faster; see tests/bench/prep.sh */

static void usage(void) {
    printf("Usage: %s [options] INPUT... [-o OUT]\n"
           "Convert a dataset to a dataset tensor stream (stdout without -o).\n"
           "INPUT: a directory of IDX files, two IDX files (images and labels),\n"
           "a CIFAR-10/100 binary tarball, or an image folder or archive (tar, zip)\n"
           "with one subfolder per class (Tiny-ImageNet's layout too).\n"
           "\n"
           "  -o, --output FILE     write here (atomically) instead of stdout\n"
           "      --split NAME      train (default), test (IDX, CIFAR), val (Tiny-ImageNet)\n"
           "      --labels KIND     CIFAR-100 labels: fine (default) or coarse\n"
           "      --channels N      1 or 3 (default: as stored; image folders: 3, or 1 if all grey)\n"
           "      --size N|HxW      resize every image (area averaging down, bilinear up)\n"
           "      --classes LIST    comma-separated class names, replacing the source's\n"
           "      --subset N|F      keep N images per class, or a fraction F (0.1) per class\n"
           "      --seed S          seed of the subset choice (default 0)\n"
           "      --level N         zstd level, 1..19 (default %d)\n"
           "      --threads N       decoding threads (default: all cores)\n"
           "  -q, --quiet           no progress\n"
           "  -v, --verbose         progress even when stderr is not a terminal; a summary\n"
           "      --help            this help\n"
           "      --version         print the version\n", prog, DEFAULT_LEVEL);
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
    enum { O_SPLIT = 256, O_LABELS, O_CHANNELS, O_SIZE, O_CLASSES, O_SUBSET, O_SEED, O_LEVEL,
           O_THREADS, O_HELP, O_VERSION };
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'}, {"split", required_argument, 0, O_SPLIT},
        {"labels", required_argument, 0, O_LABELS}, {"channels", required_argument, 0, O_CHANNELS},
        {"size", required_argument, 0, O_SIZE}, {"classes", required_argument, 0, O_CLASSES},
        {"subset", required_argument, 0, O_SUBSET}, {"seed", required_argument, 0, O_SEED},
        {"level", required_argument, 0, O_LEVEL}, {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, O_HELP}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}
    };
    static const char *const splits[] = {"train", "test", "val", NULL};
    static const char *const kinds[] = {"fine", "coarse", NULL};
    int c, verbose = 0, quiet = 0;
    memset(o, 0, sizeof *o);
    o->level = DEFAULT_LEVEL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qv", lo, NULL)) != -1) {
        switch (c) {
        case 'o': o->output = optarg; break;
        case O_SPLIT: o->po.split = splits[parse_choice("--split", optarg, splits)]; break;
        case O_LABELS: o->po.labels = kinds[parse_choice("--labels", optarg, kinds)]; break;
        case O_CHANNELS:
            o->po.channels = (int)parse_int("--channels", optarg, 1, 3);
            if (o->po.channels == 2) usage_error("--channels: must be 1 or 3");
            break;
        case O_SIZE: parse_size(optarg, &o->po.height, &o->po.width); break;
        case O_CLASSES: o->classes = optarg; break;
        case O_SUBSET: {
            int64_t n; double f;
            if (prep_subset_parse(optarg, &n, &f))
                usage_error("--subset: '%s' is not a count >= 1 or a fraction in (0, 1]", optarg);
            o->subset = optarg;
            break;
        }
        case O_SEED: o->seed = parse_seed("--seed", optarg); break;
        case O_LEVEL: o->level = (int)parse_int("--level", optarg, 1, 19); break;
        case O_THREADS: o->threads = (int)parse_int("--threads", optarg, 0, 64); break;
        case 'q': quiet = 1; break;
        case 'v': verbose++; break;
        case O_HELP: usage(); break;
        case O_VERSION: print_version(); break;
        case ':': usage_error("option '%s' needs a value", argv[optind - 1]);
        default: usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    verbosity = quiet ? 0 : 1 + verbose;
    o->npaths = argc - optind;
    o->paths = argv + optind;
    if (o->npaths < 1) usage_error("no input given");
    if (o->npaths > 2) usage_error("%d inputs: give a directory or archive, or two IDX files", o->npaths);
}

/* The section's metadata. */
static sv *make_meta(const options *o, const prep_data *d, const double *mean, const double *std,
                     const int64_t *idx, int64_t nidx) {
    sv *m = sv_map();
    if (!m) return NULL;
    char src[4096];
    snprintf(src, sizeof src, "%s%s%s", o->paths[0], o->npaths > 1 ? " " : "", o->npaths > 1 ? o->paths[1] : "");
    int bad = sv_set(m, "classes", sv_str_array((const char *const *)d->classes, (size_t)d->nclasses));
    bad |= sv_set(m, "mean", sv_float_array(mean, (size_t)d->c));
    bad |= sv_set(m, "std", sv_float_array(std, (size_t)d->c));
    bad |= sv_set(m, "source", sv_str(src));
    bad |= sv_set(m, "format", sv_str(d->format));
    bad |= sv_set(m, "split", sv_str(o->po.split ? o->po.split : "train"));
    if (!strcmp(d->format, "cifar-100")) bad |= sv_set(m, "labels", sv_str(o->po.labels ? o->po.labels : "fine"));
    if (o->subset) {
        sv *s = sv_map();
        if (!s) { sv_free(m); return NULL; }
        bad |= sv_set(s, "spec", sv_str(o->subset));
        bad |= sv_set(s, "seed", sv_int((int64_t)o->seed));
        bad |= sv_set(s, "indices", sv_int_array(idx, (size_t)nidx));
        bad |= sv_set(m, "subset", s);
    }
    if (bad) { sv_free(m); return NULL; }
    return m;
}

static int write_stream(const options *o, const prep_data *d, const sv *meta) {
    ssl_err err;
    if (dataset_write(o->output, o->level, meta, d->n, d->c, d->h, d->w, d->images, d->labels,
                      &err)) {
        warnx_("%s", err.msg);
        return -1;
    }
    return 0;
}

static int run(options *o) {
    ssl_err err;
    prep_data d;
    progress pr = { ssl_clock(), 0, isatty(2), 0 };
    int64_t *idx = NULL, nidx = 0;
    double mean[SSL_MAX_CHANNELS], std[SSL_MAX_CHANNELS];
    if (verbosity >= 2 || (verbosity >= 1 && pr.tty)) {
        o->po.progress = on_progress;
        o->po.progress_ctx = &pr;
    }
    int rc = prep_load(&d, (const char *const *)o->paths, o->npaths, &o->po, &err);
    if (pr.shown && pr.tty) fputc('\n', stderr);
    if (rc) { warnx_("%s", err.msg); return -1; }
    if (o->classes && prep_set_classes(&d, o->classes, &err)) { warnx_("%s: %s", o->paths[0], err.msg); goto fail; }
    if (prep_check_labels(&d, o->paths[0], &err)) { warnx_("%s", err.msg); goto fail; }
    if (o->subset) {
        int64_t per; double frac;
        prep_subset_parse(o->subset, &per, &frac);
        if (prep_subset(&d, per, frac, o->seed, &idx, &nidx, &err)) { warnx_("%s", err.msg); goto fail; }
    }
    prep_stats(&d, mean, std);
    sv *meta = make_meta(o, &d, mean, std, idx, nidx);
    if (!meta) { warnx_("out of memory"); goto fail; }
    rc = write_stream(o, &d, meta);
    sv_free(meta);
    if (rc) goto fail;
    info(2, "%s: %lld images %dx%dx%d, %d classes, mean %.5f std %.5f (channel 0), peak RSS %.0f MiB",
         o->output ? o->output : "<stdout>", (long long)d.n, d.c, d.h, d.w, d.nclasses, mean[0],
         std[0], peak_rss_mib());
    free(idx);
    prep_data_destroy(&d);
    return 0;
fail:
    free(idx);
    prep_data_destroy(&d);
    return -1;
}

int main(int argc, char **argv) {
    options o;
    tool_init(argc, argv);
    parse_options(argc, argv, &o);
    refuse_tty_output(o.output);
    ssl_set_threads(o.threads);
    return run(&o) ? EXIT_RUNTIME : 0;
}
