"""Cgroup integration tests: limits really written, and really taking effect.

They run on whatever layout the machine has (hybrid here; pure v2 inside the
QEMU guest of test_cgroup_vm.py; pure v1 through a mount namespace hiding the
unified hierarchy), finding each controller's hierarchy from `nook info`.
Every test checks that no cgroup directory of its containers is left.
"""
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import wait_for

V2_ONLY = os.environ.get("NOOK_CG_EXPECT") == "v2"


@pytest.fixture(scope="module")
def host(nook_bin):
    out = subprocess.run([nook_bin, "info", "--format", "json"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)["cgroups"]


def v2_mount(host):
    for h in host["hierarchies"]:
        if h["version"] == 2:
            return h["mount"]
    return None


def cg_dir(host, controller, path):
    """Directory of cgroup `path` on the hierarchy holding `controller`
    ("core" = the unified hierarchy), or None when the host lacks it."""
    if controller == "core":
        m = v2_mount(host)
    else:
        c = host["controllers"].get(controller)
        m = c["mount"] if c else None
    return None if m is None else m + path


def read(host, controller, path, name):
    with open(os.path.join(cg_dir(host, controller, path), name)) as f:
        return f.read().strip()


def all_dirs(host, path):
    return [h["mount"] + path for h in host["hierarchies"]]


def assert_gone(host, path):
    left = [d for d in all_dirs(host, path) if os.path.exists(d)]
    assert not left, f"cgroup left behind: {left}"


def is_v1(host, controller):
    c = host["controllers"].get(controller)
    return c is not None and c["version"] == 1


def start(runtime, bundle, resources=None, script="sleep 1000", cgroups_path=None):
    """`run --detach` a container; returns its id."""
    if resources is not None:
        bundle.linux["resources"] = resources
    if cgroups_path is not None:
        bundle.linux["cgroupsPath"] = cgroups_path
    bundle.sh(script).write()
    cid = runtime.new_id("cg")
    # The container inherits nook's stdio (as with runc): no pipes, or
    # reading them would wait for the container to end.
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(runtime.cmd("run", "--detach", "--bundle", bundle.path, cid),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                           timeout=60)
        err.seek(0)
        assert p.returncode == 0, err.read()
    return cid


def delete(runtime, host, cid, path=None):
    runtime.run("delete", "--force", cid)
    assert_gone(host, path or f"/nook/{cid}")


def usage_ns(host, path):
    """Total CPU time of the cgroup, from its own accounting."""
    if is_v1(host, "cpuacct"):
        return int(read(host, "cpuacct", path, "cpuacct.usage"))
    stat = read(host, "core", path, "cpu.stat")
    return int(dict(l.split() for l in stat.splitlines())["usage_usec"]) * 1000


# ---- files really written ----

RES = {
    "cpu": {"shares": 512, "quota": 30000, "period": 100000, "cpus": "0"},
    "memory": {"limit": 64 << 20, "reservation": 32 << 20},
    "pids": {"limit": 77},
}


def test_resources_written_on_every_layout(runtime, bundle, host):
    cid = start(runtime, bundle, dict(RES))
    path = f"/nook/{cid}"
    if is_v1(host, "cpu"):
        assert read(host, "cpu", path, "cpu.shares") == "512"
        assert read(host, "cpu", path, "cpu.cfs_quota_us") == "30000"
        assert read(host, "cpu", path, "cpu.cfs_period_us") == "100000"
    else:
        assert read(host, "cpu", path, "cpu.weight") == "20"  # 1 + (510 * 9999) / 262142
        assert read(host, "cpu", path, "cpu.max") == "30000 100000"
    assert read(host, "cpuset", path, "cpuset.cpus") == "0"
    if is_v1(host, "memory"):
        assert read(host, "memory", path, "memory.limit_in_bytes") == str(64 << 20)
        assert read(host, "memory", path, "memory.soft_limit_in_bytes") == str(32 << 20)
    else:
        assert read(host, "memory", path, "memory.max") == str(64 << 20)
        assert read(host, "memory", path, "memory.low") == str(32 << 20)
    assert read(host, "pids", path, "pids.max") == "77"
    # the init is in the container cgroup on every hierarchy
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [l.strip().split(":", 2) for l in f if l.strip()]
    mounted = {c for h in host["hierarchies"] for c in h["controllers"]}
    for num, ctls, p in lines:
        if num == "0" and v2_mount(host) is None:
            continue  # the unmounted v2 hierarchy of a pure v1 host
        if num != "0" and not set(ctls.split(",")) & mounted:
            continue
        assert p == path, f"{num}:{ctls} is {p}"
    delete(runtime, host, cid)


def root_has(host, controller, name):
    """Does the hierarchy of `controller` offer file `name` (seen in its
    root cgroup or in /nook, where the kernel hides some root files)?"""
    for path in ("", "/nook"):
        d = cg_dir(host, controller, path)
        if d and os.path.exists(os.path.join(d, name)):
            return True
    return False


def root_block_device():
    """major, minor of the disk holding /, else of any disk (the QEMU guest
    has / on 9p and a null_blk disk that test_cgroup_vm.py loads)."""
    disks = []
    for name in sorted(os.listdir("/sys/block")):
        with open(f"/sys/block/{name}/dev") as f:
            ma, mi = f.read().strip().split(":")
        disks.append((name, int(ma), int(mi)))
    for _, ma, mi in disks:
        if ma == os.major(os.stat("/").st_dev):
            return ma, mi
    for name, ma, mi in disks:
        if not name.startswith(("loop", "ram", "zram")):
            return ma, mi
    return None


def test_every_resource_written(runtime, bundle, host):
    """Each linux.resources key the host can take, read back from the
    kernel's files with the conversion docs/cgroups.md gives."""
    v1cpu, v1mem = is_v1(host, "cpu"), is_v1(host, "memory")
    res = {
        "cpu": {"shares": 2048, "quota": 30000, "period": 100000, "burst": 10000,
                "cpus": "0", "mems": "0"},
        "memory": {"limit": 64 << 20, "reservation": 32 << 20},
        "pids": {"limit": 77},
    }
    swap = root_has(host, "memory", "memory.memsw.limit_in_bytes" if v1mem
                    else "memory.swap.max")
    if swap:
        res["memory"]["swap"] = 96 << 20
    if v1mem:
        res["memory"].update({"swappiness": 10, "disableOOMKiller": True})
        if root_has(host, "memory", "memory.kmem.tcp.limit_in_bytes"):
            res["memory"]["kernelTCP"] = 16 << 20
    rt = v1cpu and root_has(host, "cpu", "cpu.rt_period_us")
    if rt:  # a runtime needs the parent's rt budget; the period alone is free
        res["cpu"]["realtimePeriod"] = 500000
    dev = root_block_device()
    if dev:
        res["blockIO"] = {
            "throttleWriteBpsDevice": [{"major": dev[0], "minor": dev[1], "rate": 2 << 20}],
            "throttleReadIOPSDevice": [{"major": dev[0], "minor": dev[1], "rate": 300}],
            "throttleWriteIOPSDevice": [{"major": dev[0], "minor": dev[1], "rate": 200}],
        }
    huge = "hugetlb" in host["controllers"] and os.path.exists(
        "/sys/kernel/mm/hugepages/hugepages-2048kB")
    if huge:
        res["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4 << 20}]
        if not is_v1(host, "hugetlb"):
            # unified keys are written last: this one wins over hugepageLimits
            res["unified"] = {"hugetlb.2MB.max": str(2 << 20)}
    elif v2_mount(host) and not v1mem:
        res["unified"] = {"memory.high": str(100 << 20)}
    cid = start(runtime, bundle, res)
    path = f"/nook/{cid}"
    if v1cpu:
        assert read(host, "cpu", path, "cpu.shares") == "2048"
        assert read(host, "cpu", path, "cpu.cfs_quota_us") == "30000"
        assert read(host, "cpu", path, "cpu.cfs_period_us") == "100000"
        if root_has(host, "cpu", "cpu.cfs_burst_us"):
            assert read(host, "cpu", path, "cpu.cfs_burst_us") == "10000"
        if rt:
            assert read(host, "cpu", path, "cpu.rt_period_us") == "500000"
    else:
        assert read(host, "cpu", path, "cpu.weight") == "79"  # 1 + 2046*9999/262142
        assert read(host, "cpu", path, "cpu.max") == "30000 100000"
        if os.path.exists(cg_dir(host, "cpu", path) + "/cpu.max.burst"):
            assert read(host, "cpu", path, "cpu.max.burst") == "10000"
    assert read(host, "cpuset", path, "cpuset.cpus") == "0"
    assert read(host, "cpuset", path, "cpuset.mems") == "0"
    if v1mem:
        assert read(host, "memory", path, "memory.limit_in_bytes") == str(64 << 20)
        assert read(host, "memory", path, "memory.soft_limit_in_bytes") == str(32 << 20)
        if swap:
            assert read(host, "memory", path, "memory.memsw.limit_in_bytes") == str(96 << 20)
        assert read(host, "memory", path, "memory.swappiness") == "10"
        oom = dict(l.split() for l in read(host, "memory", path,
                                           "memory.oom_control").splitlines())
        assert oom["oom_kill_disable"] == "1"
        if "kernelTCP" in res["memory"]:
            assert read(host, "memory", path, "memory.kmem.tcp.limit_in_bytes") == \
                str(16 << 20)
    else:
        assert read(host, "memory", path, "memory.max") == str(64 << 20)
        assert read(host, "memory", path, "memory.low") == str(32 << 20)
        if swap:  # swap.max is swap alone: 96M total - 64M memory
            assert read(host, "memory", path, "memory.swap.max") == str(32 << 20)
        if "unified" in res and "memory.high" in res["unified"]:
            assert read(host, "memory", path, "memory.high") == str(100 << 20)
    assert read(host, "pids", path, "pids.max") == "77"
    if dev:
        d = f"{dev[0]}:{dev[1]}"
        if is_v1(host, "blkio"):
            assert read(host, "blkio", path, "blkio.throttle.write_bps_device") == \
                f"{d} {2 << 20}"
            assert read(host, "blkio", path, "blkio.throttle.read_iops_device") == f"{d} 300"
            assert read(host, "blkio", path, "blkio.throttle.write_iops_device") == f"{d} 200"
        else:
            line = [l for l in read(host, "io", path, "io.max").splitlines()
                    if l.startswith(d + " ")]
            assert line and f"wbps={2 << 20}" in line[0] and "riops=300" in line[0] \
                and "wiops=200" in line[0], line
    if huge:
        if is_v1(host, "hugetlb"):
            assert read(host, "hugetlb", path, "hugetlb.2MB.limit_in_bytes") == str(4 << 20)
        else:
            assert read(host, "hugetlb", path, "hugetlb.2MB.max") == str(2 << 20)
            if os.path.exists(cg_dir(host, "hugetlb", path) + "/hugetlb.2MB.rsvd.max"):
                assert read(host, "hugetlb", path, "hugetlb.2MB.rsvd.max") == str(4 << 20)
    # cpu.idle and the blkio weight through update, where the kernel has them
    if os.path.exists(cg_dir(host, "cpu", path) + "/cpu.idle"):
        runtime.run("update", "--cpu-idle", "1", cid)
        assert read(host, "cpu", path, "cpu.idle") == "1"
    wfiles = {"blkio.weight": "500", "blkio.bfq.weight": "500", "io.bfq.weight": "default 500",
              "io.weight": "default 4950"}  # io.weight: 1 + 490*9999/990
    ctl = "blkio" if is_v1(host, "blkio") else "io"
    have = [f for f in wfiles if cg_dir(host, ctl, path)
            and os.path.exists(os.path.join(cg_dir(host, ctl, path), f))]
    if have:
        runtime.run("update", "--blkio-weight", "500", cid)
        assert read(host, ctl, path, have[0]).splitlines()[0] == wfiles[have[0]]
    # kernel memory: accepted with a warning
    p = runtime.run("update", "--kernel-memory", "64m", cid)
    assert "memory.kernel: ignored" in p.stderr, p.stderr
    delete(runtime, host, cid)


def test_update_check_before_update_keeps_limit(runtime, bundle, host):
    cid = start(runtime, bundle, {"memory": {"limit": 64 << 20}})
    path = f"/nook/{cid}"
    mem = "memory.limit_in_bytes" if is_v1(host, "memory") else "memory.max"
    p = runtime.run("update", "--resources", "-", cid, check=False, input=json.dumps(
        {"memory": {"limit": 4096, "checkBeforeUpdate": True}}))
    assert p.returncode != 0 and "below the current usage" in p.stderr, p.stderr
    assert read(host, "memory", path, mem) == str(64 << 20)
    assert runtime.state(cid)["status"] == "running"
    delete(runtime, host, cid)


def test_realtime_cpu_on_v1(runtime, bundle, host):
    """cpu.rt_runtime_us needs budget from the parent; the test gives its own
    top cgroup some, so the container's runtime can be written for real."""
    if not (is_v1(host, "cpu") and root_has(host, "cpu", "cpu.rt_runtime_us")):
        pytest.skip("no v1 real-time group scheduling (v2 has none: a clear error there)")
    top = f"/nooktest-rt-{os.getpid()}-{time.monotonic_ns()}"
    d = cg_dir(host, "cpu", top)
    os.mkdir(d)
    cid = None
    try:
        with open(os.path.join(d, "cpu.rt_runtime_us"), "w") as f:
            f.write("40000")  # 4% of the default 1 s period
        path = top + "/c"
        cid = start(runtime, bundle, {"cpu": {"realtimePeriod": 500000,
                                              "realtimeRuntime": 10000}}, cgroups_path=path)
        assert read(host, "cpu", path, "cpu.rt_period_us") == "500000"
        assert read(host, "cpu", path, "cpu.rt_runtime_us") == "10000"
        runtime.run("update", "--cpu-rt-runtime", "15000", cid)  # 3%
        assert read(host, "cpu", path, "cpu.rt_runtime_us") == "15000"
        # a larger share than the parent has: refused, the old value stays
        p = runtime.run("update", "--cpu-rt-runtime", "400000", cid, check=False)
        assert p.returncode != 0 and "cpu.rt_runtime_us" in p.stderr, p.stderr
        assert read(host, "cpu", path, "cpu.rt_runtime_us") == "15000"
        delete(runtime, host, cid, path)
        cid = None
        assert [x for x in all_dirs(host, top) if os.path.exists(x)] == [d]
    finally:
        if cid:
            runtime.run("delete", "--force", cid, check=False)
        os.rmdir(d)


def test_hugetlb_where_it_lives(runtime, bundle, host):
    if "hugetlb" not in host["controllers"]:
        pytest.skip("no hugetlb controller")
    sizes = [d.split("-")[1] for d in os.listdir("/sys/kernel/mm/hugepages")]
    names = {"2048kB": "2MB", "1048576kB": "1GB"}
    limits = [{"pageSize": names[s], "limit": 0} for s in sizes if s in names]
    cid = start(runtime, bundle, {"hugepageLimits": limits})
    path = f"/nook/{cid}"
    for l in limits:
        name = "hugetlb.%s.%s" % (l["pageSize"], "limit_in_bytes" if is_v1(host, "hugetlb")
                                  else "max")
        assert read(host, "hugetlb", path, name) == "0"
    delete(runtime, host, cid)


def test_blkio_weight_and_throttle(runtime, bundle, host):
    dev = root_block_device()
    if dev is None:
        pytest.skip("no block device")
    res = {"blockIO": {"throttleReadBpsDevice": [
        {"major": dev[0], "minor": dev[1], "rate": 1048576}]}}
    cid = start(runtime, bundle, res)
    path = f"/nook/{cid}"
    if is_v1(host, "blkio"):
        got = read(host, "blkio", path, "blkio.throttle.read_bps_device")
        assert got == f"{dev[0]}:{dev[1]} 1048576"
    else:
        got = read(host, "io", path, "io.max")
        assert f"{dev[0]}:{dev[1]} rbps=1048576" in got
    delete(runtime, host, cid)


def test_unknown_controller_settings_are_clear_errors(runtime, bundle, host):
    cases = []
    if "net_cls" not in host["controllers"]:
        cases.append(({"network": {"classID": 1048577}}, "net_cls"))
    if v2_mount(host) is None:
        cases.append(({"unified": {"memory.high": "max"}}, "without cgroup v2"))
    elif is_v1(host, "memory"):
        cases.append(({"unified": {"memory.high": "max"}}, "on cgroup v1 on this host"))
    if "rdma" not in host["controllers"]:
        cases.append(({"rdma": {"mlx5_0": {"hcaHandles": 1}}}, "rdma controller"))
    else:  # the controller is there, the device is not: the kernel's refusal, named
        cases.append(({"rdma": {"nooktest0": {"hcaHandles": 1}}},
                      "linux.resources.rdma: write \"nooktest0 hca_handle=1\""))
    assert cases
    for res, msg in cases:
        bundle.linux["resources"] = res
        p = runtime.run_bundle(bundle.args("true"))
        assert p.returncode != 0 and msg in p.stderr, (res, p.stderr)
    for cid in runtime.ids:
        assert_gone(host, f"/nook/{cid}")


def test_network_class_and_priorities_where_mounted(runtime, bundle, host):
    if not (is_v1(host, "net_cls") and is_v1(host, "net_prio")):
        pytest.skip("net_cls/net_prio not mounted (v1-only controllers)")
    cid = start(runtime, bundle, {"network": {"classID": 1048577,
                                              "priorities": [{"name": "lo", "priority": 7}]}})
    path = f"/nook/{cid}"
    assert read(host, "net_cls", path, "net_cls.classid") == "1048577"
    assert "lo 7" in read(host, "net_prio", path, "net_prio.ifpriomap").splitlines()
    delete(runtime, host, cid)


def test_invalid_resources_name_the_json_path(runtime, bundle, host):
    bundle.linux["resources"] = {"memory": {"limit": 100 << 20, "swap": 10}}
    p = runtime.run_bundle(bundle.args("true"))
    assert p.returncode != 0
    assert "linux.resources.memory.swap: 10 is below memory.limit" in p.stderr


# ---- effects ----

def test_pids_limit_stops_fork_bomb(runtime, bundle, host):
    # A shell whose fork fails gives up, so the bomb runs in a subshell; once
    # the limit is reached the init cannot fork either: exec, don't fork.
    script = ("(i=0; while [ $i -lt 100 ]; do sleep 100 & i=$((i+1)); done) 2>/tmp/forkerr;"
              " echo done > /tmp/bomb; exec sleep 1000")
    cid = start(runtime, bundle, {"pids": {"limit": 16}}, script)
    path = f"/nook/{cid}"
    wait_for(lambda: os.path.exists(os.path.join(bundle.rootfs, "tmp/bomb")), 15, "/tmp/bomb")
    assert int(read(host, "pids", path, "pids.current")) <= 16
    with open(os.path.join(bundle.rootfs, "tmp/forkerr")) as f:
        assert "fork" in f.read()
    if not is_v1(host, "pids"):
        events = read(host, "pids", path, "pids.events")
        assert int(events.split()[1]) > 0
    delete(runtime, host, cid)


def oom_kills(host, path):
    if is_v1(host, "memory"):
        text = read(host, "memory", path, "memory.oom_control")
    else:
        text = read(host, "memory", path, "memory.events")
    return int(dict(l.split() for l in text.splitlines()).get("oom_kill", 0))


def test_memory_hog_is_oom_killed_and_events_reports_it(runtime, bundle, host):
    script = ("while [ ! -e /tmp/go ]; do sleep 0.05; done;"
              " dd if=/dev/zero of=/dev/null bs=256M count=1; echo rc=$? > /tmp/hog; sleep 1000")
    cid = start(runtime, bundle, {"memory": {"limit": 32 << 20}}, script)
    path = f"/nook/{cid}"
    ev = subprocess.Popen(runtime.cmd("events", "--interval", "60s", cid),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # let events register its OOM watch
        open(os.path.join(bundle.rootfs, "tmp/go"), "w").close()
        wait_for(lambda: os.path.exists(os.path.join(bundle.rootfs, "tmp/hog")), 15, "/tmp/hog")
        with open(os.path.join(bundle.rootfs, "tmp/hog")) as f:
            assert f.read().strip() == "rc=137"  # SIGKILL by the OOM killer
        assert oom_kills(host, path) >= 1
        time.sleep(0.5)
    finally:
        ev.send_signal(signal.SIGTERM)
        out, err = ev.communicate(timeout=10)
    events = [json.loads(l) for l in out.splitlines() if l.strip()]
    assert {"type": "oom", "id": cid} in events, (out, err)
    delete(runtime, host, cid)


def test_cpu_quota_holds_busy_loop_near_limit(runtime, bundle, host):
    cid = start(runtime, bundle, {"cpu": {"quota": 20000, "period": 100000}},
                "while :; do :; done")
    path = f"/nook/{cid}"
    time.sleep(0.3)
    u0, t0 = usage_ns(host, path), time.monotonic()
    time.sleep(2)
    u1, t1 = usage_ns(host, path), time.monotonic()
    share = (u1 - u0) / ((t1 - t0) * 1e9)
    assert 0.08 < share < 0.35, f"busy loop used {share:.2f} CPU under a 0.2 quota"
    delete(runtime, host, cid)


def test_pause_freezes_until_resume(runtime, bundle, host):
    script = "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; done"
    cid = start(runtime, bundle, None, script)
    counter = os.path.join(bundle.rootfs, "tmp/n")

    def count():
        try:
            with open(counter) as f:
                return int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    wait_for(lambda: count() > 10, 15, "the counter past 10")
    runtime.run("pause", cid)
    assert runtime.state(cid)["status"] == "paused"
    p = runtime.run("pause", cid, check=False)
    assert p.returncode != 0 and "paused" in p.stderr
    c0 = count()
    time.sleep(0.5)
    assert count() == c0, "a frozen container made progress"
    runtime.run("resume", cid)
    assert runtime.state(cid)["status"] == "running"
    wait_for(lambda: count() > c0, 15, "the counter to go on after resume")
    delete(runtime, host, cid)


def test_delete_force_of_paused_container(runtime, bundle, host):
    cid = start(runtime, bundle)
    runtime.run("pause", cid)
    delete(runtime, host, cid)


def test_device_rule_denies_dev_zero(runtime, bundle, host):
    # "rw", not "rwm": the runtime itself still makes the /dev/zero node.
    bundle.linux["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rw"}]}
    out = runtime.output(bundle, "sh", "-c",
                         "head -c1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied;"
                         " echo x > /dev/null && echo null-ok")
    assert "zero-denied" in out and "null-ok" in out, out
    for cid in runtime.ids:
        assert_gone(host, f"/nook/{cid}")


def test_device_update_never_denies_a_device_that_stays_allowed(runtime, bundle, host):
    # A reader opens /dev/zero in a tight loop (a redirection of a builtin:
    # no fork; not `:`, whose failed redirection would end the shell)
    # while the device rules are updated again and again; every rule list
    # keeps /dev/zero allowed, so not one open may fail. On v1 a rewrite
    # starting with "a" in devices.deny would deny it for a moment; on v2
    # the new BPF program is attached before the old one is detached.
    base = [{"allow": False, "access": "rwm"}]
    extra = {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "r"}
    script = ("i=0; while [ ! -e /tmp/stop ]; do true </dev/zero || echo $i >>/tmp/fail;"
              " i=$((i+1)); echo $i >/tmp/n; done 2>>/tmp/err; echo $i >/tmp/done; sleep 1000")
    cid = start(runtime, bundle, {"devices": base}, script)
    path = f"/nook/{cid}"
    root = bundle.rootfs

    def count():
        try:
            with open(os.path.join(root, "tmp/n")) as f:
                return int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    wait_for(lambda: count() > 100, 15, "the reader past 100")
    # A child cgroup (as a nested runtime would make): v1 refuses to reset
    # ("a") a devices cgroup with children, so the updates must not need one.
    child = None
    if is_v1(host, "devices"):
        child = os.path.join(cg_dir(host, "devices", path), "child")
        os.mkdir(child)
    c0 = count()
    for i in range(40):
        rules = base + ([extra] if i % 2 == 0 else [])
        runtime.run("update", "--resources", "-", cid, input=json.dumps({"devices": rules}))
        if is_v1(host, "devices"):
            lines = read(host, "devices", path, "devices.list").splitlines()
            assert ("c 10:200 r" in lines) == (i % 2 == 0), lines
            assert "c 1:5 rwm" in lines, lines
    # (the file is rewritten all the time: a read may catch it empty)
    wait_for(lambda: count() > c0, 15, "the reader to make progress during the updates")
    if child:
        assert "c 10:200 r" not in open(os.path.join(child, "devices.list")).read()
        os.rmdir(child)
    open(os.path.join(root, "tmp/stop"), "w").close()
    wait_for(lambda: os.path.exists(os.path.join(root, "tmp/done")), 15, "/tmp/done")
    fails = os.path.join(root, "tmp/fail")
    err = open(os.path.join(root, "tmp/err")).read() if os.path.exists(
        os.path.join(root, "tmp/err")) else ""
    assert not os.path.exists(fails), f"/dev/zero denied during an update: {err}"
    delete(runtime, host, cid)


# ---- commands ----

def test_update_applies_and_rejects_atomically(runtime, bundle, host):
    cid = start(runtime, bundle, {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}})
    path = f"/nook/{cid}"
    mem = "memory.limit_in_bytes" if is_v1(host, "memory") else "memory.max"
    runtime.run("update", "--memory", "96m", "--pids-limit", "40", "--cpu-quota", "50000",
                "--cpu-period", "100000", cid)
    assert read(host, "memory", path, mem) == str(96 << 20)
    assert read(host, "pids", path, "pids.max") == "40"
    if is_v1(host, "cpu"):
        assert read(host, "cpu", path, "cpu.cfs_quota_us") == "50000"
    else:
        assert read(host, "cpu", path, "cpu.max") == "50000 100000"
    # one bad value: the kernel refuses cpus 63, nothing else may change
    p = runtime.run("update", "--pids-limit", "30", "--cpuset-cpus", "63", cid, check=False)
    assert p.returncode != 0 and "cpuset.cpus" in p.stderr, p.stderr
    assert read(host, "pids", path, "pids.max") == "40"
    # --resources from stdin
    runtime.run("update", "--resources", "-", cid, input=json.dumps({"pids": {"limit": 25}}))
    assert read(host, "pids", path, "pids.max") == "25"
    p = runtime.run("update", "--memory", "lots", cid, check=False)
    assert p.returncode != 0 and "--memory" in p.stderr
    delete(runtime, host, cid)


