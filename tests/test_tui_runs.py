"""The start screen's unfinished runs and the wizard's remove flow (issue 12), with Pilot:

- the start screen lists interrupted, failed, cancelled and partly failed runs (apply and
  remove) with their clusters, the step reached, the state and the age, and nothing else;
- a real ``aksaudit apply`` child killed with SIGKILL shows there as interrupted, and ``r``
  resumes it to ok on the emulator;
- remove: pick an applied run and its clusters, a review of what remove will do, confirm, the
  run screen shows it; on the fake engine (exact choices reach the engine) and on the real
  engine against the emulator (every node restored, no privileged pod left); only the apply
  that configured a cluster last is offered for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, OptionList

from aksaudit_tui.engine.journal import RunSummary
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.widgets.choices import CheckList
from engine_helpers import (
    add_fault,
    aksaudit_cmd,
    clear_faults,
    cli_env,
    linux_nodes,
    node_root,
    oneshot_pods,
)
from tui_fakes import (
    APPLIED_ID,
    CLUSTERS,
    FIXED_NOW,
    FakeEngine,
    applied_runs,
    fixed_plan,
    fixed_plans,
)
from tui_helpers import (
    app_for,
    confirm_run,
    engine_for,
    pinned_oneshot_plan,
    remove_review_rows,
    screen_is,
    settle,
)

SIZE = (120, 40)


def fake_app(engine: FakeEngine) -> AksauditApp:
    return AksauditApp(
        engine,  # type: ignore[arg-type]
        keymap={},
        animations=False,
        clock=lambda: FIXED_NOW,
    )


def options(a: AksauditApp, selector: str) -> list[tuple[str, str]]:
    ol = a.screen.query_one(selector, OptionList)
    return [(o.id or "", str(o.prompt)) for o in ol.options]


def summary(run_id: str, state: str, kind: str = "apply", step: str = "delivery") -> RunSummary:
    return RunSummary(run_id, ("aks-prod",), step, "2026-11-27T05:00:00Z", state, kind=kind)


async def test_start_screen_lists_unfinished_runs_with_cluster_step_state_and_age() -> None:
    runs = [
        summary("r-interrupted", "interrupted"),
        summary("r-failed", "failed", step="log-path"),
        summary("r-cancelled", "cancelled"),
        summary("r-partial", "partial", step="verify"),
        summary("r-remove", "interrupted", kind="remove"),
        summary("r-ok", "ok", step="verify"),
        summary("r-running", "running"),  # another live process: not resumed from here
    ]
    a = fake_app(FakeEngine(runs=runs))
    async with a.run_test(size=SIZE) as pilot:
        await settle(pilot, a)
        shown = {oid: text for oid, text in options(a, "#start-actions")}
        resumes = [oid.removeprefix("resume:") for oid in shown if oid.startswith("resume:")]
        assert resumes == ["r-interrupted", "r-failed", "r-cancelled", "r-partial", "r-remove"]
        assert shown["resume:r-interrupted"] == (
            "Resume r-interrupted: aks-prod · reached delivery · interrupted · 3h ago (r)"
        )
        assert "reached log-path · failed" in shown["resume:r-failed"]
        assert shown["resume:r-remove"].startswith("Resume removal r-remove: aks-prod")
        assert "remove" in shown  # the remove flow is one key away


async def wait_until(pilot: Pilot[Any], what: str, pred: Any) -> None:
    try:
        async with asyncio.timeout(90):
            while not pred():
                await pilot.pause(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def apply_killed_mid_run(emu: Any, state: Path, tmp_path: Path) -> str:
    """A real ``aksaudit apply`` child, killed with SIGKILL while its pod on one node hangs
    (its journal still says "running"); returns that node."""
    env = cli_env(emu, state)
    plan = tmp_path / "p.yaml"
    made = subprocess.run(
        [*aksaudit_cmd(), "plan", "--cluster", "aks-dev-neu", "--workspace", "law-dev-neu",
         "--delivery", "one-shot", "--out", str(plan)],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    stuck = linux_nodes(emu, "aks-dev-neu")[0]
    add_fault(emu, {"kind": "pod-pending", "cluster": "aks-dev-neu", "node": stuck,
                    "pod_prefix": "aksaudit-apply"})  # fmt: skip
    child = subprocess.Popen(
        [*aksaudit_cmd(), "apply", str(plan), "--yes", "--json"], env=env, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        end = time.monotonic() + 180
        while not any(stuck in p for p in oneshot_pods(emu, "aks-dev-neu")):
            assert child.poll() is None and time.monotonic() < end, "no pod on the stuck node"
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    return stuck


async def test_an_apply_killed_with_sigkill_shows_as_interrupted_and_resumes(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(None)
    state = tmp_path / "state"
    stuck = await asyncio.to_thread(apply_killed_mid_run, emu, state, tmp_path)
    a = app_for(engine_for(emu, state))
    async with a.run_test(size=SIZE) as pilot:
        await settle(pilot, a)
        await screen_is(pilot, a, "start")
        resumes = [(oid, text) for oid, text in options(a, "#start-actions") if "resume:" in oid]
        assert len(resumes) == 1, resumes
        run_id = resumes[0][0].removeprefix("resume:")
        assert resumes[0][1] == (
            f"Resume {run_id}: aks-dev-neu · reached delivery · interrupted · 0m ago (r)"
        )
        # its privileged pod is still there: clean up (c), the node comes back, resume (r)
        await wait_until(pilot, "the leftover scan", lambda: a.job("leftovers").result)
        await pilot.press("c")
        await settle(pilot, a)
        assert not oneshot_pods(emu, "aks-dev-neu")
        clear_faults(emu)
        await pilot.press("r")
        await pilot.pause()
        await screen_is(pilot, a, "run")
        await settle(pilot, a)
        assert a.run_model.outcome == "ok", (a.run_model.message, a.job("run").error)
        assert a.run_model.run_id == run_id
        assert a.run_model.nodes[f"aks-dev-neu/{stuck}"].phase == "compliant"
        assert oneshot_pods(emu, "aks-dev-neu") == []


async def pick_removal(pilot: Pilot[Any], a: AksauditApp, run_id: str) -> None:
    """Start screen -> x -> the run highlighted with arrows."""
    await pilot.press("x")
    await pilot.pause()
    await screen_is(pilot, a, "remove")
    runs = a.screen.query_one("#remove-runs", OptionList)
    assert runs.has_focus
    await pilot.press("home")
    for _ in range(runs.option_count):
        if runs.get_option_at_index(runs.highlighted or 0).id == run_id:
            break
        await pilot.press("down")
    assert runs.get_option_at_index(runs.highlighted or 0).id == run_id


async def test_remove_flow_picks_reviews_confirms_and_runs_on_the_run_screen() -> None:
    engine = FakeEngine(runs=applied_runs(), plans=fixed_plans())
    a = fake_app(engine)
    async with a.run_test(size=SIZE) as pilot:
        await settle(pilot, a)
        await pick_removal(pilot, a, APPLIED_ID)
        clusters = a.screen.query_one("#remove-clusters", CheckList)
        assert list(clusters.selected) == [c.name for c in CLUSTERS]  # all, to start with
        # tab to the clusters, unpick the second; tab to the options, undo the log path too
        await pilot.press("tab")
        assert clusters.has_focus
        await pilot.press("home", "down", "space", "tab", "space")
        assert list(clusters.selected) == [CLUSTERS[0].name]
        rows = await remove_review_rows(pilot, a)
        assert {r[0] for r in rows} == {"aks-prod"}
        assert any(r[1] == "delivery" and "node script (remove)" in r[3] for r in rows), rows
        assert any(r[1] == "log-path" and r[2] == "will change" for r in rows), rows
        assert engine.removed == []  # nothing runs before the confirm
        await confirm_run(pilot, a)
        await settle(pilot, a)
        ((plan, log_path),) = engine.removed
        assert [c.name for c in plan.clusters] == ["aks-prod"] and log_path is True
        assert plan.workspace == fixed_plans()[APPLIED_ID].workspace
        assert a.run_model.kind == "remove" and a.run_model.outcome == "ok"
        assert {n.phase for n in a.run_model.nodes.values()} == {"removed", "skipped"}
        # a removal has nothing to verify: no Verify button, and ctrl+n stays here
        assert not a.screen.query_one("#nav-next", Button).display
        await pilot.press("ctrl+n")
        await pilot.pause()
        await screen_is(pilot, a, "run")


async def test_remove_flow_offers_only_the_apply_that_configured_each_cluster_last() -> None:
    """A later apply on aks-prod supersedes the older one there (and a still older one
    everywhere): the older run is offered for its other cluster only, and removing through it
    undoes that cluster with that run's plan."""
    prod, dev = (c.name for c in CLUSTERS)
    runs = [
        RunSummary("r-newer", (prod,), "verify", "2026-11-27T06:00:00Z", "ok"),
        RunSummary(APPLIED_ID, (prod, dev), "verify", "2026-11-26T07:00:00Z", "ok"),
        RunSummary("r-oldest", (prod,), "verify", "2026-11-25T07:00:00Z", "ok"),
        RunSummary("r-removed", (dev,), "verify", "2026-11-24T07:00:00Z", "ok", kind="remove"),
    ]
    plans = {**fixed_plans(), "r-newer": fixed_plan(prod), "r-oldest": fixed_plan(prod)}
    engine = FakeEngine(runs=runs, plans=plans)
    a = fake_app(engine)
    async with a.run_test(size=SIZE) as pilot:
        await settle(pilot, a)
        await pick_removal(pilot, a, APPLIED_ID)
        shown = options(a, "#remove-runs")
        assert [oid for oid, _ in shown] == ["r-newer", APPLIED_ID], shown
        assert shown[1][1].startswith(f"{APPLIED_ID}: {dev} ·"), shown  # only its own cluster
        clusters = a.screen.query_one("#remove-clusters", CheckList)
        assert list(clusters.selected) == [dev]
        await remove_review_rows(pilot, a)
        await confirm_run(pilot, a)
        await settle(pilot, a)
        ((plan, _log_path),) = engine.removed
        assert [c.name for c in plan.clusters] == [dev]


