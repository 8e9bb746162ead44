/* test_regress.c: the readers stay within bounded memory on hostile input.
 *
 * Headers that declare huge sizes (a zstd frame of 200 MB holding 16 bytes,
 * a 1 TB tensor whose end record claims it complete, an IDX gzip claiming
 * 47 MB, a tar member claiming 1 GiB, 16000x16000 PNG/JPEG images of a few
 * bytes, a PNG header claiming 20000x20000, checkpoints asking for a 1.5e9-parameter network, 547 GiB of
 * activations or a 512 GiB bank) must be refused with their error while
 * the process's address
 * space is capped (RLIMIT_AS) at what it uses now plus 64 MiB: a reader
 * that allocated what a header claims would fail with "out of memory"
 * instead, which these checks tell apart. Under AddressSanitizer (which
 * reserves terabytes of address space) the cap is left off and only the
 * messages are checked.
 *
 * It also replays every committed fuzz input (the seed corpora in
 * tests/fuzz/corpus/<target>/, and every fixture here) through the fuzz
 * targets themselves, compiled into this program by gcc: make check and
 * make asan run what make fuzz found without clang.
 *
 * The capped checks run in a child process that
 * ends with _exit, so that no library's exit handler (OpenBLAS joins its
 * threads) runs under the cap. The fixtures are in tests/fixtures/regress/
 * (gen.py there). */
#define _GNU_SOURCE               /* memfd_create, for the fuzz targets */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stream/dataset.h"
#include "data/prep.h"
#include "stream/sslt.h"
#include "t.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Cap the address space at the current size + extra bytes: 0, or -1. */
static int cap_memory(long extra) {
    long pages = 0, page = 4096;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld", &pages) != 1) { if (f) fclose(f); return -1; }
    fclose(f);
    struct rlimit rl = { (rlim_t)(pages * page + extra), RLIM_INFINITY };
    return setrlimit(RLIMIT_AS, &rl);
}

static const char *fx(const char *name) {
    static char buf[4][4096];
    static int k;
    char rel[512];
    snprintf(rel, sizeof rel, "tests/fixtures/regress/%s", name);
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s", t_path(rel));
    return b;
}

/* Read every section and chunk: the error string, or "" when it succeeds. */
static const char *read_stream(const char *path) {
    static ssl_err err;
    sslt_reader *r = sslt_reader_open(path, &err);
    if (!r) return err.msg;
    const sslt_header *h;
    int k;
    while ((k = sslt_reader_next(r, &h)) > 0) {
        void *data[8];
        if (h->ntensors > 8) { k = -1; break; }
        if ((k = sslt_reader_read_all(r, data, NULL)) < 0) break;
        for (int i = 0; i < h->ntensors; i++) free(data[i]);
    }
    snprintf(err.msg, sizeof err.msg, "%s", k < 0 ? sslt_reader_error(r)->msg : "");
    sslt_reader_close(r);
    return err.msg;
}

static void expect(const char *got, const char *want, const char *name) {
    t_report(strstr(got, want) != NULL, name, "error '%s' lacks '%s'", got, want);
}

/* The fuzz targets, each under its own name. */
#define LLVMFuzzerTestOneInput fuzz_sslt
#include "fuzz/fuzz_sslt.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_dataset
#include "fuzz/fuzz_dataset.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idx
#include "fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_cifar
#include "fuzz/fuzz_cifar.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_images
#include "fuzz/fuzz_images.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_options
#include "fuzz/fuzz_options.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_ckpt
#include "fuzz/fuzz_ckpt.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_train_config
#include "fuzz/fuzz_train_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_safetensors
#include "fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *, size_t);

/* Run fn on every file of dir (relative to TOP); the count, or -1. */
static int replay_dir(fuzz_fn fn, const char *rel) {
    DIR *d = opendir(t_path(rel));
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4096];
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", t_path(rel), e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        static uint8_t buf[1 << 20];
        size_t k = fread(buf, 1, sizeof buf, f);
        fclose(f);
        fn(buf, k);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *name, fuzz_fn fn) {
    char rel[256], what[300];
    snprintf(rel, sizeof rel, "tests/fuzz/corpus/%s", name);
    int a = replay_dir(fn, rel), b = replay_dir(fn, "tests/fixtures/regress");
    snprintf(what, sizeof what, "fuzz replay %s: %d seeds and %d fixtures", name, a, b);
    t_report(a > 0 && b > 0, what, "no inputs found under %s", rel);
}

