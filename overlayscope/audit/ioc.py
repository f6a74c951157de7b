"""Indicators of compromise: a list of SHA-256 hashes and paths or globs to look for.

The file format, one indicator a line:

- blank lines and lines starting with `#` are ignored; surrounding spaces are stripped;
- 64 hex digits are a SHA-256 of file content (any case);
- anything else is a path or a glob (`*`, `?`, `[...]`; `*` also matches `/`). With a `/`
  it is matched against the whole container path (`/tmp/*.sh`); without one, against the
  last component only (`xmrig` matches `/usr/local/bin/xmrig`).

32 or 40 hex digits (MD5, SHA-1) are refused rather than taken for a file name.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass

from overlayscope.errors import OverlayscopeError

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_OTHER_HASH = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40})$")
MAX_IOC_BYTES = 64 << 20


class IocError(OverlayscopeError):
    title = "bad IOC list"


@dataclass(frozen=True, slots=True)
class PathIndicator:
    pattern: str
    whole_path: bool  # False: matched against the last component only
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        subject = path if self.whole_path else path.rsplit("/", 1)[-1]
        return self.regex.match(subject) is not None


@dataclass(frozen=True, slots=True)
class IocList:
    """Parsed indicators; `source` names the file for the finding's detail."""

    source: str
    hashes: frozenset[str]  # lower-case hex
    paths: tuple[PathIndicator, ...]

    def match_path(self, path: str) -> list[str]:
        """The patterns that match a container path."""
        return [p.pattern for p in self.paths if p.matches(path)]

    def match_hash(self, sha256: str) -> bool:
        return sha256.lower() in self.hashes


def parse_iocs(text: str, source: str = "<iocs>") -> IocList:
    hashes: set[str] = set()
    paths: list[PathIndicator] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _SHA256.match(line):
            hashes.add(line.lower())
        elif _OTHER_HASH.match(line):
            raise IocError(
                f"{source}:{number}: {len(line) * 4}-bit hash {line[:12]}…: only SHA-256 is "
                "supported",
                hint="give SHA-256 hashes (64 hex digits)",
            )
        else:
            paths.append(
                PathIndicator(line, "/" in line, re.compile(fnmatch.translate(line), re.DOTALL))
            )
    return IocList(source, frozenset(hashes), tuple(paths))


def load_iocs(path: str) -> IocList:
    """Read an IOC file (the analyst's own file, not evidence)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_IOC_BYTES + 1)
    except OSError as exc:
        raise IocError(
            f"cannot read {path}: {exc.strerror or exc}", hint="--ioc takes a text file"
        ) from None
    if len(data) > MAX_IOC_BYTES:
        raise IocError(f"{path} is larger than {MAX_IOC_BYTES >> 20} MiB")
    return parse_iocs(data.decode("utf-8", "surrogateescape"), os.path.basename(path))
