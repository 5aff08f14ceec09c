#!/bin/bash
# tests/vm/arm64/unit.sh [BUILD_DIR]: the arm64 build's unit tests on a real
# aarch64 kernel, Debian's linux-image-arm64 under qemu-system-aarch64
# (-M virt, TCG). qemu-user (meson test -C build-arm64) lacks openat2,
# clone3 and seccomp and can't let a forked child exit; here they all run.
# Each tests/unit/test_*.c that needs only the runtime core is linked
# statically against BUILD_DIR/libnookcore.a (default build-arm64, from
# cross/aarch64-linux-gnu.ini) and put in an initramfs whose /init
# (init.c) runs them one by one. Tests that need libcurl & co. (the
# engine's store, manifests...) don't link statically and are left to
# qemu-user (counted as skipped).
# Prints "UNIT name status" per test and "arm64 guest: N ok, N failed, N
# skipped"; exit 0 if none failed, 1 if some did, 125 if it could not run.
# NOOK_VM_ARM64_UNIT_ONLY_BUILD=DIR: only build the tests into DIR (and say
# which are not run here), for integ.sh, which runs them in its own boot.
# NOOK_VM_ARM64_KERNEL, NOOK_VM_ARM64_BUSYBOX: the kernel Image and an
# arm64 busybox (default: what scripts/install-deps.sh --arm64 unpacked to
# /var/cache/nook/arm64).
set -u
cd "$(dirname "$0")/../../.."
build=${1:-build-arm64}
kernel=${NOOK_VM_ARM64_KERNEL:-/var/cache/nook/arm64/vmlinuz}
busybox=${NOOK_VM_ARM64_BUSYBOX:-/var/cache/nook/arm64/busybox}
die() { echo "arm64 guest: $*" >&2; exit 125; }
command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 not installed (scripts/install-deps.sh --arm64)"
command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc not installed"
[ -r "$kernel" ] || die "no arm64 kernel at $kernel (scripts/install-deps.sh --arm64)"
[ -x "$busybox" ] || die "no arm64 busybox at $busybox (scripts/install-deps.sh --arm64)"
[ -f "$build/libnookcore.a" ] || die "$build/libnookcore.a missing: build it first"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/t" "$work/root/bin" "$work/root/proc" "$work/root/sys" "$work/root/dev" \
        "$work/root/tmp" "$work/root/etc"
# Debian's arm64 busybox for the shell and tools tests call (system()).
cp "$busybox" "$work/root/bin/busybox"
for t in sh rm true cat mkdir ls; do ln -s busybox "$work/root/bin/$t"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$work/root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/root/etc/group"
cc=(aarch64-linux-gnu-gcc -static -O2 -g0 -D_GNU_SOURCE -Isrc)
libs=$(PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig pkg-config --static --libs jansson libseccomp libcap) ||
        die "pkg-config: the arm64 -dev packages of jansson, libseccomp, libcap"
"${cc[@]}" tests/vm/arm64/init.c -o "$work/root/init" || die "init does not build"
failed=0 notrun=0
for src in tests/unit/test_*.c; do
        name=$(basename "$src" .c)
        # The engine's archive is searched too: a test of its pure code
        # (ipam, say) links; one that reaches libcurl & co. does not, and
        # is left to qemu-user (the normal builds show real link errors).
        # shellcheck disable=SC2086
        if ! "${cc[@]}" "$src" "$build/libnookengine.a" "$build/libnookcore.a" $libs \
                -o "$work/root/t/$name" 2>"$work/$name.err"; then
                echo "UNIT $name not run here: needs the engine's shared libraries"
                notrun=$((notrun + 1))
        fi
done
if [ -n "${NOOK_VM_ARM64_UNIT_ONLY_BUILD:-}" ]; then
        cp "$work"/root/t/* "$NOOK_VM_ARM64_UNIT_ONLY_BUILD/" || die "copy the tests"
        exit 0
fi
(cd "$work/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz") || die "cpio"
# panic=-1 and -no-reboot: a crashed guest ends qemu instead of hanging.
timeout "${NOOK_VM_ARM64_TIMEOUT:-600}" qemu-system-aarch64 -M virt -cpu max -m 2048 -smp 2 \
        -nographic -no-reboot -kernel "$kernel" -initrd "$work/initrd.gz" \
        -append "console=ttyAMA0 quiet rdinit=/init panic=-1" </dev/null >"$work/console.log" 2>&1
rc=$?
tr -d '\r' <"$work/console.log" >"$work/clean.log"
grep -q '^UNIT-START' "$work/clean.log" || { tail -n 30 "$work/clean.log"; die "the guest did not start its tests (qemu exit $rc)"; }
ok=0 skipped=$notrun
while read -r _ name st; do
        case $st in
        0) ok=$((ok + 1)) ;;
        77) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)) ;;
        esac
        echo "UNIT $name $st"
done < <(grep '^UNIT test_' "$work/clean.log")
if ! grep -q '^UNIT-END' "$work/clean.log"; then
        echo "arm64 guest: the run did not finish (qemu exit $rc)"; failed=$((failed + 1))
fi
# What the failed and skipped tests said.
grep -E 'CHECK failed|expected|got|^SKIP' "$work/clean.log" | head -40
echo "arm64 guest: $ok ok, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
