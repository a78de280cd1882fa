# One entry point for users and CI. Every target creates the environment it needs.
#   make paper    render the whole book (HTML + PDF) into _book/   [SOURCE, STIMULI, DEPTHS, PROTOCOLS, N_BOOT]
#   make test     run the test suite
#   make test-fast  the test suite without the slow end-to-end tests (-m "not slow")
#   make results  compute the result tables of the configured grid (both protocols)
#   make ground-truth  plant a known layer in synthetic data, check that it is recovered
#   make synth    build the embedded synthetic Brain Observatory
#   make bench    run the benchmarks (ratios against the reference implementations)

PYTHON  ?= python3.11
VENV    ?= .venv
PY      := $(VENV)/bin/python
# The study's defaults (stimuli, depths, protocols, draws) are defined once, in
# analysis/study.py and analysis/protocols.py: a variable left unset here passes nothing,
# so the CLI's defaults apply (`python -m analysis paper --help` lists them).
SOURCE  ?= synthetic
STIMULI ?=
DEPTHS  ?=
PROTOCOLS ?=
N_BOOT  ?=
PYTEST_ARGS ?=
GRID = --source $(SOURCE) $(if $(STIMULI),--stimuli $(STIMULI)) $(if $(DEPTHS),--depths $(DEPTHS)) \
	$(if $(PROTOCOLS),--protocols $(PROTOCOLS)) $(if $(N_BOOT),--n-boot $(N_BOOT))

STAMP := $(VENV)/.installed

.PHONY: env test test-fast synth results ground-truth paper bench clean clean-all

env: $(STAMP)

# Exact, complete pins (requirements.lock) for a reproducible environment; the package
# itself is installed editable without touching them.
$(STAMP): requirements.lock pyproject.toml package-lock.json
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(MAKE) node_modules/katex/package.json
	touch $@

# KaTeX (the HTML pages' local math library), pinned in package.json / package-lock.json
node_modules/katex/package.json: package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found (needed once, for KaTeX: package.json)" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The ten checkpoints first: located and verified (downloaded where missing, unless
# RSA_OFFLINE=1), so that offline without them the suite stops at once with the one message
# naming every missing file, instead of failing test by test; the tests themselves never
# download.
test: $(STAMP)
	$(PY) -m analysis checkpoints
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

synth: $(STAMP)
	$(PY) -m analysis synth

results: $(STAMP)
	$(PY) -m analysis results $(GRID)

ground-truth: $(STAMP)
	$(PY) -m analysis ground-truth --source $(SOURCE) $(if $(N_BOOT),--n-boot $(N_BOOT))

paper: $(STAMP)
	$(PY) -m analysis paper $(GRID)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf _book chapters/results .cache results

clean-all: clean
	rm -rf $(VENV) data
