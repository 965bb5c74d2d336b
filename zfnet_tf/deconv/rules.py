"""How a signal goes down through each kind of layer: the deconvnet's rule, stated once.

Zeiler & Fergus (arXiv 1311.2901, Sec. 2.1) project an activation to pixels by unpooling
through the max-pools' switches, rectifying, and filtering with the transposed forward kernels.
Stated for any network, that is a modified backward pass seeded with the selected activations:

- a ReLU (a layer, or the fused activation of `Conv2D` / `Dense`) takes the rule's backward:
  `deconvnet` ReLU of the incoming signal (Zeiler & Fergus), `guided` also zero where the
  forward input was not positive (Springenberg et al., arXiv 1412.6806), `gradient` the true
  gradient (the incoming signal where the forward input was positive);
- contrast / response normalization passes the signal unchanged (`deconvnet`, `guided`), or
  takes its true backward (`gradient`, which is then the model's plain gradient);
- every other supported layer takes its exact backward: max pooling puts the signal where its
  switch points (overlaps add), a convolution is transposed with the layer's own kernel,
  `Dense` multiplies by its kernel's transpose, and so on (one `LayerRule` per kind below).

Signals travel in *windows*. A projection of one activation only reaches the part of each
lower map inside that activation's receptive field, so its signal is kept as a window of the
map, `Window(jump, start, size)`: row i of the window is map row `location * jump - start + i`,
where `location` is the projected activation's position in the top maps (jump 0: the window is
the whole map, fixed). The same `window` arithmetic gives the receptive fields.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.layers import LocalContrastNormalization, LocalResponseNormalization, MaxPoolWithSwitches, MaxUnpool
from zfnet_tf.layers.max_pool_with_switches import pair, same_padding_before

RULES = ("deconvnet", "guided", "gradient")
# Strided transposed convs with fewer output channels than this run as phase convolutions.
PHASE_CONV_MAX_CHANNELS = 16


# -- windows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Where a signal's rows and columns sit in its tensor's maps, per axis (rows, columns).

    Row i of the signal is map row `location * jump - start + i`. `jump == 0` means the window
    does not follow the location: it is fixed, and `full(extent)` is the whole map.
    """

    jump: tuple[int, int]
    start: tuple[int, int]
    size: tuple[int, int]

    @staticmethod
    def full(extent: Sequence[int]) -> "Window":
        return Window((0, 0), (0, 0), (int(extent[0]), int(extent[1])))

    @staticmethod
    def point() -> "Window":
        return Window((1, 1), (0, 0), (1, 1))

    def is_full(self, extent: Sequence[int]) -> bool:
        return self == Window.full(extent)

    def strided(self, kernel: Sequence[int], strides: Sequence[int], pad_before: Sequence[int]) -> "Window":
        """The input window under this output window of a conv or pool: output row o reads
        input rows `o * stride - pad_before + [0, kernel)`."""
        return Window(
            tuple(j * s for j, s in zip(self.jump, strides)),
            tuple(b * s + p for b, s, p in zip(self.start, strides, pad_before)),
            tuple((n - 1) * s + k for n, s, k in zip(self.size, strides, kernel)),
        )

    def shifted(self, rows: int, cols: int) -> "Window":
        """The same window in a map whose row r is this map's row r - rows (and columns)."""
        return replace(self, start=(self.start[0] + rows, self.start[1] + cols))

    def offsets(self, location):
        """`[N, 2]` int32 map position of each signal's first row and column."""
        jump = tf.constant(self.jump, tf.int32)
        return location * jump - tf.constant(self.start, tf.int32)

    def clip(self, extent: Sequence[int]) -> "Window":
        """Whole-map on each axis where the window covers the map anyway (cheaper)."""
        jump, start, size = list(self.jump), list(self.start), list(self.size)
        for axis in range(2):
            if jump[axis] == 0 or size[axis] >= extent[axis]:
                jump[axis], start[axis], size[axis] = 0, 0, int(extent[axis])
        return Window(tuple(jump), tuple(start), tuple(size))

    def union(self, other: "Window", extent: Sequence[int]) -> "Window":
        """The smallest window holding both (whole-map where their jumps differ)."""
        jump, start, size = [], [], []
        for axis in range(2):
            if self.jump[axis] != other.jump[axis]:
                jump.append(0), start.append(0), size.append(int(extent[axis]))
                continue
            low = min(-self.start[axis], -other.start[axis])
            high = max(-self.start[axis] + self.size[axis], -other.start[axis] + other.size[axis])
            jump.append(self.jump[axis]), start.append(-low), size.append(high - low)
        return Window(tuple(jump), tuple(start), tuple(size))


