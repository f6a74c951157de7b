"""`PrivateContainerd`: the private daemon, and what the tests do with it: import images,
run containers, mount snapshots where its tasks see them, and ask containerd's own answers."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.containerd.config import SLEEP_FOREVER, SNAPSHOTTER, ContainerdError
from tests.containerd.daemon import ContainerdDaemon
from tests.containerd.images import (
    MEDIA_OCI_LAYER,
    ImageSpec,
    chain_ids,
    docker_save_tar,
    oci_layout_tar,
    sha256_digest,
    tar_listing,
)
from tests.containerd.mounts import SnapshotMount, ro_overlay_mount, run_checked
from tests.containerd.oracles import (
    decode_content,
    decode_images,
    decode_leases,
    parse_snapshot_mounts,
    parse_snapshots_ls,
    parse_snapshots_tree,
    parse_snapshots_usage,
)


@dataclass(frozen=True)
class ImportedImage:
    """An image imported with `ctr images import` and unpacked into the overlayfs snapshotter."""

    namespace: str
    name: str
    manifest_digest: str  # the image record's target (a manifest: ctr drops the index)
    config_digest: str
    diff_ids: tuple[str, ...]
    chain_ids: tuple[str, ...]  # chain_ids[-1] is the top layer's snapshot key
    layer_digests: tuple[str, ...]  # the blobs as stored (compressed where the layer was)
    layer_media_types: tuple[str, ...]
    manifest_media_type: str
    manifest_size: int
    format: str  # "oci" or "docker"

    @property
    def chain_id(self) -> str:
        """The top layer's chain id: the committed snapshot a container is prepared on."""
        return self.chain_ids[-1]


