"""Choices read whole and say their state without colour (issue 12, newcomer list), driven with
Pilot and read from the rendered screen (the compositor's text, what a terminal shows):

- option titles (log paths, rule presets) are not cut at 80x24 and wider: they wrap;
- a RadioSet shows exactly one button pressed (``●``; the others ``○``), and a preset's button
  is ``X`` only when picked;
- the Delivery screen has one kube-context input per picked cluster;
- ``?`` (this screen's keys) is in the footer of every screen.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, OptionList

from aksaudit_tui.cloud import logpaths
from aksaudit_tui.tui import registry
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.models import presets_view
from aksaudit_tui.tui.widgets.choices import NOT_PRESSED, PRESSED
from aksaudit_tui.tui.widgets.keyed import KeyedColumn
from tui_fakes import CLUSTERS, FIXED_NOW, FakeEngine, fixed_runs

SIZES = [(80, 24), (100, 30), (160, 50)]


def app() -> AksauditApp:
    return AksauditApp(
        FakeEngine(runs=fixed_runs()),  # type: ignore[arg-type]
        keymap={},
        animations=False,
        clock=lambda: FIXED_NOW,
    )


async def open_screen(pilot: Pilot[Any], a: AksauditApp, name: str, picked: int = 2) -> None:
    await a.workers.wait_for_complete()
    a.flush_events()
    await pilot.pause()
    a.state.selected = [c.id for c in CLUSTERS[:picked]]
    a.goto(name)
    await pilot.pause()
    await pilot.pause()


def screen_lines(a: AksauditApp) -> list[str]:
    """The screen as the terminal shows it, one string per row."""
    return [strip.text for strip in a.screen._compositor.render_strips()]


def widget_text(a: AksauditApp, widget: Widget) -> str:
    """The text drawn inside ``widget``'s region, rows joined by spaces, runs of blanks, the
    buttons' glyphs and the scrollbar collapsed (a wrapped title reads as one line)."""
    r = widget.content_region
    rows = [line[r.x : r.right] for line in screen_lines(a)[r.y : r.bottom]]
    text = " ".join(rows)
    text = re.sub(r"▐.▌", " ", text)
    text = re.sub(r"[▁▂▃▄▅▆▇█]", " ", text)  # the scrollbar's thumb
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_log_path_titles_read_whole(size: tuple[int, int]) -> None:
    a = app()
    async with a.run_test(size=size) as pilot:
        await open_screen(pilot, a, "logpath")
        shown = widget_text(a, a.screen.query_one("#logpath"))
        for adapter in logpaths.ADAPTERS:
            assert adapter.title in shown, (adapter.title, shown)
        assert "…" not in shown


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_rule_preset_titles_read_whole(size: tuple[int, int]) -> None:
    a = app()
    async with a.run_test(size=size) as pilot:
        await open_screen(pilot, a, "rules")
        presets = a.screen.query_one("#presets", OptionList)
        labels = [info.label() for info in presets_view.list_presets()]
        assert len(labels) >= 8 and any(len(t) > 40 for t in labels)
        presets.focus()
        await pilot.press("home")
        for i, label in enumerate(labels):
            # the list scrolls to the highlighted preset: its whole title is on screen
            assert presets.highlighted == i
            shown = widget_text(a, presets)
            assert label in shown, (label, shown)
            assert "…" not in shown
            await pilot.press("down")


async def test_preset_button_marks_only_the_picked_presets() -> None:
    a = app()
    async with a.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, a, "rules")
        presets = a.screen.query_one("#presets", OptionList)
        r = presets.content_region
        marks = [line[r.x : r.x + 3] for line in screen_lines(a)[r.y : r.bottom]]
        assert marks.count("▐X▌") == len(a.state.presets) == 1, marks
        assert marks.count("▐ ▌") == presets.option_count - 1, marks
        presets.focus()
        await pilot.press("home", "space")  # pick the first one too
        marks = [line[r.x : r.x + 3] for line in screen_lines(a)[r.y : r.bottom]]
        assert marks.count("▐X▌") == 2 == len(a.state.presets), marks


def pressed_rows(a: AksauditApp, widget: Widget) -> dict[str, str]:
    """Each radio button's glyph, as drawn, by the first words of its label."""
    r = widget.content_region
    out: dict[str, str] = {}
    for line in screen_lines(a)[r.y : r.bottom]:
        m = re.search(r"▐(.)▌ (\S+)", line[r.x : r.right])
        if m:
            out[m.group(2)] = m.group(1)
    return out


async def test_delivery_shows_one_pressed_mode_and_an_input_per_cluster() -> None:
    a = app()
    async with a.run_test(size=(100, 30)) as pilot:
        await open_screen(pilot, a, "delivery", picked=1)
        radio = a.screen.query_one("#delivery")
        assert pressed_rows(a, radio) == {"Keeper": PRESSED, "One-shot": NOT_PRESSED}
        column = a.screen.query_one("#context-inputs", KeyedColumn)
        assert column.keys == [CLUSTERS[0].name]
        assert len(column.query(Input)) == 1
        # arrows + enter choose the other mode: still exactly one pressed, as drawn
        radio.focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert a.state.delivery == "one-shot"
        assert pressed_rows(a, radio) == {"Keeper": NOT_PRESSED, "One-shot": PRESSED}
        # back to Discover, a second cluster: two inputs, the mode kept
        await pilot.press("escape")
        await pilot.pause()
        a.state.selected = [c.id for c in CLUSTERS]
        a.goto("delivery")
        await pilot.pause()
        await pilot.pause()
        assert column.keys == [c.name for c in CLUSTERS]
        assert len(column.query(Input)) == 2
        assert pressed_rows(a, radio) == {"Keeper": NOT_PRESSED, "One-shot": PRESSED}


async def test_log_path_radio_shows_one_pressed() -> None:
    a = app()
    async with a.run_test(size=(100, 30)) as pilot:
        await open_screen(pilot, a, "logpath")
        radio = a.screen.query_one("#logpath")
        glyphs = pressed_rows(a, radio)
        assert sorted(glyphs.values()) == sorted([PRESSED] + [NOT_PRESSED] * (len(glyphs) - 1))
        assert len(glyphs) == len(logpaths.ADAPTERS)


@pytest.mark.parametrize("name", [e.name for e in registry.SCREENS])
async def test_question_mark_is_in_every_footer(name: str) -> None:
    a = app()
    async with a.run_test(size=(100, 30)) as pilot:
        await open_screen(pilot, a, name, picked=1)
        footer = screen_lines(a)[-1]
        assert "? Keys" in footer, footer
