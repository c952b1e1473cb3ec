# Two commands do everything: `make demo` and `make test`. Both create .venv and install the pinned set first;
# `make install` (or `make venv`) does only that, for using `.venv/bin/audiodiff` on your own music.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The studio's browser test drives Debian's Chromium (never a downloaded browser build).
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: install venv demo test lint bench clean browser

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,ui,lora]'
	touch $(STAMP)

install: $(STAMP)
	@echo "installed: $(BIN)/audiodiff (or 'source $(BIN)/activate' once, then 'audiodiff')"

venv: install

demo: $(STAMP)
	$(BIN)/audiodiff demo --out demo_output

# Two test processes (pytest-xdist, an idle one takes tests from the other) on the two cores, one thread each
# (tests/conftest.py): about half the wall time of one process with two threads.
# With the browser present (installed here when missing and running as root), the browser test must run: it fails
# instead of skipping. Without it, the test is skipped with the reason.
test: $(STAMP) lint browser
	AUDIODIFF_REQUIRE_BROWSER=$$(test -x $(CHROMIUM) && test -x $(CHROMEDRIVER) && echo 1) $(BIN)/python -m pytest -q -n 2 --dist worksteal

browser:
	@if test -x $(CHROMIUM) && test -x $(CHROMEDRIVER); then :; \
	elif test "$$(id -u)" = 0 && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver for the studio's browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
			|| echo "could not install chromium; the browser test will be skipped"; \
	else \
		echo "no $(CHROMIUM): the studio's browser test will be skipped (as root: apt-get install chromium chromium-driver)"; \
	fi

# lint-imports checks the layers of ARCHITECTURE.md (contracts in pyproject.toml): an upward or circular import,
# function-level ones included, or a module given no layer fails here.
lint: $(STAMP)
	$(BIN)/ruff check audiodiff tests scripts
	$(BIN)/ruff format --check audiodiff tests scripts
	$(BIN)/lint-imports --no-cache --config pyproject.toml

bench: $(STAMP)
	$(BIN)/python scripts/bench_codec.py
	$(BIN)/python scripts/bench_prepare.py
	$(BIN)/python scripts/bench_train.py
	$(BIN)/python scripts/bench_sample.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache .ruff_cache
