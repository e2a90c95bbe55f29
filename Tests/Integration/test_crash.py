"""Durability (design rules 30-32, RFC 5321 §6.1 "250 means the message is safe"): kill -9 while
messages stream in loses nothing that was acknowledged, duplicates nothing, stores no partial
message, and leaves no temporary file after the restart. Both ways of syncing ([storage] sync)
are run, in dev mode (the catcher's Maildir) and in serve mode (a local mailbox, written directly
or through the queue)."""

from __future__ import annotations

import os
import random
import re
import smtplib
import threading
import time
from pathlib import Path

import pytest

from ternlib import check_received, mail_config, message, split_received

SYNC_MODES = ["file", "filesystem"]


def storage(mode: str) -> str:
    return f'\n[storage]\nsync = "{mode}"\n'


def crash_while_receiving(server, rcpt: str) -> tuple[dict[str, bytes], set[bytes]]:
    """Two clients send messages to `rcpt` in a loop while a third sits in the middle of DATA;
    tern is SIGKILLed after ~3 s. Returns the acknowledged messages by QID, and all sent."""
    acked: dict[str, bytes] = {}
    sent: set[bytes] = set()
    lock = threading.Lock()
    stop = threading.Event()
    rng = random.Random(1234)

    def sender(tag: str) -> None:
        n = 0
        while not stop.is_set():
            try:
                with smtplib.SMTP(server.host, server.port, local_hostname="client.example", timeout=10) as s:
                    s.ehlo()
                    while not stop.is_set():
                        n += 1
                        with lock:
                            lines = rng.randint(1, 3000)
                        body = b"".join(f"{tag} {n} line {i} {os.urandom(8).hex()}\r\n".encode() for i in range(lines))
                        content = message(f"crash {tag} {n}", body)
                        with lock:
                            sent.add(content)
                        s.mail("sender@client.example")
                        s.rcpt(rcpt)
                        code, resp = s.data(content)
                        if code == 250:
                            qid = re.search(rb"queued as ([0-9A-Z]{16})", resp).group(1).decode()
                            with lock:
                                acked[qid] = content
            except (smtplib.SMTPException, OSError):
                time.sleep(0.05)

    threads = [threading.Thread(target=sender, args=(t,), daemon=True) for t in ("A", "B")]
    for t in threads:
        t.start()
    partial = b"Subject: never finished\r\n\r\n" + b"partial line\r\n" * 20000
    with server.connect() as mid:
        mid.ehlo()
        mid.mail_rcpt_data(rcpts=[rcpt])
        mid.send(partial)
        time.sleep(3)
        server.kill()
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acked) >= 3, f"only {len(acked)} messages acknowledged in 3 s: the test proves nothing"
    return acked, sent


def check_stored(files: list[Path], acked: dict[str, bytes], sent: set[bytes], *, rcpt: str,
                 hostname: str, prefix: bytes = b"") -> None:
    """Every acknowledged QID is stored exactly once and byte-exact; anything else stored is a
    whole message that was sent (acknowledged or not: the kill can fall between the sync and the
    250), never the one killed mid-DATA."""
    for qid, content in acked.items():
        hits = [p for p in files if qid in p.name]
        assert len(hits) == 1, f"acknowledged {qid}: {len(hits)} files in new/"
        data = hits[0].read_bytes()
        assert data.startswith(prefix), f"{hits[0]} lacks the delivery header lines"
        received, rest = split_received(data[len(prefix):])
        check_received(received, helo="client.example", proto="ESMTP", qid=qid, rcpt=rcpt, hostname=hostname)
        assert rest == content, f"acknowledged {qid} not stored byte-exact"
    extras = [p for p in files if not any(q in p.name for q in acked)]
    assert len(extras) <= 2, f"unacknowledged messages stored: {extras}"
    for p in extras:
        rest = split_received(p.read_bytes()[len(prefix):])[1]
        assert rest in sent, f"{p} is not a whole message that was sent (partial write?)"
    for p in files:
        assert b"never finished" not in p.read_bytes()[:2000], f"the message killed mid-DATA was stored: {p}"


@pytest.mark.parametrize("mode", SYNC_MODES)
def test_kill9_keeps_every_acknowledged_message(tern_factory, mode):
    """Dev mode: after a restart on the same data dir every QID that got a 250 is in new/ exactly
    once and byte-exact, every stored file is a whole message, and tmp/ is empty."""
    server = tern_factory.dev(config_extra=storage(mode))
    acked, sent = crash_while_receiving(server, "rcpt@tern.test")

    restarted = tern_factory.dev(data_dir=server.data_dir, config_extra=storage(mode))
    time.sleep(0.5)
    restarted.assert_tmp_empty()
    check_stored(restarted.new_files(), acked, sent, rcpt="rcpt@tern.test", hostname=restarted.hostname)
    # The restarted server works.
    with restarted.connect() as c:
        c.ehlo()
        content = message("after the crash")
        qid = c.send_message(content)
    assert restarted.body_of(qid) == content


@pytest.mark.parametrize("mode", SYNC_MODES)
def test_kill9_in_serve_mode_keeps_every_acknowledged_delivery(tern_factory, mode):
    """Serve mode, one local mailbox: the first message goes through the queue, the rest straight
    into the Maildir. After kill -9 and a restart, whatever was still queued is delivered, and
    every acknowledged QID is in the mailbox exactly once, whole, with its delivery header; the
    UID list numbers every message."""
    config = mail_config(catch_all_to="bob@example.test") + storage(mode)
    server = tern_factory.serve(config_extra=config)
    acked, sent = crash_while_receiving(server, "alice@example.test")

    restarted = tern_factory.serve(config_extra=config, data_dir=server.data_dir)
    box = restarted.data_dir / "mailboxes" / "example.test" / "alice"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any((restarted.data_dir / "spool" / "queue").iterdir()):
        time.sleep(0.05)
    assert not any((restarted.data_dir / "spool" / "queue").iterdir()), "the queue did not empty"
    files = sorted(p for p in (box / "new").iterdir())
    prefix = b"Return-Path: <sender@client.example>\r\nDelivered-To: alice@example.test\r\n"
    check_stored(files, acked, sent, rcpt="alice@example.test", hostname=restarted.hostname, prefix=prefix)
    # One more delivery opens the mailbox (unless a queued one did): that numbers whatever the
    # crash left unnumbered and clears what it left in tmp/.
    with restarted.connect() as c:
        c.ehlo()
        qid = c.send_message(message("after the crash"), rcpts=["alice@example.test"])
    deadline = time.monotonic() + 10
    keys = []
    while time.monotonic() < deadline:
        lines = (box / "tern-uidlist").read_text().splitlines()[1:]
        keys = [line.split(" ", 1)[1] for line in lines]
        if any(qid in k for k in keys):
            break
        time.sleep(0.05)
    stored = sorted(p.name.split(",")[0] for p in (box / "new").iterdir())
    assert sorted(keys) == stored, "the UID list does not number every message in the mailbox"
    assert not list((box / "tmp").iterdir())
