"""Durability (design rules 30-32, RFC 5321 §6.1 "250 means the message is safe"): kill -9 while
messages stream in loses nothing that was acknowledged, duplicates nothing, stores no partial
message, and leaves no temporary file after the restart."""

from __future__ import annotations

import os
import random
import re
import smtplib
import threading
import time

from ternlib import message, split_received, check_received


def test_kill9_keeps_every_acknowledged_message(tern_factory):
    """Two clients send messages in a loop; tern is SIGKILLed after ~3 s, one client being in the
    middle of DATA. After a restart on the same data dir every QID that got a 250 is in new/
    exactly once and byte-exact, every stored file is a whole message, and tmp/ is empty."""
    server = tern_factory.dev()
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
                        s.rcpt("rcpt@tern.test")
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
        mid.mail_rcpt_data()
        mid.send(partial)
        time.sleep(3)
        server.kill()
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acked) >= 3, f"only {len(acked)} messages acknowledged in 3 s: the test proves nothing"

    restarted = tern_factory.dev(data_dir=server.data_dir)
    time.sleep(0.5)
    restarted.assert_tmp_empty()
    files = restarted.new_files()
    for qid, content in acked.items():
        hits = [p for p in files if qid in p.name]
        assert len(hits) == 1, f"acknowledged {qid}: {len(hits)} files in new/"
        received, rest = split_received(hits[0].read_bytes())
        check_received(received, helo="client.example", proto="ESMTP", qid=qid, rcpt="rcpt@tern.test")
        assert rest == content, f"acknowledged {qid} not stored byte-exact"
    extras = [p for p in files if not any(q in p.name for q in acked)]
    assert len(extras) <= len(threads), f"unacknowledged messages stored: {extras}"
    for p in extras:
        rest = split_received(p.read_bytes())[1]
        assert rest in sent, f"{p} is not a whole message that was sent (partial write?)"
    for p in files:
        assert b"never finished" not in p.read_bytes()[:2000], f"the message killed mid-DATA was stored: {p}"
    # The restarted server works.
    with restarted.connect() as c:
        c.ehlo()
        content = message("after the crash")
        qid = c.send_message(content)
    assert restarted.body_of(qid) == content
