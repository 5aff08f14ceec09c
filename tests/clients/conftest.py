"""Fixtures for the client tests: podman, dockerd and containerd (all from
Debian's apt) driving nook as their OCI runtime. Each module starts its own
daemon with private directories, by PID, and checks at the end that it left
no daemon, shim, mount, cgroup, bridge or firewall rule behind."""
import os

import pytest

import clientlib


@pytest.fixture(scope="session")
def nook():
    path = clientlib.nook_bin()
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (meson setup build && ninja -C build)")
    return path


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory):
    return clientlib.busybox_rootfs_tar(str(tmp_path_factory.mktemp("image") / "busybox.tar"))

