"""Figures of the analyses: functions of their results, returning `matplotlib.figure.Figure`s.

Plotting only: every number comes in a result; nothing here runs a model. Figures are built
without pyplot (no global figure state, no backend switch), so drawing them in a notebook, a
server or a test changes nothing around them; `Result.save` writes them.
"""

from __future__ import annotations

import math
from typing import Mapping

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from zfnet_tf.visualization import (
    GREY,
    WHITE,
    enlarge,
    image_grid_figure,
    image_to_rgb,
    projection_to_rgb,
    tile_images,
)


def layer_label(layer: int | str) -> str:
    """How figures name a layer: "layer 3" for ZFNet's numbers, the layer name otherwise."""
    return f"layer {layer}" if isinstance(layer, (int, np.integer)) else str(layer)


def projections_figure(result) -> Figure:
    """`ProjectionsResult` as a grid: rows images; columns the image, then each layer's projection."""
    from zfnet_tf.analysis.projections import RULE_TITLES

    cells = []
    for index, image in enumerate(result.images):
        cells.append(image_to_rgb(image))
        cells += [projection_to_rgb(result.reconstructions[layer][index], result.params.contrast)
                  for layer in result.layers]
    mode = "strongest activation" if result.params.mode == "max" else "whole map"
    return image_grid_figure(
        cells,
        columns=len(result.layers) + 1,
        column_labels=["input"] + [layer_label(layer) for layer in result.layers],
        row_labels=list(result.image_names),
        suptitle=f"{RULE_TITLES[result.params.rule]} projections ({mode})",
    )


def crops_to_rgb(crops: np.ndarray, projection: bool) -> np.ndarray:
    """Receptive-field crops (NaN outside the image) to uint8 RGB: projections centred on grey."""
    shape = crops.shape
    flat = crops.reshape(-1, *shape[-3:])
    outside = np.isnan(flat)
    filled = np.nan_to_num(flat, nan=0.0)
    if projection:
        rgb = np.stack([projection_to_rgb(c) for c in filled])
    else:
        rgb = image_to_rgb(filled)
    rgb[outside] = GREY if projection else WHITE
    return rgb.reshape(shape)


def filters_to_rgb(filters: np.ndarray) -> np.ndarray:
    """Filters `[C, k, k, 3]` to uint8 on one scale for the whole layer (weak filters look flat)."""
    peak = np.abs(filters).max()
    if peak == 0:
        return np.full(filters.shape, GREY, np.uint8)
    return np.clip(GREY + 127.0 * filters / peak, 0, 255).astype(np.uint8)


def _colours(count: int):
    return matplotlib.colormaps["tab20"].resampled(max(count, 2))


# -- Fig. 2 ----------------------------------------------------------------------------------


