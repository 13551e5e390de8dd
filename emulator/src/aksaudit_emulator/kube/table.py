"""Server-side printing: the meta.k8s.io Table a GET or list answers when the client asks for
it (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``), which is how `kubectl get`
prints its columns.

Contract:
- ``table_version(accept)`` is "v1" or "v1beta1" when the Accept header lists a Table of that
  version of meta.k8s.io before any plain type it also accepts, else None (a plain answer).
- ``render(resource, objs, ...)`` builds the Table: the columns of the API server's printers for
  the kinds served (pods: NAME READY STATUS RESTARTS AGE, then IP NODE NOMINATED NODE READINESS
  GATES at priority 1 for `-o wide`; daemonsets: NAME DESIRED CURRENT READY UP-TO-DATE
  AVAILABLE NODE SELECTOR AGE ...; namespaces, configmaps, nodes, events; any other kind:
  NAME AGE), one row per object, each row's ``object`` a PartialObjectMetadata
  (``includeObject=Metadata``, the default), the whole object (``Object``) or nothing
  (``None``).
- Cell values follow the real printers (pod STATUS: the waiting/terminated reason,
  "Terminating", "Completed"...; RESTARTS "2 (15s ago)"; AGE as kubectl's HumanDuration).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .store import KINDS, ApiError, Obj

Column = tuple[str, str, int, str]  # name, type, priority, format
_NAME_DESC = "Name must be unique within a namespace."
_AGE_DESC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)


def table_version(accept: str) -> str | None:
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if fields[0] in ("application/json", "*/*", "application/*") and not params:
            return None
        if (
            params.get("as") == "Table"
            and params.get("g") == "meta.k8s.io"
            and params.get("v") in ("v1", "v1beta1")
        ):
            return params["v"]
    return None


def _since(ts: str | None, now: datetime) -> str:
    if not ts:
        return "<unknown>"
    try:
        then = datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    return human_duration((now - then).total_seconds())


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery duration.HumanDuration: 45s, 3m20s, 25m, 5h10m, 3d4h, 45d, 3y20d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 192:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    y = d // 365
    if d < 365 * 8:
        return f"{y}y{d % 365}d" if d % 365 else f"{y}y"
    return f"{y}y"


# ---------------------------------------------------------------- per kind


def _pod_status(pod: Obj) -> str:
    """What kubectl shows in STATUS: the API server's printPod reason logic."""
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Unknown"
    has_running = False
    for cs in reversed(st.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting, term = state.get("waiting") or {}, state.get("terminated")
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif term is not None and term.get("reason"):
            reason = term["reason"]
        elif term is not None:
            reason = (
                f"Signal:{term['signal']}"
                if term.get("signal")
                else f"ExitCode:{term.get('exitCode', 0)}"
            )
        elif cs.get("ready") and "running" in state:
            has_running = True
    if reason == "Completed" and has_running:
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in st.get("conditions") or []
        )
        reason = "Running" if ready else "NotReady"
    if pod["metadata"].get("deletionTimestamp") and st.get("phase") not in (
        "Succeeded",
        "Failed",
    ):
        reason = "Terminating"
    return str(reason)


def _pod_cells(pod: Obj, now: datetime) -> list[Any]:
    st = pod.get("status") or {}
    total = len(pod["spec"].get("containers") or [])
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses)
    last = None
    for cs in statuses:
        fin = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if fin and (last is None or fin > last):
            last = fin
    restarts_text = f"{restarts} ({_since(last, now)} ago)" if restarts and last else str(restarts)
    gates = pod["spec"].get("readinessGates") or []
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        _pod_status(pod),
        restarts_text,
        _since(pod["metadata"].get("creationTimestamp"), now),
        st.get("podIP") or "<none>",
        pod["spec"].get("nodeName") or "<none>",
        st.get("nominatedNodeName") or "<none>",
        f"{len(gates)}/{len(gates)}" if gates else "<none>",
    ]


def _selector_text(sel: Obj | None) -> str:
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        parts.append(f"{e['key']} {e['operator'].lower()} ({','.join(e.get('values') or [])})")
    return ",".join(parts) or "<none>"


def _ds_cells(ds: Obj, now: datetime) -> list[Any]:
    st = ds.get("status") or {}
    tmpl = ds["spec"]["template"]["spec"]
    node_sel = tmpl.get("nodeSelector") or {}
    return [
        ds["metadata"]["name"],
        st.get("desiredNumberScheduled", 0),
        st.get("currentNumberScheduled", 0),
        st.get("numberReady", 0),
        st.get("updatedNumberScheduled", 0),
        st.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in sorted(node_sel.items())) or "<none>",
        _since(ds["metadata"].get("creationTimestamp"), now),
        ",".join(c["name"] for c in tmpl.get("containers") or []),
        ",".join(c.get("image", "") for c in tmpl.get("containers") or []),
        _selector_text(ds["spec"].get("selector")),
    ]


