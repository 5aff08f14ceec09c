"""Process attributes and namespaced kernel settings, read back from inside the
container: personality, I/O priority, scheduler, session keyring, sysctl,
time namespace offsets; and the global options runc's callers pass."""
import json
import os
import subprocess
import sys

import pytest


def proc_info(runtime, bundle):
    bundle.args("nktest", "proc").write()
    out = runtime.output(bundle)
    fields = dict(kv.split("=", 1) for kv in out.split())
    return fields


def test_personality_ioprio_scheduler(runtime, bundle):
    bundle.linux["personality"] = {"domain": "LINUX32"}
    bundle.process["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    bundle.process["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    f = proc_info(runtime, bundle)
    assert int(f["personality"], 16) & 0xff == 0x0008  # PER_LINUX32
    assert (f["ioprio_class"], f["ioprio_level"]) == ("2", "6")  # BE, level 6
    assert f["policy"] == str(3)  # SCHED_BATCH
    assert f["nice"] == "7"


ADDR_NO_RANDOMIZE = 0x0040000


def _caller_not_at_defaults():
    import ctypes
    os.nice(5)
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    ctypes.CDLL(None, use_errno=True).personality(ADDR_NO_RANDOMIZE)


def test_unset_process_attributes_left_as_the_caller_had_them(runtime, bundle):
    """No linux.personality and no process.scheduler: nook applies nothing
    (as runc), the container has what its caller had. The caller is not at
    the defaults (nice 5, SCHED_BATCH, ADDR_NO_RANDOMIZE), so a runtime that
    applied zeroed settings for the absent fields fails here; before, this
    test read back the host's defaults, which any runtime or none passes."""
    bundle.args("nktest", "proc").write()
    p = runtime.run("run", "--bundle", bundle.path, runtime.new_id(),
                    preexec_fn=_caller_not_at_defaults)
    f = dict(kv.split("=", 1) for kv in p.stdout.split())
    assert int(f["personality"], 16) == ADDR_NO_RANDOMIZE, f
    assert f["policy"] == "3" and f["nice"] == "5", f  # SCHED_BATCH


def test_unknown_scheduler_policy_is_error(runtime, bundle):
    bundle.process["scheduler"] = {"policy": "SCHED_FAST"}
    bundle.write()
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0
    assert "process.scheduler.policy" in p.stderr and "SCHED_FAST" in p.stderr, p.stderr


def test_session_keyring_new_unless_no_new_keyring(runtime, bundle):
    bundle.args("nktest", "proc").write()
    cid = runtime.new_id()
    p = runtime.run("run", "--bundle", bundle.path, cid)
    f = dict(kv.split("=", 1) for kv in p.stdout.split())
    assert f["keyring_name"] == f"_ses.{cid}", p.stdout
    cid = runtime.new_id()
    p = runtime.run("run", "--no-new-keyring", "--bundle", bundle.path, cid)
    f = dict(kv.split("=", 1) for kv in p.stdout.split())
    assert f["keyring_name"] != f"_ses.{cid}", p.stdout


def test_sysctl_applied_in_container_namespaces(runtime, bundle):
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345",
                              "kernel.domainname": "sysctl.example"}
    out = runtime.output(bundle.sh(
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax /proc/sys/kernel/domainname"))
    assert out.split() == ["1", "12345", "sysctl.example"]
    # the host's values are untouched
    with open("/proc/sys/kernel/msgmax") as f:
        assert f.read().strip() != "12345"


def test_sysctl_not_written_through_a_mount_over_proc_sys(runtime, bundle, tmp_path):
    """A tmpfs (holding a `msgmax` file) mounted over /proc/sys/kernel in the
    container's mount namespace before the sysctls are written (here by a
    prestart hook): nook wrote the value into that file and the container
    kept the kernel's default. Only procfs's own /proc/sys is written now:
    a clear error naming the sysctl."""
    hook = tmp_path / "cover.py"
    hook.write_text(
        "import json, subprocess, sys\n"
        "pid = json.load(sys.stdin)['pid']\n"
        "subprocess.run(['nsenter', '-m', '-t', str(pid), 'sh', '-c',\n"
        "    'mount -t tmpfs nook-test-fake /proc/sys/kernel && "
        "echo 1 > /proc/sys/kernel/msgmax'], check=True)\n")
    bundle.config["hooks"] = {"prestart": [{"path": sys.executable,
                                            "args": ["python3", str(hook)]}]}
    bundle.linux["sysctl"] = {"kernel.msgmax": "12345"}
    p = runtime.run_bundle(bundle.sh("cat /proc/sys/kernel/msgmax"))
    assert p.returncode != 0, p.stdout
    assert "linux.sysctl" in p.stderr and "kernel.msgmax" in p.stderr \
        and "a mount covers it" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


@pytest.mark.parametrize("key,why", [
    ("kernel.panic", "not namespaced"),
    ("net.ipv4.ip_forward", "network"),
])
def test_sysctl_not_owned_is_error(runtime, bundle, key, why):
    if key.startswith("net."):
        bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"]
                                      if n["type"] != "network"]
    bundle.linux["sysctl"] = {key: "1"}
    bundle.write()
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0
    assert f"linux.sysctl" in p.stderr and key in p.stderr, p.stderr


def test_time_namespace_offsets(runtime, bundle):
    bundle.linux["namespaces"] = bundle.linux["namespaces"] + [{"type": "time"}]
    bundle.linux["timeOffsets"] = {"monotonic": {"secs": 86400, "nanosecs": 0},
                                   "boottime": {"secs": 2 * 86400, "nanosecs": 500}}
    with open("/proc/uptime") as f:
        host_up = float(f.read().split()[0])
    out = runtime.output(bundle.sh("cat /proc/self/timens_offsets; cat /proc/uptime"))
    lines = out.splitlines()
    offsets = {l.split()[0]: l.split()[1:] for l in lines[:2]}
    assert offsets["monotonic"] == ["86400", "0"]
    assert offsets["boottime"] == ["172800", "500"]
    up = float(lines[2].split()[0])  # /proc/uptime follows CLOCK_BOOTTIME
    assert 2 * 86400 <= up - host_up < 2 * 86400 + 60


def test_time_offsets_without_time_namespace_is_error(runtime, bundle):
    bundle.linux["timeOffsets"] = {"monotonic": {"secs": 10}}
    bundle.write()
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0 and "timeOffsets" in p.stderr, p.stderr


def test_global_options_accepted(runtime, bundle, tmp_path):
    """What containerd and podman pass: --systemd-cgroup (cgroupfs is used
    when systemd is not PID 1), --log FILE with --log-format json, --debug."""
    log = tmp_path / "log.json"
    cid = runtime.new_id()
    bundle.args("true").write()
    p = subprocess.run([runtime.bin, "--root", runtime.root, "--systemd-cgroup", "--debug",
                        "--log", str(log), "--log-format", "json", "run", "--bundle",
                        bundle.path, cid], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(l) for l in log.read_text().splitlines() if l.strip()]
    assert lines and all({"level", "msg", "time"} <= set(l) for l in lines)
    assert any(l["level"] == "debug" for l in lines)


def test_full_disk_state_root_is_clear_error_and_leaves_nothing(runtime, bundle, tmp_path):
    root = tmp_path / "fullroot"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "nk-full", str(root)], check=True)
    try:
        with open(root / "fill", "wb") as f:
            try:
                f.write(b"\0" * (128 << 10))
            except OSError:
                pass
        cid = runtime.new_id()
        bundle.args("true").write()
        p = subprocess.run([runtime.bin, "--root", str(root), "run", "--bundle", bundle.path,
                            cid], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert "No space left on device" in p.stderr and str(root) in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert sorted(os.listdir(root)) == ["fill"]
        for ctrl in ("memory", "pids", "unified"):
            assert not os.path.exists(f"/sys/fs/cgroup/{ctrl}/nook/{cid}")
    finally:
        subprocess.run(["umount", str(root)], check=True)


def _ignore_some_signals():
    import signal
    for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGPIPE):
        signal.signal(s, signal.SIG_IGN)


def test_signals_ignored_by_the_caller_are_default_in_the_container(runtime, bundle):
    # nohup-style callers leave signals ignored, and an ignored signal stays
    # ignored across execve: nook resets them before the container runs.
    bundle.args("grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status").write()
    p = runtime.run("run", "--bundle", bundle.path, runtime.new_id(),
                    preexec_fn=_ignore_some_signals)
    fields = dict(line.split(":\t") for line in p.stdout.split("\n") if line)
    assert fields == {"SigBlk": "0" * 16, "SigIgn": "0" * 16}, p.stdout
