"""containerd's overlayfs snapshotter: `io.containerd.snapshotter.v1.overlayfs/snapshots/<N>/fs`,
its records in two bbolt files (containerd's `meta.db`, the snapshotter's `metadata.db`) and
the content store's blobs. Kubernetes nodes (namespace `k8s.io`) and Docker 29's containerd
image store (namespace `moby`, with Docker's data root beside it)."""
