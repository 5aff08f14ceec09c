#!/bin/bash
# Networking, one run, side by side (issue 14's benchmark):
#   1. `nook run --rm busybox true` on the default bridge network vs the
#      same with --network none vs `podman run --rm busybox true` on
#      podman's default bridge network: interleaved rounds (bench/
#      interleave.py), medians and ratios;
#   2. the time to start N containers (N=1100 by default, N=... to change)
#      on one routed network, each pinging its neighbour (a file per
#      success in a bind-mounted directory), and how many did;
#   3. nftables rule count and DNAT lookup cost with 10 vs 10,000
#      published ports (bench/net_dnat.sh).
# Everything runs inside a network + mount namespace of its own that plays
# the host (nothing touches this machine's interfaces, routes, sysctls or
# nftables), with a store, state root, podman root and cgroup parent of
# its own, all removed at the end.
set -eu
cd "$(dirname "$0")/.."
nook=${NOOK_BIN:-$PWD/build/nook}
rounds=${ROUNDS:-30}
n=${N:-1100}
work=$(mktemp -d /run/nook-net-bench.XXXXXX)
unshare --net --mount --propagation private sleep infinity &
holder=$!
H=(nsenter -t "$holder" -n -m --)
export NOOK_STORE=$work/store NOOK_ROOT=$work/root NOOK_CGROUP_PARENT=/nook-netbench-$$
unset NOOK_NETWORK
pm=(podman --root "$work/podman" --runroot "$work/podman-run" --cgroup-manager cgroupfs
    --runtime runc)
pmrun=(run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
cleanup() {
        "${H[@]}" "$nook" ps -aq --no-trunc 2>/dev/null | xargs -r -n 50 -P 2 \
                "${H[@]}" "$nook" rm -f >/dev/null 2>&1 || true
        "${H[@]}" "${pm[@]}" rm -f -a >/dev/null 2>&1 || true
        "${H[@]}" "${pm[@]}" system reset -f >/dev/null 2>&1 || true
        kill "$holder" 2>/dev/null || true
        wait "$holder" 2>/dev/null || true
        for d in /sys/fs/cgroup/*/nook-netbench-$$ /sys/fs/cgroup/nook-netbench-$$; do
                [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
        done
        rm -rf "$work"
}
trap cleanup EXIT
sleep 0.2
"${H[@]}" ip link set lo up

echo "== 1. run --rm busybox true ($rounds interleaved rounds; load $(cut -d' ' -f1 /proc/loadavg))"
"${H[@]}" "$nook" images >/dev/null # a fresh store gets the embedded busybox
"${H[@]}" "$nook" run --rm busybox true
cmds=(bridge "${H[*]} $nook run --rm busybox true"
      none "${H[*]} $nook run --rm --network none busybox true")
"${H[@]}" "$nook" save -o "$work/busybox.tar" busybox
if "${H[@]}" "${pm[@]}" load -i "$work/busybox.tar" >/dev/null 2>&1 &&
   "${H[@]}" "${pm[@]}" "${pmrun[@]}" --rm busybox true >/dev/null 2>&1; then
        cmds+=(podman "${H[*]} ${pm[*]} ${pmrun[*]} --rm busybox true")
fi
/usr/bin/python3 bench/interleave.py "$rounds" "$work/run.json" "${cmds[@]}"
/usr/bin/python3 - "$work/run.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
ms = {k: v["median"] * 1000 for k, v in r.items()}
for k, v in ms.items():
    q = (r[k]["q1"] * 1000, r[k]["q3"] * 1000)
    print(f"  {k:8s} median {v:7.1f} ms   (q1 {q[0]:.1f}, q3 {q[1]:.1f})")
print(f"  networking adds {ms['bridge'] - ms['none']:+.1f} ms (bridge - none)")
if "podman" in ms:
    print(f"  nook/podman (both on their default bridge): {ms['bridge'] / ms['podman']:.3f}x")
else:
    print("  podman: n/a (its run failed here)")
EOF

echo "== 2. $n containers on one routed network, each pinging its neighbour"
"${H[@]}" "$nook" network create --driver routed --subnet 10.128.0.0/16 rnet >/dev/null
mkdir -p "$work/ok"
ip_of() { # i -> the i-th address IPAM hands out (10.128.0.2 onwards)
        local k=$(($1 + 2))
        echo "10.128.$((k / 256)).$((k % 256))"
}
t0=$(date +%s.%N)
for i in $(seq 0 $((n - 1))); do
        # the first pings the host's gateway address, the others the one before
        peer=$([ "$i" = 0 ] && echo 10.128.0.1 || ip_of $((i - 1)))
        "${H[@]}" "$nook" run -d --network rnet -v "$work/ok:/ok" busybox sh -c \
                "for t in 1 2 3 4 5; do ping -c1 -W1 $peer >/dev/null && touch /ok/$i && break; done; exec sleep 3600" >/dev/null
done
t1=$(date +%s.%N)
sleep 6
running=$("${H[@]}" "$nook" ps -q | wc -l)
pinged=$(ls "$work/ok" | wc -l)
awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "  started %d in %.1f s (%.1f ms each)\n", n, b - a, (b - a) * 1000 / n }'
echo "  running: $running   pinged their neighbour: $pinged"
t0=$(date +%s.%N)
"${H[@]}" "$nook" ps -aq --no-trunc | xargs -r -n 50 -P 2 "${H[@]}" "$nook" rm -f >/dev/null
"${H[@]}" "$nook" network rm rnet >/dev/null
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "  removed all and the network in %.1f s\n", b - a }'
echo "  left: $("${H[@]}" ip -o link | grep -c nkv || true) veths, $(ls "$NOOK_ROOT/netns" | wc -l) netns files"

echo "== 3. nftables: rule count and DNAT lookup cost, 10 vs 10,000 published ports"
CONNS=${CONNS:-2000} bash bench/net_dnat.sh
