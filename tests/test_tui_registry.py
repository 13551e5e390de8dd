"""The screen registry is the one source of the wizard's order, and screens talk up by messages.

Contract (docs/TUI.md): ``tui/registry.py`` lists every screen once; Back/Next, the step bar and
the App's screen names derive from it; no screen calls an App method.
"""

from __future__ import annotations

import ast
from pathlib import Path

from textual.widgets import Button

from aksaudit_tui.tui import registry
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.widgets.stepbar import StepBar
from tui_fakes import FIXED_NOW, FakeEngine

SCREENS_DIR = Path(registry.__file__).parent / "screens"


def test_every_row_names_a_wizard_screen_whose_class_finds_its_row() -> None:
    assert len(set(registry.NAMES)) == len(registry.NAMES)
    for e in registry.SCREENS:
        cls = registry.screen_class(e.name)
        assert issubclass(cls, WizardScreen), e.name
        assert registry.entry_of(cls) == e


def test_back_and_next_follow_the_table() -> None:
    order = {n: registry.next_of(n) for n in registry.NAMES}
    wizard = registry.NAMES[: registry.NAMES.index("status")]
    assert [order[n] for n in wizard] == [*wizard[1:], "status"]
    assert order["status"] is None  # nothing follows the fleet view
    assert order["remove"] == "remove-review" and order["remove-review"] == "run"
    assert registry.back_of("remove") == "start"
    assert registry.back_of("remove-review") == "remove"
    assert registry.back_of("start") is None
    assert registry.back_of("discover") == "start"
    assert registry.back_of("review") == "delivery"
    assert registry.back_of("run") == "start"  # the run goes on in the background
    assert registry.back_of("verify") == "run"
    assert [e.name for e in registry.WIZARD_STEPS] == [
        "discover", "logpath", "rules", "facility", "delivery", "review", "run", "verify",
    ]  # fmt: skip


def test_no_screen_calls_an_app_method() -> None:
    """Up by messages only: ``self.aks``/``self.app``/``app`` may be read, not called into
    (Textual's own ``push_screen``, ``notify`` and ``copy_to_clipboard`` aside)."""
    allowed = {"push_screen", "copy_to_clipboard", "notify", "job", "clock"}
    found: list[str] = []
    for path in SCREENS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            is_app = (
                isinstance(owner, ast.Attribute)
                and owner.attr in ("aks", "app")
                and isinstance(owner.value, ast.Name)
                and owner.value.id == "self"
            ) or (isinstance(owner, ast.Name) and owner.id == "app")
            if is_app and node.func.attr not in allowed:
                found.append(f"{path.name}:{node.lineno} {node.func.attr}()")
    assert not found, found


async def test_back_and_next_buttons_and_breadcrumb_come_from_the_registry() -> None:
    app = AksauditApp(
        FakeEngine(),  # type: ignore[arg-type]
        identity="test", keymap={}, animations=False, clock=lambda: FIXED_NOW,
    )  # fmt: skip
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        for name in ("start", "rules", "run", "status"):
            app.goto(name)
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, WizardScreen) and screen.screen_name == name
            ids = {b.id for b in screen.query(Button)}
            assert ("nav-back" in ids) == (registry.back_of(name) is not None), name
            assert ("nav-next" in ids) == (registry.next_of(name) is not None), name
            bar = str(screen.query_one(StepBar).render_steps())
            assert bar.startswith("Discover › Log path") and bar.endswith("Verify")
        app.goto("rules")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.get_screen("logpath")
