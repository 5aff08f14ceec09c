"""`nook run --init`: nook-init (src/init/init.c) as the container's PID 1,
the command its child. Each test reads what the container and the host
really see: /proc/1/cmdline, the processes of the container's cgroup and
their states, exit codes the monitor records. The `engine` fixture fails a
test that leaks anything."""
import os
import tarfile
import time

from conftest import wait_for
from engine_util import engine  # noqa: F401 (engine: the fixture)


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2], text[text.index("(") + 1:text.rindex(")")]


def tree(pid):
    """(pid, state, comm) of pid and its descendants, zombies included (a
    zombie has left its cgroup's cgroup.procs but not its parent's
    children list)."""
    out = []
    try:
        out.append((pid, *stat(pid)))
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return out
    for k in kids:
        out += tree(k)
    return out


def test_init_is_pid_1_and_the_command_its_child(engine):
    script = "echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; grep ' /dev/init ' /proc/mounts"
    p = engine.run("run", "--rm", "--init", "busybox", "sh", "-c", script)
    lines = p.stdout.splitlines()
    assert lines[0] == "2", p.stdout
    assert lines[1].startswith("/dev/init -- sh -c echo"), p.stdout
    # bound read-only, from the host's nook-init
    assert lines[2].split()[3].split(",")[0] == "ro", p.stdout


def test_init_is_recorded_and_leaves_nothing_in_the_upper_dir(engine):
    engine.run("run", "--name", "i", "--init", "busybox", "true")
    assert engine.inspect("i")["HostConfig"]["Init"] is True
    assert engine.inspect("i")["Path"] == "true"  # the user's command, not the init
    assert engine.run("diff", "i").stdout == ""
    assert not os.path.lexists(os.path.join(engine.cdir(engine.inspect("i")["Id"]),
                                            "upper", "dev", "init"))
    engine.run("rm", "i")


def test_stop_reaches_the_command_through_the_init(engine):
    """Without --init `sleep` is PID 1 and ignores SIGTERM (stop ends with
    SIGKILL, 137); with it, the TERM is forwarded and kills sleep (143)."""
    engine.run("run", "-d", "--init", "--name", "s", "busybox", "sleep", "1000")
    t0 = time.monotonic()
    engine.run("stop", "-t", "20", "s")
    assert time.monotonic() - t0 < 10
    assert engine.state("s")["ExitCode"] == 143
    # a child that traps TERM runs its handler, its exit code is the container's
    engine.run("run", "-d", "--init", "--name", "t", "busybox", "sh", "-c",
               "trap 'echo bye; exit 5' TERM; echo up; while :; do sleep 0.1; done")
    wait_for(lambda: "up" in engine.run("logs", "t").stdout, 10, "the shell's trap")
    engine.run("stop", "-t", "20", "t")
    assert engine.state("t")["ExitCode"] == 5
    assert "bye" in engine.run("logs", "t").stdout
    engine.run("rm", "s", "t")


def test_orphans_are_reaped(engine):
    """A grandchild orphaned by its parent is re-parented to PID 1: the
    init reaps it. (Without --init, `sleep` as PID 1 keeps it a zombie.)"""
    cid = engine.run("run", "-d", "--init", "busybox", "sh", "-c",
                     "sh -c 'sleep 0.3 & exit 0'; exec sleep 1000").stdout.strip()

    pid = engine.state(cid)["Pid"]

    # init and the outer shell exec'd into sleep: only once the orphan has
    # exited and been reaped (a zombie would still be in the tree)
    wait_for(lambda: [c for _, _, c in tree(pid)] == ["init", "sleep"], 10,
             "the orphan's exit and reaping")
    time.sleep(0.5)  # well after the orphan's exit: still no zombie
    ps = tree(pid)
    assert [s for _, s, _ in ps if s == "Z"] == [] and len(ps) == 2, ps
    engine.run("rm", "-f", cid)


def test_exit_codes_pass_through_in_a_scratch_image(engine, build_dir, tmp_path):
    """An image with nothing but one static program: the init (static)
    runs there, the command's exit code and 128+N for a signal."""
    tb = tmp_path / "scratch.tar"
    with tarfile.open(tb, "w") as t:
        t.add(os.path.join(build_dir, "tests", "helper", "nktest"), "nktest")
    engine.run("import", str(tb), "scratch:1")
    assert engine.run("run", "--rm", "--init", "scratch:1", "/nktest", "exit", "42",
                      check=False).returncode == 42
    assert engine.run("run", "--rm", "--init", "scratch:1", "/nktest", "sigself", "10",
                      check=False).returncode == 128 + 10
    p = engine.run("run", "--rm", "--init", "scratch:1", "/nothere", check=False)
    assert p.returncode == 127 and "/nothere" in p.stderr
    engine.run("rmi", "scratch:1")


def test_missing_init_binary_is_one_line_and_nothing_is_created(engine, tmp_path):
    p = engine.run("run", "--rm", "--init", "--init-path", str(tmp_path / "none"), "busybox",
                   "true", check=False)
    assert p.returncode == 125
    assert p.stderr.strip().splitlines() == [
        f"nook: --init: init binary `{tmp_path / 'none'}`: No such file or directory"]
    (tmp_path / "notexec").write_text("")
    p = engine.run("create", "--init", "--init-path", str(tmp_path / "notexec"), "busybox",
                   check=False)
    assert p.returncode == 125 and "not an executable file" in p.stderr
    p = engine.run("run", "--init", "--init-path", "relative", "busybox", check=False)
    assert p.returncode == 125 and "--init-path" in p.stderr
    assert engine.run("ps", "-aq").stdout == ""
    assert not os.listdir(os.path.join(engine.store, "containers"))
