/* ssl-knn: weighted kNN accuracy of test features against training
 * features (the NPID protocol, ssl-method(7) EVALUATION; eval/knn.h). Reads
 * two features (or dataset) streams, prints a table of k, sigma, top-1,
 * top-5, a CSV table with --csv or one JSON object with --json. With
 * --labels-per-class the neighbours come from class-balanced labelled
 * subsets of the training set (lib/eval/fewshot.h), and every figure is a
 * mean +- std over --draws subsets. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "nn/ops/ops.h"
#include "stream/dataset.h"
#include "eval/fewshot.h"
#include "eval/knn.h"

#define MAX_LIST 64

static void usage(void) {
    printf("usage: %s [options] TRAIN_FEATURES [TEST_FEATURES]\n"
           "Weighted kNN evaluation: for each test row, the k most cosine-similar training\n"
           "rows vote exp(sim/sigma) for their class. Inputs are features or dataset\n"
           "streams; TEST_FEATURES omitted or '-' is standard input.\n"
           "  -k, --k LIST         neighbour counts, comma-separated (default 200; clipped\n"
           "                       to the training rows, with a notice)\n"
           "  -s, --sigma LIST     temperatures, comma-separated (default 0.1)\n"
           "      --labels-per-class LIST\n"
           "                       neighbours from N labelled training rows per class,\n"
           "                       class-balanced, for each N of the list (k is clipped to\n"
           "                       N x classes); mean and std over --draws subsets\n"
           "      --draws D        subsets per N (default %d)\n"
           "      --seed S         seed of the subsets (default 1)\n"
           "      --csv            a CSV table on stdout (header line, one row per N, k, sigma)\n"
           "      --json           one JSON object on stdout\n"
           "      --threads N      threads (default: all cores)\n"
           "  -q, --quiet          no timing line or notices on stderr\n"
           "  -v, --verbose        per-class top-1 as well\n"
           "  -h, --help           this help\n"
           "  -V, --version        version\n", prog, FEWSHOT_DEFAULT_DRAWS);
}

typedef struct {
    const char *train_path, *test_path;
    int k[MAX_LIST], nk;
    double sigma[MAX_LIST];
    int nsigma;
    int lpc[MAX_LIST], nlpc;      /* labels per class; nlpc 0: the whole training set */
    int draws;
    uint64_t seed;
    int json, csv, threads;
} options;

/* One result: a (labels per class, k, sigma) triple, mean and std over draws. */
typedef struct {
    int lpc;                      /* 0: all */
    int draws, k;
    double sigma;
    double top1, top1_std, top5, top5_std;   /* top5 NAN with <= 5 classes */
    int64_t n_train;
} row;

/* Per-class top-1 of the first result: hits summed over draws. */
typedef struct {
    int64_t *correct, *count;     /* [nclasses]; count is per draw */
    int draws;
} per_class;

static void json_str(const char *s) {
    sv *v = sv_str(s);
    if (!v) die("out of memory");
    sv_write_json(v, stdout, -1);
    sv_free(v);
}

static void print_per_class(const per_class *pc, const row *r, const ssl_features *tr, int nc,
                            int json) {
    if (json) printf(",\"per_class\":[");
    else printf("\nper-class top-1 (k=%d, sigma=%g)\n%-6s %-24s %8s %8s\n", r->k, r->sigma,
                "class", "name", "n", "top1");
    for (int c = 0; c < nc; c++) {
        double a = pc->count[c] ? (double)pc->correct[c] / ((double)pc->count[c] * pc->draws)
                                : NAN;
        const char *name = tr->classes && c < tr->nclasses ? tr->classes[c] : "";
        if (json) {
            printf("%s{\"class\":%d,\"name\":", c ? "," : "", c);
            json_str(name);
            printf(",\"n\":%lld,", (long long)pc->count[c]);
            json_num("top1", a, 0);
            printf("}");
        } else {
            printf("%-6d %-24s %8lld %8.4f\n", c, name, (long long)pc->count[c], a);
        }
    }
    if (json) printf("]");
}

