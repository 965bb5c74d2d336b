"""Each analysis run end to end: compute, draw the figure(s), write the numbers as JSON.

These are the calls behind the `zfnet-tf` analysis commands, the `tools/` scripts and the
demo. Each returns the JSON it wrote, with the written files under `"files"` and, when given,
the data's report (`zfnet_tf.data.LoadedData.report`: what was read, the files skipped) under
`"data"`.
"""

from __future__ import annotations

import json
import os
from typing import Mapping, Sequence

import keras
import numpy as np

from zfnet_tf.analysis import plots
from zfnet_tf.analysis.correspondence import Correspondence
from zfnet_tf.analysis.filters import FilterAnalysis
from zfnet_tf.analysis.invariance import Invariance
from zfnet_tf.analysis.layer_features import LayerFeatures
from zfnet_tf.analysis.occlusion import Occlusion
from zfnet_tf.analysis.top9 import Top9


def _write_json(numbers: dict, out_dir: str, name: str, files: list[str], data_report: Mapping | None) -> dict:
    path = os.path.join(out_dir, name)
    numbers["files"] = files + [path]
    if data_report is not None:
        numbers["data"] = data_report
    with open(path, "w") as handle:
        json.dump(numbers, handle, indent=1)
    return numbers


def _class_name(class_names, index: int) -> str:
    return class_names[index] if class_names is not None and 0 <= index < len(class_names) else str(index)


def write_top9(
    model: keras.Model,
    data,
    out_dir: str,
    layer: int = 5,
    k: int = 9,
    features: Sequence[int] | None = None,
    image_names: Sequence[str] | None = None,
    batch_size: int = 64,
    maps_per_figure: int = 16,
    progress: bool = True,
    data_report: Mapping | None = None,
) -> dict:
    """Fig. 2 for one layer: `top9_layer{L}.png` (pages `_1`, `_2`, ... beyond
    `maps_per_figure` maps) and `top9_layer{L}.json`.

    Args:
        model: a ZFNet model (e.g. `zfnet_tf.load_model("demo_output/model/model.keras")`).
        data: images `[N, S, S, 3]` or an unbatched dataset (e.g. `load_data("digits").dataset`).
        features: maps to project and draw (default: all of the layer's maps).
    """
    os.makedirs(out_dir, exist_ok=True)
    result = Top9(model, layer, k=k, batch_size=batch_size, progress=progress).run(data, features, image_names)
    figures = plots.plot_top9(result, os.path.join(out_dir, f"top9_layer{layer}"), maps_per_figure)
    return _write_json(result.to_json(), out_dir, f"top9_layer{layer}.json", figures, data_report)


def write_occlusion(
    model: keras.Model,
    images: np.ndarray,
    out_dir: str,
    labels: Sequence[int] | None = None,
    image_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    layer: int = 5,
    patch_size: int | None = None,
    stride: int | None = None,
    fill="mean",
    batch_size: int = 64,
    data_report: Mapping | None = None,
) -> dict:
    """Fig. 7 for each image: `occlusion.png` and `occlusion.json`.

    `labels` are the true classes (default: the model's answer on the unoccluded image).
    """
    os.makedirs(out_dir, exist_ok=True)
    class_names = class_names if class_names is not None else getattr(model, "class_names", None)
    analysis = Occlusion(model, layer, patch_size, stride, fill, batch_size)
    result = analysis.run(images, labels)
    figure = plots.plot_occlusion(result, np.asarray(images), os.path.join(out_dir, "occlusion.png"), image_names, class_names)
    numbers = result.to_json()
    numbers["label_source"] = "given" if labels is not None else "predicted on the unoccluded image"
    for i, entry in enumerate(numbers["images"]):
        if image_names is not None:
            entry["name"] = image_names[i]
        entry["label_name"] = _class_name(class_names, entry["label"])
    return _write_json(numbers, out_dir, "occlusion.json", [figure], data_report)


def write_invariance(
    model: keras.Model,
    images: np.ndarray,
    out_dir: str,
    labels: Sequence[int] | None = None,
    image_names: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    sweeps: Mapping[str, Sequence[float]] | None = None,
    fill="mean",
    batch_size: int = 64,
    data_report: Mapping | None = None,
) -> dict:
    """Fig. 5: `invariance.png` and `invariance.json` (default sweeps: `default_sweeps`)."""
    os.makedirs(out_dir, exist_ok=True)
    result = Invariance(model, layers, fill, batch_size).run(images, labels, sweeps)
    figure = plots.plot_invariance(result, os.path.join(out_dir, "invariance.png"), image_names)
    numbers = result.to_json()
    numbers["label_source"] = "given" if labels is not None else "predicted on the original image"
    if image_names is not None:
        numbers["images"] = list(image_names)
    return _write_json(numbers, out_dir, "invariance.json", [figure], data_report)


