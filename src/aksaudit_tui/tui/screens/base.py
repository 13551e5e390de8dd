"""The shared frame of every wizard screen: header, breadcrumb, body, nav bar, footer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Button, Footer, Header

from aksaudit_tui.tui import registry
from aksaudit_tui.tui.messages import Navigate
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.widgets.navbar import NavBar
from aksaudit_tui.tui.widgets.stepbar import StepBar

if TYPE_CHECKING:
    from aksaudit_tui.tui.app import AksauditApp


class WizardScreen(Screen[None]):
    """A screen of the wizard: the frame, Back/Next, and the two ways it talks to the App.

    Its name, Back and Next come from its row in ``tui/registry.py`` (never written here).
    Subclasses implement ``compose_body``; ``before_next`` stores the screen's choices,
    (also whenever the screen is left), ``check_next`` says why Next is not possible yet,
    ``go_next`` overrides where Next goes.
    Up: the screen posts messages (``tui/messages.py``) and never calls the App's methods.
    Down: it reads the App's state, models and jobs (``self.aks``) and re-renders in
    ``data_changed(topic, changes)``, which the App calls when something it may show changed.
    Children that come and go with the data (one input per picked cluster) live in a
    ``KeyedColumn`` (``widgets/keyed.py``), never mounted/removed by hand: mounting new children
    before the old ones are gone raised ``DuplicateIds`` (issue 12).
    """

    NEXT_LABEL: ClassVar[str] = "Next ▸"
    BINDINGS: ClassVar[list[BindingType]] = [
        # the App's ``?`` (hidden there), shown first in every screen's footer: the key that
        # lists the others must not be the one a narrow footer cuts off
        Binding("question_mark", "app.keys", "Keys", id="app.keys"),
        Binding("escape", "back", "Back", id="wizard.back"),
        Binding("ctrl+n", "next", "Next", id="wizard.next", priority=True),
    ]

    @property
    def aks(self) -> AksauditApp:
        return cast("AksauditApp", self.app)

    @property
    def screen_name(self) -> str:
        """This screen's name in the registry ("" for a screen not in it)."""
        found = registry.entry_of(type(self))
        return found.name if found else ""

    @property
    def back_to(self) -> str | None:
        """Where Back goes (the registry's answer), or None."""
        name = self.screen_name
        return registry.back_of(name) if name else None

    @property
    def next_to(self) -> str | None:
        """Where Next goes (the registry's answer), or None: no Next on this screen."""
        name = self.screen_name
        return registry.next_of(name) if name else None

    def compose(self) -> ComposeResult:
        yield Header()
        yield StepBar(self.screen_name)
        yield from self.compose_body()
        yield NavBar(
            "◂ Back" if self.back_to else None,
            self.NEXT_LABEL if self.next_to is not None else None,
        )
        yield Footer(compact=True)

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
        back = self.back_to
        if back:
            self.before_next()
            self.post_message(Navigate(back))

    def action_next(self) -> None:
        if self.next_to is None:
            return
        self.before_next()
        problem = self.check_next()
        if problem:
            self.say(problem, error=True)
            return
        self.say("")
        self.go_next()

    def go_next(self) -> None:
        """Go to the next screen (the review screen asks first and starts the run instead)."""
        target = self.next_to
        if target:
            self.post_message(Navigate(target))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back" and not self.back_to:
            return False
        return not (action == "next" and self.next_to is None)

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

    def on_screen_suspend(self, _event: Any) -> None:
        # However the screen is left (F2, F3, the palette, a modal on top), what the user typed
        # counts: otherwise Review showed the old namespace after the palette's "Review plan".
        self.before_next()
