"""Helpers for Tern's integration tests: a byte-exact SMTP client, the server process, and the
checks on what Tern stored (Maildir files in dev mode, spool files in serve mode).

Everything here talks to 127.0.0.1 only. Every socket has a timeout (10 s by default) so a
stalled server fails a test instead of hanging the suite.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOSTNAME = "mx.tern.test"
TIMEOUT = 10.0
QID_RE = re.compile(r"^[0-9A-Z]{16}$")
CI = os.environ.get("CI") == "true"


def tern_bin() -> Path:
    return Path(os.environ.get("TERN_BIN", str(REPO / ".build" / "debug" / "tern")))


# --------------------------------------------------------------------------------------------
# Replies and the raw client
# --------------------------------------------------------------------------------------------

class ProtocolError(AssertionError):
    """The server sent something that is not a well-formed SMTP reply."""


@dataclass
class Reply:
    code: int
    lines: list[str]  # text after "NNN-" / "NNN ", without CRLF
    raw: bytes = b""

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 enhanced status code of the last line, if any."""
        m = re.match(r"^([245]\.\d{1,3}\.\d{1,3})(?: |$)", self.lines[-1])
        return m.group(1) if m else None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def qid(self) -> str:
        m = re.search(r"queued as ([0-9A-Z]+)", self.lines[-1])
        assert m, f"no 'queued as <QID>' in {self}"
        assert QID_RE.match(m.group(1)), f"QID {m.group(1)!r} is not 16 chars [0-9A-Z]"
        return m.group(1)

    def __str__(self) -> str:
        return " | ".join(f"{self.code} {line}" for line in self.lines)

    def is_(self, code: int, enhanced: str | None = None) -> bool:
        return self.code == code and (enhanced is None or self.enhanced == enhanced)


