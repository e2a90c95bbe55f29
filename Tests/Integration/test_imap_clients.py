"""Real IMAP clients against serve mode: mbsync (isync) syncing a mailbox both ways, curl over
imap:// (STARTTLS) and imaps://, openssl s_client on both listeners, Dovecot's doveadm reading
and changing the Maildir Tern keeps (flags, keywords), and kill -9 in the middle of an APPEND:
after the restart the message is there whole or not at all, and an APPEND answered OK is there."""

from __future__ import annotations

import imaplib
import os
import pwd
import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

from test_imap import PASSWORD, alice_maildir, imap, send, serve_with_alice, wait_delivered
from ternlib import need_tool, unverified_context

def subject_of(path: Path) -> bytes:
    """The Subject of a message file, with CRLF or LF line ends (mbsync stores LF locally)."""
    match = re.search(rb"^Subject: (.*?)\r?$", path.read_bytes(), re.MULTILINE)
    assert match, path
    return match.group(1)


def server_certificate(server, directory: Path) -> Path:
    listener = server.listener("imaps")
    pem = ssl.get_server_certificate((listener.host, listener.port))
    path = directory / "tern-imaps.pem"
    path.write_text(pem)
    return path


# -- mbsync ------------------------------------------------------------------------------------

def test_mbsync_syncs_a_mailbox_both_ways(tern_factory, tmp_path):
    """mbsync pulls INBOX and the folders into a local Maildir, then pushes back what changed
    locally: a flag, a new message, a new folder; a second run finds nothing to do."""
    mbsync = need_tool("mbsync")
    server = serve_with_alice(tern_factory)
    send(server, "first", to="alice@example.test")
    send(server, "second", to="alice@example.test")
    wait_delivered(server, 2)
    local = tmp_path / "local"
    local.mkdir()
    listener = server.listener("imaps")
    config = tmp_path / "mbsyncrc"
    config.write_text(f"""
IMAPAccount tern
Host {listener.host}
Port {listener.port}
User alice@example.test
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {server_certificate(server, tmp_path)}

IMAPStore tern-remote
Account tern

MaildirStore tern-local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel tern
Far :tern-remote:
Near :tern-local:
Patterns *
Create Both
Expunge Both
SyncState *
""")

    def sync() -> None:
        run = subprocess.run([mbsync, "-c", str(config), "-V", "tern"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr

    sync()
    pulled = sorted((local / "INBOX").glob("*/*"))
    assert len([p for p in pulled if p.parent.name in ("new", "cur")]) == 2
    assert {d.name for d in local.iterdir()} >= {"INBOX", "Sent", "Drafts", "Junk", "Trash", "Archive"}
    subjects = sorted(subject_of(p) for p in pulled if p.parent.name in ("new", "cur"))
    assert subjects == [b"first", b"second"]

    # Local changes: mark "first" seen and flagged, write a draft, make a folder with a message.
    first = next(p for p in (local / "INBOX").glob("*/*") if b"Subject: first" in p.read_bytes())
    cur = local / "INBOX" / "cur"
    base = first.name.split(":2,")[0]
    first.rename(cur / f"{base}:2,FS")
    draft = b"From: alice@example.test\r\nSubject: a draft\r\n\r\nnot yet\r\n"
    (local / "Drafts" / "new" / f"{int(time.time())}.1.local").write_bytes(draft)
    for sub in ("cur", "new", "tmp"):
        (local / "Projects" / sub).mkdir(parents=True)
    (local / "Projects" / "new" / f"{int(time.time())}.2.local").write_bytes(b"Subject: plans\r\n\r\nplans\r\n")
    sync()

    m = imap(server, "imaps")
    m.login("alice@example.test", PASSWORD)
    m.select("INBOX")
    typ, data = m.search(None, "SEEN", "FLAGGED")
    assert typ == "OK" and data[0] == b"1", data
    assert m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1][0][1] == b"Subject: first\r\n\r\n"
    m.select("Drafts")
    uploaded = m.fetch("1", "(BODY.PEEK[])")[1][0][1]
    # mbsync adds its X-TUID tracking header to what it uploads; the rest is the draft, in CRLF.
    assert re.sub(rb"X-TUID: \S+\r\n", b"", uploaded) == draft, uploaded
    assert m.status("Projects", "(MESSAGES)") == ("OK", [b"Projects (MESSAGES 1)"])

    # Remote changes go the other way: a new message and a deletion made over IMAP.
    m.select("INBOX")
    m.store("2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    send(server, "third", to="alice@example.test")
    wait_delivered(server, 2)
    sync()
    inbox = [p for p in (local / "INBOX").glob("*/*") if p.parent.name in ("new", "cur")]
    subjects = sorted(subject_of(p) for p in inbox)
    assert subjects == [b"first", b"third"]
    # Nothing changed on either side: a further run changes nothing on either.
    def state() -> tuple[list[str], bytes]:
        files = sorted(str(p.relative_to(local)) for p in local.glob("**/*") if p.parent.name in ("new", "cur"))
        m = imap(server, "imaps")
        m.login("alice@example.test", PASSWORD)
        m.select("INBOX")
        remote = b" ".join(part for part in m.fetch("1:*", "(UID FLAGS)")[1] if isinstance(part, bytes))
        m.logout()
        return files, remote

    before = state()
    sync()
    assert state() == before


# -- curl --------------------------------------------------------------------------------------

def test_curl_reads_over_imap_starttls_and_imaps(tern_factory):
    curl = need_tool("curl")
    server = serve_with_alice(tern_factory)
    send(server, "hello curl", to="alice@example.test")
    wait_delivered(server, 1)
    user = ["--user", f"alice@example.test:{PASSWORD}", "-k", "--max-time", "30", "-sS"]
    plain, implicit = server.listener("imap"), server.listener("imaps")

    def run(*args: str) -> str:
        result = subprocess.run([curl, *user, *args], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.decode()

    # imap:// with --ssl-reqd: STARTTLS before the login, as LOGINDISABLED demands.
    fetched = run("--ssl-reqd", f"imap://{plain.host}:{plain.port}/INBOX;UID=1")
    assert "Subject: hello curl" in fetched and "Hello from the Tern integration tests." in fetched
    listing = run(f"imaps://{implicit.host}:{implicit.port}/")
    assert '"INBOX"' in listing or " INBOX" in listing
    assert "Sent" in listing and "\\Sent" in listing
    assert run(f"imaps://{implicit.host}:{implicit.port}/INBOX?SUBJECT%20curl").strip() == "* SEARCH 1"
    assert run(f"imaps://{implicit.host}:{implicit.port}/INBOX?SUBJECT%20absent").strip() == "* SEARCH"
    section = run(f"imaps://{implicit.host}:{implicit.port}/INBOX;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)")
    assert section.strip() == "Subject: hello curl"
    # curl without TLS on port 143 is refused the login (LOGINDISABLED, no AUTH= offered).
    result = subprocess.run([curl, *user, f"imap://{plain.host}:{plain.port}/INBOX;UID=1"], capture_output=True,
                            timeout=60)
    assert result.returncode != 0


# -- openssl s_client --------------------------------------------------------------------------

def s_client(listener, *extra: str, commands: bytes) -> str:
    openssl = need_tool("openssl")
    run = subprocess.run([openssl, "s_client", "-connect", f"{listener.host}:{listener.port}", "-quiet",
                          "-verify_quiet", *extra], input=commands, capture_output=True, timeout=60)
    return run.stdout.decode(errors="replace")


def test_openssl_s_client_on_imaps_and_starttls(tern_factory):
    server = serve_with_alice(tern_factory)
    login = f'a LOGIN alice@example.test "{PASSWORD}"\r\nb SELECT INBOX\r\nc LOGOUT\r\n'.encode()
    implicit = s_client(server.listener("imaps"), commands=b"x CAPABILITY\r\n" + login)
    assert implicit.startswith("* OK"), implicit
    assert "STARTTLS" not in implicit and "LOGINDISABLED" not in implicit
    assert "a OK" in implicit and "b OK [READ-WRITE]" in implicit and "c OK" in implicit, implicit
    # -starttls imap: openssl reads the greeting, sends STARTTLS, then our commands go over TLS.
    upgraded = s_client(server.listener("imap"), "-starttls", "imap", commands=b"x CAPABILITY\r\n" + login)
    capability = next(line for line in upgraded.splitlines() if line.startswith("* CAPABILITY"))
    assert "STARTTLS" not in capability and "LOGINDISABLED" not in capability and "AUTH=PLAIN" in capability
    assert "a OK" in upgraded and "b OK [READ-WRITE]" in upgraded, upgraded
    # The certificate and protocol: TLS 1.2 at least.
    openssl = need_tool("openssl")
    listener = server.listener("imaps")
    old = subprocess.run([openssl, "s_client", "-connect", f"{listener.host}:{listener.port}", "-tls1_1"],
                         input=b"", capture_output=True, timeout=60)
    assert old.returncode != 0, "TLS 1.1 must be refused"


# -- doveadm: Dovecot reads the Maildir Tern wrote, and Tern reads what Dovecot changed ---------

def doveadm(tmp_path: Path, maildir: Path, *args: str) -> str:
    """doveadm on `maildir` with a private configuration (its indexes in memory): as the invoking
    user, or as nobody when that is root (Dovecot never touches mail as root)."""
    binary = need_tool("doveadm")
    run_dir = tmp_path / "dovecot"
    run_dir.mkdir(exist_ok=True)
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        subprocess.run(["chmod", "-R", "a+rwX", str(maildir)], check=True)
        for parent in maildir.parents:  # Tern's data directory is 0700: let nobody pass through
            parent.chmod(parent.stat().st_mode | 0o111)
    conf = run_dir / "dovecot.conf"
    conf.write_text(f"base_dir = {run_dir}\nstate_dir = {run_dir}\nlog_path = /dev/stderr\nssl = no\n"
                    f"mail_location = maildir:{maildir}:LAYOUT=fs:INDEX=MEMORY\n")
    command = [binary, "-c", str(conf), "-o", f"mail_uid={uid}", "-o", f"mail_gid={gid}",
               "-o", "first_valid_uid=0", "-o", "first_valid_gid=0", *args]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "USER": "alice", "HOME": str(run_dir)})
    assert run.returncode == 0, (command, run.stdout, run.stderr)
    return run.stdout


def test_doveadm_and_tern_share_the_maildir(tern_factory, tmp_path):
    """Flags and keywords Tern sets are what Dovecot reads from the same files, and the other
    way round: the Maildir is the truth, not an index either server keeps."""
    server = serve_with_alice(tern_factory)
    send(server, "shared one", to="alice@example.test")
    send(server, "shared two", to="alice@example.test")
    wait_delivered(server, 2)
    m = imap(server, "imaps")
    m.login("alice@example.test", PASSWORD)
    m.select("INBOX")
    assert m.store("1", "+FLAGS", "(\\Seen \\Answered $Forwarded)")[0] == "OK"
    assert m.store("2", "+FLAGS", "(\\Flagged)")[0] == "OK"

    maildir = alice_maildir(server)
    seen = doveadm(tmp_path, maildir, "fetch", "flags hdr.subject", "all")
    records = [dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
               for block in seen.split("\f") if block.strip()]
    by_subject = {r["hdr.subject"]: set(r["flags"].split()) for r in records}
    assert by_subject["shared one"] >= {"\\Seen", "\\Answered", "$Forwarded"}, seen
    assert "\\Flagged" in by_subject["shared two"] and "\\Seen" not in by_subject["shared two"], seen

    # Dovecot changes them: Tern's sessions see it (NOOP reports the new flags).
    doveadm(tmp_path, maildir, "flags", "add", "$Label1 \\Draft", "header", "subject", "shared two")
    doveadm(tmp_path, maildir, "flags", "remove", "\\Seen", "header", "subject", "shared one")
    time.sleep(0.05)
    m.noop()
    typ, data = m.fetch("1:2", "(FLAGS)")
    flags = b" ".join(item for item in data if isinstance(item, bytes))
    first, second = data[0], data[1]
    assert b"\\Seen" not in first and b"\\Answered" in first and b"$Forwarded" in first, flags
    assert b"$Label1" in second and b"\\Draft" in second and b"\\Flagged" in second, flags
    assert m.search(None, "KEYWORD", "$Label1") == ("OK", [b"2"])
    # Dovecot expunges one: gone for Tern too.
    doveadm(tmp_path, maildir, "expunge", "mailbox", "INBOX", "header", "subject", "shared one")
    m.noop()
    assert m.search(None, "ALL") == ("OK", [b"1"])
    m.logout()


# -- kill -9 during APPEND ---------------------------------------------------------------------

def append_command(tag: str, content: bytes) -> bytes:
    return f"{tag} APPEND INBOX {{{len(content)}}}\r\n".encode()


def test_kill_9_during_append_keeps_messages_whole(tern_factory):
    """An APPEND answered OK survives kill -9; one killed while its literal streams in is not
    there after the restart, and nothing partial is ever listed."""
    server = serve_with_alice(tern_factory)
    listener = server.listener("imaps")
    context = unverified_context()
    body = b"".join(f"line {i:06d} of a large appended message\r\n".encode() for i in range(120_000))
    whole = b"Subject: big append\r\n\r\n" + body  # ~5 MB
    acked = b"Subject: acknowledged\r\n\r\nthis one was answered OK\r\n"

    raw = context.wrap_socket(socket.create_connection((listener.host, listener.port), timeout=30))
    reader = raw.makefile("rb")
    assert reader.readline().startswith(b"* OK")
    raw.sendall(f'a LOGIN alice@example.test "{PASSWORD}"\r\n'.encode())
    while not (line := reader.readline()).startswith(b"a "):
        pass
    assert line.startswith(b"a OK"), line
    raw.sendall(append_command("b", acked))
    assert reader.readline().startswith(b"+")
    raw.sendall(acked + b"\r\n")
    line = reader.readline()
    assert line.startswith(b"b OK"), line
    # The second APPEND: half its literal sent, then the server dies.
    raw.sendall(append_command("c", whole))
    assert reader.readline().startswith(b"+")
    raw.sendall(whole[: len(whole) // 2])
    time.sleep(0.2)
    server.kill()
    raw.close()

    server.start()
    m = imap(server, "imaps")
    m.login("alice@example.test", PASSWORD)
    typ, data = m.select("INBOX")
    assert data == [b"1"], "the acknowledged APPEND is kept, the interrupted one is not"
    assert m.fetch("1", "(BODY.PEEK[])")[1][0][1] == acked
    m.logout()
    leftovers = list((alice_maildir(server) / "tmp").iterdir())
    assert leftovers == [], f"a partial message was left in tmp/: {leftovers}"


def test_kill_9_racing_the_end_of_an_append(tern_factory):
    """kill -9 right as the last octet of an APPEND arrives, several times: after each restart the
    message is listed whole (the exact octets) or not at all."""
    server = serve_with_alice(tern_factory)
    context = unverified_context()
    for attempt in range(4):
        content = (f"Subject: race {attempt}\r\n\r\n".encode()
                   + b"".join(f"{attempt} {i:05d} racing the kill\r\n".encode() for i in range(20_000)))
        listener = server.listener("imaps")
        raw = context.wrap_socket(socket.create_connection((listener.host, listener.port), timeout=30))
        reader = raw.makefile("rb")
        reader.readline()
        raw.sendall(f'a LOGIN alice@example.test "{PASSWORD}"\r\n'.encode())
        while not reader.readline().startswith(b"a "):
            pass
        raw.sendall(append_command("b", content))
        assert reader.readline().startswith(b"+")
        raw.sendall(content + b"\r\n")
        time.sleep(attempt * 0.01)
        server.kill()
        raw.close()
        server.start()
        m = imap(server, "imaps")
        m.login("alice@example.test", PASSWORD)
        m.select("INBOX")
        typ, data = m.search(None, "SUBJECT", f"\"race {attempt}\"")
        found = data[0].split()
        assert len(found) <= 1
        if found:
            assert m.fetch(found[0].decode(), "(BODY.PEEK[])")[1][0][1] == content, "a partial message was listed"
        m.logout()


# -- the per-user session cap ------------------------------------------------------------------

def test_sessions_per_user_are_capped_across_listeners(tern_factory):
    """[limits] connections_per_user counts one user's logged-in sessions on imap and imaps
    together; one more login gets NO [LIMIT] and may log in once a session ends."""
    server = serve_with_alice(tern_factory, limits={"connections_per_user": 2})
    first = imap(server, "imaps")
    first.login("alice@example.test", PASSWORD)
    second = imap(server)
    second.starttls(ssl_context=unverified_context())
    second.login("alice@example.test", PASSWORD)
    third = imap(server, "imaps")
    try:
        third.login("alice@example.test", PASSWORD)
        raise AssertionError("a third session logged in past connections_per_user = 2")
    except imaplib.IMAP4.error as error:
        assert "[LIMIT]" in str(error), error
    first.logout()
    deadline = time.monotonic() + 5
    while True:  # the first session's slot is freed once its connection has closed
        try:
            third.login("alice@example.test", PASSWORD)
            break
        except imaplib.IMAP4.error as error:
            assert "[LIMIT]" in str(error) and time.monotonic() < deadline, error
            time.sleep(0.1)
    assert third.select("INBOX")[0] == "OK"
    second.logout()
    third.logout()
