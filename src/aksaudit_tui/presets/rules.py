"""Parse and validate auditctl rule lines in Python, the way ``auditctl -R`` reads a rules file.

A rules file is read line by line; blank lines and lines starting with ``#`` are skipped, every
other line is one ``auditctl`` command line split on whitespace (no quoting, no inline comments).
The validator knows:

- syscall rules: ``-a``/``-A list,action`` (either order; lists exit, task, user, exclude,
  filesystem; actions always, never), ``-F name op value`` with the known fields and operators,
  ``-C field op field``, ``-S`` (comma lists, repeated), ``-k`` / ``-F key=``;
- watches: ``-w /path -p rwxa -k key``;
- control lines: ``-b``, ``--backlog_wait_time``, ``-f``, ``-r``, ``-e``, ``-D``,
  ``--loginuid-immutable``, ``--reset-lost``.

Policy on top of the grammar (each is a node-safety decision, not an auditctl rule):

- ``-F arch=`` must come before ``-S`` (auditctl resolves names with the arch in force);
- every 64-bit ``always`` rule must have a 32-bit twin (same list, fields and key with
  ``-F arch=b32``): this is an **error**, because a 32-bit program calling ``int 0x80`` bypasses a
  b64-only rule, and a rule set with a hole should not ship silently;
- an exit rule naming neither ``-S`` nor ``-F perm=`` would audit every syscall: error;
- watches need ``-p`` (without it every read is logged);
- ids are numeric (user names would resolve differently on each node);
- ``-e 2`` (configuration locked until reboot) and ``-f 2`` (kernel panic on overflow) are
  refused always, in every spelling auditctl would act on (``-e2``, ``-b 8192 -e 2``, ``-De 2``,
  a line starting with a tab and ``#``, which auditctl does not take for a comment): see
  :func:`lock_setting`. A locked kernel makes remove and re-apply fail until the node reboots,
  so no opt-in exists. The node script refuses the same lines with its own filter;
- ``-i``/``-c`` (ignore errors) are refused: fix the rule instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aksaudit_tui.presets import syscalls

Fail = Callable[[str], None]

MAX_KEY_LEN = 31
MAX_FIELDS = 64
MAX_BACKLOG_WAIT = 60000  # 10 minutes in jiffies at HZ=100: the lowest kernel ceiling

LISTS = ("exit", "task", "user", "exclude", "filesystem")
ACTIONS = ("always", "never")
OPS = ("!=", "<=", ">=", "&=", "=", "<", ">", "&")
_FIELD_RE = re.compile(r"^([A-Za-z0-9_]+)(!=|<=|>=|&=|=|<|>|&)(.*)$")
_KEY_RE = re.compile(r"^[A-Za-z0-9._:/+-]+$")
_NUM_RE = re.compile(r"^(-?\d+|0[xX][0-9a-fA-F]+)$")

# 64-bit and 32-bit names accepted after -F arch=, mapped to the table they select.
ARCH_64 = {"x86_64": "x86_64", "aarch64": "aarch64"}
ARCH_32 = {
    "i386": "i386",
    "i486": "i386",
    "i586": "i386",
    "i686": "i386",
    "armv7l": "arm",
    "armv6l": "arm",
    "armv5tel": "arm",
    "armv5tejl": "arm",
    "armeb": "arm",
}

_ID_FIELDS = {"uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "obj_uid", "obj_gid"}
_AUID_FIELDS = {"auid", "loginuid"}
_NUMERIC_FIELDS = {
    "pid",
    "ppid",
    "pers",
    "devmajor",
    "devminor",
    "inode",
    "sessionid",
    "saddr_fam",
    "a0",
    "a1",
    "a2",
    "a3",
}
_PATH_FIELDS = {"path", "dir", "exe"}
_SELINUX_FIELDS = {
    "subj_user",
    "subj_role",
    "subj_type",
    "subj_sen",
    "subj_clr",
    "obj_user",
    "obj_role",
    "obj_type",
    "obj_lev_low",
    "obj_lev_high",
}
_OTHER_FIELDS = {"arch", "perm", "exit", "success", "filetype", "msgtype", "fstype", "key"}
FIELDS = frozenset(
    _ID_FIELDS | _AUID_FIELDS | _NUMERIC_FIELDS | _PATH_FIELDS | _SELINUX_FIELDS | _OTHER_FIELDS
)
_COMPARABLE = _ID_FIELDS | _AUID_FIELDS
_FILETYPES = {"file", "dir", "socket", "link", "character", "block", "fifo"}
_EXCLUDE_FIELDS = {"msgtype", "pid", "uid", "gid", "auid", "loginuid", "exe"} | _SELINUX_FIELDS
_EQ_ONLY = {"arch", "perm", "path", "dir", "exe", "filetype", "fstype", "key", "success"}

# Options that take a value, and those that don't. Anything else is unknown to auditctl.
_WITH_VALUE = {"-a", "-A", "-F", "-C", "-S", "-w", "-p", "-k", "-b", "-f", "-e", "-r"}
_LONG_WITH_VALUE = {"--backlog_wait_time"}
_FLAGS = {"-D", "--loginuid-immutable", "--reset-lost"}
_REFUSED = {
    "-i": "'-i' makes auditctl ignore errors; remove it and fix the rule instead",
    "-c": "'-c' makes auditctl continue past errors; remove it and fix the rule instead",
    "-d": "'-d' deletes a rule; a rules file only adds rules",
    "-W": "'-W' removes a watch; a rules file only adds watches",
    "-l": "'-l' lists rules; it does not belong in a rules file",
    "-s": "'-s' prints status; it does not belong in a rules file",
    "-R": "'-R' reads another file; put the rules here instead",
    "-m": "'-m' sends a user message; it does not belong in a rules file",
}


# auditctl's getopt string (src/auditctl.c): a letter followed by ':' takes a value, attached
# ("-e2") or as the next word ("-e 2"); letters without ':' are flags that may be bundled ("-De2").
_GETOPT = "hicslDvtC:e:f:r:b:a:A:d:S:F:m:R:w:W:k:p:q:"
_GETOPT_VALUE = frozenset(c for i, c in enumerate(_GETOPT) if _GETOPT[i + 1 : i + 2] == ":")
# auditctl reads a rules file in chunks of 6143 characters: a longer line would be read as two
# lines, the second one unchecked. Longer lines are refused (here and by the node script).
MAX_LINE = 4095
_LONG_LINE = f"line longer than {MAX_LINE} characters; split it into several rules"
LOCK_MESSAGES = {
    "e": "-e 2 locks the audit configuration until reboot (remove and re-apply would fail); "
    "use -e 1",
    "f": "-f 2 panics the node when the audit backlog overflows; use -f 1",
}


def lock_setting(line: str) -> str | None:
    """``"e"`` or ``"f"`` when auditctl, reading ``line`` from a rules file, would set ``-e 2``
    or ``-f 2``; None otherwise.

    Reads the line the way auditctl does, erring on the side of refusing: a comment only when the
    first space-separated word starts with ``#`` (auditctl splits on spaces, so a tab before the
    ``#`` is no comment); every word is scanned for options, wherever it stands (getopt permutes
    the words); bundled flags and attached values count (``-De2``); a tab separates words too
    (auditctl would reject ``-e<TAB>2``, but refusing it costs nothing). The node script's awk
    filter implements the same reading; tests run both over the same spellings.
    """
    if line.lstrip(" ").startswith("#"):
        return None
    words = line.split()
    for index, word in enumerate(words):
        if not word.startswith("-") or word.startswith("--") or len(word) < 2:
            continue
        for pos in range(1, len(word)):
            letter = word[pos]
            if letter not in _GETOPT_VALUE:
                continue  # a flag, or a letter auditctl does not know: keep reading the word
            value = word[pos + 1 :] or (words[index + 1] if index + 1 < len(words) else "")
            if letter in LOCK_MESSAGES and value == "2":
                return letter
            break  # the rest of the word is this option's value
    return None


class RuleError(ValueError):
    """One problem in a rules text: ``str()`` is ``source:line: what is wrong; what to fix``."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.message = message

    def __repr__(self) -> str:
        return f"RuleError({self.source!r}, {self.line}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuleError):
            return NotImplemented
        return (self.source, self.line, self.message) == (other.source, other.line, other.message)

    def __hash__(self) -> int:
        return hash((self.source, self.line, self.message))


