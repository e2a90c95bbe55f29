"""Outbound relay (the MTA's SMTP client): mail for other domains goes to the server their MX
records name (RFC 5321 §5.1), found through a real DNS server (NSD) serving remote.test, and is
delivered to real SMTP peers on loopback: aiosmtpd processes, and a second Tern.

Every failure path ends in a DSN to the sender (RFC 3464, parsed with Python's email package)
or a retry; nothing is delivered twice except what was in flight at a crash.
"""

from __future__ import annotations

import email
import json
import subprocess
import time
from email import policy
from pathlib import Path

import pytest

from outbound import sender_config
from ternlib import CertificateAuthority, make_cert, message, tern_bin, wait_for_files


def sender_maildir(server) -> Path:
    return server.data_dir / "mailboxes" / "tern.test" / "sender"


def wait_reports(server, count: int, timeout: float = 20.0) -> list:
    """The DSNs in sender@tern.test's Maildir, parsed."""
    files = wait_for_files(sender_maildir(server), count, timeout)
    return [email.message_from_bytes(p.read_bytes(), policy=policy.compat32) for p in files]


def queue_empty(server, timeout: float = 20.0) -> bool:
    queue = server.data_dir / "spool" / "queue"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(queue.iterdir()):
            return True
        time.sleep(0.05)
    return False


def send(server, rcpts: list[str], subject: str = "outbound", mail_from: str = "sender@tern.test",
         mail_params: str = "", body: bytes | None = None, rcpt_params: dict[str, str] | None = None) -> str:
    with server.connect() as c:
        c.ehlo()
        content = message(subject) if body is None else body
        return c.send_message(content, mail_from=mail_from, rcpts=rcpts, mail_params=mail_params,
                              rcpt_params=rcpt_params)


def status_of(report) -> tuple[dict, list[dict]]:
    """(per-message fields, [per-recipient fields]) of a multipart/report DSN."""
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = report.get_payload()
    assert parts[1].get_content_type() == "message/delivery-status"
    blocks = parts[1].get_payload()
    return dict(blocks[0].items()), [dict(b.items()) for b in blocks[1:]]


def mta(tern_factory, nsd, peers, **kw):
    return tern_factory.serve(config_extra=sender_config(nsd_port=nsd.port, smtp_port=peers.port, **kw))


def test_delivers_to_the_mx_with_a_trace(tern_factory, nsd, peers):
    """MX lookup → connect → EHLO → MAIL/RCPT/DATA: the peer gets the message as accepted, with
    Tern's Received header on top, from the original sender; the queue empties and the
    delivery is logged like Postfix's (relay, dsn, status)."""
    peer = peers.start("127.0.0.3")
    server = mta(tern_factory, nsd, peers)
    qid = send(server, ["user@a.remote.test"], subject="to the mx")
    [got] = peer.wait_messages(1)
    assert got["mail_from"] == "sender@tern.test"
    assert got["rcpt_tos"] == ["user@a.remote.test"]
    assert got["helo"] == "mx.tern.test"
    assert got["content"].startswith("Received: from client.example")
    assert f"id {qid}" in got["content"].split("\r\n\r\n")[0].replace("\r\n\t", " ")
    assert "Subject: to the mx" in got["content"]
    assert "SIZE=" in " ".join(got["mail_options"])
    assert queue_empty(server)
    deadline = time.monotonic() + 5
    while "status=sent" not in server.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.stderr_text()
    assert "relay=mx-a.remote.test[127.0.0.3]" in log and "dsn=2.0.0" in log and "status=sent" in log, log


def test_mx_preference_and_fallover(tern_factory, nsd, peers):
    """The lower preference wins (prefer.remote.test: mx-a at 10 before mx-b at 20); when the
    preferred host refuses connections (fallover.remote.test: mx-down at 10), the next MX
    gets the message."""
    a = peers.start("127.0.0.3")
    b = peers.start("127.0.0.4")
    server = mta(tern_factory, nsd, peers)
    send(server, ["one@prefer.remote.test"])
    send(server, ["two@fallover.remote.test"])
    got = a.wait_messages(2)
    assert sorted(m["rcpt_tos"][0] for m in got) == ["one@prefer.remote.test", "two@fallover.remote.test"]
    assert b.messages() == []
    assert queue_empty(server)


