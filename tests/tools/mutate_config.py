#!/usr/bin/env python3
"""Config mutation fuzzer for nook, run against the real binary (as root).

    mutate_config.py --seed N --count K [--nook BIN] [--out DIR] [--case I]

Each case mutates a valid config.json (types changed, fields deleted, huge,
negative, -1, 2^31, 2^63 numbers, long and control-character strings,
symlinked and `..` paths, duplicate keys, unknown fields, nested garbage,
broken JSON text) and drives it through `nook create/start/delete` or
`nook run` with a throwaway --root and bundle. Case I of seed N is the same
on every run (`--case I` replays one).

Every case is classified:
  clean error  non-zero exit with exactly one `nook...` error line on stderr
  accepted     the container was created, ran and was deleted
and these are findings (the exit code is 1 when there is any):
  crash        nook died of a signal, or a sanitizer report
  hang         a command did not finish within --timeout
  leak         a state dir, mount, cgroup or process left after the case
  bad error    non-zero exit with an empty or multi-line error
  lifecycle    an accepted container that `start` or `delete` then failed on

Leaks are cleaned up after being counted (delete -f, kill, umount, rmdir).
cgroupsPath is always absolute under a parent of the fuzzer's own
(/nook-fuzz-<pid>), removed at the end; mutations never point hooks,
namespace paths or sysctls at anything that could change the host.
"""
import argparse
import ctypes
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from toolslib import busybox_rootfs, cgroup_hierarchies, oci_face, spec_config

PR_SET_CHILD_SUBREAPER = 36

# ---- interesting values --------------------------------------------------

NUMBERS = [0, 1, -1, 2, 7, 255, 256, 511, 512, 1000, 4095, 4096, 65534, 65535, 65536,
           2**31 - 1, 2**31, -2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, -2**63,
           2**63, 2**64 - 1, 2**64, -2**64, 10**30, 0.5, -0.0, 1e308, -1e308, 3.0]

STRINGS = ["", " ", "a", "0", "-1", "4294967295", "true", "null", "/", "//", "/.", "/..",
           "..", "../../../../..", "/../../../../etc", "/tmp/../..", "/proc", "/proc/self",
           "/proc/self/root", "/proc/1/root", "/proc/sys", "/sys", "/sys/fs/cgroup", "/dev",
           "/dev/null", "/dev/../..", "/etc/passwd", "/p", "/p/sys", "/escape", "/escape/etc",
           "/loop", "/dangling", "/abs", "/abs/passwd", "relative/path", "./x", "a\nb",
           "a\tb", "\r\n", "\x01\x02\x1b[31m", "\x7f", "a\x00b", "\u2028\u2029", "\ud7ff\ue000",
           "\u00e9\u00e8", "\U0001f600", "%s%n%x%p", "a,b=c", "rbind", "ro", "bind",
           "rshared", "size=1k", "mode=4777", "uid=4294967295", "CAP_SYS_ADMIN", "CAP_BOGUS",
           "SCMP_ACT_ALLOW", "SCMP_ACT_KILL", "RLIMIT_NOFILE", "RLIMIT_BOGUS", "proc", "tmpfs",
           "sysfs", "cgroup", "cgroup2", "mqueue", "devpts", "overlay", "none", "pid",
           "network", "mount", "user", "cgroup", "time", "ipc", "uts", "c", "b", "u", "p",
           "*", "rwm", "x" * 256, "y" * 4097, "/" + "z/" * 2100, "a" * 70000]

LINE_BREAKERS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1b[2J", "\x1c", "\x85", "\u2028",
                 "\u2029", "\x00", "\x7f", "\x9b"]

KEYS = ["xUnknown", "", "process", "user", "uid", "type", "path", "options", "\u0000",
        "a.b", "a\nb", "annotations", "linux", "k" * 300]

# Paths in the test rootfs (made by make_rootfs) that lead somewhere else.
ROOTFS_LINKS = {"p": "/proc", "escape": "../../../../../..", "loop": "loop",
                "dangling": "/nonexistent/x", "abs": "/etc", "devnull": "/dev/null"}

SAFE_HOOK_PATHS = ["/bin/true", "/bin/false", "/nonexistent/hook", "relative", "/",
                   "/dev/null", "/tmp"]


class Raw:
    """Text put into the JSON document as it is (deep nesting, broken bits)."""

    def __init__(self, text):
        self.text = text


class Dup:
    """An object key given twice: first `first`, then the real value."""

    def __init__(self, first, value):
        self.first = first
        self.value = value


