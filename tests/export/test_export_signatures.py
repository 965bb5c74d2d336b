"""The exported SavedModel against the signature contract (docs/serving.md): the names,
dtypes and shapes TF Serving reads from the SavedModel, and every signature's outputs, run in
a fresh process, against the Keras model and the deconvnet."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.saved_model import loader_impl

from zfnet_tf.data import resize_to_square
from zfnet_tf.export import feature_output_names
from support.exports import held_deconvnet, loaded_saved_model, small_convnet

PROJECTION_OUTPUTS = {
    "reconstructions": ("float32", (None, 64, 64, 3)),
    "feature": ("int32", (None,)),
    "activation": ("float32", (None,)),
    "location": ("int32", (None, 2)),
    "box": ("int32", (None, 4)),
}


def specs(structure):
    """`{name: (dtype, shape)}` of a signature's inputs or outputs."""
    return {name: (value.dtype.name, tuple(value.shape)) for name, value in structure.items()}


def test_signatures_follow_the_contract(tiny_export, tiny_keras_model):
    _, base_path = tiny_export
    version = str(base_path / "1")
    loaded = loaded_saved_model(version)
    signatures = {
        name: {"inputs": specs(function.structured_input_signature[1]), "outputs": specs(function.structured_outputs)}
        for name, function in loaded.signatures.items()
    }

    images = {"images": ("float32", (None, 64, 64, 3))}
    classes = {"logits": ("float32", (None, 10)), "probabilities": ("float32", (None, 10))}
    sizes = tiny_keras_model.config.feature_map_sizes()
    widths = {f"pool{b.layer}" if b.pool else f"conv{b.layer}": b.filters for b in tiny_keras_model.config.conv_blocks}
    feature_outputs = {name: ("float32", (None, sizes[name], sizes[name], widths[name])) for name in widths}
    feature_outputs.update({"fc6": ("float32", (None, 256)), "fc7": ("float32", (None, 256))})
    expected = {
        "serving_default": {"inputs": images, "outputs": classes},
        "classify_bytes": {"inputs": {"image_bytes": ("string", (None,))}, "outputs": classes},
        "features": {"inputs": images, "outputs": feature_outputs},
        "decode_bytes": {
            "inputs": {"image_bytes": ("string", (None,))},
            "outputs": {"pixels": ("int32", (None, 64, 64, 3))},
        },
        "class_names": {
            "inputs": {"class_index": ("int32", (None,))},
            "outputs": {"class_name": ("string", (None,))},
        },
    }
    occlusion_outputs = {"probabilities": ("float32", (None, None, 10))}
    for layer, name in enumerate(widths, start=1):
        for prefix in ("project", "project_map"):
            expected[f"{prefix}_layer{layer}"] = {
                "inputs": {**images, "feature": ("int32", (None,))},
                "outputs": PROJECTION_OUTPUTS,
            }
        # The tiny model's maps are all smaller than the 64-pixel thumbnail limit.
        expected[f"maps_layer{layer}"] = {
            "inputs": images,
            "outputs": {
                "maps": ("int32", (None, sizes[name], sizes[name], widths[name])),
                "maximum": ("float32", (None, widths[name])),
            },
        }
        occlusion_outputs[f"total_layer{layer}"] = ("float32", (None, None, widths[name]))
    positions = ("int32", (None, None))
    expected["occlusion"] = {
        "inputs": {**images, "top": positions, "left": positions, "patch_size": ("int32", (None,))},
        "outputs": occlusion_outputs,
    }
    assert signatures == expected
    # TF Serving's Predict API serves signatures of the predict method.
    definitions = loader_impl.parse_saved_model(version).meta_graphs[0].signature_def
    assert {definitions[name].method_name for name in expected} == {"tensorflow/serving/predict"}


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
    deconvnet = held_deconvnet(tiny_keras_model)
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


def test_each_endpoint_is_traced_once(tmp_path, monkeypatch):
    """Writing the archive traces each projection signature's Python once (Keras'
    `write_out` alone traces every endpoint twice: `traced_once`)."""
    from zfnet_tf.deconv import Deconvnet
    from zfnet_tf.export import build_export_archive, projectable_layers, signature_names

    model = small_convnet()
    traced = []
    project_tensors = Deconvnet.project_tensors

    def counted(self, images, features, layer, mode="max", *args, **kwargs):
        traced.append((layer, mode))
        return project_tensors(self, images, features, layer, mode, *args, **kwargs)

    monkeypatch.setattr(Deconvnet, "project_tensors", counted)
    build_export_archive(model).write_out(str(tmp_path / "1"), verbose=False)
    layers = [layer.layer for layer in projectable_layers(model)]
    assert len(layers) == 2
    assert sorted(traced) == sorted((layer, mode) for layer in layers for mode in ("max", "map"))
    assert sorted(tf.saved_model.load(str(tmp_path / "1")).signatures) == sorted(signature_names(model))
