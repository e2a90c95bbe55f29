"""POP3 (RFC 1939, RFC 2449, RFC 2595, RFC 5034) against the real binary: Python's poplib for
every command, the dev catcher's inboxes read by any login, serve mode's accounts (STLS before
USER, implicit TLS on pop3s), POP3 and IMAP on one mailbox, one POP3 session per maildrop,
hostile input, and what a crash between DELE and QUIT (or right after QUIT's +OK) leaves."""

from __future__ import annotations

import base64
import imaplib
import os
import poplib
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path

from test_directory import tern_cli
from ternlib import ScramClient, message, need_tool, unverified_context

PASSWORD = "s3cret alice"
POP3_LISTENERS = [
    {"address": "127.0.0.1", "port": 0, "role": "mx"},
    {"address": "127.0.0.1", "port": 0, "role": "imaps"},
    {"address": "127.0.0.1", "port": 0, "role": "pop3"},
    {"address": "127.0.0.1", "port": 0, "role": "pop3s"},
]


def send(server, subject: str, to: str, body: str = "Hello over POP3.\r\n") -> None:
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        client.sendmail("app@example.test", [to], message(subject, body=body))


def pop3(server, role: str = "pop3") -> poplib.POP3:
    listener = server.listener(role)
    if role == "pop3s":
        return poplib.POP3_SSL(listener.host, listener.port, context=unverified_context(), timeout=30)
    return poplib.POP3(listener.host, listener.port, timeout=30)


def maildir(server) -> Path:
    return server.data_dir / "mailboxes" / "example.test" / "alice"


def stored(server) -> list[Path]:
    box = maildir(server)
    return [p for d in ("new", "cur") if (box / d).is_dir() for p in (box / d).iterdir()]


def wait_stored(server, count: int) -> None:
    deadline = time.monotonic() + 15
    while len(stored(server)) < count:
        assert time.monotonic() < deadline, f"{count} messages were not delivered within 15 s"
        time.sleep(0.1)


def serve_with_alice(tern_factory, listeners=None):
    """Serve mode (mx, imaps, pop3, pop3s) with the account alice@example.test."""
    server = tern_factory.serve(listeners=listeners or POP3_LISTENERS)
    cfg = server.workdir / "tern.toml"
    tern_cli("domain", "add", "example.test", config=cfg)
    tern_cli("user", "add", "alice@example.test", config=cfg, password=PASSWORD)
    deadline = time.monotonic() + 15
    while True:  # the directory reloads within a few seconds
        p = pop3(server, "pop3s")
        try:
            p.user("alice@example.test")
            p.pass_(PASSWORD)
            p.quit()
            return server
        except poplib.error_proto:
            p.close()
            assert time.monotonic() < deadline, "the new account never logged in"
            time.sleep(0.3)


def login(server, role: str = "pop3s") -> poplib.POP3:
    p = pop3(server, role)
    if role == "pop3":
        p.stls(context=unverified_context())
    p.user("alice@example.test")
    p.pass_(PASSWORD)
    return p


def test_dev_catcher_inbox_over_pop3(tern):
    """`tern dev` serves POP3 on loopback: any credentials, the login names the catcher inbox;
    every command of RFC 1939 answers as it should, and QUIT deletes what DELE marked."""
    with smtplib.SMTP(tern.host, tern.port, timeout=30) as client:
        client.login("shop", "any password")
        for n in range(3):
            client.sendmail("app@example.test", ["someone@example.test"],
                            message(f"order {n}", body=".starts with a dot\r\nline two\r\nline three\r\n"))
    p = pop3(tern)
    assert p.getwelcome().startswith(b"+OK")
    capabilities = p.capa()
    for name in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE", "IMPLEMENTATION"):
        assert name in capabilities, capabilities
    assert capabilities["SASL"] == ["PLAIN"]
    p.user("shop")
    assert p.pass_("anything").startswith(b"+OK")
    deadline = time.monotonic() + 10
    while p.stat()[0] < 3:  # the catcher files each message as it commits; the listing is fixed per session
        assert time.monotonic() < deadline
        p.quit()
        p = pop3(tern)
        p.user("shop")
        p.pass_("anything")
    count, octets = p.stat()
    assert count == 3
    listing = p.list()[1]
    assert len(listing) == 3 and sum(int(line.split()[1]) for line in listing) == octets
    uids = [line.split()[1] for line in p.uidl()[1]]
    assert len(set(uids)) == 3 and all(uid.isdigit() for uid in uids)
    assert p.uidl(2).split()[2] == uids[1]
    response, lines, size = p.retr(1)
    assert response.startswith(b"+OK") and b"Subject: order 0" in lines
    # poplib undoes the byte-stuffing: the line that starts with a dot comes back as it was.
    assert b".starts with a dot" in lines
    assert size >= int(listing[0].split()[1])
    header = p.top(2, 0)[1]
    assert b"Subject: order 1" in header and header[-1] == b"" and b"line two" not in header
    one = p.top(2, 1)[1]
    assert one[-1] == b".starts with a dot"
    assert p.dele(1).startswith(b"+OK")
    assert p.stat()[0] == 2
    try:
        p.retr(1)
        raise AssertionError("a deleted message was retrieved")
    except poplib.error_proto as error:
        assert b"No such message" in error.args[0]
    assert p.rset().startswith(b"+OK")
    assert p.stat()[0] == 3
    p.dele(1)
    p.dele(3)
    assert p.noop().startswith(b"+OK")
    assert p.quit().startswith(b"+OK")
    again = pop3(tern)
    again.user("shop")
    again.pass_("x")
    assert again.stat()[0] == 1
    assert [line.split()[1] for line in again.uidl()[1]] == [uids[1]]
    again.quit()
    # Another login is another inbox.
    other = pop3(tern)
    other.user("someone-else")
    other.pass_("x")
    assert other.stat() == (0, 0)
    other.quit()


