"""A node without rsyslog through the real engine against the emulator (issue 13): the node is
configured and its keeper reports compliant, yet Container Insights gets nothing from it
(the node watcher forwards through rsyslog). Apply's verify, read-only verify and status must
name that link: "rsyslog missing: Container Insights cannot forward syslog from this node".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aksaudit_emulator.nodestate import read_node_audit_state
from aksaudit_tui.engine.coverage import ClusterCoverage
from aksaudit_tui.engine.plan import PlanRequest
from engine_helpers import engine_for, linux_nodes, node_root, scenario

PROD = "aks-prod-weu"
REASON = "rsyslog missing: Container Insights cannot forward syslog from this node"


def _without_rsyslog(data: dict[str, Any]) -> None:
    """aks-prod-weu's apps pool runs a custom image without rsyslog."""
    for sub in data["subscriptions"]:
        for rg in sub["resource_groups"]:
            for cl in rg.get("clusters", []):
                for pool in cl["pools"] if cl["name"] == PROD else []:
                    if pool["name"] == "apps":
                        pool["rsyslog"] = False


def _pool(emu: Any, node: str) -> str:
    return str(emu.state.clusters[PROD].nodes[node].pool)


async def test_node_without_rsyslog_is_silent_with_that_reason(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario(_without_rsyslog))
    linux = linux_nodes(emu, PROD)
    bare = [n for n in linux if _pool(emu, n) == "apps"]
    assert len(bare) == 3
    assert not any(read_node_audit_state(node_root(emu, PROD, n)).rsyslog_running for n in bare)

    eng = engine_for(emu, tmp_path / "state")
    eng.verify_deadline_s = 8
    plan = await eng.plan_from_names(PlanRequest(clusters=[PROD], workspace="law-prod-weu"))
    result = await eng.apply(plan)
    # the nodes themselves are configured: auditd ships to syslog on every one of them
    for n in linux:
        assert read_node_audit_state(node_root(emu, PROD, n)).ships_to_syslog, n
    verify = result.summary["verify"]
    assert result.summary["verified"] is False, verify
    arrived = {v["node"]: v for v in verify["nodes"]}
    assert {n for n, v in arrived.items() if v["arrived"]} == set(linux) - set(bare)
    for n in bare:
        assert arrived[n]["reason"] == REASON, arrived[n]

    # read-only verify: the keeper's own status line says it
    report = await eng.verify(plan, deadline_s=0.5)
    assert {v.node for v in report.missing} == set(bare), report.to_json()
    assert {v.reason for v in report.missing} == {REASON}, report.to_json()

    # status from the sources of truth, from a machine that did not apply
    me = engine_for(emu, tmp_path / "fresh")
    status = await me.status(cluster_name=PROD)
    prod: ClusterCoverage = next(c for c in status.clusters if c.name == PROD)
    rows = {n.node: n for n in prod.nodes if n.node in linux}
    for n in bare:
        assert (rows[n].state, rows[n].reason) == ("silent", REASON), rows[n]
        assert "rsyslog" in rows[n].fix
    assert {rows[n].state for n in linux if n not in bare} == {"covered"}, rows
