"""The container's filesystem view: spec mounts with their flags, cgroup
mounts per host layout, propagation to and from the host, destinations that
are symlinks out of the rootfs, --no-pivot, root.readonly, tmpcopyup, and no
mount left on the host. Every check reads the kernel's mount table (the
container's /proc/self/mountinfo, or /proc/PID/mountinfo of its init) or
what a file operation really does."""
import ctypes
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import wait_for


def parse_mountinfo(text):
    """proc(5) mountinfo -> list of dicts (mount point unescaped)."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10 or "-" not in f:
            continue
        sep = f.index("-")
        out.append({
            "id": f[0], "parent": f[1], "dev": f[2], "root": f[3].replace("\\040", " "),
            "mnt": f[4].replace("\\040", " "), "opts": set(f[5].split(",")),
            "optional": f[6:sep], "fstype": f[sep + 1], "source": f[sep + 2],
            "super": set(f[sep + 3].split(",")),
        })
    return out


def top(entries):
    """mount point -> the topmost mount there."""
    return {e["mnt"]: e for e in entries}


def host_mountinfo():
    with open("/proc/self/mountinfo") as f:
        return parse_mountinfo(f.read())


def host_cgroup_layout():
    """'v2' (cgroup2 on /sys/fs/cgroup) or 'v1' (v1 or hybrid: a tmpfs of hierarchies)."""
    m = top(host_mountinfo())
    cg = m.get("/sys/fs/cgroup")
    return "v2" if cg and cg["fstype"] == "cgroup2" else "v1"


def host_cgroup_hierarchies():
    """Names of the hierarchies under /sys/fs/cgroup on a v1/hybrid host."""
    return sorted(e["mnt"][len("/sys/fs/cgroup/"):] for e in top(host_mountinfo()).values()
                  if e["fstype"] in ("cgroup", "cgroup2")
                  and e["mnt"].startswith("/sys/fs/cgroup/")
                  and "/" not in e["mnt"][len("/sys/fs/cgroup/"):])


def hierarchy_key(e):
    """The controllers of a cgroup mount as /proc/self/cgroup names them, sorted."""
    if e["fstype"] == "cgroup2":
        return ""
    with open("/proc/cgroups") as f:
        known = {line.split()[0] for line in f if not line.startswith("#")}
    return ",".join(sorted(o for o in e["super"] if o.startswith("name=") or o in known))


def only_spec_mounts(entries, extra=()):
    """Every mount point is one the spec asked for (or a mask / read-only bind
    below /proc or /sys, or a cgroup hierarchy): nothing of the host's table."""
    expected = {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                "/sys/fs/cgroup", *extra}
    for e in entries:
        mp = e["mnt"]
        assert (mp in expected or mp.startswith("/sys/fs/cgroup/") or mp.startswith("/proc/")
                or mp == "/sys/firmware"), f"unexpected mount {mp}"


def inside_mountinfo(runtime, bundle, extra=""):
    out = runtime.output(bundle.sh("cat /proc/self/mountinfo" + extra))
    return out


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def add_caps(bundle, *caps):
    c = bundle.process.setdefault("capabilities", {})
    for s in ("bounding", "effective", "permitted"):
        c[s] = sorted(set(c.get(s, [])) | set(caps))


def start_detached(runtime, bundle, script):
    """Run `script` detached; returns (id, pid of the container init). Its
    stdio is /dev/null: a detached container would hold our pipes open."""
    bundle.sh(f"exec </dev/null >/dev/null 2>&1; {script}").write()
    cid = runtime.new_id()
    runtime.run("run", "--detach", "--bundle", bundle.path, cid)
    return cid, runtime.state(cid)["pid"]


