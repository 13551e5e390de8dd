"""The App's engine thread: engine calls run on a loop of their own, cancel crosses over, and a
cancelled run's cleanup (one-shot pods, namespace, fence, journal) is never cut off: neither by
the caller returning early nor by the app exiting and stopping the loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

import pytest

from aksaudit_tui.engine.events import Event, RunStarted
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.results import RunResult
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.engine_thread import EngineThread
from aksaudit_tui.tui.models.runmodel import RunModel
from tui_fakes import RUN_ID, FakeEngine, fixed_plan

CLEANUP_TAKES_S = 0.5  # how long the fake run's cleanup awaits on the engine loop


class HeldRun:
    """An engine call that holds until its cancel is set (the engine's safe stop), then cleans
    up for CLEANUP_TAKES_S on the engine loop (deleting pods, writing the journal)."""

    def __init__(self) -> None:
        self.started, self.cleaned = threading.Event(), threading.Event()

    async def __call__(self, cancel: asyncio.Event) -> None:
        try:
            self.started.set()
            await asyncio.wait_for(cancel.wait(), 60)
        finally:
            await asyncio.sleep(CLEANUP_TAKES_S)
            self.cleaned.set()


async def test_call_runs_on_another_thread_and_returns_its_result() -> None:
    eng = EngineThread()
    try:

        async def work(_cancel: asyncio.Event) -> int:
            await asyncio.sleep(0.01)
            return threading.get_ident()

        ident = await eng.call(work)
        assert ident != threading.get_ident()
        assert await eng.call(work) == ident  # one thread, reused
    finally:
        eng.stop()


async def test_setting_the_callers_cancel_sets_the_engines() -> None:
    eng = EngineThread()
    cancel = asyncio.Event()
    try:

        async def work(inner: asyncio.Event) -> str:
            await asyncio.wait_for(inner.wait(), 10.0)
            return "stopped safely"

        task = asyncio.create_task(eng.call(work, cancel))
        await asyncio.sleep(0.05)
        assert not task.done()
        cancel.set()
        assert await asyncio.wait_for(task, 10.0) == "stopped safely"
    finally:
        eng.stop()


async def test_a_cancel_set_before_the_call_is_seen_at_once() -> None:
    eng = EngineThread()
    cancel = asyncio.Event()
    cancel.set()
    try:

        async def work(inner: asyncio.Event) -> bool:
            return inner.is_set()

        assert await eng.call(work, cancel) is True
    finally:
        eng.stop()


async def test_cancelling_the_caller_cancels_the_engine_task_and_errors_cross() -> None:
    eng = EngineThread()
    eng.cleanup_s = 0.5  # the safe stop's grace: this task ignores it, so it is cut off after
    ended = threading.Event()
    try:

        async def forever(_cancel: asyncio.Event) -> None:
            try:
                await asyncio.sleep(60)
            finally:
                ended.set()

        task = asyncio.create_task(eng.call(forever))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(ended.wait, 5.0)

        async def boom(_cancel: asyncio.Event) -> None:
            raise ValueError("bad plan")

        with pytest.raises(ValueError, match="bad plan"):
            await eng.call(boom)
    finally:
        eng.stop()


@pytest.mark.parametrize("cancels", [1, 2], ids=["cancelled", "cancelled-twice"])
async def test_a_cancelled_caller_returns_only_after_the_engines_cleanup(cancels: int) -> None:
    """However often the caller is cancelled (a second cancel: e.g. asyncio.run's own of what
    is left at exit), it returns only once the engine's cleanup is done, not merely started."""
    eng = EngineThread()
    run = HeldRun()
    try:
        task = asyncio.create_task(eng.call(run))
        assert await asyncio.to_thread(run.started.wait, 10.0)
        for n in range(cancels):
            if n:
                await asyncio.sleep(0.05)
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert run.cleaned.is_set()
    finally:
        eng.stop()


async def test_stop_lets_a_running_tasks_cleanup_finish_before_the_loop_ends() -> None:
    eng = EngineThread()
    run = HeldRun()
    # The caller never hears back: as when the UI loop's worker is gone before on_unmount.
    caller = asyncio.create_task(eng.call(run))
    assert await asyncio.to_thread(run.started.wait, 10.0)
    await asyncio.to_thread(eng.stop)
    assert run.cleaned.is_set()
    await asyncio.wait({caller}, timeout=5.0)  # the run stopped safely: its caller hears so
    assert caller.done() and not caller.cancelled() and caller.result() is None


async def test_stop_gives_up_after_its_timeout() -> None:
    eng = EngineThread()
    started = threading.Event()

    async def stubborn(_cancel: asyncio.Event) -> None:
        started.set()
        while True:  # swallows every cancel: stop() must still return
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(60)

    caller = asyncio.create_task(eng.call(stubborn))
    assert await asyncio.to_thread(started.wait, 10.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.to_thread(eng.stop, 0.3)
    assert loop.time() - t0 < 10.0  # 0.3 s asked; not CLEANUP_S
    # and a caller cancelled after the loop stopped does not wait for what never comes
    caller.cancel()
    await asyncio.wait({caller}, timeout=5.0)
    assert caller.cancelled()


class SlowCleanupEngine(FakeEngine):
    """A run that holds until cancelled, then takes a while to clean up on the engine loop."""

    def __init__(self) -> None:
        super().__init__()
        self.held = HeldRun()

    async def apply(
        self, plan: Plan, on_event: Callable[[Event], None], cancel: asyncio.Event
    ) -> RunResult:
        on_event(RunStarted(RUN_ID, tuple(c.name for c in plan.clusters), ("access",)))
        await self.held(cancel)
        return RunResult(RUN_ID, "ok", "")


async def test_an_app_that_exits_mid_run_still_completes_the_runs_cleanup() -> None:
    engine = SlowCleanupEngine()
    app = AksauditApp(engine, keymap={}, animations=False, signed_in=False)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_apply(fixed_plan("aks-prod"))
        assert await asyncio.to_thread(engine.held.started.wait, 30.0)
        await pilot.pause()
        app.exit(1)  # as an unhandled error, SIGHUP or a closed terminal ends the app
    assert engine.held.cleaned.is_set()


async def test_events_of_a_replaced_job_are_dropped() -> None:
    app = AksauditApp(FakeEngine(), keymap={}, animations=False)  # type: ignore[arg-type]
    model: RunModel = app.verify_model
    old = app.sink(model)
    model.reset("verify")
    new = app.sink(model)  # a new verify started: the old one is still winding down
    new(RunStarted("new-run", ("aks-new",), ("verify",)))
    old(RunStarted("old-run", ("aks-old",), ("verify",)))  # its cleanup's late event
    app.flush_events()
    assert model.run_id == "new-run"
    assert list(model.clusters) == ["aks-new"]
    assert "aks-old/verify" not in model.steps