def dumps(v):
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, Dup):  # moved out of its object: just the value
        return dumps(v.value)
    if isinstance(v, dict):
        parts = []
        for k, x in v.items():
            if isinstance(x, Dup):
                parts.append(json.dumps(k) + ": " + dumps(x.first))
                x = x.value
            parts.append(json.dumps(k) + ": " + dumps(x))
        return "{" + ", ".join(parts) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(dumps(x) for x in v) + "]"
    if isinstance(v, float) and v != v:
        return "0"
    return json.dumps(v)


# ---- mutations -------------------------------------------------------------

def rand_value(r, depth=0):
    k = r.random()
    if k < 0.35:
        return r.choice(NUMBERS)
    if k < 0.55:
        return r.choice(STRINGS)
    if k < 0.7:  # a string with a line-breaking or control character inside
        v = r.choice(STRINGS[:60])
        i = r.randint(0, len(v))
        return v[:i] + r.choice(LINE_BREAKERS) + v[i:]
    if k < 0.75:
        return r.choice([None, True, False])
    if k < 0.82 and depth < 4:
        return [rand_value(r, depth + 1) for _ in range(r.randint(0, 4))]
    if k < 0.89 and depth < 4:
        return {r.choice(KEYS + STRINGS[:20]): rand_value(r, depth + 1)
                for _ in range(r.randint(0, 4))}
    if k < 0.93:
        n = r.choice([10, 100, 1000, 2047, 2049, 5000])
        o, c = r.choice([("[", "]"), ('{"a":', "}")])
        return Raw(o * n + "1" + c * n)
    if k < 0.96:
        return [r.choice(NUMBERS) for _ in range(r.choice([100, 1000, 10000]))]
    return r.choice(STRINGS) * r.randint(1, 3)