def test_default_mounts_and_flags(runtime, bundle):
    """`nook spec`'s mounts, each with the flags and fs options it asks for,
    and nothing of the host's mount table."""
    out = runtime.output(bundle.sh("cat /proc/self/mountinfo; echo ===; cat /proc/self/cgroup"))
    text, cgroups = out.split("===\n")
    entries = parse_mountinfo(text)
    m = top(entries)
    assert m["/proc"]["fstype"] == "proc"
    dev = m["/dev"]
    assert dev["fstype"] == "tmpfs" and "nosuid" in dev["opts"]
    assert "relatime" not in dev["opts"]  # strictatime
    assert {"size=65536k", "mode=755"} <= dev["super"]
    pts = m["/dev/pts"]
    assert pts["fstype"] == "devpts" and {"nosuid", "noexec"} <= pts["opts"]
    assert {"mode=620", "ptmxmode=666", "gid=5"} <= pts["super"]
    assert m["/dev/shm"]["fstype"] == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= m["/dev/shm"]["opts"]
    assert m["/dev/mqueue"]["fstype"] == "mqueue"
    assert m["/sys"]["fstype"] == "sysfs" and {"ro", "nosuid", "nodev", "noexec"} <= m["/sys"]["opts"]

    # Without a cgroup namespace: the container's own cgroup, bound read-only.
    own = {}
    for line in cgroups.splitlines():
        _, ctrls, path = line.split(":", 2)
        own[",".join(sorted(ctrls.split(","))) if ctrls else ""] = path
    if host_cgroup_layout() == "v2":
        cg = m["/sys/fs/cgroup"]
        assert cg["fstype"] == "cgroup2" and "ro" in cg["opts"]
        assert cg["root"] == own[""]
    else:
        assert m["/sys/fs/cgroup"]["fstype"] == "tmpfs" and "ro" in m["/sys/fs/cgroup"]["opts"]
        for name in host_cgroup_hierarchies():
            e = m[f"/sys/fs/cgroup/{name}"]
            assert {"ro", "nosuid", "nodev", "noexec"} <= e["opts"], name
            assert e["root"] == own[hierarchy_key(e)] != "/", name

    only_spec_mounts(entries)


def test_cgroup_namespace_mounts_fresh_cgroupfs(runtime, bundle):
    if not any(n["type"] == "cgroup" for n in bundle.linux["namespaces"]):
        bundle.linux["namespaces"].append({"type": "cgroup"})
    m = top(parse_mountinfo(inside_mountinfo(runtime, bundle)))
    if host_cgroup_layout() == "v2":
        names = [""]
    else:
        names = host_cgroup_hierarchies()
        assert m["/sys/fs/cgroup"]["fstype"] == "tmpfs"
    for name in names:
        e = m["/sys/fs/cgroup" + (f"/{name}" if name else "")]
        assert e["fstype"] in ("cgroup", "cgroup2")
        assert e["root"] == "/", name  # the namespace root is the container's cgroup
        assert "ro" in e["opts"]


def test_bind_mounts_recursive_and_readonly(runtime, bundle, tmp_path):
    src = tmp_path / "vol"
    (src / "sub").mkdir(parents=True)
    (src / "file").write_text("vol-data\n")
    (tmp_path / "single").write_text("one file\n")
    sh(f"mount -t tmpfs nook-test-sub {src / 'sub'}")
    try:
        (src / "sub" / "inner").write_text("inner\n")
        bundle.config["mounts"] += [
            {"destination": "/bind", "type": "bind", "source": str(src), "options": ["bind", "ro"]},
            {"destination": "/rbind", "source": str(src), "options": ["rbind", "ro"]},
            {"destination": "/rro", "type": "bind", "source": str(src), "options": ["rbind", "rro"]},
            {"destination": "/deep/new/file", "type": "bind", "source": str(tmp_path / "single"),
             "options": ["bind", "nosuid", "noexec", "nodev"]},
            {"destination": "/rel", "type": "bind", "source": "relsrc", "options": ["bind"]},
        ]
        os.makedirs(os.path.join(bundle.path, "relsrc"))
        with open(os.path.join(bundle.path, "relsrc", "here"), "w") as f:
            f.write("relative\n")
        script = ("cat /proc/self/mountinfo; echo ===;"
                  "cat /bind/file /rbind/sub/inner /rro/sub/inner /deep/new/file /rel/here;"
                  "ls /bind/sub | wc -l;"
                  "for p in /bind/x /rbind/x /rbind/sub/x /rro/sub/x; do"
                  "  touch $p 2>/dev/null && echo $p=rw || echo $p=ro; done")
        bundle.config["root"]["readonly"] = False
        out = runtime.output(bundle.sh(script))
    finally:
        sh(f"umount {src / 'sub'}")
    text, rest = out.split("===\n")
    m = top(parse_mountinfo(text))
    assert "ro" in m["/bind"]["opts"] and "/bind/sub" not in m  # bind: not recursive
    assert "ro" in m["/rbind"]["opts"] and "rw" in m["/rbind/sub"]["opts"]  # ro only on top
    assert "ro" in m["/rro"]["opts"] and "ro" in m["/rro/sub"]["opts"]  # rro: all the way
    f = m["/deep/new/file"]
    assert {"nosuid", "noexec", "nodev"} <= f["opts"] and f["root"].endswith("/single")
    assert m["/rel"]["root"].endswith("/relsrc")
    lines = rest.splitlines()
    assert lines[:5] == ["vol-data", "inner", "inner", "one file", "relative"]
    assert lines[5] == "0"  # plain bind leaves the submount behind: empty dir
    assert lines[6:] == ["/bind/x=ro", "/rbind/x=ro", "/rbind/sub/x=rw", "/rro/sub/x=ro"]
    assert not os.path.exists(src / "sub" / "x")  # the tmpfs is gone, and nothing else written
    assert sorted(os.listdir(src)) == ["file", "sub"]


