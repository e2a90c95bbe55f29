"""SMTP smuggling and line discipline (RFC 5321 §2.3.8, §4.1.1.4, §4.5.3.1; CVE-2023-51764..51766):
only CRLF ends a line and only CRLF.CRLF ends the data; bare CR/LF never executes anything."""

from __future__ import annotations

import time

import pytest

from ternlib import SMTPConn, data_payload, message

SMUGGLED = (b"MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@tern.test>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nevil\r\n")

SEQUENCES = {
    "LF.LF": b"\n.\n",
    "CR.CR": b"\r.\r",
    "LF.CRLF": b"\n.\r\n",
    "CRLF.LF": b"\r\n.\n",
    "CR.LF": b"\r.\n",
    "CRLF.CR": b"\r\n.\r",
    "LF.CR": b"\n.\r",
    "CRLF-NUL.CRLF": b"\r\n\x00.\r\n",
}


def new_since(server, before: set) -> list:
    return sorted(server.snapshot() - before)


def smuggle(c: SMTPConn, seq: bytes, split: bool) -> bytes:
    """Sends one message whose body contains `seq` followed by a whole second transaction, then the
    real CRLF.CRLF. Returns the content that would be stored after unstuffing."""
    c.ehlo()
    c.mail_rcpt_data()
    head = b"Subject: smuggle\r\n\r\nbefore"
    if split:
        for part in (head, *[seq[i:i + 1] for i in range(len(seq))], SMUGGLED, b".\r\n"):
            c.send(part)
            time.sleep(0.05)
    else:
        c.send(head + seq + SMUGGLED + b".\r\n")
    return head + seq + SMUGGLED


@pytest.mark.parametrize("split", [False, True], ids=["one-write", "byte-split"])
@pytest.mark.parametrize("name", list(SEQUENCES))
def test_smuggling_sequence_ends_nothing(shared_tern, name, split):
    """CVE-2023-51764: a fake end-of-data (bare LF/CR variants, NUL before the dot) ends nothing.
    The message is refused whole (550 5.5.2 for bare CR/LF, 550 5.6.0 for NUL); the smuggled
    transaction never gets a reply and is never stored."""
    seq = SEQUENCES[name]
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        sent = smuggle(c, seq, split)
        r = c.reply()
        extra = c.pending(0.5)
        assert extra == b"", f"more than one reply to one message: {r} then {extra!r}"
        stored = new_since(shared_tern, before)
        if b"\r" in seq.replace(b"\r\n", b"") or b"\n" in seq.replace(b"\r\n", b""):
            assert r.is_(550, "5.5.2"), f"bare CR/LF in DATA ({name}): expected 550 5.5.2, got {r}"
            assert stored == [], f"stored after a refused message: {stored}"
        else:
            # NUL in DATA (RFC 6152 §3): refused whole, never relayed to a hop that drops NULs.
            assert r.is_(550, "5.6.0"), f"NUL in DATA ({name}): expected 550 5.6.0, got {r}"
            assert stored == [], f"stored after a refused message: {stored}"
        # The session goes on: the next reply belongs to our NOOP, and a real message works.
        c.expect("NOOP", 250, "2.0.0")
        content = message("after smuggling")
        qid = c.send_message(content)
    assert shared_tern.body_of(qid) == content
    for p in new_since(shared_tern, before):
        assert b"evil@attacker" not in p.read_bytes().split(b"\r\n\r\n", 1)[0], \
            f"smuggled envelope reached the headers of {p}"
    shared_tern.assert_tmp_empty()


@pytest.mark.parametrize("line", [b"a\nb\r\n", b"a\rb\r\n", b"trailing CR\r\r\n", b"\n\r\n", b"x\r\n\r\r\n"],
                         ids=["LF", "CR", "CRCRLF", "lone-LF", "lone-CR"])
def test_bare_cr_lf_in_data_refused(shared_tern, line):
    """RFC 5321 §2.3.8: a bare CR or LF anywhere in DATA gets 550 5.5.2 after the real end of data;
    nothing is stored, tmp/ is clean, and the next transaction works."""
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        c.ehlo()
        c.mail_rcpt_data()
        c.send(b"Subject: bare\r\n\r\nok line\r\n" + line + b"last line\r\n.\r\n")
        c.expect_reply(550, "5.5.2", "end of data with a bare CR/LF")
        assert new_since(shared_tern, before) == []
        shared_tern.assert_tmp_empty()
        content = message("next")
        qid = c.send_message(content)
    assert shared_tern.body_of(qid) == content