async def test_remove_flow_on_the_emulator_restores_every_node(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(None)
    engine = engine_for(emu, tmp_path / "state")
    engine.verify_after_apply = False
    plan = await pinned_oneshot_plan(engine)
    applied = await engine.apply(plan)
    assert applied.outcome == "ok", applied.message
    nodes = linux_nodes(emu, "aks-dev-neu")
    assert all((node_root(emu, "aks-dev-neu", n) / "var/lib/aksaudit").exists() for n in nodes)
    a = app_for(engine)
    async with a.run_test(size=SIZE) as pilot:
        await settle(pilot, a)
        await pick_removal(pilot, a, applied.run_id)
        rows = await remove_review_rows(pilot, a)
        assert any(
            r[1] == "delivery" and f"(remove) on {len(nodes)} Linux node(s)" in r[3] for r in rows
        ), rows
        # the review changed nothing
        assert all((node_root(emu, "aks-dev-neu", n) / "var/lib/aksaudit").exists() for n in nodes)
        await confirm_run(pilot, a)
        await settle(pilot, a)
        assert a.run_model.outcome == "ok", (a.run_model.message, a.job("run").error)
        assert {a.run_model.nodes[f"aks-dev-neu/{n}"].phase for n in nodes} == {"removed"}
    for n in nodes:
        assert not (node_root(emu, "aks-dev-neu", n) / "var/lib/aksaudit").exists(), n
    assert oneshot_pods(emu, "aks-dev-neu") == []


async def test_an_app_that_exits_mid_run_leaves_no_pod_and_a_cancelled_journal(
    make_emulator: Any, tmp_path: Path
) -> None:
    """The run works on the App's engine thread: an exit mid-run (an error, SIGHUP or a closed
    terminal end the app the same way) still waits for the run's cleanup there."""
    emu = make_emulator(None)
    engine = engine_for(emu, tmp_path / "state")
    engine.verify_after_apply = False
    plan = await pinned_oneshot_plan(engine)
    stuck = linux_nodes(emu, "aks-dev-neu")[0]
    add_fault(emu, {"kind": "pod-pending", "cluster": "aks-dev-neu", "node": stuck,
                    "pod_prefix": "aksaudit-apply"})  # fmt: skip
    a = app_for(engine)
    async with a.run_test(size=SIZE):
        a.start_apply(plan)
        end = time.monotonic() + 180
        while not any(
            p.startswith("aksaudit-apply") and stuck in p for p in oneshot_pods(emu, "aks-dev-neu")
        ):
            assert time.monotonic() < end and a.job("run").running, a.job("run").error
            await asyncio.sleep(0.1)
        a.exit(1)  # mid-run, the stuck node's privileged pod in place
    assert oneshot_pods(emu, "aks-dev-neu") == []
    runs = engine.journal.list_runs()  # stopped as the user's cancel stops it: resumable
    assert [r.state for r in runs] == ["cancelled"], runs
