"""Textual-free view models: what the wizard has gathered (``state``), the live picture of a run
(``runmodel``) and what the rules screen shows about presets (``presets_view``).

Plain Python, so they are tested without a terminal; an import-linter contract keeps Textual out.
"""
