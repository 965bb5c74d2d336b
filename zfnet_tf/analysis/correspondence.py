"""Whether masking the same part of different images changes features the same way (paper Table 1)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field, replace
from typing import Sequence

import keras
import numpy as np

from zfnet_tf.analysis.base import (
    Analysis,
    Params,
    Readout,
    Result,
    check_fill,
    check_int,
    check_number,
    fill_color,
    layer_tuple,
    predict,
)
from zfnet_tf.analysis.data import AnalysisData, Data, analysis_data
from zfnet_tf.analysis.feature_layers import chosen_feature_layers
from zfnet_tf.models import image_transform, input_size
from zfnet_tf.probing import fill_boxes

BOX_FIELDS = ("top", "left", "bottom", "right")


def load_boxes(path: str | os.PathLike) -> list[dict]:
    """Reads part boxes from a JSON or CSV file.

    JSON: a list of `{"image": ..., "part": ..., "box": [top, left, bottom, right]}` (or the
    four keys spelled out), optionally under a top-level `"boxes"` key. CSV: a header row
    `image,part,top,left,bottom,right`. `image` is an image file (relative paths are taken
    from the box file's folder) or an integer index into a dataset; bottom/right are
    exclusive. Returns `[{"image": str | int, "part": str, "box": (t, l, b, r)}, ...]`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"box file not found: {path}")
    try:
        if path.lower().endswith(".json"):
            with open(path) as handle:
                records = json.load(handle)
            if isinstance(records, dict):
                records = records.get("boxes")
            if not isinstance(records, list):
                raise ValueError("expected a list of boxes (or {\"boxes\": [...]})")
        elif path.lower().endswith(".csv"):
            with open(path, newline="") as handle:
                records = list(csv.DictReader(handle))
        else:
            raise ValueError("the file must end in .json or .csv")
        folder = os.path.dirname(os.path.abspath(path))
        entries = []
        for number, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                raise ValueError(f"entry {number} is not an object")
            if "box" in record:
                box = record["box"]
            else:
                missing = [k for k in BOX_FIELDS if k not in record]
                if missing:
                    raise ValueError(f"entry {number} lacks {missing}")
                box = [record[k] for k in BOX_FIELDS]
            box = tuple(int(round(float(v))) for v in box)
            if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
                raise ValueError(f"entry {number}: box {box} must be (top, left, bottom, right) with bottom > top, right > left")
            image = str(record.get("image", "")).strip()
            part = str(record.get("part", "")).strip()
            if not image or not part:
                raise ValueError(f"entry {number} needs both 'image' and 'part'")
            if image.lstrip("-").isdigit():
                image = int(image)
            elif not os.path.isabs(image):
                image = os.path.join(folder, image)
            entries.append({"image": image, "part": part, "box": box})
    except (ValueError, TypeError, KeyError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read box file {path}: {error}") from None
    if not entries:
        raise ValueError(f"box file {path} has no boxes")
    return entries


def boxes_by_part(entries: Sequence[dict]) -> tuple[list, dict[str, np.ndarray]]:
    """Groups entries into `(images, {part: int [N, 4]})`; every part needs every image once."""
    images = list(dict.fromkeys(entry["image"] for entry in entries))
    parts: dict[str, dict] = {}
    for entry in entries:
        per_image = parts.setdefault(entry["part"], {})
        if entry["image"] in per_image:
            raise ValueError(f"part {entry['part']!r} has two boxes for image {entry['image']!r}")
        per_image[entry["image"]] = entry["box"]
    boxes = {}
    for part, per_image in parts.items():
        missing = [image for image in images if image not in per_image]
        if missing:
            raise ValueError(f"part {part!r} has no box for image(s) {missing}: every part needs every image")
        boxes[part] = np.asarray([per_image[image] for image in images], np.int64)
    return images, boxes


def box_in_input(box, original_shape: tuple[int, int], size: int) -> tuple[int, int, int, int]:
    """Maps a box in an image file's pixels to the model input made by `load_image_file`.

    That loader scales the smaller side to `size` and takes the centre square.
    """
    height, width = original_shape
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    sy, sx = new_h / height, new_w / width
    t, l, b, r = box
    mapped = (
        int(np.floor(t * sy)) - top,
        int(np.floor(l * sx)) - left,
        int(np.ceil(b * sy)) - top,
        int(np.ceil(r * sx)) - left,
    )
    clipped = tuple(int(np.clip(v, 0, size)) for v in mapped)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise ValueError(f"box {tuple(box)} falls outside the centre square the model sees")
    return clipped


def sign_change_distances(epsilons: np.ndarray) -> tuple[float, np.ndarray]:
    """The paper's Δ and the normalized pairwise Hamming distances of `sign(ε)`.

    Args:
        epsilons: `[N, D]`, one difference vector per image.

    Returns:
        `(delta, distances)`: `delta` = sum over ordered pairs i != j of the Hamming distance
        (number of coordinates where the signs differ) between `sign(ε_i)` and `sign(ε_j)`;
        `distances[i, j]` = that Hamming distance divided by D (the fraction of coordinates),
        the scale of the paper's Table 1.
    """
    signs = np.sign(np.asarray(epsilons, np.float64)).astype(np.int8)
    if signs.ndim != 2 or signs.shape[0] < 2:
        raise ValueError(f"need at least 2 difference vectors [N, D], got shape {signs.shape}")
    counts = (signs[:, None, :] != signs[None, :, :]).sum(axis=-1)
    return float(counts.sum()), counts / signs.shape[1]


def summarize(distances: Sequence[np.ndarray]) -> dict:
    """Mean and std of the off-diagonal normalized distances of one or more `[N, N]` matrices."""
    values = np.concatenate([d[~np.eye(d.shape[0], dtype=bool)] for d in distances])
    return {"mean": float(values.mean()), "std": float(values.std()), "pairs": int(values.size)}



def part_boxes(
    box_file: str | os.PathLike,
    model: keras.Model,
    data: Data | None = None,
    image_files: Sequence[str] = (),
) -> AnalysisData:
    """Reads a box file (`load_boxes`) into the images it names with their `{part: int
    [N, 4]}` boxes in model-input pixels (`AnalysisData.boxes`), ready for `Correspondence.run`.

    Args:
        box_file: the JSON or CSV box file.
        model: the model the images are for (its evaluation transform maps file pixels).
        data: the dataset that integer `image` entries index (boxes in model-input pixels).
        image_files: files that relative `image` names may also refer to (by base name).
    """
    from zfnet_tf.data import load_image_file

    box_file = os.fspath(box_file)
    size, resize_size = image_transform(model)
    entries = load_boxes(box_file)
    given = {os.path.basename(p): p for p in image_files}
    indices = sorted({e["image"] for e in entries if isinstance(e["image"], int)})
    dataset_images, prefix, report = None, "data", None
    if indices:
        if data is None:
            raise ValueError(f"box file {box_file} names dataset indices {indices[:5]}: give a dataset")
        if indices[0] < 0:
            raise ValueError(f"box file {box_file}: dataset index {indices[0]} is negative")
        source = analysis_data(data, model)
        dataset_images, _ = source.take(indices[-1] + 1).arrays()
        prefix, report = source.source, source.report
        if indices[-1] >= len(dataset_images):
            raise ValueError(
                f"box file {box_file}: index {indices[-1]} is past the dataset's {len(dataset_images)} images"
            )
    for entry in entries:
        image = entry["image"]
        if isinstance(image, int):
            continue
        if not os.path.isfile(image) and os.path.basename(image) in given:
            image = entry["image"] = given[os.path.basename(image)]
        if not os.path.isfile(image):
            raise ValueError(f"box file {box_file}: image file not found: {image}")
        if resize_size != size:
            # box_in_input maps file pixels through a resize to the input size only.
            raise ValueError(
                f"box file {box_file}: boxes in image-file pixels need a model that sees whole "
                f"images; this one crops {size} of {resize_size} pixels: give the boxes in "
                "model-input pixels of dataset indices instead"
            )
        from PIL import Image

        with Image.open(image) as opened:
            width, height = opened.size
        entry["box"] = box_in_input(entry["box"], (height, width), size)
    keys, boxes = boxes_by_part(entries)
    images = np.stack([dataset_images[k] if isinstance(k, int) else load_image_file(k, size) for k in keys])
    names = [f"{prefix}[{k}]" if isinstance(k, int) else os.path.basename(k) for k in keys]
    # The dataset's report (files read and skipped) stays with the images taken from it.
    return replace(AnalysisData.from_arrays(images, image_names=names, source=box_file, boxes=boxes), report=report)


@dataclass(frozen=True)
class CorrespondenceParams(Params):
    """What `Correspondence` does.

    Attributes:
        layers: layer names, or ZFNet's 1-7 (default: the last projectable layer and the
            classifier's input: ZFNet's 5 and 7, as Table 1).
        fill: "mean" (the model's neutral colour), a number or an RGB triple for the mask.
        random_draws: how many sets of random boxes per part (the baseline).
        seed: seed of the random boxes.
        zero_tolerance: a difference within this fraction of the original feature's largest
            magnitude counts as no change (sign 0).
        batch_size: images per forward batch.
        progress: show a progress bar per forward pass.
    """

    layers: tuple[int | str, ...] | None = None
    fill: str | tuple[float, float, float] = "mean"
    random_draws: int = 5
    seed: int = 0
    zero_tolerance: float = 1e-5
    batch_size: int = 64
    progress: bool = True

    def check(self) -> None:
        layer_tuple(self, "layers")
        self._set("fill", check_fill(self.fill))
        check_int("random_draws", self.random_draws, 0)
        check_int("seed", self.seed, 0)
        check_number("zero_tolerance", self.zero_tolerance, 0.0, 1.0)
        check_int("batch_size", self.batch_size, 1)


@dataclass
class CorrespondenceResult(Result):
    """What `Correspondence.run` measured.

    Attributes:
        layers, layer_names: the layers (e.g. ZFNet's 5 and 7) and the outputs read.
        dimensions: feature length D per layer.
        images: float32 `[N, S, S, 3]` the images; `boxes` `{part: [N, 4]}` their part boxes.
        parts: per part, per layer: `delta` (the paper's sum), `mean` ± `std` of the
            normalized pairwise Hamming distances (what Table 1 lists), `pairs`, and the
            `[N, N]` `distances`.
        random: the same for boxes of each part's size at random places, pooled over draws
            (`delta` is the mean over draws).
        random_boxes: per part, the random boxes `[draws, N, 4]`.
        image_names: for the figure and the JSON, when known.
    """

    kind = "correspondence"

    layers: tuple[int | str, ...]
    layer_names: tuple[str, ...]
    images: np.ndarray
    boxes: dict[str, np.ndarray]
    dimensions: dict
    parts: dict[str, dict] = field(default_factory=dict)
    random: dict[str, dict] = field(default_factory=dict)
    random_boxes: dict[str, np.ndarray] = field(default_factory=dict)
    image_names: tuple[str, ...] | None = None

    def table(self) -> list[dict]:
        """Rows of Table 1: `{"row": name, layer: (mean, std), ...}`."""
        rows = []
        for source, prefix in ((self.parts, ""), (self.random, "random ")):
            for part, by_layer in source.items():
                name = f"{prefix}({part} size)" if prefix else part
                rows.append({"row": name, **{l: (v["mean"], v["std"]) for l, v in by_layer.items()}})
        return rows

    def figures(self):
        from zfnet_tf.analysis import plots

        return {f"{self.stem}.png": plots.correspondence_figure(self)}

    def numbers(self) -> dict:
        def layer_numbers(by_layer):
            return {
                layer: {
                    key: (np.round(value, 6) if isinstance(value, np.ndarray) else value)
                    for key, value in numbers.items()
                }
                for layer, numbers in by_layer.items()
            }

        return {
            "layers": self.layers,
            "layer_outputs": self.layer_names,
            "num_images": len(self.images),
            "images": self.image_names,
            "dimensions": self.dimensions,
            "normalization": (
                "mean and std over ordered image pairs i != j of the Hamming distance between "
                "sign(eps_i) and sign(eps_j) divided by the feature length D; delta is the "
                "paper's unnormalized sum over those pairs"
            ),
            "table": [
                {"row": row["row"], **{f"layer {l}": f"{m:.3f} ± {s:.3f}" for l, (m, s) in list(row.items())[1:]}}
                for row in self.table()
            ],
            "parts": {p: layer_numbers(v) for p, v in self.parts.items()},
            "random": {p: layer_numbers(v) for p, v in self.random.items()},
            "boxes": self.boxes,
            "random_boxes": self.random_boxes,
        }


class Correspondence(Analysis):
    """How consistently masking one object part changes the features across images.

    Zeiler & Fergus (arXiv 1311.2901), Sec. 5 "Correspondence Analysis" and Table 1: the same
    part (left eye, right eye, nose) is masked in each of several images of one kind;
    `ε_i^l = x_i^l - x̃_i^l` is the change of image i's layer-l feature vector, and
    `Δ_l = Σ_{i≠j} H(sign(ε_i^l), sign(ε_j^l))` with H the Hamming distance; lower means the
    part is represented more consistently. Masking random places with boxes of the same size
    is the baseline.

    The paper's values (~0.07 at layer 5) are fractions of the feature length, so this
    reports, besides `Δ_l`, the mean ± std over pairs of H / D (D = feature length); see
    `sign_change_distances`. Differences within `zero_tolerance` of the original features'
    largest magnitude count as no change (sign 0), so float noise of unaffected units is not
    counted as a sign. Features are read with `Model.predict` (`feature_reader`).

    Args:
        model: a ZFNet, or any model the deconvnet supports.
        params: a `CorrespondenceParams` (or its fields as keywords).
    """

    params_class = CorrespondenceParams

    def __init__(self, model: keras.Model, params: CorrespondenceParams | None = None, **overrides):
        super().__init__(model, params, **overrides)
        self.size = input_size(model)
        self.layers, self.layer_names = chosen_feature_layers(self.deconvnet, self.params.layers, "top_last")
        self.fill = fill_color(model, self.params.fill)
        self._readout = Readout.of(self.deconvnet, self.layer_names)

    def mask(self, images: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Copies of `images` with `boxes[i]` (top, left, bottom, right) filled in image i."""
        return fill_boxes(images, *np.moveaxis(boxes, -1, 0), self.fill).numpy()

    def epsilons(self, images: np.ndarray, boxes: np.ndarray, original=None) -> dict:
        """`ε = feature(original) - feature(masked)` per layer, `[N, D]`, small values zeroed."""
        original = self._features(images) if original is None else original
        masked = self._features(self.mask(images, boxes))
        out = {}
        for layer, name in zip(self.layers, self.layer_names):
            epsilon = original[name] - masked[name]
            scale = np.abs(original[name]).max(axis=1, keepdims=True)
            epsilon[np.abs(epsilon) <= self.params.zero_tolerance * scale] = 0.0
            out[layer] = epsilon
        return out

    def run(self, data: AnalysisData) -> CorrespondenceResult:
        """Measures Table 1 for each part.

        Args:
            data: N >= 2 images with their part boxes (`AnalysisData.boxes`: `{part: int
                [N, 4]}`, top, left, bottom, right in input pixels): `part_boxes` reads a box
                file into them, `AnalysisData.from_arrays(images, boxes=...)` makes them.
        """
        data = self.data(data)
        if data.boxes is None:
            raise ValueError("correspondence needs part boxes with the images (AnalysisData.boxes, part_boxes)")
        images, _ = data.arrays()
        num = images.shape[0]
        if num < 2:
            raise ValueError("correspondence needs at least 2 images")
        boxes = {part: self._check_boxes(part, b, num) for part, b in data.boxes.items()}
        if not boxes:
            raise ValueError("boxes names no part")
        original = self._features(images)
        result = CorrespondenceResult(
            layers=tuple(self.layers),
            layer_names=self.layer_names,
            images=images,
            boxes=boxes,
            dimensions={l: int(original[n].shape[1]) for l, n in zip(self.layers, self.layer_names)},
            image_names=data.image_names,
            params=self.params,
            data=data.summary(),
        )
        rng = np.random.default_rng(self.params.seed)
        draws = self.params.random_draws
        for part, given in boxes.items():
            result.parts[part] = self._measure([self.epsilons(images, given, original)])
            if draws:
                random = np.stack([self._random_boxes(given, rng) for _ in range(draws)])
                result.random_boxes[part] = random
                result.random[part] = self._measure([self.epsilons(images, d, original) for d in random])
        return result

    def _measure(self, draws: list[dict]) -> dict:
        out = {}
        for layer in self.layers:
            deltas, distances = zip(*(sign_change_distances(d[layer]) for d in draws))
            out[layer] = {"delta": float(np.mean(deltas)), **summarize(distances)}
            if len(draws) == 1:
                out[layer]["distances"] = distances[0]
        return out

    def _random_boxes(self, boxes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        tops = rng.integers(0, self.size - heights + 1)
        lefts = rng.integers(0, self.size - widths + 1)
        return np.stack([tops, lefts, tops + heights, lefts + widths], axis=1)

    def _check_boxes(self, part: str, boxes, num: int) -> np.ndarray:
        boxes = np.asarray(boxes)
        size = self.size
        if boxes.shape != (num, 4) or not np.issubdtype(boxes.dtype, np.integer):
            raise ValueError(f"boxes: part {part!r} needs ints [{num}, 4], got shape {boxes.shape}")
        bad = (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > size) | (boxes[:, 3] > size)
        bad |= (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if np.any(bad):
            raise ValueError(
                f"boxes: part {part!r} has box(es) {boxes[bad].tolist()} that are not (top, left, "
                f"bottom, right) inside the {size}x{size} input"
            )
        return boxes.astype(np.int64)

    def _features(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = predict(self._readout, images, self.params.batch_size, self.params.progress)
        return {name: value.reshape(len(images), -1).astype(np.float64) for name, value in outputs.items()}
