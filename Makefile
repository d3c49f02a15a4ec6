# perfrules — the two commands in the README: `make demo` and `make test`.
# Everything is installed into .venv by these targets; nothing needs to be installed by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SEED    = rules/examples/xinzhou-zfw-2021

PACKS   = $(sort $(dir $(wildcard rules/*/*/pack.toml)))

.PHONY: demo test lint typecheck imports packs docs pytest browser screenshot bench mutants fuzz fuzz-inputs clean help

help:
	@echo "make demo   score the shipped seed example and print the table"
	@echo "make test   ruff, mypy (strict), import contracts, pytest with hypothesis"
	@echo "make docs   the documentation site in site/ (strict; part of make test)"
	@echo "make bench  benchmarks (not part of make test)"
	@echo "make fuzz   long fuzz run of the expression sandbox (FUZZ_EXAMPLES=...)"
	@echo "make mutants  mutation check of the evaluator (every mutant must fail the tests)"
	@echo "make fuzz-inputs  10,000 mutated rule files, facts and reports per kind (FUZZ_MUTANTS=...)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/perfrules score $(SEED)/scheme.toml $(SEED)/facts.toml --lang zh
	$(BIN)/perfrules explain $(SEED)/scheme.toml $(SEED)/facts.toml 质量-市域治理 --lang zh
	@echo "(to type perfrules yourself: source $(VENV)/bin/activate)"

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.dev
	$(BIN)/mypy

imports: $(VENV)/.dev
	$(BIN)/lint-imports

packs: $(VENV)/.dev
	$(BIN)/perfrules test $(PACKS) --properties --examples 1000

# Headless Chromium and CJK fonts (Debian packages) for the HTML report test. Installed when
# missing and we are root (saying what, with apt-get's own output); otherwise say which are
# missing and how to install them, and the browser test is skipped, loudly (under CI=true
# it must run, so a missing browser fails there).
BROWSER_UID ?= $(shell id -u)
browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$(BROWSER_UID)" = "0" ]; then \
	  echo "*** Installing for the browser and PDF tests (apt-get):$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y$$missing; \
	else \
	  echo "*** Missing for the browser and PDF tests:$$missing (this is not root: they will be SKIPPED)."; \
	  echo "*** Install them with: sudo apt-get install$$missing"; \
	fi

pytest: $(VENV)/.dev browser
	$(BIN)/pytest

# The documentation site (MkDocs, Material theme, Chinese and English search): strict, so a
# broken link or anchor fails the build. Built into site/.
# The search index's Chinese word splitter caches in the temporary folder: keep it in the
# venv, so one user's cache in /tmp does not give another a traceback.
docs: $(VENV)/.dev
	@mkdir -p $(VENV)/tmp
	TMPDIR=$(abspath $(VENV))/tmp NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint typecheck imports packs docs pytest

screenshot: $(VENV)/.runtime browser
	mkdir -p docs/images
	$(BIN)/perfrules score $(SEED)/scheme.toml $(SEED)/facts.toml --format html --lang zh --out /tmp/perfrules-seed.html
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,1500 \
	  --screenshot=docs/images/seed-report.png file:///tmp/perfrules-seed.html
	$(BIN)/perfrules score $(SEED)/scheme.toml $(SEED)/facts.toml --format pdf --lang zh --out /tmp/perfrules-seed.pdf
	pdftoppm -f 1 -l 1 -r 70 -png -singlefile /tmp/perfrules-seed.pdf docs/images/seed-report-pdf

bench: $(VENV)/.dev
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_columnar.py
	$(BIN)/python benchmarks/bench_batch_io.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_table_columns.py
	$(BIN)/python benchmarks/bench_dask.py
	$(BIN)/python benchmarks/bench_cohort.py
	$(BIN)/python benchmarks/bench_impute.py
	$(BIN)/python benchmarks/bench_normalise.py
	$(BIN)/python benchmarks/bench_sensitivity.py

# Mutants of a copy of src/ that the tests must kill (PERFRULES_ORACLE_EXAMPLES=...).
mutants: $(VENV)/.dev
	$(BIN)/python benchmarks/mutation_check.py

# Mutated rule files, facts (TOML/JSON/CSV/XLSX) and audit reports: no internal error.
fuzz-inputs: $(VENV)/.dev
	$(BIN)/python benchmarks/fuzz_inputs.py

fuzz: $(VENV)/.dev
	$(BIN)/python benchmarks/fuzz_expressions.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
