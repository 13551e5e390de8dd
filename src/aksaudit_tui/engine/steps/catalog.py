"""Which steps an apply and a remove run, in order (the journal records these ids)."""

from __future__ import annotations

from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.steps.access import AccessStep
from aksaudit_tui.engine.steps.base import Step
from aksaudit_tui.engine.steps.delivery import DeliveryStep, RemoveDeliveryStep
from aksaudit_tui.engine.steps.logpath import LogPathStep, RemoveLogPathStep

# "verify" is the run's last step, run by the operation for all clusters at once.
APPLY_STEPS = ("access", "log-path", "delivery", "verify")
REMOVE_STEPS = ("access", "delivery", "log-path")


def apply_steps(plan: Plan) -> list[Step]:
    """The per-cluster steps of an apply (and of a review's probes)."""
    return [AccessStep(), LogPathStep(plan.log_path), DeliveryStep()]


def remove_steps(undo: list[str] | None) -> list[Step]:
    """The per-cluster steps of a remove; with ``undo`` tokens the log path is undone too."""
    steps: list[Step] = [AccessStep(for_remove=True), RemoveDeliveryStep()]
    if undo is not None:
        steps.append(RemoveLogPathStep(undo))
    return steps
