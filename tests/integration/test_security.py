"""Security: capability sets, the user switch, no_new_privs, seccomp (errno,
argument filters, flags, notify), the engine's default profile, and LSM
labels on a host without AppArmor/SELinux. Every assertion reads what the
container's kernel view shows (/proc/self/status, syscall results)."""
import errno
import fcntl
import json
import os
import select
import socket
import struct
import subprocess
import threading

import pytest

from conftest import wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
# What Docker gives a container by default.
DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]

# x86_64 syscall numbers used with `secprobe syscall`.
NR_GETPGID, NR_GETPRIORITY, NR_PERSONALITY = 121, 140, 135

STATUS_KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
               "Seccomp_filters", "Uid", "Gid", "Groups")
STATUS_SCRIPT = "grep -E '^(%s):' /proc/self/status" % "|".join(STATUS_KEYS)


def mask(names):
    m = 0
    for n in names:
        m |= 1 << CAPS.index(n)
    return m


def status(text):
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def caps_of(st):
    return {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def set_caps(bundle, bnd=(), eff=(), prm=(), inh=(), amb=()):
    bundle.process["capabilities"] = {"bounding": list(bnd), "effective": list(eff),
                                      "permitted": list(prm), "inheritable": list(inh),
                                      "ambient": list(amb)}


def as_user(bundle, uid, gid=None, **extra):
    """Run the process as uid; the fixture's rootfs dir is 0700 (mkdtemp),
    open it so a non-root user can enter "/"."""
    bundle.process["user"] = dict({"uid": uid, "gid": uid if gid is None else gid}, **extra)
    os.chmod(bundle.rootfs, 0o755)
    os.chmod(os.path.join(bundle.rootfs, "tmp"), 0o1777)


def detached(runtime, bundle, cid, *cmd):
    """create/run -d with stdio on /dev/null: the container must not hold
    the pipes a captured run waits on."""
    bundle.write()
    subprocess.run(runtime.cmd(*cmd, "--bundle", bundle.path, cid), stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)


def probe_results(out):
    """'NAME: RESULT' lines of secprobe -> list of (name, result)."""
    return [tuple(l.split(": ", 1)) for l in out.splitlines() if ": " in l]


def default_profile(caps, machine="x86_64"):
    """data/seccomp-default.json resolved as nk_seccomp_default_profile()
    does: the rules whose includes hold and excludes do not."""
    with open(os.path.join(REPO, "data", "seccomp-default.json")) as f:
        doc = json.load(f)
    have = set(caps)
    rules = []
    for r in doc["syscalls"]:
        inc, exc = r.get("includes", {}), r.get("excludes", {})
        if not set(inc.get("caps", [])) <= have:
            continue
        if "arches" in inc and machine not in inc["arches"]:
            continue
        if set(exc.get("caps", [])) & have or machine in exc.get("arches", []):
            continue
        rules.append({k: v for k, v in r.items() if k not in ("includes", "excludes", "comment")})
    return {"defaultAction": doc["defaultAction"], "defaultErrnoRet": doc["defaultErrnoRet"],
            "architectures": doc["archMap"][machine], "syscalls": rules}


# ---- capabilities, user, no_new_privs ------------------------------------


def test_caps_spec_default_root(runtime, bundle):
    st = status(runtime.output(bundle.sh(STATUS_SCRIPT)))
    base = mask(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    # `nook spec` lists ambient without inheritable (as runc does): the
    # kernel cannot raise those, so ambient stays empty.
    assert caps_of(st) == {"CapInh": 0, "CapPrm": base, "CapEff": base, "CapBnd": base, "CapAmb": 0}
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "0"
    assert st["Uid"].split() == ["0"] * 4


@pytest.mark.parametrize("nnp", [True, False])
def test_all_five_sets_root(runtime, bundle, nnp):
    bnd = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID"]
    bundle.process["noNewPrivileges"] = nnp
    set_caps(bundle, bnd=bnd, eff=["CAP_KILL"], prm=["CAP_KILL", "CAP_CHOWN"],
             inh=["CAP_KILL", "CAP_NET_RAW"], amb=["CAP_KILL"])
    st = status(runtime.output(bundle.sh(STATUS_SCRIPT)))
    c = caps_of(st)
    # execve as root: permitted = bounding | inheritable, effective =
    # permitted; with no_new_privs never more than the permitted set held
    # before (the same numbers runc gives).
    prm = mask(["CAP_KILL", "CAP_CHOWN"]) if nnp else mask(bnd)
    assert c == {"CapBnd": mask(bnd), "CapPrm": prm, "CapEff": prm,
                 "CapInh": mask(["CAP_KILL", "CAP_NET_RAW"]), "CapAmb": mask(["CAP_KILL"])}
    assert st["NoNewPrivs"] == ("1" if nnp else "0")


def test_all_five_sets_non_root(runtime, bundle):
    as_user(bundle, 1000, additionalGids=[10, 20])
    keep = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    set_caps(bundle, bnd=keep + ["CAP_CHOWN"], eff=keep, prm=keep, inh=keep,
             amb=["CAP_NET_BIND_SERVICE"])
    st = status(runtime.output(bundle.sh(STATUS_SCRIPT)))
    c = caps_of(st)
    # A non-root process keeps across execve exactly its ambient set.
    assert c == {"CapInh": mask(keep), "CapPrm": mask(["CAP_NET_BIND_SERVICE"]),
                 "CapEff": mask(["CAP_NET_BIND_SERVICE"]), "CapBnd": mask(keep + ["CAP_CHOWN"]),
                 "CapAmb": mask(["CAP_NET_BIND_SERVICE"])}
    assert st["Uid"].split() == ["1000"] * 4 and st["Gid"].split() == ["1000"] * 4
    assert st["Groups"].split() == ["10", "20"]


ALLOW_PROFILE = {"defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
                               "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}]}


@pytest.mark.parametrize("uid", [0, 1000])
@pytest.mark.parametrize("nnp", [False, True])
def test_seccomp_loads_for_every_user_and_nnp(runtime, bundle, uid, nnp):
    # Loading a filter needs no_new_privs or CAP_SYS_ADMIN. Without NNP the
    # init holds CAP_SYS_ADMIN until the filter is on; it must not show up
    # in the container process.
    as_user(bundle, uid)
    bundle.process["noNewPrivileges"] = nnp
    set_caps(bundle, bnd=["CAP_KILL"], eff=["CAP_KILL"], prm=["CAP_KILL"])
    bundle.linux["seccomp"] = ALLOW_PROFILE
    out = runtime.output(bundle.sh(STATUS_SCRIPT + "; secprobe syscall %d 7" % NR_GETPGID))
    st = status(out)
    assert st["Seccomp"] == "2" and st["Seccomp_filters"] == "1"
    assert st["NoNewPrivs"] == ("1" if nnp else "0")
    c = caps_of(st)
    kill = mask(["CAP_KILL"])
    assert c["CapBnd"] == kill and c["CapInh"] == 0 and c["CapAmb"] == 0
    assert c["CapEff"] == c["CapPrm"] == (kill if uid == 0 else 0)
    assert "%d: EDOM" % NR_GETPGID in out


def test_exec_process_gets_same_security(runtime, bundle):
    bundle.process["noNewPrivileges"] = False
    set_caps(bundle, bnd=["CAP_KILL", "CAP_CHOWN"], eff=["CAP_KILL"], prm=["CAP_KILL"])
    bundle.linux["seccomp"] = ALLOW_PROFILE
    bundle.args("sleep", "30")
    cid = runtime.new_id()
    detached(runtime, bundle, cid, "run", "--detach")
    out = runtime.run("exec", cid, "/bin/sh", "-c",
                      STATUS_SCRIPT + "; secprobe syscall %d 7" % NR_GETPGID).stdout
    st = status(out)
    assert st["Seccomp"] == "2" and st["Seccomp_filters"] == "1" and st["NoNewPrivs"] == "0"
    assert int(st["CapBnd"], 16) == mask(["CAP_KILL", "CAP_CHOWN"])
    assert "%d: EDOM" % NR_GETPGID in out
    runtime.run("delete", "--force", cid)


def _exec_under(runtime, bundle, profile, nnp, *cmd):
    bundle.process["noNewPrivileges"] = nnp
    bundle.linux["seccomp"] = profile
    bundle.args("sleep", "30")
    cid = runtime.new_id()
    detached(runtime, bundle, cid, "run", "--detach")
    try:
        return runtime.run("exec", cid, *cmd, check=False)
    finally:
        runtime.run("delete", "--force", cid)


def test_exec_filter_loaded_by_joiner_tolerates_clone3_eperm(runtime, bundle):
    # Without no_new_privs the joiner loads the filter (it needs
    # CAP_SYS_ADMIN) and clones the process under it: a profile answering
    # clone3 with EPERM (older ones do) gets clone(2) instead.
    prof = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    set_caps(bundle, bnd=["CAP_KILL"], eff=["CAP_KILL"], prm=["CAP_KILL"])
    p = _exec_under(runtime, bundle, prof, False, "/bin/sh", "-c", STATUS_SCRIPT)
    assert p.returncode == 0, p.stderr
    st = status(p.stdout)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "0"
    assert caps_of(st)["CapPrm"] == mask(["CAP_KILL"])


@pytest.mark.parametrize("action", ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS"])
def test_exec_filter_denying_clone_is_a_clear_error_without_nnp(runtime, bundle, action):
    # nook's joiner must clone under the container's filter when it loads
    # it (noNewPrivileges false); a profile that refuses clone is named.
    deny = {"names": ["clone"], "action": action}
    if action == "SCMP_ACT_ERRNO":
        deny["errnoRet"] = 1
    prof = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                         deny]}
    p = _exec_under(runtime, bundle, prof, False, "true")
    assert p.returncode != 0
    assert "linux.seccomp" in p.stderr and "noNewPrivileges is false" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    if action == "SCMP_ACT_KILL_PROCESS":
        assert "SIGSYS" in p.stderr, p.stderr


def test_exec_filter_denying_clone_works_with_nnp(runtime, bundle):
    # With no_new_privs the filter needs no privilege: the exec'd process
    # loads it itself as its last step, nook's clone is not filtered.
    prof = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["clone", "clone3"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 1}]}
    p = _exec_under(runtime, bundle, prof, True, "/bin/sh", "-c", "echo ran; " + STATUS_SCRIPT)
    assert p.returncode == 0, p.stderr
    assert "ran" in p.stdout and status(p.stdout)["Seccomp"] == "2"


