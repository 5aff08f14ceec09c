#!/bin/sh
# Boot a throwaway QEMU guest whose cgroups are pure v2 (or, with --v1, pure
# v1) and run one command in it as root.  The guest sees the host's root
# filesystem read-only over virtio-9p under a tmpfs overlay, so binaries built
# on the host run unchanged.  How it works: tests/vm/README.md.
set -eu

usage() {
        cat >&2 <<'EOF'
usage: tests/vm/run.sh [OPTIONS] -- CMD [ARGS...]
  --v1             cgroup v1 hierarchies only (default: pure cgroup v2)
  --accel A        auto | kvm | tcg (default $NOOK_VM_ACCEL or auto: KVM when
                   the CPU has vmx/svm and the guest boots with it, else TCG)
  --mem MIB        guest memory (default 2048)
  --smp N          guest CPUs (default 2)
  --timeout SECS   hard limit for the whole VM run (default 900)
  -e NAME[=VALUE]  pass an environment variable (NOOK_* except NOOK_VM_* always are)
  -v               copy the guest kernel's console to stderr
  --host-cwd       a working directory under /tmp stays the host's (through
                   the overlay); without it the guest's /tmp is all its own
CMD runs as root in the host's working directory; its stdout and stderr both
come out on stdout.  Exit status: CMD's; 124 on timeout; 125 if the guest could
not run CMD.  NOOK_VM_KERNEL=/boot/vmlinuz-VER picks the kernel (default: the
newest one in /boot with modules); NOOK_VM_TIMES=1 prints boot times to stderr.
EOF
        exit 2
}

die() {
        echo "tests/vm/run.sh: $*" >&2
        exit 125
}

# 'STRING' for sh, whatever STRING holds.
quote() {
        printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

mode=v2
accel=${NOOK_VM_ACCEL:-auto}
mem=2048
smp=2
limit=900
verbose=0
host_cwd=
envlines=""
nl='
'
while [ $# -gt 0 ]; do
        case "$1" in
        --v1) mode=v1 ;;
        --v2) mode=v2 ;;
        --accel) accel=${2:?}; shift ;;
        --mem) mem=${2:?}; shift ;;
        --smp) smp=${2:?}; shift ;;
        --timeout) limit=${2:?}; shift ;;
        --host-cwd) host_cwd=1 ;;
        -e)
                case "${2:?}" in
                *=*) envlines="$envlines${nl}export ${2%%=*}=$(quote "${2#*=}")" ;;
                *) if printenv "$2" >/dev/null; then
                           envlines="$envlines${nl}export $2=$(quote "$(printenv "$2")")"
                   fi ;;
                esac
                shift ;;
        -v) verbose=1 ;;
        --) shift; break ;;
        *) usage ;;
        esac
        shift
done
[ $# -gt 0 ] || usage
case "$accel" in auto|kvm|tcg) ;; *) die "unknown accelerator '$accel'" ;; esac

qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
busybox=$(command -v busybox) || die "busybox not installed (apt-get install busybox-static)"
"$busybox" cpio --help 2>&1 | grep -q -- '-H' || die "$busybox has no cpio -H (want busybox-static)"

kernel=${NOOK_VM_KERNEL:-}
if [ -z "$kernel" ]; then
        for k in $(printf '%s\n' /boot/vmlinuz-* | sort -V); do
                [ -r "$k" ] && [ -f "/lib/modules/${k#/boot/vmlinuz-}/modules.dep" ] && kernel=$k
        done
