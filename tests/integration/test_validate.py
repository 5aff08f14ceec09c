"""Hostile and careless input (issue 11 items 3, 8, 10, 18): ids that mean
"unchanged" to set*id, duplicate keys, a missing process.user, a non-proc
/proc, one-line errors, unusable --log paths, and container states of any
size reaching the hooks whole."""
import json
import os
import subprocess

import pytest


def _hook_script(path, log):
    path.write_text("#!/bin/sh\nprintf '%s ' \"$1\" >> " + str(log) + "\ncat >> " + str(log) +
                    "\necho >> " + str(log) + "\n")
    path.chmod(0o755)


@pytest.mark.parametrize("size", [6 * 1024, 200 * 1024])
def test_hooks_get_whole_state_of_any_size(runtime, bundle, tmp_path, size):
    # The state went through a fixed 4,000-byte sync message: a
    # createContainer hook got cut-off, invalid JSON.
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.sh"
    _hook_script(hook, log)
    # startContainer runs in the container: the same script at the same path.
    os.makedirs(bundle.rootfs + str(tmp_path), exist_ok=True)
    _hook_script(type(tmp_path)(bundle.rootfs + str(hook)), log)
    big = {f"org.example.k{i}": "v" * 100 + str(i) for i in range(size // 120)}
    bundle.config["annotations"] = big
    bundle.config["hooks"] = {n: [{"path": str(hook), "args": ["hook.sh", n]}]
                              for n in ("createRuntime", "createContainer", "startContainer")}
    bundle.args("true").write()
    cid = runtime.new_id()
    runtime.run("create", "--bundle", bundle.path, cid)
    runtime.run("start", cid)
    runtime.wait_status(cid, "stopped")
    runtime.run("delete", cid)
    states = {}
    for text in (log.read_text(), open(bundle.rootfs + str(log)).read()):
        for line in text.splitlines():
            if line.strip():
                name, js = line.split(" ", 1)
                states[name] = json.loads(js)  # whole and valid
    assert set(states) == {"createRuntime", "createContainer", "startContainer"}
    for name, st in states.items():
        assert st["annotations"] == big, name
        assert st["id"] == cid
    assert states["createRuntime"]["status"] == "creating"
    assert states["createContainer"]["status"] == "creating"
    # `start` was called: the container is created (it said creating).
    assert states["startContainer"]["status"] == "created"
