"""The model server end to end: a real subprocess on 127.0.0.1, real REST and gRPC sockets.

One server for the module serves three models from a models.config: `tiny` (a copy of the
session's export, version 1; a test later publishes a version 2 into it), and two copies of
the run's small convnet (`support.exports.small_convnet`, 32x32 in; cheaper to load than the
tiny ZFNet): `pinned` (version 1 by a `specific` policy, with the label `stable`) and
`spare` (a broken version 2 appears in it).
"""

import base64
import concurrent.futures
import json
import re
import shutil
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from support.exports import held_deconvnet
from support.servers import ServerProcess
from support.shared_server import small_convnet_folder

pytestmark = pytest.mark.heavy(26)

MAX_BATCH = 4

MODELS_CONFIG = """
model_config_list {
  config {
    name: "tiny"
    base_path: "%(tiny)s"
    model_platform: "tensorflow"
  }
  config {
    name: "pinned"
    base_path: "%(pinned)s"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 } }
    version_labels { key: "stable" value: 1 }
  }
  config {
    name: "spare"
    base_path: "%(spare)s"
    model_platform: "tensorflow"
  }
}
"""


@pytest.fixture(scope="module")
def server(tiny_export, tmp_path_factory, request):
    _, base_path = tiny_export
    convnet = small_convnet_folder(request) / "saved_models" / "convnet" / "1"
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(base_path / "1", root / "tiny" / "1")
    shutil.copytree(convnet, root / "pinned" / "1")
    shutil.copytree(convnet, root / "spare" / "1")
    config = root / "models.config"
    config.write_text(MODELS_CONFIG % {"tiny": root / "tiny", "pinned": root / "pinned", "spare": root / "spare"})
    process = ServerProcess(
        [
            f"--model_config_file={config}",
            f"--max_batch_size={MAX_BATCH}",
            "--file_system_poll_wait_seconds=1",
        ],
        ready_model="tiny",
        log_path=str(root / "server.log"),
        python_flags=["-X", "importtime"],
    )
    process.start()
    process.root = root
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(server):
    with server.http_client(timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(
        server.grpc_address, options=[("grpc.max_receive_message_length", -1)]
    ) as channel:
        yield channel


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(7).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def convnet(request):
    """`(model, images)`: the small convnet `pinned` and `spare` serve, and images for it."""
    import keras

    model = keras.saving.load_model(small_convnet_folder(request) / "convnet.keras")
    return model, np.random.default_rng(9).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)


def assert_alive(server, http):
    assert server.alive(), server.log_tail()
    response = http.get("/v1/models/tiny")
    assert response.status_code == 200


def grpc_predict(channel, signature, inputs, model="tiny", version=None, output_filter=()):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    request.output_filter.extend(output_filter)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return stub.Predict(request, timeout=60)


def expected_projection(model, images, layer, features):
    outputs = held_deconvnet(model).projection_function(layer, "max")(
        tf.constant(images), tf.constant(np.asarray(features, np.int32)[:, None])
    )
    return {k: v.numpy()[:, 0] for k, v in outputs.items()}


def assert_projection_equal(actual, expected):
    scale = np.abs(expected["reconstructions"]).max()
    np.testing.assert_allclose(
        np.asarray(actual["reconstructions"], np.float32), expected["reconstructions"], rtol=1e-4, atol=1e-5 * scale
    )
    np.testing.assert_array_equal(np.asarray(actual["feature"]), expected["feature"])
    np.testing.assert_array_equal(np.asarray(actual["location"]), expected["location"])
    np.testing.assert_allclose(np.asarray(actual["activation"], np.float32), expected["activation"], rtol=1e-5)


# -- status and metadata ---------------------------------------------------------------------


def test_rest_model_status(http):
    response = http.get("/v1/models/tiny")
    assert response.status_code == 200
    assert response.json() == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert http.get("/v1/models/tiny/versions/1").json()["model_version_status"][0]["version"] == "1"
    assert http.get("/v1/models/pinned/labels/stable").status_code == 200