def test_update_memory_with_swap_up_and_down(runtime, bundle, host):
    # v1 keeps memsw >= limit at every moment: raising both needs memsw
    # written first, lowering both the limit first.
    cid = start(runtime, bundle, {"memory": {"limit": 64 << 20, "swap": 128 << 20}})
    path = f"/nook/{cid}"
    for mem, swap in ((256, 512), (32, 48)):
        runtime.run("update", "--memory", f"{mem}m", "--memory-swap", f"{swap}m", cid)
        if is_v1(host, "memory"):
            assert read(host, "memory", path, "memory.limit_in_bytes") == str(mem << 20)
            got = read(host, "memory", path, "memory.memsw.limit_in_bytes")
            assert got == str(swap << 20)
        else:
            assert read(host, "memory", path, "memory.max") == str(mem << 20)
            if os.path.exists(cg_dir(host, "memory", path) + "/memory.swap.max"):
                assert read(host, "memory", path, "memory.swap.max") == str((swap - mem) << 20)
    # the saved resources are the merged ones: a later --memory alone keeps swap valid
    runtime.run("update", "--memory", "40m", cid)
    delete(runtime, host, cid)


def test_ps_and_events_stats(runtime, bundle, host):
    cid = start(runtime, bundle, {"pids": {"limit": 100}}, "sleep 1000 & sleep 1000")
    pid = runtime.state(cid)["pid"]
    pids = wait_for(lambda: len(json.loads(runtime.run("ps", "--format", "json", cid).stdout))
                    == 2 and json.loads(runtime.run("ps", "--format", "json", cid).stdout),
                    15, "two processes in `nook ps`")
    assert pid in pids and len(pids) == 2
    table = runtime.run("ps", cid).stdout
    assert str(pid) in table and "sleep" in table
    stats = json.loads(runtime.run("events", "--stats", cid).stdout)
    assert stats["type"] == "stats" and stats["id"] == cid
    d = stats["data"]
    assert d["pids"]["current"] == 2 and d["pids"]["limit"] == 100
    assert d["memory"]["usage"]["usage"] > 0
    assert d["cpu"]["usage"]["total"] > 0
    if os.path.exists("/proc/pressure/cpu") and v2_mount(host):
        for sec in ("cpu", "memory", "blkio"):
            psi = d[sec]["psi"]
            assert set(psi["some"]) == {"avg10", "avg60", "avg300", "total"}, psi
            assert "full" in psi
    assert "throttling" in d["cpu"]
    if is_v1(host, "cpuacct"):  # v2 has no per-cpu usage
        assert len(d["cpu"]["usage"]["percpu"]) >= 1
    assert d["memory"]["usage"]["limit"] > 0 and "failcnt" in d["memory"]["usage"]
    assert "cache" in d["memory"]
    assert "ioServiceBytesRecursive" in d["blkio"]
    if "hugetlb" in host["controllers"]:
        assert "2MB" in d["hugetlb"]
    delete(runtime, host, cid)


