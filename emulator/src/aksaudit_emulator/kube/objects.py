"""Defaulting, validation and admission of objects on create/update, shared by the API and the
DaemonSet controller (which creates its pods through the same admission path)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from . import psa, vap
from .store import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    KINDS,
    ApiError,
    KubeStore,
    Obj,
    labels_match,
    not_found,
    now_iso,
    random_suffix,
    selector_from_match,
)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _name(resource: str, obj: Obj) -> str:
    """Resolve generateName and check the name is a valid DNS name."""
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ApiError(400, "BadRequest", "metadata must be an object")
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = f"{meta['generateName']}{random_suffix()}"
    name = meta.get("name") or ""
    if not name:
        kind = KINDS[resource][1]
        raise ApiError(
            422,
            "Invalid",
            f'{kind} "" is invalid: metadata.name: Required value: name or generateName is '
            "required",
            {
                "kind": kind,
                "causes": [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value: name or generateName is required",
                        "field": "metadata.name",
                    }
                ],
            },
        )
    pattern = DNS1123_LABEL if resource == "namespaces" else DNS1123_SUBDOMAIN
    if len(name) > 253 or not pattern.match(name):
        from .store import invalid

        raise invalid(
            resource,
            name,
            [
                (
                    "FieldValueInvalid",
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                    "lower case alphanumeric characters, '-' or '.', and must start and end with "
                    "an alphanumeric character",
                )
            ],
        )
    return str(name)


# Metadata only the server writes: what a client sends there on create is dropped (kubectl
# sends `creationTimestamp: null`; a copy of a live object carries all of them).
_SYSTEM_FIELDS = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
    "managedFields",
)


def reset_system_fields(obj: Obj) -> None:
    """What the API server does to a create's metadata before storing it: drop the system
    fields; a resourceVersion is refused (etcd3 store: 500, as on a real server)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return
    if meta.get("resourceVersion"):
        raise ApiError(
            500,
            "InternalError",
            "Internal error occurred: resourceVersion should not be set on objects to be created",
            {"causes": [{"message": "resourceVersion should not be set on objects to be created"}]},
        )
    meta.pop("resourceVersion", None)
    for key in _SYSTEM_FIELDS:
        meta.pop(key, None)


def check_body_kind(resource: str, obj: Any) -> None:
    if not isinstance(obj, dict):
        raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
    api_version, kind, _ = KINDS[resource]
    if obj.get("kind") not in (None, "", kind):
        raise ApiError(
            400,
            "BadRequest",
            f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
            f"API version ({api_version})",
        )


def require_namespace(store: KubeStore, namespace: str, creating: bool) -> None:
    ns = store.get("namespaces", "", namespace)
    if ns is None:
        raise not_found("namespaces", namespace)
    if creating and ns.get("status", {}).get("phase") == "Terminating":
        raise ApiError(
            403,
            "Forbidden",
            f"unable to create new content in namespace {namespace} because it is being terminated",
            {"name": namespace, "kind": "namespaces"},
        )


def prepare_namespace(obj: Obj) -> Obj:
    name = _name("namespaces", obj)
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}
    return obj


def prepare_configmap(obj: Obj, namespace: str) -> Obj:
    name = _name("configmaps", obj)
    obj["metadata"]["namespace"] = namespace
    data = obj.get("data") or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        from .store import invalid

        raise invalid("configmaps", name, [("FieldValueInvalid", "data", "Invalid value")])
    return obj


def _validate_pod_spec(resource: str, name: str, spec: Any, prefix: str) -> None:
    from .store import invalid

    causes: list[tuple[str, str, str]] = []
    if not isinstance(spec, dict):
        raise invalid(resource, name, [("FieldValueRequired", prefix, "Required value")])
    containers = spec.get("containers")
    if not containers or not isinstance(containers, list):
        causes.append(("FieldValueRequired", f"{prefix}.containers", "Required value"))
    else:
        for i, c in enumerate(containers):
            if not isinstance(c, dict) or not c.get("name"):
                causes.append(
                    ("FieldValueRequired", f"{prefix}.containers[{i}].name", "Required value")
                )
            if not isinstance(c, dict) or not c.get("image"):
                causes.append(
                    ("FieldValueRequired", f"{prefix}.containers[{i}].image", "Required value")
                )
    rp = spec.get("restartPolicy", "Always")
    if rp not in ("Always", "OnFailure", "Never"):
        causes.append(
            (
                "FieldValueNotSupported",
                f"{prefix}.restartPolicy",
                f'Unsupported value: "{rp}": supported values: "Always", "OnFailure", "Never"',
            )
        )
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or ads <= 0):
        causes.append(
            (
                "FieldValueInvalid",
                f"{prefix}.activeDeadlineSeconds",
                f"Invalid value: {ads}: must be between 1 and 2147483647, inclusive",
            )
        )
    if causes:
        raise invalid(resource, name, causes)


