"""nook exec: joins every namespace and the cgroup of a running container,
applies the process settings, propagates the exit code."""
import json
import os
import subprocess
import time

import pytest


@pytest.fixture
def running(runtime, bundle):
    bundle.config["hostname"] = "execbox"
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    yield cid, runtime.state(cid)["pid"]
    runtime.run("delete", "--force", cid, check=False)


def test_exec_joins_namespaces_and_cgroup(runtime, running):
    cid, pid = running
    out = runtime.run("exec", cid, "sh", "-c",
                      "for n in pid net ipc uts mnt; do readlink /proc/self/ns/$n; done; "
                      "hostname; cat /proc/self/cgroup").stdout.split("\n")
    for i, n in enumerate(("pid", "net", "ipc", "uts", "mnt")):
        assert out[i] == os.readlink(f"/proc/{pid}/ns/{n}"), n
    assert out[5] == "execbox"
    with open(f"/proc/{pid}/cgroup") as f:
        init_cg = sorted(f.read().split())
    assert sorted(l for l in out[6:] if l) == init_cg


def test_exec_sees_container_pids(runtime, running):
    cid, _ = running
    out = runtime.run("exec", cid, "sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '").stdout
    mypid, init = out.splitlines()
    assert int(mypid) > 1 and init.startswith("sleep 60")


@pytest.mark.parametrize("code", [0, 5, 77])
def test_exec_exit_code(runtime, running, code):
    cid, _ = running
    p = runtime.run("exec", cid, "nktest", "exit", str(code), check=False)
    assert p.returncode == code


def test_exec_flags(runtime, running):
    cid, _ = running
    out = runtime.run("exec", "--user", "1000:1000", "--additional-gids", "44", "--cwd", "/tmp",
                      "--env", "FOO=bar", cid, "sh", "-c", "nktest ids; pwd; echo $FOO").stdout
    ids, cwd, foo = out.splitlines()
    assert "uid=1000 gid=1000" in ids and "44" in ids.split("groups=")[1].split(",")
    assert cwd == "/tmp" and foo == "bar"


def test_exec_process_file(runtime, running, tmp_path):
    cid, _ = running
    proc = {"args": ["sh", "-c", "echo $X; pwd; id -u"], "env": ["X=from-file", "PATH=/bin"],
            "cwd": "/etc", "user": {"uid": 65534, "gid": 65534}, "terminal": False}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    out = runtime.run("exec", "--process", str(tmp_path / "p.json"), cid).stdout.split()
    assert out == ["from-file", "/etc", "65534"]


def test_exec_detach_pid_file(runtime, running, tmp_path):
    cid, _ = running
    pidfile = tmp_path / "exec.pid"
    runtime.run("exec", "--detach", "--pid-file", str(pidfile), cid, "sleep", "30")
    pid = int(pidfile.read_text())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"30"]
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{running[1]}/ns/pid")
    os.kill(pid, 9)


def test_exec_missing_binary(runtime, running):
    cid, _ = running
    p = runtime.run("exec", cid, "/no/such", check=False)
    assert p.returncode != 0 and "/no/such" in p.stderr


def test_exec_into_stopped_is_error(runtime, bundle):
    bundle.args("true").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    runtime.wait_status(cid, "stopped")
    p = runtime.run("exec", cid, "true", check=False)
    assert p.returncode != 0 and "stopped" in p.stderr
    runtime.run("delete", cid)


def test_exec_unknown_container(runtime):
    p = runtime.run("exec", "nope", "true", check=False)
    assert p.returncode != 0 and "does not exist" in p.stderr
