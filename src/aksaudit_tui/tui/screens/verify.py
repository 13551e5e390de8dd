"""Verify: wait for audit records per node (countdown), then reason and fix per missing node."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from aksaudit_tui.tui.messages import StartVerify
from aksaudit_tui.tui.models.runmodel import ArrivalRow, Changes
from aksaudit_tui.tui.screens.base import WizardScreen

FIXES: tuple[tuple[str, str], ...] = (
    ("not ready", "Bring the node back (kubectl describe node) and run verify again."),
    ("auditd", "Resume the run: the node script did not leave auditd running."),
    ("plugin", "Resume the run: the syslog plugin is not active on the node."),
    ("facility", "Choose a facility the log path collects, or let the run fix the rule."),
    ("log path", "Resume the run: the log path step is not in place for this node."),
    ("extension", "Resume the run: the agent extension is missing on the node's scale set."),
    ("ingestion", "Ingestion can take minutes in Azure: retry (ctrl+r) a little later."),
    ("delay", "Ingestion can take minutes in Azure: retry (ctrl+r) a little later."),
)


def fix_for(reason: str) -> str:
    low = reason.lower()
    for needle, fix in FIXES:
        if needle in low:
            return fix
    return "Open Status (F2) for this node's checks, then resume the run." if reason else ""


def arrival_cells(a: ArrivalRow) -> list[Text]:
    mark = Text("✔ arrived", style="green") if a.arrived else Text("… waiting", style="yellow")
    skipped = a.reason.startswith("skipped")
    if skipped:
        mark = Text("– skipped", style="dim")
    elif not a.arrived and a.reason:
        mark = Text("✖ missing", style="bold red")
    why = a.reason if not a.arrived else ""
    fix = fix_for(a.reason) if (not a.arrived and a.reason and not skipped) else ""
    return [
        Text(a.cluster),
        Text(a.node),
        mark,
        Text(f"{why}{' → ' + fix if fix else ''}"),
        Text(str(a.records)),
        Text(a.last_seen or "-"),
    ]


COLUMNS = (
    ("cluster", "Cluster"),
    ("node", "Node"),
    ("arrived", "Arrival"),
    ("why", "Reason → fix"),
    ("records", "Records"),
    ("last", "Last seen"),
)


class VerifyScreen(WizardScreen):
    """Log arrival per node, with the reason and fix for each missing one."""

    NEXT_LABEL = "Status ▸"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "retry", "Check again", id="verify.retry"),
    ]

    _verified_run: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="verify-banner", markup=False)
        yield DataTable(id="arrivals", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        # The engine polls every 30 s in Azure; the countdown ticks here in between.
        self.set_interval(1.0, self._tick)
        table = self.query_one("#arrivals", DataTable)
        for key, title in COLUMNS:
            table.add_column(title, key=key)
        self.data_changed("all", None)
        table.focus()

    def _maybe_start(self) -> None:
        """Verify once per run, unless the run's own verify step already reported."""
        app = self.aks
        run_id = app.run_model.run_id
        if app.plan is None and run_id is None:
            return
        key = run_id or "plan"
        if self._verified_run == key or app.job("verify").running:
            return
        self._verified_run = key
        if app.verify_model.arrivals or app.run_model.running:
            return  # the run verifies as its last step; its events fill this screen
        self.post_message(StartVerify())

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic in ("all", "resume"):
            self._maybe_start()
            self._full()
        elif topic == "verify":
            if changes is None:
                self._full()
            else:
                table = self.query_one("#arrivals", DataTable)
                model = self.aks.verify_model
                for key in changes.arrivals:
                    cells = arrival_cells(model.arrivals[key])
                    if key in table.rows:
                        for (col, _t), cell in zip(COLUMNS, cells, strict=True):
                            table.update_cell(key, col, cell)
                    else:
                        table.add_row(*cells, key=key)
            self._banner()

    def _full(self) -> None:
        table = self.query_one("#arrivals", DataTable)
        table.clear()
        for key, a in self.aks.verify_model.arrivals.items():
            table.add_row(*arrival_cells(a), key=key)
        self._banner()

    def _banner(self) -> None:
        app = self.aks
        model = app.verify_model
        job = app.job("verify")
        banner = self.query_one("#verify-banner", Static)
        banner.remove_class("-ok", "-bad")
        if app.plan is None and app.run_model.run_id is None:
            banner.update("No run to verify yet. Start a new enablement from the start screen.")
            return
        if job.error:
            banner.update(f"Verify failed: {job.error}")
            banner.add_class("-bad")
            self.say("ctrl+r: try again", error=True)
            return
        report = job.result if job.generation else None
        run = app.run_model
        if job.running or (report is None and run.running):
            left = model.countdown()
            count = f"{model.arrived}/{model.expected or '?'} node(s) arrived"
            wait = f" · {int(left)} s left" if left is not None else ""
            what = "the run is still working" if run.running and not model.expected else count
            banner.update(f"⟳ Waiting for audit records in the workspace: {what}{wait}")
            self.say("Audit lines take a while to be ingested; rows fill in as nodes arrive.")
            return
        if report is None:
            arrivals = [a for a in model.arrivals.values() if not a.reason.startswith("skipped")]
            if not arrivals:
                banner.update("No arrival check yet. ctrl+r checks now.")
                return
            missing = [a for a in arrivals if not a.arrived]
            self._verdict(len(arrivals), len(missing), "")
            return
        self._verdict(
            len(report.nodes),
            len(report.missing),
            report.errors[0] if report.errors else "",
            report.ok,
        )
        # nodes the report knows but no event showed (e.g. skipped): show them too
        table = self.query_one("#arrivals", DataTable)
        verdicts = [(v, False) for v in report.nodes] + [(v, True) for v in report.skipped]
        for v, skipped in verdicts:
            key = f"{v.cluster}/{v.node}"
            reason = f"skipped: {v.reason}" if skipped else v.reason
            row = ArrivalRow(v.cluster, v.node, v.arrived, v.records, v.last_seen, reason)
            app.verify_model.arrivals[key] = row
            cells = arrival_cells(row)
            if key in table.rows:
                for (col, _t), cell in zip(COLUMNS, cells, strict=True):
                    table.update_cell(key, col, cell)
            else:
                table.add_row(*cells, key=key)

    def _tick(self) -> None:
        app = self.aks
        if app.job("verify").running or (app.run_model.running and app.verify_model.expected):
            self._banner()

    def _verdict(self, total: int, missing: int, error: str, ok: bool | None = None) -> None:
        banner = self.query_one("#verify-banner", Static)
        if ok is None:
            ok = total > 0 and missing == 0 and not error
        if ok:
            banner.update(
                f"✔ Audit lines arrived from every Linux node ({total}). "
                "Host-level audit logging works."
            )
            banner.add_class("-ok")
            self.say("ctrl+n: status view · F2 from anywhere")
        else:
            errs = f" · {error}" if error else ""
            banner.update(
                f"✖ {missing} of {total} node(s) sent nothing yet{errs}. "
                "Reasons and fixes are in the table."
            )
            banner.add_class("-bad")
            self.say("ctrl+r: check again", error=True)
        self.call_after_refresh(banner.refresh, layout=True)

    def action_retry(self) -> None:
        if self.aks.job("verify").running:
            self.say("Already checking.")
            return
        self.post_message(StartVerify())
        self._full()
