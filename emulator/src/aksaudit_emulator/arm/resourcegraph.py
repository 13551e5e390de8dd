"""ARM route of Microsoft.ResourceGraph: ``POST /providers/Microsoft.ResourceGraph/resources``.

Answers a KQL query (the emulator's KQL engine, ``kql.run_rows``) over Resource Graph's tables
built from the emulator's own ARM state, so an answer always agrees with what the ARM routes
serve:

- ``resources``: tracked resources (managed clusters, scale sets with their extension profile,
  workspaces, data collection rules, ...);
- ``computeresources``: scale-set instances (``.../virtualMachineScaleSets/*/virtualMachines``,
  with ``properties.latestModelApplied`` as the ARM route computes it);
- ``insightsresources``: data collection rule associations;
- ``resourcecontainers``: subscriptions and resource groups.

Rows have Resource Graph's columns (``type`` and ``resourceGroup`` lower case, ``properties`` and
``tags`` dynamic) and are scoped to the request's ``subscriptions`` (when absent: tenant scope,
every subscription of the tenant, as the 2021-03-01 API's tenant query), minus any subscription a
``forbidden_subscription`` fault hides, as Resource Graph answers only for what the caller may
read. Paging as the service: ``options.$top`` (default 100, at most 1,000),
``options.$skip``, and ``$skipToken`` (opaque; an offset into the same result, cached per state
version and query). Like the service, only a result with an ``id`` column can be paged: one
without it (a ``summarize`` that drops ``id``, a bare ``project name``) answers at most ``$top``
rows with ``resultTruncated: true`` and no ``$skipToken`` (Microsoft's "Guidance for
pagination": when ``resultTruncated`` is true the ``$skipToken`` is not set). Every answer
carries ``x-ms-user-quota-remaining`` and ``x-ms-user-quota-resets-after`` (hh:mm:ss).

Scenario ``resource_graph`` (see ``scenario.py``): ``throttle: {calls: N, window_s: W}`` answers
429 (Retry-After, quota 0) once N calls fell in the last W seconds (default 15 per 5 s, the
service's per-user quota); ``forbidden: true`` refuses every query with 403 AuthorizationFailed
(a caller without Resource Graph access). Tests may change ``state.scenario["resource_graph"]``
while the emulator runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import time
from typing import Any

from aiohttp import web

from aksaudit_emulator import kql
from aksaudit_emulator.arm.common import ArmError, Ctx, Route
from aksaudit_emulator.arm.compute import _vm_view, _vmss_view
from aksaudit_emulator.state import EmulatorState

PATH = r"/providers/microsoft\.resourcegraph/resources"
MAX_TOP = 1000
DEFAULT_TOP = 100
DEFAULT_QUOTA = (15, 5.0)  # calls, window seconds: the service's default per-user quota

_COLUMNS: list[tuple[str, str]] = [
    ("id", "string"),
    ("name", "string"),
    ("type", "string"),
    ("tenantId", "string"),
    ("kind", "string"),
    ("location", "string"),
    ("resourceGroup", "string"),
    ("subscriptionId", "string"),
    ("managedBy", "string"),
    ("sku", "dynamic"),
    ("plan", "dynamic"),
    ("properties", "dynamic"),
    ("tags", "dynamic"),
    ("identity", "dynamic"),
    ("zones", "dynamic"),
    ("extendedLocation", "dynamic"),
]
SCHEMAS: dict[str, list[tuple[str, str]]] = {
    "resources": _COLUMNS,
    "computeresources": _COLUMNS,
    "insightsresources": _COLUMNS,
    "resourcecontainers": _COLUMNS,
}
_TRACKED = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/[^/]+/[^/]+/[^/]+$", re.I
)
_SKIP_TYPES = {"microsoft.compute/virtualmachinescalesets/extensions"}


def _row(state: EmulatorState, body: dict[str, Any], props: Any = None) -> dict[str, Any]:
    rid = str(body.get("id") or "")
    parts = rid.split("/")
    low = [p.lower() for p in parts]
    sub = parts[low.index("subscriptions") + 1] if "subscriptions" in low else ""
    rg = parts[low.index("resourcegroups") + 1] if "resourcegroups" in low else ""
    return {
        "id": rid,
        "name": body.get("name") or body.get("displayName") or parts[-1],
        "type": str(body.get("type") or "").lower(),
        "tenantId": state.tenant_id,
        "kind": body.get("kind") or "",
        "location": str(body.get("location") or "").lower(),
        "resourceGroup": rg.lower(),
        "subscriptionId": sub,
        "managedBy": body.get("managedBy") or "",
        "sku": body.get("sku"),
        "plan": body.get("plan"),
        "properties": body.get("properties") if props is None else props,
        "tags": body.get("tags") or {},
        "identity": body.get("identity"),
        "zones": body.get("zones"),
        "extendedLocation": body.get("extendedLocation"),
    }


def build_tables(state: EmulatorState) -> dict[str, list[dict[str, Any]]]:
    """Resource Graph's tables from the ARM state (as the ARM routes would answer)."""
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMAS}
    with state.lock:
        bodies = list(state.arm.items())
    for key, body in bodies:
        rtype = str(body.get("type") or "").lower()
        if rtype in _SKIP_TYPES:
            continue
        if rtype == "microsoft.compute/virtualmachinescalesets/virtualmachines":
            vmss_id = key.rsplit("/virtualmachines/", 1)[0]
            tables["computeresources"].append(_row(state, _vm_view(state, vmss_id, body)))
        elif rtype == "microsoft.insights/datacollectionruleassociations":
            tables["insightsresources"].append(_row(state, body))
        elif rtype in ("microsoft.resources/resourcegroups", "") and key.count("/") <= 4:
            # a subscription body has no "type"; give it Resource Graph's
            row = _row(state, body)
            if not rtype:
                row["type"] = "microsoft.resources/subscriptions"
                row["name"] = body.get("displayName") or row["name"]
            tables["resourcecontainers"].append(row)
        elif _TRACKED.match(key):
            if rtype == "microsoft.compute/virtualmachinescalesets":
                body = _vmss_view(state, body)
            tables["resources"].append(_row(state, body))
    return tables


