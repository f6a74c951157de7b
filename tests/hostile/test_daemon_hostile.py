"""The daemon is untrusted input: whatever it answers, or if it never does, every command
answers from the disk, with a problem record saying what was wrong with the daemon.

The daemon is a real HTTP server on a unix socket (tests/hostile/daemon.py) whose replies
are the real engine's answers about the captured data root, with one reply spoiled per
case. The root is given with `--root`, and the daemon's DockerRootDir is that root, so the
daemon is consulted as a live one would be.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from overlayscope.root.docker import api
from overlayscope.root.docker import daemon as live
from overlayscope.root.docker.daemon import DEFAULT_SOCKET, INSPECT_CONNECTIONS
from tests.engine import CapturedRoot
from tests.hostile.cli import (
    assert_answered,
    assert_no_raw_control,
    assert_terminal_safe,
    check_json,
    cli_env,
    run_inproc,
    run_pty,
    run_sub,
)
from tests.hostile.daemon import HANG, Chunked, Raw, Wire, fake_daemon, real_replies

pytestmark = pytest.mark.root

PWNED = "\x1b]0;PWNED\x07\x1b[2J"  # retitles the terminal, then clears it
FAST = "0.5"  # OVERLAYSCOPE_DAEMON_TIMEOUT for a daemon that never answers

# The commands that answer about the whole root, and the exit each gives on this root.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("containers",),
    ("images",),
    ("layers",),
    ("orphans",),
    ("df",),
)


@pytest.fixture
def sock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    monkeypatch.delenv("OVERLAYSCOPE_DAEMON_TIMEOUT", raising=False)
    return path


def _disk_states(captured: CapturedRoot) -> dict[str, str]:
    return {c["name"]: c["state"] for c in captured.answers["containers"]}


def _root_args(captured: CapturedRoot) -> tuple[str, ...]:
    return ("--root", str(captured.path))


def _container_id(captured: CapturedRoot, name: str) -> str:
    return str(next(c["id"] for c in captured.answers["containers"] if c["name"] == name))


# --------------------------------------------------------------------------- spoilers

Spoil = Callable[[dict[str, Any], CapturedRoot], None]


def _inspect(name: str, edit: Callable[[dict[str, Any]], None]) -> Spoil:
    def spoil(replies: dict[str, Any], captured: CapturedRoot) -> None:
        edit(replies[f"containers/{_container_id(captured, name)}/json"])

    return spoil


def _set(key: str, value: Any) -> Spoil:
    def spoil(replies: dict[str, Any], captured: CapturedRoot) -> None:
        replies[key] = value

    return spoil


def _set_inspect(name: str, value: Any) -> Spoil:
    def spoil(replies: dict[str, Any], captured: CapturedRoot) -> None:
        replies[f"containers/{_container_id(captured, name)}/json"] = value

    return spoil


def _info(edit: Callable[[dict[str, Any]], None]) -> Spoil:
    return lambda replies, captured: edit(replies["info"])


def _ping(api_version: str | None) -> Spoil:
    """`_ping` answering "OK" with this Api-Version header (None: none), the version the
    client negotiates (as the docker CLI does)."""
    return _set("_ping", Raw(b"OK", api_version=api_version))


def _same_name(replies: dict[str, Any], captured: CapturedRoot) -> None:
    for name in ("web", "stopped"):
        replies[f"containers/{_container_id(captured, name)}/json"]["Name"] = "/web"


# (case, spoiler, the problem kind it gives, whether the daemon's view is still used)
CASES: list[tuple[str, Spoil, str, bool]] = [
    ("driver_status_pair_and_int", _info(lambda i: i.update(DriverStatus=[["a", "b"], 5])),
     "bad-daemon-reply", True),
    ("driver_status_an_object", _info(lambda i: i.update(DriverStatus={"a": 1})),
     "bad-daemon-reply", True),
    ("info_a_list", _set("info", [1, 2]), "bad-daemon-reply", False),
    ("info_root_dir_an_int", _info(lambda i: i.update(DockerRootDir=5)), "bad-daemon-reply",
     False),
    ("info_driver_null", _info(lambda i: i.update(Driver=None)), "bad-daemon-reply", False),
    ("info_not_json", _set("info", Raw(b'{"DockerRootDir": ')), "bad-daemon-reply", False),
    ("info_http_500", _set("info", Raw(b'{"message": "boom"}', 500)), "daemon-unavailable",
     False),
    ("ping_no_http", _set("_ping", Wire(b"SSH-2.0-OpenSSH_9.6\r\n")), "bad-daemon-reply",
     False),
    ("info_hangs", _set("info", HANG), "daemon-unavailable", False),
    ("ping_hangs", _set("_ping", HANG), "daemon-unavailable", False),
    ("ping_http_500", _set("_ping", Raw(b'{"message": "boom"}', 500)), "daemon-unavailable",
     False),
    ("ping_http_404", _set("_ping", Raw(b"page not found", 404)), "daemon-unavailable", False),
    ("api_version_missing", _ping(None), "bad-daemon-reply", False),
    ("api_version_a_path", _ping("1.41/../../x"), "bad-daemon-reply", False),
    ("api_version_no_dot", _ping("141"), "bad-daemon-reply", False),
    ("api_version_hostile", _ping("1.41" + PWNED), "bad-daemon-reply", False),
    ("info_no_http", _set("info", Wire(b"SSH-2.0-OpenSSH_9.6\r\n")), "bad-daemon-reply",
     False),
    ("info_closed_unanswered", _set("info", Wire(b"")), "daemon-unavailable", False),
    ("container_list_an_object", _set("containers/json", {"a": 1}), "bad-daemon-reply",
     False),
    ("container_list_item_without_id", _set("containers/json", [{"Names": ["/x"]}]),
     "bad-daemon-reply", False),
    ("container_list_id_an_int", _set("containers/json", [{"Id": 5}]), "bad-daemon-reply",
     False),
    ("image_list_a_string", _set("images/json", "images"), "bad-daemon-reply", False),
    ("container_list_hangs", _set("containers/json", HANG), "daemon-unavailable", False),
    ("container_list_http_500", _set("containers/json", Raw(b'{"message": "boom"}', 500)),
     "daemon-unavailable", False),
    ("container_list_not_json", _set("containers/json", Raw(b"<html>")), "bad-daemon-reply",
     False),
    ("container_list_chunk_size_negative", _set("containers/json", Wire(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n[]")),
     "bad-daemon-reply", False),
    ("image_list_chunks_not_json", _set("images/json", Chunked(b"[{" * 5000, size=7)),
     "bad-daemon-reply", False),
    ("inspect_hangs", _set_inspect("web", HANG), "daemon-unavailable", True),
    ("inspect_a_string", _set_inspect("web", "hello"), "bad-daemon-reply", True),
    ("inspect_not_json", _set_inspect("web", Raw(b"{{{")), "bad-daemon-reply", True),
    ("inspect_http_500", _set_inspect("web", Raw(b'{"message": "x"}', 500)),
     "bad-daemon-reply", True),
    ("inspect_cut_short", _set_inspect("web", Wire(
        b"HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n{}")), "bad-daemon-reply", True),
    ("inspect_nested_deep", _set_inspect("web", Raw(b"[" * 100_000 + b"]" * 100_000)),
     "bad-daemon-reply", True),
    ("state_a_list", _inspect("web", lambda c: c.update(State=[])), "bad-daemon-reply", True),
    ("status_an_int", _inspect("web", lambda c: c["State"].update(Status=7)),
     "bad-daemon-reply", True),
    ("status_hostile", _inspect("web", lambda c: c["State"].update(Status="running" + PWNED)),
     "bad-daemon-reply", True),
    ("status_no_docker_state", _inspect("stopped", lambda c: c["State"].update(Status="owned")),
     "bad-daemon-reply", True),
    ("name_an_int", _inspect("web", lambda c: c.update(Name=5)), "bad-daemon-reply", True),
    ("name_hostile", _inspect("web", lambda c: c.update(Name="/web" + PWNED)),
     "bad-daemon-reply", True),
    ("one_name_two_containers", _same_name, "bad-daemon-reply", True),
    ("inspect_id_another", _inspect("web", lambda c: c.update(Id="ab" * 32)),
     "bad-daemon-reply", True),
    ("graphdriver_a_list", _inspect("web", lambda c: c.update(GraphDriver=[1])),
     "bad-daemon-reply", True),
    ("graphdriver_data_a_list", _inspect("web", lambda c: c["GraphDriver"].update(Data=[1])),
     "bad-daemon-reply", True),
    ("graphdriver_upper_an_int",
     _inspect("web", lambda c: c["GraphDriver"]["Data"].update(UpperDir=5)),
     "bad-daemon-reply", True),
    ("graphdriver_name_hostile",
     _inspect("web", lambda c: c["GraphDriver"].update(Name="overlay2" + PWNED)),
     "daemon-mismatch", True),
    ("server_version_hostile", _info(lambda i: i.update(ServerVersion="20.10" + PWNED)),
     "bad-daemon-reply", True),
]  # fmt: skip


def test_the_fake_daemon_agrees_with_the_disk(
    captured_root: CapturedRoot, sock: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Unspoiled, the daemon's answers are the engine's own: `check` finds nothing, and
    the daemon is consulted (it answered `info`, and every container was inspected)."""
    with fake_daemon(sock, real_replies(captured_root, captured_root.path)) as daemon:
        run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
        assert run.code == 0, run.json()
        assert "info" in daemon.calls
        assert sum(call.startswith("containers/") for call in daemon.calls) > 4
        # one connection kept alive for the whole conversation, and while every container
        # and image is inspected, up to INSPECT_CONNECTIONS side by side
        assert 1 <= daemon.connections <= INSPECT_CONNECTIONS, daemon.connections
        human = run_inproc(capsysbinary, *_root_args(captured_root), "df")
    # the socket's path, not the SDK's `http+docker://localhost`
    assert f"at {sock})".encode() in human.out, human.out[:400]
    assert b"http+docker" not in human.out + human.err


