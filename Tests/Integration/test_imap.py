"""IMAP (RFC 9051 / RFC 3501) against the real binary with Python's imaplib: the dev catcher's
inbox read by any login, serve mode's accounts with their Maildir++ folders, TLS rules (no login
before STARTTLS, implicit TLS on imaps), IDLE seeing an SMTP delivery, two sessions on one
mailbox, and the Maildir itself (flags in file names, as mutt and Dovecot read them)."""

from __future__ import annotations

import imaplib
import json
import mailbox
import os
import subprocess
import smtplib
import socket
import ssl
import threading
import time
import zlib
from pathlib import Path

from test_directory import tern_cli
from ternlib import message, tern_bin, unverified_context

IMAP_LISTENERS = [
    {"address": "127.0.0.1", "port": 0, "role": "mx"},
    {"address": "127.0.0.1", "port": 0, "role": "imap"},
    {"address": "127.0.0.1", "port": 0, "role": "imaps"},
]


def send(server, subject: str, login: str | None = None, to: str = "someone@example.test") -> None:
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        if login:
            client.login(login, "any password")
        client.sendmail("app@example.test", [to], message(subject))


def imap(server, role: str = "imap") -> imaplib.IMAP4:
    listener = server.listener(role)
    if role == "imaps":
        return imaplib.IMAP4_SSL(listener.host, listener.port, ssl_context=unverified_context(), timeout=30)
    return imaplib.IMAP4(listener.host, listener.port, timeout=30)


PASSWORD = "s3cret alice"


def serve_with_alice(tern_factory, limits: dict | None = None, quota: int | None = None, config_extra: str = ""):
    """A serve-mode server (mx, imap, imaps) with the account alice@example.test."""
    server = tern_factory.serve(listeners=IMAP_LISTENERS, limits=limits, config_extra=config_extra)
    cfg = server.workdir / "tern.toml"
    tern_cli("domain", "add", "example.test", config=cfg)
    tern_cli("user", "add", "alice@example.test", *(["--quota", str(quota)] if quota else []), config=cfg,
             password=PASSWORD)
    deadline = time.monotonic() + 15
    while True:  # the directory reloads within a few seconds
        m = imap(server, "imaps")
        try:
            m.login("alice@example.test", PASSWORD)
            m.logout()
            return server
        except imaplib.IMAP4.error:
            m.shutdown()
            assert time.monotonic() < deadline, "the new account never logged in"
            time.sleep(0.3)


def alice_maildir(server) -> Path:
    return server.data_dir / "mailboxes" / "example.test" / "alice"


def wait_delivered(server, count: int) -> None:
    inbox = alice_maildir(server)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = sum(len(os.listdir(inbox / d)) for d in ("new", "cur") if (inbox / d).is_dir())
        if found >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} messages were not delivered to alice within 15 s")


def transcript(m: imaplib.IMAP4, command: str) -> list[bytes]:
    """Sends one tagged command on an imaplib connection; returns every line up to the tagged one."""
    tag = m._new_tag().decode()
    m.send(f"{tag} {command}\r\n".encode())
    lines = []
    while True:
        line = m.readline()
        lines.append(line)
        if line.startswith(tag.encode() + b" "):
            return lines


