"""Hostile and careless input (issue 11 items 3, 8, 10, 18): ids that mean
"unchanged" to set*id, duplicate keys, a missing process.user, a non-proc
/proc, one-line errors, unusable --log paths, and container states of any
size reaching the hooks whole."""
import json
import os
import subprocess

import pytest

from conftest import state_logging_hooks


@pytest.mark.parametrize("size", [6 * 1024, 200 * 1024])
def test_hooks_get_whole_state_of_any_size(runtime, bundle, tmp_path, size):
    # The state went through a fixed 4,000-byte sync message: a
    # createContainer hook got cut-off, invalid JSON.
    big = {f"org.example.k{i}": "v" * 100 + str(i) for i in range(size // 120)}
    bundle.config["annotations"] = big
    log, in_log = state_logging_hooks(bundle, tmp_path,
                                      ("createRuntime", "createContainer", "startContainer"))
    cid = runtime.create_start_delete(bundle.args("true").write())
    states = {}
    for text in (log.read_text(), open(in_log).read()):
        for line in text.splitlines():
            if line.strip():
                name, js = line.split(" ", 1)
                states[name] = json.loads(js)  # whole and valid
    assert set(states) == {"createRuntime", "createContainer", "startContainer"}
    for name, st in states.items():
        assert st["annotations"] == big, name
        assert st["id"] == cid
    assert states["createRuntime"]["status"] == "creating"
    assert states["createContainer"]["status"] == "creating"
    # `start` was called: the container is created (it said creating).
    assert states["startContainer"]["status"] == "created"


def _one_line_error(p, *needles):
    """A refusal: non-zero exit, one non-empty line on stderr naming the cause."""
    assert p.returncode != 0, f"accepted: {p.stdout!r} {p.stderr!r}"
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"not one line: {p.stderr!r}"
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _no_state(runtime):
    assert not os.path.isdir(runtime.root) or os.listdir(runtime.root) == []
    assert json.loads(runtime.run("list", "--format", "json").stdout or "[]") in ([], None)


# (uid_t)-1 means "unchanged" to setresuid(2)/setresgid(2): before, these
# ran the container as root with root's capabilities.
@pytest.mark.parametrize("field,value", [
    ("uid", 4294967295), ("gid", 4294967295), ("uid", 2147483648),
    ("additionalGids", [4294967295]),
])
def test_user_id_minus_one_refused(runtime, bundle, field, value):
    bundle.process["user"] = {"uid": 1000, "gid": 1000, field: value}
    bundle.args("nktest", "ids")
    p = runtime.run_bundle(bundle)
    shown = value[0] if isinstance(value, list) else value
    _one_line_error(p, f"process.user.{field}", str(shown), "out of range 0..2147483647")
    assert "uid=" not in p.stdout
    _no_state(runtime)


@pytest.fixture
def running(runtime, bundle):
    bundle.args("sleep", "60").write()
    cid = runtime.new_id()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    yield cid
    runtime.run("delete", "--force", cid, check=False)


def _exec_processes(runtime, cid):
    """Processes in the container's pid namespace other than its init."""
    init = runtime.state(cid)["pid"]
    ns = os.readlink(f"/proc/{init}/ns/pid")
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != init:
            try:
                if os.readlink(f"/proc/{d}/ns/pid") == ns:
                    found.append(d)
            except OSError:
                pass
    return found


@pytest.mark.parametrize("flags,needle", [
    (["--user", "4294967295:4294967295"], "--user"),
    (["--user", "1000:4294967295"], "--user"),
    (["--user", "-1"], "--user"),
    (["--additional-gids", "4294967295"], "--additional-gids"),
    (["--additional-gids", "x"], "--additional-gids"),
])
def test_exec_user_flags_minus_one_refused(runtime, running, flags, needle):
    p = runtime.run("exec", *flags, running, "nktest", "ids", check=False)
    _one_line_error(p, needle)
    assert "uid=" not in p.stdout
    assert _exec_processes(runtime, running) == []
    # the ordinary ids still work
    out = runtime.run("exec", "--user", "1000:1000", "--additional-gids", "44", running,
                      "nktest", "ids").stdout
    assert "uid=1000 gid=1000" in out


@pytest.mark.parametrize("user,needle", [
    ({"uid": 4294967295, "gid": 4294967295}, "process.user.uid: value 4294967295"),
    ({"uid": 1000, "gid": 1000, "additionalGids": [4294967295]},
     "process.user.additionalGids[0]: value 4294967295"),
    ({"gid": 0}, "process.user.uid: missing required field"),
    (None, "process.user: missing required field"),
])
def test_exec_process_file_minus_one_refused(runtime, running, tmp_path, user, needle):
    proc = {"args": ["nktest", "ids"], "cwd": "/", "env": ["PATH=/bin"], "terminal": False}
    if user is not None:
        proc["user"] = user
    (tmp_path / "p.json").write_text(json.dumps(proc))
    p = runtime.run("exec", "--process", str(tmp_path / "p.json"), running, check=False)
    _one_line_error(p, needle)
    assert "uid=" not in p.stdout
    assert _exec_processes(runtime, running) == []


@pytest.mark.parametrize("maps,needle", [
    ({"uidMappings": [{"containerID": 0, "hostID": 4294967295, "size": 1}]},
     "linux.uidMappings[0]: hostID 4294967295 + size 1 reaches past id 4294967294"),
    ({"gidMappings": [{"containerID": 4294967294, "hostID": 100000, "size": 2}]},
     "linux.gidMappings[0]: containerID 4294967294 + size 2 reaches past id 4294967294"),
])
def test_idmap_reaching_minus_one_refused(runtime, bundle, maps, needle):
    bundle.linux.setdefault("namespaces", []).append({"type": "user"})
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.linux.update(maps)
    p = runtime.run_bundle(bundle)
    _one_line_error(p, needle)
    _no_state(runtime)


def test_device_owner_minus_one_refused(runtime, bundle):
    bundle.linux["devices"] = [{"path": "/dev/fuse0", "type": "c", "major": 10, "minor": 229,
                                "uid": 4294967295, "gid": 0}]
    p = runtime.run_bundle(bundle)
    _one_line_error(p, "linux.devices[0].uid: value 4294967295")
    _no_state(runtime)


# ---- item 8: duplicate keys, process.user, /proc, one-line errors ----

def _write_raw(bundle, text):
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write(text)


def _run_raw(runtime, bundle, text):
    _write_raw(bundle, text)
    cid = runtime.new_id()
    return runtime.run("run", "--bundle", bundle.path, cid, check=False)


def test_duplicate_key_refused(runtime, bundle):
    # Last-one-wins let a second "uid" hide behind the first.
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.args("nktest", "ids")
    text = json.dumps(bundle.config).replace('"uid": 1000', '"uid": 1000, "uid": 0', 1)
    p = _run_raw(runtime, bundle, text)
    _one_line_error(p, "config.json", 'process.user: duplicate key "uid"')
    assert "uid=" not in p.stdout
    _no_state(runtime)


def test_duplicate_key_in_array_names_path(runtime, bundle):
    text = json.dumps(bundle.config)
    text = text.replace('"type": "tmpfs"', '"type": "tmpfs", "type": "tmpfs"', 1)
    idx = [m["type"] for m in bundle.config["mounts"]].index("tmpfs")
    p = _run_raw(runtime, bundle, text)
    _one_line_error(p, f'mounts[{idx}]: duplicate key "type"')
    _no_state(runtime)


@pytest.mark.parametrize("drop", ["user", "uid", "gid", "user-misspelled"])
def test_missing_user_refused(runtime, bundle, drop):
    # Before: a missing or misspelled user or uid ran the container as root.
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    if drop == "user":
        del bundle.process["user"]
    elif drop == "user-misspelled":
        bundle.process["usr"] = bundle.process.pop("user")
    else:
        del bundle.process["user"][drop]
    bundle.args("nktest", "ids")
    p = runtime.run_bundle(bundle)
    field = "process.user" if drop.startswith("user") else f"process.user.{drop}"
    _one_line_error(p, f"{field}: missing required field")
    _no_state(runtime)


def test_spec_writes_user(nook_bin, tmp_path):
    # What `nook spec` writes passes the new rule (so do docker, podman and
    # containerd, which always send process.user with uid and gid).
    subprocess.run([nook_bin, "spec", "--bundle", str(tmp_path)], check=True)
    user = json.loads((tmp_path / "config.json").read_text())["process"]["user"]
    assert user["uid"] == 0 and user["gid"] == 0


@pytest.mark.parametrize("fstype,dest", [("sysfs", "/proc"), ("tmpfs", "/proc/"),
                                         ("tmpfs", "/tmp/../proc")])
def test_non_proc_at_proc_refused(runtime, bundle, fstype, dest):
    # Before: accepted, and the masked and read-only /proc paths were then
    # silently skipped (nothing to mask on a sysfs).
    mounts = [m for m in bundle.config["mounts"] if m["destination"] != "/proc"]
    mounts.insert(0, {"destination": dest, "type": fstype, "source": fstype})
    bundle.config["mounts"] = mounts
    bundle.args("cat", "/proc/kcore")
    p = runtime.run_bundle(bundle)
    _one_line_error(p, "only proc may be mounted at /proc", fstype)
    _no_state(runtime)


@pytest.mark.parametrize("order", ["before proc", "after proc"])
def test_non_proc_at_proc_through_symlink_refused(runtime, bundle, order):
    # A symlink in the rootfs leads another destination onto /proc (the
    # image's directory, or the proc already mounted there): the check is
    # on the resolved destination.
    os.symlink("/proc", os.path.join(bundle.rootfs, "p"))
    m = {"destination": "/p", "type": "tmpfs", "source": "tmpfs"}
    if order == "before proc":
        bundle.config["mounts"].insert(0, m)
    else:
        bundle.config["mounts"].append(m)
    bundle.args("ls", "/proc")
    p = runtime.run_bundle(bundle)
    _one_line_error(p, "mount tmpfs on /p", "leads to /proc, where only proc may be mounted")
    _no_state(runtime)


def test_proc_under_proc_paths_still_allowed(runtime, bundle):
    # A tmpfs somewhere below /proc is not at /proc (item 4 governs those).
    bundle.args("sh", "-c", "grep -c . /proc/self/mountinfo >/dev/null && echo ok")
    assert runtime.output(bundle).strip() == "ok"


@pytest.mark.parametrize("where", ["cgroupsPath", "sysctl", "mount option", "hostname",
                                   "mount destination", "args"])
def test_errors_are_one_line(runtime, bundle, where):
    # User strings with newlines and control characters do not break the
    # error into several lines, wherever they come from.
    evil = "a\nb\x1b[31mc\rd"
    if where == "cgroupsPath":
        bundle.linux["cgroupsPath"] = "/nook-test-validate/" + evil
    elif where == "sysctl":
        bundle.linux["sysctl"] = {"net." + evil: "1"}
    elif where == "mount option":
        bundle.config["mounts"].append({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                                        "options": ["size=" + evil]})
    elif where == "hostname":
        bundle.config["hostname"] = evil * 30
    elif where == "mount destination":
        bundle.config["mounts"].append({"destination": "/" + evil, "type": "bind",
                                        "source": "/nonexistent/" + evil, "options": ["bind"]})
    else:
        bundle.args("/bin/" + evil)
    p = runtime.run_bundle(bundle)
    line = _one_line_error(p)
    assert "\x1b" not in line and "\r" not in line
    _no_state(runtime)


def test_unknown_mount_option_named(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["nosuid", "size=1m", "frobnicate"]})
    p = runtime.run_bundle(bundle)
    _one_line_error(p, "/mnt", '"frobnicate"')
    _no_state(runtime)


# ---- item 18: --log ----

@pytest.fixture
def ro_dir(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(d)], check=True)
    yield d
    subprocess.run(["umount", str(d)], check=True)


