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

from ternlib import ScramClient, SUBMISSION_LISTENERS, data_payload, message, need_tool, split_received, unverified_context, wait_for_files


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
    [path] = wait_for_files(tern.inbox_dir("app-one"), 1)
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


def test_dev_mode_keeps_one_inbox_per_login(tern_factory):
    """The catcher files each login's mail in that user's inbox, a Maildir++ folder of the
    catch-all Maildir (`.name`, with the maildirfolder marker); mail without a login stays in
    the default inbox. User names cannot escape: `.` and `/` are written %2E and %2F. After a
    restart the inboxes are found again."""
    server = tern_factory.dev()
    logins = ["app-one", "alice@example.test", "../../etc", "x" * 80, "Ünïcode"]
    for user in logins + [None]:
        with server.connect() as c:
            c.ehlo()
            if user is not None:
                c.expect("AUTH PLAIN " + base64.b64encode(b"\0" + user.encode() + b"\0pw").decode(), 235, "2.7.0")
            c.send_message(message(f"from {user}"), mail_from="app@client.example", rcpts=["someone@example.test"])
    for user in logins + [None]:
        [path] = wait_for_files(server.inbox_dir(user), 1)
        assert f"Subject: from {user}".encode() in path.read_bytes()
        if user is not None:
            assert (server.inbox_dir(user) / "maildirfolder").is_file()
    assert (server.maildir / ".alice@example%2Etest").is_dir()
    assert (server.maildir / ".%2E%2E%2F%2E%2E%2Fetc").is_dir()
    assert not (server.data_dir / "etc").exists() and not (server.maildir.parent / "etc").exists()
    # tmp new cur, the default inbox's UID list (the inboxes are mailboxes with UIDs, as IMAP
    # would read them), and one folder each
    entries = [entry.name for entry in server.maildir.iterdir()]
    assert {"tmp", "new", "cur", "tern-uidlist"} <= set(entries)
    assert len([name for name in entries if name.startswith(".")]) == len(logins)
    assert len(entries) == 4 + len(logins), entries

    server.stop()
    server.start()
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.login("app-one", "x")
        client.sendmail("app@client.example", ["someone@example.test"], message("again"))
    assert len(wait_for_files(server.inbox_dir("app-one"), 2)) == 2


def test_dev_mode_refusals_leave_the_session_usable(tern):
    """Malformed AUTH input gets its RFC 4954 reply, never a crash; the session goes on."""
    with tern.connect() as c:
        c.ehlo()
        c.expect("AUTH PLAIN not*base64", 501, "5.5.2")
        c.expect("AUTH PLAIN " + base64.b64encode(b"no-nul-at-all").decode(), 501, "5.5.2")
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0user\0pass\0extra").decode(), 501, "5.5.2")
        c.expect("AUTH PLAIN " + base64.b64encode(b"boss\0user\0pass").decode(), 535, "5.7.8")
        c.expect("AUTH PLAIN =", 501, "5.5.2")  # an empty initial response
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0\0pass").decode(), 501, "5.5.2")  # no authcid
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0user\0").decode(), 501, "5.5.2")  # no password
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
    return tern_factory.serve(listeners=SUBMISSION_LISTENERS)


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


# --------------------------------------------------------------------------------------------
# Accounts from the configuration file ([[user]]) on the submission listeners
# --------------------------------------------------------------------------------------------

ALICE = "Alice <alice@example.test>"


