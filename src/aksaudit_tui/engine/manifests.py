"""Every Kubernetes object an apply of a plan sends, without sending anything (for review).

``plan_manifests`` goes through the very code apply uses: ``rules.prepare`` renders the rules
and the node script, ``steps.delivery.plan_spec`` turns the plan into delivery parameters and
``nodes.delivery.delivery_objects`` builds the objects the rollout sends, so what a reviewer
reads cannot drift from what the cluster gets. Not included: the ``aksaudit-applied`` record
ConfigMap (names, hashes, when and who: written at apply time, it runs nothing).
"""

from __future__ import annotations

from typing import Any

from aksaudit_tui.engine.config import Timing
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.rules import prepare
from aksaudit_tui.engine.steps.delivery import plan_spec


def plan_manifests(plan: Plan, run_id: str, timing: Timing | None = None) -> list[dict[str, Any]]:
    """The objects, in the order apply sends them; UsageError (exit 2) for rules that do not
    render. ``run_id`` is the value of the ``aksaudit.io/run`` label (a run's id)."""
    # kubernetes client (~1 s of imports) behind nodes.delivery: only this command needs it
    from aksaudit_tui.nodes.delivery import delivery_objects

    t = timing if timing is not None else Timing()
    rules, script = prepare(plan)
    spec = plan_spec(
        plan, run_id, keeper_interval_s=t.keeper_interval_s, pod_deadline_s=t.node_deadline_s
    )
    return delivery_objects(spec, script, rules)
