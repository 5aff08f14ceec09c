"""The engine's observing and tuning commands: `nook top`, `stats`, `update`
(src/cmd/engine/observe.c), `diff`. Each test checks what is real: the
container's cgroup files, /proc of its processes, its overlay upper dir.
The `engine` fixture (engine_util.py) fails a test that leaks anything."""
import io
import json
import os
import pwd
import re
import stat
import subprocess
import tarfile
import time
import uuid

import pytest
from datetime import datetime, timedelta, timezone

from conftest import wait_for
from engine_util import CGROUP_BASE, engine  # noqa: F401 (engine: the fixture)


def cgfile(engine, cid, ctrl, name):
    """The container's cgroup file `name` of controller ctrl (v1 first, as
    this host mounts it, else the unified hierarchy)."""
    for h in (ctrl, f"{ctrl},cpuacct", "unified"):
        path = f"{CGROUP_BASE}/{h}{engine.cg_parent}/{cid}/{name}"
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()
    raise AssertionError(f"no cgroup file {ctrl}/{name} for {cid[:12]}")


def procs_of(engine, cid):
    return sorted(int(x) for x in cgfile(engine, cid, "pids", "cgroup.procs").split())


def cmdlines(engine, cid):
    out = []
    for pid in procs_of(engine, cid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                out.append(f.read().replace(b"\0", b" ").decode().strip())
        except OSError:
            pass
    return sorted(out)


def run_d(engine, *args):
    return engine.run("run", "-d", *args).stdout.strip()


def table(text):
    """Rows of a table printed with 3+ spaces between columns."""
    lines = text.rstrip("\n").split("\n")
    return [re.split(r"\s{3,}", line.strip()) for line in lines]


# ---- top -----------------------------------------------------------------

def test_top_shows_the_processes_of_the_container_cgroup(engine):
    cid = run_d(engine, "--name", "t", "busybox", "sh", "-c",
                "sleep 1001 & sleep 1002 & exec sleep 1003")
    want = ["sleep 1001", "sleep 1002", "sleep 1003"]
    wait_for(lambda: cmdlines(engine, cid) == want, 10, "the three sleeps")
    rows = table(engine.run("top", "t").stdout)
    assert rows[0] == ["PID", "USER", "TIME", "CMD"]
    pids = sorted(int(r[0]) for r in rows[1:])
    assert pids == procs_of(engine, cid)
    cmds = sorted(r[3] for r in rows[1:])
    assert cmds == ["sleep 1001", "sleep 1002", "sleep 1003"]
    for r in rows[1:]:
        with open(f"/proc/{r[0]}/cmdline", "rb") as f:
            assert f.read().replace(b"\0", b" ").decode().strip() == r[3]
        assert r[1] == "root" and re.fullmatch(r"\d\d:\d\d:\d\d", r[2])
    engine.run("rm", "-f", "t")


def test_top_user_column_and_ps_fields(engine):
    """A uid unknown to the host shows as a number (ps does the same); -o
    chooses the columns, PPID as /proc says."""
    uid = 4242
    while True:
        try:
            pwd.getpwuid(uid)
            uid += 1
        except KeyError:
            break
    cid = run_d(engine, "-u", f"{uid}:{uid}", "busybox", "sh", "-c", "sleep 1004 & wait")
    wait_for(lambda: cmdlines(engine, cid) == ["sh -c sleep 1004 & wait", "sleep 1004"], 10,
             "sh and its sleep")
    rows = table(engine.run("top", cid[:12]).stdout)
    assert {r[1] for r in rows[1:]} == {str(uid)}
    rows = table(engine.run("top", cid, "-o", "pid,ppid,comm,stat").stdout)
    assert rows[0] == ["PID", "PPID", "COMMAND", "STAT"]
    by_comm = {r[2]: r for r in rows[1:]}
    assert set(by_comm) == {"sh", "sleep"}
    assert by_comm["sleep"][1] == by_comm["sh"][0]
    assert by_comm["sleep"][3] == "S"
    engine.run("rm", "-f", cid)


def test_top_command_lines_cannot_forge_rows(engine):
    """A process chooses its argv: a newline, tab or escape in it stays
    inside its own row."""
    cid = run_d(engine, "busybox", "sh", "-c", "sleep 1006 & wait",
                "x\n999 root 00:00:00 forged\tcell\x1b[2J")
    wait_for(lambda: len(cmdlines(engine, cid)) == 2, 10, "sh and its sleep")
    out = engine.run("top", cid).stdout
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == 3 and "\x1b" not in out and "\t" not in out
    assert any(line.endswith("x 999 root 00:00:00 forged cell [2J") for line in lines)
    engine.run("rm", "-f", cid)


def test_top_refuses_stopped_containers_and_bad_options(engine):
    engine.run("create", "--name", "c", "busybox", "true")
    p = engine.run("top", "c", check=False)
    assert p.returncode == 1 and "container c is not running" in p.stderr
    p = engine.run("top", "nope", check=False)
    assert p.returncode == 1 and "no such container: nope" in p.stderr
    run_d(engine, "--name", "r", "busybox", "sleep", "100")
    p = engine.run("top", "r", "-o", "pid,bogus", check=False)
    assert p.returncode != 0 and "bogus" in p.stderr
    p = engine.run("top", "r", "--sort", check=False)
    assert p.returncode != 0 and "--sort" in p.stderr
    engine.run("rm", "-f", "c", "r")


# ---- stats ---------------------------------------------------------------

def mib(text):
    n, unit = re.fullmatch(r"([\d.]+)(B|KiB|MiB|GiB|TiB)", text).groups()
    return float(n) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
                       "TiB": 1 << 40}[unit] / (1 << 20)


