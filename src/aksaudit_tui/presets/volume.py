"""Volume estimate per preset: audit lines per node per hour and bytes per node per day.

The per-line constants live here and only here; the real-kernel test may refine them.

Measured on this project's CI machine (Debian 12, audit 3.0.9, kernel 6.18), 2026-11-27: auditd
with ``log_format = ENRICHED`` (the Ubuntu default) and ``-a always,exit -F arch=b64 -S execve``
logged 233 successful program starts as 7.34 lines each (SYSCALL, EXECVE, CWD, 2-3 PATH,
PROCTITLE, BPRM_FCAPS for root) at 217.9 bytes per line (191.8 without the enrichment);
failed execve attempts (PATH search) were 4.0 lines; connect events 3 lines. The syslog row
overhead (syslog header and the Log Analytics ``Syslog`` columns: Computer, HostIP, Facility,
ProcessName, TimeGenerated, _ResourceId ...) is an estimate, not a measurement. With it, 10
program starts per second come to about 2.2 GB per node per day, inside FACTS.md's 2-3 GB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aksaudit_tui.errors import UsageError
from aksaudit_tui.presets.model import Preset, load_presets

BYTES_PER_LINE = 218  # measured: mean ENRICHED audit record line, bytes incl. newline
SYSLOG_ROW_OVERHEAD = 150  # estimated: syslog header + Log Analytics columns per row
LINES_PER_EXEC = 7  # measured 7.3 per successful execve (FACTS.md: 5-7)
LINES_PER_SOCKET = 3  # measured: SYSCALL, SOCKADDR, PROCTITLE
LINES_PER_EVENT = 4  # other syscall/watch events: SYSCALL, CWD, PATH, PROCTITLE
# The audit heartbeat (base preset: one watch on /var/lib/aksaudit/heartbeat, touched once per
# keeper interval). Measured by tests/test_kernel_pipeline.py (2026-12-03, audit 3.0.9): a touch
# of the existing file is one keyed event of 5 syslog lines, 1,037 bytes (SYSCALL, CWD, 2 PATH,
# PROCTITLE); the test asserts the constant.
LINES_PER_HEARTBEAT = 5
HEARTBEAT_INTERVAL_S = 300  # the keeper's default check interval (Engine.keeper_interval_s)


@dataclass(frozen=True)
class VolumeEstimate:
    """Expected audit volume on one node."""

    lines_per_node_hour: float
    bytes_per_node_day: float
    assumptions: str


def estimate_volume(
    names: Sequence[str],
    *,
    execs_per_s: float = 10.0,
    session_execs_per_s: float = 0.01,
    connects_per_s: float = 20.0,
    accepts_per_s: float = 10.0,
    container_starts_per_hour: float = 30.0,
    presets: Mapping[str, Preset] | None = None,
) -> VolumeEstimate:
    """Sum of each preset's lines at the given node activity rates.

    A preset's ``estimate`` in its YAML says how many events it logs per program start, per
    session program start, per connect, per accept, per container start, plus a background rate.
    Overlapping presets are summed, so the figure is an upper bound (an event that matches two
    rules is logged once)."""
    if presets is None:
        presets = load_presets()
    total = 0.0
    for name in dict.fromkeys(names):
        preset = presets.get(name)
        if preset is None:
            known = ", ".join(sorted(presets))
            raise UsageError(f"unknown preset '{name}'; known presets: {known}")
        e = preset.estimate
        exec_lines = LINES_PER_EXEC if e.exec_lines else LINES_PER_EVENT
        per_second = (
            e.execs * execs_per_s * exec_lines
            + e.session_execs * session_execs_per_s * exec_lines
            + (e.connects * connects_per_s + e.accepts * accepts_per_s) * LINES_PER_SOCKET
        )
        total += per_second * 3600 + (
            e.container_starts * container_starts_per_hour + e.per_hour
        ) * LINES_PER_EVENT  # fmt: skip
    bytes_per_day = total * 24 * (BYTES_PER_LINE + SYSLOG_ROW_OVERHEAD)
    assumptions = (
        f"{execs_per_s:g} program starts/s on the node, {session_execs_per_s:g}/s in login "
        f"sessions, {connects_per_s:g} connects/s, {accepts_per_s:g} accepts/s, "
        f"{container_starts_per_hour:g} container starts/h; {LINES_PER_EXEC} lines per program "
        f"start, {LINES_PER_SOCKET} per connect/accept, {LINES_PER_EVENT} per other event; "
        f"{BYTES_PER_LINE} bytes per audit line (measured) + {SYSLOG_ROW_OVERHEAD} per syslog "
        "row (estimated); overlapping presets are summed (upper bound)"
    )
    return VolumeEstimate(round(total, 1), round(bytes_per_day, 1), assumptions)


def heartbeat_volume(interval_s: float = HEARTBEAT_INTERVAL_S) -> VolumeEstimate:
    """What the audit heartbeat adds on every enabled node, whatever the presets: one touch per
    keeper interval. Tiny (60 lines/h, about 0.5 MB per node per day at 300 s), shown beside
    every estimate so nobody has to guess."""
    per_hour = 3600.0 / max(1.0, float(interval_s)) * LINES_PER_HEARTBEAT
    return VolumeEstimate(
        round(per_hour, 1),
        round(per_hour * 24 * (BYTES_PER_LINE + SYSLOG_ROW_OVERHEAD), 1),
        f"one heartbeat every {interval_s:g} s, {LINES_PER_HEARTBEAT} lines each",
    )
