/* bench_decode.c: how fast PNG/JPEG files decode alone, the floor for
 * ssl-prep on an image folder (tests/bench/prep_images.sh compares).
 *
 * usage: bench_decode --make DIR N     write N small images into DIR (flat):
 *                                      even i: PNG RGB 32x32, odd: JPEG
 *                                      (quality 90) RGB 32x32; every 10th is
 *                                      48x40 grey instead
 *        bench_decode DIR [--threads N]
 *                                      decode every file of DIR: first with
 *                                      the files already in memory, then
 *                                      reading each file too, on the
 *                                      library's thread pool
 * Prints one line per measure on stdout:
 *     decode only (in memory), threads=2: 3000 images in 0.081 s (0.150 s CPU),
 *     37000 images/s, 20000 per CPU second
 * Speed is reported, never asserted. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../prep_fixture.h"
#include "data/image.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/rng.h"
#include "util/threads.h"

static int make(const char *dir, int n) {
    mkdirs(dir);
    rng r;
    rng_init(&r, 1, 2, 3);
    for (int i = 0; i < n; i++) {
        int grey = i % 10 == 9, h = grey ? 40 : 32, w = grey ? 48 : 32, c = grey ? 1 : 3;
        uint8_t *px = malloc((size_t)h * w * c);
        for (int y = 0; y < h; y++)       /* a gradient with noise: compresses like a photo */
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    px[((size_t)y * w + x) * c + k] = (uint8_t)(x * 4 + y * 2 + k * 40 + rng_below(&r, 24));
        membuf m = i % 2 ? jpeg_encode(px, h, w, c)
                         : png_encode(px, h, w, grey ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, NULL, 0);
        char path[4096];
        snprintf(path, sizeof path, "%s/img%05d.%s", dir, i, i % 2 ? "jpg" : "png");
        write_file(path, m.p, m.n);
        free(m.p);
        free(px);
    }
    return 0;
}

typedef struct {
    char **paths;
    uint8_t **data;
    size_t *len;
    int64_t n;
    int read_files;
    int failed;
} job;

static int read_file(const char *path, uint8_t **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(sz > 0 ? (size_t)sz : 1);
    *len = *data ? fread(*data, 1, (size_t)sz, f) : 0;
    fclose(f);
    return *data && *len == (size_t)sz ? 0 : -1;
}

static void decode_range(void *ctx, int64_t b, int64_t e, int tid) {
    job *j = ctx;
    (void)tid;
    for (int64_t i = b; i < e; i++) {
        uint8_t *buf = j->data[i];
        size_t len = j->len[i];
        if (j->read_files && read_file(j->paths[i], &buf, &len)) { j->failed = 1; continue; }
        image im;
        ssl_err err;
        if (image_decode(&im, buf, len, 0, 16384, &err)) j->failed = 1;
        else image_free(&im);
        if (j->read_files) free(buf);
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int bench(const char *dir) {
    DIR *dp = opendir(dir);
    if (!dp) { perror(dir); return 1; }
    job j = {0};
    int64_t cap = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.') continue;
        if (j.n == cap) {
            cap = cap ? cap * 2 : 1024;
            j.paths = realloc(j.paths, sizeof(char *) * (size_t)cap);
        }
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        j.paths[j.n] = malloc(len);
        snprintf(j.paths[j.n++], len, "%s/%s", dir, de->d_name);
    }
    closedir(dp);
    qsort(j.paths, (size_t)j.n, sizeof(char *), cmp_str);
    j.data = calloc((size_t)j.n + 1, sizeof(uint8_t *));
    j.len = calloc((size_t)j.n + 1, sizeof(size_t));
    for (int64_t i = 0; i < j.n; i++)
        if (read_file(j.paths[i], &j.data[i], &j.len[i])) { fprintf(stderr, "%s: cannot read\n", j.paths[i]); return 1; }
    for (int pass = 0; pass < 2; pass++) {
        j.read_files = pass;
        double t0 = ssl_clock();
        clock_t c0 = clock();
        ssl_parallel_for(j.n, 1, decode_range, &j);
        double dt = ssl_clock() - t0, cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
        if (j.failed) { fprintf(stderr, "bench_decode: a file did not decode\n"); return 1; }
        printf("%s, threads=%d: %lld images in %.3f s (%.3f s CPU), %.0f images/s, %.0f per CPU second\n",
               pass ? "read + decode (files)" : "decode only (in memory)", ssl_threads(),
               (long long)j.n, dt, cpu, j.n / dt, cpu > 0 ? j.n / cpu : 0);
    }
    for (int64_t i = 0; i < j.n; i++) { free(j.paths[i]); free(j.data[i]); }
    free(j.paths); free(j.data); free(j.len);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--make")) return make(argv[2], atoi(argv[3]));
    int threads = 0;
    if (argc == 4 && !strcmp(argv[2], "--threads")) threads = atoi(argv[3]);
    else if (argc != 2) {
        fprintf(stderr, "usage: bench_decode --make DIR N | bench_decode DIR [--threads N]\n");
        return 2;
    }
    ssl_set_threads(threads);
    return bench(argv[1]);
}
