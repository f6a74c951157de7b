"""Whether a private podman (rootful, or rootless) can run on this machine, and the host
paths it must never create or change."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from pathlib import Path

from tests.engine import choose_base_dir, find_busybox
from tests.podman.config import SYSTEM_PATH

# Host paths a private podman must never create or change; tests compare them before and after.
HOST_PODMAN_PATHS = (
    Path("/var/lib/containers"),
    Path("/run/containers"),
    Path("/run/libpod"),
    Path("/run/podman"),
    Path("/etc/containers/networks"),
    Path("/etc/cni/net.d/cni.lock"),
    Path("/var/lib/cni"),
    Path("/dev/shm/libpod_lock"),
    Path("/root/.local/share/containers"),
    Path("/root/.config/containers"),
)


def podman_unavailable_reason() -> str | None:
    """Why no rootful private podman can run here, or None when one can."""
    if os.geteuid() != 0:
        return "not root: a private rootful podman needs root (mounts, cgroups, xattrs)"
    for tool, package in (("podman", "podman"), ("runc", "runc"), ("conmon", "conmon")):
        if shutil.which(tool, path=SYSTEM_PATH) is None:
            return f"no {tool} on PATH (apt-get install {package})"
    if shutil.which("unshare", path=SYSTEM_PATH) is None:
        return "no unshare (util-linux): needed to keep podman's blob cache out of /var/lib"
    if find_busybox() is None:
        return "no static busybox for the base image (apt-get install busybox-static)"
    if "overlay" not in Path("/proc/filesystems").read_text().split():
        return "the kernel has no overlay filesystem (overlay not in /proc/filesystems)"
    base, why = choose_base_dir()
    if base is None:
        return why
    if str(base.resolve()).startswith("/var/lib/") or not _safe_mount_option(str(base)):
        return f"{base}: a base dir under /var/lib or with ',' ':' in its path cannot be used"
    return None


def rootless_unavailable_reason() -> str | None:
    """Why a rootless private podman cannot even be tried here, or None.

    Only what can be known without starting it; `PrivatePodman(rootless=True).start()` raises
    PodmanUnavailable with podman's own words when the user namespace or the overlay mount
    fails at run time.
    """
    reason = podman_unavailable_reason()
    if reason is not None:
        return reason
    for tool in ("useradd", "usermod", "userdel", "newuidmap", "newgidmap", "nsenter"):
        if shutil.which(tool, path=SYSTEM_PATH) is None:
            return f"no {tool} on PATH (apt-get install uidmap passwd util-linux)"
    for tool in ("newuidmap", "newgidmap"):
        path = Path(shutil.which(tool, path=SYSTEM_PATH) or "")
        if not path.stat().st_mode & stat.S_ISUID and not _has_file_caps(path):
            return f"{path} is neither setuid nor has file capabilities"
    # (sysctl, value that blocks unprivileged user namespaces); absent files do not block.
    blockers = (
        ("/proc/sys/user/max_user_namespaces", "0"),
        ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
        ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"),
    )
    for sysctl, blocking in blockers:
        with contextlib.suppress(OSError):
            if Path(sysctl).read_text().strip() == blocking:
                return f"unprivileged user namespaces are off: {sysctl} is {blocking}"
    return None


def rootless_overlay_mode() -> tuple[str, str]:
    """What rootless overlay can use here: ("native"|"fuse-overlayfs"|"none", why).

    Native overlay in a user namespace needs the `userxattr` mount option (Linux >= 5.13 for
    podman's storage to use it); fuse-overlayfs needs its binary and a /dev/fuse the user may
    open.
    """
    release = os.uname().release
    match = re.match(r"(\d+)\.(\d+)", release)
    version = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if version >= (5, 13):
        return "native", f"kernel {release} >= 5.13 mounts overlay with userxattr in a userns"
    fuse = shutil.which("fuse-overlayfs", path=SYSTEM_PATH)
    if fuse is None:
        return "none", f"kernel {release} < 5.13 and no fuse-overlayfs (apt-get install it)"
    try:
        mode = Path("/dev/fuse").stat().st_mode
    except OSError:
        return "none", f"kernel {release} < 5.13 and no /dev/fuse"
    if mode & 0o006 != 0o006:
        return "none", f"kernel {release} < 5.13 and /dev/fuse is {stat.filemode(mode)}"
    return "fuse-overlayfs", f"kernel {release} < 5.13; {fuse}"


def _has_file_caps(path: Path) -> bool:
    try:
        return bool(os.getxattr(path, "security.capability"))
    except OSError:
        return False


def _safe_mount_option(path: str) -> bool:
    # Paths go into overlay mount options, where ',' and ':' are separators.
    return "," not in path and ":" not in path


def host_podman_state() -> dict[str, tuple[int, int, int] | None]:
    """(inode, mtime_ns, ctime_ns) of HOST_PODMAN_PATHS, None where absent."""
    state: dict[str, tuple[int, int, int] | None] = {}
    for path in HOST_PODMAN_PATHS:
        try:
            st = path.lstat()
        except FileNotFoundError:
            state[str(path)] = None
        else:
            state[str(path)] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return state
