"""One reader per store, each filling the same `Host` (root/model.py).

`overlay2/` Docker's overlay2 graph driver; `containerd/` containerd's overlayfs snapshotter
(Docker 29's image store, Kubernetes nodes). Which store a root holds is decided in
root/locate.py; nothing above root/ asks.
"""
