"""Reader of TFRecord shards of `tf.train.Example`s that carry audio: encoded bytes or decoded samples."""

from collections.abc import Iterator

import numpy as np

from gemma4_audio_embed.inputs.encoded_audio import EncodedAudio
from gemma4_audio_embed.inputs.keys import UniqueKeys
from gemma4_audio_embed.inputs.samples import float_samples
from gemma4_audio_embed.inputs.sources import BadInput
from gemma4_audio_embed.inputs.sources import metadata_of
from gemma4_audio_embed.tf_example import example_features
from gemma4_audio_embed.tfrecord import OversizedRecord
from gemma4_audio_embed.tfrecord import tfrecord_payloads

RATE_FEATURES = ("sample_rate", "sampling_rate")  # int64 features naming the rate of decoded samples


def _feature_metadata(features: dict, audio_feature: str) -> dict:
    """The example's features other than the audio: one value as a scalar, several as a list.

    Bytes values are UTF-8 text; a feature with bytes that are not UTF-8 (binary data) is left
    out, as Parquet's binary columns are.
    """
    metadata = {}
    for name, values in features.items():
        if name == audio_feature:
            continue
        try:
            values = [value.decode("utf-8") if isinstance(value, bytes) else value for value in values]
        except UnicodeDecodeError:
            continue
        metadata[name] = values[0] if len(values) == 1 else values
    return metadata_of(metadata)


def _input(features: dict, key: str, uri: str, index: int, audio_feature: str, sample_rate: int | None):
    if audio_feature not in features:
        raise ValueError(f"Record {index} has no feature {audio_feature!r}; it has {sorted(features)}.")
    audio = features[audio_feature]
    if not audio:
        raise ValueError(f"Record {index}: its feature {audio_feature!r} is empty.")
    if isinstance(audio[0], bytes):
        if len(audio) > 1:
            raise ValueError(f"Record {index}: {audio_feature!r} holds {len(audio)} values; expected one encoded file.")
        return EncodedAudio(key=key, source=uri, data=audio[0])
    name = next((name for name in RATE_FEATURES if features.get(name)), None)
    rate = features[name][0] if name else sample_rate
    if name and not (isinstance(rate, (int, float)) and rate > 0 and float(rate).is_integer()):
        raise ValueError(f"Record {index}: expected {name!r} to be a positive whole number. Received: {rate!r}")
    if not rate:
        raise ValueError(
            f"Record {index} holds decoded samples in {audio_feature!r} but no rate: add an int64 "
            f"feature {' or '.join(RATE_FEATURES)}, or pass --tfrecord_sample_rate."
        )
    try:
        samples = float_samples(np.asarray(audio, np.int64 if isinstance(audio[0], int) else np.float32))
    except ValueError as e:
        raise ValueError(f"Record {index}: {e}") from e
    return EncodedAudio(key=key, source=uri, data=None, samples=samples, sample_rate=int(rate))


def tfrecord_shard_inputs(
    stream,
    uri: str,
    audio_feature: str,
    id_feature: str,
    sample_rate: int | None = None,
    keys: UniqueKeys | None = None,
    max_record_bytes: int | None = None,
) -> Iterator[EncodedAudio | BadInput]:
    """Yields one input per `tf.train.Example` in the TFRecord shard at `uri`.

    The audio feature holds either an encoded file (a bytes feature) or decoded mono samples as
    TFDS's `Audio` feature stores them: an int64 list of 16-bit PCM values (scaled by 1/32768)
    or a float list in [-1, 1], at the rate of an int64 `sample_rate` (or `sampling_rate`)
    feature, else `sample_rate`.

    Args:
        stream: binary stream of the shard, already decompressed.
        uri: str. URI of the shard.
        audio_feature: str. Feature holding the audio.
        id_feature: str. Optional bytes or int64 feature naming the example; when an example
            has it, the input key is `<uri>#<id>`, otherwise `<uri>#<record index>`. A repeated
            id gets a distinct key from `keys` (`<uri>#<id>#<record index>`).
        sample_rate: int or None. Rate of decoded samples when no rate feature gives it.
        keys: UniqueKeys. Keys given so far in the shard. Defaults to a new one.
        max_record_bytes: int or None. A record whose length field says more is a BadInput
            naming the cap (`--max_record_bytes`), skipped unread. Defaults to None (no cap).

    Every feature but the audio (`id`, `text`, `sample_rate`, ...) is the input's metadata:
    one value as a scalar, several as a list, bytes as UTF-8 text (non-UTF-8 bytes left out).
    """
    keys = UniqueKeys(uri) if keys is None else keys
    for index, payload in enumerate(tfrecord_payloads(stream, uri, max_record_bytes)):
        if isinstance(payload, OversizedRecord):
            error = ValueError(
                f"Record {index} declares {payload.length} bytes, over the cap of {max_record_bytes} "
                "(--max_record_bytes); it is skipped unread."
            )
            yield BadInput(key=keys.unique(index, index), source=uri, error=error)
            continue
        try:
            features = example_features(payload)
        except Exception as e:  # protobuf's DecodeError names no record
            key = keys.unique(index, index)
            yield BadInput(key=key, source=uri, error=ValueError(f"Record {index} is not a tf.train.Example: {e}"))
            continue
        key = keys.unique(features[id_feature][0] if features.get(id_feature) else index, index)
        try:
            found = _input(features, key, uri, index, audio_feature, sample_rate)
            yield found._replace(metadata=_feature_metadata(features, audio_feature))
        except (ValueError, TypeError) as e:
            yield BadInput(key=key, source=uri, error=e)
