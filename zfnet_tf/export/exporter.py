"""Versioned, verified, atomic SavedModel export (DESIGN §5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from zfnet_tf.data.datasets import resize_to_square
from zfnet_tf.deconv import Deconvnet
from zfnet_tf.export.signatures import (
    FEATURES_SIGNATURE,
    build_export_archive,
    feature_output_names,
    projection_signature_name,
)
from zfnet_tf.export.layout import CLASS_NAMES_FILE, IMAGE_TRANSFORM_FILE, next_version
from zfnet_tf.models import get_backbone

VERIFY_TIMEOUT_SECONDS = 1800
_RENAME_ATTEMPTS = 100


class ExportVerificationError(RuntimeError):
    """The written SavedModel did not reproduce the Keras model; no version was published."""


def class_names_of(model: keras.Model) -> list[str]:
    """`model.class_names`, else "class_0", "class_1", ..."""
    names = getattr(model, "class_names", None)
    if names:
        return [str(n) for n in names]
    return [f"class_{i}" for i in range(int(model.output.shape[-1]))]


def image_transform_of(model: keras.Model) -> dict[str, int]:
    """The model's evaluation transform as `IMAGE_TRANSFORM_FILE` holds it."""
    config = get_backbone(model).config
    return {"input_size": config.input_size, "resize_size": config.image_resize_size}


def export_model(
    model: keras.Model,
    base_path: str | os.PathLike,
    verify_timeout: float = VERIFY_TIMEOUT_SECONDS,
) -> str:
    """Exports `model` as the next version under `base_path` and returns that version's path.

    The SavedModel (signatures: see `build_export_archive`) is written to a temporary folder
    inside `base_path` (TF Serving ignores non-numeric folders), reloaded in a fresh Python
    process and run on recorded inputs; only if every signature reproduces the Keras model
    (logits, probabilities, each layer's projections, features, decoded bytes) is the folder
    renamed to `base_path/<N>`, N one more than the highest version there. An existing
    version is never overwritten. On any failure the temporary folder is removed and nothing
    is published.

    Raises:
        ExportVerificationError: the reloaded SavedModel disagreed with the model (the
            message names each signature and output that did).
        ValueError: `model` is not a ZFNet classifier, or `base_path` is a file.
    """
    base_path = os.fspath(base_path)
    get_backbone(model)  # a clear error for any other network
    if os.path.exists(base_path) and not os.path.isdir(base_path):
        raise ValueError(f"--base-path {base_path} exists and is not a folder")
    os.makedirs(base_path, exist_ok=True)

    staging = tempfile.mkdtemp(prefix=".export-", dir=base_path)
    try:
        # mkdtemp makes the folder private (0700); a version must be readable by a model
        # server running as another user (e.g. in a container).
        os.chmod(staging, 0o755)
        build_export_archive(model).write_out(staging, verbose=False)
        names_path = os.path.join(staging, CLASS_NAMES_FILE)
        os.makedirs(os.path.dirname(names_path), exist_ok=True)
        with open(names_path, "w", encoding="utf-8") as f:
            f.write("".join(f"{name}\n" for name in class_names_of(model)))
        with open(os.path.join(staging, IMAGE_TRANSFORM_FILE), "w", encoding="utf-8") as f:
            json.dump(image_transform_of(model), f)
        with tempfile.TemporaryDirectory(prefix="zfnet-export-check-") as scratch:
            cases = os.path.join(scratch, "cases.tfrecord")
            write_verification_cases(model, cases)
            verify_in_fresh_process(staging, cases, timeout=verify_timeout)
        return _publish(staging, base_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: str, base_path: str) -> str:
    """Renames `staging` to the next free version; retries if another export took it."""
    for _ in range(_RENAME_ATTEMPTS):
        target = os.path.join(base_path, str(next_version(base_path)))
        try:
            # rename(2) replaces only an *empty* target folder, and `next_version` counts
            # empty version folders too, so a published version is never replaced.
            os.rename(staging, target)
            return target
        except OSError:
            if not os.path.exists(target):
                raise
    raise RuntimeError(f"could not find a free version number under {base_path}")


