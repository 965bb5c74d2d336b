"""One loaded version of a SavedModel: its signatures, checked inputs, and outputs."""

from __future__ import annotations

import json
import os
from typing import Iterable, Mapping

import numpy as np
import tensorflow as tf
from google.protobuf import message
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from zfnet_tf.export.layout import CLASS_NAMES_FILE, IMAGE_TRANSFORM_FILE
from zfnet_tf.serving.errors import (
    ServingError,
    invalid_argument,
    status_code_from_number,
    tensorflow_error_message,
)

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"
_INIT_OP_SIGNATURE = "__saved_model_init_op"


def read_signature_defs(path: str) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The SignatureDefs of the `serve` meta graph in `path/saved_model.pb`, by name."""
    proto_path = os.path.join(path, "saved_model.pb")
    if not os.path.isfile(proto_path):
        raise ValueError(f"{proto_path} does not exist (not a SavedModel folder)")
    saved_model = saved_model_pb2.SavedModel()
    with open(proto_path, "rb") as f:
        try:
            saved_model.ParseFromString(f.read())
        except message.DecodeError as error:
            raise ValueError(f"{proto_path} is not a SavedModel: {error}") from None
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f"{proto_path} has no meta graph tagged {SERVE_TAG!r}")


def read_class_names(path: str) -> list[str] | None:
    names_path = os.path.join(path, CLASS_NAMES_FILE)
    if not os.path.isfile(names_path):
        return None
    with open(names_path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def read_image_transform(path: str) -> dict | None:
    transform_path = os.path.join(path, IMAGE_TRANSFORM_FILE)
    if not os.path.isfile(transform_path):
        return None
    with open(transform_path, encoding="utf-8") as f:
        return json.load(f)


def describe_shape(info: meta_graph_pb2.TensorInfo) -> str:
    if info.tensor_shape.unknown_rank:
        return "[any shape]"
    return "[" + ", ".join("N" if d.size < 0 else str(d.size) for d in info.tensor_shape.dim) + "]"


class Servable:
    """A SavedModel version loaded with `tf.saved_model.load`, answering Predict requests.

    Inputs are checked against the signature's TensorInfo (names, dtype, rank, fixed
    dimensions, one batch size across batched inputs, not empty, at most `max_batch_size`)
    before anything runs, so a bad request gets a message naming the input and the problem;
    errors the graph raises (undecodable image bytes, a feature out of range) come back as
    their TensorFlow status with the op noise stripped.
    """

    def __init__(self, name: str, version: int, path: str, max_batch_size: int):
        self.name = name
        self.version = version
        self.path = path
        self.max_batch_size = max_batch_size
        self.signature_defs = read_signature_defs(path)
        self._loaded = tf.saved_model.load(path, tags=[SERVE_TAG])
        self._functions = {
            key: self._loaded.signatures[key]
            for key in self.signature_defs
            if key in self._loaded.signatures
        }
        self.class_names = read_class_names(path)
        self.image_transform = read_image_transform(path)

    def signature_def_map(self) -> get_model_metadata_pb2.SignatureDefMap:
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in self.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature)
        return signature_map

    def signature(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self._functions:
            available = ", ".join(sorted(self._functions))
            raise invalid_argument(
                f'Serving signature name: "{key}" not found in signature def '
                f"(model {self.name} version {self.version} has: {available})"
            )
        return self.signature_defs[key]

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Iterable[str] = (),
    ) -> dict[str, np.ndarray]:
        key = signature_name or DEFAULT_SIGNATURE
        signature = self.signature(key)
        self.check_inputs(key, signature, inputs)
        wanted = list(output_filter)
        unknown = [name for name in wanted if name not in signature.outputs]
        if unknown:
            raise invalid_argument(
                f"output_filter names {unknown}, which signature {key} does not output "
                f"(it outputs {sorted(signature.outputs)})"
            )
        tensors = {name: tf.constant(value) for name, value in inputs.items()}
        try:
            outputs = self._functions[key](**tensors)
        except tf.errors.OpError as error:
            raise ServingError(
                status_code_from_number(error.error_code),
                f"{key}: {tensorflow_error_message(error.message)}",
            ) from None
        except (TypeError, ValueError) as error:  # inputs the function could not bind
            raise invalid_argument(f"{key}: {error}") from None
        names = wanted or list(outputs)
        return {name: outputs[name].numpy() for name in names}

    def check_inputs(
        self, key: str, signature: meta_graph_pb2.SignatureDef, inputs: Mapping[str, np.ndarray]
    ) -> None:
        expected = set(signature.inputs)
        missing = sorted(expected - set(inputs))
        extra = sorted(set(inputs) - expected)
        if missing or extra:
            parts = [f"signature {key} takes input(s) {', '.join(sorted(expected))}"]
            if missing:
                parts.append(f"missing: {', '.join(missing)}")
            if extra:
                parts.append(f"not in the signature: {', '.join(extra)}")
            raise invalid_argument("; ".join(parts))
        batch_sizes = {}
        for name in sorted(expected):
            info = signature.inputs[name]
            value = inputs[name]
            want = tf.dtypes.as_dtype(info.dtype)
            if want == tf.string:
                ok = value.dtype.kind in "OS"
            else:
                ok = value.dtype == want.as_numpy_dtype
            if not ok:
                raise invalid_argument(
                    f"input {name!r} of {key} must be {want.name}, got {value.dtype.name}"
                )
            if info.tensor_shape.unknown_rank:
                continue
            dims = [d.size for d in info.tensor_shape.dim]
            if dims and dims[0] < 0 and value.ndim >= 1 and value.shape[0] == 0:
                raise invalid_argument(f"empty batch: input {name!r} of {key} holds no examples")
            if value.ndim != len(dims) or any(d >= 0 and d != n for d, n in zip(dims, value.shape)):
                raise invalid_argument(
                    f"input {name!r} of {key} must have shape {describe_shape(info)} "
                    f"(N = batch), got {list(value.shape)}"
                )
            if dims and dims[0] < 0:
                batch_sizes[name] = value.shape[0]
        if len(set(batch_sizes.values())) > 1:
            sizes = ", ".join(f"{n} has {b}" for n, b in batch_sizes.items())
            raise invalid_argument(f"inputs of {key} must have the same batch size: {sizes}")
        if batch_sizes:
            batch = next(iter(batch_sizes.values()))
            if batch == 0:
                raise invalid_argument(f"empty batch: input(s) of {key} hold no examples")
            if batch > self.max_batch_size:
                raise invalid_argument(
                    f"batch of {batch} examples is larger than the maximum batch size "
                    f"{self.max_batch_size} (--max_batch_size): split the request"
                )