fi
[ -n "$kernel" ] || die "no kernel with modules in /boot (apt-get install linux-image-amd64)"
moddir=/lib/modules/${kernel#/boot/vmlinuz-}
[ -f "$moddir/modules.dep" ] || die "no $moddir/modules.dep for $kernel"

here=$(dirname "$(readlink -f "$0")")
cwd=$(pwd -P)
# Runs killed by SIGKILL cannot clean up: remove their directories.
for d in "${TMPDIR:-/tmp}"/nook-vm.*; do
        if [ -f "$d/pid" ] && ! kill -0 "$(cat "$d/pid")" 2>/dev/null; then
                rm -rf "$d"
        fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nook-vm.XXXXXX")
echo $$ > "$tmp/pid"
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
share=$tmp/share
mkdir "$share"

# ---- initramfs: static busybox, the modules that reach the 9p root, /init
# Print module $1's dependencies, then itself (paths under $moddir); nothing
# if it is built in.
moddeps() (
        line=$(grep -E "(^|/)$1\.ko(\.[a-z]+)?:" "$moddir/modules.dep" || true)
        [ -n "$line" ] || exit 0
        for d in ${line#*:}; do
                moddeps "$(basename "$d" | sed 's/\.ko.*//')"
        done
        echo "${line%%:*}"
)
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
cp "$here/guest-init.sh" "$ird/init"
cp "$here/guest-stage2.sh" "$ird/stage2"
chmod 755 "$ird/init"
(cd "$ird" && find . | "$busybox" cpio -o -H newc 2>/dev/null) > "$tmp/initrd.cpio"
rm -rf "$ird"

# ---- the boot image: under TCG, decompressing the bzImage's xz payload takes
# seconds, so boot the uncompressed vmlinux inside it through its PVH entry.
bootimg=$kernel
off=$(LC_ALL=C grep -abo "$(printf '\3757zXZ')" "$kernel" 2>/dev/null | head -n 1 | cut -d: -f1) || true
if [ -n "$off" ] && command -v xz >/dev/null; then
        tail -c +$((off + 1)) "$kernel" | xz -dc 2>/dev/null > "$tmp/vmlinux" || true
        if [ "$(head -c 4 "$tmp/vmlinux" | od -A n -t x1 | tr -d ' ')" = 7f454c46 ] &&
           LC_ALL=C grep -q Xen "$tmp/vmlinux"; then
                bootimg=$tmp/vmlinux
        fi
fi

# ---- what the guest runs: the command, its directory, its environment
{
        printf 'cd %s 2>/dev/null || { echo "tests/vm: working directory %s is not visible in the guest" >&2; exit 125; }\nexec' \
                "$(quote "$cwd")" "$cwd"
        for a in "$@"; do printf ' %s' "$(quote "$a")"; done
        printf '\n'
} > "$share/cmd"
{
        for n in $(env | sed -n 's/^\(NOOK_[A-Za-z0-9_]*\)=.*/\1/p' | grep -vE '^NOOK_VM(_|$)'); do
                printf 'export %s=%s\n' "$n" "$(quote "$(printenv "$n")")"
        done
        printf '%s\n' "$envlines"
} > "$share/env"
echo "$mode" > "$share/mode"
[ -z "$host_cwd" ] || printf '%s' "$cwd" > "$share/host-cwd"

# ---- boot
quiet="quiet loglevel=3"
[ "$verbose" = 1 ] && quiet=""
append="console=ttyS0 panic=-1 rdinit=/init $quiet ${NOOK_VM_APPEND:-}"
[ "$mode" = v2 ] && append="$append cgroup_no_v1=all"
console=$tmp/console.log
[ "$verbose" = 1 ] && console=/dev/stderr

# Start the VM with accelerator $1 in the background (pid in $qpid).
start_vm() {
        cpu=${NOOK_VM_CPU:-max}
        [ "$1" = kvm ] && cpu=host
        rm -f "$share/started" "$share/rc"
        [ "$verbose" = 1 ] || : > "$console"
        # If this script is SIGKILLed, timeout gets SIGTERM and passes it on to qemu.
        setpriv --pdeathsig TERM timeout -k 5 "$limit" "$qemu" \
                -accel "$1" -M pc -cpu "$cpu" -smp "$smp" -m "$mem" \
                -nodefaults -no-user-config -nographic -no-reboot \
                -kernel "$bootimg" -initrd "$tmp/initrd.cpio" -append "$append" \
                -chardev file,id=con,path="$console",append=on -serial chardev:con -monitor none \
                -device virtio-serial-pci -chardev stdio,id=out,signal=off -device virtconsole,chardev=out \
                -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
                -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
                -fsdev local,id=share,path="$share",security_model=none \
                -device virtio-9p-pci,fsdev=share,mount_tag=nookvm \
                </dev/null &
        qpid=$!
}

# Wait until the guest is about to run CMD; false if it has not within $1
# seconds (then the VM is stopped) or the VM ended.
reached_cmd() {
        i=0
        while [ $i -lt $(($1 * 5)) ]; do
                [ -f "$share/started" ] && return 0
                kill -0 "$qpid" 2>/dev/null || break
                sleep 0.2
                i=$((i + 1))
        done
        kill "$qpid" 2>/dev/null || true
        wait "$qpid" 2>/dev/null || true
        qpid=""
        # It may have got there just before being stopped: CMD then ran in part.
        [ ! -f "$share/started" ] || die "guest stopped while starting the command under KVM"
        return 1
}

ulimit -c 0 2>/dev/null || true
start=$(date +%s.%N)
probe=${NOOK_VM_KVM_PROBE:-30}
if [ "$accel" = auto ]; then
        accel=tcg
        # /dev/kvm alone proves nothing: some hosts offer it for special
        # (e.g. PVM) guests only, where a stock kernel hangs at once.
        if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
                start_vm kvm
                if reached_cmd "$probe"; then
                        accel=kvm
                else
                        echo "tests/vm/run.sh: the guest does not boot under KVM here; using TCG" >&2
                fi
        fi
elif [ "$accel" = kvm ]; then
        start_vm kvm
        reached_cmd "$probe" || die "the guest did not reach the command under KVM (waited up to ${probe}s)"
fi
[ -n "$qpid" ] || start_vm "$accel"
st=0
wait "$qpid" || st=$?
qpid=""
end=$(date +%s.%N)

if [ -n "${NOOK_VM_TIMES:-}" ] && [ -s "$share/started" ]; then
        echo "tests/vm/run.sh: accel=$accel guest uptime at CMD start: $(cut -d' ' -f1 "$share/started")s," \
                "qemu start to poweroff: $(awk "BEGIN { print $end - $start }")s" >&2
fi
if [ "$st" = 124 ] || [ "$st" = 137 ]; then
        echo "tests/vm/run.sh: guest timed out after ${limit}s (accel $accel)" >&2
        [ "$verbose" = 1 ] || tail -n 30 "$console" >&2
        exit 124
fi
if [ ! -s "$share/rc" ]; then
        echo "tests/vm/run.sh: guest ended without running the command (qemu status $st, accel $accel)" >&2
        [ "$verbose" = 1 ] || tail -n 40 "$console" >&2
        exit 125
fi
if [ -s "$share/leftover" ]; then
        echo "tests/vm/run.sh: processes still running in the guest after the command exited:" >&2
        sed 's/^/  /' "$share/leftover" >&2
fi
exit "$(cat "$share/rc")"
