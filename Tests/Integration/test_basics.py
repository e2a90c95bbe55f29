"""Basic SMTP service: greeting, EHLO, the reply catalogue, and real transactions with Python's
smtplib, each checked on disk (dev mode catch-all Maildir)."""

from __future__ import annotations

import re
import smtplib
import threading

import pytest

from ternlib import HOSTNAME, data_payload, ehlo_keywords, message, split_received, check_received

EXPECTED_EXTENSIONS = ["PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING",
                       "BINARYMIME", "DSN", "STARTTLS", "AUTH"]


def smtp_client(server, **kw) -> smtplib.SMTP:
    return smtplib.SMTP(server.host, server.port, local_hostname="client.example", timeout=10, **kw)


def test_greeting_and_ehlo_extensions(tern):
    """RFC 5321 §4.2/§4.1.1.1: 220 greeting names the host; EHLO lists exactly the extensions Tern
    implements (RFC 2920, 1870, 6152, 6531, 2034, 3030, 3461, 3207, and 4954: dev mode takes any login)."""
    with tern.connect() as c:
        assert c.greeting.code == 220
        assert len(c.greeting.lines) == 1 and c.greeting.lines[0].startswith(f"{HOSTNAME} ESMTP"), c.greeting
        r = c.ehlo()
        assert r.lines[0].split()[0] == HOSTNAME, r
        keywords = ehlo_keywords(r)
        names = [k.split()[0].upper() for k in keywords]
        assert sorted(names) == sorted(EXPECTED_EXTENSIONS), f"EHLO extensions {keywords}"
        size = [k for k in keywords if k.upper().startswith("SIZE")][0]
        assert re.fullmatch(r"SIZE [1-9][0-9]*", size), f"SIZE must carry the limit: {size!r}"
        assert int(size.split()[1]) >= 20 * 1024 * 1024
        c.expect("QUIT", 221, "2.0.0")
        assert c.read_until_closed() == b""


def test_reply_catalogue(tern):
    """RFC 5321 §4.1.1, §4.2, §7.3 and RFC 3463: NOOP, RSET, VRFY, HELP, EXPN, unknown commands,
    and commands being case-insensitive."""
    with tern.connect() as c:
        c.ehlo()
        c.expect("NOOP", 250, "2.0.0")
        c.expect("noop", 250, "2.0.0")
        c.expect("RSET", 250, "2.0.0")
        c.expect("VRFY postmaster", 252, "2.0.0")
        c.expect("HELP", 214, "2.0.0")
        c.expect("EXPN staff", 502, "5.5.1")
        c.expect("FROB", 500, "5.5.2")
        c.expect("", 500, "5.5.2")
        c.expect("QUIT", 221, "2.0.0")
    assert tern.new_files() == [] and tern.tmp_files() == []


