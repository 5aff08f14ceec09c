"""`nook push`, `image history`/`inspect`, the store without layer blobs
(tar-split: save and push rebuild layers), and the confirmations of
`image prune -a` and `rmi` of an id with several names.

A real registry (Debian's docker-registry on 127.0.0.1, with its access
log so the tests count what a push sent) and a token server for auth.

Run: /usr/bin/python3 -m pytest tests/integration/test_images_push.py -q"""
import gzip
import io
import json
import os
import pty
import select
import shutil
import subprocess
import tarfile
import tempfile
import time

import pytest

from images_util import (Layer, OCILayout, Registry, TokenServer, assert_store_consistent,
                         image_config, nook_path, temp_store)


@pytest.fixture(scope="module")
def nook():
    return nook_path()


@pytest.fixture
def store(nook, tmp_path):
    with temp_store(nook, tmp_path / "a", create=True) as s:
        yield s


@pytest.fixture
def store2(nook, tmp_path):
    with temp_store(nook, tmp_path / "b", create=True) as s:
        yield s


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pushreg"))
    r = Registry(os.path.join(d, "reg"), accesslog=True)
    yield r
    r.close()
    shutil.rmtree(d, ignore_errors=True)


def blob_files(store):
    return set(os.listdir(os.path.join(store.path, "blobs", "sha256")))


def layer_file(store, diff_id, name):
    return os.path.join(store.path, "layers", diff_id[7:], name)


def load_layout(store, tmp_path, layers, tag="img:1", config=None):
    lay = OCILayout(str(tmp_path / f"layout-{tag.replace(':', '-')}"))
    lay.tag(lay.image(layers, config=config), tag)
    store.run("load", "-i", lay.path, tag)
    return lay


def saved_layer_tars(store, tmp_path, ref):
    """{diff-id: layer.tar bytes} of `nook save` (docker-archive)."""
    out = str(tmp_path / "saved.tar")
    store.run("save", "-o", out, ref)
    res = {}
    with tarfile.open(out) as t:
        for m in t.getmembers():
            if m.name.endswith("/layer.tar"):
                res["sha256:" + m.name.split("/")[0]] = t.extractfile(m).read()
    os.unlink(out)
    return res


# ---- the tar-split: layers rebuilt byte for byte ------------------------------

class TI(tarfile.TarInfo):
    """A TarInfo that can carry .data (make_tar's convention)."""


def every_kind(fmt):
    long = "d/" + "n" * 120 if fmt != tarfile.USTAR_FORMAT else "d/" + "n" * 90
    entries = [("dir", "d"), ("dir", "d/e", 0o700)]
    for size in (0, 1, 511, 512, 513, 70000):
        entries.append(("file", f"d/f{size}", os.urandom(size)))
    entries += [("file", long, "long name"), ("symlink", "d/s", "f1"),
                ("symlink", "d/abs", "/" + "t" * 90), ("hardlink", "d/h", "d/f513"),
                ("fifo", "d/p"), ("char", "d/null", 1, 3), ("file", "d/setuid", "x", 0o4755),
                ("file", "d/.wh.gone", ""), ("dir", "o"), ("file", "o/.wh..wh..opq", "")]
    ti = TI("d/owned")
    ti.size, ti.uid, ti.gid, ti.mtime, ti.data = 3, 1234, 5678, 1234567890, b"own"
    entries.append(ti)
    if fmt == tarfile.PAX_FORMAT:
        ti = TI("d/xattr")
        ti.size, ti.data = 2, b"xa"
        ti.pax_headers = {"SCHILY.xattr.user.k": "v", "mtime": "1600000000.25"}
        entries.append(ti)
        ti = TI("d/bigid")
        ti.size, ti.uid, ti.data = 1, 3000000, b"b"
        entries.append(ti)
    return entries


def make_tar_fmt(entries, fmt):
    """images_util.make_tar, in the given tar format."""
    from images_util import make_tar
    if fmt == tarfile.PAX_FORMAT:
        return make_tar(entries)
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(make_tar(entries))) as src, \
            tarfile.open(fileobj=buf, mode="w", format=fmt) as dst:
        for m in src.getmembers():
            m.pax_headers = {}
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT],
                         ids=["pax", "gnu", "ustar"])
