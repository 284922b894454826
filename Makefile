# ShopGo: `make demo` runs the store on SQLite with real data; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv demo test test-fast bench system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

# Debian's Chromium for browser tests and the PostgreSQL 15 server the tests start.
system-deps:
	sh tests/ensure_system.sh

demo: venv
	$(BIN)/shopgo demo

test: venv system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv system-deps
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
