"""One test harness for the project's Keras layers, after Keras' own `run_layer_test`
(`keras.src.testing.TestCase.run_layer_test`): a layer is held to

- NumPy reference values (an independent formula, never the layer's own code);
- its declared shapes: `compute_output_shape` and a symbolic call on `keras.Input`s agree with
  what an eager call returns (shapes and dtypes);
- serialization: `get_config` -> `from_config` and `keras.layers.serialize` -> `deserialize`
  give the registered class with the same config and the same outputs;
- a `.keras` round trip of a functional model around it (the registered name resolves on load);
- gradients: for each float input in `gradient_inputs`, the analytic Jacobian (of every float
  output) equals central finite differences (`tf.test.compute_gradient`) and is finite.
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf


def _as_list(values) -> list:
    return list(values) if isinstance(values, (list, tuple)) else [values]


def _numpy(values) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in _as_list(values)]


def _float_outputs(outputs) -> list:
    return [o for o in _as_list(outputs) if o.dtype.is_floating]


def run_layer_test(
    layer_class: type,
    init_kwargs: dict,
    inputs: Sequence[np.ndarray],
    reference: Callable[..., np.ndarray | Sequence[np.ndarray]],
    *,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    gradient_inputs: Sequence[int] = (0,),
    gradient_delta: float = 1e-3,
    gradient_atol: float = 2e-3,
) -> list[np.ndarray]:
    """Runs every check above on `layer_class(**init_kwargs)` called on `inputs` (batched
    NumPy arrays); `reference(*inputs)` gives the expected outputs. Returns the outputs."""
    layer = layer_class(**init_kwargs)
    outputs = _numpy(layer(*inputs))

    # NumPy reference values.
    expected = [np.asarray(e) for e in _as_list(reference(*inputs))]
    assert len(outputs) == len(expected), f"{len(outputs)} outputs, the reference gives {len(expected)}"
    for index, (value, want) in enumerate(zip(outputs, expected)):
        assert value.shape == want.shape, f"output {index}: shape {value.shape}, reference {want.shape}"
        np.testing.assert_allclose(value, want, rtol=rtol, atol=atol, err_msg=f"output {index}")

    # Declared shapes and dtypes against the eager outputs.
    batchless = [(None, *x.shape[1:]) for x in inputs]
    declared = layer.compute_output_shape(*batchless)
    declared = [declared] if len(outputs) == 1 else list(declared)
    assert [tuple(s) for s in declared] == [(None, *o.shape[1:]) for o in outputs]
    symbolic_inputs = [keras.Input(x.shape[1:], dtype=str(x.dtype)) for x in inputs]
    symbolic = _as_list(layer_class(**init_kwargs)(*symbolic_inputs))
    assert [tuple(s.shape) for s in symbolic] == [(None, *o.shape[1:]) for o in outputs]
    assert [keras.backend.standardize_dtype(s.dtype) for s in symbolic] == [str(o.dtype) for o in outputs]

    # Serialization round trips.
    config = layer.get_config()
    clone = layer_class.from_config(config)
    assert clone.get_config() == config
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is layer_class and revived.get_config() == config
    for value, again in zip(outputs, _numpy(revived(*inputs))):
        np.testing.assert_array_equal(again, value)

    # A .keras file of a model around the layer.
    model = keras.Model(symbolic_inputs, symbolic)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "layer.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    for value, again in zip(_numpy(model(inputs)), _numpy(loaded(inputs))):
        np.testing.assert_array_equal(again, value)

    # Gradients against finite differences.
    for position in gradient_inputs:
        # One traced graph: finite differences call it twice per input element.
        @tf.function
        def function(x, position=position):
            arguments = [tf.constant(v) for v in inputs]
            arguments[position] = x
            return tf.concat([tf.reshape(o, [-1]) for o in _float_outputs(layer(*arguments))], 0)

        point = tf.constant(inputs[position], tf.float64 if inputs[position].dtype == np.float64 else tf.float32)
        theoretical, numerical = tf.test.compute_gradient(function, [point], delta=gradient_delta)
        assert np.all(np.isfinite(theoretical[0])), f"input {position}: a gradient is not finite"
        np.testing.assert_allclose(theoretical[0], numerical[0], atol=gradient_atol, err_msg=f"input {position}")
    return outputs
