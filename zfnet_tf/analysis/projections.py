"""Deconvnet projections of a model's layers for a few images (paper Sec. 2.1, Figs. 1, 3)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import keras
import numpy as np

from zfnet_tf.analysis.base import Analysis, Params, Result, check_int, layer_tuple
from zfnet_tf.analysis.data import Data
from zfnet_tf.deconv.rules import RULES
from zfnet_tf.progress import step

MODES = ("max", "map")
RULE_TITLES = {"deconvnet": "Deconvnet", "guided": "Guided backpropagation", "gradient": "Gradient"}


@dataclass(frozen=True)
class ProjectionsParams(Params):
    """What `Projections` does.

    Attributes:
        layers: layer names, or ZFNet's 1-5 (default: `Deconvnet.default_layers()`).
        feature: the map projected; -1: each image's strongest.
        mode: "max" (the map's strongest activation alone, the paper's figures) or "map" (the
            whole map).
        rule: "deconvnet" (Zeiler & Fergus), "guided" (guided backpropagation) or "gradient".
        contrast: the percentile of each projection's magnitudes drawn at full contrast (100:
            its largest, as the paper's figures; e.g. 99.5 for deep networks, whose faint
            structure a few extreme pixels would hide). Figures only: the numbers are the same.
        progress: say on stderr what is being projected.
    """

    layers: tuple[int | str, ...] | None = None
    feature: int = -1
    mode: str = "max"
    rule: str = "deconvnet"
    contrast: float = 100.0
    progress: bool = True

    def check(self) -> None:
        layer_tuple(self, "layers")
        check_int("feature", self.feature, -1)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if not 0.0 < self.contrast <= 100.0:
            raise ValueError(f"contrast must be a percentile in (0, 100], got {self.contrast!r}")


@dataclass
class ProjectionsResult(Result):
    """Each image's projection through each layer.

    Attributes:
        layers: the layers projected.
        images: float32 `[N, S, S, 3]` the images as the model saw them.
        image_names: a name per image.
        reconstructions: `{layer: float32 [N, S, S, 3]}` the projections in pixel space.
        feature, activation, location, box: `{layer: [N], [N], [N, 2], [N, 4]}` the map
            projected, its activation, where it fired and that unit's input box.
    """

    kind = "projections"

    layers: tuple[int | str, ...]
    images: np.ndarray
    image_names: tuple[str, ...]
    reconstructions: dict = field(default_factory=dict)
    feature: dict = field(default_factory=dict)
    activation: dict = field(default_factory=dict)
    location: dict = field(default_factory=dict)
    box: dict = field(default_factory=dict)

    def figures(self):
        from zfnet_tf.analysis import plots

        return {"projections.png": plots.projections_figure(self)}

    def numbers(self) -> dict:
        layers = {}
        for layer in self.layers:
            layers[str(layer)] = [
                {
                    "image": name,
                    "feature": int(self.feature[layer][index]),
                    "activation": float(self.activation[layer][index]),
                    "location": [int(v) for v in self.location[layer][index]],
                    "input_box": [int(v) for v in self.box[layer][index]],
                }
                for index, name in enumerate(self.image_names)
            ]
        return {"mode": self.params.mode, "rule": self.params.rule, "images": list(self.image_names),
                "layers": layers}


class Projections(Analysis):
    """Projects each image's strongest map (or `feature`) of each layer back to pixels with
    the deconvnet (Zeiler & Fergus, arXiv 1311.2901, Sec. 2.1) or a related rule.

    Args:
        model: a ZFNet, or any Keras model the deconvnet supports.
        params: a `ProjectionsParams` (or its fields as keywords).
    """

    params_class = ProjectionsParams

    def __init__(self, model: keras.Model, params: ProjectionsParams | None = None, **overrides):
        super().__init__(model, params, **overrides)
        self.layers = tuple(self.params.layers or self.deconvnet.default_layers())
        for layer in self.layers:
            self.deconvnet.layer_name(layer)  # a bad layer is named before any data is read

    def run(self, data: Data) -> ProjectionsResult:
        """Projects every image of `data` (`analysis_data`; every image is read, so give a few)."""
        data = self.data(data)
        images, _ = data.arrays()
        names = data.image_names or tuple(f"image {i}" for i in range(len(images)))
        result = ProjectionsResult(layers=self.layers, images=images, image_names=tuple(names),
                                   params=self.params, data=data.summary())
        params = self.params
        for layer in self.layers:
            announce = step(f"projecting layer {layer} of {len(images)} image(s)") if params.progress else nullcontext()
            with announce:
                projection = self.deconvnet.project(images, layer, feature=params.feature, mode=params.mode,
                                                    rule=params.rule)
            result.reconstructions[layer] = np.asarray(projection.reconstructions)
            result.feature[layer] = np.asarray(projection.feature)
            result.activation[layer] = np.asarray(projection.activation)
            result.location[layer] = np.asarray(projection.location)
            result.box[layer] = np.asarray(projection.box)
        return result