def test_stats_no_stream_reads_the_cgroup(engine):
    """CPU % of a busy loop and of a sleeper, memory held in /dev/shm
    (charged to the container's cgroup), its limit, its PID count."""
    busy = run_d(engine, "--name", "busy", "--memory", "64m", "busybox", "sh", "-c",
                 "head -c 20971520 /dev/zero > /dev/shm/fill; while :; do :; done")
    idle = run_d(engine, "--name", "idle", "busybox", "sh", "-c", "sleep 1005 & wait")
    engine.run("create", "--name", "stopped", "busybox", "true")
    wait_for(lambda: int(cgfile(engine, busy, "memory", "memory.usage_in_bytes")) > 20 << 20,
             20, "20 MiB charged")
    p = engine.run("stats", "--no-stream", "--format", "json")
    rows = {r["Name"]: r for r in map(json.loads, p.stdout.splitlines())}
    assert set(rows) == {"busy", "idle"}  # default: the running ones
    b, i = rows["busy"], rows["idle"]
    assert b["ID"] == busy[:12] and i["ID"] == idle[:12]
    assert float(b["CPUPerc"].rstrip("%")) > 10
    assert float(i["CPUPerc"].rstrip("%")) < 5
    use, lim = b["MemUsage"].split(" / ")
    assert mib(lim) == 64
    assert 20 <= mib(use) <= 64
    assert abs(float(b["MemPerc"].rstrip("%")) - mib(use) * 100 / 64) < 0.1
    assert b["PIDs"] == str(len(procs_of(engine, busy)))
    assert i["PIDs"] == "2"
    # the table and a template, one container named
    p = engine.run("stats", "--no-stream", "idle")
    rows = table(p.stdout)
    assert rows[0] == ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
                       "BLOCK I/O", "PIDS"]
    assert len(rows) == 2 and rows[1][0] == idle[:12] and rows[1][7] == "2"
    p = engine.run("stats", "--no-stream", "--format", "{{.Name}}:{{.PIDs}}", "busy", "idle")
    assert p.stdout.split() == [f"busy:{b['PIDs']}", "idle:2"]
    engine.run("rm", "-f", "busy", "idle", "stopped")


def decimal(text):
    """Docker's HumanSize text ("4.19MB", "0B") back to bytes."""
    n, unit = re.fullmatch(r"([\d.]+)(B|kB|MB|GB|TB)", text).groups()
    return float(n) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]


def io_of(engine, name):
    row = json.loads(engine.run("stats", "--no-stream", "--format", "json", name).stdout)
    rx, tx = (decimal(x) for x in row["NetIO"].split(" / "))
    rd, wr = (decimal(x) for x in row["BlockIO"].split(" / "))
    return rx, tx, rd, wr


