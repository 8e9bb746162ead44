/* fuzz_cifar.c: libFuzzer target for the CIFAR-10/100 tarball reader
 * (prep_cifar.c, through libarchive and its filters): detection, then both
 * splits, fine and coarse labels. Seeds: tests/fuzz/corpus/cifar/. */
#include "fuzz.h"

#include "data/prep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    ssl_err err = {0};
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0) return 0;
    if (prep_cifar_detect(path, &err) == 1) {
        static const char *const splits[] = {"train", "test"};
        for (int i = 0; i < 2; i++) {
            prep_opts o = {0};
            prep_data d;
            o.split = splits[i];
            o.labels = i ? "coarse" : NULL;
            if (prep_cifar_load(&d, path, &o, &err) == 0) prep_data_destroy(&d);
        }
    }
    close(fd);
    return 0;
}
