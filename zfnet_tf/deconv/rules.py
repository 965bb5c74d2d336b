"""How a signal goes down through each kind of layer: the deconvnet's rule, stated once.

Zeiler & Fergus (arXiv 1311.2901, Sec. 2.1) project an activation to pixels by unpooling
through the max-pools' switches, rectifying, and filtering with the transposed forward kernels.
Stated for any network, that is a modified backward pass seeded with the selected activations
(DESIGN §11, §14: Captum's reading, in which only rectifiers are modified):

- a rectifier takes the rule's backward. Rectifiers are ReLU (a layer, or the fused activation
  of a convolution / `Dense`) and the ReLU inside a capped or thresholded one (`ReLU(max_value=m,
  threshold=t)`, activation `"relu6"`): the cap keeps its exact backward (1 where x < m), so
  `deconvnet` passes ReLU of the incoming signal where x < m (Zeiler & Fergus), `guided` also
  zero where x <= t (Springenberg et al., arXiv 1412.6806), `gradient` the true gradient;
- contrast / response normalization passes the signal unchanged (`deconvnet`, `guided`), or
  takes its true backward (`gradient`, which is then the model's plain gradient);
- every other supported layer takes its exact backward: max pooling puts the signal where its
  switch points (overlaps add), a convolution (grouped, depthwise, separable) is transposed with
  the layer's own kernels, `Dense` multiplies by its kernel's transpose, and the layers without
  a rectifier of their own (other activations, gates, layer normalizations, a user's layer
  declared with `register_exact`) by autodiff of their own call on the signal's window
  (`ExactRule`). One `LayerRule` per kind below.

Signals travel in windows of their maps (`zfnet_tf.deconv.windows`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import keras
import numpy as np
import tensorflow as tf
from keras import tree
from keras.src.ops import numpy as keras_numpy_ops

from keras.src.applications.convnext import LayerScale, StochasticDepth
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

from zfnet_tf.deconv.windows import Projector, Signal, Window, extent, gather_windows, spatial
from zfnet_tf.layers import MaxPoolWithSwitches, MaxUnpool
from zfnet_tf.layers.feature_map_normalization import FeatureMapNormalization
from zfnet_tf.layers.max_pool_with_switches import pair, same_padding_before

RULES = ("deconvnet", "guided", "gradient")
# Strided transposed convs with fewer output channels than this run as phase convolutions.
PHASE_CONV_MAX_CHANNELS = 16


# -- activations: rectifiers take the rule's backward, every other one its exact backward -------


@dataclass(frozen=True)
class Rectifier:
    """`f(x) = x` for `threshold < x < cap`, `0` below the threshold, `cap` above it: a ReLU
    (threshold 0, no cap) and the ReLU inside a capped one (ReLU6).

    Its backward under the projection rule: the rectifier's part is the rule's, the cap's is
    exact (DESIGN §14).
    """

    threshold: float = 0.0
    cap: float | None = None

    def backward(self, signal: Signal, values_of, rule: str) -> Signal:
        """`values_of()` gives the rectifier's forward input under the signal's window (or its
        output, the same comparisons for a threshold of 0); called only when a mask needs it."""
        if rule == "deconvnet" and self.cap is None:
            return replace(signal, values=tf.nn.relu(signal.values))
        values = values_of()
        passed = values < self.cap if self.cap is not None else None
        if rule != "deconvnet":
            above = values > self.threshold
            passed = above if passed is None else passed & above
        incoming = signal.values if rule == "gradient" else tf.nn.relu(signal.values)
        return replace(signal, values=tf.where(passed, incoming, 0.0))


# Activation functions by name: the rectifiers, and those that take their exact backward.
RECTIFIERS = {"relu": Rectifier(), "relu6": Rectifier(cap=6.0)}
EXACT_ACTIVATIONS = (
    "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "hard_silu", "hard_swish", "mish",
    "softplus", "softsign", "sigmoid", "hard_sigmoid", "tanh", "softmax", "log_softmax", "exponential",
)


def activation_name(function) -> str:
    if function is None:
        return "linear"
    return getattr(function, "__name__", repr(function))


def check_activation(layer) -> None:
    """A ValueError naming `layer` and its activation unless the deconvnet knows it."""
    name = activation_name(layer.activation)
    if name != "linear" and name not in RECTIFIERS and name not in EXACT_ACTIVATIONS:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}): activation {name!r} is not supported "
            f"(linear, {', '.join(RECTIFIERS)}, {', '.join(EXACT_ACTIVATIONS)})"
        )


def has_exact_activation(layer) -> bool:
    """Whether `layer`'s fused activation takes its exact backward, which needs its input (the
    deconvnet's forward then keeps it: `linear_call`)."""
    return activation_name(getattr(layer, "activation", None)) in EXACT_ACTIVATIONS