@pytest.mark.parametrize("nnp", [False, True])
def test_exec_notify_listener_answers(runtime, bundle, tmp_path, nnp):
    # The exec'd process's listener fd reaches the agent whether the
    # joiner loads the filter (no no_new_privs) or the process itself.
    path = str(tmp_path / "agent.sock")
    bundle.process["noNewPrivileges"] = nnp
    bundle.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path,
        "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_NOTIFY"}]}
    bundle.args("sleep", "30")
    first = Agent(path)     # the init's
    first.start()
    cid = runtime.new_id()
    detached(runtime, bundle, cid, "run", "--detach")
    try:
        wait_for(lambda: first.msg is not None, 10, "the init's notification on the listener")
        first.stop.set()
        first.join(10)
        os.unlink(path)
        agent = Agent(path)     # the exec'd process's
        agent.start()
        p = runtime.run("exec", cid, "secprobe", "syscall", str(NR_GETPGID), "7",
                        check=False, timeout=30)
        agent.stop.set()
        agent.join(10)
    finally:
        runtime.run("delete", "--force", cid)
    assert p.returncode == 0, p.stderr
    assert agent.error is None, agent.error
    assert "%d: ret=4242" % NR_GETPGID in p.stdout, p.stdout
    assert agent.msg["fds"] == ["seccompFd"] and agent.answered == 1


