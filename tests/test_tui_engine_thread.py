"""The App's engine thread: engine calls run on a loop of their own, cancel crosses over."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aksaudit_tui.tui.engine_thread import EngineThread


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
