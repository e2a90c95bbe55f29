"""Real peers for the outbound (MTA relay) tests: an authoritative DNS server (NSD, NLnet Labs)
serving test zones on loopback, and remote SMTP servers (aiosmtpd in its own process, or a
second Tern) on other loopback addresses (127.0.0.2, 127.0.0.3, ...), all on one port that the
sending Tern is told to use (`[outbound] port`).

Nothing here reaches beyond 127.0.0.0/8.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

from ternlib import CI

PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "smtp_peer.py"
# Debian's python3-aiosmtpd lives in the system interpreter, which may differ from the one
# running pytest; the peers are separate processes anyway.
PEER_PYTHON = "/usr/bin/python3"

ZONE = """$ORIGIN remote.test.
$TTL 60
@           SOA   ns.remote.test. hostmaster.remote.test. 1 3600 600 86400 60
@           NS    ns
ns          A     127.0.0.1
mx-down     A     127.0.0.2
mx-a        A     127.0.0.3
mx-b        A     127.0.0.4
mx-c        A     127.0.0.5
mx-d        A     127.0.0.6
a           MX    10 mx-a
b           MX    10 mx-b
c           MX    10 mx-c
d           MX    10 mx-d
fallover    MX    10 mx-down
fallover    MX    20 mx-a
prefer      MX    20 mx-b
prefer      MX    10 mx-a
implicit    A     127.0.0.3
nullmx      MX    0 .
nohost      MX    10 nowhere
"""


def _find(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if Path(p).exists()), None)


def _terminate(proc: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL after 5 s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _fail_or_skip(message: str):
    import pytest
    if CI:
        pytest.fail(message)
    pytest.skip(message)


def free_loopback_port(hosts: tuple[str, ...] = ("127.0.0.1",), udp: bool = False) -> int:
    """A port free on every one of `hosts` (TCP, and UDP if asked) at the time of asking."""
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind((hosts[0], 0))
        port = probe.getsockname()[1]
        sockets = [probe]
        try:
            for host in hosts[1:]:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(s)
                s.bind((host, port))
            if udp:
                for host in hosts:
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sockets.append(s)
                    s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise AssertionError("no free port on loopback")


class NSD:
    """NSD serving ZONE on 127.0.0.1:<port>, in the foreground, from a temporary directory."""

    def __init__(self, directory: Path, zones: dict[str, str] | None = None):
        """`zones`: origin to master-file text; remote.test (ZONE) when not given."""
        self.directory = directory
        self.zones = zones or {"remote.test": ZONE}
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> "NSD":
        nsd = _find("nsd")
        if nsd is None:
            _fail_or_skip("nsd is not installed (scripts/test installs it)")
        self.directory.mkdir(parents=True, exist_ok=True)
        for origin, text in self.zones.items():
            (self.directory / f"{origin}.zone").write_text(text)
        zone_entries = "".join(f"""zone:
    name: {origin}
    zonefile: "{origin}.zone"
""" for origin in self.zones)
        for _ in range(3):
            self.port = free_loopback_port(udp=True)
            d = self.directory
            (d / "nsd.conf").write_text(f"""server:
    ip-address: 127.0.0.1@{self.port}
    do-ip4: yes
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    logfile: "{d}/nsd.log"
    server-count: 1
    verbosity: 1
    hide-version: yes
remote-control:
    control-enable: no
{zone_entries}""")
            out = open(d / "nsd.out", "wb")
            self.proc = subprocess.Popen([nsd, "-d", "-c", str(d / "nsd.conf")], cwd=d, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            if self._wait_answering():
                return self
            self.stop()
        raise AssertionError(f"nsd did not start: {self.log()}")

    def _wait_answering(self, timeout: float = 20.0) -> bool:
        """Sends an SOA query for the first zone until NSD answers."""
        name = b"".join(bytes([len(label)]) + label.encode() for label in next(iter(self.zones)).split("."))
        query = b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" + name + b"\x00\x00\x06\x00\x01"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2)
                try:
                    s.sendto(query, ("127.0.0.1", self.port))
                    if s.recv(512)[:2] == b"\x12\x34":
                        return True
                except OSError:
                    time.sleep(0.05)
        return False

    def log(self) -> str:
        return "".join((self.directory / f).read_text(errors="replace")
                       for f in ("nsd.out", "nsd.log") if (self.directory / f).exists())

    def stop(self) -> None:
        _terminate(self.proc)


class Peer:
    """One aiosmtpd server process on host:port (see peers/smtp_peer.py for the options)."""

    def __init__(self, host: str, port: int, out: Path, options: list[str]):
        self.host, self.port, self.out, self.options = host, port, out, options
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Peer":
        if not Path(PEER_PYTHON).exists() or subprocess.run(
                [PEER_PYTHON, "-c", "import aiosmtpd"], capture_output=True).returncode != 0:
            _fail_or_skip("python3-aiosmtpd is not installed for /usr/bin/python3 (scripts/test installs it)")
        self.out.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out.parent / f"{self.out.name}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PEER_PYTHON, str(PEER_SCRIPT), "--host", self.host, "--port", str(self.port), "--out", str(self.out),
             *self.options], stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.stop()
            raise AssertionError(f"SMTP peer on {self.host}:{self.port} did not start: "
                                 f"{self.log_path.read_text(errors='replace')}")
        return self

    def stop(self) -> None:
        _terminate(self.proc)

    def messages(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.out.glob("*.json"))]

    def wait_messages(self, count: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"peer {self.host} has {len(self.messages())} messages, expected {count}")

    def auth_attempts(self) -> list[str]:
        """Every AUTH command the peer received ("<client port> <mechanism> tls=<bool>")."""
        log = self.out / "auth.log"
        return log.read_text().splitlines() if log.exists() else []

    def connections(self) -> int:
        """TCP connections that sent EHLO (the client port tells them apart)."""
        log = self.out / "connections.log"
        if not log.exists():
            return 0
        return len({line.split()[0] for line in log.read_text().splitlines() if line.strip()})


def sender_config(*, nsd_port: int, smtp_port: int, queue_extra: str = "", extra: str = "") -> str:
    """A serve-mode MTA for tern.test that relays for loopback, resolves with the test NSD
    and connects to MX hosts on `smtp_port`, with retries fast enough for a test."""
    return f"""
[mail]
domains = ["tern.test"]
relay_networks = ["127.0.0.0/8"]

[[mailbox]]
address = "sender@tern.test"

[outbound]
port = {smtp_port}
connect_timeout = "2s"

[dns]
servers = ["127.0.0.1:{nsd_port}"]
timeout = "500ms"
attempts = 2

[queue]
retry_delay = "1s"
retry_max_delay = "2s"
{queue_extra}
{extra}
"""
