"""On CI (``CI=true``) a skipped ``kernel`` test fails; elsewhere it stays a skip.

Runs pytest in a subprocess on a small test file with the project's ``fixtures.kernel`` plugin,
the same hook the suite runs under.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent

SAMPLE = """
import pytest

@pytest.mark.kernel
def test_kernel_needs_root():
    pytest.skip("needs root (the kernel audit netlink socket)")

@pytest.mark.kernel
@pytest.mark.xfail(reason="known", strict=False)
def test_kernel_expected_failure():
    assert False

def test_other_skip():
    pytest.skip("no kubectl binary here")
"""


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    # a plain pytest run, also when this test runs in a pytest-xdist worker
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("PYTEST_XDIST_")}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "pytest", "-p", "fixtures.kernel", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*argv, "-o", "markers=kernel: real kernel", "-rA", "test_sample.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_a_skipped_kernel_test_fails_on_ci(tmp_path: Path, ci: str) -> None:
    proc = _run(tmp_path, ci)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "FAILED test_sample.py::test_kernel_needs_root" in out
    assert "kernel test skipped on CI (CI=true) counts as a failure" in out
    assert "needs root (the kernel audit netlink socket)" in out  # the skip's reason is kept
    assert "1 failed, 1 skipped, 1 xfailed" in out  # other skips and xfails are untouched


@pytest.mark.parametrize("ci", [None, "false", ""])
def test_a_skipped_kernel_test_is_a_skip_elsewhere(tmp_path: Path, ci: str | None) -> None:
    proc = _run(tmp_path, ci)
    assert proc.returncode == 0, proc.stdout
    assert "2 skipped, 1 xfailed" in proc.stdout
    assert "needs root (the kernel audit netlink socket)" in proc.stdout
