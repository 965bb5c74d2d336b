"""imgclsmob's published ImageNet-1k ZFNets (pytorchcv `zfnet`, `zfnetb`) as zfnet-tf models.

The networks (docs/pretrained.md) are the `zfnet_imgclsmob` / `zfnetb_imgclsmob` presets (Fig. 3's
geometry, or Table 3's 512-1024-512 maps, with response normalization before pools 1-2 and
torchvision's input normalization). The weights come from a PyTorch state dict read in a
separate process (`zfnet_tf.pytorch_weights`: torch and TensorFlow never share a process) and
are laid out for Keras here: conv kernels OIHW -> HWIO, dense (out, in) -> (in, out), and fc6's
inputs permuted from PyTorch's channel-first flatten to the NHWC flatten.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

import numpy as np

from zfnet_tf.config import PRESETS, pretrained_preset
from zfnet_tf.data.imagenet import imagenet_classes
from zfnet_tf.models import build_model
from zfnet_tf.models.classifier import ZFNetImageClassifier
from zfnet_tf.pytorch_weights import check_state_dict, read_torch_weights, torch_layout


def load_torch_state_dict(model: ZFNetImageClassifier, state: Mapping[str, np.ndarray], name: str, source: str) -> None:
    """Sets `model`'s weights from pytorchcv's state dict (checked first, see `check_state_dict`)."""
    config = model.config
    check_state_dict(state, config, name, source)
    backbone = model.backbone
    # fc6 reads the last maps flattened: PyTorch in (C, H, W) order, Keras in (H, W, C) order.
    flat_h, flat_w, flat_c = backbone.get_layer("flatten").input.shape[1:]
    tensors = {t.key: t for t in torch_layout(config)}
    by_layer: dict[str, list[np.ndarray]] = {}
    for key, tensor in tensors.items():
        value = np.asarray(state[key], np.float32)
        if value.ndim == 4:  # conv OIHW -> HWIO
            value = value.transpose(2, 3, 1, 0)
        elif value.ndim == 2:  # dense (out, in) -> (in, out)
            if tensor.layer == "fc6":
                units = value.shape[0]
                value = value.reshape(units, flat_c, flat_h, flat_w).transpose(2, 3, 1, 0)
                value = value.reshape(flat_h * flat_w * flat_c, units)
            else:
                value = value.T
        by_layer.setdefault(tensor.layer, []).append(np.ascontiguousarray(value))
    for layer_name, weights in by_layer.items():
        layer = model.get_layer("fc8") if layer_name == "fc8" else backbone.get_layer(layer_name)
        layer.set_weights(weights)


def pretrained(
    name: str,
    weights: str | os.PathLike | Mapping[str, np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ZFNetImageClassifier:
    """imgclsmob's ImageNet-1k ZFNet `name` ("zfnet" or "zfnetb") as a zfnet-tf classifier.

    Without `weights`, pytorchcv's model store fetches the published file (e.g.
    `zfnet-1727-d010ddca.pth`; checksum-verified, cached in `~/.torch/models`); `weights` is a
    local state dict of that architecture instead (the published `.pth`, or what
    `torch.save(model.state_dict())` wrote), or its tensors as `read_torch_weights` returns
    them. Needs the `pretrained` extra (torch, pytorchcv).

    The model takes RGB 0-255 at 224x224 like every zfnet-tf model, carries the input
    normalization and the evaluation transform (shorter side 256, centre 224) in its config,
    and has the 1000 ImageNet class names (`model.class_names`). `progress` (e.g. `print`) is
    told when a download starts and ends.

    Raises:
        ValueError: an unknown name, a missing or unreadable file, another architecture's
            weights (naming the tensor and both shapes), a missing extra, or no network.
    """
    preset = pretrained_preset(name)
    if isinstance(weights, Mapping):
        state, source = weights, f"the given {name} tensors"
        check_state_dict(state, PRESETS[preset], name, source)
    else:
        state = read_torch_weights(name, weights, progress)
        source = os.fspath(weights) if weights is not None else f"pytorchcv's {name} file"
    model = build_model(preset, class_names=list(imagenet_classes().names))
    load_torch_state_dict(model, state, name, source)
    return model
