"""The ARM surface: paths as Azure's REST specs name them, matched case-insensitively (the SDKs
send ``resourcegroups`` lower case), any api-version accepted. This module dispatches (faults, rate
limits, the read cache, ARM headers); one module per provider holds the handlers and its routes:
``resources`` (subscriptions, tenants, resource groups, LRO polling), ``containerservice``,
``compute``, ``operationalinsights``, ``insights``; ``common`` has what they share.

Routes (``{rg}`` = ``/subscriptions/{s}/resourceGroups/{rg}``):
    GET  /subscriptions, /subscriptions/{s}, /tenants
    GET  /subscriptions/{s}/resourcegroups, {rg}
    GET  /subscriptions/{s}/providers/Microsoft.ContainerService/managedClusters,
         {rg}/providers/Microsoft.ContainerService/managedClusters
    GET|PUT|PATCH  {rg}/providers/Microsoft.ContainerService/managedClusters/{name}  (writes: LRO)
    GET  /subscriptions/{s}/providers/Microsoft.Compute/virtualMachineScaleSets,
         {rg}/providers/Microsoft.Compute/virtualMachineScaleSets
    GET  .../virtualMachineScaleSets/{vmss}, .../virtualMachines, .../virtualMachines/{id}
    GET  .../virtualMachineScaleSets/{vmss}/extensions
    GET|PUT|PATCH|DELETE .../virtualMachineScaleSets/{vmss}/extensions/{name}       (writes: LRO)
    POST .../virtualMachineScaleSets/{vmss}/manualupgrade                          (LRO, 202)
    GET  /subscriptions/{s}/providers/Microsoft.OperationalInsights/workspaces, {rg}/.../workspaces
    GET  .../workspaces/{ws};  POST .../workspaces/{ws}/sharedKeys
    GET  .../workspaces/{ws}/dataSources?$filter=kind='LinuxSyslog'
    GET|PUT|DELETE .../workspaces/{ws}/dataSources/{name}
    GET  /subscriptions/{s}/providers/Microsoft.Insights/dataCollectionRules,
         {rg}/providers/Microsoft.Insights/dataCollectionRules
    GET|PUT|PATCH|DELETE {rg}/providers/Microsoft.Insights/dataCollectionRules/{name}
    GET  .../dataCollectionRules/{name}/associations
    GET  {resourceUri}/providers/Microsoft.Insights/dataCollectionRuleAssociations
    GET|PUT|DELETE {resourceUri}/providers/Microsoft.Insights/dataCollectionRuleAssociations/{name}
    GET  /subscriptions/{s}/providers/{ns}/locations/{loc}/operations/{id}          (LRO status)
    GET  /subscriptions/{s}/providers/{ns}/locations/{loc}/operationresults/{id}    (LRO result)
    POST /providers/Microsoft.ResourceGraph/resources       (KQL over the state: resourcegraph.py)
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from typing import Any

from aiohttp import web

from aksaudit_emulator import faults
from aksaudit_emulator.arm import (
    compute,
    containerservice,
    insights,
    operationalinsights,
    resourcegraph,
    resources,
)
from aksaudit_emulator.arm.common import (
    ArmError,
    Ctx,
    Handler,
    Route,
    error_response,
    json_response,
)
from aksaudit_emulator.state import EmulatorState

__all__ = ["ROUTES", "ArmError", "Ctx", "handle", "json_response", "route_key"]

# Order matters (first full match wins): the same order the single table had.
ROUTES: list[Route] = [
    *resources.ROUTES,
    *containerservice.ROUTES,
    *compute.ROUTES,
    *operationalinsights.ROUTES,
    *insights.ROUTES,
    *resourcegraph.ROUTES,
]
_POLLING = (resources.lro_status, resources.lro_result)


REMAINING_KEY: web.RequestKey[tuple[str, str]] = web.RequestKey("remaining", tuple)


def _arm_headers(
    response: web.Response, method: str, request: web.Request | None = None
) -> web.Response:
    """The headers ARM puts on every answer (remaining quota, request ids)."""
    if request is not None and REMAINING_KEY in request:
        name, value = request[REMAINING_KEY]
        response.headers[name] = value
    rid = str(uuid.uuid4())
    response.headers.setdefault("x-ms-request-id", rid)
    response.headers.setdefault("x-ms-correlation-request-id", rid)
    if method == "GET":
        response.headers.setdefault("x-ms-ratelimit-remaining-subscription-reads", "11999")
    else:
        response.headers.setdefault("x-ms-ratelimit-remaining-subscription-writes", "1199")
    return response


Candidate = tuple[frozenset[str], Handler, re.Match[str]]


@functools.lru_cache(maxsize=8192)
def _candidates(path: str) -> tuple[Candidate, ...]:
    """Every route whose pattern matches ``path`` in full, in table order, with its match.

    Routing depends on the path alone, and the same paths come again and again (lists, gets,
    LRO polls): trying ~40 case-insensitive patterns in turn was ~8% of the server's CPU
    under bench/emulator_load.py. Match objects are immutable, so a cached one is safe to
    share; ``handle`` still checks the method against each candidate as before."""
    return tuple(
        (methods, handler, m)
        for methods, pattern, handler in ROUTES
        if (m := pattern.fullmatch(path)) is not None
    )


def route_key(method: str, path: str) -> str:
    """A stable name for a call (for the request counter): the route's handler name."""
    for _methods, handler, _m in _candidates(path):
        return f"{method} {handler.__name__}"
    return f"{method} other"


