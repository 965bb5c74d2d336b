"""`zfnet-tf client` (and tools/serving_client.py) against `zfnet-tf serve`'s server over REST
and gRPC: top-5 labels and projection PNGs, checked against the model itself."""

import os
import runpy
import sys
from unittest import mock

import numpy as np
import pytest
from PIL import Image

import zfnet_tf
from zfnet_tf.cli.main import main
from support.shared_server import shared_tiny_server, small_convnet_folder

pytestmark = pytest.mark.heavy(10)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def exported(tiny_export, tiny_keras_model):
    """`(model, base_path)`: the session's tiny export (tests/conftest.py)."""
    return tiny_keras_model, tiny_export[1]


@pytest.fixture(scope="module")
def small_convnet(request):
    """`(model, base_path)`: the plain Keras convnet the shared server serves as "convnet"
    (`support.shared_server.write_small_convnet`: its layers have names, not the paper's
    numbers)."""
    import keras

    folder = small_convnet_folder(request)
    return keras.saving.load_model(folder / "convnet.keras"), folder / "saved_models" / "convnet"


@pytest.fixture(scope="module")
def server(request):
    """The run's shared server (`support.shared_server`): the session's tiny export as "tiny"
    and the convnet's as "convnet"."""
    return shared_tiny_server(request)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A real photo (scikit-image's cat, 300x451) as a JPEG file."""
    import skimage.data

    path = tmp_path_factory.mktemp("photos") / "chelsea.jpg"
    Image.fromarray(skimage.data.chelsea()).save(path, quality=95)
    return str(path)


def _address(server, protocol):
    return server.rest_address if protocol == "rest" else server.grpc_address


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_classify_prints_the_top_5_labels(server, exported, photo, protocol, capsys):
    import tensorflow as tf

    from zfnet_tf.data import resize_to_square

    model, _ = exported
    argv = ["client", "classify", "--protocol", protocol, "--server", _address(server, protocol),
            "--model-name", "tiny", photo]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == photo and len(lines) == 6
    printed = [(line.split()[1], float(line.split()[2])) for line in lines[1:]]

    image = resize_to_square(tf.io.decode_jpeg(open(photo, "rb").read(), channels=3), 64)
    probabilities = tf.nn.softmax(model(image[None], training=False)).numpy()[0]
    order = np.argsort(-probabilities)[:5]
    assert [label for label, _ in printed] == [model.class_names[i] for i in order]
    np.testing.assert_allclose([p for _, p in printed], probabilities[order], atol=1e-4)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_project_saves_the_projection_png(server, exported, photo, protocol, tmp_path, capsys):
    from zfnet_tf.data import load_image_file
    from zfnet_tf.visualization import projection_to_rgb

    model, _ = exported
    argv = ["client", "project", "--protocol", protocol, "--server", _address(server, protocol),
            "--model-name", "tiny", "--layer", "5", "--feature", "-1", "--out", str(tmp_path), photo]
    assert main(argv) == 0
    out = capsys.readouterr().out
    image = load_image_file(photo, 64)
    expected = zfnet_tf.Deconvnet(model).project(image[None], 5, -1)
    feature = int(expected.feature[0])
    path = tmp_path / f"chelsea_layer5_feature{feature}.png"
    assert f"feature {feature} " in out and str(path) in out
    saved = np.asarray(Image.open(path))
    assert saved.shape == (64, 64, 3)
    difference = np.abs(saved.astype(int) - projection_to_rgb(expected.reconstructions[0]).astype(int))
    assert difference.max() <= 1
    assert np.asarray(Image.open(tmp_path / "chelsea_input.png")).shape == (64, 64, 3)


def test_labels_file_and_errors(server, exported, photo, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"label {i}\n" for i in range(10)).replace(" ", "_"))
    argv = ["client", "classify", "--server", server.rest_address, "--model-name", "tiny",
            "--labels", str(labels), "--top", "2", photo]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1].startswith("label_")

    assert main(["client", "classify", "--server", server.rest_address, "--model-name", "nope", photo]) == 2
    assert "Servable not found" in capsys.readouterr().err
    assert main(["client", "classify", "--server", server.rest_address, "--model-name", "tiny",
                 str(tmp_path / "missing.jpg")]) == 2
    assert "image file not found" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert main(["client", "classify", "--protocol", "grpc", "--server", server.grpc_address,
                 "--model-name", "tiny", str(tmp_path / "bad.png")]) == 2
    assert "Unknown image file format" in capsys.readouterr().err


