"""The standard scenario the containerd tests run on, built in a PrivateContainerd, and
containerd's own answers about it.

`build_scenario()` is what the `containerd_scenario` fixture (tests/containerd_fixtures.py)
holds for the session and what fixtures/containerd/capture.py archives.

The scenario, by namespace (all images built here, no registry; ids are stable across runs):
- `default` (made with ctr): `ovs-base:1` (busybox + an empty CMD step), `ovs-app:1` (OCI; an
  /app tree, an empty ENV step, a gzip layer, then whiteouts, an opaque dir, an overwrite and
  a chmod-only change), `ovs-tool:1` (docker save format, gzip; shares the base layer), plus
  the filler images `ovs-filler:N`; one `ctr run` container per kind of change and a running
  one; and the deliberate garbage: `ovs-doomed:1` deleted with `ctr images rm` (its blobs and
  its snapshot stay: no GC ran), a blob from `ctr content ingest`, and a snapshot from
  `ctr snapshots prepare` with no container.
- `moby` (Docker 29): `ovs-web:1`, container `web` (running: a container record and a task)
  and `batch` (exited: neither), each a lease `<id>` holding `<id>-init` and `<id>`.
- `k8s.io` (a Kubernetes node): `registry.k8s.io/pause:3.9` and `ovs-nginx:1.25` under the three
  names CRI gives an image, and a running pod `shop/ovs-web-0`: sandbox + container `nginx`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.containerd.config import K8S_NAMESPACE, MOBY_NAMESPACE, SLEEP_FOREVER
from tests.containerd.docker29 import create_docker29_container
from tests.containerd.docker29_config import Docker29Container
from tests.containerd.engine import ImportedImage, PrivateContainerd
from tests.containerd.ids import stable_id
from tests.containerd.kubernetes import K8sPod, create_k8s_pod, import_cri_image
from tests.containerd.scenario_images import (
    APP,
    BASE,
    DOOMED,
    NGINX,
    PAUSE,
    TOOL,
    WEB,
    filler_image,
)

DEFAULT_NAMESPACE = "default"
NAMESPACES = (DEFAULT_NAMESPACE, K8S_NAMESPACE, MOBY_NAMESPACE)
# Enough small images that meta.db's content and snapshot buckets span several leaf pages
# (so branch pages) in `default`; the specs that carry a seccomp profile (the pod's and
# Docker's, ~13 KB) give the overflow pages.
FILLER_IMAGES = 6

# ctr containers in `default`, all from ovs-app:1: id -> (what it does, script, exit code).
CONTROL_CHAR_NAME = "ctl\x01name\x1b[31m"
CTR_CONTAINERS: dict[str, tuple[tuple[str, ...], str, int]] = {
    "ctr-add": (
        ("add", "add-nested", "control-char-name"),
        "mkdir -p /srv/www/static && echo '<h1>hi</h1>' > /srv/www/index.html"
        " && echo 'body {}' > /srv/www/static/site.css"
        " && echo ctl > \"/app/$(printf 'ctl\\001name\\033[31m')\""
        " && echo tab > \"/app/$(printf 'tab\\tname')\"",
        0,
    ),
    "ctr-change": (
        ("change-content",),
        "echo appended >> /app/conf/app.conf && seq 1 10 > /app/data/big.txt",
        0,
    ),
    "ctr-chmod": (
        ("chmod-only", "touch-only"),
        "chmod 600 /app/perm.txt && touch /app/notes.txt",
        0,
    ),
    "ctr-delete": (
        ("delete-file", "delete-dir", "delete-base-symlink"),
        "rm /app/conf/extra.conf && rm -rf /app/logs && rm /bin/vi",
        0,
    ),
    "ctr-opaque": (
        ("opaque-dir",),
        "rm -rf /app/tmpdir && mkdir /app/tmpdir && echo new > /app/tmpdir/new.txt",
        0,
    ),
    "ctr-hardlink": (
        ("hardlink-to-lower",),
        "ln /app/bin/tool.sh /app/bin/tool-link && ln /app/lib/a.txt /app/a-link",
        0,
    ),
    "ctr-exit3": (("add", "exit-code"), "echo partial > /app/partial.txt; exit 3", 3),
}
CTR_RUNNING = "ctr-running"
CTR_RUNNING_SCRIPT = (
    "echo running >> /app/conf/app.conf && mkdir /app/run-data && echo 1 > /app/run-data/pid"
)
DOCKER_WEB_SCRIPT = (
    "echo '<p>edited</p>' >> /srv/www/index.html && echo new > /srv/www/new.html"
    " && rm /srv/www/old.html && rm /app/conf.ini"
)
DOCKER_BATCH_SCRIPT = (
    "echo starting; mkdir -p /out && echo result > /out/result.txt"
    " && rm -rf /srv/www && mkdir /srv/www && echo rebuilt > /srv/www/index.html; echo done; exit 2"
)
NGINX_SCRIPT = (
    "echo cached > /var/cache/nginx/entry && echo 'worker_connections 64;' >> /etc/nginx/nginx.conf"
)
ORPHAN_SNAPSHOT = "overlayscope-orphan-prepared"
ORPHAN_BLOB_REF = "overlayscope-orphan-blob"
ORPHAN_BLOB = b"a blob that no image, container or lease references\n"


@dataclass(frozen=True)
class ScenarioContainer:
    """One container of the scenario, whatever made it."""

    id: str  # also its rw snapshot's key
    namespace: str
    kind: str  # "ctr", "docker29", "cri-sandbox", "cri-container"
    name: str  # Docker's name, the k8s container name, or the id
    image: str  # the image name it was made from
    running: bool
    exit_code: int | None  # None while running
    script: str | None  # the shell that made its changes
    changes: tuple[str, ...]  # what the script does, in words
    has_record: bool  # a containerd container record exists (Docker: only while running)


@dataclass(frozen=True)
class ContainerdScenario:
    """Everything build_scenario() made, and containerd's answers about it."""

    root: Path  # containerd's root
    docker_root: Path  # the Docker 29 data root beside it
    namespaces: tuple[str, ...]
    images: Mapping[str, Mapping[str, ImportedImage]]  # namespace -> name -> image
    containers: Mapping[str, ScenarioContainer]  # id -> container
    docker29: Mapping[str, Docker29Container]  # Docker name -> container
    pod: K8sPod
    shared_base_chain_id: str  # the busybox layer every image starts with
    deleted_image: ImportedImage  # removed with `ctr images rm`, no GC: its blobs stay
    orphan_blob: str  # digest of the `ctr content ingest` blob
    orphan_snapshot: str  # key of the `ctr snapshots prepare` snapshot (namespace default)
    # In `default`, made after the last collection and referenced by no image, container or
    # lease: the deleted image's manifest, config and own layer, the index blob its import
    # left, and the ingested blob; its layer's committed snapshot. The prepared snapshot is
    # not in garbage_snapshots: ctr labels it containerd.io/gc.root.
    garbage_blobs: frozenset[str]
    garbage_snapshots: frozenset[str]
    answers: Mapping[str, Any]  # see capture_answers()

    def image(self, namespace: str, name: str) -> ImportedImage:
        """An image of the scenario by namespace and full name."""
        return self.images[namespace][name]


