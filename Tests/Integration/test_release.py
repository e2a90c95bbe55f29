"""The release package (scripts/release): a tarball whose `tern` runs on a machine without
Swift. scripts/test builds it and names it in TERN_RELEASE_TARBALL; these tests unpack it, check
what it holds and what the binary still needs from the system, and run the catcher from it in
an environment with nothing of the toolchain on any path."""
from __future__ import annotations

import hashlib
import json
import os
import re
import smtplib
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from ternlib import CI, TernServer, message, need_tool

# What the binary may still take from the system: glibc's parts, the C++ runtime, zlib and
# SQLite. Anything else (above all libswift*, libFoundation*, libdispatch) means the package
# needs a toolchain.
SYSTEM_LIBRARIES = {
    "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libutil.so.1",
    "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1", "libsqlite3.so.0",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
}
CLEAN_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "", "LANG": "C"}


@pytest.fixture(scope="module")
def tarball() -> Path:
    named = os.environ.get("TERN_RELEASE_TARBALL")
    if not named:
        message_ = "TERN_RELEASE_TARBALL is not set (scripts/test builds the package with scripts/release)"
        if CI:
            pytest.fail(message_)
        pytest.skip(message_)
    path = Path(named)
    assert path.is_file(), f"{path} is missing"
    return path


@pytest.fixture(scope="module")
def unpacked(tarball: Path, tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("release")
    with tarfile.open(tarball) as archive:
        archive.extractall(where, filter="data")
    (top,) = list(where.iterdir())
    return top


def test_tarball_is_named_checksummed_and_complete(tarball: Path):
    """tern-<version>-linux-<arch>.tar.gz beside its .sha256 (sha256sum's format), one top
    directory of that name holding the binary, the README, the example configuration and the
    systemd unit, every entry owned by root."""
    match = re.fullmatch(r"tern-(\d+\.\d+\.\d+)-linux-(x86_64|aarch64)\.tar\.gz", tarball.name)
    assert match, tarball.name
    checksum = Path(f"{tarball}.sha256").read_text()
    assert checksum == f"{hashlib.sha256(tarball.read_bytes()).hexdigest()}  {tarball.name}\n"
    check = subprocess.run(["sha256sum", "-c", f"{tarball.name}.sha256"], cwd=tarball.parent,
                           capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.strip() == f"{tarball.name}: OK", check
    top = tarball.name.removesuffix(".tar.gz")
    with tarfile.open(tarball) as archive:
        members = archive.getmembers()
    assert sorted(m.name for m in members) == [top] + [
        f"{top}/{name}" for name in ("README.md", "tern", "tern.example.toml", "tern.service")]
    assert all(m.uid == 0 and m.gid == 0 for m in members)
    binary = next(m for m in members if m.name == f"{top}/tern")
    assert binary.mode & 0o111, "tern is not executable"


def test_binary_needs_no_swift_and_is_stripped(unpacked: Path):
    """readelf's NEEDED entries are system libraries only, ldd finds every one of them with an
    empty library path, and the symbol table is gone."""
    binary = unpacked / "tern"
    readelf = need_tool("readelf")
    dynamic = subprocess.run([readelf, "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic))
    assert needed and needed <= SYSTEM_LIBRARIES, f"needs more than the system: {needed - SYSTEM_LIBRARIES}"
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=CLEAN_ENVIRONMENT)
    assert ldd.returncode == 0 and "not found" not in ldd.stdout, ldd.stdout
    assert "swift" not in ldd.stdout.lower(), ldd.stdout
    sections = subprocess.run([readelf, "-S", str(binary)], capture_output=True, text=True, check=True).stdout
    assert ".symtab" not in sections, "the binary was not stripped"


def test_packed_catcher_runs_without_a_toolchain(unpacked: Path, tmp_path: Path):
    """`tern --version` names the package's version; `tern dev` from the package, with only
    /usr/bin:/bin on PATH and an empty LD_LIBRARY_PATH, catches a message smtplib sends and
    lists it in its JSON API, then stops cleanly on SIGTERM."""
    binary = unpacked / "tern"
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, env=CLEAN_ENVIRONMENT,
                             timeout=30)
    assert version.returncode == 0, version.stderr
    assert unpacked.name == f"tern-{version.stdout.strip()}-linux-{unpacked.name.rsplit('-', 1)[1]}"
    checked = subprocess.run([str(binary), "check-config", "--config", str(unpacked / "tern.example.toml")],
                             capture_output=True, text=True, env=CLEAN_ENVIRONMENT, cwd=tmp_path, timeout=30)
    assert checked.returncode == 0, (checked.stdout, checked.stderr)

    argv = ["dev", "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--imap", "off", "--pop3", "off",
            "--data", str(tmp_path / "data"), "--config", str(write_quiet_dns(tmp_path))]
    server = TernServer(argv, tmp_path, tmp_path / "data", binary=binary, environment=dict(CLEAN_ENVIRONMENT))
    server.start()
    try:
        with smtplib.SMTP(server.host, server.port, timeout=30) as client:
            client.sendmail("app@example.test", ["someone@example.test"], message("from the package"))
        deadline = time.monotonic() + 15
        while True:  # the index takes the message in a moment after the 250
            with urllib.request.urlopen(f"{server.http_url}/api/v1/messages", timeout=30) as response:
                subjects = [m["Subject"] for m in json.load(response)["messages"]]
            if subjects or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert subjects == ["from the package"]
    finally:
        assert server.stop() == 0, server.logs()


def test_systemd_unit_verifies(unpacked: Path, tmp_path: Path):
    """systemd-analyze accepts the unit once ExecStart points at a binary that is there."""
    analyze = need_tool("systemd-analyze")
    unit = (unpacked / "tern.service").read_text()
    assert "ExecStart=/usr/local/bin/tern serve --config /etc/tern/tern.toml" in unit
    local = tmp_path / "tern.service"
    local.write_text(unit.replace("/usr/local/bin/tern", str(unpacked / "tern")))
    verify = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (verify.stdout + verify.stderr).splitlines() if "tern.service" in line]
    assert verify.returncode == 0 and not problems, verify.stdout + verify.stderr


def write_quiet_dns(directory: Path) -> Path:
    """A configuration whose DNS goes to a closed loopback port: nothing leaves the machine."""
    path = directory / "tern.toml"
    path.write_text('[dns]\nservers = ["127.0.0.1:9"]\ntimeout = "200ms"\nattempts = 1\n')
    return path


def test_dockerfile_copies_the_package():
    """The Dockerfile (not built here: no container engine) unpacks the tarball it is given
    and runs the binary from it; its base image has what the binary needs from the system."""
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert re.search(r"^FROM debian:\S+-slim$", dockerfile, re.M)
    assert "ADD ${TARBALL} /opt/" in dockerfile
    assert "libsqlite3-0" in dockerfile and "ca-certificates" in dockerfile
    assert re.search(r'^ENTRYPOINT \["tern"\]$', dockerfile, re.M)
