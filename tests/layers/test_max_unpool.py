import numpy as np
import pytest
import tensorflow as tf

from layer_harness import run_layer_test
from zfnet_tf.layers import MaxPoolWithSwitches, MaxUnpool


def reference_unpool(values, switches, output_shape):
    """Each value added at its flat switch (NumPy): the definition of unpooling."""
    out = np.zeros(int(np.prod(output_shape)), np.float64)
    np.add.at(out, switches.reshape(-1), values.reshape(-1))
    return out.reshape(output_shape)


def reference_unpool_at_tf_argmax(values, pool_input, padding):
    """`reference_unpool` at the switches TensorFlow's own kernel finds
    (`tf.nn.max_pool_with_argmax`, 3x3 stride 2)."""
    _, switches = tf.nn.max_pool_with_argmax(pool_input, 3, 2, padding.upper(), include_batch_in_index=True)
    return reference_unpool(values, switches.numpy(), pool_input.shape)


@pytest.mark.parametrize("padding,size,gradient", [("same", 110, False), ("valid", 13, True), ("same", 9, True)])
def test_layer_harness_at_fig3_sizes(padding, size, gradient):
    """Unpooling Fig. 3's pools (55 -> 110 "same", 6 -> 13 "valid") against NumPy, with
    declared shapes, config / .keras round trips and the gradient in the values against
    finite differences (layer_harness.run_layer_test)."""
    rng = np.random.RandomState(size)
    # ReLU-like pooling input: many exact zeros, so windows tie.
    x = np.maximum(rng.normal(size=(1, size, size, 2)), 0).astype(np.float32)
    pooled_shape = MaxPoolWithSwitches(3, 2, padding).compute_output_shape(x.shape)[0]
    values = rng.normal(size=pooled_shape).astype(np.float32)
    (unpooled,) = run_layer_test(
        MaxUnpool, {"pool_size": 3, "strides": 2, "padding": padding, "name": "unpool"}, [values, x],
        lambda values, x: reference_unpool_at_tf_argmax(values, x, padding),
        gradient_inputs=(0,) if gradient else (),
    )
    assert unpooled.shape == x.shape


def test_overlapping_windows_that_share_a_position_add():
    # One large value at (2, 2) is the maximum of all four overlapping 3x3/2 windows.
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 2, 2, 0] = 10.0
    _, switches = MaxPoolWithSwitches(3, 2, "valid")(x)
    assert np.all(switches.numpy() == 2 * 5 + 2)
    values = np.array([1.0, 2.0, 3.0, 4.0], np.float32).reshape(1, 2, 2, 1)
    unpooled = MaxUnpool(3, 2, "valid")(values, x).numpy()
    assert unpooled[0, 2, 2, 0] == 10.0  # 1 + 2 + 3 + 4, not the last write
    assert np.count_nonzero(unpooled) == 1


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("pool_size,strides", [(3, 2), (2, 2), ((3, 2), (2, 1))])
def test_places_values_at_the_switch_layers_switches_and_is_the_max_pool_gradient(padding, pool_size, strides):
    """The two halves agree: unpooling through the pooling's input puts each value where
    `MaxPoolWithSwitches` recorded the maximum (ReLU-like ties at 0 included), and that is
    max-pooling's gradient."""
    rng = np.random.RandomState(1)
    x = tf.constant(np.maximum(rng.normal(size=(2, 9, 9, 3)), 0).astype(np.float32))
    if isinstance(pool_size, int):
        pooled, switches = MaxPoolWithSwitches(pool_size, strides, padding)(x)
        expected_switches = switches.numpy()
    else:
        pooled, expected_switches = tf.nn.max_pool2d(x, pool_size, strides, padding.upper()), None
    upstream = rng.normal(size=pooled.shape).astype(np.float32)
    unpooled = MaxUnpool(pool_size, strides, padding)(upstream, x).numpy()
    if expected_switches is not None:
        np.testing.assert_allclose(unpooled, reference_unpool(upstream, expected_switches, x.shape), atol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.max_pool2d(x, pool_size, strides, padding.upper())
    gradient = tape.gradient(y, x, output_gradients=upstream).numpy()
    np.testing.assert_allclose(unpooled, gradient, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding must be one of"):
        MaxUnpool(3, 2, "full")
    with pytest.raises(ValueError, match="pool_size and strides must be >= 1"):
        MaxUnpool(0, 2)
