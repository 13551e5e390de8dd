"""A small KQL (Kusto Query Language) interpreter: the subset the project's own queries use.

Supported::

    Syslog                                   the only table (also: `Heartbeat` is unknown -> 400)
    | where <expr>                           expressions below
    | summarize <agg>[, <agg>...] [by <col>[, <col>...]]
          aggregates: count(), countif(expr), max(col), min(col), dcount(col), make_set(col[, n]),
          any(col), each optionally named: `n = count()`; default names count_, max_X, min_X,
          dcount_X, set_X, any_X, countif_
    | project <col | name = expr>[, ...]
    | extend <name = expr>[, ...]
    | order by|sort by <col> [asc|desc][, ...]   (default desc, as Kusto)
    | take N | limit N
    | count
    | distinct <col>[, ...]

Expressions: literals ('str', "str", @"verbatim", numbers, true/false, timespans 15m 1h 2d 30s
100ms, datetime(2026-01-01T00:00:00Z)), columns, `==` `!=` `=~` `!~` `<` `<=` `>` `>=`,
`in (..)` `!in (..)` `in~ (..)`, `has` `!has` `contains` `!contains` `startswith` `!startswith`
`endswith` `has_any (..)`, `and` `or` `not(expr)`, parentheses, `+`/`-` on datetimes and timespans,
functions ago(ts), now(), datetime(x), extract("re", group, col), tolower(x), toupper(x),
isempty(x), isnotempty(x), strlen(x), tostring(x), bin(x, size) (alias floor).

Dynamic values (Resource Graph's ``properties``, ``tags``): member access ``a.b.c`` and
``a['key']`` / ``a[0]``, ``tobool(x)``, ``toint(x)``, ``split(s, delim)``, ``bag_pack(k, v, ...)``
(alias pack), and the ``make_list(expr)`` aggregate. ``run_rows`` runs a query over tables of
any schema (``schemas``; table names case-insensitive, as Resource Graph's) and hands back raw
values; ``run`` is the Log Analytics form (``Syslog`` only, cells serialised as the API does).

Anything else raises ``KqlError`` which the query API turns into the service's 400 body
(``BadArgumentError`` with a ``SyntaxError``/``SemanticError`` inner error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Row = dict[str, Any]

SYSLOG_COLUMNS: list[tuple[str, str]] = [
    ("TenantId", "string"),
    ("SourceSystem", "string"),
    ("TimeGenerated", "datetime"),
    ("Computer", "string"),
    ("EventTime", "datetime"),
    ("Facility", "string"),
    ("HostName", "string"),
    ("SeverityLevel", "string"),
    ("SyslogMessage", "string"),
    ("ProcessID", "int"),
    ("HostIP", "string"),
    ("ProcessName", "string"),
    ("CollectorHostName", "string"),
    ("Type", "string"),
    ("_ResourceId", "string"),
]
TABLES = {"Syslog": SYSLOG_COLUMNS}


class KqlError(Exception):
    """A query the subset cannot run: ``kind`` is SyntaxError or SemanticError."""

    def __init__(
        self, message: str, kind: str = "SyntaxError", token: str = "", pos: int = 0
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.token = token
        self.pos = pos


# ---- tokens ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<vstr>@"(?:[^"]|"")*"|@'(?:[^']|'')*')
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<dt>datetime\s*\(\s*\d[^()'"]*\))
  | (?P<timespan>\d+(?:\.\d+)?(?:ms|tick|microsecond|d|h|m|s)\b)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<op>==|!=|=~|!~|<=|>=|!in~|!in\b|in~|!has\b|!contains\b|!startswith\b|!endswith\b
          |[|(),=<>+\-*/\[\].])
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
    """,
    re.VERBOSE,
)


@dataclass
class Tok:
    kind: str  # str | num | timespan | op | ident | end
    value: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            raise KqlError(
                f"Query could not be parsed at '{text[i]}' on line [1,{i}]", token=text[i], pos=i
            )
        kind = m.lastgroup or ""
        if kind not in ("ws", "comment"):
            toks.append(Tok(kind, m.group(), i))
        i = m.end()
    toks.append(Tok("end", "", len(text)))
    return toks


