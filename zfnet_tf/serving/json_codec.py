"""TF Serving's REST Predict JSON, to and from NumPy arrays.

Request: `{"signature_name": ..., "instances": [...]}` (row format: one entry per example;
an object per example when the signature has several inputs) or `{"inputs": ...}`
(columnar: a value, or an object of values by input name). `{"b64": "..."}` stands for the
bytes of a string element. Response: `{"predictions": [...]}` for row requests (one entry
per example, an object per example when there are several outputs) and `{"outputs": ...}`
for columnar ones. String outputs whose name ends in `_bytes` are sent as `{"b64": ...}`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import orjson

from zfnet_tf.serving.errors import invalid_argument

if TYPE_CHECKING:  # TensorFlow loads on first `to_array`: the REST client needs none of it.
    from tensorflow.core.protobuf import meta_graph_pb2

ROW, COLUMNAR = "row", "columnar"


def loads(body: bytes, what: str) -> Any:
    """JSON `body` (a request, or a server's answer to the client) with NaN and Infinity read
    as TF Serving writes them; INVALID_ARGUMENT naming `what` if it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # The standard parser also reads NaN and Infinity and words its errors better.
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise invalid_argument(f"{what} is not valid JSON: {error}") from None
        except RecursionError:
            raise invalid_argument(f"{what} nests too deep to parse") from None


def parse_predict_body(body: bytes) -> tuple[str, Any, str]:
    """`(signature_name, instances or inputs, format)` of a Predict body."""
    request = loads(body, "request body")
    if not isinstance(request, dict):
        raise invalid_argument("request body must be a JSON object with 'instances' or 'inputs'")
    signature_name = request.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid_argument("'signature_name' must be a string")
    has_instances, has_inputs = "instances" in request, "inputs" in request
    if has_instances == has_inputs:
        raise invalid_argument(
            "request must have exactly one of 'instances' (row format) or 'inputs' (columnar format)"
            + ("; it has both" if has_instances else "; it has neither")
        )
    if has_instances:
        if not isinstance(request["instances"], list):
            raise invalid_argument("'instances' must be a list with one entry per example")
        return signature_name, request["instances"], ROW
    return signature_name, request["inputs"], COLUMNAR


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def decode_strings(value: Any, name: str) -> Any:
    """Strings and `{"b64": ...}` objects (nested lists of them) as bytes."""
    if isinstance(value, list):
        return [decode_strings(v, name) for v in value]
    if _is_b64(value):
        if not isinstance(value["b64"], str):
            raise invalid_argument(f"input {name!r}: 'b64' must hold a base64 string")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise invalid_argument(f"input {name!r}: 'b64' value is not valid base64") from None
    if isinstance(value, str):
        return value.encode("utf-8")
    raise invalid_argument(
        f"input {name!r} is a string tensor: give strings or {{\"b64\": ...}} objects, "
        f"got {type(value).__name__} {json.dumps(value)[:40]}"
    )


def to_array(value: Any, info: meta_graph_pb2.TensorInfo, name: str) -> np.ndarray:
    """A JSON value as an array of the input's dtype; raises INVALID_ARGUMENT naming `name`."""
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(info.dtype)
    if dtype == tf.string:
        decoded = decode_strings(value, name)
        try:
            array = np.array(decoded, dtype=object)
        except ValueError:
            raise invalid_argument(f"input {name!r} is ragged: nested lists must have equal lengths") from None
        if array.dtype != object or any(not isinstance(v, bytes) for v in array.ravel()):
            raise invalid_argument(f"input {name!r} is ragged: nested lists must have equal lengths")
        return array
    try:
        array = np.asarray(value)
    except ValueError:
        raise invalid_argument(f"input {name!r} is ragged: nested lists must have equal lengths") from None
    kind = array.dtype.kind
    if kind not in "biuf":
        raise invalid_argument(
            f"input {name!r} must hold {dtype.name} numbers (equal-length nested lists), "
            f"got {_describe(value)}"
        )
    if array.size and (kind == "b") != dtype.is_bool:
        raise invalid_argument(
            f"input {name!r} is {dtype.name}: " + ("give true/false" if dtype.is_bool else "give numbers, not true/false")
        )
    if dtype.is_integer and kind == "f" and array.size:
        raise invalid_argument(
            f"input {name!r} is {dtype.name}: give integers, got floats such as {array.ravel()[0]}"
        )
    if dtype.is_integer and array.size:
        info_range = np.iinfo(dtype.as_numpy_dtype)
        if array.min() < info_range.min or array.max() > info_range.max:
            raise invalid_argument(f"input {name!r} has values outside the range of {dtype.name}")
    return array.astype(dtype.as_numpy_dtype, copy=False)


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def request_to_arrays(
    payload: Any, format: str, signature: meta_graph_pb2.SignatureDef
) -> dict[str, np.ndarray]:
    """The signature's inputs from the request's `instances` or `inputs`."""
    names = sorted(signature.inputs)
    if format == COLUMNAR:
        if isinstance(payload, dict) and not _is_b64(payload):
            return {
                name: to_array(payload[name], signature.inputs[name], name) if name in signature.inputs
                else _unknown_input(name, names)
                for name in payload
            }
        if len(names) != 1:
            raise invalid_argument(
                f"'inputs' must be an object naming each input ({', '.join(names)}) of this signature"
            )
        return {names[0]: to_array(payload, signature.inputs[names[0]], names[0])}

    if not payload:
        raise invalid_argument("empty batch: 'instances' is an empty list")
    if len(names) == 1:
        name = names[0]
        # One input: each instance is its value, or an object naming it.
        values = [
            item[name] if isinstance(item, dict) and not _is_b64(item) and name in item else item
            for item in payload
        ]
        for index, item in enumerate(values):
            if isinstance(item, dict) and not _is_b64(item):
                raise invalid_argument(
                    f"instance {index} is an object without input {name!r} (keys: {sorted(item)})"
                )
        return {name: to_array(values, signature.inputs[name], name)}
    columns: dict[str, list] = {name: [] for name in names}
    for index, item in enumerate(payload):
        if not isinstance(item, dict) or _is_b64(item):
            raise invalid_argument(
                f"instance {index} must be an object with the inputs {', '.join(names)} "
                "(this signature has several inputs)"
            )
        missing = [n for n in names if n not in item]
        extra = sorted(set(item) - set(names))
        if missing or extra:
            problem = f"lacks {', '.join(missing)}" if missing else f"has unknown key(s) {', '.join(extra)}"
            raise invalid_argument(f"instance {index} {problem}; the inputs are {', '.join(names)}")
        for name in names:
            columns[name].append(item[name])
    return {name: to_array(columns[name], signature.inputs[name], name) for name in names}


def _unknown_input(name: str, names: list[str]):
    raise invalid_argument(f"'inputs' names {name!r}, which is not an input of this signature ({', '.join(names)})")


def b64_objects(array: np.ndarray) -> list:
    """A bytes array as nested lists of `{"b64": ...}` objects."""
    encode = lambda b: {"b64": base64.b64encode(b).decode("ascii")}  # noqa: E731
    return np.vectorize(encode, otypes=[object])(array).tolist()


def _jsonable(name: str, array: np.ndarray) -> Any:
    if array.dtype.kind in "OS":
        if name.endswith("_bytes"):
            return b64_objects(array)
        return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(array).tolist()
    return np.ascontiguousarray(array)


def _dumps(body: Any, finite: bool) -> bytes:
    if finite:
        # orjson writes NumPy arrays directly, float32 in its shortest exact form.
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    # orjson would write NaN and Infinity as null; TF Serving writes NaN and Infinity.
    return json.dumps(body, default=lambda o: o.tolist(), separators=(",", ":")).encode("utf-8")


def response_body(outputs: Mapping[str, np.ndarray], format: str) -> bytes:
    """`{"predictions": ...}` (row) or `{"outputs": ...}` (columnar) as JSON bytes."""
    names = list(outputs)
    finite = all(
        np.isfinite(value).all() for value in outputs.values() if value.dtype.kind == "f"
    )
    if format == COLUMNAR:
        if len(names) == 1:
            body = {"outputs": _jsonable(names[0], outputs[names[0]])}
        else:
            body = {"outputs": {n: _jsonable(n, outputs[n]) for n in names}}
    else:
        sizes = {n: (outputs[n].shape[0] if outputs[n].ndim else None) for n in names}
        if len(set(sizes.values())) != 1 or None in sizes.values():
            raise invalid_argument(
                f"outputs have different batch sizes {sizes}: use the columnar format ('inputs')"
            )
        if len(names) == 1:
            body = {"predictions": _jsonable(names[0], outputs[names[0]])}
        else:
            columns = {n: _jsonable(n, outputs[n]) for n in names}
            count = next(iter(sizes.values()))
            body = {"predictions": [{n: columns[n][i] for n in names} for i in range(count)]}
    return _dumps(body, finite)
