/* ssl-lineval: linear evaluation of frozen features (METHOD.md section 8;
 * lib/lineval.h): trains a softmax classifier on TRAIN_FEATURES with SGD,
 * reports train and test top-1 (and top-5) as text, a CSV table (--csv) or
 * one JSON object (--json), optionally saves the classifier as a
 * "classifier" stream. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "stream/dataset.h"
#include "eval/lineval.h"

static void usage(void) {
    printf("usage: %s [options] TRAIN_FEATURES TEST_FEATURES\n"
           "Linear evaluation: a softmax classifier on frozen features, SGD with momentum\n"
           "and a cosine schedule. Inputs are features or dataset streams; one of them\n"
           "may be '-' (standard input).\n"
           "      --epochs N       epochs (default 100)\n"
           "      --lr X           base learning rate (default %g, for l2-normalised features)\n"
           "      --batch N        batch size (default 256)\n"
           "      --wd X           weight decay (default 0)\n"
           "      --momentum X     SGD momentum (default 0.9)\n"
           "      --normalize M    l2 | standardize | none (default l2)\n"
           "      --seed N         seed of the initialisation and the order (default 0)\n"
           "      --save FILE      write the classifier as a tensor stream\n"
           "      --csv            a CSV table on stdout (header line and one row)\n"
           "      --json           one JSON object on stdout\n"
           "      --threads N      threads (default: all cores)\n"
           "  -q, --quiet          no summary line on stderr\n"
           "  -v, --verbose        per-epoch loss on stderr\n"
           "      --help           this help\n"
           "      --version        version\n", prog, LINEVAL_DEFAULT_LR);
}

typedef struct {
    const char *train_path, *test_path, *save_path;
    lineval_config cfg;
    int json, csv, threads;
} options;

/* The CSV table of ssl-lineval(1): a header and one row. */
static void print_csv(const options *o, const lineval_acc *ate, int64_t ntrain, int64_t ntest) {
    printf("labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test,epochs,lr,wd,"
           "batch,normalize,seed\n");
    printf("all,1,");
    csv_num(ate->top1, ',');
    csv_num(0, ',');
    csv_num(ate->top5, ',');
    csv_num(isfinite(ate->top5) ? 0 : NAN, ',');
    printf("%lld,%lld,%d,", (long long)ntrain, (long long)ntest, o->cfg.epochs);
    csv_num(o->cfg.lr, ',');
    csv_num(o->cfg.wd, ',');
    printf("%d,%s,%llu\n", o->cfg.batch, lineval_norm_name(o->cfg.norm),
           (unsigned long long)o->cfg.seed);
}


static void on_epoch(void *ctx, int e, double lr, double loss, double acc) {
    const options *o = ctx;
    info(2, "epoch %d/%d lr %.5g loss %.5f train-batch top1 %.4f", e + 1, o->cfg.epochs, lr,
         loss, acc);
}

static sv *recipe_sv(const options *o) {
    sv *r = sv_map();
    if (!r) return NULL;
    int bad = sv_set(r, "epochs", sv_int(o->cfg.epochs));
    bad |= sv_set(r, "lr", sv_float(o->cfg.lr));
    bad |= sv_set(r, "batch", sv_int(o->cfg.batch));
    bad |= sv_set(r, "wd", sv_float(o->cfg.wd));
    bad |= sv_set(r, "momentum", sv_float(o->cfg.momentum));
    bad |= sv_set(r, "normalize", sv_str(lineval_norm_name(o->cfg.norm)));
    bad |= sv_set(r, "seed", sv_int((int64_t)o->cfg.seed));
    bad |= sv_set(r, "schedule", sv_str("cosine"));
    if (bad) { sv_free(r); return NULL; }
    return r;
}

