"""The embedding job: flags, graph, entry point and run summary (`python -m pipeline`, `gemma4-embed`)."""
