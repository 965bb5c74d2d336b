"""A client for TF Serving's REST and gRPC APIs: this project's server or `tensorflow_model_server`.

`ServingClient(address, model_name, protocol)` sends Predict requests to any signature and
reads the model's metadata; how a request travels is its transport, one class per protocol
(`RestTransport`, `GrpcTransport`). `classify_image_files` and `project_image_files` are what
`zfnet-tf client` runs: top-k labels of image files (sent as bytes to `classify_bytes`, so
the server decodes and resizes them) and deconvnet projections of any layer the export
projects (its `project_<key>` signatures), saved as PNGs.
"""

from __future__ import annotations

import abc
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from zfnet_tf.export.layout import CLASS_NAMES_FILE, list_versions
from zfnet_tf.files import atomic_path
from zfnet_tf.serving import json_codec
from zfnet_tf.serving.errors import ServingError

DEFAULT_PORTS = {"rest": 8501, "grpc": 8500}
# Metadata fields this project's server sends beside the signatures (tensorflow_model_server
# sends neither): the labels, and the export's image transform (`resize_size`, ...).
CLASS_NAMES_FIELD = "class_names"
IMAGE_TRANSFORM_FIELD = "image_transform"
PROJECTION_PREFIX, WHOLE_MAP_PREFIX = "project_", "project_map_"

# TF Serving's `DataType` enum names and the NumPy dtypes of this contract's tensors.
_NUMPY_DTYPES = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_UINT8": np.uint8,
    "DT_BOOL": np.bool_,
    "DT_STRING": object,
}


class ServingClientError(RuntimeError):
    """The server answered with an error (its message is kept) or could not be reached."""


@dataclass(frozen=True)
class TensorSpec:
    dtype: str  # TF Serving's name, e.g. "DT_FLOAT"
    shape: tuple[int, ...] | None  # -1 for any size; None for unknown rank


@dataclass(frozen=True)
class SignatureSpec:
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]


def _spec_from_json(info: Mapping[str, Any]) -> TensorSpec:
    shape = info.get("tensor_shape", {})
    if shape.get("unknown_rank"):
        return TensorSpec(info.get("dtype", "DT_INVALID"), None)
    return TensorSpec(info.get("dtype", "DT_INVALID"), tuple(int(d.get("size", -1)) for d in shape.get("dim", [])))


