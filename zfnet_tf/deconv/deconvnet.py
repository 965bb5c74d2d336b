"""The deconvnet of Zeiler & Fergus (arXiv 1311.2901, Sec. 2.1) over any supported Keras model."""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from zfnet_tf.deconv.reading import ModelReading, TracedOnReuse
from zfnet_tf.deconv.rules import RULES, rule_for
from zfnet_tf.deconv.strongest import select_peaks
from zfnet_tf.deconv.windows import Projector, Signal, Window, extent, plan_windows, spatial

MODES = ("max", "map")


@dataclass(frozen=True)
class Projection:
    """What `Deconvnet.project` returns (the `project_<layer>` signatures' outputs).

    Attributes:
        reconstructions: float32 `[B, H, W, C]` (or `[B, K, H, W, C]` for K features): the
            projection in the model's input pixels, the pixels that excite the feature.
        feature: int32 `[B]` / `[B, K]`: the feature map projected (-1 resolved).
        activation: float32: that map's strongest activation in the image.
        location: int32 `[..., 2]`: (row, column) of that activation in the layer's maps
            ((0, 0) for a layer without maps, such as a `Dense`).
        box: int32 `[..., 4]`: (top, left, bottom, right) of the input pixels that activation
            sees (its receptive field, clipped to the image; bottom and right exclusive).
    """

    reconstructions: np.ndarray
    feature: np.ndarray
    activation: np.ndarray
    location: np.ndarray
    box: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {
            "reconstructions": self.reconstructions,
            "feature": self.feature,
            "activation": self.activation,
            "location": self.location,
            "box": self.box,
        }


