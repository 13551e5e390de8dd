"""Every shipped preset, rendered, loads into this machine's kernel with ``auditctl -R``.

Root only, serial (``-m kernel``); skips with a printed reason elsewhere (a failure on CI).
Runs under ``kernel_pipeline.kernel_audit_guard``, like the other kernel tests: the same file
lock, no audit daemon (one the tests left behind is stopped; another fails the test), the audit
status and rule list saved and restored in a ``finally``. Never loads ``-e 2``.

Like the node script, it drops watches (and ``-F path=``/``dir=`` rules) whose parent directory
does not exist here (``/etc/kubernetes``, ``/var/lib/kubelet`` ... exist only on AKS nodes):
the kernel refuses those, and the node script filters them per node the same way.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aksaudit_tui.presets import load_presets, render_rules
from kernel_pipeline import kernel_audit_guard, kernel_skip_reason

pytestmark = pytest.mark.kernel


def _auditctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["auditctl", *args], capture_output=True, text=True, check=check, timeout=60
    )


def _status() -> dict[str, str]:
    status: dict[str, str] = {}
    for line in _auditctl("-s").stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            status[parts[0]] = parts[1]
    return status


def _rules() -> list[str]:
    out = _auditctl("-l").stdout
    return [line for line in out.splitlines() if line.strip() and line.strip() != "No rules"]


@pytest.fixture
def kernel() -> Iterator[list[str]]:
    """Exclusive use of the kernel's audit rules; yields the rules found (restored after)."""
    reason = kernel_skip_reason()
    if reason:
        print(f"\nkernel preset test skipped: {reason}")
        pytest.skip(reason)
    with kernel_audit_guard():
        yield _rules()


def _loadable_here(text: str) -> tuple[str, list[str]]:
    """Drop the rules this machine's kernel refuses for a missing parent directory."""
    kept: list[str] = []
    dropped: list[str] = []
    for line in text.splitlines():
        paths = re.findall(r"(?:^-w |-F (?:path|dir)=)(/\S*)", line)
        if paths and not Path(paths[0].rstrip("/") or "/").parent.is_dir():
            dropped.append(paths[0])
            continue
        kept.append(line)
    return "\n".join(kept) + "\n", dropped


def _load(text: str, tmp_path: Path, name: str) -> list[str]:
    """Load a rules text with auditctl -R; return what the kernel lists."""
    rules_file = tmp_path / f"{name}.rules"
    rules_file.write_text(text)
    assert "\n-e 2" not in text and not text.startswith("-e 2")
    _auditctl("-D")
    proc = _auditctl("-R", str(rules_file), check=False)
    assert proc.returncode == 0, f"{name}: auditctl -R failed:\n{proc.stdout}{proc.stderr}"
    assert "error" not in proc.stderr.lower(), proc.stderr
    return _rules()


def test_every_preset_loads_into_the_kernel(kernel: list[str], tmp_path: Path) -> None:
    presets = load_presets()
    # Our own packaging: any x86_64-only or arm-only syscall must load on this kernel too.
    custom = (
        "-a always,exit -F arch=b64 -S newfstat,chmod -F auid>=1000 -F auid!=unset -k kt-arch\n"
        "-a always,exit -F arch=b32 -S accept,chmod -F auid>=1000 -F auid!=unset -k kt-arch\n"
    )
    cases = {name: render_rules([name]) for name in presets}
    cases["all-presets"] = render_rules(list(presets), custom, "kernel-test.rules")
    assert "-F arch=aarch64 -S newfstat" in cases["all-presets"]
    assert "-F arch=armv7l -S accept" in cases["all-presets"]
    for name, rendered in cases.items():
        text, dropped = _loadable_here(rendered)
        for path in dropped:
            assert not Path(path.rstrip("/")).parent.is_dir()
        expected = [line for line in text.splitlines() if line.startswith(("-a ", "-w "))]
        listed = _load(text, tmp_path, name)
        # one kernel rule per rule line: nothing silently merged or skipped
        assert len(listed) == len(expected), f"{name}: {len(listed)} listed, {len(expected)} lines"
        keys = set(re.findall(r"-k (\S+)", text))
        listed_keys = {k for line in listed for k in re.findall(r"(?:key=|-k )(\S+)", line)}
        assert keys == listed_keys, name
        status = _status()
        assert status["backlog_limit"] == "8192"
        assert status["backlog_wait_time"] == "60000"
        assert status["failure"] == "1"
        assert status["enabled"] != "2"
    # The x86_64-only rule is the native b64 rule on this kernel.
    listed = _load(_loadable_here(render_rules(["cis-scoped"]))[0], tmp_path, "cis-again")
    assert any(
        "arch=b64" in line and re.search(r"-S (\S+,)?chmod\b", line) and "cis-perm" in line
        for line in listed
    ), listed
    _auditctl("-D")
    assert _rules() == []


def test_kernel_left_as_found(kernel: list[str]) -> None:
    """Runs after the load test (file order): nothing of ours is left in the kernel."""
    assert not any("aksaudit-" in line or "kt-arch" in line for line in _rules())
    if not kernel:
        assert _rules() == []
