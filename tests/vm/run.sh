#!/bin/sh
# Boot a throwaway QEMU guest whose cgroups are pure v2 (or, with --v1, pure
# v1) and run one command in it as root.  The guest sees the host's root
# filesystem read-only over virtio-9p with a tmpfs overlay on top, so binaries
# built on the host run unchanged.  See tests/vm/README.md.
set -eu

usage() {
        cat <<'EOF'
usage: tests/vm/run.sh [OPTIONS] -- CMD [ARGS...]
  --v1             mount cgroup v1 hierarchies only (default: pure cgroup v2)
  --accel A        kvm | tcg | auto (default auto: kvm when it boots, else tcg)
  --mem MIB        guest memory (default 2048)
  --smp N          guest CPUs (default 2)
  --timeout SECS   hard limit for the whole VM run (default 900)
  -e NAME[=VALUE]  pass an environment variable (NOOK_* are always passed)
  -v               copy the guest's kernel console to stderr
Exit status: CMD's, or 124 on timeout, 125 if the guest could not run CMD.
Env: NOOK_VM_KERNEL=/boot/vmlinuz-X picks the kernel (default: newest in /boot).
EOF
        exit 2
}

die() {
        echo "tests/vm/run.sh: $*" >&2
        exit 125
}

mode=v2
accel=auto
mem=2048
smp=2
limit=900
verbose=0
envs=""
while [ $# -gt 0 ]; do
        case "$1" in
        --v1) mode=v1 ;;
        --v2) mode=v2 ;;
        --accel) accel="$2"; shift ;;
        --mem) mem="$2"; shift ;;
        --smp) smp="$2"; shift ;;
        --timeout) limit="$2"; shift ;;
        -e) envs="$envs $2"; shift ;;
        -v) verbose=1 ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) echo "tests/vm/run.sh: unknown option $1" >&2; usage ;;
        esac
        shift