def test_impossible_caps_are_clear_errors(runtime, bundle):
    # This machine's bounding set lacks CAP_SYS_RESOURCE: nook cannot give it.
    set_caps(bundle, bnd=["CAP_SYS_RESOURCE"], eff=["CAP_SYS_RESOURCE"], prm=["CAP_SYS_RESOURCE"])
    p = runtime.run_bundle(bundle.args("true"))
    assert p.returncode != 0
    assert "process.capabilities.permitted: CAP_SYS_RESOURCE is not available" in p.stderr
    set_caps(bundle, bnd=["CAP_KILL"], eff=["CAP_KILL", "CAP_CHOWN"], prm=["CAP_KILL"])
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0
    assert "process.capabilities.effective: CAP_CHOWN is not in the permitted set" in p.stderr


def test_unknown_capability_name_is_error(runtime, bundle):
    set_caps(bundle, bnd=["CAP_KILL", "CAP_TEST"])
    p = runtime.run_bundle(bundle.args("true"))
    assert p.returncode != 0 and "CAP_TEST" in p.stderr


# ---- seccomp --------------------------------------------------------------


def test_denied_syscall_errno_and_argument_filters(runtime, bundle):
    bundle.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
             "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 34,
             "args": [{"index": 0, "value": 0xff00, "valueTwo": 0x1200,
                       "op": "SCMP_CMP_MASKED_EQ"}]},
            # two arguments: both must hold
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 35,
             "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GT"},
                      {"index": 1, "value": 9, "op": "SCMP_CMP_LE"}]},
            # a value above INT64_MAX survives the spec parser
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 21,
             "args": [{"index": 0, "value": 18446744073709551615, "op": "SCMP_CMP_EQ"}]},
            {"names": ["syslog"], "action": "SCMP_ACT_ERRNO"},
        ]}
    calls = [(NR_GETPGID, "7"), (NR_GETPGID, "8"), (NR_GETPGID, "0x1234"),
             (NR_GETPGID, "0x1334"), (NR_GETPRIORITY, "6 9"), (NR_GETPRIORITY, "6 10"),
             (NR_GETPRIORITY, "5 9"), (NR_PERSONALITY, "-1"), (NR_PERSONALITY, "0xffffffff"),
             (103, "0 0 0")]
    script = "; ".join("secprobe syscall %d %s" % c for c in calls)
    got = [r for _, r in probe_results(runtime.output(bundle.sh(script)))]
    assert got[0] == "EDOM"                     # == 7
    assert got[1] == "ESRCH"                    # no rule: the kernel's answer
    assert got[2] == "ERANGE"                   # (0x1234 & 0xff00) == 0x1200
    assert got[3] == "ESRCH"
    assert got[4] == "EDEADLK"                  # 6 > 5 and 9 <= 9
    assert got[5] == "EINVAL" and got[6] == "EINVAL"
    assert got[7] == "EISDIR"                   # all 64 bits set
    assert got[8].startswith("ret=")            # 32 bits set: not the same value
    assert got[9] == "EPERM"                    # errnoRet absent: EPERM


