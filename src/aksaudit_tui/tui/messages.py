"""Messages screens send up to the App; the App sends data down (its state, models and jobs,
which screens read) and tells the active screen what changed (``data_changed``).

A screen never calls the App's methods: everything it wants done is one of these messages, so
the App is the one place that starts, guards and owns long-running work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from textual.message import Message

from aksaudit_tui.engine.plan import Plan

if TYPE_CHECKING:  # types only: the engine's operations load on first use (startup time)
    from aksaudit_tui.engine.logpath_undo import LogPathUndo
    from aksaudit_tui.engine.recorded import RecordedCluster


class Navigate(Message):
    """Go to a named screen (a name in ``tui/registry.py``: ``start``, ``discover`` ...)."""

    def __init__(self, to: str) -> None:
        super().__init__()
        self.to = to


class StartRun(Message):
    """Start a run: ``apply`` the reviewed ``plan`` (None: the wizard's current choices),
    ``resume`` ``run_id``, or ``remove`` ``plan`` (``include_log_path``: undo the log path too;
    ``undo``: per cluster, the log-path undo its record holds, None: from the journal)."""

    def __init__(
        self,
        kind: Literal["apply", "resume", "remove"],
        run_id: str | None = None,
        plan: Plan | None = None,
        include_log_path: bool = False,
        undo: Mapping[str, LogPathUndo] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.run_id = run_id
        self.plan = plan
        self.include_log_path = include_log_path
        self.undo = undo


class PickRemoval(Message):
    """Remove what run ``run_id`` applied on ``clusters`` (a subset of its plan's), with the log
    path's changes too when ``include_log_path``: the App loads the run's plan, probes what
    remove would do (job ``remove_review``) and shows the remove review. With ``recorded``
    (a cluster's own record, job ``recorded``) the plan and undo come from that record
    instead, and ``run_id`` is ignored."""

    def __init__(
        self,
        run_id: str,
        clusters: tuple[str, ...],
        include_log_path: bool,
        recorded: RecordedCluster | None = None,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.clusters = clusters
        self.include_log_path = include_log_path
        self.recorded = recorded


class ScanRecords(Message):
    """Read which clusters hold an aksaudit record (job ``recorded``), for the remove flow: a
    read of the whole fleet, so only the first time, after a run changed records, or ``again``
    (the user asked)."""

    def __init__(self, again: bool = False) -> None:
        super().__init__()
        self.again = again


class CancelRun(Message):
    """Stop the current run safely (the engine records in-flight steps, deletes one-shot pods)."""


class Discover(Message):
    """Discover subscriptions and clusters: ``again`` restarts it, otherwise only the first time."""

    def __init__(self, again: bool = False) -> None:
        super().__init__()
        self.again = again


class RetrySignIn(Message):
    """Look for a sign-in again (the user ran ``az login`` elsewhere); discover if found."""


class ScanLeftovers(Message):
    """Look for privileged pods earlier runs left behind (job ``leftovers``)."""


class CleanUp(Message):
    """Delete what earlier runs left behind (job ``cleanup``)."""


class RefreshRuns(Message):
    """Read the journal's runs again (job ``runs``)."""


class ReviewPlan(Message):
    """Probe what ``plan`` would change, changing nothing (job ``review``)."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan


class ReadStatus(Message):
    """Read coverage of one cluster, or of every cluster (job ``status``); ``probe_nodes``: the
    live probe the user confirmed (check pods on the nodes)."""

    def __init__(self, cluster: str | None = None, probe_nodes: bool = False) -> None:
        super().__init__()
        self.cluster = cluster
        self.probe_nodes = probe_nodes


class StartVerify(Message):
    """Check log arrival for the current plan or the last run (job ``verify``)."""
