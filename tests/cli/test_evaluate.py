"""`zfnet-tf evaluate`: top-1/top-5 error by centre crop and 10-crop, against NumPy."""

import json

import keras
import numpy as np
import pytest

import zfnet_tf
from zfnet_tf.cli.main import main
from zfnet_tf.data import DataSource, load_data

COUNT = 40


def numpy_errors(model, images, labels, crops):
    probabilities = []
    for crop in crops:
        logits = model.predict(np.stack([c for c in crop]), verbose=0)
        probabilities.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    mean = np.mean(probabilities, axis=0)  # [N, C], averaged over the crops
    ranked = np.argsort(-mean, axis=1)
    top1 = np.mean(ranked[:, 0] != labels)
    top5 = np.mean([label not in row[:5] for label, row in zip(labels, ranked)])
    return top1, top5


@pytest.mark.parametrize("resize_size, side", [(None, 73), (80, 80)])
def test_centre_and_ten_crop_errors_match_numpy(tmp_path, capsys, resize_size, side):
    """Crops of 64 from the paper's 73 (64 * 256 / 224), or from the config's `resize_size`."""
    keras.utils.set_random_seed(3)
    model = zfnet_tf.build_model("tiny", class_names=[str(d) for d in range(10)], resize_size=resize_size)
    path = str(tmp_path / "model.keras")
    model.save(path)
    out = str(tmp_path / "errors.json")
    assert main(["evaluate", "--model", path, "--dataset", "digits", "--max-examples", str(COUNT),
                 "--batch-size", "16", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "top-1 error" in printed and "ten crops" in printed
    with open(out) as handle:
        results = {r["crops"]: r for r in json.load(handle)["results"]}

    loaded = load_data(DataSource("digits", limit=COUNT), image_size=side)
    examples = list(loaded.dataset.as_numpy_iterator())
    images = np.stack([image for image, _ in examples])
    labels = np.array([label for _, label in examples])
    margin, half = side - 64, (side - 64) // 2
    centre = [images[:, half : half + 64, half : half + 64]]
    offsets = ((0, 0), (0, margin), (margin, 0), (margin, margin), (half, half))
    corners = [images[:, t : t + 64, l : l + 64] for t, l in offsets]
    ten = corners + [c[:, :, ::-1] for c in corners]
    for name, crops in (("center", centre), ("ten", ten)):
        top1, top5 = numpy_errors(model, images, labels, crops)
        assert results[name]["num_examples"] == COUNT
        assert results[name]["top1_error"] == pytest.approx(top1, abs=1e-9)
        assert results[name]["top5_error"] == pytest.approx(top5, abs=1e-9)
        assert results[name]["top5_error"] <= results[name]["top1_error"]


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "missing.keras"), "--dataset", "digits"]) == 2
    assert "model file not found" in capsys.readouterr().err
    text = tmp_path / "notes.keras"
    text.write_text("not a model\n")
    assert main(["evaluate", "--model", str(text), "--dataset", "digits"]) == 2
    assert f"{text} is not a Keras model file (a .keras file is a zip archive)" in capsys.readouterr().err
    keras.utils.set_random_seed(0)
    path = str(tmp_path / "five.keras")
    zfnet_tf.build_model("tiny", num_classes=5).save(path)
    assert main(["evaluate", "--model", path, "--dataset", "digits", "--max-examples", "4"]) == 2
    assert "the model has 5 classes but digits[test] has 10" in capsys.readouterr().err
