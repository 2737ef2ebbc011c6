# The two commands a newcomer needs:  make run   (whole stack, embedded defaults)
#                                     make test  (whole test suite)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= embedded

.PHONY: run test lint install bytecode bench render clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $@

install: $(VENV)/.installed

# Byte-compile the project's own modules (site-packages are compiled by pip). Where
# PYTHONDONTWRITEBYTECODE is set, as on our CI machines and in many images, nothing else writes
# them, and every function process would compile its ~40 modules from source at each start
# (about 20 ms of classify's cold start, docs/benchmarks.md). compileall rewrites only stale
# files, and a stale .pyc is never used: Python checks each source's mtime and size.
bytecode: install
	$(PY) -m compileall -q sidecar bindings functions launcher > /dev/null

run: bytecode
	$(PY) -m launcher --profile $(PROFILE)

test: bytecode
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff and mypy over every package (each function folder is its own mypy root: three main.py),
# then the import graph: no module may import one that imports it back.
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy sidecar bindings deploy launcher bench scripts tests
	for fn in functions/*/; do MYPYPATH=. $(PY) -m mypy "$$fn" || exit 1; done
	$(PY) scripts/import_cycles.py

bench: bytecode
	$(PY) -m bench

render: install
	$(PY) -m deploy render --target local --out .

clean:
	rm -rf $(VENV) .data test-artifacts
