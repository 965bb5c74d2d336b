"""The signatures the explorer page uses, against independent references: the Keras model,
`Deconvnet`, `receptive_field`, the project's `Occlusion` analysis and plain NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import TINY_CLASS_NAMES
from zfnet_tf.analysis import Occlusion
from zfnet_tf.data import resize_to_square
from zfnet_tf.deconv import receptive_field
from zfnet_tf.export.check import compare
from zfnet_tf.export.exporter import reference_thumbnails
from zfnet_tf.export.signatures import MAP_THUMBNAIL_SIDE, map_thumbnails, projectable_layers
from support.exports import held_deconvnet, loaded_saved_model


@pytest.fixture(scope="module")
def loaded(tiny_export):
    return loaded_saved_model(tiny_export[1] / "1")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(5).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)


def run(loaded, name, **inputs):
    outputs = loaded.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def test_projectable_layers_name_every_per_layer_signature(tiny_keras_model, loaded):
    layers = projectable_layers(tiny_keras_model)
    assert [(p.key, p.layer, p.top_name) for p in layers] == [
        ("layer1", 1, "pool1"), ("layer2", 2, "pool2"), ("layer3", 3, "conv3"),
        ("layer4", 4, "conv4"), ("layer5", 5, "pool5"),
    ]
    for layer in layers:
        for prefix in ("project_", "project_map_", "maps_"):
            assert prefix + layer.key in loaded.signatures


def test_decode_bytes_is_the_crop_classify_bytes_sees(loaded):
    rng = np.random.default_rng(8)
    wide = rng.integers(0, 256, (50, 90, 3), dtype=np.uint8)
    tall = rng.integers(0, 256, (100, 70, 3), dtype=np.uint8)
    encoded = [tf.io.encode_png(wide).numpy(), tf.io.encode_jpeg(tall, quality=90).numpy()]
    pixels = run(loaded, "decode_bytes", image_bytes=np.array(encoded, dtype=object))["pixels"]
    assert pixels.dtype == np.int32 and pixels.shape == (2, 64, 64, 3)
    decoded = [tf.io.decode_png(encoded[0]), tf.io.decode_jpeg(encoded[1])]
    expected = np.stack([resize_to_square(d, 64).numpy() for d in decoded])
    np.testing.assert_array_equal(pixels, np.round(expected))
    # The page classifies these whole-level pixels: rounding (at most half a level) moves
    # this random model's probabilities on random noise by under 1%, and not its answer.
    by_bytes = run(loaded, "classify_bytes", image_bytes=np.array(encoded, dtype=object))["probabilities"]
    by_pixels = run(loaded, "serving_default", images=pixels.astype(np.float32))["probabilities"]
    np.testing.assert_allclose(by_pixels, by_bytes, atol=1e-2)
    np.testing.assert_array_equal(by_pixels.argmax(axis=1), by_bytes.argmax(axis=1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        run(loaded, "decode_bytes", image_bytes=np.array([b"not an image"], dtype=object))


def test_class_names_signature_serves_the_labels(loaded):
    names = run(loaded, "class_names", class_index=np.arange(10, dtype=np.int32))["class_name"]
    assert [n.decode() for n in names] == TINY_CLASS_NAMES
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"class_index must be in \[0, 10\)"):
        run(loaded, "class_names", class_index=np.array([10], np.int32))


def test_maps_are_the_layers_keras_outputs(loaded, tiny_keras_model, images):
    for layer in projectable_layers(tiny_keras_model):
        top = tiny_keras_model.backbone.feature_extractor([layer.top_name])(images)[layer.top_name].numpy()
        outputs = run(loaded, f"maps_{layer.key}", images=images)
        np.testing.assert_allclose(outputs["maximum"], top.max(axis=(1, 2)), rtol=1e-5, atol=1e-5)
        # No tiny map needs shrinking: each level is the value over its map's maximum.
        assert outputs["maps"].shape == top.shape
        peak = top.max(axis=(1, 2), keepdims=True)
        expected = np.where(peak > 0, np.round(255 * top / np.where(peak > 0, peak, 1)), 0)
        assert np.abs(outputs["maps"] - expected).max() <= 1
        live = peak[:, 0, 0, :] > 0
        assert np.all(outputs["maps"].max(axis=(1, 2))[live] == 255)


def test_map_thumbnails_shrink_large_maps_by_block_maxima():
    from skimage.measure import block_reduce

    rng = np.random.default_rng(2)
    maps = np.maximum(rng.normal(size=(2, 130, 71, 3)), 0).astype(np.float32)
    maps[1, :, :, 2] = 0  # a dead map
    outputs = {k: v.numpy() for k, v in map_thumbnails(tf.constant(maps)).items()}
    factor = 3  # ceil(130 / 64)
    assert outputs["maps"].shape == (2, 44, 24, 3) and max(44, 24) <= MAP_THUMBNAIL_SIDE
    blocks = block_reduce(maps, (1, factor, factor, 1), np.max, cval=-np.inf)
    maximum = maps.max(axis=(1, 2))
    np.testing.assert_array_equal(outputs["maximum"], maximum)
    safe = np.where(maximum > 0, maximum, 1)[:, None, None, :]
    expected = np.where(maximum[:, None, None, :] > 0, np.round(255 * (blocks / safe)), 0)
    assert np.abs(outputs["maps"] - expected).max() <= 1
    assert np.all(outputs["maps"][1, :, :, 2] == 0)
    # The export's own check computes its reference in NumPy the same way.
    reference = reference_thumbnails(maps)
    np.testing.assert_array_equal(reference["maximum"], maximum)
    assert np.abs(reference["maps"] - outputs["maps"]).max() <= 1


def test_the_export_check_allows_one_level_in_thumbnails_only():
    levels = np.array([[0, 17, 255]], np.int32)
    assert compare("maps", levels + np.array([[0, 1, -1]], np.int32), levels) is None
    assert "2 levels" in compare("maps", levels + np.array([[0, 2, 0]], np.int32), levels)
    assert "differs" in compare("location", levels + np.array([[0, 1, 0]], np.int32), levels)


def test_projection_box_is_the_receptive_field_of_the_location(loaded, tiny_keras_model, images):
    deconvnet = held_deconvnet(tiny_keras_model)
    for layer in projectable_layers(tiny_keras_model):
        field = receptive_field(tiny_keras_model, layer.layer)
        features = np.array([-1, 2], np.int32)
        for mode, prefix in (("max", "project_"), ("map", "project_map_")):
            outputs = run(loaded, prefix + layer.key, images=images, feature=features)
            rows, cols = outputs["location"][:, 0], outputs["location"][:, 1]
            np.testing.assert_array_equal(outputs["box"], np.stack(field.box(rows, cols), axis=-1))
            # One feature per image, the one the signature chose.
            expected = deconvnet.projection_function(layer.layer, mode)(
                tf.constant(images), tf.constant(outputs["feature"][:, None])
            )
            reconstructions = expected["reconstructions"].numpy()[:, 0]
            scale = np.abs(reconstructions).max()
            np.testing.assert_allclose(outputs["reconstructions"], reconstructions, rtol=1e-4, atol=1e-4 * scale)
        # A max-mode projection lies inside its box.
        outputs = run(loaded, "project_" + layer.key, images=images, feature=features)
        for n, (top, left, bottom, right) in enumerate(outputs["box"]):
            outside = np.abs(outputs["reconstructions"][n]).sum(axis=-1)
            outside[top:bottom, left:right] = 0
            assert outside.max() == 0


def test_occlusion_equals_the_occlusion_analysis(loaded, tiny_keras_model, images):
    """Row by row, the signature's map equals `zfnet_tf.analysis.Occlusion` (Fig. 7 b, d)."""
    patch, stride = 16, 4
    analysis = Occlusion(tiny_keras_model, layer=5, patch_size=patch, stride=stride).run(images[:1])
    rows, cols = analysis.rows, analysis.cols
    probabilities, totals = [], []
    for top in rows:
        outputs = run(
            loaded, "occlusion", images=images[:1], top=np.full((1, cols.size), top, np.int32),
            left=cols[None].astype(np.int32), patch_size=np.array([patch], np.int32),
        )
        probabilities.append(outputs["probabilities"][0])
        totals.append(outputs["total_layer5"][0])
    probabilities, totals = np.stack(probabilities), np.stack(totals)  # [R, Q, C]
    label, feature = analysis.label[0], analysis.feature[0]
    np.testing.assert_allclose(probabilities[..., label], analysis.label_probability[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(totals[..., feature], analysis.feature_activation[0], rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(probabilities.argmax(axis=-1), analysis.top_class[0])


def test_occlusion_positions_and_patch_sizes_per_image(loaded, tiny_keras_model, images):
    """Every layer's totals against NumPy occlusion through the Keras backbone, with a
    different square per image and positions hanging over the edges."""
    tops = np.array([[-8, 0, 60], [10, 50, -30]], np.int32)
    lefts = np.array([[-8, 30, 60], [63, 0, 5]], np.int32)
    patches = np.array([16, 24], np.int32)
    outputs = run(loaded, "occlusion", images=images, top=tops, left=lefts, patch_size=patches)
    layers = projectable_layers(tiny_keras_model)
    extractor = tiny_keras_model.backbone.feature_extractor([p.top_name for p in layers])
    mean = np.array(tiny_keras_model.config.mean_rgb, np.float32)
    for n in range(2):
        copies = np.repeat(images[n][None], 3, axis=0)
        rows = np.arange(64)
        for p in range(3):
            inside = ((rows >= tops[n, p]) & (rows < tops[n, p] + patches[n]))[:, None] & (
                (rows >= lefts[n, p]) & (rows < lefts[n, p] + patches[n])
            )[None, :]
            copies[p][inside] = mean
        tops_maps = extractor(copies)
        for layer in layers:
            np.testing.assert_allclose(
                outputs[f"total_{layer.key}"][n], tops_maps[layer.top_name].numpy().sum(axis=(1, 2)), rtol=1e-4, atol=1e-3
            )
        expected = tf.nn.softmax(tiny_keras_model(copies)).numpy()
        np.testing.assert_allclose(outputs["probabilities"][n], expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"patch_size must be between 1 and 64"):
        run(loaded, "occlusion", images=images[:1], top=tops[:1], left=lefts[:1], patch_size=np.array([0], np.int32))