def test_stats_net_io_leaves_out_lo_and_counts_the_other_interfaces(engine):
    """NET I/O: the container's network namespace, lo excluded (its only
    interface with --network none: 0B / 0B however busy lo is); an
    interface of its own (a veth pair the test makes inside its
    namespace, gone with it) counts both ways."""
    cid = run_d(engine, "--name", "n", "busybox", "sleep", "1000")
    pid = engine.state(cid)["Pid"]
    engine.run("exec", "n", "ping", "-c", "3", "-i", "0.2", "127.0.0.1")
    with open(f"/proc/{pid}/net/dev") as f:
        lo = [line for line in f if line.strip().startswith("lo:")][0]
    assert int(lo.split(":")[1].split()[0]) > 0  # lo did carry the pings
    assert json.loads(engine.run("stats", "--no-stream", "--format", "json", "n").stdout)[
        "NetIO"] == "0B / 0B"
    ns = ["nsenter", f"--net=/proc/{pid}/ns/net"]
    subprocess.run(ns + ["sh", "-c", "ip link add nka type veth peer name nkb && "
                         "ip link set nka up && ip link set nkb up"], check=True)
    send = ("import socket\n"
            "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
            "s.bind(('nka', 0))\n"
            "for _ in range(20):\n"
            "    s.send(b'\\xff' * 6 + b'\\x02\\0\\0\\0\\0\\x01' + b'\\x88\\xb5' + b'x' * 986)\n")
    subprocess.run(ns + ["/usr/bin/python3", "-c", send], check=True)
    rx, tx, _, _ = io_of(engine, "n")
    assert rx >= 20000 and tx >= 20000, (rx, tx)  # nkb received, nka sent
    engine.run("rm", "-f", "n")


