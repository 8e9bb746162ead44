# The make-driven pipelines in smoke mode (SMOKE=1: 20 images per class,
# width 0.0625 (model-size: also MobileNetV2 and V3-small at 0.25), 1 epoch,
# 2 seeds): every pipeline target end to end into a
# temporary OUT, the shape of every summary, that a changed flag reruns its
# step and only the steps downstream of it, that an unchanged rerun does
# nothing, and that summaries over missing, failed or mixed runs stop with
# a message naming the run. CIFAR-10/100 from tiny generated tarballs.
. "$TOP/tests/lib.sh"
. "$TOP/tests/mkcifar.sh"
FM=/usr/share/datasets/fashion-mnist
if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then
    skip "pipelines" "no $FM (Debian's dataset-fashion-mnist: sh tools/deps.sh)"
    exit 0
fi
O=$T/out
mkcifar "$T"
M() { make --no-print-directory -C "$TOP/pipelines" SMOKE=1 OUT="$O" BIN="$BIN" THREADS=2 FMNIST="$FM" \
      CIFAR10="$T/cifar-10-binary.tar.gz" CIFAR100="$T/cifar-100-binary.tar.gz" "$@"; }
num='^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$'

# csvshape NAME FILE HEADER ROWS: FILE has the header line HEADER and ROWS
# lines below it, and its top1 / top1_mean column holds numbers in [0, 1].
csvshape() {
    n=$1; f=$2; h=$3; r=$4
    if [ ! -f "$f" ]; then fail "$n" "no $f"; return; fi
    got=$(head -n 1 "$f"); rows=$(($(wc -l < "$f") - 1))
    bad=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "top1" || $i == "top1_mean" || $i == "knn_top1_mean") c = i; next }
                   { if (!c || $c !~ /^[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?$/ || $c < 0 || $c > 1) { print NR ": " $c; exit } }' "$f")
    if [ "$got" != "$h" ]; then fail "$n" "header '$got'"
    elif [ "$rows" -ne "$r" ]; then fail "$n" "$rows rows, wanted $r"
    elif [ -n "$bad" ]; then fail "$n" "top-1 not a number in [0,1] at line $bad"
    else pass "$n"; fi
}
SUMH="config,metric,k,sigma,labels_per_class,n_seeds,seeds,top1_mean,top1_std,top5_mean,top5_std,train_s_mean,dataset,prep_flags,init_flags,train_flags,eval_flags,commit"
RUNH="config,seed,run,metric,k,sigma,labels_per_class,top1,top5,n_train,n_test,init_s,train_s,eval_s,dataset,prep_flags,init_flags,train_flags,knn_flags,lineval_flags,commit"

start=$(date +%s)
ok "smoke fashion-mnist" M fashion-mnist
csvshape "fashion-mnist results.csv" "$O/fashion-mnist/results.csv" \
    "features,eval,k,sigma,labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test,flags,wall_s,commit" 24
check "fashion-mnist results.md: 4 rows of 7 columns" \
    "$(grep -c '^| \(raw\|random\|init\|trained\) |\( [0-9.]* \(± [0-9.]* \)\?|\)\{6\}$' "$O/fashion-mnist/results.md")" = 4
check "fashion-mnist results.md: headers from the flags" "$(grep -c 'kNN k=10 sigma=0.1, 5/class' "$O/fashion-mnist/results.md")" = 1
ok "smoke ablation" M ablation
csvshape "ablation summary.csv" "$O/ablation/fashion-mnist/summary.csv" "$SUMH" 10
csvshape "ablation runs.csv" "$O/ablation/fashion-mnist/runs.csv" "$RUNH" 20
check "ablation summary.csv: 2 seeds each" "$(awk -F, 'NR > 1 && $6 == 2 && $7 == "1 2"' "$O/ablation/fashion-mnist/summary.csv" | wc -l)" = 10
check "ablation summary.md: mean ± std" "$(grep -c '^| [a-z]* | 1 2 | [0-9.]* ± [0-9.]* | [0-9.]* ± [0-9.]* | [0-9.]* |$' "$O/ablation/fashion-mnist/summary.md")" = 5
if command -v gnuplot >/dev/null 2>&1; then
    check "ablation knn-curves.png" "$(head -c 4 "$O/ablation/fashion-mnist/knn-curves.png" | tail -c 3)" = PNG
    check "fashion-mnist knn-curve.png" "$(head -c 4 "$O/fashion-mnist/knn-curve.png" | tail -c 3)" = PNG
