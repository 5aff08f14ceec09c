#!/bin/bash
# The engine: `nook run --rm busybox true` against podman (and docker when
# its daemon answers), the same busybox image loaded into each, --network
# none everywhere; then the PSS of nook's monitor and of podman's conmon
# for IDLE (100) idle detached containers and `nook ps` with them running;
# then SCALE (1000; 0 skips it) detached `sleep` containers started
# SCALE_JOBS (8) at a time, all checked running, all removed, and the
# mounts, cgroups, processes and state dirs counted before and after.
# Prints a table of medians and ratios.
#
# Everything lives in a temporary store, state root and podman root of its
# own, all removed at the end; nothing is pulled (the embedded busybox).
# podman runs with runc (Debian's crun refuses this hybrid cgroup layout)
# and nofile/nproc limits within this shell's hard limits (podman's own
# defaults exceed them here and runc refuses to set them).
set -eu
cd "$(dirname "$0")/.."
nook=${NOOK_BIN:-$PWD/build/nook}
runs=${RUNS:-30}
idle=${IDLE:-100}
scale=${SCALE:-1000}
scale_jobs=${SCALE_JOBS:-8}
work=$(mktemp -d /run/nook-engine-bench.XXXXXX)
# --network none for every run (podman and docker are measured with it): no
# bridge, nftables rule or sysctl of ours on this host
export NOOK_NETWORK=none
export NOOK_STORE=$work/store NOOK_ROOT=$work/root NOOK_CGROUP_PARENT=/nook-bench-$$
pm=(podman --root "$work/podman" --runroot "$work/podman-run" --cgroup-manager cgroupfs
    --runtime runc)
