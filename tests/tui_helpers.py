"""Helpers for the TUI tests: build the app on the real engine + emulator, walk the wizard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine.service import Engine
from aksaudit_tui.tui.app import AksauditApp


def engine_for(emu: Any, state_dir: Path) -> Engine:
    info = emu.info
    settings = CloudSettings(
        arm_endpoint=info.arm_endpoint,
        logs_endpoint=info.logs_endpoint,
        ca_bundle=str(info.ca_bundle),
        access_token=info.token,
        kubeconfig=str(info.kubeconfig),
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
