"""Limits and resource exhaustion: SIZE (RFC 1870), recipients (RFC 5321 §4.5.3.1.8), error and
junk limits, connection floods, early talkers, timeouts (RFC 5321 §4.5.3.2) and reply
backpressure (design rules 11, 15-18, 43-44)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ternlib import SMTPConn, data_payload, message


# ---------------------------------------------------------------------------------------------
# SIZE
# ---------------------------------------------------------------------------------------------

def test_size_declared_too_big(tern_factory):
    """RFC 1870 §6.1: EHLO advertises the configured limit; MAIL with SIZE over it is 552 5.3.4;
    SIZE equal to it is accepted."""
    server = tern_factory.dev(limits={"message_size": 100000})
    with server.connect() as c:
        r = c.ehlo()
        assert "SIZE 100000" in r.lines[1:], r
        c.expect("MAIL FROM:<a@client.example> SIZE=100001", 552, "5.3.4")
        c.expect("MAIL FROM:<a@client.example> SIZE=100000", 250, "2.1.0")
        c.expect("RSET", 250, "2.0.0")
        c.expect("MAIL FROM:<a@client.example> SIZE=9223372036854775807", 552, "5.3.4")
    assert server.new_files() == []


@pytest.mark.parametrize("value", ["+5", "-1", "0x10", "99999999999999999999999", "", "1e3", "5.0"])
def test_size_value_syntax(shared_tern, value):
    """RFC 1870 §3 (size-value = 1*20DIGIT) and design rule 11: signs, hex, overlong, empty or
    non-ASCII digits are 501 5.5.4 (never parsed leniently)."""
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        c.ehlo()
        c.expect(f"MAIL FROM:<a@client.example> SIZE={value}".encode(), 501, "5.5.4")
        c.expect("MAIL FROM:<a@client.example> SIZE=0100", 250, "2.1.0")
    assert shared_tern.snapshot() == before


def test_size_non_ascii_digit(shared_tern):
    """Design rule "bytes, not Characters": a Unicode digit (U+FF15) is no SIZE value; it is refused
    (501 5.5.4, or 553 5.6.7 for non-ASCII without SMTPUTF8), never read as 5."""
    with shared_tern.connect() as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<a@client.example> SIZE=\uff15".encode())
        assert r.is_(501, "5.5.4") or r.is_(553, "5.6.7"), r


def test_size_actual_exceeded(tern_factory):
    """RFC 1870 §6.3 and design rule 15: a message bigger than the limit (declared small or not
    declared) is read to its end, then 552 5.3.4; nothing is stored and the next transaction on
    the same connection works."""
    server = tern_factory.dev(limits={"message_size": 100000})
    big = message("too big", (b"z" * 98 + b"\r\n") * 1500)
    assert len(big) > 100000
    with server.connect() as c:
        c.ehlo()
        for params in ("", "SIZE=1000"):
            c.mail_rcpt_data(mail_params=params)
            c.send(data_payload(big))
            c.expect_reply(552, "5.3.4", f"oversize message ({params or 'no SIZE'})")
            assert c.pending(0.3) == b""
            assert server.new_files() == []
            server.assert_tmp_empty()
        content = message("fits")
        qid = c.send_message(content)
    assert server.body_of(qid) == content


# ---------------------------------------------------------------------------------------------
# Recipients
# ---------------------------------------------------------------------------------------------

def test_default_accepts_100_recipients(shared_tern):
    """RFC 5321 §4.5.3.1.8: at least 100 recipients per message are accepted by default."""
    rcpts = [f"r{i}@tern.test" for i in range(100)]
    with shared_tern.connect() as c:
        c.ehlo()
        content = message("hundred")
        qid = c.send_message(content, rcpts=rcpts)
    assert shared_tern.body_of(qid, rcpt=None) == content


def test_too_many_recipients_dev(tern_factory):
    """RFC 5321 §4.5.3.1.10: past limits.recipients RCPT gets 452 4.5.3; the message goes to exactly
    the accepted recipient (Received 'for <first>')."""
    server = tern_factory.dev(limits={"recipients": 1})
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<first@tern.test>", 250, "2.1.5")
        c.expect("RCPT TO:<second@tern.test>", 452, "4.5.3")
        c.expect("DATA", 354)
        content = message("one of two")
        c.send(data_payload(content))
        qid = c.expect_reply(250, "2.0.0").qid
    assert server.body_of(qid, rcpt="first@tern.test") == content
    assert len(server.new_files()) == 1


def test_too_many_recipients_serve_envelope(tern_factory):
    """RFC 5321 §4.5.3.1.10: with limits.recipients = 3, RCPTs 4 and 5 get 452 4.5.3 and the
    spooled envelope lists exactly the three accepted recipients, once."""
    server = tern_factory.serve(limits={"recipients": 3})
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        for i in range(3):
            c.expect(f"RCPT TO:<ok{i}@tern.test>", 250, "2.1.5")
        for i in range(2):
            c.expect(f"RCPT TO:<over{i}@tern.test>", 452, "4.5.3")
        c.expect("DATA", 354)
        content = message("three of five")
        c.send(data_payload(content))
        qid = c.expect_reply(250, "2.0.0").qid
    _, envelope = server.spooled(qid)
    assert [r["address"] for r in envelope["recipients"]] == ["ok0@tern.test", "ok1@tern.test", "ok2@tern.test"]
    assert len([p for p in server.queue_files() if p.suffix == ".eml"]) == 1


def test_pipelined_recipients_past_the_limit_are_not_errors(tern_factory):
    """A client that pipelines 1,100 RCPTs against the default limit of 1,000 (and 20 errors) gets
    100 times 452 4.5.3, no 421, and its message reaches the first 1,000 (Postfix's
    smtpd_recipient_overshoot_limit)."""
    server = tern_factory.serve()
    with server.connect() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<a@client.example>\r\n"
               + b"".join(f"RCPT TO:<r{i}@tern.test>\r\n".encode() for i in range(1100)) + b"DATA\r\n")
        c.expect_reply(250, "2.1.0", "MAIL")
        codes = [c.reply() for _ in range(1100)]
        assert [r.code for r in codes[:1000]] == [250] * 1000
        assert all(r.is_(452, "4.5.3") for r in codes[1000:]), codes[1000:]
        c.expect_reply(354, None, "DATA")
        c.send(data_payload(message("a thousand recipients")))
        qid = c.expect_reply(250, "2.0.0").qid
    _, envelope = server.spooled(qid)
    assert [r["address"] for r in envelope["recipients"]] == [f"r{i}@tern.test" for i in range(1000)]


# ---------------------------------------------------------------------------------------------
# Error and junk limits
# ---------------------------------------------------------------------------------------------

def count_until_421(c: SMTPConn, lines: list[bytes], ok_codes: set[int], limit: int) -> int:
    """Sends `lines` (cycling) one at a time until the server answers 421 4.7.0 and closes;
    returns how many ordinary `ok_code` replies came before it."""
    ordinary = 0
    for i in range(limit + 5):
        line = lines[i % len(lines)]
        c.buf = c.pending(0.05)  # a 421 may come unasked right after the last allowed reply
        if not c.buf:
            c.send(line + b"\r\n")
        r = c.reply()
        if r.code == 421:
            assert r.enhanced == "4.7.0", r
            assert c.read_until_closed() == b""
            return ordinary
        assert r.code in ok_codes, f"{line!r}: {r}"
        ordinary += 1
    raise AssertionError(f"no 421 after {limit + 5} commands {lines!r} (limit {limit})")


def test_error_flood_closes(tern_factory):
    """Design rule 17 (RFC 5321 §4.3.2): past limits.errors bad commands the server answers
    421 4.7.0 and closes; other clients are unaffected."""
    server = tern_factory.dev(limits={"errors": 5})
    with server.connect() as other, server.connect() as c:
        c.ehlo()
        n = count_until_421(c, [b"FROB"], {500}, 5)
        assert n in (5, 6), f"421 after {n} errors, limit 5"
        other.ehlo()
        other.expect("NOOP", 250, "2.0.0")


def test_noop_flood_closes(tern_factory):
    """Design rule 17: more than limits.commands_without_mail commands outside a transaction
    (NOOP, RSET, VRFY, HELP) end in 421 4.7.0 and a close."""
    server = tern_factory.dev(limits={"commands_without_mail": 10})
    with server.connect() as c:
        c.ehlo()
        n = count_until_421(c, [b"NOOP"], {250}, 10)
        assert n in (9, 10), f"421 after {n} NOOPs, limit 10"
    with server.connect() as c:
        c.ehlo()
        n = count_until_421(c, [b"NOOP", b"RSET", b"VRFY x", b"HELP"], {250, 252, 214}, 10)
        assert n in (9, 10), f"421 after {n} NOOP/RSET/VRFY/HELP, limit 10"
    with server.connect() as c:  # a normal session is still fine
        c.ehlo()
        qid = c.send_message(message("after flood"))
    assert server.stored(qid)


def test_connection_flood_per_ip(tern_factory):
    """Design rule 43: past limits.connections_per_ip a new connection gets 421 4.7.0 and is
    closed; the open ones keep working, and after one closes a new one is served again."""
    server = tern_factory.dev(limits={"connections_per_ip": 3})
    conns = [server.connect() for _ in range(3)]
    try:
        for c in conns:
            assert c.greeting.code == 220
        with server.connect(greeting=False) as extra:
            extra.expect_closed_with(421, "4.7.0")
        for c in conns:
            c.expect("NOOP", 250, "2.0.0")
        gone = conns.pop()
        gone.expect("QUIT", 221, "2.0.0")
        gone.close()
        deadline = time.monotonic() + 5
        while True:
            with server.connect(greeting=False) as again:
                r = again.reply()
                if r.code == 220:
                    again.ehlo()
                    break
            assert time.monotonic() < deadline, "a slot freed by QUIT was not reused within 5 s"
            time.sleep(0.1)
    finally:
        for c in conns:
            c.close()


def test_connection_limit_total(tern_factory):
    """Design rule 43: past limits.connections (total) a new connection gets 421 4.7.0."""
    server = tern_factory.dev(limits={"connections": 2, "connections_per_ip": 50})
    with server.connect() as a, server.connect() as b:
        with server.connect(greeting=False) as extra:
            extra.expect_closed_with(421, "4.7.0")
        a.expect("NOOP", 250, "2.0.0")
        b.expect("NOOP", 250, "2.0.0")


# ---------------------------------------------------------------------------------------------
# Early talkers and timeouts
# ---------------------------------------------------------------------------------------------

def test_early_talker_refused(tern_factory):
    """Design rule 3 (RFC 5321 §4.3.1 greeting first): a client that pipelines a whole transaction
    before the delayed 220 gets 554 5.5.1, is closed, and nothing is stored."""
    server = tern_factory.dev(limits={"greeting_delay": "1s"})
    with server.connect(greeting=False) as c:
        c.send(b"EHLO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<b@tern.test>\r\nDATA\r\n"
               b"Subject: early\r\n\r\nearly\r\n.\r\nQUIT\r\n")
        c.expect_closed_with(554, "5.5.1")
    time.sleep(0.3)
    assert server.new_files() == []
    server.assert_tmp_empty()


def test_greeting_delay_polite_client(tern_factory):
    """A client that waits for the delayed 220 is served normally."""
    server = tern_factory.dev(limits={"greeting_delay": "1s"})
    t0 = time.monotonic()
    with server.connect() as c:
        waited = time.monotonic() - t0
        assert c.greeting.code == 220
        assert waited >= 0.8, f"greeting after {waited:.2f} s, delay is 1 s"
        c.ehlo()
        qid = c.send_message(message("patient"))
    assert server.stored(qid)


def test_command_timeout(tern_factory):
    """RFC 5321 §4.5.3.2.7: an idle client gets 421 4.4.2 after command_timeout and is closed."""
    server = tern_factory.dev(limits={"command_timeout": "1s"})
    with server.connect(timeout=10) as c:
        c.ehlo()
        t0 = time.monotonic()
        c.expect_closed_with(421, "4.4.2")
        assert 0.5 < time.monotonic() - t0 < 8


def test_slowloris_command_timeout(tern_factory):
    """Design rule 44: trickling one byte of a command at a time never completes a command, so the
    client is still cut off (421 4.4.2) once command_timeout passes."""
    server = tern_factory.dev(limits={"command_timeout": "1s"})
    with server.connect(timeout=10) as c:
        c.ehlo()
        t0 = time.monotonic()
        got = b""
        for b in b"NOOP" + b"x" * 40:
            try:
                c.send(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                break
            got = c.pending(0.25)
            if got:
                break
        assert got.startswith(b"421 4.4.2"), f"trickling client not cut off after {time.monotonic() - t0:.1f} s: {got!r}"


def test_data_timeout(tern_factory):
    """RFC 5321 §4.5.3.2.6: a stalled DATA transfer gets 421 4.4.2 after data_timeout; nothing is
    stored and tmp/ is cleaned."""
    server = tern_factory.dev(limits={"data_timeout": "1s"})
    with server.connect() as c:
        c.ehlo()
        c.mail_rcpt_data()
        c.send(b"Subject: stalled\r\n\r\nhalf a message")
        c.expect_closed_with(421, "4.4.2")
    time.sleep(0.3)
    assert server.new_files() == []
    server.assert_tmp_empty()


def test_data_phase_uses_data_timeout(tern_factory):
    """RFC 5321 §4.5.3.2.6: inside DATA the data timeout applies, not the (shorter) command timeout:
    a 2.5 s pause mid-message with command_timeout = 1s and data_timeout = 10m is fine."""
    server = tern_factory.dev(limits={"command_timeout": "1s", "data_timeout": "10m"})
    content = message("slow but steady", b"first part\r\n" * 10 + b"second part\r\n" * 10)
    with server.connect() as c:
        c.ehlo()
        c.mail_rcpt_data()
        c.send(content[:100])
        time.sleep(2.5)
        c.send(content[100:] + b".\r\n")
        qid = c.expect_reply(250, "2.0.0", "end of data after a pause").qid
    assert server.body_of(qid) == content


# ---------------------------------------------------------------------------------------------
# Backpressure
# ---------------------------------------------------------------------------------------------

def test_writer_that_never_reads(tern_factory):
    """Design rule 18: a client that pipelines 200k NOOPs without reading its replies cannot make
    Tern unresponsive: another client gets its greeting within 2 s and can send mail."""
    server = tern_factory.dev(limits={"commands_without_mail": 10_000_000, "errors": 10_000_000})
    hog = socket.create_connection((server.host, server.port), timeout=10)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stop = threading.Event()
    sent = [0]

    def flood():
        payload = b"NOOP\r\n" * 200_000
        view = memoryview(payload)
        hog.settimeout(0.5)
        while sent[0] < len(payload) and not stop.is_set():
            try:
                sent[0] += hog.send(view[sent[0]:sent[0] + 65536])
            except socket.timeout:
                continue  # the server pushes back: fine
            except OSError:
                return

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    try:
        time.sleep(1.0)
        for _ in range(3):
            t0 = time.monotonic()
            with SMTPConn(server.host, server.port, timeout=2) as c:
                assert c.greeting.code == 220
                assert time.monotonic() - t0 < 2
                c.timeout = 10  # the greeting is the bound; the rest only has to work
                c.sock.settimeout(10)
                c.ehlo()
                qid = c.send_message(message("while flooded"))
            assert server.stored(qid)
    finally:
        stop.set()
        t.join(5)
        hog.close()


def test_mail_loop_refused_at_max_hops(tern_factory):
    """RFC 5321 §6.3: a message that already carries more Received headers than `max_hops` is in
    a loop and is refused after the data (554 5.4.6); one at the limit is accepted. Our own
    Received header is not counted."""
    server = tern_factory.dev(limits={"max_hops": 25})
    def with_hops(n: int) -> bytes:
        trace = b"".join(b"Received: from hop%d.example by hop%d.example; Sun, 22 Nov 2026 10:00:00 +0000\r\n"
                         % (i, i + 1) for i in range(n))
        return trace + message("looping")
    with server.connect() as c:
        c.ehlo()
        c.mail_rcpt_data()
        c.send(data_payload(with_hops(26)))
        c.expect_reply(554, "5.4.6")
        qid = c.send_message(with_hops(25))
    assert server.stored(qid).count(b"Received:") == 26


# ---------------------------------------------------------------------------------------------
# The process's own limits
# ---------------------------------------------------------------------------------------------

def test_open_file_soft_limit_is_raised_to_the_hard_limit(tmp_path):
    """Started with the usual soft limit (here 256) below its hard limit, Tern raises the soft
    limit itself: a descriptor per client and two per open mailbox would run out long before
    `[limits] connections`."""
    import resource
    import subprocess
    from ternlib import tern_bin
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)
    assert hard > low, f"the hard limit {hard} leaves nothing to raise"
    expected = min(hard, 1_048_576) if hard != resource.RLIM_INFINITY else 1_048_576

    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    proc = subprocess.Popen([str(tern_bin()), "dev", "--smtp", "127.0.0.1:0", "--imap", "off", "--pop3", "off",
                             "--http", "off", "--data", str(tmp_path / "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=lower)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "tern exited before it was ready"
            if line.strip() == "tern: ready":
                break
        limits = open(f"/proc/{proc.pid}/limits").read()
        row = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        assert int(row.split()[3]) == expected, row
    finally:
        proc.terminate()
        proc.wait(timeout=30)