def top9_figures(result, maps_per_figure: int | None = None, blocks_per_row: int = 4) -> dict[str, Figure]:
    """Fig. 2: per feature map, the grid of projections beside the grid of image patches.

    `{stem}.png`, or pages `{stem}_1.png`, `{stem}_2.png`, ... when more than
    `maps_per_figure` (default: the result's params) maps were projected.
    """
    maps_per_figure = maps_per_figure or result.params.maps_per_figure
    k = result.values.shape[1]
    grid = math.ceil(math.sqrt(k))
    crop_shape = result.projections.shape[2:]
    projections = enlarge(crops_to_rgb(result.projections.reshape(-1, *crop_shape), True), 40)
    patches = enlarge(crops_to_rgb(result.patches.reshape(-1, *crop_shape), False), 40)
    side = projections.shape[1]
    num = len(result.features)
    projections = projections.reshape(num, k, *projections.shape[1:])
    patches = patches.reshape(num, k, *patches.shape[1:])
    # Empty slots (fewer images than k) stay white.
    missing = result.image_index[result.features] < 0
    projections[missing] = WHITE
    patches[missing] = WHITE
    pages = math.ceil(num / maps_per_figure)
    gap = max(12, side // 2)
    figures = {}
    for page in range(pages):
        chosen = range(page * maps_per_figure, min(num, (page + 1) * maps_per_figure))
        blocks = []
        for m in chosen:
            left = tile_images(projections[m], grid, gap=2)
            right = tile_images(patches[m], grid, gap=2)
            spacer = np.full((left.shape[0], max(4, side // 4), 3), WHITE, np.uint8)
            blocks.append(np.concatenate([left, spacer, right], axis=1))
        columns = min(blocks_per_row, len(blocks))
        mosaic = tile_images(blocks, columns, gap=gap)
        block_h, block_w = blocks[0].shape[:2]
        rows = math.ceil(len(blocks) / columns)
        figure = Figure(figsize=(max(4.0, columns * 3.4), rows * 1.9 + 0.6))
        axis = figure.add_axes([0.01, 0.01, 0.98, 0.9 if rows > 1 else 0.85])
        axis.imshow(mosaic, interpolation="nearest")
        axis.set_axis_off()
        for position, m in enumerate(chosen):
            r, c = divmod(position, columns)
            feature = int(result.features[m])
            axis.text(
                c * (block_w + gap) + block_w / 2,
                r * (block_h + gap) - 3,
                f"map {feature} (max {result.values[feature, 0]:.3g})",
                ha="center",
                va="bottom",
                fontsize=7,
            )
        title = f"{layer_label(result.layer).capitalize()}: top-{k} projections (left) and image patches (right)"
        if pages > 1:
            title += f" — {page + 1}/{pages}"
        figure.suptitle(title, fontsize=9)
        suffix = "" if pages == 1 else f"_{page + 1}"
        figures[f"{result.stem}{suffix}.png"] = figure
    return figures


# -- Fig. 7 ----------------------------------------------------------------------------------


def occlusion_figure(result) -> Figure:
    """Fig. 7: per image, the input with the square, (b) feature activity, (c) its projection,
    (d) the true class's probability, (e) the most probable class, per square position."""
    num = len(result.feature)
    half, step = result.patch_size / 2, result.stride / 2
    extent = (
        result.cols[0] + half - step, result.cols[-1] + half + step,
        result.rows[-1] + half + step, result.rows[0] + half - step,
    )
    size = result.images.shape[1]
    names = result.image_names
    figure = Figure(figsize=(15, 3.1 * num))
    axes = figure.subplots(num, 5, squeeze=False)
    for i in range(num):
        row = axes[i]
        label = result.class_name(int(result.label[i]))
        row[0].imshow(image_to_rgb(result.images[i]))
        row[0].add_patch(Rectangle((-0.5, -0.5), result.patch_size, result.patch_size, color=np.asarray(result.fill) / 255.0))
        row[0].set_title(f"(a) {names[i] if names else f'image {i}'}\ntrue: {label}", fontsize=8)
        shown = row[1].imshow(result.feature_activation[i], extent=extent, cmap="viridis")
        figure.colorbar(shown, ax=row[1], fraction=0.046)
        row[1].set_title(f"(b) {layer_label(result.layer)} map {result.feature[i]}: total activation", fontsize=8)
        row[2].imshow(projection_to_rgb(result.projection[i]))
        row[2].set_title(f"(c) projection of map {result.feature[i]}", fontsize=8)
        shown = row[3].imshow(result.label_probability[i], extent=extent, cmap="magma", vmin=0)
        figure.colorbar(shown, ax=row[3], fraction=0.046)
        row[3].set_title(f"(d) p({label})", fontsize=8)
        classes = np.unique(result.top_class[i])
        lookup = {c: n for n, c in enumerate(classes)}
        indices = np.vectorize(lookup.get)(result.top_class[i])
        colours = _colours(len(classes))
        row[4].imshow(indices, extent=extent, cmap=colours, vmin=-0.5, vmax=max(len(classes), 2) - 0.5)
        handles = [Rectangle((0, 0), 1, 1, color=colours(n)) for n in range(len(classes))]
        row[4].legend(handles, [result.class_name(int(c)) for c in classes], fontsize=6, loc="upper right", framealpha=0.7)
        row[4].set_title("(e) most probable class", fontsize=8)
        for axis in row:
            axis.set_xlim(-0.5, size - 0.5)
            axis.set_ylim(size - 0.5, -0.5)
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(
        f"Occlusion: {result.patch_size}px square, stride {result.stride}px (map cells at square centres)",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


# -- Fig. 5 ----------------------------------------------------------------------------------


def invariance_figure(result) -> Figure:
    """Fig. 5: rows are transforms; columns the feature distance per layer and p(true class)."""
    units = {"translation": "vertical shift (px)", "scale": "scale factor", "rotation": "rotation (degrees)"}
    names = list(result.sweeps)
    columns = len(result.layers) + 1
    figure = Figure(figsize=(4 * columns, 3 * len(names)))
    axes = figure.subplots(len(names), columns, squeeze=False)
    num = len(result.label)
    labels = result.image_names if result.image_names is not None else [f"image {i}" for i in range(num)]
    for r, name in enumerate(names):
        sweep = result.sweeps[name]
        for c, layer in enumerate(result.layers):
            axis = axes[r, c]
            for i in range(num):
                axis.plot(sweep["amounts"], sweep["distance"][layer][i], marker=".", label=labels[i])
            axis.set_title(f"{name}: {layer_label(layer)} distance", fontsize=9)
            axis.set_xlabel(units[name], fontsize=8)
        axis = axes[r, -1]
        for i in range(num):
            axis.plot(sweep["amounts"], sweep["label_probability"][i], marker=".", label=labels[i])
        axis.set_ylim(0, 1)
        axis.set_title(f"{name}: p(true class)", fontsize=9)
        axis.set_xlabel(units[name], fontsize=8)
    axes[0, -1].legend(fontsize=7)
    figure.suptitle("Invariance (Euclidean feature distance to the original; probability of the true class)", fontsize=10)
    figure.tight_layout()
    return figure


# -- Table 1 ---------------------------------------------------------------------------------


def correspondence_figure(result, max_images: int = 5) -> Figure:
    """Table 1: the images with their part boxes, and the mean ± std sign-change distance by row."""
    images, boxes = result.images, result.boxes
    shown = min(max_images, len(images))
    figure = Figure(figsize=(2.2 * shown + 5, 3.6))
    grid = figure.add_gridspec(1, shown + 2)
    colours = matplotlib.colormaps["tab10"]
    parts = list(boxes)
    for i in range(shown):
        axis = figure.add_subplot(grid[0, i])
        axis.imshow(image_to_rgb(images[i]))
        for p, part in enumerate(parts):
            t, l, b, r = boxes[part][i]
            axis.add_patch(Rectangle((l - 0.5, t - 0.5), r - l, b - t, fill=False, color=colours(p % 10), lw=1.5))
        axis.set_axis_off()
        axis.set_title(result.image_names[i] if result.image_names else f"image {i}", fontsize=8)
        if i == 0:
            handles = [Rectangle((0, 0), 1, 1, fill=False, color=colours(p % 10)) for p in range(len(parts))]
            axis.legend(handles, parts, fontsize=6, loc="lower left", framealpha=0.7)
    axis = figure.add_subplot(grid[0, shown:])
    rows = result.table()
    width = 0.8 / len(result.layers)
    x = np.arange(len(rows))
    for n, layer in enumerate(result.layers):
        means = [row[layer][0] for row in rows]
        stds = [row[layer][1] for row in rows]
        axis.bar(x + n * width, means, width, yerr=stds, capsize=3, label=layer_label(layer))
    axis.set_xticks(x + width * (len(result.layers) - 1) / 2)
    axis.set_xticklabels([row["row"] for row in rows], rotation=30, ha="right", fontsize=7)
    axis.set_ylabel("mean sign-change Hamming distance / D", fontsize=8)
    axis.legend(fontsize=7)
    axis.set_title("Correspondence (lower = more consistent)", fontsize=9)
    figure.tight_layout()
    return figure


# -- Fig. 6 ----------------------------------------------------------------------------------


def filters_figure(results: Mapping[str, object]) -> Figure:
    """Fig. 6 a, b: first-layer filters of each model side by side, and their band energies."""
    names = list(results)
    figure = Figure(figsize=(5 * len(names) + 4, 5))
    grid = figure.add_gridspec(1, len(names) + 1, width_ratios=[3] * len(names) + [2])
    for n, name in enumerate(names):
        result = results[name]
        cells = enlarge(filters_to_rgb(result.layer1_filters), 22)
        axis = figure.add_subplot(grid[0, n])
        axis.imshow(tile_images(cells, math.ceil(math.sqrt(len(cells))), gap=2), interpolation="nearest")
        axis.set_axis_off()
        kh, kw = result.layer1_filters.shape[1:3]
        dead = int(result.dead[result.layer1].sum())
        axis.set_title(
            f"{name}: {result.layer1}, {kh}x{kw} stride {'x'.join(str(s) for s in sorted(set(result.layer1_strides)))}\n"
            f"dead filters {dead}/{len(result.layer1_filters)}, "
            f"aliased energy {result.aliased_energy.mean():.2f}",
            fontsize=9,
        )
    axis = figure.add_subplot(grid[0, -1])
    width = 0.8 / len(names)
    bands = np.arange(3)
    for n, name in enumerate(names):
        energy = results[name].band_energy
        axis.bar(bands + n * width, energy.mean(axis=0), width, yerr=energy.std(axis=0), capsize=3, label=name)
    axis.set_xticks(bands + width * (len(names) - 1) / 2)
    axis.set_xticklabels(["low", "mid", "high"])
    axis.set_ylabel("share of spectral energy (mean over filters)", fontsize=8)
    axis.set_title("First-layer frequency bands", fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def filter_projections_figure(results: Mapping[str, object], max_maps: int = 36) -> Figure:
    """Fig. 6 c, d: for each model, its second layer's maps, each by its strongest projection."""
    names = [n for n in results if results[n].projections is not None]
    if not names:
        raise ValueError("no projections to plot (run the filter analysis with data)")
    figure = Figure(figsize=(5 * len(names), 5.3))
    axes = figure.subplots(1, len(names), squeeze=False)
    for axis, name in zip(axes[0], names):
        top = results[name].projections
        count = min(max_maps, len(top.features))
        cells = crops_to_rgb(top.projections[:count, 0], True)
        cells[top.image_index[top.features[:count], 0] < 0] = WHITE
        cells = enlarge(cells, 32)
        axis.imshow(tile_images(cells, math.ceil(math.sqrt(count)), gap=2), interpolation="nearest")
        axis.set_axis_off()
        axis.set_title(f"{name}: {layer_label(top.layer)}, strongest projection of maps 0-{count - 1}", fontsize=9)
    figure.tight_layout()
    return figure


# -- Table 7 ---------------------------------------------------------------------------------


def layer_features_figure(result) -> Figure:
    """Table 7: test accuracy of each linear classifier by layer."""
    figure = Figure(figsize=(max(6, 0.9 * len(result.layers)), 4))
    axis = figure.subplots()
    positions = np.arange(len(result.layers))
    labels = {"svm": "linear SVM", "softmax": "softmax"}
    for name, by_layer in result.accuracy.items():
        values = [100 * by_layer[layer] for layer in result.layers]
        axis.plot(positions, values, marker="o", label=labels[name])
        for x, value in zip(positions, values):
            axis.annotate(f"{value:.1f}", (x, value), fontsize=7, textcoords="offset points", xytext=(0, 5), ha="center")
    axis.set_xticks(positions)
    axis.set_xticklabels([str(layer) for layer in result.layers], rotation=0 if all(isinstance(l, int) for l in result.layers) else 30, fontsize=8)
    axis.set_xlabel("layer")
    axis.set_ylabel("test accuracy (%)")
    axis.set_ylim(0, 105)
    axis.set_title(f"Linear classifiers on each layer's features ({result.num_train} train / {result.num_test} test)", fontsize=9)
    axis.legend()
    figure.tight_layout()
    return figure
