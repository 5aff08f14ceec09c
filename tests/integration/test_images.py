"""Image store without a registry: the embedded busybox, import/export,
load/save, layer extraction (metadata, whiteouts, hostile tarballs),
overlay root filesystems (incl. >100 layers), tag/rmi/prune/df.

Run: /usr/bin/python3 -m pytest tests/integration/test_images.py -q
(NOOK_BIN selects the binary, default build/nook)."""
import hashlib
import json
import os
import stat
import struct
import subprocess
import tarfile

import pytest

from images_util import (Layer, OCILayout, Store, cleanup_store, docker_archive, make_tar,
                         mounts_under, nook_path, store_snapshot, temp_store)


@pytest.fixture(scope="module")
def nook():
    return nook_path()


@pytest.fixture
def store(nook, tmp_path):
    with temp_store(nook, tmp_path) as s:
        yield s


def mount(store, image, dir_):
    os.makedirs(dir_, exist_ok=True)
    store.run("image", "mount", image, dir_)
    assert dir_ in mounts_under(dir_), "no mount appeared"
    return dir_


def umount(store, dir_):
    store.run("image", "umount", dir_)
    assert not mounts_under(dir_)


# ---- the default image -------------------------------------------------------

def test_default_busybox_is_there_offline(store, tmp_path):
    imgs = store.images()
    assert [(i["Repository"], i["Tag"]) for i in imgs] == [("busybox", "latest")]
    info = store.inspect("busybox")
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["Os"] == "linux" and info["Architecture"] == "amd64"
    assert len(info["RootFS"]["Layers"]) == 1

    root = mount(store, "busybox", str(tmp_path / "root"))
    with open("/bin/busybox", "rb") as a, open(os.path.join(root, "bin/busybox"), "rb") as b:
        assert hashlib.sha256(a.read()).digest() == hashlib.sha256(b.read()).digest()
    assert os.readlink(os.path.join(root, "bin/sh")) == "busybox"
    assert stat.S_IMODE(os.stat(os.path.join(root, "tmp")).st_mode) == 0o1777
    out = subprocess.run(["chroot", root, "/bin/sh", "-c", "echo $((6*7)); id -un"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["42", "root"]
    # The mount is an overlay whose upper belongs to this rootfs.
    with open("/proc/self/mountinfo") as f:
        line = [l for l in f if l.split()[4] == root][0]
    assert " - overlay " in line and os.path.join(store.path, "containers") in line
    umount(store, root)
    assert os.listdir(os.path.join(store.path, "containers")) == []

    # Removed, it comes back on use: no network needed.
    store.run("rmi", "busybox")
    assert store.images() == []
    root = mount(store, "busybox", str(tmp_path / "root2"))
    assert os.path.exists(os.path.join(root, "bin/busybox"))
    umount(store, root)


# ---- import / export: metadata survives --------------------------------------

CAP_NET_RAW = 13
CAPS = struct.pack("<IIIII", 0x02000001, 1 << CAP_NET_RAW, 0, 0, 0)  # cap_net_raw+ep


def build_tree(src):
    os.makedirs(src)
    def f(name, data=b"", mode=0o644, uid=0, gid=0, mtime=1500000000):
        p = os.path.join(src, name)
        with open(p, "wb") as fh:
            fh.write(data)
        os.chown(p, uid, gid)
        os.chmod(p, mode)
        os.utime(p, (mtime, mtime))
        return p
    os.makedirs(os.path.join(src, "dir"))
    f("dir/owned", b"owned", 0o640, 1234, 5678, 1400000000)
    f("suid", b"#!/bin/sh\n", 0o4755)
    f("sgid", b"x", 0o2711)
    os.setxattr(f("xattr", b"x"), "user.test", b"hello")
    os.setxattr(f("cap", b"\x7fELF", 0o755), "security.capability", CAPS)
    f("hard1", b"linked")
    os.link(os.path.join(src, "hard1"), os.path.join(src, "hard2"))
    os.symlink("dir/owned", os.path.join(src, "rel-link"))
    os.symlink("/etc/passwd", os.path.join(src, "abs-link"))
    os.mkfifo(os.path.join(src, "fifo"))
    os.mknod(os.path.join(src, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(os.path.join(src, "blk"), 0o660 | stat.S_IFBLK, os.makedev(7, 42))
    with open(os.path.join(src, "sparse"), "wb") as fh:
        fh.write(b"head")
        fh.seek(64 << 20)
        fh.write(b"tail")
    os.chown(os.path.join(src, "dir"), 1000, 1000)
    os.chmod(os.path.join(src, "dir"), 0o710)
    os.utime(os.path.join(src, "dir"), (1300000000, 1300000000))


def test_import_keeps_metadata_and_export_flattens(store, tmp_path):
    src = str(tmp_path / "src")
    build_tree(src)
    tarball = str(tmp_path / "rootfs.tar")
    subprocess.run(["tar", "--format=posix", "--xattrs", "--xattrs-include=*", "--sparse",
                    "--numeric-owner", "-C", src, "-cf", tarball, "."], check=True)
    subprocess.run(["gzip", "-k", tarball], check=True)
    assert "docker.io/library/imp:1" in store.run("import", tarball + ".gz", "imp:1").out
    root = mount(store, "imp:1", str(tmp_path / "root"))

    def same(name, *fields):
        a, b = os.lstat(os.path.join(src, name)), os.lstat(os.path.join(root, name))
        for fld in fields:
            assert getattr(a, fld) == getattr(b, fld), f"{name}: {fld}"
    same("dir/owned", "st_mode", "st_uid", "st_gid", "st_mtime", "st_size")
    same("dir", "st_mode", "st_uid", "st_gid", "st_mtime")
    same("suid", "st_mode")
    same("sgid", "st_mode")
    same("null", "st_mode", "st_rdev")
    same("blk", "st_mode", "st_rdev")
    same("fifo", "st_mode")
    assert os.readlink(os.path.join(root, "rel-link")) == "dir/owned"
    assert os.readlink(os.path.join(root, "abs-link")) == "/etc/passwd"
    h1, h2 = os.lstat(os.path.join(root, "hard1")), os.lstat(os.path.join(root, "hard2"))
    assert h1.st_ino == h2.st_ino and h1.st_nlink == 2
    assert os.getxattr(os.path.join(root, "xattr"), "user.test") == b"hello"
    assert os.getxattr(os.path.join(root, "cap"), "security.capability") == CAPS
    sp = os.stat(os.path.join(root, "sparse"))
    assert sp.st_size == (64 << 20) + 4 and sp.st_blocks * 512 < (1 << 20), "sparse file filled in"
    with open(os.path.join(root, "sparse"), "rb") as fh:
        assert fh.read(4) == b"head"
        fh.seek(64 << 20)
        assert fh.read() == b"tail"

    # A change in the container's upper shows in a container export, not an image one.
    os.unlink(os.path.join(root, "suid"))
    with open(os.path.join(root, "added"), "w") as fh:
        fh.write("new")
    cid = [d for d in os.listdir(os.path.join(store.path, "containers"))][0]
    for what, has_added in ((cid, True), ("imp:1", False)):
        out = str(tmp_path / f"export-{has_added}.tar")
        store.run("export", "-o", out, what)
        with tarfile.open(out) as t:
            members = {m.name: m for m in t.getmembers()}
        assert ("added" in members) == has_added and ("suid" in members) != has_added
        assert members["dir/owned"].uid == 1234 and members["dir/owned"].mode == 0o640
        assert members["hard2"].islnk() or members["hard1"].islnk()
        assert members["cap"].pax_headers.get("SCHILY.xattr.security.capability") is not None
    umount(store, root)


# ---- whiteouts ---------------------------------------------------------------

def test_whiteouts_and_opaque_dirs(store, tmp_path):
    base = Layer([("dir", "a"), ("file", "a/x", "x"), ("file", "a/y", "y"), ("file", "b", "b"),
                  ("dir", "d"), ("file", "d/old", "old"), ("dir", "e"), ("file", "e/keep", "k")],
                 None)
    top = Layer([("dir", "a"), ("file", "a/.wh.x", ""), ("file", ".wh.b", ""),
                 ("dir", "d"), ("file", "d/.wh..wh..opq", ""), ("file", "d/new", "new"),
                 ("file", ".wh..wh.plnk", "")], None)
    again = Layer([("file", "b", "back")], None)
    arch = docker_archive(str(tmp_path / "wh.tar"), [(["wh:1"], [base, top, again])])
    store.run("load", "-i", arch)
    diff = store.layer_dir(top.diff_id)
    st = os.lstat(os.path.join(diff, "a/x"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, "a/x is not a 0:0 whiteout"
    assert stat.S_ISCHR(os.lstat(os.path.join(diff, "b")).st_mode)
    assert os.getxattr(os.path.join(diff, "d"), "trusted.overlay.opaque") == b"y"
    assert not os.path.lexists(os.path.join(diff, "d/.wh..wh..opq"))
    assert not os.path.lexists(os.path.join(diff, ".wh..wh.plnk"))

    root = mount(store, "wh:1", str(tmp_path / "root"))
    assert sorted(os.listdir(os.path.join(root, "a"))) == ["y"]
    assert sorted(os.listdir(os.path.join(root, "d"))) == ["new"]
    assert os.listdir(os.path.join(root, "e")) == ["keep"]
    with open(os.path.join(root, "b")) as f:
        assert f.read() == "back"
    umount(store, root)


# ---- hostile tarballs ----------------------------------------------------------

def hostile_cases(out):
    up = "../" * 12
    return [
        ("dotdot", [("file", "../escape", "x")], "entry `../escape`: path contains `..`"),
        ("dotdot-inner", [("dir", "a"), ("file", "a/../../escape", "x")],
         "entry `a/../../escape`: path contains `..`"),
        ("abs-symlink-parent", [("symlink", "link", out), ("file", "link/victim", "pwned")],
         "entry `link/victim`: parent `link` is a symlink"),
        ("rel-symlink-parent", [("symlink", "link", up + out.lstrip("/")),
                                ("file", "link/victim", "pwned")],
         "entry `link/victim`: parent `link` is a symlink"),
        ("symlink-chain", [("symlink", "a", "b"), ("symlink", "b", out),
                           ("file", "a/victim", "x")],
         "entry `a/victim`: parent `a` is a symlink"),
        ("dir-replaces-symlink", [("symlink", "s", out), ("dir", "s"), ("file", "s/victim", "x")],
         "entry `s/`: a directory would replace a symlink"),
        ("dir-becomes-symlink", [("dir", "d"), ("symlink", "d", out), ("file", "d/victim", "x")],
         "entry `d/victim`: parent `d` is a symlink"),
        ("hardlink-dotdot", [("hardlink", "h", up + out.lstrip("/") + "/victim")],
         "entry `h`: hardlink target"),
        ("hardlink-absolute", [("hardlink", "h", out + "/victim")],
         f"entry `h`: hardlink target `{out}/victim` is not a file in the layer"),
        ("hardlink-via-symlink", [("symlink", "l", out), ("hardlink", "h", "l/victim")],
         "entry `h`: parent `l` is a symlink"),
        ("whiteout-dotdot", [("file", ".wh..", "")], "entry `.wh..`: invalid whiteout"),
        # These extract, but must not write through the symlink.
        ("file-replaces-symlink", [("symlink", "f", out + "/victim"), ("file", "f", "pwned")], None),
        ("hardlink-to-symlink", [("symlink", "s", out + "/victim"), ("hardlink", "h", "s"),
                                 ("file", "h", "pwned")], None),
        ("absolute-name", [("file", out + "/victim", "pwned")], None),
    ]


def test_hostile_tarballs_write_nothing_outside(store, tmp_path):
    out = str(tmp_path / "outside")
    os.makedirs(out)
    victim = os.path.join(out, "victim")
    with open(victim, "w") as f:
        f.write("original")
    store.images()
    before = store_snapshot(store.path)
    failures = []
    for name, entries, expect in hostile_cases(out):
        tb = str(tmp_path / f"{name}.tar")
        with open(tb, "wb") as f:
            f.write(make_tar(entries))
        p = store.run("import", tb, f"hostile:{name}", check=False)
        if expect is None:
            if p.returncode != 0:
                failures.append(f"{name}: refused: {p.err}")
        elif p.returncode == 0 or expect not in p.err:
            failures.append(f"{name}: want error with {expect!r}, got {p.returncode}: {p.err}")
        with open(victim) as f:
            if f.read() != "original":
                failures.append(f"{name}: wrote through to the victim")
        if sorted(os.listdir(out)) != ["victim"]:
            failures.append(f"{name}: created {sorted(os.listdir(out))} outside")
            for x in os.listdir(out):
                if x != "victim":
                    os.unlink(os.path.join(out, x))
        if os.listdir(os.path.join(store.path, "tmp")):
            failures.append(f"{name}: staging left: {os.listdir(os.path.join(store.path, 'tmp'))}")
    assert not failures, "\n".join(failures)
    # `..` entries would land in the store or beside it: nothing anywhere
    # under the test's directory holds what the hostile entries wrote,
    # except inside extracted layers.
    layers_dir = os.path.join(store.path, "layers")
    for d, dirs, files in os.walk(str(tmp_path)):
        if d.startswith(layers_dir):
            continue
        for n in files:
            p = os.path.join(d, n)
            assert n != "escape", f"{p} written"
            if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) <= 5:
                with open(p, "rb") as f:
                    assert f.read() != b"pwned", f"{p} written"
    after = store_snapshot(store.path)
    assert after["names"].keys() - before["names"].keys() == {
        f"docker.io/library/hostile:{n}" for n, _, e in hostile_cases(out) if e is None}
    # The accepted ones hold regular files where the symlinks were.
    root = mount(store, "hostile:file-replaces-symlink", str(tmp_path / "r"))
    assert os.path.isfile(os.path.join(root, "f")) and not os.path.islink(os.path.join(root, "f"))
    umount(store, root)


def test_decompression_bomb_is_bounded(store, tmp_path):
    bomb = Layer([("file", "zeros", b"\0" * (48 << 20))], "gzip")
    assert len(bomb.blob) < (1 << 20)
    tb = str(tmp_path / "bomb.tar.gz")
    with open(tb, "wb") as f:
        f.write(bomb.blob)
    store.images()
    before = store_snapshot(store.path)
    p = store.run("import", tb, "bomb:1", check=False, env={"NOOK_MAX_LAYER_BYTES": str(8 << 20)})
    assert p.returncode != 0 and "exceeds the limit of 8388608 bytes" in p.err, p.err
    assert store_snapshot(store.path) == before
    assert os.listdir(os.path.join(store.path, "tmp")) == []
    # Under the default bound the same layer is fine.
    store.run("import", tb, "bomb:1")


def test_corrupt_archives_leave_store_unchanged(store, tmp_path):
    store.images()
    before = store_snapshot(store.path)
    good = Layer([("file", "f", "data")], None)
    bad_gzip = str(tmp_path / "bad.tar.gz")
    with open(bad_gzip, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00" + os.urandom(200))
    p = store.run("import", bad_gzip, "bad:1", check=False)
    assert p.returncode != 0 and "decompress" in p.err, p.err
    # A docker archive whose layer does not match the config's diff_id.
    arch = docker_archive(str(tmp_path / "lie.tar"), [(["lie:1"], [good])])
    with tarfile.open(arch) as t:
        files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    with tarfile.open(arch, "w") as t:
        for name, data in files.items():
            if name.endswith("layer.tar"):
                data = make_tar([("file", "f", "other")])
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            import io
            t.addfile(ti, io.BytesIO(data))
    p = store.run("load", "-i", arch, check=False)
    assert p.returncode != 0 and "the config says" in p.err, p.err
    assert store_snapshot(store.path) == before
    assert os.listdir(os.path.join(store.path, "tmp")) == []


# ---- save / load -----------------------------------------------------------

def test_save_load_roundtrip(store, nook, tmp_path):
    layers = [Layer([("dir", "etc"), ("file", "etc/one", "1")]), Layer([("file", "two", "2")])]
    store.run("load", "-i", docker_archive(str(tmp_path / "in.tar"), [(["rt:1", "rt:alias"],
                                                                       layers)]))
    ids = {i["Name"]: i["Id"] for i in store.images()}
    assert ids["docker.io/library/rt:1"] == ids["docker.io/library/rt:alias"]
    for fmt in ("docker-archive", "oci-archive"):
        out = str(tmp_path / f"{fmt}.tar")
        store.run("save", "--format", fmt, "-o", out, "rt:1", "busybox")
        # skopeo reads what we wrote.
        ref = f"{fmt}:{out}" + (":rt:1" if fmt == "docker-archive" else ":docker.io/library/rt:1")
        if fmt == "oci-archive":
            ref = f"{fmt}:{out}:rt:1"
        info = json.loads(subprocess.run(["skopeo", "inspect", ref], capture_output=True,
                                         text=True, check=True).stdout)
        assert len(info["Layers"]) == 2
        other = Store(nook, str(tmp_path / f"store-{fmt}"))
        try:
            other.run("load", "-i", out)
            got = {i["Name"]: i["Id"] for i in other.images()}
            assert got["docker.io/library/rt:1"] == ids["docker.io/library/rt:1"]
            assert got["docker.io/library/busybox:latest"] == ids["docker.io/library/busybox:latest"]
        finally:
            cleanup_store(nook, other.path)
    # An OCI layout directory (here written by skopeo) loads too.
    layout = str(tmp_path / "layout")
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{tmp_path}/docker-archive.tar:rt:1",
                    f"oci:{layout}:v9"], check=True)
    p = store.run("load", "-i", layout, check=False)
    assert p.returncode != 0 and "give one" in p.err
    store.run("load", "-i", layout, "fromlayout:v9")
    assert store.inspect("fromlayout:v9")["RootFS"]["Layers"] == [l.diff_id for l in layers]
    # Archives written by another tool: skopeo's docker-archive and
    # oci-archive load too.
    for fmt, ref in (("docker-archive", "sk:1"), ("oci-archive", "sk:2")):
        arch = str(tmp_path / f"skopeo-{fmt}.tar")
        subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:v9", f"{fmt}:{arch}:{ref}"],
                       check=True)
        store.run("load", "-i", arch)
        assert store.inspect(ref)["RootFS"]["Layers"] == [l.diff_id for l in layers]


# ---- names, removal, garbage collection ---------------------------------------

def test_tag_rmi_prune_df(store, tmp_path):
    base = Layer([("file", "base", "b")], None)
    mid = Layer([("file", "mid", "m")], None)
    store.run("load", "-i", docker_archive(str(tmp_path / "a.tar"),
                                           [(["a:1"], [base, mid]), (["c:1"], [base])]))
    store.run("tag", "a:1", "b:2")
    imgs = {i["Name"]: i for i in store.images()}
    assert imgs["docker.io/library/b:2"]["Id"] == imgs["docker.io/library/a:1"]["Id"]
    store.run("rmi", "a:1")
    assert "docker.io/library/a:1" not in {i["Name"] for i in store.images()}
    assert os.path.isdir(store.layer_dir(mid.diff_id))

    root = mount(store, "b:2", str(tmp_path / "root"))
    held = store_snapshot(store.path)
    p = store.run("rmi", "b:2", check=False)
    assert p.returncode != 0 and "used by a container" in p.err
    p = store.run("rmi", store.inspect("b:2")["Id"][7:19], check=False)
    assert p.returncode != 0 and "used by a container" in p.err
    assert store_snapshot(store.path) == held
    df = {r["Type"]: r for r in json.loads(store.run("system", "df", "--format", "json").out)}
    assert df["Containers"]["Total"] == 1 and df["Images"]["Active"] == 1
    store.run("rmi", "-f", "b:2")
    # The running rootfs keeps its layers.
    assert os.path.isdir(store.layer_dir(mid.diff_id))
    with open(os.path.join(root, "mid")) as f:
        assert f.read() == "m"
    umount(store, root)
    out = store.run("image", "prune").out
    assert "Total reclaimed space" in out
    assert not os.path.exists(store.layer_dir(mid.diff_id))
    assert os.path.isdir(store.layer_dir(base.diff_id)), "c:1 still uses base"
    p = store.run("rmi", store.inspect("c:1")["Id"][7:19])
    assert "docker.io/library/c:1" in p.out
    assert not os.path.exists(store.layer_dir(base.diff_id))
    # prune -a asks first: without a terminal it needs -f, and removes nothing.
    store.run("tag", "busybox", "d:1")
    held = store_snapshot(store.path)
    p = store.run("image", "prune", "-a", check=False)
    assert p.returncode != 0 and "-f" in p.err, p.err
    assert store_snapshot(store.path) == held
    # The embedded default image is kept (its other name is not).
    p = store.run("image", "prune", "-a", "-f")
    assert "docker.io/library/d:1" in p.out and "busybox" not in p.out
    assert [i["Name"] for i in store.images()] == ["docker.io/library/busybox:latest"]
    bb = store.inspect("busybox")
    assert sorted(os.listdir(os.path.join(store.path, "blobs", "sha256"))) == sorted(
        [bb["Id"][7:], bb["Digest"][7:]])
    assert os.listdir(os.path.join(store.path, "layers")) == [bb["RootFS"]["Layers"][0][7:]]
    store.run("rmi", "busybox")
    assert store.images() == []
    assert os.listdir(os.path.join(store.path, "blobs", "sha256")) == []
    assert os.listdir(os.path.join(store.path, "layers")) == []


@pytest.mark.parametrize("how", ["fd", "path"])
def test_many_layers_mount(nook, tmp_path, how):
    """121 layers from a store at a long path: the lower directories alone
    (121 x ~330 bytes) are far beyond the page-size limit of a classic
    overlay option string, so this needs the new mount API's lowerdir+;
    each path is also longer than the 256 bytes fsconfig takes, so layers
    go as fds, or (NOOK_OVERLAY_NO_FD=1, kernels before 6.13) as
    /proc/self/fd/N paths."""
    env = {"NOOK_OVERLAY_NO_FD": "1" if how == "path" else "0"}
    deep = str(tmp_path / ("d" * 120) / ("e" * 120))
    store = Store(nook, os.path.join(deep, "store"))
    n = 120
    layers = [Layer([("file", f"f{i:03d}", str(i))], None) for i in range(n)]
    layers.append(Layer([("file", ".wh.f000", "")], None))
    try:
        store.run("load", "-i", docker_archive(str(tmp_path / "many.tar"), [(["many:1"], layers)]))
        lowers = sum(len(store.layer_dir(l.diff_id)) + 1 for l in layers)
        assert lowers > 4 * os.sysconf("SC_PAGE_SIZE")
        assert all(len(store.layer_dir(l.diff_id)) > 256 for l in layers)
        root = str(tmp_path / "root")
        os.makedirs(root)
        store.run("image", "mount", "many:1", root, env=env)
        with open("/proc/self/mountinfo") as f:
            lines = [l for l in f if l.split()[4] == root]
        assert len(lines) == 1 and " - overlay " in lines[0]
        names = sorted(os.listdir(root))
        assert names == [f"f{i:03d}" for i in range(1, n)]
        with open(os.path.join(root, "f119")) as f:
            assert f.read() == "119"
        with open(os.path.join(root, "f001"), "a") as f:
            f.write("+")
        cid = os.listdir(os.path.join(store.path, "containers"))[0]
        with open(os.path.join(store.path, "containers", cid, "upper", "f001")) as f:
            assert f.read() == "1+"
        umount(store, root)
    finally:
        left = mounts_under(str(tmp_path))
        cleanup_store(nook, str(tmp_path))
        assert not left, left


def test_concurrent_rootfs_share_layers(store, tmp_path):
    roots = [mount(store, "busybox", str(tmp_path / f"r{i}")) for i in range(3)]
    with open(os.path.join(roots[0], "only0"), "w") as f:
        f.write("0")
    assert not os.path.exists(os.path.join(roots[1], "only0"))
    ino = {os.stat(os.path.join(r, "bin/busybox")).st_ino for r in roots}
    assert len(ino) == 1, "layers are not shared"
    assert len(os.listdir(os.path.join(store.path, "layers"))) == 1
    for r in roots:
        umount(store, r)


def test_runtime_runs_from_image_rootfs(store, nook, runtime, tmp_path):
    from conftest import default_config
    root = mount(store, "busybox", str(tmp_path / "rootfs"))
    try:
        cfg = default_config(runtime.bin, ["/bin/sh", "-c", "head -1 /etc/passwd; echo hi > /tmp/x"])
        cfg["root"] = {"path": root, "readonly": False}
        bundle = tmp_path / "bundle"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(cfg))
        p = runtime.run("run", "--bundle", str(bundle), runtime.new_id("img"), check=False)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["root:x:0:0:root:/root:/bin/sh"]
        cid = [d for d in os.listdir(os.path.join(store.path, "containers"))][0]
        with open(os.path.join(store.path, "containers", cid, "upper", "tmp", "x")) as f:
            assert f.read() == "hi\n"
    finally:
        umount(store, root)


# ---- a full disk -------------------------------------------------------------

def du(path):
    total = 0
    for d, dirs, files in os.walk(path):
        for n in files:
            total += os.lstat(os.path.join(d, n)).st_size
    return total


def test_full_disk_clear_error_store_unchanged(nook, tmp_path):
    """--store on a 6 MiB tmpfs: an import, a load whose layer expands past
    the space left, and one whose blob does not fit all fail with ENOSPC
    named, and leave names, blobs, layers and tmp/ as they were."""
    path = str(tmp_path / "small")
    os.makedirs(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "nook-test-full", path],
                   check=True)
    try:
        s = Store(nook, path)
        s.images()
        before = store_snapshot(path)
        used = os.statvfs(path)
        cases = []
        # 1. an import whose tar is larger than the space left
        big = str(tmp_path / "big.tar")
        with open(big, "wb") as f:
            f.write(make_tar([("file", "big", os.urandom(8 << 20))]))
        cases.append(("import", big, "full:1"))
        # 2. a small gzip blob that extracts to more than the space left
        zero = Layer([("file", "zeros", b"\0" * (8 << 20))], "gzip")
        lay = OCILayout(str(tmp_path / "layout"))
        lay.tag(lay.image([zero]), "z")
        cases.append(("load", "-i", lay.path, "full:2"))
        # 3. a docker archive: the layer blob itself does not fit
        arch = docker_archive(str(tmp_path / "arch.tar"),
                              [(["full:3"], [Layer([("file", "r", os.urandom(4 << 20))], None)])])
        cases.append(("load", "-i", arch))
        for args in cases:
            p = s.run(*args, check=False)
            assert p.returncode != 0, args
            assert "No space left on device" in p.err, p.err
            assert f"the store `{path}` ran out of space and was left as it was" in p.err, p.err
            assert store_snapshot(path) == before, args
            assert os.listdir(os.path.join(path, "tmp")) == [], args
            assert sorted(os.listdir(path)) == ["blobs", "containers", "layers", "lock",
                                                "names.lock", "repositories.json", "tmp"], args
            assert os.statvfs(path).f_bfree == used.f_bfree, f"{args}: space not given back"
        # A disk with no block left: even the names file cannot be written.
        filler = os.path.join(path, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        tiny = str(tmp_path / "tiny.tar")
        with open(tiny, "wb") as f:
            f.write(make_tar([("file", "t", "t")]))
        for args in (("tag", "busybox", "other:1"), ("import", tiny, "tiny:1")):
            p = s.run(*args, check=False)
            assert p.returncode != 0 and "No space left on device" in p.err, (args, p.err)
            assert "ran out of space and was left as it was" in p.err, p.err
            assert store_snapshot(path) == before, args
            assert os.listdir(os.path.join(path, "tmp")) == [], args
            assert not [n for n in os.listdir(path) if n.startswith(".")], os.listdir(path)
        os.unlink(filler)
        # The store still works: a small import fits, and is complete.
        small = str(tmp_path / "small.tar")
        with open(small, "wb") as f:
            f.write(make_tar([("file", "ok", "fits")]))
        s.run("import", small, "fits:1")
        root = mount(s, "fits:1", str(tmp_path / "root"))
        with open(os.path.join(root, "ok")) as f:
            assert f.read() == "fits"
        umount(s, root)
    finally:
        for mp in reversed(mounts_under(path)):
            subprocess.run(["umount", "-l", mp], check=False)
        left = mounts_under(path)
        cleanup_store(nook, str(tmp_path))
    assert not left


def df_rows(store):
    return {r["Type"]: r for r in json.loads(store.run("system", "df", "--format", "json").out)}


def disk_usage(store_path):
    """{digest: bytes} of blobs/ (file sizes) and layers/ (info.json sizes)."""
    blobs, layers = {}, {}
    bdir = os.path.join(store_path, "blobs", "sha256")
    for n in os.listdir(bdir):
        blobs["sha256:" + n] = os.lstat(os.path.join(bdir, n)).st_size
    ldir = os.path.join(store_path, "layers")
    for n in os.listdir(ldir):
        with open(os.path.join(ldir, n, "info.json")) as f:
            layers["sha256:" + n] = json.load(f)["size"]
    return blobs, layers


def image_content(store, ref):
    info = store.inspect(ref)
    with open(os.path.join(store.path, "blobs", "sha256", info["Digest"][7:])) as f:
        manifest = json.load(f)
    blobs = {info["Digest"], info["Id"]} | {l["digest"] for l in manifest["layers"]}
    # Layer blobs a tar-split rebuilds are not kept.
    blobs = {b for b in blobs if os.path.exists(os.path.join(store.path, "blobs", "sha256", b[7:]))}
    return blobs, set(info["RootFS"]["Layers"])


def test_system_df_matches_disk_and_prune(store, tmp_path):
    base = Layer([("file", "base", os.urandom(30000))], None)
    mid = Layer([("file", "mid", os.urandom(20000))], None)
    other = Layer([("file", "other", os.urandom(10000))], None)
    store.run("load", "-i", docker_archive(str(tmp_path / "a.tar"),
                                           [(["a:1"], [base, mid]), (["c:1"], [base, other])]))
    # Leftovers of a crash between moving content in and naming it.
    stray = Layer([("file", "stray", os.urandom(5000))], None)
    sdir = os.path.join(store.path, "layers", stray.diff_id[7:])
    os.makedirs(os.path.join(sdir, "diff"))
    with open(os.path.join(sdir, "diff", "stray"), "wb") as f:
        f.write(b"x" * 5000)
    with open(os.path.join(sdir, "info.json"), "w") as f:
        json.dump({"diff_id": stray.diff_id, "blob": stray.digest, "size": 5000}, f)
    with open(os.path.join(store.path, "blobs", "sha256", stray.digest[7:]), "wb") as f:
        f.write(stray.blob)

    root = mount(store, "a:1", str(tmp_path / "root"))
    with open(os.path.join(root, "written"), "wb") as f:
        f.write(b"w" * 7000)
    used_blobs, used_layers = image_content(store, "a:1")
    bb_blobs, bb_layers = image_content(store, "busybox")
    bb_layer = store.inspect("busybox")["RootFS"]["Layers"][0]
    blobs, layers = disk_usage(store.path)
    df = df_rows(store)
    assert df["Images"]["Total"] == 3 and df["Images"]["Active"] == 1  # a, c, busybox
    assert df["Containers"]["Total"] == 1 and df["Containers"]["Size"] >= 7000
    assert df["Layers"]["Total"] == len(layers) == 5  # busybox, base, mid, other, stray
    assert df["Layers"]["Active"] == len(used_layers) == 2
    assert df["Layers"]["Size"] == sum(layers.values())
    assert df["Layers"]["Reclaimable"] == sum(v for k, v in layers.items()
                                              if k not in used_layers and k != bb_layer)
    assert df["Blobs"]["Total"] == len(blobs)
    assert df["Blobs"]["Active"] == len(used_blobs)
    assert df["Blobs"]["Size"] == sum(blobs.values())
    reclaim_blobs = sum(v for k, v in blobs.items() if k not in used_blobs | bb_blobs)
    assert df["Blobs"]["Reclaimable"] == reclaim_blobs
    named_layers = sum(v for k, v in layers.items() if k != stray.diff_id)
    assert df["Images"]["Size"] == named_layers
    # The embedded default image is never pruned: not reclaimable.
    assert df["Images"]["Reclaimable"] == named_layers - sum(layers[d] for d in used_layers) - \
        layers[bb_layer]

    # `prune -a` frees exactly what df called reclaimable.
    store.run("image", "prune", "-a", "-f")
    blobs2, layers2 = disk_usage(store.path)
    assert set(blobs2) == used_blobs | bb_blobs and set(layers2) == used_layers | bb_layers
    freed = (sum(blobs.values()) - sum(blobs2.values())) + (sum(layers.values()) -
                                                            sum(layers2.values()))
    assert freed == df["Layers"]["Reclaimable"] + df["Blobs"]["Reclaimable"]
    df = df_rows(store)
    assert (df["Images"]["Total"], df["Images"]["Active"]) == (2, 1)
    for t in ("Images", "Layers", "Blobs"):
        assert df[t]["Reclaimable"] == 0, df
    umount(store, root)
    df = df_rows(store)
    assert df["Containers"]["Total"] == 0 and df["Containers"]["Size"] == 0
    assert df["Layers"]["Reclaimable"] == df["Layers"]["Size"] - layers[bb_layer] > 0
    store.run("image", "prune", "-a", "-f")
    df = df_rows(store)
    assert df["Images"]["Total"] == df["Layers"]["Total"] == 1, df
    assert all(df[t]["Reclaimable"] == 0 for t in df), df
    store.run("rmi", "busybox")
    df = df_rows(store)
    assert all(df[t]["Total"] == 0 and df[t]["Size"] == 0 for t in df), df


def test_import_stdin_and_export_roundtrip(store, tmp_path):
    """export of an image, imported again from stdin, gives the same tree
    (names, types, modes, owners, contents, link targets)."""
    layers = [Layer([("dir", "etc"), ("file", "etc/a", "1"), ("symlink", "l", "etc/a"),
                     ("file", "gone", "x")], None),
              Layer([("file", ".wh.gone", ""), ("file", "etc/b", "2", 0o600),
                     ("hardlink", "etc/c", "etc/b")], None)]
    store.run("load", "-i", docker_archive(str(tmp_path / "src.tar"), [(["src:1"], layers)]))
    p = subprocess.run([store.nook, "--store", store.path, "export", "src:1"],
                       capture_output=True, check=True)
    assert p.stdout[:1] != b"" and len(p.stdout) % 512 == 0
    store.run("import", "-", "copy:1", input=p.stdout)

    def tree(root):
        out = {}
        for d, dirs, files in os.walk(root):
            for n in dirs + files:
                full = os.path.join(d, n)
                st = os.lstat(full)
                rel = os.path.relpath(full, root)
                data = None
                if stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as f:
                        data = f.read()
                elif stat.S_ISLNK(st.st_mode):
                    data = os.readlink(full)
                out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_nlink if
                            stat.S_ISREG(st.st_mode) else 0, data)
        return out
    a = mount(store, "src:1", str(tmp_path / "a"))
    b = mount(store, "copy:1", str(tmp_path / "b"))
    try:
        ta, tb = tree(a), tree(b)
        assert "gone" not in ta and ta["etc/c"][3] == 2
        assert ta == tb
    finally:
        umount(store, a)
        umount(store, b)
    assert len(store.inspect("copy:1")["RootFS"]["Layers"]) == 1