def test_serve_mode_stls_pop3s_and_auth(tern_factory):
    """Accounts log in only over TLS (STLS on pop3, implicit on pop3s), with USER/PASS, AUTH
    PLAIN and AUTH SCRAM-SHA-256 (curl's SASL); a wrong password is -ERR [AUTH]."""
    server = serve_with_alice(tern_factory)
    send(server, "to alice", "alice@example.test")
    wait_stored(server, 1)
    plain = pop3(server)
    capabilities = plain.capa()
    assert "STLS" in capabilities and "USER" not in capabilities and "SASL" not in capabilities
    try:
        plain.user("alice@example.test")
        raise AssertionError("USER was accepted before STLS")
    except poplib.error_proto as error:
        assert error.args[0].startswith(b"-ERR [AUTH]")
    plain.stls(context=unverified_context())
    capabilities = plain.capa()
    assert "STLS" not in capabilities and "USER" in capabilities and capabilities["SASL"] == ["PLAIN", "SCRAM-SHA-256"]
    plain.user("alice@example.test")
    try:
        plain.pass_("wrong")
        raise AssertionError("a wrong password logged in")
    except poplib.error_proto as error:
        assert error.args[0].startswith(b"-ERR [AUTH]")
    plain.user("alice@example.test")
    plain.pass_(PASSWORD)
    assert plain.stat()[0] == 1
    plain.quit()

    implicit = pop3(server, "pop3s")
    token = base64.b64encode(b"\0alice@example.test\0" + PASSWORD.encode()).decode()
    assert implicit._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK")
    assert b"Subject: to alice" in b"\n".join(implicit.retr(1)[1])
    implicit.quit()

    # curl over pop3s (USER/PASS) and pop3 with STLS required.
    curl = need_tool("curl")
    listener = server.listener("pop3s")
    got = subprocess.run([curl, "-sS", "-k", "--user", f"alice@example.test:{PASSWORD}",
                          f"pop3s://{listener.host}:{listener.port}/1"], capture_output=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert b"Subject: to alice" in got.stdout
    got = subprocess.run([curl, "-sS", "-k", "--ssl-reqd", "--user", f"alice@example.test:{PASSWORD}",
                          f"pop3://{server.listener('pop3').host}:{server.listener('pop3').port}/"],
                         capture_output=True, timeout=60)
    assert got.returncode == 0 and got.stdout.split()[0] == b"1", (got.stdout, got.stderr)
    # SCRAM-SHA-256 (RFC 5034's exchange: "+ " challenges, the server's signature, then +OK).
    scram_session = pop3(server, "pop3s")
    scram = ScramClient("alice@example.test", PASSWORD)
    challenge = scram_session._shortcmd("AUTH SCRAM-SHA-256 " + scram.first())
    assert challenge.startswith(b"+ "), challenge
    server_final = scram_session._shortcmd(scram.final(challenge[2:].decode()))
    assert server_final.startswith(b"+ ") and scram.verifies(server_final[2:].decode()), server_final
    assert scram_session._shortcmd("").startswith(b"+OK")
    assert scram_session.stat()[0] == 1
    scram_session.quit()

    # openssl s_client -starttls pop3: CAPA, then STLS, then the commands over TLS.
    openssl = need_tool("openssl")
    pop = server.listener("pop3")
    commands = f"USER alice@example.test\r\nPASS {PASSWORD}\r\nSTAT\r\nQUIT\r\n".encode()
    run = subprocess.run([openssl, "s_client", "-connect", f"{pop.host}:{pop.port}", "-quiet", "-verify_quiet",
                          "-starttls", "pop3"], input=commands, capture_output=True, timeout=60)
    out = run.stdout.decode(errors="replace")
    assert "+OK 1 " in out and "+OK Bye" in out, out


def test_pop3_and_imap_share_the_mailbox(tern_factory):
    """UIDL is the IMAP UID; a POP3 deletion reaches an IMAP session as EXPUNGE; a second POP3
    session on the maildrop gets [IN-USE] while IMAP goes on; mail that arrives during a session
    waits for the next."""
    server = serve_with_alice(tern_factory)
    for n in range(3):
        send(server, f"shared {n}", "alice@example.test")
    wait_stored(server, 3)
    listener = server.listener("imaps")
    m = imaplib.IMAP4_SSL(listener.host, listener.port, ssl_context=unverified_context(), timeout=30)
    m.login("alice@example.test", PASSWORD)
    m.select("INBOX")
    imap_uids = m.uid("SEARCH", "ALL")[1][0].split()
    p = login(server)
    assert [line.split()[1] for line in p.uidl()[1]] == imap_uids
    # Out of order, against the read-ahead (RETR opens the messages after the one asked for).
    for number in (2, 3, 1, 2):
        assert f"Subject: shared {number - 1}".encode() in p.retr(number)[1]
    # One POP3 session per maildrop.
    second = pop3(server, "pop3s")
    second.user("alice@example.test")
    try:
        second.pass_(PASSWORD)
        raise AssertionError("a second POP3 session opened the locked maildrop")
    except poplib.error_proto as error:
        assert error.args[0].startswith(b"-ERR [IN-USE]"), error
    second.close()
    # A message delivered now is not in this session's listing.
    send(server, "arrived later", "alice@example.test")
    wait_stored(server, 4)
    assert p.stat()[0] == 3
    p.dele(2)
    assert p.quit().startswith(b"+OK")
    m.noop()
    expunged = m.untagged_responses.get("EXPUNGE", [])
    assert expunged == [b"2"], m.untagged_responses
    assert m.uid("SEARCH", "ALL")[1][0].split() == [imap_uids[0], imap_uids[2], m.uid("SEARCH", "ALL")[1][0].split()[-1]]
    m.logout()
    again = login(server)
    assert again.stat()[0] == 3
    again.quit()


def raw_session(listener, lines: list[bytes], tls: bool = False) -> list[bytes]:
    """Sends each line and reads one reply line (or a multi-line answer) for it."""
    sock = socket.create_connection((listener.host, listener.port), timeout=30)
    if tls:
        sock = unverified_context().wrap_socket(sock)
    f = sock.makefile("rb")
    replies = [f.readline()]
    for line in lines:
        sock.sendall(line)
        replies.append(f.readline())
    sock.close()
    return replies


def test_hostile_pop3_input_keeps_the_server_up(tern):
    """RFC 1939's numbers from outside, NUL octets, broken base64, a 100 KB line, and a command
    pipelined behind STLS: each gets its -ERR, and the server goes on."""
    listener = tern.listener("pop3")
    replies = raw_session(listener, [
        b"USER hostile\r\n", b"PASS x\r\n", b"RETR 99999999999999999999\r\n", b"TOP 1 -1\r\n", b"LIST 0\r\n",
        b"DELE 4294967296\r\n", b"NO\x00OP\r\n", b"UIDL 1 2\r\n", b"BOGUS\r\n", b"QUIT\r\n",
    ])
    assert replies[0].startswith(b"+OK") and replies[2].startswith(b"+OK")
    assert replies[3] == b"-ERR No such message\r\n"
    assert replies[4] == b"-ERR Invalid arguments to TOP\r\n"
    assert replies[5] == b"-ERR No such message\r\n"
    assert replies[6] == b"-ERR No such message\r\n"
    assert replies[7] == b"-ERR Invalid character in command\r\n"
    assert replies[8] == b"-ERR Invalid arguments to UIDL\r\n"
    assert replies[9] == b"-ERR Unknown command\r\n"
    assert replies[10].startswith(b"+OK")
    auth = raw_session(listener, [b"AUTH PLAIN not*base64\r\n", b"AUTH PLAIN\r\n", b"%%%\r\n", b"QUIT\r\n"])
    assert auth[1] == b"-ERR Invalid base64 in the initial response\r\n"
    assert auth[2] == b"+ \r\n" and auth[3] == b"-ERR Invalid base64 in the response\r\n"
    sock = socket.create_connection((listener.host, listener.port), timeout=30)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"USER " + b"A" * 100_000 + b"\r\n")
    assert f.readline() == b"-ERR Line too long\r\n"
    try:  # and the connection is closed (a reset, when the rest of the line is still unread)
        assert f.readline() == b""
    except ConnectionResetError:
        pass
    sock.close()
    # The process is up: a new session still works.
    p = pop3(tern)
    p.user("hostile")
    p.pass_("x")
    p.quit()


