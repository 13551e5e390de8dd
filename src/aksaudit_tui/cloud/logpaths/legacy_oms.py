"""Log path 2: the original guide's Log Analytics agent (OmsAgentForLinux) on the pool scale sets.

Retired agent (31 Aug 2024), changes AKS does not support (upgrades remove the extension) and
denied under node resource group lockdown: offered with a warning. The workspace key is fetched
only inside :meth:`LegacyOmsPath.apply`, travels only in ``protectedSettings``, and never reaches
a log line, a ``Change``, a probe result or an exception (errors are rebuilt and scrubbed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from shlex import quote
from typing import Any

from aksaudit_tui import redaction
from aksaudit_tui.cloud.arm import ArmId, json_body, props, rest
from aksaudit_tui.cloud.errors import is_not_found, user_error
from aksaudit_tui.cloud.logpaths.base import (
    AdapterBase,
    Change,
    Destination,
    LeftAlone,
    LogPathState,
    PathGap,
    find_extension,
    lockdown_reason,
    stale_instances,
)
from aksaudit_tui.cloud.logpaths.dcr import OWNER_TAG, created_by_us
from aksaudit_tui.cloud.models import Cluster, ScaleSet, Workspace
from aksaudit_tui.cloud.parse import parse_linux_syslog
from aksaudit_tui.errors import UserError
from aksaudit_tui.syslog import SEVERITIES, check_facility, severities_from

PUBLISHER = "Microsoft.EnterpriseCloud.Monitoring"
# The plan's choice that lets apply re-point an agent reporting to another workspace.
REPOINT_CHOICE = "repoint_agent: true"
EXT_TYPE = "OmsAgentForLinux"
EXT_NAME = "OmsAgentForLinux"
TYPE_HANDLER_VERSION = "1.19"
# What probe adds to its findings (the class's ``warning`` is said before choosing and per run).
PROBE_WARNING = (
    "legacy-oms uses the Log Analytics agent, retired on 31 Aug 2024 (ingestion no longer "
    "guaranteed); AKS does not support scale-set extensions and removes them on upgrade"
)


class LegacyOmsPath(AdapterBase):
    name = "legacy-oms"
    forwarder = "the Log Analytics agent"
    title = "Legacy Log Analytics agent (the original guide)"
    summary = "legacy Log Analytics agent (OmsAgentForLinux) + LinuxSyslog"
    explanation = (
        "What the original MSRC guide does: the OmsAgentForLinux extension on every node-pool "
        "scale set, an instance upgrade, and a LinuxSyslog data source on the workspace."
    )
    warning = (
        "legacy-oms uses the Log Analytics agent (OmsAgentForLinux), retired on 31 Aug 2024; "
        "changing node-pool scale sets is unsupported by AKS, AKS upgrades remove the extension, "
        "and node resource group lockdown blocks it"
    )
    chosen_note = "Legacy agent: retired 31 Aug 2024; offered as the guide did it."
    touches_scale_sets = True

    @classmethod
    def preview(cls, clusters: Sequence[Cluster], facility: str, severity: str) -> list[str]:
        out: list[str] = []
        for c in clusters:
            linux = [s for s in c.scale_sets if s.os.lower() != "windows"]
            have = sum(1 for s in linux if any(e.type == EXT_TYPE for e in s.extensions))
            stale = sum(1 for s in linux for i in s.instances if not i.latest_model_applied)
            line = f"{c.name}: {EXT_NAME} on {len(linux) - have}/{len(linux)} scale set(s)"
            line += " (will change)" if have < len(linux) else " (already done)"
            if stale:
                line += f", upgrade {stale} instance(s)"
            if (c.lockdown or "").lower() == "readonly":
                line += " — BLOCKED: node resource group lockdown"
            out.append(line)
        out.append(f"workspace: LinuxSyslog data source for {facility} (will change if absent)")
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
            f"--name {EXT_NAME} --subscription {sub} -g {nrg} "
            '--vmss-name "$vmss" '
            f'--settings \'{{"workspaceId":"{workspace.customer_id}",'
            '"skipDockerProviderInstall":true}\' '
            '--protected-settings "{\\"workspaceKey\\":\\"$WORKSPACE_KEY\\"}"',
            f"  az vmss update-instances --subscription {sub} -g "
            f"{nrg} -n \"$vmss\" --instance-ids '*'",
            "done",
        ]

    @classmethod
    def az_workspace_commands(cls, workspace: Workspace, facility: str, severity: str) -> list[str]:
        levels = severities_from(severity)
        return [
            f"# workspace {workspace.name}: LinuxSyslog data source for {facility} "
            f"({' '.join(levels)})",
            "az rest --method put --url "
            f"'{workspace.id}/dataSources/aksaudit-{facility}?api-version=2020-08-01' "
            '--body \'{"kind":"LinuxSyslog","properties":{"syslogName":"'
            + facility
            + '","syslogSeverities":['
            + ",".join(f'{{"severity":"{s}"}}' for s in levels)
            + "]}}'",
        ]

    async def _data_sources(self, workspace: Workspace) -> list[dict[str, Any]]:
        rid = ArmId.parse(workspace.id)
        la = self.clients.loganalytics(rid.subscription or workspace.subscription_id)
        try:
            return await self.b.collect(
                la.data_sources.list_by_workspace(
                    rid.resource_group, rid.name, filter="kind='LinuxSyslog'"
                )
            )
        except Exception as exc:
            raise user_error(exc, doing=f"listing data sources of {workspace.name}") from None

    @staticmethod
    def _source_for(
        sources: list[dict[str, Any]], facility: str, wanted: Sequence[str]
    ) -> tuple[dict[str, Any] | None, bool]:
        """(the LinuxSyslog source for ``facility``, whether it has every wanted severity)."""
        for body in sources:
            parsed = parse_linux_syslog(body)
            if parsed and parsed.facilities == (facility,):
                return body, set(wanted) <= set(parsed.levels)
        return None, False

    def _ext_state(self, s: ScaleSet, workspace: Workspace) -> str:
        ext = find_extension(s, PUBLISHER, EXT_TYPE)
        if ext is None:
            return "missing"
        ws = str(ext.settings.get("workspaceId") or "")
        if ws.lower() != workspace.customer_id.lower():
            return "other-workspace"
        if ext.provisioning_state not in (None, "Succeeded"):
            return "failed"
        return "ok"

    async def diagnose(
        self, cluster: Cluster, dest: Destination, facility: str, severity: str
    ) -> list[PathGap]:
        """From discovery alone: the agent on each Linux pool scale set and where it sends,
        and the workspace's LinuxSyslog data sources (what the agent collects)."""
        fac, sev = check_facility(facility), severities_from(severity)[-1]
        gaps: list[PathGap] = []
        ws = dest.workspace
        if ws is not None:
            levels = {
                lv.lower()
                for src in ws.syslog_sources
                if fac in src.facilities
                for lv in src.levels
            }
            if not levels:
                gaps.append(
                    PathGap(
                        f"workspace {ws.name} collects no {fac} syslog (no LinuxSyslog data "
                        f"source for it): the agent drops those lines",
                        f"adds the {fac} data source",
                    )
                )
            elif sev not in levels:
                gaps.append(
                    PathGap(
                        f"workspace {ws.name} collects {fac} only at {', '.join(sorted(levels))}, "
                        f"not at {sev}"
                    )
                )
        for s in cluster.scale_sets:
            if s.os.lower() == "windows":
                continue
            ext = find_extension(s, PUBLISHER, EXT_TYPE)
            if ext is None:
                gaps.append(
                    PathGap(
                        f"the {EXT_NAME} agent is missing on scale set {s.name} (an AKS upgrade "
                        "removes it)",
                        scale_set=s.name,
                    )
                )
                continue
            sends = str(ext.settings.get("workspaceId") or "").lower()
            if sends and dest.customer_id and sends != dest.customer_id.lower():
                gaps.append(
                    PathGap(
                        f"the {EXT_NAME} agent on {s.name} sends to another workspace than "
                        f"{dest.name}",
                        scale_set=s.name,
                    )
                )
        return gaps

    async def probe(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> LogPathState:
        fac = check_facility(facility)
        wanted = severities_from(severity)
        state = LogPathState(ok=True, warnings=[PROBE_WARNING])
        (linux, skipped), sources = await asyncio.gather(
            self.linux_scale_sets(cluster), self._data_sources(workspace)
        )
        for s in skipped:
            state.details[s.name] = f"skipped ({s.os_sku or s.os})"
        refused: list[str] = []
        for s in linux:
            ext = self._ext_state(s, workspace)
            stale = stale_instances(s)
            if ext == "missing":
                state.changes.append(
                    f"install {EXT_NAME} on {s.name} (workspace {workspace.customer_id})"
                )
                state.changes.append(f"update {len(s.instances)} instance(s) of {s.name}")
            elif ext == "other-workspace":
                other = _workspace_id_of(s)
                if not self.repoint_agent:
                    refused.append(
                        f"{EXT_NAME} on {s.name} reports to workspace {other}: aksaudit "
                        f"re-points it to {workspace.customer_id} only when the plan says "
                        f"{REPOINT_CHOICE} (remove then restores {other})"
                    )
                    continue
                state.changes.append(
                    f"re-point {EXT_NAME} on {s.name} from workspace {other} to "
                    f"{workspace.customer_id} ({REPOINT_CHOICE} in the plan; remove restores "
                    f"{other})"
                )
                state.changes.append(f"update {len(s.instances)} instance(s) of {s.name}")
            elif ext != "ok":
                state.changes.append(
                    f"reconfigure {EXT_NAME} on {s.name} for workspace {workspace.customer_id}"
                    + (" (last install failed)" if ext == "failed" else "")
                )
                state.changes.append(f"update {len(s.instances)} instance(s) of {s.name}")
            elif stale:
                state.changes.append(
                    f"update instance(s) {', '.join(stale)} of {s.name} to the latest model"
                )
            state.details[s.name] = (
                "agent in place" if ext == "ok" and not stale else f"agent {ext}, stale {stale}"
            )
        if not linux:
            state.warnings.append(f"{cluster.name} has no Linux node-pool scale set")
        body, complete = self._source_for(sources, fac, wanted)
        if body is None:
            state.changes.append(
                f"add LinuxSyslog data source {fac} ({', '.join(wanted)}) to {workspace.name}"
            )
        elif not complete:
            state.changes.append(
                f"add severities to LinuxSyslog data source {body.get('name')} of "
                f"{workspace.name} ({fac}: {', '.join(wanted)})"
            )
        state.details[f"{workspace.name}/LinuxSyslog"] = (
            "collects " if complete else "lacks "
        ) + f"{fac} ({', '.join(wanted)})"
        if any(
            c.startswith(("install", "reconfigure", "re-point", "update")) for c in state.changes
        ):
            state.blocking = lockdown_reason(cluster)
        if refused and state.blocking is None:
            state.blocking = refused[0] + (f" (and {len(refused) - 1} more)" if refused[1:] else "")
        state.ok = not state.changes and state.blocking is None
        return state

    async def apply(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[Change]:
        fac = check_facility(facility)
        wanted = severities_from(severity)
        (linux, _), sources = await asyncio.gather(
            self.linux_scale_sets(cluster), self._data_sources(workspace)
        )
        done: list[Change] = []
        need_ext = [s for s in linux if self._ext_state(s, workspace) != "ok"]
        others = [s for s in need_ext if self._ext_state(s, workspace) == "other-workspace"]
        if others and not self.repoint_agent:
            raise UserError(
                f"{EXT_NAME} on {others[0].name} reports to workspace {_workspace_id_of(others[0])}"
                f"; set {REPOINT_CHOICE} in the plan to re-point it (remove restores it)"
            )
        previous = await self._workspace_arm_ids(cluster, workspace, others)
        if need_ext:
            done.extend(await self._install(cluster, workspace, need_ext, previous))
        done.extend(await self.update_stale_instances(cluster, linux))
        done.extend(await self._data_source(workspace, sources, fac, wanted))
        return done

    async def _workspace_arm_ids(
        self, cluster: Cluster, workspace: Workspace, scale_sets: list[ScaleSet]
    ) -> dict[str, str]:
        """The ARM id of each workspace the agents on ``scale_sets`` report to (by customer id,
        lower-case), from the cluster's and the plan workspace's subscriptions: remove fetches
        that workspace's key again to restore the agent, so no key is ever recorded. Raises
        UserError (nothing changed) for a workspace not found there."""
        wanted = {_workspace_id_of(s).lower() for s in scale_sets}
        if not wanted:
            return {}
        found: dict[str, str] = {}
        for sid in dict.fromkeys([cluster.subscription_id, workspace.subscription_id]):
            if not sid:
                continue
            try:
                bodies = await self.b.collect(self.clients.loganalytics(sid).workspaces.list())
            except Exception as exc:
                raise user_error(exc, doing=f"listing workspaces of subscription {sid}") from None
            for body in bodies:
                cid = str(props(body).get("customerId") or "").lower()
                if cid in wanted:
                    found[cid] = str(body.get("id") or "")
        missing = sorted(wanted - set(found))
        if missing:
            raise UserError(
                f"workspace {missing[0]} (where {EXT_NAME} reports now) is not in subscription "
                f"{cluster.subscription_id} nor {workspace.subscription_id}, so remove could not "
                "restore the agent; re-point it by hand, or pick that workspace"
            )
        return found

    async def _install(
        self,
        cluster: Cluster,
        workspace: Workspace,
        scale_sets: list[ScaleSet],
        previous: dict[str, str],
    ) -> list[Change]:
        key = await self._workspace_key(workspace.id, workspace.name, workspace.subscription_id)

        async def one(s: ScaleSet) -> Change:
            existed = find_extension(s, PUBLISHER, EXT_TYPE)
            name = existed.name if existed is not None else EXT_NAME
            body = _agent_body(
                {"workspaceId": workspace.customer_id, "skipDockerProviderInstall": True}, key
            )
            try:
                await self.put_vmss_extension(
                    s.id, name, body, doing=f"installing {EXT_NAME} on {s.name}", secrets=[key]
                )
            finally:
                del body
            if existed is not None and _workspace_id_of(s).lower() in previous:
                # re-pointed (the plan chose it): remove puts back the settings it had, with
                # the key of the workspace they name fetched again then (never recorded)
                other = _workspace_id_of(s)
                settings = json.dumps(existed.settings, sort_keys=True, separators=(",", ":"))
                return Change(
                    f"re-pointed {EXT_NAME} on {s.name} from workspace {other} to "
                    f"{workspace.customer_id}",
                    undo=f"vmss-ext-restore|{s.id}|{name}|{previous[other.lower()]}|{settings}",
                )
            # A Failed extension is most likely our own interrupted install (a failed apply
            # journals nothing): count it as ours, so remove cleans it up.
            if existed is None or existed.provisioning_state == "Failed":
                return Change(
                    f"installed {EXT_NAME} on {s.name} (workspace {workspace.customer_id})",
                    undo=f"vmss-ext|{s.id}|{name}",
                )
            # Reconfigured an extension someone else installed: not ours to remove later.
            return Change(f"reconfigured {EXT_NAME} on {s.name} for {workspace.customer_id}")

        return list(await asyncio.gather(*(one(s) for s in scale_sets)))

    async def _data_source(
        self,
        workspace: Workspace,
        sources: list[dict[str, Any]],
        facility: str,
        wanted: Sequence[str],
    ) -> list[Change]:
        body, complete = self._source_for(sources, facility, wanted)
        if complete:
            return []
        rid = ArmId.parse(workspace.id)
        la = self.clients.loganalytics(rid.subscription or workspace.subscription_id)
        if body is None:
            name = f"aksaudit-syslog-{facility}"
            before: list[str] = []
        else:
            name = str(body.get("name"))
            before = [str(s.get("severity")) for s in props(body).get("syslogSeverities") or []]
        severities = sorted(set(before) | set(wanted), key=_sev_order)
        new = {
            "kind": "LinuxSyslog",
            "properties": {
                "syslogName": facility,
                "syslogSeverities": [{"severity": s} for s in severities],
            },
            # a PUT replaces the tags: a source we widen keeps its own; one we create says it
            # is ours (remove deletes a whole source only then, as it does rules: dcr.py)
            "tags": dict(body.get("tags") or {}) if body is not None else dict(self.owner_tags),
        }
        try:
            await self.b.call(
                la.data_sources.create_or_update(rid.resource_group, rid.name, name, json_body(new))
            )
        except Exception as exc:
            raise user_error(
                exc,
                doing=f"writing data source {name} on {workspace.name}",
                action="Microsoft.OperationalInsights/workspaces/dataSources/write",
                scope=workspace.id,
            ) from None
        if body is None:
            return [
                Change(
                    f"added LinuxSyslog data source {name} ({facility}: {', '.join(severities)}) "
                    f"to {workspace.name}",
                    undo=f"ds|{workspace.id}|{name}",
                )
            ]
        return [
            Change(
                f"added severities to LinuxSyslog data source {name} of {workspace.name}",
                undo=f"ds-severities|{workspace.id}|{name}|{','.join(before)}",
            )
        ]

    async def remove(
        self, cluster: Cluster, workspace: Workspace, undo: Sequence[str]
    ) -> list[str]:
        out: list[str] = []
        touched: list[ScaleSet] = []
        for token in reversed(list(undo)):
            kind, *args = token.split("|")
            if kind == "vmss-ext-restore":
                vmss_id, name, ws_id, settings = token.split("|", 4)[1:]
                out.append(await self._restore(cluster, vmss_id, name, ws_id, settings))
                vid = ArmId.parse(vmss_id)
                touched.append(
                    ScaleSet(
                        id=vmss_id, name=vid.name, pool="", os="Linux", os_sku=None,
                        upgrade_mode="Manual",
                    )
                )  # fmt: skip
            elif kind == "vmss-ext":
                line, scale_set = await self.delete_vmss_extension(cluster, *args)
                out.append(line)
                touched.append(scale_set)
            elif kind in ("ds", "ds-severities"):
                wid, name = ArmId.parse(args[0]), args[1]
                la = self.clients.loganalytics(wid.subscription or workspace.subscription_id)
                try:
                    if kind == "ds":
                        current = rest(
                            await self.b.call(
                                la.data_sources.get(wid.resource_group, wid.name, name)
                            )
                        )
                        if not created_by_us(current):
                            out.append(
                                LeftAlone(
                                    f"left data source {name} of {wid.name} as it is: it has "
                                    f"no {OWNER_TAG} tag, so aksaudit did not create it (or an "
                                    "aksaudit from before sources were tagged did: delete it by "
                                    "hand if it is yours)"
                                )
                            )
                            continue
                        await self.b.call(
                            la.data_sources.delete(wid.resource_group, wid.name, name)
                        )
                        out.append(f"deleted data source {name} of {wid.name}")
                    else:
                        current = rest(
                            await self.b.call(
                                la.data_sources.get(wid.resource_group, wid.name, name)
                            )
                        )
                        facility = str(props(current).get("syslogName") or "")
                        before = [s for s in args[2].split(",") if s]
                        restored = {
                            "kind": "LinuxSyslog",
                            "properties": {
                                "syslogName": facility,
                                "syslogSeverities": [{"severity": s} for s in before],
                            },
                            "tags": dict(current.get("tags") or {}),  # theirs, kept
                        }
                        await self.b.call(
                            la.data_sources.create_or_update(
                                wid.resource_group, wid.name, name, json_body(restored)
                            )
                        )
                        out.append(f"restored the severities of data source {name}")
                except Exception as exc:
                    if not is_not_found(exc):
                        raise user_error(exc, doing=f"removing data source {name}") from None
        if touched:
            out.extend(c.description for c in await self.update_stale_instances(cluster, touched))
        return out

    async def _workspace_key(self, ws_id: str, ws_name: str, fallback_sub: str) -> str:
        """The primary shared key of workspace ``ws_id``. Both keys are registered with the
        redactor the moment they are in hand: every journal, log record and error line of this
        process is scrubbed of them from here on, whichever call fails later."""
        rid = ArmId.parse(ws_id)
        la = self.clients.loganalytics(rid.subscription or fallback_sub)
        failure: UserError | None = None
        keys: dict[str, Any] = {}
        try:
            keys = rest(
                await self.b.call(la.shared_keys.get_shared_keys(rid.resource_group, rid.name))
            )
        except Exception as exc:
            failure = user_error(
                exc,
                doing=f"reading the key of workspace {ws_name}",
                action="Microsoft.OperationalInsights/workspaces/sharedKeys/action",
                scope=ws_id,
            )
        if failure is not None:
            raise failure  # raised outside the except block: no chained SDK exception
        key = str(keys.get("primarySharedKey") or "")
        redaction.register(key)
        redaction.register(str(keys.get("secondarySharedKey") or ""))
        del keys
        if not key:
            raise UserError(f"workspace {ws_name} returned no shared key")
        return key

    async def _restore(
        self, cluster: Cluster, vmss_id: str, name: str, ws_id: str, settings: str
    ) -> str:
        """Put a re-pointed agent back: its recorded public settings, and the key of the
        workspace they name, fetched now (registered with the redactor, never recorded)."""
        wid, vid = ArmId.parse(ws_id), ArmId.parse(vmss_id)
        try:
            public = json.loads(settings)
        except ValueError:
            raise UserError(
                f"the journaled settings of {EXT_NAME} on {vid.name} are unreadable: restore "
                f"it to workspace {wid.name} by hand"
            ) from None
        key = await self._workspace_key(ws_id, wid.name, cluster.subscription_id)
        body = _agent_body(public, key)
        try:
            await self.put_vmss_extension(
                vmss_id,
                name,
                body,
                doing=f"restoring {EXT_NAME} on {vid.name} to workspace {wid.name}",
                secrets=[key],
            )
        finally:
            del body
        return f"restored {EXT_NAME} on {vid.name} to workspace {wid.name}"


def _agent_body(settings: dict[str, Any], key: str) -> dict[str, Any]:
    """The OmsAgentForLinux extension body: public ``settings``, and the workspace key only in
    ``protectedSettings`` (which ARM never returns)."""
    return {
        "properties": {
            "publisher": PUBLISHER,
            "type": EXT_TYPE,
            "typeHandlerVersion": TYPE_HANDLER_VERSION,
            # OmsAgentForLinux rejects enableAutomaticUpgrade; minor upgrades only.
            "autoUpgradeMinorVersion": True,
            "settings": settings,
            "protectedSettings": {"workspaceKey": key},
        }
    }


def _workspace_id_of(s: ScaleSet) -> str:
    """The workspace (customer id) the scale set's legacy agent reports to; "" without one."""
    ext = find_extension(s, PUBLISHER, EXT_TYPE)
    return str(ext.settings.get("workspaceId") or "") if ext is not None else ""


def _sev_order(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
