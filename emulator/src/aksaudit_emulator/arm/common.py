"""What every ARM route module shares: the request context, the error type, answers, paging,
the path patterns and the checks (subscription, resource group, lockdown) handlers start with."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from aksaudit_emulator import faults, lro, wire
from aksaudit_emulator.arm import bodies
from aksaudit_emulator.state import EmulatorState, Lro

Handler = Callable[["Ctx"], Awaitable[web.Response]]

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"
AKS = r"/providers/microsoft\.containerservice/managedclusters"
VMSS = r"/providers/microsoft\.compute/virtualmachinescalesets"
WS = r"/providers/microsoft\.operationalinsights/workspaces"
DCR = r"/providers/microsoft\.insights/datacollectionrules"
DCRA = r"/providers/microsoft\.insights/datacollectionruleassociations"
NAME = r"(?P<name>[^/]+)"


class ArmError(Exception):
    """An ARM error answer (status, code, message, headers); ``router.handle`` renders it."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class Ctx:
    """One request as the handlers see it."""

    def __init__(
        self, request: web.Request, state: EmulatorState, match: re.Match[str], body: Any
    ) -> None:
        self.request = request
        self.state = state
        self.m = match
        self.body = body
        self.path = request.path
        self.method = request.method
        self.base_url = f"{request.scheme}://{request.host}"

    def g(self, name: str) -> str:
        return str(self.m.group(name))


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=wire.dumps(body) if body is not None else b"",
        content_type="application/json",
        charset="utf-8",  # as ARM labels its answers (and wire.dumps writes UTF-8)
        headers=headers,
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    h = {"x-ms-failure-cause": "gateway"} if status in (401, 403) else {}
    h.update(headers or {})
    return json_response(status, bodies.arm_error(code, message), h)


Route = tuple[frozenset[str], re.Pattern[str], Handler]


def page_of(ctx: Ctx, items: list[dict[str, Any]]) -> web.Response:
    """A list answer with ``nextLink`` paging (``$skiptoken`` = offset)."""
    size = ctx.state.page_size
    try:
        start = int(ctx.request.query.get("$skiptoken", "0"))
    except ValueError:
        raise ArmError(400, "InvalidSkipToken", "The skip token is not valid.") from None
    chunk = items[start : start + size]
    body: dict[str, Any] = {"value": chunk}
    if start + size < len(items):
        query = dict(ctx.request.query)
        query["$skiptoken"] = str(start + size)
        body["nextLink"] = f"{ctx.base_url}{ctx.request.path}?{urlencode(query)}"
    return json_response(200, body)


def rg_path(ctx: Ctx) -> str:
    return f"/subscriptions/{ctx.g('sub')}/resourceGroups/{ctx.g('rg')}"


def not_found(ctx: Ctx, what: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{what}' under resource group '{ctx.g('rg')}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def require_sub(ctx: Ctx) -> str:
    sub = ctx.g("sub")
    if ctx.state.get(f"/subscriptions/{sub}") is None:
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    return sub


def require_rg(ctx: Ctx) -> str:
    sub = require_sub(ctx)
    rg = ctx.g("rg")
    if ctx.state.get(f"/subscriptions/{sub}/resourceGroups/{rg}") is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def get_resource(ctx: Ctx, rid: str, rtype: str) -> dict[str, Any]:
    require_rg(ctx)
    body = ctx.state.get(rid)
    if body is None:
        name = rid.rsplit("/", 1)[-1]
        raise not_found(ctx, f"{rtype}/{name}")
    return body


def path_id(ctx: Ctx) -> str:
    """The resource id as the client spelled it, without trailing action segments."""
    return ctx.path.rstrip("/")


def deny_under_lockdown(ctx: Ctx, sub: str, rg: str) -> None:
    """Writes into a ReadOnly-locked node resource group are denied by AKS' deny assignment."""
    for cluster in ctx.state.clusters.values():
        if (
            cluster.restriction_level == "ReadOnly"
            and cluster.subscription_id.lower() == sub.lower()
            and cluster.node_resource_group.lower() == rg.lower()
        ):
            action = faults._action(ctx.method, ctx.path)
            raise ArmError(
                403,
                "DenyAssignmentAuthorizationFailed",
                "The client 'aksaudit-emulator-user' with object id "
                "'00000000-0000-0000-0000-00000000cafe' has permission to perform action "
                f"'{action}' on scope '{ctx.path}'; however, the access "
                f"is denied because of the deny assignment with name 'AKS Node Resource Group Deny "
                f"Assignment' and Id '{bodies.stable_guid(cluster.name, 'deny')}' at scope "
                f"'/subscriptions/{sub}/resourceGroups/{cluster.node_resource_group}'.",
            )


def check_preconditions(ctx: Ctx, rid: str, etag_key: str) -> dict[str, Any] | None:
    """ARM's optimistic concurrency on a resource that carries an ETag in its body
    (``etag_key``: DCRs ``etag``, managed clusters ``eTag``): ``If-Match`` must equal it (or be
    ``*`` for any existing one), ``If-None-Match: *`` requires that none exists; otherwise 412
    PreconditionFailed. A ``concurrent_write`` fault makes someone else write the resource
    (a tag, the fault's ``patch`` merged in, a new ETag) just before, or create it from the
    fault's ``body`` when it does not exist. Returns the resource as it is now."""
    current = ctx.state.get(rid)
    fault = faults.concurrent_write(ctx.state, ctx.method, ctx.path, creating=current is None)
    if fault is not None:
        if current is None:
            current = dict(fault["body"], id=rid, name=rid.rsplit("/", 1)[-1])
        current = json.loads(json.dumps(current))
        if isinstance(fault.get("patch"), dict):  # what someone else changes in it
            _merge(current, json.loads(json.dumps(fault["patch"])))
        tags = current.get("tags") or {}
        tags["changed-by"] = f"someone-else-{ctx.state.version}"
        current["tags"] = tags
        current[etag_key] = bodies.etag(rid, "someone-else", str(ctx.state.version))
        ctx.state.put(rid, current)
    if_match = ctx.request.headers.get("If-Match")
    if_none = ctx.request.headers.get("If-None-Match")
    have = None if current is None else str(current.get(etag_key) or "")
    failed = (if_match is not None and (have is None or if_match not in ("*", have))) or (
        if_none == "*" and current is not None
    )
    if failed:
        raise ArmError(
            412,
            "PreconditionFailed",
            f"The resource '{rid}' was modified: the If-Match/If-None-Match condition of the "
            f"request does not hold for its current ETag {have or '(none: it does not exist)'}.",
        )
    return current


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    """JSON merge of ``patch`` into ``into`` (nested objects merged, other values replaced)."""
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def body_dict(ctx: Ctx) -> dict[str, Any]:
    if not isinstance(ctx.body, dict):
        raise ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        )
    return ctx.body


def start_lro(
    ctx: Ctx,
    provider: str,
    location: str,
    resource_id: str,
    on_done: Callable[[Lro], None],
    result: dict[str, Any] | None = None,
) -> tuple[Lro, dict[str, str]]:
    fail = faults.lro_should_fail(ctx.state, ctx.method, ctx.path)
    return lro.start(
        ctx.state,
        base_url=ctx.base_url,
        subscription_id=ctx.g("sub"),
        provider=provider,
        location=location,
        resource_id=resource_id,
        fail=fail,
        on_done=on_done,
        result=result,
    )