def test_tmpfs_options_and_copyup(runtime, bundle):
    bundle.config["root"]["readonly"] = False
    bundle.config["mounts"] += [
        {"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "noexec", "size=1m", "mode=700", "uid=5", "gid=6", "noatime"]},
        {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]},
    ]
    script = ("cat /proc/self/mountinfo; echo ===; stat -c '%a %u %g' /mnt/t;"
              "grep ^user: /etc/passwd; echo changed > /etc/passwd && cat /etc/passwd")
    out = runtime.output(bundle.sh(script))
    text, rest = out.split("===\n")
    m = top(parse_mountinfo(text))
    t = m["/mnt/t"]
    assert t["fstype"] == "tmpfs" and {"nosuid", "noexec", "noatime"} <= t["opts"]
    assert {"size=1024k", "mode=700", "uid=5", "gid=6"} <= t["super"]
    assert m["/etc"]["fstype"] == "tmpfs"
    assert rest.splitlines() == ["700 5 6", "user:x:1000:1000:user:/home:/bin/sh", "changed"]
    with open(os.path.join(bundle.rootfs, "etc", "passwd")) as f:
        assert "user:x:1000" in f.read()  # the copy was written, not the rootfs


def test_root_readonly_and_no_pivot(runtime, bundle):
    bundle.config["root"]["readonly"] = True
    bundle.config["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"})
    script = ("touch /x 2>/dev/null && echo root=rw || echo root=ro;"
              "touch /scratch/x && echo scratch=rw; cat /proc/self/mountinfo")
    for extra in ((), ("--no-pivot",)):
        p = runtime.run_bundle(bundle.sh(script), *extra)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert lines[:2] == ["root=ro", "scratch=rw"], extra
        entries = parse_mountinfo("\n".join(lines[2:]))
        assert "ro" in top(entries)["/"]["opts"], extra
        # Nothing of the host is visible, with or without pivot_root.
        only_spec_mounts(entries, ["/scratch"])
    assert not os.path.exists(os.path.join(bundle.rootfs, "x"))


# Run in a child python: enter the mount namespace of pid argv[1] and count
# every mount below the namespace's topmost mount with listmount(2) and
# statmount(2) (Linux 6.8), which also see mounts hidden under others.
_COUNT_NS_MOUNTS = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(f"/proc/{sys.argv[1]}/ns/mnt", os.O_RDONLY)
assert libc.setns(fd, 0x20000) == 0, os.strerror(ctypes.get_errno())
def listmount(mnt_id):
    req = ctypes.create_string_buffer(struct.pack("=IIQQ", 24, 0, mnt_id, 0))
    buf = (ctypes.c_uint64 * 4096)()
    n = libc.syscall(458, req, buf, 4096, 0)
    assert n >= 0, os.strerror(ctypes.get_errno())
    return set(buf[:n])
def parent(mnt_id):
    req = ctypes.create_string_buffer(struct.pack("=IIQQ", 24, 0, mnt_id, 2))
    buf = ctypes.create_string_buffer(4096)
    assert libc.syscall(457, req, buf, 4096, 0) == 0, os.strerror(ctypes.get_errno())
    return struct.unpack_from("=Q", buf.raw, 48)[0]  # struct statmount.mnt_parent_id
