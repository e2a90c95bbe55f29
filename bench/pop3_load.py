#!/usr/bin/env python3
"""bench/pop3_load.py — the POP3 rows of bench/pop3, against one server at a time.

    pop3_load.py rows PORT PASS PIDS...        # the measured rows, as CSV lines on stdout

`rows` measures, on maildrops seeded beforehand (the same files for every server):
  retr_messages_per_s   RETR of every message of `bench`'s maildrop (10,000 of 10 KB), one
                        session, one command at a time as poplib sends them
  retr_cpu_us_per_message  the server's CPU time (its processes and their children) per RETR
  start_100k_cold_s     from connecting to the answer of STAT in `big`'s maildrop (100,000
                        messages), the first session after the server started
  start_100k_again_s    the same, once more (what the next download pays)
The sessions end with QUIT and delete nothing, so every server sees the same maildrops. PIDS
are the server's processes (Dovecot's master; its children are found through /proc). Nothing
leaves loopback.
"""

from __future__ import annotations

import os
import poplib
import sys
import time

from imap_load import tree


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes, their live descendants and the children they reaped."""
    ticks = 0
    for pid in tree(pids):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        except OSError:
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def session(port: int, user: str, password: str) -> poplib.POP3:
    pop = poplib.POP3("127.0.0.1", port, timeout=600)
    pop.user(user)
    pop.pass_(password)
    return pop


def rows(port: int, password: str, pids: list[int]) -> None:
    out = []
    for name in ("start_100k_cold_s", "start_100k_again_s"):
        start = time.monotonic()
        pop = session(port, "big@bench.example.test", password)
        count, _ = pop.stat()
        out.append((name, time.monotonic() - start))
        assert count == 100_000, count
        pop.quit()

    pop = session(port, "bench@bench.example.test", password)
    count, _ = pop.stat()
    before_cpu, start = cpu_seconds(pids), time.monotonic()
    for number in range(1, count + 1):
        pop.retr(number)
    elapsed, cpu = time.monotonic() - start, cpu_seconds(pids) - before_cpu
    pop.quit()
    out.append(("retr_messages_per_s", count / elapsed))
    out.append(("retr_cpu_us_per_message", cpu * 1e6 / count))
    for metric, value in out:
        print(f"{metric},{value:.4f}")


if __name__ == "__main__":
    if sys.argv[1] == "rows":
        rows(int(sys.argv[2]), sys.argv[3], [int(p) for p in sys.argv[4:]])
    else:
        raise SystemExit(__doc__)
