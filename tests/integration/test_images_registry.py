"""`nook pull` against a real registry (Debian's docker-registry on
127.0.0.1, images pushed with skopeo from OCI layouts built here) and a
fake one for failures a real registry will not produce.

Run: /usr/bin/python3 -m pytest tests/integration/test_images_registry.py -q"""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from images_util import (MT_OCI_INDEX, MT_OCI_MANIFEST, FakeRegistry, Layer,
                         OCILayout, Registry, Store, TokenServer,
                         assert_store_consistent, cleanup_store, image_config, mounts_under,
                         nook_path, sha256, store_snapshot, temp_store)


@pytest.fixture(scope="module")
def nook():
    return nook_path()


@pytest.fixture
def store(nook, tmp_path):
    with temp_store(nook, tmp_path, create=True) as s:
        yield s


def files_layer(prefix, n=3, compression="gzip", size=2000):
    return Layer([("dir", prefix)] + [("file", f"{prefix}/f{i}", os.urandom(size))
                                      for i in range(n)], compression)


class Images:
    """What the module's registry holds (pushed once)."""


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("registry"))
    r = Registry(os.path.join(d, "reg"))
    lay = OCILayout(os.path.join(d, "layout"))
    im = Images()
    im.base = Layer([("dir", "etc"), ("file", "etc/os-release", "ID=test\n"),
                     ("dir", "bin"), ("file", "bin/tool", b"\x7fELF" + os.urandom(50000), 0o755)])
    im.mid = files_layer("usr", 5, size=30000)
    im.top1, im.top2 = files_layer("app1"), files_layer("app2")
    im.multi1 = [im.base, im.mid, im.top1]
    im.multi2 = [im.base, im.mid, im.top2]
    im.zstd = [files_layer("z", 4, "zstd"), Layer([("file", "plain", "p")], None)]
    im.many = [Layer([("file", f"l{i:02d}", str(i))]) for i in range(50)]
    im.wh = [Layer([("dir", "a"), ("file", "a/x", "x"), ("file", "a/y", "y"), ("dir", "o"),
                    ("file", "o/old", "o")]),
             Layer([("dir", "a"), ("file", "a/.wh.x", ""), ("dir", "o"),
                    ("file", "o/.wh..wh..opq", ""), ("file", "o/new", "n")])]
    arch = {a: [Layer([("file", "arch", a)])] for a in ("amd64", "arm64")}
    im.manifests = {}
    for tag, layers in (("multi:1", im.multi1), ("multi:2", im.multi2), ("zstd:1", im.zstd),
                        ("many:1", im.many), ("wh:1", im.wh)):
        desc = lay.image(layers)
        im.manifests[tag] = desc["digest"]
        lay.tag(desc, tag)
        r.push(lay.path, tag, f"test/{tag}")
    idx = lay.index([(lay.image(arch["amd64"]), ("linux", "amd64")),
                     (lay.image(arch["arm64"], arch="arm64", variant="v8"), ("linux", "arm64", "v8"))])
    lay.tag(idx, "arch:1")
    r.push(lay.path, "arch:1", "test/arch:1", all_=True)
    im.manifests["arch:1"] = idx["digest"]
    # Images to damage in the registry's storage after the push.
    for tag in ("corrupt:1", "trunc:1", "missing:1", "badgz:1"):
        layers = [files_layer(tag.split(":")[0], 2)]
        if tag == "badgz:1":
            layers[0].blob = b"\x1f\x8b\x08\x00" + os.urandom(3000)
            layers[0].digest = sha256(layers[0].blob)
        setattr(im, tag.split(":")[0], layers)
        lay.tag(lay.image(layers), tag)
        r.push(lay.path, tag, f"test/{tag}")
    with open(r.blob_path(im.corrupt[0].digest), "r+b") as f:
        f.seek(100)
        f.write(b"CORRUPTED")
    with open(r.blob_path(im.trunc[0].digest), "r+b") as f:
        f.truncate(len(im.trunc[0].blob) // 2)
    os.unlink(r.blob_path(im.missing[0].digest))
    r.images = im
    yield r
    r.close()
    shutil.rmtree(d, ignore_errors=True)


def pull(store, ref, *args, check=True):
    return store.run("pull", *args, ref, check=check)


def test_pull_layers_content_and_sharing(store, reg, tmp_path):
    im = reg.images
    p = pull(store, f"{reg.host}/test/multi:1")
    assert f"Digest: {im.manifests['multi:1']}" in p.out
    assert p.out.strip().endswith(f"{reg.host}/test/multi:1")
    info = store.inspect(f"{reg.host}/test/multi:1")
    assert info["Digest"] == im.manifests["multi:1"]
    assert info["RootFS"]["Layers"] == [l.diff_id for l in im.multi1]
    root = str(tmp_path / "root")
    os.makedirs(root)
    store.run("image", "mount", f"{reg.host}/test/multi:1", root)
    try:
        with open(os.path.join(root, "etc/os-release")) as f:
            assert f.read() == "ID=test\n"
        assert sorted(os.listdir(os.path.join(root, "usr"))) == [f"f{i}" for i in range(5)]
        assert os.stat(os.path.join(root, "bin/tool")).st_mode & 0o777 == 0o755
        for i in range(3):
            with open(os.path.join(root, f"app1/f{i}"), "rb") as f:
                assert len(f.read()) == 2000
    finally:
        store.run("image", "umount", root)
    # The second image shares two layers: those are not fetched again.
    p = pull(store, f"{reg.host}/test/multi:2")
    assert p.out.count("already exists") == 2, p.out
    assert p.out.count("downloaded") == 1, p.out
    assert len(os.listdir(os.path.join(store.path, "layers"))) == 1 + 4  # + busybox
    # Pulling again is a no-op that still succeeds.
    assert pull(store, f"{reg.host}/test/multi:2").out.count("already exists") == 3
    assert os.listdir(os.path.join(store.path, "tmp")) == []


def test_zstd_uncompressed_and_digest_reference(store, reg):
    im = reg.images
    pull(store, f"{reg.host}/test/zstd:1")
    assert store.inspect(f"{reg.host}/test/zstd:1")["RootFS"]["Layers"] == [
        l.diff_id for l in im.zstd]
    manifest = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reg.host}/test/zstd:1"],
        capture_output=True, text=True, check=True).stdout)
    assert manifest["layers"][0]["mediaType"].endswith("+zstd")
    ref = f"{reg.host}/test/multi@{im.manifests['multi:1']}"
    p = pull(store, ref)
    assert p.out.strip().endswith(ref)
    row = [i for i in store.images() if i["Name"] == ref][0]
    assert row["Tag"] is None and row["Digest"] == im.manifests["multi:1"]
    bad = f"{reg.host}/test/multi@sha256:" + "0" * 64
    p = pull(store, bad, check=False)
    assert p.returncode != 0 and "MANIFEST_UNKNOWN" in p.err


