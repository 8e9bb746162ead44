/* fuzz_idx.c: libFuzzer target for the IDX reader (prep_idx.c): plain and
 * compressed (gzip, through libarchive) MNIST image and label files.
 *
 * Input layout: the first byte b picks where the input splits: the images
 * file is data[1 .. 1+k), the labels file the rest, with k = the first
 * (b * len / 256) bytes. Both are classified with prep_idx_kind and loaded
 * with prep_idx_load in both orders. Seeds: tests/fuzz/corpus/idx/. */
#include "fuzz.h"

#include "data/prep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char pi[64], pl[64];
    ssl_err err = {0};
    if (size < 1) return 0;
    size_t len = size - 1, k = (size_t)data[0] * len / 256;
    int fi = fuzz_memfile(data + 1, k, pi);
    int fl = fuzz_memfile(data + 1 + k, len - k, pl);
    if (fi >= 0 && fl >= 0) {
        prep_data d;
        (void)prep_idx_kind(pi, &err);
        (void)prep_idx_kind(pl, &err);
        if (prep_idx_load(&d, pi, pl, &err) == 0) prep_data_destroy(&d);
        if (prep_idx_load(&d, pl, pi, &err) == 0) prep_data_destroy(&d);
    }
    if (fi >= 0) close(fi);
    if (fl >= 0) close(fl);
    return 0;
}
