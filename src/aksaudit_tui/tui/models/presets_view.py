"""What the rules screen shows about presets: list, volume estimate, render, validation.

Rendering goes through the engine (``engine.rules``) exactly as a run will; listing,
estimating and validating read the presets package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aksaudit_tui.cloud.models import Cluster
from aksaudit_tui.engine.plan import Plan, WorkspaceRef

log = logging.getLogger(__name__)

HIGH_CLASSES = ("high", "very high", "very-high")
JOURNALD_NOTE = (
    "High volume: journald drops auditd lines above 10,000 messages / 30 s per service, "
    "Azure Linux imjournal above 20,000 / 600 s; an ama-logs restart loses lines."
)


@dataclass(frozen=True)
class PresetInfo:
    name: str
    title: str
    volume: str  # low | medium | high | very high
    description: str = ""
    lines_per_day: float | None = None
    bytes_per_day: float | None = None

    def label(self) -> str:
        est = ""
        if self.lines_per_day is not None:
            est = f" ~{human(self.lines_per_day)} lines"
            if self.bytes_per_day is not None:
                est += f", {gigabytes(self.bytes_per_day)}"
            est += "/node/day"
        return f"{self.name} [{self.volume}]{est}"


@dataclass(frozen=True)
class Estimate:
    text: str
    high: bool


def human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def gigabytes(b: float) -> str:
    return f"{b / 1e9:.2f} GB" if b >= 1e7 else f"{b / 1e6:.1f} MB"


def _load() -> dict[str, Any]:
    from aksaudit_tui import presets

    try:
        return dict(presets.load_presets())
    except Exception:  # a broken user preset must not take the screen down
        log.exception("loading presets failed")
        return {}


def list_presets() -> list[PresetInfo]:
    from aksaudit_tui import presets

    loaded = _load()
    out: list[PresetInfo] = []
    for name, p in loaded.items():
        lines = size = None
        try:
            est = presets.estimate_volume([name], presets=loaded)
            lines, size = est.lines_per_node_hour * 24, est.bytes_per_node_day
        except Exception:
            log.exception("estimate for %s failed", name)
        out.append(PresetInfo(name, p.title, p.volume, p.description, lines, size))
    return out


def estimate(names: Sequence[str], custom: bool, clusters: Sequence[Cluster]) -> Estimate:
    """The chosen set's volume per node and for every chosen Linux node, with the warning."""
    from aksaudit_tui import presets

    loaded = _load()
    classes = [loaded[n].volume for n in names if n in loaded]
    high = any(c.lower() in HIGH_CLASSES for c in classes)
    nodes = sum(
        len(s.instances) for c in clusters for s in c.scale_sets if s.os.lower() != "windows"
    )
    parts = [f"Volume: {', '.join(classes) or 'none'}" + (" + custom" if custom else "")]
    known = [n for n in names if n in loaded]
    if known:
        try:
            est = presets.estimate_volume(known, presets=loaded)
        except Exception:
            log.exception("estimate failed")
        else:
            lines, size = est.lines_per_node_hour * 24, est.bytes_per_node_day
            parts.append(f"~{human(lines)} lines, {gigabytes(size)} per node per day")
            if nodes:
                parts.append(f"{gigabytes(size * nodes)} per day for {nodes} Linux node(s)")
    text = "\n".join(parts)
    if high:
        text += "\n" + JOURNALD_NOTE
    return Estimate(text, high)


def validate_custom(text: str) -> list[str]:
    """``line N: problem`` for each problem in the custom rules (any node arch)."""
    from aksaudit_tui.presets import rules as prules

    try:
        errors = prules.validate_rules(text, "custom", arch="any")
    except Exception as exc:  # the validator itself failed: say so, do not crash the screen
        log.exception("validator failed")
        return [f"line ?: cannot validate: {exc}"]
    return [f"line {e.line}: {e.message}" for e in errors]


def render(names: Sequence[str], custom: str) -> tuple[str, str | None]:
    """The rules file as nodes will get it, or ("", problem)."""
    from aksaudit_tui.engine import rules

    plan = Plan(
        clusters=(),
        workspace=WorkspaceRef(name="", id="", customer_id=""),
        presets=tuple(names),
        custom_rules=custom.strip() or None,
    )
    try:
        return rules.render_plan_rules(plan), None
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return "", msg
