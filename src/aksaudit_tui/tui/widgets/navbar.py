"""Back / Next buttons (mouse) plus one line for in-screen messages and errors."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static


class NavBar(Horizontal):
    DEFAULT_CSS = """
    NavBar { height: 1; padding: 0 1; }
    NavBar #nav-message { width: 1fr; height: 1; color: $text-muted; }
    NavBar #nav-message.-error { color: $error; text-style: bold; }
    NavBar Button { margin-left: 1; }
    """

    def __init__(self, back: str | None = "◂ Back", next_label: str | None = "Next ▸") -> None:
        super().__init__()
        self._back = back
        self._next = next_label

    def compose(self) -> ComposeResult:
        yield Static("", id="nav-message", markup=False)
        if self._back:
            yield Button(self._back, id="nav-back", compact=True)
        if self._next:
            yield Button(self._next, id="nav-next", variant="primary", compact=True)

    def say(self, text: str, error: bool = False) -> None:
        msg = self.query_one("#nav-message", Static)
        if str(msg.content) != text:
            # a fixed 1-line box: no relayout (the run screen says something every redraw)
            msg.update(text, layout=False)
        msg.set_class(error, "-error")

    def set_next_label(self, label: str) -> None:
        for b in self.query("#nav-next").results(Button):
            b.label = label

    def show_next(self, shown: bool) -> None:
        """Hide Next where it leads nowhere for what the screen shows (a removal's run)."""
        for b in self.query("#nav-next").results(Button):
            if b.display != shown:
                b.display = shown