class SMTPConn:
    """A raw SMTP client: sends exactly the bytes it is given and parses replies strictly
    (every reply line must end in CRLF and carry the same code)."""

    def __init__(self, host: str, port: int, *, timeout: float = TIMEOUT, greeting: bool = True,
                 sock: socket.socket | None = None):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = sock or socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.greeting: Reply | None = None
        if greeting:
            self.greeting = self.reply()

    # -- plumbing ---------------------------------------------------------------------------
    def __enter__(self) -> "SMTPConn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send_bytewise(self, data: bytes, pause: float = 0.001) -> None:
        """One write per byte (TCP_NODELAY is on), so the server sees every split."""
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            if pause:
                time.sleep(pause)

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError(
                f"timed out after {self.sock.gettimeout()} s waiting for the server "
                f"(buffered so far: {self.buf[:200]!r})") from None
        if not chunk:
            raise ConnectionClosed(self.buf)
        self.buf += chunk

    def line(self) -> bytes:
        while b"\n" not in self.buf:
            if len(self.buf) > 100_000:
                raise ProtocolError(f"reply line longer than 100 kB: {self.buf[:200]!r}")
            self._fill()
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[: i + 1], self.buf[i + 1:]
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            raise ProtocolError(f"reply line not terminated by CRLF (or with a bare CR): {line!r}")
        return line

    def reply(self) -> Reply:
        lines: list[str] = []
        raw = b""
        code = None
        while True:
            line = self.line()
            raw += line
            m = re.match(rb"^(\d{3})([ -])(.*)\r\n$", line, re.S)
            if not m:
                raise ProtocolError(f"malformed reply line {line!r}")
            c = int(m.group(1))
            if code is not None and c != code:
                raise ProtocolError(f"multi-line reply changes code: {raw!r}")
            code = c
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) == b" ":
                return Reply(code, lines, raw)

    def replies(self, n: int) -> list[Reply]:
        return [self.reply() for _ in range(n)]

    def cmd(self, line: bytes | str) -> Reply:
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply()

    def expect(self, line: bytes | str, code: int, enhanced: str | None = None) -> Reply:
        r = self.cmd(line)
        assert r.is_(code, enhanced), f"{line!r}: expected {code} {enhanced or ''}, got {r}"
        return r

    def expect_reply(self, code: int, enhanced: str | None = None, what: str = "") -> Reply:
        r = self.reply()
        assert r.is_(code, enhanced), f"{what}: expected {code} {enhanced or ''}, got {r}"
        return r

    # -- SMTP verbs -------------------------------------------------------------------------
    def ehlo(self, name: str = "client.example") -> Reply:
        r = self.cmd(f"EHLO {name}")
        assert r.code == 250, f"EHLO: {r}"
        return r

    def starttls(self, context: ssl.SSLContext | None = None, server_hostname: str | None = None) -> None:
        self.expect("STARTTLS", 220, "2.0.0")
        self.wrap_tls(context, server_hostname)

    def wrap_tls(self, context: ssl.SSLContext | None = None, server_hostname: str | None = None) -> None:
        assert self.buf == b"", f"plaintext bytes after the 220 to STARTTLS: {self.buf!r}"
        ctx = context or unverified_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.sock.settimeout(self.timeout)

    def mail_rcpt_data(self, mail_from: str = "sender@client.example",
                       rcpts: tuple[str, ...] | list[str] = ("rcpt@tern.test",),
                       mail_params: str = "", rcpt_params: dict[str, str] | None = None) -> None:
        """MAIL, one RCPT per recipient (with `rcpt_params[recipient]` when given), DATA."""
        self.expect(f"MAIL FROM:<{mail_from}>{(' ' + mail_params) if mail_params else ''}", 250, "2.1.0")
        for r in rcpts:
            params = (rcpt_params or {}).get(r)
            self.expect(f"RCPT TO:<{r}>{(' ' + params) if params else ''}", 250, "2.1.5")
        self.expect("DATA", 354)

    def send_message(self, content: bytes, mail_from: str = "sender@client.example",
                     rcpts: tuple[str, ...] | list[str] = ("rcpt@tern.test",), mail_params: str = "",
                     rcpt_params: dict[str, str] | None = None) -> str:
        """MAIL, RCPT..., DATA, the dot-stuffed content; returns the QID of the 250."""
        self.mail_rcpt_data(mail_from, rcpts, mail_params, rcpt_params)
        self.send(data_payload(content))
        return self.expect_reply(250, "2.0.0", "end of data").qid

    # -- connection state -------------------------------------------------------------------
    def pending(self, wait: float = 0.3) -> bytes:
        """Bytes the server sent without being asked (waits `wait` seconds)."""
        data = self.buf
        self.buf = b""
        self.sock.settimeout(wait)
        try:
            while True:
                # An SSL socket may hold decrypted bytes that select() cannot see.
                buffered = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0
                if not buffered:
                    r, _, _ = select.select([self.sock], [], [], wait)
                    if not r:
                        break
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ssl.SSLWantReadError, ConnectionResetError):
            pass
        finally:
            self.sock.settimeout(self.timeout)
        return data

    def read_until_closed(self, timeout: float = TIMEOUT) -> bytes:
        """Everything the server sends until it closes the connection; fails on timeout."""
        data = self.buf
        self.buf = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"server did not close the connection within {timeout} s; got {data[:300]!r}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return data
            except ssl.SSLError:
                return data
            if not chunk:
                return data
            data += chunk

    def expect_closed_with(self, code: int, enhanced: str | None, timeout: float = TIMEOUT) -> Reply:
        """The next reply is `code enhanced` and then the server closes the connection."""
        try:
            r = self.reply()
        except ConnectionClosed as e:
            raise AssertionError(f"connection closed without the expected {code} {enhanced}; got {e.data!r}")
        assert r.is_(code, enhanced), f"expected {code} {enhanced} before close, got {r}"
        rest = self.read_until_closed(timeout)
        assert rest == b"", f"bytes after the {code} reply: {rest[:200]!r}"
        return r


class ConnectionClosed(AssertionError):
    def __init__(self, data: bytes):
        super().__init__(f"server closed the connection (unparsed bytes: {data[:200]!r})")
        self.data = data


def unverified_context() -> ssl.SSLContext:
    return ssl._create_unverified_context()  # noqa: SLF001 - the self-signed dev certificate


