#!/bin/bash
# Start latency: `run` of /bin/true in one bundle with nook, crun and runc.
# Prints hyperfine's table and a summary of means and ratios to crun.
#
# Debian's crun 1.8.1 refuses this machine's hybrid cgroup layout, so it runs
# in a private mount namespace with /sys/fs/cgroup/unified unmounted. To keep
# the comparison fair every runtime is started through the same wrapper
# (unshare -m + sh); nook and runc keep the unified mount.
set -eu
cd "$(dirname "$0")/.."
nook=${NOOK_BIN:-$PWD/build/nook}
runs=${RUNS:-100}
work=$(mktemp -d /tmp/nook-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/proc" "$work/bundle/rootfs/dev" \
         "$work/bundle/rootfs/sys" "$work/bundle/rootfs/tmp"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
ln -s busybox "$work/bundle/rootfs/bin/sh"
(cd "$work/bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/' "$work/bundle/config.json"

b=$work/bundle
cmds=(
  "unshare -m sh -c '$nook --root $work/nook run --bundle $b bench-nook-\$\$'"
  "unshare -m sh -c 'umount /sys/fs/cgroup/unified; crun --root $work/crun run --bundle $b bench-crun-\$\$'"
  "unshare -m sh -c 'runc --root $work/runc run --bundle $b bench-runc-\$\$'"
  "$nook --root $work/nook run --bundle $b bench-nook-bare"
)
names=(nook crun runc "nook (no wrapper)")
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N -w 5 -r "$runs" --export-json "$work/out.json" "${args[@]}" >&2 || \
        hyperfine -w 5 -r "$runs" --export-json "$work/out.json" "${args[@]}" >&2

/usr/bin/python3 - "$work/out.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
crun = next(r["mean"] for r in res if r["command"] == "crun")
print(f"{'runtime':<20} {'mean ms':>9} {'stddev':>8} {'min ms':>8} {'vs crun':>8}")
for r in res:
    print(f"{r['command']:<20} {r['mean']*1e3:9.2f} {r['stddev']*1e3:8.2f} {r['min']*1e3:8.2f} {r['mean']/crun:8.2f}x")
PY
