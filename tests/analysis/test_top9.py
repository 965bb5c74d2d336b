"""Top-9 (Fig. 2): the streaming top-k against a brute-force NumPy search (a ZFNet and
keras.applications VGG16); crops against boxes."""

import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.analysis import Top9


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(7)
    return zfnet_tf.build_model("tiny")


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(3).uniform(0, 255, (23, 64, 64, 3)).astype(np.float32)


def brute_force(top, k):
    """Per map of `top` [N, H, W, C]: each image's maximum (first position on ties), then the
    k best images, stable."""
    flat = top.reshape(len(top), -1, top.shape[-1])  # [N, H*W, C]
    per_image = flat.max(axis=1).T  # [C, N]
    position = flat.argmax(axis=1).T
    order = np.argsort(-per_image, axis=1, kind="stable")[:, :k]
    return (
        np.take_along_axis(per_image, order, axis=1),
        order,
        np.take_along_axis(position, order, axis=1),
        top.shape[1],
    )


def zfnet_top(model, images, layer):
    """ZFNet's layer-`layer` top maps (pooled where the layer pools) by its own extractor."""
    name = f"pool{layer}" if model.config.block(layer).pool else f"conv{layer}"
    return model.backbone.feature_extractor([name])(images)[name].numpy()


@pytest.mark.parametrize("layer", [1, 2, 5])
def test_streaming_top_k_equals_brute_force(model, images, layer):
    result = Top9(model, layer=layer, k=9, batch_size=5, progress=False, features=[0, 3]).run(images)
    values, index, position, grid = brute_force(zfnet_top(model, images, layer), 9)
    np.testing.assert_allclose(result.values, values, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.image_index, index)
    np.testing.assert_array_equal(result.location[..., 0] * grid + result.location[..., 1], position)
    assert result.num_images == len(images)


def test_top9_of_a_named_vgg16_layer_equals_brute_force(vgg16, vgg16_layer):
    """Any model the deconvnet supports, by layer name: keras.applications VGG16's
    `block3_conv3`, read by an independent Keras model of the application's own graph."""
    images = np.random.RandomState(5).uniform(0, 255, (11, 32, 32, 3)).astype(np.float32)
    result = Top9(vgg16, layer="block3_conv3", k=4, batch_size=3, progress=False, features=[0, 7]).run(images)
    (top,) = vgg16_layer(images, "block3_conv3")
    values, index, position, grid = brute_force(top, 4)
    np.testing.assert_allclose(result.values, values, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(result.image_index, index)
    np.testing.assert_array_equal(result.location[..., 0] * grid + result.location[..., 1], position)
    assert result.stem == "top9_block3_conv3" and result.layer_name == "block3_conv3"
    # Each projection is the deconvnet's projection of that activation, cropped to its box.
    deconvnet = zfnet_tf.Deconvnet(vgg16)
    for row, feature in enumerate([0, 7]):
        image = result.image_index[feature, 0]
        projection = deconvnet.project(images[image : image + 1], "block3_conv3", feature=feature)
        np.testing.assert_allclose(projection.activation[0], result.values[feature, 0], rtol=1e-5)
        top_, left, bottom, right = result.boxes[feature, 0]
        crop = result.projections[row, 0]
        inside = ~np.isnan(crop[..., 0])
        np.testing.assert_allclose(crop[inside].reshape(bottom - top_, right - left, 3),
                                   projection.reconstructions[0, top_:bottom, left:right], atol=1e-5)


def test_dataset_and_array_give_the_same_top9(model, images):
    labels = np.arange(len(images), dtype=np.int32)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    from_array = Top9(model, layer=2, batch_size=8, progress=False, features=[1]).run(images)
    from_dataset = Top9(model, layer=2, batch_size=6, progress=False, features=[1]).run(dataset)
    np.testing.assert_array_equal(from_array.image_index, from_dataset.image_index)
    np.testing.assert_allclose(from_array.projections, from_dataset.projections, atol=1e-5)


def test_patches_are_receptive_field_crops_and_projections_match_the_deconvnet(model, images):
    layer, features = 2, [0, 5, 9]
    top9 = Top9(model, layer=layer, k=4, batch_size=7, progress=False, features=features)
    result = top9.run(images)
    field = zfnet_tf.receptive_field(model, layer)
    deconvnet = zfnet_tf.Deconvnet(model)
    assert result.patches.shape == (3, 4, *field.size, 3)
    for row, feature in enumerate(features):
        for rank in range(4):
            index = result.image_index[feature, rank]
            y, x = result.location[feature, rank]
            top, left, bottom, right = field.box(y, x)
            assert tuple(result.boxes[feature, rank]) == (top, left, bottom, right)
            patch = result.patches[row, rank]
            inside = ~np.isnan(patch[..., 0])
            assert inside.sum() == (bottom - top) * (right - left)
            np.testing.assert_array_equal(patch[inside].reshape(bottom - top, right - left, 3),
                                          images[index, top:bottom, left:right])
            projection = deconvnet.project(images[index : index + 1], layer, feature=feature)
            assert tuple(projection.location[0]) == (y, x)
            np.testing.assert_allclose(projection.activation[0], result.values[feature, rank], rtol=1e-5)
            full = projection.reconstructions[0]
            crop = result.projections[row, rank]
            np.testing.assert_allclose(crop[inside].reshape(bottom - top, right - left, 3),
                                       full[top:bottom, left:right], atol=1e-5)
            # Nothing of the projection lies outside the receptive field.
            outside = full.copy()
            outside[top:bottom, left:right] = 0
            assert np.abs(outside).max() == 0
            assert np.abs(full).max() > 0


def test_fewer_images_than_k_and_bad_arguments(model, images):
    result = Top9(model, layer=5, k=9, progress=False, features=[2]).run(images[:4])
    assert (result.image_index[:, 4:] == -1).all() and np.isneginf(result.values[:, 4:]).all()
    assert np.isnan(result.projections[0, 4:]).all()
    assert sorted(result.image_index[2, :4]) == [0, 1, 2, 3]
    assert len(result.to_json()["maps"][2]["top"]) == 4
    with pytest.raises(ValueError, match="features .* out of range for layer 5"):
        Top9(model, layer=5, progress=False, features=[64])
    with pytest.raises(ValueError, match="layer must be an int in 1..5"):
        Top9(model, layer=6)
    with pytest.raises(ValueError, match=r"no layer named 'conv9' in this model"):
        Top9(model, layer="conv9")
    with pytest.raises(ValueError, match=r"must be \[64, 64, 3\] .* got \(32, 64, 3\)"):
        Top9(model, layer=1, progress=False).run(images[:, :32])


def test_only_the_winning_images_of_projected_maps_are_kept(model, images):
    features = np.array([1, 7], np.int32)
    top9 = Top9(model, layer=2, k=3, batch_size=4, progress=False, features=features)
    values, image_index, _, cache, count = top9._stream(top9.data(images))
    assert count == len(images)
    assert set(cache) == set(image_index[features].ravel().tolist())
    for index, image in cache.items():
        np.testing.assert_array_equal(image, images[index])
        assert image.base is None or image.base.shape == image.shape  # its own copy, not a batch view
