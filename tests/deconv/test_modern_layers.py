"""Modern layers under the deconvnet's rule (DESIGN §14): hand-worked cases, `register_exact`
and the refusals. The keras.applications families against the oracle are in
`test_deconvnet_oracle.py`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.deconv import register_exact
from zfnet_tf.deconv.modified_backprop import modified_gradient
from test_deconvnet_oracle import assert_close, check_against_oracle


def capped_model(cap_layer):
    """x [1, 4, 1] -> a capped rectifier -> 1x1 conv to two maps: map 0 = 2 - y, map 1 = y + 2."""
    inputs = keras.Input((1, 4, 1))
    capped = cap_layer(inputs)
    conv = keras.layers.Conv2D(2, 1, name="top")
    outputs = conv(capped)
    conv.kernel.assign(np.array([-1.0, 1.0], np.float32).reshape(1, 1, 1, 2))
    conv.bias.assign(np.array([2.0, 2.0], np.float32))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize(
    "cap_layer",
    [lambda: keras.layers.ReLU(max_value=6.0), lambda: keras.layers.Activation("relu6")],
    ids=["ReLU(max_value=6)", "relu6"],
)
def test_relu6_cap_by_hand(cap_layer):
    """x = (-1, 1, 3, 8): y = (0, 1, 3, 6). Map 0 (2 - y = 2, 1, -1, -4) sends back -map0 =
    (-2, -1, 1, 4); map 1 (y + 2 = 2, 3, 5, 8) sends back (2, 3, 5, 8). Through the cap:
    deconvnet keeps relu(s) where x < 6; guided also needs x > 0; gradient is s where 0 < x < 6."""
    model = capped_model(cap_layer())
    images = np.array([-1.0, 1.0, 3.0, 8.0], np.float32).reshape(1, 1, 4, 1)
    expected = {
        "deconvnet": [[0, 0, 1, 0], [2, 3, 5, 0]],
        "guided": [[0, 0, 1, 0], [0, 3, 5, 0]],
        "gradient": [[0, -1, 1, 0], [0, 3, 5, 0]],
    }
    deconvnet = zfnet_tf.Deconvnet(model)
    for rule, rows in expected.items():
        projection = deconvnet.project(images, "top", feature=[0, 1], mode="map", rule=rule)
        np.testing.assert_allclose(projection.reconstructions[0, :, 0, :, 0], rows, atol=1e-6, err_msg=rule)


def test_thresholded_relu_masks_above_its_threshold():
    """ReLU(threshold=2): x = (1, 3): only x = 3 > 2 passes under guided and gradient."""
    inputs = keras.Input((1, 2, 1))
    model = keras.Model(inputs, keras.layers.ReLU(threshold=2.0, name="top")(inputs))
    images = np.array([1.0, 3.0], np.float32).reshape(1, 1, 2, 1)
    # map mode seeds the layer's own output (0, 3).
    for rule in ("guided", "gradient"):
        projection = zfnet_tf.Deconvnet(model).project(images, "top", feature=0, mode="map", rule=rule)
        np.testing.assert_allclose(projection.reconstructions[0, 0, :, 0], [0, 3], atol=1e-6)


def gate_model():
    """x [1, 2, 1] times the gate mean(x) (a squeeze-and-excitation gate without its MLP)."""
    inputs = keras.Input((1, 2, 1))
    gate = keras.layers.Reshape((1, 1, 1))(keras.layers.GlobalAveragePooling2D()(inputs))
    return keras.Model(inputs, keras.layers.Multiply(name="gated")([inputs, gate]))


def test_squeeze_and_excitation_gate_by_hand():
    """out_i = x_i * m, m = mean(x); the product rule gives d/dx_j = u_j * m + sum_i(u_i x_i) / 2.
    x = (1, 3): m = 2, out = (2, 6). "map" (u = out): (4 + 10, 12 + 10) = (14, 22). "max"
    (u = (0, 6)): (0 + 9, 12 + 9) = (9, 21): the gate sends the signal over the whole map
    although the projection's window is one position."""
    model = gate_model()
    images = np.array([1.0, 3.0], np.float32).reshape(1, 1, 2, 1)
    deconvnet = zfnet_tf.Deconvnet(model)
    for rule in zfnet_tf.deconv.RULES:
        for mode, expected in (("map", [14, 22]), ("max", [9, 21])):
            projection = deconvnet.project(images, "gated", feature=0, mode=mode, rule=rule)
            np.testing.assert_allclose(projection.reconstructions[0, 0, :, 0], expected, rtol=1e-6)
    # The gate is context: the receptive field of a gated position is that position.
    field = zfnet_tf.receptive_field(model, "gated")
    assert (field.size, field.jump) == ((1, 1), (1, 1))
    assert field.box(0, 1) == (0, 1, 1, 2)


def test_layer_normalization_by_hand():
    """LayerNormalization over 3 channels (gamma 1, beta 0), one position: its backward is
    (u - mean(u) - y * mean(u * y)) / sigma, with y the normalized x and sigma its std."""
    inputs = keras.Input((1, 1, 3))
    model = keras.Model(inputs, keras.layers.LayerNormalization(epsilon=1e-3, name="norm")(inputs))
    x = np.array([1.0, 2.0, 6.0])
    sigma = np.sqrt(x.var() + 1e-3)
    y = (x - x.mean()) / sigma
    u = np.array([0.0, 0.0, y[2]])  # "map" mode seeds map 2 with its own value
    expected = (u - u.mean() - y * (u * y).mean()) / sigma
    for rule in zfnet_tf.deconv.RULES:
        projection = zfnet_tf.Deconvnet(model).project(
            x.reshape(1, 1, 1, 3).astype(np.float32), "norm", feature=2, mode="map", rule=rule
        )
        np.testing.assert_allclose(projection.reconstructions[0, 0, 0], expected, rtol=1e-5, atol=1e-7)


