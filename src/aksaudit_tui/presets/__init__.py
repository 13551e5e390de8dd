"""Rule presets: load, validate and render the auditd rules file (no Textual, no cloud)."""

from __future__ import annotations

from aksaudit_tui.presets.model import (
    Estimate,
    Preset,
    load_base,
    load_preset_file,
    load_presets,
    shipped_dir,
    user_dir,
)
from aksaudit_tui.presets.render import RULES_FILE, render_rules
from aksaudit_tui.presets.rules import RuleError, validate_rules
from aksaudit_tui.presets.volume import VolumeEstimate, estimate_volume, heartbeat_volume

__all__ = [
    "RULES_FILE",
    "Estimate",
    "Preset",
    "RuleError",
    "VolumeEstimate",
    "estimate_volume",
    "heartbeat_volume",
    "load_base",
    "load_preset_file",
    "load_presets",
    "render_rules",
    "shipped_dir",
    "user_dir",
    "validate_rules",
]
