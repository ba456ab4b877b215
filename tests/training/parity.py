"""What the training tests compare: a hand-written batch over the shared corpus, and how logits differ.

Logits are compared per input on its valid (non-padding) positions: `norm` is ||diff|| /
||reference|| over all of them, `max` is max |diff| / max |reference|, `text_max` the same on
the positions that are not audio placeholders (the ones a loss reads), and `position_norm` the
largest ||diff_p|| / ||reference_p|| of one position p. `check_errors` bounds `norm` and
`text_max` by 1e-5 and prints all four; `max` and `position_norm` are bounded nowhere: the
random test model is most sensitive to round-off in the rows at the audio positions themselves,
where they reach 2e-5 to 3e-5 (docs/training.md, "Parity").
"""

import numpy as np
import torch
from tiny_gemma4 import SPECIAL_TOKENS
from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor

PAD, EOS, BOS, _, AUDIO_START, AUDIO, AUDIO_END = range(len(SPECIAL_TOKENS))  # tiny_gemma4's order
INPUTS = ("short", "speech", "long")
TOLERANCE = 1e-5


def relative_error(ours, reference, valid) -> float:
    """max |diff| / max |reference| over the positions `valid`."""
    ours, reference = np.asarray(ours), np.asarray(reference)
    return float(np.abs(ours[valid] - reference[valid]).max() / np.abs(reference[valid]).max())


def errors_per_input(ours, reference, valid, is_audio) -> list[dict]:
    """`{"norm", "max", "text_max", "position_norm"}` for each batch row (see the module docstring)."""
    ours, reference = np.asarray(ours), np.asarray(reference)
    found = []
    for row in range(len(ours)):
        diff = ours[row][valid[row]] - reference[row][valid[row]]  # [S_valid, V]
        expected = reference[row][valid[row]]
        found.append(
            {
                "norm": float(np.linalg.norm(diff) / np.linalg.norm(expected)),
                "max": relative_error(ours[row], reference[row], valid[row]),
                "text_max": relative_error(ours[row], reference[row], valid[row] & ~is_audio[row]),
                "position_norm": float((np.linalg.norm(diff, axis=-1) / np.linalg.norm(expected, axis=-1)).max()),
            }
        )
    return found


def check_errors(label: str, found: list[dict], names, bound_text: bool = True) -> None:
    """Prints the errors; bounds `norm`, and `text_max` unless `bound_text` is False (two frameworks'
    language models differ by their own round-off too, most at the end of a 1500-token row)."""
    print(
        f"\n{label}: "
        + "; ".join(f"{name} " + ", ".join(f"{k} {v:.2e}" for k, v in e.items()) for name, e in zip(names, found))
    )
    assert max(e["norm"] for e in found) <= TOLERANCE
    if bound_text:
        assert max(e["text_max"] for e in found) <= TOLERANCE


def hf_features(waveforms) -> tuple[np.ndarray, np.ndarray]:
    """transformers' front end on each window: `(float32 [C, M, 128], bool [C, M])`, padded to the longest."""
    out = Gemma4AudioFeatureExtractor()(waveforms, sampling_rate=16000, return_tensors="np")
    return out["input_features"].astype(np.float32), out["input_features_mask"].astype(bool)


def transformers_raw_logits(model, input_ids, attention_mask, waveforms) -> np.ndarray:
    """A transformers Gemma 4's own audio path: each window's features (in run order), encoded inside the forward."""
    features, mask = hf_features(waveforms)
    with torch.no_grad():
        out = model(
            input_ids=torch.as_tensor(np.asarray(input_ids, np.int64)),
            attention_mask=torch.as_tensor(np.asarray(attention_mask)),
            input_features=torch.from_numpy(features),
            input_features_mask=torch.from_numpy(mask),
        )
    return out.logits.numpy()


class HandBatch:
    """The three inputs as prompts written out by hand, padded with `<pad>`:
    `<bos> 20+i 21 (<|audio> <|audio|> x T <audio|>) per window 22 23 <eos>`."""

    def __init__(self, corpus):
        self.clip_keys, self.row_clip_keys, rows = [], [], []
        for index, name in enumerate(INPUTS):
            ids = [BOS, 20 + index, 21]
            keys = sorted(key for key in corpus.records if key.startswith(corpus.input_keys[name] + "@"))
            for key in keys:
                ids += [AUDIO_START] + [AUDIO] * corpus.records[key].num_tokens + [AUDIO_END]
            rows.append(ids + [22, 23, EOS])
            self.clip_keys += keys
            self.row_clip_keys.append(keys)
        length = max(map(len, rows))
        self.input_ids = np.asarray([ids + [PAD] * (length - len(ids)) for ids in rows])
        self.attention_mask = (np.arange(length)[None] < np.asarray([len(ids) for ids in rows])[:, None]).astype(int)
        self.valid = self.attention_mask.astype(bool)
        self.is_audio = self.input_ids == AUDIO
        self.embeddings = [corpus.records[key].embedding for key in self.clip_keys]
        self.waveforms = [corpus.windows[key] for key in self.clip_keys]
