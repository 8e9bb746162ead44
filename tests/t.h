/* t.h: the tiny test harness shared by tests/test_*.c.
 *
 * Each check prints one line, "PASS: name" or "FAIL: name: detail", which
 * tests/run.sh counts. t_done() returns the exit status (1 if any check
 * failed), so a test's main ends with "return t_done();". Checks never stop
 * the program, so one run reports every failure. */
#ifndef SSL_TESTS_T_H
#define SSL_TESTS_T_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_count;

static void t_report(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));
static void t_report(int ok, const char *name, const char *fmt, ...) {
    if (ok) {
        printf("PASS: %s\n", name);
    } else {
        va_list ap;
        t_failed_count++;
        printf("FAIL: %s", name);
        if (fmt && *fmt) {
            printf(": ");
            va_start(ap, fmt);
            vprintf(fmt, ap);
            va_end(ap);
        }
        printf("\n");
    }
    fflush(stdout);
}

/* t_report with the name "LABEL: NAME" (a check run once per unit,
 * setting, ...); detail as t_report's detail, printed on failure. */
static void t_rep(int ok, const char *label, const char *name, const char *detail)
    __attribute__((unused));
static void t_rep(int ok, const char *label, const char *name, const char *detail) {
    char full[200];
    snprintf(full, sizeof full, "%s: %s", label, name);
    t_report(ok, full, "%s", detail);
}

/* A boolean check. */
#define T_OK(cond, name) t_report(!!(cond), (name), "%s", #cond)
/* Integers equal. */
#define T_EQ(a, b, name) do { long long t_a_ = (long long)(a), t_b_ = (long long)(b); \
    t_report(t_a_ == t_b_, (name), "%lld != %lld", t_a_, t_b_); } while (0)
/* |a-b| <= atol + rtol*|b| */
#define T_NEAR(a, b, atol, rtol, name) do { double t_a_ = (a), t_b_ = (b); \
    t_report(fabs(t_a_ - t_b_) <= (atol) + (rtol) * fabs(t_b_), (name), \
             "%.9g vs %.9g", t_a_, t_b_); } while (0)

/* Largest |a-b| / (atol + rtol*|b|) over n floats: <= 1 means "within". */
static double t_max_err(const float *a, const float *b, size_t n, double atol,
                        double rtol, size_t *where) __attribute__((unused));
static double t_max_err(const float *a, const float *b, size_t n, double atol,
                        double rtol, size_t *where) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(e <= worst)) { worst = e; if (where) *where = i; }   /* NaN wins */
    }
    return worst;
}

/* Arrays within tolerance, reporting the worst element. */
#define T_ALLCLOSE(a, b, n, atol, rtol, name) do { size_t t_w_ = 0; \
    double t_e_ = t_max_err((a), (b), (n), (atol), (rtol), &t_w_); \
    t_report(t_e_ <= 1.0, (name), "worst at %zu: %.9g vs %.9g (%.3g x tolerance)", \
             t_w_, (double)(a)[t_w_], (double)(b)[t_w_], t_e_); } while (0)

#define T_SKIP(name, why) printf("SKIP: %s: %s\n", (name), (why))

static int t_done(void) __attribute__((unused));
static int t_done(void) { return t_failed_count ? 1 : 0; }

/* Path of a file under the source tree (run.sh exports TOP). */
static const char *t_path(const char *rel) __attribute__((unused));
static const char *t_path(const char *rel) {
    static char buf[4][4096];
    static int k;
    const char *top = getenv("TOP");
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", top ? top : ".", rel);
    return b;
}
/* A named array of a text fixture ("name count v1 v2 ..." lines, "#"
 * comments): malloc'ed values and *n, or NULL when absent or malformed. */
static __attribute__((unused)) double *t_read_array(FILE *fp, const char *want, long *n) {
    char name[64];
    long cnt;
    rewind(fp);
    int ch;
    while ((ch = fgetc(fp)) != EOF) {
        if (ch == '#') { while ((ch = fgetc(fp)) != EOF && ch != '\n') {} continue; }
        ungetc(ch, fp);
        if (fscanf(fp, "%63s %ld", name, &cnt) != 2) return NULL;
        double *v = malloc(sizeof *v * (cnt ? cnt : 1));
        for (long i = 0; i < cnt; i++)
            if (fscanf(fp, "%lf", &v[i]) != 1) { free(v); return NULL; }
        if (!strcmp(name, want)) { *n = cnt; return v; }
        free(v);
        while ((ch = fgetc(fp)) != EOF && ch != '\n') {}
    }
    return NULL;
}

#endif
