"""What the test tools beside this file share: the cgroup hierarchies to
search for leaks, a busybox rootfs, and `nook spec`'s config made
non-interactive. The tools run as scripts, so this directory is on
sys.path."""
import json
import os
import shutil
import subprocess
import tempfile

BUSYBOX = "/bin/busybox"


def oci_face(path):
    """The OCI runtime face of a nook binary: the nook-oci link beside it
    when there is one; anything else (runc, an older build) as it is."""
    path = os.path.abspath(path)
    oci = os.path.join(os.path.dirname(path), "nook-oci")
    return oci if os.path.basename(path) == "nook" and os.path.exists(oci) else path


def cgroup_hierarchies(under=""):
    """Mount points of the cgroup hierarchies (v1 and v2) below `under`,
    each once, sorted."""
    out = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a = line.split()
            fstype = a[a.index("-") + 1]
            if fstype in ("cgroup", "cgroup2") and a[4].startswith(under):
                out.add(a[4])
    return sorted(out)


def busybox_rootfs(dest, dirs, applets):
    """A rootfs of static busybox: `dirs` made, `applets` linked in /bin."""
    for d in ("bin", *dirs):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(dest, 0o755)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin", "busybox"))
    for a in applets:
        os.symlink("busybox", os.path.join(dest, "bin", a))


def spec_config(nook, args):
    """`nook spec`'s config with no terminal, running `args`."""
    d = tempfile.mkdtemp(prefix="nook-tools-spec-")
    try:
        subprocess.run([nook, "spec", "--bundle", d], check=True, capture_output=True)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
    finally:
        shutil.rmtree(d)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = list(args)
    return cfg
