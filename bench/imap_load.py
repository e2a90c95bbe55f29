#!/usr/bin/env python3
"""bench/imap_load.py — the IMAP rows of bench/imap, against one server at a time.

    imap_load.py seed MAILDIR COUNT SIZE           # a Maildir of COUNT messages of SIZE octets
    imap_load.py rows PORT USER PASS PIDS...       # the measured rows, as CSV lines on stdout

`rows` measures, on a mailbox seeded beforehand (the same files for every server):
  select_100k_s      SELECT of the 100,000-message mailbox `big` (the first, cold)
  select_100k_again_s  the same SELECT again (what a client reconnecting pays)
  rss_after_select_kb  the server's resident memory after it
  anon_after_select_kb  of it, the private memory (RssAnon: not the binaries' shared pages)
  fetch_1000_headers_s FETCH 1:1000 (BODY.PEEK[HEADER]) in the 10,000-message INBOX
  search_10k_s       SEARCH SUBJECT over the 10,000 messages (each message's header read)
  idle_kb_per_session  resident memory per session of 1,000 sessions in IDLE on INBOX
PIDS are the server's processes whose memory counts (Dovecot's master; its children are found
through /proc). Nothing leaves loopback.
"""

from __future__ import annotations

import imaplib
import os
import socket
import sys
import time


def seed(maildir: str, count: int, size: int) -> None:
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    body = ("x" * 75 + "\r\n") * max(1, size // 77)
    base = 1_800_000_000
    for i in range(count):
        text = (f"From: sender{i % 97}@example.test\r\nTo: bench@bench.example.test\r\n"
                f"Subject: message {i} about topic{i % 1000}\r\nDate: Sun, 6 Dec 2026 12:00:00 +0000\r\n"
                f"Message-ID: <{i}@bench.example.test>\r\n\r\n{body}")
        data = text.encode()
        name = f"{base + i}.M{i}P1.bench,S={len(data)}:2,S"
        with open(os.path.join(maildir, "cur", name), "wb") as f:
            f.write(data)


def tree(pids: list[int]) -> list[int]:
    """The processes and all their descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            pass
    found, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def rss_kb(pids: list[int], field: str = "VmRSS") -> int:
    """The processes' resident memory (`VmRSS`), or one part of it (`RssAnon`: private memory,
    without the pages of the binaries and libraries, which the system shares and can drop)."""
    total = 0
    for pid in tree(pids):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def login(port: int, user: str, password: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=600)
    client.login(user, password)
    return client


def timed(action) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def rows(port: int, user: str, password: str, pids: list[int]) -> None:
    out = []
    client = login(port, user, password)
    out.append(("select_100k_s", timed(lambda: client.select("big", readonly=True))))
    client.close()
    out.append(("select_100k_again_s", timed(lambda: client.select("big", readonly=True))))
    out.append(("rss_after_select_kb", rss_kb(pids)))
    out.append(("anon_after_select_kb", rss_kb(pids, "RssAnon")))
    client.close()
    client.select("INBOX", readonly=True)
    out.append(("fetch_1000_headers_s", timed(lambda: client.fetch("1:1000", "(BODY.PEEK[HEADER])"))))
    out.append(("search_10k_s", timed(lambda: client.search(None, "SUBJECT", "topic7"))))
    client.logout()

    sessions = int(os.environ.get("BENCH_IDLE_SESSIONS", "1000"))
    before = rss_kb(pids)
    sockets = []
    for i in range(sessions):
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        f = s.makefile("rb")
        f.readline()
        s.sendall(f'a LOGIN {user} "{password}"\r\nb SELECT INBOX\r\nc IDLE\r\n'.encode())
        while not f.readline().startswith(b"+"):
            pass
        sockets.append((s, f))
    time.sleep(2)
    during = rss_kb(pids)
    out.append(("idle_kb_per_session", (during - before) / sessions))
    for s, _ in sockets:
        s.close()
    for metric, value in out:
        print(f"{metric},{value:.4f}" if isinstance(value, float) else f"{metric},{value}")


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        rows(int(sys.argv[2]), sys.argv[3], sys.argv[4], [int(p) for p in sys.argv[5:]])
