/* fuzz_safetensors.c: libFuzzer target for the safetensors reader
 * (stream/safetensors.c) and the JSON reader under it (util/json.c).
 *
 * The input is read as a file by st_read twice, counting the data and
 * keeping it (the buffer grows as data arrives, so a header cannot make it
 * allocate); every tensor of a good file is touched at its last byte. The
 * input is also parsed as a header text by st_parse_header, which reaches
 * the JSON reader without the length prefix. Seeds:
 * tests/fuzz/corpus/safetensors/. */
#include "fuzz.h"

#include <stdlib.h>

#include "stream/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    ssl_err err = {0};
    st_header h;
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0) return 0;
    if (st_read(path, &h, NULL, &err) == 0) st_header_destroy(&h);
    void *d = NULL;
    if (st_read(path, &h, &d, &err) == 0) {
        volatile unsigned char sink = 0;
        for (int i = 0; i < h.ntensors; i++)
            if (h.tensors[i].end > h.tensors[i].begin) sink ^= ((unsigned char *)d)[h.tensors[i].end - 1];
        (void)sink;
        st_header_destroy(&h);
        free(d);
    }
    close(fd);
    if (st_parse_header((const char *)data, size, &h, &err) == 0) st_header_destroy(&h);
    return 0;
}
