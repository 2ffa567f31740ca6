# The two commands: `make demo` and `make test`. Both create .venv on first use and are safe to
# re-run: the install step re-runs only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Extras installed with the package: `prepare` (TensorFlow: preparing data) and `test`; CI adds
# `bench` (PyTorch, Keras) for the real interop tests.
EXTRAS ?= test,prepare

.PHONY: demo test install clean-runs results

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	WANDB_MODE=$${WANDB_MODE:-disabled} $(VENV)/bin/bilstm-sweep run experiments/quickstart.py --backend local --workers 2
	WANDB_MODE=$${WANDB_MODE:-disabled} $(VENV)/bin/bilstm-sweep table experiments/quickstart.py

test: $(STAMP)
	$(PY) -m pytest -q

# The reproduction tables (experiments/reproduce.sh): hours on 2 CPU cores; resumable.
# make results DATA=<the data folder>
results: $(STAMP)
	@test -n "$(DATA)" || { echo "make results: set DATA=<the data folder>"; exit 2; }
	bash experiments/reproduce.sh $(DATA)

clean-runs:
	rm -rf runs/quickstart
