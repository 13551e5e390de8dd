"""From discovery to a plan: discovery as engine events, names resolved to targets.

A plan made from names is validated exactly as a plan file would be (``plan_io``), so the CLI's
``aksaudit plan`` and a hand-written file fail the same way, with one line saying what to fix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

from aksaudit_tui.cloud import discovery
from aksaudit_tui.cloud.models import Cluster, DiscoveryReport, Subscription, Workspace
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
)
from aksaudit_tui.engine.workspace_choice import (
    default_workspace,
    find_workspaces,
    picked,
    workspace_ref,
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
    report = DiscoveryReport()
    async for item in discovery.discover(settings, subscription, report=report):
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
    yield DiscoveryDone(
        counts["s"], counts["c"], counts["w"], counts["e"], report.method, report.line()
    )


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


def _abspath(path: str | None) -> str | None:
    # the plan may be written elsewhere than the cwd: keep the rules file findable
    return str(Path(path).absolute()) if path else None


def cluster_named(clusters: Sequence[Cluster], name: str) -> Cluster:
    """The one discovered cluster called ``name`` (exact first, then ignoring case), or a
    one-line UsageError naming what was found or asking for ``--subscription``."""
    hits = [c for c in clusters if c.name == name] or [
        c for c in clusters if c.name.lower() == name.lower()
    ]
    if not hits:
        known = ", ".join(sorted({c.name for c in clusters})) or "none"
        raise UsageError(f"--cluster {name}: no such cluster; found: {known}")
    if len(hits) > 1:
        raise UsageError(
            f"--cluster {name}: {len(hits)} clusters have that name; add --subscription ID"
        )
    return hits[0]


async def plan_from_names(settings: CloudSettings, req: PlanRequest) -> Plan:
    """Discover, resolve names to ids, choose each cluster's workspace (``--workspace
    CLUSTER=WS``, else ``--workspace WS``, else the default rule), validate like a plan file."""
    inv = await discovery.discover_all(settings, req.subscription)
    found: list[Cluster] = []
    notes: list[str] = []
    for name in req.clusters:
        hit = cluster_named(inv.clusters, name)
        found.append(hit)
        version = hit.kubernetes_version or ""
        if version and not fence_supported(version):
            ns = req.namespace or DEFAULT_NAMESPACE
            notes.append(f"{hit.name}: {fence_warning(ns, version)}")
    for name in req.workspaces:
        if not any(c.name.lower() == name.lower() for c in found):
            picked_names = ", ".join(c.name for c in found)
            raise UsageError(
                f"--workspace {name}=...: {name} is not one of the --cluster names ({picked_names})"
            )
    overall = _one_workspace(inv.workspaces, req.workspace, "") if req.workspace else None
    targets: list[ClusterTarget] = []
    for c in found:
        own = next((v for k, v in req.workspaces.items() if k.lower() == c.name.lower()), None)
        target = target_from_cluster(c, req.kube_contexts.get(c.name))
        if own is not None:
            choice = picked(c, _one_workspace(inv.workspaces, own, f"{c.name}="))
        elif overall is not None:
            targets.append(target)  # the plan's own workspace (as plans always had)
            continue
        else:
            choice = default_workspace(c, inv.workspaces)
        if choice.workspace is None:
            raise UsageError(
                f"{c.name}: no default workspace ({choice.ask}); "
                f"pass --workspace {c.name}=WORKSPACE"
            )
        targets.append(
            replace(
                target,
                workspace=workspace_ref(choice.workspace),
                workspace_why=choice.why,
            )
        )
    plan = Plan(
        clusters=tuple(targets),
        workspace=workspace_ref(overall) if overall is not None else None,
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
    # the file form does not carry why a workspace was chosen (a comment): keep ours
    whys = tuple(
        replace(ct, workspace_why=t.workspace_why)
        for ct, t in zip(checked.clusters, targets, strict=True)
    )
    return await pin_image(settings, replace(checked, clusters=whys, notes=tuple(notes)))


def _one_workspace(workspaces: Sequence[Workspace], text: str, prefix: str) -> Workspace:
    """The one discovered workspace ``text`` names (``prefix``: the flag's cluster part)."""
    wss = find_workspaces(workspaces, text)
    if not wss:
        known = ", ".join(sorted({w.name for w in workspaces})) or "none"
        raise UsageError(f"--workspace {prefix}{text}: no such workspace; found: {known}")
    if len(wss) > 1:
        raise UsageError(
            f"--workspace {prefix}{text}: ambiguous; pass its workspace ID (customer id)"
        )
    return wss[0]


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