@dataclass
class Signal:
    """A signal on its way down: `values` `[N, h, w, C]` in `window` of a spatial tensor, or
    `[N, ...]` with `window=None` for a tensor without maps (a `Dense` output).

    `dirty`: positions of the window outside the map may hold values. They belong to no map
    position, so they are zeroed (`Projector.clean`) before an operation moves values across
    positions.
    """

    values: tf.Tensor
    window: Window | None
    dirty: bool = False


def spatial(shape: Sequence) -> bool:
    return len(shape) == 4


def extent(shape: Sequence) -> tuple[int, int]:
    return int(shape[1]), int(shape[2])


# -- the projection context: what rules read --------------------------------------------------


@dataclass
class Projector:
    """What the rules of one projection share: the forward values and where each row looks.

    Attributes:
        rule: one of `RULES`.
        shapes: static shape of every tensor by key.
        forward: forward value `[B, ...]` of every tensor by key.
        location: int32 `[N, 2]`: the projected activation's position in the top maps.
        image_index: int32 `[N]`: the image (row of `forward`) each projection comes from.
        per_image: K, the projections per image (`N = B * K`; None: any).
        grid: `(height, width)` of the top maps, where the locations lie.
    """

    rule: str
    shapes: dict
    forward: dict = field(default_factory=dict)
    location: tf.Tensor | None = None
    image_index: tf.Tensor | None = None
    per_image: int | None = 1
    grid: tuple[int, int] = (1, 1)

    def forward_in(self, key: int, window: Window | None):
        """The forward value of tensor `key` under each row's window, float32 `[N, h, w, C]`
        (positions outside the map hold 0)."""
        values = tf.cast(self.forward[key], tf.float32)
        if window is None or window.is_full(extent(self.shapes[key])):
            return values if self.per_image == 1 else tf.gather(values, self.image_index)
        return gather_windows(values, self.image_index, window, self.location, self.grid)

    def clean(self, signal: Signal, key: int) -> Signal:
        """Zeroes the positions of a dirty signal that lie outside tensor `key`'s maps."""
        if not signal.dirty:
            return signal
        inside = inside_mask(signal.window, self.location, extent(self.shapes[key]))
        return Signal(signal.values * tf.cast(inside, signal.values.dtype), signal.window)

    def reframe(self, signal: Signal, target: Window | None, key: int) -> Signal:
        """`signal` moved to window `target` of tensor `key`, a window that holds the signal's
        positions inside the map (`Window.clip`, `Window.union` of the planned windows)."""
        if target is None or signal.window == target:
            return signal
        values, source = signal.values, signal.window
        map_extent = extent(self.shapes[key])
        moving = []
        for axis in range(2):
            if source.jump[axis] == target.jump[axis]:
                # Both windows move together: a fixed crop or pad.
                begin = source.start[axis] - target.start[axis]
                end = begin + target.size[axis]
                before, after = max(-begin, 0), max(end - source.size[axis], 0)
                if before or after:
                    pads = [[0, 0]] * 4
                    pads[1 + axis] = [before, after]
                    values = tf.pad(values, pads)
                begin += before
                values = values[:, begin : begin + target.size[axis]] if axis == 0 else values[:, :, begin : begin + target.size[axis]]
            else:
                moving.append(axis)  # a moving window placed in the whole map
        if moving:
            values = _place(values, source.offsets(self.location), axes=tuple(moving), extent=map_extent)
        whole = target.is_full(map_extent)
        return Signal(values, target, dirty=signal.dirty and not whole)


