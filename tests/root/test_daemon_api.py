"""overlayscope's own Docker Engine API client (overlayscope/root/docker/api.py).

`DOCKER_HOST` read as the docker CLI reads it; what the client raises for each way a
daemon fails, and the words a user then sees; TLS against a real TLS server; and against
the real private dockerd, answers equal to the docker SDK's for the same daemon.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.docker import api
from overlayscope.root.docker.api import (
    TLS,
    APIError,
    BadHost,
    BadReply,
    Client,
    Endpoint,
    NotFound,
    parse_host,
)
from overlayscope.root.docker.daemon import (
    DEFAULT_SOCKET,
    DaemonView,
    Live,
    fetch_view,
    parse_info,
    reach,
    why_unreachable,
)
from overlayscope.root.docker.sdk import SdkAPI
from tests.engine import PrivateEngine
from tests.hostile.daemon import (
    API_VERSION,
    HANG,
    Chunked,
    Raw,
    Wire,
    fake_daemon,
    fake_tcp_daemon,
)

HOME_CERTS = os.path.join(os.path.expanduser("~"), ".docker")
INFO = {"DockerRootDir": "/var/lib/docker", "Driver": "overlay2", "ServerVersion": "20.10.24"}


def _replies(**more: Any) -> dict[str, Any]:
    return {
        "_ping": Raw(b"OK"),  # its Api-Version header: API_VERSION
        "version": {"Version": "20.10.24", "ApiVersion": API_VERSION},
        "info": dict(INFO),
        "containers/json": [],
        "images/json": [],
        **more,
    }


# --------------------------------------------------------------------------- DOCKER_HOST

HOSTS: list[tuple[str, dict[str, str], Endpoint | None]] = [
    ("unix:///run/user/1000/docker.sock", {}, Endpoint(socket_path="/run/user/1000/docker.sock")),
    ("unix://", {}, Endpoint(socket_path=DEFAULT_SOCKET)),
    ("unix:///s", {"DOCKER_TLS_VERIFY": "1"}, Endpoint(socket_path="/s")),  # TLS is tcp's
    ("tcp://10.0.0.7:2375", {}, Endpoint(host="10.0.0.7", port=2375)),
    ("tcp://docker.example", {}, Endpoint(host="docker.example", port=2375)),
    ("tcp://[::1]:4243/base/", {}, Endpoint(host="::1", port=4243, base_path="/base")),
    ("tcp://:2375", {}, Endpoint(host="localhost", port=2375)),
    ("tcp://h", {"DOCKER_TLS_VERIFY": "1"},
     Endpoint(host="h", port=2376, tls=TLS(verify=True, cert_path=HOME_CERTS))),
    ("tcp://h:1", {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"},
     Endpoint(host="h", port=1, tls=TLS(verify=True, cert_path="/certs"))),
    ("tcp://h:1", {"DOCKER_TLS": "1", "DOCKER_CERT_PATH": "/certs"},
     Endpoint(host="h", port=1, tls=TLS(verify=False, cert_path="/certs"))),
    # empty is unset, as for the CLI; a cert path alone asks for no TLS
    ("tcp://h:1", {"DOCKER_TLS_VERIFY": "", "DOCKER_TLS": "", "DOCKER_CERT_PATH": "/certs"},
     Endpoint(host="h", port=1)),
    # the docker SDK's to speak
    ("ssh://me@build-host", {}, None),
    ("ssh://me@build-host:2222", {"DOCKER_TLS_VERIFY": "1"}, None),
    ("npipe:////./pipe/docker_engine", {}, None),
    ("http://h:2375", {}, None),
    ("fd://", {}, None),
]  # fmt: skip


@pytest.mark.parametrize(("url", "env", "expected"), HOSTS, ids=[h[0] for h in HOSTS])
def test_docker_host_is_read_as_the_cli_reads_it(
    url: str, env: dict[str, str], expected: Endpoint | None
) -> None:
    assert parse_host(url, env) == expected


@pytest.mark.parametrize(
    "url", ["tcp://h:99999", "tcp://h:port", "tcp://me@h:1", "tcp://h:1?x=1", "unix:///a\x00b"]
)
def test_an_address_that_cannot_be_right_is_bad_host(url: str) -> None:
    with pytest.raises(BadHost):
        parse_host(url, {})


def test_a_bad_docker_host_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://h:99999")
    [problem] = reach(1.0).problems
    assert problem.kind.value == "daemon-unavailable" and problem.path == "tcp://h:99999"
    assert "cannot be reached: DOCKER_HOST" in problem.detail


def test_ssh_is_the_docker_sdks() -> None:
    """`ssh://` is reached through the docker SDK, as before: imported for it alone."""
    code = (
        "import sys\n"
        "from overlayscope.root.docker import daemon\n"
        "r = daemon.reach(1.0)\n"
        "print('docker' in sys.modules, r.problems[0].kind.value, r.problems[0].path)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = "ssh://nobody@127.0.0.1:1"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
        timeout=60,
    ).stdout.split()  # fmt: skip
    assert out == ["True", "daemon-unavailable", "ssh://nobody@127.0.0.1:1"]


# --------------------------------------------------------------------------- the client


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "docker.sock"


def _client(sock: Path, timeout: float = 5.0) -> Client:
    return Client(Endpoint(socket_path=str(sock)), timeout)


def test_the_version_is_negotiated_once_and_the_connection_kept(sock: Path) -> None:
    with fake_daemon(sock, _replies()) as daemon:
        client = _client(sock)
        assert client.info() == INFO
        for _ in range(5):
            assert client.containers() == [] and client.images() == []
        with pytest.raises(NotFound):  # an image it has no reply for
            client.inspect_image("sha256:" + "a" * 64)
    assert daemon.paths[:3] == ["/_ping", "/v1.41/info", "/v1.41/containers/json?all=1"]
    assert daemon.paths.count("/_ping") == 1 and "/version" not in daemon.paths
    assert f"/v1.41/images/sha256:{'a' * 64}/json" in daemon.paths
    assert daemon.connections == 1


def test_a_connection_the_daemon_closes_is_opened_again(sock: Path) -> None:
    """A reply without `Connection: close`, then the daemon hangs up: the next request
    finds the kept connection dead and asks again on a new one."""
    replies = _replies(info=Wire(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
    with fake_daemon(sock, replies) as daemon:
        client = _client(sock)
        assert client.info() == {}
        time.sleep(0.1)  # the daemon's close has arrived
        assert client.containers() == []
    assert daemon.connections == 2


def test_a_chunked_reply_is_read_whole(sock: Path) -> None:
    big = [{"Id": f"{i:064x}", "Names": ["/c" + "x" * 500]} for i in range(4000)]
    with fake_daemon(sock, _replies(**{"containers/json": Chunked(big, size=777)})):
        assert _client(sock).containers() == big


@pytest.mark.parametrize("status", [404, 409, 500])
def test_an_http_error_carries_its_status_and_message(sock: Path, status: int) -> None:
    message = "No such container: " + "y" * 1000
    body = json.dumps({"message": message}).encode()
    with (
        fake_daemon(sock, _replies(**{f"containers/{'c' * 64}/json": Raw(body, status)})),
        pytest.raises(APIError) as caught,
    ):
        _client(sock).inspect_container("c" * 64)
    error = caught.value
    assert isinstance(error, NotFound) == (status == 404)
    assert error.status == status and error.message == api.clip(message)
    assert str(error).startswith(f"HTTP {status} for /v1.41/containers/{'c' * 64}/json: No")
    assert why_unreachable(error, 1).startswith(f"answered with an error: HTTP {status} for")


@pytest.mark.parametrize(
    "body", [b"<html>", b"\xff\xfe<html>", b'{"a": ', b""], ids=["html", "utf16", "cut", "empty"]
)
def test_a_body_that_is_not_json_is_a_json_error(sock: Path, body: bytes) -> None:
    with (
        fake_daemon(sock, _replies(info=Raw(body))),
        pytest.raises(json.JSONDecodeError),
    ):
        _client(sock).info()


@pytest.mark.parametrize(
    ("api_version", "said"),
    [
        ("1.41/../../containers/x", "Api-Version '1.41/../../containers/x'"),
        (None, "no Api-Version header"),
        ("", "Api-Version ''"),
        ("1.41.0", "Api-Version '1.41.0'"),
        ("v1.41", "Api-Version 'v1.41'"),
    ],
)
def test_a_ping_with_no_api_version_is_a_bad_reply(
    sock: Path, api_version: str | None, said: str
) -> None:
    """The version is negotiated as the docker CLI does, from `_ping`'s Api-Version
    header; one that is no version is a bad reply, and no versioned path is asked."""
    with (
        fake_daemon(sock, _replies(_ping=Raw(b"OK", api_version=api_version))) as daemon,
        pytest.raises(BadReply, match=f"with {re.escape(said)}"),
    ):
        _client(sock).info()
    assert daemon.calls == ["_ping"]  # nothing asked on a made-up path


@pytest.mark.parametrize(
    "wire",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"h" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: h\r\n" * 101 + b"Content-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2_0\r\n\r\n{}",
        b"HTTP/2 200\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
    ],
    ids=[
        "no-http", "cut-short", "bad-chunk-size", "header-too-long", "101-headers",
        "chunk-size-negative", "chunk-size-absurd", "chunk-longer-than-its-size",
        "transfer-coding-unread", "length-negative", "length-not-an-integer", "http-2",
        "status-not-a-number", "header-no-colon", "headers-cut-short", "only-interim",
    ],
)  # fmt: skip
def test_what_is_not_http_is_a_bad_reply(sock: Path, wire: bytes) -> None:
    with (
        fake_daemon(sock, _replies(info=Wire(wire))),
        pytest.raises(BadReply, match="what is not HTTP"),
    ):
        _client(sock).info()


def test_a_hundred_headers_are_read(sock: Path) -> None:
    """http.client's bound: 100 header lines are a reply, 101 are not (above)."""
    wire = b"HTTP/1.1 200 OK\r\n" + b"X: h\r\n" * 99 + b"Content-Length: 2\r\n\r\n{}"
    with fake_daemon(sock, _replies(info=Wire(wire))):
        assert _client(sock).info() == {}