static int run(options *o) {
    ssl_features tr, te;
    char err[LINEVAL_ERRLEN];
    double t0 = now_seconds();
    int nc = load_feature_pair(&tr, &te, o->train_path, o->test_path, 1);
    o->cfg.on_epoch = on_epoch;
    o->cfg.ctx = o;
    lineval_model m;
    double t1 = now_seconds();
    if (lineval_train(&o->cfg, tr.x, tr.labels, tr.n, tr.dim, nc, &m, err))
        die("%s: %s", o->train_path, err);
    double t2 = now_seconds();
    lineval_acc atr, ate;
    if (lineval_evaluate(&m, tr.x, tr.labels, tr.n, &atr, err)) die("%s: %s", o->train_path, err);
    if (lineval_evaluate(&m, te.x, te.labels, te.n, &ate, err)) die("%s: %s", o->test_path, err);
    if (o->save_path) {
        sv *recipe = recipe_sv(o), *extra = sv_map();
        if (!recipe || !extra) die("out of memory");
        sv_set(extra, "train_top1", sv_float(atr.top1));
        sv_set(extra, "top1", sv_float(ate.top1));
        sv_set(extra, "train", sv_str(o->train_path));
        sv_set(extra, "test", sv_str(o->test_path));
        const char *const *cls = tr.classes && tr.nclasses == nc ? (const char *const *)tr.classes
                                 : te.classes && te.nclasses == nc ? (const char *const *)te.classes
                                 : NULL;
        int bad = lineval_save(&m, o->save_path, cls, recipe, extra, err);
        sv_free(recipe);
        sv_free(extra);
        if (bad) {
            if (!strncmp(err, o->save_path, strlen(o->save_path))) die("%s", err);
            die("%s: %s", o->save_path, err);
        }
    }
    if (o->json) {
        printf("{");
        json_num("top1", ate.top1, 1);
        json_num("top5", ate.top5, 1);
        json_num("train_top1", atr.top1, 1);
        json_num("train_top5", atr.top5, 1);
        json_num("test_loss", ate.loss, 1);
        json_num("train_loss", atr.loss, 1);
        printf("\"n_train\":%lld,\"n_test\":%lld,\"dim\":%d,\"nclasses\":%d,",
               (long long)tr.n, (long long)te.n, tr.dim, nc);
        printf("\"epochs\":%d,", o->cfg.epochs);
        json_num("lr", o->cfg.lr, 1);
        printf("\"batch\":%d,", o->cfg.batch);
        json_num("wd", o->cfg.wd, 1);
        json_num("momentum", o->cfg.momentum, 1);
        printf("\"normalize\":\"%s\",\"seed\":%llu}\n", lineval_norm_name(o->cfg.norm),
               (unsigned long long)o->cfg.seed);
    } else if (o->csv) {
        print_csv(o, &ate, tr.n, te.n);
    } else {
        printf("%-12s %8.4f\n", "train_top1", atr.top1);
        printf("%-12s %8.4f\n", "top1", ate.top1);
        if (nc > 5) printf("%-12s %8.4f\n", "top5", ate.top5);
    }
    if (fflush(stdout) || ferror(stdout)) die("standard output: write error");
    info(1, "linear eval: %lld train, %lld test rows of %d, %d classes: load %.2f s, "
         "train %.2f s (%d epochs)", (long long)tr.n, (long long)te.n, tr.dim, nc, t1 - t0,
         t2 - t1, o->cfg.epochs);
    lineval_model_destroy(&m);
    features_destroy(&tr);
    features_destroy(&te);
    return 0;
}

int main(int argc, char **argv) {
    enum { OPT_EPOCHS = 256, OPT_LR, OPT_BATCH, OPT_WD, OPT_MOMENTUM, OPT_NORMALIZE,
           OPT_SEED, OPT_SAVE, OPT_JSON, OPT_CSV, OPT_THREADS, OPT_HELP, OPT_VERSION };
    static const struct option longs[] = {
        { "epochs", required_argument, NULL, OPT_EPOCHS },
        { "lr", required_argument, NULL, OPT_LR },
        { "batch", required_argument, NULL, OPT_BATCH },
        { "wd", required_argument, NULL, OPT_WD },
        { "momentum", required_argument, NULL, OPT_MOMENTUM },
        { "normalize", required_argument, NULL, OPT_NORMALIZE },
        { "seed", required_argument, NULL, OPT_SEED },
        { "save", required_argument, NULL, OPT_SAVE },
        { "json", no_argument, NULL, OPT_JSON },
        { "csv", no_argument, NULL, OPT_CSV },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    static const char *const norms[] = { "none", "l2", "standardize", NULL };
    options o = { 0 };
    int c;
    lineval_config_default(&o.cfg);
    tool_init(argc, argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":qv", longs, NULL)) != -1) {
        switch (c) {
        case OPT_EPOCHS: o.cfg.epochs = (int)parse_int("--epochs", optarg, 1, 1000000); break;
        case OPT_LR: o.cfg.lr = parse_double("--lr", optarg, 1e-12, 1e12); break;
        case OPT_BATCH: o.cfg.batch = (int)parse_int("--batch", optarg, 1, 1 << 20); break;
        case OPT_WD: o.cfg.wd = parse_double("--wd", optarg, 0, 1e6); break;
        case OPT_MOMENTUM: o.cfg.momentum = parse_double("--momentum", optarg, 0, 0.999999); break;
        case OPT_NORMALIZE:
            o.cfg.norm = (lineval_norm)parse_choice("--normalize", optarg, norms);
            break;
        case OPT_SEED: o.cfg.seed = parse_seed("--seed", optarg); break;
        case OPT_SAVE:
            if (!*optarg || !strcmp(optarg, "-"))
                usage_error("--save needs a file name (standard output carries the results)");
            o.save_path = optarg;
            break;
        case OPT_JSON: o.json = 1; break;
        case OPT_CSV: o.csv = 1; break;
        case OPT_THREADS: o.threads = (int)parse_int("--threads", optarg, 0, 1024); break;
        case 'q': verbosity = 0; break;
        case 'v': verbosity = 2; break;
        case OPT_HELP: usage(); return 0;
        case OPT_VERSION: print_version();
        default: bad_option(c, argv);
        }
    }
    if (o.json && o.csv) usage_error("--csv and --json cannot be used together");
    if (argc - optind != 2) usage_error("expected TRAIN_FEATURES TEST_FEATURES");
    o.train_path = argv[optind];
    o.test_path = argv[optind + 1];
    if (!strcmp(o.train_path, "-") && !strcmp(o.test_path, "-"))
        usage_error("only one of TRAIN_FEATURES and TEST_FEATURES can be standard input");
    set_threads(o.threads);
    return run(&o);
}
