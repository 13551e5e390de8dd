"""Deletion with finalizers and the garbage collector, as the API server and the
kube-controller-manager do them for the kinds served here.

Deleting an object (``delete``) with ``propagationPolicy``:
- ``Background`` (the default for every kind served here): the object goes at once unless it
  carries finalizers; the collector then deletes its dependents (objects whose
  ``ownerReferences`` name its uid and whose owners are all gone).
- ``Foreground``: the object stays, with ``deletionTimestamp``, ``deletionGracePeriodSeconds: 0``
  and the ``foregroundDeletion`` finalizer; the collector deletes every dependent and drops the
  finalizer once no dependent with ``blockOwnerDeletion: true`` is left; then the object goes.
  Meanwhile a create of the same name is 409 AlreadyExists and the DaemonSet controller starts
  no pods for it.
- ``Orphan``: the ``orphan`` finalizer; the collector removes the ownerReference from every
  dependent, then drops the finalizer.
An object with other finalizers stays (``deletionTimestamp`` set) until clients remove them.

Pods are deleted through ``KubeRuntime.delete_pod`` (graceful: the kubelet stops the container
first). Namespaces keep their own termination (controller.finish_namespaces).
"""

from __future__ import annotations

import copy
from typing import Any

from .store import KINDS, ApiError, KubeStore, Obj, now_iso

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
POLICIES = ("Foreground", "Background", "Orphan")
# Kinds that can own or be owned here (namespaces and nodes are neither).
_OWNED_KINDS = ("pods", "configmaps", "daemonsets")
_KIND_OF = {kind: resource for resource, (_, kind, _) in KINDS.items()}


def policy_from(options: dict[str, Any], query_policy: str | None) -> str:
    """The propagation policy a DELETE asks for (query first, then DeleteOptions), checked."""
    policy = query_policy or options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    policy = policy or "Background"
    if policy not in POLICIES:
        raise ApiError(
            422,
            "Invalid",
            f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
            f'"{policy}": supported values: "Foreground", "Background", "Orphan"',
        )
    return policy


def dependents(store: KubeStore, uid: str) -> list[tuple[str, Obj]]:
    """(resource, object) of everything whose ownerReferences name ``uid``."""
    return [
        (resource, o)
        for resource in _OWNED_KINDS
        for o in store.list(resource)
        if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
    ]


def delete(rt: Any, store: KubeStore, resource: str, obj: Obj, policy: str) -> tuple[Obj, bool]:
    """Delete a (non-pod, non-namespace) object; returns (its last state, deleted now)."""
    meta = obj["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if policy == "Foreground" and FOREGROUND not in finalizers:
        finalizers.append(FOREGROUND)
    elif policy == "Orphan" and ORPHAN not in finalizers:
        finalizers.append(ORPHAN)
    if not finalizers:
        store.remove(resource, meta.get("namespace", ""), meta["name"])
        rt.wake.set()
        return obj, True
    new = copy.deepcopy(obj)
    new["metadata"]["finalizers"] = finalizers
    new["metadata"].setdefault("deletionTimestamp", now_iso())
    new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
    if new != obj:
        obj = store.update(resource, new)
    rt.wake.set()
    return obj, False


def _delete_dependent(rt: Any, store: KubeStore, resource: str, obj: Obj) -> None:
    if obj["metadata"].get("deletionTimestamp"):
        return
    if resource == "pods":
        rt.delete_pod(store, obj, grace=True)
    else:
        delete(rt, store, resource, obj, "Background")


def _without_finalizer(store: KubeStore, resource: str, obj: Obj, finalizer: str) -> None:
    new = copy.deepcopy(obj)
    rest = [f for f in new["metadata"].get("finalizers") or [] if f != finalizer]
    meta = new["metadata"]
    if rest:
        meta["finalizers"] = rest
        store.update(resource, new)
    else:
        meta.pop("finalizers", None)
        store.remove(resource, meta.get("namespace", ""), meta["name"])


def finish_if_unfinalized(store: KubeStore, resource: str, obj: Obj) -> Obj | None:
    """An update that left a deleting object without finalizers removes it (like the API
    server); returns what was stored, None when the object went."""
    meta = obj["metadata"]
    if meta.get("deletionTimestamp") and not meta.get("finalizers"):
        store.remove(resource, meta.get("namespace", ""), meta["name"])
        return None
    return obj


def collect(rt: Any, store: KubeStore) -> None:
    """One pass of the garbage collector over a cluster."""
    for resource in ("daemonsets", "configmaps"):
        for obj in store.list(resource):
            meta = obj["metadata"]
            finalizers = meta.get("finalizers") or []
            if not meta.get("deletionTimestamp") or not finalizers:
                continue
            uid = meta["uid"]
            deps = dependents(store, uid)
            if ORPHAN in finalizers:
                for dres, dep in deps:
                    new = copy.deepcopy(dep)
                    new["metadata"]["ownerReferences"] = [
                        r for r in dep["metadata"]["ownerReferences"] if r.get("uid") != uid
                    ]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    store.update(dres, new)
                _without_finalizer(store, resource, obj, ORPHAN)
                continue
            if FOREGROUND in finalizers:
                for dres, dep in deps:
                    _delete_dependent(rt, store, dres, dep)
                blocking = [
                    dep
                    for _, dep in dependents(store, uid)
                    if any(
                        r.get("uid") == uid and r.get("blockOwnerDeletion")
                        for r in dep["metadata"].get("ownerReferences") or []
                    )
                ]
                if not blocking:
                    _without_finalizer(store, resource, obj, FOREGROUND)
    # Background: dependents whose owners (of kinds served here) are all gone.
    alive = {o["metadata"]["uid"] for r in _OWNED_KINDS for o in store.list(r)}
    for resource in _OWNED_KINDS:
        for obj in store.list(resource):
            refs = [
                r
                for r in obj["metadata"].get("ownerReferences") or []
                if _KIND_OF.get(str(r.get("kind"))) in _OWNED_KINDS
            ]
            if refs and not any(r.get("uid") in alive for r in refs):
                _delete_dependent(rt, store, resource, obj)