# --- quota -----------------------------------------------------------------------------------


def _settings(state: EmulatorState) -> dict[str, Any]:
    conf = state.scenario.get("resource_graph")
    return conf if isinstance(conf, dict) else {}


def _hms(seconds: float) -> str:
    s = max(0, math.ceil(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _quota(state: EmulatorState) -> tuple[bool, dict[str, str]]:
    """Count this call against the per-user quota: (allowed, quota headers)."""
    throttle = _settings(state).get("throttle") or {}
    calls = int(throttle.get("calls", DEFAULT_QUOTA[0]))
    window = float(throttle.get("window_s", DEFAULT_QUOTA[1]))
    now = time.monotonic()
    with state.lock:
        recent = [t for t in state.graph_calls if now - t < window]
        allowed = len(recent) < calls
        if allowed:
            recent.append(now)
        state.graph_calls[:] = recent
        resets = (recent[0] + window - now) if recent else window
        remaining = max(0, calls - len(recent))
    headers = {
        "x-ms-user-quota-remaining": str(remaining),
        "x-ms-user-quota-resets-after": _hms(resets),
    }
    if not allowed:
        state.requests["POST resourcegraph throttled"] += 1
        headers["Retry-After"] = str(max(1, math.ceil(resets)))
    return allowed, headers


# --- the route -------------------------------------------------------------------------------


def _token(offset: int, key: str) -> str:
    raw = json.dumps({"o": offset, "k": key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str, key: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.get("k") != key:
            raise ValueError("another query's token")
        return int(data["o"])
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ArmError(400, "BadRequest", "The $skipToken is not valid for this query.") from None


def _scope(state: EmulatorState, asked: Any) -> set[str]:
    hidden = {
        str(f.get("subscription", "")).lower()
        for f in state.faults
        if f.get("kind") == "forbidden_subscription"
    }
    # every ARM body is looked at: on a fleet (30,000 of them) that cost more than answering a
    # cached page, so it is done once per state version, like the tables
    known = state.graph_results.get(("subscriptions", state.version))
    if known is None or not state.cache_responses:
        known = {
            str(b.get("subscriptionId") or "").lower()
            for k, b in list(state.arm.items())
            if k.count("/") == 2
        }
        state.graph_results[("subscriptions", state.version)] = known
    wanted = {str(s).lower() for s in asked} if isinstance(asked, list) else known
    return (wanted & known) - hidden


def _result(state: EmulatorState, query: str, scope: set[str]) -> tuple[bool, list[dict[str, Any]]]:
    """(pageable, the query's rows) over the scoped tables, cached per state version (pages
    re-use it). Pageable: the result has an ``id`` column (module doc)."""
    if not state.cache_responses:  # tests that change bodies in place turn caching off
        state.graph_results.clear()
    key = (state.version, query, tuple(sorted(scope)))
    hit = state.graph_results.get(key)
    if hit is not None:
        return hit[0], list(hit[1])
    tables = state.graph_results.get(("tables", state.version))
    if tables is None:  # Resource Graph's own index: built once per state version
        state.graph_results.clear()
        tables = build_tables(state)
        state.graph_results[("tables", state.version)] = tables
    scoped = {
        name: [r for r in rows if r["subscriptionId"].lower() in scope]
        for name, rows in tables.items()
    }
    try:
        cols, rows = kql.run_rows(query, scoped, SCHEMAS, fold_table_case=True)
    except kql.KqlError as exc:
        raise ArmError(
            400,
            "BadRequest",
            f"Please provide below info when asking for support: query is invalid: {exc} "
            f"({exc.kind} at '{exc.token}')",
        ) from None
    if len(state.graph_results) > 64:
        state.graph_results.clear()
    pageable = any(name.lower() == "id" for name, _type in cols)
    state.graph_results[key] = (pageable, rows)
    return pageable, rows


async def resourcegraph_query(ctx: Ctx) -> web.Response:
    state = ctx.state
    if _settings(state).get("forbidden"):
        raise ArmError(
            403,
            "AuthorizationFailed",
            "The client 'aksaudit-emulator-user' with object id "
            "'00000000-0000-0000-0000-00000000cafe' does not have authorization to perform action "
            "'Microsoft.ResourceGraph/resources/read' over scope "
            "'/providers/Microsoft.ResourceGraph' or the scope is invalid.",
        )
    allowed, quota = _quota(state)
    if not allowed:
        raise ArmError(
            429,
            "RateLimiting",
            "Please provide below info when asking for support: Client application has been "
            "throttled and should not attempt to repeat the request until an amount of time "
            "has elapsed.",
            quota,
        )
    body: dict[str, Any] = ctx.body if isinstance(ctx.body, dict) else {}
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ArmError(400, "BadRequest", "The request must name a query.", quota)
    raw_options = body.get("options")
    options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    scope = _scope(state, body.get("subscriptions"))
    pageable, rows = _result(state, query, scope)
    top = min(MAX_TOP, int(options.get("$top") or DEFAULT_TOP))
    key = hashlib.sha256(json.dumps([query, sorted(scope)]).encode()).hexdigest()[:16]
    token = options.get("$skipToken")
    start = _offset(str(token), key) if token else int(options.get("$skip") or 0)
    if not pageable:
        start = 0  # the service cannot page it: the first rows, truncated, and no token
    page_key = ("page", state.version, key, start, top)
    encoded = state.graph_results.get(page_key)
    if encoded is None:  # an answer is served as often as it is asked: encode it once
        page = rows[start : start + top]
        more = start + top < len(rows)
        answer: dict[str, Any] = {
            "totalRecords": len(rows),
            "count": len(page),
            "resultTruncated": "true" if more and not pageable else "false",
            "data": page,
            "facets": [],
        }
        if more and pageable:
            answer["$skipToken"] = _token(start + top, key)
        encoded = json.dumps(answer, separators=(",", ":")).encode()
        if state.cache_responses:
            state.graph_results[page_key] = encoded
    return web.Response(status=200, body=encoded, content_type="application/json", headers=quota)


ROUTES: list[Route] = [
    (frozenset({"POST"}), re.compile(PATH, re.I), resourcegraph_query),
]
