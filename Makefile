# The two set-up commands of the README, and a few helpers.
# Each target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: test serve index install clean reliability bench bench-http bench-request

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,eval]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

serve: $(STAMP)
	$(PY) -m service serve

index: $(STAMP)
	$(PY) -m service index

# Load and fault runs against the real server (loopback, bounded); writes bench/RELIABILITY.md.
reliability: $(STAMP)
	$(PY) bench/reliability.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/retrieval.py

bench-http: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/http_bench.py --parts

bench-request: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/request.py
