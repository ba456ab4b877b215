"""Normalisation layers of the Gemma 4 audio encoder, computed in float32 whatever the policy.

Axis legend: `...` any leading axes, `D` the normalised (last) axis.
"""

import keras


def _to_float32(x):
    return keras.ops.cast(x, "float32")


class RMSNorm(keras.layers.Layer):
    """Root-mean-square norm over the last axis, with an optional learned scale.

    `y = x * (mean(x^2) + epsilon)^(-1/2) * scale`, computed in float32 and cast back to the
    compute dtype. The scale multiplies directly (`scale`, not `1 + scale`) and starts at ones,
    as in the released checkpoints.

    Args:
        epsilon: float. Added to the mean square. Defaults to `1e-6`.
        with_scale: bool. Whether the layer has a learned `scale` of shape `[D]`. The
            multimodal embedder's norm has none. Defaults to `True`.

    Call arguments:
        x: float `[..., D]`.

    Returns:
        `[..., D]` in the compute dtype.
    """

    def __init__(self, epsilon=1e-6, with_scale=True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.with_scale = with_scale

    def build(self, input_shape):
        if self.with_scale:
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        x32 = _to_float32(x)
        mean_square = keras.ops.mean(keras.ops.square(x32), axis=-1, keepdims=True)
        y = x32 * keras.ops.rsqrt(mean_square + self.epsilon)
        if self.with_scale:
            y = y * _to_float32(self.scale)
        return keras.ops.cast(y, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "with_scale": self.with_scale})
        return config


class ChannelLayerNorm(keras.layers.Layer):
    """Layer norm over the last (channel) axis with a learned scale and no bias.

    `y = (x - mean) / sqrt(var + epsilon) * gamma` with the biased variance, in float32. The
    SSCP applies it separately at every (time, frequency) position of its NHWC maps.

    Args:
        epsilon: float. Added to the variance. Defaults to `1e-6`.

    Call arguments:
        x: float `[..., C]`.

    Returns:
        `[..., C]` in the compute dtype.
    """

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gamma")

    def call(self, x):
        x32 = _to_float32(x)
        mean = keras.ops.mean(x32, axis=-1, keepdims=True)
        centred = x32 - mean
        variance = keras.ops.mean(keras.ops.square(centred), axis=-1, keepdims=True)
        y = centred * keras.ops.rsqrt(variance + self.epsilon) * _to_float32(self.gamma)
        return keras.ops.cast(y, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