def test_bad_sequences(tern):
    """RFC 5321 §4.1.4 / §4.3.2: MAIL before EHLO, RCPT before MAIL, DATA before RCPT and nested
    MAIL get 503 5.5.1 and change nothing."""
    with tern.connect() as c:
        c.expect("MAIL FROM:<a@client.example>", 503, "5.5.1")
        c.ehlo()
        c.expect("RCPT TO:<b@tern.test>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect("MAIL FROM:<a@client.example>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
        c.expect("RCPT TO:<b@tern.test>", 250, "2.1.5")
        c.expect("DATA", 354)
        c.send(data_payload(message()))
        c.expect_reply(250, "2.0.0")
    assert len(tern.new_files()) == 1


@pytest.mark.parametrize("address", ["a@@client.example", "@client.example", "a@", "a@client..example", "a@[300.1.1.1]"])
def test_bad_addresses(shared_tern, address):
    """RFC 5321 §4.1.2 Mailbox syntax: a malformed reverse-path is 501 5.1.7, a malformed
    forward-path 501 5.1.3 (RFC 3463)."""
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        c.ehlo()
        c.expect(f"MAIL FROM:<{address}>", 501, "5.1.7")
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect(f"RCPT TO:<{address}>", 501, "5.1.3")
        c.expect("RCPT TO:<>", 501, "5.1.3")
        c.expect("RSET", 250, "2.0.0")
    assert shared_tern.snapshot() == before


def test_postmaster_and_null_sender(tern):
    """RFC 5321 §4.1.1.2/§4.5.1/§6.1: MAIL FROM:<> is accepted; RCPT TO:<Postmaster> (no domain)
    must be accepted; the message is stored."""
    with tern.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<>", 250, "2.1.0")
        c.expect("RCPT TO:<Postmaster>", 250, "2.1.5")
        c.expect("DATA", 354)
        content = message("bounce")
        c.send(data_payload(content))
        qid = c.expect_reply(250, "2.0.0").qid
    # The server may qualify the local postmaster with its own domain (RFC 5321 §4.5.1).
    assert tern.body_of(qid, rcpt=("Postmaster", f"Postmaster@{HOSTNAME}")) == content
    tern.assert_tmp_empty()


def test_helo_and_received_with_smtp(tern):
    """RFC 5321 §4.1.1.1/§4.4: HELO gets '250 <hostname>'; the Received header says 'with SMTP'."""
    with tern.connect() as c:
        r = c.cmd("HELO oldclient.example")
        assert r.code == 250 and r.lines[0].split()[0] == HOSTNAME, r
        assert len(r.lines) == 1, f"HELO reply must be one line: {r}"
        content = message("helo")
        qid = c.send_message(content)
    assert tern.body_of(qid, helo="oldclient.example", proto="SMTP") == content


def test_keywords_case_insensitive(tern):
    """RFC 5321 §2.4: verbs, FROM:/TO: and ESMTP keywords are case-insensitive."""
    with tern.connect() as c:
        c.cmd("ehlo client.example")
        c.expect("mail from:<a@client.example> body=8bitmime size=10000", 250, "2.1.0")
        c.expect("rcpt to:<rcpt@tern.test>", 250, "2.1.5")
        c.expect("data", 354)
        content = message("lower case")
        c.send(data_payload(content))
        qid = c.expect_reply(250, "2.0.0").qid
    assert tern.body_of(qid) == content


def test_smtplib_plain(tern):
    """A real client (smtplib) over plain SMTP: the message is stored once, byte-exact, after a
    Received header (RFC 5321 §4.4), and tmp/ is empty afterwards."""
    content = message("smtplib plain", "line one\r\n.line starting with a dot\r\n..two dots\r\n")
    with smtp_client(tern) as s:
        s.ehlo()
        assert s.has_extn("pipelining") and s.has_extn("8bitmime")
        code, _ = s.mail("sender@client.example")
        assert code == 250
        code, _ = s.rcpt("rcpt@tern.test")
        assert code == 250
        code, resp = s.data(content)
        assert code == 250, resp
        qid = re.search(rb"queued as ([0-9A-Z]{16})", resp).group(1).decode()
    assert tern.body_of(qid) == content
    assert len(tern.new_files()) == 1
    tern.assert_tmp_empty()


def test_smtplib_smtputf8_8bit(tern):
    """RFC 6531/6152: SMTPUTF8 addresses and an 8-bit UTF-8 body are stored byte-exact; the
    Received header says 'with UTF8SMTP'."""
    body = "Grüße aus Zürich — ☃ 雪\r\n".encode()
    content = (b"From: =?utf-8?q?J=C3=B6rg?= <j\xc3\xb6rg@b\xc3\xbccher.example>\r\n"
               b"Subject: \xc3\x9cmlaute\r\n\r\n" + body)
    with smtp_client(tern) as s:
        s.ehlo()
        assert s.has_extn("smtputf8")
        code, resp = s.mail("jörg@bücher.example", ["SMTPUTF8", "BODY=8BITMIME"])
        assert code == 250, resp
        code, resp = s.rcpt("zoë@tern.test")
        assert code == 250, resp
        code, resp = s.data(content)
        assert code == 250, resp
        qid = re.search(rb"queued as ([0-9A-Z]{16})", resp).group(1).decode()
    assert tern.body_of(qid, proto="UTF8SMTP", rcpt="zoë@tern.test") == content


def test_smtplib_multiple_recipients(tern):
    """RFC 5321 §3.3: one message to several recipients is stored once; Received has no
    'for' clause when there is more than one recipient (§4.4)."""
    content = message("three recipients")
    rcpts = ["one@tern.test", "two@tern.test", "three@other.test"]
    with smtp_client(tern) as s:
        s.ehlo()
        s.mail("sender@client.example")
        for r in rcpts:
            code, resp = s.rcpt(r)
            assert code == 250, resp
        code, resp = s.data(content)
        assert code == 250, resp
        qid = re.search(rb"queued as ([0-9A-Z]{16})", resp).group(1).decode()
    assert len(tern.new_files()) == 1
    assert tern.body_of(qid, rcpt=None) == content


def test_smtplib_rset_mid_transaction(tern):
    """RFC 5321 §4.1.1.5: RSET aborts the transaction; nothing is stored; a later DATA is 503 and a
    new transaction works."""
    with smtp_client(tern) as s:
        s.ehlo()
        s.mail("sender@client.example")
        s.rcpt("rcpt@tern.test")
        code, resp = s.rset()
        assert (code, resp[:5]) == (250, b"2.0.0"), resp
        code, resp = s.docmd("DATA")
        assert (code, resp[:5]) == (503, b"5.5.1"), resp
    assert tern.new_files() == []
    tern.assert_tmp_empty()
    with tern.connect() as c:
        c.ehlo()
        c.mail_rcpt_data()
        # Inside DATA, "RSET" is just a line of the message.
        c.send(b"Subject: half\r\n\r\nnot finished\r\nRSET\r\n.\r\n")
        qid = c.expect_reply(250, "2.0.0").qid
    assert tern.body_of(qid) == b"Subject: half\r\n\r\nnot finished\r\nRSET\r\n"


def test_empty_message_and_dot_unstuffing(tern):
    """RFC 5321 §4.5.2: a leading dot is removed from every line ('..x' -> '.x'); an empty message
    (DATA then '.') stores only the Received header."""
    with tern.connect() as c:
        c.ehlo()
        c.mail_rcpt_data()
        c.send(b"Subject: dots\r\n\r\n..x\r\n...\r\n..\r\n. \r\nend.\r\n.\r\n")
        qid = c.expect_reply(250, "2.0.0").qid
        c.mail_rcpt_data()
        c.send(b".\r\n")
        empty = c.expect_reply(250, "2.0.0").qid
    assert tern.body_of(qid) == b"Subject: dots\r\n\r\n.x\r\n..\r\n.\r\n \r\nend.\r\n"
    assert tern.body_of(empty) == b""


def test_smtplib_20mib_message(tern):
    """RFC 1870: a 20 MiB message under the SIZE limit is stored byte-exact (dot-stuffed lines,
    long body) and only once."""
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-=+/!?0123456789\r\n"
    dotted = b".dotted line that smtplib must stuff and Tern must unstuff\r\n"
    block = line * 99 + dotted
    body = block * (20 * 1024 * 1024 // len(block) + 1)
    content = message("twenty MiB", body)
    assert len(content) > 20 * 1024 * 1024
    with smtplib.SMTP(tern.host, tern.port, local_hostname="client.example", timeout=60) as s:
        s.ehlo()
        code, resp = s.mail("sender@client.example", [f"SIZE={len(content)}"])
        assert code == 250, resp
        s.rcpt("rcpt@tern.test")
        code, resp = s.data(content)
        assert code == 250, resp
        qid = re.search(rb"queued as ([0-9A-Z]{16})", resp).group(1).decode()
    stored = tern.stored(qid)
    received, rest = split_received(stored)
    check_received(received, helo="client.example", proto="ESMTP", qid=qid, rcpt="rcpt@tern.test")
    assert len(rest) == len(content) and rest == content, "20 MiB message not stored byte-exact"
    assert len(tern.new_files()) == 1
    tern.assert_tmp_empty()


def test_concurrent_clients(tern):
    """Many sessions at once (10 clients x 5 messages, reused connections): every 250 is stored
    once, byte-exact, under its own QID."""
    results: dict[str, bytes] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        try:
            with smtp_client(tern) as s:
                s.ehlo()
                for i in range(5):
                    content = message(f"client {n} message {i}", f"from client {n}, message {i}\r\n" * (n * 50 + 1))
                    s.mail("sender@client.example")
                    s.rcpt("rcpt@tern.test")
                    code, resp = s.data(content)
                    assert code == 250, resp
                    qid = re.search(rb"queued as ([0-9A-Z]{16})", resp).group(1).decode()
                    with lock:
                        results[qid] = content
        except Exception as e:  # reported below, in the test's thread
            with lock:
                errors.append(f"client {n}: {e!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 50
    for qid, content in results.items():
        assert tern.body_of(qid) == content
    assert len(tern.new_files()) == 50
    tern.assert_tmp_empty()