static void print_json(const options *o, const row *rows, int nrows, const ssl_features *tr,
                       int64_t ntest, int nc, const per_class *pc) {
    printf("{");
    json_num("top1", rows[0].top1, 1);
    json_num("top5", rows[0].top5, 1);
    printf("\"k\":%d,", rows[0].k);
    json_num("sigma", rows[0].sigma, 1);
    printf("\"n_train\":%lld,\"n_test\":%lld,\"dim\":%d,\"nclasses\":%d,",
           (long long)rows[0].n_train, (long long)ntest, tr->dim, nc);
    json_lpc(rows[0].lpc);
    printf("\"draws\":%d,", rows[0].draws);
    if (o->nlpc) printf("\"seed\":%llu,", (unsigned long long)o->seed);
    json_num("top1_std", rows[0].top1_std, 1);
    json_num("top5_std", rows[0].top5_std, 1);
    printf("\"results\":[");
    for (int i = 0; i < nrows; i++) {
        const row *r = &rows[i];
        printf("%s{\"k\":%d,", i ? "," : "", r->k);
        json_num("sigma", r->sigma, 1);
        json_num("top1", r->top1, 1);
        json_num("top5", r->top5, 1);
        json_num("top1_std", r->top1_std, 1);
        json_num("top5_std", r->top5_std, 1);
        json_lpc(r->lpc);
        printf("\"draws\":%d,\"n_train\":%lld}", r->draws, (long long)r->n_train);
    }
    printf("]");
    if (verbosity >= 2) print_per_class(pc, &rows[0], tr, nc, 1);
    printf("}\n");
}

/* The CSV table of ssl-knn(1): one row per (labels per class, k, sigma). */
static void print_csv(const row *rows, int nrows, int64_t ntest) {
    printf("k,sigma,labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test\n");
    for (int i = 0; i < nrows; i++) {
        const row *r = &rows[i];
        printf("%d,", r->k);
        csv_num(r->sigma, ',');
        if (r->lpc) printf("%d,", r->lpc);
        else printf("all,");
        printf("%d,", r->draws);
        csv_num(r->top1, ',');
        csv_num(r->top1_std, ',');
        csv_num(r->top5, ',');
        csv_num(r->top5_std, ',');
        printf("%lld,%lld\n", (long long)r->n_train, (long long)ntest);
    }
}

static void print_table(const options *o, const row *rows, int nrows) {
    if (!o->nlpc) {
        printf("%6s %8s %8s %8s\n", "k", "sigma", "top1", "top5");
        for (int i = 0; i < nrows; i++) {
            printf("%6d %8g %8.4f ", rows[i].k, rows[i].sigma, rows[i].top1);
            if (isfinite(rows[i].top5)) printf("%8.4f\n", rows[i].top5);
            else printf("%8s\n", "-");
        }
        return;
    }
    printf("%6s %5s %6s %8s  %-17s %s\n", "labels", "draws", "k", "sigma", "top1", "top5");
    for (int i = 0; i < nrows; i++) {
        const row *r = &rows[i];
        printf("%6d %5d %6d %8g  %.4f \u00b1 %.4f  ", r->lpc, r->draws, r->k, r->sigma, r->top1,
               r->top1_std);
        if (isfinite(r->top5)) printf("%.4f \u00b1 %.4f\n", r->top5, r->top5_std);
        else printf("-\n");
    }
}

/* Evaluate rows [0, n) of train against te with the given k list. */
static void evaluate(const options *o, const float *x, const int32_t *y, int64_t n,
                     const ssl_features *te, int dim, int nc, const int *k, knn_report *r) {
    knn_config cfg = { k, o->nk, o->sigma, o->nsigma, 0, 0, 1, NULL, NULL };
    ssl_err err;
    if (knn_evaluate(x, y, n, te->x, te->labels, te->n, dim, nc, &cfg, r, &err))
        die("%s: %s", o->train_path, err.msg);
}

/* All rows for labels per class lpc[li] (or the whole set when o->nlpc is
 * 0) into rows [nk * nsigma]; per-class hits of the first pair into pc
 * when pc != NULL. */