def nodes(v, path=()):
    """Every (path, value) of the tree down to depth 64, containers included."""
    yield path, v
    if len(path) >= 64:
        return
    if isinstance(v, dict):
        for k, x in v.items():
            yield from nodes(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from nodes(x, path + (i,))


def get_parent(cfg, path):
    cur = cfg
    for p in path[:-1]:
        cur = cur[p]
    return cur


def domain_mutation(r, cfg):
    """Additions shaped like real config parts, with hostile values."""
    if not isinstance(cfg.get("linux"), dict):
        cfg["linux"] = {}
    linux = cfg["linux"]
    choice = r.randrange(12)
    if choice == 0:
        mounts = cfg.setdefault("mounts", []) if isinstance(cfg.get("mounts"), list) else []
        m = {"destination": r.choice(STRINGS[:40] + ["/mnt", "/p", "/proc", "/proc/sys",
                                                     "/escape/x", "/dangling", "/abs"]),
             "type": r.choice(["tmpfs", "bind", "proc", "sysfs", "mqueue", "devpts", "none",
                               "cgroup", "cgroup2", "bogusfs", "ramfs", None]),
             "source": r.choice(["tmpfs", "/tmp", "/", "/proc", "/dev/null", "/etc/hostname",
                                 "/nonexistent", "relative", "none", "/sys/fs/cgroup"]),
             "options": r.sample(["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec",
                                  "rprivate", "rshared", "rslave", "size=1k", "mode=4777",
                                  "uid=4294967295", "gid=-1", "idmap", "ridmap", "tmpcopyup",
                                  "copy-symlink", "frobnicate", "nr_inodes=0", "", "=",
                                  "rro", "rnoexec", "recursive"], r.randint(0, 5))}
        if r.random() < 0.3:
            m["uidMappings"] = [{"containerID": r.choice(NUMBERS), "hostID": r.choice(NUMBERS),
                                 "size": r.choice(NUMBERS)}]
            m["gidMappings"] = m["uidMappings"]
        mounts.insert(r.randint(0, len(mounts)), m)
    elif choice == 1:
        ns = linux.setdefault("namespaces", []) if isinstance(linux.get("namespaces"), list) else []
        e = {"type": r.choice(["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
                               "bogus", ""])}
        if r.random() < 0.3:  # never the host's: only garbage paths
            e["path"] = r.choice(["/nonexistent/ns", "relative", "/dev/null", "/proc/self/ns/bogus",
                                  "/tmp", ""])
        ns.append(e)
    elif choice == 2:
        user = cfg.get("process", {}).get("user") if isinstance(cfg.get("process"), dict) else None
        if isinstance(user, dict):
            user[r.choice(["uid", "gid", "umask"])] = r.choice(NUMBERS)
            if r.random() < 0.5:
                user["additionalGids"] = [r.choice(NUMBERS) for _ in range(r.randint(0, 70))]
    elif choice == 3:
        m = r.choice(["uidMappings", "gidMappings"])
        linux[m] = [{"containerID": r.choice(NUMBERS), "hostID": r.choice(NUMBERS),
                     "size": r.choice(NUMBERS)} for _ in range(r.choice([1, 2, 341]))]
    elif choice == 4:
        # sysctl names that do not exist (or are garbage): never a real knob
        linux["sysctl"] = {r.choice(["net.fuzz_nonexistent", "net/../../x", "kernel.fuzz",
                                     "net." + "a" * 300, "a\nb", "", ".", "net..x"]):
                           r.choice(STRINGS[:20])}
    elif choice == 5:
        devs = linux.setdefault("devices", []) if isinstance(linux.get("devices"), list) else []
        devs.append({"path": r.choice(["/dev/fuzz", "/dev/../x", "/p/x", "/dev/null", "/abs/d",
                                       "dev/rel", "/dev/" + "d" * 300]),
                     "type": r.choice(["c", "b", "u", "p", "x", ""]),
                     "major": r.choice(NUMBERS), "minor": r.choice(NUMBERS),
                     "fileMode": r.choice(NUMBERS), "uid": r.choice(NUMBERS),
                     "gid": r.choice(NUMBERS)})
    elif choice == 6:
        hooks = cfg.setdefault("hooks", {}) if isinstance(cfg.get("hooks"), dict) else {}
        kind = r.choice(["prestart", "createRuntime", "createContainer", "startContainer",
                         "poststart", "poststop", "bogus"])
        hooks.setdefault(kind, []).append({"path": r.choice(SAFE_HOOK_PATHS),
                                           "args": [r.choice(STRINGS[:30])],
                                           "timeout": r.choice(NUMBERS)})
    elif choice == 7:
        res = linux.setdefault("resources", {}) if isinstance(linux.get("resources"), dict) else {}
        group = r.choice(["memory", "cpu", "pids", "blockIO", "hugepageLimits", "devices",
                          "network", "rdma", "unified"])
        if group == "memory":
            res["memory"] = {r.choice(["limit", "reservation", "swap", "kernel", "swappiness"]):
                             r.choice(NUMBERS)}
        elif group == "cpu":
            res["cpu"] = {r.choice(["shares", "quota", "period", "realtimeRuntime", "cpus",
                                    "mems", "idle"]): r.choice(NUMBERS + STRINGS[:30])}
        elif group == "pids":
            res["pids"] = {"limit": r.choice(NUMBERS)}
        elif group == "devices":
            res["devices"] = [{"allow": r.choice([True, False, 1]), "type": r.choice("abcx"),
                               "major": r.choice(NUMBERS), "access": r.choice(["rwm", "", "z"])}]
        elif group == "unified":
            res["unified"] = {r.choice(["pids.max", "memory.max", "../x", "cgroup.procs",
                                        "a\nb", "cpu.weight"]): r.choice(STRINGS[:20])}
        else:
            res[group] = rand_value(r)
    elif choice == 8:
        proc = cfg.get("process")
        if isinstance(proc, dict):
            proc["rlimits"] = [{"type": r.choice(["RLIMIT_NOFILE", "RLIMIT_CPU", "RLIMIT_BOGUS",
                                                  "RLIMIT_NPROC", ""]),
                                "soft": r.choice(NUMBERS), "hard": r.choice(NUMBERS)}]
    elif choice == 9:
        linux["cgroupsPath"] = r.choice(["c", "/c/", "//c", "/c/../d", "/c/./d", "/c\nd", "/c d",
                                         "/" + "l" * 300, "/c/cgroup.procs", "/c/tasks",
                                         "/c/" + "d/" * 40, "", "/"])
    elif choice == 10:
        linux[r.choice(["maskedPaths", "readonlyPaths"])] = [
            r.choice(STRINGS[:50]) for _ in range(r.randint(1, 5))]
    else:
        sec = linux.setdefault("seccomp", {}) if isinstance(linux.get("seccomp"), dict) else {}
        sec["defaultAction"] = r.choice(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_BOGUS",
                                         "SCMP_ACT_KILL_PROCESS", ""])
        sec["syscalls"] = [{"names": [r.choice(["read", "bogus", "", "x" * 300, "clone"])],
                            "action": r.choice(["SCMP_ACT_ERRNO", "SCMP_ACT_NOTIFY", "bad"]),
                            "errnoRet": r.choice(NUMBERS),
                            "args": [{"index": r.choice(NUMBERS), "value": r.choice(NUMBERS),
                                      "op": r.choice(["SCMP_CMP_EQ", "SCMP_CMP_BOGUS"])}]}]
        if r.random() < 0.3:
            sec["listenerPath"] = r.choice(["/nonexistent/sock", "", "rel"])


