"""Which records prove a node, against the emulator with the real clients: on a keeper cluster
(verify without --probe-nodes, as the wizard runs it) only the heartbeat key within two keeper
intervals counts, not any audit record within --since; the rule that applied is named in the
verify step's log and the report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aksaudit_tui.cloud.logs import HEARTBEAT_KEY, as_datetime
from aksaudit_tui.engine.events import Event, StepLog
from aksaudit_tui.engine.plan import PlanRequest
from engine_helpers import engine_for, linux_nodes, scenario

CLUSTER = "aks-dev-neu"


def _heartbeats(emu: Any) -> list[datetime]:
    """When the workspace received each heartbeat line (TimeGenerated)."""
    with emu.state.lock:
        rows = [r.columns for rows in emu.state.syslog.values() for r in rows]
    return [
        as_datetime(r["TimeGenerated"]) or datetime.min.replace(tzinfo=UTC)
        for r in rows
        if HEARTBEAT_KEY in str(r.get("SyslogMessage"))
    ]


async def test_a_keeper_cluster_is_verified_on_a_recent_heartbeat_not_on_older_records(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "s")
    plan = await eng.plan_from_names(
        PlanRequest(clusters=[CLUSTER], workspace="law-dev-neu", log_path="ama", delivery="keeper")
    )
    applied = await eng.apply(plan)
    assert applied.outcome == "ok" and applied.summary["verified"] is True, applied.message
    nodes = set(linux_nodes(emu, CLUSTER))

    # the keeper checks every 300 s: its heartbeat from the apply is well within 2 intervals
    events: list[Event] = []
    fresh = await eng.verify(
        None, since=timedelta(minutes=30), deadline_s=10.0, on_event=events.append
    )
    assert fresh.ok, fresh.to_json()
    assert fresh.rule.startswith("heartbeat within 2 keeper intervals (600 s)"), fresh.rule
    logged = [e.line for e in events if isinstance(e, StepLog) and "verify rule:" in e.line]
    assert logged and "600 s" in logged[0], logged
    assert fresh.to_json()["rule"] == fresh.rule

    # A keeper that checks every second: the apply's heartbeat (and any other audit line the
    # nodes sent since, well inside --since) is older than 2 intervals by now, and no keeper
    # check touched it since (the deployed keeper still checks every 300 s): no proof.
    eng.keeper_interval_s = 1
    for _ in range(60):  # the apply's heartbeats (ingested in rounds) are all 3 s old or more
        if not [t for t in _heartbeats(emu) if t > datetime.now(UTC) - timedelta(seconds=3)]:
            break
        await asyncio.sleep(0.5)
    stale = await eng.verify(None, since=timedelta(minutes=30), deadline_s=1.5)
    assert "2 keeper intervals (2 s)" in stale.rule, stale.rule
    assert not stale.ok, (_heartbeats(emu), stale.to_json())
    assert {n.node for n in stale.missing} == nodes, stale.to_json()


async def test_a_second_apply_of_an_enabled_keeper_cluster_verifies_in_seconds(
    make_emulator: Any, tmp_path: Path
) -> None:
    """Nothing to change: the keeper runs nothing for this run and checks again only in 300 s.
    Verify counts only heartbeats since the run started, so it has a check pod per node touch
    the heartbeat at once instead of waiting up to the keeper interval for it."""
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "s")
    plan = await eng.plan_from_names(
        PlanRequest(clusters=[CLUSTER], workspace="law-dev-neu", log_path="ama", delivery="keeper")
    )
    assert (await eng.apply(plan)).outcome == "ok"
    eng.verify_deadline_s = 45  # the ingestion allowance; the keeper interval stays 300 s
    events: list[Event] = []
    again = await eng.apply(plan, events.append)
    assert again.outcome == "ok" and again.summary["verified"] is True, again.message
    steps = again.summary["clusters"][CLUSTER]["steps"]
    assert steps["delivery"] == "already", steps  # the keeper was left alone
    waited = again.summary["timings"]["verify_s"]
    assert waited < 45, waited  # seconds, not the keeper's 300
    rule = [e.line for e in events if isinstance(e, StepLog) and "verify rule:" in e.line]
    assert rule == ["verify rule: heartbeat since the run started"], rule
    report = again.summary["verify"]
    assert report["rule"] == "heartbeat since the run started"
    assert {n["node"] for n in report["nodes"] if n["arrived"]} == set(linux_nodes(emu, CLUSTER))
