"""The log-path registry: every registered path declares its words, and the adapters stand alone
(they import ``base`` and ``dcr``, never each other; ``cloud/`` has no import circle)."""

from __future__ import annotations

import grimp
import pytest

from aksaudit_tui.cloud import logpaths
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
