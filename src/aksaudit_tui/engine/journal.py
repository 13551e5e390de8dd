"""The run journal: versioned JSON per run, replaced atomically after every transition.

Layout under the state dir (``platformdirs.user_state_dir("aksaudit")`` unless overridden):
``runs/<run_id>.json`` and ``locks/<cluster>.lock``. A journal holds the plan, each step's
outcome with timestamps, LRO continuation tokens, never a secret: every write is checked
against the secrets registered with ``redact`` and any occurrence is replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets as _secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aksaudit_tui import redaction
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.errors import UsageError, UserError

JOURNAL_VERSION = 1
TERMINAL_STATES = ("ok", "partial", "failed", "cancelled")


class JournalOptions(Protocol):
    """How a run was asked to run (``runoptions``): journaled as its ``to_json()``."""

    def to_json(self) -> dict[str, Any]: ...


def redact(secret: str | None) -> None:
    """Register a secret so no journal write (nor log record, nor error line) can contain it."""
    redaction.register(secret)


def scrub(text: str) -> str:
    """``text`` without any registered secret (workspace keys, tokens)."""
    return redaction.scrub(text, "***")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_state_dir() -> Path:
    env = os.environ.get("AKSAUDIT_STATE_DIR")
    if env:
        return Path(env)
    # platformdirs: only when no state dir is given (startup imports stay minimal)
    import platformdirs

    return Path(platformdirs.user_state_dir("aksaudit"))


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + _secrets.token_hex(3)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    clusters: tuple[str, ...]
    step: str  # the furthest step reached, e.g. "delivery"
    started: str
    state: str  # running | ok | partial | failed | cancelled | interrupted
    kind: str = "apply"
    updated: str = ""


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same dir, fsync, rename over: a reader sees the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class RunRecord:
    """One run's journal document, saved after every change through ``save()``."""

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self.doc = doc
        self._lock = threading.Lock()

    @property
    def run_id(self) -> str:
        return str(self.doc["run_id"])

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", "apply"))

    @property
    def state(self) -> str:
        return str(self.doc.get("state", "running"))

    @property
    def plan(self) -> Plan:
        return Plan.from_dict(self.doc["plan"])

    @property
    def options(self) -> Any:
        """The run's ``options`` as journaled (JSON, unchecked: ``runoptions`` reads it)."""
        return self.doc.get("options")

    def step(self, cluster: str, step: str) -> dict[str, Any]:
        c = self.doc["clusters"].setdefault(cluster, {"steps": {}})
        s: dict[str, Any] = c["steps"].setdefault(step, {"state": "pending"})
        return s

    def step_state(self, cluster: str, step: str) -> str:
        return str(self.step(cluster, step).get("state", "pending"))

    def mark(self, cluster: str, step: str, state: str, **fields: Any) -> None:
        """Record a step transition and save."""
        with self._lock:
            s = self.step(cluster, step)
            s["state"] = state
            if state == "running":
                s["started"] = now_iso()
                s.pop("finished", None)
                s["attempts"] = int(s.get("attempts", 0)) + 1
            else:
                s["finished"] = now_iso()
            for k, v in fields.items():
                if v is None:
                    s.pop(k, None)
                else:
                    s[k] = v
            self._save_locked()

    def set_lro(self, cluster: str, step: str, key: str, token: str | None) -> None:
        """Remember (or forget) an LRO continuation token so a resume can pick it up."""
        with self._lock:
            lros = self.step(cluster, step).setdefault("lro", {})
            if token is None:
                lros.pop(key, None)
            else:
                lros[key] = token
            self._save_locked()

    def set(self, **fields: Any) -> None:
        with self._lock:
            self.doc.update(fields)
            self._save_locked()

    def finish(self, state: str, message: str = "", summary: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.doc["state"] = state
            self.doc["finished"] = now_iso()
            self.doc["message"] = message
            if summary is not None:
                self.doc["summary"] = summary
            self._save_locked()

    def save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        self.doc["updated"] = now_iso()
        write_atomic(self.path, scrub(json.dumps(self.doc, indent=1, sort_keys=False)) + "\n")

    def summary(self) -> RunSummary:
        return _summary(self.doc)


def _summary(doc: dict[str, Any]) -> RunSummary:
    reached = ""
    order = doc.get("steps") or []
    for c in (doc.get("clusters") or {}).values():
        for sid, s in (c.get("steps") or {}).items():
            if s.get("state") not in (None, "pending") and (
                not reached
                or (sid in order and reached in order and order.index(sid) > order.index(reached))
            ):
                reached = sid
    state = str(doc.get("state", "running"))
    if state == "running" and not _pid_alive(doc.get("pid")):
        state = "interrupted"
    return RunSummary(
        run_id=str(doc.get("run_id", "")),
        clusters=tuple(c["name"] for c in (doc.get("plan") or {}).get("clusters", [])),
        step=reached,
        started=str(doc.get("started", "")),
        state=state,
        kind=str(doc.get("kind", "apply")),
        updated=str(doc.get("updated", "")),
    )


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed child not yet reaped) is not running
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ClusterLock:
    """An exclusive fcntl lock on one cluster; released on close or process death."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ClusterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Journal:
    """Run journals and cluster locks under one state dir."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    def path(self, run_id: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", run_id):
            raise UsageError(f'bad run id "{run_id}"; see "aksaudit resume" with no argument')
        return self.runs_dir / f"{run_id}.json"

    def create(
        self,
        plan: Plan,
        steps: tuple[str, ...],
        kind: str = "apply",
        run_id: str | None = None,
        options: JournalOptions | None = None,
    ) -> RunRecord:
        rid = run_id or new_run_id()
        doc: dict[str, Any] = {
            "version": JOURNAL_VERSION,
            "run_id": rid,
            "kind": kind,
            "state": "running",
            "pid": os.getpid(),
            "started": now_iso(),
            "updated": now_iso(),
            "finished": None,
            "steps": list(steps),
            "plan": plan.to_dict(),
            "options": options.to_json() if options is not None else {},
            "clusters": {c.name: {"steps": {}} for c in plan.clusters},
        }
        rec = RunRecord(self.path(rid), doc)
        rec.save()
        return rec

    def load(self, run_id: str) -> RunRecord:
        p = self.path(run_id)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f'no run "{run_id}" in {self.runs_dir}') from None
        except json.JSONDecodeError as exc:
            raise UserError(
                f"{p}: journal is not valid JSON ({exc.msg}, line {exc.lineno})"
            ) from None
        if not isinstance(doc, dict) or doc.get("version") != JOURNAL_VERSION:
            raise UserError(f"{p}: unsupported journal version {doc.get('version')!r}")
        return RunRecord(p, doc)

    def list_runs(self, unreadable: list[str] | None = None) -> list[RunSummary]:
        """All runs, newest first; unreadable files are skipped (one line each, naming the
        file and why, appended to ``unreadable`` when given)."""
        out: list[RunSummary] = []
        if not self.runs_dir.is_dir():
            return out
        for p in self.runs_dir.glob("*.json"):
            try:
                doc = json.loads(p.read_text(encoding="utf-8"))
                out.append(_summary(doc))
            except OSError as exc:
                if unreadable is not None:
                    unreadable.append(f"{p} ({exc.strerror or type(exc).__name__})")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                if unreadable is not None:
                    unreadable.append(f"{p} (not a journal: {type(exc).__name__})")
        out.sort(key=lambda r: (r.started, r.run_id), reverse=True)
        return out

    def latest_unfinished(self) -> RunSummary | None:
        for r in self.list_runs():
            if r.state not in ("ok",):
                return r
        return None

    def lock_cluster(self, cluster_id: str, run_id: str) -> ClusterLock:
        """Take the cluster's lock or fail with who holds it."""
        d = self.state_dir / "locks"
        d.mkdir(parents=True, exist_ok=True)
        name = _SAFE.sub("_", cluster_id.lower().strip("/"))[-180:] or "cluster"
        path = d / f"{name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            cname = cluster_id.rstrip("/").rsplit("/", 1)[-1]
            raise UserError(
                f'cluster "{cname}" is being changed by another aksaudit process ({holder}); '
                "wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} run {run_id}".encode(), 0)
        return ClusterLock(path, fd)

    @contextlib.contextmanager
    def locked(self, cluster_ids: list[str], run_id: str) -> Iterator[list[ClusterLock]]:
        locks: list[ClusterLock] = []
        try:
            for cid in cluster_ids:
                locks.append(self.lock_cluster(cid, run_id))
            yield locks
        finally:
            for lk in locks:
                lk.release()
