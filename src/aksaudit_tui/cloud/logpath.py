"""What the three log-path adapters share: the interface the engine calls, facility/severity
vocabulary, and reading a cluster's pool scale sets fresh from ARM.

Each adapter: ``probe`` reads live state and lists the changes still needed (empty = in place);
``apply`` makes only those and returns :class:`Change` items (a human line plus an ``undo`` token
the engine journals); ``remove`` takes those tokens back and undoes only what the tool added.
Nothing here ever carries a workspace key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aksaudit_tui.cloud.arm import ArmId, Bounded, json_body
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.discovery import parse_extension, parse_instance, parse_scale_set, pool_of
from aksaudit_tui.cloud.errors import is_not_found, user_error
from aksaudit_tui.cloud.models import Cluster, ScaleSet, Workspace
from aksaudit_tui.errors import UsageError

FACILITIES = (
    "auth",
    "authpriv",
    "cron",
    "daemon",
    "mark",
    "kern",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
    "lpr",
    "mail",
    "news",
    "syslog",
    "user",
    "uucp",
)
# Most severe first; the syslog keyword and the DCR logLevels spelling.
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
DCR_LEVELS = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Info", "Debug")
_SEVERITY_ALIASES = {
    "emergency": "emerg",
    "panic": "emerg",
    "critical": "crit",
    "error": "err",
    "warn": "warning",
    "information": "info",
    "informational": "info",
}


def check_facility(facility: str) -> str:
    f = facility.strip().lower()
    if f not in FACILITIES:
        raise UsageError(
            f"unknown syslog facility {facility!r}; use one of {', '.join(FACILITIES)}"
        )
    return f


def check_severity(severity: str) -> str:
    s = severity.strip().lower()
    s = _SEVERITY_ALIASES.get(s, s)
    if s not in SEVERITIES:
        raise UsageError(
            f"unknown syslog severity {severity!r}; use one of {', '.join(SEVERITIES)}"
        )
    return s


def severities_from(severity: str) -> tuple[str, ...]:
    """Every syslog severity from emerg down to ``severity`` (lower-case keywords)."""
    s = check_severity(severity)
    return SEVERITIES[: SEVERITIES.index(s) + 1]


def dcr_levels_from(severity: str) -> tuple[str, ...]:
    """The DCR logLevels for ``severity`` and everything more severe, in DCR spelling."""
    n = len(severities_from(severity))
    return tuple(reversed(DCR_LEVELS[:n]))  # Info, Notice, ... Emergency (az CLI order)


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


class LogPath(Protocol):
    name: str

    async def probe(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> LogPathState: ...

    async def apply(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[Change]: ...

    async def remove(
        self, cluster: Cluster, workspace: Workspace, undo: Sequence[str]
    ) -> list[str]: ...


def get_log_path(name: str, clients: AsyncClients, concurrency: int | None = None) -> LogPath:
    """The adapter for a plan's ``log_path`` value."""
    from aksaudit_tui.cloud.ama import AmaPath
    from aksaudit_tui.cloud.container_insights import ContainerInsightsPath
    from aksaudit_tui.cloud.legacy_oms import LegacyOmsPath

    paths: dict[str, type[Any]] = {
        "container-insights": ContainerInsightsPath,
        "legacy-oms": LegacyOmsPath,
        "ama": AmaPath,
    }
    if name not in paths:
        raise UsageError(f"unknown log path {name!r}; use one of {', '.join(paths)}")
    adapter: LogPath = paths[name](clients, concurrency)
    return adapter


class AdapterBase:
    """Common plumbing: bounded ARM calls and the cluster's Linux pool scale sets."""

    name = ""

    def __init__(self, clients: AsyncClients, concurrency: int | None = None) -> None:
        self.clients = clients
        self.b = Bounded(concurrency or clients.settings.concurrency)

    # --- undo helpers shared by the adapters' remove(); a thing already gone counts as done.

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
        """Delete a data collection rule (after the associations that point at it)."""
        did = ArmId.parse(dcr_id)
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


def find_extension(scale_set: ScaleSet, publisher: str, ext_type: str) -> Any:
    for ext in scale_set.extensions:
        if ext.publisher.lower() == publisher.lower() and ext.type.lower() == ext_type.lower():
            return ext
    return None


def stale_instances(scale_set: ScaleSet) -> list[str]:
    return [i.instance_id for i in scale_set.instances if not i.latest_model_applied]