def test_events_stats_read_the_kernel_files_exactly(runtime, bundle, host):
    """What `events --stats` reports is what the cgroup files say: every
    memory.stat key, one per-cpu entry per CPU, each huge page size the
    host has, PSI totals that only grow, block IO per device line."""
    cid = start(runtime, bundle, {"pids": {"limit": 50}}, "sleep 1000")
    path = f"/nook/{cid}"
    mem_stat = read(host, "memory", path, "memory.stat")
    psi_before = {}
    core = cg_dir(host, "core", path)
    if core and os.path.exists(os.path.join(core, "cpu.pressure")):
        with open(os.path.join(core, "cpu.pressure")) as f:
            psi_before = {l.split()[0]: int(l.split()[-1].split("=")[1]) for l in f}
    d = json.loads(runtime.run("events", "--stats", cid).stdout)["data"]
    assert set(d["memory"]["raw"]) == {l.split()[0] for l in mem_stat.splitlines()}
    for k in ("total_cache", "file", "pgfault"):
        if k in d["memory"]["raw"]:
            assert isinstance(d["memory"]["raw"][k], int)
    if is_v1(host, "cpuacct"):
        cpus = read(host, "cpuacct", path, "cpuacct.usage_percpu").split()
        assert len(d["cpu"]["usage"]["percpu"]) == len(cpus)
    if "hugetlb" in host["controllers"]:
        sizes = set()
        for e in os.listdir("/sys/kernel/mm/hugepages"):
            kb = int(e[len("hugepages-"):-len("kB")])
            sizes.add(f"{kb // 1024}MB" if kb % 1024 == 0 and kb < 1 << 20 else
                      f"{kb // (1 << 20)}GB" if kb % (1 << 20) == 0 else f"{kb}KB")
        assert set(d["hugetlb"]) == sizes
    for kind, total in psi_before.items():
        psi = d["cpu"]["psi"][kind]
        assert psi["total"] >= total and isinstance(psi["total"], int)
        assert all(isinstance(psi[a], float) and 0 <= psi[a] <= 100
                   for a in ("avg10", "avg60", "avg300")), psi
    for e in d["blkio"]["ioServiceBytesRecursive"]:
        assert e["major"] >= 0 and e["minor"] >= 0 and e["op"] and e["value"] >= 0, e
    delete(runtime, host, cid)


