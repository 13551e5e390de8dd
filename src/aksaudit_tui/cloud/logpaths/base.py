"""What every log path shares: the protocol the engine calls, the records it passes back
(``Change``, ``LogPathState``), ``AdapterBase`` (declared words + shared plumbing) and small
helpers over scale sets.

Each adapter: ``probe`` reads live state and lists the changes still needed (empty = in place);
``apply`` makes only those and returns :class:`Change` items (a human line plus an ``undo`` token
the engine journals); ``remove`` takes those tokens back and undoes only what the tool added.
Nothing here ever carries a workspace key. Adapters import this module and ``dcr.py``, never
each other.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from aksaudit_tui.cloud.arm import ArmId, Bounded, json_body, rest
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.errors import is_not_found, user_error
from aksaudit_tui.cloud.logpaths.dcr import OWNER_TAG, created_by_us, owner_tags
from aksaudit_tui.cloud.models import Cluster, Extension, ScaleSet, Workspace
from aksaudit_tui.cloud.parse import parse_extension, parse_instance, parse_scale_set, pool_of
from aksaudit_tui.errors import UserError

Body = dict[str, Any]
# Builds the body to write from the resource as read now (None: it does not exist yet).
Build = Callable[[Body | None], Body]


class LeftAlone(str):
    """A line of ``remove`` for something it was asked to undo and did not, and why (the run
    shows it as a warning, not as done)."""

    __slots__ = ()


@dataclass(frozen=True)
class Change:
    """One change ``apply`` made: a human line and how to undo it (``None`` = nothing to undo)."""

    description: str
    undo: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"description": self.description, "undo": self.undo}


@dataclass
class LogPathState:
    """What ``probe`` found. ``ok`` = nothing to change; ``blocking`` = cannot be applied."""

    ok: bool
    changes: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)  # per scale set / DCR: state line
    warnings: list[str] = field(default_factory=list)
    blocking: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "changes": list(self.changes),
            "details": dict(self.details),
            "warnings": list(self.warnings),
            "blocking": self.blocking,
        }


@dataclass(frozen=True)
class Destination:
    """Where a cluster's record says its audit lines go: the workspace's ARM id, customer id
    and name, and what discovery read of it (None: not discovered, e.g. not readable)."""

    resource_id: str
    customer_id: str
    name: str
    workspace: Workspace | None = None


@dataclass(frozen=True)
class PathGap:
    """A broken link of a log path, for status: why configured nodes are silent."""

    reason: str  # the link, named: "data collection rule X lacks the authpriv facility"
    fix: str = ""  # a hint beyond applying again ("adds authpriv to the rule"); "" = none
    scale_set: str | None = None  # the scale set whose nodes it concerns; None: every node


class LogPath(Protocol):
    """How syslog lines get from the nodes into the workspace, as the engine drives it.

    ``facility`` and ``severity`` are the product's syslog vocabulary (``aksaudit_tui.syslog``);
    an unknown one raises ``UsageError`` before any call. Errors from Azure are ``UserError``
    lines that say what to fix (``cloud/errors.py``).
    """

    @property
    def name(self) -> str:
        """The plan's ``log_path`` value."""
        ...

    async def probe(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> LogPathState:
        """Read only: what is in place for ``facility`` at ``severity`` and above, and the
        changes ``apply`` would make (``ok`` when none); ``blocking`` when it cannot be applied
        (another workspace already in use, node resource group lockdown)."""
        ...

    async def apply(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[Change]:
        """Make only what ``probe`` finds missing (it reads again first; a second apply writes
        nothing) and keep everything else as it is. Each :class:`Change` whose ``undo`` is set
        is something the tool added; the engine journals those tokens."""
        ...

    async def remove(
        self, cluster: Cluster, workspace: Workspace, undo: Sequence[str]
    ) -> list[str]:
        """Undo only what the tool added, given the journaled ``undo`` tokens, newest first;
        what is already gone counts as done. Returns one human line per thing undone."""
        ...

    async def diagnose(
        self, cluster: Cluster, dest: Destination, facility: str, severity: str
    ) -> list[PathGap]:
        """Read only, for status: the broken links between the nodes and ``dest`` (see
        :meth:`AdapterBase.diagnose`)."""
        ...


class AdapterBase(abc.ABC):
    """What every log path declares about itself, and the plumbing they share: bounded ARM
    calls, the cluster's Linux pool scale sets, and the undo helpers of ``remove``.

    A subclass sets the class attributes below; the plan, the engine's steps, the TUI and the
    az/kubectl equivalents read them from the registry (``logpaths.LOG_PATHS``) and hold no
    words of their own about a path.
    """

    name: ClassVar[str]
    """The plan's ``log_path`` value (lower-case, dashes)."""
    title: ClassVar[str]
    """One line for a chooser: what it is and whether AKS supports it."""
    summary: ClassVar[str]
    """One line naming what it sets up (the run's step title after "log path: ")."""
    explanation: ClassVar[str]
    """A short paragraph: what it sets up and what that means for the cluster."""
    warning: ClassVar[str | None] = None
    """Said before it is chosen and at the start of every run that uses it; ``None``: none."""
    chosen_note: ClassVar[str | None] = None
    """A short line for the status bar when a user picks it (a caution); ``None``: nothing."""
    forwarder: ClassVar[str] = "the monitoring agent"
    """What takes syslog off the node through rsyslog, as a sentence's subject (status and
    verify: "rsyslog missing: <forwarder> cannot forward syslog from this node")."""
    touches_scale_sets: ClassVar[bool] = False
    """Whether it changes the node-pool scale sets (so node resource group lockdown denies it
    and AKS upgrades may undo it)."""

    def __init__(
        self,
        clients: AsyncClients,
        concurrency: int | None = None,
        repoint_agent: bool = False,
        plan_sha: str = "",
    ) -> None:
        self.clients = clients
        self.b = Bounded(concurrency or clients.settings.concurrency)
        # the plan's explicit choice to re-point an agent that reports to another workspace
        self.repoint_agent = repoint_agent
        # what a rule this adapter creates is tagged with (dcr.py: remove deletes only those)
        self.owner_tags = owner_tags(plan_sha)

    @classmethod
    @abc.abstractmethod
    def preview(cls, clusters: Sequence[Cluster], facility: str, severity: str) -> list[str]:
        """What choosing this path would change on these clusters, judged from discovery alone
        (no I/O): one line per cluster (and per workspace change), each ending "(will change)"
        or "(already done)", or saying "BLOCKED"."""

    @classmethod
    @abc.abstractmethod
    def az_commands(
        cls, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[str]:
        """The az commands that set this path up on one cluster, for users who want to see or
        script it (display only; never a secret: the workspace key is a shell variable)."""

    @classmethod
    def az_workspace_commands(cls, workspace: Workspace, facility: str, severity: str) -> list[str]:
        """The az commands it needs once per workspace (after every cluster's); none by default."""
        return []

    @abc.abstractmethod
    async def probe(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> LogPathState:
        """See :meth:`LogPath.probe`: reads only."""

    @abc.abstractmethod
    async def apply(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[Change]:
        """See :meth:`LogPath.apply`: changes only what probe finds missing."""

    @abc.abstractmethod
    async def remove(
        self, cluster: Cluster, workspace: Workspace, undo: Sequence[str]
    ) -> list[str]:
        """See :meth:`LogPath.remove`: undoes only what the tool added."""

    async def diagnose(
        self, cluster: Cluster, dest: Destination, facility: str, severity: str
    ) -> list[PathGap]:
        """Read only, for status: the broken links between ``cluster``'s nodes and ``dest``
        for ``facility`` at ``severity`` (lines are sent at that severity), judged from
        discovery where it holds enough and read where it does not; empty when none is seen.
        A path that cannot judge says nothing (this default). Raises ``UserError`` when a
        read fails."""
        return []

    # --- undo helpers shared by the adapters' remove(); a thing already gone counts as done.

    # -- writes: one block each for every adapter (ETag-guarded where ARM offers one) --

    async def guarded_write(
        self,
        what: str,
        current: Body | None,
        read: Callable[[], Awaitable[Body | None]],
        write: Callable[[Body, dict[str, str]], Awaitable[Any]],
        build: Build,
        *,
        action: str,
        scope: str,
    ) -> Body | None:
        """Write ``build(current)`` only if the resource is still ``current``: ``If-Match``
        with its ETag (``If-None-Match: *`` when it did not exist), so a change someone made
        since it was read is never overwritten. On 412 read it again and build on that once
        more; a second 412 is a clear error (nothing of theirs was lost).

        Returns the resource as it was just before the write that succeeded (None: the write
        created it). Callers judge what they changed, and what they may undo, from that and
        never from their first read: after a 412 on a create, the resource is someone else's."""
        for attempt in (1, 2):
            body = build(current)
            try:
                await write(body, preconditions(current))
                return current
            except Exception as exc:
                if getattr(exc, "status_code", None) != 412:
                    raise user_error(
                        exc, doing=f"writing {what}", action=action, scope=scope
                    ) from None
                if attempt == 2:
                    raise UserError(
                        f"{what} was changed by someone else while aksaudit wrote it, twice "
                        "(HTTP 412, ETag mismatch); nothing of theirs was overwritten: run again"
                    ) from None
            current = await read()
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def read_dcr(self, dcr_id: str) -> Body | None:
        """A data collection rule as ARM has it now (with its ``etag``); None when absent."""
        did = ArmId.parse(dcr_id)
        try:
            return rest(
                await self.b.call(
                    self.clients.monitor(did.subscription).data_collection_rules.get(
                        did.resource_group, did.name
                    )
                )
            )
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise user_error(exc, doing=f"reading data collection rule {did.name}") from None

    async def write_dcr(self, dcr_id: str, current: Body | None, build: Build) -> Body | None:
        """Create or update a data collection rule as ``build`` makes it from the rule read
        now, guarded by its ETag (:meth:`guarded_write`); returns the rule it wrote over
        (None: it created the rule)."""
        did = ArmId.parse(dcr_id)
        rules = self.clients.monitor(did.subscription).data_collection_rules

        async def write(body: Body, headers: dict[str, str]) -> None:
            await self.b.call(
                rules.create(did.resource_group, did.name, json_body(body), headers=headers)
            )

        return await self.guarded_write(
            f"data collection rule {did.name}",
            current,
            lambda: self.read_dcr(dcr_id),
            write,
            build,
            action="Microsoft.Insights/dataCollectionRules/write",
            scope=f"/subscriptions/{did.subscription}/resourceGroups/{did.resource_group}",
        )

    async def read_cluster(self, cluster: Cluster) -> Body:
        """The managed cluster as ARM has it now (with its ``eTag``)."""
        cs = self.clients.containerservice(cluster.subscription_id)
        try:
            return rest(
                await self.b.call(cs.managed_clusters.get(cluster.resource_group, cluster.name))
            )
        except Exception as exc:
            raise user_error(exc, doing=f"reading cluster {cluster.name}") from None

    async def write_cluster(self, cluster: Cluster, current: Body, build: Build) -> Body | None:
        """Update the managed cluster as ``build`` makes it from the cluster read now, guarded
        by its ETag (:meth:`guarded_write`); returns the cluster as it was just before."""
        cs = self.clients.containerservice(cluster.subscription_id)

        async def write(body: Body, headers: dict[str, str]) -> None:
            await self.b.lro(
                cs.managed_clusters.begin_create_or_update(
                    cluster.resource_group, cluster.name, json_body(body), headers=headers
                )
            )

        async def read() -> Body | None:
            return await self.read_cluster(cluster)

        return await self.guarded_write(
            f"cluster {cluster.name}",
            current,
            read,
            write,
            build,
            action="Microsoft.ContainerService/managedClusters/write",
            scope=cluster.id,
        )

    async def put_vmss_extension(
        self, vmss_id: str, name: str, body: Body, doing: str, secrets: Iterable[str] = ()
    ) -> None:
        """Create or update extension ``name`` on a scale set (a long-running operation);
        errors are one line with ``secrets`` (a workspace key) scrubbed."""
        vid = ArmId.parse(vmss_id)
        compute = self.clients.compute(vid.subscription)
        failure: UserError | None = None
        try:
            await self.b.lro(
                compute.virtual_machine_scale_set_extensions.begin_create_or_update(
                    vid.resource_group, vid.name, name, json_body(body)
                )
            )
        except Exception as exc:
            failure = user_error(
                exc,
                doing=doing,
                action="Microsoft.Compute/virtualMachineScaleSets/extensions/write",
                scope=vmss_id,
                secrets=list(secrets),
            )
        if failure is not None:
            raise failure  # raised outside the except block: no chained SDK exception

    async def delete_association(self, cluster: Cluster, uri: str, name: str) -> str:
        """Delete data collection rule association ``name`` on resource ``uri``."""
        monitor = self.clients.monitor(cluster.subscription_id)
        try:
            await self.b.call(monitor.data_collection_rule_associations.delete(uri, name))
        except Exception as exc:
            if not is_not_found(exc):
                raise user_error(exc, doing=f"deleting association {name}") from None
        return f"deleted association {name} on {ArmId.parse(uri).name}"

    async def delete_dcr(self, dcr_id: str) -> str:
        """Delete a data collection rule (after the associations that point at it), only if it
        carries our ownership tag (``dcr.created_by_us``) and nothing is associated with it
        any more: a rule without the tag, or one another cluster's resources still use (our
        rule is one per workspace and resource group, so clusters there share it), is left
        as it is, said in a :class:`LeftAlone` line, whatever token named it."""
        did = ArmId.parse(dcr_id)
        rule = await self.read_dcr(dcr_id)
        if rule is None:
            return f"data collection rule {did.name} is already gone"
        if not created_by_us(rule):
            return LeftAlone(
                f"left data collection rule {did.name} as it is: it has no {OWNER_TAG} tag, so "
                "aksaudit did not create it (or an aksaudit from before rules were tagged did: "
                "delete it by hand if it is yours)"
            )
        users = await self._rule_users(did)
        if users:
            return LeftAlone(
                f"left data collection rule {did.name} as it is: {len(users)} resource(s) still "
                f"use it ({', '.join(users[:3])}), another cluster's enablement perhaps; "
                "remove that too and the rule goes with the last"
            )
        try:
            await self.b.call(
                self.clients.monitor(did.subscription).data_collection_rules.delete(
                    did.resource_group, did.name
                )
            )
        except Exception as exc:
            if not is_not_found(exc):
                raise user_error(exc, doing=f"deleting rule {did.name}") from None
        return f"deleted data collection rule {did.name}"

    async def _rule_users(self, did: ArmId) -> list[str]:
        """The names of the resources still associated with a rule (read now)."""
        monitor = self.clients.monitor(did.subscription)
        try:
            assocs = await self.b.collect(
                monitor.data_collection_rule_associations.list_by_rule(did.resource_group, did.name)
            )
        except Exception as exc:
            if is_not_found(exc):
                return []
            raise user_error(exc, doing=f"reading the associations of rule {did.name}") from None
        return [_associated_resource(str(a.get("id") or "")) for a in assocs]

    async def delete_vmss_extension(
        self, cluster: Cluster, vmss_id: str, name: str
    ) -> tuple[str, ScaleSet]:
        """Remove extension ``name`` from a scale set; returns the line and the scale set to
        pass to :meth:`update_stale_instances` (Manual upgrade mode: instances lag the model)."""
        vid = ArmId.parse(vmss_id)
        compute = self.clients.compute(vid.subscription or cluster.subscription_id)
        try:
            await self.b.lro(
                compute.virtual_machine_scale_set_extensions.begin_delete(
                    vid.resource_group, vid.name, name
                )
            )
        except Exception as exc:
            if not is_not_found(exc):
                raise user_error(exc, doing=f"removing {name} from {vid.name}") from None
        touched = ScaleSet(
            id=vmss_id, name=vid.name, pool="", os="Linux", os_sku=None, upgrade_mode="Manual"
        )
        return f"removed {name} from {vid.name}", touched

    async def linux_scale_sets(self, cluster: Cluster) -> tuple[list[ScaleSet], list[ScaleSet]]:
        """(Linux pool scale sets, skipped ones), read fresh: extensions and model state change
        under us (AKS upgrades remove extensions; scale-outs add instances)."""
        sid = cluster.subscription_id
        rg = cluster.node_resource_group
        compute = self.clients.compute(sid)
        try:
            bodies = await self.b.collect(compute.virtual_machine_scale_sets.list(rg))
        except Exception as exc:
            raise user_error(exc, doing=f"listing scale sets in {rg}", scope=rg) from None
        pools = {}
        for s in cluster.scale_sets:
            pools[s.pool.lower()] = {
                "osType": s.os,
                "osSKU": s.os_sku,
                "nodeTaints": list(s.taints),
                "mode": s.mode,
            }

        async def one(vmss: dict[str, Any]) -> ScaleSet:
            name = str(vmss.get("name") or "")
            vms, exts = await asyncio.gather(
                self.b.collect(compute.virtual_machine_scale_set_vms.list(rg, name)),
                self.b.collect(compute.virtual_machine_scale_set_extensions.list(rg, name)),
            )
            pool = (pool_of(vmss) or "").lower()
            return parse_scale_set(
                vmss,
                pools.get(pool),
                rg,
                tuple(parse_instance(v, name) for v in vms),
                tuple(parse_extension(e) for e in exts),
            )

        try:
            sets = await asyncio.gather(*(one(v) for v in bodies if pool_of(v)))
        except Exception as exc:
            raise user_error(exc, doing=f"reading scale sets in {rg}", scope=rg) from None
        linux, skipped = [], []
        for s in sorted(sets, key=lambda x: x.name):
            if s.os.lower() != "linux" or (s.os_sku or "").lower().startswith(
                ("windows", "flatcar")
            ):
                skipped.append(s)
            else:
                linux.append(s)
        return linux, skipped

    async def update_stale_instances(
        self, cluster: Cluster, scale_sets: list[ScaleSet]
    ) -> list[Change]:
        """Roll the new model onto instances that lack it (scale sets use upgrade policy Manual)."""
        compute = self.clients.compute(cluster.subscription_id)
        rg = cluster.node_resource_group

        async def one(s: ScaleSet) -> Change | None:
            try:
                vms = await self.b.collect(compute.virtual_machine_scale_set_vms.list(rg, s.name))
                stale = [
                    i.instance_id
                    for i in (parse_instance(v, s.name) for v in vms)
                    if not i.latest_model_applied
                ]
                if not stale:
                    return None
                await self.b.lro(
                    compute.virtual_machine_scale_sets.begin_update_instances(
                        rg, s.name, json_body({"instanceIds": stale})
                    )
                )
            except Exception as exc:
                raise user_error(
                    exc,
                    doing=f"updating instances of {s.name}",
                    action="Microsoft.Compute/virtualMachineScaleSets/manualUpgrade/action",
                    scope=s.id,
                ) from None
            return Change(f"updated {len(stale)} instance(s) of {s.name} to the latest model")

        results = await asyncio.gather(*(one(s) for s in scale_sets))
        return [c for c in results if c is not None]


def _associated_resource(association_id: str) -> str:
    """The name of the resource an association id is on (``<resource>/providers/
    Microsoft.Insights/dataCollectionRuleAssociations/<name>``)."""
    resource = association_id.lower().rsplit("/providers/microsoft.insights/", 1)[0]
    return association_id[: len(resource)].rsplit("/", 1)[-1] or association_id


def etag_of(body: Body | None) -> str | None:
    """The ETag ARM returns in a resource's body (data collection rules: ``etag``, managed
    clusters: ``eTag``); None when it has none."""
    tag = (body or {}).get("etag") or (body or {}).get("eTag")
    return str(tag) if tag else None


def preconditions(current: Body | None) -> dict[str, str]:
    """The headers that make a write apply only to the resource as read: ``If-Match`` its ETag,
    or ``If-None-Match: *`` when it did not exist (no ETag: no condition)."""
    if current is None:
        return {"If-None-Match": "*"}
    tag = etag_of(current)
    return {"If-Match": tag} if tag else {}


def find_extension(scale_set: ScaleSet, publisher: str, ext_type: str) -> Extension | None:
    """The scale set's extension of this publisher and type (case-insensitive), if any."""
    for ext in scale_set.extensions:
        if ext.publisher.lower() == publisher.lower() and ext.type.lower() == ext_type.lower():
            return ext
    return None


def stale_instances(scale_set: ScaleSet) -> list[str]:
    """Instance ids that do not run the scale set's latest model (upgrade policy Manual)."""
    return [i.instance_id for i in scale_set.instances if not i.latest_model_applied]


def lockdown_reason(cluster: Cluster) -> str | None:
    """Why scale-set changes are denied on this cluster (node resource group lockdown), or
    ``None`` when they are not."""
    if (cluster.lockdown or "").lower() == "readonly":
        return (
            f"{cluster.name}'s node resource group {cluster.node_resource_group} is locked down "
            "(restrictionLevel ReadOnly): AKS denies scale-set extension writes; use the "
            "container-insights log path"
        )
    return None
