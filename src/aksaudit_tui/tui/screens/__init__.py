"""The wizard's screens, one module each; which screen is which, and their order, is the table
in ``aksaudit_tui.tui.registry``. A screen's module is imported when it is first shown."""
