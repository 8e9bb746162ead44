/* ssl-lineval: linear evaluation of frozen features (ssl-method(7) EVALUATION;
 * eval/lineval.h): trains a softmax classifier on TRAIN_FEATURES with SGD,
 * reports train and test top-1 (and top-5) as text, a CSV table (--csv) or
 * one JSON object (--json), optionally saves the classifier as a
 * "classifier" stream. With --labels-per-class the classifier is trained on
 * class-balanced labelled subsets of the training set (lib/eval/fewshot.h),
 * one per draw, and every figure is a mean +- std over the draws. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "stream/dataset.h"
#include "eval/fewshot.h"
#include "eval/lineval.h"

#define MAX_LIST 64

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
           "      --seed N         seed of the initialisation, the order and the labelled\n"
           "                       subsets (default 0)\n"
           "      --labels-per-class LIST\n"
           "                       train on N labelled rows per class, class-balanced, for\n"
           "                       each N of the list; mean and std over --draws subsets\n"
           "      --draws D        subsets per N (default %d)\n"
           "      --save FILE      write the classifier as a tensor stream\n"
           "      --csv            a CSV table on stdout (header line, one row per N)\n"
           "      --json           one JSON object on stdout\n"
           "      --threads N      threads (default: all cores)\n"
           "  -q, --quiet          no progress or summary line on stderr\n"
           "  -v, --verbose        per-epoch loss on stderr\n"
           "  -h, --help           this help\n"
           "  -V, --version        version\n", prog, LINEVAL_DEFAULT_LR, FEWSHOT_DEFAULT_DRAWS);
}

typedef struct {
    const char *train_path, *test_path, *save_path;
    lineval_config cfg;
    int lpc[MAX_LIST], nlpc;      /* labels per class; nlpc 0: the whole training set */
    int draws;
    int json, csv, threads;
    progress_line pl;             /* epochs trained of all the trainings */
    int64_t epochs_done, epochs_total;
} options;

/* The figures of one labels-per-class setting: mean and std over draws. */
typedef struct {
    int lpc, draws;               /* lpc 0: all */
    int64_t n_train;
    double top1, top1_std, top5, top5_std, train_top1, train_top1_std, train_top5,
           train_top5_std, test_loss, test_loss_std, train_loss, train_loss_std;
} result;

/* The CSV table of ssl-lineval(1): a header and one row per setting. */
static void print_csv(const options *o, const result *res, int nres, int64_t ntest) {
    printf("labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test,epochs,lr,wd,"
           "batch,normalize,seed\n");
    for (int i = 0; i < nres; i++) {
        const result *r = &res[i];
        if (r->lpc) printf("%d,", r->lpc);
        else printf("all,");
        printf("%d,", r->draws);
        csv_num(r->top1, ',');
        csv_num(r->top1_std, ',');
        csv_num(r->top5, ',');
        csv_num(r->top5_std, ',');
        printf("%lld,%lld,%d,", (long long)r->n_train, (long long)ntest, o->cfg.epochs);
        csv_num(o->cfg.lr, ',');
        csv_num(o->cfg.wd, ',');
        printf("%d,%s,%llu\n", o->cfg.batch, lineval_norm_name(o->cfg.norm),
               (unsigned long long)o->cfg.seed);
    }
}

static void print_json(const options *o, const result *res, int nres, int64_t ntest, int dim,
                       int nc) {
    const result *r = &res[0];
    printf("{");
    json_num("top1", r->top1, 1);
    json_num("top5", r->top5, 1);
    json_num("train_top1", r->train_top1, 1);
    json_num("train_top5", r->train_top5, 1);
    json_num("test_loss", r->test_loss, 1);
    json_num("train_loss", r->train_loss, 1);
    printf("\"n_train\":%lld,\"n_test\":%lld,\"dim\":%d,\"nclasses\":%d,",
           (long long)r->n_train, (long long)ntest, dim, nc);
    printf("\"epochs\":%d,", o->cfg.epochs);
    json_num("lr", o->cfg.lr, 1);
    printf("\"batch\":%d,", o->cfg.batch);
    json_num("wd", o->cfg.wd, 1);
    json_num("momentum", o->cfg.momentum, 1);
    printf("\"normalize\":\"%s\",\"seed\":%llu,", lineval_norm_name(o->cfg.norm),
           (unsigned long long)o->cfg.seed);
    json_lpc(r->lpc);
    printf("\"draws\":%d,", r->draws);
    json_num("top1_std", r->top1_std, 1);
    json_num("top5_std", r->top5_std, 1);
    json_num("train_top1_std", r->train_top1_std, o->nlpc != 0);
    if (o->nlpc) {
        printf("\"results\":[");
        for (int i = 0; i < nres; i++) {
            r = &res[i];
            printf("%s{", i ? "," : "");
            json_lpc(r->lpc);
            printf("\"draws\":%d,\"n_train\":%lld,", r->draws, (long long)r->n_train);
            json_num("top1", r->top1, 1);
            json_num("top1_std", r->top1_std, 1);
            json_num("top5", r->top5, 1);
            json_num("top5_std", r->top5_std, 1);
            json_num("train_top1", r->train_top1, 1);
            json_num("train_top1_std", r->train_top1_std, 0);
            printf("}");
        }
        printf("]");
    }
    printf("}\n");
}

