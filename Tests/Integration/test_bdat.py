"""CHUNKING and BINARYMIME (RFC 3030): BDAT chunks are counted octets stored verbatim, never
parsed as commands or dot-stuffed text (design rule 12, CVE-2020-28019)."""

from __future__ import annotations

import time

import pytest

from ternlib import SMTPConn


def bdat(c: SMTPConn, chunk: bytes, last: bool = False) -> None:
    c.send(f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk)


def expect_chunk_ok(c: SMTPConn, n: int) -> None:
    r = c.expect_reply(250, "2.0.0", f"BDAT {n}")
    assert f"{n} octets" in r.lines[-1], f"BDAT reply should count {n} octets: {r}"


def begin(c: SMTPConn, params: str = "") -> None:
    c.ehlo()
    c.expect(f"MAIL FROM:<a@client.example>{' ' + params if params else ''}", 250, "2.1.0")
    c.expect("RCPT TO:<rcpt@tern.test>", 250, "2.1.5")


def test_bdat_chunks_verbatim(tern):
    """RFC 3030 §2, §3: several chunks then BDAT LAST; each non-last chunk gets '250 2.0.0 <n>
    octets received'; the stored message is the chunks verbatim (a '.' line means nothing and a
    chunk boundary inside CRLF is fine)."""
    chunks = [b"Subject: chunked\r\n\r\nfirst\r", b"\n.\r\n..not stuffed\r\n", b"QUIT\r\nlast line\r\n"]
    with tern.connect() as c:
        begin(c)
        for ch in chunks[:-1]:
            bdat(c, ch)
            expect_chunk_ok(c, len(ch))
        bdat(c, chunks[-1], last=True)
        qid = c.expect_reply(250, "2.0.0", "BDAT LAST").qid
        c.expect("NOOP", 250, "2.0.0")
    assert tern.body_of(qid) == b"".join(chunks)
    tern.assert_tmp_empty()


def test_bdat_zero_last_and_pipelined(tern):
    """RFC 3030 §2, §4.2: chunks may be pipelined in one write, and 'BDAT 0 LAST' ends the
    message; replies come in order."""
    chunks = [b"Subject: pipelined chunks\r\n", b"\r\n", b"body\r\n"]
    with tern.connect() as c:
        begin(c)
        c.send(b"".join(f"BDAT {len(ch)}\r\n".encode() + ch for ch in chunks) + b"BDAT 0 LAST\r\n")
        for ch in chunks:
            expect_chunk_ok(c, len(ch))
        qid = c.expect_reply(250, "2.0.0", "BDAT 0 LAST").qid
    assert tern.body_of(qid) == b"".join(chunks)


def test_bdat_before_mail_is_consumed(tern):
    """Design rule 12 (CVE-2020-28019): a BDAT chunk outside a transaction gets 503 5.5.1 and its
    octets are consumed, never run as commands (here 'QUIT\\r\\nRSET'); the same before RCPT."""
    with tern.connect() as c:
        c.ehlo()
        c.send(b"BDAT 10\r\nQUIT\r\nRSET")
        c.expect_reply(503, "5.5.1", "BDAT before MAIL")
        assert c.pending(0.3) == b"", "chunk octets were answered as commands"
        c.expect("NOOP", 250, "2.0.0")
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.send(b"BDAT 6\r\nQUIT\r\n")
        c.expect_reply(503, "5.5.1", "BDAT before RCPT")
        assert c.pending(0.3) == b""
        c.expect("NOOP", 250, "2.0.0")
        c.expect("RCPT TO:<rcpt@tern.test>", 250, "2.1.5")
        bdat(c, b"Subject: recovered\r\n\r\nok\r\n", last=True)
        qid = c.expect_reply(250, "2.0.0").qid
    assert tern.body_of(qid) == b"Subject: recovered\r\n\r\nok\r\n"
    assert len(tern.new_files()) == 1


