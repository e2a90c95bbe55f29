"""The catcher's web UI in a real headless browser (Debian's chromium with chromedriver, driven
by selenium from /usr/bin/python3, which the test command installs): a message sent during the
test appears without a reload, opening it shows its HTML part, the message's scripts run
nowhere, and its Authentication tab shows the checks. A screenshot is kept as an artifact."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ternlib import CI

SCRIPT = Path(__file__).resolve().parent / "browser" / "ui_check.py"
ARTIFACTS = Path(os.environ.get("TERN_ARTIFACTS", Path(__file__).resolve().parent / ".artifacts"))


def browser_available() -> bool:
    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        return False
    return subprocess.run(["/usr/bin/python3", "-c", "import selenium"], capture_output=True).returncode == 0


def test_list_updates_live_and_html_is_sandboxed(tern_factory, tmp_path):
    if not browser_available():
        message = "chromium, chromium-driver or python3-selenium missing (scripts/test installs them)"
        assert not CI, message
        import pytest
        pytest.skip(message)
    # DNS goes to a closed loopback port: the Authentication tab shows what a failing lookup gives.
    server = tern_factory.dev(config_extra='[dns]\nservers = ["127.0.0.1:9"]\ntimeout = "200ms"\nattempts = 1\n')
    screenshot = tmp_path / "web-ui.png"
    run = subprocess.run(["/usr/bin/python3", str(SCRIPT), server.http_url + "/", server.host, str(server.port),
                          str(screenshot)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["rows_before"] == 0
    assert report["appeared_after_s"] < 5, report
    assert report["unread_marked"], report
    assert report["subject_shown"] == "Welcome to the shop"
    assert report["frame_heading"] == "Welcome!" and "204861" in report["frame_text"]
    assert "allow-scripts" not in (report["frame_sandbox"] or "") and report["frame_sandbox"] is not None
    # The message's scripts did nothing: not in its frame, not in the page, not to the API.
    assert "PWNED" not in report["frame_text"], report
    assert not report["page_has_pwned"] and report["page_title"] != "pwned", report
    assert report["rows_after"] == 1, report
    assert screenshot.stat().st_size > 10_000
    # Unsigned, and DNS unreachable: no signature, SPF and DMARC a temporary error.
    assert report["auth_headings"] == ["DKIM", "SPF", "DMARC", "ARC", "Authentication-Results"], report
    assert report["auth_verdicts"] == ["temperror", "temperror", "none"], report
    assert report["auth_results"].startswith("Authentication-Results: mx.tern.test;") and "dkim=none" in report["auth_results"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / "web-ui.png")
