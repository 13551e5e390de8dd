"""The engine's delivery step hands ``nodes.delivery`` a per-pod deadline only: a whole-run
deadline equal to one pod's would cut a many-node rollout short."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from aksaudit_tui.engine.steps import delivery as step
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import Probe
from aksaudit_tui.nodes import delivery as nodes_delivery
from aksaudit_tui.nodes import older_keepers


def _ctx(delivery: str) -> Any:
    node = SimpleNamespace(name="aks-np-1", pool="np", eligible=True)
    return SimpleNamespace(
        plan=SimpleNamespace(
            namespace="aksaudit-system",
            image="img:1",
            delivery=delivery,
            concurrency=2,
            to_dict=lambda: {"delivery": delivery},  # the spec carries the plan's hash
        ),
        shared=SimpleNamespace(
            todo=[node], delete_keeper=False, delivery_stats=None, nodes=[node], node_status={}
        ),
        pod_deadline_s=30,
        keeper_interval_s=300,
        run_id="run-1",
        script_text="#!/bin/sh\n",
        rules_text="",
        cancel=None,
        check_cancel=lambda: None,
        node_update=lambda *a: None,
        log=lambda *a, **k: None,
    )


@pytest.mark.parametrize("delivery", ["one-shot", "keeper"])
async def test_rollout_gets_no_whole_run_deadline(
    monkeypatch: pytest.MonkeyPatch, delivery: str
) -> None:
    seen: dict[str, Any] = {}

    async def fake_rollout(kube: Any, spec: Any, nodes: Any, *args: Any, **kw: Any) -> list[Any]:
        seen.update(kw, spec=spec, nodes=list(nodes))
        return []

    async def fake_kube(ctx: Any) -> Any:
        return object()

    async def no_record(ctx: Any) -> None:  # the record is tested against the emulator
        seen["recorded"] = True

    monkeypatch.setattr(nodes_delivery, "rollout", fake_rollout)
    monkeypatch.setattr(kubeops, "kube", fake_kube)

    async def no_older_keepers(kube: Any, keep: str) -> older_keepers.OlderKeepers:
        return older_keepers.OlderKeepers()  # tested against the emulator (test_older_keepers)

    monkeypatch.setattr(step, "write_record", no_record)
    monkeypatch.setattr(older_keepers, "find", no_older_keepers)
    await step.DeliveryStep().apply(_ctx(delivery), Probe(changes=[]))
    assert seen["recorded"] is True
    assert seen["deadline_s"] is None
    assert seen["spec"].pod_deadline_s == 30 and seen["spec"].mode == delivery
    assert len(seen["spec"].plan_sha) == 64
