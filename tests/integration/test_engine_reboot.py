"""A container after a reboot: what survives is the store on disk
(container.json, image.json, upper/, work/); gone are its processes, its
cgroups, the runtime state under NOOK_ROOT (a tmpfs) and its overlay
(which lived in the container's mount namespace only, never on the
host). `nook start` must make the rootfs again from image.json and run it
with the upper dir it had. The reboot is simulated on what the test
made: SIGKILL of the container's processes and monitor, then its cgroups
and runtime state removed. The `engine` fixture fails a test that leaks
anything."""
import json
import os
import shutil
import signal

from conftest import wait_for
from engine_util import _procs_with, engine  # noqa: F401 (engine: the fixture)


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def reboot(engine, cid):
    """Kill what a reboot kills, leave what it leaves."""
    pid = engine.state(cid)["Pid"]
    for p in _procs_with(f"--root {engine.root} "):  # the monitor
        os.kill(p, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)  # the init: its PID namespace goes with it
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") and
             not _procs_with(f"--root {engine.root} "), 10, "the processes gone")
    for d in sorted(engine.cgroup_dirs(), key=len, reverse=True):
        wait_for(lambda d=d: _rmdir(d), 10, f"rmdir {d}")
    merged = os.path.join(engine.cdir(cid), "merged")
    assert not mounted(merged)  # the overlay went with the container's namespace
    shutil.rmtree(os.path.join(engine.root, cid), ignore_errors=True)
    return merged


def _rmdir(d):
    try:
        os.rmdir(d)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def test_start_after_a_reboot_mounts_the_rootfs_again(engine):
    cid = engine.run("run", "-d", "--name", "rb", "busybox", "sh", "-c",
                     "echo $$ >> /boots; exec sleep 1000").stdout.strip()
    wait_for(lambda: os.path.exists(f"{engine.cdir(cid)}/upper/boots"), 10, "the first boot")
    merged = reboot(engine, cid)
    assert not mounted(merged) and os.listdir(merged) == []
    st = engine.state("rb")
    assert st["Status"] == "exited" and not st["Running"]
    # cp from it makes its rootfs again too (the upper dir's file is
    # seen), detached: nothing is mounted on the host
    p = engine.run("cp", "rb:/boots", "-")
    assert "boots" in p.stdout and "1\n" in p.stdout
    assert not mounted(merged)
    engine.run("start", "rb")
    assert not mounted(merged)
    wait_for(lambda: engine.run("exec", "rb", "cat", "/boots", check=False).stdout == "1\n1\n",
             10, "the second boot, with the first one's upper dir")
    # each start makes it again: one overlay, in the container, on its upper
    engine.run("stop", "-t", "0", "rb")
    engine.run("start", "rb")
    mi = engine.run("exec", "rb", "cat", "/proc/self/mountinfo").stdout
    roots = [line for line in mi.splitlines() if line.split()[4] == "/"]
    assert len(roots) == 1 and " - overlay " in roots[0], mi
    assert f"upperdir={engine.cdir(cid)}/upper" in roots[0]
    assert not mounted(merged)
    engine.run("rm", "-f", "rb")
    assert not mounted(merged)


def test_start_with_a_layer_gone_is_one_line_and_mounts_nothing(engine):
    """image.json names the layers; one missing from the store: a clear
    error (not a half-made overlay), and rm -f still cleans up."""
    cid = engine.run("create", "--name", "gone", "busybox", "true").stdout.strip()
    merged = os.path.join(engine.cdir(cid), "merged")
    image_json = os.path.join(engine.cdir(cid), "image.json")
    with open(image_json) as f:
        rec = json.load(f)
    rec["layers"][-1] = "sha256:" + "0" * 64
    with open(image_json, "w") as f:
        json.dump(rec, f)
    p = engine.run("start", "gone", check=False)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "missing from the store" in p.stderr, p.stderr
    assert not mounted(merged)
    engine.run("rm", "-f", "gone")