def json_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs for a REST `inputs` object: arrays as they are (orjson writes them), bytes
    as `{"b64": ...}`."""
    payload = {}
    for name, value in inputs.items():
        array = np.asarray(value)
        payload[name] = json_codec.b64_objects(array) if array.dtype.kind in "OS" else np.ascontiguousarray(array)
    return payload


def write_predict_request(path: str, signature_name: str, inputs: Mapping[str, Any]) -> str:
    """Writes a REST Predict body (columnar `inputs`) to `path`, for `curl -d @path`."""
    import orjson

    body = {"signature_name": signature_name, "inputs": json_inputs(inputs)}
    with atomic_path(path) as temporary, open(temporary, "wb") as f:
        f.write(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))
    return path


def read_class_names(path: str) -> list[str]:
    """Class names from a text file (one a line), a SavedModel version folder, or a model
    base path (its highest version)."""
    if os.path.isdir(path):
        candidate = os.path.join(path, CLASS_NAMES_FILE)
        if not os.path.isfile(candidate):
            versions = list_versions(path)
            if versions:
                candidate = os.path.join(path, str(versions[-1]), CLASS_NAMES_FILE)
        path = candidate
    if not os.path.isfile(path):
        raise ValueError(f"no class names file at {path}")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


# -- transports: how a request travels, one class per protocol -----------------------------------


class Transport(abc.ABC):
    """Predict and GetModelMetadata for one model over one protocol.

    Args:
        address: "host:port" (or a full "http://host:port" URL for REST).
        model_name: the served model's name.
        version: a version number, or None for the server's latest.
        timeout: seconds per request.
    """

    def __init__(self, address: str, model_name: str, version: int | None, timeout: float):
        self.address, self.model_name, self.version, self.timeout = address, model_name, version, timeout

    @abc.abstractmethod
    def signature_map(self) -> dict[str, Any]:
        """The model's signatures in the JSON form of TF Serving's `SignatureDefMap`."""

    @abc.abstractmethod
    def served_field(self, field: str) -> Any:
        """A metadata field beyond the signatures as JSON (`class_names`: a list of strings,
        `image_transform`: an object), or None when the server does not send it."""

    @abc.abstractmethod
    def predict(
        self, inputs: Mapping[str, Any], signature_name: str, outputs: Mapping[str, TensorSpec]
    ) -> dict[str, np.ndarray]:
        """Runs `signature_name`, whose outputs are `outputs`, on batched NumPy inputs."""

    @abc.abstractmethod
    def close(self) -> None:
        """Releases the connection."""


class RestTransport(Transport):
    """TF Serving's REST API (`httpx`): JSON through `json_codec`, as the server reads it."""

    def __init__(self, address: str, model_name: str, version: int | None, timeout: float):
        import httpx

        super().__init__(address, model_name, version, timeout)
        base = address if address.startswith(("http://", "https://")) else f"http://{address}"
        path = f"/v1/models/{model_name}" + (f"/versions/{version}" if version else "")
        self.url = base.rstrip("/") + path
        self._http = httpx.Client(timeout=timeout)
        self._metadata: dict | None = None

    def _request(self, method: str, path: str, json_body: Any = None) -> dict:
        import httpx
        import orjson

        content = None if json_body is None else orjson.dumps(json_body, option=orjson.OPT_SERIALIZE_NUMPY)
        try:
            response = self._http.request(
                method, self.url + path, content=content, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as error:
            raise ServingClientError(f"cannot reach {self.url}: {error}") from None
        try:
            body = json_codec.loads(response.content, "the answer")
        except ServingError:
            raise ServingClientError(f"HTTP {response.status_code} from {response.url}: {response.text[:200]}") from None
        if response.status_code != 200 or (isinstance(body, dict) and "error" in body):
            raise ServingClientError(f"HTTP {response.status_code}: {body.get('error', body)}")
        return body

    def _served_metadata(self) -> dict:
        if self._metadata is None:
            self._metadata = self._request("GET", "/metadata")["metadata"]
        return self._metadata

    def signature_map(self) -> dict[str, Any]:
        return self._served_metadata()["signature_def"]["signature_def"]

    def served_field(self, field: str) -> Any:
        return self._served_metadata().get(field)

    def predict(
        self, inputs: Mapping[str, Any], signature_name: str, outputs: Mapping[str, TensorSpec]
    ) -> dict[str, np.ndarray]:
        body = self._request("POST", ":predict", {"signature_name": signature_name, "inputs": json_inputs(inputs)})
        values = body["outputs"]
        if len(outputs) == 1:  # TF Serving sends a lone output bare, not in an object
            values = {next(iter(outputs)): values}
        result = {}
        for name, value in values.items():
            dtype = _NUMPY_DTYPES.get(outputs[name].dtype) if name in outputs else None
            if dtype is object:
                try:
                    result[name] = np.asarray(json_codec.decode_strings(value, name), dtype=object)
                except ServingError as error:
                    raise ServingClientError(f"output {name!r} of {signature_name}: {error.message}") from None
            else:
                result[name] = np.asarray(value, dtype=dtype)
        return result

    def close(self) -> None:
        self._http.close()


class GrpcTransport(Transport):
    """TF Serving's gRPC API (`tensorflow-serving-api` stubs, TensorProtos)."""

    def __init__(self, address: str, model_name: str, version: int | None, timeout: float):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        super().__init__(address, model_name, version, timeout)
        self._channel = grpc.insecure_channel(
            address.split("://", 1)[-1],
            options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
        )
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def _model_spec(self, spec, signature_name: str = "") -> None:
        spec.name = self.model_name
        if self.version:
            spec.version.value = self.version
        if signature_name:
            spec.signature_name = signature_name

    def _call(self, method, request):
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingClientError(f"gRPC {error.code().name}: {error.details()}") from None

    def _metadata(self, field: str):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[field])
        self._model_spec(request.model_spec)
        return self._call(self._stub.GetModelMetadata, request).metadata[field]

    def signature_map(self) -> dict[str, Any]:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        signature_map = get_model_metadata_pb2.SignatureDefMap()
        self._metadata("signature_def").Unpack(signature_map)
        as_json = json_format.MessageToDict(signature_map, preserving_proto_field_name=True)
        return as_json.get("signature_def", {})

    def served_field(self, field: str) -> Any:
        """This project's server packs a field as a string TensorProto: a list of strings, or
        one string holding a JSON object. `tensorflow_model_server` refuses the field
        ("Metadata field ... is not supported"): None."""
        import tensorflow as tf
        from tensorflow.core.framework import tensor_pb2

        try:
            packed = self._metadata(field)
        except ServingClientError:
            return None
        proto = tensor_pb2.TensorProto()
        packed.Unpack(proto)
        value = tf.make_ndarray(proto)
        if value.ndim == 0:
            return json.loads(value.item())
        return [item.decode("utf-8") for item in value.ravel()]

    def predict(
        self, inputs: Mapping[str, Any], signature_name: str, outputs: Mapping[str, TensorSpec]
    ) -> dict[str, np.ndarray]:
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._model_spec(request.model_spec, signature_name)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
        response = self._call(self._stub.Predict, request)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def close(self) -> None:
        self._channel.close()


