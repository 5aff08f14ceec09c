"""A process nook starts in a container's pid namespace must never be
visible there while its root, cwd or fds are the host's. A container
process with CAP_SYS_PTRACE (which passes the non-dumpable check) that
watches /proc for new pids would otherwise reach the host through
/proc/PID/root, /proc/PID/cwd or /proc/PID/fd/N. Each test runs the
attacker (tests/helper/pidwatch.c) in a container while the host makes
nook start processes there, and checks that the attacker saw them but got
nothing: no host file read, none created, no directory fd."""
from attacker import host_marker, start_attacker, stop_attacker


def start_watcher(runtime, bundle, tmp_path):
    """Run pidwatch in a detached container; returns (id, host marker dir)."""
    host = host_marker(tmp_path)
    return start_attacker(runtime, bundle, "pidwatch", f"{host}/marker"), host


def stop_watcher(runtime, bundle, cid, host):
    """The attacker's findings: asserts it got nothing; returns pids seen."""
    out = stop_attacker(runtime, bundle, cid, host, ("READ", "CREATED", "DIRFD"))
    assert (host / "marker").read_text() == "host-secret\n"
    seen = [l for l in out.splitlines() if l.startswith("seen ")]
    assert seen, out
    print(f"pidwatch: {seen[0]} new pids, nothing reached")
    return int(seen[0].split()[1])


def test_exec_is_invisible_until_inside(runtime, bundle, tmp_path):
    cid, host = start_watcher(runtime, bundle, tmp_path)
    try:
        for _ in range(300):
            runtime.run("exec", cid, "true")
    finally:
        seen = stop_watcher(runtime, bundle, cid, host)
    # the attack really ran: it caught exec'd processes
    assert seen > 0


def test_sidecar_init_is_invisible_until_inside(runtime, bundle, tmp_path):
    # A "pod": the sidecar joins the watcher's pid namespace. Its init used
    # to be born there and set up the rootfs in plain view.
    cid, host = start_watcher(runtime, bundle, tmp_path)
    try:
        first = runtime.state(cid)["pid"]
        side = bundle.sidecar(str(tmp_path / "sidecar"), first)
        for i in range(100):
            sid = runtime.new_id()
            runtime.run("create", "--bundle", side.path, sid)
            runtime.run("delete", "--force", sid)
        # and one that really runs, in the pod's pid namespace
        p = runtime.run_bundle(side.args("sh", "-c", "echo $$; cat /proc/1/cmdline").write())
        assert p.returncode == 0, p.stderr
        assert p.stdout.split()[0] != "1" and "pidwatch" in p.stdout, p.stdout
    finally:
        seen = stop_watcher(runtime, bundle, cid, host)
    assert seen > 0
