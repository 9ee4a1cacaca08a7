# Set up a virtual environment with everything the project, its tests and benchmarks need.
VENV ?= .venv
PY := $(VENV)/bin/python
# PyTorch is only needed by the model extras; pin the CPU wheel when it is installed.
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: setup demo test test-slow lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) -e '.[dev,ray,bench,scancode,browser,postgres,portal,model,serve]'
	touch $@

demo: setup
	$(VENV)/bin/stackwright demo

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

test: lint
	$(VENV)/bin/pytest -q

test-slow: setup
	$(VENV)/bin/pytest -q -m slow; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

bench: setup
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/licenses.py
	$(PY) benchmarks/languages.py
	$(PY) benchmarks/dedup.py
	$(PY) benchmarks/pii.py
	$(PY) benchmarks/attribution.py
	$(PY) benchmarks/tokenizer.py
	$(PY) benchmarks/evaluate.py
	$(PY) benchmarks/serve.py
	$(PY) benchmarks/serve.py --lines 6

clean:
	rm -rf $(VENV) stackwright-demo bench-out