# -- verification ----------------------------------------------------------------------------


def _reference_images(size: int, count: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype(np.float32)


def _encoded_reference_images(size: int, seed: int = 1) -> list[bytes]:
    """PNGs of other sizes than the model's, so the in-graph resize and crop are exercised."""
    rng = np.random.default_rng(seed)
    shapes = [(size + size // 2, size), (size, size + 7)]
    return [
        tf.io.encode_png(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).numpy() for h, w in shapes
    ]


def reference_cases(model: keras.Model) -> list[tuple[str, dict, dict]]:
    """`(signature, inputs, expected outputs)` for each signature, from the Keras model and
    `Deconvnet` (not from the export's own graphs)."""
    backbone = get_backbone(model)
    size = backbone.config.input_size
    images = _reference_images(size)

    def classify(batch):
        logits = np.asarray(model(batch, training=False), dtype=np.float32)
        return {"logits": logits, "probabilities": np.asarray(tf.nn.softmax(logits))}

    cases = [("serving_default", {"images": images}, classify(images))]

    encoded = _encoded_reference_images(size)
    resize = backbone.config.image_resize_size
    decoded = np.stack(
        [resize_to_square(tf.io.decode_png(e, channels=3), size, resize).numpy() for e in encoded]
    )
    cases.append(("classify_bytes", {"image_bytes": np.array(encoded, dtype=object)}, classify(decoded)))

    deconvnet = Deconvnet(model)
    for layer in backbone.config.conv_layers:
        num_maps = deconvnet.num_features(layer)
        # -1 (each image's strongest map), the first map and the last, one per image. The
        # whole batch goes through at once, as in the signature: a batch of another size
        # may round differently, flip a near-tied pooling switch and so move part of a
        # projection.
        features = np.array([-1, 0, num_maps - 1], np.int32)[: len(images)]
        projected = deconvnet.projection_function(layer, "max")(
            tf.constant(images), tf.constant(features[:, None])
        )
        expected = {key: value.numpy()[:, 0] for key, value in projected.items()}
        cases.append((projection_signature_name(layer), {"images": images, "feature": features}, expected))

    extractor = backbone.feature_extractor(feature_output_names(model))
    features = {k: np.asarray(v, np.float32) for k, v in extractor(images, training=False).items()}
    cases.append((FEATURES_SIGNATURE, {"images": images}, features))
    return cases


def write_verification_cases(model: keras.Model, path: str) -> None:
    """Writes `reference_cases` as TF Serving `PredictionLog` records (a TFRecord file)."""
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs, outputs in reference_cases(model):
            log = prediction_log_pb2.PredictionLog()
            request = log.predict_log.request
            request.model_spec.signature_name = signature
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            for name, value in outputs.items():
                log.predict_log.response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
            writer.write(log.SerializeToString())


def verify_in_fresh_process(saved_model_dir: str, cases_path: str, timeout: float) -> None:
    """Runs `zfnet_tf.export.check` in a new Python process; raises if any signature fails."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "zfnet_tf.export.check", saved_model_dir, cases_path],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise ExportVerificationError(
            f"verifying the export took longer than {timeout:g} s; nothing was published"
        ) from None
    reports = []
    for line in result.stdout.splitlines():
        try:
            reports.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # stray prints of TensorFlow are not reports
    failed = [r for r in reports if not r.get("ok")]
    if result.returncode == 0 and reports and not failed:
        return
    if failed:
        details = "; ".join(f"{r['signature']}: {', '.join(r['problems'])}" for r in failed)
    else:
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        details = f"the check process exited with code {result.returncode}:\n{tail}"
    raise ExportVerificationError(
        f"the reloaded SavedModel does not reproduce the Keras model, nothing was published: {details}"
    )