@pytest.mark.parametrize(("case", "spoil", "kind", "used"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_daemon_is_a_problem_and_the_disk_answers(
    captured_root: CapturedRoot,
    sock: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    spoil: Spoil,
    kind: str,
    used: bool,
) -> None:
    monkeypatch.setenv("OVERLAYSCOPE_DAEMON_TIMEOUT", FAST)
    monkeypatch.setenv("COLUMNS", "1000")
    replies = real_replies(captured_root, captured_root.path)
    spoil(replies, captured_root)
    base = _root_args(captured_root)
    with fake_daemon(sock, replies):
        run = run_inproc(capsysbinary, "--json", *base, "check")
        assert_answered(run, {1})
        check_json("check", run.json())
        problems = run.json()["problems"]
        assert kind in {p["kind"] for p in problems}, problems
        # only the daemon is wrong: the disk's records have no problem
        assert {p["kind"] for p in problems} <= {kind, "bad-daemon-reply", "daemon-mismatch"}
        if not used:  # the view is not used: no "the daemon does not list it" invented
            assert all(p["kind"] != "daemon-mismatch" for p in problems), problems
        for p in problems:
            assert (
                p["kind"] == "daemon-mismatch"
                or str(sock) in p["path"]
                or p["path"].startswith(str(captured_root.path))
            ), p

        run = run_inproc(capsysbinary, "--json", *base, "containers")
        assert_answered(run, {0})
        check_json("containers", run.json())
        states = {c["name"]: c["state"] for c in run.json()}
        # the disk's names and states (the engine's, at capture), never the daemon's garbage
        assert states == _disk_states(captured_root), states
        for command in COMMANDS:
            run = run_inproc(capsysbinary, "--json", *base, *command)
            assert_answered(run, {0})
            check_json(command[0], run.json())
            human = run_inproc(capsysbinary, *base, *command)
            assert_answered(human, {0})
            assert_no_raw_control(human.out, " ".join(command))
            assert_no_raw_control(human.err, " ".join(command))
            if kind != "daemon-mismatch":  # said on stderr (a mismatch is `check`'s news)
                assert b"overlayscope: warning: " in human.err, human.err
        human = run_inproc(capsysbinary, *base, "check")
        assert_answered(human, {1})
        assert_no_raw_control(human.out, "check")


@pytest.mark.parametrize(
    "spoil",
    [
        _inspect("web", lambda c: c["State"].update(Status="running" + PWNED)),
        _inspect("web", lambda c: c.update(Name="/web" + PWNED)),
        _info(lambda i: i.update(ServerVersion="20.10" + PWNED)),
        _inspect("web", lambda c: c["GraphDriver"].update(Name="overlay2" + PWNED)),
    ],
    ids=["state", "name", "version", "driver-name"],
)
def test_hostile_daemon_strings_never_drive_the_terminal(
    captured_root: CapturedRoot, tmp_path: Path, spoil: Spoil
) -> None:
    """On a real terminal, what the daemon says is escaped like names from the disk: no
    OSC (window title), no clear screen — only Rich's own colours."""
    sock = tmp_path / "docker.sock"
    replies = real_replies(captured_root, captured_root.path)
    spoil(replies, captured_root)
    env = {"DOCKER_HOST": f"unix://{sock}"}
    with fake_daemon(sock, replies):
        for command in (*COMMANDS, ("check",), ("container", "web")):
            run = run_pty(*_root_args(captured_root), *command, env_extra=env)
            assert_answered(run, {0, 1})
            assert_terminal_safe(run.out, " ".join(command))
            assert_no_raw_control(run.err, " ".join(command))


def test_a_refused_socket_is_said_and_the_disk_answers(
    captured_root: CapturedRoot, sock: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A socket nobody listens on (a daemon that died and left it): refused."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.close()  # bound, never listening: connect() is refused
    run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
    assert_answered(run, {1})
    [problem] = run.json()["problems"]
    assert problem["kind"] == "daemon-unavailable" and problem["path"] == str(sock)
    assert "refused" in problem["detail"]
    human = run_inproc(capsysbinary, *_root_args(captured_root), "containers")
    assert_answered(human, {0})
    [warning] = human.err.decode().splitlines()
    assert "refused" in warning and str(sock) in warning and "disk" in warning


def test_a_missing_socket_named_by_docker_host_is_said(
    captured_root: CapturedRoot, sock: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
    assert_answered(run, {1})
    [problem] = run.json()["problems"]
    assert problem["kind"] == "daemon-unavailable" and "no such socket" in problem["detail"]
    run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "containers")
    assert_answered(run, {0})
    assert {c["name"]: c["state"] for c in run.json()} == _disk_states(captured_root)


def test_a_socket_we_may_not_use_is_permission_denied(
    captured_root: CapturedRoot, tmp_path: Path
) -> None:
    """The socket's mode says no (root without CAP_DAC_OVERRIDE, as setpriv runs it: the
    records, root's own, stay readable): said as permission denied, the disk answers."""
    sock = tmp_path / "docker.sock"
    with fake_daemon(sock, real_replies(captured_root, captured_root.path)) as daemon:
        os.chmod(sock, 0)
        env = cli_env(DOCKER_HOST=f"unix://{sock}")
        drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
        run = run_sub("--json", *_root_args(captured_root), "check", env=env, prefix=drop)
        assert_answered(run, {1})
        [problem] = run.json()["problems"]
        assert problem["kind"] == "daemon-unavailable" and problem["path"] == str(sock)
        assert "permission denied" in problem["detail"]
        run = run_sub(*_root_args(captured_root), "containers", env=env, prefix=drop)
        assert_answered(run, {0})
        assert b"permission denied" in run.err and b"web" in run.out
        assert daemon.calls == []


def test_a_hung_daemon_never_makes_a_disk_answer_exit_3(
    captured_root: CapturedRoot, tmp_path: Path
) -> None:
    """A daemon that accepts and never answers, in a real process with the default
    timeout: the command ends with the disk's answer (exit 0), and says why."""
    sock = tmp_path / "docker.sock"
    replies = real_replies(captured_root, captured_root.path)
    replies["info"] = HANG
    with fake_daemon(sock, replies):
        env = cli_env(DOCKER_HOST=f"unix://{sock}", OVERLAYSCOPE_DAEMON_TIMEOUT="1")
        run = run_sub("--json", *_root_args(captured_root), "containers", env=env)
        assert_answered(run, {0})
        assert {c["name"]: c["state"] for c in run.json()} == _disk_states(captured_root)
        assert b"did not answer within" in run.err


def test_the_daemon_is_asked_once_and_early(
    captured_root: CapturedRoot, sock: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Begun before the arguments are parsed (cli/main.py `_reach_early`), the daemon's
    `version` and `info` are asked once, and their answers used."""
    with fake_daemon(sock, real_replies(captured_root, captured_root.path)) as daemon:
        run = run_inproc(capsysbinary, *_root_args(captured_root), "containers")
        assert run.code == 0, run.err
        assert daemon.calls.count("_ping") == 1 and daemon.calls.count("info") == 1
        assert "containers/json" in daemon.calls  # and its view was fetched


# arguments that say the daemon is not to be asked, each before `containers` (ROOT: the
# captured root), and whether argparse ends the run itself (--help, --version)
NOT_ASKED = [
    (("--offline", "--root", "ROOT"), False),
    (("--off", "--root", "ROOT"), False),  # argparse takes a unique prefix
    (("--snapshot",), False),
    (("--sn",), False),
    (("--root", "elsewhere/dataroot.tar.xz"), False),  # an archive (here: none, exit 3)
    (("--root=elsewhere/dataroot.tar.xz",), False),
    (("--root", "ROOT", "--he"), True),
    (("--version",), True),
]


@pytest.mark.parametrize(("how", "exits"), NOT_ASKED, ids=[" ".join(h) for h, _ in NOT_ASKED])
def test_what_must_not_ask_the_daemon_never_does(
    captured_root: CapturedRoot,
    sock: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    how: tuple[str, ...],
    exits: bool,
) -> None:
    """--offline (or any prefix argparse takes for it), the embedded snapshot, an archive,
    --help and --version: no connection to the daemon at all, early or late."""
    args = [str(captured_root.path) if a == "ROOT" else a for a in how]
    with fake_daemon(sock, real_replies(captured_root, captured_root.path)) as daemon:
        if exits:
            with pytest.raises(SystemExit):
                run_inproc(capsysbinary, *args, "containers")
        else:
            run_inproc(capsysbinary, *args, "containers")
        assert daemon.connections == 0 and daemon.calls == [], daemon.calls


def test_a_bad_timeout_setting_is_one_line(
    captured_root: CapturedRoot, sock: Path, capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("OVERLAYSCOPE_DAEMON_TIMEOUT", "soon\x1b[2J")
    run = run_inproc(capsysbinary, *_root_args(captured_root), "containers")
    assert_answered(run, {3})
    assert b"OVERLAYSCOPE_DAEMON_TIMEOUT" in run.err
    assert_no_raw_control(run.err, "error")


@pytest.fixture
def no_default_socket() -> Iterator[None]:
    if os.path.lexists(DEFAULT_SOCKET):
        pytest.skip(f"{DEFAULT_SOCKET} exists on this machine")
    yield


def test_no_daemon_anywhere_is_no_news(
    captured_root: CapturedRoot,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    no_default_socket: None,
) -> None:
    """No DOCKER_HOST and no default socket: a forensic copy read on a machine with no
    Docker is no problem, and nothing is said."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
    assert (run.code, run.json()["problems"], run.err) == (0, [], b"")


# --------------------------------------------------------------------------- orphans

STRAY_UPPER = "7" * 64  # a container's rw dir only the daemon knows of
STRAY_BELOW = "8" * 64  # and the dir it stands on, named by STRAY_UPPER's own `lower`
STRAY_LINK = "STRAYBELOWSTRAYBELOWSTRAYB"
GHOST = "e" * 64  # the container the daemon lists, with no config on disk


def _stray_dir(overlay: Path, dir_id: str, link: str, lower: str | None = None) -> None:
    """A whole overlay2 layer dir, as the driver makes one: only no record names it."""
    d = overlay / dir_id
    for sub in ("diff", "work", "merged"):
        (d / sub).mkdir(parents=True)
    (d / "diff" / "payload").write_bytes(b"x" * 5000)
    (d / "link").write_text(link)
    (overlay / "l" / link).symlink_to(f"../{dir_id}/diff")
    if lower is not None:
        (d / "lower").write_text(lower)


def test_a_dir_the_daemon_names_is_never_an_orphan(
    captured_root: CapturedRoot,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two dirs no record on disk names (a container whose config was lost): offline they
    are orphans. The daemon lists that container, its GraphDriver UpperDir naming one;
    the other lies beneath it. With the daemon, neither is an orphan nor reclaimable:
    both are unresolved, saying the daemon gives them to that container, and `check`
    says the disk has no config for it."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(captured_root.path), str(root)], check=True)
    overlay = root / "overlay2"
    _stray_dir(overlay, STRAY_BELOW, STRAY_LINK)
    _stray_dir(overlay, STRAY_UPPER, STRAY_LINK[::-1], lower=f"l/{STRAY_LINK}")

    offline = run_inproc(capsysbinary, "--json", "--offline", "--root", str(root), "orphans")
    assert_answered(offline, {0})
    assert {STRAY_UPPER, STRAY_BELOW} <= {o["id"] for o in offline.json()}

    sock = tmp_path / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    replies = real_replies(captured_root, root)
    upper = overlay / STRAY_UPPER
    replies["containers/json"].append({"Id": GHOST, "Names": ["/ghost"], "State": "exited"})
    replies[f"containers/{GHOST}/json"] = {
        "Id": GHOST,
        "Name": "/ghost",
        "State": {"Status": "exited", "Running": False},
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "UpperDir": f"{upper}/diff",
                "LowerDir": f"{overlay / STRAY_BELOW}/diff",
                "WorkDir": f"{upper}/work",
                "MergedDir": f"{upper}/merged",
            },
        },
    }
    base = ("--root", str(root))
    with fake_daemon(sock, replies) as daemon:
        run = run_inproc(capsysbinary, "--json", *base, "orphans")
        assert_answered(run, {0})
        assert f"containers/{GHOST}/json" in daemon.calls  # the daemon was consulted
        check_json("orphans", run.json())
        orphans = {o["id"] for o in run.json()}
        assert orphans == {o["id"] for o in offline.json()} - {STRAY_UPPER, STRAY_BELOW}

        run = run_inproc(capsysbinary, "--json", *base, "layers")
        why = {la["id"]: (la["role"], la["unresolved"]) for la in run.json()}
        assert why[STRAY_UPPER] == (
            "unresolved",
            f"the daemon's GraphDriver data gives it to container {GHOST[:12]}, "
            "though no record on disk names it",
        )
        assert why[STRAY_BELOW][0] == "unresolved"
        assert f"container {GHOST[:12]}" in why[STRAY_BELOW][1]

        run = run_inproc(capsysbinary, "--json", *base, "df")
        assert_answered(run, {0})
        reclaimable = {la["id"] for la in run.json()["layers"] if la["reclaimable"]}
        assert not reclaimable & {STRAY_UPPER, STRAY_BELOW}

        run = run_inproc(capsysbinary, "--json", *base, "check")
        assert_answered(run, {1})
        assert {(p["kind"], p["path"]) for p in run.json()["problems"]} == {
            ("daemon-mismatch", str(root / "containers" / GHOST))
        }

        human = run_inproc(capsysbinary, *base, "orphans")
        assert_answered(human, {0})
        assert "rm -rf" not in " ".join(
            line for line in human.out.decode().splitlines() if STRAY_UPPER in line
        )


def test_a_daemon_naming_an_unreadable_driver_is_not_asked(
    captured_root: CapturedRoot, sock: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """`info` says this root is kept by a driver overlayscope does not read: with
    `--root`, the disk says which store it is; the daemon is not asked further, `check`
    says why, and the answers are the disk's (never exit 3)."""
    replies = real_replies(captured_root, captured_root.path)
    replies["info"]["Driver"] = "zfs"
    with fake_daemon(sock, replies) as daemon:
        run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
        assert_answered(run, {1})
        [problem] = run.json()["problems"]
        assert problem["kind"] == "daemon-mismatch" and "'zfs'" in problem["detail"]
        assert not any(call.startswith("containers/") for call in daemon.calls)
        run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "containers")
        assert_answered(run, {0})
        assert {c["name"]: c["state"] for c in run.json()} == _disk_states(captured_root)


# --------------------------------------------------------------------------- the wire


def test_replies_in_chunks_are_read_whole(
    captured_root: CapturedRoot, sock: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """dockerd streams large replies chunked: every reply in small chunks, one inspect
    of megabytes, are all read whole, and the view is the daemon's own."""
    replies = real_replies(captured_root, captured_root.path)
    web = f"containers/{_container_id(captured_root, 'web')}/json"
    replies[web]["Config"] = {"Env": [f"VAR{i}=" + "v" * 1000 for i in range(3000)]}
    for key, value in list(replies.items()):
        if not isinstance(value, Raw):
            replies[key] = Chunked(value, size=1000 if key != web else 65536)
    with fake_daemon(sock, replies) as daemon:
        run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
        assert (run.code, run.json()["problems"]) == (0, [])
        assert web in daemon.calls and daemon.connections <= INSPECT_CONNECTIONS


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("key", ["info", "containers/json", "web"])
def test_a_reply_over_the_bound_is_not_read(
    captured_root: CapturedRoot,
    sock: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    chunked: bool,
) -> None:
    """A reply past api.MAX_BODY (lowered here) is a bad reply: `info` → no daemon, the
    list → no view, one inspect → that object unknown; the disk answers."""
    monkeypatch.setattr(api, "MAX_BODY", 16384)
    replies = real_replies(captured_root, captured_root.path)
    if key == "web":
        key = f"containers/{_container_id(captured_root, 'web')}/json"
    padding = {"Padding": "x" * 40_000}
    if isinstance(replies[key], list):
        replies[key][0].update(padding)
    else:
        replies[key].update(padding)
    if chunked:
        replies[key] = Chunked(replies[key], size=4096)
    with fake_daemon(sock, replies) as daemon:
        run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
        assert_answered(run, {1})
        problems = run.json()["problems"]
        over = [p for p in problems if "bytes" in p["detail"]]
        assert [p["kind"] for p in over] == ["bad-daemon-reply"], problems
        assert {p["kind"] for p in problems} == {"bad-daemon-reply"}, problems
        run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "containers")
        assert_answered(run, {0})
        assert {c["name"]: c["state"] for c in run.json()} == _disk_states(captured_root)
        assert key in daemon.calls


def test_a_negative_chunk_size_reads_no_further_than_the_bound(
    captured_root: CapturedRoot,
    sock: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chunk of size -1 (which http.client read as "until the connection closes"): a
    daemon that says so and streams on, the connection open, is a bad reply at once, not
    read until the deadline (no answer) nor into all memory."""
    monkeypatch.setattr(api, "MAX_BODY", 16384)
    monkeypatch.setenv("OVERLAYSCOPE_DAEMON_TIMEOUT", "30")  # the deadline is not what ends it
    replies = real_replies(captured_root, captured_root.path)
    replies["info"] = Wire(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n" + b" " * 200_000,
        hold=True,
    )
    with fake_daemon(sock, replies):
        run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
    assert_answered(run, {1})
    [problem] = run.json()["problems"]
    assert problem["kind"] == "bad-daemon-reply" and "bytes" in problem["detail"], problem


@pytest.mark.parametrize("what", ["container", "image"])
def test_an_object_gone_before_its_inspect_is_skipped(
    captured_root: CapturedRoot,
    sock: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    what: str,
) -> None:
    """A 404 on one inspect: removed between the list and the inspect. It is skipped —
    no bad reply; the daemon no longer lists it (for a container on disk, `check` says
    so) — and every other object is still the daemon's."""
    replies = real_replies(captured_root, captured_root.path)
    if what == "container":
        gone = _container_id(captured_root, "web")
        key = f"containers/{gone}/json"
    else:
        gone = next(i["id"] for i in captured_root.answers["images"] if i["tags"])
        key = f"images/{gone}/json"
    replies[key] = Raw(b'{"message": "No such object"}', 404)
    with fake_daemon(sock, replies) as daemon:
        run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
        assert key in daemon.calls
    problems = run.json()["problems"]
    if what == "image":
        assert (run.code, problems) == (0, [])
    else:
        assert_answered(run, {1})
        assert [(p["kind"], p["path"], p["detail"]) for p in problems] == [
            (
                "daemon-mismatch",
                str(captured_root.path / "containers" / gone),
                "on disk, but the daemon does not list this container",
            )
        ]


def test_inspects_side_by_side_give_what_one_by_one_gives(
    captured_root: CapturedRoot,
    sock: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every container and image is inspected over up to INSPECT_CONNECTIONS connections
    at once (a host of hundreds of objects is cross-checked in a fraction of the time); the
    answer is the same as one connection's, problems in the lists' order: an inspect that
    fails (500), one of garbage, and one of an object removed meanwhile (404)."""
    replies = real_replies(captured_root, captured_root.path)
    ids = [c["id"] for c in captured_root.answers["containers"]]
    assert len(ids) >= 3
    replies[f"containers/{ids[0]}/json"] = Raw(b'{"message": "boom"}', 500)
    replies[f"containers/{ids[1]}/json"] = Raw(b"{{{")
    replies[f"containers/{ids[2]}/json"] = Raw(b'{"message": "No such container"}', 404)
    answers = []
    for connections in (INSPECT_CONNECTIONS, 1):
        monkeypatch.setattr(live, "INSPECT_CONNECTIONS", connections)
        path = sock.with_name(f"d{connections}.sock")
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        with fake_daemon(path, replies) as daemon:
            run = run_inproc(capsysbinary, "--json", *_root_args(captured_root), "check")
            inspected = sorted(c for c in daemon.calls if c.endswith("/json") and "/" in c[:-5])
            if connections > 1:
                assert daemon.connections > 1, "the inspects were asked one by one"
            else:
                assert daemon.connections == 1
        assert_answered(run, {1})
        problems = [
            {**p, "path": p["path"].replace(str(path), "SOCK")} for p in run.json()["problems"]
        ]
        answers.append((problems, inspected))
    assert answers[0] == answers[1]
    kinds = [p["kind"] for p in answers[0][0]]
    assert kinds.count("daemon-unavailable") + kinds.count("bad-daemon-reply") >= 2, kinds
