#!/bin/sh
# mpi.sh: data-parallel training (ssl-train(1), DATA PARALLEL) on this
# machine: img/s of the training steps for 1 process of 1 thread, 1 process
# of 2 threads, and R = 2 ranks of 1 thread each (global batch 256, so the
# same work per step), the ranks both with the default gradient buckets
# overlapped with the backward and with --bucket-mb 0 (one allreduce after
# it), and the bytes each rank passes to the collectives per step (the
# payload: gradients, the bank's update, the statistics), with the share of
# the step the ranks spent inside them (for the buckets: inside the calls
# that start, test and wait for them). ResNet-18 at width 0.25 and 1 (or
# MPI_WIDTHS) on 28x28 grey images, the paper's head (mlp3, d 2048), k 4096,
# the grad write. The four runs alternate, MPI_ROUNDS rounds (default 1),
# each MPI_STEPS steps (default 6; width 1 runs a third); MPI_SINGLE=0
# leaves out the two runs of one process (an A/B of the buckets alone).
# Speed is reported, never asserted; on a loaded machine the figures move
# by tens of percent.
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-$TOP/bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
PATH="$BIN:$PATH"
if ! command -v mpirun >/dev/null 2>&1 || ! ssl-train --help | grep -q "This build has MPI"; then
    echo "mpi: skipped (no mpirun, or ssl-train built without MPI)"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-mpi.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
ROUNDS=${MPI_ROUNDS:-1}
STEPS=${MPI_STEPS:-6}
"$BIN/tests/test_train" --write-dataset "$T/d.sslt" 1024 28 1 || { echo "mpi: no data (make tests)"; exit 1; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (figures scale down with other load)"
# FIELD of the last step line of a log (step_img_s is over the whole run).
# "-" when the run was left out (MPI_SINGLE=0).
last() {
    [ -f "$2" ] || { echo -; return; }
    grep '"event":"step"' "$2" | tail -n 1 | sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"
}
for w in ${MPI_WIDTHS:-0.25 1}; do
    steps=$STEPS
    [ "$w" = 1 ] && steps=$(( (STEPS + 2) / 3 + 2 ))
    ssl-init-bank -q --width $w --head mlp3 --dim 2048 --bank random --seed 1 --threads 2 \
        "$T/d.sslt" -o "$T/i$w.ckpt" || exit 1
    TR="--batch 256 -k 4096 --lr 0.5 --epochs 1 --max-steps $steps"
    for r in $(seq "$ROUNDS"); do
        if [ "${MPI_SINGLE:-1}" != 0 ]; then
            ssl-train -q $TR --threads 1 --log "$T/a.jsonl" "$T/i$w.ckpt" "$T/d.sslt" -o "$T/a.ckpt"
            ssl-train -q $TR --threads 2 --log "$T/b.jsonl" "$T/i$w.ckpt" "$T/d.sslt" -o "$T/b.ckpt"
        fi
        mpirun --oversubscribe --bind-to none -n 2 ssl-train -q $TR --threads 1 --log "$T/c.jsonl" \
            "$T/i$w.ckpt" "$T/d.sslt" -o "$T/c.ckpt"
        mpirun --oversubscribe --bind-to none -n 2 ssl-train -q $TR --threads 1 --bucket-mb 0 \
            --log "$T/d.jsonl" "$T/i$w.ckpt" "$T/d.sslt" -o "$T/d.ckpt"
        printf 'width %s, round %s: img/s of steps: 1 process x 1 thread %s, 1 process x 2 threads %s, 2 ranks x 1 thread %s (--bucket-mb 0: %s)\n' \
            "$w" "$r" "$(last step_img_s "$T/a.jsonl")" "$(last step_img_s "$T/b.jsonl")" \
            "$(last step_img_s "$T/c.jsonl")" "$(last step_img_s "$T/d.jsonl")"
        printf '  2 ranks: %s bytes per step per rank (collectives payload); inside them: %s of the step with %s buckets, %s with --bucket-mb 0\n' \
            "$(last step_bytes "$T/c.jsonl")" "$(last comm_share "$T/c.jsonl")" \
            "$(last buckets "$T/c.jsonl")" "$(last comm_share "$T/d.jsonl")"
        cmp -s "$T/c.ckpt" "$T/d.ckpt" || echo "  (the two runs of 2 ranks gave different checkpoints: a bug)"
        rm -f "$T"/[abcd].jsonl
    done
done