seen = listmount(0xffffffffffffffff)  # what the process's root reaches
tops = {parent(m) for m in seen} - seen
print(len(seen), sum(len(listmount(t)) for t in tops))
"""


def test_no_pivot_detaches_host_mounts(runtime, bundle):
    """With --no-pivot the host's mounts would stay in the container's mount
    namespace under the moved rootfs: hidden from /proc/self/mountinfo, but
    there. Every mount of the namespace must be one the container sees."""
    bundle.args("sleep", "30").write()
    for extra in ((), ("--no-pivot",)):
        cid = runtime.new_id()
        runtime.run("run", "--detach", *extra, "--bundle", bundle.path, cid)
        pid = runtime.state(cid)["pid"]
        p = subprocess.run([sys.executable, "-c", _COUNT_NS_MOUNTS, str(pid)],
                           capture_output=True, text=True)
        runtime.run("delete", "--force", cid)
        if p.returncode != 0 and "Function not implemented" in p.stderr:
            pytest.skip("no listmount(2)/statmount(2) in this kernel")
        assert p.returncode == 0, p.stderr
        visible, total = map(int, p.stdout.split())
        assert visible > 5 and total == visible, (extra, p.stdout)


def test_mount_errors_name_the_mount(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"})
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0
    assert "mount nosuchfs on /x: No such device" in p.stderr

    bundle.config["mounts"][-1] = {"destination": "/y", "type": "bind",
                                   "source": "/nonexistent-nook-src", "options": ["bind"]}
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0
    assert "bind mount /nonexistent-nook-src on /y: No such file or directory" in p.stderr


def umount_all(path):
    """Unmount every mount stacked on or below path (test cleanup)."""
    for _ in range(10):
        if not [e for e in host_mountinfo() if e["mnt"] == path or e["mnt"].startswith(path + "/")]:
            return
        subprocess.run(["umount", "-R", "-l", path], capture_output=True)


def _set_shared_host_dir(path):
    os.makedirs(path, exist_ok=True)
    sh(f"mount -t tmpfs nook-test-shared {path} && mount --make-shared {path}")


@pytest.fixture
def shared_dir(runtime, tmp_path):
    """A shared tmpfs on the host (torn down before the runtime's leak check)."""
    d = str(tmp_path / "shared")
    _set_shared_host_dir(d)
    for sub in ("fromhost", "fromctr"):
        os.makedirs(os.path.join(d, sub))
    yield d
    umount_all(d)


@pytest.mark.parametrize("case", ["private", "rslave", "rshared"])
def test_propagation_with_host(runtime, bundle, shared_dir, case):
    """private: nothing crosses; rslave: host mounts reach the container;
    rshared: both ways."""
    opts = ["rbind"]
    if case != "private":
        bundle.linux["rootfsPropagation"] = case
        opts.append(case)
    bundle.config["mounts"].append({"destination": "/vol", "type": "bind", "source": shared_dir,
                                    "options": opts})
    add_caps(bundle, "CAP_SYS_ADMIN")
    cid, pid = start_detached(runtime, bundle,
                              "mount -t tmpfs nook-from-ctr /vol/fromctr && exec sleep 60")
    try:
        def ctr_mounts():
            with open(f"/proc/{pid}/mountinfo") as f:
                return top(parse_mountinfo(f.read()))
        wait_for(lambda: "/vol/fromctr" in ctr_mounts(), 10, "the container's own mount")
        sh(f"mount -t tmpfs nook-from-host {shared_dir}/fromhost")
        seen_inside = "/vol/fromhost" in ctr_mounts()
        seen_on_host = f"{shared_dir}/fromctr" in top(host_mountinfo())
    finally:
        runtime.run("delete", "--force", cid)
    assert seen_inside == (case in ("rslave", "rshared"))
    assert seen_on_host == (case == "rshared")


def _renameat2_exchange(a, b):
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")


def test_symlink_destination_stays_in_rootfs(runtime, bundle, tmp_path):
    """A destination that is a symlink to a host path resolves inside the
    rootfs (CVE-2019-16884, CVE-2021-30465 class): the mount lands there or
    creating the container fails; the host directory is never touched."""
    hostdir = str(tmp_path / "hostdir")
    _set_shared_host_dir(hostdir)  # shared: a mount landing on it would show on the host
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "payload").write_text("payload\n")
    bundle.linux["rootfsPropagation"] = "rshared"
    bundle.config["root"]["readonly"] = False
    os.symlink(hostdir, os.path.join(bundle.rootfs, "evil"))
    os.symlink("../../../../../../../../.." + hostdir, os.path.join(bundle.rootfs, "evil2"))
    try:
        # Dangling inside the rootfs: the target is made inside it.
        bundle.config["mounts"].append({"destination": "/evil", "type": "bind",
                                        "source": str(vol), "options": ["bind"]})
        p = runtime.run_bundle(bundle.sh(f"cat {hostdir}/payload"))
        assert p.returncode == 0 and p.stdout == "payload\n", p.stderr
        assert os.path.isdir(os.path.join(bundle.rootfs, hostdir.lstrip("/")))
        assert os.listdir(hostdir) == []

        # The link's target exists inside the rootfs: the mount goes there.
        bundle.config["mounts"][-1]["destination"] = "/evil2/x"
        p = runtime.run_bundle(bundle.sh(f"cat {hostdir}/x/payload; cat /proc/self/mountinfo"))
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("payload\n")
        assert f"{hostdir}/x" in top(parse_mountinfo(p.stdout))
        assert os.path.isdir(os.path.join(bundle.rootfs, hostdir.lstrip("/"), "x"))
        assert os.listdir(hostdir) == []
        assert not [e for e in host_mountinfo() if e["mnt"].startswith(hostdir + "/")]
    finally:
        umount_all(hostdir)


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_bind_onto_dangling_symlinks_creates_target_in_rootfs(runtime, bundle, tmp_path, kind):
    """A bind destination that is a dangling symlink (relative, absolute, a
    chain, one climbing out with ../) is followed inside the rootfs and its
    target made there, a directory or a file like the source; nothing
    appears on the host, where the absolute and ../ targets also point."""
    host = tmp_path / "host-target"  # absent on the host; links aim at it
    if kind == "dir":
        src = tmp_path / "vol"
        src.mkdir()
        (src / "payload").write_text("payload\n")
        read = "cat {}/payload"
    else:
        src = tmp_path / "vol.txt"
        src.write_text("payload\n")
        read = "cat {}"
    r = bundle.rootfs
    os.makedirs(os.path.join(r, "d"))
    links = {
        "/rel": ("d/rel-target", "/d/rel-target"),           # relative
        "/abs": (str(host) + "-abs", str(host) + "-abs"),    # absolute host path
        "/c1": ("c2", str(host) + "-chain"),                 # chain: c1 -> c2 -> abs
        "/d/up": ("../../../../../.." + str(host) + "-up", str(host) + "-up"),  # ../ out
        "/via/x": (None, str(host) + "-via/x"),              # a dangling directory link on the way
    }
    os.symlink(str(host) + "-chain", os.path.join(r, "c2"))
    os.symlink(str(host) + "-via", os.path.join(r, "via"))
    script = []
    for dest, (target, inside) in links.items():
        if target:
            os.symlink(target, os.path.join(r, dest.lstrip("/")))
        bundle.config["mounts"].append({"destination": dest, "type": "bind",
                                        "source": str(src), "options": ["bind"]})
        script.append(read.format(dest))
        script.append(read.format(inside))
    out = runtime.output(bundle.sh("; ".join(script)))
    assert out == "payload\n" * len(script)
    for dest, (_target, inside) in links.items():
        made = os.path.join(r, inside.lstrip("/"))
        assert (os.path.isdir(made) if kind == "dir" else os.path.isfile(made)), inside
    host_left = [p for p in os.listdir(tmp_path) if p.startswith("host-target")]
    assert host_left == [], host_left


