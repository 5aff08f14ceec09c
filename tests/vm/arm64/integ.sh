#!/bin/bash
# tests/vm/arm64/integ.sh [--unit] [BUILD_DIR]: the runtime's core integration
# subset on a real aarch64 kernel (boot.sh's guest: Debian's arm64 kernel,
# pure cgroup v2), with the cross-built nook (default build-arm64).
# Here, on the host: a busybox rootfs with the arm64 test helpers
# (BUILD_DIR/tests/helper), one OCI config per check group (written by the
# host's build/nook-oci spec, then edited), and the aarch64 syscall numbers
# the seccomp checks use, from the cross compiler's headers. In the guest:
# integ-guest.sh runs the checks, each printing `ok NAME` or `FAIL NAME: why`.
# Prints those lines and "arm64 integ: N ok, N failed"; exit 0 if all
# passed, 1 if one failed or the run did not finish, 125 if it could not run.
# --unit: the same boot first runs the unit tests unit.sh builds (one boot
# instead of two; scripts/test.sh does this), with unit.sh's output lines
# and its "arm64 guest: N ok, N failed, N skipped".
set -u
cd "$(dirname "$0")/../../.." || exit 125
unit=""
[ "${1:-}" = --unit ] && unit=1 && shift
build=${1:-build-arm64}
die() { echo "arm64 integ: $*" >&2; exit 125; }
busybox=${NOOK_VM_ARM64_BUSYBOX:-/var/cache/nook/arm64/busybox}
[ -x "$build/nook" ] || die "$build/nook missing: build it first"
[ -x "$build/tests/helper/secprobe" ] || die "$build/tests/helper missing: build it first"
[ -x build/nook-oci ] || die "build/nook-oci (the host build) missing: it writes the configs"
[ -x "$busybox" ] || die "no arm64 busybox at $busybox (scripts/install-deps.sh --arm64)"
command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc not installed"

# Under the host's /tmp: the guest sees it (read-only) at /host/tmp.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
mkdir -p "$r"/{bin,proc,sys,dev,tmp,etc,data,share,root}
cp "$busybox" "$r/bin/busybox"
# The applet list: the arm64 busybox under qemu-user, or the host's busybox
# of the same Debian package.
list=$(qemu-aarch64-static "$busybox" --list 2>/dev/null || /bin/busybox --list) || die "busybox --list"
for a in $list; do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
cp "$build"/tests/helper/{secprobe,nktest} "$r/bin/"
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n' >"$r/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$r/etc/group"
# The numbers of the syscalls the seccomp checks make by number: the
# target's, from its headers.
echo '#include <sys/syscall.h>' | aarch64-linux-gnu-gcc -E -dM - |
        awk '$2 ~ /^__NR_(personality|getcpu)$/ {sub(/__NR_/, "", $2); print "NR_" $2 "=" $3}' \
        >"$work/syscalls" || die "syscall numbers"
[ "$(wc -l <"$work/syscalls")" = 2 ] || die "syscall numbers: $(cat "$work/syscalls")"
(cd "$work" && "$OLDPWD/build/nook-oci" spec) || die "nook-oci spec"
# The rootfs is copied to /tmp/integ/rootfs in the guest (writable, on
# tmpfs); every config points there.
/usr/bin/python3 - "$work" <<'PY' || die "configs"
import copy, json, os, sys
work = sys.argv[1]
base = json.load(open(os.path.join(work, "config.json")))
nr = dict(l.strip().split("=") for l in open(os.path.join(work, "syscalls")))
base["root"] = {"path": "/tmp/integ/rootfs", "readonly": False}
base["process"]["terminal"] = False
base["hostname"] = "arm64-container"

def bundle(name, args, edit=None):
    c = copy.deepcopy(base)
    c["process"]["args"] = ["sh", "-c", args] if isinstance(args, str) else args
    if edit:
        edit(c)
    os.makedirs(os.path.join(work, "b", name))
    json.dump(c, open(os.path.join(work, "b", name, "config.json"), "w"), indent=1)

# Namespaces: the container reports what it is and sees.
bundle("ns", 'echo "pid $$"; echo "hostname $(hostname)"; '
       'for n in pid uts ipc mnt net cgroup; do echo "ns-$n $(readlink /proc/self/ns/$n)"; done; '
       'echo "netdevs $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\\n" " ")"; '
       'echo "ppid $(grep ^PPid: /proc/1/status | cut -f2)"')

