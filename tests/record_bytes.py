"""Test helper: the serialized records of a set of TFRecord files, by clip key."""

from gemma4_audio_embed import tfrecord
from gemma4_audio_embed.outputs import schema


def record_bytes_by_key(paths) -> dict:
    """`{clip key: serialized record}` over `paths` (uncompressed TFRecord); fails on a duplicate key."""
    found = {}
    for path in paths:
        with open(path, "rb") as f:
            for payload in tfrecord.tfrecord_payloads(f, str(path)):
                key = schema.decoded_example(payload).key
                assert key not in found, f"{key} was written twice."
                found[key] = payload
    return found
