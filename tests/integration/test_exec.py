"""nook exec: joins every namespace and the cgroup of a running container,
applies the process settings, propagates the exit code."""
import array
import json
import os
import socket
import subprocess
import tempfile
import threading

import pytest

from conftest import wait_for

from test_runtime import add_userns
from test_security import needs_lsm_off


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
    # exec's caller holds groups of its own (3, 4): the process has exactly
    # --additional-gids (before, any list containing 44 passed).
    out = runtime.run("exec", "--user", "1000:1000", "--additional-gids", "44", "--cwd", "/tmp",
                      "--env", "FOO=bar", cid, "sh", "-c", "nktest ids; pwd; echo $FOO",
                      preexec_fn=lambda: os.setgroups([3, 4])).stdout
    ids, cwd, foo = out.splitlines()
    assert "uid=1000 gid=1000" in ids and ids.split("groups=")[1] == "44", ids
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

    def cmdline():
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[:2]

    # exec --detach returns once the process is past execve's point of no
    # return (its CLONE_VFORK parent wakes at the new mm's install), but
    # the kernel fills the new mm's argument area (what /proc/PID/cmdline
    # reads) later in the ELF load: under load, a read in between sees an
    # empty command line. So: bounded wait, then the exact command.
    wait_for(lambda: cmdline() != [b""], 10, "the exec'd command line")
    assert cmdline() == [b"sleep", b"30"]
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



def test_exec_state_without_config_is_one_line(runtime, running):
    """A state.json without its config (written by hand, or cut by an old
    version): exec cannot know the container's settings. Before, exec
    failed with "nook: unknown error" (no error was set); now one line
    names the container, and nothing ran in it."""
    cid, pid = running
    path = os.path.join(runtime.root, cid, "state.json")
    with open(path) as f:
        st = json.load(f)
    del st["config"]
    with open(path, "w") as f:
        json.dump(st, f)
    p = runtime.run("exec", cid, "sh", "-c", "touch /ran", check=False)
    err = p.stderr.strip()
    assert p.returncode != 0 and len(err.splitlines()) == 1, err
    assert cid in err and "config" in err, err
    assert not os.path.exists(f"/proc/{pid}/root/ran")


# ---- namespaces the kernel orders strictly: user and time ------------------


def test_exec_joins_user_and_time_namespaces(runtime, bundle):
    # A user namespace (root mapped to 100000) and a time namespace whose
    # boottime is two days ahead: exec must enter both (user first, so the
    # others can be joined with its capabilities) and see what the init sees.
    add_userns(bundle)
    bundle.linux["namespaces"].append({"type": "time"})
    bundle.linux["timeOffsets"] = {"boottime": {"secs": 2 * 86400, "nanos": 0},
                                   "monotonic": {"secs": 86400, "nanos": 0}}
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    try:
        names = ("user", "time", "pid", "mnt", "net", "ipc", "uts")
        out = runtime.run("exec", cid, "sh", "-c",
                          "for n in %s; do readlink /proc/self/ns/$n; done; "
                          "cat /proc/self/uid_map /proc/self/timens_offsets /proc/uptime; id -u"
                          % " ".join(names)).stdout.splitlines()
        for i, n in enumerate(names):
            assert out[i] == os.readlink(f"/proc/{pid}/ns/{n}"), n
        assert out[len(names)].split() == ["0", "100000", "65536"]
        offsets = dict(l.split()[:2] for l in out[len(names) + 1:len(names) + 3])
        assert offsets == {"monotonic": "86400", "boottime": "172800"}
        with open("/proc/uptime") as f:
            host_uptime = float(f.read().split()[0])
        # boottime is what /proc/uptime reads in a time namespace
        assert float(out[-2].split()[0]) >= host_uptime + 2 * 86400 - 60
        assert out[-1] == "0"
    finally:
        runtime.run("delete", "--force", cid)


# ---- paused, stopped ---------------------------------------------------------


def _cgroup_of(pid, controller):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return path
    return None


