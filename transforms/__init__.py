"""Beam transforms that turn audio inputs into Gemma 4 audio-embedding records.

Modules, in the order the pipeline applies them: `read_inputs` (and `sources/`), `decode_audio`
(and `declared_length`),
`compute_features`, `pack_clips` (and `row_packing`), `encoder_model_handler`, `encode_record`,
`records` (the record schema, its writer and readers), `dead_letters` and `metrics`. Nothing
here imports Keras at import time: the encoder is imported inside workers, after the backend is
chosen.
"""
