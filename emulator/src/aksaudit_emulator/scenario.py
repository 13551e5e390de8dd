"""Scenario files: what the emulated Azure estate holds, and how it misbehaves.

Format (YAML; every key but ``subscriptions`` optional)::

    token: <text>                          # bearer token ARM, logs and kube accept; absent =
                                           # random per start (in DIR/env and the kubeconfig)
    tenant_id: <guid>
    page_size: 100                         # list pages (nextLink) hold at most this many items
    latency_ms: 0                          # or {arm: 20, logs: 50, kube: 5}, slept per call
    lro: {polls: 1, seconds: 0}            # InProgress answers before the end state
    ingestion: {delay_s: 2, interval_s: 2} # rows become visible delay_s after the event
    response_cache: true                   # GET answers cached until ARM state changes
    rate_limit: {reads_burst: 250, reads_per_s: 25, writes_burst: 200, writes_per_s: 10}
                                           # ARM token buckets per subscription (absent = off)
    kube: {sync_interval: 0.2}             # knobs for the kube side (see emulator/kube)
    node_roots: true                       # false: nodes' roots stay empty directories
    resource_graph:                        # POST /providers/Microsoft.ResourceGraph/resources
      throttle: {calls: 15, window_s: 5}   # 429 once N calls fell in the window (the default)
      forbidden: false                     # true: every query is refused (403)
    subscriptions:
      - id: <guid>
        name: Contoso Production
        resource_groups:
          - name: rg-prod
            location: westeurope
            workspaces:
              - name: law-prod
                customer_id: <guid>
                primary_key: <base64>            # optional; derived when absent
                linux_syslog: [{facility: authpriv, severities: [emerg, ..., info]}]
            clusters:
              - name: aks-prod
                kubernetes_version: 1.32.6
                node_resource_group: MC_rg-prod_aks-prod_westeurope   # default as AKS does
                restriction_level: Unrestricted  # ReadOnly = node resource group lockdown
                monitoring:                      # Container Insights add-on (absent = off)
                  workspace: law-prod            # a workspace name anywhere, or a full id
                  syslog: true                   # MSCI DCR with a syslog source
                  syslog_facilities: [auth, cron, daemon]
                  syslog_levels: [Info, Notice, Warning, Error, Critical, Alert, Emergency]
                enabled_elsewhere:               # enabled with aksaudit by someone else
                  by: maria.garcia@contoso.com   # who (a signed-in name; see below)
                  workspace: law-prod            # where its records go
                  log_path: container-insights   # optional, as `aksaudit plan` takes them
                  presets: [base]                # optional
                pools:
                  - name: system
                    mode: System                 # System | User
                    count: 2
                    os_sku: Ubuntu2204           # or Ubuntu2404, AzureLinux3, Ubuntu1804,
                                                 #    Flatcar, Windows2022
                    arch: amd64
                    vm_size: Standard_D4ds_v5
                    upgrade_policy: Manual
                    rsyslog: false               # its image lacks rsyslog (absent: the OS's
                                                 #    own; Ubuntu and Azure Linux run it)
                    taints: [CriticalAddonsOnly=true:NoSchedule]
                    extensions:                  # existing scale-set extensions
                      - {name: OmsAgentForLinux, workspace: law-prod}   # or full properties
            dcrs:                                # existing data collection rules
              - name: dcr-syslog
                workspace: law-prod
                facilities: [authpriv]
                levels: [Info, Notice, ...]
                associate: [aks-prod/system]     # cluster name, or cluster/pool for a scale set
    faults:
      - {kind: throttle, path: REGEX, method: GET, count: 2, retry_after: 0}
      - {kind: server_error, path: REGEX, status: 503, count: 1}
      - {kind: forbidden_subscription, subscription: <guid>}   # 403 AuthorizationFailed
      - {kind: lro_fail, path: REGEX, count: 1}
      - {kind: node_not_ready, node: NAME}      # or cluster: C, pool: P, index: 0
      - {kind: ingestion_delay, seconds: 60}
      - {kind: partial_results, workspace: law-prod}
      - {kind: query_error, workspace: law-prod, status: 403}   # the Logs query fails
      # kube side (keys in emulator/kube/__init__.py): node-not-ready, pod-pending,
      # image-pull, drop-watch, kube-down, forbidden (RBAC 403 in one cluster)

``enabled_elsewhere`` is carried out by the product, not by the emulator (which knows nothing
of aksaudit's node script or record): ``aksaudit emulator`` and ``aksaudit demo`` run a real
apply of that cluster right after the start, signed in as ``by`` with a token the emulator signs
(``Emulator.token_for``), from a throw-away state directory, so the cluster holds the record, the
keeper and heartbeats of "another machine" and this one has no journal of it.

Bad input raises ``ScenarioError`` with one line saying what to fix.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from aksaudit_emulator.errors import ScenarioError

OS_SKUS = ("Ubuntu2204", "Ubuntu2404", "AzureLinux3", "Ubuntu1804", "Flatcar", "Windows2022")
ARM_FAULT_KINDS = (
    "throttle",
    "server_error",
    "concurrent_write",
    "forbidden_subscription",
    "lro_fail",
    "node_not_ready",
    "ingestion_delay",
    "partial_results",
    "query_error",
)
# Served by the kube side (see emulator/kube/__init__.py for their keys).
KUBE_FAULT_KINDS = (
    "node-not-ready",
    "pod-pending",
    "image-pull",
    "drop-watch",
    "kube-down",
    "forbidden",
)
FAULT_KINDS = ARM_FAULT_KINDS + KUBE_FAULT_KINDS


# libyaml's loader when PyYAML was built with it: a generated fleet (200x5x10) is a 15 MB
# scenario, which the pure-Python loader took most of the emulator's start-up to read.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_scenario(source: str | Path | dict[str, Any] | None = None) -> dict[str, Any]:
    """Load and check a scenario: None = the default one, a path to YAML, or a dict.

    Returns the normalised mapping (defaults filled in, ids derived); loading it again returns
    it unchanged. Bad input raises ``ScenarioError`` with one line saying what to fix."""
    if source is None:
        text = resources.files("aksaudit_emulator").joinpath("scenarios/default.yaml").read_text()
        data: Any = yaml.safe_load(text)
        where = "default scenario"
    elif isinstance(source, dict):
        data = source
        where = "scenario"
    else:
        path = Path(source)
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ScenarioError(f"scenario {path} is not valid YAML: {exc}") from None
        where = str(path)
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping at the top level")
    return _normalise(data, where)


def _req(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj or obj[key] in (None, ""):
        raise ScenarioError(f"{where}: missing '{key}'")
    return obj[key]


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: '{key}' must be a list")
    return value


def _guid(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _elsewhere(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value.get("by") or not value.get("workspace"):
        raise ScenarioError(
            f"{where}: 'enabled_elsewhere' needs 'by' (who enabled it) and 'workspace'"
        )
    out: dict[str, Any] = {"by": str(value["by"]), "workspace": str(value["workspace"])}
    if value.get("log_path"):
        out["log_path"] = str(value["log_path"])
    presets = value.get("presets")
    if presets is not None:
        if not isinstance(presets, list) or not all(isinstance(p, str) for p in presets):
            raise ScenarioError(f"{where}: 'enabled_elsewhere.presets' must be a list of names")
        out["presets"] = list(presets)
    return out


def _normalise(data: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = dict(data)
    subs = _list(data, "subscriptions", where)
    if not subs:
        raise ScenarioError(f"{where}: 'subscriptions' must list at least one subscription")
    lat = data.get("latency_ms", 0) or 0
    if isinstance(lat, (int, float)):
        lat = {"arm": float(lat), "logs": float(lat), "kube": float(lat)}
    elif not isinstance(lat, dict):
        raise ScenarioError(f"{where}: 'latency_ms' must be a number or a mapping arm/logs/kube")
    out["latency_ms"] = {k: float(v) for k, v in lat.items()}
    out["page_size"] = int(data.get("page_size", 100))
    if out["page_size"] < 1:
        raise ScenarioError(f"{where}: 'page_size' must be at least 1")
    seen_clusters: set[str] = set()
    norm_subs = []
    for i, sub in enumerate(subs):
        w = f"{where}: subscriptions[{i}]"
        if not isinstance(sub, dict):
            raise ScenarioError(f"{w}: expected a mapping")
        s = dict(sub)
        s["id"] = str(s.get("id") or _guid(f"sub/{i}/{s.get('name', '')}"))
        s["name"] = str(s.get("name") or f"Subscription {i + 1}")
        rgs = []
        for j, rg in enumerate(_list(sub, "resource_groups", w)):
            wr = f"{w}.resource_groups[{j}]"
            r = dict(rg)
            r["name"] = str(_req(rg, "name", wr))
            r["location"] = str(rg.get("location", "westeurope"))
            wss = []
            for k, ws in enumerate(_list(rg, "workspaces", wr)):
                ww = f"{wr}.workspaces[{k}]"
                x = dict(ws)
                x["name"] = str(_req(ws, "name", ww))
                x["customer_id"] = str(x.get("customer_id") or _guid(f"ws/{s['id']}/{x['name']}"))
                x["location"] = str(x.get("location", r["location"]))
                for slot in ("primary_key", "secondary_key"):
                    if not x.get(slot):
                        raw = hashlib.sha512(f"{slot}/{x['customer_id']}".encode()).digest()
                        x[slot] = base64.b64encode(raw).decode()
                x["linux_syslog"] = _list(ws, "linux_syslog", ww)
                wss.append(x)
            r["workspaces"] = wss
            cls = []
            for k, cl in enumerate(_list(rg, "clusters", wr)):
                wc = f"{wr}.clusters[{k}]"
                c = dict(cl)
                c["name"] = str(_req(cl, "name", wc))
                if c["name"] in seen_clusters:
                    raise ScenarioError(f"{wc}: cluster name '{c['name']}' is used twice")
                seen_clusters.add(c["name"])
                c["location"] = str(cl.get("location", r["location"]))
                c["kubernetes_version"] = str(cl.get("kubernetes_version", "1.32.6"))
                c["node_resource_group"] = str(
                    cl.get("node_resource_group") or f"MC_{r['name']}_{c['name']}_{c['location']}"
                )
                c["restriction_level"] = str(cl.get("restriction_level", "Unrestricted"))
                if c["restriction_level"] not in ("Unrestricted", "ReadOnly"):
                    raise ScenarioError(f"{wc}: restriction_level must be Unrestricted or ReadOnly")
                mon = cl.get("monitoring")
                if mon is not None and not isinstance(mon, dict):
                    raise ScenarioError(f"{wc}: 'monitoring' must be a mapping")
                c["monitoring"] = mon
                c["enabled_elsewhere"] = _elsewhere(cl.get("enabled_elsewhere"), wc)
                pools = []
                for p_i, pool in enumerate(_list(cl, "pools", wc)):
                    wp = f"{wc}.pools[{p_i}]"
                    p = dict(pool)
                    p["name"] = str(_req(pool, "name", wp))
                    p["os_sku"] = str(pool.get("os_sku", "Ubuntu2204"))
                    if p["os_sku"] not in OS_SKUS:
                        raise ScenarioError(f"{wp}: os_sku must be one of {', '.join(OS_SKUS)}")
                    p["count"] = int(pool.get("count", 1))
                    p["mode"] = str(pool.get("mode", "User"))
                    if p["mode"] not in ("System", "User"):
                        raise ScenarioError(f"{wp}: mode must be System or User")
                    p["arch"] = str(pool.get("arch", "amd64"))
                    if p["arch"] not in ("amd64", "arm64"):
                        raise ScenarioError(f"{wp}: arch must be amd64 or arm64")
                    default_size = (
                        "Standard_D4pds_v5" if p["arch"] == "arm64" else "Standard_D4ds_v5"
                    )
                    p["vm_size"] = str(pool.get("vm_size", default_size))
                    p["upgrade_policy"] = str(pool.get("upgrade_policy", "Manual"))
                    p["taints"] = [str(t) for t in _list(pool, "taints", wp)]
                    p["extensions"] = _list(pool, "extensions", wp)
                    p["rsyslog"] = pool.get("rsyslog")
                    if p["rsyslog"] is not None and not isinstance(p["rsyslog"], bool):
                        raise ScenarioError(f"{wp}: rsyslog must be true or false")
                    if p["rsyslog"] and p["os_sku"] in ("Flatcar", "Windows2022"):
                        raise ScenarioError(f"{wp}: {p['os_sku']} has no rsyslog")
                    pools.append(p)
                if not pools:
                    raise ScenarioError(f"{wc}: a cluster needs at least one pool")
                c["pools"] = pools
                cls.append(c)
            r["clusters"] = cls
            r["dcrs"] = _list(rg, "dcrs", wr)
            rgs.append(r)
        s["resource_groups"] = rgs
        norm_subs.append(s)
    out["subscriptions"] = norm_subs
    faults = []
    for i, f in enumerate(_list(data, "faults", where)):
        if not isinstance(f, dict) or f.get("kind") not in FAULT_KINDS:
            raise ScenarioError(
                f"{where}: faults[{i}].kind must be one of {', '.join(FAULT_KINDS)}"
            )
        faults.append(dict(f))
    out["faults"] = faults
    graph = data.get("resource_graph") or {}
    if not isinstance(graph, dict):
        raise ScenarioError(f"{where}: 'resource_graph' must be a mapping")
    throttle = graph.get("throttle") or {}
    if not isinstance(throttle, dict):
        raise ScenarioError(f"{where}: resource_graph.throttle must be {{calls: N, window_s: S}}")
    try:
        calls, window = int(throttle.get("calls", 15)), float(throttle.get("window_s", 5))
    except (TypeError, ValueError):
        raise ScenarioError(f"{where}: resource_graph.throttle needs numbers") from None
    if calls < 1 or window <= 0:
        raise ScenarioError(f"{where}: resource_graph.throttle: calls >= 1 and window_s > 0")
    out["resource_graph"] = {
        "throttle": {"calls": calls, "window_s": window},
        "forbidden": bool(graph.get("forbidden", False)),
    }
    lro = data.get("lro") or {}
    out["lro"] = {"polls": int(lro.get("polls", 1)), "seconds": float(lro.get("seconds", 0))}
    ing = data.get("ingestion") or {}
    out["ingestion"] = {
        "delay_s": float(ing.get("delay_s", 2)),
        "interval_s": float(ing.get("interval_s", 2)),
    }
    return out


def node_ip(cluster_index: int, node_index: int) -> str:
    """Node IPs as AKS' default Azure CNI overlay subnet hands them out."""
    return str(ipaddress.ip_address("10.224.0.4") + node_index + 256 * cluster_index)
