"""An OmsAgentForLinux that reports to another workspace is not re-pointed unless the plan says
``repoint_agent: true`` (default: refused, one line naming the choice, nothing changed); when
chosen, the review says so, apply re-points it, and ``remove --log-path`` restores the settings
it had and the other workspace's key, fetched again (the journal never holds a key). Real SDK
against the emulator; aks-dev-neu's system pool reports to law-dev-neu in the default scenario."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui import redaction
from aksaudit_tui.engine import plan_io
from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.nodes.record import parse_record
from engine_helpers import engine_for, run, scenario
from fixtures.emulator import make_emulator  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.timeout(300)


def _oms(emu: Any) -> tuple[str, dict[str, Any]]:
    """(id, properties) of the OmsAgentForLinux extension on aks-dev-neu's system pool."""
    for rid, body in emu.state.arm.items():
        if rid.endswith("/extensions/omsagentforlinux") and "nodepool1" in rid:
            return rid, body["properties"]
    raise AssertionError("no OmsAgentForLinux in the scenario")


def _customer_id(emu: Any, name: str) -> str:
    for rid, body in emu.state.arm.items():
        if rid.endswith(f"/workspaces/{name}"):
            return str(body["properties"]["customerId"])
    raise AssertionError(name)


def test_an_agent_of_another_workspace_is_repointed_only_by_choice_and_restored(
    make_emulator: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    ext_id, before = _oms(emu)
    dev, prod = _customer_id(emu, "law-dev-neu"), _customer_id(emu, "law-prod-weu")
    assert before["settings"]["workspaceId"] == dev
    dev_key = emu.state.secrets[ext_id]["protectedSettings"]["workspaceKey"]
    request = PlanRequest(
        clusters=["aks-dev-neu"], workspace="law-prod-weu", log_path="legacy-oms",
        delivery="one-shot",
    )  # fmt: skip
    plan = run(eng.plan_from_names(request))
    assert not plan.repoint_agent and "repoint_agent" not in plan_io.dumps(plan)

    # default: refused, one line naming the choice, nothing changed
    events: list[Any] = []
    result = run(eng.apply(plan, events.append))
    assert result.outcome != "ok"
    said = [str(getattr(e, "message", "") or "") for e in events] + [result.message]
    reason = [m for m in said if "repoint_agent: true" in m]
    assert reason and f"reports to workspace {dev}" in reason[0], said
    assert "\n" not in reason[0]
    assert _oms(emu)[1]["settings"]["workspaceId"] == dev

    # chosen in the plan file: the review says what happens, apply re-points it
    text = plan_io.dumps(plan) + "repoint_agent: true\n"
    (tmp_path / "plan.yaml").write_text(text)
    chosen = plan_io.load(tmp_path / "plan.yaml")
    assert chosen.repoint_agent
    changes = [c.description for c in run(eng.review(chosen))]
    assert any(
        "re-point OmsAgentForLinux on" in c
        and f"from workspace {dev} to {prod}" in c
        and "repoint_agent: true" in c
        for c in changes
    ), changes
    result = run(eng.apply(chosen))
    assert result.outcome == "ok", result
    assert _oms(emu)[1]["settings"]["workspaceId"] == prod
    journals = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    assert dev_key not in journals and "vmss-ext-restore" in journals
    # the cluster's record does not keep the agent's previous (someone else's) settings: it
    # names the restore by ids, and a remove from the record says it cannot do it
    store = emu.state.kube["aks-dev-neu"]
    rec = parse_record(store.get("configmaps", "kube-system", "aksaudit-applied"))
    assert rec is not None and not any("restore" in t for t in rec.log_path_undo)
    (held,) = rec.undo_withheld
    assert held.startswith("vmss-ext-restore|/subscriptions/") and held.endswith(
        "|OmsAgentForLinux"
    )
    assert '"workspaceId"' not in json.dumps(rec.to_json())
    scan = run(eng.recorded_clusters("aks-dev-neu"))
    removal = eng.removal_from_record(scan.clusters[0])
    rows = run(eng.review_remove(removal.plan, include_log_path=True, undo=removal.undo))
    warned = [r.warning or "" for r in rows if r.step == "log-path"]
    assert warned and all("its previous settings are only in the journal" in w for w in warned)

    # remove restores what was there: its settings and its own workspace's key
    removed = run(eng.remove(chosen, include_log_path=True))
    assert removed.outcome == "ok", removed
    ext_id, after = _oms(emu)
    assert after["settings"] == before["settings"]
    assert emu.state.secrets[ext_id]["protectedSettings"]["workspaceKey"] == dev_key
    journals = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    assert dev_key not in journals
    assert json.dumps(after).count(dev_key) == 0  # public settings carry no key
    # both keys of the workspace remove fetched are scrubbed from here on, as apply's are
    dev_id = next(k for k in emu.state.shared_keys if k.endswith("/workspaces/law-dev-neu"))
    for slot in ("primarySharedKey", "secondarySharedKey"):
        key = emu.state.shared_keys[dev_id][slot]
        assert redaction.scrub(f"key {key}") == "key <redacted>", slot
