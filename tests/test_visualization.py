"""The one image-tiling helper, and figures that leave matplotlib's backend alone."""

import importlib

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from zfnet_tf import visualization
from zfnet_tf.visualization import image_grid_figure, tile_images


def test_tile_images_places_each_cell_with_gaps_border_and_nearest_resizing():
    rng = np.random.default_rng(0)
    cells = [rng.integers(0, 255, (4, 4, 3), dtype=np.uint8) for _ in range(5)]
    mosaic = tile_images(cells, columns=3, gap=2, background=7, border=1)
    assert mosaic.shape == (1 + 4 + 2 + 4 + 1, 1 + 3 * 4 + 2 * 2 + 1, 3) and mosaic.dtype == np.uint8
    for index, cell in enumerate(cells):
        r, c = divmod(index, 3)
        top, left = 1 + r * 6, 1 + c * 6
        np.testing.assert_array_equal(mosaic[top : top + 4, left : left + 4], cell)
    # Gaps, border and the unused sixth cell are the background.
    mask = np.ones(mosaic.shape[:2], bool)
    for index in range(5):
        r, c = divmod(index, 3)
        mask[1 + r * 6 : 5 + r * 6, 1 + c * 6 : 5 + c * 6] = False
    assert (mosaic[mask] == 7).all()

    # A 2x2 cell among 4x4 ones is enlarged by nearest neighbour to fill its cell; grey is RGB.
    small = np.arange(4, dtype=np.uint8).reshape(2, 2)
    mixed = tile_images([cells[0], small], columns=2, gap=0)
    np.testing.assert_array_equal(mixed[:, 4:, 0], np.kron(small, np.ones((2, 2), np.uint8)))
    np.testing.assert_array_equal(mixed[:, 4:, 0], mixed[:, 4:, 2])
    with pytest.raises(ValueError, match="at least one image"):
        tile_images([], 2)


def test_image_grid_figure_is_one_mosaic_with_its_labels(tmp_path):
    cells = [np.full((8, 8, 3), v, np.uint8) for v in (0, 50, 100, 150)]
    figure = image_grid_figure(cells, 2, row_labels=["row a", "row b"], column_labels=["x", "y"], suptitle="t")
    assert isinstance(figure, Figure)
    (axis,) = figure.axes
    (shown,) = axis.get_images()
    np.testing.assert_array_equal(shown.get_array()[:8, :8], cells[0])
    assert {text.get_text() for text in axis.texts} == {"row a", "row b", "x", "y"}
    path = visualization.save_image_grid(cells, tmp_path / "grid.png", 2)
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_importing_the_plotting_modules_leaves_the_backend_alone():
    """A notebook's backend must survive `import zfnet_tf...`: no module calls `matplotlib.use`."""
    modules = ["zfnet_tf.visualization", "zfnet_tf.analysis.plots", "zfnet_tf.transfer.figures", "zfnet_tf.analysis.projections"]
    previous = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        for name in modules:
            importlib.reload(importlib.import_module(name))
            assert matplotlib.get_backend() == "svg", name
    finally:
        matplotlib.use(previous)


def test_projection_contrast_stretches_a_percentile_and_clips_beyond():
    from zfnet_tf.visualization import projection_to_rgb

    rng = np.random.default_rng(0)
    projection = rng.normal(size=(20, 20, 3))
    projection[0, 0, 0] = 1000.0  # one extreme pixel
    # Largest magnitude: the extreme pixel is white, the rest almost flat grey.
    full = projection_to_rgb(projection)
    assert full[0, 0, 0] == 255
    np.testing.assert_array_equal(full, np.clip(128 + 127 * projection / 1000.0, 0, 255).astype(np.uint8))
    # The 99th percentile of the magnitudes is stretched to full contrast, the few beyond clip.
    peak = np.percentile(np.abs(projection), 99)
    stretched = projection_to_rgb(projection, 99)
    np.testing.assert_array_equal(stretched, np.clip(128 + 127 * projection / peak, 0, 255).astype(np.uint8))
    assert (stretched == 255).sum() + (stretched == 0).sum() >= 0.01 * projection.size - 1
    assert np.ptp(stretched[1:, 1:]) > 200 > np.ptp(full[1:, 1:])
    # A projection that is zero almost everywhere still shows its few pixels; zero stays grey.
    sparse = np.zeros((10, 10, 3))
    sparse[5, 5] = [1.0, -2.0, 0.5]
    np.testing.assert_array_equal(projection_to_rgb(sparse, 50), projection_to_rgb(sparse))
    assert (projection_to_rgb(np.zeros((4, 4, 3)), 99) == 128).all()
    with pytest.raises(ValueError, match="percentile must be in"):
        projection_to_rgb(projection, 0)
