#!/bin/sh
# Install everything nook needs to build, run and test, from Debian 12's apt.
set -eu
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential meson ninja-build pkg-config
 libseccomp-dev libcap-dev libjansson-dev libmnl-dev libnftables-dev libarchive-dev
 libcurl4-openssl-dev libssl-dev busybox-static iproute2"
# Only for the tests and benchmarks.
TEST_PKGS="python3 nftables python3-pytest clang clang-format libclang-rt-14-dev hyperfine runc crun docker-registry skopeo python3-cryptography zstd qemu-system-x86 linux-image-amd64 tiny-initramfs podman conmon docker.io containerd umoci"
want="$PKGS"
[ "${1:-}" = "--test" ] && want="$PKGS $TEST_PKGS"
missing=""
for p in $want; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
        # Another apt on the machine: wait for its lock rather than fail.
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
fi
