#!/usr/bin/python3
"""latency.py — how long an SMTP server takes to answer the end of a message.

usage: latency.py HOST:PORT [--sessions 20] [--messages 2000] [--size 10240] [--rcpt ADDR]

Runs --sessions concurrent SMTP sessions on loopback, each reusing its connection for message
after message (MAIL, RCPT, DATA, body) until --messages have been sent in all. For each message
the clock starts when the body's final CRLF.CRLF has been handed to the socket and stops when the
reply line arrives: the time the server needs to make the message durable and say 250. Prints
one line: `messages=N failed=N p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. msgs_per_s=..`.
"""
import argparse
import asyncio
import time


def body(size):
    line = b"x" * 78 + b"\r\n"
    header = b"From: <sender@client.test>\r\nTo: <bench>\r\nSubject: latency\r\n\r\n"
    text = header + line * max(1, (size - len(header)) // len(line))
    return text + b".\r\n"


async def reply(reader):
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        if line[3:4] != b"-":
            return line


async def session(host, port, rcpt, data, counter, latencies, failures):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await reply(reader)
        writer.write(b"EHLO client.test\r\n")
        await reply(reader)
        while counter[0] > 0:
            counter[0] -= 1
            writer.write(b"MAIL FROM:<sender@client.test>\r\n")
            await reply(reader)
            writer.write(b"RCPT TO:<%s>\r\n" % rcpt.encode())
            if not (await reply(reader)).startswith(b"250"):
                failures[0] += 1
                writer.write(b"RSET\r\n")
                await reply(reader)
                continue
            writer.write(b"DATA\r\n")
            await reply(reader)
            writer.write(data)
            await writer.drain()
            start = time.perf_counter()
            line = await reply(reader)
            if line.startswith(b"250"):
                latencies.append(time.perf_counter() - start)
            else:
                failures[0] += 1
        writer.write(b"QUIT\r\n")
        await reply(reader)
    finally:
        writer.close()


def percentile(values, fraction):
    return values[min(len(values) - 1, int(fraction * len(values)))] * 1000


async def main(args):
    host, port = args.target.rsplit(":", 1)
    host = host.strip("[]")
    assert host in ("127.0.0.1", "::1", "localhost"), "loopback only"
    counter, latencies, failures = [args.messages], [], [0]
    data = body(args.size)
    started = time.perf_counter()
    await asyncio.gather(*(session(host, int(port), args.rcpt, data, counter, latencies, failures)
                           for _ in range(args.sessions)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    if not latencies:
        print("messages=0 failed=%d" % failures[0])
        return
    print("messages=%d failed=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f msgs_per_s=%.1f" % (
        len(latencies), failures[0], percentile(latencies, 0.50), percentile(latencies, 0.90),
        percentile(latencies, 0.99), latencies[-1] * 1000, len(latencies) / elapsed))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--rcpt", default="bench@bench.example.test")
    asyncio.run(main(parser.parse_args()))