@functools.partial(tf.function, jit_compile=True)
def _place(values, offsets, axes: tuple, extent: tuple):
    """Windows `[N, h, w, C]` whose first row and column sit at `offsets` `[N, 2]` of a map,
    placed in zero maps of `extent` along `axes` (what falls outside the map is dropped).

    XLA fuses the gathers and the mask into one pass (~4x faster than separate ops on CPU).
    """
    for axis in axes:
        size = values.shape[1 + axis]
        index = tf.range(extent[axis])[None, :] - offsets[:, axis : axis + 1]
        inside = (index >= 0) & (index < size)
        values = tf.gather(values, tf.clip_by_value(index, 0, size - 1), axis=1 + axis, batch_dims=1)
        shape = [-1, 1, 1, 1]
        shape[1 + axis] = extent[axis]
        values = values * tf.cast(tf.reshape(inside, shape), values.dtype)
    return values


@functools.partial(tf.function, jit_compile=True)
def gather_windows(maps, image_index, window: Window, location, grid: tuple[int, int], fill: float = 0.0):
    """`maps[image_index[n]]` under row n's window, `[N, h, w, C]`; positions outside the maps
    hold `fill`.

    `grid` is the extent of the locations (the top maps), which bounds how far any window can
    hang over the maps' edges: the maps are padded with `fill` by that much once, so that
    each window is a plain slice of them (no clipping, no masking of `N` windows). XLA fuses
    the padding, the index grid and the gather of many small slices (~1.5-2x faster than
    TensorFlow's separate ops on CPU).
    """
    height, width = maps.shape[1], maps.shape[2]
    before, after = [], []
    for axis, size in enumerate((height, width)):
        first = -window.start[axis]
        last = (grid[axis] - 1) * window.jump[axis] - window.start[axis] + window.size[axis]
        before.append(max(-first, 0))
        after.append(max(last - size, 0))
    padded = tf.pad(
        maps, [[0, 0], [before[0], after[0]], [before[1], after[1]], [0, 0]], constant_values=fill
    )
    offsets = window.offsets(location) + tf.constant(before, tf.int32)
    rows = offsets[:, :1] + tf.range(window.size[0])[None, :]
    cols = offsets[:, 1:] + tf.range(window.size[1])[None, :]
    shape = [tf.shape(rows)[0], window.size[0], window.size[1]]
    grid_index = tf.stack(
        [
            tf.broadcast_to(image_index[:, None, None], shape),
            tf.broadcast_to(rows[:, :, None], shape),
            tf.broadcast_to(cols[:, None, :], shape),
        ],
        axis=-1,
    )
    return tf.gather_nd(padded, grid_index)


def inside_mask(window: Window, location, map_extent: Sequence[int]):
    """`[N, h, w, 1]` bool: which window positions lie inside a map of `map_extent`."""
    offsets = window.offsets(location)
    rows = offsets[:, :1] + tf.range(window.size[0])[None, :]
    cols = offsets[:, 1:] + tf.range(window.size[1])[None, :]
    inside_rows = (rows >= 0) & (rows < map_extent[0])
    inside_cols = (cols >= 0) & (cols < map_extent[1])
    return inside_rows[:, :, None, None] & inside_cols[:, None, :, None]


# -- activations ----------------------------------------------------------------------------


def activation_name(function) -> str:
    if function is None:
        return "linear"
    return getattr(function, "__name__", repr(function))


def check_activation(layer, supported: tuple[str, ...]) -> None:
    """A ValueError naming `layer`, its activation and `supported` unless it is one of them."""
    name = activation_name(layer.activation)
    if name not in supported:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}): activation {name!r} is not supported "
            f"({', '.join(supported)})"
        )


