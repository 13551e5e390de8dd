"""The workspace of one cluster (``w`` on Discover): the engine's default or any discovered one.

Dismisses with the picked workspace's ARM id, ``""`` for "back to the default", or None when
the user escapes (nothing changes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from aksaudit_tui.cloud.models import Cluster, Workspace
from aksaudit_tui.engine.workspace_choice import WorkspaceChoice

DEFAULT = "default"  # the option id of "the default rule's workspace"


def workspace_line(w: Workspace) -> str:
    """One workspace as the wizard names it: name (resource group, region)."""
    return f"{w.name}  ({w.resource_group}, {w.location})"


class WorkspacePickScreen(ModalScreen[str | None]):
    """Pick the workspace one cluster sends to; enter picks, escape leaves it as it was."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="workspace.cancel"),
    ]

    def __init__(
        self,
        cluster: Cluster,
        default: WorkspaceChoice,
        current: WorkspaceChoice,
        workspaces: Sequence[Workspace],
    ) -> None:
        super().__init__()
        self.cluster = cluster
        self.default = default
        self.current = current
        self.workspaces = list(workspaces)

    def compose(self) -> ComposeResult:
        c = self.cluster
        d = self.default
        if d.workspace is not None:
            first = Text(f"the default: {d.workspace.name} ({d.why_text})")
        else:
            first = Text(f"no default ({d.ask})", style="dim")
        options = [Option(first, id=DEFAULT, disabled=d.workspace is None)]
        options += [Option(Text(workspace_line(w)), id=w.id) for w in self.workspaces]
        with Vertical(classes="modal"):
            yield Label(f"Workspace for {c.name} ({c.location})", markup=False)
            yield OptionList(*options, id="workspace-options")
            yield Static("enter: pick · escape: keep as it is", classes="modal-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        now = self.current.workspace
        if now is not None and self.current.why == "picked":
            options.highlighted = options.get_option_index(now.id)
        elif self.default.workspace is not None:
            options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        oid = event.option.id or ""
        self.dismiss("" if oid == DEFAULT else oid)

    def action_cancel(self) -> None:
        self.dismiss(None)
