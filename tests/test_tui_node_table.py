"""The run screen's node table and redraw pacing (issue 6: UI lag with a 500-node rollout)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Log
from textual.widgets.data_table import ColumnKey

from aksaudit_tui.engine.events import NodeUpdate, RunStarted, StepLog, StepStarted
from aksaudit_tui.tui.app import AksauditApp
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.run import DRAW_S, RunScreen, node_cells
from aksaudit_tui.tui.widgets.node_table import NodeTable
from tui_fakes import FIXED_NOW, FakeEngine

COLS = ("node", "phase", "result")


def row(i: int, phase: str, result: str = "") -> list[Text]:
    return [
        Text(f"node-{i:03d}"),
        Text(phase, style="green" if phase == "compliant" else "yellow"),
        Text(result, style="red" if phase == "failed" else ""),
    ]


class TableApp(App[None]):
    def __init__(self, rows: list[list[Text]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield NodeTable(id="t", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(NodeTable)
        for key in COLS:
            table.add_column(key.title(), key=key)
        for i, cells in enumerate(self.rows):
            table.add_row(*cells, key=f"k{i}")


async def screenshot(app: App[None]) -> str:
    return app.export_screenshot(title="t")


class PairApp(App[None]):
    """A NodeTable and a plain DataTable side by side, same size, same rows."""

    CSS = "DataTable { width: 1fr; height: 1fr; }"

    def __init__(self, rows: list[list[Text]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield NodeTable(id="fast", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="plain", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            for key in COLS:
                table.add_column(key.title(), key=key)
            for i, cells in enumerate(self.rows):
                table.add_row(*cells, key=f"k{i}")


async def test_cells_match_upstream_rendering_including_mouse_meta() -> None:
    """A cell reused from another row (same text, other row) is segment-for-segment what
    DataTable renders for it, the row/column mouse meta included (clicks pick the right row)."""
    n = 40
    app = PairApp([row(i, "pending") for i in range(n)])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        fast = app.query_one("#fast", NodeTable)
        plain = app.query_one("#plain", DataTable)
        app.set_focus(None)  # focus changes the header colours: keep both alike
        for step, phase in enumerate(("scheduled", "running", "compliant")):
            picked = [i for i in range(n) if i % 3 != step]
            fast.set_rows([(f"k{i}", row(i, phase, "ok")) for i in picked])
            for i in picked:
                for col, cell in zip(COLS, row(i, phase, "ok"), strict=True):
                    plain.update_cell(f"k{i}", col, cell, update_width=True)
            await pilot.pause()
            await pilot.pause()
            assert fast.size == plain.size
            for y in range(fast.size.height):
                got = [
                    (s.text, s.style, s.style.meta if s.style else None)
                    for s in fast.render_line(y)
                ]
                want = [
                    (s.text, s.style, s.style.meta if s.style else None)
                    for s in plain.render_line(y)
                ]
                assert got == want, (step, y)
        for table in (fast, plain):  # the cursor row renders alike too
            table.move_cursor(row=2)
        await pilot.pause()
        for y in range(fast.size.height):
            assert list(fast.render_line(y)) == list(plain.render_line(y)), y


async def fresh_screens(rows: list[list[Text]]) -> tuple[str, str]:
    """Screenshots (top, scrolled to the end) of a table built from ``rows``."""
    fresh = TableApp(rows)
    async with fresh.run_test(size=(90, 20)) as pilot:
        await pilot.pause()
        await pilot.pause()
        top = await screenshot(fresh)
        fresh.query_one(NodeTable).scroll_end(animate=False)
        await pilot.pause()
        return top, await screenshot(fresh)


async def test_updated_rows_render_like_a_fresh_table() -> None:
    """Rows changed in place (in view, out of view, wider than the column) end up on screen
    exactly as a table built from the final data shows them: nothing stale survives."""
    n = 80
    state = [row(i, "pending") for i in range(n)]
    live = TableApp(list(state))
    async with live.run_test(size=(90, 20)) as pilot:
        await pilot.pause()
        table = live.query_one(NodeTable)
        # 1: fits the columns (only those rows repaint)
        for i in (0, 3, 70):
            state[i] = row(i, "running")
        assert table.set_rows([(f"k{i}", state[i]) for i in (0, 3, 70)]) == 3
        await pilot.pause()
        assert table.set_rows([(f"k{i}", state[i]) for i in (0, 3, 70)]) == 0  # no change
        want_1 = await fresh_screens(list(state))
        got_top_1 = await screenshot(live)
        # 2: wider than the columns (a full repaint) and more rows in view and out of view
        for i in (0, 4, 70):
            state[i] = row(i, "compliant", "ok")
        state[5] = row(5, "failed", "pod did not start (ImagePullBackOff)")
        state[79] = row(79, "scheduled")
        assert table.set_rows([(f"k{i}", state[i]) for i in (0, 4, 5, 70, 79)]) == 5
        await pilot.pause()
        await pilot.pause()
        got_top_2 = await screenshot(live)
        table.scroll_end(animate=False)
        await pilot.pause()
        got_end_2 = await screenshot(live)
    want_2 = await fresh_screens(list(state))
    assert "ImagePullBackOff" in want_2[0] and "running" in want_1[0]
    assert got_top_1 == want_1[0]
    assert (got_top_2, got_end_2) == want_2


async def test_a_batch_of_wider_cells_widens_the_column_once_without_measuring_it() -> None:
    """Cells wider than their column (a Result message longer than any before) widen it at
    once, to the widest of the batch: no cell waits for idle, and nothing is queued for
    upstream's idle pass, which measured the whole column through Rich once for every queued
    cell narrower than the widest (500 cells each at 500 nodes). The table then shows what a
    table built from the final rows shows."""
    n = 60
    state = [row(i, "pending") for i in range(n)]
    live = TableApp(list(state))
    async with live.run_test(size=(90, 20)) as pilot:
        await pilot.pause()
        table = live.query_one(NodeTable)
        result = table.columns[ColumnKey("result")]
        before = result.content_width
        picked = (1, 2, 30, 59)
        for i, msg in zip(
            picked, ("changed: rules", "changed: rules, plugin", "ok", "x" * 30), strict=True
        ):
            state[i] = row(i, "compliant", msg)
        assert table.set_rows([(f"k{i}", state[i]) for i in picked]) == 4
        assert result.content_width == 30 > before  # at once, the widest of the batch
        assert not table._updated_cells  # nothing left for upstream's whole-column measuring
        await pilot.pause()
        await pilot.pause()
        got = await screenshot(live)
        assert table.virtual_size.width >= sum(
            c.get_render_width(table) for c in table.columns.values()
        )
    want_top, _end = await fresh_screens(list(state))
    assert "plugin" in want_top and got == want_top


def big_run(n: int) -> list[Any]:
    evs: list[Any] = [RunStarted("r1", ("big",), ("delivery",))]
    evs.append(StepStarted("r1", "big", "delivery", "node delivery"))
    evs += [
        NodeUpdate("r1", "big", f"node-{i:03d}", "pool", "Ubuntu2204", "pending") for i in range(n)
    ]
    return evs


def app() -> AksauditApp:
    return AksauditApp(FakeEngine(), keymap={}, animations=False, clock=lambda: FIXED_NOW)  # type: ignore[arg-type]


async def test_updates_before_mount_are_not_lost() -> None:
    """The App may tell the run screen about a batch before its on_mount added the columns
    (it used to raise 'More values provided than there are columns'): the model is the queue."""
    a = app()
    async with a.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        a.run_model.apply(big_run(20))
        screen = RunScreen()
        ch = Changes(started=True, nodes=set(a.run_model.nodes))
        screen.data_changed("run", ch)  # composed or not, never mounted: nothing to draw yet
        a.install_screen(screen, "run")
        a.goto("run")
        await pilot.pause()
        table = screen.query_one("#nodes", NodeTable)
        assert table.row_count == 20
        assert [k.value for k in table.rows] == list(a.run_model.nodes)


async def test_batches_are_coalesced_between_redraws() -> None:
    """Batches arrive every 100 ms; the node table follows at most every DRAW_S, and the end
    of the run is drawn at once."""
    a = app()
    async with a.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        a.goto("run")
        await pilot.pause()
        screen = a.screen
        assert isinstance(screen, RunScreen)
        model = a.run_model
        screen.data_changed("run", model.apply(big_run(30)))  # the start: drawn at once
        table = screen.query_one("#nodes", NodeTable)
        assert table.row_count == 30
        done = NodeUpdate("r1", "big", "node-007", "pool", "Ubuntu2204", "compliant", "3", "ok")
        screen.data_changed("run", model.apply([done]))  # within DRAW_S of the last draw
        assert table.get_row("big/node-007")[3].plain == "pending"
        await pilot.pause(DRAW_S + 0.2)
        assert table.get_row("big/node-007")[3].plain == "compliant"
        assert [c.plain for c in table.get_row("big/node-007")] == [
            c.plain for c in node_cells(model.nodes["big/node-007"])
        ]


async def test_selected_log_gets_only_new_lines() -> None:
    a = app()
    async with a.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        a.goto("run")
        await pilot.pause()
        screen = a.screen
        assert isinstance(screen, RunScreen)
        model = a.run_model
        screen.data_changed("run", model.apply(big_run(3)))
        screen.log_key = "big/delivery"
        screen.data_changed("resume", None)
        log = screen.query_one("#run-log", Log)
        for i in range(5):
            line = StepLog("r1", "big", "delivery", f"line {i}")
            screen.data_changed("run", model.apply([line]))
            await pilot.pause(DRAW_S + 0.05)
        assert list(log.lines) == list(model.logs["big/delivery"])
        assert list(log.lines)[-1] == "line 4"
        assert list(log.lines).count("line 0") == 1
