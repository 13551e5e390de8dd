"""Facility and severity: the exact syslog plugin file, and whether the log path collects it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Select, Static

from aksaudit_tui.syslog import FACILITIES, SEVERITIES
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.screens.base import WizardScreen
from aksaudit_tui.tui.screens.logpath import path_changes


def plugin_file(facility: str, severity: str, audit3: bool = True) -> tuple[str, str]:
    """(path, content) of the audisp syslog plugin file the node script writes."""
    head = (
        f"# Written by aksaudit: audit events go to syslog as {facility}.{severity}.\n"
        '# The file it replaced is kept under /var/lib/aksaudit/backup until "remove".\n'
        "active = yes\ndirection = out\n"
    )
    args = f"args = LOG_{severity.upper()} LOG_{facility.upper()}\nformat = string\n"
    if audit3:
        return (
            "/etc/audit/plugins.d/syslog.conf",
            head + "path = /sbin/audisp-syslog\ntype = always\n" + args,
        )
    return (
        "/etc/audisp/plugins.d/syslog.conf",
        head + "path = builtin_syslog\ntype = builtin\n" + args,
    )


class FacilityScreen(WizardScreen):
    """Syslog facility and minimum severity, with the plugin file they produce."""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="facility-main"):
            with Vertical(id="facility-form"):
                yield Label("Syslog facility")
                yield Select[str](
                    [(f, f) for f in FACILITIES], id="facility", allow_blank=False, compact=True
                )
                yield Label("Minimum severity")
                yield Select[str](
                    [(s, s) for s in SEVERITIES], id="severity", allow_blank=False, compact=True
                )
                yield Static("", id="facility-collects", markup=False)
            with VerticalScroll(id="facility-side"):
                yield Static("", id="plugin-file", markup=False)

    def on_mount(self) -> None:
        self.data_changed("all", None)
        self.query_one("#facility", Select).focus()

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic not in ("all", "resume"):
            return
        st = self.aks.state
        self.query_one("#facility", Select).value = st.facility
        self.query_one("#severity", Select).value = st.severity
        self._paint()

    def _paint(self) -> None:
        st = self.aks.state
        text = Text()
        for audit3 in (True, False):
            path, content = plugin_file(st.facility, st.severity, audit3)
            label = "audit 3.x (every current AKS image)" if audit3 else "audit 2.x (old nodes)"
            text.append(f"{path}  — {label}\n", style="bold")
            text.append(content + "\n")
        self.query_one("#plugin-file", Static).update(text)
        lines = path_changes(st.log_path, st.chosen_clusters, st.facility, st.severity)
        collects = Text(f"\nLog path ({st.log_path}) for {st.facility}.{st.severity}:\n")
        for line in lines:
            collects.append(f"• {line}\n", style="yellow" if "will change" in line else "green")
        if st.facility != "authpriv":
            collects.append(
                "\nNote: lines from audisp-syslog with a non-default facility carry "
                "ProcessName audispd; the arrival check matches both.",
                style="dim",
            )
        self.query_one("#facility-collects", Static).update(collects)

    def on_select_changed(self, event: Select.Changed) -> None:
        st = self.aks.state
        if not isinstance(event.value, str):
            return
        if event.select.id == "facility":
            st.facility = event.value
        elif event.select.id == "severity":
            st.severity = event.value
        self._paint()
