"""What the analyses read from a ZFNet: the named output of each paper layer, data in batches.

The paper numbers layers 1-7 (Fig. 3). Two views of a convolutional layer matter here:

- its *top maps*, the maps the deconvnet projects from (pooled for layers 1, 2, 5, the ReLU
  output for 3 and 4): `top_name`;
- its *output*, what the next layer reads (after contrast normalization where the network
  has one), used as the layer's feature vector: `output_name`. Layers 6 and 7 are fc6, fc7.
"""

from __future__ import annotations

import math
from typing import Iterator

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.config import ZFNetConfig
# classifier_with_features lives with the models (the export builds one too); analyses import it from here.
from zfnet_tf.models import classifier_with_features, get_backbone  # noqa: F401

PAPER_LAYERS = (1, 2, 3, 4, 5, 6, 7)


def top_name(config: ZFNetConfig, layer: int) -> str:
    """The backbone layer whose output is layer `layer`'s top maps (what the deconvnet projects)."""
    block = config.block(layer)
    return f"pool{layer}" if block.pool else f"conv{layer}"


def output_name(config: ZFNetConfig, layer: int) -> str:
    """The backbone layer whose output is the feature vector of paper layer `layer` (1-7)."""
    if layer in (6, 7):
        if len(config.dense_units) < layer - 5:
            raise ValueError(
                f"layer {layer} (fc{layer}) was removed from this network "
                f"(its fully connected layers: {len(config.dense_units)})"
            )
        return f"fc{layer}"
    if not isinstance(layer, (int, np.integer)) or not 1 <= layer <= 5:
        raise ValueError(f"layer must be an int in 1..7, got {layer!r}")
    block = config.block(layer)
    normalized_last = config.normalization_position == "after_pool" or not block.pool
    if block.normalize and config.normalization is not None and normalized_last:
        return f"norm{layer}"
    return top_name(config, layer)


def available_layers(config: ZFNetConfig) -> tuple[int, ...]:
    """The paper layers (1-7) this network has."""
    return tuple(config.conv_layers) + tuple(6 + i for i in range(min(2, len(config.dense_units))))


def last_fc_layer(config: ZFNetConfig) -> int | None:
    """7, or 6 when fc7 was removed, or None when there are no fully connected layers."""
    return 5 + min(2, len(config.dense_units)) if config.dense_units else None


def resolve_fill(config: ZFNetConfig, fill) -> np.ndarray:
    """The RGB value of occluders and of pixels a transform uncovers.

    "mean" is the model's mean RGB: grey that the model's mean subtraction turns into zeros.
    A number is used for all three channels; three numbers are an RGB triple.
    """
    if isinstance(fill, str):
        if fill != "mean":
            raise ValueError(f"fill must be 'mean', a number or 3 numbers (RGB 0-255), got {fill!r}")
        return np.asarray(config.mean_rgb, np.float32)
    values = np.asarray(fill, np.float32).reshape(-1)
    if values.size == 1:
        values = np.repeat(values, 3)
    if values.size != 3 or not np.all(np.isfinite(values)):
        raise ValueError(f"fill must be 'mean', a number or 3 numbers (RGB 0-255), got {fill!r}")
    return values


def check_images(images, size: int, name: str = "images") -> np.ndarray:
    """float32 `[N, size, size, 3]` or a ValueError naming what is wrong."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise ValueError(f"{name} must have shape [N, {size}, {size}, 3] (RGB 0-255), got {images.shape}")
    if images.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return images


def count_examples(data) -> int | None:
    """The number of examples of an array or a finite `tf.data.Dataset`, if known."""
    if isinstance(data, tf.data.Dataset):
        count = int(data.cardinality().numpy())
        return count if count >= 0 else None
    return len(data)


def iterate_batches(
    data, batch_size: int, size: int, progress: bool = True, description: str = ""
) -> Iterator[tuple[tf.Tensor, tf.Tensor | None]]:
    """Yields `(images float32 [B, size, size, 3], labels int32 [B] or None)` with a progress bar.

    `data` is an array of images, or a `tf.data.Dataset` of unbatched `(image, label)` pairs
    or of images alone (what `zfnet_tf.data.load_data(...).dataset` is).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    total = count_examples(data)
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        labelled = isinstance(spec, tuple)
        image_spec = spec[0] if labelled else spec
        if image_spec.shape.rank != 3 or tuple(image_spec.shape[-3:]) not in {(size, size, 3), (None, None, 3)}:
            raise ValueError(
                f"the dataset's images must be unbatched [{size}, {size}, 3] for this model, "
                f"got {image_spec.shape} (load it with image_size={size})"
            )
        batches = data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    else:
        array = check_images(data, size)
        labelled = False
        batches = (
            tf.constant(array[start : start + batch_size]) for start in range(0, len(array), batch_size)
        )
    bar = None
    if progress:
        target = None if total is None else math.ceil(total / batch_size)
        if description:
            print(description)
        bar = keras.utils.Progbar(target, unit_name="batch")
    seen = 0
    for batch in batches:
        images, labels = (batch if labelled else (batch, None))
        images = tf.cast(images, tf.float32)
        seen += 1
        yield images, (None if labels is None else tf.cast(labels, tf.int32))
        if bar is not None:
            bar.update(seen)
    if seen == 0:
        raise ValueError("the data has no images")


def images_and_labels(data, size: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Materializes the first `limit` examples of `data` as arrays (for per-image analyses)."""
    if isinstance(data, tf.data.Dataset):
        if limit is not None:
            data = data.take(limit)
        images, labels = [], []
        for batch_images, batch_labels in iterate_batches(data, 256, size, progress=False):
            images.append(batch_images.numpy())
            if batch_labels is not None:
                labels.append(batch_labels.numpy())
        return np.concatenate(images), (np.concatenate(labels) if labels else None)
    images = check_images(data, size)
    return (images if limit is None else images[:limit]), None