@contextlib.contextmanager
def _linear_activation(layer):
    saved = layer.__dict__["activation"]
    object.__setattr__(layer, "activation", keras.activations.linear)
    try:
        yield
    finally:
        object.__setattr__(layer, "activation", saved)


def call_keeping_pre_activation(node, values: dict):
    """`(output, pre_activation)` of a layer with a fused activation: the layer's own call with
    its activation set aside, then the activation."""
    with _linear_activation(node.layer):
        pre_activation = node.call(values)
    return node.layer.activation(pre_activation), pre_activation


def exact_backward(function, inputs: list, upstream) -> list:
    """The vector-Jacobian product of `function(*inputs)` with `upstream`: any layer's or
    activation's exact backward, by TensorFlow's autodiff (float32; None gradients as zeros)."""
    with tf.GradientTape() as tape:
        for value in inputs:
            tape.watch(value)
        outputs = tf.cast(tree.flatten(function(*inputs))[0], tf.float32)
    grads = tape.gradient(outputs, inputs, output_gradients=upstream)
    return [tf.zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]


def activation_backward(function, signal: Signal, key: int, projector: Projector) -> Signal:
    """The backward of a layer's fused activation `function`, whose output is tensor `key`:
    a rectifier's is the projection rule's, any other's its exact backward."""
    name = activation_name(function)
    if name == "linear":
        return signal
    if name in RECTIFIERS:
        # Tested on the output: above 0 and below the cap exactly where the input is.
        return RECTIFIERS[name].backward(signal, lambda: projector.forward_in(key, signal.window), projector.rule)
    pre_activation = projector.forward_in(key, signal.window, pre_activation=True)
    (values,) = exact_backward(function, [pre_activation], signal.values)
    return replace(signal, values=values)


def output_cap(layer) -> float | None:
    """The cap on `layer`'s output (`ReLU(max_value=m)`, activation `"relu6"`, fused or a
    layer of its own), or None. A unit at its cap projects to nothing under every rule: the
    cap keeps its exact backward, which is 0 there (Captum's reading of ReLU6, DESIGN §14)."""
    rectifier = ActivationRule.rectifier(layer) if isinstance(layer, ActivationRule.classes) else None
    if rectifier is None:
        rectifier = RECTIFIERS.get(activation_name(getattr(layer, "activation", None)))
    return None if rectifier is None else rectifier.cap


# -- one rule per layer kind ------------------------------------------------------------------


class LayerRule:
    """How one kind of layer is gone through: the geometry and the backward of one call."""

    #: Keras classes this rule handles.
    classes: tuple[type, ...] = ()
    #: Whether its input is context of the whole map (a global pool under a gate) rather than
    #: a part of the receptive field.
    context: bool = False

    def whole_maps(self, node, rule: str) -> bool:
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


class ConvRule(LayerRule):
    """Convolutions (`Conv2D` with any `groups`, `DepthwiseConv2D`, `SeparableConv2D`: depthwise
    then pointwise): the activation's backward, then the transposed convolutions with the
    layer's own kernels (no bias)."""

    classes = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)

    def check(self, layer) -> None:
        _check_channels_last(layer)
        check_activation(layer)

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
        signal = activation_backward(layer.activation, signals[0], out_key, projector)
        signal = projector.clean(signal, out_key)
        span, strides, pads, dilation = self.geometry(node, projector.shapes)
        values = signal.values
        if isinstance(layer, keras.layers.SeparableConv2D):
            values = transposed_pointwise(values, _float(layer.pointwise_kernel))
            values = depthwise_transposed_conv(values, _float(layer.depthwise_kernel), strides, dilation, span)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            values = depthwise_transposed_conv(values, _float(layer.kernel), strides, dilation, span)
        else:
            values = grouped_transposed_conv(
                values, _float(layer.kernel), layer.groups, strides, dilation, span, rows=projector.rows
            )
        window = signal.window.strided(span, strides, pads)
        # A pointwise convolution maps each position to itself: the clean signal stays clean.
        return [Signal(values, window, dirty=not is_pointwise(span, strides))]


def is_pointwise(span, strides) -> bool:
    """Whether a convolution of this span and these strides maps each position to itself alone."""
    return tuple(span) == (1, 1) and tuple(strides) == (1, 1)


def _float(variable):
    return tf.cast(tf.convert_to_tensor(variable), tf.float32)


