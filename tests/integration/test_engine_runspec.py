"""The OCI spec `nook run` flags make (nk_run_opts_parse + nk_run_spec_build,
volumes through nk_volume_resolve_mounts), run by the runtime on a real
kernel: what the container sees for --tmpfs, --shm-size, --ulimit,
--device, --sysctl, --cap-add/--cap-drop, --security-opt, -v and the
image's Volumes (copy-up included, through a symlink that must stay inside
the rootfs). build/tests/unit/nk-runspec prints the spec; the engine's
`nook run` builds the same one in memory."""
import json
import os
import subprocess

import pytest


@pytest.fixture
def runspec(build_dir, bundle):
    tool = os.path.join(build_dir, "tests", "unit", "nk-runspec")
    if not os.access(tool, os.X_OK):
        pytest.fail(f"{tool} is not built")

    def make(*run_args, image_config=None, store=None):
        cfg = json.dumps(image_config or {"config": {"Cmd": ["sh"]}})
        argv = [tool] + (["--store", str(store)] if store else []) + [bundle.rootfs, cfg]
        r = subprocess.run(argv + list(run_args), capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        bundle.config = json.loads(r.stdout)
        bundle.config["root"]["path"] = bundle.rootfs
        created = [l.split()[1] for l in r.stderr.splitlines() if l.startswith("created ")]
        return created
    return make


def mount_line(out, target):
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[1] == target:
            return f
    return None


def test_flags_seen_in_the_container(runtime, bundle, runspec):
    runspec("--tmpfs", "/scratch:size=1m,mode=1770", "--shm-size", "2m",
            "--ulimit", "nofile=100:200", "--ulimit", "stack=-1",
            "--device", "/dev/zero:/dev/z0", "--device", "/dev/loop-control:/dev/lc:r",
            "--sysctl", "kernel.shmmax=123456",
            "--cap-drop", "ALL", "--cap-add", "net_admin", "--cap-add", "DAC_OVERRIDE",
            "--security-opt", "no-new-privileges", "img", "/bin/sh", "-c",
            "cat /proc/self/mounts; nktest rlimits; ls -ln /dev/z0; "
            "head -c 3 /dev/z0 | od -An -tx1; "
            "(exec 3</dev/lc) && echo READ-OK || echo READ-REFUSED; "
            "(exec 3>/dev/lc) 2>/dev/null && echo WROTE || echo WRITE-REFUSED; "
            "cat /proc/sys/kernel/shmmax; grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status")
    out = runtime.output(bundle)
    scratch = mount_line(out, "/scratch")
    assert scratch and scratch[2] == "tmpfs", out
    opts = scratch[3].split(",")
    assert "size=1024k" in opts and "mode=1770" in opts, scratch
    assert {"nosuid", "nodev", "noexec"} <= set(opts), scratch
    shm = mount_line(out, "/dev/shm")
    assert shm and "size=2048k" in shm[3].split(","), shm
    lim = {l.split()[0]: l.split()[1:] for l in out.splitlines() if l.startswith("RLIMIT")}
    assert lim["RLIMIT_NOFILE"] == ["100", "200"]
    assert lim["RLIMIT_STACK"] == [str(2**64 - 1)] * 2
    z0 = [l for l in out.splitlines() if l.endswith("/dev/z0")]
    assert z0 and z0[0].startswith("c") and "1," in z0[0].split() and "5" in z0[0].split(), z0
    assert "00 00 00" in out  # /dev/zero's node, readable
    # /dev/loop-control (not among the default devices) with "r": the
    # device cgroup lets it be opened for reading only
    assert "READ-OK" in out and "WRITE-REFUSED" in out and "WROTE" not in out, out
    assert "123456" in out.splitlines()
    status = dict(l.split(":\t") for l in out.splitlines() if l.startswith(("Cap", "NoNew")))
    # CAP_DAC_OVERRIDE (1) and CAP_NET_ADMIN (12), nothing else
    assert int(status["CapBnd"], 16) == (1 << 1) | (1 << 12), status
    assert status["NoNewPrivs"] == "1"


def test_seccomp_profile_file_is_enforced(runtime, bundle, runspec, tmp_path):
    prof = tmp_path / "profile.json"
    # Docker's format: archMap array and a rule kept only without CAP_SYS_ADMIN
    prof.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                     "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                      "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]}))
    script = "mkdir /tmp/d && echo MADE || echo REFUSED"
    runspec("--security-opt", f"seccomp={prof}", "img", "/bin/sh", "-c", script)
    assert runtime.output(bundle).split() == ["REFUSED"]
    runspec("--security-opt", f"seccomp={prof}", "--cap-add", "SYS_ADMIN", "img",
            "/bin/sh", "-c", script)
    assert runtime.output(bundle).split() == ["MADE"]


