"""The directory database: `tern domain|user|alias` manage domains, users and aliases in
<data_dir>/directory.sqlite, and a running server picks each change up within a second. Users
made with `tern user add` log in on 587 and 465 with real clients and send to local
mailboxes and, through the queue, to a remote domain's MX (NSD + an aiosmtpd peer)."""

from __future__ import annotations

import base64
import json
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from outbound import sender_config
from ternlib import SUBMISSION_LISTENERS, message, tern_bin, unverified_context, wait_for_files


def tern_cli(*args: str, data: Path | None = None, config: Path | None = None, password: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess:
    where = ["--config", str(config)] if config else ["--data", str(data)]
    run = subprocess.run([str(tern_bin()), *args, *where], input=None if password is None else password + "\n",
                         capture_output=True, text=True, timeout=60)
    if check:
        assert run.returncode == 0, (args, run.stdout, run.stderr)
    return run


def test_cli_manages_domains_users_and_aliases(tmp_path):
    """Every subcommand, its JSON, and its refusals (exit 1, one line naming the problem); the
    password comes from standard input, and neither it nor its hash is ever printed."""
    data = tmp_path / "data"
    tern_cli("domain", "add", "Example.TEST", data=data)
    tern_cli("domain", "add", "other.test", data=data)
    assert json.loads(tern_cli("domain", "list", "--json", data=data).stdout) == [
        {"name": "example.test", "source": "database"}, {"name": "other.test", "source": "database"}]
    assert (data / "directory.sqlite").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700

    tern_cli("user", "add", "Alice@Example.test", "--name", "Alice Liddell", "--send-as", "ceo@example.test",
             "--quota", "1048576", data=data, password="looking glass")
    tern_cli("user", "add", "bob@example.test", "--disabled", data=data, password="b0b")
    users = json.loads(tern_cli("user", "list", "--json", data=data).stdout)
    assert [u["address"] for u in users] == ["alice@example.test", "bob@example.test"]
    alice = json.loads(tern_cli("user", "show", "alice@example.test", "--json", data=data).stdout)
    assert alice == {"address": "alice@example.test", "display_name": "Alice Liddell", "enabled": True,
                     "send_as": ["ceo@example.test"], "quota_bytes": 1048576, "password_scheme": "SCRAM-SHA-256",
                     "source": "database", "usage_bytes": 0, "usage_messages": 0}
    text = tern_cli("user", "list", data=data).stdout
    assert text == 'alice@example.test  "Alice Liddell"\nbob@example.test  (disabled)\n'
    tern_cli("user", "set", "bob@example.test", "--enable", "--name", "Bob", data=data)
    assert json.loads(tern_cli("user", "show", "bob@example.test", "--json", data=data).stdout)["enabled"] is True
    tern_cli("user", "passwd", "bob@example.test", data=data, password="new one")

    tern_cli("alias", "add", "team@example.test", "alice@example.test", "carol@remote.test", data=data)
    tern_cli("alias", "add", "@other.test", "bob@example.test", data=data)
    assert json.loads(tern_cli("alias", "list", "--json", data=data).stdout) == [
        {"address": "@other.test", "source": "database", "targets": ["bob@example.test"]},
        {"address": "team@example.test", "source": "database",
         "targets": ["alice@example.test", "carol@remote.test"]}]
    tern_cli("alias", "del", "team@example.test", "carol@remote.test", data=data)
    assert tern_cli("alias", "list", data=data).stdout.splitlines() == [
        "@other.test -> bob@example.test", "team@example.test -> alice@example.test"]

    refusals = [
        (("domain", "add", "example.test"), None, "domain example.test exists already"),
        (("domain", "add", "not a domain"), None, "'not a domain' is not an address"),
        (("domain", "del", "example.test"), None, "still has 2 user(s) and 1 alias(es)"),
        (("user", "add", "alice@example.test"), "x", "user alice@example.test exists already"),
        (("user", "add", "dave@nowhere.test"), "x", "nowhere.test is not a local domain"),
        (("user", "add", "../etc@example.test"), "x", "is not an address"),
        (("user", "add", "erin@example.test"), "", "no password given"),
        (("user", "del", "zed@example.test"), None, "no user zed@example.test"),
        (("user", "show", "zed@example.test"), None, "no user zed@example.test"),
        (("user", "passwd", "zed@example.test"), "x", "no user zed@example.test"),
        (("alias", "add", "x@nowhere.test", "alice@example.test"), None, "nowhere.test is not a local domain"),
        (("alias", "add", "team@example.test", "alice@example.test"), None, "exists already"),
        (("alias", "del", "nobody@example.test"), None, "no alias nobody@example.test"),
    ]
    for args, password, problem in refusals:
        run = tern_cli(*args, data=data, password=password, check=False)
        assert run.returncode == 1 and problem in run.stderr, (args, run.stderr)
        assert run.stderr.count("\n") == 1, run.stderr
    assert "erin@example.test" not in tern_cli("user", "list", data=data).stdout

    everything = "".join(tern_cli(*a, data=data).stdout for a in [
        ("user", "list", "--json"), ("user", "show", "alice@example.test"), ("user", "show", "bob@example.test", "--json")])
    assert "looking glass" not in everything and "SCRAM-SHA-256$" not in everything

    tern_cli("alias", "del", "team@example.test", data=data)
    tern_cli("alias", "del", "@other.test", data=data)
    tern_cli("user", "del", "alice@example.test", data=data)
    tern_cli("user", "del", "bob@example.test", data=data)
    tern_cli("domain", "del", "example.test", data=data)
    assert tern_cli("domain", "list", data=data).stdout == "other.test\n"


def wait_for_log(server, text: str, count: int = 1, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.stderr_text().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no '{text}' ×{count} in the log:\n{server.logs()}")


def test_users_added_to_a_running_server_send_through_587_and_465(tern_factory, nsd, peers):
    """The server starts with an empty directory and no relay networks; `tern domain add` and
    `tern user add` while it runs make example.test local and alice and bob real within a
    second. Alice submits on 587 (STARTTLS) to bob and to a remote domain, whose MX (found
    through NSD) gets the message from the queue; bob submits on 465 to an alias that reaches
    both. Disabling alice stops her logins, and deleting bob makes his address unknown."""
    peer = peers.start("127.0.0.3")
    config = sender_config(nsd_port=nsd.port, smtp_port=peers.port).replace(
        'relay_networks = ["127.0.0.0/8"]', "relay_networks = []")
    server = tern_factory.serve(listeners=SUBMISSION_LISTENERS, config_extra=config)
    cfg = server.workdir / "tern.toml"

    with server.connect("mx") as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@client.example>", 250)
        c.expect("RCPT TO:<bob@example.test>", 554, "5.7.1")  # not local yet: relaying, refused

    tern_cli("domain", "add", "example.test", config=cfg)
    tern_cli("user", "add", "alice@example.test", "--name", "Alice", config=cfg, password="s3cret alice")
    tern_cli("user", "add", "bob@example.test", config=cfg, password="s3cret bob")
    tern_cli("alias", "add", "team@example.test", "alice@example.test", "bob@example.test", config=cfg)
    wait_for_log(server, "directory reloaded")
    time.sleep(1.2)  # the last change may have come after the first reload

    sub = server.listener("submission")
    with smtplib.SMTP(sub.host, sub.port, timeout=30) as client:
        client.starttls(context=unverified_context())
        client.login("alice@example.test", "s3cret alice")
        assert client.sendmail("alice@example.test", ["bob@example.test", "user@a.remote.test"],
                               message("alice via 587", sender="alice@example.test")) == {}
        # An alias that reaches alice is hers to send as.
        assert client.sendmail("team@example.test", ["bob@example.test"], message("as the team", sender="The Team <team@example.test>")) == {}
    subs = server.listener("submissions")
    with smtplib.SMTP_SSL(subs.host, subs.port, timeout=30, context=unverified_context()) as client:
        client.login("bob@example.test", "s3cret bob")
        assert client.sendmail("bob@example.test", ["team@example.test"], message("bob via 465", sender="bob@example.test")) == {}

    maildirs = server.data_dir / "mailboxes" / "example.test"
    bob = [p.read_bytes() for p in wait_for_files(maildirs / "bob", 3)]
    alice = [p.read_bytes() for p in wait_for_files(maildirs / "alice", 1)]
    assert sorted(m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in bob) == [
        b"alice via 587", b"as the team", b"bob via 465"]
    assert b"Subject: bob via 465" in alice[0] and b"ESMTPSA" in alice[0]
    [remote] = peer.wait_messages(1)
    assert remote["mail_from"] == "alice@example.test" and remote["rcpt_tos"] == ["user@a.remote.test"]
    assert "Subject: alice via 587" in remote["content"]

    tern_cli("user", "set", "alice@example.test", "--disable", config=cfg)
    tern_cli("user", "del", "bob@example.test", config=cfg)
    wait_for_log(server, "directory reloaded", count=2)
    time.sleep(1.2)
    with smtplib.SMTP_SSL(subs.host, subs.port, timeout=30, context=unverified_context()) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("alice@example.test", "s3cret alice")
        assert refused.value.smtp_code == 535
    with server.connect("mx") as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@client.example>", 250)
        c.expect("RCPT TO:<bob@example.test>", 550, "5.1.1")
        c.expect("RCPT TO:<alice@example.test>", 250)  # disabled: no login, but mail still arrives


def test_configuration_user_wins_over_the_database(tern_factory, tmp_path):
    """A [[user]] in the configuration and a database user of the same address: the
    configuration's password is the one that works, and `tern user show` says so."""
    hashed = subprocess.run([str(tern_bin()), "user", "hash"], input="from config\n", capture_output=True,
                            text=True, timeout=60).stdout.strip()
    assert hashed.startswith("SCRAM-SHA-256$65536:")
    server = tern_factory.serve(listeners=SUBMISSION_LISTENERS, config_extra=f"""
[mail]
domains = ["example.test"]

[[user]]
address = "carol@example.test"
password_hash = "{hashed}"
""")
    cfg = server.workdir / "tern.toml"
    tern_cli("domain", "add", "example.test", config=cfg)
    tern_cli("user", "add", "carol@example.test", config=cfg, password="from database")
    wait_for_log(server, "directory reloaded")
    shown = json.loads(tern_cli("user", "show", "carol@example.test", "--json", config=cfg).stdout)
    assert shown["source"] == "configuration" and shown["shadowed_database_entry"] is True
    with server.connect("submission") as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0carol@example.test\0from database").decode(), 535, "5.7.8")
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0carol@example.test\0from config").decode(), 235, "2.7.0")