def test_multi_arch_index(store, reg, nook, tmp_path):
    pull(store, f"{reg.host}/test/arch:1")
    info = store.inspect(f"{reg.host}/test/arch:1")
    assert info["Architecture"] == "amd64"
    arm = Store(nook, str(tmp_path / "arm"))
    try:
        pull(arm, f"{reg.host}/test/arch:1", "--platform", "linux/arm64")
        info = arm.inspect(f"{reg.host}/test/arch:1")
        assert info["Architecture"] == "arm64" and info["Variant"] == "v8"
        before = store_snapshot(arm.path)
        p = pull(arm, f"{reg.host}/test/arch:1", "--platform", "linux/s390x", check=False)
        assert p.returncode != 0
        assert "no image for platform linux/s390x (available: linux/amd64, linux/arm64/v8)" in p.err
        assert store_snapshot(arm.path) == before
    finally:
        cleanup_store(nook, arm.path)


def test_multi_arch_index_arm64_variant(fake, nook, tmp_path):
    """An index whose arm64 entry leaves out its variant, after an arm/v7
    one: the image-index spec's arm64 variant is v8, so linux/arm64/v8
    finds it (and linux/arm64 too), arm/v7 is never taken for arm64, and
    this amd64 host's default is the amd64 entry. The arm64 build's own
    default is checked on a real arm64 kernel (tests/vm/arm64/integ.sh:
    pull-arm64-default) and in its unit tests (test_engine_manifest)."""
    entries = []
    for arch, variant in (("amd64", None), ("arm", "v7"), ("arm64", None)):
        layer = Layer([("file", "arch", f"{arch}{variant or ''}")])
        cfg = image_config([layer], arch=arch, variant=variant)
        body = fake.add_image(f"{arch}{variant or ''}", [layer], cfg)
        plat = {"os": "linux", "architecture": arch}
        if variant:
            plat["variant"] = variant
        entries.append({"mediaType": MT_OCI_MANIFEST, "digest": sha256(body),
                        "size": len(body), "platform": plat})
    idx = json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_INDEX,
                      "manifests": entries}).encode()
    fake.add_manifest("multi", idx, MT_OCI_INDEX)
    ref = f"{fake.host}/d/idx:multi"
    cases = [("linux/arm64/v8", 2), ("linux/arm64", 2), ("linux/arm/v7", 1)]
    if os.uname().machine == "x86_64":
        cases.append((None, 0))
    for n, (platform, want) in enumerate(cases):
        s = Store(nook, str(tmp_path / f"st{n}"))
        try:
            p = pull(s, ref, *(["--platform", platform] if platform else []))
            assert f"Digest: {entries[want]['digest']}" in p.out, (platform, p.out)
            assert s.inspect(ref)["Architecture"] == entries[want]["platform"]["architecture"]
            assert_store_consistent(s.path)
        finally:
            cleanup_store(nook, s.path)
    s = Store(nook, str(tmp_path / "v6"))
    try:
        p = pull(s, ref, "--platform", "linux/arm/v6", check=False)
        assert p.returncode != 0
        assert "no image for platform linux/arm/v6 (available: linux/amd64, linux/arm/v7, linux/arm64)" in p.err
    finally:
        cleanup_store(nook, s.path)


