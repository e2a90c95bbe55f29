"""The dev catcher's JSON API over real HTTP against the real binary: messages sent with Python's
smtplib come back decoded (plain, HTML, alternative with attachments, RFC 2047, ISO-8859-1,
a forwarded message/rfc822), in Mailpit's field names; search, read flags, delete, raw and
parts, one inbox per SMTP user, the wait endpoint, server-sent events, and an index that
follows the Maildir files (copied in, removed, rebuilt)."""

from __future__ import annotations

import hashlib
import json
import smtplib
import subprocess
import threading
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from ternlib import tern_bin


def api(server, path: str, method: str = "GET", body: dict | None = None, timeout: float = 30):
    """(status, headers, body bytes) of one request; never raises for an HTTP status."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.http_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def get_json(server, path: str):
    status, _, body = api(server, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def send(server, message, *, login: str | None = None, to: list[str] | None = None) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        if login:
            client.login(login, "any password")
        client.send_message(message, from_addr="sender@client.example", to_addrs=to or ["rcpt@example.test"])


def wait_count(server, count: int, query: str = "", timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        listing = get_json(server, "/api/v1/search?query=" + urllib.request.quote(query) if query else "/api/v1/messages")
        if listing["messages_count"] >= count or time.monotonic() > deadline:
            return listing
        time.sleep(0.05)


def plain_message(subject: str = "plain", body: str = "Hello there.\n", sender: str = "Alice <alice@example.test>"):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Bob <bob@example.test>, carol@example.test"
    message["Subject"] = subject
    message.set_content(body)
    return message


@pytest.fixture
def catcher(tern_factory):
    server = tern_factory.dev()
    assert server.http_url, server.logs()
    return server


def test_messages_come_back_decoded_in_mailpit_shape(catcher):
    """Each kind of message, sent with smtplib, is listed newest first and read back with the
    fields decoded: RFC 2047 subject and names, ISO-8859-1 text, HTML, attachments by part,
    the forwarded message as an attachment; the list and message objects use Mailpit's names."""
    send(catcher, plain_message())
    html = EmailMessage()
    html["From"], html["To"], html["Subject"] = "=?utf-8?q?J=C3=BCrgen?= <j@example.test>", "x@example.test", "=?utf-8?b?8J+OiSBXZWxjb21l?="
    html.set_content("Plain alternative, code 4711 follows: verification code 839201")
    html.add_alternative('<p>Hi <a href="https://example.test/verify?t=abc&amp;u=1">Verify</a></p>', subtype="html")
    html.add_attachment(b"%PDF-1.4\n", maintype="application", subtype="pdf", filename="r\u00e9sum\u00e9.pdf")
    send(catcher, html)
    latin = MIMEText("Gr\u00fc\u00dfe aus K\u00f6ln", "plain", "iso-8859-1")
    latin["From"], latin["To"], latin["Subject"] = "a@example.test", "b@example.test", "latin"
    send(catcher, latin)
    outer = MIMEMultipart()
    outer["From"], outer["To"], outer["Subject"] = "fwd@example.test", "b@example.test", "forwarded"
    outer.attach(MIMEText("see the attached message"))
    from email.mime.message import MIMEMessage
    outer.attach(MIMEMessage(plain_message("inner one")))
    send(catcher, outer)

    listing = wait_count(catcher, 4)
    assert set(listing) >= {"total", "unread", "count", "messages_count", "messages_unread", "start", "tags", "messages"}
    assert listing["total"] == 4 and listing["unread"] == 4 and listing["start"] == 0
    subjects = [m["Subject"] for m in listing["messages"]]
    assert subjects == ["forwarded", "latin", "\U0001F389 Welcome", "plain"], subjects
    summary = listing["messages"][3]
    assert set(summary) >= {"ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo", "Subject", "Created",
                            "Tags", "Size", "Attachments", "Snippet", "Inbox"}
    assert summary["From"] == {"Name": "Alice", "Address": "alice@example.test"}
    assert summary["To"] == [{"Name": "Bob", "Address": "bob@example.test"}, {"Name": "", "Address": "carol@example.test"}]
    assert summary["Snippet"] == "Hello there." and summary["Read"] is False and summary["Inbox"] == "default"
    assert summary["Created"].endswith("Z") and summary["Size"] > 0

    welcome = get_json(catcher, "/api/v1/message/" + listing["messages"][2]["ID"])
    assert welcome["From"] == {"Name": "J\u00fcrgen", "Address": "j@example.test"}
    assert welcome["Text"].startswith("Plain alternative") and "<a href=" in welcome["HTML"]
    assert [(a["FileName"], a["ContentType"]) for a in welcome["Attachments"]] == [("r\u00e9sum\u00e9.pdf", "application/pdf")]
    assert welcome["Attachments"][0]["Size"] == 9
    assert welcome["Attachments"][0]["Checksums"] == {
        "MD5": hashlib.md5(b"%PDF-1.4\n").hexdigest(), "SHA1": hashlib.sha1(b"%PDF-1.4\n").hexdigest(),
        "SHA256": hashlib.sha256(b"%PDF-1.4\n").hexdigest()}
    assert {"Href": "https://example.test/verify?t=abc&u=1", "Text": "Verify"} in welcome["Links"]
    assert "839201" in welcome["Codes"]
    assert welcome["Read"] is True  # opening it marked it read, as in Mailpit
    assert listing["messages"][2]["Attachments"] == 1

    part = welcome["Attachments"][0]["PartID"]
    status, headers, body = api(catcher, f"/api/v1/message/{welcome['ID']}/part/{part}")
    assert status == 200 and body == b"%PDF-1.4\n" and headers["Content-Type"] == "application/pdf"
    assert "attachment" in headers["Content-Disposition"]

    latin_message = get_json(catcher, "/api/v1/message/" + listing["messages"][1]["ID"])
    assert latin_message["Text"].rstrip("\r\n") == "Gr\u00fc\u00dfe aus K\u00f6ln"

    forwarded = get_json(catcher, "/api/v1/message/" + listing["messages"][0]["ID"])
    assert forwarded["Text"] == "see the attached message"
    assert [a["ContentType"] for a in forwarded["Attachments"]] == ["message/rfc822"]
    tree = forwarded["Parts"]
    assert tree["ContentType"] == "multipart/mixed" and [c["PartID"] for c in tree["Children"]] == ["1", "2"]

    status, headers, raw = api(catcher, f"/api/v1/message/{forwarded['ID']}/raw")
    assert status == 200 and raw.startswith(b"Return-Path: <") and b"\r\nReceived: " in raw and b"Subject: forwarded" in raw
    headers_json = get_json(catcher, f"/api/v1/message/{forwarded['ID']}/headers")
    assert headers_json["Subject"] == ["forwarded"]
    assert api(catcher, "/api/v1/message/NOSUCHMESSAGE000")[0] == 404
    assert get_json(catcher, "/api/v1/messages")["unread"] == 1  # three were opened


