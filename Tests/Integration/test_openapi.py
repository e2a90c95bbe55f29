"""The catcher's HTTP API fuzzed from its own description (issue 14, "Prove the class is gone"):
schemathesis runs docs/openapi.yaml against the real `tern dev` with every check it has. No 5xx,
no dropped connection, every response (status, content type, headers, body) as described, every
request the description allows accepted and every one it does not allow refused, and 405 with
`Allow` for the methods a path does not have.

The catcher is seeded over SMTP first (plain, multipart with attachments, HTML with an inline
image, a forwarded message, several inboxes), and schemathesis is given the real message IDs (a
dictionary for the `ID` path parameter; for `/part/{PartID}`, messages and part IDs that go
together), and follows the description's links from the list, so the message endpoints answer
from real messages, not only 404 (an operation that only ever answers 404 fails the run:
"missing test data"). The release endpoint sends through an aiosmtpd relay.

Three behaviours cannot be fuzzed in bounded time or without destroying what the rest of the
run reads; the run pins them, and the test checks them directly instead:

- `GET /api/v1/wait` holds a request for `timeout` seconds (up to 300) by design, and answers
  408 when nothing arrives. The run pins `timeout` to a short value (every case then ends in
  bounded time, mostly with 408, which the positive-data check is told is an acceptance) and
  turns off the two warnings that read "valid data mostly answered 4xx" for that operation.
  `timeout` values, and a wait that does get its message (validated against the description),
  are checked below.
- `GET /api/v1/events` never ends: schemathesis reads an event stream until its request timeout,
  so that operation gets a short one.
- `DELETE /api/v1/messages` without IDs, and `DELETE /api/v1/search`, delete every message that
  matches; the run pins their `inbox` to a scratch inbox, so they delete its messages and not
  the ones the other operations read.

Bounded: a fixed seed and a fixed number of examples per operation (reproducible), one worker,
a timeout per request and one for the whole run. schemathesis writes its state into the test's
temporary directory, never into the repository.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from ternlib import CI, REPO

SPEC = REPO / "docs" / "openapi.yaml"
SCHEMATHESIS = "4.32.5"  # what scripts/test installs: a seeded run is reproducible with the same version
# Fixed, so a run is reproducible; TERN_OPENAPI_SEED and TERN_OPENAPI_EXAMPLES explore further
# (and TERN_OPENAPI_REPORT=DIR keeps every request and response).
SEED = int(os.environ.get("TERN_OPENAPI_SEED", "14"))
MAX_EXAMPLES = int(os.environ.get("TERN_OPENAPI_EXAMPLES", "30"))
REQUEST_TIMEOUT = 10  # seconds, per request
WAIT_TIMEOUT = 0.05  # seconds: wait's pinned timeout
RUN_TIMEOUT = 600  # seconds, the whole schemathesis run (it takes under a minute here)
SCRATCH = "scratch"  # the inbox the deleting operations are pinned to


def need_schemathesis() -> None:
    """schemathesis 4 (at least the version scripts/test installs) in this Python; missing, it
    fails under CI=true and skips otherwise, as ternlib.need_tool does for tools."""
    try:
        import schemathesis
        version = schemathesis.__version__
    except ImportError:
        version = None
    wanted = tuple(int(part) for part in SCHEMATHESIS.split("."))
    if version is None or not version.split(".")[0] == "4" or \
            tuple(int(part) for part in version.split(".")[:3] if part.isdigit()) < wanted:
        msg = (f"schemathesis >= {SCHEMATHESIS}, < 5 is not installed for {sys.executable} (found {version}; "
               f"scripts/test installs it)")
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)


def api(server, path: str, timeout: float = 30) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(server.http_url + path, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def send(server, message: EmailMessage, login: str | None = None) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        if login:
            client.login(login, "any password")
        client.send_message(message, from_addr="alice@example.test", to_addrs=["bob@example.test"])


def seed_messages(server) -> None:
    """Messages of every shape the API describes, in three inboxes."""
    plain = EmailMessage()
    plain["From"], plain["To"], plain["Subject"] = "Alice <alice@example.test>", "Bob <bob@example.test>", "Your code"
    plain["Cc"], plain["Reply-To"] = "carol@example.test", "replies@example.test"
    plain["X-Tags"] = "signup, urgent"
    plain["List-Unsubscribe"] = "<mailto:unsub@example.test>, <https://example.test/unsub>"
    plain["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    plain.set_content("Your verification code is 482913.\nConfirm at https://example.test/confirm?t=1\n")
    send(server, plain)

    attached = EmailMessage()
    attached["From"], attached["To"], attached["Subject"] = "=?utf-8?q?Andr=C3=A9?= <andre@example.test>", \
        "bob@example.test", "Invoice ünd report"
    attached.set_content("The invoice is attached.\n")
    attached.add_alternative('<p>The <a href="https://example.test/invoice">invoice</a> is attached.'
                             '<a href="javascript:alert(1)">x</a></p>', subtype="html")
    attached.add_attachment(b"%PDF-1.4 not really\x00\x01\x02", maintype="application", subtype="pdf",
                            filename="invoice.pdf")
    attached.add_attachment("naïve,csv\n1,2\n".encode("latin-1"), maintype="text", subtype="csv",
                            filename="report ü.csv")
    send(server, attached, login="app")
    del attached["Subject"]
    attached["Subject"] = "Invoice again"
    send(server, attached, login="other-app")  # the same parts in another message and inbox

    inline = EmailMessage()
    inline["From"], inline["To"], inline["Subject"] = "news@example.test", "bob@example.test", "With a picture"
    inline.set_content("See the picture.\n")
    inline.add_alternative('<html><body><img src="cid:logo@example.test"><p>Hello</p></body></html>', subtype="html")
    inline.get_payload()[1].add_related(b"\x89PNG\r\n\x1a\n0000", maintype="image", subtype="png",
                                        cid="<logo@example.test>")
    send(server, inline, login="app")

    forwarded = EmailMessage()
    forwarded["From"], forwarded["To"], forwarded["Subject"] = "alice@example.test", "bob@example.test", "Fwd: Your code"
    forwarded.set_content("Forwarding this.\n")
    forwarded.add_attachment(plain)
    send(server, forwarded)

    for n in range(3):
        doomed = EmailMessage()
        doomed["From"], doomed["To"], doomed["Subject"] = "alice@example.test", "bob@example.test", f"scratch {n}"
        doomed.set_content(f"For the deleting operations ({n}).\n")
        send(server, doomed, login=SCRATCH)


def part_ids(part: dict) -> list[str]:
    found = [part["PartID"]] if part["PartID"] else []
    for child in part["Children"]:
        found += part_ids(child)
    return found


def stored_ids(server, count: int) -> tuple[list[str], dict[str, list[str]]]:
    """The IDs of the `count` seeded messages once indexed (but the scratch inbox's), and of
    each one the parts that `/part/{PartID}` serves (leaves and attached messages)."""
    deadline = time.monotonic() + 15
    while True:
        listing = json.loads(api(server, "/api/v1/messages")[2])
        if listing["messages_count"] >= count:
            break
        assert time.monotonic() < deadline, f"{listing['messages_count']} of {count} messages indexed"
        time.sleep(0.1)
    # Not the scratch inbox's: the deleting operations take those away early in the run.
    ids = [summary["ID"] for summary in listing["messages"] if summary["Inbox"] != SCRATCH]
    served: dict[str, list[str]] = {}
    for message_id in ids:
        status, _, body = api(server, f"/api/v1/message/{message_id}")
        assert status == 200, (message_id, status, body)
        served[message_id] = [part for part in part_ids(json.loads(body)["Parts"])
                              if api(server, f"/api/v1/message/{message_id}/part/{part}")[0] == 200]
    return ids, served


def part_pairs(served: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """Messages and part IDs such that every message has every part: schemathesis draws the two
    path parameters independently, and random pairs would mostly be 404."""
    best: tuple[list[str], list[str]] = ([], [])
    for parts in served.values():
        messages = [m for m, theirs in served.items() if parts and set(parts) <= set(theirs)]
        if len(messages) * len(parts) > len(best[0]) * len(best[1]):
            best = (sorted(messages), sorted(parts))
    assert best[0] and best[1], served
    return best


def toml_strings(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def write_config(path: Path, ids: list[str], served: dict[str, list[str]]) -> Path:
    """schemathesis.toml for the run (docs: schemathesis.readthedocs.io, Configuration Options)."""
    part_messages, parts = part_pairs(served)
    everything_but_4xx_warnings = toml_strings([
        "missing_auth", "base_url_mismatch", "missing_deserializer", "unused_openapi_auth", "unsupported_regex",
        "method_not_allowed", "constants_extraction", "unmatched_filter", "unresolvable_reference", "rate_limited",
        "dictionary_mismatch", "timeout_units"])
    path.write_text(f"""
# A warning (e.g. an operation that only ever answered 404: missing test data) fails the run.
warnings = {{ fail-on = true }}
cache = {{ enabled = false }}
generation.database = "none"

# The real messages and parts: most generated IDs are these, the rest are random.
[dictionaries.message-ids]
values = {toml_strings(ids + ["latest"])}
[dictionaries.part-messages]
values = {toml_strings(part_messages)}
[dictionaries.part-ids]
values = {toml_strings(parts)}
[parameters]
"path.ID" = {{ dictionary = "message-ids", probability = 0.8 }}

# A part of a message: messages that all have these parts.
[[operations]]
include-operation-id = "getMessagePart"
parameters = {{ "path.ID" = {{ dictionary = "part-messages", probability = 0.9 }}, "path.PartID" = {{ dictionary = "part-ids", probability = 0.9 }} }}

# wait holds a request for `timeout` seconds and answers 408 when nothing came: bounded here.
[[operations]]
include-operation-id = "waitForMessage"
parameters = {{ "query.timeout" = {WAIT_TIMEOUT} }}
checks.positive_data_acceptance.expected-statuses = ["2xx", 408]
warnings = {{ display = {everything_but_4xx_warnings}, fail-on = true }}

# An endless event stream is read until the request timeout: a short one.
[[operations]]
include-operation-id = "events"
request-timeout = 0.5

# Deleting without IDs deletes every match: only in the scratch inbox.
[[operations]]
include-operation-id = ["deleteMessages", "deleteSearch"]
parameters = {{ "query.inbox" = "{SCRATCH}" }}
""")
    return path


def summary_of(output: str) -> str:
    """schemathesis' summary: from its SUMMARY rule to the end."""
    at = output.rfind("SUMMARY")
    return output[output.rfind("\n", 0, at) + 1:] if at >= 0 else output[-3000:]


def test_api_matches_its_description(tern_factory, peers, tmp_path):
    need_schemathesis()
    relay = peers.start("127.0.0.3")  # aiosmtpd, the release relay: takes every address the description allows
    # The authentication route asks DNS: a closed loopback port, never the machine's resolver.
    server = tern_factory.dev(config_extra=f"""
[dns]
servers = ["127.0.0.1:9"]
timeout = "200ms"
attempts = 1

[catcher.release]
relay = "127.0.0.3:{peers.port}"
security = "none"
allowed_domains = ["*"]
""")
    seed_messages(server)
    ids, served = stored_ids(server, 8)
    config = write_config(tmp_path / "schemathesis.toml", ids, served)
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
               "run", str(SPEC), "--url", server.http_url, "--checks", "all",
               "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
               "--request-timeout", str(REQUEST_TIMEOUT)]
    if os.environ.get("TERN_OPENAPI_REPORT"):  # a directory: every request and response, as HAR and NDJSON
        command += ["--report", "har,ndjson", "--report-dir", os.environ["TERN_OPENAPI_REPORT"]]
    try:
        run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout.decode(errors="replace") if isinstance(expired.stdout, bytes) else expired.stdout or ""
        pytest.fail(f"schemathesis did not finish within {RUN_TIMEOUT} s\n{out[-6000:]}")
    output = run.stdout + run.stderr
    print(output)  # shown with -s or -rA; on failure pytest shows it too
    assert run.returncode == 0, f"schemathesis found problems (exit {run.returncode}):\n{output[-20000:]}"
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested and selected.group(1) == selected.group(2) == tested.group(1), summary_of(output)
    assert relay.messages(), "no release reached the relay: release was only ever refused"

    # Still serving, and the message endpoints really were tested on messages.
    assert api(server, "/healthz")[2] == b"ok"
    assert json.loads(api(server, "/api/v1/messages")[2])["total"] >= 5


