/* ssl-info: describe and verify tensor streams, like zstd -l or pamfile.
 *
 * Each FILE (stdin when none or "-") is read to its end, every record
 * decompressed and every section's end record checked (row counts, CRC-32),
 * before anything is printed about it: a damaged stream gets one error line
 * and exit status 1, never a summary. Text output summarises metadata
 * (nested maps one key per line, as dotted paths; long lists shortened);
 * --json prints one JSON object per file on one line, metadata in full;
 * --check prints nothing but errors. See man ssl-info(1) and ssl-tensor(5). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "run/ckpt.h"
#include "stream/sslt.h"

static const char usage_text[] =
    "usage: ssl-info [options] [FILE...]\n"
    "Describe tensor streams (stdin when no FILE or '-'): each section's kind,\n"
    "metadata and tensors (a checkpoint's network: parameters and FLOPs), and\n"
    "the stream's records and sizes. Every record is read and checked; a\n"
    "damaged stream is an error (exit 1).\n"
    "\n"
    "  --json           one JSON object per file on stdout, metadata in full\n"
    "  --check          only verify (counts, CRC-32, zstd checksums); no output\n"
    "  -q, --quiet      no messages on stderr but errors\n"
    "  -v, --verbose    with --check, say 'FILE: ok' on stderr\n"
    "  -h, --help, -V, --version\n";

enum { O_JSON = 256, O_CHECK };

static const struct option long_opts[] = {
    {"json", 0, 0, O_JSON}, {"check", 0, 0, O_CHECK}, {"quiet", 0, 0, 'q'},
    {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'},
    {0, 0, 0, 0}};

static int json_mode, check_mode;

/* A checkpoint's network, from its config.net: the architecture, its
 * parameters (all, and the backbone's) and forward FLOPs per image, or
 * why they cannot be had ("error"). */
static sv *network_of(const sv *meta) {
    sv *v = sv_map();
    net_config nc;
    int64_t np, nb;
    double fl;
    ssl_err err;
    const sv *cfg = sv_get(sv_get(meta, "config"), "net");
    if (!cfg) {
        sv_set(v, "error", sv_str("no config.net"));
    } else if (net_config_from_sv(&nc, cfg, &err) || net_cost(&nc, &np, &nb, &fl, &err)) {
        sv_set(v, "error", sv_str(err.msg));
    } else {
        sv_set(v, "arch", sv_str(nc.arch));
        sv_set(v, "params", sv_int(np));
        sv_set(v, "backbone_params", sv_int(nb));
        sv_set(v, "flops", sv_float(fl));
    }
    return v;
}

/* Read a whole stream; on success return its description as a value tree
 * (file, totals, sections; a checkpoint's also its network), else NULL
 * with err set. */
