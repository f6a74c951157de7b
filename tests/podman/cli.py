"""`PodmanCLI`: the `podman` command against one private directory, its paths and
environment, the commands the tests run, and podman's own answers (the oracles)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.podman.config import PRIVATE_VARLIB, RUN_FLAGS, SYSTEM_PATH, PodmanError
from tests.podman.oracles import parse_diff, parse_system_df_v
from tests.podman.rootless import RootlessUser


class PodmanCLI:
    """podman with every path it knows of in one private directory (`tmp_dir`), run as the
    rootless user when there is one. Making and removing that directory (and the user) is
    PrivatePodman's, in tests/podman/engine.py."""

    def __init__(
        self,
        *,
        rootless: bool = False,
        mount_program: str | None = None,
        command_timeout: float = 300.0,
    ) -> None:
        self.rootless = rootless
        self.mount_program = mount_program
        self.command_timeout = command_timeout
        self.tmp_dir: Path | None = None
        self.user: RootlessUser | None = None

    # paths -----------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self.tmp_dir is None:
            raise PodmanError("the private podman was never started")
        return self.tmp_dir / name

    @property
    def graph_root(self) -> Path:
        """--root: overlay/, overlay-layers/, overlay-images/, overlay-containers/, libpod/."""
        return self._path("root")

    @property
    def run_root(self) -> Path:
        """--runroot: mountpoints.json, containers' run dirs (hosts, hostname, .containerenv)."""
        return self._path("runroot")

    @property
    def libpod_tmp(self) -> Path:
        """--tmpdir: libpod's events log, exit files, locks (and pause.pid when rootless)."""
        return self._path("tmp")

    @property
    def network_config_dir(self) -> Path:
        """--network-config-dir."""
        return self._path("netconf")

    @property
    def volume_path(self) -> Path:
        """--volumepath."""
        return self._path("volumes")

    @property
    def config_dir(self) -> Path:
        """containers.conf, storage.conf, registries.conf, policy.json."""
        return self._path("config")

    @property
    def home(self) -> Path:
        """HOME (and XDG dirs below it) for every podman call."""
        return self._path("home")

    @property
    def scratch(self) -> Path:
        """Archives to load, files for the tests; readable by the rootless user."""
        return self._path("scratch")

    @property
    def varlib_upper(self) -> Path:
        """What podman wrote under /var/lib during load/import (rootful; see PRIVATE_VARLIB)."""
        return self._path("varlib/upper")

    @property
    def layers_json(self) -> Path:
        """overlay-layers/layers.json: every layer record."""
        return self.graph_root / "overlay-layers" / "layers.json"

    @property
    def images_json(self) -> Path:
        """overlay-images/images.json: every image record."""
        return self.graph_root / "overlay-images" / "images.json"

    @property
    def containers_json(self) -> Path:
        """overlay-containers/containers.json: every container record."""
        return self.graph_root / "overlay-containers" / "containers.json"

    @property
    def mountpoints_json(self) -> Path:
        """The run root's overlay-layers/mountpoints.json: mounted layers and their counts."""
        return self.run_root / "overlay-layers" / "mountpoints.json"

    @property
    def env(self) -> dict[str, str]:
        """The whole environment of every podman call: nothing from ours leaks in."""
        home = self.home
        return {
            "PATH": SYSTEM_PATH,
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_RUNTIME_DIR": str(home / "run"),
            "TMPDIR": str(self.libpod_tmp),
            "CONTAINERS_CONF": str(self.config_dir / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.config_dir / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.config_dir / "registries.conf"),
            "REGISTRY_AUTH_FILE": str(self.config_dir / "auth.json"),
        }

    def global_args(self) -> list[str]:
        """The options every podman call gets (they are also passed on to conmon's cleanup)."""
        args = [
            f"--root={self.graph_root}",
            f"--runroot={self.run_root}",
            f"--tmpdir={self.libpod_tmp}",
            f"--network-config-dir={self.network_config_dir}",
            f"--volumepath={self.volume_path}",
            "--storage-driver=overlay",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
        ]
        if self.mount_program:
            args.append(f"--storage-opt=overlay.mount_program={self.mount_program}")
        return args

    # commands --------------------------------------------------------------

    def _command(self, args: Sequence[str], private_varlib: bool = False) -> list[str]:
        cmd = ["podman", *self.global_args(), *args]
        if private_varlib and not self.rootless:
            cmd = [
                "unshare",
                "--mount",
                "--propagation=private",
                "--",
                "sh",
                "-c",
                PRIVATE_VARLIB,
                "sh",
                str(self.varlib_upper),
                str(self._path("varlib/work")),
                *cmd,
            ]
        return cmd

    def run_podman(
        self,
        *args: str,
        input: bytes | str | None = None,
        timeout: float | None = None,
        private_varlib: bool = False,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run podman with our options and environment (as the rootless user if any); the
        completed process, whatever its exit code."""
        data = input.encode() if isinstance(input, str) else input
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}
        return subprocess.run(
            self._command(args, private_varlib),
            input=data,
            capture_output=True,
            env=self.env,
            cwd=self.tmp_dir,
            timeout=timeout or self.command_timeout,
            check=False,
            **kwargs,
        )

    def podman(
        self,
        *args: str,
        input: bytes | str | None = None,
        timeout: float | None = None,
        private_varlib: bool = False,
    ) -> str:
        """Run podman; return stdout, raise PodmanError (with stderr) on a non-zero exit."""
        res = self.run_podman(*args, input=input, timeout=timeout, private_varlib=private_varlib)
        if res.returncode != 0:
            raise PodmanError(
                f"podman {' '.join(args)} failed (exit {res.returncode}):\n"
                + res.stderr.decode(errors="replace").strip()
                + ("\n" + res.stdout.decode(errors="replace").strip() if res.stdout else "")
            )
        return res.stdout.decode(errors="replace")

    def write_scratch(self, name: str, data: bytes) -> Path:
        """Write `data` to scratch/<name> (owned by the rootless user if any); return the path."""
        path = self.scratch / name
        path.write_bytes(data)
        if self.user is not None:
            os.chown(path, self.user.uid, self.user.gid)
        return path

    def load(self, archive: bytes, name: str = "image") -> list[str]:
        """`podman load` a docker-save or OCI archive; return the names podman reports."""
        path = self.write_scratch(f"{name}.tar", archive)
        out = self.podman(
            "load",
            f"--input={path}",
            f"--signature-policy={self.config_dir / 'policy.json'}",
            private_varlib=True,
        )
        path.unlink()
        return [
            line.removeprefix("Loaded image: ").strip()
            for line in out.splitlines()
            if line.startswith("Loaded image")
        ]

    def import_tarball(self, tar: bytes, name: str, changes: Sequence[str] = ()) -> str:
        """`podman import` a rootfs tarball as `name`; return the image id (sha256:...)."""
        path = self.write_scratch("import.tar", tar)
        args = ["import", "--quiet", f"--signature-policy={self.config_dir / 'policy.json'}"]
        for change in changes:
            args.append(f"--change={change}")
        out = self.podman(*args, str(path), name, private_varlib=True)
        path.unlink()
        return out.strip().splitlines()[-1]

    def run(
        self,
        image: str,
        cmd: Sequence[str] = (),
        *,
        name: str | None = None,
        detach: bool = True,
        extra: Sequence[str] = (),
    ) -> str:
        """`podman run` (no network, no pull); the container id (detached) or its stdout."""
        args = ["run", *RUN_FLAGS, *(["--detach"] if detach else [])]
        if name:
            args.append(f"--name={name}")
        out = self.podman(*args, *extra, image, *cmd)
        return out.strip() if detach else out

    def create(self, image: str, cmd: Sequence[str] = (), *, name: str | None = None) -> str:
        """`podman create` (no network, no pull); the container id."""
        args = ["create", *RUN_FLAGS, *([f"--name={name}"] if name else [])]
        return self.podman(*args, image, *cmd).strip()

    def exec(self, container: str, cmd: Sequence[str]) -> str:
        """`podman exec`; its stdout."""
        return self.podman("exec", container, *cmd)

    def wait(self, container: str) -> int:
        """`podman wait`; the exit code."""
        return int(self.podman("wait", container).strip().splitlines()[-1])

    # oracles ---------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """`podman info --format json`."""
        result: dict[str, Any] = json.loads(self.podman("info", "--format=json"))
        return result

    def diff(self, obj: str) -> list[dict[str, str]]:
        """`podman diff` of a container (against its image) or an image (against its parent
        layer), as sorted [{"kind": "A"|"C"|"D", "path": ...}]."""
        res = self.run_podman("diff", "--format=json", obj)
        if res.returncode != 0 and b"format" in res.stderr:
            return parse_diff(self.podman("diff", obj))  # a podman without --format json
        if res.returncode != 0:
            raise PodmanError(f"podman diff {obj}: {res.stderr.decode(errors='replace')}")
        return parse_diff(res.stdout.decode())

    def inspect(self, *objects: str, size: bool = False, kind: str = "") -> list[dict[str, Any]]:
        """`podman inspect [--size] [--type kind]` parsed (size only applies to containers)."""
        args = ["inspect", *(["--size"] if size else []), *([f"--type={kind}"] if kind else [])]
        result: list[dict[str, Any]] = json.loads(self.podman(*args, *objects))
        return result

    def images(self) -> list[dict[str, Any]]:
        """`podman images --all --format json` (Size, SharedSize, VirtualSize, Names...)."""
        result: list[dict[str, Any]] = json.loads(self.podman("images", "--all", "--format=json"))
        return result

    def containers(self) -> list[dict[str, Any]]:
        """`podman ps --all --size --format json` (Size: rwSize, rootFsSize)."""
        out = self.podman("ps", "--all", "--size", "--format=json")
        result: list[dict[str, Any]] = json.loads(out)
        return result

    def system_df(self) -> list[dict[str, Any]]:
        """`podman system df` summary: one row per Type (Images, Containers, Local Volumes)
        with Total, Active, and Size / Reclaimable in bytes (the `{{json .}}` template gives
        raw numbers where the table gives rounded ones)."""
        out = self.podman("system", "df", "--format={{json .}}")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def system_df_v(self) -> dict[str, Any]:
        """`podman system df -v`: {"json": its `--format json` output where podman has one,
        else None; "text": the table; "rows": the table parsed by parse_system_df_v}.

        podman 4.3 has no JSON for -v: it ignores --format there and prints the table, whose
        sizes are go-units strings (see human_size).
        """
        res = self.run_podman("system", "df", "--verbose", "--format=json")
        parsed: Any = None
        if res.returncode == 0:
            with contextlib.suppress(json.JSONDecodeError):
                parsed = json.loads(res.stdout)
        text = self.podman("system", "df", "--verbose")
        return {"json": parsed, "text": text, "rows": parse_system_df_v(text)}

    def store_records(self) -> dict[str, Any]:
        """The containers/storage JSON records as they are on disk now, keyed by their path
        relative to the graph root (or `runroot/...` for the run root's)."""
        records: dict[str, Any] = {}
        for path in (self.layers_json, self.images_json, self.containers_json):
            with contextlib.suppress(FileNotFoundError):
                records[str(path.relative_to(self.graph_root))] = json.loads(path.read_text())
        for path in sorted(self.run_root.glob("overlay-*/*.json")):
            records["runroot/" + str(path.relative_to(self.run_root))] = json.loads(
                path.read_text()
            )
        return records
