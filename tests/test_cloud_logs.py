"""syslog_arrival: one KQL query for all nodes, against rows the emulator ingests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aksaudit_emulator import load_scenario
from aksaudit_emulator.state import SyslogRow
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.discovery import discover_all
from aksaudit_tui.cloud.logpaths import get_log_path
from aksaudit_tui.cloud.logs import arrival_query, kql_string, kql_timespan, syslog_arrival
from aksaudit_tui.errors import UsageError, UserError
from fixtures.cloud import credential_for, requests, settings_for

PROD_WS = "419165b8-b495-4046-9181-12c58ee9bc9e"


def row(computer: str, *, facility: str = "authpriv", process: str = "audispd",
        age: timedelta = timedelta(minutes=1)) -> SyslogRow:  # fmt: skip
    when = datetime.now(UTC) - age
    return SyslogRow(
        visible_at=0,
        columns={
            "TimeGenerated": when,
            "EventTime": when,
            "Computer": computer,
            "HostName": computer,
            "Facility": facility,
            "SeverityLevel": "info",
            "ProcessName": process,
            "ProcessID": 42,
            "SyslogMessage": 'type=SYSCALL msg=audit(1.0:1): key="exec"',
            "SourceSystem": "Linux",
            "Type": "Syslog",
        },
    )


def inject(emu: Any, customer_id: str, rows: list[SyslogRow]) -> None:
    with emu.state.lock:
        emu.state.syslog.setdefault(customer_id.lower(), []).extend(rows)


def arrival(emu: Any, customer_id: str, computers: list[str], **kw: Any) -> Any:
    async def go() -> Any:
        async with AsyncClients(settings_for(emu), credential_for(emu)) as clients:
            return await syslog_arrival(
                settings_for(emu),
                customer_id,
                computers,
                kw.get("facility", "authpriv"),
                kw.get("since", timedelta(minutes=15)),
                clients=clients,
            )

    return asyncio.run(go())


def test_kql_quoting_and_timespans() -> None:
    assert kql_string('we"ird\\name') == '"we\\"ird\\\\name"'
    with pytest.raises(UsageError):
        kql_string("bad\nname")
    assert kql_timespan(timedelta(minutes=15)) == "15m"
    assert kql_timespan(timedelta(hours=2)) == "2h"
    assert kql_timespan(timedelta(seconds=90)) == "90s"
    q = arrival_query(["n1", "n2"], "authpriv", timedelta(minutes=15))
    assert q.count("| where") == 4 and 'Computer in~ ("n1", "n2")' in q
    assert 'ProcessName in ("audispd", "audisp-syslog")' in q


def test_counts_per_node_in_one_query(emulator: Any) -> None:
    inject(
        emulator,
        PROD_WS,
        [
            row("n1"),
            row("n1"),
            row("n1"),
            row("N2", process="audisp-syslog"),
            row("n3", facility="auth"),
            row("n4", process="sshd"),
            row("n5", age=timedelta(hours=2)),
            row("other-node"),
        ],
    )
    before = requests(emulator)["POST logs_query"]
    nodes = ["n1", "n2", "n3", "n4", "n5", 'we"ird\\name']
    got = arrival(emulator, PROD_WS, nodes)
    assert requests(emulator)["POST logs_query"] == before + 1  # one query for every node
    assert set(got) == set(nodes)
    assert got["n1"].records == 3 and got["n1"].arrived
    assert got["n2"].records == 1  # matched case-insensitively, default-facility process name
    assert got["n1"].last_seen is not None
    assert datetime.now(UTC) - got["n1"].last_seen < timedelta(minutes=5)
    for missing in ("n3", "n4", "n5", 'we"ird\\name'):
        assert got[missing].records == 0 and got[missing].last_seen is None
    assert got.partial is None


def test_partial_result_is_flagged(make_emulator: Callable[..., Any]) -> None:
    data = load_scenario(None)
    data["faults"] = [{"kind": "partial_results", "workspace": "law-prod-weu"}]
    emu = make_emulator(data)
    inject(emu, PROD_WS, [row("n1")])
    got = arrival(emu, PROD_WS, ["n1"])
    assert got.partial
    assert got["n1"].records <= 1


def test_unknown_workspace_is_one_line_error(emulator: Any) -> None:
    with pytest.raises(UserError) as info:
        arrival(emulator, "00000000-0000-0000-0000-000000000000", ["n1"])
    assert "workspace 00000000-0000-0000-0000-000000000000" in str(info.value)
    assert "\n" not in str(info.value)


def test_rows_arrive_once_container_insights_collects_the_facility(emulator: Any) -> None:
    """End to end: authpriv lines fed to a node only reach the workspace after the adapter adds
    authpriv to the cluster's MSCI rule."""
    inv = asyncio.run(discover_all(settings_for(emulator), credential=credential_for(emulator)))
    prod = next(c for c in inv.clusters if c.name == "aks-prod-weu")
    law = next(w for w in inv.workspaces if w.name == "law-prod-weu")
    node = next(s for s in prod.scale_sets if s.pool == "apps").instances[0].computer_name
    line = '<86>Nov 27 07:00:00 {n} audispd: type=SYSCALL msg=audit(1764226800.1:7): key="exec"'

    emulator.state.feed_syslog(node, [line.format(n=node)])
    time.sleep(0.5)
    assert arrival(emulator, law.customer_id, [node])[node].records == 0  # not collected yet

    async def apply() -> None:
        async with AsyncClients(settings_for(emulator), credential_for(emulator)) as clients:
            await get_log_path("container-insights", clients).apply(prod, law, "authpriv", "info")

    asyncio.run(apply())
    emulator.state.feed_syslog(node, [line.format(n=node)])
    deadline = time.time() + 10
    got = arrival(emulator, law.customer_id, [node])
    while not got[node].arrived and time.time() < deadline:
        time.sleep(0.2)
        got = arrival(emulator, law.customer_id, [node])
    assert got[node].records == 1
