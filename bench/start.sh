#!/bin/bash
# Start latency: `run` of /bin/true in one bundle with nook, crun and runc,
# and the kernel floor (bench/floor.c: the same kernel work, no runtime).
# Prints hyperfine's tables and a summary of means and ratios.
#
# Debian's crun 1.8.1 refuses this machine's hybrid cgroup layout. So the
# main comparison runs hyperfine itself inside one private mount namespace
# with /sys/fs/cgroup/unified unmounted: every runtime then sees the same
# pure-v1 host and no run pays a per-run wrapper. A second table runs nook
# and runc on the real hybrid host (crun cannot).
# The state roots are on /run (tmpfs on most hosts).
set -eu
cd "$(dirname "$0")/.."
nook=${NOOK_BIN:-$PWD/build/nook-oci}  # the OCI face: runc's command line
runs=${RUNS:-100}
work=$(mktemp -d /run/nook-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/proc" "$work/bundle/rootfs/dev" \
         "$work/bundle/rootfs/sys" "$work/bundle/rootfs/tmp"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
ln -s busybox "$work/bundle/rootfs/bin/sh"
(cd "$work/bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/' "$work/bundle/config.json"

# The kernel's share of the same run (bench/floor.c): cgroups, namespaces,
# mounts, pivot_root, exec. No runtime can be faster than this row.
cc -O2 -o "$work/floor" bench/floor.c

b=$work/bundle
args=(-n nook "$nook --root $work/nook run --bundle $b bench-nook"
      -n crun "crun --root $work/crun run --bundle $b bench-crun"
      -n runc "runc --root $work/runc run --bundle $b bench-runc"
      -n floor "$work/floor $b/rootfs nook-bench-floor")
run_hyperfine() { # json out, hyperfine args...
        local out=$1; shift
        hyperfine -N -w 5 -r "$runs" --export-json "$out" "$@" >&2
}
export -f run_hyperfine
export runs
# Interleaved rounds besides (bench/interleave.py): the ratios that hold
# when the machine's load drifts between hyperfine's series.
export inter_py=$PWD/bench/interleave.py
echo "== hybrid host with the unified mount hidden (all three runtimes)" >&2
unshare -m bash -c 'umount /sys/fs/cgroup/unified && run_hyperfine "$0" "$@" || exit
                    inter=(); while (($#)); do inter+=("$2" "$3"); shift 3; done
                    "$inter_py" "$runs" "${0%.json}-inter.json" "${inter[@]}"' \
        "$work/out.json" "${args[@]}"
echo "== the real hybrid host (nook and runc)" >&2
run_hyperfine "$work/hybrid.json" "${args[@]:0:3}" "${args[@]:6:6}"

/usr/bin/python3 - "$work/out.json" "$work/hybrid.json" "$work/out-inter.json" <<'PY'
import json, sys
inter = json.load(open(sys.argv[3]))
for path, title in zip(sys.argv[1:3], ("unified mount hidden", "hybrid host")):
    res = json.load(open(path))["results"]
    mean = {r["command"]: r["mean"] for r in res}
    print(f"{title}:")
    print(f"  {'runtime':<8} {'mean ms':>8} {'stddev':>7} {'min ms':>7} {'vs crun':>8} {'vs runc':>8}"
          f" {'- floor ms':>10}")
    for r in res:
        vs_crun = f"{r['mean'] / mean['crun']:.2f}x" if "crun" in mean else "-"
        print(f"  {r['command']:<8} {r['mean']*1e3:8.2f} {r['stddev']*1e3:7.2f} "
              f"{r['min']*1e3:7.2f} {vs_crun:>8} {r['mean'] / mean['runc']:7.2f}x"
              f" {(r['mean'] - mean['floor'])*1e3:10.2f}")
m = {k: v["median"] for k, v in inter.items()}
print(f"interleaved rounds, unified mount hidden (median of {inter['nook']['n']}):")
print(f"  {'runtime':<8} {'median ms':>9} {'q1-q3 ms':>13} {'vs crun':>8} {'vs runc':>8} {'- floor ms':>10}")
for k, v in inter.items():
    print(f"  {k:<8} {v['median']*1e3:9.2f} {v['q1']*1e3:6.2f}-{v['q3']*1e3:<6.2f} "
          f"{m[k] / m['crun']:7.2f}x {m[k] / m['runc']:7.2f}x {(m[k] - m['floor'])*1e3:10.2f}")
PY
