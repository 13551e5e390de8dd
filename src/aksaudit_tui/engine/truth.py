"""Node audit states from the sources of truth, decided without touching anything.

Inputs: what the cluster says (``nodes.observe.ClusterView``: nodes, the record of what was
applied, the keeper pods and their last status line), what Azure says (the log path's own
adapter judges it: ``cloud.logpaths`` ``diagnose`` names the broken link, e.g. a DCR without
the facility, a scale set with no associated rule, an agent missing) and what the workspace
says (``cloud.activity``: last heartbeat and last audit record per computer). Output per node:
a state, its reason (for ``silent`` the broken link) and a fix.

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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aksaudit_tui.cloud.activity import ComputerActivity
from aksaudit_tui.cloud.logpaths.base import PathGap
from aksaudit_tui.engine.coverage import NodeState
from aksaudit_tui.engine.rsyslog import RSYSLOG_FIX, rsyslog_gap
from aksaudit_tui.nodes.kube import NodeInfo
from aksaudit_tui.nodes.observe import ClusterView, KeeperPod
from aksaudit_tui.nodes.record import AppliedRecord
from aksaudit_tui.nodes.status import NodeStatus

NOT_LINUX = ("Windows", "virtual", "immutable")
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


# --- the log path, as its adapter judged it (cloud/logpaths: ``diagnose``) ----------------------


def path_verdict(gaps: Sequence[PathGap], vm_set: str) -> Verdict | None:
    """The broken link that concerns a node of scale set ``vm_set`` (one for every node first),
    as a ``silent`` verdict; None when the log path showed none."""
    mine = [g for g in gaps if g.scale_set is None] + [
        g for g in gaps if g.scale_set is not None and g.scale_set.lower() == vm_set.lower()
    ]
    if not mine:
        return None
    gap = mine[0]
    return Verdict("silent", gap.reason, APPLY_AGAIN + (f" ({gap.fix})" if gap.fix else ""))


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
    reported = _reported_difference(st, rec)
    if reported is not None or not st.compliant:
        return _drift(reported, st, rec, pod)
    return _pipeline(f, fresh, pod)


def _reported_difference(st: NodeStatus, rec: AppliedRecord) -> str | None:
    """What the keeper's last status line says the node runs that the record does not: the
    rules (by hash) and the syslog plugin (facility, severity). None: the same, or not known.

    The rules hash is compared only when no watch was dropped on the node (the node script
    hashes the rules it wrote, which lack a watch whose directory the node does not have)."""
    diffs: list[str] = []
    if (
        st.rules_sha256
        and rec.rules_sha256
        and not st.skipped_watches
        and st.rules_sha256 != rec.rules_sha256
    ):
        diffs.append(f"rules {st.rules_sha256[:12]} (the record says {rec.rules_sha256[:12]})")
    if st.facility and st.facility != rec.facility:
        diffs.append(f"syslog plugin facility {st.facility} (the record says {rec.facility})")
    if st.severity and rec.severity and st.severity != rec.severity:
        diffs.append(f"syslog plugin severity {st.severity} (the record says {rec.severity})")
    return "; ".join(diffs) or None


def _drift(reported: str | None, st: NodeStatus, rec: AppliedRecord, pod: KeeperPod) -> Verdict:
    """Drift the keeper reported. It repairs what its own check finds (its configuration is the
    recorded one: same script), at the latest at its next interval; what differs from the
    record in the configuration it runs, no keeper pass will change."""
    logs = f"`kubectl -n {rec.namespace} logs {pod.name}`"
    every = f"every {rec.keeper_interval_s} s"
    if not st.compliant:
        what = ", ".join(st.changed) or "configuration"
        found = f"rules or plugin differ from what was applied (apply would change: {what})"
        if reported:
            found += f"; the node reports {reported}"
        if pod.ready or pod.restarts == 0:
            return Verdict(
                "drift",
                f"{found}: the keeper will repair at next interval ({every})",
                f"wait for the keeper's next pass; if it stays, {logs}",
            )
        return Verdict(
            "drift",
            f"{found} and the keeper has not repaired it ({pod.reason})",
            f"{logs}; {APPLY_AGAIN}",
        )
    return Verdict(
        "drift",
        f"the keeper reports {reported}: it runs another configuration than the cluster's "
        "record, so its passes will not bring the recorded one back",
        APPLY_AGAIN,
    )


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
    if f.record is not None and (gap := rsyslog_gap(st, f.record.log_path)) is not None:
        return Verdict("silent", gap, RSYSLOG_FIX)
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