# Mounts: read-only root, masked and read-only paths, a tmpfs with
# options, a read-only bind mount of a guest directory.
def mounts(c):
    c["root"]["readonly"] = True
    c["mounts"] += [
        {"destination": "/data", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=700", "size=2m"]},
        {"destination": "/share", "type": "bind", "source": "/tmp/integ/share",
         "options": ["rbind", "ro"]}]
bundle("mounts", 'echo "rootwrite $(secprobe write /etc/passwd x | head -n 1)"; '
       'echo "kcore $(stat -c %F,%t,%T /proc/kcore)"; '
       'echo "timer_list $(wc -c </proc/timer_list)"; '
       'echo "firmware $(ls -A /sys/firmware | wc -l)"; '
       'echo "procsys $(secprobe write /proc/sys/kernel/hostname x | head -n 1)"; '
       'echo "data $(stat -c %a /data) $(grep " /data " /proc/self/mountinfo)"; '
       'echo "share $(cat /share/file) $(secprobe write /share/file y | head -n 1)"', mounts)

# Capabilities: distinct bounding and effective sets, no_new_privs.
def caps(c):
    c["process"]["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": [], "ambient": []}
    c["process"]["noNewPrivileges"] = True
bundle("caps", 'grep -E "^(Cap|NoNewPrivs)" /proc/self/status; '
       'echo "mount $(secprobe mount)"; touch /dev/shm/f && chown 1000 /dev/shm/f && '
       'echo "chown $(stat -c %u /dev/shm/f)"', caps)

# Seccomp: errno, argument filter and kill actions, for aarch64 and its
# 32-bit arm compat.
def seccomp(c):
    c["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
             "args": [{"index": 0, "value": 0x1234, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getcpu"], "action": "SCMP_ACT_KILL_PROCESS"}]}
bundle("seccomp", 'echo "mode $(grep ^Seccomp: /proc/self/status | cut -f2)"; '
       'mkdir /dev/shm/x 2>/dev/shm/err; echo "mkdir $? $(cat /dev/shm/err)"; '
       f'echo "arg-hit $(secprobe syscall {nr["NR_personality"]} 0x1234)"; '
       f'echo "arg-miss $(secprobe syscall {nr["NR_personality"]} 0xffffffff)"; '
       f'secprobe syscall {nr["NR_getcpu"]}; echo "kill $?"', seccomp)

# cgroup v2 and exec: a long-running container with limits, in its own
# cgroup namespace; the guest reads the cgroup files and execs into it.
def limits(c):
    c["linux"]["cgroupsPath"] = "/nook-integ/long"
    c["linux"]["namespaces"].append({"type": "cgroup"})
    c["linux"]["resources"].update({
        "memory": {"limit": 24 << 20, "swap": 24 << 20},
        "pids": {"limit": 12},
        "cpu": {"quota": 50000, "period": 100000}})
bundle("long", ["sleep", "600"], limits)

# A registry as static files for busybox httpd in the guest: an OCI index
# listing amd64 first, then arm/v7, then arm64/v8, each a one-layer image
# whose file /arch names it.
sys.path.insert(0, "tests/integration")
from images_util import MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_MANIFEST, Layer, image_config, sha256
repo = os.path.join(work, "registry", "v2", "test", "arch")
for d in ("manifests", "blobs"):
    os.makedirs(os.path.join(repo, d))
def put(kind, name, data):
    with open(os.path.join(repo, kind, name), "wb") as f:
        f.write(data)
entries = []
for arch, variant in (("amd64", None), ("arm", "v7"), ("arm64", "v8")):
    layer = Layer([("file", "arch", f"{arch}{variant or ''}")])
    cfg = image_config([layer], arch=arch, variant=variant)
    put("blobs", sha256(cfg), cfg)
    put("blobs", layer.digest, layer.blob)
    m = json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                    "config": {"mediaType": MT_OCI_CONFIG, "digest": sha256(cfg), "size": len(cfg)},
                    "layers": [{"mediaType": layer.media_type, "digest": layer.digest,
                                "size": len(layer.blob)}]}).encode()
    put("manifests", sha256(m), m)
    plat = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
    entries.append({"mediaType": MT_OCI_MANIFEST, "digest": sha256(m), "size": len(m),
                    "platform": plat})
idx = json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": entries}).encode()
put("manifests", "1", idx)
PY
mkdir -p "$work/share" && echo shared >"$work/share/file"
guest_unit=""
if [ -n "$unit" ]; then
        mkdir "$work/t"
        NOOK_VM_ARM64_UNIT_ONLY_BUILD=$work/t tests/vm/arm64/unit.sh "$build" >"$work/unit-build.log" ||
                { cat "$work/unit-build.log"; echo "arm64 integ: building the unit tests failed"; exit 1; }
        guest_unit=/host$work/t
fi
echo "== arm64 guest: ${unit:+unit tests and }integration checks ($(tr '\n' ' ' <"$work/syscalls"))"
NOOK_VM_TIMES=1 tests/vm/arm64/boot.sh --timeout "${NOOK_VM_ARM64_TIMEOUT:-900}" -- \
        tests/vm/arm64/integ-guest.sh "/host$work" "$build" $guest_unit >"$work/out.log" 2>"$work/err.log"
rc=$?
cat "$work/out.log"
cat "$work/err.log" >&2
[ $rc = 125 ] && exit 125
status=0
if [ -n "$unit" ]; then
        # Counted as unit.sh counts: 0 ok, 77 skipped, anything else failed.
        uok=0 ufail=0 uskip=$(grep -c 'not run here' "$work/unit-build.log")
        grep 'not run here' "$work/unit-build.log"
        while read -r _ _ st; do
                case $st in 0) uok=$((uok + 1)) ;; 77) uskip=$((uskip + 1)) ;; *) ufail=$((ufail + 1)) ;; esac
        done < <(grep '^UNIT test_' "$work/out.log")
        if ! grep -q '^UNIT-END' "$work/out.log"; then
                echo "arm64 guest: the unit tests did not finish"; ufail=$((ufail + 1))
        fi
        echo "arm64 guest: $uok ok, $ufail failed, $uskip skipped"
        [ "$ufail" = 0 ] || status=1
fi
ok=$(grep -c '^ok ' "$work/out.log")
failed=$(grep -c '^FAIL ' "$work/out.log")
if ! grep -q '^integ: done' "$work/out.log"; then
        echo "arm64 integ: the checks did not finish (exit $rc)"
        failed=$((failed + 1))
fi
echo "arm64 integ: $ok ok, $failed failed"
[ "$failed" = 0 ] && exit $status
exit 1
