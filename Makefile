# Two entry points for users: `make demo` and `make test`. Both create and
# reuse .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow demo lint typecheck bench clean deps docs release-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docs,dtls,http,server,redis,fleet]'
	touch $(STAMP)

# Debian packages the tests use: libcoap3-bin (the independent CoAP/DTLS peers of
# tests/interop), openssl (test certificates are generated at test time),
# redis-server (the cluster tests start private Redis servers), chromium and
# chromium-driver (the web UI is tested in a real headless browser) and
# libmbedtls-dev (the dtls extra builds from source where no wheel exists).
DEB_COMMANDS := coap-client-notls:libcoap3-bin openssl:openssl redis-server:redis-server \
	chromium:chromium chromedriver:chromium-driver
DEB_FILES := /usr/include/mbedtls/ssl.h:libmbedtls-dev

deps:
	@missing=""; \
	for pair in $(DEB_COMMANDS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	for pair in $(DEB_FILES); do \
	  test -e "$${pair%%:*}" || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing)); \
	  else echo "missing Debian packages:$$missing (not root: install them to run every test)"; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs tools
	$(BIN)/ruff format --check src tests benchmarks docs tools

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

test: $(STAMP) deps lint typecheck docs
	$(BIN)/python -m pytest -q

test-slow: $(STAMP) deps
	$(BIN)/python -m pytest -q -m slow

demo: $(STAMP)
	$(BIN)/python -m lwm2m demo

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

# The plot of the README's Fleet section (docs/images/fleet.png): 1,000 devices playing
# docs/fleet-scenario.toml against a private `lwm2m server`, about 80 s.
fleet-plot: $(STAMP)
	$(BIN)/python benchmarks/fleet.py --readme-plot docs/images/fleet.png

# The README's screenshot of the server's web UI (docs/images/server-ui.png), taken in
# Debian's headless Chromium from a server and the sample client on loopback.
.PHONY: screenshot
screenshot: $(STAMP) deps
	$(BIN)/python tests/ui/make_screenshot.py docs/images/server-ui.png

# The documentation site (docs/, Sphinx) in build/docs/html, warnings as errors. The CLI
# and REST references and the conformance page are generated from the code and tests.
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs build/docs/html

# The release as users get it: sdist and wheel (python -m build), twine check, the
# wheel's contents, then the wheel installed into a fresh venv (no editable install)
# running `lwm2m --version` and `lwm2m demo` from a directory outside the tree.
RELEASE := build/release
release-check: $(STAMP)
	rm -rf $(RELEASE)
	$(BIN)/python -m build --outdir $(RELEASE)/dist .
	$(BIN)/twine check --strict $(RELEASE)/dist/*
	$(BIN)/python tools/check_dist.py $(RELEASE)/dist
	$(PYTHON) -m venv $(RELEASE)/venv
	$(RELEASE)/venv/bin/python -m pip install --quiet "$$(ls $(RELEASE)/dist/*.whl)[dtls,server]"
	cd $(RELEASE) && venv/bin/lwm2m --version && venv/bin/lwm2m demo && venv/bin/lwm2m demo --dtls

# A clean install: the package without extras (cbor2 only) in a venv of its own. Its
# `lwm2m client` must register over plain UDP with `lwm2m server` (run from .venv: the
# server's REST API needs the server extra) and name the dtls extra for coaps://.
SMOKE := build/install-smoke
.PHONY: install-smoke install-smoke-newest
install-smoke: $(STAMP)
	rm -rf $(SMOKE)
	$(PYTHON) -m venv $(SMOKE)/venv
	$(SMOKE)/venv/bin/python -m pip install --quiet --upgrade pip
	$(SMOKE)/venv/bin/python -m pip install --quiet .
	$(SMOKE)/venv/bin/python -c "import importlib.util as u; \
	  extra = [m for m in ('aiohttp', 'mbedtls', 'redis') if u.find_spec(m)]; assert not extra, extra"
	$(BIN)/python tests/install/smoke.py --client $(SMOKE)/venv/bin/lwm2m --server $(BIN)/lwm2m

# The same on the newest Python of the machine, with the dtls extra: python-mbedtls is
# built from source against Debian's libmbedtls-dev (make deps), then the client also
# registers over DTLS-PSK.
# NEWEST_PYTHON: the newest CPython above 3.11 found under pyenv or on PATH; without
# one the target says so and does nothing.
NEWEST_PYTHON ?= $(shell for v in 3.14 3.13 3.12; do \
	  for p in $$(ls -d $(HOME)/.pyenv/versions/$$v*/bin/python$$v 2>/dev/null | sort -rV) \
	           $$(command -v python$$v 2>/dev/null); do \
	    [ -x "$$p" ] && echo "$$p" && exit 0; done; done)
install-smoke-newest: $(STAMP) deps
	@if [ -z "$(NEWEST_PYTHON)" ]; then echo "no Python newer than 3.11 here: nothing to check"; exit 0; fi; \
	set -e; echo "install smoke test on $(NEWEST_PYTHON)"; \
	rm -rf $(SMOKE)-newest; \
	$(NEWEST_PYTHON) -m venv $(SMOKE)-newest/venv; \
	$(SMOKE)-newest/venv/bin/python -m pip install --quiet --upgrade pip; \
	$(SMOKE)-newest/venv/bin/python -m pip install --quiet --no-binary python-mbedtls '.[dtls]'; \
	$(BIN)/python tests/install/smoke.py --dtls --client $(SMOKE)-newest/venv/bin/lwm2m \
	  --server $(BIN)/lwm2m

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .pytest_cache .ruff_cache
