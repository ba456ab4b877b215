"""Keras 3 implementation of the Gemma 4 audio encoder, its log-mel front end and loaders."""

from encoder.gemma4_audio_encoder import Gemma4AudioEncoder
from encoder.gemma4_audio_encoder import num_valid_tokens
from encoder.gemma4_audio_encoder import output_token_mask
from encoder.hf_checkpoint import load_hf_checkpoint
from encoder.inference import default_encoder
from encoder.inference import forward_memory_bytes
from encoder.inference import make_predict_fn
from encoder.inference import model_fingerprint
from encoder.keras_hub_weights import from_keras_hub
from encoder.log_mel_frontend import LogMelFrontend
