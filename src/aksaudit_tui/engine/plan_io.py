"""plan.yaml: load with line-numbered one-line errors, dump round-trip (user comments survive).

Round trip: ``load`` keeps the ruamel document on the Plan's side (``_DOCS``, keyed by path) so
``dump`` to the same path updates the values in place and the comments the user wrote stay.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from aksaudit_tui.engine.journal import write_atomic
from aksaudit_tui.engine.plan import (
    DEFAULT_CONCURRENCY,
    DEFAULT_IMAGE,
    DEFAULT_LOG_PATH,
    DEFAULT_NAMESPACE,
    DELIVERIES,
    LOG_PATHS,
    PLAN_VERSION,
    WHY_TEXT,
    ClusterTarget,
    Plan,
    WorkspaceRef,
)
from aksaudit_tui.engine.rules import RulesError, render_plan_rules
from aksaudit_tui.errors import UsageError
from aksaudit_tui.syslog import FACILITIES, SEVERITIES

TOP_KEYS = (
    "version",
    "clusters",
    "workspace",
    "log_path",
    "presets",
    "custom_rules",
    "facility",
    "severity",
    "delivery",
    "namespace",
    "image",
    "concurrency",
    "repoint_agent",
)
LEGACY_KEYS = ("allow_lock",)  # read from older plans, never written
CLUSTER_KEYS = (
    "name",
    "id",
    "subscription",
    "resource_group",
    "node_resource_group",
    "location",
    "kube_context",
    "workspace",  # this cluster's own workspace (a mapping of WORKSPACE_KEYS)
)
WORKSPACE_KEYS = ("name", "id", "customer_id", "resource_group", "subscription", "location")
CUSTOM_KEYS = ("file", "inline")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Never in a plan: keys that smell of a secret.
_SECRETISH = re.compile(r"(key|token|secret|password)", re.I)

HEADER = (
    "aksaudit plan: what `aksaudit apply` will do. Edit freely; comments you add are kept.\n"
    "log_path: " + " | ".join(LOG_PATHS) + ";  delivery: keeper | one-shot\n"
    "facility: " + ", ".join(FACILITIES) + "\n"
    "severity (and everything more severe): " + ", ".join(SEVERITIES) + "\n"
    "This file holds no secret (keys and tokens are fetched at apply time)."
)

# ruamel documents of loaded plans, by resolved path, so dump keeps comments.
_DOCS: dict[str, Any] = {}


def _yaml() -> Any:
    # ruamel.yaml (~0.1 s of imports): loaded when a plan is read or written, not at startup
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # ARM ids on one line
    return y


class _Where:
    """Line numbers for error messages (1-based) from ruamel's line/column info."""

    def __init__(self, name: str) -> None:
        self.name = name

    def key(self, node: Any, key: Any) -> int:
        try:
            return int(node.lc.key(key)[0]) + 1
        except (AttributeError, KeyError, TypeError):
            return self.node(node)

    def value(self, node: Any, key: Any) -> int:
        try:
            return int(node.lc.value(key)[0]) + 1
        except (AttributeError, KeyError, TypeError):
            return self.key(node, key)

    def item(self, seq: Any, idx: int) -> int:
        try:
            return int(seq.lc.item(idx)[0]) + 1
        except (AttributeError, KeyError, TypeError, IndexError):
            return self.node(seq)

    def node(self, node: Any) -> int:
        try:
            return int(node.lc.line) + 1
        except AttributeError:
            return 1

    def fail(self, line: int, msg: str) -> UsageError:
        return UsageError(f"{self.name}:{line}: {msg}")


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _str(w: _Where, node: Any, key: str, required: bool = True) -> str | None:
    if key not in node or node[key] is None or node[key] == "":
        if required:
            raise w.fail(w.node(node), f'missing "{key}"')
        return None
    v = node[key]
    if not isinstance(v, str):
        raise w.fail(w.value(node, key), f'"{key}" must be text, got {v!r}')
    return str(v)


