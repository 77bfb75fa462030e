# The two set-up commands of the README, and a few helpers.
# Each target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HASH := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Serving needs only the package; tests and evaluation add their extras.
RUNTIME := $(VENV)/.runtime-$(HASH)
STAMP := $(VENV)/.installed-$(HASH)

.PHONY: test test-fast serve index install clean reliability bench bench-http bench-request bench-semantic model

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	rm -f $(VENV)/.runtime-*
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(PY) -m pip install --quiet -e '.[test,eval]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# The edit loop: everything but fuzzing, fault injection, the browser and big datasets.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

serve: $(RUNTIME)
	$(PY) -m service serve

index: $(RUNTIME)
	$(PY) -m service index

# Load and fault runs against the real server (loopback, bounded); writes bench/RELIABILITY.md.
reliability: $(STAMP)
	$(PY) bench/reliability.py

# Re-make the shipped encoder from the verified upstream files (needs torch: a
# separate venv, so torch never enters the service's; see the model card).
EXPORT_VENV := build/export-venv
model:
	$(PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_VENV)/bin/pip install --quiet torch==2.13.0 onnx==1.23.2 onnxscript==0.7.2 \
	    onnxruntime==1.32.0 transformers==5.24.0 sentence-transformers==6.2.0
	$(EXPORT_VENV)/bin/python scripts/export_model.py

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

bench-semantic: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/semantic.py
