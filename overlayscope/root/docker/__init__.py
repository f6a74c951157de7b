"""Docker's own records, whatever store holds its layers: container configs (`containers/`),
the layer store (`image/<driver>/layerdb`), the image store (`imagedb`), local volumes, the
daemon's API. The overlay2 and legacy overlay readers, and the Docker 29 reader over
containerd, share them."""
