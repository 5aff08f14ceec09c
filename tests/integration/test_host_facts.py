"""One source for each host fact (issue 12 items 5, 6): `features` generated
from the parser's tables, one container-id rule, the cgroup hierarchies a
container sees taken from the same parse the cgroup module made."""
import json
import os
import subprocess
import uuid

import pytest

from conftest import default_config  # noqa: F401  (fixtures come from conftest)


def test_features_lists_what_the_parser_takes(runtime, bundle):
    f = json.loads(runtime.run("features").stdout)
    opts = f["mountOptions"]
    # In mountopts.c's table; the hand-written list had drifted from it.
    assert {"iversion", "noiversion", "copy-symlink"} <= set(opts)
    # Filesystem data, passed to the filesystem: tmpfs refuses "acl".
    assert "acl" not in opts and "noacl" not in opts
    assert opts == sorted(opts)
    # Every listed option really is taken as an option by the binary: a tmpfs
    # refuses any data it does not know, so an option misread as data fails.
    skip = {"bind", "rbind", "idmap", "ridmap", "remount", "copy-symlink", "mand"}
    usable = [o for o in opts if o not in skip]
    bundle.config["mounts"] += [
        {"destination": f"/o{i}", "type": "tmpfs", "source": "tmpfs", "options": [o]}
        for i, o in enumerate(usable)]
    out = runtime.output(bundle, "/bin/sh", "-c", "echo ok")
    assert out.strip() == "ok"


def test_container_id_rule(runtime, bundle):
    bundle.write()
    long_id = "a" * 256
    p = runtime.run("create", "--bundle", bundle.path, long_id, check=False)
    assert p.returncode != 0
    line = p.stderr.strip().splitlines()[-1]
    assert "invalid container id" in line and "longer than 255 bytes" in line, line
    # A validation error: no errno text appended.
    assert not line.endswith("Invalid argument") and not line.endswith("File name too long"), line
    assert not os.path.exists(os.path.join(runtime.root, long_id))
    p = runtime.run("create", "--bundle", bundle.path, "bad/id", check=False)
    assert p.returncode != 0 and "only [A-Za-z0-9_.+-] allowed" in p.stderr
    assert not p.stderr.strip().endswith("Invalid argument"), p.stderr


def _host_fstype(mnt):
    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f]
    types = [r[r.index("-") + 1] for r in rows if r[4] == mnt]
    return types[-1] if types else None


def test_cgroup_hierarchy_overmounted_on_host(runtime, bundle):
    """A host whose pids hierarchy is over-mounted by a subtree of itself (as
    in a container that was given its own cgroup): the cgroup module and the
    mount planner read the same parse, so the container is put in the cgroup
    its spec names and sees that very directory at /sys/fs/cgroup/pids."""
    if _host_fstype("/sys/fs/cgroup/pids") != "cgroup":
        pytest.skip("needs a v1 pids hierarchy at /sys/fs/cgroup/pids")
    parent = f"nookhf-{uuid.uuid4().hex[:8]}"
    host_parent = f"/sys/fs/cgroup/pids/{parent}"
    os.mkdir(host_parent)
    try:
        cid = runtime.new_id()
        bundle.linux["cgroupsPath"] = f"/{parent}/{cid}"
        bundle.sh("cat /proc/self/cgroup; echo ===; cat /sys/fs/cgroup/pids/cgroup.procs;"
                  " echo ===; cat /proc/self/mountinfo").write()
        run = " ".join(runtime.cmd("run", "--bundle", bundle.path, cid))
        # Private mount namespace: the over-mount never reaches the host.
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            f"mount --bind {host_parent} /sys/fs/cgroup/pids && exec {run}"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        cg, procs, mi = p.stdout.split("===\n")
        pids = [line.split(":", 2)[2] for line in cg.splitlines() if line.split(":")[1] == "pids"]
        assert pids == [f"/{parent}/{cid}"], cg
        assert "1" in procs.split(), procs  # its own cgroup: the init is in it
        roots = [r.split()[3] for r in mi.splitlines() if r.split()[4] == "/sys/fs/cgroup/pids"]
        assert roots == [f"/{parent}/{cid}"], mi
    finally:
        os.rmdir(host_parent)