def test_binarymime_verbatim(tern):
    """RFC 3030 §3: BODY=BINARYMIME content (NUL, bare LF, bare CR, 8-bit octets, '.' lines) is stored
    verbatim; DATA is not allowed for BINARYMIME (503 5.5.1)."""
    blob = bytes(range(256)) + b"\n.\n\r.\r\r\n.\r\n\x00\x00\xff\xfe"
    content = (b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: binary\r\n\r\n" + blob)
    with tern.connect() as c:
        begin(c, "BODY=BINARYMIME")
        c.expect("DATA", 503, "5.5.1")
        bdat(c, content[:100])
        expect_chunk_ok(c, 100)
        bdat(c, content[100:], last=True)
        qid = c.expect_reply(250, "2.0.0").qid
    assert tern.body_of(qid) == content


@pytest.mark.parametrize("arg", ["+5", "-1", "0x10", "99999999999999999999999", "", "5 LASTX", "5 LAST extra",
                                 "five", "5x"])
def test_bdat_bad_size_syntax(shared_tern, arg):
    """RFC 3030 §2 (bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ], chunk-size = 1*DIGIT) and
    design rule 11: malformed sizes are 501 5.5.4, consume no octets, and the session recovers."""
    with shared_tern.connect() as c:
        begin(c)
        c.send(f"BDAT {arg}".rstrip().encode() + b"\r\n")
        c.expect_reply(501, "5.5.4", f"BDAT {arg}")
        c.expect("NOOP", 250, "2.0.0")
        c.expect("RSET", 250, "2.0.0")
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<rcpt@tern.test>", 250, "2.1.5")
        bdat(c, b"Subject: ok\r\n\r\nok\r\n", last=True)
        qid = c.expect_reply(250, "2.0.0").qid
    assert shared_tern.body_of(qid) == b"Subject: ok\r\n\r\nok\r\n"


def test_bdat_over_size_limit(tern_factory):
    """RFC 3030 §2 / RFC 1870: chunks adding up past message_size end in 552 5.3.4 once the last
    chunk is read; nothing is stored; after RSET the next transaction works."""
    server = tern_factory.dev(limits={"message_size": 1000})
    with server.connect() as c:
        begin(c)
        bdat(c, (b"x" * 98 + b"\r\n") * 15, last=True)
        c.expect_reply(552, "5.3.4", "BDAT LAST over the limit")
        assert c.pending(0.3) == b""
        c.expect("RSET", 250, "2.0.0")
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<rcpt@tern.test>", 250, "2.1.5")
        c.send(b"BDAT 600\r\n" + (b"y" * 98 + b"\r\n") * 6 + b"BDAT 600 LAST\r\n" + (b"z" * 98 + b"\r\n") * 6)
        first, second = c.replies(2)
        assert first.is_(250, "2.0.0") or first.is_(552, "5.3.4"), first
        assert second.is_(552, "5.3.4"), second
        assert c.pending(0.3) == b""
        assert server.new_files() == []
        server.assert_tmp_empty()
        c.expect("RSET", 250, "2.0.0")
        begin_again = b"Subject: small\r\n\r\nsmall\r\n"
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<rcpt@tern.test>", 250, "2.1.5")
        bdat(c, begin_again, last=True)
        qid = c.expect_reply(250, "2.0.0").qid
    assert server.body_of(qid) == begin_again


def test_data_after_bdat_refused(tern):
    """RFC 3030 §3: DATA cannot follow BDAT in one transaction (503 5.5.1); RSET clears it."""
    with tern.connect() as c:
        begin(c)
        bdat(c, b"Subject: x\r\n")
        expect_chunk_ok(c, 12)
        c.expect("DATA", 503, "5.5.1")
        c.expect("RSET", 250, "2.0.0")
    assert tern.new_files() == []


def test_bdat_every_split(tern):
    """RFC 3030 §2: the same BDAT command + chunk split at every byte boundary across two writes
    always yields the same reply and the same stored octets."""
    chunk = b"Subject: s\r\n\r\n.\r\nx\r\n"
    stream = f"BDAT {len(chunk)} LAST\r\n".encode() + chunk
    qids = []
    with tern.connect() as c:
        c.ehlo()
        for i in range(1, len(stream)):
            c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
            c.expect("RCPT TO:<rcpt@tern.test>", 250, "2.1.5")
            c.send(stream[:i])
            time.sleep(0.01)
            c.send(stream[i:])
            qids.append(c.expect_reply(250, "2.0.0", f"split at {i}").qid)
    assert len(set(qids)) == len(qids)
    for qid in qids:
        assert tern.body_of(qid) == chunk
