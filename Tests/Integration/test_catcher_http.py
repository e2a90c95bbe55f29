"""The catcher's HTTP listener as an attacker (or a careless client) meets it (issue 14 item 8):
`X-Content-Type-Options: nosniff` on every response, errors included; 405 with `Allow` for a
method a known path does not declare; 503 past the cap on event streams and waits, with the
places given back when clients go; header and idle timeouts; a refusal to listen anywhere but
on loopback (the API has no authentication)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest

from ternlib import message, tern_bin

EVENT_STREAMS = 32  # Catcher.Limits defaults
WAITERS = 64


def call(server, path: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
         timeout: float = 30) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(server.http_url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def address(server) -> tuple[str, int]:
    where = urlparse(server.http_url)
    return where.hostname, where.port


def open_request(server, path: str) -> socket.socket:
    """A raw connection that has sent `GET path` and nothing else."""
    host, port = address(server)
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return s


def read_until(s: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def stored_id(server) -> str:
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("for the API", body=b"see https://example.test/a\r\n"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listing = json.loads(call(server, "/api/v1/messages")[2])
        if listing["messages"]:
            return listing["messages"][0]["ID"]
        time.sleep(0.05)
    raise AssertionError("the message was not indexed")


def test_nosniff_on_every_response(shared_tern):
    """Pages, JSON, raw messages, parts, 404, 405, 400, 408, 415 and 421 all say nosniff."""
    message_id = stored_id(shared_tern)
    host, port = address(shared_tern)
    answers = [
        call(shared_tern, "/"), call(shared_tern, "/ui/app.js"), call(shared_tern, "/api/v1/messages"),
        call(shared_tern, f"/api/v1/message/{message_id}/raw"), call(shared_tern, f"/api/v1/message/{message_id}/part/1"),
        call(shared_tern, f"/view/{message_id}"), call(shared_tern, "/healthz"), call(shared_tern, "/metrics"),
        call(shared_tern, "/api/v1/nothing"), call(shared_tern, "/api/v1/message/NOSUCHMESSAGE000"),
        call(shared_tern, "/api/v1/messages", method="PATCH"), call(shared_tern, "/api/v1/wait?timeout=inf"),
        call(shared_tern, "/api/v1/wait?timeout=0&query=subject:never"),
        call(shared_tern, "/api/v1/messages", method="PUT", body=b"{}", headers={"Content-Type": "text/plain"}),
        call(shared_tern, "/api/v1/messages", headers={"Host": "evil.example"}),
    ]
    statuses = [status for status, _, _ in answers]
    assert statuses == [200, 200, 200, 200, 200, 200, 200, 200, 404, 404, 405, 400, 408, 415, 421], statuses
    for status, headers, _ in answers:
        assert headers.get("X-Content-Type-Options") == "nosniff", (status, headers)


@pytest.mark.parametrize("method, path, allowed", [
    ("POST", "/api/v1/messages", "GET, PUT, DELETE"),
    ("PATCH", "/api/v1/messages", "GET, PUT, DELETE"),
    ("PUT", "/api/v1/search", "GET, DELETE"),
    ("DELETE", "/api/v1/inboxes", "GET"),
    ("POST", "/api/v1/message/latest", "GET"),
    ("DELETE", "/api/v1/message/ANY/raw", "GET"),
    ("GET", "/api/v1/message/ANY/release", "POST"),
    ("POST", "/api/v1/wait", "GET"),
    ("PUT", "/api/v1/events", "GET"),
    ("OPTIONS", "/api/v1/messages", "GET, PUT, DELETE"),
    ("HEAD", "/healthz", "GET"),
    ("TRACE", "/", "GET"),
    ("DELETE", "/metrics", "GET"),
])
def test_undeclared_methods_answer_405(shared_tern, method, path, allowed):
    status, headers, _ = call(shared_tern, path, method=method)
    assert status == 405, (method, path, status)
    assert sorted(headers.get("Allow", "").split(", ")) == sorted(allowed.split(", ")), headers


def test_unknown_paths_stay_404(shared_tern):
    for method in ("GET", "POST", "DELETE"):
        assert call(shared_tern, "/api/v1/nothing", method=method)[0] == 404
        assert call(shared_tern, "/api/v1/message/A/raw/more", method=method)[0] == 404


def test_event_streams_past_the_cap_get_503_and_places_come_back(tern):
    """Up to the cap, event streams open; the next one gets 503 with Retry-After; a client that
    goes away gives its place back (its stream ends when its connection closes)."""
    streams = []
    try:
        for _ in range(EVENT_STREAMS):
            s = open_request(tern, "/api/v1/events")
            assert b"Tern catcher events" in read_until(s, b"Tern catcher events")
            streams.append(s)
        status, headers, body = call(tern, "/api/v1/events")
        assert status == 503 and headers.get("Retry-After") and b"event streams" in body, (status, body)
        assert headers.get("X-Content-Type-Options") == "nosniff"
        streams.pop().close()
        deadline = time.monotonic() + 10
        while True:
            s = open_request(tern, "/api/v1/events")
            head = read_until(s, b"\r\n\r\n")
            if head.startswith(b"HTTP/1.1 200"):
                streams.append(s)
                break
            s.close()
            assert time.monotonic() < deadline, head
            time.sleep(0.1)
        # The streams still work: a message stored now reaches the last one.
        with tern.connect() as c:
            c.ehlo()
            c.send_message(message("after the cap"))
        assert b"after the cap" in read_until(streams[-1], b"after the cap")
    finally:
        for s in streams:
            s.close()


def test_waits_past_the_cap_get_503_and_places_come_back(tern):
    """One wait more than the cap: exactly one of them is refused (503, Retry-After), the others
    wait; closed waits give their places back."""
    import select
    waits = [open_request(tern, "/api/v1/wait?query=subject:never-sent&timeout=120") for _ in range(WAITERS + 1)]
    try:
        answered: dict[socket.socket, bytes] = {}
        deadline = time.monotonic() + 10
        while not answered and time.monotonic() < deadline:
            readable, _, _ = select.select(waits, [], [], 0.2)
            for s in readable:
                answered[s] = read_until(s, b"at most")
        time.sleep(0.5)  # no second refusal follows
        readable, _, _ = select.select([s for s in waits if s not in answered], [], [], 0)
        assert len(answered) == 1 and not readable, (len(answered), len(readable))
        [reply] = answered.values()
        assert reply.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in reply and b"waiting" in reply, reply
        assert b"X-Content-Type-Options: nosniff" in reply
        pending = [s for s in waits if s not in answered]
        for s in pending[:8]:
            s.close()
        deadline = time.monotonic() + 10
        while call(tern, "/api/v1/wait?query=subject:never-sent&timeout=0")[0] == 503:
            assert time.monotonic() < deadline, "closed waits did not give their places back"
            time.sleep(0.1)
        assert call(tern, "/api/v1/wait?query=subject:never-sent&timeout=0")[0] == 408
    finally:
        for s in waits:
            s.close()


@pytest.fixture
def quick(tern_factory):
    """A catcher whose HTTP connections time out after one second of silence."""
    return tern_factory.dev(config_extra='[catcher]\nhttp_idle_timeout = "1s"\n')


def closed_within(s: socket.socket, seconds: float) -> bool:
    s.settimeout(seconds)
    try:
        while s.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_a_slow_header_is_cut_off(quick):
    """A client that trickles its request header (slowloris) is disconnected once the idle
    timeout passes without a whole request, though it keeps sending."""
    host, port = address(quick)
    s = socket.create_connection((host, port), timeout=10)
    started = time.monotonic()
    header = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nX-Slow: " + "a" * 40
    cut = False
    try:
        for octet in header.encode():
            s.sendall(bytes([octet]))
            time.sleep(0.1)
            s.settimeout(0.01)
            try:
                if s.recv(4096) == b"":
                    cut = True
                    break
            except socket.timeout:
                pass
    except (ConnectionResetError, BrokenPipeError):
        cut = True
    finally:
        s.close()
    assert cut and time.monotonic() - started < 8, "the slow header was not cut off"
    assert call(quick, "/healthz")[2] == b"ok"


def test_an_idle_connection_is_closed_and_answers_being_written_are_not_idle(quick):
    """A connection silent after its response is closed; a `wait` longer than the idle timeout
    still gets its answer, and an event stream stays open."""
    host, port = address(quick)
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    assert read_until(s, b"ok").startswith(b"HTTP/1.1 200")
    assert closed_within(s, 5)
    s.close()

    started = time.monotonic()
    status, _, _ = call(quick, "/api/v1/wait?query=subject:never-sent&timeout=3")
    assert status == 408 and time.monotonic() - started >= 2.5

    stream = open_request(quick, "/api/v1/events")
    try:
        assert b"Tern catcher events" in read_until(stream, b"Tern catcher events")
        time.sleep(2.5)
        with quick.connect() as c:
            c.ehlo()
            c.send_message(message("still listening"))
        stream.settimeout(10)
        assert b"still listening" in read_until(stream, b"still listening")
    finally:
        stream.close()


@pytest.mark.parametrize("http", ["0.0.0.0:0", "[::]:0", "192.0.2.1:8025", "[2001:db8::1]:0"])
def test_the_catcher_refuses_a_non_loopback_address(tmp_path, http):
    """The catcher has no authentication, so `--http` and `[catcher] http` take loopback only:
    tern dev exits with a clear error before listening; check-config names the key."""
    p = subprocess.run([str(tern_bin()), "dev", "--smtp", "127.0.0.1:0", "--http", http, "--data", str(tmp_path / "d")],
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert p.returncode == 1, out
    assert "is not a loopback address" in out and "no authentication" in out and "tern: ready" not in out, out

    host = http.rsplit(":", 1)[0]
    cfg = tmp_path / "tern.toml"
    cfg.write_text(f'[catcher]\nhttp = "{host}:8025"\n')
    p = subprocess.run([str(tern_bin()), "check-config", "--config", str(cfg)], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert p.returncode == 1 and "catcher.http" in out and "is not a loopback address" in out, out
    assert "allowed_hosts" in out and "--http-allow-host" in out, out


def test_allowed_hosts_open_the_catcher_beyond_loopback(tern_factory):
    """As in a container: `--http 0.0.0.0:PORT` with `--http-allow-host tern` listens on every
    address (with a warning that the API has no login), answers to the allowed name and to an
    address, and still refuses any other name."""
    import socket
    import urllib.error
    import urllib.request
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = tern_factory.dev(args=["--http", f"0.0.0.0:{port}", "--http-allow-host", "tern"])
    assert "listen beyond loopback and have no login" in server.logs()

    def get(host: str) -> int:
        request = urllib.request.Request(f"http://127.0.0.2:{port}/api/v1/messages", headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
    assert get(f"tern:{port}") == 200
    assert get(f"127.0.0.2:{port}") == 200
    assert get(f"evil.example:{port}") == 421


def test_loopback_addresses_are_accepted(tmp_path):
    cfg = tmp_path / "tern.toml"
    for http in ("127.0.0.1:8025", "127.0.0.2:0", "[::1]:8025", "localhost:8025"):
        cfg.write_text(f'[catcher]\nhttp = "{http}"\nhttp_idle_timeout = "10s"\n')
        p = subprocess.run([str(tern_bin()), "check-config", "--config", str(cfg)], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, (http, p.stderr.decode())
