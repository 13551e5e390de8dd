"""ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) as the API server enforces it,
with a real CEL evaluator (cel-python), so the tool's namespace fence is tested for real.

Served: policies and bindings (cluster-scoped, stored like any object). On every pod or
DaemonSet CREATE/UPDATE (the API's and the DaemonSet controller's) ``admit`` finds the bindings
whose ``matchResources.namespaceSelector`` selects the object's namespace and whose policy's
``matchConstraints.resourceRules`` match, evaluates the policy's ``variables`` (in order, as
``variables.<name>``) and ``validations`` against ``object`` / ``oldObject``, and denies with
the API server's words: ``pods "x" is forbidden: ValidatingAdmissionPolicy 'p' with binding
'b' denied request: <message>`` (403, or the validation's ``reason``). A false result or an
evaluation error denies under ``failurePolicy: Fail`` (the default); ``validationActions``
without ``Deny`` only allow. A policy whose expressions do not compile is refused at create
(422), as the API server's type check would. Supported: what CEL itself offers through
cel-python (``has``, ``all``, ``exists``, ``in``, ``size``, ``startsWith``, list equality, the
conditional operator); not supported: ``matchConditions``, ``paramKind``, ``auditAnnotations``,
``messageExpression``, label selectors other than ``matchLabels``.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

from .store import KINDS, ApiError, KubeStore, Obj, invalid

POLICIES = "validatingadmissionpolicies"
BINDINGS = "validatingadmissionpolicybindings"
_GROUP_OF = {"pods": "", "daemonsets": "apps"}

_ENV = celpy.Environment()
_LOCK = threading.Lock()
_CACHE: dict[str, Any] = {}  # expression text -> compiled program


# A validation that reads nothing but ``variables.<name>.<field>`` chains has one value for one
# value of those chains (CEL is pure), so its result is kept per (expression, their values):
# the pods of one rollout differ in name and node only, and each create otherwise walked every
# validation through cel-python's tree interpreter again (~30 ms a pod, serialized on the
# emulator's loop: the bottleneck of a 100-pod rollout). Anything else (``object``, a whole
# variable, indexing) is evaluated every time.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_OTHER_INPUTS = re.compile(r"\b(?:object|oldObject|namespaceObject|request|params|authorizer)\b")
_CHAIN = re.compile(r"\bvariables\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)")
# triple-quoted, raw or bytes literals: not split reliably by _STRINGS, so never kept
_OTHER_LITERALS = re.compile(r"\'\'\'|\"\"\"|\b[rRbB]+[\'\"]")
_READS: dict[str, tuple[tuple[str, str], ...] | None] = {}
_RESULTS: dict[tuple[Any, ...], Any] = {}
_RESULTS_MAX = 4096
_MISSING = object()


def _reads(expression: str) -> tuple[tuple[str, str], ...] | None:
    """The ``variables.<name>.<field>`` chains ``expression`` reads when they are all it reads
    (its value then depends on their values only); None otherwise."""
    with _LOCK:
        if expression in _READS:
            return _READS[expression]
    code = _STRINGS.sub('""', expression)
    if _OTHER_LITERALS.search(expression):
        code = "object"  # read as reading anything
    chains = [(m.group(1), m.group(2)) for m in _CHAIN.finditer(code)]
    plain = _OTHER_INPUTS.search(code) is None and code.count("variables") == len(chains)
    found = tuple(sorted(set(chains))) if plain and chains else None
    with _LOCK:
        _READS[expression] = found
    return found


def _inputs(variables: dict[Any, Any], reads: tuple[tuple[str, str], ...]) -> str | None:
    """The values of ``reads`` as one key (None when a variable is an error value)."""
    parts = []
    for name, fieldname in reads:
        value = variables.get(celtypes.StringType(name), _MISSING)
        if isinstance(value, BaseException):
            return None
        if value is not _MISSING and isinstance(value, dict):
            value = value.get(celtypes.StringType(fieldname), _MISSING)
        parts.append("<missing>" if value is _MISSING else repr(value))
    return "\x00".join(parts)


def _evaluate(expression: str, activation: dict[str, Any], variables: dict[Any, Any]) -> Any:
    """The expression's value (an exception for an evaluation error), kept per its inputs."""
    reads = _reads(expression)
    key = None
    if reads is not None:
        inputs = _inputs(variables, reads)
        if inputs is not None:
            key = (expression, inputs)
            with _LOCK:
                if key in _RESULTS:
                    return _RESULTS[key]
    try:
        result: Any = _program(expression).evaluate(activation)
    except Exception as exc:  # evaluation errors deny under failurePolicy Fail
        result = exc
    if key is not None:
        with _LOCK:
            if len(_RESULTS) >= _RESULTS_MAX:
                _RESULTS.clear()
            _RESULTS[key] = result
    return result


def _program(expression: str) -> Any:
    with _LOCK:
        prog = _CACHE.get(expression)
        if prog is None:
            prog = _ENV.program(_ENV.compile(expression))
            _CACHE[expression] = prog
        return prog


