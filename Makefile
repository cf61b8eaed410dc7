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
	$(BIN)/python -m pip install --quiet -e '.[dev,dtls,http,server]'
	touch $(STAMP)

# Debian packages the tests use: libcoap3-bin (the independent CoAP/DTLS peers of
# tests/interop) and openssl (test certificates are generated at test time).
deps:
	@missing=""; \
	command -v coap-client-notls >/dev/null 2>&1 || missing="$$missing libcoap3-bin"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
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

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .pytest_cache .ruff_cache
