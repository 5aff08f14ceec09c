"""A process nook starts in a container's pid namespace must never be
visible there while its root, cwd or fds are the host's. A container
process with CAP_SYS_PTRACE (which passes the non-dumpable check) that
watches /proc for new pids would otherwise reach the host through
/proc/PID/root, /proc/PID/cwd or /proc/PID/fd/N. Each test runs the
attacker (tests/helper/pidwatch.c) in a container while the host makes
nook start processes there, and checks that the attacker saw them but got
nothing: no host file read, none created, no directory fd."""
import copy
import os
import subprocess
import time

from conftest import Bundle

PTRACE = ["CAP_SYS_PTRACE"]


def start_watcher(runtime, bundle, tmp_path):
    """Run pidwatch in a detached container; returns (id, host marker dir)."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "marker").write_text("host-secret\n")
    bundle.process["capabilities"] = {k: PTRACE for k in (
        "bounding", "effective", "permitted", "inheritable", "ambient")}
    bundle.sh(f"pidwatch {host}/marker /tmp/stop > /tmp/watch.out 2>&1; "
              "mv /tmp/watch.out /tmp/watch.done; sleep 60")
    bundle.write()
    cid = runtime.new_id()
    subprocess.run(runtime.cmd("run", "--detach", "--bundle", bundle.path, cid),
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True, timeout=60)
    ready = os.path.join(bundle.rootfs, "tmp", "pidwatch.ready")
    deadline = time.time() + 30
    while not os.path.exists(ready):
        assert time.time() < deadline, "pidwatch did not start"
        time.sleep(0.02)
    return cid, host


def stop_watcher(runtime, bundle, cid, host):
    """The attacker's findings: asserts it got nothing; returns pids seen."""
    open(os.path.join(bundle.rootfs, "tmp", "stop"), "w").close()
    done = os.path.join(bundle.rootfs, "tmp", "watch.done")
    deadline = time.time() + 60
    while not os.path.exists(done):
        assert time.time() < deadline, "pidwatch did not finish"
        time.sleep(0.05)
    with open(done) as f:
        out = f.read()
    runtime.run("delete", "--force", cid)
    got = [l for l in out.splitlines() if l.split(" ", 1)[0] in ("READ", "CREATED", "DIRFD")]
    assert got == [], "\n".join(got[:20])
    assert sorted(os.listdir(host)) == ["marker"], os.listdir(host)
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
        side = Bundle(str(tmp_path / "sidecar"), copy.deepcopy(bundle.config))
        os.makedirs(side.path)
        side.config["root"] = {"path": bundle.rootfs, "readonly": False}
        side.config["process"].pop("capabilities")
        side.args("true")
        for ns in side.linux["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = f"/proc/{first}/ns/pid"
        side.write()
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
