# Two commands do everything: `make demo` and `make test`. Both create .venv and install the pinned set first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/audiodiff demo --out demo_output

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check audiodiff tests scripts
	$(BIN)/ruff format --check audiodiff tests scripts

bench: $(STAMP)
	$(BIN)/python scripts/bench_codec.py
	$(BIN)/python scripts/bench_prepare.py
	$(BIN)/python scripts/bench_train.py
	$(BIN)/python scripts/bench_sample.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache .ruff_cache
