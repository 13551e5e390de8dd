"""Remove, step 1: pick an applied run from this machine's journal, and which of its clusters.
Each cluster is offered only under the apply that configured it last (``runlist.removable``):
remove undoes with that run's plan, so an older, superseded plan must not be picked for it.

The run's plan says what was applied (log path, delivery, namespace); remove undoes it on the
picked clusters: every Linux node restored from its backups, the keeper (or one-shot pods),
its ConfigMap and namespace deleted, and, when asked, the log path changes our applies recorded.
Next asks the App for a review of exactly that (``PickRemoval``); nothing changes before the
confirm on the review screen.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from aksaudit_tui.tui.messages import PickRemoval, RefreshRuns
from aksaudit_tui.tui.models import runlist
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.widgets.choices import CheckList

INTRO = (
    "Remove undoes an enablement: every Linux node gets its audit configuration back from the "
    "backups the node script kept, and the keeper DaemonSet (or one-shot pods), its ConfigMap "
    "and namespace are deleted. Pick the run that applied it, then its clusters."
)
LOG_PATH_OPTION = "log-path"


class RemoveScreen(WizardScreen):
    """Pick the applied run and its clusters to remove from; Next reviews what remove does."""

    NEXT_LABEL = "Review removal ▸"

    _run_id: str | None = None  # the run whose clusters are listed

    def compose_body(self) -> ComposeResult:
        yield Static(INTRO, id="remove-intro", markup=False)
        with Horizontal(id="remove-main"):
            yield OptionList(id="remove-runs")
            with Vertical(id="remove-side"):
                yield Static("Clusters (space picks):", classes="section-title")
                yield CheckList(id="remove-clusters")
                yield CheckList(id="remove-options")

    def on_mount(self) -> None:
        opts = self.query_one("#remove-options", CheckList)
        opts.add_option(
            Selection(
                Text(
                    "Also undo the log path changes aksaudit recorded (DCR facility, data "
                    "source, agent extensions)"
                ),
                LOG_PATH_OPTION,
                False,
            )
        )
        opts.highlighted = 0  # space toggles it as soon as tab reaches it
        self.data_changed("all", None)
        self.query_one("#remove-runs", OptionList).focus()

    def runs(self) -> list[Any]:
        return runlist.removable(self.aks.job("runs").result or [])

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic == "resume" and not self.aks.job("runs").running:
            self.post_message(RefreshRuns())  # applies may have finished meanwhile
        if topic not in ("all", "resume", "runs"):
            return
        ol = self.query_one("#remove-runs", OptionList)
        keep = self._run_id
        runs = self.runs()
        now = self.aks.clock()
        ol.clear_options()
        ol.add_options(Option(Text(runlist.describe(r, now)), id=r.run_id) for r in runs)
        if not runs:
            self._show_clusters(None)
            self.say("No applied run in this machine's journal to remove.", error=True)
            return
        ids = [r.run_id for r in runs]
        ol.highlighted = ids.index(keep) if keep in ids else 0
        self._show_clusters(runs[ol.highlighted])
        self.say("enter/arrows: the run · tab: its clusters · ctrl+n: review the removal")

    def _show_clusters(self, run: Any | None) -> None:
        run_id = run.run_id if run is not None else None
        if run_id == self._run_id and run is not None:
            return  # the user's picks stay while the same run is shown
        self._run_id = run_id
        cl = self.query_one("#remove-clusters", CheckList)
        cl.clear_options()
        if run is not None:
            cl.add_options(Selection(Text(name), name, True) for name in run.clusters)
            cl.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id != "remove-runs":
            return
        run = next((r for r in self.runs() if r.run_id == event.option.id), None)
        self._show_clusters(run)

    def picked(self) -> tuple[str, ...]:
        return tuple(str(v) for v in self.query_one("#remove-clusters", CheckList).selected)

    def check_next(self) -> str | None:
        if self._run_id is None:
            return "No applied run to remove."
        if not self.picked():
            return "Pick at least one cluster (space)."
        return None

    def go_next(self) -> None:
        if self._run_id is None:
            return
        undo_log_path = LOG_PATH_OPTION in self.query_one("#remove-options", CheckList).selected
        self.post_message(PickRemoval(self._run_id, self.picked(), undo_log_path))