def test_tool_script_is_the_same_command(server, photo, capsys):
    """tools/serving_client.py run as a script (`__main__`) is `zfnet-tf client`: its exit
    status and its output."""
    argv = ["classify", "--protocol", "grpc", "--server", server.grpc_address, "--model-name", "tiny",
            "--top", "3", photo]
    script = os.path.join(REPO, "tools", "serving_client.py")
    with mock.patch.object(sys, "argv", [script, *argv]), pytest.raises(SystemExit) as exited:
        runpy.run_path(script, run_name="__main__")
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    assert len(printed.splitlines()) == 4
    assert main(["client", *argv]) == 0
    assert capsys.readouterr().out == printed


# -- any export's project_<key>: layers by the names the export gives them ------------------------


@pytest.fixture(scope="module")
def small_convnet_server(small_convnet, server):
    """`(model, server)`: the convnet of `small_convnet`, served by the module's server."""
    return small_convnet[0], server


def test_layers_lists_what_the_export_projects(server, small_convnet_server, capsys):
    from zfnet_tf.export.signatures import projectable_layers

    model, convnet = small_convnet_server
    assert main(["client", "layers", "--server", server.rest_address, "--model-name", "tiny"]) == 0
    assert capsys.readouterr().out.split() == [f"layer{layer}" for layer in range(1, 6)]
    assert main(["client", "layers", "--protocol", "grpc", "--server", convnet.grpc_address,
                 "--model-name", "convnet"]) == 0
    assert capsys.readouterr().out.split() == [layer.key for layer in projectable_layers(model)]


@pytest.mark.parametrize("protocol,mode", [("rest", "max"), ("grpc", "map")])
def test_project_any_layer_by_its_name(small_convnet_server, photo, protocol, mode, tmp_path, capsys):
    from zfnet_tf.data import load_image_file
    from zfnet_tf.visualization import projection_to_rgb

    model, convnet = small_convnet_server
    argv = ["client", "project", "--protocol", protocol, "--server", _address(convnet, protocol),
            "--model-name", "convnet", "--layer", "parts", "--feature", "5", "--mode", mode,
            "--out", str(tmp_path / "out"), photo]
    assert main(argv) == 0
    out = capsys.readouterr().out
    image = load_image_file(photo, 32)
    expected = zfnet_tf.Deconvnet(model).project(image[None], "parts", 5, mode=mode)
    key = "parts" if mode == "max" else "map_parts"
    row, col = (int(v) for v in expected.location[0])
    assert f"{key} feature 5 " in out and f"at row {row}, column {col}" in out
    # Only the two PNGs: written through zfnet_tf.files, no temporary file left beside them.
    assert sorted(os.listdir(tmp_path / "out")) == ["chelsea_input.png", f"chelsea_{key}_feature5.png"]
    saved = np.asarray(Image.open(tmp_path / "out" / f"chelsea_{key}_feature5.png"))
    difference = np.abs(saved.astype(int) - projection_to_rgb(expected.reconstructions[0]).astype(int))
    assert difference.max() <= 1


def test_a_layer_the_export_lacks_is_named_with_those_it_has(small_convnet_server, photo, tmp_path, capsys):
    _, convnet = small_convnet_server
    argv = ["client", "project", "--server", convnet.rest_address, "--model-name", "convnet",
            "--layer", "5", "--out", str(tmp_path / "out"), photo]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "no signature project_layer5 for layer '5'" in error and "edges, parts" in error
    assert not (tmp_path / "out").exists()
