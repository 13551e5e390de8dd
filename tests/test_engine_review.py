"""Read-only probes are bounded: a node whose check pod never starts is reported "unknown: pod
did not start (reason)" by review, verify and status instead of holding them up, and its pod is
deleted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.engine.service import Engine
from engine_helpers import add_fault, engine_for, linux_nodes, oneshot_pods, scenario

CLUSTER = "aks-dev-neu"
# Far above the probe deadline the tests set (3 s): a run that waits for the apply deadline
# or for the pod itself fails on this bound.
BOUND_S = 40.0


async def _setup(make_emulator: Any, tmp_path: Path) -> tuple[Any, Engine, Any]:
    emu = make_emulator(scenario())
    # the apply deadline stays long: only the read-only probe deadline may end the wait
    eng = engine_for(emu, tmp_path / "s", node_deadline_s=600)
    eng.review_deadline_s = 3
    plan = await eng.plan_from_names(
        PlanRequest(
            clusters=[CLUSTER], workspace="law-dev-neu", log_path="ama", delivery="one-shot"
        )
    )
    return emu, eng, plan


def _stick_check_pods(emu: Any, ack: bool) -> str:
    stuck = linux_nodes(emu, CLUSTER)[0]
    add_fault(emu, {"kind": "pod-pending", "cluster": CLUSTER, "node": stuck,
                    "pod_prefix": "aksaudit-check", "ack": ack})  # fmt: skip
    return stuck


@pytest.mark.parametrize("ack", [True, False], ids=["kubelet-took-pod", "never-acked"])
async def test_review_reports_a_check_pod_that_never_starts(
    make_emulator: Any, tmp_path: Path, ack: bool
) -> None:
    emu, eng, plan = await _setup(make_emulator, tmp_path)
    stuck = _stick_check_pods(emu, ack)
    t0 = time.monotonic()
    changes = await asyncio.wait_for(eng.review(plan, probe_nodes=True), BOUND_S)
    assert time.monotonic() - t0 < BOUND_S
    warnings = [c.warning or "" for c in changes if c.step == "delivery"]
    assert any(f"{stuck}: unknown: pod did not start (" in w for w in warnings), changes
    # the other nodes were checked for real: no "unknown" for them
    assert not any(f"{n}: unknown" in w for w in warnings for n in linux_nodes(emu, CLUSTER)[1:])
    # the stuck node is still planned for apply
    todo = [c.description for c in changes if c.step == "delivery" and c.status == "will change"]
    assert any(stuck in d for d in todo), todo
    assert oneshot_pods(emu, CLUSTER) == []


async def test_verify_apply_and_status_with_a_check_pod_that_never_starts(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu, eng, plan = await _setup(make_emulator, tmp_path)
    eng.verify_after_apply = False
    stuck = _stick_check_pods(emu, ack=False)

    # nothing configured yet, nothing arrives: every node is probed for a reason
    ver = await asyncio.wait_for(eng.verify(plan, deadline_s=0.1, probe_nodes=True), BOUND_S)
    missing = {v.node: v.reason for v in ver.missing}
    assert missing[stuck].startswith("unknown: pod did not start ("), missing
    others = set(linux_nodes(emu, CLUSTER)) - {stuck}
    assert not any(missing[n].startswith("unknown") for n in others), missing
    assert oneshot_pods(emu, CLUSTER) == []

    # apply's own probe is bounded the same way; the apply pods are not held
    applied = await asyncio.wait_for(eng.apply(plan), BOUND_S)
    assert applied.outcome == "ok", applied.message
    assert oneshot_pods(emu, CLUSTER) == []

    report = await asyncio.wait_for(eng.status(CLUSTER, probe_nodes=True), BOUND_S)
    assert any(f"{stuck}: unknown: pod did not start (" in w for w in report.warnings), report
    row = next(r for r in report.clusters[0].nodes if r.node == stuck)
    assert row.auditd_running is None and row.rules_match is None  # not known, not "false"
    assert oneshot_pods(emu, CLUSTER) == []
