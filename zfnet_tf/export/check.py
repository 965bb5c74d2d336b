"""Runs recorded requests against a SavedModel and compares the answers with the recorded ones.

`python -m zfnet_tf.export.check SAVED_MODEL_DIR CASES.tfrecord` is what the exporter runs in
a fresh process before a version is published: it loads the SavedModel with
`tf.saved_model.load` alone (no Keras model, no zfnet_tf model code), so what it checks is
what TF Serving will load. The cases are TF Serving `PredictionLog` records (a request and
the answer the Keras model gave). Prints one JSON line per signature; exits 1 on a mismatch.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

RTOL = 1e-4
# Absolute slack relative to each output's largest magnitude: projections have any scale.
ATOL_FRACTION = 1e-5
# Integer outputs rounded from float maps, and how many levels they may differ by: graph and
# eager runs can compute a map one ulp apart, which moves a value on a rounding edge.
QUANTIZED_OUTPUTS = {"maps": 1}


def read_cases(path: str) -> list[prediction_log_pb2.PredictionLog]:
    cases = []
    for record in tf.data.TFRecordDataset(path):
        cases.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return cases


def compare(name: str, actual: np.ndarray, expected: np.ndarray) -> str | None:
    """A sentence describing how `actual` differs from `expected`, or None if they agree."""
    if actual.dtype != expected.dtype:
        return f"output {name!r} has dtype {actual.dtype}, expected {expected.dtype}"
    if actual.shape != expected.shape:
        return f"output {name!r} has shape {actual.shape}, expected {expected.shape}"
    if np.issubdtype(expected.dtype, np.floating):
        scale = float(np.abs(expected).max()) if expected.size else 0.0
        atol = ATOL_FRACTION * scale + 1e-7
        if not np.allclose(actual, expected, rtol=RTOL, atol=atol):
            worst = float(np.abs(actual.astype(np.float64) - expected).max())
            return (
                f"output {name!r} differs from the Keras model: max abs difference {worst:.3g} "
                f"(allowed {atol:.3g} + {RTOL:g} x |expected|; largest |expected| {scale:.3g})"
            )
    elif name in QUANTIZED_OUTPUTS:
        worst = int(np.abs(actual.astype(np.int64) - expected).max()) if expected.size else 0
        if worst > QUANTIZED_OUTPUTS[name]:
            return f"output {name!r} differs from the Keras model by up to {worst} levels"
    elif not np.array_equal(actual, expected):
        mismatched = int(np.sum(actual != expected))
        return f"output {name!r} differs from the Keras model in {mismatched} of {expected.size} values"
    return None


def check_saved_model(saved_model_dir: str, cases_path: str) -> list[dict]:
    """Per signature: `{"signature", "ok", "problems"}`."""
    loaded = tf.saved_model.load(saved_model_dir)
    reports = []
    for case in read_cases(cases_path):
        request, response = case.predict_log.request, case.predict_log.response
        signature = request.model_spec.signature_name
        problems = []
        function = loaded.signatures.get(signature)
        if function is None:
            problems.append(f"signature {signature!r} is missing (has {sorted(loaded.signatures)})")
        else:
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            try:
                outputs = {k: v.numpy() for k, v in function(**inputs).items()}
            except Exception as error:  # anything the graph raises is a failed check
                problems.append(f"running it failed: {type(error).__name__}: {error}")
                outputs = {}
            if outputs:
                expected = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
                if sorted(outputs) != sorted(expected):
                    problems.append(f"outputs {sorted(outputs)}, expected {sorted(expected)}")
                for name in sorted(set(outputs) & set(expected)):
                    problem = compare(name, outputs[name], expected[name])
                    if problem:
                        problems.append(problem)
        reports.append({"signature": signature, "ok": not problems, "problems": problems})
    return reports


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m zfnet_tf.export.check SAVED_MODEL_DIR CASES.tfrecord", file=sys.stderr)
        return 2
    reports = check_saved_model(*argv)
    for report in reports:
        print(json.dumps(report))
    return 0 if reports and all(r["ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