def activation_backward(layer, name: str, signal: Signal, key: int, projector: Projector) -> Signal:
    """The backward of activation `name`, whose forward output is tensor `key`.

    ReLU takes the projection rule's backward; the others their exact backward.
    """
    if name == "linear":
        return signal
    if name == "relu":
        if projector.rule == "deconvnet":
            return replace(signal, values=tf.nn.relu(signal.values))
        positive = projector.forward_in(key, signal.window) > 0
        values = tf.nn.relu(signal.values) if projector.rule == "guided" else signal.values
        return replace(signal, values=tf.where(positive, values, 0.0))
    if name == "softmax":
        probabilities = projector.forward_in(key, signal.window)
        values = signal.values
        return replace(
            signal,
            values=probabilities * (values - tf.reduce_sum(values * probabilities, axis=-1, keepdims=True)),
        )
    raise ValueError(f"layer {layer.name!r}: activation {name!r} is not supported (relu, linear, softmax)")


# -- one rule per layer kind ------------------------------------------------------------------


class LayerRule:
    """How one kind of layer is gone through: the geometry and the backward of one call."""

    #: Keras classes this rule handles.
    classes: tuple[type, ...] = ()

    def whole_maps(self, rule: str) -> bool:
        """Whether the backward (under projection rule `rule`) must see whole maps at the
        output rather than windows; the planned windows then make them so."""
        return False

    def check(self, layer) -> None:
        """Raises ValueError naming the layer if its configuration is not supported."""

    def windows(self, node, out_windows: list, shapes: dict, rule: str) -> list:
        """The input windows a backward from `out_windows` reaches (natural, unclipped)."""
        window = out_windows[0]
        return [window for _ in node.inputs]

    def backward(self, node, signals: list, projector: Projector) -> list:
        raise NotImplementedError


def _check_channels_last(layer) -> None:
    data_format = getattr(layer, "data_format", "channels_last")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"layer {layer.name!r}: data_format {data_format!r} is not supported (channels_last)")


def _same_pad(size: int, kernel: int, stride: int, padding: str) -> int:
    return same_padding_before(size, kernel, stride) if padding == "same" else 0


class Conv2DRule(LayerRule):
    """`Conv2D`: the activation's backward, then the transposed convolution with the layer's
    own kernel (no bias)."""

    classes = (keras.layers.Conv2D,)

    def check(self, layer) -> None:
        _check_channels_last(layer)
        if getattr(layer, "groups", 1) != 1:
            raise ValueError(f"layer {layer.name!r}: grouped convolutions (groups={layer.groups}) are not supported")
        check_activation(layer, ("relu", "linear"))

    @staticmethod
    def geometry(node, shapes):
        layer = node.layer
        kernel = pair(layer.kernel_size)
        dilation = pair(layer.dilation_rate)
        span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
        strides = pair(layer.strides)
        in_extent = extent(shapes[node.inputs[0]])
        pads = tuple(_same_pad(in_extent[a], span[a], strides[a], layer.padding) for a in range(2))
        return span, strides, pads, dilation

    def windows(self, node, out_windows, shapes, rule):
        span, strides, pads, _ = self.geometry(node, shapes)
        return [None if out_windows[0] is None else out_windows[0].strided(span, strides, pads)]

    def backward(self, node, signals, projector):
        layer = node.layer
        out_key = node.outputs[0]
        signal = activation_backward(layer, activation_name(layer.activation), signals[0], out_key, projector)
        signal = projector.clean(signal, out_key)
        span, strides, pads, dilation = self.geometry(node, projector.shapes)
        kernel = tf.cast(tf.convert_to_tensor(layer.kernel), tf.float32)
        values = transposed_conv(signal.values, kernel, strides, dilation, span)
        window = signal.window.strided(span, strides, pads)
        return [Signal(values, window, dirty=True)]


