"""Syslog ingestion: audit lines reach a workspace's ``Syslog`` table only when the whole path
holds for that node, after the scenario's ingestion delay.

A Linux node's rows go to workspace W when the node is Ready, its root shows auditd installed
and running with the syslog plugin active on facility F at priority P and rules loaded, rsyslog
runs on it (audisp-syslog -> journald -> rsyslog; every agent below reads syslog from rsyslog:
Container Insights' node watcher drops a forwarding file into /etc/rsyslog.d and restarts it,
so without rsyslog nothing arrives, silently), and at least one log path carries F/P to W:

(a) Container Insights: the cluster's ``omsagent`` add-on is enabled, a data collection rule
    associated with the cluster has a syslog source listing F and P (``Microsoft-Syslog`` flowing
    to a Log Analytics destination W), and the node's rsyslog forwards to ama-logs: the
    forwarding file ama-logs' node watcher drops into /etc/rsyslog.d is there and rsyslog
    (re)started after it was written (``cisyslog``; each round drops it on the nodes of a cluster
    whose add-on is enabled, as ama-logs does);
(b) legacy agent: an ``OmsAgentForLinux`` extension (Succeeded) on the node's scale set with
    ``settings.workspaceId`` = W's customer id and W's key in its protected settings, the
    instance running the latest model, and a ``LinuxSyslog`` data source on W for F with P;
(c) Azure Monitor Agent: an ``AzureMonitorLinuxAgent`` extension (Succeeded) on the scale set,
    the instance on the latest model, and a rule associated with the scale set with a syslog
    source for F and P flowing to W.

What a node sends is what its activity makes under its loaded rules (``activity``): a program
start only when an execve rule matches it, a write only to a watched file (the heartbeat).

``explain(state, node)`` says, per path, why nothing arrives (for tests and diagnostics).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aksaudit_emulator import activity, cisyslog, faults
from aksaudit_emulator.arm import bodies
from aksaudit_emulator.state import EmulatorState, SimNode, SyslogRow

log = logging.getLogger(__name__)

MAX_ROWS_PER_WORKSPACE = 50_000
FACILITIES = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "audit",
    "alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
]
LEVEL_OF = dict(zip(bodies.SEVERITIES, bodies.DCR_LEVELS, strict=True))
SEVERITY_ALIASES = {
    "warn": "warning",
    "error": "err",
    "panic": "emerg",
    "critical": "crit",
    "emergency": "emerg",
    "information": "info",
    "informational": "info",
}


def norm_facility(value: str) -> str:
    v = value.strip().lower()
    return v[4:] if v.startswith("log_") else v


def norm_severity(value: str) -> str:
    v = value.strip().lower()
    v = v[4:] if v.startswith("log_") else v
    return SEVERITY_ALIASES.get(v, v)


@dataclass
class Route:
    """One way a node's facility/severity reaches a workspace."""

    via: str  # container-insights | legacy-agent | ama
    workspace_id: str
    customer_id: str


def workspace_list(state: EmulatorState) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for sub_key, rtype in list(state.by_type):
        if rtype != "microsoft.operationalinsights/workspaces":
            continue
        for body in state.list_type(sub_key, rtype):
            parts = body["id"].split("/")
            out.append(
                {
                    "id": body["id"],
                    "name": body["name"],
                    "customer_id": body["properties"]["customerId"],
                    "resource_group": parts[4],
                    "subscription_id": parts[2],
                    "location": body["location"],
                }
            )
    return out


def _ci_get(d: Any, key: str) -> Any:
    if not isinstance(d, dict):
        return None
    for k, v in d.items():
        if k.lower() == key.lower():
            return v
    return None


def _syslog_flows(rule: dict[str, Any], facility: str, severity: str) -> list[str]:
    """Workspace ids a DCR sends this facility/severity to (empty if it does not collect it)."""
    props = rule.get("properties") or {}
    sources = (props.get("dataSources") or {}).get("syslog") or []
    level = LEVEL_OF.get(severity, "")
    streams: set[str] = set()
    for src in sources:
        facs = [str(f).lower() for f in src.get("facilityNames") or []]
        levels = [str(x) for x in src.get("logLevels") or []]
        if (facility in facs or "*" in facs) and (level in levels or "*" in levels):
            streams.update(src.get("streams") or ["Microsoft-Syslog"])
    if "Microsoft-Syslog" not in streams:
        return []
    dest_ws = {
        str(d.get("name")): str(d.get("workspaceResourceId", ""))
        for d in (props.get("destinations") or {}).get("logAnalytics") or []
    }
    out: list[str] = []
    for flow in props.get("dataFlows") or []:
        if "Microsoft-Syslog" in (flow.get("streams") or []):
            out.extend(dest_ws.get(d, "") for d in flow.get("destinations") or [])
    out = [w for w in out if w]
    return out


