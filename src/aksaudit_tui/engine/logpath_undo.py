"""The undo model of a remove: per cluster, the log-path undo tokens it undoes (oldest first)
and the notes the user must read about them. Its JSON shape is what remove journals keep
(``runoptions.RemoveOptions``), read back with every shape checked (a hand-edited file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aksaudit_tui.nodes.record import words


@dataclass(frozen=True)
class LogPathUndo:
    """What a remove undoes on one cluster's log path: the undo tokens (oldest first) and one
    line per thing the user must know about them (a journal that could not be read, a token
    not recorded in the cluster)."""

    tokens: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        return {"tokens": list(self.tokens), "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: Any) -> LogPathUndo:
        """Read back from a remove run's journal (shapes checked: a hand-edited file)."""
        d = data if isinstance(data, dict) else {}
        return cls(words(d, "tokens"), words(d, "notes"))
