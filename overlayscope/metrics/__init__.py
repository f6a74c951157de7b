"""A host's figures for Prometheus: what `overlayscope metrics` prints and `overlayscope serve`
exports (docs/metrics.md).

`figures` measures a host once with the library (`usage.df.disk_usage`, `usage.images`)
into plain data and imports nothing but the core; `families` turns figures into
prometheus_client metric families, `textfile` writes them for node_exporter, `exporter`
keeps the last completed scan and refreshes it in the background, `server` answers
`/metrics` and `/healthz`. Presentation, like `cli/`: the core never imports this package.
"""

from __future__ import annotations