def _default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    for c in spec.get("containers") or []:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for probe in ("readinessProbe", "livenessProbe"):
            p = c.get(probe)
            if isinstance(p, dict):
                p.setdefault("periodSeconds", 10)
                p.setdefault("timeoutSeconds", 1)
                p.setdefault("successThreshold", 1)
                p.setdefault("failureThreshold", 3)
    for v in spec.get("volumes") or []:
        if isinstance(v.get("configMap"), dict):
            v["configMap"].setdefault("defaultMode", 0o644)
    tolerations = spec.setdefault("tolerations", [])
    # The admission plugin DefaultTolerationSeconds adds these to every pod.
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(
            t.get("key") == key or (t.get("operator") == "Exists" and not t.get("key"))
            for t in tolerations
        ):
            tolerations.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            )


def prepare_pod(store: KubeStore, obj: Obj, namespace: str) -> Obj:
    """Validate, default and admit (Pod Security) a pod; raises ApiError like the API server."""
    name = _name("pods", obj)
    obj["metadata"]["namespace"] = namespace
    _validate_pod_spec("pods", name, obj.get("spec"), "spec")
    require_namespace(store, namespace, creating=True)
    ns = store.get("namespaces", "", namespace) or {}
    psa.check_pod(obj, ns.get("metadata", {}).get("labels") or {})
    vap.admit(store, "pods", "CREATE", obj)
    _default_pod_spec(obj["spec"])
    _priority(obj)
    obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj["spec"])}
    if obj["spec"].get("nodeName"):
        obj["status"]["conditions"] = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_iso()}
        ]
    return obj


_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def _priority(pod: Obj) -> None:
    """The Priority admission plugin: resolve priorityClassName (built-in classes only)."""
    spec = pod["spec"]
    name = spec.get("priorityClassName")
    if not name:
        return
    if name not in _PRIORITY_CLASSES:
        raise ApiError(
            403,
            "Forbidden",
            f'pods "{pod["metadata"]["name"]}" is forbidden: no PriorityClass with name {name} '
            "was found",
            {"name": pod["metadata"]["name"], "kind": "pods"},
        )
    spec["priority"] = _PRIORITY_CLASSES[name]
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def qos_class(spec: Obj) -> str:
    """Guaranteed (requests == limits for cpu and memory everywhere), BestEffort (none), or
    Burstable."""
    containers = spec.get("containers") or []
    if not any(
        (c.get("resources") or {}).get(k) for c in containers for k in ("requests", "limits")
    ):
        return "BestEffort"
    for c in containers:
        res = c.get("resources") or {}
        limits = res.get("limits") or {}
        requests = res.get("requests") or limits  # requests default to limits
        for k in ("cpu", "memory"):
            if k not in limits or str(requests.get(k)) != str(limits[k]):
                return "Burstable"
    return "Guaranteed"


def template_hash(template: Obj) -> str:
    raw = json.dumps(template, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:10]


def prepare_daemonset(obj: Obj, namespace: str, old: Obj | None = None) -> Obj:
    from .store import invalid

    name = _name("daemonsets", obj)
    obj["metadata"]["namespace"] = namespace
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise invalid("daemonsets", name, [("FieldValueRequired", "spec", "Required value")])
    selector = spec.get("selector")
    tmpl = spec.get("template") or {}
    tmpl_labels = (tmpl.get("metadata") or {}).get("labels") or {}
    if not selector:
        raise invalid(
            "daemonsets", name, [("FieldValueRequired", "spec.selector", "Required value")]
        )
    if not labels_match(selector_from_match(selector), tmpl_labels):
        raise invalid(
            "daemonsets",
            name,
            [
                (
                    "FieldValueInvalid",
                    "spec.template.metadata.labels",
                    f"Invalid value: {json.dumps(tmpl_labels)}: `selector` does not match "
                    "template `labels`",
                )
            ],
        )
    _validate_pod_spec("daemonsets", name, tmpl.get("spec"), "spec.template.spec")
    rp = tmpl["spec"].get("restartPolicy", "Always")
    if rp != "Always":
        raise invalid(
            "daemonsets",
            name,
            [
                (
                    "FieldValueNotSupported",
                    "spec.template.spec.restartPolicy",
                    f'Unsupported value: "{rp}": supported values: "Always"',
                )
            ],
        )
    _default_pod_spec(tmpl["spec"])
    spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if spec["updateStrategy"].get("type", "RollingUpdate") == "RollingUpdate":
        spec["updateStrategy"].setdefault("rollingUpdate", {})
        spec["updateStrategy"]["rollingUpdate"].setdefault("maxUnavailable", 1)
        spec["updateStrategy"]["rollingUpdate"].setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    generation = 1
    if old is not None:
        generation = old["metadata"].get("generation", 1)
        if old.get("spec") != spec:
            generation += 1
        obj["status"] = copy.deepcopy(old.get("status") or {})
    else:
        obj["status"] = {
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0,
        }
    obj["metadata"]["generation"] = generation
    return obj
