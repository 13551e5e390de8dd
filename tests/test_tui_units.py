"""TUI pieces without the emulator: event batching at 500 nodes, keymap, CLI wiring, helpers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.widgets import DataTable

from aksaudit_tui.engine.events import (
    NodeUpdate,
    RunFinished,
    RunStarted,
    StepFinished,
    StepLog,
    StepStarted,
)
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.keymap import BINDING_IDS, load_keymap
from aksaudit_tui.tui.models.runmodel import LOG_LINES, RunModel
from tui_fakes import CLUSTERS, FIXED_NOW, SUB1, SUB2, WORKSPACE, FakeEngine, fixed_runs

RID = "run-1"


def node_events(n: int) -> list[Any]:
    evs: list[Any] = [RunStarted(RID, ("big",), ("delivery",))]
    evs.append(StepStarted(RID, "big", "delivery", "node delivery"))
    for i in range(n):
        node = f"aks-pool-00000000-vmss{i:06d}"
        evs.append(NodeUpdate(RID, "big", node, "pool", "Ubuntu2204", "scheduled"))
        evs.append(NodeUpdate(RID, "big", node, "pool", "Ubuntu2204", "running"))
        evs.append(StepLog(RID, "big", "delivery", f"{node}: applying", node=node))
        evs.append(NodeUpdate(RID, "big", node, "pool", "Ubuntu2204", "compliant", "3.0.7", "ok"))
    evs.append(StepFinished(RID, "big", "delivery", "done"))
    evs.append(RunFinished(RID, "ok"))
    return evs


def test_run_model_folds_events() -> None:
    model = RunModel()
    ch = model.apply(node_events(3))
    assert ch.started and ch.finished
    assert model.outcome == "ok"
    assert model.progress() == (3, 3)
    assert model.steps["big/delivery"].state == "done"
    node = model.nodes["big/aks-pool-00000000-vmss000001"]
    assert (node.phase, node.audit_version, node.result) == ("compliant", "3.0.7", "ok")
    # per-node log: the script's lines plus each phase change
    log = list(model.logs["node:big/aks-pool-00000000-vmss000001"])
    assert "aks-pool-00000000-vmss000001: applying" in log and "compliant: ok" in log
    assert model.summary_line().startswith("3/3 done · 3 compliant")


def test_run_model_caps_logs() -> None:
    model = RunModel()
    model.apply([StepLog(RID, "c", "s", f"line {i}") for i in range(LOG_LINES + 50)])
    assert len(model.logs["c/s"]) == LOG_LINES
    assert model.logs["c/s"][-1] == f"line {LOG_LINES + 49}"


class BigEngine(FakeEngine):
    """A 500-node run, all events at once, as a busy engine would deliver them."""

    async def apply(self, plan: Any, on_event: Any, cancel: Any) -> Any:
        from aksaudit_tui.engine.results import RunResult

        for ev in node_events(500):
            on_event(ev)
        return RunResult(RID, "ok")


async def test_500_nodes_are_rendered_in_batches() -> None:
    app = AksauditApp(BigEngine(), keymap={}, animations=False, clock=lambda: FIXED_NOW)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        calls: list[int] = []
        run = app.screen_named("run")
        original = run.data_changed  # type: ignore[attr-defined]

        def counting(topic: str, changes: Any) -> None:
            calls.append(len(changes.nodes) if changes is not None else -1)
            original(topic, changes)

        run.data_changed = counting  # type: ignore[attr-defined]
        app.state.selected = [app.state.clusters[0].id]
        app.start_apply(app.state.to_plan())
        await app.workers.wait_for_complete()
        app.flush_events()
        await pilot.pause()
        assert app.screen is run
        table = run.query_one("#nodes", DataTable)
        assert table.row_count == 500
        assert app.run_model.progress() == (500, 500)
        # 2,000+ events reached the screen as a handful of batches, not one call each
        assert 1 <= len(calls) <= 5, calls
        assert sum(c for c in calls if c > 0) == 500


async def test_keymap_remaps_binding_ids(tmp_path: Path) -> None:
    path = tmp_path / "keymap.yaml"
    path.write_text("wizard.next: ctrl+right\nnot.a.binding: x\napp.status: f9\n")
    keymap = load_keymap(path)
    assert keymap == {"wizard.next": "ctrl+right", "app.status": "f9"}
    assert set(keymap) <= set(BINDING_IDS)
    app = AksauditApp(
        FakeEngine(runs=fixed_runs()),  # type: ignore[arg-type]
        keymap=keymap,
        animations=False,
        clock=lambda: FIXED_NOW,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("ctrl+right")  # remapped Next: start -> discover
        await pilot.pause()
        assert app.screen is app.get_screen("discover")
        await pilot.press("f9")  # remapped Status
        await pilot.pause()
        assert app.screen is app.get_screen("status")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.get_screen("discover")


def test_bad_keymap_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "keymap.yaml"
    path.write_text("- not\n- a mapping\n")
    assert load_keymap(path) == {}
    assert load_keymap(tmp_path / "missing.yaml") == {}


def test_cli_wires_wizard_and_demo() -> None:
    from aksaudit_tui.cli import tui_cmd
    from aksaudit_tui.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["--no-mouse", "--arm-endpoint", "https://127.0.0.1:1"])
    assert args.func is tui_cmd.run_wizard and args.no_mouse
    demo = parser.parse_args(["demo"])
    assert demo.func is tui_cmd.run_demo and not demo.no_mouse


def test_equivalent_commands_never_hold_a_secret() -> None:
    from aksaudit_tui.engine.equivalents import equivalent_commands
    from aksaudit_tui.tui.models.state import WizardState
    from tui_fakes import CLUSTERS, WORKSPACE

    st = WizardState(clusters=list(CLUSTERS), workspaces=[WORKSPACE])
    st.selected = [c.id for c in CLUSTERS]
    st.pick_workspace(CLUSTERS[1].id, WORKSPACE.id)  # aks-[dev] has no default
    for path in ("container-insights", "legacy-oms", "ama"):
        st.log_path = path  # type: ignore[assignment]
        text = equivalent_commands(st.to_plan())
        assert "'aks-[dev]'" in text  # user data is shell-quoted
        if path == "legacy-oms":
            assert "$WORKSPACE_KEY" in text and "OmsAgentForLinux" in text
        assert "az aks get-credentials" in text


def fake_app(engine: Any | None = None, start: str = "start") -> AksauditApp:
    return AksauditApp(
        engine or FakeEngine(runs=fixed_runs()),
        keymap={},
        animations=False,
        clock=lambda: FIXED_NOW,
        start=start,
    )


async def settle(pilot: Any) -> None:
    await pilot.app.workers.wait_for_complete()
    pilot.app.flush_events()
    await pilot.pause()


async def test_review_exports_plan_yaml_and_status_exports(tmp_path: Path) -> None:
    import csv
    import json

    from aksaudit_tui.engine import plan_io

    app = fake_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.state.selected = [app.state.clusters[0].id]
        app.goto("review")
        await settle(pilot)
        target = tmp_path / "plan.yaml"
        await pilot.press("e")
        await pilot.pause()
        inp = app.screen.query_one("#prompt")
        inp.value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        plan = plan_io.load(target)
        assert [c.name for c in plan.clusters] == ["aks-prod"]
        assert plan.workspace_for(plan.clusters[0]).name == "law-security"
        assert plan.facility == "authpriv"
        await pilot.press("f2")
        await settle(pilot)
        for key, name in (("j", "status.json"), ("c", "status.csv")):
            await pilot.press(key)
            await pilot.pause()
            app.screen.query_one("#prompt").value = str(tmp_path / name)  # type: ignore[attr-defined]
            await pilot.press("enter")
            await pilot.pause()
        data = json.loads((tmp_path / "status.json").read_text())
        assert {c["name"] for c in data["clusters"]} == {"aks-prod", "aks-[dev]"}
        rows = list(csv.DictReader((tmp_path / "status.csv").open()))
        assert len(rows) == 6 and {r["state"] for r in rows} == {"covered", "drift", "skipped"}
        assert all(r["reason"] for r in rows)


class BrokenEngine(FakeEngine):
    async def discover(self, subscription: str | None = None) -> Any:
        from aksaudit_tui.errors import UserError

        raise UserError("ClientAuthenticationError: no credential; run az login")
        yield  # pragma: no cover


async def test_engine_errors_are_shown_in_the_screen() -> None:
    from textual.widgets import Static

    app = fake_app(BrokenEngine(runs=[]))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = str(app.screen.query_one("#subscriptions", Static).content)
        assert "discovery failed: ClientAuthenticationError" in text
        ident = str(app.screen.query_one("#identity", Static).content)
        assert ident.startswith("Not signed in to Azure. In another terminal run `az login`")
        await pilot.press("n")
        await settle(pilot)
        msg = str(app.screen.query_one("#nav-message", Static).content)
        assert msg.startswith("Discovery failed: ClientAuthenticationError")
        await pilot.press("ctrl+n")  # nothing picked: refused with the reason, no traceback
        await pilot.pause()
        assert app.screen is app.get_screen("discover")
        assert "Pick at least one cluster" in str(
            app.screen.query_one("#nav-message", Static).content
        )


async def test_delivery_sets_a_kube_context_per_cluster() -> None:
    app = fake_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.state.selected = [app.state.clusters[0].id]
        app.goto("delivery")
        await settle(pilot)
        from textual.widgets import Input

        from aksaudit_tui.tui.widgets.keyed import KeyedColumn

        column = app.screen.query_one("#context-inputs", KeyedColumn)
        ctx = column.group("aks-prod").query_one(Input)
        assert ctx.value == "aks-prod"
        ctx.focus()
        await pilot.press("ctrl+u", *"prod-admin")  # Input: clear, then type
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.screen is app.get_screen("review")
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.clusters[0].kube_context == "prod-admin"
        assert plan.clusters[0].context == "prod-admin"


async def test_rules_screen_picks_presets_and_palette_has_main_actions() -> None:
    from textual.widgets import SelectionList, Static

    app = fake_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.state.selected = [app.state.clusters[0].id]
        app.goto("rules")
        await settle(pilot)
        sel = app.screen.query_one("#presets", SelectionList)
        assert sel.has_focus and app.state.presets == ["identity-and-config"]
        names = [sel.get_option_at_index(i).value for i in range(sel.option_count)]
        high = next(i for i, n in enumerate(names) if n == "network")
        await pilot.press("home")
        for _ in range(high):
            await pilot.press("down")
        await pilot.press("space")
        await pilot.pause()
        assert set(app.state.presets) == {"identity-and-config", "network"}
        volume = str(app.screen.query_one("#volume", Static).content)
        assert "very high" in volume and "journald" in volume  # the high-volume warning
        preview = str(app.screen.query_one("#preview", Static).content)
        assert "network" in preview
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Status", "New enablement", "Verify", "Clean up leftover pods"):
            assert wanted in titles


async def test_quit_during_a_run_asks_first() -> None:
    from aksaudit_tui.tui.screens.modals import ConfirmScreen

    engine = FakeEngine(runs=fixed_runs(), hold_run=True)
    app = fake_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.state.selected = [app.state.clusters[0].id]
        app.start_apply(app.state.to_plan())
        await pilot.pause()
        app.flush_events()
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep running
        await pilot.pause()
        assert app.screen is app.get_screen("run") and app.job("run").running
        engine.release.set()
        await settle(pilot)
        assert app.run_model.outcome == "ok"
        await pilot.press("ctrl+q")  # nothing running: quits at once
        await pilot.pause()
    assert app.return_code == 0


class FailingRunEngine(FakeEngine):
    async def apply(self, plan: Any, on_event: Any, cancel: Any) -> Any:
        on_event(RunStarted(RID, ("aks-prod",), ("access",)))
        raise RuntimeError("kube context aks-prod not found in the kubeconfig")


async def test_a_failing_run_is_reported_in_the_run_screen() -> None:
    from textual.widgets import Static

    app = fake_app(FailingRunEngine(runs=fixed_runs()))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.state.selected = [app.state.clusters[0].id]
        app.start_apply(app.state.to_plan())
        await settle(pilot)
        assert app.screen is app.get_screen("run")
        msg = str(app.screen.query_one("#nav-message", Static).content)
        assert msg == (
            "The run stopped with an error: RuntimeError: kube context aks-prod not found "
            "in the kubeconfig"
        )
        assert not app.run_model.running  # a new run may start; quit does not ask


async def test_status_fleet_filters_sorts_and_drills_into_nodes() -> None:
    from textual.widgets import Sparkline, Static

    app = fake_app(start="status")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        fleet = screen.query_one("#fleet-table", DataTable)
        nodes = screen.query_one("#status-table", DataTable)
        assert fleet.row_count == 2
        cov = str(screen.query_one("#coverage", Static).content)
        assert "2 cluster(s), 2 enabled" in cov and "(3/5)" in cov, cov
        names = [str(fleet.get_row_at(i)[0]) for i in range(fleet.row_count)]
        assert names == ["aks-[dev]", "aks-prod"]  # by name
        # the highlighted cluster's nodes and its records per hour
        assert nodes.row_count == 2  # aks-[dev]'s nodes
        spark = screen.query_one("#spark", Sparkline)
        assert len(list(spark.data or [])) == 24
        await pilot.press("down")
        await pilot.pause()
        assert nodes.row_count == 4  # aks-prod's nodes (one Windows, skipped)
        states = {str(nodes.get_row_at(i)[1]) for i in range(nodes.row_count)}
        assert states == {"covered", "drift", "skipped"}
        await pilot.press("enter")  # drill in: the node table takes the keys
        await pilot.pause()
        assert nodes.has_focus
        # sort: by coverage (aks-[dev] 50% before aks-prod 67%), then filter
        fleet.focus()
        await pilot.press("s")
        await pilot.pause()
        assert "sort coverage" in str(screen.query_one("#coverage", Static).content)
        await pilot.press("f")
        await pilot.pause()
        app.screen.query_one("#prompt").value = "prod"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        assert fleet.row_count == 1 and str(fleet.get_row_at(0)[0]) == "aks-prod"
        assert nodes.row_count == 4


class ProbeCountingEngine(FakeEngine):
    def __init__(self) -> None:
        super().__init__(runs=fixed_runs())
        self.probes: list[bool] = []

    async def status(self, cluster_name: str | None = None, **kw: Any) -> Any:
        self.probes.append(bool(kw.get("probe_nodes")))
        return await super().status(cluster_name)


async def test_status_live_probe_only_after_a_yes() -> None:
    """The wizard reads status read-only; `p` asks before the live probe (check pods)."""
    from aksaudit_tui.tui.screens.modals import ConfirmScreen

    engine = ProbeCountingEngine()
    app = fake_app(engine, start="status")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert engine.probes and not any(engine.probes)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing is probed
        await settle(pilot)
        assert not any(engine.probes)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert engine.probes[-1] is True


def test_every_binding_id_is_in_the_keymap_list() -> None:
    from textual.binding import Binding

    from aksaudit_tui.tui.registry import NAMES, screen_class
    from aksaudit_tui.tui.screens.modals import ConfirmScreen, KeysScreen, TextViewScreen
    from aksaudit_tui.tui.widgets.cluster_tree import ClusterTree

    ids: set[str] = set()
    classes: list[Any] = [
        AksauditApp,
        ConfirmScreen,
        TextViewScreen,
        KeysScreen,
        ClusterTree,
        *(screen_class(n) for n in NAMES),
    ]
    for cls in classes:
        for klass in cls.__mro__:
            for b in klass.__dict__.get("BINDINGS", []):
                if isinstance(b, Binding) and b.id:
                    ids.add(b.id)
    assert ids == set(BINDING_IDS)


def test_log_file_under_the_given_dir(tmp_path: Path) -> None:
    import logging

    from aksaudit_tui.tui.app import setup_logging

    path = setup_logging(tmp_path / "logs" / "tui.log")
    logger = logging.getLogger("aksaudit_tui.tui")
    try:
        logger.info("run: started")
        for h in logging.getLogger("aksaudit_tui").handlers:
            h.flush()
        assert "run: started" in path.read_text()
    finally:
        root = logging.getLogger("aksaudit_tui")
        for h in list(root.handlers):
            if getattr(h, "baseFilename", "") == str(path):
                root.removeHandler(h)
                h.close()


class StagedDiscovery(FakeEngine):
    """Discovery as the real one streams it: each cluster as listed, then (once ``go`` is set)
    complete. ``estates`` gives each successive discovery's clusters."""

    def __init__(self, estates: list[tuple[Any, ...]]) -> None:
        super().__init__(runs=[])
        self.estates = estates
        self.go = asyncio.Event()
        self.calls = 0

    async def discover(self, subscription: str | None = None) -> Any:
        from dataclasses import replace

        from aksaudit_tui.cloud.models import Monitoring, Subscription
        from aksaudit_tui.engine.events import (
            ClusterFound,
            DiscoveryDone,
            SubscriptionFound,
            WorkspaceFound,
        )

        clusters = self.estates[min(self.calls, len(self.estates) - 1)]
        self.calls += 1
        yield SubscriptionFound(Subscription(SUB1, "prod-subscription"))
        yield SubscriptionFound(Subscription(SUB2, "dev-subscription"))
        for c in clusters:
            yield ClusterFound(replace(c, scale_sets=(), monitoring=Monitoring(), complete=False))
        await self.go.wait()
        if self.calls == 1:  # announced again: listing its workspaces failed
            yield SubscriptionFound(Subscription(SUB2, "dev-subscription", "Forbidden: no"))
        for c in clusters:
            yield ClusterFound(c)
        yield WorkspaceFound(WORKSPACE)
        yield DiscoveryDone(2, len(clusters), 1, 0)


