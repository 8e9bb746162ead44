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
#include "run/dist.h"
#include "stream/dataset.h"
#include "util/mem.h"
#include "util/threads.h"

const char *prog = "ssl";
int verbosity = 1;
int tool_rank = 0, tool_ranks = 1;

static int env_int(const char *a, const char *b, const char *c, int dflt) {
    const char *s = getenv(a);
    if (!s && b) s = getenv(b);
    if (!s && c) s = getenv(c);
    return s && *s ? atoi(s) : dflt;
}

void tool_init(int argc, char **argv) {
    (void)argc;
    if (argv && argv[0]) {
        const char *s = strrchr(argv[0], '/');
        prog = s ? s + 1 : argv[0];
    }
    tool_ranks = env_int("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", 1);
    tool_rank = env_int("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", 0);
    if (tool_ranks < 1) tool_ranks = 1;
    const char *v = getenv("SSL_NO_HUGEPAGES");
    if (v && *v && strcmp(v, "0")) {
        if (strcmp(v, "1")) usage_error("SSL_NO_HUGEPAGES: '%s' is not 0 or 1", v);
        ssl_set_huge_pages(0);
    }
}

void tool_single_process(void) {
    if (tool_ranks > 1)
        usage_error("runs as one process, not as %d MPI ranks (only ssl-train is data "
                    "parallel): run it without mpirun", tool_ranks);
}

void tool_dist_start(int *argc, char ***argv) {
    if (tool_ranks <= 1 && !dist_available()) return;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
        return;                   /* not under mpirun: one process, no MPI */
    ssl_err err;
    if (dist_init(argc, argv, &err)) die("%s", err.msg);
    tool_rank = dist_rank();
    tool_ranks = dist_size();
    if (tool_rank != 0) verbosity = 0;
}

void tool_dist_end(void) { dist_finalize(); }

static void vmsg(const char *fmt, va_list ap) {
    if (tool_rank != 0) return;
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
    dist_abort(EXIT_RUNTIME);     /* MPI still active: this rank alone failed */
    exit(EXIT_RUNTIME);
}

void usage_error(const char *fmt, ...) {
    char buf[2048];
    va_list ap; va_start(ap, fmt); vsnprintf(buf, sizeof buf, fmt, ap); va_end(ap);
    if (tool_rank == 0) fprintf(stderr, "%s: %s (try '%s --help')\n", prog, buf, prog);
    dist_abort(EXIT_USAGE);
    exit(EXIT_USAGE);
}

void info(int level, const char *fmt, ...) {
    if (verbosity < level) return;
    va_list ap; va_start(ap, fmt); vmsg(fmt, ap); va_end(ap);
}

void bad_option(int c, char **argv) {
    extern int optind, optopt;
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    char name[128];
    /* A long option is named as written, without any "=VALUE"; a short one
     * as "-X", even inside a cluster ("-qk" missing its value: '-k'). */
    if (!strncmp(arg, "--", 2)) {
        size_t n = strcspn(arg, "=");
        snprintf(name, sizeof name, "%.*s", (int)(n < 100 ? n : 100), arg);
    } else if (optopt > 0 && optopt < 128) {
        snprintf(name, sizeof name, "-%c", optopt);
    } else {
        snprintf(name, sizeof name, "%.100s", arg);
    }
    if (c == ':') usage_error("option '%s' needs a value", name);
    if (optopt && !strncmp(arg, "--", 2) && strchr(arg, '='))
        usage_error("option '%s' takes no value", name);
    usage_error("unknown option '%s'", name);
}

/* The strict syntax of numbers on the command line: decimal only, an
 * optional '-', digits, and for real numbers an optional fraction and
 * exponent; no space, no '+' in front, no hexadecimal, no inf or nan. */
static int digits(const char **p) {
    const char *s = *p;
    while (**p >= '0' && **p <= '9') (*p)++;
    return *p > s;
}

static int decimal_syntax(const char *s, int real) {
    if (*s == '-') s++;
    int whole = digits(&s), frac = 0;
    if (real && *s == '.') {
        s++;
        frac = digits(&s);
    }
    if (!whole && !frac) return 0;
    if (real && (*s == 'e' || *s == 'E')) {
        s++;
        if (*s == '-' || *s == '+') s++;
        if (!digits(&s)) return 0;
    }
    return *s == 0;
}

int is_decimal_number(const char *s) { return decimal_syntax(s, 1); }

