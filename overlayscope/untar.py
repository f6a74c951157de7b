"""Unpack an archive given to `--root`: the bytes of a forensic copy, never its privileges.

Python's `tarfile` reads the archive; every member is made here through directory fds
(`openat`/`mkdirat`/`symlinkat`/`linkat`/`mknodat`, each dir opened `O_NOFOLLOW`), never
by a path that could pass through a symlink the archive made. `tarfile`'s `data` filter
refuses the same escapes, but also every device node and every absolute symlink, which a
data root holds by design (whiteouts; `/etc/mtab -> /proc/mounts` in a layer); and it
sets no xattrs, which overlay semantics need. So:

- **Refused** (`ArchiveRefused`: nothing of the archive is used): a member named by an
  absolute path or with a `..` component, one that lies beneath a symlink or a file the
  archive made (a symlink then a file "through" it), one that would replace a dir, a hard
  link to such a name or to a member not unpacked before it.
- **Left out** (counted, named in `Unpacked.left_out`): device nodes, FIFOs and any other
  special file — except a character device 0/0, an overlayfs whiteout, which the kernel's
  layout needs to say "deleted" (made as root only: mknod needs CAP_MKNOD).
- **Stripped**: setuid, setgid and sticky bits (permission bits are kept); owners (all
  belongs to the user unpacking); xattrs other than overlay's (`trusted.overlay.*`,
  `user.overlay.*`): no `security.capability` (file capabilities), ACL or SELinux label.
- **Kept as written**: a symlink's target (data: overlayscope never follows one out of a
  layer, and nothing here is made through one), file contents (holes of sparse members
  stay holes), modes' permission bits, mtimes, overlay xattrs.
"""

from __future__ import annotations

import base64
import errno
import os
import stat
import tarfile
import urllib.parse
from decimal import Decimal, InvalidOperation
from typing import IO

from overlayscope.errors import OverlayscopeError
from overlayscope.record import field, record

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_CHUNK = 1 << 20


class ArchiveRefused(OverlayscopeError):
    """A member of the archive would escape the dir it is unpacked into."""

    title = "archive refused"


@record(frozen=False, slots=False)
class Unpacked:
    """What `unpack_tar` made: `complete` is False when a whiteout or an overlay xattr
    could not be made (not root); `left_out` names the special files not made."""

    complete: bool = True
    left_out: list[str] = field(default_factory=list)


def unpack_tar(fileobj: IO[bytes], dest: str, label: str) -> Unpacked:
    """Unpack the tar archive (any compression tarfile reads) in `fileobj` into the
    existing, empty dir `dest`. `label` names the archive in errors.

    `ArchiveRefused` for a member that would escape (module docstring), OverlayscopeError
    for an archive tarfile cannot read; either may leave a part unpacked in `dest`.
    """
    root_fd = os.open(dest, _DIR)
    try:
        with tarfile.open(fileobj=fileobj, mode="r:*") as tar:
            return _Unpacker(tar, root_fd, label).run()
    except OSError as exc:
        raise OverlayscopeError(f"cannot unpack {label}: {exc.strerror or exc}") from None
    except (tarfile.TarError, EOFError, ValueError) as exc:  # damaged, truncated, not a tar
        raise OverlayscopeError(f"cannot unpack {label}: {exc}") from None
    finally:
        os.close(root_fd)


