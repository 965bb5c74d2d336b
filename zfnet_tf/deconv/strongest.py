"""Each image's strongest activations: the one reading of "the strongest map and where it
fires" that the deconvnet, top-9, occlusion, the Fig. 4 callback and the export signatures share
(the paper projects "the strongest activation" of a map, Sec. 2.1 and Figs. 2, 4, 7)."""

from __future__ import annotations

import tensorflow as tf


def map_peaks(top) -> tuple[tf.Tensor, tf.Tensor]:
    """Each map's strongest activation in each image and its position.

    Args:
        top: float `[B, H, W, C]` maps, or `[B, C]` (a layer without maps).

    Returns:
        `(peak, position)`: float32 `[B, C]` and int32 `[B, C]`, the flat position
        `row * W + column` of the first maximum (0 for a layer without maps);
        `locations(position, W)` turns it into (row, column).
    """
    top = tf.cast(top, tf.float32)
    if top.shape.rank == 2:
        return top, tf.zeros_like(top, tf.int32)
    flat = tf.reshape(top, [tf.shape(top)[0], -1, top.shape[-1]])
    return tf.reduce_max(flat, axis=1), tf.argmax(flat, axis=1, output_type=tf.int32)


def locations(position, width: int) -> tf.Tensor:
    """int32 `[..., 2]` (row, column) of flat positions in maps `width` wide."""
    position = tf.convert_to_tensor(position, tf.int32)
    return tf.stack([position // width, position % width], axis=-1)


def select_peaks(top, features) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The strongest activation of chosen maps in each image, and where it fires.

    Args:
        top: float `[B, H, W, C]` maps, or `[B, C]`.
        features: int32 `[B, K]` maps per image; -1 picks the image's strongest map (ties: the
            first).

    Returns:
        `(features, activation, location)`: int32 `[B, K]` (-1 resolved), float32 `[B, K]`,
        int32 `[B, K, 2]` (row, column; (0, 0) for a layer without maps).
    """
    peak, position = map_peaks(top)
    strongest = tf.argmax(peak, axis=1, output_type=tf.int32)
    features = tf.convert_to_tensor(features, tf.int32)
    features = tf.where(features < 0, strongest[:, None], features)
    width = top.shape[2] if len(top.shape) == 4 else 1
    location = locations(tf.gather(position, features, batch_dims=1), width)
    return features, tf.gather(peak, features, batch_dims=1), location


def strongest_map(top) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Each image's strongest map: `(feature, activation, location)`, int32 `[B]`, float32
    `[B]` and int32 `[B, 2]` (see `select_peaks`)."""
    features, activation, location = select_peaks(top, -tf.ones([tf.shape(top)[0], 1], tf.int32))
    return features[:, 0], activation[:, 0], location[:, 0]
