"""Real photos that ship with scikit-image: images for demos and tests, no network needed."""

from __future__ import annotations

import numpy as np

from zfnet_tf.data.augmentation import resize_to_square

# scikit-image's bundled photographs (skimage.data), all RGB.
SAMPLE_NAMES = ("astronaut", "chelsea", "coffee", "rocket")


def sample_images(
    size: int, names: tuple[str, ...] = SAMPLE_NAMES, resize_size: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """scikit-image's sample photos as a float32 `[N, size, size, 3]` batch and their names
    (`resize_to_square(photo, size, resize_size)`)."""
    import skimage.data

    unknown = [n for n in names if n not in SAMPLE_NAMES]
    if unknown:
        raise ValueError(f"unknown sample image(s) {unknown}; available: {SAMPLE_NAMES}")
    images = [
        resize_to_square(getattr(skimage.data, name)()[..., :3], size, resize_size).numpy()
        for name in names
    ]
    return np.stack(images), list(names)
