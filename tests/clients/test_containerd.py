"""containerd 1.6 and ctr with nook as the runc v2 shim's binary:
`ctr run --runtime io.containerd.runc.v2 --runc-binary NOOK --runc-root DIR`,
the same hook Kubernetes uses through a RuntimeClass (docs/kubernetes.md).

containerd is the test's own (every path in a temp dir, CRI off), ctr works
in a namespace named after the module, so the containers' cgroups live under
/<namespace>/<id>; IO fifos go to a temp dir too."""
import json
import os
import subprocess
import uuid

import pytest

import clientlib
from clientlib import Pty, busybox_tar, cgroup_of, nook, sh, wait_for  # noqa: F401 (fixtures)

clientlib.need("containerd", "ctr", "containerd-shim-runc-v2")

IMAGE = "docker.io/library/busybox:latest"


class Ctr:
    def __init__(self, tmp, nook, image_tar):
        self.tmp = tmp
        self.host_dirs = clientlib.HostDirs("/run/containerd")
        self.daemon, self.sock = clientlib.start_containerd(os.path.join(tmp, "containerd"))
        self.ns = f"nooktest-ctr-{uuid.uuid4().hex[:8]}"
        self.state = os.path.join(tmp, "nook-state")
        self.fifos = os.path.join(tmp, "fifo")
        os.makedirs(self.fifos)
        self.opts = ["--runtime", "io.containerd.runc.v2", "--runc-binary", nook,
                     "--runc-root", self.state, "--fifo-dir", self.fifos]
        archive = clientlib.oci_archive(image_tar, os.path.join(tmp, "busybox-oci.tar"), IMAGE)
        self("image", "import", archive)

    def cmd(self, *args):
        return ["ctr", "--address", self.sock, "--namespace", self.ns, *args]

    def __call__(self, *args, check=True, timeout=60, input=None):
        return sh(self.cmd(*args), check=check, timeout=timeout, input=input)

    def start(self, *cmd):
        cid = f"c-{uuid.uuid4().hex[:8]}"
        self("run", "-d", *self.opts, IMAGE, cid, *cmd)
        return cid, self.task(cid)[0]

    def task(self, cid):
        """(pid, STATUS) from `ctr tasks ls`, or None when there is no task."""
        for line in self("tasks", "ls").stdout.splitlines()[1:]:
            f = line.split()
            if f[0] == cid:
                return int(f[1]), f[2]
        return None

    def remove(self, cid):
        if self.task(cid):
            self("tasks", "kill", "-s", "SIGKILL", cid, check=False)
            wait_for(lambda: self.task(cid)[1] == "STOPPED", f"{cid} to stop")
            self("tasks", "rm", cid)
        self("containers", "rm", cid)

    def nook_state(self):
        """Containers in the root the shim hands nook: --runc-root/<namespace>."""
        d = os.path.join(self.state, self.ns)
        return os.listdir(d) if os.path.isdir(d) else []

    def shutdown(self):
        leaks = []
        for cid in self("containers", "ls", "-q", check=False).stdout.split():
            leaks.append(f"container {cid}")
            self.remove(cid)
        if self.nook_state():
            leaks.append(f"nook state {self.nook_state()}")
        self("images", "rm", IMAGE, check=False)
        clientlib.stop_daemon(self.daemon)
        return leaks + clientlib.sweep(self.tmp, self.ns, self.host_dirs)


@pytest.fixture(scope="module")
def ctr(nook, busybox_tar, tmp_path_factory):
    with clientlib.checked(Ctr(str(tmp_path_factory.mktemp("ctr")), nook, busybox_tar),
                           "containerd") as c:
        yield c


def test_run_rm_output_and_exit_code(ctr):
    cid = f"c-{uuid.uuid4().hex[:8]}"
    p = ctr("run", "--rm", *ctr.opts, IMAGE, cid, "sh", "-c",
            "echo hello; echo $$; readlink /proc/self/ns/pid; exit 42", check=False)
    assert p.returncode == 42, p.stderr
    out = p.stdout.split()
    assert out[:2] == ["hello", "1"]
    assert out[2] != os.readlink("/proc/self/ns/pid")
    assert cid not in ctr("containers", "ls", "-q").stdout
    assert not ctr.nook_state()


