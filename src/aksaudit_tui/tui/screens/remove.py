"""Remove, step 1: pick an applied run from this machine's journal, and which of its clusters,
or a cluster whose own record (ConfigMap ``aksaudit-applied``, read through the engine: job
``recorded``) says it is enabled, whoever enabled it from whichever machine. Each cluster is
offered under a run only for the apply that configured it last (``runlist.removable``): remove
undoes with that run's plan, so an older, superseded plan must not be picked for it. A cluster
offered from its record is removed as the record says it was applied.

The run's plan says what was applied (log path, delivery, namespace); remove undoes it on the
picked clusters: every Linux node restored from its backups, the keeper (or one-shot pods),
its ConfigMap and namespace deleted, and, when asked, the log path changes our applies recorded.
Next asks the App for a review of exactly that (``PickRemoval``); nothing changes before the
confirm on the review screen.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from aksaudit_tui.tui.messages import PickRemoval, RefreshRuns, ScanRecords
from aksaudit_tui.tui.models import runlist
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.widgets.choices import CheckList

INTRO = (
    "Remove undoes an enablement: every Linux node gets its audit configuration back from the "
    "backups the node script kept, and the keeper DaemonSet (or one-shot pods), its ConfigMap "
    "and namespace are deleted. Pick the run that applied it, then its clusters, or a cluster "
    "whose own record says it is enabled (from any machine)."
)
RECORD_PREFIX = "record:"  # option ids of clusters offered from their record
LOG_PATH_OPTION = "log-path"


class RemoveScreen(WizardScreen):
    """Pick the applied run and its clusters to remove from; Next reviews what remove does."""

    NEXT_LABEL = "Review removal ▸"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "refresh", "Read again", id="remove.refresh", show=False),
    ]

    _run_id: str | None = None  # the run (or RECORD_PREFIX + cluster id) whose clusters show

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
        # The clusters' own records (read-only): a read of the whole fleet (discovery and a
        # kube list per cluster), so once here, not each time the screen shows (ctrl+r reads
        # them again; the App reads them again after a run changed them).
        self.post_message(ScanRecords())

    def action_refresh(self) -> None:
        self.post_message(RefreshRuns())
        self.post_message(ScanRecords(again=True))

    def runs(self) -> list[Any]:
        return runlist.removable(self.aks.job("runs").result or [])

    def recorded(self) -> list[Any]:
        """The clusters whose own record says they are enabled (engine ``RecordScan``)."""
        scan = self.aks.job("recorded").result
        return list(scan.clusters) if scan is not None else []

    def _entries(self) -> list[tuple[str, Text, tuple[str, ...]]]:
        """(option id, label, clusters): this machine's runs, then the recorded clusters."""
        now = self.aks.clock()
        out = [(r.run_id, Text(runlist.describe(r, now)), tuple(r.clusters)) for r in self.runs()]
        out += [
            (RECORD_PREFIX + rc.target.id, Text(rc.describe()), (rc.name,))
            for rc in self.recorded()
        ]
        return out

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic == "resume" and not self.aks.job("runs").running:
            self.post_message(RefreshRuns())  # applies may have finished meanwhile
        if topic == "resume":
            self.post_message(ScanRecords())  # only if a run changed records since (App)
        if topic not in ("all", "resume", "runs", "recorded"):
            return
        ol = self.query_one("#remove-runs", OptionList)
        keep = self._run_id
        entries = self._entries()
        ol.clear_options()
        ol.add_options(Option(label, id=oid) for oid, label, _c in entries)
        if not entries:
            self._show_clusters(None)
            self.say(self._nothing(), error=not self.aks.job("recorded").running)
            return
        ids = [oid for oid, _l, _c in entries]
        ol.highlighted = ids.index(keep) if keep in ids else 0
        self._show_clusters(entries[ol.highlighted])
        job = self.aks.job("recorded")
        reading = " · reading the clusters' records…" if job.running else ""
        self.say(
            "enter/arrows: the run or cluster · tab: its clusters · ctrl+n: review the removal"
            + reading
        )
        if job.error:
            self.say(f"Could not read the clusters' records: {job.error}", error=True)

    def _nothing(self) -> str:
        job = self.aks.job("recorded")
        if job.running:
            return "No applied run in this machine's journal; reading the clusters' records…"
        if job.error:
            return f"No applied run in this machine's journal; the clusters' records: {job.error}"
        scan = job.result
        problems = f" ({'; '.join(scan.problems[:2])})" if scan and scan.problems else ""
        return (
            "No applied run in this machine's journal, and no cluster holds an aksaudit "
            f"record to remove{problems}."
        )

    def _show_clusters(self, entry: tuple[str, Text, tuple[str, ...]] | None) -> None:
        oid = entry[0] if entry is not None else None
        if oid == self._run_id and entry is not None:
            return  # the user's picks stay while the same run is shown
        self._run_id = oid
        cl = self.query_one("#remove-clusters", CheckList)
        cl.clear_options()
        if entry is not None:
            cl.add_options(Selection(Text(name), name, True) for name in entry[2])
            cl.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id != "remove-runs":
            return
        entry = next((e for e in self._entries() if e[0] == event.option.id), None)
        self._show_clusters(entry)

    def picked(self) -> tuple[str, ...]:
        return tuple(str(v) for v in self.query_one("#remove-clusters", CheckList).selected)

    def check_next(self) -> str | None:
        if self._run_id is None:
            return "Nothing to remove: no applied run here, no cluster with a record."
        if not self.picked():
            return "Pick at least one cluster (space)."
        return None

    def go_next(self) -> None:
        if self._run_id is None:
            return
        undo_log_path = LOG_PATH_OPTION in self.query_one("#remove-options", CheckList).selected
        if self._run_id.startswith(RECORD_PREFIX):
            cid = self._run_id.removeprefix(RECORD_PREFIX)
            rc = next((r for r in self.recorded() if r.target.id == cid), None)
            if rc is not None:
                self.post_message(PickRemoval("", self.picked(), undo_log_path, recorded=rc))
            return
        self.post_message(PickRemoval(self._run_id, self.picked(), undo_log_path))
