"""Mail authentication end to end, against independent implementations and through NSD:

DKIM (RFC 6376, RFC 8463), against dkimpy (Debian's python3-dkim):

- `tern dkim generate` makes the keys and prints the records NSD then serves;
- alice submits to a second Tern; the first signs (ed25519-sha256 and rsa-sha256), the second
  checks both through DNS and says so in Authentication-Results, and dkimpy verifies both;
- mail dkimpy signs verifies in Tern; a changed body fails; an Authentication-Results that
  claims the receiving Tern's name is removed, another host's is kept.

DKIM against OpenDKIM (Debian's opendkim and opendkim-tools), which finds the keys through NSD
too: its filter's test mode verifies both of Tern's signatures, and opendkim-testkey matches the
RSA key Tern generated with the record it printed.

SPF (RFC 7208), against pyspf (Debian's python3-spf): the receiving Tern's verdicts for clients
on several loopback addresses and senders of a test zone are pyspf's on the same zone.

Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from outbound import NSD, PEER_PYTHON, free_loopback_port
from ternlib import message, need_tool, tern_bin, wait_for_files

DKIM_TOOL = Path(__file__).resolve().parent / "peers" / "dkim_tool.py"
SPF_TOOL = Path(__file__).resolve().parent / "peers" / "spf_tool.py"
SPF_ZONE = """@ TXT "v=spf1 ip4:127.0.0.8 a:out.spf.test include:inc.spf.test -all"
out A 127.0.0.9
inc TXT "v=spf1 ip4:127.0.0.10 ~all"
soft TXT "v=spf1 ~all"
neutral TXT "v=spf1 ?all"
broken TXT "v=spf1 ip4:127.0.0.8 foo -all"
redir TXT "v=spf1 redirect=spf.test"
macro TXT "v=spf1 exists:%{ir}.%{l}._ip.spf.test -all"
11.0.0.127.x._ip A 127.0.0.2
loop TXT "v=spf1 include:loop.spf.test -all"
two TXT "v=spf1 -all"
two TXT "v=spf1 +all"
mxs TXT "v=spf1 mx/30 -all"
mxs MX 10 out
"""
RECEIVER_HOST = "127.0.0.7"
RECEIVER_NAME = "mx.b.test"


def dkimpy_data() -> Path:
    """dkimpy's own test keys (its package ships them): a 1024-bit RSA key and an Ed25519 seed."""
    run = subprocess.run([PEER_PYTHON, "-c", "import dkim, os; print(os.path.dirname(dkim.__file__))"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        pytest.fail("python3-dkim is not installed for /usr/bin/python3 (scripts/test installs it)")
    return Path(run.stdout.strip()) / "tests" / "data"


def txt(record: str) -> str:
    """A TXT record's text as master-file strings of at most 255 octets."""
    return " ".join(f'"{record[i:i + 255]}"' for i in range(0, len(record), 255))


def zone(origin: str, body: str) -> str:
    return f"""$ORIGIN {origin}.
$TTL 60
@    SOA  ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 60
@    NS   ns
ns   A    127.0.0.1
{body}
"""


def generate_keys(data_dir: Path, domain: str, selector: str) -> dict[str, str]:
    """`tern dkim generate`: the records it prints, by owner name (with the final dot)."""
    run = subprocess.run([str(tern_bin()), "dkim", "generate", domain, "--selector", selector, "--data", str(data_dir)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    records = {}
    for line in run.stdout.splitlines():
        # One string as it is, several in parentheses (RFC 1035 §5.1).
        m = re.fullmatch(r'(\S+) IN TXT (?:\( (.*) \)|(".*"))', line)
        if m:
            records[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2) or m.group(3)))
    assert set(records) == {f"{selector}-ed._domainkey.{domain}.", f"{selector}-rsa._domainkey.{domain}."}, run.stdout
    for name in ("ed", "rsa"):
        key = data_dir / "dkim" / domain / f"{selector}-{name}.pem"
        assert key.stat().st_mode & 0o777 == 0o600
    return records


def dkimpy_verify(path: Path, records: dict[str, str], work: Path) -> list[str]:
    table = work / "records.json"
    table.write_text(json.dumps({name.lower(): text for name, text in records.items()}))
    run = subprocess.run([PEER_PYTHON, str(DKIM_TOOL), "verify", str(path), str(table)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return [line.split()[1] for line in run.stdout.splitlines()]


def dkimpy_sign(content: bytes, selector: str, domain: str, key: Path, algorithm: str, work: Path) -> bytes:
    unsigned = work / "unsigned.eml"
    unsigned.write_bytes(content)
    run = subprocess.run([PEER_PYTHON, str(DKIM_TOOL), "sign", str(unsigned), selector, domain, str(key), algorithm],
                         capture_output=True)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    return run.stdout


OPENDKIM_AUTHSERV = "opendkim.test"


def opendkim_tool(name: str) -> str:
    """One of OpenDKIM's programs (they live in /usr/sbin); missing, it fails under CI=true."""
    system = Path("/usr/sbin") / name
    return str(system) if system.exists() else need_tool(name)


def opendkim_conf(nsd_port: int, work: Path) -> Path:
    """An opendkim.conf for verifying whose resolver asks NSD alone. OpenDKIM resolves with
    libunbound, and ResolverConfiguration hands it an unbound.conf: every name is forwarded to
    NSD, from 127.0.0.1. Unbound by default never queries 127.0.0.0/8 and answers for the
    RFC 6761 name test. itself (NXDOMAIN), so both defaults are turned off."""
    unbound = work / "unbound.conf"
    unbound.write_text(f"""server:
    do-not-query-localhost: no
    local-zone: "test." nodefault
    do-ip6: no
    outgoing-interface: 127.0.0.1
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@{nsd_port}
""")
    conf = work / "opendkim.conf"
    conf.write_text(f"Mode v\nAuthservID {OPENDKIM_AUTHSERV}\nResolverConfiguration {unbound}\nSyslog no\n")
    return conf


def opendkim_verify(path: Path, conf: Path) -> list[tuple[str, str, str]]:
    """`opendkim -t`: the filter's test mode runs the message through its milter callbacks as an
    MTA would; with -vv it prints the Authentication-Results field it would insert. Returns
    (result, header.a, header.s) of each signature, sorted."""
    run = subprocess.run([opendkim_tool("opendkim"), "-x", str(conf), "-vv", "-t", str(path)],
                         capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    m = re.search(r"### INSHEADER: idx=\d+ hname='Authentication-Results' hvalue='([^']*)'", run.stdout)
    assert m, out
    assert m.group(1).startswith(f"{OPENDKIM_AUTHSERV};"), out
    # e.g. dkim=pass (2048-bit key; unprotected) header.d=tern.test header.i=@tern.test header.a=rsa-sha256 ...
    return sorted(re.findall(r'dkim=(\w+)(?: reason="[^"]*")?(?: \([^)]*\))? header\.d=\S+ header\.i=\S+'
                             r' header\.a=(\S+) header\.s=(\S+)', m.group(1)))


def header_fields(data: bytes, name: str) -> list[str]:
    """The unfolded values of every field `name` in the header section of `data`."""
    header = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    unfolded = re.sub(r"\r\n[ \t]+", " ", header)
    return [line.split(":", 1)[1].strip() for line in unfolded.split("\r\n") if line.lower().startswith(name.lower() + ":")]


@pytest.fixture
def auth_world(tern_factory, tmp_path):
    """NSD serving tern.test's new keys, dkimpy's keys under signed.test and b.test's MX; a
    receiving Tern for b.test on 127.0.0.7 that checks signatures; a sending Tern for tern.test
    whose user alice submits over cleartext on loopback, and whose mx listener takes mail for
    fwd@tern.test, an alias of carol@b.test, and relays for 127.0.0.13 (an application server)."""
    sender_data = tmp_path / "sender-data"
    tern_records = generate_keys(sender_data, "tern.test", "s1")
    data = dkimpy_data()
    dkimpy_rsa = (data / "test.txt").read_text().strip()
    dkimpy_ed = "v=DKIM1; k=ed25519; p=yi50DjK5O9pqbFpNHklsv9lqaS0ArSYu02qp1S0DW1Y="
    zones = {
        "tern.test": zone("tern.test", "\n".join(f"{name} TXT {txt(text)}" for name, text in tern_records.items())
                          + '\n_dmarc TXT "v=DMARC1; p=reject"'),
        "signed.test": zone("signed.test", f"rsa._domainkey TXT {txt(dkimpy_rsa)}\ned._domainkey TXT {txt(dkimpy_ed)}"),
        "b.test": zone("b.test", f"@ MX 10 mx\nmx A {RECEIVER_HOST}"),
        "spf.test": zone("spf.test", SPF_ZONE),
        "quar.test": zone("quar.test", '@ TXT "v=spf1 ip4:127.0.0.9 -all"\n_dmarc TXT "v=DMARC1; p=quarantine"'),
    }
    nsd = NSD(tmp_path / "nsd", zones).start()
    port = free_loopback_port((RECEIVER_HOST,))
    dns = f'[dns]\nservers = ["127.0.0.1:{nsd.port}"]\ntimeout = "2s"\nattempts = 2\n'
    receiver = tern_factory.serve(
        hostname=RECEIVER_NAME, listeners=[{"address": RECEIVER_HOST, "port": port, "role": "mx"}],
        config_extra=f'[mail]\ndomains = ["b.test"]\n\n[[mailbox]]\naddress = "carol@b.test"\n\n{dns}')
    from test_auth import password_hash
    sender = tern_factory.serve(
        data_dir=sender_data,
        listeners=[{"address": "127.0.0.1", "port": 0, "role": "submission", "cleartext_auth": True},
                   {"address": "127.0.0.1", "port": 0, "role": "mx"}],
        config_extra=f"""[mail]
domains = ["tern.test"]
relay_networks = ["127.0.0.13/32"]

[[user]]
address = "alice@tern.test"
password_hash = "{password_hash("secret")}"

[[alias]]
address = "fwd@tern.test"
to = ["carol@b.test"]

[outbound]
port = {port}
connect_timeout = "2s"

{dns}""")
    records = dict(tern_records)
    records["rsa._domainkey.signed.test."] = dkimpy_rsa
    records["ed._domainkey.signed.test."] = dkimpy_ed
    yield {"sender": sender, "receiver": receiver, "port": port, "records": records, "keys": data, "nsd": nsd}
    nsd.stop()


def carol_files(receiver, count: int) -> list[Path]:
    return wait_for_files(receiver.data_dir / "mailboxes" / "b.test" / "carol", count, timeout=30)


def alice_sends_to_carol(auth_world, subject: str) -> Path:
    """Alice submits a message to carol@b.test (a body with trailing white space and empty
    lines, which relaxed canonicalization must get right); the file it became at carol's."""
    sender = auth_world["sender"]
    content = message(subject, sender="Alice <alice@tern.test>",
                      body="Lunch at noon?\r\n\r\n  Trailing space and an empty line follow.  \r\n\r\n")
    with smtplib.SMTP(sender.host, sender.port, timeout=30) as client:
        client.login("alice@tern.test", "secret")
        client.sendmail("alice@tern.test", ["carol@b.test"], content)
    [path] = carol_files(auth_world["receiver"], 1)
    return path


def test_tern_signs_submissions_and_a_second_tern_verifies_them(auth_world, tmp_path):
    """Alice's message leaves with an Ed25519 and an RSA signature of tern.test; the receiving
    Tern finds both keys through NSD and writes dkim=pass for each; dkimpy agrees."""
    path = alice_sends_to_carol(auth_world, "signed lunch")
    data = path.read_bytes()
    signatures = header_fields(data, "DKIM-Signature")
    assert len(signatures) == 2, data[:2000]
    assert any("a=ed25519-sha256" in s and "s=s1-ed" in s for s in signatures)
    assert any("a=rsa-sha256" in s and "s=s1-rsa" in s for s in signatures)
    assert all("c=relaxed/relaxed" in s and "d=tern.test" in s for s in signatures)
    [results] = header_fields(data, "Authentication-Results")
    assert results.startswith(f"{RECEIVER_NAME};"), results
    verdicts = re.findall(r"dkim=(\w+)[^;]*header\.d=tern\.test[^;]*header\.s=(\S+)", results)
    assert sorted(verdicts) == [("pass", "s1-ed"), ("pass", "s1-rsa")], results
    assert "(2048-bit key)" in results
    assert "dmarc=pass (p=reject dis=none) header.from=tern.test" in results, results
    # The receiver put its verdict right under its own Received field, above the signatures.
    assert data.index(b"Received:") < data.index(b"Authentication-Results:") < data.index(b"DKIM-Signature:")
    assert dkimpy_verify(path, auth_world["records"], tmp_path) == ["pass", "pass"]


def test_opendkim_verifies_what_tern_signs(auth_world, tmp_path):
    """OpenDKIM, a second implementation besides dkimpy, looks the keys up in NSD and passes
    both of the signatures Tern puts on alice's message: ed25519-sha256 (RFC 8463, which
    OpenDKIM 2.11 supports) and rsa-sha256. The delivered file with its body changed fails both.
    opendkim-testkey (RSA keys only) finds the s1-rsa record and says it matches the private key
    `tern dkim generate` wrote; dkimpy's key does not match it."""
    sender = auth_world["sender"]
    path = alice_sends_to_carol(auth_world, "checked by opendkim")
    # A copy: `opendkim -t` takes a comma-separated list, and the Maildir name has ",S=<size>".
    delivered, changed = tmp_path / "delivered.eml", tmp_path / "changed.eml"
    data = path.read_bytes()
    delivered.write_bytes(data)
    conf = opendkim_conf(auth_world["nsd"].port, tmp_path)
    assert opendkim_verify(delivered, conf) == [("pass", "ed25519-sha256", "s1-ed"), ("pass", "rsa-sha256", "s1-rsa")]
    assert b"Lunch at noon?" in data
    changed.write_bytes(data.replace(b"Lunch at noon?", b"Lunch at one?"))
    assert opendkim_verify(changed, conf) == [("fail", "ed25519-sha256", "s1-ed"), ("fail", "rsa-sha256", "s1-rsa")]

    testkey = opendkim_tool("opendkim-testkey")
    key = sender.data_dir / "dkim" / "tern.test" / "s1-rsa.pem"
    run = subprocess.run([testkey, "-x", str(conf), "-d", "tern.test", "-s", "s1-rsa", "-k", str(key), "-vvv"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "key OK" in run.stdout + run.stderr, run
    other = tmp_path / "other.pem"
    other.write_bytes((auth_world["keys"] / "test.private").read_bytes())
    other.chmod(0o600)
    run = subprocess.run([testkey, "-x", str(conf), "-d", "tern.test", "-s", "s1-rsa", "-k", str(other), "-vvv"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "keys do not match" in run.stdout + run.stderr, run


def test_mail_signed_by_dkimpy_verifies_in_tern(auth_world, tmp_path):
    """dkimpy signs with its RSA (1024-bit) and Ed25519 test keys; Tern verifies both through
    NSD; the same message with its body changed fails with the body hash named."""
    receiver, keys = auth_world["receiver"], auth_world["keys"]
    content = message("from dkimpy", sender="Dee <dee@signed.test>", body="Signed elsewhere.\r\n")
    signed = dkimpy_sign(content, "rsa", "signed.test", keys / "test.private", "rsa-sha256", tmp_path)
    signed = dkimpy_sign(signed, "ed", "signed.test", keys / "ed25519test.key", "ed25519-sha256", tmp_path)
    changed = signed.replace(b"Signed elsewhere.", b"Signed elsewhere!")
    with smtplib.SMTP(RECEIVER_HOST, auth_world["port"], timeout=30) as client:
        client.sendmail("dee@signed.test", ["carol@b.test"], signed)
        client.sendmail("dee@signed.test", ["carol@b.test"], changed)
    files = carol_files(receiver, 2)
    verdicts = []
    for path in files:
        [results] = header_fields(path.read_bytes(), "Authentication-Results")
        verdicts.append(sorted(re.findall(r"dkim=(\w+)(?: \(1024-bit key\))?(?: reason=\"([^\"]*)\")? header\.d=signed\.test", results)))
    assert sorted(verdicts) == [
        [("fail", "body hash did not verify"), ("fail", "body hash did not verify")],
        [("pass", ""), ("pass", "")],
    ], verdicts


def test_authentication_results_claiming_the_receiver_are_removed(auth_world):
    """RFC 8601 §5: a forged Authentication-Results in the receiver's name is dropped before its
    own is added; one from another host stays; a message without signatures gets dkim=none."""
    receiver = auth_world["receiver"]
    forged = message("forged verdict", sender="Mallory <m@evil.test>", extra_headers=(
        f"Authentication-Results: {RECEIVER_NAME}; dkim=pass header.d=bank.test\r\n"
        f"Authentication-Results: (comment) {RECEIVER_NAME.upper()};\r\n dkim=pass\r\n"
        "Authentication-Results: mx.elsewhere.test; dkim=pass header.d=elsewhere.test\r\n").encode())
    with smtplib.SMTP(RECEIVER_HOST, auth_world["port"], timeout=30) as client:
        client.sendmail("m@evil.test", ["carol@b.test"], forged)
    [path] = carol_files(receiver, 1)
    results = header_fields(path.read_bytes(), "Authentication-Results")
    assert len(results) == 2 and results[1] == "mx.elsewhere.test; dkim=pass header.d=elsewhere.test", results
    # evil.test has no zone on the test's NSD, which refuses the question: a temporary error.
    assert results[0] == (f'{RECEIVER_NAME}; dkim=none; spf=temperror reason="DNS lookup of evil.test failed" '
                          'smtp.mailfrom=m@evil.test; dmarc=temperror reason="DNS lookup of _dmarc.evil.test failed" '
                          'header.from=evil.test; arc=none'), results


def test_spf_verdicts_agree_with_pyspf(auth_world, tmp_path):
    """Clients on 127.0.0.8 to .12 send as senders of spf.test's records (ip4, a, include,
    redirect, exists with macros, mx with a prefix, ~all, ?all, a syntax error, an include
    loop, two records, no record); the receiver's spf= in Authentication-Results is pyspf's
    result for the same client, sender and HELO on the same zone, and the expected one."""
    cases = [
        ("127.0.0.8", "a@spf.test", "pass"), ("127.0.0.9", "a@spf.test", "pass"),
        ("127.0.0.10", "a@spf.test", "pass"), ("127.0.0.12", "a@spf.test", "fail"),
        ("127.0.0.8", "a@soft.spf.test", "softfail"), ("127.0.0.8", "a@neutral.spf.test", "neutral"),
        ("127.0.0.8", "a@broken.spf.test", "permerror"), ("127.0.0.8", "a@redir.spf.test", "pass"),
        ("127.0.0.11", "x@macro.spf.test", "pass"), ("127.0.0.12", "x@macro.spf.test", "fail"),
        ("127.0.0.8", "a@loop.spf.test", "permerror"), ("127.0.0.8", "a@two.spf.test", "permerror"),
        ("127.0.0.10", "a@mxs.spf.test", "pass"), ("127.0.0.12", "a@mxs.spf.test", "fail"),
        ("127.0.0.8", "a@nothing.spf.test", "none"),
    ]
    receiver = auth_world["receiver"]
    for index, (ip, sender, _) in enumerate(cases):
        with smtplib.SMTP(RECEIVER_HOST, auth_world["port"], local_hostname="client.spf.test", timeout=30,
                          source_address=(ip, 0)) as client:
            client.sendmail(sender, ["carol@b.test"], message(f"spf case {index}"))
    files = carol_files(receiver, len(cases))
    tern = {}
    for path in files:
        data = path.read_bytes()
        index = int(re.search(rb"Subject: spf case (\d+)", data).group(1))
        [results] = header_fields(data, "Authentication-Results")
        m = re.search(r"spf=(\w+)[^;]* smtp\.mailfrom=([^;\s]+)", results)
        assert m and m.group(2) == cases[index][1], results
        tern[index] = m.group(1)
    questions = "".join(f"{ip} {sender} client.spf.test\n" for ip, sender, _ in cases)
    run = subprocess.run([PEER_PYTHON, str(SPF_TOOL), str(auth_world["nsd"].port)], input=questions,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    pyspf = run.stdout.split()
    expected = [result for _, _, result in cases]
    assert [tern[i] for i in range(len(cases))] == expected
    assert pyspf == expected, pyspf


def test_forged_from_of_a_reject_domain_is_refused_at_data(auth_world):
    """RFC 7489: tern.test publishes p=reject; a stranger's message with From: tern.test, neither
    signed by tern.test nor sent from an address its SPF allows, gets 550 5.7.1 after DATA and
    is not delivered; the session goes on, and a message from elsewhere is still accepted."""
    receiver = auth_world["receiver"]
    forged = message("wire the money", sender="CEO <ceo@tern.test>")
    with smtplib.SMTP(RECEIVER_HOST, auth_world["port"], timeout=30) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("ceo@tern.test", ["carol@b.test"], forged)
        assert refused.value.smtp_code == 550
        assert refused.value.smtp_error.startswith(b"5.7.1 ") and b"DMARC" in refused.value.smtp_error
        client.sendmail("dee@signed.test", ["carol@b.test"], message("still welcome", sender="Dee <dee@signed.test>"))
    [path] = carol_files(receiver, 1)
    assert b"Subject: still welcome" in path.read_bytes()
    assert "reason=DMARC policy of tern.test" in receiver.stderr_text() + receiver.stdout_text()


def test_quarantined_mail_is_filed_into_junk(auth_world):
    """RFC 7489 §6.3 p=quarantine: quar.test's SPF allows only 127.0.0.9. Its mail from
    127.0.0.8 fails DMARC and is delivered into carol's Junk folder (made for it, as IMAP lists
    it: \\Junk), marked dis=quarantine; the same mail from 127.0.0.9 passes and goes to INBOX."""
    receiver = auth_world["receiver"]
    # The policy is looked up while the body arrives: 2 MB of it wait for the answer.
    body = b"".join(b"%07d quarantined line\r\n" % n for n in range(80_000))
    for ip, subject in (("127.0.0.8", "quarantine me"), ("127.0.0.9", "welcome")):
        with smtplib.SMTP(RECEIVER_HOST, auth_world["port"], timeout=30, source_address=(ip, 0)) as client:
            client.sendmail("news@quar.test", ["carol@b.test"], message(subject, sender="News <news@quar.test>", body=body))
    carol = receiver.data_dir / "mailboxes" / "b.test" / "carol"
    [junk] = wait_for_files(carol / ".Junk", 1, timeout=30)
    data = junk.read_bytes()
    assert b"Subject: quarantine me" in data and data.endswith(b"\r\n\r\n" + body)
    [results] = header_fields(data, "Authentication-Results")
    assert re.search(r"dmarc=fail \(p=quarantine dis=quarantine\) reason=\"[^\"]*\" header\.from=quar\.test", results), results
    assert (carol / ".Junk" / "maildirfolder").exists()
    [inbox] = carol_files(receiver, 1)
    data = inbox.read_bytes()
    assert b"Subject: welcome" in data
    [results] = header_fields(data, "Authentication-Results")
    assert "dmarc=pass (p=quarantine dis=none) header.from=quar.test" in results, results


def test_dns_records_prints_the_setup_and_checks_it(auth_world, tmp_path):
    """`tern dns-records tern.test` prints MX, SPF, both DKIM keys, DMARC and the SRV records of
    the configured listeners as zone-file lines, and says which NSD has: the DKIM keys and the
    DMARC record are published (the DMARC one differently), the rest missing. `check-config`
    warns about a local domain without a key."""
    sender = auth_world["sender"]
    config = sender.workdir / "tern.toml"
    run = subprocess.run([str(tern_bin()), "dns-records", "tern.test", "--config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    lines = out.splitlines()

    def status(record_prefix: str) -> str:
        index = next(i for i, line in enumerate(lines) if line.startswith(record_prefix))
        m = re.search(r"\[([a-z ]+)\]$", lines[index - 1])
        assert m, lines[index - 1]
        return m.group(1)

    assert "tern.test. IN MX 10 mx.tern.test." in lines
    assert 'tern.test. IN TXT "v=spf1 mx -all"' in lines
    assert status("tern.test. IN MX") == "missing"
    assert status("tern.test. IN TXT") == "missing"
    assert status("s1-ed._domainkey.tern.test. IN TXT") == "ok"
    assert status("s1-rsa._domainkey.tern.test. IN TXT") == "ok"
    assert status("_dmarc.tern.test. IN TXT") == "differs"
    assert status("_submission._tcp.tern.test. IN SRV 0 1 ") == "missing"
    assert not any(line.startswith("_imaps._tcp") for line in lines)  # no imaps listener configured
    # The RSA key's record is longer than one TXT string: split as a zone file wants it.
    rsa = next(line for line in lines if line.startswith("s1-rsa._domainkey"))
    assert rsa.count('"') >= 4

    bare = tmp_path / "bare.toml"
    bare.write_text(f'data_dir = "{tmp_path / "bare-data"}"\n[mail]\ndomains = ["unsigned.test"]\n')
    check = subprocess.run([str(tern_bin()), "check-config", "--config", str(bare)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0 and check.stdout.strip() == "ok", check
    assert "unsigned.test has no DKIM key" in check.stderr


def test_reports_are_signed_for_the_host_names_domain(auth_world, tmp_path):
    """A failure report from MAILER-DAEMON@mx.tern.test (the receiver refuses the recipient) is
    DKIM-signed for tern.test, the nearest domain above the host name with keys, and verifies."""
    sender = auth_world["sender"]
    with smtplib.SMTP(sender.host, sender.port, timeout=30) as client:
        client.login("alice@tern.test", "secret")
        client.sendmail("alice@tern.test", ["nobody@b.test"], message("to nobody", sender="Alice <alice@tern.test>"))
    [path] = wait_for_files(sender.data_dir / "mailboxes" / "tern.test" / "alice", 1, timeout=30)
    data = path.read_bytes()
    assert re.search(rb"^From: .*<MAILER-DAEMON@mx\.tern\.test>", data, re.M), data[:600]
    signatures = header_fields(data, "DKIM-Signature")
    assert len(signatures) == 2 and all("d=tern.test" in s for s in signatures), data[:1500]
    assert dkimpy_verify(path, auth_world["records"], tmp_path) == ["pass", "pass"]


def test_dev_mode_signs_what_it_releases(tern_factory, peers, tmp_path):
    """`tern dev` with keys for example.test in its data directory signs a caught message from
    that domain when it releases it (ed25519 and rsa), and dkimpy verifies what the relay got.
    The message is larger than one read of the catcher's file, so the body hash spans reads."""
    from test_catcher_api import plain_message, release, send, wait_count
    data = tmp_path / "dev-data"
    records = generate_keys(data, "example.test", "dev")
    peer = peers.start("127.0.0.3")
    server = tern_factory.dev(data_dir=data, config_extra=f"""
[catcher.release]
relay = "127.0.0.3:{peers.port}"
security = "none"
allowed_domains = ["example.test"]
""")
    send(server, plain_message("signed release", body="A line of the report, with some words.\n" * 10_000))
    message_id = wait_count(server, 1)["messages"][0]["ID"]
    status, _, body = release(server, message_id, ["dev@example.test"])
    assert status == 200 and body == b"ok", body
    [got] = peer.wait_messages(1)
    # The catcher's Return-Path stays behind (RFC 5321 §4.4: the receiver adds its own).
    assert got["content"].startswith("DKIM-Signature:"), got["content"][:200]
    assert "Return-Path:" not in got["content"].split("\n\n", 1)[0].replace("\r", ""), got["content"][:2000]
    released = tmp_path / "released.eml"
    released.write_bytes(got["content"].encode("latin-1"))
    signatures = header_fields(released.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), "DKIM-Signature")
    assert len(signatures) == 2 and all("d=example.test" in s for s in signatures), signatures
    assert dkimpy_verify(released, records, tmp_path) == ["pass", "pass"]


def test_the_catcher_shows_what_a_receiver_would_find(auth_world, tern_factory, tmp_path):
    """`tern dev` with [dns] at NSD: GET /api/v1/message/{ID}/authentication checks a caught
    message as a receiving MX would, when asked: dkimpy's two signatures of signed.test pass,
    SPF for the client that sent it (127.0.0.8, allowed by spf.test) and its envelope sender
    passes, DMARC names the policy of the From: domain. A forged tern.test message (p=reject) is
    caught all the same (a catcher refuses nothing) and shown as a DMARC fail with disposition
    reject. The envelope sender is the catcher's Return-Path, the API's ReturnPath."""
    from test_catcher_api import get_json, wait_count
    keys, nsd = auth_world["keys"], auth_world["nsd"]
    server = tern_factory.dev(config_extra=f'[dns]\nservers = ["127.0.0.1:{nsd.port}"]\ntimeout = "2s"\n')
    content = message("signed for the catcher", sender="Dee <dee@signed.test>", body="Signed elsewhere.\r\n")
    signed = dkimpy_sign(content, "rsa", "signed.test", keys / "test.private", "rsa-sha256", tmp_path)
    signed = dkimpy_sign(signed, "ed", "signed.test", keys / "ed25519test.key", "ed25519-sha256", tmp_path)
    forged = message("wire the money", sender="CEO <ceo@tern.test>")
    with smtplib.SMTP(server.host, server.port, local_hostname="client.spf.test", timeout=30,
                      source_address=("127.0.0.8", 0)) as client:
        client.sendmail("a@spf.test", ["dev@example.test"], signed)
        client.sendmail("a@spf.test", ["dev@example.test"], forged)
    listing = wait_count(server, 2)
    ids = {m["Subject"]: m["ID"] for m in listing["messages"]}

    shown = get_json(server, f"/api/v1/message/{ids['signed for the catcher']}")
    assert shown["ReturnPath"] == "a@spf.test"
    report = get_json(server, f"/api/v1/message/{ids['signed for the catcher']}/authentication")
    assert report["AuthservID"] == "mx.tern.test"
    assert sorted((d["Result"], d["Domain"], d["Selector"], d["Algorithm"]) for d in report["DKIM"]) == [
        ("pass", "signed.test", "ed", "ed25519-sha256"), ("pass", "signed.test", "rsa", "rsa-sha256")], report
    assert [d["KeyBits"] for d in report["DKIM"] if d["Algorithm"] == "rsa-sha256"] == [1024]
    spf = report["SPF"]
    assert (spf["Result"], spf["Identity"], spf["ClientIP"], spf["HELO"]) == (
        "pass", "smtp.mailfrom=a@spf.test", "127.0.0.8", "client.spf.test"), spf
    assert (report["DMARC"]["Result"], report["DMARC"]["Domain"]) == ("none", "signed.test"), report["DMARC"]
    assert report["Header"].startswith("Authentication-Results: mx.tern.test;") and "dkim=pass" in report["Header"]

    report = get_json(server, f"/api/v1/message/{ids['wire the money']}/authentication")
    assert report["DKIM"] == []
    dmarc = report["DMARC"]
    assert (dmarc["Result"], dmarc["Domain"], dmarc["AppliedPolicy"], dmarc["Disposition"]) == (
        "fail", "tern.test", "reject", "reject"), dmarc
    assert "dmarc=fail (p=reject dis=reject)" in report["Header"]


def dkimpy_arc(path: Path, records: dict[str, str], work: Path) -> str:
    """dkimpy's ARC validation of the file: its cv (`pass`, `fail`, `none`) and why."""
    table = work / "records.json"
    table.write_text(json.dumps({name.lower(): text for name, text in records.items()}))
    run = subprocess.run([PEER_PYTHON, str(DKIM_TOOL), "arc-verify", str(path), str(table)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_forwarded_mail_is_arc_sealed_and_validates_in_dkimpy(auth_world, tmp_path):
    """RFC 8617: a stranger's message to fwd@tern.test (an alias of carol@b.test) arrives on the
    sending Tern's mx listener, signed by dkimpy for signed.test and sent from an address
    spf.test allows; Tern forwards it with an ARC set (i=1, cv=none) sealed for tern.test whose
    ARC-Authentication-Results repeats what Tern found. The receiving Tern validates the chain
    (arc=pass), and so does dkimpy's ARC validator. A message dkimpy already sealed once
    (i=1, relay.signed.test) is validated on the way in and leaves with i=2 and cv=pass."""
    sender, receiver, keys = auth_world["sender"], auth_world["receiver"], auth_world["keys"]
    mx = sender.listener("mx")
    content = message("forwarded", sender="Dee <dee@signed.test>", body="Through an alias.\r\n")
    signed = dkimpy_sign(content, "rsa", "signed.test", keys / "test.private", "rsa-sha256", tmp_path)
    with smtplib.SMTP(mx.host, mx.port, local_hostname="client.spf.test", timeout=30,
                      source_address=("127.0.0.8", 0)) as client:
        client.sendmail("a@spf.test", ["fwd@tern.test"], signed)
    [path] = carol_files(receiver, 1)
    data = path.read_bytes()
    [seal] = header_fields(data, "ARC-Seal")
    assert seal.startswith("i=1; a=rsa-sha256;") and "cv=none" in seal and "d=tern.test" in seal and "s=s1-rsa" in seal, seal
    [aar] = header_fields(data, "ARC-Authentication-Results")
    assert aar.startswith("i=1; mx.tern.test;") and "dkim=pass" in aar and "spf=pass smtp.mailfrom=a@spf.test" in aar, aar
    [results] = [r for r in header_fields(data, "Authentication-Results") if r.startswith(f"{RECEIVER_NAME};")]
    assert "arc=pass (i=1 tern.test)" in results, results
    assert dkimpy_arc(path, auth_world["records"], tmp_path).startswith("pass"), data[:3000]
    # The original signature survived the forwarding, and dkimpy agrees.
    assert "dkim=pass" in results and "header.d=signed.test" in results

    # An earlier hop, sealed by dkimpy: its Authentication-Results for relay.signed.test.
    hop = (b"Authentication-Results: relay.signed.test; spf=pass smtp.mailfrom=a@spf.test\r\n"
           + message("second hop", sender="Dee <dee@signed.test>", body="Twice forwarded.\r\n"))
    unsealed = tmp_path / "hop.eml"
    unsealed.write_bytes(hop)
    run = subprocess.run([PEER_PYTHON, str(DKIM_TOOL), "arc-seal", str(unsealed), "rsa", "signed.test",
                          str(keys / "test.private"), "relay.signed.test"], capture_output=True)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    with smtplib.SMTP(mx.host, mx.port, local_hostname="client.spf.test", timeout=30,
                      source_address=("127.0.0.8", 0)) as client:
        client.sendmail("a@spf.test", ["fwd@tern.test"], run.stdout)
    second = next(p for p in carol_files(receiver, 2) if b"Subject: second hop" in p.read_bytes())
    data = second.read_bytes()
    seals = header_fields(data, "ARC-Seal")
    assert len(seals) == 2 and any(s.startswith("i=2;") and "cv=pass" in s and "d=tern.test" in s for s in seals), seals
    [results] = [r for r in header_fields(data, "Authentication-Results") if r.startswith(f"{RECEIVER_NAME};")]
    assert "arc=pass (i=2 signed.test tern.test)" in results, results
    assert dkimpy_arc(second, auth_world["records"], tmp_path).startswith("pass"), data[:4000]


def test_mail_relayed_for_a_trusted_network_is_signed(auth_world, tmp_path):
    """An application server in the sending Tern's relay networks (127.0.0.13) hands it mail
    from app@tern.test on its mx listener, without logging in: Tern signs it as it signs what
    users submit (as OpenDKIM signs for its InternalHosts), and checks nothing of its own
    network's mail. The receiving Tern and dkimpy pass both signatures."""
    sender, receiver = auth_world["sender"], auth_world["receiver"]
    mx = sender.listener("mx")
    with smtplib.SMTP(mx.host, mx.port, local_hostname="app.tern.test", timeout=30,
                      source_address=("127.0.0.13", 0)) as client:
        client.sendmail("app@tern.test", ["carol@b.test"], message("from the app", sender="App <app@tern.test>"))
    [path] = carol_files(receiver, 1)
    data = path.read_bytes()
    assert len(header_fields(data, "DKIM-Signature")) == 2
    [results] = header_fields(data, "Authentication-Results")
    assert results.startswith(f"{RECEIVER_NAME};") and "dmarc=pass" in results, results
    assert sorted(re.findall(r"dkim=(\w+)[^;]*header\.d=tern\.test", results)) == ["pass", "pass"], results
    assert dkimpy_verify(path, auth_world["records"], tmp_path) == ["pass", "pass"]


def test_a_connection_lost_while_the_policy_is_looked_up_leaves_nothing(auth_world):
    """The intake looks up the DMARC policy of quar.test while the body arrives; a client that
    disconnects in the middle of it leaves no message anywhere (INBOX, Junk, queue), and the
    next client's message is delivered as usual."""
    receiver = auth_world["receiver"]
    for _ in range(5):
        client = smtplib.SMTP(RECEIVER_HOST, auth_world["port"], timeout=30, source_address=("127.0.0.8", 0))
        client.ehlo("client.spf.test")
        assert client.mail("news@quar.test")[0] == 250
        assert client.rcpt("carol@b.test")[0] == 250
        assert client.docmd("DATA")[0] == 354
        client.send(b"From: News <news@quar.test>\r\nSubject: cut off\r\n\r\n" + b"x" * 700_000)
        client.sock.close()
    with smtplib.SMTP(RECEIVER_HOST, auth_world["port"], timeout=30, source_address=("127.0.0.9", 0)) as client:
        client.sendmail("news@quar.test", ["carol@b.test"], message("after the cut", sender="News <news@quar.test>"))
    [path] = carol_files(receiver, 1)
    assert b"Subject: after the cut" in path.read_bytes()
    junk = receiver.data_dir / "mailboxes" / "b.test" / "carol" / ".Junk" / "new"
    assert not junk.exists() or not list(junk.glob("*"))
    # The good message leaves the queue just after its delivery; nothing else was ever in it.
    queue = receiver.data_dir / "spool" / "queue"
    deadline = time.monotonic() + 15
    while list(queue.glob("*.eml")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(queue.glob("*.eml"))
    assert not list((receiver.data_dir / "spool" / "tmp").glob("*")), "an aborted message left its file"