@dataclass
class Rule:
    """One parsed rules-file line, in the order its options appeared."""

    source: str
    line: int
    text: str
    kind: str = "control"  # "syscall" | "watch" | "control"
    options: list[tuple[str, str | None]] = field(default_factory=list)
    list_name: str | None = None
    action: str | None = None
    arch: str | None = None
    syscalls: list[str] = field(default_factory=list)
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # not arch, not key
    compares: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    watch: str | None = None
    perms: str | None = None

    def signature(self) -> tuple[object, ...]:
        """What must match between a 64-bit rule and its 32-bit twin."""
        return (self.list_name, self.action, tuple(self.fields), tuple(self.compares),
                tuple(self.keys))  # fmt: skip


def arch_bits(arch: str | None) -> int | None:
    """64, 32 or None for an ``-F arch=`` value."""
    if arch is None:
        return None
    if arch == "b64" or arch in ARCH_64:
        return 64
    if arch == "b32" or arch in ARCH_32:
        return 32
    return None


def machines_for(arch: str, node_arch: str) -> tuple[str, ...]:
    """Syscall tables an ``-F arch=`` value selects on ``node_arch`` ("any" = on either)."""
    if arch in ARCH_64:
        return (ARCH_64[arch],)
    if arch in ARCH_32:
        return (ARCH_32[arch],)
    index = 0 if arch == "b64" else 1
    nodes = syscalls.NODE_ARCHES if node_arch == "any" else (node_arch,)
    return tuple(syscalls.BITS[n][index] for n in nodes)


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) for every line auditctl would execute."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def _split_options(
    tokens: list[str], err: list[str]
) -> list[tuple[str, str | None]]:  # fmt: skip
    options: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok.startswith("--"):
            name, eq, attached = tok.partition("=")
            if name in _FLAGS:
                options.append((name, None))
                continue
            if name not in _LONG_WITH_VALUE:
                err.append(f"unknown option '{name}'; see 'man auditctl' for the options")
                return options
            if eq:
                options.append((name, attached))
            elif i < len(tokens):
                options.append((name, tokens[i]))
                i += 1
            else:
                err.append(f"'{name}' needs a value; write '{name} N'")
                return options
            continue
        if not tok.startswith("-") or len(tok) < 2:
            hint = "inline comments are not allowed; put '#' at the start of its own line"
            if tok.startswith("#"):
                err.append(f"unexpected '{tok}': {hint}")
            else:
                err.append(f"unexpected '{tok}'; every value must follow its option (e.g. -k KEY)")
            return options
        name, attached = tok[:2], tok[2:]
        if name in _REFUSED:
            err.append(_REFUSED[name])
            return options
        if name in _FLAGS:
            if attached:
                err.append(f"'{name}' takes no value; remove '{attached}'")
                return options
            options.append((name, None))
            continue
        if name not in _WITH_VALUE:
            err.append(f"unknown option '{tok}'; see 'man auditctl' for the options")
            return options
        if attached:
            options.append((name, attached))
        elif i < len(tokens) and not (tokens[i].startswith("-") and tokens[i] != "-1"):
            options.append((name, tokens[i]))
            i += 1
        else:
            err.append(f"'{name}' needs a value; e.g. {_EXAMPLES.get(name, name + ' VALUE')}")
            return options
    return options