TRANSPORTS: dict[str, type[Transport]] = {"rest": RestTransport, "grpc": GrpcTransport}
PROTOCOLS = tuple(TRANSPORTS)


def _natural_order(key: str) -> list:
    """`layer2` before `layer10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


class ServingClient:
    """Predict and metadata over REST or gRPC (`TRANSPORTS[protocol]`).

    Args:
        address: "host:port" (or a full "http://host:port" URL for REST).
        model_name: the served model's name.
        protocol: "rest" or "grpc".
        version: a version number, or None for the server's latest.
        timeout: seconds per request.
        class_names: labels of the logits; by default the server's (this project's server
            sends them; `tensorflow_model_server` does not, see `read_class_names`).
    """

    def __init__(
        self,
        address: str,
        model_name: str,
        protocol: str = "rest",
        version: int | None = None,
        timeout: float = 120.0,
        class_names: Sequence[str] | None = None,
    ):
        if protocol not in TRANSPORTS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        self.model_name = model_name
        self.protocol = protocol
        self.transport = TRANSPORTS[protocol](address, model_name, version, timeout)
        self._class_names = list(class_names) if class_names is not None else None
        self._signatures: dict[str, SignatureSpec] | None = None
        self._served: dict[str, Any] = {}

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- metadata ---------------------------------------------------------------------------

    def signatures(self) -> dict[str, SignatureSpec]:
        """Each signature's input and output dtypes and shapes (GetModelMetadata)."""
        if self._signatures is None:
            self._signatures = {
                key: SignatureSpec(
                    {k: _spec_from_json(v) for k, v in sig.get("inputs", {}).items()},
                    {k: _spec_from_json(v) for k, v in sig.get("outputs", {}).items()},
                )
                for key, sig in self.transport.signature_map().items()
                if not key.startswith("__")
            }
        return self._signatures

    def _served_field(self, field: str) -> Any:
        if field not in self._served:
            self._served[field] = self.transport.served_field(field)
        return self._served[field]

    def class_names(self) -> list[str] | None:
        """The labels given to the client, else the model's class names if the server sends
        them (this project's server does; `tensorflow_model_server` does not: then None)."""
        if self._class_names is not None:
            return self._class_names
        return self._served_field(CLASS_NAMES_FIELD)

    def input_size(self) -> int:
        """Side of the square images the `serving_default` signature takes."""
        shape = self.signatures()["serving_default"].inputs["images"].shape
        return int(shape[1])

    def image_resize_size(self) -> int:
        """The side an image's shorter side is resized to before the centre `input_size`
        crop, as the model's export says (`image_transform`, sent by this project's server);
        `input_size` (the whole image) when the server does not say."""
        transform = self._served_field(IMAGE_TRANSFORM_FIELD) or {}
        return int(transform.get("resize_size", self.input_size()))

    def projectable_layers(self) -> list[str]:
        """The keys of the layers the export projects (its `project_<key>` signatures):
        `layer1` ... `layer5` for ZFNet, layer names (`block5_conv3`) for other models."""
        keys = [
            name[len(PROJECTION_PREFIX):]
            for name in self.signatures()
            if name.startswith(PROJECTION_PREFIX) and not name.startswith(WHOLE_MAP_PREFIX)
        ]
        return sorted(keys, key=_natural_order)

    def projection_signature(self, layer: int | str, mode: str = "max") -> str:
        """The signature that projects `layer` (ZFNet's 1-5 or `layer3`, or a layer name):
        `project_<key>` (mode "max": the strongest activation alone) or `project_map_<key>`
        (mode "map": the whole map). A ValueError lists the layers the export projects."""
        if mode not in ("max", "map"):
            raise ValueError(f"mode must be 'max' or 'map', got {mode!r}")
        text = str(layer).replace("/", "_")
        key = f"layer{text}" if text.isdigit() else text
        name = (PROJECTION_PREFIX if mode == "max" else WHOLE_MAP_PREFIX) + key
        if name not in self.signatures():
            offered = ", ".join(self.projectable_layers()) or "none"
            raise ValueError(
                f"model {self.model_name!r} has no signature {name} for layer {layer!r}; "
                f"the layers it projects: {offered}"
            )
        return name

    # -- predict ----------------------------------------------------------------------------

    def predict(self, inputs: Mapping[str, Any], signature_name: str = "serving_default") -> dict[str, np.ndarray]:
        """Runs a signature on batched inputs (NumPy arrays; bytes arrays for strings)."""
        signature = self.signatures().get(signature_name)
        outputs = signature.outputs if signature is not None else {}
        return self.transport.predict(inputs, signature_name, outputs)

    def classify(self, image_bytes: Sequence[bytes], top_k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-k `(label, probability)` of each encoded image (JPEG/PNG bytes)."""
        outputs = self.predict({"image_bytes": np.array(list(image_bytes), dtype=object)}, "classify_bytes")
        probabilities = outputs["probabilities"]
        names = self.class_names() or [f"class_{i}" for i in range(probabilities.shape[1])]
        results = []
        for row in probabilities:
            order = np.argsort(-row)[:top_k]
            results.append([(names[i] if i < len(names) else f"class_{i}", float(row[i])) for i in order])
        return results

    def project(
        self, images: np.ndarray, layer: int | str, feature: int | Sequence[int] = -1, mode: str = "max"
    ) -> dict[str, np.ndarray]:
        """`projection_signature(layer, mode)` for float32 `[N, S, S, 3]` images; `feature`
        per image or one for all (-1: each image's strongest map)."""
        images = np.asarray(images, np.float32)
        features = np.broadcast_to(np.asarray(feature, np.int32), (images.shape[0],))
        return self.predict(
            {"images": images, "feature": np.ascontiguousarray(features)}, self.projection_signature(layer, mode)
        )


# -- what `zfnet-tf client` runs --------------------------------------------------------------


def classify_image_files(
    client: ServingClient, paths: Sequence[str], top_k: int = 5
) -> list[list[tuple[str, float]]]:
    """Top-k labels of each image file; the server decodes and resizes the bytes."""
    encoded = []
    for path in paths:
        if not os.path.isfile(path):
            raise ValueError(f"image file not found: {path}")
        with open(path, "rb") as f:
            encoded.append(f.read())
    return client.classify(encoded, top_k)


def _save_png(path: str, rgb: np.ndarray) -> str:
    from PIL import Image

    with atomic_path(path) as temporary:
        Image.fromarray(rgb).save(temporary, format="PNG")
    return path


def project_image_files(
    client: ServingClient,
    paths: Sequence[str],
    layer: int | str,
    feature: int,
    out_dir: str,
    resize_size: int | None = None,
    mode: str = "max",
) -> list[dict[str, Any]]:
    """Projects feature `feature` (-1: each image's strongest) of layer `layer` (any layer the
    export projects, `ServingClient.projectable_layers`) through the server and writes
    `<name>_<key>_feature<f>.png` (the projection, grey = 0; `<key>` is `layer5`,
    `block5_conv3`, or `map_layer5` in mode "map") and `<name>_input.png` (the image as the
    model saw it) to `out_dir`.

    Each image's shorter side is resized to `resize_size` (default: what the server says the
    model takes, `ServingClient.image_resize_size`) before the centre crop.

    Returns one dict per image: the PNG paths, `feature`, `activation` and `location`.
    """
    from zfnet_tf.data import load_image_files
    from zfnet_tf.visualization import image_to_rgb, projection_to_rgb

    if feature < -1:
        raise ValueError(f"--feature must be -1 (strongest) or a map index, got {feature}")
    signature = client.projection_signature(layer, mode)
    key = signature[len(PROJECTION_PREFIX):]
    size = client.input_size()
    resize = client.image_resize_size() if resize_size is None else resize_size
    images = load_image_files(list(paths), size, resize)
    outputs = client.project(images, layer, feature, mode)
    results = []
    for index, path in enumerate(paths):
        stem = os.path.splitext(os.path.basename(path))[0]
        chosen = int(outputs["feature"][index])
        projection_path = _save_png(
            os.path.join(out_dir, f"{stem}_{key}_feature{chosen}.png"),
            projection_to_rgb(outputs["reconstructions"][index]),
        )
        input_path = _save_png(os.path.join(out_dir, f"{stem}_input.png"), image_to_rgb(images[index]))
        results.append(
            {
                "image": path,
                "layer": key,
                "projection": projection_path,
                "input": input_path,
                "feature": chosen,
                "activation": float(outputs["activation"][index]),
                "location": [int(v) for v in outputs["location"][index]],
            }
        )
    return results
