"""Which layer an analysis reads, and its features, for ZFNet's numbered layers and any other
model by name.

Two views of a layer matter:

- its *top maps*, what the deconvnet projects (Top9, Occlusion): `Deconvnet.layer_name`, which
  answers for ZFNet's numbers 1-5 and for any layer name;
- its *feature vector*, what the next layer reads (Invariance, Correspondence, LayerFeatures,
  transfer): `feature_layer`. For ZFNet's numbers that is the map after contrast normalization
  where the network has one (`output_name`), and 6 and 7 are fc6 and fc7; a layer name is that
  layer; no layer is the one the classifier reads. `feature_reader` reads the vectors: the
  model's own layers, a map average-pooled within a budget (`pooling_window`), flattened.

Everything else is read from the model's graph (`zfnet_tf.deconv.ModelReading`), not from a
configuration, so a keras.applications network or a transferred model works the same way.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np

from zfnet_tf.config import ZFNetConfig
from zfnet_tf.deconv import Deconvnet
from zfnet_tf.deconv.graph import ends_in_softmax
from zfnet_tf.deconv.reading import ModelReading, layer_key


def zfnet_config(model: keras.Model) -> ZFNetConfig | None:
    """The config of a ZFNet (classifier or backbone); None for any other model."""
    from zfnet_tf.models import zfnet_backbone

    backbone = zfnet_backbone(model)
    return None if backbone is None else backbone.config


def output_name(config: ZFNetConfig, layer: int) -> str:
    """The ZFNet layer whose output is the feature vector of paper layer `layer` (1-7)."""
    if layer in (6, 7):
        if len(config.dense_units) < layer - 5:
            raise ValueError(
                f"layer {layer} (fc{layer}) was removed from this network "
                f"(its fully connected layers: {len(config.dense_units)})"
            )
        return f"fc{layer}"
    if not 1 <= layer <= 5:
        raise ValueError(f"layer must be a layer name or a ZFNet layer number 1..7, got {layer!r}")
    block = config.block(layer)
    normalized_last = config.normalization_position == "after_pool" or not block.pool
    if block.normalize and config.normalization is not None and normalized_last:
        return f"norm{layer}"
    return f"pool{layer}" if block.pool else f"conv{layer}"


def zfnet_layers(config: ZFNetConfig) -> tuple[int, ...]:
    """The paper layers (1-7) a ZFNet has."""
    return tuple(config.conv_layers) + tuple(6 + i for i in range(min(2, len(config.dense_units))))


def reading_of(model: keras.Model | ModelReading) -> ModelReading:
    """`model`'s `ModelReading` (a `Deconvnet` is one); its graph is read once per model."""
    return model if isinstance(model, ModelReading) else ModelReading(model)


def feature_layer(model: keras.Model | ModelReading, layer: int | str | None = None) -> str:
    """The canonical name of the layer whose output is `layer`'s feature vector.

    layer: a ZFNet layer number 1-7 (`output_name`); a layer name, unique across the nested
    models, or a path (`"vgg16/block5_pool"`); None: the last layer the paper numbers for a
    ZFNet (fc7, or its last layer where fc layers were removed), else the layer the classifier
    reads (`penultimate_layer`). `model` is a Keras model or its `ModelReading` (`Deconvnet`).
    """
    reading = reading_of(model)
    config = zfnet_config(reading.model)
    if layer is None:
        if config is None:
            return penultimate_layer(reading)
        layer = zfnet_layers(config)[-1]
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if config is None:
            raise ValueError(
                f"layer {layer!r}: layer numbers name ZFNet's layers; name a layer of this model "
                f"instead (e.g. {reading.graph.output_name()!r}; model.summary() lists them)"
            )
        return reading.layer_name(output_name(config, int(layer)))
    return reading.layer_name(layer)


