# valgrind.sh: a tiny end-to-end pipeline under valgrind (memcheck) with no
# errors and no definite leaks: ssl-prep (image folder) -> ssl-info --check
# -> ssl-init-bank -> ssl-train (2 steps) -> ssl-extract -> ssl-knn, and
# ssl-export (--head, --check, a lying header), one thread each. SKIP when valgrind is missing or BIN is a sanitizer build.
# Valgrind does not decode AVX-512, which -march=native uses on this
# machine: when the CPU has AVX-512, a private copy of the tools is built
# with ARCHFLAGS=-march=x86-64-v3 in build-vg/ and bin-vg/ (incremental,
# about 20 s the first time) and run instead of BIN's. Steps whose tool is not built
# print SKIP.
. "$TOP/tests/lib.sh"
if ! command -v valgrind >/dev/null 2>&1; then
    skip "valgrind pipeline" "valgrind not installed"; done_tests
fi
if ldd "$BIN/ssl-info" 2>/dev/null | grep -q 'lib[at]san'; then
    skip "valgrind pipeline" "$BIN is a sanitizer build"; done_tests
fi
VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
OPENBLAS_NUM_THREADS=1; export OPENBLAS_NUM_THREADS    # no idle BLAS threads at start
VB=$BIN
# -march=native on an AVX-512 machine: build the copy valgrind can decode.
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    mkdir -p "$TOP/build-vg"
    VB="$TOP/bin-vg"
    ( cd "$TOP" && flock build-vg/.lock make -s -j2 BUILD=build-vg BIN=bin-vg \
        ARCHFLAGS=-march=x86-64-v3 all bin-vg/tests/test_prep ) >"$T/build.log" 2>&1 ||
        { fail "build a copy valgrind can run" "$(tail -c 300 "$T/build.log")"; done_tests; }
fi
# vg NAME TOOL ARGS...: the tool under valgrind exits ${WANT:-0} (99 would
# be memcheck errors).
vg() {
    nm=$1; t=$2; shift 2
    if [ ! -x "$VB/$t" ]; then skip "$nm" "$t not built"; return 1; fi
    $VG "$VB/$t" "$@" >"$T/vg.out" 2>"$T/vg.err"
    rc=$?
    if [ $rc -eq "${WANT:-0}" ]; then pass "$nm"
    else fail "$nm" "exit $rc: $(grep -v '^==[0-9]*== *$' "$T/vg.err" | head -c 400)"; return 1; fi
}
NET="--width 0.125 --head mlp3 --hidden 32 --dim 16 --threads 1"
"$VB/tests/test_prep" --mkfolder "$T/f" || fail "make an image folder"
vg "valgrind: ssl-prep image folder" ssl-prep -q --size 28 --channels 1 --threads 1 "$T/f" -o "$T/d.sslt" &&
vg "valgrind: ssl-info --check" ssl-info --check "$T/d.sslt"
vg "valgrind: ssl-info --json" ssl-info --json "$T/d.sslt"
WANT=1 vg "valgrind: ssl-prep on a corrupt PNG: exit 1, no memcheck errors" ssl-prep -q "$TOP/tests/fixtures/regress/png-corrupt.tar" -o "$T/bad.sslt"
WANT=1 vg "valgrind: ssl-info on a truncated stream: exit 1, no memcheck errors" ssl-info --check "$TOP/tests/fixtures/regress/truncated.sslt"
vg "valgrind: ssl-init-bank" ssl-init-bank -q $NET --batch 5 --seed 1 "$T/d.sslt" -o "$T/c.ckpt" &&
vg "valgrind: ssl-train 2 steps" ssl-train --batch 4 -k 3 --lr 0.05 --threads 1 -q --max-steps 2 "$T/c.ckpt" "$T/d.sslt" -o "$T/t.ckpt" &&
vg "valgrind: ssl-extract" ssl-extract -q --threads 1 "$T/t.ckpt" "$T/d.sslt" -o "$T/x.feat" &&
vg "valgrind: ssl-knn" ssl-knn -q -k 2 --threads 1 "$T/x.feat" "$T/x.feat"
vg "valgrind: ssl-export --head" ssl-export --head "$T/t.ckpt" -o "$T/m.safetensors" &&
vg "valgrind: ssl-export --check" ssl-export --check "$T/m.safetensors"
WANT=1 vg "valgrind: ssl-export --check on an overlapping header: exit 1, no memcheck errors" \
    ssl-export --check "$TOP/tests/fixtures/regress/st-overlap.safetensors"
done_tests