_EXAMPLES = {
    "-a": "-a always,exit",
    "-A": "-A always,exit",
    "-F": "-F auid>=1000",
    "-C": "-C uid!=euid",
    "-S": "-S execve",
    "-w": "-w /etc/passwd",
    "-p": "-p wa",
    "-k": "-k aksaudit-identity",
    "-b": "-b 8192",
    "-f": "-f 1",
    "-e": "-e 1",
    "-r": "-r 0",
}


def _int(value: str) -> int | None:
    try:
        return int(value, 0) if _NUM_RE.match(value) else None
    except ValueError:
        return None


def _check_key(key: str) -> str | None:
    if len(key) > MAX_KEY_LEN:
        return f"key '{key}' is {len(key)} characters; keep keys to {MAX_KEY_LEN} or fewer"
    if not _KEY_RE.match(key):
        return (
            f"key '{key}' has characters that break key=\"...\" parsing; "
            "use letters, digits and . _ : / + -"
        )
    return None


def _check_field(name: str, op: str, value: str, list_name: str | None) -> str | None:
    """Problem with one ``-F name op value`` or None."""
    if name not in FIELDS:
        return f"unknown field '{name}'; use one of auid, uid, euid, exe, path, dir, perm, key, ..."
    if value == "":
        return f"'-F {name}{op}' has no value; write e.g. -F {name}{op}VALUE"
    if name in _EQ_ONLY and op not in ("=", "!="):
        return f"field '{name}' takes only = or !=, not '{op}'; write -F {name}={value}"
    if name == "arch":
        if value not in ("b64", "b32") and value not in ARCH_64 and value not in ARCH_32:
            return f"unknown arch '{value}'; use -F arch=b64 or -F arch=b32"
        return None
    if name == "perm":
        if list_name != "exit":
            return "-F perm= works only on the exit list; use -a always,exit"
        if (
            op != "="
            or not value
            or any(c not in "rwxa" for c in value)
            or len(set(value)) != len(value)
        ):
            return f"bad perm '{value}'; use -F perm= with letters from r, w, x, a (e.g. wa)"
        return None
    if name in _PATH_FIELDS:
        if not value.startswith("/"):
            return f"-F {name}= needs an absolute path, got '{value}'; write -F {name}=/full/path"
        if list_name not in ("exit", "exclude") or (list_name == "exclude" and name != "exe"):
            return f"-F {name}= works only on the exit list; use -a always,exit"
        return None
    if name == "key":
        return _check_key(value)
    if name in _AUID_FIELDS:
        number = _int(value)
        if value in ("unset", "-1", "4294967295") or (number is not None and number >= 0):
            return None
        return f"bad auid value '{value}'; use a number or 'unset' (user names resolve per node)"
    if name in _ID_FIELDS:
        number = _int(value)
        if number is not None and number >= 0:
            return None
        return f"bad {name} value '{value}'; use a numeric id (user names resolve per node)"
    if name in _NUMERIC_FIELDS:
        if _int(value) is None:
            return f"bad {name} value '{value}'; use a number"
        return None
    if name == "exit":
        if list_name != "exit":
            return "-F exit= works only on the exit list; use -a always,exit"
        if _int(value) is None and not re.match(r"^-?E[A-Z0-9]+$", value):
            return f"bad exit value '{value}'; use a number or an errno name such as -EACCES"
        return None
    if name == "success":
        if value not in ("0", "1", "yes", "no"):
            return f"bad success value '{value}'; use 0 or 1"
        return None
    if name == "filetype":
        if value not in _FILETYPES:
            return f"bad filetype '{value}'; use one of {', '.join(sorted(_FILETYPES))}"
        return None
    if name == "msgtype":
        if list_name not in ("exclude", "user"):
            return "-F msgtype= works only on the exclude and user lists; use -a always,exclude"
        return None
    if name == "fstype":
        if list_name != "filesystem":
            return "-F fstype= works only on the filesystem list; use -a never,filesystem"
        if value not in ("debugfs", "tracefs"):
            return f"unknown fstype '{value}'; auditctl knows debugfs and tracefs"
        return None
    return None