def test_default_errno_ret_and_unknown_syscall_skipped(runtime, bundle, tmp_path):
    prof = default_profile(DOCKER_CAPS)
    prof["defaultErrnoRet"] = errno.EOPNOTSUPP
    prof["syscalls"].append({"names": ["no_such_syscall_x"], "action": "SCMP_ACT_ALLOW"})
    bundle.linux["seccomp"] = prof
    bundle.sh("secprobe keyctl; secprobe syscall %d 0" % NR_GETPGID).write()
    log = tmp_path / "log"
    cid = runtime.new_id()
    p = runtime.run("--debug", "--log", str(log), "run", "--bundle", bundle.path, cid)
    res = dict(probe_results(p.stdout))
    assert res["keyctl"] == "EOPNOTSUPP"
    assert res[str(NR_GETPGID)].startswith("ret=")
    assert "no_such_syscall_x" in log.read_text()


def test_default_profile_busybox_workload_and_refusals(runtime, bundle):
    set_caps(bundle, bnd=DOCKER_CAPS, eff=DOCKER_CAPS, prm=DOCKER_CAPS)
    attacks = ("sleep 30 & victim=$!; "
               "secprobe unshare user; secprobe unshare mnt; secprobe clone-ns user; "
               "secprobe mount; secprobe keyctl; secprobe bpf; secprobe ptrace $victim; "
               "secprobe kexec; secprobe syscall 312 1 1 0 0 0; kill $victim")
    workload = ("set -e; cd /tmp; mkdir -p w/a; echo hello > w/a/f; cp w/a/f w/g; "
                "tar -cf w.tar w; rm -r w; tar -xf w.tar; gzip -9 w.tar; gunzip w.tar.gz; "
                "cat w/g | tr a-z A-Z | sed s/L/l/g > up; cat up; sort -r up | wc -c; "
                "ls -la /proc/self/fd >/dev/null; ps >/dev/null; date >/dev/null; id -u; "
                "(sleep 0.01; echo sub) & wait; find / -xdev -name f | head -1; "
                "chmod 600 up; chown 1:1 up; ln -s up lnk; readlink lnk; "
                "awk 'BEGIN{print 6*7}'; hostname; nc -l -p 8080 & sleep 0.05; kill $!; "
                "echo done")
    # Without the profile the same root (no CAP_SYS_ADMIN) may create a user
    # namespace and trace a sibling: the refusals below are the profile's.
    base = probe_results(runtime.output(bundle.sh(attacks)))
    assert ("unshare", "OK") in base and ("clone-ns", "OK") in base and ("ptrace", "OK") in base

    bundle.linux["seccomp"] = default_profile(DOCKER_CAPS)
    lines = runtime.output(bundle.sh(workload)).splitlines()
    assert lines[:4] == ["HEllO", "6", "0", "sub"], lines
    assert lines[4:7] == ["/tmp/w/a/f", "up", "42"] and lines[-1] == "done", lines
    out = runtime.output(bundle.sh(STATUS_SCRIPT + "; " + attacks))
    assert status(out)["Seccomp"] == "2"
    res = probe_results(out)
    refused = [(n, r) for n, r in res if n in ("unshare", "clone-ns", "mount", "keyctl", "bpf",
                                               "kexec_load", "312")]
    assert len(refused) == 8
    assert all(r == "EPERM" for _, r in refused), refused
    # ptrace is allowed as in Docker's and podman's profiles (kcmp, 312,
    # still needs CAP_SYS_PTRACE); the kernel's own checks still apply.
    assert ("ptrace", "OK") in res


# ---- the default profile as nook resolves it (`nook spec --seccomp`) ------
# Each test attacks one of the holes issue 11 found in the old profile.

X32 = 0x40000000
NR_SOCKET, NR_KEYCTL, NR_KCMP, NR_CLONE3 = 41, 250, 312, 435
NR_MSEAL, NR_REMOVEXATTRAT, NR_FILE_GETATTR = 462, 466, 468   # newer than libseccomp 2.5.4
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_ALG, AF_VSOCK = 1, 2, 10, 16, 17, 38, 40


def nook_profile(runtime, tmp_path, setarch=None):
    """linux.seccomp of `nook spec --seccomp` (optionally under setarch):
    the engine's profile for the spec's bounding set, resolved by nook."""
    d = tmp_path / ("spec-" + (setarch or "plain"))
    d.mkdir()
    cmd = runtime.cmd("spec", "--seccomp", "--bundle", str(d))
    subprocess.run((["setarch", setarch] if setarch else []) + cmd, check=True)
    with open(d / "config.json") as f:
        return json.load(f)["linux"]["seccomp"]