def transposed_conv(values, kernel, strides, dilation, span):
    """The transposed "valid" convolution of `[N, h, w, out]` windows: `[N, (h - 1) * s + k,
    ...]`, summing each input position's contributions.

    TensorFlow's CPU kernel for a transposed convolution is slow when its output has few
    channels (layer 1's RGB, ~3x here), so a strided one with few output channels runs instead
    as `stride**2` stride-1 correlations with the kernel's phase sub-kernels, stacked as
    channels and interleaved by `depth_to_space`: the same sums, in a well-optimized forward conv.
    """
    size_h, size_w = values.shape[1], values.shape[2]
    in_channels, out_channels = kernel.shape[2], kernel.shape[3]
    out_h = (size_h - 1) * strides[0] + span[0]
    out_w = (size_w - 1) * strides[1] + span[1]
    stride = strides[0]
    if (
        strides[0] == strides[1] > 1
        and dilation == (1, 1)
        and kernel.shape[0] == kernel.shape[1]
        and in_channels < PHASE_CONV_MAX_CHANNELS
    ):
        size = kernel.shape[0]
        taps = -(-size // stride)  # sub-kernel side
        # Tap a = stride * q + p of the kernel feeds output phase p from input row i - q.
        phased = tf.pad(kernel, [[0, stride * taps - size], [0, stride * taps - size], [0, 0], [0, 0]])
        phased = tf.reshape(phased, [taps, stride, taps, stride, in_channels, out_channels])
        phased = tf.reverse(tf.transpose(phased, [0, 2, 5, 1, 3, 4]), axis=[0, 1])
        phased = tf.reshape(phased, [taps, taps, out_channels, stride * stride * in_channels])
        padded = tf.pad(values, [[0, 0], [taps - 1, taps - 1], [taps - 1, taps - 1], [0, 0]])
        return tf.nn.depth_to_space(tf.nn.conv2d(padded, phased, 1, "VALID"), stride)[:, :out_h, :out_w, :]
    output_shape = tf.stack([tf.shape(values)[0], out_h, out_w, in_channels])
    return tf.nn.conv2d_transpose(values, kernel, output_shape, list(strides), "VALID", dilations=list(dilation))


class DenseRule(LayerRule):
    """`Dense`: the activation's backward, then the kernel's transpose (on the last axis)."""

    classes = (keras.layers.Dense,)

    def check(self, layer) -> None:
        check_activation(layer, ("relu", "linear", "softmax"))

    def backward(self, node, signals, projector):
        layer = node.layer
        signal = activation_backward(layer, activation_name(layer.activation), signals[0], node.outputs[0], projector)
        kernel = tf.cast(tf.convert_to_tensor(layer.kernel), tf.float32)
        return [replace(signal, values=tf.tensordot(signal.values, kernel, [[-1], [1]]))]


class MaxPoolRule(LayerRule):
    """Max pooling (`MaxPooling2D`, `MaxPoolWithSwitches`): each value goes to the position
    its window's switch (the first maximum) recorded, summing where windows overlap.

    The switches are found in the forward values under each signal's window: a projection of
    one activation reads only the part of the pool's input its receptive field covers.
    """

    classes = (keras.layers.MaxPooling2D, MaxPoolWithSwitches)

    def check(self, layer) -> None:
        _check_channels_last(layer)

    @staticmethod
    def geometry(node, shapes):
        layer = node.layer
        pool, strides = pair(layer.pool_size), pair(layer.strides or layer.pool_size)
        in_extent = extent(shapes[node.inputs[0]])
        pads = tuple(_same_pad(in_extent[a], pool[a], strides[a], layer.padding) for a in range(2))
        return pool, strides, pads

    def windows(self, node, out_windows, shapes, rule):
        pool, strides, pads = self.geometry(node, shapes)
        return [out_windows[0].strided(pool, strides, pads)]

    def backward(self, node, signals, projector):
        out_key, in_key = node.outputs[0], node.inputs[0]
        signal = projector.clean(signals[0], out_key)
        pool, strides, pads = self.geometry(node, projector.shapes)
        in_extent = extent(projector.shapes[in_key])
        if signal.window.is_full(extent(projector.shapes[out_key])):
            maps = projector.forward_in(in_key, None)
            values = unpool_layer(pool, strides, node.layer.padding)(signal.values, maps)
            return [Signal(values, Window.full(in_extent))]
        # The windows' own pre-pool region, -inf outside the map, pooled "valid".
        in_window = signal.window.strided(pool, strides, pads)
        region = gather_windows(
            tf.cast(projector.forward[in_key], tf.float32),
            projector.image_index, in_window, projector.location, projector.grid, fill=float("-inf"),
        )
        values = unpool_layer(pool, strides, "valid")(signal.values, region)
        return [Signal(values, in_window)]


def unpool_layer(pool, strides, padding: str) -> MaxUnpool:
    # float32 whatever the global mixed-precision policy: projections are computed in float32.
    return MaxUnpool(pool, strides, padding, dtype="float32")


class AveragePoolRule(LayerRule):
    """`AveragePooling2D`: each output's signal spread evenly over its window (the exact
    backward, TensorFlow's own `AvgPoolGrad`), on whole maps."""

    classes = (keras.layers.AveragePooling2D,)

    def whole_maps(self, rule: str) -> bool:
        return True

    def check(self, layer) -> None:
        _check_channels_last(layer)

    def windows(self, node, out_windows, shapes, rule):
        return [Window.full(extent(shapes[node.inputs[0]]))]

    def backward(self, node, signals, projector):
        layer = node.layer
        values = signals[0].values
        in_shape = projector.shapes[node.inputs[0]]
        grad = tf.raw_ops.AvgPoolGrad(
            orig_input_shape=tf.stack([tf.shape(values)[0], in_shape[1], in_shape[2], in_shape[3]]),
            grad=values,
            ksize=[1, *pair(layer.pool_size), 1],
            strides=[1, *pair(layer.strides or layer.pool_size), 1],
            padding=layer.padding.upper(),
        )
        return [Signal(grad, Window.full(extent(in_shape)))]


class GlobalPoolRule(LayerRule):
    """`GlobalAveragePooling2D` spreads evenly over the map; `GlobalMaxPooling2D` sends the
    signal to the maximum (shared evenly among ties, as the gradient of a max does)."""

    classes = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)

    def check(self, layer) -> None:
        _check_channels_last(layer)

    def windows(self, node, out_windows, shapes, rule):
        return [Window.full(extent(shapes[node.inputs[0]]))]

    def backward(self, node, signals, projector):
        in_key = node.inputs[0]
        height, width = extent(projector.shapes[in_key])
        values = tf.reshape(signals[0].values, [-1, 1, 1, projector.shapes[in_key][-1]])
        if isinstance(node.layer, keras.layers.GlobalAveragePooling2D):
            grad = tf.tile(values / float(height * width), [1, height, width, 1])
        else:
            inputs = projector.forward_in(in_key, None)
            chosen = tf.cast(tf.equal(inputs, tf.reduce_max(inputs, axis=[1, 2], keepdims=True)), tf.float32)
            grad = values * chosen / tf.reduce_sum(chosen, axis=[1, 2], keepdims=True)
        return [Signal(grad, Window.full((height, width)))]


