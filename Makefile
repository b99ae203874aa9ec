# Two commands a new user needs: `make demo` and `make test`. Both install what is missing first.
# The virtual environment lives in .venv; exact versions come from requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.musicmaker-installed
# Debian packages: ffmpeg (MP3/FLAC export, loudness checks), fluidsynth + GM soundfont (`model: sketch` stems,
# the demo, transcription and chord evaluation), chromium (the report page is tested in a headless browser),
# rubberband-cli (conform: time-map stretching and retuning of stems), musescore-general-soundfont-small
# (bench/chords.py --soundfont musescore: a second GM soundfont for the chord recognition benchmark).
APT_PACKAGES := ffmpeg fluidsynth fluid-soundfont-gm chromium rubberband-cli musescore-general-soundfont-small
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: demo test test-fast lint install system-deps bench lock clean

demo: install
	$(VENV)/bin/musicmaker render arrangements/demo.yaml -o renders --force

test: install
	$(VENV)/bin/ruff check flows stems mixing tests bench
	$(VENV)/bin/ruff format --check flows stems mixing tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest

# Every test not marked slow (no end-to-end renders, no model-heavy cases): the loop to run while editing.
test-fast: install
	$(PY) -m pytest -m "not slow"

lint: install
	$(VENV)/bin/ruff check flows stems mixing tests bench
	$(VENV)/bin/ruff format --check flows stems mixing tests bench
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/musicmaker bench --quick

install: system-deps $(STAMP)

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# torch is installed first and on its own so pip picks the right build for the machine (the CPU wheel here,
# CUDA wheels on a GPU box); the lock is then installed without dependency resolution because basic-pitch
# declares TensorFlow on Python >= 3.11 and we use its ONNX model instead.
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Regenerate the lock from the current environment (after changing dependencies in pyproject.toml).
lock:
	$(PY) -m pip freeze --all --exclude-editable | grep -v -E '^(torch==|musicmaker|pip==)' > requirements.lock

clean:
	rm -rf $(VENV) renders .pytest_cache .mypy_cache
