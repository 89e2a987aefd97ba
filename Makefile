# The one entry point for people, CI and hooks.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
PYTEST_WORKERS ?= auto

.PHONY: run test deps test-deps lint bench conformance clean screenshots tempest tempest-venv

run:
	$(PIP) install -q -e '.[server]'
	scp-images serve

deps:
	$(PIP) install -q -e '.[server,test,docs]'

# qemu-img / qemu-io make the real disk images the tests use, genisoimage the ISO ones, jq runs in the
# README's first steps (tests/docs); in CI a missing tool fails its tests (tests/support/tools.py), so
# install whichever is missing.
test-deps: deps
	@{ command -v qemu-img && command -v qemu-io && command -v genisoimage && command -v jq; } >/dev/null 2>&1 || { \
	  echo "installing qemu-utils (qemu-img, qemu-io), genisoimage and jq with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils genisoimage jq >/dev/null; }

test: test-deps
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: deps
	$(PYTHON) -m ruff check src tests bench docs
	$(PYTHON) -m mypy
	lint-imports

bench: deps
	$(PYTHON) bench/show_image.py
	$(PYTHON) bench/list_images.py
	$(PYTHON) bench/import_image.py
	$(PYTHON) bench/download.py

clean:
	rm -rf scp-images-data site .pytest_cache .mypy_cache .ruff_cache

# The docs site (docs/, mkdocs.yml) into site/; warnings are errors, as in the tests (tests/docs).
.PHONY: docs docs-serve
docs: deps
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict

docs-serve: deps
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs serve

# A long schemathesis run against the official OpenAPI document (CI runs a bounded one).
conformance: test-deps
	SCP_IMAGES_CONFORMANCE_EXAMPLES=1000 $(PYTHON) -m pytest tests/conformance -q

# The console's pictures in the docs (docs/screenshots/*.png), through the browser tests' own harness.
screenshots: deps
	SCP_IMAGES_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PYTHON) -m pytest -n 0 -q tests/console/test_screenshots.py

# Tempest 47.0.0's image suite against a live server, on SQLite and PostgreSQL (tests/interop; make test
# runs it too). Tempest lives in its own venv, .cache/tempest-venv, made on first use and kept.
# TEMPEST_KEEP=DIR keeps each run's workspace (tempest.conf, accounts.yaml, logs) in DIR/<database>.
tempest-venv:
	$(PYTHON) -m tests.interop.tempest_venv

tempest: test-deps tempest-venv
	SCP_IMAGES_TEMPEST_KEEP=$(TEMPEST_KEEP) $(PYTHON) -m pytest -n 2 --dist loadfile -rA tests/interop