def test_search_read_flags_and_delete(catcher):
    """Mailpit's search terms; PUT marks read and unread (the Maildir seen flag moves the file to
    cur/ with :2,S); DELETE removes one, a search, or everything."""
    send(catcher, plain_message("invoice 42", sender="billing@shop.example"))
    with_attachment = plain_message("report", sender="boss@example.test")
    with_attachment.add_attachment(b"data", maintype="application", subtype="octet-stream", filename="d.bin")
    send(catcher, with_attachment)
    send(catcher, plain_message("hello again", body="nothing to see"))
    wait_count(catcher, 3)

    def ids(query: str) -> list[str]:
        return [m["Subject"] for m in get_json(catcher, "/api/v1/search?query=" + urllib.request.quote(query))["messages"]]

    assert ids("from:billing") == ["invoice 42"]
    assert ids("has:attachment") == ["report"]
    assert ids("subject:\"hello again\"") == ["hello again"]
    assert ids("-from:billing -has:attachment") == ["hello again"]
    assert ids("invoice") == ["invoice 42"]
    assert ids("to:carol") == ["hello again", "report", "invoice 42"]
    assert ids("nothing") == ["hello again"]  # body text
    assert ids("after:2000-01-01 before:2100-01-01") == ["hello again", "report", "invoice 42"]
    assert ids("before:2000-01-01") == []

    listing = get_json(catcher, "/api/v1/messages")
    report = next(m for m in listing["messages"] if m["Subject"] == "report")
    assert api(catcher, "/api/v1/messages", "PUT", {"IDs": [report["ID"]], "Read": True})[2] == b"ok"
    assert ids("is:read") == ["report"] and len(ids("is:unread")) == 2
    seen = list((catcher.maildir / "cur").glob(f"*{report['ID']}*"))
    assert len(seen) == 1 and seen[0].name.endswith(":2,S"), seen
    api(catcher, "/api/v1/messages", "PUT", {"IDs": [report["ID"]], "Read": False})
    assert ids("is:read") == []
    api(catcher, "/api/v1/messages", "PUT", {"Read": True})  # no IDs: all
    assert get_json(catcher, "/api/v1/messages")["unread"] == 0

    assert api(catcher, "/api/v1/messages", "DELETE", {"IDs": [report["ID"]]})[2] == b"ok"
    assert not list(catcher.maildir.glob(f"*/*{report['ID']}*"))
    assert api(catcher, "/api/v1/search?query=from%3Abilling", "DELETE")[2] == b"ok"
    assert ids("") == ["hello again"]
    assert api(catcher, "/api/v1/search", "DELETE")[0] == 400  # a query is required there
    assert api(catcher, "/api/v1/messages", "DELETE")[2] == b"ok"
    assert get_json(catcher, "/api/v1/messages")["total"] == 0
    assert catcher.all_new_files() == []


def test_one_inbox_per_smtp_user(catcher):
    """Mail of each SMTP login is its own inbox: listed by /api/v1/inboxes, filtered by ?inbox=
    on the list and search, and by inbox: in a query."""
    send(catcher, plain_message("for app one"), login="app-one")
    send(catcher, plain_message("for app two"), login="app-two")
    send(catcher, plain_message("anonymous"))
    wait_count(catcher, 3)
    inboxes = get_json(catcher, "/api/v1/inboxes")
    assert inboxes == [{"Name": "app-one", "Total": 1, "Unread": 1}, {"Name": "app-two", "Total": 1, "Unread": 1},
                       {"Name": "default", "Total": 1, "Unread": 1}]
    assert [m["Subject"] for m in get_json(catcher, "/api/v1/messages?inbox=app-one")["messages"]] == ["for app one"]
    only_two = get_json(catcher, "/api/v1/search?query=for&inbox=app-two")
    assert [m["Subject"] for m in only_two["messages"]] == ["for app two"] and only_two["messages"][0]["Username"] == "app-two"
    assert [m["Subject"] for m in get_json(catcher, "/api/v1/search?query=inbox%3Adefault")["messages"]] == ["anonymous"]


