"""The OCI runtime core: lifecycle, namespaces, process attributes, hooks,
exit codes, state, and leaks. Every assertion reads what the container or
the kernel really shows."""
import json
import os
import socket
import array
import subprocess
import threading
import time

import pytest

from conftest import host_ns, state_logging_hooks, wait_for

NS_FILES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
            "cgroup": "cgroup", "user": "user", "time": "time"}


def ns_inside(runtime, bundle):
    script = "for n in pid net ipc uts mnt cgroup user time; do echo $n $(readlink /proc/self/ns/$n); done"
    out = runtime.output(bundle.sh(script))
    return dict(line.split() for line in out.splitlines())


def add_userns(bundle, host_base=100000):
    bundle.linux["namespaces"].append({"type": "user"})
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": host_base, "size": 65536}]
    bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": host_base, "size": 65536}]
    # The mapped root must be able to reach the rootfs: open up the parents.
    d = bundle.rootfs
    while d not in ("/", "/tmp"):
        d = os.path.dirname(d)
        os.chmod(d, os.stat(d).st_mode | 0o111)
    os.chown(bundle.rootfs, host_base, host_base)
    for root, dirs, files in os.walk(bundle.rootfs):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), host_base, host_base)


def test_default_namespaces_are_new(runtime, bundle):
    have = {n["type"] for n in bundle.linux["namespaces"]}  # `nook spec` has cgroup on v2
    bundle.linux["namespaces"] += [{"type": t} for t in ("cgroup", "time") if t not in have]
    inside = ns_inside(runtime, bundle)
    for name in ("pid", "net", "ipc", "uts", "mnt", "cgroup", "time"):
        assert inside[name] != host_ns(name), name
    assert inside["user"] == host_ns("user")  # not requested: shared


def test_user_namespace_mappings(runtime, bundle):
    add_userns(bundle)
    out = runtime.output(bundle.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; readlink /proc/self/ns/user"))
    lines = out.split("\n")
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2] == "0"
    assert lines[3] != host_ns("user")


def test_namespaces_joined_by_path(runtime, bundle, tmp_path):
    # A first container holds the namespaces; a second joins them by path.
    holder = runtime.new_id()
    bundle.args("sleep", "30").write()
    runtime.run("run", "--detach", "--bundle", bundle.path, holder)
    pid = runtime.state(holder)["pid"]
    expect = {n: os.readlink(f"/proc/{pid}/ns/{n}") for n in ("net", "ipc", "uts")}
    b2 = type(bundle)(bundle.path, json.loads(json.dumps(bundle.config)))
    for ns in b2.linux["namespaces"]:
        if ns["type"] in ("network", "ipc", "uts"):
            ns["path"] = f"/proc/{pid}/ns/{NS_FILES[ns['type']]}"
    b2.config.pop("hostname", None)
    out = runtime.output(b2.sh("for n in net ipc uts; do readlink /proc/self/ns/$n; done"))
    assert out.split() == [expect["net"], expect["ipc"], expect["uts"]]
    runtime.run("delete", "--force", holder)


def test_hostname_domainname(runtime, bundle):
    bundle.config["hostname"] = "box1"
    bundle.config["domainname"] = "example.test"
    out = runtime.output(bundle.sh("hostname; cat /proc/sys/kernel/domainname"))
    assert out.split() == ["box1", "example.test"]
    assert os.uname().nodename != "box1"


def test_pid1_and_no_host_network(runtime, bundle):
    out = runtime.output(bundle.sh("echo $$; ls /sys/class/net"))
    assert out.split() == ["1", "lo"]


def test_rlimits_and_oom_score_adj(runtime, bundle):
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                                 {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}]
    bundle.process["oomScoreAdj"] = 500
    out = runtime.output(bundle.sh("nktest rlimits; cat /proc/self/oom_score_adj"))
    lim = {l.split()[0]: l.split()[1:] for l in out.splitlines() if l.startswith("RLIMIT")}
    assert lim["RLIMIT_NOFILE"] == ["512", "1024"]
    assert lim["RLIMIT_NPROC"] == ["300", "400"]
    assert out.splitlines()[-1] == "500"


