"""ARM routes of Microsoft.Insights: data collection rules and their associations."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from aiohttp import web

from aksaudit_emulator.arm import bodies
from aksaudit_emulator.arm.common import (
    DCR,
    DCRA,
    NAME,
    RG,
    SUB,
    ArmError,
    Ctx,
    Route,
    body_dict,
    check_preconditions,
    deny_under_lockdown,
    get_resource,
    json_response,
    not_found,
    page_of,
    require_rg,
    require_sub,
    rg_path,
)
from aksaudit_emulator.state import EmulatorState


async def list_dcr_sub(ctx: Ctx) -> web.Response:
    sub = require_sub(ctx)
    return page_of(ctx, ctx.state.list_type(sub, "Microsoft.Insights/dataCollectionRules"))


async def list_dcr_rg(ctx: Ctx) -> web.Response:
    rg = require_rg(ctx)
    return page_of(
        ctx, ctx.state.list_children(rg + "/providers/microsoft.insights/datacollectionrules")
    )


def _dcr_id(ctx: Ctx) -> str:
    return f"{rg_path(ctx)}/providers/Microsoft.Insights/dataCollectionRules/{ctx.g('name')}"


async def dcr(ctx: Ctx) -> web.Response:
    rid = _dcr_id(ctx)
    if ctx.method == "GET":
        return json_response(200, get_resource(ctx, rid, "Microsoft.Insights/dataCollectionRules"))
    rg = require_rg(ctx)
    existing = ctx.state.get(rid)
    if ctx.method in ("PUT", "PATCH"):
        existing = check_preconditions(ctx, rid, "etag")
    if ctx.method == "DELETE":
        if existing is None:
            return json_response(204, None)
        ctx.state.delete(rid)
        return json_response(200, None)
    req = body_dict(ctx)
    if ctx.method == "PATCH":
        if existing is None:
            raise not_found(ctx, f"Microsoft.Insights/dataCollectionRules/{ctx.g('name')}")
        updated = copy.deepcopy(existing)
        if "tags" in req:
            updated["tags"] = req["tags"] or {}
        ctx.state.put(rid, updated)
        return json_response(200, updated)
    if not req.get("location"):
        raise ArmError(
            400, "InvalidPayload", "Data collection rule is invalid: 'location' is required."
        )
    props = copy.deepcopy(req.get("properties") or {})
    _validate_dcr(props)
    name = ctx.g("name")
    body: dict[str, Any] = {
        "id": rid if existing is None else existing["id"],
        "name": name if existing is None else existing["name"],
        "type": "Microsoft.Insights/dataCollectionRules",
        "location": req["location"],
        "tags": req.get("tags") or {},
        "etag": bodies.etag(rid, json.dumps(props, sort_keys=True)),
        "properties": props,
    }
    if req.get("kind"):
        body["kind"] = req["kind"]
    props["immutableId"] = (existing or {}).get("properties", {}).get(
        "immutableId"
    ) or "dcr-" + bodies.stable_guid(rid.lower()).replace("-", "")
    props["provisioningState"] = "Succeeded"
    ctx.state.put(rid, body)
    del rg
    return json_response(200 if existing else 201, body)


def _validate_dcr(props: dict[str, Any]) -> None:
    dests: set[str] = set()
    for group in (props.get("destinations") or {}).values():
        for d in group or []:
            if d.get("name"):
                dests.add(str(d["name"]))
    for flow in props.get("dataFlows") or []:
        for dest in flow.get("destinations") or []:
            if dest not in dests:
                raise ArmError(
                    400,
                    "InvalidPayload",
                    f"Data collection rule is invalid: dataFlows reference destination '{dest}', "
                    "which is not defined.",
                )
    for src in (props.get("dataSources") or {}).get("syslog") or []:
        for level in src.get("logLevels") or []:
            if level != "*" and level not in bodies.DCR_LEVELS:
                raise ArmError(
                    400,
                    "InvalidPayload",
                    f"Data collection rule is invalid: logLevels value '{level}' is not valid.",
                )


async def list_rule_associations(ctx: Ctx) -> web.Response:
    rule = get_resource(ctx, _dcr_id(ctx), "Microsoft.Insights/dataCollectionRules")
    rid = rule["id"].lower()
    # an association lives on its resource, which may be in another subscription than the
    # rule: "associations for the specified data collection rule" are every one naming it
    items = [
        b
        for b in ctx.state.list_type_everywhere("Microsoft.Insights/dataCollectionRuleAssociations")
        if str(b["properties"].get("dataCollectionRuleId", "")).lower() == rid
    ]
    return page_of(ctx, items)


def _target_exists(state: EmulatorState, uri: str) -> bool:
    return state.get(uri) is not None or state.get(uri.rstrip("/")) is not None


async def list_associations(ctx: Ctx) -> web.Response:
    uri = ctx.g("uri")
    if not _target_exists(ctx.state, uri):
        raise ArmError(404, "ResourceNotFound", f"The resource '{uri}' was not found.")
    return page_of(ctx, ctx.state.list_children(uri + DCRA.replace("\\", "")))


async def association(ctx: Ctx) -> web.Response:
    uri = ctx.g("uri")
    name = ctx.g("name")
    aid = f"{uri}/providers/Microsoft.Insights/dataCollectionRuleAssociations/{name}"
    if not _target_exists(ctx.state, uri):
        raise ArmError(404, "ResourceNotFound", f"The resource '{uri}' was not found.")
    existing = ctx.state.get(aid)
    if ctx.method == "GET":
        if existing is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The data collection rule association '{name}' was not found.",
            )
        return json_response(200, existing)
    parts = uri.split("/")
    if len(parts) > 4 and parts[3].lower() == "resourcegroups":
        # an association is written at the target's scope: a locked node resource group denies it
        deny_under_lockdown(ctx, parts[2], parts[4])
    if ctx.method == "DELETE":
        if existing is None:
            return json_response(204, None)
        ctx.state.delete(aid)
        return json_response(200, None)
    req = body_dict(ctx)
    props = req.get("properties") or {}
    rule_id = props.get("dataCollectionRuleId")
    endpoint_id = props.get("dataCollectionEndpointId")
    if not rule_id and not endpoint_id:
        raise ArmError(
            400,
            "InvalidPayload",
            "Data collection rule association must reference a data collection rule or endpoint.",
        )
    if rule_id and ctx.state.get(str(rule_id)) is None:
        raise ArmError(
            400, "InvalidPayload", f"The data collection rule '{rule_id}' does not exist."
        )
    body = bodies.dcr_association(
        uri, name, str(rule_id) if rule_id else None, str(props.get("description") or "")
    )
    if endpoint_id:
        body["properties"]["dataCollectionEndpointId"] = endpoint_id
    if existing is not None:
        body["id"] = existing["id"]
    ctx.state.put(aid, body)
    return json_response(200 if existing else 201, body)


ROUTES: list[Route] = [
    (frozenset({"GET"}), re.compile(SUB + DCR, re.I), list_dcr_sub),
    (frozenset({"GET"}), re.compile(RG + DCR, re.I), list_dcr_rg),
    (frozenset({"GET", "PUT", "PATCH", "DELETE"}), re.compile(RG + DCR + "/" + NAME, re.I), dcr),
    (
        frozenset({"GET"}),
        re.compile(RG + DCR + "/" + NAME + "/associations", re.I),
        list_rule_associations,
    ),
    (
        frozenset({"GET"}),
        re.compile(r"(?P<uri>/subscriptions/(?P<sub>[^/]+)/.+?)" + DCRA, re.I),
        list_associations,
    ),
    (
        frozenset({"GET", "PUT", "DELETE"}),
        re.compile(r"(?P<uri>/subscriptions/(?P<sub>[^/]+)/.+?)" + DCRA + "/" + NAME, re.I),
        association,
    ),
]
