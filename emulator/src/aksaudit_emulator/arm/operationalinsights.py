"""ARM routes of Microsoft.OperationalInsights: workspaces, shared keys, data sources."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from aksaudit_emulator.arm import bodies
from aksaudit_emulator.arm.common import (
    NAME,
    RG,
    SUB,
    WS,
    ArmError,
    Ctx,
    Route,
    body_dict,
    get_resource,
    json_response,
    not_found,
    page_of,
    require_rg,
    require_sub,
    rg_path,
)


async def list_ws_sub(ctx: Ctx) -> web.Response:
    sub = require_sub(ctx)
    return json_response(
        200, {"value": ctx.state.list_type(sub, "Microsoft.OperationalInsights/workspaces")}
    )


async def list_ws_rg(ctx: Ctx) -> web.Response:
    rg = require_rg(ctx)
    return json_response(
        200,
        {
            "value": ctx.state.list_children(
                rg + "/providers/microsoft.operationalinsights/workspaces"
            )
        },
    )


def _ws_id(ctx: Ctx) -> str:
    return f"{rg_path(ctx)}/providers/Microsoft.OperationalInsights/workspaces/{ctx.g('ws')}"


def _ws_body(ctx: Ctx) -> dict[str, Any]:
    return get_resource(ctx, _ws_id(ctx), "Microsoft.OperationalInsights/workspaces")


async def get_ws(ctx: Ctx) -> web.Response:
    return json_response(200, _ws_body(ctx))


async def shared_keys(ctx: Ctx) -> web.Response:
    ws = _ws_body(ctx)
    keys = ctx.state.shared_keys.get(ws["id"].lower(), {})
    return json_response(200, dict(keys))


async def list_data_sources(ctx: Ctx) -> web.Response:
    ws = _ws_body(ctx)
    flt = ctx.request.query.get("$filter")
    if not flt:
        raise ArmError(
            400, "BadRequest", "The $filter query parameter is required, e.g. kind='LinuxSyslog'."
        )
    m = re.fullmatch(r"\s*kind\s+eq\s+'([^']+)'\s*|\s*kind\s*=\s*'([^']+)'\s*", flt, re.IGNORECASE)
    if not m:
        raise ArmError(400, "BadRequest", f"Invalid $filter: {flt}")
    kind = (m.group(1) or m.group(2)).lower()
    items = [
        d
        for d in ctx.state.list_children(ws["id"] + "/dataSources")
        if str(d.get("kind", "")).lower() == kind
    ]
    return page_of(ctx, items)


async def data_source(ctx: Ctx) -> web.Response:
    ws = _ws_body(ctx)
    name = ctx.g("name")
    did = f"{ws['id']}/dataSources/{name}"
    existing = ctx.state.get(did)
    if ctx.method == "GET":
        if existing is None:
            what = f"Microsoft.OperationalInsights/workspaces/{ws['name']}/dataSources/{name}"
            raise not_found(ctx, what)
        return json_response(200, existing)
    if ctx.method == "DELETE":
        if existing is None:
            return json_response(204, None)
        ctx.state.delete(did)
        return json_response(200, None)
    req = body_dict(ctx)
    kind = req.get("kind")
    if not kind:
        raise ArmError(400, "BadRequest", "The data source kind is required.")
    props = req.get("properties") or {}
    if kind == "LinuxSyslog":
        if not props.get("syslogName"):
            raise ArmError(
                400, "BadRequest", "LinuxSyslog data source requires properties.syslogName."
            )
        for sev in props.get("syslogSeverities") or []:
            if str(sev.get("severity", "")) not in bodies.SEVERITIES:
                raise ArmError(
                    400, "BadRequest", f"Invalid syslog severity '{sev.get('severity')}'."
                )
    body = {
        "id": did,
        "name": name,
        "type": "Microsoft.OperationalInsights/workspaces/dataSources",
        "kind": kind,
        "etag": bodies.etag(did, json.dumps(props, sort_keys=True)),
        "properties": props,
    }
    if req.get("tags"):
        body["tags"] = req["tags"]
    ctx.state.put(did, body)
    return json_response(200 if existing else 201, body)


ROUTES: list[Route] = [
    (frozenset({"GET"}), re.compile(SUB + WS, re.I), list_ws_sub),
    (frozenset({"GET"}), re.compile(RG + WS, re.I), list_ws_rg),
    (frozenset({"GET"}), re.compile(RG + WS + r"/(?P<ws>[^/]+)", re.I), get_ws),
    (frozenset({"POST"}), re.compile(RG + WS + r"/(?P<ws>[^/]+)/sharedkeys", re.I), shared_keys),
    (
        frozenset({"GET"}),
        re.compile(RG + WS + r"/(?P<ws>[^/]+)/datasources", re.I),
        list_data_sources,
    ),
    (
        frozenset({"GET", "PUT", "DELETE"}),
        re.compile(RG + WS + r"/(?P<ws>[^/]+)/datasources/" + NAME, re.I),
        data_source,
    ),
]
