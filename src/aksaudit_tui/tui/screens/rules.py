"""Rule presets: pick presets (volume class, estimated lines/GB per node per day), preview the
rendered rules file, write custom rules with live line-numbered validation."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import SelectionList, Static, TabbedContent, TabPane, TextArea
from textual.widgets.selection_list import Selection

from aksaudit_tui.tui.models import presets_view
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.widgets.choices import CheckList

CUSTOM_HINT = "# Custom rules, one auditctl rule per line, e.g.\n# -w /etc/hosts -p wa -k hosts\n"
VALIDATE_DELAY_S = 0.25


class RulesScreen(WizardScreen):
    """Pick rule presets, preview the rules file, write custom rules."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f4", "custom", "Custom rules", id="rules.custom"),
        Binding("f5", "preview", "Preview", id="rules.preview"),
    ]

    custom_errors: list[str]
    _timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        self.custom_errors = []
        with Horizontal(id="rules-main"):
            with Vertical(id="rules-left"):
                yield CheckList(id="presets")
                yield Static("", id="volume", markup=False)
            with TabbedContent(id="rules-right", initial="tab-preview"):
                with TabPane("Preview", id="tab-preview"), VerticalScroll(id="rules-preview"):
                    yield Static("", id="preview", markup=False)
                with TabPane("Custom rules", id="tab-custom"):
                    yield TextArea("", id="custom-rules", show_line_numbers=True, soft_wrap=False)
                    yield Static("", id="custom-errors", markup=False)

    def on_mount(self) -> None:
        sel = self.query_one("#presets", SelectionList)
        st = self.aks.state
        self._infos = presets_view.list_presets()
        for info in self._infos:
            sel.add_option(
                Selection(Text(info.label()), info.name, info.name in st.presets, id=info.name)
            )
        if not self._infos:
            self.say("No rule presets found (is the package installed completely?)", True)
        self.query_one("#custom-rules", TextArea).text = st.custom_rules
        self._validate()
        self._refresh()
        sel.focus()

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic == "resume":
            self._refresh()

    # --- live updates ----------------------------------------------------------------------------

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        self.aks.state.presets = [str(v) for v in event.selection_list.selected]
        self._refresh()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id != "custom-rules":
            return
        self.aks.state.custom_rules = event.text_area.text
        # Debounced: validating on every key would make typing sluggish on long files.
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(VALIDATE_DELAY_S, self._after_edit)

    def _after_edit(self) -> None:
        self._validate()
        self._refresh()

    def _validate(self) -> None:
        text = self.aks.state.custom_rules
        box = self.query_one("#custom-errors", Static)
        if not text.strip():
            self.custom_errors = []
            box.update("No custom rules." if not text else "")
            box.remove_class("-ok")
            return
        self.custom_errors = presets_view.validate_custom(text)
        if self.custom_errors:
            box.update("\n".join(self.custom_errors))
            box.remove_class("-ok")
        else:
            box.update("✔ custom rules are valid")
            box.add_class("-ok")

    def _refresh(self) -> None:
        st = self.aks.state
        est = presets_view.estimate(st.presets, bool(st.custom_rules.strip()), st.chosen_clusters)
        vol = self.query_one("#volume", Static)
        vol.update(est.text)
        vol.set_class(est.high, "-high")
        preview = self.query_one("#preview", Static)
        rendered, problem = presets_view.render(st.presets, st.custom_rules)
        preview.update(rendered if problem is None else f"Cannot render: {problem}")
        if self.custom_errors:
            self.say(f"{len(self.custom_errors)} problem(s) in the custom rules (F4)", True)
        elif problem:
            self.say(problem, True)
        else:
            self.say("space: pick a preset · F4: custom rules · F5: preview")

    # --- actions ---------------------------------------------------------------------------------

    def action_custom(self) -> None:
        self.query_one(TabbedContent).active = "tab-custom"
        self.query_one("#custom-rules", TextArea).focus()

    def action_preview(self) -> None:
        self.query_one(TabbedContent).active = "tab-preview"

    def before_next(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
            self._validate()

    def check_next(self) -> str | None:
        st = self.aks.state
        if self.custom_errors:
            return f"Fix the custom rules first: {self.custom_errors[0]}"
        if not st.presets and not st.custom_rules.strip():
            return "Pick at least one preset (space) or write custom rules (F4)."
        _text, problem = presets_view.render(st.presets, st.custom_rules)
        return problem
