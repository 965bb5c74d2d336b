"""Image files to model inputs."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from zfnet_tf.data.augmentation import resize_to_square
from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS, decoded_pixels, pixel_limit_problem


def load_image_file(
    path: str | os.PathLike,
    size: int,
    resize_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decodes a JPEG/PNG/GIF/BMP/WebP file to RGB, resizes the smaller side to `resize_size`
    (default `size`) and takes the centre `size` square (`resize_to_square`): float32
    `[size, size, 3]` in 0-255. A model's sizes are `config.input_size` and
    `config.image_resize_size`. Raises ValueError naming the file, also for an image of more
    than `max_pixels` (width x height by its header, read before anything is decoded)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"image file not found: {path}")
    with open(path, "rb") as handle:
        try:
            width, height, pixels = decoded_pixels(handle)
        except ValueError as error:
            raise ValueError(f"cannot decode image file {path}: {error}") from None
    too_big = pixel_limit_problem(width, height, max_pixels, pixels)
    if too_big:
        raise ValueError(f"{path}: {too_big}")
    try:
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, channels=3, expand_animations=False).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
        raise ValueError(f"cannot decode image file {path}: {error.message.splitlines()[0]}") from None
    return resize_to_square(image, size, resize_size).numpy()


def load_image_files(
    paths: Sequence[str | os.PathLike],
    size: int,
    resize_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """`load_image_file` for each path, stacked to `[N, size, size, 3]`."""
    if not paths:
        raise ValueError("no image files given")
    return np.stack([load_image_file(p, size, resize_size, max_pixels) for p in paths])