def _workspace(w: _Where, parent: Any, what: str) -> WorkspaceRef:
    """The "workspace" mapping under ``parent`` (the plan, or a cluster: ``what`` names it)."""
    ws = parent.get("workspace")
    if not hasattr(ws, "items"):
        raise w.fail(
            w.value(parent, "workspace"), f'{what}"workspace" must be a mapping (name, id, ...)'
        )
    for k in ws:
        if k not in WORKSPACE_KEYS:
            hint = " (keys are fetched at apply time, never stored)" if "key" in str(k) else ""
            raise w.fail(
                w.key(ws, k),
                f'{what}unknown workspace key "{k}"{hint}; use one of {_one_of(WORKSPACE_KEYS)}',
            )
    wsid = _str(w, ws, "id") or ""
    if "/workspaces/" not in wsid.lower():
        raise w.fail(w.value(ws, "id"), f"{what}workspace id must be the workspace's ARM id")
    customer = _str(w, ws, "customer_id") or ""
    if not re.fullmatch(r"[0-9a-fA-F-]{36}", customer):
        raise w.fail(w.value(ws, "customer_id"), f"{what}workspace customer_id must be a GUID")
    return WorkspaceRef(
        name=_str(w, ws, "name", required=False) or wsid.rsplit("/", 1)[-1],
        id=wsid,
        customer_id=customer,
        resource_group=_str(w, ws, "resource_group", required=False) or wsid.split("/")[4],
        subscription_id=_str(w, ws, "subscription", required=False) or wsid.split("/")[2],
        location=_str(w, ws, "location", required=False) or "",
    )


def loads(text: str, name: str = "plan.yaml", base_dir: Path | None = None) -> Plan:
    """Parse and validate plan text; raises UsageError naming line and fix."""
    plan, _doc = _parse(text, name, base_dir)
    return plan


def load(path: str | Path) -> Plan:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{p}: no such plan file") from None
    except OSError as exc:
        raise UsageError(f"{p}: cannot read plan ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{p}: plan is not UTF-8 text") from None
    plan, doc = _parse(text, str(p), p.resolve().parent)
    _DOCS[str(p.resolve())] = doc
    return replace(plan, source=str(p))


