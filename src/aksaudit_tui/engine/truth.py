"""Node audit states from the sources of truth, decided without touching anything.

Inputs: what the cluster says (``nodes.observe.ClusterView``: nodes, the record of what was
applied, the keeper pods and their last status line), what Azure says (the discovered cluster:
Container Insights DCR facilities and levels, scale-set extensions, the workspace's data
sources) and what the workspace says (``cloud.activity``: last heartbeat and last audit record
per computer). Output per node: a state, its reason (for ``silent`` the broken link) and a fix.

- ``covered``: configured as the record says and a heartbeat within 2 keeper intervals
  (one-shot delivery has no periodic heartbeat: an audit record within 2 intervals);
- ``silent``: configured, no recent heartbeat; the reason names the first broken link found
  (node NotReady, auditd stopped, plugin off, the log path's DCR/agent, nothing arriving);
- ``drift``: the node runs something else than the record (another script, another facility,
  rules or plugin changed and not repaired);
- ``new``: joined after the apply and the keeper has not reported yet (or one-shot delivery);
- ``not enabled``: the cluster holds no record; ``skipped``: Windows, virtual, immutable OS;
- ``unknown``: a source could not be read (the reason says which and what permission).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aksaudit_tui.cloud.activity import ComputerActivity
from aksaudit_tui.cloud.models import Cluster, ScaleSet, Workspace
from aksaudit_tui.engine.coverage import NodeState
from aksaudit_tui.nodes.kube import NodeInfo
from aksaudit_tui.nodes.observe import ClusterView, KeeperPod
from aksaudit_tui.nodes.record import AppliedRecord

NOT_LINUX = ("Windows", "virtual", "immutable")
DCR_LEVEL = {
    "emerg": "Emergency",
    "alert": "Alert",
    "crit": "Critical",
    "err": "Error",
    "warning": "Warning",
    "notice": "Notice",
    "info": "Info",
    "debug": "Debug",
}
APPLY_AGAIN = "run `aksaudit plan` for this cluster and `aksaudit apply plan.yaml` again"


@dataclass(frozen=True)
class Verdict:
    state: NodeState
    reason: str
    fix: str = ""


def _iso(value: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    s = max(0, int((now - when).total_seconds()))
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    return f"{s // 3600} h ago"


# --- the log path, from what discovery read ---------------------------------------------------


def _scale_set(cluster: Cluster, vm_set: str) -> ScaleSet | None:
    for s in cluster.scale_sets:
        if s.name.lower() == vm_set.lower():
            return s
    return None


def log_path_gap(
    cluster: Cluster | None,
    record: AppliedRecord,
    workspace: Workspace | None,
    vm_set: str,
) -> Verdict | None:
    """Why the recorded log path does not carry this node's facility to the recorded workspace,
    judged from discovery (None: nothing wrong seen, or not enough known to say)."""
    if cluster is None or not cluster.complete:
        return None
    fac, level = record.facility.lower(), DCR_LEVEL.get(record.severity.lower(), "Info")
    if record.log_path == "container-insights":
        mon = cluster.monitoring
        if not mon.addon_enabled:
            return Verdict(
                "silent",
                "Container Insights is off on the cluster (monitoring add-on disabled)",
                APPLY_AGAIN + " (its log-path step enables it)",
            )
        if not mon.dcr_id or not mon.syslog_enabled:
            return Verdict(
                "silent",
                "Container Insights collects no syslog (no MSCI data collection rule with "
                "Microsoft-Syslog)",
                APPLY_AGAIN,
            )
        dcr = mon.dcr_id.rsplit("/", 1)[-1]
        facs = {f.lower() for s in mon.syslog for f in s.facilities}
        if fac not in facs and "*" not in facs:
            return Verdict(
                "silent",
                f"data collection rule {dcr} lacks the {fac} facility",
                APPLY_AGAIN + f" (adds {fac} to the rule)",
            )
        levels = {lv for s in mon.syslog if fac in s.facilities or "*" in s.facilities
                  for lv in s.levels}  # fmt: skip
        if level not in levels and "*" not in levels:
            return Verdict(
                "silent",
                f"data collection rule {dcr} does not collect {fac} at level {level}",
                APPLY_AGAIN,
            )
        wanted = record.workspace_resource_id.lower()
        sends = {w.lower() for w in mon.dcr_workspace_ids}
        if wanted and sends and wanted not in sends:
            return Verdict(
                "silent",
                f"data collection rule {dcr} sends to another workspace than "
                f"{record.workspace_name}",
                APPLY_AGAIN,
            )
        if not mon.dcr_associated:
            return Verdict(
                "silent", f"data collection rule {dcr} is not associated with the cluster",
                APPLY_AGAIN,
            )  # fmt: skip
        return None
    ss = _scale_set(cluster, vm_set)
    if ss is None:
        return None
    if record.log_path == "legacy-oms":
        ext = next((e for e in ss.extensions if e.type == "OmsAgentForLinux"), None)
        if ext is None:
            return Verdict(
                "silent",
                f"the OmsAgentForLinux agent is missing on scale set {ss.name} (an AKS upgrade "
                "removes it)",
                APPLY_AGAIN,
            )
        ws = str(ext.settings.get("workspaceId") or "").lower()
        if ws and ws != record.workspace_id.lower():
            return Verdict(
                "silent",
                f"the OmsAgentForLinux agent on {ss.name} sends to another workspace",
                APPLY_AGAIN,
            )
        if workspace is not None:
            names = {f.lower() for s in workspace.syslog_sources for f in s.facilities}
            if fac not in names:
                return Verdict(
                    "silent",
                    f"workspace {workspace.name} has no LinuxSyslog data source for {fac}",
                    APPLY_AGAIN,
                )
        return None
    if record.log_path == "ama" and not any(
        e.type == "AzureMonitorLinuxAgent" for e in ss.extensions
    ):
        return Verdict(
            "silent", f"the AzureMonitorLinuxAgent is missing on scale set {ss.name}", APPLY_AGAIN
        )
    return None


# --- one node -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeFacts:
    """Everything known about one node, from every source."""

    node: NodeInfo
    record: AppliedRecord | None
    view: ClusterView
    activity: ComputerActivity | None  # on the recorded facility (None: nothing arrived)
    other_facilities: tuple[str, ...]  # facilities the node's audit lines arrived on instead
    activity_error: str | None  # the workspace query failed (why)
    path_gap: Verdict | None
    now: datetime


def classify(f: NodeFacts) -> Verdict:
    n, rec = f.node, f.record
    if (n.skip_reason or "").startswith(NOT_LINUX):
        return Verdict("skipped", n.skip_reason or "")
    if rec is None:
        return Verdict(
            "not enabled",
            "the cluster holds no aksaudit record (never enabled, or removed)",
            APPLY_AGAIN.replace(" again", ""),
        )
    fresh = timedelta(seconds=2 * max(1, rec.keeper_interval_s))
    created, applied = _iso(n.created), _iso(rec.applied_at)
    joined_after = created is not None and applied is not None and created > applied
    if rec.delivery != "keeper":
        return _oneshot(f, fresh, joined_after)
    pod = f.view.pods.get(n.name)
    if pod is None:
        if not n.ready:
            return Verdict("silent", "node NotReady (no keeper pod runs there)",
                           "check the node in the portal or `kubectl describe node`")  # fmt: skip
        if not f.view.keeper:
            return Verdict(
                "drift",
                f"the keeper DaemonSet is gone from {rec.namespace} (the record says keeper)",
                APPLY_AGAIN,
            )
        if joined_after:
            return Verdict(
                "new",
                "joined after the apply; the keeper has not started on it yet",
                "wait for the keeper pod (minutes), then check again",
            )
        return Verdict(
            "drift",
            "no keeper pod on this node although the DaemonSet runs (excluded or evicted)",
            "`kubectl -n " + rec.namespace + " get pods -o wide` and the DaemonSet's events",
        )
    if pod.script_sha256 and pod.script_sha256 != rec.script_sha256:
        return Verdict(
            "drift",
            f"the keeper pod runs another configuration (script {pod.script_sha256[:12]}, "
            f"the record says {rec.script_sha256[:12]}): the roll-out did not finish here",
            APPLY_AGAIN,
        )
    st = pod.status
    if st is None:
        return Verdict(
            "new" if joined_after or pod.restarts == 0 else "silent",
            f"the keeper has not reported on this node yet ({pod.reason})",
            "wait a minute; if it stays, `kubectl -n " + rec.namespace + f" logs {pod.name}`",
        )
    if not st.supported:
        return Verdict("skipped", st.skip_reason or "unsupported OS")
    if not st.ok:
        err = st.errors[0] if st.errors else "the node script did not report ok"
        if st.installed and st.rules_sha256 and st.mode == "apply":
            # configured before, now different and the keeper's re-apply fails: drift
            return Verdict(
                "drift",
                f"rules or plugin differ from what was applied and the keeper cannot repair "
                f"them: {err}",
                f"`kubectl -n {rec.namespace} logs {pod.name}`; fix the cause on the node",
            )
        return Verdict(
            "silent",
            f"the keeper cannot configure this node: {err}",
            f"`kubectl -n {rec.namespace} logs {pod.name}`; fix the cause, the keeper retries",
        )
    if st.facility and st.facility != rec.facility:
        return Verdict(
            "drift",
            f"the syslog plugin uses facility {st.facility}, the record says {rec.facility}",
            APPLY_AGAIN,
        )
    if not st.compliant:
        what = ", ".join(st.changed) or "configuration"
        return Verdict(
            "drift",
            f"rules or plugin differ from what was applied (apply would change: {what}) and "
            "the keeper has not repaired it",
            f"`kubectl -n {rec.namespace} logs {pod.name}`; {APPLY_AGAIN}",
        )
    return _pipeline(f, fresh, pod)


def _pipeline(f: NodeFacts, fresh: timedelta, pod: KeeperPod | None) -> Verdict:
    """Configured: covered when a heartbeat is recent, otherwise the first broken link."""
    a, now = f.activity, f.now
    st = pod.status if pod else None
    if a is not None and a.last_heartbeat is not None and now - a.last_heartbeat <= fresh:
        return Verdict("covered", f"heartbeat {ago(a.last_heartbeat, now)}")
    if not f.node.ready:
        return Verdict("silent", "node NotReady", "check the node (`kubectl describe node`)")
    if st is not None and not st.running:
        return Verdict("silent", "auditd stopped", "the keeper restarts it at its next check")
    if st is not None and not st.plugin_active:
        return Verdict("silent", "syslog plugin off (audisp-syslog not active)", APPLY_AGAIN)
    if f.path_gap is not None:
        return f.path_gap
    if f.activity_error:
        return Verdict("unknown", f.activity_error, "ask for Log Analytics Reader on it")
    last = a.last_heartbeat if a else None
    if f.other_facilities:
        return Verdict(
            "silent",
            f"audit lines arrive as {', '.join(f.other_facilities)}, not "
            f"{f.record.facility if f.record else '?'}",
            APPLY_AGAIN,
        )
    if a is not None and a.records and last is None:
        return Verdict(
            "silent",
            "audit records arrive but no heartbeat in the window: the heartbeat watch is not "
            "loaded or the keeper's check does not run",
            APPLY_AGAIN,
        )
    return Verdict(
        "silent",
        f"no heartbeat in the workspace since {ago(last, now)}: the node's syslog forwarding or "
        "the monitoring agent (ama-logs / agent) does not deliver",
        "check rsyslog and the agent pod on the node; ingestion can also lag a few minutes",
    )


def _oneshot(f: NodeFacts, fresh: timedelta, joined_after: bool) -> Verdict:
    if joined_after:
        return Verdict(
            "new",
            "joined after the one-shot apply: nothing configured it",
            APPLY_AGAIN + " (or use the keeper, which covers new nodes)",
        )
    a, now = f.activity, f.now
    if a is not None and a.last_seen is not None and now - a.last_seen <= fresh:
        return Verdict(
            "covered",
            f"last audit record {ago(a.last_seen, now)} (one-shot: no keeper watches for drift)",
        )
    return _pipeline(f, fresh, None)
