"""Probing a classifier, stated once for the analyses and the export signatures: the grey
square laid over images (the paper's Fig. 7 occluder, Table 1's masked parts) and class
scores read as probabilities.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def fill_boxes(images, top, left, bottom, right, fill: Sequence[float]) -> tf.Tensor:
    """float32 copies of `images` with the pixels in rows `[top, bottom)` and columns
    `[left, right)` set to `fill` (an RGB colour). A box may hang over the edges.

    `images` `[..., S, S, C]` and the box corners (any shape `B`, e.g. `[N]` one box per image
    or `[P]` positions of a square over one image) broadcast: the result is `[*B, S, S, C]`
    for `images` `[S, S, C]`, or images `[N, 1, S, S, C]` with corners `[N, P]` give
    `[N, P, S, S, C]`.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    corners = [tf.cast(value, tf.int32)[..., None] for value in (top, left, bottom, right)]
    top, left, bottom, right = corners
    rows = tf.range(tf.shape(images)[-3])
    cols = tf.range(tf.shape(images)[-2])
    inside_rows = (rows >= top) & (rows < bottom)  # [*B, S]
    inside_cols = (cols >= left) & (cols < right)
    inside = inside_rows[..., :, None, None] & inside_cols[..., None, :, None]  # [*B, S, S, 1]
    return tf.where(inside, tf.constant(fill, tf.float32), images)


def class_probabilities(scores, ends_in_softmax: bool) -> tf.Tensor:
    """float32 class probabilities from a classifier's output: a softmax over its logits, or
    the output itself when the model ends in a softmax (`zfnet_tf.deconv.graph.ends_in_softmax`)."""
    scores = tf.cast(scores, tf.float32)
    return scores if ends_in_softmax else tf.nn.softmax(scores, axis=-1)
