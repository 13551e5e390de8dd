"""Discovery tree: subscriptions -> clusters -> node resource group -> scale sets -> nodes.

Grows as discovery streams in; a subscription shows a loading marker until discovery is done, a
cluster one until its subtree is read (it arrives as listed first, then complete: the row is
updated in place). Space picks a cluster (a ``ClusterToggled`` message goes up); the screen
decides what it means.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from aksaudit_tui.cloud.models import Cluster, ScaleSet, Subscription

NodeData = tuple[str, str]  # (kind, id): ("sub", id) | ("cluster", arm id) | ("info", "")


def in_place(cluster: Cluster) -> list[str]:
    """What is already there for this cluster, one short line each."""
    if not cluster.complete:
        return ["(still reading its scale sets and data collection rules…)"]
    m = cluster.monitoring
    out: list[str] = []
    if m.addon_enabled:
        syslog = "syslog on" if m.syslog_enabled else "syslog off"
        facs = sorted({f for s in m.syslog for f in s.facilities})
        out.append(f"Container Insights: on, {syslog}" + (f" ({', '.join(facs)})" if facs else ""))
    else:
        out.append("Container Insights: off")
    by_type: Counter[str] = Counter()
    for ss in cluster.scale_sets:
        for ext in ss.extensions:
            by_type[ext.type] += 1
    n = len(cluster.scale_sets)
    for typ in ("OmsAgentForLinux", "AzureMonitorLinuxAgent"):
        if by_type.get(typ):
            out.append(f"{typ}: on {by_type[typ]}/{n} scale set(s)")
    if cluster.lockdown and cluster.lockdown.lower() == "readonly":
        out.append("Node resource group lockdown: ReadOnly (scale-set changes denied)")
    return out


def scale_set_line(ss: ScaleSet) -> str:
    n = len(ss.instances)
    sku = ss.os_sku or ss.os
    stale = sum(1 for i in ss.instances if not i.latest_model_applied)
    extra = f", {stale} not on latest model" if stale else ""
    skip = " (skipped: Windows)" if ss.os.lower() == "windows" else ""
    return f"{ss.name}: {n} node(s), {sku}{extra}{skip}"


class ClusterTree(Tree[NodeData]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_node", "Pick cluster", id="discover.toggle"),
    ]

    class ClusterToggled(Message):
        def __init__(self, cluster_id: str) -> None:
            super().__init__()
            self.cluster_id = cluster_id

    def __init__(self, **kw: object) -> None:
        super().__init__("Azure", data=("root", ""), **kw)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 2
        self._subs: dict[str, TreeNode[NodeData]] = {}
        self._clusters: dict[str, TreeNode[NodeData]] = {}
        self._shown: dict[str, Cluster] = {}  # what each cluster row's children show
        self._sub_names: dict[str, str] = {}
        # What each row's label was made from: a label is set again only when that changes
        # (every set_label rebuilds the tree's lines; with 1,000 clusters, setting them all on
        # each batch or pick stalled the loop ~130 ms: bench/fleet_tui.py).
        self._label_keys: dict[str, object] = {}

    def get_label_width(self, node: TreeNode[NodeData]) -> int:
        """The label's width without rendering it: the tree measures every line's label on each
        rebuild of its lines (an expand, a collapse, a pick's new label), and upstream renders
        each one to measure it (~0.1 ms a line: with 1,000 clusters every space or enter stalled
        the loop ~100 ms, more on shared cores: bench/fleet_tui.py). The width is the label's
        cells plus the expand icon's, which is what ``render_label`` assembles (its styles add
        no cells)."""
        width: int = node._label.cell_len
        if node._allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
            width += cell_len(icon)
        return width

    def _sub_label(self, sub_id: str, loading: bool, error: str | None, count: int) -> Text:
        text = Text(self._sub_names.get(sub_id, sub_id))
        text.append(f"  {sub_id[:8]}…", style="dim")
        if error:
            text.append(f"  ✖ {error}", style="bold red")
        elif loading:
            text.append("  ⟳ loading…", style="italic")
        else:
            text.append(f"  {count} cluster(s)", style="dim")
        return text

    def sync(
        self,
        subs: list[Subscription],
        clusters: list[Cluster],
        selected: list[str],
        loading: bool,
        workspaces: dict[str, str] | None = None,
    ) -> None:
        """Add what is new, refill rows whose cluster changed (listed -> complete, or a new
        discovery), drop rows a finished discovery no longer lists; never rebuilds the tree
        (keeps cursor and expansion). ``workspaces``: a picked cluster's workspace, shown after
        its name (cluster id -> text)."""
        for s in subs:
            self._sub_names[s.id] = s.name
            if s.id not in self._subs:
                self._subs[s.id] = self.root.add("", data=("sub", s.id), expand=True)
        for c in clusters:
            node = self._clusters.get(c.id)
            shown = self._shown.get(c.id)
            if node is None:
                parent = self._subs.get(c.subscription_id)
                if parent is None:
                    parent = self._subs[c.subscription_id] = self.root.add(
                        "", data=("sub", c.subscription_id), expand=True
                    )
                node = self._clusters[c.id] = parent.add("", data=("cluster", c.id), expand=False)
            elif shown is c or shown == c:
                self._shown[c.id] = c  # (equal after a new discovery: next time `is` is enough)
                continue
            else:
                node.remove_children()
            self._shown[c.id] = c
            self._fill(node, c)
        if not loading:
            self._drop_missing(subs, clusters)
        per_sub = Counter(c.subscription_id for c in clusters)
        errors = {s.id: s.error for s in subs if s.error}
        keys = self._label_keys
        for sid, node in self._subs.items():
            key = (self._sub_names.get(sid), loading, errors.get(sid), per_sub.get(sid, 0))
            if keys.get(sid) != key:
                keys[sid] = key
                node.set_label(self._sub_label(sid, loading, errors.get(sid), per_sub.get(sid, 0)))
        picked = set(selected)
        for c in clusters:
            was = keys.get(c.id)
            ws = (workspaces or {}).get(c.id) if c.id in picked else None
            now = (c, c.id in picked, ws)
            if not (isinstance(was, tuple) and was[0] is c and was[1:] == now[1:]):
                keys[c.id] = now
                label = self._cluster_label(c, now[1])
                if ws:
                    label.append(f"  → {ws}", style="cyan")
                self._clusters[c.id].set_label(label)
        if self.cursor_line < 0 and clusters:
            # Start on the first cluster so space picks it straight away.
            self.call_after_refresh(self.move_cursor, self._clusters[clusters[0].id])

    @staticmethod
    def _fill(node: TreeNode[NodeData], c: Cluster) -> None:
        """A cluster row's children: node resource group, scale sets, nodes, what is in place."""
        rg_name = c.node_resource_group or "…"
        rg = node.add(Text(f"node RG: {rg_name}"), data=("info", ""), expand=True)
        if not c.complete:
            rg.add_leaf(Text("⟳ reading scale sets…", style="italic"), data=("info", ""))
            return
        for ss in c.scale_sets:
            ss_node = rg.add(Text(scale_set_line(ss)), data=("info", ""))
            for inst in ss.instances:
                ss_node.add_leaf(Text(inst.computer_name), data=("info", ""))
        for line in in_place(c):
            node.add_leaf(Text(f"in place: {line}", style="cyan"), data=("info", ""))

    def _drop_missing(self, subs: list[Subscription], clusters: list[Cluster]) -> None:
        """After a discovery: remove the rows of clusters (and subscriptions) it did not find."""
        keep = {c.id for c in clusters}
        for cid in [i for i in self._clusters if i not in keep]:
            self._clusters.pop(cid).remove()
            self._shown.pop(cid, None)
            self._label_keys.pop(cid, None)
        keep_subs = {s.id for s in subs} | {c.subscription_id for c in clusters}
        for sid in [i for i in self._subs if i not in keep_subs]:
            self._subs.pop(sid).remove()
            self._label_keys.pop(sid, None)

    @staticmethod
    def _cluster_label(c: Cluster, picked: bool) -> Text:
        text = Text("[x] " if picked else "[ ] ", style="bold green" if picked else "")
        text.append(c.name, style="bold" if picked else "")
        if not c.complete:
            text.append(f"  {c.location}, ", style="dim")
            text.append("⟳ reading…", style="italic")
            return text
        linux = sum(len(s.instances) for s in c.scale_sets if s.os.lower() != "windows")
        total = sum(len(s.instances) for s in c.scale_sets)
        text.append(f"  {c.location}, {linux}/{total} Linux nodes", style="dim")
        return text

    def action_toggle_node(self) -> None:
        """Space: pick the cluster under the cursor (elsewhere: expand/collapse)."""
        node = self.cursor_node
        while (
            node is not None
            and node.data is not None
            and node.data[0]
            not in (
                "cluster",
                "sub",
                "root",
            )
        ):
            node = node.parent
        if node is not None and node.data is not None and node.data[0] == "cluster":
            self.post_message(self.ClusterToggled(node.data[1]))
        else:
            super().action_toggle_node()
