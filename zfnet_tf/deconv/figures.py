"""Projections of a model's layers for a few images, as a figure and numbers."""

from __future__ import annotations

import os
from typing import Sequence

import keras
import numpy as np

from zfnet_tf import visualization
from zfnet_tf.deconv.deconvnet import Deconvnet
from zfnet_tf.files import write_json


RULE_TITLES = {"deconvnet": "Deconvnet", "guided": "Guided backpropagation", "gradient": "Gradient"}


def layer_label(layer: int | str) -> str:
    """How figures name a layer: "layer 3" for ZFNet's numbers, the layer name otherwise."""
    return f"layer {layer}" if isinstance(layer, (int, np.integer)) else str(layer)


def write_layer_projections(
    model: keras.Model,
    images: np.ndarray,
    image_names: Sequence[str],
    out_dir: str,
    layers: Sequence[int | str] | None = None,
    feature: int = -1,
    mode: str = "max",
    rule: str = "deconvnet",
) -> dict:
    """Writes `projections.png` (rows: images; columns: the image, then layers) and
    `projections.json` (feature, activation, location and input box per image and layer).

    `layers` are layer names, or ZFNet's 1-5 (default: `Deconvnet.default_layers()`).
    Returns the numbers written to the JSON, with the PNG path under "figure".
    """
    deconvnet = Deconvnet(model)
    layers = list(deconvnet.default_layers() if layers is None else layers)
    cells: list[list[np.ndarray]] = [[visualization.image_to_rgb(image)] for image in images]
    numbers: dict = {"mode": mode, "rule": rule, "images": list(image_names), "layers": {}}
    for layer in layers:
        projection = deconvnet.project(images, layer, feature=feature, mode=mode, rule=rule)
        rows = []
        for index, reconstruction in enumerate(projection.reconstructions):
            cells[index].append(visualization.projection_to_rgb(reconstruction))
            y, x = (int(v) for v in projection.location[index])
            rows.append(
                {
                    "image": image_names[index],
                    "feature": int(projection.feature[index]),
                    "activation": float(projection.activation[index]),
                    "location": [y, x],
                    "input_box": [int(v) for v in projection.box[index]],
                }
            )
        numbers["layers"][str(layer)] = rows
    figure = visualization.save_image_grid(
        [cell for row in cells for cell in row],
        os.path.join(out_dir, "projections.png"),
        columns=len(layers) + 1,
        column_labels=["input"] + [layer_label(layer) for layer in layers],
        row_labels=list(image_names),
        suptitle=f"{RULE_TITLES[rule]} projections "
        f"({'strongest activation' if mode == 'max' else 'whole map'})",
    )
    numbers["figure"] = figure
    write_json(os.path.join(out_dir, "projections.json"), numbers)
    return numbers
