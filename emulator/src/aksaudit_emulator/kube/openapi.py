"""The OpenAPI documents of the served kinds, as the API server publishes them: what
`kubectl explain` reads and what `kubectl apply`/`create` look at to learn that the server
validates fields itself (then they send ``fieldValidation=Strict`` instead of validating on the
client).

Contract:
- ``/openapi/v3``: the index ``{"paths": {"api/v1": {"serverRelativeURL":
  "/openapi/v3/api/v1?hash=<sha512>"}, "apis/apps/v1": ...}}``; ``/openapi/v3/<group path>``:
  an OpenAPI 3.0 document with the group version's paths (each operation carrying
  ``x-kubernetes-action`` and ``x-kubernetes-group-version-kind``; PATCH, PUT and POST take
  ``dryRun``, ``fieldManager``, ``fieldValidation`` and, for apply, ``force``) and
  ``components.schemas`` with every definition those kinds reach (schema.py).
- ``/openapi/v2``: the same as one Swagger 2.0 document (``#/definitions/`` references), in
  JSON only: a client that accepts nothing but the protobuf encoding gets 406 (as client-go's
  discovery asks for it, and then goes on without it).
- Documents are built once per cluster version and cached; the hash in each URL is the
  document's own, so a client cache keyed by it stays right.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .schema import KIND_MODELS, Schemas

Obj = dict[str, Any]

# group path -> resources (as KIND_MODELS names them) and whether each is namespaced
GROUP_PATHS: dict[str, list[tuple[str, bool]]] = {
    "api/v1": [
        ("pods", True),
        ("configmaps", True),
        ("events", True),
        ("namespaces", False),
        ("nodes", False),
    ],
    "apis/apps/v1": [("daemonsets", True)],
    "apis/events.k8s.io/v1": [("events.k8s.io", True)],
    "apis/authorization.k8s.io/v1": [("selfsubjectaccessreviews", False)],
    "apis/admissionregistration.k8s.io/v1": [
        ("validatingadmissionpolicies", False),
        ("validatingadmissionpolicybindings", False),
    ],
}
_READ_ONLY = {"events.k8s.io": ["get", "list", "watch"], "nodes": ["get", "list", "watch"]}
_CREATE_ONLY = {"selfsubjectaccessreviews"}
_PATCH_TYPES = [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
]


def _param(name: str, description: str, where: str = "query", typ: str = "string") -> Obj:
    return {
        "name": name,
        "in": where,
        "description": description,
        "schema": {"type": typ, "uniqueItems": True},
        **({"required": True} if where == "path" else {}),
    }


_DRY_RUN = _param("dryRun", "When present, indicates that modifications should not be persisted.")
_MANAGER = _param(
    "fieldManager",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
)
_VALIDATION = _param(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request containing "
    "unknown or duplicate fields. Valid values are: Ignore, Warn (the default), Strict.",
)
_FORCE = _param("force", 'Force is going to "force" Apply requests.', typ="boolean")


def _resource_name(resource: str) -> str:
    return "events" if resource == "events.k8s.io" else resource


def _operations(resource: str, ref: str, gvk: Obj, kind: str) -> tuple[Obj, Obj]:
    """(collection path item, object path item) of one resource."""
    body = {"content": {"*/*": {"schema": {"$ref": ref}}}, "required": True}
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}}
    verbs = _READ_ONLY.get(resource)

    def op(action: str, opid: str, params: list[Obj], **extra: Any) -> Obj:
        return {
            "description": f"{action} {kind}",
            "operationId": opid,
            "parameters": params,
            "responses": ok,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            **extra,
        }

    coll: Obj = {"get": op("list", f"list{kind}", [])}
    item: Obj = {}
    if resource in _CREATE_ONLY:
        return {
            "post": op("post", f"create{kind}", [_DRY_RUN, _MANAGER, _VALIDATION], requestBody=body)
        }, {}
    item["get"] = op("get", f"read{kind}", [])
    if verbs is None:
        coll["post"] = op(
            "post", f"create{kind}", [_DRY_RUN, _MANAGER, _VALIDATION], requestBody=body
        )
        coll["delete"] = op("deletecollection", f"deleteCollection{kind}", [_DRY_RUN])
        item["put"] = op(
            "put", f"replace{kind}", [_DRY_RUN, _MANAGER, _VALIDATION], requestBody=body
        )
        item["patch"] = op(
            "patch",
            f"patch{kind}",
            [_DRY_RUN, _MANAGER, _VALIDATION, _FORCE],
            requestBody={
                "content": {t: {"schema": {"type": "object"}} for t in _PATCH_TYPES},
                "required": True,
            },
        )
        item["delete"] = op("delete", f"delete{kind}", [_DRY_RUN])
    return coll, item


def _reachable(schemas: Schemas, roots: list[str]) -> list[str]:
    seen: list[str] = []
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.append(name)
        text = json.dumps(schemas.definitions[name])
        for part in text.split('"$ref": "#/components/schemas/')[1:]:
            stack.append(part.split('"', 1)[0])
    return sorted(seen)


def v3_document(schemas: Schemas, group_path: str, version: str) -> Obj:
    paths: Obj = {}
    roots: list[str] = []
    for resource, namespaced in GROUP_PATHS[group_path]:
        group, ver, kind, _ = KIND_MODELS[resource]
        name = schemas.by_resource[resource]
        roots.append(name)
        gvk = {"group": group, "version": ver, "kind": kind}
        coll, item = _operations(resource, f"#/components/schemas/{name}", gvk, kind)
        plural = _resource_name(resource)
        base = (
            f"/{group_path}/namespaces/{{namespace}}/{plural}"
            if namespaced
            else (f"/{group_path}/{plural}")
        )
        ns_param = [_param("namespace", "object name and auth scope", "path")] if namespaced else []
        coll["parameters"] = ns_param
        paths[base] = coll
        if item:
            item["parameters"] = [_param("name", f"name of the {kind}", "path"), *ns_param]
            paths[f"{base}/{{name}}"] = item
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths,
        "components": {
            "schemas": {n: schemas.definitions[n] for n in _reachable(schemas, roots)},
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
        },
        "security": [{"BearerToken": []}],
    }


def digest(doc: Obj) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


def v3_index(docs: dict[str, Obj]) -> Obj:
    return {
        "paths": {
            gp: {"serverRelativeURL": f"/openapi/v3/{gp}?hash={digest(doc)}"}
            for gp, doc in docs.items()
        }
    }


def v2_document(docs: dict[str, Obj], version: str) -> Obj:
    """One Swagger 2.0 document from the v3 ones (definitions, paths, parameters)."""
    definitions: Obj = {}
    paths: Obj = {}
    for doc in docs.values():
        for name, schema in doc["components"]["schemas"].items():
            definitions[name] = _v2_refs(schema)
        for path, item in doc["paths"].items():
            out: Obj = {}
            for verb, op in item.items():
                if verb == "parameters":
                    out[verb] = [_v2_param(p) for p in op]
                    continue
                v2 = {k: v for k, v in op.items() if k not in ("requestBody", "responses")}
                v2["parameters"] = [_v2_param(p) for p in op["parameters"]]
                if "requestBody" in op:
                    schema = next(iter(op["requestBody"]["content"].values()))["schema"]
                    v2["parameters"].append(
                        {"name": "body", "in": "body", "required": True, "schema": _v2_refs(schema)}
                    )
                    v2["consumes"] = list(op["requestBody"]["content"])
                v2["produces"] = ["application/json", "application/yaml"]
                v2["responses"] = {
                    "200": {
                        "description": "OK",
                        "schema": _v2_refs(
                            op["responses"]["200"]["content"]["application/json"]["schema"]
                        ),
                    }
                }
                out[verb] = v2
            paths[path] = out
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}
        },
        "security": [{"BearerToken": []}],
    }


def _v2_param(p: Obj) -> Obj:
    out = {k: v for k, v in p.items() if k != "schema"}
    out["type"] = p["schema"]["type"]
    out["uniqueItems"] = True
    return out


def _v2_refs(schema: Any) -> Any:
    """v3 references and ``allOf``-wrapped ones as v2 ``#/definitions/`` references."""
    if isinstance(schema, list):
        return [_v2_refs(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k == "$ref":
            out[k] = v.replace("#/components/schemas/", "#/definitions/")
        else:
            out[k] = _v2_refs(v)
    return out
