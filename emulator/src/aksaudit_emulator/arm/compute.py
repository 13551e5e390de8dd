"""ARM routes of Microsoft.Compute: scale sets, their VMs, VM extensions (writes are LROs), and
manual upgrade (which brings instances to the latest model)."""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

from aksaudit_emulator.arm import bodies
from aksaudit_emulator.arm.common import (
    NAME,
    RG,
    SUB,
    VMSS,
    ArmError,
    Ctx,
    Route,
    body_dict,
    deny_under_lockdown,
    get_resource,
    json_response,
    not_found,
    page_of,
    require_rg,
    require_sub,
    rg_path,
    start_lro,
)
from aksaudit_emulator.state import EmulatorState, Lro


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
    sub = require_sub(ctx)
    items = [_vmss_view(ctx.state, b) for b in ctx.state.list_type(sub, bodies.COMPUTE)]
    return page_of(ctx, items)


async def list_vmss_rg(ctx: Ctx) -> web.Response:
    rg = require_rg(ctx)
    items = [
        _vmss_view(ctx.state, b)
        for b in ctx.state.list_children(
            rg + "/providers/microsoft.compute/virtualmachinescalesets"
        )
    ]
    return page_of(ctx, items)


def _vmss_id(ctx: Ctx) -> str:
    return f"{rg_path(ctx)}/providers/{bodies.COMPUTE}/{ctx.g('vmss')}"


def _vmss_body(ctx: Ctx) -> dict[str, Any]:
    return get_resource(ctx, _vmss_id(ctx), bodies.COMPUTE)


async def get_vmss(ctx: Ctx) -> web.Response:
    return json_response(200, _vmss_view(ctx.state, _vmss_body(ctx)))


async def list_vms(ctx: Ctx) -> web.Response:
    vmss = _vmss_body(ctx)
    vms = ctx.state.list_children(vmss["id"] + "/virtualMachines")
    return page_of(ctx, [_vm_view(ctx.state, vmss["id"], v) for v in vms])


async def get_vm(ctx: Ctx) -> web.Response:
    vmss = _vmss_body(ctx)
    vm = ctx.state.get(f"{vmss['id']}/virtualMachines/{ctx.g('name')}")
    if vm is None:
        raise not_found(ctx, f"{bodies.COMPUTE}/{vmss['name']}/virtualMachines/{ctx.g('name')}")
    return json_response(200, _vm_view(ctx.state, vmss["id"], vm))


async def list_extensions(ctx: Ctx) -> web.Response:
    vmss = _vmss_body(ctx)
    return page_of(ctx, ctx.state.list_children(vmss["id"] + "/extensions"))


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
            raise not_found(ctx, f"{bodies.COMPUTE}/{vmss['name']}/extensions/{name}")
        return json_response(200, existing)
    deny_under_lockdown(ctx, ctx.g("sub"), ctx.g("rg"))
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

        _, headers = start_lro(ctx, "Microsoft.Compute", vmss["location"], "", deleted)
        return json_response(202, None, headers)
    req = body_dict(ctx)
    props = dict(req.get("properties") or {})
    if ctx.method == "PATCH" and existing is not None:
        merged = dict(existing["properties"])
        merged.update(props)
        props = merged
    elif ctx.method == "PATCH":
        raise not_found(ctx, f"{bodies.COMPUTE}/{vmss['name']}/extensions/{name}")
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

    _, headers = start_lro(ctx, "Microsoft.Compute", vmss["location"], eid, done)
    headers.pop("Location", None)
    return json_response(201 if existing is None else 200, body, headers)


async def manual_upgrade(ctx: Ctx) -> web.Response:
    vmss = _vmss_body(ctx)
    deny_under_lockdown(ctx, ctx.g("sub"), ctx.g("rg"))
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

    _, headers = start_lro(ctx, "Microsoft.Compute", vmss["location"], "", done, result={})
    return json_response(202, None, headers)


ROUTES: list[Route] = [
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
]
