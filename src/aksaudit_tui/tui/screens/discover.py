"""Discover: the tree streams in; pick target clusters and the workspace."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, Static, Tree

from aksaudit_tui.tui.messages import Discover
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.widgets.cluster_tree import ClusterTree, NodeData, in_place


class DiscoverScreen(WizardScreen):
    """The discovered tree; pick clusters (space) and the workspace (w)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "rediscover", "Discover again", id="discover.refresh"),
        Binding("w", "workspace", "Workspace", id="discover.workspace"),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="discover-main"):
            yield ClusterTree(id="clusters")
            with Vertical(id="discover-side"):
                yield Static("", id="discover-detail", markup=False)
        with Horizontal(id="workspace-row"):
            yield Label("Workspace:")
            yield Select[str]([], id="workspace", prompt="(discovering…)", compact=True)

    _ws_count = 0
    _workspace_touched = False

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
        self.query_one(ClusterTree).sync(st.subscriptions, st.clusters, st.selected, loading)
        sel = self.query_one("#workspace", Select)
        options = [
            (Text(f"{w.name}  ({w.resource_group}, {w.location})"), w.id) for w in st.workspaces
        ]
        if len(options) != self._ws_count:
            self._ws_count = len(options)
            sel.set_options(options)
        # After "Discover again" the chosen workspace may not be listed yet: Select rejects it.
        known = any(w.id == st.workspace_id for w in st.workspaces)
        if st.workspace_id and known and sel.value != st.workspace_id:
            sel.value = st.workspace_id
        if not loading and not st.workspaces:
            sel.prompt = "(no workspace found)"
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

    def _detail(self) -> None:
        tree = self.query_one(ClusterTree)
        node = tree.cursor_node
        detail = self.query_one("#discover-detail", Static)
        while node is not None and node.data is not None and node.data[0] == "info":
            node = node.parent
        cluster = None
        if node is not None and node.data is not None and node.data[0] == "cluster":
            cluster = self.aks.state.cluster_by_id(node.data[1])
        if cluster is None:
            detail.update(
                "Space picks the cluster under the cursor; pick one or more, then the workspace "
                "(w) where audit lines should go, then Next (ctrl+n)."
            )
            return
        text = Text()
        text.append(f"{cluster.name}\n", style="bold")
        text.append(f"resource group {cluster.resource_group}\n")
        text.append(f"node RG {cluster.node_resource_group}\n")
        text.append(f"Kubernetes {cluster.kubernetes_version or '?'}\n\n")
        text.append("Already in place:\n", style="bold")
        for line in in_place(cluster):
            text.append(f"• {line}\n")
        detail.update(text)

    def on_tree_node_highlighted(self, _event: Tree.NodeHighlighted[NodeData]) -> None:
        self._detail()

    def on_cluster_tree_cluster_toggled(self, event: ClusterTree.ClusterToggled) -> None:
        st = self.aks.state
        picked = st.toggle(event.cluster_id)
        if picked and (st.workspace_id is None or not self._workspace_touched):
            # follow the cluster's current workspace until the user picks one
            ws = st.default_workspace()
            st.workspace_id = ws.id if ws else None
        self.data_changed("discovery", None)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "workspace" and isinstance(event.value, str):
            if event.value != self.aks.state.workspace_id:
                self._workspace_touched = True
            self.aks.state.workspace_id = event.value

    def action_rediscover(self) -> None:
        self.post_message(Discover(again=True))
        self.data_changed("discovery", None)

    def action_workspace(self) -> None:
        self.query_one("#workspace", Select).focus()

    def check_next(self) -> str | None:
        st = self.aks.state
        if not st.chosen_clusters:
            return "Pick at least one cluster (space on a cluster)."
        if st.workspace is None:
            return "Pick the Log Analytics workspace (w)."
        return None