def _ci_enabled(cluster_body: dict[str, Any]) -> bool:
    """The cluster's monitoring add-on is on (ama-logs runs on its nodes)."""
    addon = _ci_get(_ci_get(cluster_body.get("properties"), "addonProfiles"), "omsagent")
    return isinstance(addon, dict) and bool(addon.get("enabled"))


def ama_logs_round(state: EmulatorState) -> int:
    """ama-logs on every Linux node of a cluster whose add-on is on: its forwarding file into
    the drop directory, and the node's watcher into /etc/rsyslog.d (``cisyslog.drop``).
    Returns the nodes whose rsyslog the watcher restarted."""
    restarted = 0
    on = {
        name
        for name, cluster in list(state.clusters.items())
        if _ci_enabled(state.get(cluster.arm_id) or {})
    }
    for node in state.all_nodes():
        if node.cluster in on and node.is_linux and not node.virtual and node.root is not None:
            try:
                restarted += cisyslog.drop(Path(node.root))
            except OSError as exc:  # a root being rebuilt by a test: next round
                log.debug("ama-logs on %s: %s", node.name, exc)
    return restarted


def _rules_associated(state: EmulatorState, resource_id: str) -> list[dict[str, Any]]:
    rules = []
    for assoc in state.list_children(
        resource_id + "/providers/microsoft.insights/datacollectionruleassociations"
    ):
        rid = (assoc.get("properties") or {}).get("dataCollectionRuleId")
        rule = state.get(str(rid)) if rid else None
        if rule is not None:
            rules.append(rule)
    return rules


def _customer_id(state: EmulatorState, ws_id: str) -> str:
    body = state.get(ws_id)
    return str(body["properties"]["customerId"]).lower() if body else ""


def routes(
    state: EmulatorState, node: SimNode, facility: str, severity: str, why: list[str] | None = None
) -> list[Route]:
    """Every (path, workspace) that carries this node's facility/severity right now."""
    why = why if why is not None else []
    facility, severity = norm_facility(facility), norm_severity(severity)
    out: list[Route] = []
    cluster = state.clusters[node.cluster]
    cbody = state.get(cluster.arm_id) or {}
    # (a) Container Insights
    if _ci_enabled(cbody):
        ci_routes: list[Route] = []
        for rule in _rules_associated(state, cluster.arm_id):
            for ws_id in _syslog_flows(rule, facility, severity):
                cid = _customer_id(state, ws_id)
                if cid:
                    ci_routes.append(Route("container-insights", ws_id, cid))
        node_gap = cisyslog.gap(Path(node.root)) if node.root is not None else None
        if not ci_routes:
            why.append(
                "container-insights: no rule associated with the cluster collects "
                f"{facility}.{severity}"
            )
        elif node_gap is not None:
            why.append(f"container-insights: {node_gap}")
        else:
            out += ci_routes
    else:
        why.append("container-insights: monitoring add-on not enabled")
    # (b) and (c): scale-set extensions
    node_rg = cluster.node_resource_group
    rg_path = bodies.rg_id(cluster.subscription_id, node_rg)
    vmss_id = f"{rg_path}/providers/{bodies.COMPUTE}/{node.vmss_name}"
    vm_id = f"{vmss_id}/virtualMachines/{node.instance_id}"
    applied = state.model_gen.get(vm_id.lower(), 0) >= state.model_gen.get(vmss_id.lower(), 0)
    exts = state.list_children(vmss_id + "/extensions")
    oms = [e for e in exts if (e.get("properties") or {}).get("type") == "OmsAgentForLinux"]
    ama = [e for e in exts if (e.get("properties") or {}).get("type") == "AzureMonitorLinuxAgent"]
    if not oms:
        why.append("legacy-agent: no OmsAgentForLinux extension on the scale set")
    for ext in oms:
        props = ext["properties"]
        if props.get("provisioningState") != "Succeeded":
            why.append(f"legacy-agent: extension {ext['name']} is {props.get('provisioningState')}")
            continue
        if not applied:
            why.append(
                "legacy-agent: instance does not run the latest model (manual upgrade pending)"
            )
            continue
        cid = str((props.get("settings") or {}).get("workspaceId", "")).lower()
        ws = next((w for w in workspace_list(state) if w["customer_id"].lower() == cid), None)
        if ws is None:
            why.append(f"legacy-agent: extension names unknown workspace id '{cid}'")
            continue
        secret = (state.secrets.get(ext["id"].lower()) or {}).get("protectedSettings") or {}
        keys = state.shared_keys.get(ws["id"].lower(), {})
        if secret.get("workspaceKey") not in (
            keys.get("primarySharedKey"),
            keys.get("secondarySharedKey"),
        ):
            why.append("legacy-agent: workspace key in protected settings is missing or wrong")
            continue
        ok = False
        for src in state.list_children(ws["id"] + "/dataSources"):
            if str(src.get("kind")) != "LinuxSyslog":
                continue
            p = src.get("properties") or {}
            sevs = {
                norm_severity(str(s.get("severity", ""))) for s in p.get("syslogSeverities") or []
            }
            if norm_facility(str(p.get("syslogName", ""))) == facility and severity in sevs:
                ok = True
        if ok:
            out.append(Route("legacy-agent", ws["id"], cid))
        else:
            why.append(
                f"legacy-agent: workspace {ws['name']} has no LinuxSyslog source for "
                f"{facility}.{severity}"
            )
    if not ama:
        why.append("ama: no AzureMonitorLinuxAgent extension on the scale set")
    for ext in ama:
        props = ext["properties"]
        if props.get("provisioningState") != "Succeeded":
            why.append(f"ama: extension {ext['name']} is {props.get('provisioningState')}")
            continue
        if not applied:
            why.append("ama: instance does not run the latest model (manual upgrade pending)")
            continue
        found = False
        for rule in _rules_associated(state, vmss_id):
            for ws_id in _syslog_flows(rule, facility, severity):
                cid = _customer_id(state, ws_id)
                if cid:
                    out.append(Route("ama", ws_id, cid))
                    found = True
        if not found:
            why.append(f"ama: no rule associated with the scale set collects {facility}.{severity}")
    return out


