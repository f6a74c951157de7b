"""containerd's gRPC API, hand-encoded, for the calls `ctr` cannot make."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.containerd.config import (
    RUNC_OPTIONS_TYPE_URL,
    RUNC_RUNTIME,
    SNAPSHOTTER,
    SPEC_TYPE_URL,
    ContainerdError,
)
from tests.containerd.mounts import SnapshotMount
from tests.containerd.protobuf import (
    pb_any,
    pb_bytes,
    pb_decode,
    pb_map,
    pb_str,
    pb_string,
    pb_uint,
)


def _decode_mounts(data: bytes) -> list[SnapshotMount]:
    mounts = []
    for raw in pb_decode(data).get(1, []):
        assert isinstance(raw, bytes)
        m = pb_decode(raw)
        mounts.append(
            SnapshotMount(
                type=pb_str(m, 1),
                source=pb_str(m, 2),
                options=tuple(o.decode() for o in m.get(4, []) if isinstance(o, bytes)),
            )
        )
    return mounts


class ContainerdAPI:
    """containerd's gRPC API, for the calls `ctr` cannot make.

    `ctr` cannot attach a lease to a snapshot call nor create a container record without a
    task, both of which Docker 29 does. Messages are hand-encoded (tests/containerd/protobuf.py);
    the namespace and lease travel in gRPC metadata, as containerd's own client sends them.
    """

    def __init__(self, socket_path: Path, timeout: float = 60.0) -> None:
        import grpc  # a test extra; containerd_unavailable_reason() checks it is there

        self._grpc = grpc
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            f"unix://{socket_path}",
            options=[("grpc.max_receive_message_length", 16 << 20)],
        )

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def call(
        self, method: str, request: bytes, *, namespace: str, lease: str | None = None
    ) -> bytes:
        """Call `/containerd.services.<method>` with raw request bytes; return raw reply bytes."""
        metadata = [("containerd-namespace", namespace)]
        if lease is not None:
            metadata.append(("containerd-lease", lease))
        stub = self._channel.unary_unary(f"/containerd.services.{method}")
        try:
            reply: bytes = stub(request, metadata=metadata, timeout=self.timeout)
        except self._grpc.RpcError as e:
            raise ContainerdError(f"gRPC {method} in {namespace}: {e.details()}") from e
        return reply

    def call_stream(self, method: str, request: bytes, *, namespace: str) -> list[bytes]:
        """A server-streaming call (e.g. Content/List): every reply message, raw."""
        stub = self._channel.unary_stream(f"/containerd.services.{method}")
        try:
            replies = stub(
                request, metadata=[("containerd-namespace", namespace)], timeout=self.timeout
            )
            return list(replies)
        except self._grpc.RpcError as e:
            raise ContainerdError(f"gRPC {method} in {namespace}: {e.details()}") from e

    # leases ----------------------------------------------------------------

    def create_lease(
        self, namespace: str, lease_id: str, labels: Mapping[str, str] | None = None
    ) -> None:
        """Leases.Create with a given id (Docker 29: the container id, no labels)."""
        request = pb_string(1, lease_id) + pb_map(3, labels or {})
        self.call("leases.v1.Leases/Create", request, namespace=namespace)

    def delete_lease(self, namespace: str, lease_id: str, sync: bool = False) -> None:
        """Leases.Delete (sync: collect what it held before returning)."""
        request = pb_string(1, lease_id) + pb_uint(2, int(sync))
        self.call("leases.v1.Leases/Delete", request, namespace=namespace)

    def lease_resources(self, namespace: str, lease_id: str) -> list[tuple[str, str]]:
        """Leases.ListResources: (type, id) pairs, e.g. ("snapshots/overlayfs", key)."""
        reply = self.call(
            "leases.v1.Leases/ListResources", pb_string(1, lease_id), namespace=namespace
        )
        out = []
        for raw in pb_decode(reply).get(1, []):
            assert isinstance(raw, bytes)
            r = pb_decode(raw)
            out.append((pb_str(r, 2), pb_str(r, 1)))
        return sorted(out)

    # snapshots -------------------------------------------------------------

    def prepare(
        self,
        namespace: str,
        key: str,
        parent: str,
        *,
        lease: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[SnapshotMount]:
        """Snapshots.Prepare on the overlayfs snapshotter; return the mounts."""
        request = (
            pb_string(1, SNAPSHOTTER)
            + pb_string(2, key)
            + pb_string(3, parent)
            + pb_map(4, labels or {})
        )
        reply = self.call(
            "snapshots.v1.Snapshots/Prepare", request, namespace=namespace, lease=lease
        )
        return _decode_mounts(reply)

    def commit(
        self,
        namespace: str,
        name: str,
        key: str,
        *,
        lease: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Snapshots.Commit the active snapshot `key` as `name`."""
        request = (
            pb_string(1, SNAPSHOTTER)
            + pb_string(2, name)
            + pb_string(3, key)
            + pb_map(4, labels or {})
        )
        self.call("snapshots.v1.Snapshots/Commit", request, namespace=namespace, lease=lease)

    def mounts(self, namespace: str, key: str) -> list[SnapshotMount]:
        """Snapshots.Mounts of an active (or view) snapshot."""
        request = pb_string(1, SNAPSHOTTER) + pb_string(2, key)
        return _decode_mounts(
            self.call("snapshots.v1.Snapshots/Mounts", request, namespace=namespace)
        )

    def remove_snapshot(self, namespace: str, key: str) -> None:
        """Snapshots.Remove."""
        request = pb_string(1, SNAPSHOTTER) + pb_string(2, key)
        self.call("snapshots.v1.Snapshots/Remove", request, namespace=namespace)

    # containers ------------------------------------------------------------

    def create_container(
        self,
        namespace: str,
        container_id: str,
        *,
        image: str,
        spec: Mapping[str, Any],
        runtime: str = RUNC_RUNTIME,
        runtime_options: bytes = b"",
        labels: Mapping[str, str] | None = None,
        snapshotter: str = "",
        snapshot_key: str = "",
    ) -> None:
        """Containers.Create: a bare container record (no task, no snapshot made for it)."""
        runtime_msg = pb_string(1, runtime)
        if runtime_options:
            runtime_msg += pb_bytes(2, pb_any(RUNC_OPTIONS_TYPE_URL, runtime_options))
        spec_json = json.dumps(spec, separators=(",", ":")).encode()
        container = (
            pb_string(1, container_id)
            + pb_map(2, labels or {})
            + pb_string(3, image)
            + pb_bytes(4, runtime_msg)
            + pb_bytes(5, pb_any(SPEC_TYPE_URL, spec_json))
            + pb_string(6, snapshotter)
            + pb_string(7, snapshot_key)
        )
        self.call("containers.v1.Containers/Create", pb_bytes(1, container), namespace=namespace)


def runc_options(binary_name: str = "", root: str = "", systemd_cgroup: bool = False) -> bytes:
    """containerd.runc.v1.Options, as a runtime's options Any carries them."""
    return pb_string(6, binary_name) + pb_string(7, root) + pb_uint(9, int(systemd_cgroup))
