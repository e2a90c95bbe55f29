"""Routing and relay control in serve mode (RFC 5321 §3.6, §7.1; design rule 5): local
addresses must exist (550 5.1.1 at RCPT, never a later bounce), everything else is relaying and
needs a relay network. Every classic relay trick is refused."""

from __future__ import annotations

import json
import time

import pytest

from ternlib import mail_config, message

MAIL = mail_config(catch_all_to="alice@example.test")


@pytest.fixture
def mta(tern_factory):
    """A serve-mode Tern whose relay network does not include the loopback test client."""
    return tern_factory.serve(config_extra=MAIL)


def recipient_reply(server, rcpt: str):
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<sender@client.example>", 250, "2.1.0")
        return c.cmd(f"RCPT TO:{rcpt}")


@pytest.mark.parametrize("rcpt", [
    "<alice@example.test>", "<ALICE@Example.Test>", "<alice+news@example.test>", "<team@example.test>",
    "<anyone@other.test>",
])
def test_local_recipients_accepted(mta, rcpt):
    """Mailboxes (any case, with a +tag), aliases and a catch-all are
    accepted at RCPT."""
    r = recipient_reply(mta, rcpt)
    assert r.is_(250, "2.1.5"), r


@pytest.mark.parametrize("rcpt", ["<nobody@example.test>", "<nobody+x@example.test>", "<\"../alice\"@example.test>"])
def test_unknown_local_user_refused_at_rcpt(mta, rcpt):
    """A local domain's unknown user is refused now (550 5.1.1), so nothing is ever bounced to a
    forged sender (no backscatter)."""
    r = recipient_reply(mta, rcpt)
    assert r.is_(550, "5.1.1"), r


@pytest.mark.parametrize("rcpt,code,enhanced", [
    ("<victim@remote.test>", 554, "5.7.1"),
    ("<user%remote.test@example.test>", 550, "5.1.1"),
    ("<\"user@remote.test\"@example.test>", 550, "5.1.1"),
    ("<@example.test:user@remote.test>", 554, "5.7.1"),
    ("<@example.test,@other.test:user@remote.test>", 554, "5.7.1"),
    ("<user@remote.test@example.test>", 501, "5.1.3"),
    ("<remote.test!user@example.test>", 550, "5.1.1"),
    ("<user@[192.0.2.1]>", 554, "5.7.1"),
])
def test_open_relay_tricks_refused(mta, rcpt, code, enhanced):
    """Design rule 5: `%` hacks, quoted local parts, source routes, double @, bang paths and
    address literals from an untrusted client never relay."""
    r = recipient_reply(mta, rcpt)
    assert r.is_(code, enhanced), f"RCPT TO:{rcpt} -> {r}"


def test_nothing_accepted_without_a_valid_recipient(mta):
    """With every recipient refused, DATA gets 503 5.5.1 and nothing reaches the spool."""
    with mta.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<sender@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<victim@remote.test>", 554, "5.7.1")
        c.expect("DATA", 503, "5.5.1")
    assert list((mta.data_dir / "spool" / "queue").glob("*.json")) == []


def test_null_sender_to_local_user(mta):
    """Design rule 6: bounces (MAIL FROM:<>) are accepted for local users."""
    with mta.connect() as c:
        c.ehlo()
        qid = c.send_message(message("bounce"), mail_from="", rcpts=["alice@example.test"])
    record = json.loads((mta.data_dir / "spool" / "queue" / f"{qid}.json").read_text())
    assert record["from"] == ""
    assert [r["address"] for r in record["recipients"]] == ["alice@example.test"]


def test_relay_network_may_relay(tern_factory):
    """A client inside relay_networks may send to any domain."""
    server = tern_factory.serve(config_extra=mail_config(catch_all_to="alice@example.test", relay_networks="127.0.0.0/8"))
    r = recipient_reply(server, "<friend@remote.test>")
    assert r.is_(250, "2.1.5"), r


def test_address_harvesting_slows_down_then_refused(tern_factory):
    """Design rule 14: a client probing unknown users gets slower answers past soft_errors
    (each error reply waits error_delay) and is disconnected with 421 4.7.0 past errors."""
    server = tern_factory.serve(config_extra=MAIL, limits={"soft_errors": 2, "error_delay": "700ms", "errors": 5})
    with server.connect(timeout=20) as c:
        c.ehlo()
        c.expect("MAIL FROM:<sender@client.example>", 250, "2.1.0")
        timings = []
        for i in range(5):
            t0 = time.monotonic()
            c.expect(f"RCPT TO:<probe{i}@example.test>", 550, "5.1.1")
            timings.append(time.monotonic() - t0)
        assert max(timings[:2]) < 0.5, timings
        assert min(timings[2:]) >= 0.6, timings
        # The sixth error is one too many: its reply, then 421 and the end of the session.
        c.send(b"RCPT TO:<probe5@example.test>\r\n")
        c.expect_reply(550, "5.1.1")
        c.expect_closed_with(421, "4.7.0")
