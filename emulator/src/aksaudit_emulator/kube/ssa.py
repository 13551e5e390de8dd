"""Server-side apply and field ownership (``metadata.managedFields``), for the kinds served.

Contract:
- Every write records who set which fields: create, update and patch add the fields they
  changed to an ``Update`` entry of their field manager (``fieldManager``, else the client's
  User-Agent up to the first "/", as the API server derives it) and take them from the other
  managers; a write that sets ``managedFields`` itself gets what it sent.
- ``apply()`` is a PATCH with ``application/apply-patch+yaml``: the applied configuration is
  merged into the live object (or creates it); lists merge as the schema's list types say
  (schema.py); the manager's ``Apply`` entry becomes exactly the configuration's fields; fields
  it applied before and leaves out now are removed unless another manager owns them.
- A field the configuration sets to a value other than the live one, while another manager
  owns it, is a conflict: 409 Conflict naming each manager and field (as `kubectl apply
  --server-side` prints it) unless ``force=true``, which takes the fields over.
- Field sets are kept as FieldsV1 (``f:<field>``, ``k:{"name":"x"}`` list items, ``v:<value>``
  set members, ``.`` for a map or item itself). apiVersion, kind, status and the metadata the
  server sets are never owned.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from .schema import Obj, Schemas
from .store import ApiError

Path = tuple[str, ...]  # "f:spec", "f:containers", 'k:{"name":"c"}', "f:image"
_NOT_OWNED_META = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)


def manager_from(field_manager: str | None, user_agent: str) -> str:
    if field_manager:
        return field_manager
    return (user_agent or "unknown").split("/", 1)[0] or "unknown"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- field sets


def _item_key(item: Obj, keys: tuple[str, ...]) -> str:
    return "k:" + json.dumps({k: item.get(k) for k in keys if k in item}, separators=(",", ":"))


def field_paths(schemas: Schemas, definition: str, obj: Obj) -> set[Path]:
    """The fields ``obj`` sets, as paths (leaves, atomic lists, list items, map entries)."""
    out: set[Path] = set()
    top = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = top.get("metadata")
    if isinstance(meta, dict):
        top["metadata"] = {k: v for k, v in meta.items() if k not in _NOT_OWNED_META}
        if not top["metadata"]:
            top.pop("metadata")
    _walk(schemas, {"$ref": f"#/components/schemas/{definition}"}, top, (), out)
    return out


def _walk(schemas: Schemas, schema: Obj | None, value: Any, path: Path, out: set[Path]) -> None:
    resolved = schemas.resolve(schema) if schema else {}
    name = _def_name(schema)
    if isinstance(value, dict) and "properties" in resolved:
        for k, v in value.items():
            _walk_field(schemas, resolved, name, k, v, path, out)
        return
    if isinstance(value, dict) and isinstance(resolved.get("additionalProperties"), dict):
        out.add(path)  # the map itself ("."), and each entry
        for k, v in value.items():
            _walk(schemas, resolved["additionalProperties"], v, (*path, f"f:{k}"), out)
        return
    out.add(path)


def _walk_field(
    schemas: Schemas, resolved: Obj, def_name: str, key: str, value: Any, path: Path, out: set[Path]
) -> None:
    sub = resolved["properties"].get(key)
    here = (*path, f"f:{key}")
    if sub is None:
        out.add(here)
        return
    if isinstance(value, list):
        kind, keys = schemas.list_type(def_name, key)
        items = schemas.resolve(sub).get("items") or sub.get("items")
        if kind == "map" and all(isinstance(i, dict) for i in value):
            for item in value:
                item_path = (*here, _item_key(item, keys))
                out.add(item_path)
                _walk(schemas, items, item, item_path, out)
            return
        if kind == "set":
            for v in value:
                out.add((*here, "v:" + json.dumps(v, separators=(",", ":"))))
            return
        out.add(here)
        return
    _walk(schemas, sub, value, here, out)


def _def_name(schema: Obj | None) -> str:
    if not schema:
        return ""
    ref = schema.get("$ref") or next(
        (s["$ref"] for s in schema.get("allOf") or [] if "$ref" in s), None
    )
    return str(ref).rsplit("/", 1)[1] if ref else ""


def to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for p in sorted(paths):
        node = tree
        for part in p:
            node = node.setdefault(part, {})
    for p in paths:  # a path that is itself owned and has children: "."
        node = tree
        for part in p:
            node = node[part]
        if node and "." not in node:
            node["."] = {}
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for k, v in tree.items():
        if k == ".":
            out.add(prefix)
            continue
        here = (*prefix, k)
        if isinstance(v, dict) and v:
            out |= from_fields_v1(v, here)
        else:
            out.add(here)
    return out


def _value_at(obj: Any, path: Path) -> tuple[bool, Any]:
    cur = obj
    for part in path:
        kind, _, rest = part.partition(":")
        if kind == "f" and isinstance(cur, dict) and rest in cur:
            cur = cur[rest]
        elif kind == "k" and isinstance(cur, list):
            want = json.loads(rest)
            cur = next(
                (
                    i
                    for i in cur
                    if isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())
                ),
                None,
            )
            if cur is None:
                return False, None
        elif kind == "v" and isinstance(cur, list):
            return (json.loads(rest) in cur), json.loads(rest)
        else:
            return False, None
    return True, cur


def _remove_at(obj: Any, path: Path) -> None:
    if not path:
        return
    found, parent = _value_at(obj, path[:-1])
    if not found:
        return
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "k" and isinstance(parent, list):
        want = json.loads(rest)
        parent[:] = [
            i
            for i in parent
            if not (isinstance(i, dict) and all(i.get(k) == v for k, v in want.items()))
        ]
    elif kind == "v" and isinstance(parent, list):
        value = json.loads(rest)
        parent[:] = [i for i in parent if i != value]


def _human(path: Path) -> str:
    """``.spec.template.spec.containers[name="main"].image``, as the API server prints it."""
    out = ""
    for part in path:
        kind, _, rest = part.partition(":")
        if kind == "f":
            out += f".{rest}"
        elif kind == "k":
            keys = json.loads(rest)
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif kind == "v":
            out += f"[{rest}]"
    return out


# ---------------------------------------------------------------- managedFields


def _entries(obj: Obj | None) -> list[Obj]:
    return list(((obj or {}).get("metadata") or {}).get("managedFields") or [])


def _entry(manager: str, operation: str, api_version: str, paths: set[Path]) -> Obj:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": _now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    }


def _owner_sets(entries: list[Obj]) -> list[tuple[Obj, set[Path]]]:
    return [(e, from_fields_v1(e.get("fieldsV1"))) for e in entries]


def _rebuild(owners: list[tuple[Obj, set[Path]]], mine: Obj, mine_paths: set[Path]) -> list[Obj]:
    out: list[Obj] = []
    placed = False
    for e, paths in owners:
        if e["manager"] == mine["manager"] and e["operation"] == mine["operation"]:
            out.append(mine)
            placed = True
        elif paths:
            out.append({**e, "fieldsV1": to_fields_v1(paths)})
    if not placed and mine_paths:
        out.append(mine)
    return out


def updated(
    schemas: Schemas,
    definition: str,
    old: Obj | None,
    new: Obj,
    manager: str,
    api_version: str,
) -> list[Obj]:
    """managedFields after a create/update/patch by ``manager``: the fields that changed are
    its (an ``Update`` entry), and no longer anyone else's."""
    new_paths = field_paths(schemas, definition, new)
    old_paths = field_paths(schemas, definition, old) if old is not None else set()
    inner = {p[:n] for p in new_paths for n in range(len(p))}
    # a map or list item changes when it appears; its values when they differ
    changed = {
        p
        for p in new_paths
        if p not in old_paths or (p not in inner and _value_at(old, p) != _value_at(new, p))
    }
    owners = _owner_sets(_entries(old))
    # fields gone from the object are nobody's
    owners = [(e, {p for p in paths if p in new_paths}) for e, paths in owners]
    if not changed:
        return _rebuild(owners, {"manager": "", "operation": ""}, set())
    owners = [(e, paths - changed if e["manager"] != manager else paths) for e, paths in owners]
    current = next(
        (p for e, p in owners if e["manager"] == manager and e["operation"] == "Update"), set()
    )
    mine_paths = current | changed
    return _rebuild(owners, _entry(manager, "Update", api_version, mine_paths), mine_paths)


