"""Status: the fleet view (one row per cluster; enter for its nodes), records per hour, export."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Sparkline, Static

from aksaudit_tui.engine.coverage import NodeRow, StatusReport
from aksaudit_tui.tui.app import error_text
from aksaudit_tui.tui.messages import Navigate, ReadStatus
from aksaudit_tui.tui.models.fleet import FleetModel, FleetRow, report_csv
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.screens.modals import ConfirmScreen, PromptScreen

# What a user reads first goes left: at 80 columns the rest scrolls into view (the
# subscription, an id of 36 characters, pushed every other column off an 80-column screen).
FLEET_COLUMNS = (
    ("cluster", "Cluster"),
    ("bar", "Coverage"),
    ("covered", "Covered"),
    ("path", "Log path"),
    ("beat", "Heartbeat"),
    ("drift", "Drift"),
    ("subscription", "Subscription"),
)
COLUMNS = (
    ("node", "Node"),
    ("state", "State"),
    ("reason", "Reason · fix"),
    ("beat", "Heartbeat"),
    ("pool", "Pool"),
    ("os", "OS"),
)
# The reason column wraps in what the node and state columns leave of the screen, within these
# bounds (each cell is padded by one column a side; the vertical scrollbar takes two).
REASON_WIDTH = (24, 48)
_CELL_PAD = 2
_SCROLLBAR = 2
STATE_STYLE = {
    "covered": "green",
    "partial": "bold yellow",
    "silent": "bold red",
    "drift": "bold yellow",
    "new": "cyan",
    "not enabled": "dim",
    "skipped": "dim",
    "unknown": "magenta",
}


def _flag(value: bool | None, good: str = "✔", bad: str = "✖") -> Text:
    if value is None:
        return Text("?", style="dim")
    return Text(good, style="green") if value else Text(bad, style="bold red")


def node_state(n: NodeRow) -> Text:
    """The node's state word, coloured (older reports without states: from the fields)."""
    if n.state is not None:
        return Text(n.state, style=STATE_STYLE.get(n.state, ""))
    if n.skipped_reason:
        return Text(f"skipped: {n.skipped_reason}", style="dim")
    if n.covered:
        return Text("covered", style="green")
    return Text("drift", style="bold yellow")


def fleet_cells(r: FleetRow) -> list[Text]:
    style = STATE_STYLE.get(r.state, "")
    cov = Text(f"{r.bar} {r.coverage:4.0%}", style=style)
    if r.state in ("not enabled", "unknown"):
        cov = Text(f"{r.bar}   0% {r.state}", style=style)
    return [
        Text(r.name),
        cov,
        Text(f"{r.covered}/{r.total}"),
        Text(r.log_path),
        Text(r.last_heartbeat),
        Text(str(r.drift), style="bold yellow" if r.drift else "dim"),
        Text(r.subscription),
    ]


def reason_cell(n: NodeRow) -> Text:
    """Why the node is in its state, and on the next line (dim) what fixes it."""
    text = Text(n.reason or (n.skipped_reason or ""))
    if n.fix:
        text.append(("\n" if text else "") + n.fix, style="dim")
    return text


def status_cells(n: NodeRow) -> list[Text]:
    return [
        Text(n.node),
        node_state(n),
        reason_cell(n),
        Text(n.last_heartbeat or "-"),
        Text(n.pool),
        Text(n.os),
    ]


def reason_width(screen_width: int, nodes: Sequence[NodeRow]) -> int:
    """The reason column's width: what the node and state columns leave of the screen."""
    node_w = max([len(COLUMNS[0][1]), *(len(n.node) for n in nodes)])
    state_w = max([len(COLUMNS[1][1]), *(len(node_state(n).plain) for n in nodes)])
    free = screen_width - node_w - state_w - 3 * _CELL_PAD - _SCROLLBAR
    low, high = REASON_WIDTH
    return max(low, min(high, free))