def test_validation_errors_carry_no_errno_text(runtime, bundle):
    """errno rule (src/util/error.h): a refusal nook makes itself ends with
    what nook says, never with a strerror() text; before, the cgroup checks,
    the rootfs planner and exec's checks appended ": Invalid argument"
    while the rest of the validator did not."""
    cases = [
        (("linux", "resources"), {"memory": {"limit": "lots"}},
         "linux.resources.memory.limit: must be an integer"),
        (("linux", "resources"), {"memory": {"swap": 1 << 30}},
         "swap: set without memory.limit"),
        # ERANGE and EPERM for a value or a policy nook refuses, before.
        (("linux", "resources"), {"memory": {"swappiness": 101}},
         "swappiness: 101 out of range [0, 100]"),
        ((None, "mounts"), [{"destination": "/proc/sys/kernel/x", "type": "tmpfs",
                             "source": "tmpfs"}], "is inside /proc"),
    ]
    for (sect, key), value, needle in cases:
        cfg = json.loads(json.dumps(bundle.config))
        (cfg.setdefault(sect, {}) if sect else cfg)[key] = value
        with open(os.path.join(bundle.path, "config.json"), "w") as f:
            json.dump(cfg, f)
        p = runtime.run("create", "--bundle", bundle.path, runtime.new_id(), check=False)
        lines = p.stderr.splitlines()
        assert p.returncode != 0 and len(lines) == 1, p.stderr
        assert needle in lines[0], (needle, lines[0])
        for text in (": Invalid argument", ": Numerical result out of range",
                     ": Operation not permitted"):
            assert not lines[0].endswith(text), lines[0]
        assert not os.listdir(runtime.root) if os.path.isdir(runtime.root) else True


def test_preserve_fds_number_is_checked(runtime, bundle):
    """--preserve-fds went through atoi() in exec: "3x", "-1" and "abc" ran
    the process (as 3, -1 and 0). Every command taking it refuses a bad
    number before anything happens; main reserves fds only for commands
    flagged to take it (not by command name)."""
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    runtime.run("create", "--bundle", bundle.path, cid)
    try:
        runtime.run("start", cid)
        for bad in ("abc", "3x", "-1", "65537", "99999999999999999999999"):
            p = runtime.run("exec", "--preserve-fds", bad, cid, "true", check=False)
            assert p.returncode != 0, (bad, p.stdout, p.stderr)
            assert f"--preserve-fds: bad number `{bad}`" in p.stderr, p.stderr
            for verb in ("create", "run"):
                p = runtime.run(verb, "--preserve-fds", bad, "--bundle", bundle.path,
                                runtime.new_id(), check=False)
                assert p.returncode != 0 and "--preserve-fds: bad number" in p.stderr, p.stderr
        p = runtime.run("exec", "--preserve-fds", "0", cid, "true", check=False)
        assert p.returncode == 0, p.stderr
    finally:
        runtime.run("kill", cid, "KILL", check=False)
        runtime.run("delete", "--force", cid, check=False)


def test_engine_settings_come_from_the_command_layer(engine_bin, tmp_path):
    """The library never reads the environment (src/cmd/engine/common.c
    reads it and hands nk_engine_set_env a struct); a malformed number there
    is named instead of silently ignored (was strtoull without checks)."""
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    for sub in ("runtime", "engine", "util"):
        for dirpath, _dirs, files in os.walk(os.path.join(src, sub)):
            for name in files:
                if name.endswith((".c", ".h", ".in")):
                    with open(os.path.join(dirpath, name)) as f:
                        for n, line in enumerate(f, 1):
                            code = line.split("//")[0]
                            assert "getenv(" not in code or code.lstrip().startswith(("*", "/*")), \
                                f"{sub}/{name}:{n}: the library reads the environment"
    store = str(tmp_path / "store")
    for bad in ("8x", "-1", "0", "99999999999999999999999"):
        env = dict(os.environ, NOOK_MAX_LAYER_BYTES=bad)
        p = subprocess.run([engine_bin, "--store", store, "images", "-q"], capture_output=True,
                           text=True, env=env, timeout=60)
        assert p.returncode == 0, p.stderr
        assert f"NOOK_MAX_LAYER_BYTES: `{bad}` is not a positive number of bytes" in p.stderr, \
            p.stderr


def test_cpu_affinity_one_parser(runtime, bundle):
    """execCPUAffinity was validated by one parser (CPUs up to 65535) and
    applied by another (sscanf, CPUs below CPU_SETSIZE): "0-2000" passed
    validation and was cut to 0-1023 silently, "2000" passed and failed in
    the init. One parser now: refused at create, naming the JSON path."""
    for bad in ("2000", "0-2000"):
        bundle.process["execCPUAffinity"] = {"initial": bad}
        bundle.args("true").write()
        p = runtime.run("run", "--bundle", bundle.path, runtime.new_id(), check=False)
        lines = p.stderr.splitlines()
        assert p.returncode != 0 and len(lines) == 1, p.stderr
        assert f'process.execCPUAffinity.initial: invalid CPU list "{bad}"' in lines[0], lines[0]
    bundle.process["execCPUAffinity"] = {"initial": "0", "final": "0"}
    out = runtime.output(bundle, "/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status")
    assert out.split() == ["Cpus_allowed_list:", "0"], out
