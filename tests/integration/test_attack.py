"""Attacks on the merged hardening of issue 11, beyond its own tests.

A container process with CAP_SYS_PTRACE (no user namespace) may attach to
any process of its pid namespace, non-dumpable or not. Whatever nook runs
there before execve must therefore hold nothing the container lacks:
tests/helper/ptsteal.c attaches to each new pid and makes it call
open_by_handle_at on the root inode of the filesystem the rootfs lives
on, which only CAP_DAC_READ_SEARCH in the host's user namespace allows."""
import os
import subprocess
import uuid

import pytest

from attacker import host_marker, start_attacker, stop_attacker
from conftest import wait_for
# The caller's environment (a CI token, say) is nook's, not the container's.
SECRET_ENV = dict(os.environ, NOOK_ATTACK_TOKEN="host-token")


def fs_root_relative(path):
    """`path` relative to the root of the filesystem it is on."""
    path = os.path.realpath(path)
    dev = os.stat(path).st_dev
    top = path
    while top != "/" and os.stat(os.path.dirname(top)).st_dev == dev:
        top = os.path.dirname(top)
    return os.path.relpath(path, top)


def start_ptsteal(runtime, bundle, tmp_path, mode=""):
    host = host_marker(tmp_path)
    if os.stat(host).st_dev != os.stat(bundle.rootfs).st_dev:
        pytest.skip("the rootfs and the host marker are on different filesystems")
    with open("/proc/self/mountinfo") as f:
        fstype = [l.split(" - ")[1].split()[0] for l in f
                  if l.split()[4] == "/"][0]
    if fstype != "ext4":
        pytest.skip(f"the attack's file handle is ext4's; / is {fstype}")
    rel = fs_root_relative(host / "marker")
    return start_attacker(runtime, bundle, "ptsteal", rel, mode), host


def stop_ptsteal(runtime, bundle, cid, host):
    out = stop_attacker(runtime, bundle, cid, host, ("READ", "CREATED", "ENVIRON"))
    last = out.splitlines()[-1].split()
    assert last[0] == "seen", out
    counts = dict(zip(last[::2], map(int, last[1::2])))
    # "CREDS PID: COMM CapPrm CapEff Seccomp NoNewPrivs" of each process caught
    counts["creds"] = [l.split()[2:] for l in out.splitlines() if l.startswith("CREDS ")]
    return counts


