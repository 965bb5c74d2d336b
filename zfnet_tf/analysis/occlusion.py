"""Occlusion sensitivity: a grey square swept over the image (paper Fig. 7)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.analysis.feature_layers import (
    check_images,
    classifier_with_features,
    resolve_fill,
    top_name,
)
from zfnet_tf.deconv import Deconvnet
from zfnet_tf.models import get_backbone


@dataclass
class OcclusionResult:
    """What `Occlusion.run` measured, for N images and a grid of square positions.

    Map cell `[i, r, c]` is for the square whose top-left pixel is `(rows[r], cols[c])`.

    Attributes:
        layer: the paper layer whose feature map is watched (5 in the paper).
        patch_size, stride: the square's side and the step between positions, in pixels.
        fill: the square's RGB value.
        rows, cols: int `[R]`, `[Q]` top-left pixel of each position.
        feature: int `[N]` the layer's map with the strongest activation on the unoccluded image.
        label: int `[N]` the class whose probability is mapped ("true" class).
        feature_activation: float32 `[N, R, Q]` total activation of `feature`'s map (sum over
            its positions) with the square there (paper Fig. 7 b).
        label_probability: float32 `[N, R, Q]` softmax probability of `label` (Fig. 7 d).
        top_class: int32 `[N, R, Q]` the most probable class (Fig. 7 e).
        top_class_probability: float32 `[N, R, Q]` its probability.
        unoccluded_activation, unoccluded_probability, unoccluded_top_class: `[N]` the same
            measures without the square.
        projection: float32 `[N, S, S, 3]` deconvnet projection of `feature`'s strongest
            activation in the unoccluded image (Fig. 7 c).
    """

    layer: int
    patch_size: int
    stride: int
    fill: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    feature: np.ndarray
    label: np.ndarray
    feature_activation: np.ndarray
    label_probability: np.ndarray
    top_class: np.ndarray
    top_class_probability: np.ndarray
    unoccluded_activation: np.ndarray
    unoccluded_probability: np.ndarray
    unoccluded_top_class: np.ndarray
    projection: np.ndarray

    def to_json(self) -> dict:
        return {
            "layer": self.layer,
            "patch_size": self.patch_size,
            "stride": self.stride,
            "fill": [float(v) for v in self.fill],
            "rows": self.rows.tolist(),
            "cols": self.cols.tolist(),
            "images": [
                {
                    "feature": int(self.feature[i]),
                    "label": int(self.label[i]),
                    "unoccluded": {
                        "feature_activation": float(self.unoccluded_activation[i]),
                        "label_probability": float(self.unoccluded_probability[i]),
                        "top_class": int(self.unoccluded_top_class[i]),
                    },
                    "feature_activation": np.round(self.feature_activation[i], 6).tolist(),
                    "label_probability": np.round(self.label_probability[i], 6).tolist(),
                    "top_class": self.top_class[i].tolist(),
                    "top_class_probability": np.round(self.top_class_probability[i], 6).tolist(),
                }
                for i in range(len(self.feature))
            ],
        }


class Occlusion:
    """Slides a grey square over an image and maps how the network's answers change.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 4.2 and Fig. 7: "systematically occluding different
    portions of the input image with a grey square, and monitoring the output of the
    classifier". For each position of the square it records (b) the total activation of the
    layer-5 feature map that is strongest on the unoccluded image, (d) the probability of the
    correct class and (e) the most probable class; (c) is that feature's projection.

    The occluded copies are built inside the graph (a mask per position) and run through one
    forward pass that yields both the layer's maps and the logits, `batch_size` positions at
    a time.

    Args:
        model: a ZFNet classifier.
        layer: the paper layer whose strongest map is watched (1-5; the paper uses 5).
        patch_size: the square's side in pixels (default: a quarter of the input side).
        stride: pixels between positions (default: a sixteenth of the input side).
        fill: "mean" (the model's mean RGB: grey), a number, or an RGB triple.
        batch_size: occluded images per forward batch.
    """

    def __init__(
        self,
        model: keras.Model,
        layer: int = 5,
        patch_size: int | None = None,
        stride: int | None = None,
        fill="mean",
        batch_size: int = 64,
    ):
        self.deconvnet = Deconvnet(model)
        self.deconvnet.num_features(layer)  # checks the layer
        self.config = get_backbone(model).config
        size = self.config.input_size
        self.layer = layer
        self.patch_size = int(patch_size) if patch_size is not None else max(1, size // 4)
        self.stride = int(stride) if stride is not None else max(1, size // 16)
        if not 1 <= self.patch_size <= size:
            raise ValueError(f"patch_size must be in 1..{size} (the input side), got {patch_size}")
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.fill = resolve_fill(self.config, fill)
        self.num_classes = int(model.output_shape[-1])
        self._top_name = top_name(self.config, layer)
        self._model = classifier_with_features(model, [self._top_name])
        self._measure = tf.function(self._measure_positions, reduce_retracing=True)

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Top-left rows and columns of the square (the same list for both axes)."""
        starts = np.arange(0, self.config.input_size - self.patch_size + 1, self.stride, dtype=np.int32)
        return starts, starts

    def run(self, images, labels=None) -> OcclusionResult:
        """Maps occlusion sensitivity for each image.

        Args:
            images: float `[N, S, S, 3]`, RGB 0-255.
            labels: int `[N]` true classes; default: each image's most probable class.
        """
        images = check_images(images, self.config.input_size)
        num = images.shape[0]
        rows, cols = self.positions()
        grid_rows, grid_cols = np.meshgrid(rows, cols, indexing="ij")
        tops, lefts = grid_rows.reshape(-1), grid_cols.reshape(-1)

        unoccluded = self._model(images, training=False)
        top = unoccluded[self._top_name].numpy().reshape(num, -1, self.deconvnet.num_features(self.layer))
        feature = top.max(axis=1).argmax(axis=1).astype(np.int32)
        probabilities = tf.nn.softmax(unoccluded["logits"]).numpy()
        if labels is None:
            labels = probabilities.argmax(axis=1)
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if labels.shape != (num,) or np.any(labels < 0) or np.any(labels >= self.num_classes):
            raise ValueError(
                f"labels must be {num} class indices in 0..{self.num_classes - 1}, got {labels.tolist()}"
            )

        maps = {name: np.zeros((num, tops.size), np.float32) for name in ("activation", "probability", "top_probability")}
        top_class = np.zeros((num, tops.size), np.int32)
        for i in range(num):
            for start in range(0, tops.size, self.batch_size):
                chunk = slice(start, start + self.batch_size)
                activation, probability, best, best_probability = self._measure(
                    tf.constant(images[i]),
                    tf.constant(feature[i]),
                    tf.constant(labels[i], tf.int32),
                    tf.constant(tops[chunk]),
                    tf.constant(lefts[chunk]),
                )
                maps["activation"][i, chunk] = activation.numpy()
                maps["probability"][i, chunk] = probability.numpy()
                maps["top_probability"][i, chunk] = best_probability.numpy()
                top_class[i, chunk] = best.numpy()

        projection = self.deconvnet.project(images, self.layer, feature=-1)
        shape = (num, rows.size, cols.size)
        return OcclusionResult(
            layer=self.layer,
            patch_size=self.patch_size,
            stride=self.stride,
            fill=self.fill,
            rows=rows,
            cols=cols,
            feature=feature,
            label=labels.astype(np.int32),
            feature_activation=maps["activation"].reshape(shape),
            label_probability=maps["probability"].reshape(shape),
            top_class=top_class.reshape(shape),
            top_class_probability=maps["top_probability"].reshape(shape),
            unoccluded_activation=top.sum(axis=1)[np.arange(num), feature],
            unoccluded_probability=probabilities[np.arange(num), labels],
            unoccluded_top_class=probabilities.argmax(axis=1).astype(np.int32),
            projection=projection.reconstructions,
        )

    def occlude(self, image, tops, lefts) -> tf.Tensor:
        """Copies of `image` `[S, S, 3]` with the square at each `(tops[p], lefts[p])`: `[P, S, S, 3]`."""
        size = self.config.input_size
        pixels = tf.range(size)
        inside_rows = (pixels[None, :] >= tops[:, None]) & (pixels[None, :] < tops[:, None] + self.patch_size)
        inside_cols = (pixels[None, :] >= lefts[:, None]) & (pixels[None, :] < lefts[:, None] + self.patch_size)
        mask = inside_rows[:, :, None, None] & inside_cols[:, None, :, None]  # [P, S, S, 1]
        return tf.where(mask, tf.constant(self.fill, tf.float32), tf.convert_to_tensor(image, tf.float32)[None])

    def _measure_positions(self, image, feature, label, tops, lefts):
        outputs = self._model(self.occlude(image, tops, lefts), training=False)
        top = tf.cast(outputs[self._top_name], tf.float32)
        activation = tf.reduce_sum(top[..., feature], axis=[1, 2])
        probabilities = tf.nn.softmax(tf.cast(outputs["logits"], tf.float32))
        probability = probabilities[:, label]
        best = tf.argmax(probabilities, axis=1, output_type=tf.int32)
        return activation, probability, best, tf.reduce_max(probabilities, axis=1)
