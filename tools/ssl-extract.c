/* ssl-extract: stream a dataset through a checkpoint's network in
 * evaluation mode (no augmentation, BN running statistics) and write a
 * features stream, row block by row block, in memory independent of the
 * dataset size. See man ssl-extract(1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "run/ckpt.h"
#include "common.h"
#include "stream/dataset.h"
#include "run/train.h"

static const char usage_text[] =
    "usage: ssl-extract [options] CKPT [DATA] [-o FEATURES]\n"
    "Features of every image of the dataset stream DATA (default: stdin) from the\n"
    "network of the checkpoint CKPT, in evaluation mode, as a features stream\n"
    "(stdout unless -o).\n"
    "\n"
    "  --layer backbone|head  pooled backbone output (default) or head output\n"
    "  --batch N              images per forward pass (256)\n"
    "  -o, --output FILE      write to FILE (atomically)\n"
    "      --threads N        threads (0: all cores)\n"
    "  -q, --quiet / -v, --verbose\n"
    "      --help, --version\n";

enum { O_LAYER = 256, O_BATCH, O_THREADS, O_HELP, O_VERSION };

static const struct option long_opts[] = {
    {"layer", 1, 0, O_LAYER}, {"batch", 1, 0, O_BATCH}, {"output", 1, 0, 'o'},
    {"threads", 1, 0, O_THREADS}, {"quiet", 0, 0, 'q'}, {"verbose", 0, 0, 'v'},
    {"help", 0, 0, O_HELP}, {"version", 0, 0, O_VERSION}, {0, 0, 0, 0}};

typedef struct {
    const char *ckpt, *data, *out, *layer;
    int batch, threads;
} opts;

/* A write error because the reader went away: exit quietly (status 1).
 * With SIGPIPE at its default the process has already died silently
 * (status 141 from the shell); this covers callers that ignore SIGPIPE. */
static void write_failed(sslt_writer *w, const char *msg) {
    int pipe_gone = errno == EPIPE || strstr(msg, "Broken pipe") || strstr(msg, "EPIPE");
    char m[SSL_ERRLEN];
    snprintf(m, sizeof m, "%s", msg);   /* msg may live inside w */
    if (w) sslt_writer_abort(w);
    if (pipe_gone) exit(EXIT_RUNTIME);
    die("%s", m);
}