def password_hash(password: str) -> str:
    """`tern user hash`, reading the password from standard input."""
    from ternlib import tern_bin
    run = subprocess.run([str(tern_bin()), "user", "hash"], input=password + "\n", capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert password not in run.stdout and run.stdout.startswith("SCRAM-SHA-256$65536:")
    return run.stdout.strip()


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return password_hash("correct horse")


@pytest.fixture
def msa(tern_factory, alice_hash):
    """Serve mode for example.test with user alice (hash made by `tern user hash`), on mx,
    submission and submissions listeners."""
    return start_msa(tern_factory, alice_hash)


def start_msa(tern_factory, alice_hash, extra: str = "", listeners: list[dict] | None = None):
    return tern_factory.serve(
        listeners=listeners or SUBMISSION_LISTENERS,
        config_extra=f"""
[mail]
domains = ["example.test"]

[[mailbox]]
address = "bob@example.test"

[[user]]
address = "alice@example.test"
password_hash = "{alice_hash}"
send_as = ["sales@example.test"]
{extra}
""")


def mailbox_files(server, user: str, count: int) -> list:
    return wait_for_files(server.data_dir / "mailboxes" / "example.test" / user, count)


def test_user_sends_through_587_and_465(msa):
    """A [[user]] logs in with smtplib over 587 (STARTTLS) and 465 (implicit TLS) and sends to a
    local mailbox and to a remote domain: the local copy lands in bob's Maildir with ESMTPSA,
    the remote one waits in the queue for relay."""
    sub = msa.listener("submission")
    with smtplib.SMTP(sub.host, sub.port, timeout=30) as client:
        client.starttls(context=unverified_context())
        client.login("alice@example.test", "correct horse")
        assert client.sendmail("alice@example.test", ["bob@example.test", "carol@remote.test"],
                               message("via 587", sender=ALICE)) == {}
    subs = msa.listener("submissions")
    with smtplib.SMTP_SSL(subs.host, subs.port, timeout=30, context=unverified_context()) as client:
        client.login("ALICE@example.test", "correct horse")
        assert client.sendmail("alice+lists@example.test", ["bob@example.test"], message("via 465", sender=ALICE)) == {}
    files = mailbox_files(msa, "bob", 2)
    texts = [p.read_bytes() for p in files]
    assert all(re.search(rb"with\s+ESMTPSA\s+id", t) for t in texts), texts
    import json
    import time
    deadline = time.monotonic() + 10
    remote = []
    while time.monotonic() < deadline and not remote:
        records = [json.loads(p.read_text()) for p in (msa.data_dir / "spool" / "queue").glob("*.json")]
        remote = [d for r in records for d in r["deliveries"] if d["route"] == "remote"]
        time.sleep(0.1)
    assert [d["recipient"] for d in remote] == ["carol@remote.test"]


def test_user_may_only_send_as_own_addresses(msa):
    """RFC 6409 §8: an authenticated user sends as their own address, a granted one, or a +tag of
    those; anything else (another user, look-alikes) is refused with 553 5.7.1."""
    with msa.connect("submission") as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0correct horse").decode(), 235, "2.7.0")
        for sender in ["bob@example.test", "alice@[127.0.0.1]", "alicex@example.test", "alice@example.test.org"]:
            c.expect(f"MAIL FROM:<{sender}>", 553, "5.7.1")
        c.expect("MAIL FROM:<alice@example.test.>", 501, "5.1.7")  # not even an address
        for sender in ["Alice@Example.Test", "sales+q@example.test", ""]:
            c.expect(f"MAIL FROM:<{sender}>", 250, "2.1.0")
            c.expect("RSET", 250)


def test_wrong_password_is_slow_and_uniform(msa):
    """A wrong password and an unknown user get the same 535 5.7.8; each attempt after a failure
    waits before its password is even hashed, longer each time (the brute-force brake: 0.5 s, 1 s,
    2 s ...); the right password still works afterwards, after its wait (no lock-out), and no
    password reaches the log."""
    import time
    with msa.connect("submission") as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        delays = []
        for user, password in [(b"alice@example.test", b"Tr0ub4dor-1"), (b"nobody@example.test", b"Tr0ub4dor-2"),
                               (b"alice@example.test", b"Tr0ub4dor-3")]:
            started = time.monotonic()
            r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0" + user + b"\0" + password).decode())
            delays.append(time.monotonic() - started)
            assert r.is_(535, "5.7.8") and r.text.endswith("Authentication credentials invalid"), r
        assert delays[1] >= 0.45 and delays[2] >= 0.95, delays
        assert delays[1] - delays[0] >= 0.4, f"the first failure is not braked, the second is: {delays}"
        started = time.monotonic()
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0correct horse").decode(), 235, "2.7.0")
        assert time.monotonic() - started >= 1.9, "the brake applies to the next attempt, whatever its password"
    assert "Tr0ub4dor" not in msa.stderr_text() and "correct horse" not in msa.stderr_text()


def test_swaks_and_curl_submit(msa):
    """Other real clients: swaks --auth PLAIN with STARTTLS on 587; curl over implicit TLS on 465."""
    swaks = need_tool("swaks")
    sub = msa.listener("submission")
    run = subprocess.run([swaks, "--server", f"{sub.host}:{sub.port}", "-tls", "--auth", "PLAIN",
                          "--auth-user", "alice@example.test", "--auth-password", "correct horse",
                          "--from", "alice@example.test", "--to", "bob@example.test"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    curl = need_tool("curl")
    subs = msa.listener("submissions")
    run = subprocess.run([curl, "--silent", "--show-error", "--insecure", f"smtps://{subs.host}:{subs.port}",
                          "--user", "alice@example.test:correct horse", "--mail-from", "alice@example.test",
                          "--mail-rcpt", "bob@example.test", "--upload-file", "-"],
                         input=message("from curl", sender=ALICE).decode(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    mailbox_files(msa, "bob", 2)


def test_rate_limits_refuse_then_recover(tern_factory, alice_hash):
    """Per user and client address: past `rate_limits.messages` per window MAIL gets 450 4.7.1,
    past `recipients` RCPT gets 452 4.7.1; the session stays usable, and once the window has
    slid on, the user may send again."""
    import time
    server = start_msa(tern_factory, alice_hash, extra='[rate_limits]\nmessages = 2\nrecipients = 3\nwindow = "4s"')
    with server.connect("submission") as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.expect("AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0correct horse").decode(), 235, "2.7.0")
        started = time.monotonic()
        c.expect("MAIL FROM:<alice@example.test>", 250, "2.1.0")
        for n in range(3):
            c.expect(f"RCPT TO:<bob+{n}@example.test>", 250, "2.1.5")
        r = c.cmd("RCPT TO:<bob+3@example.test>")
        assert r.is_(452, "4.7.1") and "Rate limit" in r.text, r
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<alice@example.test>", 250, "2.1.0")
        c.expect("RSET", 250)
        r = c.cmd("MAIL FROM:<alice@example.test>")
        assert r.is_(450, "4.7.1") and "Rate limit" in r.text, r
        time.sleep(max(0.0, started + 4.2 - time.monotonic()))
        qid = c.send_message(message("after the window", sender=ALICE), mail_from="alice@example.test", rcpts=["bob@example.test"])
    assert qid


@pytest.mark.parametrize("role,tls", [("submission", "on\ntls_starttls on"), ("submissions", "on\ntls_starttls off")])
def test_msmtp_submits(msa, tmp_path, role, tls):
    """msmtp, a mail client's sendmail, submits over 587 (STARTTLS) and 465 (implicit TLS) with
    AUTH, the password read from a file as a real setup would."""
    msmtp = need_tool("msmtp")
    listener = msa.listener(role)
    password_file = tmp_path / "password"
    password_file.write_text("correct horse\n")
    config = tmp_path / "msmtprc"
    config.write_text(f"""defaults
tls {tls}
tls_certcheck off
auth on

account tern
host {listener.host}
port {listener.port}
from alice@example.test
user alice@example.test
passwordeval cat {password_file}
""")
    config.chmod(0o600)
    run = subprocess.run([msmtp, "--file", str(config), "--account", "tern", "bob@example.test"],
                         input=message(f"via msmtp on {role}", sender=ALICE).decode(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    [path] = mailbox_files(msa, "bob", 1)
    data = path.read_bytes()
    assert f"Subject: via msmtp on {role}".encode() in data
    assert re.search(rb"with\s+ESMTPSA\s+id", data)



# --------------------------------------------------------------------------------------------
# SCRAM-SHA-256 (RFC 5802, RFC 7677) with a client written from the RFCs
# --------------------------------------------------------------------------------------------

def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def scram_login(c, user: str, password: str, *, initial_response: bool = True, tamper: str | None = None):
    """Runs a SCRAM-SHA-256 exchange on the raw connection `c`; returns the final reply. The
    client checks the server's signature (mutual authentication): a server that does not know
    the user's ServerKey cannot produce it."""
    scram = ScramClient(user, password)
    if initial_response:
        r = c.cmd("AUTH SCRAM-SHA-256 " + scram.first())
    else:
        r = c.cmd("AUTH SCRAM-SHA-256")
        assert r.code == 334 and r.text == "", r
        r = c.cmd(scram.first())
    assert r.code == 334, r
    r = c.cmd(scram.final(r.text, tamper=tamper))
    if r.code != 334:
        return r, scram.fields
    assert scram.verifies(r.text), "the server's signature does not verify"
    return c.cmd(""), scram.fields


def tls_session(server, role: str):
    """A raw session on 587 after STARTTLS, or on 465 inside TLS from the first octet."""
    if role == "submissions":
        c = server.connect(role, greeting=False)
        c.wrap_tls()
        c.greeting = c.reply()
    else:
        c = server.connect(role)
        c.ehlo()
        c.starttls()
    return c


@pytest.mark.parametrize("role", ["submission", "submissions"])
def test_scram_sha_256_login_and_send(msa, role):
    """SCRAM-SHA-256 is offered after TLS; alice logs in (with and without an initial response),
    the server proves it knows her keys, and she sends as herself. The stored hash of `tern user
    hash` serves SCRAM with 65,536 iterations."""
    with tls_session(msa, role) as c:
        assert c.greeting.code == 220
        assert "AUTH PLAIN LOGIN SCRAM-SHA-256" in c.ehlo().text
        r, fields = scram_login(c, "alice@example.test", "correct horse", initial_response=(role == "submission"))
        assert r.is_(235, "2.7.0"), r
        assert fields["i"] == "65536"
        qid = c.send_message(message(f"scram via {role}", sender=ALICE), mail_from="alice@example.test", rcpts=["bob@example.test"])
        assert qid
    [path] = mailbox_files(msa, "bob", 1)
    assert re.search(rb"with\s+ESMTPSA\s+id", path.read_bytes())
    log = msa.stderr_text()
    assert "correct horse" not in log
    assert any("authenticated" in line and "sasl_method=SCRAM-SHA-256" in line and "alice@example.test" in line
               for line in log.splitlines()), log


def test_scram_refusals(msa):
    """A wrong password and an unknown user both fail at the proof (535 5.7.8; the next try is late), and look
    alike before it: a salt and the default cost, the unknown user's salt stable across
    attempts. A tampered nonce fails; malformed client messages get 501 5.5.2; `*` cancels;
    AUTH before STARTTLS is refused (538). The session stays usable and the right password works."""
    import time
    with msa.connect("submission") as c:
        c.ehlo()
        c.expect("AUTH SCRAM-SHA-256 " + b64("n,,n=alice@example.test,r=abc"), 538, "5.7.11")
        c.starttls()
        c.ehlo()
        r, _ = scram_login(c, "alice@example.test", "wrong horse")
        assert r.is_(535, "5.7.8"), r
        # The next exchange of this client waits for the brake before its server-first message.
        started = time.monotonic()
        r, unknown_1 = scram_login(c, "nobody@example.test", "x")
        assert r.is_(535, "5.7.8"), r
        assert time.monotonic() - started >= 0.45
        r, unknown_2 = scram_login(c, "nobody@example.test", "y")
        assert r.is_(535, "5.7.8"), r
        assert unknown_1["s"] == unknown_2["s"] and unknown_1["i"] == "65536"
        r, _ = scram_login(c, "alice@example.test", "correct horse", tamper="x")
        assert r.is_(535, "5.7.8"), r
        for first in ["p=tls-unique,,n=alice@example.test,r=abc", "n,,n=alice@example.test", "n,,r=abc",
                      "n,,m=x,n=alice@example.test,r=abc", "n,,n=al=ice,r=abc", "\0n,,n=a,r=b", ""]:
            c.expect("AUTH SCRAM-SHA-256 " + (b64(first) if first else "="), 501, "5.5.2")
        c.expect("AUTH SCRAM-SHA-256 " + b64("n,,n=alice@example.test,r=abc"), 334)
        c.expect("*", 501, "5.0.0")
        c.expect("AUTH SCRAM-SHA-256 " + b64("n,,n=alice@example.test,r=abc"), 334)
        c.expect(b64("c=biws,r=abc,p=" + b64(b"x" * 32)), 535, "5.7.8")
        r, _ = scram_login(c, "alice@example.test", "correct horse")
        assert r.is_(235, "2.7.0"), r


def test_scram_needs_a_scram_hash(tern_factory):
    """A hash from before SCRAM (PBKDF2, PHC format) still logs in with PLAIN, but not with SCRAM:
    its hash is SCRAM's SaltedPassword, a secret the server must never act on."""
    import hashlib
    salt = b"saltsaltsaltsalt"
    digest = hashlib.pbkdf2_hmac("sha256", b"old password", salt, 1000)
    unpadded = lambda data: base64.b64encode(data).decode().rstrip("=")
    legacy = f"$pbkdf2-sha256$i=1000${unpadded(salt)}${unpadded(digest)}"
    server = start_msa(tern_factory, legacy)
    with tls_session(server, "submission") as c:
        c.ehlo()
        r, _ = scram_login(c, "alice@example.test", "old password")
        assert r.is_(535, "5.7.8"), r
        c.expect("AUTH PLAIN " + b64(b"\0alice@example.test\0old password"), 235, "2.7.0")


# --------------------------------------------------------------------------------------------
# RFC 6409 §8: what submission checks and adds
# --------------------------------------------------------------------------------------------

def submit(c, content: bytes, mail_from: str = "alice@example.test", rcpts=("bob@example.test",)):
    c.mail_rcpt_data(mail_from, list(rcpts))
    c.send(data_payload(content))
    return c.reply()


def logged_in(server, role: str = "submission"):
    c = tls_session(server, role)
    c.ehlo()
    c.expect("AUTH PLAIN " + b64(b"\0alice@example.test\0correct horse"), 235, "2.7.0")
    return c


def test_submission_adds_message_id_and_date(msa):
    """§8.2, §8.3: a submitted message without Message-ID or Date gets them (the Message-ID
    names the queue ID and host); one that has them keeps its own, and nothing is doubled.
    Mail arriving on port 25 is left as it came."""
    bare = b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: bare\r\n\r\nhello\r\n"
    with logged_in(msa) as c:
        qid = submit(c, bare).qid
        own = submit(c, b"From: alice@example.test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                        b"Message-ID: <mine@client.example>\r\nSubject: own\r\n\r\nhello\r\n").qid
        headerless = submit(c, b"From: alice@example.test\r\n\r\njust a body\r\n").qid
    files = {p.read_bytes().split(b"Subject: ")[1].split(b"\r\n")[0] if b"Subject: " in p.read_bytes() else b"-": p.read_bytes()
             for p in mailbox_files(msa, "bob", 3)}
    added = files[b"bare"]
    header = added.split(b"\r\n\r\n")[0]
    assert f"Message-ID: <{qid}@{msa.hostname}>".encode() in header
    assert re.search(rb"\r\nDate: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n", header + b"\r\n"), header
    assert added.endswith(b"\r\n\r\nhello\r\n")
    kept = files[b"own"].split(b"\r\n\r\n")[0]
    assert kept.count(b"Message-ID:") == 1 and b"Message-ID: <mine@client.example>" in kept
    assert kept.count(b"Date:") == 1 and b"Date: Mon, 1 Jan 2024" in kept
    nobody = files[b"-"]
    assert f"Message-ID: <{headerless}@{msa.hostname}>".encode() in nobody and nobody.endswith(b"\r\n\r\njust a body\r\n")
    assert own
    with msa.connect("mx") as c:
        c.ehlo()
        c.send_message(bare, mail_from="x@client.example", rcpts=["bob@example.test"])
    [_, _, _, relayed] = sorted(mailbox_files(msa, "bob", 4), key=lambda p: p.stat().st_mtime)
    assert b"Message-ID:" not in relayed.read_bytes() and b"\r\nDate:" not in relayed.read_bytes()


def test_submission_checks_the_from_header(msa):
    """§8.1: From: and Sender: may name only addresses the user may send as. A forged From:
    (another user, a display name dressed as alice, a second mailbox, a Sender:, no From: at
    all) is refused at the end of data with 550 5.7.1 and nothing is stored; the session goes
    on, and her own addresses (any case, +tag, a granted one, inside a group) pass."""
    forged = [
        b"From: bob@example.test\r\n",
        b"From: \"alice@example.test\" <bob@example.test>\r\n",
        b"From: alice@example.test, mallory@evil.test\r\n",
        b"From: <alice@example.test> mallory@evil.test\r\n",
        b"From: alice@example.test\r\nSender: bob@example.test\r\n",
        b"From: alice@example.test\r\nFROM: bob@example.test\r\n",
        b"From: Alice\r\n <bob@example.test>\r\n",
        b"Subject: no From at all\r\n",
    ]
    allowed = [
        b"From: Alice <ALICE@Example.Test>\r\n",
        b"From: \"Smith, Alice\" <alice+news@example.test> (work)\r\n",
        b"From: Sales <sales@example.test>\r\nSender: alice@example.test\r\n",
        b"From: Us: alice@example.test, sales@example.test;\r\n",
    ]
    with logged_in(msa) as c:
        for header in forged:
            r = submit(c, header + b"Subject: forged\r\n\r\nbody\r\n")
            assert r.is_(550, "5.7.1"), (header, r)
        for header in allowed:
            r = submit(c, header + b"Subject: fine\r\n\r\nbody\r\n")
            assert r.is_(250, "2.0.0"), (header, r)
    files = mailbox_files(msa, "bob", len(allowed))
    assert len(files) == len(allowed)
    assert not any(b"forged" in p.read_bytes() for p in files)


# hostile-inputs 48: what a mail client would show as the sender, each a way past a checker
# that reads headers differently (issue 14, item 2).
HOSTILE_ORIGINATORS = [
    # The forms found: CFWS inside the address, the obsolete `From :`, two addresses in one
    # mailbox, a stranger first in a list.
    b"From: Victim <victim @other.example>\r\n",
    b"From: Victim <victim@ other.example>\r\n",
    b"From : Victim <victim@other.example>\r\n",
    b"From: <victim@other.example> <alice@example.test>\r\n",
    b"From: victim@other.example, alice@example.test\r\n",
    # Their neighbours.
    b"From\t: Victim <victim@other.example>\r\n",
    b"From: alice@example.test, victim@other.example\r\n",
    b"From: Victim <victim\r\n @other.example>\r\n",
    b"From: victim(comment)@other.example\r\n",
    b"From: Alice <victim@(comment)other.example>\r\n",
    b"From: \"victim\"@other.example\r\n",
    b"From: Friends: alice@example.test, victim@other.example;\r\n",
    b"From: undisclosed-recipients:;\r\n",
    b"From: <@example.test:victim@other.example>\r\n",
    b"From: =?utf-8?q?alice=40example.test?=\r\n",
    b"From: =?utf-8?q?victim=40other.example?= <alice@example.test>\r\n",
    b"From: alice@example.test (Victim <victim@other.example>)\r\n",
    b"From: alice@example.test.\r\n",
    b"From: alice@[127.0.0.1]\r\n",
    b"From: Alice\r\n",
    b"From:\r\n",
    b"From: alice@example.test\r\nFrom: sales@example.test\r\n",
    b"From: alice@example.test\r\nFrom : victim@other.example\r\n",
    b"From: alice@example.test\r\nSender: Victim <victim@other.example>\r\n",
    b"Sender: alice@example.test\r\n",
    b"Subject: no From\r\n",
]

# Her own, written the ways clients write them: these keep working.
LEGITIMATE_ORIGINATORS = [
    b"From: Alice <alice@example.test>\r\n",
    b"From: alice@example.test (Alice)\r\n",
    b"From: alice@example.test\r\n",
    b"From: Sales Team <sales@example.test>\r\n",
    b"From: =?utf-8?q?Al=C3=AFce?= <alice+tag@example.test>\r\n",
    b"From : Alice <alice@example.test>\r\n",
    b"From: Alice <alice@example.test>\r\nFROM: alice@Example.Test\r\n",
    b"From: Alice\r\n <alice@example.test>\r\n",
]


@pytest.mark.parametrize("role", ["submission", "submissions"])
def test_submission_refuses_what_a_client_would_show_as_someone_else(msa, role):
    """Issue 14 item 2, hostile-inputs 48: logged in as alice on 587 and on 465, every From:/
    Sender: that a mail client would show as someone else, or that cannot be read as a client
    reads it (no From:, repeated and different, unparseable), gets 550 5.7.1 and nothing is
    stored; the session goes on (a new one every 8 refusals, below the error limit), and her
    own forms still get 250."""
    for start in range(0, len(HOSTILE_ORIGINATORS), 8):
        with logged_in(msa, role) as c:
            for header in HOSTILE_ORIGINATORS[start:start + 8]:
                r = submit(c, header + b"Subject: hostile\r\n\r\nbody\r\n")
                assert r.is_(550, "5.7.1"), (header, r)
    with logged_in(msa, role) as c:
        for header in LEGITIMATE_ORIGINATORS:
            r = submit(c, header + b"Subject: fine\r\n\r\nbody\r\n")
            assert r.is_(250, "2.0.0"), (header, r)
    files = mailbox_files(msa, "bob", len(LEGITIMATE_ORIGINATORS))
    assert len(files) == len(LEGITIMATE_ORIGINATORS)
    assert not any(b"Subject: hostile" in p.read_bytes() for p in files)
    assert "submitted message refused" in msa.stderr_text()


def test_submission_reads_bdat_headers_as_clients_do(msa):
    """The same check on a message sent with BDAT (RFC 3030), which may carry a bare CR: a
    line after it that a lenient reader takes for a From: field is refused, as is one whose
    name hides a control octet."""
    hostile = [
        b"From: alice@example.test\r\nX-Junk: a\rFrom: victim@other.example\r\n",
        b"From: alice@example.test\r\nFr\x01om: victim@other.example\r\n",
    ]
    with logged_in(msa) as c:
        for header in hostile:
            content = header + b"Subject: hostile\r\n\r\nbody\r\n"
            c.expect("MAIL FROM:<alice@example.test>", 250, "2.1.0")
            c.expect("RCPT TO:<bob@example.test>", 250, "2.1.5")
            c.send(f"BDAT {len(content)} LAST\r\n".encode() + content)
            r = c.reply()
            assert r.is_(550, "5.7.1") and "unreadable" in r.text, (header, r)
        content = b"From: Alice <alice@example.test>\r\nSubject: fine\r\n\r\nbody\r\n"
        c.expect("MAIL FROM:<alice@example.test>", 250, "2.1.0")
        c.expect("RCPT TO:<bob@example.test>", 250, "2.1.5")
        c.send(f"BDAT {len(content)} LAST\r\n".encode() + content)
        assert c.reply().is_(250, "2.0.0")
    [path] = mailbox_files(msa, "bob", 1)
    assert b"Subject: fine" in path.read_bytes()


def test_submission_refuses_an_endless_header(msa):
    """A header section longer than 256 KiB cannot be checked: 552 5.3.4, the session goes on."""
    huge = b"From: alice@example.test\r\n" + b"X-Filler: " + b"a" * 980 + b"\r\n"
    content = huge + b"".join(b"X-Filler: " + b"b" * 980 + b"\r\n" for _ in range(270)) + b"\r\nbody\r\n"
    with logged_in(msa, "submissions") as c:
        r = submit(c, content)
        assert r.is_(552, "5.3.4"), r
        assert submit(c, message("small", sender=ALICE)).is_(250, "2.0.0")


def test_rate_limit_counts_survive_a_restart(tern_factory, alice_hash):
    """The counts are saved when the server stops (and every 30 s) and loaded at start: a
    restart does not hand alice a fresh allowance."""
    server = start_msa(tern_factory, alice_hash, extra='[rate_limits]\nmessages = 2\nwindow = "1h"')
    with logged_in(server) as c:
        for n in range(2):
            assert submit(c, message(f"n{n}", sender=ALICE)).is_(250, "2.0.0")
        c.expect("MAIL FROM:<alice@example.test>", 450, "4.7.1")
    assert server.stop() == 0
    saved = server.data_dir / "rate-limits.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert "user:alice@example.test" in saved.read_text()
    server.start()
    with logged_in(server) as c:
        c.expect("MAIL FROM:<alice@example.test>", 450, "4.7.1")


def test_cleartext_auth_on_loopback_for_development(tern_factory, alice_hash):
    """`cleartext_auth = true` on a loopback submission listener (development only; the loader
    refuses it elsewhere) offers AUTH and takes mail without TLS; `[auth]` sets the brake."""
    server = start_msa(
        tern_factory, alice_hash, listeners=[{"address": "127.0.0.1", "port": 0, "role": "submission", "cleartext_auth": True}],
        extra='[auth]\nfailure_delay = "100ms"\nmax_failure_delay = "200ms"')
    import time
    with server.connect("submission") as c:
        assert "AUTH PLAIN LOGIN SCRAM-SHA-256" in c.ehlo().text
        delays = []
        for _ in range(4):
            started = time.monotonic()
            c.expect("AUTH PLAIN " + b64(b"\0alice@example.test\0wrong"), 535, "5.7.8")
            delays.append(time.monotonic() - started)
        # The second, third and fourth attempts wait the configured 100 ms, 200 ms and 200 ms
        # before their hash (the 200 ms ceiling holds); the default brake would make the fourth
        # wait 2 s. Each also includes the password hash.
        assert delays[1] >= 0.09 and delays[2] >= 0.19 and delays[3] >= 0.19, delays
        assert delays[3] < 1.9, delays
        c.expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
        c.expect("AUTH PLAIN " + b64(b"\0alice@example.test\0correct horse"), 235, "2.7.0")
        assert submit(c, message("in clear on loopback", sender=ALICE)).is_(250, "2.0.0")
    [path] = mailbox_files(server, "bob", 1)
    assert re.search(rb"with\s+ESMTPA\s+id", path.read_bytes())
