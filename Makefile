PYTHON ?= python
PIP ?= $(PYTHON) -m pip

.PHONY: install test run bench

install:
	$(PIP) install -e '.[test]'

test: install
	$(PYTHON) -m pytest -q tests

run:
	$(PIP) install -e .
	$(PYTHON) -m pipeline --input 'examples/*.wav,examples/*.flac,examples/*.ogg,examples/*.mp3,examples/*.tar' --output out/examples/embeddings

bench:
	$(PIP) install -e '.[bench]'
	$(PYTHON) bench/encoder.py
