#!/bin/sh
# Epoch-1 fidelity bisection (issue 15): ssl-train (commit of /work/wt-run) against
# pipelines/torch_reference.py, from one init checkpoint on one stream, 1 thread each.
D=/root/runs/long/fashion-mnist
B=/work/wt-run/bin
W=/root/runs/bisect
cd $W
BASE="--recipe paper --batch 256 --lr 0.5 -k 4096 --epochs 10 --jitter 0 --gray 0"
ours() { # name seed flags...
    n=$1; s=$2; shift 2
    [ -f $W/ours-$n-s$s.knn ] && return
    t0=$(date +%s)
    $B/ssl-train --threads 1 -q $BASE "$@" --seed $s --max-steps 78 --log $W/ours-$n-s$s.jsonl $D/init.ckpt $D/train.sslt -o $W/tmp.ckpt &&
    $B/ssl-extract --threads 1 -q $W/tmp.ckpt $D/train.sslt -o $W/tr.feat &&
    $B/ssl-extract --threads 1 -q $W/tmp.ckpt $D/test.sslt -o $W/te.feat &&
    $B/ssl-knn --threads 1 -q --csv -k 200 --sigma 0.1 $W/tr.feat $W/te.feat > $W/ours-$n-s$s.knn.tmp &&
    mv $W/ours-$n-s$s.knn.tmp $W/ours-$n-s$s.knn
    echo "ours $n s$s $(tail -1 $W/ours-$n-s$s.knn) $(( $(date +%s) - t0 )) s"
    rm -f $W/tmp.ckpt $W/tr.feat $W/te.feat
}
torch() { # name seed flags...
    n=$1; s=$2; shift 2
    [ -f $W/torch-$n-s$s.log ] && grep -q '^after' $W/torch-$n-s$s.log && return
    t0=$(date +%s)
    /usr/bin/python3 /work/wt-run/pipelines/torch_reference.py $D/init.ckpt $D/train.sslt $D/test.sslt \
        --threads 1 --seed $s "$@" > $W/torch-$n-s$s.log 2>&1
    echo "torch $n s$s $(grep '^after' $W/torch-$n-s$s.log) $(( $(date +%s) - t0 )) s"
}
for s in 1 2 3; do
    ours gradonly $s --lambda 0 --no-cutmix
    torch gradonly $s --lambda 0 --no-cutmix
    ours sqrtklonly $s --no-cutmix --bank-write npid
    torch sqrtklonly $s --no-cutmix --bank-write npid
done
for s in 4 5 6; do
    ours paper $s
    torch paper $s
done
echo done
