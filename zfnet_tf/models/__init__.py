"""ZFNet as Keras models: a backbone (layers 1-7) and an image classifier (fc8)."""

from __future__ import annotations

from typing import Any

import keras

from zfnet_tf.config import ZFNetConfig, get_config
from zfnet_tf.models.backbone import ZFNetBackbone
from zfnet_tf.models.applications import application_names, keras_application
from zfnet_tf.models.classifier import ImageClassifier, ZFNetImageClassifier
from zfnet_tf.models.efficientnet_lite import efficientnet_lite


def build_model(
    preset: str | ZFNetConfig = "zfnet",
    num_classes: int | None = None,
    class_names: list[str] | None = None,
    **overrides: Any,
) -> ZFNetImageClassifier:
    """ZFNet from a preset name (see `zfnet_tf.config.PRESETS`) with config fields overridden.

    `build_model("zfnet")` is the network of the paper's Fig. 3 with 1000 classes;
    `build_model("tiny", num_classes=10, normalization=None)` a CPU-sized variant.
    """
    if num_classes is None and class_names is not None:
        num_classes = len(class_names)
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    config = get_config(preset, **overrides)
    return ZFNetImageClassifier(ZFNetBackbone(config), class_names=class_names)


def zfnet_backbone(model: keras.Model) -> ZFNetBackbone | None:
    """The `ZFNetBackbone` of a ZFNet classifier (or the backbone itself); None for any other
    model (a keras.applications network, a user's CNN)."""
    if isinstance(model, ZFNetBackbone):
        return model
    backbone = getattr(model, "backbone", None)
    return backbone if isinstance(backbone, ZFNetBackbone) else None


def get_backbone(model: keras.Model) -> ZFNetBackbone:
    """The `ZFNetBackbone` of a ZFNet classifier (or the backbone itself), or a ValueError."""
    backbone = zfnet_backbone(model)
    if backbone is not None:
        return backbone
    raise ValueError(
        f"expected a ZFNetImageClassifier or ZFNetBackbone, got {type(model).__name__} "
        f"{getattr(model, 'name', '')!r}"
    )


def load_model(path: str) -> keras.Model:
    """Loads a `.keras` model file (a ZFNet, a keras.applications classifier, any Keras model
    of supported layers); a missing or unreadable file raises ValueError naming it."""
    import os

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"model file not found: {path}")
    if not path.endswith(".keras"):
        raise ValueError(f"model file must be a .keras archive, got {path}")
    import zipfile

    if not zipfile.is_zipfile(path):  # Keras would call it "File not found"
        raise ValueError(f"{path} is not a Keras model file (a .keras file is a zip archive)")
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # Keras raises many types for corrupt archives
        raise ValueError(f"cannot load model file {path}: {error}") from error
    if not isinstance(model, keras.Model):
        raise ValueError(f"model file {path} holds a {type(model).__name__}, not a Keras model")
    return model


def save_model(model: keras.Model, path: str) -> str:
    """Writes `model` to the `.keras` file `path` atomically: to a temporary file beside it,
    renamed into place once complete, so `path` is never a partial file; returns `path`."""
    import os

    from zfnet_tf.files import atomic_path

    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"model file must end with .keras, got {path}")
    with atomic_path(path) as temporary:
        model.save(temporary)
    return path


def image_transform(model: keras.Model) -> tuple[int, int]:
    """`(size, resize_size)` of the model's evaluation transform: the shorter side of an image
    resized to `resize_size`, then the centre `size` square (`zfnet_tf.data.resize_to_square`).
    A ZFNet's config says it; other classifiers carry `resize_size` (`ImageClassifier`), else
    the whole image is resized to the input (`resize_size == size`)."""
    backbone = zfnet_backbone(model)
    if backbone is not None:
        return backbone.config.input_size, backbone.config.image_resize_size
    size = input_size(model)
    return size, int(getattr(model, "resize_size", None) or size)


def input_size(model: keras.Model) -> int:
    """The side of the square images `model` takes (its input's height and width)."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
        raise ValueError(
            f"model {model.name!r} takes inputs of shape {shape}; zfnet-tf needs square images "
            "of a fixed size [batch, S, S, channels]"
        )
    return int(shape[1])


__all__ = [
    "ImageClassifier",
    "ZFNetBackbone",
    "ZFNetImageClassifier",
    "application_names",
    "build_model",
    "efficientnet_lite",
    "get_backbone",
    "input_size",
    "keras_application",
    "zfnet_backbone",
    "image_transform",
    "load_model",
    "save_model",
]
