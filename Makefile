# Two commands from a fresh clone: `make demo` (main job) and `make test` (test suite).
# Both create .venv when missing and install into it. TORCH_SPEC pins the CPU build that this kind of
# machine ships locally; on a GPU box pass e.g. TORCH_SPEC="torch>=2.4".
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
# No wheel cache: CI runners have little disk, and a clean clone installs once.
PIP := $(PY) -m pip --disable-pip-version-check --no-cache-dir -q

.PHONY: demo test test-heavy study bench lint venv clean

$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH_SPEC)"
	touch $@

# Re-install when pyproject.toml changes; the stamp records which extras are in.
$(VENV)/.core: $(VENV)/.torch pyproject.toml
	$(PIP) install -e ".[plots,tensorboard]"
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PIP) install -e ".[dev,ingest]"
	# Their pinned dependency trees do not build on current Python; lmp loads only their weights.
	$(PIP) install --no-deps "resemblyzer==0.1.4" "aisfx==0.1.2"
	touch $@

venv: $(VENV)/.dev

demo: $(VENV)/.core
	$(VENV)/bin/lmp demo

test: $(VENV)/.dev
	$(PY) -m pytest -m "not heavy"

test-heavy: $(VENV)/.dev
	$(PY) -m pytest -m heavy

study: $(VENV)/.core
	$(VENV)/bin/lmp study all --out runs/study

bench: $(VENV)/.dev
	$(PY) benchmarks/bench_store_open.py
	$(PY) benchmarks/bench_loader.py
	$(PY) benchmarks/bench_store_vs_memory.py
	$(PY) benchmarks/bench_train_step.py
	$(PY) benchmarks/bench_vs_reference.py
	$(PY) benchmarks/bench_synth.py
	$(PY) benchmarks/bench_shots.py
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_encoders.py

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