def tree_text(node: Any) -> list[str]:
    """A tree node's label and its descendants', depth first, as plain text."""
    out = [str(node.label)]
    for child in node.children:
        out += tree_text(child)
    return out


async def test_cluster_row_appears_as_listed_then_updates_in_place() -> None:
    from dataclasses import replace

    from aksaudit_tui.tui.widgets.cluster_tree import ClusterTree

    prod, dev = CLUSTERS
    bigger = replace(  # the second discovery: one more node in prod's first pool, dev gone
        prod,
        scale_sets=(
            replace(
                prod.scale_sets[0],
                instances=(
                    *prod.scale_sets[0].instances,
                    replace(prod.scale_sets[0].instances[0], computer_name="aks-new-node"),
                ),
            ),
            *prod.scale_sets[1:],
        ),
    )
    engine = StagedDiscovery([CLUSTERS, (bigger,)])
    app = fake_app(engine, start="discover")
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.screen.query_one(ClusterTree)

        def row(cid: str) -> Any:
            found = [
                n
                for s in tree.root.children
                for n in s.children
                if n.data is not None and n.data == ("cluster", cid)
            ]
            assert len(found) <= 1
            return found[0] if found else None

        for _ in range(100):  # the listed forms arrive; the details are held back
            await pilot.pause()
            if row(prod.id) is not None and row(dev.id) is not None:
                break
        node = row(prod.id)
        assert node is not None, "no row for the listed cluster"
        text = tree_text(node)
        assert text[0].startswith("[ ] aks-prod") and "⟳ reading…" in text[0]
        assert text[1:] == [f"node RG: {prod.node_resource_group}", "⟳ reading scale sets…"]
        assert app.job("discovery").running
        # picked while still being read: the plan waits for the complete form
        app.state.selected = [prod.id]
        assert "Still reading aks-prod" in (app.state.missing() or "")

        engine.go.set()
        await settle(pilot)
        assert row(prod.id) is node  # the same row, updated in place
        text = tree_text(node)
        assert "reading" not in " ".join(text)
        assert text[0] == "[x] aks-prod  westeurope, 3/4 Linux nodes  → law-security"
        assert "aks-agentpool-12345678-vmss: 3 node(s), Ubuntu2204" in text
        assert "aks-agentpool-12345678-vmss000002" in text
        assert any(t.startswith("in place: Container Insights: on") for t in text)
        assert [c.id for c in app.state.clusters] == [prod.id, dev.id]
        assert all(c.complete for c in app.state.clusters)
        assert [s.error for s in app.state.subscriptions] == [None, "Forbidden: no"]
        assert "✖ Forbidden: no" in str(tree.root.children[1].label)

        # discover again: rows update on the new data; a cluster no longer found is dropped
        node.expand()
        engine.go = asyncio.Event()
        engine.go.set()
        app.screen.action_rediscover()  # type: ignore[attr-defined]
        await settle(pilot)
        assert engine.calls == 2
        assert row(prod.id) is node and node.is_expanded
        text = tree_text(node)
        assert text[0] == "[x] aks-prod  westeurope, 4/5 Linux nodes  → law-security"
        assert "aks-agentpool-12345678-vmss: 4 node(s), Ubuntu2204" in text
        assert "aks-new-node" in text
        assert row(dev.id) is None
        assert [str(s.label).split("  ")[0] for s in tree.root.children] == [
            "prod-subscription",
            "dev-subscription",
        ]
        assert "✖" not in str(tree.root.children[1].label)