def test_stls_discards_pipelined_plaintext(tern_factory):
    """RFC 2595 §4: a command sent in plaintext behind STLS is not run after the handshake."""
    server = serve_with_alice(tern_factory)
    pop = server.listener("pop3")
    sock = socket.create_connection((pop.host, pop.port), timeout=30)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"STLS\r\nUSER injected@example.test\r\n")
    assert f.readline().startswith(b"+OK")
    tls = unverified_context().wrap_socket(sock, server_hostname="localhost")
    g = tls.makefile("rb")
    tls.sendall(f"PASS {PASSWORD}\r\n".encode())
    assert g.readline() == b"-ERR USER first\r\n"
    tls.close()


def test_kill_between_dele_and_quit_deletes_nothing_and_after_quit_everything(tern_factory):
    """kill -9 after DELE, before QUIT: every message is still there after a restart. kill -9
    right after QUIT's +OK: the deleted messages are gone for good."""
    server = serve_with_alice(tern_factory)
    for n in range(3):
        send(server, f"crash {n}", "alice@example.test")
    wait_stored(server, 3)
    p = login(server)
    p.dele(1)
    p.dele(2)
    server.kill()
    assert len(stored(server)) == 3
    server.start(wait_ready=True)
    p = login(server)
    assert p.stat()[0] == 3
    p.dele(1)
    p.dele(3)
    assert p.quit().startswith(b"+OK")
    server.kill()
    assert len(stored(server)) == 1
    server.start(wait_ready=True)
    p = login(server)
    assert p.stat()[0] == 1 and b"Subject: crash 1" in b"\n".join(p.retr(1)[1])
    p.quit()


