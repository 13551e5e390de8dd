"""A run's lifecycle at its hard edges, on the emulator with the real clients: a run whose own
task is cancelled outright (the engine thread's last resort after its safe stop ran out of
time) still unwinds its steps before the kube clients close, deletes its privileged pods,
records the run as cancelled, and leaves no task or client behind."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.engine import runner
from aksaudit_tui.engine.events import Event, NodeUpdate, RunFinished, StepFinished
from engine_helpers import add_fault, dev_ama_oneshot, linux_nodes, oneshot_pods


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
