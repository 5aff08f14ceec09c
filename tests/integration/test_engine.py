"""The engine face: `nook run IMAGE` and the container lifecycle, with one
monitor per running container (src/engine/monitor, docs/engine.md).

Every test has its own store (NOOK_STORE), engine state root (NOOK_ROOT) and
cgroup parent (NOOK_CGROUP_PARENT); at teardown the `engine` fixture removes
what the test left with `nook rm -f` and FAILS the test if anything leaked:
mounts under the store, cgroups under the test's parent, processes (the
monitors carry the test's root in their argv, the inits live in its
cgroups), runtime state, container directories, names or volumes.
"""
import json
import tempfile
import os
import pty
import re
import select
import signal
import subprocess
import threading
import time

import pytest

from conftest import wait_for

from engine_util import CGROUP_BASE, engine  # noqa: F401 (engine: the fixture)


def up_count(engine):
    return len(engine.run("ps", "-q").stdout.split())


# ---- run in the foreground --------------------------------------------------

def test_run_rm_busybox_on_a_fresh_store(engine):
    p = engine.run("run", "--rm", "busybox", "echo", "hi")
    assert p.stdout == "hi\n"
    assert engine.run("ps", "-aq").stdout == ""


def test_run_container_sees_its_own_world(engine):
    """hostname = the id's first 12 characters, pid 1 is the command, only
    lo in its network namespace, stdout and stderr kept apart, the exit code
    passed through."""
    script = ("hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /sys/class/net; "
              "echo oops >&2; exit 7")
    p = engine.run("run", "--name", "world", "busybox", "sh", "-c", script, check=False)
    assert p.returncode == 7, p.stderr
    lines = p.stdout.splitlines()
    cid = engine.inspect("world")["Id"]
    assert lines[0] == cid[:12]
    assert lines[1].startswith("sh -c hostname")
    assert lines[2:] == ["lo"]
    assert p.stderr == "oops\n"
    st = engine.state("world")
    assert st["Status"] == "exited" and st["ExitCode"] == 7 and not st["Running"]
    engine.run("rm", "world")


def test_run_stdin_interactive(engine):
    p = engine.run("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z; echo end",
                   input="hello\nworld\n")
    assert p.stdout == "HELLO\nWORLD\nend\n"


