"""How features and the class change under translation, scaling and rotation (paper Fig. 5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import keras
import numpy as np

from zfnet_tf.analysis.base import (
    Analysis,
    Params,
    Readout,
    Result,
    check_fill,
    check_int,
    fill_color,
    layer_tuple,
    predict,
    true_or_predicted,
)
from zfnet_tf.analysis.data import Data
from zfnet_tf.analysis.feature_layers import chosen_feature_layers, class_output
from zfnet_tf.models import input_size
from zfnet_tf.probing import class_probabilities

TRANSFORMS = ("translation", "scale", "rotation")


def default_sweeps(input_size: int) -> dict[str, np.ndarray]:
    """The paper's sweeps (Fig. 5), translation scaled to the input size.

    Vertical translation of up to 60 of 224 pixels either way, scale 1 to 1.8, rotation 0 to
    350 degrees in steps of 10.
    """
    shift = round(60 * input_size / 224)
    return {
        "translation": np.linspace(-shift, shift, 13).round().astype(np.float64),
        "scale": np.round(np.linspace(1.0, 1.8, 9), 4),
        "rotation": np.arange(0.0, 360.0, 10.0),
    }


def transform_matrix(transform: str, amount: float, input_size: int) -> np.ndarray:
    """The `[8]` projective transform (output pixel -> input pixel) of one sweep step.

    translation: `amount` pixels down (negative: up); scale: zoom by `amount` about the
    centre; rotation: `amount` degrees counter-clockwise about the centre (taken modulo 360,
    so 360 is the identity exactly).
    """
    centre = (input_size - 1) / 2.0
    if transform == "translation":
        return np.array([1, 0, 0, 0, 1, -amount, 0, 0], np.float64)
    if transform == "scale":
        if amount <= 0:
            raise ValueError(f"scale factors must be > 0, got {amount}")
        inverse = 1.0 / amount
        offset = centre - centre * inverse
        return np.array([inverse, 0, offset, 0, inverse, offset, 0, 0], np.float64)
    if transform == "rotation":
        angle = np.deg2rad(float(amount) % 360.0)
        cos, sin = np.cos(angle), np.sin(angle)
        # Output (x, y) reads input R(angle)^-1 about the centre; y points down in images,
        # so this turns the picture counter-clockwise on screen.
        return np.array(
            [cos, -sin, centre - cos * centre + sin * centre, sin, cos, centre - sin * centre - cos * centre, 0, 0],
            np.float64,
        )
    raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")


def feature_distance(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The Euclidean distance, in float64, between each image's feature vector `before`
    (`[N, ...]`) and each of its transformed copies' `after` (`[N * A, ...]`, A per image):
    `[N, A]`. One vector at a time: an early layer's vectors are large (a million values), and
    float64 copies of all of them at once would take gigabytes."""
    before = before.reshape(before.shape[0], -1)
    after = after.reshape(before.shape[0], -1, before.shape[1])
    squared = np.empty(after.shape[:2], np.float64)
    for i, (original, moved) in enumerate(zip(before, after)):
        original = original.astype(np.float64)
        for a, vector in enumerate(moved):
            difference = vector.astype(np.float64)
            difference -= original
            squared[i, a] = np.square(difference, out=difference).sum()
    return np.sqrt(squared)


@dataclass(frozen=True)
class InvarianceParams(Params):
    """What `Invariance` does.

    Attributes:
        layers: the layers whose feature vectors are compared: layer names, or ZFNet's 1-7
            (default: the first and the last, as the paper's layers 1 and 7).
        transforms: which of "translation", "scale", "rotation" to sweep.
        amounts: `{transform: amounts}` replacing the paper's steps (`default_sweeps`) of
            some of `transforms`.
        fill: "mean" (the model's neutral colour), a number or an RGB triple for uncovered pixels.
        batch_size: images per forward batch.
        progress: show a progress bar per forward pass.
    """

    layers: tuple[int | str, ...] | None = None
    transforms: tuple[str, ...] = TRANSFORMS
    amounts: Mapping[str, Sequence[float]] | None = None
    fill: str | tuple[float, float, float] = "mean"
    batch_size: int = 64
    progress: bool = True

    def check(self) -> None:
        layer_tuple(self, "layers")
        transforms = (self.transforms,) if isinstance(self.transforms, str) else tuple(self.transforms)
        unknown = [t for t in transforms if t not in TRANSFORMS]
        if unknown or not transforms:
            raise ValueError(f"transforms must be among {TRANSFORMS}, got {list(transforms)}")
        self._set("transforms", transforms)
        if self.amounts is not None:
            amounts = {}
            for name, values in dict(self.amounts).items():
                if name not in transforms:
                    raise ValueError(f"amounts: {name!r} is not one of the transforms {transforms}")
                values = np.asarray(values, np.float64).reshape(-1)
                if values.size == 0 or not np.all(np.isfinite(values)):
                    raise ValueError(f"amounts: the {name} sweep needs finite amounts, got {list(values)}")
                if name == "scale" and np.any(values <= 0):
                    raise ValueError(f"amounts: scale factors must be > 0, got {values.tolist()}")
                amounts[name] = tuple(float(v) for v in values)
            self._set("amounts", amounts)
        self._set("fill", check_fill(self.fill))
        check_int("batch_size", self.batch_size, 1)

    def sweeps(self, input_size: int) -> dict[str, np.ndarray]:
        """`{transform: amounts}` for a model of `input_size`."""
        defaults = default_sweeps(input_size)
        given = self.amounts or {}
        return {t: np.asarray(given.get(t, defaults[t]), np.float64) for t in self.transforms}


