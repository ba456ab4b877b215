"""The embedding job: flags, graph, entry point and run summary (`python -m gemma4_audio_embed`, `gemma4-embed`)."""
