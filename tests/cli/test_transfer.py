"""`zfnet-tf transfer` and `tools/transfer_caltech.py`: real runs, files, errors."""

import importlib.util
import json
import os

import numpy as np
import pytest
from PIL import Image

from support.cli import run_main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 50), "blue": (40, 60, 230)}


def write_colour_folders(root, per_class=6):
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        os.makedirs(os.path.join(root, name))
        for index in range(per_class):
            pixels = np.clip(np.asarray(colour) + rng.normal(0, 25, (24, 24, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(os.path.join(root, name, f"{index}.png"))
    return str(root)


def test_transfer_command_writes_table_json_figure_and_classifier(tmp_path, tiny_model, capsys):
    model_path = str(tmp_path / "tiny.keras")
    tiny_model.save(model_path)
    data = write_colour_folders(tmp_path / "colours")
    (tmp_path / "exclude.txt").write_text("red/0.png\n")
    out = tmp_path / "out"
    code, stdout, stderr = run_main(
        ["transfer", "--model", model_path,
         "--dataset", "folder", "--data-dir", data, "--exclude-file", tmp_path / "exclude.txt",
         "--train-per-class", 2, 3, "--splits", 2, "--seed", 4, "--no-scratch",
         "--out", out, "--cache-dir", tmp_path / "cache"],
        capsys,
    )
    assert code == 0, stderr
    assert "layers 1-7 frozen + new softmax" in stdout
    assert "4/4" in stdout  # the progress bar: 2 N's x 2 splits
    summary = json.loads((out / "transfer.json").read_text())
    assert summary["split_seeds"] == [4, 5]
    assert summary["data"]["excluded_images"] == 1 and summary["num_images"] == 17
    assert summary["model"] == model_path
    assert set(summary["methods"]) == {"softmax"}
    assert summary["methods"]["softmax"]["by_train_per_class"]["3"]["test_images"] == [8, 8]
    assert (out / "table.txt").read_text().strip() in stdout
    assert (out / "fig9_accuracy.png").stat().st_size > 5000
    assert (out / "classifier.keras").is_file()
    assert len(os.listdir(tmp_path / "cache")) == 1


def test_transfer_tool_script_runs_the_same_protocol_on_embedded_digits(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "transfer_caltech", os.path.join(REPO, "tools", "transfer_caltech.py")
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    code = tool.main(
        ["--preset", "tiny", "--dataset", "digits", "--train-per-class", "3", "--splits", "2",
         "--test-per-class", "10", "--no-scratch", "--quiet", "--out", str(tmp_path)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "scikit-learn digits" in printed and "up to 10 test images per class" in printed
    summary = json.loads((tmp_path / "transfer.json").read_text())
    assert summary["num_classes"] == 10 and summary["num_images"] == 1797
    assert summary["methods"]["softmax"]["by_train_per_class"]["3"]["test_images"] == [100, 100]


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["--model", "missing.keras", "--dataset", "digits"], "model file not found: missing.keras"),
        (["--preset", "tiny", "--dataset", "caltech256", "--data-dir", "."], "256_ObjectCategories"),
        (["--preset", "tiny", "--dataset", "digits", "--train-per-class", "200"],
         "at least 201 images in every class"),
        (["--preset", "tiny", "--dataset", "voc2012", "--train-per-class", "5"],
         "--train-per-class: Caltech protocol flag(s), not for --dataset voc2012"),
        (["--preset", "tiny", "--dataset", "digits", "--head", "logistic"],
         "--head: flag(s) of --dataset voc2012 (Table 6), not for digits"),
        (["--preset", "tiny", "--dataset", "digits", "--layer", "nope"], "--layer 'nope': no layer named 'nope'"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(arguments, message, tmp_path, capsys):
    code, _, stderr = run_main(["transfer", *arguments, "--quiet", "--out", tmp_path], capsys)
    assert code == 2
    assert message in stderr
    assert not os.path.exists(tmp_path / "transfer.json")


def test_transfer_runs_on_a_keras_application_from_a_named_layer(tmp_path, capsys):
    """Not only ZFNet: VGG16 (random weights, 64x64 inputs), features from its block5_pool."""
    data = write_colour_folders(tmp_path / "colours")
    out = tmp_path / "out"
    code, _, stderr = run_main(["transfer", "--keras-application", "VGG16", "--weights", "none", "--input-size", 64,
                                "--dataset", "folder", "--data-dir", data, "--layer", "block5_pool",
                                "--train-per-class", 2, "--splits", 2, "--no-scratch", "--quiet", "--out", out], capsys)
    assert code == 0, stderr
    summary = json.loads((out / "transfer.json").read_text())
    assert summary["feature_layer"] == "block5_pool" and summary["model"] == "VGG16"
    assert summary["feature_extraction"]["dimension"] == 2 * 2 * 512
    assert "layers up to block5_pool frozen + new softmax" in (out / "table.txt").read_text()
    import zfnet_tf

    classifier = zfnet_tf.load_model(str(out / "classifier.keras"))
    assert classifier.class_names == sorted(COLOURS) and classifier.output.shape[-1] == 3


def test_voc2012_command_writes_twenty_aps_and_their_mean(tmp_path, tiny_model, capsys):
    from support.voc_devkit import learnable_sets, write_vocdevkit
    from zfnet_tf.data.sources.voc import VOC_CLASSES

    model_path = str(tmp_path / "tiny.keras")
    tiny_model.save(model_path)
    write_vocdevkit(tmp_path / "data", learnable_sets())
    out = tmp_path / "out"
    code, stdout, stderr = run_main(
        ["transfer", "--model", model_path,
         "--dataset", "voc2012", "--data-dir", tmp_path / "data", "--head", "softmax", "--out", out],
        capsys,
    )
    assert code == 0, stderr
    assert "features of voc2012[train]: 60 images, layer fc7" in stdout
    summary = json.loads((out / "transfer.json").read_text())
    per_class = summary["heads"]["softmax"]["per_class_ap"]
    assert list(per_class) == list(VOC_CLASSES) and set(summary["heads"]) == {"softmax"}
    assert summary["heads"]["softmax"]["mean_ap"] == pytest.approx(np.mean(list(per_class.values())))
    assert (out / "table.txt").read_text().strip() in stdout
    assert (out / "voc_per_class_ap.png").is_file()
