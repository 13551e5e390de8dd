"""One cluster's Kubernetes objects: resourceVersion, a bounded event history per resource
(like the API server's watch cache), watch fan-out.

Stored objects are never mutated in place (every writer stores a fresh dict), so events share
them instead of copying.

Everything here runs on the emulator's event loop (API handlers, controller, kubelet), so the
store needs no lock of its own; watchers get events through unbounded asyncio queues.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

# resource -> (apiVersion, kind, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "nodes": ("v1", "Node", False),
    "namespaces": ("v1", "Namespace", False),
    "pods": ("v1", "Pod", True),
    "configmaps": ("v1", "ConfigMap", True),
    "daemonsets": ("apps/v1", "DaemonSet", True),
    "events": ("v1", "Event", True),
    "validatingadmissionpolicies": (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
        False,
    ),
    "validatingadmissionpolicybindings": (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        False,
    ),
}


def now_iso() -> str:
    """RFC 3339 second precision, as the API server writes timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(n: int = 5) -> str:
    """The API server's generateName alphabet (no vowels, no confusable digits)."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


class ApiError(Exception):
    """A Kubernetes Status failure; api.py turns it into the HTTP response."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _group(resource: str) -> str:
    api_version = KINDS[resource][0]
    return api_version.split("/")[0] if "/" in api_version else ""


def qualified(resource: str) -> str:
    """`pods`, `daemonsets.apps`: how the API server names a resource in messages."""
    group = _group(resource)
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(resource)} "{name}" not found',
        {"name": name, "group": _group(resource), "kind": resource},
    )


def already_exists(resource: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(resource)} "{name}" already exists',
        {"name": name, "group": _group(resource), "kind": resource},
    )


def invalid(resource: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 with field causes: (reason, field, message)."""
    kind = KINDS[resource][1]
    group = _group(resource)
    kind_q = f"{kind}.{group}" if group else kind
    text = ", ".join(f"{f}: {m}" for _, f, m in causes)
    if len(causes) > 1:
        text = "[" + text + "]"
    return ApiError(
        422,
        "Invalid",
        f'{kind_q} "{name}" is invalid: {text}',
        {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [{"reason": r, "message": m, "field": f} for r, f, m in causes],
        },
    )


# ---------------------------------------------------------------- selectors

_LABEL_EXPR = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9./_-]+)\s*"
    r"(?:(?P<op>==|=|!=|\s+in\s+|\s+notin\s+)\s*(?P<val>\([^)]*\)|[A-Za-z0-9._-]*))?\s*$"
)


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    depth = 0
    cur = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


LabelReq = tuple[str, str, frozenset[str]]  # key, op (= != in notin exists !exists), values


def parse_label_selector(text: str | None) -> list[LabelReq]:
    """Parse `a=b,c!=d,e in (x,y),f,!g`; a bad selector is a 400 like the API server's."""
    reqs: list[LabelReq] = []
    if not text:
        return reqs
    for part in _split_top(text):
        m = _LABEL_EXPR.match(part)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part.strip()!r}")
        key, op, val = m.group("key"), (m.group("op") or "").strip(), m.group("val") or ""
        if m.group("neg"):
            if op:
                raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
            reqs.append((key, "!exists", frozenset()))
        elif not op:
            reqs.append((key, "exists", frozenset()))
        elif op in ("=", "=="):
            reqs.append((key, "=", frozenset([val])))
        elif op == "!=":
            reqs.append((key, "!=", frozenset([val])))
        else:
            vals = frozenset(v.strip() for v in val.strip("()").split(",") if v.strip())
            reqs.append((key, op, vals))
    return reqs


def labels_match(reqs: Iterable[LabelReq], labels: dict[str, str]) -> bool:
    for key, op, vals in reqs:
        has = key in labels
        val = labels.get(key)
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
        if op in ("=", "in") and val not in vals:
            return False
        if op in ("!=", "notin") and has and val in vals:
            return False
    return True


def selector_from_match(sel: dict[str, Any] | None) -> list[LabelReq]:
    """A LabelSelector object (matchLabels + matchExpressions) as requirements."""
    reqs: list[LabelReq] = []
    if not sel:
        return reqs
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append((k, "=", frozenset([str(v)])))
    for e in sel.get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}.get(
            e.get("operator", ""), "in"
        )
        reqs.append((e["key"], op, frozenset(e.get("values") or [])))
    return reqs


FieldReq = tuple[str, bool, str]  # path, equal?, value


def parse_field_selector(text: str | None) -> list[FieldReq]:
    reqs: list[FieldReq] = []
    if not text:
        return reqs
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append((k.strip(), False, v.strip()))
        elif "==" in part:
            k, v = part.split("==", 1)
            reqs.append((k.strip(), True, v.strip()))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append((k.strip(), True, v.strip()))
        else:
            raise ApiError(400, "BadRequest", f"invalid selector: '{part}'; can't understand")
    return reqs


def _field_value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for p in path.split("."):
        cur = cur.get(p) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def fields_match(reqs: Iterable[FieldReq], obj: Obj) -> bool:
    return all((_field_value(obj, path) == val) == eq for path, eq, val in reqs)


# ---------------------------------------------------------------- store


@dataclass
class WatchEvent:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    resource: str
    obj: Obj  # the new object (for DELETED: the last state)
    old: Obj | None  # previous state (MODIFIED/DELETED)


@dataclass(eq=False)
class Watcher:
    resource: str
    namespace: str | None
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)


