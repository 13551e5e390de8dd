"""Remove, step 2: what remove will do per cluster and step (probed, nothing changed); Next asks,
then starts the remove run on the run screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from aksaudit_tui.tui.messages import StartRun
from aksaudit_tui.tui.models.runlist import Removal
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.screens.modals import ConfirmScreen


class RemoveReviewScreen(WizardScreen):
    """Every step remove would take on the picked clusters; Next asks, then removes."""

    NEXT_LABEL = "Confirm & remove ▸"

    def compose_body(self) -> ComposeResult:
        yield Static("", id="remove-summary", markup=False)
        yield DataTable(id="remove-changes", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#remove-changes", DataTable)
        table.add_column("Cluster", key="cluster")
        table.add_column("Step", key="step")
        table.add_column("Status", key="status")
        table.add_column("What remove does", key="change")
        self.data_changed("all", None)
        table.focus()

    @property
    def removal(self) -> Removal | None:
        return self.aks.removal

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic not in ("all", "resume", "remove_review"):
            return
        summary = self.query_one("#remove-summary", Static)
        table = self.query_one("#remove-changes", DataTable)
        table.clear()
        r = self.removal
        if r is None:
            summary.update("Nothing picked to remove yet.")
            self.say("Pick a run and its clusters first (escape).", error=True)
            return
        p = r.plan
        # a record's line already names the cluster, its delivery and namespace
        origin = (
            f"({r.source})"
            if r.source
            else f"(applied by run {r.run_id}) · {p.delivery} in {p.namespace}"
        )
        names = "" if r.source else f"{', '.join(c.name for c in p.clusters)} "
        head = (
            f"Remove from {len(p.clusters)} cluster(s): {names}{origin} · log path "
            f"{p.log_path}: " + ("undo what aksaudit recorded" if r.include_log_path else "kept")
        )
        job = self.aks.job("remove_review")
        if job.running:
            summary.update(head + "\nProbing the clusters (nothing is changed)…")
            self.say("Reviewing…")
            return
        if job.error:
            summary.update(head + "\nReview failed.")
            self.say(f"Review failed: {job.error}", error=True)
            return
        rows = job.result or []
        for i, c in enumerate(rows):
            style = "yellow" if c.status == "will change" else "green"
            table.add_row(
                Text(c.cluster),
                Text(c.step),
                Text(c.status, style=style),
                Text(c.description + (f" ⚠ {c.warning}" if c.warning else "")),
                key=str(i),
            )
        will = sum(1 for c in rows if c.status == "will change")
        summary.update(head + f"\n{will} change(s) to make. Nothing has changed yet.")
        self.say("ctrl+n: confirm and remove · escape: change the pick")

    def check_next(self) -> str | None:
        job = self.aks.job("remove_review")
        if self.removal is None:
            return "Pick a run and its clusters first (escape)."
        if job.running:
            return "Still reviewing; wait a moment."
        if job.error:
            return f"Review failed: {job.error}"
        return None

    def go_next(self) -> None:
        r = self.removal
        if r is None:
            return
        names = ", ".join(c.name for c in r.plan.clusters)

        def answer(yes: bool | None) -> None:
            if yes:
                self.post_message(
                    StartRun(
                        "remove", plan=r.plan, include_log_path=r.include_log_path, undo=r.undo
                    )
                )

        extra = " and undo the recorded log path changes" if r.include_log_path else ""
        self.app.push_screen(
            ConfirmScreen(
                f"Remove the audit configuration from {names}{extra}? Privileged pods restore "
                "every Linux node; the keeper, its ConfigMap and namespace are deleted.",
                yes="Remove",
            ),
            answer,
        )