class PaddingRule(LayerRule):
    """`ZeroPadding2D` / `Cropping2D`: the signal moves back by the padding (what lands on the
    padding belongs to no input position)."""

    classes = (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)

    def check(self, layer) -> None:
        _check_channels_last(layer)

    @staticmethod
    def shift(layer) -> tuple[int, int]:
        (top, _), (left, _) = layer.padding if isinstance(layer, keras.layers.ZeroPadding2D) else layer.cropping
        sign = 1 if isinstance(layer, keras.layers.ZeroPadding2D) else -1
        return sign * top, sign * left

    def windows(self, node, out_windows, shapes, rule):
        return [out_windows[0].shifted(*self.shift(node.layer))]

    def backward(self, node, signals, projector):
        signal = signals[0]
        return [Signal(signal.values, signal.window.shifted(*self.shift(node.layer)), dirty=True)]


class ReshapeRule(LayerRule):
    """`Flatten` / `Reshape`: the signal takes the input's shape back (whole maps)."""

    classes = (keras.layers.Flatten, keras.layers.Reshape)

    def whole_maps(self, rule: str) -> bool:
        return True

    def check(self, layer) -> None:
        _check_channels_last(layer)

    def windows(self, node, out_windows, shapes, rule):
        shape = shapes[node.inputs[0]]
        return [Window.full(extent(shape)) if spatial(shape) else None]

    def backward(self, node, signals, projector):
        shape = projector.shapes[node.inputs[0]]
        values = tf.reshape(signals[0].values, [-1, *shape[1:]])
        return [Signal(values, Window.full(extent(shape)) if spatial(shape) else None)]