def test_events_interval_streams_stats_until_init_exits(runtime, bundle, host, tmp_path):
    cid = start(runtime, bundle, {"pids": {"limit": 30}}, "while [ ! -e /tmp/stop ]; do"
                " sleep 0.05; done")
    out = open(tmp_path / "events.out", "w+")
    ev = subprocess.Popen(runtime.cmd("events", "--interval", "100ms", cid), stdout=out,
                          stderr=subprocess.PIPE, text=True)
    try:
        def lines():
            out.seek(0)
            return [json.loads(l) for l in out.read().splitlines() if l.endswith("}")]
        wait_for(lambda: len(lines()) >= 2, 15, "two lines of events")
        for e in lines()[:2]:
            assert e["type"] == "stats" and e["id"] == cid
            assert e["data"]["pids"]["limit"] == 30
        # the container's init ends: so does events, on its own
        open(os.path.join(bundle.rootfs, "tmp/stop"), "w").close()
        assert ev.wait(timeout=15) == 0, ev.stderr.read()
    finally:
        if ev.poll() is None:
            ev.kill()
            ev.wait()
        out.close()
    delete(runtime, host, cid)


def procs(host, path):
    """PIDs in cgroup.procs of `path` on every hierarchy, per mount."""
    out = {}
    for d in all_dirs(host, path):
        with open(os.path.join(d, "cgroup.procs")) as f:
            out[d] = sorted(int(x) for x in f.read().split())
    return out