def prepare(resource: str, obj: Obj) -> Obj:
    """Validate a policy or binding body (every expression compiles); sets apiVersion/kind."""
    name = str((obj.get("metadata") or {}).get("name") or "")
    spec = obj.get("spec")
    if not name or not isinstance(spec, dict):
        raise invalid(resource, name, [("FieldValueRequired", "spec", "Required value")])
    if resource == POLICIES:
        for i, v in enumerate(spec.get("variables") or []):
            _check_compiles(resource, name, f"spec.variables[{i}].expression", v)
        for i, v in enumerate(spec.get("validations") or []):
            _check_compiles(resource, name, f"spec.validations[{i}].expression", v)
    elif not spec.get("policyName"):
        raise invalid(resource, name, [("FieldValueRequired", "spec.policyName", "Required value")])
    obj["apiVersion"], obj["kind"] = KINDS[resource][0], KINDS[resource][1]
    return obj


def _check_compiles(resource: str, name: str, field: str, item: Any) -> None:
    expression = str((item or {}).get("expression") or "")
    try:
        _program(expression)
    except Exception as exc:  # celpy raises its parse/compile errors under several types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise invalid(
            resource,
            name,
            [("FieldValueInvalid", field, f"Invalid value: compilation failed: {first}")],
        ) from None


def _rule_matches(rules: list[Obj], group: str, resource: str, operation: str) -> bool:
    for r in rules:
        groups, res, ops = r.get("apiGroups") or [], r.get("resources") or [], r.get("operations")
        if (
            ("*" in groups or group in groups)
            and ("*" in res or resource in res)
            and (not ops or "*" in ops or operation in ops)
        ):
            return True
    return False


def _selected(selector: Obj | None, labels: dict[str, str]) -> bool:
    want = (selector or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in want.items())


def _true(value: Any) -> bool:
    return isinstance(value, celtypes.BoolType) and bool(value)


def admit(
    store: KubeStore, resource: str, operation: str, obj: Obj, old: Obj | None = None
) -> None:
    """Raise the API server's denial when a bound policy rejects ``obj``; else return."""
    bindings = store.list(BINDINGS, None)
    if not bindings or resource not in _GROUP_OF:
        return
    ns = str(obj.get("metadata", {}).get("namespace") or "")
    ns_obj = store.get("namespaces", "", ns) or {}
    ns_labels = dict((ns_obj.get("metadata") or {}).get("labels") or {})
    ns_labels.setdefault("kubernetes.io/metadata.name", ns)
    group = _GROUP_OF[resource]
    for b in bindings:
        bspec = b.get("spec") or {}
        actions = bspec.get("validationActions") or []
        policy = store.get(POLICIES, "", str(bspec.get("policyName") or ""))
        if policy is None or "Deny" not in actions:
            continue
        pspec = policy.get("spec") or {}
        constraints = pspec.get("matchConstraints") or {}
        if not _rule_matches(constraints.get("resourceRules") or [], group, resource, operation):
            continue
        if not _selected(constraints.get("namespaceSelector"), ns_labels):
            continue
        if not _selected((bspec.get("matchResources") or {}).get("namespaceSelector"), ns_labels):
            continue
        message = _first_failure(pspec, resource, obj, old, ns_obj)
        if message is not None:
            kind = KINDS[resource]
            name = obj.get("metadata", {}).get("name", "")
            qualified = resource if not group else f"{resource}.{group}"
            raise ApiError(
                403,
                "Forbidden",
                f'{qualified} "{name}" is forbidden: ValidatingAdmissionPolicy '
                f"'{policy['metadata']['name']}' with binding '{b['metadata']['name']}' "
                f"denied request: {message}",
                {"name": name, "kind": kind[1].lower() + "s"},
            )


def _first_failure(pspec: Obj, resource: str, obj: Obj, old: Obj | None, ns_obj: Obj) -> str | None:
    """The message of the first validation that is not true (None when all pass)."""
    api_version, kind, _ = KINDS[resource]
    full = {**obj, "apiVersion": api_version, "kind": kind}
    activation: dict[str, Any] = {
        "object": json_to_cel(full),
        "oldObject": json_to_cel(old) if old is not None else None,
        "namespaceObject": json_to_cel(ns_obj),
    }
    fail = (pspec.get("failurePolicy") or "Fail") == "Fail"
    variables: dict[Any, Any] = {}
    for v in pspec.get("variables") or []:
        activation["variables"] = celtypes.MapType(variables)
        try:
            value = _program(str(v["expression"])).evaluate(activation)
        except Exception as exc:  # an evaluation error: the variable is an error value
            value = exc
        variables[celtypes.StringType(str(v["name"]))] = value
    activation["variables"] = celtypes.MapType(variables)
    for check in pspec.get("validations") or []:
        expression = str(check.get("expression") or "")
        result = _evaluate(expression, activation, variables)
        if _true(result):
            continue
        if not isinstance(result, celtypes.BoolType) and not fail:
            continue  # an error with failurePolicy Ignore
        return str(check.get("message") or f"failed expression: {expression}")
    return None
