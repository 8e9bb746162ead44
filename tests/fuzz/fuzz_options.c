/* fuzz_options.c: libFuzzer target for option parsing: ssl-prep's whole
 * parse_options (getopt_long, every value parser, --subset, --size) and
 * the shared number/list parsers of tools/common.c.
 *
 * The input is an argument vector: NUL-separated words (at most 32).
 * tools/common.c and tools/ssl-prep.c are compiled into this file with
 * exit() redirected to a longjmp, so a usage error ends one input instead
 * of the fuzzer; their stdout/stderr go to /dev/null. Seeds:
 * tests/fuzz/corpus/options/. */
#include "fuzz.h"

#include <getopt.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

static jmp_buf fuzz_jb;
static void fuzz_exit(int status) __attribute__((noreturn));
static void fuzz_exit(int status) { longjmp(fuzz_jb, status + 1); }
#define exit fuzz_exit
#include "../../tools/common.c"
#define main ssl_prep_main
#include "../../tools/ssl-prep.c"
#undef main
#undef exit

/* Each parser on one word; a usage error longjmps back here. */
static void try_word(const char *w) {
    long long il[8];
    double dl[8];
    int64_t per;
    double frac;
    static const char *const words[] = {"a", "bb", "ccc", NULL};
    if (setjmp(fuzz_jb) == 0) (void)parse_int("--n", w, -5, 1000000);
    if (setjmp(fuzz_jb) == 0) (void)parse_double("--x", w, -1e9, 1e9);
    if (setjmp(fuzz_jb) == 0) (void)parse_seed("--seed", w);
    if (setjmp(fuzz_jb) == 0) (void)parse_int_list("--k", w, il, 8, 1, 1000);
    if (setjmp(fuzz_jb) == 0) (void)parse_double_list("--w", w, dl, 8, 0, 10);
    if (setjmp(fuzz_jb) == 0) (void)parse_choice("--c", w, words);
    (void)prep_subset_parse(w, &per, &frac);
}

static void try_options(int argc, char **argv) {
    options o;
    optind = 0;              /* glibc: full re-initialisation of getopt */
    if (setjmp(fuzz_jb) == 0) parse_options(argc, argv, &o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int once;
    static char buf[4096];
    static FILE *nul;
    char *argv[34];
    int argc = 0;
    FILE *out = stdout, *errf = stderr;
    /* Keep the parsers' messages out of the fuzzer's log (libFuzzer and ASan
     * write to fd 2 directly); restored at the end, for the replay in
     * tests/test_regress.c. */
    if (!once) { nul = fopen("/dev/null", "w"); once = 1; }
    if (nul) { stdout = nul; stderr = nul; }
    if (size >= sizeof buf) size = sizeof buf - 1;
    memcpy(buf, data, size);
    buf[size] = 0;
    argv[argc++] = "ssl-prep";
    for (char *p = buf; p <= buf + size && argc < 33; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;
    try_options(argc, argv);
    /* The shared parsers on each word, as another tool's flags would. */
    for (int i = 1; i < argc; i++) try_word(argv[i]);
    stdout = out;
    stderr = errf;
    return 0;
}
