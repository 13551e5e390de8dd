"""HTTP routes of the Kubernetes API under `/k8s/<cluster>/...`, shaped like the API server's:
Status errors, list/watch semantics (resourceVersion, bookmarks, 410 Expired as an ERROR event),
server-side dry run, logs, delete collection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from aiohttp import web

from .. import wire
from . import events, gc, objects, openapi, smp, ssa, table, vap
from .runtime import KubeRuntime, wait_event
from .schema import Schemas
from .store import (
    KINDS,
    ApiError,
    KubeStore,
    Obj,
    WatchEvent,
    fields_match,
    invalid,
    labels_match,
    not_found,
    now_iso,
    parse_field_selector,
    parse_label_selector,
)

_EVENTS_V1 = "apis/events.k8s.io/v1"
_GROUPS: dict[str, list[str]] = {
    # group/version path -> resource names served there
    "api/v1": ["nodes", "namespaces", "pods", "configmaps", "events"],
    "apis/apps/v1": ["daemonsets"],
    # the events.k8s.io/v1 view of the same Events (read-only here)
    _EVENTS_V1: ["events"],
    "apis/authorization.k8s.io/v1": ["selfsubjectaccessreviews"],
    "apis/admissionregistration.k8s.io/v1": [vap.POLICIES, vap.BINDINGS],
}

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.6",
    "gitCommit": "da53e247f0c4a2c3ad6f0b2bfa8d3a4f0f0c1e2a",
    "gitTreeState": "clean",
    "buildDate": "2025-03-11T19:52:34Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_RESOURCE_META: dict[str, tuple[bool, list[str], str]] = {
    # name -> namespaced, verbs, kind
    "nodes": (False, ["get", "list", "watch"], "Node"),
    "namespaces": (
        False,
        ["create", "delete", "get", "list", "patch", "update", "watch"],
        "Namespace",
    ),
    "pods": (
        True,
        ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "Pod",
    ),
    "configmaps": (
        True,
        ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "ConfigMap",
    ),
    "daemonsets": (
        True,
        ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "DaemonSet",
    ),
    "events": (True, _VERBS, "Event"),
    "selfsubjectaccessreviews": (False, ["create"], "SelfSubjectAccessReview"),
    vap.POLICIES: (False, _VERBS, "ValidatingAdmissionPolicy"),
    vap.BINDINGS: (False, _VERBS, "ValidatingAdmissionPolicyBinding"),
}


# Media types of request bodies (JSON-only server: no application/vnd.kubernetes.protobuf).
_BODY_TYPES = ("application/json", "application/yaml")
_YAML_TYPES = ("application/yaml", "application/apply-patch+yaml")
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
# Discovery: short names and categories as the API server lists them.
_SHORT_NAMES = {
    "nodes": ["no"],
    "namespaces": ["ns"],
    "pods": ["po"],
    "configmaps": ["cm"],
    "daemonsets": ["ds"],
    "events": ["ev"],
}
_CATEGORIES = {"pods": ["all"], "daemonsets": ["all"]}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=wire.dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _error(e: ApiError) -> web.Response:
    return _json(e.status(), e.code, e.headers)


def _bool(v: str | None) -> bool:
    return (v or "").lower() in ("true", "1")


def _method_not_allowed() -> ApiError:
    """The API server's answer to a verb the resource (or this way to it) does not serve."""
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def _event_v1_not_found(name: str) -> ApiError:
    """No Event ``name``, as events.k8s.io/v1 says it (its group and kind in the details)."""
    return ApiError(
        404,
        "NotFound",
        f'events.events.k8s.io "{name}" not found',
        {"name": name, "group": "events.k8s.io", "kind": "events"},
    )


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue  # strategic-merge directives ($patch, $retainKeys...)
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


