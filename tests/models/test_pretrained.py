"""imgclsmob's ZFNets imported from PyTorch state dicts, held to pytorchcv's own networks.

The references come from pytorchcv in a subprocess (`support.pretrained_references`):
seeded random weights, the same photos, PyTorch's input normalization and forward pass.
"""

import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.config import PRESETS, PRETRAINED_PRESETS
from zfnet_tf.data import imagenet_classes, resize_to_square
from zfnet_tf.export.layout import CLASS_NAMES_FILE, IMAGE_TRANSFORM_FILE
from zfnet_tf.pytorch_weights import torch_layout
from support.pretrained_references import imported_zfnet, imported_zfnet_export, pytorchcv_reference  # noqa: F401

pytestmark = pytest.mark.heavy(38)

# pytorchcv's model table (model_metainfos.csv) and docs/pretrained.md.
PUBLISHED_PARAMETERS = {"zfnet": 62_357_608, "zfnetb": 107_627_624}
LAYERS = ("norm1", "pool1", "norm2", "pool2", "conv3", "conv4", "conv5", "pool5")


def assert_relative(actual, expected, tolerance=1e-4, name=""):
    """Every value within `tolerance` of the expected array's scale (and elementwise rtol)."""
    scale = float(np.abs(expected).max())
    assert scale > 0, f"{name}: the reference is all zeros"
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale, err_msg=name)


@pytest.mark.parametrize("name", ["zfnet", "zfnetb"])
def test_logits_and_every_layer_match_pytorchcv(name, pytorchcv_reference, imported_zfnet):
    state_path, reference, images = pytorchcv_reference(name)
    model = imported_zfnet if name == "zfnet" else zfnet_tf.pretrained(name, state_path)
    assert model.count_params() == PUBLISHED_PARAMETERS[name]
    assert model.config == PRESETS[PRETRAINED_PRESETS[name]]

    outputs = model.backbone.feature_extractor(LAYERS)(images, training=False)
    for layer in LAYERS:
        assert_relative(outputs[layer].numpy(), reference[layer], name=f"{name} {layer}")
    logits = model(images, training=False).numpy()
    assert_relative(logits, reference["logits"], name=f"{name} logits")
    # Random weights still tell the photos apart: the comparison is not of constants.
    assert np.abs(logits[0] - logits[1]).max() > 100 * 1e-4 * np.abs(reference["logits"]).max()


def test_state_dict_layout_is_pytorchcvs(pytorchcv_reference):
    """The keys and shapes the importer expects are exactly those pytorchcv saved (listed by
    the reference's PyTorch process from the state dict it saved)."""
    listing = pytorchcv_reference("zfnet")[1]["state_dict_layout"]
    saved = {line.split()[0]: tuple(int(d) for d in line.split()[1:]) for line in listing}
    assert saved == {t.key: t.shape for t in torch_layout(PRESETS["zfnet_imgclsmob"])}


def test_imported_model_has_the_imagenet_classes(imported_zfnet):
    names = imported_zfnet.class_names
    assert names == list(imagenet_classes().names)
    assert (names[0], names[281], names[999]) == ("tench", "tabby", "toilet tissue")


def test_export_serves_what_keras_and_pytorch_compute(imported_zfnet_export, imported_zfnet, pytorchcv_reference):
    import json

    import skimage.data

    export_path = imported_zfnet_export[1]
    _, reference, images = pytorchcv_reference("zfnet")
    loaded = tf.saved_model.load(export_path)
    served = loaded.signatures["serving_default"](images=tf.constant(images))
    keras_logits = imported_zfnet(images, training=False).numpy()
    assert_relative(served["logits"].numpy(), keras_logits, 1e-5, "serving_default vs Keras")
    assert_relative(served["logits"].numpy(), reference["logits"], 1e-4, "serving_default vs PyTorch")

    # classify_bytes decodes, resizes the shorter side to 256 and crops the centre 224 in-graph.
    photo = skimage.data.chelsea()  # 300 x 451
    encoded = tf.io.encode_png(photo).numpy()
    from_bytes = loaded.signatures["classify_bytes"](image_bytes=tf.constant([encoded]))
    expected = imported_zfnet(resize_to_square(photo, 224, 256)[None], training=False).numpy()
    assert_relative(from_bytes["logits"].numpy(), expected, 1e-5, "classify_bytes")

    with open(f"{export_path}/{CLASS_NAMES_FILE}", encoding="utf-8") as handle:
        assert handle.read().splitlines() == list(imagenet_classes().names)
    with open(f"{export_path}/{IMAGE_TRANSFORM_FILE}", encoding="utf-8") as handle:
        assert json.load(handle) == {"input_size": 224, "resize_size": 256, "max_image_pixels": 64 * 2**20}


def test_deconvnet_projects_from_pytorchs_top_maps(imported_zfnet, pytorchcv_reference):
    """The issue's check of a projection's forward activations at layers 1-5: each projects
    the strongest activation of the maps PyTorch computes, at its place and value."""
    _, reference, images = pytorchcv_reference("zfnet")
    deconvnet = zfnet_tf.Deconvnet(imported_zfnet)
    for layer, name in zip(range(1, 6), ("pool1", "pool2", "conv3", "conv4", "pool5")):
        projection = deconvnet.project(images[:1], layer, feature=-1)
        top = reference[name][0]
        feature, (row, column) = int(projection.feature[0]), projection.location[0]
        assert feature == int(top.max(axis=(0, 1)).argmax()), f"layer {layer}"
        np.testing.assert_allclose(float(projection.activation[0]), top[row, column, feature], rtol=1e-4,
                                   err_msg=f"layer {layer}")
        np.testing.assert_allclose(float(projection.activation[0]), top[..., feature].max(), rtol=1e-4)
