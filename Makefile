# Two commands matter: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Debian packages the tests need (installed only when run as root).
DEB_PACKAGES := auditd shellcheck dash busybox

.PHONY: setup system-deps test lint unit kernel-tests demo screenshots bench bench-quick clean fuzz-tui

setup: $(VENV)/.installed

# The emulator is its own distribution (emulator/); tests, bench and the demo need it.
$(VENV)/.installed: pyproject.toml emulator/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ./emulator -e '.[dev]'
	touch $@

system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  if ! dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEB_PACKAGES); \
	  fi; \
	else echo "system-deps: not root or no apt-get; tests needing $(DEB_PACKAGES) will say what they skip"; fi

lint: setup
	$(BIN)/ruff check src tests bench emulator/src emulator/tests
	$(BIN)/ruff format --check src tests bench emulator/src emulator/tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# The non-kernel tests in TEST_WORKERS pytest-xdist processes (most wait on subprocesses, the
# emulator and sleeps, so 4 gain even on 2 cores); a file's tests stay in one worker.
TEST_WORKERS ?= 4
unit: setup system-deps
	$(PY) -m pytest -m "not kernel" -q -n $(TEST_WORKERS) --dist loadfile

# Real-kernel tests: serial, root only; they skip with a printed reason elsewhere.
kernel-tests: setup system-deps
	$(PY) -m pytest -m kernel -q -p no:cacheprovider

test: setup system-deps lint unit kernel-tests

demo: setup
	$(BIN)/aksaudit demo

screenshots: setup
	$(PY) scripts/screenshots.py

# Long random walks through the wizard (tests/tui_walk.py); prints the seed of any failure.
# AKSAUDIT_FUZZ_STEPS (default 10000) and AKSAUDIT_FUZZ_SEED (default 1) set the length and seeds.
fuzz-tui: setup
	$(PY) tests/tui_walk.py

# Both write bench/results/latest.json and regenerate the README's performance table from it.
bench: setup
	$(PY) bench/run.py --readme

bench-quick: setup
	$(PY) bench/run.py --quick --readme

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
