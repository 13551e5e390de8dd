"""Container Insights reaches a node's syslog through rsyslog and the forwarding file ama-logs'
node watcher drops (issue 13; ../shared/FACTS.md): ingestion through that path needs the file in
/etc/rsyslog.d and an rsyslog that (re)started after it was written. Through the real Logs
query client, as the product reads it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aksaudit_emulator import cisyslog, ingestion
from aksaudit_emulator.noderoot import CI_DROP_DIR, CI_FORWARD_NAME, CI_WATCHER_UNIT
from test_emulator_arm import WS_PROD
from test_emulator_arm_ingestion import (
    PLUGIN,
    assert_no_new_rows,
    cid,
    configure_node,
    node_of,
    systemctl,
    wait_rows,
)

USER_PLUGIN = PLUGIN.replace("LOG_AUTHPRIV", "LOG_USER")  # user: collected by the MSCI rule


def _wait_file(path: Path, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.is_file():
            return True
        time.sleep(0.05)
    return False


def test_ama_logs_drops_the_forwarding_file_and_rsyslog_carries_the_lines(emulator: Any) -> None:
    node = node_of(emulator, "aks-prod-weu", "apps", 0)
    ws = cid(emulator, WS_PROD)
    root = configure_node(emulator, node, plugin=USER_PLUGIN)
    forward = root / cisyslog.FORWARD_FILE
    assert _wait_file(forward)  # the add-on is on: ama-logs' watcher put it there
    assert 'target="127.0.0.1" port="28330" protocol="tcp"' in forward.read_text()
    assert (root / CI_DROP_DIR / CI_FORWARD_NAME).read_text() == forward.read_text()
    assert wait_rows(emulator, ws, node)
    assert ingestion.explain(emulator.state, node) == []


def test_nothing_arrives_without_the_forwarding_file(emulator: Any) -> None:
    """A node image without the watcher: ama-logs drops its file on the hostPath, nobody copies
    it into /etc/rsyslog.d, and nothing reaches the workspace (silently, as on a node)."""
    node = node_of(emulator, "aks-prod-weu", "apps", 1)
    ws = cid(emulator, WS_PROD)
    root = configure_node(emulator, node, plugin=USER_PLUGIN)
    (root / CI_WATCHER_UNIT).unlink()
    (root / cisyslog.FORWARD_FILE).unlink(missing_ok=True)
    assert_no_new_rows(emulator, ws, node)
    assert (root / CI_DROP_DIR / CI_FORWARD_NAME).is_file()  # ama-logs still drops it
    assert not (root / cisyslog.FORWARD_FILE).exists()
    why = ingestion.explain(emulator.state, node)
    assert any("70-rsyslog-forward-mdsd-ci.conf missing" in w for w in why), why


def test_the_forwarding_file_counts_once_rsyslog_restarted(emulator: Any) -> None:
    """rsyslog reads /etc/rsyslog.d when it starts: a forwarding file written after the start
    carries nothing until rsyslog restarts (which the watcher does; here a person copies it)."""
    node = node_of(emulator, "aks-prod-weu", "apps", 2)
    ws = cid(emulator, WS_PROD)
    root = configure_node(emulator, node, plugin=USER_PLUGIN)
    (root / CI_WATCHER_UNIT).unlink()
    forward = root / cisyslog.FORWARD_FILE
    forward.unlink(missing_ok=True)
    time.sleep(0.05)  # the copy is newer than rsyslog's start
    forward.write_text(cisyslog.forward_conf())
    assert_no_new_rows(emulator, ws, node)
    why = ingestion.explain(emulator.state, node)
    assert any("rsyslog has not been restarted" in w for w in why), why
    systemctl(root, "restart", "rsyslog")
    assert ingestion.explain(emulator.state, node) == []
    assert wait_rows(emulator, ws, node)


def test_a_cluster_without_the_add_on_gets_no_forwarding_file(emulator: Any) -> None:
    node = node_of(emulator, "aks-dev-neu", "nodepool1", 0)
    root = configure_node(emulator, node)
    time.sleep(0.5)  # several rounds
    assert not (root / CI_DROP_DIR / CI_FORWARD_NAME).exists()
    assert not (root / cisyslog.FORWARD_FILE).exists()
