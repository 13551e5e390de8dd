"""The cluster's record of what was applied (ConfigMap ``aksaudit-applied``), written by apply
through the real kubernetes client into the emulated cluster, read back as status will."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aksaudit_tui import __version__
from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.engine.rules import prepare, rules_sha256
from aksaudit_tui.engine.steps.record import plan_hash
from aksaudit_tui.nodes.record import AppliedRecord, parse_record
from aksaudit_tui.nodes.script import script_sha256
from engine_helpers import engine_for, scenario


def _record_cm(emu: Any, cluster: str) -> list[dict[str, Any]]:
    store = emu.state.kube[cluster]
    return [cm for cm in store.list("configmaps") if cm["metadata"]["name"] == "aksaudit-applied"]


async def test_keeper_apply_records_what_was_applied_and_remove_deletes_it(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    plan = await eng.plan_from_names(
        PlanRequest(
            clusters=["aks-prod-weu"],
            workspace="law-prod-weu",
            presets=["identity-and-config", "kernel-and-privilege"],
        )
    )
    changes = await eng.review(plan)
    want = "record what was applied in ConfigMap aksaudit-system/aksaudit-applied"
    assert any(want in c.description for c in changes)
    result = await eng.apply(plan)
    assert result.outcome == "ok", result.message

    (cm,) = _record_cm(emu, "aks-prod-weu")
    assert cm["metadata"]["namespace"] == "aksaudit-system"
    assert cm["metadata"]["labels"]["aksaudit.io/role"] == "record"
    rec = parse_record(cm)
    assert isinstance(rec, AppliedRecord)
    rules_text, script = prepare(plan)
    assert rec.presets == ("identity-and-config", "kernel-and-privilege")
    assert rec.rules_sha256 == rules_sha256(rules_text)
    assert rec.script_sha256 == script_sha256(script)
    assert rec.plan_hash == plan_hash(plan)
    assert (rec.facility, rec.severity, rec.log_path) == ("authpriv", "info", "container-insights")
    assert rec.workspace_id == plan.workspace.customer_id and rec.workspace_name == "law-prod-weu"
    assert rec.delivery == "keeper" and rec.keeper_interval_s == eng.keeper_interval_s
    assert rec.tool_version == __version__ and rec.run_id == result.run_id
    assert rec.applied_at.endswith("+00:00") and rec.applied_by
    # nothing secret: the emulator's bearer token is nowhere in the record
    assert emu.info.token not in json.dumps(cm)

    # a second review: the record already says what this plan applies
    again = await eng.review(plan)
    assert not any("aksaudit-applied" in c.description for c in again)
    # the record is meant to stay: not a leftover for cleanup
    assert not [f for f in await eng.cleanup(dry_run=True) if f.name == "aksaudit-applied"]

    removed = await eng.remove(plan)
    assert removed.outcome == "ok", removed.message
    assert _record_cm(emu, "aks-prod-weu") == []


async def test_oneshot_record_stays_in_kube_system_while_our_namespace_goes(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    plan = await eng.plan_from_names(
        PlanRequest(
            clusters=["aks-dev-neu"],
            workspace="law-dev-neu",
            log_path="ama",
            delivery="one-shot",
        )
    )
    result = await eng.apply(plan)
    assert result.outcome == "ok", result.message
    (cm,) = _record_cm(emu, "aks-dev-neu")
    assert cm["metadata"]["namespace"] == "kube-system"
    rec = parse_record(cm)
    assert rec is not None and rec.delivery == "one-shot" and rec.log_path == "ama"
    # our namespace goes (it may still be terminating for a moment on a busy machine)
    store = emu.state.kube["aks-dev-neu"]
    for _ in range(100):
        if store.get("namespaces", "", "aksaudit-system") is None:
            break
        await asyncio.sleep(0.2)
    assert store.get("namespaces", "", "aksaudit-system") is None
