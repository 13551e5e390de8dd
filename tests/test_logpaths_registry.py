"""The log-path registry: every registered path declares its words, the adapters stand alone
(they import ``base`` and ``dcr``, never each other; ``cloud/`` has no import circle), and the
plan, the steps, the equivalents and the TUI take every word about a path from the registry (a
path registered only in these tests shows up in all of them)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grimp
import pytest

import aksaudit_tui
from aksaudit_tui.cloud import logpaths
from aksaudit_tui.cloud.models import Cluster, Workspace
from aksaudit_tui.errors import UsageError

CLOUD = "aksaudit_tui.cloud"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("aksaudit_tui")


@pytest.mark.parametrize("adapter", logpaths.ADAPTERS, ids=lambda a: a.name)
def test_every_registered_path_declares_its_words(adapter: type[logpaths.AdapterBase]) -> None:
    assert adapter.name and adapter.name == adapter.name.strip().lower()
    assert " " not in adapter.name
    for words in (adapter.title, adapter.summary, adapter.explanation):
        assert isinstance(words, str) and words.strip() == words and len(words) > 10
    assert adapter.explanation.endswith(".")
    assert adapter.warning is None or len(adapter.warning) > 10
    assert isinstance(adapter.touches_scale_sets, bool)
    assert logpaths.describe(adapter.name) is adapter


def test_registry_names_default_and_unknown_names() -> None:
    assert logpaths.NAMES == ("container-insights", "legacy-oms", "ama")
    assert logpaths.DEFAULT == "container-insights"
    assert len(set(logpaths.NAMES)) == len(logpaths.ADAPTERS)
    with pytest.raises(UsageError, match="unknown log path 'oms'; use one of container-insights"):
        logpaths.describe("oms")


def test_adapters_import_base_and_dcr_never_each_other(graph: grimp.ImportGraph) -> None:
    adapters = {a.__module__ for a in logpaths.ADAPTERS}
    assert len(adapters) == len(logpaths.ADAPTERS)  # one module per path
    shared = {f"{CLOUD}.logpaths.base", f"{CLOUD}.logpaths.dcr"}
    for module in adapters:
        ours = {
            m
            for m in graph.find_modules_directly_imported_by(module)
            if m.startswith(f"{CLOUD}.logpaths")
        }
        assert ours <= shared, f"{module} imports {ours - shared}"


def test_no_import_circle_in_cloud(graph: grimp.ImportGraph) -> None:
    modules = {m for m in graph.modules if m == CLOUD or m.startswith(CLOUD + ".")}
    circles = [
        (importer, imported)
        for importer in sorted(modules)
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported in modules and graph.chain_exists(importer=imported, imported=importer)
    ]
    assert circles == []


# --- the consumers read the registry ------------------------------------------------------------


class _TryPath(logpaths.AdapterBase):
    """A path that exists only in these tests: whatever offers paths must offer it too."""

    name = "try-path"
    title = "Try path (for the registry tests)"
    summary = "try path: one rule, no agent"
    explanation = "Sends syslog by carrier pigeon; exists only in the tests."
    warning = "try-path is not a real log path"
    chosen_note = "Try path: tests only."
    touches_scale_sets = True

    @classmethod
    def preview(cls, clusters: Sequence[Cluster], facility: str, severity: str) -> list[str]:
        return [f"{c.name}: pigeon for {facility}.{severity} (will change)" for c in clusters]

    @classmethod
    def az_commands(
        cls, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[str]:
        return [f"az pigeon send --cluster {cluster.name} --to {workspace.name}"]

    async def probe(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> logpaths.LogPathState:
        return logpaths.LogPathState(ok=True)

    async def apply(
        self, cluster: Cluster, workspace: Workspace, facility: str, severity: str
    ) -> list[logpaths.Change]:
        return []

    async def remove(
        self, cluster: Cluster, workspace: Workspace, undo: Sequence[str]
    ) -> list[str]:
        return []


@pytest.fixture
def try_path(monkeypatch: pytest.MonkeyPatch) -> type[logpaths.AdapterBase]:
    monkeypatch.setattr(logpaths, "ADAPTERS", (*logpaths.ADAPTERS, _TryPath))
    monkeypatch.setitem(logpaths.LOG_PATHS, _TryPath.name, _TryPath)
    return _TryPath


def test_no_log_path_words_outside_the_registry() -> None:
    """Names (quoted), titles, summaries, explanations and warnings live in cloud/logpaths only."""
    root = Path(aksaudit_tui.__file__).parent
    own = root / "cloud" / "logpaths"
    words: list[str] = []
    for a in logpaths.ADAPTERS:
        words += [f'"{a.name}"', f"'{a.name}'", a.title, a.summary, a.explanation[:40]]
        words += [w[:40] for w in (a.warning, a.chosen_note) if w]
    found = [
        (str(path.relative_to(root)), w)
        for path in sorted(root.rglob("*.py"))
        if own not in path.parents
        for w in words
        if w in path.read_text()
    ]
    assert found == []


def test_plan_cli_and_steps_take_names_and_words_from_the_registry(
    try_path: type[logpaths.AdapterBase],
) -> None:
    from aksaudit_tui.engine import plan, plan_io
    from aksaudit_tui.engine.steps.logpath import LogPathStep

    assert plan.LOG_PATHS == ("container-insights", "legacy-oms", "ama")
    assert plan.DEFAULT_LOG_PATH == logpaths.DEFAULT
    assert plan.Plan.from_dict({"clusters": [], "workspace": {}}).log_path == logpaths.DEFAULT
    assert "log_path: container-insights | legacy-oms | ama;" in plan_io.HEADER
    for a in (*logpaths.ADAPTERS,):
        assert LogPathStep(a.name).title == f"log path: {a.summary}"


def test_equivalents_print_the_paths_own_commands(try_path: type[logpaths.AdapterBase]) -> None:
    from aksaudit_tui.engine.equivalents import equivalent_commands
    from aksaudit_tui.engine.plan import ClusterTarget, Plan, WorkspaceRef

    ws = WorkspaceRef(name="law-1", id="/subscriptions/s/x/law-1", customer_id="c-1")
    clusters = (ClusterTarget("aks-1", "/subscriptions/s/x/aks-1", "s", "rg", "MC_rg"),)
    text = equivalent_commands(Plan(clusters=clusters, workspace=ws, log_path=try_path.name))
    assert "az pigeon send --cluster aks-1 --to law-1\naz aks get-credentials" in text
    legacy = equivalent_commands(Plan(clusters=clusters, workspace=ws, log_path="legacy-oms"))
    assert "OmsAgentForLinux" in legacy and "LinuxSyslog data source for authpriv" in legacy
    assert "pigeon" not in legacy


async def test_tui_offers_exactly_the_registered_paths(
    try_path: type[logpaths.AdapterBase],
) -> None:
    from textual.widgets import RadioButton, RadioSet, Static

    from aksaudit_tui.tui.app import AksauditApp
    from tui_fakes import CLUSTERS, FakeEngine

    app = AksauditApp(FakeEngine(), identity="tests", keymap={}, animations=False)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.state.selected = [CLUSTERS[0].id]
        app.goto("logpath")
        await pilot.pause()
        screen = app.get_screen("logpath")
        buttons = list(screen.query(RadioButton))
        assert [str(b.label) for b in buttons] == [a.title for a in logpaths.ADAPTERS]
        assert [b.id for b in buttons] == [f"path-{a.name}" for a in logpaths.ADAPTERS]
        screen.query_one(RadioSet).focus()
        await pilot.press(*["down"] * (len(buttons) - 1), "enter")  # the last one: ours
        await pilot.pause()
        assert app.state.log_path == "try-path"
        side = str(screen.query_one("#logpath-explain", Static).content)
        assert side == f"{try_path.explanation} Warning: {try_path.warning}."
        changes = str(screen.query_one("#logpath-changes", Static).content)
        assert f"{CLUSTERS[0].name}: pigeon for authpriv.info (will change)" in changes
        assert try_path.chosen_note in str(screen.query_one("#nav-message", Static).content)