def transposed_pointwise(values, kernel):
    """`values [..., out]` times the transpose of `kernel` (`[in, out]`, or a pointwise
    convolution's `[1, 1, in, out]`) on the last axis: the transpose of a `Dense` or of a 1x1
    convolution, `[..., in]`. On maps it runs as a 1x1 convolution, on vectors as a matmul: a
    few ops, where `tf.tensordot`'s dynamic reshapes put ~23 in the graph (160 times in
    NASNetMobile's)."""
    if values.shape.rank == 4:
        if kernel.shape.rank == 2:
            kernel = kernel[None, None]
        return tf.nn.conv2d(values, tf.transpose(kernel, [0, 1, 3, 2]), 1, "VALID")
    if values.shape.rank == 2 and kernel.shape.rank == 2:
        return tf.linalg.matmul(values, kernel, transpose_b=True)
    return tf.tensordot(values, tf.reshape(kernel, kernel.shape[-2:]), [[-1], [1]])


def depthwise_transposed_conv(values, kernel, strides, dilation, span):
    """The transposed "valid" depthwise convolution of `[N, h, w, C * multiplier]` windows by a
    `[kh, kw, C, multiplier]` kernel: `[N, (h - 1) * s + k, ..., C]`.

    TensorFlow's CPU kernel for it (`DepthwiseConv2dNativeBackpropInput`) runs 3-11x slower
    than its forward depthwise convolution (measured at MobileNetV2's sizes), so it runs as
    one: the signal with `stride - 1` zeros between its rows and columns, padded by the
    kernel's span - 1, correlated with the flipped kernel (the same sums), each of the
    `multiplier` maps of a channel then summed.
    """
    height, width, channels = values.shape[1], values.shape[2], values.shape[3]
    if tuple(strides) != (1, 1):
        rows, cols = strides
        spread = tf.pad(values[:, :, None, :, None, :], [[0, 0], [0, 0], [0, rows - 1], [0, 0], [0, cols - 1], [0, 0]])
        values = tf.reshape(spread, [-1, height * rows, width * cols, channels])
        values = values[:, : (height - 1) * rows + 1, : (width - 1) * cols + 1]
    padded = tf.pad(values, [[0, 0], [span[0] - 1] * 2, [span[1] - 1] * 2, [0, 0]])
    size_h, size_w, in_channels, multiplier = kernel.shape
    flipped = tf.reshape(tf.reverse(kernel, [0, 1]), [size_h, size_w, in_channels * multiplier, 1])
    output = tf.nn.depthwise_conv2d(padded, flipped, [1, 1, 1, 1], "VALID", dilations=list(dilation))
    if multiplier == 1:
        return output
    shape = tf.shape(output)
    return tf.reduce_sum(tf.reshape(output, [shape[0], shape[1], shape[2], in_channels, multiplier]), axis=-1)


