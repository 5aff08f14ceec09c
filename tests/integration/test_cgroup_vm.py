"""The cgroup tests again, inside QEMU guests whose cgroups are pure v2 and
pure v1 (tests/vm/run.sh; the host's / shared read-only), so the v2 code
paths run for real: cpu.max, memory.max/swap.max,
io.max, hugetlb.*.max, the BPF device filter, cgroup.freeze, cgroup.kill,
memory.events OOM watching, clone3(CLONE_INTO_CGROUP).

Skips (not fails) only where qemu cannot run at all. Bounded by --timeout."""
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "tests", "vm", "run.sh")
VM_TIMEOUT = int(os.environ.get("NOOK_CG_VM_TIMEOUT", "600"))


def run_in_vm(args, env_extra, timeout=VM_TIMEOUT, v1=False):
    if not os.access(RUN, os.X_OK):
        pytest.skip("tests/vm/run.sh is not there")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed: no pure cgroup v2 guest")
    # --host-cwd: the checkout may be cloned under /tmp
    cmd = [RUN, "--host-cwd", "--timeout", str(timeout)] + (["--v1"] if v1 else [])
    for k, v in env_extra.items():
        cmd += ["-e", f"{k}={v}"]
    p = subprocess.run(cmd + ["--"] + args, capture_output=True, text=True,
                       timeout=timeout + 60, cwd=REPO)
    if p.returncode == 125 and "not installed" in p.stderr:
        pytest.skip(p.stderr.strip())
    return p


@pytest.mark.parametrize("layout", ["v2", "v1"])
def test_cgroup_suite_in_guest(nook_bin, layout):
    """v2: cgroup_no_v1=all, every controller on cgroup2. v1: the guest
    mounts v1 hierarchies only (cpu,cpuacct and net_cls,net_prio co-mounted,
    rdma, misc, perf_event: more than this host has)."""
    unit = os.path.join(os.path.dirname(nook_bin), "tests", "unit", "test_cgroup")
    # / is on 9p: a null_blk disk gives the io/blkio tests a device.
    script = (
        "modprobe null_blk nr_devices=1 >/dev/null 2>&1; "
        f"{unit} && "
        "/usr/bin/python3 -m pytest -q -p no:cacheprovider "
        "tests/integration/test_cgroup.py -k 'not pure_v1'")
    p = run_in_vm(["sh", "-c", script], {"NOOK_BIN": nook_bin, "NOOK_CG_EXPECT": layout},
                  v1=layout == "v1")
    tail = "\n".join(p.stdout.splitlines()[-40:])
    assert p.returncode == 0, f"guest suite failed (rc {p.returncode}):\n{tail}\n{p.stderr}"
    assert " passed" in p.stdout, tail
