# The two commands of the README: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.recsae-installed
export TQDM_DISABLE ?= 1
# One torch/OpenMP thread per process: the models are small, the tests run two processes on
# two cores, and the committed notebook outputs were produced this way.
export OMP_NUM_THREADS ?= 1

.PHONY: run test lint notebooks book bench bench-quick bench-scale lock clean help

help:
	@echo "make run        download ML-100K if needed, execute every notebook into build/"
	@echo "make test       ruff + the whole pytest suite (unit, nbval, papermill smoke runs)"
	@echo "make book       the tutorial as a website, build/book/ (committed notebooks, not re-run)"
	@echo "make notebooks  maintainers: re-execute notebooks/ in place (refresh committed outputs)"
	@echo "make bench      speed/memory benchmarks -> docs/benchmarks.md"
	@echo "make bench-scale  synthetic ML-1M..ML-25M shapes end to end, one core (tens of minutes)"
	@echo "make lock       regenerate requirements.lock from the current venv"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	# A `python3` kernel inside the venv, so Jupyter, papermill and nbval run this environment.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (recsae)" >/dev/null
	touch $@

run: $(STAMP)
	$(BIN)/python -m recsae.course.runner run

notebooks: $(STAMP)
	$(BIN)/python -m recsae.course.runner refresh

# The tutorial as a static website from the committed notebooks (nothing is executed):
# build/book/index.html. Sphinx warnings are errors (book/build.py, book/conf.py).
book: $(STAMP)
	$(BIN)/python book/build.py

lint: $(STAMP)
	$(BIN)/ruff check .

# Unit tests, papermill smoke runs, and nbval over the committed notebook outputs, spread
# over 2 processes (whole files at a time: nbval runs a notebook's cells in one kernel).
test: lint
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

# The big runs of issue 15 (peak RSS and seconds per stage, ML-1M..ML-25M shapes, one core;
# needs ~6 GB free): docs/benchmarks-scale.json, docs/scale-epoch-time.png, benchmarks.md.
bench-scale: $(STAMP)
	$(BIN)/python bench/run.py --scale

lock: $(STAMP)
	head -n 3 requirements.lock > requirements.lock.new
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/' >> requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf build
