"""The emulator: Azure (ARM, Log Analytics query API) and Kubernetes on 127.0.0.1 over HTTPS.

A separate program: it imports nothing from engine/cloud/tui/nodes/presets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aksaudit_emulator.scenario import load_scenario

if TYPE_CHECKING:
    from aksaudit_emulator.server import Emulator, EmulatorInfo

__all__ = ["Emulator", "EmulatorInfo", "load_scenario"]


def __getattr__(name: str) -> Any:
    # aiohttp and trustme load only when the server is wanted (CLI startup time is tracked)
    if name in ("Emulator", "EmulatorInfo"):
        from aksaudit_emulator import server

        return getattr(server, name)
    raise AttributeError(name)
