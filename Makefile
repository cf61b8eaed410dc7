# Two entry points for users: `make demo` and `make test`. Both create and
# reuse .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow demo lint typecheck bench clean deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dtls,http,server,redis,fleet]'
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
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

test: $(STAMP) deps lint typecheck
	$(BIN)/python -m pytest -q

test-slow: $(STAMP) deps
	$(BIN)/python -m pytest -q -m slow

demo: $(STAMP)
	$(BIN)/python -m lwm2m demo

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

# The README's screenshot of the server's web UI (docs/images/server-ui.png), taken in
# Debian's headless Chromium from a server and the sample client on loopback.
.PHONY: screenshot
screenshot: $(STAMP) deps
	$(BIN)/python tests/ui/make_screenshot.py docs/images/server-ui.png

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .pytest_cache .ruff_cache