def test_implicit_mx(tern_factory, nsd, peers):
    """RFC 5321 §5.1: a domain with no MX records but an address is its own mail server."""
    peer = peers.start("127.0.0.3")
    server = mta(tern_factory, nsd, peers)
    send(server, ["user@implicit.remote.test"])
    [got] = peer.wait_messages(1)
    assert got["rcpt_tos"] == ["user@implicit.remote.test"]


def test_null_mx_nxdomain_and_no_address_bounce(tern_factory, nsd, peers):
    """A null MX (RFC 7505) fails at once with 556 5.1.10, a domain that does not exist with
    5.1.2, an MX host without an address with 5.4.4: one DSN each, sent with the null sender,
    and no server is contacted."""
    peer = peers.start("127.0.0.3")
    server = mta(tern_factory, nsd, peers)
    send(server, ["user@nullmx.remote.test"], subject="null mx")
    reports = wait_reports(server, 1)
    send(server, ["user@missing.remote.test"], subject="nxdomain")
    reports = wait_reports(server, 2)
    send(server, ["user@nohost.remote.test"], subject="no host")
    reports = wait_reports(server, 3)
    statuses = {}
    for report in reports:
        assert report["From"].startswith("Mail Delivery System <MAILER-DAEMON@mx.tern.test>")
        _, [recipient] = status_of(report)
        statuses[recipient["Final-Recipient"]] = (recipient["Status"], recipient["Diagnostic-Code"])
    assert statuses["rfc822; user@nullmx.remote.test"][0] == "5.1.10"
    assert "556 5.1.10" in statuses["rfc822; user@nullmx.remote.test"][1]
    assert statuses["rfc822; user@missing.remote.test"][0] == "5.1.2"
    assert statuses["rfc822; user@nohost.remote.test"][0] == "5.4.4"
    for path in (sender_maildir(server) / "new").iterdir():
        assert path.read_bytes().startswith(b"Return-Path: <>\r\n")
    assert peer.connections() == 0
    assert queue_empty(server)


def test_dns_failure_defers(tern_factory, nsd, peers):
    """A DNS server that will not answer for the domain (NSD refuses a zone it does not serve)
    is a temporary failure (RFC 5321 §5.1): the message stays queued as deferred with 4.4.3,
    and nobody gets a bounce."""
    server = mta(tern_factory, nsd, peers)
    qid = send(server, ["user@unserved.test"])
    deadline = time.monotonic() + 15
    record = {}
    while time.monotonic() < deadline:
        path = server.data_dir / "spool" / "queue" / f"{qid}.json"
        record = json.loads(path.read_text())
        if record["deliveries"][0]["status"] == "deferred":
            break
        time.sleep(0.1)
    delivery = record["deliveries"][0]
    assert delivery["status"] == "deferred", record
    assert delivery["last_reply"].startswith("451 4.4.3"), delivery
    assert delivery["history"][0]["reply"] == delivery["last_reply"]
    assert not (sender_maildir(server) / "new").exists()


