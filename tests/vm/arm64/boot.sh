#!/bin/bash
# tests/vm/arm64/boot.sh [--timeout SECS] [--mem MIB] [--smp N] -- SCRIPT [ARGS...]
# Boots Debian's arm64 kernel under qemu-system-aarch64 (-M virt, TCG) with
# the host's / read-only over virtio-9p at /host, and runs the busybox shell
# script SCRIPT (a host path) there as root, in /host/$PWD, with ARGS.
#
# The guest: a tmpfs root holding Debian's arm64 busybox (every applet
# linked in /bin), and the arm64 userland of this host's multiarch packages
# through symlinks into /host: /usr, /lib/aarch64-linux-gnu and the dynamic
# loader, so the cross-built nook and the libraries it and its engine module
# link run unchanged. /lib/modules is the arm64 kernel's module tree
# (scripts/install-deps.sh --arm64 unpacks it): the kernel's own module
# requests (overlay, veth, bridge, nf_tables...) go through busybox modprobe.
# Mounted: proc, sysfs, devtmpfs, devpts, /dev/shm, mqueue, tmpfs on /tmp
# and /run, cgroup2 alone on /sys/fs/cgroup (nsdelegate) with every
# controller enabled in the root's subtree_control. Loopback up, hostname
# `arm64-guest`, kernel messages at loglevel 1 (an OOM kill report would
# cut into the output otherwise).
#
# SCRIPT's stdout and stderr come out on stdout; exit status SCRIPT's,
# 124 if --timeout (default 600) hit, 125 if the guest could not run it.
# NOOK_VM_ARM64_KERNEL / _BUSYBOX / _MODULES point elsewhere than
# /var/cache/nook/arm64/{vmlinuz,busybox,modules}; NOOK_VM_TIMES=1 prints
# the guest's uptime at SCRIPT's start and end to stderr.
set -u
cache=/var/cache/nook/arm64
kernel=${NOOK_VM_ARM64_KERNEL:-$cache/vmlinuz}
busybox=${NOOK_VM_ARM64_BUSYBOX:-$cache/busybox}
modules=${NOOK_VM_ARM64_MODULES:-$cache/modules}
timeout=600 mem=1024 smp=2
die() { echo "arm64 guest: $*" >&2; exit 125; }
while [ $# -gt 0 ]; do
        case $1 in
        --timeout) timeout=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --) shift; break ;;
        *) die "unknown option $1" ;;
        esac
done
[ $# -ge 1 ] || die "usage: boot.sh [--timeout S] [--mem M] [--smp N] -- SCRIPT [ARGS...]"
script=$(realpath -e "$1") || die "no script $1"
shift
command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 not installed (scripts/install-deps.sh --arm64)"
[ -r "$kernel" ] || die "no arm64 kernel at $kernel (scripts/install-deps.sh --arm64)"
[ -x "$busybox" ] || die "no arm64 busybox at $busybox (scripts/install-deps.sh --arm64)"
kver=$(ls "$modules" 2>/dev/null | head -n 1)
[ -n "$kver" ] && [ -r "$modules/$kver/modules.dep" ] ||
        die "no arm64 kernel modules in $modules (scripts/install-deps.sh --arm64)"
[ -e /usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1 ] || die "no arm64 libc (libc6:arm64)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/initramfs
mkdir -p "$r/bin" "$r/mod" "$r/proc" "$r/sys" "$r/dev"
cp "$busybox" "$r/bin/busybox"
# The modules that reach the 9p root, each after what it depends on
# (modules.dep lists a module's dependencies, nearest first).
want="virtio_pci 9pnet_virtio 9p"
order=""
add_mod() { # module name
        local path deps d
        path=$(awk -v m="/$1.ko" '{p = $1; sub(/:$/, "", p)} substr(p, length(p) - length(m) + 1) == m {print p; exit}' \
                "$modules/$kver/modules.dep")
        [ -n "$path" ] || return 0 # built in
        case " $order " in *" $path "*) return 0 ;; esac
        deps=$(awk -v p="$path:" '$1 == p {$1 = ""; print}' "$modules/$kver/modules.dep")
        for d in $deps; do add_mod "$(basename "$d" .ko)"; done
        order="$order $path"
}
for m in $want; do add_mod "$m"; done
for p in $order; do cp "$modules/$kver/$p" "$r/mod/"; echo "$(basename "$p")"; done >"$r/mod/order"

