# Progress lines and terminals: ssl-init-bank, ssl-extract and ssl-lineval
# draw a progress line on standard error when it is a terminal (as
# ssl-train does), not with -q and not into a file or pipe; every tool
# refuses to read a stream from a terminal (as zstd). script(1) gives the
# commands a terminal.
. "$TOP/tests/lib.sh"
if ! command -v script >/dev/null 2>&1; then
    skip "progress" "no script(1) (bsdutils)"
    done_tests
fi
gen="$BIN/tests/test_train"
NET="--width 0.0625 --head mlp3 --hidden 8 --dim 4 --threads 2"
ok "a dataset" "$gen" --write-dataset "$T/d.sslt" 40 28 1
# tty NAME CMD: run CMD (a shell string) with stdin, stdout and stderr on a
# terminal; its output (both streams) in $T/tty, its status in $rc.
tty() { script -qec "$2" /dev/null </dev/null >"$T/tty" 2>&1; rc=$?; }
bar='\[[#.]{20}\] [0-9]+/[0-9]+ [0-9]+ (img|epochs)/s ETA [0-9]+m[0-9]{2}s'

tty init "ssl-init-bank $NET --batch 8 '$T/d.sslt' -o '$T/c.ckpt'"
check "ssl-init-bank on a terminal: exit 0" "$rc" -eq 0
check "ssl-init-bank on a terminal: a progress line" "$(tr '\r' '\n' <"$T/tty" | grep -cE "^ssl-init-bank: bank pass $bar")" -ge 1
check "ssl-init-bank: the line reaches 40/40" "$(tr '\r' '\n' <"$T/tty" | grep -c 'bank pass \[#*\] 40/40 ')" -ge 1
tty init-q "ssl-init-bank -q $NET --batch 8 '$T/d.sslt' -o '$T/c.ckpt'"
check "ssl-init-bank -q: no progress line" "$(grep -c 'bank pass' "$T/tty")" -eq 0
ssl-init-bank $NET --batch 8 "$T/d.sslt" -o "$T/c.ckpt" 2>"$T/err"
check "ssl-init-bank, stderr a file: no progress line" "$(grep -c 'bank pass' "$T/err")" -eq 0

tty extract "ssl-extract --threads 2 --batch 8 '$T/c.ckpt' '$T/d.sslt' -o '$T/f.feat'"
check "ssl-extract on a terminal: exit 0" "$rc" -eq 0
check "ssl-extract on a terminal: a progress line" "$(tr '\r' '\n' <"$T/tty" | grep -cE "^ssl-extract: images $bar")" -ge 1
tty extract-q "ssl-extract -q --threads 2 '$T/c.ckpt' '$T/d.sslt' -o '$T/f.feat'"
check "ssl-extract -q: no progress line" "$(grep -c 'images \[' "$T/tty")" -eq 0
ssl-extract --threads 2 "$T/c.ckpt" "$T/d.sslt" -o "$T/f.feat" 2>"$T/err"
check "ssl-extract, stderr a file: nothing on stderr" ! -s "$T/err"

tty lineval "ssl-lineval --epochs 3 --labels-per-class 2 --draws 2 '$T/f.feat' '$T/f.feat'"
check "ssl-lineval on a terminal: exit 0" "$rc" -eq 0
check "ssl-lineval on a terminal: epochs of every draw and setting" "$(tr '\r' '\n' <"$T/tty" | grep -cE "^ssl-lineval: training \[#{20}\] 6/6 ")" -eq 1
check "ssl-lineval: the progress line ends before the summary" "$(tr '\r' '\n' <"$T/tty" | grep -c '^ssl-lineval: linear eval: ')" -eq 1
tty lineval-q "ssl-lineval -q --epochs 3 '$T/f.feat' '$T/f.feat'"
check "ssl-lineval -q: no progress line" "$(grep -c 'training \[' "$T/tty")" -eq 0
ssl-lineval --epochs 3 "$T/f.feat" "$T/f.feat" >/dev/null 2>"$T/err"
check "ssl-lineval, stderr a file: the summary only" "$(wc -l <"$T/err")" -eq 1

# Reading a stream from a terminal: refused, exit 2, not waited on.
for c in "ssl-info" "ssl-init-bank -o '$T/x'" "ssl-extract '$T/c.ckpt' -o '$T/x'" \
         "ssl-knn '$T/f.feat'" "ssl-lineval - '$T/f.feat'" "ssl-train --lr 0.1 - '$T/d.sslt' -o '$T/x'" \
         "ssl-export - -o '$T/x'" "ssl-export --check -"; do
    tty stdin "$c"
    check "${c%% *}: stdin a terminal: exit 2" "$rc" -eq 2
    check "${c%% *}: stdin a terminal: says so" "$(grep -c "stdin is a terminal: give a file or pipe data" "$T/tty")" -eq 1
done
check "nothing written from a terminal" ! -e "$T/x"
done_tests