def test_layer_blob_dropped_and_rebuilt_exactly(store, tmp_path, fmt):
    tar = make_tar_fmt(every_kind(fmt), fmt)
    layers = [Layer(tar, "gzip"), Layer([("file", "top", "t")], None)]
    load_layout(store, tmp_path, layers)
    for l in layers:
        assert l.digest[7:] not in blob_files(store), "layer blob kept"
        assert os.path.exists(layer_file(store, l.diff_id, "tar-split.gz"))
        assert json.load(open(layer_file(store, l.diff_id, "info.json")))["split"] is True
    assert_store_consistent(store.path)
    tars = saved_layer_tars(store, tmp_path, "img:1")
    assert tars[layers[0].diff_id] == layers[0].tar
    assert tars[layers[1].diff_id] == layers[1].tar
    # What was extracted is what the tar holds.
    d = layer_file(store, layers[0].diff_id, "diff")
    assert os.readlink(os.path.join(d, "d/s")) == "f1"
    assert os.stat(os.path.join(d, "d/h")).st_ino == os.stat(os.path.join(d, "d/f513")).st_ino
    assert os.stat(os.path.join(d, "d/owned")).st_uid == 1234


def test_unreproducible_layer_keeps_its_blob(store, tmp_path):
    """A path written twice: the first content is gone from the layer, so
    the tar cannot be rebuilt from it; the blob stays and save uses it."""
    dup = Layer(make_tar_fmt([("file", "a", "first"), ("file", "a", "second!")],
                             tarfile.PAX_FORMAT), "gzip")
    load_layout(store, tmp_path, [dup])
    assert dup.digest[7:] in blob_files(store)
    assert not os.path.exists(layer_file(store, dup.diff_id, "tar-split.gz"))
    assert saved_layer_tars(store, tmp_path, "img:1")[dup.diff_id] == dup.tar
    with open(os.path.join(layer_file(store, dup.diff_id, "diff"), "a")) as f:
        assert f.read() == "second!"


