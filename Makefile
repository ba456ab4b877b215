PYTHON ?= python
PIP ?= $(PYTHON) -m pip

.PHONY: install lint test unit run bench

install:
	$(PIP) install -e '.[test]'

# ruff formats and lints (configuration in pyproject.toml).
lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

test: install
	$(PYTHON) -m pytest -q tests

# The fast loop: no oracles (transformers, keras-hub), no whole-pipeline runs, no loopback services.
unit: install
	$(PYTHON) -m pytest -q -m "not oracle and not e2e and not emulator" tests

run:
	$(PIP) install -e .
	$(PYTHON) -m gemma4_audio_embed --input 'examples/*.wav,examples/*.flac,examples/*.ogg,examples/*.mp3,examples/*.tar' --output out/examples/embeddings

bench:
	$(PIP) install -e '.[bench]'
	$(PYTHON) bench/encoder.py