def _node_cells(node: Obj, now: datetime) -> list[Any]:
    st = node.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    status = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(
        k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")
    ) or ([labels["kubernetes.io/role"]] if "kubernetes.io/role" in labels else [])
    addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    info = st.get("nodeInfo") or {}
    return [
        node["metadata"]["name"],
        status,
        ",".join(roles) or "<none>",
        _since(node["metadata"].get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        addrs.get("InternalIP") or "<none>",
        addrs.get("ExternalIP") or "<none>",
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


def _event_cells(ev: Obj, now: datetime) -> list[Any]:
    ref = ev.get("involvedObject") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime")
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    count = int(ev.get("count") or 1)
    last_seen = _since(last, now)
    if count > 1:
        last_seen = f"{last_seen} (x{count} over {_since(first, now)})"
    src = ev.get("source") or {}
    return [
        last_seen,
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}",
        ref.get("fieldPath", ""),
        ", ".join(x for x in (src.get("component"), src.get("host")) if x),
        ev.get("message", "").strip(),
        _since(first, now),
        count,
        ev["metadata"]["name"],
    ]


_COLUMNS: dict[str, list[Column]] = {
    "pods": [
        ("Name", "string", 0, "name"),
        ("Ready", "string", 0, ""),
        ("Status", "string", 0, ""),
        ("Restarts", "string", 0, ""),
        ("Age", "string", 0, ""),
        ("IP", "string", 1, ""),
        ("Node", "string", 1, ""),
        ("Nominated Node", "string", 1, ""),
        ("Readiness Gates", "string", 1, ""),
    ],
    "daemonsets": [
        ("Name", "string", 0, "name"),
        ("Desired", "integer", 0, ""),
        ("Current", "integer", 0, ""),
        ("Ready", "integer", 0, ""),
        ("Up-to-date", "integer", 0, ""),
        ("Available", "integer", 0, ""),
        ("Node Selector", "string", 0, ""),
        ("Age", "string", 0, ""),
        ("Containers", "string", 1, ""),
        ("Images", "string", 1, ""),
        ("Selector", "string", 1, ""),
    ],
    "namespaces": [
        ("Name", "string", 0, "name"),
        ("Status", "string", 0, ""),
        ("Age", "string", 0, ""),
    ],
    "configmaps": [
        ("Name", "string", 0, "name"),
        ("Data", "integer", 0, ""),
        ("Age", "string", 0, ""),
    ],
    "nodes": [
        ("Name", "string", 0, "name"),
        ("Status", "string", 0, ""),
        ("Roles", "string", 0, ""),
        ("Age", "string", 0, ""),
        ("Version", "string", 0, ""),
        ("Internal-IP", "string", 1, ""),
        ("External-IP", "string", 1, ""),
        ("OS-Image", "string", 1, ""),
        ("Kernel-Version", "string", 1, ""),
        ("Container-Runtime", "string", 1, ""),
    ],
    "events": [
        ("Last Seen", "string", 0, ""),
        ("Type", "string", 0, ""),
        ("Reason", "string", 0, ""),
        ("Object", "string", 0, ""),
        ("Subobject", "string", 1, ""),
        ("Source", "string", 1, ""),
        ("Message", "string", 0, ""),
        ("First Seen", "string", 1, ""),
        ("Count", "string", 1, ""),
        ("Name", "string", 1, ""),
    ],
}
_DEFAULT: list[Column] = [("Name", "string", 0, "name"), ("Age", "string", 0, "")]

_CELLS: dict[str, Callable[[Obj, datetime], list[Any]]] = {
    "pods": _pod_cells,
    "daemonsets": _ds_cells,
    "namespaces": lambda o, now: [
        o["metadata"]["name"],
        (o.get("status") or {}).get("phase", ""),
        _since(o["metadata"].get("creationTimestamp"), now),
    ],
    "configmaps": lambda o, now: [
        o["metadata"]["name"],
        len(o.get("data") or {}) + len(o.get("binaryData") or {}),
        _since(o["metadata"].get("creationTimestamp"), now),
    ],
    "nodes": _node_cells,
    "events": _event_cells,
}


def _default_cells(obj: Obj, now: datetime) -> list[Any]:
    return [obj["metadata"]["name"], _since(obj["metadata"].get("creationTimestamp"), now)]


def _row_object(obj: Obj, include: str, version: str, resource: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        api_version, kind, _ = KINDS[resource]
        return {"kind": kind, "apiVersion": api_version, **obj}
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": obj["metadata"],
    }


def render(
    resource: str, objs: list[Obj], version: str, include: str | None, list_meta: Obj
) -> Obj:
    """The Table of ``objs`` (``list_meta``: resourceVersion and continue of the list)."""
    include = include or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise ApiError(
            400,
            "BadRequest",
            f'includeObject: Unsupported value: "{include}": supported values: "None", '
            '"Metadata", "Object"',
        )
    now = datetime.now(UTC)
    columns = _COLUMNS.get(resource, _DEFAULT)
    cells = _CELLS.get(resource, _default_cells)
    rows = []
    for o in objs:
        row: Obj = {"cells": cells(o, now)}
        ro = _row_object(o, include, version, resource)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": list_meta,
        "columnDefinitions": [
            {
                "name": name,
                "type": typ,
                "format": fmt,
                "description": _NAME_DESC
                if name == "Name"
                else (_AGE_DESC if name == "Age" else name),
                "priority": prio,
            }
            for name, typ, prio, fmt in columns
        ],
        "rows": rows,
    }


def watch_view(resource: str, version: str, include: str | None) -> Callable[[Obj], Obj]:
    """How a watch asked as Table renders each object: a Table of one row; only the first
    event carries the column definitions, as the API server sends them."""
    first = [True]

    def view(obj: Obj) -> Obj:
        out = render(
            resource,
            [obj],
            version,
            include,
            {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
        )
        if not first[0]:
            out["columnDefinitions"] = []
        first[0] = False
        return out

    render(resource, [], version, include, {})  # a bad includeObject fails before the stream
    return view