def test_rlimit_minus_one_is_unlimited(runtime, bundle):
    """-1 means RLIM_INFINITY (the engine's jansson-built specs cannot write
    2^64-1); the process really gets no limit. -2 stays an error."""
    # limits whose hard value is unlimited on the host: raising one above
    # the current hard value needs CAP_SYS_RESOURCE, which a sandbox may lack
    bundle.process["rlimits"] = [{"type": "RLIMIT_STACK", "soft": -1, "hard": -1},
                                 {"type": "RLIMIT_CORE", "soft": 0, "hard": -1}]
    out = runtime.output(bundle.sh("nktest rlimits"))
    lim = {l.split()[0]: l.split()[1:] for l in out.splitlines() if l.startswith("RLIMIT")}
    inf = str(2**64 - 1)
    assert lim["RLIMIT_STACK"] == [inf, inf]
    assert lim["RLIMIT_CORE"] == ["0", inf]
    bundle.process["rlimits"] = [{"type": "RLIMIT_STACK", "soft": -2, "hard": -1}]
    r = runtime.run_bundle(bundle)
    assert r.returncode != 0 and "rlimits[0].soft" in r.stderr

def _detached(runtime, bundle, script):
    bundle.sh(f"exec </dev/null >/dev/null 2>&1; {script}").write()
    cid = runtime.new_id()
    runtime.run("run", "--detach", "--bundle", bundle.path, cid)
    return cid, runtime.state(cid)["pid"]


def test_oom_score_adj_seen_from_the_host(runtime, bundle):
    """What the kernel holds for the container's process, read from the host."""
    bundle.process["oomScoreAdj"] = 321
    cid, pid = _detached(runtime, bundle, "exec sleep 60")
    try:
        with open(f"/proc/{pid}/oom_score_adj") as f:
            assert f.read().strip() == "321"
    finally:
        runtime.run("delete", "--force", cid)


def test_exec_oom_score_adj_never_through_the_containers_proc(runtime, bundle, tmp_path):
    """A container that mounts a tmpfs on its /proc (with a `self` directory)
    made `nook exec` write oom_score_adj there and report success: the
    exec'd process kept its score. nook now writes it before the process
    enters the container, through the host's procfs, where the joiner is
    visible: the score is set and nothing is written into the fake /proc."""
    caps = bundle.process.setdefault("capabilities", {})
    for k in ("bounding", "effective", "permitted"):
        caps[k] = sorted(set(caps.get(k, [])) | {"CAP_SYS_ADMIN"})
    cid, pid = _detached(runtime, bundle, "mount -t tmpfs fake /proc && mkdir /proc/self "
                         "&& touch /proc/ready && exec sleep 60")
    try:
        ready = f"/proc/{pid}/root/proc/ready"
        wait_for(lambda: os.path.exists(ready), 10, f"{ready} (the fake /proc mounted)")
        proc = {"args": ["sleep", "30"], "cwd": "/", "env": ["PATH=/bin"],
                "user": {"uid": 0, "gid": 0}, "oomScoreAdj": 400}
        pf = tmp_path / "process.json"
        pf.write_text(json.dumps(proc))
        pidfile = tmp_path / "exec.pid"
        runtime.run("exec", "--detach", "--pid-file", str(pidfile), "--process", str(pf), cid)
        with open(f"/proc/{int(pidfile.read_text())}/oom_score_adj") as f:
            assert f.read().strip() == "400"
        assert not os.path.exists(f"/proc/{pid}/root/proc/self/oom_score_adj")
    finally:
        runtime.run("delete", "--force", cid)


def test_cwd_made_before_the_root_turns_read_only(runtime, bundle):
    bundle.config["root"]["readonly"] = True
    bundle.process["cwd"] = "/work/deep"
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    out = runtime.output(bundle.sh("pwd; touch x 2>/dev/null || echo ro"))
    assert out.split() == ["/work/deep", "ro"]
    assert os.path.isdir(os.path.join(bundle.rootfs, "work", "deep"))


