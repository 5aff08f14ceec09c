"""Losing track of containers (issue 11, items 6 and 7): a create, run or
delete killed with SIGKILL at any point, and a state entry gone bad, must
leave something `list` shows and `delete --force` removes completely:
cgroups in every hierarchy, every process in them, the state entry."""
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from conftest import own_pid_namespace, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(os.path.dirname(HERE), "tools", "faultinject.py")
CG = "/sys/fs/cgroup"


def hierarchies():
    out = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a = line.split()
            if a[a.index("-") + 1] in ("cgroup", "cgroup2") and a[4].startswith(CG):
                out.add(a[4])
    return sorted(out)


def cgroup_dirs(path):
    return [h + path for h in hierarchies() if os.path.isdir(h + path)]


def procs_in(path):
    pids = set()
    for d in cgroup_dirs(path):
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids |= {int(p) for p in f.read().split()}
        except OSError:
            pass
    return pids


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture
def parent_cgroup():
    """An absolute cgroup parent of the test's own; removed afterwards."""
    path = f"/nook-rec-{uuid.uuid4().hex[:8]}"
    yield path
    for h in hierarchies():
        d = h + path
        if os.path.isdir(d):
            for base, dirs, _ in sorted(os.walk(d), key=lambda w: -len(w[0])):
                for x in dirs:
                    try:
                        os.rmdir(os.path.join(base, x))
                    except OSError:
                        pass
            try:
                os.rmdir(d)
            except OSError:
                pass


def listed(runtime):
    return {c["id"]: c for c in json.loads(runtime.run("list", "--format", "json").stdout)}


def assert_gone(runtime, cid, cgroup, pids=()):
    wait_for(lambda: not any(alive(p) for p in pids), 5,
             lambda: f"processes {pids} to die: {[p for p in pids if alive(p)]} alive")
    assert not cgroup_dirs(cgroup), f"cgroups left: {cgroup_dirs(cgroup)}"
    assert not os.path.lexists(os.path.join(runtime.root, cid))
    assert cid not in listed(runtime)