def _json_patch(doc: Any, ops: list[Any]) -> Any:
    """RFC 6902 add / replace / remove / test (enough for what clients send)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "path" not in op:
            raise ApiError(
                422, "Invalid", "the server rejected our request due to an error in our request"
            )
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1] if parts else ""
        kind = op.get("op")
        try:
            if kind in ("add", "replace"):
                if isinstance(parent, list):
                    if last == "-":
                        parent.append(op.get("value"))
                    elif kind == "add":
                        parent.insert(int(last), op.get("value"))
                    else:
                        parent[int(last)] = op.get("value")
                else:
                    parent[last] = op.get("value")
            elif kind == "remove":
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    del parent[last]
            elif kind == "test":
                cur = parent[int(last)] if isinstance(parent, list) else parent.get(last)
                if cur != op.get("value"):
                    raise ApiError(
                        422,
                        "Invalid",
                        f"the server rejected our request: test failed at {op['path']}",
                    )
        except (KeyError, IndexError, ValueError) as err:
            raise ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: {err}",
            ) from err
    return doc


_CACHE_MAX = 5000
_cache: dict[int, tuple[Obj, bytes | None, bytes | None]] = {}


def _encoded(obj: Obj, item: bool) -> bytes:
    """JSON of a stored object (as a list item: without kind/apiVersion), cached per object:
    stored objects never change, so lists and watches of 500 nodes encode each revision once."""
    hit = _cache.get(id(obj))
    if hit is None or hit[0] is not obj:
        hit = (obj, None, None)
    full, as_item = hit[1], hit[2]
    if item and as_item is None:
        as_item = wire.dumps(_list_item(obj))
    if not item and full is None:
        full = wire.dumps(obj)
    if len(_cache) >= _CACHE_MAX:
        _cache.pop(next(iter(_cache)))
    _cache[id(obj)] = (obj, full, as_item)
    return as_item if item else full  # type: ignore[return-value]


def _list_body(kind: str, api_version: str, meta: Obj, items: list[Obj]) -> web.Response:
    head = wire.dumps({"kind": kind, "apiVersion": api_version, "metadata": meta})[:-1]
    body = head + b',"items":[' + b",".join(_encoded(o, True) for o in items) + b"]}"
    return web.Response(body=body, status=200, content_type="application/json")


def _list_item(obj: Obj) -> Obj:
    out = dict(obj)
    out.pop("kind", None)
    out.pop("apiVersion", None)
    return out


@dataclass
class _Writer:
    """Who writes (the field manager) and the schemas its fields are tracked by; ``managed``:
    the managedFields a server-side apply computed (else the write's own Update entry)."""

    schemas: Schemas
    manager: str
    managed: list[Obj] | None = None

    def fields(self, resource: str, old: Obj | None, new: Obj) -> list[Obj]:
        if self.managed is not None:
            return self.managed
        definition = self.schemas.by_resource.get(resource)
        if definition is None:
            return list((new.get("metadata") or {}).get("managedFields") or [])
        return ssa.updated(self.schemas, definition, old, new, self.manager, KINDS[resource][0])


class KubeApi:
    """aiohttp handlers; one instance per emulator app."""

    def __init__(self, rt: KubeRuntime) -> None:
        self.rt = rt
        # cluster version -> group path -> (document, its JSON); and the v2 JSON
        self._openapi: dict[str, dict[str, tuple[Obj, bytes]]] = {}
        self._openapi_v2: dict[str, bytes] = {}

    # ------------------------------------------------------------ entry
    async def handle(self, request: web.Request) -> web.StreamResponse:
        cluster = request.match_info["cluster"]
        tail = request.match_info.get("tail", "")
        self._count(request.method, tail)
        try:
            self._auth(request)
            down = self.rt.kube_down(cluster)
            if down is not None:
                # Retry-After only when the fault asks: urllib3 (under the kubernetes client)
                # silently retries a 503 that carries it.
                ra = down.get("retry_after")
                raise ApiError(
                    503,
                    "ServiceUnavailable",
                    "the server is currently unable to handle the request",
                    headers={"Retry-After": str(ra)} if ra is not None else None,
                )
            store = self.rt.store(cluster)
            if store is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return await self._route(request, store, cluster, [s for s in tail.split("/") if s])
        except ApiError as e:
            return _error(e)

    def _count(self, method: str, tail: str) -> None:
        """``state.requests["<METHOD> kube <resource>"]``, as ARM and logs count theirs: tests
        check that read-only commands create no pod and write nothing."""
        segs = [s for s in tail.split("/") if s]
        if "namespaces" in segs and len(segs) > segs.index("namespaces") + 2:
            resource = segs[segs.index("namespaces") + 2]  # .../namespaces/NS/<resource>/...
        else:
            resource = (
                segs[2]
                if segs[:1] == ["api"] and len(segs) > 2
                else (segs[3] if len(segs) > 3 else "/".join(segs))
            )
        with self.rt.state.lock:
            self.rt.state.requests[f"{method} kube {resource}"] += 1

    def _auth(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        want = self.rt.options.token
        if not auth.startswith("Bearer ") or (want is not None and auth[7:] != want):
            raise ApiError(401, "Unauthorized", "Unauthorized")

    async def _route(
        self, request: web.Request, store: KubeStore, cluster: str, segs: list[str]
    ) -> web.StreamResponse:
        if not segs:
            return _json(
                {
                    "paths": ["/api", "/api/v1", "/apis", "/openapi/v2", "/openapi/v3", "/version"]
                    + [f"/{g}" for g in _GROUPS]
                }
            )
        if segs[0] == "openapi":
            return await self._openapi_doc(request, cluster, segs[1:])
        if segs == ["version"]:
            git_version = self.rt.kube_version(cluster)
            parts = git_version.lstrip("v").split(".")
            return _json(
                {**VERSION, "gitVersion": git_version, "major": parts[0], "minor": parts[1]}
            )
        if segs == ["api"]:
            return _json(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:443"}
                    ],
                }
            )
        if segs == ["apis"]:
            groups = []
            for g in (
                "apps",
                "events.k8s.io",
                "authorization.k8s.io",
                "admissionregistration.k8s.io",
            ):
                ver = {"groupVersion": f"{g}/v1", "version": "v1"}
                groups.append({"name": g, "versions": [ver], "preferredVersion": ver})
            return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if segs[0] == "api" and len(segs) >= 2:
            gv, rest = "api/v1" if segs[1] == "v1" else "", segs[2:]
        elif segs[0] == "apis" and len(segs) >= 3:
            gv, rest = "/".join(segs[:3]), segs[3:]
        else:
            gv, rest = "", []
        if gv not in _GROUPS:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        served = _GROUPS[gv]
        if not rest:
            return _json(self._resource_list(gv, served))
        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        resource = rest[0]
        if resource not in served or (ns is not None and not _RESOURCE_META[resource][0]):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (
            sub
            and not (
                (resource == "pods" and sub in ("log", "status"))
                or (resource in ("daemonsets", "namespaces", "nodes") and sub == "status")
            )
        ):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if resource == "selfsubjectaccessreviews":
            if request.method != "POST" or name:
                raise _method_not_allowed()
            return await self._ssar(request, cluster)
        if gv == _EVENTS_V1:
            return await self._events_v1(request, store, cluster, ns, name)
        return await self._resource(request, store, cluster, resource, ns, name, sub)

    async def _openapi_doc(
        self, request: web.Request, cluster: str, segs: list[str]
    ) -> web.Response:
        version = self.rt.kube_version(cluster)
        docs = self._openapi.get(version)
        if docs is None:
            schemas = await self.rt.schemas()
            built = {gp: openapi.v3_document(schemas, gp, version) for gp in openapi.GROUP_PATHS}
            docs = self._openapi[version] = {gp: (d, _dumps(d)) for gp, d in built.items()}
        if segs == ["v3"]:
            return _json(openapi.v3_index({gp: d for gp, (d, _) in docs.items()}))
        if segs[:1] == ["v3"] and "/".join(segs[1:]) in docs:
            return web.Response(
                body=docs["/".join(segs[1:])][1],
                content_type="application/json",
                headers={"Cache-Control": "public, immutable"}
                if request.query.get("hash")
                else {"Cache-Control": "no-cache, private"},
            )
        if segs == ["v2"]:
            accept = request.headers.get("Accept", "")
            if accept and not any(
                t.split(";")[0].strip() in ("application/json", "*/*", "application/*")
                for t in accept.split(",")
            ):
                raise ApiError(
                    406,
                    "NotAcceptable",
                    "only the following media types are accepted: application/json",
                )
            if version not in self._openapi_v2:
                v2 = openapi.v2_document({gp: d for gp, (d, _) in docs.items()}, version)
                self._openapi_v2[version] = _dumps(v2)
            return web.Response(body=self._openapi_v2[version], content_type="application/json")
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _resource_list(self, gv: str, served: list[str]) -> Obj:
        res = []
        for r in served:
            namespaced, verbs, kind = _RESOURCE_META[r]
            if gv == _EVENTS_V1:
                verbs = ["get", "list", "watch"]
            entry: Obj = {
                "name": r,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": verbs,
            }
            if r in _SHORT_NAMES:
                entry["shortNames"] = _SHORT_NAMES[r]
            if r in _CATEGORIES:
                entry["categories"] = _CATEGORIES[r]
            res.append(entry)
            if r == "pods":
                res.append(
                    {
                        "name": "pods/log",
                        "singularName": "",
                        "namespaced": True,
                        "kind": "Pod",
                        "verbs": ["get"],
                    }
                )
            if r in ("pods", "daemonsets", "namespaces", "nodes"):
                res.append(
                    {
                        "name": f"{r}/status",
                        "singularName": "",
                        "namespaced": namespaced,
                        "kind": kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv.removeprefix("api/").removeprefix("apis/"),
            "resources": res,
        }

    # ------------------------------------------------------------ authorization
    def _denied(self, cluster: str, verb: str, resource: str, ns: str | None) -> str | None:
        for f in self.rt.faults("forbidden", cluster):
            if f.get("verb") not in (None, verb) or f.get("resource") not in (None, resource):
                continue
            if f.get("namespace") not in (None, ns):
                continue
            return str(f.get("reason", "RBAC: access denied"))
        return None

    def _authorize(
        self, cluster: str, verb: str, resource: str, ns: str | None, name: str | None
    ) -> None:
        if self._denied(cluster, verb, resource, ns) is None:
            return
        group = KINDS[resource][0].split("/")[0] if "/" in KINDS[resource][0] else ""
        what = f'{resource} "{name}"' if name else resource
        where = f'in the namespace "{ns}"' if ns else "at the cluster scope"
        raise ApiError(
            403,
            "Forbidden",
            f'{what} is forbidden: User "{self.rt.options.user}" cannot {verb} resource '
            f'"{resource}" in API group "{group}" {where}',
            {"name": name or "", "group": group, "kind": resource},
        )

    async def _ssar(self, request: web.Request, cluster: str) -> web.Response:
        body = await self._body(request)
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        if not attrs and not (body.get("spec") or {}).get("nonResourceAttributes"):
            raise ApiError(
                422,
                "Invalid",
                'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: '
                'spec.resourceAttributes: Invalid value: "null": exactly one of '
                "nonResourceAttributes or resourceAttributes must be specified",
            )
        reason = self._denied(
            cluster,
            str(attrs.get("verb", "")),
            str(attrs.get("resource", "")),
            attrs.get("namespace") or None,
        )
        status: Obj = {"allowed": reason is None}
        status["reason"] = (
            reason if reason is not None else 'RBAC: allowed by ClusterRoleBinding "cluster-admin"'
        )
        out = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec") or {},
            "status": status,
        }
        return _json(out, 201)

    # ------------------------------------------------------------ resources
    async def _body(self, request: web.Request, accepted: tuple[str, ...] = _BODY_TYPES) -> Any:
        """The decoded body, by its Content-Type. This server speaks JSON (and YAML) only: a
        protobuf body (kubectl >= 1.32 may send one) gets 415, on which client-go falls back
        to JSON, as against an API server without protobuf for the kind."""
        raw = await request.read()
        ctype = request.content_type if request.headers.get("Content-Type") else ""
        if raw and ctype and ctype not in accepted:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(accepted)}",
            )
        if ctype in _YAML_TYPES:
            try:
                return yaml.safe_load(raw.decode()) if raw else None
            except (yaml.YAMLError, UnicodeDecodeError) as err:
                raise ApiError(
                    400, "BadRequest", f"error decoding request body: invalid YAML: {err}"
                ) from err
        try:
            return json.loads(raw or b"null")
        except ValueError as err:
            raise ApiError(
                400, "BadRequest", f"error decoding request body: invalid character in JSON: {err}"
            ) from err

    async def _resource(
        self,
        request: web.Request,
        store: KubeStore,
        cluster: str,
        resource: str,
        ns: str | None,
        name: str | None,
        sub: str | None,
    ) -> web.StreamResponse:
        q = request.query
        method = request.method
        namespaced = _RESOURCE_META[resource][0]
        dry = q.get("dryRun") == "All"
        if namespaced and name is not None and ns is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            if name is None:
                verb = "watch" if _bool(q.get("watch")) else "list"
                self._authorize(cluster, verb, resource, ns, None)
                if verb == "watch":
                    as_table = table.table_version(request.headers.get("Accept", ""))
                    view = None
                    if as_table:
                        view = table.watch_view(resource, as_table, q.get("includeObject"))
                    return await self._watch(request, store, cluster, resource, ns, view)
                meta, items = self._page(store, resource, ns, q)
                as_table = table.table_version(request.headers.get("Accept", ""))
                if as_table:
                    return _json(
                        table.render(resource, items, as_table, q.get("includeObject"), meta)
                    )
                api_version, kind, _ = KINDS[resource]
                return _list_body(f"{kind}List", api_version, meta, items)
            self._authorize(cluster, "get", resource, ns, name)
            obj = store.get(resource, ns or "", name)
            if obj is None:
                raise not_found(resource, name)
            if sub == "log":
                return await self._log(request, store, obj)
            as_table = table.table_version(request.headers.get("Accept", ""))
            if as_table and sub is None:
                meta = {"resourceVersion": obj["metadata"]["resourceVersion"]}
                return _json(table.render(resource, [obj], as_table, q.get("includeObject"), meta))
            return web.Response(body=_encoded(obj, False), content_type="application/json")
        if method == "POST" and name is None:
            self._authorize(cluster, "create", resource, ns, None)
            body = await self._body(request)
            objects.check_body_kind(resource, body)
            schemas = await self.rt.schemas()
            body, warnings = _fields(schemas, resource, body, body, q)
            writer = _Writer(schemas, _manager(request))
            body_ns = (body.get("metadata") or {}).get("namespace")
            if namespaced and body_ns and body_ns != ns:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not "
                    "match the namespace sent on the request",
                )
            return _warn(self._create(store, resource, ns or "", body, dry, writer), warnings)
        if method in ("PUT", "PATCH") and name is not None:
            verb = "update" if method == "PUT" else "patch"
            self._authorize(cluster, verb, resource, ns, name)
            if method == "PATCH" and not request.headers.get("Content-Type"):
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join(_PATCH_TYPES)}",
                )
            body = await self._body(request, _PATCH_TYPES if method == "PATCH" else _BODY_TYPES)
            current = store.get(resource, ns or "", name)
            schemas = await self.rt.schemas()
            writer = _Writer(schemas, _manager(request))
            if "force" in q and request.content_type != "application/apply-patch+yaml":
                raise ApiError(
                    422,
                    "Invalid",
                    'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be '
                    "specified for non-apply patch",
                )
            if method == "PATCH" and request.content_type == "application/apply-patch+yaml":
                return await self._apply(store, resource, ns, name, current, body, writer, dry, q)
            if current is None:
                raise not_found(resource, name)
            if method == "PATCH":
                if request.content_type == "application/json-patch+json":
                    if not isinstance(body, list):
                        raise ApiError(400, "BadRequest", "json patch must be a list")
                    body = _json_patch(current, body)
                    body, warnings = _fields(schemas, resource, body, body, q)
                else:
                    if not isinstance(body, dict):
                        raise ApiError(
                            400, "BadRequest", "the body of the request was in an unknown format"
                        )
                    _, warnings = _fields(schemas, resource, _without_directives(body), body, q)
                    definition = schemas.by_resource[resource]
                    if request.content_type == "application/strategic-merge-patch+json":
                        body = smp.apply(schemas, definition, current, body)
                    else:
                        body = _merge_patch(current, body)
                    body = schemas.prune(definition, body)
            else:
                objects.check_body_kind(resource, body)
                body, warnings = _fields(schemas, resource, body, body, q)
                rv = (body.get("metadata") or {}).get("resourceVersion")
                if rv and rv != current["metadata"]["resourceVersion"]:
                    raise ApiError(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {resource} "{name}": the object '
                        "has been modified; please apply your changes to the latest "
                        "version and try again",
                        {"name": name, "kind": resource},
                    )
            return _warn(
                self._update(store, resource, ns or "", name, current, body, sub, dry, writer),
                warnings,
            )
        if method == "DELETE":
            body = await self._body(request) if request.can_read_body else None
            opts = dict(body) if isinstance(body, dict) else {}
            if "orphanDependents" in q:
                opts["orphanDependents"] = _bool(q["orphanDependents"])
            grace = q.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
            policy = gc.policy_from(opts, q.get("propagationPolicy"))
            if name is None:
                self._authorize(cluster, "deletecollection", resource, ns, None)
                return self._delete_collection(store, resource, ns, q, policy, dry)
            self._authorize(cluster, "delete", resource, ns, name)
            return self._delete(
                store, resource, ns or "", name, None if grace is None else int(grace), policy, dry
            )
        raise _method_not_allowed()

    def _select(
        self,
        store: KubeStore,
        resource: str,
        ns: str | None,
        q: Any,
        view: Callable[[Obj], Obj] | None = None,
    ) -> list[Obj]:
        """The objects the label and field selectors pick (fields of the ``view`` when given:
        another group's shape of the same objects)."""
        lsel = parse_label_selector(q.get("labelSelector"))
        fsel = parse_field_selector(q.get("fieldSelector"))
        return [
            o
            for o in store.list(resource, ns)
            if labels_match(lsel, o["metadata"].get("labels") or {})
            and fields_match(fsel, view(o) if view and fsel else o)
        ]

    def _page(
        self,
        store: KubeStore,
        resource: str,
        ns: str | None,
        q: Any,
        view: Callable[[Obj], Obj] | None = None,
    ) -> tuple[Obj, list[Obj]]:
        """One page of a list: its ListMeta (resourceVersion, continue) and its items."""
        items = self._select(store, resource, ns, q, view)
        meta: Obj = {"resourceVersion": str(store.rv)}
        start = 0
        if q.get("continue"):
            try:
                start = int(base64.urlsafe_b64decode(q["continue"].encode()).decode())
            except ValueError as err:
                raise ApiError(400, "BadRequest", "continue key is not valid") from err
        limit = int(q.get("limit") or 0)
        if start:
            items = items[start:]
        if limit and len(items) > limit:
            meta["continue"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return meta, items

    async def _apply(
        self,
        store: KubeStore,
        resource: str,
        ns: str | None,
        name: str,
        current: Obj | None,
        body: Any,
        writer: _Writer,
        dry: bool,
        q: Any,
    ) -> web.Response:
        """Server-side apply (ssa.py): create or merge, field ownership, conflicts."""
        manager = ssa.require_manager(q.get("fieldManager"))
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        api_version, kind, _ = KINDS[resource]
        if body.get("apiVersion") != api_version or body.get("kind") != kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({body.get('apiVersion')}) and kind "
                f"({body.get('kind')}) do not match the expected {api_version}, {kind}",
            )
        meta = body.get("metadata") or {}
        if meta.get("name", name) != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        body, warnings = _fields(writer.schemas, resource, body, body, q)
        body.setdefault("metadata", {})["name"] = name
        definition = writer.schemas.by_resource[resource]
        applier = _Writer(writer.schemas, manager)
        merged = ssa.apply(
            writer.schemas,
            definition,
            current,
            body,
            manager,
            _bool(q.get("force")),
            api_version,
        )
        applier.managed = merged["metadata"].pop("managedFields")
        if current is None:
            merged["metadata"].pop("resourceVersion", None)
            return _warn(self._create(store, resource, ns or "", merged, dry, applier), warnings)
        return _warn(
            self._update(store, resource, ns or "", name, current, merged, None, dry, applier),
            warnings,
        )

    def _create(
        self, store: KubeStore, resource: str, ns: str, body: Obj, dry: bool, writer: _Writer
    ) -> web.Response:
        if resource == "nodes":
            raise ApiError(405, "MethodNotAllowed", "nodes are simulated: change the scenario")
        objects.reset_system_fields(body)
        sent = copy.deepcopy(body)
        if resource == "namespaces":
            obj = objects.prepare_namespace(body)
        elif resource == "configmaps":
            objects.require_namespace(store, ns, creating=True)
            obj = objects.prepare_configmap(body, ns)
        elif resource == "daemonsets":
            objects.require_namespace(store, ns, creating=True)
            obj = objects.prepare_daemonset(body, ns)
            vap.admit(store, resource, "CREATE", obj)
        elif resource in (vap.POLICIES, vap.BINDINGS):
            obj = vap.prepare(resource, body)
        elif resource == "events":
            objects.require_namespace(store, ns, creating=True)
            obj = events.prepare(body, ns)
        else:
            obj = objects.prepare_pod(store, body, ns)
        obj["metadata"]["managedFields"] = writer.fields(resource, None, sent)
        key = (resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if dry:
            if key in store.objects:
                from .store import already_exists

                raise already_exists(resource, obj["metadata"]["name"])
            out = copy.deepcopy(obj)
            out["apiVersion"], out["kind"] = KINDS[resource][0], KINDS[resource][1]
            out["metadata"]["uid"] = str(uuid.uuid4())
            out["metadata"]["creationTimestamp"] = now_iso()
            return _json(out, 201)
        return _json(store.create(resource, obj), 201)

    def _update(
        self,
        store: KubeStore,
        resource: str,
        ns: str,
        name: str,
        current: Obj,
        body: Obj,
        sub: str | None,
        dry: bool,
        writer: _Writer,
    ) -> web.Response:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        meta = body.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        new = copy.deepcopy(current)
        if sub == "status":
            new["status"] = body.get("status") or {}
        else:
            # what a client may change; system fields stay the server's
            for k in ("labels", "annotations", "ownerReferences", "finalizers"):
                if k in meta:
                    new["metadata"][k] = meta[k]
                else:
                    new["metadata"].pop(k, None)
            added = set(new["metadata"].get("finalizers") or []) - set(
                current["metadata"].get("finalizers") or []
            )
            if current["metadata"].get("deletionTimestamp") and added:
                raise invalid(
                    resource,
                    name,
                    [
                        (
                            "FieldValueForbidden",
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers {sorted(added)}",
                        )
                    ],
                )
            if resource == "configmaps":
                new["data"] = body.get("data") or {}
                if "binaryData" in body:
                    new["binaryData"] = body["binaryData"]
            elif resource == "daemonsets":
                new["spec"] = body.get("spec")
                new = objects.prepare_daemonset(new, ns, current)
                vap.admit(store, resource, "UPDATE", new, current)
            elif resource in (vap.POLICIES, vap.BINDINGS):
                new["spec"] = body.get("spec")
                new = vap.prepare(resource, new)
            elif resource == "pods":
                # most of a pod's spec is immutable; images and activeDeadlineSeconds are not
                spec = body.get("spec") or {}
                for i, c in enumerate(spec.get("containers") or []):
                    if i < len(new["spec"]["containers"]) and "image" in c:
                        new["spec"]["containers"][i]["image"] = c["image"]
                if "activeDeadlineSeconds" in spec:
                    new["spec"]["activeDeadlineSeconds"] = spec["activeDeadlineSeconds"]
                vap.admit(store, resource, "UPDATE", new, current)
            elif resource == "namespaces":
                new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            elif resource == "events":
                new = events.prepare({**body, "metadata": new["metadata"]}, ns)
            elif resource == "nodes":
                raise ApiError(405, "MethodNotAllowed", "nodes are simulated: change the scenario")
        if sub != "status":
            # ownership sent with the object is the base the write's own changes go onto, as
            # the API server's field manager takes it (kubectl rewrites it so when it moves a
            # client-side apply to server-side)
            base = current
            if isinstance(meta.get("managedFields"), list):
                base = copy.deepcopy(current)
                base["metadata"]["managedFields"] = meta["managedFields"]
            new["metadata"]["managedFields"] = writer.fields(resource, base, new)
        if dry:
            return _json(new)
        if new == current:
            return _json(current)
        stored = store.update(resource, new)
        if gc.finish_if_unfinalized(store, resource, stored) is None:
            self.rt.wake.set()
        return _json(stored)

    def _delete(
        self,
        store: KubeStore,
        resource: str,
        ns: str,
        name: str,
        grace: int | None,
        policy: str,
        dry: bool,
    ) -> web.Response:
        obj = store.get(resource, ns, name)
        if obj is None:
            raise not_found(resource, name)
        if resource == "nodes":
            raise ApiError(405, "MethodNotAllowed", "nodes are simulated: change the scenario")
        if dry:
            return _json(obj)
        success = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": KINDS[resource][0].split("/")[0] if "/" in KINDS[resource][0] else "",
                "kind": resource,
                "uid": obj["metadata"]["uid"],
            },
        }
        if resource == "pods":
            return _json(self.rt.delete_pod(store, obj, grace=True, seconds=grace))
        if resource == "namespaces":
            if name in objects.SYSTEM_NAMESPACES:
                raise ApiError(
                    403,
                    "Forbidden",
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                    {"name": name, "kind": "namespaces"},
                )
            if obj["status"].get("phase") != "Terminating":
                new = copy.deepcopy(obj)
                new["metadata"]["deletionTimestamp"] = now_iso()
                new["status"]["phase"] = "Terminating"
                obj = store.update("namespaces", new)
            self.rt.wake.set()
            return _json(obj)
        if resource in ("daemonsets", "configmaps"):
            last, gone = gc.delete(self.rt, store, resource, obj, policy)
            if gone:
                return _json(success)
            # Not deleted yet (finalizers): the object, 202 when dependents go first.
            return _json(last, 202 if policy == "Foreground" else 200)
        store.remove(resource, ns, name)
        if resource == "events":
            events.forget(store, ns, name)
        return _json(success)

    def _delete_collection(
        self, store: KubeStore, resource: str, ns: str | None, q: Any, policy: str, dry: bool
    ) -> web.Response:
        if resource in ("nodes", "namespaces"):
            raise _method_not_allowed()
        items = self._select(store, resource, ns, q)
        grace = q.get("gracePeriodSeconds")
        if not dry:
            for o in items:
                self._delete(
                    store,
                    resource,
                    o["metadata"]["namespace"],
                    o["metadata"]["name"],
                    None if grace is None else int(grace),
                    policy,
                    False,
                )
        api_version, kind, _ = KINDS[resource]
        return _json(
            {
                "kind": f"{kind}List",
                "apiVersion": api_version,
                "metadata": {"resourceVersion": str(store.rv)},
                "items": [_list_item(o) for o in items],
            }
        )

    async def _events_v1(
        self, request: web.Request, store: KubeStore, cluster: str, ns: str | None, name: str | None
    ) -> web.StreamResponse:
        """events.k8s.io/v1: the stored core Events in that group's shape (get, list, watch),
        and written through it (create, update, patch, delete) as that group checks writes."""
        q = request.query
        if request.method in ("POST", "PUT", "PATCH") and ns is not None:
            return await self._events_v1_write(request, store, cluster, ns, name)
        if request.method == "DELETE" and ns is not None and name is not None:
            return await self._resource(request, store, cluster, "events", ns, name, None)
        if request.method != "GET":
            raise _method_not_allowed()
        if name is not None:
            self._authorize(cluster, "get", "events", ns, name)
            obj = store.get("events", ns or "", name)
            if obj is None:
                raise _event_v1_not_found(name)
            return _json(events.to_events_v1(obj))
        if _bool(q.get("watch")):
            self._authorize(cluster, "watch", "events", ns, None)
            return await self._watch(
                request, store, cluster, "events", ns, events.to_events_v1, events.to_events_v1
            )
        self._authorize(cluster, "list", "events", ns, None)
        meta, items = self._page(store, "events", ns, q, events.to_events_v1)
        return _json(
            {
                "kind": "EventList",
                "apiVersion": "events.k8s.io/v1",
                "metadata": meta,
                "items": [_list_item(events.to_events_v1(o)) for o in items],
            }
        )

    async def _events_v1_write(
        self, request: web.Request, store: KubeStore, cluster: str, ns: str, name: str | None
    ) -> web.StreamResponse:
        """Create (POST), update (PUT) or patch (merge, strategic merge or JSON patch, all on the
        events.k8s.io/v1 shape) an Event; stored as the core Event both groups read."""
        dry = request.query.get("dryRun") == "All"
        if request.method == "POST" and name is None:
            self._authorize(cluster, "create", "events", ns, None)
            body = await self._body(request)
            if not isinstance(body, dict):
                raise ApiError(
                    400, "BadRequest", "the body of the request was in an unknown format"
                )
            body_ns = (body.get("metadata") or {}).get("namespace")
            if body_ns and body_ns != ns:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not "
                    "match the namespace sent on the request",
                )
            objects.require_namespace(store, ns, creating=True)
            event = events.from_events_v1(body, ns)
            objects.reset_system_fields(event)
            if dry:
                out = copy.deepcopy(event)
                out["metadata"]["uid"] = str(uuid.uuid4())
                out["metadata"]["creationTimestamp"] = now_iso()
                return _json(events.to_events_v1(out), 201)
            return _json(events.to_events_v1(store.create("events", event)), 201)
        if name is None or request.method == "POST":
            raise _method_not_allowed()
        verb = "update" if request.method == "PUT" else "patch"
        self._authorize(cluster, verb, "events", ns, name)
        body = await self._body(request, _PATCH_TYPES if verb == "patch" else _BODY_TYPES)
        current = store.get("events", ns, name)
        if current is None:
            raise _event_v1_not_found(name)
        shown = events.to_events_v1(current)
        if verb == "patch" and request.content_type == "application/json-patch+json":
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "json patch must be a list")
            body = _json_patch(shown, body)
        elif verb == "patch":
            if not isinstance(body, dict):
                raise ApiError(
                    400, "BadRequest", "the body of the request was in an unknown format"
                )
            body = _merge_patch(shown, _without_directives(body))  # Event has no merge keys
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        meta = body.get("metadata") or {}
        if meta.get("name", name) != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        rv = meta.get("resourceVersion")
        if verb == "update" and rv and rv != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on events.events.k8s.io "{name}": the object '
                "has been modified; please apply your changes to the latest version and try again",
                {"name": name, "group": "events.k8s.io", "kind": "events"},
            )
        new = events.from_events_v1({**body, "metadata": {"name": name}}, ns, current)
        merged = copy.deepcopy(current)
        for k in ("labels", "annotations"):
            if k in meta:
                merged["metadata"][k] = meta[k]
            else:
                merged["metadata"].pop(k, None)
        for k in ("series", "count", "firstTimestamp", "lastTimestamp", "source"):
            if k in new:
                merged[k] = new[k]
            else:
                merged.pop(k, None)
        if dry or merged == current:
            return _json(events.to_events_v1(merged))
        return _json(events.to_events_v1(store.update("events", merged)))

    # ------------------------------------------------------------ logs
    async def _log(self, request: web.Request, store: KubeStore, pod: Obj) -> web.StreamResponse:
        q = request.query
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = q.get("container") or names[0]
        if container not in names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        podlog = store.logs.get((ns, name))
        previous = _bool(q.get("previous"))
        if previous and (podlog is None or podlog.previous is None):
            # Only a container that restarted has a previous instance.
            raise ApiError(
                400,
                "BadRequest",
                f'previous terminated container "{container}" in pod "{name}" not found',
            )
        if podlog is None or not podlog.instance:
            cs = (pod["status"].get("containerStatuses") or [{}])[0]
            reason = ((cs.get("state") or {}).get("waiting") or {}).get(
                "reason", "ContainerCreating"
            )
            raise ApiError(
                400,
                "BadRequest",
                f'container "{container}" in pod "{name}" is waiting to start: {reason}',
            )
        stamps = _bool(q.get("timestamps"))
        tail = q.get("tailLines")

        def render(lines: list[tuple[str, str]]) -> bytes:
            return "".join(f"{ts} {t}\n" if stamps else f"{t}\n" for ts, t in lines).encode()

        # The current container instance only (one that has exited stays current until the
        # restart); previous=true: the instance before the last restart.
        lines = list(podlog.previous if previous and podlog.previous is not None else podlog.lines)
        if tail is not None:
            n = int(tail)
            lines = lines[-n:] if n > 0 else []
        if q.get("sinceSeconds"):
            cutoff = time.time() - int(q["sinceSeconds"])
            lines = [ln for ln in lines if _ts_epoch(ln[0]) >= cutoff]
        data = render(lines)
        if q.get("limitBytes"):
            data = data[: int(q["limitBytes"])]
        if previous or not _bool(q.get("follow")):
            return web.Response(body=data, content_type="text/plain")
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(data)
        seen = len(podlog.lines)
        uid = pod["metadata"]["uid"]
        instance = podlog.instance
        try:
            while True:
                changed = podlog.changed
                await wait_event(changed, 0.5)
                if podlog.instance != instance:
                    break  # the followed container ended and another one started
                cur = list(podlog.lines)
                # the deque is capped: count from the end when it rolled over
                fresh = cur[seen:] if seen <= len(cur) else cur
                if fresh:
                    await resp.write(render(fresh))
                seen = len(cur)
                p = store.get("pods", ns, name)
                if (
                    self.rt.closing
                    or p is None
                    or p["metadata"]["uid"] != uid
                    or podlog.closed
                    or p["status"].get("phase") in ("Succeeded", "Failed")
                ):
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            return resp
        await resp.write_eof()
        return resp

    # ------------------------------------------------------------ watch
    async def _watch(
        self,
        request: web.Request,
        store: KubeStore,
        cluster: str,
        resource: str,
        ns: str | None,
        view: Callable[[Obj], Obj] | None = None,
        shape: Callable[[Obj], Obj] | None = None,
    ) -> web.StreamResponse:
        """A watch stream; ``view`` renders each object sent (another group's shape, a Table),
        ``shape`` is the form field selectors look at (another group's)."""
        q = request.query
        lsel = parse_label_selector(q.get("labelSelector"))
        fsel = parse_field_selector(q.get("fieldSelector"))
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = _bool(q.get("allowWatchBookmarks"))
        rv_param = q.get("resourceVersion") or ""
        drop_after = self._drop_fault(cluster, resource)

        def matches(o: Obj | None) -> bool:
            return (
                o is not None
                and labels_match(lsel, o["metadata"].get("labels") or {})
                and fields_match(fsel, shape(o) if shape and fsel else o)
            )

        watcher = store.subscribe(resource, ns)
        initial: list[tuple[str, Obj]] = []
        stream_list = _watch_list(q, bookmarks)
        try:
            if rv_param in ("", "0") or stream_list:
                initial = [("ADDED", o) for o in store.list(resource, ns) if matches(o)]
            else:
                try:
                    rv = int(rv_param)
                except ValueError as err:
                    raise ApiError(
                        400, "BadRequest", f"invalid resource version: {rv_param}"
                    ) from err
                try:
                    history = store.events_since(rv, resource, ns)
                except ApiError as gone:
                    initial = [("ERROR", gone.status())]
                    history = []
                for past in history:
                    t = self._translate(past, matches)
                    if t is not None:
                        initial.append(t)
        except ApiError:
            store.unsubscribe(watcher)
            raise
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        last_rv = store.rv
        sent = 0
        deadline = time.monotonic() + timeout
        kind = KINDS[resource]
        try:
            await resp.prepare(request)
            for typ, obj in initial:
                if drop_after is not None and sent >= drop_after:
                    return await self._end(resp, drop=True)
                if view is not None and typ != "ERROR":
                    await resp.write(_line(typ, view(obj), fresh=True))
                else:
                    await resp.write(_line(typ, obj))
                sent += 1
                if typ == "ERROR":
                    return await self._end(resp)
            if stream_list:
                # the end of the initial state (a watch-list client waits for it)
                await resp.write(_bookmark(kind, last_rv, initial_end=True))
            next_bookmark = time.monotonic() + self.rt.options.bookmark_interval
            while True:
                if drop_after is not None and sent >= drop_after:
                    return await self._end(resp, drop=True)
                now = time.monotonic()
                if now >= deadline:
                    if bookmarks:
                        await resp.write(_bookmark(kind, store.rv))
                    return await self._end(resp)
                if self.rt.closing or self.rt.kube_down(cluster) is not None:
                    return await self._end(resp, drop=True)
                if bookmarks and now >= next_bookmark:
                    await resp.write(_bookmark(kind, store.rv))
                    next_bookmark = now + self.rt.options.bookmark_interval
                wait = min(
                    deadline - now, 0.5, max(next_bookmark - now, 0.01) if bookmarks else 0.5
                )
                try:
                    async with asyncio.timeout(max(wait, 0.01)):
                        ev: WatchEvent | None = await watcher.queue.get()
                except TimeoutError:
                    continue
                if ev is None:
                    continue  # a wake-up (shutdown): the checks at the top decide
                if ev.rv <= last_rv:
                    continue
                last_rv = ev.rv
                t = self._translate(ev, matches)
                if t is not None:
                    if view is not None:
                        await resp.write(_line(t[0], view(t[1]), fresh=True))
                    else:
                        await resp.write(_line(*t))
                    sent += 1
        except (ConnectionResetError, asyncio.CancelledError):
            return resp
        finally:
            store.unsubscribe(watcher)

    @staticmethod
    def _translate(ev: WatchEvent, matches: Any) -> tuple[str, Obj] | None:
        """Selector-aware event type: leaving the selection is DELETED, entering it ADDED."""
        now_in = matches(ev.obj) if ev.type != "DELETED" else False
        was_in = matches(ev.old) if ev.old is not None else False
        if ev.type == "DELETED":
            return ("DELETED", ev.obj) if was_in else None
        if ev.type == "ADDED":
            return ("ADDED", ev.obj) if now_in else None
        if now_in and was_in:
            return ("MODIFIED", ev.obj)
        if now_in:
            return ("ADDED", ev.obj)
        if was_in:
            return ("DELETED", ev.obj)
        return None

    def _drop_fault(self, cluster: str, resource: str) -> int | None:
        """A drop-watch fault applying to this watch: events to send before the stream ends."""
        for f in self.rt.faults("drop-watch", cluster, resource=resource):
            with self.rt.state.lock:
                if "times" in f:
                    if int(f["times"]) <= 0:
                        continue
                    f["times"] = int(f["times"]) - 1
            return int(f.get("after_events", 0))
        return None

    async def _end(self, resp: web.StreamResponse, drop: bool = False) -> web.StreamResponse:
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp


