# robust.sh: output safety of every writing tool. Disk full (-o /dev/full),
# an output path that cannot be created (its parent is a regular file: the
# tests run as root, so permissions would not stop them), a reader that goes
# away (| head -c 100: no error spam on stderr), SIGKILL in the middle of
# writing (the previous file stays intact and loadable; a stray *.tmp.*
# file is the only trace), SIGINT during training (exit 130 as
# ssl-train(1) says, the checkpoint loadable). Steps whose tool is not built
# print SKIP. Tiny synthetic data (test_prep, test_train helper modes).
. "$TOP/tests/lib.sh"
NET="--width 0.125 --head mlp3 --hidden 32 --dim 16 --threads 1"
TR="--batch 8 -k 8 --lr 0.05 --threads 1 -q"
have() { [ -x "$BIN/$1" ]; }

"$BIN/tests/test_prep" --mkfolder "$T/f" || fail "make an image folder"
ok "prep a dataset" ssl-prep -q --size 28 --channels 1 "$T/f" -o "$T/d.sslt"
if have ssl-init-bank; then
    ok "init a checkpoint" ssl-init-bank -q $NET --batch 5 --bank random --seed 1 "$T/d.sslt" -o "$T/c.ckpt"
fi

# ---- disk full and impossible paths: exit 1, one line naming the problem
: >"$T/file"
full() { # NAME TOOL ARGS... (the output flag is appended)
    nm=$1; shift
    if ! have "$1"; then skip "$nm" "$1 not built"; return; fi
    fails "$nm: -o /dev/full" 1 "^$1: .*No space left on device" "$@" -o /dev/full
    fails "$nm: parent is a file" 1 "^$1: .*$T/file/out.*Not a directory" "$@" -o "$T/file/out"
    fails "$nm: no such directory" 1 "^$1: .*$T/none/out.*No such file or directory" "$@" -o "$T/none/out"
    check "$nm: no temporary file left" "$(ls "$T" | grep -c 'tmp')" -eq 0
}
full "ssl-prep" ssl-prep -q "$T/f"
full "ssl-init-bank" ssl-init-bank -q $NET --batch 5 --bank random "$T/d.sslt"
if [ -f "$T/c.ckpt" ]; then
    full "ssl-train" ssl-train $TR --epochs 1 "$T/c.ckpt" "$T/d.sslt"
    full "ssl-extract" ssl-extract -q --threads 1 "$T/c.ckpt" "$T/d.sslt"
    full "ssl-export" ssl-export -q --head "$T/c.ckpt"
    check "ssl-train: checkpoint unchanged after failed writes" "$(ssl-info --check "$T/c.ckpt" >/dev/null 2>&1; echo $?)" -eq 0
fi
# stdout on a full disk: the same one line.
fails "ssl-prep: stdout is /dev/full" 1 "^ssl-prep: .*No space left on device" sh -c "ssl-prep -q '$T/f' >/dev/full"
fails "ssl-info --json: stdout is /dev/full" 1 "^ssl-info: .*No space left on device" sh -c "ssl-info --json '$T/d.sslt' >/dev/full"

# ---- a reader that goes away: no message; SIGPIPE (141) or a quiet exit 1
# (exit 0 when the whole output fit in the pipe before head exited). With
# SIGPIPE ignored, EPIPE may give one line and exit 1.
# 8 MB of incompressible IDX images: a stream larger than any pipe buffer,
# and long enough to write to catch the writer with SIGKILL below.
{ printf '\000\000\010\003\000\000\052\000\000\000\000\034\000\000\000\034'
  head -c $((10752 * 784)) /dev/urandom; } >"$T/big-images-idx3-ubyte"
{ printf '\000\000\010\001\000\000\052\000'; head -c 10752 /dev/zero; } >"$T/big-labels-idx1-ubyte"
pipe() { # NAME STATUSES CMD...
    nm=$1; codes=$2; shift 2
    if ! have "$1"; then skip "$nm" "$1 not built"; return; fi
    ( "$@" 2>"$T/pipe.err"; echo $? >"$T/pipe.rc" ) | head -c 100 >/dev/null
    check "$nm | head -c 100: quiet" "$(wc -c <"$T/pipe.err")" -eq 0
    check "$nm | head -c 100: exit $codes" "$(grep -cxE "$codes" "$T/pipe.rc")" -eq 1
    ( trap '' PIPE; "$@" 2>"$T/pipe.err"; echo $? >"$T/pipe.rc" ) | head -c 100 >/dev/null
    check "$nm | head -c 100, SIGPIPE ignored: at most one line" "$(wc -l <"$T/pipe.err")" -le 1
    check "$nm | head -c 100, SIGPIPE ignored: exit $codes" "$(grep -cxE "$codes" "$T/pipe.rc")" -eq 1
}
pipe "ssl-prep" "141|1" ssl-prep -q --threads 1 "$T/big-images-idx3-ubyte" "$T/big-labels-idx1-ubyte"
pipe "ssl-info --json" "141|1|0" ssl-info --json "$T/d.sslt"
pipe "ssl-info" "141|1|0" ssl-info "$T/d.sslt"
[ -f "$T/c.ckpt" ] && pipe "ssl-extract" "141|1|0" ssl-extract -q --threads 1 "$T/c.ckpt" "$T/d.sslt"
[ -f "$T/c.ckpt" ] && pipe "ssl-init-bank" "141|1|0" ssl-init-bank -q $NET --batch 5 --bank random "$T/d.sslt"
[ -f "$T/c.ckpt" ] && pipe "ssl-export" "141|1|0" ssl-export -q "$T/c.ckpt"

