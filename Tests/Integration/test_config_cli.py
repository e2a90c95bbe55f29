"""The command line and the configuration file: check-config, start-up lines, defaults, CLI flags
winning over the file, invalid values naming their key, and a port already in use."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from ternlib import HOSTNAME, LIVE_SERVERS, TernServer, make_cert, make_config, message, tern_bin

FULL_CONFIG = """
hostname = "mx.tern.test"
data_dir = "{data}"

[[listener]]
address = "127.0.0.1"
port = 0
role = "mx"

[[listener]]
address = "127.0.0.1"
port = 0
role = "submission"

[[listener]]
address = "127.0.0.1"
port = 0
role = "submissions"
cleartext_auth = true

[catcher]
http = "127.0.0.1:0"
max_messages = 5000
max_age = "7d"

[auth]
failure_delay = "500ms"
max_failure_delay = "16s"
failure_window = "15m"

[limits]
message_size = 52428800
recipients = 1000
command_line_length = 512
text_line_length = 1000
errors = 20
commands_without_mail = 100
connections = 1000
connections_per_ip = 50
connections_per_user = 20
greeting_delay = "0s"
command_timeout = "5m"
data_timeout = "10m"
shutdown_grace = "30s"
"""


def run_tern(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TERN_")}
    return subprocess.run([str(tern_bin()), *args], cwd=cwd, capture_output=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def output(p: subprocess.CompletedProcess) -> str:
    return p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("with_tls", [False, True], ids=["self-signed", "tls-files"])
def test_check_config_ok(tmp_path, with_tls):
    """check-config accepts a config using every documented key: exit 0 and 'ok'."""
    cfg = tmp_path / "tern.toml"
    text = FULL_CONFIG.format(data=tmp_path / "data")
    if with_tls:
        cert, key = make_cert(tmp_path)
        text += f'\n[tls]\ncertificate = "{cert}"\nprivate_key = "{key}"\n'
    cfg.write_text(text)
    p = run_tern("check-config", "--config", str(cfg), cwd=tmp_path)
    assert p.returncode == 0, output(p)
    assert re.search(r"\bok\b", p.stdout.decode()), output(p)


INVALID = [
    ("[limits]\nmessage_size = -1", ["limits.message_size"]),
    ("[limits]\nmessage_size = \"big\"", ["limits.message_size"]),
    ("[limits]\nconnections_per_ip = 1.5", ["limits.connections_per_ip"]),
    ("[limits]\nerrors = -3", ["limits.errors"]),
    ("[limits]\ncommand_timeout = \"5 parsecs\"", ["limits.command_timeout"]),
    ("[limits]\ngreeting_delay = \"-1s\"", ["limits.greeting_delay"]),
    ("[limits]\ndata_timeout = true", ["limits.data_timeout"]),
    ("[limits]\nbogus_limit = 1", ["bogus_limit"]),
    ("bogus_top_level = 1", ["bogus_top_level"]),
    ("hostname = 42", ["hostname"]),
    ("[[listener]]\naddress = \"127.0.0.1\"\nport = 0\nrole = \"relay\"", ["listener", "role"]),
    ("[[listener]]\naddress = \"127.0.0.1\"\nport = 70000\nrole = \"mx\"", ["listener", "port"]),
    ("[[listener]]\naddress = \"127.0.0.1\"\nport = -1\nrole = \"mx\"", ["listener", "port"]),
    ("[[listener]]\naddress = \"127.0.0.1\"\nport = 0\nrole = \"mx\"\nbogus_listener_key = 1", ["bogus_listener_key"]),
    ("[[listener]]\naddress = \"0.0.0.0\"\nport = 0\nrole = \"submission\"\ncleartext_auth = true",
     ["listener[0].cleartext_auth", "loopback"]),
    ("[[listener]]\naddress = \"127.0.0.1\"\nport = 0\nrole = \"mx\"\ncleartext_auth = true",
     ["listener[0].cleartext_auth"]),
    ("[auth]\nfailure_delay = \"2s\"\nmax_failure_delay = \"1s\"", ["auth.max_failure_delay"]),
    ("[auth]\nfailure_window = \"0s\"", ["auth.failure_window"]),
    ("[auth]\nlockout = 3", ["lockout"]),
    ("[catcher]\nhttp = \"everywhere\"", ["catcher.http"]),
    ("[catcher]\nmax_messages = -1", ["catcher.max_messages"]),
    ("[[route]]\ndomain = \"*\"\nrelay = \"smtp.tern.test\"\nsecurity = \"required\"\n"
     "tls_ca_file = \"/nonexistent/ca.pem\"", ["route[0].tls_ca_file", "cannot read /nonexistent/ca.pem"]),
    ("[[route]]\ndomain = \"*\"\nrelay = \"smtp.tern.test\"\nsecurity = \"required\"\ntls_verify = \"no\"",
     ["route[0].tls_verify"]),
    ("[[route]]\ndomain = \"*\"\nrelay = \"smtp.tern.test\"\nusername = \"u\"\npassword = \"p\"",
     ["route[0].security"]),
    ("[catcher.release]\nrelay = \"smtp.tern.test\"\nallowed_domains = [\"*\"]\n"
     "tls_ca_file = \"/nonexistent/ca.pem\"", ["catcher.release.tls_ca_file"]),
]


@pytest.mark.parametrize("snippet,names", INVALID, ids=[n[-1] + "-" + str(i) for i, (_, n) in enumerate(INVALID)])
def test_check_config_invalid_names_key(tmp_path, snippet, names):
    """An invalid value (negative, wrong type, unknown role, out of range) or an unknown key makes
    check-config exit non-zero with a message naming the key."""
    cfg = tmp_path / "tern.toml"
    cfg.write_text("hostname = \"mx.tern.test\"\n" * (not snippet.startswith("hostname")) + snippet + "\n")
    p = run_tern("check-config", "--config", str(cfg), cwd=tmp_path)
    out = output(p)
    assert p.returncode != 0, f"check-config accepted:\n{snippet}\n{out}"
    for name in names:
        assert name in out, f"message does not name {name!r}:\n{out}"


def test_serve_refuses_invalid_config(tmp_path):
    """`tern serve` with an invalid config exits non-zero naming the key and never gets ready."""
    cfg = make_config(tmp_path / "tern.toml", data_dir=tmp_path / "data",
                      listeners=[{"address": "127.0.0.1", "port": 0, "role": "mx"}],
                      limits={"message_size": -5})
    p = run_tern("serve", "--config", str(cfg), cwd=tmp_path)
    out = output(p)
    assert p.returncode != 0 and "tern: ready" not in out, out
    assert "limits.message_size" in out, out


def test_check_config_toml_syntax_error(tmp_path):
    """A file that is not TOML is refused (non-zero exit, a message)."""
    cfg = tmp_path / "tern.toml"
    cfg.write_text("[limits\nmessage_size = = 3\n")
    p = run_tern("check-config", "--config", str(cfg), cwd=tmp_path)
    assert p.returncode != 0 and output(p).strip(), output(p)


@pytest.mark.parametrize("mode", ["dev", "serve"])
def test_port_in_use(tmp_path, mode):
    """A listener whose port is taken makes tern exit non-zero saying 'address already in use' and
    naming the address."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        if mode == "dev":
            args = ["dev", "--smtp", f"127.0.0.1:{port}", "--http", "127.0.0.1:0", "--data", str(tmp_path / "data")]
        else:
            cfg = make_config(tmp_path / "tern.toml", data_dir=tmp_path / "data",
                              listeners=[{"address": "127.0.0.1", "port": port, "role": "mx"}])
            args = ["serve", "--config", str(cfg)]
        p = run_tern(*args, cwd=tmp_path, timeout=60)
    out = output(p)
    assert p.returncode != 0, out
    assert "address already in use" in out.lower(), out
    assert f"127.0.0.1:{port}" in out or ("127.0.0.1" in out and str(port) in out), out


