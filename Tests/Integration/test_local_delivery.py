"""Local delivery in serve mode (the MDA): mail for a local user goes through the durable queue
into that user's Maildir, with Return-Path and Delivered-To (RFC 5321 §4.4) in front of the
message exactly as it was accepted; aliases, catch-alls and +tags reach the right mailboxes,
each once; the queue empties; a restart resumes what was queued."""

from __future__ import annotations

import json
import mailbox
import time
from pathlib import Path

import subprocess

from ternlib import mail_config, message, split_received, tern_bin, wait_for_files

MAIL = mail_config(catch_all_to="bob@example.test")
# Loopback as a relay network: the tests' client is trusted, so its local sender gets reports.
TRUSTED_MAIL = mail_config(catch_all_to="bob@example.test", relay_networks="127.0.0.0/8")


def maildir_of(server, user: str, domain: str = "example.test") -> Path:
    return server.data_dir / "mailboxes" / domain / user


def block_alice(server) -> Path:
    """Makes every delivery to alice fail temporarily: her Maildir's path is a file, so its mkdir
    fails. Returns the file (unlink it to let deliveries through)."""
    blocker = maildir_of(server, "alice")
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory")
    return blocker


def queue_is_empty(server, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    queue = server.data_dir / "spool" / "queue"
    while time.monotonic() < deadline:
        if not any(queue.iterdir()):
            return True
        time.sleep(0.05)
    return False


def test_delivery_to_local_mailbox(tern_factory):
    """A message to alice lands in her Maildir: Return-Path and Delivered-To, then our Received,
    then the message byte for byte; the spool is emptied; Python's mailbox.Maildir reads it."""
    server = tern_factory.serve(config_extra=MAIL)
    content = message("for alice")
    with server.connect() as c:
        c.ehlo()
        qid = c.send_message(content, mail_from="sender@client.example", rcpts=["alice@example.test"])
    [path] = wait_for_files(maildir_of(server, "alice"), 1)
    assert qid in path.name
    data = path.read_bytes()
    assert data.startswith(b"Return-Path: <sender@client.example>\r\nDelivered-To: alice@example.test\r\n")
    received, rest = split_received(data[data.index(b"Received:"):])
    assert rest == content
    assert queue_is_empty(server)
    box = mailbox.Maildir(str(maildir_of(server, "alice")), create=False)
    [msg] = list(box)
    assert msg["Subject"] == "for alice"
    assert msg["Return-Path"] == "<sender@client.example>"


def test_aliases_catch_all_and_tags_deliver_once_each(tern_factory):
    """team@ (alice and bob), alice+news@ and anyone@other.test (catch-all to bob) in one
    transaction: alice gets one copy, bob gets one copy (expansion is per destination)."""
    server = tern_factory.serve(config_extra=MAIL)
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("to everyone"),
                       rcpts=["team@example.test", "alice+news@example.test", "anyone@other.test"])
    alice = wait_for_files(maildir_of(server, "alice"), 1)
    bob = wait_for_files(maildir_of(server, "bob"), 1)
    time.sleep(0.5)
    assert len(list((maildir_of(server, "alice") / "new").glob("*"))) == 1
    assert len(list((maildir_of(server, "bob") / "new").glob("*"))) == 1
    assert b"Delivered-To: alice@example.test\r\n" in alice[0].read_bytes()[:300]
    assert b"Delivered-To: bob@example.test\r\n" in bob[0].read_bytes()[:300]
    assert queue_is_empty(server)


def test_null_sender_return_path(tern_factory):
    """A bounce (MAIL FROM:<>) is delivered with `Return-Path: <>`."""
    server = tern_factory.serve(config_extra=MAIL)
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("bounce"), mail_from="", rcpts=["bob@example.test"])
    [path] = wait_for_files(maildir_of(server, "bob"), 1)
    assert path.read_bytes().startswith(b"Return-Path: <>\r\n")


