"""Container root filesystems stay out of the host's mount table: the engine
makes each overlay as a detached mount and the container's init attaches
it in its own mount namespace (issue 13's scale goal: a host table that
grows with every container makes every later start slower). What the host
and the containers really see is read from /proc/self/mountinfo of each;
cp, export, diff and commit must work on running and stopped containers
alike, and no kill -9 may leave a mount behind. The `engine` fixture
(engine_util.py) fails a test that leaks anything."""
import ctypes
import fcntl
import io
import os
import shutil
import signal
import subprocess
import tarfile
import time

import pytest

from conftest import wait_for
from engine_util import engine  # noqa: F401 (engine: the fixture)


def host_lines_with(text):
    """Lines of the host's mount table naming text anywhere (mount point,
    source or options: an overlay's lowerdir/upperdir)."""
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def root_entry(mountinfo):
    """The mountinfo entry of / as (fstype, super options)."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if fields[4] == "/":
            rest = fields[fields.index("-") + 1:]
            return rest[0], rest[2] if len(rest) > 2 else ""
    raise AssertionError("no / in mountinfo:\n" + mountinfo)


def run_d(engine, *args):
    return engine.run("run", "-d", "--network", "none", *args).stdout.strip()


def fd_devices(pid):
    """st_dev of what each fd of pid refers to."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[fd] = os.stat(f"/proc/{pid}/fd/{fd}").st_dev
        except OSError:
            pass
    return out


def test_detached_containers_leave_no_host_mount(engine):
    """Ten detached containers: none of their overlays is in the host's
    table, each one's / is its own overlay on its own upper dir, and
    neither its init nor its monitor keeps the mount's fd."""
    ids = [run_d(engine, "busybox", "sleep", "3600") for _ in range(10)]
    assert host_lines_with(engine.store) == []
    for cid in ids:
        st = engine.state(cid)
        assert st["Running"], st
        mi = engine.run("exec", cid, "cat", "/proc/self/mountinfo").stdout
        fstype, opts = root_entry(mi)
        assert fstype == "overlay", mi
        assert f"upperdir={engine.cdir(cid)}/upper" in opts, opts
        # the overlay is seen only through the container
        dev = os.stat(f"/proc/{st['Pid']}/root/").st_dev
        assert dev != os.stat(os.path.join(engine.cdir(cid), "merged")).st_dev
        for pid in (st["Pid"], st["MonitorPid"]):
            held = {fd: d for fd, d in fd_devices(pid).items() if d == dev}
            assert held == {}, f"pid {pid} holds the rootfs mount: {held}"
    engine.run("rm", "-f", *ids)
    assert host_lines_with(engine.store) == []


def wait_file(engine, cid, path):
    wait_for(lambda: engine.run("exec", cid, "test", "-e", path, check=False).returncode == 0,
             10, f"{path} in the container")


