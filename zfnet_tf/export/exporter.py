"""Versioned, verified, atomic SavedModel export (docs/serving.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from zfnet_tf.data import resize_to_square
from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS, check_max_pixels
from zfnet_tf.deconv import Deconvnet, neutral_color
from zfnet_tf.export.signatures import (
    CLASS_NAMES_SIGNATURE,
    DECODE_SIGNATURE,
    FEATURES_SIGNATURE,
    OCCLUSION_SIGNATURE,
    build_export_archive,
    class_names_of,
    classifier_outputs,
    feature_output_names,
    maps_signature_name,
    occlusion_output_name,
    projectable_layers,
    projection_signature_name,
    thumbnail_factor,
)
from zfnet_tf.export.layout import CLASS_NAMES_FILE, IMAGE_TRANSFORM_FILE, next_version
from zfnet_tf.models import image_transform, input_size

VERIFY_TIMEOUT_SECONDS = 1800
_RENAME_ATTEMPTS = 100


class ExportVerificationError(RuntimeError):
    """The written SavedModel did not reproduce the Keras model; no version was published."""


def image_transform_of(model: keras.Model, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> dict[str, int]:
    """The model's evaluation transform as `IMAGE_TRANSFORM_FILE` holds it, with the largest
    image the signatures decode (`max_image_pixels`, width x height)."""
    size, resize_size = image_transform(model)
    return {"input_size": size, "resize_size": resize_size, "max_image_pixels": max_image_pixels}


def export_model(
    model: keras.Model,
    base_path: str | os.PathLike,
    layers: Sequence[int | str] | None = None,
    verify_timeout: float = VERIFY_TIMEOUT_SECONDS,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> str:
    """Exports `model` as the next version under `base_path` and returns that version's path.

    The SavedModel (signatures: see `build_export_archive`) is written to a temporary folder
    inside `base_path` (TF Serving ignores non-numeric folders), reloaded in a fresh Python
    process and run on recorded inputs; only if every signature reproduces the Keras model
    (logits, probabilities, each layer's projections, features, decoded bytes) is the folder
    renamed to `base_path/<N>`, N one more than the highest version there. An existing
    version is never overwritten. On any failure the temporary folder is removed and nothing
    is published.

    Args:
        model: a ZFNet classifier, or any classifier built from the deconvnet's layers.
        base_path: the model's folder, e.g. `saved_models/NAME`.
        layers: the layers that get a `project_*` signature (names, or ZFNet's 1-5);
            default: `projectable_layers(model)`.
        max_image_pixels: `classify_bytes` and `decode_bytes` refuse an image larger than
            this (width x height by its header) before decoding it (INVALID_ARGUMENT); the
            limit is recorded in `IMAGE_TRANSFORM_FILE` (and so in the served metadata).

    Raises:
        ExportVerificationError: the reloaded SavedModel disagreed with the model (the
            message names each signature and output that did).
        ValueError: the model or a layer cannot be exported (named), or `base_path` is a file.
    """
    base_path = os.fspath(base_path)
    check_max_pixels(max_image_pixels)
    # A clear error for a layer the model lacks, before anything is written.
    layers = tuple(layer.layer for layer in projectable_layers(model, layers))
    if os.path.exists(base_path) and not os.path.isdir(base_path):
        raise ValueError(f"--base-path {base_path} exists and is not a folder")
    os.makedirs(base_path, exist_ok=True)

    staging = tempfile.mkdtemp(prefix=".export-", dir=base_path)
    try:
        # mkdtemp makes the folder private (0700); a version must be readable by a model
        # server running as another user (e.g. in a container).
        os.chmod(staging, 0o755)
        write_version_files(model, staging, layers, max_image_pixels)
        with tempfile.TemporaryDirectory(prefix="zfnet-export-check-") as scratch:
            cases = os.path.join(scratch, "cases.tfrecord")
            write_verification_cases(model, cases, layers)
            verify_in_fresh_process(staging, cases, timeout=verify_timeout)
        return _publish(staging, base_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_version_files(
    model: keras.Model,
    folder: str | os.PathLike,
    layers: Sequence[int | str] | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> None:
    """Writes into `folder` what a version holds: the SavedModel of `build_export_archive` and
    `assets.extra`'s class names and image transform. Not verified and not published: that is
    `export_model`'s work (it calls this on its temporary folder)."""
    folder = os.fspath(folder)
    build_export_archive(model, layers, max_image_pixels).write_out(folder, verbose=False)
    names_path = os.path.join(folder, CLASS_NAMES_FILE)
    os.makedirs(os.path.dirname(names_path), exist_ok=True)
    with open(names_path, "w", encoding="utf-8") as f:
        f.write("".join(f"{name}\n" for name in class_names_of(model)))
    with open(os.path.join(folder, IMAGE_TRANSFORM_FILE), "w", encoding="utf-8") as f:
        json.dump(image_transform_of(model, max_image_pixels), f)


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


def reference_thumbnails(top: np.ndarray) -> dict[str, np.ndarray]:
    """NumPy's `map_thumbnails`: block maxima (windows past the edge hold fewer pixels), each
    map scaled by its own maximum to 0-255 levels."""
    top = np.asarray(top, np.float32)
    count, height, width, channels = top.shape
    maximum = top.max(axis=(1, 2))
    factor = thumbnail_factor(height, width)
    rows, cols = -(-height // factor), -(-width // factor)
    padded = np.full((count, rows * factor, cols * factor, channels), -np.inf, np.float32)
    padded[:, :height, :width] = top
    pooled = padded.reshape(count, rows, factor, cols, factor, channels).max(axis=(2, 4))
    scale = np.maximum(maximum, np.float32(0))[:, None, None, :]
    ratio = np.where(scale > 0, pooled / np.where(scale > 0, scale, np.float32(1)), np.float32(0))
    levels = np.round(np.clip(ratio, np.float32(0), np.float32(1)) * np.float32(255))
    return {"maps": levels.astype(np.int32), "maximum": maximum}


def reference_occlusion(
    model: keras.Model,
    images: np.ndarray,
    tops: np.ndarray,
    lefts: np.ndarray,
    patch_sizes: np.ndarray,
    layers: Sequence[int | str] | None = None,
) -> dict[str, np.ndarray]:
    """The `occlusion` signature's outputs from occluded copies made in NumPy, run through the
    Keras model (classes) and the layers' outputs (`Deconvnet.activation_function`)."""
    projectable = projectable_layers(model, layers)
    deconvnet = Deconvnet(model)
    maps = deconvnet.activation_function([layer.layer for layer in projectable])
    fill = neutral_color(model)
    outputs = {"probabilities": []}
    outputs.update({occlusion_output_name(layer): [] for layer in projectable})
    for image, image_tops, image_lefts, patch in zip(images, tops, lefts, patch_sizes):
        copies = np.repeat(image[None], len(image_tops), axis=0)
        for copy, top, left in zip(copies, image_tops, image_lefts):
            copy[max(top, 0) : max(top + patch, 0), max(left, 0) : max(left + patch, 0)] = fill
        outputs["probabilities"].append(classifier_outputs(model, copies)["probabilities"].numpy())
        answer = maps(tf.constant(copies))
        for layer in projectable:
            top_maps = np.asarray(answer[deconvnet.layer_name(layer.layer)], np.float32)
            totals = top_maps.sum(axis=(1, 2)) if top_maps.ndim == 4 else top_maps
            outputs[occlusion_output_name(layer)].append(totals)
    return {name: np.stack(values) for name, values in outputs.items()}


def reference_cases(model: keras.Model, layers: Sequence[int | str] | None = None) -> list[tuple[str, dict, dict]]:
    """`(signature, inputs, expected outputs)` for each signature, from the Keras model,
    `Deconvnet`, `ReceptiveField` and NumPy (not from the export's own graphs)."""
    size = input_size(model)
    images = _reference_images(size)
    projectable = projectable_layers(model, layers)

    def classify(batch):
        return {name: value.numpy() for name, value in classifier_outputs(model, batch).items()}

    cases = [("serving_default", {"images": images}, classify(images))]

    encoded = _encoded_reference_images(size)
    resize = image_transform(model)[1]
    decoded = np.stack(
        [resize_to_square(tf.io.decode_png(e, channels=3), size, resize).numpy() for e in encoded]
    )
    cases.append(("classify_bytes", {"image_bytes": np.array(encoded, dtype=object)}, classify(decoded)))

    deconvnet = Deconvnet(model)
    projections = {}
    for mode in ("max", "map"):
        for layer in projectable:
            num_maps = deconvnet.num_features(layer.layer)
            # -1 (each image's strongest map), the first map and the last, one per image. The
            # whole batch goes through at once, as in the signature: a batch of another size
            # may round differently, flip a near-tied pooling switch and so move part of a
            # projection.
            features = np.array([-1, 0, num_maps - 1], np.int32)[: len(images)]
            projected = deconvnet.projection_function(layer.layer, mode, features_per_image=1)(
                tf.constant(images), tf.constant(features[:, None])
            )
            expected = {key: value.numpy()[:, 0] for key, value in projected.items()}
            rows, cols = expected["location"][:, 0], expected["location"][:, 1]
            box = deconvnet.receptive_field(layer.layer).box(rows, cols)
            expected["box"] = np.stack(box, axis=-1).astype(np.int32)
            name = projection_signature_name(layer, mode)
            projections[name] = (name, {"images": images, "feature": features}, expected)

    names = feature_output_names(model, layers)
    activations = deconvnet.activation_function(list(names.values()))(tf.constant(images))
    by_layer = {deconvnet.layer_name(layer): name for name, layer in names.items()}
    features = {by_layer[k]: np.asarray(v, np.float32) for k, v in activations.items()}

    class_names = class_names_of(model)
    indices = np.array(sorted({0, len(class_names) - 1, len(class_names) // 2}), np.int32)
    patch = max(1, size // 4)
    tops = np.array([[0, size // 2, size - patch], [-patch // 2, 0, size - 1]], np.int32)
    lefts = np.array([[0, size - patch, size // 3], [size // 2, -1, 0]], np.int32)
    patch_sizes = np.array([patch, size // 3], np.int32)
    occlusion_inputs = {"images": images[:2], "top": tops, "left": lefts, "patch_size": patch_sizes}

    cases += [projections[projection_signature_name(layer)] for layer in projectable]
    cases.append((FEATURES_SIGNATURE, {"images": images}, features))
    cases.append((DECODE_SIGNATURE, {"image_bytes": np.array(encoded, dtype=object)},
                  {"pixels": np.round(decoded).astype(np.int32)}))
    cases.append((CLASS_NAMES_SIGNATURE, {"class_index": indices},
                  {"class_name": np.array([class_names[i].encode("utf-8") for i in indices], dtype=object)}))
    cases += [
        (maps_signature_name(layer), {"images": images}, reference_thumbnails(features[layer.top_name]))
        for layer in projectable
    ]
    cases += [projections[projection_signature_name(layer, "map")] for layer in projectable]
    cases.append((OCCLUSION_SIGNATURE, occlusion_inputs,
                  reference_occlusion(model, images[:2], tops, lefts, patch_sizes, layers)))
    return cases


def write_verification_cases(model: keras.Model, path: str, layers: Sequence[int | str] | None = None) -> None:
    """Writes `reference_cases` as TF Serving `PredictionLog` records (a TFRecord file)."""
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs, outputs in reference_cases(model, layers):
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
