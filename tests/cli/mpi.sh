# ssl-train under mpirun (ssl-train(1), DATA PARALLEL), 2 ranks:
#  - equivalence: R = 2 ranks of B/2 with --sync-bn against one process of
#    B, step by step from the same checkpoints along an 8-step run: the
#    same loss per step and the same bank and network to float tolerance
#    (1e-4), the resumed segments the uninterrupted run's bits, with the grad and the
#    npid bank writes, with and without CutMix, negatives k and all; without
#    --sync-bn the losses differ (the comparison can fail);
#  - buckets (--bucket-mb): R = 2 with the default bucket, with small
#    buckets (several per step, overlapped with the backward) and with
#    --bucket-mb 0 (one allreduce after the backward) give the same bits
#    (checkpoint and losses), with the grad and the npid writes, with and
#    without --sync-bn;
#  - determinism: two R = 2 runs with --deterministic are the same bits, and
#    --check-replicas finds the ranks' replicas the same after every step;
#    two R = 3 runs with the same small buckets are the same bits;
#  - faults: a rank killed mid-run -> mpirun exits non-zero, the last
#    checkpoint loads, and a resume with R = 1 continues its schedule;
#    SIGTERM to mpirun or to one rank: a step boundary, a checkpoint with
#    every finished step, a resume with R = 2;
#  - bad input: a batch that 2 does not divide, different flags (and
#    different --bucket-mb) on the two ranks, a checkpoint missing on one
#    rank: one message from rank 0, every rank stops; the tools that run as
#    one process refuse 2 ranks; a bad --bucket-mb is a usage error.
# SKIP when mpirun is missing or ssl-train was built without MPI (make asan
# builds without); tools/deps.sh --test installs Open MPI so CI runs it.
. "$TOP/tests/lib.sh"
if ! command -v mpirun >/dev/null 2>&1; then
    skip "mpi" "mpirun not found (tools/deps.sh --test installs openmpi-bin)"
    done_tests
fi
if ! ssl-train --help | grep -q "This build has MPI"; then
    skip "mpi" "ssl-train was built without MPI (make MPI=1)"
    done_tests
fi
# As root Open MPI wants these; 2 ranks may oversubscribe the cores here.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
# -q: no notes of mpirun's own, so that a failure is the one line of rank 0.
MPI="mpirun -q --oversubscribe --bind-to none"
gen="$BIN/tests/test_train"
ok "make a dataset" "$gen" --write-dataset "$T/d.sslt" 64 16 1
ok "make another dataset" "$gen" --write-dataset "$T/e.sslt" 48 16 1
# A linear head and --bank-lr 0.2: this tiny run is otherwise chaotic, in
# one process too (the mlp3 head's BatchNorm over 16 rows, the grad write
# at --bank-lr 1, negatives all without CutMix: there the Winograd and
# direct kernels' rounding alone moves the loss by 0.1 within 24 steps).
# Even so a rounding difference (BatchNorm's sums over 8 rows and an
# allreduce against sums over 16) can grow tenfold a step: seen on an
# AVX2 machine, 1e-5 in the loss at step 4, 8e-3 at step 8. So each step
# is checked on its own, from a common checkpoint.
ok "init" ssl-init-bank --width 0.0625 --head linear --dim 16 --batch 16 --seed 1 \
    --threads 1 "$T/d.sslt" -o "$T/0.ckpt"

# The loss column of a JSON log, one line per step.
losses() { grep '"event":"step"' "$1" | sed -E 's/.*"loss":([^,]*),.*/\1/'; }
# The largest |a - b| / max(1, |a|) over two loss columns (n lines each), or
# "count" when they have different lengths.
maxrel() {
    losses "$1" >"$T/la"; losses "$2" >"$T/lb"
    [ "$(wc -l <"$T/la")" -eq "$(wc -l <"$T/lb")" ] || { echo count; return; }
    paste "$T/la" "$T/lb" | awk '{ d = $1 - $2; if (d < 0) d = -d; a = $1 < 0 ? -$1 : $1;
        if (a < 1) a = 1; if (d / a > m) m = d / a } END { printf "%.3g\n", m + 0 }'
}
# Wait until a log has N step lines (at most a minute).
wait_steps() {
    i=0
    while :; do
        n=$(grep -c '"event":"step"' "$1" 2>/dev/null)
        [ "${n:-0}" -ge "$2" ] || [ $i -ge 600 ] && break
        sleep 0.1; i=$((i + 1))
    done
}
below() { awk -v x="$1" -v t="$2" 'BEGIN { exit !(x != "count" && x + 0 <= t + 0) }'; }