def probe(runtime, bundle, *calls):
    """Run secprobe once per call in one container; the answers in order."""
    out = runtime.output(bundle.sh("; ".join("secprobe " + c for c in calls)))
    res = [r for _, r in probe_results(out)]
    assert len(res) == len(calls), out
    return res


def test_default_profile_denies_io_uring(runtime, bundle, tmp_path):
    # io_uring operations (an IORING_OP_SOCKET of AF_VSOCK, say) never
    # pass through seccomp: the rings themselves are refused, as in Docker's
    # and podman's profiles.
    calls = ("io_uring", "syscall 426 0 0 0 0 0", "syscall 427 0 0 0 0")
    assert probe(runtime, bundle, *calls)[0] == "OK"    # the kernel has io_uring
    bundle.linux["seccomp"] = nook_profile(runtime, tmp_path)
    assert probe(runtime, bundle, *calls) == ["EPERM"] * 3


def test_default_profile_socket_families_exact(runtime, bundle, tmp_path):
    # The family is compared on exactly the low 32 bits the kernel reads:
    # high bits set in the 64-bit register neither smuggle AF_VSOCK past
    # the filter nor refuse an allowed family.
    bundle.linux["seccomp"] = nook_profile(runtime, tmp_path)
    allowed = [(AF_UNIX, 1), (AF_INET, 1), (AF_INET6, 2), (AF_NETLINK, 3),
               ((1 << 32) | AF_UNIX, 1), ((1 << 63) | AF_INET, 2)]
    refused = [(AF_VSOCK, 1), ((1 << 32) | AF_VSOCK, 1), ((1 << 63) | AF_VSOCK, 1),
               (0xffffffff00000000 | AF_VSOCK, 1), (AF_ALG, 5), ((1 << 40) | AF_ALG, 5),
               (AF_PACKET, 3)]     # AF_PACKET only with CAP_NET_RAW
    calls = ["syscall %d %#x %d 0" % (NR_SOCKET, f, t) for f, t in allowed + refused]
    res = probe(runtime, bundle, *calls)
    assert all(r.startswith("ret=") for r in res[:len(allowed)]), res
    assert res[len(allowed):] == ["EPERM"] * len(refused), res


def test_default_profile_af_packet_with_net_raw(runtime, bundle, tmp_path):
    set_caps(bundle, bnd=DOCKER_CAPS, eff=DOCKER_CAPS, prm=DOCKER_CAPS)
    bundle.linux["seccomp"] = default_profile(DOCKER_CAPS)
    res = probe(runtime, bundle, "syscall %d %d 3 0" % (NR_SOCKET, AF_PACKET),
                "syscall %d %#x 3 0" % (NR_SOCKET, (1 << 32) | AF_PACKET),
                "syscall %d %#x 1 0" % (NR_SOCKET, (1 << 32) | AF_VSOCK))
    assert res[0].startswith("ret=") and res[1].startswith("ret=") and res[2] == "EPERM", res


def test_names_libseccomp_lacks_are_filtered_or_reported(runtime, bundle):
    # mseal and removexattrat are newer than libseccomp 2.5.4: the rules
    # still hold (by number). A name nobody knows is reported, not dropped
    # in silence.
    bundle.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mseal", "removexattrat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33},
        {"names": ["no_such_syscall_y"], "action": "SCMP_ACT_ERRNO"}]}
    bundle.sh("secprobe syscall %d 0 0 0; secprobe syscall %d -1 0 0 0"
              % (NR_MSEAL, NR_REMOVEXATTRAT)).write()
    p = runtime.run("run", "--bundle", bundle.path, runtime.new_id())
    assert [r for _, r in probe_results(p.stdout)] == ["EDOM", "EDOM"], p.stdout
    assert ("warning: linux.seccomp: left out of the filter, unknown to libseccomp"
            in p.stderr and "no_such_syscall_y" in p.stderr), p.stderr


def test_default_profile_enosys_for_newer_syscalls(runtime, bundle, tmp_path):
    # A syscall newer than the profile answers ENOSYS (libc then falls
    # back); one the profile knows and refuses stays EPERM; the newest ones
    # it names, which libseccomp 2.5.4 does not know, reach the kernel.
    calls = ("syscall %d 0 0 0 0 0" % NR_FILE_GETATTR, "syscall 1000", "syscall 0x7fffffff",
             "keyctl", "syscall %d 0 0 0" % NR_KCMP, "syscall %d 0 0" % NR_CLONE3,
             "syscall %d 0 0 0" % NR_MSEAL, "syscall %d -1 0 0 0" % NR_REMOVEXATTRAT,
             "syscall %#x 1 0" % (X32 | NR_KEYCTL), "syscall %#x 0 0" % (X32 | NR_FILE_GETATTR))
    bundle.linux["seccomp"] = nook_profile(runtime, tmp_path)
    res = probe(runtime, bundle, *calls)
    assert res[:3] == ["ENOSYS"] * 3, res
    assert res[3:6] == ["EPERM", "EPERM", "ENOSYS"], res
    assert res[6] == "ret=0" and res[7] == "EFAULT", res
    # x32 (not built into this kernel: it would answer ENOSYS to both):
    # the filter still refuses keyctl and calls the newer one unknown.
    assert res[8:] == ["EPERM", "ENOSYS"], res