def test_exec_paused_is_error_and_ignore_paused_waits(runtime, running):
    cid, pid = running
    runtime.run("pause", cid)
    p = runtime.run("exec", cid, "echo", "hi", check=False)
    assert p.returncode != 0 and "paused" in p.stderr, p.stderr
    procs = "/sys/fs/cgroup/freezer%s/cgroup.procs" % _cgroup_of(pid, "freezer")
    out = tempfile.TemporaryFile("w+")
    e = subprocess.Popen(runtime.cmd("exec", "--ignore-paused", cid, "echo", "hi"),
                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        # The exec'd process enters the frozen cgroup and freezes there.
        wait_for(lambda: len(open(procs).read().split()) == 2, 20,
                 f"the exec'd process in {procs} beside the init")
        assert e.poll() is None, "exec ran in a frozen cgroup"
        runtime.run("resume", cid)
        assert e.wait(30) == 0
        out.seek(0)
        assert out.read() == "hi\n"
    finally:
        if e.poll() is None:
            runtime.run("resume", cid, check=False)
            e.kill()
            e.wait()


def test_exec_into_created_container_runs(runtime, bundle):
    # As with runc: a created container's namespaces exist, exec may join.
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    subprocess.run(runtime.cmd("create", "--bundle", bundle.path, cid), check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=60)
    assert runtime.run("exec", cid, "hostname").returncode == 0
    runtime.run("delete", "--force", cid)


# ---- security of the exec'd process ------------------------------------------


def _status(text):
    return dict((k.strip(), v.strip()) for k, v in
                (l.split(":", 1) for l in text.splitlines() if ":" in l))


SYS_ADMIN = 1 << 21


def test_exec_cap_and_no_new_privs(runtime, bundle):
    bundle.process["noNewPrivileges"] = False
    bundle.process["capabilities"] = {k: ["CAP_KILL"] for k in
                                      ("bounding", "effective", "permitted")}
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    try:
        grep = ("grep", "-E", "^(Cap(Bnd|Eff|Prm)|NoNewPrivs):", "/proc/self/status")
        plain = _status(runtime.run("exec", cid, *grep).stdout)
        assert int(plain["CapBnd"], 16) == 1 << 5 and plain["NoNewPrivs"] == "0"
        more = _status(runtime.run("exec", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", cid,
                                   *grep).stdout)
        assert int(more["CapBnd"], 16) == (1 << 5) | SYS_ADMIN
        assert int(more["CapEff"], 16) & SYS_ADMIN and more["NoNewPrivs"] == "1"
        p = runtime.run("exec", "--cap", "CAP_TEST", cid, "true", check=False)
        assert p.returncode != 0 and "CAP_TEST" in p.stderr
    finally:
        runtime.run("delete", "--force", cid)


def test_exec_gets_container_rlimits_unless_process_says(runtime, bundle, tmp_path):
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                                 {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    try:
        lim = runtime.run("exec", cid, "nktest", "rlimits").stdout.splitlines()
        assert "RLIMIT_NOFILE 512 1024" in lim and "RLIMIT_CORE 0 0" in lim, lim
        proc = {"args": ["nktest", "rlimits"], "cwd": "/", "env": ["PATH=/bin"],
                "user": {"uid": 0, "gid": 0},
                "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]}
        (tmp_path / "p.json").write_text(json.dumps(proc))
        lim = runtime.run("exec", "--process", str(tmp_path / "p.json"), cid).stdout.splitlines()
        assert "RLIMIT_NOFILE 100 200" in lim, lim
    finally:
        runtime.run("delete", "--force", cid)


@pytest.mark.parametrize("flag,value,msg", [
    ("--apparmor", "nook-test", '"nook-test" requested but AppArmor is not enabled'),
    ("--process-label", "system_u:system_r:container_t:s0",
     '"system_u:system_r:container_t:s0" requested but SELinux is not enabled'),
])
@needs_lsm_off
def test_exec_lsm_flags_without_lsm_are_errors(runtime, running, flag, value, msg):
    cid, _ = running
    p = runtime.run("exec", flag, value, cid, "true", check=False)
    assert p.returncode != 0 and msg in p.stderr, p.stderr


@needs_lsm_off
def test_exec_apparmor_unconfined_accepted(runtime, running):
    cid, _ = running
    assert runtime.run("exec", "--apparmor", "unconfined", cid, "echo", "ok").stdout == "ok\n"


def test_exec_preserve_fds(runtime, running, tmp_path):
    cid, _ = running
    nook = " ".join(runtime.cmd("exec", "--preserve-fds", "2", cid, "nktest", "fds"))
    p = subprocess.run(["sh", "-c", f"exec 3>{tmp_path}/a 4>{tmp_path}/b 5>{tmp_path}/c; exec {nook}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    fds = dict(l.split(" ", 1) for l in p.stdout.splitlines())
    assert sorted(fds) == ["0", "1", "2", "3", "4"], fds
    assert fds["3"].endswith("/a") and fds["4"].endswith("/b")


# ---- crun's --cgroup SUBPATH ---------------------------------------------------


def _container_cgroup_dirs(pid):
    """(mount dir, path) of every hierarchy the init is in."""
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype == "cgroup2":
                mounts[""] = fields[4]
            elif fstype == "cgroup":
                for opt in fields[-1].split(","):
                    if opt in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
                               "blkio", "pids", "net_cls", "net_prio", "perf_event", "hugetlb",
                               "rdma", "misc") or opt.startswith("name="):
                        mounts[opt] = fields[4]
    dirs = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            mnt = mounts.get(ctrls.split(",")[0])
            if mnt and os.path.isdir(mnt + path):
                dirs.append(mnt + path)
    return sorted(set(dirs))


def test_exec_cgroup_subpath(runtime, running):
    cid, pid = running
    made = []
    try:
        for d in _container_cgroup_dirs(pid):
            sub = os.path.join(d, "sub")
            os.mkdir(sub)
            made.append(sub)
            if os.path.exists(os.path.join(d, "cpuset.cpus")) and not os.path.exists(
                    os.path.join(d, "cgroup.subtree_control")):
                for f in ("cpuset.cpus", "cpuset.mems"):  # v1 cpuset starts empty
                    with open(os.path.join(d, f)) as src, open(os.path.join(sub, f), "w") as dst:
                        dst.write(src.read())
        out = runtime.run("exec", "--cgroup", "sub", cid, "cat", "/proc/self/cgroup").stdout
        with open(f"/proc/{pid}/cgroup") as f:
            init = sorted(l.rstrip("\n") for l in f)
        assert sorted(out.splitlines()) == sorted(l + "/sub" for l in init)
        for bad, msg in (("..", "without `.` or `..`"), ("sub/../..", "without `.` or `..`"),
                         ("nope", "the sub-cgroup must exist")):
            p = runtime.run("exec", "--cgroup", bad, cid, "true", check=False)
            assert p.returncode != 0 and msg in p.stderr, (bad, p.stderr)
    finally:
        for sub in made:
            os.rmdir(sub)


# ---- --console-socket ------------------------------------------------------------


def test_exec_console_socket(runtime, running, tmp_path):
    cid, _ = running
    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    proc = {"args": ["nktest", "tty"], "cwd": "/", "env": ["PATH=/bin"], "terminal": True,
            "consoleSize": {"height": 27, "width": 99}, "user": {"uid": 0, "gid": 0}}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    got = {}

    def accept():
        conn, _ = srv.accept()
        fds = array.array("i")
        msg, anc, _fl, _ad = conn.recvmsg(1024, socket.CMSG_SPACE(4))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[:4])
        got["fd"], got["msg"] = fds[0], msg
        conn.close()

    t = threading.Thread(target=accept)
    t.start()
    runtime.run("exec", "--detach", "--console-socket", sock_path, "--process",
                str(tmp_path / "p.json"), cid)
    t.join(10)
    srv.close()
    master = got["fd"]
    assert got["msg"] == b"/dev/ptmx"     # the text runc sends with the master
    out = b""
    while b"ctty=" not in out:
        try:
            chunk = os.read(master, 4096)
        except OSError:     # EIO: the process is gone and the slave closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    text = out.decode()
    assert "tty=/dev/pts/" in text and "rows=27 cols=99" in text and "ctty=yes" in text, text