long long parse_int(const char *flag, const char *s, long long lo, long long hi) {
    char *end;
    if (!decimal_syntax(s, 0)) usage_error("%s: '%s' is not a decimal integer", flag, s);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < lo || v > hi)
        usage_error("%s: %s is out of range [%lld, %lld]", flag, s, lo, hi);
    return v;
}

double parse_double(const char *flag, const char *s, double lo, double hi) {
    char *end;
    if (!decimal_syntax(s, 1)) usage_error("%s: '%s' is not a decimal number", flag, s);
    double v = strtod(s, &end);   /* an underflow is the tiny value it rounds to */
    if (*end || !isfinite(v))
        usage_error("%s: %s is out of range [%g, %g]", flag, s, lo, hi);
    if (v < lo || v > hi)
        usage_error("%s: %g is out of range [%g, %g]", flag, v, lo, hi);
    return v;
}

uint64_t parse_seed(const char *flag, const char *s) {
    char *end;
    if (!decimal_syntax(s, 0) || *s == '-')
        usage_error("%s: '%s' is not a non-negative decimal integer", flag, s);
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) usage_error("%s: %s is out of range [0, %llu]", flag, s, ULLONG_MAX);
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
    if (v[0] >= '0' && v[0] <= '4' && v[1] == 0) return v[0] - '0';
    usage_error("SSL_CONV_WINOGRAD: '%s' is not 0, 1, 2, 3 or 4", v);
}

int no_bf16_from_env(void) {
    const char *v = getenv("SSL_NO_BF16");
    if (!v || !*v || !strcmp(v, "0")) return 0;
    if (!strcmp(v, "1")) return 1;
    usage_error("SSL_NO_BF16: '%s' is not 0 or 1", v);
}

void no_amx_from_env(void) {
    const char *v = getenv("SSL_NO_AMX");
    if (!v || !*v || !strcmp(v, "0")) return;
    if (!strcmp(v, "1")) { gemm_bf16_set_amx(0); return; }
    usage_error("SSL_NO_AMX: '%s' is not 0 or 1", v);
}

int parse_precision(const char *flag, const char *s) {
    static const char *const precisions[] = {"fp32", "bf16", NULL};
    return parse_choice(flag, s, precisions) == 1 ? PREC_BF16 : PREC_FP32;
}

void refuse_tty_output(const char *path) {
    if ((!path || !strcmp(path, "-")) && isatty(STDOUT_FILENO))
        usage_error("refusing to write binary data to a terminal; use -o FILE or a pipe");
}

void refuse_tty_input(const char *path) {
    if ((!path || !strcmp(path, "-")) && isatty(STDIN_FILENO))
        usage_error("stdin is a terminal: give a file or pipe data");
}

#ifndef SSL_COMMIT
#define SSL_COMMIT ""
#endif

void print_version(void) {
    if (SSL_COMMIT[0]) printf("%s %s (%s)\n", prog, SSL_VERSION, SSL_COMMIT);
    else printf("%s %s\n", prog, SSL_VERSION);
    exit(0);
}

/* ---- progress ---- */

void progress_init(progress_line *p, const char *unit) {
    memset(p, 0, sizeof *p);
    p->unit = unit;
    p->on = verbosity >= 1 && isatty(STDERR_FILENO);
    p->start = ssl_clock();
    p->last = -1;
}

void fmt_eta(char *buf, size_t len, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, len, "?");
    else if (s >= 3600) snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

void progress_show(void *vp, const char *what, int64_t done, int64_t total) {
    progress_line *p = vp;
    if (!p->on) return;
    double now = ssl_clock();
    if (now - p->last < 0.25 && done != total) return;
    p->last = now;
    double t = now - p->start, rate = t > 0 ? done / t : 0;
    char bar[21], eta[32];
    int fill = total > 0 ? (int)(20 * done / total) : 0;
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
    bar[20] = 0;
    fmt_eta(eta, sizeof eta, done > 0 && total >= done ? (total - done) * t / done : NAN);
    fprintf(stderr, "\r%s: %s [%s] %lld/%lld %.0f %s/s ETA %s\033[K", prog, what, bar,
            (long long)done, (long long)total, rate, p->unit, eta);
    p->shown = 1;
}

void progress_end(progress_line *p) {
    if (p->shown) fputc('\n', stderr);
    p->shown = 0;
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
