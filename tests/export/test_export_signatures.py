"""The exported SavedModel against DESIGN §5: signature names and dtypes as `saved_model_cli`
prints them, and every signature's outputs, run in a fresh process, against the Keras model
and the deconvnet."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.data import resize_to_square
from zfnet_tf.export import feature_output_names

PROJECTION_OUTPUTS = {
    "reconstructions": ("DT_FLOAT", "(-1, 64, 64, 3)"),
    "feature": ("DT_INT32", "(-1)"),
    "activation": ("DT_FLOAT", "(-1)"),
    "location": ("DT_INT32", "(-1, 2)"),
    "box": ("DT_INT32", "(-1, 4)"),
}


def saved_model_cli_command():
    script = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


def parse_saved_model_cli(text):
    """{signature: {"inputs": {name: (dtype, shape)}, "outputs": {...}}} from `show --all`."""
    signatures = {}
    current, section = None, None
    for line in text.splitlines():
        match = re.match(r"signature_def\['(.+)'\]:", line)
        if match:
            current = signatures.setdefault(match.group(1), {"inputs": {}, "outputs": {}})
            continue
        if current is None:
            continue
        if "following input(s)" in line:
            section = "inputs"
        elif "following output(s)" in line:
            section = "outputs"
        match = re.match(r"\s+(inputs|outputs)\['(.+)'\] tensor_info:", line)
        if match:
            name = match.group(2)
            current[section][name] = [None, None]
            continue
        match = re.match(r"\s+dtype: (\w+)", line)
        if match and section and current[section]:
            current[section][name][0] = match.group(1)
        match = re.match(r"\s+shape: (.+)", line)
        if match and section and current[section]:
            current[section][name][1] = match.group(1).strip()
    return {
        key: {part: {n: tuple(v) for n, v in value[part].items()} for part in ("inputs", "outputs")}
        for key, value in signatures.items()
    }


def test_saved_model_cli_lists_the_contract(tiny_export, tiny_keras_model):
    _, base_path = tiny_export
    result = subprocess.run(
        [*saved_model_cli_command(), "show", "--all", "--dir", str(base_path / "1")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    signatures = parse_saved_model_cli(result.stdout)
    signatures.pop("__saved_model_init_op", None)

    images = {"images": ("DT_FLOAT", "(-1, 64, 64, 3)")}
    classes = {"logits": ("DT_FLOAT", "(-1, 10)"), "probabilities": ("DT_FLOAT", "(-1, 10)")}
    sizes = tiny_keras_model.config.feature_map_sizes()
    widths = {f"pool{b.layer}" if b.pool else f"conv{b.layer}": b.filters for b in tiny_keras_model.config.conv_blocks}
    feature_outputs = {
        name: ("DT_FLOAT", f"(-1, {sizes[name]}, {sizes[name]}, {widths[name]})")
        for name in widths
    }
    feature_outputs.update({"fc6": ("DT_FLOAT", "(-1, 256)"), "fc7": ("DT_FLOAT", "(-1, 256)")})
    expected = {
        "serving_default": {"inputs": images, "outputs": classes},
        "classify_bytes": {"inputs": {"image_bytes": ("DT_STRING", "(-1)")}, "outputs": classes},
        "features": {"inputs": images, "outputs": feature_outputs},
    }
    expected["decode_bytes"] = {
        "inputs": {"image_bytes": ("DT_STRING", "(-1)")},
        "outputs": {"pixels": ("DT_INT32", "(-1, 64, 64, 3)")},
    }
    expected["class_names"] = {
        "inputs": {"class_index": ("DT_INT32", "(-1)")},
        "outputs": {"class_name": ("DT_STRING", "(-1)")},
    }
    occlusion_outputs = {"probabilities": ("DT_FLOAT", "(-1, -1, 10)")}
    for layer, name in enumerate(widths, start=1):
        for prefix in ("project", "project_map"):
            expected[f"{prefix}_layer{layer}"] = {
                "inputs": {**images, "feature": ("DT_INT32", "(-1)")},
                "outputs": PROJECTION_OUTPUTS,
            }
        # The tiny model's maps are all smaller than the 64-pixel thumbnail limit.
        expected[f"maps_layer{layer}"] = {
            "inputs": images,
            "outputs": {
                "maps": ("DT_INT32", f"(-1, {sizes[name]}, {sizes[name]}, {widths[name]})"),
                "maximum": ("DT_FLOAT", f"(-1, {widths[name]})"),
            },
        }
        occlusion_outputs[f"total_layer{layer}"] = ("DT_FLOAT", f"(-1, -1, {widths[name]})")
    positions = ("DT_INT32", "(-1, -1)")
    expected["occlusion"] = {
        "inputs": {**images, "top": positions, "left": positions, "patch_size": ("DT_INT32", "(-1)")},
        "outputs": occlusion_outputs,
    }
    assert signatures == expected
    assert "Method name is: tensorflow/serving/predict" in result.stdout


FRESH_PROCESS_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf

saved_model, inputs_path, outputs_path = sys.argv[1:]
loaded = tf.saved_model.load(saved_model)
given = np.load(inputs_path, allow_pickle=True)
images = tf.constant(given["images"])
results = {}
def keep(prefix, outputs):
    for name, value in outputs.items():
        results[prefix + "/" + name] = value.numpy()
keep("serving_default", loaded.signatures["serving_default"](images=images))
keep("classify_bytes", loaded.signatures["classify_bytes"](image_bytes=tf.constant(list(given["encoded"]))))
keep("features", loaded.signatures["features"](images=images))
for layer in range(1, 6):
    function = loaded.signatures["project_layer%d" % layer]
    keep("project_layer%d" % layer, function(images=images, feature=tf.constant(given["feature_%d" % layer])))
try:
    loaded.signatures["classify_bytes"](image_bytes=tf.constant([b"not an image"]))
except tf.errors.InvalidArgumentError as error:
    results["undecodable_error"] = np.array(error.message)
results["modules"] = np.array(sorted(m for m in sys.modules if m.startswith("zfnet_tf")), dtype=object)
np.savez(outputs_path, **results)
"""


