"""ARM routes of Microsoft.ContainerService: managed clusters (list, get, PUT/PATCH as an LRO)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from aiohttp import web

from aksaudit_emulator.arm import bodies
from aksaudit_emulator.arm.common import (
    AKS,
    NAME,
    RG,
    SUB,
    ArmError,
    Ctx,
    Route,
    body_dict,
    check_preconditions,
    get_resource,
    json_response,
    page_of,
    path_id,
    require_rg,
    require_sub,
    start_lro,
)
from aksaudit_emulator.state import Lro


async def list_clusters_sub(ctx: Ctx) -> web.Response:
    sub = require_sub(ctx)
    return page_of(ctx, ctx.state.list_type(sub, "Microsoft.ContainerService/ManagedClusters"))


async def list_clusters_rg(ctx: Ctx) -> web.Response:
    rg = require_rg(ctx)
    return page_of(ctx, ctx.state.list_children(rg + AKS.replace("\\", "")))


async def cluster(ctx: Ctx) -> web.Response:
    rid = path_id(ctx)
    if ctx.method == "GET":
        return json_response(
            200, get_resource(ctx, rid, "Microsoft.ContainerService/managedClusters")
        )
    current = get_resource(ctx, rid, "Microsoft.ContainerService/managedClusters")
    current = check_preconditions(ctx, rid, "eTag") or current
    req = body_dict(ctx)
    if current["properties"].get("provisioningState") not in ("Succeeded", "Failed", "Canceled"):
        raise ArmError(
            409,
            "OperationNotAllowed",
            "Operation is not allowed because there's an in progress update managed cluster "
            f"operation on managed cluster '{current['name']}'. Please wait for it to finish "
            "before retrying.",
        )
    before = copy.deepcopy(current)
    updated = copy.deepcopy(current)
    if "tags" in req:
        updated["tags"] = dict(req.get("tags") or {})
    if ctx.method == "PUT":
        props = req.get("properties") or {}
        for key in ("addonProfiles", "azureMonitorProfile"):
            if key in props and props[key] is not None:
                updated["properties"][key] = (
                    _merge_addons(current["properties"].get(key), props[key])
                    if key == "addonProfiles"
                    else props[key]
                )
    updated["properties"]["provisioningState"] = "Updating"
    # every write gives the cluster a new ETag (AKS: optimistic concurrency on PUT)
    updated["eTag"] = bodies.etag(rid, json.dumps(updated["properties"], sort_keys=True))
    ctx.state.put(rid, updated)

    def done(op: Lro) -> None:
        final = copy.deepcopy(before) if op.status == "Failed" else ctx.state.get(rid)
        if final is None:
            return
        final["properties"]["provisioningState"] = (
            "Failed" if op.status == "Failed" else "Succeeded"
        )
        ctx.state.put(rid, final)

    _, headers = start_lro(ctx, "Microsoft.ContainerService", current["location"], rid, done)
    headers.pop("Location", None)  # AKS answers PUT with Azure-AsyncOperation only
    return json_response(200, updated, headers)


def _merge_addons(current: Any, new: Any) -> Any:
    """AKS keeps identity/read-only parts of an add-on the client echoes without them."""
    if not isinstance(new, dict):
        return new
    merged: dict[str, Any] = {}
    for name, profile in new.items():
        old = (current or {}).get(name) if isinstance(current, dict) else None
        prof = dict(profile or {})
        if (
            isinstance(old, dict)
            and prof.get("enabled")
            and "identity" in old
            and "identity" not in prof
        ):
            prof["identity"] = old["identity"]
        merged[name] = prof
    return merged


ROUTES: list[Route] = [
    (frozenset({"GET"}), re.compile(SUB + AKS, re.I), list_clusters_sub),
    (frozenset({"GET"}), re.compile(RG + AKS, re.I), list_clusters_rg),
    (frozenset({"GET", "PUT", "PATCH"}), re.compile(RG + AKS + "/" + NAME, re.I), cluster),
]
