"""A client for TF Serving's REST and gRPC APIs: this project's server or `tensorflow_model_server`.

`ServingClient(address, model_name, protocol)` sends Predict requests to any signature and
reads the model's metadata; `classify_image_files` and `project_image_files` are what
`zfnet-tf client` runs: top-k labels of image files (sent as bytes to `classify_bytes`, so
the server decodes and resizes them) and deconvnet projections of layer l saved as PNGs.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from zfnet_tf.export.layout import CLASS_NAMES_FILE, list_versions

PROTOCOLS = ("rest", "grpc")
DEFAULT_PORTS = {"rest": 8501, "grpc": 8500}

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


def _decode_b64(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    return value.encode("utf-8") if isinstance(value, str) else value


def json_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs for a REST `inputs` object: arrays as they are (orjson writes them), bytes
    as `{"b64": ...}`."""
    payload = {}
    for name, value in inputs.items():
        array = np.asarray(value)
        if array.dtype.kind in "OS":
            payload[name] = np.vectorize(
                lambda b: {"b64": base64.b64encode(b).decode("ascii")}, otypes=[object]
            )(array).tolist()
        else:
            payload[name] = np.ascontiguousarray(array)
    return payload


def write_predict_request(path: str, signature_name: str, inputs: Mapping[str, Any]) -> str:
    """Writes a REST Predict body (columnar `inputs`) to `path`, for `curl -d @path`."""
    import orjson

    body = {"signature_name": signature_name, "inputs": json_inputs(inputs)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
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


class ServingClient:
    """Predict and metadata over REST (`httpx`) or gRPC (`tensorflow-serving-api` stubs).

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
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        self.model_name = model_name
        self.protocol = protocol
        self.version = version
        self.timeout = timeout
        self._signatures: dict[str, SignatureSpec] | None = None
        self._class_names = list(class_names) if class_names is not None else None
        self._served_class_names: list[str] | None = None
        self._served_image_transform: dict | None = None
        if protocol == "rest":
            import httpx

            base = address if address.startswith(("http://", "https://")) else f"http://{address}"
            path = f"/v1/models/{model_name}" + (f"/versions/{version}" if version else "")
            self._url = base.rstrip("/") + path
            self._http = httpx.Client(timeout=timeout)
        else:
            import grpc
            from tensorflow_serving.apis import prediction_service_pb2_grpc

            target = address.split("://", 1)[-1]
            self._channel = grpc.insecure_channel(
                target,
                options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
            )
            self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def close(self) -> None:
        if self.protocol == "rest":
            self._http.close()
        else:
            self._channel.close()

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- metadata ---------------------------------------------------------------------------

    def signatures(self) -> dict[str, SignatureSpec]:
        """Each signature's input and output dtypes and shapes (GetModelMetadata)."""
        if self._signatures is None:
            if self.protocol == "rest":
                body = self._rest("GET", "/metadata")
                signature_map = body["metadata"]["signature_def"]["signature_def"]
                self._served_class_names = body["metadata"].get("class_names")
                self._served_image_transform = body["metadata"].get("image_transform")
            else:
                signature_map = self._grpc_signature_map()
            self._signatures = {
                key: SignatureSpec(
                    {k: _spec_from_json(v) for k, v in sig.get("inputs", {}).items()},
                    {k: _spec_from_json(v) for k, v in sig.get("outputs", {}).items()},
                )
                for key, sig in signature_map.items()
                if not key.startswith("__")
            }
        return self._signatures

    def class_names(self) -> list[str] | None:
        """The labels given to the client, else the model's class names if the server sends
        them (this project's server does; `tensorflow_model_server` does not: then None)."""
        if self._class_names is not None:
            return self._class_names
        if self._served_class_names is None:
            if self.protocol == "rest":
                self.signatures()
            else:
                self._served_class_names = self._grpc_class_names()
        return self._served_class_names

    def input_size(self) -> int:
        """Side of the square images the `serving_default` signature takes."""
        shape = self.signatures()["serving_default"].inputs["images"].shape
        return int(shape[1])

    def image_resize_size(self) -> int:
        """The side an image's shorter side is resized to before the centre `input_size`
        crop, as the model's export says (`image_transform`, sent by this project's server);
        `input_size` (the whole image) when the server does not say."""
        if self.protocol == "rest":
            self.signatures()
        elif self._served_image_transform is None:
            value = self._grpc_metadata_tensor("image_transform")
            self._served_image_transform = None if value is None else json.loads(value.item())
        transform = self._served_image_transform or {}
        return int(transform.get("resize_size", self.input_size()))

    # -- predict ----------------------------------------------------------------------------

    def predict(self, inputs: Mapping[str, Any], signature_name: str = "serving_default") -> dict[str, np.ndarray]:
        """Runs a signature on batched inputs (NumPy arrays; bytes arrays for strings)."""
        if self.protocol == "rest":
            return self._rest_predict(inputs, signature_name)
        return self._grpc_predict(inputs, signature_name)

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

    def project(self, images: np.ndarray, layer: int, feature: int | Sequence[int] = -1) -> dict[str, np.ndarray]:
        """`project_layer{layer}` for float32 `[N, S, S, 3]` images; `feature` per image or one
        for all (-1: each image's strongest map)."""
        images = np.asarray(images, np.float32)
        features = np.broadcast_to(np.asarray(feature, np.int32), (images.shape[0],))
        return self.predict({"images": images, "feature": np.ascontiguousarray(features)}, f"project_layer{layer}")

    # -- REST -------------------------------------------------------------------------------

    def _rest(self, method: str, path: str, json_body: Any = None) -> dict:
        import httpx
        import orjson

        content = None
        if json_body is not None:
            content = orjson.dumps(json_body, option=orjson.OPT_SERIALIZE_NUMPY)
        try:
            response = self._http.request(
                method, self._url + path, content=content, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as error:
            raise ServingClientError(f"cannot reach {self._url}: {error}") from None
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            try:
                body = json.loads(response.content)  # NaN and Infinity, which orjson refuses
            except ValueError:
                raise ServingClientError(
                    f"HTTP {response.status_code} from {response.url}: {response.text[:200]}"
                ) from None
        if response.status_code != 200 or "error" in body:
            raise ServingClientError(f"HTTP {response.status_code}: {body.get('error', body)}")
        return body

    def _rest_predict(self, inputs: Mapping[str, Any], signature_name: str) -> dict[str, np.ndarray]:
        payload = json_inputs(inputs)
        body = self._rest("POST", ":predict", {"signature_name": signature_name, "inputs": payload})
        outputs = body["outputs"]
        specs = self.signatures()[signature_name].outputs
        if len(specs) == 1:  # TF Serving sends a lone output bare, not in an object
            outputs = {next(iter(specs)): outputs}
        result = {}
        for name, value in outputs.items():
            dtype = _NUMPY_DTYPES.get(specs[name].dtype) if name in specs else None
            if dtype is object:
                result[name] = np.asarray(_decode_b64(value), dtype=object)
            else:
                result[name] = np.asarray(value, dtype=dtype)
        return result

    # -- gRPC -------------------------------------------------------------------------------

    def _model_spec(self, spec, signature_name: str = "") -> None:
        spec.name = self.model_name
        if self.version:
            spec.version.value = self.version
        if signature_name:
            spec.signature_name = signature_name

    def _grpc_call(self, method, request):
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingClientError(f"gRPC {error.code().name}: {error.details()}") from None

    def _grpc_predict(self, inputs: Mapping[str, Any], signature_name: str) -> dict[str, np.ndarray]:
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._model_spec(request.model_spec, signature_name)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
        response = self._grpc_call(self._stub.Predict, request)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def _grpc_signature_map(self) -> dict:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._model_spec(request.model_spec)
        response = self._grpc_call(self._stub.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        as_json = json_format.MessageToDict(signature_map, preserving_proto_field_name=True)
        return as_json.get("signature_def", {})

    def _grpc_metadata_tensor(self, field: str) -> np.ndarray | None:
        """A metadata field this project's server sends as a TensorProto; None if the server
        has no such field (tensorflow_model_server: "Metadata field ... is not supported")."""
        import tensorflow as tf
        from tensorflow.core.framework import tensor_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[field])
        self._model_spec(request.model_spec)
        try:
            response = self._grpc_call(self._stub.GetModelMetadata, request)
        except ServingClientError:
            return None
        proto = tensor_pb2.TensorProto()
        response.metadata[field].Unpack(proto)
        return tf.make_ndarray(proto)

    def _grpc_class_names(self) -> list[str] | None:
        names = self._grpc_metadata_tensor("class_names")
        return None if names is None else [name.decode("utf-8") for name in names.ravel()]


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


def project_image_files(
    client: ServingClient,
    paths: Sequence[str],
    layer: int,
    feature: int,
    out_dir: str,
    resize_size: int | None = None,
) -> list[dict[str, Any]]:
    """Projects layer `layer`'s feature `feature` (-1: strongest) of each image through the
    server and writes `<name>_layer<l>_feature<f>.png` (the projection, grey = 0) and
    `<name>_input.png` (the image as the model saw it) to `out_dir`.

    Each image's shorter side is resized to `resize_size` (default: what the server says the
    model takes, `ServingClient.image_resize_size`) before the centre crop.

    Returns one dict per image: the PNG paths, `feature`, `activation` and `location`.
    """
    from PIL import Image

    from zfnet_tf.data import load_image_files
    from zfnet_tf.visualization import image_to_rgb, projection_to_rgb

    if not 1 <= layer <= 5:
        raise ValueError(f"--layer must be in 1..5, got {layer}")
    if feature < -1:
        raise ValueError(f"--feature must be -1 (strongest) or a map index, got {feature}")
    size = client.input_size()
    resize = client.image_resize_size() if resize_size is None else resize_size
    images = load_image_files(list(paths), size, resize)
    outputs = client.project(images, layer, feature)
    os.makedirs(out_dir, exist_ok=True)
    results = []
    for index, path in enumerate(paths):
        stem = os.path.splitext(os.path.basename(path))[0]
        chosen = int(outputs["feature"][index])
        projection_path = os.path.join(out_dir, f"{stem}_layer{layer}_feature{chosen}.png")
        input_path = os.path.join(out_dir, f"{stem}_input.png")
        Image.fromarray(projection_to_rgb(outputs["reconstructions"][index])).save(projection_path)
        Image.fromarray(image_to_rgb(images[index])).save(input_path)
        results.append(
            {
                "image": path,
                "projection": projection_path,
                "input": input_path,
                "feature": chosen,
                "activation": float(outputs["activation"][index]),
                "location": [int(v) for v in outputs["location"][index]],
            }
        )
    return results