def test_deferred_delivery_survives_kill_and_is_retried(tern_factory):
    """A delivery that fails temporarily (alice's Maildir cannot be created) is deferred with
    its reply recorded in the spool; after kill -9 and a restart, and once the fault is gone,
    the retry delivers every message exactly once and the queue empties (RFC 5321 §4.5.4.1)."""
    config = MAIL + '\n[queue]\nretry_delay = "1s"\nretry_max_delay = "2s"\n'
    server = tern_factory.serve(config_extra=config)
    blocker = block_alice(server)  # mkdir of the Maildir fails: a temporary error
    qids = []
    with server.connect() as c:
        c.ehlo()
        for i in range(5):
            qids.append(c.send_message(message(f"deferred {i}"), rcpts=["alice@example.test"]))
    queue = server.data_dir / "spool" / "queue"
    deadline = time.monotonic() + 10
    states = {}
    while time.monotonic() < deadline:
        states = {q: json.loads((queue / f"{q}.json").read_text())["deliveries"][0] for q in qids}
        if all(d["status"] == "deferred" for d in states.values()):
            break
        time.sleep(0.05)
    for qid, delivery in states.items():
        assert delivery["status"] == "deferred", (qid, delivery)
        assert delivery["last_reply"].startswith("451 4.3.0"), delivery
        assert delivery["attempts"] >= 1 and delivery["next_attempt"] > 0
    # The postmaster sees the same: `tern queue list` and `tern queue show`.
    listing = subprocess.run([str(tern_bin()), "queue", "list", "--data", str(server.data_dir)],
                             capture_output=True, text=True, timeout=30)
    assert listing.returncode == 0, listing.stderr
    assert all(q in listing.stdout for q in qids), listing.stdout
    assert "deferred local <alice@example.test>" in listing.stdout
    as_json = subprocess.run([str(tern_bin()), "queue", "list", "--json", "--data", str(server.data_dir)],
                             capture_output=True, text=True, timeout=30)
    assert sorted(r["id"] for r in json.loads(as_json.stdout)) == sorted(qids)
    shown = subprocess.run([str(tern_bin()), "queue", "show", qids[0], "--json", "--data", str(server.data_dir)],
                           capture_output=True, text=True, timeout=30)
    assert json.loads(shown.stdout)["deliveries"][0]["status"] == "deferred"
    text = subprocess.run([str(tern_bin()), "queue", "show", qids[0], "--data", str(server.data_dir)],
                          capture_output=True, text=True, timeout=30).stdout
    assert f"queue id:  {qids[0]}" in text and "deferred local <alice@example.test>" in text, text
    assert "maildir  451 4.3.0" in text, text
    missing = subprocess.run([str(tern_bin()), "queue", "show", "0000000000000000", "--data", str(server.data_dir)],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "no message" in missing.stderr
    server.kill()
    blocker.unlink()
    restarted = tern_factory.serve(config_extra=config, data_dir=server.data_dir)
    wait_for_files(maildir_of(restarted, "alice"), 5)
    assert queue_is_empty(restarted)
    files = sorted((maildir_of(restarted, "alice") / "new").glob("*"))
    assert len(files) == 5
    for qid in qids:
        assert len([f for f in files if qid in f.name]) == 1, qid


def test_expired_delivery_bounces_to_the_sender(tern_factory):
    """RFC 3464: a delivery that keeps failing past max_lifetime fails for good, and the sender
    gets one DSN (multipart/report, message/delivery-status with Action: failed, Status 5.4.7,
    the returned message), sent with the null sender; the queue then empties."""
    config = TRUSTED_MAIL + '\n[queue]\nretry_delay = "1s"\nretry_max_delay = "1s"\nmax_lifetime = "2s"\n'
    server = tern_factory.serve(config_extra=config)
    block_alice(server)
    content = message("will expire")
    with server.connect() as c:
        c.ehlo()
        qid = c.send_message(content, mail_from="bob@example.test", rcpts=["alice@example.test"],
                             mail_params="RET=FULL ENVID=env+2B1")
    [path] = wait_for_files(maildir_of(server, "bob"), 1, timeout=20)
    data = path.read_bytes()
    assert data.startswith(b"Return-Path: <>\r\nDelivered-To: bob@example.test\r\n")
    import email
    from email import policy
    report = email.message_from_bytes(data, policy=policy.compat32)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert report["Auto-Submitted"] == "auto-replied"
    parts = report.get_payload()
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status", "message/rfc822"]
    status_blocks = parts[1].get_payload()
    per_message, per_recipient = status_blocks[0], status_blocks[1]
    assert per_message["Reporting-MTA"] == "dns; mx.tern.test"
    assert per_message["X-Tern-Queue-ID"] == qid
    assert per_message["Original-Envelope-Id"] == "env+1"
    assert per_recipient["Final-Recipient"] == "rfc822; alice@example.test"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.4.7"
    assert "451 4.3.0" in per_recipient["Diagnostic-Code"]
    returned = parts[2].get_payload()[0]
    assert returned["Subject"] == "will expire"
    assert queue_is_empty(server)


def test_no_dsn_for_null_sender_or_notify_never(tern_factory):
    """Never a DSN to the null sender (RFC 5321 §6.1), nor for NOTIFY=NEVER (RFC 3461 §4.1)."""
    config = MAIL + '\n[queue]\nretry_delay = "1s"\nretry_max_delay = "1s"\nmax_lifetime = "1s"\n'
    server = tern_factory.serve(config_extra=config)
    block_alice(server)
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("from nobody"), mail_from="", rcpts=["alice@example.test"])
        c.expect("MAIL FROM:<bob@example.test>", 250, "2.1.0")
        c.expect("RCPT TO:<alice@example.test> NOTIFY=NEVER", 250, "2.1.5")
        c.expect("DATA", 354)
        from ternlib import data_payload
        c.send(data_payload(message("never tell")))
        c.expect_reply(250, "2.0.0")
    assert queue_is_empty(server, timeout=20)
    time.sleep(0.5)
    assert not (maildir_of(server, "bob") / "new").exists() or not any((maildir_of(server, "bob") / "new").iterdir())


