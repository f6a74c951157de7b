"""The images of the standard scenario (tests/containerd/scenario.py), spelled out layer by
layer: no registry, and the same digests on every run."""

from __future__ import annotations

import random

from tests.containerd.config import SLEEP_FOREVER
from tests.containerd.images import (
    EmptyStep,
    ImageSpec,
    Layer,
    base_layer,
    tar_dir,
    tar_file,
    tar_hardlink,
    tar_opaque,
    tar_symlink,
    tar_whiteout,
)


def _blob(size: int, seed: int) -> bytes:
    """Deterministic incompressible bytes."""
    return random.Random(seed).randbytes(size)


def _numbers(first: int, last: int) -> bytes:
    return "".join(f"{i}\n" for i in range(first, last + 1)).encode()


BASE = ImageSpec("docker.io/library/ovs-base:1", (base_layer(), EmptyStep('CMD ["sh"]')))

APP_TREE = Layer(
    (
        tar_dir("app"),
        tar_dir("app/bin"),
        tar_file("app/bin/tool.sh", "#!/bin/sh\necho tool\n", 0o755),
        tar_dir("app/cache"),
        tar_file("app/cache/keep.txt", "keep\n"),
        tar_dir("app/cache/old"),
        tar_file("app/cache/old/entry.txt", "old cache\n"),
        tar_dir("app/conf"),
        tar_file("app/conf/app.conf", "name=app\nmode=prod\n"),
        tar_file("app/conf/extra.conf", "extra=1\n"),
        tar_symlink("app/current.conf", "/app/conf/app.conf"),
        tar_dir("app/data"),
        tar_file("app/data/big.txt", _numbers(1, 4000)),
        tar_file("app/data/doomed.txt", "to be deleted\n"),
        tar_dir("app/data/nested"),
        tar_dir("app/data/nested/deeper"),
        tar_file("app/data/nested/deeper/leaf.txt", "leaf\n"),
        tar_dir("app/lib"),
        tar_file("app/lib/a.txt", "shared\n"),
        tar_hardlink("app/lib/b.txt", "app/lib/a.txt"),
        tar_symlink("app/lib/app.conf.rel", "../conf/app.conf"),
        tar_dir("app/logs"),
        tar_dir("app/logs/2024"),
        tar_file("app/logs/2024/b.log", "b\n"),
        tar_file("app/logs/a.log", "a\n"),
        tar_file("app/notes.txt", "notes\n"),
        tar_file("app/perm.txt", "perm\n"),
        tar_dir("app/tmpdir"),
        tar_file("app/tmpdir/old.txt", "old\n"),
    ),
    created_by="COPY app/ /app/ # buildkit",
)
APP_BLOB = Layer(
    (tar_dir("app"), tar_dir("app/data"), tar_file("app/data/blob.bin", _blob(32 * 1024, 1))),
    created_by="COPY blob.bin /app/data/blob.bin # buildkit",
    gzip=True,
)
APP_CHANGES = Layer(
    (
        tar_dir("app"),
        tar_dir("app/cache"),
        tar_opaque("app/cache"),
        tar_dir("app/cache/new"),
        tar_file("app/cache/new/entry.txt", "fresh\n"),
        tar_dir("app/data"),
        tar_file("app/data/.wh.doomed.txt"),
        tar_file("app/data/big.txt", _numbers(100, 4100)),
        tar_dir("app/data/nested"),
        tar_dir("app/data/nested/deeper"),
        tar_file("app/data/nested/deeper/leaf.txt", "leaf\n", 0o640),
        tar_dir("etc"),
        tar_whiteout("etc/group"),
    ),
    created_by="RUN /bin/sh -c rm /app/data/doomed.txt /etc/group && rm -rf /app/cache …",
)
APP = ImageSpec(
    "docker.io/library/ovs-app:1",
    (
        base_layer(),
        APP_TREE,
        EmptyStep("ENV APP_HOME=/app"),
        APP_BLOB,
        APP_CHANGES,
        EmptyStep('CMD ["sh"]'),
    ),
    env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_HOME=/app"),
    labels={"org.opencontainers.image.title": "overlayscope containerd app"},
    working_dir="/app",
)
TOOL = ImageSpec(
    "docker.io/library/ovs-tool:1",
    (
        base_layer(),
        Layer(
            (
                tar_dir("opt"),
                tar_dir("opt/tool"),
                tar_file("opt/tool/run.sh", '#!/bin/sh\necho tool "$@"\n', 0o755),
            ),
            created_by="RUN /bin/sh -c mkdir -p /opt/tool … # buildkit",
            gzip=True,
        ),
    ),
)
DOOMED = ImageSpec(
    "docker.io/library/ovs-doomed:1",
    (
        base_layer(),
        Layer(
            (tar_dir("doomed"), tar_file("doomed/data.bin", _blob(4096, 2))),
            created_by="COPY data.bin /doomed/ # buildkit",
        ),
    ),
)


def filler_image(n: int) -> ImageSpec:
    """`ovs-filler:N`: the base and one small layer of its own."""
    return ImageSpec(
        f"docker.io/library/ovs-filler:{n}",
        (
            base_layer(),
            Layer((tar_dir("filler"), tar_file(f"filler/{n}.txt", f"filler {n}\n")), f"RUN {n}"),
        ),
    )


WEB = ImageSpec(
    "docker.io/library/ovs-web:1",
    (
        base_layer(),
        EmptyStep("WORKDIR /srv/www"),
        Layer(
            (
                tar_dir("app"),
                tar_file("app/conf.ini", "[web]\nport=80\n"),
                tar_dir("etc"),
                # Docker's init layer unlinks and recreates these: a real image's own files.
                tar_file("etc/hostname", "image-hostname\n"),
                tar_dir("srv"),
                tar_dir("srv/www"),
                tar_file("srv/www/index.html", "<h1>ovs</h1>\n"),
                tar_file("srv/www/old.html", "<p>old</p>\n"),
            ),
            created_by="COPY . / # buildkit",
        ),
        EmptyStep('CMD ["sh"]'),
    ),
    working_dir="/srv/www",
)
PAUSE = ImageSpec(
    "registry.k8s.io/pause:3.9",
    (base_layer(), EmptyStep('ENTRYPOINT ["sleep", "2147483647"]')),
    cmd=SLEEP_FOREVER,
)
NGINX = ImageSpec(
    "docker.io/library/ovs-nginx:1.25",
    (
        base_layer(),
        Layer(
            (
                tar_dir("etc"),
                tar_dir("etc/nginx"),
                tar_file("etc/nginx/nginx.conf", "worker_processes 1;\n"),
                tar_dir("usr"),
                tar_dir("usr/share"),
                tar_dir("usr/share/nginx"),
                tar_dir("usr/share/nginx/html"),
                tar_file("usr/share/nginx/html/index.html", "<h1>nginx</h1>\n"),
                tar_dir("var"),
                tar_dir("var/cache"),
                tar_dir("var/cache/nginx"),
            ),
            created_by="RUN /bin/sh -c set -x && install nginx # buildkit",
            gzip=True,
        ),
        EmptyStep("EXPOSE map[80/tcp:{}]"),
    ),
)
