#!/bin/bash
# tests/vm/arm64/run-smoke.sh [BUILD_DIR]: a first `nook-oci run` on a real
# aarch64 kernel (the guest of unit.sh): the cross-built nook, with the
# arm64 libc it links, and a bundle whose rootfs is Debian's arm64 busybox.
# The initramfs moves itself onto a tmpfs first (pivot_root can't leave the
# initramfs root). The container prints its pid, hostname and seccomp mode;
# the script checks them and prints "arm64 run: ok" or what went wrong.
# Exit 0 ok, 1 failed, 125 could not run.
set -u
cd "$(dirname "$0")/../../.."
build=${1:-build-arm64}
kernel=${NOOK_VM_ARM64_KERNEL:-/var/cache/nook/arm64/vmlinuz}
busybox=${NOOK_VM_ARM64_BUSYBOX:-/var/cache/nook/arm64/busybox}
die() { echo "arm64 run: $*" >&2; exit 125; }
command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 not installed (scripts/install-deps.sh --arm64)"
[ -r "$kernel" ] && [ -x "$busybox" ] || die "no arm64 kernel or busybox in /var/cache/nook/arm64 (scripts/install-deps.sh --arm64)"
[ -x "$build/nook" ] || die "$build/nook missing: build it first"
[ -x build/nook ] || die "build/nook (the host build) missing: it writes the bundle's config"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/root
mkdir -p "$r"/{bin,lib,nook,proc,sys,dev,tmp,etc,bundle/rootfs/bin}
cp "$busybox" "$r/bin/busybox"
for t in sh mount mkdir cp cat switch_root poweroff echo sync; do ln -s busybox "$r/bin/$t"; done
cp "$build/nook" "$r/nook/nook" && ln -s nook "$r/nook/nook-oci"
cp -L /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 /usr/aarch64-linux-gnu/lib/libc.so.6 "$r/lib/"
cp "$busybox" "$r/bundle/rootfs/bin/busybox"
for t in sh cat hostname echo grep mkdir; do ln -s busybox "$r/bundle/rootfs/bin/$t"; done
mkdir -p "$r"/bundle/rootfs/{proc,sys,dev,tmp,etc}
(cd "$r/bundle" && "$OLDPWD/build/nook-oci" spec) || die "nook-oci spec"
/usr/bin/python3 - "$r/bundle/config.json" <<'PY' || die "config"
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo CONTAINER pid=$$ host=$(hostname) $(grep ^Seccomp: /proc/self/status); mkdir /tmp/x 2>&1; echo MKDIR $?"]
# aarch64 and its arm compat: mkdir refused with ENOMSG (42), the rest allowed
c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                         "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
                         "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                       "errnoRet": 42}]}
c["hostname"] = "arm64-guest"
json.dump(c, open(p, "w"))
PY
cat >"$r/init" <<'SH'
#!/bin/sh
mount -t tmpfs -o mode=755 tmpfs /mnt 2>/dev/null || { mkdir /mnt; mount -t tmpfs -o mode=755 tmpfs /mnt; }
cp -a /bin /lib /nook /bundle /etc /stage2 /mnt/
mkdir -p /mnt/proc /mnt/sys /mnt/dev /mnt/tmp /mnt/run
exec switch_root /mnt /stage2
SH
cat >"$r/stage2" <<'SH'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo RUN-START
/nook/nook-oci --root /run/nook run --bundle /bundle smoke </dev/null
echo "RUN-EXIT $?"
/nook/nook-oci --root /run/nook list
sync
poweroff -f
SH
chmod +x "$r/init" "$r/stage2"
(cd "$r" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz") || die "cpio"
timeout "${NOOK_VM_ARM64_TIMEOUT:-300}" qemu-system-aarch64 -M virt -cpu max -m 1024 -smp 2 \
        -nographic -no-reboot -kernel "$kernel" -initrd "$work/initrd.gz" \
        -append "console=ttyAMA0 quiet rdinit=/init panic=-1" </dev/null >"$work/console.log" 2>&1
tr -d '\r' <"$work/console.log" >"$work/clean.log"
grep -q '^RUN-START' "$work/clean.log" || { tail -n 30 "$work/clean.log"; die "the guest did not reach the run"; }
sed -n '/^RUN-START/,$p' "$work/clean.log" | head -20
if grep -q '^CONTAINER pid=1 host=arm64-guest Seccomp:[[:space:]]*2$' "$work/clean.log" &&
   grep -q "^mkdir: can't create directory '/tmp/x': No message of desired type" "$work/clean.log" &&
   grep -q '^MKDIR 1$' "$work/clean.log" && grep -q '^RUN-EXIT 0$' "$work/clean.log"; then
        echo "arm64 run: ok"
else
        echo "arm64 run: FAILED"; exit 1
fi