static int run(const opts *o) {
    ssl_err err;
    const char *dname = strcmp(o->data, "-") ? o->data : "<stdin>";
    ckpt_reader *cr = ckpt_open(o->ckpt, &err);
    if (!cr) die("%s", err.msg);
    ssl_ckpt ck;
    if (ckpt_read(cr, &ck, o->batch, 0, &err)) die("%s", err.msg);
    ckpt_close(cr);
    net_set_winograd(ck.net, conv_mode_from_env());
    const net_config *nc = net_get_config(ck.net);
    int head = !strcmp(o->layer, "head");
    int F = head ? net_out_dim(ck.net) : net_feature_dim(ck.net);

    ssl_dstream *s = dstream_open(o->data, &err);
    if (!s) die("%s", err.msg);
    const ssl_dataset *info_ = dstream_info(s);
    if (info_->c != nc->in_ch || info_->h != nc->in_h || info_->w != nc->in_w)
        die("%s: images are %dx%dx%d, the network of %s expects %dx%dx%d", dname, info_->c,
            info_->h, info_->w, o->ckpt, nc->in_ch, nc->in_h, nc->in_w);
    int64_t N = info_->n;
    double mean[SSL_MAX_CHANNELS], std[SSL_MAX_CHANNELS];
    /* The training set's normalisation (stored in the checkpoint). */
    train_data_norm(sv_get(ck.config, "data"), info_, mean, std);

    sv *meta = sv_map();
    const sv *classes = sv_get(info_->meta, "classes");
    if (classes) sv_set(meta, "classes", sv_copy(classes));
    sv_set(meta, "checkpoint", sv_str(strcmp(o->ckpt, "-") ? o->ckpt : "<stdin>"));
    sv_set(meta, "layer", sv_str(o->layer));
    sv_set(meta, "dataset", sv_copy(info_->meta));
    sslt_tensor ts[2];
    memset(ts, 0, sizeof ts);
    ts[0].name = "features";
    ts[0].dtype = SSLT_F32;
    ts[0].ndim = 2;
    ts[0].shape[0] = N;
    ts[0].shape[1] = F;
    ts[1].name = "labels";
    ts[1].dtype = SSLT_I32;
    ts[1].ndim = 1;
    ts[1].shape[0] = N;

    size_t img = (size_t)info_->c * info_->h * info_->w;
    uint8_t *images = malloc((size_t)o->batch * img);
    int32_t *labels = malloc((size_t)o->batch * sizeof *labels);
    float *x = malloc((size_t)o->batch * img * sizeof *x);
    if (!images || !labels || !x) die("out of memory");
    sslt_writer *w = sslt_writer_open(o->out, 0, &err);
    if (!w) die("%s", err.msg);
    if (sslt_writer_begin(w, "features", meta, 2, ts)) write_failed(w, sslt_writer_error(w)->msg);
    double t0 = ssl_clock();
    int64_t done = 0, cnt;
    while ((cnt = dstream_next(s, images, labels, o->batch)) > 0) {
        if (done + cnt > N) {
            sslt_writer_abort(w);
            die("%s: more images than the header's %lld", dname, (long long)N);
        }
        preprocess_batch(images, (int)cnt, info_->c, info_->h, info_->w, mean, std, x);
        net_forward(ck.net, x, (int)cnt, 0);
        const float *f = head ? net_output(ck.net) : net_features(ck.net);
        if (sslt_writer_rows(w, 0, f, cnt) || sslt_writer_rows(w, 1, labels, cnt))
            write_failed(w, sslt_writer_error(w)->msg);
        done += cnt;
    }
    if (cnt < 0) {
        sslt_writer_abort(w);
        die("%s", dstream_error(s)->msg);
    }
    if (done != N) {
        sslt_writer_abort(w);
        die("%s: %lld images, the header announced %lld", dname, (long long)done, (long long)N);
    }
    if (sslt_writer_end(w)) write_failed(w, sslt_writer_error(w)->msg);
    if (sslt_writer_close(w, &err)) write_failed(NULL, err.msg);
    double dt = ssl_clock() - t0;
    info(2, "%lld images, %s features of %d, %.2f s (%.0f img/s), peak RSS %.0f MiB",
         (long long)N, o->layer, F, dt, dt > 0 ? N / dt : 0, peak_rss_mib());
    dstream_close(s);
    sv_free(meta);
    free(images), free(labels), free(x);
    ckpt_destroy(&ck);
    return 0;
}

int main(int argc, char **argv) {
    static const char *const layers[] = {"backbone", "head", NULL};
    opts o = {.layer = "backbone", .batch = 256};
    int c;
    tool_init(argc, argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qv", long_opts, NULL)) != -1) {
        switch (c) {
        case O_LAYER: o.layer = layers[parse_choice("--layer", optarg, layers)]; break;
        case O_BATCH: o.batch = (int)parse_int("--batch", optarg, 1, 1 << 16); break;
        case O_THREADS: o.threads = (int)parse_int("--threads", optarg, 0, 1024); break;
        case 'o': o.out = optarg; break;
        case 'q': verbosity = 0; break;
        case 'v': verbosity++; break;
        case O_HELP: fputs(usage_text, stdout); return 0;
        case O_VERSION: print_version();
        default: usage_error("unknown option or missing argument: '%s'", argv[optind - 1]);
        }
    }
    int nops = argc - optind;
    if (nops < 1 || nops > 2) usage_error("expected CKPT [DATA]");
    o.ckpt = argv[optind];
    o.data = nops == 2 ? argv[optind + 1] : "-";
    if (!strcmp(o.ckpt, "-") && !strcmp(o.data, "-"))
        usage_error("CKPT and DATA cannot both be stdin");
    if (!o.out) o.out = "-";
    refuse_tty_output(o.out);
    set_threads(o.threads);
    return run(&o);
}
