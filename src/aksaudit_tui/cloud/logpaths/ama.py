"""Log path 3: Azure Monitor Agent on the pool scale sets.

AzureMonitorLinuxAgent on each Linux pool scale set, one data collection rule
``aksaudit-syslog-<workspace>`` (in the cluster's resource group, so node resource group lockdown
and AKS clean-ups leave it alone) with the syslog source and the workspace destination, an
association per scale set, and instances brought to the latest model. The extension and the
associations live in the node resource group: AKS does not support them and removes the extension
on upgrade, and lockdown denies them.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from shlex import quote
from typing import Any

from aksaudit_tui.cloud.arm import ArmId, json_body, props, rest, same_id
from aksaudit_tui.cloud.errors import is_not_found, user_error
from aksaudit_tui.cloud.logpaths.base import (
    AdapterBase,
    Change,
    Destination,
    LogPathState,
    PathGap,
    find_extension,
    lockdown_reason,
    stale_instances,
)
from aksaudit_tui.cloud.logpaths.dcr import covers, writable_dcr
from aksaudit_tui.cloud.models import Cluster, ScaleSet, Workspace
from aksaudit_tui.cloud.parse import SYSLOG_STREAM
from aksaudit_tui.syslog import DCR_LEVELS, check_facility, dcr_levels_from

PUBLISHER = "Microsoft.Azure.Monitor"
EXT_TYPE = "AzureMonitorLinuxAgent"
EXT_NAME = "AzureMonitorLinuxAgent"
TYPE_HANDLER_VERSION = "1.33"
ASSOCIATION = "aksaudit-syslog"
# What probe adds to its findings.
PROBE_WARNING = (
    "ama changes the node-pool scale sets directly, which AKS does not support: AKS upgrades "
    "remove the extension (re-run apply after upgrades)"
)


def dcr_name(workspace: Workspace) -> str:
    return dcr_name_of(workspace.name)


def dcr_name_of(workspace_name: str) -> str:
    """The data collection rule apply writes for a workspace of this name."""
    return f"aksaudit-syslog-{workspace_name}"[:64]


class AmaPath(AdapterBase):
    name = "ama"
    forwarder = "the Azure Monitor Agent"
    title = "Azure Monitor Agent on the scale sets"
    summary = "Azure Monitor Agent + data collection rule + associations"
    explanation = (
        "Azure Monitor Agent extension on every node-pool scale set, a data collection rule "
        "with a syslog source and one association per scale set. Current agent, but changing "
        "AKS scale sets is unsupported and AKS upgrades may remove the extension."
    )
    touches_scale_sets = True

    @classmethod
    def preview(cls, clusters: Sequence[Cluster], facility: str, severity: str) -> list[str]:
        out: list[str] = []
        for c in clusters:
            linux = [s for s in c.scale_sets if s.os.lower() != "windows"]
            have = sum(1 for s in linux if any(e.type == EXT_TYPE for e in s.extensions))
            out.append(
                f"{c.name}: {EXT_NAME} on {len(linux) - have}/{len(linux)} scale "
                f"set(s), a syslog data collection rule, {len(linux)} association(s)"
            )
        return out

    @classmethod
    def az_commands(
        cls, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[str]:
        sub, nrg = quote(cluster.subscription_id), quote(cluster.node_resource_group)
        return [
            f"for vmss in $(az vmss list --subscription {sub} -g {nrg} "
            "--query '[].name' -o tsv); do",
            f"  az vmss extension set --publisher {PUBLISHER} "
            f"--name {EXT_NAME} --subscription {sub} "
            f'-g {nrg} --vmss-name "$vmss"',
            "  az monitor data-collection rule association create --name aksaudit "
            '--rule-id "$DCR_ID" --resource "$(az vmss show --subscription '
            f'{sub} -g {nrg} -n "$vmss" --query id -o tsv)"',
            "done",
        ]

    def _dcr_id(self, cluster: Cluster, workspace: Workspace) -> str:
        return (
            f"/subscriptions/{cluster.subscription_id}/resourceGroups/{cluster.resource_group}"
            f"/providers/Microsoft.Insights/dataCollectionRules/{dcr_name(workspace)}"
        )

    async def _associated(self, cluster: Cluster, s: ScaleSet, dcr_id: str) -> bool:
        monitor = self.clients.monitor(cluster.subscription_id)
        try:
            body = rest(
                await self.b.call(monitor.data_collection_rule_associations.get(s.id, ASSOCIATION))
            )
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise user_error(exc, doing=f"reading associations of {s.name}") from None
        return same_id(str(props(body).get("dataCollectionRuleId") or ""), dcr_id)

    @staticmethod
    def _dcr_ok(
        dcr: dict[str, Any], workspace: Workspace, facility: str, levels: Sequence[str]
    ) -> bool:
        p = props(dcr)
        sources = (p.get("dataSources") or {}).get("syslog") or []
        dests = (p.get("destinations") or {}).get("logAnalytics") or []
        to_ws = [
            d.get("name") for d in dests if same_id(str(d.get("workspaceResourceId")), workspace.id)
        ]
        flows = any(
            SYSLOG_STREAM in (f.get("streams") or [])
            and any(n in (f.get("destinations") or []) for n in to_ws)
            for f in p.get("dataFlows") or []
        )
        return covers(sources, facility, levels) and flows

    async def _associated_rules(self, cluster: Cluster, s: ScaleSet) -> list[str]:
        """The data collection rules associated with a scale set (any name, not only ours)."""
        monitor = self.clients.monitor(cluster.subscription_id)
        try:
            assocs = await self.b.collect(
                monitor.data_collection_rule_associations.list_by_resource(s.id)
            )
        except Exception as exc:
            if is_not_found(exc):
                return []
            raise user_error(exc, doing=f"reading associations of {s.name}") from None
        return [rid for a in assocs if (rid := str(props(a).get("dataCollectionRuleId") or ""))]

    async def diagnose(
        self, cluster: Cluster, dest: Destination, facility: str, severity: str
    ) -> list[PathGap]:
        """Per Linux pool scale set: the agent (from discovery), then its DCR associations and
        those rules (read): one must collect the facility at the level and send it to the
        workspace."""
        fac, level = check_facility(facility), dcr_levels_from(severity)[0]
        linux = [s for s in cluster.scale_sets if s.os.lower() != "windows"]
        rules: dict[str, dict[str, Any] | None] = {}

        async def rule(rid: str) -> dict[str, Any] | None:
            if rid.lower() not in rules:
                rules[rid.lower()] = await self.read_dcr(rid)
            return rules[rid.lower()]

        async def one(s: ScaleSet) -> PathGap | None:
            if find_extension(s, PUBLISHER, EXT_TYPE) is None:
                return PathGap(f"the {EXT_NAME} is missing on scale set {s.name}", scale_set=s.name)
            rids = await self._associated_rules(cluster, s)
            if not rids:
                return PathGap(
                    f"scale set {s.name} is associated with no data collection rule: the agent "
                    "there collects nothing",
                    f"associates {dcr_name_of(dest.name)} with it",
                    scale_set=s.name,
                )
            bodies = [(ArmId.parse(r).name, await rule(r)) for r in rids]
            found = [(n, b) for n, b in bodies if b is not None]
            names = ", ".join(n for n, _ in bodies)
            collecting = [
                (n, b)
                for n, b in found
                if covers((props(b).get("dataSources") or {}).get("syslog") or [], fac, [level])
            ]
            if not collecting:
                return PathGap(
                    f"the data collection rule(s) associated with scale set {s.name} ({names}) "
                    f"do not collect {fac} at level {level}",
                    f"adds {fac} to {dcr_name_of(dest.name)}",
                    scale_set=s.name,
                )
            if dest.resource_id and not any(
                self._sends_to(b, dest.resource_id) for _, b in collecting
            ):
                return PathGap(
                    f"the rule(s) associated with scale set {s.name} that collect {fac} "
                    f"({', '.join(n for n, _ in collecting)}) send to another workspace than "
                    f"{dest.name}",
                    scale_set=s.name,
                )
            return None

        gaps = await asyncio.gather(*(one(s) for s in linux))
        return [g for g in gaps if g is not None]

    @staticmethod
    def _sends_to(dcr: dict[str, Any], workspace_id: str) -> bool:
        p = props(dcr)
        dests = (p.get("destinations") or {}).get("logAnalytics") or []
        to_ws = [
            d.get("name") for d in dests if same_id(str(d.get("workspaceResourceId")), workspace_id)
        ]
        return any(
            SYSLOG_STREAM in (f.get("streams") or [])
            and any(n in (f.get("destinations") or []) for n in to_ws)
            for f in p.get("dataFlows") or []
        )

    async def probe(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> LogPathState:
        fac = check_facility(facility)
        levels = dcr_levels_from(severity)
        state = LogPathState(ok=True, warnings=[PROBE_WARNING])
        dcr_id = self._dcr_id(cluster, workspace)
        (linux, skipped), dcr = await asyncio.gather(
            self.linux_scale_sets(cluster), self.read_dcr(dcr_id)
        )
        name = dcr_name(workspace)
        if dcr is None:
            state.changes.append(
                f"create data collection rule {name} in {cluster.resource_group} "
                f"(syslog {fac}: {', '.join(levels)}) -> {workspace.name}"
            )
        elif not self._dcr_ok(dcr, workspace, fac, levels):
            state.changes.append(f"add syslog {fac} ({', '.join(levels)}) to {name}")
        state.details[name] = "absent" if dcr is None else "present"
        assoc = await asyncio.gather(*(self._associated(cluster, s, dcr_id) for s in linux))
        node_changes = False
        for s, associated in zip(linux, assoc, strict=True):
            ext = find_extension(s, PUBLISHER, EXT_TYPE)
            stale = stale_instances(s)
            if ext is None or ext.provisioning_state not in (None, "Succeeded"):
                state.changes.append(f"install {EXT_NAME} on {s.name}")
                state.changes.append(f"update {len(s.instances)} instance(s) of {s.name}")
                node_changes = True
            elif stale:
                state.changes.append(
                    f"update instance(s) {', '.join(stale)} of {s.name} to the latest model"
                )
                node_changes = True
            if not associated:
                state.changes.append(f"associate {name} with {s.name}")
                node_changes = True
            state.details[s.name] = (
                f"agent {'present' if ext else 'missing'}, "
                f"{'associated' if associated else 'not associated'}, stale {stale}"
            )
        for s in skipped:
            state.details[s.name] = f"skipped ({s.os_sku or s.os})"
        if not linux:
            state.warnings.append(f"{cluster.name} has no Linux node-pool scale set")
        if node_changes:
            state.blocking = lockdown_reason(cluster)
        state.ok = not state.changes and state.blocking is None
        return state

    async def apply(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[Change]:
        fac = check_facility(facility)
        levels = dcr_levels_from(severity)
        dcr_id = self._dcr_id(cluster, workspace)
        did = ArmId.parse(dcr_id)
        (linux, _), dcr = await asyncio.gather(
            self.linux_scale_sets(cluster), self.read_dcr(dcr_id)
        )
        done: list[Change] = []
        if dcr is None or not self._dcr_ok(dcr, workspace, fac, levels):
            over = await self.write_dcr(
                dcr_id, dcr, lambda cur: ama_dcr_body(cur, workspace, fac, levels, self.owner_tags)
            )
            # a create only if the write itself created it: after a 412 the rule is another's
            if over is None:
                done.append(
                    Change(f"created data collection rule {did.name}", undo=f"dcr|{dcr_id}")
                )
            else:
                done.append(Change(f"added syslog {fac} to data collection rule {did.name}"))

        async def one(s: ScaleSet) -> list[Change]:
            out: list[Change] = []
            ext = find_extension(s, PUBLISHER, EXT_TYPE)
            if ext is None or ext.provisioning_state not in (None, "Succeeded"):
                name = ext.name if ext is not None else EXT_NAME
                body = {
                    "properties": {
                        "publisher": PUBLISHER,
                        "type": EXT_TYPE,
                        "typeHandlerVersion": TYPE_HANDLER_VERSION,
                        "autoUpgradeMinorVersion": True,
                        "enableAutomaticUpgrade": True,
                        "settings": {},
                    }
                }
                await self.put_vmss_extension(
                    s.id, name, body, doing=f"installing {EXT_NAME} on {s.name}"
                )
                out.append(
                    Change(
                        f"installed {EXT_NAME} on {s.name}",
                        # Failed: most likely our own interrupted install (see legacy_oms)
                        undo=f"vmss-ext|{s.id}|{name}"
                        if ext is None or ext.provisioning_state == "Failed"
                        else None,
                    )
                )
            if not await self._associated(cluster, s, dcr_id):
                try:
                    await self.b.call(
                        self.clients.monitor(
                            cluster.subscription_id
                        ).data_collection_rule_associations.create(
                            s.id,
                            ASSOCIATION,
                            json_body(
                                {
                                    "properties": {
                                        "dataCollectionRuleId": dcr_id,
                                        "description": "aksaudit: audit syslog to Log Analytics",
                                    }
                                }
                            ),
                        )
                    )
                except Exception as exc:
                    raise user_error(
                        exc,
                        doing=f"associating {did.name} with {s.name}",
                        action="Microsoft.Insights/dataCollectionRuleAssociations/write",
                        scope=s.id,
                    ) from None
                out.append(
                    Change(
                        f"associated {did.name} with {s.name}",
                        undo=f"dcra|{s.id}|{ASSOCIATION}",
                    )
                )
            return out

        for changes in await asyncio.gather(*(one(s) for s in linux)):
            done.extend(changes)
        # Same manual-upgrade step as the legacy path (re-reads each scale set's instances).
        done.extend(await self.update_stale_instances(cluster, linux))
        return done

    async def remove(
        self, cluster: Cluster, workspace: Workspace, undo: Sequence[str]
    ) -> list[str]:
        out: list[str] = []
        touched: list[ScaleSet] = []
        dcrs: list[str] = []
        for token in reversed(list(undo)):
            kind, *args = token.split("|")
            if kind == "dcra":
                out.append(await self.delete_association(cluster, *args))
            elif kind == "vmss-ext":
                line, scale_set = await self.delete_vmss_extension(cluster, *args)
                out.append(line)
                touched.append(scale_set)
            elif kind == "dcr":
                dcrs.append(args[0])
        for dcr_id in dcrs:  # after the associations that point at it
            out.append(await self.delete_dcr(dcr_id))
        if touched:
            changes = await self.update_stale_instances(cluster, touched)
            out.extend(c.description for c in changes)
        return out


def ama_dcr_body(
    existing: dict[str, Any] | None,
    workspace: Workspace,
    facility: str,
    levels: Sequence[str],
    tags: dict[str, str],
) -> dict[str, Any]:
    """Our rule: a syslog source per facility and the workspace destination (existing kept).
    A new rule gets ``tags`` (``dcr.owner_tags``); one that exists keeps its own."""
    if existing is None:
        body: dict[str, Any] = {
            "location": workspace.location,
            "kind": "Linux",
            "tags": dict(tags),
            "properties": {},
        }
    else:
        body = writable_dcr(existing)
    p = body["properties"]
    sources = p.setdefault("dataSources", {}).setdefault("syslog", [])
    src_name = f"aksaudit-{facility}"
    src = next((s for s in sources if s.get("name") == src_name), None)
    if src is None:
        src = {"name": src_name, "streams": [SYSLOG_STREAM], "facilityNames": [facility]}
        sources.append(src)
    have = set(src.get("logLevels") or []) | set(levels)
    src["logLevels"] = [lv for lv in reversed(DCR_LEVELS) if lv in have]
    dests = p.setdefault("destinations", {}).setdefault("logAnalytics", [])
    dest = next(
        (d for d in dests if same_id(str(d.get("workspaceResourceId") or ""), workspace.id)), None
    )
    if dest is None:
        dest = {"workspaceResourceId": workspace.id, "name": "la-workspace"}
        dests.append(dest)
    flows = p.setdefault("dataFlows", [])
    if not any(
        SYSLOG_STREAM in (f.get("streams") or []) and dest["name"] in (f.get("destinations") or [])
        for f in flows
    ):
        flows.append({"streams": [SYSLOG_STREAM], "destinations": [dest["name"]]})
    return copy.deepcopy(body)