class PrivateContainerd(ContainerdDaemon):
    """A private containerd with all its state in one temporary directory, and the harness's
    work in it: images, containers, mounts, and containerd's own answers (the oracles).

    Use as a context manager, or call `start()` and `stop()` (see ContainerdDaemon).
    """

    # images ----------------------------------------------------------------

    def import_image(
        self,
        tar_bytes: bytes,
        namespace: str = "default",
        *,
        labels: Mapping[str, str] | None = None,
    ) -> ImportedImage:
        """`ctr images import --snapshotter overlayfs` a tarball (unpacks it); describe the image.

        The tarball holds one image (oci_layout_tar / docker_save_tar). The name and target come
        from what ctr printed, the rest from the stored manifest and config (`ctr content
        get`): a docker tarball's manifest, which containerd writes itself, is described as
        containerd stored it.
        """
        path = self.scratch / f"{self.next_name('image')}.tar"
        path.write_bytes(tar_bytes)
        try:
            out = self.ctr(
                "images", "import", "--snapshotter", SNAPSHOTTER, str(path), namespace=namespace
            )
        finally:
            path.unlink()
        # "unpacking docker.io/library/app:1 (sha256:…)...done"
        found = re.findall(r"unpacking (\S+) \((sha256:[0-9a-f]{64})\)\.\.\.done", out)
        if len(found) != 1:
            raise ContainerdError(f"expected one unpacked image, ctr said:\n{out}")
        [(name, target)] = found
        if labels:
            self.ctr(
                "images",
                "label",
                name,
                *(f"{k}={v}" for k, v in labels.items()),
                namespace=namespace,
            )
        return self.describe_image(namespace, name, target)

    def import_spec(
        self,
        spec: ImageSpec,
        namespace: str = "default",
        *,
        format: str = "oci",
        labels: Mapping[str, str] | None = None,
    ) -> ImportedImage:
        """Build `spec` as an OCI layout ("oci") or `docker save` ("docker") tarball; import it."""
        tar = oci_layout_tar(spec) if format == "oci" else docker_save_tar(spec)
        image = self.import_image(tar, namespace, labels=labels)
        if image.name != spec.name:
            raise ContainerdError(f"imported {spec.name} came out as {image.name}")
        return image

    def describe_image(self, namespace: str, name: str, target: str) -> ImportedImage:
        """An image record's manifest, config, diff ids and chain ids, read from content."""
        raw = self.content_get(namespace, target)
        manifest = json.loads(raw)
        media = manifest.get("mediaType", "")
        config_digest = manifest["config"]["digest"]
        config = json.loads(self.content_get(namespace, config_digest))
        diff_ids = tuple(config["rootfs"]["diff_ids"])
        return ImportedImage(
            namespace=namespace,
            name=name,
            manifest_digest=target,
            config_digest=config_digest,
            diff_ids=diff_ids,
            chain_ids=chain_ids(diff_ids),
            layer_digests=tuple(la["digest"] for la in manifest["layers"]),
            layer_media_types=tuple(la["mediaType"] for la in manifest["layers"]),
            manifest_media_type=media,
            manifest_size=len(raw),
            format="docker" if "docker" in media else "oci",
        )

    def content_get(self, namespace: str, digest: str) -> bytes:
        """A blob's bytes (`ctr content get`)."""
        return self.ctr_bytes("content", "get", digest, namespace=namespace)

    def ingest(self, namespace: str, data: bytes, ref: str) -> str:
        """`ctr content ingest` a blob (no lease, no label: nothing references it); its digest."""
        digest = sha256_digest(data)
        self.ctr(
            "content",
            "ingest",
            "--expected-size",
            str(len(data)),
            "--expected-digest",
            digest,
            ref,
            input=data,
            namespace=namespace,
        )
        return digest

    # containers ------------------------------------------------------------

    def container_cgroup(self, namespace: str, container_id: str) -> str:
        """The cgroup path a container of ours runs in (under `cgroup_parent`)."""
        return f"{self.cgroup_parent}/{namespace}/{container_id}"

    def run(
        self,
        namespace: str,
        image: str,
        container_id: str,
        argv: Sequence[str],
        labels: Mapping[str, str] | None = None,
        detach: bool = False,
        *,
        check: bool = True,
        seccomp: bool = False,
    ) -> str:
        """`ctr run --snapshotter overlayfs` a container; keep it and its snapshot.

        Not detached: wait for the process, return its stdout, and delete the exited task (the
        container record and its active snapshot, key = `container_id`, stay). `check` raises
        on a non-zero exit. Detached: leave the task running (stdio to /dev/null). `seccomp`:
        containerd's default profile in the spec (as CRI's RuntimeDefault; ~10 KB of spec).
        """
        args = [
            "run",
            "--snapshotter",
            SNAPSHOTTER,
            "--cgroup",
            self.container_cgroup(namespace, container_id),
            "--fifo-dir",
            str(self.scratch / "fifo"),
        ]
        for k, v in (labels or {}).items():
            args += ["--label", f"{k}={v}"]
        if detach:
            args += ["--detach", "--null-io"]
        if seccomp:
            args.append("--seccomp")
        args += [image, container_id, *argv]
        res = self.ctr_raw(args, namespace, timeout=300)
        if not detach and container_id in self.tasks(namespace):
            self.ctr("tasks", "delete", container_id, namespace=namespace)
        if res.returncode != 0 and (check or detach):
            raise ContainerdError(
                f"ctr -n {namespace} run … {container_id} failed (exit {res.returncode}):\n"
                + res.stderr.decode(errors="replace").strip()
            )
        return res.stdout.decode(errors="replace")

    def run_sleeping(
        self,
        namespace: str,
        image: str,
        container_id: str,
        labels: Mapping[str, str] | None = None,
        *,
        seccomp: bool = False,
    ) -> None:
        """A long-running container (`sleep`), for "running" cases."""
        self.run(
            namespace, image, container_id, SLEEP_FOREVER, labels, detach=True, seccomp=seccomp
        )

    def exec(self, namespace: str, container_id: str, script: str) -> str:
        """Run `sh -c script` in a running container (`ctr tasks exec`); return its stdout."""
        return self.ctr(
            "tasks",
            "exec",
            "--exec-id",
            self.next_name("exec"),
            "--fifo-dir",
            str(self.scratch / "fifo"),
            container_id,
            "sh",
            "-c",
            script,
            namespace=namespace,
        )

    def collect_garbage(self) -> None:
        """Run containerd's garbage collector now, and wait for it.

        Automatic collection is off in this daemon (see containerd_config); deleting a lease
        with --sync is the one way ctr has to run a collection and wait for it.
        """
        lease = self.next_name("overlayscope-gc")
        self.ctr("leases", "create", "--id", lease)
        self.ctr("leases", "delete", "--sync", lease)

    # mounts ----------------------------------------------------------------

    def nsenter_args(self) -> list[str]:
        """`nsenter` into containerd's mount namespace (where its task rootfs mounts live)."""
        if self._proc is None:
            raise ContainerdError("the private containerd is not running")
        return ["nsenter", f"--target={self._proc.pid}", "--mount", "--"]

    def mount_in_daemon_namespace(self, mounts: Sequence[SnapshotMount], target: Path) -> None:
        """Mount a snapshot at `target` inside containerd's mount namespace, as a task would
        see it (a runtime started by containerd only sees mounts made there)."""
        for m in mounts:
            run_checked(
                [
                    *self.nsenter_args(),
                    "mount",
                    "-t",
                    m.type,
                    "-o",
                    ",".join(m.options),
                    m.source,
                    str(target),
                ]
            )

    def ro_overlay_mount(
        self, lowerdirs: Sequence[Path]
    ) -> contextlib.AbstractContextManager[Path]:
        """The module's ro_overlay_mount with its mount point in our dir (stop() cleans up)."""
        return ro_overlay_mount(lowerdirs, base=self.scratch)

    def unmount_in_daemon_namespace(self, target: Path) -> None:
        """Unmount `target` inside containerd's mount namespace."""
        run_checked([*self.nsenter_args(), "umount", str(target)])

    # oracles ---------------------------------------------------------------

    def snapshots_ls(self, namespace: str) -> dict[str, tuple[str, str]]:
        """key -> (parent or "", kind: "Active"/"Committed"/"View") from `ctr snapshots ls`."""
        return parse_snapshots_ls(self.ctr("snapshots", "ls", namespace=namespace))

    def snapshots_usage(self, namespace: str) -> dict[str, tuple[int, int]]:
        """key -> (bytes, inodes) from `ctr snapshots usage -b` (du-style: allocated blocks)."""
        return parse_snapshots_usage(self.ctr("snapshots", "usage", "-b", namespace=namespace))

    def snapshot_mounts(self, namespace: str, key: str) -> list[SnapshotMount]:
        """The mounts `ctr snapshots mounts` prints for an active snapshot, parsed."""
        return parse_snapshot_mounts(
            self.ctr("snapshots", "mounts", "/mnt", key, namespace=namespace)
        )

    def snapshots_tree(self, namespace: str) -> dict[str, str]:
        """key -> parent key ("" for a root) read from `ctr snapshots tree`'s indentation."""
        return parse_snapshots_tree(self.ctr("snapshots", "tree", namespace=namespace))

    def snapshots_info(self, namespace: str, key: str) -> dict[str, Any]:
        """`ctr snapshots info KEY` (Kind, Name, Parent, Labels, Created, Updated)."""
        info: dict[str, Any] = json.loads(self.ctr("snapshots", "info", key, namespace=namespace))
        return info

    def snapshot_diff(self, namespace: str, key: str) -> list[tuple[str, str, int, int]]:
        """The layer tar `ctr snapshots diff KEY` writes (KEY against its parent), as
        (name, type, size, mode) in tar order. Types: file, dir, symlink, hardlink, char,
        block, fifo. Leaves a garbage blob and view snapshots behind until collect_garbage()."""
        data = self.ctr_bytes(
            "snapshots", "diff", "--media-type", MEDIA_OCI_LAYER, key, namespace=namespace
        )
        return tar_listing(data)

    def images_ls(self, namespace: str) -> list[dict[str, Any]]:
        """Image records (Images.List): name, labels, target {mediaType, digest, size}, times.
        The same call `ctr images ls` makes, with exact sizes."""
        return decode_images(self.api.call("images.v1.Images/List", b"", namespace=namespace))

    def content_ls(self, namespace: str) -> list[dict[str, Any]]:
        """Blobs of a namespace (Content.List, what `ctr content ls` calls): digest, exact
        size, labels, times."""
        return decode_content(
            self.api.call_stream("content.v1.Content/List", b"", namespace=namespace)
        )

    def leases_ls(self, namespace: str) -> list[dict[str, Any]]:
        """Leases (Leases.List, what `ctr leases ls` calls), each with its resources."""
        reply = self.api.call("leases.v1.Leases/List", b"", namespace=namespace)
        return [
            {
                **lease,
                "resources": [list(r) for r in self.api.lease_resources(namespace, lease["id"])],
            }
            for lease in decode_leases(reply)
        ]

    def containers_info(self, namespace: str, container_id: str) -> dict[str, Any]:
        """`ctr containers info ID` (labels, image, runtime, snapshot key, spec…)."""
        info: dict[str, Any] = json.loads(
            self.ctr("containers", "info", container_id, namespace=namespace)
        )
        return info

    def containers_ls(self, namespace: str) -> list[str]:
        """Container ids in a namespace (`ctr containers ls -q`)."""
        return sorted(self.ctr("containers", "ls", "--quiet", namespace=namespace).split())
