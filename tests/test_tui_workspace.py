"""Each cluster's workspace in the wizard (issue 12, "Workspace choice"), driven with keys:
Discover shows every picked cluster's workspace and why (the engine's rule), ``w`` changes one
cluster's, Review and the exported plan show the same; with no default, Next waits for a pick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Static

from aksaudit_tui.engine import plan_io
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.screens.modals import PromptScreen
from aksaudit_tui.tui.widgets.cluster_tree import ClusterTree
from tui_fakes import CLUSTERS, FIXED_NOW, FakeEngine, fixed_runs
from tui_helpers import (
    app_for,
    engine_for,
    next_screen,
    pick_cluster,
    pick_workspace,
    screen_is,
    settle,
)

SIZE = (120, 40)


def tree_label(app: AksauditApp, cluster: str) -> str:
    tree = app.get_screen("discover").query_one(ClusterTree)
    cid = next(c.id for c in app.state.clusters if c.name == cluster)
    todo = list(tree.root.children)
    while todo:
        node = todo.pop()
        if node.data == ("cluster", cid):
            return str(node.label)
        todo.extend(node.children)
    raise AssertionError(f"{cluster} not in the tree")


def shown(app: AksauditApp, widget_id: str, screen: str = "discover") -> str:
    return str(app.get_screen(screen).query_one(widget_id, Static).content)


async def test_discover_shows_each_default_and_why_and_a_change_reaches_review_and_the_plan(
    emulator: Any, tmp_path: Path
) -> None:
    app = app_for(engine_for(emulator, tmp_path / "state"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await screen_is(pilot, app, "discover")
        await pick_cluster(pilot, app, "aks-prod-weu")
        assert tree_label(app, "aks-prod-weu").endswith("→ law-prod-weu")
        row = shown(app, "#workspace-row")
        assert row == (
            "Workspace for aks-prod-weu: law-prod-weu, westeurope — add-on's workspace · w: change"
        )
        await pick_cluster(pilot, app, "aks-payments-weu")
        # add-on off: the workspace in its own subscription and region, not law-dev-neu
        assert tree_label(app, "aks-payments-weu").endswith("→ law-prod-weu")
        assert "Workspace: law-prod-weu (same subscription and region)" in shown(
            app, "#discover-detail"
        )
        assert shown(app, "#workspace-row") == (
            "Workspace for aks-payments-weu: law-prod-weu, westeurope — "
            "same subscription and region · w: change"
        )
        # the user sends aks-payments-weu elsewhere; aks-prod-weu keeps its default
        await pick_workspace(pilot, app, "aks-payments-weu", "law-dev-neu")
        await screen_is(pilot, app, "discover")
        assert tree_label(app, "aks-payments-weu").endswith("→ law-dev-neu")
        assert tree_label(app, "aks-prod-weu").endswith("→ law-prod-weu")
        assert "law-dev-neu, northeurope — picked by you" in shown(app, "#workspace-row")
        for name in ("logpath", "rules", "facility", "delivery", "review"):
            await next_screen(pilot, app, name)
        await settle(pilot, app)
        summary = shown(app, "#review-summary", "review")
        assert "aks-prod-weu → workspace law-prod-weu (add-on's workspace)" in summary
        assert "aks-payments-weu → workspace law-dev-neu (picked by you)" in summary
        plan = app.get_screen("review").plan  # type: ignore[attr-defined]
        assert {c.name: plan.workspace_for(c).name for c in plan.clusters} == {
            "aks-prod-weu": "law-prod-weu",
            "aks-payments-weu": "law-dev-neu",
        }
        # the exported plan carries each cluster's workspace, and why as a comment
        out = tmp_path / "exported.yaml"
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("ctrl+a", "ctrl+k", *str(out), "enter")  # the field holds plan.yaml
        await pilot.pause()
        saved = plan_io.load(out)
        assert {c.name: saved.workspace_for(c).name for c in saved.clusters} == {
            "aks-prod-weu": "law-prod-weu",
            "aks-payments-weu": "law-dev-neu",
        }
        text = out.read_text(encoding="utf-8")
        assert "workspace:  # picked by you" in text
        assert "workspace:  # add-on's workspace" in text


async def test_no_default_workspace_blocks_next_until_the_user_picks_one() -> None:
    app = AksauditApp(
        FakeEngine(runs=fixed_runs()),  # type: ignore[arg-type]
        keymap={}, animations=False, clock=lambda: FIXED_NOW,
    )  # fmt: skip
    dev = CLUSTERS[1].name  # aks-[dev]: no add-on, no workspace in its subscription
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await pick_cluster(pilot, app, dev)
        assert tree_label(app, dev).endswith("→ pick a workspace (w)")
        await pilot.press("ctrl+n")
        await pilot.pause()
        await screen_is(pilot, app, "discover")
        nav = str(app.screen.query_one("#nav-message", Static).content)
        assert nav == (
            f"Pick a workspace for {dev} (w on it): no monitoring add-on and no workspace in "
            "its subscription and region (westeurope)."
        )
        await pick_workspace(pilot, app, dev, "law-security")
        assert tree_label(app, dev).endswith("→ law-security")
        assert "law-security, westeurope — picked by you" in shown(app, "#workspace-row")
        await next_screen(pilot, app, "logpath")
