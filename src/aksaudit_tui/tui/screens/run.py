"""Run: step list, per-node table, the selected step's or node's log, overall progress.

Renders the App's ``RunModel``; the App folds engine events in batches and calls
``data_changed`` once per batch with what changed, so only touched rows are updated.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Log, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from aksaudit_tui.tui.runmodel import Changes, NodeState
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.screens.modals import ConfirmScreen

PHASE_STYLE = {
    "compliant": "green",
    "failed": "bold red",
    "skipped": "dim",
    "running": "yellow",
    "scheduled": "yellow",
    "removed": "cyan",
}
OUTCOME_TEXT = {
    "ok": "Run finished: ok. ctrl+n: verify that audit lines arrive.",
    "partial": "Run finished: partly failed (see the failed steps/nodes). ctrl+n: verify.",
    "failed": "Run failed (see the log). Fix and resume from the start screen.",
    "cancelled": "Run cancelled safely; resume it from the start screen.",
}
COLUMNS = (
    ("node", "Node"),
    ("pool", "Pool"),
    ("os", "OS"),
    ("phase", "Phase"),
    ("audit", "Audit"),
    ("result", "Result"),
)


def node_cells(n: NodeState) -> list[Text]:
    return [
        Text(n.node),
        Text(n.pool),
        Text(n.os),
        Text(n.phase, style=PHASE_STYLE.get(n.phase, "")),
        Text(n.audit_version or "-"),
        Text(n.result, style="red" if n.phase == "failed" else ""),
    ]


class RunScreen(WizardScreen):
    STEP = "run"
    BACK = "start"  # the run goes on in the background (it belongs to the App)
    NEXT = "verify"
    NEXT_LABEL = "Verify ▸"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+x", "cancel_run", "Cancel run", id="run.cancel"),
    ]

    log_key: str | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="run-main"):
            yield OptionList(id="steps")
            yield DataTable(id="nodes", cursor_type="row", zebra_stripes=True)
        with Vertical(id="run-log-box"):
            yield Label("Log", id="log-title", markup=False)
            yield Log(id="run-log", max_lines=1000)
        with Horizontal(id="run-progress"):
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="counts", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#nodes", DataTable)
        for key, title in COLUMNS:
            table.add_column(title, key=key)
        self.data_changed("all", None)

    # --- rendering -------------------------------------------------------------------------------

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic in ("all", "resume"):
            self._full()
        elif topic == "run":
            if changes is None:
                self._full()
            else:
                self._apply(changes)
            self._footer_line()

    def _full(self) -> None:
        model = self.aks.run_model
        self._rebuild_steps()
        table = self.query_one("#nodes", DataTable)
        table.clear()
        for key, n in model.nodes.items():
            table.add_row(*node_cells(n), key=key)
        self._show_log()
        self._footer_line()

    def _step_options(self) -> list[Option]:
        model = self.aks.run_model
        opts = []
        if model.warnings:
            opts.append(
                Option(Text(f"⚠ {len(model.warnings)} warning(s)", style="yellow"), id="warnings")
            )
        opts += [Option(Text(s.label()), id=k) for k, s in model.steps.items()]
        return opts

    def _rebuild_steps(self) -> None:
        ol = self.query_one("#steps", OptionList)
        keep = ol.highlighted
        opts = self._step_options()
        ol.clear_options()
        ol.add_options(opts)
        if opts:
            ol.highlighted = keep if keep is not None and keep < len(opts) else 0

    def _apply(self, ch: Changes) -> None:
        model = self.aks.run_model
        ol = self.query_one("#steps", OptionList)
        if (
            ch.started
            or "warnings" in ch.steps
            or any(not self._has_option(ol, k) for k in ch.steps)
        ):
            self._rebuild_steps()
        else:
            for key in ch.steps:
                ol.replace_option_prompt(key, Text(model.steps[key].label()))
        table = self.query_one("#nodes", DataTable)
        new_rows = []
        for key in ch.nodes:
            n = model.nodes[key]
            if key in table.rows:
                for (col, _title), cell in zip(COLUMNS, node_cells(n), strict=True):
                    table.update_cell(key, col, cell)
            else:
                new_rows.append(key)
        for key in new_rows:
            table.add_row(*node_cells(model.nodes[key]), key=key)
        if self.log_key is None and model.steps:
            self.log_key = next(iter(model.steps))
        if self.log_key in ch.logs or ch.started:
            self._show_log()

    @staticmethod
    def _has_option(ol: OptionList, key: str) -> bool:
        try:
            ol.get_option(key)
        except OptionDoesNotExist:
            return False
        return True

    def _show_log(self) -> None:
        model = self.aks.run_model
        key = self.log_key
        title = self.query_one("#log-title", Label)
        log = self.query_one("#run-log", Log)
        log.clear()
        if key is None:
            title.update("Log")
            return
        step = self.aks.run_model.steps.get(key)
        label = f"{key} — {step.title}" if step is not None else key.removeprefix("node:")
        title.update(f"Log: {label}")
        lines = list(model.logs.get(key, ()))
        if lines:
            log.write_lines(lines)

    def _footer_line(self) -> None:
        model = self.aks.run_model
        job = self.aks.job("run")
        done, total = model.progress()
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(total, 1), progress=done)
        self.query_one("#counts", Static).update(model.summary_line())
        if job.error:
            self.say(f"The run stopped with an error: {job.error}", error=True)
        elif model.outcome:
            self.say(OUTCOME_TEXT.get(model.outcome, model.outcome), model.outcome != "ok")
        elif model.verifying():
            self.say("Checking that audit lines arrive · ctrl+n: watch it on the verify screen")
        elif model.run_id:
            self.say(f"Run {model.run_id} in progress · ctrl+x cancels safely")
        elif job.running:
            self.say("Starting the run…")

    # --- selection -------------------------------------------------------------------------------

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.log_key = event.option.id
            self._show_log()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Only a user moving the cursor picks a node's log (rows appearing must not).
        if event.row_key.value and event.data_table.has_focus:
            self.log_key = f"node:{event.row_key.value}"
            self._show_log()

    # --- actions ---------------------------------------------------------------------------------

    def check_next(self) -> str | None:
        model = self.aks.run_model
        if model.verifying():
            return None  # watch the arrival check live
        if model.running or self.aks.job("run").running:
            return "The run is still going; verify when it has finished."
        if model.outcome in ("ok", "partial"):
            return None
        return "Nothing to verify: the run did not finish."

    def action_cancel_run(self) -> None:
        if not self.aks.job("run").running:
            self.say("No run in progress.")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.aks.cancel_run()
                self.say("Cancelling: finishing in-flight calls, deleting one-shot pods…")

        self.app.push_screen(
            ConfirmScreen(
                "Cancel the run? It stops starting work, records in-flight steps as "
                "interrupted (resume later) and deletes one-shot pods.",
                yes="Cancel the run",
                no="Keep running",
            ),
            answer,
        )
