/* common.h: the front end every ssl-* tool shares.
 *
 * One voice for errors ("prog: message" on stderr), one way to parse
 * numbers (strict, range-checked, naming the flag), one meaning for the
 * shared flags. Exit codes: 0 success, 1 runtime failure, 2 usage error. */
#ifndef SSL_TOOLS_COMMON_H
#define SSL_TOOLS_COMMON_H
#include <stdint.h>
#include <stdio.h>

#include "util/threads.h"
#include "stream/dataset.h"
#include "util/clock.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

extern const char *prog;          /* set by tool_init */
extern int verbosity;             /* 0 with -q, 1 default, 2+ with -v */

/* Set prog from argv[0] (basename) and install nothing else. */
void tool_init(int argc, char **argv);

/* "prog: message\n" on stderr. */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* warnx_ then exit(EXIT_RUNTIME). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* warnx_, a hint to --help, then exit(EXIT_USAGE). */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Informational line on stderr unless -q (level 1) or only with -v (level 2). */
void info(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For getopt_long with opterr = 0: call on '?' or ':' to report the bad
 * option in one line and exit 2. Set opterr = 0 before the loop so getopt
 * does not print a second line. */
void bad_option(int c, char **argv) __attribute__((noreturn));

/* Strict number parsing: the whole string must be a number within
 * [lo, hi]; otherwise usage_error naming the flag. */
long long parse_int(const char *flag, const char *s, long long lo, long long hi);
double parse_double(const char *flag, const char *s, double lo, double hi);
uint64_t parse_seed(const char *flag, const char *s);
/* Comma-separated lists ("20,200"): returns the count, at most max. */
int parse_int_list(const char *flag, const char *s, long long *out, int max, long long lo, long long hi);
int parse_double_list(const char *flag, const char *s, double *out, int max, double lo, double hi);
/* One of a set of words: returns its index; usage_error otherwise. */
int parse_choice(const char *flag, const char *s, const char *const *choices);

/* The convolution kernels the environment asks for: SSL_CONV_WINOGRAD
 * 0 (direct kernels only), 1 or unset (the default dispatch), 2 (Winograd
 * wherever it applies); anything else is a usage error. The library reads
 * no environment: the tools pass this on (net_set_winograd). */
int conv_mode_from_env(void);

/* Refuse to write binary data to a terminal: call with the output path
 * ("-" or NULL for stdout) before writing. */
void refuse_tty_output(const char *path);

/* Print "prog VERSION (COMMIT)" on stdout and exit 0; COMMIT is the git
 * commit the build came from (git describe --always --dirty, set by the
 * Makefile), and "prog VERSION" alone when it is unknown. */
void print_version(void) __attribute__((noreturn));

/* Peak resident set size of this process in MiB. */
double peak_rss_mib(void);

/* One JSON member "key":x on stdout (10 significant digits; null when x is
 * not finite), followed by a comma when comma != 0. */
void json_num(const char *key, double x, int comma);
/* "labels_per_class":N, or "all" for lpc 0 (the whole training set), and a comma. */
void json_lpc(int lpc);
/* One CSV field on stdout: x with 10 significant digits (as json_num), or
 * nothing when x is not finite; then sep (',' or '\n'). */
void csv_num(double x, char sep);

/* Load training and test features (features or dataset streams; "-" is
 * stdin), die with "prog: FILE: problem" on any error, and check that the
 * two agree: feature dimension, class lists, labels within the classes,
 * and, with check_finite, every value finite. Returns the class count. */
int load_feature_pair(ssl_features *tr, ssl_features *te, const char *train_path,
                      const char *test_path, int check_finite);

/* --labels-per-class (lib/eval/fewshot.h): die with one line
 * "prog: TRAIN: --labels-per-class N: class C (NAME) has only M training
 * images" unless every class of tr (nc classes) has at least each of the
 * n values of lpc. */
void check_labels_per_class(const ssl_features *tr, int nc, const char *train_path,
                            const int *lpc, int n);
/* Draw `draw` of per_class labelled rows of every class from seed: their
 * features into x [nc * per_class, tr->dim] and labels into y (both
 * caller-owned), in row order; dies on failure. */
void draw_labelled_subset(const ssl_features *tr, int nc, const char *train_path, int per_class,
                          uint64_t seed, int draw, float *x, int32_t *y);
#endif
