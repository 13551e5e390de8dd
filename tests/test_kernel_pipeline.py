"""The node script's configuration driving the real auditd on this machine's kernel.

Root only, serial (``-m kernel``); skips with a printed reason elsewhere. The kernel's audit
state is restored afterwards (see ``kernel_pipeline.kernel_audit_guard``).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kernel_pipeline import (
    DEV_LOG,
    HEARTBEAT_KEY,
    HEARTBEATS,
    PRESET_KEY,
    PipelineCapture,
    kernel_audit_guard,
    kernel_skip_reason,
    run_kernel_pipeline,
)

pytestmark = pytest.mark.kernel

AUTHPRIV = 10
INFO = 6


def test_audit_lines_reach_syslog_as_authpriv(kernel_pipeline: PipelineCapture) -> None:
    cap = kernel_pipeline
    assert cap.node_status["plugin_active"] is True
    audit = [line for line in cap.lines if line.event_id]
    assert audit, f"no audit lines reached the syslog socket; got {cap.lines[:5]}"
    for line in audit:
        assert line.facility == AUTHPRIV, line.raw
        assert line.severity == INFO, line.raw
        assert line.tag in ("audispd", "audisp-syslog"), line.raw
    text = "\n".join(line.raw for line in audit)
    assert text.count('key="aks_exec"') >= cap.execs
    assert (
        text.count('comm="true" exe="/usr/bin/true" key="aks_exec"')
        + text.count('comm="true" exe="/bin/true" key="aks_exec"')
        == cap.execs
    )
    assert 'key="aks_watch"' in text
    assert f'key="{PRESET_KEY}"' in text  # a shipped preset's rule, through the whole path
    # One program start is several lines (SYSCALL, EXECVE, CWD, PATH..., PROCTITLE) sharing
    # the msg=audit(<ts>:<serial>) id.
    metrics = cap.metrics
    print(
        f"\nmeasured: {metrics['bytes_per_line']:.0f} bytes per audit line (SyslogMessage), "
        f"{metrics['datagram_bytes_per_line']:.0f} bytes per datagram, "
        f"{metrics['lines_per_execve']:.2f} syslog lines per execve "
        f"over {metrics['execve_events']:.0f} execve events"
    )
    assert metrics["execve_events"] == cap.execs
    assert 3 <= metrics["lines_per_execve"] <= 10
    assert 100 <= metrics["bytes_per_line"] <= 2000


def test_kernel_state_restored_after_pipeline(kernel_pipeline: PipelineCapture) -> None:
    """After the session fixture ran, none of its rules remain and auditd is gone."""
    listed = subprocess.run(["auditctl", "-l"], capture_output=True, text=True, check=True).stdout
    assert "aks_exec" not in listed and "aks_watch" not in listed
    status = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout
    assert "pid 0" in status
    assert "enabled 2" not in status


def test_pipeline_with_dev_log_owned_by_a_syslog_daemon(auditd_deb: Path, tmp_path: Path) -> None:
    """Where /dev/log belongs to a syslog daemon, auditd runs in a private mount namespace with
    the test's socket bind-mounted over /dev/log; the host's /dev/log is left as it was."""
    reason = kernel_skip_reason()
    if reason is not None:
        print(f"\nkernel test skipped: {reason}")
        pytest.skip(reason)
    existed = DEV_LOG.exists()
    with kernel_audit_guard():
        cap = run_kernel_pipeline(tmp_path, auditd_deb, execs=1, private_devlog=True)
    assert cap.metrics["execve_events"] == 1
    assert all(line.facility == AUTHPRIV for line in cap.lines if line.event_id)
    assert DEV_LOG.exists() == existed


def test_guard_restores_rules_and_enabled_flag_on_failure() -> None:
    reason = kernel_skip_reason()
    if reason is not None:
        print(f"\nkernel test skipped: {reason}")
        pytest.skip(reason)
    before = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout
    enabled_before = [ln for ln in before.splitlines() if ln.startswith("enabled")]
    with pytest.raises(RuntimeError), kernel_audit_guard():
        subprocess.run(["auditctl", "-e", "1"], check=True, capture_output=True)
        subprocess.run(
            ["auditctl", "-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-k", "aks_guard"],
            check=True,
            capture_output=True,
        )
        raise RuntimeError("simulated failure mid-test")
    after = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout
    assert [ln for ln in after.splitlines() if ln.startswith("enabled")] == enabled_before
    listed = subprocess.run(["auditctl", "-l"], capture_output=True, text=True, check=True).stdout
    assert "aks_guard" not in listed


def test_real_lines_pass_the_arrival_check_in_the_emulator(
    kernel_pipeline: PipelineCapture,
    emulator: Any,
) -> None:
    """The captured lines, as the node's rsyslog forwards them, fed to an emulated node whose
    cluster collects authpriv through Container Insights: the arrival check sees every one."""
    from aksaudit_tui.cloud.clients import AsyncClients
    from aksaudit_tui.cloud.discovery import discover_all
    from aksaudit_tui.cloud.logpaths import get_log_path
    from aksaudit_tui.cloud.logs import syslog_arrival
    from fixtures.cloud import credential_for, settings_for

    settings = settings_for(emulator)
    inv = asyncio.run(discover_all(settings, credential=credential_for(emulator)))
    prod = next(c for c in inv.clusters if c.name == "aks-prod-weu")
    law = next(w for w in inv.workspaces if w.name == "law-prod-weu")
    node = next(s for s in prod.scale_sets if s.pool == "apps").instances[0].computer_name

    async def enable_and_check(expect: int) -> int:
        async with AsyncClients(settings, credential_for(emulator)) as clients:
            await get_log_path("container-insights", clients).apply(prod, law, "authpriv", "info")
            deadline = time.monotonic() + 15
            while True:
                got = await syslog_arrival(
                    settings, law.customer_id, [node], "authpriv", timedelta(minutes=15),
                    clients=clients,
                )  # fmt: skip
                if got[node].records >= expect or time.monotonic() > deadline:
                    return int(got[node].records)
                await asyncio.sleep(0.2)

    lines = kernel_pipeline.forwarded(node)
    assert lines and all(f" {node} audispd: type=" in line for line in lines)
    emulator.state.feed_syslog(node, lines)
    assert asyncio.run(enable_and_check(0)) == 0  # the rule did not collect authpriv yet
    emulator.state.feed_syslog(node, lines)
    assert asyncio.run(enable_and_check(len(lines))) == len(lines)
    rows = [r.columns for r in emulator.state.syslog_rows(law.customer_id)]
    mine = [r for r in rows if r["Computer"] == node]
    assert [r["SyslogMessage"] for r in mine] == [ln.message for ln in kernel_pipeline.audit_lines]
    assert {(r["Facility"], r["SeverityLevel"], r["ProcessName"]) for r in mine} == {
        ("authpriv", "info", "audispd")
    }


def test_heartbeat_touch_reaches_syslog_with_its_key(kernel_pipeline: PipelineCapture) -> None:
    """The base preset's heartbeat watch, loaded from the rules file the node script wrote: each
    touch of /var/lib/aksaudit/heartbeat is one keyed audit event through audisp-syslog, and its
    size is the constant the volume estimate uses."""
    from aksaudit_tui.presets.volume import LINES_PER_HEARTBEAT

    beats = [
        ln
        for ln in kernel_pipeline.audit_lines
        if f'key="{HEARTBEAT_KEY}"' in ln.raw and "type=SYSCALL" in ln.raw
    ]
    assert beats, "no heartbeat record reached the syslog socket"
    assert all(ln.facility == AUTHPRIV and ln.severity == INFO for ln in beats)
    assert all(ln.tag in ("audispd", "audisp-syslog") for ln in beats)
    assert all('comm="touch"' in ln.raw for ln in beats)
    # the record names the file (PATH record of the same event)
    ids = {ln.event_id for ln in beats}
    paths = [
        ln for ln in kernel_pipeline.audit_lines if ln.event_id in ids and "type=PATH" in ln.raw
    ]
    assert any('name="/var/lib/aksaudit/heartbeat"' in ln.raw or 'name="heartbeat"' in ln.raw
               for ln in paths), [ln.raw for ln in paths][:4]  # fmt: skip
    metrics = kernel_pipeline.metrics
    print(
        f"\nheartbeat: {metrics['heartbeat_events']:.0f} events, "
        f"{metrics['lines_per_heartbeat']:.1f} lines and {metrics['bytes_per_heartbeat']:.0f} "
        "bytes per touch of the existing file"
    )
    assert metrics["heartbeat_events"] >= HEARTBEATS  # at least one keyed event per touch
    assert 2 <= metrics["lines_per_heartbeat"] <= LINES_PER_HEARTBEAT
