"""Foreground `run` and `exec` with terminal: true and no console socket:
nook relays between the user's terminal and the container's pty, passes
window sizes, and restores the user's terminal afterwards."""
import copy
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time

from conftest import Bundle


def run_on_pty(cmd, rows=24, cols=80, send=None, timeout=20):
    """Run cmd with a pty of the given size as its stdio; return (rc, output,
    terminal attributes of the pty after the run)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    before = termios.tcgetattr(slave)
    p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    out = b""
    deadline = time.time() + timeout
    sent = False
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            out += chunk
        if send and not sent and b"ready" in out:
            os.write(master, send)
            sent = True
        if p.poll() is not None and not r:
            break
    rc = p.wait(5)
    after = termios.tcgetattr(slave)
    os.close(master)
    os.close(slave)
    return rc, out.decode(errors="replace"), before == after


def test_foreground_terminal_relay(runtime, bundle):
    bundle.process["terminal"] = True
    bundle.sh("echo ready; read line; echo got:$line; nktest tty; exit 3").write()
    cid = runtime.new_id()
    rc, out, restored = run_on_pty(runtime.cmd("run", "--bundle", bundle.path, cid),
                                   rows=40, cols=132, send=b"hello\r")
    assert rc == 3, out
    assert "got:hello" in out
    assert "tty=/dev/pts/0" in out and "rows=40 cols=132" in out and "ctty=yes" in out
    assert restored, "terminal attributes not restored"


def test_exec_tty_relay(runtime, bundle):
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    rc, out, restored = run_on_pty(runtime.cmd("exec", "--tty", cid, "nktest", "tty"),
                                   rows=30, cols=100)
    runtime.run("delete", "--force", cid)
    assert rc == 0, out
    assert "tty=/dev/pts/" in out and "rows=30 cols=100" in out and "ctty=yes" in out
    assert restored


class PtySession:
    """cmd on a fresh pty whose slave is its controlling terminal (as in an
    interactive shell), so resizing the pty sends it SIGWINCH."""

    def __init__(self, cmd, rows=24, cols=80):
        self.master, self.slave = pty.openpty()
        self.resize(rows, cols)
        self.before = termios.tcgetattr(self.slave)
        slave = self.slave

        def ctty():
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        self.p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                  start_new_session=True, preexec_fn=ctty)
        self.out = b""

    def resize(self, rows, cols):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def expect(self, pattern, timeout=20):
        """Read until `pattern` (bytes) shows up after what earlier calls
        consumed; return the text read."""
        start = len(self.out)
        deadline = time.time() + timeout
        while pattern not in self.out[start:] and time.time() < deadline:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if r:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    break
        assert pattern in self.out[start:], self.out
        return self.out[start:].decode(errors="replace")

    def write(self, data):
        os.write(self.master, data)

    def user_attrs(self):
        return termios.tcgetattr(self.slave)

    def finish(self, timeout=20):
        deadline = time.time() + timeout
        while self.p.poll() is None and time.time() < deadline:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if r:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    pass
        rc = self.p.wait(5)
        while select.select([self.master], [], [], 0.1)[0]:    # what nook wrote last
            try:
                self.out += os.read(self.master, 4096)
            except OSError:
                break
        restored = termios.tcgetattr(self.slave) == self.before
        os.close(self.master)
        os.close(self.slave)
        return rc, restored


def _raw(attrs):
    lflag = attrs[3]
    return not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)


WINCH_SCRIPT = ("trap 'nktest tty' WINCH; echo ready; "
                "while [ ! -e /tmp/done ]; do sleep 0.05; done; echo bye")


def test_foreground_run_raw_mode_and_sigwinch(runtime, bundle):
    bundle.process["terminal"] = True
    bundle.sh(WINCH_SCRIPT).write()
    cid = runtime.new_id()
    s = PtySession(runtime.cmd("run", "--bundle", bundle.path, cid), rows=24, cols=80)
    try:
        s.expect(b"ready")
        assert _raw(s.user_attrs()), "the user's terminal is not in raw mode during the run"
        s.resize(50, 120)          # the kernel sends SIGWINCH to nook
        s.expect(b"rows=50 cols=120")
        s.resize(31, 77)
        s.expect(b"rows=31 cols=77")
        open(os.path.join(bundle.rootfs, "tmp", "done"), "w").close()
        s.expect(b"bye")
    finally:
        rc, restored = s.finish()
    assert rc == 0 and restored


def test_exec_tty_sigwinch(runtime, bundle):
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    s = PtySession(runtime.cmd("exec", "--tty", cid, "sh", "-c", WINCH_SCRIPT), rows=24, cols=80)
    try:
        s.expect(b"ready")
        assert _raw(s.user_attrs())
        s.resize(45, 111)
        s.expect(b"rows=45 cols=111")
        open(os.path.join(bundle.rootfs, "tmp", "done"), "w").close()
        s.expect(b"bye")
    finally:
        rc, restored = s.finish()
        runtime.run("delete", "--force", cid)
    assert rc == 0 and restored


def test_output_at_exit_is_not_lost(runtime, bundle):
    # The last writes before the process exits may still be on their way
    # through the pty when nook learns of the exit: all must arrive.
    bundle.process["terminal"] = True
    bundle.sh("seq 1 3000; echo last-line").write()
    for _ in range(10):
        cid = runtime.new_id()
        s = PtySession(runtime.cmd("run", "--bundle", bundle.path, cid))
        rc, restored = s.finish()
        lines = s.out.decode().split("\r\n")
        assert rc == 0 and restored
        assert lines[-2:] == ["last-line", ""] and lines[:-2] == [str(i) for i in range(1, 3001)]


def test_terminal_restored_when_container_is_killed(runtime, bundle):
    bundle.process["terminal"] = True
    bundle.sh("echo ready; sleep 60").write()
    cid = runtime.new_id()
    s = PtySession(runtime.cmd("run", "--bundle", bundle.path, cid))
    try:
        s.expect(b"ready")
        assert _raw(s.user_attrs())
        runtime.run("kill", cid, "KILL")
    finally:
        rc, restored = s.finish()
    assert rc == 128 + 9 and restored


def test_terminal_restored_when_nook_gets_sigterm(runtime, bundle):
    # SIGTERM to nook goes to the container init; its exit ends the run.
    bundle.process["terminal"] = True
    bundle.sh("trap 'echo term; exit 9' TERM; echo ready; "
              "while true; do sleep 0.05; done").write()
    cid = runtime.new_id()
    s = PtySession(runtime.cmd("run", "--bundle", bundle.path, cid))
    try:
        s.expect(b"ready")
        s.p.send_signal(signal.SIGTERM)
        s.expect(b"term")
    finally:
        rc, restored = s.finish()
    assert rc == 9 and restored


def test_terminal_untouched_when_run_fails(runtime, bundle):
    bundle.process["terminal"] = True
    bundle.args("/no/such/binary").write()
    cid = runtime.new_id()
    s = PtySession(runtime.cmd("run", "--bundle", bundle.path, cid))
    rc, restored = s.finish()
    assert rc != 0 and restored
    assert b"/no/such/binary" in s.out


def test_job_control_in_container_terminal(runtime, bundle):
    # ^Z typed at the terminal stops the container's foreground job (its own
    # process group, made foreground by the shell with -m); the shell gets
    # the terminal back and sees the job stopped. Results go to files: a
    # ^Z also flushes the pty's pending output (no NOFLSH).
    bundle.process["terminal"] = True
    bundle.sh("set -m; echo ready; sleep 60; echo $? > /tmp/st; jobs > /tmp/jobs; "
              "kill -9 %1; mv /tmp/st /tmp/status").write()
    status = os.path.join(bundle.rootfs, "tmp", "status")
    cid = runtime.new_id()
    s = PtySession(runtime.cmd("run", "--bundle", bundle.path, cid))
    try:
        s.expect(b"ready")
        deadline = time.time() + 20
        while not os.path.exists(status) and time.time() < deadline:
            s.write(b"\x1a")       # again until sleep is the foreground job
            until = time.time() + 0.5
            while time.time() < until and not os.path.exists(status):
                r, _, _ = select.select([s.master], [], [], 0.05)
                if r:
                    s.out += os.read(s.master, 4096)
    finally:
        rc, restored = s.finish()
    assert open(status).read() == "148\n"      # 128 + SIGTSTP
    jobs = open(os.path.join(bundle.rootfs, "tmp", "jobs")).read()
    assert "Stopped" in jobs and "sleep 60" in jobs, jobs
    assert rc == 0 and restored


# ---- kill of an init that ignores SIGTERM: as runc ----------------------------


def _sig_bits(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1], 16)
    return 0


def test_kill_of_init_ignoring_sigterm_like_runc(runtime, bundle):
    bundle.args("nktest", "ignore-term").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    deadline = time.time() + 10
    while not _sig_bits(pid, "SigIgn") & (1 << (signal.SIGTERM - 1)) and time.time() < deadline:
        time.sleep(0.02)
    assert _sig_bits(pid, "SigIgn") & (1 << (signal.SIGTERM - 1))
    # `kill` (SIGTERM by default) succeeds; the kernel drops the ignored
    # signal, the init keeps running (runc 1.1.5: exit 0, still running).
    assert runtime.run("kill", cid).returncode == 0
    assert runtime.state(cid)["status"] == "running"
    assert not _sig_bits(pid, "ShdPnd") & (1 << (signal.SIGTERM - 1))
    p = runtime.run("delete", cid, check=False)
    assert p.returncode != 0 and "running" in p.stderr
    runtime.run("kill", cid, "KILL")
    runtime.wait_status(cid, "stopped")
    # runc: `kill` of a stopped container fails, `kill --all` does not.
    p = runtime.run("kill", cid, "KILL", check=False)
    assert p.returncode != 0 and "not running" in p.stderr
    assert runtime.run("kill", "--all", cid, "KILL").returncode == 0
    runtime.run("delete", cid)


TTY_SCRIPT = ("nktest tty; stat -L -c owner=%u /proc/self/fd/0; "
              "echo pid=$$ sid=$(cut -d' ' -f6 /proc/$$/stat)")


def _tty_checks(out, rows, cols):
    assert "tty=/dev/pts/" in out and f"rows={rows} cols={cols}" in out, out
    # its own session, the pty (made its user's before it ran) as its
    # controlling terminal
    assert "ctty=yes" in out and "owner=1000" in out, out
    f = dict(w.split("=") for w in out.split() if w.startswith(("pid=", "sid=")))
    assert f["pid"] == f["sid"], out


def test_exec_tty_as_user_leads_its_session(runtime, bundle):
    # The pty is opened and chowned by nook's joiner; the exec'd process,
    # born with its final credentials, only makes it its terminal.
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    try:
        rc, out, restored = run_on_pty(runtime.cmd("exec", "--tty", "--user", "1000:1000", cid,
                                                   "sh", "-c", TTY_SCRIPT), rows=33, cols=99)
    finally:
        runtime.run("delete", "--force", cid)
    assert rc == 0, out
    _tty_checks(out, 33, 99)
    assert restored


def test_sidecar_tty_as_user_leads_its_session(runtime, bundle, tmp_path):
    # A sidecar in a joined pid namespace: its init proper is cloned there
    # after the pty was set up for it.
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    try:
        first = runtime.state(cid)["pid"]
        side = Bundle(str(tmp_path / "sidecar"), copy.deepcopy(bundle.config))
        os.makedirs(side.path)
        side.config["root"] = {"path": bundle.rootfs, "readonly": False}
        side.process["terminal"] = True
        side.process["user"] = {"uid": 1000, "gid": 1000}
        side.sh(TTY_SCRIPT)
        for ns in side.linux["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = f"/proc/{first}/ns/pid"
        side.write()
        rc, out, restored = run_on_pty(runtime.cmd("run", "--bundle", side.path, runtime.new_id()),
                                       rows=35, cols=101)
    finally:
        runtime.run("delete", "--force", cid)
    assert rc == 0, out
    _tty_checks(out, 35, 101)
    assert restored