def build_scenario(cd: PrivateContainerd) -> ContainerdScenario:
    """Build the standard scenario in a running PrivateContainerd; capture its answers.

    Order matters: `ctr snapshots diff` leaves a blob and view snapshots behind (collection is
    off), so the diffs are taken first, a collection clears that, and only then is the
    deliberate garbage made and everything else captured.
    """
    images: dict[str, dict[str, ImportedImage]] = {ns: {} for ns in NAMESPACES}
    containers: dict[str, ScenarioContainer] = {}

    def add(image: ImportedImage) -> ImportedImage:
        images[image.namespace][image.name] = image
        return image

    def record(**fields: Any) -> None:
        fields.setdefault("name", fields["id"])
        containers[fields["id"]] = ScenarioContainer(**fields)

    # default: images, one ctr container per kind of change, a running one
    base = add(cd.import_spec(BASE, DEFAULT_NAMESPACE))
    app = add(cd.import_spec(APP, DEFAULT_NAMESPACE))
    add(cd.import_spec(TOOL, DEFAULT_NAMESPACE, format="docker"))
    for n in range(FILLER_IMAGES):
        add(cd.import_spec(filler_image(n), DEFAULT_NAMESPACE, format="docker" if n % 2 else "oci"))
    for cid, (changes, script, exit_code) in CTR_CONTAINERS.items():
        cd.run(DEFAULT_NAMESPACE, app.name, cid, ["sh", "-c", script], check=exit_code == 0)
        record(
            id=cid,
            namespace=DEFAULT_NAMESPACE,
            kind="ctr",
            image=app.name,
            running=False,
            exit_code=exit_code,
            script=script,
            changes=changes,
            has_record=True,
        )
    cd.run_sleeping(DEFAULT_NAMESPACE, app.name, CTR_RUNNING)
    cd.exec(DEFAULT_NAMESPACE, CTR_RUNNING, CTR_RUNNING_SCRIPT)
    record(
        id=CTR_RUNNING,
        namespace=DEFAULT_NAMESPACE,
        kind="ctr",
        image=app.name,
        running=True,
        exit_code=None,
        script=CTR_RUNNING_SCRIPT,
        changes=("change-content", "add-dir"),
        has_record=True,
    )

    # k8s.io: a node
    pause = add(import_cri_image(cd, PAUSE, format="docker"))
    nginx = add(import_cri_image(cd, NGINX, format="oci"))
    pod = create_k8s_pod(cd, "ovs-web-0", "shop", pause, {"nginx": (nginx, NGINX_SCRIPT)})
    record(
        id=pod.sandbox_id,
        namespace=K8S_NAMESPACE,
        kind="cri-sandbox",
        name=pod.name,
        image=pause.name,
        running=True,
        exit_code=None,
        script=None,
        changes=(),
        has_record=True,
    )
    nginx_id = pod.container_ids["nginx"]
    record(
        id=nginx_id,
        namespace=K8S_NAMESPACE,
        kind="cri-container",
        name="nginx",
        image=nginx.name,
        running=True,
        exit_code=None,
        script=NGINX_SCRIPT,
        changes=("add", "change-content"),
        has_record=True,
    )

    # moby: Docker 29, its specs carrying the default seccomp profile as dockerd's do
    seccomp = cd.containers_info(K8S_NAMESPACE, nginx_id)["Spec"]["linux"]["seccomp"]
    web_image = add(cd.import_spec(WEB, MOBY_NAMESPACE))
    web = create_docker29_container(
        cd,
        web_image,
        stable_id("docker/web"),
        name="web",
        argv=SLEEP_FOREVER,
        running=True,
        exec_script=DOCKER_WEB_SCRIPT,
        seccomp=seccomp,
    )
    batch = create_docker29_container(
        cd,
        web_image,
        stable_id("docker/batch"),
        name="batch",
        argv=("sh", "-c", DOCKER_BATCH_SCRIPT),
        running=False,
        seccomp=seccomp,
    )
    for rec, script, changes in (
        (web, DOCKER_WEB_SCRIPT, ("change-content", "add", "delete-file")),
        (batch, DOCKER_BATCH_SCRIPT, ("add-nested", "opaque-dir", "exit-code")),
    ):
        record(
            id=rec.id,
            namespace=MOBY_NAMESPACE,
            kind="docker29",
            name=rec.name,
            image=web_image.name,
            running=rec.running,
            exit_code=None if rec.running else rec.exit_code,
            script=script,
            changes=changes,
            has_record=rec.running,
        )

    diffs = {
        ns: {key: [list(e) for e in cd.snapshot_diff(ns, key)] for key in _diff_keys(cd, ns)}
        for ns in NAMESPACES
    }
    cd.collect_garbage()

    # The deliberate garbage, after the last collection: what appears from here on is it.
    blobs_before = {b["digest"] for b in cd.content_ls(DEFAULT_NAMESPACE)}
    snapshots_before = set(cd.snapshots_ls(DEFAULT_NAMESPACE))
    deleted = cd.import_spec(DOOMED, DEFAULT_NAMESPACE)
    cd.ctr("images", "rm", deleted.name)
    orphan_blob = cd.ingest(DEFAULT_NAMESPACE, ORPHAN_BLOB, ORPHAN_BLOB_REF)
    cd.ctr("snapshots", "prepare", ORPHAN_SNAPSHOT, base.chain_id)
    garbage_blobs = {b["digest"] for b in cd.content_ls(DEFAULT_NAMESPACE)} - blobs_before
    garbage_snapshots = set(cd.snapshots_ls(DEFAULT_NAMESPACE)) - snapshots_before

    answers = capture_answers(cd)
    answers["diffs"] = diffs
    return ContainerdScenario(
        root=cd.root,
        docker_root=cd.docker_root,
        namespaces=NAMESPACES,
        images=images,
        containers=containers,
        docker29={web.name: web, batch.name: batch},
        pod=pod,
        shared_base_chain_id=base.chain_id,
        deleted_image=deleted,
        orphan_blob=orphan_blob,
        orphan_snapshot=ORPHAN_SNAPSHOT,
        garbage_blobs=frozenset(garbage_blobs),
        garbage_snapshots=frozenset(garbage_snapshots - {ORPHAN_SNAPSHOT}),
        answers=answers,
    )


