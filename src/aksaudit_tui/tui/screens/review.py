"""Review: every change per cluster ("already done" / "will change"); nothing runs before yes."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from aksaudit_tui.engine.equivalents import equivalent_commands
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.tui.app import error_text
from aksaudit_tui.tui.messages import ReviewPlan, StartRun
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.screens.modals import ConfirmScreen, PromptScreen, TextViewScreen


class ReviewScreen(WizardScreen):
    """Every change the plan would make; Next asks, then starts the run."""

    NEXT_LABEL = "Confirm & run ▸"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "export", "Export plan.yaml", id="review.export"),
        Binding("y", "commands", "az/kubectl", id="review.commands"),
        Binding("v", "script", "Node script", id="review.script"),
    ]

    plan: Plan | None = None
    # The review job generation that answers this screen's latest request (the request is a
    # message: until the App starts it, the job still holds the previous review's answer).
    _asked_gen = 0
    _head = ""  # the summary above the table: the choices, one line per cluster

    def compose_body(self) -> ComposeResult:
        yield Static("", id="review-summary", markup=False)
        yield DataTable(id="changes", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#changes", DataTable)
        table.add_column("Cluster", key="cluster")
        table.add_column("Step", key="step")
        table.add_column("Status", key="status")
        table.add_column("Change", key="change")
        self.data_changed("all", None)
        table.focus()

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic in ("all", "resume"):
            self._rebuild()
        elif topic == "review":
            self._show()

    def _rebuild(self) -> None:
        st = self.aks.state
        problem = st.missing()
        summary = self.query_one("#review-summary", Static)
        self.query_one("#changes", DataTable).clear()
        if problem:
            self.plan = None
            summary.update("The plan is not complete yet.")
            self.say(problem, error=True)
            return
        self.plan = st.to_plan()
        p = self.plan
        # one line per cluster: where its audit lines go, and why that workspace
        sends = [
            f"{c.name} → workspace {p.workspace_for(c).name} ({p.why_for(c)})" for c in p.clusters
        ]
        self._head = "\n".join(
            [
                f"{len(p.clusters)} cluster(s) · path {p.log_path} · presets "
                f"{', '.join(p.presets) or '-'}{' + custom' if p.custom_rules else ''} · "
                f"{p.facility}.{p.severity} · {p.delivery} in {p.namespace}",
                *sends,
            ]
        )
        summary.update(self._head + "\nProbing the clusters (nothing is changed)…")
        self.say("Reviewing…")
        self._asked_gen = self.aks.job("review").generation + 1
        self.post_message(ReviewPlan(p))

    def _show(self) -> None:
        job = self.aks.job("review")
        if job.running or job.generation < self._asked_gen:
            return
        table = self.query_one("#changes", DataTable)
        table.clear()
        summary = self.query_one("#review-summary", Static)
        text = self._head
        if job.error:
            summary.update(text + "\nReview failed.")
            self.say(f"Review failed: {job.error}", error=True)
            return
        changes = job.result or []
        will = sum(1 for c in changes if c.status == "will change")
        warnings = [c.warning for c in changes if c.warning]
        for i, c in enumerate(changes):
            style = "yellow" if c.status == "will change" else "green"
            table.add_row(
                Text(c.cluster),
                Text(c.step),
                Text(c.status, style=style),
                Text(c.description + (f" ⚠ {c.warning}" if c.warning else "")),
                key=str(i),
            )
        tail = f"{will} change(s) to make, {len(changes) - will} already done."
        if warnings:
            tail += f" ⚠ {warnings[0]}"
        summary.update(text + "\n" + tail)
        self.say("Nothing has changed yet. ctrl+n: confirm and run · e: export · v: script")

    # --- actions ---------------------------------------------------------------------------------

    def check_next(self) -> str | None:
        job = self.aks.job("review")
        if self.plan is None:
            return self.aks.state.missing() or "The plan is not complete."
        if job.running or job.generation < self._asked_gen:
            return "Still reviewing; wait a moment."
        if job.error:
            return f"Review failed: {job.error}"
        return None

    def go_next(self) -> None:
        plan = self.plan
        if plan is None:
            return
        changes = self.aks.job("review").result or []
        will = sum(1 for c in changes if c.status == "will change")

        def answer(yes: bool | None) -> None:
            if yes:
                self.post_message(StartRun("apply", plan=plan))

        self.app.push_screen(
            ConfirmScreen(
                f"Apply {will} change(s) to {len(plan.clusters)} cluster(s)? This installs "
                f"auditd on every Linux node through privileged pods ({plan.delivery}).",
                yes="Run",
            ),
            answer,
        )

    def action_export(self) -> None:
        if self.plan is None:
            self.say(self.aks.state.missing() or "Nothing to export.", error=True)
            return
        plan = self.plan

        def write(path: str | None) -> None:
            if not path:
                return
            from aksaudit_tui.engine import plan_io

            try:
                plan_io.dump(plan, Path(path).expanduser())
            except Exception as exc:
                self.say(f"Export failed: {error_text(exc)}", error=True)
                return
            self.say(f"Plan written to {path} (aksaudit apply {path} --yes runs it headless).")

        self.app.push_screen(PromptScreen("Write the plan to:", "plan.yaml"), write)

    def action_commands(self) -> None:
        if self.plan is None:
            self.say(self.aks.state.missing() or "No plan yet.", error=True)
            return
        self.app.push_screen(
            TextViewScreen("Equivalent az / kubectl commands", equivalent_commands(self.plan))
        )

    def action_script(self) -> None:
        if self.plan is None:
            self.say(self.aks.state.missing() or "No plan yet.", error=True)
            return
        from aksaudit_tui.engine import rules

        try:
            text = rules.render_plan_rules(self.plan)
            script = rules.node_script(self.plan, text)
        except Exception as exc:
            self.say(f"Cannot render the node script: {error_text(exc)}", error=True)
            return
        self.app.push_screen(
            TextViewScreen("The node script (runs as root on every Linux node)", script)
        )