def mutate(r, cfg):
    """Apply 1-4 mutations; returns a list of what was done."""
    done = []
    for _ in range(r.choice([1, 1, 1, 2, 2, 3, 4])):
        all_nodes = [(p, v) for p, v in nodes(cfg) if p]
        k = r.random()
        if k < 0.3 or not all_nodes:
            domain_mutation(r, cfg)
            done.append("domain")
            continue
        path, v = r.choice(all_nodes)
        parent = get_parent(cfg, path)
        key = path[-1]
        if k < 0.45:  # delete
            del parent[key]
            done.append(f"delete {path}")
        elif k < 0.75:  # replace with another type or value
            parent[key] = rand_value(r)
            done.append(f"replace {path}")
        elif k < 0.82 and isinstance(parent, dict):  # duplicate key
            parent[key] = Dup(rand_value(r), v)
            done.append(f"duplicate {path}")
        elif k < 0.9:  # unknown field / extra element
            if isinstance(v, dict):
                v[r.choice(KEYS)] = rand_value(r)
            elif isinstance(v, list):
                v.append(rand_value(r))
            else:
                parent[key] = [v, rand_value(r)] if r.random() < 0.5 else {"v": v}
            done.append(f"extend {path}")
        else:  # move a subtree elsewhere
            src_path, src = r.choice(all_nodes)
            text = dumps(src)
            # a copy (never a reference: no cycles); deep Raw nesting stays text
            parent[key] = Raw(text) if text.count("[") + text.count("{") > 40 else json.loads(text)
            done.append(f"copy {src_path} to {path}")
    return done


def text_mutation(r, text):
    """Rarely: break the JSON text itself."""
    k = r.random()
    if k < 0.25:
        return text[:r.randint(0, len(text))], "truncate"
    if k < 0.45:
        i = r.randint(0, len(text))
        return text[:i] + r.choice(["\x00", "\ufeff", ",", "}", "\\", "\"", "\udcff"]) + \
            text[i:], "insert byte"
    if k < 0.6:
        return "\ufeff" + text, "BOM"
    if k < 0.75:
        return text + r.choice(["", "\n", " {}", "garbage", "\x00"]), "trailing"
    return text.replace(":", "::", 1), "double colon"


# ---- the rootfs, the runner, the leak checks -------------------------------

def make_rootfs(dest):
    busybox_rootfs(dest, ("etc", "proc", "sys", "dev", "tmp", "mnt", "root"),
                   ("true", "false", "sh"))
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")
    for name, target in ROOTFS_LINKS.items():
        os.symlink(target, os.path.join(dest, name))


def base_config(nook, parent):
    cfg = spec_config(nook, ["/bin/true"])
    cfg["root"] = {"path": "rootfs", "readonly": False}
    cfg.setdefault("linux", {})["cgroupsPath"] = parent + "/c"
    return cfg


def mounts_under(prefixes):
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape", "replace")
            if any(mp.startswith(p) or p in mp for p in prefixes):
                found.append(mp)
    return found


