"""The wizard's screens, by the names the App navigates with.

Each screen's module is imported when that screen is first shown, so startup pays only for the
first screen (startup time is a tracked figure: bench/startup.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from textual.screen import Screen

# name -> (module in this package, class)
_WHERE: dict[str, tuple[str, str]] = {
    "start": ("start", "StartScreen"),
    "discover": ("discover", "DiscoverScreen"),
    "logpath": ("logpath", "LogPathScreen"),
    "rules": ("rules", "RulesScreen"),
    "facility": ("facility", "FacilityScreen"),
    "delivery": ("delivery", "DeliveryScreen"),
    "review": ("review", "ReviewScreen"),
    "run": ("run", "RunScreen"),
    "verify": ("verify", "VerifyScreen"),
    "status": ("status", "StatusScreen"),
}
NAMES: tuple[str, ...] = tuple(_WHERE)


def screen_class(name: str) -> Callable[[], Screen[Any]]:
    """The screen class for ``name`` (KeyError for an unknown name), importing its module."""
    module, cls = _WHERE[name]
    found: Callable[[], Screen[Any]] = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    return found


def __getattr__(name: str) -> Any:
    if name == "SCREENS":  # every screen at once (imports them all)
        return {n: screen_class(n) for n in _WHERE}
    raise AttributeError(name)
