#!/bin/bash
# What users feel: `run --rm --network=none busybox true` through podman,
# docker and ctr, with nook and with runc as the OCI runtime. The client's own
# work (image store, conmon or the containerd shim, API round trips) dominates;
# the ratio shows what the runtime still adds to it.
#
# Everything is private to a temp dir: podman's storage and containers.conf,
# one containerd (used by dockerd and by ctr) and one dockerd, both without
# networking and stopped by PID at the end. Prints hyperfine's output to
# stderr and a table of mean, median and min times and nook/runc ratios
# (of medians) to stdout. RUNS (default 20) runs per command, in ROUNDS.
set -eu
cd "$(dirname "$0")/.."
top=$PWD
nook=${NOOK_BIN:-$top/build/nook-oci}  # the runtime clients are pointed at
runc=$(command -v runc)
runs=${RUNS:-20}
for t in hyperfine podman conmon dockerd docker containerd ctr; do
        command -v "$t" >/dev/null || { echo "clients.sh: $t is not installed" >&2; exit 1; }
done
work=$(mktemp -d /tmp/nook-bench-clients.XXXXXX)
cg=nookbench-$$
new_dirs=""
for p in /etc/docker/key.json /run/docker /run/containerd; do
        [ -e "$p" ] || new_dirs="$new_dirs $p"
done
ctr_pid="" dockerd_pid=""

cleanup() {
        set +e
        [ -S "$work/docker.sock" ] && docker -H "unix://$work/docker.sock" ps -aq |
                xargs -r docker -H "unix://$work/docker.sock" rm -f >/dev/null
        [ -f "$work/containers.conf" ] && pm rm -a -f -t 0 >/dev/null 2>&1
        for pid in $dockerd_pid $ctr_pid; do
                kill -TERM "$pid" 2>/dev/null
                for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null
        done
        wait 2>/dev/null
        grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
        for d in $(find /sys/fs/cgroup/*/ -maxdepth 3 -depth -type d -path "*/$cg*" 2>/dev/null); do
                rmdir "$d"
        done
        for p in $new_dirs; do
                if [ -f "$p" ]; then rm -f "$p"; else find "$p" -depth -type d -empty -delete 2>/dev/null; fi
        done
        rm -rf "$work"
}
trap cleanup EXIT

# ---- image and runtimes
/usr/bin/python3 - "$top/tests/clients" "$work" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import clientlib
w = sys.argv[2]
clientlib.busybox_rootfs_tar(f"{w}/busybox.tar")
clientlib.oci_archive(f"{w}/busybox.tar", f"{w}/busybox-oci.tar", "docker.io/library/busybox:latest")
PY
# podman's cleanup process drops --runtime-flag: give each runtime its root
# through the same one-line wrapper, so both pay the same sh exec.
for rt in nook runc; do
        bin=$nook; [ $rt = runc ] && bin=$runc
        printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$bin" "$work/state-$rt" >"$work/$rt-runtime"
        chmod +x "$work/$rt-runtime"
done

# Timing wrappers: log how long each runtime call of a client run takes.
# For podman with a fixed --root; the shims pass their own.
for rt in nook runc; do
        bin=$nook; [ $rt = runc ] && bin=$runc
        for kind in podman shim; do
                root=""; [ $kind = podman ] && root="--root $work/state-$rt"
                cat >"$work/timed-$rt-$kind" <<EOF
#!/bin/bash
s=\$(date +%s%N); $bin $root "\$@"; rc=\$?; e=\$(date +%s%N)
cmd=; for a in "\$@"; do case \$a in create|start|kill|delete|exec|state|ps) cmd=\$a; break;; esac; done
echo "$rt \$(( (e - s) / 1000 )) \$cmd" >>$work/timed.log; exit \$rc
EOF
                chmod +x "$work/timed-$rt-$kind"
        done
done

# ---- podman
mkdir -p "$work/pm/net" "$work/pm/tmp"
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/pm/events.log"
tmp_dir = "$work/pm/tmp"
runtime_supports_json = ["crun", "runc", "nook"]
[engine.runtimes]
nook = ["$work/nook-runtime"]
runc = ["$work/runc-runtime"]
[network]
network_config_dir = "$work/pm/net"
EOF
printf '[storage]\ndriver = "overlay"\nrunroot = "%s"\ngraphroot = "%s"\n' \
        "$work/pm/runroot" "$work/pm/root" >"$work/storage.conf"
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf
pm() { podman "$@"; }
pm import "$work/busybox.tar" localhost/busybox:latest >/dev/null

# ---- containerd (for ctr and dockerd) and dockerd
mkdir -p "$work/ctrd" "$work/fifo"
cat >"$work/ctrd/config.toml" <<EOF
version = 2
root = "$work/ctrd/root"
state = "$work/ctrd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/ctrd/containerd.sock"
[ttrpc]
  address = "$work/ctrd/containerd.sock.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/ctrd/opt"
