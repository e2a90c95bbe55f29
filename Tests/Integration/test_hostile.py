"""Hostile input thrown at the running binary: numbers from outside that do not fit (a Date year
of 999999999999, `timeout=1e300`, `before:9999999999999999`, durations of 999999999 minutes,
spool records with damaged or impossible values). Each must be refused or ignored while the
process stays alive and serving, including after a restart on the same data."""

from __future__ import annotations

import base64
import base64
import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ternlib import message, tern_bin

# Dates no calendar holds, the first of them the one that used to crash the catcher at every start.
HOSTILE_DATES = [
    "Mon, 1 Jan 999999999999 00:00:00 +0000",
    "Mon, 1 Jan 292277026596 15:30:08 +0000",
    "Tue, 1 Jan 99999 00:00:00 +0000",
    "1 Jan 2026 00:00:00 +99999999",
    "1 Jan 2026 99999999999999999999:00 +0000",
    "31 Dec 9999 23:59:59 -9959",
]

HOSTILE_QUERIES = [
    "before:9999999999999999", "after:9999999999999999", "before:99999999999999999999999",
    "after:2026-01-01T00:00+99999999:00", "before:99999-01-01", "after:-9223372036854775808",
    "since:2026-01-01T99999999999:00",
]


def request(server, path: str, method: str = "GET", timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(server.http_url + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def dated(subject: str, date: str) -> bytes:
    return (f"From: a@client.example\r\nTo: b@example.test\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"Message-ID: <{subject}@client.example>\r\n\r\nbody\r\n").encode()


def listing(server) -> dict:
    status, body = request(server, "/api/v1/messages")
    assert status == 200, body
    return json.loads(body)


def test_dates_no_calendar_holds_are_stored_listed_served_and_survive_a_restart(tern_factory):
    """Every message is accepted, indexed with "no date", listed and served whole; a restart on the
    same data directory (which indexes the files again) comes up and serves them."""
    server = tern_factory.dev()
    with server.connect() as c:
        c.ehlo()
        qids = [c.send_message(dated(f"hostile-{n}", date)) for n, date in enumerate(HOSTILE_DATES)]
    assert len(qids) == len(HOSTILE_DATES)
    deadline = time.monotonic() + 10
    while listing(server)["messages_count"] < len(HOSTILE_DATES) and time.monotonic() < deadline:
        time.sleep(0.05)
    messages = listing(server)["messages"]
    assert len(messages) == len(HOSTILE_DATES)
    for summary in messages:
        status, body = request(server, f"/api/v1/message/{summary['ID']}")
        assert status == 200, body
        assert json.loads(body)["Subject"].startswith("hostile-")
        status, raw = request(server, f"/api/v1/message/{summary['ID']}/raw")
        assert status == 200 and b"Date: " in raw

    server.stop()
    server.expect_exit = True
    restarted = tern_factory.dev(data_dir=server.data_dir)
    assert listing(restarted)["messages_count"] == len(HOSTILE_DATES)
    with restarted.connect() as c:
        c.ehlo()
        c.send_message(message("after the restart"))


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_search_with_numbers_out_of_range_answers(shared_tern, query):
    """search, latest, wait and DELETE search with hostile dates: an answer, never a dead server."""
    q = urllib.parse.quote(query)
    status, body = request(shared_tern, f"/api/v1/search?query={q}")
    assert status == 200, body
    status, _ = request(shared_tern, f"/api/v1/message/latest?query={q}")
    assert status in (200, 404)
    status, _ = request(shared_tern, f"/api/v1/wait?query={q}&timeout=0")
    assert status in (200, 408)
    status, _ = request(shared_tern, f"/api/v1/search?query={q}", method="DELETE")
    assert status == 200


@pytest.mark.parametrize("timeout", ["inf", "-inf", "nan", "infinity", "ten", "1e400"])
def test_wait_timeout_that_is_not_a_number_is_refused(shared_tern, timeout):
    status, body = request(shared_tern, f"/api/v1/wait?timeout={timeout}")
    assert status == 400, body


@pytest.mark.parametrize("timeout", ["-1e300", "-5", "0"])
def test_wait_timeout_below_zero_returns_at_once(shared_tern, timeout):
    started = time.monotonic()
    status, _ = request(shared_tern, f"/api/v1/wait?query=subject:never-sent&timeout={timeout}")
    assert status == 408
    assert time.monotonic() - started < 5


def test_wait_timeout_of_1e300_waits_for_the_next_message(shared_tern):
    """`timeout=1e300` is clamped to the 300 s maximum: the request waits, and gets the message."""
    result: dict = {}

    def wait() -> None:
        result["reply"] = request(shared_tern, "/api/v1/wait?query=subject:huge-timeout&timeout=1e300", timeout=60)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    with shared_tern.connect() as c:
        c.ehlo()
        c.send_message(message("huge-timeout"))
    waiter.join(30)
    assert not waiter.is_alive()
    status, body = result["reply"]
    assert status == 200, body
    assert json.loads(body)["Subject"] == "huge-timeout"


@pytest.mark.parametrize("page", ["start=99999999999999999999999", "limit=99999999999999999999999",
                                  "start=9223372036854775807&limit=9223372036854775807", "start=-1", "limit=+5"])
def test_paging_numbers_out_of_range(shared_tern, page):
    status, body = request(shared_tern, f"/api/v1/messages?{page}")
    assert status == 200, body


@pytest.mark.parametrize("value", ['"999999999m"', '"999999999999999999999d"', "9223372036854775807", '"3651d"'])
def test_check_config_names_a_duration_too_long(tmp_path, value):
    cfg = tmp_path / "tern.toml"
    cfg.write_text(f'hostname = "mx.tern.test"\n[limits]\ncommand_timeout = {value}\n')
    p = subprocess.run([str(tern_bin()), "check-config", "--config", str(cfg)], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert p.returncode == 1, out
    assert "limits.command_timeout" in out and "at most" in out, out


def test_damaged_queue_records_are_quarantined_and_the_rest_delivered(tern_factory):
    """A truncated record, one that is not JSON, one with an impossible arrival time and one whose
    id points out of the spool: serve starts anyway, moves them (with their messages) to
    spool/corrupt/, and `tern queue list` names them; the good message is still queued."""
    server = tern_factory.serve()
    with server.connect() as c:
        c.ehlo()
        good = c.send_message(message("stays queued"), rcpts=["someone@remote.test"])
    _, record = server.spooled(good)
    server.stop()
    server.expect_exit = True

    queue = server.queue_dir
    text = (queue / f"{good}.json").read_text()
    damaged = {
        "0000000000000001": text[: len(text) // 2],
        "0000000000000002": "\x00\x01 not json",
        "0000000000000003": text.replace(f'"arrival":{record["arrival"]}', '"arrival":-9223372036854775808'),
        "0000000000000004": text.replace(f'"id":"{good}"', '"id":"..\\/..\\/..\\/escape"'),
    }
    for stem, content in damaged.items():
        (queue / f"{stem}.json").write_text(content.replace(good, stem) if stem != "0000000000000004" else content)
        (queue / f"{stem}.eml").write_bytes(b"Subject: damaged\r\n\r\nx\r\n")

    restarted = tern_factory.serve(data_dir=server.data_dir)
    corrupt = restarted.data_dir / "spool" / "corrupt"
    deadline = time.monotonic() + 10
    while len(list(corrupt.glob("*.json"))) < len(damaged) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(p.name for p in corrupt.iterdir()) == sorted(
        f"{stem}.{ext}" for stem in damaged for ext in ("eml", "json"))
    assert (restarted.queue_dir / f"{good}.json").exists()
    assert "damaged queue record" in restarted.logs()

    p = subprocess.run([str(tern_bin()), "queue", "list", "--data", str(restarted.data_dir)], capture_output=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    for stem in damaged:
        assert f"{stem}  damaged record, moved to spool/corrupt/" in out, out
    assert good in out
    with restarted.connect() as c:
        c.ehlo()
        c.send_message(message("after the quarantine"), rcpts=["other@remote.test"])


def test_logins_share_an_inbox_by_canonical_name_and_make_it_only_with_mail(tern_factory):
    """Dev mode: a login that sends nothing leaves no folder; `App-One`, `app-one` and two Unicode
    spellings of `café` map to two inboxes, not four; their mail is listed under the canonical names."""
    server = tern_factory.dev()
    root = server.data_dir / "mailboxes" / "catch-all"

    def login_and_send(name: str, subject: str | None) -> None:
        with server.connect() as c:
            c.ehlo()
            credentials = base64.b64encode(b"\0" + name.encode() + b"\0any").decode()
            c.expect("AUTH PLAIN " + credentials, 235, "2.7.0")
            if subject:
                c.send_message(message(subject))

    login_and_send("just-looking", None)
    assert not any(p.name.startswith(".") and p.is_dir() for p in root.iterdir()), list(root.iterdir())
    for name, subject in [("App-One", "one"), ("app-one", "two"), ("cafe\u0301", "three"), ("CAF\u00c9", "four")]:
        login_and_send(name, subject)
    folders = sorted(p.name for p in root.iterdir() if p.name.startswith(".") and p.is_dir())
    assert folders == [".app-one", ".caf%C3%A9"], folders
    deadline = time.monotonic() + 10
    while listing(server)["messages_count"] < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    status, body = request(server, "/api/v1/inboxes")
    inboxes = {i["Name"]: i["Total"] for i in json.loads(body)} if status == 200 else {}
    assert inboxes == {"app-one": 2, "caf\u00e9": 2}, body
    status, body = request(server, "/api/v1/messages?inbox=App-One")
    assert sorted(m["Subject"] for m in json.loads(body)["messages"]) == ["one", "two"]


# --------------------------------------------------------------------------------------------
# Hostile content (issue 14 item 3, hostile-inputs 42 and 47): messages whose scanning used to be
# quadratic, or whose summary or view used to grow without bound. Each is sent over SMTP; the
# API then answers promptly (a request timeout, not a clock, is the bound) with bounded sizes.

def lines(text: str, width: int = 700) -> str:
    """`text` cut into CRLF lines (SMTP's line length limit); the scans do not care."""
    return "\r\n".join(text[i:i + width] for i in range(0, len(text), width))


def content_message(subject: str, header: str = "", body: str = "body", content_type: str = "text/plain") -> bytes:
    return (f"From: a@client.example\r\nTo: b@example.test\r\nSubject: {subject}\r\nMessage-ID: <{subject}@client.example>\r\n"
            f"Content-Type: {content_type}\r\n{header}\r\n{body}\r\n").encode()


def send_all(server, messages: list[bytes]) -> None:
    with server.connect() as c:
        c.ehlo()
        for content in messages:
            c.send_message(content)


def summaries(server, count: int) -> tuple[dict, int]:
    """The first page once `count` messages are listed, and its size in octets."""
    deadline = time.monotonic() + 30
    while True:
        status, body = request(server, "/api/v1/messages")
        assert status == 200, body
        page = json.loads(body)
        if page["messages_count"] >= count or time.monotonic() > deadline:
            return page, len(body)
        time.sleep(0.1)


def by_subject(page: dict) -> dict[str, dict]:
    return {m["Subject"]: m for m in page["messages"]}


def test_hostile_content_is_listed_and_served_bounded(tern_factory):
    """100,000 To lines, thousands of folded X-Tags, 40,000 unclosed <style> (280 KB) and as many
    unclosed <!--, 20,000 unclosed links of every scheme, a cid: image referenced 250 times:
    stored, indexed, listed with bounded summaries, and served whole with bounded extracts."""
    server = tern_factory.dev()
    image = base64.encodebytes(bytes((i * 7) & 0xFF for i in range(34_000))).decode().replace("\n", "\r\n")
    cid_html = "<html><head></head><body>" + '<img src="cid:logo@x">\r\n' * 250 + "</body></html>"
    schemes = ["javascript:alert({})", "data:text/html,{}", "file:///etc/{}", "vbscript:{}", "/relative/{}",
               "https://ok.test/{}", "mailto:u{}@ok.test"]
    links = "".join(f'<a href="{schemes[n % len(schemes)].format(n)}">link {n} ' for n in range(20_000))
    send_all(server, [
        ("From: a@client.example\r\nSubject: many recipients\r\n"
         + "".join(f"To: a{n}@t.test\r\n" for n in range(100_000)) + "\r\nhi\r\n").encode(),
        content_message("folded tags", "X-Tags: first" + "".join(f"\r\n ,tag{n}" for n in range(20_000)) + "\r\n"),
        content_message("style bomb", body="<p>visible</p>" + lines("<style>" * 40_000), content_type="text/html"),
        content_message("comment bomb", body="<p>seen</p>" + lines("<!--" * 40_000), content_type="text/html"),
        content_message("link bomb", body=lines(links), content_type="text/html"),
        content_message("cid bomb", body=(
            "--b\r\nContent-Type: text/html\r\n\r\n" + cid_html + "\r\n--b\r\nContent-Type: image/png\r\n"
            "Content-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + image + "--b--"),
            content_type='multipart/related; boundary="b"'),
    ])
    page, page_size = summaries(server, 6)
    assert page["messages_count"] == 6, page
    assert page_size < 96 * 1024, page_size  # was 4.7 MB for the 100,000 To lines alone
    found = by_subject(page)

    many = found["many recipients"]
    assert len(many["To"]) == 100 and many["ToCount"] == 100_000, many["ToCount"]
    assert many["To"][0] == {"Name": "", "Address": "a0@t.test"} and many["CcCount"] == 0
    assert len(found["folded tags"]["Tags"]) == 100 and found["folded tags"]["Tags"][0] == "first"
    assert found["style bomb"]["Snippet"] == "visible"
    assert found["comment bomb"]["Snippet"] == "seen"

    for summary in page["messages"]:
        status, body = request(server, f"/api/v1/message/{summary['ID']}", timeout=60)
        assert status == 200, (summary["Subject"], body[:200])
        message = json.loads(body)
        assert len(message["To"]) <= 100 and len(message["Links"]) <= 500
        assert all(link["Href"].split(":")[0].lower() in ("http", "https", "mailto") for link in message["Links"])
        status, view = request(server, f"/view/{summary['ID']}", timeout=60)
        assert status == 200
        # The view holds the HTML and at most twice the message (plus 64 KB) of inlined images.
        assert len(view) <= len(message["HTML"].encode()) + 2 * summary["Size"] + 64 * 1024 + 1024, summary["Subject"]

    link_bomb = json.loads(request(server, f"/api/v1/message/{found['link bomb']['ID']}")[1])
    hrefs = [link["Href"] for link in link_bomb["Links"]]
    assert len(hrefs) == 500 and hrefs[0] == "https://ok.test/5" and "mailto:u6@ok.test" in hrefs
    assert link_bomb["Links"][0]["Text"] == "link 5"

    cid = found["cid bomb"]
    status, view = request(server, f"/view/{cid['ID']}")
    inlined = view.count(b"data:image/png;base64,")
    assert 1 <= inlined <= (2 * cid["Size"] + 64 * 1024) // 45_000, inlined  # was 250 copies (12 MB)
    assert b"cid:logo@x" in view  # the references past the budget stay as written


def vm_peak_kib(server) -> int:
    """The process's peak resident set (VmHWM), in KiB."""
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


def test_a_48_mb_message_is_indexed_from_a_bounded_read(tern_factory):
    """The index reads the header and the start of a message: indexing a 48 MB message raises the
    catcher's peak memory by far less than the message (it used to raise it by all of it, and
    more: the text decoded and lower-cased); the whole message is still served."""
    server = tern_factory.dev()
    send_all(server, [content_message("warm-up")])
    summaries(server, 1)
    before = vm_peak_kib(server)
    line = "word " * 199 + "\r\n"
    body = line * (48 * 1024 * 1024 // len(line))
    send_all(server, [content_message("big one", body=body)])
    page, _ = summaries(server, 2)
    big = by_subject(page)["big one"]
    grown = vm_peak_kib(server) - before
    assert big["Size"] > 48_000_000 and big["Snippet"].startswith("word word")
    assert grown < 24 * 1024, f"peak memory grew by {grown} KiB indexing a 48 MB message"
    status, raw = request(server, f"/api/v1/message/{big['ID']}/raw", timeout=120)
    assert status == 200 and len(raw) == big["Size"]


# ---------------------------------------------------------------------------------------------
# Storms: random and mutated input on every way in; the process must stay alive and serving.
# ---------------------------------------------------------------------------------------------

SMTP_ALPHABET = [b"EHLO x\r\n", b"HELO x\r\n", b"MAIL FROM:<a@b.test>", b"RCPT TO:<r@tern.test>", b" SIZE=",
                 b" BODY=BINARYMIME", b"DATA\r\n", b"BDAT ", b" LAST", b"\r\n.\r\n", b"\r\n", b"\n", b"\r", b"\x00",
                 b"AUTH PLAIN ", b"AUTH LOGIN\r\n", b"STARTTLS\r\n", b"RSET\r\n", b"NOOP\r\n", b"99999999999999999999",
                 b"-1", b"+5", b"<", b">", b"@", b":", b"\xff\xfe", b"=?utf-8?b?", b"QUIT\r\n"]


def test_smtp_storm_of_random_and_grammar_shaped_bytes(shared_tern):
    """200 connections of random octets and of SMTP-shaped fragments in random order: every
    connection ends (with replies or a close), and the server still greets and takes mail."""
    import random
    rng = random.Random(14)
    for n in range(200):
        if n % 2:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2048)))
        else:
            payload = b"".join(rng.choice(SMTP_ALPHABET) for _ in range(rng.randrange(1, 60)))
        try:
            with shared_tern.connect() as c:
                c.send(payload)
                c.pending(0.01)
        except (OSError, AssertionError):
            pass
    content = message("after the storm")
    with shared_tern.connect() as c:
        c.ehlo()
        qid = c.send_message(content)
    assert shared_tern.body_of(qid) == content


POP3_ALPHABET = [b"USER a\r\n", b"PASS b\r\n", b"AUTH PLAIN ", b"AUTH SCRAM-SHA-256\r\n", b"STLS\r\n", b"CAPA\r\n",
                 b"STAT\r\n", b"LIST ", b"RETR ", b"TOP ", b"DELE ", b"UIDL ", b"RSET\r\n", b"NOOP\r\n", b"1", b"0",
                 b"-1", b"+1", b"99999999999999999999", b"4294967296", b" ", b"\r\n", b"\n", b"\r", b"\x00", b"*\r\n",
                 b"=\r\n", b"\xff\xfe", b"QUIT\r\n"]


def test_pop3_storm_of_random_and_grammar_shaped_bytes(shared_tern):
    """200 POP3 connections of random octets and of POP3-shaped fragments in random order (half
    of them logged in first): every connection ends, and the server still serves POP3."""
    import poplib
    import random
    import socket
    listener = shared_tern.listener("pop3")
    rng = random.Random(17)
    for n in range(200):
        if n % 2:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2048)))
        else:
            payload = b"USER storm\r\nPASS x\r\n" + b"".join(rng.choice(POP3_ALPHABET) for _ in range(rng.randrange(1, 60)))
        try:
            with socket.create_connection((listener.host, listener.port), timeout=5) as sock:
                sock.sendall(payload)
                sock.settimeout(0.05)
                try:
                    while sock.recv(65536):
                        pass
                except OSError:
                    pass
        except OSError:
            pass
    pop = poplib.POP3(listener.host, listener.port, timeout=30)
    pop.user("after-storm")
    pop.pass_("x")
    assert pop.stat() == (0, 0)
    pop.quit()


def test_http_storm_of_hostile_requests(shared_tern):
    """Hostile paths, queries, methods and bodies on the API: answers, never a dead process."""
    import random
    import socket
    rng = random.Random(46)
    host, port = shared_tern.http_url.removeprefix("http://").split(":")
    paths = ["/api/v1/messages", "/api/v1/search", "/api/v1/message/latest", "/api/v1/wait", "/api/v1/inboxes",
             "/api/v1/message/%00", "/api/v1/message/../../etc/passwd", "/view/x", "/", "/api/v1/events"]
    queries = ["query=before:99999999999999999999", "timeout=nan", "start=-1&limit=1e9", "query=%ff%fe",
               "inbox=" + "a" * 5000, "query=" + "(" * 2000, "timeout=1e-400"]
    for n in range(150):
        method = rng.choice([b"GET", b"DELETE", b"PUT", b"POST", b"PATCH", b"BREW", b"G\x00T"])
        path = rng.choice(paths).encode() + b"?" + rng.choice(queries).encode()
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 512)))
        raw = (method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        if n % 10 == 0:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1024)))
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(raw)
            s.settimeout(0.5 if b"events" in path or b"wait" in path else 5)
            try:
                s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                pass
    status, _ = request(shared_tern, "/api/v1/messages")
    assert status == 200