def test_a_chunk_size_negative_is_said_in_bytes(sock: Path) -> None:
    """Refused at once (not read "until the connection closes", as http.client did), in
    words that say what came: a chunk of '-1' bytes."""
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n" + b" " * 200_000
    with (
        fake_daemon(sock, _replies(info=Wire(wire, hold=True))),
        pytest.raises(BadReply, match=r"what is not HTTP \(a chunk of '-1' bytes\)"),
    ):
        _client(sock, timeout=30).info()


def test_a_body_claimed_over_the_bound_is_refused_unread(sock: Path) -> None:
    """A Content-Length past MAX_BODY is a bad reply at once: the connection, held open
    with nothing more sent, is not read to its deadline."""
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: 9999999999999\r\n\r\n{}"
    with (
        fake_daemon(sock, _replies(info=Wire(wire, hold=True))),
        pytest.raises(BadReply, match="a body of 9999999999999 bytes, over the"),
    ):
        _client(sock, timeout=30).info()


def test_a_body_to_the_close_is_read_and_the_connection_not_kept(sock: Path) -> None:
    """Neither a Content-Length nor chunks: the body is all the connection carries."""
    with fake_daemon(sock, _replies(info=Wire(b"HTTP/1.1 200 OK\r\n\r\n" + b'{"a": 1}'))) as d:
        client = _client(sock)
        assert client.info() == {"a": 1}
        assert client.containers() == []
    assert d.connections == 2


