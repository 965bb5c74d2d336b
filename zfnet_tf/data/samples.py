"""Real photos that ship with scikit-image: images for demos, tests and the explorer page, no
network needed.

`SAMPLE_PHOTOS` is the one list of them; importing this module loads no TensorFlow, so the
model server's explorer reads it too (`zfnet_tf.serving.explorer.samples`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# scikit-image's bundled photographs (skimage.data), all RGB, with what each shows.
SAMPLE_PHOTOS = {
    "astronaut": "astronaut Eileen Collins (scikit-image)",
    "chelsea": "a tabby cat (scikit-image)",
    "coffee": "a cup of coffee (scikit-image)",
    "rocket": "a rocket on its launch pad (scikit-image)",
}
SAMPLE_NAMES = tuple(SAMPLE_PHOTOS)


def sample_photo(name: str) -> np.ndarray:
    """The sample photo `name` at its own size: uint8 `[H, W, 3]` RGB."""
    if name not in SAMPLE_PHOTOS:
        raise ValueError(f"unknown sample image {name!r}; available: {SAMPLE_NAMES}")
    import skimage.data

    return getattr(skimage.data, name)()[..., :3]


def sample_images(
    size: int, names: tuple[str, ...] = SAMPLE_NAMES, resize_size: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """scikit-image's sample photos as a float32 `[N, size, size, 3]` batch and their names
    (`resize_to_square(photo, size, resize_size)`)."""
    import numpy as np

    from zfnet_tf.data.augmentation import resize_to_square

    unknown = [n for n in names if n not in SAMPLE_PHOTOS]
    if unknown:
        raise ValueError(f"unknown sample image(s) {unknown}; available: {SAMPLE_NAMES}")
    images = [resize_to_square(sample_photo(name), size, resize_size).numpy() for name in names]
    return np.stack(images), list(names)
