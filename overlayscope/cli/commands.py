"""The commands the CLI knows, described without importing them.

`overlayscope --help` and `--version` must answer at once: they read this table alone.
A command's module (its arguments and its code, and whatever library it needs) is
imported only when that command runs or shows its own `--help` (`cli.main`).
"""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    """One subcommand: the module that registers and runs it, and its help texts. (Not a
    dataclass: `dataclasses` would load `inspect` and `ast` on the start-up path.)"""

    name: str
    module: str  # under overlayscope.cli; its register(sub) adds the parser
    summary: str  # the line in `overlayscope --help`
    description: str  # the paragraph atop `overlayscope NAME --help`
    examples: tuple[str, ...]


COMMANDS: tuple[Command, ...] = (
    Command(
        "containers",
        "inventory",
        "containers with their writable layer and its size",
        "Every container of the store: name, state, image, its writable (rw) layer, the "
        "layer's size (docker's SizeRw) and the virtual size with the image beneath "
        "(SizeRootFs), as `docker ps -as` shows them.",
        (
            "overlayscope containers",
            "overlayscope containers --json | jq '.[] | {name, size, size_root_fs}'",
            "overlayscope containers --columns name,size,virtual",
        ),
    ),
    Command(
        "images",
        "inventory",
        "images with their layers, shared and unique size",
        "Every tagged or dangling image with its layer count, size, the bytes it shares "
        "with other images and those unique to it (`docker system df -v`). Intermediate "
        "images of a classic build are hidden, as `docker images` hides them; --all shows "
        "them.",
        (
            "overlayscope images",
            "overlayscope images --all",
            "overlayscope images --columns image,tags,unique",
        ),
    ),
    Command(
        "history",
        "history",
        "an image's build steps, those that made no layer too (docker history)",
        "The steps of an image's history, newest first, as `docker history` lists them: "
        "when each was created, the command (`created_by`), and the size of the layer it "
        "made (0 for a step that made none: ENV, CMD, LABEL…).",
        (
            "overlayscope history nginx:latest",
            "overlayscope history --no-trunc myimage",
            "overlayscope --json history myimage",
        ),
    ),
    Command(
        "layers",
        "inventory",
        "every layer dir with its role, owners and size",
        "Every layer directory of the store: its role (image, rw, init, orphan…), the "
        "images or container owning it, how many layers lie beneath it, its size and its "
        "problems.",
        ("overlayscope layers", "overlayscope layers --columns layer,role,size"),
    ),
    Command(
        "orphans",
        "inventory",
        "layer dirs nothing references (reclaimable)",
        "Layer dirs that no record of the store references, with their size and the "
        "command an operator could remove each with (overlayscope deletes nothing). Dirs "
        "that may still be in use are listed apart, with no removal command.",
        ("overlayscope orphans", "overlayscope orphans | grep 'rm -rf --'"),
    ),
    Command(
        "check",
        "inventory",
        "problems in the store's records; exit 1 when there is any",
        "Broken link/lower chains, records pointing at missing dirs, unreadable metadata "
        "and other damage of the store's records. Exit status 1 when there is any.",
        ("overlayscope check", "overlayscope check --json | jq '.problems[].kind'"),
    ),
    Command(
        "audit",
        "forensics",
        "forensic findings in every container's writable layer (read-only); see docs/audit.md",
        "Forensic findings (new executables, setuid bits, edits to sensitive files, IOC "
        "matches…) in every container's writable layer, or every image layer too, with "
        "documented severities. Nothing is written, mounted or followed out of a layer.",
        (
            "overlayscope --root /mnt/ev/var/lib/docker audit --hash --ioc iocs.txt",
            "overlayscope audit --images --json > report.json",
        ),
    ),
    Command(
        "timeline",
        "forensics",
        "Sleuth Kit bodyfile (mactime, plaso) of a container's layers; or --csv",
        "A Sleuth Kit bodyfile of a container's (or image's) layers for mactime or plaso, "
        "or CSV with nanosecond times.",
        (
            "overlayscope timeline web > body.txt && mactime -b body.txt",
            "overlayscope timeline --all --csv",
        ),
    ),
    Command(
        "container",
        "container",
        "what a container changed: docker diff, with copy-up and content facts",
        "Exactly `docker diff` (or `podman diff`) as a tree: added, changed and deleted "
        "paths with their sizes, copy-ups (and those made for a metadata change only), "
        "opaque dirs, and the totals.",
        ("overlayscope container web", "overlayscope container web --json | jq .totals"),
    ),
    Command(
        "where",
        "files",
        "every layer that holds PATH, which one wins, what hides the rest",
        "Every layer holding PATH, top to bottom: which one wins, and which whiteout or "
        "opaque dir hides the others. PATH may be written as the other commands print it "
        "(with \\xNN escapes).",
        ("overlayscope where web /etc/passwd",),
    ),
    Command(
        "ls",
        "files",
        "the merged directory PATH, each entry tagged with its layer",
        "The merged directory PATH as the container sees it, each entry tagged with the "
        "layer it comes from.",
        ("overlayscope ls web /app", "overlayscope ls nginx:latest /etc/nginx"),
    ),
    Command(
        "cat",
        "files",
        "the bytes of PATH in the merged view (symlinks resolved inside)",
        "The bytes of PATH in the merged view; symlinks resolve inside the container's "
        "root, never the host's. PATH may be written as `ls` prints it: "
        "cat web '/app/esc\\x1b[31m' finds the file whose name holds an ESC.",
        ("overlayscope cat web /app/current.conf", "overlayscope cat web /bin/sh | sha256sum"),
    ),
    Command(
        "diff",
        "files",
        "PATH against the version beneath the top layer",
        "A unified diff of PATH against the version beneath the top layer that holds it "
        "(sizes and sha256 for binary files); `patch` applies it.",
        (
            "overlayscope diff web /app/conf/app.conf",
            "overlayscope diff web /app/conf/app.conf | patch app.conf",
        ),
    ),
    Command(
        "df",
        "usage",
        "the data root by category: apparent, allocated and reclaimable bytes, top consumers",
        "The data root by category (image layers shared and unique, rw and init layers, "
        "orphans, container logs, volumes, build cache, the rest): apparent, allocated and "
        "reclaimable bytes, and the top consumers.",
        ("overlayscope df", "overlayscope df --containers --top 20"),
    ),
    Command(
        "efficiency",
        "usage",
        "an image's efficiency as dive computes it; with --ci, exit 1 over a threshold",
        "An image's efficiency score, wasted bytes and paths as dive computes them, and "
        "the bytes later layers hide. With --ci, exit 1 when dive's thresholds are "
        "exceeded.",
        ("overlayscope efficiency scope/app:1", "overlayscope efficiency --ci myimage"),
    ),
    Command(
        "metrics",
        "metrics",
        "the host's figures in Prometheus text exposition, or a node_exporter textfile",
        "The host's figures in Prometheus text exposition (or OpenMetrics), on stdout or "
        "written atomically for node_exporter's textfile collector (docs/metrics.md).",
        (
            "overlayscope metrics",
            "overlayscope metrics --textfile /var/lib/prometheus/node-exporter",
        ),
    ),
    Command(
        "serve",
        "metrics",
        "a Prometheus exporter: /metrics from the last completed scan, and /healthz",
        "A Prometheus exporter: /metrics answered from the last completed scan, rescanned "
        "in the background at low I/O priority; /healthz.",
        ("overlayscope --root /var/lib/containerd serve --listen 0.0.0.0:9861",),
    ),
    Command(
        "tui",
        "",
        "open the terminal UI (the default; needs a terminal)",
        "The terminal UI on this host's data root. It needs a terminal on stdin and "
        "stdout: without one it exits 2 with a hint.",
        ("overlayscope", "overlayscope --root /var/lib/containerd tui"),
    ),
)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}


def epilog(command: Command) -> str:
    """The examples at the foot of `overlayscope NAME --help`."""
    return "\n".join(["examples:", *(f"  {line}" for line in command.examples)])
