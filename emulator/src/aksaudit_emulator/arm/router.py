"""The ARM surface: paths as Azure's REST specs name them, matched case-insensitively (the SDKs
send ``resourcegroups`` lower case), any api-version accepted.

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
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from aksaudit_emulator import faults, lro
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
        body=json.dumps(body).encode() if body is not None else b"",
        content_type="application/json",
        headers=headers,
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    h = {"x-ms-failure-cause": "gateway"} if status in (401, 403) else {}
    h.update(headers or {})
    return json_response(status, bodies.arm_error(code, message), h)


# ---- helpers ---------------------------------------------------------------------------------


def _page(ctx: Ctx, items: list[dict[str, Any]]) -> web.Response:
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


def _rg_path(ctx: Ctx) -> str:
    return f"/subscriptions/{ctx.g('sub')}/resourceGroups/{ctx.g('rg')}"


def _not_found(ctx: Ctx, what: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{what}' under resource group '{ctx.g('rg')}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def _require_sub(ctx: Ctx) -> str:
    sub = ctx.g("sub")
    if ctx.state.get(f"/subscriptions/{sub}") is None:
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    return sub


def _require_rg(ctx: Ctx) -> str:
    sub = _require_sub(ctx)
    rg = ctx.g("rg")
    if ctx.state.get(f"/subscriptions/{sub}/resourceGroups/{rg}") is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def _resource(ctx: Ctx, rid: str, rtype: str) -> dict[str, Any]:
    _require_rg(ctx)
    body = ctx.state.get(rid)
    if body is None:
        name = rid.rsplit("/", 1)[-1]
        raise _not_found(ctx, f"{rtype}/{name}")
    return body


def _rid(ctx: Ctx) -> str:
    """The resource id as the client spelled it, without trailing action segments."""
    return ctx.path.rstrip("/")


def _deny_under_lockdown(ctx: Ctx, sub: str, rg: str) -> None:
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


def _body_dict(ctx: Ctx) -> dict[str, Any]:
    if not isinstance(ctx.body, dict):
        raise ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        )
    return ctx.body


def _start_lro(
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


# ---- subscriptions and resource groups -------------------------------------------------------


async def list_subscriptions(ctx: Ctx) -> web.Response:
    subs = [
        b for k, b in ctx.state.arm.items() if k.count("/") == 2 and k.startswith("/subscriptions/")
    ]
    return _page(ctx, subs)


async def get_subscription(ctx: Ctx) -> web.Response:
    sub = ctx.g("sub")
    body = ctx.state.get(f"/subscriptions/{sub}")
    if body is None:
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    return json_response(200, body)


async def list_tenants(ctx: Ctx) -> web.Response:
    tid = ctx.state.tenant_id
    return _page(
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
    sub = _require_sub(ctx)
    return _page(ctx, ctx.state.list_children(f"/subscriptions/{sub}/resourcegroups"))


async def get_resource_group(ctx: Ctx) -> web.Response:
    rid = _require_rg(ctx)
    body = ctx.state.get(rid)
    return json_response(200, body)


# ---- managed clusters ------------------------------------------------------------------------


async def list_clusters_sub(ctx: Ctx) -> web.Response:
    sub = _require_sub(ctx)
    return _page(ctx, ctx.state.list_type(sub, "Microsoft.ContainerService/ManagedClusters"))


async def list_clusters_rg(ctx: Ctx) -> web.Response:
    rg = _require_rg(ctx)
    return _page(ctx, ctx.state.list_children(rg + AKS.replace("\\", "")))


async def cluster(ctx: Ctx) -> web.Response:
    rid = _rid(ctx)
    if ctx.method == "GET":
        return json_response(200, _resource(ctx, rid, "Microsoft.ContainerService/managedClusters"))
    current = _resource(ctx, rid, "Microsoft.ContainerService/managedClusters")
    req = _body_dict(ctx)
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
    ctx.state.put(rid, updated)

    def done(op: Lro) -> None:
        final = copy.deepcopy(before) if op.status == "Failed" else ctx.state.get(rid)
        if final is None:
            return
        final["properties"]["provisioningState"] = (
            "Failed" if op.status == "Failed" else "Succeeded"
        )
        ctx.state.put(rid, final)

    _, headers = _start_lro(ctx, "Microsoft.ContainerService", current["location"], rid, done)
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


# ---- scale sets, VMs, extensions -------------------------------------------------------------


def _vmss_view(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """A scale set with its current extension list (the model). Shallow copies along the
    changed path only: the answer is serialised at once and never stored."""
    exts = state.list_children(body["id"] + "/extensions")
    props = dict(body["properties"])
    vm_profile = dict(props["virtualMachineProfile"])
    vm_profile["extensionProfile"] = {
        "extensions": [
            {"id": e["id"], "name": e["name"], "properties": dict(e["properties"])} for e in exts
        ]
    }
    props["virtualMachineProfile"] = vm_profile
    view = dict(body)
    view["properties"] = props
    return view


def _vm_view(state: EmulatorState, vmss_id: str, vm: dict[str, Any]) -> dict[str, Any]:
    view = dict(vm)
    props = dict(vm["properties"])
    props["latestModelApplied"] = state.model_gen.get(vm["id"].lower(), 0) >= state.model_gen.get(
        vmss_id.lower(), 0
    )
    view["properties"] = props
    return view


async def list_vmss_sub(ctx: Ctx) -> web.Response:
    sub = _require_sub(ctx)
    items = [_vmss_view(ctx.state, b) for b in ctx.state.list_type(sub, bodies.COMPUTE)]
    return _page(ctx, items)


async def list_vmss_rg(ctx: Ctx) -> web.Response:
    rg = _require_rg(ctx)
    items = [
        _vmss_view(ctx.state, b)
        for b in ctx.state.list_children(
            rg + "/providers/microsoft.compute/virtualmachinescalesets"
        )
    ]
    return _page(ctx, items)


def _vmss_id(ctx: Ctx) -> str:
    return f"{_rg_path(ctx)}/providers/{bodies.COMPUTE}/{ctx.g('vmss')}"


def _vmss_body(ctx: Ctx) -> dict[str, Any]:
    return _resource(ctx, _vmss_id(ctx), bodies.COMPUTE)


async def get_vmss(ctx: Ctx) -> web.Response:
    return json_response(200, _vmss_view(ctx.state, _vmss_body(ctx)))


async def list_vms(ctx: Ctx) -> web.Response:
    vmss = _vmss_body(ctx)
    vms = ctx.state.list_children(vmss["id"] + "/virtualMachines")
    return _page(ctx, [_vm_view(ctx.state, vmss["id"], v) for v in vms])


async def get_vm(ctx: Ctx) -> web.Response:
    vmss = _vmss_body(ctx)
    vm = ctx.state.get(f"{vmss['id']}/virtualMachines/{ctx.g('name')}")
    if vm is None:
        raise _not_found(ctx, f"{bodies.COMPUTE}/{vmss['name']}/virtualMachines/{ctx.g('name')}")
    return json_response(200, _vm_view(ctx.state, vmss["id"], vm))


async def list_extensions(ctx: Ctx) -> web.Response:
    vmss = _vmss_body(ctx)
    return _page(ctx, ctx.state.list_children(vmss["id"] + "/extensions"))


def _bump_model(state: EmulatorState, vmss_id: str) -> None:
    with state.lock:
        state.model_gen[vmss_id.lower()] = state.model_gen.get(vmss_id.lower(), 0) + 1
        state.touch()


async def extension(ctx: Ctx) -> web.Response:
    vmss = _vmss_body(ctx)
    name = ctx.g("name")
    eid = f"{vmss['id']}/extensions/{name}"
    existing = ctx.state.get(eid)
    if ctx.method == "GET":
        if existing is None:
            raise _not_found(ctx, f"{bodies.COMPUTE}/{vmss['name']}/extensions/{name}")
        return json_response(200, existing)
    _deny_under_lockdown(ctx, ctx.g("sub"), ctx.g("rg"))
    if ctx.method == "DELETE":
        if existing is None:
            return json_response(204, None)
        deleting = copy.deepcopy(existing)
        deleting["properties"]["provisioningState"] = "Deleting"
        ctx.state.put(eid, deleting)
        _bump_model(ctx.state, vmss["id"])

        def deleted(op: Lro) -> None:
            if op.status == "Failed":
                existing["properties"]["provisioningState"] = "Failed"
                ctx.state.put(eid, existing)
            else:
                ctx.state.delete(eid)

        _, headers = _start_lro(ctx, "Microsoft.Compute", vmss["location"], "", deleted)
        return json_response(202, None, headers)
    req = _body_dict(ctx)
    props = dict(req.get("properties") or {})
    if ctx.method == "PATCH" and existing is not None:
        merged = dict(existing["properties"])
        merged.update(props)
        props = merged
    elif ctx.method == "PATCH":
        raise _not_found(ctx, f"{bodies.COMPUTE}/{vmss['name']}/extensions/{name}")
    for required in ("publisher", "type", "typeHandlerVersion"):
        if not props.get(required):
            raise ArmError(
                400, "InvalidParameter", f"Required parameter '{required}' is missing (null)."
            )
    if props.get("type") == "OmsAgentForLinux" and props.get("enableAutomaticUpgrade"):
        raise ArmError(
            400,
            "OperationNotAllowed",
            "Automatic extension upgrade is not supported for the extension "
            "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux.",
        )
    secrets = props.pop("protectedSettings", None)
    props.pop("protectedSettingsFromKeyVault", None)
    props.pop("provisioningState", None)
    with ctx.state.lock:
        if secrets is not None:
            ctx.state.secrets[eid.lower()] = {"protectedSettings": secrets}
        body = bodies.vmss_extension(vmss["id"], name, props)
        body["properties"]["provisioningState"] = "Creating" if existing is None else "Updating"
        ctx.state.put(eid, body)
    _bump_model(ctx.state, vmss["id"])

    def done(op: Lro) -> None:
        current = ctx.state.get(eid)
        if current is not None:
            current["properties"]["provisioningState"] = (
                "Failed" if op.status == "Failed" else "Succeeded"
            )

    _, headers = _start_lro(ctx, "Microsoft.Compute", vmss["location"], eid, done)
    headers.pop("Location", None)
    return json_response(201 if existing is None else 200, body, headers)


async def manual_upgrade(ctx: Ctx) -> web.Response:
    vmss = _vmss_body(ctx)
    _deny_under_lockdown(ctx, ctx.g("sub"), ctx.g("rg"))
    req = ctx.body if isinstance(ctx.body, dict) else {}
    ids = [str(i) for i in (req.get("instanceIds") or [])]
    if not ids:
        raise ArmError(
            400, "InvalidParameter", "Required parameter 'instanceIds' is missing (null)."
        )
    known = {v["instanceId"] for v in ctx.state.list_children(vmss["id"] + "/virtualMachines")}
    missing = [i for i in ids if i not in known and i != "*"]
    if missing:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The provided instanceId {missing[0]} is not an active Virtual Machine Scale Set "
            "VM instanceId.",
        )
    target_gen = ctx.state.model_gen.get(vmss["id"].lower(), 0)

    def done(op: Lro) -> None:
        if op.status == "Failed":
            return
        with ctx.state.lock:
            for iid in known if "*" in ids else ids:
                key = f"{vmss['id']}/virtualMachines/{iid}".lower()
                ctx.state.model_gen[key] = max(ctx.state.model_gen.get(key, 0), target_gen)

    _, headers = _start_lro(ctx, "Microsoft.Compute", vmss["location"], "", done, result={})
    return json_response(202, None, headers)


# ---- workspaces, keys, data sources ----------------------------------------------------------


async def list_ws_sub(ctx: Ctx) -> web.Response:
    sub = _require_sub(ctx)
    return json_response(
        200, {"value": ctx.state.list_type(sub, "Microsoft.OperationalInsights/workspaces")}
    )


async def list_ws_rg(ctx: Ctx) -> web.Response:
    rg = _require_rg(ctx)
    return json_response(
        200,
        {
            "value": ctx.state.list_children(
                rg + "/providers/microsoft.operationalinsights/workspaces"
            )
        },
    )


def _ws_id(ctx: Ctx) -> str:
    return f"{_rg_path(ctx)}/providers/Microsoft.OperationalInsights/workspaces/{ctx.g('ws')}"


def _ws_body(ctx: Ctx) -> dict[str, Any]:
    return _resource(ctx, _ws_id(ctx), "Microsoft.OperationalInsights/workspaces")


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
    return _page(ctx, items)


async def data_source(ctx: Ctx) -> web.Response:
    ws = _ws_body(ctx)
    name = ctx.g("name")
    did = f"{ws['id']}/dataSources/{name}"
    existing = ctx.state.get(did)
    if ctx.method == "GET":
        if existing is None:
            what = f"Microsoft.OperationalInsights/workspaces/{ws['name']}/dataSources/{name}"
            raise _not_found(ctx, what)
        return json_response(200, existing)
    if ctx.method == "DELETE":
        if existing is None:
            return json_response(204, None)
        ctx.state.delete(did)
        return json_response(200, None)
    req = _body_dict(ctx)
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


# ---- data collection rules and associations --------------------------------------------------


async def list_dcr_sub(ctx: Ctx) -> web.Response:
    sub = _require_sub(ctx)
    return _page(ctx, ctx.state.list_type(sub, "Microsoft.Insights/dataCollectionRules"))


async def list_dcr_rg(ctx: Ctx) -> web.Response:
    rg = _require_rg(ctx)
    return _page(
        ctx, ctx.state.list_children(rg + "/providers/microsoft.insights/datacollectionrules")
    )


def _dcr_id(ctx: Ctx) -> str:
    return f"{_rg_path(ctx)}/providers/Microsoft.Insights/dataCollectionRules/{ctx.g('name')}"


async def dcr(ctx: Ctx) -> web.Response:
    rid = _dcr_id(ctx)
    if ctx.method == "GET":
        return json_response(200, _resource(ctx, rid, "Microsoft.Insights/dataCollectionRules"))
    rg = _require_rg(ctx)
    existing = ctx.state.get(rid)
    if ctx.method == "DELETE":
        if existing is None:
            return json_response(204, None)
        ctx.state.delete(rid)
        return json_response(200, None)
    req = _body_dict(ctx)
    if ctx.method == "PATCH":
        if existing is None:
            raise _not_found(ctx, f"Microsoft.Insights/dataCollectionRules/{ctx.g('name')}")
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
    rule = _resource(ctx, _dcr_id(ctx), "Microsoft.Insights/dataCollectionRules")
    rid = rule["id"].lower()
    items = [
        b
        for b in ctx.state.list_type(
            ctx.g("sub"), "Microsoft.Insights/dataCollectionRuleAssociations"
        )
        if str(b["properties"].get("dataCollectionRuleId", "")).lower() == rid
    ]
    return _page(ctx, items)


def _target_exists(state: EmulatorState, uri: str) -> bool:
    return state.get(uri) is not None or state.get(uri.rstrip("/")) is not None


async def list_associations(ctx: Ctx) -> web.Response:
    uri = ctx.g("uri")
    if not _target_exists(ctx.state, uri):
        raise ArmError(404, "ResourceNotFound", f"The resource '{uri}' was not found.")
    return _page(ctx, ctx.state.list_children(uri + DCRA.replace("\\", "")))


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
        _deny_under_lockdown(ctx, parts[2], parts[4])
    if ctx.method == "DELETE":
        if existing is None:
            return json_response(204, None)
        ctx.state.delete(aid)
        return json_response(200, None)
    req = _body_dict(ctx)
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


# ---- LRO polling -----------------------------------------------------------------------------


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


ROUTES: list[tuple[frozenset[str], re.Pattern[str], Handler]] = [
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
    (frozenset({"GET"}), re.compile(SUB + AKS, re.I), list_clusters_sub),
    (frozenset({"GET"}), re.compile(RG + AKS, re.I), list_clusters_rg),
    (frozenset({"GET", "PUT", "PATCH"}), re.compile(RG + AKS + "/" + NAME, re.I), cluster),
    (frozenset({"GET"}), re.compile(SUB + VMSS, re.I), list_vmss_sub),
    (frozenset({"GET"}), re.compile(RG + VMSS, re.I), list_vmss_rg),
    (frozenset({"GET"}), re.compile(RG + VMSS + r"/(?P<vmss>[^/]+)", re.I), get_vmss),
    (
        frozenset({"GET"}),
        re.compile(RG + VMSS + r"/(?P<vmss>[^/]+)/virtualmachines", re.I),
        list_vms,
    ),
    (
        frozenset({"GET"}),
        re.compile(RG + VMSS + r"/(?P<vmss>[^/]+)/virtualmachines/" + NAME, re.I),
        get_vm,
    ),
    (
        frozenset({"GET"}),
        re.compile(RG + VMSS + r"/(?P<vmss>[^/]+)/extensions", re.I),
        list_extensions,
    ),
    (
        frozenset({"GET", "PUT", "PATCH", "DELETE"}),
        re.compile(RG + VMSS + r"/(?P<vmss>[^/]+)/extensions/" + NAME, re.I),
        extension,
    ),
    (
        frozenset({"POST"}),
        re.compile(RG + VMSS + r"/(?P<vmss>[^/]+)/manualupgrade", re.I),
        manual_upgrade,
    ),
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


def route_key(method: str, path: str) -> str:
    """A stable name for a call (for the request counter): the route's handler name."""
    for _methods, pattern, handler in ROUTES:
        if pattern.fullmatch(path):
            return f"{method} {handler.__name__}"
    return f"{method} other"


async def handle(request: web.Request, state: EmulatorState) -> web.Response:
    """Dispatch one ARM call (auth already checked)."""
    path = request.path.rstrip("/") or "/"
    matched_path = False
    for methods, pattern, handler in ROUTES:
        m = pattern.fullmatch(path)
        if m is None:
            continue
        matched_path = True
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
        cacheable = (
            state.cache_responses
            and request.method == "GET"
            and handler not in (lro_status, lro_result)
        )
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
    if matched_path:
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
