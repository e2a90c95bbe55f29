"""pyspf (Debian's python3-spf), the independent SPF implementation Tern's verdicts are compared
with, asking only the test's NSD.

    spf_tool.py NSD_PORT < questions    one "<ip> <sender> <helo>" per line; prints one result
                                        per line (pass, fail, softfail, neutral, none,
                                        permerror, temperror)
"""

import sys

import dns.resolver
import spf


def main() -> int:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = int(sys.argv[1])
    resolver.lifetime = 5
    dns.resolver.default_resolver = resolver
    for line in sys.stdin:
        if not line.strip():
            continue
        ip, sender, helo = line.split()
        result, _ = spf.check2(i=ip, s=sender, h=helo, timeout=10)
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