def test_fifty_layers_and_whiteouts(store, reg, tmp_path):
    pull(store, f"{reg.host}/test/many:1")
    pull(store, f"{reg.host}/test/wh:1")
    for image, check in ((f"{reg.host}/test/many:1",
                          lambda r: sorted(os.listdir(r)) == [f"l{i:02d}" for i in range(50)]),
                         (f"{reg.host}/test/wh:1",
                          lambda r: os.listdir(os.path.join(r, "a")) == ["y"] and
                          os.listdir(os.path.join(r, "o")) == ["new"])):
        root = str(tmp_path / "r")
        os.makedirs(root, exist_ok=True)
        store.run("image", "mount", image, root)
        try:
            assert check(root), sorted(os.listdir(root))
        finally:
            store.run("image", "umount", root)


@pytest.mark.parametrize("tag,message", [
    ("corrupt:1", "content hashes to"),
    ("trunc:1", "bytes"),
    ("missing:1", "blob sha256:"),
    ("badgz:1", "decompress"),
])
def test_damaged_registry_content_leaves_store_unchanged(store, reg, tag, message):
    before = store_snapshot(store.path)
    p = pull(store, f"{reg.host}/test/{tag}", check=False)
    assert p.returncode != 0 and message in p.err, p.err
    assert store_snapshot(store.path) == before
    # Nothing half-extracted stays; downloads may (verified .blob or
    # .partial), for the next pull to reuse or resume.
    left = os.listdir(os.path.join(store.path, "tmp"))
    assert all(n.endswith((".partial", ".blob")) for n in left), left


@pytest.fixture
def fake():
    f = FakeRegistry()
    yield f
    f.close()


