"""Conformance with runc and crun (issue 11): HOME from the rootfs's passwd,
`lo` up in a new network namespace, stdio given to the process user, the
real-time cpu budget of nook's parent cgroups, crun's command line, and
containers without a mount namespace."""
import os
import subprocess
import uuid

import pytest

from conftest import host_ns
from test_terminal import run_on_pty


def home_of(out):
    homes = [l for l in out.splitlines() if l.startswith("HOME=")]
    assert len(homes) == 1, out
    return homes[0][5:]


# ---- item 11: HOME ----

@pytest.mark.parametrize("uid,home", [(0, "/root"), (1000, "/home"), (4242, "/")])
def test_home_from_passwd_in_run_and_exec(runtime, bundle, uid, home):
    bundle.process["user"] = {"uid": uid, "gid": uid}
    # An /etc/passwd symlink must resolve inside the rootfs, not the host's.
    passwd = os.path.join(bundle.rootfs, "etc", "passwd")
    os.rename(passwd, os.path.join(bundle.rootfs, "etc", "passwd.real"))
    os.symlink("/etc/passwd.real", passwd)
    assert home_of(runtime.output(bundle, "env")) == home
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    try:
        out = runtime.run("exec", cid, "env").stdout
        assert home_of(out) == home
        out = runtime.run("exec", "--env", "HOME=/kept", cid, "env").stdout
        assert home_of(out) == "/kept"
    finally:
        runtime.run("delete", "--force", cid)


def test_home_in_env_is_kept_and_odd_passwd_is_safe(runtime, bundle):
    env = bundle.process["env"]
    bundle.process["env"] = env + ["HOME=/mine"]
    assert home_of(runtime.output(bundle, "env")) == "/mine"
    # A passwd that escapes the rootfs, or is a FIFO, gives "/": never the
    # host's entry and never a hang.
    bundle.process["env"] = env
    bundle.process["user"] = {"uid": 0, "gid": 0}
    passwd = os.path.join(bundle.rootfs, "etc", "passwd")
    os.unlink(passwd)
    os.symlink("/proc/1/root/etc/passwd", passwd)
    assert home_of(runtime.output(bundle, "env")) == "/"
    os.unlink(passwd)
    os.mkfifo(passwd)
    assert home_of(runtime.output(bundle, "env")) == "/"


# ---- item 15: lo ----

def test_loopback_up_in_new_network_namespace(runtime, bundle):
    out = runtime.output(bundle, "sh", "-c", "cat /sys/class/net/lo/flags; nktest loopback")
    flags, probe = out.splitlines()
    assert int(flags, 16) & 0x1, out  # IFF_UP
    assert probe == "loopback ok"


