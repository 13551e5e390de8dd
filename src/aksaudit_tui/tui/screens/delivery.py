"""Node delivery: keeper DaemonSet or one-shot pods; context, namespace, image, concurrency."""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.widgets.choices import Choice
from aksaudit_tui.tui.widgets.keyed import KeyedColumn

DELIVERY_HELP = {
    "keeper": (
        "A privileged DaemonSet in its own namespace applies the configuration on every Linux "
        "node, turns Ready when the node complies, and re-applies after reimages, image "
        "upgrades and scale-outs. Stays in the cluster."
    ),
    "one-shot": (
        "One pod pinned to each node (nodeName, tolerates every taint), deleted when done. "
        "Nothing stays in the cluster, so a reimaged or new node is not configured until you "
        "run again."
    ),
}


class DeliveryScreen(WizardScreen):
    """Keeper or one-shot delivery, namespace, image, concurrency, a kube context per cluster."""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="delivery-main"):
            with Vertical(id="delivery-form"):
                with RadioSet(id="delivery"):
                    yield Choice("Keeper DaemonSet (default)", id="mode-keeper")
                    yield Choice("One-shot pods", id="mode-one-shot")
                yield Label("Namespace")
                yield Input(id="namespace", compact=True)
                yield Label("Image (pinned; mirror it for private registries)")
                yield Input(id="image", compact=True)
                yield Label("Concurrency (nodes at once per cluster)")
                yield Input(id="concurrency", type="integer", compact=True)
            with VerticalScroll(id="delivery-side"):
                yield Static("", id="delivery-help", markup=False)
                yield Static(
                    "\nKube context per cluster (Review checks it: the nodes' providerID must "
                    "be in the cluster's node resource group):",
                    id="contexts",
                    markup=False,
                )
                yield KeyedColumn(id="context-inputs")

    def on_mount(self) -> None:
        self.data_changed("all", None)
        self.query_one(RadioSet).focus()

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic not in ("all", "resume"):
            return
        st = self.aks.state
        button = self.query_one(f"#mode-{st.delivery}", RadioButton)
        if not button.value:
            button.value = True
        self.query_one("#namespace", Input).value = st.namespace
        self.query_one("#image", Input).value = st.image
        self.query_one("#concurrency", Input).value = str(st.concurrency)
        self._paint()

    def _paint(self) -> None:
        st = self.aks.state
        self.query_one("#delivery-help", Static).update(DELIVERY_HELP[st.delivery])
        # One label + input per picked cluster, kept while the cluster stays picked (the
        # clusters change when the user goes back to Discover).
        self.query_one("#context-inputs", KeyedColumn).sync(
            (c.name for c in st.chosen_clusters),
            lambda name: (
                Label(Text(f"{name}: kube context"), classes="context-label"),
                Input(st.contexts.get(name) or name, compact=True),
            ),
        )

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        mode = (event.pressed.id or "").removeprefix("mode-")
        if mode in ("keeper", "one-shot"):
            self.aks.state.delivery = mode  # type: ignore[assignment]
            self._paint()

    def before_next(self) -> None:
        st = self.aks.state
        column = self.query_one("#context-inputs", KeyedColumn)
        for name in column.keys:
            value = column.group(name).query_one(Input).value.strip()
            if value and value != name:
                st.contexts[name] = value
            else:
                st.contexts.pop(name, None)
        st.namespace = self.query_one("#namespace", Input).value.strip()
        st.image = self.query_one("#image", Input).value.strip()
        raw = self.query_one("#concurrency", Input).value.strip()
        st.concurrency = int(raw) if raw.isdigit() else 0

    def check_next(self) -> str | None:
        st = self.aks.state
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", st.namespace):
            return "Namespace: lower-case letters, digits and '-', at most 63 characters."
        if not st.image or " " in st.image:
            return "Image: a registry/repository:tag reference without spaces."
        if not 1 <= st.concurrency <= 500:
            return "Concurrency: a whole number from 1 to 500."
        for name, ctx in st.contexts.items():
            if any(ch.isspace() for ch in ctx):
                return f"Kube context for {name}: a context name from your kubeconfig."
        return None