fi
csvshape "ablation curves.csv" "$O/ablation/fashion-mnist/curves.csv" "config,epoch,n_seeds,knn_top1_mean,knn_top1_std" 5
csvshape "ablation backbone-curves.csv (the sqrtkl row only)" "$O/ablation/fashion-mnist/backbone-curves.csv" "config,epoch,n_seeds,knn_top1_mean,knn_top1_std" 1
check "backbone curve: sqrtkl, 2 seeds" "$(awk -F, 'NR == 2 { print $1, $3 }' "$O/ablation/fashion-mnist/backbone-curves.csv")" = "sqrtkl 2"
# archive.sh keeps the results without checkpoints; summary.sh over the
# archive gives the same tables.
AR=$T/archive; AA=$AR/ablation/fashion-mnist
ok "archive the ablation" sh "$TOP/pipelines/archive.sh" "$O" "$AR"
check "archived: no checkpoint, feature or stream file" "$(find "$AR" -name '*.ckpt' -o -name '*.feat' -o -type f -name '*.sslt' | wc -l)" = 0
runs=$(sed -n 1p "$O/ablation/fashion-mnist/runs.list" | sed "s,$O/ablation/fashion-mnist,$AA,g")
ok "summary over the archive" sh "$TOP/pipelines/summary.sh" "$AA" $runs
check "same summary.csv from the archive" "$(cmp "$AA/summary.csv" "$O/ablation/fashion-mnist/summary.csv" && echo same)" = same
check "same backbone-curves.csv from the archive" "$(cmp "$AA/backbone-curves.csv" "$O/ablation/fashion-mnist/backbone-curves.csv" && echo same)" = same
check "archiving again leaves the runs alone" "$(sh "$TOP/pipelines/archive.sh" "$O" "$AR" | grep -vc 'already archived')" = 0
rm "$AA/grad-s2/trained.linear.csv"
fails "summary: an archived run without results" 1 "grad-s2: archived without trained.linear.csv" \
    sh "$TOP/pipelines/summary.sh" "$AA" $runs
# queue.sh: runs in two chains, archived; archived runs are skipped; a run
# no pipeline defines fails and counts.
Q() { sh "$TOP/pipelines/queue.sh" "$@"; }
QV="SMOKE=1 BIN=$BIN THREADS=1 FMNIST=$FM"
ok "queue: two runs in two chains" Q -j 2 "$T/qout" "$T/qarch" ablation/fashion-mnist/npid-s1 ablation/fashion-mnist/grad-s2 -- $QV
check "queue: both archived" "$(ls "$T/qarch/ablation/fashion-mnist"/*/archived | wc -l)" = 2
check "queue: one line per run" "$(grep -c '^queue.sh: ablation/fashion-mnist/[a-z]*-s[12]: done ' "$T/.out")" = 2
ok "queue again" Q -j 2 "$T/qout" "$T/qarch" ablation/fashion-mnist/npid-s1 ablation/fashion-mnist/grad-s2 -- $QV
check "queue again: both skipped" "$(grep -c 'already archived, skipped' "$T/.out")" = 2
fails "queue: -j 0" 2 "-j: '0' is not a positive number" Q -j 0 "$T/qout" "$T/qarch" x
rm "$AR/fashion-mnist/data/dataset"
fails "summary: a data directory without its dataset file" 1 "npid-s1: no $AA/npid-s1/../../../fashion-mnist/data/dataset" \
    sh "$TOP/pipelines/summary.sh" "$AA" $runs
ok "smoke data-efficiency" M data-efficiency
csvshape "data-efficiency summary.csv" "$O/data-efficiency/fashion-mnist/summary.csv" "$SUMH" 8
ok "smoke data-efficiency DE_STEPS=equal" M data-efficiency DE_STEPS=equal SEEDS=1
DQ=$O/data-efficiency/fashion-mnist-equal-steps
csvshape "data-efficiency DE_STEPS=equal summary.csv" "$DQ/summary.csv" "$SUMH" 8
check "DE_STEPS=equal: half the data, twice the epochs" \
    "$(grep -c -- '--epochs 2 ' "$DQ/paper-f0.5-s1/train.flags" "$DQ/npid-f0.5-s1/train.flags" | grep -c ':1$')$(grep -c -- '--epochs 1 ' "$DQ/paper-f1-s1/train.flags")" = 21
