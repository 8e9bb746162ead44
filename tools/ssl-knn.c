/* ssl-knn: weighted kNN accuracy of test features against training
 * features (the NPID protocol, METHOD.md section 8; lib/knn.h). Reads two
 * features (or dataset) streams, prints a table of k, sigma, top-1, top-5,
 * a CSV table with --csv or one JSON object with --json. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "stream/dataset.h"
#include "eval/knn.h"

#define MAX_LIST 64

static void usage(void) {
    printf("usage: %s [options] TRAIN_FEATURES [TEST_FEATURES]\n"
           "Weighted kNN evaluation: for each test row, the k most cosine-similar training\n"
           "rows vote exp(sim/sigma) for their class. Inputs are features or dataset\n"
           "streams; TEST_FEATURES omitted or '-' is standard input.\n"
           "  -k, --k LIST         neighbour counts, comma-separated (default 200)\n"
           "  -s, --sigma LIST     temperatures, comma-separated (default 0.1)\n"
           "      --csv            a CSV table on stdout (header line, one row per pair)\n"
           "      --json           one JSON object on stdout\n"
           "      --threads N      threads (default: all cores)\n"
           "  -q, --quiet          no timing line on stderr\n"
           "  -v, --verbose        per-class top-1 as well\n"
           "      --help           this help\n"
           "      --version        version\n", prog);
}

typedef struct {
    const char *train_path, *test_path;
    int k[MAX_LIST], nk;
    double sigma[MAX_LIST];
    int nsigma;
    int json, csv, threads;
} options;

/* The CSV table of ssl-knn(1): one row per (k, sigma) pair. */
static void print_csv(const knn_report *r) {
    printf("k,sigma,labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test\n");
    for (int i = 0; i < r->nresults; i++) {
        printf("%d,", r->res[i].k);
        csv_num(r->res[i].sigma, ',');
        printf("all,1,");
        csv_num(r->res[i].top1, ',');
        csv_num(0, ',');
        csv_num(r->res[i].top5, ',');
        csv_num(r->has_top5 ? 0 : NAN, ',');
        printf("%lld,%lld\n", (long long)r->n_train, (long long)r->n_test);
    }
}


static void json_str(const char *s) {
    sv *v = sv_str(s);
    if (!v) die("out of memory");
    sv_write_json(v, stdout, -1);
    sv_free(v);
}

static void print_per_class(const knn_report *r, const ssl_features *tr, int json) {
    const knn_result *f = &r->res[0];
    if (json) printf(",\"per_class\":[");
    else printf("\nper-class top-1 (k=%d, sigma=%g)\n%-6s %-24s %8s %8s\n", f->k, f->sigma,
                "class", "name", "n", "top1");
    for (int c = 0; c < r->nclasses; c++) {
        double a = r->class_count[c] ? (double)f->class_correct1[c] / r->class_count[c] : NAN;
        const char *name = tr->classes && c < tr->nclasses ? tr->classes[c] : "";
        if (json) {
            printf("%s{\"class\":%d,\"name\":", c ? "," : "", c);
            json_str(name);
            printf(",\"n\":%lld,", (long long)r->class_count[c]);
            json_num("top1", a, 0);
            printf("}");
        } else {
            printf("%-6d %-24s %8lld %8.4f\n", c, name, (long long)r->class_count[c], a);
        }
    }
    if (json) printf("]");
}