def _default_reader() -> Callable[[Path], Any] | None:
    try:
        from aksaudit_emulator.nodestate import read_node_audit_state
    except ImportError:  # built in parallel by the node-root side
        return None
    return read_node_audit_state


def audit_state(state: EmulatorState, node: SimNode) -> Any:
    reader = state.audit_reader or _default_reader()
    if reader is None or node.root is None:
        return None
    try:
        return reader(node.root)
    except Exception as exc:  # a half-written root must not stop ingestion for every node
        log.debug("reading %s: %s", node.root, exc)
        return None


def _rsyslog_running(st: Any) -> bool:
    # A reader that predates the rsyslog state (``state.audit_reader``) says nothing about it.
    return bool(getattr(st, "rsyslog_running", True))


def explain(state: EmulatorState, node_name: str) -> list[str]:
    """Why this node's audit lines do (not) arrive; empty list = they arrive."""
    node = state.node(node_name)
    if node is None:
        return [f"unknown node {node_name}"]
    if not node.is_linux:
        return ["Windows node: no auditd"]
    why: list[str] = []
    if not node.ready:
        why.append("node is NotReady")
    st = audit_state(state, node)
    if st is None:
        return [*why, "node root unreadable (no audit state)"]
    if not st.installed:
        why.append("auditd not installed")
    if not st.running:
        why.append("auditd not running")
    if not st.plugin_active:
        why.append("syslog plugin not active")
    if not st.rule_keys and not st.rule_count:
        why.append("no audit rules loaded")
    if not _rsyslog_running(st):
        why.append("rsyslog not running on the node: no agent receives its syslog")
    if why:
        return why
    found = routes(
        state, node, str(st.plugin_facility or "user"), str(st.plugin_priority or "info"), why
    )
    return [] if found else why


def _rows_for(
    state: EmulatorState,
    node: SimNode,
    route: Route,
    *,
    facility: str,
    severity: str,
    message: str,
    process: str,
    pid: int,
    when: float,
    delay: float,
) -> SyslogRow:
    event = datetime.fromtimestamp(when, UTC)
    cluster = state.clusters[node.cluster]
    return SyslogRow(
        visible_at=when + delay,
        columns={
            "TenantId": route.customer_id,
            "SourceSystem": "Linux",
            "TimeGenerated": event,  # the collector's time; the line itself is a bit older
            "Computer": node.name,
            "EventTime": event - timedelta(milliseconds=350),
            "Facility": facility,
            "HostName": node.name,
            "SeverityLevel": severity,
            "SyslogMessage": message,
            "ProcessID": pid,
            "HostIP": node.ip,
            "ProcessName": process,
            "CollectorHostName": node.name,
            "Type": "Syslog",
            "_ResourceId": cluster.arm_id.lower()
            if route.via == "container-insights"
            else f"{bodies.rg_id(cluster.subscription_id, cluster.node_resource_group)}/providers/"
            f"microsoft.compute/virtualmachinescalesets/{node.vmss_name}".lower(),
        },
    )


