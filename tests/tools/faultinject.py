#!/usr/bin/env python3
"""Fault injection for nook's lifecycle: kill -9 at random points, then check
that `list` + `delete --force` find and remove everything.

Each try runs one command (create, start, run, exec or delete) against a
fresh container and SIGKILLs it, either after a random delay (seeded;
mostly within the command's run time, which its first three tries measure,
capped at --max-delay-ms: the first milliseconds, where create and run work)
or, with --strace, at its Nth syscall (strace -e inject=all:signal=SIGKILL:
when=N; N seeded over the command's syscall count). Then:

  1. `nook list --format json`: every container that left anything behind
     must be listed (an unlisted one is a leak whatever happens next);
  2. `nook delete --force` on every listed id (must exit 0);
  3. leak check: cgroup directories under the tool's own parent cgroup in
     every hierarchy, processes in those cgroups or carrying the tool's
     environment token (the init before and after its exec, nook-init, the
     container's process), mounts under the tool's work dir, entries left
     in the state root.

Containers use an absolute cgroupsPath under /nook-fi-<random>, a parent of
the tool's own, removed at the end. Prints one line per leaking try and a
summary: tried, killed (the command was still running), clean, leaks,
delete failures, and what leaked. Exit status 1 on any leak.

  faultinject.py --nook build/nook -n 200 --seed 1 --ops create,run
  faultinject.py --nook build/nook -n 2000 --strace --ops create,run,delete
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from toolslib import busybox_rootfs, cgroup_hierarchies, oci_face, spec_config

CG = "/sys/fs/cgroup"


def make_bundle(path, cgroup, token, args):
    busybox_rootfs(os.path.join(path, "rootfs"), ("proc", "dev", "sys", "tmp"),
                   ("sh", "true", "sleep"))
    return write_config(path, cgroup, token, args)


def write_config(path, cgroup, token, args):
    cfg = spec_config(NOOK, args)
    cfg["process"]["env"] = cfg["process"].get("env", []) + [f"NOOK_FI={token}"]
    cfg["linux"]["cgroupsPath"] = cgroup
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)


def summarize(problems):
    """One line: cgroups shortened to their path and the hierarchies holding it."""
    cgs, rest = {}, []
    for kind, what in problems:
        if kind == "cgroup":
            parts = what[len(CG) + 1:].split("/", 1)
            cgs.setdefault("/" + parts[1], []).append(parts[0])
        else:
            rest.append(f"{kind} {what}")
    rest += [f"cgroup {p} in {len(h)} hierarchies ({','.join(sorted(h))})"
             for p, h in sorted(cgs.items())]
    return "; ".join(rest)


class Injector:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.token = f"fi{os.getpid()}x{random.Random().getrandbits(32):08x}"
        self.parent = f"/nook-fi-{self.token}"
        self.work = tempfile.mkdtemp(prefix="nook-fi-", dir=a.workdir)
        self.root = os.path.join(self.work, "state")
        self.env = dict(os.environ, NOOK_FI=self.token)
        self.bundles = {}
        self.profiles = {}
        self.durations = {}
        self.stats = {"tried": 0, "killed": 0, "clean": 0, "leaks": 0, "delete_failed": 0}
        self.leak_kinds = {}
        self.by_op = {}
        self.n = 0

    def bundle(self, kind):
        """One bundle per process kind; cgroupsPath is per container, so the
        config is rewritten for each try (cheap: one small file)."""
        if kind not in self.bundles:
            path = os.path.join(self.work, f"b-{kind}")
            os.makedirs(path)
            make_bundle(path, self.parent + "/x", self.token,
                        ["true"] if kind == "true" else ["sleep", "1000"])
            self.bundles[kind] = path
        return self.bundles[kind]

    def set_cgroup(self, b, cid):
        p = os.path.join(b, "config.json")
        with open(p) as f:
            cfg = json.load(f)
        cfg["linux"]["cgroupsPath"] = f"{self.parent}/{cid}"
        with open(p, "w") as f:
            json.dump(cfg, f)

    def nook(self, *args, timeout=30):
        """Output through temp files: a created container inherits nook's
        stdio and would hold a pipe open."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run([NOOK, "--root", self.root, *args], stdout=out, stderr=err,
                               text=True, env=self.env, timeout=timeout, stdin=subprocess.DEVNULL)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        return p

    def delay(self, op):
        """Most kills while the command works: within its measured run time
        (its median so far, capped at --max-delay-ms), some up to three
        times that cap, after it may have finished."""
        hi = self.a.max_delay_ms
        took = sorted(self.durations.get(op, []))
        work = min(hi, 1.1 * 1000 * took[len(took) // 2]) if took else hi
        d = self.rng.uniform(0, work) if self.rng.random() < 0.85 else self.rng.uniform(0, hi * 3)
        return d / 1000.0

    def kill_at(self, argv):
        """Run argv; SIGKILL it after a random delay or at a random syscall.
        Returns True if it was still running when killed."""
        full = [NOOK, "--root", self.root, *argv]
        if self.a.strace:
            seq = self.profiles.get(argv[0])
            if seq is None:  # this try profiles the command: which syscalls, in order
                self.profiles[argv[0]] = self.profile(full)
                return False
            # A syscall of the sequence at random: its name, and which call
            # of that name it is (strace counts each syscall on its own).
            i = self.rng.randrange(len(seq))
            name, k = seq[i], seq[: i + 1].count(seq[i])
            full = ["strace", "-o", "/dev/null", "-e", f"trace={name}",
                    "-e", f"inject={name}:signal=SIGKILL:when={k}", *full]
            with tempfile.TemporaryFile() as err:
                p = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=err, env=self.env,
                                   timeout=30, stdin=subprocess.DEVNULL)
            return p.returncode in (-9, 137)
        took = self.durations.setdefault(argv[0], [])
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, env=self.env)
        if len(took) < 3:  # the first tries of a command time it instead
            p.wait()
            took.append(time.perf_counter() - t0)
            return False
        time.sleep(self.delay(argv[0]))
        killed = p.poll() is None
        p.send_signal(signal.SIGKILL)
        p.wait()
        return killed and p.returncode == -9

    def profile(self, full):
        """The syscalls nook makes for this command (its own, not its
        children's), in order."""
        with tempfile.NamedTemporaryFile("r") as log:
            subprocess.run(["strace", "-o", log.name, *full], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=self.env, timeout=60,
                           stdin=subprocess.DEVNULL)
            names = [m.group(1) for m in map(re.compile(r"^(\w+)\(").match, log) if m]
        if not names:
            raise RuntimeError(f"strace saw no syscalls of {' '.join(full)}")
        return names

    def new_id(self, op):
        self.n += 1
        return f"fi-{op}-{self.n}"

    def try_once(self, op):
        cid = self.new_id(op)
        if op == "create":
            b = self.bundle("sleep")
            self.set_cgroup(b, cid)
            return self.kill_at(["create", "--bundle", b, cid])
        if op == "run":
            b = self.bundle("true")
            self.set_cgroup(b, cid)
            return self.kill_at(["run", "--bundle", b, cid])
        b = self.bundle("sleep")
        self.set_cgroup(b, cid)
        if self.nook("create", "--bundle", b, cid).returncode != 0:
            return False
        if op == "start":
            return self.kill_at(["start", cid])
        if self.nook("start", cid).returncode != 0:
            return False
        if op == "exec":
            return self.kill_at(["exec", cid, "true"])
        if op == "delete":
            return self.kill_at(["delete", "--force", cid])
        raise ValueError(op)

    def listed(self):
        p = self.nook("list", "--format", "json")
        if p.returncode != 0:
            return None, f"list exited {p.returncode}: {p.stderr.strip()}"
        return [c["id"] for c in json.loads(p.stdout or "[]")], None

    def leaks(self):
        found = []
        for h in cgroup_hierarchies(CG):
            d = h + self.parent
            if os.path.isdir(d):
                for base, dirs, _ in os.walk(d):
                    for x in dirs:
                        found.append(("cgroup", os.path.join(base, x)))
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/cgroup") as f:
                    cg = f.read()
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read()
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if self.parent + "/" in cg or f"NOOK_FI={self.token}".encode() in env.split(b"\0"):
                found.append(("process", f"{pid} {comm}"))
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if self.work in line.split()[4]:
                    found.append(("mount", line.split()[4]))
        if os.path.isdir(self.root):
            for e in os.listdir(self.root):
                found.append(("state", e))
        return found

    def check(self):
        ids, err = self.listed()
        problems = []
        if err:
            problems.append(("list", err))
            ids = []
        for cid in ids:
            p = self.nook("delete", "--force", cid)
            if p.returncode != 0:
                self.stats["delete_failed"] += 1
                problems.append(("delete", f"{cid}: exit {p.returncode}: {p.stderr.strip()}"))
        # Processes can take a moment to be reaped after the cgroup kill.
        for _ in range(50):
            left = self.leaks()
            if not left:
                break
            time.sleep(0.02)
        problems += left
        return problems

    def cleanup_leaks(self):
        """Remove what a leaking try left so the next try starts clean."""
        for _ in range(3):
            for h in cgroup_hierarchies(CG):
                d = h + self.parent
                if not os.path.isdir(d):
                    continue
                for base, dirs, _ in sorted(os.walk(d), key=lambda w: -len(w[0])):
                    for x in dirs:
                        path = os.path.join(base, x)
                        try:
                            with open(os.path.join(path, "cgroup.procs")) as f:
                                for pid in f.read().split():
                                    os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
                        try:
                            os.rmdir(path)
                        except OSError:
                            pass
            time.sleep(0.05)
        if os.path.isdir(self.root):
            shutil.rmtree(self.root, ignore_errors=True)

    def run(self):
        ops = self.a.ops.split(",")
        t0 = time.time()
        for i in range(self.a.n):
            op = ops[i % len(ops)] if self.a.round_robin else self.rng.choice(ops)
            st = self.by_op.setdefault(op, {"tried": 0, "killed": 0, "leaks": 0})
            self.stats["tried"] += 1
            st["tried"] += 1
            killed = self.try_once(op)
            self.stats["killed"] += killed
            st["killed"] += killed
            problems = self.check()
            if problems:
                self.stats["leaks"] += 1
                st["leaks"] += 1
                for kind, what in problems:
                    self.leak_kinds[kind] = self.leak_kinds.get(kind, 0) + 1
                print(f"LEAK try {i} op={op}: {summarize(problems)}", flush=True)
                self.cleanup_leaks()
            else:
                self.stats["clean"] += 1
        self.elapsed = time.time() - t0

    def finish(self):
        self.cleanup_leaks()
        for h in cgroup_hierarchies(CG):
            try:
                os.rmdir(h + self.parent)
            except OSError:
                pass
        shutil.rmtree(self.work, ignore_errors=True)

    def report(self):
        s = self.stats
        mode = "strace syscall" if self.a.strace else f"delay 0-{self.a.max_delay_ms} ms"
        print(f"faultinject: seed {self.a.seed}, {mode}, {self.elapsed:.1f} s: tried {s['tried']}, "
              f"killed while running {s['killed']}, clean {s['clean']}, leaks {s['leaks']}, "
              f"delete --force failures {s['delete_failed']}")
        for op, st in sorted(self.by_op.items()):
            print(f"  {op:<7} tried {st['tried']:>5}  killed {st['killed']:>5}  leaks {st['leaks']}")
        if self.leak_kinds:
            print("  leaked: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.leak_kinds.items())))


def main():
    global NOOK
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nook", default=os.environ.get("NOOK_BIN", "build/nook"))
    ap.add_argument("-n", type=int, default=200, help="tries")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ops", default="create,run,start,exec,delete")
    ap.add_argument("--round-robin", action="store_true", help="ops in turn, not at random")
    ap.add_argument("--max-delay-ms", type=float, default=20.0)
    ap.add_argument("--strace", action="store_true", help="kill at a random syscall instead")
    ap.add_argument("--workdir", default="/run" if os.path.isdir("/run") else None)
    a = ap.parse_args()
    NOOK = oci_face(a.nook)
    if os.geteuid() != 0:
        sys.exit("faultinject: needs root")
    fi = Injector(a)
    try:
        fi.run()
    finally:
        fi.finish()
    fi.report()
    return 1 if fi.stats["leaks"] else 0


NOOK = None
if __name__ == "__main__":
    sys.exit(main())
