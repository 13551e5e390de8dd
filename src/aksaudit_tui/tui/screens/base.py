"""The shared frame of every wizard screen: header, breadcrumb, body, nav bar, footer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Button, Footer, Header

from aksaudit_tui.tui.messages import Navigate
from aksaudit_tui.tui.runmodel import Changes
from aksaudit_tui.tui.widgets.navbar import NavBar
from aksaudit_tui.tui.widgets.stepbar import StepBar

if TYPE_CHECKING:
    from aksaudit_tui.tui.app import AksauditApp


class WizardScreen(Screen[None]):
    """Subclasses set ``STEP``, ``BACK``, ``NEXT`` and implement ``compose_body``."""

    STEP: ClassVar[str] = ""
    BACK: ClassVar[str | None] = None
    NEXT: ClassVar[str | None] = None
    NEXT_LABEL: ClassVar[str] = "Next ▸"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="wizard.back"),
        Binding("ctrl+n", "next", "Next", id="wizard.next", priority=True),
    ]

    @property
    def aks(self) -> AksauditApp:
        return cast("AksauditApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield StepBar(self.STEP)
        yield from self.compose_body()
        yield NavBar(
            "◂ Back" if self.BACK else None, self.NEXT_LABEL if self.NEXT is not None else None
        )
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    # --- messages and errors in the screen ------------------------------------------------------

    def say(self, text: str, error: bool = False) -> None:
        self.query_one(NavBar).say(text, error)

    # --- navigation ------------------------------------------------------------------------------

    def check_next(self) -> str | None:
        """Why Next is not possible yet (shown in the nav bar), or None."""
        return None

    def before_next(self) -> None:
        """Store this screen's choices into the wizard state."""

    def action_back(self) -> None:
        if self.BACK:
            self.before_next()
            self.post_message(Navigate(self.BACK))

    def action_next(self) -> None:
        if self.NEXT is None:
            return
        self.before_next()
        problem = self.check_next()
        if problem:
            self.say(problem, error=True)
            return
        self.say("")
        self.go_next()

    def go_next(self) -> None:
        if self.NEXT:
            self.post_message(Navigate(self.NEXT))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back" and not self.BACK:
            return False
        return not (action == "next" and self.NEXT is None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "nav-back":
            event.stop()
            self.action_back()
        elif event.button.id == "nav-next":
            event.stop()
            self.action_next()

    # --- data from the App ------------------------------------------------------------------------

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        """The App calls this when something this screen may show has changed."""

    def on_screen_resume(self, _event: Any) -> None:
        self.data_changed("resume", None)
