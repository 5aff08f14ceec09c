"""The config mutation fuzzer (tests/tools/mutate_config.py) with a fixed
seed: a few hundred mutated configs through create/start/delete and run;
any crash, hang, leak, lifecycle failure or empty/multi-line error fails.
Run it by hand with other seeds and larger counts."""
import json
import os
import subprocess
import sys

TOOL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools",
                    "mutate_config.py")


def test_config_mutations_fixed_seed(nook_bin, tmp_path):
    p = subprocess.run([sys.executable, TOOL, "--nook", nook_bin, "--seed", "11",
                        "--count", "300", "--out", str(tmp_path / "findings"), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert p.stdout.strip(), p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    counts = {k: v for k, v in summary.items() if k != "findings"}
    print(counts)
    assert counts["tried"] == 300
    assert counts["clean errors"] + counts["accepted"] == 300, summary["findings"][:5]
    for k in ("crashes", "hangs", "leaks", "bad errors", "lifecycle"):
        assert counts[k] == 0, (k, summary["findings"][:5])
    # both outcomes are exercised: not everything is refused
    assert counts["accepted"] > 10 and counts["clean errors"] > 100
    assert p.returncode == 0
