"""Shared pieces of the client tests (podman, dockerd, containerd driving
nook as their OCI runtime): a busybox image built locally, a pty driver for
-it sessions, daemons started and stopped by PID, and leak checks.

Kept apart from conftest.py so that test modules import it by its own name
(tests/integration's modules `from conftest import ...` theirs)."""
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import tarfile
import termios
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUSYBOX = "/bin/busybox"
CGROUP_ROOT = "/sys/fs/cgroup"


def nook_bin():
    """The runtime clients are pointed at: nook-oci beside $NOOK_BIN (or
    build/nook), else $NOOK_BIN as it is (runc, an older build)."""
    path = os.environ.get("NOOK_BIN", os.path.join(REPO, "build", "nook"))
    oci = os.path.join(os.path.dirname(path), "nook-oci")
    return oci if os.path.basename(path) == "nook" and os.path.exists(oci) else path


def sh(argv, timeout=60, check=True, **kw):
    """Run argv, capture text output; raise with both streams on failure."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def wait_for(pred, what, timeout=20, interval=0.05):
    """Poll pred() until it returns something truthy; fail naming `what`."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def need(*tools):
    """Skip the module when a client is not installed (scripts/install-deps.sh
    --test installs them all)."""
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)} (apt-get install podman docker.io "
                    f"containerd)", allow_module_level=True)
    if os.geteuid() != 0:
        pytest.skip("the client tests run as root", allow_module_level=True)


# ---- the image ---------------------------------------------------------------

