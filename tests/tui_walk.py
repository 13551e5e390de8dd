"""Seeded random walks through the real wizard with Pilot (issue 12, "Random-walk tests").

A walk starts the real ``AksauditApp`` (on ``WalkEngine``, a fake engine whose runs take a
moment and can be cancelled, or on the real engine against the emulator) and presses, per step,
one of: a key bound on the current screen, Escape/Tab/arrows/Space/Enter/Home/End, a few typed
characters, the command palette (then a few keys), or a terminal resize between 80x24 and
160x50. After every step it checks the invariants:

- no unhandled exception, and no screen rendering error swallowed by ``App.tell``;
- the screen has a visible way back (a Back button, or Escape on a modal; the start screen is
  the root);
- on Review, the plan shown equals the choices the walk saw on the choice screens (the picked
  clusters' ``[x]`` in the tree and each one's workspace after its name, the pressed radio
  buttons, the selected presets, the selects and inputs), read from the widgets, not from the
  wizard state; the summary names each cluster's workspace;
- on the remove review, the removal shown is the run and clusters picked on the remove screen;
- with the emulator: once no job runs, no one-shot (privileged) pod of ours is left.

A failure raises ``WalkFailure`` naming the seed and step, and the steps so far: replay with
``python tests/tui_walk.py --seed SEED --steps N`` (``make fuzz-tui`` runs many walks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.command import CommandPalette
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioSet, Select, SelectionList, Static, TextArea

from aksaudit_tui.engine.events import Event, RunFinished
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.results import RunResult
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.screens.modals import ConfirmScreen
from aksaudit_tui.tui.widgets.cluster_tree import ClusterTree
from aksaudit_tui.tui.widgets.keyed import KeyedColumn
from tui_fakes import FIXED_NOW, RUN_ID, FakeEngine, applied_runs, fixed_plans

SIZES = ((80, 24), (100, 30), (120, 40), (160, 50))
PLAIN_KEYS = (
    "escape", "tab", "shift+tab", "up", "down", "left", "right", "space", "enter", "home", "end",
    "pageup", "pagedown",
)  # fmt: skip
NEVER = {"ctrl+c"}  # Textual's help-quit: not ours
TEXT = "abcdefghijklmnopqrstuvwxyz0123456789-"
STEP_TIMEOUT_S = 60.0


class WalkFailure(AssertionError):
    """An invariant broke (or the app raised) at ``step`` of the walk with ``seed``."""

    def __init__(self, seed: int, step: int, what: str, trail: list[str], real: bool) -> None:
        tail = " ".join(trail[-40:])
        super().__init__(
            f"walk seed {seed}, step {step}: {what}\n  last steps: {tail}\n"
            f"  replay: python tests/tui_walk.py --seed {seed} --steps {step + 1} "
            f"--per-walk {step + 1} --real-every {1 if real else 0}"
        )
        self.seed = seed
        self.step = step


class WalkEngine(FakeEngine):
    """The fake engine with runs that take a moment (events in small batches) and honour the
    cancel event, so a walk can cancel a run, quit during one and come back to it."""

    async def apply(
        self, plan: Plan, on_event: Callable[[Event], None], cancel: asyncio.Event
    ) -> RunResult:
        evs = self.run_events(plan)
        for i, ev in enumerate(evs[:-1]):
            if cancel.is_set():
                on_event(RunFinished(RUN_ID, "cancelled", "cancelled by the user"))
                return RunResult(RUN_ID, "cancelled", "cancelled by the user")
            on_event(ev)
            if i % 4 == 3:
                await asyncio.sleep(0.2)  # long enough for a walk to cancel or quit mid-run
        on_event(evs[-1])
        return RunResult(RUN_ID, "ok", "all nodes compliant")

    async def resume(
        self, run_id: str | None, on_event: Callable[[Event], None], cancel: asyncio.Event
    ) -> RunResult:
        return await self.apply(self.journal.load(run_id or RUN_ID).plan, on_event, cancel)


@dataclass
class Seen:
    """The choices the walk saw on the choice screens (None: not seen since the last reset)."""

    clusters: set[str] | None = None
    log_path: str | None = None
    presets: set[str] | None = None
    facility: str | None = None
    severity: str | None = None
    delivery: str | None = None
    namespace: str | None = None
    image: str | None = None
    contexts: dict[str, str] = field(default_factory=dict)
    removal: tuple[str, set[str]] | None = None  # the remove screen's run and clusters
    workspaces: dict[str, str] = field(default_factory=dict)  # picked cluster -> its workspace


@dataclass
class Walk:
    app: AksauditApp
    pilot: Any
    rng: random.Random
    seed: int
    pods: Callable[[], list[str]] | None = None  # names of our one-shot pods (emulator)
    steps: int = 0
    seen: Seen = field(default_factory=Seen)
    trail: list[str] = field(default_factory=list)
    render_errors: list[str] = field(default_factory=list)
    reviews_checked: int = 0
    visited: set[str] = field(default_factory=set)
    outcomes: list[str] = field(default_factory=list)  # of the runs that finished

    def summary(self) -> str:
        return (
            f"screens {','.join(sorted(self.visited))}; reviews checked {self.reviews_checked}; "
            f"runs {','.join(self.outcomes) or '-'}"
        )

    # --- one step ------------------------------------------------------------------------------

    def choose(self) -> tuple[str, Any]:
        """The next step, weighted so walks get deep into the wizard (forward, picks) while
        still leaving by every door (escape, F2/F3, the palette, quit)."""
        screen = self.app.screen
        wizard = screen if isinstance(screen, WizardScreen) else None
        r = self.rng.random()
        if r < 0.03:
            return "resize", self.rng.choice(SIZES)
        if r < 0.06 and not isinstance(screen, CommandPalette):
            return "palette", None
        if r < 0.11:
            n = self.rng.randint(1, 6)
            return "type", "".join(self.rng.choice(TEXT) for _ in range(n))
        if r < 0.115:
            return "key", "ctrl+q"  # rare: a quit ends the walk (during a run it asks first)
        if r < 0.16:
            return "key", "escape"
        if r < 0.18:
            return "key", self.rng.choice(("f2", "f3"))
        if r < 0.42 and isinstance(screen, ConfirmScreen):
            return "key", "y"  # say yes often enough that runs start (and get cancelled)
        if r < 0.42 and wizard is not None and wizard.next_to is not None:
            return "key", "ctrl+n"  # a bias forward, or the walk rarely reaches the run
        if r < 0.52 and wizard is not None and wizard.screen_name == "discover":
            return "key", "space"  # pick / unpick the cluster under the cursor
        bound = [
            k
            for k, ab in screen.active_bindings.items()
            if ab.enabled and k not in NEVER and ab.binding.action != "quit"
        ]
        if r < 0.8 and bound:
            return "key", self.rng.choice(bound)
        return "key", self.rng.choice(PLAIN_KEYS)

    async def run(self, steps: int, opening: tuple[str, ...] = ()) -> None:
        """Up to ``steps`` steps (fewer when the walk quits the app), then ``finish``. The first
        steps press the ``opening`` keys (each checked like any step), each after the discovery
        and review it waits on: a way into the wizard a short random walk rarely finds."""
        for i in range(steps):
            self.steps = i + 1
            forced = ("key", opening[i]) if i < len(opening) else None
            if forced is not None:
                while any(self.app.job(j).running for j in ("discovery", "review")):
                    await self.pilot.pause(0.05)
            if not await self.step(i, forced):
                break
        await finish(self, self.steps)

    async def step(self, i: int, forced: tuple[str, Any] | None = None) -> bool:
        """One step; False when the app has exited cleanly (a quit the walk asked for)."""
        kind, arg = forced or self.choose()
        self.trail.append(f"{kind}:{arg}" if arg is not None else kind)
        async with asyncio.timeout(STEP_TIMEOUT_S):
            if kind == "resize":
                await self.pilot.resize_terminal(*arg)
            elif kind == "palette":
                await self.pilot.press("ctrl+p")
            elif kind == "type":
                await self.pilot.press(*arg)
            else:
                await self.pilot.press(arg)
        if not self.app.is_running:
            self.check_exit(i)
            return False
        self.check(i)
        return True

    # --- invariants ----------------------------------------------------------------------------

    def fail(self, i: int, what: str) -> WalkFailure:
        return WalkFailure(self.seed, i, what, self.trail, self.pods is not None)

    def check_exit(self, i: int) -> None:
        exc = self.app._exception
        if exc is not None:
            tb = "".join(traceback.format_exception(exc))
            raise self.fail(i, f"the app raised:\n{tb}")
        if self.app.return_code not in (0, 4):
            raise self.fail(i, f"the app exited with {self.app.return_code}")

    def check(self, i: int) -> None:
        app = self.app
        if app._exception is not None:
            self.check_exit(i)
        if self.render_errors:
            raise self.fail(i, f"a screen failed to render: {self.render_errors[0]}")
        screen = app.screen
        self.visited.add(
            screen.screen_name if isinstance(screen, WizardScreen) else type(screen).__name__
        )
        outcome = app.run_model.outcome
        if outcome and (not self.outcomes or self.outcomes[-1] != outcome):
            self.outcomes.append(outcome)
        if isinstance(screen, WizardScreen):
            self.observe(screen)
            if screen.screen_name != "start":
                backs = [b for b in screen.query(Button) if b.id == "nav-back" and b.display]
                if not backs or not screen.check_action("back", ()):
                    raise self.fail(i, f"{screen.screen_name}: no visible way back")
            if screen.screen_name == "review":
                self.check_review(i, screen)
            if screen.screen_name == "remove-review":
                self.check_removal(i, screen)
        elif isinstance(screen, ModalScreen) and "escape" not in screen.active_bindings:
            raise self.fail(i, f"{type(screen).__name__}: escape does not close it")
        if app.run_model.kind == "resume" and app.run_model.run_id:
            self.seen = Seen()  # a resumed run's plan replaces the choices
        if self.pods is not None and not any(w.is_running for w in app.workers):
            left = self.pods()
            if left:
                raise self.fail(i, f"privileged pods left with no job running: {left}")

    def observe(self, screen: WizardScreen) -> None:
        """Record what the choice screens show (what the user chose, as they see it)."""
        name, seen = screen.screen_name, self.seen
        if name == "discover":
            picked: set[str] = set()
            seen.workspaces = {}
            tree = screen.query_one(ClusterTree)
            todo = list(tree.root.children)
            while todo:
                node = todo.pop()
                if node.data is not None and node.data[0] == "cluster":
                    label = str(node.label)
                    if label.startswith("[x] "):
                        name = label[4:].split("  ")[0]
                        picked.add(name)
                        # "... → law-x"; "→ pick a workspace (w)" blocks Next
                        _, arrow, ws = label.rpartition("  → ")
                        if arrow and " " not in ws:
                            seen.workspaces[name] = ws
                elif node.data is not None and node.data[0] == "sub":
                    todo.extend(node.children)
            seen.clusters = picked
        elif name == "logpath":
            pressed = screen.query_one(RadioSet).pressed_button
            if pressed is not None and pressed.id:
                seen.log_path = pressed.id.removeprefix("path-")
        elif name == "rules":
            seen.presets = {str(v) for v in screen.query_one("#presets", SelectionList).selected}
            _ = screen.query_one("#custom-rules", TextArea).text
        elif name == "facility":
            fac = screen.query_one("#facility", Select).value
            sev = screen.query_one("#severity", Select).value
            seen.facility = fac if isinstance(fac, str) else seen.facility
            seen.severity = sev if isinstance(sev, str) else seen.severity
        elif name == "remove":
            run_id: str | None = getattr(screen, "_run_id", None)
            picked = {str(v) for v in screen.query_one("#remove-clusters", SelectionList).selected}
            seen.removal = (run_id, picked) if run_id and picked else None
        elif name == "delivery":
            pressed = screen.query_one("#delivery", RadioSet).pressed_button
            if pressed is not None and pressed.id:
                seen.delivery = pressed.id.removeprefix("mode-")
            seen.namespace = screen.query_one("#namespace", Input).value.strip()
            seen.image = screen.query_one("#image", Input).value.strip()
            column = screen.query_one("#context-inputs", KeyedColumn)
            seen.contexts = {
                k: column.group(k).query_one(Input).value.strip() or k for k in column.keys
            }

    def check_review(self, i: int, screen: WizardScreen) -> None:
        plan: Plan | None = getattr(screen, "plan", None)
        if plan is None:
            return
        seen = self.seen
        got: dict[str, Any] = {
            "clusters": {c.name for c in plan.clusters},
            "log_path": plan.log_path,
            "presets": set(plan.presets),
            "facility": plan.facility,
            "severity": plan.severity,
            "delivery": plan.delivery,
            "namespace": plan.namespace,
            "image": plan.image,
        }
        for key, value in got.items():
            want = getattr(seen, key)
            if want is not None and want != value:
                raise self.fail(i, f"review shows {key}={value!r}, the walk chose {want!r}")
        for c in plan.clusters:
            want_ctx = seen.contexts.get(c.name)
            if want_ctx is not None and want_ctx != c.context:
                raise self.fail(i, f"review: context of {c.name} {c.context!r}, chose {want_ctx!r}")
        summary = str(screen.query_one("#review-summary", Static).content)
        for c in plan.clusters:
            if c.name not in summary:
                raise self.fail(i, f"review summary does not name {c.name}: {summary!r}")
            ws = plan.workspace_for(c).name
            want_ws = seen.workspaces.get(c.name)
            if want_ws is not None and want_ws != ws:
                raise self.fail(i, f"review: workspace of {c.name} {ws!r}, chose {want_ws!r}")
            if f"{c.name} → workspace {ws} (" not in summary:
                raise self.fail(i, f"review summary does not show {c.name}'s workspace {ws}")
        self.reviews_checked += 1

    def check_removal(self, i: int, screen: WizardScreen) -> None:
        removal = self.app.removal
        want = self.seen.removal
        if removal is None or want is None or self.app.job("remove_review").running:
            return
        got = (removal.run_id, {c.name for c in removal.plan.clusters})
        if got != want:
            raise self.fail(i, f"remove review shows {got}, the walk picked {want}")
        summary = str(screen.query_one("#remove-summary", Static).content)
        for name in got[1]:
            if name not in summary:
                raise self.fail(i, f"remove review summary does not name {name}: {summary!r}")
        self.reviews_checked += 1


class _RenderErrors(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to render" in record.getMessage():
            exc = record.exc_info[1] if record.exc_info else None
            self.sink.append(f"{record.getMessage()}: {exc!r}")


@contextlib.asynccontextmanager
async def walking(
    app: AksauditApp, seed: int, pods: Callable[[], list[str]] | None = None
) -> AsyncIterator[Walk]:
    errors: list[str] = []
    handler = _RenderErrors(errors)
    logger = logging.getLogger("aksaudit_tui.tui")
    logger.addHandler(handler)
    trail: list[str] = []
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            walk = Walk(app, pilot, random.Random(seed), seed, pods, trail=trail)
            walk.render_errors = errors
            await app.workers.wait_for_complete()
            await pilot.pause()
            yield walk
    except WalkFailure:
        raise
    except Exception as exc:
        # run_test re-raises the app's exception on the way out, over our WalkFailure
        if isinstance(exc.__context__, WalkFailure):
            raise exc.__context__ from exc
        tb = "".join(traceback.format_exception(exc))
        step = len(trail) - 1
        raise WalkFailure(seed, step, f"the app raised:\n{tb}", trail, pods is not None) from exc
    finally:
        logger.removeHandler(handler)


async def finish(walk: Walk, i: int) -> None:
    """End of a walk: stop any run safely, let every job end, check nothing is left."""
    app = walk.app
    if app.is_running:
        app.cancel_run()
        app.cancel_verify()
        async with asyncio.timeout(120):
            await app.workers.wait_for_complete()
        await walk.pilot.pause()
        walk.check(i)
    if walk.pods is not None:
        left = walk.pods()
        if left:
            raise walk.fail(i, f"privileged pods left after the walk: {left}")


def fake_app() -> AksauditApp:
    return AksauditApp(
        WalkEngine(runs=applied_runs(), plans=fixed_plans(), leftovers=1),  # type: ignore[arg-type]
        identity="walk", keymap={}, animations=False, clock=lambda: FIXED_NOW,
    )  # fmt: skip


async def walk_fake(seed: int, steps: int) -> Walk:
    """One walk of up to ``steps`` steps on the fake engine."""
    app = fake_app()
    async with walking(app, seed) as walk:
        await walk.run(steps)
    return walk


def oneshot_pods(emu: Any) -> list[str]:
    """Our one-shot (privileged) pods on every emulated cluster."""
    out = []
    with emu.state.lock:
        for cluster, store in emu.state.kube.items():
            for p in store.list("pods"):
                labels = p.get("metadata", {}).get("labels") or {}
                if (
                    labels.get("app.kubernetes.io/managed-by") == "aksaudit"
                    and labels.get("aksaudit.io/role") == "oneshot"
                ):
                    out.append(f"{cluster}/{p['metadata']['name']}")
    return out


# Start -> Discover, pick the first cluster (the tree's cursor starts where discovery left it:
# home first), Next to Delivery, one-shot pods, Review (probed),
# confirm: a run with privileged one-shot pods, whatever the random steps after it do.
INTO_A_RUN: tuple[str, ...] = (
    "n", "home", "down", "space", "ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n", "down", "enter",
    "ctrl+n", "ctrl+n", "y",
)  # fmt: skip


async def walk_real(
    emu: Any, state_dir: Path, seed: int, steps: int, opening: tuple[str, ...] = ()
) -> Walk:
    """One walk on the real engine against ``emu`` (``opening``: its first keys)."""
    from tui_helpers import app_for, engine_for

    engine = engine_for(emu, state_dir)
    engine.review_deadline_s = 20.0
    app = app_for(engine, clock=lambda: FIXED_NOW)
    async with walking(app, seed, pods=lambda: oneshot_pods(emu)) as walk:
        await walk.run(steps, opening)
    return walk


# --- make fuzz-tui ---------------------------------------------------------------------------


async def fuzz(total: int, seed: int, per_walk: int, real_every: int) -> int:
    """Walks until ``total`` steps; every ``real_every``-th walk on the real engine + emulator.
    Prints each walk's seed and steps; returns 1 at the first failure (its seed printed)."""
    from aksaudit_emulator import Emulator, load_scenario
    from fixtures.emulator import fast

    steps = walks = 0
    t0 = time.monotonic()
    while steps < total:
        walk_seed = seed + walks
        n = min(per_walk, total - steps)
        real = real_every > 0 and walks % real_every == real_every - 1
        try:
            if real:
                with tempfile.TemporaryDirectory() as tmp:
                    emu = Emulator(load_scenario(fast(load_scenario(None))), state_dir=Path(tmp))
                    emu.start()
                    try:
                        walk = await walk_real(emu, Path(tmp) / "state", walk_seed, n)
                    finally:
                        emu.stop()
            else:
                walk = await walk_fake(walk_seed, n)
        except WalkFailure as exc:
            print(f"FAIL {exc}", flush=True)
            print(f"fuzz-tui: failed after {steps} steps; seed {walk_seed}", flush=True)
            return 1
        except Exception:
            traceback.print_exc()
            print(f"fuzz-tui: walk seed {walk_seed} raised after {steps} steps", flush=True)
            return 1
        steps += walk.steps
        walks += 1
        kind = "real" if real else "fake"
        print(
            f"walk {walks} seed {walk_seed} ({kind}): {walk.steps} steps; total {steps} "
            f"in {time.monotonic() - t0:.0f} s; {walk.summary()}",
            flush=True,
        )
    last = seed + walks - 1
    print(f"fuzz-tui: {steps} steps in {walks} walks, no failure (seeds {seed}..{last})")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="random walks through the wizard (make fuzz-tui)")
    p.add_argument("--steps", type=int, default=int(os.environ.get("AKSAUDIT_FUZZ_STEPS", 10000)))
    p.add_argument("--seed", type=int, default=int(os.environ.get("AKSAUDIT_FUZZ_SEED", 1)))
    p.add_argument("--per-walk", type=int, default=200, help="steps per app (then a fresh one)")
    p.add_argument("--real-every", type=int, default=5, help="every Nth walk on the emulator")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as cwd:
        os.chdir(cwd)  # exports (plan.yaml, status.json) land here
        return asyncio.run(fuzz(args.steps, args.seed, args.per_walk, args.real_every))


if __name__ == "__main__":
    sys.exit(main())