def test_kill_all_signals_every_process(runtime, bundle, host):
    # The init (a shell, PID 1 of its namespace: SIGTERM without a handler
    # does not reach it) waits for two children; only a signal to every
    # process of the cgroup ends the wait.
    script = "sleep 1000 & sleep 1000 & wait; echo waited > /tmp/w; exec sleep 1000"
    cid = start(runtime, bundle, None, script)
    path = f"/nook/{cid}"
    pid = runtime.state(cid)["pid"]
    wait_for(lambda: all(len(p) == 3 for p in procs(host, path).values()), 15,
             lambda: f"three processes on every hierarchy: {procs(host, path)}")
    before = procs(host, path)
    runtime.run("kill", "--all", cid, "TERM")
    wait_for(lambda: os.path.exists(os.path.join(bundle.rootfs, "tmp/w")), 15, "/tmp/w")
    # left: the init (now sleep), alone, on every hierarchy; not frozen
    wait_for(lambda: all(p == [pid] for p in procs(host, path).values()), 15,
             lambda: f"the init alone (before: {before}): {procs(host, path)}")
    assert runtime.state(cid)["status"] == "running"
    ps = json.loads(runtime.run("ps", "--format", "json", cid).stdout)
    assert ps == [pid]
    # a paused container stays paused: on v1 a frozen task dies only once
    # thawed (v2 lets SIGKILL through a freeze)
    runtime.run("pause", cid)
    runtime.run("kill", "--all", cid, "KILL")
    if is_v1(host, "freezer"):
        assert runtime.state(cid)["status"] == "paused"
        runtime.run("resume", cid)
    wait_for(lambda: all(p == [] for p in procs(host, path).values()), 15,
             lambda: f"no process left: {procs(host, path)}")
    wait_for(lambda: runtime.state(cid)["status"] == "stopped", 15, f"{cid} stopped")
    delete(runtime, host, cid)


