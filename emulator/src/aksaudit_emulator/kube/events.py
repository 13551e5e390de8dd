"""Events: what the scheduler, the kubelet and the DaemonSet controller record about a pod, as
core/v1 Events in the pod's namespace (`kubectl get events`, `kubectl describe pod`), and their
events.k8s.io/v1 view.

Contract:
- ``record(store, obj, type, reason, message, component)`` stores one core/v1 Event about
  ``obj`` (a pod, a DaemonSet...). A repeat of the same (object, sub-object, reason, message,
  source) within the aggregation window is one Event whose ``count`` grows and whose
  ``lastTimestamp`` moves, as client-go's event correlator does; a new one is named
  ``<object>.<hex nanoseconds>`` like the real recorder's.
- Reasons and messages are the real components' (kubelet: Pulling, Pulled, Failed, BackOff,
  Created, Started, Killing; default-scheduler: Scheduled, FailedScheduling;
  daemonset-controller: SuccessfulCreate, SuccessfulDelete, FailedCreate).
- At most ``MAX_EVENTS`` per cluster are kept (the oldest go first), standing in for the API
  server's one-hour event TTL; an object in a namespace that is gone or terminating gets none.
- ``eventTime`` is set on every Event (a real kubelet leaves it null; the `kubernetes` client's
  events.k8s.io model requires it, so both views stay readable).
- ``to_events_v1(event)`` is the events.k8s.io/v1 shape of a stored core Event (regarding,
  note, deprecated* fields), the conversion the API server does between the two groups;
  ``from_events_v1(body, namespace, old)`` the other way, for a client writing through
  events.k8s.io/v1 (create, update, patch), with that group's validation: on create
  ``eventTime``, ``reportingController``, ``reportingInstance``, ``action`` and ``reason`` are
  required, ``type`` is Normal or Warning, the deprecated* fields must be unset, a ``series``
  has a count of at least 2 and a ``lastObservedTime``; on update everything but ``series``
  and the metadata is immutable (how client-go's new recorder counts repeats: a patch of
  ``series``).

Events are written to the store like any object (resourceVersion, watch), but the controller
and the kubelet do not wake for them (runtime.py), so recording never feeds back into a resync.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime

from .store import KubeStore, Obj, invalid, now_iso

MAX_EVENTS = 2000
_AGGREGATE_SECONDS = 600.0  # client-go's correlator: 10 minutes

Source = tuple[str, str]  # component, host


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def involved(obj: Obj, field_path: str = "") -> Obj:
    """An ObjectReference to ``obj`` (optionally a container in it: ``spec.containers{x}``)."""
    meta = obj["metadata"]
    ref: Obj = {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if field_path:
        ref["fieldPath"] = field_path
    return ref


def container_path(name: str) -> str:
    return f"spec.containers{{{name}}}"


class Recorder:
    """Per-store event bookkeeping: the aggregation keys and the creation order (for the cap)."""

    def __init__(self) -> None:
        # (uid, fieldPath, reason, message, component) -> (event name, last seen, monotonic)
        self.recent: dict[tuple[str, str, str, str, str], tuple[str, str, float]] = {}
        self.order: list[tuple[str, str]] = []  # (namespace, name), oldest first


def _recorder(store: KubeStore) -> Recorder:
    rec = store.recorder
    if not isinstance(rec, Recorder):
        rec = store.recorder = Recorder()
    return rec


def record(
    store: KubeStore,
    obj: Obj,
    type_: str,
    reason: str,
    message: str,
    source: Source,
    field_path: str = "",
) -> Obj | None:
    """Record (or count again) one Event about ``obj``; None when its namespace cannot hold
    one (gone or terminating)."""
    meta = obj["metadata"]
    ns = meta.get("namespace") or "default"
    ns_obj = store.get("namespaces", "", ns)
    if ns_obj is None or ns_obj.get("status", {}).get("phase") == "Terminating":
        return None
    rec = _recorder(store)
    component, host = source
    key = (meta.get("uid", ""), field_path, reason, message, component)
    now = now_iso()
    hit = rec.recent.get(key)
    if hit is not None and time.monotonic() - hit[2] < _AGGREGATE_SECONDS:
        current = store.get("events", ns, hit[0])
        if current is not None:
            new = copy.deepcopy(current)
            new["count"] = int(new.get("count") or 1) + 1
            new["lastTimestamp"] = now
            rec.recent[key] = (hit[0], now, time.monotonic())
            return store.update("events", new)
    name = f"{meta['name']}.{time.time_ns():x}"
    event: Obj = {
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": involved(obj, field_path),
        "reason": reason,
        "message": message,
        "source": {"component": component, **({"host": host} if host else {})},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": type_,
        "eventTime": _micro_now(),
        "reportingComponent": component,
        "reportingInstance": host,
    }
    stored = store.create("events", event)
    rec.recent[key] = (name, now, time.monotonic())
    rec.order.append((ns, name))
    _trim(store, rec)
    return stored


def _trim(store: KubeStore, rec: Recorder) -> None:
    while len(rec.order) > MAX_EVENTS:
        ns, name = rec.order.pop(0)
        store.remove("events", ns, name)
    if len(rec.recent) > 4 * MAX_EVENTS:
        cutoff = time.monotonic() - _AGGREGATE_SECONDS
        rec.recent = {k: v for k, v in rec.recent.items() if v[2] >= cutoff}


def forget(store: KubeStore, namespace: str, name: str) -> None:
    """An Event deleted by a client: no longer the target of aggregation or trimming."""
    rec = _recorder(store)
    rec.order = [k for k in rec.order if k != (namespace, name)]


def to_events_v1(event: Obj) -> Obj:
    """The events.k8s.io/v1 view of a core/v1 Event."""
    out: Obj = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": event["metadata"],
        "eventTime": event.get("eventTime") or event.get("firstTimestamp"),
        "reportingController": event.get("reportingComponent")
        or (event.get("source") or {}).get("component", ""),
        "reportingInstance": event.get("reportingInstance")
        or (event.get("source") or {}).get("host", ""),
        "action": event.get("action", ""),
        "reason": event.get("reason", ""),
        "regarding": event.get("involvedObject") or {},
        "note": event.get("message", ""),
        "type": event.get("type", ""),
        "deprecatedSource": event.get("source") or {},
        "deprecatedFirstTimestamp": event.get("firstTimestamp"),
        "deprecatedLastTimestamp": event.get("lastTimestamp"),
        "deprecatedCount": event.get("count", 0),
    }
    if event.get("related"):
        out["related"] = event["related"]
    if event.get("series"):
        out["series"] = event["series"]
    return out


def prepare(body: Obj, namespace: str) -> Obj:
    """A core/v1 Event a client creates or replaces: named, in the request's namespace, about
    an object (involvedObject required, its namespace the Event's, as the API server checks)."""
    meta = body.setdefault("metadata", {})
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = f"{meta['generateName']}{time.time_ns():x}"
    name = str(meta.get("name") or "")
    ref = body.get("involvedObject")
    causes: list[tuple[str, str, str]] = []
    if not name:
        causes.append(
            (
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        )
    if not isinstance(ref, dict) or not ref:
        causes.append(("FieldValueRequired", "involvedObject", "Required value"))
    elif ref.get("namespace") not in (None, "", namespace):
        causes.append(
            (
                "FieldValueInvalid",
                "involvedObject.namespace",
                f'Invalid value: "{ref.get("namespace")}": does not match event.namespace',
            )
        )
    if causes:
        raise invalid("events", name, causes)
    meta["namespace"] = namespace
    body.setdefault("count", 1)
    return body


_V1_IMMUTABLE = (
    ("regarding", "involvedObject"),
    ("reason", "reason"),
    ("note", "message"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("action", "action"),
    ("related", "related"),
    ("reportingController", "reportingController"),
    ("reportingInstance", "reportingInstance"),
)
_NOTE_LIMIT = 1024


def from_events_v1(body: Obj, namespace: str, old: Obj | None = None) -> Obj:
    """The core/v1 Event an events.k8s.io/v1 write stores (``old``: the stored Event an update
    replaces), checked as the API server checks that group's writes (422 with causes)."""
    meta = dict(body.get("metadata") or {})
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = f"{meta['generateName']}{time.time_ns():x}"
    name = str(meta.get("name") or "")
    causes: list[tuple[str, str, str]] = []

    def need(field: str, limit: int = 128) -> None:
        value = body.get(field)
        if not value:
            causes.append(("FieldValueRequired", field, "Required value"))
        elif len(str(value)) > limit:
            causes.append(
                ("FieldValueInvalid", field, f"Invalid value: can have at most {limit} characters")
            )

    if not name:
        causes.append(
            (
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        )
    need("eventTime", 64)
    need("reportingController", 253)
    need("reportingInstance")
    need("action")
    need("reason")
    if len(str(body.get("note") or "")) > _NOTE_LIMIT:
        causes.append(
            (
                "FieldValueInvalid",
                "note",
                f"Invalid value: can have at most {_NOTE_LIMIT} characters",
            )
        )
    if body.get("type") not in ("Normal", "Warning"):
        causes.append(
            (
                "FieldValueInvalid",
                "type",
                f'Invalid value: "": has invalid value: {body.get("type") or ""}',
            )
        )
    regarding = body.get("regarding") or {}
    if regarding.get("namespace") not in (None, "", namespace):
        causes.append(
            (
                "FieldValueInvalid",
                "regarding.namespace",
                f'Invalid value: "{regarding.get("namespace")}": does not match event.namespace',
            )
        )
    series = body.get("series")
    if series is not None:
        if int((series or {}).get("count") or 0) < 2:
            causes.append(
                ("FieldValueInvalid", "series.count", "Invalid value: should be at least 2")
            )
        if not (series or {}).get("lastObservedTime"):
            causes.append(("FieldValueRequired", "series.lastObservedTime", "Required value"))
    if old is None:
        for field in ("deprecatedCount", "deprecatedFirstTimestamp", "deprecatedLastTimestamp"):
            if body.get(field):
                causes.append(("FieldValueInvalid", field, "Invalid value: needs to be unset"))
        if any((body.get("deprecatedSource") or {}).values()):
            causes.append(
                ("FieldValueInvalid", "deprecatedSource", "Invalid value: needs to be unset")
            )
    else:
        was = to_events_v1(old)
        for v1_field, core_field in _V1_IMMUTABLE:
            if (body.get(v1_field) or None) != (was.get(v1_field) or None):
                causes.append(
                    ("FieldValueInvalid", core_field, "Invalid value: field is immutable")
                )
    if causes:
        raise invalid("events", name, causes)
    meta["namespace"] = namespace
    event: Obj = {
        "metadata": meta,
        "involvedObject": regarding,
        "reason": body.get("reason", ""),
        "message": body.get("note", ""),
        "type": body.get("type", ""),
        "eventTime": body.get("eventTime"),
        "action": body.get("action", ""),
        "reportingComponent": body.get("reportingController", ""),
        "reportingInstance": body.get("reportingInstance", ""),
        "source": body.get("deprecatedSource") or {},
    }
    for v1_field, core_field in (
        ("related", "related"),
        ("series", "series"),
        ("deprecatedCount", "count"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
    ):
        if body.get(v1_field):
            event[core_field] = body[v1_field]
    return event
