"""Scripted faults: which request gets a 429, a 5xx or a 403, and which LRO fails.

A fault is a dict from the scenario (see ``scenario.py``). ``count`` (optional) is how many
matching calls it hits before it is spent; absent means every matching call.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from aksaudit_emulator.state import EmulatorState


def _matches(fault: dict[str, Any], method: str, path: str) -> bool:
    want_method = fault.get("method")
    if want_method and str(want_method).upper() != method:
        return False
    pattern = fault.get("path")
    return not (pattern and not re.search(str(pattern), path, re.IGNORECASE))


def _spend(fault: dict[str, Any]) -> bool:
    """True if the fault fires now (and count it)."""
    count = fault.get("count")
    if count is None:
        return True
    if int(count) <= 0:
        return False
    fault["count"] = int(count) - 1
    return True


Answer = tuple[int, dict[str, Any], dict[str, str]]
SERVER_CODES = {
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def _in_subscription(fault: dict[str, Any], lower_path: str) -> bool:
    sub = str(fault.get("subscription", "")).lower()
    return bool(sub) and (
        lower_path.startswith(f"/subscriptions/{sub}/") or lower_path == f"/subscriptions/{sub}"
    )


def _forbidden(method: str, path: str) -> Answer:
    message = (
        "The client 'aksaudit-emulator-user' with object id "
        "'00000000-0000-0000-0000-00000000cafe' does not have authorization to perform action "
        f"'{_action(method, path)}' over scope '{path}' or the scope is invalid. If access was "
        "recently granted, please refresh your credentials."
    )
    return 403, {"error": {"code": "AuthorizationFailed", "message": message}}, {}


def _throttled(fault: dict[str, Any]) -> Answer:
    message = (
        "The request is being throttled as the limit has been reached for operation type - "
        "Read_ObservationWindow_00:05:00. For more information, see - "
        "https://aka.ms/srpthrottlinglimits"
    )
    headers = {
        "Retry-After": str(int(fault.get("retry_after", 1))),
        "x-ms-ratelimit-remaining-subscription-reads": "0",
        "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/HighCostGet3Min;0",
    }
    return 429, {"error": {"code": "TooManyRequests", "message": message}}, headers


def _server_error(fault: dict[str, Any]) -> Answer:
    status = int(fault.get("status", 500))
    code = SERVER_CODES.get(status, "InternalServerError")
    headers = {"Retry-After": str(int(fault["retry_after"]))} if "retry_after" in fault else {}
    # a scenario may script the message (an error text echoing a request's fields)
    message = str(
        fault.get("message")
        or "The server encountered an internal error. Please retry the request."
    )
    return status, {"error": {"code": code, "message": message}}, headers


def request_fault(state: EmulatorState, method: str, path: str) -> Answer | None:
    """A scripted error answer for this ARM call, or None: (status, body, headers)."""
    lower = path.lower()
    with state.lock:
        for fault in state.faults:
            kind = fault.get("kind")
            if kind not in ("forbidden_subscription", "throttle", "server_error"):
                continue
            if kind == "forbidden_subscription" and not _in_subscription(fault, lower):
                continue
            if not (_matches(fault, method, path) and _spend(fault)):
                continue
            if kind == "forbidden_subscription":
                return _forbidden(method, path)
            if kind == "throttle":
                return _throttled(fault)
            return _server_error(fault)
    return None


def rate_limit(state: EmulatorState, method: str, path: str) -> tuple[Answer | None, int]:
    """ARM's per-subscription token buckets (scenario ``rate_limit``): (a 429, remaining)."""
    limits = state.scenario.get("rate_limit")
    parts = path.split("/")
    if not limits or len(parts) < 3 or parts[1].lower() != "subscriptions":
        return None, -1
    kind = "reads" if method == "GET" else "writes"
    burst = float(limits.get(f"{kind}_burst", 250 if kind == "reads" else 200))
    rate = float(limits.get(f"{kind}_per_s", 25 if kind == "reads" else 10))
    now = time.monotonic()
    key = (parts[2].lower(), kind)
    with state.lock:
        tokens, last = state.buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens < 1.0:
            state.buckets[key] = (tokens, now)
            wait = max(1, math.ceil((1.0 - tokens) / rate)) if rate > 0 else 60
            status, body, headers = _throttled({"retry_after": wait})
            headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = "0"
            return (status, body, headers), 0
        state.buckets[key] = (tokens - 1.0, now)
        return None, int(tokens - 1.0)


def concurrent_write(
    state: EmulatorState, method: str, path: str, *, creating: bool = False
) -> dict[str, Any] | None:
    """The scenario fault ``concurrent_write`` that fires now, if any: someone else writes this
    resource just before this request lands, so its ETag no longer matches the request's
    If-Match. When the resource does not exist yet (``creating``) only a fault that carries
    the ``body`` someone else creates fires: the request's ``If-None-Match: *`` then fails."""
    with state.lock:
        for fault in state.faults:
            if (
                fault.get("kind") == "concurrent_write"
                and _matches(fault, method, path)
                and (not creating or isinstance(fault.get("body"), dict))
                and _spend(fault)
            ):
                return fault
    return None


def lro_should_fail(state: EmulatorState, method: str, path: str) -> bool:
    with state.lock:
        for fault in state.faults:
            if fault.get("kind") == "lro_fail" and _matches(fault, method, path) and _spend(fault):
                return True
    return False


def ingestion_delay(state: EmulatorState) -> float:
    for fault in state.faults:
        if fault.get("kind") == "ingestion_delay":
            return float(fault.get("seconds", 60))
    return state.ingestion_delay_s


def partial_results(state: EmulatorState, workspace_name: str, customer_id: str) -> bool:
    for fault in state.faults:
        if fault.get("kind") == "partial_results":
            ws = str(fault.get("workspace", "")).lower()
            if not ws or ws in (workspace_name.lower(), customer_id.lower()):
                return True
    return False


QUERY_ERRORS = {
    403: (
        "InsufficientAccessError",
        "The provided credentials have insufficient access to perform the requested operation",
    ),
    500: ("InternalServerError", "The server encountered an internal error."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
}


def query_error(state: EmulatorState, workspace_name: str, customer_id: str) -> Answer | None:
    """A scripted failure of a Logs query on this workspace (fault ``query_error``: status 403
    by default; ``count`` spends it), or None."""
    with state.lock:
        for fault in state.faults:
            if fault.get("kind") != "query_error":
                continue
            ws = str(fault.get("workspace", "")).lower()
            if ws and ws not in (workspace_name.lower(), customer_id.lower()):
                continue
            if not _spend(fault):
                continue
            status = int(fault.get("status", 403))
            code, message = QUERY_ERRORS.get(status, QUERY_ERRORS[500])
            return status, {"error": {"code": code, "message": message}}, {}
    return None


def _action(method: str, path: str) -> str:
    """The RBAC action a call needs, as ARM names it in AuthorizationFailed messages."""
    parts = [p for p in path.split("/") if p]
    provider = "Microsoft.Resources/subscriptions"
    types: list[str] = []
    if "providers" in [p.lower() for p in parts]:
        i = max(i for i, p in enumerate(parts) if p.lower() == "providers")
        if i + 1 < len(parts):
            provider = parts[i + 1]
            rest = parts[i + 2 :]
            types = rest[0::2]
        action_path = "/".join([provider, *types])
    elif len(parts) >= 3 and parts[2].lower() == "resourcegroups":
        action_path = "Microsoft.Resources/subscriptions/resourceGroups"
    else:
        action_path = provider
    verb = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}.get(
        method, "action"
    )
    return f"{action_path}/{verb}"