def apply(
    schemas: Schemas,
    definition: str,
    live: Obj | None,
    config: Obj,
    manager: str,
    force: bool,
    api_version: str,
) -> Obj:
    """The object after applying ``config`` as ``manager`` (managedFields included)."""
    config_paths = field_paths(schemas, definition, config)
    owners = _owner_sets(_entries(live))
    conflicts: dict[str, list[Path]] = {}
    # values conflict, not the maps or list items holding them
    inner = {p[:n] for p in config_paths for n in range(len(p))}
    leaves = config_paths - inner
    for e, paths in owners:
        if e["manager"] == manager and e["operation"] == "Apply":
            continue
        for p in sorted(leaves & paths):
            if live is not None and _value_at(live, p) != _value_at(config, p):
                conflicts.setdefault(e["manager"], []).append(p)
    if conflicts and not force:
        raise _conflict(conflicts, owners)
    if conflicts:
        taken = {p for ps in conflicts.values() for p in ps}
        owners = [(e, paths - taken if e["manager"] in conflicts else paths) for e, paths in owners]
    previous = next(
        (p for e, p in owners if e["manager"] == manager and e["operation"] == "Apply"), set()
    )
    merged: Obj = _merge(
        schemas, {"$ref": f"#/components/schemas/{definition}"}, live or {}, config
    )
    others = set().union(
        *(p for e, p in owners if not (e["manager"] == manager and e["operation"] == "Apply"))
    )
    for p in sorted(previous - config_paths, key=len, reverse=True):
        if p not in others and not any(o[: len(p)] == p for o in others):
            _remove_at(merged, p)
    meta = merged.setdefault("metadata", {})
    meta["managedFields"] = _rebuild(
        owners, _entry(manager, "Apply", api_version, config_paths), config_paths
    )
    return merged


