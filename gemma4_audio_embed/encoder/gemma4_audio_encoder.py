"""`Gemma4AudioEncoder`: log-mel frames in, the soft tokens Gemma 4 feeds its LM out.

Axis legend: B batch, M mel frames, F mel bins (`input_feat_size`), T tokens
(T = ceil(M / 4) for the release), D conformer width, E `output_proj_dims`, O `output_dim`.
"""

import math

import keras

from gemma4_audio_embed.encoder import config as encoder_config
from gemma4_audio_embed.encoder.config import ENCODER_ARGS
from gemma4_audio_embed.encoder.config import OUTPUT_LAYERS
from gemma4_audio_embed.encoder.config import RELEASE_ENCODER_CONFIG as _RELEASE
from gemma4_audio_embed.encoder.conformer import BLOCK_ARGS
from gemma4_audio_embed.encoder.conformer import ConformerBlock
from gemma4_audio_embed.encoder.layer_config import config_entries
from gemma4_audio_embed.encoder.matmul import AccumulatedDense
from gemma4_audio_embed.encoder.normalization import RMSNorm
from gemma4_audio_embed.encoder.subsampling import SubSampleConvProjection


def output_token_mask(mel_mask, time_strides=(2, 2), reduction_factor=1):
    """Token validity for a mel mask: bool `[B, M]` -> bool `[B, T]`, True = valid.

    Token j is valid iff mel frame `j * prod(time_strides) * reduction_factor` is, so a clip
    with `Mv` valid frames has `num_valid_tokens(Mv)` valid tokens. Works on NumPy arrays and
    backend tensors alike.
    """
    for stride in (*time_strides, reduction_factor):
        mel_mask = mel_mask[:, ::stride]
    return mel_mask


def frame_validity(audio_mel_mask):
    """bool `[B, M]`, True = valid frame, from a mask given either way the encoder takes one: bool
    (True = valid) or int32 clip numbers (0 = invalid frame, k > 0 = a frame of clip k)."""
    if keras.backend.standardize_dtype(audio_mel_mask.dtype) == "bool":
        return audio_mel_mask
    return keras.ops.not_equal(audio_mel_mask, 0)


def num_valid_tokens(num_valid_frames, time_strides=(2, 2), reduction_factor=1):
    """Valid tokens for `num_valid_frames` valid mel frames: ceil(Mv / 4) for the release."""
    count = int(num_valid_frames)
    for stride in (*time_strides, reduction_factor):
        count = math.ceil(count / stride)
    return count