def test_volumes_in_the_container(runtime, bundle, runspec, tmp_path, engine_bin):
    store = tmp_path / "store"
    root = bundle.rootfs
    os.makedirs(f"{root}/data")
    with open(f"{root}/data/seed", "w") as f:
        f.write("from the image\n")
    os.makedirs(f"{root}/var/cache/app")
    with open(f"{root}/var/cache/app/x", "w") as f:
        f.write("cached\n")
    # an image path that is a symlink out of the rootfs: resolved inside it
    with open(f"{root}/etc/marker", "w") as f:
        f.write("rootfs etc\n")
    os.symlink("../../../../../../../etc", f"{root}/conf")
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "h").write_text("host file\n")
    created = runspec("-v", "vol1:/data", "-v", f"{host}:/h:ro", "-v", "etcv:/conf",
                      "img", "/bin/sh", "-c",
                      "cat /data/seed; echo new > /data/new; cat /var/cache/app/x; cat /h/h; "
                      "touch /h/f 2>/dev/null && echo H-WRITABLE || echo H-RO; "
                      "cat /conf/marker; ls /conf",
                      image_config={"config": {"Cmd": ["sh"], "Volumes": {"/var/cache/app": {}}}},
                      store=store)
    assert len(created) == 3 and "vol1" in created and "etcv" in created
    out = runtime.output(bundle)
    lines = out.splitlines()
    assert lines[:5] == ["from the image", "cached", "host file", "H-RO", "rootfs etc"], out
    assert "shadow" not in out.split()  # the host's /etc was not copied
    assert (store / "volumes" / "vol1" / "_data" / "new").read_text() == "new\n"
    assert not (host / "f").exists()

    env = dict(os.environ, NOOK_STORE=str(store))
    ls = subprocess.run([engine_bin, "volume", "ls", "--format", "json"], env=env,
                        capture_output=True, text=True, check=True)
    vols = {v["Name"]: v for v in json.loads(ls.stdout)}
    assert set(vols) == set(created)
    anon = [n for n in created if n not in ("vol1", "etcv")][0]
    assert "com.docker.volume.anonymous" in vols[anon]["Labels"]
    # prune removes the anonymous one only; then everything goes
    subprocess.run([engine_bin, "volume", "prune", "-f"], env=env, check=True,
                   capture_output=True)
    ls = subprocess.run([engine_bin, "volume", "ls", "-q"], env=env, capture_output=True,
                        text=True, check=True)
    assert sorted(ls.stdout.split()) == ["etcv", "vol1"]
    subprocess.run([engine_bin, "volume", "rm", "vol1", "etcv"], env=env, check=True,
                   capture_output=True)
    assert os.listdir(store / "volumes") == [".lock"]


def test_missing_bind_source_makes_nothing(bundle, runspec, build_dir, tmp_path):
    store = tmp_path / "store"
    tool = os.path.join(build_dir, "tests", "unit", "nk-runspec")
    r = subprocess.run([tool, "--store", str(store), bundle.rootfs, '{"config": {}}',
                        "-v", "fresh:/f", "-v", f"{tmp_path}/nope:/x", "img", "true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert f"{tmp_path}/nope" in r.stderr
    assert os.listdir(store / "volumes") == [".lock"]  # "fresh" made, then removed


MEMSW = "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"


@pytest.mark.skipif(not os.path.exists(MEMSW), reason="no cgroup v1 swap accounting")
@pytest.mark.parametrize("swap,want", [("-1", 9223372036854771712), ("100m", 100 << 20),
                                       (None, 128 << 20)])
def test_memory_swap_in_the_cgroup(runtime, bundle, runspec, swap, want):
    """--memory-swap -1 is unlimited, not "not given" (then Docker's
    default: as much swap as memory), as the container's cgroup says."""
    runspec("-m", "64m", *(["--memory-swap", swap] if swap else []), "img", "/bin/sh", "-c",
            f"cat /sys/fs/cgroup/memory/memory.limit_in_bytes {MEMSW}")
    assert [int(x) for x in runtime.output(bundle).split()] == [64 << 20, want]


def test_user_namespace(runtime, bundle, runspec):
    # the mapped root must reach and own the rootfs (as test_runtime's add_userns)
    d = bundle.rootfs
    while d not in ("/", "/tmp"):
        d = os.path.dirname(d)
        os.chmod(d, os.stat(d).st_mode | 0o111)
    for root, dirs, files in os.walk(bundle.rootfs):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), 100000, 100000)
    os.chown(bundle.rootfs, 100000, 100000)
    runspec("--uidmap", "0:100000:65536", "img",
            "/bin/sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u")
    out = runtime.output(bundle)
    assert out.split()[:6] == ["0", "100000", "65536", "0", "100000", "65536"], out
    assert out.split()[-1] == "0"