fails "DE_STEPS=bogus" 2 "DE_STEPS='bogus': not 'epochs' or 'equal'" M data-efficiency DE_STEPS=bogus
ok "smoke model-size" M model-size
MS=$O/model-size/fashion-mnist
csvshape "model-size summary.csv: resnet18 at 2 widths, mobilenetv2, mobilenetv3s" "$MS/summary.csv" "$SUMH" 16
check "model-size: the bank-init pass has the demo's augmentation" \
    "$(grep -l -- '--jitter 0 --gray 0' "$MS"/*/init.flags | wc -l)" = 16
check "model-size: MS_ARCHS runs named by arch, resnet18's as before" \
    "$(ls -d "$MS"/paper-w0.0625-s1 "$MS"/npid-mobilenetv2-w0.25-s2 "$MS"/paper-mobilenetv3s-w0.25-s1 | wc -l)" = 3
check "model-size: --arch in the init flags" "$(grep -c -- '^--arch mobilenetv3s --width 0.25 ' "$MS/paper-mobilenetv3s-w0.25-s1/init.flags")" = 1
csvshape "model-size sizes.csv" "$MS/sizes.csv" \
    "config,arch,width,params,backbone_params,gflop,n_seeds,knn,knn_top1_mean,knn_top1_std,linear_top1_mean,linear_top1_std" 8
# the networks as ssl-info counts them (the MobileNets' backbones checked
# against torchvision's modules in tests/cli/mobile.sh and test_net)
check "model-size sizes.csv: parameters and GFLOP per configuration" \
    "$(awk -F, 'NR > 1 && $4 > $5 && $5 > 0 && $6 > 0 && $7 == 2' "$MS/sizes.csv" | wc -l)" = 8
check "model-size sizes.csv: mobilenetv2's backbone" \
    "$(grep -c '^paper-mobilenetv2-w0.25,mobilenetv2,0.25,[0-9]*,237968,' "$MS/sizes.csv")" = 1
check "model-size sizes.md: a row per configuration" "$(grep -c '^| [a-z]*-.* | [0-9.]*M | [0-9.]*M | ' "$MS/sizes.md")" = 8
# the table from archived runs (network.csv travels with them)
AM=$AR/model-size/fashion-mnist
msruns=$(sed -n 1p "$MS/runs.list")
ok "archive the model-size runs" sh "$TOP/pipelines/archive.sh" "$O" "$AR" $msruns
amruns=$(printf '%s\n' "$msruns" | sed "s,$MS,$AM,g")
ok "summary over the archived model-size runs" sh "$TOP/pipelines/summary.sh" "$AM" $amruns
ok "sizes.sh over the archived model-size runs" sh "$TOP/pipelines/sizes.sh" "$AM" $amruns
check "same sizes.csv from the archive" "$(cmp "$AM/sizes.csv" "$MS/sizes.csv" && echo same)" = same
# speeds.sh's table (its figures are speed, measured in make bench's
# kind of sitting, not here): a network's img/s joins its rows; "-" elsewhere
printf 'arch,width,img_s,threads,commit,date,cpu\nmobilenetv2,0.25,123.4,1,c,d,e\n' > "$AM/speeds.csv"
ok "sizes.sh with a speeds.csv" sh "$TOP/pipelines/sizes.sh" "$AM" $amruns
check "sizes.csv: step_img_s of mobilenetv2 width 0.25 only" \
    "$(awk -F, 'NR == 1 { print $13 } NR > 1 { print $2 "=" $13 }' "$AM/sizes.csv" | sort -u | tr '\n' ' ')" \
    = "mobilenetv2=123.4 mobilenetv3s= resnet18= step_img_s "
check "sizes.md: a step img/s column" \
    "$(grep -c '^| paper-mobilenetv2-w0.25 | mobilenetv2 | 0.25 | [0-9.]*M | [0-9.]*M | [0-9.e-]* | 123.4 | 2 |' "$AM/sizes.md")" = 1
