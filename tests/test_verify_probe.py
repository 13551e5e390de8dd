"""``verify --probe-nodes`` trusts what its own probe found, against the emulator with the real
clients: a node whose check was not compliant is missing with the check's reason, whatever it
sent before (its older records in the default 15-minute look-back are no proof), records count
only from the probe's start, and a cluster whose probe fails is named at once without a second
round of check pods."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from aksaudit_tui.engine.events import Event, StepLog
from engine_helpers import aksaudit_cmd, cli_env, dev_ama_oneshot, linux_nodes, node_root

CLUSTER = "aks-dev-neu"
EXIT_VERIFY_FAILED = 5


def _stop_auditd(emu: Any, node: str) -> None:
    state = node_root(emu, CLUSTER, node) / "var/lib/aksaudit-sim/services/auditd"
    state.write_text("inactive\n")


async def test_cli_verify_with_the_default_since_reports_a_node_whose_auditd_stopped(
    make_emulator: Any, tmp_path: Path
) -> None:
    """The node sent its heartbeat at apply, well inside the default --since (15 min); its
    auditd stopped afterwards. The probe finds it stopped: missing, exit 5."""
    state = tmp_path / "state"
    emu, eng, plan = await dev_ama_oneshot(make_emulator, state)
    assert (await eng.apply(plan)).outcome == "ok"
    victim = linux_nodes(emu, CLUSTER)[0]
    _stop_auditd(emu, victim)
    await asyncio.sleep(1.5)  # its records from the apply are ingested and in the window
    with emu.state.lock:
        rows = [r.columns for rows in emu.state.syslog.values() for r in rows]
    assert any(r["Computer"] == victim for r in rows)  # older records the window reaches
    p = await asyncio.to_thread(
        subprocess.run,
        [*aksaudit_cmd(), "verify", "--probe-nodes", "--json", "--timeout", "4"],
        env=cli_env(emu, state),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == EXIT_VERIFY_FAILED, (p.returncode, p.stderr[-2000:])
    summary = json.loads(p.stdout.splitlines()[-1])
    by_node = {n["node"]: n for n in summary["nodes"]}
    assert set(by_node) == set(linux_nodes(emu, CLUSTER))
    assert by_node[victim]["arrived"] is False
    assert by_node[victim]["reason"] == "auditd not running"
    assert all(n["arrived"] for name, n in by_node.items() if name != victim), by_node


async def test_probe_counts_records_only_from_its_start(make_emulator: Any, tmp_path: Path) -> None:
    """A node the probe found compliant but that sends nothing after it (its check pod never
    touched the heartbeat: the rule lost the facility after the probe would be another way) does
    not pass on its records from the apply: only records since the probe count."""
    emu, eng, plan = await dev_ama_oneshot(make_emulator, tmp_path / "state")
    assert (await eng.apply(plan)).outcome == "ok"
    await asyncio.sleep(1.5)  # the apply's records are ingested, inside the 15-minute window
    with emu.state.lock:
        emu.state.faults.append({"kind": "ingestion_delay", "seconds": 3600})
    report = await eng.verify(None, deadline_s=2.0, probe_nodes=True)  # default since: 15 min
    assert {n.node for n in report.missing} == set(linux_nodes(emu, CLUSTER)), report.nodes
    assert not report.ok


async def test_a_cluster_whose_probe_fails_is_named_at_once_and_not_probed_again(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu, eng, plan = await dev_ama_oneshot(make_emulator, tmp_path / "state")
    assert (await eng.apply(plan)).outcome == "ok"
    with emu.state.lock:
        emu.state.faults.append(
            {"kind": "forbidden", "cluster": CLUSTER, "verb": "create", "resource": "pods"}
        )
    events: list[Event] = []
    report = await eng.verify(
        None, since=timedelta(seconds=1), deadline_s=1.0, on_event=events.append, probe_nodes=True
    )
    told = [e for e in events if isinstance(e, StepLog) and e.cluster == CLUSTER]
    assert told and told[0].level == "error" and "check pods failed" in told[0].line, told
    assert "forbidden" in told[0].line
    assert CLUSTER in report.cluster_errors and report.errors and not report.ok
    for n in report.missing:
        assert n.reason == told[0].line, n.reason
    assert {n.node for n in report.missing} == set(linux_nodes(emu, CLUSTER))
