import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from layer_harness import run_layer_test
from zfnet_tf.layers import LocalContrastNormalization
from zfnet_tf.layers.local_contrast_normalization import gaussian_window


def reference_lcn(x, kernel_size, sigma, epsilon):
    """The formula of docs/design.md in NumPy/SciPy: window summed over space and all maps, cut at the borders."""
    x = x.astype(np.float64)
    g = gaussian_window(kernel_size, sigma)
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        mass = ndimage.correlate(np.ones(x.shape[1:3]), g, mode="constant", cval=0.0)

        def window_mean(values):  # values [H, W, C] -> [H, W, 1]
            per_map = np.stack(
                [ndimage.correlate(values[..., c], g, mode="constant", cval=0.0) for c in range(values.shape[-1])],
                axis=-1,
            )
            return per_map.mean(axis=-1, keepdims=True) / mass[..., None]

        v = x[b] - window_mean(x[b])
        sigma_map = np.sqrt(np.maximum(window_mean(v**2), epsilon**2))
        c = sigma_map.mean()
        out[b] = v / np.maximum(c, sigma_map)
    return out


@pytest.mark.parametrize("kernel_size,sigma,epsilon", [(9, 2.0, 1e-4), (3, 0.7, 1e-2)])
def test_layer_harness(kernel_size, sigma, epsilon):
    """Reference values, declared shapes, config / .keras round trips and the gradient
    against finite differences (layer_harness.run_layer_test)."""
    rng = np.random.RandomState(kernel_size)
    x = (rng.normal(size=(1, 6, 7, 3)) * rng.uniform(0.5, 20, size=3) + rng.uniform(-5, 5, 3)).astype(np.float32)
    run_layer_test(
        LocalContrastNormalization,
        {"kernel_size": kernel_size, "sigma": sigma, "epsilon": epsilon, "name": "norm"},
        [x],
        lambda x: reference_lcn(x, kernel_size, sigma, epsilon),
        gradient_delta=1e-2,
        gradient_atol=5e-3,
    )


def test_fig3_shapes():
    layer = LocalContrastNormalization()
    for shape in ((None, 55, 55, 96), (None, 13, 13, 256)):
        assert layer.compute_output_shape(shape) == shape


@pytest.mark.parametrize("kernel_size,sigma", [(9, 2.0), (5, 1.0), (3, 0.7)])
def test_matches_numpy_reference(kernel_size, sigma):
    rng = np.random.RandomState(kernel_size)
    # Per-map offsets and scales so that both the subtractive and the divisive steps matter.
    x = (rng.normal(size=(2, 11, 13, 5)) * rng.uniform(0.5, 20, size=5) + rng.uniform(-5, 5, 5)).astype(np.float32)
    layer = LocalContrastNormalization(kernel_size, sigma)
    expected = reference_lcn(x, kernel_size, sigma, layer.epsilon)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_divisive_step_uses_mean_sigma_where_contrast_is_low():
    # A flat low-contrast region next to a high-contrast one: where local sigma < mean sigma,
    # the division is by the mean (c), so the low-contrast region is not blown up.
    x = np.zeros((1, 16, 16, 1), np.float32)
    x[0, :, 8:, 0] = np.tile([100.0, -100.0], 4)
    x[0, :, :8, 0] = np.tile([0.1, -0.1], 4)
    y = LocalContrastNormalization(5, 1.0)(x).numpy()
    expected = reference_lcn(x, 5, 1.0, 1e-4)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(y[0, :, :4]).max() < 0.01 * np.abs(y[0, :, 12:]).max()


def test_gradient_of_a_flat_input_is_finite():
    """Flat input: sigma is 0 everywhere, the division falls back to epsilon."""
    layer = LocalContrastNormalization(3, 1.0)
    flat = tf.zeros((1, 6, 6, 2))
    weights = tf.constant(np.arange(72, dtype=np.float32).reshape(1, 6, 6, 2))
    with tf.GradientTape() as tape:
        tape.watch(flat)
        total = tf.reduce_sum(layer(flat) * weights)
    assert np.all(np.isfinite(tape.gradient(total, flat).numpy())), "flat input must not give NaN gradients"


@pytest.mark.parametrize("kwargs,message", [({"kernel_size": 4}, "kernel_size"), ({"sigma": 0}, "sigma")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalContrastNormalization(**kwargs)
