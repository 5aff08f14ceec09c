"""/dev in the container: the OCI default devices, linux.devices (mknod, or
the host's node bound in a user namespace), the /dev symlinks and ptmx.
Checks stat(2) inside the container and what the nodes really do."""
import os

from test_mounts import add_userns, parse_mountinfo, top

DEFAULTS = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
            "urandom": (1, 9), "tty": (5, 0)}


def stat_lines(paths):
    """Shell that prints `path type major minor mode uid gid` per path (hex major/minor)."""
    return "; ".join(f"stat -c '%n %F %t %T %a %u %g' {p}" for p in paths)


def parse_stats(out):
    res = {}
    for line in out.splitlines():
        f = line.rsplit(" ", 5)
        if len(f) == 6 and f[0].startswith("/dev/"):
            name, kind = f[0].split(" ", 1)
            res[name] = (kind, int(f[1], 16), int(f[2], 16), f[3], int(f[4]), int(f[5]))
    return res


def test_default_devices_and_links(runtime, bundle):
    script = (stat_lines(f"/dev/{d}" for d in DEFAULTS) + ";"
              "for l in fd stdin stdout stderr ptmx core; do"
              "  echo link $l $(readlink /dev/$l); done;"
              "echo data > /dev/null && echo null=ok;"
              "echo $(head -c 8 /dev/zero | wc -c) $(head -c 8 /dev/urandom | wc -c);"
              "echo x > /dev/full 2>/dev/null || echo full=ENOSPC;"
              "nktest open /dev/ptmx r; nktest open /dev/pts/ptmx r")
    out = runtime.output(bundle.sh(script))
    st = parse_stats(out)
    for d, (major, minor) in DEFAULTS.items():
        assert st[f"/dev/{d}"] == ("character special file", major, minor, "666", 0, 0), d
    links = {l.split()[1]: (l.split() + [""])[2] for l in out.splitlines() if l.startswith("link ")}
    assert links["fd"] == "/proc/self/fd"
    assert [links[n] for n in ("stdin", "stdout", "stderr")] == [
        "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2"]
    assert links["ptmx"] == "pts/ptmx"
    assert links["core"] == ("/proc/kcore" if os.path.exists("/proc/kcore") else "")
    rest = [l for l in out.splitlines() if not l.startswith(("/dev/", "link "))]
    assert rest == ["null=ok", "8 8", "full=ENOSPC", "ok", "ok"]


def test_spec_devices_exact_modes_and_owners(runtime, bundle):
    bundle.linux["devices"] = [
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
         "uid": 1000, "gid": 1001},
        {"path": "/dev/sub/dir/blk", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600},
        {"path": "/dev/ufoo", "type": "u", "major": 1, "minor": 5, "fileMode": 0o777},
        {"path": "/dev/myfifo", "type": "p", "fileMode": 0o620, "uid": 5, "gid": 6},
        # Overrides the default node of the same path.
        {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o600, "uid": 3},
    ]
    paths = ["/dev/mynull", "/dev/sub/dir/blk", "/dev/ufoo", "/dev/myfifo", "/dev/zero"]
    out = runtime.output(bundle.sh(stat_lines(paths)))
    st = parse_stats(out)
    assert st["/dev/mynull"] == ("character special file", 1, 3, "640", 1000, 1001)
    assert st["/dev/sub/dir/blk"] == ("block special file", 7, 200, "600", 0, 0)
    assert st["/dev/ufoo"] == ("character special file", 1, 5, "777", 0, 0)
    assert st["/dev/myfifo"][0] == "fifo" and st["/dev/myfifo"][3:] == ("620", 5, 6)
    assert st["/dev/zero"] == ("character special file", 1, 5, "600", 3, 0)


def test_user_namespace_binds_host_nodes(runtime, bundle):
    """mknod is refused in a user namespace: the host's nodes are bound on
    empty files (same device numbers, owned by the unmapped host root)."""
    add_userns(bundle)
    extra = "/dev/kmsg" if os.path.exists("/dev/kmsg") else "/dev/full"
    bundle.linux["devices"] = [{"path": extra, "type": "c",
                                "major": os.major(os.stat(extra).st_rdev),
                                "minor": os.minor(os.stat(extra).st_rdev)},
                               {"path": "/dev/myfifo", "type": "p", "fileMode": 0o600}]
    paths = [f"/dev/{d}" for d in DEFAULTS] + [extra, "/dev/myfifo"]
    out = runtime.output(bundle.sh(stat_lines(paths) + "; echo ===; cat /proc/self/mountinfo;"
                                   "echo ===; echo x > /dev/null && echo null=ok"))
    stats, mounts, rest = out.split("===\n")
    st = parse_stats(stats)
    m = top(parse_mountinfo(mounts))
    for p in [f"/dev/{d}" for d in DEFAULTS] + [extra]:
        host = os.stat(p)
        assert st[p][:3] == ("character special file", os.major(host.st_rdev),
                             os.minor(host.st_rdev)), p
        assert st[p][4] == 65534  # the host's root is not mapped: overflow uid
        assert p in m, f"{p} is not a bind mount"
    # A FIFO needs no privilege: made, not bound.
    assert st["/dev/myfifo"][0] == "fifo" and "/dev/myfifo" not in m
    assert rest.strip() == "null=ok"


def test_bound_dev_is_left_alone(runtime, bundle, tmp_path):
    """With /dev bound from elsewhere, nook creates nothing in it."""
    fake = tmp_path / "fakedev"
    fake.mkdir()
    (fake / "marker").write_text("m\n")
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if not m["destination"].startswith("/dev")]
    bundle.config["mounts"].append({"destination": "/dev", "type": "bind", "source": str(fake),
                                    "options": ["rbind"]})
    bundle.linux["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3}]
    # Masks need a /dev/null; keep this test about /dev alone.
    bundle.linux["maskedPaths"] = []
    out = runtime.output(bundle.sh("ls -A /dev"))
    assert out.split() == ["marker"]
    assert os.listdir(fake) == ["marker"]


def test_devices_without_dev_mount_go_into_rootfs(runtime, bundle):
    """No /dev mount in the spec: the nodes are made in the rootfs's own /dev."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if not m["destination"].startswith("/dev")]
    out = runtime.output(bundle.sh(stat_lines(["/dev/null"]) + "; readlink /dev/ptmx"))
    assert parse_stats(out)["/dev/null"] == ("character special file", 1, 3, "666", 0, 0)
    assert out.splitlines()[-1] == "pts/ptmx"
    st = os.lstat(os.path.join(bundle.rootfs, "dev", "null"))
    assert os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
