/* fuzz_train_config.c: libFuzzer target for the training configuration
 * (train_config.c) and the network configuration parser (net_config.c),
 * both of which read maps stored in checkpoints.
 *
 * The input is one msgpack value. It goes in as the metadata of a stream
 * header record built here (zstd level 1), so it passes the stream
 * reader's msgpack checks and sv_from_msgpack exactly as a checkpoint's
 * configuration does (msgpack-c alone would allocate what an array count
 * claims). The map (and its "train" and "net" entries) is then applied to
 * the defaults of both recipes, checked, turned back into a map and
 * compared with the defaults both ways, as ssl-train does on resume, and
 * the derived NPID, augmentation and schedule settings are computed; the
 * "net" entry is parsed and sized. Seeds: tests/fuzz/corpus/train_config/. */
#include "fuzz.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "run/train.h"

static void pack_str(msgpack_packer *pk, const char *s) {
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A stream of one header record whose meta is the input; NULL if too big. */
static unsigned char *stream_of(const uint8_t *data, size_t size, size_t *n) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    pack_str(&pk, "magic"); pack_str(&pk, "sslt");
    pack_str(&pk, "version"); msgpack_pack_int(&pk, 1);
    pack_str(&pk, "type"); pack_str(&pk, "header");
    pack_str(&pk, "kind"); pack_str(&pk, "checkpoint");
    pack_str(&pk, "tensors"); msgpack_pack_array(&pk, 0);
    pack_str(&pk, "meta");
    msgpack_sbuffer_write(&sb, (const char *)data, size);
    size_t cap = ZSTD_compressBound(sb.size);
    unsigned char *z = malloc(cap);
    size_t k = z ? ZSTD_compress(z, cap, sb.data, sb.size, 1) : 0;
    msgpack_sbuffer_destroy(&sb);
    if (!z || ZSTD_isError(k)) { free(z); return NULL; }
    *n = k;
    return z;
}

static void one_recipe(const char *recipe, const sv *m) {
    ssl_err nerr = {0};
    ssl_err err = {0};
    train_config c, d;
    if (train_config_default(&c, recipe, 32, 24)) return;
    d = c;
    sv *def = train_config_to_sv(&d);
    const sv *tm = sv_get(m, "train") ? sv_get(m, "train") : m;
    if (train_config_apply(&c, tm, &err) == 0 && train_config_check(&c, &err) == 0) {
        sv *now = train_config_to_sv(&c);
        (void)train_config_compare(def, now, &err);
        (void)train_config_compare(now, def, &err);
        npid_config nc;
        aug_config a;
        lr_sched s;
        train_npid_config(&c, &nc);
        train_aug_config(&c, 32, 24, &a);
        train_sched(&c, &s);
        for (int e = 0; e < 3; e++) (void)lr_sched_rate(&s, e, e * 10, 10);
        sv_free(now);
    }
    (void)train_config_compare(tm, def, &err);
    (void)train_config_compare(def, tm, &err);
    net_config ncfg;
    int64_t params, bytes;
    if (net_config_from_sv(&ncfg, sv_get(m, "net") ? sv_get(m, "net") : m, &nerr) == 0)
        (void)net_size(&ncfg, 2, &params, &bytes, &nerr);
    sv_free(def);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n;
    char path[64];
    ssl_err err = {0};
    unsigned char *z = stream_of(data, size, &n);
    if (!z) return 0;
    int fd = fuzz_memfile(z, n, path);
    free(z);
    if (fd < 0) return 0;
    sslt_reader *r = sslt_reader_open_fd(fd, "fuzz", &err);
    const sslt_header *h;
    if (r && sslt_reader_next(r, &h) > 0) {
        one_recipe("paper", h->meta);
        one_recipe("npid", h->meta);
    }
    sslt_reader_close(r);
    close(fd);
    return 0;
}
