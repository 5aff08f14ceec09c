"""Foreground `run` and `exec` with terminal: true and no console socket:
nook relays between the user's terminal and the container's pty, passes
window sizes, and restores the user's terminal afterwards."""
import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time


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
