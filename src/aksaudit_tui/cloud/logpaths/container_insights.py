"""Log path 1 (default, AKS-supported): Container Insights syslog.

In place when: the monitoring add-on (``omsagent``) is on with managed-identity auth, and the
cluster's Container Insights data collection rule (associated as ``ContainerInsightsExtension``,
named ``MSCI-<region>-<cluster>`` in the cluster's resource group) collects the facility at every
level from the chosen severity up and routes ``Microsoft-Syslog`` to the workspace.
Where absent it is set up as ``az aks enable-addons -a monitoring --enable-msi-auth-for-monitoring
--enable-syslog`` does: DCR, association, then the add-on profile. Other facilities and the rest
of the rule are kept. Like the az CLI, ``azureMonitorProfile.containerInsights.syslogPort`` is left
as it is (absent means the default 28330 the ama-logs forwarder listens on).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from shlex import quote
from typing import Any

from aksaudit_tui.cloud.arm import ArmId, json_body, props, rest, same_id
from aksaudit_tui.cloud.errors import is_not_found, user_error
from aksaudit_tui.cloud.logpaths.base import (
    AdapterBase,
    Build,
    Change,
    Destination,
    LogPathState,
    PathGap,
)
from aksaudit_tui.cloud.logpaths.dcr import covers, writable_dcr
from aksaudit_tui.cloud.models import Cluster, Workspace
from aksaudit_tui.cloud.parse import CI_ASSOCIATION, SYSLOG_STREAM, msci_name, parse_monitoring
from aksaudit_tui.errors import UserError
from aksaudit_tui.syslog import (
    check_facility,
    dcr_levels_from,
    keyword_of_level,
    severities_from,
)

CI_STREAM = "Microsoft-ContainerInsights-Group-Default"
ADDON = "omsagent"
OUR_SOURCE_PREFIX = "aksaudit-"


@dataclass
class _Plan:
    cluster_body: dict[str, Any]
    dcr: dict[str, Any] | None
    dcr_id: str
    associated: bool
    addon_on: bool
    msi: bool
    syslog_ok: bool
    flow_ok: bool
    blocking: str | None = None
    changes: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)


class ContainerInsightsPath(AdapterBase):
    name = "container-insights"
    forwarder = "Container Insights"
    title = "Container Insights syslog (AKS-supported, default)"
    summary = "Container Insights syslog (DCR facility and level)"
    explanation = (
        "The cluster's monitoring add-on (ama-logs) forwards node syslog; its data collection "
        "rule (MSCI-<region>-<cluster>) picks facilities and levels. Supported by AKS and kept "
        "across node image upgrades. The default."
    )
    touches_scale_sets = False

    @classmethod
    def preview(cls, clusters: Sequence[Cluster], facility: str, severity: str) -> list[str]:
        want_levels = set(severities_from(severity))
        out: list[str] = []
        for c in clusters:
            m = c.monitoring
            if not m.addon_enabled:
                out.append(f"{c.name}: enable the monitoring add-on with syslog (will change)")
                continue
            if not m.syslog_enabled:
                out.append(f"{c.name}: turn on syslog collection (will change)")
                continue
            ok = any(
                (facility in s.facilities or "*" in s.facilities)
                and ("*" in s.levels or want_levels <= {keyword_of_level(x) for x in s.levels})
                for s in m.syslog
            )
            out.append(
                f"{c.name}: syslog collects {facility}.{severity} (already done)"
                if ok
                else f"{c.name}: add {facility} at {severity}+ to the MSCI rule (will change)"
            )
        return out

    @classmethod
    def az_commands(
        cls, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[str]:
        levels = " ".join(severities_from(severity))
        return [
            f"az aks enable-addons -a monitoring --enable-msi-auth-for-monitoring "
            f"--enable-syslog --subscription {quote(cluster.subscription_id)} "
            f"-g {quote(cluster.resource_group)} "
            f"-n {quote(cluster.name)} --workspace-resource-id {quote(workspace.id)}",
            f"# then make sure the MSCI-{cluster.location}-{cluster.name} data collection rule "
            f"lists {facility} at {levels}",
        ]

    async def _read(
        self, cluster: Cluster, workspace: Workspace, facility: str, levels: Sequence[str]
    ) -> _Plan:
        sid = cluster.subscription_id
        cs = self.clients.containerservice(sid)
        monitor = self.clients.monitor(sid)
        try:
            body = rest(
                await self.b.call(cs.managed_clusters.get(cluster.resource_group, cluster.name))
            )
        except Exception as exc:
            raise user_error(exc, doing=f"reading cluster {cluster.name}") from None
        mon = parse_monitoring(body)
        dcr: dict[str, Any] | None = None
        associated = False
        try:
            assoc = rest(
                await self.b.call(
                    monitor.data_collection_rule_associations.get(cluster.id, CI_ASSOCIATION)
                )
            )
            rule_id = props(assoc).get("dataCollectionRuleId")
            if rule_id:
                associated = True
                did = ArmId.parse(str(rule_id))
                dcr = rest(
                    await self.b.call(
                        self.clients.monitor(did.subscription or sid).data_collection_rules.get(
                            did.resource_group, did.name
                        )
                    )
                )
        except Exception as exc:
            if not is_not_found(exc):
                raise user_error(exc, doing=f"reading {cluster.name}'s monitoring rule") from None
            associated = False  # an association to a rule that is gone: associate again
        if dcr is None:
            name = msci_name(workspace.location or cluster.location, cluster.name)
            try:
                dcr = rest(
                    await self.b.call(
                        monitor.data_collection_rules.get(cluster.resource_group, name)
                    )
                )
            except Exception as exc:
                if not is_not_found(exc):
                    raise user_error(exc, doing=f"reading data collection rule {name}") from None
        dcr_id = (
            str(dcr["id"])
            if dcr
            else (
                f"/subscriptions/{sid}/resourceGroups/{cluster.resource_group}/providers/"
                f"Microsoft.Insights/dataCollectionRules/"
                f"{msci_name(workspace.location or cluster.location, cluster.name)}"
            )
        )
        p = props(dcr) if dcr else {}
        sources = list((p.get("dataSources") or {}).get("syslog") or [])
        flows = p.get("dataFlows") or []
        plan = _Plan(
            cluster_body=body,
            dcr=dcr,
            dcr_id=dcr_id,
            associated=associated,
            addon_on=mon.addon_enabled,
            msi=mon.msi_auth,
            syslog_ok=covers(sources, facility, levels),
            flow_ok=any(SYSLOG_STREAM in (f.get("streams") or []) for f in flows),
        )
        dcr_name = ArmId.parse(dcr_id).name
        # The add-on's workspace is where the rows land; a different one would fail verify.
        if mon.addon_enabled and mon.workspace_id and not same_id(mon.workspace_id, workspace.id):
            plan.blocking = (
                f"{cluster.name} already sends Container Insights data to workspace "
                f"{ArmId.parse(mon.workspace_id).name}; choose that workspace in the plan "
                f"(or move the add-on yourself)"
            )
        dests = [
            str(d.get("workspaceResourceId") or "")
            for d in (p.get("destinations") or {}).get("logAnalytics") or []
        ]
        if dcr and dests and not any(same_id(d, workspace.id) for d in dests):
            plan.blocking = plan.blocking or (
                f"data collection rule {dcr_name} sends to workspace "
                f"{ArmId.parse(dests[0]).name}, not {workspace.name}; choose that workspace"
            )
        level_text = ", ".join(levels)
        if dcr is None:
            plan.changes.append(
                f"create data collection rule {dcr_name} in {cluster.resource_group} "
                f"(Container Insights + syslog {facility}: {level_text}) -> {workspace.name}"
            )
        else:
            if not plan.syslog_ok:
                plan.changes.append(
                    f"add syslog {facility} ({level_text}) to data collection rule {dcr_name}"
                )
            if not plan.flow_ok:
                plan.changes.append(
                    f"route Microsoft-Syslog to the workspace in data collection rule {dcr_name}"
                )
        if not associated:
            plan.changes.append(
                f"associate {dcr_name} with cluster {cluster.name} as {CI_ASSOCIATION}"
            )
        if not mon.addon_enabled:
            plan.changes.append(
                f"enable the monitoring add-on on {cluster.name} (managed identity auth, "
                f"workspace {workspace.name})"
            )
        elif not mon.msi_auth:
            plan.changes.append(
                f"switch {cluster.name}'s monitoring add-on to managed identity auth "
                "(syslog collection needs it)"
            )
        plan.details[dcr_name] = (
            "absent"
            if dcr is None
            else ("collects " if plan.syslog_ok else "lacks ") + f"{facility} ({level_text})"
        )
        plan.details["add-on"] = (
            "on, managed identity"
            if mon.addon_enabled and mon.msi_auth
            else ("on, key auth" if mon.addon_enabled else "off")
        )
        return plan

    async def diagnose(
        self, cluster: Cluster, dest: Destination, facility: str, severity: str
    ) -> list[PathGap]:
        """From discovery alone (the add-on, its MSCI rule and association): no read."""
        fac, level = check_facility(facility), dcr_levels_from(severity)[0]
        mon = cluster.monitoring
        if not mon.addon_enabled:
            return [
                PathGap(
                    "Container Insights is off on the cluster (monitoring add-on disabled)",
                    "its log-path step enables it",
                )
            ]
        if not mon.dcr_id or not mon.syslog_enabled:
            return [
                PathGap(
                    "Container Insights collects no syslog (no MSCI data collection rule with "
                    "Microsoft-Syslog)"
                )
            ]
        dcr = ArmId.parse(mon.dcr_id).name
        facs = {f.lower() for src in mon.syslog for f in src.facilities}
        if fac not in facs and "*" not in facs:
            return [PathGap(f"data collection rule {dcr} lacks the {fac} facility",
                            f"adds {fac} to the rule")]  # fmt: skip
        levels = {
            lv
            for src in mon.syslog
            if fac in src.facilities or "*" in src.facilities
            for lv in src.levels
        }
        if level not in levels and "*" not in levels:
            return [PathGap(f"data collection rule {dcr} does not collect {fac} at level {level}")]
        sends = {w.lower() for w in mon.dcr_workspace_ids}
        if dest.resource_id and sends and dest.resource_id.lower() not in sends:
            return [
                PathGap(f"data collection rule {dcr} sends to another workspace than {dest.name}")
            ]
        if not mon.dcr_associated:
            return [PathGap(f"data collection rule {dcr} is not associated with the cluster")]
        return []

    async def probe(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> LogPathState:
        fac = check_facility(facility)
        levels = dcr_levels_from(severity)
        plan = await self._read(cluster, workspace, fac, levels)
        return LogPathState(
            ok=not plan.changes and plan.blocking is None,
            changes=plan.changes,
            details=plan.details,
            blocking=plan.blocking,
        )

    async def apply(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[Change]:
        fac = check_facility(facility)
        levels = dcr_levels_from(severity)
        plan = await self._read(cluster, workspace, fac, levels)
        if plan.blocking:
            raise UserError(plan.blocking)
        done: list[Change] = []
        did = ArmId.parse(plan.dcr_id)

        # 1. the rule (built again on the rule as it is then, should someone change it meanwhile)
        def rule(cur: dict[str, Any] | None) -> dict[str, Any]:
            if cur is None:
                return new_dcr_body(workspace, fac, levels, self.owner_tags)
            return extend_dcr_body(cur, workspace, fac, levels)[0]

        if plan.dcr is None or not plan.syslog_ok or not plan.flow_ok:
            # What we changed (and may undo) is judged from the rule the write went over, not
            # from the first read: after a 412 the rule is someone else's, never ours to delete.
            over = await self.write_dcr(plan.dcr_id, plan.dcr, rule)
            if over is None:
                done.append(
                    Change(f"created data collection rule {did.name}", undo=f"dcr|{plan.dcr_id}")
                )
            else:
                done.extend(extend_dcr_body(over, workspace, fac, levels)[1])
        # 2. the association the agent reads its configuration through
        if not plan.associated:
            try:
                await self.b.call(
                    self.clients.monitor(
                        cluster.subscription_id
                    ).data_collection_rule_associations.create(
                        cluster.id,
                        CI_ASSOCIATION,
                        json_body(
                            {
                                "properties": {
                                    "dataCollectionRuleId": plan.dcr_id,
                                    "description": "routes monitoring data to a Log Analytics "
                                    "workspace (aksaudit)",
                                }
                            }
                        ),
                    )
                )
            except Exception as exc:
                raise user_error(
                    exc,
                    doing=f"associating {did.name} with {cluster.name}",
                    action="Microsoft.Insights/dataCollectionRuleAssociations/write",
                    scope=cluster.id,
                ) from None
            done.append(
                Change(
                    f"associated {did.name} with {cluster.name} as {CI_ASSOCIATION}",
                    undo=f"dcra|{cluster.id}|{CI_ASSOCIATION}",
                )
            )
        # 3. the add-on (after the rule exists, so the agent starts with syslog configured)
        if not plan.addon_on or not plan.msi:

            def enabled(cur: dict[str, Any] | None) -> dict[str, Any]:
                body = copy.deepcopy(cur or {})
                p = body.setdefault("properties", {})
                addons = p.setdefault("addonProfiles", {}) or {}
                p["addonProfiles"] = addons
                key = next((k for k in addons if k.lower() == ADDON), ADDON)
                current = addons.get(key) or {}
                config = dict(current.get("config") or {})
                for k in list(config):  # the key has been seen lower-cased in the wild
                    if k.lower() == "loganalyticsworkspaceresourceid":
                        config.pop(k)
                config["logAnalyticsWorkspaceResourceID"] = workspace.id
                config["useAADAuth"] = "true"
                addons[key] = {"enabled": True, "config": config}
                return body

            # judged from the cluster the write went over, not the first read: after a 412 the
            # add-on may be someone else's, never ours to disable on remove
            was = parse_monitoring(
                await self.write_cluster(cluster, plan.cluster_body, enabled) or {}
            )
            if was.addon_enabled and was.msi_auth:
                done.append(
                    Change(
                        f"pointed {cluster.name}'s monitoring add-on (enabled meanwhile by "
                        f"someone else) at {workspace.name}"
                    )
                )
            elif not was.addon_enabled:
                done.append(
                    Change(
                        f"enabled the monitoring add-on on {cluster.name} -> {workspace.name}",
                        undo=f"addon|{cluster.id}",
                    )
                )
            else:
                done.append(
                    Change(
                        f"switched {cluster.name}'s monitoring add-on to managed identity auth",
                        undo=f"addon-msi|{cluster.id}",
                    )
                )
        return done

    async def remove(
        self, cluster: Cluster, workspace: Workspace, undo: Sequence[str]
    ) -> list[str]:
        """Undo what ``apply`` journaled, newest first."""
        out: list[str] = []
        dcr_edits: dict[str, list[list[str]]] = {}
        for token in reversed(list(undo)):
            kind, *args = token.split("|")
            if kind == "addon" or kind == "addon-msi":
                body = await self.read_cluster(cluster)
                if _addon_key(body) is None:
                    continue
                await self.write_cluster(cluster, body, _addon_undone(kind))
                out.append(
                    f"disabled the monitoring add-on on {cluster.name}"
                    if kind == "addon"
                    else f"switched {cluster.name}'s monitoring add-on back to key auth"
                )
            elif kind == "dcra":
                out.append(await self.delete_association(cluster, *args))
            elif kind == "dcr":
                out.append(await self.delete_dcr(args[0]))
            elif kind in ("dcr-source", "dcr-facility", "dcr-flow"):
                dcr_edits.setdefault(args[0], []).append([kind, *args[1:]])
        for dcr_id, edits in dcr_edits.items():
            out.extend(await self._revert_dcr(dcr_id, edits))
        return out

    async def _revert_dcr(self, dcr_id: str, edits: list[list[str]]) -> list[str]:
        did = ArmId.parse(dcr_id)
        current = await self.read_dcr(dcr_id)
        if current is None:
            return []
        out: list[str] = []

        def reverted(cur: dict[str, Any] | None) -> dict[str, Any]:
            if cur is None:  # deleted while we wrote: nothing left to revert, never recreate
                raise UserError(f"data collection rule {did.name} was deleted meanwhile")
            body = writable_dcr(cur)
            p = body["properties"]
            syslog = (p.get("dataSources") or {}).get("syslog") or []
            out.clear()
            for kind, *args in edits:
                if kind == "dcr-source":
                    syslog[:] = [s for s in syslog if s.get("name") != args[0]]
                    out.append(f"removed syslog source {args[0]} from {did.name}")
                elif kind == "dcr-facility":
                    src_name, fac = args
                    for s in syslog:
                        if s.get("name") == src_name:
                            names = s.get("facilityNames") or []
                            s["facilityNames"] = [f for f in names if f != fac]
                    out.append(f"removed {fac} from {did.name}")
                elif kind == "dcr-flow":
                    p["dataFlows"] = [
                        f for f in p.get("dataFlows") or [] if f.get("streams") != [SYSLOG_STREAM]
                    ]
                    out.append(f"removed the Microsoft-Syslog flow from {did.name}")
            if not syslog and "dataSources" in p:
                p["dataSources"].pop("syslog", None)
            return body

        await self.write_dcr(dcr_id, current, reverted)
        return out


def _addon_key(body: dict[str, Any]) -> str | None:
    """The monitoring add-on's key in a cluster's ``addonProfiles`` (its case varies)."""
    addons = props(body).get("addonProfiles") or {}
    return next((k for k in addons if k.lower() == ADDON), None)


def _addon_undone(kind: str) -> Build:
    """A cluster body builder that undoes ``addon`` (disable) or ``addon-msi`` (key auth)."""

    def build(cur: dict[str, Any] | None) -> dict[str, Any]:
        body = copy.deepcopy(cur or {})
        addons = props(body).get("addonProfiles") or {}
        key = _addon_key(body)
        if key is None:
            return body
        if kind == "addon":
            addons[key] = {"enabled": False, "config": addons[key].get("config") or {}}
        else:
            cfg = dict(addons[key].get("config") or {})
            cfg["useAADAuth"] = "false"
            addons[key] = {"enabled": True, "config": cfg}
        return body

    return build


def new_dcr_body(
    workspace: Workspace, facility: str, levels: Sequence[str], tags: dict[str, str]
) -> dict[str, Any]:
    """The az CLI's Container Insights rule with syslog, for one facility, tagged as ours
    (``dcr.owner_tags``: only a rule that says so is deleted by a remove)."""
    return {
        "location": workspace.location,
        "kind": "Linux",
        "tags": dict(tags),
        "properties": {
            "dataSources": {
                "syslog": [
                    {
                        "name": "sysLogsDataSource",
                        "streams": [SYSLOG_STREAM],
                        "facilityNames": [facility],
                        "logLevels": list(levels),
                    }
                ],
                "extensions": [
                    {
                        "name": "ContainerInsightsExtension",
                        "streams": [CI_STREAM],
                        "extensionName": "ContainerInsights",
                        "extensionSettings": {
                            "dataCollectionSettings": {"enableContainerLogV2": True}
                        },
                    }
                ],
            },
            "dataFlows": [
                {"streams": [CI_STREAM], "destinations": ["la-workspace"]},
                {"streams": [SYSLOG_STREAM], "destinations": ["la-workspace"]},
            ],
            "destinations": {
                "logAnalytics": [{"workspaceResourceId": workspace.id, "name": "la-workspace"}]
            },
        },
    }


def extend_dcr_body(
    dcr: dict[str, Any], workspace: Workspace, facility: str, levels: Sequence[str]
) -> tuple[dict[str, Any], list[Change]]:
    """Add ``facility`` at ``levels`` (and a syslog flow) to an existing rule; keep the rest."""
    body = writable_dcr(dcr)
    did = str(dcr.get("id") or "")
    name = str(dcr.get("name") or ArmId.parse(did).name)
    p = body["properties"]
    sources = p.setdefault("dataSources", {}).setdefault("syslog", [])
    changes: list[Change] = []
    if not covers(sources, facility, levels):
        # Prefer widening a source that already collects every level we need (keeps its other
        # facilities as they are); otherwise add our own source for just this facility.
        target = next(
            (
                s
                for s in sources
                if SYSLOG_STREAM in (s.get("streams") or [SYSLOG_STREAM])
                and (
                    set(levels) <= {str(x) for x in s.get("logLevels") or ()}
                    or "*" in (s.get("logLevels") or ())
                )
            ),
            None,
        )
        if target is not None:
            target["facilityNames"] = [*(target.get("facilityNames") or []), facility]
            changes.append(
                Change(
                    f"added {facility} to syslog source {target.get('name')} of {name}",
                    undo=f"dcr-facility|{did}|{target.get('name')}|{facility}",
                )
            )
        else:
            src_name = f"{OUR_SOURCE_PREFIX}{facility}"
            sources.append(
                {
                    "name": src_name,
                    "streams": [SYSLOG_STREAM],
                    "facilityNames": [facility],
                    "logLevels": list(levels),
                }
            )
            changes.append(
                Change(
                    f"added syslog source {src_name} ({facility}: {', '.join(levels)}) to {name}",
                    undo=f"dcr-source|{did}|{src_name}",
                )
            )
    flows = p.setdefault("dataFlows", [])
    if not any(SYSLOG_STREAM in (f.get("streams") or []) for f in flows):
        dests = p.setdefault("destinations", {}).setdefault("logAnalytics", [])
        dest = next(
            (d for d in dests if same_id(str(d.get("workspaceResourceId") or ""), workspace.id)),
            None,
        )
        if dest is None:
            dest = {"workspaceResourceId": workspace.id, "name": "la-workspace"}
            dests.append(dest)
        flows.append({"streams": [SYSLOG_STREAM], "destinations": [dest["name"]]})
        changes.append(
            Change(f"routed Microsoft-Syslog to {workspace.name} in {name}", undo=f"dcr-flow|{did}")
        )
    return body, changes
