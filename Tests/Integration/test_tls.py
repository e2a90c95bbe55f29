"""STARTTLS (RFC 3207) and implicit TLS (RFC 8314): the handshake, state reset, injection
(CVE-2011-0411), protocol versions, and the certificates Tern serves."""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
import time

import pytest

from ternlib import (HOSTNAME, ehlo_keywords, make_cert, message, split_received,
                     check_received, unverified_context)


def test_smtplib_starttls(tern):
    """RFC 3207: smtplib upgrades with STARTTLS; the message is stored byte-exact and the
    Received header says 'with ESMTPS' (RFC 3848)."""
    content = message("over TLS")
    with smtplib.SMTP(tern.host, tern.port, local_hostname="client.example", timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        code, resp = s.starttls(context=unverified_context())
        assert (code, resp[:5]) == (220, b"2.0.0"), resp
        s.ehlo()
        assert not s.has_extn("starttls"), "STARTTLS advertised inside TLS"
        s.mail("sender@client.example")
        s.rcpt("rcpt@tern.test")
        code, resp = s.data(content)
        assert code == 250, resp
        qid = re.search(rb"queued as ([0-9A-Z]{16})", resp).group(1).decode()
    assert tern.body_of(qid, proto="ESMTPS") == content
    tern.assert_tmp_empty()


def test_starttls_state_and_misuse(tern):
    """RFC 3207 §4, §4.2: STARTTLS with an argument is 501 5.5.4; after the handshake the EHLO
    state is forgotten (MAIL is 503 5.5.1), EHLO no longer lists STARTTLS, and a second
    STARTTLS is 503 5.5.1."""
    with tern.connect() as c:
        c.ehlo()
        c.expect("STARTTLS now", 501, "5.5.4")
        c.starttls()
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        c.expect("MAIL FROM:<a@client.example>", 503, "5.5.1")
        r = c.ehlo()
        assert "STARTTLS" not in [k.split()[0].upper() for k in ehlo_keywords(r)], r
        c.expect("STARTTLS", 503, "5.5.1")
        content = message("after misuse")
        qid = c.send_message(content)
    assert tern.body_of(qid, proto="ESMTPS") == content


def test_starttls_discards_mid_transaction(tern):
    """RFC 3207 §4.2: a transaction begun before STARTTLS is forgotten; RCPT after the handshake
    without MAIL is 503 5.5.1 and nothing is stored from the plaintext part."""
    with tern.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<plain@client.example>", 250, "2.1.0")
        c.starttls()
        c.ehlo()
        c.expect("RCPT TO:<rcpt@tern.test>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
    assert tern.new_files() == []


def test_starttls_injection_is_discarded(tern):
    """CVE-2011-0411 / RFC 3207 §4.2: bytes pipelined after STARTTLS in the same packet are never
    executed — not answered in plaintext, and not after the handshake either."""
    with tern.connect() as c:
        c.ehlo()
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@tern.test>\r\n")
        c.expect_reply(220, "2.0.0", "STARTTLS")
        leaked = c.pending(0.5)
        assert leaked == b"", f"server answered injected commands in plaintext: {leaked!r}"
        c.wrap_tls()
        # The first reply inside TLS must belong to our NOOP, not to an injected command.
        c.expect("NOOP", 250, "2.0.0")
        c.expect("MAIL FROM:<a@client.example>", 503, "5.5.1")
        c.ehlo()
        c.expect("RCPT TO:<victim@tern.test>", 503, "5.5.1")
        content = message("clean")
        qid = c.send_message(content)
        assert c.pending(0.3) == b""
    assert len(tern.new_files()) == 1
    assert tern.body_of(qid, proto="ESMTPS") == content


def test_smtputf8_over_tls(tern):
    """RFC 6531 §3.7.3 / RFC 3848: SMTPUTF8 after STARTTLS is recorded as 'with UTF8SMTPS'."""
    content = "Subject: TLS + UTF-8\r\n\r\nüñí\r\n".encode()
    with tern.connect() as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.expect("MAIL FROM:<jörg@bücher.example> SMTPUTF8 BODY=8BITMIME".encode(), 250, "2.1.0")
        c.expect("RCPT TO:<zoë@tern.test>".encode(), 250, "2.1.5")
        c.expect("DATA", 354)
        c.send(content + b".\r\n")
        qid = c.expect_reply(250, "2.0.0").qid
    assert tern.body_of(qid, proto="UTF8SMTPS", rcpt="zoë@tern.test") == content


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_versions_supported(tern, version):
    """RFC 8996 / design rule 29: TLS 1.2 and 1.3 both complete a STARTTLS handshake."""
    ctx = unverified_context()
    ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
    with tern.connect() as c:
        c.ehlo()
        c.starttls(ctx)
        assert c.sock.version() == version.replace("_", ".")
        c.ehlo()
        content = message(f"over {version}")
        qid = c.send_message(content)
        c.expect("QUIT", 221, "2.0.0")
    assert tern.body_of(qid, proto="ESMTPS") == content


def tls11_client_hello() -> bytes:
    """A hand-made TLS 1.1 ClientHello (no supported_versions extension), independent of what the
    local OpenSSL is still willing to send."""
    def ext(kind: int, data: bytes) -> bytes:
        return kind.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
    suites = b"".join(c.to_bytes(2, "big") for c in (0xC013, 0xC014, 0xC009, 0xC00A, 0x002F, 0x0035, 0x000A))
    groups = b"".join(g.to_bytes(2, "big") for g in (29, 23, 24))
    exts = (ext(10, len(groups).to_bytes(2, "big") + groups) + ext(11, b"\x01\x00") + ext(0xFF01, b"\x00"))
    body = (b"\x03\x02" + os.urandom(32) + b"\x00" + len(suites).to_bytes(2, "big") + suites + b"\x01\x00"
            + len(exts).to_bytes(2, "big") + exts)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


def test_tls11_refused(tern):
    """RFC 8996 / design rule 29: a TLS 1.1 ClientHello after STARTTLS gets no ServerHello (an alert
    or a close), never a TLS 1.1 session."""
    with tern.connect() as c:
        c.ehlo()
        c.expect("STARTTLS", 220, "2.0.0")
        c.send(tls11_client_hello())
        answer = c.read_until_closed(10)
    if answer[:1] == b"\x16":
        # A handshake record: its ServerHello's version tells what was negotiated.
        assert not (len(answer) >= 11 and answer[5] == 2 and answer[9:11] <= b"\x03\x02"), \
            f"server negotiated TLS <= 1.1: {answer[:16].hex()}"
        raise AssertionError(f"server answered a TLS 1.1 ClientHello with a handshake: {answer[:16].hex()}")
    assert answer == b"" or answer[:1] == b"\x15", f"unexpected answer to a TLS 1.1 hello: {answer[:32].hex()}"


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256",
                                    "AES128-SHA"])
