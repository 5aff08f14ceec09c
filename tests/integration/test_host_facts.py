"""One source for each host fact (issue 12 items 5, 6): `features` generated
from the parser's tables, one container-id rule, the cgroup hierarchies a
container sees taken from the same parse the cgroup module made."""
import json
import os

from conftest import default_config  # noqa: F401  (fixtures come from conftest)


def test_features_lists_what_the_parser_takes(runtime, bundle):
    f = json.loads(runtime.run("features").stdout)
    opts = f["mountOptions"]
    # In mountopts.c's table; the hand-written list had drifted from it.
    assert {"iversion", "noiversion", "copy-symlink"} <= set(opts)
    # Filesystem data, passed to the filesystem: tmpfs refuses "acl".
    assert "acl" not in opts and "noacl" not in opts
    assert opts == sorted(opts)
    # Every listed option really is taken as an option by the binary: a tmpfs
    # refuses any data it does not know, so an option misread as data fails.
    skip = {"bind", "rbind", "idmap", "ridmap", "remount", "copy-symlink", "mand"}
    usable = [o for o in opts if o not in skip]
    bundle.config["mounts"] += [
        {"destination": f"/o{i}", "type": "tmpfs", "source": "tmpfs", "options": [o]}
        for i, o in enumerate(usable)]
    out = runtime.output(bundle, "/bin/sh", "-c", "echo ok")
    assert out.strip() == "ok"


def test_container_id_rule(runtime, bundle):
    bundle.write()
    long_id = "a" * 256
    p = runtime.run("create", "--bundle", bundle.path, long_id, check=False)
    assert p.returncode != 0
    line = p.stderr.strip().splitlines()[-1]
    assert "invalid container id" in line and "longer than 255 bytes" in line, line
    # A validation error: no errno text appended.
    assert not line.endswith("Invalid argument") and not line.endswith("File name too long"), line
    assert not os.path.exists(os.path.join(runtime.root, long_id))
    p = runtime.run("create", "--bundle", bundle.path, "bad/id", check=False)
    assert p.returncode != 0 and "only [A-Za-z0-9_.+-] allowed" in p.stderr
    assert not p.stderr.strip().endswith("Invalid argument"), p.stderr
