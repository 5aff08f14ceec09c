#!/bin/bash
# DNAT lookup cost with 10 vs 10,000 published ports: nook's table keeps
# one rule set and puts ports in a verdict map, so a connection through a
# published port should cost the same either way. In a network namespace
# of its own (the "host") with one "container": a python accept loop in
# the container, the published port 8080 -> 80, the other ports loaded as
# map elements (nft -f, for speed; nook publishes them the same way), and
# CONNS TCP connections from the host through the DNAT. Prints the rule
# count and the median/mean connect+close time for both sizes.
set -eu
cd "$(dirname "$0")/.."
nook=${NOOK_BIN:-$PWD/build/nook}
conns=${CONNS:-3000}
tag=nkbench$$
store=$(mktemp -d)
cleanup() {
        if [ -n "${srv:-}" ]; then
                kill "$srv" 2>/dev/null || true
                wait "$srv" 2>/dev/null || true
        fi
        ip netns del "$tag-c" 2>/dev/null || true
        ip netns del "$tag" 2>/dev/null || true
        rm -rf "$store"
}
trap cleanup EXIT
ip netns add "$tag"
ip netns add "$tag-c"
H="ip netns exec $tag"
$H ip link set lo up
$H "$nook" --store "$store" network create --subnet 10.99.0.0/16 bench >/dev/null
$H "$nook" --store "$store" network _attach bench web "/run/netns/$tag-c" >/dev/null
$H "$nook" --store "$store" network _publish bench web 8080:80
ip netns exec "$tag-c" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(512)
while True:
    c, _ = s.accept(); c.close()' &
srv=$!
sleep 0.5
fill() { # total elements wanted in pub4any
        local have
        have=$($H nft -j list map inet nook pub4any | python3 -c 'import json,sys
print(len([i for i in json.load(sys.stdin)["nftables"] if "map" in i][0]["map"].get("elem", [])))')
        python3 -c "import sys
have, want = $have, $1
els = [f'tcp . {20000 + i} : 10.99.{(i >> 8) & 255}.{i & 255 or 1} . 80' for i in range(have - 1, want - 1)]
if els: print('add element inet nook pub4any { ' + ', '.join(els) + ' }')" >"$store/fill.nft"
        [ -s "$store/fill.nft" ] && $H nft -f "$store/fill.nft"
        return 0
}
measure() {
        $H python3 -c "
import socket, statistics, time
ts = []
for _ in range($conns):
    t = time.perf_counter_ns()
    s = socket.create_connection(('10.99.0.1', 8080)); s.close()
    ts.append(time.perf_counter_ns() - t)
ts = ts[len(ts) // 10:]  # warm-up
print(f'{statistics.median(ts) / 1000:.1f} {statistics.mean(ts) / 1000:.1f}')"
}
rules() {
        $H nft -j list table inet nook | python3 -c 'import json,sys
print(len([i for i in json.load(sys.stdin)["nftables"] if "rule" in i]))'
}
printf '%-8s %-6s %-12s %-10s\n' ports rules median_us mean_us
for n in 10 10000; do
        fill "$n"
        read -r med mean < <(measure)
        printf '%-8s %-6s %-12s %-10s\n' "$n" "$(rules)" "$med" "$mean"
done