def test_default_profile_allows_ptrace_of_own_processes(runtime, bundle, tmp_path):
    # strace, gdb, LeakSanitizer and py-spy work in a default container, as
    # under Docker's and podman's profiles; kcmp keeps needing
    # CAP_SYS_PTRACE (as in Docker's).
    bundle.linux["seccomp"] = nook_profile(runtime, tmp_path)
    assert probe(runtime, bundle, "ptrace-child", "vm-readv",
                 "syscall %d 1 1 0 0 0" % NR_KCMP) == ["OK", "OK", "EPERM"]


def test_default_profile_from_the_build_under_setarch(runtime, bundle, tmp_path):
    # Under `setarch i686` uname says i686; the profile is still the one
    # for the x86_64 nook was built for (arch_prctl, which every x86_64
    # program calls at startup, allowed), and the container runs.
    prof = nook_profile(runtime, tmp_path, setarch="i686")
    assert prof == nook_profile(runtime, tmp_path)
    assert prof["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    bundle.linux["seccomp"] = prof
    bundle.sh("uname -m; secprobe syscall 39").write()
    p = subprocess.run(["setarch", "i686"] + runtime.cmd("run", "--bundle", bundle.path,
                                                         runtime.new_id()),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "i686" and "39: ret=" in p.stdout, p.stdout


def test_default_profile_i386_entry_point(runtime, bundle, tmp_path):
    # int $0x80 reaches the i386 table from any x86_64 process: what the
    # profile refuses stays refused there, and socketcall(SYS_SOCKET), whose
    # family seccomp cannot read, is refused whatever the family.
    bundle.linux["seccomp"] = nook_profile(runtime, tmp_path)
    res = probe(runtime, bundle, "int80 288 1 0", "int80 425 4 0", "int80 468 0 0 0 0",
                "socketcall 40 1", "socketcall 1 1", "int80 20")
    if "NO_I386_ENTRY" in res:
        pytest.skip("this kernel has no i386 entry point (int $0x80 faults); "
                    "test_seccomp_load checks the i386 part of the filter")
    assert res[:5] == ["EPERM", "EPERM", "ENOSYS", "EPERM", "EPERM"], res
    assert res[5].startswith("ret="), res


def test_default_profile_keeps_the_hand_over_to_nook_init(runtime, bundle, tmp_path):
    # nook-init's syscalls (execveat, ppoll, read, accept4, close, execve,
    # write, exit_group) are plainly allowed, below the ENOSYS line: `run` still
    # hands over to it instead of re-executing nook (docs/runtime.md).
    bundle.linux["seccomp"] = nook_profile(runtime, tmp_path)
    bundle.sh("grep -E '^(Seccomp|Seccomp_filters):' /proc/self/status").write()
    p = runtime.run("--debug", "run", "--bundle", bundle.path, runtime.new_id())
    assert "init handed over to nook-init" in p.stderr, p.stderr
    assert status(p.stdout) == {"Seccomp": "2", "Seccomp_filters": "1"}, p.stdout


def test_seccomp_flags(runtime, bundle):
    bundle.linux["seccomp"] = dict(ALLOW_PROFILE, flags=[
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
    out = runtime.output(bundle.sh(STATUS_SCRIPT + "; secprobe syscall %d 7" % NR_GETPGID))
    assert status(out)["Seccomp_filters"] == "1" and "EDOM" in out


def test_profile_that_forgets_execve_still_starts(runtime, bundle):
    prof = default_profile(DOCKER_CAPS)
    for r in prof["syscalls"]:
        r["names"] = [n for n in r["names"] if n not in ("execve", "execveat")]
    bundle.linux["seccomp"] = prof
    assert runtime.output(bundle.args("secprobe", "syscall", str(NR_GETPGID), "0")).startswith(
        "%d: ret=" % NR_GETPGID)
    # A profile that names execve is obeyed: nothing can start.
    bundle.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["execve"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES}]}
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0 and "Permission denied" in p.stderr


@pytest.mark.parametrize("bad,msg", [
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_FOO"}]},
     'linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_FOO"'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NOPE"}]}]},
     'linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_NOPE"'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]},
     'linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_BOGUS"'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/nonexistent/agent.sock",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     "connect to the seccomp agent at `/nonexistent/agent.sock`"),
])
def test_bad_profile_is_clear_error(runtime, bundle, bad, msg):
    bundle.linux["seccomp"] = bad
    p = runtime.run_bundle(bundle.args("true"))
    assert p.returncode != 0 and msg in p.stderr, p.stderr