def test_changed_layer_is_refused_not_saved(store, tmp_path):
    layer = Layer([("file", "f", "original"), ("file", "g", "x" * 3000)], "gzip")
    load_layout(store, tmp_path, [layer])
    out = tmp_path / "out.tar"
    with open(os.path.join(layer_file(store, layer.diff_id, "diff"), "f"), "r+") as f:
        f.write("ORIGINAL")
    p = store.run("save", "-o", str(out), "img:1", check=False)
    assert p.returncode != 0 and "was the layer changed" in p.err, p.err
    assert layer.diff_id in p.err and not out.exists()
    # A truncated record: a one-line error, no output.
    with open(os.path.join(layer_file(store, layer.diff_id, "diff"), "f"), "r+") as f:
        f.write("original")
    split = layer_file(store, layer.diff_id, "tar-split.gz")
    data = open(split, "rb").read()
    with open(split, "wb") as f:
        f.write(data[:len(data) // 2])
    p = store.run("save", "-o", str(out), "img:1", check=False)
    assert p.returncode != 0 and "tar-split.gz" in p.err and not out.exists(), p.err
    assert len(p.err.strip().splitlines()) == 1


def test_save_from_the_split_store_loads_in_podman(store, tmp_path):
    layers = [Layer([("dir", "etc"), ("file", "etc/x", os.urandom(5000))], "gzip"),
              Layer([("file", "y", "y")], "gzip")]
    load_layout(store, tmp_path, layers)
    img = store.inspect("img:1")
    root = tempfile.mkdtemp(prefix="nkpod-")  # podman wants a short runroot
    podman = ["podman", "--root", f"{root}/root", "--runroot", f"{root}/run",
              "--storage-driver", "vfs"]
    try:
        for fmt in ("docker-archive", "oci-archive"):
            out = str(tmp_path / f"{fmt}.tar")
            store.run("save", "--format", fmt, "-o", out, "img:1")
            p = subprocess.run(podman + ["load", "-i", out], capture_output=True, timeout=120)
            assert p.returncode == 0, p.stderr.decode()
            info = json.loads(subprocess.run(podman + ["image", "inspect", img["Id"][7:]],
                                             check=True, capture_output=True,
                                             timeout=60).stdout)[0]
            assert info["Id"] == img["Id"][7:]
            assert info["RootFS"]["Layers"] == [l.diff_id for l in layers]
            subprocess.run(podman + ["rmi", "-f", img["Id"][7:]], capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- push ------------------------------------------------------------------------

def requests_during(reg, fn):
    before = len(reg.requests())
    fn()
    time.sleep(0.3)  # the access log is written after the response
    return reg.requests()[before:]


def uploads(reqs):
    return [r for r in reqs if r[0] in ("POST", "PATCH") or
            (r[0] == "PUT" and "/blobs/uploads/" in r[1])]


def skopeo_push(reg, tmp_path, layers, dest, config=None):
    lay = OCILayout(str(tmp_path / ("src-" + dest.replace("/", "-").replace(":", "-"))))
    desc = lay.image(layers, config=config)
    lay.tag(desc, "t")
    reg.push(lay.path, "t", dest)
    return desc["digest"]


def test_push_mounts_from_the_source_repo_and_pulls_identical(store, store2, reg, tmp_path):
    layers = [Layer([("file", f"m{i}", os.urandom(4000))], "gzip") for i in range(2)]
    digest = skopeo_push(reg, tmp_path, layers, "src/mnt:1")
    store.run("pull", f"{reg.host}/src/mnt:1")
    assert not {l.digest[7:] for l in layers} & blob_files(store)
    reqs = requests_during(reg, lambda: store.run("push", f"{reg.host}/src/mnt:1",
                                                  f"{reg.host}/dst/mnt:1"))
    mounts = [r for r in reqs if r[0] == "POST" and "mount=" in r[1]]
    assert len(mounts) == 3, reqs  # two layers and the config
    assert not [r for r in reqs if r[0] == "PATCH"], reqs
    store2.run("pull", f"{reg.host}/dst/mnt:1")
    a, b = store.inspect(f"{reg.host}/src/mnt:1"), store2.inspect(f"{reg.host}/dst/mnt:1")
    assert a["Digest"] == b["Digest"] == digest
    assert a["Id"] == b["Id"] and a["RootFS"] == b["RootFS"]


def test_push_chunked_rebuilt_then_nothing_again(store, store2, reg, tmp_path):
    """A loaded image (layer blobs not kept) goes up as gzip blobs made
    from the layers, in PATCH chunks; the manifest is rewritten, the config
    (the image id) is the same; a second push uploads nothing."""
    data = os.urandom(20000)
    layers = [Layer([("dir", "app"), ("file", "app/data", data)], "gzip"),
              Layer([("file", "small", "s")], None)]
    load_layout(store, tmp_path, layers)
    local = store.inspect("img:1")
    dest = f"{reg.host}/push/rebuilt:v1"
    out = []
    reqs = requests_during(reg, lambda: out.append(
        store.run("push", "--chunk-size", "4096", "img:1", dest).out))
    pushed = out[0].strip().splitlines()[-1].split()[-1]
    assert pushed.startswith("sha256:") and pushed != local["Digest"]
    assert len([r for r in reqs if r[0] == "PATCH"]) >= 5, reqs  # 20 KB of noise in 4 KB chunks
    assert reqs[-1][0] == "PUT" and "/manifests/v1" in reqs[-1][1], "manifest last"
    # The uncompressed layer went as it was (its digest is its diff-id).
    assert any(r[0] == "PUT" and "digest=" + layers[1].digest in r[1].replace("%3A", ":")
               for r in reqs), reqs

    reqs = requests_during(reg, lambda: store.run("push", "img:1", dest))
    assert uploads(reqs) == [], reqs
    assert [r for r in reqs if r[0] == "HEAD"], reqs

    store2.run("pull", dest)
    got = store2.inspect(dest)
    assert got["Digest"] == pushed and got["Id"] == local["Id"]
    assert got["RootFS"]["Layers"] == [l.diff_id for l in layers]
    with open(os.path.join(layer_file(store2, layers[0].diff_id, "diff"), "app/data"), "rb") as f:
        assert f.read() == data
    manifest = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{dest}"],
        capture_output=True, check=True, timeout=60).stdout)
    assert manifest["layers"][1]["digest"] == layers[1].digest
    assert manifest["layers"][0]["mediaType"].endswith("gzip")
    a = saved_layer_tars(store2, tmp_path, dest)
    assert a[layers[0].diff_id] == layers[0].tar
    # The oci-archive of the first store holds the same rewritten manifest.
    out = str(tmp_path / "oci.tar")
    store.run("save", "--format", "oci-archive", "-o", out, "img:1")
    with tarfile.open(out) as t:
        index = json.load(t.extractfile("index.json"))
    assert index["manifests"][0]["digest"] == pushed


def test_push_auth_and_errors(store, tmp_path):
    d = str(tmp_path / "authreg")
    os.makedirs(d)
    ts = TokenServer(d, "alice", "s3cret")
    r = Registry(os.path.join(d, "reg"), auth=ts)
    try:
        load_layout(store, tmp_path, [Layer([("file", "secret", "42")], "gzip")])
        dest = f"{r.host}/private/img:v1"
        env = {"REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"), "HOME": str(tmp_path)}
        p = store.run("push", "img:1", dest, check=False, env=env)
        assert p.returncode != 0 and "HTTP 401" in p.err and r.host in p.err, p.err
        store.run("login", "-u", "alice", "-p", "s3cret", r.host, env=env)
        store.run("push", "img:1", dest, env=env)
        scopes = [path for path, _ in ts.requests if "scope=" in path]
        assert any("private%2Fimg%3Apull%2Cpush" in s for s in scopes), scopes
        out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds",
                              "alice:s3cret", f"docker://{dest}"], capture_output=True,
                             check=True, timeout=60)
        assert json.loads(out.stdout)["Layers"]
    finally:
        r.close()
        ts.close()
    # Nothing listens there any more: the error names the registry.
    p = store.run("push", "img:1", dest, check=False)
    assert p.returncode != 0 and r.host in p.err and len(p.err.strip().splitlines()) == 1
    img_id = store.inspect("img:1")["Id"][7:19]
    p = store.run("push", img_id, check=False)
    assert p.returncode != 0 and "name a destination" in p.err
    p = store.run("push", "img:1", f"{r.host}/x@sha256:" + "0" * 64, check=False)
    assert p.returncode != 0 and "digest" in p.err
    p = store.run("push", "nosuch:1", f"{r.host}/x:1", check=False)
    assert p.returncode != 0 and "nosuch" in p.err