def test_dangling_symlink_loop_is_clear_error(runtime, bundle, tmp_path):
    os.symlink("loop-b", os.path.join(bundle.rootfs, "loop-a"))
    os.symlink("loop-a", os.path.join(bundle.rootfs, "loop-b"))
    bundle.config["mounts"].append({"destination": "/loop-a/x", "type": "bind",
                                    "source": str(tmp_path), "options": ["bind"]})
    p = runtime.run_bundle(bundle.sh("true"))
    assert p.returncode != 0 and "/loop-a" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


PROC_ATTACKS = ["/proc/1", "/proc/self", "/proc/sys/kernel", "/proc/1/attr",
                "/proc/self/oom_score_adj", "/proc/sys/vm/overcommit_memory", "/proc/thread-self"]


@pytest.mark.parametrize("dest", PROC_ATTACKS + ["link:/proc/1", "link:/proc/sys",
                                                 "dotdot:/proc/1"])
def test_mount_inside_proc_refused(runtime, bundle, tmp_path, dest):
    """A bind mount over a /proc path made nook write oom_score_adj into the
    host directory bound there, and the container kept the default score.
    Mounts inside /proc are limited to runc's list; a destination that
    reaches /proc through a symlink in the image or `..` is caught where it
    resolved. The error names the destination; nothing lands on the host."""
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("")
    src = hostfile if dest.endswith(("oom_score_adj", "overcommit_memory")) else hostdir
    if dest.startswith("link:"):
        os.symlink(dest[5:], os.path.join(bundle.rootfs, "trap"))
        dest = "/trap"
    elif dest.startswith("dotdot:"):
        os.makedirs(os.path.join(bundle.rootfs, "x"))
        dest = "/x/.." + dest[7:]
    bundle.process["oomScoreAdj"] = 500
    bundle.config["mounts"].append({"destination": dest, "type": "bind", "source": str(src),
                                    "options": ["bind"]})
    p = runtime.run_bundle(bundle.sh("cat /proc/self/oom_score_adj"))
    assert p.returncode != 0, p.stdout
    assert "inside /proc" in p.stderr and dest in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert os.listdir(hostdir) == [] and hostfile.read_text() == ""


def test_device_bound_inside_proc_refused(runtime, bundle):
    """In a user namespace devices are bind mounts too: not inside /proc."""
    add_userns(bundle)
    bundle.linux["devices"] = [{"path": "/proc/sys/kernel/core_pattern", "type": "c",
                                "major": 1, "minor": 3}]
    p = runtime.run_bundle(bundle.sh("true"))
    assert p.returncode != 0 and "linux.devices[0]" in p.stderr and "inside /proc" in p.stderr, \
        p.stderr


