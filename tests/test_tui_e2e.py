"""The wizard end to end: the real engine against the emulator, driven with keys (Pilot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events
from textual.widgets import DataTable, Static

from tui_helpers import (
    app_for,
    confirm_run,
    engine_for,
    next_screen,
    screen_is,
    settle,
    walk_to_review,
)

SIZE = (120, 40)


def managed_pods(emu: Any, cluster: str) -> list[dict[str, Any]]:
    store = emu.state.kube.get(cluster)
    if store is None:
        return []
    return [
        p
        for p in store.list("pods")
        if (p.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/managed-by")
        == "aksaudit"
    ]


async def test_default_path_to_green_verify_then_status(emulator: Any, tmp_path: Path) -> None:
    app = app_for(engine_for(emulator, tmp_path / "state"))
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_review(pilot, app, "aks-dev-neu")
        plan = app.get_screen("review").plan  # type: ignore[attr-defined]
        assert plan.log_path == "container-insights" and plan.delivery == "keeper"
        changes = app.job("review").result
        assert any(c.status == "will change" for c in changes)
        # nothing has changed before the confirm: no pods, no keeper yet
        assert managed_pods(emulator, "aks-dev-neu") == []
        await confirm_run(pilot, app)
        await settle(pilot, app)
        model = app.run_model
        assert model.outcome == "ok", (model.outcome, model.message, app.job("run").error)
        run = app.get_screen("run")
        table = run.query_one("#nodes", DataTable)
        assert table.row_count == len(model.nodes) >= 3
        assert all(n.phase in ("compliant", "skipped") for n in model.nodes.values())
        await next_screen(pilot, app, "verify")
        await settle(pilot, app)
        verify = app.get_screen("verify")
        banner = verify.query_one("#verify-banner", Static)
        assert banner.has_class("-ok"), str(banner.content)
        arrivals = verify.query_one("#arrivals", DataTable)
        assert arrivals.row_count >= 3
        # status is one key away from anywhere
        await pilot.press("f2")
        await settle(pilot, app)
        await screen_is(pilot, app, "status")
        status = app.get_screen("status")
        assert app.job("status").error is None, app.job("status").error
        fleet = status.query_one("#fleet-table", DataTable)
        bars = {str(k.value).rsplit("/", 1)[-1]: str(fleet.get_cell(k, "bar")) for k in fleet.rows}
        assert "100%" in bars["aks-dev-neu"], bars  # coverage bar of the applied one
        assert "not enabled" in bars["aks-prod-weu"], bars  # the fleet: every cluster
        await pilot.press("escape")
        await screen_is(pilot, app, "verify")


async def test_legacy_path_to_green_verify(emulator: Any, tmp_path: Path) -> None:
    app = app_for(engine_for(emulator, tmp_path / "state"))
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_review(pilot, app, "aks-dev-neu", workspace="law-dev-neu", path_index=1)
        assert app.state.log_path == "legacy-oms"
        await confirm_run(pilot, app)
        await settle(pilot, app)
        assert app.run_model.outcome == "ok", (app.run_model.message, app.job("run").error)
        assert any("OmsAgentForLinux" in w or "legacy" in w for w in app.run_model.warnings)
        await next_screen(pilot, app, "verify")
        await settle(pilot, app)
        banner = app.get_screen("verify").query_one("#verify-banner", Static)
        assert banner.has_class("-ok"), str(banner.content)


async def test_cancel_mid_run_leaves_no_pods_then_resume(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(None)
    stuck = next(
        n.name for n in emu.state.clusters["aks-dev-neu"].nodes.values() if n.pool == "azl"
    )
    fault = {"kind": "pod-pending", "cluster": "aks-dev-neu", "node": stuck}
    app = app_for(engine_for(emu, tmp_path / "state"))
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_review(pilot, app, "aks-dev-neu", one_shot=True)
        # from here on the pod on one node never starts (the review probe would wait on it too)
        with emu.state.lock:
            emu.state.faults.append(fault)
        await confirm_run(pilot, app)
        # wait (on state, not time) until the run has pods on the nodes, the stuck one included
        for _ in range(600):
            app.flush_events()
            names = [p["spec"].get("nodeName") for p in managed_pods(emu, "aks-dev-neu")]
            if stuck in names:
                break
            await pilot.pause(0.05)
        else:
            raise AssertionError(f"no pod for {stuck}: {app.run_model.nodes}")
        assert app.run_model.running
        await pilot.press("ctrl+x")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot, app)
        assert app.run_model.outcome == "cancelled", app.run_model.message
        assert [p["metadata"]["name"] for p in managed_pods(emu, "aks-dev-neu")] == []
        run_id = app.run_model.run_id
        # the node comes back; resume the interrupted run from the start screen
        with emu.state.lock:
            emu.state.faults.remove(fault)
        await pilot.press("escape")
        await settle(pilot, app)
        await screen_is(pilot, app, "start")
        runs = app.job("runs").result
        assert any(r.run_id == run_id and r.state != "ok" for r in runs)
        await pilot.press("r")
        await pilot.pause()
        await screen_is(pilot, app, "run")
        await settle(pilot, app)
        assert app.run_model.outcome == "ok", (app.run_model.message, app.job("run").error)
        assert app.run_model.run_id == run_id
        assert app.run_model.nodes[f"aks-dev-neu/{stuck}"].phase == "compliant"
        assert managed_pods(emu, "aks-dev-neu") == []  # one-shot: nothing stays


async def test_custom_rules_validated_live_with_line_numbers(emulator: Any, tmp_path: Path) -> None:
    from aksaudit_tui.tui.screens.rules import VALIDATE_DELAY_S

    app = app_for(engine_for(emulator, tmp_path / "state"), start="discover")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        from tui_helpers import pick_cluster

        await pick_cluster(pilot, app, "aks-dev-neu")
        await next_screen(pilot, app, "logpath")
        await next_screen(pilot, app, "rules")
        rules = app.get_screen("rules")
        await pilot.press("f4")
        area = rules.query_one("#custom-rules")
        assert area.has_focus
        # type the first line, paste the second (as a user pasting from a rules file would)
        await pilot.press(*"-w /etc/hosts -p wa -k hosts", "enter")
        app.post_message(events.Paste("-a always,exit -F arch=b64 -S nosuchcall -k x"))
        await pilot.pause()
        await pilot.pause(VALIDATE_DELAY_S + 0.2)  # the debounce timer, then validation
        errors = str(rules.query_one("#custom-errors", Static).content)
        assert errors.startswith("line 2:"), errors
        assert "nosuchcall" in errors, area.text
        # Next is refused with the reason shown in the screen
        await pilot.press("ctrl+n")
        await pilot.pause()
        await screen_is(pilot, app, "rules")
        message = str(rules.query_one("#nav-message", Static).content)
        assert "line 2" in message, message
        # fix the line: the error goes away and Next works
        await pilot.press("ctrl+a", "ctrl+k")  # TextArea: line start, delete to end
        app.post_message(events.Paste("-w /etc/passwd -p wa -k ident"))
        await pilot.pause()
        await pilot.pause(VALIDATE_DELAY_S + 0.2)
        assert rules.custom_errors == []  # type: ignore[attr-defined]
        assert "custom rules are valid" in str(rules.query_one("#custom-errors", Static).content)
        preview = str(rules.query_one("#preview", Static).content)
        assert "-w /etc/passwd -p wa -k ident" in preview
        await next_screen(pilot, app, "facility")
        assert "-w /etc/hosts" in app.state.custom_rules
