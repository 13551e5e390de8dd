"""Remove without this machine's journal: find the clusters that hold an ``aksaudit-applied``
record (``nodes.record``) and build, from that record, what a remove of it needs.

Status already reads the truth from the clusters; an enablement done from another laptop must
be undoable by a colleague or an on-call engineer too, after review. The record names what the
apply chose (presets, facility/severity, log path, workspace, delivery, namespace, keeper
interval, the pods' image) and the log path's undo tokens, so the plan and the undo come from
the cluster itself. Discovery gives the cluster's ARM ids; the kube context is the one named
after the cluster (as status reads it).

Trust: a record is read from a ConfigMap that whoever may write ConfigMaps in its namespace can
change, and the remove it builds runs privileged pods on every node. So:

* a record counts only where apply writes it (``record_namespace``: kube-system for one-shot
  delivery, else the keeper's namespace) and only when that namespace is ours (our label and
  the plan-sha256 annotation apply puts on it); one anywhere else is ignored and said;
* the namespace the remove runs in is never a system one (kube-system, default, ...), so its
  fence is never bound there;
* the pods' image is never taken from the record: the remove runs this version's default
  image, pinned to its digest like an apply (``removal.remove``), or the image the user
  gives (``remove --cluster NAME --image REPO@sha256:...``, a mirror's), digest required;
* every undo token is checked to name only this cluster's own resources
  (``cloud/logpaths/undo.py``); the others are refused and said, never undone.

The node script's remove mode reads what to unload and restore from the node itself (its
backups), not from the record. Read-only here: nothing is written until the remove run the
user confirms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace

from aksaudit_tui.cloud.arm import ArmId
from aksaudit_tui.cloud.logpaths import undo as undo_rules
from aksaudit_tui.cloud.models import Cluster, Workspace
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine import planning, rules
from aksaudit_tui.engine.logpath_undo import LogPathUndo
from aksaudit_tui.engine.plan import (
    DEFAULT_IMAGE,
    DEFAULT_PRESETS,
    ClusterTarget,
    Plan,
    WorkspaceRef,
)
from aksaudit_tui.engine.runner import describe_exc
from aksaudit_tui.engine.workspace_choice import workspace_ref
from aksaudit_tui.errors import UsageError
from aksaudit_tui.nodes.image import FLAG_FIX, require_digest
from aksaudit_tui.nodes.older_keepers import SYSTEM_NAMESPACES, owned_namespace
from aksaudit_tui.nodes.record import (
    ONESHOT_RECORD_NAMESPACE,
    RECORD_CONFIGMAP,
    RECORD_SELECTOR,
    AppliedRecord,
    merged,
    parse_record,
    record_namespace,
)

READS_AT_ONCE = 8  # clusters whose records are read at once (one list call each)


@dataclass(frozen=True)
class RecordedCluster:
    """A discovered cluster and the record of ours it holds (the newest, when a namespace
    change left two; ``more`` counts the others, which the remove deletes as well)."""

    target: ClusterTarget
    record: AppliedRecord
    workspace: WorkspaceRef
    more: int = 0
    # read by discovery, never from the record (undo tokens are checked against them):
    workspace_ids: tuple[str, ...] = ()  # where the cluster's agents send (ARM ids)
    rule_ids: tuple[str, ...] = ()  # the data collection rules associated with the cluster

    @property
    def name(self) -> str:
        return self.target.name

    def describe(self) -> str:
        """One line for people: who enabled it, when, how, and that the cluster says so."""
        r = self.record
        who = r.applied_by or "someone"
        return (
            f"{self.name}: enabled by {who} at {r.applied_at or 'an unknown time'} (from the "
            f"cluster) · {r.log_path} → {r.workspace_name or r.workspace_id} · {r.delivery} in "
            f"{r.namespace}"
        )


@dataclass(frozen=True)
class RecordScan:
    """What a scan found: the clusters with a record, the names of those read without one, and
    one line per cluster that could not be read."""

    clusters: tuple[RecordedCluster, ...]
    unrecorded: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordedRemoval:
    """A remove built from one cluster's record: the plan to run and the log-path undo."""

    source: RecordedCluster
    plan: Plan
    undo: Mapping[str, LogPathUndo]


