/* ssl-export: a checkpoint's network as a safetensors file for PyTorch
 * (examples/ssl_resnet.py builds the module from its metadata), and
 * --check, which verifies safetensors files as ssl-info --check verifies
 * tensor streams. The format's writer and reader are in the library
 * (stream/safetensors.h); this tool parses flags and reports. See man
 * ssl-export(1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "run/run.h"

static const char usage_text[] =
    "usage: ssl-export [options] CKPT [-o MODEL.safetensors]\n"
    "       ssl-export --check [-v] FILE...\n"
    "Write the backbone of the checkpoint CKPT ('-': stdin) as a safetensors file\n"
    "(stdout unless -o) that examples/ssl_resnet.py loads into PyTorch; the\n"
    "architecture and the input normalisation are in its __metadata__.\n"
    "\n"
    "  --head              also the head (projector), e.g. head.0.weight\n"
    "  -o, --output FILE   write to FILE (atomically)\n"
    "  --check             verify safetensors FILEs (header, dtypes, shapes,\n"
    "                      offsets, size); no output but errors\n"
    "  -q, --quiet         no messages on stderr but errors\n"
    "  -v, --verbose       say what was written or checked\n"
    "  -h, --help, -V, --version\n";

enum { O_HEAD = 256, O_CHECK };

static const struct option long_opts[] = {
    {"head", 0, 0, O_HEAD}, {"check", 0, 0, O_CHECK}, {"output", 1, 0, 'o'},
    {"quiet", 0, 0, 'q'}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'},
    {"version", 0, 0, 'V'}, {0, 0, 0, 0}};

/* --check: every file, one error line for each bad one. */
static int check(int nfiles, char **files) {
    int status = 0;
    for (int i = 0; i < nfiles; i++) {
        st_header h;
        ssl_err err;
        if (st_read(files[i], &h, NULL, &err)) {
            warnx_("%s", err.msg);
            status = EXIT_RUNTIME;
            continue;
        }
        info(2, "%s: ok, %d tensors, %lld bytes of data", strcmp(files[i], "-") ? files[i] : "<stdin>",
             h.ntensors, (long long)h.data_len);
        st_header_destroy(&h);
    }
    return status;
}

static int run(const char *ckpt, const char *out, int head) {
    char by[64];
    snprintf(by, sizeof by, "ssl-export %s", SSL_VERSION);
    run_export_opts o = {.ckpt = ckpt, .out = out, .head = head, .created_by = by};
    run_export_result res;
    ssl_err err;
    if (run_export(&o, &res, &err)) {
        /* A reader that went away (SIGPIPE ignored): quiet, as ssl-extract. */
        if (err.code == SSL_EIO && strstr(err.msg, strerror(EPIPE))) exit(EXIT_RUNTIME);
        die("%s", err.msg);
    }
    info(2, "%s: %d tensors, %lld bytes, features of %d", strcmp(out, "-") ? out : "<stdout>",
         res.ntensors, (long long)res.bytes, res.features);
    return 0;
}

int main(int argc, char **argv) {
    const char *out = "-";
    int head = 0, check_mode = 0, c;
    tool_init(argc, argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qvhV", long_opts, NULL)) != -1) {
        switch (c) {
        case O_HEAD: head = 1; break;
        case O_CHECK: check_mode = 1; break;
        case 'o': out = optarg; break;
        case 'q': verbosity = 0; break;
        case 'v': verbosity++; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': print_version();
        default: bad_option(c, argv);
        }
    }
    int nops = argc - optind, nstdin = 0;
    for (int i = optind; i < argc; i++) nstdin += !strcmp(argv[i], "-");
    if (check_mode) {
        if (head || strcmp(out, "-")) usage_error("--check takes no --head or -o");
        if (nops < 1) usage_error("--check needs at least one FILE");
        if (nstdin > 1) usage_error("stdin ('-') given more than once");
        if (nstdin) refuse_tty_input("-");
        return check(nops, argv + optind);
    }
    if (nops != 1) usage_error("expected one CKPT");
    refuse_tty_input(argv[optind]);
    refuse_tty_output(out);
    return run(argv[optind], out, head);
}