def killed_at(runtime, syscall, when, *args):
    """Run `nook ARGS` under strace, SIGKILLed on entering its WHENth
    SYSCALL (its own syscalls only: the init is not traced)."""
    p = subprocess.run(["strace", "-o", "/dev/null", "-e", f"trace={syscall}",
                        "-e", f"inject={syscall}:signal=SIGKILL:when={when}",
                        *runtime.cmd(*args)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    assert p.returncode in (-9, 137), f"nook {args[0]} was not killed (exit {p.returncode})"


# ---- item 6: kill -9 of create and run ----

def sleeper_in(runtime, bundle, parent_cgroup):
    """A new id, and bundle set to sleep in a cgroup named after it."""
    cid = runtime.new_id()
    cg = f"{parent_cgroup}/{cid}"
    bundle.args("sleep", "1000")
    bundle.linux["cgroupsPath"] = cg
    return cid, cg


def create_killed_leaves_no_init(runtime, bundle, cid, cg, syscall, nth):
    """Kill create on entering its nth `syscall`: its init must not live
    on, the container is still listed, and delete --force removes it all."""
    bundle.write()
    killed_at(runtime, syscall, nth, "create", "--bundle", bundle.path, cid)
    wait_for(lambda: not procs_in(cg), 5,
             lambda: f"the init to die with its killed create: {procs_in(cg)} in {cg}")
    assert cid in listed(runtime)
    runtime.run("delete", "--force", cid)
    assert_gone(runtime, cid, cg)


def test_create_killed_after_cgroups_is_listed_and_removed(runtime, bundle, parent_cgroup):
    """Killed on entering clone3: the cgroups exist in every hierarchy, no
    init yet. Before, `list` did not show it and delete -f removed nothing."""
    cid, cg = sleeper_in(runtime, bundle, parent_cgroup)
    bundle.write()
    killed_at(runtime, "clone3", 1, "create", "--bundle", bundle.path, cid)
    assert cgroup_dirs(cg), "the kill came too early to test anything"
    entry = listed(runtime).get(cid)
    assert entry is not None, "a killed create's container is not listed"
    assert entry["status"] == "unknown" and "state.json" in entry["reason"]
    table = runtime.run("list").stdout
    assert any(line.split()[:1] == [cid] and "unknown" in line for line in table.splitlines())
    runtime.run("delete", "--force", cid)
    assert_gone(runtime, cid, cg)


def test_init_dies_with_create_killed_before_it_recorded_it(runtime, bundle, parent_cgroup):
    """Killed after the init exec'd nook-init (the waitid that checks it is
    alive) but before state.json: the init must not live on, orphaned."""
    cid, cg = sleeper_in(runtime, bundle, parent_cgroup)
    create_killed_leaves_no_init(runtime, bundle, cid, cg, "waitid", 1)


@pytest.fixture
def pid_ns_holder():
    """A pid namespace of our own to join (a pod's): its pid 1 is a sleep."""
    with own_pid_namespace() as pid:
        yield pid


@pytest.mark.parametrize("path", ["createContainer hook", "joined pid namespace"])
def test_init_dies_with_create_killed_on_the_fork_path(runtime, bundle, parent_cgroup,
                                                       pid_ns_holder, path):
    """The same where the init stays nook and waits for start itself (no
    hand-over): a createContainer hook, or a joined pid namespace (the init
    proper is cloned into it late, as create's child). Killed on entering
    the rename of state.json (the second: the first records the cgroup)."""
    cid, cg = sleeper_in(runtime, bundle, parent_cgroup)
    if path == "createContainer hook":
        bundle.config["hooks"] = {"createContainer": [{"path": "/bin/true"}]}
    else:
        for ns in bundle.linux["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = f"/proc/{pid_ns_holder}/ns/pid"
    create_killed_leaves_no_init(runtime, bundle, cid, cg, "rename", 2)


@pytest.mark.parametrize("denied", ["ppoll", "read"])
def test_filter_refusing_the_life_socket_wait_keeps_nook_as_init(runtime, bundle, denied):
    """nook-init now also calls ppoll and read (the life socket): a filter
    that refuses either makes nook wait for start itself, as for any
    syscall nook-init needs, and the container still starts."""
    bundle.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": [denied], "action": "SCMP_ACT_ERRNO"}]}
    bundle.args("true").write()
    cid = runtime.new_id()
    runtime.run("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/exe").startswith("/memfd:nook ")
    runtime.run("start", cid)
    runtime.wait_status(cid, "stopped")
    runtime.run("delete", cid)


def test_run_killed_while_the_container_runs(runtime, bundle, parent_cgroup):
    """Like runc: the container outlives a killed `run` (it was recorded and
    started); list shows it running and delete -f removes everything."""
    cid, cg = sleeper_in(runtime, bundle, parent_cgroup)
    bundle.write()
    p = subprocess.Popen(runtime.cmd("run", "--bundle", bundle.path, cid),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        runtime.wait_status(cid, "running")
    finally:
        p.kill()
        p.wait()
    pid = runtime.state(cid)["pid"]
    assert alive(pid) and listed(runtime)[cid]["status"] == "running"
    runtime.run("delete", "--force", cid)
    assert_gone(runtime, cid, cg, [pid])


def test_delete_killed_halfway_is_finished_by_delete_force(runtime, bundle, parent_cgroup):
    """Killed on entering its first unlink (state.json, removed first): the
    cgroups are gone but the entry is not; a second delete -f finishes."""
    cid, cg = sleeper_in(runtime, bundle, parent_cgroup)
    bundle.write()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    killed_at(runtime, "unlink", 1, "delete", "--force", cid)
    assert cid in listed(runtime)
    runtime.run("delete", "--force", cid)
    assert_gone(runtime, cid, cg, [pid])


def run_tool(nook_bin, *args, timeout=120):
    p = subprocess.run([sys.executable, TOOL, "--nook", nook_bin, *args], capture_output=True,
                       text=True, timeout=timeout)
    summary = [line for line in p.stdout.splitlines() if line.startswith("faultinject:")]
    assert summary, f"no summary\nstdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-3000:]}"
    assert p.returncode == 0 and " leaks 0," in summary[0], p.stdout[-6000:]
    return summary[0]


def test_faultinject_create_and_run_200(nook_bin):
    """kill -9 at random 0-20 ms (seeded) of create and run, 200 times; after
    each, `list` and `delete -f` of every id must leave nothing behind."""
    print(run_tool(nook_bin, "-n", "200", "--seed", "611", "--ops", "create,run",
                   "--round-robin", "--max-delay-ms", "20"))


def test_faultinject_start_exec_delete_at_syscalls(nook_bin):
    """kill -9 of start, exec and delete at one of their syscalls (strace)."""
    print(run_tool(nook_bin, "-n", "45", "--seed", "7", "--ops", "start,exec,delete",
                   "--round-robin", "--strace"))


# ---- item 7: corrupt state ----

CORRUPTIONS = {
    "empty": b"",
    "truncated": None,  # the first half of the real file
    "garbage": bytes(range(256)) * 2,
    "binary": b"\xff\xfe\x01\x1b[31m\x1b]0;title\x07 not json\n",
    "wrong-shape-array": b"[1, 2, 3]",
    "wrong-shape-object": b'{"id": 5, "pid": "x"}',
}


def start_sleeper(runtime, bundle, cgroups_path):
    cid = runtime.new_id()
    bundle.args("sleep", "1000")
    if cgroups_path:
        bundle.linux["cgroupsPath"] = cgroups_path.replace("ID", cid)
    bundle.write()
    runtime.run("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    return cid, pid, cgroups_path.replace("ID", cid) if cgroups_path else f"/nook/{cid}"


def check_unknown_then_delete(runtime, cid, pid, cg, reason_has):
    entry = listed(runtime).get(cid)
    assert entry is not None, f"{cid} with a bad state is not listed"
    assert entry["status"] == "unknown", entry
    assert reason_has in entry["reason"], entry["reason"]
    assert "unknown" in runtime.run("list").stdout
    assert alive(pid)
    p = runtime.run("delete", "--force", cid)
    assert p.returncode == 0
    assert_gone(runtime, cid, cg, [pid])


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_state_json(runtime, bundle, parent_cgroup, kind):
    """A custom cgroupsPath: found through the record written before the
    cgroups were made, not guessed from the id."""
    cid, pid, cg = start_sleeper(runtime, bundle, f"{parent_cgroup}/ID")
    path = os.path.join(runtime.root, cid, "state.json")
    data = CORRUPTIONS[kind]
    if data is None:
        data = open(path, "rb").read()
        data = data[: len(data) // 2]
    with open(path, "wb") as f:
        f.write(data)
    table = runtime.run("list").stdout
    assert not any(c < " " and c != "\n" for c in table), repr(table)
    check_unknown_then_delete(runtime, cid, pid, cg, "state.json")


def test_missing_state_json_with_live_cgroup(runtime, bundle, parent_cgroup):
    cid, pid, cg = start_sleeper(runtime, bundle, f"{parent_cgroup}/ID")
    os.unlink(os.path.join(runtime.root, cid, "state.json"))
    check_unknown_then_delete(runtime, cid, pid, cg, "missing")


def test_missing_state_without_force_refuses_while_processes_live(runtime, bundle,
                                                                  parent_cgroup):
    cid, pid, cg = start_sleeper(runtime, bundle, f"{parent_cgroup}/ID")
    os.unlink(os.path.join(runtime.root, cid, "state.json"))
    p = runtime.run("delete", cid, check=False)
    assert p.returncode != 0 and "--force" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert alive(pid) and cgroup_dirs(cg)
    runtime.run("delete", "--force", cid)
    assert_gone(runtime, cid, cg, [pid])


def test_state_entry_is_a_file(runtime, bundle, tmp_path):
    """Nothing recorded to read: the default cgroup derived from the id."""
    cid, pid, cg = start_sleeper(runtime, bundle, None)
    d = os.path.join(runtime.root, cid)
    shutil.move(d, str(tmp_path / "moved"))
    with open(d, "w") as f:
        f.write("not a directory\n")
    p = runtime.run("delete", cid, check=False)
    assert p.returncode != 0 and "--force" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    check_unknown_then_delete(runtime, cid, pid, cg, "a file")


def test_state_entry_is_a_symlink_out_of_root(runtime, bundle, tmp_path):
    """The symlink is removed, never followed: what it points to (another
    directory with a state.json, a lock, a cgroup record) stays untouched."""
    cid, pid, cg = start_sleeper(runtime, bundle, None)
    d = os.path.join(runtime.root, cid)
    outside = str(tmp_path / "outside")
    shutil.move(d, outside)
    before = sorted(os.listdir(outside))
    os.symlink(outside, d)
    assert runtime.run("state", cid, check=False).returncode != 0
    check_unknown_then_delete(runtime, cid, pid, cg, "symlink")
    assert sorted(os.listdir(outside)) == before


@pytest.mark.parametrize("record", ["root", "holds-nook"])
def test_salvage_never_destroys_the_root_or_nooks_own_cgroup(runtime, bundle, parent_cgroup,
                                                             record):
    """A cgroup record gone bad must not make delete --force kill the host:
    the root cgroup, and any cgroup holding nook itself (here nook runs in
    PARENT/me and the record names PARENT), are refused."""
    cid, pid, cg = start_sleeper(runtime, bundle, f"{parent_cgroup}/ID")
    d = os.path.join(runtime.root, cid)
    with open(os.path.join(d, "state.json"), "w") as f:
        f.write("{")
    with open(os.path.join(d, "cgroup"), "w") as f:
        f.write(("/" if record == "root" else parent_cgroup) + "\n")
    me = next(h for h in (f"{CG}/pids", f"{CG}/unified", CG)
              if os.path.exists(os.path.join(h, "cgroup.procs"))) + parent_cgroup + "/me"
    os.makedirs(me)
    try:
        argv = " ".join(runtime.cmd("delete", "--force", cid))
        p = subprocess.run(["sh", "-c", f'echo $$ > {me}/cgroup.procs && exec {argv}'],
                           capture_output=True, text=True, timeout=30)
    finally:
        wait_for(lambda: _rmdir(me), 5, f"rmdir {me}")
    assert p.returncode != 0 and "not removing it" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert alive(pid)
    with open(os.path.join(d, "cgroup"), "w") as f:
        f.write(cg + "\n")
    runtime.run("delete", "--force", cid)
    assert_gone(runtime, cid, cg, [pid])


def test_cgroup_record_cut_short_is_not_used(runtime, bundle, parent_cgroup):
    """A record without its final newline may be a prefix of the real path
    (a parent of many containers): it is ignored, never destroyed."""
    cid, pid, cg = start_sleeper(runtime, bundle, f"{parent_cgroup}/ID")
    d = os.path.join(runtime.root, cid)
    with open(os.path.join(d, "state.json"), "w") as f:
        f.write("")
    with open(os.path.join(d, "cgroup"), "w") as f:
        f.write(parent_cgroup)
    p = runtime.run("delete", "--force", cid, check=False)
    assert "no cgroup path recorded" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert alive(pid) and cgroup_dirs(cg), "a cut-short record was used"
    # What the cut-short record could not tell, the cgroup itself still can.
    for h in hierarchies():
        procs = os.path.join(h + cg, "cgroup.procs")
        if os.path.exists(procs):
            for x in open(procs).read().split():
                os.kill(int(x), 9)
    wait_for(lambda: not alive(pid), 5, f"pid {pid} to die")
    wait_for(lambda: not procs_in(cg), 5, lambda: f"{cg} to be empty: {procs_in(cg)}")
    for h in hierarchies():
        if os.path.isdir(h + cg):
            wait_for(lambda: _rmdir(h + cg), 5, f"rmdir {h + cg}")
    assert not cgroup_dirs(cg)


def _rmdir(path):
    try:
        os.rmdir(path)
        return True
    except OSError:
        return False
