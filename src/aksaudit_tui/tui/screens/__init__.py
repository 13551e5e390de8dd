"""The wizard's screens, by the names the App navigates with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen

from aksaudit_tui.tui.screens.delivery import DeliveryScreen
from aksaudit_tui.tui.screens.discover import DiscoverScreen
from aksaudit_tui.tui.screens.facility import FacilityScreen
from aksaudit_tui.tui.screens.logpath import LogPathScreen
from aksaudit_tui.tui.screens.review import ReviewScreen
from aksaudit_tui.tui.screens.rules import RulesScreen
from aksaudit_tui.tui.screens.run import RunScreen
from aksaudit_tui.tui.screens.start import StartScreen
from aksaudit_tui.tui.screens.status import StatusScreen
from aksaudit_tui.tui.screens.verify import VerifyScreen

SCREENS: dict[str, Callable[[], Screen[Any]]] = {
    "start": StartScreen,
    "discover": DiscoverScreen,
    "logpath": LogPathScreen,
    "rules": RulesScreen,
    "facility": FacilityScreen,
    "delivery": DeliveryScreen,
    "review": ReviewScreen,
    "run": RunScreen,
    "verify": VerifyScreen,
    "status": StatusScreen,
}
