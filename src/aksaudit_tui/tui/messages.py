"""Messages screens send up to the App (the App sends data down as attributes)."""

from __future__ import annotations

from textual.message import Message


class Navigate(Message):
    """Go to a named screen (``start``, ``discover`` ... ``status``)."""

    def __init__(self, to: str) -> None:
        super().__init__()
        self.to = to


class StartRun(Message):
    """Start a run: ``kind`` is ``apply`` (the current plan) or ``resume`` (``run_id``)."""

    def __init__(self, kind: str, run_id: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.run_id = run_id