class IdentityRule(LayerRule):
    """Layers that are the identity at inference (dropout, noise, `Identity`)."""

    classes = (
        keras.layers.Dropout,
        keras.layers.SpatialDropout2D,
        keras.layers.GaussianDropout,
        keras.layers.GaussianNoise,
        keras.layers.AlphaDropout,
        keras.layers.Identity,
    )

    def backward(self, node, signals, projector):
        return [signals[0]]


class NormalizationRule(LayerRule):
    """Contrast / response normalization (LCN, LRN): passed unchanged by the `deconvnet` and
    `guided` rules (Zeiler & Fergus do not invert it); its true backward under `gradient`."""

    classes = (LocalContrastNormalization, LocalResponseNormalization)

    def whole_maps(self, rule: str) -> bool:
        # LCN's divisor is a mean over each whole map: its true backward needs the whole map.
        return rule == "gradient"

    def backward(self, node, signals, projector):
        signal = signals[0]
        if projector.rule != "gradient":
            return [signal]
        inputs = projector.forward_in(node.inputs[0], None)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = tf.cast(node.layer(inputs), tf.float32)
        return [Signal(tape.gradient(outputs, inputs, output_gradients=signal.values), signal.window)]


class ScaleRule(LayerRule):
    """Per-channel affine layers at inference multiply the signal by their scale:
    `Rescaling` (scale), `Normalization` (1 / std), `BatchNormalization` (gamma / sqrt(var + eps))."""

    classes = (keras.layers.Rescaling, keras.layers.Normalization, keras.layers.BatchNormalization)

    def check(self, layer) -> None:
        axis = getattr(layer, "axis", -1)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if isinstance(layer, (keras.layers.Normalization, keras.layers.BatchNormalization)):
            if not all(a in (-1, len(layer.input.shape) - 1) for a in axes):
                raise ValueError(f"layer {layer.name!r}: only the channel axis (-1) is supported, got axis={axis}")

    @staticmethod
    def scale(layer):
        if isinstance(layer, keras.layers.Rescaling):
            scale = np.asarray(layer.scale, np.float32)
            return None if np.all(scale == 1.0) else tf.constant(scale)
        if isinstance(layer, keras.layers.Normalization):
            std = tf.maximum(tf.sqrt(tf.cast(layer.variance, tf.float32)), keras.backend.epsilon())
            return std if layer.invert else 1.0 / std
        variance = tf.cast(tf.convert_to_tensor(layer.moving_variance), tf.float32)
        scale = tf.math.rsqrt(variance + layer.epsilon)
        if layer.scale:
            scale *= tf.cast(tf.convert_to_tensor(layer.gamma), tf.float32)
        return scale

    def backward(self, node, signals, projector):
        scale = self.scale(node.layer)
        signal = signals[0]
        return [signal if scale is None else replace(signal, values=signal.values * scale)]


class ActivationRule(LayerRule):
    """`ReLU` and `Activation`: the activation's backward (ReLU: the projection rule's)."""

    classes = (keras.layers.ReLU, keras.layers.Activation)

    def check(self, layer) -> None:
        if isinstance(layer, keras.layers.ReLU):
            if layer.max_value is not None or layer.negative_slope or layer.threshold:
                raise ValueError(
                    f"layer {layer.name!r}: ReLU with max_value/negative_slope/threshold is not supported"
                )
        else:
            check_activation(layer, ("relu", "linear", "softmax"))

    def backward(self, node, signals, projector):
        name = "relu" if isinstance(node.layer, keras.layers.ReLU) else activation_name(node.layer.activation)
        return [activation_backward(node.layer, name, signals[0], node.outputs[0], projector)]


