"""testssl.sh (Debian's testssl.sh) against the submission listeners: implicit TLS on 465 and
STARTTLS on 587 (hostile-inputs 25-29). No finding above LOW, with one documented exception.

The certificate is signed by a test CA that testssl is told about (`--add-ca`), names the
address testssl connects to, is valid for 90 days and names a CRL and an OCSP responder, so the
certificate checks judge a certificate as an operator would deploy it. The exception is
`cipher_order`: Mozilla's "intermediate" profile lets the client choose among suites that are all
AEAD with forward secrecy, and BoringSSL through NIOSSL offers no server preference to set."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ternlib import need_tool

# Findings that are about testssl's own environment, not the server.
ENVIRONMENT = {"engine_problem", "service", "scanTime", "optimal_proto", "pre_128cipher"}
# A server choice documented above (Mozilla intermediate: the client chooses).
ACCEPTED = {"cipher_order"}


def make_ca_and_certificate(directory: Path) -> tuple[Path, Path, Path]:
    openssl = need_tool("openssl")
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(ca_key), "-out", str(ca), "-days", "90", "-subj", "/CN=Tern testssl CA",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, capture_output=True, timeout=60)
    cert, key, csr, ext = (directory / n for n in ("cert.pem", "key.pem", "cert.csr", "cert.ext"))
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "crlDistributionPoints=URI:http://127.0.0.1:9/ca.crl\n"
                   "authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/ocsp\n")
    subprocess.run([openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    subprocess.run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                    "-set_serial", "4242", "-days", "90", "-extfile", str(ext), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return ca, cert, key


@pytest.mark.parametrize("role", ["submissions", "submission"])
def test_testssl_finds_nothing_above_low(tern_factory, tmp_path, role):
    testssl = need_tool("testssl")
    ca, cert, key = make_ca_and_certificate(tmp_path)
    server = tern_factory.serve(
        listeners=[{"address": "127.0.0.1", "port": 0, "role": role}],
        tls={"certificate": str(cert), "private_key": str(key)})
    listener = server.listener(role)
    report = tmp_path / f"{role}.json"
    argv = [testssl, "--quiet", "--color", "0", "--warnings", "off", "--add-ca", str(ca), "--jsonfile", str(report)]
    if role == "submission":
        argv += ["--starttls", "smtp"]
    run = subprocess.run([*argv, f"127.0.0.1:{listener.port}"], capture_output=True, timeout=900,
                         stdin=subprocess.DEVNULL)
    assert report.is_file(), run.stdout.decode("utf-8", "replace")[-4000:]
    findings = json.loads(report.read_text())
    assert len(findings) > 50, "testssl ran only part of its checks"
    serious = [f"{f['id']} {f['severity']}: {f['finding']}" for f in findings
               if f.get("severity") not in ("OK", "INFO", "LOW", "DEBUG", "WARN")
               and f["id"] not in ENVIRONMENT | ACCEPTED]
    assert serious == [], "\n".join(serious)
    # The protocols: TLS 1.2 and 1.3 only.
    offered = {f["id"]: f["finding"] for f in findings if f["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")}
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert offered.get(old, "not offered").startswith("not offered"), offered
    assert offered.get("TLS1_2") == "offered" and offered.get("TLS1_3", "").startswith("offered"), offered