def test_run_tty_gives_a_terminal(engine):
    """-t: the container's stdio is a pty (the monitor holds its master);
    our terminal relays it."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(engine.bin, [engine.bin, "run", "--rm", "-t", "busybox", "sh", "-c",
                               "tty; stty size; exit 3"], engine.env)
    out = b""
    while True:
        try:
            r, _, _ = select.select([fd], [], [], 20)
            if not r:
                break
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode()
    assert os.waitstatus_to_exitcode(status) == 3, text
    assert re.search(r"/dev/pts/\d+", text), text


def test_kill_signals_the_init(engine):
    engine.run("run", "-d", "--name", "sig", "busybox", "sh", "-c",
               "trap 'exit 11' USR1; while :; do sleep 0.1; done")
    time.sleep(0.3)
    engine.run("kill", "-s", "USR1", "sig")
    assert engine.run("wait", "sig").stdout == "11\n"
    p = engine.run("kill", "sig", check=False)
    assert p.returncode == 1 and "not running" in p.stderr
    engine.run("start", "sig")
    engine.run("kill", "sig")  # SIGKILL: 128 + 9
    assert engine.run("wait", "sig").stdout == "137\n"
    engine.run("rm", "sig")


# ---- detached containers ------------------------------------------------------

def test_detached_lifecycle(engine):
    cid = engine.run("run", "-d", "--name", "web", "--label", "tier=front", "busybox", "sh",
                     "-c", "echo started; exec sleep 100").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    wait_for(lambda: "started" in engine.run("logs", "web").stdout, 10, "the log line")
    rows = [json.loads(line) for line in engine.run("ps", "--format", "json").stdout.splitlines()]
    assert [(r["ID"], r["Names"], r["State"]) for r in rows] == [(cid[:12], "web", "running")]
    st = engine.state(cid[:8])  # a unique prefix
    assert st["Running"] and st["Pid"] > 0
    # The init really runs `sleep 100`, in a cgroup under the test's parent.
    with open(f"/proc/{st['Pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"100"]
    with open(f"/proc/{st['Pid']}/cgroup") as f:
        assert f"{engine.cg_parent}/{cid}" in f.read()
    assert engine.run("ps", "--format", "{{.Names}} {{.Labels}}").stdout == "web tier=front\n"
    engine.run("stop", "-t", "1", "web")
    st = engine.state("web")
    assert st["Status"] == "exited" and st["ExitCode"] == 137  # sleep ignores SIGTERM as pid 1
    assert not os.path.exists(f"/proc/{st['Pid']}") or st["Pid"] == 0
    assert engine.run("ps", "-q").stdout == ""
    assert engine.run("ps", "-aq").stdout == cid[:12] + "\n"
    engine.run("rm", "web")
    assert not os.path.exists(engine.cdir(cid))


def test_format_templates(engine):
    """--format takes the Go templates scripts use, over what the container
    really has: range over the mounts it was given, its labels in key
    order, its pid; a broken template is one line and exit 1."""
    vol = tempfile.mkdtemp(dir=engine.tmp)
    engine.run("run", "-d", "--name", "f", "-l", "b=2", "-l", "a=1", "-v", f"{vol}:/hv:ro",
               "-v", "fdata:/data", "busybox", "sleep", "100")
    pid = engine.state("f")["Pid"]
    out = engine.run("inspect", "-f", "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}",
                     "f").stdout
    assert out == "bind:/hv volume:/data \n"
    with open(f"/proc/{pid}/mountinfo") as m:  # what the container sees matches
        seen = {l.split()[4] for l in m}
    assert {"/hv", "/data"} <= seen
    out = engine.run("inspect", "-f", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}"
                     "{{if .State.Running}} up {{.State.Pid}}{{end}}", "f").stdout
    assert out == f"a=1,b=2, up {pid}\n"
    out = engine.run("container", "ls", "--format", "table {{.Names}}\\t{{upper .State}}").stdout
    assert out.split("\n")[:2] == ["NAMES   STATE", "f       RUNNING"], out
    assert engine.run("ps", "--format", "{{len .Labels}}").stdout == "7\n"  # a=1,b=2
    assert engine.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split() == [
        "busybox:latest"]
    assert engine.run("volume", "ls", "--format", "{{.Name}} {{.Driver}}").stdout == \
        "fdata local\n"
    mp = engine.run("volume", "inspect", "-f", "{{.Mountpoint}}", "fdata").stdout.strip()
    assert mp == os.path.join(engine.store, "volumes", "fdata", "_data")
    assert any(l.split()[4] == "/data" for l in open(f"/proc/{pid}/mountinfo"))
    for cmd in (("inspect", "-f", "{{range .Mounts}}"), ("ps", "--format", "{{.Names"),
                ("images", "--format", "{{nofunc}}"), ("inspect", "-f", "{{index .Mounts 7}}")):
        p = engine.run(*cmd, *(["f"] if cmd[0] == "inspect" else []), check=False)
        assert p.returncode == 1 and p.stdout == "" and len(p.stderr.splitlines()) == 1, p
        assert "template" in p.stderr, p.stderr
    engine.run("rm", "-f", "-v", "f")
    engine.run("volume", "rm", "fdata")


def test_stop_with_a_signal_the_process_handles(engine):
    engine.run("run", "-d", "--name", "t", "busybox", "sh", "-c",
               "trap 'echo bye; exit 5' TERM; while :; do sleep 0.1; done")
    time.sleep(0.3)
    t0 = time.monotonic()
    engine.run("stop", "t")
    assert time.monotonic() - t0 < 5
    assert engine.state("t")["ExitCode"] == 5
    assert "bye" in engine.run("logs", "t").stdout
    engine.run("rm", "t")


def test_log_is_k8s_file_format(engine):
    engine.run("run", "--name", "l", "busybox", "sh", "-c",
               "echo one; echo two >&2; printf partial")
    cid = engine.inspect("l")["Id"]
    with open(os.path.join(engine.cdir(cid), "ctr.log")) as f:
        lines = f.read().splitlines()
    ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
    out = [x for x in lines if " stdout " in x]
    assert re.fullmatch(ts + " stdout F one", out[0]), lines
    assert re.fullmatch(ts + " stdout P partial", out[1]), lines
    assert [x for x in lines if re.fullmatch(ts + " stderr F two", x)], lines
    p = engine.run("logs", "l")
    assert p.stdout == "one\npartial" and p.stderr == "two\n"
    p = engine.run("logs", "--tail", "2", "l")  # the log's order: one, partial, two
    assert p.stdout == "partial" and p.stderr == "two\n"
    assert re.match(ts + " one\n", engine.run("logs", "-t", "l").stdout)
    engine.run("rm", "l")


def test_logs_follow_ends_with_the_container(engine):
    engine.run("run", "-d", "--name", "f", "busybox", "sh", "-c",
               "for i in 1 2 3; do echo line$i; sleep 0.2; done")
    p = engine.run("logs", "-f", "f", timeout=20)
    assert p.stdout == "line1\nline2\nline3\n"
    engine.run("rm", "f")


def test_wait_prints_the_exit_code(engine):
    engine.run("run", "-d", "--name", "w", "busybox", "sh", "-c", "sleep 0.3; exit 42")
    assert engine.run("wait", "w").stdout == "42\n"
    engine.run("rm", "w")


def test_create_then_start_attach(engine):
    cid = engine.run("create", "--name", "c", "busybox", "sh", "-c", "echo from-start; exit 3"
                     ).stdout.strip()
    assert engine.state("c")["Status"] == "created"
    p = engine.run("start", "-a", "c", check=False)
    assert p.returncode == 3 and p.stdout == "from-start\n"
    # start again: it runs again, its log grows
    engine.run("start", "c")
    assert engine.run("wait", cid).stdout == "3\n"
    assert engine.run("logs", "c").stdout == "from-start\nfrom-start\n"
    engine.run("rm", "c")


def test_restart_policy_on_failure(engine):
    engine.run("run", "-d", "--name", "r", "--restart", "on-failure:2", "busybox", "sh", "-c",
               "echo try; exit 4")
    wait_for(lambda: engine.state("r")["Status"] == "exited"
             and engine.inspect("r")["RestartCount"] == 2, 15, "two restarts")
    assert engine.run("logs", "r").stdout == "try\ntry\ntry\n"
    assert engine.state("r")["ExitCode"] == 4
    engine.run("rm", "r")


def test_restart_always_stops_on_stop(engine):
    engine.run("run", "-d", "--name", "a", "--restart", "always", "busybox", "sh", "-c",
               "echo x; sleep 0.1")
    wait_for(lambda: engine.inspect("a")["RestartCount"] >= 2, 15, "restarts")
    engine.run("stop", "-t", "1", "a")
    st = engine.state("a")
    assert st["Status"] == "exited" and not st["MonitorPid"]
    n = len(engine.run("logs", "a").stdout.split())
    time.sleep(0.5)
    assert len(engine.run("logs", "a").stdout.split()) == n  # no more restarts
    engine.run("rm", "a")


def test_rm_running_needs_force(engine):
    engine.run("run", "-d", "--name", "busy", "busybox", "sleep", "100")
    p = engine.run("rm", "busy", check=False)
    assert p.returncode == 1 and "rm -f" in p.stderr
    assert engine.state("busy")["Running"]
    engine.run("rm", "-f", "busy")
    assert engine.run("ps", "-aq").stdout == ""


def test_exec_in_a_running_container(engine):
    engine.run("run", "-d", "--name", "x", "busybox", "sleep", "100")
    p = engine.run("exec", "-e", "A=b", "-w", "/tmp", "x", "sh", "-c",
                   "echo $A; pwd; cat /proc/1/cmdline | tr '\\0' ' '; exit 9", check=False)
    assert p.returncode == 9
    assert p.stdout == "b\n/tmp\nsleep 100 "
    p = engine.run("exec", "x", "nosuchcommand", check=False)
    assert p.returncode == 127 and "nosuchcommand" in p.stderr
    engine.run("rm", "-f", "x")


def test_pause_unpause_and_rm_f_of_a_paused_container(engine):
    cid = engine.run("run", "-d", "--name", "p", "busybox", "sleep", "100").stdout.strip()
    engine.run("pause", "p")
    assert engine.state("p")["Status"] == "paused"
    assert "(Paused)" in engine.run("ps").stdout
    engine.run("unpause", "p")
    assert engine.state("p")["Status"] == "running"
    engine.run("pause", "p")
    engine.run("rm", "-f", "p")
    assert not os.path.exists(engine.cdir(cid))


def test_rename_and_lookups(engine):
    cid = engine.run("create", "--name", "old", "busybox", "true").stdout.strip()
    engine.run("rename", "old", "new")
    assert engine.inspect("new")["Name"] == "/new"
    p = engine.run("inspect", "old", check=False)
    assert p.returncode == 1 and "no such container: old" in p.stderr
    assert engine.inspect(cid[:5])["Id"] == cid
    engine.run("create", "--name", "other", "busybox", "true")
    p = engine.run("rename", "new", "other", check=False)
    assert p.returncode == 1 and "already in use" in p.stderr
    engine.run("rm", "new", "other")


def test_ps_filters(engine):
    engine.run("run", "-d", "--name", "a1", "--label", "k=v", "busybox", "sleep", "100")
    engine.run("create", "--name", "b1", "busybox", "true")
    names = lambda *f: sorted(engine.run("ps", "-a", "--format", "{{.Names}}", *f).stdout.split())
    assert names() == ["a1", "b1"]
    assert names("--filter", "status=created") == ["b1"]
    assert names("--filter", "label=k=v") == ["a1"]
    assert names("--filter", "label=k") == ["a1"]
    assert names("--filter", "name=b") == ["b1"]
    assert names("--filter", "ancestor=busybox") == ["a1", "b1"]
    cid = engine.inspect("a1")["Id"]
    assert names("--filter", f"id={cid[:6]}") == ["a1"]
    p = engine.run("ps", "--filter", "bogus=1", check=False)
    assert p.returncode != 0 and "bogus=1" in p.stderr
    engine.run("rm", "-f", "a1", "b1")


def test_user_namespace_owns_its_rootfs_and_volumes(engine):
    """--uidmap: the image's layers are idmapped (the container's root owns
    what root owns in the image), and what it writes lands on the host
    with its host ids: upper/, copy-ups, a volume made for it, its /etc
    files. A file the map does not reach shows as nobody's and stays
    out of reach, as the kernel wants."""
    engine.run("run", "--name", "base", "busybox", "sh", "-c",
               "touch /far && chown 5000:5000 /far")
    engine.run("commit", "base", "farimg")
    engine.run("rm", "base")
    # the test's tmp dir is 0700: the mapped root could not reach the store
    p = engine.run("run", "--rm", "--uidmap", "0:100000:1000", "farimg", "true", check=False)
    assert p.returncode == 125 and "can't reach its root filesystem" in p.stderr, p.stderr
    assert len(p.stderr.splitlines()) == 1 and os.listdir(engine.cdir("")) == []
    d = engine.store
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o111)
        d = os.path.dirname(d)
    p = engine.run("run", "--name", "u", "--uidmap", "0:100000:1000", "-v", "uvol:/data",
                   "farimg", "sh", "-c",
                   "cat /proc/self/uid_map; id -u; stat -c '%u %g' / /bin/busybox /far; "
                   "touch /new /data/f && echo 1.2.3.4 x >> /etc/hosts && "
                   "echo y >> /etc/passwd && echo wrote; echo z >> /far || echo far-refused")
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["0", "100000", "1000"]
    assert lines[1:5] == ["0", "0 0", "0 0", "65534 65534"], p.stdout
    assert lines[5:] == ["wrote", "far-refused"], p.stdout + p.stderr
    cid = engine.inspect("u")["Id"]
    upper = os.path.join(engine.cdir(cid), "upper")
    for path in ("", "new", "etc/passwd"):
        st = os.lstat(os.path.join(upper, path))
        assert (st.st_uid, st.st_gid) == (100000, 100000), path
    vol = os.path.join(engine.store, "volumes", "uvol", "_data")
    assert (os.lstat(os.path.join(vol, "f")).st_uid, os.lstat(vol).st_uid) == (100000, 100000)
    assert os.lstat(os.path.join(engine.cdir(cid), "hosts")).st_uid == 100000
    # a later start makes its overlay the same way (from image.json)
    engine.run("start", "-a", "u")
    engine.run("rm", "-v", "u")
    engine.run("volume", "rm", "uvol")
    engine.run("rmi", "farimg")


def test_container_prune(engine):
    engine.run("run", "--name", "done", "busybox", "true")
    engine.run("create", "--name", "made", "busybox", "true")
    engine.run("run", "-d", "--name", "live", "busybox", "sleep", "100")
    engine.run("container", "prune", "-f")
    assert engine.run("container", "ls", "-a", "--format", "{{.Names}}").stdout == "live\n"
    engine.run("rm", "-f", "live")


def test_memory_limit_in_the_cgroup(engine):
    engine.run("run", "-d", "--name", "m", "--memory", "64m", "--pids-limit", "50", "busybox",
               "sleep", "100")
    pid = engine.state("m")["Pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        paths = dict((l.split(":")[1], l.split(":")[2].strip()) for l in f.read().splitlines())
    limits = []
    for ctrl, fname in (("memory", "memory.limit_in_bytes"), ("", "memory.max")):
        if ctrl in paths:
            base = f"{CGROUP_BASE}/{ctrl}" if ctrl else f"{CGROUP_BASE}/unified"
            path = f"{base}{paths[ctrl]}/{fname}"
            if os.path.exists(path):
                with open(path) as f:
                    limits.append(f.read().strip())
    assert str(64 << 20) in limits, (paths, limits)
    engine.run("rm", "-f", "m")


# ---- bad input ----------------------------------------------------------------

@pytest.mark.parametrize("args,code,text", [
    (["--bogus", "busybox", "true"], 125, "--bogus"),
    (["--memory", "lots", "busybox", "true"], 125, "lots"),
    (["--pull", "never", "nosuchimage:1", "true"], 125, "nosuchimage:1"),
    (["busybox", "nosuchcommand"], 127, "nosuchcommand"),
    (["busybox", "/etc/passwd"], 126, "permission denied"),
    (["--name", "bad/name", "busybox", "true"], 125, "bad/name"),
])
def test_run_errors_exit_codes(engine, args, code, text):
    p = engine.run("run", "--rm", *args, check=False)
    assert p.returncode == code, p.stderr
    assert text in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert engine.run("ps", "-aq").stdout == ""  # nothing left (--rm)


def test_command_not_found_without_rm_leaves_a_created_container(engine):
    p = engine.run("run", "--name", "nf", "busybox", "nosuchcommand", check=False)
    assert p.returncode == 127
    assert engine.state("nf")["Status"] == "created"
    engine.run("rm", "nf")


# ---- hostile ------------------------------------------------------------------

def test_two_runs_with_one_name_at_once(engine):
    engine.run("images")  # the store exists before the race
    procs = [engine.popen("run", "-d", "--name", "same", "busybox", "sleep", "100",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    res = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in res)
    assert codes == [0, 125], res
    loser = [r for r in res if r[2] == 125][0]
    assert "already in use" in loser[1]
    assert len(engine.run("ps", "-aq").stdout.split()) == 1
    assert len(os.listdir(os.path.join(engine.store, "containers"))) == 1
    engine.run("rm", "-f", "same")


def test_monitor_killed_keeps_the_truth(engine):
    """kill -9 of the monitor: the container still runs and ps says so; once
    its init dies too, ps says exited with an unknown code; rm -f cleans."""
    engine.run("run", "-d", "--name", "k", "busybox", "sleep", "100")
    st = engine.state("k")
    os.kill(st["MonitorPid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{st['MonitorPid']}/cmdline")
             or open(f"/proc/{st['MonitorPid']}/stat").read().split()[2] == "Z", 5, "monitor gone")
    time.sleep(0.1)
    now = engine.state("k")
    assert now["Status"] == "running" and now["Pid"] == st["Pid"] and not now["MonitorPid"]
    os.kill(st["Pid"], signal.SIGKILL)
    wait_for(lambda: engine.state("k")["Status"] == "exited", 10, "exited")
    assert engine.state("k")["ExitCode"] == -1
    assert "Exited (unknown)" in engine.run("ps", "-a").stdout
    engine.run("rm", "-f", "k")


def test_monitor_killed_then_rm_f(engine):
    engine.run("run", "-d", "--name", "k2", "busybox", "sleep", "100")
    st = engine.state("k2")
    os.kill(st["MonitorPid"], signal.SIGKILL)
    engine.run("rm", "-f", "k2")
    assert not os.path.exists(f"/proc/{st['Pid']}/cmdline") or \
        open(f"/proc/{st['Pid']}/stat").read().split()[2] == "Z"


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_monitor_killed_during_setup(engine):
    """Set-up runs in a child of the monitor (it hands the fds over and
    exits). kill -9 of the monitor while that child still works: the child
    dies with it (PDEATHSIG), nothing is left running, ps -a still answers
    and rm -f cleans up (the fixture checks mounts, cgroups, state)."""
    names = os.path.join(engine.store, "container-names")
    hit = 0
    for i in range(5):
        p = engine.popen("run", "-d", "--name", f"ks{i}", "busybox", "sleep", "100",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killed = None
        deadline = time.monotonic() + 20
        while p.poll() is None and time.monotonic() < deadline and not killed:
            try:
                cid = os.readlink(os.path.join(names, f"ks{i}"))
                with open(os.path.join(engine.cdir(cid), "monitor")) as f:
                    mon = int(f.read().split()[0])
                with open(f"/proc/{mon}/task/{mon}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except (OSError, ValueError, IndexError):
                continue
            with open(f"/proc/{mon}/cmdline", "rb") as f:
                assert b"monitor" in f.read()
            os.kill(mon, signal.SIGKILL)
            killed = (mon, kids)
        p.communicate(timeout=60)
        if killed:
            hit += 1
            mon, kids = killed
            wait_for(lambda: _gone(mon) and all(_gone(k) for k in kids), 10,
                     "the monitor and its set-up child gone")
        assert f"ks{i}" in engine.run("ps", "-a", "--format", "{{.Names}}").stdout
        engine.run("rm", "-f", f"ks{i}")
        assert engine.run("ps", "-aq").stdout == ""
    print(f"monitor killed during set-up {hit} times of 5")


def test_rm_monitor_killed_after_retiring_ps_sweeps(engine):
    """A --rm monitor deletes the runtime state (cgroups, state dir) only
    after telling the exit code, the container already retired (record
    gone, directory moved to the trash, name released). Killed -9 in
    between, it leaves exactly that: the next ps deletes the runtime
    state and buries the rest."""
    cid = engine.run("run", "-d", "--rm", "--name", "ret", "busybox", "sleep",
                     "100").stdout.strip()
    st = engine.state("ret")
    os.kill(st["MonitorPid"], signal.SIGKILL)
    os.kill(st["Pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{st['MonitorPid']}/cmdline"), 5, "monitor gone")
    # what the monitor's retire did (nk_ctr_retire), as it did it
    os.unlink(os.path.join(engine.cdir(cid), "container.json"))
    os.rename(engine.cdir(cid), os.path.join(engine.store, "containers", ".trash-" + cid))
    os.unlink(os.path.join(engine.store, "container-names", "ret"))
    assert os.path.isdir(os.path.join(engine.root, cid)) and engine.cgroup_dirs()
    assert engine.run("ps", "-a").stdout.count("\n") == 1  # the header alone
    assert not os.path.exists(os.path.join(engine.root, cid))
    assert not engine.cgroup_dirs()
    assert os.listdir(os.path.join(engine.store, "containers")) == []


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.2, 0.4])
def test_run_killed_during_start(engine, delay):
    """kill -9 of `nook run` at some point of its start: whatever it left,
    ps lists it (or nothing was made) and rm -f removes all of it (the
    fixture checks)."""
    engine.run("images")
    p = engine.popen("run", "--name", "victim", "busybox", "sleep", "100",
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    p.kill()
    p.wait()
    time.sleep(0.2)
    ids = engine.run("ps", "-aq", "--no-trunc").stdout.split()
    on_disk = os.listdir(os.path.join(engine.store, "containers")) \
        if os.path.isdir(os.path.join(engine.store, "containers")) else []
    assert sorted(ids) == sorted(on_disk)
    for cid in ids:
        engine.run("rm", "-f", cid)


def test_parallel_run_rm_cycles_leave_nothing(engine):
    """50 `run -d` / `rm -f` cycles at once, with `ps -a` (which sweeps
    what removals leave) running all along: every cycle succeeds, and
    the fixture finds no mount, cgroup, process, runtime state, container
    directory, name or volume left."""
    engine.run("images")
    errors = []
    done = threading.Event()

    def cycle(i):
        r = engine.run("run", "-d", "--name", f"par{i}", "busybox", "sleep", "100", check=False)
        if r.returncode != 0:
            errors.append(r.stderr)
            return
        r = engine.run("rm", "-f", f"par{i}", check=False)
        if r.returncode != 0:
            errors.append(r.stderr)

    def lister():
        while not done.is_set():
            r = engine.run("ps", "-a", check=False)
            if r.returncode != 0:
                errors.append(r.stderr)

    t0 = time.monotonic()
    threads = [threading.Thread(target=cycle, args=(i,)) for i in range(50)]
    ps = threading.Thread(target=lister)
    ps.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    ps.join()
    print(f"50 parallel run -d / rm -f cycles: {time.monotonic() - t0:.1f} s")
    assert not errors
    assert engine.run("ps", "-aq").stdout == ""
    names = os.path.join(engine.store, "container-names")
    assert set(os.listdir(names)) <= {".lock"}


def test_monitor_is_small(engine):
    engine.run("run", "-d", "--name", "s", "busybox", "sleep", "100")
    st = engine.state("s")
    mon = st["MonitorPid"]
    # Set-up ran in a child of the monitor that exited: the loop is the
    # image the monitor's exec made (no --resume exec, even once the
    # container has run a while), and the init, orphaned, is the
    # monitor's child (a subreaper).
    time.sleep(0.5)
    with open(f"/proc/{mon}/cmdline", "rb") as f:
        assert b"--resume=" not in f.read()
    with open(f"/proc/{st['Pid']}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == mon
    with open(f"/proc/{mon}/status") as f:
        assert re.search(r"^Threads:\s+1$", f.read(), re.M)
    children = open(f"/proc/{mon}/task/{mon}/children").read().split()
    assert children == [str(st["Pid"])], children
    with open(f"/proc/{mon}/smaps_rollup") as f:
        pss = int(re.search(r"^Pss:\s+(\d+) kB", f.read(), re.M).group(1))
    # One monitor alone pays for every page of nook it touches; with many
    # they share them (bench/engine.sh measures 20).
    assert pss < 1024, pss
    # Detached: not our child, in a session of its own that it does not
    # lead (it could not take a terminal).
    with open(f"/proc/{mon}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ppid, sid = int(fields[1]), int(fields[3])
    assert ppid != os.getpid() and sid != os.getsid(0) and sid != mon
    # The init's exit still reaches it: the exit code is recorded.
    engine.run("kill", "s")
    wait_for(lambda: not engine.state("s")["Running"], 10, "the exit")
    assert engine.state("s")["ExitCode"] == 137
    engine.run("rm", "-f", "s")


def test_monitor_holds_none_of_its_starters_fds(engine, tmp_path):
    """The monitor drops every fd of the process that started it, the
    --log file and an fd the caller passed included, and keeps the status
    pipe only until the container runs."""
    log = tmp_path / "nook.log"
    r, w = os.pipe()
    try:
        p = subprocess.run([engine.bin, "--log", str(log), "run", "-d", "--name", "fds",
                            "busybox", "sleep", "100"], env=engine.env, capture_output=True,
                           text=True, pass_fds=(r, w), timeout=60)
        assert p.returncode == 0, p.stderr
        mon = engine.state("fds")["MonitorPid"]
        caller_pipe = os.readlink(f"/proc/self/fd/{r}")
        for _ in range(2):  # at once, and once set-up's process is surely gone
            held = {}
            for fd in os.listdir(f"/proc/{mon}/fd"):
                try:
                    held[int(fd)] = os.readlink(f"/proc/{mon}/fd/{fd}")
                except FileNotFoundError:
                    pass
            assert held[0] == held[1] == held[2] == "/dev/null"
            assert str(log) not in held.values() and caller_pipe not in held.values()
            # ctr.log, the attach socket, the container dir, the init's
            # pidfd and output pipes, a signalfd: nothing else
            assert len(held) <= 3 + 7, held
            time.sleep(0.3)
    finally:
        os.close(r)
        os.close(w)
    engine.run("rm", "-f", "fds")


def test_restart_command_runs_it_again(engine):
    engine.run("run", "-d", "--name", "rs", "busybox", "sh", "-c", "echo up; sleep 100")
    pid1 = engine.state("rs")["Pid"]
    engine.run("restart", "-t", "1", "rs")
    st = engine.state("rs")
    assert st["Running"] and st["Pid"] != pid1
    wait_for(lambda: engine.run("logs", "rs").stdout == "up\nup\n", 10, "two runs in the log")
    engine.run("rm", "-f", "rs")


def test_log_rotation_by_max_size(engine):
    engine.run("run", "--name", "rot", "--log-opt", "max-size=2k", "--log-opt", "max-file=2",
               "busybox", "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done")
    cdir = engine.cdir(engine.inspect("rot")["Id"])
    files = sorted(f for f in os.listdir(cdir) if f.startswith("ctr.log"))
    assert files == ["ctr.log", "ctr.log.1"], files
    for f in files:
        assert os.path.getsize(os.path.join(cdir, f)) < 2048 + 200
    # logs reads the kept files in order: the newest lines, the oldest
    # gone with the rotation.
    out = engine.run("logs", "rot").stdout.split()
    assert out[-1] == "line299" and "line0" not in out
    first = int(out[0][4:])
    assert out == [f"line{i}" for i in range(first, 300)]
    assert engine.run("logs", "--tail", "3", "rot").stdout.split() == [
        "line297", "line298", "line299"]
    engine.run("rm", "rot")


def test_cidfile_and_signal_forwarding(engine):
    """--cidfile gets the id; a SIGTERM to `nook run` reaches the
    container's process (its trap decides the exit code)."""
    cidfile = os.path.join(engine.tmp, "cid")
    p = engine.popen("run", "--rm", "--cidfile", cidfile, "busybox", "sh", "-c",
                     "trap 'echo got-term; exit 21' TERM; echo ready; "
                     "while :; do sleep 0.1; done", stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    with open(cidfile) as f:
        assert re.fullmatch(r"[0-9a-f]{64}", f.read())
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 21 and out == "got-term\n"


def test_etc_files_are_the_containers_own(engine):
    """/etc/hostname, /etc/hosts and /etc/resolv.conf: files of the
    container's own (its directory), the image's left as they were."""
    p = engine.run("run", "--name", "etc", "busybox", "sh", "-c",
                   "cat /etc/hostname; grep localhost /etc/hosts | head -1; "
                   "echo changed > /etc/hosts")
    cid = engine.inspect("etc")["Id"]
    assert p.stdout.splitlines() == [cid[:12], "127.0.0.1\tlocalhost"]
    with open(os.path.join(engine.cdir(cid), "hosts")) as f:
        assert f.read() == "changed\n"
    p = engine.run("run", "--rm", "busybox", "cat", "/etc/hosts")
    assert "changed" not in p.stdout and "localhost" in p.stdout
    engine.run("rm", "etc")


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.06, 0.1])
def test_rm_killed_halfway_then_rm_f(engine, delay):
    """kill -9 of `nook rm -f` at some point: ps shows what is left and a
    second rm -f finishes the job (the fixture checks nothing leaks)."""
    cid = engine.run("run", "-d", "--name", "half", "busybox", "sleep", "100").stdout.strip()
    p = engine.popen("rm", "-f", "half", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    p.kill()
    p.wait()
    left = engine.run("ps", "-aq", "--no-trunc").stdout.split()
    assert left in ([], [cid])
    if left:
        engine.run("rm", "-f", cid)
    assert engine.run("ps", "-aq").stdout == ""


def test_inspect_docker_fields(engine):
    engine.run("create", "--name", "ins", "--label", "a=b", "-e", "X=1", "--restart",
               "on-failure:3", "busybox", "echo", "hi")
    i = engine.inspect("ins")
    assert re.fullmatch(r"[0-9a-f]{64}", i["Id"]) and i["Name"] == "/ins"
    assert i["Path"] == "echo" and i["Args"] == ["hi"]
    assert i["Config"]["Image"] == "busybox" and i["Config"]["Cmd"] == ["echo", "hi"]
    assert "X=1" in i["Config"]["Env"] and i["Config"]["Labels"] == {"a": "b"}
    assert i["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    st = i["State"]
    assert st["Status"] == "created" and st["Pid"] == 0 and not st["Running"]
    assert st["StartedAt"] == "0001-01-01T00:00:00Z"
    assert engine.run("inspect", "-f", "{{.Config.Image}} {{json .Config.Labels}}",
                      "ins").stdout == 'busybox {"a":"b"}\n'
    engine.run("rm", "ins")


def test_attach_and_detach_keys(engine):
    """attach relays a running container's output and our stdin to it;
    on a terminal ctrl-p ctrl-q detaches and leaves it running."""
    engine.run("run", "-d", "-i", "--name", "att", "busybox", "sh", "-c",
               "echo ready; read l; echo got:$l; sleep 100")
    # "ready" before attaching: an attach that comes first rightly gets it
    # (the monitor's loop reads the output at once; under load the shell
    # may print it after attach connected)
    wait_for(lambda: "ready" in engine.run("logs", "att").stdout, 10, "ready")
    p = engine.popen("attach", "att", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdin.write("hello\n")
    p.stdin.flush()
    wait_for(lambda: "got:hello" in engine.run("logs", "att").stdout, 10, "the line read")
    assert p.stdout.readline() == "got:hello\n"
    p.kill()
    p.wait()
    engine.run("rm", "-f", "att")
    engine.run("run", "-d", "-it", "--name", "tt", "busybox", "sh")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(engine.bin, [engine.bin, "attach", "tt"], engine.env)
    time.sleep(0.5)
    os.write(fd, b"echo in-tty\r")
    time.sleep(0.3)
    os.write(fd, b"\x10\x11")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert engine.state("tt")["Running"]
    assert "in-tty" in engine.run("logs", "tt").stdout
    engine.run("rm", "-f", "tt")


def test_volumes_with_the_container_lifecycle(engine):
    """-v HOST:/p binds a host directory; a named volume outlives its
    containers and `volume rm` refuses it while one uses it; anonymous
    volumes go with --rm and with rm -v."""
    host_dir = os.path.join(engine.tmp, "shared")
    os.mkdir(host_dir)
    with open(os.path.join(host_dir, "in"), "w") as f:
        f.write("from-host\n")
    p = engine.run("run", "--rm", "-v", f"{host_dir}:/data", "-v", "keep:/keep", "-v", "/anon",
                   "busybox", "sh", "-c",
                   "cat /data/in; echo out > /data/out; echo kept > /keep/f; echo x > /anon/f")
    assert p.stdout == "from-host\n"
    with open(os.path.join(host_dir, "out")) as f:
        assert f.read() == "out\n"
    vols = lambda: sorted(engine.run("volume", "ls", "-q").stdout.split())
    # the anonymous one goes with --rm: the monitor removes it after it
    # told `nook run` the exit code, so a loaded machine may take a moment
    wait_for(lambda: vols() == ["keep"], 20, "the --rm container's anonymous volume removed")
    engine.run("run", "-d", "--name", "user", "-v", "keep:/keep", "-v", "/anon2", "busybox",
               "sh", "-c", "cat /keep/f; sleep 100")
    wait_for(lambda: engine.run("logs", "user").stdout == "kept\n", 10, "the volume's file")
    assert len(vols()) == 2
    p = engine.run("volume", "rm", "keep", check=False)
    assert p.returncode != 0 and "in use" in p.stderr
    engine.run("rm", "-f", "-v", "user")
    assert vols() == ["keep"]
    engine.run("volume", "rm", "keep")


def test_help_and_short_hostname_flag(engine):
    """Every container command answers --help; run's -h is --hostname."""
    for cmd in ("run", "create", "start", "stop", "restart", "kill", "rm", "ps", "logs", "wait",
                "inspect", "exec", "attach", "pause", "unpause", "rename", "top", "stats", "update",
                "cp", "diff"):
        p = engine.run(cmd, "--help")
        assert p.stdout.startswith(f"usage: nook {cmd} "), (cmd, p.stdout)
    assert "--restart" in engine.run("run", "--help").stdout
    # Docker's `container` group: the same commands, the same help
    for sub, cmd in (("ls", "ps"), ("list", "ps"), ("rm", "rm"), ("exec", "exec"),
                     ("inspect", "inspect"), ("prune", "container prune")):
        p = engine.run("container", sub, "--help")
        assert p.stdout.startswith(f"usage: nook {cmd} "), (sub, p.stdout)
    p = engine.run("container", "bogus", check=False)
    assert p.returncode == 1 and "bogus" in p.stderr
    assert engine.run("run", "--rm", "-h", "myhost", "busybox", "hostname").stdout == "myhost\n"


def test_monitor_survives_failed_restarts(engine):
    """A restart that cannot start (the command deleted itself from the
    container's filesystem) is logged and counted as an exit (127); the
    monitor lives on with its back-off, and stop ends it."""
    engine.run("run", "-d", "--name", "gone", "--restart", "always", "busybox", "sh", "-c",
               "rm /bin/busybox")
    wait_for(lambda: engine.inspect("gone")["RestartCount"] >= 3, 20, "failed restarts")
    st = engine.state("gone")
    assert st["MonitorPid"] and st["ExitCode"] == 127, st
    assert "not found" in engine.run("logs", "gone").stderr
    engine.run("stop", "-t", "1", "gone")
    st = engine.state("gone")
    assert st["Status"] == "exited" and not st["MonitorPid"]
    engine.run("rm", "gone")
