"""The runtime library as the engine uses it (tests/embed/nk-embed.c): a
spec built in memory, a rootfs path and a directory recorded as the bundle,
with no bundle directory read at all: the bundle dir given holds no
config.json, and root.path names a directory that does not exist (create
takes the rootfs it is given). Asserts what the container really did."""
import json
import os
import subprocess
import tempfile

import pytest


@pytest.fixture
def embed_bin(build_dir):
    path = os.path.join(build_dir, "tests", "embed", "nk-embed")
    if not os.path.exists(path):
        pytest.skip("nk-embed not built")
    return path


def embed(embed_bin, runtime, rootfs, bundle_dir, spec, mode, cid=None):
    cid = cid or runtime.new_id("emb")
    # Files, not pipes: the container inherits stdio in `run` mode.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.run([embed_bin, runtime.root, cid, rootfs, bundle_dir,
                            json.dumps(spec), mode],
                           stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True,
                           timeout=60)
        out.seek(0)
        err.seek(0)
        p.stdout, p.stderr = out.read(), err.read()
    return cid, p


def memory_spec(bundle, script, terminal=False):
    spec = dict(bundle.config)
    spec["root"] = {"path": "/nonexistent-root", "readonly": False}
    spec["hostname"] = "embedded"
    spec["process"] = dict(spec["process"], args=["/bin/sh", "-c", script], terminal=terminal)
    return spec


def container_dir(tmp_path):
    d = tmp_path / "ctr"
    d.mkdir()
    return str(d)


def test_run_from_memory(embed_bin, runtime, bundle, tmp_path):
    ctr = container_dir(tmp_path)
    spec = memory_spec(bundle, 'echo "pid=$$ host=$(hostname)" > /ran; exit 7')
    cid, p = embed(embed_bin, runtime, bundle.rootfs, ctr, spec, "run")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "exit 7", p.stdout + p.stderr
    with open(os.path.join(bundle.rootfs, "ran")) as f:
        assert f.read().strip() == "pid=1 host=embedded"
    assert not os.path.exists(os.path.join(ctr, "config.json"))
    assert not os.path.exists(os.path.join(runtime.root, cid))  # run deletes


def test_create_hands_back_the_pty_master(embed_bin, runtime, bundle, tmp_path):
    ctr = container_dir(tmp_path)
    spec = memory_spec(bundle, 'tty; echo "in-$$-$(hostname)"', terminal=True)
    cid, p = embed(embed_bin, runtime, bundle.rootfs, ctr, spec, "tty")
    assert p.returncode == 0, p.stderr
    first, rest = p.stdout.split("\n", 1)
    state = json.loads(first)
    assert state["id"] == cid and state["status"] == "created"
    assert state["bundle"] == ctr
    assert state["rootfs"] == os.path.realpath(bundle.rootfs)
    lines = [line.strip() for line in rest.splitlines()]
    assert lines == ["/dev/pts/0", "in-1-embedded"], rest
    assert not os.path.exists(os.path.join(runtime.root, cid))


@pytest.mark.parametrize("case", ["no-process", "relative-bundle", "missing-rootfs"])
def test_bad_input_leaves_nothing(embed_bin, runtime, bundle, tmp_path, case):
    ctr = container_dir(tmp_path)
    spec = memory_spec(bundle, "true")
    rootfs = bundle.rootfs
    want = {"no-process": "spec: process: missing",
            "relative-bundle": "bundle `ctr`: not an absolute path",
            "missing-rootfs": "rootfs `" + rootfs + "-gone`"}[case]
    if case == "no-process":
        del spec["process"]
    elif case == "relative-bundle":
        ctr = "ctr"
    else:
        rootfs += "-gone"
    cid, p = embed(embed_bin, runtime, rootfs, ctr, spec, "run")
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"create container `{cid}`" in p.stderr and want in p.stderr, p.stderr
    if case != "missing-rootfs":  # our own refusals carry no errno text (util/error.h)
        assert "Invalid argument" not in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_guard_reexecs_where_nook_init_cannot_stand_in(embed_bin, runtime, bundle, tmp_path):
    """A createContainer hook keeps the init from handing over to nook-init:
    the guard (the caller's explicit step, with its own argv) re-execs the
    program from a sealed copy, and the library runs the init as that."""
    ctr = container_dir(tmp_path)
    spec = memory_spec(bundle, 'echo "pid=$$" > /ran')
    spec["hooks"] = {"createContainer": [{"path": "/bin/true"}]}
    _, p = embed(embed_bin, runtime, bundle.rootfs, ctr, spec, "run")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["protected", "exit", "0"], p.stdout + p.stderr
    with open(os.path.join(bundle.rootfs, "ran")) as f:
        assert f.read().strip() == "pid=1"


def test_library_never_reexecs_its_caller(embed_bin, runtime, bundle, tmp_path):
    """Without the guard and without nook-init, create refuses: it neither
    re-execs the caller's process nor leaves the caller's writable binary
    waiting inside the container."""
    ctr = container_dir(tmp_path)
    spec = memory_spec(bundle, "echo ran > /ran")
    cid, p = embed(embed_bin, runtime, bundle.rootfs, ctr, spec, "unguarded")
    assert p.returncode == 1
    assert "protected" not in p.stdout
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "binary is writable" in p.stderr and "Operation not permitted" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(bundle.rootfs, "ran"))
    assert not os.path.exists(os.path.join(runtime.root, cid))