class StatusScreen(WizardScreen):
    """The fleet: one row per cluster; Enter drills into the nodes of the highlighted one; a
    sparkline of its audit records per hour. Back returns where it was opened from."""

    # In the footer's order, and short: at 80 columns the footer shows what fits from the left
    # (the exports, least used, go last; `?` lists every key with its description, keymap.py).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "refresh", "Refresh", id="status.refresh"),
        Binding("f", "filter", "Filter", id="status.filter"),
        Binding("s", "sort", "Sort", id="status.sort"),
        Binding("p", "probe", "Probe", id="status.probe"),
        Binding("j", "export_json", "JSON", id="status.export_json"),
        Binding("c", "export_csv", "CSV", id="status.export_csv"),
    ]

    cluster: str | None = None  # None: every cluster (the engine reads the whole fleet)

    def __init__(self) -> None:
        super().__init__()
        self.model: FleetModel | None = None
        self.selected: str | None = None  # fleet row key whose nodes are shown
        self._own_dialog = False

    def compose_body(self) -> ComposeResult:
        yield Static("", id="coverage", markup=False)
        yield DataTable(id="fleet-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="spark-row"):
            yield Static("", id="spark-label", markup=False)
            yield Sparkline([], id="spark")
        yield DataTable(id="status-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        fleet = self.query_one("#fleet-table", DataTable)
        for key, title in FLEET_COLUMNS:
            fleet.add_column(title, key=key)
        fleet.focus()

    def on_screen_resume(self, _event: Any) -> None:
        # Status is live: read it again every time the screen is shown (not when one of its own
        # dialogs closes: a fleet read is not free, and the probe dialog asks for its own).
        if self._own_dialog:
            self._own_dialog = False
        elif not self.aks.job("status").running:
            self.post_message(ReadStatus(self.cluster))
        self._paint()

    def _dialog(self, screen: Any, callback: Any) -> None:
        self._own_dialog = True
        self.app.push_screen(screen, callback)

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic == "status":
            self._paint()

    def _paint(self) -> None:
        job = self.aks.job("status")
        cov = self.query_one("#coverage", Static)
        if job.error:
            cov.update(f"Status failed: {job.error}")
            self.say("ctrl+r: try again", error=True)
            return
        report: StatusReport | None = job.result
        if report is None:
            cov.update("⟳ Reading coverage from every cluster you can read…")
            self.say("")
            return
        if self.model is None or self.model.report is not report:
            old = self.model
            self.model = FleetModel(report)
            if old is not None:
                self.model.sort, self.model.filter = old.sort, old.filter
        self._paint_fleet()
        clusters, enabled, covered, total = self.model.totals()
        text = Text()
        text.append(f"{clusters} cluster(s), {enabled} enabled · ", style="bold")
        share = covered / total if total else 0.0
        text.append(
            f"{share:.0%} of Linux nodes covered ({covered}/{total})",
            style="green" if total and covered == total else "bold red",
        )
        # one line at 80 columns for a usual fleet: the window without a word for it
        text.append(f" · {report.window_h} h · sort {self.model.sort}")
        if self.model.filter:
            text.append(f" · filter “{self.model.filter}”")
        for w in report.warnings[:3]:
            text.append(f"\n⚠ {w}", style="yellow")
        cov.update(text)
        self.call_after_refresh(cov.refresh, layout=True)
        drift = sum(c.drift_count for c in report.clusters)
        missing = total - covered
        self.say(
            f"{missing} node(s) not covered, {drift} drifted · enter: the cluster's nodes"
            if missing
            else "Every Linux node covered.",
            error=bool(missing),
        )

    def _paint_fleet(self) -> None:
        assert self.model is not None
        fleet = self.query_one("#fleet-table", DataTable)
        rows = self.model.visible()
        fleet.clear()
        for r in rows:
            fleet.add_row(*fleet_cells(r), key=r.key)
        keys = [r.key for r in rows]
        if self.selected not in keys:
            self.selected = keys[0] if keys else None
        if self.selected is not None:
            fleet.move_cursor(row=keys.index(self.selected), animate=False)
        self._paint_nodes()

    def _paint_nodes(self) -> None:
        table = self.query_one("#status-table", DataTable)
        label = self.query_one("#spark-label", Static)
        spark = self.query_one("#spark", Sparkline)
        c = self.model.cluster(self.selected) if self.model and self.selected else None
        nodes = c.nodes if c is not None else ()
        # the columns again each time: the reason column's width follows the screen and names
        table.clear(columns=True)
        wrap = reason_width(self.size.width, nodes)
        for key, title in COLUMNS:
            table.add_column(title, key=key, width=wrap if key == "reason" else None)
        if c is None:
            label.update("")
            spark.data = []
            return
        for n in c.nodes:
            # height None: as many lines as the wrapped reason and its fix take
            table.add_row(*status_cells(n), key=f"{c.name}/{n.node}", height=None)
        total = sum(c.hourly)
        who = f", enabled by {c.enabled_by}" if c.enabled_by else ""
        label.update(f"{c.name}{who}: {total:,} audit records / {len(c.hourly)} h ")
        spark.data = list(c.hourly) or [0]

    def on_resize(self, _event: Any) -> None:
        if self.model is not None:
            self._paint_nodes()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "fleet-table" or event.row_key is None:
            return
        key = str(event.row_key.value)
        if key != self.selected:
            self.selected = key
            self._paint_nodes()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "fleet-table":  # enter: drill into the nodes
            self.query_one("#status-table", DataTable).focus()

    def action_probe(self) -> None:
        """The live node probe, only after a yes: it starts privileged pods on the nodes."""

        def answer(yes: bool | None) -> None:
            if yes:
                self.say("Probing the nodes of the clusters applied from here…")
                self.post_message(ReadStatus(self.cluster, probe_nodes=True))
                self._paint()

        self._dialog(
            ConfirmScreen(
                "Probe the nodes live? This starts a check pod (privileged, hostPID) on every "
                "Linux node of the clusters applied from this machine, and deletes it after; it "
                "changes nothing on the node but aksaudit's own heartbeat file. Status without "
                "it reads only what the clusters and workspaces report.",
                yes="Probe",
            ),
            answer,
        )

    def action_sort(self) -> None:
        if self.model is not None:
            self.say(f"Sorted by {self.model.next_sort()}.")
            self._paint()

    def action_back(self) -> None:
        self.post_message(Navigate(self.aks.came_from or "start"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "next"

    def action_refresh(self) -> None:
        self.post_message(ReadStatus(self.cluster))
        self._paint()

    def action_filter(self) -> None:
        """Show only clusters whose name or subscription contains the text (or whose state is
        it: covered, partial, not enabled, unknown); empty shows all."""
        if self.model is None:
            return

        def done(text: str | None) -> None:
            if text is None or self.model is None:
                return
            self.model.filter = text.strip()
            self._paint()

        self._dialog(
            PromptScreen("Filter clusters (name, subscription or state):", self.model.filter),
            done,
        )

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

        self._dialog(PromptScreen(f"Write {kind.upper()} to:", f"status.{kind}"), write)

    def action_export_json(self) -> None:
        self._export("json")

    def action_export_csv(self) -> None:
        self._export("csv")
