"""`digits`: scikit-learn's 1,797 handwritten digits, shipped inside the package (no network);
its splits a fixed stratified 75% / 25% draw."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from zfnet_tf.data.sources.base import DatasetSource

if TYPE_CHECKING:
    import numpy as np

    from zfnet_tf.data.catalog import DataSource
    from zfnet_tf.data.collection import ImageCollection

# scikit-learn's digits: 1,797 real 8x8 scans; a fixed stratified split keeps numbers comparable.
DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def digits_pixels() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """scikit-learn's embedded handwritten digits: uint8 `[1797, 8, 8]` (its 0-16 ink levels
    scaled to 0-255), int32 labels, and the indices of the fixed train and test splits."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(np.int32)
    train, test = train_test_split(
        np.arange(len(labels)),
        test_size=DIGITS_TEST_FRACTION,
        random_state=DIGITS_SPLIT_SEED,
        stratify=labels,
    )
    return images, labels, {"train": train, "test": test}


class Digits(DatasetSource):
    """scikit-learn's digits as grey 8x8 pixels, named `<digit>/digit_<index>`."""

    name = "digits"
    takes_exclude_file = False

    def class_names(self, source: DataSource) -> tuple[str, ...]:
        return tuple(str(digit) for digit in range(10))

    def listing(self, source: DataSource) -> ImageCollection:
        from zfnet_tf.data.collection import ImageCollection

        images, labels, _ = digits_pixels()
        names = tuple(f"{label}/digit_{index:04d}" for index, label in enumerate(labels))
        return ImageCollection(source, names, labels, self.class_names(source), images, "scikit-learn digits")

    def split_indices(self, source: DataSource, pool: ImageCollection) -> np.ndarray:
        """The fixed stratified draw (the pool is every digit: no exclusions apply)."""
        return super().split_indices(source, pool) if source.split == "all" else digits_pixels()[2][source.split]
