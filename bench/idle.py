#!/usr/bin/python3
"""idle.py — how many idle SMTP connections a server holds, what each costs, and whether the
server still greets newcomers quickly while holding them.

usage: idle.py HOST:PORT --pid PID [--conns 10000] [--hold 10] [--probes 20]

Measures the server's resident memory (RSS of PID and its descendants), opens --conns
connections (500 handshakes at a time), waits for each 220 greeting, measures the memory again
while all are held, then opens --probes new connections one after another and times their
greetings. After --hold seconds every held connection must answer NOOP. Prints one line:
`conns=N greeted=N alive=N rss_idle_kb=.. rss_held_kb=.. kb_per_conn=.. probe_p50_ms=..
probe_max_ms=..`. Loopback only.
"""
import argparse
import asyncio
import os
import resource
import time


def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except OSError:
                pass
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def rss_kb(root):
    total = 0
    for pid in descendants(root):
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


async def greeting(reader):
    line = await reader.readline()
    while line.startswith(b"220-"):
        line = await reader.readline()
    return line.startswith(b"220")


async def open_one(host, port, timeout):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return None
    try:
        if await asyncio.wait_for(greeting(reader), timeout):
            return reader, writer
    except (OSError, asyncio.TimeoutError):
        pass
    writer.close()
    return None


async def still_alive(connection):
    reader, writer = connection
    try:
        writer.write(b"NOOP\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        writer.write(b"QUIT\r\n")
        return line.startswith(b"2")
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        writer.close()


async def main(args):
    host, port = args.target.rsplit(":", 1)
    host, port = host.strip("[]"), int(port)
    assert host in ("127.0.0.1", "::1", "localhost"), "loopback only"
    idle = rss_kb(args.pid)
    held = []
    for start in range(0, args.conns, 500):
        batch = await asyncio.gather(*(open_one(host, port, 30) for _ in range(min(500, args.conns - start))))
        held.extend(c for c in batch if c)
    await asyncio.sleep(1)
    loaded = rss_kb(args.pid)
    probes = []
    for _ in range(args.probes):
        started = time.perf_counter()
        connection = await open_one(host, port, 5)
        probes.append(time.perf_counter() - started if connection else 5.0)
        if connection:
            connection[1].write(b"QUIT\r\n")
            connection[1].close()
    await asyncio.sleep(args.hold)
    alive = 0
    for start in range(0, len(held), 500):
        alive += sum(await asyncio.gather(*(still_alive(c) for c in held[start:start + 500])))
    probes.sort()
    per_conn = (loaded - idle) / len(held) if held else 0
    print("conns=%d greeted=%d alive=%d rss_idle_kb=%d rss_held_kb=%d kb_per_conn=%.1f "
          "probe_p50_ms=%.1f probe_max_ms=%.1f" % (
              args.conns, len(held), alive, idle, loaded, per_conn,
              probes[len(probes) // 2] * 1000, probes[-1] * 1000))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--conns", type=int, default=10000)
    parser.add_argument("--hold", type=float, default=10)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.conns + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.conns + 100), hard))
    asyncio.run(main(args))
