"""swaks, a real-world SMTP test client: STARTTLS (RFC 3207) and PIPELINING (RFC 2920) against
Tern, checked through swaks' exit code and the stored file."""

from __future__ import annotations

import re
import subprocess

import pytest

from ternlib import need_tool

CONTENT = (b"From: swaks <sender@client.example>\r\nTo: rcpt@tern.test\r\nSubject: swaks test\r\n\r\n"
           b"Hello from swaks.\r\n.a line with a leading dot\r\nlast line")  # swaks adds the final CRLF


def run_swaks(server, tmp_path, *extra: str, to: str = "rcpt@tern.test") -> tuple[str, str]:
    swaks = need_tool("swaks")
    msg = tmp_path / "swaks-message.eml"
    msg.write_bytes(CONTENT)
    cmd = [swaks, "--server", f"{server.host}:{server.port}", "--helo", "client.example",
           "--from", "sender@client.example", "--to", to, "--data", f"@{msg}", "--timeout", "10", *extra]
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, f"swaks exited {p.returncode}:\n{out}"
    m = re.search(r"250 2\.0\.0 .*queued as ([0-9A-Z]{16})", out)
    assert m, f"no '250 2.0.0 Ok: queued as <QID>' in swaks' transcript:\n{out}"
    return m.group(1), out


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_swaks_pipeline(tern, tmp_path, tls):
    """swaks --pipeline (and --tls): exit code 0, the message stored once, byte-exact after
    dot-unstuffing, with 'with ESMTPS' under TLS and 'with ESMTP' without."""
    qid, out = run_swaks(tern, tmp_path, "--pipeline", *(["--tls"] if tls else []))
    if tls:
        assert "TLS started" in out or "STARTTLS" in out, out
    assert tern.body_of(qid, proto="ESMTPS" if tls else "ESMTP") == CONTENT + b"\r\n"
    assert len(tern.new_files()) == 1
    tern.assert_tmp_empty()


def test_swaks_several_recipients(tern, tmp_path):
    """swaks with a comma-separated --to: one stored message, no 'for' clause in Received."""
    qid, _ = run_swaks(tern, tmp_path, "--pipeline", "--tls", to="a@tern.test,b@tern.test,c@elsewhere.test")
    assert tern.body_of(qid, proto="ESMTPS", rcpt=None) == CONTENT + b"\r\n"
    assert len(tern.new_files()) == 1
