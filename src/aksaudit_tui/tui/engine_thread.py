"""The engine's own event loop, on a thread of its own, so the UI loop only draws.

A run does its work on the loop it is awaited on: Azure SDK responses deserialised into models
(50-100 ms for a scale set's instance list), journal writes with fsync, kube watch bookkeeping.
On the UI loop each of those blocks every key press and frame for as long (bench/ui_lag.py
``--stacks``). ``EngineThread.call`` runs an engine coroutine on a private loop in a daemon
thread instead and awaits its result from the UI loop; the UI loop then only wakes for its
own timers and the batched events (the engine's ``on_event`` sink is a thread-safe deque).

Cancelling crosses the threads too: the engine gets an ``asyncio.Event`` of its own loop, set
(thread-safely) when the caller's event is set; cancelling the awaiting task cancels the
engine's task.

Cleanup is never cut off: a cancelled run still deletes its one-shot pods, its namespace and
fence, and records its steps as interrupted, on the engine loop, after the cancel. So a
cancelled ``call`` asks the engine to stop safely (its cancel event, as the user's cancel does;
a hard ``Task.cancel`` skipped the runner's bookkeeping and closed the kube clients under the
steps still cleaning up) and returns only once the engine's task has ended (at most
``CLEANUP_S``, then the task is cancelled outright and given ``_CUT_S`` to unwind its steps),
and ``stop`` does the same for every call
still on the loop before it stops the loop:
``asyncio.run`` gave the same guarantee when runs were awaited on the UI loop, and an app that
exits mid-run (an error, SIGHUP, a closed terminal) must not leave privileged pods behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# How long a cancelled run may take to clean up before the loop is stopped under it: a one-shot
# rollout's cleanup waits up to 60 s for its pods to be gone (nodes/delivery.py
# ``_cleanup_oneshot``), then deletes its ConfigMap, namespace and fence and writes the journal
# (a few API calls, seconds each); 30 s on top for those.
CLEANUP_S = 90.0


class EngineThread:
    """A daemon thread running one asyncio loop for engine calls (started on first use)."""

    def __init__(self, name: str = "aksaudit-engine") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.cleanup_s = CLEANUP_S
        self._cancels: set[asyncio.Event] = set()  # each call's engine event (engine loop only)

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def call(
        self,
        make: Callable[[asyncio.Event], Awaitable[T]],
        cancel: asyncio.Event | None = None,
    ) -> T:
        """Await ``make(engine_cancel)`` run on the engine loop; ``cancel`` (an event of the
        caller's loop) sets ``engine_cancel`` when it is set. Cancelled, it cancels the engine's
        task and returns (re-raising) only once that task has ended (its cleanup included), the
        engine loop has stopped, or ``CLEANUP_S`` has passed."""
        loop = self._ensure()
        caller = asyncio.get_running_loop()
        done: asyncio.Future[T] = caller.create_future()
        ended: asyncio.Future[None] = caller.create_future()
        inner: list[asyncio.Event] = []
        engine_task: list[asyncio.Task[T]] = []

        async def body() -> T:
            task = asyncio.current_task()
            assert task is not None
            engine_task.append(task)
            event = asyncio.Event()
            inner.append(event)
            self._cancels.add(event)
            if cancel is not None and cancel.is_set():
                event.set()
            try:
                return await make(event)
            finally:
                self._cancels.discard(event)

        def settle(f: concurrent.futures.Future[T]) -> None:  # on the caller's loop
            if not ended.done():
                ended.set_result(None)
            if done.done():
                return  # the caller was cancelled: nobody waits for the result
            if f.cancelled():
                done.cancel()
            elif (exc := f.exception()) is not None:
                done.set_exception(exc)
            else:
                done.set_result(f.result())

        def on_engine_done(f: concurrent.futures.Future[T]) -> None:  # on the engine's thread
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone: nobody waits
                caller.call_soon_threadsafe(settle, f)

        def set_inner() -> None:
            for event in inner:
                event.set()

        def cancel_engine() -> None:
            for task in engine_task:
                task.cancel()

        # Not wrap_future: its cancel would mark the run finished at once (and raise into
        # a closed loop's callback); here the run's own task is cancelled and waited for.
        asyncio.run_coroutine_threadsafe(body(), loop).add_done_callback(on_engine_done)
        relay: asyncio.Task[None] | None = None
        if cancel is not None:

            async def pass_on() -> None:
                await cancel.wait()
                # body() runs before this callback on the engine loop (FIFO): its event exists
                loop.call_soon_threadsafe(set_inner)

            relay = asyncio.create_task(pass_on())
        try:
            return await done
        except asyncio.CancelledError:
            # Stop safely, as the user's cancel does (body() ran before this callback on the
            # engine loop: FIFO), and wait for the engine's task to end, cleanup included,
            # through further cancels of this task (each would otherwise drop the cleanup);
            # not past the loop's stop. Only a task that outlives CLEANUP_S is cut off.
            with contextlib.suppress(RuntimeError):  # the engine loop is closed already
                loop.call_soon_threadsafe(set_inner)
            deadline = caller.time() + self.cleanup_s
            cut = False
            while not ended.done() and loop.is_running():
                left = deadline - caller.time()
                if left <= 0 and cut:
                    break
                if left <= 0:
                    # cancelled outright, the run still unwinds its steps (their rollouts
                    # delete their pods) before its clients close: give it _CUT_S for that
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(cancel_engine)
                    cut, deadline = True, caller.time() + _CUT_S
                    continue
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({ended}, timeout=min(left, 0.25))
            raise
        finally:
            if relay is not None:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay

    def stop(self, timeout: float | None = None) -> None:
        """Ask every call still on the engine loop to stop safely (its cancel event), wait (at
        most ``timeout``, default ``cleanup_s``) until they have ended, their cleanup included,
        cancel what is left, then stop the loop. Blocks: call it off the UI loop
        (``asyncio.to_thread``)."""
        timeout = self.cleanup_s if timeout is None else timeout
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            cut_s = min(_CUT_S, timeout)  # a short stop asked for is short throughout
            drain = _drain(self._cancels, timeout, cut_s)
            asyncio.run_coroutine_threadsafe(drain, loop).result(timeout + cut_s + 5.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5.0)
        if not thread.is_alive():
            loop.close()


# What a task cancelled outright at the end is given to unwind: a run's steps are cancelled and
# awaited (engine/runner.py), and a one-shot rollout's ``finally`` deletes its pods then, a few
# API calls (seconds each on a slow API server).
_CUT_S = 20.0


async def _drain(cancels: set[asyncio.Event], wait_s: float, cut_s: float) -> None:
    """Set every call's cancel event (the engine's safe stop) and wait until the loop's tasks
    have ended, or ``wait_s``; then cancel what is left (not what was cancelled already: a
    second cancel would cut its cleanup off) and give it ``cut_s``."""
    for event in list(cancels):
        event.set()
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=wait_s)
    for t in pending:
        if not t.cancelling():
            t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=cut_s)
