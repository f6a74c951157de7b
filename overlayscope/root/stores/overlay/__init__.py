"""Docker's legacy `overlay` graph driver (removed in Docker 24; older hosts and forensic
snapshots keep it): an image layer is a full `root/` tree hard-linked from the layer beneath
it, with its own changes applied; a container has `upper/`, `work/`, `merged/` and a
`lower-id` naming the image's top layer."""