def test_tls12_cbc_and_static_rsa_suites_refused(tern, cipher):
    """Mozilla's intermediate profile: a TLS 1.2 client offering only a CBC or non-forward-secret
    suite gets no session; one offering ECDHE with AES-GCM gets one."""
    with tern.connect() as c:
        c.ehlo()
        context = unverified_context()
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(cipher)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            c.starttls(context)
    with tern.connect() as c:
        c.ehlo()
        context = unverified_context()
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        c.starttls(context)
        assert c.sock.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
        c.expect("EHLO client.example", 250)


def test_dev_self_signed_certificate(tern):
    """Dev mode generates <data>/tls/{cert.pem,key.pem} and serves exactly that certificate."""
    cert, key = tern.data_dir / "tls" / "cert.pem", tern.data_dir / "tls" / "key.pem"
    assert cert.is_file() and key.is_file(), f"missing {cert} or {key}"
    assert b"PRIVATE KEY" in key.read_bytes()
    with tern.connect() as c:
        c.ehlo()
        c.starttls()
        served = c.sock.getpeercert(binary_form=True)
    assert served == ssl.PEM_cert_to_DER_cert(cert.read_text()), "served certificate differs from cert.pem"


def test_configured_certificate_verifies(tern_factory, tmp_path):
    """[tls] certificate/private_key are served; a verifying client trusting that certificate
    completes the handshake for the configured host name."""
    cert, key = make_cert(tmp_path)
    server = tern_factory.dev(tls={"certificate": str(cert), "private_key": str(key)})
    ctx = ssl.create_default_context(cafile=str(cert))
    with server.connect() as c:
        c.ehlo()
        c.starttls(ctx, server_hostname=HOSTNAME)
        c.ehlo()
        content = message("verified TLS")
        qid = c.send_message(content)
    assert server.body_of(qid, proto="ESMTPS") == content


def implicit_tls_server(tern_factory):
    return tern_factory.serve(listeners=[{"address": "127.0.0.1", "port": 0, "role": "mx"},
                                         {"address": "127.0.0.1", "port": 0, "role": "submissions"}])