class Square(keras.layers.Layer):
    """x ** 2: no rectifier inside, unknown to the deconvnet."""

    def call(self, inputs):
        return inputs * inputs


class Blur(keras.layers.Layer):
    """A 3x3 box blur of each map: mixes neighbouring positions."""

    def call(self, inputs):
        channels = inputs.shape[-1]
        return tf.nn.depthwise_conv2d(inputs, tf.ones([3, 3, channels, 1]) / 9.0, [1, 1, 1, 1], "SAME")


def test_register_exact_takes_the_exact_backward():
    tf.keras.utils.set_random_seed(2)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv_a")(inputs)
    x = Square(name="square")(x)
    x = Blur(name="blur")(x)
    x = keras.layers.Conv2D(5, 3, activation="relu", name="conv_b")(x)
    model = keras.Model(inputs, x)
    images = np.random.RandomState(0).uniform(-1, 1, (2, 12, 12, 3)).astype(np.float32)
    deconvnet = zfnet_tf.Deconvnet(model)
    remedy = r"\. If it holds no ReLU, declare it with zfnet_tf\.deconv\.register_exact\({}\) to take its exact backward"
    with pytest.raises(ValueError, match=r"layer 'blur' \(Blur\) is not supported by the deconvnet: the deconvnet "
                       r"does not know it" + remedy.format("Blur")):
        deconvnet.project(images, "conv_b")
    assert register_exact(Blur) is Blur
    with pytest.raises(ValueError, match=r"layer 'square' \(Square\) is not supported" + ".*" + remedy.format("Square")):
        deconvnet.project(images, "conv_b")
    assert register_exact(Square, pointwise=True) is Square
    check_against_oracle(model, images, ["conv_b"])
    # Square keeps the windows (pointwise); Blur, not declared pointwise, makes them whole maps.
    assert zfnet_tf.receptive_field(model, "square").size == (3, 3)
    assert zfnet_tf.receptive_field(model, "blur").size == (12, 12)
    with pytest.raises(ValueError, match="register_exact expects a Keras layer class"):
        register_exact(Square())


def test_unknown_activation_is_refused_by_name():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(2, 3, activation=lambda t: t * 2.0, name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="top")(x))
    with pytest.raises(ValueError, match=r"layer 'conv' \(Conv2D\): activation '<lambda>' is not supported \(linear, relu, relu6, leaky_relu"):
        zfnet_tf.Deconvnet(model).project(np.zeros((1, 6, 6, 3), np.float32), "top")


def test_exact_activations_and_modern_layers_equal_modified_backprop():
    """Non-rectifier activations (fused and as layers), a leaky ReLU layer, grouped and
    separable convolutions, GroupNormalization, UnitNormalization, Dense on maps and the
    capped rectifiers together, against the oracle (each rule and mode at the top)."""
    tf.keras.utils.set_random_seed(5)
    inputs = keras.Input((16, 16, 4))
    x = keras.layers.Conv2D(8, 3, activation="gelu", name="gelu_conv")(inputs)
    x = keras.layers.Conv2D(8, 3, groups=2, strides=2, activation="relu6", name="grouped")(x)
    x = keras.layers.ReLU(negative_slope=0.2, name="leaky")(x)
    x = keras.layers.SeparableConv2D(6, 3, depth_multiplier=2, padding="same", activation="swish", name="separable")(x)
    x = keras.layers.GroupNormalization(groups=3, name="group_norm")(x)
    x = keras.layers.DepthwiseConv2D(3, activation="relu", name="depthwise")(x)
    x = keras.layers.ELU(name="elu")(x)
    x = keras.layers.UnitNormalization(name="unit_norm")(x)
    x = keras.layers.Dense(5, activation="tanh", name="pointwise_dense")(x)
    x = keras.layers.Activation("hard_silu", name="hard_silu")(x)
    x = keras.layers.ReLU(max_value=6.0, threshold=0.1, name="top")(x)
    model = keras.Model(inputs, x)
    images = np.random.RandomState(3).uniform(-2, 2, (2, 16, 16, 4)).astype(np.float32)
    check_against_oracle(model, images, ["top"])
    check_against_oracle(model, images, ["depthwise", "separable"], cases=[("guided", "max"), ("deconvnet", "map")])


def test_oracle_leaves_a_negative_slope_relu_exact():
    """The oracle's and the deconvnet's reading agree that ReLU(negative_slope) is no rectifier:
    under every rule its backward is the true one, so `deconvnet` equals `gradient` here."""
    inputs = keras.Input((1, 2, 1))
    model = keras.Model(inputs, keras.layers.ReLU(negative_slope=0.5, name="top")(inputs))
    images = np.array([-2.0, 4.0], np.float32).reshape(1, 1, 2, 1)
    seed = lambda top: top  # noqa: E731
    for rule in zfnet_tf.deconv.RULES:
        expected = modified_gradient(model, images, "top", seed, rule).numpy()
        np.testing.assert_allclose(expected[0, 0, :, 0], [-0.5, 4.0])
        projection = zfnet_tf.Deconvnet(model).project(images, "top", feature=0, mode="map", rule=rule)
        assert_close(projection.reconstructions, expected)