def test_451_then_accepted_after_retry(tern_factory, nsd, peers):
    """A peer that answers the first DATA with 451 gets the message on the next try (retry_delay
    1 s here), exactly once; the queue records both attempts until the message leaves it."""
    peer = peers.start("127.0.0.3", "--defer-data", "1")
    server = mta(tern_factory, nsd, peers)
    qid = send(server, ["user@a.remote.test"], subject="retry me")
    spool = server.data_dir / "spool" / "queue" / f"{qid}.json"
    deadline = time.monotonic() + 10
    deferred = None
    while time.monotonic() < deadline and deferred is None:
        try:
            record = json.loads(spool.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            break
        if record["deliveries"][0]["status"] == "deferred":
            deferred = record["deliveries"][0]
        time.sleep(0.02)
    [got] = peer.wait_messages(1, timeout=20)
    assert "Subject: retry me" in got["content"]
    assert queue_empty(server)
    time.sleep(0.5)
    assert len(peer.messages()) == 1
    assert deferred is not None, "the first attempt was never recorded as deferred"
    assert deferred["last_reply"].startswith("451 4.3.0"), deferred
    assert deferred["history"][0]["relay"] == f"mx-a.remote.test[127.0.0.3]:{peers.port}"
    assert not (sender_maildir(server) / "new").exists(), "no bounce for a delivered message"


def test_one_of_two_recipients_refused(tern_factory, nsd, peers):
    """One transaction, two RCPTs: the peer takes alice and refuses bob with 550 5.1.1. Alice's
    copy is delivered; the sender gets one DSN for bob only, with the peer's words
    (Diagnostic-Code), Status 5.1.1, Remote-MTA and the original headers."""
    peer = peers.start("127.0.0.3", "--reject-rcpt", "bob@a.remote.test")
    server = mta(tern_factory, nsd, peers)
    qid = send(server, ["alice@a.remote.test", "bob@a.remote.test"], subject="half")
    [got] = peer.wait_messages(1)
    assert got["rcpt_tos"] == ["alice@a.remote.test"]
    [report] = wait_reports(server, 1)
    assert report["Subject"].startswith("Undelivered Mail Returned to Sender")
    fields, [recipient] = status_of(report)
    assert fields["X-Tern-Queue-ID"] == qid
    assert recipient["Final-Recipient"] == "rfc822; bob@a.remote.test"
    assert recipient["Action"] == "failed"
    assert recipient["Status"] == "5.1.1"
    assert recipient["Remote-MTA"] == "dns; mx-a.remote.test"
    assert recipient["Diagnostic-Code"].startswith("smtp; 550 5.1.1 <bob@a.remote.test>: Recipient address rejected")
    returned = report.get_payload()[2]
    assert returned.get_content_type() in ("text/rfc822-headers", "message/rfc822")
    assert "Subject: half" in returned.as_string()
    assert queue_empty(server)


def test_smtputf8_message_to_a_peer_without_it(tern_factory, nsd, peers):
    """RFC 6531 §3.2: a message that needs SMTPUTF8 is not sent to a server that lacks it (no
    downgrade): the recipient fails with 5.6.7 and the sender learns why; the peer gets
    nothing."""
    peer = peers.start("127.0.0.3", "--no-smtputf8")
    server = mta(tern_factory, nsd, peers)
    body = "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nFrom: sender@tern.test\r\n\r\nGrüße\r\n".encode()
    send(server, ["user@a.remote.test"], mail_params="SMTPUTF8 BODY=8BITMIME", body=body)
    [report] = wait_reports(server, 1)
    _, [recipient] = status_of(report)
    assert recipient["Status"] == "5.6.7"
    assert "SMTPUTF8" in recipient["Diagnostic-Code"]
    assert peer.messages() == []
    assert queue_empty(server)


def test_starttls_with_the_peer(tern_factory, nsd, peers, tmp_path):
    """Opportunistic STARTTLS (RFC 3207): a peer that offers it gets the message encrypted,
    and the log says so."""
    cert, key = make_cert(tmp_path, "mx-a.remote.test")
    peer = peers.start("127.0.0.3", "--tls-cert", str(cert), "--tls-key", str(key))
    server = mta(tern_factory, nsd, peers)
    send(server, ["user@a.remote.test"], subject="secret")
    [got] = peer.wait_messages(1)
    assert got["tls"] is True
    assert "Subject: secret" in got["content"]
    deadline = time.monotonic() + 5
    while "tls=true" not in server.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "tls=true" in server.stderr_text()


def test_connection_reuse(tern_factory, nsd, peers):
    """With one session per destination, five messages to one domain share one connection
    (the cached session is reused, RSET between messages)."""
    peer = peers.start("127.0.0.3")
    server = mta(tern_factory, nsd, peers, queue_extra="destination_concurrency = 1")
    for n in range(5):
        send(server, [f"user{n}@a.remote.test"], subject=f"reuse {n}")
    got = peer.wait_messages(5)
    assert sorted(m["rcpt_tos"][0] for m in got) == [f"user{n}@a.remote.test" for n in range(5)]
    assert peer.connections() < 5
    assert len({m["peer_port"] for m in got}) <= 2, [m["peer_port"] for m in got]


def test_relay_to_a_second_tern(tern_factory, nsd, peers):
    """Tern to Tern: the second one (dev mode on mx-b) offers STARTTLS, CHUNKING and SMTPUTF8,
    so the message travels encrypted with BDAT, keeps its SMTPUTF8 sender, and lands in the
    receiver's Maildir with both Received headers."""
    receiver = tern_factory.dev(args=["--smtp", f"127.0.0.4:{peers.port}"], hostname="mx-b.remote.test")
    server = mta(tern_factory, nsd, peers)
    body = "Subject: tern to tern\r\nFrom: sender@tern.test\r\n\r\nÜber alles\r\n".encode()
    send(server, ["käthe@b.remote.test"], mail_params="SMTPUTF8 BODY=8BITMIME", body=body)
    deadline = time.monotonic() + 20
    files: list[Path] = []
    while time.monotonic() < deadline and not files:
        files = list((receiver.maildir / "new").glob("*")) if (receiver.maildir / "new").is_dir() else []
        time.sleep(0.05)
    assert files, f"nothing reached the second Tern\n{server.logs()}"
    data = files[0].read_bytes()
    return_path, first, second = data.split(b"\r\n")[0], data.split(b"\r\n")[1], data.split(b"Received:")[2]
    assert return_path == b"Return-Path: <sender@tern.test>"
    assert first.startswith(b"Received: from mx.tern.test (")
    assert b"with UTF8SMTPS" in data.split(b"Received:")[1].replace(b"\r\n\t", b" ")
    assert second.startswith(b" from client.example")
    assert data.endswith("Über alles\r\n".encode())
    assert queue_empty(server)


def test_kill_during_delivery_loses_nothing(tern_factory, nsd, peers):
    """kill -9 while a batch goes to a slow peer: after the restart every message reaches the
    peer; duplicates are at most the deliveries in flight at the kill (the peer had taken
    them, Tern had not yet recorded it), and are reported."""
    peer = peers.start("127.0.0.3", "--delay", "0.3")
    server = mta(tern_factory, nsd, peers, queue_extra="destination_concurrency = 2")
    total = 12
    for n in range(total):
        send(server, [f"user{n}@a.remote.test"], subject=f"crash {n}")
    peer.wait_messages(3)
    server.kill()
    server.expect_exit = True
    in_flight_limit = 2
    server.start()
    got = peer.wait_messages(total, timeout=40)
    assert queue_empty(server, timeout=40)
    time.sleep(0.5)
    got = peer.messages()
    subjects = [next(line for line in m["content"].split("\r\n") if line.startswith("Subject:")) for m in got]
    assert set(subjects) == {f"Subject: crash {n}" for n in range(total)}
    duplicates = len(subjects) - len(set(subjects))
    print(f"kill -9 during delivery: {total} messages, {duplicates} duplicate(s) at the peer")
    assert duplicates <= in_flight_limit


def tern_queue(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(tern_bin()), "queue", *args, "--data", str(server.data_dir)],
                          capture_output=True, text=True, timeout=30)


