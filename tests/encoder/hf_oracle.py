"""Small random Gemma 4 checkpoints saved with transformers, and their reference outputs.

The audio tower gets non-trivial norm scales, per-dim query scales and clip bounds tight
enough to clip, so every weight the loader moves changes the output.
"""

import torch
import transformers
from transformers.models.gemma4 import configuration_gemma4

TINY_AUDIO = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "output_proj_dims": 48}
TINY_TEXT_HIDDEN = 40
CLIP_INPUT, CLIP_OUTPUT = 2.5, 1.5


def _text_config(hidden_size):
    return configuration_gemma4.Gemma4TextConfig(
        hidden_size=hidden_size,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        vocab_size=64,
        vocab_size_per_layer_input=64,
        hidden_size_per_layer_input=8,
    )


def _perturb_audio_tower(model, seed, clip):
    generator = torch.Generator().manual_seed(seed)
    tower = model.model.audio_tower
    with torch.no_grad():
        for name, param in tower.named_parameters():
            if name.endswith("norm.weight") or "layer_norm" in name or "norm_" in name:
                param.copy_(1.0 + 0.3 * torch.randn(param.shape, generator=generator))
            elif name.endswith("per_dim_scale"):
                param.copy_(0.5 * torch.randn(param.shape, generator=generator))
            elif name.endswith("output_proj.bias"):
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
        if clip:
            for name, buffer in list(tower.named_parameters()) + list(tower.named_buffers()):
                for bound, value in (
                    ("input_min", -CLIP_INPUT),
                    ("input_max", CLIP_INPUT),
                    ("output_min", -CLIP_OUTPUT),
                    ("output_max", CLIP_OUTPUT),
                ):
                    if name.endswith(bound):
                        buffer.fill_(value)


def make_checkpoint(folder, audio_overrides=None, text_hidden=TINY_TEXT_HIDDEN, seed=0, clip=True, dtype=torch.float32):
    """Save a random Gemma 4 model with an audio tower to `folder`; returns the torch model."""
    torch.manual_seed(seed)
    audio = configuration_gemma4.Gemma4AudioConfig(**(TINY_AUDIO if audio_overrides is None else audio_overrides))
    config = transformers.Gemma4Config(text_config=_text_config(text_hidden), audio_config=audio, vision_config=None)
    model = transformers.Gemma4ForConditionalGeneration(config).eval()
    _perturb_audio_tower(model, seed, clip)
    model = model.to(dtype)
    model.save_pretrained(folder)
    return model


def reference_outputs(model, features, mask, output_layer="lm"):
    """HF outputs for float32 `[B, M, 128]` features and bool `[B, M]` mask -> (float32 [B, T, O], bool [B, T])."""
    with torch.no_grad():
        out = model.model.get_audio_features(
            torch.from_numpy(features).to(model.dtype), torch.from_numpy(mask), return_dict=True
        )
    hidden = out.pooler_output if output_layer == "lm" else out.last_hidden_state
    return hidden.float().numpy(), out.attention_mask.numpy().astype(bool)