TR="--batch 16 -k 16 --lr 0.002 --bank-lr 0.2 --epochs 2 --threads 1 -q"
# The largest of two "bank X params Y" lines' figures, field by field.
worse() { echo "$1 $2" | awk '{ b = $2 > $6 ? $2 : $6; p = $4 > $8 ? $4 : $8;
    printf "bank %.3g params %.3g\n", b, p }'; }
# name and flags of each equivalence case: 4 steps per epoch, 8 steps.
for c in "grad-cutmix:" \
         "grad-nocutmix:--no-cutmix" \
         "grad-all:--negatives all" \
         "npid-cutmix:--bank-write npid" \
         "npid-all:--bank-write npid --negatives all"; do
    name=${c%%:*}; flags=${c#*:}
    ok "$name: 1 process of 16" ssl-train $TR $flags --log "$T/$name-1.jsonl" "$T/0.ckpt" "$T/d.sslt" \
        -o "$T/$name-1.ckpt"
    ok "$name: 2 ranks of 8 with --sync-bn" $MPI -n 2 ssl-train $TR $flags --sync-bn \
        --log "$T/$name-2.jsonl" "$T/0.ckpt" "$T/d.sslt" -o "$T/$name-2.ckpt"
    check "$name: 8 steps logged once (rank 0 only)" "$(grep -c '"event":"step"' "$T/$name-2.jsonl")" -eq 8
    # R = 2 against R = 1 from the same state, step by step along the R = 1
    # run (resumed with --max-steps 1): over the whole run a rounding
    # difference can grow tenfold a step (a hundredfold over steps 5-6 of
    # npid-cutmix), so comparing 8 steps compares this tiny run's chaos, not
    # the data parallelism.
    prev="$T/0.ckpt"; m=0; d="bank 0 params 0"; segs=ok
    for k in 1 2 3 4 5 6 7 8; do
        ssl-train $TR $flags --max-steps 1 --log "$T/$name-s$k-1.jsonl" "$prev" "$T/d.sslt" \
            -o "$T/$name-s$k-1.ckpt" &&
        $MPI -n 2 ssl-train $TR $flags --sync-bn --max-steps 1 --log "$T/$name-s$k-2.jsonl" \
            "$prev" "$T/d.sslt" -o "$T/$name-s$k-2.ckpt" || segs="segment $k failed"
        mk=$(maxrel "$T/$name-s$k-1.jsonl" "$T/$name-s$k-2.jsonl")
        [ "$mk" = count ] && segs="segment $k: the logs differ in length"
        m=$(echo "$m $mk" | awk '{ print ($2 + 0 > $1 + 0) ? $2 : $1 }')
        d=$(worse "$d" "$("$gen" --ckpt-diff "$T/$name-s$k-1.ckpt" "$T/$name-s$k-2.ckpt")")
        prev="$T/$name-s$k-1.ckpt"
    done
    check "$name: 8 single steps, each with R = 1 and R = 2" "$segs" = ok
    check "$name: the R = 1 segments resume into the uninterrupted run's bits" \
        "$("$gen" --ckpt-diff "$T/$name-1.ckpt" "$prev")" = "bank 0 params 0"
    if below "$m" 1e-4; then pass "$name: the same loss per step (max rel. difference $m)"
    else fail "$name: the same loss per step" "max rel. difference $m"; fi
    b=$(echo "$d" | awk '{print $2}'); p=$(echo "$d" | awk '{print $4}')
    if below "$b" 1e-4 && below "$p" 1e-4; then pass "$name: the same bank and network ($d)"
    else fail "$name: the same bank and network" "$d"; fi
done
ok "grad-cutmix: 2 ranks without --sync-bn" $MPI -n 2 ssl-train $TR --log "$T/nosync.jsonl" \
    "$T/0.ckpt" "$T/d.sslt" -o "$T/nosync.ckpt"
m=$(maxrel "$T/grad-cutmix-1.jsonl" "$T/nosync.jsonl")
if [ "$m" = count ] || below "$m" 1e-4; then fail "per-rank BatchNorm statistics change the losses" "max rel. difference $m"
else pass "per-rank BatchNorm statistics change the losses (max rel. difference $m)"; fi
check "the log has the ranks' figures" \
    "$(grep '"event":"step"' "$T/nosync.jsonl" | grep -c '"ranks":2,"comm_share":[0-9.]*,"step_bytes":[1-9]')" -eq 8

# Buckets: with 2 ranks each sum is a + b, exact in any grouping, so every
# bucket size gives the bits of --bucket-mb 0 (no overlap). 0.02 MiB cuts
# this network's gradients (44 000 floats) into several buckets a step.
buckets() { grep '"event":"step"' "$1" | tail -n 1 | sed -E 's/.*"buckets":([0-9]+).*/\1/'; }
same_run() {   # NAME A B: checkpoints and loss columns of A and B the same bits
    losses "$T/$2.jsonl" >"$T/la"; losses "$T/$3.jsonl" >"$T/lb"
    check "$1: the same checkpoint bits" "$(cmp "$T/$2.ckpt" "$T/$3.ckpt" >/dev/null 2>&1 && echo same)" = same
    check "$1: the same 8 losses" "$(wc -l <"$T/la")-$(cmp "$T/la" "$T/lb" >/dev/null 2>&1 && echo same)" = 8-same
}
for c in "grad-cutmix:--sync-bn" "npid-cutmix:--sync-bn --bank-write npid" "nosync:"; do
    name=${c%%:*}; flags=${c#*:}
    [ "$name" = nosync ] && ref=nosync || ref=$name-2
    for b in 0 0.02; do
        ok "$name: 2 ranks, --bucket-mb $b" $MPI -n 2 ssl-train $TR $flags --bucket-mb $b \
            --log "$T/$name-b$b.jsonl" "$T/0.ckpt" "$T/d.sslt" -o "$T/$name-b$b.ckpt"
        same_run "$name: --bucket-mb $b against the default (4)" "$ref" "$name-b$b"
    done
    check "$name: --bucket-mb 0 sums the gradients once a step" "$(buckets "$T/$name-b0.jsonl")" -eq 1
    check "$name: the default sums them once (this network is under 4 MiB)" "$(buckets "$T/$ref.jsonl")" -eq 1
    check "$name: --bucket-mb 0.02 in several buckets a step" "$(buckets "$T/$name-b0.02.jsonl")" -ge 4
done

# Determinism: the same R and --deterministic, the same bits.
DT="--batch 16 -k 16 --lr 0.002 --epochs 2 --threads 1 -q --deterministic"
ok "deterministic run a" $MPI -n 2 ssl-train $DT "$T/0.ckpt" "$T/d.sslt" -o "$T/det-a.ckpt"
ok "deterministic run b, replicas compared every step" $MPI -n 2 ssl-train $DT --check-replicas 1 \
    "$T/0.ckpt" "$T/d.sslt" -o "$T/det-b.ckpt"
check "two deterministic runs of 2 ranks: the same bits" \
    "$(cmp "$T/det-a.ckpt" "$T/det-b.ckpt" >/dev/null 2>&1 && echo same)" = same
# R = 3 (oversubscribed): MPI may group a sum of three differently for
# another message size, so only the same bucket size must repeat.
D3="--batch 15 -k 16 --lr 0.002 --epochs 2 --threads 1 -q --deterministic --sync-bn --bucket-mb 0.02"
ok "3 ranks, small buckets, run a" $MPI -n 3 ssl-train $D3 --log "$T/r3a.jsonl" "$T/0.ckpt" "$T/d.sslt" -o "$T/r3-a.ckpt"
ok "3 ranks, small buckets, run b, replicas compared every step" $MPI -n 3 ssl-train $D3 \
    --check-replicas 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/r3-b.ckpt"
check "two runs of 3 ranks with the same buckets: the same bits" \
    "$(cmp "$T/r3-a.ckpt" "$T/r3-b.ckpt" >/dev/null 2>&1 && echo same)" = same
check "3 ranks: several buckets a step" "$(buckets "$T/r3a.jsonl")" -ge 4
# A bf16 bank (ssl-init-bank --bank-dtype bf16): the replicas' banks and
# networks agree every step, with the grad write's summed update and the
# npid write of the gathered z; the bank stays bf16.
ok "bf16 bank: init" ssl-init-bank --width 0.0625 --head linear --dim 16 --batch 16 --seed 1 \
    --threads 1 --bank-dtype bf16 "$T/d.sslt" -o "$T/b16.ckpt"
for w in grad npid; do
    ok "bf16 bank, $w write: 2 ranks, replicas compared every step" $MPI -n 2 ssl-train $DT \
        --bank-write $w --check-replicas 1 "$T/b16.ckpt" "$T/d.sslt" -o "$T/b16-$w.ckpt"
    check "bf16 bank, $w write: still bf16" \
        "$(ssl-info --json "$T/b16-$w.ckpt" 2>&1 | grep -c '"name":"bank","dtype":"bf16"')" -eq 1
done

# Faults. interrupt NAME N SIGNAL WHOM [FLAGS]: a long run of 2 ranks
# logging to NAME.jsonl, writing NAME.ckpt; after N steps SIGNAL goes to
# mpirun (WHOM "mpirun") or to one rank ("first" or "last"); $rc gets
# mpirun's status.
interrupt() {
    name=$1 n=$2 sig=$3 whom=$4; shift 4
    $MPI -n 2 ssl-train --batch 16 -k 16 --lr 0.002 --epochs 100000 --threads 1 -q "$@" \
        --log "$T/$name.jsonl" "$T/0.ckpt" "$T/d.sslt" -o "$T/$name.ckpt" 2>"$T/$name.err" &
    mpid=$!
    wait_steps "$T/$name.jsonl" "$n"
    case $whom in
        mpirun) pid=$mpid ;;
        first) pid=$(ps -o pid= --ppid $mpid | head -n 1 | tr -d ' ') ;;
        *) pid=$(ps -o pid= --ppid $mpid | tail -n 1 | tr -d ' ') ;;
    esac
    [ -n "$pid" ] && kill "-$sig" "$pid"
    wait $mpid
    rc=$?
}
# A rank killed mid-run: mpirun exits non-zero, the checkpoint of the last
# save is whole, and it resumes with another R.
interrupt k 5 KILL last --ckpt-every-steps 2
check "a rank killed: mpirun exits non-zero" "$rc" -ne 0
ok "the last checkpoint is whole" ssl-info --check "$T/k.ckpt"
kstep=$(ssl-info --json "$T/k.ckpt" | sed -E 's/.*"step":([0-9]+),.*/\1/;q')
check "it holds an even step (--ckpt-every-steps 2)" "$((kstep % 2))" -eq 0
ok "resume it with 1 process" ssl-train --threads 1 -q --max-steps 3 --log "$T/kres.jsonl" \
    "$T/k.ckpt" "$T/d.sslt" -o "$T/k1.ckpt"
