"""containers/storage's overlay driver (Podman, Buildah, CRI-O; rootless too): `overlay/` in
overlay2's layout, the JSON records in `overlay-layers/`, `overlay-images/`,
`overlay-containers/`, and Podman's own state DB in `libpod/`."""
