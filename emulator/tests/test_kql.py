"""The emulator's KQL subset: direct interpreter tests and the query API through LogsQueryClient."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aksaudit_emulator import kql
from aksaudit_emulator.state import SyslogRow
from fixtures.emulator import StaticTokenCredential

NOW = datetime(2026, 1, 12, 10, 0, 0, tzinfo=UTC)


def _row(
    computer: str,
    minutes_ago: float,
    facility: str = "authpriv",
    key: str = "exec",
    process: str = "audispd",
    severity: str = "info",
) -> dict[str, Any]:
    t = NOW - timedelta(minutes=minutes_ago)
    return {
        "TimeGenerated": t,
        "EventTime": t,
        "Computer": computer,
        "HostName": computer,
        "Facility": facility,
        "SeverityLevel": severity,
        "ProcessName": process,
        "ProcessID": 812,
        "SyslogMessage": (
            f'type=SYSCALL msg=audit(1768212000.123:42): arch=c000003e syscall=59 key="{key}"'
        ),
        "SourceSystem": "Linux",
    }


ROWS = [
    _row("node-a", 1, key="exec"),
    _row("node-a", 5, key="identity"),
    _row("node-b", 2, key="exec", process="audisp-syslog", facility="user"),
    _row("node-c", 90, key="exec"),
    _row("node-d", 3, facility="auth", key="", process="sshd"),
]


def run(query: str) -> kql.Result:
    return kql.run(query, {"Syslog": [dict(r) for r in ROWS]}, now=NOW)


def as_dicts(res: kql.Result) -> list[dict[str, Any]]:
    names = [c for c, _ in res.columns]
    return [dict(zip(names, row, strict=True)) for row in res.rows]


def test_where_operators() -> None:
    assert len(run("Syslog").rows) == 5
    assert {r["Computer"] for r in as_dicts(run("Syslog | where Computer == 'node-a'"))} == {
        "node-a"
    }
    assert len(run("Syslog | where Computer != 'node-a'").rows) == 3
    assert len(run("Syslog | where Computer =~ 'NODE-A'").rows) == 2
    assert len(run('Syslog | where Computer in ("node-a", "node-b")').rows) == 3
    assert len(run('Syslog | where Computer !in ("node-a", "node-b")').rows) == 2
    assert len(run("Syslog | where SyslogMessage has 'SYSCALL'").rows) == 5
    assert len(run("Syslog | where SyslogMessage has 'SYSC'").rows) == 0  # has = whole term
    assert len(run("Syslog | where SyslogMessage contains 'SYSC'").rows) == 5
    assert len(run("Syslog | where SyslogMessage has 'msg=audit('").rows) == 5
    assert len(run("Syslog | where SyslogMessage has 'sg=audit('").rows) == 0
    assert len(run("Syslog | where ProcessName startswith 'audisp'").rows) == 4
    assert len(run("Syslog | where TimeGenerated > ago(10m)").rows) == 4
    assert len(run("Syslog | where TimeGenerated <= ago(10m)").rows) == 1
    assert len(run("Syslog | where TimeGenerated >= datetime(2026-01-12T09:58:00Z)").rows) == 2

    assert len(run("Syslog | where TimeGenerated < datetime('2026-01-12 09:30:00')").rows) == 1
    assert len(run("Syslog | where TimeGenerated > now(-3m) + 30s").rows) == 2
    q = (
        "Syslog | where (Facility == 'authpriv' or Facility == 'user')"
        " and not(Computer == 'node-c')"
    )
    assert {r["Computer"] for r in as_dicts(run(q))} == {"node-a", "node-b"}
    assert len(run("Syslog | where ProcessName in~ ('AUDISPD')").rows) == 3


def test_summarize_extend_project_order_take() -> None:
    q = """
    Syslog
    | where TimeGenerated > ago(1h)
    | where ProcessName in ("audispd", "audisp-syslog")
    | extend key = extract('key="([^"]*)"', 1, SyslogMessage)
    | summarize lines = count(), last_seen = max(TimeGenerated), keys = make_set(key, 10),
                hosts = dcount(HostName) by Computer, Facility
    | order by Computer asc
    """
    res = run(q)
    assert res.columns == [
        ("Computer", "string"),
        ("Facility", "string"),
        ("lines", "long"),
        ("last_seen", "datetime"),
        ("keys", "dynamic"),
        ("hosts", "long"),
    ]
    rows = as_dicts(res)
    assert [r["Computer"] for r in rows] == ["node-a", "node-b"]
    assert rows[0]["lines"] == 2 and rows[0]["hosts"] == 1
    assert json.loads(rows[0]["keys"]) == ["exec", "identity"]  # dynamic comes as JSON text
    assert rows[0]["last_seen"] == "2026-01-12T09:59:00.000Z"
    res = run("Syslog | summarize count(), min(TimeGenerated) | project count_")
    assert res.rows == [[5]]
    res = run("Syslog | project Computer, t = TimeGenerated | sort by t desc | take 2")
    assert [r[0] for r in res.rows] == ["node-a", "node-b"]
    assert run("Syslog | limit 3").rows.__len__() == 3
    assert run("Syslog | count").rows == [[5]]
    assert run("Syslog | where Computer == 'none' | summarize count()").rows == [[0]]
    assert len(run("Syslog | distinct Computer").rows) == 4


def test_extend_does_not_change_stored_rows() -> None:
    stored = [dict(r) for r in ROWS]
    kql.run("Syslog | extend Computer2 = tolower(Computer)", {"Syslog": stored}, now=NOW)
    assert "Computer2" not in stored[0]


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("Syslog | join (Heartbeat) on Computer", "SyntaxError"),
        ("Syslog | mv-expand x", "SyntaxError"),
        ("Heartbeat | take 1", "SemanticError"),
        ("Syslog | where NoSuchColumn == 1", "SemanticError"),
        ("Syslog | where Computer == ", "SyntaxError"),
        ("Syslog | summarize percentile(ProcessID, 50)", "SemanticError"),
        ("Syslog | where parse_json(SyslogMessage) == 1", "SemanticError"),
        ("Syslog | where Computer == 'a' ;", "SyntaxError"),
    ],
)
def test_unsupported_raises(query: str, kind: str) -> None:
    with pytest.raises(kql.KqlError) as err:
        run(query)
    assert err.value.kind == kind


# ---- through the query API -------------------------------------------------------------------


def _seed(emulator: Any, customer_id: str) -> None:
    now = datetime.now(UTC)
    with emulator.state.lock:
        table = emulator.state.syslog.setdefault(customer_id, [])
        for i, r in enumerate(ROWS):
            cols = dict(r)
            cols["TimeGenerated"] = now - (NOW - r["TimeGenerated"])
            cols["EventTime"] = cols["TimeGenerated"]
            table.append(
                SyslogRow(visible_at=0.0 if i != 1 else now.timestamp() + 3600, columns=cols)
            )


def _client(info: Any) -> Any:
    from azure.monitor.query import LogsQueryClient

    return LogsQueryClient(
        StaticTokenCredential(info.token),
        endpoint=info.logs_endpoint,
        audience="https://api.loganalytics.io",
        connection_verify=info.ca_bundle,
    )


def test_query_api_with_logs_query_client(emulator: Any) -> None:
    from azure.monitor.query import LogsQueryStatus

    ws = emulator.info.workspaces[0]
    _seed(emulator, ws["customer_id"])
    client = _client(emulator.info)
    res = client.query_workspace(
        ws["customer_id"],
        "Syslog | summarize n = count(), last = max(TimeGenerated) by Computer"
        " | order by Computer asc",
        timespan=timedelta(hours=1),
    )
    assert res.status == LogsQueryStatus.SUCCESS
    table = res.tables[0]
    assert table.columns == ["Computer", "n", "last"]
    rows = {r["Computer"]: r for r in table.rows}
    assert set(rows) == {"node-a", "node-b", "node-d"}  # node-c too old; one row not yet visible
    assert rows["node-a"]["n"] == 1
    assert isinstance(rows["node-a"]["last"], datetime)  # the SDK parsed our datetime format


def test_query_api_bad_query_is_400(emulator: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    ws = emulator.info.workspaces[0]
    client = _client(emulator.info)
    with pytest.raises(HttpResponseError) as err:
        client.query_workspace(
            ws["customer_id"], "Syslog | join (X) on Y", timespan=timedelta(hours=1)
        )
    assert err.value.status_code == 400
    assert "BadArgumentError" in str(err.value)


def test_query_api_partial_result(make_emulator: Any) -> None:
    from azure.monitor.query import LogsQueryStatus

    emu = make_emulator(None, faults=[{"kind": "partial_results", "workspace": "law-prod-weu"}])
    ws = next(w for w in emu.info.workspaces if w["name"] == "law-prod-weu")
    _seed(emu, ws["customer_id"])
    res = _client(emu.info).query_workspace(
        ws["customer_id"], "Syslog | take 10", timespan=timedelta(hours=2)
    )
    assert res.status == LogsQueryStatus.PARTIAL
    assert res.partial_error.code == "PartialError"
    assert len(res.partial_data[0].rows) == 4


def test_query_api_scripted_error_hits_only_its_workspace(make_emulator: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    emu = make_emulator(None, faults=[{"kind": "query_error", "workspace": "law-prod-weu"}])
    by_name = {w["name"]: w for w in emu.info.workspaces}
    with pytest.raises(HttpResponseError) as err:
        _client(emu.info).query_workspace(
            by_name["law-prod-weu"]["customer_id"], "Syslog | take 1", timespan=timedelta(hours=1)
        )
    assert err.value.status_code == 403
    assert "InsufficientAccessError" in str(err.value)
    other = next(w for n, w in by_name.items() if n != "law-prod-weu")
    res = _client(emu.info).query_workspace(
        other["customer_id"], "Syslog | take 1", timespan=timedelta(hours=1)
    )
    assert res.tables[0].name == "PrimaryResult"


def test_query_api_raw_shape(emulator: Any) -> None:
    """Same envelope as the service: tables[0] PrimaryResult with typed columns."""
    import ssl
    import urllib.request

    info = emulator.info
    ws = info.workspaces[0]
    _seed(emulator, ws["customer_id"])
    req = urllib.request.Request(
        f"{info.logs_endpoint}/workspaces/{ws['customer_id']}/query",
        data=json.dumps({"query": "Syslog | take 1", "timespan": "PT1H"}).encode(),
        headers={"Authorization": f"Bearer {info.token}", "Content-Type": "application/json"},
        method="POST",
    )
    ctx = ssl.create_default_context(cafile=info.ca_bundle)
    with urllib.request.urlopen(req, context=ctx) as resp:
        body = json.loads(resp.read())
    table = body["tables"][0]
    assert table["name"] == "PrimaryResult"
    cols = {c["name"]: c["type"] for c in table["columns"]}
    assert cols["TimeGenerated"] == "datetime" and cols["ProcessID"] == "int"
    assert len(table["rows"]) == 1 and len(table["rows"][0]) == len(table["columns"])


def test_bin_rounds_datetimes_down_and_groups_by_computed_columns() -> None:
    """What the status activity query needs: a bool from `contains` and an hour from
    `bin(TimeGenerated, 1h)` as group keys."""
    rows = [dict(r) for r in ROWS] + [_row("node-a", 30, key="aksaudit-heartbeat")]
    res = kql.run(
        "Syslog | where Computer == 'node-a'"
        ' | extend Heartbeat = SyslogMessage contains "aksaudit-heartbeat",'
        " Hour = bin(TimeGenerated, 1h)"
        " | summarize records=count(), last_seen=max(TimeGenerated) by Heartbeat, Hour"
        " | order by Hour asc",
        {"Syslog": rows},
        now=NOW,
    )
    names = [c for c, _ in res.columns]
    assert names == ["Heartbeat", "Hour", "records", "last_seen"]
    assert dict(res.columns)["Hour"] == "datetime" and dict(res.columns)["Heartbeat"] == "bool"
    got = [dict(zip(names, row, strict=True)) for row in res.rows]
    assert [(r["Heartbeat"], r["Hour"], r["records"]) for r in got] == [
        (False, "2026-01-12T09:00:00.000Z", 2),
        (True, "2026-01-12T09:00:00.000Z", 1),
    ]
    assert kql.run("Syslog | extend b = bin(ProcessID, 100) | project b", {"Syslog": rows}).rows[
        0
    ] == [800]