def test_a_body_to_the_close_over_the_bound_is_a_bad_reply(
    sock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "MAX_BODY", 1000)
    wire = Wire(b"HTTP/1.1 200 OK\r\n\r\n" + b" " * 200_000, hold=True)
    with (
        fake_daemon(sock, _replies(info=wire)),
        pytest.raises(BadReply, match="a body of more than 1000 bytes"),
    ):
        _client(sock, timeout=30).info()


def test_chunk_framing_counts_against_the_wire_bound(
    sock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of one byte with long extensions: the body stays small, the bytes off the
    wire do not; past 2 * MAX_BODY + 64 KiB they are a bad reply."""
    monkeypatch.setattr(api, "MAX_BODY", 1000)
    framing = b"1;" + b"x" * 4000 + b"\r\n \r\n"
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framing * 100
    with (
        fake_daemon(sock, _replies(info=Wire(wire, hold=True))),
        pytest.raises(BadReply, match=f"a reply of more than {2 * 1000 + 65536} bytes"),
    ):
        _client(sock, timeout=30).info()


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_bound_is_a_bad_reply(
    sock: Path, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    monkeypatch.setattr(api, "MAX_BODY", 1000)
    big = {"Padding": "x" * 5000}
    with (
        fake_daemon(sock, _replies(info=Chunked(big, 100) if chunked else big)),
        pytest.raises(BadReply, match="1000"),
    ):
        _client(sock).info()


def test_json_too_deep_is_a_bad_reply(sock: Path) -> None:
    with (
        fake_daemon(sock, _replies(info=Raw(b"[" * 200_000 + b"]" * 200_000))),
        pytest.raises(BadReply, match="refuses"),
    ):
        _client(sock).info()


def test_no_answer_is_a_timeout_within_the_timeout(sock: Path) -> None:
    with fake_daemon(sock, _replies(info=HANG)):
        client = _client(sock, timeout=0.3)
        start = time.monotonic()
        with pytest.raises(TimeoutError) as caught:
            client.info()
        assert time.monotonic() - start < 2
        assert why_unreachable(caught.value, 0.3) == "did not answer within 0.3 s"
        # the connection is dropped with the request: the next one gets its own answer
        assert client.containers() == []


def test_refused_and_missing_sockets_say_so(sock: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        _client(sock).info()
    assert why_unreachable(missing.value, 1) == "cannot be reached: there is no such socket"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.close()  # bound, never listening
    with pytest.raises(ConnectionRefusedError) as refused:
        _client(sock).info()
    assert why_unreachable(refused.value, 1) == (
        "refused the connection (no daemon listening there)"
    )


@contextmanager
def _scripted(
    sock: Path, conversations: list[list[bytes]], hold: bool = False
) -> Iterator[list[str]]:
    """A daemon of raw bytes on `sock`: its n-th connection answers its requests with the
    n-th conversation's replies in turn, then is closed (or, with `hold`, read until the
    client closes it, answering nothing more). Yields "<connection> <request line>" of
    each request answered, and "<connection> unanswered" for one sent after them."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.listen()
    seen: list[str] = []
    sockets = [listener]

    def serve() -> None:
        for n, replies in enumerate(conversations, 1):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            sockets.append(conn)
            with conn:
                data = b""
                for reply in replies:
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536) or b"EOF\r\n\r\n"
                    head, _, data = data.partition(b"\r\n\r\n")
                    seen.append(f"{n} {head.splitlines()[0].decode()}")
                    conn.sendall(reply)
                while hold and (more := conn.recv(65536)):
                    seen.append(f"{n} unanswered {more[:20]!r}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        for s in sockets:  # wakes an accept() or recv() still waiting
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        thread.join(10)
        listener.close()


VERSION = {"ApiVersion": API_VERSION}
BODY = json.dumps(VERSION).encode()
OK = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
GET = "GET /version HTTP/1.1"


def test_interim_replies_are_skipped(sock: Path) -> None:
    """1xx replies before the final one (100 Continue, 103 Early Hints) are read past,
    and the connection stays good for the next request."""
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    with _scripted(sock, [[interim + OK, OK]]) as seen:
        client = _client(sock)
        assert client.version() == VERSION and client.version() == VERSION
    assert seen == [f"1 {GET}", f"1 {GET}"]


def test_trailers_after_the_last_chunk_are_read(sock: Path) -> None:
    """Chunk extensions are ignored, trailer lines read to the blank line: the next
    request's reply is read on the same connection from where this one ended."""
    chunks = b"".join(
        b"%x;n=%d\r\n%s\r\n" % (len(BODY[i : i + 5]), i, BODY[i : i + 5])
        for i in range(0, len(BODY), 5)
    )
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunks
        + b"0;last\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n"
    )
    with _scripted(sock, [[chunked, OK, chunked]]) as seen:
        client = _client(sock)
        assert [client.version() for _ in range(3)] == [VERSION] * 3
    assert seen == [f"1 {GET}"] * 3


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}EXTRA",
    ],
    ids=["close", "close-among-tokens", "http-1.0", "bytes-past-the-reply"],
)
def test_a_connection_the_daemon_ends_is_not_used_again(sock: Path, reply: bytes) -> None:
    """`Connection: close` (or HTTP/1.0 without keep-alive, or bytes past the reply) ends
    the connection with the reply, though the daemon keeps it open: the next request
    opens a new one, never waits on the old."""
    with _scripted(sock, [[reply], [OK]], hold=True) as seen:
        client = _client(sock, timeout=2)
        assert client.version() == {}
        assert client.version() == VERSION
    assert seen == [f"1 {GET}", f"2 {GET}"]