static int capped_checks(void);

/* Write v as msgpack to path: 0 or -1. */
static int write_msgpack(const sv *v, const char *path) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = v && sv_pack(v, &pk) == 0 ? 0 : -1;
    FILE *f = rc ? NULL : fopen(path, "wb");
    if (!f || fwrite(sb.data, 1, sb.size, f) != sb.size) rc = -1;
    if (f && fclose(f)) rc = -1;
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* test_regress --config-seeds CKPT DIR: the seeds of fuzz_train_config
 * (tests/fuzz/mkcorpus.sh): CKPT's configuration, its train and net
 * maps, and a few small hand-made maps, each one msgpack value. */
static int config_seeds(const char *ckpt, const char *dir) {
    char path[4096];
    ssl_err err = {0};
    ckpt_reader *r = ckpt_open(ckpt, &err);
    if (!r) { fprintf(stderr, "test_regress: %s\n", err.msg); return 1; }
    const sv *cfg = sv_get(ckpt_meta(r), "config");
    sv *small = sv_map(), *odd = sv_map();
    int bad = !small || !odd;
    bad |= sv_set(small, "tau", sv_float(0.2)) || sv_set(small, "batch", sv_int(64)) ||
           sv_set(small, "milestones", sv_int_array((const int64_t[]){10, 20}, 2)) ||
           sv_set(small, "schedule", sv_str("step"));
    bad |= sv_set(odd, "critical", sv_array()) || sv_set(odd, "bank_momentum", sv_float(0.9)) ||
           sv_set(odd, "negatives", sv_str("k")) || sv_set(odd, "epochs", sv_int(-1));
    const char *names[] = {"config", "train", "net", "small", "odd"};
    const sv *vals[] = {cfg, sv_get(cfg, "train"), sv_get(cfg, "net"), small, odd};
    for (int i = 0; i < 5 && !bad; i++) {
        if (!vals[i]) continue;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (write_msgpack(vals[i], path)) { fprintf(stderr, "test_regress: cannot write %s\n", path); bad = 1; }
    }
    sv_free(small);
    sv_free(odd);
    ckpt_close(r);
    return bad;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--config-seeds")) return config_seeds(argv[2], argv[3]);
    /* Baseline before the cap: a good stream loads. */
    T_OK(!*read_stream(fx("good.sslt")), "good stream reads");
    /* net_size counts what net_new allocates: the parameters agree. */
    net_config nc = {"resnet18", "cifar", 0.25f, 3, 32, 32, "mlp3", 64, 8};
    int64_t np = -1, nbytes = -1, sum = 0;
    ssl_err nerr = {0};
    net *nn = net_new(&nc, 4, &nerr);
    for (int i = 0; nn && i < net_ntensors(nn); i++)
        if (!net_tensor_at(nn, i)->is_buffer) sum += net_tensor_at(nn, i)->numel;
    T_OK(nn && net_size(&nc, 4, &np, &nbytes, &nerr) == 0 && np == sum && nbytes > 3 * 4 * sum,
         "net_size: parameters as built, bytes above the three arenas");
    net_free(nn);
    replay("sslt", fuzz_sslt);
    replay("dataset", fuzz_dataset);
    replay("idx", fuzz_idx);
    replay("cifar", fuzz_cifar);
    replay("images", fuzz_images);
    replay("options", fuzz_options);
    replay("ckpt", fuzz_ckpt);
    replay("train_config", fuzz_train_config);
    replay("safetensors", fuzz_safetensors);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(capped_checks());
    int st = 0;
    T_OK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st), "capped checks ran to the end");
    if (WIFEXITED(st) && WEXITSTATUS(st)) t_failed_count++;
    return t_done();
}

