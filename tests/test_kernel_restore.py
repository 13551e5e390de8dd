"""Issue 10 point 4 on the real kernel: the node script's apply records the kernel's `-b`, `-f`
and `--backlog_wait_time` as `auditctl -s` prints them, and remove puts them back with auditctl.

Root only, serial (``-m kernel``, under ``kernel_audit_guard``). The node is a simulated root
with the stand-ins, except that `auditctl -s`, `-b`, `-f` and `--backlog_wait_time` go to this
machine's real auditctl (a marked stand-in forwards them): so the parsing of the real status
output and the restore commands are what is tested, on the real kernel.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from aksaudit_emulator.noderoot import standins_dir
from aksaudit_tui.nodes.script import render_node_script
from fixtures.noderoot import NodeRoot
from kernel_pipeline import kernel_audit_guard, kernel_skip_reason

pytestmark = pytest.mark.kernel

RULES = "-b 8192\n--backlog_wait_time 60000\n-f 1\n-w /etc/passwd -p wa -k aksaudit-kt\n"
WANT = ("backlog_limit", "failure", "backlog_wait_time")


def _real(*args: str) -> str:
    return subprocess.run(
        ["auditctl", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def _real_settings() -> dict[str, str]:
    pairs = (ln.split() for ln in _real("-s").splitlines())
    return {p[0]: p[1] for p in pairs if len(p) >= 2 and p[0] in WANT}


def test_remove_puts_back_the_real_kernels_settings(
    node_root: Callable[..., NodeRoot], tmp_path: Path
) -> None:
    reason = kernel_skip_reason()
    if reason is not None:
        print(f"\nkernel test skipped: {reason}")
        pytest.skip(reason)
    real = shutil.which("auditctl") or "/sbin/auditctl"
    forwarded = "-s | -b | -f | --backlog_wait_time"
    wrap = tmp_path / "real-kernel"
    wrap.mkdir()
    (wrap / "auditctl").write_text(
        "#!/bin/sh\n# aksaudit-standin\n"
        f'case "$1" in {forwarded}) exec "{real}" "$@" ;; esac\n'
        f'exec "{standins_dir() / "auditctl"}" "$@"\n'
    )
    (wrap / "auditctl").chmod(0o755)
    script = render_node_script(RULES, "authpriv")
    with kernel_audit_guard():
        for args in (("-b", "320"), ("-f", "0"), ("--backlog_wait_time", "12345")):
            _real(*args)  # the node's own settings before our first apply
        before = _real_settings()
        assert before == {"backlog_limit": "320", "failure": "0", "backlog_wait_time": "12345"}
        node = node_root("Ubuntu2404", auditd_installed=True)
        node.env["PATH"] = f"{wrap}:{node.env['PATH']}"
        applied = node.run(script, "apply")
        assert applied.returncode == 0, applied.stdout
        saved = (node.path / "var/lib/aksaudit/backup/kernel-settings").read_text()
        assert saved == "backlog_limit 320\nfailure 0\nbacklog_wait_time 12345\n"
        # What auditd's start does with our rules file's control lines, on the real kernel.
        for args in (("-b", "8192"), ("--backlog_wait_time", "60000"), ("-f", "1")):
            _real(*args)
        assert _real_settings() != before
        removed = node.run(script, "remove")
        assert removed.returncode == 0, removed.stdout
        assert "kernel" in removed.status["changed"]  # type: ignore[operator]
        assert _real_settings() == before
        assert not (node.path / "var/lib/aksaudit").exists()
