"""Invariance (Fig. 5): identity-like transforms leave features in place; transforms are exact."""

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from zfnet_tf.analysis import Invariance, default_sweeps


@pytest.fixture
def images():
    return np.random.RandomState(2).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)


def test_identity_and_full_turn_give_zero_distance(tiny_model, images):
    amounts = {"translation": [0, 6], "scale": [1.0, 1.5], "rotation": [0, 360, 90]}
    invariance = Invariance(tiny_model, amounts=amounts)
    assert invariance.layers == (1, 7) and invariance.layer_names == ("norm1", "fc7")
    labels = np.array([4, 1])
    original = tf.nn.softmax(tiny_model(images)).numpy()[[0, 1], labels]
    result = invariance.run((images, labels))
    for name, identity, moved in (("translation", 0, 1), ("scale", 0, 1), ("rotation", 0, 2)):
        sweep = result.sweeps[name]
        for layer in (1, 7):
            distance = sweep["distance"][layer]
            assert distance.shape == (2, len(sweep["amounts"]))
            # A real move is far; the identity is 0 up to float noise of a different batch.
            assert (distance[:, moved] > 1e-2).all()
            assert (distance[:, identity] <= 1e-5 * distance[:, moved]).all()
        np.testing.assert_allclose(sweep["label_probability"][:, identity], original, rtol=1e-5)
    rotation = result.sweeps["rotation"]
    for layer in (1, 7):
        assert (rotation["distance"][layer][:, 1] <= 1e-5 * rotation["distance"][layer][:, 2]).all()
    probabilities = rotation["label_probability"]
    np.testing.assert_allclose(probabilities[:, 0], probabilities[:, 1], rtol=1e-5)


def test_transforms_move_pixels_where_they_say(tiny_model, images):
    invariance = Invariance(tiny_model)
    fill = np.asarray(tiny_model.config.mean_rgb, np.float32)
    shifted = invariance.transform(images, "translation", [5, -3])
    np.testing.assert_allclose(shifted[:, 0, 5:], images[:, :-5], atol=1e-3)
    np.testing.assert_allclose(shifted[:, 0, :5], np.broadcast_to(fill, (2, 5, 64, 3)), atol=1e-3)
    np.testing.assert_allclose(shifted[:, 1, :-3], images[:, 3:], atol=1e-3)
    turned = invariance.transform(images, "rotation", [90, 180, 360])
    np.testing.assert_allclose(turned[:, 0], np.rot90(images, 1, axes=(1, 2)), atol=1e-3)
    np.testing.assert_allclose(turned[:, 1], np.rot90(images, 2, axes=(1, 2)), atol=1e-3)
    np.testing.assert_array_equal(turned[:, 2], images)
    # Scale and an off-grid rotation against SciPy's bilinear resampling about the centre.
    centre = np.full(2, 31.5)
    for name, amount, matrix in (
        ("scale", 1.7, np.eye(2) / 1.7),
        ("rotation", 30.0, rotation_rows_cols(30.0)),
    ):
        warped = invariance.transform(images, name, [amount])[:, 0]
        for c in range(3):
            expected = scipy.ndimage.affine_transform(
                images[0, ..., c], matrix, offset=centre - matrix @ centre, order=1, mode="grid-constant", cval=fill[c]
            )
            np.testing.assert_allclose(warped[0, ..., c], expected, atol=2e-2)


def rotation_rows_cols(degrees):
    """Output (row, col) -> input (row, col) of a counter-clockwise turn on screen."""
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])


def test_default_sweeps_and_bad_arguments(tiny_model, images):
    sweeps = default_sweeps(224)
    assert sweeps["translation"][0] == -60 and sweeps["translation"][-1] == 60
    assert sweeps["scale"][0] == 1.0 and sweeps["scale"][-1] == 1.8
    assert len(sweeps["rotation"]) == 36
    with pytest.raises(ValueError, match=r"transforms must be among .* got \['shear'\]"):
        Invariance(tiny_model, transforms=("shear",))
    with pytest.raises(ValueError, match="amounts: 'scale' is not one of the transforms"):
        Invariance(tiny_model, transforms=("rotation",), amounts={"scale": [1.5]})
    with pytest.raises(ValueError, match="amounts: scale factors must be > 0"):
        Invariance(tiny_model, amounts={"scale": [0.0]})
    with pytest.raises(ValueError, match="layer 7 .* removed"):
        import zfnet_tf

        Invariance(zfnet_tf.build_model("tiny", dense_units=(32,)), layers=(1, 7))


def test_named_layers_of_vgg16_against_its_own_keras_graph(vgg16, vgg16_layer):
    """Any model the deconvnet supports, layers by name: the distance is the Euclidean distance
    of the application's own layer outputs (an independent Keras model), and the default layers
    are the first projectable one and the classifier's input (VGG16's fc2)."""
    images = np.random.RandomState(9).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    assert Invariance(vgg16).layers == ("block1_conv2", "fc2")
    invariance = Invariance(vgg16, layers=("block2_conv2", "fc1"), transforms=("translation",),
                            amounts={"translation": [0, 3, -5]})
    result = invariance.run(images)
    shifted = invariance.transform(images, "translation", [3, -5])
    before = vgg16_layer(images, "block2_conv2", "fc1")
    logits = vgg16(images).numpy()
    np.testing.assert_array_equal(result.label, logits.argmax(axis=1))
    assert result.label_source == "predicted"
    for amount_index, amount in ((1, 3), (2, -5)):
        after = vgg16_layer(shifted[:, amount_index - 1], "block2_conv2", "fc1")
        for layer, b, a in zip(("block2_conv2", "fc1"), before, after):
            expected = np.sqrt(((a.reshape(2, -1) - b.reshape(2, -1)).astype(np.float64) ** 2).sum(axis=1))
            np.testing.assert_allclose(result.sweeps["translation"]["distance"][layer][:, amount_index], expected, rtol=1e-4)
        probabilities = tf.nn.softmax(vgg16(shifted[:, amount_index - 1])).numpy()
        np.testing.assert_allclose(result.sweeps["translation"]["label_probability"][:, amount_index],
                                   probabilities[[0, 1], result.label], rtol=1e-4)
    np.testing.assert_allclose(result.sweeps["translation"]["distance"]["fc1"][:, 0], 0, atol=1e-3)