@keras.saving.register_keras_serializable(package="gemma4_audio_embed")
class Gemma4AudioEncoder(keras.Model):
    """The Gemma 4 E2B/E4B audio encoder, from log-mel frames to language-model embeddings.

    Stages:
    1. SSCP: two stride-2 convolutions (channel LayerNorm without bias, ReLU, mask
       subsampling) and a bias-free projection to `hidden_size`: `[B, M, F]` -> `[B, T, D]`.
    2. `num_layers` conformer blocks (macaron FFW, chunked local attention with a relative
       position term, light conv, FFW, output RMSNorm).
    3. Optional temporal reduction: keep every `reduction_factor`-th token (1 = off, as
       released).
    4. `output_proj`: linear D -> E with bias (the HF audio tower's last layer).
    5. The multimodal embedder: parameter-free RMSNorm over E, **then** a bias-free linear
       E -> O (`audio_output_projection`). The seed's prose puts the linear first; the released
       model normalises first and so do we.
    Padded tokens are exactly zero in the output (the released model leaves them arbitrary and
    drops them downstream). Norms, attention logits and softmax, and the light conv's GLU and
    conv, run in float32 under any policy; linears sum their products in float32.
    The four clip bounds of each conformer linear are non-trainable weights, no-op (±inf)
    until a checkpoint sets them.

    Args:
        input_feat_size: int. Mel bins per frame. Defaults to `128`.
        hidden_size: int. Conformer width `D`. Defaults to `1024`.
        num_heads: int. Attention heads. Defaults to `8`.
        num_layers: int. Conformer blocks. Defaults to `12`.
        chunk_size: int. Query block size. Defaults to `12`.
        context_left: int. Past context, self included in the count plus one always-masked
            distance. Defaults to `13` (each token sees itself and 11 previous tokens).
        context_right: int. Future tokens visible. Defaults to `0`.
        logit_cap: float. Attention logit soft cap. Defaults to `50.0`.
        invalid_logit_value: float. Logit of masked slots. Defaults to `-1e9`.
        conv_kernel_size: int. Light-conv kernel. Defaults to `5`.
        reduction_factor: int. Temporal reduction after the conformer. Defaults to `1`.
        residual_weight: float. Feed-forward residual weight. Defaults to `0.5`.
        gradient_clipping: float. Clamp bound before norms. Defaults to `1e10`.
        sscp_conv_channels: tuple of ints. Defaults to `(128, 32)`.
        sscp_kernel_sizes: tuple of (time, freq). Defaults to `((3, 3), (3, 3))`.
        sscp_stride_sizes: tuple of (time, freq). Defaults to `((2, 2), (2, 2))`.
        output_proj_dims: int. `E`. Defaults to `1536`.
        output_dim: int. `O`, the LM hidden size (E2B 1536, E4B 2560). Defaults to E2B's `1536`.
        norm_eps: float. RMSNorm epsilon. Defaults to `1e-6`.
        sscp_norm_eps: float. SSCP LayerNorm epsilon. Defaults to `1e-6`.
        dtype: dtype policy, e.g. `"float32"`, `"bfloat16"` or `"mixed_bfloat16"`. Defaults to
            the global policy.

    Call arguments:
        audio_mel: float `[B, M, F]` log-mel features.
        audio_mel_mask: bool `[B, M]`, True = valid frame, each row one clip (its valid
            frames a prefix); or int32 `[B, M]` clip numbers, 0 = invalid frame and k > 0 a
            frame of clip k, for several clips packed into a row as `packing_gap_frames`
            describes: a token then attends only to tokens of its own clip.
        output_layer: `"lm"` (default) for `[B, T, O]` LM embeddings, or `"tower"` for the
            `[B, T, E]` `output_proj` result before the embedder's norm and projection.

    Returns:
        `[B, T, O]` (or `[B, T, E]`) in the compute dtype, rows of padded tokens exactly 0.
        `compute_output_mask(audio_mel_mask)` gives the bool `[B, T]` token mask.

    Example:
    >>> import numpy as np
    >>> model = Gemma4AudioEncoder(hidden_size=32, num_heads=2, num_layers=1,
    ...     sscp_conv_channels=(8, 4), output_proj_dims=48, output_dim=64)
    >>> mel = np.zeros((1, 10, 128), "float32")
    >>> mask = np.arange(10)[None] < 7
    >>> tuple(model(mel, mask).shape)
    (1, 3, 64)
    """

    def __init__(
        self,
        *,
        input_feat_size=_RELEASE["input_feat_size"],
        hidden_size=_RELEASE["hidden_size"],
        num_heads=_RELEASE["num_heads"],
        num_layers=_RELEASE["num_layers"],
        chunk_size=_RELEASE["chunk_size"],
        context_left=_RELEASE["context_left"],
        context_right=_RELEASE["context_right"],
        logit_cap=_RELEASE["logit_cap"],
        invalid_logit_value=_RELEASE["invalid_logit_value"],
        conv_kernel_size=_RELEASE["conv_kernel_size"],
        reduction_factor=_RELEASE["reduction_factor"],
        residual_weight=_RELEASE["residual_weight"],
        gradient_clipping=_RELEASE["gradient_clipping"],
        sscp_conv_channels=_RELEASE["sscp_conv_channels"],
        sscp_kernel_sizes=_RELEASE["sscp_kernel_sizes"],
        sscp_stride_sizes=_RELEASE["sscp_stride_sizes"],
        output_proj_dims=_RELEASE["output_proj_dims"],
        output_dim=_RELEASE["output_dim"],
        norm_eps=_RELEASE["norm_eps"],
        sscp_norm_eps=_RELEASE["sscp_norm_eps"],
        dtype=None,
        **kwargs,
    ):
        super().__init__(dtype=dtype, **kwargs)
        if reduction_factor < 1:
            raise ValueError(f"reduction_factor must be >= 1, got {reduction_factor}.")
        self.input_feat_size = input_feat_size
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.chunk_size = chunk_size
        self.context_left = context_left
        self.context_right = context_right
        self.logit_cap = logit_cap
        self.invalid_logit_value = invalid_logit_value
        self.conv_kernel_size = conv_kernel_size
        self.reduction_factor = reduction_factor
        self.residual_weight = residual_weight
        self.gradient_clipping = gradient_clipping
        self.sscp_conv_channels = tuple(sscp_conv_channels)
        self.sscp_kernel_sizes = tuple(tuple(k) for k in sscp_kernel_sizes)
        self.sscp_stride_sizes = tuple(tuple(s) for s in sscp_stride_sizes)
        self.output_proj_dims = output_proj_dims
        self.output_dim = output_dim
        self.norm_eps = norm_eps
        self.sscp_norm_eps = sscp_norm_eps

        policy = self.dtype_policy
        self.subsample = SubSampleConvProjection(
            input_feat_size=input_feat_size,
            hidden_size=hidden_size,
            conv_channels=self.sscp_conv_channels,
            kernel_sizes=self.sscp_kernel_sizes,
            stride_sizes=self.sscp_stride_sizes,
            norm_eps=sscp_norm_eps,
            dtype=policy,
            name="subsample_conv_projection",
        )
        self.conformer_blocks = [
            ConformerBlock(
                **config_entries(self, BLOCK_ARGS),
                dtype=policy,
                name=f"conformer_{i}",
            )
            for i in range(num_layers)
        ]
        self.output_proj = AccumulatedDense(output_proj_dims, dtype=policy, name="output_proj")
        self.output_norm = RMSNorm(norm_eps, with_scale=False, dtype=policy, name="output_norm")
        self.audio_output_projection = AccumulatedDense(
            output_dim, use_bias=False, dtype=policy, name="audio_output_projection"
        )

    @property
    def time_strides(self):
        return tuple(time for time, _ in self.sscp_stride_sizes)

    @property
    def frames_per_token(self) -> int:
        """Mel frames per output token: the SSCP's time strides times `reduction_factor` (4)."""
        return encoder_config.frames_per_token(config_entries(self, ENCODER_ARGS))

    @property
    def packing_gap_frames(self) -> int:
        """Invalid mel frames that must separate two clips packed into one row and told apart by
        clip numbers in the mask (16 for the release); see `encoder.config.packing_gap_frames`."""
        return encoder_config.packing_gap_frames(config_entries(self, ENCODER_ARGS))

    def build(self, input_shape=None):
        self.subsample.build((None, None, self.input_feat_size))
        for block in self.conformer_blocks:
            block.build((None, None, self.hidden_size))
        self.output_proj.build((None, None, self.hidden_size))
        self.output_norm.build((None, None, self.output_proj_dims))
        self.audio_output_projection.build((None, None, self.output_proj_dims))
        self.built = True

    def compute_output_mask(self, audio_mel_mask):
        """bool (or int32 clip numbers) `[B, M]` -> bool `[B, T]`: which output tokens are valid."""
        return output_token_mask(frame_validity(audio_mel_mask), self.time_strides, self.reduction_factor)

    def _check_inputs(self, audio_mel, audio_mel_mask):
        mel_shape, mask_shape = tuple(audio_mel.shape), tuple(audio_mel_mask.shape)
        if len(mel_shape) != 3 or mel_shape[-1] not in (None, self.input_feat_size):
            raise ValueError(
                f"audio_mel must have shape [batch, frames, {self.input_feat_size}]; got shape {mel_shape}."
            )
        if len(mask_shape) != 2 or any(
            a is not None and b is not None and a != b for a, b in zip(mask_shape, mel_shape[:2])
        ):
            raise ValueError(
                f"audio_mel_mask must have shape [batch, frames] = {list(mel_shape[:2])} to match "
                f"audio_mel; got shape {mask_shape}."
            )
        mask_dtype = keras.backend.standardize_dtype(audio_mel_mask.dtype)
        if mask_dtype not in ("bool", "int32"):
            raise ValueError(
                "audio_mel_mask must be bool (True = valid frame) or int32 clip numbers (0 = invalid frame); "
                f"got dtype {mask_dtype}."
            )

    def call(self, audio_mel, audio_mel_mask, output_layer="lm"):
        if output_layer not in OUTPUT_LAYERS:
            raise ValueError(f"output_layer must be one of {OUTPUT_LAYERS}; got {output_layer!r}.")
        self._check_inputs(audio_mel, audio_mel_mask)
        x = keras.ops.cast(audio_mel, self.compute_dtype)
        x, mask = self.subsample(x, frame_validity(audio_mel_mask))  # [B, T, D], [B, T]
        segments = None  # one clip a row
        if keras.backend.standardize_dtype(audio_mel_mask.dtype) != "bool":
            segments = output_token_mask(audio_mel_mask, self.time_strides)  # int32 [B, T], clip numbers
        for block in self.conformer_blocks:
            x = block(x, mask, segments)  # [B, T, D]
        if self.reduction_factor > 1:
            x = x[:, :: self.reduction_factor]  # [B, T / r, D]
            mask = mask[:, :: self.reduction_factor]
        x = self.output_proj(x)  # [B, T, E]
        if output_layer == "lm":
            x = self.audio_output_projection(self.output_norm(x))  # [B, T, O]
        return x * keras.ops.cast(mask, x.dtype)[..., None]

    def get_config(self):
        return {**super().get_config(), **config_entries(self, ENCODER_ARGS)}