# ---- SCMP_ACT_NOTIFY --------------------------------------------------------

NOTIF = struct.Struct("=QIIiIQ6Q")      # struct seccomp_notif (80 bytes)
NOTIF_RESP = struct.Struct("=QqiI")     # struct seccomp_notif_resp (24 bytes)
IOCTL_RECV, IOCTL_SEND = 0xC0502100, 0xC0182101
FLAG_CONTINUE = 1


class Agent(threading.Thread):
    """A seccomp agent at `path`: receives the listener fd and the container
    process state, then answers getpgid: 7 -> 4242, 8 -> EDOM, else runs
    the real syscall."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.msg, self.answered, self.error = None, 0, None
        self.stop = threading.Event()

    def run(self):
        try:
            self.serve()
        except Exception as e:  # reported by the test
            self.error = e

    def serve(self):
        self.sock.settimeout(30)
        conn, _ = self.sock.accept()
        data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 1)
        while True:             # the rest of the text, up to EOF at execve
            more = conn.recv(1 << 16)
            if not more:
                break
            data += more
        conn.close()
        self.msg = json.loads(data)
        nfd = fds[0]
        try:
            while not self.stop.is_set():
                r, _, x = select.select([nfd], [], [nfd], 0.1)
                if not r:
                    continue
                buf = bytearray(NOTIF.size)
                try:
                    fcntl.ioctl(nfd, IOCTL_RECV, buf, True)
                except OSError as e:
                    if e.errno == errno.ENOENT:
                        continue
                    raise
                nid, _pid, _fl, nr, _arch, _ip, *args = NOTIF.unpack(buf)
                if nr == NR_GETPGID and args[0] == 7:
                    resp = NOTIF_RESP.pack(nid, 4242, 0, 0)
                elif nr == NR_GETPGID and args[0] == 8:
                    resp = NOTIF_RESP.pack(nid, 0, -errno.EDOM, 0)
                else:
                    resp = NOTIF_RESP.pack(nid, 0, 0, FLAG_CONTINUE)
                try:
                    fcntl.ioctl(nfd, IOCTL_SEND, bytearray(resp), True)
                    self.answered += 1
                except OSError as e:
                    if e.errno != errno.ENOENT:     # the caller died meanwhile
                        raise
        finally:
            os.close(nfd)
            self.sock.close()


@pytest.mark.parametrize("uid,nnp", [(0, True), (1000, False)])
def test_notify_listener_answers(runtime, bundle, tmp_path, uid, nnp):
    path = str(tmp_path / "agent.sock")
    agent = Agent(path)
    agent.start()
    as_user(bundle, uid)
    bundle.process["noNewPrivileges"] = nnp
    bundle.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path, "listenerMetadata": "meta=1",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_NOTIFY"}]}
    out_path = os.path.join(bundle.rootfs, "tmp", "out")
    bundle.sh("secprobe syscall %d 7 > /tmp/o; secprobe syscall %d 8 >> /tmp/o; "
              "secprobe syscall %d 0 >> /tmp/o; mv /tmp/o /tmp/out; sleep 30"
              % (NR_GETPGID, NR_GETPGID, NR_GETPGID))
    cid = runtime.new_id()
    detached(runtime, bundle, cid, "run", "--detach")
    pid = runtime.state(cid)["pid"]
    try:
        wait_for(lambda: os.path.exists(out_path), 20, out_path)
    finally:
        runtime.run("delete", "--force", cid)
        agent.stop.set()
        agent.join(10)
    assert agent.error is None, agent.error
    out = open(out_path).read().splitlines()
    assert out[:2] == ["%d: ret=4242" % NR_GETPGID, "%d: EDOM" % NR_GETPGID]
    assert out[2].startswith("%d: ret=" % NR_GETPGID)   # FLAG_CONTINUE: the real call
    m = agent.msg
    assert m["fds"] == ["seccompFd"] and m["metadata"] == "meta=1"
    assert m["pid"] == pid and m["state"]["pid"] == pid and m["state"]["id"] == cid
    assert m["ociVersion"] and m["state"]["bundle"] == bundle.path
    assert agent.answered == 3


# ---- LSM labels on a host without AppArmor or SELinux ----------------------


def lsm_off():
    """This host has neither SELinux nor AppArmor: what the tests below
    are about. A fact of the host, so a condition for them, not a test."""
    p = "/sys/module/apparmor/parameters/enabled"
    return (not os.path.exists("/sys/fs/selinux")
            and "selinuxfs" not in open("/proc/filesystems").read()
            and (not os.path.exists(p) or open(p).read().strip() != "Y"))


needs_lsm_off = pytest.mark.skipif(not lsm_off(), reason="SELinux or AppArmor is enabled here")


@needs_lsm_off
@pytest.mark.parametrize("field,value,msg", [
    ("apparmorProfile", "nook-test", 'process.apparmorProfile: "nook-test" requested but '
                                     "AppArmor is not enabled on this host"),
    ("selinuxLabel", "system_u:system_r:container_t:s0",
     'process.selinuxLabel: "system_u:system_r:container_t:s0" requested but SELinux is not '
     "enabled on this host"),
])
def test_lsm_label_refused_when_lsm_off(runtime, bundle, field, value, msg):
    bundle.process[field] = value
    p = runtime.run_bundle(bundle.args("true"))
    assert p.returncode != 0 and msg in p.stderr, p.stderr


@needs_lsm_off
def test_mount_label_refused_when_selinux_off(runtime, bundle):
    bundle.linux["mountLabel"] = "system_u:object_r:container_file_t:s0"
    p = runtime.run_bundle(bundle.args("true"))
    assert p.returncode != 0
    assert "linux.mountLabel" in p.stderr and "SELinux is not enabled" in p.stderr


@needs_lsm_off
def test_apparmor_unconfined_accepted_when_off(runtime, bundle):
    bundle.process["apparmorProfile"] = "unconfined"
    assert runtime.output(bundle.sh("echo ok")) == "ok\n"


# ---- every comparison operator, as the container sees it -------------------


@pytest.mark.parametrize("op,value,two,hits", [
    ("SCMP_CMP_EQ", 8, 0, "8"), ("SCMP_CMP_NE", 8, 0, "79"), ("SCMP_CMP_LT", 8, 0, "7"),
    ("SCMP_CMP_LE", 8, 0, "78"), ("SCMP_CMP_GT", 8, 0, "9"), ("SCMP_CMP_GE", 8, 0, "89"),
    ("SCMP_CMP_MASKED_EQ", 0xc, 8, "89"),
])
def test_comparison_operators(runtime, bundle, op, value, two, hits):
    # getpgid(7|8|9) answers ENOEXEC where the rule matches, else the
    # kernel's ESRCH (no such process group).
    bundle.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOEXEC,
         "args": [{"index": 0, "value": value, "valueTwo": two, "op": op}]}]}
    script = "; ".join("secprobe syscall %d %d" % (NR_GETPGID, a) for a in (7, 8, 9))
    got = [r for _, r in probe_results(runtime.output(bundle.sh(script)))]
    assert got == ["ENOEXEC" if str(a) in hits else "ESRCH" for a in (7, 8, 9)], got


# ---- session keyring ----------------------------------------------------------


def _keyring(text):
    line = [l for l in text.splitlines() if l.startswith("keyring id=")][0]
    fields = dict(f.split("=", 1) for f in line.split()[1:])
    return int(fields["id"]), fields["desc"].split(";")


def test_session_keyring_new_per_container(runtime, bundle, build_dir):
    host_id, _ = _keyring(subprocess.run([os.path.join(build_dir, "tests", "helper", "nktest"),
                                          "keyring"], capture_output=True, text=True).stdout)
    as_user(bundle, 1000)
    bundle.args("nktest", "keyring").write()
    a, b = runtime.new_id(), runtime.new_id()
    ka = _keyring(runtime.run("run", "--bundle", bundle.path, a).stdout)
    kb = _keyring(runtime.run("run", "--bundle", bundle.path, b).stdout)
    # type;uid;gid;perm;name: a fresh keyring per container, named after it,
    # owner-searchable (runc's permissions: 3f1b0000)
    assert ka[1] == ["keyring", "0", "0", "3f1b0000", "_ses." + a]
    assert kb[1][4] == "_ses." + b and ka[0] != kb[0] != host_id
    # Without a new keyring the process keeps nook's (root's here; for
    # another uid the kernel would fall back to that user's own keyring).
    bundle.process["user"] = {"uid": 0, "gid": 0}
    bundle.write()
    c = runtime.new_id()
    kc = _keyring(runtime.run("run", "--no-new-keyring", "--bundle", bundle.path, c).stdout)
    assert kc[0] == host_id


def test_default_profile_socketpair_families(runtime, bundle, tmp_path):
    # socketpair() creates its two sockets with the family's own create
    # code (module autoload included) before the family refuses pairs
    # (EOPNOTSUPP): it gets socket()'s allow-list, AF_UNIX being the only
    # family a container needs pairs of; compared on the low 32 bits.
    calls = ["socketpair %#x 1" % f for f in
             (AF_UNIX, (1 << 32) | AF_UNIX, AF_VSOCK, (1 << 32) | AF_VSOCK, AF_ALG, AF_INET)]
    before = probe(runtime, bundle, *calls)
    assert before[:2] == ["OK", "OK"] and before[2] != "EPERM", before
    bundle.linux["seccomp"] = nook_profile(runtime, tmp_path)
    assert probe(runtime, bundle, *calls) == ["OK", "OK"] + ["EPERM"] * 4