done
[ $# -gt 0 ] || usage

qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
busybox=$(command -v busybox) || die "busybox not installed (apt-get install busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'dynamically' && die "$busybox is not static (apt-get install busybox-static)"

# The kernel: newest /boot/vmlinuz-* whose modules are installed.
kernel=${NOOK_VM_KERNEL:-}
if [ -z "$kernel" ]; then
        for k in $(ls /boot/vmlinuz-* 2>/dev/null | sort -V); do
                [ -r "$k" ] && [ -f "/lib/modules/${k#/boot/vmlinuz-}/modules.dep" ] && kernel=$k
        done
fi
[ -n "$kernel" ] || die "no kernel with modules in /boot (apt-get install linux-image-amd64)"
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || die "no $moddir/modules.dep for $kernel"

cwd=$(pwd -P)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nook-vm.XXXXXX")
qpid=""
cleanup() {
        if [ -n "$qpid" ]; then
                kill "$qpid" 2>/dev/null || true
                wait "$qpid" 2>/dev/null || true
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$tmp/share" "$tmp/initrd"

# ---- initramfs: static busybox, the modules needed to reach the 9p root, /init
# Print MOD's dependencies then MOD itself (paths relative to $moddir), once each;
# built-in modules print nothing.
moddeps() {
        local line d
        line=$(grep -E "(^|/)$1\.ko(\.[a-z]+)?:" "$moddir/modules.dep" || true)
        [ -n "$line" ] || return 0
        for d in ${line#*:}; do
                moddeps "$(basename "$d" | sed 's/\.ko.*//')"
        done
        echo "${line%%:*}"
}
ird=$tmp/initrd
mkdir -p "$ird/bin" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/mods" "$ird/lower" "$ird/rw" "$ird/newroot"
cp "$busybox" "$ird/bin/busybox"
: > "$ird/mods/order"
for m in virtio_pci virtio_console 9pnet_virtio 9p overlay; do
        for p in $(moddeps "$m"); do
                grep -qx "$p" "$ird/mods/order" && continue
                cp "$moddir/$p" "$ird/mods/"
                echo "$p" >> "$ird/mods/order"
        done
done
cp "$(dirname "$0")/guest-init.sh" "$ird/init"
cp "$(dirname "$0")/guest-stage2.sh" "$ird/stage2"
chmod 755 "$ird/init" "$ird/stage2"
(cd "$ird" && find . | "$busybox" cpio -o -H newc 2>/dev/null) > "$tmp/initrd.cpio"

# ---- what the guest runs: the command, its directory and environment
quote() {
        printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
{
        printf 'cd %s || exit 125\nexec' "$(quote "$cwd")"
        for a in "$@"; do printf ' %s' "$(quote "$a")"; done
        printf '\n'
} > "$tmp/share/cmd"
{
        env | grep -E '^NOOK_[A-Za-z0-9_]*=' | grep -v '^NOOK_VM_' | while IFS='=' read -r n v; do
                printf 'export %s=%s\n' "$n" "$(quote "$v")"
        done
        for e in $envs; do
                case "$e" in
                *=*) printf 'export %s=%s\n' "${e%%=*}" "$(quote "${e#*=}")" ;;
                *) eval "[ -n \"\${$e+x}\" ]" && eval "printf 'export %s=%s\n' \"$e\" \"\$(quote \"\$$e\")\"" ;;
                esac
        done
} > "$tmp/share/env"
echo "$mode" > "$tmp/share/mode"

# ---- the boot image: under TCG, decompressing the bzImage's xz payload costs
# seconds, so boot the uncompressed vmlinux it holds through PVH instead.
bootimg=$kernel
off=$(LC_ALL=C grep -abo "$(printf '\3757zXZ')" "$kernel" 2>/dev/null | head -n 1 | cut -d: -f1) || true
if [ -n "$off" ] && command -v xz >/dev/null; then
        tail -c +$((off + 1)) "$kernel" | xz -dc 2>/dev/null > "$tmp/vmlinux" || true
        if [ "$(head -c 4 "$tmp/vmlinux" | od -A n -t x1 | tr -d ' ')" = 7f454c46 ]; then
                bootimg=$tmp/vmlinux
        fi
fi

# ---- accelerator: KVM only if it actually runs a guest here
kvm_works() {
        [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
        out=$(timeout 20 "$qemu" -accel kvm -M pc -cpu host -m 64 -nodefaults -display none \
                -kernel /dev/null -serial none -monitor none -no-reboot 2>&1 </dev/null & \
                sleep 0; wait) || true
        # An empty -kernel is rejected after the accelerator is set up; any
        # accelerator error means KVM is unusable.
        ! printf '%s' "$out" | grep -qiE 'kvm|accel|vmx|svm|failed to initialize'
}
case "$accel" in
auto)
        if kvm_works; then accel=kvm; else accel=tcg; fi ;;
kvm|tcg) ;;
*) die "unknown --accel $accel" ;;
esac
if [ "$accel" = kvm ]; then cpu=host; else cpu=max; fi

# ---- boot
console=$tmp/console.log
if [ "$verbose" = 1 ]; then
        serial="file:/dev/stderr"
        quiet=""
else
        serial="file:$console"
        quiet="quiet loglevel=3"
fi
append="console=ttyS0 panic=-1 rdinit=/init $quiet nook_vm=$mode ${NOOK_VM_APPEND:-}"
[ "$mode" = v2 ] && append="$append cgroup_no_v1=all"

start=$(date +%s.%N)
timeout -k 5 "$limit" "$qemu" \
        -accel "$accel" -M pc -cpu "$cpu" -smp "$smp" -m "$mem" \
        -nodefaults -no-user-config -nographic -no-reboot \
        -kernel "$bootimg" -initrd "$tmp/initrd.cpio" -append "$append" \
        -serial "$serial" -monitor none \
        -device virtio-serial-pci -chardev stdio,id=out,signal=off -device virtconsole,chardev=out \
        -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
        -fsdev local,id=share,path="$tmp/share",security_model=none \
        -device virtio-9p-pci,fsdev=share,mount_tag=nookvm \
        </dev/null &
qpid=$!
st=0
wait "$qpid" || st=$?
qpid=""
end=$(date +%s.%N)

if [ -f "$tmp/share/boot-time" ] && [ -n "${NOOK_VM_TIMES:-}" ]; then
        echo "tests/vm/run.sh: accel=$accel guest-uptime-at-cmd=$(cat "$tmp/share/boot-time")s total=$(echo "$end - $start" | bc 2>/dev/null || echo "?")s" >&2
fi
if [ "$st" = 124 ] || [ "$st" = 137 ]; then
        echo "tests/vm/run.sh: guest timed out after ${limit}s" >&2
        [ -f "$console" ] && tail -n 30 "$console" >&2
        exit 124
fi
if [ ! -f "$tmp/share/rc" ]; then
        echo "tests/vm/run.sh: guest ended without running the command (qemu status $st, accel $accel); console:" >&2
        [ -f "$console" ] && tail -n 40 "$console" >&2
        exit 125
fi
exit "$(cat "$tmp/share/rc")"