def test_mount_on_lxcfs_proc_files_allowed(runtime, bundle, tmp_path):
    """The files lxcfs stands in for may still be covered (runc's list)."""
    up = tmp_path / "uptime"
    up.write_text("12345.67 890.12\n")
    bundle.config["mounts"].append({"destination": "/proc/uptime", "type": "bind",
                                    "source": str(up), "options": ["bind", "ro"]})
    assert runtime.output(bundle.sh("cat /proc/uptime")) == "12345.67 890.12\n"


def test_symlink_swap_race(runtime, bundle, tmp_path):
    """A directory on the destination path swapped with a symlink to a host
    directory while containers are created: every mount lands inside the
    rootfs or creation fails; the host directory never gets a mount."""
    hostdir = str(tmp_path / "hostdir")
    _set_shared_host_dir(hostdir)
    vol = tmp_path / "vol"
    vol.mkdir()
    bundle.linux["rootfsPropagation"] = "rshared"
    bundle.config["root"]["readonly"] = False
    a = os.path.join(bundle.rootfs, "race")
    b = os.path.join(bundle.rootfs, "race-link")
    os.makedirs(os.path.join(a, "sub"))
    os.symlink(hostdir, b)
    bundle.config["mounts"].append({"destination": "/race/sub", "type": "bind",
                                    "source": str(vol), "options": ["bind"]})
    bundle.sh("true").write()
    stop = threading.Event()

    def swapper():
        while not stop.is_set():
            _renameat2_exchange(a, b)

    t = threading.Thread(target=swapper)
    t.start()
    try:
        for _ in range(15):
            runtime.run_bundle(bundle)  # success or failure are both fine
            assert not [e for e in host_mountinfo() if e["mnt"].startswith(hostdir + "/")]
            assert os.listdir(hostdir) == []
    finally:
        stop.set()
        t.join()
        umount_all(hostdir)


def _ours(entries, tmp):
    """Host mounts a container of this test could leak: under the test's
    directory (the bundle) or where a container mounts (/, /proc, /sys, /dev)."""
    return {(e["mnt"], e["fstype"], e["source"], e["root"]) for e in entries
            if e["mnt"].startswith(tmp) or e["mnt"] in ("/", "/proc", "/sys", "/dev")
            or e["mnt"].startswith(("/proc/", "/sys/", "/dev/"))}


def test_no_mount_left_on_host(runtime, bundle, tmp_path):
    bundle.config["mounts"].append({"destination": "/vol", "type": "bind",
                                    "source": str(tmp_path), "options": ["rbind"]})
    before = _ours(host_mountinfo(), str(tmp_path))
    runtime.output(bundle.sh("true"))
    cid, _ = start_detached(runtime, bundle, "exec sleep 60")
    runtime.run("delete", "--force", cid)
    cid = runtime.new_id()
    # The created init keeps its stdio until start: give it none of our pipes.
    subprocess.run(runtime.cmd("create", "--bundle", bundle.path, cid), check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)
    runtime.run("delete", "--force", cid)
    after = _ours(host_mountinfo(), str(tmp_path))
    assert after == before, f"new: {after - before}, gone: {before - after}"


def add_userns(bundle, host_base=100000):
    bundle.linux["namespaces"].append({"type": "user"})
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": host_base, "size": 65536}]
    bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": host_base, "size": 65536}]
    d = bundle.rootfs
    while d not in ("/", "/tmp"):
        d = os.path.dirname(d)
        os.chmod(d, os.stat(d).st_mode | 0o111)
    for root, dirs, files in os.walk(bundle.rootfs):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), host_base, host_base)
    os.lchown(bundle.rootfs, host_base, host_base)


def test_user_namespace_mounts(runtime, bundle):
    """In a user namespace sharing the host's network namespace, sysfs
    cannot be mounted fresh: the host's is bound read-only instead."""
    add_userns(bundle)
    bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"]
                                  if n["type"] != "network"]
    out = runtime.output(bundle.sh("cat /proc/self/mountinfo; echo ===;"
                                   "touch /sys/x 2>/dev/null || echo sys=ro; ls /proc/self/fd >/dev/null && echo proc=ok"))
    text, rest = out.split("===\n")
    m = top(parse_mountinfo(text))
    assert m["/sys"]["fstype"] == "sysfs" and "ro" in m["/sys"]["opts"]
    assert m["/sys"]["dev"] == top(host_mountinfo())["/sys"]["dev"]  # the host's, bound
    assert m["/proc"]["fstype"] == "proc"
    assert rest.splitlines() == ["sys=ro", "proc=ok"]


def _idmap_source(tmp_path):
    src = tmp_path / "idsrc"
    (src / "sub").mkdir(parents=True)
    (src / "f").write_text("x")
    (src / "sub" / "g").write_text("y")
    os.chown(src / "f", 0, 0)
    os.chown(src / "sub" / "g", 1234, 1234)
    src.chmod(0o777)
    t = tmp_path
    while str(t) not in ("/", "/tmp"):
        os.chmod(t, os.stat(t).st_mode | 0o111)
        t = t.parent
    return str(src)