def test_joined_network_namespace_is_left_as_it_was(runtime, bundle, tmp_path):
    name = f"nkt-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        def lo_flags():
            return subprocess.run(["ip", "netns", "exec", name, "cat", "/sys/class/net/lo/flags"],
                                  capture_output=True, text=True, check=True).stdout.strip()
        before = lo_flags()
        assert int(before, 16) & 0x1 == 0
        for ns in bundle.linux["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/run/netns/{name}"
        p = runtime.run_bundle(bundle.args("nktest", "loopback"))
        assert p.stdout.strip() == "loopback ENETUNREACH", p.stdout
        assert lo_flags() == before
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


# ---- item 17: stdio of a non-root process ----

STDIO_PROBE = "nktest open /proc/self/fd/1 w; nktest open /dev/stdout w; nktest open /proc/self/fd/0 r"


def test_non_root_reopens_stdio_pipes(runtime, bundle, tmp_path):
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.sh(STDIO_PROBE).write()
    cid = runtime.new_id()
    p = subprocess.run(runtime.cmd("run", "--bundle", bundle.path, cid), input="",
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["ok", "ok", "ok"], p.stdout
    # exec too
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    try:
        p = subprocess.run(runtime.cmd("exec", "--user", "1000:1000", cid, "sh", "-c", STDIO_PROBE),
                           input="", capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["ok", "ok", "ok"], p.stdout
    finally:
        runtime.run("delete", "--force", cid)


def test_callers_files_keep_their_owner(runtime, bundle, tmp_path):
    """stdout a host file: it is the caller's, not the runtime's: no chown."""
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.args("nktest", "open", "/proc/self/fd/1", "w").write()
    out = tmp_path / "out"
    with open(out, "w") as f:
        os.chmod(out, 0o666)
        cid = runtime.new_id()
        p = subprocess.run(runtime.cmd("run", "--bundle", bundle.path, cid), stdout=f,
                           stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0
    st = os.stat(out)
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_callers_terminal_keeps_its_owner(runtime, bundle):
    """terminal: false with the caller's pty as stdio: not ours, not chowned."""
    import pty
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.args("nktest", "open", "/proc/self/fd/1", "w").write()
    master, slave = pty.openpty()
    try:
        before = os.fstat(slave)
        p = subprocess.run(runtime.cmd("run", "--bundle", bundle.path, runtime.new_id()),
                           stdin=slave, stdout=slave, stderr=slave, timeout=60)
        after = os.fstat(slave)
        assert (after.st_uid, after.st_gid, after.st_mode) == \
            (before.st_uid, before.st_gid, before.st_mode)
        assert p.returncode == 1  # EACCES: the caller's terminal stays the caller's
    finally:
        os.close(master)
        os.close(slave)


def test_non_root_reopens_stdio_pty(runtime, bundle):
    bundle.process["terminal"] = True
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.sh(STDIO_PROBE).write()
    cid = runtime.new_id()
    rc, out, _ = run_on_pty(runtime.cmd("run", "--bundle", bundle.path, cid))
    assert rc == 0, out
    assert out.split() == ["ok", "ok", "ok"], out
    bundle.process["terminal"] = False
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    try:
        rc, out, _ = run_on_pty(runtime.cmd("exec", "--tty", "--user", "1000:1000", cid,
                                            "sh", "-c", STDIO_PROBE))
        assert rc == 0, out
        assert out.split() == ["ok", "ok", "ok"], out
    finally:
        runtime.run("delete", "--force", cid)


# ---- item 13: real-time budget of nook's parent cgroups (v1 cpu) ----

CPU_V1 = "/sys/fs/cgroup/cpu"


def rt_runtime(rel):
    with open(os.path.join(CPU_V1, rel.lstrip("/"), "cpu.rt_runtime_us")) as f:
        return int(f.read())


def near(got, want):
    """The kernel compares runtime/period shares in units of 2^-20: a parent
    holding exactly its children's shares may be a few us below their sum."""
    return want - 10 <= got <= want


needs_rt = pytest.mark.skipif(not os.path.exists(os.path.join(CPU_V1, "cpu.rt_runtime_us")),
                              reason="no cgroup v1 cpu controller with CONFIG_RT_GROUP_SCHED")


@needs_rt
def test_realtime_runtime_under_parents_nook_makes(runtime, bundle):
    top = f"/nktest-rt-{uuid.uuid4().hex[:8]}"
    root_before = rt_runtime("/")
    bundle.args("sleep", "60")
    # Small budgets: a cgroup just removed still counts against its parent
    # until the kernel has taken it offline (asynchronously).
    bundle.linux.setdefault("resources", {})["cpu"] = {"realtimeRuntime": 50000,
                                                       "realtimePeriod": 1000000}
    ids = []
    try:
        for name in ("c1", "c2"):
            bundle.linux["cgroupsPath"] = f"{top}/pod/{name}"
            bundle.write()
            cid = runtime.new_id()
            runtime.run("run", "-d", "--bundle", bundle.path, cid)
            ids.append(cid)
            assert rt_runtime(f"{top}/pod/{name}") == 50000
        # each parent holds what its children need, and no more (the kernel
        # compares shares in units of 2^-20: a microsecond may round away)
        assert near(rt_runtime(f"{top}/pod"), 100000)
        assert near(rt_runtime(top), 100000)
        # update raises the parents too
        runtime.run("update", "--cpu-rt-runtime", "100000", ids[1])
        assert rt_runtime(f"{top}/pod/c2") == 100000
        assert near(rt_runtime(top), 150000)
        # beyond what the hierarchy's root grants: a clear error, no change
        bundle.linux["cgroupsPath"] = f"{top}/pod/c3"
        bundle.linux["resources"]["cpu"]["realtimeRuntime"] = 900000
        bundle.write()
        cid = runtime.new_id()
        p = runtime.run("run", "-d", "--bundle", bundle.path, cid, check=False)
        assert p.returncode != 0
        assert "realtimeRuntime: 900000" in p.stderr and f"`{CPU_V1}`" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert near(rt_runtime(top), 150000)
        assert not os.path.exists(os.path.join(CPU_V1, top.lstrip("/"), "pod", "c3"))
    finally:
        for cid in ids:
            runtime.run("delete", "--force", cid)
    assert not os.path.exists(os.path.join(CPU_V1, top.lstrip("/")))
    assert rt_runtime("/") == root_before


@needs_rt
def test_realtime_runtime_concurrent_creates_share_a_parent(runtime, bundle):
    """Each create counts its siblings' budget: racing creates under one new
    parent must all get theirs."""
    top = f"/nktest-rt-{uuid.uuid4().hex[:8]}"
    bundle.linux.setdefault("resources", {})["cpu"] = {"realtimeRuntime": 25000}
    bundle.args("sleep", "60")
    procs, ids = [], []
    for i in range(4):
        bundle.linux["cgroupsPath"] = f"{top}/c{i}"
        b = os.path.join(bundle.path, f"config{i}.json")
        with open(b, "w") as f:
            f.write(__import__("json").dumps(bundle.config))
        cid = runtime.new_id()
        ids.append(cid)
        # stderr to a file: the created init keeps nook's stdio open
        err = open(os.path.join(bundle.path, f"err{i}"), "w+")
        procs.append((subprocess.Popen(runtime.cmd("create", "--config", b, "--bundle",
                                                   bundle.path, cid),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=err), err))
    try:
        codes = [p.wait(timeout=60) for p, _ in procs]
        errs = [open(e.name).read() for _, e in procs]
        assert codes == [0] * 4, errs
        assert [rt_runtime(f"{top}/c{i}") for i in range(4)] == [25000] * 4
        assert near(rt_runtime(top), 100000)
    finally:
        for cid in ids:
            runtime.run("delete", "--force", cid, check=False)
        for _, e in procs:
            e.close()
    assert not os.path.exists(os.path.join(CPU_V1, top.lstrip("/")))


@needs_rt
def test_realtime_runtime_under_a_parent_nook_did_not_make(runtime, bundle):
    top = f"nktest-rt-{uuid.uuid4().hex[:8]}"
    os.mkdir(os.path.join(CPU_V1, top))
    try:
        bundle.linux["cgroupsPath"] = f"/{top}/c1"
        bundle.linux.setdefault("resources", {})["cpu"] = {"realtimeRuntime": 10000}
        bundle.args("true").write()
        p = runtime.run("run", "--bundle", bundle.path, runtime.new_id(), check=False)
        assert p.returncode != 0
        assert f"`{CPU_V1}/{top}`" in p.stderr and "not made by nook" in p.stderr, p.stderr
        assert rt_runtime(f"/{top}") == 0
        assert not os.path.exists(os.path.join(CPU_V1, top, "c1"))
    finally:
        os.rmdir(os.path.join(CPU_V1, top))


# ---- item 19: crun's command line ----

def cgroup_dirs_named(cid):
    found = []
    for base, dirs, _ in os.walk("/sys/fs/cgroup"):
        if cid in dirs:
            found.append(os.path.join(base, cid))
    return found


def gone_or_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_cgroup_manager_disabled_makes_no_cgroup(runtime, bundle):
    bundle.args("sleep", "60")
    bundle.linux.setdefault("resources", {})["memory"] = {"limit": 64 << 20}
    bundle.write()
    cid = runtime.new_id()
    p = runtime.run("--cgroup-manager", "disabled", "run", "-d", "--bundle", bundle.path, cid)
    try:
        assert "linux.resources (memory): not applied" in p.stderr, p.stderr
        assert cgroup_dirs_named(cid) == []
        st = runtime.state(cid)
        with open(f"/proc/{st['pid']}/cgroup") as f, open("/proc/self/cgroup") as g:
            assert f.read() == g.read()  # where nook was: no cgroup of its own
        assert runtime.run("exec", cid, "echo", "hi").stdout == "hi\n"
        for args, what in ((("exec", "--cgroup", "sub", cid, "true"), "--cgroup `sub`"),
                           (("kill", "--all", cid, "TERM"), "kill --all"),
                           (("pause", cid), "no cgroup"), (("ps", cid), "no cgroup")):
            p = runtime.run(*args, check=False)
            assert p.returncode != 0 and what in p.stderr, (args, p.stderr)
    finally:
        runtime.run("delete", "--force", cid)
    assert gone_or_zombie(st["pid"])
    # The last manager option wins (crun's rule): cgroupfs after disabled.
    cid = runtime.new_id()
    runtime.run("--cgroup-manager", "disabled", "--cgroup-manager", "cgroupfs", "run", "-d",
                "--bundle", bundle.path, cid)
    try:
        assert cgroup_dirs_named(cid) != []
    finally:
        runtime.run("delete", "--force", cid)
    p = runtime.run("--cgroup-manager", "cgroupv3", "list", check=False)
    assert p.returncode == 1 and "unknown manager `cgroupv3`" in p.stderr
    # One line like every other error: the value's newline is escaped.
    p = runtime.run("--cgroup-manager", "a\nb", "list", check=False)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "`a\\nb`" in p.stderr, p.stderr


def test_cgroup_manager_disabled_cgroup_verbs_say_so(runtime, bundle):
    # Every verb over the container's cgroup (the library's container
    # handle) refuses a container without one, naming the verb and the
    # reason, and changes nothing: not the process, not the saved state.
    bundle.args("sleep", "60")
    bundle.write()
    cid = runtime.new_id()
    runtime.run("--cgroup-manager", "disabled", "run", "-d", "--bundle", bundle.path, cid)
    state_file = os.path.join(runtime.root, cid, "state.json")
    try:
        pid = runtime.state(cid)["pid"]
        with open(state_file) as f:
            saved = f.read()
        for args in (("pause",), ("resume",), ("update", "--memory", "32m"),
                     ("update", "--pids-limit", "5"), ("ps",), ("ps", "--format", "json"),
                     ("events", "--stats"), ("events", "--interval", "100ms")):
            p = runtime.run(*args, cid, check=False, timeout=10)
            want = f"{args[0]}: container `{cid}` has no cgroup (--cgroup-manager disabled)"
            assert p.returncode == 1 and want in p.stderr and p.stdout == "", (args, p)
        assert runtime.state(cid)["status"] == "running"
        with open(f"/proc/{pid}/stat") as f:
            assert f.read().rsplit(")", 1)[1].split()[0] == "S"  # asleep, not frozen
        with open(state_file) as f:
            assert f.read() == saved
    finally:
        runtime.run("delete", "--force", cid)
    assert gone_or_zombie(pid)


def test_cgroup_manager_systemd_is_systemd_cgroup(runtime, bundle):
    cid = runtime.new_id()
    bundle.linux["cgroupsPath"] = f"nktest.slice:nook:{cid}"
    bundle.args("cat", "/proc/self/cgroup").write()
    out = runtime.run("--cgroup-manager", "systemd", "run", "--bundle", bundle.path, cid).stdout
    assert f"/nktest.slice/nook-{cid}.scope" in out, out


def test_run_and_create_config_option(runtime, bundle, tmp_path):
    bundle.args("echo", "from-bundle").write()
    other = dict(bundle.config, process=dict(bundle.process, args=["echo", "from-config"]))
    # root.path stays relative to the bundle, not to the config file
    cfg = tmp_path / "elsewhere.json"
    cfg.write_text(__import__("json").dumps(other))
    cid = runtime.new_id()
    p = runtime.run("run", "--config", str(cfg), "--bundle", bundle.path, cid)
    assert p.stdout == "from-config\n"
    cid = runtime.new_id()
    runtime.run("create", "-f", str(cfg), "--bundle", bundle.path, cid)
    try:
        assert runtime.state(cid)["status"] == "created"
    finally:
        runtime.run("delete", "--force", cid)
    p = runtime.run("run", "--config", str(tmp_path / "missing.json"), "--bundle", bundle.path,
                    runtime.new_id(), check=False)
    assert p.returncode != 0 and "--config" in p.stderr and "missing.json" in p.stderr


def test_kill_and_delete_regex(runtime, bundle):
    bundle.args("sleep", "60").write()
    tag = uuid.uuid4().hex[:6]
    ids = {}
    for name in ("web-1", "web-2", "db-1"):
        cid = f"{tag}-{name}"
        runtime.ids.add(cid)
        runtime.run("run", "-d", "--bundle", bundle.path, cid)
        ids[name] = cid
    runtime.run("kill", "--regex", f"^{tag}-web-[0-9]$", "KILL")
    for name in ("web-1", "web-2"):
        runtime.wait_status(ids[name], "stopped")
    assert runtime.state(ids["db-1"])["status"] == "running"
    runtime.run("delete", "--regex", f"{tag}-web")
    listed = runtime.run("list", "-q").stdout.split()
    assert listed == [ids["db-1"]]
    p = runtime.run("delete", "--regex", "(", check=False)
    assert p.returncode != 0 and "--regex `(`" in p.stderr
    runtime.run("delete", "--force", "--regex", tag)
    assert runtime.run("list", "-q").stdout == ""


def test_global_log_level_and_version(runtime, bundle):
    bundle.linux.setdefault("resources", {})["memory"] = {"limit": 64 << 20}
    bundle.args("true").write()
    p = runtime.run("--log-level", "error", "--cgroup-manager", "disabled", "run",
                    "--bundle", bundle.path, runtime.new_id())
    assert p.stderr == ""
    p = runtime.run("--log-level", "debug", "run", "--bundle", bundle.path, runtime.new_id())
    assert "debug:" in p.stderr
    p = runtime.run("--log-level", "verbose", "list", check=False)
    assert p.returncode == 1 and "unknown level `verbose`" in p.stderr
    assert "nook version" in runtime.run("-V").stdout
    assert runtime.run("--usage").stdout.startswith("usage: nook")
    for cmd in ("checkpoint", "restore"):
        p = runtime.run(cmd, "x", check=False)
        assert p.returncode == 1 and "not supported" in p.stderr and "CRIU" in p.stderr


# ---- item 9: no mount namespace ----

def without_mount_ns(bundle):
    bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"] if n["type"] != "mount"]
    bundle.config["mounts"] = []
    bundle.linux["maskedPaths"] = []
    bundle.linux["readonlyPaths"] = []
    return bundle


def test_no_mount_namespace_leaves_host_mounts_unchanged(runtime, bundle, tmp_path):
    """create/start/exec/delete in a mount namespace of the test's own (so
    that other tests' mounts cannot make noise): its mount table must be
    exactly the same afterwards, and the process runs chroot'ed in root.path."""
    without_mount_ns(bundle).sh("cat /marker; sleep 60").write()
    with open(os.path.join(bundle.rootfs, "marker"), "w") as f:
        f.write("inside-rootfs\n")
    cid = runtime.new_id()
    nook = " ".join(runtime.cmd())
    script = f"""set -e
cat /proc/self/mountinfo > {tmp_path}/before
{nook} create --bundle {bundle.path} {cid} > {tmp_path}/out 2>&1
{nook} start {cid}
pid=$({nook} state {cid} | sed -n 's/.*"pid": \\([0-9]*\\).*/\\1/p')
readlink /proc/$pid/root > {tmp_path}/root
readlink /proc/$pid/ns/mnt > {tmp_path}/mntns
readlink /proc/self/ns/mnt > {tmp_path}/ourmntns
{nook} exec {cid} cat /marker > {tmp_path}/exec
{nook} exec {cid} sh -c 'ls /proc | wc -l' > {tmp_path}/proc
{nook} delete --force {cid}
cat /proc/self/mountinfo > {tmp_path}/after
"""
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    read = lambda n: (tmp_path / n).read_text()
    assert read("before") == read("after")
    assert read("root").strip() == os.path.realpath(bundle.rootfs)
    assert read("mntns") == read("ourmntns")
    assert read("exec") == "inside-rootfs\n"
    assert read("proc").strip() == "0"  # the rootfs's empty /proc: nothing mounted


def test_no_mount_namespace_root_slash(runtime, bundle, tmp_path):
    without_mount_ns(bundle)
    bundle.config["root"] = {"path": "/"}
    marker = tmp_path / "host-marker"
    marker.write_text("host\n")
    before = open("/proc/self/mountinfo").read()
    out = runtime.output(bundle, "cat", str(marker))
    assert out == "host\n"
    # (other tests may mount meanwhile: compare only what is under our dirs)
    assert [l for l in open("/proc/self/mountinfo") if str(tmp_path) in l] == \
        [l for l in before.splitlines(True) if str(tmp_path) in l]


@pytest.mark.parametrize("field,value,named", [
    ("mounts", [{"destination": "/proc", "type": "proc", "source": "proc"}], "mounts[0] (`/proc`)"),
    ("maskedPaths", ["/proc/kcore"], "linux.maskedPaths"),
    ("readonlyPaths", ["/proc/sys"], "linux.readonlyPaths"),
    ("root.readonly", True, "root.readonly"),
    ("rootfsPropagation", "private", "linux.rootfsPropagation"),
    ("devices", [{"type": "c", "path": "/dev/nkt", "major": 1, "minor": 3}], "linux.devices"),
])
def test_no_mount_namespace_refuses_what_would_mount(runtime, bundle, field, value, named):
    without_mount_ns(bundle).args("true")
    if field == "mounts":
        bundle.config["mounts"] = value
    elif field == "root.readonly":
        bundle.config["root"]["readonly"] = value
    else:
        bundle.linux[field] = value
    before = open("/proc/self/mountinfo").read()
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0
    assert named in p.stderr and "needs a mount namespace" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(bundle.rootfs, "dev", "nkt"))
    assert bundle.rootfs not in open("/proc/self/mountinfo").read()