static void run_set(const options *o, int li, const ssl_features *tr, const ssl_features *te,
                    int nc, row *rows, per_class *pc) {
    int npair = o->nk * o->nsigma, draws = o->nlpc ? o->draws : 1;
    int lpc = o->nlpc ? o->lpc[li] : 0;
    int64_t m = o->nlpc ? (int64_t)nc * lpc : tr->n;
    int k[MAX_LIST];
    for (int i = 0; i < o->nk; i++) {
        k[i] = o->k[i] < m ? o->k[i] : (int)m;
        if (k[i] < o->k[i] && lpc)
            info(1, "notice: -k %d clipped to the %lld labelled training rows of "
                 "--labels-per-class %d", o->k[i], (long long)m, lpc);
        else if (k[i] < o->k[i])
            info(1, "notice: -k %d clipped to the %lld rows of %s", o->k[i], (long long)m,
                 strcmp(o->train_path, "-") ? o->train_path : "<stdin>");
    }
    double *t1 = malloc((size_t)npair * draws * sizeof *t1);
    double *t5 = malloc((size_t)npair * draws * sizeof *t5);
    float *x = o->nlpc ? malloc((size_t)m * tr->dim * sizeof *x) : NULL;
    int32_t *y = o->nlpc ? malloc((size_t)m * sizeof *y) : NULL;
    if (!t1 || !t5 || (o->nlpc && (!x || !y))) die("out of memory");
    for (int d = 0; d < draws; d++) {
        knn_report r;
        if (o->nlpc) {
            draw_labelled_subset(tr, nc, o->train_path, lpc, o->seed, d, x, y);
            evaluate(o, x, y, m, te, tr->dim, nc, k, &r);
        } else {
            evaluate(o, tr->x, tr->labels, tr->n, te, tr->dim, nc, k, &r);
        }
        for (int i = 0; i < npair; i++) {
            t1[i * draws + d] = r.res[i].top1;
            t5[i * draws + d] = r.res[i].top5;
        }
        if (pc)
            for (int c = 0; c < nc; c++) {
                pc->correct[c] += r.res[0].class_correct1[c];
                pc->count[c] = r.class_count[c];
            }
        knn_report_destroy(&r);
    }
    for (int i = 0; i < npair; i++) {
        row *w = &rows[i];
        w->lpc = lpc;
        w->draws = draws;
        w->k = k[i / o->nsigma];
        w->sigma = o->sigma[i % o->nsigma];
        w->n_train = m;
        fewshot_mean_std(t1 + i * draws, draws, &w->top1, &w->top1_std);
        fewshot_mean_std(t5 + i * draws, draws, &w->top5, &w->top5_std);
    }
    free(t1); free(t5); free(x); free(y);
}

