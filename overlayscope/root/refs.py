"""Resolve a user's reference to a container or an image, like the docker CLI does.

A reference is a full id, a unique id prefix, a container name, or an image tag (the repo
defaulting to `:latest`, Docker Hub names in either spelling: `busybox` and
`docker.io/library/busybox:latest` are one image). In a namespaced store (containerd) it may
start with `<namespace>/` to pick one namespace; one name found in two namespaces is
ambiguous, never a silent pick.
"""

from __future__ import annotations

from overlayscope.errors import AmbiguousReference, UnknownReference
from overlayscope.root.model import Container, Host, Image

_HUB = "docker.io/"


def resolve(
    host: Host, ref: str, *, containers: bool = True, images: bool = True
) -> Container | Image:
    """The one container or image `ref` names; UnknownReference or AmbiguousReference."""
    if not ref:
        raise UnknownReference("empty reference", hint="name a container or image")
    namespace, rest = _split_namespace(host, ref)
    found = _resolve(host, rest, namespace, containers=containers, images=images)
    if found:
        return _one(ref, found)
    what = " or ".join(w for w, on in (("container", containers), ("image", images)) if on)
    raise UnknownReference(
        f"no {what} matches {ref!r}",
        hint=f"list them with `overlayscope {'containers' if containers else 'images'}`",
    )


def _resolve(
    host: Host, ref: str, namespace: str | None, *, containers: bool, images: bool
) -> list[Container | Image]:
    bare = ref.removeprefix("sha256:")
    cs = [
        c
        for c in host.containers.values()
        if containers and (namespace is None or c.namespace == namespace)
    ]
    ims = [
        i
        for i in host.images.values()
        if images and (namespace is None or i.namespace == namespace)
    ]
    # Exact matches first: a full id, a name, a tag or digest reference.
    name = ref.lstrip("/")
    exact: list[Container | Image] = [c for c in cs if c.id == bare or (c.name and c.name == name)]
    if not exact:
        wanted = normalize(ref)
        exact = [
            i
            for i in ims
            if i.id == "sha256:" + bare
            or i.id == ref
            or any(normalize(t) == wanted for t in (*i.tags, *i.digests))
        ]
    if exact:
        return exact
    if bare and all(ch in "0123456789abcdef" for ch in bare):
        return [c for c in cs if c.id.startswith(bare)] + [
            i for i in ims if i.id.removeprefix("sha256:").startswith(bare)
        ]
    return []


def _one(ref: str, matches: list[Container | Image]) -> Container | Image:
    if len(matches) == 1:
        return matches[0]
    candidates = sorted(describe(m) for m in matches)
    raise AmbiguousReference(
        f"{ref!r} matches {len(matches)} objects: "
        + ", ".join(candidates[:8])
        + (" …" if len(candidates) > 8 else ""),
        candidates,
        hint="give a longer id prefix, a name, or <namespace>/<reference>",
    )


def _split_namespace(host: Host, ref: str) -> tuple[str | None, str]:
    """`k8s.io/nginx` → ("k8s.io", "nginx") when the host has that namespace."""
    head, sep, rest = ref.partition("/")
    if sep and rest and head in host.namespaces:
        return head, rest
    return None, ref


def normalize(ref: str) -> str:
    """An image reference in Docker's full form: `busybox` → `docker.io/library/busybox:latest`,
    `user/app:1` → `docker.io/user/app:1`; a name with a registry host keeps it."""
    name, at, digest = ref.partition("@")
    if not at and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    first, slash, rest = name.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        name = _HUB + name
        first, _, rest = name.partition("/")
    if first + "/" == _HUB and "/" not in rest:
        name = _HUB + "library/" + rest
    return name + at + digest


def describe(obj: Container | Image) -> str:
    ns = f"{obj.namespace}/" if obj.namespace else ""
    if isinstance(obj, Container):
        return f"container {ns}{obj.id[:12]} ({obj.name})"
    label = obj.tags[0] if obj.tags else "<none>"
    return f"image {ns}{obj.id.removeprefix('sha256:')[:12]} ({label})"
