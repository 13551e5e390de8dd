"""The Textual app: owns the engine, the wizard state and every long-running worker.

Screens render and post messages up (``tui/messages.py``: ``Navigate``, ``StartRun``,
``ReviewPlan`` ...) and never call the App's methods; the App keeps data they read (state,
models, jobs) and tells the active screen what changed (``data_changed``). Which screens exist,
and their order, is ``tui/registry.py``. Runs, verifies and discovery are
App-owned workers, so moving between screens never stops them. Engine events arrive through a
thread-safe queue and are folded in batches every 100 ms so a 500-node run stays smooth.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen

from aksaudit_tui import redaction
from aksaudit_tui.cloud.credentials import sign_in_summary
from aksaudit_tui.engine.events import (
    ClusterFound,
    DiscoveryDone,
    DiscoveryFailed,
    Event,
    NodeArrival,
    SubscriptionFound,
    VerifyWaiting,
    WorkspaceFound,
)
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.results import RunResult
from aksaudit_tui.errors import UserError
from aksaudit_tui.tui import registry
from aksaudit_tui.tui.engine_thread import EngineThread
from aksaudit_tui.tui.jobs import JobState
from aksaudit_tui.tui.keymap import BINDING_IDS, load_keymap
from aksaudit_tui.tui.messages import (
    CancelRun,
    CleanUp,
    Discover,
    Navigate,
    PickRemoval,
    ReadStatus,
    RefreshRuns,
    RetrySignIn,
    ReviewPlan,
    ScanLeftovers,
    ScanRecords,
    StartRun,
    StartVerify,
)
from aksaudit_tui.tui.models.runlist import Removal, narrowed
from aksaudit_tui.tui.models.runmodel import Changes, RunModel
from aksaudit_tui.tui.models.state import WizardState
from aksaudit_tui.tui.models.stopping import stop_notice

if TYPE_CHECKING:
    from aksaudit_tui.engine.logpath_undo import LogPathUndo
    from aksaudit_tui.engine.service import Engine

log = logging.getLogger("aksaudit_tui.tui")

FLUSH_S = 0.1
# The adapters behind the first jobs (engine ops -> Azure SDK clients and aiohttp; ~1 s of
# imports). Imported on a thread once the first frame is painted, so the first screen shows and
# takes keys meanwhile instead of waiting for them (bench/startup.py).
WARM_DELAY_S = 0.25
LEFTOVERS_WAIT_S = 60.0  # at most this long behind a running discovery
# What discovery needs: it waits for these (and only these) before it starts.
WARM_MODULES: tuple[str, ...] = (
    "aksaudit_tui.engine.planning",
    "aksaudit_tui.engine.review",
    "aksaudit_tui.cloud.discovery",
    "azure.core.pipeline.transport",
    "aiohttp",
    "azure.mgmt.resource.subscriptions.aio",
    "azure.mgmt.resourcegraph.aio",
    "azure.mgmt.containerservice.aio",
    "azure.mgmt.resource.resources.aio",
)
# What a run loads on first use (the kubernetes client behind node delivery, the SDK clients its
# steps build, the run and verify screens): imported on the loop during a run, they stalled it
# up to a second (bench/ui_lag.py --stacks; azure.mgmt.compute alone ~0.5 s). Imported on the
# same thread after WARM_MODULES, while the user is still picking; a run waits for them.
RUN_MODULES: tuple[str, ...] = (
    "aksaudit_tui.engine.runs",
    "aksaudit_tui.nodes.delivery",
    "aksaudit_tui.engine.steps.delivery",
    # the kubernetes client loads each API class (and its pydantic models) on first attribute
    # access: the admission fence's alone blocked the loop ~0.2 s in a run's first seconds
    "kubernetes.client.api.core_v1_api",
    "kubernetes.client.api.apps_v1_api",
    "kubernetes.client.api.admissionregistration_v1_api",
    "kubernetes.client.api.version_api",
    "aksaudit_tui.engine.verification",
    "aksaudit_tui.cloud.logs",
    "azure.mgmt.compute.aio",
    "azure.mgmt.monitor.aio",
    "azure.mgmt.loganalytics.aio",
    "azure.monitor.query.aio",
    "aksaudit_tui.tui.screens.run",
    "aksaudit_tui.tui.screens.verify",
    "aksaudit_tui.tui.screens.modals",
)
VERIFY_SINCE = timedelta(minutes=30)


def _import_all(modules: Iterable[str]) -> None:
    for name in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def error_text(exc: BaseException) -> str:
    """One line for the screen, scrubbed of every registered secret (an SDK exception's text
    can carry a key or token); the traceback goes to the (scrubbed) log file only."""
    if isinstance(exc, UserError):
        return redaction.scrub(str(exc))
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redaction.scrub(text)


class AksauditApp(App[int]):
    """The aksaudit wizard."""

    CSS_PATH = "app.tcss"
    TITLE = "aksaudit"
    SUB_TITLE = "auditd on every AKS node, shipped to Log Analytics"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "status", "Status", id="app.status"),
        Binding("f3", "show_run", "Run", id="app.run", show=False),
        Binding("question_mark", "keys", "Keys", id="app.keys", show=False),
        # replaces Textual's ctrl+c (a hint to press ctrl+q): during a run it cancels safely
        Binding("ctrl+c", "interrupt", "Cancel run", id="app.interrupt", show=False),
    ]

    def __init__(
        self,
        engine: Engine,
        *,
        identity: str = "",
        signed_in: bool = True,
        keymap: dict[str, str] | None = None,
        start: str = "start",
        verify_deadline_s: float = 300.0,
        animations: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.identity = identity
        self.signed_in = signed_in
        self.state = WizardState()
        self.run_model = RunModel()
        self.verify_model = RunModel(kind="verify")
        self.plan: Plan | None = None  # the plan of the current/last run
        self.removal: Removal | None = None  # what the remove flow picked (its review's plan)
        self.jobs: dict[str, JobState] = {}
        self.verify_deadline_s = verify_deadline_s
        self._inbox: deque[tuple[object, object, Event]] = deque()
        # The newest sink of each target: events of an older one (a replaced job still winding
        # down on the engine loop) are dropped, not folded into the new job's model.
        self._live_sinks: dict[int, object] = {}
        self._cancel: asyncio.Event | None = None
        self._verify_cancel: asyncio.Event | None = None
        self._painted = asyncio.Event()
        self._warm: asyncio.Task[None] | None = None
        self._warm_run: asyncio.Task[None] | None = None
        self._run_waits = False  # a run (e.g. a resume during discovery) waits for warm_run
        self._records_stale = False  # a run ended since the clusters' records were read
        # Runs and verifies do their work (SDK parsing, journal fsyncs) on a loop of their own.
        self._engine_loop = EngineThread()
        self._stopping = False  # quitting: the run's safe stop is under way
        self._forced = False  # quit at once: the safe stop is not waited for
        self._start = start
        # Injectable so run ages on the start screen are deterministic in snapshots.
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.came_from: str | None = None
        self._keymap = load_keymap() if keymap is None else keymap
        if not animations:
            self.animation_level = "none"

    # --- lifecycle -----------------------------------------------------------------------------

    def on_ready(self) -> None:
        self._painted.set()  # the first frame is on screen
        if not gc.isenabled():
            # The CLI turned the cyclic GC off until the first frame (startup time): what
            # startup made lives as long as the app, so it is frozen (never scanned) rather than
            # collected in one long first pass over everything allocated since.
            gc.freeze()
            gc.enable()

    async def warm_adapters(self) -> None:
        """Wait until the first frame is painted and discovery's adapters are imported (the
        imports start once, the run's modules after them: ``warm_run``)."""
        self._start_warm()
        assert self._warm is not None
        await asyncio.shield(self._warm)

    async def warm_run(self) -> None:
        """Wait until everything a run imports on first use is imported (``RUN_MODULES``)."""
        self._start_warm()
        assert self._warm_run is not None
        await asyncio.shield(self._warm_run)

    def _start_warm(self) -> None:
        if self._warm is not None:
            return

        async def warm() -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._painted.wait()
            # a moment for the first keys to be handled before the import thread competes
            await asyncio.sleep(WARM_DELAY_S)
            await asyncio.to_thread(_import_all, WARM_MODULES)

        async def warm_run() -> None:
            await asyncio.shield(warm_task)
            # after the first discovery (its rows are what the user waits for; the imports on
            # this thread would take turns with it for the GIL), unless a run waits for them
            waited = 0.0
            while (
                self.job("discovery").running and not self._run_waits and waited < LEFTOVERS_WAIT_S
            ):
                await asyncio.sleep(0.1)
                waited += 0.1
            await asyncio.to_thread(_import_all, RUN_MODULES)
            await self._parse_run_css()
            # Everything alive now (modules, classes of the SDKs just imported) lives as long
            # as the app: keep it out of the cyclic GC, whose full passes over it stalled
            # the event loop 40-180 ms at a time during a run (bench/ui_lag.py).
            gc.freeze()

        warm_task = self._warm = asyncio.create_task(warm())
        self._warm_run = asyncio.create_task(warm_run())

    async def _parse_run_css(self) -> None:
        """Have Textual parse the CSS of the run screen's widgets now, while nothing runs: it
        parses a widget class's DEFAULT_CSS when its first instance mounts, which blocked the
        loop ~50 ms as a run started (bench/ui_lag.py --stacks). One of each mounts, hidden,
        on the default screen under the wizard's (the active screen's queries never see it),
        and is removed again; a progress bar brings its bar and status labels with it."""
        # startup time: these widget modules load with the run screen, not the first frame
        from textual.containers import Container
        from textual.widgets import Label, Log, OptionList, ProgressBar

        from aksaudit_tui.tui.widgets.node_table import NodeTable

        if not self.screen_stack:  # the app is ending
            return
        warm = Container(NodeTable(), Log(), ProgressBar(), OptionList(), Label(), id="css-warm")
        warm.display = False
        await self.screen_stack[0].mount(warm)
        await warm.remove()

    async def on_unmount(self) -> None:
        # A run cancelled by the exit (an error, SIGHUP, a closed terminal, quit) is still
        # cleaning up on the engine loop: stop() waits for that (bounded), off this loop;
        # unless the user chose to quit at once (the engine's daemon thread ends with us).
        if not self._forced:
            await asyncio.to_thread(self._engine_loop.stop)

    def on_mount(self) -> None:
        if self._keymap:
            self.set_keymap(self._keymap)
        self.set_interval(FLUSH_S, self.flush_events)
        # What the start screen shows is fetched from the first moment: the App owns the jobs
        # (screens ask for them again by message when they come back).
        if self.signed_in:  # otherwise the start screen says how, and retries on request
            self.start_discovery()
        self.start_leftovers()
        self.refresh_runs()
        self.goto(self._start)

    def screen_named(self, name: str) -> Screen[Any]:
        if not self.is_screen_installed(name):
            self.install_screen(registry.screen_class(name)(), name)
        return self.get_screen(name)

    def goto(self, name: str) -> None:
        """Show a named screen, keeping every other installed screen (and its state)."""
        target = self.screen_named(name)
        if self.screen is target:
            return
        current = next(
            (
                k
                for k in registry.NAMES
                if self.is_screen_installed(k) and self.get_screen(k) is self.screen
            ),
            None,
        )
        if current and current != "status":
            self.came_from = current
        if len(self.screen_stack) <= 1:
            self.push_screen(target)
        else:
            self.switch_screen(target)

    def on_navigate(self, message: Navigate) -> None:
        self.goto(message.to)

    def on_start_run(self, message: StartRun) -> None:
        if message.kind == "resume":
            self.start_resume(message.run_id)
        elif message.kind == "remove":
            if message.plan is not None:
                self.start_remove(message.plan, message.include_log_path, message.undo)
        else:
            self.start_apply(message.plan)

    def on_cancel_run(self, _message: CancelRun) -> None:
        self.cancel_run()

    def on_discover(self, message: Discover) -> None:
        if self.signed_in and (message.again or not self.jobs.get("discovery")):
            self.start_discovery()

    def on_retry_sign_in(self, _message: RetrySignIn) -> None:
        identity = sign_in_summary(self.engine.settings)
        if identity:
            self.identity, self.signed_in = identity, True
            self.start_discovery()
        self.tell("sign_in")

    def on_scan_leftovers(self, _message: ScanLeftovers) -> None:
        self.start_leftovers()

    def on_clean_up(self, _message: CleanUp) -> None:
        self.start_cleanup()

    def on_refresh_runs(self, _message: RefreshRuns) -> None:
        self.refresh_runs()

    def on_scan_records(self, message: ScanRecords) -> None:
        """Read the clusters' records (a fleet read: discovery and a kube list per cluster) on
        the engine loop, as runs are: the first time, on request, or after a run changed them."""
        job = self.job("recorded")
        if job.running:
            return
        if not (message.again or self._records_stale or job.generation == 0):
            return
        self._records_stale = False
        self.start_job(
            "recorded",
            lambda: self._engine_loop.call(lambda _cancel: self.engine.recorded_clusters()),
        )

    def on_pick_removal(self, message: PickRemoval) -> None:
        """Load the picked run's plan (or build it from the picked cluster's record), narrow it
        to the picked clusters, review the removal."""
        if message.recorded is not None:
            built = self.engine.removal_from_record(message.recorded)
            removal = self.removal = Removal(
                "", built.plan, message.include_log_path, built.undo, built.source.describe()
            )
            self.start_job(
                "remove_review",
                lambda: self.engine.review_remove(
                    removal.plan, include_log_path=removal.include_log_path, undo=removal.undo
                ),
            )
            self.goto("remove-review")
            return
        try:
            plan = self.engine.journal.load(message.run_id).plan
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        plan = narrowed(plan, message.clusters)
        if not plan.clusters:
            self.notify("None of the picked clusters is in that run's plan.", severity="error")
            return
        removal = self.removal = Removal(message.run_id, plan, message.include_log_path)
        self.start_job(
            "remove_review",
            lambda: self.engine.review_remove(
                removal.plan, include_log_path=removal.include_log_path
            ),
        )
        self.goto("remove-review")

    def on_review_plan(self, message: ReviewPlan) -> None:
        self.start_review(message.plan)

    def on_read_status(self, message: ReadStatus) -> None:
        self.start_status(message.cluster, message.probe_nodes)

    def on_start_verify(self, _message: StartVerify) -> None:
        self.start_verify()

    # --- actions -------------------------------------------------------------------------------

    def action_status(self) -> None:
        self.goto("status")

    def action_show_run(self) -> None:
        if self.run_model.run_id or self.jobs.get("run", JobState()).running:
            self.goto("run")
        else:
            self.notify("No run yet.", severity="warning")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Status", "Coverage per node and cluster", self.action_status)
        yield SystemCommand(
            "New enablement", "Discover clusters and build a plan", lambda: self.goto("discover")
        )
        yield SystemCommand("Start screen", "Sign-in, runs to resume", lambda: self.goto("start"))
        yield SystemCommand("Review plan", "Every change, before anything runs", self._review)
        yield SystemCommand("Run", "The current or last run's live panes", self.action_show_run)
        yield SystemCommand("Verify", "Check log arrival per node", lambda: self.goto("verify"))
        yield SystemCommand(
            "Remove", "Undo an enablement on its clusters, after a review", self._remove
        )
        yield SystemCommand(
            "Clean up leftover pods", "Delete privileged pods aksaudit left", self.start_cleanup
        )
        yield SystemCommand(
            "Discover again", "Refresh subscriptions and clusters", self._rediscover
        )

    def _review(self) -> None:
        self.goto("review")

    def _remove(self) -> None:
        self.goto("remove")

    def _rediscover(self) -> None:
        self.start_discovery()
        self.goto("discover")

    def action_keys(self) -> None:
        from aksaudit_tui.tui.screens.modals import KeysScreen

        screen = self.screen
        if isinstance(screen, KeysScreen):
            return
        # one row per binding id (the screens' ``?`` and the App's are one key), else action
        keys: dict[tuple[str, str], list[str]] = {}
        # The whole chain (focused widget, screen, app), not ``active_bindings``: that keeps one
        # binding per key, hiding e.g. the app's ctrl+c (cancel the run) behind the screen's
        # ctrl+c (copy the selected text, skipped when nothing is selected).
        for namespace, bindings in screen._modal_binding_chain:
            for key, b in bindings:
                if self._check_action_state(b.action, namespace) is False:
                    continue  # a disabled action: not a key of this screen now
                what = BINDING_IDS[b.id][1] if b.id in BINDING_IDS else b.description or b.action
                shown = keys.setdefault((b.id or b.action, what), [])
                display = self.get_key_display(b) or key
                if display not in shown:
                    shown.append(display)
        rows = [(", ".join(shown), what) for (_action, what), shown in keys.items()]
        self.push_screen(KeysScreen(f"Keys: {screen.title or type(screen).__name__}", rows))

    def action_interrupt(self) -> None:
        from aksaudit_tui.tui.screens.modals import ConfirmScreen

        if self._stopping:
            self._force_quit()
            return
        if not (self.run_model.running or self.job("run").running):
            self.action_help_quit()
            return
        if isinstance(self.screen, ConfirmScreen):
            return  # already asking

        def answer(yes: bool | None) -> None:
            if yes:
                self.cancel_run()
                self.notify("Cancelling: finishing in-flight calls, deleting one-shot pods…")

        self.push_screen(
            ConfirmScreen(
                "Cancel the run? It stops starting work, records in-flight steps as "
                "interrupted (resume later) and deletes one-shot pods.",
                yes="Cancel the run",
                no="Keep running",
            ),
            answer,
        )

    async def action_quit(self) -> None:
        if self._stopping:
            self._force_quit()
            return
        if self.run_model.running or self.job("run").running:
            from aksaudit_tui.tui.screens.modals import ConfirmScreen

            def done(yes: bool | None) -> None:
                if yes:
                    self.run_worker(self._cancel_and_exit(), group="quit")

            self.push_screen(
                ConfirmScreen(
                    "A run is in progress. Stop it safely (in-flight steps are recorded, "
                    "one-shot pods deleted) and quit?",
                    yes="Stop and quit",
                ),
                done,
            )
            return
        self.exit(0)

    async def _cancel_and_exit(self) -> None:
        # the stop can take up to the engine's cleanup bound: say what it waits for, and how
        # to leave at once (a second ctrl+q / ctrl+c) and what that leaves behind
        self.flush_events()
        delivery = self.plan.delivery if self.plan is not None else None
        notice = stop_notice(self.run_model, delivery, "ctrl+q or ctrl+c")
        self._stopping = True
        log.info("quit: stopping the run safely (%d one-shot pod(s) in flight)", notice.pods)
        self.notify(
            notice.message,
            title="Quitting",
            severity="warning",
            timeout=self._engine_loop.cleanup_s + 30,
            markup=False,
        )
        self.cancel_run()
        await self.workers.wait_for_complete([w for w in self.workers if w.group == "run"])
        self.exit(4)

    def _force_quit(self) -> None:
        """Quit now, without waiting for the run's safe stop (what that leaves behind was
        named in the stop's notification)."""
        log.warning("quit: forced while the run was stopping; its cleanup was not waited for")
        self._forced = True
        self.exit(4)

    # --- events in, screens told ------------------------------------------------------------------

    def sink(self, target: object) -> Callable[[Event], None]:
        """An ``on_event`` for the engine; safe to call from any thread (deque.append). The
        newest sink of a target replaces the ones before: their events are dropped from then."""
        inbox = self._inbox
        token = object()
        self._live_sinks[id(target)] = token

        def on_event(ev: Event) -> None:
            inbox.append((target, token, ev))

        return on_event

    def flush_events(self) -> None:
        """Fold queued events into the models and tell the active screen once per batch."""
        if not self._inbox:
            return
        batches: dict[int, tuple[object, list[Event]]] = {}
        while self._inbox:
            target, token, ev = self._inbox.popleft()
            if self._live_sinks.get(id(target)) is not token:
                continue  # from a job that is no longer current
            batches.setdefault(id(target), (target, []))[1].append(ev)
        for target, events in batches.values():
            if target is self.run_model:
                # The run's own verify step: also show it on the verify screen.
                arrivals = [e for e in events if isinstance(e, (NodeArrival, VerifyWaiting))]
                if arrivals:
                    vch = self.verify_model.apply(arrivals)
                    if vch:
                        self.tell("verify", vch)
            if isinstance(target, RunModel):
                changes = target.apply(events)
                if changes:
                    self.tell(target.kind if target is self.verify_model else "run", changes)
            elif target == "discovery":
                for ev in events:
                    self._fold_discovery(ev)
                self.tell("discovery")

    def _fold_discovery(self, ev: Event) -> None:
        st = self.state
        if isinstance(ev, SubscriptionFound):
            st.found_subscription(ev.subscription)
        elif isinstance(ev, ClusterFound):
            st.found_cluster(ev.cluster)
        elif isinstance(ev, WorkspaceFound):
            st.workspaces.append(ev.workspace)
        elif isinstance(ev, DiscoveryFailed):
            st.errors.append(ev.error)
        elif isinstance(ev, DiscoveryDone):
            st.discovery_done = True

    def tell(self, topic: str, changes: Changes | None = None) -> None:
        """Tell the active screen that ``topic`` changed (it re-reads what it shows)."""
        if not self.screen_stack:
            return  # shutting down
        hook = getattr(self.screen, "data_changed", None)
        if hook is not None:
            try:
                hook(topic, changes)
            except NoMatches:
                pass  # not composed yet: it renders everything itself on mount
            except Exception:  # a rendering bug must not kill the run
                log.exception("screen %s failed to render %s", self.screen, topic)

    # --- jobs ----------------------------------------------------------------------------------

    def job(self, name: str) -> JobState:
        return self.jobs.setdefault(name, JobState())

    def start_job(
        self,
        name: str,
        make: Callable[[], Awaitable[Any]],
        then: Callable[[Any], None] | None = None,
    ) -> None:
        """Run one engine call as an App-owned worker; result or error lands in ``jobs``."""
        st = self.job(name)
        st.running, st.error = True, None
        st.generation += 1
        gen = st.generation

        async def work() -> None:
            log.info("%s: started", name)
            try:
                result = await make()
            except asyncio.CancelledError:
                if gen == st.generation:  # not when a newer start of this job replaced it
                    st.running = False
                raise
            except Exception as exc:
                log.exception("%s failed", name)
                if gen == st.generation:
                    st.running, st.error = False, error_text(exc)
                    self.flush_events()
                    self.tell(name)
                return
            log.info(
                "%s: finished%s",
                name,
                f" ({result.outcome})" if isinstance(result, RunResult) else "",
            )
            if gen == st.generation:
                st.running, st.result = False, result
                self.flush_events()
                if then is not None:
                    then(result)
                self.tell(name)

        self.run_worker(work(), group=name, exclusive=True, exit_on_error=False)
        self.tell(name)

    def start_discovery(self) -> None:
        self.state.reset_discovery()
        engine = self.engine
        on_event = self.sink("discovery")

        async def discover() -> None:
            await self.warm_adapters()
            listed = filled = False
            async for ev in engine.discover():
                on_event(ev)
                # The first row, and then the first filled row (node resource group, scale
                # sets), are what the user waits for: shown now, not at the next batch (up to
                # FLUSH_S later); the rest is batched as usual.
                complete = isinstance(ev, ClusterFound) and ev.cluster.complete
                if isinstance(ev, ClusterFound) and not filled and (complete or not listed):
                    listed, filled = True, complete
                    self.flush_events()

        self.start_job("discovery", discover)

    def start_leftovers(self) -> None:
        async def leftovers() -> Any:
            await self.warm_adapters()
            # The scan opens a kube client per context (CPU-heavy with many clusters) and slowed
            # the discovery the user is waiting on about 4x: let the discovery go first.
            waited = 0.0
            while self.job("discovery").running and waited < LEFTOVERS_WAIT_S:
                await asyncio.sleep(0.1)
                waited += 0.1
            return await self.engine.leftovers(None)

        self.start_job("leftovers", leftovers)

    def start_cleanup(self) -> None:
        def done(_result: Any) -> None:
            self.job("leftovers").result = []
            n = len(_result or [])
            self.notify(f"Cleanup: {n} object(s) deleted." if n else "Cleanup: nothing left.")

        # delete only what the start screen showed (the cluster may have changed since)
        shown = self.job("leftovers").result
        confirmed = list(shown) if isinstance(shown, list) else None
        self.start_job("cleanup", lambda: self.engine.cleanup(False, confirmed), done)

    def start_review(self, plan: Plan) -> None:
        self.start_job("review", lambda: self.engine.review(plan))

    def start_status(self, cluster: str | None = None, probe_nodes: bool = False) -> None:
        if probe_nodes:  # only after the user confirmed it on the Status screen
            self.start_job("status", lambda: self.engine.status(cluster, probe_nodes=True))
        else:
            self.start_job("status", lambda: self.engine.status(cluster))

    def refresh_runs(self) -> None:
        self.start_job("runs", self._list_runs)

    async def _list_runs(self) -> Any:
        return await asyncio.to_thread(self.engine.journal.list_runs)

    # --- runs ----------------------------------------------------------------------------------

    def start_apply(self, plan: Plan | None = None) -> None:
        plan = plan or self.state.to_plan()
        self.plan = plan
        log.info(
            "apply: %s via %s, %s delivery",
            ", ".join(c.name for c in plan.clusters),
            plan.log_path,
            plan.delivery,
        )

        async def pinned_apply(on_ev: Any, cancel: asyncio.Event) -> Any:
            # the wizard's plan names a tag: resolve it to the digest apply requires
            return await self.engine.apply(await self.engine.pin_image(plan), on_ev, cancel)

        self._begin_run("apply", pinned_apply)

    def start_resume(self, run_id: str | None) -> None:
        try:
            rec = self.engine.journal.load(run_id) if run_id else None
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        if rec is not None:
            self.plan = rec.plan
            self.state.load_plan(rec.plan)
        self._begin_run("resume", lambda on_ev, cancel: self.engine.resume(run_id, on_ev, cancel))

    def start_remove(
        self, plan: Plan, include_log_path: bool, undo: Mapping[str, LogPathUndo] | None = None
    ) -> None:
        log.info(
            "remove: %s (log path %s)",
            ", ".join(c.name for c in plan.clusters),
            "undone" if include_log_path else "kept",
        )
        self._begin_run(
            "remove",
            lambda on_ev, cancel: self.engine.remove(plan, on_ev, include_log_path, cancel, undo),
        )

    def _begin_run(
        self,
        kind: str,
        call: Callable[[Callable[[Event], None], asyncio.Event], Awaitable[Any]],
    ) -> None:
        if self.run_model.running or self.job("run").running:
            self.notify("A run is already in progress.", severity="warning")
            self.goto("run")
            return
        self.run_model.reset(kind)
        self.verify_model.reset("verify")
        cancel = self._cancel = asyncio.Event()
        on_event = self.sink(self.run_model)
        model = self.run_model

        async def run() -> Any:
            try:
                self._run_waits = True
                await self.warm_run()  # long done in a session; else the run starts after it
                return await self._engine_loop.call(lambda inner: call(on_event, inner), cancel)
            except Exception as exc:
                # The run is over (it failed): say so, and let a new run or quit go ahead.
                self.flush_events()
                model.error = error_text(exc)
                raise
            finally:
                self._records_stale = True  # it may have written (apply) or deleted records
                self.flush_events()

        def done(result: Any) -> None:
            if isinstance(result, RunResult):
                model.outcome = model.outcome or result.outcome
                model.run_id = model.run_id or result.run_id
                model.message = model.message or result.message

        self.start_job("run", run, done)
        self.goto("run")

    def cancel_run(self) -> None:
        """Safe stop: the engine stops starting work, records in-flight steps, cleans pods."""
        if self._cancel is not None:
            self._cancel.set()

    def start_verify(self) -> None:
        target: Plan | str | None = self.plan or self.run_model.run_id
        self.verify_model.reset("verify")
        cancel = self._verify_cancel = asyncio.Event()
        on_event = self.sink(self.verify_model)
        deadline = self.verify_deadline_s

        async def verify() -> Any:
            try:
                return await self._engine_loop.call(
                    lambda inner: self.engine.verify(
                        target, VERIFY_SINCE, on_event, deadline, inner
                    ),
                    cancel,
                )
            finally:
                self.flush_events()

        self.start_job("verify", verify)

    def cancel_verify(self) -> None:
        if self._verify_cancel is not None:
            self._verify_cancel.set()


def setup_logging(path: Path | None = None) -> Path:
    """Log to a file under the platformdirs log dir (never to the terminal the TUI owns)."""
    if path is None:
        import platformdirs

        path = Path(platformdirs.user_log_dir("aksaudit")) / "tui.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("aksaudit_tui")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path