static int run(const options *o) {
    ssl_features tr, te;
    double t0 = ssl_clock();
    int nc = load_feature_pair(&tr, &te, o->train_path, o->test_path, 0);
    if (o->nlpc) check_labels_per_class(&tr, nc, o->train_path, o->lpc, o->nlpc);
    /* Normalise in place (the library would otherwise copy both sets). */
    int64_t bad;
    if ((bad = l2norm_forward(tr.x, tr.x, tr.n, tr.dim, L2_EPS)) >= 0)
        die("%s: row %lld holds a value that is not finite", o->train_path, (long long)bad);
    if ((bad = l2norm_forward(te.x, te.x, te.n, te.dim, L2_EPS)) >= 0)
        die("%s: row %lld holds a value that is not finite", o->test_path, (long long)bad);
    double t1 = ssl_clock();
    int nsets = o->nlpc ? o->nlpc : 1, npair = o->nk * o->nsigma;
    row *rows = calloc((size_t)nsets * npair, sizeof *rows);
    per_class pc = { calloc((size_t)nc, sizeof(int64_t)), calloc((size_t)nc, sizeof(int64_t)),
                     o->nlpc ? o->draws : 1 };
    if (!rows || !pc.correct || !pc.count) die("out of memory");
    for (int s = 0; s < nsets; s++)
        run_set(o, s, &tr, &te, nc, rows + s * npair, s == 0 ? &pc : NULL);
    double t2 = ssl_clock();
    if (o->json) {
        print_json(o, rows, nsets * npair, &tr, te.n, nc, &pc);
    } else if (o->csv) {
        print_csv(rows, nsets * npair, te.n);
    } else {
        print_table(o, rows, nsets * npair);
        if (verbosity >= 2) print_per_class(&pc, &rows[0], &tr, nc, 0);
    }
    if (fflush(stdout) || ferror(stdout)) die("standard output: write error");
    if (o->nlpc)
        info(1, "%lld test x %lld training rows of %d, %d draw%s of %d label-per-class "
             "setting%s (seed %llu): load %.2f s, kNN %.2f s", (long long)te.n,
             (long long)tr.n, tr.dim, o->draws, o->draws == 1 ? "" : "s", o->nlpc,
             o->nlpc == 1 ? "" : "s", (unsigned long long)o->seed, t1 - t0, t2 - t1);
    else
        info(1, "%lld test x %lld training rows of %d: load %.2f s, kNN %.2f s",
             (long long)te.n, (long long)tr.n, tr.dim, t1 - t0, t2 - t1);
    free(rows);
    free(pc.correct);
    free(pc.count);
    features_destroy(&tr);
    features_destroy(&te);
    return 0;
}

int main(int argc, char **argv) {
    enum { OPT_JSON = 256, OPT_CSV, OPT_LPC, OPT_DRAWS, OPT_SEED, OPT_THREADS };
    static const struct option longs[] = {
        { "k", required_argument, NULL, 'k' },
        { "sigma", required_argument, NULL, 's' },
        { "labels-per-class", required_argument, NULL, OPT_LPC },
        { "draws", required_argument, NULL, OPT_DRAWS },
        { "seed", required_argument, NULL, OPT_SEED },
        { "json", no_argument, NULL, OPT_JSON },
        { "csv", no_argument, NULL, OPT_CSV },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    options o = { .k = { 200 }, .nk = 1, .sigma = { 0.1 }, .nsigma = 1, .seed = 1 };
    long long kl[MAX_LIST];
    int c, has_draws = 0;
    tool_init(argc, argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":k:s:qvhV", longs, NULL)) != -1) {
        switch (c) {
        case 'k':
            o.nk = parse_int_list("--k", optarg, kl, MAX_LIST, 1, 100000000);
            for (int i = 0; i < o.nk; i++) o.k[i] = (int)kl[i];
            break;
        case 's':
            o.nsigma = parse_double_list("--sigma", optarg, o.sigma, MAX_LIST, 1e-6, 1e6);
            break;
        case OPT_LPC:
            o.nlpc = parse_int_list("--labels-per-class", optarg, kl, MAX_LIST, 1, 1000000000);
            for (int i = 0; i < o.nlpc; i++) o.lpc[i] = (int)kl[i];
            break;
        case OPT_DRAWS:
            o.draws = (int)parse_int("--draws", optarg, 1, 100000);
            has_draws = 1;
            break;
        case OPT_SEED: o.seed = parse_seed("--seed", optarg); break;
        case OPT_JSON: o.json = 1; break;
        case OPT_CSV: o.csv = 1; break;
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
    if (!has_draws) o.draws = FEWSHOT_DEFAULT_DRAWS;
    int nops = argc - optind;
    if (nops < 1 || nops > 2) usage_error("expected TRAIN_FEATURES [TEST_FEATURES]");
    o.train_path = argv[optind];
    o.test_path = nops == 2 ? argv[optind + 1] : "-";
    if (!strcmp(o.train_path, "-") && !strcmp(o.test_path, "-"))
        usage_error("only one of TRAIN_FEATURES and TEST_FEATURES can be standard input");
    refuse_tty_input(o.train_path);
    refuse_tty_input(o.test_path);
    ssl_set_threads(o.threads);
    return run(&o);
}