def test_wait_returns_the_next_matching_message(catcher):
    """GET /api/v1/wait holds the request until a matching message arrives (returned whole) or
    the timeout passes (408). Messages already there, or not matching, do not end the wait."""
    send(catcher, plain_message("already here"))
    wait_count(catcher, 1)

    def later():
        time.sleep(0.8)
        send(catcher, plain_message("not this one"))
        send(catcher, plain_message("Your code", body="Your verification code is 551234."), login="signup-tests")

    thread = threading.Thread(target=later)
    started = time.monotonic()
    thread.start()
    status, _, body = api(catcher, "/api/v1/wait?query=" + urllib.request.quote("subject:code") + "&inbox=signup-tests&timeout=20")
    thread.join()
    assert status == 200, body
    message = json.loads(body)
    assert message["Subject"] == "Your code" and message["Codes"] == ["551234"]
    assert 0.5 < time.monotonic() - started < 10

    started = time.monotonic()
    status, _, body = api(catcher, "/api/v1/wait?query=subject%3Anever&timeout=1")
    assert status == 408 and 0.9 < time.monotonic() - started < 5


def test_events_stream_new_messages(catcher):
    """GET /api/v1/events is a server-sent event stream: a message stored while it is open
    arrives as an event with its summary."""
    request = urllib.request.Request(catcher.http_url + "/api/v1/events")
    with urllib.request.urlopen(request, timeout=15) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        threading.Timer(0.5, lambda: send(catcher, plain_message("live"))).start()
        event = None
        while True:
            line = stream.readline().decode()
            if line.startswith("event: "):
                event = line.split(": ", 1)[1].strip()
            if line.startswith("data: ") and event == "stored":
                assert json.loads(line[6:])["Subject"] == "live"
                break


def test_index_follows_the_maildir(catcher):
    """The Maildir is the truth: an .eml copied into new/ shows up, a removed file disappears,
    and a deleted index is rebuilt at start with the read flags the files carry."""
    send(catcher, plain_message("first"))
    wait_count(catcher, 1)
    first = get_json(catcher, "/api/v1/messages")["messages"][0]
    copied = catcher.maildir / "new" / "dropped-in.eml"
    copied.write_bytes(bytes(plain_message("copied in")))
    listing = wait_count(catcher, 2)
    assert [m["Subject"] for m in listing["messages"]] == ["first", "copied in"] or \
        [m["Subject"] for m in listing["messages"]] == ["copied in", "first"]
    copied.unlink()
    deadline = time.monotonic() + 10
    while get_json(catcher, "/api/v1/messages")["total"] != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert get_json(catcher, "/api/v1/messages")["total"] == 1

    get_json(catcher, "/api/v1/message/" + first["ID"])  # marks it read
    catcher.stop()
    (catcher.data_dir / "catcher.sqlite").unlink()
    catcher.start()
    rebuilt = get_json(catcher, "/api/v1/messages")
    assert rebuilt["total"] == 1 and rebuilt["messages"][0]["ID"] == first["ID"] and rebuilt["messages"][0]["Read"]


def test_health_and_unknown_paths(catcher):
    assert api(catcher, "/healthz")[2] == b"ok"
    assert api(catcher, "/livez")[0] == 200 and api(catcher, "/readyz")[0] == 200
    assert api(catcher, "/api/v1/nothing")[0] == 404
    assert api(catcher, "/api/v1/messages", "DELETE", None)[0] == 200
    status, _, _ = api(catcher, "/api/v1/messages", "PUT", None)
    assert status == 200