# ---- SIGKILL while a large stream is being written over an existing file
ok "prep the old stream" ssl-prep -q --level 1 "$T/f" -o "$T/old.sslt"
cp "$T/old.sslt" "$T/old.copy"
mkdir "$T/k"
cp "$T/old.sslt" "$T/k/out.sslt"
ssl-prep -q --level 19 --threads 1 "$T/big-images-idx3-ubyte" "$T/big-labels-idx1-ubyte" -o "$T/k/out.sslt" &
pid=$!
i=0      # wait (at most 20 s) until the temporary file has data in it
while [ $i -lt 400 ]; do
    t=$(ls "$T/k" | grep '\.tmp\.' | head -1)
    [ -n "$t" ] && [ -s "$T/k/$t" ] && break
    sleep 0.05; i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
check "SIGKILL: caught the writer mid-write" -n "$t"
check "SIGKILL: the old file is unchanged" "$(cmp "$T/k/out.sslt" "$T/old.copy" >/dev/null 2>&1; echo $?)" -eq 0
ok "SIGKILL: the old file is loadable" ssl-info --check "$T/k/out.sslt"
# A stray temporary file is the only trace, and it is never taken for the real one.
check "SIGKILL: at most one stray temporary file" "$(ls "$T/k" | grep -c '\.tmp\.')" -le 1

# ---- SIGKILL and SIGINT during training
if have ssl-train && [ -f "$T/c.ckpt" ]; then
    cp "$T/c.ckpt" "$T/k/t.ckpt"
    for delay in 0.5 1.0 1.5; do
        ssl-train $TR --epochs 1000 --ckpt-every-steps 1 --in-place "$T/k/t.ckpt" "$T/d.sslt" &
        pid=$!
        sleep $delay
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        ok "SIGKILL after ${delay}s of training: checkpoint loadable" ssl-info --check "$T/k/t.ckpt"
        ok "SIGKILL after ${delay}s: training continues from it" ssl-train $TR --max-steps 1 "$T/k/t.ckpt" "$T/d.sslt" -o "$T/k/u.ckpt"
    done
    rm -f "$T"/k/*.tmp.*
    cp "$T/c.ckpt" "$T/k/s.ckpt"
    ssl-train $TR --epochs 1000 --in-place "$T/k/s.ckpt" "$T/d.sslt" 2>"$T/int.err" &
    pid=$!
    sleep 1.5
    kill -INT $pid
    wait $pid
    rc=$?
    check "SIGINT: exit 130 (ssl-train(1))" "$rc" -eq 130
    ok "SIGINT: checkpoint loadable" ssl-info --check "$T/k/s.ckpt"
    check "SIGINT: at most one line on stderr" "$(wc -l <"$T/int.err")" -le 1
    check "SIGINT: no temporary file left" "$(ls "$T/k" | grep -c '\.tmp\.')" -eq 0
    ok "SIGINT: training continues from it" ssl-train $TR --max-steps 1 "$T/k/s.ckpt" "$T/d.sslt" -o "$T/k/v.ckpt"
else
    skip "SIGKILL/SIGINT during training" "ssl-train not built"
fi
done_tests
