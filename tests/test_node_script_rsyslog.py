"""rsyslog on the node, as the node script sees it: reported in the status line, never changed.

Every log path's agent takes syslog from rsyslog (Container Insights' node watcher drops a
forwarding file into /etc/rsyslog.d and restarts it); Ubuntu and Azure Linux run it, Flatcar /
Azure Container Linux do not. A node without it is configured and compliant yet sends nothing,
so the script says so and status/verify name it (test_rsyslog_truth.py).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aksaudit_emulator.nodestate import read_node_audit_state
from aksaudit_tui.nodes.script import render_node_script
from aksaudit_tui.nodes.status import parse_node_status
from fixtures.noderoot import NodeRoot

MakeRoot = Callable[..., NodeRoot]
SCRIPT = render_node_script("-w /etc/passwd -p wa -k identity\n", "authpriv", "info")


def _rsyslog_changes(node: NodeRoot) -> list[str]:
    """Stand-in calls that would change rsyslog (the script may only ask about it)."""
    return [
        c
        for c in node.calls()
        if "rsyslog" in c.split() and not c.startswith("systemctl is-active")
    ]


@pytest.mark.parametrize("sku", ["Ubuntu2204", "Ubuntu2404", "AzureLinux3", "Ubuntu1804"])
def test_images_run_rsyslog_and_the_status_line_says_so(node_root: MakeRoot, sku: str) -> None:
    node = node_root(sku)
    assert read_node_audit_state(node.path).rsyslog_running
    run = node.run(SCRIPT, "apply")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.status["rsyslog"] == "active"
    status = parse_node_status(run.stdout)
    assert status is not None and status.rsyslog == "active"
    assert "aksaudit: rsyslog" not in run.stdout  # nothing to say about it
    assert _rsyslog_changes(node) == []


def test_a_node_without_rsyslog_is_configured_and_reported_missing(node_root: MakeRoot) -> None:
    node = node_root("Ubuntu2204", rsyslog=False)
    assert not (node.path / "usr/sbin/rsyslogd").exists()
    run = node.run(SCRIPT, "apply")
    assert run.returncode == 0 and run.status["ok"] is True, run.stdout
    assert run.status["rsyslog"] == "missing"
    assert "rsyslog is not installed" in run.stdout
    assert "Container Insights cannot forward it" in run.stdout
    state = read_node_audit_state(node.path)
    assert state.ships_to_syslog and not state.rsyslog_running  # audit is fine; rsyslog is not
    check = node.run(SCRIPT, "check")
    assert check.returncode == 0 and check.status["compliant"] is True  # not ours to fix
    assert check.status["rsyslog"] == "missing"
    assert _rsyslog_changes(node) == []  # never installed or started by the script


@pytest.mark.parametrize("sku", ["Ubuntu2404", "AzureLinux3"])
def test_a_stopped_rsyslog_is_reported_inactive(node_root: MakeRoot, sku: str) -> None:
    node = node_root(sku)
    node.systemctl("stop", "rsyslog")
    assert not read_node_audit_state(node.path).rsyslog_running
    node.clear_calls()
    run = node.run(SCRIPT, "apply")
    assert "systemctl is-active --quiet rsyslog" in node.calls()
    assert run.returncode == 0 and run.status["rsyslog"] == "inactive"
    assert "rsyslog is not running" in run.stdout
    assert _rsyslog_changes(node) == []
    node.systemctl("start", "rsyslog")
    assert node.run(SCRIPT, "check").status["rsyslog"] == "active"


def test_flatcar_has_no_rsyslog_and_is_skipped(node_root: MakeRoot) -> None:
    node = node_root("Flatcar")
    assert not read_node_audit_state(node.path).rsyslog_running
    run = node.run(SCRIPT, "apply")
    assert run.returncode == 0 and run.status["supported"] is False
    assert "rsyslog" in str(run.status["skip_reason"])
    assert run.status["rsyslog"] is None  # skipped before anything is asked


def test_images_that_lack_rsyslog_cannot_be_built_with_it(node_root: MakeRoot) -> None:
    with pytest.raises(ValueError, match="Flatcar has no rsyslog"):
        node_root("Flatcar", rsyslog=True)
