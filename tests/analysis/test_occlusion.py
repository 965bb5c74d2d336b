"""Occlusion (Fig. 7): what the network cannot see cannot matter; batching changes nothing."""

import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.analysis import Occlusion


def visible_rows(linear_twin, config, layer):
    """Input rows that reach layer `layer`'s top maps: where the gradient of all the top's
    units of the network's all-ones, average-pooling twin is non-zero (one axis)."""
    twin = linear_twin(config, layer)
    image = tf.zeros((1, config.input_size, config.input_size, 1))
    with tf.GradientTape() as tape:
        tape.watch(image)
        total = tf.reduce_sum(twin(image))
    return tape.gradient(total, image).numpy()[0, :, 0, 0] != 0


@pytest.fixture(scope="module")
def blind_model():
    """68x68 input: conv2 (5x5, stride 2) on pool1's 16 rows drops the last one, so the image's
    last rows and columns reach nothing above layer 1. No LCN: its windows would mix them in."""
    tf.keras.utils.set_random_seed(5)
    return zfnet_tf.build_model("tiny", input_size=68, normalization=None)


def test_occluding_what_layer5_cannot_see_changes_nothing(blind_model, linear_twin):
    config = blind_model.config
    visible = visible_rows(linear_twin, config, 5)
    assert not visible.all(), "the test needs input rows that layer 5 cannot see"
    first_blind = int(np.flatnonzero(~visible)[0])
    image = np.random.RandomState(0).uniform(0, 255, (1, 68, 68, 3)).astype(np.float32)
    result = Occlusion(blind_model, layer=5, patch_size=2, stride=2).run(image)
    blind_rows = result.rows >= first_blind
    blind_cols = result.cols >= first_blind
    assert blind_rows.any() and blind_cols.any()
    blind = blind_rows[:, None] | blind_cols[None, :]
    activation = result.feature_activation[0]
    probability = result.label_probability[0]
    np.testing.assert_allclose(activation[blind], result.unoccluded_activation[0], rtol=1e-5)
    np.testing.assert_allclose(probability[blind], result.unoccluded_probability[0], rtol=1e-5)
    assert (result.top_class[0][blind] == result.unoccluded_top_class[0]).all()
    # Elsewhere the square does change what the network computes.
    changed = ~np.isclose(activation[~blind], result.unoccluded_activation[0], rtol=1e-4)
    assert changed.mean() > 0.5


def test_batched_equals_one_at_a_time_and_maps_are_what_they_claim(tiny_model):
    images = np.random.RandomState(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    batched = Occlusion(tiny_model, patch_size=16, stride=12, batch_size=64).run((images, np.array([3, 7])))
    single = Occlusion(tiny_model, patch_size=16, stride=12, batch_size=1).run((images, np.array([3, 7])))
    np.testing.assert_allclose(batched.feature_activation, single.feature_activation, rtol=1e-5)
    np.testing.assert_allclose(batched.label_probability, single.label_probability, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(batched.top_class, single.top_class)

    # One position recomputed by hand: grey square at (rows[1], cols[2]).
    occlusion = Occlusion(tiny_model, patch_size=16, stride=12)
    top, left = int(batched.rows[1]), int(batched.cols[2])
    occluded = images[1].copy()
    occluded[top : top + 16, left : left + 16] = tiny_model.config.mean_rgb
    np.testing.assert_array_equal(occlusion.occlude(images[1], tf.constant([top]), tf.constant([left]))[0], occluded)
    pool5 = tiny_model.backbone.feature_extractor(["pool5"])(occluded[None])["pool5"].numpy()
    probabilities = tf.nn.softmax(tiny_model(occluded[None])).numpy()[0]
    feature = batched.feature[1]
    np.testing.assert_allclose(batched.feature_activation[1, 1, 2], pool5[0, ..., feature].sum(), rtol=1e-5)
    np.testing.assert_allclose(batched.label_probability[1, 1, 2], probabilities[7], rtol=1e-5)
    assert batched.top_class[1, 1, 2] == probabilities.argmax()

    # The watched map is the strongest one on the unoccluded image, and (c) is its projection.
    projection = zfnet_tf.Deconvnet(tiny_model).project(images, 5, feature=-1)
    np.testing.assert_array_equal(batched.feature, projection.feature)
    np.testing.assert_allclose(batched.projection, projection.reconstructions, atol=1e-6)
    assert batched.feature_activation.shape == (2, len(batched.rows), len(batched.cols))
    assert list(batched.rows) == [0, 12, 24, 36, 48]


def test_bad_arguments_are_named(tiny_model):
    images = np.zeros((1, 64, 64, 3), np.float32)
    with pytest.raises(ValueError, match="patch_size must be in 1..64"):
        Occlusion(tiny_model, patch_size=65)
    with pytest.raises(ValueError, match="labels must be 1 class indices in 0..9"):
        Occlusion(tiny_model, patch_size=32, stride=32).run((images, np.array([10])))
    with pytest.raises(ValueError, match="fill must be"):
        Occlusion(tiny_model, fill="pink")


def test_occlusion_of_a_named_vgg16_layer_is_what_it_claims(vgg16, vgg16_layer):
    """keras.applications VGG16, layer `block3_conv3`: one position recomputed by the
    application's own Keras graph; the square is the grey its preprocessing maps to zero."""
    images = np.random.RandomState(6).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    result = Occlusion(vgg16, layer="block3_conv3", patch_size=8, stride=8).run((images, np.array([0, 2])))
    assert list(result.rows) == [0, 8, 16, 24] and result.layer_name == "block3_conv3"
    (top,) = vgg16_layer(images, "block3_conv3")
    np.testing.assert_array_equal(result.feature, top.max(axis=(1, 2)).argmax(axis=1))
    preprocess = vgg16.get_layer("preprocess")
    np.testing.assert_allclose(preprocess(np.broadcast_to(result.fill, (1, 1, 1, 3))).numpy(), 0, atol=1e-4)
    occluded = images[1].copy()
    occluded[16:24, 8:16] = result.fill
    (maps,) = vgg16_layer(occluded[None], "block3_conv3")
    probabilities = tf.nn.softmax(vgg16(occluded[None])).numpy()[0]
    np.testing.assert_allclose(result.feature_activation[1, 2, 1], maps[0, ..., result.feature[1]].sum(), rtol=1e-4)
    np.testing.assert_allclose(result.label_probability[1, 2, 1], probabilities[2], rtol=1e-4)
    assert result.top_class[1, 2, 1] == probabilities.argmax()
    np.testing.assert_allclose(result.unoccluded_activation, top.sum(axis=(1, 2))[[0, 1], result.feature], rtol=1e-4)
