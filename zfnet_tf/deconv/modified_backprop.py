"""The deconvnet as a modified backward pass: the independent reference for `Deconvnet`.

Projecting with switches equals the gradient of the selected activations with respect to the
input when every rectifier's backward is replaced by the projection rule's (`deconvnet`: the
ReLU of the incoming signal, Zeiler & Fergus Sec. 2.1; `guided`: that, where the forward input
was positive, Springenberg et al. arXiv 1412.6806; `gradient`: the true one; a capped ReLU such
as ReLU6 keeps its cap's true backward, 1 below the cap) and every contrast / response
normalization's by the identity (except under `gradient`); everything else keeps the backward
TensorFlow's autodiff gives it (DESIGN §14, Captum's reading). This module computes
projections that way: it runs the Keras model itself, forward, with those ReLUs and
normalizations swapped in for the duration of the call, and asks `tf.GradientTape` for the
gradient. It shares no code with `Deconvnet` (no graph walk, no windows, no switches): Keras
runs the graph and TensorFlow's gradients do the rest, which is what makes it a useful check
(tests) and baseline (`bench/bench_projection.py`).
"""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from zfnet_tf.layers import LocalContrastNormalization, LocalResponseNormalization

_NORMALIZATIONS = (LocalContrastNormalization, LocalResponseNormalization)
# Fused activations that are rectifiers, by name: their caps.
_FUSED_CAPS = {"relu": None, "relu6": 6.0}


def _rectified(forward, rule: str, threshold: float = 0.0, cap: float | None = None):
    """`forward` (a rectifier: 0 below `threshold`, identity up to `cap`) with the rule's
    backward: the rectifier's part replaced, the cap's exact (DESIGN §14)."""

    @tf.custom_gradient
    def rectifier(x):
        def grad(upstream):
            x32 = tf.cast(x, upstream.dtype)
            below_cap = tf.ones_like(x32) if cap is None else tf.cast(x32 < cap, upstream.dtype)
            if rule == "deconvnet":
                return tf.nn.relu(upstream) * below_cap
            return tf.nn.relu(upstream) * tf.cast(x32 > threshold, upstream.dtype) * below_cap

        return forward(x), grad

    return rectifier


def _identity_backward(call):
    def wrapped(inputs, *args, **kwargs):
        @tf.custom_gradient
        def normalize(x):
            return call(x, *args, **kwargs), lambda upstream: upstream

        return normalize(inputs)

    return wrapped


def _find_layer(model: keras.Model, layer) -> keras.layers.Layer:
    if isinstance(layer, int) and not isinstance(layer, bool):
        from zfnet_tf.models import get_backbone

        backbone = get_backbone(model)
        return backbone.get_layer(backbone.top_map_name(layer))
    found = model
    for part in layer.split("/"):
        matches = [l for l in found._flatten_layers(include_self=False, recursive=True) if l.name == part]
        if len(matches) != 1:
            raise ValueError(f"{len(matches)} layers named {part!r} in {found.name!r}")
        found = matches[0]
    return found


@contextlib.contextmanager
def _patched(model: keras.Model, rule: str, target: keras.layers.Layer, captured: list):
    """The model's layers with the rule's rectifiers (ReLU and capped ReLU layers and fused
    activations; a ReLU with a negative slope is not one) and normalizations, the target's
    output kept. Under `gradient` only the target is patched."""
    saved = []

    def patch(layer, name, value):
        saved.append((layer, name, layer.__dict__.get(name, _ABSENT)))
        object.__setattr__(layer, name, value)

    for layer in model._flatten_layers(include_self=False, recursive=True) if rule != "gradient" else ():
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", None)
        if name in _FUSED_CAPS:
            patch(layer, "activation", _rectified(activation, rule, cap=_FUSED_CAPS[name]))
        if isinstance(layer, keras.layers.ReLU) and not layer.negative_slope:
            cap = None if layer.max_value is None else float(layer.max_value)
            patch(layer, "call", _rectified(layer.call, rule, float(layer.threshold), cap))
        if isinstance(layer, _NORMALIZATIONS):
            patch(layer, "call", _identity_backward(layer.call))
    inner_call = target.call

    def capture(*args, **kwargs):
        outputs = inner_call(*args, **kwargs)
        captured.append(outputs)
        return outputs

    patch(target, "call", capture)
    try:
        yield
    finally:
        for layer, name, value in reversed(saved):
            if value is _ABSENT:
                object.__delattr__(layer, name)
            else:
                object.__setattr__(layer, name, value)


_ABSENT = object()


def modified_gradient(model: keras.Model, images, layer, seed, rule: str = "deconvnet"):
    """The modified backward pass from `layer`'s output to the input pixels.

    Runs the model on `images` with the rule's ReLUs and normalizations, calls `seed(output)`
    on the layer's output (float32) for the signal to start from (same shape), and returns
    the gradient of the output, so seeded, with respect to the images.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    target = _find_layer(model, layer)
    captured: list = []
    with _patched(model, rule, target, captured), tf.GradientTape() as tape:
        tape.watch(images)
        model(images, training=False)
        top = tf.cast(captured[-1], tf.float32)
    return tape.gradient(top, images, output_gradients=seed(tf.stop_gradient(top)))


def modified_backprop_projection(
    model: keras.Model, images, features, layer, mode: str = "max", rule: str = "deconvnet"
):
    """Projections `[B, K, H, W, C]` of features `[B, K]` (-1: strongest map) by modified backprop.

    `layer` is a layer name (a `/` path into nested models) or ZFNet's 1-5. Each of the K
    features of an image gets its own backward pass over a copy of the image, so this costs K
    forward and K backward passes through the whole model: the naive way the switch-based
    `Deconvnet` improves on.
    """
    if mode not in ("max", "map"):
        raise ValueError(f"mode must be 'max' or 'map', got {mode!r}")
    images = tf.convert_to_tensor(images, tf.float32)
    features = tf.convert_to_tensor(features, tf.int32)
    batch, per_image = tf.shape(features)[0], tf.shape(features)[1]
    flat_features = tf.reshape(features, [-1])

    def seed(maps):
        num_maps = maps.shape[-1]
        axes = list(range(1, maps.shape.rank - 1))
        map_max = tf.reduce_max(maps, axis=axes) if axes else maps
        chosen_features = tf.where(flat_features < 0, tf.argmax(map_max, axis=1, output_type=tf.int32), flat_features)
        chosen = tf.one_hot(chosen_features, num_maps, dtype=maps.dtype)
        selected = maps * tf.reshape(chosen, [-1] + [1] * len(axes) + [num_maps])
        if mode == "max":
            flat = tf.reshape(selected, [tf.shape(selected)[0], -1])
            peak = tf.one_hot(tf.argmax(flat, axis=1), tf.shape(flat)[1], dtype=maps.dtype)
            selected = tf.reshape(flat * peak, tf.shape(selected))
        return selected

    gradient = modified_gradient(model, tf.repeat(images, per_image, axis=0), layer, seed, rule)
    return tf.reshape(gradient, tf.concat([[batch, per_image], tf.shape(images)[1:]], axis=0))