def test_wait_timeout_and_a_wait_that_gets_its_message(tern):
    """What the run pins, checked here: wait's `timeout` as a number JSON writes is clamped,
    anything else is refused; a wait that gets its message answers as the description says."""
    need_schemathesis()
    import threading

    import requests
    import schemathesis
    wait = schemathesis.openapi.from_path(SPEC)["/api/v1/wait"]["GET"]
    for bad in ["ten", "inf", "nan", "+5", ".5", "5.", "0x10", "1e400", "", " 1"]:
        status, headers, body = api(tern, "/api/v1/wait?timeout=" + urllib.request.quote(bad))
        assert status == 400 and headers["Content-Type"].startswith("text/plain"), (bad, status, body)
    for fine in ["-1", "0", "-0.5e1", "1E-9"]:
        status, _, body = api(tern, "/api/v1/wait?query=subject:never&timeout=" + urllib.request.quote(fine))
        assert status == 408, (fine, status, body)

    result: dict = {}

    def waiting() -> None:
        result["response"] = requests.get(tern.http_url + "/api/v1/wait?query=subject:arrives&timeout=20", timeout=30)

    waiter = threading.Thread(target=waiting)
    waiter.start()
    time.sleep(0.5)
    arrives = EmailMessage()
    arrives["From"], arrives["To"], arrives["Subject"] = "alice@example.test", "bob@example.test", "arrives"
    arrives.set_content("Code 123456\n")
    send(tern, arrives)
    waiter.join(30)
    response = result["response"]
    assert response.status_code == 200, response.text
    wait.validate_response(response)
    assert response.json()["Subject"] == "arrives"