def pooling_window(shape, max_dimensions: int) -> int | None:
    """The average-pooling window (and stride, SAME padding) that brings a layer's maps of
    `shape` `[batch, side, side, channels]` within `max_dimensions` values, on the coarsest
    square grid that fits; None when no pooling is needed (or the output is not a map)."""
    if len(shape) != 4:
        return None
    side, channels = shape[1], shape[3]
    if side is None:
        raise ValueError("maps of a model that takes any input size have no size to pool to a budget")
    grid = max(1, math.isqrt(max_dimensions // channels))
    return -(-side // grid) if grid < side else None


def feature_reader(
    model: keras.Model | ModelReading, layers: Sequence[int | str | None], max_dimensions: int | None = None
) -> keras.Model:
    """A functional model from images to `{canonical name: float32 [batch, D]}`, the feature
    vectors of `layers` (each named as `feature_layer` names it; each read once).

    It is the model's own graph (`ModelReading.feature_model`: every layer and variable shared,
    none copied; nested models reached through their own layers). A map is flattened; with
    `max_dimensions`, first average-pooled (SAME, so border windows average only real
    positions) to the coarsest square grid within that many values (`pooling_window`): the one
    pooling rule of Table 7's per-layer classifiers and of transfer from a convolutional layer.
    """
    reading = reading_of(model)
    names = list(dict.fromkeys(feature_layer(reading, layer) for layer in layers))
    maps = reading.feature_model(names)
    outputs = {}
    for name in names:
        x, key = maps.output[name], layer_key(name)
        window = None if max_dimensions is None else pooling_window(tuple(x.shape), max_dimensions)
        if window is not None:
            x = keras.layers.AveragePooling2D(window, window, padding="same", name=f"{key}_grid")(x)
        if len(x.shape) != 2:
            x = keras.layers.Flatten(name=f"{key}_flat")(x)
        outputs[name] = keras.layers.Activation("linear", dtype="float32", name=f"{key}_features")(x)
    return keras.Model(maps.input, outputs, name=f"{reading.model.name}_features")


def pooled_grid(model: keras.Model | ModelReading, name: str, max_dimensions: int) -> int | None:
    """The side of the grid `feature_reader` pools layer `name`'s maps to (None: not pooled)."""
    graph = reading_of(model).graph
    shape = graph.shapes[graph.resolve(name)[1]]
    window = pooling_window(shape, max_dimensions)
    return None if window is None else -(-shape[1] // window)


def penultimate_layer(model: keras.Model | ModelReading) -> str:
    """The layer the classifier's output reads (through any dropout): fc7 for ZFNet, VGG16's
    `fc2`, ResNet50's `avg_pool`."""
    graph = reading_of(model).graph
    key = graph.node_of(graph.output_keys[0]).inputs[0]
    node = graph.node_of(key)
    while node is not None and isinstance(node.layer, keras.layers.Dropout):
        node = graph.node_of(node.inputs[0])
    if node is None:
        raise ValueError("the model's output layer reads the input directly: it has no feature layer")
    return graph.canonical(node.path)


def default_feature_layers(deconvnet: Deconvnet, which: str) -> tuple[int | str, ...]:
    """The layers an analysis compares by default.

    which: "first_last" (the paper's Fig. 5: layers 1 and 7), "top_last" (Table 1: layers 5
    and 7) or "all" (Table 7: every layer). For ZFNet the paper's numbers (7 becomes the last
    fc layer a network has); for other models the projectable layers
    (`Deconvnet.default_layers`) and the classifier's input (`penultimate_layer`).
    """
    config = zfnet_config(deconvnet.model)
    if config is not None:
        layers = zfnet_layers(config)
        convs, fcs = layers[: len(config.conv_layers)], layers[len(config.conv_layers) :]
        top = 5 if 5 in convs else convs[-1]
        chosen = {"first_last": (convs[0],) + fcs[-1:], "top_last": (top,) + fcs[-1:], "all": layers}
    else:
        convs = tuple(deconvnet.default_layers())
        last = penultimate_layer(deconvnet)
        chosen = {
            "first_last": (convs[0], last),
            "top_last": (convs[-1], last),
            "all": tuple(dict.fromkeys(convs + (last,))),
        }
    if which not in chosen:
        raise ValueError(f"which must be one of {sorted(chosen)}, got {which!r}")
    return chosen[which]


def chosen_feature_layers(
    deconvnet: Deconvnet, layers: Sequence[int | str] | None, default: str
) -> tuple[tuple[int | str, ...], tuple[str, ...]]:
    """`(layers, names)`: the layers given (else `default_feature_layers(deconvnet, default)`)
    and the output each one reads (`feature_layer`)."""
    layers = tuple(layers or default_feature_layers(deconvnet, default))
    return layers, tuple(feature_layer(deconvnet, layer) for layer in layers)


def class_output(deconvnet: Deconvnet) -> tuple[str, bool]:
    """`(name, is_probability)` of the layer giving the model's class scores: logits (ZFNet,
    `zfnet_tf.keras_application`) or, when that layer ends in a softmax, probabilities."""
    from zfnet_tf.models import ZFNetBackbone

    if isinstance(deconvnet.model, ZFNetBackbone):
        raise ValueError("this needs the classifier (with fc8), not the backbone alone")
    graph = deconvnet.graph
    shape = graph.shapes[graph.output_keys[0]]
    if len(shape) != 2:
        raise ValueError(f"this needs a classifier: the model's output has shape {shape}, not [batch, classes]")
    return graph.output_name(), ends_in_softmax(deconvnet.model)