def grouped_transposed_conv(values, kernel, groups: int, strides, dilation, span, rows=None):
    """`transposed_conv` of a convolution whose channels split into `groups`: one with one
    input channel per group is a depthwise convolution; others run group by group."""
    if groups == 1:
        return transposed_conv(values, kernel, strides, dilation, span, rows)
    height, width, per_group, out_channels = kernel.shape
    if per_group == 1:
        depthwise = tf.reshape(kernel, [height, width, groups, out_channels // groups])
        return depthwise_transposed_conv(values, depthwise, strides, dilation, span)
    parts = zip(tf.split(values, groups, axis=-1), tf.split(kernel, groups, axis=-1))
    return tf.concat([transposed_conv(v, k, strides, dilation, span, rows) for v, k in parts], axis=-1)


def transposed_conv(values, kernel, strides, dilation, span, rows=None):
    """The transposed "valid" convolution of `[N, h, w, out]` windows: `[N, (h - 1) * s + k,
    ...]`, summing each input position's contributions. `rows`: int32 `[1]`, N if the caller
    already has it (one op where reading it from `values` takes seven, in every convolution's
    backward).

    A 1x1 convolution with stride 1 (half of an Inception's or a ResNet's) is
    `transposed_pointwise`: one convolution with the transposed kernel, no output shape to build.

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
    if is_pointwise(span, strides):
        return transposed_pointwise(values, kernel)
    if rows is None:
        rows = tf.shape(values)[:1]
    output_shape = tf.concat([rows, [out_h, out_w, in_channels]], axis=0)
    return tf.nn.conv2d_transpose(values, kernel, output_shape, list(strides), "VALID", dilations=list(dilation))


class DenseRule(LayerRule):
    """`Dense`: the activation's backward, then the kernel's transpose, on the last axis (so on
    maps, as ConvNeXt's pointwise layers, at each position of the window)."""

    classes = (keras.layers.Dense,)

    def check(self, layer) -> None:
        check_activation(layer)

    def backward(self, node, signals, projector):
        layer = node.layer
        signal = activation_backward(layer.activation, signals[0], node.outputs[0], projector)
        return [replace(signal, values=transposed_pointwise(signal.values, _float(layer.kernel)))]


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

    def whole_maps(self, node, rule: str) -> bool:
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
    signal to the maximum (shared evenly among ties, as the gradient of a max does).

    Its input is context: what a global pool feeds (a squeeze-and-excitation gate, a
    classifier) sees the whole map, but the receptive field of a gated position stays the
    position's own (DESIGN §14).
    """

    classes = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
    context = True

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

    def whole_maps(self, node, rule: str) -> bool:
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
        StochasticDepth,  # ConvNeXt's: identity at inference
    )

    def backward(self, node, signals, projector):
        return [signals[0]]


class NormalizationRule(LayerRule):
    """Contrast / response normalization (LCN, LRN): passed unchanged by the `deconvnet` and
    `guided` rules (Zeiler & Fergus do not invert it); its true backward under `gradient`."""

    classes = (FeatureMapNormalization,)

    def whole_maps(self, node, rule: str) -> bool:
        # LCN's divisor is a mean over each whole map: its true backward needs the whole map.
        return rule == "gradient"

    def backward(self, node, signals, projector):
        signal = signals[0]
        if projector.rule != "gradient":
            return [signal]
        (values,) = exact_backward(node.layer, [projector.forward_in(node.inputs[0], None)], signal.values)
        return [Signal(values, signal.window)]


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


class ExactRule(LayerRule):
    """Layers without a rectifier of their own (DESIGN §14): their exact backward, by autodiff
    of the layer's own call (`exact_backward`) on the forward values under the signal's window.

    Pointwise layers, whose outputs at a position read only that position of their inputs
    (elementwise activations, squeeze-and-excitation gates `x * gate` with a 1x1 `gate`,
    LayerScale, layer normalization over the channels), keep the signal's window; their 1x1
    inputs get the whole (1x1) map. The others (GroupNormalization, a registered layer not
    declared pointwise) see whole maps.
    """

    classes = (
        keras.layers.LeakyReLU,
        keras.layers.PReLU,
        keras.layers.ELU,
        keras.layers.Softmax,
        keras.layers.Multiply,
        keras.layers.LayerNormalization,
        keras.layers.GroupNormalization,
        keras.layers.UnitNormalization,
        LayerScale,
        CustomScaleLayer,
        # Elementwise arithmetic written on Keras tensors (`x + 3.0`, `x * gate`) in a model.
        keras_numpy_ops.Add,
        keras_numpy_ops.Subtract,
        keras_numpy_ops.Multiply,
        keras_numpy_ops.Divide,
        keras_numpy_ops.TrueDivide,
        keras_numpy_ops.Negative,
    )

    def pointwise(self, node, shapes) -> bool:
        layer = node.layer
        if isinstance(layer, keras.layers.GroupNormalization):
            return False
        if isinstance(layer, (keras.layers.Softmax, keras.layers.LayerNormalization, keras.layers.UnitNormalization)):
            rank = len(shapes[node.outputs[0]])
            axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
            if any(a not in (-1, rank - 1) for a in axes):
                return False
        registered = _registered(layer)
        if registered is not None and not registered:
            return False
        out_shape = shapes[node.outputs[0]]
        return not spatial(out_shape) or all(
            not spatial(shapes[key]) or extent(shapes[key]) in (extent(out_shape), (1, 1)) for key in node.inputs
        )

    def whole_maps(self, node, rule: str) -> bool:
        return False  # decided with the shapes, in `windows`

    def windows(self, node, out_windows, shapes, rule):
        pointwise = self.pointwise(node, shapes)
        out_extent = extent(shapes[node.outputs[0]]) if spatial(shapes[node.outputs[0]]) else None
        windows = []
        for key in node.inputs:
            if not spatial(shapes[key]):
                windows.append(None)
            elif pointwise and out_windows[0] is not None and extent(shapes[key]) == out_extent:
                windows.append(out_windows[0])
            else:
                windows.append(Window.full(extent(shapes[key])))
        return windows

    def backward(self, node, signals, projector):
        signal = projector.clean(signals[0], node.outputs[0])
        if not self.pointwise(node, projector.shapes) and signal.window is not None:
            signal = projector.reframe(signal, Window.full(extent(projector.shapes[node.outputs[0]])), node.outputs[0])
        windows = self.windows(node, [signal.window], projector.shapes, projector.rule)
        inputs = [projector.forward_in(key, window) for key, window in zip(node.inputs, windows)]
        grads = exact_backward(lambda *values: node.call(dict(zip(node.inputs, values))), inputs, signal.values)
        return [
            Signal(grad, window, dirty=window is not None and not window.is_full(extent(projector.shapes[key])))
            for grad, window, key in zip(grads, windows, node.inputs)
        ]


class ActivationRule(ExactRule):
    """`ReLU` and `Activation` layers: a rectifier's backward is the projection rule's (tested
    on the layer's input), any other activation's its exact one."""

    classes = (keras.layers.ReLU, keras.layers.Activation)

    def check(self, layer) -> None:
        if isinstance(layer, keras.layers.Activation):
            check_activation(layer)

    @staticmethod
    def rectifier(layer) -> Rectifier | None:
        if isinstance(layer, keras.layers.ReLU):
            if layer.negative_slope:
                return None  # a leaky ReLU: exact
            cap = None if layer.max_value is None else float(layer.max_value)
            return Rectifier(float(layer.threshold), cap)
        return RECTIFIERS.get(activation_name(layer.activation))

    def pointwise(self, node, shapes) -> bool:
        return True

    def backward(self, node, signals, projector):
        layer = node.layer
        rectifier = self.rectifier(layer)
        signal = signals[0]
        if rectifier is not None:
            values_of = lambda: projector.forward_in(node.inputs[0], signal.window)  # noqa: E731
            return [rectifier.backward(signal, values_of, projector.rule)]
        if isinstance(layer, keras.layers.Activation) and activation_name(layer.activation) == "linear":
            return [signal]
        return super().backward(node, signals, projector)


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


LAYER_RULES: tuple[LayerRule, ...] = (
    ConvRule(),
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
    ExactRule(),
    AddRule(),
    ConcatenateRule(),
)

SUPPORTED_LAYERS = tuple(
    cls.__name__ if issubclass(cls, keras.layers.Layer) else f"keras.ops.{cls.__name__}"
    for rule in LAYER_RULES
    for cls in rule.classes
)

# Classes declared free of rectifiers by `register_exact`: class -> pointwise.
_EXACT_LAYERS: dict[type, bool] = {}


def register_exact(layer_class: type, pointwise: bool = False) -> type:
    """Declares `layer_class` free of rectifiers: the deconvnet then takes its exact backward
    (autodiff of the layer's own call) under every rule, instead of refusing it (DESIGN §14).

    Declare only layers without a ReLU inside: Captum's reading modifies rectifiers only, and a
    ReLU hidden in a registered layer would take its true gradient. `pointwise=True` says each
    output position reads only the same position of the inputs (an elementwise function, a
    per-channel scale), so projections keep their receptive-field windows through it; otherwise
    the signal goes through it as whole maps. Returns the class (usable as a decorator).
    A `keras.layers.Lambda` may be registered too: that declares every Lambda of the model.
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.Operation)):
        raise ValueError(f"register_exact expects a Keras layer class, got {layer_class!r}")
    _EXACT_LAYERS[layer_class] = bool(pointwise)
    return layer_class


def _registered(layer) -> bool | None:
    """Whether `layer` is registered pointwise (None: not registered)."""
    if type(layer) in _EXACT_LAYERS:
        return _EXACT_LAYERS[type(layer)]
    for cls, pointwise in _EXACT_LAYERS.items():
        if isinstance(layer, cls):
            return pointwise
    return None


_EXACT = ExactRule()


def rule_for(layer) -> LayerRule:
    """The rule of `layer`'s kind, or a ValueError naming the layer, its class and the remedy."""
    if type(layer) in _EXACT_LAYERS:
        return _EXACT
    for rule in LAYER_RULES:
        if type(layer) in rule.classes:
            rule.check(layer)
            return rule
    if _registered(layer) is not None:
        return _EXACT
    for rule in LAYER_RULES:  # subclasses, after exact matches
        if isinstance(layer, rule.classes):
            rule.check(layer)
            return rule
    kind = type(layer).__name__
    why = "its function cannot be read" if isinstance(layer, keras.layers.Lambda) else "the deconvnet does not know it"
    raise ValueError(
        f"layer {layer.name!r} ({kind}) is not supported by the deconvnet: {why}. If it holds no "
        f"ReLU, declare it with zfnet_tf.deconv.register_exact({kind}) to take its exact backward "
        "(zfnet_tf.deconv.SUPPORTED_LAYERS lists the layers it knows)"
    )