def _line(typ: str, obj: Obj, fresh: bool = False) -> bytes:
    """One watch event; ``fresh``: an object made for this line (not cached)."""
    body = _dumps(obj) if fresh else _encoded(obj, False)
    return b'{"type":"' + typ.encode() + b'","object":' + body + b"}\n"


def _dumps(obj: Obj) -> bytes:
    return wire.dumps(obj)


def _bookmark(kind: tuple[str, str, bool], rv: int, initial_end: bool = False) -> bytes:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _line("BOOKMARK", {"kind": kind[1], "apiVersion": kind[0], "metadata": meta}, True)


def _watch_list(q: Any, bookmarks: bool) -> bool:
    """A streaming list (`sendInitialEvents=true`, client-go's WatchListClient, on by default
    in kubectl >= 1.35): the current objects as ADDED, then a BOOKMARK annotated
    ``k8s.io/initial-events-end``. The API server's rules for the parameters apply (422)."""
    if "sendInitialEvents" not in q:
        return False
    send = _bool(q.get("sendInitialEvents"))
    causes = []
    if q.get("resourceVersionMatch") != "NotOlderThan":
        causes.append(
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
            "resourceVersionMatch to NotOlderThan"
        )
    if send and not bookmarks:
        causes.append(
            "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting "
            "allowWatchBookmarks to true"
        )
    if causes:
        raise ApiError(
            422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: {", ".join(causes)}'
        )
    return send


