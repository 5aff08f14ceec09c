"""Hostile and careless input (issue 11 items 3, 8, 10, 18): ids that mean
"unchanged" to set*id, duplicate keys, a missing process.user, a non-proc
/proc, one-line errors, unusable --log paths, and container states of any
size reaching the hooks whole."""
import json
import os
import subprocess

import pytest


def _hook_script(path, log):
    path.write_text("#!/bin/sh\nprintf '%s ' \"$1\" >> " + str(log) + "\ncat >> " + str(log) +
                    "\necho >> " + str(log) + "\n")
    path.chmod(0o755)


@pytest.mark.parametrize("size", [6 * 1024, 200 * 1024])
def test_hooks_get_whole_state_of_any_size(runtime, bundle, tmp_path, size):
    # The state went through a fixed 4,000-byte sync message: a
    # createContainer hook got cut-off, invalid JSON.
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.sh"
    _hook_script(hook, log)
    # startContainer runs in the container: the same script at the same path.
    os.makedirs(bundle.rootfs + str(tmp_path), exist_ok=True)
    _hook_script(type(tmp_path)(bundle.rootfs + str(hook)), log)
    big = {f"org.example.k{i}": "v" * 100 + str(i) for i in range(size // 120)}
    bundle.config["annotations"] = big
    bundle.config["hooks"] = {n: [{"path": str(hook), "args": ["hook.sh", n]}]
                              for n in ("createRuntime", "createContainer", "startContainer")}
    bundle.args("true").write()
    cid = runtime.new_id()
    runtime.run("create", "--bundle", bundle.path, cid)
    runtime.run("start", cid)
    runtime.wait_status(cid, "stopped")
    runtime.run("delete", cid)
    states = {}
    for text in (log.read_text(), open(bundle.rootfs + str(log)).read()):
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