def parse_line(source: str, number: int, line: str, errors: list[RuleError]) -> Rule | None:
    """Parse one non-comment line; append problems to ``errors`` and return None if any."""

    def fail(message: str) -> None:
        errors.append(RuleError(source, number, message))

    problems: list[str] = []
    options = _split_options(line.split(), problems)
    if problems:
        fail(problems[0])
        return None
    rule = Rule(source, number, line, options=options)
    names = [name for name, _ in options]
    adds = [n for n in names if n in ("-a", "-A")]
    if adds:
        rule.kind = "syscall"
    elif "-w" in names:
        rule.kind = "watch"
    start = len(errors)
    if rule.kind == "syscall":
        _parse_syscall_rule(rule, fail)
    elif rule.kind == "watch":
        _parse_watch(rule, fail)
    else:
        _parse_control(rule, fail)
    return rule if len(errors) == start else None


def _parse_syscall_rule(rule: Rule, fail: Fail) -> None:
    adds = [v for n, v in rule.options if n in ("-a", "-A")]
    if len(adds) > 1:
        fail("more than one -a on a line; put each rule on its own line")
        return
    for name, _ in rule.options:
        if name in ("-w", "-p"):
            fail(f"'{name}' belongs to watches; for a syscall rule use -F path=/x -F perm=wa")
            return
        if name in ("-b", "-f", "-e", "-r", "-D", "--backlog_wait_time"):
            fail(f"'{name}' is a control option; put it on its own line")
            return
    parts = (adds[0] or "").split(",")
    if len(parts) != 2:
        fail(f"bad '-a {adds[0]}'; write -a always,exit (list and action, comma-separated)")
        return
    for part in parts:
        if part in LISTS:
            rule.list_name = part
        elif part in ACTIONS:
            rule.action = part
        elif part == "entry":
            fail("the entry list is gone from the kernel; use -a always,exit")
            return
        elif part == "possible":
            fail("action 'possible' is deprecated; use always or never")
            return
        elif part == "io_uring":
            fail("the io_uring list is not supported here; use -a always,exit")
            return
    if rule.list_name is None or rule.action is None:
        fail(
            f"bad '-a {adds[0]}'; name one list ({', '.join(LISTS)}) and one action (always, never)"
        )
        return
    field_count = 0
    for name, value in rule.options:
        assert value is not None or name in _FLAGS
        if name == "-F":
            assert value is not None
            m = _FIELD_RE.match(value)
            if not m:
                fail(f"bad field '-F {value}'; write -F name=value (operators {' '.join(OPS)})")
                return
            fname, op, fval = m.group(1), m.group(2), m.group(3)
            if fname == "loginuid":
                fname = "auid"  # the same kernel field; keep one spelling for twin matching
            problem = _check_field(fname, op, fval, rule.list_name)
            if problem:
                fail(problem)
                return
            field_count += 1
            if fname == "arch":
                if rule.arch is not None:
                    fail("-F arch= given twice; one rule has one arch")
                    return
                if rule.syscalls:
                    fail(f"-F arch={fval} comes after -S; put -F arch= before the first -S")
                    return
                rule.arch = fval
            elif fname == "key":
                rule.keys.append(fval)
            else:
                rule.fields.append((fname, op, fval))
        elif name == "-C":
            assert value is not None
            m = re.match(r"^([a-z_]+)(!=|=)([a-z_]+)$", value)
            if not m or m.group(1) not in _COMPARABLE or m.group(3) not in _COMPARABLE:
                fail(f"bad comparison '-C {value}'; write e.g. -C uid!=euid or -C auid=obj_uid")
                return
            field_count += 1
            rule.compares.append(value)
        elif name == "-S":
            assert value is not None
            if rule.list_name != "exit":
                fail(f"-S works only on the exit list, not '{rule.list_name}'; use -a always,exit")
                return
            if rule.arch is None:
                fail("-S without -F arch=; put -F arch=b64 (and a b32 twin) before -S")
                return
            for sc in value.split(","):
                if not sc:
                    fail(f"empty syscall name in '-S {value}'; remove the extra comma")
                    return
                if sc not in rule.syscalls:
                    rule.syscalls.append(sc)
        elif name == "-k":
            assert value is not None
            problem = _check_key(value)
            if problem:
                fail(problem)
                return
            rule.keys.append(value)
    if field_count > MAX_FIELDS:
        fail(f"{field_count} fields on one rule; the kernel takes at most {MAX_FIELDS}")
        return
    if (
        rule.list_name == "exit"
        and not rule.syscalls
        and not any(f[0] == "perm" for f in rule.fields)
    ):
        fail(
            "exit rule without -S audits every syscall; name them with -S "
            "(or use -F path=... -F perm=wa)"
        )
        return
    if rule.list_name == "exclude":
        if rule.arch is not None:
            fail("-F arch= is not allowed on the exclude list; filter with -F msgtype=")
            return
        for fname, _, _ in rule.fields:
            if fname not in _EXCLUDE_FIELDS:
                fail(f"field '{fname}' is not allowed on the exclude list; use msgtype, exe, ...")
                return
    if rule.list_name == "filesystem" and any(f[0] != "fstype" for f in rule.fields):
        fail("the filesystem list takes only -F fstype=; move other fields to an exit rule")


