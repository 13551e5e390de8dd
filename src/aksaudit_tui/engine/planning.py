"""From discovery to a plan: discovery as engine events, names resolved to targets.

A plan made from names is validated exactly as a plan file would be (``plan_io``), so the CLI's
``aksaudit plan`` and a hand-written file fail the same way, with one line saying what to fix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from aksaudit_tui.cloud import discovery
from aksaudit_tui.cloud.models import Cluster, Subscription, Workspace
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine import plan_io
from aksaudit_tui.engine.events import (
    ClusterFound,
    DiscoveryDone,
    DiscoveryFailed,
    Event,
    SubscriptionFound,
    WorkspaceFound,
)
from aksaudit_tui.engine.plan import (
    DEFAULT_CONCURRENCY,
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    DEFAULT_PRESETS,
    ClusterTarget,
    Plan,
    PlanRequest,
    WorkspaceRef,
)
from aksaudit_tui.errors import UsageError
from aksaudit_tui.nodes.image import parse_image, resolve_digest
from aksaudit_tui.nodes.manifests import fence_supported, fence_warning


async def discover_events(
    settings: CloudSettings, subscription: str | None
) -> AsyncIterator[Event]:
    """Discovery as events (see ``Engine.discover``), ending with the counts."""
    counts = {"s": 0, "c": 0, "w": 0, "e": 0}
    subs: set[str] = set()  # a subscription may be announced again (a later listing error)
    async for item in discovery.discover(settings, subscription):
        if isinstance(item, Subscription):
            subs.add(item.id)
            counts["s"] = len(subs)
            yield SubscriptionFound(item)
        elif isinstance(item, Cluster):
            # twice per cluster: as listed (complete=False), then complete (same id)
            counts["c"] += int(item.complete)
            yield ClusterFound(item)
        elif isinstance(item, Workspace):
            counts["w"] += 1
            yield WorkspaceFound(item)
        else:
            counts["e"] += 1
            yield DiscoveryFailed(item)
    yield DiscoveryDone(counts["s"], counts["c"], counts["w"], counts["e"])


def target_from_cluster(c: Cluster, kube_context: str | None = None) -> ClusterTarget:
    """The plan's fully named target for a discovered cluster."""
    return ClusterTarget(
        name=c.name,
        id=c.id,
        subscription_id=c.subscription_id,
        resource_group=c.resource_group,
        node_resource_group=c.node_resource_group,
        location=c.location,
        kube_context=kube_context if kube_context and kube_context != c.name else None,
    )


def workspace_ref(w: Workspace) -> WorkspaceRef:
    """The plan's reference to a discovered workspace (no key: the plan holds no secret)."""
    return WorkspaceRef(
        name=w.name,
        id=w.id,
        customer_id=w.customer_id,
        resource_group=w.resource_group,
        subscription_id=w.subscription_id,
        location=w.location,
    )


def _abspath(path: str | None) -> str | None:
    # the plan may be written elsewhere than the cwd: keep the rules file findable
    return str(Path(path).absolute()) if path else None


async def plan_from_names(settings: CloudSettings, req: PlanRequest) -> Plan:
    """Discover, resolve names to ids, validate like a plan file."""
    inv = await discovery.discover_all(settings, req.subscription)
    targets: list[ClusterTarget] = []
    notes: list[str] = []
    for name in req.clusters:
        hits = [c for c in inv.clusters if c.name == name] or [
            c for c in inv.clusters if c.name.lower() == name.lower()
        ]
        if not hits:
            known = ", ".join(sorted({c.name for c in inv.clusters})) or "none"
            raise UsageError(f"--cluster {name}: no such cluster; found: {known}")
        if len(hits) > 1:
            raise UsageError(
                f"--cluster {name}: {len(hits)} clusters have that name; add --subscription ID"
            )
        targets.append(target_from_cluster(hits[0], req.kube_contexts.get(name)))
        version = hits[0].kubernetes_version or ""
        if version and not fence_supported(version):
            ns = req.namespace or DEFAULT_NAMESPACE
            notes.append(f"{hits[0].name}: {fence_warning(ns, version)}")
    workspace = req.workspace
    wss = [w for w in inv.workspaces if w.name == workspace or w.customer_id == workspace] or [
        w for w in inv.workspaces if w.name.lower() == workspace.lower()
    ]
    if not wss:
        known = ", ".join(sorted({w.name for w in inv.workspaces})) or "none"
        raise UsageError(f"--workspace {workspace}: no such workspace; found: {known}")
    if len(wss) > 1:
        raise UsageError(f"--workspace {workspace}: ambiguous; pass its customer id (workspace ID)")
    plan = Plan(
        clusters=tuple(targets),
        workspace=workspace_ref(wss[0]),
        log_path=req.log_path,
        presets=tuple(req.presets) if req.presets is not None else DEFAULT_PRESETS,
        custom_rules_file=_abspath(req.custom_rules_file),
        facility=req.facility,
        severity=req.severity,
        delivery=req.delivery,  # type: ignore[arg-type]
        namespace=req.namespace or DEFAULT_NAMESPACE,
        image=req.image or DEFAULT_IMAGE,
        concurrency=req.concurrency or DEFAULT_CONCURRENCY,
    )
    # Validate exactly as a file would be (facility, presets, custom rules, ...).
    text = plan_io.dumps(plan)
    try:
        checked = plan_io.loads(text, name="plan")
    except UsageError as exc:
        # "plan:12: unknown facility ..." -> drop the synthetic line number for flags
        msg = str(exc)
        parts = msg.split(": ", 1)
        raise UsageError(
            parts[1] if len(parts) == 2 and parts[0].startswith("plan:") else msg
        ) from None
    return await pin_image(settings, replace(checked, notes=tuple(notes)))


async def pin_image(settings: CloudSettings, plan: Plan) -> Plan:
    """The plan with its image tag resolved to the registry's digest (``REPO@sha256:...``,
    the tag kept in ``image_from``); a plan already pinned comes back as it is, with no
    registry call (air-gapped users give the digest)."""
    ref = parse_image(plan.image)
    if ref.pinned:
        return plan
    # the CA bundle is for the emulator/mirror endpoints: a real registry uses the system's CAs
    endpoint = settings.registry_endpoint
    digest = await resolve_digest(
        ref, endpoint=endpoint, ca_bundle=settings.ca_bundle if endpoint else None
    )
    return replace(plan, image=ref.with_digest(digest), image_from=str(ref))
