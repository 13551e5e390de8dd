"""Start: who is signed in, subscriptions, new enablement / resume / status, leftover pods."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from aksaudit_tui.nodes.kubeconfig import KubeContext, context_for, contexts
from aksaudit_tui.tui.messages import (
    CleanUp,
    Discover,
    Navigate,
    RefreshRuns,
    RetrySignIn,
    ScanLeftovers,
    StartRun,
)
from aksaudit_tui.tui.models import runlist
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen

SIGN_IN_HELP = (
    "Not signed in to Azure. In another terminal run `az login` (or set AKSAUDIT_ACCESS_TOKEN, "
    "or a service principal's AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET), then "
    "press s here to try again."
)
AUTH_CODES = (
    "ClientAuthenticationError",
    "CredentialUnavailableError",
    "AuthenticationFailed",
    "InvalidAuthenticationToken",
    "ExpiredAuthenticationToken",
    "not signed in",
)


class StartScreen(WizardScreen):
    """Who is signed in, what to do: new enablement, resume a run, status, clean up."""

    NEXT_LABEL = "New enablement ▸"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New", id="start.new"),
        Binding("r", "resume", "Resume", id="start.resume"),
        Binding("x", "remove", "Remove", id="start.remove"),
        Binding("c", "cleanup", "Clean up pods", id="start.cleanup"),
        Binding("s", "sign_in", "Retry sign-in", id="start.sign_in", show=False),
    ]

    # The kubeconfig's contexts, read once the first cluster is there to match them against:
    # not on the first frame (a YAML parse of a big kubeconfig; bench/startup.py).
    _contexts: tuple[KubeContext, ...] | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="start-body"):
            yield Static("", id="identity", markup=False)
            yield Static("", id="subscriptions", markup=False)
            yield Static("", id="kube-contexts", markup=False)
            yield Static("", id="leftovers", markup=False)
            yield Static("What do you want to do?", classes="section-title")
            yield OptionList(id="start-actions")

    def on_mount(self) -> None:
        self.post_message(Discover())  # once: the App started it unless it failed to
        self.data_changed("all", None)
        self.query_one("#start-actions", OptionList).focus()

    # --- rendering -------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.aks.clock()

    def unfinished(self) -> list[Any]:
        """Interrupted (killed: its process is gone), failed, cancelled or partly failed runs."""
        return runlist.resumable(self.aks.job("runs").result or [])

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        app = self.aks
        if topic == "sign_in":
            if app.signed_in:
                self.say(f"Signed in: {app.identity}")
            else:
                self.say("Still not signed in: run `az login` in another terminal.", error=True)
        if topic == "resume":
            # Shown (the first time too): runs and leftovers may have changed meanwhile.
            if not app.job("runs").running:
                self.post_message(RefreshRuns())
            if not app.job("leftovers").running and not app.run_model.running:
                self.post_message(ScanLeftovers())
        st = app.state
        disc = app.job("discovery")
        ident = self.query_one("#identity", Static)
        auth_failed = any(e.code in AUTH_CODES for e in st.errors) or any(
            code in (disc.error or "") for code in AUTH_CODES
        )
        if not app.signed_in or auth_failed:
            _show(ident, SIGN_IN_HELP)
            ident.add_class("-warning")
        else:
            _show(ident, f"Signed in: {app.identity}")
            ident.remove_class("-warning")
        subs = self.query_one("#subscriptions", Static)
        names = ", ".join(s.name for s in st.subscriptions) or "none yet"
        if disc.error:
            _show(subs, f"Subscriptions: discovery failed: {disc.error}")
        elif disc.running and not st.discovery_done:
            _show(subs, f"Subscriptions (discovering…): {names}")
        else:
            _show(
                subs,
                f"Subscriptions: {names} · {len(st.clusters)} cluster(s), "
                f"{len(st.workspaces)} workspace(s)",
            )
        self._show_contexts()
        left = app.job("leftovers").result or []
        lo = self.query_one("#leftovers", Static)
        if left:
            where = sorted({x.cluster for x in left})
            _show(
                lo,
                f"⚠ {len(left)} object(s) left by an earlier run (privileged pods) in "
                f"{', '.join(where)}. Press c to clean them up.",
            )
            lo.display = True
        else:
            lo.display = False
        self._fill_actions()

    def _show_contexts(self) -> None:
        """Which discovered clusters have a kube context (the nodes are reached through it)."""
        clusters = self.aks.state.clusters
        box = self.query_one("#kube-contexts", Static)
        box.display = bool(clusters)
        if not clusters:
            return
        if self._contexts is None:  # once (a YAML file; no kubernetes client)
            self._contexts = tuple(contexts(self.aks.engine.settings.kubeconfig))
        known = self._contexts
        missing = [c for c in clusters if not context_for(c.name, c.fqdn or "", known)]
        found = len(clusters) - len(missing)
        text = f"Kube contexts: found for {found} of {len(clusters)} cluster(s)"
        if len(missing) == 1:
            c = missing[0]
            text += (
                f"; none for {c.name} (az aks get-credentials -g {c.resource_group} -n {c.name})"
            )
        elif missing:
            names = ", ".join(c.name for c in missing)
            text += f"; none for {names} (az aks get-credentials -g RG -n NAME)"
        _show(box, text)

    def _fill_actions(self) -> None:
        ol = self.query_one("#start-actions", OptionList)
        keep = ol.highlighted
        options: list[Option] = (
            []
            if self.aks.signed_in
            else [Option("Retry sign-in (after az login in another terminal) (s)", id="sign_in")]
        )
        options += [
            Option("New enablement: discover clusters, choose, review, run (n)", id="new"),
            Option("Status: coverage of every cluster (F2)", id="status"),
        ]
        now = self.now()
        for r in self.unfinished():
            options.append(
                Option(f"Resume {runlist.describe(r, now)} (r)", id=f"resume:{r.run_id}")
            )
        options.append(
            Option("Remove: undo an enablement on its clusters, after a review (x)", id="remove")
        )
        if self.aks.job("leftovers").result:
            options.append(Option("Clean up leftover privileged pods (c)", id="cleanup"))
        shown = [(o.id, str(o.prompt)) for o in ol.options]
        if shown == [(o.id, str(o.prompt)) for o in options]:
            return  # each rebuild relayouts and repaints the screen (startup: bench/startup.py)
        ol.clear_options()
        ol.add_options(options)
        if keep is not None and keep < len(options):
            ol.highlighted = keep
        elif options:
            ol.highlighted = 0

    # --- actions ---------------------------------------------------------------------------------

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        oid = event.option.id or ""
        if oid == "new":
            self.action_new()
        elif oid == "status":
            self.post_message(Navigate("status"))
        elif oid.startswith("resume:"):
            self.post_message(StartRun("resume", oid.split(":", 1)[1]))
        elif oid == "remove":
            self.action_remove()
        elif oid == "cleanup":
            self.action_cleanup()
        elif oid == "sign_in":
            self.action_sign_in()

    def action_sign_in(self) -> None:
        """Look for a sign-in again (offline); the App discovers with it when there is one."""
        self.post_message(RetrySignIn())

    def action_new(self) -> None:
        self.post_message(Navigate("discover"))

    def action_resume(self) -> None:
        runs = self.unfinished()
        if not runs:
            self.say("No unfinished run to resume.", error=True)
            return
        ol = self.query_one("#start-actions", OptionList)
        chosen = runs[0].run_id
        if ol.highlighted is not None:
            oid = ol.get_option_at_index(ol.highlighted).id or ""
            if oid.startswith("resume:"):
                chosen = oid.split(":", 1)[1]
        self.post_message(StartRun("resume", chosen))

    def action_remove(self) -> None:
        self.post_message(Navigate("remove"))

    def action_cleanup(self) -> None:
        if not self.aks.job("leftovers").result:
            self.say("Nothing to clean up.")
            return
        self.say("Cleaning up leftover pods…")
        self.post_message(CleanUp())


def _show(box: Static, text: str) -> None:
    """Set a Static's text only when it differs: every update relayouts the screen, and the start
    screen is told of each job starting and ending while its first frame is being drawn."""
    if str(box.content) != text:
        box.update(text)