@pytest.mark.parametrize("data,then", [
    (b"NOOP\nQUIT\r\n", "open"),
    (b"NOOP\rQUIT\r\n", "open"),
    (b"QUIT\nNOOP\r\n", "open"),
    (b"EHLO client.example\nMAIL FROM:<a@client.example>\r\n", "no-ehlo"),
    (b"RSET\r\nEHLO client.example\r\nMAIL FROM:<a@client.example>\nRCPT TO:<b@tern.test>\r\n", "no-mail"),
], ids=["NOOP-LF-QUIT", "NOOP-CR-QUIT", "QUIT-LF-NOOP", "EHLO-LF-MAIL", "MAIL-LF-RCPT"])
def test_bare_cr_lf_in_command_executes_nothing(shared_tern, data, then):
    """RFC 5321 §2.3.8: a command line containing a bare LF or CR gets one 500 5.5.2 and none of
    its parts executes; the connection stays usable."""
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        if then == "no-mail":
            c.send(data)
            c.expect_reply(250, "2.0.0", "RSET")
            c.expect_reply(250, None, "EHLO")
        else:
            c.send(data)
        c.expect_reply(500, "5.5.2", "line with a bare CR/LF")
        assert c.pending(0.4) == b"", "more than one reply to one line"
        if then == "open":
            c.expect("NOOP", 250, "2.0.0")
        elif then == "no-ehlo":
            c.expect("MAIL FROM:<a@client.example>", 503, "5.5.1")
        elif then == "no-mail":
            c.expect("RCPT TO:<b@tern.test>", 503, "5.5.1")
        c.expect("QUIT", 221, "2.0.0")
    assert shared_tern.snapshot() == before


def test_command_line_length_boundary(shared_tern):
    """RFC 5321 §4.5.3.1.4: a 512-octet command line (CRLF included) is accepted; 513 octets is
    500 5.5.2 and the session continues."""
    with shared_tern.connect() as c:
        c.ehlo()
        line = b"NOOP " + b"x" * 505
        assert len(line) + 2 == 512
        c.expect(line, 250, "2.0.0")
        c.expect(line + b"y", 500, "5.5.2")
        c.expect("NOOP", 250, "2.0.0")


def test_ten_megabyte_command_line(shared_tern):
    """Design rule 15: a 10 MB command line gets one 500 5.5.2, never crashes or stalls the
    connection, and the session still carries a message afterwards."""
    with shared_tern.connect() as c:
        c.ehlo()
        t0 = time.monotonic()
        c.send(b"MAIL FROM:<" + b"A" * (10 * 1024 * 1024) + b"@client.example>\r\n")
        c.expect_reply(500, "5.5.2", "10 MB command line")
        assert c.pending(0.3) == b"", "more than one reply to one long line"
        assert time.monotonic() - t0 < 20
        content = message("after a 10 MB line")
        qid = c.send_message(content)
    assert shared_tern.body_of(qid) == content


def test_text_line_length(shared_tern):
    """RFC 5321 §4.5.3.1.6: a 1000-octet text line (CRLF included) is stored; 1001 octets and a
    1 MB line get 550 5.6.0 at the end of data, nothing is stored, and the next transaction works."""
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        c.ehlo()
        ok = message("1000", b"x" * 998 + b"\r\n")
        qid = c.send_message(ok)
        assert shared_tern.body_of(qid) == ok
        for size in (999, 1024 * 1024):
            c.mail_rcpt_data()
            c.send(data_payload(message(f"{size}", b"y" * size + b"\r\nshort\r\n")))
            c.expect_reply(550, "5.6.0", f"text line of {size + 2} octets")
            shared_tern.assert_tmp_empty()
        assert len(new_since(shared_tern, before)) == 1
        content = message("after long lines")
        qid = c.send_message(content)
    assert shared_tern.body_of(qid) == content


@pytest.mark.parametrize("helo", [b"a\x01b", b"a\x7fb", b"client\x1b[31m.example", b"a\tb", b"x\x00y"])
def test_helo_control_characters(shared_tern, helo):
    """Design rule 13 (RFC 5321 §4.1.1.1, §4.4): EHLO/HELO text with control characters is
    501 5.5.4 and never reaches a Received header."""
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        c.expect(b"EHLO " + helo, 501, "5.5.4")
        c.expect(b"HELO " + helo, 501, "5.5.4")
        c.expect("MAIL FROM:<a@client.example>", 503, "5.5.1")
        c.ehlo("good.example")
        content = message("after bad helo")
        qid = c.send_message(content)
    assert shared_tern.body_of(qid, helo="good.example") == content
    for p in new_since(shared_tern, before):
        assert helo not in p.read_bytes()


def test_helo_address_literal(shared_tern):
    """RFC 5321 §4.1.1.1/§4.1.3: EHLO with an address literal is accepted and reported as given."""
    with shared_tern.connect() as c:
        c.ehlo("[127.0.0.1]")
        content = message("literal")
        qid = c.send_message(content)
    assert shared_tern.body_of(qid, helo="[127.0.0.1]") == content