def test_implicit_tls_submissions(tern_factory):
    """RFC 8314 §3.3: the submissions listener speaks TLS from the first byte; STARTTLS is neither
    offered nor accepted; MAIL needs AUTH first (530 5.7.0)."""
    server = implicit_tls_server(tern_factory)
    lst = server.listener("submissions")
    assert lst.tls == "implicit"
    assert server.listener("mx").tls == "starttls"
    with smtplib.SMTP_SSL(lst.host, lst.port, local_hostname="client.example", timeout=10,
                          context=unverified_context()) as s:
        code, _ = s.ehlo()
        assert code == 250
        assert not s.has_extn("starttls")
        code, resp = s.docmd("STARTTLS")
        assert (code, resp[:5]) == (503, b"5.5.1"), resp
        code, resp = s.mail("sender@client.example")
        assert (code, resp[:5]) == (530, b"5.7.0"), resp


def test_implicit_tls_submission_after_login(tern_factory):
    """The same listener in dev mode, where any login is taken: smtplib.SMTP_SSL logs in and
    sends; the Received header says ESMTPSA (TLS and AUTH, RFC 3848)."""
    server = tern_factory.dev(listeners=[{"address": "127.0.0.1", "port": 0, "role": "submissions"}])
    lst = server.listener("submissions")
    content = message("implicit TLS")
    with smtplib.SMTP_SSL(lst.host, lst.port, local_hostname="client.example", timeout=10,
                          context=unverified_context()) as s:
        s.login("dev-user", "any")
        s.mail("sender@client.example")
        s.rcpt("rcpt@tern.test")
        code, resp = s.data(content)
        assert code == 250, resp
        qid = re.search(rb"queued as ([0-9A-Z]{16})", resp).group(1).decode()
    assert server.body_of(qid, proto="ESMTPSA") == content


def test_cleartext_to_implicit_tls_port(tern_factory):
    """Design rule 27: plaintext SMTP sent to the implicit-TLS port never gets an SMTP answer; the
    connection is closed, and the listener keeps serving TLS clients."""
    server = implicit_tls_server(tern_factory)
    lst = server.listener("submissions")
    with socket.create_connection((lst.host, lst.port), timeout=10) as s:
        s.sendall(b"EHLO client.example\r\nMAIL FROM:<a@client.example>\r\n")
        got = b""
        try:
            while chunk := s.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError(f"implicit-TLS port kept a cleartext client open for 10 s (got {got[:80]!r})")
    assert not re.match(rb"^\d{3}[ -]", got), f"SMTP reply on the implicit TLS port in cleartext: {got[:80]!r}"
    with smtplib.SMTP_SSL(lst.host, lst.port, timeout=10, context=unverified_context()) as s:
        assert s.noop()[0] == 250


@pytest.mark.parametrize("hello", [b"", b"\x16\x03\x01", b"GET / HTTP/1.0\r\n\r\n" + b"\x00" * 64],
                         ids=["silence", "partial-record", "junk"])
def test_handshake_abuse_is_bounded(tern_factory, hello):
    """Design rule 28: after STARTTLS, silence, a partial TLS record or junk never pins the session:
    junk is refused at once and silence ends with the command timeout (1 s here); no plaintext
    SMTP reply follows, and other clients are served meanwhile."""
    server = tern_factory.dev(limits={"command_timeout": "1s"})
    with server.connect() as c:
        c.ehlo()
        c.expect("STARTTLS", 220, "2.0.0")
        t0 = time.monotonic()
        if hello:
            c.send(hello)
        with server.connect() as other:
            other.ehlo()
            other.expect("NOOP", 250, "2.0.0")
        rest = c.read_until_closed(10)
        assert not re.match(rb"^\d{3}[ -]", rest), f"plaintext SMTP reply after STARTTLS: {rest[:80]!r}"
        assert time.monotonic() - t0 < 8
    assert server.new_files() == []


def test_implicit_tls_silence_is_bounded(tern_factory):
    """Design rule 28: a client that connects to the implicit-TLS port and says nothing is closed
    once the command timeout passes."""
    server = tern_factory.serve(listeners=[{"address": "127.0.0.1", "port": 0, "role": "submissions"}],
                                limits={"command_timeout": "1s"})
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        t0 = time.monotonic()
        try:
            got = s.recv(100)
        except ConnectionResetError:
            got = b""
        assert got == b"" or got[:1] == b"\x15", got
        assert time.monotonic() - t0 < 8
