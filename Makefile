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

.PHONY: install install-pretrained browser test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel

install: $(BIN)/python
	$(BIN)/pip install -e '.[dev]'

# The explorer's browser tests drive Debian's chromium through its chromedriver: install them
# when missing (as root, e.g. on CI); elsewhere those tests are skipped with a message.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing chromium and chromium-driver for the browser tests ..."; \
		export DEBIAN_FRONTEND=noninteractive; \
		(apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
			(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null)); \
	else \
		echo "chromium/chromedriver missing: the browser tests will be skipped (as root: apt-get install chromium chromium-driver)"; \
	fi


install-pretrained: install
	$(BIN)/pip install '$(TORCH_SPEC)' -e '.[dev,pretrained]'

test: install-pretrained browser
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder

demo: install-pretrained
	$(BIN)/zfnet-tf demo --out $(DEMO_DIR)

bench: install
	$(BIN)/python bench/bench_projection.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info test-artifacts