@dataclass
class InvarianceResult(Result):
    """What `Invariance.run` measured.

    Attributes:
        layers: the layers compared (e.g. (1, 7)), with `layer_names` the outputs read.
        label: int `[N]` the class whose probability is tracked; `label_source` "given" or
            "predicted" (the model's answer on the original image).
        sweeps: per transform, its `amounts` `[A]`, the Euclidean `distance` between the
            original's and the transformed image's feature vectors per layer (`{layer: [N, A]}`),
            `label_probability` `[N, A]` and `top_class` `[N, A]`.
        image_names: for the figure and the JSON, when known.
    """

    kind = "invariance"

    layers: tuple[int | str, ...]
    layer_names: tuple[str, ...]
    label: np.ndarray
    label_source: str
    sweeps: dict[str, dict] = field(default_factory=dict)
    image_names: tuple[str, ...] | None = None

    def figures(self):
        from zfnet_tf.analysis import plots

        return {f"{self.stem}.png": plots.invariance_figure(self)}

    def numbers(self) -> dict:
        return {
            "layers": self.layers,
            "layer_outputs": self.layer_names,
            "images": self.image_names,
            "labels": self.label,
            "label_source": self.label_source,
            "sweeps": {
                name: {
                    "amounts": sweep["amounts"],
                    "distance": {str(l): np.round(d, 6) for l, d in sweep["distance"].items()},
                    "label_probability": np.round(sweep["label_probability"], 6),
                    "top_class": sweep["top_class"],
                }
                for name, sweep in self.sweeps.items()
            },
        }


class Invariance(Analysis):
    """Feature distance and class probability along transformation sweeps of a few images.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 4.4 and Fig. 5: images are "translated, rotated
    and scaled by varying degrees"; plotted are "the Euclidean distance between feature
    vectors from the original and transformed images in layers 1 and 7" and "the probability
    of the true label for each image, as the image is transformed".

    A layer's feature vector is its output flattened (`feature_layer`: for ZFNet's 1-2 after
    contrast normalization, 7 is fc7). Transforms resample bilinearly about the image centre;
    uncovered pixels get `fill`. The transformed copies go through `Model.predict` of the
    model's own layers (`feature_reader`), features and class scores in one pass.

    Args:
        model: a classifier (a ZFNet, or any model the deconvnet supports).
        params: an `InvarianceParams` (or its fields as keywords).
    """

    params_class = InvarianceParams

    def __init__(self, model: keras.Model, params: InvarianceParams | None = None, **overrides):
        super().__init__(model, params, **overrides)
        params = self.params
        self.size = input_size(model)
        self.layers, self.layer_names = chosen_feature_layers(self.deconvnet, params.layers, "first_last")
        self.fill = fill_color(model, params.fill)
        self._output, self._probabilities = class_output(self.deconvnet)
        self.num_classes = self.deconvnet.num_features(self._output)
        self._readout = Readout.of(self.deconvnet, self.layer_names + (self._output,))

    def transform(self, images, transform: str, amounts: Sequence[float]) -> np.ndarray:
        """Every image under every amount: float32 `[N, A, S, S, 3]`."""
        images = np.asarray(images, np.float32)
        size = self.size
        matrices = np.stack([transform_matrix(transform, a, size) for a in amounts]).astype(np.float32)
        matrices = np.tile(matrices, (len(images), 1))
        repeated = np.repeat(images, len(amounts), axis=0)

        def warp(x):
            return keras.ops.convert_to_numpy(
                keras.ops.image.affine_transform(x, matrices, "bilinear", "constant", 0.0)
            )

        # Bilinear weights that fall outside the image go to `fill`: warping ones gives the
        # inside weight, and the identity stays bit-exact.
        inside = warp(np.ones(repeated.shape[:3] + (1,), np.float32))
        out = warp(repeated) + (1.0 - inside) * self.fill
        return out.reshape(len(images), len(amounts), size, size, 3).astype(np.float32)

    def run(self, data: Data) -> InvarianceResult:
        """Measures each sweep for each image of `data`.

        Args:
            data: images `[N, S, S, 3]` (RGB 0-255), `(images, labels)`, a dataset, a name...
                (`analysis_data`); every image is read, so give a few. Its labels are the true
                classes; unlabelled, each image's most probable class.
        """
        data = self.data(data)
        images, labels = data.arrays()
        num = images.shape[0]
        original = self._forward(images)
        labels, source = true_or_predicted(labels, original["probabilities"], self.num_classes)
        result = InvarianceResult(
            layers=tuple(self.layers),
            layer_names=self.layer_names,
            label=labels,
            label_source=source,
            image_names=data.image_names,
            params=self.params,
            data=data.summary(),
        )
        for name, amounts in self.params.sweeps(self.size).items():
            transformed = self.transform(images, name, amounts)
            outputs = self._forward(transformed.reshape(-1, *images.shape[1:]))
            distance = {}
            for layer, layer_name in zip(self.layers, self.layer_names):
                distance[layer] = feature_distance(original[layer_name], outputs[layer_name])
            probabilities = outputs["probabilities"].reshape(num, len(amounts), -1)
            result.sweeps[name] = {
                "amounts": amounts,
                "distance": distance,
                "label_probability": probabilities[np.arange(num), :, labels],
                "top_class": probabilities.argmax(axis=-1).astype(np.int32),
            }
        return result

    def _forward(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = predict(self._readout, images, self.params.batch_size, self.params.progress)
        outputs["probabilities"] = class_probabilities(outputs[self._output], self._probabilities).numpy()
        return outputs
