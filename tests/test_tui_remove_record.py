"""The wizard's Remove screen offers clusters whose own record says they are enabled (from any
machine), beside this machine's runs: picked, reviewed, confirmed and removed on the run screen
with the record's plan and log-path undo. Pilot presses the keys; the emulator test runs the
real engine from an empty state dir against the demo's cluster enabled by a colleague."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from aksaudit_tui.cli.emulated import enable_elsewhere
from aksaudit_tui.nodes.record import RECORD_CONFIGMAP as RECORD
from aksaudit_tui.nodes.record import parse_record
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.widgets.choices import CheckList
from engine_helpers import dcr_bodies, linux_nodes, node_root, oneshot_pods
from tui_fakes import CLUSTERS, FAKE_RULE, FakeEngine
from tui_helpers import app_for, confirm_run, engine_for, remove_review_rows, screen_is, settle

SIZE = (120, 40)
PAYMENTS, COLLEAGUE = "aks-payments-weu", "maria.garcia@contoso.com"


async def _pick_recorded(pilot: Pilot[Any], a: AksauditApp, cluster: str) -> str:
    """Start screen -> x -> the recorded cluster highlighted with arrows; returns its label."""
    await pilot.press("x")
    await pilot.pause()
    await screen_is(pilot, a, "remove")
    await settle(pilot, a)  # the clusters' records are read (job "recorded")
    await settle(pilot, a)
    runs = a.screen.query_one("#remove-runs", OptionList)
    await pilot.press("home")
    for _ in range(runs.option_count):
        opt = runs.get_option_at_index(runs.highlighted or 0)
        if str(opt.id).startswith("record:") and str(opt.prompt).startswith(f"{cluster}:"):
            return str(opt.prompt)
        await pilot.press("down")
    raise AssertionError(
        [str(runs.get_option_at_index(i).prompt) for i in range(runs.option_count)]
    )


async def test_a_recorded_cluster_is_offered_reviewed_and_removed_with_its_records_undo() -> None:
    engine = FakeEngine(recorded=True)  # no run in this machine's journal at all
    a = app_for(engine)
    async with a.run_test(size=SIZE) as pilot:
        await settle(pilot, a)
        name = CLUSTERS[-1].name
        label = await _pick_recorded(pilot, a, name)
        assert f"enabled by {COLLEAGUE} at 2026-11-25T09:30:00+00:00 (from the cluster)" in label
        clusters = a.screen.query_one("#remove-clusters", CheckList)
        assert list(clusters.selected) == [name]
        await pilot.press("tab", "tab", "space")  # also undo the log path
        await remove_review_rows(pilot, a)
        assert a.removal is not None and "(from the cluster)" in a.removal.source
        summary = str(a.screen.query_one("#remove-summary").render())
        assert f"enabled by {COLLEAGUE}" in summary
        await confirm_run(pilot, a)
        await settle(pilot, a)
    ((plan, log_path),) = engine.removed
    assert [c.name for c in plan.clusters] == [name] and log_path
    (undo,) = engine.removed_undo
    assert undo[name].tokens == (f"dcr-flow|{FAKE_RULE}",)


async def test_nothing_to_remove_says_so_in_one_line() -> None:
    a = app_for(FakeEngine(runs=[]))  # no run here, and no cluster holds a record
    async with a.run_test(size=SIZE) as pilot:
        await settle(pilot, a)
        await pilot.press("x")
        await pilot.pause()
        await settle(pilot, a)
        await settle(pilot, a)
        said = str(a.screen.query_one("#nav-message", Static).content)
        assert said == (
            "No applied run in this machine's journal, and no cluster holds an aksaudit record "
            "to remove."
        )
        assert a.screen.query_one("#remove-runs", OptionList).option_count == 0
        await pilot.press("ctrl+n")
        await pilot.pause()
        await screen_is(pilot, a, "remove")  # Next refuses: nothing to pick


async def test_the_demo_colleagues_cluster_is_removed_from_an_empty_state_dir(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(None)
    before = {b["name"]: b["properties"] for b in dcr_bodies(emu)}
    (line,) = await enable_elsewhere(emu)  # as `aksaudit demo` does: a colleague's apply
    assert COLLEAGUE in line
    nodes = linux_nodes(emu, PAYMENTS)
    assert all((node_root(emu, PAYMENTS, n) / "var/lib/aksaudit").exists() for n in nodes)
    rec = parse_record(emu.state.kube[PAYMENTS].get("configmaps", "aksaudit-system", RECORD))
    assert rec is not None and rec.applied_by == COLLEAGUE
    # the colleague's apply created the cluster's rule, its association and the add-on
    assert {t.split("|", 1)[0] for t in rec.log_path_undo} == {"dcr", "dcra", "addon"}
    rule = f"MSCI-westeurope-{PAYMENTS}"
    assert rule not in before and rule in {b["name"] for b in dcr_bodies(emu)}
    engine = engine_for(emu, tmp_path / "B")  # this machine: an empty state dir
    a = app_for(engine)
    async with a.run_test(size=SIZE) as pilot:
        await settle(pilot, a)
        label = await _pick_recorded(pilot, a, PAYMENTS)
        assert f"enabled by {COLLEAGUE}" in label and "(from the cluster)" in label
        await pilot.press("tab", "tab", "space")  # also undo the log path
        rows = await remove_review_rows(pilot, a)
        assert any(r[1] == "delivery" and "(remove) on" in r[3] for r in rows), rows
        assert any(r[1] == "log-path" and r[3].startswith("undo: ") for r in rows), rows
        # the review changed nothing
        assert all((node_root(emu, PAYMENTS, n) / "var/lib/aksaudit").exists() for n in nodes)
        await confirm_run(pilot, a)
        await settle(pilot, a)
        assert a.run_model.outcome == "ok", (a.run_model.message, a.job("run").error)
        assert {a.run_model.nodes[f"{PAYMENTS}/{n}"].phase for n in nodes} == {"removed"}
    for n in nodes:
        assert not (node_root(emu, PAYMENTS, n) / "var/lib/aksaudit").exists(), n
    store = emu.state.kube[PAYMENTS]
    ours = [
        o["metadata"]["name"]
        for kind in ("daemonsets", "configmaps", "namespaces", "pods")
        for o in store.list(kind)
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "aksaudit"
    ]
    assert ours == [] and oneshot_pods(emu, PAYMENTS) == []
    # the log path is back as it was before the colleague's apply: their rule is gone
    after = {b["name"]: b["properties"] for b in dcr_bodies(emu)}
    changed = [k for k in before if before[k].get("dataSources") != after[k].get("dataSources")]
    assert changed == [] and set(after) == set(before), changed
    # this machine's journal holds the remove run only
    (run,) = (tmp_path / "B" / "runs").glob("*.json")
    assert '"kind": "remove"' in run.read_text()


class CountingEngine(FakeEngine):
    """Counts the fleet reads behind the Remove screen and notes the thread each ran on."""

    def __init__(self) -> None:
        super().__init__(recorded=True)
        self.scans: list[int] = []

    async def recorded_clusters(
        self, cluster: str | None = None, *, subscription: str | None = None
    ) -> Any:
        self.scans.append(threading.get_ident())
        return await super().recorded_clusters(cluster, subscription=subscription)


async def test_the_clusters_records_are_read_once_off_the_ui_loop_and_again_on_ctrl_r() -> None:
    engine = CountingEngine()
    a = app_for(engine)
    async with a.run_test(size=SIZE) as pilot:
        await settle(pilot, a)
        await pilot.press("x")
        await screen_is(pilot, a, "remove")
        await settle(pilot, a)
        assert len(engine.scans) == 1
        assert engine.scans[0] != threading.get_ident()  # on the engine's loop, not the UI's
        assert a.screen.query_one("#remove-runs", OptionList).option_count >= 1
        for _ in range(3):  # shown again and again: no new fleet read
            await pilot.press("escape")
            await screen_is(pilot, a, "start")
            await pilot.press("x")
            await screen_is(pilot, a, "remove")
            await settle(pilot, a)
        assert len(engine.scans) == 1
        await pilot.press("ctrl+r")  # the user asks: read again
        await pilot.pause()
        await settle(pilot, a)
        assert len(engine.scans) == 2
