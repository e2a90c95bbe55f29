"""The catcher's failure injection seen by a real SMTP client (smtplib): rules from the
configuration and from the API answer RCPT, MAIL, DATA and AUTH with the configured replies,
late, or not at all; Mailpit's /api/v1/chaos triggers do the same in Mailpit's shape."""
from __future__ import annotations

import json
import smtplib
import time
import urllib.error
import urllib.request

import pytest

from ternlib import message

CONFIG = """
[[catcher.chaos]]
stage = "rcpt"
recipient = "*@fail.test"
reply = "550 5.1.1 No such user (chaos)"

[[catcher.chaos]]
stage = "data"
inbox = "flaky-app"
reply = "451 4.3.0 Try again later (chaos)"

[[catcher.chaos]]
stage = "mail"
sender = "slow@*"
delay = "1s"

[[catcher.chaos]]
stage = "rcpt"
recipient = "drop@*"
drop = true

[[catcher.chaos]]
stage = "data"
recipient = "full@*"
reply = "552 5.2.2 Mailbox full (chaos)"
"""


def call(server, path: str, method: str = "GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.http_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def chaotic(tern_factory):
    return tern_factory.dev(config_extra=CONFIG)


def test_configured_rules_as_smtplib_sees_them(chaotic):
    """Each rule of the configuration, from a real client: a refused recipient among accepted
    ones, a refused DATA for one login, a late MAIL, a dropped connection, a 552 at the end."""
    with smtplib.SMTP(chaotic.host, chaotic.port, timeout=30) as client:
        refused = client.sendmail("app@example.test", ["ok@example.test", "x@fail.test"], message("partly"))
        assert refused == {"x@fail.test": (550, b"5.1.1 No such user (chaos)")}

    with smtplib.SMTP(chaotic.host, chaotic.port, timeout=30) as client:
        client.login("flaky-app", "any password")
        with pytest.raises(smtplib.SMTPDataError) as error:
            client.sendmail("app@example.test", ["ok@example.test"], message("flaky"))
        assert (error.value.smtp_code, error.value.smtp_error) == (451, b"4.3.0 Try again later (chaos)")
        client.rset()  # the session goes on

    with smtplib.SMTP(chaotic.host, chaotic.port, timeout=30) as client:
        started = time.monotonic()
        client.ehlo()
        assert client.mail("slow@example.test")[0] == 250
        assert time.monotonic() - started >= 0.9, "MAIL was not delayed"

    with smtplib.SMTP(chaotic.host, chaotic.port, timeout=30) as client:
        client.ehlo()
        client.mail("app@example.test")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.rcpt("drop@example.test")

    with smtplib.SMTP(chaotic.host, chaotic.port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPDataError) as error:
            client.sendmail("app@example.test", ["full@example.test"], message("too much"))
        assert error.value.smtp_code == 552
    listing = call(chaotic, "/api/v1/messages")[1]
    assert [m["Subject"] for m in listing["messages"]] == ["partly"], "only the partly refused one was caught"


def test_rules_through_the_api(chaotic):
    """GET/PUT/DELETE /api/v1/chaos/rules: the configured rules listed, replaced (a 421 that
    ends the session), refused when malformed, cleared."""
    status, rules = call(chaotic, "/api/v1/chaos/rules")
    assert status == 200 and [r["Stage"] for r in rules] == ["rcpt", "data", "mail", "rcpt", "data"]
    assert rules[0] == {"Stage": "rcpt", "Recipient": "*@fail.test", "Reply": "550 5.1.1 No such user (chaos)"}
    status, rules = call(chaotic, "/api/v1/chaos/rules", "PUT",
                         [{"Stage": "rcpt", "Recipient": "bye@*", "Reply": "421 4.3.2 Closing (chaos)"}])
    assert status == 200 and len(rules) == 1
    with smtplib.SMTP(chaotic.host, chaotic.port, timeout=30) as client:
        client.ehlo()
        client.mail("app@example.test")
        assert client.rcpt("bye@example.test") == (421, b"4.3.2 Closing (chaos)")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
    for bad in ([{"Stage": "rcpt", "Reply": "250 fine"}], [{"Stage": "sometimes", "Drop": True}],
                [{"Stage": "rcpt", "Delay": 1000}], {"Stage": "rcpt"}, [{"Stage": "data"}]):
        status, text = call(chaotic, "/api/v1/chaos/rules", "PUT", bad)
        assert status == 400 and isinstance(text, str) and text, (bad, status, text)
    assert call(chaotic, "/api/v1/chaos/rules")[1][0]["Recipient"] == "bye@*", "a refused change changed nothing"
    assert call(chaotic, "/api/v1/chaos/rules", "DELETE") == (200, [])
    with smtplib.SMTP(chaotic.host, chaotic.port, timeout=30) as client:
        assert client.sendmail("app@example.test", ["x@fail.test"], message("no chaos")) == {}


def test_mailpit_triggers(tern_factory):
    """Mailpit's /api/v1/chaos: every RCPT refused at 100 %, read back; `{}` turns it off; the
    web UI configuration says chaos is on."""
    server = tern_factory.dev()
    assert call(server, "/api/v1/webui")[1]["ChaosEnabled"] is True
    status, triggers = call(server, "/api/v1/chaos", "PUT", {"Recipient": {"ErrorCode": 451, "Probability": 100}})
    assert status == 200 and triggers["Recipient"] == {"ErrorCode": 451, "Probability": 100}
    assert triggers["Sender"]["Probability"] == 0 and triggers["Authentication"]["Probability"] == 0
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as error:
            client.sendmail("app@example.test", ["a@example.test"], message("refused"))
        assert error.value.recipients["a@example.test"][0] == 451
    assert call(server, "/api/v1/chaos")[1]["Recipient"]["Probability"] == 100
    status, text = call(server, "/api/v1/chaos", "PUT", {"Sender": {"ErrorCode": 250, "Probability": 5}})
    assert status == 400, text
    assert call(server, "/api/v1/chaos", "PUT", {})[1]["Recipient"]["Probability"] == 0
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        assert client.sendmail("app@example.test", ["a@example.test"], message("accepted")) == {}
    status, triggers = call(server, "/api/v1/chaos", "PUT", {"Authentication": {"ErrorCode": 535, "Probability": 100}})
    assert status == 200
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as error:
            client.login("app", "any password")
        assert error.value.smtp_code == 535