def busybox_rootfs_tar(out):
    """A rootfs tarball: static busybox, its applets as symlinks, passwd/group."""
    applets = [a for a in sh([BUSYBOX, "--list"]).stdout.split() if a != "busybox"]

    def add_dir(t, name, mode=0o755):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode = tarfile.DIRTYPE, mode
        t.addfile(ti)

    def add_file(t, name, data, mode=0o644):
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode = len(data), mode
        t.addfile(ti, io.BytesIO(data))

    with tarfile.open(out, "w") as t:
        for d in ("bin", "etc", "proc", "sys", "dev", "root", "var", "run"):
            add_dir(t, d)
        add_dir(t, "tmp", 0o1777)
        with open(BUSYBOX, "rb") as f:
            add_file(t, "bin/busybox", f.read(), 0o755)
        for a in applets:
            ti = tarfile.TarInfo(f"bin/{a}")
            ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, "busybox", 0o777
            t.addfile(ti)
        add_file(t, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                 b"nobody:x:65534:65534:nobody:/:/bin/false\n")
        add_file(t, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    return out


def oci_archive(layer_tar, out, name):
    """An OCI image layout archive of one uncompressed layer, named for
    containerd (io.containerd.image.name) so `ctr image import` tags it."""
    def blob(t, data):
        digest = hashlib.sha256(data).hexdigest()
        ti = tarfile.TarInfo(f"blobs/sha256/{digest}")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
        return {"digest": "sha256:" + digest, "size": len(data)}

    def put(t, name_, data):
        ti = tarfile.TarInfo(name_)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))

    with open(layer_tar, "rb") as f:
        layer = f.read()
    with tarfile.open(out, "w") as t:
        lb = blob(t, layer)
        config = {"architecture": "amd64", "os": "linux",
                  "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                  "rootfs": {"type": "layers", "diff_ids": [lb["digest"]]}}
        cb = blob(t, json.dumps(config).encode())
        manifest = {"schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cb},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **lb}]}
        mb = blob(t, json.dumps(manifest).encode())
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **mb,
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": "latest"}}]}
        put(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        put(t, "index.json", json.dumps(index).encode())
    return out


def nook_wrapper(path, nook, root):
    """A runtime path for clients that cannot pass --root on every call
    (podman's cleanup process drops --runtime-flag): nook with a fixed root."""
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec {nook} --root {root} \"$@\"\n")
    os.chmod(path, 0o755)
    return path


# ---- terminals -----------------------------------------------------------------

class Pty:
    """A client run on a fresh pty as its controlling terminal, driven like
    a user at a keyboard: send() keys, expect() output."""

    def __init__(self, argv, rows=24, cols=80, env=None):
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.out = b""

    def resize(self, rows, cols):
        # TIOCSWINSZ on the master: the kernel sends SIGWINCH to the
        # slave's foreground process group, as a terminal emulator would.
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _read(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every slave fd is closed
            return None
        if not data:
            return None
        self.out += data
        return True

    def text(self):
        return self.out.decode(errors="replace").replace("\r", "")

    def expect(self, pattern, timeout=30):
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            m = rx.search(self.text())
            if m:
                return m
            left = deadline - time.time()
            if left <= 0 or self._read(min(left, 0.5)) is None:
                m = rx.search(self.text())
                if m:
                    return m
                raise AssertionError(f"no /{pattern}/ in terminal output:\n{self.text()}")

    def send(self, s):
        os.write(self.master, s.encode())

    def wait(self, timeout=30):
        deadline = time.time() + timeout
        while self.proc.poll() is None and time.time() < deadline:
            self._read(0.2)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.proc.args} did not exit:\n{self.text()}")
        while self._read(0.05):
            pass
        os.close(self.master)
        return self.proc.returncode


# ---- daemons and leaks -------------------------------------------------------------

def start_daemon(argv, log_path, ready, what, timeout=30):
    """Start a daemon of the test's own; wait until ready() holds."""
    log = open(log_path, "w")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    log.close()
    try:
        wait_for(lambda: p.poll() is not None or ready(), f"{what} to start", timeout)
    except AssertionError:
        stop_daemon(p)
        raise
    if p.poll() is not None:
        with open(log_path) as f:
            raise AssertionError(f"{what} exited {p.returncode}:\n{f.read()[-3000:]}")
    return p


def stop_daemon(p, timeout=30):
    """SIGTERM by PID, SIGKILL by PID if it lingers; returns the exit code."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def procs_mentioning(text):
    """PIDs (not ours) whose command line mentions text: shims, conmon,
    monitors left behind by a client that used the test's directories."""
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
            found.append((int(pid), cmd.strip()))
    return found


def mounts_under(prefix):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def cgroup_dirs(name):
    """The cgroup directories called /name in every mounted hierarchy."""
    out = []
    for h in sorted(os.listdir(CGROUP_ROOT)):
        d = os.path.join(CGROUP_ROOT, h, name)
        if os.path.isdir(d) and not os.path.islink(os.path.join(CGROUP_ROOT, h)):
            out.append(d)
    return out


def cgroup_of(pid, controller="memory"):
    """The host path of a process's cgroup in one v1 hierarchy."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return os.path.join(CGROUP_ROOT, controller, path.lstrip("/"))
    raise AssertionError(f"pid {pid} has no {controller} cgroup")


def remove_cgroup_parent(name):
    """rmdir the client-made parent cgroup /name (deepest first); returns
    what was not empty: a container cgroup or process left behind."""
    leaks = []
    for top in cgroup_dirs(name):
        for base, dirs, _files in os.walk(top, topdown=False):
            try:
                with open(os.path.join(base, "cgroup.procs")) as f:
                    procs = f.read().split()
            except OSError:
                procs = []
            if procs:
                leaks.append(f"{base} holds {procs}")
                continue
            if base != top and os.path.basename(base) != "conmon":
                leaks.append(f"cgroup {base}")
            try:
                os.rmdir(base)
            except OSError as e:
                leaks.append(f"rmdir {base}: {e}")
    return leaks


class HostDirs:
    """Host paths a client creates outside its own directories (the shim's
    socket dir, dockerd's plugin dir and key, podman's blob cache): each is
    removed at the end if it did not exist before, a directory only while it
    holds nothing but empty directories. List files before their dirs."""

    def __init__(self, *paths):
        self.new = [p for p in paths if not os.path.lexists(p)]

    def cleanup(self):
        for p in self.new:
            if os.path.isfile(p):
                os.unlink(p)
            elif os.path.isdir(p):
                for base, _dirs, files in os.walk(p, topdown=False):
                    if files:
                        break
                    try:
                        os.rmdir(base)
                    except OSError:
                        break


def host_network_leaks():
    """Bridges and firewall rules a client would make if networking were on."""
    leaks = []
    for dev in ("docker0", "cni-podman0", "podman0", "nerdctl0"):
        if os.path.exists(f"/sys/class/net/{dev}"):
            leaks.append(f"link {dev}")
    if shutil.which("iptables"):
        p = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True)
        if re.search(r"DOCKER|CNI-|NETAVARK", p.stdout):
            leaks.append("iptables rules: " + p.stdout)
    if shutil.which("nft"):
        p = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
        if re.search(r"docker|netavark|cni", p.stdout, re.I):
            leaks.append("nft tables: " + p.stdout)
    return leaks


def start_containerd(d):
    """containerd of the test's own: every path under d (state, root, the
    opt plugin's dir, sockets), CRI off so no CNI or pod networking."""
    os.makedirs(d, exist_ok=True)
    sock = os.path.join(d, "containerd.sock")
    conf = os.path.join(d, "config.toml")
    with open(conf, "w") as f:
        f.write(f'''version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
''')
    p = start_daemon(["containerd", "--config", conf], os.path.join(d, "log"),
                     lambda: os.path.exists(sock), "containerd")
    return p, sock


# ---- fixtures (imported by each test module: a conftest.py here would be
# imported as `conftest` next to tests/integration's, whose modules
# `from conftest import ...`) ------------------------------------------------------

@pytest.fixture(scope="session")
def nook():
    path = nook_bin()
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (meson setup build && ninja -C build)")
    return path


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory):
    return busybox_rootfs_tar(str(tmp_path_factory.mktemp("image") / "busybox.tar"))


def sweep(tmp, cgroup_parent, host_dirs, own_mounts=None):
    """After a client's daemon stopped: end the processes still naming its
    directory (by PID), unmount what is left under it, remove its cgroup
    parent, restore the host directories it used. Returns what leaked;
    mounts under own_mounts are the client's own store, not leaks."""
    leaks = []
    for pid, cmd in procs_mentioning(tmp):
        leaks.append(f"process {pid} {cmd}")
        os.kill(pid, signal.SIGKILL)
    for m in reversed(mounts_under(tmp)):
        if not (own_mounts and m.startswith(own_mounts)):
            leaks.append(f"mount {m}")
        sh(["umount", "-l", m], check=False)
    leaks += remove_cgroup_parent(cgroup_parent) + host_network_leaks()
    host_dirs.cleanup()
    return leaks


@contextlib.contextmanager
def checked(client, what):
    """Yield a started client (docker, containerd); afterwards shut it down
    and fail on anything it left behind."""
    try:
        yield client
    finally:
        leaks = client.shutdown()
    assert not leaks, f"{what} left behind: " + "; ".join(leaks)
