"""The wizard breadcrumb: where the user is and what comes next (the steps are the registry's
wizard rows)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from aksaudit_tui.tui.registry import WIZARD_STEPS


class StepBar(Static):
    """One line: ``Discover › Log path › ...`` with the current step highlighted (fits 80)."""

    DEFAULT_CSS = """
    StepBar { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def on_mount(self) -> None:
        self.update(self.render_steps())

    def render_steps(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        names = [e.name for e in WIZARD_STEPS]
        cur = names.index(self.current) if self.current in names else -1
        for i, title in enumerate(e.title for e in WIZARD_STEPS):
            if i:
                text.append(" › ", style="dim")
            if i == cur:
                text.append(f" {title} ", style="bold reverse")
            elif i < cur:
                text.append(title, style="")
            else:
                text.append(title, style="dim")
        return text
