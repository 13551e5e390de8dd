"""The schemas of the kinds served, derived from the `kubernetes` client's generated models
(their field names, types, required flags and descriptions are the API's own), plus a short
table of list semantics the models do not carry. One source for three uses: the OpenAPI
documents (openapi.py), the API server's field validation and pruning of unknown fields, and
server-side apply's merge of lists (ssa.py).

Contract:
- ``load()`` builds the definitions once per process (importing the client's models takes a
  second or two: ``register_kube_routes`` starts it in a thread at startup) and returns the
  ``Schemas``: ``definitions`` keyed by OpenAPI name (``io.k8s.api.core.v1.Pod``), each an
  OpenAPI v3 schema object whose references are ``#/components/schemas/<name>``, and
  ``by_resource[resource]`` the name of each served kind's definition.
- ``Schemas.unknown_fields(name, obj)`` lists the fields of ``obj`` the schema does not declare,
  as the API server names them (``spec.containers[0].imagePullPolcy``), and
  ``Schemas.prune(name, obj)`` returns ``obj`` without them (what the server stores).
  Free-form fields (``fieldsV1``, int-or-string) are not looked into.
- ``Schemas.list_type(name, field)`` is ``("map", keys)``, ``("set", ())`` or
  ``("atomic", ())``, as the API's ``x-kubernetes-list-type`` markers say for the lists of the
  kinds served (lists without a marker are atomic, as in the API).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Obj = dict[str, Any]

# resource -> (group, version, kind, the client's model class)
KIND_MODELS: dict[str, tuple[str, str, str, str]] = {
    "pods": ("", "v1", "Pod", "V1Pod"),
    "namespaces": ("", "v1", "Namespace", "V1Namespace"),
    "configmaps": ("", "v1", "ConfigMap", "V1ConfigMap"),
    "nodes": ("", "v1", "Node", "V1Node"),
    "events": ("", "v1", "Event", "CoreV1Event"),
    "daemonsets": ("apps", "v1", "DaemonSet", "V1DaemonSet"),
    "events.k8s.io": ("events.k8s.io", "v1", "Event", "EventsV1Event"),
    "selfsubjectaccessreviews": (
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "V1SelfSubjectAccessReview",
    ),
    "validatingadmissionpolicies": (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "V1ValidatingAdmissionPolicy",
    ),
    "validatingadmissionpolicybindings": (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "V1ValidatingAdmissionPolicyBinding",
    ),
}
# core types an apps or events kind reaches first (they live in core/v1 all the same)
_CORE_SEEDS = ("V1PodTemplateSpec", "V1ObjectReference")
_META = {
    "ObjectMeta",
    "ListMeta",
    "OwnerReference",
    "ManagedFieldsEntry",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Condition",
    "Status",
    "StatusDetails",
    "StatusCause",
    "DeleteOptions",
    "Preconditions",
}
_PACKAGES = {
    "": "io.k8s.api.core.v1",
    "apps": "io.k8s.api.apps.v1",
    "events.k8s.io": "io.k8s.api.events.v1",
    "authorization.k8s.io": "io.k8s.api.authorization.v1",
    "admissionregistration.k8s.io": "io.k8s.api.admissionregistration.v1",
}
_META_PACKAGE = "io.k8s.apimachinery.pkg.apis.meta.v1"
_CLASS = re.compile(r"^(?:[A-Z][a-z]+)?V\d+(?:alpha\d+|beta\d+)?(?P<name>[A-Z]\w*)$")

# (definition short name, json field) -> list semantics (the API's +listType markers)
_LISTS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("PodSpec", "containers"): ("map", ("name",)),
    ("PodSpec", "initContainers"): ("map", ("name",)),
    ("PodSpec", "ephemeralContainers"): ("map", ("name",)),
    ("PodSpec", "volumes"): ("map", ("name",)),
    ("PodSpec", "imagePullSecrets"): ("map", ("name",)),
    ("PodSpec", "hostAliases"): ("map", ("ip",)),
    ("Container", "env"): ("map", ("name",)),
    ("Container", "ports"): ("map", ("containerPort", "protocol")),
    ("Container", "volumeMounts"): ("map", ("mountPath",)),
    ("ObjectMeta", "finalizers"): ("set", ()),
    ("ObjectMeta", "ownerReferences"): ("map", ("uid",)),
    ("ValidatingAdmissionPolicySpec", "validations"): ("atomic", ()),
    ("ValidatingAdmissionPolicySpec", "matchConditions"): ("map", ("name",)),
    ("ValidatingAdmissionPolicySpec", "variables"): ("atomic", ()),
    ("ValidatingAdmissionPolicyBindingSpec", "validationActions"): ("set", ()),
}


@dataclass
class Schemas:
    definitions: dict[str, Obj] = field(default_factory=dict)
    by_resource: dict[str, str] = field(default_factory=dict)
    short: dict[str, str] = field(default_factory=dict)  # OpenAPI name -> short name

    def resolve(self, schema: Obj) -> Obj:
        """A schema with its reference followed (refs are ``allOf: [{$ref}]`` or ``$ref``)."""
        ref = schema.get("$ref") or next(
            (s["$ref"] for s in schema.get("allOf") or [] if "$ref" in s), None
        )
        if ref:
            return self.definitions[ref.rsplit("/", 1)[1]]
        return schema

    def list_type(self, name: str, json_field: str) -> tuple[str, tuple[str, ...]]:
        return _LISTS.get((self.short.get(name, name), json_field), ("atomic", ()))

    def unknown_fields(self, name: str, obj: Any) -> list[str]:
        out: list[str] = []
        self._walk(self.definitions[name], obj, "", out, prune=False)
        return out

    def prune(self, name: str, obj: Any) -> Any:
        return self._walk(self.definitions[name], obj, "", [], prune=True)

    def _walk(self, schema: Obj, value: Any, path: str, out: list[str], prune: bool) -> Any:
        schema = self.resolve(schema)
        if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
            "x-kubernetes-int-or-string"
        ):
            return value
        if isinstance(value, dict):
            props = schema.get("properties")
            extra = schema.get("additionalProperties")
            if props is None and isinstance(extra, dict):
                return {
                    k: self._walk(extra, v, f"{path}[{k}]" if path else k, out, prune)
                    for k, v in value.items()
                }
            if props is None:
                return value
            kept: Obj = {}
            for k, v in value.items():
                where = f"{path}.{k}" if path else k
                if k not in props:
                    out.append(where)
                    if not prune:
                        kept[k] = v
                    continue
                kept[k] = self._walk(props[k], v, where, out, prune)
            return kept
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [
                self._walk(schema["items"], v, f"{path}[{i}]", out, prune)
                for i, v in enumerate(value)
            ]
        return value


_lock = threading.Lock()
_loaded: Schemas | None = None


def load() -> Schemas:
    """The definitions of every served kind and what they reach (built once per process)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _build()
        return _loaded


