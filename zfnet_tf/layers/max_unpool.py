import keras
import tensorflow as tf

from zfnet_tf.layers.max_pool_with_switches import PADDINGS, pair


def unpool_offsets(values, offsets, pool_size, strides):
    """Puts each value where its window offset points, summing where windows overlap.

    `values` and `offsets` are `[N, h, w, C]`; `offsets[n, i, j, c] = dy * pool_width + dx`
    (`max_pool_offsets`' switches) says which position of window (i, j) held the maximum.
    Returns the `[N, (h - 1) * stride + pool, ...]` maps under those windows (no padding
    removed). Overlapping windows that chose the same pixel add, which is what makes this the
    gradient of max-pooling.

    Dense, without a scatter: each window position (dy, dx) keeps the values whose switch is
    that position and shifts them by (dy, dx) on a stride-phase grid, and the phases are
    interleaved (`depth_to_space` when the strides are equal).
    """
    (pool_h, pool_w), (stride_h, stride_w) = pair(pool_size, "pool_size"), pair(strides, "strides")
    height, width = values.shape[1], values.shape[2]
    reach_h, reach_w = max((pool_h - 1) // stride_h, 0), max((pool_w - 1) // stride_w, 0)
    phases = []
    for phase_y in range(stride_h):
        for phase_x in range(stride_w):
            placed = []
            for dy in range(phase_y, pool_h, stride_h):
                for dx in range(phase_x, pool_w, stride_w):
                    chosen = tf.where(
                        tf.equal(offsets, tf.constant(dy * pool_w + dx, offsets.dtype)), values, 0.0
                    )
                    shift_y, shift_x = dy // stride_h, dx // stride_w
                    placed.append(
                        tf.pad(
                            chosen,
                            [[0, 0], [shift_y, reach_h - shift_y], [shift_x, reach_w - shift_x], [0, 0]],
                        )
                    )
            phases.append(
                tf.add_n(placed) if placed else tf.pad(tf.zeros_like(values), [[0, 0], [0, reach_h], [0, reach_w], [0, 0]])
            )
    if stride_h == stride_w == 1:
        unpooled = phases[0]
    elif stride_h == stride_w:
        unpooled = tf.nn.depth_to_space(tf.concat(phases, axis=-1), stride_h)
    else:
        # [N, h', w', sy * sx * C] -> [N, h', sy, w', sx, C]: the interleave depth_to_space does.
        stacked = tf.stack(phases, axis=3)  # [N, h', w', sy * sx, C]
        shape = tf.shape(stacked)
        stacked = tf.reshape(stacked, [shape[0], shape[1], shape[2], stride_h, stride_w, shape[4]])
        stacked = tf.transpose(stacked, [0, 1, 3, 2, 4, 5])
        unpooled = tf.reshape(stacked, [shape[0], shape[1] * stride_h, shape[2] * stride_w, shape[4]])
    out_h = (height - 1) * stride_h + pool_h
    out_w = (width - 1) * stride_w + pool_w
    return unpooled[:, :out_h, :out_w, :]


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
