#!/bin/sh
# tests/fuzz/run.sh: build the libFuzzer targets and run each for a bounded
# time (make fuzz). Needs clang (Debian's, with libFuzzer).
#
# Each tests/fuzz/fuzz_NAME.c is built with
#   clang -fsanitize=fuzzer,address,undefined
# together with the library sources it reads with (compiled by clang here,
# not the gcc archive) into build-fuzz/NAME, and run on a copy of its seed
# corpus tests/fuzz/corpus/NAME/ in build-fuzz/corpus/NAME/ (new inputs
# found accumulate there between runs, never in the source tree), with
#   -rss_limit_mb=2048 -malloc_limit_mb=1024
# so that any allocation a header can talk a reader into is found.
# A crash, leak, sanitizer report, timeout or over-limit allocation leaves
# the input in build-fuzz/crashes/ and makes the script exit 1: minimise it
# (build-fuzz/NAME -minimize_crash=1 FILE), fix it, and commit it under
# tests/fixtures/regress/ with a row in the table of tests/README.
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 60); 0 only replays the seeds
#   FUZZ_TARGETS   space-separated target names (default: every fuzz_*.c)
#   FUZZ_JOBS      parallel fuzzing processes per target (default 1)
#   CLANG          the compiler (default clang)
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
CLANG=${CLANG:-clang}
SECS=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
OUT=build-fuzz
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "fuzz: $CLANG not found (apt-get install clang)" >&2
    exit 1
fi
MSGPACK=msgpack
pkg-config --exists msgpack-c 2>/dev/null && MSGPACK=msgpack-c
PKGS="libarchive $MSGPACK libzstd libpng libjpeg"
# -march=native as the Makefile's build: the bf16 kernels' files select
# AVX-512 with "#pragma GCC target", which clang ignores.
CFLAGS="-std=gnu11 -g -O1 -march=native -fno-omit-frame-pointer -pthread -iquote lib -iquote tools \
 -DSSL_VERSION=\"$(cat VERSION 2>/dev/null || echo 0)\" -DSSL_FUZZING=1 \
 $(pkg-config --cflags $PKGS) -fsanitize=address,undefined -fno-sanitize-recover=undefined"
LIBS="$(pkg-config --libs $PKGS) -lopenblas -lm -pthread"
# The library sources every target may need (readers of outside data and
# what they call). The checkpoint reader builds a network from the stored
# configuration, so the network and its ops come too; train_config.c uses
# the augmentation defaults and the schedules.
LIB_SRC="util/value util/json util/outfile util/mem stream/safetensors stream/sslt_common stream/sslt_read stream/sslt_write stream/dataset
         data/prep_idx data/prep_cifar data/prep_images data/prep_archive data/image data/prep
         util/threads util/rng util/err util/clock run/prep run/dist eval/pair eval/fewshot
         run/ckpt run/train_config nn/net_config nn/net_build nn/net nn/lr_sched
         nn/ops/conv nn/ops/conv_shape nn/ops/conv_direct nn/ops/conv_winograd nn/ops/bn nn/ops/act
         nn/ops/linear nn/ops/pool nn/ops/gemm nn/ops/gemm_bf16 nn/ops/conv_amx nn/ops/dwconv nn/ops/se nn/net_mobile data/augment
         data/pixel_ops"
mkdir -p "$OUT/obj" "$OUT/crashes" || exit 1

objs=
for s in $LIB_SRC; do
    o="$OUT/obj/$(echo "$s" | tr / _).o"
    # dwconv.c's kernels (16-lane vectors over AVX2 pairs, always inlined)
    # take clang over 100 s under UBSan at -O1 (41 s with ASan alone); at
    # -O0, 6 s. The readers fuzzed here never run them.
    opt=
    case $s in nn/ops/dwconv) opt=-O0 ;; esac
    if [ ! -f "$o" ] || [ "lib/$s.c" -nt "$o" ] || [ -n "$(find lib -name '*.h' -newer "$o")" ]; then
        echo "fuzz: cc lib/$s.c"
        # shellcheck disable=SC2086
        $CLANG $CFLAGS $opt -fsanitize=fuzzer-no-link -c "lib/$s.c" -o "$o" || exit 1
    fi
    objs="$objs $o"
done

targets=${FUZZ_TARGETS:-$(for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; echo "${n%.c}"; done)}
failed=
for t in $targets; do
    src=tests/fuzz/fuzz_$t.c
    [ -f "$src" ] || { echo "fuzz: no target $src" >&2; exit 1; }
    echo "fuzz: build $t"
    # shellcheck disable=SC2086
    $CLANG $CFLAGS -fsanitize=fuzzer -o "$OUT/$t" "$src" $objs $LIBS || exit 1
    mkdir -p "$OUT/corpus/$t"
    [ -d "tests/fuzz/corpus/$t" ] && cp -n tests/fuzz/corpus/"$t"/* "$OUT/corpus/$t/" 2>/dev/null
    opts="-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 -max_len=262144
          -artifact_prefix=crashes/$t- -print_final_stats=0"
    if [ "$SECS" -eq 0 ]; then
        echo "fuzz: replay $t ($(ls "$OUT/corpus/$t" | wc -l) inputs)"
        # shellcheck disable=SC2086
        ( cd "$OUT" && exec "./$t" $opts -runs=0 "corpus/$t" ) >"$OUT/$t.log" 2>&1
    else
        echo "fuzz: run $t for ${SECS}s"
        par=
        # -jobs writes fuzz-N.log files into the current directory: build-fuzz/.
        [ "$JOBS" -gt 1 ] && par="-jobs=$JOBS -workers=$JOBS"
        # shellcheck disable=SC2086
        ( cd "$OUT" && exec "./$t" $opts -max_total_time="$SECS" $par "corpus/$t" ) \
            >"$OUT/$t.log" 2>&1
    fi
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "fuzz: $t FAILED (exit $rc): see $OUT/$t.log and $OUT/crashes/" >&2
        grep -E 'ERROR|SUMMARY|runtime error|malloc\(' "$OUT/$t.log" | head -5 >&2
        failed="$failed $t"
    else
        echo "fuzz: $t ok: $(grep -Eo 'cov: [0-9]+' "$OUT/$t.log" | tail -1), corpus $(ls "$OUT/corpus/$t" | wc -l)"
    fi
done
[ -z "$failed" ] || { echo "fuzz: failures:$failed" >&2; exit 1; }
echo "fuzz: all targets ok"