def test_configuration_files_of_random_and_mutated_bytes_are_errors_not_crashes(tmp_path):
    """check-config on random octets and on mutations of a valid file: exit 0 or 1 with a message,
    never a signal (a trap) and never a hang."""
    import random
    rng = random.Random(7)
    valid = (b'hostname = "mx.tern.test"\n[limits]\nmessage_size = 1000\ncommand_timeout = "5m"\n'
             b'[[listener]]\naddress = "127.0.0.1"\nport = 2525\nrole = "mx"\n[queue]\nmax_lifetime = "5d"\n')
    for n in range(60):
        if n % 3 == 0:
            text = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
        else:
            text = bytearray(valid)
            for _ in range(rng.randrange(1, 8)):
                at = rng.randrange(len(text))
                text[at:at + 1] = rng.choice([b"9" * 30, b"-", b"\x00", b'"', b"[", b"=", b"\xff", b"1e300", b""])
            text = bytes(text)
        cfg = tmp_path / f"cfg-{n}.toml"
        cfg.write_bytes(text)
        p = subprocess.run([str(tern_bin()), "check-config", "--config", str(cfg)], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        assert p.returncode in (0, 1), f"exit {p.returncode} on {text!r}\n{p.stderr.decode('utf-8', 'replace')}"


def test_spool_journal_and_uid_files_of_random_bytes_do_not_stop_a_start(tern_factory):
    """Serve mode restarted on a data directory whose spool records, journal segments and UID list
    are random octets: it starts, moves the damaged records aside, and takes mail."""
    import random
    from ternlib import mail_config
    rng = random.Random(3)
    config = mail_config(catch_all_to="bob@example.test", relay_networks="127.0.0.0/8")
    server = tern_factory.serve(config_extra=config)
    with server.connect() as c:
        c.ehlo()
        c.send_message(message("first"), rcpts=["alice@example.test"])
    server.stop()
    server.expect_exit = True
    data = server.data_dir
    for n in range(5):
        stem = f"00000000000000{n:02d}"
        (data / "spool" / "queue" / f"{stem}.json").write_bytes(bytes(rng.randrange(256) for _ in range(300)))
        (data / "spool" / "queue" / f"{stem}.eml").write_bytes(b"x")
    journal = data / "journal"
    if journal.is_dir():
        for segment in journal.iterdir():
            blob = bytearray(segment.read_bytes()[:4096])
            for _ in range(64):
                blob[rng.randrange(len(blob))] = rng.randrange(256)
            segment.write_bytes(bytes(blob))
        (journal / "ffffffffffffffff.journal").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    uidlist = data / "mailboxes" / "example.test" / "alice" / "tern-uidlist"
    if uidlist.exists():
        uidlist.write_bytes(b"tern-uidlist 1 V99999999999999999999 N-5\n18446744073709551616 x\n\xff\xfe\n")
    restarted = tern_factory.serve(config_extra=config, data_dir=data)
    with restarted.connect() as c:
        c.ehlo()
        qid = c.send_message(message("after the damage"), rcpts=["alice@example.test"])
    assert qid


V1_INDEX = """
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO grdb_migrations VALUES ('v1: message');
CREATE TABLE message (id TEXT PRIMARY KEY NOT NULL, inbox TEXT NOT NULL, path TEXT NOT NULL,
    received_at INTEGER NOT NULL, size INTEGER NOT NULL, read INTEGER NOT NULL, subject TEXT NOT NULL, from_json TEXT,
    to_json TEXT NOT NULL, cc_json TEXT NOT NULL, bcc_json TEXT NOT NULL, reply_to_json TEXT NOT NULL,
    message_id TEXT NOT NULL, date INTEGER, snippet TEXT NOT NULL, attachments INTEGER NOT NULL, tags_json TEXT NOT NULL,
    search_subject TEXT NOT NULL, search_from TEXT NOT NULL, search_to TEXT NOT NULL, search_text TEXT NOT NULL);
CREATE INDEX message_received ON message(received_at);
CREATE INDEX message_inbox ON message(inbox, received_at);
"""


def test_an_index_of_an_earlier_version_is_rebuilt_bounded(tern_factory):
    """A catcher.sqlite written before summaries were bounded (a row with every one of 5,000 To
    addresses) is emptied at start and rebuilt from the files, with the bounded list and counts."""
    import sqlite3
    server = tern_factory.dev()
    send_all(server, [("From: a@client.example\r\nSubject: old row\r\n"
                       + "".join(f"To: a{n}@t.test\r\n" for n in range(5000)) + "\r\nhi\r\n").encode()])
    [summary] = summaries(server, 1)[0]["messages"]
    server.stop()
    server.expect_exit = True
    index = server.data_dir / "catcher.sqlite"
    for leftover in server.data_dir.glob("catcher.sqlite*"):
        leftover.unlink()
    everyone = json.dumps([{"name": "", "address": f"a{n}@t.test"} for n in range(5000)])
    with sqlite3.connect(index) as db:
        db.executescript(V1_INDEX)
        db.execute("INSERT INTO message VALUES (?, 'default', ?, 0, 1, 0, 'old row', NULL, ?, '[]', '[]', '[]', '', "
                   "NULL, '', 0, '[]', '', '', '', '')", (summary["ID"], f"new/{server.new_files()[0].name}", everyone))
    db.close()

    restarted = tern_factory.dev(data_dir=server.data_dir)
    [rebuilt] = summaries(restarted, 1)[0]["messages"]
    assert rebuilt["ID"] == summary["ID"] and len(rebuilt["To"]) == 100 and rebuilt["ToCount"] == 5000
