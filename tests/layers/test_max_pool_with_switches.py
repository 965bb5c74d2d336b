import keras
import numpy as np
import pytest
import tensorflow as tf

from layer_harness import run_layer_test
from zfnet_tf.layers import MaxPoolWithSwitches


def reference_switches(x, pool_size, strides, padding):
    """Brute-force argmax per window (first maximum wins), as flat indices over the batch."""
    batch, height, width, channels = x.shape
    if padding == "same":
        out_h, out_w = -(-height // strides), -(-width // strides)
        pad_h = max((out_h - 1) * strides + pool_size - height, 0) // 2
        pad_w = max((out_w - 1) * strides + pool_size - width, 0) // 2
    else:
        out_h, out_w = (height - pool_size) // strides + 1, (width - pool_size) // strides + 1
        pad_h = pad_w = 0
    pooled = np.zeros((batch, out_h, out_w, channels), x.dtype)
    switches = np.zeros((batch, out_h, out_w, channels), np.int64)
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                for c in range(channels):
                    best, best_index = -np.inf, None
                    for dy in range(pool_size):
                        for dx in range(pool_size):
                            y, xx = i * strides - pad_h + dy, j * strides - pad_w + dx
                            if 0 <= y < height and 0 <= xx < width and x[b, y, xx, c] > best:
                                best = x[b, y, xx, c]
                                best_index = ((b * height + y) * width + xx) * channels + c
                    pooled[b, i, j, c], switches[b, i, j, c] = best, best_index
    return pooled, switches


@pytest.mark.parametrize(
    "padding,size,expected,gradient",
    [("same", 110, 55, False), ("same", 26, 13, False), ("valid", 13, 6, True), ("same", 7, 4, True)],
)
def test_layer_harness_at_fig3_sizes(padding, size, expected, gradient):
    """Fig. 3's pools (110 -> 55, 26 -> 13 "same"; 13 -> 6 "valid") against the brute-force
    argmax, with declared shapes (int64 switches), config / .keras round trips and the
    pooled maps' gradient against finite differences (layer_harness.run_layer_test)."""
    x = np.random.RandomState(size).normal(size=(1, size, size, 2)).astype(np.float32)
    pooled, switches = run_layer_test(
        MaxPoolWithSwitches, {"pool_size": 3, "strides": 2, "padding": padding, "name": "pool"}, [x],
        lambda x: reference_switches(x, 3, 2, padding), gradient_inputs=(0,) if gradient else (),
    )
    assert pooled.shape == switches.shape == (1, expected, expected, 2)
    assert switches.dtype == np.int64


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_pooled_equals_keras_and_switches_decode_to_argmax(padding):
    rng = np.random.RandomState(0)
    x = rng.normal(size=(2, 9, 8, 3)).astype(np.float32)
    x[0, :3, :3, 0] = 1.5  # ties: the first maximum in the window must win
    pooled, switches = MaxPoolWithSwitches(3, 2, padding)(x)
    keras_pooled = keras.layers.MaxPooling2D(3, 2, padding)(x)
    np.testing.assert_array_equal(pooled.numpy(), keras_pooled.numpy())
    ref_pooled, ref_switches = reference_switches(x, 3, 2, padding)
    np.testing.assert_array_equal(pooled.numpy(), ref_pooled)
    np.testing.assert_array_equal(switches.numpy(), ref_switches)
    np.testing.assert_array_equal(x.reshape(-1)[switches.numpy()], pooled.numpy())


def test_without_switches_is_xla_compilable_and_equal():
    x = np.random.RandomState(1).normal(size=(2, 13, 13, 4)).astype(np.float32)
    with_switches = MaxPoolWithSwitches(3, 2, "valid")
    without = MaxPoolWithSwitches(3, 2, "valid", return_switches=False)
    compiled = tf.function(without, jit_compile=True)
    np.testing.assert_array_equal(compiled(x).numpy(), with_switches(x)[0].numpy())
    pooled, switches = without.pool_with_switches(x)
    np.testing.assert_array_equal(pooled.numpy(), with_switches(x)[0].numpy())
    assert without.compute_output_shape((None, 13, 13, 4)) == (None, 6, 6, 4)


def test_without_switches_in_the_harness():
    x = np.random.RandomState(2).normal(size=(1, 10, 10, 2)).astype(np.float32)
    run_layer_test(
        MaxPoolWithSwitches, {"pool_size": 3, "strides": 2, "padding": "same", "return_switches": False}, [x],
        lambda x: reference_switches(x, 3, 2, "same")[0],
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding"):
        MaxPoolWithSwitches(padding="full")
    with pytest.raises(ValueError, match="rank 4"):
        MaxPoolWithSwitches()(np.zeros((3, 3, 1), np.float32))


@pytest.mark.parametrize("padding,size", [("same", 110), ("same", 26), ("valid", 13), ("same", 7), ("valid", 8)])
def test_switches_equal_tf_max_pool_with_argmax(padding, size):
    rng = np.random.RandomState(size)
    # ReLU-like input: many exact zeros, so ties are everywhere.
    x = np.maximum(rng.normal(size=(3, size, size, 5)), 0).astype(np.float32)
    pooled, switches = MaxPoolWithSwitches(3, 2, padding).pool_with_switches(x)
    tf_pooled, tf_switches = tf.nn.max_pool_with_argmax(x, 3, 2, padding.upper(), include_batch_in_index=True)
    np.testing.assert_array_equal(pooled.numpy(), tf_pooled.numpy())
    np.testing.assert_array_equal(switches.numpy(), tf_switches.numpy())


def test_switches_compile_with_xla():
    x = np.random.RandomState(4).normal(size=(2, 11, 11, 3)).astype(np.float32)
    layer = MaxPoolWithSwitches(3, 2, "same")
    compiled = tf.function(layer.pool_with_switches, jit_compile=True)
    for eager, xla in zip(layer.pool_with_switches(x), compiled(x)):
        np.testing.assert_array_equal(eager.numpy(), xla.numpy())
