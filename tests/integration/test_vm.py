"""tests/vm/run.sh: the QEMU guest really has the cgroup layout it promises.

Each layout is booted once (module fixtures); every check reads what the guest
kernel shows: statfs, /proc/mounts, /proc/self/cgroup, cgroup files.
"""
import glob
import os
import shutil
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_SH = os.path.join(REPO, "tests", "vm", "run.sh")
NOOK_BUILD = os.environ.get("NOOK_BUILD", os.path.join(REPO, "build"))


def _kernel():
    for k in sorted(glob.glob("/boot/vmlinuz-*"), reverse=True):
        if os.path.exists(f"/lib/modules/{k[len('/boot/vmlinuz-'):]}/modules.dep"):
            return k
    return None


if os.environ.get("NOOK_VM"):
    pytest.skip("already inside the tests/vm guest", allow_module_level=True)
if not shutil.which("qemu-system-x86_64"):
    pytest.skip("qemu-system-x86_64 not installed (apt-get install qemu-system-x86): "
                "no pure v1/v2 cgroup guest", allow_module_level=True)
if not _kernel():
    pytest.skip("no /boot/vmlinuz-* with modules (apt-get install linux-image-amd64): "
                "no pure v1/v2 cgroup guest", allow_module_level=True)

# Printed by the guest, one "key: value" line each; the script ends with exit 42
# to prove the exit status comes back.
PROBE = r"""
echo "kernel: $(uname -r)"
echo "nook_vm: $NOOK_VM"
echo "pwd: $(pwd)"
echo "cgfs: $(stat -f -c %T /sys/fs/cgroup)"
echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
echo "subtree: $(cat /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null)"
echo "cgmounts: $(awk '$3 == "cgroup" || $3 == "cgroup2" { printf "%s:%s:%s ", $3, $2, $4 }' /proc/mounts)"
echo "selfcg: $(tr '\n' ' ' < /proc/self/cgroup)"
d=/sys/fs/cgroup/vmprobe-$$
if [ "$NOOK_VM" = v1 ]; then d=/sys/fs/cgroup/pids/vmprobe-$$; fi
echo "cgname: vmprobe-$$"
mkdir "$d" && sh -c 'echo $$ > '"$d"'/cgroup.procs && cat /proc/self/cgroup' | tr '\n' ' ' \
        | sed 's/^/movedcg: /'; echo; rmdir "$d"
echo "userns: $(unshare -Ur cat /proc/self/uid_map | tr -s ' ')"
echo "mountns: $(unshare -m sh -c 'mount -t tmpfs x /mnt && stat -f -c %T /mnt')"
echo "overlay: $(grep -cw overlay /proc/filesystems)"
echo "seccomp: $(cat /proc/sys/kernel/seccomp/actions_avail)"
echo "tmpfs: $(stat -f -c %T /tmp):$(stat -f -c %T /run)"
touch /tmp/w /run/w "$NOOK_VM_PROBE_FILE" && echo "writes: ok"
echo "lo: $(cat /sys/class/net/lo/operstate) $(ls /sys/class/net | tr '\n' ' ')"
echo "stdout: $([ -t 1 ] && echo tty || echo notty)"
/usr/bin/python3 -c 'import pytest; print("pytest:", pytest.__version__)'
if [ -x "$NOOK_BUILD/nook" ]; then echo "nook: $("$NOOK_BUILD/nook" --version | head -n 1) rc=$?"; fi
exit 42
"""


def _boot(mode, tmp_path_factory):
    tmpdir = tmp_path_factory.mktemp(f"vm-{mode}")
    probe_file = f"/var/tmp/nook-vm-probe-{uuid.uuid4().hex}"
    env = dict(os.environ, TMPDIR=str(tmpdir), NOOK_BUILD=NOOK_BUILD,
               NOOK_VM_PROBE_FILE=probe_file)
    args = ([RUN_SH, "--host-cwd"] + (["--v1"] if mode == "v1" else []) +
            ["-e", "NOOK_VM_PROBE_FILE", "--", "sh", "-c", PROBE])
    p = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    info = {}
    for line in p.stdout.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            info[key] = value.strip()
    return p, info, tmpdir, probe_file


def _check_ran(p, info, tmpdir, probe_file):
    assert p.returncode == 42, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    assert info.get("kernel") and info["kernel"] != os.uname().release, "not the guest kernel"
    assert info.get("pwd") == REPO
    # Nothing left on the host: temp dir, guest writes through the overlay.
    assert os.listdir(tmpdir) == []
    assert not os.path.exists(probe_file)