def test_detached_exec_ps_pause_resume_kill_rm(ctr):
    cid, pid = ctr.start("sh", "-c", "while :; do sleep 0.1; done")
    assert ctr.task(cid) == (pid, "RUNNING")
    cgroup = cgroup_of(pid)
    assert cgroup.endswith(f"/{ctr.ns}/{cid}")

    p = ctr("tasks", "exec", "--exec-id", "e1", "--fifo-dir", ctr.fifos, cid, "sh", "-c",
            "for n in pid mnt net uts ipc; do readlink /proc/self/ns/$n; done; exit 3",
            check=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout.split() == [os.readlink(f"/proc/{pid}/ns/{n}")
                                for n in ("pid", "mnt", "net", "uts", "ipc")]

    # tasks ps lists the init and a detached exec: `nook ps --format json`
    ctr("tasks", "exec", "-d", "--exec-id", "e2", "--fifo-dir", ctr.fifos, cid,
        "sleep", "1000")
    ps = ctr("tasks", "ps", cid).stdout
    pids = [int(line.split()[0]) for line in ps.splitlines()[1:]]
    assert pid in pids and len(pids) >= 2 and "e2" in ps

    ctr("tasks", "pause", cid)
    assert ctr.task(cid)[1] == "PAUSED"
    with open(os.path.join(cgroup_of(pid, "freezer"), "freezer.state")) as f:
        assert f.read().strip() == "FROZEN"
    ctr("tasks", "resume", cid)
    assert ctr.task(cid)[1] == "RUNNING"
    with open(os.path.join(cgroup_of(pid, "freezer"), "freezer.state")) as f:
        assert f.read().strip() == "THAWED"

    # busybox sh as PID 1 ignores SIGTERM; SIGKILL to every process ends it
    ctr("tasks", "kill", "--all", "-s", "SIGKILL", cid)
    wait_for(lambda: ctr.task(cid)[1] == "STOPPED", "the task to stop")
    assert not os.path.exists(f"/proc/{pid}")
    ctr("tasks", "rm", cid)
    ctr("containers", "rm", cid)
    assert not ctr.nook_state()
    assert not os.path.exists(cgroup)


def test_kill_signal_reaches_init(ctr):
    cid, pid = ctr.start("sh", "-c", "trap 'exit 7' USR1; while :; do sleep 0.1; done")
    ctr("tasks", "kill", "-s", "SIGUSR1", cid)
    wait_for(lambda: ctr.task(cid)[1] == "STOPPED", "the trap to end the task")
    ctr("tasks", "rm", cid)
    ctr("containers", "rm", cid)


def test_run_t_and_exec_t(ctr):
    cid = f"c-{uuid.uuid4().hex[:8]}"
    t = Pty(ctr.cmd("run", "-t", "--rm", *ctr.opts, IMAGE, cid, "sh"), rows=33, cols=111)
    t.expect(r"/ # ")
    t.send("tty; until [ \"$(stty size)\" = '33 111' ]; do sleep 0.1; done; echo M$((6*7))\n")
    t.expect(r"/dev/pts/0\nM42\n")
    e = Pty(ctr.cmd("tasks", "exec", "-t", "--exec-id", "e1", "--fifo-dir", ctr.fifos, cid,
                    "sh"), rows=40, cols=100)
    e.expect(r"/ # ")
    e.send("tty; until [ \"$(stty size)\" = '40 100' ]; do sleep 0.1; done; echo E$((6*7))\n")
    e.expect(r"/dev/pts/1\nE42\n")
    e.send("exit 6\n")
    assert e.wait() == 6
    t.send("exit 5\n")
    assert t.wait() == 5
    wait_for(lambda: cid not in ctr("containers", "ls", "-q").stdout, "run --rm to remove")
