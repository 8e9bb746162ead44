/* fuzz_dataset.c: libFuzzer target for the dataset and features loaders
 * (dataset.c) on top of the stream reader: dataset_load, the streaming
 * dstream_* interface (as ssl-extract uses it) and features_load, each on
 * the same input. Seeds: tests/fuzz/corpus/dataset/. */
#include "fuzz.h"

#include <stdlib.h>

#include "stream/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    ssl_err err = {0};
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0) return 0;

    ssl_dataset d;
    if (dataset_load(&d, path, &err) == 0) dataset_destroy(&d);

    ssl_dstream *s = dstream_open(path, &err);
    if (s) {
        const ssl_dataset *info = dstream_info(s);
        int64_t per = (int64_t)info->c * info->h * info->w;
        if (per > 0 && per <= (1 << 20)) {
            uint8_t *im = malloc((size_t)per * 4);
            int32_t lab[4];
            if (im) while (dstream_next(s, im, lab, 4) > 0) {}
            free(im);
        }
        (void)dstream_error(s)->msg;
        dstream_close(s);
    }

    ssl_features f;
    if (features_load(&f, path, &err) == 0) features_destroy(&f);
    close(fd);
    return 0;
}
