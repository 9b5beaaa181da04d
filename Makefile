# One-command set-up: `make demo` and `make test` create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench venv clean

venv: $(STAMP)

# torch first, pinned: the CPU wheel is on local disk; any other spec pulls a CUDA build.
$(STAMP): pyproject.toml setup.py $(wildcard snuggle/*/*.c)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m snuggle.cli.main demo

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info snuggle/tokenizers/_fast*.so