def test_stats_block_io_counts_direct_io_of_the_container(engine):
    """BLOCK I/O: the cgroup's blkio (v1) or io.stat (v2) bytes. O_DIRECT
    I/O is charged to the cgroup that issues it (buffered writeback is not
    on v1), so 4 MiB written and read back with it must show."""
    if os.major(os.stat(engine.tmp).st_dev) == 0:
        pytest.skip("the store is not on a block device (tmpfs, overlay): no block I/O to see")
    run_d(engine, "--name", "b", "busybox", "sleep", "1000")
    _, _, rd0, wr0 = io_of(engine, "b")
    p = engine.run("exec", "b", "sh", "-c",
                   "dd if=/dev/zero of=/direct bs=1M count=4 oflag=direct && "
                   "dd if=/direct of=/dev/null bs=1M iflag=direct", check=False)
    if p.returncode != 0 and "Invalid argument" in p.stderr:
        pytest.skip(f"O_DIRECT refused by the store's filesystem: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    _, _, rd, wr = io_of(engine, "b")
    # HumanSize keeps 3 digits: 4 MiB written is at least 4.18MB more
    assert wr - wr0 >= 4.18e6 and rd - rd0 >= 4.18e6, (rd0, wr0, rd, wr)
    engine.run("rm", "-f", "b")


def test_stats_streams_until_interrupted(engine):
    run_d(engine, "--name", "s", "busybox", "sleep", "100")
    p = engine.popen("stats", "--format", "{{.Name}} {{.PIDs}}", "s",
                     stdout=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    second = p.stdout.readline()
    p.send_signal(2)
    assert p.wait(timeout=10) == 0
    assert first == second == "s 1\n"
    engine.run("rm", "-f", "s")


# ---- update --------------------------------------------------------------

LIMITS = ["--memory", "128m", "--memory-swap", "256m", "--cpus", "0.5", "--cpu-shares",
          "512", "--cpuset-cpus", "0", "--pids-limit", "50"]


def assert_limits(engine, cid):
    assert cgfile(engine, cid, "memory", "memory.limit_in_bytes") == str(128 << 20)
    assert cgfile(engine, cid, "memory", "memory.memsw.limit_in_bytes") == str(256 << 20)
    assert cgfile(engine, cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgfile(engine, cid, "cpu", "cpu.cfs_period_us") == "100000"
    assert cgfile(engine, cid, "cpu", "cpu.shares") == "512"
    assert cgfile(engine, cid, "cpuset", "cpuset.cpus") == "0"
    assert cgfile(engine, cid, "pids", "pids.max") == "50"


def test_update_a_running_container_writes_its_cgroup_and_keeps_it(engine):
    cid = run_d(engine, "--name", "u", "--memory", "64m", "--pids-limit", "20",
                "busybox", "sleep", "1000")
    assert cgfile(engine, cid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    p = engine.run("update", *LIMITS, "u")
    assert p.stdout == "u\n"
    assert_limits(engine, cid)
    hc = engine.inspect("u")["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["CpuShares"],
            hc["CpusetCpus"], hc["PidsLimit"]) == (128 << 20, 256 << 20, 500000000, 512,
                                                    "0", 50)
    # the next start applies them again (config.json follows)
    engine.run("restart", "-t", "0", "u")
    assert engine.state("u")["Running"]
    assert_limits(engine, cid)
    # unlimited again: pids 0 -> max; memory alone: swap doubles
    engine.run("update", "--pids-limit", "0", "--memory", "96m", "u")
    assert cgfile(engine, cid, "pids", "pids.max") == "max"
    assert cgfile(engine, cid, "memory", "memory.limit_in_bytes") == str(96 << 20)
    assert cgfile(engine, cid, "memory", "memory.memsw.limit_in_bytes") == str(192 << 20)
    assert engine.inspect("u")["HostConfig"]["PidsLimit"] == 0
    engine.run("rm", "-f", "u")


def test_update_a_created_container_applies_at_start(engine):
    cid = engine.run("create", "--name", "c", "busybox", "sleep", "1000").stdout.strip()
    engine.run("update", *LIMITS, "c")
    engine.run("start", "c")
    assert_limits(engine, cid)
    engine.run("rm", "-f", "c")


def test_update_bad_values_change_nothing(engine):
    cid = run_d(engine, "--name", "b", "--memory", "64m", "busybox", "sleep", "1000")
    before = engine.inspect("b")["HostConfig"]
    with open(f"{engine.cdir(cid)}/config.json") as f:
        spec = f.read()
    for args, why in [(["--memory", "12x"], "--memory"),
                      (["--memory-swap", "32m"], "must be at least --memory"),
                      (["--cpus", "-1"], "--cpus"),
                      (["--cpuset-cpus", "0-"], "--cpuset-cpus"),
                      (["--pids-limit", "ten"], "--pids-limit"),
                      (["--restart", "sometimes"], "--restart"),
                      (["--bogus", "1"], "unknown option")]:
        p = engine.run("update", *args, "b", check=False)
        assert p.returncode != 0, args
        assert why in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    p = engine.run("update", "b", check=False)
    assert p.returncode != 0 and "nothing to update" in p.stderr
    assert engine.inspect("b")["HostConfig"] == before
    with open(f"{engine.cdir(cid)}/config.json") as f:
        assert f.read() == spec
    assert cgfile(engine, cid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    engine.run("rm", "-f", "b")


def test_update_restart_policy_is_used_by_the_next_start(engine):
    engine.run("create", "--name", "r", "busybox", "sh", "-c", "exit 3")
    engine.run("update", "--restart", "on-failure:2", "r")
    pol = engine.inspect("r")["HostConfig"]["RestartPolicy"]
    assert pol == {"Name": "on-failure", "MaximumRetryCount": 2}
    engine.run("start", "r")
    wait_for(lambda: engine.state("r")["Status"] == "exited" and
             not engine.state("r")["MonitorPid"], 20, "the restarts to end")
    ins = engine.inspect("r")
    assert ins["RestartCount"] == 2 and ins["State"]["ExitCode"] == 3
    # a running container: its monitor follows the new policy at the next exit
    engine.run("run", "-d", "--name", "live", "busybox", "sh", "-c",
               "[ -e /once ] && exec sleep 1000; touch /once; sleep 1000")
    engine.run("update", "--restart", "on-failure", "live")
    with open(f"{engine.cdir(engine.inspect('live')['Id'])}/restart-policy") as f:
        assert f.read() == "1 0\n"
    engine.run("kill", "-s", "KILL", "live")  # exits 137: a failure
    wait_for(lambda: engine.inspect("live")["RestartCount"] == 1 and
             engine.state("live")["Running"], 15, "the restart the update asked for")
    engine.run("run", "-d", "--rm", "--name", "rm", "busybox", "sleep", "100")
    p = engine.run("update", "--restart", "always", "rm", check=False)
    assert p.returncode == 1 and "--rm" in p.stderr
    engine.run("rm", "-f", "r", "rm", "live")


# ---- cp ------------------------------------------------------------------

SETUP = ("echo ctr-shadow > /etc/shadow; mkdir -p /d/sub; echo hi > /d/sub/f; "
         "chown 123:456 /d/sub/f; chmod 640 /d/sub/f; touch -d 2001-01-01 /d/sub/f; "
         "mkfifo /d/fifo; ln -s /etc/shadow /evil; ln -s ../../../../.. /up; "
         "ln -s ../../../etc /d/etclink; touch /ready; sleep 1000")


def host_shadow():
    with open("/etc/shadow", "rb") as f:
        return f.read()


def test_cp_from_a_container_keeps_owner_mode_times_and_links(engine, tmp_path):
    cid = run_d(engine, "--name", "c", "busybox", "sh", "-c", SETUP)
    wait_for(lambda: os.path.exists(f"{engine.cdir(cid)}/upper/ready"), 10, "the set-up")
    out = tmp_path / "out"
    out.mkdir()
    engine.run("cp", "c:/d", str(out))  # an existing directory: out/d
    f = os.lstat(out / "d/sub/f")
    assert (f.st_uid, f.st_gid, f.st_mode & 0o7777) == (123, 456, 0o640)
    orig = os.lstat(f"{engine.cdir(cid)}/upper/d/sub/f")
    assert orig.st_mtime_ns < 1e18 and f.st_mtime_ns == orig.st_mtime_ns
    assert (out / "d/sub/f").read_text() == "hi\n"
    assert os.readlink(out / "d/etclink") == "../../../etc"  # a link, not followed
    assert stat.S_ISFIFO(os.lstat(out / "d/fifo").st_mode)
    # contents only, into a new directory
    engine.run("cp", "c:/d/.", str(tmp_path / "flat"))
    assert sorted(os.listdir(tmp_path / "flat")) == ["etclink", "fifo", "sub"]
    # symlinks met on the way are resolved inside the container
    engine.run("cp", "c:/up/up/etc/shadow", str(tmp_path / "s1"))
    assert (tmp_path / "s1").read_text() == "ctr-shadow\n"
    engine.run("cp", "c:/d/etclink/shadow", str(tmp_path / "s2"))
    assert (tmp_path / "s2").read_text() == "ctr-shadow\n"
    # the last name a link: the link itself
    engine.run("cp", "c:/evil", str(tmp_path / "ev"))
    assert os.readlink(tmp_path / "ev") == "/etc/shadow"
    # a stopped container: from its rootfs
    engine.run("stop", "-t", "0", "c")
    engine.run("cp", "c:/d/sub/f", str(tmp_path / "f2"))
    assert (tmp_path / "f2").read_text() == "hi\n"
    p = engine.run("cp", "c:/nope", str(tmp_path / "x"), check=False)
    assert p.returncode == 1 and "/nope" in p.stderr and not (tmp_path / "x").exists()
    engine.run("rm", "-f", "c")


def test_cp_into_a_container_never_writes_outside_it(engine, tmp_path):
    cid = run_d(engine, "--name", "c", "busybox", "sh", "-c", SETUP)
    upper = f"{engine.cdir(cid)}/upper"
    wait_for(lambda: os.path.exists(f"{upper}/ready"), 10, "the set-up")
    shadow = host_shadow()
    src = tmp_path / "hf"
    src.write_text("from-host\n")
    os.chmod(src, 0o604)
    os.chown(src, 321, 654)
    os.utime(src, (1e9, 1e9))
    name = f"nook-cp-{cid[:8]}"
    # through ../../.. links: lands at the container's root
    engine.run("cp", str(src), f"c:/up/up/{name}")
    assert not os.path.exists(f"/{name}")
    st = os.lstat(f"{upper}/{name}")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777, int(st.st_mtime)) == (321, 654, 0o604,
                                                                             1000000000)
    # onto a link to /etc/shadow: the container's file, not the host's
    engine.run("cp", str(src), "c:/evil")
    assert host_shadow() == shadow
    assert engine.run("exec", "c", "cat", "/etc/shadow").stdout == "from-host\n"
    engine.run("cp", str(src), "c:/d/etclink/passwd-copy")
    assert not os.path.exists("/etc/passwd-copy")
    assert os.path.exists(f"{upper}/etc/passwd-copy")
    # a directory, whole; seen by the running container
    tree = tmp_path / "tree"
    (tree / "a/b").mkdir(parents=True)
    (tree / "a/b/x").write_text("x\n")
    os.symlink("/etc/shadow", tree / "a/link")
    engine.run("cp", str(tree), "c:/d/")
    p = engine.run("exec", "c", "sh", "-c", "cat /d/tree/a/b/x; readlink /d/tree/a/link")
    assert p.stdout == "x\n/etc/shadow\n"
    # a directory onto a file: refused, nothing made
    p = engine.run("cp", str(tree), "c:/d/sub/f", check=False)
    assert p.returncode == 1 and "directory to a file" in p.stderr
    p = engine.run("cp", str(src), "c:/nope/dir/", check=False)
    assert p.returncode == 1
    p = engine.run("cp", str(src), str(tmp_path / "y"), check=False)
    assert p.returncode != 0 and "CONTAINER:PATH" in p.stderr
    engine.run("rm", "-f", "c")


def run_bytes(engine, *args, input=None):
    return subprocess.run([engine.bin, *args], env=engine.env, capture_output=True,
                          input=input, timeout=60)


def make_tar(entries):
    """entries: (name, kind, data_or_link), kind one of file, dir, sym, hard."""
    buf = io.BytesIO()
    kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
             "hard": tarfile.LNKTYPE}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, arg in entries:
            info = tarfile.TarInfo(name)
            info.type = kinds[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind in ("sym", "hard"):
                info.linkname = arg
            data = arg.encode() if kind == "file" else b""
            info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def test_cp_tar_streams_out_and_in_keep_what_the_files_are(engine, tmp_path):
    """`cp C:SRC -` writes a tar of SRC (named by its last component, links
    as links); `cp - C:DIR` extracts one into a directory of a container."""
    cid = run_d(engine, "--name", "c", "busybox", "sh", "-c", SETUP)
    wait_for(lambda: os.path.exists(f"{engine.cdir(cid)}/upper/ready"), 10, "the set-up")
    p = run_bytes(engine, "cp", "c:/d", "-")
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        members = {m.name: m for m in t.getmembers()}
        assert sorted(members) == ["d", "d/etclink", "d/fifo", "d/sub", "d/sub/f"]
        f = members["d/sub/f"]
        assert (f.uid, f.gid, f.mode, f.size) == (123, 456, 0o640, 3)
        assert f.mtime == int(os.lstat(f"{engine.cdir(cid)}/upper/d/sub/f").st_mtime)
        assert t.extractfile(f).read() == b"hi\n"
        assert members["d/etclink"].issym() and members["d/etclink"].linkname == "../../../etc"
        assert members["d/fifo"].isfifo()
    # the last name a link: the link, not /etc/shadow's content
    p = run_bytes(engine, "cp", "c:/evil", "-")
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        [m] = t.getmembers()
        assert (m.name, m.issym(), m.linkname) == ("evil", True, "/etc/shadow")
    # contents only
    p = run_bytes(engine, "cp", "c:/d/.", "-")
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        assert sorted(t.getnames()) == ["etclink", "fifo", "sub", "sub/f"]
    # into a second container, through a link met in DST (resolved inside it)
    run_d(engine, "--name", "c2", "busybox", "sh", "-c", "ln -s /tmp /tl; exec sleep 1000")
    wait_for(lambda: engine.run("exec", "c2", "test", "-L", "/tl", check=False).returncode == 0,
             10, "the link")
    tar = run_bytes(engine, "cp", "c:/d", "-").stdout
    p = run_bytes(engine, "cp", "-", "c2:/tl", input=tar)
    assert p.returncode == 0, p.stderr
    out = engine.run("exec", "c2", "sh", "-c",
                     "stat -c '%u %g %a' /tmp/d/sub/f; cat /tmp/d/sub/f; readlink /tmp/d/etclink")
    assert out.stdout == "123 456 640\nhi\n../../../etc\n"
    # `-` wants an existing directory
    p = run_bytes(engine, "cp", "-", "c2:/tmp/d/sub/f", input=tar)
    assert p.returncode == 1 and b"must be a directory" in p.stderr
    engine.run("rm", "-f", "c", "c2")


def test_cp_tar_stream_into_a_container_stays_inside(engine, tmp_path):
    """Hostile tars: `..` entries, absolute names, an absolute symlink
    then an entry through it, a hard link to /etc/shadow. Nothing lands
    on the host; what is refused is named."""
    run_d(engine, "--name", "c", "busybox", "sleep", "1000")
    tag = uuid.uuid4().hex[:8]
    shadow = host_shadow()
    bait = tmp_path / "bait"
    bait.mkdir()

    def put(entries, dst="c:/tmp"):
        return run_bytes(engine, "cp", "-", dst, input=make_tar(entries))

    p = put([(f"../../../../tmp/esc-{tag}", "file", "x")])
    assert p.returncode == 1 and b"`..`" in p.stderr and not os.path.exists(f"/tmp/esc-{tag}")
    # an absolute name is relative to DST
    assert put([(f"/abs-{tag}", "file", "y")]).returncode == 0
    assert not os.path.exists(f"/abs-{tag}")
    assert engine.run("exec", "c", "cat", f"/tmp/abs-{tag}").stdout == "y"
    # an absolute link to a host directory, then a file through it: refused
    p = put([("lnk", "sym", str(bait)), ("lnk/owned", "file", "z")])
    assert p.returncode == 1 and b"lnk" in p.stderr and b"symlink" in p.stderr
    assert os.listdir(bait) == []
    assert engine.run("exec", "c", "readlink", "/tmp/lnk").stdout == f"{bait}\n"
    # a link to /etc/shadow, then a file of that name: the link is replaced
    assert put([("sh", "sym", "/etc/shadow"), ("sh", "file", "w")]).returncode == 0
    assert host_shadow() == shadow
    assert engine.run("exec", "c", "cat", "/tmp/sh").stdout == "w"
    # a hard link to /etc/shadow: a name inside DST, absent there: refused
    p = put([("hl", "hard", "/etc/shadow")])
    assert p.returncode == 1 and host_shadow() == shadow
    assert engine.run("exec", "c", "test", "-e", "/tmp/hl", check=False).returncode == 1
    # .wh. names are plain files here, not overlay whiteouts
    assert put([(".wh.x", "file", "v")]).returncode == 0
    assert engine.run("exec", "c", "cat", "/tmp/.wh.x").stdout == "v"
    # a stream cut short: the entry named, exit 1; not a tar at all: one line
    cut = make_tar([("big", "file", "b" * 100000)])[:50000]
    p = run_bytes(engine, "cp", "-", "c:/tmp", input=cut)
    assert p.returncode == 1 and b"`big`" in p.stderr and p.stderr.count(b"\n") == 1
    p = run_bytes(engine, "cp", "-", "c:/tmp", input=b"not a tar")
    assert p.returncode == 1 and p.stderr.count(b"\n") == 1
    p = run_bytes(engine, "cp", "c:/nope", "-")
    assert p.returncode == 1 and b"/nope" in p.stderr and p.stdout == b""
    # the root entry leaves DST's mode alone (/tmp stays 1777)
    assert put([(".", "dir", None)]).returncode == 0
    assert engine.run("exec", "c", "stat", "-c", "%a", "/tmp").stdout == "1777\n"
    engine.run("rm", "-f", "c")


# ---- diff ----------------------------------------------------------------

def test_diff_reads_the_upper_dir_whiteouts_and_opaque_dirs(engine):
    """A (new), C (changed or holding changes), D (whiteouts; what an opaque
    directory hides); mount points the engine made (/etc/hosts, a volume's
    /data) are not the user's changes."""
    script = ("mkdir /new; echo x > /new/f; echo y >> /etc/passwd; rm /bin/vi; "
              "rm -rf /var; mkdir -p /var/x; touch /ready; sleep 1000")
    cid = run_d(engine, "--name", "d", "-v", "/data", "busybox", "sh", "-c", script)
    upper = f"{engine.cdir(cid)}/upper"
    wait_for(lambda: os.path.exists(f"{upper}/ready"), 10, "the changes")
    # what the kernel made of it: a whiteout and an opaque directory
    st = os.lstat(f"{upper}/bin/vi")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(f"{upper}/var", "trusted.overlay.opaque") == b"y"
    p = engine.run("diff", "d")
    assert p.stdout.splitlines() == [
        "C /bin", "D /bin/vi", "C /etc", "C /etc/passwd", "A /new", "A /new/f", "A /ready",
        "C /var", "D /var/tmp", "A /var/x"]
    # a name cannot forge lines: control bytes and backslashes escaped
    engine.run("exec", "d", "sh", "-c", "touch \"/new/a$(printf '\\nD evil')\" '/new/b\\c'")
    lines = engine.run("diff", "d").stdout.splitlines()
    assert "A /new/a\\012D evil" in lines and "A /new/b\\134c" in lines
    assert "D evil" not in lines
    # a fresh container: nothing
    engine.run("create", "--name", "fresh", "busybox", "true")
    engine.run("start", "-a", "fresh")
    assert engine.run("diff", "fresh").stdout == ""
    p = engine.run("diff", "nope", check=False)
    assert p.returncode == 1 and "no such container: nope" in p.stderr
    engine.run("rm", "-f", "-v", "d", "fresh")


# ---- logs --since/--until ------------------------------------------------

def test_logs_since_until_against_the_log_file_times(engine):
    cid = run_d(engine, "--name", "l", "busybox", "sh", "-c",
                "echo one; sleep 1; echo two; sleep 1; echo three")
    wait_for(lambda: engine.state("l")["Status"] == "exited", 15, "the container to exit")
    with open(f"{engine.cdir(cid)}/ctr.log") as f:
        times = [line.split()[0] for line in f]
    assert len(times) == 3
    assert engine.run("logs", "--since", times[1], "l").stdout == "two\nthree\n"
    assert engine.run("logs", "--until", times[1], "l").stdout == "one\ntwo\n"
    assert engine.run("logs", "--since", times[1], "--until", times[1], "l").stdout == "two\n"
    # a Unix time, an offset zone
    t1 = datetime.fromisoformat(times[1][:26] + "+00:00")  # to the microsecond
    unix = f"{t1.timestamp() - 0.0001:.6f}"
    assert engine.run("logs", "--since", unix, "l").stdout == "two\nthree\n"
    shifted = (t1 - timedelta(microseconds=1)).astimezone(timezone(timedelta(hours=2)))
    shifted = shifted.isoformat()
    assert shifted.endswith("+02:00")
    assert engine.run("logs", "--until", shifted, "l").stdout == "one\n"
    # durations back from now
    time.sleep(1.1)
    assert engine.run("logs", "--since", "1s", "l").stdout == ""
    assert engine.run("logs", "--since", "1h30m", "l").stdout == "one\ntwo\nthree\n"
    for bad in ("yesterday", "10x", "2026-13-01", "1h-"):
        p = engine.run("logs", "--since", bad, "l", check=False)
        assert p.returncode != 0 and f"`{bad}`" in p.stderr
    engine.run("rm", "l")


# ---- inspect: Mounts -----------------------------------------------------

def test_inspect_mounts_are_what_the_container_has(engine, tmp_path):
    bind = tmp_path / "bind"
    bind.mkdir()
    (bind / "from-host").write_text("h\n")
    cid = run_d(engine, "--name", "m", "-v", f"{bind}:/b:ro", "-v", "named:/n", "-v", "/anon",
                "--mount", "type=tmpfs,destination=/t", "busybox", "sh", "-c",
                "echo n > /n/x; echo a > /anon/y; touch /ready; sleep 1000")
    wait_for(lambda: os.path.exists(f"{engine.cdir(cid)}/upper/ready"), 10, "the writes")
    ins = engine.inspect("m")
    by_dst = {m["Destination"]: m for m in ins["Mounts"]}
    assert set(by_dst) == {"/b", "/n", "/anon", "/t"}
    b, n, a, t = by_dst["/b"], by_dst["/n"], by_dst["/anon"], by_dst["/t"]
    assert (b["Type"], b["Source"], b["RW"]) == ("bind", str(bind), False)
    assert (n["Type"], n["Name"], n["RW"]) == ("volume", "named", True)
    assert n["Source"] == f"{engine.store}/volumes/named/_data"
    assert a["Type"] == "volume" and a["Source"] == f"{engine.store}/volumes/{a['Name']}/_data"
    assert (t["Type"], t["Source"]) == ("tmpfs", "")
    # the sources are what the container writes to and reads from
    with open(os.path.join(n["Source"], "x")) as f:
        assert f.read() == "n\n"
    with open(os.path.join(a["Source"], "y")) as f:
        assert f.read() == "a\n"
    assert engine.run("exec", "m", "cat", "/b/from-host").stdout == "h\n"
    # mount flags as RW says, in the container's own mount table
    pid = ins["State"]["Pid"]
    with open(f"/proc/{pid}/mountinfo") as f:
        table = {line.split()[4]: line.split()[5].split(",") for line in f}
    assert "ro" in table["/b"] and "rw" in table["/n"] and "rw" in table["/t"]
    engine.run("rm", "-f", "-v", "m")
    engine.run("volume", "rm", "named")


def test_info_and_version_report_counts_and_architecture(engine):
    """`nook info` counts what the store really holds (a running, a
    paused and an exited container; images by id) and both commands name
    the machine's architecture, as uname and the ELF header of nook say."""
    import platform
    up = engine.run("run", "-d", "busybox", "sleep", "60").stdout.strip()
    frozen = engine.run("run", "-d", "busybox", "sleep", "60").stdout.strip()
    engine.run("pause", frozen)
    done = engine.run("run", "-d", "busybox", "true").stdout.strip()
    engine.run("wait", done)
    engine.run("tag", "busybox", "another:name")  # same id: still one image
    o = json.loads(engine.run("info", "--format", "json").stdout)
    assert o["containers"] == {"total": 3, "running": 1, "paused": 1, "stopped": 1}
    assert o["images"] == 1
    assert o["architecture"]["machine"] == platform.machine()
    with open(engine.bin, "rb") as f:
        elf_machine = int.from_bytes(f.read(20)[18:20], "little")
    built = {62: ("x86_64", "amd64"), 183: ("aarch64", "arm64")}[elf_machine]
    assert o["architecture"]["build"] == built[0]
    table = engine.run("info").stdout
    assert "containers:      3 (running 1, paused 1, stopped 1)" in table
    assert f"architecture:    {platform.machine()}" in table
    v = json.loads(engine.run("version", "--format", "json").stdout)
    assert v["Arch"] == built[1] and v["Os"] == "linux" and v["Machine"] == platform.machine()
    assert f"OS/Arch:        linux/{built[1]}" in engine.run("version").stdout
    p = engine.run("version", "extra", check=False)
    assert p.returncode != 0 and p.stderr.count("\n") == 1 and "no arguments" in p.stderr
    engine.run("unpause", frozen)
    engine.run("rm", "-f", up, frozen, done)
    engine.run("rmi", "another:name")
