"""End to end against the emulator, real SDK and kubernetes clients: every log path x every
delivery mode applies, verifies for every Linux node, shows 100% coverage, and a second apply
changes nothing. Then the seed's failure modes are named by verify."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.engine.events import Event, NodeUpdate, StepFinished, StepLog
from aksaudit_tui.engine.plan import PlanRequest
from engine_helpers import (
    TARGETS,
    dev_ama_oneshot,
    drop_dcr_facility,
    engine_for,
    linux_nodes,
    node_root,
    oneshot_pods,
    scenario,
)


@pytest.mark.parametrize("delivery", ["keeper", "one-shot"])
@pytest.mark.parametrize("log_path", ["container-insights", "legacy-oms", "ama"])
async def test_apply_verify_status_then_nothing_to_change(
    make_emulator: Any, tmp_path: Path, log_path: str, delivery: str
) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    if delivery == "keeper":  # the second apply leaves the keeper alone: its verify waits
        eng.keeper_interval_s = 4  # for the keeper's next heartbeat
    cluster, workspace = TARGETS[log_path]
    plan = await eng.plan_from_names(
        PlanRequest(clusters=[cluster], workspace=workspace, log_path=log_path, delivery=delivery)
    )
    events: list[Event] = []
    result = await eng.apply(plan, events.append)
    assert result.outcome == "ok", result.message
    assert result.summary["verified"] is True
    steps = result.summary["clusters"][cluster]["steps"]
    assert steps == {"access": "already", "log-path": "done", "delivery": "done", "verify": "done"}
    compliant = {e.node for e in events if isinstance(e, NodeUpdate) and e.phase == "compliant"}
    assert compliant == set(linux_nodes(emu, cluster))
    verified = result.summary["verify"]["nodes"]
    assert {n["node"] for n in verified if n["arrived"]} == set(linux_nodes(emu, cluster))
    assert oneshot_pods(emu, cluster) == []

    report = await eng.status(cluster)  # read-only: the cluster's record, keeper, workspace
    (cov,) = report.clusters
    assert cov.coverage == 1.0, [(n.node, n.state, n.reason) for n in cov.nodes]
    assert cov.enabled and cov.delivery == delivery and cov.log_path == log_path
    linux = [n for n in cov.nodes if n.skipped_reason is None]
    assert {n.node for n in linux} == set(linux_nodes(emu, cluster))
    assert {n.state for n in linux} == {"covered"}
    assert all(n.last_seen for n in linux)
    # the explicit live probe: check pods report every node's audit state
    probe = await eng.status(cluster, probe_nodes=True)
    (cov,) = probe.clusters
    assert cov.coverage == 1.0
    for n in [n for n in cov.nodes if n.skipped_reason is None]:
        assert n.auditd_running and n.rules_match and n.log_path_ok, n
        assert n.plugin_facility == "authpriv" and n.last_seen and n.audit_version
    assert oneshot_pods(emu, cluster) == []

    # a second apply finds everything in place and changes nothing
    events.clear()
    again = await eng.apply(plan, events.append)
    assert again.outcome == "ok"
    assert again.summary["clusters"][cluster]["steps"] == {
        "access": "already",
        "log-path": "already",
        "delivery": "already",
        "verify": "done",
    }
    finished = [e for e in events if isinstance(e, StepFinished) and e.step != "verify"]
    assert {e.outcome for e in finished} == {"already"}
    assert not any(k.endswith("delivery_pods") for k in again.summary["timings"])


async def test_whole_default_scenario_in_one_plan(make_emulator: Any, tmp_path: Path) -> None:
    """Three clusters in two subscriptions at once (one with node RG lockdown, one Windows pool,
    the MSCI rule lacking authpriv), each sending to its default workspace (two workspaces:
    verify looks for each node in its own); measures where the time goes."""
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    names = ["aks-prod-weu", "aks-payments-weu", "aks-dev-neu"]
    plan = await eng.plan_from_names(PlanRequest(clusters=names))
    sends = {c.name: plan.workspace_for(c).name for c in plan.clusters}
    assert sends == {
        "aks-prod-weu": "law-prod-weu",
        "aks-payments-weu": "law-prod-weu",
        "aks-dev-neu": "law-dev-neu",
    }
    result = await eng.apply(plan, lambda e: None)
    assert result.outcome == "ok", result.message
    assert result.summary["verified"] is True
    arrived = {n["node"] for n in result.summary["verify"]["nodes"] if n["arrived"]}
    assert arrived == {n for name in names for n in linux_nodes(emu, name)}
    timings = result.summary["timings"]
    print("default scenario apply (keeper, container-insights):", timings)
    for name in names:
        print(name, result.summary["clusters"][name]["seconds"])
    report = await eng.status()
    assert {c.name: c.coverage for c in report.clusters} == dict.fromkeys(names, 1.0)
    assert {c.name: c.workspace for c in report.clusters} == sends  # each cluster's record


async def test_verify_names_the_dcr_lacking_the_facility(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    plan = await eng.plan_from_names(
        PlanRequest(clusters=["aks-prod-weu"], workspace="law-prod-weu", delivery="one-shot")
    )
    assert (await eng.apply(plan)).outcome == "ok"
    # someone puts the MSCI rule back to a facility list without authpriv (through ARM)
    await drop_dcr_facility(emu, "authpriv")
    await asyncio.sleep(1.5)
    report = await eng.verify(plan, since=timedelta(seconds=1), deadline_s=1.0)
    assert not report.ok
    assert {n.node for n in report.missing} == set(linux_nodes(emu, "aks-prod-weu"))
    for n in report.missing:
        assert "data collection rule" in n.reason and "authpriv" in n.reason, n.reason
    assert oneshot_pods(emu, "aks-prod-weu") == []


async def test_verify_names_the_node_whose_auditd_stopped(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu, eng, plan = await dev_ama_oneshot(make_emulator, tmp_path / "state")
    before = await eng.review(plan)
    assert {(c.step, c.status) for c in before} >= {
        ("access", "already done"),
        ("log-path", "will change"),
        ("delivery", "will change"),
    }
    assert oneshot_pods(emu, "aks-dev-neu") == []  # the review started no pod
    assert (await eng.apply(plan)).outcome == "ok"
    after = await eng.review(plan, probe_nodes=True)  # one-shot: check pods say "compliant"
    assert {c.status for c in after if c.step in ("log-path", "delivery")} == {"already done"}
    victim = linux_nodes(emu, "aks-dev-neu")[0]
    state = node_root(emu, "aks-dev-neu", victim) / "var/lib/aksaudit-sim/services/auditd"
    state.write_text("inactive\n")
    await asyncio.sleep(1.5)
    report = await eng.verify(None, since=timedelta(seconds=1), deadline_s=1.0, probe_nodes=True)
    assert [n.node for n in report.missing] == [victim]
    assert report.missing[0].reason == "auditd not running"
    assert report.to_json()["ok"] is False
    assert all(n.arrived for n in report.nodes if n.node != victim)


async def test_a_keeper_left_alone_is_verified_by_a_heartbeat_since_the_run(
    make_emulator: Any, tmp_path: Path
) -> None:
    """A second apply with nothing to change leaves the keeper alone, and a quiet node (the
    default presets see no container activity) sends nothing but its heartbeat. The keeper's
    next one is up to an interval away, so verify has a check pod per node touch it now (it
    used to wait an interval more on top of the ingestion allowance), and still counts only
    heartbeats since the run started."""
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    eng.keeper_interval_s = 10
    cluster, workspace = TARGETS["container-insights"]
    plan = await eng.plan_from_names(
        PlanRequest(clusters=[cluster], workspace=workspace, delivery="keeper")
    )
    assert (await eng.apply(plan)).outcome == "ok"
    eng.verify_deadline_s = 2  # the emulator ingests in a fraction of a second: no slack left
    started = datetime.now(UTC)
    seen: list[Any] = []
    again = await eng.apply(plan, seen.append)
    assert again.summary["clusters"][cluster]["steps"]["delivery"] == "already"
    # the user is told why verify checks the nodes (the keeper's next check is further away)
    told = [e.line for e in seen if isinstance(e, StepLog) and e.step == "verify"]
    assert any("next check is up to 10 s away" in line for line in told), told
    assert again.summary["verified"] is True, again.summary["verify"]
    customer_id = plan.workspace_for(plan.clusters[0]).customer_id.lower()
    with emu.state.lock:
        rows = [r.columns for r in emu.state.syslog.get(customer_id, [])]
    beats = {
        r["Computer"]
        for r in rows
        if 'key="aksaudit-heartbeat"' in r["SyslogMessage"] and r["TimeGenerated"] >= started
    }
    assert beats == set(linux_nodes(emu, cluster))
