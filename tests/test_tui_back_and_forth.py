"""Back and forth through the wizard with keys (issue 12, "The crash").

Going back and changing the picked clusters used to crash the Delivery screen with
``DuplicateIds ... 'ctx-0'``: it mounted the new per-cluster kube-context inputs before the old
ones were gone. These walk the two paths users hit, on the fake engine (tests/tui_fakes.py).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from textual.widgets import Input

from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.widgets.keyed import KeyedColumn
from tui_fakes import CLUSTERS, FIXED_NOW, FakeEngine, fixed_runs
from tui_helpers import confirm_run, next_screen, pick_cluster, pick_workspace, screen_is, settle

PROD, DEV = CLUSTERS[0].name, CLUSTERS[1].name


def fake_app() -> AksauditApp:
    return AksauditApp(
        FakeEngine(runs=fixed_runs()),  # type: ignore[arg-type]
        identity="test", keymap={}, animations=False, clock=lambda: FIXED_NOW,
    )  # fmt: skip


def context_inputs(app: AksauditApp) -> dict[str, str]:
    """Cluster -> the kube context shown for it on the Delivery screen."""
    column = app.get_screen("delivery").query_one("#context-inputs", KeyedColumn)
    return {key: column.group(key).query_one(Input).value for key in column.keys}


async def escape_to(pilot: Any, app: AksauditApp, name: str) -> None:
    for _ in range(10):
        if app.screen is app.get_screen(name):
            return
        await pilot.press("escape")
        await pilot.pause()
    await screen_is(pilot, app, name)


async def forward_to_delivery(pilot: Any, app: AksauditApp) -> None:
    for name in ("logpath", "rules", "facility", "delivery"):
        await next_screen(pilot, app, name)


async def test_back_to_discover_change_the_clusters_then_delivery() -> None:
    app = fake_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await pick_cluster(pilot, app, PROD)
        await forward_to_delivery(pilot, app)
        assert context_inputs(app) == {PROD: PROD}
        await next_screen(pilot, app, "review")
        await settle(pilot, app)
        await escape_to(pilot, app, "discover")
        await pick_cluster(pilot, app, DEV)  # now both
        await pick_workspace(pilot, app, DEV, "law-security")  # it has no default workspace
        await forward_to_delivery(pilot, app)
        await pilot.pause()
        assert context_inputs(app) == {PROD: PROD, DEV: DEV}
        # and back again, dropping the first: its input goes, the other stays
        await escape_to(pilot, app, "discover")
        await pick_cluster(pilot, app, PROD, unpick=True)
        await forward_to_delivery(pilot, app)
        await pilot.pause()
        assert context_inputs(app) == {DEV: DEV}
        await next_screen(pilot, app, "review")
        await settle(pilot, app)
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert [c.name for c in plan.clusters] == [DEV]


async def test_after_a_finished_run_a_new_enablement_with_two_clusters() -> None:
    app = fake_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await pick_cluster(pilot, app, PROD)
        await forward_to_delivery(pilot, app)
        await next_screen(pilot, app, "review")
        await settle(pilot, app)
        await confirm_run(pilot, app)
        await settle(pilot, app)
        assert app.run_model.outcome == "ok"
        await pilot.press("escape")  # the run screen goes back to the start screen
        await screen_is(pilot, app, "start")
        await pilot.press("n")
        await settle(pilot, app)
        await screen_is(pilot, app, "discover")
        await pick_cluster(pilot, app, PROD, unpick=True)
        await pick_cluster(pilot, app, DEV)
        await pick_workspace(pilot, app, DEV, "law-security")  # it has no default workspace
        await pick_cluster(pilot, app, PROD)
        await forward_to_delivery(pilot, app)
        await pilot.pause()
        assert context_inputs(app) == {DEV: DEV, PROD: PROD}
        await next_screen(pilot, app, "review")
        await settle(pilot, app)
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert [c.name for c in plan.clusters] == [DEV, PROD]


async def test_delivery_values_typed_then_left_by_the_palette_reach_review() -> None:
    """Found while writing the random walks: Delivery stored its inputs only on Back/Next, so
    leaving by the palette's "Review plan" (or F2) reviewed the old namespace."""
    app = fake_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        await pick_cluster(pilot, app, PROD)
        await forward_to_delivery(pilot, app)
        app.screen.query_one("#namespace", Input).focus()
        await pilot.press("ctrl+u", *"audit-ns")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"review plan")
        await pilot.pause(0.3)  # the palette searches in a worker
        await pilot.press("enter")
        await settle(pilot, app)
        await screen_is(pilot, app, "review")
        assert app.screen.plan.namespace == "audit-ns"  # type: ignore[attr-defined]


def test_screens_rebuild_dynamic_children_only_through_keyed_columns() -> None:
    """The class of bug: mounting children while their predecessors are still being removed.
    Screens and widgets mount/remove children only through ``KeyedColumn.sync`` (which reuses
    keyed groups and gives nothing an id); ``keyed.py`` is the one module that may."""
    tui = Path(KeyedColumn.__module__.replace(".", "/"))
    root = Path(__file__).parents[1] / "src" / tui.parent.parent
    risky = {"mount", "mount_all", "remove_children", "recompose"}
    # TreeNode.remove_children: tree data (synchronous), not widgets
    allowed = {("cluster_tree.py", "remove_children")}
    found: list[str] = []
    for path in [*(root / "screens").glob("*.py"), *(root / "widgets").glob("*.py")]:
        if path.name == "keyed.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in risky
                and (path.name, node.func.attr) not in allowed
            ):
                found.append(f"{path.name}:{node.lineno} {node.func.attr}()")
    assert not found, found


async def test_run_screen_ignores_a_highlight_of_a_row_already_gone() -> None:
    """make fuzz-tui (walk seed 50, emulator) ended the app: a RowHighlighted for a row that
    went before the message arrived has no key."""
    from textual.widgets import DataTable

    app = fake_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.state.selected = [CLUSTERS[0].id]
        app.start_apply(app.state.to_plan())
        await settle(pilot, app)
        table = app.screen.query_one("#nodes", DataTable)
        table.focus()
        table.post_message(DataTable.RowHighlighted(table, 0, None))  # type: ignore[arg-type]
        await pilot.pause()
        assert app.is_running and app.screen is app.get_screen("run")