check "the resume continues the schedule" \
    "$(head -n 1 "$T/kres.jsonl" | grep -c "\"step\":$((kstep + 1)),")" -eq 1

# SIGTERM to mpirun (which passes it on to the ranks) and to one rank:
# every rank stops after the same step, rank 0 writes the checkpoint.
for whom in mpirun first; do
    interrupt "term-$whom" 3 TERM $whom
    check "SIGTERM to $whom: a non-zero exit" "$rc" -ne 0
    steps=$(grep -c '"event":"step"' "$T/term-$whom.jsonl")
    check "SIGTERM to $whom: the checkpoint holds every finished step" \
        "$(ssl-info --json "$T/term-$whom.ckpt" | grep -c "\"step\":$steps,")" -eq 1
done
ok "the stopped run resumes with 2 ranks" $MPI -n 2 ssl-train --threads 1 -q --max-steps 2 \
    "$T/term-first.ckpt" "$T/d.sslt" -o "$T/s2.ckpt"

# Bad input: one line from rank 0, every rank stops.
fails "a batch 2 does not divide" 2 "^ssl-train: --batch 15 does not split over 2 ranks \(15 / 2 is not whole\)" \
    $MPI -n 2 ssl-train -q --batch 15 --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "different flags on the ranks" 2 "^ssl-train: rank 1 was given other settings than rank 0" \
    $MPI -n 1 ssl-train -q --tau 0.1 --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt" : \
    -n 1 ssl-train -q --tau 0.2 --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "a different --bucket-mb on rank 1" 2 "^ssl-train: rank 1 was given other settings than rank 0" \
    $MPI -n 1 ssl-train -q --bucket-mb 1 --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt" : \
    -n 1 ssl-train -q --bucket-mb 2 --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