def test_http_1_0_with_keep_alive_is_kept(sock: Path) -> None:
    keep = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}"
    with _scripted(sock, [[keep, OK]]) as seen:
        client = _client(sock)
        assert client.version() == {} and client.version() == VERSION
    assert seen == [f"1 {GET}", f"1 {GET}"]


def test_a_closed_idle_connection_is_retried_once(sock: Path) -> None:
    """The daemon closes the kept connection after a reply: the next request finds it
    closed, unanswered, and is sent again on a new connection — once: that one closed
    unanswered too is a ConnectionResetError, not a third try."""
    with _scripted(sock, [[OK], [OK], []]) as seen:
        client = _client(sock, timeout=2)
        assert client.version() == VERSION
        time.sleep(0.1)  # the daemon's close has arrived
        assert client.version() == VERSION
        time.sleep(0.1)
        with pytest.raises(ConnectionError):  # EPIPE, ECONNRESET or b"": not retried
            client.version()
    assert seen == [f"1 {GET}", f"2 {GET}"]


def test_a_fresh_connection_closed_unanswered_is_not_retried(sock: Path) -> None:
    with _scripted(sock, [[], [OK]]) as seen, pytest.raises(ConnectionError):
        _client(sock, timeout=2).version()
    assert seen == []


def test_a_reply_cut_short_on_a_kept_connection_is_not_retried(sock: Path) -> None:
    """The daemon answered part of a reply, then closed: that is its answer, a bad one."""
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n{}"
    with _scripted(sock, [[OK, cut], [OK]]) as seen:
        client = _client(sock, timeout=2)
        assert client.version() == VERSION
        with pytest.raises(BadReply, match="what is not HTTP"):
            client.version()
    assert seen == [f"1 {GET}", f"1 {GET}"]


