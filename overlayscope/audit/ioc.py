"""Indicators of compromise: a list of SHA-256 hashes and paths or globs to look for.

The file format, one indicator a line:

- blank lines and lines starting with `#` are ignored; surrounding spaces are stripped;
- 64 hex digits are a SHA-256 of file content (any case);
- anything else is a path or a glob (`*`, `?`, `[...]`; `*` also matches `/`). With a `/`
  it is matched against the whole container path (`/tmp/*.sh`); without one, against the
  last component only (`xmrig` matches `/usr/local/bin/xmrig`).

A line that can only be a mistake is refused with its line number (`IocSyntaxError`, exit
2), never silently taken for a file name that matches nothing: 32 or 40 hex digits (MD5,
SHA-1); any other run of 16 or more hex digits that is not 64 long (a truncated hash); a
`sha256:` prefix not followed by 64 hex digits (the prefix is dropped otherwise); a hash
followed by more text (`sha256sum` output: keep the hash alone); a pattern with a `/` that
starts with neither `/` nor a wildcard (container paths are absolute: it could never
match); control characters, or bytes that are not UTF-8.
"""

from __future__ import annotations

import fnmatch
import os
import re

from overlayscope.errors import ExitCode, OverlayscopeError
from overlayscope.record import record
from overlayscope.userfiles import NotARegularFile, read_regular_file

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_OTHER_HASH = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40})$")
_HEX_RUN = re.compile(r"^[0-9a-fA-F]{16,}$")
_HASH_THEN_TEXT = re.compile(r"^[0-9a-fA-F]{64}\s+\S")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\udc80-\udcff]")  # and undecodable bytes
_PREFIX = "sha256:"
MAX_IOC_BYTES = 64 << 20


class IocError(OverlayscopeError):
    title = "bad IOC list"


class IocSyntaxError(IocError):
    """A line of the IOC list that cannot be meant as written: the analyst's input, exit 2."""

    exit_code = ExitCode.USAGE


@record
class PathIndicator:
    pattern: str
    whole_path: bool  # False: matched against the last component only
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        subject = path if self.whole_path else path.rsplit("/", 1)[-1]
        return self.regex.match(subject) is not None


@record
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
        where = f"{source}:{number}"
        _refuse_mistakes(line, where)
        if line.lower().startswith(_PREFIX):
            line = line[len(_PREFIX) :]
        if _SHA256.match(line):
            hashes.add(line.lower())
        else:
            paths.append(
                PathIndicator(line, "/" in line, re.compile(fnmatch.translate(line), re.DOTALL))
            )
    return IocList(source, frozenset(hashes), tuple(paths))


def _refuse_mistakes(line: str, where: str) -> None:
    """Raise `IocSyntaxError` naming the line when it can only be a mistake (module doc)."""
    shown = printable_preview(line)
    if _CONTROL.search(line):
        raise IocSyntaxError(
            f"{where}: control characters or bytes that are not UTF-8 in {shown}",
            hint="one indicator a line, as UTF-8 text",
        )
    if line.lower().startswith(_PREFIX):
        if not _SHA256.match(line[len(_PREFIX) :]):
            raise IocSyntaxError(
                f"{where}: {shown} is not sha256: and 64 hex digits",
                hint="give SHA-256 hashes (64 hex digits)",
            )
        return
    if _OTHER_HASH.match(line):
        raise IocSyntaxError(
            f"{where}: {len(line) * 4}-bit hash {line[:12]}…: only SHA-256 is supported",
            hint="give SHA-256 hashes (64 hex digits)",
        )
    if _HEX_RUN.match(line) and not _SHA256.match(line):
        raise IocSyntaxError(
            f"{where}: {len(line)} hex digits: not a SHA-256 (64), a truncated hash?",
            hint="give SHA-256 hashes (64 hex digits)",
        )
    if _HASH_THEN_TEXT.match(line):
        raise IocSyntaxError(
            f"{where}: a hash followed by more text ({shown}): one indicator a line",
            hint="keep the hash alone (sha256sum output: drop the file name)",
        )
    if "/" in line and not line.startswith(("/", "*", "?", "[")):
        raise IocSyntaxError(
            f"{where}: {shown} has a '/' but is not absolute: it can never match",
            hint="container paths start with '/': write /" + line,
        )


def printable_preview(line: str, width: int = 40) -> str:
    """The line quoted for an error message: escaped, and cut to `width` characters."""
    return ascii(line[:width]) + ("…" if len(line) > width else "")


def load_iocs(path: str) -> IocList:
    """Read an IOC file (the analyst's own file, not evidence).

    A FIFO, a device, a socket or a dir is an `IocError` before it is opened: never a hang.
    """
    hint = "--ioc takes a text file"
    try:
        data = read_regular_file(path, MAX_IOC_BYTES, hint)
    except NotARegularFile as exc:
        raise IocError(exc.message, hint=hint) from None
    except OSError as exc:
        raise IocError(f"cannot read {path}: {exc.strerror or exc}", hint=hint) from None
    if len(data) > MAX_IOC_BYTES:
        raise IocError(f"{path} is larger than {MAX_IOC_BYTES >> 20} MiB")
    return parse_iocs(data.decode("utf-8", "surrogateescape"), os.path.basename(path))