def test_rest_metadata_lists_the_signatures_and_class_names(http, tiny_keras_model):
    body = http.get("/v1/models/tiny/metadata").json()
    assert body["model_spec"] == {"name": "tiny", "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    expected = {"serving_default", "classify_bytes", "features", *(f"project_layer{l}" for l in range(1, 6))}
    assert expected <= set(signatures)
    images = signatures["serving_default"]["inputs"]["images"]
    assert images["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "64", "64", "3"]
    assert signatures["project_layer5"]["inputs"]["feature"]["dtype"] == "DT_INT32"
    assert body["metadata"]["class_names"] == tiny_keras_model.class_names
    assert body["metadata"]["image_transform"] == {"input_size": 64, "resize_size": 64, "max_image_pixels": 64 * 2**20}
    assert http.get("/v1/models/tiny/versions/1/metadata").json()["model_spec"]["version"] == "1"


def test_grpc_metadata_and_status(channel, tiny_keras_model):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "tiny"
    response = stub.GetModelMetadata(request, timeout=30)
    assert response.model_spec.version.value == 1
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    outputs = signature_map.signature_def["project_layer2"].outputs
    assert sorted(outputs) == ["activation", "box", "feature", "location", "reconstructions"]
    assert outputs["location"].dtype == tf.int32.as_datatype_enum

    # This server's own fields: the export's class names and image transform.
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["class_names", "image_transform"])
    request.model_spec.name = "tiny"
    response = stub.GetModelMetadata(request, timeout=30)
    unpacked = {}
    for field in ("class_names", "image_transform"):
        proto = tf.make_tensor_proto("")
        response.metadata[field].Unpack(proto)
        unpacked[field] = tf.make_ndarray(proto)
    assert [n.decode() for n in unpacked["class_names"]] == tiny_keras_model.class_names
    assert json.loads(unpacked["image_transform"].item()) == {"input_size": 64, "resize_size": 64, "max_image_pixels": 64 * 2**20}

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "pinned"
    status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_request, timeout=30)
    assert [(s.version, s.state) for s in status.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ]


# -- Predict ---------------------------------------------------------------------------------


def test_rest_row_and_columnar_classification(http, images, tiny_keras_model, convnet):
    logits = tiny_keras_model(images, training=False).numpy()
    rows = http.post("/v1/models/tiny:predict", json={"instances": images.tolist()}).json()["predictions"]
    assert len(rows) == 3 and set(rows[0]) == {"logits", "probabilities"}
    np.testing.assert_allclose(np.array([r["logits"] for r in rows], np.float32), logits, rtol=1e-5, atol=1e-5)
    model, small = convnet
    logits = model(small, training=False).numpy()
    columns = http.post(
        "/v1/models/pinned/labels/stable:predict",
        json={"signature_name": "serving_default", "inputs": {"images": small.tolist()}},
    ).json()["outputs"]
    np.testing.assert_allclose(np.array(columns["logits"], np.float32), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        np.array(columns["probabilities"]), tf.nn.softmax(logits).numpy(), rtol=1e-5, atol=1e-6
    )


def test_rest_classify_bytes_with_b64(http, tiny_keras_model):
    photo = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    png = tf.io.encode_png(photo).numpy()
    body = {
        "signature_name": "classify_bytes",
        "instances": [{"b64": base64.b64encode(png).decode("ascii")}],
    }
    rows = http.post("/v1/models/tiny:predict", json=body).json()["predictions"]
    expected = tiny_keras_model(photo[None].astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(np.array([rows[0]["logits"]], np.float32), expected, rtol=1e-4, atol=1e-4)


def test_rest_projection(http, images, tiny_keras_model):
    body = {
        "signature_name": "project_layer5",
        "instances": [{"images": images[0].tolist(), "feature": -1}, {"images": images[1].tolist(), "feature": 7}],
    }
    rows = http.post("/v1/models/tiny:predict", json=body).json()["predictions"]
    actual = {key: [row[key] for row in rows] for key in rows[0]}
    assert_projection_equal(actual, expected_projection(tiny_keras_model, images[:2], 5, [-1, 7]))
    assert actual["feature"][1] == 7


def test_grpc_classification_and_projection(channel, images, tiny_keras_model):
    response = grpc_predict(channel, "serving_default", {"images": images})
    assert response.model_spec.version.value == 1
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["logits"]), tiny_keras_model(images, training=False).numpy(), rtol=1e-5, atol=1e-5
    )
    features = np.array([2, -1, 0], np.int32)
    response = grpc_predict(channel, "project_layer2", {"images": images, "feature": features})
    actual = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
    assert actual["reconstructions"].dtype == np.float32 and actual["location"].dtype == np.int32
    assert_projection_equal(actual, expected_projection(tiny_keras_model, images, 2, features))

    filtered = grpc_predict(channel, "features", {"images": images[:1]}, output_filter=["fc7"])
    assert list(filtered.outputs) == ["fc7"]
    assert tf.make_ndarray(filtered.outputs["fc7"]).shape == (1, 256)