@dataclass
class _Model:
    """One model class of the client, read from its source: json name -> (type, annotation,
    description, required)."""

    name: str
    doc: str
    fields: dict[str, tuple[str, str, str, bool]]


_BLOCK = re.compile(
    r"^    (openapi_types|attribute_map)(?:: ClassVar\[Dict\[str, str\]\])? = (\{.*?^    \})",
    re.M | re.S,
)
_FIELD = re.compile(r"^    (\w+): (.*)$", re.M)
_DOC = re.compile(r'^class \w+\(.*?\):\n    """(.*?)"""', re.M | re.S)


def _models_dir() -> Path:
    spec = importlib.util.find_spec("kubernetes")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the kubernetes client is not installed (the emulator needs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "client" / "models"


def _read_model(models: Path, exports: dict[str, str], cls: str) -> _Model:
    """Read the class's source instead of importing it: the ~200 pydantic classes the served
    kinds reach take seconds to import, their source a fraction of that to scan."""
    text = (models / f"{exports[cls]}.py").read_text(encoding="utf-8")
    blocks = {m.group(1): ast.literal_eval(m.group(2)) for m in _BLOCK.finditer(text)}
    types: dict[str, str] = blocks["openapi_types"]
    json_names: dict[str, str] = blocks["attribute_map"]
    notes: dict[str, tuple[str, str, bool]] = {}
    for m in _FIELD.finditer(text):
        if m.group(1) not in types:
            continue
        node = ast.parse(m.group(0).strip()).body[0]
        if not isinstance(node, ast.AnnAssign):
            continue
        annotation = ast.unparse(node.annotation)
        desc = ""
        if isinstance(node.value, ast.Call):
            for kw in node.value.keywords:
                if kw.arg == "description" and isinstance(kw.value, ast.Constant):
                    desc = str(kw.value.value)
        notes[m.group(1)] = (annotation, desc, not annotation.startswith("Optional["))
    doc = _DOC.search(text)
    return _Model(
        cls,
        " ".join((doc.group(1) if doc else "").split()).split(" Attributes:")[0],
        {json_names[py]: (typ, *notes.get(py, ("", "", False))) for py, typ in types.items()},
    )


def _build() -> Schemas:
    models = _models_dir()
    exports = dict(re.findall(r'"(\w+)": "\.(\w+)"', (models / "__init__.py").read_text()))
    s = Schemas()
    package_of: dict[str, str] = {}
    read: dict[str, _Model] = {}

    def visit(cls_name: str, group: str) -> None:
        stack = [cls_name]
        while stack:
            c = stack.pop()
            if c in package_of:
                continue
            short = _short(c)
            package_of[c] = _META_PACKAGE if short in _META else _PACKAGES[group]
            read[c] = _read_model(models, exports, c)
            for typ, *_ in read[c].fields.values():
                stack.extend(_model_refs(typ))

    for c in _CORE_SEEDS:
        visit(c, "")
    for group, _, _, cls in KIND_MODELS.values():
        visit(cls, group)
    names = {c: f"{package_of[c]}.{_short(c)}" for c in read}
    for c, model in read.items():
        s.definitions[names[c]] = _definition(model, names)
        s.short[names[c]] = _short(c)
    for resource, (group, version, kind, cls) in KIND_MODELS.items():
        name = names[cls]
        s.by_resource[resource] = name
        s.definitions[name]["x-kubernetes-group-version-kind"] = [
            {"group": group, "kind": kind, "version": version}
        ]
    return s


def _short(cls_name: str) -> str:
    m = _CLASS.match(cls_name)
    return m.group("name") if m else cls_name


def _model_refs(typ: str) -> list[str]:
    return [t for t in re.findall(r"[A-Z]\w+", typ) if t not in ("List", "Dict")]


def _definition(model: _Model, names: dict[str, str]) -> Obj:
    props: Obj = {}
    required: list[str] = []
    short = _short(model.name)
    for js, (typ, annotation, desc, is_required) in model.fields.items():
        prop = _type(typ, names, annotation)
        if desc:
            prop = {"allOf": [prop], "description": desc} if "$ref" in prop else prop
            prop.setdefault("description", desc)
        list_type = _LISTS.get((short, js))
        if list_type is not None and prop.get("type") == "array":
            prop["x-kubernetes-list-type"] = list_type[0]
            if list_type[1]:
                prop["x-kubernetes-list-map-keys"] = list(list_type[1])
                prop["x-kubernetes-patch-merge-key"] = list_type[1][0]
                prop["x-kubernetes-patch-strategy"] = "merge"
        props[js] = prop
        if is_required:
            required.append(js)
    out: Obj = {"type": "object", "properties": props}
    if model.doc and not model.doc.startswith(model.name):
        out["description"] = model.doc
    if required:
        out["required"] = required
    return out


def _type(typ: str, names: dict[str, str], annotation: str) -> Obj:
    typ = typ.strip()
    inner = re.match(r"^(?:List\[|list\[)(.*)\]$", typ)
    if inner:
        return {"type": "array", "items": _type(inner.group(1), names, "")}
    inner = re.match(r"^(?:Dict\[str, *|dict\(str, *)(.*)[\])]$", typ)
    if inner:
        return {"type": "object", "additionalProperties": _type(inner.group(1), names, "")}
    simple = {
        "str": {"type": "string"},
        "int": {"type": "integer", "format": "int64"},
        "float": {"type": "number", "format": "double"},
        "bool": {"type": "boolean"},
        "datetime": {"type": "string", "format": "date-time"},
        "date": {"type": "string", "format": "date"},
        "bytearray": {"type": "string", "format": "byte"},
    }
    if typ in simple:
        return dict(simple[typ])
    if typ == "object":
        if "StrictInt" in annotation and "StrictStr" in annotation:
            return {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if typ in names:
        return {"$ref": f"#/components/schemas/{names[typ]}"}
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
