"""The pieces of the server without a server: models.config parsing, REST JSON <-> arrays."""

import base64
import json

import numpy as np
import pytest
from tensorflow.core.protobuf import meta_graph_pb2

from zfnet_tf.serving.config import config_from_flags, read_model_config_file
from zfnet_tf.serving.errors import ServingError, tensorflow_error_message
from zfnet_tf.serving.json_codec import (
    COLUMNAR,
    ROW,
    parse_predict_body,
    request_to_arrays,
    response_body,
)


def test_models_config_in_tf_serving_text_format(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "models.config"
    path.write_text(
        'model_config_list { config { name: "a" base_path: "saved/a" model_platform: "tensorflow" '
        'model_version_policy { latest { num_versions: 2 } } version_labels { key: "stable" value: 3 } } '
        'config { name: "b" base_path: "/abs/b" } }'
    )
    config = read_model_config_file(str(path))
    a, b = config.model_config_list.config
    assert (a.name, a.base_path, a.model_version_policy.latest.num_versions) == ("a", str(tmp_path / "saved" / "a"), 2)
    assert dict(a.version_labels) == {"stable": 3}
    assert (b.name, b.base_path) == ("b", "/abs/b")
    assert config_from_flags("m", "x").model_config_list.config[0].base_path == str(tmp_path / "x")


@pytest.mark.parametrize(
    "text, message",
    [
        ("model_config_list { config { name: 'a' base_path: '/x' } config { name: 'a' base_path: '/y' } }", "appears twice"),
        ("model_config_list { config { name: 'a' } }", "has no base_path"),
        ("model_config_list { config { name: 'a' base_path: '/x' model_platform: 'onnx' } }", "only 'tensorflow'"),
        ("model_config_list { config { nam: 'a' } }", "is not a ModelServerConfig"),
        ("model_config_list { }", "lists no models"),
    ],
)
def test_bad_models_config_is_named(tmp_path, text, message):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as raised:
        read_model_config_file(str(path))
    assert str(path) in str(raised.value)


def test_missing_config_and_base_path():
    with pytest.raises(ValueError, match="does not exist"):
        read_model_config_file("/nowhere/models.config")
    with pytest.raises(ValueError, match="--model_base_path"):
        config_from_flags("m", "")


def _signature(**inputs):
    signature = meta_graph_pb2.SignatureDef()
    for name, (dtype, dims) in inputs.items():
        info = signature.inputs[name]
        info.dtype = dtype
        for size in dims:
            info.tensor_shape.dim.add(size=size)
    return signature


FLOAT, INT32, STRING = 1, 3, 7  # tensorflow DataType numbers


def test_row_and_columnar_requests_become_arrays():
    projection = _signature(images=(FLOAT, [-1, 2, 2, 3]), feature=(INT32, [-1]))
    image = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    rows = [{"images": image.tolist(), "feature": -1}, {"images": (image + 1).tolist(), "feature": 4}]
    arrays = request_to_arrays(rows, ROW, projection)
    assert arrays["images"].dtype == np.float32 and arrays["images"].shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(arrays["images"][1], image + 1)
    assert arrays["feature"].dtype == np.int32 and arrays["feature"].tolist() == [-1, 4]
    columns = request_to_arrays({"images": [image.tolist()], "feature": [3]}, COLUMNAR, projection)
    assert columns["feature"].tolist() == [3]

    strings = _signature(image_bytes=(STRING, [-1]))
    encoded = base64.b64encode(b"\x89PNG\x00\xff").decode()
    arrays = request_to_arrays([{"b64": encoded}, {"b64": encoded}], ROW, strings)
    assert arrays["image_bytes"].tolist() == [b"\x89PNG\x00\xff"] * 2
    arrays = request_to_arrays({"b64": encoded}, COLUMNAR, strings)
    assert arrays["image_bytes"].tolist() == b"\x89PNG\x00\xff"


@pytest.mark.parametrize(
    "payload, format, message",
    [
        ({"images": [[[[1, 2, 3]] * 2] * 2, [[[1, 2]] * 2] * 2], "feature": [1, 2]}, COLUMNAR, "ragged"),
        ([{"images": [[[1.0, 2.0, 3.0]] * 2] * 2}], ROW, "lacks feature"),
        ([[[[1.0, 2.0, 3.0]] * 2] * 2], ROW, "must be an object"),
        ({"images": [], "feature": [], "extra": []}, COLUMNAR, "'extra'"),
        ({"images": [[[[True, False, True]] * 2] * 2], "feature": [1]}, COLUMNAR, "not true/false"),
        ({"images": [[[[1.0, 2.0, 3.0]] * 2] * 2], "feature": [2**40]}, COLUMNAR, "outside the range of int32"),
    ],
)
def test_bad_json_inputs_are_named(payload, format, message):
    projection = _signature(images=(FLOAT, [-1, 2, 2, 3]), feature=(INT32, [-1]))
    with pytest.raises(ServingError, match=message):
        request_to_arrays(payload, format, projection)


def test_predict_body_and_response_shapes():
    assert parse_predict_body(b'{"instances": [1]}') == ("", [1], ROW)
    assert parse_predict_body(b'{"signature_name": "s", "inputs": {"a": [NaN]}}')[1]["a"][0] != 0
    for body, message in [(b"[1]", "JSON object"), (b"{}", "neither"), (b'{"instances": 1}', "list"), (b"{", "not valid JSON")]:
        with pytest.raises(ServingError, match=message):
            parse_predict_body(body)

    outputs = {"logits": np.array([[1.5, -2.0]], np.float32), "feature": np.array([3], np.int32)}
    assert json.loads(response_body(outputs, ROW)) == {"predictions": [{"logits": [1.5, -2.0], "feature": 3}]}
    assert json.loads(response_body(outputs, COLUMNAR)) == {"outputs": {"logits": [[1.5, -2.0]], "feature": [3]}}
    assert json.loads(response_body({"feature": np.array([3, 4], np.int32)}, ROW)) == {"predictions": [3, 4]}
    nan = response_body({"x": np.array([np.nan, np.inf], np.float32)}, COLUMNAR)
    assert nan == b'{"outputs":[NaN,Infinity]}'
    exact = np.array([0.1, 1 / 3, 123.456], np.float32)
    assert np.array_equal(np.array(json.loads(response_body({"x": exact}, COLUMNAR))["outputs"], np.float32), exact)
    raw = {"out_bytes": np.array([b"\x00\x01"], object)}
    assert json.loads(response_body(raw, COLUMNAR)) == {"outputs": [{"b64": "AAE="}]}


def test_tensorflow_errors_lose_their_graph_noise():
    message = (
        "Graph execution error:\n\nDetected at node assert_less/Assert/Assert defined at (most recent call last):\n"
        "<stack traces unavailable>\nassertion failed: [feature must be -1 or in [0, 64) for layer 5] "
        "[Condition x < y did not hold element-wise:] [x (strided_slice:0) = ] [[500]] [y (assert_less/y:0) = ] [64]\n"
        "\t [[{{node assert_less/Assert/Assert}}]] [Op:__inference_signature_wrapper_project_12994]"
    )
    assert tensorflow_error_message(message) == "feature must be -1 or in [0, 64) for layer 5 (got [[500]])"
    assert tensorflow_error_message(
        "Graph execution error:\n\nDetected at node x\nUnknown image file format.\n\t [[{{node x}}]] [Op:y]"
    ) == "Unknown image file format."


# -- request limits (zfnet_tf.serving.limits) ------------------------------------------------


def nesting(value) -> int:
    """The reference depth: Python's parser, then a walk of what it built."""
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


def test_json_depth_agrees_with_the_parsed_structure():
    from zfnet_tf.serving.limits import json_depth

    rng = np.random.default_rng(0)
    pieces = ["[", "]", "{", "}", '"', "\\", "\\\\", '\\"', "a"]

    def random_value(level):
        kind = rng.integers(0, 5 if level < 12 else 2)
        if kind == 0:
            return "".join(rng.choice(pieces, rng.integers(0, 8)))  # strings full of brackets and escapes
        if kind == 1:
            return float(rng.normal())
        if kind == 2:
            return [random_value(level + 1) for _ in range(rng.integers(0, 4))]
        return {f"k{i}{rng.choice(pieces)}": random_value(level + 1) for i in range(rng.integers(0, 4))}

    for _ in range(300):
        value = random_value(0)
        text = json.dumps(value).encode()
        assert json_depth(text) == nesting(value), text
    # Across the scan's 1 MiB blocks, with a string open at a block's edge.
    long = {"a": "[" * (1 << 20) + '\\"]', "b": [[[" " * (3 << 20)]]]}
    assert json_depth(json.dumps(long).encode()) == 4


def test_the_limits_are_validated():
    from zfnet_tf.serving.limits import ServingLimits

    for field, flag in (("max_request_bytes", "--max_request_bytes"), ("max_json_depth", "--max_json_depth"),
                        ("max_concurrent_requests", "--max_concurrent_requests")):
        with pytest.raises(ValueError, match=f"^{flag} must be a positive integer, got 0"):
            ServingLimits(**{field: 0})
    with pytest.raises(ValueError, match="--request_queue_timeout_seconds must be positive"):
        ServingLimits(queue_timeout_seconds=0)


def test_requests_beyond_the_slots_wait_in_line_then_are_told_the_server_is_busy():
    import threading

    import grpc

    from zfnet_tf.serving.limits import RequestSlots, ServingLimits

    slots = RequestSlots(ServingLimits(max_concurrent_requests=2, queue_timeout_seconds=0.2))
    running, most, lock, release = [0], [0], threading.Lock(), threading.Event()

    def work():
        with slots.slot():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            release.wait(5)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    while running[0] < 2:
        pass
    with pytest.raises(ServingError) as caught:  # a third waits its 0.2 s, then gives up
        with slots.slot():
            pass
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE and caught.value.http_status == 503
    assert "the server is busy: 2 requests were running" in caught.value.message
    release.set()
    for thread in threads:
        thread.join()
    queued = [threading.Thread(target=work) for _ in range(6)]  # more than the slots: all run, 2 at a time
    for thread in queued:
        thread.start()
    for thread in queued:
        thread.join()
    assert most[0] == 2 and running[0] == 0


def test_json_nested_too_deep_for_pythons_parser_is_an_invalid_argument():
    """Without the depth check in front, the parsers' own limits still answer 400, not a
    RecursionError."""
    with pytest.raises(ServingError, match="nests too deep|not valid JSON") as caught:
        parse_predict_body(b'{"instances": ' + b"[" * 200_000 + b"NaN" + b"]" * 200_000 + b"}")
    assert caught.value.http_status == 400
