import keras
import tensorflow as tf

from zfnet_tf.layers.max_pool_with_switches import PADDINGS, pair


def unpool(values, maps, pool_size, strides, padding: str, pooled=None):
    """Puts each value of `values` where the max-pooling of `maps` found its maximum, summing
    where windows overlap; 0 elsewhere.

    `maps` `[N, H, W, C]` are the pooling's inputs (they hold the switches: the first maximum
    of each window wins ties) and `values` `[N, h, w, C]` its output grid; `pooled`, if given,
    is `max_pool2d(maps)`. Returns `[N, H, W, C]`. Overlapping windows that chose the same
    pixel add, which makes this max-pooling's gradient: TensorFlow's `MaxPoolGrad`, which
    finds each window's maximum and places the value in one pass (on CPU ~9x faster than
    comparing every window position with the maximum and shifting, and than a scatter).
    """
    (pool_h, pool_w), (stride_h, stride_w) = pair(pool_size, "pool_size"), pair(strides, "strides")
    padding = padding.upper()
    maps = tf.convert_to_tensor(maps)
    if pooled is None:
        pooled = tf.nn.max_pool2d(maps, (pool_h, pool_w), (stride_h, stride_w), padding)
    return tf.raw_ops.MaxPoolGrad(
        orig_input=maps,
        orig_output=pooled,
        grad=tf.cast(values, maps.dtype),
        ksize=[1, pool_h, pool_w, 1],
        strides=[1, stride_h, stride_w, 1],
        padding=padding,
    )


@keras.saving.register_keras_serializable(package="zfnet_tf")
class MaxUnpool(keras.layers.Layer):
    """Unpooling with switches: the deconvnet's approximate inverse of max-pooling.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (arXiv 1311.2901),
    Sec. 2.1 and Fig. 1: "the unpooling operation uses these switches to place the
    reconstructions from the layer above into appropriate locations, preserving the structure
    of the stimulus".

    Each input value goes to the flat position its switch recorded (as emitted by
    `MaxPoolWithSwitches`: indices into the whole un-pooled batch); every other position is 0.
    Where overlapping windows (3x3 stride 2) chose the same position their values *add*: this
    makes unpooling exactly the gradient of max-pooling, which the deconvnet's correctness rests
    on (DESIGN §4).

    Args:
        pool_size, strides, padding: those of the pooling being inverted; they give the
            un-pooled size when neither `output_size` nor the call's `output_size` does
            (`padding="valid"`: `(n - 1) * strides + pool_size`; `"same"`: `n * strides`).
        output_size: `(height, width)` of the un-pooled maps, if known when building.

    Call arguments:
        inputs: `(batch, height, width, channels)` values to place.
        switches: int64 tensor of the same shape.
        output_size: optional `(height, width)` overriding the constructor's.

    Output shape: `(batch, output_height, output_width, channels)`.
    """

    def __init__(
        self,
        pool_size: int = 3,
        strides: int = 2,
        padding: str = "valid",
        output_size: tuple[int, int] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        padding = str(padding).lower()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        self.pool_size = int(pool_size)
        self.strides = int(strides)
        self.padding = padding
        self.output_size = None if output_size is None else tuple(int(s) for s in output_size)

    def _unpooled_size(self, size):
        if self.padding == "same":
            return size * self.strides
        return (size - 1) * self.strides + self.pool_size

    def call(self, inputs, switches, output_size=None):
        output_size = output_size if output_size is not None else self.output_size
        shape = tf.shape(inputs, out_type=tf.int64)
        if output_size is None:
            height, width = self._unpooled_size(shape[1]), self._unpooled_size(shape[2])
        else:
            height, width = tf.cast(output_size[0], tf.int64), tf.cast(output_size[1], tf.int64)
        output_shape = tf.stack([shape[0], height, width, shape[3]])
        flat = tf.scatter_nd(
            tf.reshape(tf.cast(switches, tf.int64), [-1, 1]),
            tf.reshape(inputs, [-1]),
            tf.reshape(tf.reduce_prod(output_shape), [1]),
        )
        return tf.reshape(flat, output_shape)

    def compute_output_shape(self, input_shape, switches_shape=None, output_size=None):
        batch, height, width, channels = input_shape
        output_size = output_size if output_size is not None else self.output_size
        if output_size is not None:
            return (batch, output_size[0], output_size[1], channels)
        height = None if height is None else self._unpooled_size(height)
        width = None if width is None else self._unpooled_size(width)
        return (batch, height, width, channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
                "output_size": self.output_size,
            }
        )
        return config
