/* common.c: the shared front end of the ssl-* tools (see common.h). */
#include "common.h"
#include "eval/pair.h"
#include "nn/ops/ops.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "eval/fewshot.h"
#include "stream/dataset.h"
#include "util/threads.h"

const char *prog = "ssl";
int verbosity = 1;

void tool_init(int argc, char **argv) {
    (void)argc;
    if (argv && argv[0]) {
        const char *s = strrchr(argv[0], '/');
        prog = s ? s + 1 : argv[0];
    }
}

static void vmsg(const char *fmt, va_list ap) {
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    /* One line: fold any newline a message may carry. */
    for (char *p = buf; *p; p++) if (*p == '\n') *p = ' ';
    fprintf(stderr, "%s: %s\n", prog, buf);
}

void warnx_(const char *fmt, ...) {
    va_list ap; va_start(ap, fmt); vmsg(fmt, ap); va_end(ap);
}

void die(const char *fmt, ...) {
    va_list ap; va_start(ap, fmt); vmsg(fmt, ap); va_end(ap);
    exit(EXIT_RUNTIME);
}

void usage_error(const char *fmt, ...) {
    char buf[2048];
    va_list ap; va_start(ap, fmt); vsnprintf(buf, sizeof buf, fmt, ap); va_end(ap);
    fprintf(stderr, "%s: %s (try '%s --help')\n", prog, buf, prog);
    exit(EXIT_USAGE);
}

void info(int level, const char *fmt, ...) {
    if (verbosity < level) return;
    va_list ap; va_start(ap, fmt); vmsg(fmt, ap); va_end(ap);
}

void bad_option(int c, char **argv) {
    extern int optind, optopt;
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        usage_error("option '%s' needs a value", arg);
    if (optopt)
        usage_error("unknown option '-%c'", optopt);
    usage_error("unknown option '%s'", arg);
}

long long parse_int(const char *flag, const char *s, long long lo, long long hi) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        usage_error("%s: '%s' is not an integer", flag, s);
    if (v < lo || v > hi)
        usage_error("%s: %lld is out of range [%lld, %lld]", flag, v, lo, hi);
    return v;
}

double parse_double(const char *flag, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        usage_error("%s: '%s' is not a number", flag, s);
    if (v < lo || v > hi)
        usage_error("%s: %g is out of range [%g, %g]", flag, v, lo, hi);
    return v;
}

uint64_t parse_seed(const char *flag, const char *s) {
    char *end;
    errno = 0;
    if (!*s || *s == '-') usage_error("%s: '%s' is not a non-negative integer", flag, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) usage_error("%s: '%s' is not a non-negative integer", flag, s);
    return v;
}

static int split_list(const char *flag, const char *s, char items[][64], int max) {
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (n >= max) usage_error("%s: more than %d values", flag, max);
        if (len == 0 || len >= 64) usage_error("%s: bad list '%s'", flag, s);
        memcpy(items[n], p, len);
        items[n][len] = 0;
        n++;
        if (!c) break;
        p = c + 1;
    }
    return n;
}

int parse_int_list(const char *flag, const char *s, long long *out, int max, long long lo, long long hi) {
    char items[64][64];
    if (max > 64) max = 64;
    int n = split_list(flag, s, items, max);
    for (int i = 0; i < n; i++) out[i] = parse_int(flag, items[i], lo, hi);
    return n;
}

int parse_double_list(const char *flag, const char *s, double *out, int max, double lo, double hi) {
    char items[64][64];
    if (max > 64) max = 64;
    int n = split_list(flag, s, items, max);
    for (int i = 0; i < n; i++) out[i] = parse_double(flag, items[i], lo, hi);
    return n;
}

int parse_choice(const char *flag, const char *s, const char *const *choices) {
    char list[512] = "";
    for (int i = 0; choices[i]; i++) {
        if (!strcmp(s, choices[i])) return i;
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    usage_error("%s: '%s' is not one of %s", flag, s, list);
}

int conv_mode_from_env(void) {
    const char *v = getenv("SSL_CONV_WINOGRAD");
    if (!v || !*v) return CONV_WINOGRAD_AUTO;
    if ((v[0] == '0' || v[0] == '1' || v[0] == '2') && v[1] == 0) return v[0] - '0';
    usage_error("SSL_CONV_WINOGRAD: '%s' is not 0, 1 or 2", v);
}

void refuse_tty_output(const char *path) {
    if ((!path || !strcmp(path, "-")) && isatty(STDOUT_FILENO))
        usage_error("refusing to write binary data to a terminal; use -o FILE or a pipe");
}

#ifndef SSL_COMMIT
#define SSL_COMMIT ""
#endif

void print_version(void) {
    if (SSL_COMMIT[0]) printf("%s %s (%s)\n", prog, SSL_VERSION, SSL_COMMIT);
    else printf("%s %s\n", prog, SSL_VERSION);
    exit(0);
}

double peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return ru.ru_maxrss / 1024.0;
}

void json_num(const char *key, double x, int comma) {
    if (isfinite(x)) printf("\"%s\":%.10g%s", key, x, comma ? "," : "");
    else printf("\"%s\":null%s", key, comma ? "," : "");
}

void json_lpc(int lpc) {
    if (lpc) printf("\"labels_per_class\":%d,", lpc);
    else printf("\"labels_per_class\":\"all\",");
}

void csv_num(double x, char sep) {
    if (isfinite(x)) printf("%.10g%c", x, sep);
    else putchar(sep);
}

/* ---- evaluation sets (ssl-knn, ssl-lineval) ---- */

int load_feature_pair(ssl_features *tr, ssl_features *te, const char *train_path,
                      const char *test_path, int check_finite) {
    ssl_err err;
    int nc;
    if (eval_load_pair(tr, te, train_path, test_path, check_finite, &nc, &err))
        die("%s", err.msg);
    return nc;
}

void check_labels_per_class(const ssl_features *tr, int nc, const char *train_path,
                            const int *lpc, int n) {
    ssl_err err;
    if (eval_check_labels_per_class(tr, nc, train_path, lpc, n, &err)) die("%s", err.msg);
}

void draw_labelled_subset(const ssl_features *tr, int nc, const char *train_path, int per_class,
                          uint64_t seed, int draw, float *x, int32_t *y) {
    ssl_err err;
    if (eval_labelled_subset(tr, nc, per_class, seed, draw, x, y, &err))
        die("%s: --labels-per-class %d: %s", train_path, per_class, err.msg);
}
