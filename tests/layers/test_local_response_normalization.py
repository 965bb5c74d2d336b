import numpy as np
import pytest

from layer_harness import run_layer_test
from zfnet_tf.layers import LocalResponseNormalization


def reference_lrn(x, depth_radius, bias, alpha, beta):
    """Krizhevsky et al. 2012, Sec. 3.3, written out channel by channel."""
    out = np.empty_like(x, dtype=np.float64)
    channels = x.shape[-1]
    for c in range(channels):
        lo, hi = max(0, c - depth_radius), min(channels, c + depth_radius + 1)
        out[..., c] = x[..., c] / (bias + alpha * np.sum(x[..., lo:hi].astype(np.float64) ** 2, axis=-1)) ** beta
    return out


@pytest.mark.parametrize(
    "kwargs,arguments",
    [({}, (2, 2.0, 1e-4, 0.75)), ({"depth_radius": 1, "bias": 1.0, "alpha": 1e-2, "beta": 0.5}, (1, 1.0, 1e-2, 0.5))],
)
def test_layer_harness(kwargs, arguments):
    """Reference values (the defaults are AlexNet's), declared shapes, config / .keras round
    trips and the gradient against finite differences (layer_harness.run_layer_test)."""
    x = (np.random.RandomState(0).normal(size=(1, 3, 4, 9)) * 30).astype(np.float32)
    run_layer_test(
        LocalResponseNormalization, {**kwargs, "name": "norm1"}, [x], lambda x: reference_lrn(x, *arguments),
        gradient_delta=1e-2, gradient_atol=1e-3,
    )