def data_payload(content: bytes) -> bytes:
    """DATA payload for `content` (which must end in CRLF or be empty): dot-stuffed + '.CRLF'."""
    assert content == b"" or content.endswith(b"\r\n"), "test bug: message content must end in CRLF"
    stuffed = re.sub(rb"(?m)^\.", b"..", content)
    return stuffed + b".\r\n"


def message(subject: str = "test", body: bytes | str = b"Hello from the Tern integration tests.\r\n",
            extra_headers: bytes = b"", sender: str = "Sender <sender@client.example>") -> bytes:
    """An RFC 5322 message with CRLF line ends (headers first, never starting with WSP)."""
    if isinstance(body, str):
        body = body.encode()
    return (f"From: {sender}\r\n".encode()
            + b"To: Rcpt <rcpt@tern.test>\r\n"
            + f"Subject: {subject}\r\n".encode()
            + b"Message-ID: <" + os.urandom(6).hex().encode() + b"@client.example>\r\n"
            + extra_headers + b"\r\n" + body)


def ehlo_keywords(r: Reply) -> list[str]:
    """EHLO extension lines (without the first, greeting line)."""
    return r.lines[1:]


# --------------------------------------------------------------------------------------------
# What Tern stored
# --------------------------------------------------------------------------------------------

def split_received(data: bytes) -> tuple[bytes, bytes]:
    """(the Received header field incl. its final CRLF, everything after it). The catcher, a
    final delivery, puts Return-Path (RFC 5321 §4.4) above it: skipped. In serve mode the mx
    role puts its Authentication-Results (RFC 8601) right under its Received: that field is
    Tern's too, and is left out of what follows."""
    if data.startswith(b"Return-Path: <"):
        data = data[data.index(b"\r\n") + 2:]
    assert data.startswith(b"Received: from "), f"stored message does not start with 'Received: from ': {data[:120]!r}"
    received = _first_field(data)
    rest = data[len(received):]
    if rest.startswith(b"Authentication-Results: "):
        rest = rest[len(_first_field(rest)):]
    return received, rest


def _first_field(data: bytes) -> bytes:
    """The first header field of `data`, continuation lines and final CRLF included."""
    i = 0
    while True:
        j = data.find(b"\r\n", i)
        assert j >= 0, f"header field not terminated by CRLF: {data[:400]!r}"
        if data[j + 2:j + 3] in (b" ", b"\t"):
            i = j + 2
            continue
        return data[: j + 2]


def check_received(header: bytes, *, helo: str, proto: str, qid: str | None,
                   rcpt: str | tuple[str, ...] | None = None, hostname: str = HOSTNAME) -> str:
    """Checks a Received header (RFC 5321 §4.4) and returns it unfolded as text."""
    body = header[:-2]
    physical = body.split(b"\r\n")
    for n, phys in enumerate(physical):
        assert len(phys) <= 998, f"Received line longer than 998 octets: {phys[:100]!r}"
        assert n == 0 or phys[:1] in (b" ", b"\t"), f"bad folding in Received: {header!r}"
        for b in phys:
            if (b < 0x20 and b != 0x09) or b == 0x7F:
                raise AssertionError(f"control character {b:#04x} (or bare CR/LF) in Received: {header!r}")
    unfolded = re.sub(rb"\r\n(?=[ \t])", b"", body).decode("utf-8")
    assert unfolded.startswith(f"Received: from {helo} ("), f"Received does not start with 'from {helo} (': {unfolded!r}"
    assert "127.0.0.1" in unfolded, f"Received lacks the peer address 127.0.0.1: {unfolded!r}"
    m = re.search(r"\bby\s+" + re.escape(hostname) + r"\s+\(Tern\)\s+with\s+([A-Za-z0-9]+)", unfolded)
    assert m, f"no 'by {hostname} (Tern) with ...' in {unfolded!r}"
    assert m.group(1) == proto, f"Received protocol {m.group(1)!r}, expected {proto!r}: {unfolded!r}"
    if qid is not None:
        assert re.search(r"\bid\s+" + re.escape(qid) + r"\b", unfolded), f"no 'id {qid}' in {unfolded!r}"
    if rcpt is not None:
        alternatives = rcpt if isinstance(rcpt, tuple) else (rcpt,)
        assert any(re.search(r"\bfor\s+<" + re.escape(r) + ">", unfolded) for r in alternatives), \
            f"no 'for <{' or '.join(alternatives)}>' in {unfolded!r}"
    else:
        assert not re.search(r"\bfor\s+<", unfolded), f"'for <...>' present although not exactly one recipient: {unfolded!r}"
    assert ";" in unfolded, f"no '; date' in {unfolded!r}"
    date_text = unfolded.rsplit(";", 1)[1].strip()
    try:
        when = email.utils.parsedate_to_datetime(date_text)
    except (TypeError, ValueError) as e:
        raise AssertionError(f"Received date {date_text!r} is not an RFC 5322 date: {e}")
    assert when.tzinfo is not None, f"Received date without zone: {date_text!r}"
    now = _dt.datetime.now(_dt.timezone.utc)
    assert abs((now - when).total_seconds()) < 3600, f"Received date {date_text!r} is not now"
    return unfolded