async def test_a_failed_job_never_shows_a_registered_secret() -> None:
    """An error that is not a UserError (an SDK exception, a bug) can carry a workspace key or
    token in its text: the line the screen shows is scrubbed like every log record."""
    from aksaudit_tui import redaction

    secret = "wsKEY-" + "Zq9" * 20
    redaction.register(secret)
    app = fake_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)

        async def boom() -> None:
            raise RuntimeError(f"HTTP 401 sending protectedSettings {{workspaceKey: {secret}}}")

        app.start_job("status", boom)
        await settle(pilot)
        shown = app.job("status").error or ""
        assert shown.startswith("RuntimeError: HTTP 401"), shown
        assert secret not in shown and "<redacted>" in shown


async def test_the_gc_turned_off_for_startup_is_back_on_once_the_first_frame_shows() -> None:
    import gc

    app = AksauditApp(FakeEngine(), identity="someone", keymap={}, animations=False)
    gc.disable()  # as run_wizard does before the imports and the first screen
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()  # (the app froze what startup made; give the test session its GC back)


async def test_the_start_screen_does_not_rebuild_unchanged_actions() -> None:
    from textual.widgets import OptionList

    app = AksauditApp(FakeEngine(), identity="someone", keymap={}, animations=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        app.flush_events()
        await pilot.pause()
        ol = app.screen.query_one("#start-actions", OptionList)
        before = list(ol.options)
        app.screen.data_changed("runs", None)  # type: ignore[attr-defined]
        assert list(ol.options) == before and all(
            a is b for a, b in zip(ol.options, before, strict=True)
        )
        from types import SimpleNamespace

        app.job("leftovers").result = [SimpleNamespace(cluster="aks-prod")]
        app.screen.data_changed("leftovers", None)  # type: ignore[attr-defined]
        assert [o.id for o in ol.options][-1] == "cleanup"


async def test_the_run_screens_css_is_parsed_before_the_first_run() -> None:
    """warm_run has Textual parse the DEFAULT_CSS of the run screen's widgets (their first
    mount parsed it, blocking the loop as a run started), through mounting, not its private
    API, and leaves no widget behind; a run then brings no widget CSS left to parse."""
    from textual.widgets import Log, ProgressBar

    engine = FakeEngine(runs=fixed_runs(), hold_run=True)
    app = fake_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        run_widgets = {"DataTable", "Log", "ProgressBar", "Bar", "ETAStatus", "PercentageStatus"}
        await app.warm_run()
        # no screen shown so far holds one: their CSS is there because warm_run mounted them
        assert not any(s.query(Log) or s.query(ProgressBar) for s in app.screen_stack)
        assert not any(s.query("#css-warm") for s in app.screen_stack)
        warmed = set(app.stylesheet.source)
        assert {f"{name}.DEFAULT_CSS" for name in run_widgets} <= {w for _f, w in warmed}
        app.state.selected = [app.state.clusters[0].id]
        app.start_apply(app.state.to_plan())
        await pilot.pause()
        app.flush_events()
        await pilot.pause()
        assert app.screen is app.get_screen("run")
        new = {where for _f, where in set(app.stylesheet.source) - warmed}
        assert not {w for w in new if w.split(".")[0] in run_widgets | {"NodeTable"}}, new
        engine.release.set()
        await settle(pilot)


async def test_status_fits_80_columns() -> None:
    """At 80x24 the summary line, every status key in the footer, the nav line and each
    node's whole reason and fix are on the screen (wrapped, not cut)."""
    from tui_helpers import screen_lines

    app = fake_app(start="status")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = screen_lines(app)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        shown = "\n".join(lines)
        summary = "2 cluster(s), 2 enabled · 60% of Linux nodes covered (3/5) · 24 h · sort name"
        assert any(line.strip() == summary for line in lines), shown
        fleet_head = next(line for line in lines if line.lstrip().startswith("Cluster"))
        for title in ("Coverage", "Covered", "Log path", "Heartbeat", "Drift"):
            assert title in fleet_head, fleet_head
        footer = lines[-1]
        for key in ("Refresh", "Filter", "Sort", "Probe", "JSON", "CSV"):
            assert key in footer, footer
        assert "2 node(s) not covered, 2 drifted · enter: the cluster's nodes" in shown, shown
        # the drifted node's reason and fix, wrapped in the reason column, whole
        head = next(line for line in lines if line.lstrip().startswith("Node"))
        col = head.index("Reason · fix")
        end = col + len("Reason · fix")
        end += len(head[end:]) - len(head[end:].lstrip())  # to where the next column starts
        first = next(i for i, line in enumerate(lines) if "vmss000001" in line)
        cell = [lines[first][col:end]]
        for line in lines[first + 1 :]:
            if not line[:col].isspace() or not line[col:end].strip():
                break
            cell.append(line[col:end])
        text = " ".join(" ".join(cell).split())
        assert "rules differ from what was applied aksaudit apply plan.yaml" in text, shown
