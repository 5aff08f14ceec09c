"""What a `nook run` loads: an image already in the store runs from nook
itself, without the nook-engine module and its libraries (libcurl,
libarchive, OpenSSL); a missing image still gets pulled (the module is
loaded for that). See src/cmd/engine/container.c find_image().

Run: NOOK_BIN=build/nook /usr/bin/python3 -m pytest tests/integration/test_engine_load.py -q"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import wait_for
from images_util import Layer, OCILayout, Registry, image_config
from test_engine import engine  # noqa: F401 (the fixture: own store, root, cgroups, leak checks)

# What the engine module brings in; none of it may be mapped by a run of a
# local image.
HEAVY = ("nook-engine.so", "libcurl", "libarchive", "libcrypto", "libssl", "libnftables")


def _mapped_files(pid):
    with open(f"/proc/{pid}/maps") as f:
        return {parts[5] for parts in (line.split() for line in f) if len(parts) > 5}


def _heavy(files):
    return sorted(f for f in files if any(h in os.path.basename(f) for h in HEAVY))


def _running(engine, name):
    p = engine.run("inspect", name, check=False)
    return p.returncode == 0 and '"Running": true' in p.stdout


def test_run_of_a_local_image_maps_no_engine_library(engine):
    engine.run("images")  # the store, with the default image in it
    p = engine.popen("run", "--rm", "--name", "fg", "busybox", "sleep", "60",
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _running(engine, "fg"), 10, "the container running")
        # The foreground `nook run` is still there, relaying the container.
        assert p.poll() is None
        files = _mapped_files(p.pid)
        exe = os.path.realpath(f"/proc/{p.pid}/exe")
        assert exe in files, f"{exe} not in the maps read: {sorted(files)}"
        assert not _heavy(files), f"nook run mapped {_heavy(files)}"
    finally:
        engine.run("rm", "-f", "fg", check=False)
        p.wait(timeout=20)
        p.stdout.close()
        p.stderr.close()


def test_run_detached_of_a_local_image_maps_no_engine_library(engine):
    """The same for `run -d`, which is gone before its maps could be read:
    nook sets NOOK_ENGINE_MODULE in its environment when it loads the module
    (src/nook.c), and the monitor it starts inherits that environment."""
    if "NOOK_ENGINE_MODULE" in os.environ:
        pytest.skip("NOOK_ENGINE_MODULE is set by the caller")
    engine.run("images")
    cid = engine.run("run", "-d", "busybox", "sleep", "60").stdout.strip()
    try:
        with open(os.path.join(engine.cdir(cid), "monitor")) as f:
            mon = int(f.read().split()[0])
        with open(f"/proc/{mon}/environ", "rb") as f:
            env = f.read().split(b"\0")
        assert not [e for e in env if e.startswith(b"NOOK_ENGINE_MODULE=")], \
            "the run that started the monitor loaded the engine module"
        assert not _heavy(_mapped_files(mon))
    finally:
        engine.run("rm", "-f", cid)


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("registry"))
    r = Registry(os.path.join(d, "reg"))
    lay = OCILayout(os.path.join(d, "layout"))
    with open("/bin/busybox", "rb") as f:
        bb = f.read()
    layer = Layer([("dir", "bin"), ("file", "bin/busybox", bb, 0o755)])
    cfg = image_config([layer], cmd=("/bin/busybox", "echo", "pulled and ran"))
    lay.tag(lay.image([layer], config=cfg), "bb:1")
    r.push(lay.path, "bb:1", "test/bb:1")
    yield r
    r.close()
    shutil.rmtree(d, ignore_errors=True)


def test_run_of_a_missing_image_pulls_it(engine, reg):
    ref = f"{reg.host}/test/bb:1"
    assert ref not in engine.run("images", "--format", "json").stdout
    p = engine.run("run", "--rm", ref)
    assert p.stdout == "pulled and ran\n"
    assert ref in engine.run("images", "--format", "json").stdout
    # Now local: found by nook itself; --pull=never runs it too.
    p = engine.run("run", "--rm", "--pull", "never", ref, "/bin/busybox", "echo", "again")
    assert p.stdout == "again\n"


def test_run_makes_the_default_image_again(engine):
    """busybox removed from the store: `run busybox` makes it again, offline
    (the module's part), then runs it."""
    engine.run("images")
    engine.run("rmi", "busybox")
    assert "busybox" not in engine.run("images", "--format", "json").stdout
    assert engine.run("run", "--rm", "busybox", "echo", "back").stdout == "back\n"
    assert "busybox" in engine.run("images", "--format", "json").stdout


def test_run_pull_always_goes_to_the_registry(engine, reg):
    """Last of the registry tests: it stops the registry."""
    ref = f"{reg.host}/test/bb:1"
    engine.run("pull", ref)
    reg.close()
    p = engine.run("run", "--rm", "--pull", "always", ref, check=False)
    assert p.returncode == 125 and "pulling it failed" in p.stderr, p.stderr
    # Without --pull always the local copy runs, registry or not.
    assert engine.run("run", "--rm", ref).stdout == "pulled and ran\n"


def test_run_of_a_corrupt_local_image_says_so(engine):
    """A config blob that no longer parses: nook itself cannot read it, the
    module's hash check names the blob; nothing is pulled, nothing made."""
    engine.run("images")
    with open(os.path.join(engine.store, "repositories.json")) as f:
        cfg = json.load(f)["docker.io/library/busybox:latest"]["config"]
    with open(os.path.join(engine.store, "blobs", "sha256", cfg[7:]), "r+b") as f:
        f.write(b"XXXX")
    p = engine.run("run", "--rm", "busybox", "true", check=False)
    assert p.returncode == 125
    assert f"blob {cfg} is corrupt" in p.stderr and "pull" not in p.stderr, p.stderr
    assert engine.run("ps", "-aq").stdout == ""
