/* fuzz_images.c: libFuzzer target for image folders in archives
 * (prep_images.c through libarchive) and the PNG/JPEG decoders (image.c).
 *
 * The input is tried as one encoded image (image_decode, each channel
 * choice), then as an archive of class folders (prep_images_load, once as
 * stored and once resized to 8x8 grey, which also runs prep_convert's
 * resizing). The library's pool runs one thread. Seeds:
 * tests/fuzz/corpus/images/ (small tar/zip trees and single PNG/JPEG files). */
#include "fuzz.h"

#include "data/image.h"
#include "data/prep.h"
#include "util/threads.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int once;
    char path[64];
    ssl_err err = {0};
    if (!once) { ssl_set_threads(1); once = 1; }
    if (image_sniff(data, size) != IMAGE_UNKNOWN) {
        for (int c = 0; c <= 3; c += c ? 2 : 1) {
            image im = {0};
            if (image_decode(&im, data, size, c, 4096, &err) == 0) image_free(&im);
        }
        return 0;
    }
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0) return 0;
    prep_opts o = {0};
    prep_data d;
    if (prep_images_load(&d, path, &o, &err) == 0) {
        prep_data_destroy(&d);
        o.channels = 1; o.height = 8; o.width = 8;
        if (prep_images_load(&d, path, &o, &err) == 0) prep_data_destroy(&d);
    }
    /* The other layouts' paths: no labels, class folders insisted on,
     * bad images skipped (the first byte picks, so each input runs one). */
    prep_opts p = {0};
    p.labels = size && data[0] & 1 ? "folders" : "none";
    p.on_error = PREP_ON_ERROR_SKIP;
    if (prep_images_load(&d, path, &p, &err) == 0) prep_data_destroy(&d);
    close(fd);
    return 0;
}
