"""`nook volume create|ls|inspect|rm|prune` against a store of the test's
own (NOOK_STORE under tmp): what lands on disk, Docker's output shapes,
hostile names and a volume directory tampered with on disk (a _data or a
whole volume replaced by a symlink: removal unlinks, never follows), an
interrupted creation swept, parallel creates of one name. Every test
leaves the store's volumes directory empty."""
import json
import os
import subprocess
import concurrent.futures

import pytest


@pytest.fixture
def vol(engine_bin, tmp_path):
    store = tmp_path / "store"
    env = dict(os.environ, NOOK_STORE=str(store))

    def run(*args, check=True, input=None):
        r = subprocess.run([engine_bin, "volume", *args], env=env, capture_output=True,
                           text=True, timeout=60, input=input)
        if check and r.returncode != 0:
            pytest.fail(f"nook volume {' '.join(args)}: rc {r.returncode}: {r.stderr}")
        return r

    run.store = store
    run.vdir = store / "volumes"
    yield run
    # nothing left behind: only the lock file
    left = sorted(os.listdir(run.vdir)) if run.vdir.exists() else []
    assert left in ([], [".lock"]), f"left in the store: {left}"


def names(vol):
    return vol("ls", "-q").stdout.split()


def test_help_for_each_subcommand(vol):
    for sub in ("create", "ls", "inspect", "rm", "prune"):
        r = vol(sub, "--help")
        assert r.stdout.startswith(f"usage: nook volume {sub}"), r.stdout
    r = vol("frobnicate", check=False)
    assert r.returncode != 0 and "frobnicate" in r.stderr


