"""Turning numbers into pictures: colour scales, the one image-tiling helper, figure files.

Plotting only: no model computation happens here. Figures are `matplotlib.figure.Figure`
objects, never pyplot's global state, and nothing here calls `matplotlib.use`: importing this
module leaves a notebook's backend alone, and files are written by the figure itself.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from zfnet_tf.files import atomic_path

GREY = 128
WHITE = 255


def projection_to_rgb(reconstruction: np.ndarray, percentile: float = 100.0) -> np.ndarray:
    """Maps a projection (any sign and scale) to uint8 RGB for display.

    Like the paper's figures, each projection is centred on grey and stretched by its own
    largest magnitude, so weak and strong features are equally visible; a zero projection
    stays flat grey. With `percentile` < 100 it is stretched by that percentile of its
    magnitudes instead and the few pixels beyond are clipped: a deep network's projection is
    often a few extreme pixels over faint structure, which the largest magnitude would hide.
    """
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    reconstruction = np.asarray(reconstruction, dtype=np.float64)
    magnitude = np.abs(reconstruction)
    peak = magnitude.max() if percentile == 100.0 else np.percentile(magnitude, percentile)
    if peak == 0:
        if magnitude.max() == 0:
            return np.full(reconstruction.shape, GREY, np.uint8)
        peak = magnitude.max()
    return np.clip(128.0 + 127.0 * reconstruction / peak, 0, 255).astype(np.uint8)


def image_to_rgb(image: np.ndarray) -> np.ndarray:
    """Clips RGB 0-255 floats to uint8."""
    return np.clip(np.asarray(image), 0, 255).astype(np.uint8)


def resize_nearest(cell: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of `[h, w, ...]` to `[height, width, ...]` (pixels stay crisp)."""
    rows = np.arange(height) * cell.shape[0] // height
    cols = np.arange(width) * cell.shape[1] // width
    return cell[rows][:, cols]


def tile_images(
    cells: Sequence[np.ndarray] | np.ndarray,
    columns: int,
    gap: int = 1,
    background: int = WHITE,
    cell_size: tuple[int, int] | None = None,
    border: int = 0,
) -> np.ndarray:
    """Tiles uint8 images `[h, w, 3]` row by row into one uint8 mosaic.

    The one tiling helper of the project: top-9 blocks, filter banks, projection grids and
    the Fig. 4 evolution all go through it. Cells of different sizes are enlarged
    (nearest neighbour) to `cell_size` (default: the largest height and width among them), so
    a 7-pixel receptive field and a 64-pixel one fill the same square.

    Args:
        cells: the images, a list or an array `[n, h, w, 3]`.
        columns: cells per row.
        gap: pixels of `background` between cells.
        background: the grey level of gaps, the border and unused cells.
        cell_size: `(height, width)` every cell is resized to.
        border: pixels of `background` around the whole mosaic.

    Returns:
        uint8 `[rows * (H + gap) - gap + 2 * border, columns * (W + gap) - gap + 2 * border, 3]`.
    """
    cells = [np.asarray(cell) for cell in cells]
    if not cells:
        raise ValueError("tile_images needs at least one image")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    if cell_size is None:
        cell_size = (max(c.shape[0] for c in cells), max(c.shape[1] for c in cells))
    height, width = cell_size
    rows = math.ceil(len(cells) / columns)
    out = np.full(
        (rows * (height + gap) - gap + 2 * border, columns * (width + gap) - gap + 2 * border, 3),
        background,
        np.uint8,
    )
    for index, cell in enumerate(cells):
        if cell.ndim == 2:
            cell = np.repeat(cell[..., None], 3, axis=2)
        if cell.shape[:2] != (height, width):
            cell = resize_nearest(cell, height, width)
        r, c = divmod(index, columns)
        top, left = border + r * (height + gap), border + c * (width + gap)
        out[top : top + height, left : left + width] = cell
    return out


def enlarge(cells: np.ndarray, min_side: int) -> np.ndarray:
    """Integer nearest-neighbour enlargement of `[n, h, w, 3]` so that tiny crops stay visible."""
    factor = max(1, math.ceil(min_side / max(cells.shape[1], 1)))
    return cells.repeat(factor, axis=1).repeat(factor, axis=2) if factor > 1 else cells


def image_grid_figure(
    images: Sequence[np.ndarray],
    columns: int,
    titles: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    suptitle: str | None = None,
    cell_inches: float = 1.6,
) -> Figure:
    """uint8 RGB images as a labelled grid: one `tile_images` mosaic on one axis, with a title
    over each cell (`titles`), a label left of each row and over each column."""
    images = list(images)
    if not images:
        raise ValueError("image_grid_figure needs at least one image")
    rows = math.ceil(len(images) / columns)
    side = max(max(image.shape[:2]) for image in images)
    gap = max(2, side // 8)
    mosaic = tile_images(images, columns, gap=gap, cell_size=(side, side))
    # Room left of the mosaic for the row labels (about 0.075 inch a character at 8 points).
    label_inches = 0.2 + 0.075 * max(map(len, row_labels)) if row_labels else 0.1
    width, height = cell_inches * columns + label_inches + 0.1, cell_inches * rows + 0.6
    figure = Figure(figsize=(width, height))
    axis = figure.add_axes([label_inches / width, 0.1 / height, cell_inches * columns / width, (height - 0.6) / height])
    axis.imshow(mosaic, interpolation="nearest")
    axis.set_axis_off()
    step = side + gap

    def above(index: int, text: str, size: float) -> None:
        r, c = divmod(index, columns)
        axis.text(c * step + side / 2, r * step - gap / 2, text, ha="center", va="bottom", fontsize=size)

    for index, title in enumerate(titles or []):
        above(index, title, 7)
    for column, label in enumerate(column_labels or []):
        above(column, label, 8)
    for row, label in enumerate(row_labels or []):
        axis.text(-gap, row * step + side / 2, label, ha="right", va="center", fontsize=8)
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    return figure


def save_image_grid(images: Sequence[np.ndarray], path: str | os.PathLike, columns: int, **labels) -> str:
    """Writes `image_grid_figure(images, columns, **labels)` as a PNG and returns its path."""
    return save_figure(image_grid_figure(images, columns, **labels), path)


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 100) -> str:
    """Writes a figure as PNG atomically (a reader never sees half a file); returns the path."""
    path = os.fspath(path)
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=dpi, format="png")
    return path