def test_retention_keeps_the_newest(tern_factory):
    """[catcher] max_messages: the newest N are kept, the oldest deleted first, files and all."""
    server = tern_factory.dev(config_extra="[catcher]\nmax_messages = 3\n")
    for n in range(5):
        send(server, plain_message(f"number {n}"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listing = get_json(server, "/api/v1/messages")
        if [m["Subject"] for m in listing["messages"]] == ["number 4", "number 3", "number 2"]:
            break
        time.sleep(0.1)
    assert [m["Subject"] for m in listing["messages"]] == ["number 4", "number 3", "number 2"], listing
    assert listing["total"] == 3 and len(server.all_new_files()) == 3


def test_prometheus_metrics(catcher):
    """/metrics speaks Prometheus' text format: the SMTP counters and the catcher's inboxes."""
    send(catcher, plain_message("counted"), login="metrics-app")
    wait_count(catcher, 1)
    status, headers, body = api(catcher, "/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'tern_catcher_messages{inbox="metrics-app"} 1' in text, text
    assert 'tern_catcher_unread_messages{inbox="metrics-app"} 1' in text
    messages = [line for line in text.splitlines() if line.startswith("tern_smtp_messages_total")]
    assert messages and float(messages[0].rsplit(" ", 1)[1]) >= 1, text


def test_info_and_webui_in_mailpit_shape(catcher):
    """GET /api/v1/info: the version `tern --version` prints (never one asked of the Internet),
    the index file and its size, totals, tags with counts, and what SMTP accepted and refused
    and the API deleted since the start. GET /api/v1/webui: the web UI's settings, no release."""
    tagged = plain_message("tagged")
    tagged["X-Tags"] = "invoice, urgent"
    send(catcher, tagged)
    send(catcher, plain_message("untagged"))
    send(catcher, plain_message("doomed"))
    with smtplib.SMTP(catcher.host, catcher.port, timeout=10) as client:
        client.ehlo()
        assert client.docmd("MAIL FROM:<no-closing-bracket")[0] == 501
    listing = wait_count(catcher, 3)
    doomed = next(m["ID"] for m in listing["messages"] if m["Subject"] == "doomed")
    assert api(catcher, "/api/v1/messages", "DELETE", {"IDs": [doomed]})[0] == 200
    get_json(catcher, "/api/v1/message/" + listing["messages"][1]["ID"])  # one read

    info = get_json(catcher, "/api/v1/info")
    version = subprocess.run([str(tern_bin()), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert info["Version"] == version and info["LatestVersion"] == version
    assert info["Database"] == str(catcher.data_dir / "catcher.sqlite") and info["DatabaseSize"] > 0
    assert (info["Messages"], info["Unread"]) == (2, 1)
    assert info["Tags"] == {"invoice": 1, "urgent": 1}
    stats = info["RuntimeStats"]
    assert set(stats) == {"Memory", "MessagesDeleted", "SMTPAccepted", "SMTPAcceptedSize", "SMTPRejected",
                          "SMTPIgnored", "Uptime"}
    assert stats["SMTPAccepted"] == 3 and stats["SMTPAcceptedSize"] > 3 * 100
    assert stats["SMTPRejected"] == 1 and stats["SMTPIgnored"] == 0 and stats["MessagesDeleted"] == 1
    assert stats["Memory"] > 1_000_000 and 0 <= stats["Uptime"] < 600

    webui = get_json(catcher, "/api/v1/webui")
    assert webui == {
        "Label": "", "SpamAssassin": False, "ChaosEnabled": True, "DuplicatesIgnored": False,
        "HideDeleteAllButton": False,
        "MessageRelay": {"Enabled": False, "SMTPServer": "", "AllowedRecipients": "", "BlockedRecipients": "",
                         "OverrideFrom": "", "PreserveMessageIDs": True, "ReturnPath": ""}}

def test_send_api_in_mailpit_shape(catcher):
    """POST /api/v1/send with Mailpit's JSON: the message it makes is caught (its ID comes
    back), and reads back field by field through the API and through Python's own MIME parser;
    a request Mailpit would refuse gets 400 with {"Error"}."""
    import base64
    import email
    import email.policy
    png = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + bytes(range(256))
    request = {
        "From": {"Email": "app@example.test", "Name": "The App"},
        "To": [{"Email": "dev@example.test", "Name": "Dev, Senior"}], "Cc": [{"Email": "cc@example.test"}],
        "Bcc": ["hidden@example.test"], "ReplyTo": [{"Email": "reply@example.test"}],
        "Subject": "\u00dcber the API \U0001F680", "Text": "plain body\nline two", "HTML": '<p>html <img src="cid:logo"></p>',
        "Attachments": [
            {"Content": base64.b64encode(b"%PDF-1.4\n").decode(), "Filename": "r\u00e9sum\u00e9.pdf"},
            {"Content": base64.b64encode(png).decode(), "Filename": "logo.png", "ContentType": "image/png",
             "ContentID": "logo"}],
        "Headers": {"X-Campaign": "welcome"}, "Tags": ["signup", "api"],
    }
    status, _, data = api(catcher, "/api/v1/send", "POST", request)
    assert status == 200, data
    message_id = json.loads(data)["ID"]
    message = get_json(catcher, f"/api/v1/message/{message_id}")
    assert message["From"] == {"Name": "The App", "Address": "app@example.test"}
    assert message["To"] == [{"Name": "Dev, Senior", "Address": "dev@example.test"}]
    assert [a["Address"] for a in message["Cc"]] == ["cc@example.test"]
    assert [a["Address"] for a in message["Bcc"]] == ["hidden@example.test"]
    assert [a["Address"] for a in message["ReplyTo"]] == ["reply@example.test"]
    assert message["Subject"] == "\u00dcber the API \U0001F680" and message["ReturnPath"] == "app@example.test"
    assert message["Text"].replace("\r\n", "\n").rstrip("\n") == "plain body\nline two"
    assert message["HTML"].startswith('<p>html <img src="cid:logo"></p>')
    assert [(a["FileName"], a["ContentType"]) for a in message["Attachments"]] == [("r\u00e9sum\u00e9.pdf", "application/pdf")]
    assert message["Attachments"][0]["Checksums"]["SHA256"] == hashlib.sha256(b"%PDF-1.4\n").hexdigest()
    assert [(a["FileName"], a["ContentID"]) for a in message["Inline"]] == [("logo.png", "logo")]
    assert message["Inline"][0]["Checksums"]["MD5"] == hashlib.md5(png).hexdigest()
    assert message["Tags"] == ["signup", "api"]
    assert get_json(catcher, f"/api/v1/message/{message_id}/headers")["X-Campaign"] == ["welcome"]

    raw = api(catcher, f"/api/v1/message/{message_id}/raw")[2]
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "\u00dcber the API \U0001F680" and parsed["From"].addresses[0].display_name == "The App"
    files = {part.get_filename(): part.get_content() for part in parsed.iter_attachments()}
    assert files == {"r\u00e9sum\u00e9.pdf": b"%PDF-1.4\n"}
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip() == "plain body\nline two"

    for refused in ({"To": [{"Email": "a@example.test"}]},
                    {"From": {"Email": "not an address"}},
                    {"From": {"Email": "a@example.test"}, "Attachments": [{"Content": "***", "Filename": "x"}]},
                    {"From": {"Email": "a@example.test"}, "Headers": {"Bad Name": "x"}},
                    {"From": {"Email": "a@example.test"}, "Headers": {"Content-Type": "text/html"}}):
        status, headers, data = api(catcher, "/api/v1/send", "POST", refused)
        assert status == 400 and headers["Content-Type"] == "application/json", (refused, status, data)
        assert set(json.loads(data)) == {"Error"}
    assert wait_count(catcher, 1)["messages_count"] == 1

    # A line break can never start a field of its own: it becomes a space.
    status, _, data = api(catcher, "/api/v1/send", "POST", {
        "From": {"Email": "a@example.test", "Name": "Eve\r\nBcc: victim@example.test"}, "Subject": "two\nlines",
        "Headers": {"X-Evil": "a\r\nBcc: victim@example.test"}})
    assert status == 200, data
    injected = json.loads(data)["ID"]
    headers = get_json(catcher, f"/api/v1/message/{injected}/headers")
    assert "Bcc" not in headers and headers["X-Evil"] == ["a  Bcc: victim@example.test"]
    assert get_json(catcher, f"/api/v1/message/{injected}")["Subject"] == "two lines"

class WebSocket:
    """A WebSocket client (RFC 6455) by hand, enough to read the catcher's text messages:
    the upgrade, then unmasked server frames; the client's own frames are masked."""

    def __init__(self, server, path: str = "/api/events", host: str | None = None, origin: str | None = None):
        import base64
        import os
        import socket
        address = server.http_url.removeprefix("http://")
        name, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((name, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: {host or address}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if origin:
            request += f"Origin: {origin}\r\n"
        self.sock.sendall((request + "\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1]) if head else 0
        self.headers = head.decode("latin-1")

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def message(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(self._read(2), "big")
        elif length == 127:
            length = int.from_bytes(self._read(8), "big")
        return first & 0x0F, self._read(length)

    def text(self) -> dict:
        while True:
            opcode, payload = self.message()
            if opcode == 1:
                return json.loads(payload)
            assert opcode in (9, 10), (opcode, payload)  # pings and pongs pass

    def close(self):
        import os
        mask = os.urandom(4)
        payload = (1000).to_bytes(2, "big")
        self.sock.sendall(bytes([0x88, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        self.sock.close()


def test_websocket_events_in_mailpit_shape(catcher):
    """GET /api/events upgraded to a WebSocket: a new message arrives as {"Type": "new"} with
    its summary, then {"Type": "stats"}; reading it sends an update, deleting it a delete. A
    page elsewhere (another Origin) or a rebound Host name gets no WebSocket."""
    socket_ = WebSocket(catcher, origin=catcher.http_url)
    assert socket_.status == 101, socket_.headers
    try:
        send(catcher, plain_message("over the socket"))
        new = socket_.text()
        assert new["Type"] == "new" and new["Data"]["Subject"] == "over the socket", new
        message_id = new["Data"]["ID"]
        assert socket_.text() == {"Type": "stats", "Data": {"Total": 1, "Unread": 1, "Version": new_version()}}
        get_json(catcher, f"/api/v1/message/{message_id}")
        assert socket_.text() == {"Type": "update", "Data": {"ID": message_id, "Read": True}}
        assert socket_.text()["Data"]["Unread"] == 0
        assert api(catcher, "/api/v1/messages", "DELETE", {"IDs": [message_id]})[0] == 200
        assert socket_.text() == {"Type": "delete", "Data": {"ID": message_id}}
    finally:
        socket_.close()

    elsewhere = WebSocket(catcher, origin="http://evil.example")
    assert elsewhere.status != 101, elsewhere.headers
    elsewhere.sock.close()
    rebound = WebSocket(catcher, host="evil.example:8025")
    assert rebound.status == 400, rebound.headers  # the upgrade is refused before any route
    rebound.sock.close()


def new_version() -> str:
    return subprocess.run([str(tern_bin()), "--version"], capture_output=True, text=True, check=True).stdout.strip()

class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that answers the first `failures` POSTs with 503 and the
    rest with 204, recording each request (when, path, headers, body)."""

    def __init__(self, failures: int):
        import http.server
        receiver = self
        self.failures = failures
        self.requests: list[tuple[float, str, dict, bytes]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((time.monotonic(), self.path, dict(self.headers), body))
                failing = len(receiver.requests) <= receiver.failures
                self.send_response(503 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mail?token=abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 20) -> list:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_webhook_posts_each_message_and_retries(tern_factory):
    """`--webhook-url`: each caught message's summary is POSTed as JSON (Mailpit's
    MessageSummary); a receiver that fails twice gets the same message again after a growing
    delay, then takes it; the SMTP client's 250 never waits for any of it."""
    receiver = WebhookReceiver(failures=2)
    try:
        server = tern_factory.dev(args=["--webhook-url", receiver.url])
        started = time.monotonic()
        send(server, plain_message("hooked"))
        assert time.monotonic() - started < 2, "the 250 waited for the webhook"
        requests = receiver.wait(3)
        assert len(requests) == 3, requests
        (first, path, headers, body), (second, _, _, again), (third, _, _, last) = requests
        assert path == "/hooks/mail?token=abc" and headers["Content-Type"] == "application/json"
        assert headers["User-Agent"].startswith("Tern/")
        assert body == again == last
        summary = json.loads(body)
        assert summary["Subject"] == "hooked" and summary["From"]["Address"] == "alice@example.test"
        assert set(summary) >= {"ID", "MessageID", "Read", "To", "Created", "Tags", "Size", "Snippet"}
        assert second - first >= 0.4 and third - second >= 0.9, (first, second, third)  # 0.5 s, then 1 s
        send(server, plain_message("second"))
        requests = receiver.wait(4)
        assert json.loads(requests[3][3])["Subject"] == "second"
        time.sleep(1)
        assert len(receiver.requests) == 4, "a delivered message was posted again"
        assert "webhook delivered" in server.logs()
    finally:
        receiver.close()

    status = subprocess.run([str(tern_bin()), "dev", "--webhook-url", "ftp://example.test/x"],
                            capture_output=True, text=True, timeout=30)
    assert status.returncode != 0 and "--webhook-url" in status.stderr + status.stdout

def release(server, message_id: str, to: list[str]):
    return api(server, f"/api/v1/message/{message_id}/release", "POST", {"To": to})


def test_release_sends_a_caught_message_on(tern_factory, peers):
    """POST /api/v1/message/{ID}/release sends the message through [catcher.release] (here an
    aiosmtpd peer on 127.0.0.3) to recipients of the allowed domains only; a refused recipient
    is reported (502); without the section, release is refused (503)."""
    peer = peers.start("127.0.0.3", "--reject-rcpt", "nobody@example.test")
    server = tern_factory.dev(config_extra=f"""
[catcher.release]
relay = "127.0.0.3:{peers.port}"
security = "none"
allowed_domains = ["example.test"]
""")
    send(server, plain_message("release me"))
    message_id = wait_count(server, 1)["messages"][0]["ID"]
    status, _, body = release(server, message_id, ["dev@example.test"])
    assert status == 200 and body == b"ok", body
    [got] = peer.wait_messages(1)
    assert got["rcpt_tos"] == ["dev@example.test"] and got["mail_from"] == "alice@example.test"
    assert "Subject: release me" in got["content"]

    status, _, body = release(server, message_id, ["someone@elsewhere.test"])
    assert status == 400 and b"elsewhere.test" in body
    status, _, body = release(server, message_id, ["nobody@example.test"])
    assert status == 502 and b"nobody@example.test" in body, body
    assert release(server, message_id, [])[0] == 400
    assert release(server, "NOSUCHMESSAGE000", ["dev@example.test"])[0] == 404
    assert len(peer.messages()) == 1
    relay = get_json(server, "/api/v1/webui")["MessageRelay"]
    assert relay["Enabled"] is True and relay["SMTPServer"] == f"127.0.0.3:{peers.port}"
    assert relay["AllowedRecipients"] == "(?i)@(.+\\.)?(example\\.test)$"

    plain_server = tern_factory.dev()
    send(plain_server, plain_message("stays"))
    other_id = wait_count(plain_server, 1)["messages"][0]["ID"]
    assert release(plain_server, other_id, ["dev@example.test"])[0] == 503


def test_http_listener_survives_junk(catcher):
    """Random bytes, a broken request line, an endless header and a huge body on the HTTP port
    leave the catcher answering (hostile-inputs 45)."""
    import os
    import random
    import socket
    from urllib.parse import urlparse
    where = urlparse(catcher.http_url)
    junk = [os.urandom(4096), b"GET / HTTP/9.9\r\n\r\n", b"\x16\x03\x01\x02\x00" + os.urandom(512),
            b"GET /api/v1/messages HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 200_000 + b"\r\n\r\n",
            b"PUT /api/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + b"{" * 65536,
            b"GET /api/v1/message/" + b"%00" * 500 + b" HTTP/1.1\r\nHost: x\r\n\r\n"]
    random.seed(7)
    for payload in junk + [bytes(random.getrandbits(8) for _ in range(2048)) for _ in range(10)]:
        with socket.create_connection((where.hostname, where.port), timeout=5) as s:
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                s.recv(65536)
            except OSError:
                pass  # the server may close first: that is fine
    assert api(catcher, "/healthz")[2] == b"ok"
    send(catcher, plain_message("still here"))
    assert wait_count(catcher, 1)["messages"][0]["Subject"] == "still here"


def test_pages_elsewhere_cannot_use_the_catcher(catcher):
    """A request naming another host (DNS rebinding) is refused (421), and so is a body that is
    not JSON (a cross-site "simple" POST); the real clients' requests pass."""
    import http.client
    from urllib.parse import urlparse
    send(catcher, plain_message("private"))
    wait_count(catcher, 1)
    where = urlparse(catcher.http_url)

    def raw(method: str, path: str, host: str, body: bytes | None = None, content_type: str | None = None) -> int:
        connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
        headers = {"Host": host}
        if content_type:
            headers["Content-Type"] = content_type
        connection.request(method, path, body=body, headers=headers)
        status = connection.getresponse().status
        connection.close()
        return status

    assert raw("GET", "/api/v1/messages", "evil.example:8025") == 421
    assert raw("GET", "/", "attacker.test") == 421
    assert raw("GET", "/api/v1/messages", f"localhost:{where.port}") == 200
    assert raw("GET", "/api/v1/messages", f"127.0.0.1:{where.port}") == 200
    assert raw("DELETE", "/api/v1/messages", f"127.0.0.1:{where.port}", b'{"IDs": []}', "text/plain") == 415
    assert raw("PUT", "/api/v1/messages", f"127.0.0.1:{where.port}", b'{"Read": true}', "text/plain") == 415
    assert get_json(catcher, "/api/v1/messages")["total"] == 1 and get_json(catcher, "/api/v1/messages")["unread"] == 1


def test_allowed_host_names_reach_the_catcher(tern_factory):
    """Issue 19: a catcher reached by a name (an /etc/hosts alias, a docker-compose service)
    answers when the name is allowed, from the configuration or from --http-allow-host, and
    without the name the 421 says how to allow it. Any other name is still refused."""
    import http.client
    from urllib.parse import urlparse
    server = tern_factory.dev(config_extra='[catcher]\nallowed_hosts = ["Tern.Test"]\n',
                              args=["--http-allow-host", "mailpit"])
    where = urlparse(server.http_url)

    def get(host: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
        connection.request("GET", "/api/v1/messages", headers={"Host": host})
        response = connection.getresponse()
        result = (response.status, response.read())
        connection.close()
        return result

    assert get(f"tern.test:{where.port}")[0] == 200
    assert get("TERN.TEST")[0] == 200
    assert get(f"mailpit:{where.port}")[0] == 200
    status, body = get(f"evil.example:{where.port}")
    assert status == 421
    assert b'allowed_hosts = ["evil.example"]' in body and b"--http-allow-host evil.example" in body, body
    assert get(f"tern.test.evil.example:{where.port}")[0] == 421
    # Without the configuration, the same name is refused.
    plain = tern_factory.dev()
    connection = http.client.HTTPConnection(urlparse(plain.http_url).hostname, urlparse(plain.http_url).port, timeout=10)
    connection.request("GET", "/api/v1/messages", headers={"Host": "tern.test"})
    assert connection.getresponse().status == 421
    connection.close()


def test_release_over_starttls_with_auth(tern_factory, peers, tmp_path):
    """Release to a relay that wants STARTTLS and AUTH (the usual submission server), with the
    password read from password_file: the peer sees TLS and the login, and the password is
    never logged."""
    from ternlib import CertificateAuthority
    ca = CertificateAuthority.create(tmp_path / "ca")
    cert, key = ca.issue("relay", ["127.0.0.4"])
    peer = peers.start("127.0.0.4", "--tls-cert", str(cert), "--tls-key", str(key), "--auth", "dev:s3cret pass")
    secret = tmp_path / "relay-password"
    secret.write_text("s3cret pass\n")
    server = tern_factory.dev(config_extra=f"""
[catcher.release]
relay = "127.0.0.4:{peers.port}"
security = "starttls"
username = "dev"
password_file = "{secret}"
tls_ca_file = "{ca.cert}"
allowed_domains = ["*"]
""")
    send(server, plain_message("over tls"))
    message_id = wait_count(server, 1)["messages"][0]["ID"]
    status, _, body = release(server, message_id, ["someone@anywhere.example"])
    assert status == 200, body
    [got] = peer.wait_messages(1)
    assert got["tls"] is True and got["auth_login"] == "dev" and got["rcpt_tos"] == ["someone@anywhere.example"]
    assert "s3cret" not in server.stderr_text()


# [catcher.release] authenticates its relay: the credentials go only to a server whose
# certificate chains to the system store or to tls_ca_file and names the relay (RFC 8314 §4.1).

def dev_with_release(tern_factory, relay: str, security: str, extra: str = ""):
    return tern_factory.dev(config_extra=f"""
[catcher.release]
relay = "{relay}"
security = "{security}"
username = "tern"
password = "s3cret"
allowed_domains = ["example.test"]
{extra}
""")


def caught(server, subject: str) -> str:
    send(server, plain_message(subject))
    return wait_count(server, 1)["messages"][0]["ID"]


def tls_peer_options(cert, key, implicit: bool) -> list[str]:
    return ["--tls-cert", str(cert), "--tls-key", str(key), "--auth", "tern:s3cret",
            *(["--implicit-tls"] if implicit else [])]


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "tls"])
def test_release_checks_the_relay_certificate(tern_factory, peers, tmp_path, implicit):
    """The catcher's release over STARTTLS and over implicit TLS: delivered with the CA of
    tls_ca_file; refused (502 naming the certificate, nothing sent, no AUTH) with the system
    store or a certificate for another address; delivered again with tls_verify = false."""
    from ternlib import CertificateAuthority, make_cert
    ca = CertificateAuthority.create(tmp_path / "ca")
    security = "tls" if implicit else "starttls"
    cert, key = ca.issue("release", ["127.0.0.4"])
    peer = peers.start("127.0.0.4", *tls_peer_options(cert, key, implicit))
    relay = f"127.0.0.4:{peers.port}"

    server = dev_with_release(tern_factory, relay, security, f'tls_ca_file = "{ca.cert}"')
    status, _, body = release(server, caught(server, "released"), ["dev@example.test"])
    assert status == 200, body
    [got] = peer.wait_messages(1)
    assert got["tls"] is True and got["auth_login"] == "tern"
    server.stop()

    untrusted = dev_with_release(tern_factory, relay, security)
    status, _, body = release(untrusted, caught(untrusted, "not released"), ["dev@example.test"])
    assert status == 502 and b"the certificate is not trusted" in body, body
    untrusted.stop()

    wrong_cert, wrong_key = ca.issue("release-other", ["127.0.0.9", "elsewhere.test"])
    other = peers.start("127.0.0.6", *tls_peer_options(wrong_cert, wrong_key, implicit))
    wrong = dev_with_release(tern_factory, f"127.0.0.6:{peers.port}", security, f'tls_ca_file = "{ca.cert}"')
    status, _, body = release(wrong, caught(wrong, "wrong name"), ["dev@example.test"])
    assert status == 502 and b"the certificate does not name 127.0.0.6" in body, body
    assert "s3cret" not in wrong.stderr_text() + untrusted.stderr_text()
    wrong.stop()
    assert other.messages() == [] and other.auth_attempts() == []
    assert len(peer.messages()) == 1 and len(peer.auth_attempts()) == 1

    self_signed, self_key = make_cert(tmp_path, "self-signed.test")
    unchecked_peer = peers.start("127.0.0.2", *tls_peer_options(self_signed, self_key, implicit))
    unchecked = dev_with_release(tern_factory, f"127.0.0.2:{peers.port}", security, "tls_verify = false")
    status, _, body = release(unchecked, caught(unchecked, "unchecked"), ["dev@example.test"])
    assert status == 200, body
    [got] = unchecked_peer.wait_messages(1)
    assert got["tls"] is True and got["auth_login"] == "tern"


def test_sendmail_from_a_shell_pipeline(tern_factory):
    """Issue 19: `tern sendmail -t` as PHP and cron call it, in a shell pipeline: the message
    reaches the catcher with its To, Cc and Bcc recipients, Bcc: is gone from the header, and
    the missing Date and Message-ID were added; -f sets the envelope sender (the API's
    ReturnPath). A server that is not there exits 75 (try again), bad usage 64."""
    server = tern_factory.dev()
    smtp = f"{server.host}:{server.port}"
    script = ("printf 'From: Shop <shop@example.org>\\nTo: a@example.com\\nCc: b@example.com\\n"
              "Bcc: hidden@example.net\\nSubject: piped\\n\\nHello from a pipe.\\n' | "
              f"{tern_bin()} sendmail -t -oi -f bounces@example.org -S {smtp}")
    run = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    listing = wait_count(server, 1)
    summary = listing["messages"][0]
    assert summary["Subject"] == "piped"
    assert sorted(a["Address"] for a in summary["To"] + summary["Cc"]) == ["a@example.com", "b@example.com"]
    message = get_json(server, f"/api/v1/message/{summary['ID']}")
    assert message["ReturnPath"] == "bounces@example.org"
    status, _, raw = api(server, f"/api/v1/message/{summary['ID']}/raw")
    assert b"Bcc:" not in raw and b"hidden@example.net" not in raw.split(b"\r\n\r\n", 1)[0].split(b"Received:", 1)[1]
    assert b"\r\nDate: " in raw and b"\r\nMessage-ID: <" in raw and raw.endswith(b"Hello from a pipe.\r\n")
    # The Bcc recipient was an envelope recipient all the same: the log line counts three.
    assert "nrcpt=3" in server.stderr_text() + server.stdout_text()

    usage = subprocess.run([str(tern_bin()), "sendmail", "-bs"], input=b"", capture_output=True, timeout=30)
    assert usage.returncode == 64 and b"-bm" in usage.stderr
    nobody = subprocess.run([str(tern_bin()), "sendmail", "-S", "127.0.0.1:9", "a@example.com"],
                            input=b"Subject: x\n\nx\n", capture_output=True, timeout=60)
    assert nobody.returncode == 75, nobody.stderr


def test_mailpit_view_routes(catcher):
    """Issue 19: Mailpit's /view/{ID}.html and /view/{ID}.txt serve the HTML view and the text
    body, also for `latest`; an unknown message is 404."""
    message = MIMEMultipart("alternative")
    message["From"] = "Shop <shop@example.org>"
    message["To"] = "dev@example.test"
    message["Subject"] = "views"
    message.attach(MIMEText("Your code is 4711.", "plain"))
    message.attach(MIMEText("<p id='code'>Your code is <b>4711</b>.</p>", "html"))
    send(catcher, message)
    message_id = wait_count(catcher, 1)["messages"][0]["ID"]
    status, headers, html = api(catcher, f"/view/{message_id}.html")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<b>4711</b>" in html
    assert "sandbox" in headers["Content-Security-Policy"]
    status, headers, text = api(catcher, f"/view/{message_id}.txt")
    assert status == 200 and headers["Content-Type"].startswith("text/plain") and text == b"Your code is 4711."
    assert api(catcher, "/view/latest.txt")[2] == b"Your code is 4711."
    assert api(catcher, "/view/NOSUCHMESSAGE000.txt")[0] == 404
