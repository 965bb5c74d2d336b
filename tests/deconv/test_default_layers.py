"""Which layers a model projects by default: each stage's last map that can project its
strongest unit (a capped rectifier's strongest units sit at the cap, where every rule gives 0)."""

import keras
import numpy as np
import pytest

import zfnet_tf
from zfnet_tf.deconv.rules import output_cap


def _saturating_model() -> keras.Model:
    """conv (4 maps) -> ReLU6 -> 2x2 pool -> conv -> ReLU(max_value=1): every stage ends in a cap."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.ReLU(6.0, name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv2")(x)
    x = keras.layers.ReLU(max_value=1.0, name="relu2")(x)
    return keras.Model(inputs, x)


def test_output_cap_reads_relu6_in_every_spelling():
    inputs = keras.Input((4, 4, 1))
    assert output_cap(keras.layers.ReLU(6.0)) == 6.0
    assert output_cap(keras.layers.ReLU(max_value=2.5)) == 2.5
    assert output_cap(keras.layers.Activation("relu6")) == 6.0
    assert output_cap(keras.layers.Conv2D(1, 1, activation="relu6")) == 6.0
    assert output_cap(keras.layers.ReLU()) is None
    assert output_cap(keras.layers.Conv2D(1, 1, activation="relu")) is None
    assert output_cap(keras.layers.Activation("swish")) is None
    assert output_cap(keras.layers.BatchNormalization()) is None
    del inputs


def test_a_capped_stage_end_projects_to_zero_and_is_passed_over():
    model = _saturating_model()
    rng = np.random.RandomState(0)
    model.get_layer("conv1").set_weights([rng.uniform(0.01, 0.05, (3, 3, 3, 4)).astype("float32"), np.zeros(4, "float32")])
    model.get_layer("conv2").set_weights([rng.uniform(0.5, 1.0, (3, 3, 4, 4)).astype("float32"), np.zeros(4, "float32")])
    # Dim images with one bright pixel: relu1 saturates only around it, relu2 everywhere.
    images = rng.uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    images[:, 3, 4, :] = 100.0
    deconvnet = zfnet_tf.Deconvnet(model)
    # Saturated: the strongest unit of each capped layer is at its cap ...
    assert deconvnet.default_layers() == ("conv1", "conv2")
    for capped, cap in (("relu1", 6.0), ("relu2", 1.0)):
        out = keras.Model(model.input, model.get_layer(capped).output)(images).numpy()
        assert out.max() == cap
        for rule in ("deconvnet", "guided", "gradient"):
            # ... so its projection is 0 under every rule: nothing to show.
            assert not deconvnet.project(images, capped, rule=rule).reconstructions.any()
    for layer in deconvnet.default_layers():
        for rule in ("deconvnet", "guided", "gradient"):
            assert np.abs(deconvnet.project(images, layer, rule=rule).reconstructions).max() > 0


@pytest.mark.parametrize(
    "family, size, expected",
    [
        ("MobileNetV2", 96, ("block_1_expand_BN", "block_3_expand_BN", "block_6_expand_BN", "block_13_expand_BN", "Conv_1_bn")),
        ("MobileNet", 128, ("conv_pw_1_bn", "conv_pw_3_bn", "conv_pw_5_bn", "conv_pw_11_bn", "conv_pw_13_bn")),
    ],
)
def test_relu6_networks_project_the_normalized_map_before_the_cap(family, size, expected):
    model = getattr(keras.applications, family)(weights=None, input_shape=(size, size, 3))
    layers = zfnet_tf.Deconvnet(model).default_layers()
    assert layers == expected
    assert all(output_cap(model.get_layer(name)) is None for name in layers)
    # Each is the input of the capped rectifier that would have been the stage's end.
    for name in layers:
        consumers = [node.operation for node in model.get_layer(name)._outbound_nodes]
        assert any(output_cap(layer) == 6.0 for layer in consumers)