def test_concurrent_requests_get_their_own_answers(http, channel, tiny_keras_model):
    batches = [np.random.default_rng(100 + i).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32) for i in range(12)]
    expected = [tiny_keras_model(b, training=False).numpy() for b in batches]

    def ask(index):
        batch = batches[index]
        if index % 2:
            response = grpc_predict(channel, "serving_default", {"images": batch})
            return tf.make_ndarray(response.outputs["logits"])
        body = http.post("/v1/models/tiny:predict", json={"inputs": batch.tolist()}).json()
        return np.array(body["outputs"]["logits"], np.float32)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(len(batches)) ))
    for answer, want in zip(answers, expected):
        np.testing.assert_allclose(answer, want, rtol=1e-5, atol=1e-5)


# -- bad requests ----------------------------------------------------------------------------


def _image(channels=3, size=64):
    return np.full((size, size, channels), 100.0, np.float32).tolist()


REST_BAD_REQUESTS = [
    ("wrong rank", "/v1/models/tiny:predict", {"inputs": _image()}, 400, r"must have shape \[N, 64, 64, 3\].*got \[64, 64, 3\]"),
    ("wrong channel count", "/v1/models/tiny:predict", {"instances": [_image(channels=4)]}, 400, r"got \[1, 64, 64, 4\]"),
    ("wrong dtype", "/v1/models/tiny:predict", {"instances": [[[["a", "b", "c"]] * 64] * 64]}, 400, r"input 'images' must hold float32 numbers"),
    ("float feature", "/v1/models/tiny:predict", {"signature_name": "project_layer1", "inputs": {"images": [_image()], "feature": [1.5]}}, 400, r"'feature' is int32: give integers"),
    ("missing input", "/v1/models/tiny:predict", {"signature_name": "project_layer5", "inputs": {"images": [_image()]}}, 400, r"missing: feature"),
    ("feature out of range", "/v1/models/tiny:predict", {"signature_name": "project_layer5", "inputs": {"images": [_image()], "feature": [64]}}, 400, r"feature must be -1 or in \[0, 64\) for layer 5"),
    ("negative feature", "/v1/models/tiny:predict", {"signature_name": "project_layer1", "inputs": {"images": [_image()], "feature": [-2]}}, 400, r"feature must be -1 or in \[0, 24\) for layer 1 \(pool1\) \(got"),
    ("undecodable bytes", "/v1/models/tiny:predict", {"signature_name": "classify_bytes", "instances": [{"b64": base64.b64encode(b"not an image").decode()}]}, 400, r"classify_bytes: Unknown image file format"),
    ("bad base64", "/v1/models/tiny:predict", {"signature_name": "classify_bytes", "instances": [{"b64": "***"}]}, 400, r"not valid base64"),
    ("unknown model", "/v1/models/nope:predict", {"instances": [_image()]}, 404, r"Servable not found for request: Latest\(nope\)"),
    ("unknown version", "/v1/models/tiny/versions/99:predict", {"instances": [_image()]}, 404, r"Servable not found for request: Specific\(tiny, 99\)"),
    ("unknown label", "/v1/models/pinned/labels/canary:predict", {"instances": [_image()]}, 400, r"Unrecognized servable version label: canary"),
    ("unknown signature", "/v1/models/tiny:predict", {"signature_name": "project_layer9", "instances": [_image()]}, 400, r'Serving signature name: "project_layer9" not found'),
    ("empty batch", "/v1/models/tiny:predict", {"instances": []}, 400, r"empty batch"),
    ("empty columnar batch", "/v1/models/tiny:predict", {"inputs": {"images": []}}, 400, r"empty batch|must have shape"),
    ("huge batch", "/v1/models/tiny:predict", {"instances": [_image()] * (MAX_BATCH + 1)}, 400, r"batch of 5 examples is larger than the maximum batch size 4"),
    ("both formats", "/v1/models/tiny:predict", {"instances": [_image()], "inputs": [_image()]}, 400, r"exactly one of 'instances'"),
    ("unequal batches", "/v1/models/tiny:predict", {"signature_name": "project_layer1", "inputs": {"images": [_image()], "feature": [1, 2]}}, 400, r"same batch size"),
]