@pytest.fixture(scope="module")
def v2(tmp_path_factory):
    return _boot("v2", tmp_path_factory)


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    return _boot("v1", tmp_path_factory)


def test_v2_guest_is_pure_cgroup2(v2):
    p, info, tmpdir, probe_file = v2
    _check_ran(p, info, tmpdir, probe_file)
    assert info["nook_vm"] == "v2"
    assert info["cgfs"] == "cgroup2fs"
    controllers = info["controllers"].split()
    for c in ("cpu", "cpuset", "io", "memory", "pids", "hugetlb"):
        assert c in controllers, info["controllers"]
    assert sorted(info["subtree"].split()) == sorted(controllers)
    mounts = info["cgmounts"].split()
    assert [m for m in mounts if m.startswith("cgroup:")] == [], "v1 hierarchy in the v2 guest"
    assert len(mounts) == 1 and mounts[0].startswith("cgroup2:/sys/fs/cgroup:rw"), mounts
    assert info["selfcg"].split() == ["0::/"]
    assert info["movedcg"].split() == [f"0::/{info['cgname']}"], "cgroup2 not writable"


def test_v2_guest_can_run_containers(v2):
    p, info, tmpdir, probe_file = v2
    _check_ran(p, info, tmpdir, probe_file)
    assert info["userns"] == "0 0 1", info["userns"]
    assert info["mountns"] == "tmpfs"
    assert info["overlay"] == "1"
    assert "kill_process" in info["seccomp"].split()
    assert info["tmpfs"] == "tmpfs:tmpfs"
    assert info["writes"] == "ok"
    assert info["lo"].split() == ["unknown", "lo"], "loopback only, up"
    assert info["stdout"] == "notty"
    assert info.get("pytest"), "host python3 + pytest do not run in the guest"


def test_v2_guest_runs_host_built_nook(v2):
    if not os.access(os.path.join(NOOK_BUILD, "nook"), os.X_OK):
        pytest.skip(f"{NOOK_BUILD}/nook not built")
    p, info, tmpdir, probe_file = v2
    _check_ran(p, info, tmpdir, probe_file)
    assert info.get("nook", "").startswith("nook version") and info["nook"].endswith("rc=0"), p.stdout


def test_v1_guest_has_only_v1_hierarchies(v1):
    p, info, tmpdir, probe_file = v1
    _check_ran(p, info, tmpdir, probe_file)
    assert info["nook_vm"] == "v1"
    assert info["cgfs"] == "tmpfs"
    mounts = info["cgmounts"].split()
    assert [m for m in mounts if m.startswith("cgroup2:")] == [], "cgroup2 in the v1 guest"
    points = {m.split(":")[1] for m in mounts}
    for h in ("cpu,cpuacct", "memory", "pids", "blkio", "cpuset", "devices", "freezer"):
        assert f"/sys/fs/cgroup/{h}" in points, mounts
    selfcg = info["selfcg"].split()
    assert not [c for c in selfcg if c.startswith("0::")], selfcg
    assert any(c.endswith(":memory:/") for c in selfcg), selfcg
    assert f":pids:/{info['cgname']}" in info["movedcg"], "v1 pids hierarchy not writable"
    assert info["userns"] == "0 0 1"
    assert info.get("pytest")


def test_run_sh_fails_cleanly_on_missing_cwd(tmp_path):
    # The guest's /tmp is its own: a host-only working directory is reported,
    # not silently replaced, and the VM is gone when run.sh returns.
    work = tmp_path / "only-on-host"
    work.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.run([RUN_SH, "--", "true"], capture_output=True, text=True, timeout=600,
                       env=env, cwd=work)
    assert p.returncode == 125, p
    assert "not visible in the guest" in p.stdout
    assert os.listdir(tmp_path) == ["only-on-host"]


def test_run_sh_host_cwd_keeps_a_tmp_checkout(tmp_path):
    # A checkout cloned under /tmp (the guest's /tmp is otherwise its own):
    # with --host-cwd the guest sees the host's files there, and its writes
    # stay in the guest.
    work = tmp_path / "checkout"
    work.mkdir()
    (work / "marker").write_text("from the host\n")
    vmtmp = tmp_path / "vmtmp"
    vmtmp.mkdir()
    env = dict(os.environ, TMPDIR=str(vmtmp))
    p = subprocess.run([RUN_SH, "--host-cwd", "--", "sh", "-c", "cat marker; echo x > written"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=work)
    assert p.returncode == 0, p
    assert "from the host" in p.stdout
    assert sorted(os.listdir(work)) == ["marker"]
    assert os.listdir(vmtmp) == []
