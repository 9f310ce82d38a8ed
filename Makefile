# One command sets up and runs the demo, one sets up and runs the tests. Both are idempotent:
# the virtual environment is created (and refreshed when pyproject.toml changes) as needed.
PYTHON ?= python3
VENV := .venv
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint bench

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet $(TORCH) -e ".[dev,dask]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/python examples/quickstart.py

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check sk_cnn tests examples benchmarks