async def handle(request: web.Request, state: EmulatorState) -> web.Response:
    """Dispatch one ARM call (auth already checked)."""
    path = request.path.rstrip("/") or "/"
    candidates = _candidates(path)
    for methods, handler, m in candidates:
        if request.method not in methods:
            continue
        state.requests[f"{request.method} {handler.__name__}"] += 1
        scripted = faults.request_fault(state, request.method, path)
        if scripted is not None:
            status, fault_body, headers = scripted
            return json_response(status, fault_body, headers)
        throttled, remaining = faults.rate_limit(state, request.method, path)
        if throttled is not None:
            status, fault_body, headers = throttled
            return json_response(status, fault_body, headers)
        if remaining >= 0:
            kind = "reads" if request.method == "GET" else "writes"
            request[REMAINING_KEY] = (
                f"x-ms-ratelimit-remaining-subscription-{kind}",
                str(remaining),
            )
        cacheable = state.cache_responses and request.method == "GET" and handler not in _POLLING
        cache_key = (path.lower(), request.query_string)
        if cacheable:
            hit = state.response_cache.get(cache_key)
            if hit is not None and hit[0] == state.version:
                return _arm_headers(
                    web.Response(status=200, body=hit[1], content_type="application/json"),
                    request.method,
                    request,
                )
        version = state.version
        body: Any = None
        if request.method in ("PUT", "PATCH", "POST") and request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return error_response(
                        400,
                        "InvalidRequestContent",
                        "The request content was invalid and could not be deserialized.",
                    )
        try:
            response = await handler(Ctx(request, state, m, body))
            if cacheable and response.status == 200 and isinstance(response.body, bytes):
                # reads are pure: the same path at the same state version answers the same
                if len(state.response_cache) > 4096:
                    state.response_cache.clear()
                state.response_cache[cache_key] = (version, response.body)
            return _arm_headers(response, request.method, request)
        except ArmError as exc:
            return _arm_headers(
                error_response(exc.status, exc.code, exc.message, exc.headers),
                request.method,
                request,
            )
    state.requests[f"{request.method} unmatched"] += 1
    if candidates:
        return error_response(
            405,
            "MethodNotAllowed",
            f"The requested resource does not support http method '{request.method}'.",
        )
    return error_response(
        404,
        "InvalidResourceType" if "/providers/" in path.lower() else "NotFound",
        f"The resource type could not be found for path '{path}' (not emulated).",
    )
