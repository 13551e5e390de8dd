"""A run's lifecycle at its hard edges, on the emulator with the real clients: a run whose own
task is cancelled outright (the engine thread's last resort after its safe stop ran out of
time) still unwinds its steps before the kube clients close, deletes its privileged pods,
records the run as cancelled, and leaves no task or client behind; quitting the wizard mid-run
says what the safe stop does, quits when it is done, and a second quit key quits at once."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot

from aksaudit_tui.engine import runner
from aksaudit_tui.engine.events import Event, NodeUpdate, RunFinished, RunStarted, StepFinished
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.results import RunResult
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.screens.modals import ConfirmScreen
from engine_helpers import add_fault, dev_ama_oneshot, linux_nodes, oneshot_pods
from tui_fakes import RUN_ID, FakeEngine, fixed_plan
from tui_helpers import app_for


def _pending_steps() -> list[asyncio.Task[Any]]:
    """Step tasks of the runner still alive on this loop (orphans once their run has ended)."""
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and getattr(t.get_coro(), "__qualname__", "") == runner.run_step.__name__
    ]


async def test_a_run_cancelled_outright_unwinds_its_steps_before_the_clients_close(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu, eng, plan = await dev_ama_oneshot(make_emulator, tmp_path / "s")
    stuck = linux_nodes(emu, "aks-dev-neu")[0]
    add_fault(emu, {"kind": "pod-pending", "cluster": "aks-dev-neu", "node": stuck,
                    "pod_prefix": "aksaudit-apply"})  # fmt: skip
    others = set(linux_nodes(emu, "aks-dev-neu")) - {stuck}
    loop = asyncio.get_running_loop()
    problems: list[str] = []  # "Task was destroyed ...", "Unclosed client session", ...
    old_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: problems.append(str(context.get("message"))))
    events: list[Event] = []
    in_flight = asyncio.Event()

    def on_event(ev: Event) -> None:
        events.append(ev)
        done = {e.node for e in events if isinstance(e, NodeUpdate) and e.phase == "compliant"}
        if others <= done:
            in_flight.set()  # the stuck node's privileged pod exists and waits

    cancel = asyncio.Event()  # never set: this is not the safe stop, it is what comes after it
    try:
        task = asyncio.create_task(eng.apply(plan, on_event, cancel))
        await asyncio.wait_for(in_flight.wait(), 90)
        assert oneshot_pods(emu, "aks-dev-neu"), "the stuck node's pod should be there"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # nothing of the run outlives it: its step task was cancelled and awaited, not orphaned
        assert _pending_steps() == []
        # the step's own cleanup ran on open clients: no privileged pod is left
        assert oneshot_pods(emu, "aks-dev-neu") == []
        runs = eng.journal.list_runs()
        rec = eng.journal.load(runs[0].run_id)
        assert rec.doc["state"] == "cancelled"
        assert rec.doc["clusters"]["aks-dev-neu"]["steps"]["delivery"]["state"] == "interrupted"
        assert [e.outcome for e in events if isinstance(e, RunFinished)] == ["cancelled"]
        finished = [e for e in events if isinstance(e, StepFinished) and e.step == "delivery"]
        assert [e.outcome for e in finished] == ["interrupted"]
        await asyncio.sleep(0.5)  # what an orphan would still do now happens now
        gc.collect()
        await asyncio.sleep(0)
        assert problems == []
    finally:
        loop.set_exception_handler(old_handler)


# --- quitting the wizard mid-run ------------------------------------------------------------


async def _stuck_oneshot_run(make_emulator: Any, tmp_path: Path) -> tuple[Any, Any, str, Any]:
    """(emulator, engine, stuck node, plan): one-shot on aks-dev-neu, one node's pod pending."""
    emu, eng, plan = await dev_ama_oneshot(make_emulator, tmp_path / "s")
    stuck = linux_nodes(emu, "aks-dev-neu")[0]
    add_fault(emu, {"kind": "pod-pending", "cluster": "aks-dev-neu", "node": stuck,
                    "pod_prefix": "aksaudit-apply"})  # fmt: skip
    return emu, eng, stuck, plan


async def _until(pilot: Pilot[Any], what: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds / 0.1)):
        if what():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"not reached in {seconds} s")


async def test_quitting_mid_run_says_what_the_safe_stop_does_and_exits_when_it_is_done(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu, eng, stuck, plan = await _stuck_oneshot_run(make_emulator, tmp_path)
    app = app_for(eng, signed_in=False)
    notes: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            notes.append(message.notification.message)

    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        app.start_apply(plan)
        # the other nodes are done: only the stuck node's privileged pod is in flight
        await _until(pilot, lambda: app.run_model.nodes.get(f"aks-dev-neu/{stuck}") is not None
                     and app.run_model.phase_counts().get("compliant", 0)
                     == len(linux_nodes(emu, "aks-dev-neu")) - 1, 90)  # fmt: skip
        assert oneshot_pods(emu, "aks-dev-neu")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await _until(pilot, lambda: any("Stopping safely" in n for n in notes), 10)
        notice = next(n for n in notes if "Stopping safely" in n)
        assert "deleting 1 one-shot pod(s)" in notice, notice
        assert "ctrl+q" in notice and "`aksaudit cleanup`" in notice, notice
        await _until(pilot, lambda: app.return_code is not None, 90)
    assert app.return_value == 4  # the CLI exits 4: cancelled
    # it quit once the stop was done, not before: no privileged pod left, the run recorded
    assert oneshot_pods(emu, "aks-dev-neu") == []
    rec = eng.journal.load(eng.journal.list_runs()[0].run_id)
    assert rec.doc["state"] == "cancelled"


async def test_a_second_quit_while_stopping_quits_at_once(tmp_path: Path) -> None:
    engine = StubbornCleanupEngine()
    app = AksauditApp(engine, keymap={}, animations=False, signed_in=False)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_apply(fixed_plan("aks-prod"))
        assert await asyncio.to_thread(engine.started.wait, 30.0)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("y")
        assert await asyncio.to_thread(engine.stopping.wait, 10.0)  # the safe stop runs
        t0 = asyncio.get_running_loop().time()
        await pilot.press("ctrl+c")  # the second key: quit now
        await _until(pilot, lambda: app.return_code is not None, 10)
    assert app.return_value == 4  # the CLI exits 4: cancelled
    assert asyncio.get_running_loop().time() - t0 < 10  # not the cleanup's 60 s
    assert not engine.cleaned.is_set()  # quit before the stop finished: as the notice warned


class StubbornCleanupEngine(FakeEngine):
    """A run whose safe stop takes a minute (a slow API server)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.stopping = threading.Event()
        self.cleaned = threading.Event()

    async def apply(
        self, plan: Plan, on_event: Callable[[Event], None], cancel: asyncio.Event
    ) -> RunResult:
        on_event(RunStarted(RUN_ID, tuple(c.name for c in plan.clusters), ("access",)))
        self.started.set()
        await asyncio.wait_for(cancel.wait(), 60)
        self.stopping.set()
        await asyncio.sleep(60)  # deleting pods on a slow API server
        self.cleaned.set()
        return RunResult(RUN_ID, "cancelled", "")
