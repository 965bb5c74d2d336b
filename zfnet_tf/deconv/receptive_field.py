"""Which input pixels an activation can see (the patches of the paper's Fig. 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class ReceptiveField:
    """The input box seen by each position of one layer's maps, per axis (rows, columns).

    Position `(y, x)` sees rows `[y * jump - start, y * jump - start + size)` of the input (and
    the same for columns), before clipping to the image; `box` clips. A layer without maps (a
    `Dense`) sees the whole image: `jump` 0.

    Attributes:
        layer: the layer's path in the model.
        size, jump, start: `(rows, columns)` pairs.
        grid_size: `(height, width)` of the layer's maps.
        input_size: `(height, width)` of the input.
    """

    layer: str
    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]
    grid_size: tuple[int, int]
    input_size: tuple[int, int]

    def box(self, y, x):
        """`(top, left, bottom, right)` of the input box of position (y, x), bottom/right
        exclusive, clipped to the image. `y` and `x` may be ints or equal-shaped int arrays."""
        y = np.asarray(y)
        x = np.asarray(x)
        if np.any((y < 0) | (y >= self.grid_size[0]) | (x < 0) | (x >= self.grid_size[1])):
            raise ValueError(
                f"location ({y}, {x}) is outside layer {self.layer}'s "
                f"{self.grid_size[0]}x{self.grid_size[1]} maps"
            )
        top = y * self.jump[0] - self.start[0]
        left = x * self.jump[1] - self.start[1]
        height, width = self.input_size
        box = (
            np.clip(top, 0, height),
            np.clip(left, 0, width),
            np.clip(top + self.size[0], 0, height),
            np.clip(left + self.size[1], 0, width),
        )
        if y.ndim == 0 and x.ndim == 0:
            return tuple(int(v) for v in box)
        return tuple(np.asarray(v, dtype=np.int64) for v in box)

    def box_tensor(self, location):
        """`box` in TensorFlow: int32 `[..., 4]` boxes of int32 `[..., 2]` locations."""
        location = tf.convert_to_tensor(location, tf.int32)
        first = location * tf.constant(self.jump, tf.int32) - tf.constant(self.start, tf.int32)
        limit = tf.constant(self.input_size, tf.int32)
        top_left = tf.clip_by_value(first, 0, limit)
        bottom_right = tf.clip_by_value(first + tf.constant(self.size, tf.int32), 0, limit)
        return tf.concat([top_left, bottom_right], axis=-1)
