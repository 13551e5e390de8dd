"""Plain results the engine facade returns (events are in ``events.py``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from aksaudit_tui.engine.events import RunOutcome
from aksaudit_tui.errors import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_VERIFY_FAILED,
)

ChangeStatus = Literal["already done", "will change"]


@dataclass(frozen=True)
class PlannedChange:
    """One line of the review: what a step would do on one cluster."""

    cluster: str
    step: str  # "access" | "log-path" | "delivery" | "verify"
    description: str
    status: ChangeStatus
    warning: str | None = None  # e.g. the legacy agent warning, an admission problem

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunResult:
    """What a run ended with (also in the journal); ``exit_code`` is the CLI's."""

    run_id: str
    outcome: RunOutcome
    message: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.outcome == "ok" and self.summary.get("verified") is False:
            return EXIT_VERIFY_FAILED
        return {
            "ok": EXIT_OK,
            "partial": EXIT_PARTIAL,
            "failed": EXIT_ERROR,
            "cancelled": EXIT_CANCELLED,
        }[self.outcome]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "RunResult",
            "run_id": self.run_id,
            "outcome": self.outcome,
            "message": self.message,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Leftover:
    """Something the tool created and did not clean up (found by label)."""

    cluster: str  # kube context
    kind: str  # "Pod" | "DaemonSet" | "ConfigMap" | "Namespace"
    namespace: str | None
    name: str
    run_id: str | None = None
    role: str | None = None  # keeper | oneshot
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
