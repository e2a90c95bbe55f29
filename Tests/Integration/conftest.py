"""Fixtures that run the real `tern` binary (TERN_BIN, default <repo>/.build/debug/tern).

Each server gets a fresh temp directory holding its data dir, its config and its captured
stdout/stderr (tern-N.stdout / tern-N.stderr). Start-up waits for `tern: ready` (60 s) and reads the
real ports from the `tern: listening on ...` lines. Teardown fails the test if tern died on its
own or stopped answering, then sends SIGTERM (SIGKILL after 10 s). The logs of every live server
are attached to a failing test's report.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from outbound import NSD, Peer, free_loopback_port
from ternlib import HOSTNAME, LIVE_SERVERS, SMTPConn, TernServer, make_config


class TernFactory:
    """Starts dev or serve mode servers in sub-directories of one temp dir."""

    def __init__(self, base: Path):
        self.base = base
        self.servers: list[TernServer] = []
        self.n = 0

    def _workdir(self) -> Path:
        self.n += 1
        d = self.base / f"tern{self.n}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def dev(self, *, limits: dict | None = None, tls: dict | None = None, config_extra: str = "",
            data_dir: Path | None = None, hostname: str = HOSTNAME, args: list[str] | None = None,
            wait: bool = True, workdir: Path | None = None, listeners: list[dict] | None = None) -> TernServer:
        """`tern dev --smtp 127.0.0.1:0 --data D --hostname H [--config C]`; with `listeners`, those
        come from the config file instead of --smtp."""
        work = workdir or self._workdir()
        data = data_dir or work / "data"
        argv = ["dev", "--data", str(data), "--hostname", hostname, "--http", "127.0.0.1:0"]
        if not listeners:
            argv[1:1] = ["--smtp", "127.0.0.1:0"]
        if limits or tls or config_extra or listeners:
            cfg = make_config(work / "tern.toml", hostname=hostname, tls=tls, limits=limits, extra=config_extra,
                              listeners=listeners)
            argv += ["--config", str(cfg)]
        argv += args or []
        if "--imap" not in argv:
            argv += ["--imap", "127.0.0.1:0"]  # never the fixed default port: servers run side by side
        if "--pop3" not in argv:
            argv += ["--pop3", "127.0.0.1:0"]
        return self._start(TernServer(argv, work, data, hostname=hostname, mode="dev"), wait)

    def serve(self, *, listeners: list[dict] | None = None, limits: dict | None = None, tls: dict | None = None,
              config_extra: str = "", hostname: str = HOSTNAME, data_dir: Path | None = None,
              wait: bool = True) -> TernServer:
        """`tern serve --config C` with one mx listener on 127.0.0.1:0 unless told otherwise.

        Unless `config_extra` has its own [mail] section, loopback is a relay network, so these
        tests may send to any domain (serve mode is never an open relay otherwise)."""
        if "[mail]" not in config_extra:
            config_extra = '[mail]\nrelay_networks = ["127.0.0.0/8", "::1"]\n' + config_extra
        if "[dns]" not in config_extra:
            # Never the machine's resolver: a test must not send queries off loopback. Nothing
            # answers on port 9, so remote deliveries are deferred (DNS temporary failure).
            config_extra += '\n[dns]\nservers = ["127.0.0.1:9"]\ntimeout = "200ms"\nattempts = 1\n'
            # Without DNS, SPF and DMARC could only time out on every message: they are tested
            # against NSD in test_mail_auth.py. DKIM stays on (no signature, no query).
            if "[spf]" not in config_extra:
                config_extra += "\n[spf]\nverify = false\n"
            if "[dmarc]" not in config_extra:
                config_extra += "\n[dmarc]\nverify = false\n"
        work = self._workdir()
        data = data_dir or work / "data"
        listeners = listeners or [{"address": "127.0.0.1", "port": 0, "role": "mx"}]
        cfg = make_config(work / "tern.toml", hostname=hostname, data_dir=data, listeners=listeners, tls=tls,
                          limits=limits, extra=config_extra)
        return self._start(TernServer(["serve", "--config", str(cfg)], work, data, hostname=hostname,
                                      mode="serve"), wait)

    def _start(self, server: TernServer, wait: bool) -> TernServer:
        self.servers.append(server)
        server.start(wait_ready=wait)
        return server

    def finish(self) -> list[str]:
        """Stops every server; returns problems found (died on its own, no longer answering)."""
        problems = []
        for s in self.servers:
            if s.proc is None:
                continue
            if not s.expect_exit:
                if not s.alive():
                    problems.append(f"tern died during the test (exit status {s.proc.returncode})\n{s.logs()}")
                elif not health_check(s):
                    problems.append(f"tern no longer sends a 220 greeting after the test\n{s.logs()}")
            s.stop()
            if s in LIVE_SERVERS:
                LIVE_SERVERS.remove(s)
        return problems


def health_check(server: TernServer, within: float = 5.0) -> bool:
    """A fresh connection gets a 220 greeting (retrying while a limit still answers 421)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with SMTPConn(server.host, server.port, timeout=max(0.5, deadline - time.monotonic()),
                          greeting=False) as c:
                if server.listeners[0].tls == "implicit":
                    c.wrap_tls()
                r = c.reply()
                if r.code == 220:
                    c.send(b"QUIT\r\n")
                    return True
        except (OSError, AssertionError):
            pass
        time.sleep(0.2)
    return False