printf 'config,knn\n' > "$AM/speeds.csv"
fails "sizes.sh: a speeds.csv of another kind" 1 "speeds.csv: not a speeds.sh table" \
    sh "$TOP/pipelines/sizes.sh" "$AM" $amruns
rm "$AM/speeds.csv"
fails "speeds.sh: no run" 2 "usage: speeds.sh DIR RUN" sh "$TOP/pipelines/speeds.sh" "$AM"
fails "speeds.sh: a run without network.csv" 1 "speeds.sh: .*/nowhere: no network.csv" \
    env BENCH_STEP=/bin/true sh "$TOP/pipelines/speeds.sh" "$AM" "$AM/nowhere"
# queue.sh makes a model-size run's network.csv, so that its archive has it
rm "$MS/paper-w0.0625-s1/network.csv"
ok "queue: a model-size run" Q "$O" "$T/qarch2" model-size/fashion-mnist/paper-w0.0625-s1 -- $QV
check "queue: the model-size run's archive has its network.csv" \
    "$(cmp "$T/qarch2/model-size/fashion-mnist/paper-w0.0625-s1/network.csv" "$AM/paper-w0.0625-s1/network.csv" && echo same)" = same
ok "model-size's sizes again after the new network.csv" M model-size
rm "$AM/npid-mobilenetv2-w0.25-s1/network.csv"
fails "sizes.sh: a run without network.csv" 1 "npid-mobilenetv2-w0.25-s1: no network.csv" \
    sh "$TOP/pipelines/sizes.sh" "$AM" $amruns
ok "smoke cifar10" M cifar10
csvshape "cifar10 summary.csv" "$O/cifar10/summary.csv" "$SUMH" 4
ok "smoke cifar100" M cifar100
csvshape "cifar100 summary.csv" "$O/cifar100/summary.csv" "$SUMH" 4
ok "smoke data-efficiency on cifar100" M data-efficiency DE_DATA=cifar100 DE_FRACTIONS=1
check "DE_DATA=cifar100 reads the CIFAR-100 tarball" \
    "$(cat "$O/data-efficiency/cifar100/f1/data/prep-train.flags")" = "--split train --labels fine $T/cifar-100-binary.tar.gz"
check "DE_DATA=cifar100: its own run folders" "$(cut -d, -f13 "$O/data-efficiency/cifar100/summary.csv" | sort -u | head -1)" = cifar100
echo "smoke runs: $(( $(date +%s) - start )) s"

# An unchanged rerun does nothing.
ALL="fashion-mnist ablation data-efficiency model-size cifar10 cifar100"
touch "$T/mark"
ok "unchanged: make -q says up to date" M -q $ALL
M $ALL > "$T/re.out" 2>&1
check "unchanged: make says Nothing to be done" "$(grep -c 'Nothing to be done' "$T/re.out")" = 6
check "unchanged: no file rewritten" "$(find "$O" -newer "$T/mark" -type f | wc -l)" = 0

# A changed kNN flag reruns the kNN step only.
A=$O/ablation/fashion-mnist
check "knn change: make -n runs ssl-knn only" \
    "$(M -n ablation KNN_FLAGS='-k 5,10 --sigma 0.1' | grep -oE ' ssl-(prep|init-bank|train|extract|knn|lineval) |summary\.sh ' | sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? " " : ""), $1, $2 }')" \
    = "10 ssl-knn 1 summary.sh"
check "knn change: make -n wrote no stamp" "$(cat "$A/npid-s1/knn.flags")" = "-k 10 --sigma 0.1"
touch "$T/mark"
ok "knn change: make" M ablation KNN_FLAGS='-k 5,10 --sigma 0.1'
check "knn change: kNN results rewritten" "$(find "$A" -newer "$T/mark" -name trained.knn.csv | wc -l)" = 10
check "knn change: nothing else rewritten" \
    "$(find "$A" -newer "$T/mark" -type f \( -name '*.ckpt' -o -name '*.feat' -o -name '*.linear.csv' -o -name '*.sslt' \) | wc -l)" = 0
csvshape "knn sweep: a row per (k, sigma)" "$A/summary.csv" "$SUMH" 15
check "knn sweep: the table's headers say k=5 and k=10" \
    "$(grep -c 'kNN k=5 sigma=0.1 top-1 | kNN k=10 sigma=0.1 top-1' "$A/summary.md")" = 1