pmrun=(run --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
cleanup() {
        "$nook" rm -f $("$nook" ps -aq --no-trunc) >/dev/null 2>&1 || true
        "${pm[@]}" rm -f -a >/dev/null 2>&1 || true
        "${pm[@]}" system reset -f >/dev/null 2>&1 || true
        for d in /sys/fs/cgroup/*/nook-bench-$$ /sys/fs/cgroup/nook-bench-$$; do
                [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
        done
        umount -R "$work/podman" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT

"$nook" images >/dev/null # a fresh store gets the embedded busybox
"$nook" save -o "$work/busybox.tar" busybox

median_ms() { # json from hyperfine -> median in ms
        /usr/bin/python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$1"
}
bench() { # name command...
        local name=$1; shift
        hyperfine -N -w 3 -r "$runs" --export-json "$work/$name.json" "$*" >/dev/null 2>&1 &&
                median_ms "$work/$name.json"
}

declare -A med
med[nook]=$(bench nook "$nook run --rm busybox true")
if "${pm[@]}" load -i "$work/busybox.tar" >/dev/null 2>&1 &&
   "${pm[@]}" "${pmrun[@]}" --rm busybox true >/dev/null 2>&1; then
        med[podman]=$(bench podman "${pm[*]} ${pmrun[*]} --rm busybox true")
else
        med[podman]="n/a"
fi
if timeout 5 docker info >/dev/null 2>&1 && docker load -i "$work/busybox.tar" >/dev/null 2>&1; then
        med[docker]=$(bench docker "docker run --rm --network none busybox true")
else
        med[docker]="n/a (no daemon)"
fi

pss_sum() { # pids... -> total PSS in KiB
        local t=0 p
        for p in "$@"; do
                t=$((t + $(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup)))
        done
        echo $t
}
for i in $(seq "$idle"); do "$nook" run -d busybox sleep 600 >/dev/null; done
mons=$(for id in $("$nook" ps -q --no-trunc); do "$nook" inspect -f '{{.State.MonitorPid}}' "$id"; done)
hyperfine -N -w 3 -r 20 --export-json "$work/ps.json" "$nook ps" >/dev/null 2>&1 &&
        ps_ms=$(median_ms "$work/ps.json") || ps_ms="n/a"
mon_pss=$(( $(pss_sum $mons) / idle ))
conmon_pss="n/a"
if [ "${med[podman]}" != "n/a" ]; then
        for i in $(seq "$idle"); do
                "${pm[@]}" "${pmrun[@]}" -d busybox sleep 600 >/dev/null
        done
        cpids=$(pgrep -f "conmon.*$work/podman" || true)
        [ -n "$cpids" ] && conmon_pss=$(( $(pss_sum $cpids) / $(echo $cpids | wc -w) ))
fi

ratio() { /usr/bin/python3 -c 'import sys; a,b=sys.argv[1:]; print("%.2fx" % (float(a)/float(b)))' "$1" "$2" 2>/dev/null || echo "-"; }
printf '%-46s %12s %8s\n' "run --rm busybox true (median of $runs)" "ms" "vs nook"
printf '%-46s %12s %8s\n' "nook" "${med[nook]}" "1.00x"
printf '%-46s %12s %8s\n' "podman --network none" "${med[podman]}" "$(ratio "${med[podman]}" "${med[nook]}")"
printf '%-46s %12s %8s\n' "docker --network none" "${med[docker]}" "$(ratio "${med[docker]}" "${med[nook]}")"
echo
printf '%-46s %12s\n' "per idle container ($idle detached sleep)" "PSS KiB"
printf '%-46s %12s\n' "nook monitor" "$mon_pss"
printf '%-46s %12s\n' "podman's conmon" "$conmon_pss"
printf '%-46s %12s\n' "nook ps with $idle running (median ms)" "$ps_ms"

[ "$scale" -gt 0 ] || exit 0
"$nook" rm -f $("$nook" ps -aq --no-trunc) >/dev/null 2>&1 || true
"${pm[@]}" rm -f -a >/dev/null 2>&1 || true
# What a container leaves while it lives, and must not after: mounts under
# nook's store, cgroups under its parent, processes naming its
# state root (monitors) or in its cgroups, runtime state dirs, containers.
leftovers() {
        local mounts cgroups procs states ctrs
        mounts=$(awk -v w="$NOOK_STORE/" 'index($5, w) == 1' /proc/self/mountinfo | wc -l)
        cgroups=$(find /sys/fs/cgroup/*/nook-bench-$$ /sys/fs/cgroup/nook-bench-$$ -mindepth 1 \
                -maxdepth 1 -type d 2>/dev/null | wc -l)
        procs=$( (grep -l -- "--root $NOOK_ROOT " /proc/[0-9]*/cmdline 2>/dev/null
                  cat /sys/fs/cgroup/*/nook-bench-$$/*/cgroup.procs 2>/dev/null) | sort -u | wc -l)
        states=$(find "$NOOK_ROOT" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        ctrs=$(find "$NOOK_STORE/containers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        echo "mounts $mounts, cgroups $cgroups, processes $procs, state dirs $states, containers $ctrs"
}
before=$(leftovers)
t0=$(date +%s%N)
seq "$scale" | xargs -P "$scale_jobs" -I{} "$nook" run -d --network none busybox sleep 3600 \
        >/dev/null 2>"$work/scale.err" || true
t1=$(date +%s%N)
running=$("$nook" ps -q | wc -l)
during=$(leftovers)
hyperfine -N -w 1 -r 5 --export-json "$work/ps1k.json" "$nook ps" >/dev/null 2>&1 &&
        ps1k=$(median_ms "$work/ps1k.json") || ps1k="n/a"
mons=$(cat "$NOOK_STORE"/containers/*/monitor 2>/dev/null | cut -d' ' -f1)
mon1k=$(( $(pss_sum $mons) / $(echo $mons | wc -w) ))
t2=$(date +%s%N)
"$nook" rm -f $("$nook" ps -aq --no-trunc) >/dev/null 2>>"$work/scale.err" || true
for i in $(seq 250); do # the last monitors finishing their removal
        grep -lq -- "--root $NOOK_ROOT " /proc/[0-9]*/cmdline 2>/dev/null || break
        sleep 0.02
done
t3=$(date +%s%N)
echo
printf '%-46s %12s\n' "$scale detached sleep containers (jobs $scale_jobs)" ""
printf '%-46s %12s\n' "started in (s)" "$(( (t1 - t0) / 1000000 / 1000 )).$(( (t1 - t0) / 100000000 % 10 ))"
printf '%-46s %12s\n' "running after" "$running"
printf '%-46s %12s\n' "nook ps with them (median ms)" "$ps1k"
printf '%-46s %12s\n' "nook monitor PSS each (KiB)" "$mon1k"
printf '%-46s %12s\n' "all removed in (s, one rm -f)" "$(( (t3 - t2) / 1000000 / 1000 )).$(( (t3 - t2) / 100000000 % 10 ))"
echo "before:  $before"
echo "running: $during"
echo "after:   $(leftovers)"
[ -s "$work/scale.err" ] && { echo "errors (first 5):"; sort "$work/scale.err" | uniq -c | head -5; }
echo "limits: nofile $(ulimit -Sn)/$(ulimit -Hn), nproc $(ulimit -u), pid_max $(cat /proc/sys/kernel/pid_max), processes now $(ls -d /proc/[0-9]* | wc -l)"