def _parse(text: str, name: str, base_dir: Path | None) -> tuple[Plan, Any]:
    # ruamel.yaml (~0.1 s of imports): loaded when a plan is read or written, not at startup
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    w = _Where(name)
    try:
        doc = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = (exc.problem or exc.context or "syntax error").strip()
        raise w.fail(line, f"not valid YAML: {problem}; fix the syntax") from None
    except YAMLError as exc:
        raise UsageError(f"{name}: not valid YAML ({exc}); fix the syntax") from None
    if doc is None:
        raise w.fail(1, "empty plan; write one with `aksaudit plan ... --out plan.yaml`")
    if not hasattr(doc, "items") or not hasattr(doc, "lc"):
        raise w.fail(1, "a plan is a mapping of keys (clusters, workspace, log_path, ...)")
    for k in doc:
        if k not in TOP_KEYS and k not in LEGACY_KEYS:
            hint = " (secrets never go in a plan)" if _SECRETISH.search(str(k)) else ""
            raise w.fail(w.key(doc, k), f'unknown key "{k}"{hint}; use one of {_one_of(TOP_KEYS)}')
    version = doc.get("version", PLAN_VERSION)
    if version != PLAN_VERSION:
        raise w.fail(w.value(doc, "version"), f"unsupported plan version {version!r}; use 1")

    # clusters
    if "clusters" not in doc or not doc["clusters"]:
        raise w.fail(w.node(doc), 'missing "clusters" (a list with at least one cluster)')
    seq = doc["clusters"]
    if not isinstance(seq, list):
        raise w.fail(w.value(doc, "clusters"), '"clusters" must be a list')
    clusters: list[ClusterTarget] = []
    seen: set[str] = set()
    for i, c in enumerate(seq):
        if isinstance(c, str):
            raise w.fail(
                w.item(seq, i),
                f'cluster "{c}" needs id, subscription and node_resource_group; '
                "write the plan with `aksaudit plan --cluster NAME`",
            )
        if not hasattr(c, "items"):
            raise w.fail(w.item(seq, i), "each cluster is a mapping (name, id, ...)")
        for k in c:
            if k not in CLUSTER_KEYS:
                raise w.fail(
                    w.key(c, k), f'unknown cluster key "{k}"; use one of {_one_of(CLUSTER_KEYS)}'
                )
        cname = _str(w, c, "name") or ""
        if cname in seen:
            raise w.fail(w.value(c, "name"), f'cluster "{cname}" is listed twice')
        seen.add(cname)
        cid = _str(w, c, "id") or ""
        if not cid.lower().startswith("/subscriptions/") or "/managedclusters/" not in cid.lower():
            raise w.fail(
                w.value(c, "id"),
                f'cluster "{cname}": id must be the managed cluster\'s ARM id '
                "(/subscriptions/.../managedClusters/NAME)",
            )
        sub = _str(w, c, "subscription", required=False) or cid.split("/")[2]
        rg = _str(w, c, "resource_group", required=False) or cid.split("/")[4]
        clusters.append(
            ClusterTarget(
                name=cname,
                id=cid,
                subscription_id=sub,
                resource_group=rg,
                node_resource_group=_str(w, c, "node_resource_group") or "",
                location=_str(w, c, "location", required=False) or "",
                kube_context=_str(w, c, "kube_context", required=False),
                workspace=_workspace(w, c, f'cluster "{cname}": ') if "workspace" in c else None,
            )
        )

    # workspace: the plan's (every cluster without its own), or one per cluster
    workspace = _workspace(w, doc, "") if doc.get("workspace") is not None else None
    if workspace is None:
        bare = [(i, c) for i, c in enumerate(clusters) if c.workspace is None]
        if bare:
            i, c = bare[0]
            raise w.fail(
                w.item(seq, i),
                f'cluster "{c.name}" has no workspace: give it "workspace" (name, id, '
                'customer_id) or add one "workspace" for every cluster',
            )

    def choice(key: str, allowed: tuple[str, ...], default: str) -> str:
        if key not in doc or doc[key] is None:
            return default
        v = doc[key]
        if not isinstance(v, str) or v.strip().lower() not in allowed:
            raise w.fail(
                w.value(doc, key),
                f'unknown {key.replace("_", " ")} "{v}"; use one of {_one_of(allowed)}',
            )
        return v.strip().lower()

    log_path = choice("log_path", LOG_PATHS, DEFAULT_LOG_PATH)
    facility = choice("facility", FACILITIES, "authpriv")
    severity = choice("severity", SEVERITIES, "info")
    delivery = choice("delivery", DELIVERIES, "keeper")

    namespace = doc.get("namespace", DEFAULT_NAMESPACE)
    if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace):
        raise w.fail(
            w.value(doc, "namespace"),
            f'namespace "{namespace}" is not a valid Kubernetes name (lower case, digits, -)',
        )
    image = doc.get("image", DEFAULT_IMAGE)
    if not isinstance(image, str) or not image or any(ch.isspace() for ch in image):
        raise w.fail(w.value(doc, "image"), "image must be a registry/name:tag or @sha256 digest")
    if "@sha256:" not in image and ":" not in image.rsplit("/", 1)[-1]:
        raise w.fail(
            w.value(doc, "image"), f'image "{image}" is not pinned; add an exact tag or @sha256:'
        )
    conc = doc.get("concurrency", DEFAULT_CONCURRENCY)
    if isinstance(conc, bool) or not isinstance(conc, int) or not 1 <= conc <= 1000:
        raise w.fail(w.value(doc, "concurrency"), "concurrency must be a whole number 1..1000")
    repoint = doc.get("repoint_agent", False)
    if not isinstance(repoint, bool):
        raise w.fail(w.value(doc, "repoint_agent"), "repoint_agent must be true or false")
    # Plans written before -e 2 / -f 2 were refused always carry "allow_lock: false": still
    # read; "true" is refused (no rules file may lock the kernel: remove could not undo it).
    if doc.get("allow_lock", False) is not False:
        raise w.fail(
            w.value(doc, "allow_lock"),
            "allow_lock is gone: -e 2 and -f 2 are always refused; delete the allow_lock line",
        )

    presets_node = doc.get("presets", [])
    if isinstance(presets_node, str):
        presets = tuple(p.strip() for p in presets_node.split(",") if p.strip())
    elif isinstance(presets_node, list) and all(isinstance(p, str) for p in presets_node):
        presets = tuple(presets_node)
    else:
        raise w.fail(w.value(doc, "presets"), "presets must be a list of preset names")

    custom_file: str | None = None
    custom_inline: str | None = None
    cr = doc.get("custom_rules")
    if cr is not None:
        if isinstance(cr, str):
            custom_file = cr
        elif hasattr(cr, "items"):
            for k in cr:
                if k not in CUSTOM_KEYS:
                    raise w.fail(
                        w.key(cr, k), f'unknown custom_rules key "{k}"; use file or inline'
                    )
            custom_file = _str(w, cr, "file", required=False)
            custom_inline = _str(w, cr, "inline", required=False)
        else:
            raise w.fail(
                w.value(doc, "custom_rules"), "custom_rules is {file: PATH} or {inline: TEXT}"
            )
    if not presets and not custom_file and not custom_inline:
        raise w.fail(w.node(doc), "no rules: list presets or give custom_rules")

    plan = Plan(
        clusters=tuple(clusters),
        workspace=workspace,
        log_path=log_path,
        presets=presets,
        custom_rules_file=custom_file,
        custom_rules=custom_inline,
        facility=facility,
        severity=severity,
        delivery=delivery,  # type: ignore[arg-type]
        namespace=namespace,
        image=image,
        concurrency=conc,
        repoint_agent=repoint,
    )
    # rules: presets known, custom rules valid (line of the offending key)
    try:
        render_plan_rules(plan, base_dir=base_dir)
    except RulesError as exc:
        if exc.standalone:
            raise UsageError(str(exc)) from None
        key = exc.key if exc.key in doc else None
        line = w.value(doc, key) if key else w.node(doc)
        raise w.fail(line, str(exc)) from None
    return plan, doc