def test_info_reports_layout(nook_bin, host):
    expect = os.environ.get("NOOK_CG_EXPECT")
    if expect:
        assert host["layout"] == expect
    out = subprocess.run([nook_bin, "info"], capture_output=True, text=True, check=True).stdout
    assert f"cgroup layout:   {host['layout']}" in out
    full = json.loads(subprocess.run([nook_bin, "info", "--format", "json"], capture_output=True,
                                     text=True, check=True).stdout)
    # every controller the kernel has enabled is either placed on a mounted
    # hierarchy (with its version, as the kernel's mountinfo says) or listed
    # as not mounted
    with open("/proc/cgroups") as f:
        enabled = [l.split()[0] for l in f if not l.startswith("#") and l.split()[3] == "1"]
    v2_ctls = []
    if v2_mount(host):
        with open(os.path.join(v2_mount(host), "cgroup.controllers")) as f:
            v2_ctls = f.read().split()
    with open("/proc/self/mountinfo") as f:
        mounts = [l.split(" - ") for l in f]
    for c in enabled:
        if c in host["controllers"]:
            where = host["controllers"][c]
            fstype = [m[1].split()[0] for m in mounts if m[0].split()[4] == where["mount"]]
            assert fstype and fstype[-1] == ("cgroup2" if where["version"] == 2 else "cgroup"), \
                (c, where, fstype)
        else:
            assert c in host["unmounted"] or c not in v2_ctls, c
    for c in v2_ctls:
        assert host["controllers"].get(c, {}).get("version") == 2 or is_v1(host, c), c
    assert set(full["namespaces"]) >= {"mnt", "pid", "net", "ipc", "uts", "user", "cgroup"}
    assert "kill_process" in full["seccomp"]["actions"] and "errno" in full["seccomp"]["actions"]
    assert full["overlayfs"] in (True, False) and "available" in full["userNamespaces"]
    assert set(full["syscalls"]) == {"pidfd_open", "clone3", "openat2"}
    assert full["root"] and full["store"]
    assert full["psi"] == os.path.exists("/proc/pressure/cpu")


