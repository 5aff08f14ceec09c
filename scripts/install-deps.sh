#!/bin/sh
# Install everything nook needs to build, run and test, from Debian 12's apt.
#   --test   also the tests' and benchmarks' tools, and the arm64 cross build
#   --arm64  only the arm64 cross build (cross/aarch64-linux-gnu.ini): the
#            cross compiler, the :arm64 -dev packages of every library nook
#            links, qemu-user to run its unit tests, and for the arm64 guest
#            (tests/vm/arm64) qemu-system-aarch64 with Debian's arm64 kernel
#            (its modules too, for 9p, overlay, veth...) and busybox-static,
#            unpacked from their packages into /var/cache/nook/arm64
#            (installed, they'd clash with the host's)
#   --arm64-bench  --arm64 and, for bench/arm64-start.sh, Debian's arm64
#            crun and hyperfine with the arm64 libraries they need beyond
#            nook's, unpacked into /var/cache/nook/arm64/bench
set -eu
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential meson ninja-build pkg-config
 libseccomp-dev libcap-dev libjansson-dev libmnl-dev libnftables-dev libarchive-dev
 libcurl4-openssl-dev libssl-dev zlib1g-dev busybox-static iproute2"
# Only for the tests and benchmarks.
TEST_PKGS="python3 nftables python3-pytest clang clang-format libclang-rt-14-dev hyperfine runc crun docker-registry skopeo python3-cryptography zstd qemu-system-x86 linux-image-amd64 tiny-initramfs podman conmon docker.io containerd umoci"
# The same libraries for arm64 (Debian multiarch). On an arm64 machine a
# native build needs none of this: PKGS are already arm64 there.
ARM64_LIBS="libseccomp-dev libcap-dev libjansson-dev libmnl-dev libnftables-dev libarchive-dev
 libcurl4-openssl-dev libssl-dev zlib1g-dev"
ARM64_PKGS="crossbuild-essential-arm64 qemu-user-static qemu-system-arm cpio"
for p in $ARM64_LIBS; do ARM64_PKGS="$ARM64_PKGS $p:arm64"; done
want="$PKGS"
arm64=0 bench=0
case "${1:-}" in
--test) want="$PKGS $TEST_PKGS"; arm64=1 ;;
--arm64) arm64=1 ;;
--arm64-bench) arm64=1; bench=1 ;;
esac
[ "$(dpkg --print-architecture)" = amd64 ] || arm64=0
if [ $arm64 = 1 ]; then
        want="$want $ARM64_PKGS"
        dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
fi
missing=""
for p in $want; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
        # Another apt on the machine: wait for its lock rather than fail.
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
fi

# The arm64 guest's kernel Image, its modules and busybox: the arm64
# packages unpacked, not installed (an arm64 kernel's hooks on this host, and
# busybox-static for two architectures, would conflict). depmod indexes the
# modules for the guest's (busybox) modprobe; it reads foreign ELF fine.
unpack() { # dir, package...
        local dir=$1; shift
        mkdir -p "$dir"
        chmod 755 "$dir" # apt's download user writes there
        (cd "$dir" && apt-get download -qq "$@")
        for d in "$dir"/*.deb; do dpkg-deb -x "$d" "$dir/x"; done
}
if [ $arm64 = 1 ]; then
        cache=/var/cache/nook/arm64
        if [ ! -r $cache/vmlinuz ] || [ ! -x $cache/busybox ] || ! ls $cache/modules/*/modules.dep >/dev/null 2>&1; then
                mkdir -p $cache
                tmp=$(mktemp -d)
                kpkg=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
                [ -n "$kpkg" ] || { echo "install-deps: no arm64 kernel package found" >&2; exit 1; }
                unpack "$tmp" "$kpkg" busybox-static:arm64
                kver=$(ls "$tmp"/x/lib/modules)
                depmod -b "$tmp/x" "$kver"
                rm -rf $cache/modules.new && mkdir $cache/modules.new
                mv "$tmp/x/lib/modules/$kver" $cache/modules.new/
                rm -rf $cache/modules && mv $cache/modules.new $cache/modules
                cp "$tmp"/x/boot/vmlinuz-* $cache/vmlinuz.new && mv $cache/vmlinuz.new $cache/vmlinuz
                cp "$tmp"/x/bin/busybox $cache/busybox.new && mv $cache/busybox.new $cache/busybox
                rm -rf "$tmp"
        fi
        if [ $bench = 1 ] && [ ! -x $cache/bench/usr/bin/crun ]; then
                tmp=$(mktemp -d)
                unpack "$tmp" crun:arm64 hyperfine:arm64 libyajl2:arm64 libsystemd0:arm64 \
                        libgcrypt20:arm64 libgpg-error0:arm64
                rm -rf $cache/bench && mv "$tmp/x" $cache/bench
                rm -rf "$tmp"
        fi
fi
