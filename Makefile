# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench bench-quick clean chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing Nudge and its dependencies into $(VENV) (first time: a minute or two)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar off -e '.[test]'
	@touch $(STAMP)

# Browser tests drive Debian's Chromium through Playwright (no Playwright browser downloads).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium for the browser tests (apt-get; a minute)"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

## run: Temporal dev server + web UI, worker and API on SQLite in .nudge/
run: $(STAMP)
	$(BIN)/nudge migrate
	$(BIN)/nudge up

## test: the whole suite, slow tests included (real Temporal servers, subprocesses)
test: $(STAMP) chromium
	$(BIN)/pytest -m "slow or not slow"

## test-fast: skip the tests marked slow
test-fast: $(STAMP)
	$(BIN)/pytest

## lint: ruff, the import-layer contracts (pyproject [tool.importlinter]), the type checker, and
## the deployment files (compose schema, hadolint, kubernetes-validate, dashboard)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	deploy/check.sh

## bench: every row of the speed targets beside its floor, full size (under 15 minutes on
## 2 cores; PostgreSQL at 127.0.0.1 for the stats row); writes bench/results/latest.json
bench: $(STAMP)
	$(BIN)/python -m bench all

## bench-quick: the same rows at small sizes, for development (under 3 minutes)
bench-quick: $(STAMP)
	$(BIN)/python -m bench all --quick

clean:
	rm -rf $(VENV) .nudge test-artifacts .pytest_cache .ruff_cache
