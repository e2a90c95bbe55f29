"""Faults of the machine rather than the client (hostile-inputs 30-35): a full disk gets 452 4.3.1,
never a 250 without the data, and Tern recovers when space returns; a read-only data directory is
a clear start-up error; SIGTERM with fifty sessions in the middle of DATA keeps every message
that got its 250; an unreachable DNS server defers mail, never bounces it.

The disk faults use a small tmpfs mounted by the test (root only: scripts/test runs as root in CI)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ternlib import SMTPConn, data_payload, mail_config, make_config, message, tern_bin


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A tmpfs of `size` at `path` for the duration of the block."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the fault tests need root to mount a tmpfs (scripts/test runs as root in CI)")
        pytest.skip("needs root to mount a tmpfs")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path, leave: int) -> Path:
    """Writes a file that leaves about `leave` octets free on the file system of `directory`."""
    filler = directory / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb") as f:
        try:
            while shutil.disk_usage(directory).free > leave + len(chunk):
                f.write(chunk)
                f.flush()
            rest = shutil.disk_usage(directory).free - leave
            if rest > 0:
                f.write(b"\0" * rest)
                f.flush()
        except OSError:
            pass
    return filler


def big_message(subject: str, kib: int = 100) -> bytes:
    return message(subject, (b"0123456789" * 7 + b"\r\n") * (kib * 1024 // 72))


def send_once(server, content: bytes, rcpts=("rcpt@tern.test",)):
    """One transaction on a new connection; the reply to the end of data."""
    with server.connect() as c:
        c.ehlo()
        c.mail_rcpt_data(rcpts=list(rcpts))
        c.send(data_payload(content))
        return c.reply()


def test_full_disk_is_a_temporary_failure_and_recovers(tern_factory, tmp_path):
    """Dev mode on a full disk: messages get 452 4.3.1 (never 250 without their data), every 250
    stored whole; once space returns, the next message is stored; the process never stops."""
    with tmpfs(tmp_path / "disk", "24m") as disk:
        server = tern_factory.dev(data_dir=disk / "data")
        filler = fill(disk, leave=300 * 1024)
        acked: dict[str, bytes] = {}
        refusal = None
        for n in range(12):
            content = big_message(f"fill {n}")
            r = send_once(server, content)
            if r.code == 250:
                acked[r.qid] = content
            else:
                refusal = r
                break
        assert refusal is not None, "the disk never filled up"
        assert refusal.is_(452, "4.3.1"), f"full disk: expected 452 4.3.1, got {refusal}"
        for qid, content in acked.items():
            assert server.body_of(qid) == content, f"{qid} got 250 but is not stored whole"
        # Still full: still refused, and the server still answers.
        assert send_once(server, big_message("still full")).is_(452, "4.3.1")
        filler.unlink()
        content = big_message("space again")
        r = send_once(server, content)
        assert r.code == 250, f"after space returned: {r}"
        assert server.body_of(r.qid) == content
        server.stop()
        server.expect_exit = True


def test_full_disk_in_serve_mode_keeps_what_the_journal_acknowledged(tern_factory, tmp_path):
    """Serve mode, disk full: a message for a remote address (through the spool) gets 452 4.3.1; one
    for a local mailbox may be acknowledged from the journal's preallocated space, and then must
    reach the Maildir once space returns."""
    with tmpfs(tmp_path / "disk", "160m") as disk:
        config = mail_config(catch_all_to="bob@example.test", relay_networks="127.0.0.0/8")
        server = tern_factory.serve(config_extra=config, data_dir=disk / "data")
        filler = fill(disk, leave=64 * 1024)
        refused = send_once(server, big_message("to the world"), rcpts=["someone@remote.test"])
        assert refused.is_(452, "4.3.1"), f"spooled message on a full disk: {refused}"
        local = big_message("for alice", kib=20)
        r = send_once(server, local, rcpts=["alice@example.test"])
        assert r.code in (250, 452), r
        filler.unlink()
        box = server.data_dir / "mailboxes" / "example.test" / "alice" / "new"
        if r.code == 250:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (box.is_dir() and any(box.iterdir())):
                time.sleep(0.1)
            [stored] = list(box.iterdir())
            assert stored.read_bytes().endswith(local), "the acknowledged message is not whole in the Maildir"
        after = send_once(server, big_message("space again"), rcpts=["someone@remote.test"])
        assert after.code == 250, after
        server.stop()
        server.expect_exit = True


@pytest.mark.parametrize("mode", ["dev", "serve"])
def test_read_only_data_directory_is_a_clear_error(tmp_path, mode):
    """A data directory on a read-only file system: tern exits 1 with a message naming it, never a
    crash (a signal) and never 'ready'."""
    with tmpfs(tmp_path / "ro", "4m") as ro:
        (ro / "data").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        if mode == "dev":
            argv = ["dev", "--smtp", "127.0.0.1:0", "--http", "off", "--data", str(ro / "data")]
        else:
            cfg = make_config(tmp_path / "tern.toml", data_dir=ro / "data",
                              listeners=[{"address": "127.0.0.1", "port": 0, "role": "mx"}])
            argv = ["serve", "--config", str(cfg)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TERN_")}
        p = subprocess.run([str(tern_bin()), *argv], capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
                           env=env, cwd=tmp_path)
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        assert p.returncode == 1, f"exit status {p.returncode}\n{out}"
        assert "tern: ready" not in out
        assert f"data_dir: cannot write to {ro / 'data'}: the file system is read-only" in out, out


def test_sigterm_with_fifty_sessions_in_data_keeps_every_acknowledged_message(tern_factory):
    """Fifty clients are in the middle of DATA when SIGTERM arrives; each then sends the rest. Every
    message that got a 250 is stored once and whole; the others got 421 or a closed connection;
    the process exits 0 and a restart leaves tmp/ empty."""
    server = tern_factory.dev(limits={"shutdown_grace": "3s", "connections_per_ip": 100})
    contents = {n: big_message(f"shutdown {n}", kib=40) for n in range(50)}
    halves: dict[int, SMTPConn] = {}
    for n, content in contents.items():
        c = server.connect()
        c.ehlo()
        c.mail_rcpt_data()
        c.send(data_payload(content)[: len(content) // 2])
        halves[n] = c
    results: dict[int, object] = {}

    def finish(n: int, c: SMTPConn) -> None:
        try:
            c.send(data_payload(contents[n])[len(contents[n]) // 2:])
            results[n] = c.reply()
        except (OSError, AssertionError) as error:
            results[n] = error
        finally:
            c.close()

    server.proc.send_signal(signal.SIGTERM)
    threads = [threading.Thread(target=finish, args=item) for item in halves.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    rc = server.stop(timeout=20)
    assert rc == 0, server.logs()
    acked = {r.qid: contents[n] for n, r in results.items() if getattr(r, "code", None) == 250}
    for n, r in results.items():
        code = getattr(r, "code", None)
        assert code in (250, 421, None), f"session {n}: {r}"
    restarted = tern_factory.dev(data_dir=server.data_dir)
    restarted.assert_tmp_empty()
    for qid, content in acked.items():
        assert restarted.body_of(qid) == content
    stored = [p for p in restarted.new_files()]
    assert len(stored) >= len(acked)


def test_unreachable_dns_defers_and_never_bounces(tern_factory):
    """No DNS server answers (127.0.0.1:9): mail for a remote domain stays queued as deferred with a
    4.4.3 reply, and the sender gets no report."""
    config = mail_config(catch_all_to="bob@example.test", relay_networks="127.0.0.0/8")
    server = tern_factory.serve(config_extra=config)
    with server.connect() as c:
        c.ehlo()
        qid = c.send_message(message("to nowhere yet"), mail_from="bob@example.test", rcpts=["user@remote.test"])
    path = server.queue_dir / f"{qid}.json"
    deadline = time.monotonic() + 15
    record = json.loads(path.read_text())
    while time.monotonic() < deadline and record["deliveries"][0]["status"] != "deferred":
        time.sleep(0.1)
        record = json.loads(path.read_text())
    delivery = record["deliveries"][0]
    assert delivery["status"] == "deferred", record
    assert delivery["last_reply"].startswith("451 4.4.3"), delivery
    time.sleep(1)
    box = server.data_dir / "mailboxes" / "example.test" / "bob" / "new"
    assert not box.exists() or not any(box.iterdir()), "a DNS failure must not bounce"
