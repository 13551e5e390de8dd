"""Long-running operations as ARM runs them: an ``Azure-AsyncOperation`` status URL answering
``{"status": "InProgress|Succeeded|Failed|Canceled"}``, and a ``Location`` result URL answering
202 until done, then the final result (or the error)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from aksaudit_emulator.state import EmulatorState, Lro

# An operation nobody polls (a client with polling=False) still finishes, after this long; long
# enough that a slow poller on a loaded machine still sees InProgress first.
UNPOLLED_DONE_S = 5.0
KEEP_FINISHED_S = 600.0

PROVIDER_OF = {
    "microsoft.compute": "Microsoft.Compute",
    "microsoft.containerservice": "Microsoft.ContainerService",
    "microsoft.operationalinsights": "Microsoft.OperationalInsights",
    "microsoft.insights": "Microsoft.Insights",
}


def start(
    state: EmulatorState,
    *,
    base_url: str,
    subscription_id: str,
    provider: str,
    location: str,
    resource_id: str = "",
    fail: bool = False,
    on_done: Callable[[Lro], None] | None = None,
    result: dict[str, Any] | None = None,
) -> tuple[Lro, dict[str, str]]:
    """Register an operation; returns it and the headers for the 201/202 answer."""
    op_id = str(uuid.uuid4())
    lro = Lro(
        op_id=op_id,
        subscription_id=subscription_id,
        location=location,
        resource_id=resource_id,
        started=time.monotonic(),
        polls_needed=state.lro_polls,
        seconds=state.lro_seconds,
        fail=fail,
        on_done=on_done,
        result=result,
    )
    with state.lock:
        state.lros[op_id] = lro
    root = f"{base_url}/subscriptions/{subscription_id}/providers/{provider}/locations/{location}"
    retry = "0" if state.lro_seconds <= 0 else str(max(1, int(state.lro_seconds)))
    headers = {
        "Azure-AsyncOperation": f"{root}/operations/{op_id}?api-version=2024-01-01",
        "Location": f"{root}/operationresults/{op_id}?api-version=2024-01-01",
        "Retry-After": retry,
    }
    return lro, headers


def advance(state: EmulatorState, lro: Lro, *, polled: bool) -> None:
    """Move an operation towards its end state; runs ``on_done`` exactly once."""
    with state.lock:
        if lro.status != "InProgress":
            return
        if polled:
            lro.polls += 1
        elapsed = time.monotonic() - lro.started
        due = elapsed >= lro.seconds and (
            lro.polls > lro.polls_needed
            or (not polled and elapsed >= max(lro.seconds, UNPOLLED_DONE_S))
        )
        if not due:
            return
        if lro.fail:
            lro.status = "Failed"
            lro.error = {
                "code": "OperationFailed",
                "message": "The operation failed: an internal execution error occurred "
                "(emulated fault). Please retry later.",
            }
        else:
            lro.status = "Succeeded"
        lro.finished = time.monotonic()
        if lro.on_done is not None:
            lro.on_done(lro)
        state.touch()


def sweep(state: EmulatorState) -> None:
    """Finish operations nobody polls (a client that used polling=False)."""
    now = time.monotonic()
    with state.lock:
        for op_id, lro in list(state.lros.items()):
            advance(state, lro, polled=False)
            if lro.finished and now - lro.finished > KEEP_FINISHED_S:
                del state.lros[op_id]  # clients poll within seconds; keep memory flat


def status_body(lro: Lro) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"/subscriptions/{lro.subscription_id}/providers/locations/{lro.location}"
        f"/operations/{lro.op_id}",
        "name": lro.op_id,
        "status": lro.status,
        "startTime": time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime()),
    }
    if lro.status != "InProgress":
        body["endTime"] = body["startTime"]
    if lro.error:
        body["error"] = lro.error
    return body