def _append(state: EmulatorState, customer_id: str, rows: list[SyslogRow]) -> None:
    with state.lock:
        table = state.syslog.setdefault(customer_id.lower(), [])
        table.extend(rows)
        if len(table) > MAX_ROWS_PER_WORKSPACE:
            del table[: len(table) - MAX_ROWS_PER_WORKSPACE]


_serial = [1000]


def exec_messages(event: activity.Exec, key: str | None, when: float, pid: int) -> list[str]:
    """One program start as audisp-syslog logs it: SYSCALL (rule key), EXECVE, PROCTITLE."""
    _serial[0] += 1
    stamp = f"{when:.3f}:{_serial[0]}"
    shown = f'"{key}"' if key else "(null)"
    syscall = (
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=59 success=yes exit=0 "
        f"a0=55d0 a1=55d8 a2=55e0 a3=0 items=2 ppid=1 pid={pid} auid={event.auid} "
        f"uid={event.uid} gid=0 euid={event.uid} suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 "
        f"tty=(none) ses=4294967295 "
        f'comm="{event.comm}" exe="{event.exe}" subj=unconfined key={shown}'
    )
    execve = f"type=EXECVE msg=audit({stamp}): argc={len(event.argv)} " + " ".join(
        f'a{i}="{a}"' for i, a in enumerate(event.argv)
    )
    proctitle = f"type=PROCTITLE msg=audit({stamp}): proctitle=" + "00".join(
        a.encode().hex().upper() for a in event.argv
    )
    return [syscall, execve, proctitle]


def write_messages(path: str, key: str | None, when: float) -> list[str]:
    """One write to a watched file as audisp-syslog logs it (the kernel test measured SYSCALL,
    CWD, 2 PATH, PROCTITLE for a touch; the rows that carry the key and the file)."""
    _serial[0] += 1
    stamp = f"{when:.3f}:{_serial[0]}"
    shown = f'"{key}"' if key else "(null)"
    return [
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=257 success=yes exit=3 "
        "a0=ffffff9c a1=7ffd a2=941 a3=1b6 items=2 ppid=1 pid=4242 auid=4294967295 uid=0 gid=0 "
        'euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="touch" '
        f'exe="/usr/bin/touch" subj=unconfined key={shown}',
        f'type=CWD msg=audit({stamp}): cwd="/"',
        f'type=PATH msg=audit({stamp}): item=1 name="{path}" inode=1311 dev=08:01 '
        "mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL",
        f"type=PROCTITLE msg=audit({stamp}): proctitle=746F756368",
    ]


def watched_messages(state: EmulatorState, node: SimNode, st: Any, when: float) -> list[str]:
    """The records of every write to a watched file since the last round. Called every round
    for every Linux node whatever its pipeline's state: a write made while auditd was stopped,
    the plugin off or the route lacked the facility is lost on a real node, so it must not be
    delivered as a fresh record once the path is fixed."""
    if node.root is None or st is None:
        return []
    rules = activity.parse_rules(tuple(getattr(st, "rules", ()) or ()))
    with state.lock:
        seen = state.watched_seen.setdefault(node.name, {})
    loaded_at = int(getattr(st, "rules_loaded_at_ns", 0) or 0)
    messages: list[str] = []
    for path, wkey in activity.watched_writes(Path(node.root), rules, seen, loaded_at):
        messages += write_messages(path, wkey, when)
    return messages


def activity_messages(st: Any, when: float, rng: random.Random, writes: list[str]) -> list[str]:
    """The records this round's activity on the node makes under its loaded rules: one program
    start (kept when an execve rule matches it) and ``writes`` (``watched_messages``)."""
    rules = activity.parse_rules(tuple(getattr(st, "rules", ()) or ()))
    messages: list[str] = []
    event = activity.pick_program(rng)
    recorded, key = activity.exec_key(rules, event)
    if recorded:
        messages += exec_messages(event, key, when, rng.randint(2000, 60000))
    return messages + writes


_PRI = re.compile(r"^<(\d{1,3})>(?:1 )?")
_TAG = re.compile(
    r"(?:\w{3}\s+\d+\s+[\d:]+\s+|\S+T\S+\s+)?(?P<host>\S+)\s+(?P<prog>[\w./-]+)(?:\[(?P<pid>\d+)\])?:\s*(?P<msg>.*)$"
)


