"""Render the node's rules file (``/etc/audit/rules.d/50-aksaudit.rules``) from presets.

One file serves every node of a cluster, amd64 and arm64 pools alike (the keeper DaemonSet ships
one ConfigMap). So each ``-F arch=b64``/``b32`` syscall rule is split:

- the syscalls both architectures know (at every target audit version) stay in the b64/b32 rule;
- a syscall only one architecture knows moves to a copy of the rule with an explicit machine,
  ``-F arch=x86_64`` / ``i386`` / ``aarch64`` / ``armv7l``. ``auditctl`` resolves names with the
  rule's own arch, so the other architecture loads that rule (checked on this machine's kernel by
  ``tests/test_kernel_presets.py``) and the kernel never matches it there.

So ``chmod`` (x86_64 only) stays audited on amd64 nodes and does not break arm64 nodes. The result
is validated strictly for x86_64 and aarch64 at audit 3.0 and 3.1 before it is returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aksaudit_tui.errors import UsageError
from aksaudit_tui.presets import syscalls
from aksaudit_tui.presets.model import TARGET_VERSIONS, Preset, load_base, load_presets
from aksaudit_tui.presets.rules import (
    Rule,
    RuleError,
    parse_rules,
    validate_parsed,
    validate_rules,
)

RULES_FILE = "/etc/audit/rules.d/50-aksaudit.rules"
_EXPLICIT = {"x86_64": "x86_64", "i386": "i386", "aarch64": "aarch64", "arm": "armv7l"}


def _one_line(errors: list[RuleError]) -> str:
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{errors[0]}{more}"


def _rebuild(rule: Rule, arch: str, names: list[str]) -> str:
    """The rule's text with another arch and syscall list, other options in their order."""
    parts: list[str] = []
    wrote_s = False
    for name, value in rule.options:
        if name == "-F" and value is not None and value.startswith("arch="):
            parts += ["-F", f"arch={arch}"]
        elif name == "-S":
            if not wrote_s:
                parts += ["-S", ",".join(names)]
                wrote_s = True
        else:
            parts += [name] if value is None else [name, value]
    return " ".join(parts)


def expand_rule(rule: Rule) -> list[str]:
    """Rendered line(s) for one parsed rule: split by architecture where names differ."""
    plain = " ".join(rule.text.split())
    arch_options = [v for n, v in rule.options if n == "-F" and v and v.startswith("arch")]
    if (
        rule.kind != "syscall"
        or rule.arch not in ("b64", "b32")
        or arch_options != [f"arch={rule.arch}"]
    ):
        return [plain]
    index = 0 if rule.arch == "b64" else 1
    machines = [syscalls.BITS[node][index] for node in syscalls.NODE_ARCHES]
    common: list[str] = []
    only: dict[str, list[str]] = {m: [] for m in machines}
    for name in rule.syscalls:
        if name == "all" or name.isdigit():
            common.append(name)
            continue
        on = [
            m for m in machines if all(syscalls.known(name, m, v) for v in TARGET_VERSIONS)
        ]  # fmt: skip
        if len(on) == len(machines):
            common.append(name)
        elif on:
            only[on[0]].append(name)
        else:
            raise UsageError(
                f"{rule.source}:{rule.line}: syscall '{name}' is not known on x86_64 or aarch64 "
                f"at every audit version ({', '.join(TARGET_VERSIONS)}); drop it"
            )
    if not any(only.values()):
        return [plain]
    out = [_rebuild(rule, rule.arch, common)] if common else []
    out += [_rebuild(rule, _EXPLICIT[m], names) for m, names in only.items() if names]
    return out


def render_rules(
    names: Sequence[str],
    custom_text: str | None = None,
    custom_source: str = "custom.rules",
    *,
    presets: Mapping[str, Preset] | None = None,
) -> str:
    """The exact text of ``50-aksaudit.rules`` for the chosen presets plus custom rules.

    Deterministic: a header naming the presets, the base fragment once, each preset's rules in
    the order given (a line already written is not repeated), the custom rules last. Raises
    UsageError naming ``file:line`` for an unknown preset or a bad rule."""
    if presets is None:
        presets = load_presets()
    chosen = list(dict.fromkeys(names))
    unknown = [n for n in chosen if n not in presets or presets[n].kind == "base"]
    if unknown:
        known = ", ".join(sorted(n for n, p in presets.items() if p.kind != "base"))
        raise UsageError(f"unknown preset '{unknown[0]}'; known presets: {known}")
    has_custom = custom_text is not None and any(
        line.strip() and not line.strip().startswith("#") for line in custom_text.splitlines()
    )
    if not chosen and not has_custom:
        raise UsageError("nothing to render; name at least one preset or give custom rules")
    base = presets.get("base") or load_base()

    blocks: list[tuple[str, list[Rule]]] = []
    for preset in [base, *(presets[n] for n in chosen)]:
        rules, errors = parse_rules(preset.rules_text, str(preset.source))
        if errors:  # presets are validated on load; a hand-built Preset may not be
            raise UsageError(_one_line(errors))
        blocks.append((f"## {preset.name}: {preset.title} [{preset.scope}]", rules))
    if custom_text is not None:
        # Parsed even when only comments: a line auditctl does not take for a comment
        # ("\t# -e 2") is refused here too.
        rules, errors = parse_rules(custom_text, custom_source)
        for version in TARGET_VERSIONS:
            errors += validate_parsed(rules, arch="any", audit_version=version)
        if errors:
            raise UsageError(_one_line(sorted(set(errors), key=lambda e: e.line)))
        if has_custom:
            blocks.append((f"## custom rules from {custom_source}", rules))

    header = [
        f"## {RULES_FILE.rsplit('/', 1)[-1]}: written by aksaudit; do not edit on the node.",
        f"## Presets: {', '.join(chosen) if chosen else '(none)'}",
    ]
    if has_custom:
        header.append(f"## Custom rules: {custom_source}")
    header += [
        "## Loads on x86_64 and aarch64 nodes with audit 3.0 or later: a syscall that exists",
        "## on one architecture only is in a rule with an explicit -F arch=x86_64, i386,",
        "## aarch64 or armv7l, which the other architecture loads and never matches.",
    ]
    out = list(header)
    origins: dict[int, Rule] = {}
    seen: set[str] = set()
    for title, rules in blocks:
        out += ["", title]
        for rule in rules:
            for line in expand_rule(rule):
                if line in seen:
                    continue
                seen.add(line)
                out.append(line)
                origins[len(out)] = rule
    text = "\n".join(out) + "\n"

    # Belt and braces: the file must load as written on every target node.
    for arch in syscalls.NODE_ARCHES:
        for version in TARGET_VERSIONS:
            problems = validate_rules(text, RULES_FILE, arch=arch, audit_version=version)
            if problems:
                first = problems[0]
                origin = origins.get(first.line)
                where = f"{origin.source}:{origin.line}" if origin else f"{RULES_FILE}:{first.line}"
                raise UsageError(f"{where}: {first.message} (rendered for {arch}, audit {version})")
    return text
