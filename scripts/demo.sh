#!/bin/sh
# Run one container from the default busybox image and show that it is
# isolated: its own hostname, its own PID 1, only a loopback interface.
set -eu
cd "$(dirname "$0")/.."
nook=${NOOK_BIN:-$PWD/build/nook}
b=$(mktemp -d /tmp/nook-demo.XXXXXX)
trap 'rm -rf "$b"' EXIT
mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/sys" "$b/rootfs/dev" "$b/rootfs/tmp"
cp /bin/busybox "$b/rootfs/bin/busybox"
for a in sh hostname ps ls cat ip echo; do ln -s busybox "$b/rootfs/bin/$a"; done
"$nook" spec --bundle "$b"
sed -i 's/"terminal": true/"terminal": false/; s/"hostname": "[^"]*"/"hostname": "nook-demo"/' "$b/config.json"
sed -i 's#"sh"$#"sh", "-c", "echo hostname: $(hostname); echo my pid: $$; ps; echo interfaces: $(ls /sys/class/net)"#' "$b/config.json"
"$nook" run --bundle "$b" "demo-$$"