def tar_names(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return set(m.name.lstrip("./") for m in t.getmembers())


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_export_diff_commit(engine, tmp_path, running):
    """The container's files through every command that reads or writes
    them, with it running (its init's root) and stopped (a detached overlay
    made for the command): nothing mounted on the host either way."""
    cid = run_d(engine, "busybox", "sh", "-c", "echo inside > /made; exec sleep 3600")
    wait_file(engine, cid, "/made")
    if not running:
        engine.run("stop", "-t", "0", cid)
        assert not engine.state(cid)["Running"]
    src = tmp_path / "in.txt"
    src.write_text("from the host\n")
    engine.run("cp", str(src), f"{cid}:/in.txt")
    assert host_lines_with(engine.store) == []
    out = tmp_path / "made.txt"
    engine.run("cp", f"{cid}:/made", str(out))
    assert out.read_text() == "inside\n"
    # a symlink inside cannot lead the copy out of the container
    engine.run("cp", f"{cid}:/etc/passwd", str(tmp_path / "passwd"))
    assert "root:x:0:0" in (tmp_path / "passwd").read_text()

    diff = engine.run("diff", cid).stdout.split("\n")
    assert "A /made" in diff and "A /in.txt" in diff, diff
    exp = subprocess.run([engine.bin, "export", cid], env=engine.env, capture_output=True,
                         timeout=60)
    assert exp.returncode == 0, exp.stderr
    names = tar_names(exp.stdout)
    assert {"made", "in.txt", "bin/busybox"} <= names
    img = engine.run("commit", cid, "mounts-commit:1").stdout.strip()
    assert len(img.split(":")[-1]) == 64, img
    seen = engine.run("run", "--rm", "--network", "none", "mounts-commit:1", "cat", "/made",
                      "/in.txt").stdout
    assert seen == "inside\nfrom the host\n"
    assert host_lines_with(engine.store) == []

    if not running:  # what cp wrote while it was stopped is there when it runs
        engine.run("start", cid)
        assert engine.run("exec", cid, "cat", "/in.txt").stdout == "from the host\n"
        fstype, _ = root_entry(engine.run("exec", cid, "cat", "/proc/self/mountinfo").stdout)
        assert fstype == "overlay"
    engine.run("rm", "-f", cid)
    engine.run("rmi", "mounts-commit:1")


def test_restarts_make_the_overlay_again_on_the_same_upper(engine):
    """Each restart attaches a new overlay of the same upper: what a run
    wrote, the next one sees; the host table stays as it was."""
    cid = run_d(engine, "--restart", "on-failure:2", "busybox", "sh", "-c",
                "echo run >> /runs; exit 1")
    wait_for(lambda: engine.state(cid)["Status"] == "exited" and
             engine.inspect(cid)["RestartCount"] == 2, 20, "two restarts, then exited")
    data = subprocess.run([engine.bin, "cp", f"{cid}:/runs", "-"], env=engine.env,
                          capture_output=True, timeout=30).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert t.extractfile("runs").read() == b"run\nrun\nrun\n"
    assert host_lines_with(engine.store) == []
    engine.run("rm", "-f", cid)


def test_monitor_killed_then_rm_f_leaves_nothing(engine):
    """kill -9 of the monitor: the container runs on in its own namespace
    (nothing on the host to unmount); rm -f removes it all (the fixture
    checks mounts, cgroups, processes, state)."""
    cid = run_d(engine, "busybox", "sleep", "3600")
    st = engine.state(cid)
    os.kill(st["MonitorPid"], signal.SIGKILL)
    assert engine.run("exec", cid, "true", check=False).returncode == 0
    assert host_lines_with(engine.store) == []
    engine.run("rm", "-f", cid)
    assert not os.path.exists(engine.cdir(cid))


def test_cp_killed_halfway_leaves_no_mount(engine, tmp_path):
    """A `nook cp` into a stopped container killed -9 in the middle: its
    overlay was never in the host's table, so nothing is left; until then
    it held the rootfs lock, so a start waited instead of making a second
    overlay on the same upper."""
    cid = engine.run("create", "--network", "none", "busybox", "sleep", "3600").stdout.strip()
    cp = engine.popen("cp", "-", f"{cid}:/", stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
    # half a tar: a header and the start of a big file's data
    info = tarfile.TarInfo("big")
    info.size = 64 << 20
    cp.stdin.write(info.tobuf(format=tarfile.GNU_FORMAT) + b"x" * (1 << 20))
    cp.stdin.flush()
    # the cp holds a detached overlay: in the container's upper, not the host
    wait_for(lambda: os.path.exists(os.path.join(engine.cdir(cid), "upper", "big")), 10,
             "the cp's file in the upper dir")
    assert host_lines_with(engine.store) == []
    start = engine.popen("start", cid, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    assert start.poll() is None, "start did not wait for the cp's rootfs lock"
    cp.kill()
    cp.wait()
    cp.stdin.close()
    assert start.wait(timeout=30) == 0, start.stderr.read()
    assert engine.state(cid)["Running"]
    assert host_lines_with(engine.store) == []
    engine.run("rm", "-f", cid)


def _mount_overlay(lower, upper, work, target):
    libc = ctypes.CDLL(None, use_errno=True)
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if libc.mount(b"overlay", target.encode(), b"overlay", 0, opts) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), target)


@pytest.mark.parametrize("then", ["start", "rm"])
def test_container_of_an_older_nook_still_mounted_on_the_host(engine, then):
    """An older nook mounted the overlay at merged/ on the host, and a
    stopped container of its may still have it there: start unmounts it
    and attaches a fresh one in the container; rm -f unmounts it."""
    cid = engine.run("create", "--network", "none", "busybox", "sleep", "3600").stdout.strip()
    d = engine.cdir(cid)
    layers = os.path.join(engine.store, "layers")
    lowers = ":".join(os.path.join(layers, x, "diff") for x in sorted(os.listdir(layers)))
    # the volatile overlay create made leaves work/work/incompat/volatile
    shutil.rmtree(f"{d}/work/work/incompat", ignore_errors=True)
    _mount_overlay(lowers, f"{d}/upper", f"{d}/work", f"{d}/merged")
    assert len(host_lines_with(f"{d}/merged")) == 1
    if then == "start":
        engine.run("start", cid)
        assert host_lines_with(engine.store) == []
        fstype, _ = root_entry(engine.run("exec", cid, "cat", "/proc/self/mountinfo").stdout)
        assert fstype == "overlay"
    engine.run("rm", "-f", cid)
    assert host_lines_with(engine.store) == []


def test_user_namespace_container_attaches_in_its_own_namespace(engine):
    """With a user namespace the container's mount namespace is owned by
    it; the overlay (made in ours) is attached there all the same. An
    identity map: this test is about where the overlay lives, not about
    ids (the image's files are the host's root's)."""
    cid = run_d(engine, "--uidmap", "0:0:65536", "--gidmap", "0:0:65536", "busybox", "sh", "-c",
                "touch /written && exec sleep 3600")
    wait_file(engine, cid, "/written")
    assert engine.run("exec", cid, "cat", "/proc/self/uid_map").stdout.split() == \
        ["0", "0", "65536"]
    fstype, opts = root_entry(engine.run("exec", cid, "cat", "/proc/self/mountinfo").stdout)
    assert fstype == "overlay" and f"upperdir={engine.cdir(cid)}/upper" in opts
    assert host_lines_with(engine.store) == []
    assert os.path.exists(os.path.join(engine.cdir(cid), "upper", "written"))
    engine.run("rm", "-f", cid)


def test_restart_waits_while_the_rootfs_lock_is_held(engine):
    """Whoever works in a stopped container's overlay (cp) holds the rootfs
    lock; the monitor's restart, which makes a new overlay on the same
    upper, waits for it (without blocking its loop) and then goes on."""
    cid = run_d(engine, "--restart", "always", "busybox", "sh", "-c", "sleep 0.3; exit 1")
    fd = os.open(engine.cdir(cid), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        n0 = engine.inspect(cid)["RestartCount"]
        time.sleep(1.5)  # the init exited meanwhile; its restart is held back
        st = engine.inspect(cid)
        assert not st["State"]["Running"] and st["RestartCount"] <= n0 + 1, st["State"]
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    wait_for(lambda: engine.state(cid)["Running"], 10, "the restart once the lock is free")
    assert host_lines_with(engine.store) == []
    engine.run("rm", "-f", cid)
