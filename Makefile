# Two entry points: `make run` (main job) and `make test` (ruff + whole pytest suite).
# Both create .venv and install the pinned lock file themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench golden lock clean

$(STAMP): pyproject.toml requirements.lock requirements-nodeps.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= sqlite:///mcrc.db
# The URL browsers and EHRs call: CDS Hooks JWTs must name it as their audience (never taken from the Host header).
PUBLIC_URL ?= http://$(HOST):$(PORT)
# Local data that is never committed: the CDS Hooks demo client's key pair and the issuer file trusting it.
DATA ?= .mcrc
CDS_ISSUERS ?= $(DATA)/cds-issuers.json

# Migrate the embedded SQLite store, load the sample cases (printing sign-in tokens of a clinician, who reads and
# assesses, and of a coordinator, who also records decisions), set up the CDS Hooks demo client (printing the
# command that calls it), then serve the web page, the REST API and the CDS Hooks services until Ctrl-C.
run: $(STAMP)
	$(BIN)/mcrc demo seed examples --db $(DB)
	$(BIN)/mcrc cds demo-setup --data-dir $(DATA) --url $(PUBLIC_URL)
	MCRC_CDS_ISSUERS=$(CDS_ISSUERS) $(BIN)/mcrc serve --db $(DB) --host $(HOST) --port $(PORT) --public-url $(PUBLIC_URL)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

test: lint
	$(BIN)/mcrc verify
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_assess.py
	$(BIN)/python bench/bench_verify.py
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_http.py
	$(BIN)/python bench/bench_cohort.py
	$(BIN)/python bench/bench_extract.py
	$(BIN)/python bench/bench_cli.py

golden: $(STAMP)
	$(BIN)/python -m tests.golden_update

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v -e '^mcrc' -e '^medspacy==' > requirements.lock.new && mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) build dist src/*.egg-info
