#!/bin/sh
# Install everything nook needs to build, run and test, from Debian 12's apt.
#   --test   also the tests' and benchmarks' tools, and the arm64 cross build
#   --arm64  only the arm64 cross build (cross/aarch64-linux-gnu.ini): the
#            cross compiler, the :arm64 -dev packages of every library nook
#            links, qemu-user to run its unit tests, and for the arm64 guest
#            (tests/vm/arm64) qemu-system-aarch64 with Debian's arm64 kernel
#            and busybox-static, unpacked from their packages into
#            /var/cache/nook/arm64 (installed, they'd clash with the host's)
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
arm64=0
case "${1:-}" in
--test) want="$PKGS $TEST_PKGS"; arm64=1 ;;
--arm64) arm64=1 ;;
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

# The arm64 guest's kernel Image and busybox: the arm64 packages unpacked,
# not installed (an arm64 kernel's hooks on this host, and busybox-static
# for two architectures, would conflict).
if [ $arm64 = 1 ]; then
        cache=/var/cache/nook/arm64
        if [ ! -r $cache/vmlinuz ] || [ ! -x $cache/busybox ]; then
                mkdir -p $cache
                tmp=$(mktemp -d)
                chmod 755 "$tmp" # apt's download user writes there
                kpkg=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
                [ -n "$kpkg" ] || { echo "install-deps: no arm64 kernel package found" >&2; exit 1; }
                (cd "$tmp" && apt-get download -qq "$kpkg" busybox-static:arm64)
                for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$tmp/x"; done
                cp "$tmp"/x/boot/vmlinuz-* $cache/vmlinuz.new && mv $cache/vmlinuz.new $cache/vmlinuz
                cp "$tmp"/x/bin/busybox $cache/busybox.new && mv $cache/busybox.new $cache/busybox
                rm -rf "$tmp"
        fi
fi
