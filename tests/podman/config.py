"""The private podman's settings: the flags it runs with, its errors, and the config files
written for it (containers.conf, storage.conf, registries.conf, policy.json)."""

from __future__ import annotations

import subprocess

from tests.engine import EngineError

# runc here refuses podman's default rlimits (nofile 1048576); these fit under the hard limits.
RUN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
# Every container is created with these: no network, never pull (there is no registry).
RUN_FLAGS = ("--network", "none", "--pull=never", *RUN_LIMITS)

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PodmanError(EngineError):
    """The private podman failed to start, stop, or run a command."""


class PodmanUnavailable(PodmanError):
    """No private podman (of the kind asked for) can run on this machine; the message says why."""


def run_root_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a system tool (useradd, umount, nsenter…) with only the system PATH and LANG=C;
    the completed process, whatever its exit code."""
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": SYSTEM_PATH, "LANG": "C"},
    )


CONTAINERS_CONF = """\
# Written by tests/podman/engine.py. With CONTAINERS_CONF set, podman reads this file only.
[containers]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# File locks under tmp_dir instead of the host-wide /dev/shm/libpod_lock.
lock_type = "file"
num_locks = 256
runtime = "runc"
tmp_dir = "{tmp}"
volume_path = "{volumes}"
static_dir = "{graph_root}/libpod"
image_copy_tmp_dir = "{tmp}"

[network]
# netavark keeps rootful state in /run/containers/networks whatever is configured; CNI keeps
# its lock in network_config_dir and runs nothing for --network none.
network_backend = "cni"
network_config_dir = "{network_config}"
"""

STORAGE_CONF = """\
# Written by tests/podman/engine.py.
[storage]
driver = "overlay"
graphroot = "{graph_root}"
runroot = "{run_root}"
{overlay_options}"""

REGISTRIES_CONF = """\
# Written by tests/podman/engine.py: no registry is searched; images only come from archives.
unqualified-search-registries = []
short-name-mode = "disabled"
"""

POLICY_JSON = '{"default": [{"type": "insecureAcceptAnything"}]}\n'

# Runs "$@" in a private mount namespace where /var/lib is an overlay with our upper dir, so
# containers/image's root-only blob-info cache (/var/lib/containers/cache) lands there.
PRIVATE_VARLIB = (
    'mount -t overlay overlayscope-varlib -o "lowerdir=/var/lib,upperdir=$1,workdir=$2" /var/lib'
    ' && shift 2 && exec "$@"'
)
