"""Preset files: the YAML schema, where presets are found, and loading with validation.

Presets come from, in order (a later file with the same ``name`` replaces an earlier one, so a
user can tune a shipped preset by copying it):

1. the shipped ``rule_presets/*.yaml`` (inside the wheel as ``aksaudit_tui/rule_presets``; in an
   editable checkout, the repo root's ``rule_presets/``);
2. ``platformdirs.user_config_dir("aksaudit")/presets/*.yaml`` (``$XDG_CONFIG_HOME/aksaudit/
   presets`` on Linux);
3. ``extra_dirs`` given by the caller.

Every rule is validated when loaded (grammar, policy, syscall names on x86_64 or aarch64 at audit
3.0 and 3.1); a bad rule is a :class:`UsageError` naming the YAML file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_config_dir

from aksaudit_tui.errors import UsageError
from aksaudit_tui.presets.rules import RuleError, parse_rules, validate_parsed

VOLUMES = ("low", "medium", "high", "very high")
SCOPES = ("containers-and-sessions", "sessions-only")
# Audit versions every rendered file must load on
# (Ubuntu 22.04: 3.0.7; Ubuntu 24.04 and Azure Linux 3: 3.1.2).
TARGET_VERSIONS = ("3.0", "3.1")
ESTIMATE_TERMS = (
    "execs",
    "session_execs",
    "connects",
    "accepts",
    "container_starts",
    "per_hour",
)
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
_TAG_RE = re.compile(r"^T\d{4}(\.\d{3})?$")
BASE_NAME = "base"


@dataclass(frozen=True)
class Estimate:
    """How a preset's event rate scales (see :mod:`aksaudit_tui.presets.volume`)."""

    execs: float = 0.0  # events per program start on the node
    session_execs: float = 0.0  # events per program start in a login session
    connects: float = 0.0  # events per outbound connect
    accepts: float = 0.0  # events per accepted connection
    container_starts: float = 0.0  # events per container start
    per_hour: float = 0.0  # background events per hour
    exec_lines: bool = False  # exec-driven events are program starts (execve records)


@dataclass(frozen=True)
class Preset:
    """One rule preset as loaded from its YAML file."""

    name: str
    title: str
    description: str
    volume: str
    volume_reason: str
    scope: str
    tags: tuple[str, ...]
    rules: tuple[str, ...]
    source: Path
    rule_lines: tuple[int, ...] = ()  # YAML line of each rule, for error messages
    estimate: Estimate = field(default_factory=Estimate)
    kind: str = "preset"  # "preset" | "base"

    @property
    def keys(self) -> tuple[str, ...]:
        """Audit keys the rules use, in first-use order."""
        rules, _ = parse_rules("\n".join(self.rules), str(self.source))
        seen: dict[str, None] = {}
        for rule in rules:
            for key in rule.keys:
                seen.setdefault(key, None)
        return tuple(seen)

    @property
    def rules_text(self) -> str:
        return "".join(f"{line}\n" for line in self.rules)


def shipped_dir() -> Path:
    """The shipped presets: package data in a wheel, the repo's ``rule_presets`` in a checkout."""
    packaged = Path(str(resources.files("aksaudit_tui"))) / "rule_presets"
    if packaged.is_dir():
        return packaged
    # src/aksaudit_tui/presets/model.py -> repo root
    checkout = Path(__file__).resolve().parents[3] / "rule_presets"
    if checkout.is_dir():
        return checkout
    raise UsageError(f"shipped rule presets not found (looked in {packaged} and {checkout})")


def user_dir() -> Path:
    """Where users put their own presets."""
    return Path(user_config_dir("aksaudit")) / "presets"


def _search_dirs(extra_dirs: Sequence[Path]) -> list[Path]:
    return [shipped_dir(), user_dir(), *(Path(d) for d in extra_dirs)]


def _load_all(extra_dirs: Sequence[Path]) -> dict[str, Preset]:
    found: dict[str, Preset] = {}
    for directory in _search_dirs(extra_dirs):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")):
            preset = load_preset_file(path)
            found[preset.name] = preset
    return found


def load_presets(extra_dirs: Sequence[Path] = ()) -> dict[str, Preset]:
    """Every selectable preset by name (sorted), shipped first, then user and extra dirs.

    The ``base`` fragment is not selectable and not included (render adds it)."""
    found = _load_all(extra_dirs)
    return {name: found[name] for name in sorted(found) if found[name].kind != "base"}


def load_base(extra_dirs: Sequence[Path] = ()) -> Preset:
    """The base fragment (shipped, or a user's ``base.yaml`` override)."""
    base = _load_all(extra_dirs).get(BASE_NAME)
    if base is None:
        raise UsageError("the base rule fragment (base.yaml) is missing from the shipped presets")
    return base


