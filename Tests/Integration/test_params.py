"""MAIL/RCPT parameters: DSN (RFC 3461), BODY (RFC 6152, 3030), SMTPUTF8 (RFC 6531), unknown and
duplicate parameters (RFC 5321 §4.1.2), and hostile values: xtext decoding to CR/LF/NUL, shell
metacharacters, path tricks (design rules 8-10)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest

from ternlib import data_payload, message, split_received, check_received


def serve_transaction(server, mail: str, rcpts: list[str], content: bytes, helo: str = "client.example") -> str:
    with server.connect() as c:
        c.ehlo(helo)
        c.expect(mail, 250, "2.1.0")
        for r in rcpts:
            c.expect(r, 250, "2.1.5")
        c.expect("DATA", 354)
        c.send(data_payload(content))
        return c.expect_reply(250, "2.0.0").qid


def test_dsn_parameters_spooled(shared_serve):
    """RFC 3461 §4: RET, ENVID, NOTIFY and ORCPT are accepted and kept in the spooled envelope
    (NOTIFY upper-cased, ENVID and ORCPT in their original xtext form)."""
    content = message("dsn")
    qid = serve_transaction(shared_serve, "MAIL FROM:<s@client.example> RET=HDRS ENVID=QQ+2Bx123", [
        "RCPT TO:<a@tern.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40tern.test",
        "RCPT TO:<b@tern.test> NOTIFY=never",
        "RCPT TO:<c@tern.test> notify=delay,success",
        "RCPT TO:<d@tern.test>",
    ], content)
    eml, env = shared_serve.spooled(qid)
    assert env["ret"] == "HDRS"
    assert env["envid"] == "QQ+2Bx123"
    rcpts = env["recipients"]
    assert [r["address"] for r in rcpts] == ["a@tern.test", "b@tern.test", "c@tern.test", "d@tern.test"]
    assert sorted(rcpts[0]["notify"]) == ["FAILURE", "SUCCESS"]
    assert rcpts[0]["orcpt"] == "rfc822;a+40tern.test"
    assert rcpts[1]["notify"] == ["NEVER"]
    assert sorted(rcpts[2]["notify"]) == ["DELAY", "SUCCESS"]
    assert "orcpt" not in rcpts[1] and "orcpt" not in rcpts[2]
    assert "notify" not in rcpts[3] or rcpts[3]["notify"] in (None, []), rcpts[3]
    assert split_received(eml)[1] == content


def test_envelope_json_fields(shared_serve):
    """The spool envelope (<QID>.json) records id, from, helo, peer, protocol, body, smtputf8, size
    and received_at for a plain ESMTP transaction, and <QID>.eml holds Received + the message."""
    content = message("envelope")
    qid = serve_transaction(shared_serve, "MAIL FROM:<s@client.example>", ["RCPT TO:<r@tern.test>"], content,
                            helo="client.example")
    eml, env = shared_serve.spooled(qid)
    received, rest = split_received(eml)
    check_received(received, helo="client.example", proto="ESMTP", qid=qid, rcpt="r@tern.test")
    assert rest == content
    assert env["id"] == qid
    assert env["from"] == "s@client.example"
    assert env["recipients"] == [{"address": "r@tern.test"}] or \
        [r["address"] for r in env["recipients"]] == ["r@tern.test"]
    assert env["helo"] == "client.example"
    assert "127.0.0.1" in env["peer"]
    assert env["protocol"] == "ESMTP"
    assert env.get("body") in (None, "7BIT")
    assert env["smtputf8"] is False
    assert "ret" not in env or env["ret"] is None
    assert "envid" not in env or env["envid"] is None
    assert env["size"] == len(eml)
    when = dt.datetime.fromisoformat(env["received_at"].replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    assert abs((dt.datetime.now(dt.timezone.utc) - when).total_seconds()) < 3600
    assert shared_serve.data_dir.joinpath("mailboxes").exists() is False or \
        not any(p.is_file() for p in shared_serve.data_dir.joinpath("mailboxes").rglob("*")), \
        "serve mode must only spool in this version"


def test_envelope_body_and_smtputf8(shared_serve):
    """RFC 6152/6531/3030: BODY=8BITMIME and SMTPUTF8 are recorded ('8BITMIME', true, protocol
    UTF8SMTP); a BINARYMIME message via BDAT is recorded as 'BINARYMIME'; the null sender is ""."""
    content = "Subject: 8bit\r\n\r\nÄrger über Öl\r\n".encode()
    qid = serve_transaction(shared_serve, "MAIL FROM:<jörg@bücher.example> BODY=8BITMIME SMTPUTF8",
                            ["RCPT TO:<zoë@tern.test>"], content)
    eml, env = shared_serve.spooled(qid)
    assert env["body"] == "8BITMIME" and env["smtputf8"] is True
    assert env["from"] == "jörg@bücher.example"
    assert env["recipients"][0]["address"] == "zoë@tern.test"
    assert env["protocol"] == "UTF8SMTP"
    check_received(split_received(eml)[0], helo="client.example", proto="UTF8SMTP", qid=qid, rcpt="zoë@tern.test")

    blob = b"Content-Transfer-Encoding: binary\r\n\r\n\x00\n\r\xff"
    with shared_serve.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<> BODY=BINARYMIME", 250, "2.1.0")
        c.expect("RCPT TO:<r@tern.test>", 250, "2.1.5")
        c.send(f"BDAT {len(blob)} LAST\r\n".encode() + blob)
        qid = c.expect_reply(250, "2.0.0").qid
    eml, env = shared_serve.spooled(qid)
    assert env["body"] == "BINARYMIME" and env["from"] == ""
    assert split_received(eml)[1] == blob


MAIL_BAD = ["RET=X", "RET=", "RET=FULL RET=HDRS", "ENVID=a+0D+0Ab", "ENVID=a+0Ab", "ENVID=a+00b", "ENVID=a+zz",
            "ENVID=a+0", "BODY=BOGUS", "BODY=", "SIZE=1 SIZE=2", "BODY=7BIT BODY=8BITMIME", "SMTPUTF8=yes",
            "SMTPUTF8 SMTPUTF8", "ENVID=x ENVID=y", "=value"]
RCPT_BAD = ["NOTIFY=NEVER,SUCCESS", "NOTIFY=", "NOTIFY=BOGUS", "NOTIFY=SUCCESS,,FAILURE",
            "ORCPT=rfc822;a+0D+0A@b.test", "ORCPT=rfc822;a+00@b.test", "ORCPT=rfc822;a+0A@b.test",
            "ORCPT=noaddrtype", "ORCPT=rfc822;a+zz@b.test", "NOTIFY=NEVER NOTIFY=NEVER",
            "ORCPT=rfc822;a@b.test ORCPT=rfc822;a@b.test"]


@pytest.mark.parametrize("param", MAIL_BAD)
def test_bad_mail_parameter(shared_tern, param):
    """RFC 3461 §4.3-4.4, RFC 6152, RFC 1870 and design rule 8: a malformed or duplicated MAIL
    parameter, or xtext that decodes to CR/LF/NUL, is 501 5.5.4 and starts no transaction."""
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        c.ehlo()
        c.expect(f"MAIL FROM:<a@client.example> {param}", 501, "5.5.4")
        c.expect("RCPT TO:<r@tern.test>", 503, "5.5.1")
    assert shared_tern.snapshot() == before


@pytest.mark.parametrize("param", RCPT_BAD)
def test_bad_rcpt_parameter(shared_tern, param):
    """RFC 3461 §4.1-4.2 and design rule 8: NOTIFY=NEVER combined with others, unknown NOTIFY words,
    ORCPT without addr-type or decoding to CR/LF/NUL, duplicates: 501 5.5.4, recipient not added."""
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect(f"RCPT TO:<r@tern.test> {param}", 501, "5.5.4")
        c.expect("DATA", 503, "5.5.1")
    assert shared_tern.snapshot() == before


@pytest.mark.parametrize("where,param", [
    ("MAIL", "FOO=bar"), ("MAIL", "X-TERN=1"), ("MAIL", "NOTIFY=NEVER"), ("MAIL", "ORCPT=rfc822;a@b.test"),
    ("MAIL", "BODY=8BITMIME FOO"), ("RCPT", "FOO=bar"), ("RCPT", "RET=FULL"), ("RCPT", "SIZE=10"),
    ("RCPT", "BODY=8BITMIME"), ("RCPT", "ENVID=x"),
])
def test_unknown_parameter(shared_tern, where, param):
    """RFC 5321 §4.1.1.11 / RFC 1869 (and Exim CVE-2020-28021): a parameter that is not defined for
    the command is 555 5.5.4."""
    before = shared_tern.snapshot()
    with shared_tern.connect() as c:
        c.ehlo()
        if where == "MAIL":
            c.expect(f"MAIL FROM:<a@client.example> {param}", 555, "5.5.4")
        else:
            c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
            c.expect(f"RCPT TO:<r@tern.test> {param}", 555, "5.5.4")
            c.expect("DATA", 503, "5.5.1")
    assert shared_tern.snapshot() == before


def test_non_ascii_address_needs_smtputf8(shared_tern):
    """RFC 6531 §3.4: a UTF-8 address without the SMTPUTF8 parameter is 553 5.6.7, in MAIL and in
    RCPT; with SMTPUTF8 the same addresses are accepted and Received says UTF8SMTP."""
    with shared_tern.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<jörg@bücher.example>".encode(), 553, "5.6.7")
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<zoë@tern.test>".encode(), 553, "5.6.7")
        c.expect("RSET", 250, "2.0.0")
        c.expect("MAIL FROM:<jörg@bücher.example> SMTPUTF8".encode(), 250, "2.1.0")
        c.expect("RCPT TO:<zoë@tern.test>".encode(), 250, "2.1.5")
        c.expect("DATA", 354)
        content = message("utf8")
        c.send(data_payload(content))
        qid = c.expect_reply(250, "2.0.0").qid
    assert shared_tern.body_of(qid, proto="UTF8SMTP", rcpt="zoë@tern.test") == content


def test_invalid_utf8_address_refused(shared_tern):
    """Design rule "bytes, not Characters": an address that is not valid UTF-8 is refused (500, 501
    or 553) even with SMTPUTF8, and the session stays usable."""
    with shared_tern.connect() as c:
        c.ehlo()
        r = c.cmd(b"MAIL FROM:<j\xff\xfe@client.example> SMTPUTF8")
        assert r.code in (500, 501, 553), r
        c.expect("NOOP", 250, "2.0.0")


def shell_addresses(marker: Path) -> list[str]:
    m = str(marker)
    return [f"`touch {m}`@x.test", f"$(touch${{IFS}}{m})@x.test", f"a;touch${{IFS}}{m};@x.test",
            f"a|touch${{IFS}}{m}@x.test", f"${{run{{/bin/touch${{IFS}}{m}}}}}@x.test", f'"|touch {m}"@x.test',
            f"x@$(touch${{IFS}}{m}).test"]


def test_shell_metacharacters_never_executed(tern):
    """Design rule 9 (OpenSMTPD CVE-2020-7247, Exim CVE-2019-10149): shell and template
    metacharacters in addresses are refused (501) or stored as plain text — never executed."""
    marker = Path("/tmp") / f"tern-pwn-{uuid.uuid4().hex}"
    assert not marker.exists()
    stored = 0
    with tern.connect() as c:
        c.ehlo()
        for addr in shell_addresses(marker):
            r = c.cmd(f"MAIL FROM:<{addr}>")
            if r.code == 250:
                c.expect("RCPT TO:<rcpt@tern.test>", 250, "2.1.5")
                c.expect("DATA", 354)
                c.send(data_payload(message("shell")))
                c.expect_reply(250, "2.0.0")
                stored += 1
            else:
                assert r.is_(501, "5.1.7"), f"MAIL FROM:<{addr}>: {r}"
            c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
            r = c.cmd(f"RCPT TO:<{addr}>")
            assert r.code == 250 or r.is_(501, "5.1.3"), f"RCPT TO:<{addr}>: {r}"
            c.expect("RSET", 250, "2.0.0")
    import time
    time.sleep(0.5)
    assert not marker.exists(), f"{marker} was created: an address reached a shell"
    assert len(tern.new_files()) == stored


def test_path_traversal_in_local_part(tern):
    """Design rule 10: '../', '/' and NUL in local parts never write outside the data dir (dev mode
    stores everything in the catch-all Maildir)."""
    token = uuid.uuid4().hex
    addrs = [f"../../../../../../tmp/tern-trav-{token}@x.test", f"a/../../b-{token}@x.test",
             f"..%2f..%2ftern-trav-{token}@x.test", f"\"../{token}\"@x.test", f"{token}+../../x@x.test"]
    before = {p for p in tern.workdir.parent.rglob("*")}
    with tern.connect() as c:
        c.ehlo()
        for addr in addrs:
            c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
            r = c.cmd(f"RCPT TO:<{addr}>")
            if r.code == 250:
                c.expect("DATA", 354)
                c.send(data_payload(message("traversal")))
                c.expect_reply(250, "2.0.0")
            else:
                assert r.is_(501, "5.1.3") or r.code == 550, f"RCPT TO:<{addr}>: {r}"
                c.expect("RSET", 250, "2.0.0")
        r = c.cmd(b"RCPT TO:<a\x00b@x.test>")
        assert r.code >= 500, r
    created = {p for p in tern.workdir.parent.rglob("*")} - before
    outside = [p for p in created if tern.data_dir not in p.parents and p.parent != tern.workdir]
    assert outside == [], f"files created outside the data dir: {outside}"
    assert not any(Path("/tmp").glob(f"tern-trav-{token}*"))
    for p in created:
        if tern.data_dir in p.parents:
            assert p.resolve().is_relative_to(tern.data_dir.resolve())


def test_serve_refusals_spool_nothing(shared_serve):
    """Serve mode: a refused message (bare LF, a BDAT chunk before MAIL, RSET in the middle, a
    dropped connection inside DATA) leaves no .eml, .json or temporary file in the spool."""
    before = shared_serve.snapshot()
    with shared_serve.connect() as c:
        c.ehlo()
        c.mail_rcpt_data()
        c.send(b"Subject: bare LF\r\n\r\nbad\nline\r\n.\r\n")
        c.expect_reply(550, "5.5.2", "bare LF")
        c.send(b"BDAT 4\r\nRSET")
        c.expect_reply(503, "5.5.1", "BDAT before MAIL")
        c.expect("MAIL FROM:<a@client.example>", 250, "2.1.0")
        c.expect("RCPT TO:<r@tern.test>", 250, "2.1.5")
        c.expect("RSET", 250, "2.0.0")
    with shared_serve.connect() as c:
        c.ehlo()
        c.mail_rcpt_data()
        c.send(b"Subject: dropped\r\n\r\n" + b"half\r\n" * 1000)
    time.sleep(0.5)
    assert shared_serve.snapshot() == before, sorted(shared_serve.snapshot() - before)
