"""Small modal screens: confirm, prompt for a path, view a long text, the keys of a screen."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static, TextArea


class ConfirmScreen(ModalScreen[bool]):
    """Yes / no; escape or n is no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "no", "No", id="confirm.no"),
        Binding("y", "yes", "Yes", id="confirm.yes"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static(self.question, markup=False, classes="modal-text")
            with Horizontal(classes="modal-buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="warning", compact=True)
                yield Button(f"{self.no_label} (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class PromptScreen(ModalScreen[str | None]):
    """One line of input (a file path); enter accepts, escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Label(self.question, markup=False)
            yield Input(self.value, id="prompt", compact=True)
            yield Static("enter: OK · escape: cancel", classes="modal-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextViewScreen(ModalScreen[None]):
    """A read-only text (node script, commands) with copy to the clipboard."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="view.close"),
        Binding("c", "copy", "Copy", id="view.copy"),
    ]

    def __init__(self, title: str, text: str, language: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.language = language

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal modal-wide"):
            yield Label(self.title_text, markup=False, classes="modal-title")
            yield TextArea(
                self.text,
                read_only=True,
                show_line_numbers=True,
                language=self.language,
                id="view-text",
            )
            yield Static("c: copy to clipboard · escape: close", classes="modal-hint")

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify("Copied to the clipboard (OSC 52).")

    def action_close(self) -> None:
        self.dismiss(None)


class KeysScreen(ModalScreen[None]):
    """``?``: every key of the screen underneath (its bindings, the focused widget's and the
    app's, as remapped by the user's keymap) with what each does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="view.close"),
    ]

    def __init__(self, title: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal modal-wide"):
            yield Label(self.title_text, markup=False, classes="modal-title")
            table: DataTable[str] = DataTable(id="keys", cursor_type="row", zebra_stripes=True)
            table.add_columns("Key", "What it does")
            table.add_rows(self.rows)
            yield table
            yield Static("escape: close", classes="modal-hint")

    def action_close(self) -> None:
        self.dismiss(None)