FILTER = {"defaultAction": "SCMP_ACT_ALLOW",
          "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
                        "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}]}
CREDS_CASES = pytest.mark.parametrize(
    "seccomp,nnp", [(False, True), (True, False), (True, True)],
    ids=["plain", "filter-without-nnp", "filter-with-nnp"])


def start_ptsteal_under(runtime, bundle, tmp_path, seccomp, nnp):
    """ptsteal with no_new_privs as `nnp` and, with `seccomp`, FILTER."""
    bundle.process["noNewPrivileges"] = nnp
    if seccomp:
        bundle.linux["seccomp"] = FILTER
    return start_ptsteal(runtime, bundle, tmp_path)


@CREDS_CASES
def test_exec_process_holds_no_host_capability_when_visible(runtime, bundle, tmp_path,
                                                            seccomp, nnp):
    # Without no_new_privs, loading the filter needs CAP_SYS_ADMIN: nook
    # loads it before the process becomes visible, and drops it.
    cid, host = start_ptsteal_under(runtime, bundle, tmp_path, seccomp, nnp)
    try:
        for _ in range(200):
            # the attacker kills what it caught: such an exec fails
            runtime.run("exec", cid, "true", check=False, env=SECRET_ENV)
    finally:
        counts = stop_ptsteal(runtime, bundle, cid, host)
    # the attack really ran: it made exec'd processes call what it chose
    assert counts["injected"] > 0, counts
    creds = counts["creds"]
    # caught before its execve (nook, "memfd:nook" when sealed) or after
    # ("true"): never more than the container's CAP_SYS_PTRACE
    assert_creds_within(creds, 1 << 19, nnp, seccomp and not nnp)
    # and it caught processes in the window that matters
    assert any(c[0] != "true" for c in creds), creds


def assert_creds_within(creds, allowed, nnp, filtered):
    """Every process the attacker caught held no capability beyond
    `allowed`, and the no_new_privs and filter state it must have had."""
    assert creds
    for comm, prm, eff, seccomp, no_new_privs in creds:
        assert int(prm, 16) & ~allowed == 0 and int(eff, 16) & ~allowed == 0, creds
        assert no_new_privs == ("1" if nnp else "0"), creds
        if filtered:
            assert seccomp == "2", creds


@CREDS_CASES
def test_sidecar_init_holds_no_host_capability_when_visible(runtime, bundle, tmp_path,
                                                            seccomp, nnp):
    # A "pod": the sidecar joins the attacker's pid namespace; its init
    # proper is cloned there after pivot_root, with its final credentials
    # (and, without no_new_privs, its filter) already.
    cid, host = start_ptsteal_under(runtime, bundle, tmp_path, seccomp, nnp)
    try:
        first = runtime.state(cid)["pid"]
        side = bundle.sidecar(str(tmp_path / "sidecar"), first)
        for _ in range(60):
            sid = runtime.new_id()
            runtime.run("create", "--bundle", side.path, sid, check=False, env=SECRET_ENV)
            runtime.run("delete", "--force", sid, check=False)
    finally:
        counts = stop_ptsteal(runtime, bundle, cid, host)
    assert counts["injected"] > 0, counts
    # the sidecar's process has no capabilities at all
    assert_creds_within(counts["creds"], 0, nnp, seccomp and not nnp)


def test_exec_process_shows_no_host_environment(runtime, bundle, tmp_path):
    # Before its execve the exec'd process is a copy of nook: its
    # /proc/PID/environ (readable with CAP_SYS_PTRACE) was the environment
    # of whoever ran `nook exec`.
    cid, host = start_ptsteal(runtime, bundle, tmp_path, mode="env")
    try:
        for _ in range(200):
            runtime.run("exec", cid, "true", env=SECRET_ENV)
    finally:
        counts = stop_ptsteal(runtime, bundle, cid, host)
    # the watcher read environments of exec'd processes before their execve
    assert counts["blank"] > 0, counts


def test_home_lookup_does_not_read_proc_for_the_container(runtime, bundle):
    # The rootfs's /etc/passwd is the container's to choose. As a symlink
    # to /proc/kmsg it made nook, still holding CAP_SYSLOG before the user
    # switch, read (and so take away from the host's log reader) the
    # kernel log: a line shaped like a passwd entry became HOME.
    os.unlink(os.path.join(bundle.rootfs, "etc", "passwd"))
    os.symlink("/proc/kmsg", os.path.join(bundle.rootfs, "etc", "passwd"))
    tag = "/kmsg-" + uuid.uuid4().hex[:12]
    env = [e for e in bundle.process["env"] if not e.startswith("HOME=")]
    bundle.process["env"] = env
    with open("/dev/kmsg", "w") as k:
        k.write(f"nooktest:x:0:0:x:{tag}:/bin/sh\n")
    out = runtime.output(bundle.sh('echo "HOME=$HOME"'))
    assert "HOME=/\n" in out and tag not in out, out
    # and through exec
    bundle.sh("sleep 30").write()
    cid = runtime.new_id()
    runtime.run("run", "--detach", "--bundle", bundle.path, cid)
    try:
        with open("/dev/kmsg", "w") as k:
            k.write(f"nooktest:x:0:0:x:{tag}x:/bin/sh\n")
        p = runtime.run("exec", cid, "sh", "-c", 'echo "HOME=$HOME"')
        assert p.stdout == "HOME=/\n", p.stdout
    finally:
        runtime.run("delete", "--force", cid)


def join_ns(bundle, kind, path):
    for ns in bundle.linux["namespaces"]:
        if ns["type"] == kind:
            ns["path"] = path


def test_namespaced_settings_refused_in_the_hosts_own_namespace(runtime, bundle):
    # A namespace path that is nook's own (the host's): a net.* sysctl or
    # a hostname would be written to the host. Each value is the host's
    # current one, so a runtime that writes anyway changes nothing here.
    me = os.getpid()
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        fwd = f.read().strip()
    join_ns(bundle, "network", f"/proc/{me}/ns/net")
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": fwd}
    p = runtime.run_bundle(bundle.args("true").write())
    assert p.returncode != 0 and "is the host's own" in p.stderr \
        and "net.ipv4.ip_forward" in p.stderr, p.stderr
    bundle.linux.pop("sysctl")
    bundle.config["hostname"] = os.uname().nodename
    join_ns(bundle, "uts", f"/proc/{me}/ns/uts")
    p = runtime.run_bundle(bundle.write())
    assert p.returncode != 0 and "`hostname` would change the host" in p.stderr, p.stderr
    # a network namespace of the test's own making is fine
    bundle.config.pop("hostname")
    for ns in bundle.linux["namespaces"]:
        ns.pop("path", None)
    other = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        wait_for(lambda: os.stat(f"/proc/{other.pid}/ns/net").st_ino
                 != os.stat("/proc/self/ns/net").st_ino, 10, "unshare --net to run")
        join_ns(bundle, "network", f"/proc/{other.pid}/ns/net")
        bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1"}
        out = runtime.output(bundle.args("cat", "/proc/sys/net/ipv4/ip_forward").write())
        assert out.strip() == "1", out
    finally:
        other.kill()
        other.wait()


def test_exec_survives_its_sync_socket_taken(runtime, bundle, tmp_path):
    # pidfd_getfd (CAP_SYS_PTRACE) of the exec'd process before its
    # execve gives the container the process's end of the sync socket:
    # held open, nook waited for an EOF that never came. Now nook reads
    # up to the joiner's report, sent once the process exec'd.
    cid, host = start_ptsteal(runtime, bundle, tmp_path, mode="fds")
    codes = []
    try:
        for i in range(100):
            r = runtime.run("exec", cid, "sh", "-c", f"exit {i % 7}", timeout=20, check=False)
            codes.append(r.returncode)
    finally:
        counts = stop_ptsteal(runtime, bundle, cid, host)
    # Each exec ran to its own exit status, none hung or failed...
    assert codes == [i % 7 for i in range(100)], codes
    # ...while the attacker really held the process's sync socket: before
    # its execve that is its only fd >= 3 (SOCK_SEQPACKET).
    assert counts["seqpacket"] > 0, counts


def test_sidecar_create_and_start_survive_its_sync_socket_taken(runtime, bundle, tmp_path):
    # A sidecar's init proper, cloned into the attacker's pid namespace,
    # holds the sync socket until CREATED: nook takes CREATED as a record,
    # never the socket's EOF, so holding it stalls nothing.
    cid, host = start_ptsteal(runtime, bundle, tmp_path, mode="fds")
    codes = []
    try:
        first = runtime.state(cid)["pid"]
        side = bundle.sidecar(str(tmp_path / "sidecar"), first)
        for _ in range(40):
            sid = runtime.new_id()
            codes.append(runtime.run("create", "--bundle", side.path, sid, check=False,
                                     timeout=20).returncode)
            codes.append(runtime.run("start", sid, check=False, timeout=20).returncode)
            runtime.run("delete", "--force", sid, check=False)
    finally:
        counts = stop_ptsteal(runtime, bundle, cid, host)
    assert codes == [0] * 80, codes
    assert counts["seqpacket"] > 0, counts
