"""The engine tests' shared fixture: a store, runtime root and cgroup
parent of the test's own, and at teardown a check that nothing leaked
(mounts, cgroups, processes, runtime state, containers, names, volumes),
then `nook rm -f` of what is left. Used by test_engine.py and
test_engine_cmds.py."""
import json
import os
import subprocess
import time
import uuid

import pytest

CGROUP_BASE = "/sys/fs/cgroup"


def _hierarchies():
    """Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers,
    the unified one)."""
    out = []
    for name in sorted(os.listdir(CGROUP_BASE)):
        path = os.path.join(CGROUP_BASE, name)
        if os.path.isdir(path) and not os.path.islink(path):
            out.append(path)
    return out or [CGROUP_BASE]


def _mounts_under(prefix):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def _procs_with(text):
    """PIDs whose command line mentions text (the monitors: --root ROOT)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(int(pid))
    return found


class Engine:
    def __init__(self, bin_, tmp):
        self.bin = bin_
        self.tmp = tmp
        self.store = os.path.join(tmp, "store")
        self.root = os.path.join(tmp, "root")
        self.cg_parent = f"/nooktest-{uuid.uuid4().hex[:10]}"
        self.env = dict(os.environ, NOOK_STORE=self.store, NOOK_ROOT=self.root,
                        NOOK_CGROUP_PARENT=self.cg_parent)

    def popen(self, *args, **kw):
        return subprocess.Popen([self.bin, *args], env=self.env, **kw)

    def run(self, *args, check=True, timeout=60, input=None):
        p = subprocess.run([self.bin, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and p.returncode != 0:
            pytest.fail(f"nook {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}",
                        pytrace=False)
        return p

    def inspect(self, ref):
        return json.loads(self.run("inspect", ref).stdout)[0]

    def state(self, ref):
        return self.inspect(ref)["State"]

    def cdir(self, cid):
        return os.path.join(self.store, "containers", cid)

    def cgroup_dirs(self):
        """Directories under the test's cgroup parent, in every hierarchy."""
        found = []
        for h in _hierarchies():
            base = h + self.cg_parent
            if os.path.isdir(base):
                found += [os.path.join(base, d) for d in os.listdir(base)
                          if os.path.isdir(os.path.join(base, d))]
        return found

    def leaks(self):
        out = []
        m = _mounts_under(self.store)
        if m:
            out.append(f"mounts {m}")
        if self.cgroup_dirs():
            out.append(f"cgroups {self.cgroup_dirs()}")
        procs = _procs_with(f"--root {self.root} ")
        for h in _hierarchies():
            base = h + self.cg_parent
            for d, _dirs, files in os.walk(base) if os.path.isdir(base) else ():
                if "cgroup.procs" in files:
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        procs += [int(x) for x in f.read().split()]
        if procs:
            out.append(f"processes {sorted(set(procs))}")
        if os.path.isdir(self.root) and os.listdir(self.root):
            out.append(f"runtime state {os.listdir(self.root)}")
        cdir = os.path.join(self.store, "containers")
        if os.path.isdir(cdir) and os.listdir(cdir):
            out.append(f"containers {os.listdir(cdir)}")
        vdir = os.path.join(self.store, "volumes")
        if os.path.isdir(vdir) and [v for v in os.listdir(vdir) if not v.startswith(".")]:
            out.append(f"volumes {os.listdir(vdir)}")
        ndir = os.path.join(self.store, "container-names")
        if os.path.isdir(ndir) and set(os.listdir(ndir)) - {".lock"}:
            out.append(f"names {os.listdir(ndir)}")
        return out

    def cleanup(self):
        cdir = os.path.join(self.store, "containers")
        if os.path.isdir(cdir):
            for cid in os.listdir(cdir):
                self.run("rm", "-f", cid, check=False)
        # A monitor of a --rm container may still be exiting.
        for _ in range(100):
            if not _procs_with(f"--root {self.root} "):
                break
            time.sleep(0.02)

    def remove_parent(self):
        for h in _hierarchies():
            base = h + self.cg_parent
            if os.path.isdir(base):
                try:
                    os.rmdir(base)
                except OSError:
                    pass


@pytest.fixture
def engine(engine_bin, tmp_path):
    e = Engine(engine_bin, str(tmp_path))
    yield e
    # A monitor may still be finishing (a --rm container's unmount and
    # removal come after it told `nook run` the exit code): a moment.
    for _ in range(250):
        if not _procs_with(f"--root {e.root} "):
            break
        time.sleep(0.02)
    leaked = e.leaks()
    e.cleanup()
    still = e.leaks()
    e.remove_parent()
    assert not leaked, "the test left: " + "; ".join(leaked)
    assert not still, "rm -f did not clean up: " + "; ".join(still)
