"""The one table of screens: name, module, class, title, and where each sits in the wizard.

Everything that knows the wizard's order reads it from here: the App (which names it can
show), ``WizardScreen`` (Back and Next), the step bar (the breadcrumb) and the tests. The table
order is the Next order: each screen's Next is the following row, its Back the row before,
unless the row names another Back (the run screen goes back to the start screen: the run goes
on in the background; status goes back where it was opened from, ``start`` by default) or
another Next (status has none; the remove flow's review goes on to the run screen).

A screen's module is imported when it is first shown, so startup pays only for the first
screen (startup time is a tracked figure: bench/startup.py). This module imports no Textual at
run time.

Where a new screen goes: a module in ``tui/screens/`` with a ``WizardScreen`` subclass, and one
row here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.screen import Screen

SCREENS_PACKAGE = "aksaudit_tui.tui.screens"
PREVIOUS = "<previous>"  # ``back`` default: the row before
FOLLOWING = "<following>"  # ``next`` default: the row after


@dataclass(frozen=True)
class ScreenEntry:
    """One screen: its name (what ``Navigate`` takes), where its class lives, its title, whether
    it is a wizard step (shown in the step bar), where Back goes when not the row before, and
    where Next goes when not the row after."""

    name: str
    module: str  # in ``aksaudit_tui.tui.screens``
    cls: str
    title: str
    in_wizard: bool
    back: str | None = PREVIOUS
    next: str | None = FOLLOWING


SCREENS: tuple[ScreenEntry, ...] = (
    ScreenEntry("start", "start", "StartScreen", "Start", in_wizard=False, back=None),
    ScreenEntry("discover", "discover", "DiscoverScreen", "Discover", in_wizard=True),
    ScreenEntry("logpath", "logpath", "LogPathScreen", "Log path", in_wizard=True),
    ScreenEntry("rules", "rules", "RulesScreen", "Rules", in_wizard=True),
    ScreenEntry("facility", "facility", "FacilityScreen", "Facility", in_wizard=True),
    ScreenEntry("delivery", "delivery", "DeliveryScreen", "Delivery", in_wizard=True),
    ScreenEntry("review", "review", "ReviewScreen", "Review", in_wizard=True),
    ScreenEntry("run", "run", "RunScreen", "Run", in_wizard=True, back="start"),
    ScreenEntry("verify", "verify", "VerifyScreen", "Verify", in_wizard=True),
    ScreenEntry(
        "status", "status", "StatusScreen", "Status", in_wizard=False, back="start", next=None
    ),
    # remove: pick an applied run and its clusters, review what remove does, confirm, run
    ScreenEntry("remove", "remove", "RemoveScreen", "Remove", in_wizard=False, back="start"),
    ScreenEntry(
        "remove-review",
        "remove_review",
        "RemoveReviewScreen",
        "Remove: review",
        in_wizard=False,
        next="run",
    ),
)
NAMES: tuple[str, ...] = tuple(e.name for e in SCREENS)
WIZARD_STEPS: tuple[ScreenEntry, ...] = tuple(e for e in SCREENS if e.in_wizard)
_BY_NAME: dict[str, ScreenEntry] = {e.name: e for e in SCREENS}


def entry(name: str) -> ScreenEntry:
    """The row for ``name`` (KeyError for an unknown name)."""
    return _BY_NAME[name]


def entry_of(cls: type[Any]) -> ScreenEntry | None:
    """The row whose class is ``cls`` (or the nearest registered base class), else None."""
    for klass in cls.__mro__:
        for e in SCREENS:
            if klass.__name__ == e.cls and klass.__module__ == f"{SCREENS_PACKAGE}.{e.module}":
                return e
    return None


def back_of(name: str) -> str | None:
    """Where Back goes from ``name``: the row's own ``back``, else the row before (or None)."""
    e = _BY_NAME[name]
    if e.back != PREVIOUS:
        return e.back
    i = NAMES.index(name)
    return NAMES[i - 1] if i > 0 else None


def next_of(name: str) -> str | None:
    """Where Next goes from ``name``: the row's own ``next``, else the row after (None for the
    last row)."""
    e = _BY_NAME[name]
    if e.next != FOLLOWING:
        return e.next
    i = NAMES.index(name)
    return NAMES[i + 1] if i + 1 < len(NAMES) else None


def screen_class(name: str) -> type[Screen[Any]]:
    """The screen class for ``name`` (KeyError for an unknown name), importing its module."""
    e = _BY_NAME[name]
    found: type[Screen[Any]] = getattr(
        importlib.import_module(f"{SCREENS_PACKAGE}.{e.module}"), e.cls
    )
    return found