class AddRule(LayerRule):
    """`Add`: every input receives the signal."""

    classes = (keras.layers.Add,)

    def check(self, layer) -> None:
        shapes = {tuple(t.shape[1:]) for t in layer.input}
        if len(shapes) != 1:
            raise ValueError(f"layer {layer.name!r}: Add with broadcasting inputs {sorted(shapes)} is not supported")

    def backward(self, node, signals, projector):
        return [signals[0] for _ in node.inputs]


class ConcatenateRule(LayerRule):
    """`Concatenate` on the channel axis: each input receives its channels of the signal."""

    classes = (keras.layers.Concatenate,)

    def check(self, layer) -> None:
        rank = len(layer.output.shape)
        if layer.axis not in (-1, rank - 1):
            raise ValueError(f"layer {layer.name!r}: only concatenation on the last axis is supported, got axis={layer.axis}")

    def backward(self, node, signals, projector):
        sizes = [int(projector.shapes[key][-1]) for key in node.inputs]
        parts = tf.split(signals[0].values, sizes, axis=-1)
        return [replace(signals[0], values=part) for part in parts]


class InputRule(LayerRule):
    classes = (keras.layers.InputLayer,)


LAYER_RULES: tuple[LayerRule, ...] = (
    Conv2DRule(),
    DenseRule(),
    MaxPoolRule(),
    AveragePoolRule(),
    GlobalPoolRule(),
    PaddingRule(),
    ReshapeRule(),
    IdentityRule(),
    NormalizationRule(),
    ScaleRule(),
    ActivationRule(),
    AddRule(),
    ConcatenateRule(),
)

SUPPORTED_LAYERS = tuple(cls.__name__ for rule in LAYER_RULES for cls in rule.classes)


def rule_for(layer) -> LayerRule:
    """The rule of `layer`'s kind, or a ValueError naming the layer, its class and the
    supported set."""
    for rule in LAYER_RULES:
        if type(layer) in rule.classes:
            rule.check(layer)
            return rule
    for rule in LAYER_RULES:  # subclasses, after exact matches
        if isinstance(layer, rule.classes):
            rule.check(layer)
            return rule
    raise ValueError(
        f"layer {layer.name!r} ({type(layer).__name__}) is not supported by the deconvnet; "
        f"supported layers: {', '.join(SUPPORTED_LAYERS)}"
    )


# -- planning the windows -------------------------------------------------------------------


def plan_windows(nodes, target_key: int, seed: Window | None, shapes: dict, rule: str, clip: bool = True) -> dict:
    """The window of every tensor below `target_key` that a signal seeded in window `seed`
    reaches (`{key: Window | None}`).

    `clip=True` turns windows that cover a map into the whole map and joins the windows of a
    tensor read by several layers (`Window.union`): the windows the projection uses. With
    `clip=False` the windows are the receptive fields' (never clipped; a tensor read by several
    layers gets the union).
    """
    windows: dict[int, Window | None] = {target_key: _fit(seed, shapes[target_key], clip)}
    for node in reversed(nodes):
        outs = [windows.get(key, _MISSING) for key in node.outputs]
        if all(w is _MISSING for w in outs):
            continue
        layer_rule = rule_for(node.layer)
        outs = [None if w is _MISSING else w for w in outs]
        if layer_rule.whole_maps(rule) and outs[0] is not None and clip:
            outs[0] = Window.full(extent(shapes[node.outputs[0]]))
            windows[node.outputs[0]] = outs[0]
        for key, window in zip(node.inputs, layer_rule.windows(node, outs, shapes, rule)):
            window = _fit(window, shapes[key], clip)
            if key in windows and windows[key] is not None and window is not None:
                window = windows[key].union(window, extent(shapes[key]))
            windows[key] = window
    return windows


_MISSING = object()


def _fit(window: Window | None, shape, clip: bool) -> Window | None:
    if not spatial(shape):
        return None
    if window is None:
        window = Window.full(extent(shape))
    return window.clip(extent(shape)) if clip else window
