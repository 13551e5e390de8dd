"""Log path: how audit lines get from the node's syslog into the workspace."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import RadioButton, RadioSet, Static

from aksaudit_tui.cloud.models import Cluster
from aksaudit_tui.engine.plan import LEGACY_WARNING, LOG_PATHS, LogPath
from aksaudit_tui.syslog import severities_from
from aksaudit_tui.tui.models.runmodel import Changes
from aksaudit_tui.tui.models.state import LOG_PATH_TITLES
from aksaudit_tui.tui.screens.base import WizardScreen

EXPLAIN: dict[str, str] = {
    "container-insights": (
        "The cluster's monitoring add-on (ama-logs) forwards node syslog; its data collection "
        "rule (MSCI-<region>-<cluster>) picks facilities and levels. Supported by AKS and kept "
        "across node image upgrades. The default."
    ),
    "legacy-oms": (
        "What the original MSRC guide does: the OmsAgentForLinux extension on every node-pool "
        "scale set, an instance upgrade, and a LinuxSyslog data source on the workspace. "
        "Warning: " + LEGACY_WARNING + "."
    ),
    "ama": (
        "Azure Monitor Agent extension on every node-pool scale set, a data collection rule "
        "with a syslog source and one association per scale set. Current agent, but changing "
        "AKS scale sets is unsupported and AKS upgrades may remove the extension."
    ),
}


def path_changes(path: str, clusters: list[Cluster], facility: str, severity: str) -> list[str]:
    """What choosing ``path`` would change on these clusters, judged from discovery."""
    want_levels = {s.lower() for s in severities_from(severity)}
    out: list[str] = []
    for c in clusters:
        linux = [s for s in c.scale_sets if s.os.lower() != "windows"]
        if path == "container-insights":
            m = c.monitoring
            if not m.addon_enabled:
                out.append(f"{c.name}: enable the monitoring add-on with syslog (will change)")
                continue
            if not m.syslog_enabled:
                out.append(f"{c.name}: turn on syslog collection (will change)")
                continue
            ok = any(
                (facility in s.facilities or "*" in s.facilities)
                and ("*" in s.levels or want_levels <= _levels(s.levels))
                for s in m.syslog
            )
            out.append(
                f"{c.name}: syslog collects {facility}.{severity} (already done)"
                if ok
                else f"{c.name}: add {facility} at {severity}+ to the MSCI rule (will change)"
            )
        elif path == "legacy-oms":
            have = sum(1 for s in linux if any(e.type == "OmsAgentForLinux" for e in s.extensions))
            stale = sum(1 for s in linux for i in s.instances if not i.latest_model_applied)
            line = f"{c.name}: OmsAgentForLinux on {len(linux) - have}/{len(linux)} scale set(s)"
            line += " (will change)" if have < len(linux) else " (already done)"
            if stale:
                line += f", upgrade {stale} instance(s)"
            if (c.lockdown or "").lower() == "readonly":
                line += " — BLOCKED: node resource group lockdown"
            out.append(line)
        else:
            have = sum(
                1 for s in linux if any(e.type == "AzureMonitorLinuxAgent" for e in s.extensions)
            )
            out.append(
                f"{c.name}: AzureMonitorLinuxAgent on {len(linux) - have}/{len(linux)} scale "
                f"set(s), a syslog data collection rule, {len(linux)} association(s)"
            )
    if path == "legacy-oms":
        out.append(f"workspace: LinuxSyslog data source for {facility} (will change if absent)")
    return out


def _levels(levels: tuple[str, ...]) -> set[str]:
    names = {
        "debug": "debug",
        "info": "info",
        "notice": "notice",
        "warning": "warning",
        "error": "err",
        "critical": "crit",
        "alert": "alert",
        "emergency": "emerg",
    }
    return {names.get(x.lower(), x.lower()) for x in levels}


class LogPathScreen(WizardScreen):
    """Choose the log path, with what it would change on the picked clusters."""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="logpath-main"):
            with RadioSet(id="logpath"):
                for p in LOG_PATHS:
                    yield RadioButton(LOG_PATH_TITLES[p], id=f"path-{p}")
            with VerticalScroll(id="logpath-side"):
                yield Static("", id="logpath-explain", markup=False)
                yield Static("", id="logpath-changes", markup=False)

    def on_mount(self) -> None:
        self.data_changed("all", None)
        self.query_one(RadioSet).focus()

    def data_changed(self, topic: str, changes: Changes | None) -> None:
        if topic not in ("all", "resume"):
            return
        st = self.aks.state
        button = self.query_one(f"#path-{st.log_path}", RadioButton)
        if not button.value:
            button.value = True
        self._explain(st.log_path)

    def _explain(self, path: str) -> None:
        st = self.aks.state
        self.query_one("#logpath-explain", Static).update(EXPLAIN[path])
        text = Text("\nWhat it will change:\n", style="bold")
        for line in path_changes(path, st.chosen_clusters, st.facility, st.severity):
            style = "yellow" if "will change" in line else ("red" if "BLOCKED" in line else "")
            text.append(f"• {line}\n", style=style)
        self.query_one("#logpath-changes", Static).update(text)

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        bid = event.pressed.id or ""
        path = bid.removeprefix("path-")
        if path in LOG_PATHS:
            self.aks.state.log_path = path  # type: ignore[assignment]
            self._explain(path)
            if path == "legacy-oms":
                self.say("Legacy agent: retired 31 Aug 2024; offered as the guide did it.", True)
            else:
                self.say("")

    def selected_path(self) -> LogPath:
        return self.aks.state.log_path
