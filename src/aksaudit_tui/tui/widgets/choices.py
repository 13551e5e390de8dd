"""Choice widgets whose state reads without colour, and whose long titles wrap.

Textual draws every radio button as ``●`` and every selection-list button as ``X``, pressed
or not; only the colour differs. In a monochrome terminal, a screen reader's text or a tmux
capture, a RadioSet showed all its buttons pressed (issue 12's Delivery screen). Here the glyph
says it: ``●`` pressed, ``○`` not; ``X`` selected, blank not.

Textual also cuts a long option title with ``…`` (``container-escape [high] ~5.2M l…`` at 100
columns). Both widgets here wrap instead: a title reads whole at 80x24 and wider, on a second
line when it must.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import OptionList, RadioButton, SelectionList
from textual.widgets._toggle_button import ToggleButton

PRESSED = "●"
NOT_PRESSED = "○"
SELECTED = "X"
NOT_SELECTED = " "


class Choice(RadioButton):
    """A radio button whose glyph says whether it is pressed; a long label wraps, its
    continuation lines indented under the label."""

    BUTTON_INNER = NOT_PRESSED
    BUTTON_CELLS: ClassVar[int] = 3  # left side, glyph, right side

    def on_mount(self) -> None:
        self.BUTTON_INNER = PRESSED if self.value else NOT_PRESSED

    def watch_value(self) -> None:
        self.BUTTON_INNER = PRESSED if self.value else NOT_PRESSED
        super().watch_value()

    def _wrapped(self, width: int) -> list[Content]:
        whole = super().render()
        cells = self.BUTTON_CELLS
        button, label = whole[:cells], whole[cells:]
        lines = label.wrap(max(8, width - cells)) or [Content("")]
        indent = Content(" " * (cells + 1))
        return [
            Content.assemble(button, lines[0]),
            *(Content.assemble(indent, line) for line in lines[1:]),
        ]

    def render(self) -> Content:
        return Content("\n").join(self._wrapped(self.content_region.width or 80))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._wrapped(width))


class CheckList(SelectionList[str]):
    """A selection list whose titles wrap (continuation lines indented under the title) and
    whose button is ``X`` only when selected."""

    DEFAULT_CSS = """
    CheckList { text-wrap: wrap; text-overflow: fold; }
    """
    GUTTER: ClassVar[int] = len(
        ToggleButton.BUTTON_LEFT + ToggleButton.BUTTON_INNER + ToggleButton.BUTTON_RIGHT + " "
    )

    def render_line(self, y: int) -> Strip:
        # SelectionList.render_line takes screen line y for option y: with wrapped (taller)
        # options the buttons landed on the wrong rows. OptionList's own line map (option,
        # line within it) says which option a line belongs to.
        line = OptionList.render_line(self, y)
        number = self.scroll_offset.y + y
        lines = self._lines
        if number >= len(lines):
            return line
        index, offset = lines[number]
        selection = self.get_option_at_index(index)
        underlying = next(iter(line)).style or self.rich_style
        if offset > 0:
            return Strip([Segment(" " * self.GUTTER, style=underlying), *line])
        selected = selection.value in self.selected
        component = "selection-list--button"
        if selected:
            component += "-selected"
        if self.highlighted == index:
            component += "-highlighted"
        button = self.get_component_rich_style(component) + Style(meta={"option": index})
        side = Style.from_color(button.bgcolor, underlying.bgcolor) + Style(meta={"option": index})
        return Strip(
            [
                Segment(ToggleButton.BUTTON_LEFT, style=side),
                Segment(SELECTED if selected else NOT_SELECTED, style=button),
                Segment(ToggleButton.BUTTON_RIGHT, style=side),
                Segment(" ", style=underlying),
                *line,
            ]
        )
