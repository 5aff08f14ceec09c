#!/bin/bash
# Pull one multi-layer image from a local registry (Debian's docker-registry
# on 127.0.0.1) with nook, skopeo and podman; then time mounting a 50-layer
# root filesystem. Prints hyperfine's tables and a summary with ratios.
#
# The image: 6 gzip layers made from this machine's files (python3.11, perl,
# vim runtime, i18n data, zoneinfo, /etc: ~180 MB and ~17000 files
# uncompressed, ~50 MB compressed).
# What each tool does:
#   nook pull      fetch + verify + extract every layer into its store
#   podman pull    the same into containers-storage (overlay driver)
#   skopeo copy    fetch + verify into an OCI layout: no extraction (a floor)
# Each run starts from an empty store (hyperfine --prepare).
set -eu
cd "$(dirname "$0")/.."
nook=${NOOK_BIN:-$PWD/build/nook}
runs=${RUNS:-10}
work=$(mktemp -d /var/tmp/nook-bench-pull.XXXXXX)
reg_pid=
cleanup() {
        set +e
        [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
        for m in $(awk -v w="$work" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
                umount -l "$m"
        done
        rm -rf "$work"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/reg"
cat > "$work/reg/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/reg/data}}
http: {addr: 127.0.0.1:$port, secret: bench}
EOF
docker-registry serve "$work/reg/config.yml" >"$work/reg/log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
        sleep 0.1
done

echo "building images..." >&2
PYTHONPATH=tests/integration /usr/bin/python3 - "$work" <<'PY'
import os, subprocess, sys
from images_util import Layer, OCILayout
work = sys.argv[1]
def tar_of(*paths):
    return subprocess.run(["tar", "-C", "/", "--numeric-owner", "-cf", "-", *paths],
                          capture_output=True, check=True).stdout
dirs = [("usr/lib/python3.11",), ("usr/share/perl", "usr/lib/x86_64-linux-gnu/perl"),
        ("usr/share/vim",), ("usr/share/i18n",), ("usr/share/zoneinfo",), ("etc",)]
layers = [Layer(tar_of(*d), "gzip") for d in dirs]
lay = OCILayout(os.path.join(work, "layout"))
lay.tag(lay.image(layers), "big")
many = [Layer([("file", f"l{i:02d}", os.urandom(1000))], "gzip") for i in range(50)]
lay.tag(lay.image(many), "many")
files = sum(subprocess.run(["tar", "-tf", "-"], input=l.tar, capture_output=True).stdout.count(b"\n")
            for l in layers)
print(f"image: {len(layers)} layers, {files} entries, {sum(len(l.tar) for l in layers) >> 20} MiB "
      f"uncompressed, {sum(len(l.blob) for l in layers) >> 20} MiB compressed", file=sys.stderr)
PY
for t in big many; do
        skopeo copy -q --dest-tls-verify=false --preserve-digests "oci:$work/layout:$t" \
                "docker://127.0.0.1:$port/bench/$t:1"
done
ref=127.0.0.1:$port/bench/big:1

podman=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay
        --cgroup-manager cgroupfs --events-backend file)
names=(nook skopeo)
cmds=("$nook --store $work/nook pull -q $ref"
      "skopeo copy -q --src-tls-verify=false docker://$ref oci:$work/skopeo:1")
# Every run starts after a `sync`, so one tool's deletions are not flushed
# on the next one's time (nook syncs its store before committing a pull).
preps=("rm -rf $work/nook && $nook --store $work/nook images >/dev/null && sync"
       "rm -rf $work/skopeo && sync")
if command -v podman >/dev/null; then
        names+=(podman)
        cmds+=("${podman[*]} pull -q --tls-verify=false $ref")
        preps+=("${podman[*]} rmi -af >/dev/null 2>&1; sync")
fi
args=()
for i in "${!cmds[@]}"; do args+=(--prepare "${preps[$i]}" -n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -w 1 -r "$runs" --export-json "$work/pull.json" "${args[@]}" >&2

# Mounting: nook's overlay of 50 layers (mount + unmount), with podman's
# `image mount` of the same image for comparison.
$nook --store "$work/nook" pull -q "127.0.0.1:$port/bench/many:1" >/dev/null
$nook --store "$work/nook" pull -q "$ref" >/dev/null
mkdir -p "$work/mnt"
mcmds=("$nook --store $work/nook image mount 127.0.0.1:$port/bench/many:1 $work/mnt && $nook --store $work/nook image umount $work/mnt"
       "$nook --store $work/nook image mount $ref $work/mnt && $nook --store $work/nook image umount $work/mnt")
mnames=("nook mount 50 layers" "nook mount 6 layers")
if command -v podman >/dev/null; then
        "${podman[@]}" pull -q --tls-verify=false "127.0.0.1:$port/bench/many:1" >/dev/null
        mcmds+=("${podman[*]} image mount 127.0.0.1:$port/bench/many:1 >/dev/null && ${podman[*]} image unmount 127.0.0.1:$port/bench/many:1 >/dev/null")
        mnames+=("podman mount 50 layers")
fi
margs=()
for i in "${!mcmds[@]}"; do margs+=(-n "${mnames[$i]}" "${mcmds[$i]}"); done
hyperfine -w 2 -r "$((runs * 3))" --export-json "$work/mount.json" "${margs[@]}" >&2

/usr/bin/python3 - "$work/pull.json" "$work/mount.json" <<'PY'
import json, sys
for path, base in ((sys.argv[1], "nook"), (sys.argv[2], "nook mount 50 layers")):
    res = json.load(open(path))["results"]
    ref = next(r["mean"] for r in res if r["command"] == base)
    print(f"\n{'command':<24} {'mean':>10} {'stddev':>9}   ratio to {base}")
    for r in res:
        print(f"{r['command']:<24} {r['mean']*1000:>8.1f}ms {r['stddev']*1000:>7.1f}ms   "
              f"{r['mean']/ref:.2f}x")
PY
