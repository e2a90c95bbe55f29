"""Graceful shutdown (design rule 34, RFC 5321 §3.8): on SIGTERM/SIGINT Tern stops accepting,
lets sessions in DATA finish within limits.shutdown_grace, answers every other session
'421 4.3.2 <hostname> Service shutting down', closes them, and exits 0."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from ternlib import HOSTNAME, SMTPConn, mail_config, message


def expect_shutdown_421(c: SMTPConn) -> None:
    r = c.expect_closed_with(421, "4.3.2")
    assert HOSTNAME in r.lines[-1], f"421 should name the host: {r}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_closes_idle_sessions(tern_factory, sig):
    """An idle session and one inside a transaction (after MAIL) both read 421 4.3.2 and are
    closed; nothing is stored; the process exits 0 and accepts no new connections."""
    server = tern_factory.dev()
    with server.connect() as idle, server.connect() as busy:
        idle.ehlo()
        busy.ehlo()
        busy.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        t0 = time.monotonic()
        server.proc.send_signal(sig)
        expect_shutdown_421(idle)
        expect_shutdown_421(busy)
        assert time.monotonic() - t0 < 5, "idle sessions must be closed at once, not after the grace"
    rc = server.stop(timeout=15)
    assert rc == 0, f"exit status {rc} after {sig.name}\n{server.logs()}"
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=2).close()
    assert server.new_files() == []
    server.assert_tmp_empty()


def test_sigterm_lets_data_finish(tern_factory):
    """A session in DATA may finish within shutdown_grace: its message gets 250 and is stored, then
    it gets 421 4.3.2; meanwhile an idle session is closed at once; exit status 0."""
    server = tern_factory.dev(limits={"shutdown_grace": "15s"})
    content = message("finishing during shutdown", b"first half\r\n" * 100 + b"second half\r\n" * 100)
    half = len(content) // 2
    with server.connect() as idle, server.connect() as data:
        idle.ehlo()
        data.ehlo()
        data.mail_rcpt_data()
        data.send(content[:half])
        time.sleep(0.2)
        server.proc.send_signal(signal.SIGTERM)
        expect_shutdown_421(idle)
        time.sleep(0.5)
        data.send(content[half:] + b".\r\n")
        qid = data.expect_reply(250, "2.0.0", "end of data during shutdown").qid
        pending = data.pending(0.5)
        if not pending:
            try:
                data.send(b"NOOP\r\n")
            except OSError:
                pass
        data.buf = pending
        expect_shutdown_421(data)
    rc = server.stop(timeout=15)
    assert rc == 0, f"exit status {rc}\n{server.logs()}"
    assert server.body_of(qid) == content
    server.assert_tmp_empty()


def test_sigterm_grace_expires(tern_factory):
    """A DATA transfer that does not finish within shutdown_grace is cut off: the connection is
    closed (with 421 4.3.2 if anything), nothing is stored, tmp/ is clean, exit status 0."""
    server = tern_factory.dev(limits={"shutdown_grace": "1s"})
    with server.connect() as c:
        c.ehlo()
        c.mail_rcpt_data()
        c.send(b"Subject: slow\r\n\r\nnever ends\r\n")
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        rest = c.read_until_closed(10)
        assert rest == b"" or rest.startswith(b"421 4.3.2"), rest
        assert time.monotonic() - t0 < 8, "grace of 1 s not enforced"
    rc = server.stop(timeout=15)
    assert rc == 0, f"exit status {rc}\n{server.logs()}"
    assert server.new_files() == []
    server.assert_tmp_empty()


def test_sigterm_leaves_the_journal_with_nothing_to_replay(tern_factory):
    """Serve mode, [storage] sync = "filesystem": messages for one local mailbox are acknowledged
    from the journal. On SIGTERM the last checkpoint makes their Maildir files durable and retires
    them, so the next start replays nothing and every message is in the mailbox once."""
    config = mail_config(catch_all_to="bob@example.test") + '\n[storage]\nsync = "filesystem"\n'
    server = tern_factory.serve(config_extra=config)
    qids = []
    with server.connect() as c:
        c.ehlo()
        for i in range(20):
            qids.append(c.send_message(message(f"journaled {i}"), rcpts=["alice@example.test"]))
    rc = server.stop(timeout=15)
    assert rc == 0, f"exit status {rc}\n{server.logs()}"
    assert "journal checkpoint failed" not in server.stderr_text(), server.logs()
    restarted = tern_factory.serve(config_extra=config, data_dir=server.data_dir)
    with restarted.connect() as c:
        c.ehlo()
    assert "from the journal" not in restarted.stderr_text(), restarted.logs()
    new = restarted.data_dir / "mailboxes" / "example.test" / "alice" / "new"
    names = [p.name for p in new.iterdir()]
    for qid in qids:
        assert len([n for n in names if qid in n]) == 1, qid
