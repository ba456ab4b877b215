"""The released Gemma 4 audio path's fixed numbers, in one place: front end, tokens, blocks, clip bounds.

Every other module imports these instead of retyping them; anything computable is computed here
from the release's own values (source: transformers'
`Gemma4AudioFeatureExtractor` and `Gemma4AudioConfig` defaults, and the released checkpoints' configs). Nothing here
imports Keras, NumPy or Beam.
"""

SAMPLE_RATE = 16000  # Hz, mono: what the feature extractor takes
FRAME_LENGTH_MS = 20
HOP_LENGTH_MS = 10
FRAME_LENGTH = SAMPLE_RATE * FRAME_LENGTH_MS // 1000  # 320 samples per mel frame
HOP_LENGTH = SAMPLE_RATE * HOP_LENGTH_MS // 1000  # 160 samples between frames
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100 mel frames per second
MIN_CLIP_SAMPLES = HOP_LENGTH + 1  # 161: the fewest samples with one valid frame, floor((N - 1) / 160) >= 1
NUM_MEL_BINS = 128

# The SSCP's two stride-2 convolutions: 4 mel frames per encoder token (40 ms, 25 tokens per second).
FRAMES_PER_TOKEN = 2 * 2
CHUNK_SIZE = 12  # tokens per attention query block
CONTEXT_LEFT = 13  # the released `attention_context_left`: a token sees itself and 11 earlier tokens
FRAMES_PER_BLOCK = FRAMES_PER_TOKEN * CHUNK_SIZE  # 48 mel frames, 0.48 s

# The reference front ends cut a clip at 30 s (480000 samples, 750 tokens); the job windows instead.
MAX_CLIP_SECONDS = 30.0

# A clip enters the language model's prompt as AUDIO_START_TOKEN, one AUDIO_TOKEN per stored row,
# then AUDIO_END_TOKEN (the Gemma 4 tokenizer's special tokens; their ids come from the tokenizer).
AUDIO_START_TOKEN = "<|audio>"
AUDIO_TOKEN = "<|audio|>"
AUDIO_END_TOKEN = "<audio|>"

assert SAMPLE_RATE % HOP_LENGTH == 0 and FRAME_LENGTH % HOP_LENGTH == 0


def samples_to_valid_frames(num_samples: int) -> int:
    """Valid mel frames of a clip of `num_samples` 16 kHz samples: floor((N - 1) / 160), 0 for N = 0."""
    return max(num_samples - 1, 0) // HOP_LENGTH


def samples_to_tokens(num_samples: int) -> int:
    """Valid encoder tokens, so stored rows, of a clip of `num_samples` 16 kHz samples: ceil(Mv / 4).

    Example: 16000 samples (1 s) give 99 frames and 25 tokens; 16160 give 100 frames and 25
    tokens; 480000 (30 s) give 2999 frames and 750 tokens.
    """
    return -(-samples_to_valid_frames(num_samples) // FRAMES_PER_TOKEN)
