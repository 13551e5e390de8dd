"""What a newcomer trips on (issue 12), driven with Pilot: the run log follows the running
step until the user picks another one; `?` lists the keys of the screen (remaps included);
ctrl+c during a run asks, then cancels safely like ctrl+x."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Label, OptionList

from aksaudit_tui.engine.events import Event, RunStarted, StepFinished, StepLog, StepStarted
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.screens.modals import ConfirmScreen, KeysScreen
from aksaudit_tui.tui.screens.run import DRAW_S, RunScreen
from tui_fakes import FIXED_NOW, FakeEngine, fixed_runs

STEPS = ("access", "log-path", "delivery")


def app(engine: FakeEngine | None = None, keymap: dict[str, str] | None = None) -> AksauditApp:
    return AksauditApp(
        engine or FakeEngine(runs=fixed_runs()),  # type: ignore[arg-type]
        keymap=keymap or {},
        animations=False,
        clock=lambda: FIXED_NOW,
    )


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    pilot.app.flush_events()  # type: ignore[attr-defined]
    await pilot.pause()


def keys_shown(a: AksauditApp) -> dict[str, str]:
    assert isinstance(a.screen, KeysScreen)
    table = a.screen.query_one("#keys", DataTable)
    return {str(r[1]): str(r[0]) for r in (table.get_row_at(i) for i in range(table.row_count))}


def started(step: str) -> list[Event]:
    return [
        StepStarted("r1", "aks-a", step, f"{step} title"),
        StepLog("r1", "aks-a", step, f"{step} working"),
    ]


def finished(step: str) -> list[Event]:
    return [StepFinished("r1", "aks-a", step, "done", f"{step} ok")]


async def feed(pilot: Pilot[Any], screen: RunScreen, events: list[Event]) -> None:
    screen.data_changed("run", screen.aks.run_model.apply(events))
    await pilot.pause(DRAW_S + 0.1)


def log_title(screen: RunScreen) -> str:
    return str(screen.query_one("#log-title", Label).content)


async def test_run_log_follows_the_running_step_until_the_user_picks_one() -> None:
    a = app()
    async with a.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        a.goto("run")
        await pilot.pause()
        screen = a.screen
        assert isinstance(screen, RunScreen)
        await feed(pilot, screen, [RunStarted("r1", ("aks-a",), STEPS), *started("access")])
        assert log_title(screen) == "Log: aks-a/access — access title"
        await feed(pilot, screen, [*finished("access"), *started("log-path")])
        assert log_title(screen) == "Log: aks-a/log-path — log-path title"
        steps = screen.query_one("#steps", OptionList)
        assert steps.highlighted is not None
        assert steps.get_option_at_index(steps.highlighted).id == "aks-a/log-path"
        assert screen.query_one("#run-log").lines[-1] == "log-path working"  # type: ignore[attr-defined]
        # the user picks the first step: the log stays there while later steps run
        steps.focus()
        await pilot.press("up")
        await pilot.pause()
        assert log_title(screen) == "Log: aks-a/access — access title"
        await feed(pilot, screen, [*finished("log-path"), *started("delivery")])
        assert log_title(screen) == "Log: aks-a/access — access title"
        assert steps.get_option_at_index(steps.highlighted or 0).id == "aks-a/access"


async def test_question_mark_lists_every_key_of_the_screen_with_remaps() -> None:
    a = app(keymap={"app.status": "f9", "start.new": "ctrl+e"})
    async with a.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        shown = keys_shown(a)
        assert shown["Status (coverage) from any screen"] == "f9"  # remapped from f2
        assert shown["Start screen: new enablement"] == "^e"
        assert shown["Start screen: clean up leftover privileged pods"] == "c"
        assert shown["Cancel the run in progress (asks first), like ctrl+x"] == "^c"
        assert "f2" not in shown.values() and "n" not in shown.values()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(a.screen, KeysScreen)
        # the run screen's own key is listed there
        a.goto("run")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert keys_shown(a)["Run: cancel (asks first)"] == "^x"


async def test_ctrl_c_during_a_run_asks_then_cancels_safely() -> None:
    engine = FakeEngine(runs=fixed_runs(), hold_run=True)
    a = app(engine)
    async with a.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        a.state.selected = [a.state.clusters[0].id]
        a.start_apply(a.state.to_plan())
        await pilot.pause()
        a.flush_events()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert isinstance(a.screen, ConfirmScreen)
        await pilot.press("n")  # keep running
        await pilot.pause()
        assert a.job("run").running and a._cancel is not None and not a._cancel.is_set()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert isinstance(a.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert a._cancel is not None and a._cancel.is_set()  # the engine's safe stop
        assert a.is_running  # cancelling is not quitting
        engine.release.set()
        await settle(pilot)