static int capped_checks(void) {
    ssl_err err = {0};
    prep_data d;
    prep_opts o = {0};
    if (UNDER_ASAN) T_SKIP("memory cap", "under AddressSanitizer: messages only");
    else T_OK(cap_memory(64L << 20) == 0, "address space capped at +64 MiB");

    expect(read_stream(fx("frame-200mb.sslt")), "truncated (stream ends inside a zstd frame)",
           "zstd frame declaring 200 MB: truncated, not out of memory");
    expect(read_stream(fx("frame-1tib.sslt")), "record too large", "zstd frame declaring 1 TiB refused");
    expect(read_stream(fx("huge-tensor-end.sslt")), "tensor images is incomplete",
           "1 TB tensor read_all: incomplete, not out of memory");
    expect(read_stream(fx("huge-tensor.sslt")), "truncated (stream ends before",
           "1 TB tensor with one chunk: truncated");

    ssl_dataset ds;
    ssl_err serr = {0};
    int rc = dataset_load(&ds, fx("huge-tensor-end.sslt"), &serr);
    T_OK(rc < 0, "dataset_load of a 1 TB declared tensor fails");
    if (rc < 0) expect(serr.msg, "incomplete", "dataset_load: incomplete, not out of memory");
    else dataset_destroy(&ds);
    ssl_features fe;
    rc = features_load(&fe, fx("huge-tensor-end.sslt"), &serr);
    T_OK(rc < 0, "features_load of a 1 TB declared tensor fails");
    if (rc < 0) expect(serr.msg, "incomplete", "features_load: incomplete, not out of memory");
    else features_destroy(&fe);

    rc = prep_idx_load(&d, fx("idx-short-images.gz"), fx("idx-labels"), &err);
    T_OK(rc < 0, "IDX gzip claiming 47 MB fails");
    if (rc < 0) expect(err.msg, "but only 7840 follow", "IDX gzip: truncated, not out of memory");
    else prep_data_destroy(&d);

    const char *tb = fx("tar-big-member.tar");
    rc = prep_load(&d, &tb, 1, &o, &err);
    T_OK(rc < 0, "tar member claiming 1 GiB fails");
    if (rc < 0) expect(err.msg, "runcated", "tar member: truncated, not out of memory");
    else prep_data_destroy(&d);

    /* Checkpoints whose configuration asks for absurd networks: refused
     * from their size, not out of memory. */
    ssl_ckpt ck;
    ssl_err cerr = {0};
    rc = ckpt_load(&ck, fx("ckpt-huge-net.ckpt"), 256, CKPT_LOAD_ALL, &cerr);
    if (rc < 0) expect(cerr.msg, "parameters, more than the 1073741824 allowed",
                       "checkpoint of a 1.5e9-parameter network refused");
    else { T_OK(0, "checkpoint of a 1.5e9-parameter network refused"); ckpt_destroy(&ck); }
    rc = ckpt_load(&ck, fx("ckpt-huge-act.ckpt"), 1, CKPT_LOAD_ALL, &cerr);
    if (rc < 0) expect(cerr.msg, "GiB for batches of 1, more than the 256 GiB allowed",
                       "checkpoint of a network for 4096x4096 images refused");
    else { T_OK(0, "checkpoint of a network for 4096x4096 images refused"); ckpt_destroy(&ck); }
    rc = ckpt_load(&ck, fx("ckpt-huge-bank.ckpt"), 2, CKPT_LOAD_ALL, &cerr);
    if (rc < 0) expect(cerr.msg, "truncated (stream ends before",
                       "checkpoint declaring a 512 GiB bank: truncated, not out of memory");
    else { T_OK(0, "checkpoint declaring a 512 GiB bank refused"); ckpt_destroy(&ck); }

    const char *pb = fx("png-bomb.tar"), *jb = fx("jpeg-bomb.tar");
    rc = prep_load(&d, &pb, 1, &o, &err);
    if (rc < 0) expect(err.msg, "decompression bomb", "PNG of 16000x16000 in 64 bytes refused");
    else { T_OK(0, "PNG bomb refused"); prep_data_destroy(&d); }
    rc = prep_load(&d, &jb, 1, &o, &err);
    if (rc < 0) expect(err.msg, "decompression bomb", "JPEG of 16000x16000 in 128 bytes refused");
    else { T_OK(0, "JPEG bomb refused"); prep_data_destroy(&d); }
    const char *ph = fx("png-20000.tar");
    rc = prep_load(&d, &ph, 1, &o, &err);
    if (rc < 0) expect(err.msg, "PNG header claims 20000x20000 pixels",
                       "PNG header claiming 20000x20000 refused before its pixels");
    else { T_OK(0, "PNG of 20000x20000 refused"); prep_data_destroy(&d); }
    fflush(stdout);
    return t_done();
}
