#!/bin/sh
# Run one container from nook's embedded default image (busybox, built from
# Debian's busybox-static) and show that it is isolated: its own hostname,
# its own PID 1, and only a loopback network interface.
set -eu
cd "$(dirname "$0")/.."
nook=${NOOK_BIN:-$PWD/build/nook}
oci=$(dirname "$nook")/nook-oci
b=$(mktemp -d /tmp/nook-demo.XXXXXX)
cleanup() {
        "$nook" image umount "$b/rootfs" 2>/dev/null || true
        rm -rf "$b"
}
trap cleanup EXIT
mkdir "$b/rootfs"
"$nook" image mount busybox "$b/rootfs"
"$oci" spec --bundle "$b"
# Not interactive, a hostname of its own, and a command that reports.
sed -i 's/"terminal": true/"terminal": false/; s/"hostname": "[^"]*"/"hostname": "nook-demo"/' "$b/config.json"
sed -i 's#^\( *\)"sh"$#\1"sh", "-c", "echo hostname: $(hostname); echo my pid: $$; echo interfaces: $(ls /sys/class/net); ps"#' "$b/config.json"
"$oci" run --bundle "$b" "nook-demo-$$"
