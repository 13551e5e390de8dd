"""Reading a pod object as the API returns it: where it runs, whether it is Ready, started,
and a short human reason for where it is stuck or why it ended.

Pure functions over the JSON dicts (no I/O). Delivery follows its pods with them; the
read-only cluster view (``observe``) describes the keeper pods with the same words.
"""

from __future__ import annotations

from aksaudit_tui.nodes.kube import Obj


def container_status(pod: Obj) -> Obj:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        return dict(cs)
    return {}


def waiting_reason(pod: Obj) -> tuple[str, str]:
    w = (container_status(pod).get("state") or {}).get("waiting") or {}
    return str(w.get("reason") or ""), str(w.get("message") or "")


def container_started(pod: Obj) -> bool:
    cs = container_status(pod)
    state = cs.get("state") or {}
    return bool(state.get("running") or state.get("terminated") or cs.get("lastState"))


def pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def pod_reason(pod: Obj) -> str:
    """A short human reason for where a pod is stuck or why it ended."""
    st = pod.get("status") or {}
    phase = st.get("phase") or "Pending"
    parts = [str(phase)]
    if st.get("reason"):
        parts.append(str(st["reason"]))
    reason, msg = waiting_reason(pod)
    if reason:
        parts.append(reason)
    term = (container_status(pod).get("state") or {}).get("terminated") or {}
    if term:
        parts.append(
            f"exit {term.get('exitCode')}" + (f" {term['reason']}" if term.get("reason") else "")
        )
    for c in st.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            parts.append(str(c.get("reason") or "Unschedulable"))
            msg = msg or str(c.get("message") or "")
    text = ": ".join([" ".join(parts)] + ([msg] if msg else []))
    if st.get("message") and str(st["message"]) not in text:
        text += f" ({st['message']})"
    return text


def pod_node(pod: Obj) -> str:
    """The node a pod runs on (or was meant for: our annotation before scheduling)."""
    spec = pod.get("spec") or {}
    node = spec.get("nodeName") or ""
    if not node:
        ann = (pod.get("metadata") or {}).get("annotations") or {}
        node = ann.get("aksaudit.io/node", "")
    return str(node)
