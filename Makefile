# Lightbox developer entry points. Every target is idempotent and works from a clean clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lightbox-installed
TSTAMP := $(VENV)/.lightbox-test-installed
PYTEST_ARGS ?=

.PHONY: setup test-setup run test peers lint bench screenshots dist conformance clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

## setup: create .venv and install Lightbox into it (.venv/bin/lightbox)
setup: $(STAMP)

$(TSTAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

test-setup: $(TSTAMP) peers

## peers: the Debian packages the tests need (dcmtk, orthanc, Xvfb and Qt's X11 libraries)
peers:
	@bash .ci/install-peers.sh

## run: set everything up and open the viewer on the bundled demo study
run: setup
	$(VENV)/bin/lightbox open --demo

## test: set up, install the test peers, run every test (slow ones included) under a virtual display
test: test-setup
	bash .ci/pytest.sh $(PYTEST_ARGS)

lint: $(TSTAMP)
	$(VENV)/bin/ruff check viewer tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## bench: speed and memory against the peers, measured in one run
bench: test-setup
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) -m benchmarks

## dist: build the Linux packages: dist/lightbox_<version>_amd64.deb and dist/lightbox-<version>-linux-x86_64.tar.gz
dist: $(TSTAMP)
	bash installers/linux/build.sh

conformance: setup
	$(VENV)/bin/lightbox conformance -o docs/conformance-statement.md

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache

## screenshots: regenerate the README screenshots (docs/screenshots) with lightbox open --screenshot
SHOTS_HOME := build/screenshots-home
SHOT := LIBGL_ALWAYS_SOFTWARE=1 xvfb-run -a -s "-screen 0 1920x1080x24" $(VENV)/bin/lightbox --home $(SHOTS_HOME)
screenshots: setup
	rm -rf $(SHOTS_HOME)
	mkdir -p $(SHOTS_HOME) docs/screenshots
	$(SHOT) open --demo --layout 2x2 --screenshot docs/screenshots/demo-2x2.png
	$(SHOT) open $(SHOTS_HOME)/demo/CT --layout 2x2 --screenshot docs/screenshots/ct-2x2.png
	$(VENV)/bin/lightbox --home $(SHOTS_HOME) import $(SHOTS_HOME)/demo > /dev/null
	$(SHOT) open --screenshot docs/screenshots/browser.png
