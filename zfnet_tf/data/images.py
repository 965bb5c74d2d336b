"""Image files to model inputs."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from zfnet_tf.data.augmentation import resize_to_square


def load_image_file(path: str | os.PathLike, size: int, resize_size: int | None = None) -> np.ndarray:
    """Decodes a JPEG/PNG/GIF/BMP file to RGB, resizes the smaller side to `resize_size`
    (default `size`) and takes the centre `size` square (`resize_to_square`): float32
    `[size, size, 3]` in 0-255. A model's sizes are `config.input_size` and
    `config.image_resize_size`. Raises ValueError naming the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"image file not found: {path}")
    try:
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
        raise ValueError(f"cannot decode image file {path}: {error.message.splitlines()[0]}") from None
    return resize_to_square(image, size, resize_size).numpy()


def load_image_files(
    paths: Sequence[str | os.PathLike], size: int, resize_size: int | None = None
) -> np.ndarray:
    """`load_image_file` for each path, stacked to `[N, size, size, 3]`."""
    if not paths:
        raise ValueError("no image files given")
    return np.stack([load_image_file(p, size, resize_size) for p in paths])
