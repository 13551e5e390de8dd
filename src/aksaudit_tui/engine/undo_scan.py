"""This machine's journals read for a remove's log-path undo: the tokens every apply of the
log path journaled for a cluster, and those a remove from the cluster's record kept there when
it left the log path. Reads only; a journal that cannot be read is named, never trusted."""

from __future__ import annotations

from typing import Any

from aksaudit_tui.engine.journal import Journal, RunRecord
from aksaudit_tui.engine.logpath_undo import LogPathUndo
from aksaudit_tui.engine.plan import ClusterTarget, Plan
from aksaudit_tui.engine.runoptions import RemoveOptions
from aksaudit_tui.errors import UserError


def undo_tokens(journal: Journal, plan: Plan, cluster: ClusterTarget) -> LogPathUndo:
    """The log-path undo tokens every apply of this log path recorded for the cluster in this
    machine's journal, and those a remove from the cluster's record kept when it left the log
    path as it was (the record went with the nodes; its tokens stay in that run's options, as
    the run's warning says). A journal that cannot be read holds no token we could trust: it
    is skipped, and a note says which one and why (its changes stay unless undone by hand)."""
    tokens: list[str] = []
    unreadable: list[str] = []
    runs = journal.list_runs(unreadable)
    notes = [_unreadable(f"journal {where}") for where in unreadable]
    for r in runs:
        if r.kind not in ("apply", "remove"):
            continue
        try:
            rec = journal.load(r.run_id)
            log_path = rec.plan.log_path
        except UserError as exc:  # gone since listed, bad JSON, another journal version
            notes.append(_unreadable(f"journal of run {r.run_id} ({exc})"))
            continue
        except OSError as exc:  # unreadable file (permissions, I/O)
            notes.append(_unreadable(f"journal of run {r.run_id} ({exc.strerror or exc})"))
            continue
        except (KeyError, TypeError, ValueError) as exc:  # a plan the journal mangled
            notes.append(_unreadable(f"journal of run {r.run_id} (malformed plan: {exc!r})"))
            continue
        if log_path != plan.log_path:
            continue
        if r.kind == "apply":
            tokens.extend(_journaled_undo(rec, cluster.name))
        else:  # already checked to name the cluster's own resources when that remove was built
            tokens.extend(RemoveOptions.from_json(rec.options).kept_undo(cluster.name))
    return LogPathUndo(tuple(dict.fromkeys(tokens)), tuple(notes))


def _unreadable(journal: str) -> str:
    """One line: which journal could not be read and why, and what that means for the remove."""
    return f"{journal} could not be read: the log path changes it recorded (if any) stay"


def _journaled_undo(rec: RunRecord, cluster: str) -> list[str]:
    """The undo tokens one apply journaled for ``cluster`` (shapes checked, not trusted)."""
    undo: Any = rec.doc.get("clusters")
    for key in (cluster, "steps", "log-path", "undo"):  # read only: never add what is missing
        undo = undo.get(key) if isinstance(undo, dict) else None
    return [t for t in undo if isinstance(t, str)] if isinstance(undo, list) else []
