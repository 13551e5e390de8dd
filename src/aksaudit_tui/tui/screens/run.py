"""Run: step list, per-node table, the selected step's or node's log, overall progress.

Renders the App's ``RunModel``; the App folds engine events in batches and calls
``data_changed`` once per batch with what changed, so only touched rows are updated.
"""

from __future__ import annotations

import time
from typing import ClassVar, get_args

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Label, Log, OptionList, ProgressBar, Static
from textual.widgets.data_table import ColumnKey, RowKey
from textual.widgets.option_list import Option, OptionDoesNotExist

from aksaudit_tui.engine.events import NodePhase
from aksaudit_tui.tui.messages import CancelRun
from aksaudit_tui.tui.models.runmodel import Changes, NodeState
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.screens.modals import ConfirmScreen
from aksaudit_tui.tui.widgets.navbar import NavBar
from aksaudit_tui.tui.widgets.node_table import NodeTable

DRAW_S = 0.3  # batches are folded every 100 ms; the run screen redraws at most this often
PHASE_WIDTH = max(len(p) for p in get_args(NodePhase))
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
REMOVE_OUTCOME_TEXT = {
    "ok": "Removal finished: every node restored. F2: the clusters' status.",
    "partial": "Removal partly failed (see the failed steps/nodes); remove again to finish.",
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
    """The live run; Back leaves it running (it belongs to the App)."""

    NEXT_LABEL = "Verify ▸"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+x", "cancel_run", "Cancel run", id="run.cancel"),
    ]

    log_key: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self._ready = False  # columns added: before that the model is the queue
        self._pending = Changes()  # batches since the last redraw
        self._last_draw = 0.0
        self._timer: Timer | None = None
        self._log_shown: tuple[str | None, int] = (None, 0)  # (log key, its lines written)
        # the log follows the step that started last until the user picks a step or a node
        self._follow = True

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="run-main"):
            yield OptionList(id="steps")
            yield NodeTable(id="nodes", cursor_type="row", zebra_stripes=True)
        with Vertical(id="run-log-box"):
            yield Label("Log", id="log-title", markup=False)
            yield Log(id="run-log", max_lines=1000)
        with Horizontal(id="run-progress"):
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="counts", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#nodes", NodeTable)
        for key, title in COLUMNS:
            table.add_column(title, key=key)
        # Wide enough for every phase from the start: widening mid-run repaints the whole table
        # (and makes the columns jump).
        phase = table.columns[ColumnKey("phase")]
        phase.content_width = max(phase.content_width, PHASE_WIDTH)
        self._ready = True
        self.data_changed("all", None)

    # --- rendering -------------------------------------------------------------------------------

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if not self._ready:
            return  # on_mount draws everything from the model
        if topic in ("all", "resume") or (topic == "run" and changes is None):
            self._full()
        elif topic == "run" and changes is not None:
            # Batches arrive every 100 ms; the screen redraws at most every DRAW_S (a redraw of
            # the node table is the costly part), at once for the start and the end of a run.
            self._pending.merge(changes)
            wait = DRAW_S - (time.monotonic() - self._last_draw)
            if changes.started or changes.finished or wait <= 0:
                self._draw_pending()
            elif self._timer is None:
                self._timer = self.set_timer(wait, self._draw_pending)

    def _draw_pending(self) -> None:
        self._stop_timer()
        self._last_draw = time.monotonic()
        changes, self._pending = self._pending, Changes()
        if changes:
            self._apply(changes)
        self._footer_line()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _full(self) -> None:
        self._stop_timer()
        self._pending = Changes()
        self._last_draw = time.monotonic()
        model = self.aks.run_model
        self._follow_current()
        if self.log_key is None and model.steps:
            self.log_key = next(iter(model.steps))
        self._rebuild_steps()
        table = self.query_one("#nodes", NodeTable)
        keys = list(model.nodes)
        shown = [k.value or "" for k in table.rows]
        if shown != keys[: len(shown)]:
            table.clear()  # another run: start over (keeping rows keeps the cursor otherwise)
            shown = []
        table.set_rows((key, node_cells(model.nodes[key])) for key in shown)
        for key in keys[len(shown) :]:
            table.add_row(*node_cells(model.nodes[key]), key=key)
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
        ids = [o.id for o in opts]
        with ol.prevent(OptionList.OptionHighlighted):  # only a user's move picks a log
            ol.clear_options()
            ol.add_options(opts)
        if self.log_key in ids:
            keep = ids.index(self.log_key)  # by key: a warnings row above shifts the rows
        if opts:
            self._highlight(ol, keep if keep is not None and keep < len(opts) else 0)

    def _highlight(self, ol: OptionList, index: int) -> None:
        """Move the step cursor without it counting as the user's pick."""
        with ol.prevent(OptionList.OptionHighlighted):
            ol.highlighted = index

    def _follow_current(self) -> bool:
        """Point the log at the step that started last (unless the user picked one): True when
        the log's key changed."""
        model = self.aks.run_model
        key = model.current if self._follow else None
        if key is None or key == self.log_key:
            return False
        self.log_key = key
        ol = self.query_one("#steps", OptionList)
        ids = [ol.get_option_at_index(i).id for i in range(ol.option_count)]
        if key in ids:
            self._highlight(ol, ids.index(key))
        return True

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
        table = self.query_one("#nodes", NodeTable)
        rows = table.rows
        new_rows = any(RowKey(key) not in rows for key in ch.nodes)
        table.set_rows(
            (key, node_cells(model.nodes[key])) for key in ch.nodes if RowKey(key) in rows
        )
        if new_rows:  # in the model's order (``ch.nodes`` is a set)
            for key, n in model.nodes.items():
                if RowKey(key) not in rows:
                    table.add_row(*node_cells(n), key=key)
        if self.log_key is None and model.steps:
            self.log_key = next(iter(model.steps))
        if self._follow_current() or ch.started:
            self._show_log()
        elif self.log_key in ch.logs:
            self._append_log()

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
        self._log_shown = (key, model.log_total.get(key, 0) if key else 0)
        if key is None:
            title.update("Log")
            return
        step = self.aks.run_model.steps.get(key)
        label = f"{key} — {step.title}" if step is not None else key.removeprefix("node:")
        title.update(f"Log: {label}")
        lines = list(model.logs.get(key, ()))
        if lines:
            log.write_lines(lines)

    def _append_log(self) -> None:
        """Write only the lines added since the log was shown (a rewrite per batch is costly)."""
        model = self.aks.run_model
        key, written = self._log_shown
        total = model.log_total.get(key, 0) if key else 0
        buf = model.logs.get(key) if key else None
        new = total - written
        if key != self.log_key or buf is None or new < 0 or new > len(buf):
            self._show_log()
            return
        if new:
            self.query_one("#run-log", Log).write_lines(list(buf)[-new:])
            self._log_shown = (key, total)

    def _footer_line(self) -> None:
        model = self.aks.run_model
        job = self.aks.job("run")
        # a removal has nothing to verify: no "Verify ▸" button offering it
        self.query_one(NavBar).show_next(model.kind != "remove")
        done, total = model.progress()
        bar = self.query_one("#progress", ProgressBar)
        if (bar.total, bar.progress) != (max(total, 1), done):
            bar.update(total=max(total, 1), progress=done)
        counts = self.query_one("#counts", Static)
        line = model.summary_line()
        if str(counts.content) != line:
            counts.update(line, layout=False)  # a fixed 1-line box: no relayout
        if job.error:
            self.say(f"The run stopped with an error: {job.error}", error=True)
        elif model.outcome:
            texts = REMOVE_OUTCOME_TEXT if model.kind == "remove" else {}
            text = texts.get(model.outcome) or OUTCOME_TEXT.get(model.outcome, model.outcome)
            self.say(text, model.outcome != "ok")
        elif model.verifying():
            self.say("Checking that audit lines arrive · ctrl+n: watch it on the verify screen")
        elif model.run_id:
            self.say(f"Run {model.run_id} in progress · ctrl+x cancels safely")
        elif job.running:
            self.say("Starting the run…")

    # --- selection -------------------------------------------------------------------------------

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self._follow = False
            self.log_key = event.option.id
            self._show_log()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Only a user moving the cursor picks a node's log (rows appearing must not). The key is
        # None when the row went between the highlight and this message (a new run's rows):
        # seen by make fuzz-tui (seed 50) as an AttributeError that ended the app.
        key = event.row_key.value if event.row_key is not None else None
        if key and event.data_table.has_focus:
            self._follow = False
            self.log_key = f"node:{key}"
            self._show_log()

    # --- actions ---------------------------------------------------------------------------------

    def check_next(self) -> str | None:
        model = self.aks.run_model
        if model.verifying():
            return None  # watch the arrival check live
        if model.running or self.aks.job("run").running:
            return "The run is still going; verify when it has finished."
        if model.kind == "remove":
            return "A removal has nothing to verify; F2 shows the clusters' status."
        if model.outcome in ("ok", "partial"):
            return None
        return "Nothing to verify: the run did not finish."

    def action_cancel_run(self) -> None:
        if not self.aks.job("run").running:
            self.say("No run in progress.")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.post_message(CancelRun())
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