def _conflict(conflicts: dict[str, list[Path]], owners: list[tuple[Obj, set[Path]]]) -> ApiError:
    versions = {e["manager"]: e.get("apiVersion", "") for e, _ in owners}
    total = sum(len(v) for v in conflicts.values())
    parts = []
    causes = []
    for mgr, paths in conflicts.items():
        for p in paths:
            causes.append(
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{mgr}" using {versions.get(mgr, "")}',
                    "field": _human(p),
                }
            )
        if len(paths) == 1:
            parts.append(f'conflict with "{mgr}" using {versions.get(mgr, "")}: {_human(paths[0])}')
        else:
            lines = "\n".join(f"- {_human(p)}" for p in paths)
            parts.append(f'conflicts with "{mgr}" using {versions.get(mgr, "")}:\n{lines}')
    plural = "conflict" if total == 1 else "conflicts"
    return ApiError(
        409,
        "Conflict",
        f"Apply failed with {total} {plural}: " + "\n".join(parts),
        {"causes": causes},
    )


def _merge(schemas: Schemas, schema: Obj | None, live: Any, config: Any) -> Any:
    """The applied configuration over the live object: maps merge, map-lists merge by key,
    sets gain members, anything else is the configuration's."""
    resolved = schemas.resolve(schema) if schema else {}
    if not isinstance(config, dict) or not isinstance(live, dict):
        return copy.deepcopy(config)
    out = copy.deepcopy(live)
    props = resolved.get("properties")
    extra = resolved.get("additionalProperties")
    name = _def_name(schema)
    for k, v in config.items():
        sub = props.get(k) if props is not None else extra if isinstance(extra, dict) else None
        if isinstance(v, list) and props is not None and sub is not None:
            kind, keys = schemas.list_type(name, k)
            items = schemas.resolve(sub).get("items") or sub.get("items")
            found = out.get(k)
            cur: list[Any] = found if isinstance(found, list) else []
            if kind == "map" and all(isinstance(i, dict) for i in v):
                merged = list(cur)
                for item in v:
                    at = next(
                        (
                            n
                            for n, c in enumerate(merged)
                            if isinstance(c, dict) and all(c.get(x) == item.get(x) for x in keys)
                        ),
                        None,
                    )
                    if at is None:
                        merged.append(copy.deepcopy(item))
                    else:
                        merged[at] = _merge(schemas, items, merged[at], item)
                out[k] = merged
            elif kind == "set":
                out[k] = list(cur) + [x for x in v if x not in cur]
            else:
                out[k] = copy.deepcopy(v)
        elif isinstance(v, dict):
            out[k] = _merge(schemas, sub, out.get(k), v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def require_manager(field_manager: str | None) -> str:
    if not field_manager:
        raise ApiError(
            422,
            "Invalid",
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
            "for apply patch",
        )
    return field_manager
