"""The suite never writes the user's own files: the tool's default state and log dirs resolve
under the test's temporary home (``tests/fixtures/home.py``), for the real CLI too."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

from aksaudit_tui.cli.logfile import log_file_path
from aksaudit_tui.engine.journal import default_state_dir
from engine_helpers import aksaudit_cmd, cli_env


def _real_home() -> Path:
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def test_default_dirs_are_the_tests_own(isolated_home: Path, isolated_state: Path) -> None:
    assert Path(os.environ["HOME"]) == isolated_home != _real_home()
    assert default_state_dir() == isolated_state / "aksaudit"
    assert log_file_path() == isolated_state / "aksaudit" / "log" / "aksaudit.log"
    assert "AKSAUDIT_STATE_DIR" not in os.environ and "AKSAUDIT_LOG_FILE" not in os.environ


def test_the_cli_logs_under_the_tests_state_dir(emulator: Any, isolated_state: Path) -> None:
    """The real `aksaudit` with no AKSAUDIT_LOG_FILE nor AKSAUDIT_STATE_DIR: the Azure SDK's
    request lines land in the default log file, which is the test's, not the user's."""
    env = cli_env(emulator, isolated_state / "unused")
    del env["AKSAUDIT_STATE_DIR"]
    proc = subprocess.run(
        [*aksaudit_cmd(), "discover", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    log = isolated_state / "aksaudit" / "log" / "aksaudit.log"
    assert "azure" in log.read_text(encoding="utf-8")
    assert _real_home() not in log.parents