def test_dev_startup_lines(tern):
    """Dev mode prints one 'listening' line per listener, then the absolute catch-all Maildir path,
    then where the web UI listens (its real port), then 'tern: ready' last; the Maildir exists."""
    lines = [line.strip() for line in tern.startup_lines]
    assert lines[-1] == "tern: ready"
    assert re.fullmatch(r"tern: listening on 127\.0\.0\.1:\d+ role=mx tls=starttls", lines[0]), lines
    catch = [line for line in lines if line.startswith("tern: catch-all mailbox ")]
    assert len(catch) == 1 and lines.index(catch[0]) == len(lines) - 3, lines
    assert re.fullmatch(r"tern: web UI and API on http://127\.0\.0\.1:[1-9]\d*", lines[-2]), lines
    assert tern.catch_all is not None and tern.catch_all.is_absolute()
    assert tern.catch_all.resolve() == tern.maildir.resolve()
    for sub in ("tmp", "new", "cur"):
        assert (tern.maildir / sub).is_dir(), f"{tern.maildir / sub} missing"


def test_serve_startup_lines(tern_factory):
    """Serve mode prints one line per configured listener with its real port, role and TLS mode
    (mx/submission: starttls, submissions: implicit), then 'tern: ready'."""
    server = tern_factory.serve(listeners=[{"address": "127.0.0.1", "port": 0, "role": "mx"},
                                           {"address": "127.0.0.1", "port": 0, "role": "submission"},
                                           {"address": "127.0.0.1", "port": 0, "role": "submissions"}])
    got = [(lst.role, lst.tls) for lst in server.listeners]
    assert got == [("mx", "starttls"), ("submission", "starttls"), ("submissions", "implicit")], got
    assert len({lst.port for lst in server.listeners}) == 3
    assert server.startup_lines[-1].strip() == "tern: ready"
    for role in ("mx", "submission"):
        with server.connect(role) as c:
            assert c.greeting.code == 220
            c.ehlo()
    assert (server.data_dir / "tls" / "cert.pem").is_file()