ok "knn sweep: unchanged rerun is up to date" M -q ablation KNN_FLAGS='-k 5,10 --sigma 0.1'

# A changed training flag reruns training and what follows, not the init pass.
check "train change: make -n trains, does not re-init" \
    "$(M -n ablation ABL_EPOCHS=2 KNN_FLAGS='-k 5,10 --sigma 0.1' | grep -oE ' ssl-(prep|init-bank|train|extract|knn|lineval) |summary\.sh ' | sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? " " : ""), $1, $2 }')" \
    = "20 ssl-extract 10 ssl-knn 10 ssl-lineval 10 ssl-train 1 summary.sh"
# A fresh start truncates the log: 2 epochs give 2 epoch lines, not 1 + 2.
ok "train change: fashion-mnist FM_EPOCHS=2" M fashion-mnist FM_EPOCHS=2
check "train change: train.jsonl has the new run's epochs only" \
    "$(grep -c '"event":"epoch"' "$O/fashion-mnist/train.jsonl")" = 2

# An interrupted training resumes from run.ckpt and appends to its log:
# the stamp of FM_EPOCHS=3, then 15 of its 18 steps by hand, then make.
F=$O/fashion-mnist
sh "$TOP/pipelines/stamp.sh" "$F/train.flags" "$(sed 's/--epochs 2/--epochs 3/' "$F/train.flags")"
: > "$F/train.jsonl"
ssl-train -q --threads 2 $(cat "$F/train.flags") --max-steps 15 --log "$F/train.jsonl" \
    "$F/init.ckpt" "$F/train.sslt" -o "$F/run.ckpt" 2>/dev/null
ok "resume: make" M fashion-mnist FM_EPOCHS=3
check "resume: the training resumed" "$(grep -c 'resuming from run.ckpt' "$T/.out")" = 1
check "resume: the log kept the interrupted run's epochs" \
    "$(grep '"event":"epoch"' "$F/train.jsonl" | sed 's/.*"epoch":\([0-9]*\),.*/\1/' | tr '\n' ' ')" = "1 2 3 "

