"""Hostile evidence made for real: an image and a container on the private engine whose file
names, symlink targets, file contents and build steps try to attack a terminal, Rich and
Textual; then a copy of that data root where the records Docker would never let hold such
names (a tag, a container name, an orphaned dir, a volume) are edited to hold them.

Names are bytes. The container's shell writes them with busybox `printf` and octal escapes,
so ESC, BEL, newlines and bytes that are not UTF-8 reach the disk exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.engine import PrivateEngine

# File names (no "/", no NUL): each label → the exact bytes on disk.
NAMES: dict[str, bytes] = {
    "osc-title": b"title\x1b]0;pwned\x07end",  # sets the window title, then rings the bell
    "clear": b"clear\x1b[2J\x1b[Hscreen",  # clears the screen
    "c1-csi": "csi\u009b31mred".encode(),  # U+009B, the 8-bit CSI, in UTF-8
    "raw-9b": b"raw\x9b31m",  # a lone 0x9b byte: not UTF-8, CSI to an 8-bit terminal
    "newline": b"new\nline",
    "not-utf8": b"bad\xff\xfeutf8",
    "bidi": "invoice\u202etxt.exe".encode(),  # right-to-left override
    "zero-width": "zero\u200bwidth".encode(),
    "rich-bold": b"[bold]loud",  # a name holds no "/": no closing tag
    "textual-click": b"[@click=app.quit]x",
    "rich-link": b"[link=file:passwd]x",
    "controls": b"ctl\x01\x08\x7f\r\tz",
    "backslash": b"back\\x1bslash",  # looks like an escape: must stay distinguishable
}
# Built from dirs: the path /h/[link=file:/etc/passwd]x[/link] is itself Rich markup.
MARKUP_PATH = b"/h/[link=file:/etc/passwd]x[/link]"
# Symlink targets may hold "/".
TARGETS: dict[str, bytes] = {
    "t-osc": b"/\x1b]8;;file:///etc/passwd\x1b\\click\x1b]8;;\x1b\\",  # an OSC 8 hyperlink
    "t-markup": b"[link=file:///etc/passwd]x[/link]",
    "t-bell": b"../\x07\x07\x07/\xff",
}
# Content with terminal escapes, markup and a stray 0x9b; `cat` on a terminal escapes it.
CONTENT = (
    b"line one\n"
    b"title\x1b]0;pwned\x07 clear\x1b[2J bell\x07 csi\x9b31m c1\xc2\x9b31m\n"
    b"[bold]markup[/bold] [@click=app.quit]quit[/] [link=file:///etc/passwd]x[/link]\n"
)
# The same as valid UTF-8 (no lone 0x9b), so `diff` shows it as text.
TEXT_CONTENT = CONTENT.replace(b"csi\x9b31m ", b"")
# A build step that tries the same, in the image's history (`created_by`).
HOSTILE_STEP = (
    "# \x1b]0;pwned\x07 \x1b[2J [bold]b[/bold] [link=file:///etc/passwd]x[/link] "
    "[@click=app.quit]q\n# \u202e \x9b31m"
)
# Edited into the copy's records: Docker refuses these in tags and names.
TAG = "evil\x1b]0;pwned\x07/[link=file:///etc/passwd]x[/link]:[bold]\u202e\n1"
CONTAINER_NAME = "/[link=file:///etc/passwd]x[/link]\x1b]0;pwned\x07\x9b[bold]\n"
ORPHAN = b"orphan\x1b]0;pwned\x07[bold]\xff"
VOLUME = b"vol\x1b[2J[link=file:passwd]x\xff"


def printf_cmd(data: bytes) -> str:
    """A busybox command that writes `data` exactly: printf '<octal escapes>'."""
    body = "".join(
        chr(b) if b < 128 and (chr(b).isalnum() or chr(b) in "._-") else f"\\{b:03o}" for b in data
    )
    return f"printf '{body}'"


def printf(data: bytes) -> str:
    """A shell word that expands to `data` exactly (which must not end with a newline)."""
    return f'"$({printf_cmd(data)})"'


def _script(lines: Iterable[str]) -> str:
    return "set -e\n" + "\n".join(lines) + "\n"


def image_script() -> str:
    """Layer 1: every hostile name as a file and a dir, hostile symlink targets, content."""
    lines = ["mkdir -p /h /h/d"]
    for label, name in NAMES.items():
        lines.append(f"echo 'v1 {label}' > /h/{printf(name)}")
        lines.append(f"mkdir /h/d/{printf(name)} && echo in > /h/d/{printf(name)}/f")
    for label, target in TARGETS.items():
        lines.append(f"ln -s {printf(target)} /h/{label}")
    lines.append(f"mkdir -p {printf(os.path.dirname(MARKUP_PATH))}")
    lines.append(f"echo markup > {printf(MARKUP_PATH)}")
    lines.append(f"{printf_cmd(CONTENT)} > /h/content.txt")
    lines.append(f"{printf_cmd(TEXT_CONTENT)} > /h/{printf(NAMES['clear'])}")
    return _script(lines)


def image_script_2() -> str:
    """Layer 2: rewrite two hostile files (waste for `efficiency`, a version beneath)."""
    return _script(
        [
            f"echo 'v2 rewritten' > /h/{printf(NAMES['osc-title'])}",
            f"echo 'v2 rewritten' > /h/{printf(NAMES['not-utf8'])}",
        ]
    )


# Symlinks for the resolution tests: loops, a chain one too long, escapes that must land
# inside the container's root.
SYMLINKS: list[tuple[str, str]] = (
    [
        ("/s/loop1", "loop2"),
        ("/s/loop2", "/s/loop1"),
        ("/s/self", "self"),
        ("/s/abs-passwd", "/etc/passwd"),
        ("/s/climb-passwd", "../../../../../../../../etc/passwd"),
        ("/s/etc", "/etc"),
        ("/s/up", "../../../.."),
        ("/s/dangling", "/no/such/file"),
        ("/s/to-content", "/h/content.txt"),
    ]
    + [(f"/s/long{i}", f"long{i + 1}") for i in range(40)]
    + [
        ("/s/long40", "/h/content.txt"),  # 41 symlinks: one more than the kernel follows
    ]
    + [(f"/s/ok{i}", f"ok{i + 1}") for i in range(39)]
    + [
        ("/s/ok39", "/h/content.txt"),  # 40 symlinks: the kernel's MAXSYMLINKS, still fine
    ]
)


def container_script() -> str:
    """What the container does: change, add and delete hostile names; plant symlinks."""
    lines = [
        "mkdir -p /c /s",
        f"echo 'changed in the container' >> /h/{printf(NAMES['clear'])}",
        f"rm /h/{printf(NAMES['bidi'])}",
        f"rm -r /h/d/{printf(NAMES['textual-click'])}",
    ]
    for label, name in NAMES.items():
        lines.append(f"echo 'added {label}' > /c/{printf(name)}")
    # A large file with a hostile name: it tops `df`'s largest files.
    big = printf(b"big-" + NAMES["osc-title"])
    lines.append(f"dd if=/dev/zero of=/c/{big} bs=1024 count=3072 2>/dev/null")
    lines.append(f"chmod 4755 /c/{printf(NAMES['rich-bold'])}")  # a setuid finding
    for path, target in SYMLINKS:
        lines.append(f"ln -s '{target}' '{path}'")
    return _script(lines)


IMAGE_TAG = "hostile/img:1"
CONTAINER = "hostile-c"


@dataclass(frozen=True)
class HostileRoot:
    """A copy of the engine's data root holding the hostile image and container."""

    root: Path
    image_id: str
    container_id: str
    rw_diff: Path  # the container's writable layer, on the copy
    image_diffs: tuple[Path, ...]  # the image's layers top → bottom, on the copy

    def args(self, *command: str | bytes) -> tuple[str | bytes, ...]:
        return ("--offline", "--root", str(self.root), *command)


