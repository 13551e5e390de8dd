"""SVG snapshots of every screen at 80x24 and 120x40, on fixed data (tests/tui_fakes.py).

Update after an intended change: ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.messages import PickRemoval
from tui_fakes import APPLIED_ID, CLUSTERS, FIXED_NOW, FakeEngine, fixed_plans, fixed_runs

SIZES = [(80, 24), (120, 40)]
WIZARD = ("start", "discover", "logpath", "rules", "facility", "delivery", "review")


def make_app(**engine_kw: Any) -> AksauditApp:
    engine_kw.setdefault("runs", fixed_runs())
    engine = FakeEngine(leftovers=2, **engine_kw)
    return AksauditApp(
        engine,  # type: ignore[arg-type]
        identity="the built-in emulator at https://127.0.0.1:8443 (demo token; no Azure)",
        keymap={},
        animations=False,
        clock=lambda: FIXED_NOW,
    )


async def settle(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await app.workers.wait_for_complete()
    app.flush_events()  # type: ignore[attr-defined]
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def goto(name: str, *, custom: str = "") -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app: AksauditApp = pilot.app  # type: ignore[assignment]
        await settle(pilot)
        app.state.selected = [CLUSTERS[0].id]
        app.state.custom_rules = custom
        if name in ("run", "verify", "status"):
            app.start_apply(app.state.to_plan())
            await settle(pilot)
        app.goto(name)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", [*WIZARD, "run", "verify", "status"])
def test_screen(snap_compare: Any, screen: str, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), run_before=goto(screen), terminal_size=size)


def test_custom_rule_errors(snap_compare: Any) -> None:
    bad = "-w /etc/hosts -p wa -k hosts\n-a always,exit -F arch=b64 -S nosuchcall -k x\n"
    to_rules = goto("rules", custom=bad)

    async def run_before(pilot: Pilot[Any]) -> None:
        await to_rules(pilot)
        await pilot.press("f4")
        # a blinking cursor is drawn or not by when the shot is taken (hidden after 0.5 s,
        # which a loaded machine reaches): hold it steady, as it is drawn on focus
        pilot.app.screen.query_one("#custom-rules", TextArea).cursor_blink = False
        await settle(pilot)

    assert snap_compare(make_app(), run_before=run_before, terminal_size=(80, 24))


def test_verify_missing_node(snap_compare: Any) -> None:
    assert snap_compare(
        make_app(verify_ok=False), run_before=goto("verify"), terminal_size=(120, 40)
    )


def remove_flow(review: bool) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app: AksauditApp = pilot.app  # type: ignore[assignment]
        await settle(pilot)
        app.goto("remove")
        await settle(pilot)
        if review:
            app.post_message(PickRemoval(APPLIED_ID, (CLUSTERS[0].name,), True))
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("review", [False, True], ids=["remove", "remove-review"])
def test_remove_screens(snap_compare: Any, review: bool) -> None:
    from tui_fakes import applied_runs

    # this machine's runs, and a cluster a colleague enabled (offered from its own record)
    app = make_app(runs=applied_runs(), plans=fixed_plans(), recorded=True)
    assert snap_compare(app, run_before=remove_flow(review), terminal_size=(80, 24))
