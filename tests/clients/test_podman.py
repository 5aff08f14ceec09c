"""podman 4.3 (with conmon) running containers with nook as the OCI runtime.

Podman gets a containers.conf of the test's own (cgroupfs, file events,
ulimits this machine allows, nook registered as a runtime that writes JSON
logs, so podman passes --log-format=json --log FILE) and private storage,
tmp and network-config dirs. Containers use --network=none and a cgroup
parent named after the test module, removed at the end."""
import json
import os
import uuid

import pytest

import clientlib
from clientlib import Pty, busybox_tar, cgroup_of, nook, sh, wait_for  # noqa: F401 (fixtures)

clientlib.need("podman", "conmon")

IMAGE = "localhost/busybox:latest"


class Podman:
    def __init__(self, tmp, nook, image_tar):
        self.tmp = tmp
        # containers/image keeps its blob cache there for root, whatever
        # the storage root: removed at the end if podman made it.
        self.host_dirs = clientlib.HostDirs(
            "/var/lib/containers/cache/blob-info-cache-v1.boltdb", "/var/lib/containers")
        self.state = os.path.join(tmp, "nook-state")
        runtime = clientlib.nook_wrapper(os.path.join(tmp, "nook-runtime"), nook, self.state)
        self.cgroup = f"nooktest-podman-{uuid.uuid4().hex[:8]}"
        for d in ("net", "tmp"):
            os.makedirs(os.path.join(tmp, d))
        conf = os.path.join(tmp, "containers.conf")
        with open(conf, "w") as f:
            f.write(f'''[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{tmp}/events.log"
tmp_dir = "{tmp}/tmp"
runtime_supports_json = ["crun", "runc", "nook"]
[engine.runtimes]
nook = ["{runtime}"]
[network]
network_config_dir = "{tmp}/net"
''')
        storage = os.path.join(tmp, "storage.conf")
        with open(storage, "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\nrunroot = "{tmp}/runroot"\n'
                    f'graphroot = "{tmp}/root"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage)
        self.opts = ["--network=none", f"--cgroup-parent=/{self.cgroup}"]
        sh(self.cmd("import", image_tar, IMAGE), env=self.env)

    def cmd(self, *args):
        return ["podman", "--runtime", "nook", *args]

    def __call__(self, *args, check=True, timeout=60, input=None):
        return sh(self.cmd(*args), check=check, timeout=timeout, input=input, env=self.env)

    def start(self, *cmd):
        """A detached container running cmd; returns (name, init's host pid)."""
        name = f"c-{uuid.uuid4().hex[:8]}"
        self("run", "-d", "--name", name, *self.opts, IMAGE, *cmd)
        return name, self.pid(name)

    def pid(self, name):
        return int(self("inspect", "-f", "{{.State.Pid}}", name).stdout)

    def inspect(self, name):
        return json.loads(self("inspect", name).stdout)[0]

    def leaks(self):
        leaks = []
        self("rm", "-a", "-f", "-t", "0", check=False)
        left = self("ps", "-aq").stdout.split()
        if left:
            leaks.append(f"podman containers {left}")
        if os.path.isdir(self.state) and os.listdir(self.state):
            leaks.append(f"nook state {os.listdir(self.state)}")
        # the image store's own mounts are podman's, not leaks
        return leaks + clientlib.sweep(self.tmp, self.cgroup, self.host_dirs,
                                       own_mounts=os.path.join(self.tmp, "root", "overlay"))


@pytest.fixture(scope="module")
def podman(nook, busybox_tar, tmp_path_factory):
    pm = Podman(str(tmp_path_factory.mktemp("podman")), nook, busybox_tar)
    yield pm
    leaks = pm.leaks()
    assert not leaks, "podman left behind: " + "; ".join(leaks)


def ns_links(pid, names=("pid", "mnt", "net", "uts", "ipc")):
    return [os.readlink(f"/proc/{pid}/ns/{n}") for n in names]


def status_fields(text, keys=("CapBnd", "Seccomp", "NoNewPrivs")):
    return {line.split(":")[0]: line.split(":")[1].strip()
            for line in text.splitlines() if line.split(":")[0] in keys}


def test_run_rm_output_exit_code_and_namespaces(podman):
    p = podman("run", "--rm", *podman.opts, IMAGE, "sh", "-c",
               "echo hello; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; echo $$; exit 42",
               check=False)
    assert p.returncode == 42, p.stderr
    out = p.stdout.split()
    assert out[0] == "hello"
    assert out[1:3] != ns_links("self", ("pid", "mnt"))
    assert out[3] == "1"  # sh is the container's init
    assert podman("ps", "-aq").stdout.strip() == ""
    assert not os.listdir(podman.state)


def test_run_error_reaches_podman_from_the_json_log(podman):
    p = podman("run", "--rm", *podman.opts, IMAGE, "/no/such/cmd", check=False)
    # podman maps "not found" from the runtime's JSON log to 127, as with runc
    assert p.returncode == 127, p.stderr
    assert "/no/such/cmd" in p.stderr
    assert not os.listdir(podman.state)


def test_detached_logs_exec_stop_rm(podman):
    name, pid = podman.start("sh", "-c", "echo started; while :; do sleep 0.1; done")
    wait_for(lambda: "started" in podman("logs", name).stdout, "log line")
    ps = podman("ps", "--format", "{{.Names}} {{.Status}}").stdout
    assert f"{name} Up" in ps
    assert cgroup_of(pid).endswith(f"/{podman.cgroup}/libpod-{podman.inspect(name)['Id']}")

    # plain exec joins the init's namespaces and security, exit code comes back
    p = podman("exec", name, "sh", "-c",
               "cat /proc/1/cmdline; echo; for n in pid mnt net uts ipc; do "
               "readlink /proc/self/ns/$n; done; cat /proc/self/status; exit 3", check=False)
    assert p.returncode == 3, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("sh\0-c\0echo started")
    assert lines[1:6] == ns_links(pid)
    with open(f"/proc/{pid}/status") as f:
        assert status_fields(p.stdout) == status_fields(f.read())

    p = podman("exec", "--user", "65534:65534", "--workdir", "/tmp", "-e", "FOO=bar", name,
               "sh", "-c", "id -u; id -g; pwd; echo $FOO")
    assert p.stdout.split() == ["65534", "65534", "/tmp", "bar"]
    p = podman("exec", "-i", name, "sh", input="echo from-stdin\nexit 4\n", check=False)
    assert (p.returncode, p.stdout) == (4, "from-stdin\n")

    # busybox sh as PID 1 ignores SIGTERM: stop ends with SIGKILL after 1s
    podman("stop", "-t", "1", name)
    st = podman.inspect(name)["State"]
    assert (st["Status"], st["ExitCode"]) == ("exited", 137)
    assert not os.path.exists(f"/proc/{pid}")
    podman("rm", name)
    assert name not in podman("ps", "-a", "--format", "{{.Names}}").stdout
    assert not os.listdir(podman.state)


def test_kill_signal_and_sigkill(podman):
    name, pid = podman.start("sh", "-c", "trap 'echo got-usr1' USR1; while :; do sleep 0.1; done")
    podman("kill", "-s", "USR1", name)
    wait_for(lambda: "got-usr1" in podman("logs", name).stdout, "USR1 trap output")
    assert os.path.exists(f"/proc/{pid}")
    podman("kill", name)
    wait_for(lambda: podman.inspect(name)["State"]["Status"] == "exited", "exit after kill")
    assert podman.inspect(name)["State"]["ExitCode"] == 137
    podman("rm", name)


def test_pause_unpause_freezes_the_cgroup(podman):
    name, pid = podman.start("sh", "-c", "while :; do echo tick >> /tmp/ticks; sleep 0.05; done")
    freezer = cgroup_of(pid, "freezer")
    podman("pause", name)
    with open(os.path.join(freezer, "freezer.state")) as f:
        assert f.read().strip() == "FROZEN"
    assert podman.inspect(name)["State"]["Status"] == "paused"
    podman("unpause", name)
    with open(os.path.join(freezer, "freezer.state")) as f:
        assert f.read().strip() == "THAWED"
    assert podman.inspect(name)["State"]["Status"] == "running"
    n = int(podman("exec", name, "sh", "-c", "wc -l < /tmp/ticks").stdout)
    wait_for(lambda: int(podman("exec", name, "sh", "-c", "wc -l < /tmp/ticks").stdout) > n,
             "the loop to run again after unpause")
    podman("rm", "-f", "-t", "0", name)


def test_update_resources(podman):
    name, pid = podman.start("sleep", "1000")
    podman("update", "--memory", "64m", "--cpu-shares", "512", "--cpus", "0.5", name)
    with open(os.path.join(cgroup_of(pid, "memory"), "memory.limit_in_bytes")) as f:
        assert int(f.read()) == 64 << 20
    with open(os.path.join(cgroup_of(pid, "cpu"), "cpu.shares")) as f:
        assert int(f.read()) == 512
    cpu = cgroup_of(pid, "cpu")
    with open(os.path.join(cpu, "cpu.cfs_quota_us")) as f, \
            open(os.path.join(cpu, "cpu.cfs_period_us")) as g:
        assert int(f.read()) * 2 == int(g.read())
    podman("rm", "-f", "-t", "0", name)


def test_run_it_terminal(podman):
    t = Pty(podman.cmd("run", "-it", "--rm", *podman.opts, IMAGE, "sh"), rows=33, cols=111,
            env=podman.env)
    t.send("tty; stty size; echo M$((6*7))\n")
    t.expect(r"\nM42\n")
    assert "/dev/pts/0\n33 111\n" in t.text()
    assert "job control turned off" not in t.text()
    # a window change on the user's terminal reaches the container's pty
    t.resize(20, 70)
    t.send("until [ \"$(stty size)\" = '20 70' ]; do sleep 0.1; done; echo RE$((1+1))SIZED\n")
    t.expect(r"RE2SIZED\n")
    t.send("exit 5\n")
    assert t.wait() == 5
    # --rm with a terminal: conmon's exit command removes it
    wait_for(lambda: not os.listdir(podman.state), "the container to be deleted")


def test_exec_it_terminal(podman):
    name, _ = podman.start("sleep", "1000")
    t = Pty(podman.cmd("exec", "-it", name, "sh"), rows=40, cols=100, env=podman.env)
    t.send("tty; stty size; ps -o pid,stat,args | grep -c '[s]leep 1000'; echo M$((6*7))\n")
    t.expect(r"\nM42\n")
    assert "\n/dev/pts/0\n40 100\n1\n" in t.text()
    t.send("exit 6\n")
    assert t.wait() == 6
    podman("rm", "-f", "-t", "0", name)