q() { printf "'%s' " "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
        printf 'cd %s || exit 125\n' "$(q "/host$PWD")"
        printf 'exec /bin/sh %s' "$(q "/host$script")"
        for a in "$@"; do printf ' %s' "$(q "$a")"; done
        printf '\n'
} >"$r/cmd"

cat >"$r/init" <<'SH'
#!/bin/busybox sh
# Stage 1, in the initramfs: the 9p root, a tmpfs to switch to (pivot_root,
# which containers need, can't leave the initramfs).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /mod/order); do insmod "/mod/$m" || echo "GUEST-FAIL insmod $m"; done
n=/newroot
mkdir -p $n && mount -t tmpfs -o mode=755 tmpfs $n
mkdir -p $n/host $n/bin $n/lib $n/etc $n/proc $n/sys $n/dev $n/tmp $n/run $n/root $n/var
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 host $n/host ||
        { echo "GUEST-FAIL 9p"; poweroff -f; }
cp /bin/busybox $n/bin/ && cp /cmd /stage2 $n/
ln -s /host/usr $n/usr
ln -s /host/usr/lib/aarch64-linux-gnu $n/lib/aarch64-linux-gnu
ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 $n/lib/ld-linux-aarch64.so.1
ln -s /host@MODULES@ $n/lib/modules
ln -s bin $n/sbin
umount /proc /sys /dev
exec switch_root $n /bin/busybox sh /stage2
SH
cat >"$r/stage2" <<'SH'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' >/etc/group
hostname arm64-guest
ip link set lo up
export PATH=/bin HOME=/root TMPDIR=/tmp
echo "GUEST-START $(cut -d' ' -f1 /proc/uptime)"
sh /cmd </dev/null 2>&1
echo "GUEST-EXIT $? $(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
SH
sed -i "s|@MODULES@|$modules|" "$r/init"
chmod +x "$r/init" "$r/stage2"
(cd "$r" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz") || die "cpio"

# panic=-1 and -no-reboot: a crashed guest ends qemu instead of hanging.
timeout "$timeout" qemu-system-aarch64 -M virt -cpu max -m "$mem" -smp "$smp" \
        -nographic -no-reboot -kernel "$kernel" -initrd "$work/initrd.gz" \
        -fsdev local,id=host,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=host,mount_tag=host \
        -append "console=ttyAMA0 loglevel=1 rdinit=/init panic=-1" </dev/null 2>&1 |
        tr -d '\r' >"$work/console.log"
rc=${PIPESTATUS[0]}
if ! grep -q '^GUEST-START' "$work/console.log"; then
        tail -n 30 "$work/console.log" >&2
        [ "$rc" = 124 ] && die "timed out (${timeout}s) before the script started"
        die "the guest did not reach the script (qemu exit $rc)"
fi
sed -n '/^GUEST-START/,/^GUEST-EXIT/{/^GUEST-/!p}' "$work/console.log"
end=$(grep '^GUEST-EXIT' "$work/console.log" | tail -n 1)
if [ -n "${NOOK_VM_TIMES:-}" ]; then
        echo "arm64 guest: script from $(grep '^GUEST-START' "$work/console.log" | cut -d' ' -f2) s" \
                "to ${end##* } s of uptime" >&2
fi
if [ -z "$end" ]; then
        [ "$rc" = 124 ] && { echo "arm64 guest: timed out (${timeout}s)" >&2; exit 124; }
        echo "arm64 guest: the script did not finish (qemu exit $rc)" >&2
        exit 125
fi
set -- $end
exit "$2"
