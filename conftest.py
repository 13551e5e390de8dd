"""Root conftest: shared fixtures live in tests/fixtures/, one module per area."""

pytest_plugins = [
    "fixtures.noderoot",
    "fixtures.emulator",
    "fixtures.kernel",
]
