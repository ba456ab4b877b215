"""`tf.train.Example` without TensorFlow: the message class rebuilt from its field numbers, and a parser.

The wire format carries only field numbers (tensorflow/core/example/{example,feature}.proto), so
`Example` here reads and writes exactly what TensorFlow's does; protobuf is all it needs.
"""

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory


def _example_message_classes():
    """Builds `Example` and `Features` message classes with tf.train.Example's wire layout."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="gemma4_audio_embed/example.proto", package="gemma4_audio_embed.example", syntax="proto3"
    )
    label_repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    label_optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    types = descriptor_pb2.FieldDescriptorProto
    for name, value_type in [
        ("BytesList", types.TYPE_BYTES),
        ("FloatList", types.TYPE_FLOAT),
        ("Int64List", types.TYPE_INT64),
    ]:
        message = proto.message_type.add(name=name)
        message.field.add(name="value", number=1, label=label_repeated, type=value_type)
    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, type_name) in enumerate(
        [("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")], start=1
    ):
        feature.field.add(
            name=name,
            number=number,
            label=label_optional,
            type=types.TYPE_MESSAGE,
            type_name=f".gemma4_audio_embed.example.{type_name}",
            oneof_index=0,
        )
    features = proto.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=label_optional, type=types.TYPE_STRING)
    entry.field.add(
        name="value",
        number=2,
        label=label_optional,
        type=types.TYPE_MESSAGE,
        type_name=".gemma4_audio_embed.example.Feature",
    )
    features.field.add(
        name="feature",
        number=1,
        label=label_repeated,
        type=types.TYPE_MESSAGE,
        type_name=".gemma4_audio_embed.example.Features.FeatureEntry",
    )
    example = proto.message_type.add(name="Example")
    example.field.add(
        name="features",
        number=1,
        label=label_optional,
        type=types.TYPE_MESSAGE,
        type_name=".gemma4_audio_embed.example.Features",
    )
    file = descriptor_pool.DescriptorPool().Add(proto)
    return message_factory.GetMessageClass(file.message_types_by_name["Example"])


Example = _example_message_classes()


def example_features(serialized: bytes) -> dict:
    """Parses any serialized `tf.train.Example` into `{name: list of values}` (bytes, float or int)."""
    example = Example.FromString(serialized)
    features = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        features[name] = list(getattr(feature, kind).value) if kind else []
    return features
