"""Resolve a user's reference to a container or an image, like the docker CLI does."""

from __future__ import annotations

from overlayscope.errors import AmbiguousReference, UnknownReference
from overlayscope.root.model import Container, Host, Image


def resolve(
    host: Host, ref: str, *, containers: bool = True, images: bool = True
) -> Container | Image:
    """Full id, unique id prefix, container name, or image tag (repo defaults to :latest)."""
    if not ref:
        raise UnknownReference("empty reference", hint="name a container or image")
    bare = ref.removeprefix("sha256:")
    if containers:
        for c in host.containers.values():
            if c.id == bare or c.name == ref.lstrip("/"):
                return c
    if images:
        tag = ref if ":" in ref.rsplit("/", 1)[-1] or "@" in ref else ref + ":latest"
        for image in host.images.values():
            if image.id == "sha256:" + bare or tag in image.tags or ref in image.digests:
                return image
    matches: list[Container | Image] = []
    if len(bare) >= 1 and all(ch in "0123456789abcdef" for ch in bare):
        if containers:
            matches += [c for c in host.containers.values() if c.id.startswith(bare)]
        if images:
            matches += [
                i for i in host.images.values() if i.id.removeprefix("sha256:").startswith(bare)
            ]
    if len(matches) == 1:
        return matches[0]
    what = " or ".join(w for w, on in (("container", containers), ("image", images)) if on)
    if not matches:
        raise UnknownReference(
            f"no {what} matches {ref!r}",
            hint=f"list them with `overlayscope {'containers' if containers else 'images'}`",
        )
    candidates = sorted(describe(m) for m in matches)
    raise AmbiguousReference(
        f"{ref!r} matches {len(matches)} objects: "
        + ", ".join(candidates[:8])
        + (" …" if len(candidates) > 8 else ""),
        candidates,
        hint="give a longer id prefix or a name",
    )


def describe(obj: Container | Image) -> str:
    if isinstance(obj, Container):
        return f"container {obj.id[:12]} ({obj.name})"
    label = obj.tags[0] if obj.tags else "<none>"
    return f"image {obj.id.removeprefix('sha256:')[:12]} ({label})"