static sv *describe(const char *path, ssl_err *err) {
    sslt_reader *r = sslt_reader_open(path, err);
    if (!r) return NULL;
    sv *doc = sv_map(), *sections = sv_array();
    const sslt_header *h;
    int k;
    int64_t rec0 = 0, cb0 = 0, ub0 = 0, rec, cb, ub;
    sv_set(doc, "file", sv_str(sslt_reader_name(r)));
    while ((k = sslt_reader_next(r, &h)) > 0) {
        sv *s = sv_map(), *ts = sv_array();
        sv_set(s, "kind", sv_str(h->kind));
        sv_set(s, "meta", sv_copy(h->meta));
        if (!strcmp(h->kind, CKPT_KIND)) sv_set(s, "network", network_of(h->meta));
        for (int i = 0; i < h->ntensors; i++) {
            const sslt_tensor *t = &h->tensors[i];
            sv *tv = sv_map();
            sv_set(tv, "name", sv_str(t->name));
            sv_set(tv, "dtype", sv_str(sslt_dtype_name(t->dtype)));
            sv_set(tv, "shape", sv_int_array(t->shape, (size_t)t->ndim));
            sv_set(tv, "bytes", sv_int(sslt_tensor_bytes(t)));
            sv_push(ts, tv);
        }
        sv_set(s, "tensors", ts);
        /* Read (and so verify) the section's chunks and end record. */
        int ti;
        int64_t row, n;
        const void *data;
        while ((k = sslt_reader_chunk(r, &ti, &row, &n, &data)) > 0) {}
        if (k < 0) { sv_free(s); break; }
        sslt_reader_stats(r, &rec, &cb, &ub);
        sv_set(s, "records", sv_int(rec - rec0));
        sv_set(s, "compressed_bytes", sv_int(cb - cb0));
        sv_set(s, "uncompressed_bytes", sv_int(ub - ub0));
        rec0 = rec, cb0 = cb, ub0 = ub;
        sv_push(sections, s);
    }
    if (k < 0) {
        ssl_forward(err, sslt_reader_error(r));
        sslt_reader_close(r);
        sv_free(sections);
        sv_free(doc);
        return NULL;
    }
    sslt_reader_stats(r, &rec, &cb, &ub);
    sv_set(doc, "records", sv_int(rec));
    sv_set(doc, "compressed_bytes", sv_int(cb));
    sv_set(doc, "uncompressed_bytes", sv_int(ub));
    sv_set(doc, "ratio", sv_float(cb ? (double)ub / (double)cb : 0));
    sv_set(doc, "sections", sections);
    sslt_reader_close(r);
    return doc;
}

/* "1.5 MiB" style sizes next to exact byte counts. */
static const char *human(int64_t b) {
    static char buf[4][32];
    static int k;
    char *s = buf[k++ & 3];
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) { v /= 1024; i++; }
    if (i == 0) snprintf(s, 32, "%lld B", (long long)b);
    else snprintf(s, 32, "%.1f %s", v, u[i]);
    return s;
}

/* One metadata value on one line: long arrays keep their first 4 and last
 * item ("[1, 2, 3, 4, ..., 9] (9 items)"); nothing else is cut. */
static void print_meta_value(const sv *v) {
    size_t n = sv_len(v);
    if (v->type == SV_ARRAY && n > 8) {
        fputc('[', stdout);
        for (size_t i = 0; i < 4; i++) {
            sv_write_json(sv_at(v, i), stdout, -1);
            fputs(", ", stdout);
        }
        fputs("..., ", stdout);
        sv_write_json(sv_at(v, n - 1), stdout, -1);
        printf("] (%zu items)\n", n);
    } else {
        sv_write_json(v, stdout, -1);
        putchar('\n');
    }
}

/* The entries of map m, one per line, "  meta PATH: VALUE", where a nested
 * map's entries follow under their dotted path (config.train.lr). An empty
 * map is shown as {}. */
static void print_meta(const sv *m, const char *path) {
    for (size_t j = 0; j < sv_len(m); j++) {
        const sv *v = sv_at(m, j);
        char p[1024];
        snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", sv_key(m, j));
        if (v->type == SV_MAP && sv_len(v) > 0) {
            print_meta(v, p);
        } else {
            printf("  meta %s: ", p);
            print_meta_value(v);
        }
    }
}