def test_unknown_media_types(store, fake):
    layer = Layer([("file", "f", "x")])
    body = json.loads(fake.add_image("ok", [layer]))
    body["layers"][0]["mediaType"] = "application/vnd.example.unknown"
    fake.add_manifest("layer", json.dumps(body).encode())
    body["layers"][0]["mediaType"] = layer.media_type
    body["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json"
    fake.add_manifest("config", json.dumps(body).encode())
    fake.add_manifest("doc", b'{"mediaType":"application/vnd.example.thing"}',
                      "application/vnd.example.thing")
    before = store_snapshot(store.path)
    for tag, msg in (("layer", "layers[0].mediaType `application/vnd.example.unknown` is not "
                               "supported"),
                     ("config", "is not an image config"),
                     ("doc", "manifest media type `application/vnd.example.thing` is not supported")):
        p = pull(store, f"{fake.host}/x/y:{tag}", check=False)
        assert p.returncode != 0 and msg in p.err, p.err
    assert store_snapshot(store.path) == before
    assert os.listdir(os.path.join(store.path, "tmp")) == []
    pull(store, f"{fake.host}/x/y:ok")


def test_dropped_connection_then_resume(store, fake):
    big = Layer([("file", "big", os.urandom(400000))])
    small = Layer([("file", "small", "s")])
    fake.add_image("v1", [small, big])
    fake.blob_mode[big.digest] = ("drop", 150000)
    before = store_snapshot(store.path)
    p = pull(store, f"{fake.host}/a/b:v1", check=False)
    assert p.returncode != 0 and big.digest in p.err, p.err
    assert store_snapshot(store.path) == before
    partial = os.path.join(store.path, "tmp", big.digest[7:] + ".partial")
    assert os.path.getsize(partial) == 150000
    del fake.blob_mode[big.digest]
    fake.ranges.clear()
    pull(store, f"{fake.host}/a/b:v1")
    assert (big.digest, "bytes=150000-") in fake.ranges
    assert os.listdir(os.path.join(store.path, "tmp")) == []
    assert store.inspect(f"{fake.host}/a/b:v1")["RootFS"]["Layers"][1] == big.diff_id


def wait_for(cond, what, limit=30):
    """Poll until cond() holds (a state to reach, not a time to measure)."""
    deadline = time.time() + limit
    while not cond():
        assert time.time() < deadline, f"never reached: {what}"
        time.sleep(0.02)


def staging_dirs(store):
    return sorted(n for n in os.listdir(os.path.join(store.path, "tmp"))
                  if n.startswith("layer-"))


def test_kill9_mid_pull_then_pull_again(store, fake):
    """kill -9 while two layers are extracted into staging and the third is
    half downloaded: the store is as before; the next pull resumes the
    download, removes the dead pull's staging, and leaves a complete store."""
    a, b = Layer([("file", "a", os.urandom(50000))]), Layer([("file", "b", os.urandom(50000))])
    big = Layer([("file", "big", os.urandom(300000))])
    fake.add_image("v1", [a, b, big])
    fake.blob_mode[big.digest] = ("stall", 100000)
    before = store_snapshot(store.path)
    proc = subprocess.Popen([store.nook, "--store", store.path, "pull", f"{fake.host}/k/s:v1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = os.path.join(store.path, "tmp", big.digest[7:] + ".partial")
    wait_for(lambda: os.path.exists(partial) and os.path.getsize(partial) == 100000 and
             len(staging_dirs(store)) == 2 and all(
                 os.path.exists(os.path.join(store.path, "tmp", d, "info.json"))
                 for d in staging_dirs(store)), "two layers staged, third half fetched")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert os.path.getsize(partial) == 100000
    assert len(staging_dirs(store)) == 2
    assert store_snapshot(store.path) == before
    assert_store_consistent(store.path)
    fake.release.set()
    del fake.blob_mode[big.digest]
    p = pull(store, f"{fake.host}/k/s:v1")
    assert p.out.count("already exists") == 2, p.out  # the verified downloads are reused
    assert (big.digest, "bytes=100000-") in fake.ranges
    assert os.listdir(os.path.join(store.path, "tmp")) == []
    assert store.inspect(f"{fake.host}/k/s:v1")["RootFS"]["Layers"] == [
        a.diff_id, b.diff_id, big.diff_id]
    assert_store_consistent(store.path)


def test_live_pull_staging_survives_other_pulls(store, fake):
    """A second pull sweeps only the staging of dead pulls: one that is
    still running (stalled on a layer) keeps its extracted layers and
    completes."""
    a = Layer([("file", "a", os.urandom(50000))])
    big = Layer([("file", "big", os.urandom(300000))])
    other = Layer([("file", "other", "o")])
    fake.add_image("slow", [a, big])
    fake.add_image("quick", [other])
    fake.blob_mode[big.digest] = ("pause", 100000)
    proc = subprocess.Popen([store.nook, "--store", store.path, "pull", f"{fake.host}/l/s:slow"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        partial = os.path.join(store.path, "tmp", big.digest[7:] + ".partial")
        wait_for(lambda: os.path.exists(partial) and os.path.getsize(partial) == 100000 and
                 len(staging_dirs(store)) == 1 and os.path.exists(
                     os.path.join(store.path, "tmp", staging_dirs(store)[0], "info.json")),
                 "first layer staged, second half fetched")
        staged = staging_dirs(store)
        pull(store, f"{fake.host}/l/s:quick")
        assert staging_dirs(store) == staged, "a live pull's staging was removed"
        fake.release.set()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert os.listdir(os.path.join(store.path, "tmp")) == []
    assert store.inspect(f"{fake.host}/l/s:slow")["RootFS"]["Layers"] == [a.diff_id, big.diff_id]
    assert_store_consistent(store.path)


def test_concurrent_pulls_of_one_image(store, reg):
    ref = f"{reg.host}/test/multi:1"
    procs = [subprocess.Popen([store.nook, "--store", store.path, "pull", "-q", ref],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert [i["Name"] for i in store.images()].count(ref) == 1
    assert len(os.listdir(os.path.join(store.path, "layers"))) == 1 + 3
    assert os.listdir(os.path.join(store.path, "tmp")) == []
    # The layers were extracted once, with a tar-split each: their blobs
    # are not kept.
    blobs = set(os.listdir(os.path.join(store.path, "blobs", "sha256")))
    assert not {l.digest[7:] for l in reg.images.multi1} & blobs
    for l in reg.images.multi1:
        assert os.path.exists(os.path.join(store.path, "layers", l.diff_id[7:], "tar-split.gz"))
    assert_store_consistent(store.path)


@pytest.fixture(scope="module")
def auth_reg(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("authreg"))
    ts = TokenServer(d, "alice", "s3cret", public_prefix="public/")
    r = Registry(os.path.join(d, "reg"), auth=ts)
    lay = OCILayout(os.path.join(d, "layout"))
    lay.tag(lay.image([Layer([("file", "secret", "42")])]), "v1")
    r.push(lay.path, "v1", "private/img:v1", creds="alice:s3cret")
    lay.tag(lay.image([Layer([("file", "open", "yes")])]), "pub")
    r.push(lay.path, "pub", "public/img:v1", creds="alice:s3cret")
    r.tokens = ts
    yield r
    r.close()
    ts.close()
    shutil.rmtree(d, ignore_errors=True)


def test_token_auth_login_logout(store, auth_reg, tmp_path):
    ref = f"{auth_reg.host}/private/img:v1"
    env = {"REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"), "HOME": str(tmp_path)}
    p = store.run("pull", ref, check=False, env=env)
    assert p.returncode != 0 and "HTTP 401" in p.err, p.err
    p = store.run("login", "-u", "alice", "-p", "wrong", auth_reg.host, check=False, env=env)
    assert p.returncode != 0 and "wrong credentials" in p.err
    assert not os.path.exists(tmp_path / "auth.json")
    p = store.run("login", "-u", "alice", "--password-stdin", auth_reg.host, env=env,
                  input=b"s3cret\n")
    assert "Login Succeeded" in p.out
    saved = json.loads((tmp_path / "auth.json").read_text())
    assert saved["auths"][auth_reg.host]["auth"] == "YWxpY2U6czNjcmV0"
    assert (tmp_path / "auth.json").stat().st_mode & 0o777 == 0o600
    store.run("pull", ref, env=env)
    scopes = [path for path, _ in auth_reg.tokens.requests if "scope=" in path]
    assert any("repository%3Aprivate%2Fimg%3Apull" in s for s in scopes), scopes
    store.run("logout", auth_reg.host, env=env)
    assert json.loads((tmp_path / "auth.json").read_text())["auths"] == {}
    p = store.run("pull", ref, check=False, env=env)
    assert p.returncode != 0


def test_full_disk_pull_clear_error_store_unchanged(nook, fake, tmp_path):
    """--store on a small tmpfs: a layer whose download does not fit, and one
    whose blob fits but whose extraction does not, fail naming ENOSPC; the
    store is as before, its space given back (no partial download kept);
    with more room the same pulls succeed."""
    path = str(tmp_path / "small")
    os.makedirs(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "nook-test-full", path],
                   check=True)
    try:
        s = Store(nook, path)
        s.run("images")
        before = store_snapshot(path)
        free = os.statvfs(path).f_bfree
        noise = Layer([("file", "noise", os.urandom(3 << 20))])
        zeros = Layer([("file", "zeros", b"\0" * (8 << 20))])
        small = Layer([("file", "small", "s")])
        fake.add_image("download", [small, noise])
        fake.add_image("extract", [small, zeros])
        for tag in ("download", "extract"):
            p = pull(s, f"{fake.host}/full/img:{tag}", check=False)
            assert p.returncode != 0
            assert "No space left on device" in p.err, p.err
            assert f"the store `{path}` ran out of space and was left as it was" in p.err, p.err
            assert store_snapshot(path) == before, tag
            assert os.listdir(os.path.join(path, "tmp")) == [], tag
            assert os.statvfs(path).f_bfree == free, f"{tag}: space not given back"
        subprocess.run(["mount", "-o", "remount,size=64m", path], check=True)
        for tag, layer in (("download", noise), ("extract", zeros)):
            pull(s, f"{fake.host}/full/img:{tag}")
            info = s.inspect(f"{fake.host}/full/img:{tag}")
            assert info["RootFS"]["Layers"] == [small.diff_id, layer.diff_id]
            assert os.path.isdir(s.layer_dir(layer.diff_id))
        assert os.listdir(os.path.join(path, "tmp")) == []
    finally:
        for mp in reversed(mounts_under(path)):
            subprocess.run(["umount", "-l", mp], check=False)
        left = mounts_under(path)
        cleanup_store(nook, str(tmp_path))
    assert not left


def test_token_auth_anonymous_and_auth_files(store, auth_reg, tmp_path):
    """Anonymous bearer tokens for a public repository; credentials read
    from docker's ~/.docker/config.json and from --authfile."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "REGISTRY_AUTH_FILE": "", "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_RUNTIME_DIR": str(home / "run")}
    n = len(auth_reg.tokens.requests)
    store.run("pull", f"{auth_reg.host}/public/img:v1", env=env)
    reqs = auth_reg.tokens.requests[n:]
    assert reqs and all(a == "" for _, a in reqs), reqs  # no credentials were sent
    assert store.inspect(f"{auth_reg.host}/public/img:v1")["RootFS"]["Layers"]
    ref = f"{auth_reg.host}/private/img:v1"
    p = store.run("pull", ref, check=False, env=env)
    assert p.returncode != 0 and "HTTP 401" in p.err, p.err
    creds = {"auths": {auth_reg.host: {"auth": "YWxpY2U6czNjcmV0"}}}  # alice:s3cret
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps(creds))
    store.run("pull", ref, env=env)
    (home / ".docker" / "config.json").unlink()
    store.run("rmi", ref)
    p = store.run("pull", ref, check=False, env=env)
    assert p.returncode != 0
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps(creds))
    store.run("pull", "--authfile", str(other), ref, env=env)
    info = store.inspect(ref)
    root = str(tmp_path / "root")
    os.makedirs(root)
    store.run("image", "mount", ref, root)
    try:
        with open(os.path.join(root, "secret")) as f:
            assert f.read() == "42"
    finally:
        store.run("image", "umount", root)
    assert info["Digest"].startswith("sha256:")



DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def test_docker_manifest_list_and_schema2(store, fake, nook, tmp_path):
    """Docker media types: a manifest list, schema 2 manifests, docker
    configs and gzip layers, with --platform choosing by arch and variant."""
    entries = []
    layers = {}
    for arch, variant in (("amd64", None), ("arm", "v7"), ("arm64", "v8")):
        layer = Layer([("file", "arch", f"{arch}{variant or ''}")])
        layers[(arch, variant)] = layer
        cfg = image_config([layer], arch=arch, variant=variant)
        fake.blobs[sha256(cfg)] = cfg
        fake.blobs[layer.digest] = layer.blob
        body = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": sha256(cfg), "size": len(cfg)},
            "layers": [{"mediaType": DOCKER_LAYER, "digest": layer.digest,
                        "size": len(layer.blob)}]}).encode()
        fake.add_manifest(sha256(body), body, DOCKER_MANIFEST)
        plat = {"os": "linux", "architecture": arch}
        if variant:
            plat["variant"] = variant
        entries.append({"mediaType": DOCKER_MANIFEST, "digest": sha256(body), "size": len(body),
                        "platform": plat})
    lst = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST,
                      "manifests": entries}).encode()
    fake.add_manifest("multi", lst, DOCKER_LIST)
    ref = f"{fake.host}/d/list:multi"
    for platform, key in ((None, ("amd64", None)), ("linux/arm/v7", ("arm", "v7")),
                          ("linux/arm64", ("arm64", "v8"))):
        s = Store(nook, str(tmp_path / f"st-{key[0]}"))
        try:
            args = ["--platform", platform] if platform else []
            p = pull(s, ref, *args)
            want = entries[[("amd64", None), ("arm", "v7"), ("arm64", "v8")].index(key)]["digest"]
            assert f"Digest: {want}" in p.out, p.out
            info = s.inspect(ref)
            assert info["Architecture"] == key[0] and info.get("Variant") == key[1], info
            assert info["RootFS"]["Layers"] == [layers[key].diff_id]
            diff = s.layer_dir(layers[key].diff_id)
            with open(os.path.join(diff, "arch")) as f:
                assert f.read() == f"{key[0]}{key[1] or ''}"
            assert_store_consistent(s.path)
        finally:
            cleanup_store(nook, s.path)
    p = pull(store, ref, "--platform", "linux/ppc64le", check=False)
    assert p.returncode != 0 and "available: linux/amd64, linux/arm/v7, linux/arm64/v8" in p.err


def render_terminal(data):
    """The final screen of a tiny terminal: \\n, \\r, ESC[nA, ESC[nB, ESC[2K."""
    import re
    lines, row, col = [""], 0, 0
    for tok in re.findall(r"\x1b\[(\d*)([ABK])|(\r\n|\n|\r)|([^\x1b\r\n]+)", data):
        num, cmd, nl, text = tok
        if cmd == "A":
            row = max(0, row - int(num or 1))
        elif cmd == "B":
            row += int(num or 1)
        elif cmd == "K":
            lines[row] = ""
        elif nl in ("\n", "\r\n"):
            row, col = row + 1, 0
        elif nl == "\r":
            col = 0
        elif text:
            while len(lines) <= row:
                lines.append("")
            cur = lines[row].ljust(col)
            lines[row] = cur[:col] + text + cur[col + len(text):]
            col += len(text)
        while len(lines) <= row:
            lines.append("")
    return [l for l in lines if l]


def test_progress_on_a_tty_and_plain_lines(store, reg, nook, tmp_path):
    import pty
    im = reg.images
    ids = [l.digest[7:19] for l in im.multi1]
    master, slave = pty.openpty()
    proc = subprocess.Popen([nook, "--store", store.path, "pull", f"{reg.host}/test/multi:1"],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    proc.stderr.close()
    text = out.decode()
    assert "\x1b[" in text, "no redrawing on a terminal"
    screen = render_terminal(text)
    assert screen[0] == f"Digest: {im.manifests['multi:1']}"
    # One line per layer, each ending as done, then the name.
    assert screen[1:] == [f"{i}: pull complete" for i in ids] + [f"{reg.host}/test/multi:1"], screen
    # Not a terminal: plain lines, a layer's start and end, no escapes.
    p = pull(store, f"{reg.host}/test/multi:2")
    assert "\x1b" not in p.out
    top = im.multi2[2].digest[7:19]
    assert [l for l in p.out.splitlines() if l.startswith(top)] == [
        f"{top}: downloading", f"{top}: downloaded", f"{top}: extracting", f"{top}: pull complete"]
    assert f"{ids[0]}: already exists" in p.out


def test_pull_decompression_bomb_bounded(store, fake):
    bomb = Layer([("file", "zeros", b"\0" * (48 << 20))])
    assert len(bomb.blob) < (1 << 20)
    fake.add_image("bomb", [bomb])
    before = store_snapshot(store.path)
    p = store.run("pull", f"{fake.host}/b/omb:bomb", check=False,
                  env={"NOOK_MAX_LAYER_BYTES": str(8 << 20)})
    assert p.returncode != 0 and "exceeds the limit of 8388608 bytes" in p.err, p.err
    assert store_snapshot(store.path) == before
    left = os.listdir(os.path.join(store.path, "tmp"))
    assert all(n.endswith(".blob") for n in left), left  # only the verified download
    pull(store, f"{fake.host}/b/omb:bomb")
    assert os.listdir(os.path.join(store.path, "tmp")) == []


def test_two_pulls_overlapping_on_one_blob(store, fake):
    """The second pull starts while the first is mid-download of the same
    layer (held with flock): it waits for that download instead of
    fetching it again, and both finish with one consistent copy."""
    small = Layer([("file", "s", "s")])
    big = Layer([("file", "big", os.urandom(300000))])
    fake.add_image("v1", [small, big])
    fake.blob_mode[big.digest] = ("pause", 100000)
    ref = f"{fake.host}/two/pulls:v1"
    cmd = [store.nook, "--store", store.path, "pull", ref]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second = None
    try:
        partial = os.path.join(store.path, "tmp", big.digest[7:] + ".partial")
        wait_for(lambda: os.path.exists(partial) and os.path.getsize(partial) == 100000,
                 "first pull mid-download")
        second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # The second one took the small layer from the first's download and
        # is now at the big one, which the first still holds.
        lines = []
        while True:
            line = second.stdout.readline().decode()
            assert line, "second pull ended early"
            lines.append(line)
            if line.startswith(small.digest[7:19]):
                break
        assert "already exists" in lines[-1], lines
        wchan = f"/proc/{second.pid}/wchan"
        wait_for(lambda: "lock" in open(wchan).read() or second.poll() is not None,
                 "second pull blocked on the download's flock")
        assert second.poll() is None
        fake.release.set()
        for p in (first, second):
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err.decode()
    finally:
        for p in (first, second):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    assert sum(1 for d, _ in fake.ranges if d == big.digest) == 1, fake.ranges
    assert [i["Name"] for i in store.images()].count(ref) == 1
    assert os.listdir(os.path.join(store.path, "tmp")) == []
    assert_store_consistent(store.path)
