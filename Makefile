# voicesae: every entry point is a target here; the README names two of them.
#   make book   build the Jupyter Book from the embedded default  (-> out/paper-full/_build/html/index.html)
#   make test   run the test suite
# Each creates .venv on first use, installs torch==2.13.0 before anything else (a CPU wheel:
# an unpinned torch pulls GBs of CUDA packages), then the rest pinned by
# requirements/constraints.txt. Stamp files make a second run skip what is done.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
PIN := -c requirements/constraints.txt
DEPS := pyproject.toml requirements/constraints.txt

# The study file a book or notebook run reads (voicesae_core/report/study.py documents every key):
# the paper's study on the embedded default, full (paper scale) or quick (5 %), or your own.
PROFILE ?= full
STUDY ?= studies/paper-$(PROFILE).yml

.PHONY: test book bench data notebooks lock clean system-tools gpu-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch-2.13.0: | $(BIN)/python
	$(PIP) install --quiet torch==2.13.0
	touch $@

$(VENV)/.%-installed: $(DEPS) $(VENV)/.torch-2.13.0
	$(PIP) install --quiet $(PIN) -e '.[$*]'
	touch $@

# The tests execute the notebooks and build the quick book, so they need the book and audio
# extras, read the book in Debian's chromium, load exported SAEs in SAELens, sparsify and
# dictionary_learning (the interop extra) and extract on a local Ray instance (the ray extra). On TEST_WORKERS pytest-xdist workers: each test
# file stays on one worker, the two end-to-end books start first (tests/conftest.py).
# The extras in one pip call (one resolution, one editable build: about 40 s less than three).
TEST_WORKERS ?= 2
test: $(VENV)/.test,book,audio,interop,ray-installed $(VENV)/.dictionary-learning-0.1.0 system-tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=15

# dictionary_learning (PyPI 0.1.0) for tests/formats only, without its dependencies: they include
# nnsight 0.3, which needs torchvision, which breaks beside the CPU torch wheel; its SAE classes
# need only torch and einops (installed with NeMo). The test stands in an empty nnsight module.
$(VENV)/.dictionary-learning-0.1.0: $(VENV)/.test,book,audio,interop,ray-installed
	$(PIP) install --quiet --no-deps $(PIN) dictionary-learning==0.1.0
	touch $@

# Debian programs: a Chromium browser (the browser check), espeak-ng and sox (the demo corpus). Installed
# here when missing, as root or with sudo. The browser: Debian's chromium, or Google Chrome where it is
# already there (GitHub's Ubuntu runners have it, and Ubuntu's chromium package is only a snap stub).
SYSTEM_TOOLS := espeak-ng sox
BROWSERS := chromium google-chrome google-chrome-stable
system-tools:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	found=""; for b in $(BROWSERS); do command -v $$b >/dev/null 2>&1 && found=$$b && break; done; \
	[ -n "$$found" ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; fi

# study -> data -> notebooks (papermill; skipped when their inputs are unchanged) -> jupyter-book build,
# into out/<study name>/ (make book STUDY=path/to/mine.yml for your own study). Prints index.html.
book: $(VENV)/.book-installed $(VENV)/.audio-installed system-tools
	$(BIN)/python -m voicesae_core book --study $(STUDY) $(BOOK_ARGS)

# The embedded default data (PROFILE=full: the paper's scale; PROFILE=quick: 5 %), validated
# against the committed manifests in data_manifests/synthetic-$(PROFILE)/.
data: $(VENV)/.test-installed
	$(BIN)/python -m voicesae_core data generate --profile $(PROFILE) --data-dir data/synthetic/$(PROFILE) \
	    --manifest-dir data/synthetic/$(PROFILE)/manifests
	$(BIN)/python -m voicesae_core data validate data_manifests/synthetic-$(PROFILE)/*.json

# The chapters' notebooks, executed in order by papermill on the study (overrides on top:
# make notebooks NOTEBOOK_ARGS="-p ks '[5,20]'"). Output: out/<study name>/.
notebooks: $(VENV)/.book-installed $(VENV)/.audio-installed system-tools
	$(BIN)/python -m voicesae_core notebooks --study $(STUDY) $(NOTEBOOK_ARGS)

# Speed and memory, printed as ratios measured side by side (each system warmed up, then several rounds
# in alternating order, min and median): grid training against its peers and the encoder-product
# floor, with a scaling table (bench/train_grid.py), and embedding extraction vs NeMo's
# batch_inference (bench/embed.py). About 30 minutes on 2 cores.
bench: $(VENV)/.bench-installed $(VENV)/.audio-installed system-tools
	$(BIN)/python bench/train_grid.py $(BENCH_ARGS)
	$(BIN)/python bench/embed.py $(EMBED_ARGS)

# The GPU path end to end on one CUDA GPU, about 5 minutes (bench/gpu_check.py: the cuda tests,
# CPU vs GPU grid, kill and resume, extraction, chapters 2-6 on the GPU, a 1.1 M-row epoch); one table.
# On a GPU machine, pip's torch==2.13.0 from PyPI is its CUDA build. GPU_CHECK_ARGS="--device cpu": a dry run.
gpu-check: $(VENV)/.test-installed $(VENV)/.book-installed $(VENV)/.audio-installed system-tools
	$(BIN)/python bench/gpu_check.py $(GPU_CHECK_ARGS)

# Refresh the pins after changing pyproject.toml (needs every extra installed).
lock: $(VENV)/.test,book,audio,interop,ray-installed $(VENV)/.dictionary-learning-0.1.0 $(VENV)/.bench-installed
	{ echo "# Exact versions of everything the set-up installs (used as pip constraints by the Makefile)."; \
	  echo "# Regenerate: make lock (after changing pyproject.toml)."; \
	  $(PIP) freeze | grep -v -E "^(-e|voicesae|torch==|# Editable)"; echo "torch==2.13.0"; } > requirements/constraints.txt

clean:
	rm -rf _build .pytest_cache
