"""Log path: how audit lines get from the node's syslog into the workspace."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import RadioButton, RadioSet, Static

from aksaudit_tui.cloud import logpaths
from aksaudit_tui.cloud.models import Cluster
from aksaudit_tui.engine.plan import LogPath
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.widgets.choices import Choice


def explanation(path: str) -> str:
    """What the side panel says about ``path``: its explanation, then its warning."""
    adapter = logpaths.describe(path)
    if adapter.warning:
        return f"{adapter.explanation} Warning: {adapter.warning}."
    return adapter.explanation


def path_changes(path: str, clusters: list[Cluster], facility: str, severity: str) -> list[str]:
    """What choosing ``path`` would change on these clusters, judged from discovery."""
    return logpaths.describe(path).preview(clusters, facility, severity)


class LogPathScreen(WizardScreen):
    """Choose the log path, with what it would change on the picked clusters."""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="logpath-main"):
            with RadioSet(id="logpath"):
                for p in logpaths.ADAPTERS:
                    yield Choice(p.title, id=f"path-{p.name}")
            with VerticalScroll(id="logpath-side"):
                yield Static("", id="logpath-explain", markup=False)
                yield Static("", id="logpath-changes", markup=False)

    def on_mount(self) -> None:
        self.data_changed("all", None)
        self.query_one(RadioSet).focus()

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic not in ("all", "resume"):
            return
        st = self.aks.state
        button = self.query_one(f"#path-{st.log_path}", RadioButton)
        if not button.value:
            button.value = True
        self._explain(st.log_path)

    def _explain(self, path: str) -> None:
        st = self.aks.state
        self.query_one("#logpath-explain", Static).update(explanation(path))
        text = Text("\nWhat it will change:\n", style="bold")
        for line in path_changes(path, st.chosen_clusters, st.facility, st.severity):
            style = "yellow" if "will change" in line else ("red" if "BLOCKED" in line else "")
            text.append(f"• {line}\n", style=style)
        self.query_one("#logpath-changes", Static).update(text)

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        bid = event.pressed.id or ""
        path = bid.removeprefix("path-")
        if path in logpaths.LOG_PATHS:
            self.aks.state.log_path = path
            self._explain(path)
            note = logpaths.describe(path).chosen_note
            if note:
                self.say(note, True)
            else:
                self.say("")

    def selected_path(self) -> LogPath:
        return self.aks.state.log_path