# ---- cgroupsPath ----

def test_nested_cgroups_path_created_and_removed(runtime, bundle, host):
    top = f"/nooktest-{os.getpid()}-{time.monotonic_ns()}"
    path = f"{top}/a/b"
    cid = start(runtime, bundle, {"pids": {"limit": 10}}, cgroups_path=path)
    for d in all_dirs(host, path):
        assert os.path.isdir(d), d
    assert read(host, "pids", path, "pids.max") == "10"
    delete(runtime, host, cid, path)
    assert_gone(host, top)


def own_cgroup(host):
    """nook's own cgroup as docs/cgroups.md defines it (nook runs in ours)."""
    with open("/proc/self/cgroup") as f:
        lines = [l.rstrip("\n").split(":", 2) for l in f if l.strip()]
    for num, ctls, p in lines:
        if ctls == "name=systemd":
            return p
    if v2_mount(host):
        for num, ctls, p in lines:
            if num == "0":
                return p
    return next(p for num, ctls, p in lines if num != "0")


def test_relative_cgroups_path_under_own_cgroup(runtime, bundle, host):
    rel = f"nooktest-rel-{os.getpid()}-{time.monotonic_ns()}/c"
    path = os.path.join(own_cgroup(host), rel)
    cid = start(runtime, bundle, {"pids": {"limit": 9}}, cgroups_path=rel)
    for d in all_dirs(host, path):
        assert os.path.isdir(d), d
    assert read(host, "pids", path, "pids.max") == "9"
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        assert any(l.rstrip("\n").endswith(":" + path) for l in f)
    delete(runtime, host, cid, path)
    assert_gone(host, os.path.dirname(path))


