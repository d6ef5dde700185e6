# Two commands for a fresh machine: `make demo` (the main job) and `make test`.
# Both build .venv on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The independent implementations tests/interop runs (docs/interop.md), pinned by their lockfile.
INTEROP := tests/interop
INTEROP_STAMP := $(INTEROP)/node_modules/.package-lock.json

.PHONY: demo test lint bench clean interop

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,image,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/jigap demo --out demo-output

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Without npm the interop tests skip with one line (in CI, where CI is set, they fail instead).
$(INTEROP_STAMP): $(INTEROP)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(INTEROP) --no-audit --no-fund --loglevel=error; \
	else echo "interop: npm not found, tests/interop will skip"; fi

interop: $(INTEROP_STAMP)

test: lint interop
	$(BIN)/pytest -n 2

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo-output test-output .pytest_cache .mypy_cache .ruff_cache $(INTEROP)/node_modules