def record_of(server, qid: str) -> dict:
    return json.loads((server.data_dir / "spool" / "queue" / f"{qid}.json").read_text())


def wait_deferred(server, qid: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = record_of(server, qid)
        if record["deliveries"][0]["status"] == "deferred":
            return record
        time.sleep(0.05)
    raise AssertionError(f"{qid} never deferred: {record_of(server, qid)}")


def test_queue_show_hold_release_retry_delete(tern_factory, nsd, peers):
    """The postmaster's tools on a running queue (through its control socket): `show` lists every
    attempt with its server and reply; `hold` stops delivery even when the peer is back;
    `release` delivers at once; `retry` skips a long retry wait; `delete` drops a message
    without a bounce."""
    server = tern_factory.serve(config_extra=sender_config(nsd_port=nsd.port, smtp_port=peers.port).replace(
        'retry_delay = "1s"\nretry_max_delay = "2s"', 'retry_delay = "1h"\nretry_max_delay = "4h"'))
    # No peer yet: connections are refused, deliveries deferred.
    held = send(server, ["held@a.remote.test"], subject="held")
    retried = send(server, ["retried@a.remote.test"], subject="retried")
    deleted = send(server, ["deleted@a.remote.test"], subject="deleted")
    for qid in (held, retried, deleted):
        wait_deferred(server, qid)
    shown = tern_queue(server, "show", held)
    assert shown.returncode == 0, shown.stderr
    assert "deferred remote <held@a.remote.test>" in shown.stdout
    assert f"mx-a.remote.test[127.0.0.3]:{peers.port}  451 4.4.1 cannot connect" in shown.stdout, shown.stdout

    out = tern_queue(server, "hold", held)
    assert out.returncode == 0 and f"{held}: on hold" in out.stdout, out.stderr
    assert record_of(server, held)["hold"] is True
    assert "(hold)" in tern_queue(server, "list").stdout
    out = tern_queue(server, "delete", deleted)
    assert out.returncode == 0 and f"{deleted}: deleted" in out.stdout, out.stderr
    assert not (server.data_dir / "spool" / "queue" / f"{deleted}.json").exists()

    peer = peers.start("127.0.0.3")
    out = tern_queue(server, "retry", "all")
    assert out.returncode == 0, out.stderr
    [got] = peer.wait_messages(1)
    assert "Subject: retried" in got["content"]
    time.sleep(1.5)
    assert len(peer.messages()) == 1, "a held message was delivered"
    out = tern_queue(server, "release", held)
    assert out.returncode == 0 and f"{held}: released" in out.stdout, out.stderr
    got = peer.wait_messages(2)
    assert "Subject: held" in got[1]["content"]
    assert queue_empty(server)
    assert not (sender_maildir(server) / "new").exists(), "delete must not bounce"
    missing = tern_queue(server, "hold", "0000000000000000")
    assert missing.returncode != 0 and "no message" in missing.stderr


def test_queue_commands_on_a_stopped_server(tern_factory, nsd, peers):
    """With no server running, `tern queue hold|delete` change the spool files themselves; the
    next start honours them."""
    server = mta(tern_factory, nsd, peers)
    held = send(server, ["held@a.remote.test"], subject="held offline")
    deleted = send(server, ["deleted@a.remote.test"], subject="deleted offline")
    wait_deferred(server, held)
    wait_deferred(server, deleted)
    assert server.stop() == 0
    assert not (server.data_dir / "tern.pid").exists()
    assert tern_queue(server, "hold", held).returncode == 0
    assert tern_queue(server, "delete", deleted).returncode == 0
    assert record_of(server, held)["hold"] is True
    peer = peers.start("127.0.0.3")
    server.start()
    time.sleep(2.5)
    assert peer.messages() == []
    assert tern_queue(server, "release", "all").returncode == 0
    [got] = peer.wait_messages(1)
    assert "Subject: held offline" in got["content"]
    assert queue_empty(server)


def test_smarthost_route_with_auth(tern_factory, nsd, peers, tmp_path):
    """A `[[route]]` sends every domain through a relay host instead of the MX: STARTTLS is
    required (the certificate checked against tls_ca_file), then AUTH (RFC 4954) with the
    configured credentials; wrong credentials keep the mail queued (4.7.8) instead of bouncing it."""
    ca = CertificateAuthority.create(tmp_path / "ca")
    cert, key = ca.issue("relay", ["127.0.0.5"])
    peer = peers.start("127.0.0.5", "--tls-cert", str(cert), "--tls-key", str(key), "--auth", "tern:s3cret")
    route = f"""
[[route]]
domain = "*"
relay = "127.0.0.5:{peers.port}"
security = "required"
username = "tern"
password = "s3cret"
tls_ca_file = "{ca.cert}"
"""
    server = mta(tern_factory, nsd, peers, extra=route)
    send(server, ["someone@unserved.test"], subject="via relay")
    [got] = peer.wait_messages(1)
    assert got["tls"] is True and got["auth_login"] == "tern"
    assert "Subject: via relay" in got["content"]
    assert queue_empty(server)
    assert "s3cret" not in server.stderr_text()

    wrong = mta(tern_factory, nsd, peers, extra=route.replace("s3cret", "wrong"))
    qid = send(wrong, ["someone@unserved.test"], subject="refused login")
    record = wait_deferred(wrong, qid)
    assert record["deliveries"][0]["last_reply"].startswith("451 4.7.8"), record
    assert len(peer.messages()) == 1


def test_success_notify_relayed_to_a_server_without_dsn(tern_factory, nsd, peers):
    """RFC 3461 §6.2.2: NOTIFY=SUCCESS to a server that does not offer DSN earns the sender a
    "relayed" report from Tern (Status 2.0.0, Remote-MTA), since nobody downstream will send one;
    a recipient without NOTIFY gets none."""
    peer = peers.start("127.0.0.3")
    server = mta(tern_factory, nsd, peers)
    send(server, ["asked@a.remote.test", "quiet@a.remote.test"], subject="tell me", mail_params="RET=HDRS",
         rcpt_params={"asked@a.remote.test": "NOTIFY=SUCCESS,FAILURE"})
    peer.wait_messages(1)
    [report] = wait_reports(server, 1)
    _, recipients = status_of(report)
    assert [r["Final-Recipient"] for r in recipients] == ["rfc822; asked@a.remote.test"]
    assert recipients[0]["Action"] == "relayed"
    assert recipients[0]["Status"] == "2.0.0"
    assert recipients[0]["Remote-MTA"] == "dns; mx-a.remote.test"
    assert queue_empty(server)


def test_success_notify_passed_on_to_a_dsn_server(tern_factory, nsd, peers):
    """To a server that offers DSN (a second Tern, serving b.remote.test) NOTIFY and ORCPT go
    along with the message, Tern itself sends no success report, and the final server does:
    its "delivered" report comes back to the sender's mailbox on the first Tern."""
    server = mta(tern_factory, nsd, peers)
    receiver = tern_factory.serve(
        listeners=[{"address": "127.0.0.4", "port": peers.port, "role": "mx"}], hostname="mx-b.remote.test",
        config_extra=f"""
[mail]
domains = ["b.remote.test"]

[[mailbox]]
address = "user@b.remote.test"

[[route]]
domain = "tern.test"
relay = "127.0.0.1:{server.port}"
security = "none"
""")
    send(server, ["user@b.remote.test"], subject="tell me from afar", mail_params="ENVID=trace+2D1",
         rcpt_params={"user@b.remote.test": "NOTIFY=SUCCESS ORCPT=rfc822;alias@tern.test"})
    deadline = time.monotonic() + 20
    box = receiver.data_dir / "mailboxes" / "b.remote.test" / "user" / "new"
    while time.monotonic() < deadline and not (box.is_dir() and any(box.iterdir())):
        time.sleep(0.05)
    assert box.is_dir() and any(box.iterdir()), f"not delivered\n{server.logs()}\n{receiver.logs()}"
    [report] = wait_reports(server, 1)
    fields, [recipient] = status_of(report)
    assert fields["Reporting-MTA"] == "dns; mx-b.remote.test"
    assert fields["Original-Envelope-Id"] == "trace-1"
    assert recipient["Action"] == "delivered"
    assert recipient["Original-Recipient"] == "rfc822; alias@tern.test"
    assert recipient["Final-Recipient"] == "rfc822; user@b.remote.test"
    time.sleep(1.0)
    assert len(list((sender_maildir(server) / "new").iterdir())) == 1, "Tern must not add its own success report"


def test_mx_that_is_this_host_is_a_loop(tern_factory, nsd, peers):
    """When the MX turns out to be this server (it greets with our own host name), delivering
    would go round in circles: the recipient fails at once with 5.4.6 and the sender is told."""
    tern_factory.dev(args=["--smtp", f"127.0.0.4:{peers.port}"], hostname="mx.tern.test")
    server = mta(tern_factory, nsd, peers)
    send(server, ["user@b.remote.test"], subject="loop")
    [report] = wait_reports(server, 1)
    _, [recipient] = status_of(report)
    assert recipient["Status"] == "5.4.6"
    assert "loops back" in recipient["Diagnostic-Code"]
    assert queue_empty(server)


def test_failed_handshake_falls_back_to_cleartext(tern_factory, nsd, peers, tmp_path):
    """Opportunistic TLS (RFC 7435): when the STARTTLS handshake fails, the same server is tried
    again without TLS and the message goes through in cleartext."""
    cert, key = make_cert(tmp_path, "mx-a.remote.test")
    peer = peers.start("127.0.0.3", "--tls-cert", str(cert), "--tls-key", str(key), "--tls-fail")
    server = mta(tern_factory, nsd, peers)
    send(server, ["user@a.remote.test"], subject="fallback")
    [got] = peer.wait_messages(1)
    assert got["tls"] is False
    assert peer.connections() == 2, "one connection for the failed handshake, one in cleartext"
    assert "trying again without TLS" in server.stderr_text()


def test_4xx_moves_to_the_next_mx(tern_factory, nsd, peers):
    """RFC 5321 §5.1: a temporary refusal by the preferred MX (mx-a, 451 to DATA) sends the
    message on to the next one (mx-b) in the same attempt."""
    a = peers.start("127.0.0.3", "--defer-data", "100")
    b = peers.start("127.0.0.4")
    server = mta(tern_factory, nsd, peers)
    send(server, ["user@prefer.remote.test"], subject="second best")
    [got] = b.wait_messages(1)
    assert "Subject: second best" in got["content"]
    assert a.messages() == []
    assert queue_empty(server)


# TLS to relay hosts is authenticated (RFC 8314 §4.1, RFC 9525): a `[[route]]` with
# `security = "required"` (STARTTLS) or `"implicit"` sends its credentials only to a server whose
# certificate chains to a trusted CA (the system store, or `tls_ca_file`) and names the relay as
# configured (a DNS name, or the IP address). A failed check defers the message (451 4.7.5, the
# reason in the queue and the log), never falls back to cleartext, and no AUTH reaches the peer.
# `tls_verify = false` is the (unsafe) opt-out. The certificates come from a throwaway CA made
# with openssl; mx-c.remote.test resolves to 127.0.0.5 through the test NSD.

@pytest.fixture
def ca(tmp_path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca")


RELAY_NAME = "mx-c.remote.test"
RELAY_IP = "127.0.0.5"


def tls_route(relay: str, security: str, extra: str = "", domain: str = "routed.test") -> str:
    return f"""
[[route]]
domain = "{domain}"
relay = "{relay}"
security = "{security}"
username = "tern"
password = "s3cret"
{extra}
"""


def peer_options(cert, key, implicit: bool = False) -> list[str]:
    return ["--tls-cert", str(cert), "--tls-key", str(key), "--auth", "tern:s3cret",
            *(["--implicit-tls"] if implicit else [])]


def assert_refused(server, peer, qid: str, reason: str) -> dict:
    """The message waits in the queue with a 451 4.7.5 naming `reason`, shown by `tern queue
    show` and logged; the peer got no AUTH and no message, and no cleartext retry was made."""
    record = wait_deferred(server, qid)
    reply = record["deliveries"][0]["last_reply"]
    assert reply.startswith("451 4.7.5 TLS handshake with"), record
    assert reason in reply, reply
    shown = tern_queue(server, "show", qid)
    assert shown.returncode == 0 and reason in shown.stdout, shown.stdout + shown.stderr
    deadline = time.monotonic() + 5
    while reason not in server.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.stderr_text()
    assert reason in log and "status=deferred" in log, log
    assert "trying again without TLS" not in log
    assert "s3cret" not in log
    assert peer.auth_attempts() == [], peer.auth_attempts()
    assert peer.messages() == []
    return record


def test_starttls_relay_verified_with_the_private_ca(tern_factory, nsd, peers, ca):
    """STARTTLS to a relay named by host name: its certificate, from the CA of tls_ca_file and
    naming mx-c.remote.test, is accepted; AUTH and the message go over it."""
    cert, key = ca.issue("relay", [RELAY_NAME])
    peer = peers.start(RELAY_IP, *peer_options(cert, key))
    server = mta(tern_factory, nsd, peers,
                 extra=tls_route(f"{RELAY_NAME}:{peers.port}", "required", f'tls_ca_file = "{ca.cert}"'))
    send(server, ["someone@routed.test"], subject="verified relay")
    [got] = peer.wait_messages(1)
    assert got["tls"] is True and got["auth_login"] == "tern"
    assert "Subject: verified relay" in got["content"]
    assert [a.split()[1:] for a in peer.auth_attempts()] == [["PLAIN", "tls=True"]]
    assert queue_empty(server)


def test_starttls_relay_unknown_to_the_system_store_is_deferred(tern_factory, nsd, peers, ca):
    """By default the system trust store decides, and it does not know the test CA: the message
    is deferred, the password never sent. In the same server, opportunistic STARTTLS to an MX
    with a self-signed certificate still delivers (RFC 7435: it authenticates nobody)."""
    cert, key = ca.issue("relay", [RELAY_NAME])
    peer = peers.start(RELAY_IP, *peer_options(cert, key))
    mx_cert, mx_key = make_cert(ca.directory, "mx-a.remote.test")
    mx = peers.start("127.0.0.3", "--tls-cert", str(mx_cert), "--tls-key", str(mx_key))
    server = mta(tern_factory, nsd, peers, extra=tls_route(f"{RELAY_NAME}:{peers.port}", "required"))
    qid = send(server, ["someone@routed.test"], subject="untrusted relay")
    send(server, ["user@a.remote.test"], subject="opportunistic mx")
    [got] = mx.wait_messages(1)
    assert got["tls"] is True and "Subject: opportunistic mx" in got["content"]
    assert_refused(server, peer, qid, "the certificate is not trusted")


def test_starttls_relay_with_a_certificate_for_another_name_is_deferred(tern_factory, nsd, peers, ca):
    """A certificate from the trusted CA, but for another host, is a man in the middle as far
    as Tern can tell: deferred, no AUTH."""
    cert, key = ca.issue("other", ["elsewhere.test", "127.0.0.9"])
    peer = peers.start(RELAY_IP, *peer_options(cert, key))
    server = mta(tern_factory, nsd, peers,
                 extra=tls_route(f"{RELAY_NAME}:{peers.port}", "required", f'tls_ca_file = "{ca.cert}"'))
    qid = send(server, ["someone@routed.test"], subject="wrong name")
    assert_refused(server, peer, qid, f"the certificate does not name {RELAY_NAME}")


def test_starttls_relay_with_verification_turned_off(tern_factory, nsd, peers, tmp_path):
    """tls_verify = false (documented as unsafe) takes a self-signed certificate for another
    name: the message and the login go through."""
    cert, key = make_cert(tmp_path, "self-signed.test")
    peer = peers.start(RELAY_IP, *peer_options(cert, key))
    server = mta(tern_factory, nsd, peers,
                 extra=tls_route(f"{RELAY_NAME}:{peers.port}", "required", "tls_verify = false"))
    send(server, ["someone@routed.test"], subject="unchecked")
    [got] = peer.wait_messages(1)
    assert got["tls"] is True and got["auth_login"] == "tern"
    assert queue_empty(server)


def test_implicit_tls_relay_by_ip_address(tern_factory, nsd, peers, ca):
    """Implicit TLS (RFC 8314) to a relay named by IP address: the certificate must list that
    address. With the CA it is delivered; with the system store, or with a certificate for
    another address, it is deferred before a single SMTP octet, with no AUTH."""
    good_cert, good_key = ca.issue("relay-ip", [RELAY_IP])
    peer = peers.start(RELAY_IP, *peer_options(good_cert, good_key, implicit=True))
    relay = f"{RELAY_IP}:{peers.port}"
    server = mta(tern_factory, nsd, peers, extra=tls_route(relay, "implicit", f'tls_ca_file = "{ca.cert}"'))
    send(server, ["someone@routed.test"], subject="implicit verified")
    [got] = peer.wait_messages(1)
    assert got["tls"] is True and got["auth_login"] == "tern"
    assert queue_empty(server)
    server.stop()

    untrusted = mta(tern_factory, nsd, peers, extra=tls_route(relay, "implicit"))
    qid = send(untrusted, ["someone@routed.test"], subject="implicit untrusted")
    record = wait_deferred(untrusted, qid)
    assert "the certificate is not trusted" in record["deliveries"][0]["last_reply"], record
    untrusted.stop()
    assert len(peer.messages()) == 1 and len(peer.auth_attempts()) == 1

    wrong_cert, wrong_key = ca.issue("other-ip", ["127.0.0.9"])
    other = peers.start("127.0.0.6", *peer_options(wrong_cert, wrong_key, implicit=True))
    server = mta(tern_factory, nsd, peers,
                 extra=tls_route(f"127.0.0.6:{peers.port}", "implicit", f'tls_ca_file = "{ca.cert}"'))
    qid = send(server, ["someone@routed.test"], subject="implicit wrong address")
    assert_refused(server, other, qid, "the certificate does not name 127.0.0.6")
