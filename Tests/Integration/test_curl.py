"""curl's SMTP client (RFC 5321 with PIPELINING-less upload, RFC 3207 STARTTLS): an uploaded CRLF
file is stored byte-exact."""

from __future__ import annotations

import re
import subprocess

import pytest

from ternlib import need_tool

CONTENT = (b"From: curl <sender@client.example>\r\nTo: rcpt@tern.test\r\nSubject: curl upload\r\n\r\n"
           b"Hello from curl.\r\n.leading dot (curl stuffs it, Tern unstuffs it)\r\n\r\nlast line\r\n")


def run_curl(server, tmp_path, rcpts: list[str], *extra: str) -> str:
    curl = need_tool("curl")
    msg = tmp_path / "curl-message.eml"
    msg.write_bytes(CONTENT)
    cmd = [curl, "-sS", "-v", "--max-time", "30", "--url", f"smtp://{server.host}:{server.port}/client.example",
           "--mail-from", "sender@client.example", *[a for r in rcpts for a in ("--mail-rcpt", r)],
           "--upload-file", str(msg), *extra]
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, f"curl exited {p.returncode}:\n{err}"
    m = re.search(r"< 250 2\.0\.0 .*queued as ([0-9A-Z]{16})", err)
    assert m, f"no '250 2.0.0 Ok: queued as <QID>' in curl -v output:\n{err}"
    return m.group(1)


@pytest.mark.parametrize("starttls", [False, True], ids=["plain", "starttls"])
def test_curl_upload(tern, tmp_path, starttls):
    """curl smtp:// --upload-file: the CRLF file is stored exactly (after Received); with
    --ssl-reqd curl upgrades by STARTTLS and Received says ESMTPS."""
    extra = ["--ssl-reqd", "--insecure"] if starttls else []
    qid = run_curl(tern, tmp_path, ["rcpt@tern.test"], *extra)
    assert tern.body_of(qid, proto="ESMTPS" if starttls else "ESMTP") == CONTENT
    assert len(tern.new_files()) == 1
    tern.assert_tmp_empty()


def test_curl_several_recipients(tern, tmp_path):
    """curl with three --mail-rcpt: one stored message without a 'for' clause."""
    qid = run_curl(tern, tmp_path, ["a@tern.test", "b@tern.test", "c@other.test"])
    assert tern.body_of(qid, rcpt=None) == CONTENT
    assert len(tern.new_files()) == 1
