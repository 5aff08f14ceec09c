#!/usr/bin/python3
"""Time commands in interleaved rounds: each round runs every command once,
in a fresh random order, so a machine whose load drifts during the
benchmark slows all of them alike (hyperfine runs one command's series
after the other's). Prints JSON: per command the median and quartiles of
the wall times, in seconds.

  interleave.py ROUNDS OUT.json NAME 'COMMAND' [NAME 'COMMAND' ...]"""
import json
import random
import shlex
import statistics
import subprocess
import sys
import time

rounds, out = int(sys.argv[1]), sys.argv[2]
cmds = dict(zip(sys.argv[3::2], (shlex.split(c) for c in sys.argv[4::2])))
times = {name: [] for name in cmds}
for r in range(rounds + 3):  # three warm-up rounds, not counted
    order = list(cmds)
    random.shuffle(order)
    for name in order:
        t = time.perf_counter()
        subprocess.run(cmds[name], stdout=subprocess.DEVNULL, check=True)
        if r >= 3:
            times[name].append(time.perf_counter() - t)
res = {}
for name, ts in times.items():
    q = statistics.quantiles(ts, n=4)
    res[name] = {"median": statistics.median(ts), "q1": q[0], "q3": q[2], "n": len(ts)}
json.dump(res, open(out, "w"))