EOF
containerd --config "$work/ctrd/config.toml" >"$work/ctrd/log" 2>&1 &
ctr_pid=$!
cat >"$work/daemon.json" <<EOF
{"runtimes": {"nook": {"path": "$nook"}, "nook-timed": {"path": "$work/timed-nook-shim"},
   "runc-timed": {"path": "$work/timed-runc-shim"}}, "containerd": "$work/ctrd/containerd.sock",
 "exec-opts": ["native.cgroupdriver=cgroupfs"], "cgroup-parent": "/$cg-docker",
 "bridge": "none", "iptables": false, "ip6tables": false, "ip-forward": false,
 "ip-masq": false, "userland-proxy": false, "data-root": "$work/docker",
 "exec-root": "$work/docker-exec", "pidfile": "$work/docker.pid",
 "hosts": ["unix://$work/docker.sock"], "storage-driver": "overlay2"}
EOF
for _ in $(seq 100); do [ -S "$work/ctrd/containerd.sock" ] && break; sleep 0.1; done
dockerd --config-file "$work/daemon.json" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
dk="docker -H unix://$work/docker.sock"
for _ in $(seq 200); do $dk version >/dev/null 2>&1 && break; sleep 0.1; done
$dk import "$work/busybox.tar" busybox:latest >/dev/null
ctr="ctr --address $work/ctrd/containerd.sock --namespace $cg"
$ctr image import "$work/busybox-oci.tar" >/dev/null

# ---- measure
ctr_run() { # runtime binary
        echo "$ctr run --rm --runtime io.containerd.runc.v2 --runc-binary $1 --runc-root $work/ctr-state --fifo-dir $work/fifo docker.io/library/busybox:latest b-\$\$ true"
}
names=(podman/nook podman/runc docker/nook docker/runc ctr/nook ctr/runc)
cmds=(
  "podman --runtime nook run --rm --network=none --cgroup-parent=/$cg-podman localhost/busybox true"
  "podman --runtime runc run --rm --network=none --cgroup-parent=/$cg-podman localhost/busybox true"
  "$dk run --rm --network none --runtime nook busybox true"
  "$dk run --rm --network none --runtime runc busybox true"
  "$(ctr_run "$nook")"
  "$(ctr_run "$runc")"
)
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
# Other work on the machine comes and goes: measure in rounds, every command
# a few runs per round, so a busy minute hits nook and runc alike.
rounds=${ROUNDS:-5}
per=$(( (runs + rounds - 1) / rounds ))
for r in $(seq "$rounds"); do
        hyperfine -w 1 -r "$per" --export-json "$work/out-$r.json" "${args[@]}" >&2
done

/usr/bin/python3 - "$work" <<'PY'
import glob, json, statistics, sys
times = {}
for f in sorted(glob.glob(f"{sys.argv[1]}/out-*.json")):
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
def row(name):
    t = times[name]
    return statistics.mean(t) * 1e3, statistics.median(t) * 1e3, min(t) * 1e3
n_runs = len(next(iter(times.values())))
print(f"{n_runs} runs each, in rounds; ratio of medians")
print(f"{'client':<8} {'runtime':<6} {'mean ms':>8} {'median':>8} {'min':>8} {'nook/runc':>10}")
for client in ("podman", "docker", "ctr"):
    ratio = row(f"{client}/nook")[1] / row(f"{client}/runc")[1]
    for rt in ("nook", "runc"):
        mean, med, lo = row(f"{client}/{rt}")
        extra = f"{ratio:9.2f}x" if rt == "nook" else ""
        print(f"{client:<8} {rt:<6} {mean:8.1f} {med:8.1f} {lo:8.1f} {extra:>10}")
PY

# ---- the runtime's share: wall time inside the runtime binary (all its
# create/start/kill/delete calls) per container run, through timing wrappers
timed_runs=${TIMED_RUNS:-10}
timed() { # client, runtime
        case $1 in
        podman) echo "podman --runtime $work/timed-$2-podman run --rm --network=none --cgroup-parent=/$cg-podman localhost/busybox true" ;;
        docker) echo "$dk run --rm --network none --runtime $2-timed busybox true" ;;
        ctr) echo "$ctr run --rm --runtime io.containerd.runc.v2 --runc-binary $work/timed-$2-shim --runc-root $work/ctr-state --fifo-dir $work/fifo docker.io/library/busybox:latest t-$2 true" ;;
        esac
}
echo
echo "time inside the runtime per run ($timed_runs runs each, alternating)"
printf '%-8s %10s %10s %10s\n' client "nook ms" "runc ms" nook/runc
for client in podman docker ctr; do
        : >"$work/timed.log"
        for _ in $(seq "$timed_runs"); do
                for rt in nook runc; do $(timed $client $rt) >/dev/null; done
        done
        awk -v c=$client -v n="$timed_runs" '{t[$1] += $2}
                END {printf "%-8s %10.1f %10.1f %9.2fx\n", c, t["nook"]/n/1000,
                     t["runc"]/n/1000, t["nook"]/t["runc"]}' "$work/timed.log"
        [ -z "${VERBOSE:-}" ] || awk -v n="$timed_runs" '{t[$1 " " $3] += $2; c[$1 " " $3]++}
                END {for (k in t) printf "    %-14s %3d calls %8.1f ms per run\n", k, c[k], t[k]/n/1000}' \
                "$work/timed.log" | sort
done
