"""Helpers for the TUI tests: build the app on the real engine + emulator, walk the wizard."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable

from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine.plan import Plan, PlanRequest
from aksaudit_tui.engine.service import Engine
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.screens.modals import ConfirmScreen


def engine_for(emu: Any, state_dir: Path) -> Engine:
    info = emu.info
    settings = CloudSettings(
        arm_endpoint=info.arm_endpoint,
        logs_endpoint=info.logs_endpoint,
        ca_bundle=str(info.ca_bundle),
        access_token=info.token,
        kubeconfig=str(info.kubeconfig),
        registry_endpoint=info.registry_endpoint,
        profile="fast",
    )
    return Engine(settings, state_dir, verify_deadline_s=30.0, verify_poll_s=0.2)


def app_for(engine: Any, **kw: Any) -> AksauditApp:
    kw.setdefault("identity", "the emulator")
    kw.setdefault("keymap", {})
    kw.setdefault("animations", False)
    return AksauditApp(engine, **kw)


async def settle(pilot: Pilot[Any], app: AksauditApp) -> None:
    """Let workers finish and the batched events land (no sleeps on timing)."""
    await app.workers.wait_for_complete()
    app.flush_events()
    await pilot.pause()


async def screen_is(pilot: Pilot[Any], app: AksauditApp, name: str) -> None:
    await pilot.pause()
    assert app.screen is app.get_screen(name), f"on {type(app.screen).__name__}, not {name}"


async def pick_cluster(
    pilot: Pilot[Any], app: AksauditApp, name: str, *, unpick: bool = False
) -> None:
    """On the discover screen: move the tree cursor to ``name`` with keys and press space
    (``unpick``: it was picked and is not any more)."""
    from aksaudit_tui.tui.widgets.cluster_tree import ClusterTree

    screen = app.get_screen("discover")
    tree = screen.query_one(ClusterTree)
    cluster = next(c for c in app.state.clusters if c.name == name)
    tree.focus()
    await pilot.press("home")
    for _ in range(60):
        node = tree.cursor_node
        if node is not None and node.data == ("cluster", cluster.id):
            break
        await pilot.press("down")
    else:
        raise AssertionError(f"cluster {name} not reachable in the tree")
    assert (cluster.id in app.state.selected) == unpick
    await pilot.press("space")
    await pilot.pause()
    assert (cluster.id in app.state.selected) != unpick


async def pick_workspace(pilot: Pilot[Any], app: AksauditApp, cluster: str, name: str) -> None:
    """On the discover screen, with the tree cursor on ``cluster`` (``pick_cluster`` leaves it
    there): w, then the workspace ``name`` in the list, with keys."""
    from textual.widgets import OptionList

    from aksaudit_tui.tui.screens.workspace_pick import WorkspacePickScreen

    ws = next(w for w in app.state.workspaces if w.name == name)
    c = next(c for c in app.state.clusters if c.name == cluster)
    await pilot.press("w")
    await pilot.pause()
    assert isinstance(app.screen, WorkspacePickScreen), app.screen
    options = app.screen.query_one(OptionList)
    assert options.has_focus
    want = options.get_option_index(ws.id)
    await pilot.press("home")  # (the first option, the default, is disabled when there is none)
    for _ in range(options.option_count):
        if options.highlighted == want:
            break
        await pilot.press("down")
    assert options.highlighted == want
    await pilot.press("enter")
    await pilot.pause()
    choice = app.state.workspace_choice(c)
    assert choice.workspace is not None and choice.workspace.id == ws.id


async def next_screen(pilot: Pilot[Any], app: AksauditApp, name: str) -> None:
    await pilot.press("ctrl+n")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    await screen_is(pilot, app, name)


async def walk_to_review(
    pilot: Pilot[Any],
    app: AksauditApp,
    cluster: str,
    workspace: str | None = None,
    path_index: int = 0,
    one_shot: bool = False,
) -> None:
    """Start -> discover -> choose everything with keys -> review (probed)."""
    await settle(pilot, app)
    await screen_is(pilot, app, "start")
    await pilot.press("n")
    await settle(pilot, app)
    await screen_is(pilot, app, "discover")
    assert app.state.discovery_done
    await pick_cluster(pilot, app, cluster)
    if workspace:
        await pick_workspace(pilot, app, cluster, workspace)
    await next_screen(pilot, app, "logpath")
    for _ in range(path_index):
        await pilot.press("down")
    if path_index:
        await pilot.press("enter")
    await next_screen(pilot, app, "rules")
    await next_screen(pilot, app, "facility")
    await next_screen(pilot, app, "delivery")
    if one_shot:
        await pilot.press("down", "enter")
        assert app.state.delivery == "one-shot"
    await next_screen(pilot, app, "review")
    await settle(pilot, app)
    assert app.job("review").error is None, app.job("review").error


async def confirm_run(pilot: Pilot[Any], app: AksauditApp) -> None:
    """From a review (apply or remove), Next and yes: the run screen."""
    await pilot.press("ctrl+n")
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press("y")
    await pilot.pause()
    await screen_is(pilot, app, "run")


async def pinned_oneshot_plan(
    engine: Engine, cluster: str = "aks-dev-neu", workspace: str = "law-dev-neu"
) -> Plan:
    """The plan an apply of ``cluster`` into ``workspace`` (one-shot pods) runs, image pinned."""
    request = PlanRequest(clusters=[cluster], workspace=workspace, delivery="one-shot")
    return await engine.pin_image(await engine.plan_from_names(request))


async def remove_review_rows(pilot: Pilot[Any], app: AksauditApp) -> list[list[str]]:
    """From the Remove screen, Next: the review's change rows (cluster, step, status, text),
    once read without an error."""
    await pilot.press("ctrl+n")
    await pilot.pause()
    await screen_is(pilot, app, "remove-review")
    await settle(pilot, app)
    assert app.job("remove_review").error is None, app.job("remove_review").error
    table = app.screen.query_one("#remove-changes", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


_SVG_TEXT = re.compile(
    r'<text class="[^"]*" x="([0-9.]+)" y="[0-9.]+" textLength="[0-9.]+" '
    r'clip-path="url\(#[\w-]+-line-(\d+)\)">([^<]*)</text>'
)
_CELL_PX = 12.2  # the width of one terminal cell in Textual's SVG screenshots


def screen_lines(app: App[Any]) -> list[str]:
    """What the terminal shows, one string per line (from the app's SVG screenshot)."""
    lines: dict[int, dict[int, str]] = {}
    for x, line, text in _SVG_TEXT.findall(app.export_screenshot()):
        lines.setdefault(int(line), {})[round(float(x) / _CELL_PX)] = html.unescape(text)
    out = []
    for n in range(max(lines, default=-1) + 1):
        row = ""
        for col, text in sorted(lines.get(n, {}).items()):
            row = row.ljust(col) + text
        out.append(row.replace("\xa0", " ").rstrip("\n"))
    return out
