"""ARM routes of the resource manager itself: subscriptions, tenants, resource groups, and the
LRO status/result URLs every provider's long-running operation hands out."""

from __future__ import annotations

import re

from aiohttp import web

from aksaudit_emulator import lro
from aksaudit_emulator.arm.common import (
    RG,
    SUB,
    ArmError,
    Ctx,
    Route,
    json_response,
    page_of,
    require_rg,
    require_sub,
)
from aksaudit_emulator.state import Lro


async def list_subscriptions(ctx: Ctx) -> web.Response:
    # the children index (ids directly under /subscriptions), not a scan of every ARM body
    return page_of(ctx, ctx.state.list_children("/subscriptions"))


async def get_subscription(ctx: Ctx) -> web.Response:
    sub = ctx.g("sub")
    body = ctx.state.get(f"/subscriptions/{sub}")
    if body is None:
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    return json_response(200, body)


async def list_tenants(ctx: Ctx) -> web.Response:
    tid = ctx.state.tenant_id
    return page_of(
        ctx,
        [
            {
                "id": f"/tenants/{tid}",
                "tenantId": tid,
                "tenantCategory": "Home",
                "displayName": "Contoso (emulated)",
                "defaultDomain": "contoso.onmicrosoft.com",
            }
        ],
    )


async def list_resource_groups(ctx: Ctx) -> web.Response:
    sub = require_sub(ctx)
    return page_of(ctx, ctx.state.list_children(f"/subscriptions/{sub}/resourcegroups"))


async def get_resource_group(ctx: Ctx) -> web.Response:
    rid = require_rg(ctx)
    body = ctx.state.get(rid)
    return json_response(200, body)


def _lro(ctx: Ctx) -> Lro:
    op = ctx.state.lros.get(ctx.g("op"))
    if op is None:
        raise ArmError(
            404, "OperationNotFound", f"The operation '{ctx.g('op')}' could not be found."
        )
    return op


async def lro_status(ctx: Ctx) -> web.Response:
    op = _lro(ctx)
    lro.advance(ctx.state, op, polled=True)
    headers = {"Retry-After": "0"} if op.status == "InProgress" else {}
    return json_response(200, lro.status_body(op), headers)


async def lro_result(ctx: Ctx) -> web.Response:
    op = _lro(ctx)
    lro.advance(ctx.state, op, polled=True)
    if op.status == "InProgress":
        return json_response(202, None, {"Retry-After": "0", "Location": str(ctx.request.url)})
    if op.status == "Failed":
        err = op.error or {"code": "OperationFailed", "message": "The operation failed."}
        return json_response(500, {"error": err})
    if op.resource_id:
        body = ctx.state.get(op.resource_id)
        return json_response(200, body)
    if op.result is not None and op.result:
        return json_response(200, op.result)
    return json_response(200, None)


ROUTES: list[Route] = [
    (frozenset({"GET"}), re.compile(r"/subscriptions/?", re.I), list_subscriptions),
    (frozenset({"GET"}), re.compile(r"/tenants/?", re.I), list_tenants),
    (frozenset({"GET"}), re.compile(SUB + r"/?", re.I), get_subscription),
    (
        frozenset({"GET"}),
        re.compile(
            SUB
            + r"/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)"
            + r"/(?:operations|operationstatuses|asyncoperations)/(?P<op>[^/]+)",
            re.I,
        ),
        lro_status,
    ),
    (
        frozenset({"GET"}),
        re.compile(
            SUB
            + r"/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)/operationresults/(?P<op>[^/]+)",
            re.I,
        ),
        lro_result,
    ),
    (frozenset({"GET"}), re.compile(SUB + r"/resourcegroups/?", re.I), list_resource_groups),
    (frozenset({"GET"}), re.compile(RG + r"/?", re.I), get_resource_group),
]