@pytest.fixture
def tern_factory(tmp_path):
    factory = TernFactory(tmp_path)
    yield factory
    problems = factory.finish()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def nsd(tmp_path_factory):
    """NSD serving the remote.test zone (outbound.ZONE) on 127.0.0.1, for the whole run."""
    server = NSD(tmp_path_factory.mktemp("nsd")).start()
    yield server
    server.stop()


@pytest.fixture
def peers(tmp_path):
    """Starts aiosmtpd peers: `peers.start("127.0.0.3", "--reject-rcpt", "bob@a.remote.test")`.
    All peers of a test share `peers.port`; every peer is stopped at the end."""
    class Peers:
        def __init__(self):
            self.port = free_loopback_port(("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"))
            self.started: list[Peer] = []

        def start(self, host: str, *options: str) -> Peer:
            peer = Peer(host, self.port, tmp_path / f"peer-{host}", list(options)).start()
            self.started.append(peer)
            return peer

    group = Peers()
    yield group
    for peer in group.started:
        peer.stop()


@pytest.fixture
def tern(tern_factory) -> TernServer:
    """A dev-mode server with default limits and the generated self-signed certificate."""
    return tern_factory.dev()


@pytest.fixture(scope="module")
def shared_tern(tmp_path_factory):
    """One dev-mode server shared by a module's reply-only tests (each test opens its own
    connections and checks storage by QID or by a before/after snapshot)."""
    factory = TernFactory(tmp_path_factory.mktemp("shared"))
    server = factory.dev()
    yield server
    problems = factory.finish()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def shared_serve(tmp_path_factory):
    """One serve-mode server (one mx listener) shared by a module's tests."""
    factory = TernFactory(tmp_path_factory.mktemp("shared-serve"))
    server = factory.serve()
    yield server
    problems = factory.finish()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def _servers_stay_alive():
    """After every test: no live server (shared ones included) may have died by itself."""
    yield
    dead = [s for s in LIVE_SERVERS if not s.expect_exit and s.proc is not None and not s.alive()]
    for s in dead:
        s.expect_exit = True  # report once
    if dead:
        pytest.fail("\n\n".join(f"tern died during the test (exit status {s.proc.returncode})\n{s.logs()}"
                                for s in dead), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, s in enumerate(list(LIVE_SERVERS)):
            report.sections.append((f"tern server {i} ({s.mode}, {s.workdir})", s.logs()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