# --------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------

@dataclass
class Listener:
    host: str
    port: int
    role: str
    tls: str


LISTEN_RE = re.compile(r"^tern: listening on (\S+) role=(\S+) tls=(\S+)\s*$")
CATCHALL_RE = re.compile(r"^tern: catch-all mailbox (.+) \(Maildir\)\s*$")
HTTP_RE = re.compile(r"^tern: web UI and API on (http://\S+)$")

LIVE_SERVERS: list["TernServer"] = []
_READY_TIMEOUTS = 0


@dataclass
class TernServer:
    """One running `tern` process and the places where it stores mail."""
    args: list[str]
    workdir: Path
    data_dir: Path
    hostname: str = HOSTNAME
    mode: str = "dev"
    proc: subprocess.Popen | None = None
    listeners: list[Listener] = field(default_factory=list)
    catch_all: Path | None = None
    http_url: str | None = None  # the catcher's web UI and API (dev mode), e.g. http://127.0.0.1:8025
    stdout_path: Path | None = None
    stderr_path: Path | None = None
    expect_exit: bool = False  # set by tests that stop or kill the server themselves
    startup_lines: list[str] = field(default_factory=list)
    binary: Path | None = None  # another tern than TERN_BIN's (the release package's)
    environment: dict[str, str] | None = None  # the whole environment, instead of the tests' own

    # -- life cycle -------------------------------------------------------------------------
    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> "TernServer":
        binary = self.binary or tern_bin()
        if not binary.exists():
            raise AssertionError(f"tern binary not found at {binary} (set TERN_BIN or run swift build)")
        n = len(list(self.workdir.glob("tern-*.stdout")))
        self.stdout_path = self.workdir / f"tern-{n}.stdout"
        self.stderr_path = self.workdir / f"tern-{n}.stderr"
        env = self.environment if self.environment is not None else {
            k: v for k, v in os.environ.items() if not k.startswith("TERN_")}
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([str(binary), *self.args], cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, env=env, start_new_session=True)
        self.expect_exit = False
        LIVE_SERVERS.append(self)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        global _READY_TIMEOUTS
        if _READY_TIMEOUTS >= 2:
            timeout = min(timeout, 15.0)  # don't spend a minute per test once start-up is known broken
        deadline = time.monotonic() + timeout
        while True:
            lines = self.stdout_text().splitlines()
            if "tern: ready" in (line.strip() for line in lines):
                break
            if self.proc.poll() is not None:
                raise AssertionError(f"tern exited with {self.proc.returncode} before 'tern: ready'\n{self.logs()}")
            if time.monotonic() > deadline:
                _READY_TIMEOUTS += 1
                raise AssertionError(f"no 'tern: ready' on stdout within {timeout} s (stdout is a file here, not a "
                                     f"terminal: is it flushed after each start-up line?)\n{self.logs()}")
            time.sleep(0.05)
        self.startup_lines = [line for line in lines[: [l.strip() for l in lines].index("tern: ready") + 1]]
        self.listeners = []
        for line in self.startup_lines:
            m = LISTEN_RE.match(line.strip())
            if m:
                addr, port = m.group(1).rsplit(":", 1)
                self.listeners.append(Listener(addr.strip("[]"), int(port), m.group(2), m.group(3)))
            m = CATCHALL_RE.match(line.strip())
            if m:
                self.catch_all = Path(m.group(1))
            m = HTTP_RE.match(line.strip())
            if m:
                self.http_url = m.group(1)
        assert self.listeners, f"no 'tern: listening on ...' line before 'tern: ready'\n{self.logs()}"
        for lst in self.listeners:
            assert lst.port > 0, f"listener printed port {lst.port}: the real port must be printed"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signals the server and waits; SIGKILL after `timeout` s. Returns the exit status."""
        self.expect_exit = True
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return -9
        return self.proc.returncode

    def kill(self) -> None:
        self.expect_exit = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- addresses --------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.listeners[0].host

    @property
    def port(self) -> int:
        return self.listeners[0].port

    def listener(self, role: str) -> Listener:
        for lst in self.listeners:
            if lst.role == role:
                return lst
        raise AssertionError(f"no listener with role={role}: {self.listeners}")

    def connect(self, role: str | None = None, **kw) -> SMTPConn:
        lst = self.listener(role) if role else self.listeners[0]
        return SMTPConn(lst.host, lst.port, **kw)

    # -- logs -------------------------------------------------------------------------------
    def stdout_text(self) -> str:
        return self.stdout_path.read_bytes().decode("utf-8", "replace") if self.stdout_path else ""

    def stderr_text(self) -> str:
        return self.stderr_path.read_bytes().decode("utf-8", "replace") if self.stderr_path else ""

    def output(self) -> str:
        return self.stdout_text() + "\n" + self.stderr_text()

    def logs(self, tail: int = 150) -> str:
        def cut(text: str) -> str:
            lines = text.splitlines()
            if len(lines) > tail:
                lines = [f"... ({len(lines) - tail} lines cut)"] + lines[-tail:]
            return "\n".join(lines)
        return (f"--- tern {' '.join(self.args)} (rc={self.proc.poll() if self.proc else None})\n"
                f"--- stdout ({self.stdout_path}):\n{cut(self.stdout_text())}\n"
                f"--- stderr ({self.stderr_path}):\n{cut(self.stderr_text())}")

    # -- storage: dev mode Maildir ----------------------------------------------------------
    @property
    def maildir(self) -> Path:
        return self.data_dir / "mailboxes" / "catch-all"

    def new_files(self, inbox: str | None = None) -> list[Path]:
        """Messages in the default inbox's new/, or in the inbox of SMTP user `inbox`."""
        d = self.inbox_dir(inbox) / "new"
        return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []

    def inbox_dir(self, inbox: str | None) -> Path:
        """The catcher's inbox of an SMTP user: a Maildir++ folder named like Tern names it (the
        login in lower case and Unicode NFC, octets outside a safe set written %XX)."""
        import unicodedata
        if inbox is None:
            return self.maildir
        canonical = unicodedata.normalize("NFC", inbox.lower())
        kept = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@_+-=")
        folder = "".join(chr(b) if b in kept else f"%{b:02X}" for b in canonical.encode())
        return self.maildir / f".{folder}"

    def all_new_files(self) -> list[Path]:
        """Messages in every inbox."""
        return sorted(p for p in self.maildir.glob("**/new/*") if p.is_file())

    def tmp_files(self) -> list[Path]:
        d = self.maildir / "tmp"
        return sorted(p for p in d.iterdir()) if d.is_dir() else []

    def stored(self, qid: str, wait: float = 5.0) -> bytes:
        """The one file in new/ whose name contains `qid` (dev mode)."""
        deadline = time.monotonic() + wait
        while True:
            hits = [p for p in self.all_new_files() if qid in p.name]
            if hits or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(hits) == 1, f"expected exactly one file for {qid} in {self.maildir}, found {hits}"
        return hits[0].read_bytes()

    def body_of(self, qid: str, *, helo: str = "client.example", proto: str = "ESMTP",
                rcpt: str | tuple[str, ...] | None = "rcpt@tern.test") -> bytes:
        """Stored content after the Received header, which is checked on the way."""
        data = self.stored(qid)
        received, rest = split_received(data)
        check_received(received, helo=helo, proto=proto, qid=qid, rcpt=rcpt, hostname=self.hostname)
        return rest

    def assert_tmp_empty(self) -> None:
        left = self.tmp_files()
        assert left == [], f"files left in {self.maildir / 'tmp'}: {left}"

    # -- storage: serve mode spool ----------------------------------------------------------
    @property
    def queue_dir(self) -> Path:
        return self.data_dir / "spool" / "queue"

    def queue_files(self) -> list[Path]:
        d = self.queue_dir
        return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []

    def spooled(self, qid: str, wait: float = 5.0) -> tuple[bytes, dict]:
        """(<QID>.eml bytes, <QID>.json parsed) from the spool (serve mode)."""
        eml, env = self.queue_dir / f"{qid}.eml", self.queue_dir / f"{qid}.json"
        deadline = time.monotonic() + wait
        while not (eml.exists() and env.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert eml.is_file(), f"{eml} missing; queue has {self.queue_files()}"
        assert env.is_file(), f"{env} missing; queue has {self.queue_files()}"
        return eml.read_bytes(), json.loads(env.read_text())

    def snapshot(self) -> set[Path]:
        """Every file under the data dir except TLS material and a Maildir's MODSEQ log (to prove
        nothing was stored): the log's records of earlier messages are written at a listing that
        may come at any time, so its first appearance says nothing of the message under test."""
        out = set()
        for p in self.data_dir.rglob("*"):
            if p.is_file() and "tls" not in p.relative_to(self.data_dir).parts and p.name != "tern-modseq":
                out.add(p)
        return out


def wait_port_free_then_bind(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(1)
    return s


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


# An MTA listener and both submission listeners (587 STARTTLS, 465 implicit TLS), free ports.
SUBMISSION_LISTENERS = [
    {"address": "127.0.0.1", "port": 0, "role": "mx"},
    {"address": "127.0.0.1", "port": 0, "role": "submission"},
    {"address": "127.0.0.1", "port": 0, "role": "submissions"},
]


def make_config(path: Path, *, hostname: str | None = HOSTNAME, data_dir: Path | None = None,
                listeners: list[dict] | None = None, tls: dict | None = None, limits: dict | None = None,
                extra: str = "") -> Path:
    """Writes a tern.toml and returns its path."""
    out = []
    if hostname is not None:
        out.append(f"hostname = {toml_value(hostname)}")
    if data_dir is not None:
        out.append(f"data_dir = {toml_value(str(data_dir))}")
    for lst in listeners or []:
        out.append("\n[[listener]]")
        out += [f"{k} = {toml_value(v)}" for k, v in lst.items()]
    if tls:
        out.append("\n[tls]")
        out += [f"{k} = {toml_value(v)}" for k, v in tls.items()]
    if limits:
        out.append("\n[limits]")
        out += [f"{k} = {toml_value(v)}" for k, v in limits.items()]
    if extra:
        out.append(extra)
    path.write_text("\n".join(out) + "\n")
    return path


def need_tool(name: str) -> str:
    """Path of an external tool; a missing tool fails under CI=true and skips otherwise."""
    import pytest
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed (scripts/test installs it when run as root)"
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def make_cert(directory: Path, cn: str = HOSTNAME) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for `cn` made with the openssl CLI."""
    openssl = need_tool("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", f"subjectAltName=DNS:{cn}"], check=True, capture_output=True, timeout=60)
    return cert, key


@dataclass
class CertificateAuthority:
    """A private certificate authority made with the openssl CLI (P-256, valid two days): what
    `tls_ca_file` names, so Tern can verify the certificates it signs (`issue`)."""
    directory: Path
    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path, name: str = "Tern Test CA") -> "CertificateAuthority":
        openssl = need_tool("openssl")
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "ca.pem", directory / "ca-key.pem"
        subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
                        "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                       check=True, capture_output=True, timeout=60)
        return cls(directory, cert, key)

    def issue(self, stem: str, names: list[str]) -> tuple[Path, Path]:
        """A server certificate signed by this CA whose subjectAltName lists `names` (an IP
        address becomes an IP entry, anything else a DNS entry); returns (cert, key)."""
        import ipaddress
        openssl = need_tool("openssl")
        cert, key = self.directory / f"{stem}.pem", self.directory / f"{stem}-key.pem"
        csr, extensions = self.directory / f"{stem}.csr", self.directory / f"{stem}.ext"

        def entry(name: str) -> str:
            try:
                ipaddress.ip_address(name)
                return f"IP:{name}"
            except ValueError:
                return f"DNS:{name}"

        extensions.write_text("basicConstraints=critical,CA:FALSE\n"
                              "keyUsage=critical,digitalSignature\n"
                              "extendedKeyUsage=serverAuth\n"
                              f"subjectAltName={','.join(entry(n) for n in names)}\n")
        subprocess.run([openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={names[0]}"],
                       check=True, capture_output=True, timeout=60)
        subprocess.run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                        "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
                        "-extfile", str(extensions), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
        return cert, key


def mail_config(*, catch_all_to: str, relay_networks: str = "192.0.2.0/24") -> str:
    """A serve-mode [mail] section: example.test with mailboxes alice and bob, a team@ alias to
    both, and a catch-all for other.test; loopback is NOT a relay network unless asked."""
    return f"""
[mail]
domains = ["example.test", "other.test"]
relay_networks = ["{relay_networks}"]

[[mailbox]]
address = "alice@example.test"

[[mailbox]]
address = "bob@example.test"

[[alias]]
address = "team@example.test"
to = ["alice@example.test", "bob@example.test"]

[[alias]]
address = "@other.test"
to = ["{catch_all_to}"]
"""


def wait_for_files(directory: Path, count: int, timeout: float = 15.0) -> list[Path]:
    """The files in a Maildir's new/ once there are at least `count`, sorted by name."""
    deadline = time.monotonic() + timeout
    files: list[Path] = []
    while time.monotonic() < deadline:
        files = sorted((directory / "new").glob("*")) if (directory / "new").is_dir() else []
        if len(files) >= count:
            return files
        time.sleep(0.05)
    raise AssertionError(f"{directory}: {len(files)} of {count} messages delivered after {timeout} s")



class ScramClient:
    """The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), written from the RFCs, for any
    protocol's SASL exchange: `first()` is the client-first message, `final(server_first)` the
    client-final one (both base64), and `verifies(server_final)` checks the server's signature,
    which only a server that knows the user's ServerKey can produce (mutual authentication)."""

    def __init__(self, user: str, password: str):
        import base64
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={self.nonce}"
        self.fields: dict[str, str] = {}
        self.expected = ""

    @staticmethod
    def _b64(data: bytes | str) -> str:
        import base64
        return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()

    def first(self) -> str:
        return self._b64("n,," + self.bare)

    def final(self, server_first_b64: str, tamper: str | None = None) -> str:
        import base64
        import hashlib
        import hmac
        server_first = base64.b64decode(server_first_b64).decode()
        self.fields = dict(item.split("=", 1) for item in server_first.split(","))
        assert self.fields["r"].startswith(self.nonce) and len(self.fields["r"]) > len(self.nonce)
        salt, iterations = base64.b64decode(self.fields["s"]), int(self.fields["i"])
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={self.fields['r'] + (tamper or '')}"
        auth_message = f"{self.bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        self.expected = "v=" + self._b64(hmac.new(server_key, auth_message, "sha256").digest())
        return self._b64(f"{without_proof},p={self._b64(proof)}")

    def verifies(self, server_final_b64: str) -> bool:
        import base64
        return base64.b64decode(server_final_b64).decode() == self.expected
