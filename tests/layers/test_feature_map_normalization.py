"""What LCN and LRN share (`FeatureMapNormalization`): float32 arithmetic under mixed precision,
the input's dtype and shape out."""

import numpy as np
import pytest

from zfnet_tf.layers import LocalContrastNormalization, LocalResponseNormalization


@pytest.mark.parametrize("layer_class", [LocalContrastNormalization, LocalResponseNormalization])
def test_mixed_precision_computes_in_float32_and_returns_float16(layer_class):
    # Activations of a few hundred, whose squares (up to ~1e6) overflow float16 (max 65504).
    x = (np.random.RandomState(0).normal(size=(2, 7, 7, 6)) * 300).astype(np.float16)
    assert float(np.abs(x).max()) ** 2 > float(np.finfo(np.float16).max)
    reference = layer_class(dtype="float32")(x.astype(np.float32)).numpy()
    mixed = layer_class(dtype="mixed_float16")
    outputs = mixed(x)
    assert outputs.dtype == "float16" and tuple(outputs.shape) == x.shape
    assert mixed.compute_output_shape(x.shape) == x.shape
    values = outputs.numpy().astype(np.float32)
    assert np.isfinite(values).all()
    np.testing.assert_allclose(values, reference, rtol=2e-3, atol=2e-3 * np.abs(reference).max())
