# Two entry points for a fresh machine: `make book` (the main job) and `make test`.
# Everything runs inside .venv, created on first use.

PYTHON_SYSTEM ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch and torchvision are installed first and pinned, so that no other package pulls another build.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
EXTRAS ?= diffusion,faces,book,dev
STAMP := $(VENV)/.installed

.PHONY: book test lint clean clean-cache env reproduce colab-check floors-check

book: $(STAMP) ## execute every notebook on the toy profile and render _build/html
	$(PY) tools/refresh_book_cache.py _build
	IDBOOTH_STANDIN=1 $(VENV)/bin/jupyter-book build . --keep-going
	@echo "open _build/html/index.html"

test: $(STAMP) ## library tests, notebook execution and the strict book build
	$(PY) -m pytest

# The whole toy experiment at a larger scale than the book (about half an hour on a 2-core CPU; resumes
# when started again), then its results are copied into the package for chapter 07 and the report.
REPRO ?= outputs/reproduce
reproduce: $(STAMP) ## run the toy reproduction and ship its results file
	$(PY) -m idbooth_lib.experiments.reproduce $(REPRO) --ship

# The book as Colab readers run it (tools/colab_check.sh): a Python 3.13 environment with Colab's
# own versions, the library installed as the chapters' first cell installs it, the tests and
# chapters 04, 05 and 08; the result is written to compat/results/ for committing. Run it before
# resolving an issue that touches the diffusion or face stack (about 7 min on 2 cores once pip has its downloads).
COMPAT ?= compat/colab-gpu.txt
colab-check: ## the tests and chapters 04, 05, 08 under Colab's versions
	tools/colab_check.sh $(COMPAT)

# The same on the oldest versions pyproject.toml admits, with the oldest Python it admits.
floors-check:
	COMPAT_PYTHON=3.10 tools/colab_check.sh compat/floors.txt

lint: $(STAMP)
	$(VENV)/bin/ruff check .

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_SYSTEM) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install $(TORCH_PINS)
	$(PY) -m pip install -e ".[$(EXTRAS)]" $(TORCH_PINS)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (idbooth)"
	touch $@

env: $(STAMP)
	$(VENV)/bin/idbooth env

clean-cache: ## forget executed notebook outputs (they are re-executed on the next build)
	rm -rf _build/.jupyter_cache

clean:
	rm -rf _build
