"""Each cluster's workspace (issue 12, "Workspace choice"): the engine's default rule over the
emulator's default scenario (the add-on's workspace, else the one in the same subscription and
region, else ask), per-cluster and global overrides in `aksaudit plan`, the plan file's
per-cluster workspace, and the one-line headless error when the rule cannot choose."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.cloud.discovery import discover_all
from aksaudit_tui.cloud.models import Inventory
from aksaudit_tui.engine import plan_io
from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.engine.workspace_choice import default_workspace
from aksaudit_tui.errors import UsageError
from engine_helpers import aksaudit_cmd, cli_env, engine_for, scenario, settings_for

SECOND = {"name": "law-prod-weu-2", "customer_id": "6d1a3f0e-2b4c-4e8a-9f1d-0c2b3a4d5e6f"}


def _inventory(emu: Any) -> Inventory:
    return asyncio.run(discover_all(settings_for(emu), None))


def _by_name(inv: Inventory, name: str) -> Any:
    return next(c for c in inv.clusters if c.name == name)


def _with_second_prod_workspace(data: dict[str, Any]) -> None:
    prod = next(s for s in data["subscriptions"] if s["name"] == "Contoso Production")
    prod["resource_groups"][0]["workspaces"].append(dict(SECOND))


@pytest.fixture(scope="module")
def default_inventory(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    from aksaudit_emulator import Emulator, load_scenario
    from fixtures.emulator import fast

    data = load_scenario(fast(scenario()))
    emu = Emulator(data, state_dir=tmp_path_factory.mktemp("emulator"))
    emu.start()
    try:
        return _inventory(emu)
    finally:
        emu.stop()


def test_default_rule_over_the_default_scenario(default_inventory: Inventory) -> None:
    inv = default_inventory
    prod = default_workspace(_by_name(inv, "aks-prod-weu"), inv.workspaces)
    assert prod.workspace is not None and prod.workspace.name == "law-prod-weu"
    assert (prod.why, prod.why_text) == ("add-on", "add-on's workspace")
    # add-on off: the one workspace in its own subscription (Production) and region
    # (westeurope), not the first one listed (law-dev-neu, Development, northeurope)
    pay = default_workspace(_by_name(inv, "aks-payments-weu"), inv.workspaces)
    assert pay.workspace is not None and pay.workspace.name == "law-prod-weu"
    assert (pay.why, pay.why_text) == ("region", "same subscription and region")
    # the legacy estate keeps the workspace its agent extension reports to
    dev = default_workspace(_by_name(inv, "aks-dev-neu"), inv.workspaces)
    assert dev.workspace is not None and dev.workspace.name == "law-dev-neu"
    assert dev.why == "agent"


def test_default_rule_asks_when_it_cannot_choose(default_inventory: Inventory) -> None:
    inv = default_inventory
    pay = _by_name(inv, "aks-payments-weu")
    # no workspace in its subscription and region: ask, never another region's
    elsewhere = [w for w in inv.workspaces if w.name != "law-prod-weu"]
    assert [w.name for w in elsewhere] == ["law-dev-neu"]
    choice = default_workspace(pay, elsewhere)
    assert choice.workspace is None and choice.why is None
    assert choice.ask == (
        "no monitoring add-on and no workspace in its subscription and region (westeurope)"
    )
    # two there: ask, naming both
    prod_ws = next(w for w in inv.workspaces if w.name == "law-prod-weu")
    two = [*inv.workspaces, replace(prod_ws, name="law-prod-weu-2", id=prod_ws.id + "-2")]
    choice = default_workspace(pay, two)
    assert choice.workspace is None
    assert (
        choice.ask == "2 workspaces in its subscription and region (law-prod-weu, law-prod-weu-2)"
    )
    # the add-on's workspace not visible to discovery: ask (another one would block review)
    choice = default_workspace(_by_name(inv, "aks-prod-weu"), elsewhere)
    assert choice.workspace is None
    assert "add-on sends to workspace law-prod-weu, which discovery did not list" in choice.ask


async def test_plan_from_names_takes_each_clusters_default_and_overrides(
    make_emulator: Any, tmp_path: Path
) -> None:
    eng = engine_for(make_emulator(scenario()), tmp_path / "state")
    names = ["aks-prod-weu", "aks-payments-weu", "aks-dev-neu"]
    plan = await eng.plan_from_names(PlanRequest(clusters=names))
    assert plan.workspace is None
    got = {c.name: (plan.workspace_for(c).name, plan.why_for(c)) for c in plan.clusters}
    assert got == {
        "aks-prod-weu": ("law-prod-weu", "add-on's workspace"),
        "aks-payments-weu": ("law-prod-weu", "same subscription and region"),
        "aks-dev-neu": ("law-dev-neu", "legacy agent's workspace"),
    }
    # the file: a workspace per cluster with why as a comment; it loads back the same
    path = tmp_path / "plan.yaml"
    plan_io.dump(plan, path)
    text = path.read_text(encoding="utf-8")
    assert text.count("    workspace:  # ") == 3
    assert "workspace:  # same subscription and region" in text
    back = plan_io.load(path)
    assert [back.workspace_for(c).id for c in back.clusters] == [
        plan.workspace_for(c).id for c in plan.clusters
    ]
    # one cluster's own choice (by workspace ID) beats the rule; the others keep theirs
    dev_id = next(w.customer_id for w in plan.workspaces if w.name == "law-dev-neu")
    plan = await eng.plan_from_names(
        PlanRequest(clusters=names, workspaces={"aks-payments-weu": dev_id})
    )
    pay = plan.cluster("aks-payments-weu")
    assert (plan.workspace_for(pay).name, plan.why_for(pay)) == ("law-dev-neu", "picked by you")
    prod = plan.cluster("aks-prod-weu")
    assert plan.why_for(prod) == "add-on's workspace"
    # the global flag still sends every cluster to one workspace (the plan's own key)
    plan = await eng.plan_from_names(
        PlanRequest(
            clusters=names[:2], workspace="law-dev-neu", workspaces={"aks-prod-weu": "law-prod-weu"}
        )
    )
    assert plan.workspace is not None and plan.workspace.name == "law-dev-neu"
    assert plan.cluster("aks-payments-weu").workspace is None
    assert plan.workspace_for(plan.cluster("aks-prod-weu")).name == "law-prod-weu"
    with pytest.raises(UsageError, match=r"--workspace aks-nope=\.\.\.: aks-nope is not one of"):
        await eng.plan_from_names(PlanRequest(clusters=names, workspaces={"aks-nope": "x"}))


def test_plan_headless_asks_with_one_line_naming_the_cluster_and_the_flag(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario(_with_second_prod_workspace))
    env = cli_env(emu, tmp_path / "state")

    def plan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*aksaudit_cmd(), "plan", *args], env=env, capture_output=True, text=True,
            timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path,
        )  # fmt: skip

    out = tmp_path / "plan.yaml"
    p = plan("--cluster", "aks-prod-weu", "--cluster", "aks-payments-weu", "--out", str(out))
    assert p.returncode == 2
    assert p.stderr.splitlines() == [
        "aksaudit: error: aks-payments-weu: no default workspace (2 workspaces in its "
        "subscription and region (law-prod-weu, law-prod-weu-2)); pass --workspace "
        "aks-payments-weu=WORKSPACE"
    ]
    assert not out.exists()
    p = plan("--cluster", "aks-prod-weu", "--cluster", "aks-payments-weu",
             "--workspace", "aks-payments-weu=law-prod-weu-2", "--out", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    loaded = plan_io.load(out)
    assert [loaded.workspace_for(c).name for c in loaded.clusters] == [
        "law-prod-weu",
        "law-prod-weu-2",
    ]
    assert "workspace:  # picked by you" in out.read_text(encoding="utf-8")
    p = plan("--cluster", "aks-prod-weu", "--workspace", "law-prod-weu",
             "--workspace", "law-dev-neu")  # fmt: skip
    assert p.returncode == 2
    assert "--workspace given twice (law-prod-weu, law-dev-neu)" in p.stderr
