"""Shared fixtures for nook's integration tests (run as root, real kernel).

- nook_bin / build_dir: the OCI runtime face under test: nook-oci beside
  $NOOK_BIN (else <repo>/build/nook); a NOOK_BIN without a nook-oci beside
  it (runc, an older build) is used as it is
- engine_bin: the engine face, $NOOK_BIN itself
- runtime: a per-test state root (--root) and a `run(*args)` helper; at teardown
  it force-deletes what the test left and FAILS the test if anything leaked
  (state dirs, cgroups named after the test's containers, mounts under the
  test's temp dir, processes).
- bundle: a fresh bundle (config.json from `nook spec`, made non-interactive)
  with its own copy of the test rootfs: static busybox + /bin/nktest and every
  other helper in build/tests/helper.
- own_pid_namespace(): a pid namespace of the test's own to join, as a pod's.
- wait_for(predicate, timeout, what): poll until predicate() is true; fails
  the test naming `what` when it never is.
"""
import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import sys

import pytest

# `nook run` joins the default bridge network when given no --network, which
# would make a bridge, nftables rules and forwarding in the namespace the
# tests run in (the real host's). Every engine test but the networking ones
# (test_engine_net.py, which run the engine in a namespace of their own and
# drop this) gets --network none's behaviour instead.
os.environ["NOOK_NETWORK"] = "none"

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The test tools' shared pieces (tests/tools/toolslib.py): one `nook spec`
# reader and one rule for finding the OCI face, for fixtures and tools alike.
sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
from toolslib import BUSYBOX, oci_face, spec_config  # noqa: E402