class _Unpacker:
    def __init__(self, tar: tarfile.TarFile, root_fd: int, label: str) -> None:
        self.tar = tar
        self.root_fd = root_fd
        self.label = label
        self.result = Unpacked()
        self.dirs: dict[tuple[str, ...], tarfile.TarInfo] = {}  # modes and times set last
        self.left_out: set[tuple[str, ...]] = set()
        self.no_whiteout: set[tuple[str, ...]] = set()  # whiteouts a non-root user cannot make
        self._parent: tuple[tuple[str, ...], int] | None = None  # the last parent's fd

    def run(self) -> Unpacked:
        try:
            for member in self.tar:
                self._member(member)
            # Deepest first: a dir's mtime is set after its children are made, and a dir
            # made read-only no longer needs writing into.
            for parts in sorted(self.dirs, key=len, reverse=True):
                self._finish_dir(parts, self.dirs[parts])
        finally:
            self._drop_parent()
        return self.result

    # -- one member -------------------------------------------------------------------

    def _member(self, member: tarfile.TarInfo) -> None:
        parts = self._parts(member.name, member.name)
        if member.isdir():
            if parts:
                self._make_dir(parts, member)
            self.dirs[parts] = member
            return
        if not parts:
            self._refuse(member.name, "is the archive's root, yet no directory")
        parent = self._parent_fd(parts, member.name)
        leaf = parts[-1]
        if member.isreg():
            self._replace(parent, leaf, member.name)
            self._make_file(parent, leaf, member)
        elif member.issym():
            self._replace(parent, leaf, member.name)
            os.symlink(member.linkname, leaf, dir_fd=parent)
            self._attributes(parent, leaf, member)
        elif member.islnk():
            self._make_hard_link(parent, parts, member)
        elif member.ischr() and member.devmajor == 0 and member.devminor == 0:
            if not self._make_whiteout(parent, leaf, member):
                self.no_whiteout.add(parts)
        else:
            self.left_out.add(parts)
            self.result.left_out.append(f"{member.name} ({_kind(member)})")

    def _make_dir(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        parent = self._parent_fd(parts, member.name)
        try:
            os.mkdir(parts[-1], 0o700, dir_fd=parent)  # its own mode once it is filled
        except FileExistsError:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                self._refuse(member.name, "is a dir where the archive made a file or symlink")
        fd = os.open(parts[-1], _DIR, dir_fd=parent)
        try:
            self._xattrs(fd, member)
        finally:
            os.close(fd)

    def _make_file(self, parent: int, leaf: str, member: tarfile.TarInfo) -> None:
        fd = os.open(leaf, _NEW_FILE, 0o600, dir_fd=parent)
        try:
            src = self.tar.extractfile(member)
            if src is not None:
                with src:
                    # A sparse member's holes stay holes: only its data runs are written.
                    sparse: list[tuple[int, int]] | None = member.sparse  # type: ignore[assignment]
                    runs = sparse if sparse else [(0, member.size)]
                    for offset, length in runs:
                        src.seek(offset)
                        os.lseek(fd, offset, os.SEEK_SET)
                        _copy(src, fd, length)
            os.ftruncate(fd, member.size)
            self._xattrs(fd, member)
            os.fchmod(fd, _mode(member))
            os.utime(fd, ns=_times(member))
        finally:
            os.close(fd)

    def _make_hard_link(self, parent: int, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        target = self._parts(member.linkname, member.name)
        if target in self.left_out:  # a link to a device left out is left out too
            self.left_out.add(parts)
            self.result.left_out.append(f"{member.name} (hard link to {member.linkname})")
            return
        if target in self.no_whiteout:  # overlayfs shares one whiteout inode among many
            self.no_whiteout.add(parts)
            return
        if not target:
            self._refuse(member.name, "is a hard link to the archive's root")
        try:
            source = self._walk(target[:-1], member.name, create=False)
        except FileNotFoundError:
            self._refuse(member.name, f"is a hard link to {member.linkname}, not unpacked")
        try:
            self._replace(parent, parts[-1], member.name)
            try:
                os.link(target[-1], parts[-1], src_dir_fd=source, dst_dir_fd=parent,
                        follow_symlinks=False)  # fmt: skip
            except FileNotFoundError:
                self._refuse(member.name, f"is a hard link to {member.linkname}, not unpacked")
            except PermissionError:  # a dir: no hard links to dirs
                self._refuse(member.name, f"is a hard link to the directory {member.linkname}")
        finally:
            os.close(source)

    def _make_whiteout(self, parent: int, leaf: str, member: tarfile.TarInfo) -> bool:
        self._replace(parent, leaf, member.name)
        try:
            os.mknod(leaf, stat.S_IFCHR | _mode(member), os.makedev(0, 0), dir_fd=parent)
        except PermissionError:  # not root: no whiteout, so the tree is incomplete
            self.result.complete = False
            return False
        self._attributes(parent, leaf, member)
        return True

    def _attributes(self, parent: int, leaf: str, member: tarfile.TarInfo) -> None:
        """xattrs and times of a symlink or whiteout, not followed (they have no fd)."""
        path = f"/proc/self/fd/{parent}/{leaf}"
        for name, value in _overlay_xattrs(member):
            try:
                os.setxattr(path, name, value, follow_symlinks=False)
            except OSError:
                self.result.complete = False
        os.utime(leaf, ns=_times(member), dir_fd=parent, follow_symlinks=False)

    def _xattrs(self, fd: int, member: tarfile.TarInfo) -> None:
        for name, value in _overlay_xattrs(member):
            try:
                os.setxattr(fd, name, value)
            except OSError:  # trusted.* needs root; a filesystem may have no xattrs
                self.result.complete = False

    def _finish_dir(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        fd = self._walk(parts, member.name, create=False)
        try:
            os.fchmod(fd, _mode(member))
            os.utime(fd, ns=_times(member))
        finally:
            os.close(fd)

    # -- names and the dirs they lie in -----------------------------------------------

    def _parts(self, name: str, member: str) -> tuple[str, ...]:
        if name.startswith("/"):
            self._refuse(member, "has an absolute path" if name == member else f"links to {name}")
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if ".." in parts:
            self._refuse(member, f"climbs out with '..' ({name})")
        if any("\0" in p for p in parts):
            self._refuse(member, "has a NUL byte in its name")
        return parts

    def _parent_fd(self, parts: tuple[str, ...], member: str) -> int:
        """The fd of `parts`' parent dir, made (0700) where missing; cached for the next."""
        parent = parts[:-1]
        if self._parent is not None and self._parent[0] == parent:
            return self._parent[1]
        fd = self._walk(parent, member, create=True)
        self._drop_parent()
        self._parent = (parent, fd)
        return fd

    def _drop_parent(self) -> None:
        if self._parent is not None:
            os.close(self._parent[1])
            self._parent = None

    def _walk(self, parts: tuple[str, ...], member: str, *, create: bool) -> int:
        """An fd of the dir `parts` under the root, each component opened O_NOFOLLOW."""
        fd = os.dup(self.root_fd)
        try:
            for part in parts:
                try:
                    child = os.open(part, _DIR, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o700, dir_fd=fd)
                    child = os.open(part, _DIR, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        self._refuse(member, f"lies beneath {part}, a symlink or file")
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _replace(self, parent: int, leaf: str, member: str) -> None:
        """Remove what an earlier member made at `leaf` (tar's last one wins), but a dir."""
        try:
            st = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            self._refuse(member, "would replace a directory")
        os.unlink(leaf, dir_fd=parent)

    def _refuse(self, member: str, why: str) -> None:
        raise ArchiveRefused(
            f"{self.label}: member {member!r} {why}",
            hint="a hostile or damaged archive: nothing from it is used",
        )


def _copy(src: IO[bytes], fd: int, length: int) -> None:
    while length > 0:
        chunk = src.read(min(length, _CHUNK))
        if not chunk:
            raise EOFError("unexpected end of data")
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]
        length -= len(chunk)


def _mode(member: tarfile.TarInfo) -> int:
    return member.mode & 0o777  # no setuid, setgid or sticky bit


def _times(member: tarfile.TarInfo) -> tuple[int, int]:
    """(atime, mtime) in ns; pax records keep nanoseconds that `TarInfo.mtime` rounds."""
    mtime = _ns(member.pax_headers.get("mtime")) or int(member.mtime) * 10**9
    return _ns(member.pax_headers.get("atime")) or mtime, mtime


def _ns(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(Decimal(value) * 10**9)
    except (InvalidOperation, ValueError):
        return None


def _overlay_xattrs(member: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    """The overlay xattrs a member carries: GNU tar's `SCHILY.xattr.NAME` (raw value,
    read back by tarfile with surrogate escapes) or libarchive's `LIBARCHIVE.xattr.NAME`
    (URL-encoded name, base64 value)."""
    out = []
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name, raw = key[len("SCHILY.xattr.") :], value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr.") :])
            try:
                raw = base64.b64decode(value + "=" * (-len(value) % 4))
            except ValueError:
                continue
        else:
            continue
        if name.startswith(_OVERLAY_XATTRS):
            out.append((name, raw))
    return out


def _kind(member: tarfile.TarInfo) -> str:
    if member.ischr():
        return f"character device {member.devmajor}/{member.devminor}"
    if member.isblk():
        return f"block device {member.devmajor}/{member.devminor}"
    if member.isfifo():
        return "FIFO"
    return f"tar type {member.type!r}"
