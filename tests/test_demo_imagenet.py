"""The demo's ImageNet part: EfficientNet-Lite0's published weights (offline) on the photos;
its numbers checked against the imported model. (Its own file, apart from the digits demo's,
so that the two long runs can go to two workers.)"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import zfnet_tf
from zfnet_tf.data import sample_images
from zfnet_tf.demo import CAT_CLASS, CAT_PHOTO, IMAGENET_BLOCKS, IMAGENET_RULES, imagenet_demo_missing, run_imagenet_demo
from zfnet_tf.pytorch_weights import read_torch_weights

pytestmark = pytest.mark.heavy(46)


@pytest.fixture(scope="module")
def imagenet_demo(tmp_path_factory):
    """`(paths, lite0)`: `run_imagenet_demo` once, and the network it analyses built again
    from the same published tensors (read once: each read is a PyTorch subprocess), for
    reference."""
    missing = imagenet_demo_missing()
    if missing:
        pytest.skip(f"the ImageNet demo needs the pretrained extra: {missing}")
    out = tmp_path_factory.mktemp("imagenet_demo")
    published = read_torch_weights("efficientnet_lite0")
    paths = run_imagenet_demo(str(out), model=zfnet_tf.pretrained("efficientnet_lite0", weights=published))
    return paths, zfnet_tf.pretrained("efficientnet_lite0", weights=published)


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
