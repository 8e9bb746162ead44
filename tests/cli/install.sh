# make install / uninstall into a scratch DESTDIR, without building (-o all:
# the tools of BIN as they are): every tool, man page and Python module in
# place, the installed Python modules importable, and uninstall removing
# them all.
. "$TOP/tests/lib.sh"
if ! command -v make >/dev/null 2>&1; then skip "install" "make not installed"; done_tests; fi
R="$T/root"
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$TOP" -o all BIN="$BIN" DESTDIR="$R" PREFIX=/usr "$@"; }
ok "make install" mk install
for t in "$BIN"/ssl-*; do
    n=$(basename "$t")
    check "installed: bin/$n" -x "$R/usr/bin/$n"
done
for m in "$TOP"/man/*.[157]; do
    s=${m##*.}
    check "installed: man$s/$(basename "$m")" -f "$R/usr/share/man/man$s/$(basename "$m")"
done
P="$R/usr/share/ssl-tools/python"
check "installed: sslt.py" -f "$P/sslt.py"
check "installed: ssl_resnet.py" -f "$P/ssl_resnet.py"
check "installed ssl-export runs" "$("$R/usr/bin/ssl-export" --version | cut -d' ' -f1)" = ssl-export
if [ -x /usr/bin/python3 ]; then
    # --help parses arguments before importing numpy (-S: no site packages).
    ok "installed sslt.py --help without numpy" /usr/bin/python3 -S "$P/sslt.py" --help
    if /usr/bin/python3 -c 'import numpy, msgpack, zstandard' 2>/dev/null; then
        ok "installed sslt importable from PYTHONDIR" env PYTHONPATH="$P" /usr/bin/python3 -c 'import sslt; sslt.load'
    fi
fi
ok "make uninstall" mk uninstall
check "uninstall leaves no file" "$(find "$R" -type f | wc -l)" -eq 0
done_tests