def _rule_lines(path: Path, text: str) -> list[int]:
    """1-based YAML line of each item of the top-level ``rules`` list."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "rules" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _require_str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: missing '{key}'; add {key}: <text>")
    return value.strip()


_CACHE: dict[Path, tuple[tuple[int, int], Preset]] = {}


def load_preset_file(path: Path) -> Preset:
    """Load and validate one preset YAML file; UsageError naming file:line on any problem.

    Results are cached per file until its size or mtime changes (the wizard reloads often)."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    preset = _load_preset_file(path)
    _CACHE[path] = (stamp, preset)
    return preset


def _load_preset_file(path: Path) -> Preset:
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise UsageError(f"{path}:{line}: not valid YAML; fix the syntax") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}:1: a preset is a YAML mapping with name, title, rules, ...")
    where = f"{path}:1"
    name = _require_str(data, "name", where)
    if not _NAME_RE.match(name):
        raise UsageError(f"{where}: bad name '{name}'; use lower-case letters, digits and '-'")
    kind = "base" if data.get("kind") == "base" or name == BASE_NAME else "preset"
    title = _require_str(data, "title", where)
    description = _require_str(data, "description", where)
    if kind == "base":
        volume, volume_reason, scope = "low", "settings only", "containers-and-sessions"
    else:
        volume = _require_str(data, "volume", where)
        if volume not in VOLUMES:
            raise UsageError(f"{where}: bad volume '{volume}'; use one of {', '.join(VOLUMES)}")
        volume_reason = _require_str(data, "volume_reason", where)
        scope = _require_str(data, "scope", where)
        if scope not in SCOPES:
            raise UsageError(f"{where}: bad scope '{scope}'; use one of {', '.join(SCOPES)}")
    tags_raw = data.get("tags", [])
    if not isinstance(tags_raw, list) or not all(isinstance(t, str) for t in tags_raw):
        raise UsageError(f"{where}: 'tags' must be a list of ATT&CK ids such as T1098")
    for tag in tags_raw:
        if not _TAG_RE.match(tag):
            raise UsageError(
                f"{where}: bad tag '{tag}'; use ATT&CK technique ids (T1098, T1547.006)"
            )
    rules_raw = data.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise UsageError(f"{where}: 'rules' must be a non-empty list of auditctl lines")
    lines = _rule_lines(path, text)
    if len(lines) != len(rules_raw):
        lines = [1] * len(rules_raw)
    for item, line in zip(rules_raw, lines, strict=True):
        if not isinstance(item, str) or not item.strip() or item.strip().startswith("#"):
            raise UsageError(f"{path}:{line}: each rule must be one auditctl line (text)")
    rules = tuple(" ".join(str(r).split()) for r in rules_raw)
    estimate = _parse_estimate(data.get("estimate", {}), where)
    preset = Preset(
        name=name,
        title=title,
        description=" ".join(description.split()),
        volume=volume,
        volume_reason=" ".join(volume_reason.split()),
        scope=scope,
        tags=tuple(tags_raw),
        rules=rules,
        source=path,
        rule_lines=tuple(lines),
        estimate=estimate,
        kind=kind,
    )
    problems = preset_problems(preset)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"{problems[0]}{more}")
    return preset


def _parse_estimate(raw: object, where: str) -> Estimate:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: 'estimate' must be a mapping such as {{execs: 1}}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "exec_lines":
            values[key] = bool(value)
        elif key in ESTIMATE_TERMS and isinstance(value, int | float) and value >= 0:
            values[key] = float(value)
        else:
            terms = ", ".join((*ESTIMATE_TERMS, "exec_lines"))
            raise UsageError(f"{where}: bad estimate entry '{key}: {value}'; use {terms}")
    return Estimate(**values)


def preset_problems(preset: Preset) -> list[RuleError]:
    """Rule problems of a preset, with YAML file lines: grammar, policy, and syscall names known
    on x86_64 or aarch64 at every target audit version; every always-rule must carry a key."""
    source = str(preset.source)
    rules, errors = parse_rules(preset.rules_text, source)
    for version in TARGET_VERSIONS:
        errors += validate_parsed(rules, arch="any", audit_version=version)
    for rule in rules:
        needs_key = rule.action == "always" or rule.kind == "watch"
        if needs_key and not rule.keys:
            errors.append(RuleError(source, rule.line, "rule has no key; add -k aksaudit-<topic>"))
    unique: dict[tuple[int, str], RuleError] = {}
    for err in sorted(errors, key=lambda e: e.line):
        yaml_line = preset.rule_lines[err.line - 1] if preset.rule_lines else err.line
        unique.setdefault((yaml_line, err.message), RuleError(source, yaml_line, err.message))
    return list(unique.values())
