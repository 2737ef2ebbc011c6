# The two commands a newcomer needs:  make run   (whole stack, embedded defaults)
#                                     make test  (whole test suite)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= embedded

.PHONY: run test lint install bench render clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m launcher --profile $(PROFILE)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff and mypy over every package (each function folder is its own mypy root: three main.py),
# then the import graph: no module may import one that imports it back.
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy sidecar bindings deploy launcher bench scripts tests
	for fn in functions/*/; do MYPYPATH=. $(PY) -m mypy "$$fn" || exit 1; done
	$(PY) scripts/import_cycles.py

bench: install
	$(PY) -m bench

render: install
	$(PY) -m deploy render --target local --out .

clean:
	rm -rf $(VENV) .data test-artifacts