static void print_text(const sv *doc) {
    const sv *sections = sv_get(doc, "sections");
    int64_t cb = sv_get_int(doc, "compressed_bytes", 0), ub = sv_get_int(doc, "uncompressed_bytes", 0);
    printf("%s: %zu section%s, %lld records, %s compressed, %s uncompressed, ratio %.2f\n",
           sv_get_str(doc, "file", "?"), sv_len(sections), sv_len(sections) == 1 ? "" : "s",
           (long long)sv_get_int(doc, "records", 0), human(cb), human(ub),
           sv_get_float(doc, "ratio", 0));
    for (size_t i = 0; i < sv_len(sections); i++) {
        const sv *s = sv_at(sections, i), *meta = sv_get(s, "meta"), *ts = sv_get(s, "tensors");
        printf("section %zu: kind %s, %lld records, %s compressed\n", i + 1,
               sv_get_str(s, "kind", "?"), (long long)sv_get_int(s, "records", 0),
               human(sv_get_int(s, "compressed_bytes", 0)));
        const sv *net = sv_get(s, "network");
        if (net && sv_get(net, "error"))
            printf("  network: %s\n", sv_get_str(net, "error", "?"));
        else if (net)
            printf("  network: %s, %lld parameters (backbone %lld), %.4g GFLOP per image\n",
                   sv_get_str(net, "arch", "?"), (long long)sv_get_int(net, "params", 0),
                   (long long)sv_get_int(net, "backbone_params", 0),
                   sv_get_float(net, "flops", 0) * 1e-9);
        print_meta(meta, "");
        /* Columns as wide as the section's longest name and shape. */
        int wname = 0, wshape = 0, wbytes = 0;
        for (int pass = 0; pass < 2; pass++)
            for (size_t j = 0; j < sv_len(ts); j++) {
                const sv *t = sv_at(ts, j), *shape = sv_get(t, "shape");
                char sh[8 * 24 + 4] = "[";
                for (size_t d = 0; d < sv_len(shape); d++)
                    snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%s%lld", d ? ", " : "",
                             (long long)sv_at(shape, d)->u.i);
                strcat(sh, "]");
                const char *name = sv_get_str(t, "name", "?");
                int64_t b = sv_get_int(t, "bytes", 0);
                char bytes[32];
                snprintf(bytes, sizeof bytes, "%lld", (long long)b);
                if (pass == 0) {
                    if ((int)strlen(name) > wname) wname = (int)strlen(name);
                    if ((int)strlen(sh) > wshape) wshape = (int)strlen(sh);
                    if ((int)strlen(bytes) > wbytes) wbytes = (int)strlen(bytes);
                    continue;
                }
                printf("  tensor %-*s  %-3s  %-*s  %*s bytes (%s)\n", wname, name,
                       sv_get_str(t, "dtype", "?"), wshape, sh, wbytes, bytes, human(b));
            }
    }
}

static int run(int nfiles, char **files) {
    static char *stdin_only[] = {"-"};
    int status = 0;
    if (nfiles == 0) { nfiles = 1; files = stdin_only; }
    for (int i = 0; i < nfiles; i++) {
        ssl_err err;
        sv *doc = describe(files[i], &err);
        if (!doc) {
            warnx_("%s", err.msg);
            status = EXIT_RUNTIME;
            continue;
        }
        if (check_mode) {
            size_t ns = sv_len(sv_get(doc, "sections"));
            info(2, "%s: ok, %zu section%s", sv_get_str(doc, "file", "?"), ns, ns == 1 ? "" : "s");
        } else if (json_mode) {
            sv_write_json(doc, stdout, -1);
            putchar('\n');
        } else {
            print_text(doc);
        }
        sv_free(doc);
    }
    /* errno is that of the failed write (fflush's, or the last buffered one). */
    if (fflush(stdout) || ferror(stdout))
        die("<stdout>: write error: %s", errno ? strerror(errno) : "unknown error");
    return status;
}

int main(int argc, char **argv) {
    int c;
    tool_init(argc, argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":qvhV", long_opts, NULL)) != -1) {
        switch (c) {
        case O_JSON: json_mode = 1; break;
        case O_CHECK: check_mode = 1; break;
        case 'q': verbosity = 0; break;
        case 'v': verbosity++; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': print_version();
        default: bad_option(c, argv);
        }
    }
    if (json_mode && check_mode) usage_error("--json and --check exclude each other");
    int nstdin = 0;
    for (int i = optind; i < argc; i++) nstdin += !strcmp(argv[i], "-");
    if (nstdin > 1) usage_error("stdin ('-') given more than once");
    if (nstdin || optind == argc) refuse_tty_input("-");
    return run(argc - optind, argv + optind);
}
