"""Reader of TFRecord shards of `tf.train.Example`s that carry encoded audio bytes."""

from typing import Iterator
from typing import Union

from transforms.elements import EncodedAudio
from transforms.records import example_features
from transforms.records import tfrecord_payloads
from transforms.sources import BadInput


def tfrecord_shard_inputs(
    stream, uri: str, audio_feature: str, id_feature: str
) -> Iterator[Union[EncodedAudio, BadInput]]:
    """Yields one input per `tf.train.Example` in the TFRecord shard at `uri`.

    Args:
        stream: binary stream of the shard, already decompressed.
        uri: str. URI of the shard.
        audio_feature: str. Bytes feature holding the encoded audio file (WAV, FLAC, OGG, MP3).
        id_feature: str. Optional bytes or int64 feature naming the example; when an example
            has it, the input key is `<uri>#<id>`, otherwise `<uri>#<record index>`.
    """
    for index, payload in enumerate(tfrecord_payloads(stream, uri)):
        key = f"{uri}#{index}"
        try:
            features = example_features(payload)
        except Exception as e:  # protobuf's DecodeError names no record
            yield BadInput(
                key=key, source=uri, error=ValueError(f"Record {index} is not a tf.train.Example: {e}")
            )
            continue
        if features.get(id_feature):
            value = features[id_feature][0]
            key = f"{uri}#{value.decode() if isinstance(value, bytes) else value}"
        audio = features.get(audio_feature)
        if not audio or not isinstance(audio[0], bytes):
            yield BadInput(
                key=key,
                source=uri,
                error=ValueError(
                    f"Record {index} has no bytes feature {audio_feature!r}; it has {sorted(features)}."
                ),
            )
            continue
        yield EncodedAudio(key=key, source=uri, data=audio[0])