@pytest.mark.parametrize("kind", ["directory", "missing parent", "read-only", "fifo"])
def test_log_unusable_path_fails(runtime, bundle, tmp_path, kind, request):
    if kind == "directory":
        path = str(tmp_path)
    elif kind == "missing parent":
        path = str(tmp_path / "no" / "such" / "x.log")
    elif kind == "read-only":
        path = str(request.getfixturevalue("ro_dir") / "x.log")
    else:
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    bundle.args("true").write()
    cid = runtime.new_id()
    p = runtime.run("--log", path, "run", "--bundle", bundle.path, cid, check=False, timeout=20)
    _one_line_error(p, "--log", path)
    _no_state(runtime)


def test_log_usable_path_works(runtime, bundle, tmp_path):
    log = tmp_path / "sub.log"
    bundle.args("true").write()
    cid = runtime.new_id()
    runtime.run("--log", str(log), "--debug", "run", "--bundle", bundle.path, cid)
    assert log.exists() and log.stat().st_size > 0


# ---- item 10: one failure record on every socket ----

@pytest.mark.parametrize("via", ["nook-init", "init"])
def test_start_failure_record(runtime, bundle, tmp_path, via):
    # After create, the program vanishes: `start` gets the failure as the
    # same sync error record from nook-init (the hand-over) and from the
    # init itself (kept when a startContainer hook runs).
    bundle.args("/bin/gone")
    shutil_copy = os.path.join(bundle.rootfs, "bin", "gone")
    with open(os.path.join(bundle.rootfs, "bin", "busybox"), "rb") as src, \
            open(shutil_copy, "wb") as dst:
        dst.write(src.read())
    os.chmod(shutil_copy, 0o755)
    if via == "init":
        bundle.config["hooks"] = {"startContainer": [{"path": "/bin/true"}]}
    bundle.write()
    cid = runtime.new_id()
    runtime.run("create", "--bundle", bundle.path, cid)
    os.unlink(shutil_copy)
    p = runtime.run("start", cid, check=False)
    _one_line_error(p, "/bin/gone", "No such file or directory")
    runtime.run("delete", "--force", cid)


def test_exec_process_file_duplicate_key_refused(runtime, running, tmp_path):
    # The same last-one-wins hole in exec's --process JSON.
    (tmp_path / "p.json").write_text(
        '{"args": ["nktest", "ids"], "cwd": "/", "env": ["PATH=/bin"], "terminal": false,'
        ' "user": {"uid": 1000, "gid": 1000, "uid": 0}}')
    p = runtime.run("exec", "--process", str(tmp_path / "p.json"), running, check=False)
    _one_line_error(p, "--process", "duplicate object key", '"uid"')
    assert "uid=" not in p.stdout
    assert _exec_processes(runtime, running) == []
