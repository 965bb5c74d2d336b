"""ZFNet as Keras models: a backbone (layers 1-7) and an image classifier (fc8)."""

from __future__ import annotations

from typing import Any

import keras

from zfnet_tf.config import ZFNetConfig, get_config
from zfnet_tf.models.backbone import ZFNetBackbone
from zfnet_tf.models.classifier import ZFNetImageClassifier


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


def get_backbone(model: keras.Model) -> ZFNetBackbone:
    """The `ZFNetBackbone` of a ZFNet classifier (or the backbone itself)."""
    if isinstance(model, ZFNetBackbone):
        return model
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, ZFNetBackbone):
        return backbone
    raise ValueError(
        f"expected a ZFNetImageClassifier or ZFNetBackbone, got {type(model).__name__} "
        f"{getattr(model, 'name', '')!r}"
    )


def load_model(path: str) -> keras.Model:
    """Loads a `.keras` ZFNet file; a missing or unreadable file raises ValueError naming it."""
    import os

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"model file not found: {path}")
    if not path.endswith(".keras"):
        raise ValueError(f"model file must be a .keras archive, got {path}")
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # Keras raises many types for corrupt archives
        raise ValueError(f"cannot load model file {path}: {error}") from error
    get_backbone(model)  # a clear error if it is some other network
    return model


def save_model(model: keras.Model, path: str) -> str:
    """Writes `model` to the `.keras` file `path` atomically: to a temporary file beside it,
    renamed into place once complete, so `path` is never a partial file; returns `path`."""
    import os

    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"model file must end with .keras, got {path}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


__all__ = [
    "ZFNetBackbone",
    "ZFNetImageClassifier",
    "build_model",
    "get_backbone",
    "load_model",
    "save_model",
]
