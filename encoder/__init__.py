"""Keras 3 implementation of the Gemma 4 audio encoder, its log-mel front end and loaders."""

from encoder.gemma4_audio_encoder import Gemma4AudioEncoder
from encoder.gemma4_audio_encoder import num_valid_tokens
from encoder.gemma4_audio_encoder import output_token_mask