def _diff_keys(cd: PrivateContainerd, namespace: str) -> list[str]:
    """Snapshots worth a `ctr snapshots diff`: every active one, and Docker's init layers."""
    return sorted(
        key
        for key, (_, kind) in cd.snapshots_ls(namespace).items()
        if kind == "Active" or key.endswith("-init")
    )


def capture_answers(cd: PrivateContainerd) -> dict[str, Any]:
    """containerd's own answers about every namespace, at this moment.

    Per namespace: snapshots (`ctr snapshots ls`), usage (`… usage -b`), tree, info per key,
    mounts per active key, content, leases (with resources), images, image configs, containers
    (`ctr containers info`) and tasks. Taking them creates nothing (no diffs here).
    """
    out: dict[str, Any] = {"namespaces": {}}
    for ns in cd.namespaces():
        snapshots = cd.snapshots_ls(ns)
        images = cd.images_ls(ns)
        configs = {}
        for image in images:
            manifest = cd.content_get(ns, image["target"]["digest"])
            digest = json.loads(manifest)["config"]["digest"]
            configs[digest] = json.loads(cd.content_get(ns, digest))
        out["namespaces"][ns] = {
            "snapshots": {k: {"parent": p, "kind": kind} for k, (p, kind) in snapshots.items()},
            "usage": {k: list(v) for k, v in cd.snapshots_usage(ns).items()},
            "tree": cd.snapshots_tree(ns),
            "info": {k: cd.snapshots_info(ns, k) for k in sorted(snapshots)},
            "mounts": {
                k: [
                    {"type": m.type, "source": m.source, "options": list(m.options)}
                    for m in cd.snapshot_mounts(ns, k)
                ]
                for k, (_, kind) in sorted(snapshots.items())
                if kind == "Active"
            },
            "content": cd.content_ls(ns),
            "leases": cd.leases_ls(ns),
            "images": images,
            "image_configs": configs,
            "containers": {c: cd.containers_info(ns, c) for c in cd.containers_ls(ns)},
            "tasks": cd.tasks(ns),
        }
    return out