class Deconvnet(ModelReading):
    """Projects activations of any layer of a Keras convnet back to pixel space.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (arXiv 1311.2901),
    Sec. 2.1 and Fig. 1: the network runs forward keeping every pool's switches; at the chosen
    layer all activations but the selected ones are zeroed, and the signal goes down: unpooling
    through the switches, rectification, and transposed convolution with the *same* kernel
    variables as the forward convs, to the pixels. Stated for any network (`zfnet_tf.deconv.rules`),
    that is a modified backward pass seeded with the selected activations, in which each
    rectifier's backward is the projection rule's (a capped ReLU keeps its cap's exact backward),
    each contrast normalization's is the identity and every other layer's is exact (DESIGN §14):
    `rule="deconvnet"` (the paper), `"guided"` (guided backpropagation, Springenberg et al.,
    arXiv 1412.6806) or `"gradient"` (the true gradient: a saliency map).

    The deconvnet reads the model's graph: functional or Sequential models, nested models
    opened (a backbone inside a classifier, a keras.applications base inside a transfer head),
    built from the layers of `zfnet_tf.deconv.SUPPORTED_LAYERS` (and those declared with
    `zfnet_tf.deconv.register_exact`); any other layer on the way down is refused by name.
    What it reads from the model (layer names, receptive fields, feature outputs) is its
    `ModelReading`; this class adds the projections. It owns no variables: it reads the model's own kernels at every
    call, so the projections of a model that trains on follow it.

    Projections are batched: B images by K features run as one graph sharing one forward pass.
    In "max" mode each projection carries one activation, so the way down only touches the
    window of each map that the activation's receptive field reaches.

    Args:
        model: a Keras model with one image input (NHWC). For ZFNet models
            (`ZFNetImageClassifier`, `ZFNetBackbone`) the paper's layer numbers 1-5 name the
            top maps of each conv layer (pooled where it pools).
    """

    # -- projecting -------------------------------------------------------------------------

    def project(
        self,
        images,
        layer: int | str,
        feature: Any = -1,
        mode: str = "max",
        rule: str = "deconvnet",
    ) -> Projection:
        """Projects one or several feature maps of `layer` for each image.

        Args:
            images: float `[B, H, W, C]` as the model takes them (RGB 0-255 for ZFNet).
            layer: a layer name, or 1-5 for ZFNet models (each layer's top maps).
            feature: an int (that map for every image), -1 (each image's strongest map), a list
                of K ints (K maps for every image; outputs then lead with `[B, K]`), or an array
                `[B]` (a map per image) or `[B, K]` (K maps per image); -1 entries pick that
                image's strongest map.
            mode: "max" projects the map's strongest activation alone (the paper's figures);
                "map" projects the whole feature map.
            rule: "deconvnet", "guided" or "gradient".

        Returns:
            A `Projection` of NumPy arrays.
        """
        self._check_mode(mode)
        self._check_rule(rule)
        images = self._check_images(images)
        path, _ = self._target(layer, images.shape[1], images.shape[2])
        label = path if path == layer else f"{layer} ({path})"
        features, squeeze = self._check_feature(feature, self.num_features(path), images.shape[0], label)
        function = self.projection_function(
            path, mode, rule, features_per_image=features.shape[1], input_size=images.shape[1:3]
        )
        outputs = function(tf.constant(images), tf.constant(features))
        outputs = {k: v.numpy() for k, v in outputs.items()}
        if squeeze:
            outputs = {k: v[:, 0] for k, v in outputs.items()}
        return Projection(**outputs)

    def projection_function(
        self,
        layer: int | str,
        mode: str = "max",
        rule: str = "deconvnet",
        features_per_image: int | None = None,
        input_size: Sequence[int] | None = None,
    ):
        """A function `(images [B,H,W,C] float32, features [B,K] int32) -> dict of tensors`
        (see `project_tensors`), one per layer, mode, rule, K and input size: its first call
        runs the ops eagerly, later calls one traced graph (`TracedOnReuse`; the two agree to
        float32 rounding).

        `features` may hold -1 (that image's strongest map); out-of-range features fail with
        `InvalidArgumentError` naming `feature`. `features_per_image` fixes K in the signature
        (the graph is cheaper when K is known; None: any K).
        """
        self._check_mode(mode)
        self._check_rule(rule)
        height, width = self._size(input_size)
        path, _ = self._target(layer, height, width)
        channels = self.graph.shapes[self.graph.input_key][-1]
        key = (path, mode, rule, features_per_image, height, width)
        if key not in self._functions:
            # A partial, not a lambda: TF keys its retracing warning on the code object, and
            # functions sharing one lambda would look like one function retracing.
            self._functions[key] = TracedOnReuse(
                functools.partial(self.project_tensors, layer=layer, mode=mode, rule=rule),
                [
                    tf.TensorSpec([None, height, width, channels], tf.float32, name="images"),
                    tf.TensorSpec([None, features_per_image], tf.int32, name="features"),
                ],
            )
        return self._functions[key]

    def project_tensors(self, images, features, layer: int | str, mode: str = "max", rule: str = "deconvnet"):
        """The projection as TensorFlow ops (for tracing into graphs; see `project`).

        Args:
            images: float32 `[B, H, W, C]` with a static height and width.
            features: int32 `[B, K]`; -1 selects each image's strongest map.

        Returns:
            dict with `reconstructions` `[B, K, H, W, C]`, `feature` `[B, K]`, `activation`
            `[B, K]`, `location` `[B, K, 2]`, `box` `[B, K, 4]`.
        """
        self._check_mode(mode)
        self._check_rule(rule)
        images = tf.convert_to_tensor(images, tf.float32)
        features = tf.convert_to_tensor(features, tf.int32)
        height, width = images.shape[1], images.shape[2]
        if height is None or width is None:
            raise ValueError(f"images need a static height and width, got shape {images.shape}")
        path, key = self._target(layer, height, width)
        shapes = self.graph.shapes_for(height, width)
        nodes = self.graph.ancestors(key)
        top_shape = shapes[key]
        num_maps = int(top_shape[-1])
        per_image = features.shape[1]
        seed = Window.point() if mode == "max" and spatial(top_shape) else None
        windows = plan_windows(nodes, key, seed, shapes, rule, rule_for)
        projector = Projector(
            rule, shapes, per_image=per_image, grid=extent(top_shape) if spatial(top_shape) else (1, 1)
        )

        label = path if path == layer else f"{layer} ({path})"
        message = f"feature must be -1 or in [0, {num_maps}) for layer {label}"
        # One Assert (tf.debugging.assert_greater_equal and assert_less put ~13 ops each in
        # every projection graph), its data laid out as theirs (what serving's error reader
        # parses: `zfnet_tf.serving.errors`).
        in_range = tf.reduce_all((features >= -1) & (features < num_maps))
        with tf.control_dependencies([tf.debugging.Assert(in_range, [message, "x (features) = ", features])]):
            features = tf.identity(features)

        projector.forward = self._forward(images, nodes, projector.pre_activation)
        top = tf.cast(projector.forward[key], tf.float32)
        batch = tf.shape(top)[0]
        num_per_image = tf.shape(features)[1]
        features, activation, location = select_peaks(top, features)  # [B, K], [B, K], [B, K, 2]

        # One row per (image, feature) pair: n = b * K + k.
        flat_features = tf.reshape(features, [-1])
        # Row n = b * K + k comes from image n // K (a floor division, not tf.repeat's ~27 ops).
        projector.image_index = tf.range(tf.size(flat_features)) // num_per_image
        projector.rows = tf.shape(flat_features)
        projector.location = tf.reshape(location, [-1, 2])
        one_hot = tf.one_hot(flat_features, num_maps, dtype=tf.float32)
        if not spatial(top_shape):
            seed_signal = Signal(tf.reshape(activation, [-1])[:, None] * one_hot, None)
        elif mode == "max":
            seed_signal = Signal(tf.reshape(activation, [-1])[:, None, None, None] * one_hot[:, None, None, :], seed)
        else:
            seed_signal = Signal(
                projector.forward_in(key, Window.full(extent(top_shape))) * one_hot[:, None, None, :],
                Window.full(extent(top_shape)),
            )

        signal = self._descend(nodes, key, seed_signal, windows, projector)
        image_window = Window.full((height, width))
        if signal is None:  # nothing on the way down reaches the input (a constant layer)
            pixels = tf.zeros([tf.shape(flat_features)[0], height, width, images.shape[3]])
        else:
            # Placing the window in the image drops what lies outside it: no cleaning needed.
            pixels = projector.reframe(signal, image_window, self.graph.input_key).values

        field = self.receptive_field(path, (height, width))
        return {
            "reconstructions": tf.reshape(pixels, [batch, num_per_image, height, width, images.shape[3]]),
            "feature": features,
            "activation": activation,
            "location": location,
            "box": field.box_tensor(location),
        }

    # -- the two passes ---------------------------------------------------------------------

    def _descend(self, nodes, top_key: int, seed: Signal, windows: dict, projector: Projector) -> Signal | None:
        """Carries the seed from the chosen layer down to the input, layer by layer in
        reverse; a tensor read by several layers sums what comes back from each."""
        signals = {top_key: projector.reframe(seed, windows[top_key], top_key)}
        for node in reversed(nodes):
            outs = [signals.pop(key, None) for key in node.outputs]
            if outs[0] is None:
                continue
            for key, signal in zip(node.inputs, rule_for(node.layer).backward(node, outs, projector)):
                signal = projector.reframe(signal, windows[key], key)
                if key in signals:
                    previous = signals[key]
                    signal = Signal(previous.values + signal.values, signal.window, previous.dirty or signal.dirty)
                signals[key] = signal
        return signals.get(self.graph.input_key)

    # -- argument checks --------------------------------------------------------------------

    @staticmethod
    def _check_mode(mode) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    @staticmethod
    def _check_rule(rule) -> None:
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")

    def _check_images(self, images) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        height, width = self.input_size()
        channels = self.graph.shapes[self.graph.input_key][-1]
        expected = f"[batch, {height or 'H'}, {width or 'W'}, {channels}]"
        if images.ndim == 3:
            raise ValueError(
                f"images must have rank 4 {expected}; got shape {images.shape} "
                "(add a batch axis for a single image)"
            )
        if (
            images.ndim != 4
            or images.shape[-1] != channels
            or (height is not None and images.shape[1] != height)
            or (width is not None and images.shape[2] != width)
        ):
            raise ValueError(f"images must have shape {expected}, got {images.shape}")
        if images.shape[0] == 0:
            raise ValueError("images is an empty batch")
        return images

    @staticmethod
    def _check_feature(feature, num_maps: int, batch: int, layer: str) -> tuple[np.ndarray, bool]:
        """`(features [B, K] int32, whether the outputs drop the K axis)`."""
        is_array = isinstance(feature, (np.ndarray, tf.Tensor))
        values = np.asarray(feature.numpy() if isinstance(feature, tf.Tensor) else feature)
        if values.size == 0 or values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(
                f"feature must be an int, -1, a list of ints, or an int array [B] / [B, K]; got {feature!r}"
            )
        if np.any(values < -1) or np.any(values >= num_maps):
            raise ValueError(
                f"feature {feature!r} is out of range for layer {layer}: it has {num_maps} maps "
                f"(valid: 0..{num_maps - 1}, or -1 for each image's strongest)"
            )
        if values.ndim == 0:
            return np.full((batch, 1), int(values), np.int32), True
        if values.ndim == 1 and not is_array:
            return np.broadcast_to(values[None, :].astype(np.int32), (batch, values.shape[0])).copy(), False
        if values.ndim in (1, 2) and values.shape[0] == batch:
            return values.reshape(batch, -1).astype(np.int32), values.ndim == 1
        raise ValueError(
            f"feature array must have shape [{batch}] or [{batch}, K] for {batch} images, got {values.shape}"
        )


# Keyed by id: an entry lives only while someone holds its Deconvnet, which holds the model, so
# the id cannot be reused meanwhile.
_SHARED: "weakref.WeakValueDictionary[int, Deconvnet]" = weakref.WeakValueDictionary()


def shared_deconvnet(model: Any) -> Deconvnet:
    """The one `Deconvnet` of `model` while anyone holds it: every analysis, report and training
    callback reading `model` at once asks for it here, so a projection traced for one (a layer's
    top-9) serves the next (Fig. 4, occlusion) instead of being traced again. A Deconvnet owns
    no variables (it reads the model's kernels at every call), so sharing it changes no number;
    when the last holder lets go, it goes."""
    deconvnet = _SHARED.get(id(model))
    if deconvnet is None or deconvnet.model is not model:
        deconvnet = _SHARED[id(model)] = Deconvnet(model)
    return deconvnet