# One training of a run at a time: while another process holds the run's
# .train.lock (as a make training it does), a make that would train it
# stops with a message and leaves the log and the checkpoints alone.
rm -f "$T/held"
(flock 9 && : > "$T/held" && exec sleep 60) 9>>"$F/.train.lock" &
holder=$!
i=0; while [ ! -f "$T/held" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
M fashion-mnist FM_EPOCHS=4 >"$T/.out" 2>"$T/.err"; rc=$?
check "lock: a second training stops (make's status 2)" "$rc" = 2
check "lock: it says why, naming the run" \
    "$(grep -c "^pipelines: $F: another make is training this run" "$T/.err")" = 1
check "lock: no ssl-train started" "$(grep -c 'ssl-train' "$T/.out")" = 0
check "lock: the log is untouched" "$(grep -c '"event":"epoch"' "$F/train.jsonl")" = 3
check "lock: trained.ckpt is kept" -f "$F/trained.ckpt"
kill $holder 2>/dev/null; wait $holder 2>/dev/null
ok "lock: released, the same make trains" M fashion-mnist FM_EPOCHS=4
check "lock: ...a fresh run of 4 epochs" "$(grep -c '"event":"epoch"' "$F/train.jsonl")" = 4

# PRECISION=bf16 adds --precision bf16 to the init, train and extract
# stamps (and the random row's), so those steps and what follows rerun;
# fp32 keeps the default's flags; anything else stops. Without
# AVX512-BF16 (SSL_NO_BF16=1 pretends so) the first tool stops the make
# with its message; with it, the demo runs in bf16.
fails "PRECISION=fp16" 2 "PRECISION='fp16': not fp32 or bf16" M fashion-mnist PRECISION=fp16
ok "PRECISION=fp32: the default's flags, up to date" M -q fashion-mnist FM_EPOCHS=4 PRECISION=fp32
M -n fashion-mnist FM_EPOCHS=4 PRECISION=bf16 > "$T/pn.out" 2>&1
check "PRECISION=bf16: make -n reruns init, training, extraction and their evaluations" \
    "$(grep -oE ' ssl-(prep|init-bank|train|extract|knn|lineval) ' "$T/pn.out" | sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? " " : ""), $1, $2 }')" \
    = "6 ssl-extract 2 ssl-init-bank 6 ssl-knn 6 ssl-lineval 1 ssl-train"
check "PRECISION=bf16: ...not the raw pixels' evaluations" "$(grep -c '/raw\.' "$T/pn.out")" = 0
check "PRECISION=bf16: make -n wrote no stamp" "$(grep -c -- '--precision' "$F/init.flags" "$F/train.flags" "$F/extract.flags" "$F/random.flags" | grep -vc ':0$')" = 0
(SSL_NO_BF16=1; export SSL_NO_BF16; M fashion-mnist FM_EPOCHS=4 PRECISION=bf16) >"$T/.out" 2>"$T/.err"; rc=$?
check "PRECISION=bf16 without AVX512-BF16: make stops (status 2)" "$rc" = 2
check "PRECISION=bf16 without AVX512-BF16: the tool says why" \
    "$(grep -c '^ssl-init-bank: --precision bf16: this CPU lacks the AVX512_BF16 instruction set' "$T/.err")" = 1
check "PRECISION=bf16: in the init, train, extract and random stamps" \
    "$(grep -l -- '--precision bf16$' "$F/init.flags" "$F/train.flags" "$F/extract.flags" "$F/random.flags" | wc -l)" = 4
check "PRECISION=bf16 without AVX512-BF16: trained.ckpt is kept" -f "$F/trained.ckpt"
if grep -q avx512_bf16 /proc/cpuinfo && [ "${SSL_NO_BF16:-0}" != 1 ]; then
    ok "PRECISION=bf16: the demo in bf16" M fashion-mnist FM_EPOCHS=4 PRECISION=bf16
    check "PRECISION=bf16: the checkpoint says bf16" \
        "$(ssl-info --json "$F/trained.ckpt" | grep -o '"precision": *"[a-z0-9]*"' | sort -u | tr -d ' ')" = '"precision":"bf16"'
    ok "PRECISION=bf16: up to date" M -q fashion-mnist FM_EPOCHS=4 PRECISION=bf16
    check "PRECISION=bf16: results.md names it" "$(grep -c -- '--precision bf16' "$F/results.md")" -ge 1
else
    skip "PRECISION=bf16: the demo in bf16" "this CPU lacks AVX512-BF16"
fi

# Summaries over missing, failed or mixed runs stop, naming the run.
S="sh $TOP/pipelines/summary.sh"
fails "summary: missing run" 1 "summary.sh: $A/nope-s1: no such run" $S "$T" "$A/npid-s1" "$A/nope-s1"
cp -a "$A/grad-s1" "$A/grad-s9"; rm "$A/grad-s9/trained.linear.csv"
fails "summary: failed run" 1 "summary.sh: $A/grad-s9: no trained.linear.csv" $S "$T" "$A/npid-s1" "$A/grad-s9"
fails "summary: mixed flags" 1 "summary.sh: $O/model-size/fashion-mnist/npid-w0.0625-s1: kNN flags .*mixed" \
    $S "$T" "$A/npid-s1" "$O/model-size/fashion-mnist/npid-w0.0625-s1"
fails "summary: mixed datasets" 1 "summary.sh: $O/cifar10/npid-s1: dataset cifar10, but .*mixed datasets" \
    $S "$T" "$O/cifar100/npid-s1" "$O/cifar10/npid-s1"
rm -rf "$A/grad-s9"; cp -a "$A/calibrate-s1" "$A/npid-s9"
fails "summary: seeds of a config that differ beyond the seed" 1 "summary.sh: $A/npid-s9: .*differ from .*npid-s1" \
    $S "$T" "$A/npid-s1" "$A/npid-s9"
rm -rf "$A/npid-s9"
D=$O/data-efficiency/fashion-mnist
touch "$D/paper-f1-s1/lineval.flags"
fails "summary: stale results" 1 "summary.sh: $D/paper-f1-s1: trained.linear.csv is older than lineval.flags" \
    $S "$T" "$D/paper-f1-s1"
echo "pipelines.sh: $(( $(date +%s) - start )) s"
done_tests