def write_correspondence(
    model: keras.Model,
    images: np.ndarray,
    boxes: Mapping[str, np.ndarray],
    out_dir: str,
    image_names: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    random_draws: int = 5,
    seed: int = 0,
    fill="mean",
    data_report: Mapping | None = None,
) -> dict:
    """Table 1: `correspondence.png` and `correspondence.json`; boxes are `{part: [N, 4]}`."""
    os.makedirs(out_dir, exist_ok=True)
    result = Correspondence(model, layers, fill, random_draws, seed).run(images, boxes)
    figure = plots.plot_correspondence(result, np.asarray(images), boxes, os.path.join(out_dir, "correspondence.png"))
    numbers = result.to_json()
    numbers["table"] = [
        {"row": row["row"], **{f"layer {l}": f"{m:.3f} ± {s:.3f}" for l, (m, s) in list(row.items())[1:]}}
        for row in result.table()
    ]
    numbers["boxes"] = {part: np.asarray(b).tolist() for part, b in boxes.items()}
    if image_names is not None:
        numbers["images"] = list(image_names)
    return _write_json(numbers, out_dir, "correspondence.json", [figure], data_report)


def write_filters(
    models: Mapping[str, keras.Model],
    out_dir: str,
    data=None,
    dead_fraction: float = 0.05,
    batch_size: int = 64,
    progress: bool = True,
    data_report: Mapping | None = None,
) -> dict:
    """Fig. 6: `filters.png` (layer-1 filters and band energies of each model, side by side),
    `filters_layer2.png` (layer-2 projections over `data`, when given) and `filters.json`.

    Args:
        models: `{name: model}`, e.g. `{"zfnet": ..., "alexnet": ...}`.
        data: images or a dataset for the layer-2 projections, or `{name: data}` when the
            models take different input sizes.
    """
    if not models:
        raise ValueError("give at least one model")
    if isinstance(data, Mapping) and set(data) != set(models):
        raise ValueError(f"data is given for {sorted(data)} but the models are {sorted(models)}")
    os.makedirs(out_dir, exist_ok=True)
    results = {
        name: FilterAnalysis(model, dead_fraction).run(
            data[name] if isinstance(data, Mapping) else data, batch_size=batch_size, progress=progress
        )
        for name, model in models.items()
    }
    files = [plots.plot_filters(results, os.path.join(out_dir, "filters.png"))]
    if data is not None and any(r.layer2 is not None for r in results.values()):
        files.append(plots.plot_layer2_projections(results, os.path.join(out_dir, "filters_layer2.png")))
    numbers = {"models": {name: result.to_json() for name, result in results.items()}}
    return _write_json(numbers, out_dir, "filters.json", files, data_report)


def write_layer_features(
    model: keras.Model,
    train_data,
    test_data,
    out_dir: str,
    layers: Sequence[int] | None = None,
    classifiers: Sequence[str] = ("softmax", "svm"),
    max_dimensions: int = 4096,
    regularization: float = 1.0,
    batch_size: int = 64,
    progress: bool = True,
    data_report: Mapping | None = None,
) -> dict:
    """Table 7: `layer_features.png` and `layer_features.json` (accuracy by layer and classifier)."""
    os.makedirs(out_dir, exist_ok=True)
    analysis = LayerFeatures(model, layers, classifiers, max_dimensions, regularization, batch_size, progress)
    result = analysis.run(train_data, test_data)
    figure = plots.plot_layer_features(result, os.path.join(out_dir, "layer_features.png"))
    return _write_json(result.to_json(), out_dir, "layer_features.json", [figure], data_report)


def write_demo_analyses(
    model_path: str,
    out_dir: str,
    dataset: str = "digits",
    top9_layers: Sequence[int] = (2, 5),
    top9_features: Sequence[int] = tuple(range(16)),
    occlusion_images: int = 3,
    progress: bool = False,
) -> dict[str, list[str]]:
    """The demo's analysis figures for a trained `.keras` model, on `dataset`'s test split.

    Writes `<out_dir>/top9/top9_layer{L}.png|json` for each of `top9_layers` (maps
    `top9_features`) and `<out_dir>/occlusion/occlusion.png|json` for the first
    `occlusion_images` test images with their true labels (a square of a third of the input
    side, so that even a small model's answer visibly moves). Returns the files by analysis.
    """
    from zfnet_tf.analysis.feature_layers import images_and_labels
    from zfnet_tf.data import load_data
    from zfnet_tf.models import get_backbone, load_model

    model = load_model(model_path)
    size = get_backbone(model).config.input_size
    loaded = load_data(dataset, image_size=size)
    test, class_names = loaded.dataset, loaded.class_names
    files: dict[str, list[str]] = {"top9": []}
    for layer in top9_layers:
        numbers = write_top9(
            model, test, os.path.join(out_dir, "top9"), layer=layer, features=top9_features, progress=progress,
            data_report=loaded.report(),
        )
        files["top9"] += numbers["files"]
    images, labels = images_and_labels(test, size, occlusion_images)
    numbers = write_occlusion(
        model,
        images,
        os.path.join(out_dir, "occlusion"),
        labels=labels,
        image_names=[f"{dataset} test {i}" for i in range(len(images))],
        class_names=getattr(model, "class_names", None) or class_names,
        patch_size=max(1, size // 3),
        stride=max(1, size // 16),
        data_report=loaded.report(),
    )
    files["occlusion"] = numbers["files"]
    return files
