"""From a plan to the rules text and the node script (through the presets and nodes adapters).

``prepare(plan)`` is what every operation calls first: both texts, or a UsageError (exit 2)
saying what to fix, before anything is probed or changed.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.errors import UsageError, UserError
from aksaudit_tui.nodes.script import normalize_rules_text, render_node_script


class RulesError(Exception):
    """A rules problem, with the plan key it belongs to (for the line number)."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key
        self.standalone = False  # the message already names the file and line to fix


def _custom_text(plan: Plan, base_dir: Path | None) -> tuple[str | None, str | None]:
    if plan.custom_rules_file:
        p = Path(plan.custom_rules_file).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        try:
            return p.read_text(encoding="utf-8"), str(plan.custom_rules_file)
        except OSError as exc:
            raise RulesError(
                f'custom rules file "{plan.custom_rules_file}": {exc.strerror or exc}; '
                "fix the path",
                "custom_rules",
            ) from None
    if plan.custom_rules:
        return plan.custom_rules, "custom_rules"
    return None, None


def _presets_api() -> tuple[Any, Any]:
    """(load_presets, render_rules) from the presets package (wherever it keeps them)."""
    pkg = importlib.import_module("aksaudit_tui.presets")
    load = getattr(pkg, "load_presets", None)
    render = getattr(pkg, "render_rules", None)
    if load is None:
        load = importlib.import_module("aksaudit_tui.presets.model").load_presets
    if render is None:
        render = importlib.import_module("aksaudit_tui.presets.render").render_rules
    return load, render


def known_presets() -> list[str]:
    """Names of the selectable presets (the base fragment is always rendered, not chosen)."""
    load, _render = _presets_api()
    found = load()
    items = found.values() if isinstance(found, dict) else found
    # the base fragment is rendered once by itself; it is not a choice
    return sorted(p.name for p in items if getattr(p, "kind", "") != "base")


def render_plan_rules(plan: Plan, base_dir: Path | None = None) -> str:
    """The rules file exactly as it will be written on the nodes; RulesError when invalid."""
    _load, render = _presets_api()
    known = known_presets()
    for name in plan.presets:
        if name not in known:
            raise RulesError(f'unknown preset "{name}"; use one of {", ".join(known)}', "presets")
    text, source = _custom_text(plan, base_dir)
    try:
        rendered: str = render(list(plan.presets), text, source)
    except (UserError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        custom = text is not None and bool(source) and str(source) in msg
        err = RulesError(msg, "custom_rules" if custom else "presets")
        # an error inside a custom rules file names that file and line: that is where to fix it
        err.standalone = custom and bool(plan.custom_rules_file)
        raise err from None
    return rendered


def rules_sha256(rules_text: str) -> str:
    """The hash the node script reports for these rules (normalized as on the node)."""
    return hashlib.sha256(normalize_rules_text(rules_text).encode()).hexdigest()


def node_script(plan: Plan, rules_text: str, mode: str = "apply") -> str:
    """The node script for the plan's facility and severity, in ``mode`` (apply, remove)."""
    return render_node_script(rules_text, plan.facility, plan.severity, mode)


def prepare(plan: Plan) -> tuple[str, str]:
    """(rules text, node script) for a plan; UsageError (exit 2) when they do not render."""
    base = Path(plan.source).resolve().parent if plan.source else None
    try:
        rules = render_plan_rules(plan, base_dir=base)
        script = node_script(plan, rules)
    except RulesError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    return rules, script
