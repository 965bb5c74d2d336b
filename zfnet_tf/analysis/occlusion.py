"""Occlusion sensitivity: a grey square swept over the image (paper Fig. 7)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.analysis.base import (
    Analysis,
    Params,
    Result,
    check_fill,
    check_int,
    check_layer,
    fill_color,
    true_or_predicted,
)
from zfnet_tf.analysis.data import Data, as_names
from zfnet_tf.analysis.feature_layers import class_output
from zfnet_tf.deconv.strongest import strongest_map
from zfnet_tf.models import input_size
from zfnet_tf.probing import class_probabilities, fill_boxes
from zfnet_tf.progress import keras_verbose


@dataclass(frozen=True)
class OcclusionParams(Params):
    """What `Occlusion` does.

    Attributes:
        layer: the layer whose strongest map is watched: a layer name, or ZFNet's 1-5 (default:
            ZFNet's 5, as the paper, else the last of `Deconvnet.default_layers`).
        patch_size: the square's side in pixels (default: a quarter of the input side).
        stride: pixels between positions (default: a sixteenth of the input side).
        fill: "mean" (the model's neutral colour: ZFNet's mean RGB), a number, or an RGB triple.
        batch_size: occluded images per forward batch.
        progress: show a progress bar (one step per image).
    """

    layer: int | str | None = None
    patch_size: int | None = None
    stride: int | None = None
    fill: str | tuple[float, float, float] = "mean"
    batch_size: int = 64
    progress: bool = True

    def check(self) -> None:
        check_layer("layer", self.layer, optional=True)
        check_int("patch_size", self.patch_size, 1, optional=True)
        check_int("stride", self.stride, 1, optional=True)
        check_int("batch_size", self.batch_size, 1)
        self._set("fill", check_fill(self.fill))


@dataclass
class OcclusionResult(Result):
    """What `Occlusion.run` measured, for N images and a grid of square positions.

    Map cell `[i, r, c]` is for the square whose top-left pixel is `(rows[r], cols[c])`.

    Attributes:
        layer: the layer whose feature map is watched; `layer_name` the layer it names.
        patch_size, stride: the square's side and the step between positions, in pixels.
        fill: the square's RGB value.
        rows, cols: int `[R]`, `[Q]` top-left pixel of each position.
        images: float32 `[N, S, S, 3]` the images.
        feature: int `[N]` the layer's map with the strongest activation on the unoccluded image.
        label: int `[N]` the class whose probability is mapped ("true" class).
        label_source: "given" or "predicted" (the model's answer on the unoccluded image).
        feature_activation: float32 `[N, R, Q]` total activation of `feature`'s map (sum over
            its positions) with the square there (paper Fig. 7 b).
        label_probability: float32 `[N, R, Q]` softmax probability of `label` (Fig. 7 d).
        top_class: int32 `[N, R, Q]` the most probable class (Fig. 7 e).
        top_class_probability: float32 `[N, R, Q]` its probability.
        unoccluded_activation, unoccluded_probability, unoccluded_top_class: `[N]` the same
            measures without the square.
        projection: float32 `[N, S, S, 3]` deconvnet projection of `feature`'s strongest
            activation in the unoccluded image (Fig. 7 c).
        image_names, class_names: for the figure and the JSON, when known.
    """

    kind = "occlusion"

    layer: int | str
    layer_name: str
    patch_size: int
    stride: int
    fill: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    images: np.ndarray
    feature: np.ndarray
    label: np.ndarray
    label_source: str
    feature_activation: np.ndarray
    label_probability: np.ndarray
    top_class: np.ndarray
    top_class_probability: np.ndarray
    unoccluded_activation: np.ndarray
    unoccluded_probability: np.ndarray
    unoccluded_top_class: np.ndarray
    projection: np.ndarray
    image_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None

    def class_name(self, index: int) -> str:
        names = self.class_names
        return names[index] if names is not None and 0 <= index < len(names) else str(index)

    def figures(self):
        from zfnet_tf.analysis import plots

        return {f"{self.stem}.png": plots.occlusion_figure(self)}

    def numbers(self) -> dict:
        images = []
        for i in range(len(self.feature)):
            entry = {
                "feature": int(self.feature[i]),
                "label": int(self.label[i]),
                "label_name": self.class_name(int(self.label[i])),
                "unoccluded": {
                    "feature_activation": float(self.unoccluded_activation[i]),
                    "label_probability": float(self.unoccluded_probability[i]),
                    "top_class": int(self.unoccluded_top_class[i]),
                },
                "feature_activation": np.round(self.feature_activation[i], 6),
                "label_probability": np.round(self.label_probability[i], 6),
                "top_class": self.top_class[i],
                "top_class_probability": np.round(self.top_class_probability[i], 6),
            }
            if self.image_names is not None:
                entry["name"] = self.image_names[i]
            images.append(entry)
        return {
            "layer": self.layer,
            "layer_name": self.layer_name,
            "patch_size": self.patch_size,
            "stride": self.stride,
            "fill": self.fill,
            "label_source": self.label_source,
            "rows": self.rows,
            "cols": self.cols,
            "images": images,
        }


class Occlusion(Analysis):
    """Slides a grey square over an image and maps how the network's answers change.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 4.2 and Fig. 7: "systematically occluding different
    portions of the input image with a grey square, and monitoring the output of the
    classifier". For each position of the square it records (b) the total activation of the
    layer's feature map that is strongest on the unoccluded image, (d) the probability of the
    correct class and (e) the most probable class; (c) is that feature's projection.

    The occluded copies are built inside the graph (a mask per position) and run through one
    forward pass of the model's own layers that yields both the layer's maps and the class
    scores (`Deconvnet.activation_function`), `batch_size` positions at a time.

    Args:
        model: a classifier (a ZFNet, or any model the deconvnet supports) whose output is
            its class scores (logits, or probabilities from a final softmax).
        params: an `OcclusionParams` (or its fields as keywords).
    """

    params_class = OcclusionParams

    def __init__(self, model: keras.Model, params: OcclusionParams | None = None, **overrides):
        super().__init__(model, params, **overrides)
        params = self.params
        self.size = size = input_size(model)
        # The default is the last layer the deconvnet projects by default: ZFNet's 5.
        self.layer = params.layer if params.layer is not None else self.deconvnet.default_layers()[-1]
        self.layer_name = self.deconvnet.layer_name(self.layer)  # checks the layer
        self.num_maps = self.deconvnet.num_features(self.layer)
        self.patch_size = params.patch_size if params.patch_size is not None else max(1, size // 4)
        self.stride = params.stride if params.stride is not None else max(1, size // 16)
        if self.patch_size > size:
            raise ValueError(f"patch_size must be in 1..{size} (the input side), got {params.patch_size}")
        self.fill = fill_color(model, params.fill)
        self._output, self._probabilities = class_output(self.deconvnet)
        self.num_classes = int(self.deconvnet.num_features(self._output))
        self._read = self.deconvnet.activation_function([self.layer, self._output])
        # One trace for every chunk of positions (a last, shorter chunk would otherwise trace
        # the whole forward pass again).
        self._measure = tf.function(
            self._measure_positions,
            input_signature=[
                tf.TensorSpec([size, size, 3], tf.float32),
                tf.TensorSpec([], tf.int32),
                tf.TensorSpec([], tf.int32),
                tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None], tf.int32),
            ],
        )

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Top-left rows and columns of the square (the same list for both axes)."""
        starts = np.arange(0, self.size - self.patch_size + 1, self.stride, dtype=np.int32)
        return starts, starts

    def run(self, data: Data) -> OcclusionResult:
        """Maps occlusion sensitivity for each image of `data`.

        Args:
            data: images `[N, S, S, 3]` (RGB 0-255), `(images, labels)`, a dataset, a name...
                (`analysis_data`); every image is read, so give a few. Its labels are the true
                classes; unlabelled, each image's most probable class on the unoccluded image.
        """
        data = self.data(data)
        images, labels = data.arrays()
        num = images.shape[0]
        rows, cols = self.positions()
        grid_rows, grid_cols = np.meshgrid(rows, cols, indexing="ij")
        tops, lefts = grid_rows.reshape(-1), grid_cols.reshape(-1)

        unoccluded = self._scores(self._read(tf.constant(images)))
        feature = strongest_map(unoccluded["top"])[0].numpy()
        top = unoccluded["top"].reshape(num, -1, self.num_maps)
        probabilities = unoccluded["probabilities"]
        labels, source = true_or_predicted(labels, probabilities, self.num_classes)

        measures = ("activation", "probability", "top_class", "top_probability")
        maps = {name: np.zeros((num, tops.size), np.float32) for name in measures}
        bar = keras.utils.Progbar(num, unit_name="image", verbose=keras_verbose()) if self.params.progress else None
        step = self.params.batch_size
        for i in range(num):
            for start in range(0, tops.size, step):
                chunk = slice(start, start + step)
                outputs = self._measure(
                    tf.constant(images[i], tf.float32),
                    tf.constant(feature[i], tf.int32),
                    tf.constant(labels[i], tf.int32),
                    tf.constant(tops[chunk], tf.int32),
                    tf.constant(lefts[chunk], tf.int32),
                )
                for name, value in zip(measures, outputs):
                    maps[name][i, chunk] = value.numpy()
            if bar is not None:
                bar.update(i + 1)

        projection = self.project_strongest(self.layer, images, feature[:, None])[:, 0]
        shape = (num, rows.size, cols.size)
        return OcclusionResult(
            layer=self.layer,
            layer_name=self.layer_name,
            patch_size=self.patch_size,
            stride=self.stride,
            fill=self.fill,
            rows=rows,
            cols=cols,
            images=images,
            feature=feature,
            label=labels,
            label_source=source,
            feature_activation=maps["activation"].reshape(shape),
            label_probability=maps["probability"].reshape(shape),
            top_class=maps["top_class"].astype(np.int32).reshape(shape),
            top_class_probability=maps["top_probability"].reshape(shape),
            unoccluded_activation=top.sum(axis=1)[np.arange(num), feature],
            unoccluded_probability=probabilities[np.arange(num), labels],
            unoccluded_top_class=probabilities.argmax(axis=1).astype(np.int32),
            projection=projection,
            image_names=data.image_names,
            class_names=as_names(getattr(self.model, "class_names", None)) or data.class_names,
            params=self.params,
            data=data.summary(),
        )

    def occlude(self, image, tops, lefts) -> tf.Tensor:
        """Copies of `image` `[S, S, 3]` with the square at each `(tops[p], lefts[p])`: `[P, S, S, 3]`."""
        return fill_boxes(image, tops, lefts, tops + self.patch_size, lefts + self.patch_size, self.fill)

    def _scores(self, outputs: dict) -> dict[str, np.ndarray]:
        return {
            "top": outputs[self.layer_name].numpy().astype(np.float32),
            "probabilities": class_probabilities(outputs[self._output], self._probabilities).numpy(),
        }

    def _measure_positions(self, image, feature, label, tops, lefts):
        outputs = self._read(self.occlude(image, tops, lefts))
        top = tf.cast(outputs[self.layer_name], tf.float32)
        flat = tf.reshape(top, [tf.shape(top)[0], -1, self.num_maps])  # maps, or a Dense's units
        activation = tf.reduce_sum(flat[..., feature], axis=1)
        probabilities = class_probabilities(outputs[self._output], self._probabilities)
        best = tf.argmax(probabilities, axis=1, output_type=tf.int32)
        return activation, probabilities[:, label], tf.cast(best, tf.float32), tf.reduce_max(probabilities, axis=1)