def _parse_watch(rule: Rule, fail: Fail) -> None:
    for name, value in rule.options:
        if name == "-w":
            assert value is not None
            if rule.watch is not None:
                fail("more than one -w on a line; put each watch on its own line")
                return
            if not value.startswith("/"):
                fail(f"watch path '{value}' is not absolute; write -w /full/path")
                return
            rule.watch = value
        elif name == "-p":
            assert value is not None
            if not value or any(c not in "rwxa" for c in value) or len(set(value)) != len(value):
                fail(f"bad permissions '-p {value}'; use letters from r, w, x, a (e.g. -p wa)")
                return
            rule.perms = value
        elif name == "-k":
            assert value is not None
            problem = _check_key(value)
            if problem:
                fail(problem)
                return
            rule.keys.append(value)
        else:
            fail(f"'{name}' cannot be combined with -w; write a -a always,exit rule instead")
            return
    if rule.perms is None:
        fail(f"watch on {rule.watch} has no -p; add -p wa (without -p every read is logged)")


def _parse_control(rule: Rule, fail: Fail) -> None:
    names = [n for n, _ in rule.options]
    if not names:
        fail("nothing to do on this line; remove it")
        return
    for name, value in rule.options:
        if name == "-k" and "-D" in names:
            continue
        if name in ("-k", "-F", "-S", "-C", "-p"):
            fail(f"'{name}' needs a rule; start the line with -a always,exit or -w /path")
            return
        number = _int(value) if value is not None else None
        if name == "-e":  # "2" never gets here: parse_rules refused the line
            if value not in ("0", "1"):
                fail(f"bad '-e {value}'; use -e 0 or -e 1")
        elif name == "-f":
            if value not in ("0", "1"):
                fail(f"bad '-f {value}'; use -f 1 (printk on overflow)")
        elif name == "-b":
            if number is None or number < 1 or number > 2**31:
                fail(f"bad '-b {value}'; give the backlog size as a number such as 8192")
        elif name == "--backlog_wait_time":
            if number is None or number < 0 or number > MAX_BACKLOG_WAIT:
                fail(
                    f"bad '--backlog_wait_time {value}'; use 0 to {MAX_BACKLOG_WAIT} "
                    "(jiffies; 60000 is the usual value)"
                )
        elif name == "-r" and (number is None or number < 0):
            fail(f"bad '-r {value}'; give messages per second as a number (0 = no limit)")


