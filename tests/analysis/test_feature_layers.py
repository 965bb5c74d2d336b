"""One feature reader (`feature_layer` names the layer, `feature_reader` reads it) against each
model's own Keras graph: `keras.Model(inputs, layer.output)` is the independent reference."""

import keras
import numpy as np
import pytest

from zfnet_tf.analysis.feature_layers import feature_layer, feature_reader


def own_output(model: keras.Model, name: str, images) -> np.ndarray:
    """`name`'s output by the model's own functional graph, flattened per image."""
    values = keras.Model(model.inputs[0], model.get_layer(name).output)(images, training=False)
    return keras.ops.convert_to_numpy(values).reshape(len(images), -1)


def shares_every_variable(reader: keras.Model, model: keras.Model) -> bool:
    """The reader owns no variable of its own: each is one of the model's (the same object)."""
    own = {id(v) for v in model.weights}
    return bool(reader.weights) and all(id(v) in own for v in reader.weights)


def test_zfnet_layers_by_number_name_and_default_are_its_own_outputs(tiny_model):
    assert [feature_layer(tiny_model, layer) for layer in (1, 2, 3, 5, 6, 7, None)] == [
        "norm1", "norm2", "conv3", "pool5", "fc6", "fc7", "fc7"]
    assert feature_layer(tiny_model, "zfnet_backbone/pool5") == "pool5"
    reader = feature_reader(tiny_model, [1, 5, None, "fc8"])
    assert list(reader.output) == ["norm1", "pool5", "fc7", "fc8"]
    assert shares_every_variable(reader, tiny_model)
    images = np.random.RandomState(0).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    outputs = reader.predict(images, verbose=0)
    backbone = tiny_model.backbone
    for name in ("norm1", "pool5", "fc7"):
        np.testing.assert_allclose(outputs[name], own_output(backbone, name, images), rtol=1e-5, atol=1e-5)
    logits = keras.ops.convert_to_numpy(tiny_model(images, training=False))
    np.testing.assert_allclose(outputs["fc8"], logits, rtol=1e-5, atol=1e-5)
    assert all(value.dtype == np.float32 for value in outputs.values())


def test_layers_of_a_nested_application_read_through_its_wrapper(vgg16, vgg16_layer):
    """VGG16 inside its wrapper (a preprocessing layer, then the application as one layer):
    names, paths and the default (`fc2`, what the classifier reads) reach into it."""
    assert feature_layer(vgg16) == "fc2"
    assert feature_layer(vgg16, "vgg16/block5_pool") == "block5_pool"
    reader = feature_reader(vgg16, ["block3_conv3", "vgg16/block5_pool", None])
    assert list(reader.output) == ["block3_conv3", "block5_pool", "fc2"]
    assert shares_every_variable(reader, vgg16)
    images = np.random.RandomState(1).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    outputs = reader.predict(images, verbose=0)
    for name, expected in zip(("block3_conv3", "block5_pool", "fc2"), vgg16_layer(images, "block3_conv3", "block5_pool", "fc2")):
        np.testing.assert_allclose(outputs[name], expected.reshape(4, -1), rtol=1e-4, atol=1e-4)
    # Pooled within a budget: block3_conv3 is 8x8x256, 1024 values leave a 2x2 grid of 4x4 means.
    pooled = feature_reader(vgg16, ["block3_conv3"], max_dimensions=1024).predict(images, verbose=0)
    (conv,) = vgg16_layer(images, "block3_conv3")
    means = conv.reshape(4, 2, 4, 2, 4, 256).mean(axis=(2, 4)).reshape(4, -1)
    np.testing.assert_allclose(pooled["block3_conv3"], means, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def sequential_cnn():
    keras.utils.set_random_seed(3)
    return keras.Sequential([
        keras.Input((20, 20, 3)),
        keras.layers.Rescaling(1 / 255.0, name="scale"),
        keras.layers.Conv2D(6, 3, activation="relu", name="conv_a"),
        keras.layers.MaxPooling2D(2, name="pool_a"),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv_b"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(12, activation="relu", name="hidden"),
        keras.layers.Dropout(0.5, name="drop"),
        keras.layers.Dense(3, name="logits"),
    ], name="sequential_cnn")


def test_a_sequential_model_alone_and_nested_in_a_functional_head(sequential_cnn):
    images = np.random.RandomState(2).uniform(0, 255, (5, 20, 20, 3)).astype(np.float32)
    assert feature_layer(sequential_cnn) == "hidden"  # what the classifier reads, through the dropout
    reader = feature_reader(sequential_cnn, ["conv_b", None])
    assert shares_every_variable(reader, sequential_cnn)
    outputs = reader.predict(images, verbose=0)
    for name in ("conv_b", "hidden"):
        np.testing.assert_allclose(outputs[name], own_output(sequential_cnn, name, images), rtol=1e-5, atol=1e-5)

    inputs = keras.Input((20, 20, 3), name="images")
    head = keras.layers.Dense(2, name="new_head")(sequential_cnn(inputs))
    wrapper = keras.Model(inputs, head, name="wrapper")
    assert feature_layer(wrapper) == "logits"
    nested = feature_reader(wrapper, ["sequential_cnn/conv_a"]).predict(images, verbose=0)
    np.testing.assert_allclose(nested["conv_a"], own_output(sequential_cnn, "conv_a", images), rtol=1e-5, atol=1e-5)


def test_bad_layers_are_named(sequential_cnn, tiny_model):
    with pytest.raises(ValueError, match="layer 5: layer numbers name ZFNet's layers"):
        feature_layer(sequential_cnn, 5)
    with pytest.raises(ValueError, match="no layer named 'conv_c'.*closest: 'conv_b', 'conv_a'"):
        feature_reader(sequential_cnn, ["conv_c"])
    with pytest.raises(ValueError, match="ZFNet layer number 1..7, got 8"):
        feature_layer(tiny_model, 8)


def test_a_name_used_in_a_nested_model_and_around_it_reads_both():
    """A wrapper with its own `conv` beside a nested model's `conv`: paths tell them apart, and
    the reader (the model's own graph, nested models kept whole) builds where a flat graph
    of the same layers could not (Keras wants unique names in one graph)."""
    keras.utils.set_random_seed(4)
    inner_input = keras.Input((8, 8, 3))
    inner = keras.Model(inner_input, keras.layers.Conv2D(4, 3, name="conv")(inner_input), name="inner")
    images = keras.Input((8, 8, 3), name="images")
    both = keras.layers.Add(name="sum")([keras.layers.Conv2D(4, 3, name="conv")(images), inner(images)])
    model = keras.Model(images, keras.layers.Dense(2, name="head")(keras.layers.Flatten(name="flat")(both)))
    reader = feature_reader(model, ["inner/conv", "conv", "sum"])
    assert list(reader.output) == ["inner/conv", "conv", "sum"] and shares_every_variable(reader, model)
    x = np.random.RandomState(5).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    outputs = reader.predict(x, verbose=0)
    np.testing.assert_allclose(outputs["inner/conv"], own_output(inner, "conv", x), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(outputs["conv"], own_output(model, "conv", x), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(outputs["sum"], outputs["conv"] + outputs["inner/conv"], rtol=1e-5, atol=1e-4)