def _unquote(tok: Tok) -> str:
    v = tok.value
    if tok.kind == "vstr":
        q = v[1]
        return v[2:-1].replace(q + q, q)
    body = v[1:-1]
    return re.sub(
        r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body
    )


_UNITS = {
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
    "microsecond": 1e-6,
    "tick": 1e-7,
}


def _timespan(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|tick|microsecond|d|h|m|s)", text)
    assert m is not None
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


# ---- expressions -----------------------------------------------------------------------------

Expr = Callable[[Row], Any]


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python's fromisoformat accepts at most 6 fractional digits
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise KqlError(f"Cannot convert '{value}' to datetime", kind="SemanticError") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _member(value: Any, key: Any) -> Any:
    """Kusto's dynamic member access: null for a missing key, an index out of range or a
    non-object (property bags are matched case-sensitively, as Kusto does)."""
    if isinstance(value, dict):
        return value.get(_str(key))
    if isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool):
        return value[key] if -len(value) <= key < len(value) else None
    return None


def _tobool(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value != 0
    text = _str(value).strip().lower()
    return True if text == "true" else False if text == "false" else None


def _toint(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    try:
        return int(float(_str(value)))
    except ValueError:
        return None


def format_datetime(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _cmp(a: Any, b: Any, op: str) -> bool:
    if a is None or b is None:
        return False
    if isinstance(a, datetime) or isinstance(b, datetime):
        a, b = _parse_datetime(a), _parse_datetime(b)
    elif isinstance(a, (int, float)) and not isinstance(b, (int, float)):
        try:
            b = float(b)
        except (TypeError, ValueError):
            return False
    elif isinstance(b, (int, float)) and not isinstance(a, (int, float)):
        try:
            a = float(a)
        except (TypeError, ValueError):
            return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) or isinstance(b, datetime):
        try:
            return _parse_datetime(a) == _parse_datetime(b)
        except KqlError:
            return False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return _str(a) == _str(b)


def _has(hay: Any, term: Any) -> bool:
    """Kusto ``has``: the term appears as a whole token (case-insensitive)."""
    h = _str(hay).lower()
    t = _str(term).lower()
    if not t:
        return True
    # term boundaries matter only where the term itself starts/ends with a word character
    before = r"(?<![0-9a-z_])" if t[0].isalnum() or t[0] == "_" else ""
    after = r"(?![0-9a-z_])" if t[-1].isalnum() or t[-1] == "_" else ""
    return re.search(before + re.escape(t) + after, h) is not None


class Parser:
    """Recursive descent over the token list; builds closures over rows."""

    def __init__(self, text: str, now: datetime) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.now = now
        self.refs: list[Tok] = []  # column names an expression read (checked per operator)

    def check_refs(self, known: set[str]) -> None:
        for tok in self.refs:
            if tok.value not in known:
                raise KqlError(
                    f"'{tok.value}': Failed to resolve scalar expression named '{tok.value}'",
                    kind="SemanticError",
                    token=tok.value,
                    pos=tok.pos,
                )
        self.refs = []

    # token helpers
    def peek(self, offset: int = 0) -> Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def accept(self, value: str) -> bool:
        tok = self.peek()
        if tok.kind in ("op", "ident") and tok.value == value:
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            self.fail(self.peek(), f"expected '{value}'")

    def fail(self, tok: Tok, why: str = "") -> None:
        shown = tok.value or "<end of query>"
        raise KqlError(
            f"Query could not be parsed at '{shown}' on line [1,{tok.pos}]"
            + (f" ({why})" if why else ""),
            token=shown,
            pos=tok.pos,
        )

    def ident(self) -> str:
        tok = self.next()
        if tok.kind != "ident":
            self.fail(tok, "expected a name")
        return tok.value

    # grammar
    def expr(self) -> Expr:
        return self.or_expr()

    def or_expr(self) -> Expr:
        left = self.and_expr()
        while self.accept("or"):
            right = self.and_expr()
            left = (lambda a, b: lambda r: bool(a(r)) or bool(b(r)))(left, right)
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.accept("and"):
            right = self.not_expr()
            left = (lambda a, b: lambda r: bool(a(r)) and bool(b(r)))(left, right)
        return left

    def not_expr(self) -> Expr:
        if self.peek().value == "not" and self.peek(1).value == "(":
            self.next()
            self.expect("(")
            inner = self.expr()
            self.expect(")")
            return lambda r: not bool(inner(r))
        return self.comparison()

    def _list(self) -> list[Expr]:
        self.expect("(")
        items = [self.additive()]
        while self.accept(","):
            items.append(self.additive())
        self.expect(")")
        return items

    def comparison(self) -> Expr:
        left = self.additive()
        tok = self.peek()
        op = tok.value if tok.kind in ("op", "ident") else ""
        if op in (
            "==",
            "!=",
            "=~",
            "!~",
            "<",
            "<=",
            ">",
            ">=",
            "has",
            "!has",
            "contains",
            "!contains",
            "startswith",
            "!startswith",
            "endswith",
            "!endswith",
            "contains_cs",
            "has_cs",
        ):
            self.next()
            right = self.additive()
            return _binary(op, left, right)
        if op in ("in", "!in", "in~", "!in~", "has_any"):
            self.next()
            items = self._list()
            if op == "has_any":
                return lambda r: any(_has(left(r), it(r)) for it in items)
            fold = op.endswith("~")
            neg = op.startswith("!")

            def member(r: Row) -> bool:
                v = left(r)
                vals = [it(r) for it in items]
                if fold:
                    hit = _str(v).lower() in {_str(x).lower() for x in vals}
                else:
                    hit = any(_eq(v, x) for x in vals)
                return hit != neg

            return member
        return left

    def additive(self) -> Expr:
        left = self.primary()
        while self.peek().kind == "op" and self.peek().value in ("+", "-"):
            op = self.next().value
            right = self.primary()
            left = (lambda a, b, o: lambda r: _arith(a(r), b(r), o))(left, right, op)
        return left

    def primary(self) -> Expr:
        tok = self.next()
        if tok.kind in ("str", "vstr"):
            value = _unquote(tok)
            return lambda r: value
        if tok.kind == "num":
            num: float | int = (
                float(tok.value) if "." in tok.value or "e" in tok.value.lower() else int(tok.value)
            )
            return lambda r: num
        if tok.kind == "dt":
            stamp = _parse_datetime(tok.value[tok.value.index("(") + 1 : -1].strip())
            return lambda r: stamp
        if tok.kind == "timespan":
            span = _timespan(tok.value)
            return lambda r: span
        if tok.kind == "op" and tok.value == "(":
            inner = self.expr()
            self.expect(")")
            return self.members(inner)
        if tok.kind == "op" and tok.value == "-":
            operand = self.primary()
            return lambda r: -operand(r)
        if tok.kind == "ident":
            if tok.value in ("true", "false"):
                b = tok.value == "true"
                return lambda r: b
            if self.peek().value == "(":
                return self.members(self.call(tok))
            name = tok.value
            self.refs.append(tok)
            return self.members(lambda r: r.get(name))
        self.fail(tok)
        raise AssertionError  # unreachable

    def members(self, base: Expr) -> Expr:
        """``base.name``, ``base['key']``, ``base[0]`` on dynamic values (null when absent)."""
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.value == "." and self.peek(1).kind == "ident":
                self.next()
                key: Expr = (lambda k: lambda r: k)(self.next().value)
            elif tok.kind == "op" and tok.value == "[":
                self.next()
                key = self.additive()
                self.expect("]")
            else:
                return base
            base = (lambda b, k: lambda r: _member(b(r), k(r)))(base, key)

    def call(self, tok: Tok) -> Expr:
        name = tok.value
        args: list[Expr] = []
        self.expect("(")
        if not self.accept(")"):
            args.append(self.expr())
            while self.accept(","):
                args.append(self.expr())
            self.expect(")")
        now = self.now
        if name == "ago" and len(args) == 1:
            a = args[0]
            return lambda r: now - _as_timespan(a(r))
        if name in ("datetime", "todatetime") and len(args) == 1:
            d = args[0]
            return lambda r: _parse_datetime(d(r))
        if name == "now" and len(args) <= 1:
            offset = args[0] if args else (lambda r: timedelta(0))
            return lambda r: now + _as_timespan(offset(r))
        if name == "extract" and len(args) in (3, 4):
            pat, grp, src = args[0], args[1], args[2]

            def extract(r: Row) -> Any:
                try:
                    m = re.search(str(pat(r)), _str(src(r)))
                except re.error as exc:
                    raise KqlError(
                        f"extract(): invalid regular expression: {exc}", kind="SemanticError"
                    ) from None
                if m is None:
                    return ""
                try:
                    return m.group(int(grp(r)))
                except IndexError:
                    return ""

            return extract
        if (
            name
            in (
                "tolower",
                "toupper",
                "tostring",
                "strlen",
                "isempty",
                "isnotempty",
                "isnull",
                "isnotnull",
            )
            and len(args) == 1
        ):
            a = args[0]
            fns: dict[str, Callable[[Any], Any]] = {
                "tolower": lambda v: _str(v).lower(),
                "toupper": lambda v: _str(v).upper(),
                "tostring": _str,
                "strlen": lambda v: len(_str(v)),
                "isempty": lambda v: v is None or _str(v) == "",
                "isnotempty": lambda v: not (v is None or _str(v) == ""),
                "isnull": lambda v: v is None,
                "isnotnull": lambda v: v is not None,
            }
            fn = fns[name]
            return lambda r: fn(a(r))
        if name in ("bin", "floor") and len(args) == 2:
            return _bin(args[0], args[1])
        if name in ("tobool", "toboolean", "toint", "tolong") and len(args) == 1:
            conv = _tobool if name.startswith("tobool") else _toint
            a = args[0]
            return lambda r: conv(a(r))
        if name == "split" and len(args) == 2:
            text, delim = args
            return lambda r: None if text(r) is None else _str(text(r)).split(_str(delim(r)))
        if name in ("bag_pack", "pack") and len(args) % 2 == 0:
            pairs = list(zip(args[0::2], args[1::2], strict=True))
            return lambda r: {_str(k(r)): v(r) for k, v in pairs}
        if name == "not" and len(args) == 1:
            a = args[0]
            return lambda r: not bool(a(r))
        raise KqlError(
            f"'{name}': unknown function or wrong number of arguments "
            "(not in the emulator's KQL subset)",
            kind="SemanticError",
            token=name,
            pos=tok.pos,
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _bin(value: Expr, size: Expr) -> Expr:
    """Kusto ``bin(value, roundTo)``: a datetime rounded down to a multiple of a timespan (from
    the Unix epoch), a timespan to a timespan, a number to a number."""

    def go(r: Row) -> Any:
        v, step = value(r), size(r)
        if v is None:
            return None
        if isinstance(v, datetime) or (isinstance(v, str) and isinstance(step, timedelta)):
            dt = _parse_datetime(v)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            width = _as_timespan(step)
            if width <= timedelta(0):
                raise KqlError("bin(): the bin size must be positive", kind="SemanticError")
            return _EPOCH + ((dt - _EPOCH) // width) * width
        if isinstance(v, timedelta):
            width = _as_timespan(step)
            return (v // width) * width
        if isinstance(v, int | float) and isinstance(step, int | float) and step > 0:
            return (v // step) * step
        raise KqlError("bin(): needs a datetime, timespan or number", kind="SemanticError")

    return go


def _as_timespan(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    raise KqlError(f"expected a timespan, got '{value}'", kind="SemanticError")


def _arith(a: Any, b: Any, op: str) -> Any:
    if isinstance(a, datetime) and isinstance(b, timedelta):
        return a + b if op == "+" else a - b
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a + b if op == "+" else a - b
    if isinstance(a, datetime) and isinstance(b, datetime) and op == "-":
        return a - b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a + b if op == "+" else a - b
    raise KqlError(f"cannot apply '{op}' to these operands", kind="SemanticError")


def _binary(op: str, left: Expr, right: Expr) -> Expr:
    if op == "==":
        return lambda r: _eq(left(r), right(r))
    if op == "!=":
        return lambda r: not _eq(left(r), right(r))
    if op == "=~":
        return lambda r: _str(left(r)).lower() == _str(right(r)).lower()
    if op == "!~":
        return lambda r: _str(left(r)).lower() != _str(right(r)).lower()
    if op in ("<", "<=", ">", ">="):
        return lambda r: _cmp(left(r), right(r), op)
    if op in ("has", "has_cs"):
        return lambda r: _has(left(r), right(r))
    if op == "!has":
        return lambda r: not _has(left(r), right(r))
    if op == "contains":
        return lambda r: _str(right(r)).lower() in _str(left(r)).lower()
    if op == "contains_cs":
        return lambda r: _str(right(r)) in _str(left(r))
    if op == "!contains":
        return lambda r: _str(right(r)).lower() not in _str(left(r)).lower()
    if op == "startswith":
        return lambda r: _str(left(r)).lower().startswith(_str(right(r)).lower())
    if op == "!startswith":
        return lambda r: not _str(left(r)).lower().startswith(_str(right(r)).lower())
    if op == "endswith":
        return lambda r: _str(left(r)).lower().endswith(_str(right(r)).lower())
    return lambda r: not _str(left(r)).lower().endswith(_str(right(r)).lower())


# ---- pipeline --------------------------------------------------------------------------------


@dataclass
class Result:
    columns: list[tuple[str, str]]
    rows: list[list[Any]]


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "real"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, timedelta):
        return "timespan"
    if isinstance(value, (list, dict)):
        return "dynamic"
    return "string"


def _expr_type(expr: Expr, sample: list[Row], default: str = "string") -> str:
    for row in sample[:20]:
        value = expr(row)
        if value is not None:
            return _type_of(value)
    return default


def run(query: str, tables: dict[str, list[Row]], now: datetime | None = None) -> Result:
    """Run ``query`` over ``tables`` (table name -> rows as dicts) as the Log Analytics query
    API does (``Syslog`` only; cells serialised). Raises KqlError."""
    columns, rows = run_rows(query, tables, TABLES, now)
    names = [c for c, _ in columns]
    return Result(columns=columns, rows=[[_out(r.get(n)) for n in names] for r in rows])


def run_rows(
    query: str,
    tables: dict[str, list[Row]],
    schemas: dict[str, list[tuple[str, str]]],
    now: datetime | None = None,
    *,
    fold_table_case: bool = False,
) -> tuple[list[tuple[str, str]], list[Row]]:
    """Run ``query`` over ``tables`` whose columns ``schemas`` names; the result's columns and
    rows with raw values (dynamic ones stay dicts/lists). ``fold_table_case``: table names match
    case-insensitively (Resource Graph's ``Resources`` = ``resources``). Raises KqlError."""
    now = now or datetime.now(UTC)
    p = Parser(query, now)
    tok = p.next()
    if tok.kind != "ident":
        p.fail(tok, "a query starts with a table name")
    table = tok.value
    if fold_table_case:
        table = next((t for t in schemas if t.lower() == table.lower()), table)
    if table not in schemas:
        raise KqlError(
            f"'{tok.value}': Failed to resolve table or column expression named '{tok.value}'",
            kind="SemanticError",
            token=tok.value,
            pos=tok.pos,
        )
    columns: list[tuple[str, str]] = list(schemas[table])
    rows: list[Row] = list(tables.get(table, []))
    while p.peek().kind != "end":
        p.expect("|")
        op_tok = p.next()
        op = op_tok.value
        known = {c for c, _ in columns}
        if op == "where":
            p.refs = []
            cond = p.expr()
            p.check_refs(known)
            rows = [r for r in rows if cond(r)]
        elif op in ("take", "limit"):
            n_tok = p.next()
            if n_tok.kind != "num":
                p.fail(n_tok, "expected a number")
            rows = rows[: int(float(n_tok.value))]
        elif op in ("order", "sort"):
            p.expect("by")
            keys: list[tuple[str, bool]] = []
            while True:
                col = p.ident()
                if col not in known:
                    _unknown_column(col, p)
                desc = True
                if p.accept("asc"):
                    desc = False
                else:
                    p.accept("desc")
                if p.accept("nulls"):
                    p.ident()
                keys.append((col, desc))
                if not p.accept(","):
                    break
            for col, desc in reversed(keys):
                rows.sort(key=_column_key(col), reverse=desc)
        elif op == "project":
            new_cols: list[tuple[str, str]] = []
            exprs: list[tuple[str, Expr]] = []
            while True:
                p.refs = []
                name, expr, typ = _named_expr(p, columns, rows, allow_bare=True)
                p.check_refs(known)
                exprs.append((name, expr))
                new_cols.append((name, typ))
                if not p.accept(","):
                    break
            rows = [{n: e(r) for n, e in exprs} for r in rows]
            columns = new_cols
        elif op == "extend":
            while True:
                name, expr, typ = _named_expr(p, columns, rows, allow_bare=False)
                p.check_refs(known)
                rows = [{**r, name: expr(r)} for r in rows]
                columns = [c for c in columns if c[0] != name] + [(name, typ)]
                known.add(name)
                if not p.accept(","):
                    break
        elif op == "summarize":
            columns, rows = _summarize(p, columns, rows)
        elif op == "count":
            rows = [{"Count": len(rows)}]
            columns = [("Count", "long")]
        elif op == "distinct":
            cols = [p.ident()]
            while p.accept(","):
                cols.append(p.ident())
            for c in cols:
                if c not in known:
                    _unknown_column(c, p)
            seen: dict[tuple[str, ...], Row] = {}
            for r in rows:
                key = tuple(_str(r.get(c)) for c in cols)
                seen.setdefault(key, {c: r.get(c) for c in cols})
            rows = list(seen.values())
            columns = [c for c in columns if c[0] in cols]
        else:
            raise KqlError(
                f"'{op}' operator is not supported by the emulator's KQL subset",
                kind="SyntaxError",
                token=op,
                pos=op_tok.pos,
            )
    return columns, rows


def _unknown_column(name: str, p: Parser) -> None:
    raise KqlError(
        f"'{name}': Failed to resolve scalar expression named '{name}'",
        kind="SemanticError",
        token=name,
        pos=p.peek().pos,
    )


def _column_key(col: str) -> Callable[[Row], tuple[int, Any]]:
    return lambda r: _sort_key(r.get(col))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, datetime):
        return (1, value.timestamp())
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, _str(value))


def _named_expr(
    p: Parser, columns: list[tuple[str, str]], rows: list[Row], allow_bare: bool
) -> tuple[str, Expr, str]:
    if p.peek().kind == "ident" and p.peek(1).value == "=" and p.peek(1).kind == "op":
        name = p.ident()
        p.expect("=")
        expr = p.expr()
        return name, expr, _expr_type(expr, rows)
    if not allow_bare:
        p.fail(p.peek(), "expected 'name = expression'")
    tok = p.peek()
    name = p.ident()
    types = dict(columns)
    if name not in types:
        _unknown_column(name, p)
    del tok
    return name, (lambda r, n=name: r.get(n)), types[name]


_AGGREGATES = (
    "count", "countif", "max", "min", "dcount", "make_set", "make_list", "any", "arg_max"
)  # fmt: skip


def _summarize(
    p: Parser, columns: list[tuple[str, str]], rows: list[Row]
) -> tuple[list[tuple[str, str]], list[Row]]:
    types = dict(columns)
    aggs: list[tuple[str, str, Expr | None, str, int]] = []  # (out name, fn, arg, type, limit)
    while True:
        out_name = ""
        if p.peek().kind == "ident" and p.peek(1).value == "=":
            out_name = p.ident()
            p.expect("=")
        fn_tok = p.next()
        fn = fn_tok.value
        if fn not in _AGGREGATES or p.peek().value != "(":
            raise KqlError(
                f"'{fn}': aggregation not supported by the emulator's KQL subset",
                kind="SemanticError",
                token=fn,
                pos=fn_tok.pos,
            )
        p.expect("(")
        arg: Expr | None = None
        arg_name = ""
        limit = 1048576
        if fn == "count":
            p.expect(")")
        else:
            if p.peek().kind == "ident" and p.peek(1).value in (")", ","):
                arg_name = p.peek().value
                if arg_name not in types:
                    _unknown_column(arg_name, p)
            arg = p.expr()
            if fn in ("make_set", "make_list") and p.accept(","):
                n = p.next()
                limit = int(float(n.value))
            p.expect(")")
        default = {
            "count": "count_",
            "countif": "countif_",
            "max": f"max_{arg_name}",
            "min": f"min_{arg_name}",
            "dcount": f"dcount_{arg_name}",
            "make_set": f"set_{arg_name}",
            "make_list": f"list_{arg_name}",
            "any": f"any_{arg_name}",
            "arg_max": f"max_{arg_name}",
        }[fn]
        if fn == "arg_max":
            raise KqlError(
                "'arg_max': aggregation not supported by the emulator's KQL subset",
                kind="SemanticError",
                token=fn,
                pos=fn_tok.pos,
            )
        if fn in ("count", "countif", "dcount"):
            typ = "long"
        elif fn in ("make_set", "make_list"):
            typ = "dynamic"
        else:
            typ = types.get(arg_name) or (_expr_type(arg, rows) if arg else "string")
        aggs.append((out_name or default, fn, arg, typ, limit))
        if not p.accept(","):
            break
    by: list[tuple[str, Expr, str]] = []
    if p.accept("by"):
        while True:
            name, expr, typ = _named_expr(p, columns, rows, allow_bare=True)
            by.append((name, expr, typ))
            if not p.accept(","):
                break
    groups: dict[tuple[str, ...], tuple[Row, list[Row]]] = {}
    for r in rows:
        keyvals = {n: e(r) for n, e, _ in by}
        key = tuple(_str(v) for v in keyvals.values())
        groups.setdefault(key, (keyvals, []))[1].append(r)
    if not by and not groups:
        groups[()] = ({}, [])
    out_rows: list[Row] = []
    for keyvals, members in groups.values():
        out = dict(keyvals)
        for name, fn, arg, _typ, limit in aggs:
            out[name] = _aggregate(fn, arg, members, limit)
        out_rows.append(out)
    out_cols = [(n, t) for n, _, t in by] + [(n, t) for n, _, _, t, _ in aggs]
    return out_cols, out_rows


def _aggregate(fn: str, arg: Expr | None, rows: Iterable[Row], limit: int) -> Any:
    rows = list(rows)
    if fn == "count":
        return len(rows)
    assert arg is not None
    values = [arg(r) for r in rows]
    if fn == "countif":
        return sum(1 for v in values if v)
    present = [v for v in values if v is not None and v != ""]
    if fn == "make_list":
        return [v for v in values if v is not None][:limit]
    if fn == "dcount":
        return len({_str(v) for v in present})
    if fn == "make_set":
        out: list[Any] = []
        seen: set[str] = set()
        for v in present:
            s = _str(v)
            if s not in seen and len(out) < limit:
                seen.add(s)
                out.append(v if isinstance(v, (int, float, str)) else s)
        return out
    if fn == "any":
        return present[0] if present else None
    if not present:
        return None
    key = _sort_key
    return max(present, key=key) if fn == "max" else min(present, key=key)


def _out(value: Any) -> Any:
    """A cell as the query API serialises it (datetimes ISO 'Z', dynamic as JSON text)."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        total = value.total_seconds()
        sign = "-" if total < 0 else ""
        total = abs(total)
        days, rem = divmod(int(total), 86400)
        hours, rem = divmod(rem, 3600)
        minutes, seconds = divmod(rem, 60)
        prefix = f"{days}." if days else ""
        return f"{sign}{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return value
