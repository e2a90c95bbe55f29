"""A remote SMTP server for Tern's outbound tests: aiosmtpd (a real, independent SMTP server
implementation) with behaviours the tests choose on the command line.

Runs as its own process under the Debian Python that has python3-aiosmtpd:
    /usr/bin/python3 smtp_peer.py --host 127.0.0.3 --port 2525 --out DIR [options]
Prints "ready" on stdout when it listens. Every accepted message becomes DIR/NNNNNN.json with
the envelope, the ESMTP parameters, the client's port (one per TCP connection, so a test can
count connections), whether TLS was on, and the content (latin-1 text). Every connection is
logged as a line in DIR/connections.log, and every AUTH command that arrives (over TLS or
not, whether it succeeds or not) as a line in DIR/auth.log.

TLS: --tls-cert/--tls-key offer STARTTLS; with --implicit-tls the same certificate is used
from the first octet instead (port 465 style), and no STARTTLS is offered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, syntax


class Handler:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.data_commands = 0
        self.lock = threading.Lock()

    def log_auth(self, server, arg: str) -> None:
        """Records an AUTH command (its mechanism only, never the credentials)."""
        mechanism = arg.split()[0] if arg else ""
        with self.lock, open(self.out / "auth.log", "a") as log:
            log.write(f"{server.session.peer[1]} {mechanism} tls={is_tls(server)}\n")

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock, open(self.out / "connections.log", "a") as log:
            log.write(f"{session.peer[1]} ehlo {hostname}\n")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.args.reject_rcpt:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if address.lower() in self.args.defer_rcpt:
            return "450 4.2.1 <%s>: Mailbox busy, try again later" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_commands += 1
            attempt = self.data_commands
        if attempt <= self.args.defer_data:
            return "451 4.3.0 Temporary local problem, try again"
        if self.args.delay:
            await asyncio.sleep(self.args.delay)
        with self.lock:
            self.count += 1
            n = self.count
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "rcpt_options": getattr(envelope, "rcpt_options", []),
            "peer_port": session.peer[1],
            "helo": session.host_name,
            "tls": is_tls(server),
            "auth_login": session.auth_data.login.decode() if session.auth_data else None,
            "content": envelope.original_content.decode("latin-1"),
        }
        tmp = self.out / f"{n:06d}.tmp"
        tmp.write_text(json.dumps(record))
        tmp.rename(self.out / f"{n:06d}.json")
        return "250 2.0.0 Ok: queued as peer%06d" % n


def is_tls(server) -> bool:
    """After STARTTLS (session.ssl) or on an implicit-TLS connection (an SSL transport)."""
    return server.session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None


class PeerSMTP(SMTP):
    """aiosmtpd's server, with every AUTH command logged before it is looked at."""

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        self.event_handler.log_auth(self, arg)
        return await super().smtp_AUTH(arg)


class PeerController(Controller):
    def factory(self):
        return PeerSMTP(self.handler, **self.SMTP_kwargs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", default="peer.test")
    parser.add_argument("--reject-rcpt", action="append", default=[], type=str.lower)
    parser.add_argument("--defer-rcpt", action="append", default=[], type=str.lower)
    parser.add_argument("--defer-data", type=int, default=0, help="answer the first N DATA commands with 451")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before accepting each message")
    parser.add_argument("--no-smtputf8", action="store_true")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--auth", help="USER:PASSWORD: AUTH is required, and only over TLS")
    parser.add_argument("--implicit-tls", action="store_true",
                        help="TLS from the first octet with --tls-cert/--tls-key, instead of STARTTLS")
    parser.add_argument("--tls-fail", action="store_true",
                        help="offer STARTTLS but fail every handshake (TLS 1.2 only, client certificate required)")
    args = parser.parse_args()

    handler = Handler(args)
    tls_context = None
    if args.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_fail:
            # A client without a certificate cannot finish a TLS 1.2 handshake with this server.
            tls_context.maximum_version = ssl.TLSVersion.TLSv1_2
            tls_context.verify_mode = ssl.CERT_REQUIRED
            tls_context.load_verify_locations(args.tls_cert)
    auth = {}
    if args.auth:
        user, password = (part.encode() for part in args.auth.split(":", 1))

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user and auth_data.password == password
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        # aiosmtpd counts only STARTTLS as TLS for AUTH; an implicit-TLS connection is TLS too.
        auth = dict(authenticator=authenticator, auth_required=True, auth_require_tls=not args.implicit_tls)
    tls = dict(ssl_context=tls_context) if args.implicit_tls else dict(tls_context=tls_context)
    controller = PeerController(
        handler, hostname=args.host, port=args.port, server_hostname=args.name, ident="peer ESMTP",
        enable_SMTPUTF8=not args.no_smtputf8, decode_data=False, data_size_limit=60 * 1024 * 1024,
        **tls, **auth)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