def test_dev_catcher_inbox_over_imap(tern):
    """Any login reads the catcher inbox its name selects: SELECT, FETCH of every kind, SEARCH,
    STORE, APPEND, EXPUNGE; BODY[] marks the message seen, BODY.PEEK[] does not."""
    send(tern, "for alice", login="alice")
    send(tern, "second for alice", login="alice")
    send(tern, "for the default inbox")
    m = imap(tern)
    assert "AUTH=PLAIN" in m.capabilities and "IMAP4REV2" in m.capabilities
    typ, _ = m.login("alice", "whatever")
    assert typ == "OK"
    typ, data = m.select("INBOX")
    assert (typ, data) == ("OK", [b"2"])
    typ, data = m.fetch("1:*", "(UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    subjects = [part[1] for part in data if isinstance(part, tuple)]
    assert subjects == [b"Subject: for alice\r\n\r\n", b"Subject: second for alice\r\n\r\n"]
    assert b'"for alice"' in data[0][0] and b"FLAGS (\\Recent)" in data[0][0], "imaplib speaks IMAP4rev1: \\Recent"
    typ, data = m.fetch("1", "(RFC822.HEADER RFC822.SIZE)")
    assert data[0][0].startswith(b"1 (RFC822.HEADER {") and b"Subject: for alice" in data[0][1]
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
    assert data[0][1].startswith(b"Hello from the Tern integration tests.")
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = m.fetch("1", "(BODY[])")
    assert b"Subject: for alice" in data[0][1] and b"\\Seen" in data[1]
    assert m.search(None, "UNSEEN") == ("OK", [b"2"])
    assert m.search(None, "SUBJECT", "second") == ("OK", [b"2"])
    assert m.uid("SEARCH", "ALL") == ("OK", [b"1 2"])
    typ, data = m.store("2", "+FLAGS", "(\\Flagged \\Deleted)")
    assert typ == "OK" and b"\\Flagged" in data[0]
    typ, data = m.append("INBOX", "(\\Seen)", None, b"Subject: appended\r\n\r\nbody\r\n")
    assert typ == "OK" and data[0].startswith(b"[APPENDUID ")
    typ, data = m.expunge()
    assert (typ, data) == ("OK", [b"2"])
    assert m.status("INBOX", "(MESSAGES UNSEEN)") == ("OK", [b"INBOX (MESSAGES 2 UNSEEN 0)"])
    assert m.create("Elsewhere")[0] == "NO", "the catcher has only INBOX"
    m.logout()

    # Another login, another inbox: the message without a login is in "default".
    other = imap(tern)
    other.login("default", "x")
    assert other.select("INBOX") == ("OK", [b"1"])
    other.logout()

    # The Maildir carries the flags (Maildir++ folder of the login), for any Maildir reader.
    folder = mailbox.Maildir(str(tern.catch_all / ".alice"), factory=None, create=False)
    flags = sorted(msg.get_flags() for msg in folder)
    assert flags == ["S", "S"]


def test_idle_sees_smtp_delivery_within_a_second(tern):
    m = imap(tern)
    m.login("idler", "x")
    m.select("INBOX")
    tag = m._new_tag().decode()
    m.send(f"{tag} IDLE\r\n".encode())
    assert m.readline().startswith(b"+")
    started = time.monotonic()
    send(tern, "wake up", login="idler")
    m.sock.settimeout(5)
    line = m.readline()
    assert line == b"* 1 EXISTS\r\n", line
    assert time.monotonic() - started < 1.5
    assert m.readline() == b"* 1 RECENT\r\n", "IMAP4rev1 hears of \\Recent with EXISTS"
    m.send(b"DONE\r\n")
    assert m.readline() == f"{tag} OK IDLE terminated\r\n".encode()
    # DONE right behind IDLE, in one write: the end waits for the start.
    m.send(b"q1 IDLE\r\nDONE\r\n")
    assert m.readline().startswith(b"+")
    assert m.readline() == b"q1 OK IDLE terminated\r\n"
    m.logout()


def test_two_sessions_see_each_others_changes(tern):
    send(tern, "shared", login="pair")
    a, b = imap(tern), imap(tern)
    for session in (a, b):
        session.login("pair", "x")
        session.select("INBOX")
    # IMAP4rev1's \Recent: the first read-write session claims the message, the second sees none.
    assert a.untagged_responses["RECENT"] == [b"1"] and b.untagged_responses["RECENT"] == [b"0"]
    assert a.search(None, "RECENT") == ("OK", [b"1"]) and b.search(None, "OLD") == ("OK", [b"1"])
    a.store("1", "+FLAGS", "(\\Answered)")
    time.sleep(0.3)
    b.noop()
    fetches = b.untagged_responses.get("FETCH", [])
    assert any(b"\\Answered" in line for line in fetches), b.untagged_responses
    a.store("1", "+FLAGS", "(\\Deleted)")
    assert a.expunge() == ("OK", [b"1"])
    time.sleep(0.3)
    b.noop()
    assert b.untagged_responses.get("EXPUNGE") == [b"1"], b.untagged_responses
    a.logout()
    b.logout()


def test_serve_mode_accounts_folders_and_tls(tern_factory):
    """Accounts from the directory log in (PLAIN over STARTTLS, LOGIN on imaps); a wrong password
    is NO; the special-use folders exist at first LIST; CREATE, RENAME, DELETE, COPY and MOVE
    work on the Maildir++ folders; SMTP delivery lands in INBOX."""
    server = tern_factory.serve(listeners=IMAP_LISTENERS)
    cfg = server.workdir / "tern.toml"
    tern_cli("domain", "add", "example.test", config=cfg)
    tern_cli("user", "add", "alice@example.test", config=cfg, password="s3cret alice")
    time.sleep(2.5)  # the directory reloads
    send(server, "to alice", to="alice@example.test")
    inbox = server.data_dir / "mailboxes" / "example.test" / "alice" / "new"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (inbox.exists() and any(inbox.iterdir())):
        time.sleep(0.1)

    plain = imap(server)
    assert "LOGINDISABLED" in plain.capabilities
    typ, data = plain._simple_command("LOGIN", "alice@example.test", '"s3cret alice"')
    assert typ == "NO"
    plain.starttls(ssl_context=unverified_context())
    try:
        plain.login("alice@example.test", "wrong")
        raise AssertionError("a wrong password logged in")
    except imaplib.IMAP4.error as error:
        assert "AUTHENTICATIONFAILED" in str(error)
    plain.logout()

    m = imap(server, "imaps")
    m.login("alice@example.test", "s3cret alice")
    typ, data = m.list()
    listed = b"\n".join(data)
    for use, name in [(b"\\Sent", b"Sent"), (b"\\Drafts", b"Drafts"), (b"\\Junk", b"Junk"), (b"\\Trash", b"Trash"),
                      (b"\\Archive", b"Archive")]:
        assert use in listed and name in listed, listed
    assert m.select("INBOX") == ("OK", [b"1"])
    assert b"\\*" in m.untagged_responses["PERMANENTFLAGS"][0]
    # Keywords live where Dovecot keeps them: dovecot-keywords and a letter in the file name.
    typ, data = m.store("1", "+FLAGS", "($Forwarded Junk)")
    assert typ == "OK" and b"$Forwarded Junk" in data[0], data
    assert m.search(None, "KEYWORD", "junk") == ("OK", [b"1"])
    root = server.data_dir / "mailboxes" / "example.test" / "alice"
    assert (root / "dovecot-keywords").read_text() == "0 $Forwarded\n1 Junk\n"
    assert [name.split(":2,")[1] for name in os.listdir(root / "cur")] == ["ab"]
    assert m.create("Projects/2026")[0] == "OK"
    assert m.copy("1", "Projects/2026")[0] == "OK"
    typ, data = m.copy("1", "Nowhere")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    assert m.status("Projects/2026", "(MESSAGES)") == ("OK", [b"Projects/2026 (MESSAGES 1)"])
    assert m.rename("Projects", "Work")[0] == "OK"
    assert m.status("Work/2026", "(MESSAGES)") == ("OK", [b"Work/2026 (MESSAGES 1)"])
    typ, data = m._simple_command("MOVE", "1", "Archive")
    assert typ == "OK"
    assert m.status("Archive", "(MESSAGES)") == ("OK", [b"Archive (MESSAGES 1)"])
    assert m.select("INBOX") == ("OK", [b"0"])
    assert m.delete("Work/2026")[0] == "OK"
    # IMAP4rev1 names non-ASCII folders in modified UTF-7 (RFC 3501 §5.1.3); IMAP4rev2 in UTF-8.
    assert m.create("Entw&APw-rfe")[0] == "OK"
    assert b'"/" Entw&APw-rfe' in b"\n".join(m.list('""', "Entw*")[1])
    assert m.create("Bad&-&AGE-")[0] == "NO"
    assert (server.data_dir / "mailboxes" / "example.test" / "alice" / ".Entw%C3%BCrfe").is_dir()
    assert m.select("Work/2026")[0] == "NO"
    m.logout()
    # The folders are Maildir++ directories beside the inbox.
    assert (root / ".Archive" / "maildirfolder").exists() and (root / ".Work" / "cur").is_dir()


def test_hostile_imap_input_keeps_the_server_up(tern):
    """Literal sizes past any limit, a line over 64 KB, a sequence set of 4 billion, NUL in a
    quoted string, and STARTTLS with a pipelined command: each gets its answer."""
    listener = tern.listener("imap")
    with socket.create_connection((listener.host, listener.port), timeout=10) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"* OK")
        s.sendall(b"a LOGIN {99999999999999999999}\r\n")
        assert f.readline().startswith(b"a BAD")
        s.sendall(b"b LOGIN \"x\0\" y\r\n")
        assert f.readline().startswith(b"b BAD")
        s.sendall(b"c LOGIN u p\r\nd SELECT INBOX\r\n")
        assert f.readline().startswith(b"c OK")
        while not (line := f.readline()).startswith(b"d "):
            pass
        assert line.startswith(b"d OK")
        s.sendall(b"e UID FETCH 1:4294967295 (FLAGS)\r\nf FETCH 1:4294967295 FLAGS\r\n")
        assert f.readline().startswith(b"e OK")
        assert f.readline().startswith(b"f BAD")
        s.sendall(b"g NOOP " + b"x" * 70000 + b"\r\n")
        assert f.readline().startswith(b"* BYE")
    with socket.create_connection((listener.host, listener.port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"h STARTTLS\r\ni LOGIN injected x\r\n")
        assert f.readline().startswith(b"h OK")
        context = unverified_context()
        with context.wrap_socket(s, server_hostname="localhost") as t:
            t.sendall(b"j NOOP\r\n")
            assert t.recv(100).startswith(b"j OK"), "the pipelined LOGIN was dropped"


def test_hostile_messages_answer_promptly(tern):
    """A message of 10,000 nested multiparts and one of 100,000 header lines: FETCH of their
    structure and envelope answers (the MIME tree is bounded and flattened past its depth), and
    the server goes on serving. The bound here is generous for a debug build; the issue's 2 s is
    for a release build."""
    nested = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(10_000))
    many = b"".join(b"X-Line-%d: value\r\n" % i for i in range(100_000)) + b"Subject: many\r\n\r\nbody\r\n"
    m = imap(tern)
    m.login("hostile", "x")
    for message in (b"Subject: nested\r\n" + nested + b"end\r\n", many):
        assert m.append("INBOX", None, None, message)[0] == "OK"
    m.select("INBOX")
    for number in (b"1", b"2"):
        started = time.monotonic()
        typ, data = m.fetch(number, "(BODYSTRUCTURE ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK" and b"BODYSTRUCTURE" in data[0][0]
        assert time.monotonic() - started < 10, f"message {number} took {time.monotonic() - started:.1f} s"
    assert m.noop()[0] == "OK"
    m.logout()


def test_list_extended_status_and_special_use(tern_factory):
    """LIST's selection and return options (RFC 5258), STATUS in LIST (RFC 5819), SPECIAL-USE
    selection (RFC 6154), several patterns, and a parent that exists only as a level."""
    server = serve_with_alice(tern_factory)
    send(server, "one", to="alice@example.test")
    wait_delivered(server, 1)
    m = imap(server, "imaps")
    m.login("alice@example.test", PASSWORD)
    assert "LIST-EXTENDED" in m.capabilities or b"LIST-EXTENDED" in b" ".join(transcript(m, "CAPABILITY"))
    assert m.create("Work/2026")[0] == "OK"
    assert m.subscribe("Work/2026")[0] == "OK" and m.subscribe("Gone")[0] == "OK"
    assert m.unsubscribe("Work")[0] == "OK"

    lines = transcript(m, 'LIST (SUBSCRIBED) "" "*"')
    assert lines[-1].split(b" ", 1)[1].startswith(b"OK")
    listed = {line.rsplit(b" ", 1)[1].strip(): line for line in lines[:-1]}
    assert b"\\NonExistent" in listed[b"Gone"] and b"\\Subscribed" in listed[b"Gone"], lines
    assert b"\\Subscribed" in listed[b"Work/2026"] and b"Work" not in listed, lines
    assert b"\\Sent" in listed[b"Sent"]

    lines = transcript(m, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    work = [line for line in lines if b'"/" Work' in line]
    assert work and work[0].endswith(b'Work ("CHILDINFO" ("SUBSCRIBED"))\r\n'), lines
    assert not any(b"2026" in line for line in lines)

    lines = transcript(m, 'LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)')
    uses = sorted(line.split(b"(")[1].split(b")")[0] for line in lines[:-1])
    assert len(uses) == 5 and all(b"\\HasNoChildren" in use for use in uses), lines

    lines = transcript(m, 'LIST "" (INBOX "Sent") RETURN (STATUS (MESSAGES UNSEEN SIZE))')
    assert [line.split(b" ")[1] for line in lines[:-1]] == [b"LIST", b"STATUS", b"LIST", b"STATUS"], lines
    assert lines[1].startswith(b"* STATUS INBOX (MESSAGES 1 UNSEEN 1 SIZE ") and lines[3] == b"* STATUS Sent (MESSAGES 0 UNSEEN 0 SIZE 0)\r\n"

    # A level that is not a mailbox (Maildir++ has .Deep.Down without .Deep) is listed as such.
    maildir = alice_maildir(server)
    (maildir / ".Deep.Down").mkdir()
    for sub in ("cur", "new", "tmp"):
        (maildir / ".Deep.Down" / sub).mkdir()
    (maildir / ".Deep.Down" / "maildirfolder").touch()
    lines = transcript(m, 'LIST "" "%" RETURN (CHILDREN STATUS (MESSAGES))')
    deep = [line for line in lines if line.endswith(b" Deep\r\n")]
    assert deep and b"\\NonExistent" in deep[0] and b"\\HasChildren" in deep[0], lines
    assert not any(line.startswith(b"* STATUS Deep") for line in lines), "no STATUS for a name without a mailbox"

    for bad in ['LIST (RECURSIVEMATCH) "" "*"', 'LIST "" "*" RETURN (STATUS (BOGUS))', 'LIST (FROB) "" "*"']:
        assert transcript(m, bad)[-1].split(b" ")[1] == b"BAD", bad
    m.logout()


def test_quota_reported_and_enforced(tern_factory):
    """RFC 9208: one quota root "" over the account; STORAGE in KiB; APPEND and COPY past it get
    NO [OVERQUOTA], MOVE stays within it; SETQUOTA is the administrator's; the limit follows
    `tern user set --quota` while the session runs."""
    server = serve_with_alice(tern_factory, quota=20_000)
    m = imap(server, "imaps")
    m.login("alice@example.test", PASSWORD)
    assert b"QUOTA=RES-STORAGE" in b" ".join(transcript(m, "CAPABILITY"))
    big = b"Subject: big\r\n\r\n" + b"x" * 15_000 + b"\r\n"
    typ, data = m.append("INBOX", None, None, big)
    assert typ == "OK", data
    typ, data = m.append("INBOX", None, None, b"Subject: more\r\n\r\n" + b"y" * 6_000 + b"\r\n")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    lines = transcript(m, "GETQUOTAROOT INBOX")
    assert lines[:2] == [b'* QUOTAROOT INBOX ""\r\n', b'* QUOTA "" (STORAGE 15 19)\r\n'], lines
    assert lines[2].endswith(b" OK GETQUOTAROOT completed\r\n")
    assert transcript(m, 'GETQUOTA ""')[0] == b'* QUOTA "" (STORAGE 15 19)\r\n'
    assert b"NO [NONEXISTENT]" in transcript(m, "GETQUOTA other")[-1]
    assert b"NO [NOPERM]" in transcript(m, 'SETQUOTA "" (STORAGE 100000)')[-1]
    m.select("INBOX")
    typ, data = m.copy("1", "Archive")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    assert m._simple_command("MOVE", "1", "Archive")[0] == "OK", "a MOVE takes no more room"
    m.select("Archive")
    m.store("1", "+FLAGS", "(\\Deleted)")
    assert m.status("Archive", "(DELETED-STORAGE SIZE)")[1][0].startswith(b"Archive (DELETED-STORAGE 15 SIZE ")
    tern_cli("user", "set", "alice@example.test", "--quota", "0", config=server.workdir / "tern.toml")
    deadline = time.monotonic() + 10
    while transcript(m, "GETQUOTAROOT INBOX")[0] != b"* QUOTAROOT INBOX\r\n":
        assert time.monotonic() < deadline, "the quota was removed but still reported"
        time.sleep(0.3)
    assert m.copy("1", "INBOX")[0] == "OK", "no quota, no limit"
    m.logout()


def test_quota_at_rcpt(tern_factory):
    """A full mailbox is refused at RCPT, while the sender still holds the message: 452 4.2.2
    through `[mail] quota_grace`, then 552 5.2.2; a SIZE= that cannot fit is weighed too; the
    usage shows in `tern user show`; room made over IMAP accepts mail again."""
    server = serve_with_alice(
        tern_factory, quota=20_000,
        config_extra='[mail]\nrelay_networks = ["127.0.0.0/8", "::1"]\nquota_grace = "3s"\n')
    cfg = server.workdir / "tern.toml"
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        client.sendmail("app@example.test", ["alice@example.test"], message("big", (b"x" * 76 + b"\r\n") * 200))
        wait_delivered(server, 1)
        client.ehlo()
        assert client.mail("app@example.test", ["SIZE=6000"])[0] == 250
        code, text = client.rcpt("alice@example.test")
        assert (code, text[:5]) == (452, b"4.2.2"), (code, text)
        client.rset()
        assert client.mail("app@example.test", ["SIZE=30000"])[0] == 250
        code, text = client.rcpt("alice@example.test")
        assert (code, text[:5]) == (552, b"5.2.2"), "larger than the whole quota"
        client.rset()
        # Soft quota: with room left and no SIZE, the message is taken whole; then it is full.
        # (smtplib's sendmail would declare SIZE=, which is refused above.)
        assert client.mail("app@example.test")[0] == 250
        assert client.rcpt("alice@example.test")[0] == 250
        assert client.data(message("over", (b"y" * 58 + b"\r\n") * 100))[0] == 250
        wait_delivered(server, 2)
        client.mail("app@example.test")
        code, text = client.rcpt("alice+tag@example.test")
        assert (code, text[:5]) == (452, b"4.2.2"), (code, text)
        client.rset()
    shown = tern_cli("user", "show", "alice@example.test", config=cfg).stdout
    usage = next(line for line in shown.splitlines() if line.startswith("usage:"))
    assert usage.startswith("usage:         ") and "in 2 messages" in usage and "% of the quota)" in usage, shown
    used = json.loads(tern_cli("user", "show", "alice@example.test", "--json", config=cfg).stdout)["usage_bytes"]
    assert 21_600 < used < 23_500, used
    m = imap(server, "imaps")
    m.login("alice@example.test", PASSWORD)
    assert transcript(m, "GETQUOTAROOT INBOX")[1] == f'* QUOTA "" (STORAGE {(used + 1023) // 1024} 19)\r\n'.encode()
    time.sleep(3.2)
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        client.ehlo()
        client.mail("app@example.test")
        code, text = client.rcpt("alice@example.test")
        assert (code, text[:5]) == (552, b"5.2.2"), "full for longer than the grace period"
    m.select("INBOX")
    m.store("1:*", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        client.sendmail("app@example.test", ["alice@example.test"], message("room again"))



class Deflated:
    """An IMAP connection after COMPRESS DEFLATE (RFC 4978): raw DEFLATE both ways, each command
    flushed with Z_SYNC_FLUSH as a client does."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.compress = zlib.compressobj(wbits=-15)
        self.inflate = zlib.decompressobj(wbits=-15)
        self.pending = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(self.compress.compress(data) + self.compress.flush(zlib.Z_SYNC_FLUSH))

    def line(self) -> bytes:
        while b"\r\n" not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; pending {self.pending[:200]!r}")
            self.pending += self.inflate.decompress(chunk)
        line, self.pending = self.pending.split(b"\r\n", 1)
        return line + b"\r\n"

    def until(self, tag: bytes) -> list[bytes]:
        lines = []
        while not (lines and lines[-1].startswith(tag + b" ")):
            lines.append(self.line())
        return lines


def compressed_session(server, user: str) -> Deflated:
    listener = server.listener("imap")
    sock = socket.create_connection((listener.host, listener.port), timeout=15)
    reader = sock.makefile("rb", buffering=0)
    assert reader.readline().startswith(b"* OK")
    sock.sendall(f"a LOGIN {user} x\r\n".encode())
    line = reader.readline()
    assert line.startswith(b"a OK") and b"COMPRESS=DEFLATE" in line, line
    sock.sendall(b"b COMPRESS DEFLATE\r\n")
    assert reader.readline() == b"b OK DEFLATE active\r\n"
    return Deflated(sock)


def test_compress_deflate(tern):
    """RFC 4978: after COMPRESS DEFLATE both directions are raw DEFLATE; FETCH, a second
    COMPRESS, and an IDLE update pushed by an SMTP delivery all arrive compressed."""
    send(tern, "squeeze me", login="zipper")
    c = compressed_session(tern, "zipper")
    c.send(b"c SELECT INBOX\r\n")
    assert c.until(b"c")[-1].startswith(b"c OK [READ-WRITE]")
    c.send(b"d FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\ne COMPRESS DEFLATE\r\n")
    lines = c.until(b"d")
    assert lines[0].endswith(b"{23}\r\n") and lines[1] == b"Subject: squeeze me\r\n", lines
    assert c.until(b"e") == [b"e NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS\r\n"]
    c.send(b"f IDLE\r\n")
    assert c.line().startswith(b"+ ")
    send(tern, "while idle", login="zipper")
    assert c.line() == b"* 2 EXISTS\r\n"
    c.send(b"DONE\r\n")
    assert c.until(b"f")[-1] == b"f OK IDLE terminated\r\n"
    big = b"Subject: big\r\n\r\n" + b"compressible line of text\r\n" * 40_000
    c.send(b"g APPEND INBOX {%d}\r\n" % len(big))
    assert c.line().startswith(b"+ ")
    c.send(big + b"\r\n")
    assert c.until(b"g")[-1].startswith(b"g OK [APPENDUID")
    c.send(b"g2 FETCH 3 (RFC822.SIZE BODY.PEEK[])\r\n")
    lines = c.until(b"g2")
    assert big in b"".join(lines), "the message comes back whole"
    c.send(b"h LOGOUT\r\n")
    assert c.until(b"h")[-1] == b"h OK LOGOUT completed\r\n"
    c.sock.close()


def test_compress_bomb_and_garbage_are_contained(tern):
    """A few kilobytes that inflate to 200 MB on one line, and octets that are not DEFLATE: the
    session ends, the server's memory does not follow the inflated size, others are served."""
    pid = tern.proc.pid

    def rss_kb() -> int:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    before = rss_kb()
    c = compressed_session(tern, "bomber")
    bomb = zlib.compressobj(wbits=-15)
    payload = bomb.compress(b"i NOOP ")
    for _ in range(200):
        payload += bomb.compress(b"x" * 1_000_000)
    payload += bomb.flush(zlib.Z_SYNC_FLUSH)
    assert len(payload) < 1_000_000
    try:
        c.sock.sendall(payload)
        line = c.line()
        assert line.startswith(b"* BYE"), line
    except (ConnectionError, BrokenPipeError):
        pass  # closed before everything was sent: also contained
    c.sock.close()
    assert rss_kb() - before < 64_000, f"RSS grew from {before} kB to {rss_kb()} kB"

    garbage = compressed_session(tern, "garbage")
    garbage.sock.sendall(b"\xff" * 64 + b"not deflate at all\r\n")
    garbage.sock.settimeout(10)
    assert garbage.sock.recv(100) == b"", "a corrupt stream closes the connection"
    garbage.sock.close()
    m = imap(tern)
    m.login("after", "x")
    assert m.select("INBOX")[0] == "OK"
    m.logout()


def test_condstore_and_qresync(tern):
    """RFC 7162 with imaplib: MODSEQ on FETCH and STORE, CHANGEDSINCE, UNCHANGEDSINCE and
    [MODIFIED], VANISHED after ENABLE QRESYNC, and a later session's SELECT (QRESYNC ...) told
    only what went and what changed since its MODSEQ."""
    m = imap(tern)
    m.login("resync", "x")
    for subject in ("one", "two", "three"):
        assert m.append("INBOX", None, None, f"Subject: {subject}\r\n\r\nbody\r\n".encode())[0] == "OK"
    assert transcript(m, "ENABLE QRESYNC")[0] == b"* ENABLED QRESYNC\r\n"
    lines = transcript(m, "SELECT INBOX (CONDSTORE)")
    highest = next(int(line.split(b"HIGHESTMODSEQ ")[1].split(b"]")[0]) for line in lines if b"HIGHESTMODSEQ" in line)
    validity = next(line.split(b"UIDVALIDITY ")[1].split(b"]")[0] for line in lines if b"UIDVALIDITY" in line).decode()
    assert highest > 0 and lines[-1].split(b" ")[1] == b"OK"

    lines = transcript(m, "STORE 1 +FLAGS (\\Seen)")
    stored = int(lines[0].split(b"MODSEQ (")[1].split(b")")[0])
    assert stored > highest and b"FLAGS (\\Seen)" in lines[0], lines
    lines = transcript(m, f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
    assert len(lines) == 2 and lines[0].startswith(b"* 1 FETCH") and b"MODSEQ" in lines[0], lines

    # UNCHANGEDSINCE: message 1 changed after `highest`, so it is left alone; 2 and 3 are set.
    lines = transcript(m, f"STORE 1:3 (UNCHANGEDSINCE {highest}) +FLAGS.SILENT (\\Flagged)")
    assert lines[-1].split(b" ", 1)[1].startswith(b"OK [MODIFIED 1]"), lines
    assert [line.split(b" ")[1] for line in lines[:-1]] == [b"2", b"3"], "SILENT still reports MODSEQs"
    assert all(b"FLAGS" not in line and b"MODSEQ" in line for line in lines[:-1]), lines

    lines = transcript(m, "SEARCH MODSEQ %d" % (stored + 1))
    assert lines[0].startswith(b"* SEARCH 2 3 (MODSEQ "), lines
    status = transcript(m, "STATUS INBOX (HIGHESTMODSEQ)")[0]
    last = int(status.split(b"HIGHESTMODSEQ ")[1].split(b")")[0])
    assert last > stored

    # With QRESYNC on, an expunge is a VANISHED response.
    transcript(m, "STORE 2 +FLAGS.SILENT (\\Deleted)")
    lines = transcript(m, "EXPUNGE")
    assert lines[0] == b"* VANISHED 2\r\n", lines
    lines = transcript(m, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {last} VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 2\r\n", lines
    m.logout()

    # A client back with what it knew: UIDs 1:3 as of `last`.
    later = imap(tern)
    later.login("resync", "x")
    assert b"BAD" in transcript(later, f"SELECT INBOX (QRESYNC ({validity} {last} 1:3))")[-1], "QRESYNC needs ENABLE first"
    transcript(later, "ENABLE QRESYNC")
    lines = transcript(later, f"SELECT INBOX (QRESYNC ({validity} {last} 1:3))")
    assert b"* VANISHED (EARLIER) 2\r\n" in lines, lines
    assert not any(b"FETCH" in line for line in lines), "nothing changed since `last`"
    lines = transcript(later, f"SELECT INBOX (QRESYNC ({validity} {highest}))")
    fetched = [line for line in lines if b"FETCH" in line]
    assert len(fetched) == 2 and all(b"MODSEQ" in line for line in fetched), lines
    later.logout()


def test_envelope_and_structure_come_from_the_mailbox_cache(tern_factory):
    """ENVELOPE and BODYSTRUCTURE are worked out once and kept in the Maildir's tern-cache: a
    second FETCH answers from it without reading the message (proved by changing the file behind
    the server's back: the header section, read from the file, shows the change; the envelope
    does not). `tern repair` removes the cache, and the next FETCH works it out again."""
    server = serve_with_alice(tern_factory)
    send(server, "first subject", to="alice@example.test")
    wait_delivered(server, 1)
    m = imap(server, "imaps")
    m.login("alice@example.test", PASSWORD)
    assert m.select("INBOX")[0] == "OK"
    typ, first = m.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
    assert typ == "OK" and b'"first subject"' in first[0], first
    cache = alice_maildir(server) / "tern-cache"
    assert cache.exists() and cache.read_bytes().startswith(b"tern-cache 1 ")

    # Another program rewrites the message (same name, same size): the cache still answers.
    [stored] = [p for d in ("new", "cur") for p in (alice_maildir(server) / d).iterdir()]
    octets = stored.read_bytes()
    stored.write_bytes(octets.replace(b"first subject", b"other subject"))
    typ, again = m.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
    assert again == first, (again, first)
    typ, header = m.fetch("1", "(BODY.PEEK[HEADER])")
    assert b"Subject: other subject" in header[0][1], header

    repair = subprocess.run([str(tern_bin()), "repair", "--data", str(server.data_dir)],
                            capture_output=True, text=True, timeout=30)
    assert repair.returncode == 0, repair.stderr
    assert not cache.exists()
    typ, rebuilt = m.fetch("1", "(ENVELOPE)")
    assert b'"other subject"' in rebuilt[0], rebuilt
    assert cache.exists()
    m.logout()