def parse_syslog_line(line: str) -> tuple[str | None, str | None, str, int, str]:
    """(facility, severity, process, pid, message) from an RFC 3164/5424 line or a bare one."""
    facility = severity = None
    rest = line.rstrip("\n")
    m = _PRI.match(rest)
    if m:
        pri = int(m.group(1))
        facility = FACILITIES[pri // 8] if pri // 8 < len(FACILITIES) else None
        severity = bodies.SEVERITIES[pri % 8]
        rest = rest[m.end() :]
    if "type=" in rest and not rest.lstrip().startswith("type="):
        t = _TAG.match(rest)
        if t:
            return facility, severity, t.group("prog"), int(t.group("pid") or 0), t.group("msg")
    return facility, severity, "audispd", 0, rest.strip()


def tick(state: EmulatorState, now: float | None = None, rng: random.Random | None = None) -> int:
    """One ingestion round over every node; returns rows added."""
    now = time.time() if now is None else now
    rng = rng or random.Random()
    delay = faults.ingestion_delay(state)
    ama_logs_round(state)
    added = 0
    for node in state.all_nodes():
        if not node.is_linux or node.virtual:
            continue
        if node.name in state.syslog_feeds:
            continue  # real lines come from its feed (``feed_syslog``)
        st = audit_state(state, node)
        # this round's watched writes, taken whether or not they can be delivered now
        writes = watched_messages(state, node, st, now)
        if not node.ready:
            continue
        if (
            st is None
            or not (st.installed and st.running and st.plugin_active)
            or not (st.rule_keys or st.rule_count)
            or not _rsyslog_running(st)
        ):
            continue
        facility = norm_facility(str(st.plugin_facility or "user"))
        severity = norm_severity(str(st.plugin_priority or "info"))
        found = routes(state, node, facility, severity)
        if not found:
            continue
        process = "audisp-syslog" if facility == "user" else "audispd"
        pid = 800 + (hash(node.name) % 400)
        messages = activity_messages(st, now, rng, writes)
        if not messages:
            continue
        added += _deliver(
            state, node, found, facility, severity, process, pid, messages, now, delay
        )
    return added


def _deliver(
    state: EmulatorState,
    node: SimNode,
    found: list[Route],
    facility: str,
    severity: str,
    process: str,
    pid: int,
    messages: list[str],
    now: float,
    delay: float,
) -> int:
    """Append one row per message to every workspace a route reaches (once per workspace, however
    many paths lead there); returns rows added."""
    added = 0
    seen: set[str] = set()
    for route in found:
        if route.customer_id in seen:
            continue
        seen.add(route.customer_id)
        rows = [
            _rows_for(
                state,
                node,
                route,
                facility=facility,
                severity=severity,
                message=msg,
                process=process,
                pid=pid,
                when=now,
                delay=delay,
            )
            for msg in messages
        ]
        _append(state, route.customer_id, rows)
        added += len(rows)
    return added


def ingest_feed(state: EmulatorState, node: SimNode, lines: list[str]) -> int:
    """Real audisp lines for one node: they go wherever the cloud path carries their facility
    right now. A node fed real lines no longer gets synthetic ones."""
    now = time.time()
    delay = faults.ingestion_delay(state)
    state.syslog_feeds.setdefault(node.name, []).extend(lines[-100:])  # marker + recent lines
    if not node.ready:
        return 0
    ama_logs_round(state)  # ama-logs runs whether or not a round came first
    st = audit_state(state, node)
    if st is not None and not _rsyslog_running(st):
        return 0  # audisp-syslog wrote them; nothing took them off the node
    added = 0
    for line in lines:
        facility, severity, process, pid, msg = parse_syslog_line(line)
        facility = norm_facility(
            facility or str(getattr(st, "plugin_facility", None) or "authpriv")
        )
        severity = norm_severity(severity or str(getattr(st, "plugin_priority", None) or "info"))
        found = routes(state, node, facility, severity)
        added += _deliver(state, node, found, facility, severity, process, pid, [msg], now, delay)
    return added


async def run(state: EmulatorState) -> None:
    """The background ingestion loop (runs on the server's event loop)."""
    rng = random.Random(7)
    while True:
        try:
            # node roots are files: read them off the loop so HTTP stays responsive
            await asyncio.get_running_loop().run_in_executor(None, tick, state, None, rng)
        except Exception:  # keep ingesting; a bug here must not kill the server
            log.exception("ingestion tick failed")
        await asyncio.sleep(max(0.05, state.ingestion_interval_s))
