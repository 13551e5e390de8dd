"""Strategic merge patch (``application/strategic-merge-patch+json``), what `kubectl apply`
(client-side), `kubectl edit` and `kubectl patch` send: a JSON merge patch whose lists of
objects merge by their key where the schema says so (containers by name, volumeMounts by
mountPath...), plus the directives ``$patch`` (replace, delete), ``$setElementOrder/<list>``,
``$retainKeys`` and ``$deleteFromPrimitiveList/<list>``.

Contract: ``apply(schemas, definition, current, patch)`` returns the patched object (a new
one; ``current`` is not touched). A list the schema marks ``map`` merges item by item on its
first key; a ``set`` list of scalars gains the patch's values; any other list is replaced, as
is every list under a field the schema does not know.
"""

from __future__ import annotations

import copy
from typing import Any

from .schema import Obj, Schemas
from .store import ApiError

_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


def apply(schemas: Schemas, definition: str, current: Any, patch: Any) -> Any:
    return _merge(schemas, schemas.definitions.get(definition), current, patch)


def _props(schemas: Schemas, schema: Obj | None) -> tuple[Obj, str]:
    """A schema's properties and its definition name (for the list markers)."""
    if schema is None:
        return {}, ""
    ref = schema.get("$ref") or next(
        (s["$ref"] for s in schema.get("allOf") or [] if "$ref" in s), None
    )
    name = ref.rsplit("/", 1)[1] if ref else ""
    resolved = schemas.definitions.get(name, schema) if name else schema
    return resolved.get("properties") or {}, name


def _merge(schemas: Schemas, schema: Obj | None, current: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if directive == "delete":
        return None
    props, def_name = _props(schemas, schema)
    out = copy.deepcopy(current) if isinstance(current, dict) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            name = key[len(_DELETE_FROM) :]
            if isinstance(out.get(name), list) and isinstance(value, list):
                out[name] = [v for v in out[name] if v not in value]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
            continue
        sub = props.get(key)
        if isinstance(value, list):
            kind, keys = schemas.list_type(def_name, key) if def_name else ("atomic", ())
            order = patch.get(_ORDER + key)
            out[key] = _merge_list(schemas, sub, kind, keys, out.get(key), value, order)
        elif isinstance(value, dict):
            merged = _merge(schemas, sub, out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        else:
            out[key] = value
    for key, order in patch.items():
        # an order for a list the patch left alone (items only reordered or deleted)
        if key.startswith(_ORDER) and key[len(_ORDER) :] not in patch:
            name = key[len(_ORDER) :]
            kind, keys = schemas.list_type(def_name, name) if def_name else ("atomic", ())
            if isinstance(out.get(name), list) and kind == "map":
                out[name] = _reorder(out[name], order, keys[0])
    return out


def _merge_list(
    schemas: Schemas,
    schema: Obj | None,
    kind: str,
    keys: tuple[str, ...],
    current: Any,
    patch: list[Any],
    order: Any,
) -> list[Any]:
    if kind == "set":
        base = list(current) if isinstance(current, list) else []
        return base + [v for v in patch if v not in base]
    if kind != "map" or not all(isinstance(p, dict) for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    key = keys[0]
    items = [copy.deepcopy(i) for i in current] if isinstance(current, list) else []
    item_schema = (schema or {}).get("items")
    for p in patch:
        if p.get("$patch") == "replace" and key not in p:
            # the whole list is replaced by the rest of the patch
            return [copy.deepcopy(i) for i in patch if "$patch" not in i]
        if key not in p:
            raise ApiError(
                422,
                "Invalid",
                f"map: {p} does not contain declared merge key: {key}",
            )
        at = next((i for i, c in enumerate(items) if c.get(key) == p[key]), None)
        if p.get("$patch") == "delete":
            if at is not None:
                items.pop(at)
            continue
        if at is None:
            items.append(_merge(schemas, item_schema, {}, p))
        else:
            items[at] = _merge(schemas, item_schema, items[at], p)
    if isinstance(order, list):
        items = _reorder(items, order, key)
    return items


def _reorder(items: list[Any], order: list[Any], key: str) -> list[Any]:
    """``$setElementOrder``: the listed keys in that order; items it does not list keep their
    place after them (the server's behaviour for items only it knows)."""
    rank = {o.get(key): n for n, o in enumerate(order) if isinstance(o, dict)}
    listed = sorted((i for i in items if i.get(key) in rank), key=lambda i: rank[i.get(key)])
    return listed + [i for i in items if i.get(key) not in rank]