def _reports(server, user: str, count: int) -> list:
    import email
    from email import policy
    files = wait_for_files(maildir_of(server, user), count, timeout=20)
    return [email.message_from_bytes(p.read_bytes(), policy=policy.compat32) for p in files]


def test_success_dsn_when_asked(tern_factory):
    """RFC 3461 §4.1: NOTIFY=SUCCESS earns the sender an `Action: delivered` report (status
    2.0.0, headers returned); a recipient without NOTIFY earns none."""
    server = tern_factory.serve(config_extra=TRUSTED_MAIL)
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("please confirm"), mail_from="bob@example.test", rcpts=["alice@example.test"],
                       rcpt_params={"alice@example.test": "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40example.test"})
    [report] = _reports(server, "bob", 1)
    assert report["Subject"] == "Successful Mail Delivery Report"
    status = report.get_payload()[1].get_payload()[1]
    assert status["Action"] == "delivered" and status["Status"] == "2.0.0"
    assert status["Original-Recipient"] == "rfc822; alice@example.test"
    assert report.get_payload()[2].get_content_type() == "text/rfc822-headers"
    # Without NOTIFY: no report.
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("no report"), mail_from="bob@example.test", rcpts=["alice@example.test"])
    wait_for_files(maildir_of(server, "alice"), 2)
    assert queue_is_empty(server)
    assert len(list((maildir_of(server, "bob") / "new").glob("*"))) == 1


def test_delay_warning_once(tern_factory):
    """A message still deferred after delay_warning earns its sender exactly one
    `Action: delayed` report with Will-Retry-Until, and stays queued."""
    config = TRUSTED_MAIL + '\n[queue]\nretry_delay = "1s"\nretry_max_delay = "1s"\ndelay_warning = "1s"\nmax_lifetime = "1h"\n'
    server = tern_factory.serve(config_extra=config)
    block_alice(server)
    with server.connect() as c:
        c.ehlo()
        qid = c.send_message(message("slow"), mail_from="bob@example.test", rcpts=["alice@example.test"])
    [report] = _reports(server, "bob", 1)
    assert report["Subject"].startswith("Delayed Mail")
    status = report.get_payload()[1].get_payload()[1]
    assert status["Action"] == "delayed"
    assert status["Will-Retry-Until"]
    time.sleep(3)  # more retries happen; no second warning
    assert len(list((maildir_of(server, "bob") / "new").glob("*"))) == 1
    record = json.loads((server.data_dir / "spool" / "queue" / f"{qid}.json").read_text())
    assert record["delay_warned"] is True
    assert record["deliveries"][0]["status"] == "deferred"


def test_uid_list_and_repair(tern_factory):
    """Each delivery gives the message the next UID in the mailbox's tern-uidlist (for IMAP and
    POP3); `tern repair` rebuilds the list from the Maildir files: known UIDs stay, a file
    copied in by hand gets the next one, a damaged list starts over with a new UIDVALIDITY."""
    server = tern_factory.serve(config_extra=MAIL)
    with server.connect() as c:
        c.ehlo()
        qids = [c.send_message(message(f"uid {n}"), rcpts=["alice@example.test"]) for n in range(3)]
    box = maildir_of(server, "alice")
    files = wait_for_files(box, 3)
    uidlist = box / "tern-uidlist"
    deadline = time.monotonic() + 10
    # The files may be in new/ a moment before the list that numbers them exists.
    while time.monotonic() < deadline and (not uidlist.exists() or len(uidlist.read_text().splitlines()) < 4):
        time.sleep(0.05)
    lines = uidlist.read_text().splitlines()
    assert lines[0].startswith("tern-uidlist 1 V") and lines[0].endswith(" N1")
    entries = [line.split(" ") for line in lines[1:]]
    assert [uid for uid, _ in entries] == ["1", "2", "3"]
    assert {key.split(".")[1] for _, key in entries} == set(qids)
    assert sorted(key for _, key in entries) == sorted(p.name.split(",")[0] for p in files)

    # A reader moves one message to cur/ with a flag; a file is copied in by hand.
    moved = files[0]
    (box / "cur" / (moved.name + ":2,S")).write_bytes(moved.read_bytes())
    moved.unlink()
    (box / "new" / "9999999999.handmade.host,S=5").write_bytes(b"x\r\n\r\n")
    repair = subprocess.run([str(tern_bin()), "repair", "--data", str(server.data_dir)],
                            capture_output=True, text=True, timeout=30)
    assert repair.returncode == 0, repair.stderr
    assert "example.test/alice: 4 messages, 1 added, 0 removed" in repair.stdout, repair.stdout
    after = [line.split(" ") for line in uidlist.read_text().splitlines()[1:]]
    assert after[:3] == entries
    assert after[3] == ["4", "9999999999.handmade.host"]

    uidlist.write_text("damaged\n")
    repair = subprocess.run([str(tern_bin()), "repair", "--data", str(server.data_dir)],
                            capture_output=True, text=True, timeout=30)
    assert "4 messages, 4 added, 0 removed, new UIDVALIDITY" in repair.stdout, repair.stdout
    assert [uid for uid, _ in (line.split(" ") for line in uidlist.read_text().splitlines()[1:])] == ["1", "2", "3", "4"]
    assert len(mailbox.Maildir(str(box), create=False)) == 4


