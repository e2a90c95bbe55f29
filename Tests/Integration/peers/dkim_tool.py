"""dkimpy (Debian's python3-dkim), the independent DKIM implementation the tests check Tern
against, run with the system interpreter that has it.

    dkim_tool.py verify MESSAGE RECORDS_JSON   one line per DKIM-Signature: "<index> pass|fail"
    dkim_tool.py sign MESSAGE SELECTOR DOMAIN KEYFILE ALGORITHM   the message, signed, on stdout
    dkim_tool.py arc-verify MESSAGE RECORDS_JSON   "<cv> <reason>": dkimpy's ARC chain validation
    dkim_tool.py arc-seal MESSAGE SELECTOR DOMAIN KEYFILE SRV_ID   the message with dkimpy's ARC set
        (rsa-sha256) in front, from the Authentication-Results of SRV_ID in it

RECORDS_JSON maps "<selector>._domainkey.<domain>." to the TXT record's text: keys come from
it, never from DNS. For ed25519-sha256 KEYFILE holds the base64 seed, as dkimpy reads it.
"""

import json
import sys

import dkim


def main() -> int:
    command, path = sys.argv[1], sys.argv[2]
    message = open(path, "rb").read()
    if command in ("verify", "arc-verify"):
        records = json.load(open(sys.argv[3]))

        def dnsfunc(name, timeout=5):
            return records.get(name.decode().lower(), "").encode()

        if command == "arc-verify":
            cv, _, reason = dkim.arc_verify(message, dnsfunc=dnsfunc, minkey=1024)
            print(f"{cv.decode()} {reason}")
            return 0

        checker = dkim.DKIM(message, minkey=1024)
        header = message.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
        count = sum(1 for line in header.split(b"\n") if line.lower().startswith(b"dkim-signature:"))
        for index in range(count):
            ok = checker.verify(idx=index, dnsfunc=dnsfunc)
            print(f"{index} {'pass' if ok else 'fail'}")
        return 0
    if command == "sign":
        selector, domain, keyfile, algorithm = sys.argv[3:7]
        signature = dkim.sign(
            message, selector.encode(), domain.encode(), open(keyfile, "rb").read(),
            canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algorithm.encode(),
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        sys.stdout.buffer.write(signature + message)
        return 0
    if command == "arc-seal":
        selector, domain, keyfile, srv_id = sys.argv[3:7]
        fields = dkim.arc_sign(message, selector.encode(), domain.encode(), open(keyfile, "rb").read(), srv_id.encode(),
                               include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        sys.stdout.buffer.write(b"".join(fields) + message)
        return 0
    print(f"unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
