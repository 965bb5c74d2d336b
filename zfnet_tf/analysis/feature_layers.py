"""Which layer an analysis reads, for ZFNet's numbered layers and any other model by name.

Two views of a layer matter:

- its *top maps*, what the deconvnet projects (Top9, Occlusion): `Deconvnet.layer_name`, which
  answers for ZFNet's numbers 1-5 and for any layer name;
- its *feature vector*, what the next layer reads (Invariance, Correspondence, LayerFeatures):
  `feature_layer`. For ZFNet's numbers that is the map after contrast normalization where the
  network has one (`output_name`), and 6 and 7 are fc6 and fc7; a layer name is that layer.

Everything else is read from the model's graph (`zfnet_tf.deconv.Deconvnet`), not from a
configuration, so a keras.applications network or a transferred model works the same way.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from zfnet_tf.config import ZFNetConfig
from zfnet_tf.deconv import Deconvnet
from zfnet_tf.deconv.graph import ends_in_softmax


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


def feature_layer(deconvnet: Deconvnet, layer: int | str) -> str:
    """The canonical name of the layer whose output is `layer`'s feature vector."""
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        config = zfnet_config(deconvnet.model)
        if config is None:
            raise ValueError(
                f"layer {layer!r}: layer numbers name ZFNet's layers; name a layer of this model "
                f"instead (e.g. {deconvnet.graph.output_name()!r}; model.summary() lists them)"
            )
        return deconvnet.layer_name(output_name(config, int(layer)))
    return deconvnet.layer_name(layer)


def penultimate_layer(deconvnet: Deconvnet) -> str:
    """The layer the classifier's output reads (through any dropout): fc7 for ZFNet, VGG16's
    `fc2`, ResNet50's `avg_pool`."""
    graph = deconvnet.graph
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