@pytest.fixture(scope="module")
def fresh_process_outputs(tiny_export, tmp_path_factory):
    """Inputs unlike the exporter's own check, run through the SavedModel in a new process."""
    _, base_path = tiny_export
    work = tmp_path_factory.mktemp("fresh")
    rng = np.random.default_rng(123)
    images = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    photo = np.round(rng.uniform(0, 255, (64, 64, 3))).astype(np.uint8)
    wide = rng.integers(0, 256, (50, 90, 3), dtype=np.uint8)
    encoded = np.array(
        [tf.io.encode_png(photo).numpy(), tf.io.encode_jpeg(wide, quality=95).numpy()], dtype=object
    )
    features = {f"feature_{l}": np.array([-1, 3], np.int32) for l in range(1, 6)}
    np.savez(work / "inputs.npz", images=images, encoded=encoded, **features)
    script = work / "run_signatures.py"
    script.write_text(FRESH_PROCESS_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(base_path / "1"), str(work / "inputs.npz"), str(work / "outputs.npz")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = dict(np.load(work / "outputs.npz", allow_pickle=True))
    return {"images": images, "photo": photo, "wide": wide, "encoded": encoded, **features}, outputs


def test_fresh_process_loads_no_zfnet_code(fresh_process_outputs):
    _, outputs = fresh_process_outputs
    assert list(outputs["modules"]) == []


def test_classification_signatures_equal_the_keras_model(fresh_process_outputs, tiny_keras_model):
    given, outputs = fresh_process_outputs
    logits = tiny_keras_model(given["images"], training=False).numpy()
    np.testing.assert_allclose(outputs["serving_default/logits"], logits, rtol=1e-5, atol=1e-5)
    probabilities = outputs["serving_default/probabilities"]
    np.testing.assert_allclose(probabilities, tf.nn.softmax(logits).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    # Bytes: a PNG of the model's size decodes to itself; a JPEG of another size is decoded,
    # resized (smaller side) and centre-cropped the way zfnet_tf.data prepares images.
    wide_decoded = tf.io.decode_jpeg(given["encoded"][1], channels=3)
    expected_images = np.stack(
        [given["photo"].astype(np.float32), resize_to_square(wide_decoded, 64).numpy()]
    )
    expected = tiny_keras_model(expected_images, training=False).numpy()
    np.testing.assert_allclose(outputs["classify_bytes/logits"], expected, rtol=1e-4, atol=1e-4)
    assert "Unknown image file format" in str(outputs["undecodable_error"])


def test_projection_signatures_equal_the_deconvnet(fresh_process_outputs, tiny_keras_model):
    given, outputs = fresh_process_outputs
    deconvnet = zfnet_tf.Deconvnet(tiny_keras_model)
    for layer in range(1, 6):
        features = given[f"feature_{layer}"]
        expected = deconvnet.projection_function(layer, "max")(
            tf.constant(given["images"]), tf.constant(features[:, None])
        )
        prefix = f"project_layer{layer}/"
        reconstructions = expected["reconstructions"].numpy()[:, 0]
        scale = np.abs(reconstructions).max()
        assert scale > 0
        np.testing.assert_allclose(
            outputs[prefix + "reconstructions"], reconstructions, rtol=1e-4, atol=1e-5 * scale
        )
        for key in ("feature", "location"):
            np.testing.assert_array_equal(outputs[prefix + key], expected[key].numpy()[:, 0])
        np.testing.assert_allclose(
            outputs[prefix + "activation"], expected["activation"].numpy()[:, 0], rtol=1e-5
        )
        assert outputs[prefix + "feature"][0] == int(np.argmax(np.max(
            outputs[_top_name(tiny_keras_model, layer)].reshape(2, -1, deconvnet.num_features(layer))[0], axis=0
        )))
        assert outputs[prefix + "feature"][1] == 3


def _top_name(model, layer):
    block = model.config.block(layer)
    return f"features/pool{layer}" if block.pool else f"features/conv{layer}"


def test_features_signature_equals_the_backbone(fresh_process_outputs, tiny_keras_model):
    given, outputs = fresh_process_outputs
    names = tuple(feature_output_names(tiny_keras_model))
    assert names == ("pool1", "pool2", "conv3", "conv4", "pool5", "fc6", "fc7")
    expected = tiny_keras_model.backbone.feature_extractor(names)(given["images"], training=False)
    for name in names:
        np.testing.assert_allclose(outputs[f"features/{name}"], expected[name].numpy(), rtol=1e-4, atol=1e-4)
    # A projection's activation is the largest value of its map in `features`.
    for layer in range(1, 6):
        top = outputs[_top_name(tiny_keras_model, layer)]
        for n in range(2):
            feature = outputs[f"project_layer{layer}/feature"][n]
            row, col = outputs[f"project_layer{layer}/location"][n]
            assert top[n, row, col, feature] == pytest.approx(outputs[f"project_layer{layer}/activation"][n], rel=1e-5)
            assert top[n, :, :, feature].max() == pytest.approx(top[n, row, col, feature], rel=1e-6)


def test_one_copy_of_the_weights(tiny_export, tiny_keras_model):
    _, base_path = tiny_export
    variables = base_path / "1" / "variables"
    stored = sum(f.stat().st_size for f in variables.iterdir())
    parameters = sum(np.asarray(w).nbytes for w in tiny_keras_model.weights)
    assert parameters <= stored < 1.05 * parameters


def test_class_names_ship_as_an_asset(tiny_export, tiny_keras_model):
    _, base_path = tiny_export
    names = (base_path / "1" / "assets.extra" / "class_names.txt").read_text().splitlines()
    assert names == tiny_keras_model.class_names
