/* fuzz_sslt.c: libFuzzer target for the tensor stream reader (sslt_read.c).
 *
 * The input is read as a stream through sslt_reader_open_fd: every section
 * header is parsed, its metadata printed as JSON (to /dev/null), the first
 * section is read with sslt_reader_read_all and the others chunk by chunk,
 * as ssl-info --check does. Seeds: tests/fuzz/corpus/sslt/. */
#include "fuzz.h"

#include <stdlib.h>

#include "stream/sslt.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    ssl_err err = {0};
    if (!devnull) devnull = fopen("/dev/null", "w");
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0) return 0;
    sslt_reader *r = sslt_reader_open_fd(fd, "fuzz", &err);
    if (!r) { close(fd); return 0; }
    const sslt_header *h;
    int k, section = 0;
    while ((k = sslt_reader_next(r, &h)) > 0) {
        if (devnull) sv_write_json(h->meta, devnull, section & 1 ? -1 : 2);
        for (int i = 0; i < h->ntensors; i++) (void)sslt_tensor_bytes(&h->tensors[i]);
        if (section++ == 0 && h->ntensors <= 64) {
            void *all[64];
            if (sslt_reader_read_all(r, all, NULL) == 0)
                for (int i = 0; i < h->ntensors; i++) free(all[i]);
            else
                break;
        } else {
            int ti;
            int64_t row, nrows;
            const void *p;
            volatile uint8_t sink = 0;
            while ((k = sslt_reader_chunk(r, &ti, &row, &nrows, &p)) > 0)
                sink ^= *(const uint8_t *)p;
            if (k < 0) break;
        }
    }
    (void)sslt_reader_error(r)->msg;
    sslt_reader_close(r);
    close(fd);
    return 0;
}