def test_the_request_is_the_one_documented(sock: Path) -> None:
    """What is sent: a GET with Host, User-Agent and Accept, nothing more."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.listen()
    got: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            got.append(data)
            conn.sendall(OK)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert _client(sock).version() == VERSION
    finally:
        thread.join(10)
        listener.close()
    assert got == [
        b"GET /version HTTP/1.1\r\nHost: localhost\r\nUser-Agent: overlayscope\r\n"
        b"Accept: application/json\r\n\r\n"
    ]


@pytest.mark.parametrize(
    "object_id",
    ["sha256:" + "a" * 64, "a/b c", "../../x", "é€😀", "?#%&=+;@!$'()*,", "-._~:", "\x00\x7f"],
)
def test_an_object_id_is_quoted_as_urllib_quotes_it(object_id: str) -> None:
    from urllib.parse import quote

    assert api._quote(object_id) == quote(object_id, safe=":")


def test_a_unix_socket_daemon_is_asked_without_http_client_email_ssl_or_urllib(
    sock: Path,
) -> None:
    """Our own HTTP/1.1 over the socket: none of the standard library's HTTP, mail, TLS
    or URL machinery (~25 ms of imports) is loaded to ask a daemon on a unix socket."""
    code = (
        "import sys\n"
        "from overlayscope.root.docker.api import Client, parse_host\n"
        f"client = Client(parse_host({f'unix://{sock}'!r}, {{}}), 5.0)\n"
        "assert client.info()['Driver'] == 'overlay2' and client.containers() == []\n"
        "print(sorted(m for m in ('http.client', 'email', 'ssl', 'urllib.parse', 'http')"
        " if m in sys.modules))\n"
    )
    with fake_daemon(sock, _replies()) as daemon:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]"]
    assert daemon.paths == ["/_ping", "/v1.41/info", "/v1.41/containers/json?all=1"]


def test_the_view_through_our_client_is_the_sdk_adapters(sock: Path) -> None:
    """`fetch_view` asks both the same four things (the SDK adapter is for ssh://)."""
    cid = "c" * 64
    replies = _replies(
        **{
            "containers/json": [{"Id": cid}],
            f"containers/{cid}/json": {"Id": cid, "Name": "/c"},
            "images/json": [{"Id": "sha256:" + "d" * 64}],  # its inspect: 404, skipped
        }
    )
    docker = pytest.importorskip("docker")
    with fake_daemon(sock, replies):
        ours = _view(_client(sock))
        sdk = docker.APIClient(base_url=f"unix://{sock}", version="auto", timeout=5)
        theirs = _view(SdkAPI(sdk, docker.errors.NotFound))
    assert ours == theirs
    assert (ours.complete, ours.problems, set(ours.containers)) == (True, [], {cid})
    assert ours.listed_images == set()


def _view(client: Any) -> DaemonView:
    raw = client.info()
    info, problems = parse_info(raw, "shown")
    assert info is not None and problems == []
    return fetch_view(Live(client, raw, 5.0), info)


# --------------------------------------------------------------------------- TCP and TLS


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def _signed(directory: Path, name: str, ca: str, san: str) -> tuple[Path, Path]:
    key, csr, cert = (directory / f"{name}-key.pem"), directory / f"{name}.csr", directory / name
    ext = directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth,clientAuth\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN={name}")  # fmt: skip
    _openssl("x509", "-req", "-in", csr, "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
             "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", f"{cert}.pem")  # fmt: skip
    return Path(f"{cert}.pem"), key


def _ca(directory: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", directory / f"{name}-key.pem", "-out", directory / f"{name}.pem",
             "-days", "1", "-subj", f"/CN={name}")  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for localhost, a client one (`ca.pem`, `cert.pem`,
    `key.pem`, as DOCKER_CERT_PATH holds them), and a stranger CA."""
    if subprocess.run(["which", "openssl"], capture_output=True).returncode:
        pytest.skip("no openssl to make certificates with")
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "ca")
    _ca(d, "stranger")
    _signed(d, "server", str(d / "ca"), "DNS:localhost,IP:127.0.0.1")
    client, client_key = _signed(d, "client", str(d / "ca"), "DNS:client")
    client.rename(d / "cert.pem")
    client_key.rename(d / "key.pem")
    return d


def _server_tls(pki: Path) -> ssl.SSLContext:
    """As dockerd --tlsverify: its certificate, and one of the CA's asked of clients."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server-key.pem")
    context.load_verify_locations(pki / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _certs(pki: Path, tmp_path: Path, ca: str) -> Path:
    d = tmp_path / "certs"
    d.mkdir()
    (d / "ca.pem").write_bytes((pki / f"{ca}.pem").read_bytes())
    for name in ("cert.pem", "key.pem"):
        (d / name).write_bytes((pki / name).read_bytes())
    return d


@pytest.fixture
def no_docker_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(var, raising=False)
    yield


def test_tcp_without_tls(monkeypatch: pytest.MonkeyPatch, no_docker_env: None) -> None:
    with fake_tcp_daemon(_replies()) as daemon:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{daemon.port}")
        found = reach(5.0)
    assert found.problems == () and found.info is not None
    assert found.info.host == f"tcp://127.0.0.1:{daemon.port}"


@pytest.mark.parametrize(
    ("ca", "env", "works"),
    [
        ("ca", {"DOCKER_TLS_VERIFY": "1"}, True),
        ("stranger", {"DOCKER_TLS_VERIFY": "1"}, False),  # the server is not who it says
        ("stranger", {"DOCKER_TLS": "1"}, True),  # not verified: encrypted, unchecked
    ],
    ids=["verified", "verify-fails", "unverified"],
)
def test_tls_as_the_cli_sets_it_up(
    pki: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_docker_env: None,
    ca: str,
    env: dict[str, str],
    works: bool,
) -> None:
    monkeypatch.setenv("DOCKER_CERT_PATH", str(_certs(pki, tmp_path, ca)))
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with fake_tcp_daemon(_replies(), tls=_server_tls(pki)) as daemon:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://localhost:{daemon.port}")
        found = reach(5.0)
    if works:
        assert found.problems == () and found.info is not None
        assert daemon.calls == ["_ping", "info"]
    else:
        [problem] = found.problems
        assert problem.kind.value == "daemon-unavailable"
        assert "cannot be reached: TLS failed" in problem.detail, problem.detail
        assert daemon.calls == []


def test_a_server_that_wants_a_client_certificate_is_refused_without_one(
    pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_docker_env: None
) -> None:
    certs = _certs(pki, tmp_path, "ca")
    (certs / "cert.pem").unlink()
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs))
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    with fake_tcp_daemon(_replies(), tls=_server_tls(pki)) as daemon:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://localhost:{daemon.port}")
        found = reach(5.0)
    [problem] = found.problems
    assert problem.kind.value == "daemon-unavailable" and daemon.calls == []


