"""Filters (Fig. 6): a pure sinusoid's energy lands in its band; dead filters are found."""

import dataclasses

import numpy as np
import pytest

import zfnet_tf
from zfnet_tf.analysis import FilterAnalysis, aliased_energy, band_energies, compare_filters
from zfnet_tf.analysis.base import check_fill, jsonable
from zfnet_tf.analysis.filters import unique_names


def sinusoid_kernel(size, frequency, angle, channels=3):
    y, x = np.mgrid[0:size, 0:size]
    wave = np.cos(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle)) + 0.3)
    return np.repeat(wave[:, :, None, None], channels, axis=2)


@pytest.mark.parametrize("size", [7, 11])
@pytest.mark.parametrize("frequency,band", [(0.03, 0), (0.25, 1), (0.45, 2)])
def test_pure_sinusoid_lands_in_its_band(size, frequency, band):
    kernels = np.concatenate(
        [sinusoid_kernel(size, frequency, angle) for angle in (0.0, np.pi / 5, np.pi / 2)], axis=3
    )
    energies = band_energies(kernels)
    np.testing.assert_allclose(energies.sum(axis=1), 1.0)
    assert (energies.argmax(axis=1) == band).all(), energies
    assert (energies[:, band] > 0.7).all(), energies


def test_deep_layers_are_measured_a_few_filters_at_a_time_with_the_same_numbers():
    kernels = np.random.default_rng(1).normal(size=(3, 3, 64, 40))  # 16 filters per FFT chunk
    together = band_energies(kernels)
    one_by_one = np.concatenate([band_energies(kernels[..., i : i + 1]) for i in range(40)])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-12)


def test_aliasing_measures_energy_above_the_strides_nyquist():
    kernel = sinusoid_kernel(11, 0.2, 0.0)  # 0.2 cycles/pixel
    assert aliased_energy(kernel, strides=1)[0] < 0.05  # Nyquist 0.5
    assert aliased_energy(kernel, strides=2)[0] < 0.2  # Nyquist 0.25
    assert aliased_energy(kernel, strides=4)[0] > 0.8  # Nyquist 0.125: folds back


def test_dead_filters_and_comparison_of_two_presets():
    import keras

    keras.utils.set_random_seed(0)
    model = zfnet_tf.build_model("tiny")
    conv1 = model.backbone.get_layer("conv1")
    kernel = keras.ops.convert_to_numpy(conv1.kernel).copy()
    kernel[..., [3, 17]] *= 1e-3
    conv1.kernel.assign(kernel)
    result = FilterAnalysis(model).run()
    assert result.layer1 == "conv1" and sorted(result.norms) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert np.flatnonzero(result.dead["conv1"]).tolist() == [3, 17]
    np.testing.assert_allclose(result.norms["conv1"], np.sqrt((kernel.astype(np.float64) ** 2).sum(axis=(0, 1, 2))), rtol=1e-6)
    np.testing.assert_allclose(result.band_energy, band_energies(kernel))
    np.testing.assert_array_equal(result.layer1_filters, np.transpose(kernel, (3, 0, 1, 2)))
    summary = result.summary()
    assert summary["dead_filters"]["conv1"] == 2 and summary["layer1_strides"] == [2, 2]

    # AlexNet's first layer (96 filters, 11x11 stride 4); the layers above it narrowed, since
    # only layer 1 is measured here.
    preset = zfnet_tf.get_config("alexnet")
    narrowed = (preset.conv_blocks[0], *(dataclasses.replace(b, filters=8) for b in preset.conv_blocks[1:]))
    alexnet_model = zfnet_tf.build_model(preset.replace(conv_blocks=narrowed, dense_units=(8, 8)), num_classes=10)
    alexnet = FilterAnalysis(alexnet_model).run().summary()
    assert alexnet["layer1_kernel_size"] == [11, 11] and alexnet["layer1_strides"] == [4, 4]
    # The same kind of random filters alias more under stride 4 than under stride 2.
    assert alexnet["layer1_mean_aliased_energy"] > summary["layer1_mean_aliased_energy"]


