"""Faults: the run either succeeds or stops with a clear error, and resume completes it without
redoing finished work. Also cancel (no one-shot pod left, resume completes)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aksaudit_tui.engine.events import Event, NodeUpdate, StepFinished
from aksaudit_tui.engine.plan import PlanRequest
from engine_helpers import (
    add_fault,
    clear_faults,
    dev_ama_oneshot,
    engine_for,
    linux_nodes,
    oneshot_pods,
    scenario,
)

PROD_SUB = "9a9e4724-4de8-4e90-8d73-d2768294f7e8"
DEV_SUB = "5867eaf0-661f-4f11-8501-e53889351ad8"


async def test_throttling_and_server_errors_are_retried(make_emulator: Any, tmp_path: Path) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "s")
    plan = await eng.plan_from_names(
        PlanRequest(clusters=["aks-prod-weu"], workspace="law-prod-weu", delivery="one-shot")
    )
    add_fault(
        emu, {"kind": "throttle", "path": "dataCollectionRules", "count": 2, "retry_after": 0}
    )
    add_fault(emu, {"kind": "server_error", "path": "managedClusters", "status": 503, "count": 2})
    add_fault(emu, {"kind": "drop-watch", "cluster": "aks-prod-weu", "resource": "pods",
                    "after_events": 2, "times": 2})  # fmt: skip
    add_fault(emu, {"kind": "kube-down", "cluster": "aks-prod-weu", "seconds": 1,
                    "retry_after": 1})  # fmt: skip
    result = await eng.apply(plan)
    assert result.outcome == "ok", result.message
    assert result.summary["verified"] is True
    with emu.state.lock:
        spent = [f for f in emu.state.faults if f.get("kind") in ("throttle", "server_error")]
    assert all(int(f["count"]) == 0 for f in spent)  # the faults really fired


async def test_403_on_one_subscription_then_resume(make_emulator: Any, tmp_path: Path) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "s")
    plan = await eng.plan_from_names(
        PlanRequest(
            clusters=["aks-prod-weu", "aks-dev-neu"],
            workspace="law-prod-weu",
            delivery="one-shot",
        )
    )
    add_fault(emu, {"kind": "forbidden_subscription", "subscription": DEV_SUB})
    first = await eng.apply(plan)
    assert first.outcome == "partial" and first.exit_code == 3
    dev = first.summary["clusters"]["aks-dev-neu"]
    assert dev["steps"] == {"access": "failed"}
    assert "AuthorizationFailed" in dev["errors"]["access"] or "lack" in dev["errors"]["access"]
    assert first.summary["clusters"]["aks-prod-weu"]["steps"]["verify"] == "done"

    clear_faults(emu)
    events: list[Event] = []
    second = await eng.resume(first.run_id, events.append)
    assert second.outcome == "ok", second.message
    assert second.run_id == first.run_id
    prod = second.summary["clusters"]["aks-prod-weu"]["steps"]
    assert prod == {"access": "already", "log-path": "already", "delivery": "already",
                    "verify": "done"}  # fmt: skip
    # no node of the finished cluster was touched again
    assert not [e for e in events if isinstance(e, NodeUpdate) and e.cluster == "aks-prod-weu"
                and e.phase in ("scheduled", "running")]  # fmt: skip
    assert eng.journal.list_runs()[0].state == "ok"


async def test_failing_lro_stops_the_step_and_resume_finishes(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu, eng, plan = await dev_ama_oneshot(make_emulator, tmp_path / "s")
    add_fault(emu, {"kind": "lro_fail", "path": "extensions", "method": "PUT", "count": 1})
    first = await eng.apply(plan)
    assert first.outcome == "failed"
    steps = first.summary["clusters"]["aks-dev-neu"]["steps"]
    assert steps == {"access": "already", "log-path": "failed"}
    assert "\n" not in first.message and "log-path" in first.message
    clear_faults(emu)
    second = await eng.resume(None)
    assert second.outcome == "ok", second.message
    assert second.summary["clusters"]["aks-dev-neu"]["steps"]["log-path"] == "done"


async def test_node_not_ready_then_resume_configures_only_that_node(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu, eng, plan = await dev_ama_oneshot(make_emulator, tmp_path / "s")
    sick = linux_nodes(emu, "aks-dev-neu")[0]
    fault = add_fault(emu, {"kind": "node-not-ready", "cluster": "aks-dev-neu", "node": sick})
    await asyncio.sleep(1.0)  # the Node object follows the simulated node (sync interval)
    first = await eng.apply(plan)
    assert first.outcome == "failed"
    assert "NotReady" in first.message and sick in first.message
    with emu.state.lock:
        emu.state.faults.remove(fault)
    await asyncio.sleep(0.5)  # the node object follows the simulated node
    events: list[Event] = []
    second = await eng.resume(first.run_id, events.append)
    assert second.outcome == "ok", second.message
    applied = {e.node for e in events if isinstance(e, NodeUpdate) and e.phase == "scheduled"}
    # check pods run everywhere; apply pods only where needed: the summary counts apply pods
    assert second.summary["timings"]["aks-dev-neu.delivery_pods"] == 1.0, applied


async def test_pod_stuck_pending_fails_clearly_leaves_nothing(
    make_emulator: Any, tmp_path: Path
) -> None:
    # the deadline is for the stuck pod to run out, not for the healthy ones: at 4 s a busy
    # machine made healthy nodes miss it too; 15 s still ends the stuck pod's wait quickly
    emu, eng, plan = await dev_ama_oneshot(make_emulator, tmp_path / "s", node_deadline_s=15)
    nodes = linux_nodes(emu, "aks-dev-neu")
    stuck = nodes[1]
    add_fault(emu, {"kind": "pod-pending", "cluster": "aks-dev-neu", "node": stuck,
                    "pod_prefix": "aksaudit-apply"})  # fmt: skip
    events: list[Event] = []
    first = await eng.apply(plan, events.append)
    assert first.outcome == "failed"
    assert stuck in first.message, first.message
    assert "Pending" in first.message or "ContainerCreating" in first.message, first.message
    # only the stuck node failed: every other Linux node was configured
    phases = {(e.node, e.phase) for e in events if isinstance(e, NodeUpdate)}
    failed = {n for n, ph in phases if ph == "failed"}
    assert failed == {stuck}, phases
    assert {n for n, ph in phases if ph == "compliant"} == set(nodes) - {stuck}, phases
    assert oneshot_pods(emu, "aks-dev-neu") == []
    clear_faults(emu)
    second = await eng.resume(first.run_id)
    assert second.outcome == "ok", second.message
    assert second.summary["timings"]["aks-dev-neu.delivery_pods"] == 1.0
    assert oneshot_pods(emu, "aks-dev-neu") == []


async def test_cancel_stops_deletes_oneshot_pods_and_resume_completes(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu, eng, plan = await dev_ama_oneshot(make_emulator, tmp_path / "s")
    stuck = linux_nodes(emu, "aks-dev-neu")[0]
    add_fault(emu, {"kind": "pod-pending", "cluster": "aks-dev-neu", "node": stuck,
                    "pod_prefix": "aksaudit-apply"})  # fmt: skip
    cancel = asyncio.Event()
    events: list[Event] = []

    others = set(linux_nodes(emu, "aks-dev-neu")) - {stuck}

    def on_event(ev: Event) -> None:
        events.append(ev)
        # cancel while the stuck node's pod waits and the others are done (an interrupted
        # package install is the node script's business, not this test's)
        done = {e.node for e in events if isinstance(e, NodeUpdate) and e.phase == "compliant"}
        if others <= done and not cancel.is_set():
            asyncio.get_running_loop().call_later(0.3, cancel.set)

    result = await eng.apply(plan, on_event, cancel)
    assert result.outcome == "cancelled" and result.exit_code == 4
    interrupted = [e for e in events if isinstance(e, StepFinished) and e.outcome == "interrupted"]
    assert [e.step for e in interrupted] == ["delivery"]
    assert oneshot_pods(emu, "aks-dev-neu") == []
    rec = eng.journal.load(result.run_id)
    assert rec.doc["state"] == "cancelled"
    assert rec.doc["clusters"]["aks-dev-neu"]["steps"]["delivery"]["state"] == "interrupted"
    clear_faults(emu)
    done = await eng.resume(result.run_id)
    assert done.outcome == "ok", done.message
    assert oneshot_pods(emu, "aks-dev-neu") == []


async def test_one_unreadable_workspace_does_not_stop_verify_of_the_others(
    make_emulator: Any, tmp_path: Path
) -> None:
    """Two clusters on two workspaces; the Logs query on one fails (403): that cluster's nodes
    carry the workspace's error, the other cluster's nodes are still polled and verified."""
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "s")
    plan = await eng.plan_from_names(
        PlanRequest(clusters=["aks-prod-weu", "aks-dev-neu"], delivery="one-shot")
    )
    sends = {c.name: plan.workspace_for(c).name for c in plan.clusters}
    assert sends == {"aks-prod-weu": "law-prod-weu", "aks-dev-neu": "law-dev-neu"}
    add_fault(emu, {"kind": "query_error", "workspace": "law-dev-neu", "status": 403})
    events: list[Event] = []
    result = await eng.apply(plan, events.append)
    # the changes were made: a verify miss is exit 5, not a failed run
    assert result.outcome == "ok" and result.exit_code == 5, result.message
    assert result.summary["verified"] is False
    assert "law-dev-neu" in result.message and "\n" not in result.message, result.message
    steps = result.summary["clusters"]
    assert steps["aks-prod-weu"]["steps"]["verify"] == "done"
    assert steps["aks-dev-neu"]["steps"]["verify"] == "failed"
    dev_error = steps["aks-dev-neu"]["errors"]["verify"]
    assert "law-dev-neu" in dev_error and "read access" in dev_error, dev_error
    nodes = {n["node"]: n for n in result.summary["verify"]["nodes"]}
    prod, dev = linux_nodes(emu, "aks-prod-weu"), linux_nodes(emu, "aks-dev-neu")
    assert set(nodes) == set(prod) | set(dev)
    assert all(nodes[n]["arrived"] for n in prod), nodes
    for n in dev:
        assert not nodes[n]["arrived"]
        reason = nodes[n]["reason"]
        assert reason.startswith("arrival query on workspace law-dev-neu:"), reason
        assert "\n" not in reason and emu.info.token not in reason
    assert result.summary["verify"]["errors"] == [dev_error]
    finished = {e.cluster: e.outcome for e in events if isinstance(e, StepFinished)
                and e.step == "verify"}  # fmt: skip
    assert finished == {"aks-prod-weu": "done", "aks-dev-neu": "failed"}
    assert oneshot_pods(emu, "aks-prod-weu") == [] and oneshot_pods(emu, "aks-dev-neu") == []
