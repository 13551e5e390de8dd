"""Status: coverage per node and per cluster (the engine's status), drift highlighted, export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from aksaudit_tui.engine.coverage import NodeRow, StatusReport
from aksaudit_tui.tui.app import error_text
from aksaudit_tui.tui.messages import Navigate, ReadStatus
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.screens.modals import PromptScreen

COLUMNS = (
    ("cluster", "Cluster"),
    ("node", "Node"),
    ("state", "Coverage"),
    ("audit", "Audit"),
    ("auditd", "auditd"),
    ("plugin", "Plugin"),
    ("rules", "Rules"),
    ("path", "Path"),
    ("seen", "Last seen"),
    ("pool", "Pool"),
    ("os", "OS"),
)
CSV_FIELDS = (
    "cluster",
    "node",
    "pool",
    "os",
    "audit_version",
    "auditd_running",
    "plugin_facility",
    "rules_match",
    "log_path_ok",
    "last_seen",
    "skipped_reason",
    "covered",
)


def _flag(value: bool | None, good: str = "✔", bad: str = "✖") -> Text:
    if value is None:
        return Text("?", style="dim")
    return Text(good, style="green") if value else Text(bad, style="bold red")


def node_state(n: NodeRow) -> Text:
    if n.skipped_reason:
        return Text(f"skipped: {n.skipped_reason}", style="dim")
    if n.covered:
        return Text("covered", style="green")
    if n.rules_match is False:
        return Text("drift: rules differ", style="bold yellow")
    missing = [
        name
        for name, ok in (
            ("auditd", n.auditd_running),
            ("plugin", bool(n.plugin_facility)),
            ("path", n.log_path_ok),
        )
        if not ok
    ]
    return Text("drift: " + ", ".join(missing or ["?"]), style="bold red")


def status_cells(cluster: str, n: NodeRow) -> list[Text]:
    return [
        Text(cluster),
        Text(n.node),
        node_state(n),
        Text(n.audit_version or "-"),
        _flag(n.auditd_running),
        Text(n.plugin_facility or "-", style="" if n.plugin_facility else "red"),
        _flag(n.rules_match, "match", "differ"),
        _flag(n.log_path_ok),
        Text(n.last_seen or "-"),
        Text(n.pool),
        Text(n.os),
    ]


def report_csv(report: StatusReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_FIELDS)
    for c in report.clusters:
        for n in c.nodes:
            w.writerow(
                [
                    c.name,
                    n.node,
                    n.pool,
                    n.os,
                    n.audit_version or "",
                    n.auditd_running,
                    n.plugin_facility or "",
                    n.rules_match,
                    n.log_path_ok,
                    n.last_seen or "",
                    n.skipped_reason or "",
                    n.covered,
                ]
            )
    return buf.getvalue()


class StatusScreen(WizardScreen):
    """Coverage per node; Back returns where it was opened from."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "refresh", "Refresh", id="status.refresh"),
        Binding("j", "export_json", "Export JSON", id="status.export_json"),
        Binding("c", "export_csv", "Export CSV", id="status.export_csv"),
        Binding("f", "filter", "Cluster filter", id="status.filter"),
    ]

    cluster: str | None = None  # None: every cluster

    def compose_body(self) -> ComposeResult:
        yield Static("", id="coverage", markup=False)
        yield DataTable(id="status-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#status-table", DataTable)
        for key, title in COLUMNS:
            table.add_column(title, key=key)
        table.focus()

    def on_screen_resume(self, _event: Any) -> None:
        # Status is live: read it again every time the screen is shown.
        if not self.aks.job("status").running:
            self.post_message(ReadStatus(self.cluster))
        self._paint()

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic == "status":
            self._paint()

    def _paint(self) -> None:
        job = self.aks.job("status")
        cov = self.query_one("#coverage", Static)
        table = self.query_one("#status-table", DataTable)
        if job.error:
            cov.update(f"Status failed: {job.error}")
            self.say("ctrl+r: try again", error=True)
            return
        report: StatusReport | None = job.result
        if report is None:
            cov.update("⟳ Reading coverage from every cluster…")
            self.say("")
            return
        table.clear()
        text = Text()
        for c in report.clusters:
            eligible = len(c.linux_nodes)
            covered = sum(1 for n in c.linux_nodes if n.covered)
            style = "green" if eligible and covered == eligible else "bold red"
            text.append(f"{c.name}: ", style="bold")
            text.append(f"{c.coverage:.0%} ({covered}/{eligible} Linux nodes)", style=style)
            if c.log_path:
                text.append(f" · log path {c.log_path}")
            if c.error:
                text.append(f" · ✖ {c.error}", style="red")
            text.append("\n")
            for n in c.nodes:
                table.add_row(*status_cells(c.name, n), key=f"{c.name}/{n.node}")
        if not report.clusters:
            text.append("No cluster with aksaudit configuration found.\n")
        for w in report.warnings:
            text.append(f"⚠ {w}\n", style="yellow")
        text.rstrip()
        cov.update(text)
        # The first update can land before the screen's first layout; lay out again after.
        self.call_after_refresh(cov.refresh, layout=True)
        drift = sum(1 for c in report.clusters for n in c.linux_nodes if not n.covered)
        self.say(
            f"{drift} node(s) drifted or not covered" if drift else "Every Linux node covered.",
            error=bool(drift),
        )

    def action_back(self) -> None:
        self.post_message(Navigate(self.aks.came_from or "start"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "next"

    def action_refresh(self) -> None:
        self.post_message(ReadStatus(self.cluster))
        self._paint()

    def action_filter(self) -> None:
        """Cycle: every cluster, then each cluster known from discovery or the last report."""
        names: list[str] = [c.name for c in self.aks.state.clusters]
        report: StatusReport | None = self.aks.job("status").result
        for c in report.clusters if report else ():
            if c.name not in names:
                names.append(c.name)
        cycle: list[str | None] = [None, *sorted(names)]
        i = cycle.index(self.cluster) if self.cluster in cycle else 0
        self.cluster = cycle[(i + 1) % len(cycle)]
        self.say(f"Status of {self.cluster or 'every cluster'}…")
        self.action_refresh()

    def _export(self, kind: str) -> None:
        report: StatusReport | None = self.aks.job("status").result
        if report is None:
            self.say("No status yet to export.", error=True)
            return

        def write(path: str | None) -> None:
            if not path:
                return
            try:
                data = (
                    json.dumps(report.to_json(), indent=2) + "\n"
                    if kind == "json"
                    else report_csv(report)
                )
                Path(path).expanduser().write_text(data, encoding="utf-8")
            except Exception as exc:
                self.say(f"Export failed: {error_text(exc)}", error=True)
                return
            self.say(f"Status written to {path}.")

        self.app.push_screen(PromptScreen(f"Write {kind.upper()} to:", f"status.{kind}"), write)

    def action_export_json(self) -> None:
        self._export("json")

    def action_export_csv(self) -> None:
        self._export("csv")
