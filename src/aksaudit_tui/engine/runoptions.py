"""How a run was asked to run, as its journal keeps it (the ``options`` object): typed here,
written and read explicitly, so a resume runs what the first attempt was asked to run.

The JSON layout is the journal's (version 1) and stays readable as earlier versions wrote it:
an apply's ``{"verify": bool}``; a remove's ``{"include_log_path": bool, "undo": {cluster:
{"tokens": [...], "notes": [...]}}}``, ``undo`` only for a remove built from the clusters'
records. Reading checks every shape (a journal is a file someone may have edited): a value
of the wrong type reads as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aksaudit_tui.engine.logpath_undo import LogPathUndo


@dataclass(frozen=True)
class ApplyOptions:
    """An apply's: whether it verifies the nodes' records after the steps."""

    verify: bool

    def to_json(self) -> dict[str, Any]:
        return {"verify": self.verify}


@dataclass(frozen=True)
class RemoveOptions:
    """A remove's: whether it also undoes the log path, and (a remove from the clusters'
    records) each cluster's undo as its record held it; None: this machine's journal says."""

    include_log_path: bool
    undo: Mapping[str, LogPathUndo] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"include_log_path": self.include_log_path}
        if self.undo is not None:
            out["undo"] = {name: u.to_json() for name, u in self.undo.items()}
        return out

    @classmethod
    def from_json(cls, data: Any) -> RemoveOptions:
        """A remove journal's ``options`` (anything not of its shape reads as absent)."""
        d = data if isinstance(data, dict) else {}
        given = d.get("undo")
        undo = (
            {str(name): LogPathUndo.from_json(u) for name, u in given.items()}
            if isinstance(given, dict)
            else None
        )
        return cls(include_log_path=d.get("include_log_path") is True, undo=undo)

    def undo_of(self, cluster: str) -> LogPathUndo:
        """The undo the records named for ``cluster`` (none named: nothing)."""
        return (self.undo or {}).get(cluster) or LogPathUndo()

    def kept_undo(self, cluster: str) -> tuple[str, ...]:
        """The tokens a remove from the clusters' records left undone for ``cluster``: it
        kept the log path, and the record went with the nodes, so this journal holds them."""
        if self.include_log_path or self.undo is None:
            return ()
        return self.undo_of(cluster).tokens