def test_no_arguments_is_dev_mode(tmp_path):
    """`tern` with no arguments is `tern dev`: 127.0.0.1:1025, ./tern-data, the machine's host
    name; a message lands in ./tern-data/mailboxes/catch-all/new."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 1025))
        except OSError:
            if os.environ.get("CI") == "true":
                pytest.fail("port 1025 is busy on the CI machine")
            pytest.skip("port 1025 is busy on this machine")
    server = TernServer([], tmp_path, tmp_path / "tern-data", hostname=socket.gethostname())
    try:
        server.start()
        assert (server.host, server.port) == ("127.0.0.1", 1025), server.listeners
        assert server.catch_all is not None and server.catch_all.is_absolute(), server.startup_lines
        assert server.catch_all.resolve() == (tmp_path / "tern-data" / "mailboxes" / "catch-all").resolve()
        with server.connect() as c:
            name = c.greeting.lines[0].split()[0]
            assert name in (socket.gethostname(), socket.getfqdn()), c.greeting
            r = c.ehlo()
            assert r.lines[0].split()[0] == name
            content = message("defaults")
            qid = c.send_message(content)
        stored = server.stored(qid)
        assert stored.endswith(content)
    finally:
        rc = server.stop()
        if server in LIVE_SERVERS:
            LIVE_SERVERS.remove(server)
    assert rc == 0, server.logs()


def test_dev_config_file_and_cli_precedence(tern_factory, tmp_path):
    """`tern dev --config` applies the file's limits, while CLI flags win over the file
    (--hostname over hostname)."""
    cfg = make_config(tmp_path / "dev.toml", hostname="from-file.tern.test", limits={"message_size": 123456})
    server = tern_factory.dev(args=["--config", str(cfg)])  # the factory also passes --hostname mx.tern.test
    with server.connect() as c:
        assert c.greeting.lines[0].split()[0] == HOSTNAME, c.greeting
        r = c.ehlo()
        assert r.lines[0].split()[0] == HOSTNAME, r
        assert "SIZE 123456" in r.lines[1:], r