def reap():
    """Collect exited orphans (container inits re-parented to us)."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def child_pids():
    """Live children: an orphaned container process that outlived its case."""
    reap()
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def rm_cgroup_tree(path):
    """Remove a cgroup directory tree, deepest first (killing what is in it)."""
    if not os.path.isdir(path):
        return
    for base, dirs, _files in os.walk(path, topdown=False):
        for fname in ("cgroup.procs",):
            try:
                with open(os.path.join(base, fname)) as f:
                    for pid in f.read().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
            except OSError:
                pass
        for _ in range(50):
            try:
                os.rmdir(base)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)


class Fuzzer:
    def __init__(self, args):
        self.nook = oci_face(args.nook)
        self.timeout = args.timeout
        self.seed = args.seed
        self.out = args.out
        self.verbose = args.verbose
        self.work = tempfile.mkdtemp(prefix="nook-fuzz-")
        self.parent = f"/nook-fuzz-{os.getpid()}"
        self.root = os.path.join(self.work, "state")
        self.bundle = os.path.join(self.work, "bundle")
        os.makedirs(self.bundle)
        make_rootfs(os.path.join(self.bundle, "rootfs"))
        self.base = base_config(self.nook, self.parent)
        self.cg_mounts = cgroup_hierarchies()
        self.counts = {k: 0 for k in ("tried", "clean errors", "accepted", "crashes", "hangs",
                                      "leaks", "bad errors", "lifecycle")}
        self.findings = []
        libc = ctypes.CDLL(None, use_errno=True)
        # Orphaned container processes become our children: a leak is seen.
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    # -- running nook --
    def nook_cmd(self, *args, timeout=None):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.Popen([self.nook, "--root", self.root, *args], stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=err, start_new_session=True)
            hung = False
            try:
                p.wait(timeout=timeout or self.timeout)
            except subprocess.TimeoutExpired:
                hung = True
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
            err.seek(0)
            stderr = err.read().decode("utf-8", "backslashreplace")
        return p.returncode, stderr, hung

    @staticmethod
    def sanitizer(stderr):
        return any(s in stderr for s in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                                         "UndefinedBehaviorSanitizer", "Segmentation fault",
                                         "stack smashing"))

    @staticmethod
    def error_lines(stderr):
        lines = stderr.splitlines()
        errs = [l for l in lines if l.startswith("nook") and not l.startswith("nook: warning:")
                and not l.startswith("nook: debug:")]
        cont = [l for l in lines if not l.startswith("nook")]
        return errs, cont

    def judge_error(self, rc, stderr, hung, what, strict=True):
        """None if the command was fine (rc 0); else the class it falls in."""
        if hung:
            return "hangs"
        if rc < 0 or self.sanitizer(stderr):
            return "crashes"
        if rc == 0:
            return None
        errs, cont = self.error_lines(stderr)
        if len(errs) == 1 and errs[0].split(":", 1)[-1].strip() and (not strict or not cont):
            return "clean errors"
        return "bad errors"

    # -- leak checks --
    def leaks(self, cid, cfg):
        found = []
        if os.path.isdir(self.root) and os.listdir(self.root):
            found.append(f"state {os.listdir(self.root)}")
        cg_paths = [self.parent, "/nook/" + cid]
        cp = cfg.get("linux", {}).get("cgroupsPath") if isinstance(cfg.get("linux"), dict) else None
        if isinstance(cp, str) and cp.startswith("/") and ".." not in cp and "\0" not in cp:
            cg_paths.append(cp)
        for m in self.cg_mounts:
            for rel in cg_paths:
                d = os.path.normpath(m + "/" + rel)
                if not d.startswith(m + "/") or not os.path.isdir(d):
                    continue
                if rel == self.parent:
                    subs = [e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))]
                    if subs:
                        found.append(f"cgroup {d}/{subs}")
                else:
                    found.append(f"cgroup {d}")
        m = mounts_under([self.work, cid])
        if m:
            found.append(f"mounts {m}")
        kids = child_pids()
        if kids:
            found.append(f"processes {kids}")
        return found

    def clean_up(self, cid, cfg):
        self.nook_cmd("delete", "--force", cid, timeout=30)
        for pid in child_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01) if child_pids() else None
        reap()
        for mp in reversed(mounts_under([self.work, cid])):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        for m in self.cg_mounts:
            for name in os.listdir(m + self.parent) if os.path.isdir(m + self.parent) else []:
                rm_cgroup_tree(os.path.join(m + self.parent, name))
            rm_cgroup_tree(m + "/nook/" + cid)
            cp = cfg.get("linux", {}).get("cgroupsPath") if isinstance(cfg.get("linux"), dict) else None
            if isinstance(cp, str) and cp.startswith(self.parent + "/") and ".." not in cp:
                rm_cgroup_tree(os.path.normpath(m + cp))
        if os.path.isdir(self.root):
            shutil.rmtree(self.root, ignore_errors=True)

    # -- one case --
    def make_case(self, i):
        r = random.Random(f"{self.seed}:{i}")
        cfg = json.loads(json.dumps(self.base))
        what = mutate(r, cfg)
        # cgroupsPath stays ours: under our parent, whatever the mutation made of it
        linux = cfg.get("linux")
        if isinstance(linux, dict) and isinstance(linux.get("cgroupsPath"), str):
            cp = linux["cgroupsPath"]
            if cp.startswith(self.parent + "/"):
                pass
            elif cp in ("", "/"):
                linux["cgroupsPath"] = self.parent + "/c"
            else:
                linux["cgroupsPath"] = self.parent + "/" + cp.lstrip("/")
        text = dumps(cfg)
        if r.random() < 0.08:
            text, how = text_mutation(r, text)
            what.append(how)
        mode = "run" if r.random() < 0.35 else "create"
        return cfg, text, what, mode

    def run_case(self, i):
        cfg, text, what, mode = self.make_case(i)
        cid = f"fz{self.seed}-{i}"
        with open(os.path.join(self.bundle, "config.json"), "w", encoding="utf-8",
                  errors="surrogatepass") as f:
            f.write(text)
        self.counts["tried"] += 1
        verdict, detail = self.drive(cid, mode)
        if verdict:
            self.counts[verdict] += 1
        leaks = self.leaks(cid, cfg if isinstance(cfg, dict) else {})
        if leaks:
            self.counts["leaks"] += 1
        if verdict not in ("clean errors", "accepted") or leaks:
            self.record(i, mode, what, text, verdict, detail, leaks)
        self.clean_up(cid, cfg if isinstance(cfg, dict) else {})
        if self.verbose:
            print(f"case {i} {mode} {what}: {verdict} {detail[:200]!r} {leaks}", flush=True)

    def drive(self, cid, mode):
        if mode == "run":
            rc, err, hung = self.nook_cmd("run", "--bundle", self.bundle, cid)
            v = self.judge_error(rc, err, hung, "run", strict=False)
            if v == "bad errors" and not self.error_lines(err)[0]:
                return "accepted", f"container exit {rc}"  # the container's own code
            return v or "accepted", err
        rc, err, hung = self.nook_cmd("create", "--bundle", self.bundle, cid)
        v = self.judge_error(rc, err, hung, "create")
        if v:
            return v, err
        rc, err, hung = self.nook_cmd("start", cid)
        v = self.judge_error(rc, err, hung, "start")
        if v in ("hangs", "crashes", "bad errors"):
            return v, "start: " + err
        # start may refuse cleanly (e.g. a startContainer hook failed); then
        # delete must still remove everything.
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            rc2, out, _ = self.nook_state(cid)
            if rc2 != 0 or '"stopped"' in out:
                break
            time.sleep(0.02)
        rc3, err3, hung3 = self.nook_cmd("delete", "--force", cid)
        v3 = self.judge_error(rc3, err3, hung3, "delete")
        if v3 in ("hangs", "crashes"):
            return v3, "delete: " + err3
        if v3:
            return "lifecycle", "delete: " + err3
        if v:
            return "lifecycle" if v != "clean errors" else "clean errors", "start: " + err
        return "accepted", ""

    def nook_state(self, cid):
        p = subprocess.run([self.nook, "--root", self.root, "state", cid], capture_output=True,
                           text=True, timeout=self.timeout)
        return p.returncode, p.stdout, False

    def record(self, i, mode, what, text, verdict, detail, leaks):
        f = {"case": i, "seed": self.seed, "mode": mode, "mutations": what, "verdict": verdict,
             "stderr": detail[-2000:], "leaks": leaks}
        self.findings.append(f)
        if self.out:
            os.makedirs(self.out, exist_ok=True)
            base = os.path.join(self.out, f"seed{self.seed}-case{i}")
            with open(base + ".json", "w") as fp:
                json.dump(f, fp, indent=1)
            with open(base + ".config.json", "w", encoding="utf-8", errors="surrogatepass") as fp:
                fp.write(text)

    def finish(self):
        for m in self.cg_mounts:
            rm_cgroup_tree(m + self.parent)
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nook", default=os.environ.get("NOOK_BIN", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "nook")))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--case", type=int, help="replay one case of the seed")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per command")
    ap.add_argument("--out", help="directory for findings (config + details)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("mutate_config.py: run as root")
    sys.setrecursionlimit(20000)
    fz = Fuzzer(args)
    try:
        cases = [args.case] if args.case is not None else range(args.count)
        for i in cases:
            fz.run_case(i)
    finally:
        fz.finish()
    summary = dict(fz.counts, findings=fz.findings)
    if args.json:
        print(json.dumps(summary))
    else:
        print(" ".join(f"{k}={v}" for k, v in fz.counts.items()))
        for f in fz.findings:
            print(f"finding: case {f['case']} ({f['mode']}, {f['mutations']}): {f['verdict']} "
                  f"{f['stderr'][:300]!r} leaks={f['leaks']}")
    sys.exit(1 if fz.findings else 0)


if __name__ == "__main__":
    main()
