"""A column of widget groups keyed by a string: the one way a screen rebuilds dynamic children.

Mounting replacement children with the ids of children still being removed raises
``DuplicateIds`` (``remove_children()`` only schedules the removal): the Delivery screen crashed
that way when the picked clusters changed (issue 12). ``KeyedColumn.sync`` avoids the whole
class of bug: a group whose key stays is kept as it is (with whatever the user typed in it),
the others are removed, new keys get new groups, and nothing in a group has an id: a group is
found by its key (``group(key)``), never by a query on a reused id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.containers import Vertical
from textual.widget import Widget


class KeyedGroup(Vertical):
    """The widgets of one key (e.g. a cluster's label and input)."""

    DEFAULT_CSS = "KeyedGroup { height: auto; }"

    def __init__(self, key: str, *children: Widget) -> None:
        super().__init__(*children)
        self.key = key


class KeyedColumn(Vertical):
    """Groups of widgets, one per key, in the order of the keys last given to ``sync``."""

    DEFAULT_CSS = "KeyedColumn { height: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._groups: dict[str, KeyedGroup] = {}

    @property
    def keys(self) -> list[str]:
        return list(self._groups)

    def group(self, key: str) -> KeyedGroup:
        """The live group of ``key`` (KeyError when ``key`` is not shown)."""
        return self._groups[key]

    def sync(self, keys: Iterable[str], make: Callable[[str], Iterable[Widget]]) -> None:
        """Show one group per key, in order: keep existing groups, make the missing ones with
        ``make(key)``, remove the rest. Safe to call again before earlier removals finish."""
        want = list(dict.fromkeys(keys))
        kept = [k for k in self._groups if k in want]
        if kept != [k for k in want if k in self._groups]:
            kept = []  # the order changed: start over (no ids, so no collision with the old)
        for key in list(self._groups):
            if key not in kept:
                self._groups.pop(key).remove()
        groups: dict[str, KeyedGroup] = {}
        new: list[KeyedGroup] = []
        for key in want:
            if key in self._groups:
                groups[key] = self._groups[key]
            else:
                groups[key] = KeyedGroup(key, *make(key))
                new.append(groups[key])
        self._groups = groups
        # Kept groups stay in order at the top; new keys come after the last kept one only
        # when they follow it in ``want``, otherwise the order check above rebuilt everything.
        for key in want:
            g = groups[key]
            if g in new:
                i = want.index(key)
                before = next((groups[k] for k in want[i + 1 :] if groups[k] not in new), None)
                if before is not None:
                    self.mount(g, before=before)
                else:
                    self.mount(g)
