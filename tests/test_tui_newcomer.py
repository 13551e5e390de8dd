"""What a newcomer trips on (issue 12), driven with Pilot: the run log follows the running
step until the user picks another one."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Label, OptionList

from aksaudit_tui.engine.events import Event, RunStarted, StepFinished, StepLog, StepStarted
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.screens.run import DRAW_S, RunScreen
from tui_fakes import FIXED_NOW, FakeEngine

STEPS = ("access", "log-path", "delivery")


def app() -> AksauditApp:
    return AksauditApp(FakeEngine(), keymap={}, animations=False, clock=lambda: FIXED_NOW)  # type: ignore[arg-type]


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