def wait_for(predicate, timeout, what, interval=0.02):
    """Poll predicate() until it returns something true and return that;
    after `timeout` seconds fail the test: "timed out after Ns waiting for
    <what>" (a callable `what` is asked then, for the last thing seen)."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            what = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(interval)


def _engine_bin():
    return os.environ.get("NOOK_BIN", os.path.join(REPO, "build", "nook"))


def _nook_bin():
    return oci_face(_engine_bin())


@pytest.fixture(scope="session")
def nook_bin():
    path = _nook_bin()
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (meson setup build && ninja -C build)")
    return path


@pytest.fixture(scope="session")
def engine_bin():
    path = _engine_bin()
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (meson setup build && ninja -C build)")
    return path


@pytest.fixture(scope="session")
def build_dir(nook_bin):
    return os.path.dirname(nook_bin)


def make_rootfs(dest, build_dir):
    """A minimal rootfs: busybox applets, our static helpers, passwd/group."""
    for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "var",
              "usr/bin", "run"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(dest, 0o755)  # the container's "/" (mktemp made it 0700)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        link = os.path.join(dest, "bin", a)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    helper_dir = os.path.join(build_dir, "tests", "helper")
    if os.path.isdir(helper_dir):
        for name in os.listdir(helper_dir):
            src = os.path.join(helper_dir, name)
            if os.path.isfile(src) and os.access(src, os.X_OK):
                dst = os.path.join(dest, "bin", name)
                if os.path.lexists(dst):
                    os.unlink(dst)
                shutil.copy2(src, dst)
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
                "user:x:1000:1000:user:/home:/bin/sh\n")
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n")
    return dest


@pytest.fixture(scope="session")
def base_rootfs(build_dir, tmp_path_factory):
    return make_rootfs(str(tmp_path_factory.mktemp("rootfs")), build_dir)


def default_config(nook_bin, args=("true",)):
    """`nook spec`'s config, non-interactive, running `args` on a writable
    rootfs/ beside it."""
    cfg = spec_config(nook_bin, args)
    cfg["root"] = {"path": "rootfs", "readonly": False}
    return cfg



def state_logging_hooks(bundle, tmp_path, names):
    """Make each hook in `names` append "<name> <the state it got on stdin>"
    to tmp_path/hooks.log; startContainer runs in the container, so the
    same script sits at the same path in the rootfs, logging there.
    Returns (the host's log, the rootfs's log path)."""
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.sh"
    script = f"#!/bin/sh\nprintf '%s ' \"$1\" >> {log}\ncat >> {log}\necho >> {log}\n"
    os.makedirs(bundle.rootfs + str(tmp_path), exist_ok=True)
    for path in (str(hook), bundle.rootfs + str(hook)):
        with open(path, "w") as f:
            f.write(script)
        os.chmod(path, 0o755)
    bundle.config["hooks"] = {n: [{"path": str(hook), "args": ["hook.sh", n]}] for n in names}
    return log, bundle.rootfs + str(log)

def _first_child(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return int(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None


@contextlib.contextmanager
def own_pid_namespace():
    """A pid namespace of the test's own (a pod's) whose pid 1 is a sleep:
    yields that process's pid, and kills it (it would outlive unshare)
    and unshare on the way out."""
    holder = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sleep", "60"])
    child = None
    try:
        child = wait_for(lambda: _first_child(holder.pid), 10,
                         f"the pid 1 of unshare {holder.pid}'s pid namespace")
        yield child
    finally:
        if child:
            os.kill(child, signal.SIGKILL)
        holder.kill()
        holder.wait()

class Bundle:
    def __init__(self, path, config):
        self.path = path
        self.config = config
        self.rootfs = os.path.join(path, "rootfs")

    @property
    def process(self):
        return self.config["process"]

    @property
    def linux(self):
        return self.config.setdefault("linux", {})

    def args(self, *args):
        self.config["process"]["args"] = list(args)
        return self

    def sh(self, script):
        return self.args("/bin/sh", "-c", script)

    def write(self):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)
        return self

    def sidecar(self, path, pid):
        """A "pod" sidecar at `path`: this bundle's rootfs and config, no
        capabilities, running `true` in the pid namespace of `pid`."""
        side = Bundle(path, copy.deepcopy(self.config))
        os.makedirs(side.path)
        side.config["root"] = {"path": self.rootfs, "readonly": False}
        side.config["process"].pop("capabilities")
        side.args("true")
        for ns in side.linux["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = f"/proc/{pid}/ns/pid"
        return side.write()


@pytest.fixture
def bundle(nook_bin, base_rootfs, tmp_path):
    path = str(tmp_path / "bundle")
    os.makedirs(path)
    # cp -a keeps the symlinks and modes; each test gets its own rootfs.
    subprocess.run(["cp", "-a", base_rootfs, os.path.join(path, "rootfs")], check=True)
    return Bundle(path, default_config(nook_bin))


def _mounts_under(prefix):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def _cgroup_dirs(ids):
    found = []
    for base, _dirs, _files in os.walk("/sys/fs/cgroup"):
        depth = base.count("/") - 3
        if depth > 4:
            continue
        name = os.path.basename(base)
        if name in ids:
            found.append(base)
    return found


class Runtime:
    """One test's --root, and a runner for the nook binary."""

    def __init__(self, nook_bin, root, tmp):
        self.bin = nook_bin
        self.root = root
        self.tmp = tmp
        self.ids = set()

    def new_id(self, prefix="t"):
        cid = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.ids.add(cid)
        return cid

    def cmd(self, *args):
        return [self.bin, "--root", self.root, *args]

    def run(self, *args, check=True, timeout=60, input=None, **kw):
        """Run `nook --root R ARGS`; returns CompletedProcess (text).

        Output goes through temp files, not pipes: a detached or created
        container inherits nook's stdio and would hold a pipe open."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(self.cmd(*args), stdout=out, stderr=err, text=True,
                               timeout=timeout, input=input,
                               **({"stdin": subprocess.DEVNULL} if input is None else {}), **kw)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        if check and p.returncode != 0:
            raise AssertionError(
                f"nook {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def state(self, cid):
        return json.loads(self.run("state", cid).stdout)

    def run_bundle(self, b, *extra, check=False, timeout=60, input=None):
        """Foreground `nook run --bundle B ID`; returns the CompletedProcess."""
        b.write()
        cid = self.new_id()
        return self.run("run", "--bundle", b.path, *extra, cid, check=check, timeout=timeout,
                        input=input)

    def output(self, b, *args):
        """Run args in bundle b in the foreground, assert exit 0, return stdout."""
        if args:
            b.args(*args)
        p = self.run_bundle(b)
        assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
        return p.stdout

    def create_start_delete(self, b):
        """Run bundle b to its end in steps: create, start, wait until
        stopped, delete (each step's hooks run)."""
        cid = self.new_id()
        self.run("create", "--bundle", b.path, cid)
        self.run("start", cid)
        self.wait_status(cid, "stopped")
        self.run("delete", cid)
        return cid

    def wait_status(self, cid, status, timeout=10):
        last = [None]

        def reached():
            p = self.run("state", cid, check=False)  # may not exist yet
            if p.returncode == 0:
                last[0] = json.loads(p.stdout)
                return last[0]["status"] == status
            return False
        wait_for(reached, timeout, lambda: f"{cid} to become {status} (last state: {last[0]})")

    def cleanup_and_check(self):
        leaks = []
        if os.path.isdir(self.root):
            for cid in os.listdir(self.root):
                leaks.append(f"state dir {cid}")
                subprocess.run(self.cmd("delete", "--force", cid), capture_output=True, timeout=30)
            if os.listdir(self.root):
                leaks.append(f"state left after forced delete: {os.listdir(self.root)}")
        cg = _cgroup_dirs(self.ids)
        if cg:
            leaks.append(f"cgroups {cg}")
        m = _mounts_under(self.tmp)
        if m:
            leaks.append(f"mounts {m}")
            for mp in reversed(m):
                subprocess.run(["umount", "-l", mp], capture_output=True)
        return leaks


@pytest.fixture
def runtime(nook_bin, tmp_path):
    rt = Runtime(nook_bin, str(tmp_path / "state"), str(tmp_path))
    yield rt
    leaks = rt.cleanup_and_check()
    assert not leaks, "leaked: " + "; ".join(leaks)


def host_ns(name):
    return os.readlink(f"/proc/self/ns/{name}")