def test_create_ls_inspect_rm(vol):
    r = vol("create", "--label", "team=web", "-l", "tier", "data")
    assert r.stdout == "data\n"
    data = vol.vdir / "data" / "_data"
    assert data.is_dir() and not data.is_symlink()
    meta = json.loads((vol.vdir / "data" / "volume.json").read_text())
    assert meta["name"] == "data" and meta["driver"] == "local"
    assert meta["labels"] == {"team": "web", "tier": ""}
    # idempotent, as Docker's
    assert vol("create", "data").stdout == "data\n"
    anon = vol("create").stdout.strip()
    assert len(anon) == 64 and all(c in "0123456789abcdef" for c in anon)
    assert sorted(names(vol)) == sorted(["data", anon])

    table = vol("ls").stdout.splitlines()
    assert table[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert ["local", "data"] in [line.split() for line in table[1:]]

    listed = json.loads(vol("ls", "--format", "json").stdout)
    assert {v["Name"] for v in listed} == {"data", anon}

    assert vol("ls", "-q", "--filter", "label=team=web").stdout.split() == ["data"]
    assert vol("ls", "-q", "--filter", "label=team=db").stdout.split() == []
    assert vol("ls", "-q", "-f", "name=dat").stdout.split() == ["data"]
    r = vol("ls", "--filter", "colour=red", check=False)
    assert r.returncode != 0 and "colour=red" in r.stderr

    [v] = json.loads(vol("inspect", "data").stdout)
    assert v["Name"] == "data" and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Mountpoint"] == str(data)
    assert v["Labels"] == {"team": "web", "tier": ""}
    assert v["CreatedAt"].endswith("Z")

    r = vol("inspect", "data", "nope", check=False)
    assert r.returncode == 1
    assert [x["Name"] for x in json.loads(r.stdout)] == ["data"]
    assert r.stderr.strip().splitlines() == ["nook: no such volume: nope"]

    # content written into a volume goes away with it
    (data / "f").write_text("x")
    (data / "d").mkdir()
    assert vol("rm", "data", anon).stdout.split() == ["data", anon]
    assert names(vol) == []
    r = vol("rm", "data", check=False)
    assert r.returncode == 1 and "no such volume: data" in r.stderr
    assert vol("rm", "-f", "data").returncode == 0


@pytest.mark.parametrize("name", ["/", "..", ".", "../../etc", "a/b", "x", ".lock", "-", "_a",
                                  "a" * 256, "sp ace", "tmp\n"])
def test_hostile_names(vol, tmp_path, name):
    before = set(os.listdir(tmp_path))
    for args in (("create", name), ("rm", "-f", name), ("inspect", name)):
        r = vol(*args, check=False)
        assert r.returncode != 0, args
        err = r.stderr.strip()
        assert len(err.splitlines()) == 1, err
        assert "invalid volume name" in err or "unknown shorthand" in err or "--" in err, err
    assert set(os.listdir(tmp_path)) == before
    if vol.vdir.exists():
        assert [e for e in os.listdir(vol.vdir) if e != ".lock"] == []


def test_data_symlink_is_not_followed(vol, tmp_path):
    # first a canary: _data pointing at a directory with content
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep").write_text("keep")
    vol("create", "c1")
    d = vol.vdir / "c1" / "_data"
    d.rmdir()
    d.symlink_to(canary)
    vol("rm", "c1")
    assert (canary / "keep").read_text() == "keep"
    assert not (vol.vdir / "c1").exists()

    # then what the brief names: _data a symlink to /
    vol("create", "root")
    d = vol.vdir / "root" / "_data"
    d.rmdir()
    d.symlink_to("/")
    vol("rm", "root")
    assert os.path.exists("/etc/passwd") and os.path.isdir("/usr/bin")
    assert not os.path.lexists(vol.vdir / "root")


def test_volume_dir_symlink(vol, tmp_path):
    canary = tmp_path / "canary"
    (canary / "_data").mkdir(parents=True)
    (canary / "volume.json").write_text('{"name": "lnk", "created": "x", "labels": {}}')
    vol("ls")  # makes the volumes directory
    (vol.vdir / "lnk").symlink_to(canary)
    # not listed, not inspectable, removable as the link it is
    assert "lnk" not in names(vol)
    assert vol("inspect", "lnk", check=False).returncode != 0
    vol("rm", "lnk")
    assert (canary / "volume.json").exists() and (canary / "_data").is_dir()
    assert not os.path.lexists(vol.vdir / "lnk")


def test_damaged_volume_json(vol):
    vol("create", "dmg")
    (vol.vdir / "dmg" / "volume.json").write_text('{"name": "dmg", "crea')  # truncated
    r = vol("inspect", "dmg", check=False)
    assert r.returncode != 0 and "dmg" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "dmg" not in names(vol)
    vol("rm", "dmg")


def test_interrupted_creation_is_swept(vol):
    vol("ls")
    stale = vol.vdir / ".tmp-deadbeef"
    (stale / "_data").mkdir(parents=True)
    stale_rm = vol.vdir / ".rm-0123"
    (stale_rm / "_data").mkdir(parents=True)
    (stale_rm / "_data" / "f").write_text("x")
    assert names(vol) == []  # staging is never a volume
    vol("create", "fresh")
    assert not stale.exists() and not stale_rm.exists()
    vol("rm", "fresh")


def test_prune(vol, engine_bin):
    vol("create", "named")
    # an anonymous volume, as `-v /path` makes them (Docker's label)
    vol("create", "-l", "com.docker.volume.anonymous=", "anon1")
    vol("create", "-l", "com.docker.volume.anonymous=", "-l", "keep=1", "anon2")
    # asking: "n" keeps everything
    r = vol("prune", input="n\n")
    assert "Are you sure" in r.stdout
    assert sorted(names(vol)) == ["anon1", "anon2", "named"]
    r = vol("prune", "-f", "--filter", "label=keep")
    assert r.stdout.split() == ["Deleted", "Volumes:", "anon2"]
    r = vol("prune", input="y\n")
    assert "anon1" in r.stdout.split()
    assert names(vol) == ["named"]
    vol("prune", "-a", "-f")
    assert names(vol) == []


def test_parallel_create_one_name(vol):
    vol("ls")
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: vol("create", "same", check=False), range(16)))
    assert all(r.returncode == 0 and r.stdout == "same\n" for r in results), \
        [r.stderr for r in results if r.returncode]
    assert names(vol) == ["same"]
    assert [e for e in os.listdir(vol.vdir) if e.startswith(".tmp-")] == []
    vol("rm", "same")


def test_bad_flags(vol):
    for args, needle in ((("create", "--driver", "nfs", "v1"), "nfs"),
                         (("create", "-o", "type=tmpfs", "v1"), "type=tmpfs"),
                         (("create", "--label", "=x", "v1"), "=x"),
                         (("create", "v1", "v2"), "v2"),
                         # a template (Docker's: `yaml` alone is text printed per volume)
                         (("ls", "--format", "{{.Name"), "{{.Name"),
                         (("inspect", "-f", "{{nofunc}}", "xx"), "\"nofunc\" not defined"),
                         (("rm",), "VOLUME"),
                         (("inspect",), "VOLUME")):
        r = vol(*args, check=False)
        assert r.returncode != 0, args
        assert needle in r.stderr, (args, r.stderr)
    assert names(vol) == []
