"""Whether a private containerd can run on this machine, and which containerd it would be."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.engine import choose_base_dir, find_busybox

# Host paths a private containerd must never use; tests assert they stay untouched.
HOST_CONTAINERD_PATHS = (
    Path("/run/containerd"),
    Path("/run/containerd/containerd.sock"),
    Path("/var/lib/containerd"),
    Path("/var/run/containerd"),
)


def containerd_unavailable_reason() -> str | None:
    """Why no private containerd can run here, or None when one can."""
    if os.geteuid() != 0:
        return "not root: a private containerd needs root (mounts, namespaces, xattrs)"
    for binary, package in (
        ("containerd", "containerd"),
        ("ctr", "containerd"),
        ("containerd-shim-runc-v2", "containerd"),
        ("runc", "runc"),
        ("unshare", "util-linux"),
    ):
        if shutil.which(binary) is None:
            return f"no {binary} on PATH (apt-get install {package})"
    if find_busybox() is None:
        return "no static busybox for the base image (apt-get install busybox-static)"
    if "overlay" not in Path("/proc/filesystems").read_text().split():
        return "the kernel has no overlay filesystem (overlay not in /proc/filesystems)"
    try:
        import grpc  # noqa: F401  (only checking that it is installed)
    except ImportError:
        return "no grpcio in this Python (pip install -e '.[test]')"
    base, why = choose_base_dir()
    if base is None:
        return why
    return None


def containerd_version() -> str:
    """`containerd --version`'s version field ("1.6.20~ds1"), or "" when unknown."""
    out = subprocess.run(
        ["containerd", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    return out[2] if len(out) >= 3 else ""
