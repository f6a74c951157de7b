"""A minimal HTTP/1.1 client connection: GETs over a unix socket or TCP (TLS when given
a context), each reply read whole and bounded, the connection kept alive between them.

Not `http.client`: importing it costs ~20 ms (it loads `ssl` and the `email` package
whatever the endpoint), more than a daemon takes to answer; this loads `socket` alone,
and speaks only the HTTP a Docker daemon's JSON replies need.
"""

from __future__ import annotations

import contextlib
import re
import socket
from typing import TYPE_CHECKING

from overlayscope.names import plural

if TYPE_CHECKING:
    import ssl

_PIECE = 1024 * 1024  # bytes read at once: memory grows with what arrives, not what is claimed
_MAX_LINE = 65536  # bytes of a status, header, chunk-size or trailer line (as http.client)
_MAX_HEADERS = 100  # header (or trailer) lines of one response (as http.client)
_WIRE_SLACK = 64 * 1024  # off the wire, a reply may be 2 * max_body and this much more

_STATUS = re.compile(r"HTTP/1\.([0-9]) ([1-9][0-9]{2})(?: [^\r\n]*)?\r?\n?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS = re.compile(r"[0-9]{1,19}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_VISIBLE = re.compile(r"[\x21-\x7e]+")  # a request target or Host: printable ASCII
_BLANK = (b"\r\n", b"\n")


class NotHTTP(ValueError):
    """The reply is not HTTP this client reads; the text says what it is instead."""


class TooLarge(ValueError):
    """The reply is larger than the bound it was read under."""


class IdleClosed(ConnectionResetError):
    """A kept-alive connection the daemon closed while it was idle: nothing was answered
    on it, so the request may be sent again on a new one."""


class Connection:
    """One connection to a daemon: a unix socket at `socket_path`, else TCP to `host` and
    `port` (in `tls`, when given); opened by the first request, and again by the next one
    after it closes. Every socket operation waits at most `timeout` seconds."""

    def __init__(
        self,
        *,
        socket_path: str | None = None,
        host: str = "",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        timeout: float,
    ) -> None:
        self.socket_path, self.host, self.port = socket_path, host, port
        self.tls, self.timeout = tls, timeout
        self.sock: socket.socket | None = None
        self._buf, self._pos = b"", 0  # received and not yet consumed: self._buf[self._pos:]
        self._left = self._limit = 0  # bytes this response may still take off the wire

    def close(self) -> None:
        sock, self.sock = self.sock, None
        self._buf, self._pos = b"", 0
        if sock is not None:
            sock.close()

    def get(self, target: str, max_body: int) -> tuple[int, bytes, dict[str, str]]:
        """The status, body and headers (names in lower case) of `GET target`: the body
        at most `max_body` bytes, the response at most `2 * max_body + 64 KiB` off the
        wire (chunk framing included).

        Raises OSError (TimeoutError when a socket operation outlasts the timeout;
        IdleClosed when a kept-alive connection was found closed, nothing answered),
        NotHTTP for what is not HTTP, TooLarge past a bound. The connection is closed
        after any error, and after a reply that ends with the connection.
        """
        try:
            return self._get(target, max_body)
        except BaseException:
            self.close()
            raise

    def _get(self, target: str, max_body: int) -> tuple[int, bytes, dict[str, str]]:
        if not _VISIBLE.fullmatch(target):
            raise ValueError(f"a request target HTTP does not allow: {target[:80]!r}")
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {self._host_header()}\r\n"
            "User-Agent: overlayscope\r\nAccept: application/json\r\n\r\n"
        ).encode("ascii")
        reused = self.sock is not None
        sock = self.sock if self.sock is not None else self._connect()
        self._buf, self._pos = b"", 0
        self._limit = self._left = 2 * max_body + _WIRE_SLACK
        try:
            sock.sendall(request)
            first = self._recv(_PIECE)
            if not first:
                raise ConnectionResetError("the daemon closed the connection without answering")
        except (BrokenPipeError, ConnectionResetError) as exc:
            if reused:
                raise IdleClosed(*exc.args) from exc
            raise
        self._buf = first
        status, version, headers = self._head()
        while 100 <= status < 200:  # interim responses (100 Continue, 103 Early Hints, …)
            status, version, headers = self._head()
        body, ended = self._body(status, headers, max_body)
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        closing = "close" in tokens or (version == 0 and "keep-alive" not in tokens)
        # bytes past the reply: no next one could be read from where they leave off
        if ended or closing or self._pos < len(self._buf):
            self.close()
        return status, body, headers

    def _host_header(self) -> str:
        if self.socket_path is not None:
            return "localhost"
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != (443 if self.tls is not None else 80):
            host = f"{host}:{self.port}"
        if not _VISIBLE.fullmatch(host):
            raise ValueError(f"a host HTTP does not allow: {host[:80]!r}")
        return host

    def _connect(self) -> socket.socket:
        if self.socket_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect(self.socket_path)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection((self.host, self.port), self.timeout)
            try:
                with contextlib.suppress(OSError):  # a request is one write anyway
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.tls is not None:
                    sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        return sock

    # ----------------------------------------------------------------------- reading

    def _recv(self, size: int) -> bytes:
        """At most `size` bytes off the wire (b"" when the daemon closed)."""
        assert self.sock is not None
        return self.sock.recv(size)

    def _spend(self, data: bytes) -> bytes:
        """`data`, read of the reply: counted against the wire bound."""
        self._left -= len(data)
        if self._left < 0:
            raise TooLarge(f"a reply of more than {self._limit} bytes")
        return data

    def _read(self, size: int) -> bytes:
        """Up to `size` bytes of the reply, at least one unless it has ended."""
        if self._pos < len(self._buf):
            piece = self._buf[self._pos : self._pos + size]
            self._pos += len(piece)
            return self._spend(piece)
        return self._spend(self._recv(min(size, _PIECE)))

    def _exactly(self, size: int, what: str) -> bytes:
        pieces, got = [], 0
        while got < size:
            piece = self._read(min(size - got, _PIECE))
            if not piece:
                raise NotHTTP(f"{what} of {plural(size, 'byte')} cut short after {got}")
            pieces.append(piece)
            got += len(piece)
        return b"".join(pieces)

    def _readline(self, what: str) -> bytes:
        """The next line, its end included; what is left when the reply ends first (b""
        when nothing is). NotHTTP for a line over _MAX_LINE bytes."""
        start = scan = self._pos
        while True:
            end = self._buf.find(b"\n", scan, start + _MAX_LINE)
            if end >= 0:
                self._pos = end + 1
                return self._spend(self._buf[start : end + 1])
            if len(self._buf) - start >= _MAX_LINE:
                raise NotHTTP(f"{what} of more than {_MAX_LINE} bytes")
            data = self._recv(_PIECE)
            if not data:
                self._pos = len(self._buf)
                return self._spend(self._buf[start:])
            scan = len(self._buf) - start
            self._buf, self._pos, start = self._buf[start:] + data, 0, 0

    def _head(self) -> tuple[int, int, dict[str, str]]:
        """A response's status, minor version and headers (names in lower case; repeated
        ones joined by ", ")."""
        line = self._readline("a status line")
        found = _STATUS.fullmatch(line.decode("latin-1"))
        if not found:
            raise NotHTTP(f"a status line {_shown(line)}")
        headers: dict[str, str] = {}
        count = 0
        while (line := self._readline("a header line")) not in _BLANK:
            if not line.endswith(b"\n"):
                raise NotHTTP("a reply that ends in its headers")
            count += 1
            if count > _MAX_HEADERS:
                raise NotHTTP(f"more than {_MAX_HEADERS} headers")
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or not _TOKEN.fullmatch(name):
                raise NotHTTP(f"a header line {_shown(line)}")
            key, value = name.lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return int(found[2]), int(found[1]), headers

    def _body(self, status: int, headers: dict[str, str], max_body: int) -> tuple[bytes, bool]:
        """The body, and whether the connection ended with it."""
        if status in (204, 304):
            return b"", False
        coding = headers.get("transfer-encoding")
        if coding is not None:
            if coding.strip().lower() != "chunked":
                raise NotHTTP(f"a transfer coding this client does not read: {_shown(coding)}")
            return self._chunked(max_body)
        length = headers.get("content-length")
        if length is not None:
            if not _DIGITS.fullmatch(length):
                raise NotHTTP(f"a Content-Length of {_shown(length)}")
            size = int(length)
            if size > max_body:
                raise TooLarge(f"a body of {size} bytes, over the {max_body}-byte bound")
            return self._exactly(size, "a body"), False
        pieces, size = [], 0  # neither: the body is all the connection carries
        while piece := self._read(min(_PIECE, max_body + 1 - size)):
            size += len(piece)
            if size > max_body:
                raise TooLarge(f"a body of more than {max_body} bytes")
            pieces.append(piece)
        return b"".join(pieces), True

    def _chunked(self, max_body: int) -> tuple[bytes, bool]:
        pieces, size = [], 0
        while True:
            line = self._readline("a chunk size line")
            if not line:
                raise NotHTTP("a chunked body that ends before its last chunk")
            digits = line.split(b";", 1)[0].strip()  # chunk extensions: none we read
            if not _HEX.fullmatch(digits):
                raise NotHTTP(f"a chunk of {_shown(digits)} bytes")
            chunk = int(digits, 16)
            if chunk == 0:
                break
            if size + chunk > max_body:
                raise TooLarge(f"a body of more than {max_body} bytes")
            pieces.append(self._exactly(chunk, "a chunk"))
            size += chunk
            if self._readline("a chunk's end") not in _BLANK:
                raise NotHTTP(f"a chunk longer than its size ({plural(chunk, 'byte')})")
        count = 0  # trailer fields, to the blank line: none we read
        while (line := self._readline("a trailer line")) not in _BLANK:
            if not line.endswith(b"\n"):  # the connection ended: the body is whole
                return b"".join(pieces), True
            count += 1
            if count > _MAX_HEADERS:
                raise NotHTTP(f"more than {_MAX_HEADERS} trailer lines")
        return b"".join(pieces), False


def _shown(text: bytes | str) -> str:
    """What the daemon sent, quoted and escaped, cut to 80 characters."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    text = text.rstrip("\r\n")
    return repr(text) if len(text) <= 80 else repr(text[:80]) + "…"