def parse_rules(text: str, source: str) -> tuple[list[Rule], list[RuleError]]:
    """Parse every line of a rules text (grammar and the lock refusal; no arch/version checks)."""
    rules: list[Rule] = []
    errors: list[RuleError] = []
    locked: set[int] = set()
    # Over the lines as auditctl reads them (split at "\n" only; a comment is narrower than
    # iter_lines' idea of one), so no spelling slips past as a "comment".
    for number, raw in enumerate(text.split("\n"), start=1):
        if len(raw) > MAX_LINE:
            errors.append(RuleError(source, number, _LONG_LINE))
            locked.add(number)
            continue
        letter = lock_setting(raw)
        if letter is not None:
            errors.append(RuleError(source, number, LOCK_MESSAGES[letter]))
            locked.add(number)
    for number, line in iter_lines(text):
        if number in locked:
            continue
        rule = parse_line(source, number, line, errors)
        if rule is not None:
            rules.append(rule)
    return rules, errors


def _syscall_problem(rule: Rule, name: str, node_arch: str, version: str) -> str | None:
    assert rule.arch is not None
    if name == "all":
        return None
    if name.isdigit():
        number = int(name)
        if number > syscalls.MAX_SYSCALL:
            return f"syscall number {number} is out of range; the kernel takes 0 to 2047"
        if rule.arch in ("b64", "b32") and number < syscalls.UNIFIED_FROM:
            return (
                f"syscall number {number} means different syscalls on x86_64 and aarch64; "
                "use the name (numbers are only portable from 424 up)"
            )
        return None
    machines = machines_for(rule.arch, node_arch)
    if any(syscalls.known(name, m, version) for m in machines):
        return None
    where = " or ".join(machines)
    problem = f"syscall '{name}' is unknown to auditctl {version} on {where} (-F arch={rule.arch})"
    bits = 0 if arch_bits(rule.arch) == 64 else 1
    same_bits = [syscalls.BITS[n][bits] for n in syscalls.NODE_ARCHES]
    others = [m for m in same_bits if m not in machines and syscalls.known(name, m, version)]
    if others:
        explicit = _arch_name(others[0])
        return f"{problem}; it exists only on {others[0]}: put it in a -F arch={explicit} rule"
    later = syscalls.syscall_table(machines[0], "4.0").get(name)
    if later is not None:
        if later >= syscalls.UNIFIED_FROM:
            return f"{problem}; it needs audit 4.0: name it by number instead (-S {later})"
        return f"{problem}; it needs a newer audit: drop it"
    return f"{problem}; check the name with 'ausyscall {machines[0]} {name} --exact'"


