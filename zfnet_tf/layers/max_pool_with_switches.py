import keras
import numpy as np
import tensorflow as tf

PADDINGS = ("same", "valid")


def pair(value, name: str = "value") -> tuple[int, int]:
    """`(rows, cols)` from an int or a pair of ints."""
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(values[0]), int(values[1])


def pooled_size(size: int, pool_size: int, strides: int, padding: str) -> int:
    if padding == "same":
        return -(-size // strides)
    return (size - pool_size) // strides + 1


def same_padding_before(size: int, pool_size: int, strides: int) -> int:
    """Implicit padding before the input of a "same" pooling or convolution (TensorFlow puts
    the odd one after)."""
    out = pooled_size(size, pool_size, strides, "same")
    return max((out - 1) * strides + pool_size - size, 0) // 2


def max_pool_offsets(inputs, pool_size, strides, padding: str):
    """Max-pooling and the window offset `dy * pool_width + dx` of each maximum.

    `pool_size` and `strides` are ints or `(rows, cols)` pairs. Offsets are int8 when they
    fit (pools up to 11x11), else int32.

    The first maximum in row-major window order wins ties, as in `tf.nn.max_pool_with_argmax`
    and in max-pooling's gradient. That op's CPU kernel runs ~30x slower than max-pooling and
    has no XLA kernel, so the maximum comes from `max_pool2d` and the offset from comparing it
    with each window position, read from a stride-phase view of the input (strided slicing is
    itself slow on CPU). Needs a static height and width.
    """
    height, width = inputs.shape[1], inputs.shape[2]
    if height is None or width is None:
        raise ValueError(f"max_pool_offsets needs a static height and width, got shape {inputs.shape}")
    (pool_h, pool_w), (stride_h, stride_w) = pair(pool_size, "pool_size"), pair(strides, "strides")
    pooled = tf.nn.max_pool2d(inputs, (pool_h, pool_w), (stride_h, stride_w), padding.upper())
    out_h, out_w = pooled.shape[1], pooled.shape[2]
    top, left = (
        (same_padding_before(height, pool_h, stride_h), same_padding_before(width, pool_w, stride_w))
        if padding == "same"
        else (0, 0)
    )
    # Phase view: padded[b, q * stride + phase] == phased[b, q, phase]; window position d of
    # output i reads padded row i * stride + d, i.e. q = i + d // stride, phase = d % stride.
    reach_h, reach_w = (pool_h - 1) // stride_h, (pool_w - 1) // stride_w
    padded_h, padded_w = stride_h * (out_h + reach_h), stride_w * (out_w + reach_w)
    channels = inputs.shape[3] if inputs.shape[3] is not None else tf.shape(inputs)[3]
    cropped = inputs[:, : padded_h - top, : padded_w - left, :]
    padded = tf.pad(
        cropped,
        [
            [0, 0],
            [top, max(padded_h - top - height, 0)],
            [left, max(padded_w - left - width, 0)],
            [0, 0],
        ],
        constant_values=float("-inf"),
    )
    phased = tf.reshape(padded, [-1, out_h + reach_h, stride_h, out_w + reach_w, stride_w, channels])
    dtype = tf.int8 if pool_h * pool_w < 128 else tf.int32
    offsets = tf.fill(tf.shape(pooled), tf.constant(pool_h * pool_w, dtype))
    for dy in reversed(range(pool_h)):
        for dx in reversed(range(pool_w)):
            window = phased[:, dy // stride_h : dy // stride_h + out_h, dy % stride_h,
                            dx // stride_w : dx // stride_w + out_w, dx % stride_w, :]
            # Visiting positions last-to-first lets the first maximum overwrite the others.
            offsets = tf.where(tf.equal(window, pooled), tf.constant(dy * pool_w + dx, dtype), offsets)
    return pooled, offsets


@keras.saving.register_keras_serializable(package="zfnet_tf")
class MaxPoolWithSwitches(keras.layers.Layer):
    """2D max-pooling that can also emit the location of each maximum ("switches").

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (arXiv 1311.2901),
    Sec. 2.1: "we can obtain an approximate inverse [of max pooling] by recording the locations
    of the maxima within each pooling region in a set of switch variables". ZFNet pools 3x3 with
    stride 2 after layers 1, 2 and 5 (Fig. 3).

    The pooled maps equal `keras.layers.MaxPooling2D` with the same arguments. The switches are
    int64 flat indices into the *whole batch* of un-pooled inputs,
    `((b * height + y) * width + x) * channels + c`, of the unpadded input (as
    `tf.nn.max_pool_with_argmax(include_batch_in_index=True)`); a tie picks the first maximum in
    the window. `MaxUnpool` places values at those positions (it reads them off the pooling's
    input, where TensorFlow's max-pool gradient finds them fastest).

    With `return_switches=False` (the default inside ZFNet models) `call` returns only the
    pooled maps: a training graph with no switch computation in it. Switches are computed from
    `tf.nn.max_pool2d` and window comparisons rather than with `tf.nn.max_pool_with_argmax`,
    whose CPU kernel is slow and which has no XLA kernel, so graphs with switches compile with
    `jit_compile=True` too.

    Args:
        pool_size: side of the square pooling window (default 3).
        strides: stride of the window (default 2).
        padding: "valid" or "same".
        return_switches: whether `call` returns `(pooled, switches)` or only `pooled`.

    Input shape: `(batch, height, width, channels)`.
    Output shape: pooled `(batch, pooled_height, pooled_width, channels)`, and switches of the
    same shape, int64, when `return_switches`.
    """

    def __init__(
        self,
        pool_size: int = 3,
        strides: int = 2,
        padding: str = "valid",
        return_switches: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        padding = str(padding).lower()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if pool_size < 1 or strides < 1:
            raise ValueError(f"pool_size and strides must be >= 1, got {pool_size}, {strides}")
        self.pool_size = int(pool_size)
        self.strides = int(strides)
        self.padding = padding
        self.return_switches = bool(return_switches)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"{self.name}: expected inputs of rank 4 (batch, height, width, channels), "
                f"got shape {input_shape}"
            )

    def pool_with_offsets(self, inputs):
        """Returns `(pooled, offsets)`: integer offsets `dy * pool_size + dx` of each maximum in
        its window (row-major; the first maximum wins ties). Needs a static spatial size.

        This is the switches in window-local form (the paper's "location of the maximum within
        each pooling region"); `pool_with_switches` turns them into flat indices.
        """
        return max_pool_offsets(inputs, self.pool_size, self.strides, self.padding)

    def padding_before(self, height: int, width: int) -> tuple[int, int]:
        """Rows and columns of implicit padding above and left of the input ("same")."""
        if self.padding == "valid":
            return 0, 0
        return (
            same_padding_before(height, self.pool_size, self.strides),
            same_padding_before(width, self.pool_size, self.strides),
        )

    def pool_with_switches(self, inputs):
        """Returns `(pooled, switches)`, whatever `return_switches` says."""
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            return tf.nn.max_pool_with_argmax(
                inputs,
                ksize=self.pool_size,
                strides=self.strides,
                padding=self.padding.upper(),
                output_dtype=tf.int64,
                include_batch_in_index=True,
            )
        pooled, offsets = self.pool_with_offsets(inputs)
        top, left = self.padding_before(height, width)
        offsets = tf.cast(offsets, tf.int64)
        out_h, out_w = pooled.shape[1], pooled.shape[2]
        rows = tf.range(out_h, dtype=tf.int64)[None, :, None, None] * self.strides - top + offsets // self.pool_size
        cols = tf.range(out_w, dtype=tf.int64)[None, None, :, None] * self.strides - left + offsets % self.pool_size
        shape = tf.shape(inputs, out_type=tf.int64)
        images = tf.range(shape[0])[:, None, None, None]
        maps = tf.range(shape[3])[None, None, None, :]
        switches = ((images * height + rows) * width + cols) * shape[3] + maps
        return pooled, switches

    def call(self, inputs):
        if self.return_switches:
            return self.pool_with_switches(inputs)
        return tf.nn.max_pool2d(inputs, self.pool_size, self.strides, self.padding.upper())

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        height = None if height is None else pooled_size(height, self.pool_size, self.strides, self.padding)
        width = None if width is None else pooled_size(width, self.pool_size, self.strides, self.padding)
        shape = (batch, height, width, channels)
        return (shape, shape) if self.return_switches else shape

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape(inputs.shape)
        if not self.return_switches:
            return keras.KerasTensor(shape, dtype=inputs.dtype)
        return (
            keras.KerasTensor(shape[0], dtype=inputs.dtype),
            keras.KerasTensor(shape[1], dtype="int64"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
                "return_switches": self.return_switches,
            }
        )
        return config