def test_cgroup_with_processes_is_refused(runtime, bundle, host, tmp_path):
    path = f"/nooktest-busy-{os.getpid()}"
    d = cg_dir(host, "pids", path)
    os.mkdir(d)
    sleeper = subprocess.Popen(["sleep", "100"])
    try:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(sleeper.pid))
        bundle.linux["cgroupsPath"] = path
        p = runtime.run_bundle(bundle.args("true"))
        assert p.returncode != 0 and "already has processes" in p.stderr, p.stderr
        assert os.path.isdir(d), "nook removed a cgroup it did not create"
        others = [x for x in all_dirs(host, path) if x != d and os.path.exists(x)]
        assert not others, f"left behind: {others}"
    finally:
        sleeper.kill()
        sleeper.wait()
        wait_for(lambda: not open(os.path.join(d, "cgroup.procs")).read().strip(), 15,
                 f"{d} to be empty")
        os.rmdir(d)


# ---- pure v1: the same host with the unified hierarchy hidden ----

V1_SCRIPT = r"""
set -e
umount /sys/fs/cgroup/unified
"$NOOK" info --format json > "$OUT/info.json"
"$NOOK" --root "$ROOT" run --bundle "$BUNDLE" "$ID" > "$OUT/run.out" 2>&1 || echo "rc=$?" >> "$OUT/run.out"
"""


def test_pure_v1_host_via_mount_namespace(runtime, bundle, host, tmp_path):
    if host["layout"] != "hybrid":
        pytest.skip("needs a hybrid host to hide the unified hierarchy from")
    bundle.linux["resources"] = {"pids": {"limit": 20}}
    bundle.sh("cat /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max").write()
    cid = runtime.new_id("v1")
    env = dict(os.environ, NOOK=runtime.bin, ROOT=runtime.root, BUNDLE=bundle.path, ID=cid,
               OUT=str(tmp_path))
    subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", V1_SCRIPT],
                   env=env, check=True, timeout=60)
    info = json.load(open(tmp_path / "info.json"))["cgroups"]
    assert info["layout"] == "v1"
    assert all(h["version"] == 1 for h in info["hierarchies"])
    out = open(tmp_path / "run.out").read()
    assert "rc=" not in out, out
    assert f"pids:/nook/{cid}" in out
    assert "0::/\n" in out or "0::/nook" not in out
    assert_gone(host, f"/nook/{cid}")
    # hugetlb lives only on the hidden unified hierarchy: a clear error there
    bundle.linux["resources"] = {"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}
    bundle.write()
    cid2 = runtime.new_id("v1")
    env["ID"] = cid2
    subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", V1_SCRIPT],
                   env=env, check=True, timeout=60)
    out = open(tmp_path / "run.out").read()
    assert "rc=" in out and "hugetlb controller is not available" in out, out
    assert_gone(host, f"/nook/{cid2}")