async def scan(
    settings: CloudSettings,
    *,
    cluster: str | None = None,
    subscription: str | None = None,
) -> RecordScan:
    """Discover (one cluster by name, or all) and read each cluster's records (one list call,
    read-only). UsageError when ``cluster`` names no discovered cluster or more than one."""
    from aksaudit_tui.cloud import discovery  # startup time: the Azure SDK

    inv = await discovery.discover_all(settings, subscription)
    found = list(inv.clusters)
    if cluster is not None:
        found = [planning.cluster_named(found, cluster)]
    sem = asyncio.Semaphore(READS_AT_ONCE)

    async def one(c: Cluster) -> RecordedCluster | str | None:
        async with sem:
            try:
                records, ignored = await _read_records(settings, c)
            except UsageError as exc:  # no kube context for it, unreadable kubeconfig
                return f"{c.name}: {exc}"
            except Exception as exc:  # the cluster is listed as unreadable with this reason
                return f"{c.name}: cannot read its record: {describe_exc(exc)}"
        rec = merged(records)  # the newest, with every record's undo of its log path
        if rec is None:
            return f"{c.name}: {ignored[0]}" if ignored else None
        return RecordedCluster(
            planning.target_from_cluster(c),
            rec,
            _workspace(rec, inv.workspaces),
            more=len(records) - 1,
            workspace_ids=sends_to(c, inv.workspaces),
            rule_ids=associated_rules(c),
        )

    results = await asyncio.gather(*(one(c) for c in found))
    return RecordScan(
        clusters=tuple(r for r in results if isinstance(r, RecordedCluster)),
        unrecorded=tuple(c.name for c, r in zip(found, results, strict=True) if r is None),
        problems=tuple(r for r in results if isinstance(r, str)),
    )


async def _read_records(
    settings: CloudSettings, c: Cluster
) -> tuple[list[AppliedRecord], list[str]]:
    """(the records to trust, one line per record ignored: see the module docstring)."""
    # startup time: the kubernetes client loads when a cluster is first read
    from aksaudit_tui.engine.steps.kubeops import open_kube

    kube = await asyncio.to_thread(open_kube, settings.kubeconfig, c.name)
    try:
        items = await kube.list_configmaps(RECORD_SELECTOR)
        found: list[tuple[str, AppliedRecord]] = []
        for cm in items:
            meta = cm.get("metadata") or {}
            if meta.get("name") == RECORD_CONFIGMAP and (rec := parse_record(cm)) is not None:
                found.append((str(meta.get("namespace", "")), rec))
        keeper_ns = {ns for ns, _ in found if ns != ONESHOT_RECORD_NAMESPACE}
        read = await asyncio.gather(*(kube.get_namespace(ns) for ns in sorted(keeper_ns)))
    finally:
        kube.close()
    ours = {ns for ns, obj in zip(sorted(keeper_ns), read, strict=True) if owned_namespace(obj)}
    trusted: list[AppliedRecord] = []
    ignored: list[str] = []
    for ns, rec in found:
        why = untrusted(ns, rec, ours)
        if why is None:
            trusted.append(rec)
        else:
            ignored.append(f"ignored the aksaudit-applied record in namespace {ns}: {why}")
    return trusted, ignored


def untrusted(where: str, rec: AppliedRecord, ours: Set[str]) -> str | None:
    """Why the record read from namespace ``where`` is not trusted (None: it is); ``ours``:
    the namespaces read to be ours (see the module docstring)."""
    if rec.delivery not in ("keeper", "one-shot"):
        return f"unknown delivery {rec.delivery!r}"
    if where != record_namespace(rec):
        return f"a {rec.delivery} record lives in {record_namespace(rec)}, not here"
    if rec.namespace in SYSTEM_NAMESPACES:
        return f"it names the system namespace {rec.namespace}, which aksaudit never uses"
    if rec.delivery == "keeper" and where not in ours:
        return "the namespace is not one aksaudit created (no aksaudit label and plan annotation)"
    return None