def test_user_namespace_bind_below_root_only_host_dir(runtime, bundle, tmp_path):
    """Bind sources are looked up with the runtime's credentials, not the
    container root's (host uid 100000 here): a directory and a file below a
    0700 root:root host directory, and that directory itself, mount and show
    their content. The sources were opened inside the user namespace before
    (EACCES)."""
    add_userns(bundle)
    private = tmp_path / "private"
    (private / "vol").mkdir(parents=True)
    (private / "vol" / "data").write_text("in-vol\n")
    (private / "file").write_text("in-file\n")
    (private / "vol").chmod(0o755)
    (private / "vol" / "data").chmod(0o644)
    (private / "file").chmod(0o644)
    os.chown(private, 0, 0)
    private.chmod(0o700)
    bundle.config["mounts"] += [
        {"destination": "/vol", "type": "bind", "source": str(private / "vol"),
         "options": ["rbind", "ro"]},
        {"destination": "/file", "type": "bind", "source": str(private / "file"),
         "options": ["bind", "ro"]},
        {"destination": "/private", "type": "bind", "source": str(private),
         "options": ["rbind"]}]
    out = runtime.output(bundle.sh("cat /vol/data /file; grep -c ' /private ' "
                                   "/proc/self/mountinfo; ls /private 2>&1 >/dev/null "
                                   "| grep -c 'Permission denied'"))
    # the 0700 directory itself is mounted; the kernel keeps its mode, so the
    # container's root (not the host's) may not list it
    assert out.split() == ["in-vol", "in-file", "1", "1"], out


def test_user_namespace_rbind_keeps_submounts_locked(runtime, bundle, tmp_path):
    """What a host mount below a bind source covers stays hidden from a
    user-namespaced container root holding CAP_SYS_ADMIN: the kernel locks
    those mounts in the init's copy of the host's, so the runtime leaves
    such sources to the init instead of cloning them unlocked itself."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "hidden").write_text("covered\n")
    sh(f"mount -t tmpfs nook-test-cover {src}/sub")
    try:
        add_userns(bundle)
        add_caps(bundle, "CAP_SYS_ADMIN")
        bundle.config["mounts"].append({"destination": "/s", "type": "bind",
                                        "source": str(src), "options": ["rbind"]})
        out = runtime.output(bundle.sh("umount /s/sub 2>/dev/null; cat /s/sub/hidden 2>&1; true"))
        assert "covered" not in out, out
    finally:
        umount_all(str(src / "sub"))


def test_user_namespace_rbind_below_root_only_dir_with_submount(runtime, bundle, tmp_path):
    """A source below a 0700 root:root host directory with a host mount
    below it: the container root (host uid 100000) cannot look it up, and a
    clone made by the runtime would leave the submount unlocked. The runtime
    opens it in the init's mount namespace and the init clones that: the
    container sees the submount's content and cannot unmount it to read
    what it covers. Before: an EACCES error."""
    private = tmp_path / "private"
    src = private / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "hidden").write_text("covered\n")
    src.chmod(0o755)
    os.chown(private, 0, 0)
    private.chmod(0o700)
    sh(f"mount -t tmpfs nook-test-cover {src}/sub")
    try:
        (src / "sub" / "shown").write_text("on-tmpfs\n")
        add_userns(bundle)
        add_caps(bundle, "CAP_SYS_ADMIN")
        bundle.config["mounts"].append({"destination": "/s", "type": "bind",
                                        "source": str(src), "options": ["rbind"]})
        out = runtime.output(bundle.sh(
            "cat /s/sub/shown; grep -c ' /s/sub ' /proc/self/mountinfo; "
            "umount /s/sub 2>/dev/null && echo sub-unmounted; "
            "umount -l /s/sub 2>/dev/null && echo sub-detached; "
            "cat /s/sub/hidden 2>&1; mkdir -p /own && mount -t tmpfs own /own && "
            "umount /own && echo own-unmounted; true"))
        lines = out.splitlines()
        assert lines[:2] == ["on-tmpfs", "1"], out
        # the container root may unmount what it mounted itself: only the
        # kernel's lock keeps /s/sub
        assert lines[-1] == "own-unmounted", out
        assert "covered" not in out and "sub-" not in out, out
        # the host's mounts are untouched
        assert os.path.ismount(src / "sub")
    finally:
        umount_all(str(src / "sub"))


def test_user_namespace_plain_bind_with_submount_is_refused_clearly(runtime, bundle,
                                                                 tmp_path):
    """A plain bind (not rbind) of a source with a host mount below it: in a
    user namespace the kernel refuses to bind it without its locked
    submounts. The error says so and names the mount; nothing is left."""
    private = tmp_path / "private"
    src = private / "src"
    (src / "sub").mkdir(parents=True)
    src.chmod(0o755)
    os.chown(private, 0, 0)
    private.chmod(0o700)
    sh(f"mount -t tmpfs nook-test-cover {src}/sub")
    try:
        add_userns(bundle)
        bundle.config["mounts"].append({"destination": "/s", "type": "bind",
                                        "source": str(src), "options": ["bind"]})
        n = len(bundle.config["mounts"]) - 1
        bundle.args("true")
        p = runtime.run_bundle(bundle)
        assert p.returncode != 0
        err = p.stderr.strip()
        assert len(err.splitlines()) == 1, err
        assert f"mounts[{n}]: bind source `{src}` has host mounts below it" in err, err
        assert "(rbind)" in err, err
    finally:
        umount_all(str(src / "sub"))


def test_user_namespace_binds_keep_propagation_private(runtime, bundle, shared_dir):
    """A bind source cloned by the runtime (user namespace) is made private
    like the container's other mounts: a mount under it on the host does not
    reach the container."""
    add_userns(bundle)
    bundle.config["mounts"].append({"destination": "/shared", "type": "bind",
                                    "source": shared_dir, "options": ["rbind"]})
    cid, pid = start_detached(runtime, bundle, "exec sleep 60")
    try:
        sub = os.path.join(shared_dir, "fromhost")
        sh(f"mount -t tmpfs nook-test-late {sub}")
        time.sleep(0.1)
        with open(f"/proc/{pid}/mountinfo") as f:
            inside = top(parse_mountinfo(f.read()))
        assert "/shared" in inside and "/shared/fromhost" not in inside
    finally:
        runtime.run("delete", "--force", cid)


def test_idmapped_bind_with_own_mappings(runtime, bundle, tmp_path):
    """No user namespace: the mount's mappings alone decide how owners look."""
    src = _idmap_source(tmp_path)
    bundle.config["mounts"].append({
        "destination": "/data", "type": "bind", "source": src, "options": ["rbind"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1},
                        {"containerID": 1234, "hostID": 2000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1},
                        {"containerID": 1234, "hostID": 2000, "size": 1}]})
    out = runtime.output(bundle.sh("stat -c '%u:%g' /data/f /data/sub/g; "
                                   "grep ' /data ' /proc/self/mountinfo"))
    lines = out.splitlines()
    assert lines[:2] == ["1000:1000", "2000:2000"]
    assert "idmapped" in lines[2], lines[2]
    # the host's files keep their owners
    assert os.stat(os.path.join(src, "f")).st_uid == 0