# ---- history, inspect -------------------------------------------------------------

def test_history_and_inspect_fields(store, tmp_path):
    layers = [Layer([("file", "a", os.urandom(3000))], "gzip"),
              Layer([("file", "b", os.urandom(7000))], "gzip")]
    cfg = json.loads(image_config(layers))
    long_cmd = "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certs"
    cfg["history"] = [
        {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:x in /"},
        {"created": "2024-01-02T00:00:00Z", "created_by": "/bin/sh -c #(nop) ENV X=1",
         "empty_layer": True},
        {"created": "2024-01-03T00:00:00Z", "created_by": long_cmd, "comment": "c3"},
    ]
    cfg["config"]["Labels"] = {"k": "v"}
    cfg["config"]["User"] = "1000"
    load_layout(store, tmp_path, layers, config=json.dumps(cfg).encode())
    img = store.inspect("img:1")
    rows = json.loads(store.run("history", "--format", "json", "img:1").out)
    assert [r["CreatedBy"] for r in rows] == [h["created_by"] for h in reversed(cfg["history"])]
    assert rows[0]["ID"] == img["Id"] and "ID" not in rows[1]
    assert [r["EmptyLayer"] for r in rows] == [False, True, False]
    assert rows[0]["Size"] == 7000 and rows[1]["Size"] == 0 and rows[2]["Size"] == 3000
    assert [r["DiffID"] for r in rows if not r["EmptyLayer"]] == [l.diff_id for l in
                                                                  reversed(layers)]
    out = store.run("history", "img:1").out.splitlines()
    assert out[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert out[1].startswith(img["Id"][7:19]) and "<missing>" in out[2] and "c3" in out[1]
    assert long_cmd not in out[1] and long_cmd[:44] + "\u2026" in out[1]
    assert long_cmd in store.run("history", "--no-trunc", "img:1").out
    assert store.run("image", "history", "-q", "img:1").out.split() == [
        img["Id"][7:19], "<missing>", "<missing>"]
    c = img["Config"]
    assert c["Labels"] == {"k": "v"} and c["User"] == "1000" and c["Cmd"] == ["sh"]
    assert c["Entrypoint"] is None and c["WorkingDir"] == "" and c["Volumes"] is None
    assert c["ExposedPorts"] is None
    assert img["RepoTags"] == ["docker.io/library/img:1"] and img["Size"] == 10000
    assert img["Architecture"] == "amd64" and img["Os"] == "linux"
    # Docker's templates: inspect -f and history --format.
    out = store.run("image", "inspect", "-f", "{{.Id}} {{.Config.User}} {{json .Config.Labels}}",
                    "img:1").out
    assert out == f'{img["Id"]} 1000 {{"k": "v"}}\n' or out == f'{img["Id"]} 1000 {{"k":"v"}}\n'
    out = store.run("history", "--format", "{{.CreatedBy}}", "img:1").out
    assert out.splitlines() == [h["created_by"] for h in reversed(cfg["history"])]
    p = store.run("history", "nosuch:1", check=False)
    assert p.returncode != 0 and "nosuch" in p.err


# ---- confirmations ----------------------------------------------------------------

def on_pty(cmd, answer, timeout=30):
    """Run cmd with a pty as stdin/stderr; answer the [y/N] question."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdin=slave, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen, sent = b"", False
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        if not sent and b"[y/N]" in seen:
            os.write(master, answer)
            sent = True
    out = p.communicate(timeout=timeout)[0].decode()
    os.close(master)
    return p.returncode, out, seen.decode(errors="replace")


def test_rmi_of_an_id_with_several_names_needs_confirmation(store, tmp_path):
    load_layout(store, tmp_path, [Layer([("file", "f", "1")], "gzip")])
    store.run("tag", "img:1", "other:2")
    img_id = store.inspect("img:1")["Id"][7:19]
    names = lambda: sorted(i["Name"] for i in store.images())
    before = names()
    p = store.run("rmi", img_id, check=False)
    assert p.returncode != 0 and "has 2 names" in p.err and "-f" in p.err, p.err
    assert names() == before
    cmd = [store.nook, "--store", store.path, "rmi", img_id]
    rc, out, tty = on_pty(cmd, b"n\n")
    assert rc != 0 and "Remove them all?" in tty and names() == before
    rc, out, tty = on_pty(cmd, b"y\n")
    assert rc == 0, tty
    assert "docker.io/library/img:1" in out and "docker.io/library/other:2" in out
    assert names() == ["docker.io/library/busybox:latest"]
    # By name, one name goes without asking; -f takes all names of an id.
    load_layout(store, tmp_path, [Layer([("file", "f", "1")], "gzip")], tag="img:2")
    store.run("tag", "img:2", "other:3")
    store.run("rmi", "other:3")
    store.run("tag", "img:2", "other:4")
    store.run("rmi", "-f", store.inspect("img:2")["Id"][7:19])
    assert names() == ["docker.io/library/busybox:latest"]


def test_prune_all_asks_on_a_terminal(store, tmp_path):
    load_layout(store, tmp_path, [Layer([("file", "f", "1")], "gzip")])
    cmd = [store.nook, "--store", store.path, "image", "prune", "-a"]
    rc, out, tty = on_pty(cmd, b"n\n")
    assert rc == 0 and "Are you sure" in tty
    assert len(store.images()) == 2
    rc, out, tty = on_pty(cmd, b"y\n")
    assert rc == 0 and "docker.io/library/img:1" in out, (out, tty)
    assert [i["Name"] for i in store.images()] == ["docker.io/library/busybox:latest"]
