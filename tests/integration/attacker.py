"""A CAP_SYS_PTRACE attacker in a detached container (no user namespace),
for tests/helper/pidwatch.c and ptsteal.c: each runs as
`<helper> <target> /tmp/stop [mode]`, writes /tmp/<helper>.ready once it watches,
and stops when /tmp/stop exists; what it printed is then read back."""
import os
import subprocess

from conftest import wait_for

PTRACE = ["CAP_SYS_PTRACE"]


def host_marker(tmp_path):
    """A host directory holding `marker` ("host-secret\\n") for the
    attacker to reach for."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "marker").write_text("host-secret\n")
    return host


def start_attacker(runtime, bundle, helper, target, mode=""):
    """Run `helper target /tmp/stop mode` with CAP_SYS_PTRACE, detached, until it
    watches; returns the container's id."""
    bundle.process["capabilities"] = {k: PTRACE for k in (
        "bounding", "effective", "permitted", "inheritable", "ambient")}
    bundle.sh(f"{helper} {target} /tmp/stop {mode} > /tmp/attack.out 2>&1; "
              "mv /tmp/attack.out /tmp/attack.done; sleep 60")
    bundle.write()
    cid = runtime.new_id()
    subprocess.run(runtime.cmd("run", "--detach", "--bundle", bundle.path, cid),
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True, timeout=60)
    ready = os.path.join(bundle.rootfs, "tmp", f"{helper}.ready")
    wait_for(lambda: os.path.exists(ready), 30, f"{helper} to start ({ready})")
    return cid


def stop_attacker(runtime, bundle, cid, host, findings):
    """Stop the attacker, delete its container and return its output,
    asserting it printed no line starting with one of `findings` and
    left nothing beside the host marker."""
    open(os.path.join(bundle.rootfs, "tmp", "stop"), "w").close()
    done = os.path.join(bundle.rootfs, "tmp", "attack.done")
    wait_for(lambda: os.path.exists(done), 60, f"the attacker to finish ({done})")
    with open(done) as f:
        out = f.read()
    runtime.run("delete", "--force", cid)
    print(out[-2000:])
    got = [l for l in out.splitlines() if l.split(" ", 1)[0] in findings]
    assert got == [], "\n".join(got[:20])
    assert sorted(os.listdir(host)) == ["marker"], os.listdir(host)
    return out
