"""PIPELINING (RFC 2920) and framing: replies come in order whatever the grouping, and a
transaction split at any byte boundary behaves exactly like one sent in one piece."""

from __future__ import annotations

import time

import pytest

from ternlib import SMTPConn, data_payload, message

COMMANDS = b"EHLO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<r1@tern.test>\r\nDATA\r\n"
CONTENT = b"Subject: split\r\n\r\nline\r\n.dot\r\n"
BODY = b"Subject: split\r\n\r\nline\r\n..dot\r\n.\r\nQUIT\r\n"
EXPECTED = [(250, None), (250, "2.1.0"), (250, "2.1.5"), (354, None), (250, "2.0.0"), (221, "2.0.0")]


def test_rfc2920_group_in_one_write(tern):
    """RFC 2920 §3.1: MAIL, RCPT, RCPT, DATA sent in one write get their replies in order; the end of
    data pipelined with the next transaction's MAIL/RCPT/DATA and QUIT works too."""
    first, second = message("first"), message("second")
    with tern.connect() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<a@client.example>\r\nRCPT TO:<r1@tern.test>\r\nRCPT TO:<r2@tern.test>\r\nDATA\r\n")
        c.expect_reply(250, "2.1.0", "MAIL")
        c.expect_reply(250, "2.1.5", "RCPT 1")
        c.expect_reply(250, "2.1.5", "RCPT 2")
        c.expect_reply(354, None, "DATA")
        c.send(first + b".\r\nMAIL FROM:<b@client.example>\r\nRCPT TO:<bad address>\r\nRCPT TO:<r3@tern.test>\r\n"
               b"DATA\r\n")
        q1 = c.expect_reply(250, "2.0.0", "end of data").qid
        c.expect_reply(250, "2.1.0", "MAIL")
        r = c.reply()
        assert r.code == 501, f"RCPT TO:<bad address>: {r}"
        c.expect_reply(250, "2.1.5", "RCPT 3")
        c.expect_reply(354, None, "DATA")
        c.send(second + b".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        q2 = c.expect_reply(250, "2.0.0", "end of data").qid
        c.expect_reply(250, "2.0.0", "RSET")
        c.expect_reply(250, "2.0.0", "NOOP")
        c.expect_reply(221, "2.0.0", "QUIT")
        assert c.read_until_closed() == b""
    assert tern.body_of(q1, rcpt=None) == first
    assert tern.body_of(q2, rcpt="r3@tern.test") == second


def transcript(server, chunks: list[bytes], pause: float) -> tuple[list[tuple[int, str | None]], str]:
    """Sends COMMANDS (as `chunks` of it), reads 4 replies, sends BODY, reads 2; returns replies+QID."""
    out = []
    with server.connect() as c:
        for ch in chunks:
            c.send(ch)
            if pause:
                time.sleep(pause)
        for i in range(4):
            r = c.reply()
            out.append((r.code, None if i in (0, 3) else r.enhanced))
        return out, _finish(c, out)


def _finish(c: SMTPConn, out: list) -> str:
    c.send(BODY)
    r = c.reply()
    out.append((r.code, r.enhanced))
    qid = r.qid if r.code == 250 else None
    r = c.reply()
    out.append((r.code, r.enhanced))
    assert c.read_until_closed() == b""
    return qid


def test_one_byte_at_a_time(tern):
    """RFC 5321 §2.3.8 / design rule 'frame as bytes': the whole transaction sent one byte per
    write gets the same replies and stores the same octets as one sent in one write."""
    whole, q_whole = transcript(tern, [COMMANDS], 0)
    assert whole == EXPECTED, whole
    with tern.connect() as c:
        c.send_bytewise(COMMANDS)
        out = []
        for i in range(4):
            r = c.reply()
            out.append((r.code, None if i in (0, 3) else r.enhanced))
        c.send_bytewise(BODY[:-6])  # the body byte by byte, QUIT normally
        r = c.reply()
        out.append((r.code, r.enhanced))
        q_bytes = r.qid
        c.send(b"QUIT\r\n")
        r = c.reply()
        out.append((r.code, r.enhanced))
    assert out == EXPECTED, out
    assert tern.body_of(q_whole, rcpt="r1@tern.test") == CONTENT
    assert tern.body_of(q_bytes, rcpt="r1@tern.test") == CONTENT


def test_every_split(tern):
    """Every two-write split of the command group and of the message (including inside CRLF and
    inside the final CRLF.CRLF) gives the expected replies and the same stored octets."""
    qids = []
    for i in range(1, len(COMMANDS)):
        out, qid = transcript(tern, [COMMANDS[:i], COMMANDS[i:]], 0.005)
        assert out == EXPECTED, f"commands split at {i} ({COMMANDS[:i][-8:]!r}|{COMMANDS[i:][:8]!r}): {out}"
        qids.append(qid)
    body_only = BODY[:-6]
    for i in range(1, len(body_only)):
        with tern.connect() as c:
            c.send(COMMANDS)
            c.replies(4)
            c.send(body_only[:i])
            time.sleep(0.005)
            c.send(body_only[i:])
            r = c.expect_reply(250, "2.0.0", f"body split at {i} ({body_only[:i][-8:]!r}|{body_only[i:][:8]!r})")
            qids.append(r.qid)
            c.expect("QUIT", 221, "2.0.0")
    assert len(set(qids)) == len(qids)
    for qid in qids:
        assert tern.body_of(qid, rcpt="r1@tern.test") == CONTENT
    assert len(tern.new_files()) == len(qids)
    tern.assert_tmp_empty()


def test_nothing_after_quit(tern):
    """RFC 5321 §4.1.1.10: after '221' the server closes; commands pipelined after QUIT are never
    answered, and a transaction left open at QUIT is not stored."""
    with tern.connect() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<a@client.example>\r\nRCPT TO:<r@tern.test>\r\nQUIT\r\nNOOP\r\nRSET\r\n")
        c.expect_reply(250, "2.1.0", "MAIL")
        c.expect_reply(250, "2.1.5", "RCPT")
        c.expect_reply(221, "2.0.0", "QUIT")
        assert c.read_until_closed() == b"", "replies after 221"
    assert tern.new_files() == []
    tern.assert_tmp_empty()


@pytest.mark.parametrize("greeting", [b"EHLO client.example", b"HELO client.example"])
def test_serve_mx_refuses_commands_pipelined_after_the_greeting(tern_factory, greeting):
    """Serve mode, mx listener (Postfix's smtpd_forbid_unauth_pipelining): EHLO or HELO followed in
    the same write by MAIL gets its 250 and then 554 5.5.0 and the close; nothing is stored. A
    client that waits for the EHLO reply may pipeline the rest."""
    server = tern_factory.serve()
    with server.connect() as c:
        c.send(greeting + b"\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<b@tern.test>\r\nDATA\r\n")
        c.expect_reply(250, None, "greeting")
        c.expect_closed_with(554, "5.5.0")
    assert server.queue_files() == []
    with server.connect() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@tern.test>\r\nDATA\r\n")
        c.expect_reply(250, "2.1.0", "MAIL")
        c.expect_reply(250, "2.1.5", "RCPT")
        c.expect_reply(354, None, "DATA")
        c.send(data_payload(message("polite")))
        c.expect_reply(250, "2.0.0", "end of data")