def sends_to(c: Cluster, known: Sequence[Workspace]) -> tuple[str, ...]:
    """The ARM ids of the workspaces the cluster's agents send to, as discovery read them: the
    monitoring add-on's, its rule's destinations, and the workspace a Log Analytics agent on
    its scale sets names (a customer id in its public settings)."""
    mon = c.monitoring
    ids = [w for w in (mon.workspace_id, *mon.dcr_workspace_ids) if w]
    agents = {
        str(e.settings.get("workspaceId") or "").lower()
        for s in c.scale_sets
        for e in s.extensions
        if e.type.lower() == "omsagentforlinux"
    }
    ids += [w.id for w in known if w.customer_id.lower() in agents]
    return tuple(dict.fromkeys(ids))


def associated_rules(c: Cluster) -> tuple[str, ...]:
    """The data collection rules discovery found associated with the cluster (Container
    Insights' rule; the only rule whose sources and flows our applies change)."""
    mon = c.monitoring
    return (mon.dcr_id,) if mon.dcr_id and mon.dcr_associated else ()


def _workspace(rec: AppliedRecord, known: Sequence[Workspace]) -> WorkspaceRef:
    """The recorded workspace, completed from discovery when it is readable (its location)."""
    ws = next((w for w in known if w.customer_id.lower() == rec.workspace_id.lower()), None)
    if ws is not None:
        return workspace_ref(ws)
    rid = ArmId.parse(rec.workspace_resource_id)
    return WorkspaceRef(
        name=rec.workspace_name or rid.name,
        id=rec.workspace_resource_id,
        customer_id=rec.workspace_id,
        resource_group=rid.resource_group,
        subscription_id=rid.subscription,
    )


def undo_from_record(rc: RecordedCluster) -> LogPathUndo:
    """The record's undo tokens that name this cluster's own resources, and one line for each
    refused token and each change only the applying machine's journal holds."""
    t = rc.target
    scope = undo_rules.UndoScope(
        cluster_id=t.id,
        subscription_id=t.subscription_id,
        resource_group=t.resource_group,
        node_resource_group=t.node_resource_group,
        workspace_ids=rc.workspace_ids,
        rule_ids=rc.rule_ids,
        cluster_name=t.name,
    )
    tokens: list[str] = []
    notes: list[str] = []
    for token in rc.record.log_path_undo:
        why = undo_rules.out_of_scope(token, scope)
        if why is None:
            tokens.append(token)
        else:
            notes.append(f"not undone (the record names something not this cluster's): {why}")
    notes += [undo_rules.describe_withheld(line) for line in rc.record.undo_withheld]
    if not rc.record.log_path_undo and not rc.record.undo_withheld and rc.record.tool_version:
        notes.append(
            "the record names no log path change to undo (none was made, or it was written by "
            "an aksaudit that did not record them: remove from the machine that applied)"
        )
    return LogPathUndo(tuple(dict.fromkeys(tokens)), tuple(notes))


def removal_for(rc: RecordedCluster, image: str | None = None) -> RecordedRemoval:
    """The remove of ``rc`` as its record says it was applied. Presets this version does not
    know are left out (remove reads what to undo from the node, not from the rules). The pods'
    image is never the record's (see the module docstring): ``image``, the user's own choice
    (a mirror's, on an air-gapped cluster), which must carry its digest (UsageError, one
    line); else this version's default tag, which ``removal.remove`` pins to the digest
    before any pod starts."""
    if image is not None:
        require_digest(image, fix=FLAG_FIX)
    rec = rc.record
    known = set(rules.known_presets())
    presets = tuple(p for p in rec.presets if p in known) or DEFAULT_PRESETS
    plan = Plan(
        clusters=(replace(rc.target, workspace=rc.workspace, workspace_why=None),),
        log_path=rec.log_path,
        presets=presets,
        facility=rec.facility,
        severity=rec.severity,
        delivery="one-shot" if rec.delivery == "one-shot" else "keeper",
        namespace=rec.namespace,
        image=image or DEFAULT_IMAGE,
    )
    return RecordedRemoval(rc, plan, {rc.name: undo_from_record(rc)})