def test_fetchmail_and_getmail_download_and_delete(tern_factory, tmp_path):
    """fetchmail (into an MDA that writes a Maildir) and getmail6 (into its own Maildir
    destination) download over TLS and delete: the server's Maildir is empty afterwards."""
    server = serve_with_alice(tern_factory)
    for n in range(3):
        send(server, f"fetchmail {n}", "alice@example.test")
    wait_stored(server, 3)
    fetchmail = need_tool("fetchmail")
    pop = server.listener("pop3")
    target = tmp_path / "fetched"
    for sub in ("new", "cur", "tmp"):
        (target / sub).mkdir(parents=True)
    mda = tmp_path / "mda.sh"
    mda.write_text(f'#!/bin/sh\nf="{target}/tmp/$$.$(date +%s%N)"\ncat > "$f" && mv "$f" "{target}/new/"\n')
    mda.chmod(0o755)
    rc = tmp_path / "fetchmailrc"
    rc.write_text(f'poll 127.0.0.1 service {pop.port} protocol pop3 auth password\n'
                  f'  user "alice@example.test" password "{PASSWORD}"\n'
                  f'  sslproto "tls1.2+" no sslcertck nokeep mda "{mda}"\n')
    rc.chmod(0o600)
    run = subprocess.run([fetchmail, "-f", str(rc), "--nodetach", "--nosyslog", "-v"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stdout + run.stderr
    fetched = sorted((target / "new").iterdir())
    assert len(fetched) == 3 and all(b"Subject: fetchmail" in f.read_bytes() for f in fetched)
    assert stored(server) == []

    for n in range(2):
        send(server, f"getmail {n}", "alice@example.test")
    wait_stored(server, 2)
    getmail = need_tool("getmail")
    destination = tmp_path / "getmail-maildir"
    for sub in ("new", "cur", "tmp"):
        (destination / sub).mkdir(parents=True)
    # getmail refuses to deliver as root: it delivers as nobody then, into a Maildir nobody may write.
    deliver_as = ""
    if os.getuid() == 0:
        deliver_as = "user = nobody\n"
        subprocess.run(["chmod", "-R", "a+rwX", str(destination)], check=True)
        for parent in destination.parents:
            parent.chmod(parent.stat().st_mode | 0o111)
    config_dir = tmp_path / "getmail"
    config_dir.mkdir()
    pops = server.listener("pop3s")
    (config_dir / "getmailrc").write_text(
        "[retriever]\ntype = SimplePOP3SSLRetriever\n"
        f"server = 127.0.0.1\nport = {pops.port}\nusername = alice@example.test\npassword = {PASSWORD}\n"
        "\n[destination]\ntype = Maildir\n"
        f"path = {destination}/\n{deliver_as}\n[options]\ndelete = true\nverbose = 0\n")
    run = subprocess.run([getmail, "--getmaildir", str(config_dir), "--rcfile", "getmailrc"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    got = sorted((destination / "new").iterdir())
    assert len(got) == 2 and all(b"Subject: getmail" in f.read_bytes() for f in got)
    assert stored(server) == []