def dumps(plan: Plan, doc: Any = None) -> str:
    """YAML text for a plan; with ``doc`` (a loaded ruamel document) comments are kept."""
    y = _yaml()
    data = plan.to_dict()
    if doc is None:
        # ruamel.yaml (~0.1 s of imports): loaded when a plan is read or written, not at startup
        from ruamel.yaml.comments import CommentedMap

        doc = CommentedMap()
        doc.yaml_set_start_comment(HEADER)
    _merge(doc, data)
    for note in plan.notes:
        doc.yaml_set_comment_before_after_key("clusters", before=f"WARNING: {note}")
    for item, c in zip(doc["clusters"], plan.clusters, strict=True):
        if c.workspace is not None and c.workspace_why:
            item.yaml_add_eol_comment(WHY_TEXT[c.workspace_why], "workspace")
    if plan.image_from:
        doc.yaml_add_eol_comment(f"resolved at plan time from {plan.image_from}", "image")
    buf = io.StringIO()
    y.dump(doc, buf)
    return buf.getvalue()


def _merge(node: Any, data: dict[str, Any]) -> None:
    """Update a ruamel mapping in place: same keys keep their comments and positions."""
    # ruamel.yaml (~0.1 s of imports): loaded when a plan is read or written, not at startup
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import LiteralScalarString

    for k in [k for k in node if k not in data]:
        del node[k]
    for k, v in data.items():
        if isinstance(v, dict):
            cur = node.get(k)
            if not isinstance(cur, CommentedMap):
                cur = CommentedMap()
                node[k] = cur
            _merge(cur, v)
        elif isinstance(v, list):
            cur = node.get(k)
            if not isinstance(cur, CommentedSeq):
                cur = CommentedSeq()
                node[k] = cur
            # lists of mappings (clusters): merge item by item, keep comments on survivors
            while len(cur) > len(v):
                cur.pop()
            for i, item in enumerate(v):
                if isinstance(item, dict):
                    if i < len(cur) and isinstance(cur[i], CommentedMap):
                        _merge(cur[i], item)
                    else:
                        m = CommentedMap()
                        _merge(m, item)
                        if i < len(cur):
                            cur[i] = m
                        else:
                            cur.append(m)
                elif i < len(cur):
                    if cur[i] != item:
                        cur[i] = item
                else:
                    cur.append(item)
        else:
            if isinstance(v, str) and "\n" in v:
                v = LiteralScalarString(v)
            if k not in node or node[k] != v:
                node[k] = v


def dump(plan: Plan, path: str | Path) -> None:
    """Write a plan atomically; if it was loaded from this path, the user's comments stay."""
    p = Path(path)
    key = str(p.resolve())
    doc = _DOCS.get(key)
    if doc is None and p.is_file():
        try:
            doc = _yaml().load(p.read_text(encoding="utf-8"))
        except Exception:
            doc = None
        if doc is not None and not hasattr(doc, "items"):
            doc = None
    text = dumps(plan, doc)
    write_atomic(p, text)
    _DOCS[key] = _yaml().load(text)
