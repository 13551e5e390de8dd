"""The emulator's one error type: bad input (a scenario, a kube option) the caller can fix.

The emulator is a separate distribution and imports nothing of the product, so it cannot raise the
product's ``UsageError``. Front ends (``aksaudit emulator``, ``aksaudit demo``) turn a
``ScenarioError`` into their own one-line usage error; the message already says what to fix.
"""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario (or an option taken from it) is wrong; ``str(exc)`` is one line to show."""
