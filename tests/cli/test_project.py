import json
import os

import numpy as np
import pytest
from PIL import Image

import zfnet_tf
from support.cli import run_main
from zfnet_tf.data import load_image_files


def test_project_command_writes_figure_and_numbers(tmp_path, tiny_model, capsys):
    model_path = str(tmp_path / "tiny.keras")
    tiny_model.save(model_path)
    image_path = str(tmp_path / "stripes.png")
    stripes = np.zeros((80, 100, 3), np.uint8)
    stripes[:, ::4] = 255
    Image.fromarray(stripes).save(image_path)
    out = tmp_path / "out"
    code, _, stderr = run_main(["project", "--model", model_path, "--images", image_path, "--layers", 1, 3,
                                "--out", out], capsys)
    assert code == 0, stderr
    numbers = json.loads((out / "projections.json").read_text())
    assert numbers["images"] == ["stripes.png"]
    assert sorted(numbers["layers"]) == ["1", "3"]
    # The numbers are the deconvnet's on the image as the model sees it (its centre square).
    image = load_image_files([image_path], 64)
    deconvnet = zfnet_tf.Deconvnet(tiny_model)
    for layer in (1, 3):
        row = numbers["layers"][str(layer)][0]
        projection = deconvnet.project(image, layer)
        (top_maps,) = deconvnet.activation_function([layer])(image).values()
        top_maps = top_maps.numpy()[0]
        assert row["feature"] == int(top_maps.max(axis=(0, 1)).argmax())
        y, x = row["location"]
        assert row["activation"] == pytest.approx(float(top_maps[y, x, row["feature"]]), rel=1e-6)
        assert row["input_box"] == list(zfnet_tf.receptive_field(tiny_model, layer).box(y, x))
        assert row["activation"] == pytest.approx(float(projection.activation[0]), rel=1e-6)
    figure = np.asarray(Image.open(out / "projections.png"))
    assert figure.ndim == 3 and figure.shape[0] > 100 and figure.shape[1] > 200


def test_project_a_keras_application_by_layer_name(tmp_path, capsys):
    out = tmp_path / "vgg"
    code, _, stderr = run_main(["project", "--keras-application", "VGG16", "--weights", "none", "--input-size", 32,
                                "--layers", "block3_conv3", "block5_conv3", "--rule", "guided", "--out", out], capsys)
    assert code == 0, stderr
    numbers = json.loads((out / "projections.json").read_text())
    assert numbers["rule"] == "guided" and sorted(numbers["layers"]) == ["block3_conv3", "block5_conv3"]
    assert len(numbers["layers"]["block5_conv3"]) == len(numbers["images"]) == 4  # the sample photos
    # block3_conv3's receptive field, worked by hand: conv1_1-2 (3x3 "same") 5 pixels starting
    # 2 before the position; pool1 6, jump 2; conv2_1-2 +2*2 each: 14, start 6; pool2 16, jump 4;
    # conv3_1-3 +2*4 each: 40 pixels starting 18 before 4 * position, clipped to the 32 pixels.
    for row in numbers["layers"]["block3_conv3"]:
        y, x = row["location"]
        assert 0 <= y < 8 and 0 <= x < 8
        expected = [max(4 * y - 18, 0), max(4 * x - 18, 0), min(4 * y + 22, 32), min(4 * x + 22, 32)]
        assert row["input_box"] == expected
    assert os.path.getsize(out / "projections.png") > 0


def test_bad_input_is_named_and_exits_2(tmp_path, capsys):
    missing = str(tmp_path / "nope.keras")
    # In this process: the entry point's exit code in a real one is tests/cli/test_quiet_and_flags.py's.
    code, _, stderr = run_main(["project", "--model", missing, "--out", tmp_path], capsys)
    assert code == 2
    assert f"model file not found: {missing}" in stderr
    assert not os.path.exists(tmp_path / "projections.png")


def test_unknown_layer_answers_the_closest_names_in_one_line(tmp_path, tiny_model, capsys):
    model_path = str(tmp_path / "tiny.keras")
    tiny_model.save(model_path)
    out = tmp_path / "out"
    code, _, stderr = run_main(["project", "--model", model_path, "--layers", "conv9", "--out", out], capsys)
    assert code == 2
    error = stderr.strip()
    assert "\n" not in error and len(error) < 200
    assert error.startswith("zfnet-tf project: error: no layer named 'conv9' in this model; closest: 'conv5', ")
    assert not os.path.exists(out / "projections.png")
