"""Discover: the tree streams in; pick target clusters, see (and change) each one's workspace.

Each picked cluster shows its workspace and why in the tree ("add-on's workspace", "same
subscription and region", "picked by you"; the engine's rule decides the default), and the
line under the tree says it for the cluster under the cursor; ``w`` changes it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Static, Tree

from aksaudit_tui.cloud.models import Cluster
from aksaudit_tui.engine.workspace_choice import WorkspaceChoice, default_workspace
from aksaudit_tui.tui.messages import Discover
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.screens.workspace_pick import WorkspacePickScreen
from aksaudit_tui.tui.widgets.cluster_tree import ClusterTree, NodeData, in_place


class DiscoverScreen(WizardScreen):
    """The discovered tree; pick clusters (space), change a cluster's workspace (w)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "rediscover", "Discover again", id="discover.refresh"),
        Binding("w", "workspace", "Workspace", id="discover.workspace"),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="discover-main"):
            yield ClusterTree(id="clusters")
            with Vertical(id="discover-side"):
                yield Static("", id="discover-detail", markup=False)
        yield Static("", id="workspace-row", markup=False)

    def on_mount(self) -> None:
        self.post_message(Discover())
        self.data_changed("all", None)
        self.query_one(ClusterTree).focus()

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic not in ("all", "resume", "discovery"):
            return
        app = self.aks
        st = app.state
        job = app.job("discovery")
        loading = job.running and not st.discovery_done
        tree = self.query_one(ClusterTree)
        # the tree is narrow: the workspace's name there, the why beside it (detail, row)
        picked = {c.id: short_label(st.workspace_choice(c)) for c in st.chosen_clusters}
        tree.sync(st.subscriptions, st.clusters, st.selected, loading, picked)
        self._status_line(loading, job.error)
        self._detail()

    def _status_line(self, loading: bool, error: str | None) -> None:
        st = self.aks.state
        if error:
            self.say(f"Discovery failed: {error}", error=True)
            return
        parts = [f"{len(st.clusters)} cluster(s)", f"{len(st.selected)} picked"]
        if loading:
            parts.append("discovering…")
        if st.errors:
            parts.append(f"{len(st.errors)} error(s): " + st.errors[0].message[:60])
        self.say(" · ".join(parts), error=bool(st.errors))

    def _cursor_cluster(self) -> Cluster | None:
        node = self.query_one(ClusterTree).cursor_node
        while node is not None and node.data is not None and node.data[0] == "info":
            node = node.parent
        if node is not None and node.data is not None and node.data[0] == "cluster":
            return self.aks.state.cluster_by_id(node.data[1])
        return None

    def _detail(self) -> None:
        detail = self.query_one("#discover-detail", Static)
        row = self.query_one("#workspace-row", Static)
        cluster = self._cursor_cluster()
        if cluster is None:
            detail.update(
                "Space picks the cluster under the cursor; pick one or more, then Next "
                "(ctrl+n). Each cluster sends to the workspace its monitoring add-on uses, "
                "else the one in its subscription and region; w changes it."
            )
            row.update("Workspace: per cluster (move to a cluster; w changes it)")
            return
        st = self.aks.state
        choice = st.workspace_choice(cluster)
        ws = choice.workspace
        row.update(
            f"Workspace for {cluster.name}: "
            + (f"{ws.name}, {ws.location} — {choice.why_text}" if ws else choice.why_text)
            + " · w: change"
        )
        text = Text()
        text.append(f"{cluster.name}\n", style="bold")
        text.append(f"resource group {cluster.resource_group}\n")
        text.append(f"node RG {cluster.node_resource_group}\n")
        text.append(f"Kubernetes {cluster.kubernetes_version or '?'}\n")
        text.append(f"Workspace: {choice_label(choice)}\n\n")
        text.append("Already in place:\n", style="bold")
        for line in in_place(cluster):
            text.append(f"• {line}\n")
        detail.update(text)

    def on_tree_node_highlighted(self, _event: Tree.NodeHighlighted[NodeData]) -> None:
        self._detail()

    def on_cluster_tree_cluster_toggled(self, event: ClusterTree.ClusterToggled) -> None:
        self.aks.state.toggle(event.cluster_id)
        self.data_changed("discovery", None)

    def action_rediscover(self) -> None:
        self.post_message(Discover(again=True))
        self.data_changed("discovery", None)

    def action_workspace(self) -> None:
        """w: pick the workspace of the cluster under the cursor (it is picked too)."""
        st = self.aks.state
        cluster = self._cursor_cluster()
        if cluster is None:
            self.say("Move to a cluster first: w picks that cluster's workspace.", error=True)
            return
        if not st.workspaces:
            self.say("No workspace found yet.", error=True)
            return
        cid = cluster.id

        def done(answer: str | None) -> None:
            if answer is None:
                return
            st.pick_workspace(cid, answer or None)
            if cid not in st.selected:
                st.toggle(cid)
            self.data_changed("discovery", None)

        self.app.push_screen(
            WorkspacePickScreen(
                cluster,
                default_workspace(cluster, st.workspaces),
                st.workspace_choice(cluster),
                st.workspaces,
            ),
            done,
        )

    def check_next(self) -> str | None:
        st = self.aks.state
        if not st.chosen_clusters:
            return "Pick at least one cluster (space on a cluster)."
        for c in st.chosen_clusters:
            choice = st.workspace_choice(c)
            if choice.workspace is None:
                return f"Pick a workspace for {c.name} (w on it): {choice.ask}."
        return None


def choice_label(choice: WorkspaceChoice) -> str:
    """A cluster's workspace and why, short: "law-x (add-on's workspace)"."""
    if choice.workspace is None:
        return f"none yet ({choice.ask}); w picks one"
    return f"{choice.workspace.name} ({choice.why_text})"


def short_label(choice: WorkspaceChoice) -> str:
    """A picked cluster's workspace in the tree: its name, or that one must be picked."""
    return choice.workspace.name if choice.workspace else "pick a workspace (w)"
