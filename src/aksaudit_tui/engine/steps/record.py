"""The cluster's record of what was applied (``nodes.record``), written with the delivery.

Written after the nodes were configured (a record never claims more than what ran) and again
on every apply, so "when" and "by whom" name the latest. Nothing secret goes in: hashes, names,
the identity's display name, the log path's undo tokens that ``cloud/logpaths/undo.py`` lets
the cluster keep (the others are named by id and kind only, and said in the run's log).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from aksaudit_tui import __version__
from aksaudit_tui.cloud.logpaths import undo
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.rules import rules_sha256
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import StepContext
from aksaudit_tui.nodes.record import (
    RECORD_CONFIGMAP,
    RECORD_SELECTOR,
    AppliedRecord,
    merged,
    parse_record,
    record_configmap_manifest,
    record_namespace,
)
from aksaudit_tui.nodes.script import script_sha256


def plan_hash(plan: Plan) -> str:
    """sha256 of the plan's canonical JSON (the same choices give the same hash anywhere)."""
    blob = json.dumps(plan.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def run_undo(ctx: StepContext) -> list[str]:
    """The log-path undo tokens this run journaled for the cluster (none in a review)."""
    if ctx.record is None:
        return []
    undo = ctx.record.step(ctx.cluster.name, "log-path").get("undo")
    return [t for t in undo if isinstance(t, str)] if isinstance(undo, list) else []


def build_record(
    ctx: StepContext,
    applied_by: str,
    now: datetime | None = None,
    previous: AppliedRecord | None = None,
) -> AppliedRecord:
    """The record of this apply. Undo tokens accumulate: an apply with nothing left to change
    on the log path records none of its own, so the ones the ``previous`` record (same log
    path) holds are kept, then this run's recordable ones are added (``undo.py``)."""
    plan = ctx.plan
    ws = plan.workspace_for(ctx.cluster)
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    keep, held = undo.split_recordable(run_undo(ctx))
    if previous is not None and previous.log_path == plan.log_path:
        keep = [*previous.log_path_undo, *keep]
        held = [*previous.undo_withheld, *held]
    return AppliedRecord(
        plan_hash=plan_hash(plan),
        presets=tuple(plan.presets),
        rules_sha256=rules_sha256(ctx.rules_text),
        facility=plan.facility,
        severity=plan.severity,
        log_path=plan.log_path,
        workspace_id=ws.customer_id,
        workspace_name=ws.name,
        workspace_resource_id=ws.id,
        script_sha256=script_sha256(ctx.script_text),
        delivery=plan.delivery,
        keeper_interval_s=int(ctx.keeper_interval_s),
        tool_version=__version__,
        applied_at=when,
        applied_by=applied_by,
        run_id=ctx.run_id,
        custom_rules=bool(plan.custom_rules or plan.custom_rules_file),
        namespace=plan.namespace,
        image=plan.image,
        log_path_undo=tuple(dict.fromkeys(keep)),
        undo_withheld=tuple(dict.fromkeys(held)),
    )


async def write_record(ctx: StepContext) -> AppliedRecord:
    """Create or replace the record ConfigMap in the plan's namespace; returns what it wrote."""
    from aksaudit_tui.cloud.identity import identity_name  # startup time: the Azure SDK

    k = await kubeops.kube(ctx)
    # every record of ours, not only the one in the new namespace: after a namespace (or
    # delivery) change the old record's undo tokens would otherwise be lost with it
    previous = merged(await read_records(ctx))
    record = build_record(ctx, await identity_name(ctx.clients), previous=previous)
    await k.ensure_configmap(record_configmap_manifest(record))
    where = f"{record_namespace(record)}/{RECORD_CONFIGMAP}"
    ctx.log("delivery", f"recorded what was applied in ConfigMap {where}")
    for line in record.undo_withheld:
        if previous is None or line not in previous.undo_withheld:
            ctx.log("log-path", f"not recorded in the cluster: {undo.describe_withheld(line)}")
    return record


async def read_records(ctx: StepContext) -> list[AppliedRecord]:
    """Every record of ours in the cluster (normally one; two after a namespace change)."""
    k = await kubeops.kube(ctx)
    return [r for cm in await k.list_configmaps(RECORD_SELECTOR) if (r := parse_record(cm))]


async def record_change(ctx: StepContext) -> str | None:
    """The change review shows when the cluster's record is missing or names another
    configuration (None: it already says what this plan applies)."""
    want = build_record(ctx, "")
    where = f"{record_namespace(want)}/{RECORD_CONFIGMAP}"
    k = await kubeops.kube(ctx)
    cur = parse_record(await k.get_configmap(record_namespace(want), RECORD_CONFIGMAP))
    if cur is None:
        return f"record what was applied in ConfigMap {where}"
    if (cur.plan_hash, cur.script_sha256) != (want.plan_hash, want.script_sha256):
        return f"update the record of what was applied in ConfigMap {where}"
    keep, held = undo.split_recordable(run_undo(ctx))
    if not set(keep) <= set(cur.log_path_undo) or not set(held) <= set(cur.undo_withheld):
        return f"record the log path changes to undo in ConfigMap {where}"
    return None


async def delete_records(ctx: StepContext) -> None:
    """Remove: delete every record of ours (objects without our label are never touched)."""
    k = await kubeops.kube(ctx)
    for cm in await k.list_configmaps(RECORD_SELECTOR):
        meta = cm.get("metadata") or {}
        await k.delete_owned("configmap", str(meta.get("namespace", "")), str(meta.get("name")))