def _queued_reports(server, timeout: float = 15.0) -> list[tuple[dict, bytes]]:
    """The DSNs waiting in the spool (sender <>), as (record, message bytes)."""
    queue = server.data_dir / "spool" / "queue"
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for path in sorted(queue.glob("*.json")):
            record = json.loads(path.read_text())
            if record["from"] == "":
                found.append((record, path.with_suffix(".eml").read_bytes()))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_success_report_to_a_stranger_names_the_alias_not_its_members(tern_factory):
    """An untrusted port-25 client sends to team@ (alice and bob) with NOTIFY=SUCCESS: the one report
    queued for its sender names team@example.test, once, with a generic reply; neither member,
    their Maildirs nor their UIDs appear, and the message comes back as headers only."""
    server = tern_factory.serve(config_extra=MAIL)
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("who is on the team?"), mail_from="stranger@client.example",
                       rcpts=["team@example.test"], mail_params="RET=FULL",
                       rcpt_params={"team@example.test": "NOTIFY=SUCCESS"})
    wait_for_files(maildir_of(server, "alice"), 1)
    wait_for_files(maildir_of(server, "bob"), 1)
    [(record, report)] = _queued_reports(server)
    assert [r["address"] for r in record["recipients"]] == ["stranger@client.example"]
    text = report.decode()
    assert "Final-Recipient: rfc822; team@example.test" in text
    assert text.count("Final-Recipient:") == 1
    for leak in ("alice", "bob", "uid", "maildir"):
        assert leak not in text.lower(), f"the report reveals {leak!r}:\n{text}"
    assert "text/rfc822-headers" in text and "message/rfc822" not in text


def test_no_report_to_a_local_sender_forged_by_a_stranger(tern_factory):
    """An untrusted client claiming bob@example.test as its sender gets no report for bob (one of
    ours would have authenticated): nothing is queued, bob's mailbox stays empty."""
    config = MAIL + '\n[queue]\nretry_delay = "1s"\nretry_max_delay = "1s"\nmax_lifetime = "1s"\n'
    server = tern_factory.serve(config_extra=config)
    block_alice(server)
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("forged"), mail_from="bob@example.test", rcpts=["alice@example.test"],
                       rcpt_params={"alice@example.test": "NOTIFY=SUCCESS,FAILURE,DELAY"})
    assert queue_is_empty(server, timeout=20)
    assert "no delivery status notification" in server.logs()
    time.sleep(0.5)
    assert not (maildir_of(server, "bob") / "new").exists() or not any((maildir_of(server, "bob") / "new").iterdir())


def test_failure_report_to_a_stranger_returns_headers_only(tern_factory):
    """RET=FULL from an untrusted client: the failure report returns the header section only, never
    the content a stranger chose to have reflected."""
    config = MAIL + '\n[queue]\nretry_delay = "1s"\nretry_max_delay = "1s"\nmax_lifetime = "1s"\n'
    server = tern_factory.serve(config_extra=config)
    block_alice(server)
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("reflect me", body=b"SPAM PAYLOAD\r\n"), mail_from="stranger@client.example",
                       rcpts=["alice@example.test"], mail_params="RET=FULL")
    [(record, report)] = _queued_reports(server, timeout=20)
    assert [r["address"] for r in record["recipients"]] == ["stranger@client.example"]
    assert b"text/rfc822-headers" in report and b"message/rfc822" not in report
    assert b"SPAM PAYLOAD" not in report
    assert b"Subject: reflect me" in report
