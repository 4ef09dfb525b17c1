# The two commands a fresh machine needs:
#   make demo   brings up the embedded stack and runs the end-to-end demo
#   make test   lint, types and every test against real services (what CI runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup system-packages clean

$(BIN)/tox:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "tox>=4.20"

$(BIN)/lakeplane: $(BIN)/tox pyproject.toml
	$(BIN)/pip install -q -e ".[local]" -e plugins/s3 -e plugins/iceberg-rest -e plugins/trino \
		-e "plugins/spark[local,kubernetes]" -e plugins/local-auth -e plugins/oidc -e plugins/kubernetes-secrets -e ui
	touch $@

setup: $(BIN)/lakeplane

system-packages:
	scripts/ensure-system-packages

demo: setup
	$(BIN)/lakeplane demo

test: $(BIN)/tox system-packages
	$(BIN)/tox run

clean:
	rm -rf $(VENV) .tox
