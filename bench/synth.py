"""A synthetic but faithful Docker data root of N entries, cached under /var/tmp.

Four images built on each other (8 image layers: an OS base, packages, a Python runtime,
pip packages, node_modules, app code, an app patch, a tool) and four exited containers
(rw + init layers), in real overlay2 layout with every record the daemon keeps (see
`synth_records`). Trees (see `synth_tree`) have a realistic size mix, deep and wide dirs,
hard links, sparse files, symlinks; later layers overwrite, delete (0/0 whiteouts) and
make opaque dirs over earlier ones; rw layers hold copy-ups with `trusted.overlay.origin`,
some for a chmod only. Deterministic for given (entries, seed): the root is built once
and reused, keyed by those and `VERSION`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.synth_records import (
    ContainerSpec,
    ImageSpec,
    chain_ids,
    container_records,
    hex_id,
    image_records,
    layer_dir,
    layer_record,
)
from bench.synth_tree import DiffWriter, Mix, deep_chain, grow_packages, random_name, wide_dir

VERSION = 2  # bump when the generator changes: cached roots of other versions are not reused
CACHE_DIR = Path("/var/tmp/overlayscope-bench")
_DAY_NS = 86400 * 10**9
_EPOCH_2024_NS = 1704067200 * 10**9
_CREATED = "2024-03-01T12:00:00.000000000Z"


def parse_size(text: str) -> int:
    """Entries from text: "100k" → 100000, "1m" → 1000000, "250000" → 250000."""
    text = text.strip().lower()
    scale = {"k": 1000, "m": 1000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


@dataclass
class Manifest:
    """What was built: ids and sizes, for the benchmark to name its targets."""

    entries: int
    seed: int
    root: str
    layers: dict[str, dict[str, object]] = field(default_factory=dict)  # id → facts
    images: dict[str, str] = field(default_factory=dict)  # tag → image id
    containers: dict[str, str] = field(default_factory=dict)  # name → container id
    build_seconds: float = 0.0

    @property
    def total_entries(self) -> int:
        return sum(int(str(facts["entries"])) for facts in self.layers.values())

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=1))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text()))


def synthetic_root(entries: int, seed: int = 1, *, log: Callable[[str], None] = print) -> Manifest:
    """The cached synthetic root of `entries` entries, built first if needed."""
    home = CACHE_DIR / f"synthetic-v{VERSION}-{entries}-s{seed}"
    manifest_path = home / "manifest.json"
    if manifest_path.is_file():
        return Manifest.load(manifest_path)
    CACHE_DIR.mkdir(mode=0o755, exist_ok=True)

    def build(work: Path) -> Manifest:
        old_umask = os.umask(0)
        try:
            return _Builder(work / "root", entries, seed, log).build()
        finally:
            os.umask(old_umask)

    return build_into_cache(home, build, f"a synthetic root of {entries:,} entries", log)


def build_into_cache(
    home: Path, build: Callable[[Path], Manifest], what: str, log: Callable[[str], None]
) -> Manifest:
    """Build a root for the cache dir `home` in a work dir beside it, then move it into place.

    `build(work)` makes the root at `work / "root"` and returns its manifest (the work dir is
    deleted if it fails); the manifest, its `root` now `home / "root"`, is saved as
    `work / "manifest.json"` and the work dir renamed to `home`: the cache never holds a half
    built root. `what` names the root in the log ("a synthetic root of 1,000 entries").
    """
    work = CACHE_DIR / f".building-{home.name}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    log(f"building {what} in {home} (once; cached)")
    start = time.monotonic()
    try:
        manifest = build(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    manifest.root = str(home / "root")
    manifest.build_seconds = round(time.monotonic() - start, 1)
    manifest.save(work / "manifest.json")
    shutil.rmtree(home, ignore_errors=True)
    work.rename(home)
    log(f"built {manifest.total_entries:,} entries in {manifest.build_seconds:.0f}s")
    return manifest


# name, share of the entries, mix, package roots, uid
_IMAGE_LAYERS: list[tuple[str, float]] = [
    ("os-base", 0.34),
    ("os-packages", 0.10),
    ("python", 0.18),
    ("pip", 0.06),
    ("node-modules", 0.17),
    ("app-code", 0.04),
    ("app-patch", 0.01),
    ("tool", 0.03),
]
# tag, layer names bottom → top, parent tag
_IMAGES = [
    ("bench/base:1", ["os-base", "os-packages"], None),
    ("bench/runtime:1", ["os-base", "os-packages", "python", "pip"], "bench/base:1"),
    (
        "bench/app:1",
        ["os-base", "os-packages", "python", "pip", "node-modules", "app-code", "app-patch"],
        "bench/runtime:1",
    ),
    ("bench/tool:1", ["os-base", "os-packages", "tool"], "bench/base:1"),
]
# name, image tag, share of the entries in its rw layer
_CONTAINERS = [("web", "bench/app:1", 0.04), ("worker", "bench/app:1", 0.01),
               ("tool", "bench/tool:1", 0.005), ("db", "bench/runtime:1", 0.015)]  # fmt: skip

_BASE_DIRS = ("bin", "etc", "home", "root", "tmp", "var/log", "var/lib", "usr/bin", "usr/sbin",
              "usr/lib/x86_64-linux-gnu", "usr/share/doc", "usr/share/man")  # fmt: skip
_PY = Mix(symlinks=0.01, dirs=0.09, mu=8.0, sigma=1.3)
_NODE = Mix(symlinks=0.02, dirs=0.18, hardlinks=0.0, mu=7.0, sigma=1.4)
_OS = Mix()


class _Builder:
    def __init__(self, root: Path, entries: int, seed: int, log: Callable[[str], None]) -> None:
        self.root = str(root)
        self.n = entries
        self.rng = random.Random(seed)
        self.seed = seed
        self.log = log
        self.data = self.rng.randbytes(16 << 20)
        self.writers: dict[str, DiffWriter] = {}
        self.ids: dict[str, str] = {}
        self.manifest = Manifest(entries=entries, seed=seed, root=self.root)

    def writer(self, name: str, layer_id: str, day: int) -> DiffWriter:
        w = DiffWriter(
            os.path.join(self.root, "overlay2", layer_id, "diff"),
            self.rng,
            self.data,
            _EPOCH_2024_NS + day * _DAY_NS,
        )
        self.writers[name] = w
        self.ids[name] = layer_id
        return w

    def build(self) -> Manifest:
        for sub in ("overlay2/l", "image/overlay2/layerdb/sha256", "image/overlay2/layerdb/mounts",
                    "containers", "volumes", "network/files", "buildkit", "tmp"):  # fmt: skip
            os.makedirs(os.path.join(self.root, sub), mode=0o755 if sub != "tmp" else 0o700)
        diff_ids = self._image_layers()
        tags = self._images(diff_ids)
        for name, tag, share in _CONTAINERS:
            self._container(name, tag, share, tags)
        return self.manifest

    # -- image layers ------------------------------------------------------------------

    def _image_layers(self) -> dict[str, str]:
        diff_ids: dict[str, str] = {}
        for day, (name, share) in enumerate(_IMAGE_LAYERS):
            budget = max(10, int(self.n * share))
            w = self.writer(name, hex_id(self.seed, "layer", name), day)
            getattr(self, "_" + name.replace("-", "_"))(w, budget)
            diff_ids[name] = "sha256:" + hex_id(self.seed, "diff", name)
            self.log(f"  layer {name}: {w.count:,} entries, {w.size / 1e6:,.0f} MB")
        # records: every image layer once, with its lowest chain (the first image using it)
        done: set[str] = set()
        for _tag, names, _parent in _IMAGES:
            chains = chain_ids([diff_ids[n] for n in names])
            for i, name in enumerate(names):
                if name in done:
                    continue
                done.add(name)
                lower = [self.ids[n] for n in reversed(names[:i])]
                layer_dir(self.root, self.ids[name], lower, committed=True, mounted=False)
                parent = chains[i - 1] if i else None
                w = self.writers[name]
                layer_record(self.root, chains[i], parent, diff_ids[name], self.ids[name], w.size)
                self._note(name, "image", w)
        return diff_ids

    def _note(self, name: str, role: str, w: DiffWriter) -> None:
        self.manifest.layers[self.ids[name]] = {
            "name": name, "role": role, "entries": w.count, "size": w.size,
        }  # fmt: skip

    def _os_base(self, w: DiffWriter, budget: int) -> None:
        for d in _BASE_DIRS:
            w.ensure_dir(d)
        w.file("etc/passwd", 0, content=b"root:x:0:0:root:/root:/bin/sh\n")
        w.file("etc/group", 0, content=b"root:x:0:\n")
        w.file("etc/os-release", 0, content=b'NAME="Synthetic"\nID=synthetic\n')
        w.file("usr/bin/busybox", 1200 * 1024, mode=0o755)
        for i in range(min(300, budget // 100)):  # applets: symlinks to one binary
            w.symlink(f"usr/bin/applet{i}", "busybox")
        deep_chain(w, "usr/lib/node-vendored", 40)
        wide_dir(w, "usr/share/zoneinfo-all", min(30_000, budget // 12), Mix(empty=0.0, mu=7.0))
        grow_packages(w, ["usr/lib", "usr/share", "usr/share/doc", "usr/lib/x86_64-linux-gnu",
                          "etc", "var/lib"], budget - w.count, _OS)  # fmt: skip

    def _os_packages(self, w: DiffWriter, budget: int) -> None:
        self._patch(w, ["os-base"], budget // 200, budget // 300, 3, dir_whiteouts=2)
        grow_packages(w, ["usr/lib", "usr/share", "usr/share/doc"], budget - w.count, _OS)

    def _python(self, w: DiffWriter, budget: int) -> None:
        grow_packages(w, ["usr/lib/python3.11", "usr/lib/python3/dist-packages"],
                      budget, _PY, shared=("usr/bin",))  # fmt: skip

    def _pip(self, w: DiffWriter, budget: int) -> None:
        self._patch(w, ["python"], budget // 300, budget // 500, 1)
        grow_packages(w, ["usr/local/lib/python3.11/site-packages"], budget - w.count, _PY,
                      shared=("usr/local/bin",))  # fmt: skip

    def _node_modules(self, w: DiffWriter, budget: int) -> None:
        for i in range(5):
            deep_chain(w, f"app/node_modules/nested{i}", 25)
        roots = ["app/node_modules", "app/node_modules/@scope"]
        grow_packages(w, roots, budget - w.count, _NODE, package_size=(5, 300),
                      shared=("app/node_modules/.bin",), uid=1000)  # fmt: skip

    def _app_code(self, w: DiffWriter, budget: int) -> None:
        grow_packages(w, ["app/src", "app/static", "app/locale"], budget, _OS, shared=(), uid=1000)

    def _app_patch(self, w: DiffWriter, budget: int) -> None:
        lower = ["app-code", "node-modules", "pip", "python"]
        self._patch(w, lower, budget // 3, budget // 3, 4, dir_whiteouts=3)
        grow_packages(w, ["app/src"], max(0, budget - w.count), _OS, shared=(), uid=1000)

    def _tool(self, w: DiffWriter, budget: int) -> None:
        self._patch(w, ["os-packages", "os-base"], budget // 200, budget // 200, 1)
        grow_packages(w, ["opt/tool", "usr/local/share"], budget - w.count, _OS,
                      shared=("usr/local/bin",))  # fmt: skip

    def _patch(
        self,
        w: DiffWriter,
        lower: list[str],
        overwrites: int,
        whiteouts: int,
        opaques: int,
        *,
        dir_whiteouts: int = 0,
        copy_up: bool = False,
        chmod_only: int = 0,
    ) -> None:
        """Change files of the `lower` layers in `w`: overwrite, delete, make dirs opaque.

        With `copy_up` (rw layers), changed files carry `overlay.origin` and their parent
        dirs `overlay.impure`, as overlayfs leaves them; `chmod_only` of them keep the
        lower bytes and change only the mode.
        """
        rng = self.rng
        pools = [self.writers[name] for name in lower]

        def pick(attr: str) -> tuple[DiffWriter, str] | None:
            lw = rng.choice(pools)
            items: list[str] = getattr(lw, attr)
            return (lw, rng.choice(items)) if items else None

        def runs(count: int, longest: int) -> Iterator[tuple[DiffWriter, str]]:
            """`count` files of the lower layers, in runs of neighbours: changes cluster
            in a few dirs (a package upgraded, /etc edited), as in real layers."""
            made = 0
            while made < count:
                lw = rng.choice(pools)
                if not lw.files:
                    return
                start = rng.randrange(len(lw.files))
                for rel in lw.files[start : start + min(rng.randint(1, longest), count - made)]:
                    made += 1
                    yield lw, rel

        for i, (lw, rel) in enumerate(runs(overwrites, 16)):
            if i < chmod_only:
                src = os.path.join(lw.root, rel)
                if os.path.getsize(src) > 1 << 20:
                    continue
                with open(src, "rb") as f:
                    made = w.file(rel, 0, mode=0o600, content=f.read())
            else:
                made = w.file(rel, w.random_size(_OS))
            if made and copy_up:
                w.set_xattr(rel, "trusted.overlay.origin", b"\x00\xfb!\x00\x81" + rng.randbytes(24))
                parent = rel.rpartition("/")[0]
                if parent:
                    w.set_xattr(parent, "trusted.overlay.impure", b"y")
        for _, rel in runs(whiteouts, 6):
            w.whiteout(rel)
        for _ in range(dir_whiteouts):
            got = pick("dirs")
            if got is not None and got[1].count("/") >= 2:
                w.whiteout(got[1])
        for _ in range(opaques):
            got = pick("dirs")
            if got is None or got[1].count("/") < 2 or not w.opaque_dir(got[1]):
                continue
            for _ in range(rng.randint(2, 8)):
                w.file(got[1] + "/" + random_name(rng), w.random_size(_OS))

    # -- images and containers ---------------------------------------------------------

    def _images(self, diff_ids: dict[str, str]) -> dict[str, tuple[str, str]]:
        specs, tags = [], {}
        ids: dict[str, str] = {}
        for tag, names, parent in _IMAGES:
            spec = ImageSpec(
                tag=tag,
                diff_ids=[diff_ids[n] for n in names],
                created_by=[f"/bin/sh -c install {n}  # synthetic" for n in names],
                parent=ids.get(parent) if parent else None,
                created=_CREATED,
            )
            specs.append(spec)
            ids.update(image_records(self.root, [spec]))
            tags[tag] = (ids[tag], chain_ids(spec.diff_ids)[-1])
        self.manifest.images = dict(ids)
        # repositories.json must list every tag, not only the last one written
        image_records(self.root, specs)
        return tags

    def _container(
        self, name: str, tag: str, share: float, tags: dict[str, tuple[str, str]]
    ) -> None:
        image_id, top_chain = tags[tag]
        layer_names = next(names for t, names, _ in _IMAGES if t == tag)
        image_layers = [self.ids[n] for n in reversed(layer_names)]  # top → bottom
        cid = hex_id(self.seed, "container", name)
        mount_id = hex_id(self.seed, "mount", name)
        init = self.writer(name + "-init", mount_id + "-init", 60)
        for d in ("dev/pts", "dev/shm", "etc", "proc", "sys"):
            init.ensure_dir(d)
        for f in (".dockerenv", "dev/console", "etc/hostname", "etc/hosts", "etc/resolv.conf"):
            init.file(f, 0, mode=0o755 if f == ".dockerenv" else 0o644)
        init.symlink("etc/mtab", "/proc/mounts")
        layer_dir(self.root, mount_id + "-init", image_layers, committed=False, mounted=True)
        self._note(name + "-init", "init", init)

        rw = self.writer(name, mount_id, 61)
        budget = max(10, int(self.n * share))
        lower = [n for n in reversed(layer_names)]
        self._patch(rw, lower, budget // 8, budget // 20, 2, dir_whiteouts=2, copy_up=True,
                    chmod_only=budget // 80)  # fmt: skip
        if name == "db":
            rw.sparse("var/lib/db/table.ibd", 512 << 20)
        grow_packages(rw, ["tmp", "var/cache", "var/log/" + name, "root/.cache"],
                      max(0, budget - rw.count), _OS, shared=())  # fmt: skip
        layer_dir(self.root, mount_id, [mount_id + "-init", *image_layers],
                  committed=False, mounted=True)  # fmt: skip
        self._note(name, "rw", rw)
        self.log(f"  container {name}: rw {rw.count:,} entries")
        spec = ContainerSpec(cid, name, image_id, tag, mount_id, top_chain, _CREATED, 256 * 1024)
        container_records(self.root, spec)
        self.manifest.containers[name] = cid
