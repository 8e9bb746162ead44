/* fuzz_ckpt.c: libFuzzer target for the checkpoint reader (ckpt.c) and
 * what it builds from a checkpoint's configuration (net_config_from_sv,
 * net_size, net_new).
 *
 * The input is a stream: ckpt_open reads its header, the stored config.net
 * is parsed and sized with net_size for batches of 2, and when the network
 * needs at most FUZZ_NET_BYTES ckpt_read loads it with everything (bank
 * and momentum), then ckpt_load reads the same input again with the
 * weights only. The library refuses networks over NET_MAX_PARAMS and
 * NET_MAX_BYTES (net.h), which are far above the 1 GiB single allocation
 * libFuzzer allows (-malloc_limit_mb), so the target itself skips larger
 * ones; net_size is exercised on every configuration, and any allocation
 * ckpt_read makes that a header alone can drive (the bank) is found.
 * Seeds: tests/fuzz/corpus/ckpt/. */
#include "fuzz.h"

#include <stdlib.h>

#include "run/ckpt.h"

#define FUZZ_NET_BYTES (64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    ssl_err nerr = {0};
    ssl_err err = {0};
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0) return 0;
    ckpt_reader *r = ckpt_open(path, &err);
    if (r) {
        net_config nc;
        int64_t params = 0, bytes = 0;
        const sv *netcfg = sv_get(sv_get(ckpt_meta(r), "config"), "net");
        int small = net_config_from_sv(&nc, netcfg, &nerr) == 0 &&
                    net_size(&nc, 2, &params, &bytes, &nerr) == 0 && bytes <= FUZZ_NET_BYTES;
        ssl_ckpt c;
        if (small && ckpt_read(r, &c, 2, CKPT_LOAD_ALL, &err) == 0) {
            volatile float sink = 0;
            if (c.n > 0) sink += c.bank[(c.n - 1) * c.d] + (float)c.bank_labels[c.n - 1];
            (void)sink;
            ckpt_destroy(&c);
        }
        ckpt_close(r);
        if (small) {
            lseek(fd, 0, SEEK_SET);
            if (ckpt_load(&c, path, 1, 0, &err) == 0) ckpt_destroy(&c);
        }
    }
    close(fd);
    return 0;
}
