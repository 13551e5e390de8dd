"""The live picture of one run, folded from the engine's events.

The App owns one ``RunModel``; engine events are queued as they come (from any thread) and
folded in batches on a timer, and the run and verify screens render from the model. Keeping it
outside the screens means a screen can be left and re-entered without losing anything.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from aksaudit_tui.engine.events import (
    Event,
    NodeArrival,
    NodeUpdate,
    RunFinished,
    RunStarted,
    RunWarning,
    StepFinished,
    StepLog,
    StepProgress,
    StepStarted,
    VerifyWaiting,
)

LOG_LINES = 500  # per step / per node; older lines are dropped (a long keeper log is endless)

STEP_ICONS: dict[str, str] = {
    "pending": "·",
    "running": "▶",
    "done": "✔",
    "already": "=",
    "failed": "✖",
    "skipped": "–",
    "interrupted": "‖",
}

FINAL_PHASES = ("compliant", "failed", "skipped", "removed")


@dataclass
class StepRow:
    cluster: str
    step: str
    title: str
    state: str = "pending"
    done: int = 0
    total: int = 0
    message: str = ""
    changes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.cluster}/{self.step}"

    def label(self) -> str:
        icon = STEP_ICONS.get(self.state, "?")
        count = f" {self.done}/{self.total}" if self.total else ""
        return f"{icon} {self.cluster}: {self.step}{count}"


@dataclass
class NodeState:
    cluster: str
    node: str
    pool: str = ""
    os: str = ""
    phase: str = "pending"
    audit_version: str | None = None
    result: str = ""

    @property
    def key(self) -> str:
        return f"{self.cluster}/{self.node}"


@dataclass
class ArrivalRow:
    cluster: str
    node: str
    arrived: bool
    records: int = 0
    last_seen: str | None = None
    reason: str = ""

    @property
    def key(self) -> str:
        return f"{self.cluster}/{self.node}"


@dataclass
class Changes:
    """What one batch touched, so screens update only those rows."""

    started: bool = False
    steps: set[str] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)
    logs: set[str] = field(default_factory=set)  # step keys and "node:<cluster>/<node>"
    arrivals: set[str] = field(default_factory=set)
    waiting: bool = False
    finished: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.started
            or self.steps
            or self.nodes
            or self.logs
            or self.arrivals
            or self.waiting
            or self.finished
        )

    def merge(self, other: Changes) -> None:
        """Add ``other`` to this one (a screen coalescing batches between redraws)."""
        self.started |= other.started
        self.steps |= other.steps
        self.nodes |= other.nodes
        self.logs |= other.logs
        self.arrivals |= other.arrivals
        self.waiting |= other.waiting
        self.finished |= other.finished


@dataclass
class RunModel:
    run_id: str | None = None
    kind: str = "apply"  # apply | resume | remove | verify
    clusters: tuple[str, ...] = ()
    step_ids: tuple[str, ...] = ()
    steps: dict[str, StepRow] = field(default_factory=dict)
    nodes: dict[str, NodeState] = field(default_factory=dict)
    logs: dict[str, deque[str]] = field(default_factory=dict)
    # lines ever added per log key (the deque drops old ones): lets a view append only new lines
    log_total: Counter[str] = field(default_factory=Counter)
    arrivals: dict[str, ArrivalRow] = field(default_factory=dict)
    arrived: int = 0
    expected: int = 0
    seconds_left: float | None = None
    waiting_at: float | None = None  # monotonic time of the last VerifyWaiting (local countdown)
    outcome: str | None = None
    message: str = ""
    error: str | None = None  # the engine raised: shown in the screen, never a traceback
    warnings: list[str] = field(default_factory=list)
    # the step that started last: the log pane follows it until the user picks another
    current: str | None = None

    @property
    def running(self) -> bool:
        return self.run_id is not None and self.outcome is None and self.error is None

    def reset(self, kind: str) -> None:
        self.__init__()  # type: ignore[misc]
        self.kind = kind

    # --- folding -----------------------------------------------------------------------------

    def apply(self, events: Sequence[Event]) -> Changes:
        ch = Changes()
        for ev in events:
            self._one(ev, ch)
        return ch

    def _log(self, key: str, line: str, ch: Changes) -> None:
        buf = self.logs.get(key)
        if buf is None:
            buf = self.logs[key] = deque(maxlen=LOG_LINES)
        buf.append(line)
        self.log_total[key] += 1
        ch.logs.add(key)

    def _step(self, cluster: str, step: str) -> StepRow:
        key = f"{cluster}/{step}"
        row = self.steps.get(key)
        if row is None:
            row = self.steps[key] = StepRow(cluster, step, step)
        return row

    def _one(self, ev: Event, ch: Changes) -> None:
        if isinstance(ev, RunStarted):
            self.run_id = ev.run_id
            self.clusters = ev.clusters
            self.step_ids = ev.steps
            for cluster in ev.clusters:
                for step in ev.steps:
                    self._step(cluster, step)
            ch.started = True
        elif isinstance(ev, StepStarted):
            row = self._step(ev.cluster, ev.step)
            row.title = ev.title or ev.step
            row.state = "running"
            row.changes = ev.changes
            self.current = row.key
            for line in ev.changes:
                self._log(row.key, f"will change: {line}", ch)
            ch.steps.add(row.key)
        elif isinstance(ev, StepProgress):
            row = self._step(ev.cluster, ev.step)
            row.done, row.total = ev.done, ev.total
            if ev.message:
                row.message = ev.message
            ch.steps.add(row.key)
        elif isinstance(ev, StepLog):
            prefix = {"warning": "warning: ", "error": "error: "}.get(ev.level, "")
            self._log(f"{ev.cluster}/{ev.step}", prefix + ev.line, ch)
            if ev.node:
                self._log(f"node:{ev.cluster}/{ev.node}", prefix + ev.line, ch)
        elif isinstance(ev, StepFinished):
            row = self._step(ev.cluster, ev.step)
            row.state = ev.outcome
            if ev.message:
                row.message = ev.message
                self._log(row.key, f"{ev.outcome}: {ev.message}", ch)
            ch.steps.add(row.key)
        elif isinstance(ev, NodeUpdate):
            key = f"{ev.cluster}/{ev.node}"
            st = self.nodes.get(key)
            if st is None:
                st = self.nodes[key] = NodeState(ev.cluster, ev.node)
            if st.phase != ev.phase or st.result != ev.result:
                line = f"{ev.phase}" + (f": {ev.result}" if ev.result else "")
                self._log(f"node:{key}", line, ch)
            st.pool, st.os, st.phase = ev.pool, ev.os, ev.phase
            if ev.audit_version:
                st.audit_version = ev.audit_version
            st.result = ev.result
            ch.nodes.add(key)
        elif isinstance(ev, NodeArrival):
            key = f"{ev.cluster}/{ev.node}"
            self.arrivals[key] = ArrivalRow(
                ev.cluster, ev.node, ev.arrived, ev.records, ev.last_seen, ev.reason
            )
            self.arrived = sum(1 for a in self.arrivals.values() if a.arrived)
            if self.run_id is None:
                self.run_id = ev.run_id
            ch.arrivals.add(key)
        elif isinstance(ev, VerifyWaiting):
            self.arrived, self.expected = ev.arrived, ev.expected
            self.seconds_left = ev.seconds_left
            self.waiting_at = time.monotonic()
            if self.run_id is None:
                self.run_id = ev.run_id
            ch.waiting = True
        elif isinstance(ev, RunWarning):
            line = f"{ev.cluster}: {ev.message}" if ev.cluster else ev.message
            self.warnings.append(line)
            self._log("warnings", line, ch)
            ch.steps.add("warnings")
        elif isinstance(ev, RunFinished) and (self.run_id is None or ev.run_id == self.run_id):
            self.outcome = ev.outcome
            self.message = ev.message
            ch.finished = True

    # --- figures -----------------------------------------------------------------------------

    def countdown(self) -> float | None:
        """Seconds left in the arrival wait, ticking locally between the engine's polls."""
        if self.seconds_left is None or self.waiting_at is None:
            return None
        return max(0.0, self.seconds_left - (time.monotonic() - self.waiting_at))

    def verifying(self) -> bool:
        step = [s for s in self.steps.values() if s.step == "verify"]
        return any(s.state == "running" for s in step)

    def phase_counts(self) -> Counter[str]:
        return Counter(n.phase for n in self.nodes.values())

    def progress(self) -> tuple[int, int]:
        """(finished units, total units): nodes when there are any, else steps."""
        if self.nodes:
            done = sum(1 for n in self.nodes.values() if n.phase in FINAL_PHASES)
            return done, len(self.nodes)
        total = len(self.steps)
        done = sum(1 for s in self.steps.values() if s.state not in ("pending", "running"))
        return done, total

    def summary_line(self) -> str:
        counts = self.phase_counts()
        done, total = self.progress()
        parts = [f"{done}/{total} done"]
        for phase in ("compliant", "running", "failed", "skipped"):
            if counts.get(phase):
                parts.append(f"{counts[phase]} {phase}")
        steps_failed = sum(1 for s in self.steps.values() if s.state == "failed")
        if steps_failed:
            parts.append(f"{steps_failed} step(s) failed")
        if self.outcome:
            parts.append(f"run {self.outcome}")
        return " · ".join(parts)
