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
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class EngineThread:
    """A daemon thread running one asyncio loop for engine calls (started on first use)."""

    def __init__(self, name: str = "aksaudit-engine") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

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
        caller's loop) sets ``engine_cancel`` when it is set."""
        loop = self._ensure()
        inner: list[asyncio.Event] = []

        async def body() -> T:
            event = asyncio.Event()
            inner.append(event)
            if cancel is not None and cancel.is_set():
                event.set()
            return await make(event)

        done = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(body(), loop))
        relay: asyncio.Task[None] | None = None
        if cancel is not None:

            def set_inner() -> None:
                for event in inner:
                    event.set()

            async def pass_on() -> None:
                await cancel.wait()
                # body() runs before this callback on the engine loop (FIFO): its event exists
                loop.call_soon_threadsafe(set_inner)

            relay = asyncio.create_task(pass_on())
        try:
            return await done  # a cancelled await cancels the engine's task too (wrap_future)
        finally:
            if relay is not None:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay

    def stop(self) -> None:
        """Stop the loop (tasks still on it are dropped: call when nothing runs there)."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5.0)
        if not thread.is_alive():
            loop.close()