@pytest.mark.parametrize("case", REST_BAD_REQUESTS, ids=[c[0] for c in REST_BAD_REQUESTS])
def test_rest_bad_request(server, http, case):
    _, path, body, status, message = case
    response = http.post(path, json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert re.search(message, response.json()["error"]), response.json()["error"]
    assert_alive(server, http)


def test_rest_bad_json_and_paths(server, http):
    response = http.post("/v1/models/tiny:predict", content=b"{not json")
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    response = http.get("/v1/models/nope")
    assert response.status_code == 404 and "nope" in response.json()["error"]
    response = http.get("/v1/models/tiny/versions/5")
    assert response.status_code == 404 and "version 5" in response.json()["error"]
    response = http.post("/v1/models/tiny:explode", json={})
    assert response.status_code == 400 and "Malformed request" in response.json()["error"]
    assert_alive(server, http)


GRPC_BAD_REQUESTS = [
    ("wrong rank", "tiny", None, "serving_default", lambda: {"images": np.zeros((64, 64, 3), np.float32)}, grpc.StatusCode.INVALID_ARGUMENT, r"must have shape"),
    ("wrong channel count", "tiny", None, "serving_default", lambda: {"images": np.zeros((1, 64, 64, 1), np.float32)}, grpc.StatusCode.INVALID_ARGUMENT, r"got \[1, 64, 64, 1\]"),
    ("wrong dtype", "tiny", None, "serving_default", lambda: {"images": np.zeros((1, 64, 64, 3), np.float64)}, grpc.StatusCode.INVALID_ARGUMENT, r"must be float32, got float64"),
    ("missing input", "tiny", None, "project_layer3", lambda: {"images": np.zeros((1, 64, 64, 3), np.float32)}, grpc.StatusCode.INVALID_ARGUMENT, r"missing: feature"),
    ("feature out of range", "tiny", None, "project_layer3", lambda: {"images": np.zeros((1, 64, 64, 3), np.float32), "feature": np.array([96], np.int32)}, grpc.StatusCode.INVALID_ARGUMENT, r"in \[0, 96\) for layer 3"),
    ("negative feature", "tiny", None, "project_layer3", lambda: {"images": np.zeros((1, 64, 64, 3), np.float32), "feature": np.array([-5], np.int32)}, grpc.StatusCode.INVALID_ARGUMENT, r"feature must be -1"),
    ("undecodable bytes", "tiny", None, "classify_bytes", lambda: {"image_bytes": np.array([b"\x89PNG broken"], object)}, grpc.StatusCode.INVALID_ARGUMENT, r"classify_bytes: "),
    ("unknown model", "nope", None, "serving_default", lambda: {"images": np.zeros((1, 64, 64, 3), np.float32)}, grpc.StatusCode.NOT_FOUND, r"Latest\(nope\)"),
    ("unknown version", "tiny", 42, "serving_default", lambda: {"images": np.zeros((1, 64, 64, 3), np.float32)}, grpc.StatusCode.NOT_FOUND, r"Specific\(tiny, 42\)"),
    ("unknown signature", "tiny", None, "nope", lambda: {"images": np.zeros((1, 64, 64, 3), np.float32)}, grpc.StatusCode.INVALID_ARGUMENT, r'"nope" not found'),
    ("empty batch", "tiny", None, "serving_default", lambda: {"images": np.zeros((0, 64, 64, 3), np.float32)}, grpc.StatusCode.INVALID_ARGUMENT, r"empty batch"),
    ("huge batch", "tiny", None, "serving_default", lambda: {"images": np.zeros((MAX_BATCH + 1, 64, 64, 3), np.float32)}, grpc.StatusCode.INVALID_ARGUMENT, r"maximum batch size 4"),
]


@pytest.mark.parametrize("case", GRPC_BAD_REQUESTS, ids=[c[0] for c in GRPC_BAD_REQUESTS])
def test_grpc_bad_request(server, http, channel, case):
    _, model, version, signature, inputs, code, message = case
    with pytest.raises(grpc.RpcError) as raised:
        grpc_predict(channel, signature, inputs(), model=model, version=version)
    assert raised.value.code() == code
    assert re.search(message, raised.value.details()), raised.value.details()
    assert_alive(server, http)
    assert grpc_predict(channel, "serving_default", {"images": np.zeros((1, 64, 64, 3), np.float32)}).outputs


def test_grpc_metadata_bad_field(channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["graph_def"])
    request.model_spec.name = "tiny"
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetModelMetadata(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "graph_def" in raised.value.details()


# -- versions while running; what the server imported ----------------------------------------


def test_new_version_is_served_without_restart(server, http, images, convnet, request):
    """A version that appears while the server runs (written aside, then renamed into place,
    as `export_model` publishes) is loaded and answers. The new version is another network
    (the run's small convnet, 32x32 in, 3 classes: `support.exports.small_convnet`), so its
    answers cannot be version 1's; its files are written as `export_model` writes them (the
    export's fresh-process verification is tests/export/test_export_versions.py's subject)."""
    newer, small = convnet
    convnet_version = small_convnet_folder(request) / "saved_models" / "convnet" / "1"
    statuses = server.publish_version("tiny", convnet_version, server.root / "tiny", version=2, timeout=120)
    assert statuses[0]["version"] == "2" and statuses[0]["state"] == "AVAILABLE", statuses
    body = http.post("/v1/models/tiny:predict", json={"inputs": small.tolist()}).json()
    np.testing.assert_allclose(
        np.array(body["outputs"]["logits"], np.float32), newer(small, training=False).numpy(), rtol=1e-5, atol=1e-5
    )
    # Latest-version policy: version 1 is unloaded once 2 serves; the pinned model keeps 1.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and http.get("/v1/models/tiny/versions/1").json()["model_version_status"][0]["state"] != "END":
        time.sleep(0.5)
    assert http.post("/v1/models/tiny/versions/1:predict", json={"inputs": images.tolist()}).status_code == 404
    assert http.get("/v1/models/pinned").json()["model_version_status"][0]["version"] == "1"


def test_a_broken_new_version_is_reported_and_the_old_one_serves_on(server, http, convnet):
    broken = server.root / "spare" / "2"
    (broken / "variables").mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = http.get("/v1/models/spare").json()["model_version_status"]
        if statuses[0]["version"] == "2" and statuses[0]["status"]["error_message"]:
            break
        time.sleep(0.5)
    assert statuses[0]["version"] == "2" and statuses[0]["state"] == "END"
    assert statuses[0]["status"]["error_code"] != "OK"
    assert "saved_model.pb" in statuses[0]["status"]["error_message"]
    assert statuses[1] == {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    model, small = convnet
    body = http.post("/v1/models/spare:predict", json={"inputs": small.tolist()}).json()
    np.testing.assert_allclose(
        np.array(body["outputs"]["logits"], np.float32), model(small, training=False).numpy(), rtol=1e-5, atol=1e-5
    )


def test_server_imported_no_model_or_training_code(server, http):
    assert_alive(server, http)
    with open(server.log_path, encoding="utf-8", errors="replace") as f:
        imported = {line.rsplit("|", 1)[-1].strip() for line in f if line.startswith("import time:")}
    assert "zfnet_tf.serving.server" in imported
    ours = sorted(m for m in imported if m.startswith("zfnet_tf"))
    assert [m for m in ours if m.startswith(("zfnet_tf.models", "zfnet_tf.training", "zfnet_tf.deconv"))] == []
    # The package itself and its lazy-name helper load; nothing else outside serving/export.
    assert [m for m in ours if not m.startswith(("zfnet_tf.serving", "zfnet_tf.export"))] == ["zfnet_tf", "zfnet_tf.lazy"]