def build_hostile(engine: PrivateEngine, base_image: str) -> tuple[str, str]:
    """Build the image and run the container to completion; (image id, container id)."""
    dockerfile = "\n".join(
        [
            f"FROM {base_image}",
            # The hostile comment first: `efficiency` shows the start of each step.
            "RUN " + json.dumps(["/bin/sh", "-c", HOSTILE_STEP + "\n" + image_script()]),
            "RUN " + json.dumps(["/bin/sh", "-c", image_script_2()]),
            "",
        ]
    )
    image_id = engine.build(IMAGE_TAG, dockerfile)
    engine.run(IMAGE_TAG, ["sh", "-c", container_script()], name=CONTAINER, detach=False)
    container_id = engine.inspect(CONTAINER)[0]["Id"]
    return image_id, container_id


def copy_root(engine: PrivateEngine, dest: Path) -> Path:
    """Copy the engine's data root without crossing into live mounts (merged/, shm)."""
    subprocess.run(["cp", "-ax", str(engine.data_root), str(dest)], check=True)
    return dest


def plant_records(root: Path, image_id: str, container_id: str) -> None:
    """Edit the copy: a hostile tag and container name, an orphan dir, a volume."""
    repos_path = root / "image/overlay2/repositories.json"
    repos = json.loads(repos_path.read_bytes())
    repos["Repositories"].setdefault("evil", {})[TAG] = image_id
    repos_path.write_text(json.dumps(repos))
    config_path = root / "containers" / container_id / "config.v2.json"
    config = json.loads(config_path.read_bytes())
    config["Name"] = CONTAINER_NAME
    config_path.write_text(json.dumps(config))
    orphan = os.path.join(os.fsencode(root / "overlay2"), ORPHAN)
    os.makedirs(os.path.join(orphan, b"diff", b"junk"))
    with open(os.path.join(orphan, b"diff", b"junk", NAMES["osc-title"]), "wb") as f:
        f.write(b"x" * 5000)
    volume = os.path.join(os.fsencode(root / "volumes"), VOLUME, b"_data")
    os.makedirs(volume)
    with open(os.path.join(volume, NAMES["clear"]), "wb") as f:
        f.write(b"y" * 7000)


def hostile_root(engine: PrivateEngine, base_image: str, dest: Path) -> HostileRoot:
    image_id, container_id = build_hostile(engine, base_image)
    root = copy_root(engine, dest)
    plant_records(root, image_id, container_id)
    mount = root / "image/overlay2/layerdb/mounts" / container_id
    rw = (mount / "mount-id").read_text().strip()
    config = json.loads(
        (
            root / "image/overlay2/imagedb/content/sha256" / image_id.removeprefix("sha256:")
        ).read_bytes()
    )
    from overlayscope.root.oci import chain_ids

    layers = []
    for chain in reversed(chain_ids(config["rootfs"]["diff_ids"])):
        record = root / "image/overlay2/layerdb/sha256" / chain.removeprefix("sha256:")
        layers.append(root / "overlay2" / (record / "cache-id").read_text().strip() / "diff")
    return HostileRoot(
        root=root,
        image_id=image_id,
        container_id=container_id,
        rw_diff=root / "overlay2" / rw / "diff",
        image_diffs=tuple(layers),
    )


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
