"""The Log Analytics query API: ``POST {logs}/workspaces/{customerId}/query``.

Served at ``/logs/v1/...`` and at ``/v1/...`` (azure-monitor-query drops the path of an endpoint
ending in ``/v1`` and puts ``/v1`` back at the root). Body ``{"query", "timespan"}``; answer
``{"tables": [{"name": "PrimaryResult", "columns": [...], "rows": [...]}]}``; a partial result
(scenario fault ``partial_results``) adds a top-level ``error`` alongside the tables; fault
``query_error`` fails the query (403 by default).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from aksaudit_emulator import faults, kql
from aksaudit_emulator.state import EmulatorState


def _error(
    status: int, code: str, message: str, inner: dict[str, Any] | None = None
) -> web.Response:
    err: dict[str, Any] = {"message": message, "code": code, "correlationId": str(uuid.uuid4())}
    if inner:
        err["innererror"] = inner
    return web.json_response({"error": err}, status=status)


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.I,
)


def _duration(text: str) -> timedelta | None:
    m = _DURATION.match(text.strip())
    if not m or text.strip().upper() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in m.groupdict().items() if v}
    return timedelta(
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )


def parse_timespan(text: str | None, now: datetime) -> tuple[datetime, datetime] | None:
    """ISO 8601 ``PT1H``, ``start/end`` or ``start/PT1H``; None when absent. Raises ValueError."""
    if not text:
        return None
    if "/" in text:
        a, b = text.split("/", 1)
        start = kql._parse_datetime(a)
        dur = _duration(b)
        end = start + dur if dur is not None else kql._parse_datetime(b)
        return start, end
    dur = _duration(text)
    if dur is None:
        raise ValueError(text)
    return now - dur, now


def run_query(
    state: EmulatorState,
    customer_id: str,
    query: str,
    timespan: str | None,
    now: float | None = None,
) -> dict[str, Any]:
    """Answer body for one query (raises kql.KqlError / ValueError on bad input)."""
    now_ts = time.time() if now is None else now
    now_dt = datetime.fromtimestamp(now_ts, UTC)
    window = parse_timespan(timespan, now_dt)
    with state.lock:
        stored = list(state.syslog.get(customer_id.lower(), []))
    rows = []
    for row in stored:
        if row.visible_at > now_ts:
            continue
        tg = row.columns["TimeGenerated"]
        if window is not None and not (window[0] <= tg <= window[1]):
            continue
        rows.append(row.columns)
    result = kql.run(query, {"Syslog": rows}, now=now_dt)
    return {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": n, "type": t} for n, t in result.columns],
                "rows": result.rows,
            }
        ]
    }


def _workspace(state: EmulatorState, ident: str) -> dict[str, Any] | None:
    low = ident.lower()
    for (_, rtype), ids in list(state.by_type.items()):
        if rtype != "microsoft.operationalinsights/workspaces":
            continue
        for key in ids:
            body = state.arm.get(key)
            if body and str(body["properties"]["customerId"]).lower() == low:
                return body
    return None


def register(app: web.Application, state: EmulatorState) -> None:
    async def query(request: web.Request) -> web.Response:
        ws_ident = request.match_info["ws"]
        state.requests[f"{request.method} logs_query"] += 1
        if request.method == "POST":
            try:
                body = await request.json()
            except (ValueError, json.JSONDecodeError):
                return _error(
                    400,
                    "BadArgumentError",
                    "The request had some invalid properties",
                    {"code": "InvalidJson", "message": "The request body is not valid JSON."},
                )
            if not isinstance(body, dict):
                return _error(400, "BadArgumentError", "The request had some invalid properties")
            text = body.get("query")
            timespan = body.get("timespan")
        else:
            text = request.query.get("query")
            timespan = request.query.get("timespan")
        if not text or not isinstance(text, str):
            return _error(
                400,
                "BadArgumentError",
                "The request had some invalid properties",
                {"code": "QueryMissing", "message": "The 'query' property is required."},
            )
        ws = _workspace(state, ws_ident)
        if ws is None:
            return _error(
                404, "WorkspaceNotFoundError", f"The workspace could not be found: {ws_ident}"
            )
        scripted = faults.query_error(state, ws["name"], ws["properties"]["customerId"])
        if scripted is not None:
            status, err_body, _headers = scripted
            err = err_body["error"]
            return _error(status, str(err["code"]), str(err["message"]))
        try:
            answer = run_query(
                state,
                ws["properties"]["customerId"],
                text,
                timespan if isinstance(timespan, str) else None,
            )
        except ValueError:
            return _error(
                400,
                "BadArgumentError",
                "The request had some invalid properties",
                {"code": "InvalidTimespan", "message": f"Invalid timespan '{timespan}'."},
            )
        except kql.KqlError as exc:
            inner_code = "SYN0002" if exc.kind == "SyntaxError" else "SEM0100"
            return _error(
                400,
                "BadArgumentError",
                "The request had some invalid properties",
                {
                    "code": exc.kind,
                    "message": "A recognition error occurred in the query."
                    if exc.kind == "SyntaxError"
                    else "A semantic error occurred.",
                    "innererror": {
                        "code": inner_code,
                        "message": str(exc),
                        "line": 1,
                        "pos": exc.pos,
                        "token": exc.token,
                    },
                },
            )
        if faults.partial_results(state, ws["name"], ws["properties"]["customerId"]):
            answer["error"] = {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [
                    {
                        "code": "EngineError",
                        "message": "Something went wrong processing your query on the server.",
                        "innererror": {
                            "code": "-2133196797",
                            "message": "Query execution has exceeded the allowed limits "
                            "(80DA0003): partial data returned.",
                            "severity": 2,
                            "severityName": "Error",
                        },
                    }
                ],
            }
        return web.json_response(answer)

    for prefix in ("/logs/v1", "/v1"):
        app.router.add_route("POST", prefix + "/workspaces/{ws}/query", query)
        app.router.add_route("GET", prefix + "/workspaces/{ws}/query", query)