class PodLog:
    """A pod's log, one per container instance (lines of (timestamp, text), capped like a
    rotated container log). As on a node, only the current instance and the one before the last
    restart are kept: ``lines`` is the current one, ``previous`` the one before (None when the
    container never restarted); ``instance`` counts the starts (0: never started)."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self.lines: deque[tuple[str, str]] = deque(maxlen=maxlen)
        self.previous: deque[tuple[str, str]] | None = None
        self.instance = 0
        self.changed = asyncio.Event()
        self.closed = False

    def begin_instance(self) -> None:
        """A new container instance starts: its log starts empty, the current one becomes the
        previous one."""
        if self.instance:
            self.previous = self.lines
            self.lines = deque(maxlen=self.maxlen)
        self.instance += 1
        self._wake()

    def append(self, text: str) -> None:
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.lines.append((ts, text))
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class KubeStore:
    """All objects of one cluster, keyed by (resource, namespace, name)."""

    def __init__(self, cluster: str, history: int = 5000, log_lines: int = 2000) -> None:
        self.cluster = cluster
        self.objects: dict[tuple[str, str, str], Obj] = {}
        # resource -> (namespace, name) -> object: lists do not scan other kinds
        self.index: dict[str, dict[tuple[str, str], Obj]] = {r: {} for r in KINDS}
        self.rv = 1
        self.history_size = history
        self.history: dict[str, deque[WatchEvent]] = {}  # resource -> its recent events
        self.compacted: dict[str, int] = {}  # resource -> newest rv dropped from its history
        self.watchers: set[Watcher] = set()
        # objects created, by resource (tests: read-only commands create no pod)
        self.creations: Counter[str] = Counter()
        self.listeners: list[Callable[[WatchEvent], None]] = []
        self.logs: dict[tuple[str, str], PodLog] = {}
        self.log_lines = log_lines
        self.created = time.monotonic()
        # newest resourceVersion of a write that is not an Event: what the controller resyncs on
        self.work_rv = self.rv
        self.recorder: object | None = None  # events.Recorder, created on the first Event

    # -- reads
    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get((resource, namespace, name))

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Objects of a kind (in a namespace), sorted by namespace and name like the server."""
        items = self.index.get(resource, {})
        keys = sorted(k for k in items if namespace is None or k[0] == namespace)
        return [items[k] for k in keys]

    # -- writes
    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _emit(self, ev: WatchEvent) -> None:
        if ev.resource != "events":
            self.work_rv = ev.rv
        hist = self.history.get(ev.resource)
        if hist is None:
            hist = self.history[ev.resource] = deque(maxlen=self.history_size)
        if len(hist) == hist.maxlen:
            self.compacted[ev.resource] = hist[0].rv
        hist.append(ev)
        for w in list(self.watchers):
            if w.resource == ev.resource and (
                w.namespace is None or w.namespace == ev.obj["metadata"].get("namespace")
            ):
                w.queue.put_nowait(ev)
        for cb in list(self.listeners):
            cb(ev)

    def create(self, resource: str, obj: Obj) -> Obj:
        """Store a new object (caller validated it). The server's own fields are the server's
        whatever the object says: uid, creationTimestamp, resourceVersion."""
        meta = obj["metadata"]
        key = (resource, meta.get("namespace", ""), meta["name"])
        if key in self.objects:
            raise already_exists(resource, meta["name"])
        api_version, kind, _ = KINDS[resource]
        obj["apiVersion"], obj["kind"] = api_version, kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self.objects[key] = obj
        self.index[resource][key[1:]] = obj
        self.creations[resource] += 1
        self._emit(WatchEvent(rv, "ADDED", resource, obj, None))
        return obj

    def update(self, resource: str, obj: Obj) -> Obj:
        """Replace an existing object with a new revision (MODIFIED)."""
        meta = obj["metadata"]
        key = (resource, meta.get("namespace", ""), meta["name"])
        old = self.objects.get(key)
        if old is None:
            raise not_found(resource, meta["name"])
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self.objects[key] = obj
        self.index[resource][key[1:]] = obj
        self._emit(WatchEvent(rv, "MODIFIED", resource, obj, old))
        return obj

    def remove(self, resource: str, namespace: str, name: str) -> Obj | None:
        """Drop an object for good (DELETED); the event carries a fresh resourceVersion."""
        old = self.objects.pop((resource, namespace, name), None)
        if old is None:
            return None
        self.index[resource].pop((namespace, name), None)
        rv = self._next_rv()
        last = {**old, "metadata": {**old["metadata"], "resourceVersion": str(rv)}}
        self._emit(WatchEvent(rv, "DELETED", resource, last, old))
        if resource == "pods":
            log = self.logs.pop((namespace, name), None)
            if log:
                log.closed = True
                log.changed.set()
        return last

    def compact(self) -> None:
        """Forget the event history, as etcd compaction does: older resourceVersions get 410."""
        for r in KINDS:
            self.history.pop(r, None)
            self.compacted[r] = self.rv

    def pod_log(self, namespace: str, name: str) -> PodLog:
        log = self.logs.get((namespace, name))
        if log is None:
            log = PodLog(self.log_lines)
            self.logs[(namespace, name)] = log
        return log

    # -- watches
    def subscribe(self, resource: str, namespace: str | None) -> Watcher:
        w = Watcher(resource, namespace)
        self.watchers.add(w)
        return w

    def unsubscribe(self, w: Watcher) -> None:
        self.watchers.discard(w)

    def events_since(
        self, rv: int, resource: str, namespace: str | None
    ) -> builtins.list[WatchEvent]:
        """History after rv; ApiError 410 Expired when it no longer reaches back that far."""
        compacted = self.compacted.get(resource, 0)
        if rv < compacted:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({compacted + 1})")
        return [
            e
            for e in self.history.get(resource, ())
            if e.rv > rv and (namespace is None or e.obj["metadata"].get("namespace") == namespace)
        ]


DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
