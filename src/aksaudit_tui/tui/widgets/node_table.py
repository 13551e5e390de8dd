"""A DataTable for hundreds of live rows: updating a few rows re-renders only those cells.

Textual's DataTable keys every render cache on a table-wide update counter, so one
``update_cell`` throws away the rendering of every visible cell and the next frame renders them
all again through Rich (40-240 ms for a screenful of a 500-row table, the UI lag of issue 6).
``NodeTable`` keeps a second cell cache keyed on what the cell shows (its text, styles, width,
row style, cursor and hover state) instead of the counter, so a frame after an update renders
only the cells whose content changed. ``set_row`` updates one row in one go, only the cells that
differ, repaints only that row (when in view) and widens a column only when the text does not fit
(at once, to the text's length: one repaint per batch, no measuring of the whole column).
New rows are measured from their text length instead of through Rich.

Relies on DataTable internals of the pinned Textual (8.2.8): ``_render_cell``, ``_data``,
``_row_locations`` / ``_column_locations``, ``_update_count``, ``_cell_render_cache`` and
``_update_dimensions``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Self

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist, RowKey

CELL_CACHE_SIZE = 8192  # a screenful is ~50 rows x 6 cells; cursor/zebra/focus variants on top

SegmentLines = list[list[Segment]]


def cell_signature(value: object) -> Hashable | None:
    """What a cell shows, as a hashable value; None when it cannot be told (no content cache)."""
    if isinstance(value, Text):
        return (
            value.plain,
            value.style,
            tuple(value.spans),
            value.justify,
            value.overflow,
            value.no_wrap,
        )
    if isinstance(value, str):
        return ("str", value)
    return None


def _one_line(value: object) -> bool:
    return isinstance(value, Text) and "\n" not in value.plain and "\t" not in value.plain


def _same(a: object, b: object) -> bool:
    sig = cell_signature(a)
    return sig is not None and sig == cell_signature(b)


class NodeTable(DataTable[Text]):
    """DataTable whose cell renders survive updates of other rows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # (row index, shape) -> the cell's lines; shape -> lines of some row with that shape
        self._content_cache: LRUCache[tuple[int, tuple[Hashable, ...]], SegmentLines] = LRUCache(
            CELL_CACHE_SIZE
        )
        self._shape_cache: LRUCache[tuple[Hashable, ...], SegmentLines] = LRUCache(CELL_CACHE_SIZE)

    def set_row(self, key: str, cells: Sequence[Text]) -> bool:
        """Show ``cells`` in row ``key``; True if anything changed (see ``set_rows``)."""
        return bool(self.set_rows([(key, cells)]))

    def set_rows(self, rows: Iterable[tuple[str, Sequence[Text]]]) -> int:
        """Show new cells in existing rows; returns how many rows changed.

        Only cells that differ are written, and only the changed rows that are in view are
        repainted (``update_cell`` repaints the whole table, once per cell).
        """
        changed: list[int] = []
        widened = False
        for key, cells in rows:
            row_key = RowKey(key)
            data = self._data.get(row_key)
            index = self._row_locations.get(row_key)
            if data is None or index is None:
                raise RowDoesNotExist(f"No row with key {key!r}")
            touched = False
            for column, after in zip(self.ordered_columns, cells, strict=False):
                if _same(data.get(column.key), after):
                    continue
                touched = True
                if after.cell_len <= column.content_width:
                    data[column.key] = after
                elif _one_line(after):
                    # Does not fit: widen the column now, to the text's length (what upstream
                    # measures on idle). Upstream's path repainted the whole table once per
                    # such cell, and on idle measured the whole column through Rich again for
                    # every one narrower than the widest (500 cells each at 500 nodes).
                    data[column.key] = after
                    column.content_width = after.cell_len
                    widened = True
                else:
                    self.update_cell(row_key, column.key, after, update_width=True)
            if touched:
                changed.append(index)
        if widened:
            # A wider column moves every cell right of it: one full repaint for the batch, and
            # the virtual (scrollable) width recomputed on idle.
            self._update_count += 1
            self._require_update_dimensions = True
            self.refresh()
        elif changed:
            self._update_count += 1  # upstream row/line caches are keyed on it: once per batch
            self._refresh_rows(changed)
        return len(changed)

    def _refresh_rows(self, indexes: list[int]) -> None:
        """Repaint these rows where they are in view (row tops found in one pass)."""
        tops: list[int] = []
        y = self.header_height if self.show_header else 0
        for row in self.ordered_rows:
            tops.append(y)
            y += row.height
        ordered = self.ordered_rows
        width = max(
            self.size.width,
            sum(column.get_render_width(self) for column in self.columns.values())
            + self._row_label_column_width,
        )
        window = self.window_region
        for index in indexes:
            region = Region(0, tops[index], width, ordered[index].height)
            if window.overlaps(region):
                self.refresh(region.translate(-self.scroll_offset))

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Upstream measures every new cell through Rich (3,000 cells for 500 new rows: one
        # 100+ ms block). A one-line Text is as wide as its cell length: take that, and leave
        # anything else (labels, auto height, other renderables) to upstream.
        rest: list[RowKey] = []
        columns = self.ordered_columns
        for row_key in new_rows:
            row = self.rows.get(row_key)
            cells = self._data.get(row_key)
            if (
                row is None
                or cells is None
                or row.auto_height
                or row.label is not None
                or not all(_one_line(v) for v in cells.values())
            ):
                rest.append(row_key)
                continue
            for column in columns:
                value = cells.get(column.key)
                if isinstance(value, Text):
                    column.content_width = max(column.content_width, value.cell_len)
        super()._update_dimensions(rest)

    def clear(self, columns: bool = False) -> Self:
        self._content_cache.clear()
        self._shape_cache.clear()
        super().clear(columns)
        return self

    def notify_style_update(self) -> None:
        # Theme or CSS changed: component styles (cursor, header) may differ with equal keys.
        self._content_cache.clear()
        self._shape_cache.clear()
        super().notify_style_update()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row = self.rows.get(row_key)
        sig = cell_signature(self._data.get(row_key, {}).get(column_key))
        if row is None or sig is None or row.auto_height:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        shape = (
            column_index,
            sig,
            base_style,  # zebra stripe / cursor row
            width,
            row.height,
            cursor,
            hover,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.cell_padding,
            row_index < self.fixed_rows,
            self.fixed_columns,
            self.cursor_foreground_priority,
            self.cursor_background_priority,
        )
        key = (row_index, shape)
        lines = self._content_cache.get(key)
        if lines is not None:
            return lines
        # The same content in another row (a phase, a pool) renders alike but for the row
        # index every segment carries as mouse meta: restamp that instead of rendering again.
        alike = self._shape_cache.get(shape)
        if alike is not None:
            meta = Style.from_meta({"row": row_index, "column": column_index})
            lines = [
                [seg if seg.style is None else Segment(seg.text, seg.style + meta) for seg in line]
                for line in alike
            ]
        else:
            # The upstream cache does not key on the width; make sure it renders afresh.
            self._cell_render_cache.discard(
                (
                    row_key,
                    column_key,
                    base_style,
                    cursor,
                    hover,
                    self._show_hover_cursor,
                    self._update_count,
                    self._pseudo_class_state,
                )
            )
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._shape_cache.set(shape, lines)
        self._content_cache.set(key, lines)
        return lines
