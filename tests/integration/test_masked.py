"""maskedPaths and readonlyPaths: what the container really reads and can
write there, and that it cannot undo them."""
import os

from test_mounts import add_userns, parse_mountinfo, top


def check_masks(out):
    """Parse `kind path value` lines printed by MASK_SCRIPT."""
    return {l.split()[1]: (l.split()[0], l.split()[2]) for l in out.splitlines()
            if l.startswith(("file ", "dir "))}


# For each path: files print their size as read, directories their entry
# count and whether a write works.
MASK_SCRIPT = ("for p in $PATHS; do"
               "  if [ -d $p ]; then echo dir $p $(ls -A $p | wc -l),$(touch $p/x 2>/dev/null && echo rw || echo ro);"
               "  elif [ -e $p ]; then echo file $p $(cat $p | wc -c); fi; done")


def test_default_masked_paths(runtime, bundle):
    paths = bundle.linux["maskedPaths"]
    out = runtime.output(bundle.sh(MASK_SCRIPT.replace("$PATHS", " ".join(paths))
                                   + "; echo ===; cat /proc/self/mountinfo"))
    res, mounts = out.split("===\n")
    seen = check_masks(res)
    m = top(parse_mountinfo(mounts))
    host_nonempty = 0
    for p in paths:
        if not os.path.exists(p):
            continue
        kind, value = seen[p]
        if kind == "dir":
            assert value == "0,ro", p
            assert m[p]["fstype"] == "tmpfs" and "ro" in m[p]["opts"], p
        else:
            assert value == "0", p
            assert m[p]["root"] == "/null", p  # /dev/null bound over it
            with open(p, "rb") as f:
                host_nonempty += len(f.read(1))
    assert host_nonempty > 0 or not seen  # the host's versions do say something


def test_default_readonly_paths(runtime, bundle):
    paths = bundle.linux["readonlyPaths"]
    script = ("cat /proc/self/mountinfo; echo ===;"
              "nktest open /proc/sys/kernel/hostname w;"
              "if [ -e /proc/sysrq-trigger ]; then nktest open /proc/sysrq-trigger w; else echo absent; fi;"
              "mount -o remount,rw /proc/sys 2>/dev/null && echo remount=ok || echo remount=refused;"
              "mount -o remount,bind,rw /proc/sys 2>/dev/null && echo rebind=ok || echo rebind=refused;"
              "umount /proc/sys 2>/dev/null && echo umount=ok || echo umount=refused;"
              "nktest open /proc/sys/kernel/hostname w; true")
    out = runtime.output(bundle.sh(script))
    mounts, rest = out.split("===\n")
    m = top(parse_mountinfo(mounts))
    for p in paths:
        if os.path.exists(p):
            assert "ro" in m[p]["opts"], p
    sysrq = "EROFS" if os.path.exists("/proc/sysrq-trigger") else "absent"
    assert rest.splitlines() == ["EROFS", sysrq, "remount=refused", "rebind=refused",
                                 "umount=refused", "EROFS"]


def test_custom_masked_and_readonly_paths(runtime, bundle):
    root = bundle.rootfs
    with open(os.path.join(root, "secret.txt"), "w") as f:
        f.write("top secret\n")
    os.makedirs(os.path.join(root, "secretdir"))
    with open(os.path.join(root, "secretdir", "key"), "w") as f:
        f.write("key\n")
    os.makedirs(os.path.join(root, "data", "sub"))
    os.symlink("/secretdir", os.path.join(root, "link-to-secretdir"))
    bundle.config["mounts"].append({"destination": "/data/sub", "type": "tmpfs",
                                    "source": "tmpfs"})
    bundle.linux["maskedPaths"] = ["/secret.txt", "/link-to-secretdir", "/does/not/exist"]
    bundle.linux["readonlyPaths"] = ["/data", "/missing/too"]
    script = (MASK_SCRIPT.replace("$PATHS", "/secret.txt /secretdir") + ";"
              "touch /data/x 2>/dev/null && echo data=rw || echo data=ro;"
              "touch /data/sub/x 2>/dev/null && echo datasub=rw || echo datasub=ro;"
              "touch /tmp/x && echo tmp=rw; [ -e /does ] || echo no-does")
    out = runtime.output(bundle.sh(script))
    seen = check_masks(out)
    assert seen["/secret.txt"] == ("file", "0")
    assert seen["/secretdir"] == ("dir", "0,ro")  # masked through the symlink, inside the rootfs
    rest = [l for l in out.splitlines() if not l.startswith(("file ", "dir "))]
    # read-only reaches the mounts below the path too
    assert rest == ["data=ro", "datasub=ro", "tmp=rw", "no-does"]
    # Nothing in the bundle was changed or created.
    with open(os.path.join(root, "secret.txt")) as f:
        assert f.read() == "top secret\n"
    assert os.listdir(os.path.join(root, "secretdir")) == ["key"]
    assert sorted(os.listdir(os.path.join(root, "data"))) == ["sub"]


def test_masks_in_user_namespace_and_readonly_root(runtime, bundle):
    add_userns(bundle)
    bundle.config["root"]["readonly"] = True
    out = runtime.output(bundle.sh(MASK_SCRIPT.replace("$PATHS", "/proc/keys /proc/timer_list /sys/firmware")
                                   + "; touch /x 2>/dev/null || echo root=ro"))
    seen = check_masks(out)
    for p in ("/proc/keys", "/proc/timer_list"):
        if os.path.exists(p):
            assert seen[p] == ("file", "0"), p
    if os.path.isdir("/sys/firmware"):
        assert seen["/sys/firmware"] == ("dir", "0,ro")
    assert out.splitlines()[-1] == "root=ro"
