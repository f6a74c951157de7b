"""Images and pods as a Kubernetes node's CRI plugin leaves them in namespace k8s.io."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tests.containerd.config import K8S_NAMESPACE
from tests.containerd.engine import ImportedImage, PrivateContainerd
from tests.containerd.ids import stable_id, stable_uuid
from tests.containerd.images import ImageSpec


@dataclass(frozen=True)
class K8sPod:
    """A pod made by create_k8s_pod (namespace k8s.io)."""

    name: str
    namespace: str
    uid: str
    sandbox_id: str
    container_ids: Mapping[str, str]  # container name -> id


def import_cri_image(
    cd: PrivateContainerd, spec: ImageSpec, *, format: str = "docker"
) -> ImportedImage:
    """Import into k8s.io with the three names the CRI plugin gives an image it pulled
    (`repo:tag`, `repo@<manifest digest>`, `sha256:<config digest>`), each labeled
    `io.cri-containerd.image=managed`."""
    image = cd.import_spec(spec, K8S_NAMESPACE, format=format)
    repo = spec.name.rpartition(":")[0]
    for alias in (f"{repo}@{image.manifest_digest}", image.config_digest):
        cd.ctr("images", "tag", image.name, alias, namespace=K8S_NAMESPACE)
    for ref in (image.name, f"{repo}@{image.manifest_digest}", image.config_digest):
        cd.ctr("images", "label", ref, "io.cri-containerd.image=managed", namespace=K8S_NAMESPACE)
    return image


def create_k8s_pod(
    cd: PrivateContainerd,
    pod_name: str,
    pod_namespace: str,
    sandbox_image: ImportedImage,
    containers: Mapping[str, tuple[ImportedImage, str | None]],
) -> K8sPod:
    """A running pod in `cd` as the CRI plugin leaves it: a sandbox container (pause-like: sleep)
    and app containers (sleep, then `script` run in them), labeled as CRI labels them.
    Ids are 64 hex digits, as CRI makes them; each container's snapshot key is its id."""
    uid = stable_uuid(f"{pod_namespace}/{pod_name}")
    pod_labels = {
        "io.kubernetes.pod.name": pod_name,
        "io.kubernetes.pod.namespace": pod_namespace,
        "io.kubernetes.pod.uid": uid,
    }
    sandbox_id = stable_id(f"sandbox/{uid}")
    # Kubernetes' RuntimeDefault seccomp: CRI puts containerd's default profile in the spec.
    cd.run_sleeping(
        K8S_NAMESPACE,
        sandbox_image.name,
        sandbox_id,
        {"io.cri-containerd.kind": "sandbox", **pod_labels},
        seccomp=True,
    )
    app_ids = {}
    for name, (image, script) in containers.items():
        cid = stable_id(f"container/{uid}/{name}")
        labels = {
            "io.cri-containerd.kind": "container",
            "io.kubernetes.container.name": name,
            **pod_labels,
        }
        cd.run_sleeping(K8S_NAMESPACE, image.name, cid, labels, seccomp=True)
        if script:
            cd.exec(K8S_NAMESPACE, cid, script)
        app_ids[name] = cid
    return K8sPod(pod_name, pod_namespace, uid, sandbox_id, app_ids)