def test_cwd_made_without_a_mount_namespace(runtime, bundle, tmp_path):
    """No mount namespace, so no mount plan: the cwd is still made, inside
    the root (a dangling symlink to a host path followed there)."""
    bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"] if n["type"] != "mount"]
    bundle.config["mounts"] = []
    bundle.linux["maskedPaths"] = []
    bundle.linux["readonlyPaths"] = []
    host = str(tmp_path / "host-cwd")
    os.symlink(host, os.path.join(bundle.rootfs, "wd"))
    bundle.process["cwd"] = "/wd/sub"
    out = runtime.output(bundle.sh("pwd -P"))
    assert out.strip() == host + "/sub"
    assert os.path.isdir(os.path.join(bundle.rootfs, host.lstrip("/"), "sub"))
    assert not os.path.lexists(host)


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_symlinked_cwd_resolves_inside_the_rootfs(runtime, bundle, tmp_path, how):
    """A cwd that is a dangling symlink to a host path is made inside the
    rootfs, where the process then runs; the host path stays absent."""
    host = str(tmp_path / "host-cwd")
    target = host if how == "absolute" else "../../../../../../.." + host
    os.symlink(target, os.path.join(bundle.rootfs, "wd"))
    bundle.config["root"]["readonly"] = True
    bundle.process["cwd"] = "/wd"
    out = runtime.output(bundle.sh("pwd -P"))
    assert out.strip() == host
    assert os.path.isdir(os.path.join(bundle.rootfs, host.lstrip("/")))
    assert not os.path.lexists(host)


def test_rlimit_hard_above_allowed_is_clear_error(runtime, bundle):
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1 << 30}]
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0
    assert "RLIMIT_NOFILE" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_user_cwd_env_umask(runtime, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000, "umask": 0o027, "additionalGids": [5, 7]}
    bundle.process["cwd"] = "/tmp/work"
    bundle.process["env"] = ["PATH=/bin", "FOO=bar"]
    bundle.sh("nktest ids; pwd; echo $FOO").write()
    # The caller holds supplementary groups of its own (3, 4): the process
    # gets exactly additionalGids, neither the caller's nor its primary gid
    # (as runc). Before, either of two answers passed.
    p = runtime.run("run", "--bundle", bundle.path, runtime.new_id(),
                    preexec_fn=lambda: os.setgroups([3, 4]))
    ids, cwd, foo = p.stdout.splitlines()
    assert "uid=1000 gid=1000 euid=1000 egid=1000 umask=0027" in ids
    assert sorted(ids.split("groups=")[1].split(",")) == ["5", "7"], ids
    assert cwd == "/tmp/work" and foo == "bar"


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exit_code(runtime, bundle, code):
    p = runtime.run_bundle(bundle.args("nktest", "exit", str(code)))
    assert p.returncode == code, p.stderr


