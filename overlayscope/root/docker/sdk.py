"""The docker SDK, for the daemon addresses our own client (`api.Client`) does not speak:
`ssh://` and the like. Loaded then and only then (with requests and urllib3, ~0.1 s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from overlayscope.root.docker.api import DaemonAPI, NotFound, clip


class SdkAPI:
    """The docker SDK's APIClient asked what `api.Client` is asked, its NotFound ours:
    for the addresses our client does not speak (`ssh://`, …)."""

    def __init__(self, sdk: Any, not_found: type[Exception]) -> None:
        self._sdk, self._not_found = sdk, not_found

    def info(self) -> Any:
        return self._sdk.info()

    def containers(self) -> Any:
        return self._sdk.containers(all=True)

    def images(self) -> Any:
        return self._sdk.images(all=True)

    def inspect_container(self, container_id: str) -> Any:
        return self._inspect(self._sdk.inspect_container, container_id)

    def inspect_image(self, image_id: str) -> Any:
        return self._inspect(self._sdk.inspect_image, image_id)

    def _inspect(self, inspect: Callable[[str], Any], object_id: str) -> Any:
        try:
            return inspect(object_id)
        except self._not_found as exc:
            raise NotFound(404, object_id, clip(str(exc))) from exc


def sdk_connect(seconds: float) -> Callable[[], tuple[DaemonAPI, Any]] | None:
    """How to reach the daemon `DOCKER_HOST` names through the docker SDK (None when it
    is not installed): `version="auto"` and the environment's address and TLS. Only an
    address `api.Client` does not speak gets here, so DOCKER_HOST is always set."""
    try:
        import docker  # deferred: only for the addresses api.Client does not speak
        from docker.utils import kwargs_from_env
    except ImportError:
        return None

    def connect() -> tuple[DaemonAPI, Any]:
        sdk = docker.APIClient(timeout=seconds, version="auto", **kwargs_from_env())
        return SdkAPI(sdk, docker.errors.NotFound), sdk.info()

    return connect
