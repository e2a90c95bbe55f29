"""Serve mode's `[http]` listener against the real binary: Prometheus metrics after real SMTP
and IMAP traffic, the health checks, and the admin API with its token (a wrong or missing one
gets 401): the queue (list, show, hold, release, retry, delete) and the directory (domains,
users, aliases), with the running server taking a user the API added."""
from __future__ import annotations

import imaplib
import json
import re
import smtplib
import time
import urllib.error
import urllib.request

from ternlib import message, unverified_context

TOKEN = "c0ffee00c0ffee00c0ffee00c0ffee00"
LISTENERS = [
    {"address": "127.0.0.1", "port": 0, "role": "mx"},
    {"address": "127.0.0.1", "port": 0, "role": "imaps"},
]
CONFIG = f"""[mail]
domains = ["example.test"]
relay_networks = ["127.0.0.0/8", "::1"]

[[mailbox]]
address = "alice@example.test"

[http]
address = "127.0.0.1:0"
admin_token = "{TOKEN}"
"""


def operations_url(server) -> str:
    for line in server.startup_lines:
        found = re.match(r"^tern: operations on (http://\S+)", line.strip())
        if found:
            return found.group(1)
    raise AssertionError(f"no 'tern: operations on' line\n{server.logs()}")


def call(server, path: str, method: str = "GET", body: dict | None = None, token: str | None = TOKEN):
    """(status, headers, body bytes); never raises for an HTTP status."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(operations_url(server) + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def get_json(server, path: str):
    status, _, body = call(server, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def metric(text: str, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    total = 0.0
    for line in text.splitlines():
        found = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not found or found.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2) or ""))
        if all(have.get(key) == value for key, value in labels.items()):
            total += float(found.group(3))
    return total


def wait_queue(server, predicate, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while True:
        queue = get_json(server, "/api/v1/queue")
        if predicate(queue) or time.monotonic() > deadline:
            return queue
        time.sleep(0.1)


def test_metrics_and_health(tern_factory):
    """After a local delivery, a deferred remote one, a refused command, a TLS session and a
    failed login, /metrics shows each of them; /healthz and /readyz answer ok, without a token."""
    server = tern_factory.serve(listeners=LISTENERS, config_extra=CONFIG)
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        client.sendmail("app@example.test", ["alice@example.test"], message("local"))
        client.sendmail("app@example.test", ["bob@remote.test"], message("remote"))
        assert client.docmd("MAIL FROM:<broken")[0] == 501
    imaps = server.listener("imaps")
    with imaplib.IMAP4_SSL(imaps.host, imaps.port, ssl_context=unverified_context(), timeout=30) as m:
        try:
            m.login("alice@example.test", "not the password")
            raise AssertionError("a wrong password logged in")
        except imaplib.IMAP4.error:
            pass
    for path in ("/healthz", "/readyz"):
        assert call(server, path, token=None)[:1] == (200,)
    deadline = time.monotonic() + 15
    while True:
        status, headers, body = call(server, "/metrics", token=None)
        text = body.decode()
        if metric(text, "tern_queue_deliveries_total", route="remote", result="deferred") >= 1 \
                or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert metric(text, "tern_smtp_connections_total", listener="mx") >= 1, text
    assert metric(text, "tern_smtp_messages_total", listener="mx") == 2
    assert metric(text, "tern_smtp_message_bytes_total", listener="mx") > 200
    assert metric(text, "tern_smtp_rejections_total", code="501") >= 1
    assert metric(text, "tern_queue_deliveries_total", route="local", result="sent") == 1
    assert metric(text, "tern_queue_deliveries_total", route="remote", result="deferred") >= 1
    assert metric(text, "tern_queue_delivery_delay_seconds_count", route="local", result="sent") == 1
    assert re.search(r'tern_queue_delivery_delay_seconds_bucket\{[^}]*le="432000', text), text  # five days
    assert metric(text, "tern_queue_messages", state="deferred") + metric(text, "tern_queue_messages", state="active") \
        + metric(text, "tern_queue_messages", state="incoming") == 1
    assert metric(text, "tern_tls_handshakes_total", version="TLSv1.3") >= 1
    assert metric(text, "tern_auth_failures_total") >= 1


def test_admin_api_needs_the_token(tern_factory):
    """No token, a wrong one, or another scheme: 401 with WWW-Authenticate, on every admin
    route; the health checks and /metrics stay open. Without admin_token there is no admin API."""
    server = tern_factory.serve(listeners=LISTENERS, config_extra=CONFIG)
    for token in (None, "wrong" * 8, TOKEN + "x", TOKEN[:-1]):
        status, headers, body = call(server, "/api/v1/queue", token=token)
        assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="tern"', (token, status, body)
    status, _, _ = call(server, "/api/v1/users", "POST", {"address": "x@example.test", "password": "p"},
                        token="nope" * 8)
    assert status == 401
    request = urllib.request.Request(operations_url(server) + "/api/v1/queue", headers={"Authorization": f"Basic {TOKEN}"})
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("Basic was taken for Bearer")
    except urllib.error.HTTPError as error:
        assert error.code == 401
    assert call(server, "/api/v1/queue")[0] == 200

    tokenless = tern_factory.serve(config_extra=CONFIG.replace(f'admin_token = "{TOKEN}"\n', ""))
    assert call(tokenless, "/api/v1/queue")[0] == 404
    assert call(tokenless, "/healthz", token=None)[0] == 200


def test_admin_api_queue(tern_factory):
    """A message for a remote domain waits deferred (DNS goes nowhere); the API lists and shows
    it, holds it (state hold), releases and retries it, and deletes it; unknown IDs are 404 or
    change nothing."""
    server = tern_factory.serve(listeners=LISTENERS, config_extra=CONFIG)
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        client.sendmail("app@example.test", ["bob@remote.test"], message("stuck"))
    queue = wait_queue(server, lambda q: q and q[0]["deliveries"][0]["attempts"] >= 1)
    assert len(queue) == 1, queue
    record = queue[0]
    queue_id = record["id"]
    assert record["deliveries"][0]["recipient"] == "bob@remote.test"
    assert record["deliveries"][0]["status"] == "deferred", record
    shown = get_json(server, f"/api/v1/queue/{queue_id}")
    assert shown["id"] == queue_id and shown["deliveries"][0]["history"], shown
    assert call(server, "/api/v1/queue/NOSUCHMESSAGE000")[0] == 404

    status, _, body = call(server, f"/api/v1/queue/{queue_id}/hold", "POST")
    assert status == 200 and json.loads(body) == {"changed": [queue_id]}
    assert json.loads(call(server, f"/api/v1/queue/{queue_id}/hold", "POST")[2]) == {"changed": []}
    assert get_json(server, f"/api/v1/queue/{queue_id}")["hold"] is True
    text = call(server, "/metrics", token=None)[2].decode()
    assert metric(text, "tern_queue_messages", state="hold") == 1
    assert json.loads(call(server, "/api/v1/queue/all/release", "POST")[2]) == {"changed": [queue_id]}
    assert json.loads(call(server, f"/api/v1/queue/{queue_id}/retry", "POST")[2]) == {"changed": [queue_id]}
    assert call(server, f"/api/v1/queue/{queue_id}/bounce", "POST")[0] in (404, 405)
    assert json.loads(call(server, f"/api/v1/queue/{queue_id}", "DELETE")[2]) == {"changed": [queue_id]}
    assert wait_queue(server, lambda q: not q) == []


def test_admin_api_directory(tern_factory):
    """Domains, users and aliases: added, listed, shown, changed and removed through the API,
    with the CLI's checks (409 for a duplicate, 404 for an unknown one, 400 for a bad address
    or body). A user added through the API logs in over IMAP on the running server."""
    server = tern_factory.serve(listeners=LISTENERS, config_extra=CONFIG)
    assert call(server, "/api/v1/domains", "POST", {"name": "api.test"})[0] == 201
    assert call(server, "/api/v1/domains", "POST", {"name": "api.test"})[0] == 409
    assert call(server, "/api/v1/domains", "POST", {"nom": "x"})[0] == 400
    assert {"name": "api.test", "source": "database"} in get_json(server, "/api/v1/domains")

    carol = {"address": "carol@api.test", "password": "s3cret carol", "display_name": "Carol",
             "quota_bytes": 1_000_000}
    assert call(server, "/api/v1/users", "POST", carol)[0] == 201
    assert call(server, "/api/v1/users", "POST", carol)[0] == 409
    assert call(server, "/api/v1/users", "POST", {"address": "not-an-address", "password": "x"})[0] == 400
    assert call(server, "/api/v1/users", "POST", {"address": "dave@api.test"})[0] == 400
    users = get_json(server, "/api/v1/users")
    assert [u["address"] for u in users] == ["carol@api.test"]
    shown = get_json(server, "/api/v1/users/carol@api.test")
    assert shown["display_name"] == "Carol" and shown["quota_bytes"] == 1_000_000 and shown["usage_bytes"] == 0
    assert "password" not in json.dumps(shown).replace("password_scheme", "")
    assert call(server, "/api/v1/users/nobody@api.test")[0] == 404

    imaps = server.listener("imaps")
    deadline = time.monotonic() + 15
    while True:  # the running server reloads its directory within a second or two
        with imaplib.IMAP4_SSL(imaps.host, imaps.port, ssl_context=unverified_context(), timeout=30) as m:
            try:
                m.login("carol@api.test", "s3cret carol")
                break
            except imaplib.IMAP4.error:
                assert time.monotonic() < deadline, "the user added through the API never logged in"
        time.sleep(0.3)

    assert call(server, "/api/v1/users/carol@api.test", "PUT", {"enabled": False, "quota_bytes": 0})[0] == 200
    changed = get_json(server, "/api/v1/users/carol@api.test")
    assert changed["enabled"] is False and changed.get("quota_bytes") is None
    assert call(server, "/api/v1/users/carol@api.test", "PUT", {"password": ""})[0] == 400

    assert call(server, "/api/v1/aliases", "POST", {"address": "team@api.test", "targets": ["carol@api.test"]})[0] == 201
    assert {"address": "team@api.test", "targets": ["carol@api.test"], "source": "database"} \
        in get_json(server, "/api/v1/aliases")
    assert call(server, "/api/v1/domains/api.test", "DELETE")[0] == 409  # still in use
    assert call(server, "/api/v1/aliases/team@api.test", "DELETE")[0] == 200
    assert call(server, "/api/v1/aliases/team@api.test", "DELETE")[0] == 404
    assert call(server, "/api/v1/users/carol@api.test", "DELETE")[0] == 200
    assert call(server, "/api/v1/domains/api.test", "DELETE")[0] == 200
    assert get_json(server, "/api/v1/users") == []
