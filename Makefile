# One command sets up and runs the demo, one sets up and runs the tests. Both are idempotent:
# the virtual environment is created (and refreshed when pyproject.toml changes) as needed.
PYTHON ?= python3
VENV := .venv
TORCH := torch==2.14.1 torchvision==0.29.1
# The lowest skorch that pyproject.toml admits, and the environment that tests it.
SKORCH_FLOOR := $(shell sed -n 's/^ *"skorch>=\([0-9.]*\)".*/\1/p' pyproject.toml)
FLOOR_VENV := .venv-skorch-floor

.PHONY: demo test test-skorch-floor lint bench docs

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet $(TORCH) -e ".[dev,dask]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/python examples/quickstart.py

# -n auto: one pytest worker per core, each with its share of torch's threads (conftest.py);
# small networks on small batches keep one thread busy better than they split over two.
test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -n auto

$(FLOOR_VENV)/.installed: pyproject.toml
	test -x $(FLOOR_VENV)/bin/python || $(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install --quiet $(TORCH) -e ".[dev,dask]" "skorch==$(SKORCH_FLOOR)"
	touch $@

# The tests against the lowest skorch pyproject.toml admits, so that the floor it states is true.
# The examples, the README snippets and the command line only drive the estimators that the
# other tests cover one by one: they run once, in `make test`.
FLOOR_SKIPS := --ignore=tests/test_examples.py --ignore=tests/test_readme.py --ignore=tests/cli
test-skorch-floor: $(FLOOR_VENV)/.installed
	$(FLOOR_VENV)/bin/python -m pytest -n auto -p no:cacheprovider $(FLOOR_SKIPS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check sk_cnn tests examples benchmarks

$(VENV)/.installed-docs: $(VENV)/.installed
	$(VENV)/bin/python -m pip install --quiet -e ".[docs]"
	touch $@

# The documentation site (docs/_build/html). Warnings are errors; the examples run on
# sklearn's digits (SK_CNN_EXAMPLE_DATA=digits, set in docs/conf.py).
docs: $(VENV)/.installed-docs
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html