for v in -1 abc 1e9 nan ""; do
    fails "--bucket-mb '$v' refused" 2 "^ssl-train: --bucket-mb: .*(out of range \[0, 65536\]|is not a decimal number)" \
        ssl-train -q --bucket-mb "$v" --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
done
fails "a checkpoint missing on rank 1" 1 "^ssl-train: rank 1: .*nothere.ckpt" \
    $MPI -n 1 ssl-train -q --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt" : \
    -n 1 ssl-train -q --epochs 1 "$T/nothere.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "another dataset on rank 1" 1 "^ssl-train: rank 1: .*e.sslt" \
    $MPI -n 1 ssl-train -q --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt" : \
    -n 1 ssl-train -q --epochs 1 "$T/0.ckpt" "$T/e.sslt" -o "$T/x.ckpt"
check "nothing written by the refused runs" ! -e "$T/x.ckpt"
fails "ssl-init-bank refuses 2 ranks" 2 "^ssl-init-bank: runs as one process, not as 2 MPI ranks" \
    $MPI -n 2 ssl-init-bank --width 0.0625 "$T/d.sslt" -o "$T/x.ckpt"
fails "ssl-extract refuses 2 ranks" 2 "^ssl-extract: runs as one process, not as 2 MPI ranks" \
    $MPI -n 2 ssl-extract "$T/0.ckpt" "$T/d.sslt" -o "$T/x.feat"
done_tests
