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

/* Set prog from argv[0] (basename) and, under mpirun, the rank and size
 * it gave this process (tool_rank, tool_ranks; from the environment:
 * Open MPI's OMPI_COMM_WORLD_RANK/SIZE, else PMI_RANK/SIZE or PMIX_RANK;
 * 0 and 1 outside mpirun). A rank other than 0 prints nothing (errors
 * included): rank 0 speaks for the run. */
void tool_init(int argc, char **argv);
extern int tool_rank, tool_ranks;

/* A tool that runs as one process: under mpirun with more than one rank,
 * a usage error (from rank 0) and exit 2 on every rank. */
void tool_single_process(void);
/* ssl-train: under mpirun, start MPI (run/dist.h); verbosity 0 on the
 * ranks other than 0. Built without MPI, more than one rank is an error.
 * While MPI is active, die() and usage_error() end every rank
 * (MPI_Abort) unless tool_dist_end() was called first: a failure that all
 * ranks agreed on (the library's) ends each rank on its own. */
void tool_dist_start(int *argc, char ***argv);
void tool_dist_end(void);

/* "prog: message\n" on stderr. */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* warnx_ then exit(EXIT_RUNTIME). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* warnx_, a hint to --help, then exit(EXIT_USAGE). */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Informational line on stderr unless -q (level 1) or only with -v (level 2). */
void info(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For getopt_long with opterr = 0 and an option string that starts with
 * ':': call on '?' or ':' to report the bad option in one line and exit 2:
 * "option '--lr' needs a value", "unknown option '-z'", "option '--json'
 * takes no value". Every tool words these the same way. */
void bad_option(int c, char **argv) __attribute__((noreturn));

/* Strict number parsing: the whole string must be a decimal number (an
 * optional '-', digits, and for parse_double an optional fraction and
 * exponent: "0.5", "-3", "1e-4", ".5"; no space, no '+' in front, no
 * hexadecimal, no inf or nan) within [lo, hi]; otherwise usage_error
 * naming the flag. */
long long parse_int(const char *flag, const char *s, long long lo, long long hi);
double parse_double(const char *flag, const char *s, double lo, double hi);
uint64_t parse_seed(const char *flag, const char *s);
/* Whether s has the syntax parse_double accepts. */
int is_decimal_number(const char *s);
/* Comma-separated lists ("20,200"): returns the count, at most max. */
int parse_int_list(const char *flag, const char *s, long long *out, int max, long long lo, long long hi);
int parse_double_list(const char *flag, const char *s, double *out, int max, double lo, double hi);
/* One of a set of words: returns its index; usage_error otherwise. */
int parse_choice(const char *flag, const char *s, const char *const *choices);

/* The convolution kernels the environment asks for: SSL_CONV_WINOGRAD
 * 0 (direct kernels only), 1 or unset (the default dispatch), 2 (Winograd
 * F(2x2, 3x3) wherever it applies), 3 (the default dispatch with F(2x2)
 * only), 4 (Winograd wherever it applies, F(4x4, 3x3) in fp32): the
 * CONV_WINOGRAD_* values; anything else is a usage error. The library
 * reads no environment: the tools pass this on (net_set_winograd). */
int conv_mode_from_env(void);

/* SSL_NO_BF16=1: act as if the CPU had no AVX512-BF16, so that
 * --precision bf16 is refused as there (tests); 0 or unset: the CPU
 * decides; anything else is a usage error. */
int no_bf16_from_env(void);
/* SSL_NO_AMX=1: --precision bf16's products on AVX512-BF16 (VDPBF16PS)
 * even where the CPU has AMX (gemm_bf16_set_amx(0)); 0 or unset: AMX
 * where the CPU and the kernel allow it; anything else is a usage error. */
void no_amx_from_env(void);
/* --precision: "fp32" -> PREC_FP32, "bf16" -> PREC_BF16 (nn/ops/ops.h);
 * anything else a usage error naming flag. */
int parse_precision(const char *flag, const char *s);

/* Refuse to write binary data to a terminal: call with the output path
 * ("-" or NULL for stdout) before writing. */
void refuse_tty_output(const char *path);
/* Refuse to read a stream from a terminal (as zstd): call with an input
 * path ("-" or NULL for stdin) before reading; a usage error "stdin is a
 * terminal: give a file or pipe data" when stdin is a terminal. */
void refuse_tty_input(const char *path);

/* Print "prog VERSION (COMMIT)" on stdout and exit 0; COMMIT is the git
 * commit the build came from (git describe --always --dirty, set by the
 * Makefile), and "prog VERSION" alone when it is unknown. */
void print_version(void) __attribute__((noreturn));

/* A progress line on stderr, drawn only when stderr is a terminal and -q
 * was not given (as ssl-train's): "\rprog: WHAT [#####.....] DONE/TOTAL
 * RATE/s ETA 1m05s", redrawn at most 4 times a second; progress_end
 * finishes the line (call it before any other message). WHAT is kept by
 * pointer. The callback has the signature of prep_opts.progress. */
typedef struct {
    const char *unit;             /* "img", "epochs": the rate's unit */
    int on;                       /* stderr is a terminal and verbosity >= 1 */
    int shown;                    /* a line is on the screen */
    double start, last;
} progress_line;
void progress_init(progress_line *p, const char *unit);
/* s seconds as "1h05m" or "3m07s"; "?" when not finite or negative. */
void fmt_eta(char *buf, size_t len, double s);
void progress_show(void *p, const char *what, int64_t done, int64_t total);
void progress_end(progress_line *p);

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
