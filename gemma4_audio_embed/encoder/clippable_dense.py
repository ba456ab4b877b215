"""A bias-free linear layer with the released model's input and output clip bounds.

Axis legend: `...` any leading axes, `I` input features, `O` output features.
"""

import keras

from gemma4_audio_embed.encoder.matmul import float32_accumulated_matmul

CLIP_BOUND_NAMES = ("input_min", "input_max", "output_min", "output_max")


class ClippableDense(keras.layers.Layer):
    """`y = clip(clip(x, input_min, input_max) @ kernel, output_min, output_max)`.

    The released Gemma 4 checkpoints store four scalar bounds for every conformer linear
    (`use_clipped_linears=true`). They are non-trainable weights that start at -inf/+inf, so
    the layer is a plain bias-free `Dense` until a checkpoint sets them.

    Args:
        units: int. Output width `O`.
        kernel_initializer: initializer for the `[I, O]` kernel. Defaults to `"glorot_uniform"`.

    Call arguments:
        x: float `[..., I]`.

    Returns:
        `[..., O]` in the compute dtype; in bfloat16 the product is summed in float32 and
        rounded once (`float32_accumulated_matmul`).
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer=self.kernel_initializer, name="kernel"
        )
        for bound in CLIP_BOUND_NAMES:
            value = float("-inf") if bound.endswith("min") else float("inf")
            setattr(
                self,
                bound,
                self.add_weight(shape=(), initializer=keras.initializers.Constant(value), trainable=False, name=bound),
            )

    def _clip(self, x, low, high):
        return keras.ops.minimum(keras.ops.maximum(x, keras.ops.cast(low, x.dtype)), keras.ops.cast(high, x.dtype))

    def call(self, x):
        x = self._clip(x, self.input_min, self.input_max)
        y = float32_accumulated_matmul(x, self.kernel)
        return self._clip(y, self.output_min, self.output_max)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
