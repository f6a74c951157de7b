"""Docker's overlay2 graph driver: `overlay2/<id>/{diff,link,lower}`, `l/`, and Docker's
layer and image stores under `image/overlay2/`."""
