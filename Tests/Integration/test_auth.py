"""SMTP AUTH (RFC 4954) with real clients: in dev mode any credentials are taken (the
catcher's "accept any", even without TLS) and the message records the login (ESMTPA); the
submission listeners of serve mode want STARTTLS, then AUTH, before MAIL."""

from __future__ import annotations

import base64
import re
import smtplib
import ssl
import subprocess

import pytest

from ternlib import message, need_tool, split_received, unverified_context


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_dev_mode_takes_any_login_with_smtplib(tern, mechanism):
    """Python's smtplib logs in with PLAIN or LOGIN over cleartext; the catcher accepts and the
    Received header says ESMTPA."""
    with smtplib.SMTP(tern.host, tern.port, timeout=10) as client:
        client.ehlo("client.example")
        assert "PLAIN" in client.esmtp_features["auth"] and "LOGIN" in client.esmtp_features["auth"]
        client.user, client.password = "app-one", "whatever"
        code, text = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert code == 235 and text.startswith(b"2.7.0"), (code, text)
        refused = client.sendmail("app@client.example", ["someone@example.test"], message("logged in"))
        assert refused == {}
    [path] = tern.new_files()
    received, _ = split_received(path.read_bytes())
    assert re.search(rb"with\s+ESMTPA\s+id", received), received


def test_dev_mode_login_with_swaks(tern):
    """swaks --auth LOGIN, the way many app test suites configure their SMTP settings."""
    swaks = need_tool("swaks")
    run = subprocess.run([swaks, "--server", f"{tern.host}:{tern.port}", "--to", "x@example.test",
                          "--auth", "LOGIN", "--auth-user", "ci-bot", "--auth-password", "pw"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "235 2.7.0" in run.stdout


def test_dev_mode_refusals_leave_the_session_usable(tern):
    """Malformed AUTH input gets its RFC 4954 reply, never a crash; the session goes on."""
    with tern.connect() as c:
        c.ehlo()
        c.expect("AUTH PLAIN not*base64", 501, "5.5.2")
        c.expect("AUTH PLAIN " + base64.b64encode(b"no-nul-at-all").decode(), 501, "5.5.2")
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0user\0pass\0extra").decode(), 501, "5.5.2")
        c.expect("AUTH PLAIN " + base64.b64encode(b"boss\0user\0pass").decode(), 535, "5.7.8")
        c.expect("AUTH X-UNKNOWN", 504, "5.5.4")
        c.expect("AUTH LOGIN", 334)
        c.expect("*", 501, "5.0.0")
        c.expect("AUTH PLAIN", 334)
        c.send(b"A" * 13000 + b"\r\n")
        c.expect_reply(500, "5.5.6")
        c.expect("AUTH PLAIN " + "A" * 20000, 500)
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0us\r\ner\0pass").decode(), 501, "5.5.2")
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0user\0pass").decode(), 235, "2.7.0")
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0user\0pass").decode(), 503, "5.5.1")
        qid = c.send_message(message("after all that"))
    assert tern.stored(qid)


@pytest.fixture
def submission(tern_factory):
    """Serve mode with a submission listener (587 role) and a submissions one (465 role)."""
    return tern_factory.serve(listeners=[
        {"address": "127.0.0.1", "port": 0, "role": "mx"},
        {"address": "127.0.0.1", "port": 0, "role": "submission"},
        {"address": "127.0.0.1", "port": 0, "role": "submissions"},
    ])


def test_submission_wants_starttls_then_auth(submission):
    """RFC 6409 §4.3, RFC 8314: on 587 AUTH is neither offered nor accepted in cleartext (538),
    MAIL before STARTTLS gets 530; after STARTTLS AUTH is offered and MAIL before AUTH gets
    530 5.7.0. Without a user directory every login fails (535)."""
    listener = submission.listener("submission")
    with submission.connect("submission") as c:
        r = c.ehlo()
        assert "AUTH" not in r.text and "STARTTLS" in r.text
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0user\0pass").decode(), 538, "5.7.11")
        c.expect("MAIL FROM:<user@example.test>", 530, "5.7.0")
        c.starttls()
        r = c.ehlo()
        assert "AUTH PLAIN LOGIN" in r.text
        c.expect("MAIL FROM:<user@example.test>", 530, "5.7.0")
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0user\0pass").decode(), 535, "5.7.8")
    # smtplib sees the same through its own STARTTLS.
    with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
        client.starttls(context=unverified_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("user", "pass")
        assert refused.value.smtp_code == 535


def test_submissions_is_implicit_tls_with_auth(submission):
    """RFC 8314 §3.3: the 465 role speaks TLS from the first octet and offers AUTH at once."""
    listener = submission.listener("submissions")
    with smtplib.SMTP_SSL(listener.host, listener.port, timeout=10, context=unverified_context()) as client:
        code, features = client.ehlo("client.example")
        assert code == 250 and "AUTH PLAIN LOGIN" in features.decode()
        code, _ = client.mail("user@example.test")
        assert code == 530


def test_port_25_offers_no_auth(submission):
    """The mx role is for other servers: no AUTH there (502)."""
    with submission.connect("mx") as c:
        r = c.ehlo()
        assert "AUTH" not in r.text
        c.starttls()
        assert "AUTH" not in c.ehlo().text
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0user\0pass").decode(), 502, "5.5.1")