# --------------------------------------------------------------------------- the engine

VOLATILE_INFO = {"SystemTime", "NGoroutines", "NFd", "NEventsListener"}


@pytest.mark.engine
def test_answers_equal_the_sdks(engine: PrivateEngine, base_image: str) -> None:
    """The real dockerd, asked by our client and by the docker SDK: the same API version,
    and the same info, lists and inspects (info's clock and counters aside)."""
    created = [
        engine.docker("create", "--network=none", f"--name=api-same-{n}", base_image).strip()
        for n in range(2)
    ]
    try:
        client = Client(Endpoint(socket_path=str(engine.socket_path)), 30.0)
        sdk = engine.client.api
        assert client.negotiate() == sdk.api_version

        def steady(info: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in info.items() if k not in VOLATILE_INFO}

        assert steady(client.info()) == steady(sdk.info())
        containers = client.containers()
        assert _by_id(containers) == _by_id(sdk.containers(all=True))
        assert set(created) <= {c["Id"] for c in containers}
        images = client.images()
        assert _by_id(images) == _by_id(sdk.images(all=True))
        for c in containers:
            assert client.inspect_container(c["Id"]) == sdk.inspect_container(c["Id"])
        for i in images:
            assert client.inspect_image(i["Id"]) == sdk.inspect_image(i["Id"])
        with pytest.raises(NotFound):
            client.inspect_container("0" * 64)
        with pytest.raises(NotFound):
            client.inspect_image("sha256:" + "0" * 64)
    finally:
        engine.docker("rm", *created)


def _by_id(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: str(item["Id"]))


@pytest.mark.engine
def test_the_engine_is_reached_through_our_client(
    engine: PrivateEngine, base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`reach` with DOCKER_HOST naming the engine's socket: our client, and a view of it
    equal to the one through the SDK adapter."""
    import docker

    cid = engine.docker("create", "--network=none", "--name=api-view", base_image).strip()
    try:
        monkeypatch.setenv("DOCKER_HOST", engine.host)
        found = reach(30.0)
        assert found.problems == () and found.client is not None and found.info is not None
        assert isinstance(found.client.api, Client)
        assert found.info.root_dir == str(engine.data_root)
        ours = fetch_view(found.client, found.info)
        sdk = SdkAPI(engine.client.api, docker.errors.NotFound)
        theirs = fetch_view(Live(sdk, found.client.raw_info, 30.0), found.info)
        assert (ours.complete, ours.problems) == (True, [])
        assert cid in ours.containers
        assert ours == theirs
    finally:
        engine.docker("rm", cid)