static int run(const options *o) {
    ssl_features tr, te;
    double t0 = now_seconds();
    int nc = load_feature_pair(&tr, &te, o->train_path, o->test_path, 0);
    for (int i = 0; i < o->nk; i++)
        if (o->k[i] > tr.n)
            die("%s: k = %d is larger than the training set (%lld rows)", o->train_path,
                o->k[i], (long long)tr.n);
    /* Normalise in place (the library would otherwise copy both sets). */
    int64_t bad;
    if (knn_normalize_rows(tr.x, tr.n, tr.dim, &bad))
        die("%s: row %lld holds a value that is not finite", o->train_path, (long long)bad);
    if (knn_normalize_rows(te.x, te.n, te.dim, &bad))
        die("%s: row %lld holds a value that is not finite", o->test_path, (long long)bad);
    double t1 = now_seconds();
    knn_config cfg = { o->k, o->nk, o->sigma, o->nsigma, 0, 0, 1 };
    knn_report r;
    char err[KNN_ERRLEN];
    if (knn_evaluate(tr.x, tr.labels, tr.n, te.x, te.labels, te.n, tr.dim, nc, &cfg, &r, err))
        die("%s: %s", o->train_path, err);
    double t2 = now_seconds();
    if (o->json) {
        printf("{");
        json_num("top1", r.res[0].top1, 1);
        json_num("top5", r.res[0].top5, 1);
        printf("\"k\":%d,", r.res[0].k);
        json_num("sigma", r.res[0].sigma, 1);
        printf("\"n_train\":%lld,\"n_test\":%lld,\"dim\":%d,\"nclasses\":%d,\"results\":[",
               (long long)tr.n, (long long)te.n, tr.dim, nc);
        for (int i = 0; i < r.nresults; i++) {
            printf("%s{\"k\":%d,", i ? "," : "", r.res[i].k);
            json_num("sigma", r.res[i].sigma, 1);
            json_num("top1", r.res[i].top1, 1);
            json_num("top5", r.res[i].top5, 0);
            printf("}");
        }
        printf("]");
        if (verbosity >= 2) print_per_class(&r, &tr, 1);
        printf("}\n");
    } else if (o->csv) {
        print_csv(&r);
    } else {
        printf("%6s %8s %8s %8s\n", "k", "sigma", "top1", "top5");
        for (int i = 0; i < r.nresults; i++) {
            printf("%6d %8g %8.4f ", r.res[i].k, r.res[i].sigma, r.res[i].top1);
            if (r.has_top5) printf("%8.4f\n", r.res[i].top5);
            else printf("%8s\n", "-");
        }
        if (verbosity >= 2) print_per_class(&r, &tr, 0);
    }
    if (fflush(stdout) || ferror(stdout)) die("standard output: write error");
    info(1, "%lld test x %lld training rows of %d: load %.2f s, kNN %.2f s",
         (long long)te.n, (long long)tr.n, tr.dim, t1 - t0, t2 - t1);
    knn_report_destroy(&r);
    features_destroy(&tr);
    features_destroy(&te);
    return 0;
}

int main(int argc, char **argv) {
    enum { OPT_JSON = 256, OPT_CSV, OPT_THREADS, OPT_HELP, OPT_VERSION };
    static const struct option longs[] = {
        { "k", required_argument, NULL, 'k' },
        { "sigma", required_argument, NULL, 's' },
        { "json", no_argument, NULL, OPT_JSON },
        { "csv", no_argument, NULL, OPT_CSV },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    options o = { .k = { 200 }, .nk = 1, .sigma = { 0.1 }, .nsigma = 1 };
    long long kl[MAX_LIST];
    int c;
    tool_init(argc, argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":k:s:qv", longs, NULL)) != -1) {
        switch (c) {
        case 'k':
            o.nk = parse_int_list("--k", optarg, kl, MAX_LIST, 1, 100000000);
            for (int i = 0; i < o.nk; i++) o.k[i] = (int)kl[i];
            break;
        case 's':
            o.nsigma = parse_double_list("--sigma", optarg, o.sigma, MAX_LIST, 1e-6, 1e6);
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
    int nops = argc - optind;
    if (nops < 1 || nops > 2) usage_error("expected TRAIN_FEATURES [TEST_FEATURES]");
    o.train_path = argv[optind];
    o.test_path = nops == 2 ? argv[optind + 1] : "-";
    if (!strcmp(o.train_path, "-") && !strcmp(o.test_path, "-"))
        usage_error("only one of TRAIN_FEATURES and TEST_FEATURES can be standard input");
    set_threads(o.threads);
    return run(&o);
}