def _arch_name(machine: str) -> str:
    """The ``-F arch=`` spelling that selects a machine's table on any node."""
    return "armv7l" if machine == "arm" else machine


def validate_parsed(
    rules: list[Rule],
    *,
    arch: str = "x86_64",
    audit_version: str = "3.1",
) -> list[RuleError]:
    """Arch/version/policy checks on already-parsed rules."""
    if arch not in (*syscalls.NODE_ARCHES, "any"):
        raise ValueError(f"arch must be one of x86_64, aarch64, any; got {arch!r}")
    version = syscalls.normalize_version(audit_version)
    errors: list[RuleError] = []
    twins: set[tuple[object, ...]] = set()
    for rule in rules:
        if arch_bits(rule.arch) == 32 and rule.list_name == "exit":
            twins.add(rule.signature())
    for rule in rules:
        if rule.kind != "syscall":
            continue
        for sc in rule.syscalls:
            problem = _syscall_problem(rule, sc, arch, version)
            if problem:
                errors.append(RuleError(rule.source, rule.line, problem))
                break
        if (
            rule.action == "always"
            and rule.list_name == "exit"
            and arch_bits(rule.arch) == 64
            and rule.signature() not in twins
        ):
            errors.append(
                RuleError(
                    rule.source,
                    rule.line,
                    f"-F arch={rule.arch} rule has no 32-bit twin; add the same rule with "
                    "-F arch=b32 (32-bit programs bypass 64-bit-only rules)",
                )
            )
    return errors


def validate_rules(
    text: str,
    source: str,
    *,
    arch: str = "x86_64",
    audit_version: str = "3.1",
) -> list[RuleError]:
    """Every problem ``auditctl -R`` (of ``audit_version`` on an ``arch`` node) or our node-safety
    policy would have with ``text``; empty when it loads cleanly. ``arch="any"`` accepts a syscall
    known on either node arch (what :func:`render_rules` can split into per-arch rules)."""
    rules, errors = parse_rules(text, source)
    errors += validate_parsed(rules, arch=arch, audit_version=audit_version)
    return sorted(errors, key=lambda e: e.line)