def test_exit_code_on_signal(runtime, bundle):
    # The init of a pid namespace can't kill itself; nook kills it from outside.
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    p = subprocess.Popen(runtime.cmd("run", "--bundle", bundle.path, cid),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        runtime.wait_status(cid, "running")
        runtime.run("kill", cid, "KILL")
        assert p.wait(30) == 128 + 9
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_foreground_run_forwards_signals(runtime, bundle):
    bundle.sh("trap 'exit 7' TERM; while true; do sleep 0.05; done").write()
    cid = runtime.new_id()
    p = subprocess.Popen(runtime.cmd("run", "--bundle", bundle.path, cid),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        runtime.wait_status(cid, "running")
        time.sleep(0.2)
        p.send_signal(15)
        assert p.wait(30) == 7
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_exec_not_found_is_error_at_create(runtime, bundle):
    bundle.args("/no/such/binary").write()
    cid = runtime.new_id()
    p = runtime.run("create", "--bundle", bundle.path, cid, check=False)
    assert p.returncode != 0 and "/no/such/binary" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_lifecycle_states(runtime, bundle, tmp_path):
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    pidfile = tmp_path / "pid"
    runtime.run("create", "--bundle", bundle.path, "--pid-file", str(pidfile), cid)
    st = runtime.state(cid)
    assert st["status"] == "created" and st["id"] == cid
    assert st["bundle"] == bundle.path and st["ociVersion"]
    assert int(pidfile.read_text()) == st["pid"]
    # The init has not exec'd yet: it is still nook, waiting.
    assert os.readlink(f"/proc/{st['pid']}/exe") != "/bin/sleep"
    runtime.run("start", cid)
    assert runtime.state(cid)["status"] == "running"
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    p = runtime.run("delete", cid, check=False)
    assert p.returncode != 0 and "running" in p.stderr
    runtime.run("kill", cid, "KILL")
    runtime.wait_status(cid, "stopped")
    assert runtime.state(cid)["pid"] == 0
    runtime.run("delete", cid)
    assert not os.path.exists(os.path.join(runtime.root, cid))
    p = runtime.run("state", cid, check=False)
    assert p.returncode != 0 and "does not exist" in p.stderr


@pytest.mark.parametrize("sig", ["TERM", "SIGUSR1", "10", "9", "KILL"])
def test_kill_names_and_numbers(runtime, bundle, tmp_path, sig):
    # The init traps the signal and records which one arrived.
    bundle.sh("trap 'echo USR1 > /tmp/got; exit 0' USR1; trap 'echo TERM > /tmp/got; exit 0' TERM; "
              "while true; do sleep 0.05; done").write()
    cid = runtime.new_id()
    runtime.run("run", "--detach", "--bundle", bundle.path, cid)
    time.sleep(0.2)
    runtime.run("kill", cid, sig)
    runtime.wait_status(cid, "stopped")
    got = open(os.path.join(bundle.rootfs, "tmp/got")).read().strip() \
        if os.path.exists(os.path.join(bundle.rootfs, "tmp/got")) else "KILLED"
    expect = {"TERM": "TERM", "SIGUSR1": "USR1", "10": "USR1", "9": "KILLED", "KILL": "KILLED"}
    assert got == expect[sig]
    runtime.run("delete", cid)


def test_kill_unknown_signal(runtime, bundle):
    p = runtime.run("kill", "whatever", "SIGNOPE", check=False)
    assert p.returncode != 0 and "SIGNOPE" in p.stderr


def test_delete_force_running(runtime, bundle):
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    runtime.run("delete", "--force", cid)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_delete_created_without_start(runtime, bundle):
    bundle.args("true").write()
    cid = runtime.new_id()
    runtime.run("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    runtime.run("delete", cid)
    time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_list_formats(runtime, bundle):
    bundle.args("sleep", "30").write()
    ids = [runtime.new_id() for _ in range(2)]
    for cid in ids:
        runtime.run("create", "--bundle", bundle.path, cid)
    js = json.loads(runtime.run("list", "--format", "json").stdout)
    assert sorted(c["id"] for c in js) == sorted(ids)
    assert all(c["status"] == "created" for c in js)
    assert sorted(runtime.run("list", "-q").stdout.split()) == sorted(ids)
    table = runtime.run("list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and len(table) == 3
    for cid in ids:
        runtime.run("delete", "--force", cid)


def test_preserve_fds(runtime, bundle, tmp_path):
    # fd 3 is passed with --preserve-fds 1; fd 4 is open too but not passed.
    bundle.args("nktest", "fds").write()
    cid = runtime.new_id()
    nook = " ".join(runtime.cmd("run", "--preserve-fds", "1", "--bundle", bundle.path, cid))
    p = subprocess.run(["sh", "-c", f"exec 3>{tmp_path}/passed 4>{tmp_path}/notpassed; exec {nook}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    fds = dict(l.split(" ", 1) for l in p.stdout.splitlines())
    assert sorted(fds) == ["0", "1", "2", "3"], fds
    assert fds["3"].endswith("/passed")


def recv_fd(conn):
    fds = array.array("i")
    msg, anc, _flags, _addr = conn.recvmsg(1024, socket.CMSG_SPACE(4))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[:4])
    return fds[0]


def test_console_socket_receives_pty_master(runtime, bundle, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    bundle.process["terminal"] = True
    bundle.process["consoleSize"] = {"height": 33, "width": 101}
    bundle.args("nktest", "tty").write()
    cid = runtime.new_id()
    got = {}

    def accept():
        conn, _ = srv.accept()
        got["fd"] = recv_fd(conn)
        conn.close()

    t = threading.Thread(target=accept)
    t.start()
    runtime.run("create", "--bundle", bundle.path, "--console-socket", sock_path, cid)
    t.join(10)
    master = got["fd"]
    runtime.run("start", cid)
    out = b""
    deadline = time.time() + 10
    while b"ctty=" not in out or not out.endswith(b"\n") and time.time() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    srv.close()
    text = out.decode()
    assert "tty=/dev/pts/0" in text and "rows=33 cols=101" in text and "ctty=yes" in text, text
    runtime.wait_status(cid, "stopped")
    runtime.run("delete", cid)


def test_terminal_without_console_socket_detached_is_error(runtime, bundle):
    bundle.process["terminal"] = True
    bundle.write()
    cid = runtime.new_id()
    p = runtime.run("create", "--bundle", bundle.path, cid, check=False)
    assert p.returncode != 0 and "console-socket" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_hooks_order_and_state(runtime, bundle, tmp_path):
    # Each hook appends its name and the state it was given on stdin.
    log, in_log = state_logging_hooks(bundle, tmp_path, [
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart",
        "poststop"])
    cid = runtime.create_start_delete(bundle.args("true").write())
    lines = [l for l in log.read_text().splitlines() if l.strip()]
    order = [l.split(" ", 1)[0] for l in lines]
    assert order == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"], order
    states = {l.split(" ", 1)[0]: json.loads(l.split(" ", 1)[1]) for l in lines}
    assert states["prestart"]["status"] == "creating" and states["prestart"]["pid"] > 0
    assert states["poststart"]["status"] == "running"
    assert states["poststop"]["status"] == "stopped"
    assert all(s["id"] == cid and s["bundle"] == bundle.path for s in states.values())
    inside = [l for l in open(in_log).read().splitlines() if l.strip()]
    assert [l.split(" ", 1)[0] for l in inside] == ["startContainer"]


def test_failing_prestart_hook_tears_down(runtime, bundle, tmp_path):
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/false"}]}
    bundle.args("true").write()
    cid = runtime.new_id()
    p = runtime.run("create", "--bundle", bundle.path, cid, check=False)
    assert p.returncode != 0 and "prestart hook `/bin/false`" in p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_hook_timeout(runtime, bundle, tmp_path):
    """The hook is killed at its timeout, not waited for (no timing
    assertion: the hook's own process must be gone when create returns)."""
    pidfile = tmp_path / "hook.pid"
    bundle.config["hooks"] = {"createRuntime": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"],
        "timeout": 1}]}
    bundle.args("true").write()
    cid = runtime.new_id()
    p = runtime.run("create", "--bundle", bundle.path, cid, check=False)
    assert p.returncode != 0 and "timed out" in p.stderr, p.stderr
    pid = int(pidfile.read_text())
    # Killed, so gone once reaped (sleep 60 would outlive any wait here).
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 20, f"the timed-out hook {pid} to be gone")
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_bad_config_names_json_path(runtime, bundle):
    bundle.linux["namespaces"].append({"type": "foo"})
    bundle.write()
    cid = runtime.new_id()
    p = runtime.run("create", "--bundle", bundle.path, cid, check=False)
    assert p.returncode != 0
    assert "config.json" in p.stderr and "linux.namespaces[" in p.stderr and '"foo"' in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_unknown_capability_is_error(runtime, bundle):
    bundle.process["capabilities"]["bounding"].append("CAP_TEST")
    bundle.write()
    p = runtime.run("create", "--bundle", bundle.path, runtime.new_id(), check=False)
    assert p.returncode != 0 and "CAP_TEST" in p.stderr


def test_duplicate_id_is_error(runtime, bundle):
    bundle.args("sleep", "10").write()
    cid = runtime.new_id()
    runtime.run("create", "--bundle", bundle.path, cid)
    p = runtime.run("create", "--bundle", bundle.path, cid, check=False)
    assert p.returncode != 0 and "already exists" in p.stderr
    assert runtime.state(cid)["status"] == "created"
    runtime.run("delete", cid)


def test_cgroup_created_and_removed(runtime, bundle):
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    # Every hierarchy the host has (v1 controllers and the unified one).
    assert lines and all(cid in l.split(":", 2)[2] for l in lines), lines
    paths = [l.split(":", 2)[2] for l in lines]
    runtime.run("delete", "--force", cid)
    for l in lines:
        hier, ctrl, path = l.split(":", 2)
        base = "/sys/fs/cgroup/unified" if ctrl == "" else \
            "/sys/fs/cgroup/" + ctrl.replace("name=", "")
        if os.path.isdir(base):
            assert not os.path.exists(base + path), base + path
    assert paths


def test_runtime_binary_not_writable_from_container(runtime, bundle):
    # While the init waits for start it is still nook; its exe must not be
    # reachable for writing from the container.
    bundle.args("true").write()
    cid = runtime.new_id()
    runtime.run("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    # Not dumpable: /proc/PID/exe is only reachable with CAP_SYS_PTRACE.
    st = os.stat(f"/proc/{pid}")
    assert st.st_uid == 0
    runtime.run("delete", cid)
    assert "State" in status


def test_features(runtime):
    f = json.loads(runtime.run("features").stdout)
    assert f["ociVersionMax"].startswith("1.2")
    assert set(f["linux"]["namespaces"]) >= {"pid", "network", "mount", "user", "time"}
    assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"]
    assert "prestart" in f["hooks"] and "rbind" in f["mountOptions"]


def test_log_format_json(runtime, bundle, tmp_path):
    log = tmp_path / "log.json"
    p = subprocess.run(runtime.cmd("--log", str(log), "--log-format", "json", "state", "nope"),
                       capture_output=True, text=True)
    assert p.returncode != 0
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["level"] == "error" and "does not exist" in rec["msg"] and rec["time"]


def test_version_and_help(nook_bin):
    p = subprocess.run([nook_bin, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and "nook version" in p.stdout and "spec: 1.2" in p.stdout
    # the architecture nook was built for: this machine's, as uname says
    assert f"\narch: {os.uname().machine}\n" in p.stdout, p.stdout
    for cmd in ("create", "start", "run", "state", "kill", "delete", "list", "features", "spec"):
        p = subprocess.run([nook_bin, cmd, "--help"], capture_output=True, text=True)
        assert p.returncode == 0 and p.stdout.startswith("usage: nook-oci " + cmd), cmd


def test_info_reports_architecture(nook_bin):
    """`nook-oci info` names the machine (uname) and the build's
    architecture; the JSON form also its OCI/Go name."""
    machine = os.uname().machine
    out = subprocess.run([nook_bin, "info"], capture_output=True, text=True, check=True).stdout
    assert f"architecture:    {machine} (nook built for {machine})" in out, out
    full = json.loads(subprocess.run([nook_bin, "info", "--format", "json"], capture_output=True,
                                     text=True, check=True).stdout)
    oci = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    assert full["architecture"] == {"machine": machine, "build": machine, "oci": oci}


def test_two_faces_by_name(nook_bin, engine_bin, runtime, bundle):
    """`nook` is the engine and `nook-oci` (or `nook oci`) the OCI runtime:
    each answers only its own commands, and the long spelling takes the
    global options on either side of `oci`."""
    assert os.path.basename(nook_bin) == "nook-oci" and os.path.islink(nook_bin)
    help_oci = subprocess.run([nook_bin, "--help"], capture_output=True, text=True, check=True)
    help_engine = subprocess.run([engine_bin, "--help"], capture_output=True, text=True,
                                 check=True)
    assert help_oci.stdout.startswith("usage: nook-oci ")
    assert help_engine.stdout.startswith("usage: nook ")
    oci_cmds = {l.split()[0] for l in help_oci.stdout.split("Commands:")[1].splitlines() if l.strip()}
    assert {"create", "start", "state", "kill", "delete", "spec", "features"} <= oci_cmds
    assert "pull" not in oci_cmds and "images" not in oci_cmds
    assert "oci" in help_engine.stdout.split("Commands:")[1]
    # A runtime-only command is unknown to the engine face, and the reverse.
    p = subprocess.run([engine_bin, "spec", "--bundle", "/nonexistent"], capture_output=True,
                       text=True)
    assert p.returncode != 0 and "unknown command `spec` (see nook --help)" in p.stderr, p.stderr
    p = subprocess.run([nook_bin, "pull", "busybox"], capture_output=True, text=True)
    assert p.returncode != 0 and "unknown command `pull` (see nook-oci --help)" in p.stderr
    # `nook --root R oci --log L run ...` is nook-oci --root R --log L run.
    bundle.args("true").write()
    log = os.path.join(bundle.path, "log.json")
    cid = runtime.new_id("face")
    p = subprocess.run([engine_bin, "--root", runtime.root, "oci", "--log", log, "--log-format",
                        "json", "run", "--bundle", bundle.path, cid], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([engine_bin, "oci", "--root", runtime.root, "state", cid],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "does not exist" in open(log).read() + p.stderr


def test_concurrent_create_delete_50(runtime, bundle):
    bundle.args("sleep", "30").write()
    ids = [runtime.new_id("c") for _ in range(50)]

    def cycle(cid):
        a = runtime.run("create", "--bundle", bundle.path, cid, check=False)
        b = runtime.run("delete", "--force", cid, check=False)
        return a.returncode, b.returncode, a.stderr + b.stderr

    threads, results = [], {}
    for cid in ids:
        t = threading.Thread(target=lambda c=cid: results.__setitem__(c, cycle(c)))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(120)
    bad = {c: r for c, r in results.items() if r[0] or r[1]}
    assert not bad, bad
    assert len(results) == 50
    assert os.listdir(runtime.root) == []


def test_start_waiting_for_the_lock_starts_the_dir_it_locked(runtime, bundle, tmp_path):
    # start opens ROOT/<id> once (the container handle): the lock it waits
    # for, the state it reads and the exec.sock it connects to belong to
    # one directory. Swapped meanwhile for a symlink to another container's
    # directory, start still starts its own container, never the other.
    import fcntl
    bundle.args("sleep", "60")
    bundle.write()
    a, b = runtime.new_id(), runtime.new_id()
    runtime.run("create", "--bundle", bundle.path, a)
    runtime.run("create", "--bundle", bundle.path, b)
    da = os.path.join(runtime.root, a)
    held = da + ".held"
    lock = os.open(os.path.join(da, "lock"), os.O_RDWR | os.O_CLOEXEC)
    fcntl.flock(lock, fcntl.LOCK_EX)
    err = open(tmp_path / "start.err", "w+")
    p = subprocess.Popen(runtime.cmd("start", a), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=err)
    try:
        def waits_on_lock():
            try:
                fds = os.listdir(f"/proc/{p.pid}/fd")
                return any(os.readlink(f"/proc/{p.pid}/fd/{fd}") == f"{da}/lock" for fd in fds)
            except OSError:
                return False
        deadline = time.time() + 15
        while not waits_on_lock():
            assert p.poll() is None and time.time() < deadline, \
                "start never opened the lock: " + open(err.name).read()
            time.sleep(0.02)
        os.rename(da, held)
        os.symlink(b, da)
        fcntl.flock(lock, fcntl.LOCK_UN)
        code = p.wait(timeout=30)
        os.unlink(da)
        os.rename(held, da)
        assert code == 0, open(err.name).read()
        assert runtime.state(a)["status"] == "running"
        assert runtime.state(b)["status"] == "created"
    finally:
        os.close(lock)
        if p.poll() is None:
            p.kill()
            p.wait()
        err.close()
        if os.path.islink(da):
            os.unlink(da)
        if os.path.isdir(held):
            os.rename(held, da)
        runtime.run("delete", "--force", a)
        runtime.run("delete", "--force", b)


def test_bundle_path_not_utf8_is_one_line_and_no_state(runtime, bundle):
    """The state is JSON, which holds only UTF-8: a bundle directory whose
    name is not (byte 0xff) cannot be recorded. Before, the state was saved
    without its bundle and every later command called the container
    corrupt; create now refuses in one line naming the path, and leaves no
    state and no process."""
    bad = bundle.path + "-\udcff"  # the byte 0xff (surrogateescape)
    os.rename(bundle.path, bad)
    bundle.path, bundle.rootfs = bad, os.path.join(bad, "rootfs")
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    p = runtime.run("create", "--bundle", bad, cid, check=False)
    assert p.returncode != 0, "create recorded a bundle path JSON cannot hold"
    err = p.stderr.strip()
    assert len(err.splitlines()) == 1 and "not UTF-8" in err and "\\xff" in err, err
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert cid not in runtime.run("list", "-q").stdout.split()


def test_log_format_json_keeps_a_message_not_utf8(runtime, tmp_path):
    """A JSON log line for an error whose text is not UTF-8 (an id with
    byte 0xff): before, jansson refused the message and the line was
    dropped; now it is written, the byte shown as \\xff."""
    log = tmp_path / "log.json"
    p = subprocess.run(runtime.cmd("--log", str(log), "--log-format", "json", "state",
                                   "bad\udcffid"), capture_output=True, text=True,
                       errors="surrogateescape")
    assert p.returncode != 0
    lines = log.read_text().splitlines() if log.exists() else []
    assert lines, "no JSON log line for the error"
    rec = json.loads(lines[-1])
    assert rec["level"] == "error" and "bad\\xffid" in rec["msg"], rec
