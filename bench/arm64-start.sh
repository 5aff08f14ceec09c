#!/bin/bash
# Start latency on arm64: bench/start.sh's measurement (hyperfine, `run`
# of /bin/true in one bundle, and the kernel floor of bench/floor.c) inside
# the arm64 guest of tests/vm/arm64/boot.sh (Debian's arm64 kernel under
# qemu-system-aarch64 -M virt, TCG; pure cgroup v2, where Debian's crun
# 1.8.1 runs), nook (build-arm64, cross-built) against Debian's arm64 crun.
# Prints hyperfine's JSON summary as a table: means, ratio to crun, and
# what is left after the floor.
#
# TCG emulates every guest instruction: the absolute times are many times
# a real arm64 machine's, and only the rows of one table compare (same
# emulated machine, same moment). runc is left out (a Go binary of its
# own; bench/start.sh has it on the host).
#
# Needs: the arm64 build (meson setup build-arm64 --cross-file
# cross/aarch64-linux-gnu.ini), the host build (it writes the spec), and
# scripts/install-deps.sh --arm64-bench (crun and hyperfine for arm64,
# unpacked into /var/cache/nook/arm64/bench). RUNS (default 30) per runtime.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build-arm64}
runs=${RUNS:-30}
cache=/var/cache/nook/arm64
bench=$cache/bench
busybox=${NOOK_VM_ARM64_BUSYBOX:-$cache/busybox}
die() { echo "arm64-start: $*" >&2; exit 1; }
[ -x "$build/nook" ] || die "$build/nook missing: build it first"
[ -x build/nook-oci ] || die "build/nook-oci (the host build) missing: it writes the spec"
[ -x "$bench/usr/bin/crun" ] && [ -x "$bench/usr/bin/hyperfine" ] ||
        die "no arm64 crun/hyperfine in $bench (scripts/install-deps.sh --arm64-bench)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/lib" "$work/bundle/rootfs/bin"
for d in proc dev sys tmp; do mkdir -p "$work/bundle/rootfs/$d"; done
cp "$busybox" "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
ln -s busybox "$work/bundle/rootfs/bin/sh"
(cd "$work/bundle" && "$OLDPWD/build/nook-oci" spec)
# Debian's crun 1.8.1 refuses ociVersion 1.2.0 ("unknown version
# specified"); nothing in this config is newer than 1.0.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/; s/"ociVersion": *"[^"]*"/"ociVersion": "1.0.2"/' \
        "$work/bundle/config.json"
grep -q '"/bin/true"' "$work/bundle/config.json" || die "spec: could not set args to /bin/true"
# The binaries and every library they load, on the guest's tmpfs for both
# runtimes alike (not read through 9p at each run).
cp "$build/nook" "$work/bin/nook" && ln -s nook "$work/bin/nook-oci"
cp "$bench/usr/bin/crun" "$bench/usr/bin/hyperfine" "$work/bin/"
aarch64-linux-gnu-gcc -O2 -static -o "$work/bin/floor" bench/floor.c
libpath=$bench/lib/aarch64-linux-gnu:$bench/usr/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu
for b in "$work/bin/nook" "$work/bin/crun" "$work/bin/hyperfine"; do
        qemu-aarch64-static /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 --library-path "$libpath" \
                --list "$b" | awk '/=>/ {print $3}'
done | sort -u | while read -r l; do cp -L "$l" "$work/lib/"; done
[ -e "$work/lib/libyajl.so.2" ] || die "crun's libraries not found"

cat >"$work/guest.sh" <<SH
set -e
BENCH_PROBE=${BENCH_PROBE:-}
b=/tmp/bench
mkdir -p \$b && cp -a "\$1"/. \$b/
export LD_LIBRARY_PATH=\$b/lib
\$b/bin/crun --version | head -n 1
# One run of each first: a failure shows its message (hyperfine hides it).
\$b/bin/nook-oci --root /run/b-nook run --bundle \$b/bundle bench-nook
\$b/bin/crun --root /run/b-crun run --bundle \$b/bundle bench-crun
\$b/bin/floor \$b/bundle/rootfs nook-bench-floor
if [ -n "\${BENCH_PROBE:-}" ]; then exit 0; fi
\$b/bin/hyperfine -N --style basic -w 3 -r $runs --export-json \$b/out.json \\
        -n nook "\$b/bin/nook-oci --root /run/b-nook run --bundle \$b/bundle bench-nook" \\
        -n crun "\$b/bin/crun --root /run/b-crun run --bundle \$b/bundle bench-crun" \\
        -n floor "\$b/bin/floor \$b/bundle/rootfs nook-bench-floor"
echo BENCH-JSON
cat \$b/out.json
echo BENCH-END
SH
tests/vm/arm64/boot.sh --timeout "${NOOK_VM_ARM64_TIMEOUT:-1800}" -- "$work/guest.sh" "/host$work" \
        >"$work/out.log" || { cat "$work/out.log"; die "the guest run failed"; }
sed -n '/^BENCH-JSON/q;p' "$work/out.log" >&2
sed -n '/^BENCH-JSON/,/^BENCH-END/{/^BENCH-/!p}' "$work/out.log" >"$work/out.json"
[ -z "${BENCH_PROBE:-}" ] || exit 0
/usr/bin/python3 - "$work/out.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
mean = {r["command"]: r["mean"] for r in res}
print("arm64 guest (qemu-system-aarch64 TCG: compare rows, not absolute times):")
print(f"  {'runtime':<8} {'mean ms':>8} {'stddev':>7} {'median':>7} {'min ms':>7} {'vs crun':>8}"
      f" {'- floor ms':>10}")
for r in res:
    print(f"  {r['command']:<8} {r['mean']*1e3:8.1f} {r['stddev']*1e3:7.1f} {r['median']*1e3:7.1f} "
          f"{r['min']*1e3:7.1f} {r['mean'] / mean['crun']:7.2f}x {(r['mean'] - mean['floor'])*1e3:10.1f}")
PY