def test_layer2_projections_with_data(tiny_model):
    """With data, every layer-2 map's strongest activation over it, and its projection."""
    images = np.random.RandomState(0).uniform(0, 255, (6, 64, 64, 3)).astype(np.float32)
    result = FilterAnalysis(tiny_model, progress=False).run(images)
    top = result.projections
    assert top.layer == 2 and top.values.shape == (64, 1)
    pool2 = tiny_model.backbone.feature_extractor(["pool2"])(images)["pool2"].numpy()
    per_image = pool2.max(axis=(1, 2))  # [N, C]
    np.testing.assert_allclose(top.values[:, 0], per_image.max(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(top.image_index[:, 0], per_image.argmax(axis=0))
    assert result.to_json()["top_activation"] == pytest.approx(top.values[:, 0].tolist(), abs=1e-6)
    for feature in (0, 40):
        index = top.image_index[feature, 0]
        projection = zfnet_tf.Deconvnet(tiny_model).project(images[index : index + 1], 2, feature=feature)
        full = projection.reconstructions[0]
        t, l, b, r = top.boxes[feature, 0]
        crop = top.projections[feature, 0]
        inside = ~np.isnan(crop[..., 0])
        np.testing.assert_allclose(crop[inside].reshape(b - t, r - l, 3), full[t:b, l:r], atol=1e-5)


def test_any_model_first_trainable_convolution_and_named_layers(vgg16):
    """VGG16: the first layer is `block1_conv1`, not the fixed preprocessing convolution; every
    trainable convolution's filter norms come from its own kernel."""
    import keras

    base = vgg16.get_layer("vgg16")
    result = FilterAnalysis(vgg16, projection_layer="block2_conv2").run()
    assert result.layer1 == "block1_conv1" and len(result.norms) == 13 and "preprocess" not in result.norms
    for name in ("block1_conv1", "block4_conv2"):
        kernel = keras.ops.convert_to_numpy(base.get_layer(name).kernel).astype(np.float64)
        np.testing.assert_allclose(result.norms[name], np.sqrt((kernel**2).sum(axis=(0, 1, 2))), rtol=1e-6)
    kernel = keras.ops.convert_to_numpy(base.get_layer("block1_conv1").kernel)
    np.testing.assert_allclose(result.band_energy, band_energies(kernel))
    np.testing.assert_allclose(result.aliased_energy, aliased_energy(kernel, 1))
    second = FilterAnalysis(vgg16, layer="block1_conv2").run()
    # 64 input channels are shown as their mean (grey); the bands still read every channel.
    assert second.layer1_filters.shape == (64, 3, 3, 3)
    np.testing.assert_allclose(second.band_energy, band_energies(keras.ops.convert_to_numpy(base.get_layer("block1_conv2").kernel)))
    with pytest.raises(ValueError, match="layer 'block1_pool' is not a trainable Conv2D"):
        FilterAnalysis(vgg16, layer="block1_pool")


def test_a_model_name_given_twice_is_numbered():
    assert unique_names(["zfnet", "tiny", "zfnet", "zfnet"]) == ["zfnet", "tiny", "zfnet (2)", "zfnet (3)"]
    import keras

    keras.utils.set_random_seed(0)
    model = zfnet_tf.build_model("tiny")
    results = [FilterAnalysis(model, name="tiny").run(), FilterAnalysis(model, name="tiny").run()]
    comparison = compare_filters(results)
    assert list(comparison.results) == ["tiny", "tiny (2)"]
    assert comparison.to_json()["models"]["tiny (2)"] == jsonable(results[1].numbers())


@pytest.mark.parametrize("text, value", [("mean", "mean"), ("128", (128.0, 128.0, 128.0)),
                                         ("255,0,10.5", (255.0, 0.0, 10.5)), ((1, 2, 3), (1.0, 2.0, 3.0))])
def test_fill_as_the_command_line_writes_it(text, value):
    assert check_fill(text) == value


@pytest.mark.parametrize("text", ["grey", "1,2", "1,,2", "nan", [1, 2, 3, 4]])
def test_a_bad_fill_is_named(text):
    with pytest.raises(ValueError, match="fill must be 'mean', a number or 3 numbers"):
        check_fill(text)