def test_idmap_option_uses_container_mappings(runtime, bundle, tmp_path):
    """In a user namespace mapping 0 to 100000, host files owned by 0 look
    owned by nobody through a plain bind, by root through an idmapped one, and
    a file root creates there is owned by 0 on the host."""
    src = _idmap_source(tmp_path)
    add_userns(bundle)
    bundle.config["mounts"] += [
        {"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "idmap"]},
        {"destination": "/plain", "type": "bind", "source": src, "options": ["rbind"]}]
    out = runtime.output(bundle.sh("stat -c '%u:%g' /data/f /plain/f; echo n > /data/new"))
    assert out.split() == ["0:0", "65534:65534"]
    st = os.stat(os.path.join(src, "new"))
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_ridmap_maps_submounts(runtime, bundle, tmp_path):
    src = _idmap_source(tmp_path)
    sub = os.path.join(src, "sub")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "nk-idmap-sub", sub], check=True)
    try:
        os.chown(sub, 0, 0)
        m = {"destination": "/data", "type": "bind", "source": src,
             "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
             "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}
        for opt, want in (("idmap", "0:0"), ("ridmap", "1000:1000")):
            bundle.config["mounts"] = [x for x in bundle.config["mounts"]
                                       if x["destination"] != "/data"]
            bundle.config["mounts"].append(dict(m, options=["rbind", opt]))
            out = runtime.output(bundle.sh("stat -c '%u:%g' /data/f /data/sub"))
            assert out.split() == ["1000:1000", want], opt
    finally:
        subprocess.run(["umount", sub], check=True)


def test_idmap_errors(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["idmap"]})
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0 and "mounts[" in p.stderr and "idmap needs a bind mount" in p.stderr, \
        p.stderr
    bundle.config["mounts"][-1] = {"destination": "/t", "type": "bind", "source": "/tmp",
                                   "options": ["rbind", "idmap"]}
    p = runtime.run_bundle(bundle)
    assert p.returncode != 0 and "no user namespace mappings" in p.stderr, p.stderr