static void print_text(const options *o, const result *res, int nres) {
    if (!o->nlpc) {
        printf("%-12s %8.4f\n", "train_top1", res[0].train_top1);
        printf("%-12s %8.4f\n", "top1", res[0].top1);
        if (isfinite(res[0].top5)) printf("%-12s %8.4f\n", "top5", res[0].top5);
        return;
    }
    printf("%6s %5s  %-17s %-17s %s\n", "labels", "draws", "train_top1", "top1", "top5");
    for (int i = 0; i < nres; i++) {
        const result *r = &res[i];
        printf("%6d %5d  %.4f \u00b1 %.4f  %.4f \u00b1 %.4f  ", r->lpc, r->draws, r->train_top1,
               r->train_top1_std, r->top1, r->top1_std);
        if (isfinite(r->top5)) printf("%.4f \u00b1 %.4f\n", r->top5, r->top5_std);
        else printf("-\n");
    }
}

static void on_epoch(void *ctx, int e, double lr, double loss, double acc) {
    options *o = ctx;
    o->epochs_done++;
    if (verbosity >= 2)
        info(2, "epoch %d/%d lr %.5g loss %.5f train-batch top1 %.4f", e + 1, o->cfg.epochs, lr,
             loss, acc);
    else
        progress_show(&o->pl, "training", o->epochs_done, o->epochs_total);
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

/* Train on rows x [n] (labels y) and evaluate on them and on te; saves the
 * classifier when o->save_path (the whole-set case only). */
static void train_one(options *o, const float *x, const int32_t *y, int64_t n,
                      const ssl_features *tr, const ssl_features *te, int nc, lineval_acc *atr,
                      lineval_acc *ate) {
    ssl_err err;
    lineval_model m;
    if (lineval_train(&o->cfg, x, y, n, tr->dim, nc, &m, &err)) die("%s: %s", o->train_path, err.msg);
    if (lineval_evaluate(&m, x, y, n, atr, &err)) die("%s: %s", o->train_path, err.msg);
    if (lineval_evaluate(&m, te->x, te->labels, te->n, ate, &err)) die("%s: %s", o->test_path, err.msg);
    if (o->save_path) {
        sv *recipe = recipe_sv(o), *extra = sv_map();
        if (!recipe || !extra) die("out of memory");
        sv_set(extra, "train_top1", sv_float(atr->top1));
        sv_set(extra, "top1", sv_float(ate->top1));
        sv_set(extra, "train", sv_str(o->train_path));
        sv_set(extra, "test", sv_str(o->test_path));
        const char *const *cls = tr->classes && tr->nclasses == nc ? (const char *const *)tr->classes
                                 : te->classes && te->nclasses == nc ? (const char *const *)te->classes
                                 : NULL;
        int bad = lineval_save(&m, o->save_path, cls, recipe, extra, &err);
        sv_free(recipe);
        sv_free(extra);
        if (bad) {
            if (!strncmp(err.msg, o->save_path, strlen(o->save_path))) die("%s", err.msg);
            die("%s: %s", o->save_path, err.msg);
        }
    }
    lineval_model_destroy(&m);
}

/* The figures of labels per class o->lpc[li] (or the whole set when
 * o->nlpc is 0), over its draws. */
static void run_set(options *o, int li, const ssl_features *tr, const ssl_features *te, int nc,
                    result *r) {
    int draws = o->nlpc ? o->draws : 1, lpc = o->nlpc ? o->lpc[li] : 0;
    int64_t m = o->nlpc ? (int64_t)nc * lpc : tr->n;
    double *v = malloc((size_t)draws * 6 * sizeof *v);   /* 6 figures x draws */
    float *x = o->nlpc ? malloc((size_t)m * tr->dim * sizeof *x) : NULL;
    int32_t *y = o->nlpc ? malloc((size_t)m * sizeof *y) : NULL;
    if (!v || (o->nlpc && (!x || !y))) die("out of memory");
    for (int d = 0; d < draws; d++) {
        lineval_acc atr, ate;
        if (o->nlpc) {
            draw_labelled_subset(tr, nc, o->train_path, lpc, o->cfg.seed, d, x, y);
            info(2, "labels per class %d, draw %d/%d", lpc, d + 1, draws);
            train_one(o, x, y, m, tr, te, nc, &atr, &ate);
        } else {
            train_one(o, tr->x, tr->labels, tr->n, tr, te, nc, &atr, &ate);
        }
        double f[6] = { ate.top1, ate.top5, atr.top1, atr.top5, ate.loss, atr.loss };
        for (int i = 0; i < 6; i++) v[i * draws + d] = f[i];
    }
    r->lpc = lpc;
    r->draws = draws;
    r->n_train = m;
    fewshot_mean_std(v + 0 * draws, draws, &r->top1, &r->top1_std);
    fewshot_mean_std(v + 1 * draws, draws, &r->top5, &r->top5_std);
    fewshot_mean_std(v + 2 * draws, draws, &r->train_top1, &r->train_top1_std);
    fewshot_mean_std(v + 3 * draws, draws, &r->train_top5, &r->train_top5_std);
    fewshot_mean_std(v + 4 * draws, draws, &r->test_loss, &r->test_loss_std);
    fewshot_mean_std(v + 5 * draws, draws, &r->train_loss, &r->train_loss_std);
    free(v); free(x); free(y);
}

static int run(options *o) {
    ssl_features tr, te;
    double t0 = ssl_clock();
    int nc = load_feature_pair(&tr, &te, o->train_path, o->test_path, 1);
    if (o->nlpc) check_labels_per_class(&tr, nc, o->train_path, o->lpc, o->nlpc);
    o->cfg.on_epoch = on_epoch;
    o->cfg.ctx = o;
    double t1 = ssl_clock();
    int nres = o->nlpc ? o->nlpc : 1;
    result *res = calloc((size_t)nres, sizeof *res);
    if (!res) die("out of memory");
    progress_init(&o->pl, "epochs");
    o->epochs_total = (int64_t)nres * (o->nlpc ? o->draws : 1) * o->cfg.epochs;
    for (int i = 0; i < nres; i++) run_set(o, i, &tr, &te, nc, &res[i]);
    progress_end(&o->pl);
    double t2 = ssl_clock();
    if (o->json) print_json(o, res, nres, te.n, tr.dim, nc);
    else if (o->csv) print_csv(o, res, nres, te.n);
    else print_text(o, res, nres);
    if (fflush(stdout) || ferror(stdout)) die("standard output: write error");
    if (o->nlpc)
        info(1, "linear eval: %d draw%s of %d label-per-class setting%s (of %lld train rows), "
             "%lld test rows of %d, %d classes: load %.2f s, train %.2f s (%d epochs each)",
             o->draws, o->draws == 1 ? "" : "s", o->nlpc, o->nlpc == 1 ? "" : "s",
             (long long)tr.n, (long long)te.n, tr.dim, nc, t1 - t0, t2 - t1, o->cfg.epochs);
    else
        info(1, "linear eval: %lld train, %lld test rows of %d, %d classes: load %.2f s, "
             "train %.2f s (%d epochs)", (long long)tr.n, (long long)te.n, tr.dim, nc, t1 - t0,
             t2 - t1, o->cfg.epochs);
    free(res);
    features_destroy(&tr);
    features_destroy(&te);
    return 0;
}

int main(int argc, char **argv) {
    enum { OPT_EPOCHS = 256, OPT_LR, OPT_BATCH, OPT_WD, OPT_MOMENTUM, OPT_NORMALIZE,
           OPT_SEED, OPT_SAVE, OPT_JSON, OPT_CSV, OPT_LPC, OPT_DRAWS, OPT_THREADS };
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
        { "labels-per-class", required_argument, NULL, OPT_LPC },
        { "draws", required_argument, NULL, OPT_DRAWS },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    static const char *const norms[] = { "none", "l2", "standardize", NULL };
    options o = { 0 };
    long long ll[MAX_LIST];
    int c, has_draws = 0;
    lineval_config_default(&o.cfg);
    tool_init(argc, argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":qvhV", longs, NULL)) != -1) {
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
        case OPT_LPC:
            o.nlpc = parse_int_list("--labels-per-class", optarg, ll, MAX_LIST, 1, 1000000000);
            for (int i = 0; i < o.nlpc; i++) o.lpc[i] = (int)ll[i];
            break;
        case OPT_DRAWS:
            o.draws = (int)parse_int("--draws", optarg, 1, 100000);
            has_draws = 1;
            break;
        case OPT_THREADS: o.threads = (int)parse_int("--threads", optarg, 0, 1024); break;
        case 'q': verbosity = 0; break;
        case 'v': verbosity = 2; break;
        case 'h': usage(); return 0;
        case 'V': print_version();
        default: bad_option(c, argv);
        }
    }
    if (o.json && o.csv) usage_error("--csv and --json cannot be used together");
    if (has_draws && !o.nlpc) usage_error("--draws needs --labels-per-class");
    if (o.nlpc && o.save_path)
        usage_error("--save keeps one classifier; not with --labels-per-class");
    if (!has_draws) o.draws = FEWSHOT_DEFAULT_DRAWS;
    if (argc - optind != 2) usage_error("expected TRAIN_FEATURES TEST_FEATURES");
    o.train_path = argv[optind];
    o.test_path = argv[optind + 1];
    if (!strcmp(o.train_path, "-") && !strcmp(o.test_path, "-"))
        usage_error("only one of TRAIN_FEATURES and TEST_FEATURES can be standard input");
    refuse_tty_input(o.train_path);
    refuse_tty_input(o.test_path);
    ssl_set_threads(o.threads);
    return run(&o);
}