def test_query_strings_are_read_as_forms_write_them(tern):
    """`+` is a space and `%XX` an octet, as Python's requests (`params=`) and Go (Mailpit's
    clients) write a query: docs/openapi.yaml says so, and schemathesis sends spaces that way."""
    import requests
    hello = EmailMessage()
    hello["From"], hello["To"], hello["Subject"] = "alice@example.test", "bob@example.test", "hello world"
    hello.set_content("Hi.\n")
    send(tern, hello)
    deadline = time.monotonic() + 10
    while json.loads(api(tern, "/api/v1/messages")[2])["total"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    found = requests.get(tern.http_url + "/api/v1/search", params={"query": 'subject:"hello world"'}, timeout=10)
    assert "+" in found.url and [m["Subject"] for m in found.json()["messages"]] == ["hello world"], found.url
    # A query of white space only is no term, however it is written: DELETE refuses it.
    for blank in ["+", "%20%09", "+%E3%80%80+", "%22+%22"]:
        request = urllib.request.Request(f"{tern.http_url}/api/v1/search?query={blank}", method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError(f"DELETE search with query={blank} was accepted")
        except urllib.error.HTTPError as error:
            assert error.code == 400, (blank, error.code)
    assert json.loads(api(tern, "/api/v1/messages")[2])["total"] == 1
