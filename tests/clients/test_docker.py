"""dockerd 20.10 running containers with nook as a registered runtime
(`docker run --runtime nook`), through containerd's runc v2 shim.

dockerd and its containerd are the test's own: data-root, exec-root,
sockets and pid file in a temp dir, the cgroupfs driver, a cgroup parent
named after the module, and no networking of its own (--bridge=none, no
iptables, no ip forwarding or masquerading). Both are stopped by PID."""
import json
import os
import subprocess
import uuid

import pytest

import clientlib
from clientlib import Pty, busybox_tar, cgroup_of, nook, sh, wait_for  # noqa: F401 (fixtures)

clientlib.need("dockerd", "docker", "containerd", "containerd-shim-runc-v2")

IMAGE = "busybox:latest"


class Docker:
    def __init__(self, tmp, nook, image_tar):
        self.tmp = tmp
        self.host_dirs = clientlib.HostDirs("/etc/docker/key.json", "/etc/docker",
                                            "/run/docker", "/run/containerd")
        self.containerd, ctr_sock = clientlib.start_containerd(os.path.join(tmp, "containerd"))
        self.sock = os.path.join(tmp, "docker.sock")
        self.cgroup = f"nooktest-docker-{uuid.uuid4().hex[:8]}"
        conf = os.path.join(tmp, "daemon.json")
        with open(conf, "w") as f:
            json.dump({
                "runtimes": {"nook": {"path": nook}},
                "containerd": ctr_sock,
                "exec-opts": ["native.cgroupdriver=cgroupfs"],
                "cgroup-parent": f"/{self.cgroup}",
                "bridge": "none", "iptables": False, "ip6tables": False,
                "ip-forward": False, "ip-masq": False, "userland-proxy": False,
                "data-root": os.path.join(tmp, "data"), "exec-root": os.path.join(tmp, "exec"),
                "pidfile": os.path.join(tmp, "docker.pid"), "hosts": [f"unix://{self.sock}"],
                "storage-driver": "overlay2", "log-driver": "json-file",
            }, f)
        self.dockerd = clientlib.start_daemon(
            ["dockerd", "--config-file", conf], os.path.join(tmp, "dockerd.log"),
            lambda: os.path.exists(self.sock) and
            subprocess.run(self.cmd("version"), capture_output=True).returncode == 0, "dockerd")
        self("import", image_tar, IMAGE)
        self.opts = ["--runtime", "nook", "--network", "none"]

    def cmd(self, *args):
        return ["docker", "-H", f"unix://{self.sock}", *args]

    def __call__(self, *args, check=True, timeout=60, input=None):
        return sh(self.cmd(*args), check=check, timeout=timeout, input=input)

    def start(self, *cmd):
        name = f"c-{uuid.uuid4().hex[:8]}"
        self("run", "-d", "--name", name, *self.opts, IMAGE, *cmd)
        return name, self.pid(name)

    def pid(self, name):
        return int(self("inspect", "-f", "{{.State.Pid}}", name).stdout)

    def state(self, name):
        return json.loads(self("inspect", name).stdout)[0]["State"]

    def nook_state_dirs(self):
        """Container dirs under the --root the shim hands nook."""
        found = []
        exec_root = os.path.join(self.tmp, "exec")
        for d in os.listdir(exec_root):
            ns = os.path.join(exec_root, d, "moby")
            if d.startswith("runtime-") and os.path.isdir(ns):
                found += os.listdir(ns)
        return found

    def shutdown(self):
        leaks = []
        ids = self("ps", "-aq", check=False).stdout.split()
        if ids:
            leaks.append(f"docker containers {ids}")
            self("rm", "-f", *ids, check=False)
        if self.nook_state_dirs():
            leaks.append(f"nook state {self.nook_state_dirs()}")
        clientlib.stop_daemon(self.dockerd)
        clientlib.stop_daemon(self.containerd)
        return leaks + clientlib.sweep(self.tmp, self.cgroup, self.host_dirs)


@pytest.fixture(scope="module")
def docker(nook, busybox_tar, tmp_path_factory):
    with clientlib.checked(Docker(str(tmp_path_factory.mktemp("docker")), nook, busybox_tar),
                           "docker") as dk:
        yield dk