def _ts_epoch(ts: str) -> float:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


_FIELD_VALIDATION = ("Ignore", "Warn", "Strict")


def _fields(
    schemas: Schemas, resource: str, checked: Any, body: Any, q: Any
) -> tuple[Any, list[str]]:
    """Field validation as the API server does it (``fieldValidation``: Strict refuses unknown
    fields with 400, Warn, the default, answers with a Warning header per field, Ignore says
    nothing) on ``checked``; returns ``body`` without the unknown fields (the server never
    stores them) and the warnings."""
    mode = q.get("fieldValidation") or "Warn"
    if mode not in _FIELD_VALIDATION:
        raise ApiError(
            400,
            "BadRequest",
            f'fieldValidation: Unsupported value: "{mode}": supported values: "Ignore", '
            '"Strict", "Warn"',
        )
    name = schemas.by_resource.get(resource)
    if name is None or not isinstance(body, dict):
        return body, []
    unknown = [] if mode == "Ignore" else schemas.unknown_fields(name, checked)
    kind = KINDS[resource][1]
    if unknown and mode == "Strict":
        text = ", ".join(f'unknown field "{f}"' for f in unknown)
        raise ApiError(
            400,
            "BadRequest",
            f'{kind} in version "{KINDS[resource][0].split("/")[-1]}" cannot be handled as a '
            f"{kind}: strict decoding error: {text}",
        )
    return schemas.prune(name, body), [f'unknown field "{f}"' for f in unknown]


def _without_directives(patch: Any) -> Any:
    """A strategic merge patch without its ``$``-keys (``$setElementOrder/...``, ``$patch``),
    which are instructions, not fields."""
    if isinstance(patch, dict):
        return {k: _without_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [_without_directives(v) for v in patch]
    return patch


def _warn(resp: web.Response, warnings: list[str]) -> web.Response:
    for w in warnings:
        resp.headers.add("Warning", f"299 - {json.dumps(w)}")
    return resp


def _manager(request: web.Request) -> str:
    """The field manager of a write: ``fieldManager``, else the User-Agent's first part."""
    return ssa.manager_from(
        request.query.get("fieldManager"), request.headers.get("User-Agent", "")
    )