def test_run_output_and_exit_code(docker):
    p = docker("run", "--rm", *docker.opts, IMAGE, "sh", "-c",
               "echo hello; echo $$; readlink /proc/self/ns/pid; exit 42", check=False)
    assert p.returncode == 42, p.stderr
    out = p.stdout.split()
    assert out[:2] == ["hello", "1"]
    assert out[2] != os.readlink("/proc/self/ns/pid")
    p = docker("run", "--rm", *docker.opts, IMAGE, "/no/such/cmd", check=False)
    assert p.returncode == 127 and "/no/such/cmd" in p.stderr, p.stderr
    assert docker("ps", "-aq").stdout.strip() == ""


def test_detached_logs_exec_top_stop(docker):
    name, pid = docker.start("sh", "-c", "echo started; while :; do sleep 0.1; done")
    wait_for(lambda: "started" in docker("logs", name).stdout, "log line")
    assert f"/{docker.cgroup}/" in cgroup_of(pid)
    p = docker("exec", name, "sh", "-c",
               "for n in pid mnt net uts ipc; do readlink /proc/self/ns/$n; done; exit 3",
               check=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout.split() == [os.readlink(f"/proc/{pid}/ns/{n}")
                                for n in ("pid", "mnt", "net", "uts", "ipc")]
    p = docker("exec", "-i", "-u", "65534", "-w", "/tmp", name, "sh",
               input="id -u; pwd; exit 4\n", check=False)
    assert (p.returncode, p.stdout.split()) == (4, ["65534", "/tmp"])
    # docker top asks the runtime: `nook ps --format json`
    assert str(pid) in docker("top", name).stdout
    docker("stop", "-t", "1", name)
    st = docker.state(name)
    assert (st["Status"], st["ExitCode"]) == ("exited", 137)
    assert not os.path.exists(f"/proc/{pid}")
    docker("rm", name)
    assert not docker.nook_state_dirs()


def test_pause_unpause_update_kill(docker):
    name, pid = docker.start("sleep", "1000")
    docker("pause", name)
    with open(os.path.join(cgroup_of(pid, "freezer"), "freezer.state")) as f:
        assert f.read().strip() == "FROZEN"
    assert docker.state(name)["Paused"] is True
    docker("unpause", name)
    with open(os.path.join(cgroup_of(pid, "freezer"), "freezer.state")) as f:
        assert f.read().strip() == "THAWED"
    docker("update", "--memory", "64m", "--memory-swap", "128m", "--cpu-shares", "512", name)
    with open(os.path.join(cgroup_of(pid, "memory"), "memory.limit_in_bytes")) as f:
        assert int(f.read()) == 64 << 20
    with open(os.path.join(cgroup_of(pid, "cpu"), "cpu.shares")) as f:
        assert int(f.read()) == 512
    docker("kill", name)
    wait_for(lambda: docker.state(name)["Status"] == "exited", "exit after kill")
    assert docker.state(name)["ExitCode"] == 137
    docker("rm", name)


def test_run_t_gives_a_pty(docker):
    p = subprocess.run(docker.cmd("run", "--rm", "-t", *docker.opts, IMAGE, "sh", "-c",
                                  "tty; ps -o pid,tty | grep -c '^ *1 *136,0 *$'"),
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    # the pty's line discipline turns \n into \r\n
    assert p.stdout == b"/dev/pts/0\r\n1\r\n"


def size_is(rows, cols, marker):
    """Shell line: wait until the pty has the size, then print marker. The
    20.10 CLI sends the size just after start (no consoleSize in the spec)."""
    return (f"tty; until [ \"$(stty size)\" = '{rows} {cols}' ]; do sleep 0.1; done; "
            f"echo {marker}$((6*7))\n")


def test_run_it_and_exec_it(docker):
    name = "it-" + uuid.uuid4().hex[:6]
    t = Pty(docker.cmd("run", "-it", "--name", name, *docker.opts, IMAGE, "sh"), rows=33,
            cols=111)
    t.expect(r"/ # ")
    t.send(size_is(33, 111, "M"))
    t.expect(r"/dev/pts/0\nM42\n")
    e = Pty(docker.cmd("exec", "-it", name, "sh"), rows=40, cols=100)
    e.expect(r"/ # ")
    e.send(size_is(40, 100, "E"))
    e.expect(r"/dev/pts/1\nE42\n")
    e.send("exit 6\n")
    assert e.wait() == 6
    t.send("exit 5\n")
    assert t.wait() == 5
    docker("rm", name)
